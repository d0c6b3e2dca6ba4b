"""Messages stored by other writers (plain SQL, a second relay process) reach
every connection; two relays on one database agree on each room's order
and on presence."""

import asyncio
import signal
import threading

import relaylib as R

S = {}


def setup(fx):
    # short heartbeats so a crashed relay's connections are reaped quickly
    # (and a short typing timeout, for the crashed-typer check)
    S["a"] = fx.relay(CHAT_RELAY_HEARTBEAT_INTERVAL="1", CHAT_RELAY_TYPING_TIMEOUT="3")
    S["b"] = fx.relay(CHAT_RELAY_HEARTBEAT_INTERVAL="1", CHAT_RELAY_TYPING_TIMEOUT="3")


async def t_sql_insert_delivered(fx):
    a = S["a"]
    u, w = fx.user("sqlu"), fx.user("sqlw")
    room = fx.room(u)
    c = await a.connect(room, w)
    mid = fx.insert_message(room, u, "inserted by SQL ✓", "image")
    f = await c.next("chat_message", 10)
    R.check_message(f["message"], content="inserted by SQL ✓", message_type="image", sender=u)
    R.eq(f["message"]["id"], mid, "id of the SQL-inserted message")
    await c.quiet(0.5, "chat_message", what="second delivery")


@R.timeout(120)
async def t_two_relays_concurrent(fx):
    """Clients on two relays and a plain-SQL writer fill two rooms at once,
    three times over (the races it looks for are timing-dependent)."""
    for _ in range(3):
        await two_relays_round(fx)
        await fx.close_clients()


async def two_relays_round(fx):
    a, b = S["a"], S["b"]
    users = [fx.user("multi") for _ in range(8)]
    rooms = [fx.room(users[0]), fx.room(users[1])]
    # per room: 2 clients on each relay, all sending
    clients = {}
    for room in rooms:
        clients[room] = [await (a if i % 2 == 0 else b).connect(room, users[i])
                         for i in range(4)]
    n_msgs, n_sql = 15, 20

    async def send(c, room):
        for i in range(n_msgs):
            await c.send({"type": "chat_message", "content": f"r{room} c{c.n} #{i}"})

    def sql_writer(room, sender):
        for i in range(n_sql):
            fx.insert_message(room, sender, f"r{room} sql #{i}")

    threads = [threading.Thread(target=sql_writer, args=(room, users[5])) for room in rooms]
    for t in threads:
        t.start()
    try:
        await asyncio.gather(*(send(c, room) for room in rooms for c in clients[room]))
    finally:
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: [t.join(60) for t in threads])
    per_room = 4 * n_msgs + n_sql
    def received(c):
        return [f["message"] for f in c.history if f["type"] == "chat_message"]
    everyone = [c for room in rooms for c in clients[room]]
    try:
        await R.async_wait_until(lambda: all(len(received(c)) >= per_room for c in everyone),
                                 30, "every client to receive every message of its room")
    except R.TestFailure:
        pass  # reported below with the details
    problems = []
    for room in rooms:
        rows = fx.room_messages(room)
        R.eq(len(rows), per_room, f"rows in room {room}")
        want = [r[0] for r in rows]
        content = {r[0]: r[2] for r in rows}
        for c in clients[room]:
            ids = [m["id"] for m in received(c)]
            relay = "a" if f":{a.port}/" in c.url else "b"
            if len(set(ids)) != len(ids):
                problems.append(f"room {room} client {c.n} (relay {relay}): duplicates")
            if ids != want:
                missing = sorted(set(want) - set(ids))
                problems.append(
                    f"room {room} client {c.n} (relay {relay}): {len(ids)} of {len(want)} "
                    f"messages, out of order: {ids != sorted(ids)}; missing "
                    f"{[(i, content[i]) for i in missing][:8]}")
    if problems:
        lost = sorted({i for room in rooms for c in clients[room]
                       for i in set(r[0] for r in fx.room_messages(room)) -
                       {m["id"] for m in received(c)}})
        if lost:
            ids = ",".join(str(i) for i in lost[:20])
            ev = fx.db.sql("SELECT id, room_id, ref_id, created_at FROM chat_events WHERE kind = "
                           f"'message_created' AND ref_id IN ({ids}) ORDER BY id")
            ms = fx.db.sql("SELECT id, room_id, content, created_at FROM messages "
                           f"WHERE id IN ({ids})")
            problems.append(f"events of the lost messages (id, room, ref, time): "
                            f"{[(int(e[0]), int(e[1]), int(e[2]), e[3][11:]) for e in ev]}; "
                            f"their rows (id, room, content, time): "
                            f"{[(int(m[0]), int(m[1]), m[2], m[3][11:]) for m in ms]}")
            lo, hi = int(ev[0][0]) - 3, int(ev[-1][0]) + 3
            near = fx.db.sql("SELECT id, room_id, kind, ref_id, created_at FROM chat_events "
                             f"WHERE id BETWEEN {lo} AND {hi} ORDER BY id")
            problems.append("events around them: " + ", ".join(
                f"({e[0]} r{e[1]} {e[2]} {e[3]} {e[4][11:]})" for e in near))
            problems.append("messages echoed to their senders at (monotonic): " + ", ".join(
                f"{f['message']['id']}@{f['_t']:.3f}" for room in rooms for c in clients[room]
                for f in c.history if f["type"] == "chat_message" and
                f["message"]["content"].startswith(f"r{room} c{c.n} ")))
    R.check(not problems, "; ".join(problems))
    counts = [len(received(c)) for c in everyone]
    await asyncio.sleep(0.3)
    R.eq([len(received(c)) for c in everyone], counts, "messages received (none may follow)")


