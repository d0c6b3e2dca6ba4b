"""The cluster scenario (run by cluster-test.sh inside the client namespace).

Hosts are network namespaces chcl-<host> on CLUSTER_SUBNET.0/24:
  hap .10   HAProxy (deploy/cluster/haproxy.cfg.in + galera-check.in)
  g1-g3     MariaDB Galera nodes (deploy/cluster/galera.cnf.in)
  a1, a2    API hosts: lighttpd + chat-api (deploy/lighttpd/chat.conf.in)
  r1-r3     relay hosts: chat-relay (deploy/cluster/chat.conf.in)
  cli .50   this script: every client request goes to HAProxy.
Every configuration is rendered from the templates with deploy/render.

Scenario, with every receiver checking the ids it gets for gaps,
duplicates and order:
  1. steady load over 20 rooms (WebSocket and HTTP senders, receivers on
     all relays);
  2. kill -9 of one relay: its clients reconnect through HAProxy with
     last_id and miss nothing;
  3. stop of the active Galera node: HAProxy fails over; the pause of the
     writes is measured;
  4. the node comes back (IST), the killed relay restarts from scratch and
     new receivers on it replay each room from the start;
  5. the same (relay kill, node stop and return) with the API and relay
     hosts moved, one by one, to HAProxy's multi-writer port.
Then: messages acknowledged, delivered, lost, duplicated, out of order, the
failover gaps and the reconnect time p99.
"""

import asyncio
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "relay"))
import relaylib as R  # noqa: E402  (WebSocket client, JWT, process reaping)

TOP_SRC, TOP_BUILD = R.TOP_SRCDIR, R.TOP_BUILDDIR
SUBNET = os.environ["CLUSTER_SUBNET"]
HOSTS = dict(h.split(":") for h in os.environ["CLUSTER_HOSTS"].split())
PROVIDER = os.environ["GALERA_PROVIDER"]
N_ROOMS = 20
HTTP_PORT, RELAY_PORT, API_PORT = 8000, 8001, 8000
DB_PORT, DB_MULTI_PORT = 3306, 3307
DB_USER, DB_PASSWORD, DB_NAME = "chat", "cluster-test-pw", "chat"
CHECK_USER = "haproxy_check"
GALERA = ["g1", "g2", "g3"]
APIS = ["a1", "a2"]
RELAYS = ["r1", "r2", "r3"]
# Bounds of the scenario: phases run for seconds, not counts; every wait
# has a limit.
PHASE_S = float(os.environ.get("CLUSTER_PHASE_SECONDS", "5"))
# CLUSTER_BENCH=1: also measure the stored messages/s with chat-bench
# through HAProxy, single-writer and multi-writer (docs/scaling.md).
BENCH = os.environ.get("CLUSTER_BENCH") == "1"
BENCH_RATE = int(os.environ.get("CLUSTER_BENCH_RATE", "15"))
WAIT_S = 120


def addr(host):
    return f"{SUBNET}.{HOSTS[host]}"


def log(*a):
    R.log(time.strftime("%H:%M:%S"), *a)


def render(template, out, **values):
    args = ["sh", os.path.join(TOP_SRC, "deploy", "render"),
            os.path.join(TOP_SRC, "deploy", template)]
    args += [f"{k}={v}" for k, v in values.items()]
    text = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    with open(out, "w") as f:
        f.write(text)
    return out


