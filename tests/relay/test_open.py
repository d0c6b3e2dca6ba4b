"""Opening a WebSocket: connection_established, and every refusal with its
error frame and close code (CONTRACT.md "Identity", "Opening")."""

import time
import urllib.request

import relaylib as R

S = {}


def setup(fx):
    S["relay"] = fx.relay()
    S["anon"] = fx.relay(CHAT_AUTH_ALLOW_ANONYMOUS="1")


def check_established(hello, user):
    R.eq(hello["type"], "connection_established", "first frame type")
    R.eq(hello.get("message"), "连接成功", "connection_established.message")
    u = hello.get("user")
    R.check(isinstance(u, dict), f"user is not an object: {hello}")
    R.eq({"id": u.get("id"), "username": u.get("username")}, user.ref(),
         "connection_established.user")
    online = hello.get("online")
    R.check(isinstance(online, list), f"connection_established has no online list: {hello}")
    for o in online:
        R.check(isinstance(o, dict) and isinstance(o.get("id"), int) and
                isinstance(o.get("username"), str), f"online entry malformed: {o!r}")
    R.check(user.ref() in [{"id": o["id"], "username": o["username"]} for o in online],
            f"online list {online} does not include the newcomer {user.ref()}")


async def t_established_shape(fx):
    relay = S["relay"]
    a = fx.user("alice")
    room = fx.room(a)
    c = await relay.connect(room, a)
    # connection_established must be the very first frame
    R.eq(c.history[0]["type"], "connection_established", "type of the first frame")
    check_established(c.hello, a)
    c2 = await relay.connect(room, a, slash=False)
    check_established(c2.hello, a)
    # a user already present is in the newcomer's online list
    b = fx.user("bob")
    c3 = await relay.connect(room, b)
    check_established(c3.hello, b)
    R.check(a.ref() in [{"id": o["id"], "username": o["username"]} for o in c3.hello["online"]],
            f"online list {c3.hello['online']} lacks {a.ref()} who is connected")


async def t_chatctl_minted_token(fx):
    relay = S["relay"]
    a = fx.user("minted")
    room = fx.room(a)
    c = await relay.connect(room, token=fx.mint(a))
    check_established(c.hello, a)


async def t_simplejwt_token(fx):
    """A token shaped exactly as djangorestframework-simplejwt issues it
    (HS256, claims token_type/exp/iat/jti/user_id), signed with the shared
    secret, and one using sub instead of user_id."""
    relay = S["relay"]
    a = fx.user("django")
    room = fx.room(a)
    now = int(time.time())
    tok = R.make_jwt({"token_type": "access", "exp": now + 300, "iat": now,
                      "jti": "6f1d2c1e0b8a4f0c9d3e2a1b0c9d8e7f", "user_id": a.id}, fx.secret)
    c = await relay.connect(room, token=tok)
    check_established(c.hello, a)
    tok = R.make_jwt({"exp": now + 300, "sub": str(a.id)}, fx.secret)
    c = await relay.connect(room, token=tok)
    check_established(c.hello, a)


async def t_missing_token(fx):
    relay = S["relay"]
    a = fx.user("nota")
    room = fx.room(a)
    await R.expect_refused(relay, room, None, 4401, what="no token")
    await R.expect_refused(relay, room, "", 4401, what="empty token")
    await R.expect_refused(relay, room, None, 4401, slash=False, what="no token, no slash")


async def t_bad_tokens(fx):
    relay = S["relay"]
    a = fx.user("victim")
    room = fx.room(a)
    now = int(time.time())
    good = R.simplejwt_claims(a.id)
    cases = {
        "garbage": "garbage",
        "three garbage parts": "abc.def.ghi",
        "alg none": R.make_jwt(good, fx.secret, alg="none",
                               header={"alg": "none", "typ": "JWT"}),
        "alg none, empty sig": R.make_jwt(good, fx.secret, alg="none",
                                          header={"alg": "none", "typ": "JWT"}).rstrip("."),
        "HS512 with the right secret": R.make_jwt(good, fx.secret, alg="HS512"),
        "expired an hour ago": R.make_jwt(R.simplejwt_claims(a.id, now=now - 7200), fx.secret),
        "wrong secret": R.make_jwt(good, "another-secret-of-sufficient-length-123456"),
        "no exp": R.make_jwt({k: v for k, v in good.items() if k != "exp"}, fx.secret),
        "token_type refresh": R.make_jwt(dict(good, token_type="refresh"), fx.secret),
        "token_type other": R.make_jwt(dict(good, token_type="sliding"), fx.secret),
        "tampered payload": _tamper(fx.token(a.id), fx.token(a.id + 1000)),
        "chatctl refresh token": fx.mint(a, refresh=True),
    }
    for what, tok in cases.items():
        await R.expect_refused(relay, room, tok, 4401, what=what)
    # the real token still works
    c = await relay.connect(room, a)
    check_established(c.hello, a)


