"""SIGTERM under traffic: every client is closed with 1001, the relay exits
0, and every message acknowledged before is stored exactly once."""

import asyncio
import signal
import uuid

import relaylib as R


async def sender(c, sent):
    i = 0
    try:
        while not c.closed:
            content = f"c{c.n} #{i} {uuid.uuid4().hex[:8]}"
            await c.send({"type": "chat_message", "content": content,
                          "client_id": str(uuid.uuid4())})
            sent.append(content)
            i += 1
            await asyncio.sleep(0.06)
    except R.websockets.exceptions.ConnectionClosed:
        pass


@R.timeout(60)
async def t_sigterm_under_traffic(fx):
    relay = fx.relay()
    peer = fx.relay()  # keeps running: its client sees the others leave
    users = [fx.user("busy") for _ in range(4)]
    room, room2 = fx.room(users[0]), fx.room(users[0])
    watcher = await peer.connect(room, fx.user("watcher"))
    senders = [await relay.connect(room, u) for u in users]
    idle = [await relay.connect(room, fx.user("idle")), await relay.connect(room2, users[0])]
    sent = {c.n: [] for c in senders}
    tasks = [asyncio.ensure_future(sender(c, sent[c.n])) for c in senders]
    # run until every sender has had a few messages acknowledged
    await R.async_wait_until(
        lambda: all(len([f for f in c.history if f["type"] == "chat_message" and
                         f["message"]["sender"]["id"] == u.id]) >= 5
                    for c, u in zip(senders, users)), 20, "5 acknowledged messages each")
    relay.proc.send_signal(signal.SIGTERM)
    codes = await asyncio.gather(*(c.closed_with(15) for c in senders + idle))
    R.eq(codes, [1001] * len(codes), "close codes on SIGTERM")
    await asyncio.gather(*tasks)
    status = await asyncio.get_running_loop().run_in_executor(None, relay.stop)
    R.eq(status, 0, "relay exit status after SIGTERM")
    # a clean shutdown removes its presence at once: the peer's client hears
    # every user of the stopped relay leave (idle[0]'s user too)
    gone = {u.id for u in users} | {idle[0].hello["user"]["id"]}
    await R.async_wait_until(lambda: gone <= {f["user"]["id"] for f in watcher.history
                                              if f["type"] == "user_leave"}, 10,
                             "user_leave for every user of the stopped relay")
    R.check(not watcher.closed, "the other relay's client was disconnected")
    last = max(r[0] for r in fx.room_messages(room))
    await R.async_wait_until(lambda: any(f["type"] == "chat_message" and f["message"]["id"] == last
                                         for f in watcher.history), 10,
                             "the other relay's client to get the last stored message")
    rows = fx.room_messages(room)
    count = {}
    for r in rows:
        count[r[2]] = count.get(r[2], 0) + 1
    dup = [k for k, v in count.items() if v > 1]
    R.check(not dup, f"messages stored twice: {dup[:5]}")
    for c, u in zip(senders, users):
        acked = [f["message"]["content"] for f in c.history if f["type"] == "chat_message"
                 and f["message"]["sender"]["id"] == u.id]
        lost = [m for m in acked if m not in count]
        R.check(not lost, f"client {c.n}: acknowledged but not stored: {lost[:5]}")
        R.check(acked, f"client {c.n}: nothing acknowledged")
    # nothing the relay claims to have stored is missing, and the stored ones
    # were all sent by us
    all_sent = {m for v in sent.values() for m in v}
    R.check(set(count) <= all_sent, "rows that nobody sent")
    # a restart serves the room again
    relay.start()
    c = await relay.connect(room, users[0])
    await c.usable()


if __name__ == "__main__":
    R.main([t_sigterm_under_traffic])
