"""Helpers for the relay's integration tests (tests/relay/test_*.py).

Each test script starts its own private MariaDB (the same way as
tests/harness/mariadb.sh: a copy of a pristine data directory, a Unix
socket, no TCP), applies the schema with `chatctl migrate`, starts one or
more real `chat-relay` processes on free ports, and talks WebSocket to them
with Debian's python3-websockets (its asyncio API, websockets 8.1 to 15).

A script is a list of async checks run by `main()`; each check gets the
fixture, runs under its own time limit, and fails by raising. Every check
is run even when an earlier one fails; the script exits 1 if any failed,
and fails too when a relay's output holds a sanitizer report.

Only processes this module started are ever signalled, by PID.
"""

import os
import sys


def _ensure_websockets():
    """Re-run the script under the system Python when the python3 that make
    check found (e.g. a private pyenv one) lacks the websockets module."""
    import importlib.util
    if importlib.util.find_spec("websockets") is not None:
        return
    if not os.environ.get("CHAT_TEST_PY_REEXEC"):
        for cand in ("/usr/bin/python3", "/usr/local/bin/python3"):
            if os.access(cand, os.X_OK) and \
                    os.path.realpath(cand) != os.path.realpath(sys.executable):
                os.environ["CHAT_TEST_PY_REEXEC"] = "1"
                os.execv(cand, [cand] + sys.argv)
    print("SKIP: python3-websockets not installed "
          "(apt-get install python3-websockets)", file=sys.stderr)
    sys.exit(77)


_ensure_websockets()

import asyncio  # noqa: E402
import atexit  # noqa: E402
import base64  # noqa: E402
import fcntl  # noqa: E402
import hashlib  # noqa: E402
import hmac  # noqa: E402
import inspect  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

import websockets  # noqa: E402
import websockets.exceptions  # noqa: E402

# websockets 10+ bounds the opening handshake itself (open_timeout); 8.1
# (Debian 11) has no such argument: asyncio.wait_for bounds it there.
_WS_CONNECT_ARGS = inspect.signature(websockets.connect).parameters
WS_OPEN_TIMEOUT = "open_timeout" in _WS_CONNECT_ARGS
# Request headers: extra_headers up to websockets 13, additional_headers in
# the asyncio implementation of 14+ (Debian 13 has 15).
WS_HEADERS_ARG = "extra_headers" if "extra_headers" in _WS_CONNECT_ARGS else "additional_headers"

# websockets 8.1 (Debian 11) treats close codes 1012-1014, registered after
# it was written, as a protocol error and reports 1006 instead: let it see
# the relay's 1013 like later versions do.
try:
    from websockets import framing as _ws_framing
    for _code in (1012, 1013, 1014):
        if _code not in getattr(_ws_framing, "EXTERNAL_CLOSE_CODES", [_code]):
            _ws_framing.EXTERNAL_CLOSE_CODES.append(_code)
except ImportError:
    pass

SKIP = 77
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:",
                     "ERROR: LeakSanitizer: detected memory leaks")
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


def log(*args):
    print(*args, flush=True)


class TestFailure(AssertionError):
    pass


def check(cond, msg):
    """assert that survives python -O and says what the user would see."""
    if not cond:
        raise TestFailure(msg)


def eq(got, want, what):
    if got != want:
        raise TestFailure(f"{what}: expected {want!r}, got {got!r}")


# ---------------------------------------------------------------------------
# paths and processes

def _find(*names):
    for n in names:
        p = shutil.which(n)
        if p:
            return p
        for d in ("/usr/sbin", "/usr/bin", "/usr/libexec"):
            if os.access(os.path.join(d, n), os.X_OK):
                return os.path.join(d, n)
    return None


def _dirs():
    here = os.path.dirname(os.path.abspath(__file__))
    src = os.environ.get("top_srcdir") or os.path.dirname(os.path.dirname(here))
    build = os.environ.get("top_builddir") or src
    return os.path.abspath(src), os.path.abspath(build)


TOP_SRCDIR, TOP_BUILDDIR = _dirs()
_OWN_PROCS = []          # Popen objects we started, killed at exit


