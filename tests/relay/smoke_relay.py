"""chat-relay operations: --workers, /metrics, room deletion and removal from
a private room, a port already in use, a database unreachable at start,
SIGHUP. (The protocol itself is covered by tests/relay/test_*.py.)"""

import asyncio
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import relaylib as R

S = {}


def setup(fx):
    S["relay"] = fx.relay()
    S["multi"] = fx.relay(CHAT_RELAY_WORKERS="2")
    S["ka"] = fx.relay(CHAT_RELAY_PING_INTERVAL="1", CHAT_RELAY_IDLE_TIMEOUT="3",
                       CHAT_RELAY_HANDSHAKE_TIMEOUT="2")


def http_get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise R.TestFailure(f"metric {name} missing from /metrics:\n{text[:2000]}")


async def t_metrics(fx):
    relay = S["relay"]
    a = fx.user("met")
    room = fx.room(a)
    c = await relay.connect(room, a)
    await c.usable()
    status, text = http_get(relay.port, "/metrics")
    R.eq(status, 200, "GET /metrics status")
    R.check(metric(text, "chat_relay_connections") >= 1, "connections gauge")
    R.check(metric(text, "chat_relay_messages_in_total") >= 1, "messages_in_total")
    R.check(metric(text, "chat_relay_frames_out_total") >= 2, "frames_out_total")
    R.check(metric(text, "chat_relay_db_batch_size_count") >= 1, "db_batch_size_count")
    R.check(metric(text, "chat_relay_last_event_id") >= 1, "last_event_id")
    for name in ("chat_relay_rooms", "chat_relay_frames_dropped_total",
                 "chat_relay_slow_clients_closed_total", "chat_relay_rate_limited_total",
                 "chat_relay_event_reader_lag"):
        metric(text, name)
    R.eq(http_get(relay.port, "/healthz"), (200, "ok"), "GET /healthz")
    R.eq(http_get(relay.port, "/nothing-here")[0], 404, "GET of an unknown path")


