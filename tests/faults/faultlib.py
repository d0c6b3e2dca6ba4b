"""Shared pieces of the fault tests: senders that keep chatting and
remember what the relay acknowledged, and the checks that nothing
acknowledged was lost or stored twice. Built on the relay tests' fixture
and client (tests/relay/relaylib.py); the API and web server come from
tests/api/apitest.py and tests/e2e/stack.py."""

import asyncio
import os
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "relay"))
sys.path.insert(0, os.path.join(TOP, "tests", "api"))
sys.path.insert(0, os.path.join(TOP, "tests", "security"))

import relaylib as R  # noqa: E402


class Sender:
    """One connection that sends a chat_message with a fresh client_id
    every `interval` seconds while running. Acknowledged = its own
    chat_message came back (the relay stores before it echoes)."""

    def __init__(self, relay, user, room, interval=0.1):
        self.relay, self.user, self.room, self.interval = relay, user, room, interval
        self.client = None
        self.sent = {}         # client_id -> content, in send order
        self.errors = []       # error frames received
        self.task = None

    async def connect(self, last_id=None):
        self.client = await self.relay.connect(self.room, self.user, last_id=last_id)
        return self.client

    async def _loop(self):
        n = 0
        while True:
            cid = uuid.uuid4().hex
            content = f"{self.user.name} #{n}"
            self.sent[cid] = content
            n += 1
            try:
                await self.client.send({"type": "chat_message", "content": content,
                                        "client_id": cid})
            except Exception:
                return  # connection gone: stop sending on it
            await asyncio.sleep(self.interval)

    def start(self):
        self.task = asyncio.ensure_future(self._loop())

    async def stop(self):
        if self.task:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):
                pass
            self.task = None

    def frames(self, client=None, types=("chat_message",)):
        c = client or self.client
        return [f for f in c.history if f.get("type") in types]

    def acked(self, client=None):
        """client_id -> message id of this sender's acknowledged messages."""
        out = {}
        for f in self.frames(client):
            m = f["message"]
            if m["sender"]["id"] == self.user.id and m.get("client_id") in self.sent:
                out[m["client_id"]] = m["id"]
        return out

    def error_codes(self, client=None):
        return [f.get("code") for f in self.frames(client, ("error",))]


def stored(fx, client_ids):
    """client_id -> number of rows carrying it."""
    out = {c: 0 for c in client_ids}
    if not client_ids:
        return out
    for chunk in range(0, len(client_ids), 500):
        part = list(client_ids)[chunk:chunk + 500]
        rows = fx.db.sql("SELECT client_id, COUNT(*) FROM messages WHERE client_id IN (" +
                         ",".join(R.sql_str(c) for c in part) + ") GROUP BY client_id")
        for cid, n in rows:
            out[cid] = int(n)
    return out


def check_acked_stored_once(fx, senders, what):
    """Every acknowledged message is in the database exactly once, and no
    client_id at all is stored twice."""
    acked, sent = {}, set()
    for s in senders:
        for client in getattr(s, "clients", [s.client]):
            acked.update(s.acked(client))
        sent.update(s.sent)
    counts = stored(fx, sent)
    lost = [c for c in acked if counts.get(c, 0) == 0]
    dup = [c for c, n in counts.items() if n > 1]
    R.check(not lost, f"{what}: {len(lost)} acknowledged messages lost (of {len(acked)})")
    R.check(not dup, f"{what}: {len(dup)} client_ids stored more than once")
    return len(acked), len(sent), sum(1 for n in counts.values() if n == 1)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def wait_for(pred, timeout, what, interval=0.05):
    return await R.async_wait_until(pred, timeout, what, interval)


def now():
    return time.monotonic()
