"""A private room's contents and existence are hidden from non-members
(CONTRACT.md "HTTP API", "Opening"): every room and message endpoint
answers an outsider exactly as it answers for an id that does not exist
(404, same body), lists and unread counts leave the room out, and the
WebSocket refuses with the same error frame and 4404."""

import seclib
from seclib import R

S = {}
GHOST_ROOM = 999999000
GHOST_MSG = 999999000


def setup(fx):
    S["relay"] = fx.relay()
    S["api"] = seclib.api(fx)
    S["anon_relay"] = fx.relay(CHAT_AUTH_ALLOW_ANONYMOUS="1")
    S["anon_api"] = seclib.api(fx, "auth.allow_anonymous=true")


def probes(srv, outsider, room_id, msg_id):
    """(what, response) of every endpoint that names a room or message."""
    t = outsider.token
    r, m = f"/api/chat/rooms/{room_id}", f"/api/chat/messages/{msg_id}"
    return [
        ("GET room", srv.get(r + "/", token=t)),
        ("PATCH room", srv.patch(r + "/", {"name": "mine now"}, token=t)),
        ("DELETE room", srv.delete(r + "/", token=t)),
        ("join", srv.post(r + "/join/", token=t)),
        ("leave", srv.post(r + "/leave/", token=t)),
        ("GET members", srv.get(r + "/members/", token=t)),
        ("POST members", srv.post(r + "/members/", {"user_id": outsider.id}, token=t)),
        ("GET messages", srv.get(r + "/messages/", token=t)),
        ("GET messages after", srv.get(r + "/messages/?after=0&limit=200", token=t)),
        ("POST message", srv.post(r + "/messages/", {"content": "let me in"}, token=t)),
        ("GET message", srv.get(m + "/", token=t)),
        ("PATCH message", srv.patch(m + "/", {"content": "changed"}, token=t)),
        ("DELETE message", srv.delete(m + "/", token=t)),
        ("read", srv.post(m + "/read/", token=t)),
        ("reads", srv.get(m + "/reads/", token=t)),
    ]


async def t_http_private_room_hidden(fx):
    srv = S["api"]
    owner, member, outsider = srv.user(), srv.user(), srv.user()
    room = srv.room(owner, private=True, description="secret plans")
    rid = room["id"]
    r = srv.post(f"/api/chat/rooms/{rid}/members/", {"user_id": member.id}, token=owner.token)
    R.check(r.status in (200, 201), f"owner adds a member: {r.status} {r.body!r}")
    msg = srv.send(owner, rid, "the secret")
    # Controls: the member sees it all.
    srv.get(f"/api/chat/rooms/{rid}/", token=member.token).expect(200)
    srv.get(f"/api/chat/messages/{msg['id']}/", token=member.token).expect(200)

    hidden = probes(srv, outsider, rid, msg["id"])
    ghost = probes(srv, outsider, GHOST_ROOM, GHOST_MSG)
    diffs = []
    for (what, h), (_, g) in zip(hidden, ghost):
        if h.status != 404 or (h.status, h.body) != (g.status, g.body):
            diffs.append(f"{what}: private {h.status} {h.body[:120]!r} vs "
                         f"nonexistent {g.status} {g.body[:120]!r}")
        R.check(b"secret" not in h.body, f"{what}: private content in the answer")
    R.check(not diffs, "a private room is told apart from a nonexistent one:\n  " +
            "\n  ".join(diffs))
    # Nothing changed behind the refusals.
    got = srv.get(f"/api/chat/rooms/{rid}/", token=owner.token).expect(200).json
    R.eq(got["name"], room["name"], "private room name after the outsider's PATCH")
    srv.get(f"/api/chat/messages/{msg['id']}/", token=owner.token).expect(200)
    members = [x["id"] for x in srv.get(f"/api/chat/rooms/{rid}/members/",
                                        token=owner.token).expect(200).json]
    R.check(outsider.id not in members, "the outsider became a member")
    # Lists and counts leave it out.
    rooms = srv.get("/api/chat/rooms/", token=outsider.token).expect(200).json
    R.check(rid not in [x["id"] for x in rooms], "private room in the outsider's room list")
    unread = srv.get("/api/chat/unread/", token=outsider.token).expect(200).json
    R.check(rid not in [x["room_id"] for x in unread["rooms"]],
            "private room in the outsider's unread counts")
    R.check(rid in [x["id"] for x in srv.get("/api/chat/rooms/", token=member.token)
                    .expect(200).json], "private room missing from the member's list")
    S["private"] = (rid, owner, member, outsider)


async def t_ws_private_room_hidden(fx):
    relay = S["relay"]
    rid, owner, member, outsider = S["private"]
    # The relay's users are the API's: tokens from the fixture's secret.
    tok = fx.token(outsider.id)
    e_private = await R.expect_refused(relay, rid, tok, 4404, what="outsider, private room")
    e_ghost = await R.expect_refused(relay, GHOST_ROOM, tok, 4404, what="nonexistent room")
    R.eq((e_private.get("code"), e_private.get("message")),
         (e_ghost.get("code"), e_ghost.get("message")),
         "error frames for a private and a nonexistent room")
    c = await relay.connect(rid, token=fx.token(member.id))
    await c.close()


async def t_anonymous_sees_no_private_room(fx):
    """With anonymous access on, a client without a token is the built-in
    user 1: private rooms stay hidden from it, and it cannot log in."""
    rid, owner, member, outsider = S["private"]
    relay, srv = S["anon_relay"], S["anon_api"]
    anon = seclib.apitest.User(1, "anonymous", None)
    hidden = probes(srv, anon, rid, 0)
    ghost = probes(srv, anon, GHOST_ROOM, GHOST_MSG)
    for (what, h), (_, g) in list(zip(hidden, ghost))[:10]:
        R.check(h.status in (401, 403, 404) and (h.status, h.body) == (g.status, g.body),
                f"anonymous {what}: private {h.status} {h.body[:100]!r} vs nonexistent "
                f"{g.status} {g.body[:100]!r}")
    rooms = srv.get("/api/chat/rooms/")
    if rooms.status == 200:
        R.check(rid not in [x["id"] for x in rooms.json], "private room listed to anonymous")
    e1 = await R.expect_refused(relay, rid, None, 4404, what="anonymous, private room",
                                url=relay.url(rid))
    e2 = await R.expect_refused(relay, GHOST_ROOM, None, 4404, what="anonymous, no room",
                                url=relay.url(GHOST_ROOM))
    R.eq((e1.get("code"), e1.get("message")), (e2.get("code"), e2.get("message")),
         "anonymous error frames")
    for pw in ("", "anonymous", "password123"):
        r = srv.post("/api/auth/token/", {"username": "anonymous", "password": pw})
        R.check(r.status in (400, 401), f"login as anonymous with {pw!r}: {r.status}")


if __name__ == "__main__":
    seclib.main([t_http_private_room_hidden, t_ws_private_room_hidden,
                 t_anonymous_sees_no_private_room], setup)
