#!/usr/bin/env python3
"""The whole chat stack behind a real web server, for the end-to-end tests.

    stack.py --server lighttpd|apache-proxy-fcgi|apache-fcgid|nginx
             [--exec CMD ARG...]

The MariaDB server is already running (tests/harness/mariadb.sh exported
CHAT_DATABASE_SOCKET and CHAT_DATABASE_NAME, the schema is applied). This
script starts, from the build tree and on free ports of 127.0.0.1:

  * chat-relay;
  * the web server, configured from the shipped templates in deploy/
    (rendered by deploy/render with this stack's paths), serving the web
    client at /, the API at /api/ and proxying /ws/ to the relay:
      lighttpd            mod_fastcgi spawns chat-api (bin-path)
      apache-proxy-fcgi   mod_proxy_fcgi to a standalone chat-api on a Unix socket
      apache-fcgid        mod_fcgid spawns chat-api
      nginx               fastcgi_pass to a standalone chat-api
  * then either the API + WebSocket checks below, or --exec CMD with the
    stack's addresses in the environment (E2E_BASE_URL, E2E_RELAY_URL,
    E2E_ARTIFACTS), returning CMD's exit status.

Exit 0 when everything passed, 1 on a failure, 77 when the web server is
not installed. Only processes started here are signalled, by PID.
"""

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import websockets
import websockets.exceptions

SKIP = 77
TOP_SRC = os.environ["top_srcdir"]
TOP_BUILD = os.environ["top_builddir"]
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:",
                     "ERROR: LeakSanitizer")
APACHE_MODULES = "/usr/lib/apache2/modules"
# What the protocol document's examples connect to; the tests replace
# exactly these two strings and nothing else.
SEED_URL = "ws://localhost:8000/ws/chat/2/"
SEED_TOKEN = "your_jwt_token_here"


def log(*args):
    print(*args, flush=True)


class Failure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find(*names):
    for n in names:
        p = shutil.which(n)
        if p:
            return p
        for d in ("/usr/sbin", "/usr/bin", "/usr/local/sbin"):
            if os.access(os.path.join(d, n), os.X_OK):
                return os.path.join(d, n)
    return None