def established_on(pid, port):
    """TCP connections to `port` that process `pid` holds open."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            t = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if t.startswith("socket:["):
            inodes.add(t[8:-1])
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                col = line.split()
                if col[3] == "01" and int(col[1].split(":")[1], 16) == port and col[9] in inodes:
                    n += 1
    return n


async def t_workers(fx):
    """Two processes on one port: every connection, whichever process
    accepted it, gets every message of its room in order."""
    relay = S["multi"]
    users = [fx.user("w") for _ in range(4)]
    room = fx.room(users[0])
    clients = [await relay.connect(room, users[i % 4]) for i in range(12)]
    for i, c in enumerate(clients[:4]):
        await c.send({"type": "chat_message", "content": f"from {i}"})
    got = await asyncio.gather(*(c.messages(4, 20) for c in clients))
    rows = [r[0] for r in fx.room_messages(room)]
    for c, g in zip(clients, got):
        R.eq([m["id"] for m in g], rows, f"client {c.n}: ids in order")
    children = subprocess.run(["pgrep", "-P", str(relay.proc.pid)], capture_output=True,
                              text=True).stdout.split()
    R.eq(len(children), 2, "worker processes")
    # Each worker has its own socket on the port: the kernel spreads new
    # connections evenly (a shared socket lets one worker take most).
    more = [await relay.connect(room, users[i % 4]) for i in range(100)]
    await asyncio.gather(*(c.usable() for c in more))
    per = [established_on(int(p), relay.port) for p in children]
    R.eq(sum(per), len(clients) + len(more), f"connections held by the workers {per}")
    R.check(min(per) >= 0.25 * sum(per), f"connections spread over the workers: {per}")
    for c in more:
        await c.close()
    socks = [n for n in os.listdir(fx.notify_dir) if n.endswith(".sock")]
    R.check(len(socks) >= 3, f"wake-up sockets in the notify dir: {socks}")
    # a worker that dies is replaced; the survivors keep serving
    os.kill(int(children[0]), signal.SIGKILL)
    await R.async_wait_until(
        lambda: sorted(subprocess.run(["pgrep", "-P", str(relay.proc.pid)], capture_output=True,
                                      text=True).stdout.split()) not in ([], [children[1]]),
        10, "a replacement worker")
    R.check(relay.alive(), "the parent exited when a worker died")
    for _ in range(6):
        c = await relay.connect(room, users[0])
        await c.usable()


async def t_room_deleted(fx):
    relay = S["relay"]
    a, b = fx.user("del"), fx.user("del")
    room = fx.room(a)
    ca = await relay.connect(room, a)
    cb = await relay.connect(room, b)
    fx.db.sql(f"DELETE FROM rooms WHERE id = {room}")
    for c in (ca, cb):
        err = await c.error(10)
        R.eq(err["code"], "room_deleted", "error code when the room is deleted")
        R.eq(await c.closed_with(10), 4404, "close code when the room is deleted")


async def t_removed_from_private_room(fx):
    relay = S["relay"]
    owner, m = fx.user("po"), fx.user("pm")
    room = fx.room(owner, private=True)
    fx.add_member(room, m)
    co = await relay.connect(room, owner)
    cm = await relay.connect(room, m)
    fx.db.sql(f"DELETE FROM room_members WHERE room_id = {room} AND user_id = {m.id}")
    R.eq(await cm.closed_with(10), 4404, "close code of a member removed from a private room")
    await co.usable()


async def t_port_in_use(fx):
    """A port held by another program: a clear error, exit status 1. (Two
    relays may share a port on purpose: SO_REUSEPORT.)"""
    relay = S["relay"]
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        env = dict(relay.env(), CHAT_RELAY_PORT=str(holder.getsockname()[1]))
        p = subprocess.run([relay.binary], env=env, capture_output=True, timeout=30)
    finally:
        holder.close()
    R.eq(p.returncode, 1, "exit status on a busy port")
    R.check(b"in use" in p.stderr, f"no 'in use' message: {p.stderr[-500:]!r}")
    # a second relay on the first one's port shares it
    r2 = R.Relay(fx, port=relay.port, name="sharer")
    fx.relays.append(r2)
    r2.start()
    await R.async_wait_until(lambda: "listening on" in r2.output(), 10, "second relay ready")
    a = fx.user("share")
    room = fx.room(a)
    clients = [await relay.connect(room, a) for _ in range(6)]
    await clients[0].usable()
    for c in clients[1:]:
        await c.next("chat_message", 10)
    R.eq(r2.stop(), 0, "exit status of the second relay")


async def t_db_down_at_start(fx):
    r = R.Relay(fx, {"CHAT_DATABASE_SOCKET": os.path.join(fx.tmp, "no-such.sock"),
                     "CHAT_DATABASE_CONNECT_TIMEOUT": "1"}, name="nodb")
    fx.relays.append(r)
    r.start()
    await R.async_wait_until(lambda: "listening on" in r.output(), 10, "listening line")
    R.eq(http_get(r.port, "/healthz")[0], 503, "/healthz without a database")
    a = fx.user("nodb")
    room = fx.room(a)
    c = await R.Client.open(r.url(room, a.token), fx)
    err = await c.error(15)
    R.eq(err["code"], "unavailable", "error code without a database")
    R.eq(await c.closed_with(10), 1013, "close code without a database")
    R.eq(r.stop(), 0, "exit status on SIGTERM without a database")


async def t_sighup(fx):
    relay = S["relay"]
    a = fx.user("hup")
    room = fx.room(a)
    c = await relay.connect(room, a)
    relay.proc.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    R.check(relay.alive(), "relay died on SIGHUP")
    await c.usable()


async def t_keepalive(fx):
    """Pings keep an answering client open; one that never answers is
    dropped after relay.idle_timeout."""
    relay = S["ka"]
    a = fx.user("ka")
    room = fx.room(a)
    c = await relay.connect(room, a)  # the client library answers pings
    mute = R.RawWs(relay.port, f"/ws/chat/{room}/?token={a.token}")
    mute.sock.settimeout(15)
    t0 = time.monotonic()
    data = b""
    try:
        while True:
            chunk = await asyncio.get_running_loop().run_in_executor(None, mute.sock.recv, 65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    finally:
        mute.close()
    waited = time.monotonic() - t0
    R.check(waited < 12, f"a client that never answers pings was kept {waited:.1f}s")
    R.check(b"\x89" in data, "no ping was sent to the silent client")
    R.check(not c.closed, f"the answering client was dropped ({c.close_code})")
    await c.usable()


async def t_handshake_timeout(fx):
    """A connection that never completes its handshake is dropped after
    relay.handshake_timeout (2 s here), whether it sent nothing or only
    part of the request."""
    relay = S["ka"]

    def probe(payload):
        s = socket.create_connection(("127.0.0.1", relay.port))
        s.settimeout(15)
        if payload:
            s.sendall(payload)
        t0 = time.monotonic()
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        finally:
            s.close()
        return time.monotonic() - t0
    loop = asyncio.get_running_loop()
    for payload in (b"", b"GET /ws/chat/1/ HTTP/1.1\r\nHost: x\r\n"):
        waited = await loop.run_in_executor(None, probe, payload)
        R.check(waited < 6, f"half-open connection ({payload[:12]!r}) kept {waited:.1f}s")


async def t_remote_typing_cleared_once(fx):
    """A typer on another relay that is alive: its own relay clears the
    indicator, and the observer's relay does not add a second "false"."""
    ra = R.Relay(fx, {"CHAT_RELAY_TYPING_TIMEOUT": "2"}, name="typa")
    rb = R.Relay(fx, {"CHAT_RELAY_TYPING_TIMEOUT": "2"}, name="typb")
    fx.relays += [ra, rb]
    ra.start()
    rb.start()
    t, o = fx.user("typer"), fx.user("obs")
    room = fx.room(t)
    co = await rb.connect(room, o)
    ct = await ra.connect(room, t)
    await ct.send({"type": "typing", "is_typing": True})
    await co.next("typing", 10, where=lambda f: f["is_typing"])
    await co.next("typing", 10, where=lambda f: not f["is_typing"])
    await co.quiet(6, "typing", what="a second typing false")
    R.eq(ra.stop(), 0, "exit status")
    R.eq(rb.stop(), 0, "exit status")


