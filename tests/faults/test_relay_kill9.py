"""kill -9 of the relay while 50 clients send (ISSUE: faults). After a
restart on the same port:
  * every message the relay acknowledged (echoed to its sender) is stored
    exactly once;
  * each client, reconnecting with last_id = the last id it saw, receives
    every message of its room it missed, in ascending order, with no
    duplicate: what it saw before the crash plus the replay is exactly the
    room's stored history;
  * resending the unacknowledged messages with their client_id stores
    none twice."""

import asyncio
import signal

import faultlib as F
from faultlib import R

N_CLIENTS = 50
N_ROOMS = 5
LOAD_SECONDS = 3


@R.timeout(180)
async def t_kill9_under_load(fx):
    relay = fx.relay(CHAT_RELAY_WORKERS="1")
    owners = [fx.user("owner") for _ in range(N_ROOMS)]
    rooms = [fx.room(o) for o in owners]
    senders = []
    for i in range(N_CLIENTS):
        u = fx.user("k9_")
        senders.append(F.Sender(relay, u, rooms[i % N_ROOMS], interval=0.1))
    await asyncio.gather(*(s.connect() for s in senders))
    for s in senders:
        s.clients = [s.client]
        s.start()
    await asyncio.sleep(LOAD_SECONDS)
    acked_before = sum(len(s.acked()) for s in senders)
    R.check(acked_before > N_CLIENTS, f"only {acked_before} messages acknowledged under load")

    relay.proc.send_signal(signal.SIGKILL)
    relay.proc.wait(10)
    await F.wait_for(lambda: all(s.client.closed for s in senders), 20,
                     "every client to see the connection drop")
    for s in senders:
        await s.stop()
    relay.start()

    # Reconnect each client from the last id it saw.
    async def resume(s):
        seen = [f["message"]["id"] for f in s.frames(s.clients[0])]
        last = seen[-1] if seen else 0
        c = await s.relay.connect(s.room, s.user, last_id=last)
        s.clients.append(c)
        s.client = c
        done = await c.next("sync_done", timeout=30)
        replay = [f["message"]["id"] for f in c.history
                  if f["type"] == "chat_message"]
        return seen, replay, done
    results = await asyncio.gather(*(resume(s) for s in senders))

    by_room = {r: [m[0] for m in fx.room_messages(r)] for r in rooms}
    problems = []
    for s, (seen, replay, done) in zip(senders, results):
        full = seen + replay
        stored_ids = by_room[s.room]
        if len(set(full)) != len(full):
            problems.append(f"{s.user.name}: duplicates in {full[-10:]}")
        if full != sorted(full):
            problems.append(f"{s.user.name}: out of order")
        # The client connected before any message of its room was sent.
        if full != stored_ids:
            missing = sorted(set(stored_ids) - set(full))
            extra = sorted(set(full) - set(stored_ids))
            problems.append(f"{s.user.name}: missing {missing[:5]} ({len(missing)}), "
                            f"extra {extra[:5]}")
        R.eq(done.get("last_id"), full[-1] if full else (seen[-1] if seen else 0),
             f"{s.user.name}: sync_done last_id")
    R.check(not problems, "resume after kill -9:\n  " + "\n  ".join(problems[:10]))
    acked, sent, _ = F.check_acked_stored_once(fx, senders, "after kill -9")
    R.log(f"   {sent} sent, {acked} acknowledged before the crash; "
          f"{sum(len(v) for v in by_room.values())} stored")

    # Resend what was not acknowledged, with the same client_id.
    acked_ids = set()
    for s in senders:
        acked_ids.update(s.acked(s.clients[0]))
    resent = 0
    for s in senders:
        for cid, content in list(s.sent.items()):
            if cid not in acked_ids:
                await s.client.send({"type": "chat_message", "content": content,
                                     "client_id": cid})
                resent += 1
                await asyncio.sleep(0.06)  # within the rate limit
    await F.wait_for(lambda: all(
        set(s.sent) <= set(s.acked(s.clients[0])) | set(s.acked(s.client)) for s in senders),
        60, "every resent message acknowledged")
    counts = F.stored(fx, [c for s in senders for c in s.sent])
    R.check(all(n == 1 for n in counts.values()),
            f"after resending {resent}: {sum(1 for n in counts.values() if n != 1)} "
            "client_ids not stored exactly once")
    R.log(f"   {resent} unacknowledged messages resent; each stored once")


if __name__ == "__main__":
    R.main([t_kill9_under_load])
