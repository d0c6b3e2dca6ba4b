#!/usr/bin/env python3
"""The relay's write path: client_id retries are per (sender, room,
client_id); a retry of a deleted message gets an error frame (code
not_found), never its content; a sender whose room became private
while the message waited for the room lock is refused (error frame,
close 4404) and never made a member."""

import asyncio
import subprocess
import time
import uuid

import relaylib as R

S = {}


def setup(fx):
    S["relay"] = fx.relay()


class PrivateInFlight:
    """An SQL session holding the room's row lock with an uncommitted
    UPDATE rooms SET is_private = 1."""

    def __init__(self, fx, room):
        self.fx = fx
        db = fx.db
        self.proc = subprocess.Popen(
            [db.cli, "--no-defaults", f"--socket={db.socket}", "-uroot", "-N", "-B", db.name],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.proc.stdin.write(f"START TRANSACTION;\nUPDATE rooms SET is_private = 1 "
                              f"WHERE id = {int(room)};\n")
        self.proc.stdin.flush()
        self._wait("trx_rows_locked > 0", "the UPDATE to hold its lock")

    def _wait(self, where, what):
        R.wait_until(lambda: self.proc.poll() is None and int(self.fx.db.scalar(
            f"SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE {where}")) >= 1,
            20, what)

    def wait_for_waiter(self):
        self._wait("trx_state = 'LOCK WAIT'", "the relay's insert to wait for the room lock")

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
    held = PrivateInFlight(fx, room)
    try:
        await c.send({"type": "chat_message", "content": "sneaking in"})
        t0 = time.monotonic()
        while True:
            n = int(fx.db.scalar("SELECT COUNT(*) FROM information_schema.INNODB_TRX "
                                 "WHERE trx_state = 'LOCK WAIT'"))
            if n:
                break
            R.check(time.monotonic() - t0 < 20, "the insert never waited for the room lock")
            await asyncio.sleep(0.02)
    finally:
        held.commit()
    R.log(f"waited {time.monotonic() - t0:.1f}s for the lock wait")
    t1 = time.monotonic()
    code = await c.closed_with(15)
    R.log(f"closed {time.monotonic() - t1:.1f}s after the commit")
    R.eq(code, 4404, "close code of a sender refused by a private room")
    errs = [f for f in c.history if f["type"] == "error"]
    R.check(errs, f"no error frame before the close: {c.history}")
    R.eq(fx.room_messages(room), [], "messages stored")
    R.eq(fx.db.sql(f"SELECT user_id FROM room_members WHERE room_id = {room} ORDER BY user_id"),
         [[str(alice.id)]], "members")


if __name__ == "__main__":
    R.main([t_client_id_per_room, t_deleted_retry, t_private_while_waiting], setup)
