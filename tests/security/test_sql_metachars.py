"""SQL metacharacters in every string field are data, stored and read
back byte for byte, over HTTP and over the WebSocket, and the same in the
database itself (every statement is prepared and parameterised: see
docs/security.md). Fields: username, password, room name and description,
message content (HTTP and WebSocket), client_id (HTTP and WebSocket),
edits of room and message."""

import seclib
from seclib import R

S = {}

META = "x'; DROP TABLE messages; -- \" ` \\ %_ /* */ # \\' OR '1'='1 ; \\0 \n\t😀 ０"
META_CID = "'\";--%_\\`#/**/ OR 1=1 )("  # printable ASCII, <= 64 chars
META_PW = "pw'; DELETE FROM users; -- \"\\%_ OR 1=1"


def setup(fx):
    S["relay"] = fx.relay()
    S["api"] = seclib.api(fx)


def db_row(fx, query):
    rows = fx.db.sql(query)
    R.check(len(rows) == 1, f"{query}: {len(rows)} rows")
    return rows[0]


async def t_users(fx):
    srv = S["api"]
    # Django's rule refuses quotes and spaces in names: a 400, not a 500.
    for bad in ("o'brien", "a\"b", "x;--", "a b", "robert'); DROP TABLE users;--"):
        r = srv.post("/api/auth/register/", {"username": bad, "password": META_PW})
        R.eq(r.status, 400, f"register {bad!r}")
    # The metacharacters the rule allows: stored verbatim.
    name = "sq--_.+@" + seclib.apitest.unique("u")
    r = srv.post("/api/auth/register/", {"username": name, "password": META_PW})
    R.eq(r.status, 201, "register with a metacharacter password")
    uid = r.json["id"]
    R.eq(r.json["username"], name, "username echoed")
    R.eq(db_row(fx, f"SELECT username FROM users WHERE id = {int(uid)}")[0], name,
         "username in the database")
    tokens = srv.login(name, META_PW)
    me = srv.get("/api/auth/me/", token=tokens["access"]).expect(200).json
    R.eq(me["username"], name, "username over HTTP")
    R.eq(srv.post("/api/auth/token/", {"username": name, "password": META_PW[:-1]}).status,
         401, "password one character short")
    R.eq(srv.post("/api/auth/token/", {"username": "x' OR '1'='1", "password": "x' OR '1'='1"})
         .status, 401, "login with an injection in both fields")
    R.check(int(fx.db.scalar("SELECT COUNT(*) FROM users")) >= 2, "users table intact")


async def t_rooms_and_messages_http(fx):
    srv = S["api"]
    u = srv.user()
    name = META.replace("\n", " ").replace("\t", " ")[:100]  # names: no control chars
    room = srv.room(u, name=name, description=META)
    rid = room["id"]
    R.eq(room["name"], name, "room name echoed")
    R.eq(room["description"], META, "description echoed")
    got = srv.get(f"/api/chat/rooms/{rid}/", token=u.token).expect(200).json
    R.eq((got["name"], got["description"]), (name, META), "room over HTTP")
    R.eq(db_row(fx, f"SELECT name, description FROM rooms WHERE id = {int(rid)}"),
         [name, META], "room in the database")

    m = srv.send(u, rid, META, client_id=META_CID)
    R.eq((m["content"], m.get("client_id")), (META, META_CID), "message echoed")
    page = srv.get(f"/api/chat/rooms/{rid}/messages/", token=u.token).expect(200).json
    R.eq([(x["content"], x.get("client_id")) for x in page["results"]], [(META, META_CID)],
         "message over HTTP")
    R.eq(db_row(fx, f"SELECT content, client_id FROM messages WHERE id = {int(m['id'])}"),
         [META, META_CID], "message in the database")
    # The retry with the same client_id finds it again (a lookup by it).
    again = srv.post(f"/api/chat/rooms/{rid}/messages/", {"content": META, "client_id": META_CID},
                     token=u.token)
    R.eq((again.status, again.json["id"]), (200, m["id"]), "client_id retry")

    edited = META[::-1]
    r = srv.patch(f"/api/chat/messages/{m['id']}/", {"content": edited}, token=u.token)
    R.eq(r.status, 200, "edit message")
    R.eq(db_row(fx, f"SELECT content FROM messages WHERE id = {int(m['id'])}")[0], edited,
         "edited message in the database")
    r = srv.patch(f"/api/chat/rooms/{rid}/", {"name": "n'--" + name[:50], "description": edited},
                  token=u.token)
    R.eq(r.status, 200, "edit room")
    R.eq(db_row(fx, f"SELECT name, description FROM rooms WHERE id = {int(rid)}"),
         ["n'--" + name[:50], edited], "edited room in the database")
    # Query parameters are numbers or nothing.
    r = srv.get(f"/api/chat/rooms/{rid}/messages/?before=1%27%20OR%201=1", token=u.token)
    R.eq(r.status, 400, "before with an injection")
    R.check(int(fx.db.scalar("SELECT COUNT(*) FROM messages")) >= 1, "messages table intact")


async def t_websocket(fx):
    relay = S["relay"]
    a = fx.user("ws")
    room = fx.room(a)
    c = await relay.connect(room, a)
    await c.send({"type": "chat_message", "content": META, "client_id": META_CID})
    f = await c.next("chat_message", timeout=10)
    R.eq((f["message"]["content"], f["message"].get("client_id")), (META, META_CID),
         "message echoed over the WebSocket")
    R.eq(db_row(fx, f"SELECT content, client_id FROM messages WHERE id = "
                    f"{int(f['message']['id'])}"), [META, META_CID],
         "WebSocket message in the database")
    # And read back over HTTP by another user of this public room.
    srv = S["api"]
    b = srv.user()
    page = srv.get(f"/api/chat/rooms/{room}/messages/", token=b.token).expect(200).json
    R.check(any(x["content"] == META for x in page["results"]),
            "WebSocket message not read back verbatim over HTTP")


if __name__ == "__main__":
    seclib.main([t_users, t_rooms_and_messages_http, t_websocket], setup)
