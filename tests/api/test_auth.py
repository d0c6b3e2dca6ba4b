"""HTTP API: registration, tokens, refresh, /me, Bearer checks, the
anonymous user, and the login/registration rate limit."""

import base64
import hashlib
import hmac
import json
import os
import time

from apitest import Server, check, eq, run, sql, tests_of, unique

SECRET = os.environ["CHAT_AUTH_JWT_SECRET"].encode()


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(payload, alg="HS256", secret=SECRET, header_extra=None):
    hdr = {"alg": alg, "typ": "JWT"}
    hdr.update(header_extra or {})
    header = b64(json.dumps(hdr).encode())
    body = b64(json.dumps(payload).encode())
    signing = (header + "." + body).encode()
    if alg == "none":
        return header + "." + body + "."
    digest = {"HS384": hashlib.sha384, "HS512": hashlib.sha512}.get(alg, hashlib.sha256)
    sig = hmac.new(secret, signing, digest).digest()
    return header + "." + body + "." + b64(sig)


def test_register_ok(srv):
    name = unique("alice")
    r = srv.post("/api/auth/register/", {"username": name, "password": "s3cret-pass"}).expect(201)
    eq(set(r.json), {"id", "username"}, "keys")
    eq(r.json["username"], name)
    check(isinstance(r.json["id"], int) and r.json["id"] > 1, "id %r" % r.json["id"])


def test_register_taken_409(srv):
    name = unique("bob")
    srv.register(name)
    r = srv.post("/api/auth/register/", {"username": name, "password": "another-pass"})
    r.expect(409)
    check("username" in r.detail(), r.detail())
    # Names compare case-insensitively.
    srv.post("/api/auth/register/", {"username": name.upper(), "password": "x" * 10}).expect(409)


def test_register_invalid_400(srv):
    cases = [
        ({"password": "long enough"}, "username:"),
        ({"username": unique(), }, "password:"),
        ({"username": 42, "password": "long enough"}, "username:"),
        ({"username": "", "password": "long enough"}, "username:"),
        ({"username": "has space", "password": "long enough"}, "username:"),
        ({"username": "x" * 151, "password": "long enough"}, "username:"),
        ({"username": unique(), "password": "short"}, "password:"),
        ({"username": unique(), "password": None}, "password:"),
        ({"username": unique(), "password": ["a"]}, "password:"),
    ]
    for body, prefix in cases:
        r = srv.post("/api/auth/register/", body).expect(400, repr(body))
        check(r.detail().startswith(prefix), "%r -> %r" % (body, r.detail()))


def test_token_and_me(srv):
    uid, name = srv.register()
    tokens = srv.login(name)
    eq(set(tokens), {"access", "refresh"}, "token keys")
    r = srv.get("/api/auth/me/", token=tokens["access"]).expect(200)
    eq(r.json, {"id": uid, "username": name})
    # The login is case-insensitive on the name like registration.
    srv.post("/api/auth/token/", {"username": name.upper(),
                                  "password": "correct horse 1"}).expect(200)


def test_bad_credentials_same_answer(srv):
    uid, name = srv.register()
    unknown = srv.post("/api/auth/token/", {"username": unique("nobody"), "password": "whatever1"})
    wrong = srv.post("/api/auth/token/", {"username": name, "password": "wrong password"})
    unknown.expect(401)
    wrong.expect(401)
    eq(unknown.body, wrong.body, "bodies of unknown user and wrong password")
    eq(unknown.detail(), "No active account found with the given credentials")
    srv.post("/api/auth/token/", {"username": name}).expect(400)


def test_refresh(srv):
    uid, name = srv.register()
    tokens = srv.login(name)
    r = srv.post("/api/auth/token/refresh/", {"refresh": tokens["refresh"]}).expect(200)
    eq(set(r.json), {"access"})
    srv.get("/api/auth/me/", token=r.json["access"]).expect(200)
    # An access token is not a refresh token, and garbage is nothing.
    srv.post("/api/auth/token/refresh/", {"refresh": tokens["access"]}).expect(401)
    srv.post("/api/auth/token/refresh/", {"refresh": "abc.def.ghi"}).expect(401)
    srv.post("/api/auth/token/refresh/", {"refresh": ""}).expect(401)
    srv.post("/api/auth/token/refresh/", {}).expect(400)


def test_refresh_token_is_not_access(srv):
    uid, name = srv.register()
    tokens = srv.login(name)
    r = srv.get("/api/auth/me/", token=tokens["refresh"]).expect(401)
    check(r.header("WWW-Authenticate", ).startswith("Bearer"), "WWW-Authenticate")