def _reap_all():
    for p in list(_OWN_PROCS):
        if p.poll() is None:
            try:
                p.kill()
                p.wait(5)
            except Exception:
                pass


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


atexit.register(_reap_all)
for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, _on_signal)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(pred, timeout, what, interval=0.05):
    """Poll pred() until true; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TestFailure(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


async def async_wait_until(pred, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TestFailure(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


# ---------------------------------------------------------------------------
# the private MariaDB server

class Database:
    """A private mariadbd on a copy of the shared template, as in
    tests/harness/mariadb.sh. kill()/start_server() keep the data
    directory and socket, for outage tests."""

    def __init__(self):
        self.mariadbd = os.environ.get("MARIADBD") or _find("mariadbd", "mysqld")
        self.install_db = os.environ.get("MARIADB_INSTALL_DB") or \
            _find("mariadb-install-db", "mysql_install_db")
        self.admin = _find("mariadb-admin", "mysqladmin")
        self.cli = _find("mariadb", "mysql")
        self.proc = None
        self.dir = None
        self.sockdir = None
        self.socket = None
        self.name = "chat_test"

    def available(self):
        return all((self.mariadbd, self.install_db, self.admin, self.cli))

    def _template(self, tmproot):
        template = os.path.join(tmproot, "db-template")
        with open(os.path.join(tmproot, ".template.lock"), "w") as lk:
            fcntl.flock(lk, fcntl.LOCK_EX)
            if not os.path.exists(os.path.join(template, ".ready")):
                shutil.rmtree(template, ignore_errors=True)
                cmd = [self.install_db, "--no-defaults", f"--datadir={template}",
                       f"--tmpdir={tmproot}",
                       "--auth-root-authentication-method=normal", "--skip-test-db",
                       "--force"]  # MariaDB 10.5 stops when the host name does not resolve
                if os.getuid() == 0:
                    cmd.insert(2, "--user=root")
                with open(os.path.join(tmproot, "install-db.log"), "w") as lf:
                    r = subprocess.run(cmd, stdout=lf, stderr=subprocess.STDOUT)
                if r.returncode != 0:
                    raise TestFailure("mariadb-install-db failed: " +
                                      open(os.path.join(tmproot, "install-db.log")).read())
                open(os.path.join(template, ".ready"), "w").close()
        return template

    def start(self):
        tmproot = os.path.join(TOP_BUILDDIR, "tests", "tmp")
        os.makedirs(tmproot, exist_ok=True)
        template = self._template(tmproot)
        self.dir = tempfile.mkdtemp(prefix="db.", dir=tmproot)
        subprocess.run(["cp", "-a", template + "/.", os.path.join(self.dir, "data")],
                       check=True)
        sock = os.path.join(self.dir, "mysqld.sock")
        if len(sock) > 100:
            self.sockdir = tempfile.mkdtemp(prefix="chatdb.")
            sock = os.path.join(self.sockdir, "mysqld.sock")
        self.socket = sock
        atexit.register(self.destroy)
        self.start_server()
        self.sql(f"CREATE DATABASE IF NOT EXISTS {self.name} CHARACTER SET utf8mb4 "
                 "COLLATE utf8mb4_unicode_ci", db="")

    def start_server(self, timeout=60):
        cmd = [self.mariadbd, "--no-defaults", f"--datadir={self.dir}/data",
               f"--socket={self.socket}", f"--pid-file={self.dir}/mysqld.pid",
               f"--log-error={self.dir}/error.log", "--skip-networking",
               f"--tmpdir={self.dir}",
               "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
               "--default-time-zone=+00:00", "--innodb-buffer-pool-size=64M",
               "--innodb-log-file-size=32M"]
        if os.getuid() == 0:
            cmd.insert(2, "--user=root")
        cmd += os.environ.get("CHAT_TEST_DB_OPTS", "").split()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        _OWN_PROCS.append(self.proc)
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self.proc.poll() is not None:
                raise TestFailure("mariadbd exited; its log:\n" + self.error_log())
            if time.monotonic() > deadline:
                raise TestFailure("mariadbd did not start:\n" + self.error_log())
            time.sleep(0.1)

    def error_log(self):
        try:
            return open(os.path.join(self.dir, "error.log"), errors="replace").read()[-4000:]
        except OSError:
            return ""

    def ping(self):
        r = subprocess.run([self.admin, "--no-defaults", f"--socket={self.socket}",
                            "-uroot", "ping"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        return r.returncode == 0

    def kill(self, sig=signal.SIGKILL, timeout=30):
        """Stop the server (SIGKILL = crash), keeping its data directory."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def destroy(self):
        self.kill(signal.SIGTERM)
        if self.dir and not os.environ.get("CHAT_TEST_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
            if self.sockdir:
                shutil.rmtree(self.sockdir, ignore_errors=True)
            self.dir = None

    def env(self):
        return {"CHAT_DATABASE_SOCKET": self.socket, "CHAT_DATABASE_USER": "root",
                "CHAT_DATABASE_PASSWORD": "", "CHAT_DATABASE_NAME": self.name,
                "CHAT_DATABASE_HOST": ""}

    def sql(self, query, db=None):
        """Run SQL as root; returns rows as lists of strings (NULL -> None)."""
        db = self.name if db is None else db
        cmd = [self.cli, "--no-defaults", f"--socket={self.socket}", "-uroot", "-N", "-B",
               "--default-character-set=utf8mb4"]
        if db:
            cmd.append(db)
        cmd += ["-e", query]
        r = subprocess.run(cmd, capture_output=True)
        if r.returncode != 0:
            raise TestFailure(f"SQL failed: {query}\n{r.stderr.decode(errors='replace')}")
        rows = []
        for line in r.stdout.decode("utf-8").split("\n"):
            if line == "":
                continue
            rows.append([None if c == "NULL" else _unescape(c) for c in line.split("\t")])
        return rows

    def scalar(self, query):
        rows = self.sql(query)
        return rows[0][0] if rows else None


def _unescape(s):
    if "\\" not in s:
        return s
    out, i = [], 0
    m = {"n": "\n", "t": "\t", "\\": "\\", "0": "\0"}
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            out.append(m.get(s[i + 1], s[i + 1]))
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def sql_str(s):
    """A SQL string literal (for test-controlled values only)."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


# ---------------------------------------------------------------------------
# JWT, built by hand (HS256 as Django SimpleJWT issues it)

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_jwt(payload, secret, alg="HS256", header=None):
    h = {"alg": alg, "typ": "JWT"} if header is None else header
    signing = (b64url(json.dumps(h, separators=(",", ":")).encode()) + "." +
               b64url(json.dumps(payload, separators=(",", ":")).encode()))
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384,
              "HS512": hashlib.sha512}.get(alg)
    sig = b""
    if digest is not None:
        key = secret.encode() if isinstance(secret, str) else secret
        sig = hmac.new(key, signing.encode(), digest).digest()
    return signing + "." + b64url(sig)


def simplejwt_claims(user_id, lifetime=300, token_type="access", now=None):
    """The claims djangorestframework-simplejwt puts in an access token."""
    now = int(time.time()) if now is None else now
    return {"token_type": token_type, "exp": now + lifetime, "iat": now,
            "jti": uuid.uuid4().hex, "user_id": user_id}


# ---------------------------------------------------------------------------
# the relay process

class Relay:
    def __init__(self, fx, env=None, port=None, name="relay"):
        self.fx = fx
        self.extra_env = dict(env or {})
        self.port = port or free_port()
        self.name = name
        self.proc = None
        self.logpath = os.path.join(fx.tmp, f"{name}.{self.port}.log")
        self.binary = os.path.join(TOP_BUILDDIR, "relay", "chat-relay")

    def env(self):
        e = dict(os.environ)
        e.update(self.fx.db.env())
        e.update({"CHAT_AUTH_JWT_SECRET": self.fx.secret,
                  "CHAT_NOTIFY_DIR": self.fx.notify_dir,
                  "CHAT_RELAY_LISTEN": "127.0.0.1",
                  "CHAT_RELAY_PORT": str(self.port)})
        e.update({k: str(v) for k, v in self.extra_env.items()})
        return e

    def start(self, timeout=30):
        check(os.access(self.binary, os.X_OK), f"{self.binary} not built")
        self.logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen([self.binary], env=self.env(), stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        _OWN_PROCS.append(self.proc)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise TestFailure(f"chat-relay exited with {self.proc.returncode} at start; "
                                  f"its output:\n{self.output()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TestFailure(f"chat-relay not listening after {timeout}s:\n"
                                  f"{self.output()[-3000:]}")
            time.sleep(0.05)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Signal the relay and wait; returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise TestFailure(f"chat-relay did not exit within {timeout}s of signal {sig}")
        return self.proc.returncode

    def output(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def sanitizer_report(self):
        out = self.output()
        for m in SANITIZER_MARKERS:
            i = out.find(m)
            if i >= 0:
                return out[max(0, i - 200):i + 3000]
        return None

    def url(self, room, token=None, last_id=None, slash=True, query=None):
        u = f"ws://127.0.0.1:{self.port}/ws/chat/{room}" + ("/" if slash else "")
        q = []
        if token is not None:
            q.append(f"token={token}")
        if last_id is not None:
            q.append(f"last_id={last_id}")
        if query:
            q.append(query)
        return u + ("?" + "&".join(q) if q else "")

    async def connect(self, room, user=None, last_id=None, slash=True, token=None,
                      expect_ok=True, **kw):
        """Open a client to room as user (its token), or with an explicit
        token. With expect_ok, wait for connection_established."""
        if token is None and user is not None:
            token = user.token
        c = await Client.open(self.url(room, token, last_id, slash), self.fx, **kw)
        if expect_ok:
            c.hello = await c.next("connection_established", timeout=10)
        return c


def _tcp_inode(local_port, remote_port):
    """The socket inode of the TCP connection local_port -> remote_port on
    this host (IPv4 or IPv6 tables), or None."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    lp = int(parts[1].rsplit(":", 1)[1], 16)
                    rp = int(parts[2].rsplit(":", 1)[1], 16)
                    if lp == local_port and rp == remote_port:
                        return parts[9]
        except OSError:
            continue
    return None


def peer_socket_option(pid, local_port, remote_port, level, option):
    """getsockopt() on process pid's end of the TCP connection local_port ->
    remote_port, through a copy of its descriptor (pidfd_getfd, Linux 5.6,
    same user or root). None when the kernel cannot do that."""
    import ctypes
    import socket as _socket
    if not hasattr(os, "pidfd_open"):  # Python < 3.9
        return None
    inode = _tcp_inode(local_port, remote_port)
    if inode is None:
        return None
    target = None
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                target = int(fd)
                break
        except OSError:
            continue
    if target is None:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return None
    try:
        copy = libc.syscall(438, pidfd, target, 0)  # SYS_pidfd_getfd
        if copy < 0:
            return None
        with _socket.socket(fileno=copy) as s:
            return s.getsockopt(level, option)
    finally:
        os.close(pidfd)


# ---------------------------------------------------------------------------
# WebSocket client with a mailbox

class Client:
    """A websockets connection whose frames are read by a background task
    into a mailbox; next() takes the first frame matching a type/predicate,
    leaving the others for later. Every frame is checked to be a JSON
    object with a string "type"."""

    _ids = itertools.count(1)

    def __init__(self, ws, fx, url):
        self.ws = ws
        self.fx = fx
        self.url = url
        self.n = next(Client._ids)
        self.pending = []
        self.history = []
        self.bad = []
        self.close_code = None
        self.closed = False
        self._changed = asyncio.Event()
        self._task = asyncio.ensure_future(self._reader())
        self.hello = None

    @classmethod
    async def open(cls, url, fx=None, origin=None, open_timeout=10, **kw):
        kw.setdefault("max_size", None)
        kw.setdefault("ping_interval", None)
        kw.setdefault("close_timeout", 2)
        if WS_OPEN_TIMEOUT:
            kw["open_timeout"] = open_timeout
        if "extra_headers" in kw:
            kw[WS_HEADERS_ARG] = kw.pop("extra_headers")
        ws = await asyncio.wait_for(websockets.connect(url, origin=origin, **kw),
                                    open_timeout + 2)
        c = cls(ws, fx, url)
        if fx is not None:
            fx.clients.append(c)
        return c

    async def _reader(self):
        try:
            async for raw in self.ws:
                t = time.monotonic()
                if isinstance(raw, bytes):
                    self.bad.append(f"binary frame {raw[:60]!r}")
                    continue
                try:
                    obj = json.loads(raw)
                except ValueError:
                    self.bad.append(f"not JSON: {raw[:200]!r}")
                    continue
                if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
                    self.bad.append(f"not an object with a string type: {raw[:200]!r}")
                    continue
                obj["_t"] = t
                self.pending.append(obj)
                self.history.append(obj)
                self._changed.set()
        except websockets.exceptions.ConnectionClosed:
            pass
        except Exception as e:  # noqa: BLE001 - record, the test decides
            self.bad.append(f"reader error: {e!r}")
        finally:
            try:
                await asyncio.wait_for(self.ws.wait_closed(), 5)
            except Exception:
                pass
            self.close_code = self.ws.close_code
            self.closed = True
            self._changed.set()

    def _check_bad(self):
        if self.bad:
            raise TestFailure(f"client {self.n} received malformed frames: {self.bad[:3]}")

    @staticmethod
    def _matches(f, types, where):
        if types is not None:
            if isinstance(types, str):
                if f["type"] != types:
                    return False
            elif f["type"] not in types:
                return False
        return where is None or where(f)

    def take(self, types=None, where=None):
        """Remove and return every pending frame matching (no waiting)."""
        out = [f for f in self.pending if self._matches(f, types, where)]
        self.pending = [f for f in self.pending if not self._matches(f, types, where)]
        return out

    async def next(self, types=None, timeout=5, where=None):
        """The first frame of the given type(s) matching where(frame)."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_bad()
            for i, f in enumerate(self.pending):
                if self._matches(f, types, where):
                    return self.pending.pop(i)
            if self.closed:
                raise TestFailure(
                    f"client {self.n}: connection closed (code {self.close_code}) while "
                    f"waiting for {types or 'a frame'}; unconsumed: {_brief(self.pending)}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure(
                    f"client {self.n}: no {types or 'frame'} frame"
                    f"{' matching' if where else ''} within {timeout}s; "
                    f"unconsumed: {_brief(self.pending)}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def messages(self, n, timeout=30, where=None):
        """The next n chat_message frames' message objects, in arrival order."""
        deadline = time.monotonic() + timeout
        out = []
        while len(out) < n:
            left = deadline - time.monotonic()
            try:
                f = await self.next("chat_message", max(left, 0.01), where)
            except TestFailure as e:
                raise TestFailure(f"client {self.n}: got {len(out)} of {n} messages: {e}")
            out.append(f["message"])
        return out

    async def quiet(self, seconds, types=None, where=None, what=None):
        """Fail if a frame of the type(s) arrives (or is pending) within seconds."""
        deadline = time.monotonic() + seconds
        while True:
            self._check_bad()
            hits = [f for f in self.pending if self._matches(f, types, where)]
            if hits:
                raise TestFailure(f"client {self.n}: unexpected {what or types or 'frame'}: "
                                  f"{_brief(hits)}")
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def closed_with(self, timeout=10):
        """Wait for the connection to close; returns the close code."""
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except asyncio.TimeoutError:
            raise TestFailure(f"client {self.n}: connection not closed within {timeout}s; "
                              f"frames: {_brief(self.pending)}")
        return self.close_code

    async def send(self, obj):
        await self.ws.send(json.dumps(obj, ensure_ascii=False))

    async def send_text(self, text):
        await self.ws.send(text)

    async def chat(self, content, timeout=10, **fields):
        """Send a chat_message and return its echo (the stored message)."""
        await self.send(dict({"type": "chat_message", "content": content}, **fields))
        f = await self.next("chat_message", timeout,
                            where=lambda f: f["message"].get("content") == content)
        return f["message"]

    async def error(self, timeout=5):
        """The next error frame, checked for its shape."""
        f = await self.next("error", timeout)
        check(isinstance(f.get("message"), str) and f["message"],
              f"error frame without a message text: {f}")
        check(isinstance(f.get("code"), str) and f["code"],
              f"error frame without a code: {f}")
        return f

    async def usable(self, timeout=10):
        """Prove the connection still works: a message round trip."""
        content = "still-usable " + uuid.uuid4().hex
        m = await self.chat(content, timeout)
        eq(m["content"], content, "echoed content")
        return m

    async def close(self):
        try:
            await asyncio.wait_for(self.ws.close(), 5)
        except Exception:
            pass
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 5)
        except Exception:
            pass


