"""Clients that stop reading (ISSUE: faults; CONTRACT.md "Close codes",
ARCHITECTURE.md "The relay's hot path"): while four senders flood a room
with large messages, five connections that never read are cut off with
4408 once their send queue overflows; the relay's memory stays bounded
(RSS sampled throughout); the connections that do read are not cut off
and a prober's send-to-echo latency stays low."""

import asyncio
import os
import statistics
import time
import urllib.request

import faultlib as F
from faultlib import R

QUEUE_BYTES = 262144
N_SLOW = 5
N_FAST = 5
BIG = "中" * 3990          # 12 KB of UTF-8 per message, under 4000 characters


def metric(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("chat_relay_" + name + " "):
                return int(line.split()[1])
    return None


async def prober(relay, room, user, latencies, stop):
    c = await relay.connect(room, user)
    i = 0
    while not stop.is_set():
        content = f"probe {i}"
        t0 = time.monotonic()
        await c.send({"type": "chat_message", "content": content})
        f = await c.next("chat_message", timeout=10,
                         where=lambda f: f["message"]["content"] == content)
        latencies.append(time.monotonic() - t0)
        # drop what the flood left in the mailbox
        c.take("chat_message", where=lambda f: True)
        i += 1
        await asyncio.sleep(0.2)
    await c.close()


@R.timeout(180)
async def t_slow_readers_cut_off(fx):
    mport = R.free_port()
    relay = fx.relay(CHAT_RELAY_WORKERS="1",
                     CHAT_RELAY_SEND_QUEUE_MAX_BYTES=str(QUEUE_BYTES),
                     CHAT_RELAY_RATE_LIMIT="50", CHAT_RELAY_RATE_BURST="100",
                     CHAT_RELAY_METRICS_LISTEN="127.0.0.1",
                     CHAT_RELAY_METRICS_PORT=str(mport),
                     # Under AddressSanitizer freed memory waits in a
                     # quarantine (256 MiB by default) and counts as RSS.
                     ASAN_OPTIONS=(os.environ.get("ASAN_OPTIONS", "") +
                                   ":quarantine_size_mb=8").lstrip(":"))
    owner = fx.user("owner")
    room = fx.room(owner)
    slow = []
    for _ in range(N_SLOW):
        u = fx.user("slow")
        raw = R.RawWs(relay.port, f"/ws/chat/{room}/?token={u.token}", rcvbuf=4096)
        raw.recv_json("connection_established")
        slow.append(raw)      # and from now on never read
    fast = [await relay.connect(room, fx.user("fast")) for _ in range(N_FAST)]
    flooders = [F.Sender(relay, fx.user("flood"), room, interval=0.04) for _ in range(4)]
    await asyncio.gather(*(s.connect() for s in flooders))
    base_rss = F.rss_kib(relay.proc.pid)
    latencies_idle, latencies_load = [], []
    stop = asyncio.Event()
    p = asyncio.ensure_future(prober(relay, room, fx.user("probe"), latencies_idle, stop))
    await asyncio.sleep(2)
    stop.set()
    await p

    async def flood(s):
        n = 0
        while not s.stopped:
            await s.client.send({"type": "chat_message", "content": f"{n} {BIG}"})
            n += 1
            await asyncio.sleep(s.interval)
    for s in flooders:
        s.stopped = False
    tasks = [asyncio.ensure_future(flood(s)) for s in flooders]
    stop = asyncio.Event()
    p = asyncio.ensure_future(prober(relay, room, fx.user("probe"), latencies_load, stop))
    peak = base_rss
    t0 = time.monotonic()
    cut = 0
    while time.monotonic() - t0 < 60:
        peak = max(peak, F.rss_kib(relay.proc.pid))
        cut = metric(mport, "slow_clients_closed_total") or 0
        if cut >= N_SLOW and time.monotonic() - t0 > 5:
            break
        await asyncio.sleep(0.25)
    took = time.monotonic() - t0
    stop.set()
    await p
    for s in flooders:
        s.stopped = True
    await asyncio.gather(*tasks, return_exceptions=True)
    peak = max(peak, F.rss_kib(relay.proc.pid))

    R.check(cut >= N_SLOW, f"only {cut} of {N_SLOW} slow readers cut off after {took:.0f}s")
    # Each slow reader finds the 4408 close at the end of what was buffered.
    codes = []
    for raw in slow:
        code = None
        try:
            while True:
                op, payload = raw.recv_frame(timeout=10)
                if op == 0x8:
                    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                    break
        except Exception:
            pass
        codes.append(code)
        raw.close()
    R.check(all(c == 4408 for c in codes), f"slow readers' close codes: {codes}")
    R.check(not any(c.closed for c in fast), "a reading client was cut off")
    for c in fast:
        await c.usable()
    growth = (peak - base_rss) / 1024
    R.log(f"   cut off after {took:.1f}s; RSS {base_rss / 1024:.0f} MiB -> peak "
          f"{peak / 1024:.0f} MiB; probe latency idle median "
          f"{statistics.median(latencies_idle) * 1000:.0f} ms, under flood median "
          f"{statistics.median(latencies_load) * 1000:.0f} ms, max "
          f"{max(latencies_load) * 1000:.0f} ms ({len(latencies_load)} probes)")
    bound = N_SLOW * QUEUE_BYTES / 1048576 + 64
    R.check(growth < bound, f"relay RSS grew {growth:.0f} MiB (bound {bound:.0f} MiB)")
    R.check(latencies_load and statistics.median(latencies_load) < 0.5,
            f"prober median latency under flood {statistics.median(latencies_load):.3f}s")
    R.check(max(latencies_load) < 3, f"prober max latency {max(latencies_load):.2f}s")


if __name__ == "__main__":
    R.main([t_slow_readers_cut_off])
