"""The follower on a database whose event ids have permanent gaps: MariaDB
started with --auto-increment-increment=3 --auto-increment-offset=2 (what
Galera's wsrep_auto_increment_control does), and thousands of rolled-back
transactions. Every committed message reaches the client promptly, in
order, once: well before the gap timeout (10 s) could release anything.
Also: a chat_message or message_updated event whose message is deleted by
the time the follower reads it carries no content (item: deleted messages
never leave the server)."""

import asyncio
import os
import subprocess
import time

# The harness passes these to mariadbd (tests/harness/mariadb.sh does the same).
os.environ["CHAT_TEST_DB_OPTS"] = (os.environ.get("CHAT_TEST_DB_OPTS", "") +
                                   " --auto-increment-increment=3 --auto-increment-offset=2")

import relaylib as R  # noqa: E402

S = {}
GAP_TIMEOUT_S = 10
PROMPT_S = 4  # the old follower needed 36 s for 300 messages on stride 2


def setup(fx):
    S["relay"] = fx.relay(CHAT_RELAY_GAP_TIMEOUT_MS=str(GAP_TIMEOUT_S * 1000))


def received(c):
    return [f["message"] for f in c.history if f["type"] == "chat_message"]


async def run_sql(fx, sql):
    """Run a long SQL script (on stdin: it may exceed one argument's size)."""
    def go():
        r = subprocess.run([fx.db.cli, "--no-defaults", f"--socket={fx.db.socket}", "-uroot",
                            fx.db.name], input=sql.encode(), capture_output=True, timeout=120)
        if r.returncode != 0:
            raise R.TestFailure(f"SQL failed: {r.stderr.decode(errors='replace')[:500]}")
    await asyncio.get_running_loop().run_in_executor(None, go)


async def wait_all(fx, c, room, n, t_end):
    """Wait for n messages of room on c; check order, duplicates and delay."""
    try:
        await R.async_wait_until(lambda: len(received(c)) >= n, PROMPT_S + 6,
                                 f"{n} messages on the client")
    except R.TestFailure:
        pass
    got = time.monotonic() - t_end
    ids = [m["id"] for m in received(c)]
    want = [r[0] for r in fx.room_messages(room)]
    R.eq(len(want), n, "rows stored")
    if ids != want:
        raise R.TestFailure(f"{len(ids)} of {n} delivered after {got:.1f}s; duplicates: "
                            f"{len(ids) != len(set(ids))}; ascending: {ids == sorted(ids)}; "
                            f"first missing: {sorted(set(want) - set(ids))[:5]}")
    R.check(got < PROMPT_S, f"the last of {n} messages arrived {got:.1f}s after the last "
                            f"commit (gap timeout {GAP_TIMEOUT_S}s; must not matter)")
    return got


@R.timeout(90)
async def t_stride_three(fx):
    u = fx.user("stride")
    room = fx.room(u)
    c = await S["relay"].connect(room, u)
    n = 300
    sql = "".join(f"INSERT INTO messages (room_id, sender_id, content) VALUES "
                  f"({room}, {u.id}, 'stride #{i}');" for i in range(n))
    await run_sql(fx, sql)
    t_end = time.monotonic()
    ev = [int(r[0]) for r in fx.db.sql(
        f"SELECT id FROM chat_events WHERE room_id = {room} ORDER BY id DESC LIMIT 50")]
    R.check(all(i % 3 == 2 for i in ev) and all(a - b == 3 for a, b in zip(ev, ev[1:])),
            f"event ids do not have stride 3, offset 2: {ev[:6]}")
    got = await wait_all(fx, c, room, n, t_end)
    R.log(f"stride 3: {n} messages, last delivered {got:.2f}s after the last commit")


