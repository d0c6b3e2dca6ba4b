"""HTTP API: many messages posted at once, by many worker threads, into
several rooms, mixed with requests that must be refused. chat-api may store
concurrent posts together (one transaction for several requests); every
request must still get exactly the answer it gets when sent alone, and
what is stored must be exactly what was acknowledged: nothing lost,
nothing stored twice, ids in the order the answers came.

Every refused kind is first sent alone, and its answer (status and body)
is the reference the same request must get in the crowd: a non-member
posting to a private room, a client_id retry of a deleted message, a
message to a room that does not exist, two invalid bodies, and a user
made inactive after its token was issued (401 whatever it sends: chat-api
checks the poster inside the batch's transaction). Client_id
retries of a stored message must answer 200 with that message, and a new
client_id sent by several threads at once must store one message."""

import random
import threading

from apitest import Server, check, eq, run, sql, tests_of

THREADS = 24   # client threads, each sending its requests one after another
REQUESTS = 20  # per client thread
SERVER_THREADS = 16
SHARED_CIDS = 8  # new client_ids, each sent by three threads at once


def path(rid):
    return "/api/chat/rooms/%d/messages/" % rid


def commits():
    return int(sql("SHOW GLOBAL STATUS LIKE 'Com_commit'")[0][1])


def test_post_burst(srv):
    alice, bob, carol, dave = srv.user(), srv.user(), srv.user(), srv.user()
    eve = srv.user()
    sql("UPDATE users SET is_active = 0 WHERE id = %d" % eve.id)
    room_a, room_b = srv.room(alice)["id"], srv.room(alice)["id"]
    priv = srv.room(alice, private=True)["id"]
    srv.post("/api/chat/rooms/%d/members/" % priv, {"user_id": bob.id},
             token=alice.token).expect(201)
    rooms = (room_a, room_b, priv)

    # The stored message a retry must answer with, and a deleted one.
    kept = srv.post(path(room_a), {"content": "kept", "client_id": "kept-1"},
                    token=alice.token).expect(201)
    gone = srv.post(path(room_a), {"content": "gone", "client_id": "gone-1"},
                    token=alice.token).expect(201)
    srv.delete("/api/chat/messages/%d/" % gone.json["id"], token=alice.token).expect(204)

    # Refused requests, each answered alone first: the reference answers.
    refused = {
        "non-member": (carol, priv, {"content": "let me in"}),
        "deleted-retry": (alice, room_a, {"content": "gone", "client_id": "gone-1"}),
        "no-room": (alice, 987654321, {"content": "nowhere"}),
        "empty": (alice, room_a, {"content": ""}),
        "bad-type": (alice, room_b, {"content": "x", "message_type": "bogus"}),
        "inactive": (eve, room_a, {"content": "still here?"}),
        "inactive-retry": (eve, room_a, {"content": "kept", "client_id": "kept-1"}),
        "inactive-empty": (eve, room_a, {"content": ""}),
        "inactive-no-room": (eve, 987654321, {"content": "nowhere"}),
    }
    reference = {}
    for kind, (user, rid, body) in refused.items():
        r = srv.post(path(rid), body, token=user.token)
        check(r.status in (400, 404, 401), "%s alone: %r" % (kind, r))
        eq(r.status == 401, kind.startswith("inactive"), "%s alone: %r" % (kind, r))
        reference[kind] = (r.status, r.json)
    eq(reference["non-member"][0], 404, "a non-member's post alone")
    eq(reference["deleted-retry"][0], 404, "a deleted message's retry alone")

    before = int(sql("SELECT COALESCE(MAX(id), 0) FROM messages")[0][0])
    commits_before = commits()

    # Each client thread's requests: mostly new messages from alice (rooms A
    # and B), bob (private room) and dave (room B, joining it by posting),
    # with refused ones, retries and shared client_ids spread through.
    rnd = random.Random(15)
    plans = []
    for t in range(THREADS):
        plan = []
        for k in range(REQUESTS):
            x = rnd.random()
            if x < 0.15:
                plan.append(("refused", rnd.choice(sorted(refused)), None))
            elif x < 0.2:
                plan.append(("kept-retry", None, None))
            else:
                user, rid = rnd.choice([(alice, room_a), (alice, room_b), (bob, priv),
                                        (dave, room_b)])
                plan.append(("new", (user, rid), "t%d-%d" % (t, k)))
        plans.append(plan)
    for c in range(SHARED_CIDS):
        for t in rnd.sample(range(THREADS), 3):
            plans[t].insert(c * 2, ("shared", c, None))

    answers = [[] for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    errors = []

    def client(t):
        try:
            barrier.wait(30)
            for kind, what, content in plans[t]:
                if kind == "refused":
                    user, rid, body = refused[what]
                elif kind == "kept-retry":
                    user, rid, body = alice, room_a, {"content": "kept", "client_id": "kept-1"}
                elif kind == "shared":
                    user, rid = alice, room_b
                    body = {"content": "shared %d" % what, "client_id": "shared-%d" % what}
                else:
                    (user, rid), body = what, {"content": content}
                r = srv.post(path(rid), body, token=user.token)
                answers[t].append((kind, what, content, user, rid, r))
        except Exception as e:  # reported below, with the thread's number
            errors.append("client %d: %r" % (t, e))

    threads = [threading.Thread(target=client, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
        check(not th.is_alive(), "client thread finished")
    eq(errors, [], "client errors")

    acked = {}  # id -> (room, sender, content) of every 201
    shared_ids = {}
    shared_created = {}
    for t in range(THREADS):
        last_id = 0
        for kind, what, content, user, rid, r in answers[t]:
            if kind == "refused":
                eq((r.status, r.json), reference[what], "%s in the crowd" % what)
                continue
            if kind == "kept-retry":
                eq((r.status, r.json), (200, kept.json), "retry of a stored message")
                continue
            check(r.status in (200, 201), "%s: %r" % (kind, r))
            m = r.json
            eq(m["sender"], {"id": user.id, "username": user.username}, "sender")
            eq(m["room_id"], rid, "room")
            eq(m["message_type"], "text", "type")
            if kind == "shared":
                eq(m["content"], "shared %d" % what, "content")
                eq(m["client_id"], "shared-%d" % what, "client_id")
                shared_ids.setdefault(what, set()).add(m["id"])
                shared_created[what] = shared_created.get(what, 0) + (r.status == 201)
            else:
                eq(r.status, 201, "a new message")
                eq(m["content"], content, "content")
                check("client_id" not in m, "no client_id")
            if r.status == 201:
                check(m["id"] not in acked, "id %d acknowledged twice" % m["id"])
                acked[m["id"]] = (rid, user.id, m["content"])
                # Sent after the previous answer came: stored after it.
                check(m["id"] > last_id, "ids in answer order: %d after %d" % (m["id"], last_id))
                last_id = m["id"]
    for c in range(SHARED_CIDS):
        eq(len(shared_ids[c]), 1, "shared-%d answered with one message" % c)
        eq(shared_created[c], 1, "shared-%d created once" % c)

    # Stored: exactly what was acknowledged (0 lost, 0 duplicated).
    rows = sql("SELECT id, room_id, sender_id, content FROM messages WHERE id > %d" % before)
    stored = {int(i): (int(rid), int(uid), content) for i, rid, uid, content in rows}
    eq(len(rows), len(stored), "distinct ids")
    lost = sorted(set(acked) - set(stored))
    extra = sorted(set(stored) - set(acked))
    eq((lost, extra), ([], []), "acknowledged but not stored, stored but not acknowledged")
    for i, want in acked.items():
        eq(stored[i], want, "message %d as acknowledged" % i)
    # Every room's history lists them in id order.
    for rid in rooms:
        got = [m["id"] for m in srv.get(path(rid) + "?limit=200", token=alice.token)
               .expect(200).json["results"] if m["id"] > before]
        want = sorted(i for i, (room, _, _) in acked.items() if room == rid)
        # a room can hold more than a page: compare the newest page's part
        eq(got, want[-len(got):] if got else [], "room %d's page" % rid)
        eq(int(sql("SELECT COUNT(*) FROM messages WHERE room_id = %d AND id > %d"
                   % (rid, before))[0][0]), len(want), "room %d's count" % rid)
    # Refused posts changed nothing: no membership for the non-member;
    # dave joined room B by posting.
    eq(sql("SELECT COUNT(*) FROM room_members WHERE room_id = %d AND user_id = %d"
           % (priv, carol.id)), [["0"]], "the non-member stays out")
    eq(sql("SELECT COUNT(*) FROM room_members WHERE room_id = %d AND user_id = %d"
           % (room_b, dave.id)), [["1"]], "dave joined room B")
    eq(sql("SELECT COUNT(*) FROM messages WHERE sender_id = %d" % eve.id), [["0"]],
       "the inactive user stored nothing")
    eq(sql("SELECT COUNT(*) FROM room_members WHERE room_id = %d AND user_id = %d"
           % (room_a, eve.id)), [["0"]], "the inactive user joined nothing")
    # Informational: how many transactions stored them.
    print("%d messages acknowledged, %d commits on the server"
          % (len(acked), commits() - commits_before), flush=True)


if __name__ == "__main__":
    run(tests_of(globals()), lambda: Server(threads=SERVER_THREADS))