def wait_until(desc, fn, timeout=30.0, proc=None, logfile=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if fn():
                return
        except Exception:
            pass
        if proc is not None and proc.poll() is not None:
            tail = read_tail(logfile) if logfile else ""
            raise Failure(f"{desc}: process exited with {proc.returncode}\n{tail}")
        time.sleep(0.1)
    tail = read_tail(logfile) if logfile else ""
    raise Failure(f"{desc}: not ready after {timeout:.0f} s\n{tail}")


def read_tail(path, n=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def tcp_open(port):
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def render(template, **values):
    args = ["sh", os.path.join(TOP_SRC, "deploy", "render"),
            os.path.join(TOP_SRC, "deploy", template)]
    args += [f"{k}={v}" for k, v in values.items()]
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def http(base, method, path, body=None, token=None, raw=None, headers=None):
    """One HTTP request; returns (status, headers, parsed JSON or text)."""
    hdrs = {"Accept": "application/json"}
    data = None
    if raw is not None:
        data = raw
        hdrs["Content-Type"] = "application/json"
    elif body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if token:
        hdrs["Authorization"] = "Bearer " + token
    hdrs.update(headers or {})
    req = urllib.request.Request(base + path, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            status, rh, text = r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        status, rh, text = e.code, e.headers, e.read().decode(errors="replace")
    ctype = rh.get("Content-Type", "")
    if "json" in ctype and text:
        try:
            return status, rh, json.loads(text)
        except ValueError:
            pass
    return status, rh, text


class Stack:
    """The relay, chat-api and a web server for one test run."""

    def __init__(self, server, overrides=()):
        self.server = server
        self.overrides = list(overrides)
        self.procs = []          # (name, Popen, logfile)
        # Everything of this stack lives in one temporary directory outside
        # the build tree: Unix socket paths must stay short (108 bytes), and
        # Apache's and nginx's children (www-data when run as root) must be
        # able to enter it whatever the permissions above the build tree.
        self.dir = tempfile.mkdtemp(prefix=f"chate2e-{server}.")
        os.chmod(self.dir, 0o755)
        self.sockdir = self.dir
        self.www = os.path.join(self.dir, "www")
        shutil.copytree(os.path.join(TOP_SRC, "deploy", "www"), self.www)
        self.http_port = free_port()
        self.relay_port = free_port()
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.ws_proxy = f"ws://127.0.0.1:{self.http_port}"
        self.ws_relay = f"ws://127.0.0.1:{self.relay_port}"
        self.api_bin = os.path.join(TOP_BUILD, "api", "chat-api")
        self.relay_bin = os.path.join(TOP_BUILD, "relay", "chat-relay")
        self.conf = os.path.join(self.dir, "chat.conf")
        self.secret = secrets.token_hex(32)
        self.write_conf()

    def write_conf(self):
        notify = os.path.join(self.sockdir, "notify")
        os.makedirs(notify, mode=0o777, exist_ok=True)
        os.chmod(notify, 0o777)
        with open(self.conf, "w") as f:
            f.write(f"""# end-to-end test stack ({self.server})
[database]
socket = {os.environ['CHAT_DATABASE_SOCKET']}
user = {os.environ.get('CHAT_DATABASE_USER', 'root')}
name = {os.environ['CHAT_DATABASE_NAME']}

[auth]
jwt_secret = {self.secret}
login_rate_limit = 0
password_ops_limit = 1
password_mem_kib = 8

[relay]
listen = 127.0.0.1
port = {self.relay_port}

[api]
threads = 4

[notify]
dir = {notify}

[log]
level = info
""")
        os.chmod(self.conf, 0o644)
        if self.overrides:
            self.merge_conf(self.overrides)

    def merge_conf(self, assignments):
        """Apply section.key=value assignments to chat.conf (one key once)."""
        sections, order, cur = {}, [], None
        with open(self.conf) as f:
            for line in f:
                line = line.strip()
                if line.startswith("["):
                    cur = line[1:-1]
                    sections.setdefault(cur, {})
                    order.append(cur)
                elif "=" in line and not line.startswith("#") and cur:
                    k, v = line.split("=", 1)
                    sections[cur][k.strip()] = v.strip()
        for a in assignments:
            key, value = a.split("=", 1)
            sec, k = key.split(".", 1)
            if sec not in sections:
                sections[sec] = {}
                order.append(sec)
            sections[sec][k] = value
        with open(self.conf, "w") as f:
            for sec in order:
                f.write(f"[{sec}]\n")
                for k, v in sections[sec].items():
                    f.write(f"{k} = {v}\n")
                f.write("\n")

    # -- processes ---------------------------------------------------------

    def spawn(self, name, argv, env=None):
        logfile = os.path.join(self.dir, name + ".log")
        out = open(logfile, "ab")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.STDOUT, env=env)
        out.close()
        self.procs.append((name, p, logfile))
        return p, logfile

    def stop(self):
        for name, p, _ in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p, _ in reversed(self.procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def sanitizer_reports(self):
        found = []
        for name, _, logfile in self.procs:
            text = read_tail(logfile, 100000)
            for m in SANITIZER_MARKERS:
                if m in text:
                    found.append(f"{name}: {m} (see {logfile})")
        return found

    def dump_logs(self):
        for name, _, logfile in self.procs:
            log(f"---- {name} ({logfile}), last lines ----")
            log(read_tail(logfile, 30))

    # -- parts -------------------------------------------------------------

    def start_relay(self):
        p, lf = self.spawn("relay", [self.relay_bin, "-c", self.conf])
        wait_until("chat-relay", lambda: tcp_open(self.relay_port), proc=p, logfile=lf)

    # These two run as signal handlers, and one may interrupt the other:
    # each works on a snapshot of the process list and waits for the old
    # relay to be gone before a new one binds the port.
    def stop_relay(self):
        for name, p, _ in list(self.procs):
            if name.startswith("relay") and p.poll() is None:
                p.terminate()
        for name, p, _ in list(self.procs):
            if name.startswith("relay"):
                p.wait(timeout=20)

    def restart_relay(self):
        self.stop_relay()
        n = sum(1 for name, _, _ in self.procs if name.startswith("relay"))
        p, lf = self.spawn(f"relay{n + 1}", [self.relay_bin, "-c", self.conf])
        wait_until("chat-relay (restarted)", lambda: tcp_open(self.relay_port),
                   proc=p, logfile=lf)

    def start_api_standalone(self):
        sock = os.path.join(self.sockdir, "api.sock")
        p, lf = self.spawn("chat-api", [self.api_bin, "-c", self.conf, "--socket", sock])
        wait_until("chat-api socket", lambda: os.path.exists(sock), proc=p, logfile=lf)
        # The web server's children may run as another user.
        os.chmod(sock, 0o666)

    def start_web(self):
        getattr(self, "start_" + self.server.replace("-", "_"))()
        wait_until(f"{self.server}: GET /api/chat/health/",
                   lambda: http(self.base, "GET", "/api/chat/health/")[0] == 200,
                   timeout=40, proc=self.procs[-1][1], logfile=self.procs[-1][2])

    def start_lighttpd(self):
        lighttpd = find("lighttpd")
        if not lighttpd:
            sys.exit(SKIP)
        site = os.path.join(self.dir, "lighttpd-chat.conf")
        with open(site, "w") as f:
            f.write(render("lighttpd/chat.conf.in",
                           HTTP_LISTEN=f"127.0.0.1:{self.http_port}",
                           WWW_DIR=self.www, CHAT_API=self.api_bin,
                           CHAT_CONF=self.conf, LIGHTTPD_SOCKET_DIR=self.sockdir,
                           RELAY_HOST="127.0.0.1", RELAY_PORT=self.relay_port))
        main = os.path.join(self.dir, "lighttpd.conf")
        with open(main, "w") as f:
            f.write(f"""server.modules = ( "mod_indexfile", "mod_staticfile" )
server.bind = "127.0.0.1"
server.port = {self.http_port}
server.document-root = "{self.www}"
server.pid-file = "{self.dir}/lighttpd.pid"
server.errorlog = "{self.dir}/lighttpd-error.log"
server.upload-dirs = ( "{self.dir}" )
mimetype.assign = ( ".html" => "text/html; charset=utf-8",
                    ".js" => "text/javascript; charset=utf-8",
                    ".css" => "text/css; charset=utf-8",
                    ".png" => "image/png",
                    ".svg" => "image/svg+xml" )
include "{site}"
""")
        subprocess.run([lighttpd, "-tt", "-f", main], check=True)
        self.spawn("lighttpd", [lighttpd, "-D", "-f", main])
        # chat-api's own stderr ends up in lighttpd's error log.
        self.procs.append(("lighttpd-error", self.procs[-1][1],
                           os.path.join(self.dir, "lighttpd-error.log")))
        self.procs[-1], self.procs[-2] = self.procs[-2], self.procs[-1]

    def apache_conf(self, site_template, extra=""):
        apache = find("apache2", "httpd")
        if not apache or not os.path.isdir(APACHE_MODULES):
            sys.exit(SKIP)
        mods = ["mpm_event", "authz_core", "mime", "dir", "alias", "proxy",
                "proxy_http", "proxy_wstunnel", "reqtimeout"]
        if self.server == "apache-proxy-fcgi":
            mods.append("proxy_fcgi")
        else:
            mods.append("fcgid")
        for m in mods:
            if not os.path.exists(f"{APACHE_MODULES}/mod_{m}.so"):
                log(f"SKIP: Apache module mod_{m} is not installed")
                sys.exit(SKIP)
        loads = "".join(f"LoadModule {m}_module {APACHE_MODULES}/mod_{m}.so\n" for m in mods)
        user = ""
        if os.geteuid() == 0:
            # Apache refuses to serve as root; its children take this user.
            import pwd
            for u in ("www-data", "apache", "nobody"):
                try:
                    pw = pwd.getpwnam(u)
                except KeyError:
                    continue
                user = f"User {u}\nGroup #{pw.pw_gid}\n"
                break
        run = os.path.join(self.dir, "run")
        os.makedirs(run, exist_ok=True)
        os.chmod(run, 0o777)
        site = os.path.join(self.dir, "apache-site.conf")
        with open(site, "w") as f:
            f.write(render(site_template,
                           HTTP_LISTEN=f"127.0.0.1:{self.http_port}",
                           HTTP_PORT=self.http_port, WWW_DIR=self.www,
                           CHAT_API=self.api_bin, CHAT_CONF=self.conf,
                           API_SOCKET_DIR=self.sockdir,
                           RELAY_HOST="127.0.0.1", RELAY_PORT=self.relay_port))
        main = os.path.join(self.dir, "apache.conf")
        with open(main, "w") as f:
            f.write(f"""ServerRoot "{self.dir}"
ServerName 127.0.0.1
{loads}{user}PidFile "{run}/apache.pid"
DefaultRuntimeDir "{run}"
Mutex file:{run} default
ErrorLog "{self.dir}/apache-error.log"
LogLevel warn
TypesConfig /etc/mime.types
AddType "text/javascript; charset=utf-8" .js
AddType "text/html; charset=utf-8" .html
StartServers 2
ServerLimit 6
ThreadsPerChild 25
MaxRequestWorkers 150
{extra}
Include "{site}"
""")
        chk = subprocess.run([apache, "-t", "-f", main], capture_output=True, text=True)
        if chk.returncode != 0:
            raise Failure(f"apache2 -t failed:\n{chk.stdout}{chk.stderr}")
        self.spawn("apache", [apache, "-DFOREGROUND", "-f", main])
        self.procs.append(("apache-error", self.procs[-1][1],
                           os.path.join(self.dir, "apache-error.log")))
        self.procs[-1], self.procs[-2] = self.procs[-2], self.procs[-1]

    def start_apache_proxy_fcgi(self):
        self.start_api_standalone()
        self.apache_conf("apache/chat-proxy-fcgi.conf.in")

    def start_apache_fcgid(self):
        ipc = os.path.join(self.sockdir, "fcgid")
        os.makedirs(ipc, exist_ok=True)
        os.chmod(ipc, 0o777)
        # chat-api runs as Apache's user (www-data when run as root): give it
        # a copy of the program and a way to the database socket. The test's
        # own directories are opened; those above the build tree are only
        # checked.
        bindir = os.path.join(self.dir, "bin")
        os.makedirs(bindir)
        self.api_bin = shutil.copy2(self.api_bin, os.path.join(bindir, "chat-api"))
        if os.geteuid() == 0:
            ours = (os.path.realpath(TOP_BUILD), "/tmp/chatdb.")
            d = os.path.dirname(os.path.realpath(os.environ["CHAT_DATABASE_SOCKET"]))
            while d not in ("/", ""):
                mode = os.stat(d).st_mode
                if any(d.startswith(o) and d != o for o in ours):
                    os.chmod(d, mode | 0o011)
                elif not mode & 0o001:
                    log(f"SKIP: Apache's user cannot enter {d}, above the database socket")
                    sys.exit(SKIP)
                d = os.path.dirname(d)
        self.apache_conf("apache/chat-fcgid.conf.in",
                         extra=f'FcgidIPCDir "{ipc}"\n'
                               f'FcgidProcessTableFile "{self.dir}/run/fcgid_shm"\n')

    def start_nginx(self):
        nginx = find("nginx")
        params = "/etc/nginx/fastcgi_params"
        mime = "/etc/nginx/mime.types"
        if not nginx or not os.path.exists(params):
            sys.exit(SKIP)
        self.start_api_standalone()
        conf_dir = os.path.join(self.dir, "nginx")
        os.makedirs(conf_dir, exist_ok=True)
        shutil.copy(params, conf_dir)
        with open(os.path.join(conf_dir, "site.conf"), "w") as f:
            f.write(render("nginx/chat.conf.in",
                           HTTP_LISTEN=f"127.0.0.1:{self.http_port}",
                           WWW_DIR=self.www, CHAT_CONF=self.conf,
                           API_SOCKET_DIR=self.sockdir,
                           RELAY_HOST="127.0.0.1", RELAY_PORT=self.relay_port))
        tmp = os.path.join(self.dir, "nginx-tmp")
        os.makedirs(tmp, exist_ok=True)
        os.chmod(tmp, 0o777)
        main = os.path.join(conf_dir, "nginx.conf")
        with open(main, "w") as f:
            f.write(f"""daemon off;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/nginx-error.log warn;
worker_rlimit_nofile 16384;
events {{ worker_connections 4096; }}
http {{
    include {mime};
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include site.conf;
}}
""")
        chk = subprocess.run([nginx, "-t", "-p", self.dir, "-c", main],
                             capture_output=True, text=True)
        if chk.returncode != 0:
            raise Failure(f"nginx -t failed:\n{chk.stdout}{chk.stderr}")
        self.spawn("nginx", [nginx, "-p", self.dir, "-c", main])


# ---- WebSocket client --------------------------------------------------------

class Client:
    """One WebSocket connection; frames are read into a list as they come."""

    def __init__(self, name, ws):
        self.name = name
        self.ws = ws
        self.frames = []
        self.seen = 0

    @classmethod
    async def open(cls, name, url):
        # wait_for, not open_timeout: websockets 8.1 (Debian 11) lacks it
        ws = await asyncio.wait_for(
            websockets.connect(url, close_timeout=2, max_size=2 ** 20), 10)
        return cls(name, ws)

    async def send(self, obj):
        await self.ws.send(json.dumps(obj))

    async def expect(self, pred, what, timeout=10.0):
        """The next frame (after the last one matched) satisfying pred."""
        deadline = time.monotonic() + timeout
        while True:
            for i in range(self.seen, len(self.frames)):
                if pred(self.frames[i]):
                    self.seen = i + 1
                    return self.frames[i]
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure(f"{self.name}: no {what} within {timeout:.0f} s; "
                              f"got {self.frames[self.seen:][-8:]}")
            try:
                raw = await asyncio.wait_for(self.ws.recv(), left)
            except asyncio.TimeoutError:
                continue
            self.frames.append(json.loads(raw))

    async def close(self):
        await self.ws.close()


def is_msg(content):
    return lambda f: f.get("type") == "chat_message" and \
        f.get("message", {}).get("content") == content


# ---- the checks --------------------------------------------------------------

async def flow(st):
    """Users, a room and messages through the web server and the relay."""
    base = st.base
    run = secrets.token_hex(3)

    # The web client is served at /.
    s, h, body = http(base, "GET", "/", headers={"Accept": "text/html"})
    check(s == 200 and "<title>Chat</title>" in body, f"GET / -> {s}")
    s, h, _ = http(base, "GET", "/app.js", headers={"Accept": "*/*"})
    check(s == 200 and "javascript" in h.get("Content-Type", ""),
          f"GET /app.js -> {s} {h.get('Content-Type')}")
    log("ok: web client served at /")

    s, _, j = http(base, "GET", "/api/chat/")
    check(s == 200 and isinstance(j, dict), f"GET /api/chat/ -> {s} {j}")

    # Two users register and log in through the web server.
    users = {}
    for name in ("alice", "bob"):
        uname = f"{name}_{run}"
        s, _, j = http(base, "POST", "/api/auth/register/",
                       {"username": uname, "password": "correct horse " + name})
        check(s == 201 and j.get("username") == uname, f"register {uname} -> {s} {j}")
        s, _, t = http(base, "POST", "/api/auth/token/",
                       {"username": uname, "password": "correct horse " + name})
        check(s == 200 and t.get("access") and t.get("refresh"), f"token {uname} -> {s} {t}")
        users[name] = {"id": j["id"], "username": uname, "access": t["access"],
                       "refresh": t["refresh"]}
    s, _, j = http(base, "POST", "/api/auth/register/",
                   {"username": users["alice"]["username"], "password": "another one"})
    check(s == 409, f"second registration of the same name -> {s} {j}")
    s, _, j = http(base, "POST", "/api/auth/token/",
                   {"username": users["alice"]["username"], "password": "wrong"})
    check(s == 401, f"wrong password -> {s} {j}")
    log("ok: register and log in")

    # The Authorization header reaches chat-api through the web server.
    a, b = users["alice"], users["bob"]
    s, _, j = http(base, "GET", "/api/auth/me/", token=a["access"])
    check(s == 200 and j.get("username") == a["username"], f"GET /api/auth/me/ -> {s} {j}")
    s, _, j = http(base, "GET", "/api/auth/me/")
    check(s == 401, f"GET /api/auth/me/ without a token -> {s} {j}")
    s, _, j = http(base, "POST", "/api/auth/token/refresh/", {"refresh": a["refresh"]})
    check(s == 200 and j.get("access"), f"token refresh -> {s} {j}")
    log("ok: bearer token passed through, refresh works")

    # A room, visible to both; the trailing slash is optional.
    s, _, room = http(base, "POST", "/api/chat/rooms/",
                      {"name": f"e2e {run}", "description": "end-to-end"}, token=a["access"])
    check(s == 201 and room.get("id"), f"create room -> {s} {room}")
    rid = room["id"]
    s, _, rooms = http(base, "GET", "/api/chat/rooms", token=b["access"])
    check(s == 200 and any(r["id"] == rid for r in rooms), f"bob's rooms -> {s} {rooms}")
    log(f"ok: room {rid} created")

    # Two WebSocket clients: alice through the web server's proxy, bob on the
    # relay's own port; then the other way round.
    # (Each waits for its welcome before the next connects: presence counts
    # a connection from then on.)
    ca = await Client.open("alice@proxy", f"{st.ws_proxy}/ws/chat/{rid}/?token={a['access']}")
    f = await ca.expect(lambda f: f["type"] == "connection_established", "connection_established")
    check(f.get("user", {}).get("username") == a["username"], f"alice's welcome: {f}")
    cb = await Client.open("bob@relay", f"{st.ws_relay}/ws/chat/{rid}/?token={b['access']}")
    f = await cb.expect(lambda f: f["type"] == "connection_established", "connection_established")
    check(f.get("user", {}).get("id") == b["id"], f"bob's welcome: {f}")
    check({u["id"] for u in f.get("online", [])} == {a["id"], b["id"]}, f"bob's online list: {f}")
    await ca.expect(lambda f: f["type"] == "user_join" and f["user"]["id"] == b["id"],
                    "user_join of bob")

    await ca.send({"type": "chat_message", "content": f"hello from alice {run}",
                   "message_type": "text"})
    m1 = (await cb.expect(is_msg(f"hello from alice {run}"), "alice's message"))["message"]
    m1a = (await ca.expect(is_msg(f"hello from alice {run}"), "alice's own echo"))["message"]
    check(m1["id"] == m1a["id"] and m1["sender"]["id"] == a["id"], f"{m1} vs {m1a}")
    check(m1["timestamp"].endswith("Z"), f"timestamp {m1['timestamp']}")

    await cb.send({"type": "chat_message", "content": f"hi alice {run}"})
    m2 = (await ca.expect(is_msg(f"hi alice {run}"), "bob's reply"))["message"]
    await cb.expect(is_msg(f"hi alice {run}"), "bob's own echo")
    check(m2["id"] > m1["id"], f"ids ascend: {m1['id']} then {m2['id']}")
    log("ok: messages both ways, proxy <-> relay port")

    await cb.send({"type": "typing", "is_typing": True})
    f = await ca.expect(lambda f: f["type"] == "typing", "typing")
    check(f["user"]["id"] == b["id"] and f["is_typing"] is True, f"typing frame {f}")
    log("ok: typing through the proxy")

    # Swap the addresses: alice on the relay port, bob through the proxy.
    ca2 = await Client.open("alice@relay", f"{st.ws_relay}/ws/chat/{rid}/?token={a['access']}")
    cb2 = await Client.open("bob@proxy", f"{st.ws_proxy}/ws/chat/{rid}/?token={b['access']}")
    for c in (ca2, cb2):
        await c.expect(lambda f: f["type"] == "connection_established", "connection_established")
    await cb2.send({"type": "chat_message", "content": f"bob via proxy {run}"})
    await ca2.expect(is_msg(f"bob via proxy {run}"), "bob's proxied message")
    await ca.expect(is_msg(f"bob via proxy {run}"), "bob's proxied message")
    log("ok: messages both ways, relay port <-> proxy")

    # Posted over HTTP, received over WebSocket on both addresses.
    s, _, m3 = http(base, "POST", f"/api/chat/rooms/{rid}/messages/",
                    {"content": f"over http {run}", "client_id": f"e2e-{run}"},
                    token=b["access"])
    check(s == 201 and m3.get("id"), f"POST message -> {s} {m3}")
    f = await ca.expect(is_msg(f"over http {run}"), "the HTTP-posted message (proxy)")
    check(f["message"]["id"] == m3["id"], f"same id over HTTP and WS: {f} {m3}")
    await ca2.expect(is_msg(f"over http {run}"), "the HTTP-posted message (relay port)")
    s, _, again = http(base, "POST", f"/api/chat/rooms/{rid}/messages/",
                       {"content": f"over http {run}", "client_id": f"e2e-{run}"},
                       token=b["access"])
    check(s == 200 and again.get("id") == m3["id"], f"retry with the same client_id -> {s} {again}")
    log("ok: HTTP post delivered over WebSocket, client_id retry stored once")

    # History in id order, shaped like the WebSocket's messages.
    s, _, hist = http(base, "GET", f"/api/chat/rooms/{rid}/messages/", token=a["access"])
    check(s == 200, f"history -> {s} {hist}")
    ids = [m["id"] for m in hist["results"]]
    check(ids == sorted(ids) and m1["id"] in ids and m3["id"] in ids, f"history ids {ids}")
    check(hist["results"][0] == m1a, f"history message {hist['results'][0]} != ws {m1a}")

    # Unread count drops when alice marks the newest message read.
    s, _, rooms = http(base, "GET", "/api/chat/rooms/", token=a["access"])
    mine = [r for r in rooms if r["id"] == rid]
    check(s == 200 and mine and mine[0]["unread_count"] == 3,
          f"alice's unread before reading: {mine}")
    s, _, j = http(base, "POST", f"/api/chat/messages/{m3['id']}/read/", token=a["access"])
    check(s == 200 and j.get("status") == "ok" and j.get("message_id") == m3["id"],
          f"mark read -> {s} {j}")
    f = await cb2.expect(lambda f: f["type"] == "message_read", "message_read")
    check(f["message_id"] == m3["id"] and f["user"]["id"] == a["id"], f"message_read {f}")
    s, _, rooms = http(base, "GET", "/api/chat/rooms/", token=a["access"])
    mine = [r for r in rooms if r["id"] == rid]
    check(mine and mine[0]["unread_count"] == 0, f"alice's unread after reading: {mine}")
    s, _, u = http(base, "GET", "/api/chat/unread/", token=a["access"])
    check(s == 200 and all(x["room_id"] != rid for x in u.get("rooms", [])), f"unread -> {u}")
    log("ok: mark read, unread_count 3 -> 0, message_read delivered")

    # Refusals keep their close codes through the proxy.
    for label, url in (("proxy", st.ws_proxy), ("relay", st.ws_relay)):
        bad = await Client.open(f"bad-token@{label}", f"{url}/ws/chat/{rid}/?token=not.a.jwt")
        try:
            await bad.expect(lambda f: f["type"] == "error", "error frame")
            await asyncio.wait_for(bad.ws.wait_closed(), 10)
        finally:
            await bad.ws.close()
        check(bad.ws.close_code == 4401, f"bad token via {label}: close {bad.ws.close_code}")
    log("ok: bad token closed with 4401 on both addresses")

    # A body over the limit is chat-api's JSON 413, not the web server's page.
    big = json.dumps({"content": "x" * (70 * 1024)}).encode()
    s, h, j = http(base, "POST", f"/api/chat/rooms/{rid}/messages/", raw=big, token=a["access"])
    check(s == 413 and isinstance(j, dict) and "detail" in j,
          f"oversized body -> {s} {h.get('Content-Type')} {str(j)[:200]}")
    log("ok: oversized body -> 413 JSON")

    # The protocol document's Python client, unchanged but for URL and token,
    # through the web server.
    with open(os.path.join(TOP_SRC, "tests", "e2e", "seed_client.py"), encoding="utf-8") as f:
        code = f.read()
    check(SEED_URL in code and SEED_TOKEN in code, "seed_client.py lost its URL or token line")
    code = code.replace(SEED_URL, f"{st.ws_proxy}/ws/chat/{rid}/").replace(SEED_TOKEN, b["access"])
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"seed Python client exited {r.returncode}: {r.stdout}{r.stderr}")
    check("WebSocket连接成功" in r.stdout and "收到消息" in r.stdout
          and "connection_established" in r.stdout, f"seed Python client said: {r.stdout}")
    f = await ca.expect(is_msg("Hello WebSocket!"), "the seed client's message")
    check(f["message"]["sender"]["id"] == b["id"], f"seed message {f}")
    log("ok: the protocol document's Python example works through the proxy")

    for c in (ca, cb, ca2, cb2):
        await c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True,
                    choices=["lighttpd", "apache-proxy-fcgi", "apache-fcgid", "nginx"])
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="a chat.conf setting of this stack")
    ap.add_argument("--exec", nargs=argparse.REMAINDER, dest="cmd")
    args = ap.parse_args()

    st = Stack(args.server, args.set)
    rc = 1
    try:
        log(f"stack: {args.server} on {st.base}, relay on {st.ws_relay}, files in {st.dir}")
        st.start_relay()
        st.start_web()
        if args.cmd:
            art = os.path.join(TOP_BUILD, "test-artifacts")
            os.makedirs(art, exist_ok=True)
            env = dict(os.environ, E2E_BASE_URL=st.base, E2E_RELAY_URL=st.ws_relay,
                       E2E_ARTIFACTS=art, E2E_STACK_PID=str(os.getpid()),
                       E2E_STACK_DIR=st.dir, E2E_SERVER=args.server)
            # The command may take the relay down (SIGUSR1) and bring it
            # back (SIGUSR2) to see clients reconnect and resume.
            signal.signal(signal.SIGUSR1, lambda *_: st.stop_relay())
            signal.signal(signal.SIGUSR2, lambda *_: st.restart_relay())
            rc = subprocess.run(args.cmd, env=env).returncode
        else:
            asyncio.run(asyncio.wait_for(flow(st), 180))
            rc = 0
    except SystemExit as e:
        if e.code == SKIP:
            st.stop()
            shutil.rmtree(st.dir, ignore_errors=True)
        raise
    except Failure as e:
        log(f"FAIL: {e}")
        st.dump_logs()
    except Exception:
        import traceback
        traceback.print_exc()
        st.dump_logs()
    finally:
        st.stop()
    reports = st.sanitizer_reports()
    if reports:
        log("FAIL: sanitizer reports:\n  " + "\n  ".join(reports))
        rc = 1
    if rc == 0:
        log(f"PASS: {args.server}")
        if not os.environ.get("CHAT_TEST_KEEP"):
            shutil.rmtree(st.dir, ignore_errors=True)
    else:
        log(f"the stack's files are kept in {st.dir}")
    sys.exit(rc)


if __name__ == "__main__":
    main()
