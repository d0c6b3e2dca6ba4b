"""Resume with ?last_id=N or a sync frame: missed messages oldest first, then
sync_done, then live ones with no gap and no duplicate; edits and
deletions replayed; resync_required beyond the replay limit; resume across
a relay restart (CONTRACT.md "Extensions")."""

import asyncio
import os
import signal

import relaylib as R

S = {}
LIMIT = 5


def setup(fx):
    S["relay"] = fx.relay()
    S["other"] = fx.relay()
    # as if on another host: no wake-ups from the writers here, only polling
    remote_dir = os.path.join(fx.notify_dir, "remote-host")
    os.makedirs(remote_dir)
    S["remote"] = fx.relay(CHAT_RELAY_POLL_INTERVAL_MS="300", CHAT_NOTIFY_DIR=remote_dir)
    S["limited"] = fx.relay(CHAT_RELAY_REPLAY_LIMIT=str(LIMIT))


def stream(c, types=("chat_message", "sync_done", "resync_required", "message_updated",
                     "message_deleted")):
    """The client's frames of these types, in arrival order."""
    return [f for f in c.history if f["type"] in types]


def split_at_sync(frames):
    done = [i for i, f in enumerate(frames) if f["type"] == "sync_done"]
    R.check(len(done) == 1, f"expected exactly one sync_done, got {len(done)}: "
                            f"{R._brief(frames, 20)}")
    return frames[:done[0]], frames[done[0]], frames[done[0] + 1:]


async def seed(c, n, tag):
    return [(await c.chat(f"{tag} {i}"))["id"] for i in range(n)]


@R.timeout(60)
async def t_resume_during_live_traffic(fx):
    relay = S["relay"]
    a, r = fx.user("live"), fx.user("resumer")
    room = fx.room(a)
    ca = await relay.connect(room, a)
    ids = await seed(ca, 6, "before")
    n = ids[2]
    n_live = 15

    async def live():
        for i in range(n_live):
            await ca.send({"type": "chat_message", "content": f"live {i}"})
            await asyncio.sleep(0.02)
    sender = asyncio.ensure_future(live())
    await asyncio.sleep(0.05)  # let some live messages be in flight while we connect
    cr = await relay.connect(room, r, last_id=n)
    await sender
    await cr.next("sync_done", 10)
    await cr.next("chat_message", 15, where=lambda f: f["message"]["content"] == f"live {n_live - 1}")
    R.eq(cr.history[0]["type"], "connection_established", "first frame")
    before, done, after = split_at_sync(stream(cr))
    replayed = [f["message"]["id"] for f in before if f["type"] == "chat_message"]
    live_ids = [f["message"]["id"] for f in after if f["type"] == "chat_message"]
    R.check(replayed and replayed[0] == ids[3],
            f"replay must start at the first id above {n} ({ids[3]}): {replayed[:5]}")
    R.eq(replayed, sorted(replayed), "replayed ids ascending")
    R.eq(done.get("last_id"), replayed[-1], "sync_done.last_id (newest replayed id)")
    R.check(all(i > done["last_id"] for i in live_ids),
            f"live ids {live_ids} not all above sync_done.last_id {done['last_id']}")
    R.eq(live_ids, sorted(live_ids), "live ids ascending")
    got = replayed + live_ids
    R.check(len(got) == len(set(got)), f"duplicates between replay and live: {got}")
    want = [row[0] for row in fx.room_messages(room) if row[0] > n]
    R.eq(got, want, "replay + live = every message above last_id, in id order")
    for f in before:
        R.check_message(f["message"])


@R.timeout(90)
async def t_resume_storm_across_relays(fx):
    """Several clients resume on another relay, at different moments, while
    messages pour in: each gets every message above its last_id exactly
    once, in order, with sync_done between replay and live (twice over:
    the race it looks for is timing-dependent)."""
    for other in (S["other"], S["remote"]):
        await resume_storm_round(fx, other)
        await fx.close_clients()


