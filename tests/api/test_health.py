"""HTTP API: health and the API root (no token needed), and a database
outage: 503 while it is down, normal service once it is back."""

import os
import signal
import subprocess
import time

from apitest import Server, check, eq, run, tests_of


def test_health_no_token(srv):
    r = srv.get("/api/chat/health/").expect(200)
    eq(r.json, {"status": "ok"})


def test_root_index(srv):
    r = srv.get("/api/chat/").expect(200)
    idx = r.json
    eq(idx["rooms"], "http://localhost:8000/api/chat/rooms/")
    for key in ("unread", "health", "register", "token", "token_refresh", "logout", "me"):
        check(idx[key].startswith("http://localhost:8000/api/"), "%s: %r" % (key, idx[key]))
    # Every URL of the index answers (the authenticated ones with 401).
    for key, url in idx.items():
        path = url[len("http://localhost:8000"):]
        method = "POST" if key in ("register", "token", "token_refresh", "logout") else "GET"
        got = srv.request(method, path, json_body={})
        check(got.status in (200, 400, 401), "%s %s -> %d" % (method, path, got.status))
    # Scheme and host follow the request.
    r = srv.get("/api/chat/", headers={"Host": "chat.example.org"}, params={"HTTPS": "on"})
    eq(r.expect(200).json["rooms"], "https://chat.example.org/api/chat/rooms/")
    # A Host header that is not a host name is not echoed.
    r = srv.get("/api/chat/", headers={"Host": "evil.example/<script>"},
                params={"SERVER_NAME": "api.internal", "SERVER_PORT": "8080"}).expect(200)
    eq(r.json["rooms"], "http://api.internal:8080/api/chat/rooms/")


def _wait_gone(pid, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    return
        except OSError:
            return
        time.sleep(0.05)
    raise AssertionError("mariadbd %d did not exit" % pid)


def test_database_down_and_back(srv):
    user = srv.user()
    room = srv.room(user)
    pid = int(os.environ["CHAT_TEST_DB_PID"])
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        cmdline = [a.decode() for a in f.read().split(b"\0") if a]
    os.kill(pid, signal.SIGKILL)
    _wait_gone(pid)
    restarted = None
    late = None
    try:
        for _ in range(2):  # the first failure and the retries after it
            r = srv.get("/api/chat/health/").expect(503)
            eq(r.json, {"detail": "database unavailable"})
            r = srv.get("/api/chat/rooms/", token=user.token).expect(503)
            eq(r.detail(), "database unavailable")
            srv.post("/api/chat/rooms/%d/messages/" % room["id"], {"content": "lost?"},
                     token=user.token).expect(503)
            srv.post("/api/auth/token/", {"username": user.username,
                                          "password": "correct horse 1"}).expect(503)
        check(srv.proc.poll() is None, "chat-api still running")
        # chat-api also starts while the database is down.
        late = Server()
        late.get("/api/chat/health/").expect(503)
        restarted = subprocess.Popen(cmdline, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:
            if srv.get("/api/chat/health/").status == 200:
                break
            time.sleep(0.1)
        srv.get("/api/chat/health/").expect(200)
        # Every worker thread reconnects: several requests in a row work.
        for i in range(6):
            srv.get("/api/chat/rooms/", token=user.token).expect(200)
            srv.send(user, room["id"], "back %d" % i)
        ids = [m["content"] for m in srv.get("/api/chat/rooms/%d/messages/" % room["id"],
                                             token=user.token).expect(200).json["results"]]
        check("lost?" not in ids, "nothing stored while down")
        eq(len(ids), 6)
        late.get("/api/chat/health/").expect(200)
        late.get("/api/auth/me/", token=user.token).expect(200)
        late.stop()
        late = None
    finally:
        if late:
            late.stop(expect_code=None)
        if restarted:
            restarted.terminate()
            try:
                restarted.wait(timeout=30)
            except subprocess.TimeoutExpired:
                restarted.kill()


if __name__ == "__main__":
    run(tests_of(globals()))
