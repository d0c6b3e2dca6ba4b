"""chat_message: stored, then delivered to every connection of the room with
the contract's shape; client_id retries; content limits; bad input answered
by an error frame on a connection that stays usable."""

import json
import socket
import tempfile
import time
import uuid

import relaylib as R

S = {}
EMOJI = "\U0001F600"
# Chinese (with a 4-byte CJK Extension B character), emoji (a ZWJ family, a
# skin tone, a flag), right-to-left Hebrew and Arabic with direction marks,
# combining accents: every byte must come back as sent.
WORLD_TEXT = ("你好，世界 \U00020BB7 " "\U0001F468\u200D\U0001F469\u200D\U0001F467 "
              "\U0001F44D\U0001F3FD \U0001F1F9\U0001F1FC "
              "\u05E9\u05DC\u05D5\u05DD \u200F\u0645\u0631\u062D\u0628\u0627\u200E "
              "e\u0301 n\u0303")


def setup(fx):
    S["relay"] = fx.relay()
    S["small"] = fx.relay(CHAT_RELAY_MAX_FRAME_SIZE="1024")


def db_row(fx, mid):
    rows = fx.db.sql("SELECT id, room_id, sender_id, content, message_type, client_id, "
                     "DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%s.%fZ') FROM messages "
                     f"WHERE id = {int(mid)}")
    R.check(len(rows) == 1, f"message {mid} not in the database")
    r = rows[0]
    return {"id": int(r[0]), "room_id": int(r[1]), "sender_id": int(r[2]), "content": r[3],
            "message_type": r[4], "client_id": r[5], "created_at": r[6]}


def strip(f):
    return {k: v for k, v in f.items() if k != "_t"}


async def t_store_and_deliver(fx):
    relay = S["relay"]
    a, b = fx.user("alice"), fx.user("bob")
    room = fx.room(a)
    a1 = await relay.connect(room, a)
    a2 = await relay.connect(room, a)
    b1 = await relay.connect(room, b)
    content = "hello 世界 " + EMOJI + ' "quoted" \\ back\nslash'
    await a1.send({"type": "chat_message", "content": content, "message_type": "text"})
    frames = []
    for c in (a1, a2, b1):
        f = await c.next("chat_message", 10)
        R.check(isinstance(f.get("message"), dict), f"chat_message frame shape: {f}")
        R.check_message(f["message"], content=content, sender=a)
        frames.append(strip(f))
    R.check(frames[0] == frames[1] == frames[2],
            f"recipients got different frames: {frames}")
    m = frames[0]["message"]
    row = db_row(fx, m["id"])
    R.eq((row["room_id"], row["sender_id"], row["content"], row["message_type"]),
         (room, a.id, content, "text"), "stored row (room, sender, content, type)")
    ts, created = R.parse_ts(m["timestamp"]), R.parse_ts(row["created_at"])
    R.check(abs(ts - created) <= 0.0011,
            f"timestamp {m['timestamp']} differs from the row's created_at {row['created_at']}")
    for c in (a1, a2, b1):
        await c.quiet(0.5, "chat_message", what="second delivery")
    # the sender sees no error
    R.check(not [f for f in a1.history if f["type"] == "error"], f"errors: {a1.history}")


async def t_world_text_byte_exact(fx):
    """Sent over WebSocket, stored, delivered live and replayed from the
    database: the same UTF-8 bytes each time (json-c 0.18's strict mode
    refused every byte >= 0x80)."""
    relay = S["relay"]
    a, b = fx.user("world"), fx.user("welt")
    room = fx.room(a)
    sender = await relay.connect(room, a)
    reader = await relay.connect(room, b)
    m = await sender.chat(WORLD_TEXT)
    R.eq(m["content"], WORLD_TEXT, "content echoed to the sender")
    got = (await reader.next("chat_message", 10))["message"]
    R.eq(got["content"].encode("utf-8"), WORLD_TEXT.encode("utf-8"), "content delivered")
    hexed = fx.db.scalar(f"SELECT HEX(content) FROM messages WHERE id = {int(m['id'])}")
    R.eq(hexed, WORLD_TEXT.encode("utf-8").hex().upper(), "bytes stored")
    late = await relay.connect(room, b, last_id=m["id"] - 1)
    await late.next("sync_done", 10)
    replayed = [f["message"]["content"] for f in late.history if f["type"] == "chat_message"]
    R.eq(replayed, [WORLD_TEXT], "content replayed from the database")


