"""MariaDB goes away under traffic: senders get error code "unavailable",
the relay stays up and the connections stay open; when the server is back
(same data directory and socket) sends work again without restarting the
relay, and nothing acknowledged is lost."""

import asyncio
import time
import uuid

import relaylib as R


class Sender:
    def __init__(self, c, user):
        self.c, self.user = c, user
        self.sent = []
        self.stop = False

    async def run(self, interval=0.1):
        i = 0
        try:
            while not self.stop and not self.c.closed:
                content = f"out{self.c.n} #{i} {uuid.uuid4().hex[:8]}"
                await self.c.send({"type": "chat_message", "content": content,
                                   "client_id": str(uuid.uuid4())})
                self.sent.append((time.monotonic(), content))
                i += 1
                await asyncio.sleep(interval)
        except R.websockets.exceptions.ConnectionClosed:
            pass

    def acked(self):
        return [f for f in self.c.history if f["type"] == "chat_message" and
                f["message"]["sender"]["id"] == self.user.id]


@R.timeout(150)
async def t_outage(fx):
    relay = fx.relay()
    a, b = fx.user("writer"), fx.user("reader")
    room = fx.room(a)
    ca = await relay.connect(room, a)
    cb = await relay.connect(room, b)
    s = Sender(ca, a)
    task = asyncio.ensure_future(s.run())
    try:
        await R.async_wait_until(lambda: len(s.acked()) >= 5, 20, "5 acknowledged messages")
        # crash the database server (SIGKILL: no clean shutdown)
        await asyncio.get_running_loop().run_in_executor(None, fx.db.kill)
        err = await ca.next("error", 30, where=lambda f: f.get("code") == "unavailable")
        R.check(isinstance(err.get("message"), str), f"error frame: {err}")
        R.check(relay.alive(), "the relay exited when the database went away")
        R.check(not ca.closed and not cb.closed,
                f"connections closed during the outage ({ca.close_code}, {cb.close_code})")
        # a newcomer during the outage is told, not left hanging
        newcomer = await R.Client.open(relay.url(room, b.token), fx)
        code = await newcomer.closed_with(20)
        R.check(not [f for f in newcomer.history if f["type"] == "connection_established"],
                "a connection was established while the user could not be checked")
        errs = [f for f in newcomer.history if f["type"] == "error"]
        R.check(errs, f"no error frame for a connection opened while the database is down "
                      f"(closed with {code})")
        R.check(code in (1013, 4403, 1011), f"close code for a connection opened while the "
                                            f"database is down: {code}")
        R.check(relay.alive(), "the relay exited during the outage")
        await asyncio.get_running_loop().run_in_executor(None, fx.db.start_server)
        t_up = time.monotonic()
        # sends work again: a message sent after the restart is acknowledged
        await R.async_wait_until(
            lambda: any(f["_t"] > t_up and f["message"]["content"] in
                        {c for t, c in s.sent if t > t_up} for f in s.acked()),
            45, "a message sent after the database came back to be acknowledged")
    finally:
        s.stop = True
        await task
    R.check(relay.alive(), "the relay is not running")
    R.check(not ca.closed, f"the sender's connection closed ({ca.close_code})")
    await ca.usable()
    acked = [f["message"] for f in s.acked()]
    rows = fx.room_messages(room)
    stored = {}
    for r in rows:
        stored.setdefault(r[2], []).append(r[0])
    lost = [m["content"] for m in acked if m["content"] not in stored]
    R.check(not lost, f"acknowledged but not in the database after the crash: {lost[:5]}")
    dup = [k for k, v in stored.items() if len(v) > 1]
    R.check(not dup, f"stored twice: {dup[:5]}")
    wrong = [m for m in acked if m["id"] not in stored.get(m["content"], [])]
    R.check(not wrong, f"acknowledged with an id that is not the row's: {wrong[:3]}")
    # the reader got every acknowledged message, in id order, once
    await R.async_wait_until(
        lambda: {m["id"] for m in acked} <= {f["message"]["id"] for f in cb.history
                                             if f["type"] == "chat_message"},
        15, "the reader to receive every acknowledged message")
    ids = [f["message"]["id"] for f in cb.history if f["type"] == "chat_message"]
    R.eq(ids, sorted(set(ids)), "reader's ids (ascending, once each)")
    R.check(not [f for f in cb.history if f["type"] == "error"],
            "the reader got error frames")
    R.check(fx.db.ping(), "database not answering at the end")


if __name__ == "__main__":
    R.main([t_outage])
