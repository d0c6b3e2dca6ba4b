"""Oversized and deeply nested input is refused cheaply, and the programs
stay up and serve others (CONTRACT.md "Errors", "HTTP API"):
  API:   nesting bombs -> 400 quickly, bodies over the limit -> 413 (also
         when Content-Length lies), huge headers, tokens and paths ->
         401/404, never a 500 or a crash;
  relay: a frame over the limit (whole or in fragments) -> error frame and
         the connection stays usable; nesting bombs -> error frame; a huge
         handshake (headers, URL, token) is refused; a frame header
         announcing 2^62 bytes ends that connection only."""

import asyncio
import socket
import struct
import time

import seclib
from seclib import R

S = {}
LIMIT = 65536


def setup(fx):
    S["relay"] = fx.relay()
    S["api"] = seclib.api(fx)


def timed(fn):
    t0 = time.monotonic()
    r = fn()
    return r, time.monotonic() - t0


async def t_api_json_bombs(fx):
    srv = S["api"]
    u = srv.user()
    room = srv.room(u)
    path = f"/api/chat/rooms/{room['id']}/messages/"
    n = (LIMIT - 100) // 2
    for what, body in (("array nesting", "[" * n + "]" * n),
                       ("object nesting", '{"a":' * (LIMIT // 6) + "1" + "}" * (LIMIT // 6)),
                       ("unclosed nesting", "[" * (LIMIT - 10)),
                       ("nesting inside a field", '{"content":' + "[" * 5000 + "]" * 5000 + "}")):
        r, dt = timed(lambda: srv.request("POST", path, body=body.encode()[:LIMIT],
                                          content_type="application/json", token=u.token))
        R.eq(r.status, 400, f"API {what}")
        R.check(dt < 2.0, f"API {what}: answered in {dt:.2f}s")
    # Over the body limit: 413, with an honest and with a lying length.
    big = '{"content":"' + "x" * (LIMIT + 10) + '"}'
    r, dt = timed(lambda: srv.request("POST", path, body=big, content_type="application/json",
                                      token=u.token))
    R.eq(r.status, 413, "API body over the limit")
    r = srv.request("POST", path, body=big, content_type="application/json", token=u.token,
                    params={"CONTENT_LENGTH": "100"})
    R.check(r.status in (400, 413), f"API body longer than its Content-Length: {r.status}")
    r = srv.request("POST", path, body='{"content":"x"}', content_type="application/json",
                    token=u.token, params={"CONTENT_LENGTH": "99999999999999"})
    R.eq(r.status, 413, "API Content-Length far over the limit")
    for what, p in (("negative Content-Length", "-1"), ("garbage Content-Length", "12abc")):
        r = srv.request("POST", path, body='{"content":"x"}', content_type="application/json",
                        token=u.token, params={"CONTENT_LENGTH": p})
        R.check(r.status in (400, 411, 413), f"API {what}: {r.status}")
    srv.send(u, room["id"], "still here")


async def t_api_huge_headers(fx):
    srv = S["api"]
    u = srv.user()
    r = srv.get("/api/auth/me/", token="a" * 200000)
    R.eq(r.status, 401, "API 200 KB token")
    r = srv.get("/api/auth/me/", token=u.token, headers={"X-Junk": "j" * 1000000})
    R.eq(r.status, 200, "API 1 MB unrelated header")
    r = srv.get("/api/chat/rooms/" + "1/" * 50000, token=u.token)
    R.eq(r.status, 404, "API 100 KB path")
    r = srv.get("/api/chat/rooms/1/messages/?limit=" + "9" * 100000, token=u.token)
    R.check(r.status in (400, 404), f"API 100 KB query value: {r.status}")
    many = {f"X-H{i}": "v" * 100 for i in range(5000)}
    r = srv.get("/api/auth/me/", token=u.token, headers=many)
    R.eq(r.status, 200, "API 5000 headers")
    r = srv.get("/api/auth/me/", token=u.token, headers={"Origin": "o" * 100000})
    R.eq(r.status, 200, "API 100 KB Origin")
    R.check(r.header("Access-Control-Allow-Origin") is None, "100 KB Origin allowed by CORS")
    srv.get("/api/auth/me/", token=u.token).expect(200)


async def t_relay_frame_limits(fx):
    relay = S["relay"]
    a = fx.user("bomb")
    room = fx.room(a)
    c = await relay.connect(room, a)
    # Just over the limit, as one frame.
    t0 = time.monotonic()
    await c.send_text('{"type":"chat_message","content":"' + "x" * LIMIT + '"}')
    e = await c.error()
    R.eq(e.get("code"), "frame_too_large", f"frame over the limit: {e}")
    await c.usable()
    # Deep nesting within the size limit.
    n = (LIMIT - 100) // 2
    for bomb in ("[" * n + "]" * n, '{"a":' * 10000 + "1" + "}" * 10000, "[" * (LIMIT - 10)):
        await c.send_text(bomb)
        e = await c.error()
        R.check(e.get("code") in ("invalid_json", "invalid_frame"),
                f"nesting bomb: error frame {e}")
    R.check(time.monotonic() - t0 < 10, "bombs took long to refuse")
    await c.usable()
    # Over the limit in fragments, through a raw socket.
    raw = R.RawWs(relay.port, f"/ws/chat/{room}/?token={a.token}")
    raw.recv_json("connection_established")
    part = b'{"type":"chat_message","content":"' + b"y" * 40000
    raw.send_frame(0x1, part, fin=False)
    raw.send_frame(0x0, b"y" * 40000, fin=False)
    raw.send_frame(0x0, b'"}', fin=True)
    e = raw.recv_json("error")
    R.eq(e.get("code"), "frame_too_large", f"fragmented frame over the limit: {e}")
    raw.send_text_bytes(b'{"type":"chat_message","content":"after fragments"}')
    m = raw.recv_json("chat_message")
    R.eq(m["message"]["content"], "after fragments", "raw connection usable after")
    raw.close()
    # A frame header announcing 2^62 bytes: that connection ends, others live.
    s = socket.create_connection(("127.0.0.1", relay.port), 5)
    raw2 = R.RawWs(relay.port, f"/ws/chat/{room}/?token={a.token}")
    raw2.recv_json("connection_established")
    raw2.sock.sendall(struct.pack("!BBQ", 0x81, 0x80 | 127, 1 << 62) + b"\0\0\0\0" + b"z" * 1000)
    s.close()
    raw2.close()
    await c.usable()


def raw_handshake(port, request, timeout=10):
    """Send a raw HTTP request; return (first line, or b'' if closed)."""
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.settimeout(timeout)
    try:
        s.sendall(request)
    except OSError:
        pass  # the relay may close before reading everything
    buf = b""
    try:
        while b"\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    return buf.split(b"\r\n")[0]


async def t_relay_huge_handshake(fx):
    relay = S["relay"]
    a = fx.user("hs")
    room = fx.room(a)
    c = await relay.connect(room, a)
    base = (f"GET /ws/chat/{room}/?token={a.token} HTTP/1.1\r\nHost: x\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
    for what, req in (
            ("1 MB header", base + "X-Junk: " + "j" * 1000000 + "\r\n\r\n"),
            ("10000 headers", base + "".join(f"X-H{i}: v\r\n" for i in range(10000)) + "\r\n"),
            ("100 KB URL", f"GET /ws/chat/{room}/?token={'t' * 100000} HTTP/1.1\r\nHost: x\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n")):
        first = await asyncio.get_running_loop().run_in_executor(
            None, raw_handshake, relay.port, req.encode())
        R.check(b" 101 " not in first + b" ", f"relay accepted a handshake with a {what}")
        R.check(relay.alive(), f"relay died on a handshake with a {what}")
    # A token bigger than any real one (they are under 1 KB) but within
    # the handshake's header room: refused as a token, 4401.
    await R.expect_refused(relay, room, "t" * 2000, 4401, what="2 KB token")
    # Beyond the header room the handshake itself is refused (no 101).
    first = await asyncio.get_running_loop().run_in_executor(
        None, raw_handshake, relay.port, base.replace(a.token, "t" * 9000).encode() + b"\r\n")
    R.check(b" 101 " not in first + b" ", "relay accepted a handshake with a 9 KB token")
    await c.usable()


if __name__ == "__main__":
    seclib.main([t_api_json_bombs, t_api_huge_headers, t_relay_frame_limits,
                 t_relay_huge_handshake], setup)