async def resume_storm_round(fx, other):
    relay = S["relay"]
    a = fx.user("storm")
    room = fx.room(a)
    ca = await relay.connect(room, a)
    base = await seed(ca, 3, "base")
    total = 45

    async def pour():  # 18 frames/s: under the default rate limit
        for i in range(total):
            await ca.send({"type": "chat_message", "content": f"pour {i}"})
            await asyncio.sleep(0.055)
    sender = asyncio.ensure_future(pour())
    resumers = []
    for k in range(6):
        seen = [f["message"]["id"] for f in ca.history if f["type"] == "chat_message"]
        last = seen[-1] if k % 2 else base[0]
        resumers.append((last, await other.connect(room, fx.user("res"), last_id=last)))
        await asyncio.sleep(0.3)
    await sender
    await ca.next("chat_message", 20, where=lambda f: f["message"]["content"] == f"pour {total - 1}")
    try:
        await R.async_wait_until(lambda: all(
            any(f["type"] == "chat_message" and f["message"]["content"] == f"pour {total - 1}"
                for f in c.history) for _, c in resumers), 15, "every resumer to catch up")
    except R.TestFailure:
        pass  # the comparison below says what is missing
    rows = [r[0] for r in fx.room_messages(room)]
    for last, c in resumers:
        before, done, after = split_at_sync(stream(c))
        got = [f["message"]["id"] for f in before + after if f["type"] == "chat_message"]
        want = [i for i in rows if i > last]
        dup = sorted(i for i in set(got) if got.count(i) > 1)
        R.check(got == want, f"client {c.n} resuming after {last}: got {len(got)} ids, "
                             f"want {len(want)}; duplicates {dup[:5]}, missing "
                             f"{sorted(set(want) - set(got))[:5]}, strictly ascending "
                             f"{all(x < y for x, y in zip(got, got[1:]))}"
                             f"; frames: " + " ".join(
                                 f"{f['message']['id']}" if f["type"] == "chat_message" else
                                 f"[{f['type']} {f.get('last_id')}]"
                                 for f in stream(c)))
        replayed = [f["message"]["id"] for f in before if f["type"] == "chat_message"]
        R.eq(done.get("last_id"), replayed[-1] if replayed else last,
             f"client {c.n}: sync_done.last_id")


async def t_resume_nothing_missing(fx):
    relay = S["relay"]
    a = fx.user("uptodate")
    room = fx.room(a)
    ca = await relay.connect(room, a)
    ids = await seed(ca, 3, "m")
    c = await relay.connect(room, a, last_id=ids[-1])
    f = await c.next("sync_done", 10)
    R.eq({k: v for k, v in f.items() if k != "_t"}, {"type": "sync_done", "last_id": ids[-1]},
         "sync_done when nothing is missing")
    R.check(not [x for x in c.history if x["type"] == "chat_message"],
            "messages replayed although none was missing")
    m = await ca.chat("after resume")
    f = await c.next("chat_message", 10)
    R.eq(f["message"]["id"], m["id"], "live message after sync_done")
    # last_id before token in the query string
    raw = f"ws://127.0.0.1:{relay.port}/ws/chat/{room}?last_id={ids[0]}&token={a.token}"
    c1 = await R.Client.open(raw, fx)
    await c1.next("sync_done", 10)
    R.eq([x["message"]["id"] for x in c1.history if x["type"] == "chat_message"],
         ids[1:] + [m["id"]], "replay with last_id first in the query, no trailing slash")
    # last_id=0 replays the whole room
    c0 = await relay.connect(room, a, last_id=0)
    await c0.next("sync_done", 10)
    before, done, _ = split_at_sync(stream(c0))
    R.eq([x["message"]["id"] for x in before], ids + [m["id"]], "replay from last_id=0")


