"""HTTP API: messages (history pages, posting with client_id retries,
validation, edit and delete rules, deleted messages gone everywhere)."""

import json
import time

from apitest import Server, check, eq, run, sql, tests_of

MSG_KEYS = {"id", "content", "message_type", "timestamp", "sender"}


def page(srv, user, rid, query=""):
    r = srv.get("/api/chat/rooms/%d/messages/%s" % (rid, query), token=user.token).expect(200)
    eq(set(r.json), {"results", "has_more"}, "page keys")
    return [m["id"] for m in r.json["results"]], r.json["has_more"]


def test_post_message_shape(srv):
    alice = srv.user()
    room = srv.room(alice)
    r = srv.post("/api/chat/rooms/%d/messages/" % room["id"], {"content": "héllo 👋"},
                 token=alice.token).expect(201)
    m = r.json
    check(MSG_KEYS <= set(m), "keys %r" % sorted(m))
    eq(m["content"], "héllo 👋")
    eq(m["message_type"], "text")
    eq(m["sender"], {"id": alice.id, "username": alice.username})
    check(m["timestamp"].endswith("Z") and "T" in m["timestamp"], m["timestamp"])
    check("edited_at" not in m, "not edited")
    # GET returns the same object.
    eq(srv.get("/api/chat/messages/%d/" % m["id"], token=alice.token).expect(200).json, m)
    # Every message type is accepted.
    for t in ("text", "image", "file", "system"):
        eq(srv.send(alice, room["id"], "x", message_type=t)["message_type"], t)


# Chinese (with a 4-byte CJK Extension B character), emoji (a ZWJ family, a
# skin tone, a flag), right-to-left Hebrew and Arabic with direction marks,
# combining accents.
WORLD_TEXT = ("你好，世界 \U00020BB7 " "\U0001F468\u200D\U0001F469\u200D\U0001F467 "
              "\U0001F44D\U0001F3FD \U0001F1F9\U0001F1FC "
              "\u05E9\u05DC\u05D5\u05DD \u200F\u0645\u0631\u062D\u0628\u0627\u200E "
              "e\u0301 n\u0303")


def test_world_text_byte_exact(srv):
    """Posted as raw UTF-8 and as \\u escapes, edited, stored and read
    back: the same bytes each time (json-c 0.18's strict mode refused
    every byte >= 0x80)."""
    alice = srv.user()
    rid = srv.room(alice)["id"]
    path = "/api/chat/rooms/%d/messages/" % rid
    raw = json.dumps({"content": WORLD_TEXT}, ensure_ascii=False).encode("utf-8")
    check(any(b >= 0x80 for b in raw), "the request body carries raw UTF-8")
    ids = []
    for body in (raw, json.dumps({"content": WORLD_TEXT}).encode()):
        m = srv.post(path, token=alice.token, body=body,
                     content_type="application/json").expect(201).json
        eq(m["content"].encode("utf-8"), WORLD_TEXT.encode("utf-8"), "content answered")
        ids.append(m["id"])
    for mid in ids:
        eq(sql("SELECT HEX(content) FROM messages WHERE id = %d" % mid)[0][0],
           WORLD_TEXT.encode("utf-8").hex().upper(), "bytes stored")
        eq(srv.get("/api/chat/messages/%d/" % mid, token=alice.token).expect(200)
           .json["content"], WORLD_TEXT, "content read back")
    listed = srv.get(path, token=alice.token).expect(200).json["results"]
    eq([m["content"] for m in listed if m["id"] in ids], [WORLD_TEXT] * 2, "content listed")
    edited = WORLD_TEXT[::-1].replace("\u200D", "")  # still valid text, other bytes
    eq(srv.patch("/api/chat/messages/%d/" % ids[0], token=alice.token, content_type="application/json",
                 body=json.dumps({"content": edited}, ensure_ascii=False).encode("utf-8"))
       .expect(200).json["content"], edited, "content edited")
    eq(sql("SELECT HEX(content) FROM messages WHERE id = %d" % ids[0])[0][0],
       edited.encode("utf-8").hex().upper(), "edited bytes stored")


def test_client_id_retry(srv):
    alice, bob = srv.user(), srv.user()
    room = srv.room(alice)
    path = "/api/chat/rooms/%d/messages/" % room["id"]
    cid = "6f1c2f7e-7d0e-4bb5-9a55-1f0a3e6f0b11"
    first = srv.post(path, {"content": "once", "client_id": cid}, token=alice.token).expect(201)
    eq(first.json["client_id"], cid)
    again = srv.post(path, {"content": "once", "client_id": cid}, token=alice.token).expect(200)
    eq(again.json, first.json, "the stored message")
    ids, _ = page(srv, alice, room["id"])
    eq(ids, [first.json["id"]], "stored once")
    # The same client_id from another user is another message.
    srv.post(path, {"content": "mine", "client_id": cid}, token=bob.token).expect(201)
    # null means none.
    srv.post(path, {"content": "n", "client_id": None}, token=alice.token).expect(201)


