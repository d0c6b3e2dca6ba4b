"""Rooms never leak into each other; many clients sending at once each get
every message of their room exactly once, in ascending id order."""

import asyncio

import relaylib as R

S = {}


def setup(fx):
    S["relay"] = fx.relay()


def check_stream(got, want_ids, who):
    ids = [m["id"] for m in got]
    R.check(len(ids) == len(set(ids)), f"{who}: duplicate deliveries: "
                                       f"{sorted(i for i in set(ids) if ids.count(i) > 1)[:10]}")
    R.check(ids == sorted(ids), f"{who}: ids not ascending: {ids[:40]}")
    R.check(ids == want_ids, f"{who}: got {len(ids)} messages, the room has {len(want_ids)}; "
                             f"missing {sorted(set(want_ids) - set(ids))[:10]}, "
                             f"foreign {sorted(set(ids) - set(want_ids))[:10]}")


@R.timeout(60)
async def t_two_rooms(fx):
    relay = S["relay"]
    us = [fx.user("ra") for _ in range(3)]
    vs = [fx.user("rb") for _ in range(3)]
    room1, room2 = fx.room(us[0]), fx.room(vs[0])
    c1 = [await relay.connect(room1, u) for u in us]
    # us[0] is in both rooms at once, on two connections
    c2 = [await relay.connect(room2, v) for v in vs] + [await relay.connect(room2, us[0])]

    async def send(c, tag):
        for i in range(5):
            await c.send({"type": "chat_message", "content": f"{tag} from {c.n} #{i}"})
    await asyncio.gather(*(send(c, "room1") for c in c1), *(send(c, "room2") for c in c2))
    got1 = await asyncio.gather(*(c.messages(15, 20) for c in c1))
    got2 = await asyncio.gather(*(c.messages(20, 20) for c in c2))
    db1 = fx.room_messages(room1)
    db2 = fx.room_messages(room2)
    R.eq(len(db1), 15, "rows in room 1")
    R.eq(len(db2), 20, "rows in room 2")
    for c, got in zip(c1, got1):
        check_stream(got, [r[0] for r in db1], f"room 1 client {c.n}")
        R.check(all(m["content"].startswith("room1 ") for m in got), "room 2 text in room 1")
    for c, got in zip(c2, got2):
        check_stream(got, [r[0] for r in db2], f"room 2 client {c.n}")
        R.check(all(m["content"].startswith("room2 ") for m in got), "room 1 text in room 2")
    for c in c1 + c2:
        await c.quiet(0.3, "chat_message", what="message beyond the room's own")


@R.timeout(90)
async def t_many_clients(fx):
    relay = S["relay"]
    n_clients, n_msgs = 20, 20
    users = [fx.user("crowd") for _ in range(n_clients)]
    room = fx.room(users[0])
    clients = await asyncio.gather(*(relay.connect(room, u) for u in users))

    async def send(c):
        for i in range(n_msgs):
            await c.send({"type": "chat_message", "content": f"crowd {c.n} #{i}"})
    await asyncio.gather(*(send(c) for c in clients))
    total = n_clients * n_msgs
    got = await asyncio.gather(*(c.messages(total, 60) for c in clients))
    rows = fx.room_messages(room)
    R.eq(len(rows), total, "rows stored")
    want = [r[0] for r in rows]
    content = {r[0]: r[2] for r in rows}
    for c, g in zip(clients, got):
        check_stream(g, want, f"client {c.n}")
        bad = [m for m in g if m["content"] != content[m["id"]]]
        R.check(not bad, f"client {c.n}: content differs from the row: {bad[:3]}")
    for c in clients:
        R.check(not [f for f in c.history if f["type"] == "error"],
                f"client {c.n} got errors: {[f for f in c.history if f['type'] == 'error'][:3]}")
    await asyncio.gather(*(c.quiet(0.5, "chat_message", what="extra delivery") for c in clients))
    # every sender's own messages are in order in its stream
    for c, g in zip(clients, got):
        mine = [m["content"] for m in g if m["content"].startswith(f"crowd {c.n} #")]
        R.eq(mine, [f"crowd {c.n} #{i}" for i in range(n_msgs)],
             f"client {c.n}'s own messages in sending order")


if __name__ == "__main__":
    R.main([t_two_rooms, t_many_clients], setup)