async def t_resume_odd_last_id(fx):
    """A last_id above every stored id (a stale client, or one that kept the
    timestamp ids of the original protocol) resumes nothing, and live
    messages still reach it; a malformed last_id is an error frame after
    connection_established, and the connection works."""
    relay = S["relay"]
    a = fx.user("oddid")
    room = fx.room(a)
    ca = await relay.connect(room, a)
    await seed(ca, 2, "x")
    future = 1758787632222
    c = await relay.connect(room, a, last_id=future)
    f = await c.next("sync_done", 10)
    R.check(not [x for x in c.history if x["type"] == "chat_message"],
            "messages replayed for a last_id above every id")
    m = await ca.chat("live after a future last_id")
    try:
        await c.next("chat_message", 10, where=lambda x: x["message"]["id"] == m["id"])
    except R.TestFailure:
        raise R.TestFailure(f"a client that resumed with last_id={future} (sync_done "
                            f"{f.get('last_id')}) never gets new messages (id {m['id']})")
    for bad in ("abc", "-5", "1e3"):
        c = await R.Client.open(relay.url(room, a.token, query=f"last_id={bad}"), fx)
        await c.next("connection_established", 10)
        R.eq(c.history[0]["type"], "connection_established", f"first frame with last_id={bad}")
        await c.error()
        await c.usable()


async def t_resume_after_purge(fx):
    """Once old events are purged from the log (chatctl purge-events), a
    resume still yields every stored message above last_id, or says
    resync_required: never a silent gap."""
    relay = S["relay"]
    a = fx.user("purged")
    room = fx.room(a)
    ca = await relay.connect(room, a)
    ids = await seed(ca, 5, "old")
    fx.db.sql(f"DELETE FROM chat_events WHERE room_id = {room}")
    ids += await seed(ca, 2, "new")
    c = await relay.connect(room, a, last_id=ids[2])
    await c.next("sync_done", 10)
    frames = stream(c)
    got = [f["message"]["id"] for f in frames if f["type"] == "chat_message"]
    if frames and frames[0]["type"] == "resync_required":
        return  # the client is told to reload over HTTP: acceptable
    R.eq(got, ids[3:], "messages replayed after the events log was purged")


async def t_sync_frame(fx):
    relay = S["relay"]
    a = fx.user("syncer")
    room = fx.room(a)
    ca = await relay.connect(room, a)
    ids = await seed(ca, 5, "s")
    c = await relay.connect(room, a)
    await c.send({"type": "sync", "last_id": ids[1]})
    done = await c.next("sync_done", 10)
    got = [f["message"]["id"] for f in c.history
           if f["type"] == "chat_message" and f["_t"] <= done["_t"]]
    R.eq(got, ids[2:], "messages replayed by a sync frame")
    R.eq(done.get("last_id"), ids[-1], "sync_done.last_id")
    await c.send({"type": "sync", "last_id": ids[-1]})
    done = await c.next("sync_done", 10)
    R.eq(done.get("last_id"), ids[-1], "sync_done.last_id when nothing is missing")
    await c.send({"type": "sync", "last_id": "abc"})
    await c.error()
    await c.usable()


@R.timeout(60)
async def t_edits_and_deletions(fx):
    relay = S["relay"]
    a = fx.user("editor")
    room = fx.room(a)
    ca = await relay.connect(room, a)
    ids = await seed(ca, 5, "orig")
    m1, m2, m3, m4, m5 = ids
    # edits and deletions by plain SQL (any writer produces events)
    fx.db.sql(f"UPDATE messages SET content = 'edited two', edited_at = UTC_TIMESTAMP(3) "
              f"WHERE id = {m2}")
    f = await ca.next("message_updated", 10)
    R.eq((f["message"]["id"], f["message"]["content"]), (m2, "edited two"),
         "live message_updated")
    R.check_message(f["message"], content="edited two")
    R.eq(R.parse_ts(f["message"]["timestamp"]),
         R.parse_ts([x for x in ca.history if x["type"] == "chat_message"][1]["message"]
                    ["timestamp"]), "an edit keeps the timestamp")
    R.check(f["message"].get("edited_at"), f"message_updated lacks edited_at: {f}")
    fx.db.sql(f"UPDATE messages SET deleted_at = UTC_TIMESTAMP(3) WHERE id = {m4}")
    f = await ca.next("message_deleted", 10)
    R.eq(f.get("message_id"), m4, "live message_deleted.message_id")
    m6 = (await ca.chat("after edits"))["id"]
    # resume after m3: m4 (maybe), m5, edit of m2, deletion of m4, m6 - in log order
    c = await relay.connect(room, a, last_id=m3)
    await c.next("sync_done", 10)
    before, done, _ = split_at_sync(stream(c))
    seq = []
    for x in before:
        if x["type"] == "chat_message":
            seq.append(("new", x["message"]["id"]))
        elif x["type"] == "message_updated":
            seq.append(("edit", x["message"]["id"]))
            R.eq(x["message"]["content"], "edited two", "replayed edit content")
        elif x["type"] == "message_deleted":
            seq.append(("del", x.get("message_id")))
    want_core = [("new", m5), ("edit", m2), ("del", m4), ("new", m6)]
    core = [s for s in seq if s != ("new", m4)]
    R.eq(core, want_core, "replayed events after message last_id, in log order")
    if ("new", m4) in seq:
        R.check(seq.index(("new", m4)) < seq.index(("new", m5)),
                f"deleted message m4 replayed out of order: {seq}")
    R.eq(done.get("last_id"), m6, "sync_done.last_id")
    R.check(("new", m1) not in seq and ("new", m2) not in seq, "messages <= last_id replayed")