def _brief(frames, n=5):
    out = []
    for f in frames[:n]:
        g = {k: v for k, v in f.items() if k != "_t"}
        s = json.dumps(g, ensure_ascii=False)
        out.append(s if len(s) < 300 else s[:300] + "...")
    if len(frames) > n:
        out.append(f"... {len(frames) - n} more")
    return out


async def expect_refused(relay, room, token, code, slash=True, what="", url=None):
    """Open a connection that must be refused: an error frame, then close
    with `code`. Returns the error frame."""
    url = url or relay.url(room, token, slash=slash)
    c = await Client.open(url, relay.fx)
    try:
        # fail fast when the connection is accepted
        await async_wait_until(lambda: c.closed or any(
            f["type"] == "connection_established" for f in c.history), 10,
            f"{what}: close {code}")
        check(c.closed, f"{what}: connection was accepted ({_brief(c.history)})")
        got_code = c.close_code
    finally:
        await c.close()
    c._check_bad()
    types = [f["type"] for f in c.history]
    check("connection_established" not in types,
          f"{what}: connection was accepted ({_brief(c.history)})")
    eq(got_code, code, f"{what}: close code")
    errs = [f for f in c.history if f["type"] == "error"]
    check(len(errs) == 1, f"{what}: expected one error frame before close {code}, "
                          f"got {_brief(c.history)}")
    check(isinstance(errs[0].get("message"), str) and errs[0]["message"],
          f"{what}: error frame without message: {errs[0]}")
    return errs[0]


