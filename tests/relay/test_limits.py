"""Per-connection rate limit, slow clients cut off with 4408 without
slowing the room down, and the allowed-Origin list."""

import asyncio
import json
import struct
import time
import urllib.request

import relaylib as R

S = {}
RATE, BURST = 5, 10
GOOD_ORIGIN = "http://good.example"


def setup(fx):
    S["rated"] = fx.relay(CHAT_RELAY_RATE_LIMIT=str(RATE), CHAT_RELAY_RATE_BURST=str(BURST))
    S["queue"] = fx.relay(CHAT_RELAY_SEND_QUEUE_MAX_BYTES="262144",
                          CHAT_RELAY_RATE_LIMIT="100000", CHAT_RELAY_RATE_BURST="100000",
                          CHAT_RELAY_USER_RATE_LIMIT="0")
    S["origin"] = fx.relay(CHAT_RELAY_ALLOWED_ORIGINS=f"{GOOD_ORIGIN} https://chat.example.org")


@R.timeout(40)
async def t_rate_limit(fx):
    relay = S["rated"]
    a, b = fx.user("flooder"), fx.user("calm")
    room = fx.room(a)
    c = await relay.connect(room, a)
    other = await relay.connect(room, b)
    n = 40
    t0 = time.monotonic()
    for i in range(n):
        await c.send({"type": "chat_message", "content": f"flood {i}"})
    elapsed = time.monotonic() - t0
    err = await c.next("error", 10, where=lambda f: f.get("code") == "rate_limited")
    R.check(isinstance(err.get("message"), str), f"error frame: {err}")
    # wait until the accepted ones are stored and echoed
    def echoes():
        return [f["message"]["content"] for f in c.history if f["type"] == "chat_message"]
    await R.async_wait_until(lambda: len(echoes()) >= BURST and
                             len(echoes()) == len(fx.room_messages(room)), 10,
                             f"{BURST} echoes matching the stored rows")
    n_echoed = len(echoes())
    await asyncio.sleep(0.5)
    R.eq(len(echoes()), n_echoed, "echoes (none may come late)")
    rows = fx.room_messages(room)
    stored = [r[2] for r in rows]
    allowed = BURST + RATE * (elapsed + 0.5) + 1
    R.check(BURST <= len(stored) <= allowed,
            f"{len(stored)} of {n} flood frames stored; expected between {BURST} and "
            f"{allowed:.0f} (burst {BURST}, {RATE}/s)")
    echoed = [f["message"]["content"] for f in c.history if f["type"] == "chat_message"]
    R.eq(sorted(echoed), sorted(stored), "acknowledged (echoed) messages = stored ones")
    errors = [f for f in c.history if f["type"] == "error"]
    R.check(all(f.get("code") == "rate_limited" for f in errors), f"other errors: {errors}")
    R.check(len(errors) <= n - len(stored), "more error frames than refused frames")
    R.check(not [f for f in other.history if f["type"] == "error"],
            "the rate-limit error went to another connection")
    # the bucket refills: the connection is usable again
    await asyncio.sleep(BURST / RATE)
    await c.usable()
    # and a refused frame is never stored later
    await asyncio.sleep(0.5)
    R.eq(len(fx.room_messages(room)), len(stored) + 1, "rows after the usable check")


@R.timeout(30)
async def t_rate_limit_any_frame(fx):
    """The limit counts frames of any type: a typing flood is cut too."""
    relay = S["rated"]
    a, b = fx.user("typist"), fx.user("reader")
    room = fx.room(a)
    c = await relay.connect(room, a)
    other = await relay.connect(room, b)
    t0 = time.monotonic()
    for i in range(40):
        await c.send({"type": "typing", "is_typing": i % 2 == 0})
    elapsed = time.monotonic() - t0
    await c.next("error", 10, where=lambda f: f.get("code") == "rate_limited")
    await other.quiet(1.0, "chat_message")  # let relayed typing frames arrive
    n = len([f for f in other.history if f["type"] == "typing"
             and f["user"]["id"] == a.id])
    R.check(n <= BURST + RATE * (elapsed + 1.5) + 1,
            f"{n} of 40 typing frames relayed despite a burst of {BURST} at {RATE}/s")


@R.timeout(90)
async def t_slow_client(fx):
    relay = S["queue"]
    s, n, w = fx.user("sender"), fx.user("normal"), fx.user("sloth")
    room = fx.room(s)
    cs = await relay.connect(room, s)
    cn = await relay.connect(room, n)
    # a client that never reads, with a tiny receive buffer
    slow = R.RawWs(relay.port, f"/ws/chat/{room}/?token={w.token}", rcvbuf=4096)
    try:
        big = "\U0001F40C" * 3990  # 16 KB of UTF-8 per message
        total, batch = 300, 5
        for start in range(0, total, batch):
            for i in range(start, start + batch):
                await cs.send({"type": "chat_message", "content": f"{i:04d} {big}"})
            last = f"{start + batch - 1:04d} "
            await cs.next("chat_message", 30, where=lambda f: f["message"]["content"]
                          .startswith(last))
            await cn.next("chat_message", 5, where=lambda f: f["message"]["content"]
                          .startswith(last))
        sent = {f["message"]["id"]: f["_t"] for f in cs.history if f["type"] == "chat_message"}
        got = {f["message"]["id"]: f["_t"] for f in cn.history if f["type"] == "chat_message"}
        R.eq(len(sent), total, "messages echoed to the sender")
        R.eq(sorted(got), sorted(sent), "messages received by the normal client")
        lag = max(got[i] - sent[i] for i in sent)
        R.check(lag < 2.0, f"normal client lagged {lag:.2f}s behind the sender")
        R.check(not cn.closed and not cs.closed, "a normal client was disconnected")
        # now read what the slow client was sent: it must end with close 4408
        code, frames = read_until_close(slow, 30)
        R.check(code is not None, f"slow client: connection dropped without a close frame "
                                  f"after {frames} frames (expected close 4408)")
        R.eq(code, 4408, f"slow client's close code (after {frames} frames)")
        R.check(frames < total, "slow client received everything: never cut off")
    finally:
        slow.close()
    # the room still works
    await cs.usable()
    await cn.next("chat_message", 5, where=lambda f: f["message"]["content"]
                  .startswith("still-usable"))


