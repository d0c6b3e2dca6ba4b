#!/bin/sh
# Relay memory per idle connection in ROOMS rooms (one large room by
# default), each connection a different user (what could make a room's
# cost grow with its size: the "online" list and each session's presence
# snapshot). Starts a private MariaDB and one relay, creates N users by SQL
# and signs their tokens, holds N connections with chat-bench (connection i
# in room i mod ROOMS) and prints chat-bench's JSON line
# (bytes_per_connection is the relay's RSS growth per connection).
#
#   top_srcdir=.. top_builddir=. sh ../tests/bench/room-idle.sh [N] [ROOMS] [RELAY]
#
# N defaults to 3000, ROOMS to 1; RELAY (a chat-relay binary, default the
# build's) lets two builds be compared on the same machine. HOLD (seconds,
# default 5) is how long the connections are held before RSS is read: a
# large room needs longer for its N^2/2 user_join frames to be delivered.
set -eu
: "${top_builddir:?}" "${top_srcdir:?}"
N=${1:-3000}
ROOMS=${2:-1}
RELAY_BIN=${3:-$top_builddir/relay/chat-relay}
. "$top_srcdir/tests/harness/mariadb.sh"
. "$top_srcdir/tests/bench/bench-lib.sh"
mkdir -p "$top_builddir/tests/tmp"
work=$(mktemp -d "$top_builddir/tests/tmp/room-idle.XXXXXX")
BENCH_PIDS=
cleanup() {
	bench_stop_all
	chat_test_db_stop
	rm -rf "$work"
}
CHAT_TEST_DB_OPTS="--max-connections=200"
export CHAT_TEST_DB_OPTS
chat_test_db_start
# after the start: in dash, the harness cannot see an EXIT trap set before
# it (a subshell's "trap" prints none) and would replace it with its own,
# leaving the relay running
trap cleanup EXIT
trap 'exit 130' INT TERM
bench_relay_env
CHAT_NOTIFY_DIR="$work"
# every newcomer's user_join goes to everyone already there (N^2/2 frames
# while the room fills): room for that backlog, it is not what is measured
CHAT_RELAY_SEND_QUEUE_MAX_FRAMES=1000000
CHAT_RELAY_SEND_QUEUE_MAX_BYTES=67108864
export CHAT_RELAY_SEND_QUEUE_MAX_FRAMES CHAT_RELAY_SEND_QUEUE_MAX_BYTES
chat_test_sql "INSERT INTO users (username) SELECT CONCAT('idle', seq) FROM seq_1_to_$N" >/dev/null
for r in $(seq 1 "$ROOMS"); do
	"$top_builddir/schema/chatctl" create-room "big$r" --owner idle1
done >"$work/room"
chat_test_sql "SELECT id FROM users WHERE username LIKE 'idle%' ORDER BY id" >"$work/ids"
python3 - "$work/ids" >"$work/tokens" <<'PYEOF'
import base64, hashlib, hmac, json, os, sys, time
def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = int(time.time())
key = os.environ["CHAT_AUTH_JWT_SECRET"].encode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
for i, uid in enumerate(open(sys.argv[1]).read().split()):
    body = b64(json.dumps({"token_type": "access", "exp": now + 3600, "iat": now,
                           "jti": "idle%d" % i, "user_id": int(uid)},
                          separators=(",", ":")).encode())
    sig = b64(hmac.new(key, (head + "." + body).encode(), hashlib.sha256).digest())
    print(head + "." + body + "." + sig)
PYEOF
RELAY_PORT=$(bench_free_port)
CHAT_RELAY_PORT=$RELAY_PORT "$RELAY_BIN" >"$work/relay.log" 2>&1 &
RELAY_PID=$!
BENCH_PIDS="$RELAY_PID"
bench_wait_line "$work/relay.log" "listening on" 30 "$RELAY_PID"
"$top_builddir/tests/bench/chat-bench" connect --url "ws://127.0.0.1:$RELAY_PORT" \
	--tokens "$work/tokens" --rooms-file "$work/room" --connections "$N" --duration "${HOLD:-5}" \
	--connect-rate 500 --settle-timeout 120 --pid "$RELAY_PID" --quiet
