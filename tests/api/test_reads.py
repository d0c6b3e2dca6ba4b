"""HTTP API: read receipts, read positions and unread counts."""

from apitest import check, eq, run, tests_of


def unread(srv, user):
    r = srv.get("/api/chat/unread/", token=user.token).expect(200).json
    eq(set(r), {"total", "rooms"}, "unread keys")
    rooms = {}
    for item in r["rooms"]:
        eq(set(item), {"room_id", "unread_count"}, "unread item keys")
        check(item["unread_count"] > 0, "only rooms with unread messages")
        rooms[item["room_id"]] = item["unread_count"]
    eq(r["total"], sum(rooms.values()), "total is the sum")
    return r["total"], rooms


def room_unread(srv, user, rid):
    rooms = srv.get("/api/chat/rooms/", token=user.token).expect(200).json
    return [r for r in rooms if r["id"] == rid][0]["unread_count"]


def test_mark_read_and_list(srv):
    alice, bob = srv.user(), srv.user()
    room = srv.room(alice)
    srv.post("/api/chat/rooms/%d/join/" % room["id"], token=bob.token).expect(200)
    m = srv.send(alice, room["id"], "read me")
    r = srv.post("/api/chat/messages/%d/read/" % m["id"], token=bob.token).expect(200)
    eq(r.json, {"status": "ok", "message_id": m["id"]})
    reads = srv.get("/api/chat/messages/%d/reads/" % m["id"], token=alice.token).expect(200).json
    eq(len(reads), 1)
    eq(set(reads[0]), {"user", "read_at"})
    eq(reads[0]["user"], {"id": bob.id, "username": bob.username})
    check(reads[0]["read_at"].endswith("Z"), reads[0]["read_at"])
    # A second read keeps the first time; a read needs no body.
    srv.post("/api/chat/messages/%d/read/" % m["id"], token=bob.token).expect(200)
    again = srv.get("/api/chat/messages/%d/reads/" % m["id"], token=alice.token).expect(200).json
    eq(again, reads, "first read time kept")
    # Unread messages have an empty receipt list.
    m2 = srv.send(alice, room["id"], "not yet")
    eq(srv.get("/api/chat/messages/%d/reads/" % m2["id"], token=bob.token).expect(200).json, [])


def test_unread_counts(srv):
    alice, bob, carol = srv.user(), srv.user(), srv.user()
    r1 = srv.room(alice)
    r2 = srv.room(alice, private=True)
    for u in (bob, carol):
        srv.post("/api/chat/rooms/%d/join/" % r1["id"], token=u.token).expect(200)
        srv.post("/api/chat/rooms/%d/members/" % r2["id"], {"user_id": u.id},
                 token=alice.token).expect(201)
    m = [srv.send(alice, r1["id"], "a%d" % i) for i in range(5)]
    n = [srv.send(alice, r2["id"], "b%d" % i) for i in range(2)]
    srv.send(bob, r2["id"], "from bob")
    eq(unread(srv, alice), (1, {r2["id"]: 1}), "alice: bob's message only")
    eq(unread(srv, bob), (7, {r1["id"]: 5, r2["id"]: 2}), "bob before reading")
    eq(unread(srv, carol), (8, {r1["id"]: 5, r2["id"]: 3}), "carol")
    # Reading message 3 moves bob's position: everything up to it is read.
    srv.post("/api/chat/messages/%d/read/" % m[2]["id"], token=bob.token).expect(200)
    eq(unread(srv, bob), (4, {r1["id"]: 2, r2["id"]: 2}), "bob after reading m3")
    eq(room_unread(srv, bob, r1["id"]), 2, "room list agrees")
    # The position only moves forward.
    srv.post("/api/chat/messages/%d/read/" % m[4]["id"], token=bob.token).expect(200)
    srv.post("/api/chat/messages/%d/read/" % m[0]["id"], token=bob.token).expect(200)
    eq(unread(srv, bob), (2, {r2["id"]: 2}), "room fully read is not listed")
    eq(unread(srv, carol)[0], 8, "carol unaffected")
    # A deleted message no longer counts.
    srv.delete("/api/chat/messages/%d/" % n[1]["id"], token=alice.token).expect(204)
    eq(unread(srv, bob), (1, {r2["id"]: 1}), "deleted message not unread")


def test_read_makes_member_of_public_room(srv):
    alice, bob = srv.user(), srv.user()
    room = srv.room(alice)
    m = srv.send(alice, room["id"], "hi")
    srv.post("/api/chat/messages/%d/read/" % m["id"], token=bob.token).expect(200)
    ms = srv.get("/api/chat/rooms/%d/members/" % room["id"], token=alice.token).expect(200).json
    check(bob.id in [x["id"] for x in ms], "bob became a member")


def test_no_unread(srv):
    dave = srv.user()
    eq(unread(srv, dave), (0, {}))
    srv.get("/api/chat/unread/").expect(401)


if __name__ == "__main__":
    run(tests_of(globals()))
