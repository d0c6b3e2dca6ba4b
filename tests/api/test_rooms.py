"""HTTP API: rooms (list, create, get, patch, delete) and the visibility
rule (a private room does not exist for outsiders)."""

from apitest import Server, check, eq, run, tests_of, unique

ROOM_KEYS = {"id", "name", "description", "is_private", "created_by", "created_at",
             "unread_count", "last_message", "is_member"}


def by_id(rooms, rid):
    for r in rooms:
        if r["id"] == rid:
            return r
    return None


def test_create_and_owner(srv):
    alice = srv.user()
    r = srv.post("/api/chat/rooms/", {"name": "General " + unique(), "description": "talk"},
                 token=alice.token).expect(201)
    room = r.json
    check(ROOM_KEYS <= set(room), "keys %r" % sorted(room))
    eq(room["created_by"], alice.id, "created_by")
    eq(room["is_private"], False, "is_private default")
    eq(room["description"], "talk")
    eq(room["unread_count"], 0)
    eq(room["last_message"], None)
    check(room["created_at"].endswith("Z"), room["created_at"])
    members = srv.get("/api/chat/rooms/%d/members/" % room["id"], token=alice.token).expect(200)
    eq([(m["id"], m["role"]) for m in members.json], [(alice.id, "owner")], "members")
    # Description is optional and defaults to "".
    plain = srv.room(alice)
    eq(plain["description"], "")


def test_is_member(srv):
    # Every room object says whether the caller is a member.
    alice, bob = srv.user(), srv.user()
    room = srv.room(alice)
    eq(room["is_member"], True, "creator, POST")
    eq(srv.get("/api/chat/rooms/%d/" % room["id"], token=alice.token).json["is_member"], True)
    listed = by_id(srv.get("/api/chat/rooms/", token=bob.token).expect(200).json, room["id"])
    eq(listed["is_member"], False, "outsider, list")
    eq(srv.get("/api/chat/rooms/%d/" % room["id"], token=bob.token).json["is_member"], False)
    r = srv.post("/api/chat/rooms/%d/join/" % room["id"], token=bob.token).expect(200)
    eq(r.json["is_member"], True, "after join")
    listed = by_id(srv.get("/api/chat/rooms/", token=bob.token).expect(200).json, room["id"])
    eq(listed["is_member"], True, "member, list")
    srv.post("/api/chat/rooms/%d/leave/" % room["id"], token=bob.token).expect(200)
    eq(srv.get("/api/chat/rooms/%d/" % room["id"], token=bob.token).json["is_member"], False)


def test_create_invalid(srv):
    alice = srv.user()
    cases = [
        ({}, "name:"),
        ({"name": ""}, "name:"),
        ({"name": "   "}, "name:"),
        ({"name": "x" * 101}, "name:"),
        ({"name": 5}, "name:"),
        ({"name": "ok", "description": 5}, "description:"),
        ({"name": "ok", "description": "d" * 1001}, "description:"),
        ({"name": "ok", "is_private": "yes"}, "is_private:"),
        ({"name": "ok", "is_private": 1}, "is_private:"),
    ]
    for body, prefix in cases:
        r = srv.post("/api/chat/rooms/", body, token=alice.token).expect(400, repr(body))
        check(r.detail().startswith(prefix), "%r -> %r" % (body, r.detail()))
    # 100 characters of any script are fine.
    srv.post("/api/chat/rooms/", {"name": "é" * 100}, token=alice.token).expect(201)


def test_list_pages(srv):
    # ?limit, ?after (a room id, the cursor) and ?search (name substring);
    # the answer stays an array, with Link: <...>; rel="next" when more.
    alice, bob = srv.user(), srv.user()
    tag = unique("pg")
    mine = [srv.room(alice, name="%s %02d" % (tag, i))["id"] for i in range(7)]
    hidden = srv.room(bob, name=tag + " hidden", private=True)["id"]
    r = srv.get("/api/chat/rooms/?search=" + tag, token=alice.token).expect(200)
    eq([x["id"] for x in r.json], mine, "search, no limit: all, no Link")
    eq(r.header("Link"), None, "no Link without more")
    got, url, pages = [], "/api/chat/rooms/?limit=3&search=" + tag, 0
    while url:
        r = srv.get(url, token=alice.token).expect(200)
        check(isinstance(r.json, list), "an array")
        check(len(r.json) <= 3, "page size")
        got += [x["id"] for x in r.json]
        link = r.header("Link")
        url = None
        if link:
            check(link.endswith('>; rel="next"') and link.startswith("</api/chat/rooms/?"), link)
            url = link[1:link.index(">")]
        pages += 1
        check(pages < 10, "pages end")
    eq(got, mine, "paged")
    eq(pages, 3, "7 rooms by 3")
    # The cursor by hand; the hidden room is never listed.
    r = srv.get("/api/chat/rooms/?limit=2&search=%s&after=%d" % (tag, mine[4]),
                token=alice.token).expect(200)
    eq([x["id"] for x in r.json], mine[5:], "after")
    eq(r.header("Link"), None, "last page")
    check(hidden not in [x["id"] for x in
                         srv.get("/api/chat/rooms/?search=hidden", token=alice.token).json],
          "private room of another found by search")
    # Substring, case-insensitive; LIKE metacharacters are literal.
    eq([x["id"] for x in srv.get("/api/chat/rooms/?search=%s%%2003" % tag.upper(),
                                 token=alice.token).expect(200).json], mine[3:4], "substring")
    for meta in ("%25", "_", "!", "%5C"):
        r = srv.get("/api/chat/rooms/?search=%s%s" % (tag, meta), token=alice.token).expect(200)
        eq(r.json, [], "search %r is literal" % meta)
    # A limit above 200 is capped; bad values are 400.
    srv.get("/api/chat/rooms/?limit=1000&search=" + tag, token=alice.token).expect(200)
    for bad in ("limit=0", "limit=-1", "limit=x", "after=0", "after=x", "search=" + "x" * 101,
                "search=%FF"):
        r = srv.get("/api/chat/rooms/?" + bad, token=alice.token).expect(400, bad)
        check(r.detail(), bad)