# ---------------------------------------------------------------------------
# message shape

def parse_ts(ts):
    check(isinstance(ts, str) and ISO_Z.match(ts),
          f"timestamp {ts!r} is not ISO 8601 UTC ending in Z")
    base, _, frac = ts[:-1].partition(".")
    dt = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return dt.timestamp() + (float("0." + frac) if frac else 0.0)


def check_message(m, content=None, message_type="text", sender=None, client_id=None):
    """The message object of a chat_message frame, as the contract shows it."""
    check(isinstance(m, dict), f"message is not an object: {m!r}")
    for k in ("id", "content", "message_type", "timestamp", "sender"):
        check(k in m, f"message lacks {k!r}: {m}")
    check(isinstance(m["id"], int) and not isinstance(m["id"], bool) and m["id"] > 0,
          f"message.id is not a positive integer: {m['id']!r}")
    check(m["id"] < 10 ** 12, f"message.id {m['id']} looks like a timestamp, not a row id")
    check(isinstance(m["content"], str), f"message.content not a string: {m}")
    ts = parse_ts(m["timestamp"])
    check(abs(ts - time.time()) < 600, f"timestamp {m['timestamp']} far from now")
    s = m["sender"]
    check(isinstance(s, dict) and isinstance(s.get("id"), int) and
          isinstance(s.get("username"), str), f"message.sender malformed: {s!r}")
    if content is not None:
        eq(m["content"], content, "message.content")
    if message_type is not None:
        eq(m["message_type"], message_type, "message.message_type")
    if sender is not None:
        eq({"id": s["id"], "username": s["username"]}, sender.ref(), "message.sender")
    if client_id is not None:
        eq(m.get("client_id"), client_id, "message.client_id")