def test_client_id_is_per_room(srv):
    # A client_id names one message of one sender in one room: reusing it
    # in another room stores a new message there and never answers with
    # the first room's message (which the sender may no longer read).
    alice, bob = srv.user(), srv.user()
    private = srv.room(alice, private=True)
    public = srv.room(alice)
    srv.post("/api/chat/rooms/%d/members/" % private["id"], {"user_id": bob.id},
             token=alice.token).expect(201)
    cid = "0b9e4b7a-3c57-4a8e-9f0e-5d1a2c3b4e5f"
    secret = srv.post("/api/chat/rooms/%d/messages/" % private["id"],
                      {"content": "room-2 secret", "client_id": cid}, token=bob.token).expect(201)
    srv.post("/api/chat/rooms/%d/leave/" % private["id"], token=bob.token).expect(200)
    r = srv.post("/api/chat/rooms/%d/messages/" % public["id"],
                 {"content": "hello room 1", "client_id": cid}, token=bob.token).expect(201)
    eq(r.json["content"], "hello room 1", "the new message, not the other room's")
    check(r.json["id"] != secret.json["id"], "a new id")
    eq(r.json["client_id"], cid)
    ids, _ = page(srv, alice, public["id"])
    eq(ids, [r.json["id"]], "stored in room 1")
    # And a retry in room 1 finds the room-1 message.
    again = srv.post("/api/chat/rooms/%d/messages/" % public["id"],
                     {"content": "hello room 1", "client_id": cid}, token=bob.token).expect(200)
    eq(again.json, r.json)
    eq(sql("SELECT COUNT(*) FROM messages WHERE client_id = '%s'" % cid), [["2"]])


def test_client_id_retry_of_deleted_message(srv):
    # A deleted message's content leaves the server through no path: a
    # client_id retry answers 404 and stores nothing new.
    alice = srv.user()
    room = srv.room(alice)
    path = "/api/chat/rooms/%d/messages/" % room["id"]
    cid = "d3l3t3d0-0000-4000-8000-000000000001"
    m = srv.post(path, {"content": "regretted", "client_id": cid}, token=alice.token).expect(201)
    srv.delete("/api/chat/messages/%d/" % m.json["id"], token=alice.token).expect(204)
    r = srv.post(path, {"content": "regretted", "client_id": cid}, token=alice.token).expect(404)
    eq(set(r.json), {"detail"}, "an error body")
    check("regretted" not in r.body.decode(), "no content in the answer")
    eq(page(srv, alice, room["id"]), ([], False), "nothing stored")
    eq(sql("SELECT COUNT(*) FROM messages WHERE room_id = %d" % room["id"]), [["1"]])


def test_validation(srv):
    alice = srv.user()
    room = srv.room(alice)
    path = "/api/chat/rooms/%d/messages/" % room["id"]
    cases = [
        ({}, "content:"),
        ({"content": ""}, "content:"),
        ({"content": None}, "content:"),
        ({"content": 12}, "content:"),
        ({"content": ["a"]}, "content:"),
        ({"content": "x" * 4001}, "content:"),
        ({"content": "é" * 4001}, "content:"),
        ({"content": "a\u0000b"}, "content:"),
        ({"content": "ok", "message_type": "video"}, "message_type:"),
        ({"content": "ok", "message_type": 3}, "message_type:"),
        ({"content": "ok", "client_id": "c" * 65}, "client_id:"),
        ({"content": "ok", "client_id": ""}, "client_id:"),
        ({"content": "ok", "client_id": 7}, "client_id:"),
    ]
    for body, prefix in cases:
        r = srv.post(path, body, token=alice.token).expect(400, repr(body)[:80])
        check(r.detail().startswith(prefix), "%r -> %r" % (repr(body)[:80], r.detail()))
    # The limit counts characters, not bytes.
    eq(len(srv.send(alice, room["id"], "é" * 4000)["content"]), 4000)
    ids, _ = page(srv, alice, room["id"])
    eq(len(ids), 1, "nothing stored by the refused posts")