@R.timeout(60)
async def t_presence_across_relays(fx):
    a, b = S["a"], S["b"]
    obs_a_user, obs_b_user, u = fx.user("obsa"), fx.user("obsb"), fx.user("roamer")
    room = fx.room(obs_a_user)
    oa = await a.connect(room, obs_a_user)
    ob = await b.connect(room, obs_b_user)
    await oa.next("user_join", 10, where=lambda f: f["user"]["id"] == obs_b_user.id)
    is_u = (lambda f: f.get("user", {}).get("id") == u.id)  # noqa: E731
    # first connection anywhere: both observers hear user_join once
    u1 = await a.connect(room, u)
    for o in (oa, ob):
        f = await o.next("user_join", 10, where=is_u)
        R.eq(f["user"], u.ref(), "user_join.user")
    # online list seen from the other relay includes everyone
    probe = fx.user("probe")
    p = await b.connect(room, probe)
    online = [x["id"] for x in p.hello.get("online", [])]
    for who in (obs_a_user, obs_b_user, u, probe):
        R.check(who.id in online, f"online list from relay b {online} lacks {who}")
    await p.close()
    for o in (oa, ob):
        await o.next("user_leave", 10, where=lambda f: f["user"]["id"] == probe.id)
    # second connection, on the other relay: nobody hears a join
    u2 = await b.connect(room, u)
    # closing the first one: nobody hears a leave
    await u1.close()
    for o in (oa, ob):
        await o.quiet(1.5, ("user_join", "user_leave"), where=is_u,
                      what="presence frame for a user still connected elsewhere")
    # closing the last one: both hear user_leave
    await u2.close()
    for o in (oa, ob):
        f = await o.next("user_leave", 10, where=is_u)
        R.eq(f["user"], u.ref(), "user_leave.user")
    for o in (oa, ob):
        await o.quiet(0.5, ("user_join", "user_leave"), where=is_u, what="extra presence frame")


async def t_sql_read_receipt(fx):
    """A read receipt stored by any writer reaches every connection of the
    room, the reader's included."""
    a = S["a"]
    u, r = fx.user("author"), fx.user("reader")
    room = fx.room(u)
    cu = await a.connect(room, u)
    cr = await S["b"].connect(room, r)
    mid = (await cu.chat("read me"))["id"]
    fx.db.sql(f"INSERT INTO message_reads (message_id, user_id) VALUES ({mid}, {r.id})")
    for c in (cu, cr):
        f = await c.next("message_read", 10)
        R.eq((f.get("message_id"), f.get("user")), (mid, r.ref()), "message_read frame")