# ---------------------------------------------------------------------------
# raw WebSocket (for bytes the client library will not send, and for a
# reader that stops reading)

def masked_frame(opcode, payload, fin=True):
    """One client frame (RFC 6455 5.2), masked, as bytes."""
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        hdr = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, 0x80 | 127, n)
    mask = os.urandom(4)
    return hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class RawWs:
    def __init__(self, port, path, rcvbuf=None, timeout=10, origin=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\n")
        if origin:
            req += f"Origin: {origin}\r\n"
        self.sock.sendall((req + "\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise TestFailure(f"raw handshake: connection closed after {buf!r}")
            buf += chunk
        head, _, self.buf = buf.partition(b"\r\n\r\n")
        status = head.split(b"\r\n")[0]
        check(b" 101 " in status + b" ", f"raw handshake refused: {status!r}")

    def send_frame(self, opcode, payload, fin=True):
        self.sock.sendall(masked_frame(opcode, payload, fin))

    def send_text_bytes(self, data):
        self.send_frame(0x1, data)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise TestFailure("raw connection closed by the relay")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self, timeout=5):
        """(opcode, payload) of the next frame; answers pings."""
        self.sock.settimeout(timeout)
        while True:
            b0, b1 = self._need(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._need(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._need(8))[0]
            payload = self._need(n)
            op = b0 & 0x0F
            if op == 0x9:
                self.send_frame(0xA, payload)
                continue
            return op, payload

    def recv_json(self, types=None, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure(f"raw: no {types} frame within {timeout}s")
            op, payload = self.recv_frame(left)
            if op == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise TestFailure(f"raw: closed with {code} while waiting for {types}")
            if op != 0x1:
                continue
            f = json.loads(payload.decode("utf-8"))
            if types is None or f.get("type") in ((types,) if isinstance(types, str) else types):
                return f

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------
# users, rooms, the fixture

class User:
    def __init__(self, uid, name, token):
        self.id = uid
        self.name = name
        self.token = token

    def ref(self):
        return {"id": self.id, "username": self.name}

    def __repr__(self):
        return f"User({self.id}, {self.name!r})"


class Fixture:
    def __init__(self):
        tmproot = os.path.join(TOP_BUILDDIR, "tests", "tmp")
        os.makedirs(tmproot, exist_ok=True)
        self.tmp = tempfile.mkdtemp(prefix="relay-test.", dir=tmproot)
        self.notify_dir = tempfile.mkdtemp(prefix="chatnotify.")
        atexit.register(self._cleanup)
        self.secret = secrets.token_hex(24)
        self.db = Database()
        self.relays = []
        self.clients = []
        self.chatctl_bin = os.path.join(TOP_BUILDDIR, "schema", "chatctl")
        self._n = itertools.count(1)

    def _cleanup(self):
        if not os.environ.get("CHAT_TEST_KEEP"):
            shutil.rmtree(self.notify_dir, ignore_errors=True)
            shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self):
        if not self.db.available():
            log("SKIP: mariadbd / mariadb-install-db not found")
            sys.exit(SKIP)
        check(os.access(self.chatctl_bin, os.X_OK), f"{self.chatctl_bin} not built")
        self.db.start()
        self.chatctl("migrate", "--schema-dir", os.path.join(TOP_SRCDIR, "schema"))

    def env(self):
        e = dict(os.environ)
        e.update(self.db.env())
        e["CHAT_AUTH_JWT_SECRET"] = self.secret
        e["CHAT_NOTIFY_DIR"] = self.notify_dir
        return e

    def chatctl(self, *args, stdin=None):
        r = subprocess.run([self.chatctl_bin, *args], env=self.env(), capture_output=True,
                           input=stdin.encode() if stdin is not None else None, timeout=60)
        if r.returncode != 0:
            raise TestFailure(f"chatctl {' '.join(args)} failed ({r.returncode}): "
                              f"{r.stderr.decode(errors='replace')}")
        return r.stdout.decode()

    def relay(self, start=True, **env):
        r = Relay(self, env, name=f"relay{len(self.relays) + 1}")
        self.relays.append(r)
        if start:
            r.start()
        return r

    def unique(self, prefix):
        return f"{prefix}{next(self._n)}"

    def token(self, user_id, **claims):
        c = simplejwt_claims(user_id)
        c.update(claims)
        return make_jwt(c, self.secret)

    def user(self, prefix="user"):
        """A new active user with a SimpleJWT-shaped access token."""
        name = self.unique(prefix)
        self.chatctl("add-user", name, "--no-password")
        uid = int(self.db.scalar(f"SELECT id FROM users WHERE username = {sql_str(name)}"))
        return User(uid, name, self.token(uid))

    def mint(self, user, refresh=False):
        """A token issued by chatctl mint-token."""
        out = self.chatctl("mint-token", user.name, *(["--refresh"] if refresh else []))
        lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
        check(lines, "chatctl mint-token printed nothing")
        return lines[-1]

    def room(self, owner, private=False):
        name = self.unique("room")
        self.chatctl("create-room", name, *(["--private"] if private else []),
                     "--owner", owner.name)
        rid = self.db.scalar(f"SELECT MAX(id) FROM rooms WHERE name = {sql_str(name)}")
        check(rid is not None, f"room {name} not found after chatctl create-room")
        return int(rid)

    def add_member(self, room, user):
        self.chatctl("add-member", str(room), user.name)

    def insert_message(self, room, sender, content, message_type="text"):
        """Store a message by plain SQL (an external writer); returns its id."""
        rows = self.db.sql(
            "INSERT INTO messages (room_id, sender_id, content, message_type) VALUES "
            f"({int(room)}, {int(sender.id)}, {sql_str(content)}, {sql_str(message_type)}); "
            "SELECT LAST_INSERT_ID()")
        return int(rows[-1][0])

    def room_messages(self, room):
        """(id, sender_id, content, message_type, client_id) of the room, by id."""
        return [(int(r[0]), int(r[1]), r[2], r[3], r[4]) for r in self.db.sql(
            "SELECT id, sender_id, content, message_type, client_id FROM messages "
            f"WHERE room_id = {int(room)} ORDER BY id")]

    async def close_clients(self):
        cs, self.clients = self.clients, []
        await asyncio.gather(*(c.close() for c in cs), return_exceptions=True)


def timeout(seconds):
    """Decorator: the time limit of one check (default 60 s)."""
    def deco(fn):
        fn.timeout = seconds
        return fn
    return deco


def main(checks, setup=None):
    """Start the database, run setup(fx) (e.g. start relays), run every
    check, stop the relays, and exit 0 only if every check passed and no
    sanitizer report appeared."""
    fx = Fixture()
    failed = []
    try:
        fx.start()
        if setup:
            setup(fx)
    except TestFailure as e:
        log(f"FAIL setup: {e}")
        sys.exit(1)

    for fn in checks:
        limit = getattr(fn, "timeout", 60)
        t0 = time.monotonic()

        async def run_one():
            try:
                await asyncio.wait_for(fn(fx), limit)
            finally:
                await fx.close_clients()
        try:
            asyncio.run(run_one())
            rep = [r.sanitizer_report() for r in fx.relays]
            rep = [x for x in rep if x]
            if rep:
                raise TestFailure("sanitizer report in relay output:\n" + rep[0])
            log(f"PASS {fn.__name__} ({time.monotonic() - t0:.1f}s)")
        except asyncio.TimeoutError:
            failed.append(fn.__name__)
            log(f"FAIL {fn.__name__}: time limit {limit}s exceeded")
        except Exception as e:  # noqa: BLE001
            failed.append(fn.__name__)
            log(f"FAIL {fn.__name__}: {e}")
            if not isinstance(e, TestFailure):
                traceback.print_exc(file=sys.stdout)

    for r in fx.relays:
        if r.alive():
            try:
                code = r.stop()
                if code != 0:
                    log(f"FAIL {r.name} exited with {code} on SIGTERM")
                    failed.append(f"{r.name}-exit")
            except TestFailure as e:
                log(f"FAIL {r.name}: {e}")
                failed.append(f"{r.name}-exit")
        rep = r.sanitizer_report()
        if rep:
            log(f"FAIL sanitizer report in {r.name} output:\n{rep}")
            failed.append(f"{r.name}-sanitizer")
    if failed:
        for r in fx.relays:
            log(f"---- {r.name} (port {r.port}) output, last 60 lines ----")
            log("\n".join(r.output().splitlines()[-60:]))
        log(f"{len(failed)} failed: {', '.join(failed)}")
        sys.exit(1)
    log("all passed")
    sys.exit(0)
