"""Tokens and passwords never reach a log (CONTRACT.md, docs/security.md):
a scenario that registers, logs in (right and wrong passwords, an unknown
user), refreshes, uses the tokens in the Authorization header and in
?token= (HTTP and WebSocket), and presents forged and expired tokens; then
every log the programs wrote (chat-relay's and chat-api's output at debug
level, MariaDB's error log) is searched for each secret."""

import secrets

import seclib
from seclib import R

S = {}


def setup(fx):
    S["relay"] = fx.relay(CHAT_LOG_LEVEL="debug")
    S["api"] = seclib.api(fx, "log.level=debug")


async def t_no_secret_in_any_log(fx):
    srv, relay = S["api"], S["relay"]
    name = seclib.apitest.unique("logs")
    pw = "Pw-" + secrets.token_hex(12)
    wrong_pw = "Wrong-" + secrets.token_hex(12)
    unknown_pw = "Unk-" + secrets.token_hex(12)
    r = srv.post("/api/auth/register/", {"username": name, "password": pw})
    R.eq(r.status, 201, "register")
    uid = r.json["id"]
    tokens = srv.login(name, pw)
    access, refresh = tokens["access"], tokens["refresh"]
    R.eq(srv.post("/api/auth/token/", {"username": name, "password": wrong_pw}).status, 401,
         "wrong password")
    R.eq(srv.post("/api/auth/token/", {"username": name + "x", "password": unknown_pw}).status,
         401, "unknown user")
    # A registration refused as a duplicate carries a password too.
    R.eq(srv.post("/api/auth/register/", {"username": name, "password": unknown_pw}).status,
         409, "duplicate registration")
    r = srv.post("/api/auth/token/refresh/", {"refresh": refresh})
    R.eq(r.status, 200, "refresh")
    access2 = r.json["access"]
    srv.get("/api/auth/me/", token=access).expect(200)
    # Tokens in the URL: the request log must mask them.
    srv.get("/api/chat/rooms/?token=" + access + "&access=" + access2 +
            "&refresh=" + refresh, token=access).expect(200)
    forged = access[:-6] + ("AAAAAA" if not access.endswith("AAAAAA") else "BBBBBB")
    R.eq(srv.get("/api/auth/me/", token=forged).status, 401, "forged token")
    expired = R.make_jwt(R.simplejwt_claims(uid, lifetime=-3600), fx.secret)
    R.eq(srv.get("/api/auth/me/", token=expired).status, 401, "expired token")
    R.eq(srv.post("/api/auth/token/refresh/", {"refresh": forged}).status, 401,
         "forged refresh")

    user = R.User(uid, name, access)
    room = fx.room(user)
    c = await relay.connect(room, token=access)
    await c.chat("hello from the log test")
    await c.close()
    c = await relay.connect(room, token=access2, last_id=0)
    await c.close()
    await R.expect_refused(relay, room, forged, 4401, what="forged token")
    await R.expect_refused(relay, room, expired, 4401, what="expired token")
    await R.expect_refused(relay, room, refresh, 4401, what="refresh token")

    logs = {"chat-api": srv.log_text(), "chat-relay": relay.output(),
            "mariadb": fx.db.error_log()}
    # The logs were written (so searching them means something).
    R.check("/api/auth/token/" in logs["chat-api"],
            "chat-api's request log has no line for /api/auth/token/")
    R.check(logs["chat-relay"].strip(), "chat-relay wrote nothing at debug level")
    found = []
    named = {"password": pw, "wrong password": wrong_pw, "unknown user's password": unknown_pw,
             "access token": access, "refreshed access token": access2,
             "refresh token": refresh, "forged token": forged, "expired token": expired,
             "JWT secret": fx.secret}
    for what, value in named.items():
        pieces = [value]
        if value.count(".") == 2:
            pieces.append(value.rsplit(".", 1)[1])  # the signature alone
        for log_name, text in logs.items():
            for p in pieces:
                if p and p in text:
                    line = next(ln for ln in text.splitlines() if p in ln)
                    found.append(f"{what} in {log_name}'s log: {line[:300]!r}")
                    break
    R.check(not found, "secrets in logs:\n  " + "\n  ".join(found))


if __name__ == "__main__":
    seclib.main([t_no_secret_in_any_log], setup)
