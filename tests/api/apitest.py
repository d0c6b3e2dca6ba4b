"""Test library for chat-api: start the real server on a private Unix
socket against the harness's MariaDB, talk FastCGI to it like a web
server, and a tiny runner for test_* functions.

Environment (set by tests/api/lib.sh): top_builddir, top_srcdir,
CHAT_DATABASE_* (from the MariaDB harness), CHAT_AUTH_JWT_SECRET,
CHAT_TEST_DB_PID and CHAT_TEST_DB_DIR. CHAT_TEST_VALGRIND=1 runs chat-api under
valgrind (memory errors and definite leaks fail the test).
"""

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fcgi_client  # noqa: E402

BUILD = os.environ.get("top_builddir", ".")
SRC = os.environ.get("top_srcdir", ".")
CHAT_API = os.path.join(BUILD, "api", "chat-api")
CHATCTL = os.path.join(BUILD, "schema", "chatctl")

_names = itertools.count(1)


class Failure(AssertionError):
    pass


def check(cond, msg="check failed"):
    if not cond:
        raise Failure(msg)


def eq(got, want, what=""):
    if got != want:
        raise Failure("%s: got %r, want %r" % (what or "value", got, want))


class Response:
    def __init__(self, status, headers, body, stderr=b""):
        self.status = status
        self.headers = headers
        self.body = body
        self.stderr = stderr

    def header(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    @property
    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError as e:
            raise Failure("body is not JSON (%s): %r" % (e, self.body[:300]))

    def expect(self, status, what=""):
        if self.status != status:
            raise Failure("%sstatus %d, want %d; body %r" % (
                (what + ": ") if what else "", self.status, status, self.body[:400]))
        if self.body:
            ct = self.header("Content-Type") or ""
            check(ct == "application/json; charset=utf-8", "content type %r" % ct)
            cl = self.header("Content-Length")
            check(cl == str(len(self.body)), "Content-Length %r for %d bytes" % (cl, len(self.body)))
        return self

    def detail(self):
        return self.json.get("detail")

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:200])


def unique(prefix="u"):
    return "%s%d_%d" % (prefix, os.getpid(), next(_names))


