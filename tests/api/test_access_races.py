"""HTTP API: access is decided under the room's lock. A room made private
while a request from a non-member waits for that lock must refuse the
request (404: the room is no longer visible) and never make the caller a
member: posting a message, joining, marking a message read.

Each test holds the room's row lock in an SQL session that makes the room
private, starts the request, waits until the server reports the request
waiting for that lock, then commits."""

import os
import select
import shutil
import subprocess
import threading
import time

from apitest import Failure, check, eq, run, sql, tests_of


class PrivateInFlight:
    """An uncommitted UPDATE rooms SET is_private = 1 holding the row lock
    (or, with drop_member, the room locked and that membership deleted)."""

    def __init__(self, room_id, drop_member=None):
        cli = shutil.which("mariadb") or shutil.which("mysql")
        self.proc = subprocess.Popen(
            [cli, "--no-defaults", "--socket=" + os.environ["CHAT_DATABASE_SOCKET"], "-uroot",
             "-N", "-B", "--unbuffered", os.environ.get("CHAT_DATABASE_NAME", "chat_test")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        change = "UPDATE rooms SET is_private = 1 WHERE id = %d;\n" % room_id
        if drop_member is not None:
            change = ("SELECT id FROM rooms WHERE id = %d FOR UPDATE;\n"
                      "DELETE FROM room_members WHERE room_id = %d AND user_id = %d;\n"
                      % (room_id, room_id, drop_member))
        self.proc.stdin.write("START TRANSACTION;\n" + change + "SELECT 'held';\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        if drop_member is not None and ready:
            self.proc.stdout.readline()  # the locked room's id
        if not ready or self.proc.stdout.readline().strip() != "held":
            raise Failure("the SQL session did not take the lock: " + self.proc.stderr.read())

    def _wait(self, pred, what):
        deadline = time.monotonic() + 20
        while not pred():
            if self.proc.poll() is not None:
                raise Failure("SQL session ended: " + self.proc.stderr.read())
            if time.monotonic() > deadline:
                raise Failure("timed out waiting for " + what)
            time.sleep(0.02)

    def wait_for_waiter(self):
        # A statement on rooms running in another connection: the request
        # waiting for the row (a locking read of a transaction that changed
        # nothing yet is not listed in INNODB_TRX as waiting).
        q = ("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE command IN "
             "('Query', 'Execute') AND (info LIKE '%FROM rooms WHERE id%FOR UPDATE%' "
             "OR info LIKE 'UPDATE rooms SET last_event_at%')")
        self._wait(lambda: int(sql(q)[0][0]) >= 1, "the request to wait for the room lock")

    def commit(self):
        self.proc.stdin.write("COMMIT;\n")
        self.proc.stdin.close()
        eq(self.proc.wait(timeout=20), 0, "SQL session exit")


def race(srv, room_id, method, path, token, body=None, drop_member=None):
    """The request, sent while the room turns private under its lock (or
    while drop_member's membership goes)."""
    held = PrivateInFlight(room_id, drop_member)
    box = {}

    def go():
        box["r"] = srv.request(method, path, body if body is not None else {}, token=token)
    t = threading.Thread(target=go)
    t.start()
    try:
        held.wait_for_waiter()
    finally:
        held.commit()
    t.join(30)
    check(not t.is_alive(), "request finished")
    return box["r"]


def members(room_id):
    return {int(r[0]) for r in sql("SELECT user_id FROM room_members WHERE room_id = %d" % room_id)}


def test_post_waits_then_refused(srv):
    alice, bob = srv.user(), srv.user()
    room = srv.room(alice)
    r = race(srv, room["id"], "POST", "/api/chat/rooms/%d/messages/" % room["id"], bob.token,
             {"content": "sneaking in"})
    r.expect(404, "a message to a room that became private")
    eq(set(r.json), {"detail"})
    eq(members(room["id"]), {alice.id}, "members")
    eq(sql("SELECT COUNT(*) FROM messages WHERE room_id = %d" % room["id"]), [["0"]])


def test_post_waits_for_removal_then_refused(srv):
    # bob is a member of a private room; his membership is deleted while
    # his post waits for the room's lock: the membership is read after the
    # lock is granted, so the post is refused and nothing is stored.
    alice, bob = srv.user(), srv.user()
    room = srv.room(alice, private=True)
    sql("INSERT INTO room_members (room_id, user_id, role, joined_at) "
        "VALUES (%d, %d, 'member', UTC_TIMESTAMP(3))" % (room["id"], bob.id))
    srv.send(bob, room["id"], "still in")
    r = race(srv, room["id"], "POST", "/api/chat/rooms/%d/messages/" % room["id"], bob.token,
             {"content": "after removal"}, drop_member=bob.id)
    r.expect(404, "a message to a private room after removal")
    eq(members(room["id"]), {alice.id}, "members")
    eq(sql("SELECT content FROM messages WHERE room_id = %d" % room["id"]), [["still in"]])


def test_join_waits_then_refused(srv):
    alice, bob = srv.user(), srv.user()
    room = srv.room(alice)
    r = race(srv, room["id"], "POST", "/api/chat/rooms/%d/join/" % room["id"], bob.token)
    r.expect(404, "joining a room that became private")
    eq(members(room["id"]), {alice.id}, "members")


def test_mark_read_waits_then_refused(srv):
    alice, bob = srv.user(), srv.user()
    room = srv.room(alice)
    m = srv.send(alice, room["id"], "read me")
    r = race(srv, room["id"], "POST", "/api/chat/messages/%d/read/" % m["id"], bob.token)
    r.expect(404, "marking read in a room that became private")
    eq(members(room["id"]), {alice.id}, "members")
    eq(sql("SELECT COUNT(*) FROM message_reads WHERE message_id = %d" % m["id"]), [["0"]])


def test_edit_and_delete_wait_then_refused(srv):
    # bob wrote in a public room and left it: he may still edit and delete
    # his message there, until the room turns private (decided again under
    # the room's lock)
    alice, bob = srv.user(), srv.user()
    room = srv.room(alice)
    m = srv.send(bob, room["id"], "mine")
    srv.post("/api/chat/rooms/%d/leave/" % room["id"], token=bob.token).expect(200)
    r = race(srv, room["id"], "PATCH", "/api/chat/messages/%d/" % m["id"], bob.token,
             {"content": "edited"})
    r.expect(404, "editing in a room that became private")
    sql("UPDATE rooms SET is_private = 0 WHERE id = %d" % room["id"])
    r = race(srv, room["id"], "DELETE", "/api/chat/messages/%d/" % m["id"], bob.token)
    r.expect(404, "deleting in a room that became private")
    eq(sql("SELECT content, deleted_at IS NULL FROM messages WHERE id = %d" % m["id"]),
       [["mine", "1"]], "the message untouched")


def test_public_room_still_joined_implicitly(srv):
    # The rule holds only for private rooms: a public one still takes the
    # sender and the reader in.
    alice, bob, carol = srv.user(), srv.user(), srv.user()
    room = srv.room(alice)
    m = srv.send(bob, room["id"], "hi")
    srv.post("/api/chat/messages/%d/read/" % m["id"], token=carol.token).expect(200)
    eq(members(room["id"]), {alice.id, bob.id, carol.id}, "members")


if __name__ == "__main__":
    run(tests_of(globals()))