async def t_tls(fx):
    """relay.tls_cert + relay.tls_key: the same protocol over wss://."""
    openssl = shutil.which("openssl")
    if not openssl:
        R.log("openssl not found: wss:// not checked")
        return
    cert, key = os.path.join(fx.tmp, "cert.pem"), os.path.join(fx.tmp, "key.pem")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=localhost"], check=True,
                   capture_output=True, timeout=60)
    r = R.Relay(fx, {"CHAT_RELAY_TLS_CERT": cert, "CHAT_RELAY_TLS_KEY": key}, name="tls")
    fx.relays.append(r)
    r.start()
    a = fx.user("tls")
    room = fx.room(a)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    url = f"wss://127.0.0.1:{r.port}/ws/chat/{room}/?token={a.token}"
    async with R.websockets.connect(url, ssl=ctx) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        R.eq(hello["type"], "connection_established", "first frame over wss://")
        await ws.send(json.dumps({"type": "chat_message", "content": "over tls"}))
        m = json.loads(await asyncio.wait_for(ws.recv(), 10))
        R.eq(m["message"]["content"], "over tls", "message over wss://")
    R.eq(r.stop(), 0, "exit status of the TLS relay")


if __name__ == "__main__":
    R.main([t_metrics, t_workers, t_room_deleted, t_removed_from_private_room, t_port_in_use,
            t_db_down_at_start, t_sighup, t_keepalive, t_handshake_timeout,
            t_remote_typing_cleared_once, t_tls], setup)
