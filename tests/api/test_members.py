"""HTTP API: membership (join, leave, owner adds members, the member
list with roles and the online flag)."""

from apitest import check, eq, run, sql, tests_of


def members(srv, user, rid):
    r = srv.get("/api/chat/rooms/%d/members/" % rid, token=user.token).expect(200)
    for m in r.json:
        eq(set(m), {"id", "username", "role", "online"}, "member keys")
    return {m["id"]: m for m in r.json}


def test_join_public(srv):
    alice, bob = srv.user(), srv.user()
    room = srv.room(alice)
    r = srv.post("/api/chat/rooms/%d/join/" % room["id"], token=bob.token).expect(200)
    eq(r.json["id"], room["id"], "join answers the room")
    m = members(srv, alice, room["id"])
    eq(m[bob.id]["role"], "member")
    eq(m[bob.id]["username"], bob.username)
    eq(m[alice.id]["role"], "owner")
    # Joining again changes nothing; the owner joining stays owner.
    srv.post("/api/chat/rooms/%d/join/" % room["id"], token=bob.token).expect(200)
    srv.post("/api/chat/rooms/%d/join/" % room["id"], token=alice.token).expect(200)
    m = members(srv, alice, room["id"])
    eq(len(m), 2)
    eq(m[alice.id]["role"], "owner")


def test_join_private(srv):
    alice, bob, carol = srv.user(), srv.user(), srv.user()
    room = srv.room(alice, private=True)
    srv.post("/api/chat/rooms/%d/join/" % room["id"], token=bob.token).expect(404)
    srv.post("/api/chat/rooms/%d/members/" % room["id"], {"user_id": bob.id},
             token=alice.token).expect(201)
    srv.post("/api/chat/rooms/%d/join/" % room["id"], token=bob.token).expect(200)
    srv.post("/api/chat/rooms/%d/join/" % room["id"], token=carol.token).expect(404)
    srv.post("/api/chat/rooms/424242424/join/", token=carol.token).expect(404)


def test_leave(srv):
    alice, bob = srv.user(), srv.user()
    room = srv.room(alice)
    srv.post("/api/chat/rooms/%d/join/" % room["id"], token=bob.token).expect(200)
    r = srv.post("/api/chat/rooms/%d/leave/" % room["id"], token=bob.token).expect(200)
    eq(r.json["room_id"], room["id"])
    check(bob.id not in members(srv, alice, room["id"]), "bob left")
    # Not a member any more: conflict. The owner cannot leave.
    srv.post("/api/chat/rooms/%d/leave/" % room["id"], token=bob.token).expect(409)
    r = srv.post("/api/chat/rooms/%d/leave/" % room["id"], token=alice.token).expect(409)
    check("owner" in r.detail(), r.detail())
    # Leaving a private room hides it.
    priv = srv.room(alice, private=True)
    srv.post("/api/chat/rooms/%d/members/" % priv["id"], {"user_id": bob.id},
             token=alice.token).expect(201)
    srv.get("/api/chat/rooms/%d/" % priv["id"], token=bob.token).expect(200)
    srv.post("/api/chat/rooms/%d/leave/" % priv["id"], token=bob.token).expect(200)
    srv.get("/api/chat/rooms/%d/" % priv["id"], token=bob.token).expect(404)