def _tamper(tok_a, tok_b):
    """tok_a's header and signature around tok_b's payload."""
    h, _, s = tok_a.split(".")
    return f"{h}.{tok_b.split('.')[1]}.{s}"


async def t_unknown_or_inactive_user(fx):
    relay = S["relay"]
    owner = fx.user("owner")
    room = fx.room(owner)
    await R.expect_refused(relay, room, fx.token(987654), 4401, what="unknown user id")
    gone = fx.user("gone")
    fx.db.sql(f"DELETE FROM users WHERE id = {gone.id}")
    await R.expect_refused(relay, room, gone.token, 4401, what="deleted user")
    off = fx.user("inactive")
    fx.db.sql(f"UPDATE users SET is_active = 0 WHERE id = {off.id}")
    await R.expect_refused(relay, room, off.token, 4401, what="inactive user")


async def t_rooms(fx):
    relay = S["relay"]
    owner = fx.user("rowner")
    other = fx.user("outsider")
    member = fx.user("member")
    none_err = await R.expect_refused(relay, 999999, owner.token, 4404, what="nonexistent room")
    await R.expect_refused(relay, 999999, owner.token, 4404, slash=False,
                           what="nonexistent room, no slash")
    priv = fx.room(owner, private=True)
    fx.add_member(priv, member)
    err = await R.expect_refused(relay, priv, other.token, 4404,
                                 what="private room, not a member")
    # the refusal must not reveal that the private room exists
    R.eq((err.get("code"), err["message"].replace(str(priv), "N")),
         (none_err.get("code"), none_err["message"].replace("999999", "N")),
         "error frame for a hidden private room vs. a nonexistent one")
    c = await relay.connect(priv, owner)
    check_established(c.hello, owner)
    c = await relay.connect(priv, member)
    check_established(c.hello, member)
    # non-numeric / zero room ids are never a room
    for bad in ("0", "abc", "-1"):
        try:
            c = await R.Client.open(relay.url(bad, owner.token), fx)
        except Exception:
            continue  # refused at the HTTP level: fine
        code = await c.closed_with(10)
        R.check(not any(f["type"] == "connection_established" for f in c.history),
                f"room id {bad!r} accepted: {c.history}")
        R.check(code in (4404, 1008, 4403), f"room id {bad!r}: close code {code}")


async def t_public_room_open_to_all(fx):
    relay = S["relay"]
    owner = fx.user("powner")
    stranger = fx.user("stranger")
    room = fx.room(owner)
    c = await relay.connect(room, stranger)
    check_established(c.hello, stranger)


async def t_anonymous(fx):
    relay, anon = S["relay"], S["anon"]
    owner = fx.user("aowner")
    room = fx.room(owner)
    c = await anon.connect(room)
    R.eq(c.hello.get("user"), {"id": 1, "username": "anonymous"}, "anonymous user")
    R.eq(c.hello.get("message"), "连接成功", "message")
    # a bad token is still refused, not downgraded to anonymous
    await R.expect_refused(anon, room, "garbage", 4401, what="bad token with anonymous on")
    # the default relay has anonymous access off
    await R.expect_refused(relay, room, None, 4401, what="no token, anonymous off")


async def t_healthz(fx):
    relay = S["relay"]

    def get():
        with urllib.request.urlopen(f"http://127.0.0.1:{relay.port}/healthz", timeout=5) as r:
            return r.status
    R.eq(get(), 200, "GET /healthz status")


if __name__ == "__main__":
    R.main([t_established_shape, t_chatctl_minted_token, t_simplejwt_token, t_missing_token,
            t_bad_tokens, t_unknown_or_inactive_user, t_rooms, t_public_room_open_to_all,
            t_anonymous, t_healthz], setup)