def test_public_room_sender_becomes_member(srv):
    alice, bob = srv.user(), srv.user()
    room = srv.room(alice)
    srv.send(bob, room["id"], "drive-by")
    r = srv.get("/api/chat/rooms/%d/members/" % room["id"], token=alice.token).expect(200)
    eq({m["id"]: m["role"] for m in r.json}, {alice.id: "owner", bob.id: "member"})


def test_pages(srv):
    alice = srv.user()
    room = srv.room(alice)
    rid = room["id"]
    eq(page(srv, alice, rid), ([], False), "empty room")
    eq(page(srv, alice, rid, "?before=1"), ([], False), "empty room, before")
    eq(page(srv, alice, rid, "?after=1"), ([], False), "empty room, after")
    ids = [srv.send(alice, rid, "m%d" % i)["id"] for i in range(7)]
    eq(page(srv, alice, rid), (ids, False), "default page")
    eq(page(srv, alice, rid, "?limit=3"), (ids[4:], True), "newest 3")
    eq(page(srv, alice, rid, "?limit=7"), (ids, False), "exactly all")
    eq(page(srv, alice, rid, "?limit=3&before=%d" % ids[4]), (ids[1:4], True), "before")
    eq(page(srv, alice, rid, "?limit=3&before=%d" % ids[3]), (ids[0:3], False), "before, to the start")
    eq(page(srv, alice, rid, "?before=%d" % ids[0]), ([], False), "before the first")
    eq(page(srv, alice, rid, "?limit=2&after=%d" % ids[2]), (ids[3:5], True), "after")
    eq(page(srv, alice, rid, "?limit=2&after=%d" % ids[4]), (ids[5:], False), "after, to the end")
    eq(page(srv, alice, rid, "?after=%d" % ids[-1]), ([], False), "after the last")
    eq(page(srv, alice, rid, "?limit=200"), (ids, False), "max limit")
    eq(page(srv, alice, rid, "?limit=1"), (ids[-1:], True), "limit 1")
    for bad in ("limit=0", "limit=-1", "limit=abc", "limit=", "limit=1.5", "limit=-1000",
                "before=abc", "before=0", "after=-2", "after=", "before=%d&after=%d" % (ids[5], ids[1])):
        r = srv.get("/api/chat/rooms/%d/messages/?%s" % (rid, bad), token=alice.token)
        r.expect(400, bad)
        check(r.detail(), "detail for " + bad)
    # Unknown parameters are ignored.
    eq(page(srv, alice, rid, "?foo=bar&limit=2"), (ids[5:], True), "unknown parameter")


def test_after_zero_is_from_the_oldest(srv):
    # A client tracking the last id it has seen starts at 0 (issue: it
    # was answered 400).
    alice = srv.user()
    rid = srv.room(alice)["id"]
    eq(page(srv, alice, rid, "?after=0"), ([], False), "empty room, after=0")
    ids = [srv.send(alice, rid, "z%d" % i)["id"] for i in range(5)]
    eq(page(srv, alice, rid, "?after=0"), (ids, False), "after=0")
    eq(page(srv, alice, rid, "?after=0&limit=2"), (ids[:2], True), "after=0, oldest first")
    eq(page(srv, alice, rid, "?limit=2&after=0"), (ids[:2], True), "after=0, any order")
    # before=0 stays refused.
    srv.get("/api/chat/rooms/%d/messages/?before=0" % rid, token=alice.token).expect(400)


def test_limit_over_the_max_is_capped(srv):
    # "max 200" is a cap: a larger limit answers the first 200 and
    # has_more (it was answered 400).
    alice = srv.user()
    rid = srv.room(alice)["id"]
    ids = [srv.send(alice, rid, "c%d" % i)["id"] for i in range(203)]
    eq(page(srv, alice, rid, "?limit=1000"), (ids[3:], True), "newest, limit=1000")
    eq(page(srv, alice, rid, "?limit=201"), (ids[3:], True), "newest, limit=201")
    eq(page(srv, alice, rid, "?after=0&limit=1000"), (ids[:200], True), "oldest, limit=1000")
    eq(page(srv, alice, rid, "?limit=99999999999999999999999"), (ids[3:], True),
       "a limit too large for any integer type")


