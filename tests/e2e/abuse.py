#!/usr/bin/env python3
"""One abusive client against the whole site, through the real web server
(run by stack.py --exec): the site must stay usable for everyone else.

    stack.py --server S --exec python3 abuse.py [slowloris] [wsflood] [bigpost]

The abuser connects from 127.0.0.2, the normal client from 127.0.0.3 (both
loopback), so per-address limits tell them apart.

  slowloris  HALF_OPEN half-open HTTP requests that trickle one header line
             every few seconds, for SLOW_SECONDS;
  wsflood    one authenticated user opens WS_FLOOD WebSocket connections
             through the web server and keeps what it gets;
  bigpost    a POST to /api/ announcing 300 MB and sending as fast as it can.

During the first two the normal client logs in and chats in a loop (HTTP
login, or a token refresh with E2E_NORMAL_AUTH=refresh, a message over its WebSocket through the web server and its echo);
every one of its steps must succeed and the 99th percentile stay under
1 s. The big POST must be refused (413) after a bounded number of bytes,
and the web server must not have written it to disk in full.
Counts and durations are bounded and printed."""

import asyncio
import http.client
import json
import os
import secrets
import socket
import sys
import time

import websockets

BASE = os.environ["E2E_BASE_URL"]
HOST, PORT = BASE.split("//")[1].split(":")
PORT = int(PORT)
WS_BASE = f"ws://{HOST}:{PORT}"
STACK_DIR = os.environ.get("E2E_STACK_DIR", "")
SERVER = os.environ.get("E2E_SERVER", "?")
ABUSER, NORMAL = "127.0.0.2", "127.0.0.3"
HALF_OPEN = int(os.environ.get("E2E_HALF_OPEN", "2000"))
SLOW_SECONDS = float(os.environ.get("E2E_SLOW_SECONDS", "15"))
WS_FLOOD = int(os.environ.get("E2E_WS_FLOOD", "1400"))
FLOOD_SECONDS = 15
BIG = 300 * 1024 * 1024
P99_LIMIT = 1.0
# log in again at each step, or (a site with the default login limit) renew
# the token with the refresh token
REFRESH = os.environ.get("E2E_NORMAL_AUTH") == "refresh"

failures = []


def log(*a):
    print(*a, flush=True)


def fail(msg):
    log("FAIL:", msg)
    failures.append(msg)


def request(method, path, body=None, token=None, source=NORMAL, timeout=10):
    """(status, parsed JSON or text) over a fresh connection from source."""
    c = http.client.HTTPConnection(HOST, PORT, timeout=timeout, source_address=(source, 0))
    try:
        h = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            h["Authorization"] = "Bearer " + token
        c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
        r = c.getresponse()
        text = r.read().decode(errors="replace")
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text
    finally:
        c.close()


def register(name):
    pw = "pw " + secrets.token_hex(8)
    s, j = request("POST", "/api/auth/register/", {"username": name, "password": pw})
    if s != 201:
        raise SystemExit(f"FAIL: register {name} -> {s} {j}")
    s, t = request("POST", "/api/auth/token/", {"username": name, "password": pw})
    if s != 200:
        raise SystemExit(f"FAIL: login {name} -> {s} {t}")
    return {"id": j["id"], "name": name, "pw": pw, "access": t["access"],
            "refresh": t["refresh"]}


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))] if xs else float("inf")