class Proc:
    """A program started in a host's namespace (ip netns exec execs it, so
    the pid is the program's)."""

    def __init__(self, host, argv, logpath, env=None):
        self.host, self.argv, self.logpath = host, argv, logpath
        self.logf = open(logpath, "ab")
        self.p = subprocess.Popen(["ip", "netns", "exec", f"chcl-{host}"] + argv,
                                  stdin=subprocess.DEVNULL, stdout=self.logf,
                                  stderr=subprocess.STDOUT, env=env)
        R._OWN_PROCS.append(self.p)

    def alive(self):
        return self.p.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.alive():
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.logf.close()
        return self.p.returncode

    def tail(self, n=40):
        try:
            with open(self.logpath, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
        except OSError:
            return ""


# ---------------------------------------------------------------------------
# the cluster

class Cluster:
    def __init__(self):
        root = os.path.join(TOP_BUILD, "tests", "tmp")
        os.makedirs(root, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="cluster.", dir=root)
        # mariadbd runs as the mysql user (as in production: the rsync SST
        # daemon it starts would otherwise run as nobody): it must reach
        # its node directory.
        os.chmod(self.dir, 0o755)
        self.secret = uuid.uuid4().hex + uuid.uuid4().hex
        self.secret_file = os.path.join(self.dir, "jwt.secret")
        with open(self.secret_file, "w") as f:
            f.write(self.secret + "\n")
        self.db = {}      # host -> Proc
        self.relays = {}  # host -> Proc
        self.apis = {}    # host -> Proc (lighttpd)
        self.hap = None
        self.mysqld_user = "mysql" if _user_exists("mysql") else "root"
        self.db_mode_port = DB_PORT

    def path(self, *p):
        d = os.path.join(self.dir, *p[:-1])
        os.makedirs(d, exist_ok=True)
        return os.path.join(d, p[-1])

    # -- Galera ------------------------------------------------------------

    def node_dir(self, h):
        return os.path.join(self.dir, h)

    def sock(self, h):
        return os.path.join(self.node_dir(h), "mysqld.sock")

    def sql(self, h, query, db=DB_NAME, check=True):
        cmd = ["mariadb", "--no-defaults", f"--socket={self.sock(h)}", "-uroot", "-N", "-B"]
        if db:
            cmd.append(db)
        r = subprocess.run(cmd + ["-e", query], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            if check:
                raise R.TestFailure(f"SQL on {h} failed: {query}\n{r.stderr}")
            return None
        return [line.split("\t") for line in r.stdout.splitlines() if line]

    def status(self, h, var):
        rows = self.sql(h, f"SHOW GLOBAL STATUS LIKE '{var}'", db="", check=False)
        return rows[0][1] if rows else None

    def start_node(self, h, bootstrap=False):
        d = self.node_dir(h)
        os.makedirs(os.path.join(d, "data"), exist_ok=True)
        cnf = render("cluster/galera.cnf.in", os.path.join(d, "my.cnf"),
                     MYSQLD_USER=self.mysqld_user, DATADIR=os.path.join(d, "data"),
                     SOCKET=self.sock(h), PID_FILE=os.path.join(d, "mysqld.pid"),
                     LOG_ERROR=os.path.join(d, "error.log"), TMPDIR=d,
                     BUFFER_POOL="64M", NODE_ADDRESS=addr(h), NODE_NAME=h,
                     WSREP_PROVIDER=PROVIDER, CLUSTER_NAME="chat-cluster-test",
                     CLUSTER_ADDRESSES=",".join(addr(g) for g in GALERA))
        subprocess.run(["chown", "-R", f"{self.mysqld_user}:", d], check=True)
        argv = ["mariadbd", f"--defaults-file={cnf}"]
        if bootstrap:
            argv.append("--wsrep-new-cluster")
        self.db[h] = Proc(h, argv, os.path.join(d, "mariadbd.out"))

    def wait_synced(self, h, timeout=WAIT_S):
        def ok():
            if not self.db[h].alive():
                raise R.TestFailure(f"mariadbd on {h} exited:\n" +
                                    _tail(os.path.join(self.node_dir(h), "error.log")))
            return self.status(h, "wsrep_local_state") == "4"
        R.wait_until(ok, timeout, f"Galera node {h} synced", interval=0.3)

    def start_galera(self):
        d = self.node_dir("g1")
        os.makedirs(d, exist_ok=True)
        r = subprocess.run(["mariadb-install-db", "--no-defaults",
                            f"--user={self.mysqld_user}", f"--datadir={d}/data",
                            "--auth-root-authentication-method=normal", "--skip-test-db"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise R.TestFailure("mariadb-install-db failed:\n" + r.stdout + r.stderr)
        self.start_node("g1", bootstrap=True)
        self.wait_synced("g1")
        net = f"{SUBNET}.%"
        self.sql("g1", f"CREATE DATABASE {DB_NAME} CHARACTER SET utf8mb4 "
                       "COLLATE utf8mb4_unicode_ci; "
                       f"CREATE USER '{DB_USER}'@'{net}' IDENTIFIED BY '{DB_PASSWORD}'; "
                       f"GRANT ALL ON {DB_NAME}.* TO '{DB_USER}'@'{net}'; "
                       f"CREATE USER '{CHECK_USER}'@'{addr('hap')}'", db="")
        self.chatctl("migrate", "--schema-dir", os.path.join(TOP_SRC, "schema"))
        for h in ("g2", "g3"):
            self.start_node(h)
        for h in ("g2", "g3"):
            self.wait_synced(h)
        size = self.status("g1", "wsrep_cluster_size")
        R.eq(size, "3", "wsrep_cluster_size")
        # The rendered galera.cnf is what the nodes run with.
        for h in GALERA:
            row = self.sql(h, "SELECT @@wsrep_sync_wait, @@auto_increment_increment, "
                              "@@wsrep_sst_method", db="")[0]
            R.eq(row, ["1", "3", "rsync"], f"{h}: wsrep_sync_wait, auto_increment_increment, "
                                           "wsrep_sst_method")

    def admin_env(self, h="g1"):
        e = dict(os.environ)
        e.update({"CHAT_DATABASE_SOCKET": self.sock(h), "CHAT_DATABASE_HOST": "",
                  "CHAT_DATABASE_USER": "root", "CHAT_DATABASE_PASSWORD": "",
                  "CHAT_DATABASE_NAME": DB_NAME, "CHAT_AUTH_JWT_SECRET": self.secret})
        return e

    def live_node(self):
        for h in GALERA:
            if h in self.db and self.db[h].alive() and \
                    self.status(h, "wsrep_local_state") == "4":
                return h
        raise R.TestFailure("no synced Galera node")

    def chatctl(self, *args):
        r = subprocess.run([os.path.join(TOP_BUILD, "schema", "chatctl"), *args],
                           env=self.admin_env(self.live_node() if self.db else "g1"),
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise R.TestFailure(f"chatctl {' '.join(args)}: {r.stderr}")
        return r.stdout

    # -- HAProxy -----------------------------------------------------------

    def start_haproxy(self):
        check = render("cluster/galera-check.in", self.path("hap", "galera-check"),
                       MARIADB=shutil.which("mariadb"), CHECK_USER=CHECK_USER)
        os.chmod(check, 0o755)
        self.stats_sock = self.path("hap", "stats.sock")
        cfg = render("cluster/haproxy.cfg.in", self.path("hap", "haproxy.cfg"),
                     LOG_TARGET="stdout format raw", LOG_LEVEL="info", PID_FILE=self.path("hap", "haproxy.pid"),
                     STATS_SOCKET=self.stats_sock, GALERA_CHECK=check,
                     CHECK_USER=CHECK_USER, LISTEN_ADDRESS=addr("hap"), MAXCONN=4000,
                     HTTP_PORT=HTTP_PORT, DB_PORT=DB_PORT, DB_MULTI_PORT=DB_MULTI_PORT,
                     API_PORT=API_PORT, RELAY_PORT=RELAY_PORT,
                     API1=addr("a1"), API2=addr("a2"),
                     RELAY1=addr("r1"), RELAY2=addr("r2"), RELAY3=addr("r3"),
                     DB1=addr("g1"), DB2=addr("g2"), DB3=addr("g3"))
        r = subprocess.run(["haproxy", "-c", "-f", cfg], capture_output=True, text=True)
        if r.returncode != 0:
            raise R.TestFailure("haproxy -c refused the rendered config:\n" + r.stdout + r.stderr)
        self.hap = Proc("hap", ["haproxy", "-db", "-f", cfg], self.path("hap", "haproxy.log"))
        R.wait_until(lambda: self.server_state("galera", "db1") == "UP", 30,
                     "HAProxy: db1 UP in backend galera")

    def stats(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(self.stats_sock)
            s.sendall(b"show stat\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            return []
        finally:
            s.close()
        lines = data.decode().splitlines()
        if not lines or not lines[0].startswith("# "):
            return []
        head = lines[0][2:].split(",")
        return [dict(zip(head, ln.split(","))) for ln in lines[1:] if ln]

    def server_state(self, backend, server):
        for row in self.stats():
            if row.get("pxname") == backend and row.get("svname") == server:
                return row.get("status", "").split(" ")[0]
        return None

    def active_db(self, backend="galera"):
        """The Galera nodes a HAProxy backend has sessions on (one for the
        single-writer backend)."""
        rows = [r for r in self.stats() if r.get("pxname") == backend and
                r.get("svname", "").startswith("db")]
        busy = [r["svname"] for r in rows if r.get("scur", "0") not in ("", "0")]
        return busy

    # -- API and relay hosts ----------------------------------------------

    def chat_conf(self, h, db_hosts):
        notify = self.path(h, "notify", ".keep")
        return render("cluster/chat.conf.in", self.path(h, "chat.conf"),
                      DB_HOSTS=db_hosts, DB_PROXY=addr("hap"), DB_MULTI_PORT=DB_MULTI_PORT,
                      DB_USER=DB_USER, DB_PASSWORD=DB_PASSWORD, DB_NAME=DB_NAME,
                      JWT_SECRET_FILE=self.secret_file, LOGIN_RATE_LIMIT=0,
                      HOST_ADDRESS=addr(h), RELAY_PORT=RELAY_PORT, POLL_INTERVAL_MS=100,
                      NOTIFY_DIR=os.path.dirname(notify))

    def db_hosts_for(self, h, port):
        # r3 goes to the nodes directly ([database] host as a list, tried in
        # order); every other host through HAProxy.
        if h == "r3":
            return ", ".join(addr(g) for g in GALERA)
        return f"{addr('hap')}:{port}"

    def start_api(self, h, port=DB_PORT):
        conf = self.chat_conf(h, self.db_hosts_for(h, port))
        www = os.path.join(self.dir, "www")
        if not os.path.isdir(www):
            shutil.copytree(os.path.join(TOP_SRC, "deploy", "www"), www)
        site = render("lighttpd/chat.conf.in", self.path(h, "lighttpd-chat.conf"),
                      HTTP_LISTEN=f"{addr(h)}:{API_PORT}", WWW_DIR=www,
                      CHAT_API=os.path.join(TOP_BUILD, "api", "chat-api"), CHAT_CONF=conf,
                      LIGHTTPD_SOCKET_DIR=os.path.join(self.dir, h),
                      RELAY_HOST=addr("r1"), RELAY_PORT=RELAY_PORT)
        main = self.path(h, "lighttpd.conf")
        with open(main, "w") as f:
            f.write(f"""server.modules = ( "mod_indexfile", "mod_staticfile" )
server.bind = "{addr(h)}"
server.port = {API_PORT}
server.document-root = "{www}"
server.pid-file = "{self.path(h, 'lighttpd.pid')}"
server.errorlog = "{self.path(h, 'lighttpd-error.log')}"
server.upload-dirs = ( "{os.path.join(self.dir, h)}" )
mimetype.assign = ( ".html" => "text/html; charset=utf-8",
                    ".js" => "text/javascript; charset=utf-8" )
include "{site}"
""")
        self.apis[h] = Proc(h, [shutil.which("lighttpd") or "/usr/sbin/lighttpd", "-D", "-f",
                                main], self.path(h, "lighttpd.out"))

    def start_relay(self, h, port=DB_PORT):
        conf = self.chat_conf(h, self.db_hosts_for(h, port))
        self.relays[h] = Proc(h, [os.path.join(TOP_BUILD, "relay", "chat-relay"), "-c", conf],
                              self.path(h, f"relay.{int(time.time() * 1000)}.log"))

    def wait_backend_up(self, backend, server, timeout=60):
        R.wait_until(lambda: self.server_state(backend, server) == "UP", timeout,
                     f"HAProxy: {server} UP in {backend}", interval=0.2)

    def stop_all(self):
        for group in (self.relays, self.apis):
            for p in group.values():
                p.stop(timeout=20)
        if self.hap:
            self.hap.stop(timeout=10)
        for p in self.db.values():
            p.stop(timeout=60)

    def logs_of_failure(self):
        out = []
        for name, group in (("relay", self.relays), ("lighttpd", self.apis)):
            for h, p in group.items():
                out.append(f"---- {name} on {h} ({p.logpath}) ----\n{p.tail(30)}")
        for h in self.db:
            out.append(f"---- mariadbd {h} ----\n" +
                       _tail(os.path.join(self.node_dir(h), "error.log"), 15))
        if self.hap:
            out.append(f"---- haproxy ----\n{self.hap.tail(30)}")
        return "\n".join(out)


def _user_exists(name):
    try:
        import pwd
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _tail(path, n=40):
    try:
        with open(path, "rb") as f:
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
    except OSError:
        return ""


# ---------------------------------------------------------------------------
# clients (all through HAProxy)

class Stats:
    def __init__(self):
        self.acked = {}          # (sender_id, client_id) -> (room, id, t_ack)
        self.ack_times = []      # monotonic time of each acknowledgement
        self.reconnects = []     # seconds from a lost connection to the next welcome
        self.errors = []         # unexpected things seen by clients
        self.lock = threading.Lock()

    def ack(self, user_id, cid, room, mid):
        with self.lock:
            key = (user_id, cid)
            if key in self.acked and self.acked[key][1] != mid:
                self.errors.append(f"client_id {cid} acknowledged as two ids "
                                   f"{self.acked[key][1]} and {mid}")
            if key not in self.acked:
                self.acked[key] = (room, mid, time.monotonic())
                self.ack_times.append(time.monotonic())


class WsClient:
    """One user's WebSocket to a room through HAProxy; reconnects with
    last_id when the connection drops, records every chat_message id in
    arrival order (across connections) and, as a sender, sends a new
    message every `interval`.

    Retries the way a careful client does: never on a live connection (a
    stored message arrives in the stream, however late), but after a
    reconnect, once the replay is done (sync_done), for what is still
    unacknowledged: then it was not stored, and the retry with the same
    client_id stores it once. An `unavailable` error (something was not
    stored) makes it reconnect for that reason. So every frame it gets is a
    delivery of the room's stream, and a second frame of one id is a real
    duplicate."""

    def __init__(self, st, user, room, sender=False, interval=0.5, last_id=0):
        self.st, self.user, self.room = st, user, room
        self.sender, self.interval = sender, interval
        self.last_id = last_id
        self.start_id = last_id
        self.ids = []             # every chat_message id received, in order
        self.trace = []           # (id, connection number, synced yet, own client_id)
        self.arrival = {}         # id -> monotonic time of its (first) arrival
        self.unacked = {}         # client_id -> content
        self.conn = None
        self.running = True
        self.sending = sender
        self.task = None
        self.connects = 0
        self.resync = 0
        self.reconnect_asked = False
        self.connects_at = float("inf")   # when it first connected

    def url(self):
        return (f"ws://{addr('hap')}:{HTTP_PORT}/ws/chat/{self.room}/?token={self.user.token}"
                f"&last_id={self.last_id}")

    async def run(self):
        lost_at = None
        deadline_fail = None
        while self.running:
            try:
                c = await R.Client.open(self.url(), None, open_timeout=5)
            except Exception:
                deadline_fail = deadline_fail or time.monotonic() + WAIT_S
                if time.monotonic() > deadline_fail:
                    self.st.errors.append(f"user {self.user.id} room {self.room}: "
                                          f"no reconnect within {WAIT_S}s")
                    return
                await asyncio.sleep(0.2)
                continue
            deadline_fail = None
            self.conn = c
            try:
                await c.next("connection_established", 10)
            except Exception:
                await c.close()
                await asyncio.sleep(0.2)
                continue
            self.connects += 1
            self.connects_at = min(self.connects_at, time.monotonic())
            if lost_at is not None:
                self.st.reconnects.append(time.monotonic() - lost_at)
            synced = asyncio.Event()
            sender = asyncio.ensure_future(self._send_loop(c, synced)) if self.sender else None
            try:
                await self._read(c, synced)
            finally:
                if sender:
                    sender.cancel()
                    try:
                        await sender
                    except (asyncio.CancelledError, Exception):
                        pass
            if not self.running:
                break
            lost_at = time.monotonic()
            await asyncio.sleep(0.05)

    async def _read(self, c, synced):
        while self.running:
            try:
                f = await c.next(("chat_message", "sync_done", "resync_required", "error"),
                                 timeout=1)
            except R.TestFailure:
                if c.closed:
                    return
                continue
            t = f["type"]
            if t == "sync_done":
                synced.set()
                self.trace.append(("sync_done", f.get("last_id"), self.connects))
            elif t == "resync_required":
                self.resync += 1
            elif t == "error":
                self.trace.append(("error", f.get("code"), self.connects))
                if f.get("code") == "unavailable" and self.sender:
                    # Something was not stored: reconnect, then resend
                    # what the replay does not show.
                    self.reconnect_asked = True
                    await c.close()
                    return
                if f.get("code") != "unavailable":
                    self.st.errors.append(f"error frame: {f}")
            else:
                m = f["message"]
                if m.get("room_id") not in (None, self.room):
                    self.st.errors.append(f"message of room {m.get('room_id')} in {self.room}")
                self.ids.append(m["id"])
                self.trace.append((m["id"], self.connects, synced.is_set(),
                                   m.get("client_id") if m["sender"]["id"] == self.user.id
                                   else None))
                self.arrival[m["id"]] = time.monotonic()
                self.last_id = max(self.last_id, m["id"])
                cid = m.get("client_id")
                if m["sender"]["id"] == self.user.id and cid:
                    self.unacked.pop(cid, None)
                    self.st.ack(self.user.id, cid, self.room, m["id"])

    async def _send_loop(self, c, synced):
        # Resend what was not acknowledged once the replay is complete
        # (an acknowledgement may have been in it).
        try:
            await asyncio.wait_for(synced.wait(), 15)
        except asyncio.TimeoutError:
            pass
        for cid, content in list(self.unacked.items()):
            await c.send({"type": "chat_message", "content": content, "client_id": cid})
        n = 0
        while self.sending:
            cid = uuid.uuid4().hex
            content = f"ws u{self.user.id} r{self.room} #{n}"
            n += 1
            self.unacked[cid] = content
            await c.send({"type": "chat_message", "content": content, "client_id": cid})
            await asyncio.sleep(self.interval)

    async def flush(self):
        """Reconnect if messages are still unacknowledged (their error frame
        may have been lost with a connection): the resend after the replay
        settles them."""
        if self.unacked and self.conn and not self.conn.closed:
            self.reconnect_asked = True
            await self.conn.close()

    async def stop(self):
        self.running = False
        if self.conn:
            await self.conn.close()
        if self.task:
            try:
                await asyncio.wait_for(self.task, 15)
            except (asyncio.TimeoutError, Exception):
                self.task.cancel()


class HttpSender(threading.Thread):
    """POSTs a message every `interval` to rotating rooms through HAProxy;
    a failed or unanswered request is retried with the same client_id
    until acknowledged (bounded)."""

    def __init__(self, st, user, rooms, interval=0.25):
        super().__init__(daemon=True)
        self.st, self.user, self.rooms, self.interval = st, user, rooms, interval
        self.running = True
        self.pending = 0

    def post(self, room, body):
        c = http.client.HTTPConnection(addr("hap"), HTTP_PORT, timeout=15)
        try:
            c.request("POST", f"/api/chat/rooms/{room}/messages/", json.dumps(body),
                      {"Authorization": "Bearer " + self.user.token,
                       "Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            return r.status, data
        finally:
            c.close()

    def run(self):
        n = 0
        while self.running:
            room = self.rooms[n % len(self.rooms)]
            cid = uuid.uuid4().hex
            body = {"content": f"http u{self.user.id} r{room} #{n}", "client_id": cid}
            n += 1
            deadline = time.monotonic() + WAIT_S
            while True:
                try:
                    status, data = self.post(room, body)
                except OSError:
                    status, data = None, b""
                if status in (200, 201):
                    self.st.ack(self.user.id, cid, room, json.loads(data)["id"])
                    break
                if status not in (None, 500, 502, 503, 504):
                    self.st.errors.append(f"POST answered {status}: {data[:200]!r}")
                    break
                if time.monotonic() > deadline:
                    self.st.errors.append(f"POST {cid} not acknowledged within {WAIT_S}s")
                    break
                time.sleep(0.2)
            time.sleep(self.interval)


# ---------------------------------------------------------------------------
# the scenario

class Scenario:
    def __init__(self, cl):
        self.cl = cl
        self.st = Stats()
        self.clients = []
        self.http = []
        self.gaps = {}

    def user(self, name):
        self.cl.chatctl("add-user", name, "--no-password")
        uid = int(self.cl.sql(self.cl.live_node(),
                              f"SELECT id FROM users WHERE username = '{name}'")[0][0])
        return R.User(uid, name, R.make_jwt(R.simplejwt_claims(uid, lifetime=3600),
                                            self.cl.secret))

    def setup_users(self):
        owner = self.user("owner")
        self.rooms = []
        for i in range(N_ROOMS):
            self.cl.chatctl("create-room", f"room{i}", "--owner", owner.name)
        self.rooms = [int(r[0]) for r in self.cl.sql(self.cl.live_node(),
                                                     "SELECT id FROM rooms ORDER BY id")]
        R.eq(len(self.rooms), N_ROOMS, "rooms created")
        self.users = [self.user(f"u{i}") for i in range(N_ROOMS * 3)]
        self.http_users = [self.user(f"h{i}") for i in range(4)]
        self.bench = {}
        if BENCH:
            owner = self.user("benchowner")
            for i in range(N_ROOMS):
                self.cl.chatctl("create-room", f"bench{i}", "--owner", owner.name)
            rows = self.cl.sql(self.cl.live_node(),
                               "SELECT id FROM rooms WHERE name LIKE 'bench%' ORDER BY id")
            rooms = self.cl.path("bench", "rooms")
            with open(rooms, "w") as f:
                f.write("".join(f"{r[0]}\n" for r in rows))
            tokens = self.cl.path("bench", "tokens")
            with open(tokens, "w") as f:
                for i in range(N_ROOMS * 5):
                    f.write(self.user(f"b{i}").token + "\n")
            self.bench_files = (rooms, tokens)

    def add_ws(self, user, room, sender=False, last_id=0):
        c = WsClient(self.st, user, room, sender=sender, last_id=last_id)
        c.task = asyncio.ensure_future(c.run())
        self.clients.append(c)
        return c

    async def start_load(self):
        # 3 clients per room, the first one sending: 60 connections that
        # HAProxy spreads over the relays (leastconn).
        for i, room in enumerate(self.rooms):
            for k in range(3):
                self.add_ws(self.users[i * 3 + k], room, sender=(k == 0))
        await R.async_wait_until(lambda: all(c.connects for c in self.clients), 60,
                                 "every WebSocket client connected")
        for k, u in enumerate(self.http_users):
            t = HttpSender(self.st, u, self.rooms[k::len(self.http_users)])
            t.start()
            self.http.append(t)

    async def acks_resume(self, what, since):
        """Seconds from `since` until writes are acknowledged again over
        both paths (WebSocket and HTTP)."""
        def recent():
            with self.st.lock:
                return [t for t in self.st.ack_times if t > since]
        await R.async_wait_until(lambda: len(recent()) >= 5, 90,
                                 f"{what}: writes acknowledged again", interval=0.1)
        # The pause: the longest time without an acknowledgement around the
        # event.
        with self.st.lock:
            ts = sorted(t for t in self.st.ack_times if t > since - 2)
        gap = max((b - a for a, b in zip(ts, ts[1:])), default=0.0)
        return gap

    async def phase_relay_kill(self, victim):
        cl = self.cl
        before = [c.connects for c in self.clients]
        cl.relays[victim].stop(signal.SIGKILL)
        log(f"killed -9 the relay on {victim}")
        await asyncio.sleep(PHASE_S)
        moved = sum(1 for c, b in zip(self.clients, before) if c.connects > b)
        log(f"{moved} clients reconnected after the relay on {victim} died")
        R.check(moved > 0, f"no client was on the relay of {victim}")

    async def phase_db_stop(self, label):
        cl = self.cl
        busy = cl.active_db("galera" if label == "single-writer" else "galera_multi")
        victim = "g" + busy[0][2] if len(busy) == 1 else "g2"
        if label == "single-writer":
            R.check(len(busy) == 1, f"single writer: sessions on one node, got {busy}")
        t0 = time.monotonic()
        cl.db[victim].stop(signal.SIGTERM, timeout=90)
        log(f"{label}: stopped Galera node {victim} (had sessions: {busy})")
        gap = await self.acks_resume(f"{label}: after stopping {victim}", t0)
        self.gaps[label] = gap
        log(f"{label}: writes paused at most {gap:.2f}s")
        await asyncio.sleep(PHASE_S)
        return victim

    async def phase_db_back(self, victim, relay):
        cl = self.cl
        t0 = time.monotonic()
        cl.start_node(victim)
        await asyncio.get_event_loop().run_in_executor(None, cl.wait_synced, victim)
        log(f"Galera node {victim} synced again after {time.monotonic() - t0:.1f}s "
            f"({_sst_kind(cl, victim)})")
        cl.start_relay(relay, cl.db_mode_port)
        await asyncio.get_event_loop().run_in_executor(
            None, cl.wait_backend_up, "relays", f"relay{relay[1]}")
        # New receivers, one per room, replaying each room from the start:
        # HAProxy's leastconn puts most of them on the fresh relay.
        fresh = [self.add_ws(self.users[i * 3 + 1], room, last_id=0)
                 for i, room in enumerate(self.rooms)]
        await R.async_wait_until(lambda: all(c.connects for c in fresh), 60,
                                 "receivers on the restarted relay connected")
        await asyncio.sleep(PHASE_S)

    async def to_multi_writer(self):
        """Move every API and relay host to the multi-writer port, one host
        at a time (clients of a restarted relay reconnect)."""
        cl = self.cl
        cl.db_mode_port = DB_MULTI_PORT
        for h in APIS:
            cl.apis[h].stop(timeout=20)
            cl.start_api(h, DB_MULTI_PORT)
            await asyncio.get_event_loop().run_in_executor(
                None, cl.wait_backend_up, "apis", f"api{h[1]}")
        for h in RELAYS:
            cl.relays[h].stop(timeout=20)
            cl.start_relay(h, DB_MULTI_PORT)
            await asyncio.get_event_loop().run_in_executor(
                None, cl.wait_backend_up, "relays", f"relay{h[1]}")
        await asyncio.sleep(PHASE_S)
        multi = [r["svname"] for r in cl.stats() if r.get("pxname") == "galera_multi"
                 and r.get("svname", "").startswith("db") and r.get("scur", "0") != "0"]
        log(f"multi-writer: sessions on {multi}")
        R.check(len(multi) >= 2, f"multi-writer: sessions on {multi}, expected 2 or more")

    async def run_bench(self, label):
        """chat-bench fanout through HAProxy on the bench rooms: 5 clients a
        room, all sending BENCH_RATE msg/s (under the relays' rate limit),
        while the scenario's own load goes on."""
        rooms, tokens = self.bench_files
        argv = [os.path.join(TOP_BUILD, "tests", "bench", "chat-bench"), "fanout",
                "--url", f"ws://{addr('hap')}:{HTTP_PORT}", "--tokens", tokens,
                "--rooms-file", rooms, "--clients", "5", "--senders", "5",
                "--rate", str(BENCH_RATE), "--duration", "8", "--drain", "5", "--quiet"]
        r = await asyncio.get_event_loop().run_in_executor(
            None, lambda: subprocess.run(argv, capture_output=True, text=True, timeout=120))
        try:
            j = json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            self.st.errors.append(f"chat-bench ({label}) printed no result: {r.stderr[-500:]}")
            return
        self.bench[label] = j
        log(f"bench {label}: offered {N_ROOMS * 5 * BENCH_RATE} msg/s, stored "
            f"{j.get('messages_per_s', 0):.0f} msg/s, ack p99 "
            f"{j.get('ack_ms', {}).get('p99', 0)} ms, lost {j.get('lost')}, dup "
            f"{j.get('duplicated')}, out of order {j.get('out_of_order')}")
        if j.get("lost") or j.get("duplicated") or j.get("out_of_order"):
            self.st.errors.append(f"chat-bench ({label}): {j}")

    async def finish(self):
        for t in self.http:
            t.running = False
        for c in self.clients:
            c.sending = False
        await asyncio.get_event_loop().run_in_executor(
            None, lambda: [t.join(WAIT_S) for t in self.http])
        def all_acked():
            return all(not c.unacked for c in self.clients if c.sender)
        try:
            await R.async_wait_until(all_acked, 30, "every WebSocket message acknowledged",
                                     interval=0.2)
        except R.TestFailure:
            left = sum(len(c.unacked) for c in self.clients)
            log(f"{left} messages unacknowledged after 30 s: reconnecting their senders")
            for c in self.clients:
                await c.flush()
            await R.async_wait_until(all_acked, WAIT_S, "every WebSocket message acknowledged",
                                     interval=0.2)
        # Everything stored, per room, by id: the truth every receiver must
        # have got.
        node = self.cl.live_node()
        rows = self.cl.sql(node, "SELECT room_id, id, sender_id, client_id FROM messages "
                                 "ORDER BY id")
        self.stored = {}
        for room, mid, _sender, _cid in rows:
            self.stored.setdefault(int(room), []).append(int(mid))

        def complete():
            return all(set(self.stored.get(c.room, [])) <=
                       set(c.ids) | set(range(0, c.start_id + 1)) for c in self.clients)
        try:
            await R.async_wait_until(complete, WAIT_S, "every receiver has every stored "
                                     "message of its room", interval=0.5)
        except R.TestFailure as e:
            self.st.errors.append(str(e))
        for c in self.clients:
            await c.stop()
        dup_cids = self.cl.sql(node, "SELECT COUNT(*) FROM (SELECT sender_id, client_id "
                                     "FROM messages WHERE client_id IS NOT NULL GROUP BY "
                                     "sender_id, client_id HAVING COUNT(*) > 1) d")[0][0]
        return int(dup_cids)

    @staticmethod
    def ok_counts(lost, dup, ooo):
        return not lost and dup == 0 and ooo == 0

    def report(self, dup_cids, elapsed):
        st = self.st
        stored_ids = {m for ids in self.stored.values() for m in ids}
        acked = list(st.acked.values())
        lost_msgs = set()
        for room, mid, _ in acked:
            if mid not in stored_ids:
                lost_msgs.add(mid)
        delivered = dup = ooo = 0
        for c in self.clients:
            delivered += len(c.ids)
            seen = set()
            prev = 0
            for i, m in enumerate(c.ids):
                if m in seen:
                    dup += 1
                    if dup <= 5:
                        log(f"dup {m} at client u{c.user.id} r{c.room}: {c.trace[max(0, i - 4):i + 2]}")
                elif m < prev:
                    ooo += 1
                    if ooo <= 5:
                        log(f"ooo {m} at client u{c.user.id} r{c.room}: {c.trace[max(0, i - 4):i + 2]}")
                seen.add(m)
                prev = max(prev, m)
            for m in self.stored.get(c.room, []):
                if m > c.start_id and m not in seen:
                    lost_msgs.add(m)
        if not self.ok_counts(lost_msgs, dup, ooo):
            # For the post-mortem: every receiver's frames, in order.
            with open(os.path.join(self.cl.dir, "receivers.json"), "w") as f:
                json.dump([{"user": c.user.id, "room": c.room, "start": c.start_id,
                            "trace": c.trace, "stored": self.stored.get(c.room, [])}
                           for c in self.clients], f)
        # Delivery after acknowledgement, for receivers connected when the
        # message was acknowledged (not the replays of late joiners).
        acked_at = {mid: t for _room, mid, t in acked}
        lat = sorted(c.arrival[m] - acked_at[m] for c in self.clients for m in c.arrival
                     if m in acked_at and c.arrival[m] >= acked_at[m] - 1 and c.start_id == 0
                     and c.connects_at <= acked_at[m])
        pct = (lambda q: lat[min(len(lat) - 1, int(len(lat) * q))] if lat else 0.0)
        rec = sorted(st.reconnects)
        p99 = rec[min(len(rec) - 1, int(len(rec) * 0.99))] if rec else 0.0
        resync = sum(c.resync for c in self.clients)
        log("==== cluster test results ====")
        log(f"messages acknowledged: {len(acked)} (stored: {len(stored_ids)})")
        log(f"messages delivered:    {delivered} (to {len(self.clients)} receivers)")
        log(f"lost:                  {len(lost_msgs)}")
        log(f"duplicated:            {dup} (client_id stored twice: {dup_cids})")
        log(f"out of order:          {ooo}")
        for k, v in self.gaps.items():
            log(f"failover gap ({k}): {v:.2f} s")
        log(f"reconnects:            {len(rec)}, p99 {p99:.2f} s, max "
            f"{(rec[-1] if rec else 0):.2f} s")
        log(f"resync_required:       {resync}")
        log(f"delivery after ack:    p50 {pct(0.5):.3f} s, p99 {pct(0.99):.3f} s, "
            f"max {(lat[-1] if lat else 0):.3f} s")
        log(f"run time:              {elapsed:.0f} s")
        for e in st.errors[:10]:
            log(f"client error: {e}")
        ok = (not lost_msgs and dup == 0 and ooo == 0 and dup_cids == 0 and resync == 0
              and not st.errors and len(acked) > 0)
        if lost_msgs:
            log(f"lost ids (first 20): {sorted(lost_msgs)[:20]}")
        return ok


def _sst_kind(cl, h):
    text = _tail(os.path.join(cl.node_dir(h), "error.log"), 400)
    if "IST received" in text or "Receiving IST" in text:
        return "IST"
    if "SST" in text:
        return "SST"
    return "state transfer"


async def scenario(cl):
    sc = Scenario(cl)
    t_start = time.monotonic()
    sc.setup_users()
    await sc.start_load()
    log(f"phase 1: steady load over {N_ROOMS} rooms, {len(sc.clients)} WebSocket clients, "
        f"{len(sc.http)} HTTP senders")
    await asyncio.sleep(PHASE_S)
    log("phase 2: kill -9 of a relay")
    await sc.phase_relay_kill("r1")
    log("phase 3: stop the active Galera node (single writer)")
    victim = await sc.phase_db_stop("single-writer")
    log("phase 4: the node comes back, the killed relay restarts from scratch")
    await sc.phase_db_back(victim, "r1")
    if BENCH:
        await sc.run_bench("single-writer")
    log("phase 5: multi-writer")
    await sc.to_multi_writer()
    if BENCH:
        await sc.run_bench("multi-writer")
    await sc.phase_relay_kill("r2")
    victim = await sc.phase_db_stop("multi-writer")
    await sc.phase_db_back(victim, "r2")
    log("stopping the load, checking every receiver")
    dup_cids = await sc.finish()
    return sc.report(dup_cids, time.monotonic() - t_start)


def main():
    cl = Cluster()
    ok = False
    t0 = time.monotonic()
    try:
        cl.start_galera()
        log(f"Galera: 3 nodes synced after {time.monotonic() - t0:.1f}s")
        cl.start_haproxy()
        for h in APIS:
            cl.start_api(h)
        for h in RELAYS:
            cl.start_relay(h)
        for h in APIS:
            cl.wait_backend_up("apis", f"api{h[1]}")
        for h in RELAYS:
            cl.wait_backend_up("relays", f"relay{h[1]}")
        log(f"cluster up after {time.monotonic() - t0:.1f}s")
        ok = asyncio.run(scenario(cl))
    except R.TestFailure as e:
        log(f"FAIL: {e}")
    except Exception as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        log(f"FAIL: {e!r}")
    finally:
        if not ok:
            log(cl.logs_of_failure())
        cl.stop_all()
        for group in (cl.relays,):
            for p in group.values():
                rep = [m for m in R.SANITIZER_MARKERS if m in p.tail(100000)]
                if rep:
                    log(f"FAIL sanitizer report in {p.logpath}")
                    ok = False
        if ok and not os.environ.get("CHAT_TEST_KEEP"):
            shutil.rmtree(cl.dir, ignore_errors=True)
    log("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
