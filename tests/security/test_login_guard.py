"""Login is guarded (CONTRACT.md "HTTP API"): brute force is rate limited
per user name and per client address with 429 and Retry-After, even for
the right password once the limit is hit; and an unknown user and a wrong
password get the same answer in about the same time (no user
enumeration by status, body or timing: medians of 10 tries each)."""

import statistics
import time

import seclib
from seclib import R

S = {}
LIMIT = 5


def setup(fx):
    S["limited"] = seclib.api(fx, env={"CHAT_AUTH_LOGIN_RATE_LIMIT": str(LIMIT),
                                       "CHAT_AUTH_LOGIN_RATE_WINDOW": "60"})
    # Real password hashing cost (the defaults), no rate limit in the way.
    S["timed"] = seclib.api(fx, env={"CHAT_AUTH_PASSWORD_OPS_LIMIT": "2",
                                     "CHAT_AUTH_PASSWORD_MEM_KIB": "19456",
                                     "CHAT_AUTH_LOGIN_RATE_LIMIT": "0"})


def login(srv, name, pw, addr):
    return srv.post("/api/auth/token/", {"username": name, "password": pw}, remote_addr=addr)


def register(srv, name, pw, addr):
    r = srv.post("/api/auth/register/", {"username": name, "password": pw}, remote_addr=addr)
    R.eq(r.status, 201, f"register {name}")


def expect_429(r, what):
    R.eq(r.status, 429, what)
    ra = r.header("Retry-After")
    R.check(ra is not None and ra.isdigit() and 1 <= int(ra) <= 60,
            f"{what}: Retry-After {ra!r}")
    R.check(isinstance(r.json.get("detail"), str), f"{what}: body {r.body!r}")


async def t_brute_force_same_address(fx):
    srv = S["limited"]
    name = seclib.apitest.unique("bf")
    register(srv, name, "right password 1", "10.9.0.1")
    statuses = [login(srv, name, f"guess {i}", "10.1.1.1").status for i in range(LIMIT + 3)]
    R.check(401 in statuses[:LIMIT - 1], f"first guesses not answered 401: {statuses}")
    R.check(statuses[-1] == 429 and statuses[-2] == 429,
            f"{LIMIT + 3} guesses from one address for one name: {statuses}")
    expect_429(login(srv, name, "guess x", "10.1.1.1"), "guess after the limit")
    # The right password does not get through the limit either.
    expect_429(login(srv, name, "right password 1", "10.1.1.1"), "right password after the limit")


async def t_brute_force_one_name_many_addresses(fx):
    srv = S["limited"]
    name = seclib.apitest.unique("bfn")
    register(srv, name, "right password 2", "10.9.0.2")
    statuses = [login(srv, name, f"guess {i}", f"10.2.0.{i + 1}").status
                for i in range(LIMIT + 3)]
    R.check(statuses[-1] == 429,
            f"guesses for one name from {LIMIT + 3} addresses: {statuses}")
    expect_429(login(srv, name, "right password 2", "10.2.1.1"),
               "right password, new address, limited name")


async def t_brute_force_one_address_many_names(fx):
    srv = S["limited"]
    statuses = [login(srv, seclib.apitest.unique("nobody"), "guess", "10.3.3.3").status
                for _ in range(LIMIT + 3)]
    R.check(statuses[-1] == 429, f"{LIMIT + 3} names from one address: {statuses}")
    # Someone else, elsewhere, is not affected.
    name = seclib.apitest.unique("ok")
    register(srv, name, "right password 3", "10.4.4.4")
    R.eq(login(srv, name, "right password 3", "10.4.4.5").status, 200,
         "another user from another address")


async def t_unknown_user_vs_wrong_password(fx):
    srv = S["timed"]
    name = seclib.apitest.unique("timing")
    register(srv, name, "right password 4", "10.5.0.1")
    unknown, wrong, bodies = [], [], set()
    for i in range(10):
        for kind, n in (("unknown", seclib.apitest.unique("ghost")), ("wrong", name)):
            t0 = time.monotonic()
            r = login(srv, n, f"wrong password {i}", "10.5.0.2")
            dt = time.monotonic() - t0
            R.eq(r.status, 401, f"{kind} login status")
            bodies.add(r.body)
            (unknown if kind == "unknown" else wrong).append(dt)
    R.eq(len(bodies), 1, f"answers differ between unknown user and wrong password: {bodies}")
    mu, mw = statistics.median(unknown), statistics.median(wrong)
    fx_note = f"median unknown user {mu * 1000:.1f} ms, wrong password {mw * 1000:.1f} ms"
    R.log("   " + fx_note)
    # Generous: within a factor of 3 (a skipped hash is ~50x faster), or
    # both too fast to tell apart.
    R.check(max(mu, mw) <= 3 * min(mu, mw) or abs(mu - mw) < 0.005,
            "an unknown user is answered measurably faster or slower: " + fx_note)


if __name__ == "__main__":
    seclib.main([t_brute_force_same_address, t_brute_force_one_name_many_addresses,
                 t_brute_force_one_address_many_names, t_unknown_user_vs_wrong_password],
                setup)