def test_add_member_owner_only(srv):
    alice, bob, carol, dave = srv.user(), srv.user(), srv.user(), srv.user()
    for private in (True, False):
        room = srv.room(alice, private=private)
        path = "/api/chat/rooms/%d/members/" % room["id"]
        r = srv.post(path, {"user_id": bob.id}, token=alice.token).expect(201)
        eq(r.json, {"id": bob.id, "username": bob.username, "role": "member", "online": False})
        srv.post(path, {"user_id": bob.id}, token=alice.token).expect(200)
        # A member (and, for a public room, any outsider) may not add.
        srv.post(path, {"user_id": carol.id}, token=bob.token).expect(403)
        srv.post(path, {"user_id": carol.id}, token=dave.token).expect(404 if private else 403)
        # Unknown user, bad ids, missing field.
        srv.post(path, {"user_id": 10 ** 12}, token=alice.token).expect(404)
        for bad in ({"user_id": 0}, {"user_id": -3}, {"user_id": "5"}, {"user_id": 1.5}, {}):
            r = srv.post(path, bad, token=alice.token).expect(400, repr(bad))
            check(r.detail().startswith("user_id:"), r.detail())
        m = members(srv, alice, room["id"])
        eq(sorted(m), sorted([alice.id, bob.id]))


def test_add_member_by_username(srv):
    alice, bob, carol = srv.user(), srv.user(), srv.user()
    room = srv.room(alice, private=True)
    path = "/api/chat/rooms/%d/members/" % room["id"]
    r = srv.post(path, {"username": bob.username}, token=alice.token).expect(201)
    eq(r.json, {"id": bob.id, "username": bob.username, "role": "member", "online": False})
    srv.post(path, {"username": bob.username}, token=alice.token).expect(200)
    # ASCII case does not matter, as at login.
    r = srv.post(path, {"username": carol.username.upper()}, token=alice.token).expect(201)
    eq(r.json["id"], carol.id)
    r = srv.post(path, {"username": "nobody_" + bob.username}, token=alice.token).expect(404)
    check(r.detail().startswith("username:"), r.detail())
    for bad in ({"username": 5}, {"username": ""}, {"username": None}, {},
                {"username": bob.username, "user_id": bob.id}):
        r = srv.post(path, bad, token=alice.token).expect(400, repr(bad))
        check(r.detail(), repr(bad))
    # Only the owner, as with user_id.
    srv.post(path, {"username": alice.username}, token=bob.token).expect(403)


def test_anonymous_user_is_never_added(srv):
    # The built-in anonymous user (id 1) cannot log in; it could be added
    # to a private room (201).
    alice = srv.user()
    for private in (True, False):
        room = srv.room(alice, private=private)
        path = "/api/chat/rooms/%d/members/" % room["id"]
        r = srv.post(path, {"user_id": 1}, token=alice.token).expect(400)
        check("anonymous" in r.detail(), r.detail())
        r = srv.post(path, {"username": "anonymous"}, token=alice.token).expect(400)
        check("anonymous" in r.detail(), r.detail())
        check(1 not in members(srv, alice, room["id"]), "anonymous is not a member")


def test_online_flag(srv):
    alice, bob = srv.user(), srv.user()
    room = srv.room(alice)
    srv.post("/api/chat/rooms/%d/join/" % room["id"], token=bob.token).expect(200)
    eq(members(srv, alice, room["id"])[bob.id]["online"], False)
    # A live connection as a relay records it.
    sql("INSERT INTO relay_instances (hostname, pid) VALUES ('test', 1)")
    inst = int(sql("SELECT MAX(id) FROM relay_instances")[0][0])
    sql("INSERT INTO presence (instance_id, room_id, user_id) VALUES (%d, %d, %d)"
        % (inst, room["id"], bob.id))
    m = members(srv, alice, room["id"])
    eq(m[bob.id]["online"], True, "bob online")
    eq(m[alice.id]["online"], False, "alice offline")
    sql("DELETE FROM presence WHERE instance_id = %d" % inst)
    eq(members(srv, alice, room["id"])[bob.id]["online"], False)


def test_members_of_hidden_room(srv):
    alice, eve = srv.user(), srv.user()
    room = srv.room(alice, private=True)
    srv.get("/api/chat/rooms/%d/members/" % room["id"], token=eve.token).expect(404)
    pub = srv.room(alice)
    # A public room's members are visible to everyone authenticated.
    eq(list(members(srv, eve, pub["id"])), [alice.id])


if __name__ == "__main__":
    run(tests_of(globals()))
