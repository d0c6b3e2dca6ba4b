"""Token forgeries and misuse are refused by both programs, each next to
a control that the same path accepts a good token (CONTRACT.md
"Identity"): alg none, HS256 signed with the RSA public key while RS256 is
configured (algorithm confusion), expired and not-yet-valid tokens, a
refresh token used as an access token, a token for the anonymous user
while anonymous access is off, a crit header."""

import base64
import hashlib
import hmac
import json
import os
import shutil
import time

import seclib
from seclib import R

S = {}


def setup(fx):
    S["hs_relay"] = fx.relay()
    S["hs_api"] = seclib.api(fx)
    rs = {"CHAT_AUTH_JWT_ALGORITHM": "RS256",
          "CHAT_AUTH_JWT_PUBLIC_KEY_FILE": seclib.RSA_PUBLIC,
          "CHAT_AUTH_JWT_PRIVATE_KEY_FILE": seclib.RSA_PRIVATE}
    S["rs_relay"] = fx.relay(**rs)
    S["rs_api"] = seclib.api(fx, env=rs)


def none_token(claims):
    h = seclib.b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    p = seclib.b64url(json.dumps(claims).encode())
    return f"{h}.{p}."


async def both_refuse(fx, relay, srv, user, room, token, what):
    await R.expect_refused(relay, room, token, 4401, what=f"relay: {what}")
    r = srv.get("/api/auth/me/", token=token)
    R.eq(r.status, 401, f"API: {what}")
    r = srv.get("/api/chat/rooms/", token=token)
    R.eq(r.status, 401, f"API rooms: {what}")


async def both_accept(fx, relay, srv, user, room, token, what):
    c = await relay.connect(room, token=token)
    R.eq(c.hello["user"]["id"], user.id, f"relay: {what}: user")
    await c.close()
    r = srv.get("/api/auth/me/", token=token)
    R.eq(r.status, 200, f"API: {what}")
    R.eq(r.json["id"], user.id, f"API: {what}: user")


async def t_alg_none(fx):
    a = fx.user("none")
    room = fx.room(a)
    claims = R.simplejwt_claims(a.id)
    await both_accept(fx, S["hs_relay"], S["hs_api"], a, room, fx.token(a.id), "HS256 control")
    await both_refuse(fx, S["hs_relay"], S["hs_api"], a, room, none_token(claims), "alg none")
    # "none" with the right signature appended, and case games.
    good = fx.token(a.id)
    h = seclib.b64url(json.dumps({"alg": "None", "typ": "JWT"}).encode())
    forged = h + good[good.index("."):]
    await both_refuse(fx, S["hs_relay"], S["hs_api"], a, room, forged, "alg None + HS sig")
    await both_refuse(fx, S["rs_relay"], S["rs_api"], a, room, none_token(claims),
                      "alg none (RS256 configured)")


async def t_rs256_hs256_confusion(fx):
    if not shutil.which("openssl"):  # it signs the RS256 tokens
        R.log("openssl not found (apt-get install openssl): RS256 tokens not checked")
        return
    a = fx.user("conf")
    room = fx.room(a)
    claims = R.simplejwt_claims(a.id)
    # Control: a real RS256 token is accepted by both.
    await both_accept(fx, S["rs_relay"], S["rs_api"], a, room, seclib.rs256(claims),
                      "RS256 control")
    pem = open(seclib.RSA_PUBLIC, "rb").read()
    for key, what in ((pem, "PEM"), (pem.rstrip(b"\n"), "PEM without newline")):
        forged = R.make_jwt(claims, key, alg="HS256")
        await both_refuse(fx, S["rs_relay"], S["rs_api"], a, room, forged,
                          f"HS256 signed with the public key ({what})")
    # And an RS256 token is nothing to an HS256 deployment.
    await both_refuse(fx, S["hs_relay"], S["hs_api"], a, room, seclib.rs256(claims),
                      "RS256 token, HS256 configured")