def test_per_user_message_rate(srv):
    # 1,000 messages from one user in 2.1 s went through: a per-user
    # limit in each chat-api process now answers 429 above it.
    limited = Server("api.message_rate_limit=5", "api.message_rate_window=60")
    try:
        alice, bob = limited.user(), limited.user()
        rid = limited.room(alice)["id"]
        limited.post("/api/chat/rooms/%d/join/" % rid, token=bob.token).expect(200)
        for i in range(5):
            limited.send(alice, rid, "m%d" % i)
        for _ in range(20):
            r = limited.post("/api/chat/rooms/%d/messages/" % rid, {"content": "flood"},
                             token=alice.token).expect(429)
        check(1 <= int(r.header("Retry-After")) <= 60, r.header("Retry-After"))
        check("throttled" in r.detail(), r.detail())
        limited.send(bob, rid, "another user")  # per user
        # Reading is not limited; nothing refused was stored.
        got, _ = page(limited, alice, rid)
        eq(len(got), 6, "stored")
        # Refused requests are logged at a bounded rate.
        for _ in range(200):
            limited.post("/api/chat/rooms/%d/messages/" % rid, {"content": "x"}, token=alice.token)
        limited.get("/api/chat/rooms/", token=alice.token).expect(200)
        log = limited.log_text()
        # Made inactive while over its limit: 401 comes before 429.
        sql("UPDATE users SET is_active = 0 WHERE id = %d" % alice.id)
        r = limited.post("/api/chat/rooms/%d/messages/" % rid, {"content": "x"},
                         token=alice.token).expect(401)
        eq(r.header("Retry-After"), None, "no Retry-After on the 401")
    finally:
        limited.stop()
    lines = [ln for ln in log.splitlines() if " 429 " in ln]
    check(1 <= len(lines) <= 30, "%d log lines for 220 refused requests" % len(lines))
    check("not logged" in log, "no count of the refused requests left out")


def test_default_limit_is_50(srv):
    alice = srv.user()
    room = srv.room(alice)
    ids = [srv.send(alice, room["id"], "n%d" % i)["id"] for i in range(52)]
    got, more = page(srv, alice, room["id"])
    eq(got, ids[2:], "newest 50")
    eq(more, True)


def test_edit(srv):
    alice, bob = srv.user(), srv.user()
    room = srv.room(bob)
    srv.post("/api/chat/rooms/%d/join/" % room["id"], token=alice.token).expect(200)
    m = srv.send(alice, room["id"], "first words")
    path = "/api/chat/messages/%d/" % m["id"]
    time.sleep(0.01)
    r = srv.patch(path, {"content": "second words"}, token=alice.token).expect(200)
    e = r.json
    eq(e["id"], m["id"])
    eq(e["timestamp"], m["timestamp"], "timestamp kept")
    eq(e["content"], "second words")
    check(e.get("edited_at", "").endswith("Z"), "edited_at %r" % e.get("edited_at"))
    eq(srv.get(path, token=bob.token).expect(200).json, e)
    # Only the sender edits, the room's owner included.
    srv.patch(path, {"content": "bob was here"}, token=bob.token).expect(403)
    for bad in ({}, {"content": ""}, {"content": 5}, {"content": "y" * 4001}):
        srv.patch(path, bad, token=alice.token).expect(400, repr(bad)[:40])
    srv.patch("/api/chat/messages/987654321/", {"content": "x"}, token=alice.token).expect(404)


def test_delete(srv):
    owner, alice, bob = srv.user(), srv.user(), srv.user()
    room = srv.room(owner)
    rid = room["id"]
    for u in (alice, bob):
        srv.post("/api/chat/rooms/%d/join/" % rid, token=u.token).expect(200)
    m1 = srv.send(alice, rid, "one")
    m2 = srv.send(alice, rid, "two")
    m3 = srv.send(alice, rid, "three")
    # Another member may not delete; the sender and the owner may.
    srv.delete("/api/chat/messages/%d/" % m3["id"], token=bob.token).expect(403)
    srv.delete("/api/chat/messages/%d/" % m3["id"], token=alice.token).expect(204)
    srv.delete("/api/chat/messages/%d/" % m2["id"], token=owner.token).expect(204)
    # Gone: 404 on every message endpoint, absent from history.
    for mid in (m2["id"], m3["id"]):
        srv.get("/api/chat/messages/%d/" % mid, token=alice.token).expect(404)
        srv.delete("/api/chat/messages/%d/" % mid, token=alice.token).expect(404)
        srv.patch("/api/chat/messages/%d/" % mid, {"content": "back"}, token=alice.token).expect(404)
        srv.post("/api/chat/messages/%d/read/" % mid, token=bob.token).expect(404)
        srv.get("/api/chat/messages/%d/reads/" % mid, token=bob.token).expect(404)
    eq(page(srv, bob, rid), ([m1["id"]], False), "history")
    # Not the last message, not unread.
    rooms = srv.get("/api/chat/rooms/", token=bob.token).expect(200).json
    mine = [r for r in rooms if r["id"] == rid][0]
    eq(mine["last_message"]["id"], m1["id"], "last_message")
    eq(mine["unread_count"], 1, "unread")
    srv.delete("/api/chat/messages/%d/" % m1["id"], token=alice.token).expect(204)
    rooms = srv.get("/api/chat/rooms/", token=bob.token).expect(200).json
    mine = [r for r in rooms if r["id"] == rid][0]
    eq(mine["last_message"], None)
    eq(mine["unread_count"], 0)


