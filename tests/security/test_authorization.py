"""Authorization between users who can see the same room (CONTRACT.md
"HTTP API"): only the owner changes or deletes a room or adds members to
a private one; only the sender edits a message; the sender or the room
owner deletes it; the owner cannot leave. Refusals are 403/409 and change
nothing; the allowed actions work (controls)."""

import seclib
from seclib import R

S = {}


def setup(fx):
    S["api"] = seclib.api(fx)
    S["relay"] = fx.relay()


async def t_room_owner_only(fx):
    srv = S["api"]
    owner, member, other = srv.user(), srv.user(), srv.user()
    room = srv.room(owner, name="owned")
    rid = room["id"]
    srv.post(f"/api/chat/rooms/{rid}/join/", token=member.token)
    R.eq(srv.patch(f"/api/chat/rooms/{rid}/", {"name": "taken"}, token=member.token).status,
         403, "member renames the room")
    R.eq(srv.patch(f"/api/chat/rooms/{rid}/", {"is_private": True}, token=member.token).status,
         403, "member makes the room private")
    R.eq(srv.delete(f"/api/chat/rooms/{rid}/", token=member.token).status, 403,
         "member deletes the room")
    R.eq(srv.get(f"/api/chat/rooms/{rid}/", token=other.token).json["name"], "owned",
         "room after the refusals")
    R.eq(srv.post(f"/api/chat/rooms/{rid}/leave/", token=owner.token).status, 409,
         "owner leaves")
    R.eq(srv.patch(f"/api/chat/rooms/{rid}/", {"name": "renamed"}, token=owner.token).status,
         200, "owner renames (control)")

    priv = srv.room(owner, private=True)
    pid = priv["id"]
    r = srv.post(f"/api/chat/rooms/{pid}/members/", {"user_id": member.id}, token=owner.token)
    R.check(r.status in (200, 201), f"owner adds a member: {r.status}")
    r = srv.post(f"/api/chat/rooms/{pid}/members/", {"user_id": other.id}, token=member.token)
    R.eq(r.status, 403, "member adds someone to a private room")
    R.eq(srv.get(f"/api/chat/rooms/{pid}/", token=other.token).status, 404,
         "the someone still cannot see it")
    R.eq(srv.post(f"/api/chat/rooms/{pid}/join/", token=other.token).status, 404,
         "joining a private room")


async def t_message_sender_only(fx):
    srv = S["api"]
    owner, alice, bob = srv.user(), srv.user(), srv.user()
    rid = srv.room(owner)["id"]
    srv.post(f"/api/chat/rooms/{rid}/join/", token=bob.token)
    m = srv.send(alice, rid, "alice's words")
    mid = m["id"]
    R.eq(srv.patch(f"/api/chat/messages/{mid}/", {"content": "bob's words"},
                   token=bob.token).status, 403, "bob edits alice's message")
    R.eq(srv.patch(f"/api/chat/messages/{mid}/", {"content": "owner's words"},
                   token=owner.token).status, 403, "room owner edits alice's message")
    R.eq(srv.delete(f"/api/chat/messages/{mid}/", token=bob.token).status, 403,
         "bob deletes alice's message")
    R.eq(srv.get(f"/api/chat/messages/{mid}/", token=bob.token).json["content"],
         "alice's words", "message after the refusals")
    R.eq(srv.patch(f"/api/chat/messages/{mid}/", {"content": "edited"},
                   token=alice.token).status, 200, "alice edits (control)")
    R.check(srv.delete(f"/api/chat/messages/{mid}/", token=owner.token).status in (200, 204),
            "room owner deletes alice's message")
    R.eq(srv.get(f"/api/chat/messages/{mid}/", token=alice.token).status, 404,
         "deleted message")


async def t_former_member_loses_access(fx):
    """Leaving a private room ends access to it, its history and even
    one's own messages there (404 like any room one cannot see)."""
    srv = S["api"]
    owner, member = srv.user(), srv.user()
    rid = srv.room(owner, private=True)["id"]
    r = srv.post(f"/api/chat/rooms/{rid}/members/", {"user_id": member.id}, token=owner.token)
    R.check(r.status in (200, 201), f"owner adds a member: {r.status}")
    mine = srv.send(member, rid, "mine")
    theirs = srv.send(owner, rid, "theirs")
    R.eq(srv.post(f"/api/chat/rooms/{rid}/leave/", token=member.token).status, 200, "leave")
    t = member.token
    for what, r in (
            ("GET room", srv.get(f"/api/chat/rooms/{rid}/", token=t)),
            ("history", srv.get(f"/api/chat/rooms/{rid}/messages/", token=t)),
            ("post", srv.post(f"/api/chat/rooms/{rid}/messages/", {"content": "x"}, token=t)),
            ("GET own message", srv.get(f"/api/chat/messages/{mine['id']}/", token=t)),
            ("GET other message", srv.get(f"/api/chat/messages/{theirs['id']}/", token=t)),
            ("edit own message", srv.patch(f"/api/chat/messages/{mine['id']}/",
                                           {"content": "changed"}, token=t)),
            ("read receipt", srv.post(f"/api/chat/messages/{theirs['id']}/read/", token=t)),
            ("rejoin", srv.post(f"/api/chat/rooms/{rid}/join/", token=t))):
        R.eq(r.status, 404, f"former member: {what}")
    R.eq(srv.get(f"/api/chat/messages/{mine['id']}/", token=owner.token).json["content"], "mine",
         "the message after the refused edit")


async def t_leaving_ends_the_live_feed(fx):
    """A member connected to a private room who leaves it (over HTTP) gets
    none of the room's later messages over the WebSocket."""
    srv, relay = S["api"], S["relay"]
    owner, member = srv.user(), srv.user()
    rid = srv.room(owner, private=True)["id"]
    r = srv.post(f"/api/chat/rooms/{rid}/members/", {"user_id": member.id}, token=owner.token)
    R.check(r.status in (200, 201), f"owner adds a member: {r.status}")
    c = await relay.connect(rid, token=fx.token(member.id))
    srv.send(owner, rid, "before leaving")
    await c.next("chat_message", timeout=10,
                 where=lambda f: f["message"]["content"] == "before leaving")
    R.eq(srv.post(f"/api/chat/rooms/{rid}/leave/", token=member.token).status, 200, "leave")
    srv.send(owner, rid, "after leaving")
    o = await relay.connect(rid, token=fx.token(owner.id), last_id=0)
    await o.next("chat_message", timeout=10,
                 where=lambda f: f["message"]["content"] == "after leaving")
    await R.asyncio.sleep(1)
    leaked = [f for f in c.history if f.get("type") == "chat_message" and
              f["message"]["content"] == "after leaving"]
    R.check(not leaked, "a member who left still received the room's messages")


if __name__ == "__main__":
    seclib.main([t_room_owner_only, t_message_sender_only, t_former_member_loses_access,
                 t_leaving_ends_the_live_feed], setup)