async def t_expired_and_not_yet_valid(fx):
    a = fx.user("time")
    room = fx.room(a)
    now = int(time.time())
    for claims, what in (
            (R.simplejwt_claims(a.id, lifetime=-3600), "expired an hour ago"),
            (R.simplejwt_claims(a.id, lifetime=-600), "expired 10 minutes ago"),
            (dict(R.simplejwt_claims(a.id), nbf=now + 3600), "nbf in an hour"),
            ({k: v for k, v in R.simplejwt_claims(a.id).items() if k != "exp"}, "no exp"),
            (dict(R.simplejwt_claims(a.id), exp=str(now + 300)), "exp as a string")):
        await both_refuse(fx, S["hs_relay"], S["hs_api"], a, room,
                          R.make_jwt(claims, fx.secret), what)
    await both_accept(fx, S["hs_relay"], S["hs_api"], a, room,
                      R.make_jwt(dict(R.simplejwt_claims(a.id), nbf=now - 5), fx.secret),
                      "nbf in the past")


async def t_refresh_is_not_access(fx):
    srv = S["hs_api"]
    uid, name = srv.register(apitest_unique("refr"))
    tokens = srv.login(name)
    a = R.User(uid, name, tokens["access"])
    room = fx.room(a)
    await both_accept(fx, S["hs_relay"], srv, a, room, tokens["access"], "login access token")
    await both_refuse(fx, S["hs_relay"], srv, a, room, tokens["refresh"],
                      "login refresh token as access")
    hand = R.make_jwt(R.simplejwt_claims(a.id, token_type="refresh"), fx.secret)
    await both_refuse(fx, S["hs_relay"], srv, a, room, hand, "SimpleJWT refresh token")
    other = R.make_jwt(R.simplejwt_claims(a.id, token_type="sliding"), fx.secret)
    await both_refuse(fx, S["hs_relay"], srv, a, room, other, "token_type sliding")
    # The refresh endpoint takes no access token either.
    r = srv.post("/api/auth/token/refresh/", {"refresh": tokens["access"]})
    R.eq(r.status, 401, "access token at the refresh endpoint")


async def t_inactive_or_unknown_user(fx):
    a = fx.user("inactive")
    room = fx.room(fx.user("roomowner"))
    tok = fx.token(a.id)
    await both_accept(fx, S["hs_relay"], S["hs_api"], a, room, tok, "active user control")
    fx.db.sql(f"UPDATE users SET is_active = 0 WHERE id = {int(a.id)}")
    await both_refuse(fx, S["hs_relay"], S["hs_api"], a, room, tok,
                      "valid token of a deactivated user")
    ghost = R.User(987654321, "ghost", fx.token(987654321))
    await both_refuse(fx, S["hs_relay"], S["hs_api"], ghost, room, ghost.token,
                      "valid token of a user that does not exist")


async def t_anonymous_user_and_crit(fx):
    # A signed token for the built-in anonymous user (id 1) acted as it
    # while anonymous access was off; a crit header was ignored.
    room = fx.room(fx.user("anonroom"))
    anon = R.User(1, "anonymous", fx.token(1))
    await both_refuse(fx, S["hs_relay"], S["hs_api"], anon, room, anon.token,
                      "signed token for the anonymous user, anonymous access off")
    a = fx.user("crit")
    tok = fx.token(a.id)
    await both_accept(fx, S["hs_relay"], S["hs_api"], a, room, tok, "crit control")
    h, p, _ = tok.split(".")
    hdr = json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))
    hdr["crit"] = ["exp"]
    h2 = seclib.b64url(json.dumps(hdr).encode())
    sig = hmac.new(fx.secret.encode(), f"{h2}.{p}".encode(), hashlib.sha256).digest()
    await both_refuse(fx, S["hs_relay"], S["hs_api"], a, room,
                      f"{h2}.{p}.{seclib.b64url(sig)}", "token with a crit header")


def apitest_unique(prefix):
    return seclib.apitest.unique(prefix)


if __name__ == "__main__":
    seclib.main([t_alg_none, t_rs256_hs256_confusion, t_expired_and_not_yet_valid,
                 t_refresh_is_not_access, t_inactive_or_unknown_user,
                 t_anonymous_user_and_crit], setup)
