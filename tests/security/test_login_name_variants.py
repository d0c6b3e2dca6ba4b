"""Spellings of a user name: the users table compares names under
utf8mb4_unicode_ci (trailing spaces ignored, accents folded), which keeps
look-alike names from being registered; a login, though, must reach an
account only under its own name (ASCII case aside). Otherwise a guesser
rotating client addresses and spellings ("victim", "victim ", "víctim")
would never meet the per-name login limit."""

import seclib
from seclib import R

S = {}
LIMIT = 5


def setup(fx):
    S["api"] = seclib.api(fx, env={"CHAT_AUTH_LOGIN_RATE_LIMIT": str(LIMIT),
                                   "CHAT_AUTH_LOGIN_RATE_WINDOW": "60"})


def login(srv, name, pw, addr):
    return srv.post("/api/auth/token/", {"username": name, "password": pw}, remote_addr=addr)


async def t_spellings_do_not_reach_the_account(fx):
    srv = S["api"]
    name = "victim" + seclib.apitest.unique("v").replace("_", "")
    r = srv.post("/api/auth/register/", {"username": name, "password": "right password 9"},
                 remote_addr="10.8.0.1")
    R.eq(r.status, 201, "register")
    # Look-alike registrations are refused as taken.
    for alike in (name.upper(), name.replace("i", "í", 1)):
        R.eq(srv.post("/api/auth/register/", {"username": alike, "password": "other pass 9"},
                      remote_addr="10.8.0.2").status, 409, f"register look-alike {alike!r}")
    # Other spellings do not log in, even with the right password.
    for i, n in enumerate([name + " ", name + "   ", name.replace("i", "í", 1)]):
        R.eq(login(srv, n, "right password 9", f"10.8.1.{i + 1}").status, 401,
             f"login as {n!r}")
    # ASCII case aside, the name itself does.
    R.eq(login(srv, name.upper(), "right password 9", "10.8.1.9").status, 200, "login upper")


async def t_every_spelling_that_logs_in_shares_the_limit(fx):
    srv = S["api"]
    name = "target" + seclib.apitest.unique("t").replace("_", "")
    R.eq(srv.post("/api/auth/register/", {"username": name, "password": "right password 9"},
                  remote_addr="10.9.0.1").status, 201, "register")
    spellings = [name, name.upper(), name.capitalize(), name.swapcase()]
    statuses = [login(srv, spellings[i % len(spellings)], f"guess {i}",
                      f"10.9.2.{i + 1}").status for i in range(LIMIT + 3)]
    last = login(srv, name, "right password 9", "10.9.3.1").status
    R.check(429 in statuses and last == 429,
            f"guesses at one account under case variants from different addresses "
            f"were never limited: {statuses}, then the right password -> {last}")


if __name__ == "__main__":
    seclib.main([t_spellings_do_not_reach_the_account,
                 t_every_spelling_that_logs_in_shares_the_limit], setup)