def test_room_creation_limit(srv):
    limited = Server("api.room_create_limit=3", "api.room_create_window=60")
    try:
        alice, bob = limited.user(), limited.user()
        for i in range(3):
            limited.room(alice)
        r = limited.post("/api/chat/rooms/", {"name": unique("r")}, token=alice.token).expect(429)
        check(1 <= int(r.header("Retry-After")) <= 60, r.header("Retry-After"))
        limited.room(bob)  # per user
        # Refused creations do not count; other requests are not limited.
        limited.get("/api/chat/rooms/", token=alice.token).expect(200)
    finally:
        limited.stop()


def test_list_visibility(srv):
    alice, bob = srv.user(), srv.user()
    pub = srv.room(alice)
    priv = srv.room(alice, private=True)
    mine = srv.room(bob, private=True)
    a = srv.get("/api/chat/rooms/", token=alice.token).expect(200).json
    b = srv.get("/api/chat/rooms/", token=bob.token).expect(200).json
    check(by_id(a, pub["id"]) and by_id(a, priv["id"]), "alice sees her rooms")
    check(by_id(a, mine["id"]) is None, "alice does not see bob's private room")
    check(by_id(b, pub["id"]) is not None, "bob sees the public room")
    check(by_id(b, priv["id"]) is None, "bob does not see alice's private room")
    check(by_id(b, mine["id"]) is not None, "bob sees his private room")
    for room in a:
        check(ROOM_KEYS <= set(room), "keys %r" % sorted(room))
    ids = [room["id"] for room in a]
    eq(ids, sorted(ids), "ascending ids")


def test_list_unread_and_last_message(srv):
    alice, bob = srv.user(), srv.user()
    room = srv.room(alice)
    srv.post("/api/chat/rooms/%d/join/" % room["id"], token=bob.token).expect(200)
    for i in range(3):
        last = srv.send(alice, room["id"], "msg %d" % i)
    b = by_id(srv.get("/api/chat/rooms/", token=bob.token).expect(200).json, room["id"])
    eq(b["unread_count"], 3, "bob's unread")
    eq(b["last_message"]["id"], last["id"], "last message")
    eq(b["last_message"]["content"], "msg 2")
    a = by_id(srv.get("/api/chat/rooms/", token=alice.token).expect(200).json, room["id"])
    eq(a["unread_count"], 0, "own messages are not unread")
    # The single room shows the same.
    one = srv.get("/api/chat/rooms/%d/" % room["id"], token=bob.token).expect(200).json
    eq(one, b, "GET of the room equals its list entry")
    # A non-member of the public room sees the same numbers both ways.
    carol = srv.user()
    c_list = by_id(srv.get("/api/chat/rooms/", token=carol.token).expect(200).json, room["id"])
    c_one = srv.get("/api/chat/rooms/%d/" % room["id"], token=carol.token).expect(200).json
    eq(c_one, c_list, "non-member view")


def test_get_room(srv):
    alice, bob = srv.user(), srv.user()
    pub = srv.room(alice)
    priv = srv.room(alice, private=True)
    r = srv.get("/api/chat/rooms/%d/" % pub["id"], token=bob.token).expect(200)
    eq(r.json["name"], pub["name"])
    srv.get("/api/chat/rooms/%d/" % priv["id"], token=alice.token).expect(200)
    r = srv.get("/api/chat/rooms/%d/" % priv["id"], token=bob.token).expect(404)
    absent = srv.get("/api/chat/rooms/999999999/", token=bob.token).expect(404)
    eq(r.body, absent.body, "a hidden room answers like an absent one")
    srv.get("/api/chat/rooms/0/", token=bob.token).expect(404)
    srv.get("/api/chat/rooms/abc/", token=bob.token).expect(404)
    srv.get("/api/chat/rooms/%d/" % pub["id"]).expect(401)