async def t_client_id_across_relays(fx):
    """A retry with the same client_id on another relay, and two sends of one
    client_id racing on both relays, store one message; each sending
    connection gets that message, the others get it once."""
    a, b = S["a"], S["b"]
    u, w = fx.user("twice"), fx.user("looker")
    room = fx.room(u)
    ua, ub = await a.connect(room, u), await b.connect(room, u)
    wa, wb = await a.connect(room, w), await b.connect(room, w)
    cid = str(R.uuid.uuid4())
    m = await ua.chat("retried elsewhere", client_id=cid)
    await ub.next("chat_message", 10, where=lambda f: f["message"]["id"] == m["id"])
    await ub.send({"type": "chat_message", "content": "retried elsewhere", "client_id": cid})
    f = await ub.next("chat_message", 10, where=lambda f: f["message"].get("client_id") == cid)
    R.eq(f["message"]["id"], m["id"], "id answered to the retry on the other relay")
    # the race: both relays get the same client_id at once
    cid2 = str(R.uuid.uuid4())
    frame = {"type": "chat_message", "content": "raced", "client_id": cid2}
    await asyncio.gather(ua.send(frame), ub.send(frame))
    ids = set()
    for c in (ua, ub):
        f = await c.next("chat_message", 10, where=lambda f: f["message"].get("client_id") == cid2)
        ids.add(f["message"]["id"])
    R.eq(len(ids), 1, f"ids answered to two racing sends of one client_id: {ids}")
    R.eq(int(fx.db.scalar(f"SELECT COUNT(*) FROM messages WHERE client_id = '{cid2}'")), 1,
         "rows for a raced client_id")
    for c in (wa, wb):
        await c.next("chat_message", 10, where=lambda f: f["message"].get("client_id") == cid2)
    await asyncio.sleep(1.0)  # room for a wrong second delivery to show up

    def count(c, k):
        return len([f for f in c.history if f["type"] == "chat_message" and
                    f["message"].get("client_id") == k])
    # bystanders: exactly one delivery each; the senders: the room's delivery,
    # plus the answer to the send that turned out to be a retry
    R.eq([count(c, k) for k in (cid, cid2) for c in (wa, wb)], [1, 1, 1, 1],
         "deliveries of deduplicated messages to bystanders")
    R.eq([count(ua, cid), count(ub, cid)], [1, 2], "frames of the retried message to the "
         "sender (1) and to the retrying connection (room delivery + answer)")
    # the raced send: each sender has it once; the loser's answer counts as
    # its copy when it came first (its live event is then not sent again),
    # and comes on top of the room delivery when that came first
    na, nb = count(ua, cid2), count(ub, cid2)
    R.check(1 <= na <= 2 and 1 <= nb <= 2 and na + nb in (2, 3),
            f"frames of the raced message to the two sending connections: {na} + {nb} "
            f"(expected one each, plus at most one answer to the loser)")
    R.check(not [f for c in (ua, ub) for f in c.history if f["type"] == "error"],
            "a deduplicated send was answered with an error")


