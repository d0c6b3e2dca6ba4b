"""Keep-alive: the relay pings every relay.ping_interval and hangs up a
connection it has not heard from (no pong, no other frame) for
relay.idle_timeout; a client that answers the pings, or keeps talking,
stays open however long it is otherwise quiet. Short intervals here
(ping 1 s, idle 3 s); the sweep's granularity is part of the bounds."""

import asyncio
import socket
import time

import relaylib as R

S = {}
PING, IDLE = 1, 3


def setup(fx):
    S["relay"] = fx.relay(CHAT_RELAY_PING_INTERVAL=str(PING), CHAT_RELAY_IDLE_TIMEOUT=str(IDLE))
    S["poll"] = fx.relay(CHAT_RELAY_PING_INTERVAL=str(PING), CHAT_RELAY_IDLE_TIMEOUT=str(IDLE),
                         CHAT_RELAY_EVENT_LOOP="libev")


def raw_open(fx, name, relay=None):
    relay = relay or S["relay"]
    a = fx.user(name)
    room = fx.room(a)
    w = R.RawWs(relay.port, f"/ws/chat/{room}/?token={a.token}")
    return w, room, a


def read_until_closed(w, limit):
    """Read everything (never answering) until the relay closes; returns
    (seconds, bytes)."""
    t0 = time.monotonic()
    data = w.buf
    w.sock.settimeout(0.5)
    while time.monotonic() - t0 < limit:
        try:
            chunk = w.sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return time.monotonic() - t0, data


def serve_for(w, seconds, talk_every=None):
    """Keep the raw client alive for a while: answer pings (recv_frame
    does), or never answer them and send a typing frame every talk_every
    seconds instead. Returns how many pings arrived; fails on a close."""
    pings = 0
    deadline = time.monotonic() + seconds
    next_talk = time.monotonic()
    while time.monotonic() < deadline:
        if talk_every is not None and time.monotonic() >= next_talk:
            w.send_text_bytes(b'{"type":"typing","is_typing":false}')
            next_talk += talk_every
        w.sock.settimeout(0.2)
        try:
            b0, b1 = w._need(2)
        except socket.timeout:
            continue
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(w._need(2), "big")
        elif n == 127:
            n = int.from_bytes(w._need(8), "big")
        payload = w._need(n)
        op = b0 & 0x0F
        R.check(op != 0x8, f"closed by the relay after {seconds - (deadline - time.monotonic()):.1f}s "
                f"({payload[:2].hex()})")
        if op == 0x9:
            pings += 1
            if talk_every is None:
                w.send_frame(0xA, payload)
    return pings


@R.timeout(40)
async def t_silent_client_hung_up(fx):
    """A client that never answers (and sends nothing) is pinged, then
    dropped once idle_timeout has passed since the relay heard from it."""
    w, _, _ = raw_open(fx, "mute")
    try:
        waited, data = await asyncio.get_running_loop().run_in_executor(
            None, read_until_closed, w, 20)
    finally:
        w.close()
    R.check(b"\x89" in data, "no ping was sent to the silent client")
    R.log(f"silent client dropped after {waited:.2f}s")
    R.check(waited >= IDLE - 0.3, f"the silent client was dropped after {waited:.1f}s, "
            f"before idle_timeout ({IDLE}s)")
    R.check(waited < IDLE + 5, f"the silent client was kept {waited:.1f}s "
            f"(idle_timeout {IDLE}s)")


@R.timeout(40)
async def t_ponging_client_kept(fx):
    """A client that answers every ping but never sends anything else is
    kept for several idle timeouts, and is still served."""
    w, room, a = raw_open(fx, "pong")
    try:
        pings = await asyncio.get_running_loop().run_in_executor(None, serve_for, w, 3 * IDLE)
        R.check(pings >= 2, f"{pings} ping(s) in {3 * IDLE}s with ping_interval {PING}s")
        w.send_text_bytes(b'{"type":"chat_message","content":"still here"}')
        m = await asyncio.get_running_loop().run_in_executor(
            None, lambda: w.recv_json("chat_message", 10))
        R.eq(m["message"]["content"], "still here", "message after the quiet time")
    finally:
        w.close()


@R.timeout(40)
async def t_talking_client_kept(fx):
    """Any frame from the client shows it is alive: one that never answers
    pings but sends a frame every second is not hung up."""
    w, _, _ = raw_open(fx, "talk")
    try:
        await asyncio.get_running_loop().run_in_executor(None, serve_for, w, 3 * IDLE, 1.0)
    finally:
        w.close()


@R.timeout(30)
async def t_library_client_kept(fx):
    """A client library that answers pings by itself stays usable."""
    relay = S["relay"]
    a = fx.user("lib")
    room = fx.room(a)
    c = await relay.connect(room, a)
    await asyncio.sleep(3 * IDLE)
    R.check(not c.closed, f"the answering client was dropped ({c.close_code})")
    await c.usable()


@R.timeout(40)
async def t_poll_loop(fx):
    """The same on the libev loop (relay.event_loop = libev; the default,
    auto, is libwebsockets' poll() loop): the silent client is dropped, the
    answering one kept."""
    relay = S["poll"]
    out = relay.output()
    R.check("event loop: libev" in out or "cannot use libev" in out,
            "the libev relay did not say which loop it runs")
    a = fx.user("pollib")
    c = await relay.connect(fx.room(a), a)
    w, _, _ = raw_open(fx, "pollmute", relay)
    try:
        waited, data = await asyncio.get_running_loop().run_in_executor(
            None, read_until_closed, w, 20)
    finally:
        w.close()
    R.check(b"\x89" in data, "no ping was sent to the silent client")
    R.log(f"silent client dropped after {waited:.2f}s")
    R.check(IDLE - 0.3 <= waited < IDLE + 5, f"the silent client was dropped after {waited:.1f}s "
            f"(idle_timeout {IDLE}s)")
    await asyncio.sleep(max(0, 2 * IDLE - waited))
    R.check(not c.closed, f"the answering client was dropped ({c.close_code})")
    await c.usable()


if __name__ == "__main__":
    R.main([t_silent_client_hung_up, t_ponging_client_kept, t_talking_client_kept,
            t_library_client_kept, t_poll_loop], setup)
