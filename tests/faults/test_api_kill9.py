"""kill -9 of chat-api under load behind lighttpd (ISSUE: faults): the
web server (mod_fastcgi, bin-path, started by tests/e2e/stack.py from the
shipped config) starts a new chat-api by itself; only requests in flight
at the kill may fail; every message answered 201 is stored exactly once;
afterwards every request succeeds again."""

import os
import signal
import threading
import time

import faultlib as F
from faultlib import R

sys_path_e2e = os.path.join(F.TOP, "tests", "e2e")
N_THREADS = 8
KILLS = 2


def api_pids(parent):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        if ppid == parent and comm.startswith("chat-api"):
            out.append(int(d))
    return out


@R.timeout(180)
async def t_api_kill9_behind_lighttpd(fx):
    import sys
    sys.path.insert(0, sys_path_e2e)
    if not R._find("lighttpd"):
        R.log("SKIP: lighttpd not installed")
        return
    os.environ.update(fx.db.env())
    import stack as E
    st = E.Stack("lighttpd")
    try:
        st.start_relay()
        st.start_web()
        lighttpd = next(p for name, p, _ in st.procs if name == "lighttpd")
        http = lambda *a, **kw: E.http(st.base, *a, **kw)  # noqa: E731
        tokens = []
        for i in range(N_THREADS):
            name = f"k9api{i}_{os.getpid()}"
            s, _, _ = http("POST", "/api/auth/register/", {"username": name,
                                                           "password": "correct horse 1"})
            R.eq(s, 201, "register through lighttpd")
            s, _, body = http("POST", "/api/auth/token/", {"username": name,
                                                          "password": "correct horse 1"})
            tokens.append(body["access"])
        s, _, room = http("POST", "/api/chat/rooms/", {"name": "kill9"}, token=tokens[0])
        R.eq(s, 201, "create room")
        rid = room["id"]

        stop = threading.Event()
        results = []   # (t_start, t_end, kind, status, body)
        lock = threading.Lock()

        def worker(i):
            n = 0
            while not stop.is_set():
                t0 = time.monotonic()
                if n % 2:
                    kind, args = "post", ("POST", f"/api/chat/rooms/{rid}/messages/",
                                          {"content": f"w{i} #{n}"})
                else:
                    kind, args = "get", ("GET", f"/api/chat/rooms/{rid}/messages/?limit=5")
                try:
                    s, _, body = http(*args, token=tokens[i])
                except Exception as e:  # connection reset etc.
                    s, body = -1, repr(e)
                with lock:
                    results.append((t0, time.monotonic(), kind, s, body))
                n += 1
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(N_THREADS)]
        for t in threads:
            t.start()
        kills = []
        try:
            for k in range(KILLS):
                time.sleep(3)
                pids = api_pids(lighttpd.pid)
                R.check(pids, "no chat-api child of lighttpd found")
                t_kill = time.monotonic()
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
                kills.append((t_kill, pids))
                R.wait_until(lambda: api_pids(lighttpd.pid) and
                             set(api_pids(lighttpd.pid)).isdisjoint(pids), 30,
                             "lighttpd to start a new chat-api")
            time.sleep(3)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        R.check(lighttpd.poll() is None, "lighttpd died")
        failed = [r for r in results if r[3] not in (200, 201)]
        in_flight = [r for r in failed if any(r[0] <= tk <= r[1] for tk, _ in kills)]
        other = [r for r in failed if r not in in_flight]
        R.log(f"   {len(results)} requests, {len(failed)} failed "
              f"({len(in_flight)} in flight at a kill); statuses of failures: "
              f"{sorted(set(r[3] for r in failed))}")
        R.check(len(in_flight) <= N_THREADS * KILLS,
                f"{len(in_flight)} failures in flight for {N_THREADS} clients x {KILLS} kills")
        R.check(not other, f"{len(other)} requests failed that were not in flight at a "
                           f"kill, e.g. {[(r[2], r[3], str(r[4])[:80]) for r in other[:3]]}")
        last = sorted(results, key=lambda r: r[0])[-N_THREADS * 3:]
        R.check(all(r[3] in (200, 201) for r in last), "requests after the kills fail")
        created = [r[4]["id"] for r in results if r[2] == "post" and r[3] == 201]
        rows = fx.db.sql(f"SELECT id, content FROM messages WHERE room_id = {int(rid)}")
        ids = {int(r[0]) for r in rows}
        lost = [i for i in created if i not in ids]
        R.check(not lost, f"{len(lost)} messages answered 201 are not stored")
        contents = [r[1] for r in rows]
        R.check(len(contents) == len(set(contents)), "a message stored twice")
    finally:
        reports = st.sanitizer_reports()
        st.stop()
    R.check(not reports, f"sanitizer reports: {reports}")


if __name__ == "__main__":
    R.main([t_api_kill9_behind_lighttpd])
