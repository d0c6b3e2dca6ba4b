"""Replays cannot grow the relay's memory (issue: a client that asks for
the history again and again, or many that open with ?last_id=0, without
reading): each connection holds at most relay.send_queue_max_bytes (plus
one frame) of queued output, a replay is produced only as fast as the
client reads it, a client that does not read is closed with 4408, other
clients' handshakes stay fast, and the memory comes back when the
connections go."""

import asyncio
import os
import struct
import time
import urllib.request

import relaylib as R

S = {}
N_MSG = 1000              # 1,000 messages of 4,000 U+0001: ~24 KB per frame
MIB = 1024
WATCHDOG_KIB = 512 * MIB  # today's code: GiBs; stop the attack before that
SEND_TIMEOUT = 3


def setup(fx):
    # one user opens all the connections: lift the per-user cap, which
    # would refuse them before any replay starts
    env = {"CHAT_RELAY_SEND_TIMEOUT": str(SEND_TIMEOUT),
           "CHAT_RELAY_MAX_CONNECTIONS_PER_USER": "0"}
    # under AddressSanitizer freed memory sits in a quarantine (256 MiB by
    # default): keep it small, or RSS says nothing about what is held
    asan = os.environ.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + \
        "quarantine_size_mb=8:thread_local_quarantine_size_kb=64"
    u = fx.user("hoarder")
    room = fx.room(u, private=True)
    fx.db.sql("INSERT INTO messages (room_id, sender_id, content) "
              f"SELECT {room}, {u.id}, REPEAT(CHAR(1), 4000) FROM seq_1_to_{N_MSG}")
    # started after the messages: they are history, not live events
    S["relay"] = fx.relay(**env)
    S["user"], S["room"] = u, room


