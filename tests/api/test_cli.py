"""chat-api's command line: --version, --help, --check-config, bad
options and settings, refusing to run without a FastCGI socket, and the
spawned mode (the FastCGI listening socket on stdin, as lighttpd
mod_fastcgi, Apache mod_fcgid and spawn-fcgi start it)."""

import os
import signal
import socket
import subprocess
import tempfile
import time

import fcgi_client
from apitest import CHAT_API, check, eq, run, tests_of


def cli(*args, env=None, stdin=subprocess.DEVNULL):
    full = dict(os.environ)
    full.update(env or {})
    p = subprocess.run([CHAT_API] + list(args), capture_output=True, text=True, env=full,
                       stdin=stdin, timeout=30)
    return p.returncode, p.stdout + p.stderr


def test_version_and_help(srv):
    code, out = cli("--version")
    eq(code, 0)
    check(out.startswith("chat-api "), out)
    code, out = cli("--help")
    eq(code, 0)
    for word in ("--socket", "--listen", "--threads", "--check-config", "--set", "max_body_size"):
        check(word in out, "%s in --help" % word)
    code, out = cli("--no-such-option")
    eq(code, 2)
    code, out = cli("stray-argument")
    eq(code, 2)


def test_check_config(srv):
    code, out = cli("--check-config")
    eq((code, out.strip()), (0, "configuration OK"))
    code, out = cli("--check-config", env={"CHAT_AUTH_JWT_SECRET": ""})
    check(code != 0, "no secret accepted")
    check("secret" in out, out)
    code, out = cli("--check-config", "--set", "api.nosuchkey=1")
    check(code != 0 and "nosuchkey" in out, out)
    code, out = cli("--check-config", "--threads", "0")
    check(code != 0 and "threads" in out, out)
    code, out = cli("--check-config", "-c", "/nonexistent/chat.conf")
    check(code != 0 and "/nonexistent/chat.conf" in out, out)
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write("[api]\nmax_body_size = 2048\nbogus = 1\n")
    try:
        code, out = cli("--check-config", "-c", f.name)
        check(code != 0 and f.name + ":3" in out, out)
    finally:
        os.unlink(f.name)


def test_refuses_without_socket(srv):
    code, out = cli(stdin=subprocess.DEVNULL)
    check(code != 0, "ran without a FastCGI socket")
    check("FastCGI" in out and "--socket" in out, out)


def test_socket_in_use(srv):
    # srv listens on its socket: a second chat-api must not take it over.
    code, out = cli("--socket", srv.addr)
    check(code != 0, "second chat-api started on a socket in use")
    check("in use" in out, out)
    srv.get("/api/chat/health/").expect(200)
    # A stale socket file (nobody listening) is replaced.
    d = tempfile.mkdtemp(prefix="chatstale.", dir="/tmp")
    path = os.path.join(d, "api.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()
    from apitest import Server
    other = Server(socket_path=path)
    try:
        other.get("/api/chat/health/").expect(200)
    finally:
        other.stop()
        check(not os.path.exists(path), "socket file removed at exit")
        os.rmdir(d)


def test_spawned_on_stdin(srv):
    d = tempfile.mkdtemp(prefix="chatspawn.", dir="/tmp")
    path = os.path.join(d, "spawn.sock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    lsock.listen(16)
    log = open(os.path.join(d, "log"), "wb")
    proc = subprocess.Popen([CHAT_API, "--threads", "2"], stdin=lsock.fileno(), stdout=log,
                            stderr=subprocess.STDOUT)
    lsock.close()
    try:
        deadline = time.time() + 20
        while True:
            try:
                st, hd, body, _ = fcgi_client.request(path, {
                    "REQUEST_METHOD": "GET", "REQUEST_URI": "/api/chat/health/"}, timeout=5)
                break
            except OSError:
                check(time.time() < deadline and proc.poll() is None, "spawned chat-api not ready")
                time.sleep(0.05)
        eq(st, 200, "health through the inherited socket")
        for _ in range(5):
            st, _, _, _ = fcgi_client.request(path, {"REQUEST_METHOD": "GET",
                                                     "REQUEST_URI": "/api/chat/"})
            eq(st, 200)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        log.close()
        text = open(os.path.join(d, "log"), errors="replace").read()
        os.unlink(path)
        os.unlink(os.path.join(d, "log"))
        os.rmdir(d)
    eq(code, 0, "exit code after SIGTERM:\n" + text)
    check("AddressSanitizer" not in text and "runtime error:" not in text, text)


if __name__ == "__main__":
    run(tests_of(globals()))