@R.timeout(60)
async def t_replay_limit(fx):
    relay = S["limited"]
    a = fx.user("flood")
    room = fx.room(a)
    ids = [fx.insert_message(room, a, f"old {i}") for i in range(12)]
    n = ids[0]
    c = await relay.connect(room, a, last_id=n)
    await c.next("sync_done", 10)
    frames = stream(c)
    R.check(frames and frames[0]["type"] == "resync_required",
            f"first frame after connection_established should be resync_required: "
            f"{R._brief(frames, 8)}")
    R.eq({k: v for k, v in frames[0].items() if k != "_t"},
         {"type": "resync_required", "last_id": n}, "resync_required frame")
    before, done, _ = split_at_sync(frames[1:])
    got = [f["message"]["id"] for f in before if f["type"] == "chat_message"]
    R.eq(got, ids[-LIMIT:], f"the newest {LIMIT} messages, ascending")
    R.eq(done.get("last_id"), ids[-1], "sync_done.last_id")
    # the same through a sync frame
    c = await relay.connect(room, a)
    await c.send({"type": "sync", "last_id": n})
    done = await c.next("sync_done", 10)
    frames = stream(c)
    R.eq([f["type"] for f in frames[:1]], ["resync_required"], "first frame after a sync "
                                                                "frame missing too much")
    R.eq([f["message"]["id"] for f in frames if f["type"] == "chat_message"], ids[-LIMIT:],
         "messages after resync_required (sync frame)")
    R.eq(done.get("last_id"), ids[-1], "sync_done.last_id (sync frame)")
    # exactly the limit missing: no resync_required
    c = await relay.connect(room, a, last_id=ids[-LIMIT - 1])
    await c.next("sync_done", 10)
    R.check(not [f for f in c.history if f["type"] == "resync_required"],
            f"resync_required although only {LIMIT} were missing")
    R.eq([f["message"]["id"] for f in c.history if f["type"] == "chat_message"],
         ids[-LIMIT:], "messages replayed when exactly the limit is missing")