def test_patch_room(srv):
    alice, bob, carol = srv.user(), srv.user(), srv.user()
    room = srv.room(alice)
    srv.post("/api/chat/rooms/%d/join/" % room["id"], token=bob.token).expect(200)
    new_name = unique("renamed")
    r = srv.patch("/api/chat/rooms/%d/" % room["id"],
                  {"name": new_name, "description": "new words"}, token=alice.token).expect(200)
    eq(r.json["name"], new_name)
    eq(r.json["description"], "new words")
    eq(r.json["is_private"], False)
    r = srv.patch("/api/chat/rooms/%d/" % room["id"], {"is_private": True},
                  token=alice.token).expect(200)
    eq(r.json["is_private"], True)
    eq(r.json["name"], new_name, "unchanged fields stay")
    # A member may see it but not change it; an outsider cannot see it now.
    srv.patch("/api/chat/rooms/%d/" % room["id"], {"name": "mine"}, token=bob.token).expect(403)
    srv.patch("/api/chat/rooms/%d/" % room["id"], {"name": "mine"}, token=carol.token).expect(404)
    srv.patch("/api/chat/rooms/%d/" % room["id"], {"name": ""}, token=alice.token).expect(400)
    srv.patch("/api/chat/rooms/%d/" % room["id"], {"is_private": "no"},
              token=alice.token).expect(400)
    # A non-member of a public room sees it but may not change it.
    pub = srv.room(alice)
    srv.patch("/api/chat/rooms/%d/" % pub["id"], {"name": "x"}, token=carol.token).expect(403)


def test_delete_room(srv):
    alice, bob, carol = srv.user(), srv.user(), srv.user()
    room = srv.room(alice)
    srv.post("/api/chat/rooms/%d/join/" % room["id"], token=bob.token).expect(200)
    srv.send(bob, room["id"], "bye")
    srv.delete("/api/chat/rooms/%d/" % room["id"], token=bob.token).expect(403)
    srv.delete("/api/chat/rooms/%d/" % room["id"], token=carol.token).expect(403)
    priv = srv.room(alice, private=True)
    srv.delete("/api/chat/rooms/%d/" % priv["id"], token=carol.token).expect(404)
    r = srv.delete("/api/chat/rooms/%d/" % room["id"], token=alice.token).expect(204)
    eq(r.body, b"", "204 has no body")
    srv.get("/api/chat/rooms/%d/" % room["id"], token=alice.token).expect(404)
    srv.delete("/api/chat/rooms/%d/" % room["id"], token=alice.token).expect(404)
    rooms = srv.get("/api/chat/rooms/", token=bob.token).expect(200).json
    check(by_id(rooms, room["id"]) is None, "deleted room not listed")


def test_private_room_hidden_everywhere(srv):
    alice, eve = srv.user(), srv.user()
    room = srv.room(alice, private=True)
    rid = room["id"]
    msg = srv.send(alice, rid, "secret")
    mid = msg["id"]
    calls = [
        ("GET", "/api/chat/rooms/%d/" % rid, None),
        ("PATCH", "/api/chat/rooms/%d/" % rid, {"name": "pwned"}),
        ("DELETE", "/api/chat/rooms/%d/" % rid, None),
        ("POST", "/api/chat/rooms/%d/join/" % rid, None),
        ("POST", "/api/chat/rooms/%d/leave/" % rid, None),
        ("GET", "/api/chat/rooms/%d/members/" % rid, None),
        ("POST", "/api/chat/rooms/%d/members/" % rid, {"user_id": eve.id}),
        ("GET", "/api/chat/rooms/%d/messages/" % rid, None),
        ("POST", "/api/chat/rooms/%d/messages/" % rid, {"content": "hi"}),
        ("GET", "/api/chat/messages/%d/" % mid, None),
        ("PATCH", "/api/chat/messages/%d/" % mid, {"content": "x"}),
        ("DELETE", "/api/chat/messages/%d/" % mid, None),
        ("POST", "/api/chat/messages/%d/read/" % mid, None),
        ("GET", "/api/chat/messages/%d/reads/" % mid, None),
    ]
    for method, path, body in calls:
        srv.request(method, path, json_body=body, token=eve.token).expect(404, method + " " + path)
    # Nothing changed.
    eq(srv.get("/api/chat/messages/%d/" % mid, token=alice.token).expect(200).json["content"],
       "secret")
    members = srv.get("/api/chat/rooms/%d/members/" % rid, token=alice.token).expect(200).json
    eq([m["id"] for m in members], [alice.id])


if __name__ == "__main__":
    run(tests_of(globals()))