async def t_message_types(fx):
    relay = S["relay"]
    a = fx.user("typer")
    room = fx.room(a)
    c = await relay.connect(room, a)
    m = await c.chat("no type given " + uuid.uuid4().hex)
    R.check_message(m, message_type="text", sender=a)
    R.eq(db_row(fx, m["id"])["message_type"], "text", "stored default message_type")
    for mt in ("text", "image", "file", "system"):
        content = f"type {mt} {uuid.uuid4().hex}"
        m = await c.chat(content, message_type=mt)
        R.check_message(m, content=content, message_type=mt, sender=a)
        R.eq(db_row(fx, m["id"])["message_type"], mt, "stored message_type")


async def t_ids_ascend(fx):
    relay = S["relay"]
    a = fx.user("seq")
    room = fx.room(a)
    c = await relay.connect(room, a)
    ids = []
    for i in range(5):
        ids.append((await c.chat(f"seq {i} {uuid.uuid4().hex}"))["id"])
    R.eq(ids, sorted(set(ids)), "ids of successive messages (ascending, distinct)")
    R.eq([r[0] for r in fx.room_messages(room)], ids, "DB ids equal the ids clients saw")


async def t_client_id(fx):
    relay = S["relay"]
    a, b = fx.user("retry"), fx.user("watch")
    room = fx.room(a)
    a1 = await relay.connect(room, a)
    a2 = await relay.connect(room, a)
    b1 = await relay.connect(room, b)
    cid = str(uuid.uuid4())
    content = "idempotent " + cid
    await a1.send({"type": "chat_message", "content": content, "client_id": cid})
    first = {}
    for c in (a1, a2, b1):
        f = await c.next("chat_message", 10)
        R.check_message(f["message"], content=content, sender=a, client_id=cid)
        first[c.n] = f["message"]
    mid = first[a1.n]["id"]
    # retry on another connection of the same user (a reconnect): only it gets the message
    await a2.send({"type": "chat_message", "content": content, "client_id": cid})
    f = await a2.next("chat_message", 10)
    R.eq(f["message"]["id"], mid, "id of the message answered to a retry")
    R.eq(f["message"].get("client_id"), cid, "client_id of the retry answer")
    # retry on the same connection too
    await a1.send({"type": "chat_message", "content": content, "client_id": cid})
    f = await a1.next("chat_message", 10)
    R.eq(f["message"]["id"], mid, "id answered to a same-connection retry")
    for c in (a1, a2, b1):
        await c.quiet(1.0, "chat_message", what="second delivery of a retried message")
    R.check(not [f for f in a1.history + a2.history if f["type"] == "error"],
            "a retry was answered with an error")
    R.eq(int(fx.db.scalar(f"SELECT COUNT(*) FROM messages WHERE client_id = '{cid}'")), 1,
         "rows stored for one client_id")
    # client_id is unique per user: the same one from another user is a new message
    await b1.send({"type": "chat_message", "content": content + " b", "client_id": cid})
    f = await b1.next("chat_message", 10, where=lambda f: f["message"]["content"] == content + " b")
    R.check(f["message"]["id"] != mid, "another user's message with the same client_id "
                                       "was taken for a retry")
    # bounds on client_id
    await a1.send({"type": "chat_message", "content": "long cid", "client_id": "x" * 65})
    await a1.error()
    await a1.send({"type": "chat_message", "content": "num cid", "client_id": 12345})
    await a1.error()
    m = await a1.chat("cid 64 " + cid, client_id="y" * 64)
    R.eq(m.get("client_id"), "y" * 64, "64-character client_id echoed")