@R.timeout(60)
async def t_slow_client_replays(fx):
    """Replays count against the send queue too: a client that asks for the
    history again and again without reading is cut off with 4408 instead
    of making the relay hold every copy."""
    relay = S["queue"]
    u = fx.user("hoarder")
    room = fx.room(u)
    n = 200  # 200 x 16 KB = 3.2 MB per replay
    fx.db.sql("INSERT INTO messages (room_id, sender_id, content) "
              f"SELECT {room}, {u.id}, CONCAT(seq, ' ', REPEAT('\U0001F40C', 3990)) "
              f"FROM seq_1_to_{n}")
    rss0 = rss_kib(relay)
    # before the connection: the relay may cut it off within milliseconds
    # of the first sync (its first page alone fills the queue)
    cut0 = slow_closed(relay)
    slow = R.RawWs(relay.port, f"/ws/chat/{room}/?token={u.token}", rcvbuf=4096)
    try:
        for _ in range(8):
            slow.send_text_bytes(b'{"type": "sync", "last_id": 0}')
        # Let the relay do what it does with them (under sanitizers each
        # replay's database work can take seconds): until it reports a slow
        # client closed, or 60 s.
        deadline = time.monotonic() + 60
        while slow_closed(relay) == cut0 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        grown = rss_kib(relay) - rss0
        code, frames = await asyncio.get_running_loop().run_in_executor(
            None, read_until_close_or_quiet, slow, 60)
    finally:
        slow.close()
    R.check(code == 4408, f"a client asking for 8 replays of {n} x 16 KB without reading "
                          f"was not cut off (close {code} after {frames} frames; the "
                          f"relay's memory grew by {grown // 1024} MiB)")


def slow_closed(relay):
    """The relay's chat_relay_slow_clients_closed_total counter."""
    with urllib.request.urlopen(f"http://127.0.0.1:{relay.port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("chat_relay_slow_clients_closed_total "):
                return int(line.split()[1])
    return 0


def rss_kib(relay):
    with open(f"/proc/{relay.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def read_until_close_or_quiet(raw, timeout, quiet=10):
    """Like read_until_close, but a stream that just goes quiet for `quiet`
    seconds ends the read too: (None, frames). Generous: under sanitizers
    on a loaded machine one replay's database work can take seconds."""
    deadline = time.monotonic() + timeout
    frames = 0
    while time.monotonic() < deadline:
        try:
            op, payload = raw.recv_frame(quiet)
        except (R.TestFailure, OSError):
            return None, frames
        if op == 0x8:
            return (struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None), frames
        if op == 0x1:
            frames += 1
    return None, frames


def read_until_close(raw, timeout):
    """Read frames until the close frame; (close code or None on EOF, n frames)."""
    deadline = time.monotonic() + timeout
    frames = 0
    while time.monotonic() < deadline:
        try:
            op, payload = raw.recv_frame(max(deadline - time.monotonic(), 0.1))
        except R.TestFailure:
            return None, frames
        except OSError:
            return None, frames
        if op == 0x8:
            return (struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None), frames
        if op == 0x1:
            json.loads(payload.decode("utf-8"))
            frames += 1
    raise R.TestFailure(f"slow client: no close within {timeout}s ({frames} frames read)")


async def t_origin(fx):
    relay = S["origin"]
    a = fx.user("origin")
    room = fx.room(a)
    for bad in ("http://evil.example", "null", "http://good.example.evil.example"):
        try:
            c = await R.Client.open(relay.url(room, a.token), fx, origin=bad)
        except R.websockets.exceptions.InvalidStatusCode as e:
            R.check(e.status_code in (403, 400), f"Origin {bad}: HTTP status {e.status_code}")
            continue
        code = await c.closed_with(10)
        R.check(not [f for f in c.history if f["type"] == "connection_established"],
                f"Origin {bad} was accepted")
        R.eq(code, 1008, f"close code for Origin {bad}")
    for good in (GOOD_ORIGIN, "https://chat.example.org"):
        c = await relay.connect(room, a, origin=good)
        R.eq(c.hello["user"]["id"], a.id, f"user with Origin {good}")
        await c.usable()


if __name__ == "__main__":
    R.main([t_rate_limit, t_rate_limit_any_frame, t_slow_client, t_slow_client_replays,
            t_origin], setup)
