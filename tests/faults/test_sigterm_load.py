"""SIGTERM while 50 clients send (ISSUE: faults; CONTRACT.md "Close
codes"): every client is closed with 1001, the relay exits 0 promptly,
everything acknowledged is stored exactly once, and after a restart each
client resuming with last_id gets the rest of its room in order."""

import asyncio
import signal
import time

import faultlib as F
from faultlib import R

N_CLIENTS = 50


@R.timeout(180)
async def t_sigterm_under_load(fx):
    relay = fx.relay(CHAT_RELAY_WORKERS="1")
    owner = fx.user("owner")
    rooms = [fx.room(owner) for _ in range(5)]
    senders = [F.Sender(relay, fx.user("term"), rooms[i % 5], interval=0.1)
               for i in range(N_CLIENTS)]
    await asyncio.gather(*(s.connect() for s in senders))
    for s in senders:
        s.clients = [s.client]
        s.start()
    await asyncio.sleep(3)
    t0 = time.monotonic()
    relay.proc.send_signal(signal.SIGTERM)
    codes = await asyncio.gather(*(s.client.closed_with(20) for s in senders))
    bad = [c for c in codes if c != 1001]
    R.check(not bad, f"close codes on SIGTERM: {sorted(set(codes), key=str)} "
                     f"({len(bad)} not 1001)")
    status = await asyncio.get_running_loop().run_in_executor(None, relay.stop)
    took = time.monotonic() - t0
    R.eq(status, 0, "relay exit status after SIGTERM")
    R.check(took < 15, f"relay took {took:.1f}s to stop")
    for s in senders:
        await s.stop()
    acked, sent, _ = F.check_acked_stored_once(fx, senders, "after SIGTERM")
    R.log(f"   stopped in {took:.1f}s; {sent} sent, {acked} acknowledged")

    relay.start()
    by_room = {r: [m[0] for m in fx.room_messages(r)] for r in rooms}
    problems = []
    for s in senders:
        seen = [f["message"]["id"] for f in s.frames(s.clients[0])]
        c = await relay.connect(s.room, s.user, last_id=seen[-1] if seen else 0)
        await c.next("sync_done", timeout=30)
        full = seen + [f["message"]["id"] for f in c.history if f["type"] == "chat_message"]
        if full != by_room[s.room]:
            problems.append(f"{s.user.name}: {len(full)} ids seen, "
                            f"{len(by_room[s.room])} stored")
        await c.close()
    R.check(not problems, "resume after SIGTERM:\n  " + "\n  ".join(problems[:10]))


if __name__ == "__main__":
    R.main([t_sigterm_under_load])