async def t_retry_while_stored(fx):
    """A retry answered before the original's live event reaches the
    retrying connection (a client that reconnects to another relay and
    resends its client_id at once, while that relay has not yet read the
    event): the connection gets the message from the retry answer, and
    not a second time when the live event follows. The second relay hears
    no wake-ups of the first one and polls rarely, so it reads the event
    only after it answered the retry."""
    first = S["relay"]
    slow = fx.relay(CHAT_NOTIFY_DIR=tempfile.mkdtemp(prefix="chatnotify.", dir=fx.tmp),
                    CHAT_RELAY_POLL_INTERVAL_MS="4000")
    a = fx.user("hasty")
    room = fx.room(a)
    for i in range(2):
        old = await first.connect(room, a)
        new = await slow.connect(room, a)
        # Start right after one of the slow relay's polls: it delivers
        # the join of a marker client at one. Its next poll is 4 s away,
        # so the retry below is answered before it reads the live event
        # (at a random moment, a poll fell between the two now and then).
        marker = await first.connect(room, fx.user("marker"))
        mark_id = marker.hello["user"]["id"]
        await new.next("user_join", 10, where=lambda f: f["user"]["id"] == mark_id)
        cid = str(uuid.uuid4())
        frame = {"type": "chat_message", "content": f"hasty {i}", "client_id": cid}
        await old.send(frame)
        mid = (await old.next("chat_message", 10))["message"]["id"]  # stored
        await new.send(frame)
        f = await new.next("chat_message", 10)
        R.eq(f["message"]["id"], mid, "the retry answer")
        # past the slow relay's next poll, which reads the live event (4 s
        # apart: a retry answered late on a loaded machine must still come
        # before that poll, or the live event is first and the answer is
        # the second copy the contract allows)
        await new.quiet(4.5, "chat_message", what="a second copy of a retried message")
        await old.close()
        await new.close()
        await marker.close()
    slow.stop()


async def t_content_length(fx):
    relay = S["relay"]
    a = fx.user("long")
    room = fx.room(a)
    c = await relay.connect(room, a)
    # 4000 code points of 4-byte characters, raw UTF-8
    content = EMOJI * 4000
    await c.send_text(json.dumps({"type": "chat_message", "content": content},
                                 ensure_ascii=False))
    f = await c.next("chat_message", 10)
    R.eq(f["message"]["content"], content, "4000-emoji content echoed")
    R.eq(db_row(fx, f["message"]["id"])["content"], content, "4000-emoji content stored")
    # the same as \\uXXXX surrogate-pair escapes: still 4000 code points
    content2 = "\U0001F389" * 4000
    await c.send_text(json.dumps({"type": "chat_message", "content": content2},
                                 ensure_ascii=True))
    f = await c.next("chat_message", 10)
    R.eq(f["message"]["content"], content2, "4000 escaped emoji echoed")
    m = await c.chat("a" * 4000)
    R.eq(len(m["content"]), 4000, "4000 ASCII characters")
    # one more is refused, and nothing is stored
    n = len(fx.room_messages(room))
    for too_long in (EMOJI * 4001, "b" * 4001):
        await c.send({"type": "chat_message", "content": too_long})
        await c.error()
    await c.usable()
    R.eq(len(fx.room_messages(room)), n + 1, "rows after two over-long messages and one good")


BAD_FRAMES = [
    ("invalid JSON", "this is not json"),
    ("truncated JSON", '{"type": "chat_message", "content": "x"'),
    ("JSON array", '[{"type": "chat_message", "content": "x"}]'),
    ("JSON string", '"chat_message"'),
    ("JSON number", "42"),
    ("JSON null", "null"),
    ("missing type", '{"content": "x"}'),
    ("type not a string", '{"type": 7, "content": "x"}'),
    ("unknown type", '{"type": "no_such_type", "content": "x"}'),
    ("missing content", '{"type": "chat_message"}'),
    ("content a number", '{"type": "chat_message", "content": 12}'),
    ("content null", '{"type": "chat_message", "content": null}'),
    ("content an array", '{"type": "chat_message", "content": ["x"]}'),
    ("content empty", '{"type": "chat_message", "content": ""}'),
    ("unknown message_type", '{"type": "chat_message", "content": "x", "message_type": "video"}'),
    ("message_type a number", '{"type": "chat_message", "content": "x", "message_type": 1}'),
    ("typing without is_typing", '{"type": "typing"}'),
    ("is_typing a string", '{"type": "typing", "is_typing": "yes"}'),
    ("is_typing a number", '{"type": "typing", "is_typing": 1}'),
    # Strict JSON (RFC 8259): no NaN, trailing commas or comments.
    ("NaN", '{"type": "chat_message", "content": "x", "n": NaN}'),
    ("Infinity", '{"type": "chat_message", "content": "x", "n": -Infinity}'),
    ("trailing comma", '{"type": "chat_message", "content": "x",}'),
    ("comment", '{"type": "chat_message", "content": "x"} // c'),
    ("single quotes", "{'type': 'chat_message', 'content': 'x'}"),
]