def rss_kib(relay):
    with open(f"/proc/{relay.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def slow_closed(relay):
    with urllib.request.urlopen(f"http://127.0.0.1:{relay.port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("chat_relay_slow_clients_closed_total "):
                return int(line.split()[1])
    return 0


def read_until_close(raw, timeout):
    """Read (and drop) frames until the close frame: (code or None, frames)."""
    deadline = time.monotonic() + timeout
    frames = 0
    while time.monotonic() < deadline:
        try:
            op, payload = raw.recv_frame(max(deadline - time.monotonic(), 0.1))
        except (R.TestFailure, OSError) as e:
            R.log(f"read_until_close: {e!r} after {frames} frames")
            return None, frames
        if op == 0x8:
            return (struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None), frames
        if op == 0x1:
            frames += 1
    return None, frames


class Watch:
    """Peak RSS of the relay; fails (after stopping the attack) past the
    watchdog, so today's unbounded growth cannot take the machine down."""

    def __init__(self, relay, socks):
        self.relay, self.socks = relay, socks
        self.base = rss_kib(relay)
        self.peak = self.base

    def sample(self, what):
        v = rss_kib(self.relay)
        self.peak = max(self.peak, v)
        if v - self.base > WATCHDOG_KIB:
            for s in self.socks:
                s.close()
            raise R.TestFailure(f"{what}: relay RSS grew by {(v - self.base) // MIB} MiB "
                                f"({self.base // MIB} -> {v // MIB} MiB); attack stopped")
        return v


def sanitized(relay):
    """AddressSanitizer's allocator keeps what is freed (its quarantine,
    no malloc_trim): whether memory comes back is checked without it."""
    with open(relay.binary, "rb") as f:
        return b"__asan_init" in f.read()


async def settle_rss(relay, base, timeout=10):
    """RSS once the relay has let go of a closed attack (polls: frees and
    trims happen on the loop)."""
    deadline = time.monotonic() + timeout
    while True:
        v = rss_kib(relay)
        if v - base < 16 * MIB or time.monotonic() > deadline:
            return v
        await asyncio.sleep(0.2)


@R.timeout(90)
async def t_sync_flood_without_reading(fx):
    """A client with a 4 KB receive buffer that never reads and sends
    {"type":"sync","last_id":0} every 60 ms: RSS stays bounded and the
    client is closed with 4408."""
    relay, u, room = S["relay"], S["user"], S["room"]
    raw = R.RawWs(relay.port, f"/ws/chat/{room}/?token={u.token}", rcvbuf=4096)
    w = Watch(relay, [raw])
    cut0 = slow_closed(relay)
    # its own user_join goes out first: no live frame comes during the flood
    await asyncio.sleep(1.0)
    try:
        t_end = time.monotonic() + 4 * SEND_TIMEOUT
        n = 0
        while time.monotonic() < t_end:
            try:
                raw.send_text_bytes(b'{"type":"sync","last_id":0}')
            except OSError:
                break  # closed by the relay
            n += 1
            w.sample(f"after {n} sync frames")
            await asyncio.sleep(0.06)
            if n % 10 == 0 and slow_closed(relay) > cut0:
                break
        w.sample("end of the sync flood")
        code, frames = await asyncio.get_running_loop().run_in_executor(
            None, read_until_close, raw, 30)
    finally:
        raw.close()
    grown = (w.peak - w.base) // MIB
    R.log(f"sync flood: {n} syncs, RSS {w.base // MIB} -> peak {w.peak // MIB} MiB")
    R.check(grown < 64, f"relay RSS grew by {grown} MiB ({w.base // MIB} -> "
                        f"{w.peak // MIB} MiB) under a sync flood from one client")
    R.eq(code, 4408, f"close code of a client that never read its replay ({frames} frames "
                     f"read afterwards, {n} syncs sent)")
    after = await settle_rss(relay, w.base)
    R.check(after - w.base < 16 * MIB or sanitized(relay),
            f"memory not returned after the client was closed: "
            f"{w.base // MIB} -> {after // MIB} MiB")


@R.timeout(120)
async def t_many_nonreaders_last_id_0(fx):
    """150 connections opened with ?last_id=0 that never read: bounded
    memory, a normal handshake meanwhile is fast, each non-reader is closed
    with 4408, and the memory comes back."""
    relay, u, room = S["relay"], S["user"], S["room"]
    socks = []
    w = Watch(relay, socks)
    cut0 = slow_closed(relay)
    try:
        for i in range(150):
            socks.append(R.RawWs(relay.port, f"/ws/chat/{room}/?token={u.token}&last_id=0",
                                 rcvbuf=4096))
            if i % 10 == 0:
                w.sample(f"{i} non-reading connections")
        t0 = time.monotonic()
        c = await relay.connect(room, u)
        took = time.monotonic() - t0
        w.sample("after the normal handshake")
        for _ in range(20):
            await asyncio.sleep(0.1)
            w.sample("150 non-reading connections")
        R.check(took < 5.0, f"a normal handshake took {took:.2f}s while 150 connections "
                            f"waited for their replays")
        await c.usable()
        # each non-reader is cut off once its queue made no progress
        t1 = time.monotonic()
        await R.async_wait_until(lambda: w.sample("waiting for 4408s") and
                                 slow_closed(relay) - cut0 >= len(socks),
                                 4 * SEND_TIMEOUT + 20, "every non-reader closed 4408")
        R.log(f"all closed 4408 {time.monotonic() - t1:.1f}s after the handshake")
        codes = await asyncio.get_running_loop().run_in_executor(
            None, lambda: [read_until_close(s, 10)[0] for s in socks[:5]])
    finally:
        for s in socks:
            s.close()
    grown = (w.peak - w.base) // MIB
    after = await settle_rss(relay, w.base)
    R.log(f"150 non-readers: handshake {took:.3f}s, RSS {w.base // MIB} -> peak "
          f"{w.peak // MIB} -> {after // MIB} MiB after")
    R.check(grown < 96, f"relay RSS grew by {grown} MiB ({w.base // MIB} -> {w.peak // MIB} "
                        f"MiB) with 150 non-reading replays")
    R.eq(codes, [4408] * 5, "close codes of non-reading connections")
    R.check(after - w.base < 16 * MIB or sanitized(relay),
            f"memory not returned after the non-readers went: "
            f"{w.base // MIB} -> {after // MIB} MiB")


@R.timeout(60)
async def t_slow_steady_reader_kept(fx):
    """A client that reads its replay slowly but steadily (8 KB every
    50 ms) for longer than relay.send_timeout is not a slow consumer: it
    is not closed, and the replay keeps coming."""
    relay, u, room = S["relay"], S["user"], S["room"]
    cut0 = slow_closed(relay)
    raw = R.RawWs(relay.port, f"/ws/chat/{room}/?token={u.token}&last_id=0", rcvbuf=4096)
    got = 0
    try:
        raw.sock.settimeout(1.0)
        t_end = time.monotonic() + 3 * SEND_TIMEOUT
        while time.monotonic() < t_end:
            try:
                chunk = raw.sock.recv(8192)
            except TimeoutError:
                chunk = b"?"
            R.check(chunk, f"connection closed after {got} bytes read steadily")
            got += len(chunk)
            await asyncio.sleep(0.05)
    finally:
        raw.close()
    R.eq(slow_closed(relay), cut0, f"slow-consumer closes while a client read {got} bytes "
                                   f"steadily for {3 * SEND_TIMEOUT} s")
    R.check(got > 500_000, f"only {got} bytes of the replay in {3 * SEND_TIMEOUT} s")


if __name__ == "__main__":
    R.main([t_sync_flood_without_reading, t_many_nonreaders_last_id_0,
            t_slow_steady_reader_kept], setup)
