"""One client must not be able to take more than its share of a relay:
connections per user and per client address are capped (4403 with an
error frame), the message rate is limited per user across all of that
user's connections, and unmasked client frames are a protocol error
(RFC 6455 5.1: close 1002)."""

import asyncio
import base64
import os
import socket
import struct
import time

import relaylib as R

S = {}
PER_USER, PER_ADDR = 4, 6
USER_RATE, USER_BURST = 5, 10


def setup(fx):
    S["caps"] = fx.relay(CHAT_RELAY_MAX_CONNECTIONS_PER_USER=str(PER_USER),
                         CHAT_RELAY_MAX_CONNECTIONS_PER_ADDRESS=str(PER_ADDR),
                         CHAT_RELAY_TRUSTED_PROXIES="127.0.0.1")
    S["rate"] = fx.relay(CHAT_RELAY_RATE_LIMIT="1000", CHAT_RELAY_RATE_BURST="1000",
                         CHAT_RELAY_USER_RATE_LIMIT=str(USER_RATE),
                         CHAT_RELAY_USER_RATE_BURST=str(USER_BURST))
    S["plain"] = fx.relay()


async def open_from(relay, room, user, source="127.0.0.1", forwarded=None):
    """A client whose TCP connection comes from `source` (any 127.x
    address), optionally with an X-Forwarded-For header."""
    kw = {"local_addr": (source, 0)}
    if forwarded:
        kw["extra_headers"] = {"X-Forwarded-For": forwarded}
    return await R.Client.open(relay.url(room, user.token), relay.fx, **kw)


async def outcome(c):
    """'ok' once connection_established came, else the close code."""
    await R.async_wait_until(lambda: c.closed or any(
        f["type"] == "connection_established" for f in c.history), 10, "open or close")
    if any(f["type"] == "connection_established" for f in c.history):
        return "ok"
    await c.closed_with(10)
    return c.close_code


async def expect_4403(c, what):
    got = await outcome(c)
    R.eq(got, 4403, f"{what}: close code")
    errs = [f for f in c.history if f["type"] == "error"]
    R.check(len(errs) == 1 and errs[0].get("code") == "too_many_connections",
            f"{what}: expected one error frame too_many_connections, got {errs}")


@R.timeout(60)
async def t_conns_per_user(fx):
    relay = S["caps"]
    u, other = fx.user("hog"), fx.user("neighbour")
    room = fx.room(u)
    mine = []
    for i in range(PER_USER):
        # several addresses: the per-address cap is not what refuses here
        c = await open_from(relay, room, u, f"127.0.1.{i + 1}")
        R.eq(await outcome(c), "ok", f"connection {i + 1} of {PER_USER}")
        mine.append(c)
    extra = await open_from(relay, room, u, "127.0.1.200")
    await expect_4403(extra, f"connection {PER_USER + 1} of one user")
    # another user is not affected, and the first ones still work
    c = await open_from(relay, room, other, "127.0.1.201")
    R.eq(await outcome(c), "ok", "another user's connection")
    await mine[0].usable()
    # a closed connection frees its place
    await mine.pop().close()
    async def reopen():
        c = await open_from(relay, room, u, "127.0.1.202")
        return c, await outcome(c)
    deadline = time.monotonic() + 5
    while True:
        c, got = await reopen()
        if got == "ok" or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    R.eq(got, "ok", "a new connection after one was closed")


@R.timeout(60)
async def t_conns_per_address(fx):
    relay = S["caps"]
    users = [fx.user("natted") for _ in range(PER_ADDR + 2)]
    room = fx.room(users[0])
    for i in range(PER_ADDR):
        c = await open_from(relay, room, users[i], "127.0.2.1")
        R.eq(await outcome(c), "ok", f"connection {i + 1} from one address")
    extra = await open_from(relay, room, users[PER_ADDR], "127.0.2.1")
    await expect_4403(extra, f"connection {PER_ADDR + 1} from one address")
    c = await open_from(relay, room, users[PER_ADDR], "127.0.2.2")
    R.eq(await outcome(c), "ok", "the same user from another address")


@R.timeout(60)
async def t_conns_per_forwarded_address(fx):
    """Behind the web server every connection comes from the proxy: the
    address it forwards (the last X-Forwarded-For entry) is counted, but
    only when the peer is a trusted proxy."""
    relay = S["caps"]
    users = [fx.user("proxied") for _ in range(PER_ADDR + 3)]
    room = fx.room(users[0])
    for i in range(PER_ADDR):
        c = await open_from(relay, room, users[i], "127.0.0.1",
                            forwarded=f"198.51.100.{i}, 203.0.113.7")
        R.eq(await outcome(c), "ok", f"proxied connection {i + 1} for 203.0.113.7")
    extra = await open_from(relay, room, users[PER_ADDR], "127.0.0.1",
                            forwarded="203.0.113.7")
    await expect_4403(extra, "one forwarded address over its cap")
    c = await open_from(relay, room, users[PER_ADDR], "127.0.0.1", forwarded="203.0.113.8")
    R.eq(await outcome(c), "ok", "another forwarded address through the same proxy")
    # an untrusted peer cannot pick the address it is counted under
    for i in range(PER_ADDR):
        c = await open_from(relay, room, users[i], "127.0.3.1", forwarded=f"192.0.2.{i}")
        R.eq(await outcome(c), "ok", f"untrusted peer's connection {i + 1}")
    extra = await open_from(relay, room, users[PER_ADDR + 1], "127.0.3.1",
                            forwarded="192.0.2.99")
    await expect_4403(extra, "untrusted peer with X-Forwarded-For over its own cap")