async def t_bad_input(fx):
    relay = S["relay"]
    a, b = fx.user("fuzzer"), fx.user("bystander")
    room = fx.room(a)
    c = await relay.connect(room, a)
    other = await relay.connect(room, b)
    for what, text in BAD_FRAMES:
        await c.send_text(text)
        try:
            await c.error()
        except R.TestFailure as e:
            raise R.TestFailure(f"{what} ({text!r}): {e}")
        R.check(not c.closed, f"{what}: connection closed ({c.close_code})")
    await c.usable()
    R.eq(len(fx.room_messages(room)), 1, "rows stored after bad frames + one good message")
    await other.next("chat_message", 10)
    R.check(not [f for f in other.history if f["type"] == "error"],
            "errors were sent to another connection of the room")
    R.check(not [f for f in other.history if f["type"] == "typing"],
            "a malformed typing frame was relayed")


async def t_invalid_utf8(fx):
    relay = S["relay"]
    a = fx.user("bytes")
    room = fx.room(a)
    raw = R.RawWs(relay.port, f"/ws/chat/{room}/?token={a.token}")
    try:
        hello = raw.recv_json("connection_established", 10)
        R.eq(hello["user"]["id"], a.id, "user")
        raw.send_text_bytes(b'{"type": "chat_message", "content": "bad \xff\xfe bytes"}')
        err = raw.recv_json("error", 10)
        R.check(isinstance(err.get("code"), str), f"error frame without code: {err}")
        raw.send_text_bytes(b'{"type": "chat_message", "content": "\xed\xa0\x80 surrogate"}')
        raw.recv_json("error", 10)
        good = '{"type": "chat_message", "content": "after bad bytes ünïcode"}'.encode()
        raw.send_text_bytes(good)
        f = raw.recv_json("chat_message", 10)
        R.eq(f["message"]["content"], "after bad bytes ünïcode", "message after invalid UTF-8")
    finally:
        raw.close()
    R.eq([r[2] for r in fx.room_messages(room)], ["after bad bytes ünïcode"],
         "stored messages (invalid UTF-8 must not be stored)")


async def t_unicode_byte_exact(fx):
    # Chinese, emoji and right-to-left text are stored and delivered byte
    # for byte (json-c 0.18's strict mode refused every non-ASCII frame).
    relay = S["relay"]
    a = fx.user("unicode")
    room = fx.room(a)
    c = await relay.connect(room, a)
    texts = ["你好，世界", "😀👍🏽👨\u200d👩\u200d👧", "שלום עולם مرحبا بالعالم"]
    for t in texts:
        await c.send({"type": "chat_message", "content": t})
        f = await c.next("chat_message", 10)
        R.eq(f["message"]["content"], t, "delivered content")
    R.eq([r[2] for r in fx.room_messages(room)], texts, "stored content")


async def t_frame_too_big(fx):
    relay = S["relay"]
    a = fx.user("big")
    room = fx.room(a)
    c = await relay.connect(room, a)
    # over the default 64 KiB limit
    await c.send_text(json.dumps({"type": "chat_message", "content": "z" * 70000}))
    await c.error(10)
    await c.usable()
    # fragmented: a valid message in 3 fragments is one message
    msg = json.dumps({"type": "chat_message", "content": "fragmented " + uuid.uuid4().hex})
    await c.ws.send([msg[:10], msg[10:25], msg[25:]])
    f = await c.next("chat_message", 10)
    R.eq(f["message"]["content"], json.loads(msg)["content"], "fragmented message content")
    # fragments adding up to more than the limit
    chunk = "q" * 8192
    big = ['{"type":"chat_message","content":"'] + [chunk] * 10 + ['"}']
    await c.ws.send(big)
    await c.error(10)
    await c.usable()
    R.eq(len(fx.room_messages(room)), 3, "rows stored (2 usable checks + the fragmented one)")
    # a relay configured with a small limit: exactly the limit passes, one
    # byte more does not (whatever the content's length)
    small = S["small"]
    c2 = await small.connect(room, a)
    await c2.send_text(json.dumps({"type": "chat_message", "content": "s" * 2000}))
    await c2.error(10)
    await c2.usable()
    for size, ok in ((1024, True), (1025, False)):
        head = '{"type": "chat_message", "content": "edge ' + str(size) + '"'
        text = head + " " * (size - len(head) - 1) + "}"
        R.eq(len(text.encode()), size, "frame size built")
        await c2.send_text(text)
        if ok:
            f = await c2.next(("chat_message", "error"), 10)
            R.eq(f["type"], "chat_message", f"answer to a frame of exactly {size} bytes "
                                            f"(the limit): {f}")
        else:
            await c2.error(10)
    await c2.usable()


