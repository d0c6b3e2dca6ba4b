#!/usr/bin/env python3
"""The relay's write path: client_id retries are per (sender, room,
client_id); a retry of a deleted message gets an error frame (code
not_found), never its content; a sender whose room became private
while the message waited for the room lock is refused (error frame,
close 4404) and never made a member."""

import asyncio
import select
import subprocess
import time
import uuid

import relaylib as R

S = {}
# the room lock of a write: a locking read of the row, alone or the first
# part of the batch's UNION (or, before schema 003's code, the UPDATE that
# took it)
WAITING_ON_ROOMS = ("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE command IN "
                    "('Query', 'Execute') AND (info LIKE '%FROM rooms WHERE id%FOR UPDATE%' "
                    "OR info LIKE 'UPDATE rooms SET last_event_at%')")


def setup(fx):
    S["relay"] = fx.relay()


class PrivateInFlight:
    """An SQL session holding the room's row lock with an uncommitted
    UPDATE rooms SET is_private = 1."""

    def __init__(self, fx, room):
        db = fx.db
        self.proc = subprocess.Popen(
            [db.cli, "--no-defaults", f"--socket={db.socket}", "-uroot", "-N", "-B",
             "--unbuffered", db.name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.proc.stdin.write(f"START TRANSACTION;\nUPDATE rooms SET is_private = 1 "
                              f"WHERE id = {int(room)};\nSELECT 'held';\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        R.check(ready and self.proc.stdout.readline().strip() == "held",
                f"the SQL session did not take the lock: {self.proc.poll()}")

    def commit(self):
        self.proc.stdin.write("COMMIT;\n")
        self.proc.stdin.close()
        R.eq(self.proc.wait(timeout=20), 0, "SQL session exit")


@R.timeout(60)
async def t_client_id_per_room(fx):
    relay = S["relay"]
    alice, bob = fx.user("owner"), fx.user("leaver")
    private, public = fx.room(alice, private=True), fx.room(alice)
    fx.add_member(private, bob)
    cid = str(uuid.uuid4())
    c2 = await relay.connect(private, bob)
    secret = await c2.chat("room-2 secret " + cid, client_id=cid)
    await c2.close()
    fx.db.sql(f"DELETE FROM room_members WHERE room_id = {private} AND user_id = {bob.id}")
    c1 = await relay.connect(public, bob)
    m = await c1.chat("room-1 hello " + cid, client_id=cid)
    R.check(m["id"] != secret["id"], "the room-2 message answered a room-1 send")
    R.eq(m.get("client_id"), cid, "client_id echoed")
    R.check(not [f for f in c1.history if f["type"] == "chat_message"
                 and "secret" in f["message"]["content"]], "room-2 content reached room 1")
    R.eq([r[2] for r in fx.room_messages(public)], ["room-1 hello " + cid], "stored in room 1")
    # a retry in room 1 finds the room-1 message, and stores nothing
    await c1.send({"type": "chat_message", "content": "room-1 hello " + cid, "client_id": cid})
    f = await c1.next("chat_message", 10, where=lambda f: f["message"]["id"] == m["id"])
    R.eq(f["message"]["content"], m["content"], "retry answer")
    await c1.quiet(0.5, "chat_message", what="a second delivery")
    R.eq(len(fx.room_messages(public)), 1, "rows in room 1")


@R.timeout(60)
async def t_deleted_retry(fx):
    relay = S["relay"]
    alice = fx.user("regret")
    room = fx.room(alice)
    c = await relay.connect(room, alice)
    cid = str(uuid.uuid4())
    m = await c.chat("regretted " + cid, client_id=cid)
    fx.db.sql(f"UPDATE messages SET deleted_at = UTC_TIMESTAMP(3) WHERE id = {m['id']}")
    await c.next("message_deleted", 10)
    await c.send({"type": "chat_message", "content": "regretted " + cid, "client_id": cid})
    e = await c.error(10)
    R.eq(e["code"], "not_found", "error code of a deleted message's retry")
    R.check("regretted" not in e["message"], "content in the error frame")
    await c.quiet(0.5, "chat_message", what="the deleted message")
    R.eq(len(fx.room_messages(room)), 1, "nothing new stored")
    await c.usable()


@R.timeout(60)
async def t_private_while_waiting(fx):
    relay = S["relay"]
    alice, bob = fx.user("host"), fx.user("outsider")
    room = fx.room(alice)
    c = await relay.connect(room, bob)
    # the connection's presence row first: its insert takes the room lock too
    R.wait_until(lambda: int(fx.db.scalar(
        f"SELECT COUNT(*) FROM presence WHERE room_id = {room} AND user_id = {bob.id}")) == 1,
        10, "the presence row")
    held = PrivateInFlight(fx, room)
    try:
        await c.send({"type": "chat_message", "content": "sneaking in"})
        t0 = time.monotonic()
        while True:
            # the message's own statement waiting for the room row (a locking
            # read of a transaction that changed nothing yet is not listed in
            # INNODB_TRX as waiting: the process list shows it)
            n = int(fx.db.scalar(WAITING_ON_ROOMS))
            if n:
                break
            R.check(time.monotonic() - t0 < 20, "the insert never waited for the room lock")
            await asyncio.sleep(0.02)
    finally:
        held.commit()
    code = await c.closed_with(15)
    R.eq(code, 4404, "close code of a sender refused by a private room")
    errs = [f for f in c.history if f["type"] == "error"]
    R.check(errs, f"no error frame before the close: {c.history}")
    R.eq(fx.room_messages(room), [], "messages stored")
    R.eq(fx.db.sql(f"SELECT user_id FROM room_members WHERE room_id = {room} ORDER BY user_id"),
         [[str(alice.id)]], "members")


def deadlocks(fx):
    return int(fx.db.scalar("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
                            "WHERE VARIABLE_NAME = 'INNODB_DEADLOCKS'"))


@R.timeout(60)
async def t_deadlock_victim(fx):
    """The relay's insert is chosen as a deadlock victim (as a Galera
    certification conflict would abort it): the relay runs the whole
    transaction again; the message is stored once and acknowledged once."""
    relay = S["relay"]
    alice = fx.user("busy")
    room = fx.room(alice)
    c = await relay.connect(room, alice)
    await c.chat("first")  # makes the room_sender_counts row the rival locks
    fx.db.sql("CREATE TABLE IF NOT EXISTS scratch (id INT AUTO_INCREMENT PRIMARY KEY, v INT) "
              "ENGINE=InnoDB")
    db = fx.db
    rival = subprocess.Popen(
        [db.cli, "--no-defaults", f"--socket={db.socket}", "-uroot", "-N", "-B", "--force",
         "--unbuffered", db.name], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    before = deadlocks(fx)
    try:
        # heavier than the insert (InnoDB's victim is the lighter side), and
        # holding the counter row the insert's trigger will want
        rival.stdin.write("START TRANSACTION;\n"
                          "INSERT INTO scratch (v) SELECT seq FROM seq_1_to_500;\n"
                          f"UPDATE room_sender_counts SET live_count = live_count "
                          f"WHERE room_id = {room} AND sender_id = {alice.id};\n"
                          "SELECT 'held';\n")
        rival.stdin.flush()
        ready, _, _ = select.select([rival.stdout], [], [], 20)
        R.check(ready and rival.stdout.readline().strip() == "held", "the rival holds its locks")
        content = "contended " + str(uuid.uuid4())
        await c.send({"type": "chat_message", "content": content})
        t0 = time.monotonic()
        while not int(fx.db.scalar("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                                   "WHERE command IN ('Query', 'Execute') "
                                   "AND info LIKE 'INSERT INTO room_sender_counts%'")):
            R.check(time.monotonic() - t0 < 20, "the insert never waited for the rival")
            await asyncio.sleep(0.02)
        # the cycle: the rival now wants the room row the insert holds
        rival.stdin.write(f"UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3) WHERE id = {room};\n"
                          "COMMIT;\n")
        rival.stdin.close()
        R.eq(rival.wait(timeout=30), 0, "rival session exit")
    finally:
        if rival.poll() is None:
            rival.kill()
            rival.wait()
    err = rival.stderr.read()
    R.check("Deadlock" not in err, f"the rival was chosen as the victim: {err}")
    R.eq(deadlocks(fx) - before, 1, "deadlocks")
    f = await c.next("chat_message", 20, where=lambda f: f["message"]["content"] == content)
    await c.quiet(1.0, "chat_message", what="a second acknowledgement")
    R.check(not [x for x in c.history if x["type"] == "error"], f"error frames: {c.history}")
    rows = [r for r in fx.room_messages(room) if r[2] == content]
    R.eq(len(rows), 1, "rows stored")
    R.eq(rows[0][0], f["message"]["id"], "the acknowledged id")


if __name__ == "__main__":
    R.main([t_client_id_per_room, t_deleted_retry, t_private_while_waiting, t_deadlock_victim],
           setup)
