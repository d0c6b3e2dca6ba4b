"""[database] host as a list of servers: the relay connects to the first
one that answers, in order, and keeps working when the one it is on goes
away (a list of Galera nodes without a proxy in front; docs/scaling.md).
The private server listens on loopback TCP here: a port where nothing
listens stands for a dead node."""

import os
import socket

import relaylib as R

S = {}


def closed_port():
    """A loopback port where nothing listens (bound, then closed)."""
    return R.free_port()


def setup(_fx):
    S["db_port"] = R.free_port()
    # The harness server has --skip-networking; let this one listen on
    # loopback TCP only (later options win).
    os.environ["CHAT_TEST_DB_OPTS"] = (os.environ.get("CHAT_TEST_DB_OPTS", "") +
                                       f" --skip-networking=0 --bind-address=127.0.0.1"
                                       f" --port={S['db_port']}")


def relay_on(fx, hosts):
    # Make a TCP user once (root is socket-only).
    if not S.get("user"):
        fx.db.sql("CREATE USER IF NOT EXISTS 'chatnodes'@'127.0.0.1' IDENTIFIED BY 'pw'; "
                  f"GRANT ALL ON {fx.db.name}.* TO 'chatnodes'@'127.0.0.1'", db="")
        S["user"] = True
    return fx.relay(CHAT_DATABASE_HOST=hosts, CHAT_DATABASE_USER="chatnodes",
                    CHAT_DATABASE_PASSWORD="pw", CHAT_DATABASE_PORT=str(S["db_port"]))


async def t_first_answering_node(fx):
    """A dead node first in the list, then the live one (its port taken
    from [database] port), then another dead one with its own port."""
    dead = closed_port()
    r = relay_on(fx, f"127.0.0.1:{dead}, 127.0.0.1 ,127.0.0.1:{closed_port()}")
    u = fx.user("nodes")
    room = fx.room(u)
    c = await r.connect(room, u)
    m = await c.chat("through the second node")
    R.eq(fx.room_messages(room)[-1][0], m["id"], "stored id")
    await c.close()
    r.stop()


async def t_bad_list_refused(fx):
    """A malformed list stops the relay at start with the key named."""
    r = R.Relay(fx, {"CHAT_DATABASE_HOST": "127.0.0.1,,127.0.0.2"}, name="badlist")
    try:
        r.start(timeout=10)
        R.check(False, "the relay started with a malformed host list")
    except R.TestFailure as e:
        R.check("[database] host" in str(e), f"error does not name the key: {e}")


if __name__ == "__main__":
    # The server options must be set before the fixture starts the server.
    setup(None)
    R.main([t_first_answering_node, t_bad_list_refused])
