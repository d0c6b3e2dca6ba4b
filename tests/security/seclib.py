"""Glue for the security tests: the relay tests' fixture (private MariaDB,
chat-relay processes, WebSocket clients: tests/relay/relaylib.py) and the
API tests' chat-api server and FastCGI client (tests/api/apitest.py),
used together in one script. Nothing here duplicates them; it only starts
a chat-api against the fixture's database and secret."""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "relay"))
sys.path.insert(0, os.path.join(TOP, "tests", "api"))

import relaylib as R  # noqa: E402
import apitest  # noqa: E402

KEYDIR = os.path.join(R.TOP_SRCDIR, "tests", "unit", "data")
RSA_PUBLIC = os.path.join(KEYDIR, "rsa-public.pem")
RSA_PRIVATE = os.path.join(KEYDIR, "rsa-private.pem")

_apis = []


def api(fx, *settings, env=None, threads=2):
    """A chat-api on a private socket, against fx's database and JWT
    secret. Extra settings are --set section.key=value strings; env adds
    CHAT_* variables (e.g. to lower the login rate limit)."""
    os.environ.update(fx.db.env())
    os.environ["CHAT_AUTH_JWT_SECRET"] = fx.secret
    # Cheap password hashing, as the API tests use, unless a test asks
    # for the real cost.
    e = {"CHAT_AUTH_PASSWORD_OPS_LIMIT": "1", "CHAT_AUTH_PASSWORD_MEM_KIB": "8192"}
    e.update(env or {})
    srv = apitest.Server(*settings, env=e, threads=threads)
    _apis.append(srv)
    return srv


def stop_apis():
    """Stop every chat-api started here; raises on a sanitizer report or
    a bad exit status."""
    errs = []
    while _apis:
        s = _apis.pop()
        try:
            s.stop()
        except apitest.Failure as e:
            errs.append(str(e))
    if errs:
        raise R.TestFailure("; ".join(errs)[:4000])


def b64url(data):
    return R.b64url(data)


def rs256(payload):
    """An RS256 token signed with the unit tests' throwaway private key."""
    import json
    h = b64url(b'{"alg":"RS256","typ":"JWT"}')
    p = b64url(json.dumps(payload, separators=(",", ":")).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", RSA_PRIVATE],
                         input=f"{h}.{p}".encode(), capture_output=True, check=True).stdout
    return f"{h}.{p}.{b64url(sig)}"


def main(checks, setup=None):
    """relaylib.main over checks, plus a last check that stops every
    chat-api and fails on a sanitizer report or a bad exit status."""
    import atexit
    atexit.register(lambda: [s.proc.kill() for s in _apis if s.proc.poll() is None])

    async def t_api_shutdown(fx):
        stop_apis()
    R.main(list(checks) + [t_api_shutdown], setup)