def test_pages_follow_every_change(srv):
    """Pages are kept for a moment (api/page_cache.c): a change by any
    writer, API or SQL, shows on the next read, for every reader."""
    alice, bob = srv.user(), srv.user()
    room = srv.room(alice)
    rid = room["id"]
    ids = [srv.send(alice, rid, "c%d" % i)["id"] for i in range(3)]
    for _ in range(3):
        eq(page(srv, bob, rid), (ids, False), "the same page, read again")

    def contents(user=bob, query=""):
        r = srv.get("/api/chat/rooms/%d/messages/%s" % (rid, query), token=user.token).expect(200)
        return [(m["id"], m["content"], "edited_at" in m) for m in r.json["results"]]

    ids.append(srv.send(alice, rid, "posted")["id"])
    eq([c[0] for c in contents()], ids, "after a post")
    srv.patch("/api/chat/messages/%d/" % ids[0], {"content": "edited"}, token=alice.token).expect(200)
    eq(contents()[0], (ids[0], "edited", True), "after an edit")
    srv.delete("/api/chat/messages/%d/" % ids[1], token=alice.token).expect(204)
    del ids[1]
    eq([c[0] for c in contents()], ids, "after a delete")
    # Writers outside the API: the triggers' events move the page along.
    sql("INSERT INTO messages (room_id, sender_id, content, message_type, created_at) "
        "VALUES (%d, %d, 'by sql', 'text', UTC_TIMESTAMP(3))" % (rid, alice.id))
    got = contents()
    eq(got[-1][1], "by sql", "a message stored by SQL")
    ids.append(got[-1][0])
    sql("UPDATE messages SET content = 'changed by sql' WHERE id = %d" % ids[-1])
    eq(contents()[-1][1], "changed by sql", "an SQL edit")
    sql("DELETE FROM messages WHERE id = %d" % ids[-1])
    ids.pop()
    eq([c[0] for c in contents()], ids, "an SQL hard delete")
    # Other shapes of the same room are pages of their own.
    eq([c[0] for c in contents(query="?limit=1")], ids[-1:], "limit=1")
    eq([c[0] for c in contents(query="?before=%d" % ids[-1])], ids[:-1], "before")
    eq([c[0] for c in contents(query="?after=%d" % ids[0])], ids[1:], "after")
    # A reader who lost access gets no page, read before or not.
    srv.patch("/api/chat/rooms/%d/" % rid, {"is_private": True}, token=alice.token).expect(200)
    srv.get("/api/chat/rooms/%d/messages/" % rid, token=bob.token).expect(404)
    eq(page(srv, alice, rid), (ids, False), "the owner still reads it")


def test_concurrent_posts(srv):
    from concurrent.futures import ThreadPoolExecutor
    alice = srv.user()
    room = srv.room(alice)
    path = "/api/chat/rooms/%d/messages/" % room["id"]

    def post(i):
        r = srv.post(path, {"content": "c%d" % i, "client_id": "cc-%d" % (i % 40)},
                     token=alice.token)
        return r.status, r.json["id"], r.json["content"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(post, range(120)))
    for st, _, _ in results:
        check(st in (200, 201), "status %d" % st)
    created = [r for r in results if r[0] == 201]
    eq(len(created), 40, "one message per client_id")
    by_cid = {}
    for i, (st, mid, content) in enumerate(results):
        by_cid.setdefault(i % 40, set()).add(mid)
    for cid, ids in by_cid.items():
        eq(len(ids), 1, "client_id cc-%d answered with one message" % cid)
    ids, more = page(srv, alice, room["id"], "?limit=200")
    eq(len(ids), 40)
    eq(len(set(ids)), 40)


def test_message_ids(srv):
    alice = srv.user()
    for bad in ("0", "-1", "abc", "1.0", "99999999999999999999"):
        srv.get("/api/chat/messages/%s/" % bad, token=alice.token).expect(404, bad)
    srv.get("/api/chat/messages/123456789/", token=alice.token).expect(404)
    srv.get("/api/chat/rooms/123456789/messages/", token=alice.token).expect(404)
    srv.post("/api/chat/rooms/123456789/messages/", {"content": "x"}, token=alice.token).expect(404)


if __name__ == "__main__":
    run(tests_of(globals()))