class Server:
    """One chat-api process on a private Unix socket (or TCP)."""

    def __init__(self, *settings, listen=None, threads=2, env=None, socket_path=None):
        self.dir = tempfile.mkdtemp(prefix="chatapi.", dir="/tmp")
        self.listen = listen
        self.addr = listen if listen else (socket_path or os.path.join(self.dir, "api.sock"))
        self.log_path = os.path.join(self.dir, "chat-api.log")
        self.notify_dir = os.path.join(self.dir, "notify")
        os.mkdir(self.notify_dir)
        args = [CHAT_API, "--threads", str(threads),
                "--set", "notify.dir=" + self.notify_dir,
                "--set", "log.level=info"]
        if listen:
            args += ["--listen", "%s:%d" % listen]
        else:
            args += ["--socket", self.addr]
        for s in settings:
            args += ["--set", s]
        if os.environ.get("CHAT_TEST_VALGRIND"):
            # Memory errors and definite leaks fail the run (exit code 99).
            args = ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
                    "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite"] + args
        full_env = dict(os.environ)
        full_env.setdefault("CHAT_AUTH_LOGIN_RATE_LIMIT", "10000")
        if env:
            full_env.update(env)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=full_env)
        self._wait_ready()

    def _wait_ready(self):
        deadline = time.time() + (120 if os.environ.get("CHAT_TEST_VALGRIND") else 30)
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise Failure("chat-api exited with %d:\n%s" % (self.proc.returncode,
                                                                 self.log_text()))
            try:
                fcgi_client.request(self.addr, {"REQUEST_METHOD": "GET",
                                                "REQUEST_URI": "/api/chat/"}, timeout=2)
                return
            except (OSError, fcgi_client.ProtocolError):
                time.sleep(0.05)
        raise Failure("chat-api did not become ready:\n" + self.log_text())

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, expect_code=0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise Failure("chat-api did not stop on SIGTERM")
        self.log.close()
        text = self.log_text()
        for bad in ("AddressSanitizer", "runtime error:", "LeakSanitizer"):
            if bad in text:
                raise Failure("sanitizer report in chat-api's log:\n" + text)
        code = self.proc.returncode
        shutil.rmtree(self.dir, ignore_errors=True)
        if expect_code is not None and code != expect_code:
            raise Failure("chat-api exit code %d, want %d:\n%s" % (code, expect_code, text))
        return code

    # ---- requests ---------------------------------------------------------

    def request(self, method, path, json_body=None, token=None, body=None,
                content_type=None, headers=None, remote_addr="127.0.0.1", params=None):
        if json_body is not None:
            body = json.dumps(json_body).encode()
            if content_type is None:
                content_type = "application/json"
        if body is None:
            body = b""
        if isinstance(body, str):
            body = body.encode()
        path_only, _, query = path.partition("?")
        p = {
            "GATEWAY_INTERFACE": "CGI/1.1",
            "REQUEST_METHOD": method,
            "REQUEST_URI": path,
            "SCRIPT_NAME": "",
            "PATH_INFO": urllib.parse.unquote(path_only),
            "QUERY_STRING": query,
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_SCHEME": "http",
            "REMOTE_ADDR": remote_addr,
            "REMOTE_PORT": "40000",
            "HTTP_HOST": "localhost:8000",
        }
        if body or content_type:
            p["CONTENT_LENGTH"] = str(len(body))
        if content_type:
            p["CONTENT_TYPE"] = content_type
        if token:
            p["HTTP_AUTHORIZATION"] = "Bearer " + token
        for k, v in (headers or {}).items():
            p["HTTP_" + k.upper().replace("-", "_")] = v
        if params:
            p.update(params)
            p = {k: v for k, v in p.items() if v is not None}
        st, hd, bd, err = fcgi_client.request(self.addr, p, body)
        return Response(st, hd, bd, err)

    def get(self, path, token=None, **kw):
        return self.request("GET", path, token=token, **kw)

    def post(self, path, json_body=None, token=None, **kw):
        return self.request("POST", path, json_body=json_body, token=token, **kw)

    def patch(self, path, json_body=None, token=None, **kw):
        return self.request("PATCH", path, json_body=json_body, token=token, **kw)

    def delete(self, path, token=None, **kw):
        return self.request("DELETE", path, token=token, **kw)

    # ---- users ------------------------------------------------------------

    def register(self, username=None, password="correct horse 1"):
        username = username or unique()
        r = self.post("/api/auth/register/", {"username": username, "password": password})
        r.expect(201, "register " + username)
        return r.json["id"], username

    def login(self, username, password="correct horse 1"):
        r = self.post("/api/auth/token/", {"username": username, "password": password})
        r.expect(200, "login " + username)
        return r.json

    def user(self, username=None):
        """A new user: (id, username, access token)."""
        uid, name = self.register(username)
        return User(uid, name, self.login(name)["access"])

    def room(self, user, name=None, private=False, description=None):
        body = {"name": name or unique("room"), "is_private": private}
        if description is not None:
            body["description"] = description
        r = self.post("/api/chat/rooms/", body, token=user.token).expect(201, "create room")
        return r.json

    def send(self, user, room_id, content="hello", **extra):
        body = {"content": content}
        body.update(extra)
        r = self.post("/api/chat/rooms/%d/messages/" % room_id, body, token=user.token)
        return r.expect(201, "send message").json


class User:
    def __init__(self, uid, username, token):
        self.id = uid
        self.username = username
        self.token = token

    def __repr__(self):
        return "<User %d %s>" % (self.id, self.username)


def sql(query):
    """Run SQL on the test database; rows as lists of strings."""
    cli = shutil.which("mariadb") or shutil.which("mysql")
    out = subprocess.run([cli, "--no-defaults", "--socket=" + os.environ["CHAT_DATABASE_SOCKET"],
                          "-uroot", "-N", "-B", os.environ.get("CHAT_DATABASE_NAME", "chat_test"),
                          "-e", query], check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def run(tests, server_factory=None):
    """Run test functions in order; each gets the shared server (started
    once). Prints one line per test, exits 1 if any failed."""
    srv = server_factory() if server_factory else Server()
    failed = 0
    try:
        for t in tests:
            name = t.__name__
            try:
                t(srv)
                print("PASS: %s" % name, flush=True)
            except Exception:
                failed += 1
                print("FAIL: %s" % name, flush=True)
                traceback.print_exc()
                if srv.proc.poll() is not None:
                    print("chat-api died:\n" + srv.log_text())
                    break
    finally:
        try:
            srv.stop()
        except Failure as e:
            failed += 1
            print("FAIL: server shutdown: %s" % e)
    if failed:
        print("%d test(s) failed" % failed)
        sys.exit(1)


def tests_of(module_globals):
    return [v for k, v in sorted(module_globals.items(), key=lambda kv: _line(kv[1]))
            if k.startswith("test_") and callable(v)]


def _line(obj):
    try:
        return obj.__code__.co_firstlineno
    except AttributeError:
        return 0
