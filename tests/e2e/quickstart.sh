#!/bin/sh
# deploy/quickstart up/status/down against the build tree (no apt, no
# build: CHAT_QUICKSTART_BUILD, CHAT_QUICKSTART_NO_APT): a stack comes up on
# its own ports and data directory with a demo login that works over HTTP
# and WebSocket, a second `up` reuses it without duplicating the demo data,
# a second stack runs beside it, and `down` stops one stack and nothing of
# the other.
set -eu
. "$top_srcdir/tests/e2e/e2e.sh"
e2e_need_programs
PY=$(e2e_python) || e2e_skip "python3-websockets not installed"
command -v lighttpd >/dev/null 2>&1 || [ -x /usr/sbin/lighttpd ] || e2e_skip "lighttpd not installed"
_chat_find mariadbd mysqld >/dev/null || e2e_skip "mariadb-server not installed"
command -v bash >/dev/null 2>&1 || e2e_skip "bash not installed"

# Short paths: the data directory holds Unix sockets.
tmp=$(mktemp -d /tmp/chatqs.XXXXXX)
qs="$top_srcdir/deploy/quickstart"
CHAT_QUICKSTART_BUILD=$top_builddir CHAT_QUICKSTART_NO_APT=1
export CHAT_QUICKSTART_BUILD CHAT_QUICKSTART_NO_APT
cleanup() {
	bash "$qs" down --data "$tmp/a" >/dev/null 2>&1 || true
	bash "$qs" down --data "$tmp/b" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

ports=$("$PY" -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
set -- $ports
ha=$1 wa=$2 hb=$3 wb=$4

fail() { echo "FAIL: $*"; exit 1; }

up() { # up NAME HTTP WS
	if ! bash "$qs" up --http-port "$2" --ws-port "$3" --data "$tmp/$1" >"$tmp/up-$1.out" 2>&1; then
		cat "$tmp/up-$1.out"
		for f in "$tmp/$1"/logs/*.log; do echo "---- $f"; tail -n 20 "$f"; done
		fail "quickstart up ($1)"
	fi
}

# check NAME HTTP: the demo login printed by up works; prints rooms named General.
check() {
	pw=$(sed -n 's/^  Login:       demo \/ //p' "$tmp/up-$1.out")
	url=$(sed -n "s/^  [^ ]*python3 -m websockets '\\(.*\\)'\$/\\1/p" "$tmp/up-$1.out")
	[ -n "$pw" ] || fail "no demo login in the output of up ($1)"
	[ -n "$url" ] || fail "no WebSocket command in the output of up ($1)"
	"$PY" - "$2" "$pw" "$url" <<'PYEOF'
import asyncio, json, sys, urllib.request
import websockets
port, pw, url = sys.argv[1:]
base = f"http://127.0.0.1:{port}"
def call(method, path, body=None, token=None):
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    req = urllib.request.Request(base + path, method=method, headers=h,
                                 data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())
tok = call("POST", "/api/auth/token/", {"username": "demo", "password": pw})["access"]
rooms = call("GET", "/api/chat/rooms/", token=tok)
general = [r for r in rooms if r["name"] == "General"]
print(len(general))
async def ws():
    async with websockets.connect(url) as c:
        hello = json.loads(await asyncio.wait_for(c.recv(), 10))
        assert hello["type"] == "connection_established", hello
        assert hello["user"]["username"] == "demo", hello
        await c.send(json.dumps({"type": "chat_message", "content": "hi from quickstart"}))
        while True:
            f = json.loads(await asyncio.wait_for(c.recv(), 10))
            if f["type"] == "chat_message":
                assert f["message"]["content"] == "hi from quickstart", f
                return
asyncio.run(ws())
PYEOF
}

up a "$ha" "$wa"
n=$(check a "$ha") || fail "stack a: demo login, room list or WebSocket"
[ "$n" = 1 ] || fail "stack a: $n rooms named General"
echo "ok: stack a up; demo login, the room General and the printed WebSocket command work"

up a "$ha" "$wa"
grep -q "already running" "$tmp/up-a.out" || fail "second up did not reuse the running stack"
n=$(check a "$ha") || fail "stack a after a second up"
[ "$n" = 1 ] || fail "second up duplicated the demo room ($n)"
echo "ok: a second up reuses the stack and adds no demo data"

up b "$hb" "$wb"
check b "$hb" >/dev/null || fail "stack b"
bash "$qs" status --data "$tmp/a" >/dev/null || fail "status of stack a"
echo "ok: a second stack runs beside the first"

pids_a=$(cat "$tmp/a"/run/*.pid)
bash "$qs" down --data "$tmp/a" >/dev/null || fail "down a"
for p in $pids_a; do
	kill -0 "$p" 2>/dev/null && fail "process $p of stack a still runs after down"
done
check b "$hb" >/dev/null || fail "stack b broke when stack a went down"
if bash "$qs" status --data "$tmp/a" >/dev/null 2>&1; then fail "status says stack a runs after down"; fi
echo "ok: down stops its own stack only"

up a "$ha" "$wa"
n=$(check a "$ha") || fail "stack a restarted on its old data"
[ "$n" = 1 ] || fail "restart duplicated the demo room ($n)"
echo "ok: up after down reuses the data"
