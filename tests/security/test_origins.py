"""Origins (CONTRACT.md "Close codes", "HTTP API"): the relay closes a
browser connection from an Origin not on its allow-list with 1008, also
for look-alikes (suffixes, prefixes, other ports and schemes, "null", an
over-long header); the API's CORS answers only configured origins and
never reflects an arbitrary Origin, least of all together with
Access-Control-Allow-Credentials: true."""

import time

import seclib
from seclib import R

S = {}
GOOD = "https://chat.example.org"
LOOKALIKES = [
    "https://chat.example.org.evil.test",
    "https://evil.test",
    "https://evilchat.example.org",
    "https://evil.test/https://chat.example.org",
    "http://chat.example.org",
    "https://chat.example.org:8443",
    "null",
    "https://chat.example.org" + "x" * 300,
    "*",
]


def setup(fx):
    S["relay"] = fx.relay(CHAT_RELAY_ALLOWED_ORIGINS=GOOD)
    S["api"] = seclib.api(fx, "api.cors_origins=" + GOOD)
    S["api_nocors"] = seclib.api(fx)


async def closed_code(client, timeout=10):
    deadline = time.monotonic() + timeout
    while not client.closed and time.monotonic() < deadline:
        if any(f["type"] == "connection_established" for f in client.history):
            return "accepted"
        await R.asyncio.sleep(0.02)
    return client.close_code if client.closed else "still open"


async def t_relay_origin_allow_list(fx):
    relay = S["relay"]
    a = fx.user("origin")
    room = fx.room(a)
    c = await relay.connect(room, a, origin=GOOD)
    await c.close()
    c = await relay.connect(room, a)  # no Origin: not a browser
    await c.close()
    bad = []
    for origin in LOOKALIKES:
        try:
            cl = await R.Client.open(relay.url(room, a.token), fx, origin=origin)
        except Exception as e:  # a refused handshake is a refusal too
            R.log(f"   {origin[:60]}: handshake refused ({type(e).__name__})")
            continue
        code = await closed_code(cl)
        await cl.close()
        if code != 1008:
            bad.append(f"{origin[:60]}: {code}")
    R.check(not bad, "origins not closed with 1008:\n  " + "\n  ".join(bad))
    c = await relay.connect(room, a, origin=GOOD)
    await c.usable()


def cors_headers(r):
    return {k.lower(): v for k, v in r.headers if k.lower().startswith("access-control-")}


async def t_api_cors(fx):
    for name in ("api", "api_nocors"):
        srv = S[name]
        u = srv.user()
        bad = []
        for origin in LOOKALIKES + [GOOD.upper() + ".evil"]:
            for method, path, tok in (("GET", "/api/chat/", None),
                                      ("GET", "/api/auth/me/", u.token),
                                      ("OPTIONS", "/api/chat/rooms/", None),
                                      ("POST", "/api/auth/token/", None)):
                extra = {"Origin": origin,
                         "Access-Control-Request-Method": "POST",
                         "Access-Control-Request-Headers": "authorization"}
                r = srv.request(method, path, token=tok, headers=extra,
                                json_body={} if method == "POST" else None)
                h = cors_headers(r)
                acao = h.get("access-control-allow-origin")
                if acao is not None:
                    bad.append(f"{name} {method} {path} Origin {origin[:50]!r}: "
                               f"Access-Control-Allow-Origin {acao[:60]!r}")
                if h.get("access-control-allow-credentials", "").lower() == "true" and \
                        acao in ("*", origin):
                    bad.append(f"{name} {method} {path}: credentials with {acao!r}")
        R.check(not bad, "CORS answered an unconfigured origin:\n  " + "\n  ".join(bad))
    # Control: the configured origin is answered, with itself only.
    srv = S["api"]
    r = srv.get("/api/chat/", headers={"Origin": GOOD})
    R.eq(cors_headers(r).get("access-control-allow-origin"), GOOD, "configured origin")
    r = srv.request("OPTIONS", "/api/chat/rooms/", headers={
        "Origin": GOOD, "Access-Control-Request-Method": "POST"})
    R.check(r.status in (200, 204), f"preflight status {r.status}")
    R.eq(cors_headers(r).get("access-control-allow-origin"), GOOD, "preflight origin")
    vary = ",".join(v for k, v in r.headers if k.lower() == "vary")
    R.check("origin" in vary.lower(), f"no Vary: Origin on a CORS answer ({vary!r})")


if __name__ == "__main__":
    seclib.main([t_relay_origin_allow_list, t_api_cors], setup)