class Normal:
    """The well-behaved user: log in, chat, measure, until stopped."""

    def __init__(self, user, room):
        self.user, self.room = user, room
        self.lat = []
        self.errors = []
        self.stop = asyncio.Event()

    async def run(self):
        try:
            ws = await websockets.connect(
                f"{WS_BASE}/ws/chat/{self.room}/?token={self.user['access']}",
                open_timeout=5, close_timeout=1, local_addr=(NORMAL, 0))
            hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert hello["type"] == "connection_established", hello
        except Exception as e:  # noqa: BLE001 - what the test reports
            self.errors.append(f"WebSocket open: {e!r}")
            return
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                t0 = time.monotonic()
                try:
                    if REFRESH:  # a site with the default login limit
                        call = ("POST", "/api/auth/token/refresh/",
                                {"refresh": self.user["refresh"]})
                    else:
                        call = ("POST", "/api/auth/token/",
                                {"username": self.user["name"], "password": self.user["pw"]})
                    s, t = await asyncio.wait_for(asyncio.to_thread(request, *call), 10)
                    if s != 200:
                        raise RuntimeError(f"login -> {s} {str(t)[:100]}")
                    t1 = time.monotonic()
                    self.lat.append(t1 - t0)
                    text = f"normal {n} {secrets.token_hex(3)}"
                    await ws.send(json.dumps({"type": "chat_message", "content": text}))
                    while True:
                        f = json.loads(await asyncio.wait_for(ws.recv(), 10))
                        if f.get("type") == "chat_message" and \
                                f["message"]["content"] == text:
                            break
                    self.lat.append(time.monotonic() - t1)
                except Exception as e:  # noqa: BLE001
                    self.errors.append(f"step {n}: {e!r}")
                    self.lat.append(time.monotonic() - t0)
                    if len(self.errors) > 20:
                        return
                await asyncio.sleep(0.1)
        finally:
            await ws.close()

    def verdict(self, phase):
        q = p99(self.lat)
        log(f"{phase}: normal client {len(self.lat)} timed steps, p99 {q * 1000:.0f} ms, "
            f"max {max(self.lat, default=0) * 1000:.0f} ms, {len(self.errors)} errors")
        if self.errors:
            fail(f"{phase}: the normal client failed: {self.errors[:3]}")
        elif len(self.lat) < 10:
            fail(f"{phase}: the normal client made only {len(self.lat)} steps")
        elif q >= P99_LIMIT:
            fail(f"{phase}: the normal client's p99 was {q:.2f} s (limit {P99_LIMIT} s)")


async def slowloris(normal_user, room):
    held = []
    stats = {"opened": 0, "refused": 0, "closed_by_server": 0}

    async def one():
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(
                HOST, PORT, local_addr=(ABUSER, 0)), 3)
            w.write(b"GET /api/chat/health/ HTTP/1.1\r\nHost: chat\r\n")
            await w.drain()
            stats["opened"] += 1
            held.append((r, w))
        except Exception:  # noqa: BLE001 - refused or not accepted: counted
            stats["refused"] += 1

    normal = Normal(normal_user, room)
    t0 = time.monotonic()
    sem = asyncio.Semaphore(200)

    async def bounded():
        async with sem:
            await one()
    opener = asyncio.gather(*(bounded() for _ in range(HALF_OPEN)))
    await asyncio.sleep(1.0)  # the flood is under way before the client starts
    runner = asyncio.ensure_future(normal.run())
    await opener
    log(f"slowloris: {stats['opened']} of {HALF_OPEN} half-open requests connected "
        f"in {time.monotonic() - t0:.1f} s ({stats['refused']} not)")
    peak = 0
    k = 0
    while time.monotonic() - t0 < SLOW_SECONDS:
        await asyncio.sleep(4)
        k += 1
        alive = []
        for r, w in held:
            if r.at_eof() or w.is_closing():
                stats["closed_by_server"] += 1
                w.close()
                continue
            try:
                w.write(f"X-Slow-{k}: {k}\r\n".encode())
                alive.append((r, w))
            except Exception:  # noqa: BLE001
                stats["closed_by_server"] += 1
        held[:] = alive
        peak = max(peak, len(held))
    normal.stop.set()
    await runner
    log(f"slowloris: {len(held)} half-open requests still held after "
        f"{time.monotonic() - t0:.0f} s, {stats['closed_by_server']} closed by the server")
    for _, w in held:
        w.close()
    normal.verdict("slowloris")


async def wsflood(abuser, normal_user, room):
    accepted, refused, failed = [], {}, 0
    normal = Normal(normal_user, room)
    runner = asyncio.ensure_future(normal.run())
    await asyncio.sleep(0.5)
    sem = asyncio.Semaphore(100)
    t0 = time.monotonic()

    async def one():
        nonlocal failed
        async with sem:
            if time.monotonic() - t0 > FLOOD_SECONDS:
                return  # bounded in time whatever the web server does
            try:
                ws = await websockets.connect(
                    f"{WS_BASE}/ws/chat/{room}/?token={abuser['access']}",
                    open_timeout=5, close_timeout=1, local_addr=(ABUSER, 0))
            except Exception:  # noqa: BLE001 - refused at the web server
                failed += 1
                return
            try:
                f = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if f.get("type") == "connection_established":
                    accepted.append(ws)
                    return
                await asyncio.wait_for(ws.wait_closed(), 5)
            except Exception:  # noqa: BLE001
                pass
            refused[ws.close_code] = refused.get(ws.close_code, 0) + 1
            await ws.close()
    await asyncio.gather(*(one() for _ in range(WS_FLOOD)))
    log(f"wsflood: {WS_FLOOD} connections of one user in {time.monotonic() - t0:.1f} s: "
        f"{len(accepted)} accepted, refused by close code {refused}, "
        f"{failed} failed at the web server")
    await asyncio.sleep(3)
    normal.stop.set()
    await runner
    await asyncio.gather(*(ws.close() for ws in accepted), return_exceptions=True)
    normal.verdict("wsflood")
    if len(accepted) >= WS_FLOOD:
        fail(f"wsflood: all {WS_FLOOD} connections of one user were accepted")