def test_missing_and_bad_tokens_401(srv):
    r = srv.get("/api/auth/me/").expect(401)
    check(r.header("WWW-Authenticate").startswith("Bearer"), "WWW-Authenticate")
    eq(r.detail(), "Authentication credentials were not provided.")
    srv.get("/api/auth/me/", token="not-a-jwt").expect(401)
    srv.get("/api/auth/me/", headers={"Authorization": "Basic YWxpY2U6cGFzcw=="}).expect(401)
    srv.get("/api/chat/rooms/", token="x" * 20000).expect(401)


def test_crafted_tokens(srv):
    uid, name = srv.register()
    now = int(time.time())
    good = {"token_type": "access", "exp": now + 300, "iat": now, "jti": "abc",
            "user_id": uid}
    # A token as Django SimpleJWT issues it, with the shared secret: accepted.
    srv.get("/api/auth/me/", token=make_jwt(good)).expect(200)
    # sub instead of user_id.
    sub = dict(good)
    del sub["user_id"]
    sub["sub"] = str(uid)
    srv.get("/api/auth/me/", token=make_jwt(sub)).expect(200)
    # Expired, wrong secret, alg none, no exp, refresh type, unknown user.
    expired = dict(good, exp=now - 3600)
    srv.get("/api/auth/me/", token=make_jwt(expired)).expect(401)
    srv.get("/api/auth/me/", token=make_jwt(good, secret=b"other")).expect(401)
    srv.get("/api/auth/me/", token=make_jwt(good, alg="none")).expect(401)
    noexp = dict(good)
    del noexp["exp"]
    srv.get("/api/auth/me/", token=make_jwt(noexp)).expect(401)
    srv.get("/api/auth/me/", token=make_jwt(dict(good, token_type="refresh"))).expect(401)
    srv.get("/api/auth/me/", token=make_jwt(dict(good, user_id=10 ** 9))).expect(401)


def test_crit_header_refused(srv):
    # RFC 7515 4.1.11: a token whose crit header names extensions we do
    # not understand must be refused (it was accepted).
    uid, name = srv.register()
    now = int(time.time())
    good = {"token_type": "access", "exp": now + 300, "iat": now, "jti": "c", "user_id": uid}
    srv.get("/api/auth/me/", token=make_jwt(good)).expect(200)
    for crit in (["exp"], ["b64"], ["x-unknown"], [], "exp"):
        tok = make_jwt(good, header_extra={"crit": crit, "x-unknown": 1, "b64": True})
        srv.get("/api/auth/me/", token=tok).expect(401, "crit %r" % (crit,))


def test_token_for_anonymous_user_refused(srv):
    # A signed token for user 1 acted as anonymous while anonymous access
    # was off.
    now = int(time.time())
    tok = make_jwt({"token_type": "access", "exp": now + 300, "iat": now, "jti": "a",
                    "user_id": 1})
    srv.get("/api/auth/me/", token=tok).expect(401)
    srv.get("/api/chat/rooms/", token=tok).expect(401)
    anon = Server("auth.allow_anonymous=true")
    try:
        eq(anon.get("/api/auth/me/", token=tok).expect(200).json["id"], 1)
    finally:
        anon.stop()


def test_logout_revokes_refresh(srv):
    uid, name = srv.register()
    first, second = srv.login(name), srv.login(name)
    r = srv.post("/api/auth/logout/", {"refresh": first["refresh"]}).expect(200)
    eq(r.json, {"status": "ok"})
    r = srv.post("/api/auth/token/refresh/", {"refresh": first["refresh"]}).expect(401)
    # Idempotent; another session's refresh token still works.
    srv.post("/api/auth/logout/", {"refresh": first["refresh"]}).expect(200)
    srv.post("/api/auth/token/refresh/", {"refresh": second["refresh"]}).expect(200)
    # Durable: another chat-api process (a restart) refuses it too.
    other = Server()
    try:
        other.post("/api/auth/token/refresh/", {"refresh": first["refresh"]}).expect(401)
        other.post("/api/auth/token/refresh/", {"refresh": second["refresh"]}).expect(200)
    finally:
        other.stop()
    # The same token with a differently encoded signature is the same
    # token.
    h, p, sig = first["refresh"].split(".")
    srv.post("/api/auth/token/refresh/", {"refresh": "%s.%s.%s" % (h, p, sig + "=")})
    # Not a refresh token, garbage, missing: refused, nothing revoked.
    srv.post("/api/auth/logout/", {"refresh": second["access"]}).expect(401)
    srv.post("/api/auth/logout/", {"refresh": "abc.def.ghi"}).expect(401)
    srv.post("/api/auth/logout/", {}).expect(400)
    srv.post("/api/auth/token/refresh/", {"refresh": second["refresh"]}).expect(200)
    # The access token is not revoked by logout (it expires on its own).
    srv.get("/api/auth/me/", token=first["access"]).expect(200)