@R.timeout(60)
async def t_late_commit(fx):
    """A transaction that commits late (its ids taken long before) is still
    delivered, and meanwhile other rooms' messages flow without delay."""
    a, b = S["a"], S["b"]
    u = fx.user("slowtx")
    slow_room, busy_room = fx.room(u), fx.room(u)
    cs = await a.connect(slow_room, u)
    cb = await b.connect(busy_room, u)
    hold = 3
    sql = (f"BEGIN; INSERT INTO messages (room_id, sender_id, content) VALUES "
           f"({slow_room}, {u.id}, 'committed late'); SELECT SLEEP({hold}); COMMIT;")
    proc = await asyncio.create_subprocess_exec(
        fx.db.cli, "--no-defaults", f"--socket={fx.db.socket}", "-uroot", fx.db.name,
        "-e", sql, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        # wait until the uncommitted row holds its id (the session sleeps)
        try:
            await R.async_wait_until(lambda: fx.db.scalar(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                "WHERE INFO LIKE 'SELECT SLEEP(%'") not in (None, "0"), 10,
                "the slow transaction to insert its row")
        except R.TestFailure as e:
            raise R.TestFailure(f"{e}; sessions: " + repr(fx.db.sql(
                "SELECT ID, COMMAND, TIME, STATE, LEFT(INFO, 80) FROM "
                "information_schema.PROCESSLIST WHERE COMMAND <> 'Sleep'")))
        t0 = asyncio.get_running_loop().time()
        for i in range(5):
            m = await cb.chat(f"busy {i}")
            R.check(asyncio.get_running_loop().time() - t0 < hold,
                    f"message {m['id']} in another room waited for the open transaction")
    finally:
        _, err = await proc.communicate()
    R.eq(proc.returncode, 0, f"slow transaction ({err.decode(errors='replace')})")
    f = await cs.next("chat_message", 10)
    R.eq(f["message"]["content"], "committed late", "late-committed message delivered")
    # and it is no obstacle for the next one
    m = await cs.chat("after the late one")
    R.check(m["id"] > f["message"]["id"], "ids ascending")


async def t_room_deleted(fx):
    """Deleting a room closes its connections with error room_deleted, 4404."""
    a, b = S["a"], S["b"]
    u, v = fx.user("doomed"), fx.user("guest")
    room = fx.room(u)
    other = fx.room(u)
    cs = [await a.connect(room, u), await b.connect(room, v)]
    survivor = await a.connect(other, u)
    fx.db.sql(f"DELETE FROM rooms WHERE id = {room}")
    for c in cs:
        code = await c.closed_with(15)
        errs = [f for f in c.history if f["type"] == "error"]
        R.check(errs and errs[-1].get("code") == "room_deleted",
                f"client {c.n}: no error frame with code room_deleted: {R._brief(errs)}")
        R.eq(code, 4404, f"client {c.n}: close code after the room was deleted")
    R.check(not survivor.closed, "a connection to another room was closed")
    await survivor.usable()
    await R.expect_refused(a, room, u.token, 4404, what="deleted room")


async def t_access_revoked(fx):
    """Who may no longer see a room stops receiving it: a member removed from
    a private room, and a non-member of a room made private."""
    a, b = S["a"], S["b"]
    owner, member, outsider = fx.user("keeper"), fx.user("expelled"), fx.user("passerby")
    priv = fx.room(owner, private=True)
    fx.add_member(priv, member)
    pub = fx.room(owner)
    co = await a.connect(priv, owner)
    cm = await b.connect(priv, member)
    cp_owner = await a.connect(pub, owner)
    cx = await b.connect(pub, outsider)
    fx.db.sql(f"DELETE FROM room_members WHERE room_id = {priv} AND user_id = {member.id}")
    R.eq(fx.db.scalar(f"SELECT COUNT(*) FROM room_members WHERE room_id = {pub} "
                      f"AND user_id = {outsider.id}"), "0", "outsider's membership")
    fx.db.sql(f"UPDATE rooms SET is_private = 1 WHERE id = {pub}")
    try:  # a relay may close them; if not, give it time to hear of the changes
        await R.async_wait_until(lambda: cm.closed and cx.closed, 2, "closes")
    except R.TestFailure:
        pass
    secret1 = await co.chat("not for the expelled")
    secret2 = await cp_owner.chat("not for the passer-by")
    await asyncio.sleep(1.0)
    for c, m, who in ((cm, secret1, "removed member"), (cx, secret2, "non-member")):
        leaked = [f for f in c.history if f["type"] == "chat_message"
                  and f["message"]["id"] == m["id"]]
        R.check(not leaked, f"a {who} still receives the now-private room's messages "
                            f"(connection open: {not c.closed})")
    await R.expect_refused(b, priv, member.token, 4404, what="removed member reconnecting")
    await R.expect_refused(b, pub, outsider.token, 4404, what="non-member of a room made private")


@R.timeout(60)
async def t_crashed_relay_presence(fx):
    """When a relay dies without cleaning up (SIGKILL), the users it served
    leave: the other relay's clients get user_leave, and the online list
    stops naming them."""
    a, b = S["a"], S["b"]
    obs, ghost = fx.user("witness"), fx.user("ghost")
    room = fx.room(obs)
    co = await b.connect(room, obs)
    cg = await a.connect(room, ghost)
    await co.next("user_join", 10, where=lambda f: f["user"]["id"] == ghost.id)
    await cg.send({"type": "typing", "is_typing": True})
    await co.next("typing", 10, where=lambda f: f["user"]["id"] == ghost.id and f["is_typing"])
    a.stop(signal.SIGKILL)
    f = await co.next("user_leave", 45, where=lambda f: f["user"]["id"] == ghost.id)
    R.eq(f["user"], ghost.ref(), "user_leave for a user of the crashed relay")
    # its typing indicator must not stay on forever
    try:
        await co.next("typing", 15, where=lambda f: f["user"]["id"] == ghost.id and
                      not f["is_typing"])
    except R.TestFailure:
        raise R.TestFailure("a user whose relay crashed while it was typing stays "
                            "'typing' for the others: no is_typing false")
    c2 = await b.connect(room, fx.user("late"))
    R.check(ghost.id not in [o["id"] for o in c2.hello["online"]],
            f"online list still names {ghost} after its relay died: {c2.hello['online']}")


if __name__ == "__main__":
    R.main([t_sql_insert_delivered, t_two_relays_concurrent, t_presence_across_relays,
            t_sql_read_receipt, t_client_id_across_relays, t_late_commit, t_room_deleted,
            t_access_revoked,
            t_crashed_relay_presence], setup)