masked_frame = R.masked_frame


def trickle(raw, data, sizes):
    """Send data in TCP writes of the given sizes (cycled), each its own
    segment: the relay reads the frame in pieces that end anywhere."""
    raw.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    i = k = 0
    while i < len(data):
        n = sizes[k % len(sizes)]
        raw.sock.sendall(data[i:i + n])
        i += n
        k += 1
        if k % 8 == 0:
            time.sleep(0.002)


def edge_frame(size, tag):
    """A chat_message frame of exactly size bytes."""
    head = '{"type": "chat_message", "content": "' + tag + '"'
    text = head + " " * (size - len(head) - 1) + "}"
    R.eq(len(text.encode()), size, "frame size built")
    return text.encode()


async def t_frame_pieces(fx):
    # libwebsockets hands the relay a message in pieces no larger than its
    # receive buffer (128 bytes): frames of exactly the default 64 KiB
    # limit, and one byte over it, read in pieces that split headers,
    # masks and UTF-8 anywhere; fragments with control frames between
    # them; pings with the largest payload.
    relay = S["relay"]
    a = fx.user("pieces")
    room = fx.room(a)
    raw = R.RawWs(relay.port, f"/ws/chat/{room}/?token={a.token}")
    try:
        raw.recv_json("connection_established", 10)
        limit = 65536
        trickle(raw, masked_frame(0x1, edge_frame(limit, "edge exact")), [1, 7, 127, 128, 129, 3000])
        f = raw.recv_json(("chat_message", "error"), 10)
        R.eq((f["type"], f.get("message", {}).get("content")), ("chat_message", "edge exact"),
             f"a frame of exactly {limit} bytes in pieces: {f}")
        trickle(raw, masked_frame(0x1, edge_frame(limit + 1, "edge over")), [5000, 3, 128])
        f = raw.recv_json(("chat_message", "error"), 10)
        R.eq((f["type"], f.get("code")), ("error", "frame_too_large"),
             f"a frame of {limit + 1} bytes in pieces")
        # a message in 3 fragments of a multi-byte text, split inside
        # characters, with a 125-byte ping and an empty one between them
        text = ("分片 " + EMOJI * 40 + " fragments").encode()
        msg = b'{"type": "chat_message", "content": "' + text + b'"}'
        parts = [msg[:37], msg[37:38 + 130], msg[38 + 130:]]
        data = (masked_frame(0x1, parts[0], fin=False) + masked_frame(0x9, b"p" * 125) +
                masked_frame(0x0, parts[1], fin=False) + masked_frame(0x9, b"") +
                masked_frame(0x0, parts[2], fin=True))
        trickle(raw, data, [3, 200, 1])
        pongs = []
        while True:
            op, payload = raw.recv_frame(10)
            if op == 0xA:
                pongs.append(payload)
                continue
            if op == 0x1:
                f = json.loads(payload.decode("utf-8"))
                if f["type"] == "chat_message":
                    break
                raise R.TestFailure(f"fragmented message answered with {f}")
        R.eq(f["message"]["content"], text.decode(), "fragmented message around pings")
        # A pong may follow the message's echo (the echo waits for the
        # database, the pong for the next write): read on for one. When the
        # second ping arrives before the first pong is out, libwebsockets
        # (4.1) answers the first only: every pong echoes a ping, and
        # at least one comes.
        while not pongs:
            op, payload = raw.recv_frame(5)
            if op == 0xA:
                pongs.append(payload)
        R.eq([p for p in pongs if p not in (b"", b"p" * 125)], [], "pongs echo the pings' payloads")
        # the connection is still usable, and a second exact-limit frame
        # in one piece passes too
        raw.sock.sendall(masked_frame(0x1, edge_frame(limit, "edge again")))
        f = raw.recv_json(("chat_message", "error"), 10)
        R.eq(f.get("message", {}).get("content"), "edge again", f"one-piece 64 KiB frame: {f}")
    finally:
        raw.close()
    R.eq([r[2] for r in fx.room_messages(room)],
         ["edge exact", text.decode(), "edge again"], "stored messages")


if __name__ == "__main__":
    R.main([t_store_and_deliver, t_world_text_byte_exact, t_message_types, t_ids_ascend, t_client_id,
            t_retry_while_stored, t_content_length, t_bad_input, t_invalid_utf8, t_unicode_byte_exact, t_frame_too_big,
            t_frame_pieces], setup)