def upload_files():
    """Sizes of request-body temporary files the web server keeps in the stack."""
    out = {}
    for root, _, files in os.walk(STACK_DIR):
        for f in files:
            if "upload" in f or root.endswith("/body") or "/body/" in root:
                p = os.path.join(root, f)
                try:
                    out[p] = os.path.getsize(p)
                except OSError:
                    pass
    return out


def bigpost(user, room):
    s = socket.create_connection((HOST, PORT), timeout=10, source_address=(ABUSER, 0))
    s.sendall((f"POST /api/chat/rooms/{room}/messages/ HTTP/1.1\r\nHost: chat\r\n"
               f"Authorization: Bearer {user['access']}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {BIG}\r\n\r\n").encode())
    chunk = b"x" * 65536
    sent, biggest, reply = 0, 0, b""
    s.setblocking(False)
    deadline = time.monotonic() + 20
    import select
    while sent < BIG and time.monotonic() < deadline:
        r, w, _ = select.select([s], [s], [], 1)
        if r:
            try:
                data = s.recv(65536)
            except OSError:
                break
            if not data:
                break
            reply += data
            if b"\r\n\r\n" in reply:
                break
        if w:
            try:
                sent += s.send(chunk)
            except BlockingIOError:
                pass
            except OSError:
                break
        if sent % (16 * 65536) == 0:
            biggest = max(biggest, sum(upload_files().values()))
    # the reply, if the server sent one before closing
    end = time.monotonic() + 5
    while b"\r\n\r\n" not in reply and time.monotonic() < end:
        r, _, _ = select.select([s], [], [], 0.5)
        if not r:
            continue
        try:
            data = s.recv(65536)
        except OSError:
            break
        if not data:
            break
        reply += data
    s.close()
    biggest = max(biggest, sum(upload_files().values()))
    status = reply.split(b"\r\n", 1)[0].decode(errors="replace")
    log(f"bigpost: {sent / 1048576:.1f} MiB of {BIG >> 20} MiB sent before the server "
        f"answered {status!r}; at most "
        f"{biggest / 1048576:.1f} MiB in request-body files on disk at once")
    if " 413 " not in status + " ":
        fail(f"bigpost: answer {status!r}, expected 413")
    if sent > 32 * 1048576:
        fail(f"bigpost: the server read {sent >> 20} MiB of a body it refuses")
    if biggest > 2 * 1048576:
        fail(f"bigpost: the server wrote {biggest >> 20} MiB of the body to disk")


async def main(phases):
    run = secrets.token_hex(3)
    normal_user = register(f"normal_{run}")
    abuser = register(f"abuser_{run}")
    s, room = request("POST", "/api/chat/rooms/", {"name": f"abuse {run}"},
                      token=normal_user["access"])
    if s != 201:
        raise SystemExit(f"FAIL: create room -> {s} {room}")
    rid = room["id"]
    log(f"abuse test against {SERVER} at {BASE}: {' '.join(phases)}")
    if "bigpost" in phases:
        bigpost(abuser, rid)
    if "slowloris" in phases:
        await slowloris(normal_user, rid)
    if "wsflood" in phases:
        await wsflood(abuser, normal_user, rid)
    # and the site is still there
    try:
        s, j = request("GET", "/api/chat/health/")
    except OSError as e:
        s, j = None, repr(e)
    if s != 200:
        fail(f"health after the abuse -> {s} {j}")


if __name__ == "__main__":
    phases = sys.argv[1:] or ["bigpost", "slowloris", "wsflood"]
    asyncio.run(main(phases))
    if failures:
        log(f"{len(failures)} failure(s)")
        sys.exit(1)
    log("PASS")