def test_inactive_user(srv):
    uid, name = srv.register()
    tokens = srv.login(name)
    sql("UPDATE users SET is_active = 0 WHERE id = %d" % uid)
    srv.get("/api/auth/me/", token=tokens["access"]).expect(401)
    srv.post("/api/auth/token/", {"username": name, "password": "correct horse 1"}).expect(401)
    srv.post("/api/auth/token/refresh/", {"refresh": tokens["refresh"]}).expect(401)


def test_inactive_or_missing_user_posts(srv):
    # Posting a message checks the user inside the write's transaction
    # (not before it); the answers must be those of every other route: 401
    # before any other refusal, and nothing stored or joined.
    owner = srv.user()
    room = srv.room(owner)["id"]
    srv.send(owner, room, "hello", client_id="c-1")
    uid, name = srv.register()
    tokens = srv.login(name)
    path = "/api/chat/rooms/%d/messages/" % room
    srv.post(path, {"content": "while active"}, token=tokens["access"]).expect(201)
    sql("UPDATE users SET is_active = 0 WHERE id = %d" % uid)
    now = int(time.time())
    ghost = make_jwt({"token_type": "access", "exp": now + 300, "iat": now, "jti": "g",
                      "user_id": 10 ** 9})
    for tok in (tokens["access"], ghost):
        for p, body in ((path, {"content": "still here?"}),
                        (path, {"content": "hello", "client_id": "c-1"}),
                        (path, {"content": ""}),
                        (path, {"content": "x", "message_type": "bogus"}),
                        (path, {}),
                        ("/api/chat/rooms/987654321/messages/", {"content": "nowhere"})):
            r = srv.post(p, body, token=tok).expect(401, "%s %r" % (p, body))
            eq(r.detail(), "User not found or inactive")
            check((r.header("WWW-Authenticate") or "").startswith("Bearer"),
                  "WWW-Authenticate: %r" % r.headers)
    eq(sql("SELECT COUNT(*) FROM messages WHERE sender_id = %d" % uid), [["1"]],
       "only the message sent while active")
    # Made active again: posting works at once.
    sql("UPDATE users SET is_active = 1 WHERE id = %d" % uid)
    srv.post(path, {"content": "back"}, token=tokens["access"]).expect(201)


def test_anonymous(srv):
    srv.get("/api/auth/me/").expect(401)
    anon = Server("auth.allow_anonymous=true")
    try:
        r = anon.get("/api/auth/me/").expect(200)
        eq(r.json, {"id": 1, "username": "anonymous"})
        # A token, when given, still has to be valid.
        anon.get("/api/auth/me/", token="garbage").expect(401)
        anon.post("/api/auth/token/", {"username": "anonymous", "password": "anything1"}).expect(401)
        # The anonymous user posts like any active user.
        owner = anon.user()
        rid = anon.room(owner)["id"]
        m = anon.post("/api/chat/rooms/%d/messages/" % rid, {"content": "hi"}).expect(201).json
        eq(m["sender"], {"id": 1, "username": "anonymous"})
    finally:
        anon.stop()


def test_rate_limit(srv):
    limited = Server("auth.login_rate_limit=3", "auth.login_rate_window=60",
                     env={"CHAT_AUTH_LOGIN_RATE_LIMIT": "3"})
    try:
        # Per user name, across addresses.
        name = unique("target")
        for i in range(3):
            limited.post("/api/auth/token/", {"username": name, "password": "guess%d" % i},
                         remote_addr="10.0.0.%d" % (i + 1)).expect(401)
        r = limited.post("/api/auth/token/", {"username": name, "password": "guess9"},
                         remote_addr="10.0.0.99").expect(429)
        wait = int(r.header("Retry-After"))
        check(1 <= wait <= 60, "Retry-After %d" % wait)
        # Per address, across names (registration counts too).
        for i in range(3):
            limited.post("/api/auth/register/", {"username": unique("r"), "password": "p" * 10},
                         remote_addr="10.1.1.1").expect(201)
        r = limited.post("/api/auth/token/", {"username": unique("x"), "password": "p" * 10},
                         remote_addr="10.1.1.1").expect(429)
        check(r.header("Retry-After"), "Retry-After")
        # X-Forwarded-For changes nothing.
        limited.post("/api/auth/token/", {"username": unique("y"), "password": "p" * 10},
                     remote_addr="10.1.1.1",
                     headers={"X-Forwarded-For": "192.0.2.1"}).expect(429)
        # Another name from another address is not limited.
        limited.post("/api/auth/token/", {"username": unique("z"), "password": "p" * 10},
                     remote_addr="10.2.2.2").expect(401)
    finally:
        limited.stop()


if __name__ == "__main__":
    run(tests_of(globals()))
