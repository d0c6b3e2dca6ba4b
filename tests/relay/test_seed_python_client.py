"""The Python client example of the original protocol document, run as it
is (tests/e2e/seed_client.py, verbatim: only its token and URI strings are
replaced before it runs), works against the relay: it connects, sends, and
prints the first frame it receives (connection_established)."""

import asyncio
import os
import subprocess
import sys

import relaylib as R

S = {}


def setup(fx):
    S["relay"] = fx.relay()


SEED_TOKEN = '"your_jwt_token_here"'
SEED_URI = 'f"ws://localhost:8000/ws/chat/2/?token={token}"'


def run_seed(url_template, token):
    path = os.path.join(R.TOP_SRCDIR, "tests", "e2e", "seed_client.py")
    with open(path, encoding="utf-8") as f:
        code = f.read()
    R.check(SEED_TOKEN in code and SEED_URI in code, "seed_client.py lost its token or URI line")
    code = code.replace(SEED_TOKEN, repr(token)).replace(
        SEED_URI, repr(url_template.format(token=token)))
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=30)


async def t_seed_client(fx):
    relay = S["relay"]
    a, b = fx.user("seed"), fx.user("watcher")
    room = fx.room(a)
    watcher = await relay.connect(room, b)
    url = f"ws://127.0.0.1:{relay.port}/ws/chat/{room}/?token={{token}}"
    r = await asyncio.get_running_loop().run_in_executor(None, run_seed, url, a.token)
    out = r.stdout.decode("utf-8", "replace")
    R.eq(r.returncode, 0, f"seed client exit status (stderr: "
                          f"{r.stderr.decode('utf-8', 'replace')[-1500:]})")
    R.check("WebSocket连接成功" in out, f"seed client did not connect: {out!r}")
    R.check("收到消息: " in out, f"seed client received nothing: {out!r}")
    received = out.split("收到消息: ", 1)[1]
    R.check("'connection_established'" in received or "'chat_message'" in received,
            f"seed client's first frame is neither connection_established nor its message: "
            f"{received!r}")
    R.check("连接成功" in received or "Hello WebSocket!" in received,
            f"seed client's frame lacks the expected content: {received!r}")
    # its message was stored and delivered to the room
    f = await watcher.next("chat_message", 10)
    R.check_message(f["message"], content="Hello WebSocket!", message_type="text", sender=a)
    R.eq([row[2] for row in fx.room_messages(room)], ["Hello WebSocket!"], "stored messages")


async def t_seed_client_no_slash(fx):
    relay = S["relay"]
    a = fx.user("seed2")
    room = fx.room(a)
    url = f"ws://127.0.0.1:{relay.port}/ws/chat/{room}?token={{token}}"
    r = await asyncio.get_running_loop().run_in_executor(None, run_seed, url, a.token)
    out = r.stdout.decode("utf-8", "replace")
    R.eq(r.returncode, 0, f"seed client exit status: {r.stderr.decode()[-1500:]}")
    R.check("连接成功" in out, f"seed client output: {out!r}")


if __name__ == "__main__":
    R.main([t_seed_client, t_seed_client_no_slash], setup)