@R.timeout(60)
async def t_conns_per_ipv6_64(fx):
    """IPv6 addresses count per /64: a host picking a new address from its
    prefix for each connection is still one client address."""
    relay = S["caps"]
    users = [fx.user("six") for _ in range(PER_ADDR + 2)]
    room = fx.room(users[0])
    for i in range(PER_ADDR):
        c = await open_from(relay, room, users[i], "127.0.0.1",
                            forwarded=f"2001:db8:1:2:{i:x}::{i + 1:x}")
        R.eq(await outcome(c), "ok", f"connection {i + 1} from 2001:db8:1:2::/64")
    extra = await open_from(relay, room, users[PER_ADDR], "127.0.0.1",
                            forwarded="2001:db8:1:2:ffff:ffff:ffff:fffe")
    await expect_4403(extra, "one more address of the same /64")
    c = await open_from(relay, room, users[PER_ADDR + 1], "127.0.0.1",
                        forwarded="2001:db8:1:3::1")
    R.eq(await outcome(c), "ok", "an address of the next /64")


@R.timeout(60)
async def t_user_rate_across_connections(fx):
    relay = S["rate"]
    u, reader = fx.user("multi"), fx.user("watcher")
    room = fx.room(u)
    conns = [await relay.connect(room, u) for _ in range(4)]
    watcher = await relay.connect(room, reader)
    per_conn = 15
    t0 = time.monotonic()
    for i in range(per_conn):
        for k, c in enumerate(conns):
            await c.send({"type": "chat_message", "content": f"multi {k} {i}"})
    elapsed = time.monotonic() - t0
    await conns[0].next("error", 10, where=lambda f: f.get("code") == "rate_limited")
    await asyncio.sleep(1.0)
    stored = len(fx.room_messages(room))
    allowed = USER_BURST + USER_RATE * (elapsed + 1.0) + 1
    R.check(USER_BURST <= stored <= allowed,
            f"{stored} of {4 * per_conn} messages over 4 connections of one user stored "
            f"in {elapsed:.2f}s; the per-user limit ({USER_BURST} burst, {USER_RATE}/s) "
            f"allows at most {allowed:.0f}")
    R.check(not [f for f in watcher.history if f["type"] == "error"],
            "another user got an error frame")
    # another user is not limited by this one's bucket
    await watcher.usable()
    await asyncio.sleep(USER_BURST / USER_RATE)
    await conns[1].usable()


def raw_handshake(port, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        R.check(chunk, f"handshake: closed after {buf!r}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    R.check(b" 101 " in head.split(b"\r\n")[0] + b" ", f"handshake refused: {head[:80]!r}")
    return s, rest


def read_frames_until_close(s, buf, timeout):
    """(close code or None, text frames) until the close frame or EOF."""
    deadline = time.monotonic() + timeout
    texts = []

    def need(n):
        nonlocal buf
        while len(buf) < n:
            s.settimeout(max(deadline - time.monotonic(), 0.01))
            chunk = s.recv(65536)
            if not chunk:
                raise EOFError
            buf += chunk
        out, buf = buf[:n], buf[n:]
        return out

    try:
        while True:
            b0, b1 = need(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", need(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", need(8))[0]
            payload = need(n)
            op = b0 & 0x0F
            if op == 0x8:
                return (struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None), texts
            if op == 0x1:
                texts.append(payload.decode("utf-8", "replace"))
    except (EOFError, ConnectionResetError):
        return None, texts
    except socket.timeout:
        return "none within %ds" % timeout, texts


@R.timeout(40)
async def t_unmasked_frame(fx):
    relay = S["plain"]
    u = fx.user("unmasked")
    room = fx.room(u)
    s, buf = raw_handshake(relay.port, f"/ws/chat/{room}/?token={u.token}")
    try:
        # wait for connection_established, so the frame is read by an open session
        deadline = time.monotonic() + 10
        while b"connection_established" not in buf and time.monotonic() < deadline:
            s.settimeout(max(deadline - time.monotonic(), 0.1))
            buf += s.recv(65536)
        R.check(b"connection_established" in buf, f"no connection_established: {buf[:200]!r}")
        payload = b'{"type":"chat_message","content":"unmasked"}'
        s.sendall(struct.pack("!BB", 0x81, len(payload)) + payload)  # MASK bit clear
        code, _ = await asyncio.get_running_loop().run_in_executor(
            None, read_frames_until_close, s, buf, 10)
    finally:
        s.close()
    R.eq(code, 1002, "close code after an unmasked client frame")
    await asyncio.sleep(0.5)
    R.check(not any(r[2] == "unmasked" for r in fx.room_messages(room)),
            "the unmasked frame's message was stored")
    # a masked client on the same relay is fine
    c = await relay.connect(room, u)
    await c.usable()


if __name__ == "__main__":
    R.main([t_unmasked_frame, t_conns_per_user, t_conns_per_address,
            t_conns_per_forwarded_address, t_conns_per_ipv6_64,
            t_user_rate_across_connections], setup)