@R.timeout(60)
async def t_deleted_not_replayed(fx):
    """After a deletion commits, no replayed frame carries the message's
    content: not its creation, not its edits (a resume from before the
    deletion gets message_deleted at most)."""
    relay = S["relay"]
    a = fx.user("shredder")
    room = fx.room(a)
    ca = await relay.connect(room, a)
    m1, m2, m3, m4 = await seed(ca, 4, "keep")
    secret = "secret-" + os.urandom(6).hex()
    fx.db.sql(f"UPDATE messages SET content = '{secret} plain' WHERE id = {m2}")
    fx.db.sql(f"UPDATE messages SET content = '{secret} edited', "
              f"edited_at = UTC_TIMESTAMP(3) WHERE id = {m3}")
    await ca.next("message_updated", 10, where=lambda f: f["message"]["id"] == m3)
    for m in (m2, m3):
        fx.db.sql(f"UPDATE messages SET deleted_at = UTC_TIMESTAMP(3) WHERE id = {m}")
        await ca.next("message_deleted", 10, where=lambda f, m=m: f.get("message_id") == m)
    for how in ("url", "sync"):
        if how == "url":
            c = await relay.connect(room, a, last_id=m1)
        else:
            c = await relay.connect(room, a)
            await c.send({"type": "sync", "last_id": m1})
        await c.next("sync_done", 10)
        leaked = [f for f in c.history if secret in str(f)]
        R.check(not leaked, f"{how}: deleted content replayed: {R._brief(leaked)}")
        got = [(f["type"], f.get("message", {}).get("id") or f.get("message_id"))
               for f in stream(c) if f["type"] != "sync_done"]
        R.check(("chat_message", m4) in got, f"{how}: live message {m4} not replayed: {got}")
        R.check(("message_deleted", m2) in got and ("message_deleted", m3) in got,
                f"{how}: deletions not replayed: {got}")


@R.timeout(90)
async def t_replay_beyond_a_page(fx):
    """relay.replay_limit is the only cap: 201 to 1,000 missing messages
    are all replayed, from the event log and from the messages table
    (last_id=0, a purged log), with no resync_required."""
    relay = S["relay"]
    a = fx.user("longgap")
    room = fx.room(a)
    n = 600
    fx.db.sql("INSERT INTO messages (room_id, sender_id, content) "
              f"SELECT {room}, {a.id}, CONCAT('bulk ', seq) FROM seq_1_to_{n}")
    ids = [m[0] for m in fx.room_messages(room)]
    R.eq(len(ids), n, "messages stored")

    async def replayed(last_id, what):
        c = await relay.connect(room, a, last_id=last_id)
        done = await c.next("sync_done", 30)
        frames = stream(c)
        R.check(not [f for f in frames if f["type"] == "resync_required"],
                f"{what}: resync_required with {n} missing (limit 1000)")
        got = [f["message"]["id"] for f in frames if f["type"] == "chat_message"]
        return got, done

    got, done = await replayed(ids[0], "event log")
    R.eq(got, ids[1:], "replay of 599 messages from the event log")
    R.eq(done.get("last_id"), ids[-1], "sync_done.last_id (event log)")
    got, done = await replayed(0, "last_id=0")
    R.eq(got, ids, "replay of 600 messages with last_id=0")
    fx.db.sql(f"DELETE FROM chat_events WHERE room_id = {room}")
    got, done = await replayed(ids[0], "purged log")
    R.eq(got, ids[1:], "replay of 599 messages from the messages table")
    R.eq(done.get("last_id"), ids[-1], "sync_done.last_id (purged log)")


@R.timeout(90)
async def t_resume_across_restart(fx):
    relay = fx.relay()
    a, b = fx.user("restart"), fx.user("other")
    room = fx.room(a)
    c = await relay.connect(room, a)
    ids = await seed(c, 3, "pre")
    code = relay.stop(signal.SIGTERM)
    R.eq(code, 0, "relay exit status on SIGTERM")
    R.eq(await c.closed_with(5), 1001, "close code when the relay shuts down")
    missed = [fx.insert_message(room, b, f"while down {i}") for i in range(3)]
    relay.start()
    c2 = await relay.connect(room, a, last_id=ids[-1])
    done = await c2.next("sync_done", 10)
    got = [f["message"]["id"] for f in c2.history if f["type"] == "chat_message"]
    R.eq(got, missed, "messages stored while the relay was down")
    R.eq(done.get("last_id"), missed[-1], "sync_done.last_id")
    m = await c2.chat("after restart")
    R.check(m["id"] > missed[-1], "new id after restart")


if __name__ == "__main__":
    R.main([t_resume_during_live_traffic, t_resume_storm_across_relays, t_resume_nothing_missing,
            t_resume_odd_last_id, t_resume_after_purge, t_sync_frame, t_edits_and_deletions,
            t_replay_limit, t_deleted_not_replayed, t_replay_beyond_a_page,
            t_resume_across_restart], setup)
