"""Opening a WebSocket: connection_established, and every refusal with its
error frame and close code (CONTRACT.md "Identity", "Opening")."""

import json
import os
import shutil
import subprocess
import time
import urllib.request

import relaylib as R

S = {}


ISS, AUD = "https://issuer.example", "chat-clients"


def setup(fx):
    S["relay"] = fx.relay()
    S["anon"] = fx.relay(CHAT_AUTH_ALLOW_ANONYMOUS="1")
    S["claims"] = fx.relay(CHAT_AUTH_JWT_ISSUER=ISS, CHAT_AUTH_JWT_AUDIENCE=AUD,
                           CHAT_AUTH_JWT_LEEWAY="0")
    openssl = shutil.which("openssl")
    if openssl:
        key = os.path.join(fx.tmp, "rsa.pem")
        pub = os.path.join(fx.tmp, "rsa.pub.pem")
        subprocess.run([openssl, "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:2048", "-out", key], check=True, capture_output=True)
        subprocess.run([openssl, "pkey", "-in", key, "-pubout", "-out", pub], check=True,
                       capture_output=True)
        S["rsa_key"], S["rsa_pub"] = key, pub
        S["rs"] = fx.relay(CHAT_AUTH_JWT_ALGORITHM="RS256", CHAT_AUTH_JWT_PUBLIC_KEY_FILE=pub)


def rs256(payload, key):
    """An RS256 token signed with the openssl command."""
    signing = (R.b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode()) + "." +
               R.b64url(json.dumps(payload).encode()))
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing.encode(),
                         capture_output=True, check=True).stdout
    return signing + "." + R.b64url(sig)


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
    # an absurdly long token: refused one way or another, and the relay lives
    for n in (6000, 60000):
        try:
            c = await R.Client.open(relay.url(room, "x" * n), fx)
            await c.closed_with(10)
            R.check(not [f for f in c.history if f["type"] == "connection_established"],
                    f"a {n}-byte token was accepted")
        except R.websockets.exceptions.InvalidHandshake:
            pass
        except (OSError, R.websockets.exceptions.ConnectionClosed):
            pass
        R.check(relay.alive(), f"the relay died on a {n}-byte token")
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


async def t_anonymous_sends(fx):
    """The anonymous user can talk, as the seed document's sender id 1."""
    anon = S["anon"]
    owner = fx.user("anonroom")
    room = fx.room(owner)
    c = await anon.connect(room)
    m = await c.chat("hello from nobody")
    R.eq(m["sender"], {"id": 1, "username": "anonymous"}, "sender of an anonymous message")
    R.eq(fx.room_messages(room)[-1][1], 1, "stored sender_id")


async def t_iss_aud_leeway(fx):
    """iss and aud are checked when configured; exp and nbf with leeway 0
    here, with the default (small) leeway on the default relay."""
    relay, strict = S["relay"], S["claims"]
    a = fx.user("claims")
    room = fx.room(a)
    now = int(time.time())
    base = R.simplejwt_claims(a.id)
    ok = dict(base, iss=ISS, aud=AUD)
    c = await strict.connect(room, token=R.make_jwt(ok, fx.secret))
    check_established(c.hello, a)
    c = await strict.connect(room, token=R.make_jwt(dict(ok, aud=[AUD, "other"]), fx.secret))
    check_established(c.hello, a)
    cases = {
        "no iss": {k: v for k, v in ok.items() if k != "iss"},
        "wrong iss": dict(ok, iss="https://evil.example"),
        "no aud": {k: v for k, v in ok.items() if k != "aud"},
        "wrong aud": dict(ok, aud="someone-else"),
        "expired 5 s ago, leeway 0": dict(ok, exp=now - 5),
        "nbf in the future": dict(ok, nbf=now + 600),
    }
    for what, claims in cases.items():
        await R.expect_refused(strict, room, R.make_jwt(claims, fx.secret), 4401, what=what)
    # the default relay allows a small clock skew but not an hour
    c = await relay.connect(room, token=R.make_jwt(dict(base, exp=now - 3), fx.secret))
    check_established(c.hello, a)
    await R.expect_refused(relay, room, R.make_jwt(dict(base, nbf=now + 3600), fx.secret), 4401,
                           what="nbf an hour ahead")


async def t_rs256(fx):
    """With RS256 configured: RS256 tokens verify with the public key; an
    HS256 token keyed with the public key (algorithm confusion), alg none
    and HS256 with the shared secret are refused."""
    if "rs" not in S:
        R.log("openssl not found: RS256 part skipped")
        return
    rs = S["rs"]
    a = fx.user("rsa")
    room = fx.room(a)
    claims = R.simplejwt_claims(a.id)
    c = await rs.connect(room, token=rs256(claims, S["rsa_key"]))
    check_established(c.hello, a)
    pem = open(S["rsa_pub"], "rb").read()
    cases = {
        "HS256 keyed with the public key": R.make_jwt(claims, pem),
        "HS256 with the shared secret": R.make_jwt(claims, fx.secret),
        "alg none": R.make_jwt(claims, "", alg="none", header={"alg": "none", "typ": "JWT"}),
        "RS256 signed by another key": _other_key_token(fx, claims),
    }
    for what, tok in cases.items():
        await R.expect_refused(rs, room, tok, 4401, what=what)


def _other_key_token(fx, claims):
    key = os.path.join(fx.tmp, "other.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", key], check=True, capture_output=True)
    return rs256(claims, key)


async def t_tcp_nodelay(fx):
    """The relay's end of a client's connection has Nagle's algorithm off.
    With it on, a frame written while the previous one is unacknowledged
    waits for the client's ACK, which a client that also sends delays (up
    to 40 ms on Linux, or until its next frame): chat-bench saw every
    delivery held one send interval (40 ms at 25 messages/s per sender)."""
    import socket
    u = fx.user("nodelay")
    room = fx.room(u)
    c = await S["relay"].connect(room, u)
    port = c.ws.transport.get_extra_info("sockname")[1]
    on = R.peer_socket_option(S["relay"].proc.pid, S["relay"].port, port,
                              socket.IPPROTO_TCP, socket.TCP_NODELAY)
    if on is None:
        R.log("SKIP t_tcp_nodelay: this kernel cannot copy another process's socket")
        return
    R.check(on != 0, "the relay's socket to the client has Nagle's algorithm on "
            "(TCP_NODELAY not set)")


async def t_healthz(fx):
    relay = S["relay"]

    def get():
        with urllib.request.urlopen(f"http://127.0.0.1:{relay.port}/healthz", timeout=5) as r:
            return r.status
    R.eq(get(), 200, "GET /healthz status")


if __name__ == "__main__":
    R.main([t_established_shape, t_chatctl_minted_token, t_simplejwt_token, t_missing_token,
            t_bad_tokens, t_unknown_or_inactive_user, t_rooms, t_public_room_open_to_all,
            t_anonymous, t_anonymous_sends, t_iss_aud_leeway, t_rs256, t_tcp_nodelay,
            t_healthz], setup)
