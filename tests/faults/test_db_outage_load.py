"""MariaDB down for ~10 s while 20 clients send and the HTTP API is asked
(ISSUE: faults; CONTRACT.md "Errors", "HTTP API"):
  * senders get error frames with code "unavailable", their connections
    stay open; the relay and chat-api stay up; the API answers 503 (health
    and writes), never 500;
  * once the server is back both recover by themselves: every sender's
    messages are acknowledged again, new connections open, health is 200;
  * nothing acknowledged is lost and nothing is stored twice."""

import asyncio
import signal
import time

import faultlib as F
from faultlib import R
import seclib

N_CLIENTS = 20
OUTAGE = 10


@R.timeout(240)
async def t_db_outage_under_load(fx):
    relay = fx.relay(CHAT_RELAY_WORKERS="1")
    api = seclib.api(fx)
    owner = fx.user("owner")
    rooms = [fx.room(owner) for _ in range(2)]
    poster = api.user()
    senders = [F.Sender(relay, fx.user("out"), rooms[i % 2], interval=0.2)
               for i in range(N_CLIENTS)]
    await asyncio.gather(*(s.connect() for s in senders))
    for s in senders:
        s.start()
    await asyncio.sleep(2)
    api.get("/api/chat/health/").expect(200)

    fx.db.kill(signal.SIGKILL)
    t_down = time.monotonic()
    statuses = set()
    while time.monotonic() - t_down < OUTAGE:
        R.check(relay.alive(), "relay died during the database outage")
        R.check(api.proc.poll() is None, "chat-api died during the database outage")
        statuses.add(("health", api.get("/api/chat/health/").status))
        r = api.post(f"/api/chat/rooms/{rooms[0]}/messages/", {"content": "during outage"},
                     token=poster.token)
        statuses.add(("post", r.status))
        statuses.add(("rooms", api.get("/api/chat/rooms/", token=poster.token).status))
        await asyncio.sleep(1)
    R.check(("health", 503) in statuses, f"API health during the outage: {sorted(statuses)}")
    R.check(not any(st == 500 for _, st in statuses), f"API 500 during the outage: {statuses}")
    R.check(all(st in (503, 401) for what, st in statuses if what != "health"),
            f"API answers during the outage: {sorted(statuses)}")
    codes = [c for s in senders for c in s.error_codes()]
    R.check("unavailable" in codes, f"no sender got 'unavailable' (codes: {set(codes)})")
    closed = [s.user.name for s in senders if s.client.closed]
    R.check(not closed, f"connections closed by the outage: {closed[:5]}")

    acked_at_restart = {s.user.name: len(s.acked()) for s in senders}
    fx.db.start_server()
    t_up = time.monotonic()
    await F.wait_for(lambda: api.get("/api/chat/health/").status == 200, 60,
                     "API health back to 200")
    await F.wait_for(lambda: all(len(s.acked()) > acked_at_restart[s.user.name]
                                 for s in senders), 60,
                     "every sender acknowledged again after the restart")
    R.log(f"   recovered {time.monotonic() - t_up:.1f}s after the database came back")
    api.post(f"/api/chat/rooms/{rooms[0]}/messages/", {"content": "after outage"},
             token=poster.token).expect(201)
    c = await relay.connect(rooms[1], fx.user("late"))
    await c.close()
    await asyncio.sleep(1)
    for s in senders:
        await s.stop()
    await asyncio.sleep(2)  # let the last acknowledgements arrive
    acked, sent, _ = F.check_acked_stored_once(fx, senders, "after the outage")
    R.log(f"   {sent} sent, {acked} acknowledged, "
          f"{sum(codes.count(c) for c in ('unavailable',))} 'unavailable' frames")
    seclib.stop_apis()


if __name__ == "__main__":
    R.main([t_db_outage_under_load])
