"""SIGTERM under traffic: every client is closed with 1001, the relay exits
0, and every message acknowledged before is stored exactly once."""

import asyncio
import base64
import os
import signal
import socket
import time
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


def silent_client(relay, room, user):
    """A WebSocket client that opens and then never reads or answers again,
    with a small receive buffer: what the relay sends it soon waits in the
    relay's socket (a peer gone without a FIN looks the same)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", relay.port))
    path = relay.url(room, user.token).split(str(relay.port), 1)[1]
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{relay.port}\r\n"
                  f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = sock.recv(12)
    R.check(head == b"HTTP/1.1 101", f"silent client not upgraded: {head!r}")
    return sock


@R.timeout(90)
async def t_sigterm_with_silent_clients(fx):
    """More clients that take nothing than the relay closes at once
    (relay/closing.c: 256): each holds its place until its flush deadline
    (5 s), so some are still waiting at the closing deadline. The relay
    still stops in time, says how many it dropped, and leaves no presence
    row."""
    relay = fx.relay(CHAT_RELAY_MAX_CONNECTIONS_PER_USER=0,
                     CHAT_RELAY_MAX_CONNECTIONS_PER_ADDRESS=0)
    user = fx.user("silent")
    room = fx.room(user)
    silent = [silent_client(relay, room, user) for _ in range(400)]
    live = await relay.connect(room, fx.user("live"))
    await R.async_wait_until(
        lambda: fx.db.scalar("SELECT COUNT(*) FROM presence") == "401", 20,
        "401 connections online")
    for i in range(40):  # about 12 KB for each silent client: more than it takes
        await live.chat(f"{i:03d} " + "x" * 250)
    t0 = time.monotonic()
    status = await asyncio.get_running_loop().run_in_executor(None, relay.stop)
    took = time.monotonic() - t0
    R.eq(status, 0, "relay exit status after SIGTERM")
    R.log(f"stopped in {took:.1f} s; " +
          " ".join(l for l in relay.output().splitlines() if "shutdown:" in l))
    R.check(took < 18, f"the relay took {took:.1f} s to stop (the units allow 20)")
    R.check("not closed in time" in relay.output(),
            f"no log line about the connections not closed in time (stopped in {took:.1f} s)")
    R.eq(fx.db.scalar("SELECT COUNT(*) FROM presence"), "0", "presence rows left")
    for sock in silent:
        sock.close()


if __name__ == "__main__":
    R.main([t_sigterm_under_traffic, t_sigterm_with_silent_clients])
