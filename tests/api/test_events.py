"""HTTP API writes reach the clients: chat_events rows written for edits,
deletions, reads, membership and room changes; a wake-up datagram after
each commit; and (when chat-relay is built) a message posted over HTTP
arriving at a WebSocket client of the relay, followed by its edit, read
receipt and deletion."""

import os
import shutil
import socket
import subprocess
import sys
import time

try:
    import websockets  # noqa: F401
except ImportError:
    # The distribution's Python has python3-websockets; another python3
    # first on PATH may not.
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != \
            os.path.realpath("/usr/bin/python3") and not os.environ.get("CHAT_TEST_REEXEC"):
        os.environ["CHAT_TEST_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    websockets = None

from apitest import BUILD, check, eq, run, sql, tests_of  # noqa: E402


def kinds(room_id, after=0):
    return [(k, int(ref), int(user)) for k, ref, user in sql(
        "SELECT kind, ref_id, user_id FROM chat_events WHERE room_id = %d AND id > %d "
        "ORDER BY id" % (room_id, after))]


def max_event():
    return int(sql("SELECT COALESCE(MAX(id), 0) FROM chat_events")[0][0])


def test_events_rows(srv):
    alice, bob = srv.user(), srv.user()
    room = srv.room(alice)
    rid = room["id"]
    srv.post("/api/chat/rooms/%d/join/" % rid, token=bob.token).expect(200)
    m = srv.send(alice, rid, "original")
    start = max_event()
    srv.patch("/api/chat/messages/%d/" % m["id"], {"content": "edited"}, token=alice.token).expect(200)
    srv.post("/api/chat/messages/%d/read/" % m["id"], token=bob.token).expect(200)
    srv.delete("/api/chat/messages/%d/" % m["id"], token=alice.token).expect(204)
    srv.post("/api/chat/rooms/%d/leave/" % rid, token=bob.token).expect(200)
    srv.patch("/api/chat/rooms/%d/" % rid, {"description": "changed"}, token=alice.token).expect(200)
    got = [k for k, ref, user in kinds(rid, start)]
    eq(got, ["message_updated", "message_read", "message_deleted", "member_left", "room_updated"],
       "events")
    ev = kinds(rid, start)
    eq(ev[0][1], m["id"], "updated ref")
    eq((ev[1][1], ev[1][2]), (m["id"], bob.id), "read ref and reader")
    start = max_event()
    srv.delete("/api/chat/rooms/%d/" % rid, token=alice.token).expect(204)
    check("room_deleted" in [k for k, _, _ in kinds(rid, start)], "room_deleted event")


def test_wakeup_datagram(srv):
    alice = srv.user()
    room = srv.room(alice)
    path = os.path.join(srv.notify_dir, "relay-apitest.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(5)
    try:
        srv.send(alice, room["id"], "wake up")
        check(len(s.recv(64)) >= 0, "datagram")
        s.setblocking(False)
        try:
            while s.recv(64):
                pass
        except BlockingIOError:
            pass
        s.settimeout(5)
        m = srv.send(alice, room["id"], "again")
        srv.patch("/api/chat/messages/%d/" % m["id"], {"content": "edit"}, token=alice.token).expect(200)
        s.recv(64)
        # Refused writes wake nobody.
        s.setblocking(False)
        try:
            while s.recv(64):
                pass
        except BlockingIOError:
            pass
        srv.post("/api/chat/rooms/%d/messages/" % room["id"], {"content": ""},
                 token=alice.token).expect(400)
        time.sleep(0.2)
        try:
            s.recv(64)
            raise AssertionError("a refused write sent a wake-up")
        except BlockingIOError:
            pass
    finally:
        s.close()
        os.unlink(path)
    # With nobody listening the write still succeeds.
    srv.send(alice, room["id"], "nobody hears")


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_http_message_reaches_websocket(srv):
    relay_bin = os.path.join(BUILD, "relay", "chat-relay")
    if not os.access(relay_bin, os.X_OK):
        print("SKIP: relay/chat-relay is not built; HTTP-to-WebSocket delivery not tested")
        return
    if websockets is None:
        print("SKIP: python3-websockets is not installed; HTTP-to-WebSocket delivery not tested")
        return
    import asyncio
    import json

    alice, bob = srv.user(), srv.user()
    room = srv.room(alice)
    rid = room["id"]
    port = _free_port()
    env = dict(os.environ, CHAT_NOTIFY_DIR=srv.notify_dir, CHAT_RELAY_LISTEN="127.0.0.1",
               CHAT_RELAY_PORT=str(port), CHAT_RELAY_POLL_INTERVAL_MS="5000",
               CHAT_RELAY_WORKERS="1", CHAT_RELAY_METRICS_LISTEN="")
    log_path = os.path.join(srv.dir, "relay.log")
    log = open(log_path, "wb")
    relay = subprocess.Popen([relay_bin], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            check(relay.poll() is None, "chat-relay exited: " + open(log_path).read())
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        # The relay's wake-up socket must exist before the write, or only
        # its poll (set long above) would deliver.
        while time.time() < deadline and not any(
                n.startswith("relay-") for n in os.listdir(srv.notify_dir)):
            time.sleep(0.05)

        async def recv_type(ws, want, timeout=4.0):
            end = time.time() + timeout
            while True:
                left = end - time.time()
                if left <= 0:
                    raise AssertionError("no %s frame within %.1f s" % (want, timeout))
                frame = json.loads(await asyncio.wait_for(ws.recv(), left))
                if frame.get("type") == want:
                    return frame

        async def flow():
            url = "ws://127.0.0.1:%d/ws/chat/%d/?token=%s" % (port, rid, bob.token)
            async with websockets.connect(url) as ws:
                first = json.loads(await asyncio.wait_for(ws.recv(), 10))
                eq(first["type"], "connection_established", "first frame")
                posted = srv.post("/api/chat/rooms/%d/messages/" % rid,
                                  {"content": "over http 你好 \U0001F44B \u05E9\u05DC\u05D5\u05DD",
                                   "client_id": "c-1"},
                                  token=alice.token).expect(201).json
                frame = await recv_type(ws, "chat_message")
                eq(frame["message"], posted, "WebSocket message equals the HTTP one")
                edited = srv.patch("/api/chat/messages/%d/" % posted["id"], {"content": "new"},
                                   token=alice.token).expect(200).json
                frame = await recv_type(ws, "message_updated")
                eq(frame["message"], edited, "edit delivered")
                srv.post("/api/chat/messages/%d/read/" % posted["id"], token=alice.token).expect(200)
                frame = await recv_type(ws, "message_read")
                eq(frame["message_id"], posted["id"])
                eq(frame["user"]["id"], alice.id)
                srv.delete("/api/chat/messages/%d/" % posted["id"], token=alice.token).expect(204)
                frame = await recv_type(ws, "message_deleted")
                eq(frame["message_id"], posted["id"])
                # Deleting the room over HTTP closes its connections.
                srv.delete("/api/chat/rooms/%d/" % rid, token=alice.token).expect(204)
                frame = await recv_type(ws, "error")
                eq(frame.get("code"), "room_deleted", "error code")
                try:
                    await asyncio.wait_for(ws.recv(), 5)
                    raise AssertionError("connection still open after room_deleted")
                except websockets.exceptions.ConnectionClosed as e:
                    eq(e.code, 4404, "close code")

        asyncio.run(flow())
    finally:
        relay.terminate()
        try:
            relay.wait(timeout=20)
        except subprocess.TimeoutExpired:
            relay.kill()
        log.close()
        text = open(log_path, errors="replace").read()
        for bad in ("AddressSanitizer", "runtime error:"):
            check(bad not in text, "sanitizer report in chat-relay's log:\n" + text)


if __name__ == "__main__":
    if not shutil.which("mariadb") and not shutil.which("mysql"):
        print("mariadb client not found")
        sys.exit(77)
    run(tests_of(globals()))