@R.timeout(90)
async def t_writers_on_three_offsets(fx):
    """Galera multi-writer: each node allocates its own residue. Three
    sessions with offsets 1, 2, 3 write to two rooms at once."""
    u = fx.user("nodes")
    rooms = [fx.room(u), fx.room(u)]
    cs = [await S["relay"].connect(r, u) for r in rooms]
    n = 60

    def script(off):
        return (f"SET SESSION auto_increment_offset = {off};" +
                "".join(f"INSERT INTO messages (room_id, sender_id, content) VALUES "
                        f"({rooms[i % 2]}, {u.id}, 'node {off} #{i}');" for i in range(n)))
    await asyncio.gather(*(run_sql(fx, script(off)) for off in (1, 2, 3)))
    t_end = time.monotonic()
    res = [int(r[0]) % 3 for r in fx.db.sql(
        "SELECT DISTINCT id % 3 FROM chat_events WHERE room_id IN "
        f"({rooms[0]}, {rooms[1]})")]
    R.eq(sorted(res), [0, 1, 2], "residues of the event ids")
    for c, room in zip(cs, rooms):
        await wait_all(fx, c, room, 3 * n // 2, t_end)


@R.timeout(120)
async def t_thousands_of_rollbacks(fx):
    """3,000 rolled-back transactions scattered between 150 committed
    messages: each rollback leaves a hole of its own in the event ids."""
    u = fx.user("rollback")
    room, other = fx.room(u), fx.room(u)
    c = await S["relay"].connect(room, u)
    n, per = 150, 20
    parts = []
    for i in range(n):
        for k in range(per):
            parts.append(f"BEGIN; INSERT INTO messages (room_id, sender_id, content) VALUES "
                         f"({other if k % 2 else room}, {u.id}, 'rolled back'); ROLLBACK;")
        parts.append(f"INSERT INTO messages (room_id, sender_id, content) VALUES "
                     f"({room}, {u.id}, 'kept #{i}');")
    await run_sql(fx, "".join(parts))
    t_end = time.monotonic()
    R.eq(fx.db.scalar(f"SELECT COUNT(*) FROM messages WHERE room_id = {other}"), "0",
         "rolled-back rows")
    got = await wait_all(fx, c, room, n, t_end)
    R.log(f"{n * per} rollbacks: {n} messages, last delivered {got:.2f}s after the last commit")


@R.timeout(60)
async def t_deleted_before_read(fx):
    """Created (and edited) then deleted in one transaction: the follower
    reads the message_created / message_updated events with the row
    already deleted. No frame may carry the content; message_deleted
    follows."""
    u, w = fx.user("shy"), fx.user("watcher")
    room = fx.room(u)
    c = await S["relay"].connect(room, w)
    secret = "secret-" + fx.unique("x")
    await run_sql(fx, f"BEGIN; INSERT INTO messages (room_id, sender_id, content) VALUES "
                      f"({room}, {u.id}, '{secret} one');"
                      f"SET @m = LAST_INSERT_ID();"
                      f"UPDATE messages SET content = '{secret} two', edited_at = UTC_TIMESTAMP(3)"
                      f" WHERE id = @m;"
                      f"UPDATE messages SET deleted_at = UTC_TIMESTAMP(3) WHERE id = @m; COMMIT;")
    mid = int(fx.db.scalar(f"SELECT MAX(id) FROM messages WHERE room_id = {room}"))
    f = await c.next("message_deleted", 10)
    R.eq(f.get("message_id"), mid, "message_deleted.message_id")
    # a later message shows everything before it was delivered
    await run_sql(fx, f"INSERT INTO messages (room_id, sender_id, content) VALUES "
                      f"({room}, {u.id}, 'public');")
    await c.next("chat_message", 10, where=lambda f: f["message"]["content"] == "public")
    leaked = [f for f in c.history if secret in repr(f)]
    R.check(not leaked, f"the deleted message's content was sent: {R._brief(leaked)}")


@R.timeout(60)
async def t_commit_after_gap_timeout(fx):
    """A transaction that commits after the gap timeout (an operator's open
    session): its id was passed over, yet it is delivered, in its room's
    order, no later than the room's next event."""
    relay = fx.relay(CHAT_RELAY_GAP_TIMEOUT_MS="1000")
    u = fx.user("operator")
    room, busy = fx.room(u), fx.room(u)
    c = await relay.connect(room, u)
    hold = 3
    sql = (f"BEGIN; INSERT INTO messages (room_id, sender_id, content) VALUES "
           f"({room}, {u.id}, 'committed late'); SELECT SLEEP({hold}); COMMIT;")
    proc = await asyncio.create_subprocess_exec(
        fx.db.cli, "--no-defaults", f"--socket={fx.db.socket}", "-uroot", fx.db.name,
        "-e", sql, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    await R.async_wait_until(lambda: fx.db.scalar(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
        "WHERE INFO LIKE 'SELECT SLEEP(%'") not in (None, "0"), 10, "the open transaction")
    # ids above the open one commit: it becomes a gap, passed over after 1 s
    await run_sql(fx, "".join(f"INSERT INTO messages (room_id, sender_id, content) VALUES "
                              f"({busy}, {u.id}, 'busy #{i}');" for i in range(5)))
    _, err = await proc.communicate()
    R.eq(proc.returncode, 0, f"the late transaction ({err.decode(errors='replace')})")
    await run_sql(fx, f"INSERT INTO messages (room_id, sender_id, content) VALUES "
                      f"({room}, {u.id}, 'next');")
    await c.next("chat_message", 10, where=lambda f: f["message"]["content"] == "next")
    got = [m["content"] for m in received(c)]
    R.eq(got, ["committed late", "next"], "messages of the room, in order")
    relay.stop()


if __name__ == "__main__":
    R.main([t_deleted_before_read, t_stride_three, t_writers_on_three_offsets,
            t_thousands_of_rollbacks,
            t_commit_after_gap_timeout], setup)
