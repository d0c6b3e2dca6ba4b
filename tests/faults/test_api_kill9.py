"""kill -9 of chat-api under load behind lighttpd (ISSUE: faults): the
web server (mod_fastcgi, bin-path, started by tests/e2e/stack.py from the
shipped config) starts a new chat-api by itself; every message answered
201 is stored exactly once; afterwards every request succeeds again.
With the shipped two processes and one killed, only requests in flight in
it fail; with every process killed at once, the gap until a new one
listens is measured and bounded (docs/security.md, "Known issues")."""

import os
import signal
import threading
import time

import faultlib as F
from faultlib import R

sys_path_e2e = os.path.join(F.TOP, "tests", "e2e")
N_THREADS = 8
KILLS = 2
GRACE = 0.1


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


def run_phase(fx, E, max_procs, kill_one):
    """Start the stack (lighttpd spawning chat-api, max-procs as given),
    load it from N_THREADS clients, kill chat-api KILLS times (one process
    or all), and return the measurements."""
    real_render = E.render

    def render(template, **values):
        text = real_render(template, **values)
        return text.replace('"max-procs" => 2,', f'"max-procs" => {max_procs},')
    E.render = render
    st = E.Stack("lighttpd")
    try:
        st.start_relay()
        st.start_web()
        lighttpd = next(p for name, p, _ in st.procs if name == "lighttpd")
        R.wait_until(lambda: len(api_pids(lighttpd.pid)) >= max_procs, 30,
                     f"{max_procs} chat-api processes")
        http = lambda *a, **kw: E.http(st.base, *a, **kw)  # noqa: E731
        tokens = []
        for i in range(N_THREADS):
            name = f"k9api{max_procs}_{i}_{os.getpid()}"
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
                time.sleep(0.01)
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(N_THREADS)]
        for t in threads:
            t.start()
        kills = []
        try:
            for k in range(KILLS):
                time.sleep(3)
                pids = api_pids(lighttpd.pid)
                R.check(pids, "no chat-api child of lighttpd found")
                victims = pids[:1] if kill_one else pids
                t_kill = time.monotonic()
                for pid in victims:
                    os.kill(pid, signal.SIGKILL)
                kills.append((t_kill, victims))
                R.wait_until(lambda: len(api_pids(lighttpd.pid)) >= max_procs and
                             set(api_pids(lighttpd.pid)).isdisjoint(victims), 30,
                             "lighttpd to start a new chat-api")
            time.sleep(3)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        R.check(lighttpd.poll() is None, "lighttpd died")
        rows = fx.db.sql(f"SELECT id, content FROM messages WHERE room_id = {int(rid)}")
    finally:
        E.render = real_render
        reports = st.sanitizer_reports()
        st.stop()
    R.check(not reports, f"sanitizer reports: {reports}")

    failed = [r for r in results if r[3] not in (200, 201)]
    # In flight: sent before the killed process was gone. SIGKILL and the
    # web server noticing the closed socket take a moment: GRACE.
    in_flight = [r for r in failed if any(r[0] <= tk + GRACE and r[1] >= tk
                                          for tk, _ in kills)]
    other = [r for r in failed if r not in in_flight]
    # How long after a kill requests kept failing.
    window = max([r[1] - max(tk for tk, _ in kills if tk <= r[0]) for r in other
                  if any(tk <= r[0] for tk, _ in kills)] or [0.0])
    R.log(f"   max-procs {max_procs}, killing {'one' if kill_one else 'all'}: "
          f"{len(results)} requests, {len(failed)} failed ({len(in_flight)} in flight at a "
          f"kill, {len(other)} after it, up to {window:.1f}s after); statuses "
          f"{sorted(set(r[3] for r in failed))}")
    # At most one request per client in flight at a kill, plus one more
    # started within the grace time. (With every process killed, requests
    # fail until a new one listens: run_phase's caller bounds that window.)
    if kill_one:
        R.check(len(in_flight) <= 2 * N_THREADS * KILLS,
                f"{len(in_flight)} failures in flight for {N_THREADS} clients x {KILLS} kills")
    last = sorted(results, key=lambda r: r[0])[-N_THREADS * 3:]
    R.check(all(r[3] in (200, 201) for r in last), "requests after the kills fail")
    created = [r[4]["id"] for r in results if r[2] == "post" and r[3] == 201]
    ids = {int(r[0]) for r in rows}
    lost = [i for i in created if i not in ids]
    R.check(not lost, f"{len(lost)} messages answered 201 are not stored")
    contents = [r[1] for r in rows]
    R.check(len(contents) == len(set(contents)), "a message stored twice")
    return other, window


def e2e_stack(fx):
    import sys
    sys.path.insert(0, sys_path_e2e)
    os.environ.update(fx.db.env())
    import stack as E
    return E


@R.timeout(180)
async def t_api_kill9_two_procs(fx):
    """The shipped config, two chat-api processes, one killed at a time: the
    other serves, so nothing but the requests in flight in the killed one
    may fail."""
    if not R._find("lighttpd"):
        R.log("SKIP: lighttpd not installed")
        return
    other, _ = run_phase(fx, e2e_stack(fx), 2, kill_one=True)
    R.check(not other, f"{len(other)} requests failed that were not in flight at a kill, "
                       f"e.g. {[(r[2], r[3], str(r[4])[:60]) for r in other[:3]]}")


@R.timeout(180)
async def t_api_kill9_all_processes(fx):
    """Every chat-api process killed (here the only one): the web server
    starts a new one and the service comes back by itself within seconds.
    Requests that arrive before the new process listens fail (503):
    measured, bounded."""
    if not R._find("lighttpd"):
        R.log("SKIP: lighttpd not installed")
        return
    other, window = run_phase(fx, e2e_stack(fx), 1, kill_one=False)
    R.check(window < 10, f"requests kept failing {window:.1f}s after a kill")


if __name__ == "__main__":
    R.main([t_api_kill9_two_procs, t_api_kill9_all_processes])
