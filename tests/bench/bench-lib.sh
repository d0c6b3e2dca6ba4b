# Helpers shared by tests/bench/smoke.sh, tests/bench/run-bench.sh and
# tests/soak/run-soak.sh (sourced, after tests/harness/mariadb.sh). They start only processes they
# remember by PID and stop only those.

BENCH_PIDS=

# A free TCP port on 127.0.0.1 (the kernel picks it).
bench_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# bench_wait_line FILE REGEX SECONDS PID: wait until FILE has a line
# matching REGEX; fail if PID exits or time runs out.
bench_wait_line() {
	_n=$(( $3 * 10 ))
	while [ "$_n" -gt 0 ]; do
		grep -Eq "$2" "$1" 2>/dev/null && return 0
		kill -0 "$4" 2>/dev/null || { echo "process $4 exited; its output:" >&2; tail -n 30 "$1" >&2; return 1; }
		sleep 0.1
		_n=$((_n - 1))
	done
	echo "timed out waiting for '$2' in $1" >&2
	tail -n 30 "$1" >&2
	return 1
}

# bench_wait_quiet PID SECONDS: wait until process PID used less than a
# tenth of a core over one second (at most SECONDS): after a case that
# closed 100,000 connections MariaDB purges their rows and events for a
# while, and the next case would measure that.
bench_wait_quiet() {
	_cpu() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
	_hz=$(getconf CLK_TCK)
	_a=$(_cpu "$1")
	for _ in $(seq 1 "$2"); do
		sleep 1
		_b=$(_cpu "$1")
		[ $((_b - _a)) -lt $((_hz / 10)) ] && return 0
		_a=$_b
	done
	echo "process $1 still busy after $2 s" >&2
}

# bench_wait_db_quiet SECONDS: wait, at most SECONDS, until InnoDB has
# caught up with the previous case: its purge (history list under 1,000)
# and its page flushing (checkpoint age under 16 MiB; flushing is forced
# meanwhile by innodb_max_dirty_pages_pct = 0, restored after). After the
# 100,000-connection case 97 % of the buffer pool was dirty and the
# checkpoint age 184 MB of the 256 MB log: near the log's limit InnoDB
# flushes furiously, every commit's own disk flush waits behind it, and
# the next fan-out cases ran slow for a minute (1 room x 1,000 at 100
# msg/s: p99 0.7-4.5 s, connects 20x slower) while the same load alone
# held. A CPU check (bench_wait_quiet) does not see it: it is the disk.
bench_wait_db_quiet() {
	_pct=$(chat_test_sql "SELECT @@GLOBAL.innodb_max_dirty_pages_pct" 2>/dev/null || echo 90)
	chat_test_sql "SET GLOBAL innodb_max_dirty_pages_pct = 0" >/dev/null 2>&1 || true
	for _w in $(seq 0 "$1"); do
		_h=$(chat_test_sql "SHOW ENGINE INNODB STATUS" 2>/dev/null |
			sed -n 's/.*History list length \([0-9]*\).*/\1/p' | head -n 1)
		_age=$(chat_test_sql "SHOW GLOBAL STATUS LIKE 'Innodb_checkpoint_age'" 2>/dev/null | cut -f2)
		if [ -n "$_h" ] && [ "$_h" -lt 1000 ] && [ -n "$_age" ] && [ "$_age" -lt 16777216 ]; then
			[ "$_w" = 0 ] || echo "waited $_w s for InnoDB (history list $_h, checkpoint age $_age)" >&2
			chat_test_sql "SET GLOBAL innodb_max_dirty_pages_pct = $_pct" >/dev/null 2>&1 || true
			return 0
		fi
		sleep 1
	done
	echo "InnoDB not caught up after $1 s (history list ${_h:-?}, checkpoint age ${_age:-?})" >&2
	chat_test_sql "SET GLOBAL innodb_max_dirty_pages_pct = $_pct" >/dev/null 2>&1 || true
}

# bench_stop PID: TERM, wait up to 10 s, then KILL; then wait up to 90 s
# for the processes it had started (a relay's --workers), KILL what is
# left. The next case must not share the machine and the database with
# them: six relay workers of 100,000 connections once took 35-45 s to
# close theirs (before closes were paced), while the parent was killed
# after 10 s and the next case began.
bench_stop() {
	[ -n "$1" ] || return 0
	_kids=$(pgrep -P "$1" 2>/dev/null | tr '\n' ' ' || true)
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq 1 100); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	for _k in $_kids; do
		for _ in $(seq 1 900); do
			kill -0 "$_k" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$_k" 2>/dev/null || true
	done
}

bench_stop_all() {
	for _p in $BENCH_PIDS; do
		bench_stop "$_p"
	done
	BENCH_PIDS=
}

# bench_setup NAME: a private MariaDB, a work directory $work under
# tests/tmp with the relays' notify directory in it, both removed at exit
# with every process in BENCH_PIDS, and the relay's environment.
bench_setup() {
	chat_test_db_start
	mkdir -p "$top_builddir/tests/tmp"
	work=$(mktemp -d "$top_builddir/tests/tmp/$1.XXXXXX")
	CHAT_NOTIFY_DIR="$work/notify"
	mkdir -p "$CHAT_NOTIFY_DIR"
	trap bench_cleanup EXIT
	bench_relay_env
}

bench_cleanup() {
	bench_stop_all
	chat_test_db_stop
	rm -rf "$work"
}

# The relay's environment: database from the harness, a fresh secret and
# wake-up directory, loopback only, limits raised for load.
bench_relay_env() {
	CHAT_AUTH_JWT_SECRET=${CHAT_AUTH_JWT_SECRET:-$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')}
	CHAT_NOTIFY_DIR=${CHAT_NOTIFY_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/chat-bench-notify.XXXXXX")}
	CHAT_RELAY_LISTEN=127.0.0.1
	CHAT_RELAY_MAX_CONNECTIONS=${CHAT_RELAY_MAX_CONNECTIONS:-100000}
	CHAT_RELAY_RATE_LIMIT=${CHAT_RELAY_RATE_LIMIT:-100000}
	CHAT_RELAY_RATE_BURST=${CHAT_RELAY_RATE_BURST:-100000}
	# every load client is one address, and few users hold many connections
	CHAT_RELAY_MAX_CONNECTIONS_PER_USER=${CHAT_RELAY_MAX_CONNECTIONS_PER_USER:-0}
	CHAT_RELAY_MAX_CONNECTIONS_PER_ADDRESS=${CHAT_RELAY_MAX_CONNECTIONS_PER_ADDRESS:-0}
	CHAT_RELAY_USER_RATE_LIMIT=${CHAT_RELAY_USER_RATE_LIMIT:-0}
	CHAT_LOG_LEVEL=${CHAT_LOG_LEVEL:-info}
	# the loop for tens of thousands of connections (docs/relay.md)
	CHAT_RELAY_EVENT_LOOP=${CHAT_RELAY_EVENT_LOOP:-libev}
	export CHAT_RELAY_EVENT_LOOP CHAT_AUTH_JWT_SECRET CHAT_NOTIFY_DIR CHAT_RELAY_LISTEN CHAT_RELAY_MAX_CONNECTIONS \
		CHAT_RELAY_RATE_LIMIT CHAT_RELAY_RATE_BURST CHAT_LOG_LEVEL \
		CHAT_RELAY_MAX_CONNECTIONS_PER_USER CHAT_RELAY_MAX_CONNECTIONS_PER_ADDRESS \
		CHAT_RELAY_USER_RATE_LIMIT
}

# bench_start_relay LOG [ARGS...]: start the relay on a free port; sets
# RELAY_PID and RELAY_PORT. Ready when it logs "listening on".
bench_start_relay() {
	_log=$1
	shift
	RELAY_PORT=$(bench_free_port)
	CHAT_RELAY_PORT=$RELAY_PORT "$top_builddir/relay/chat-relay" "$@" >"$_log" 2>&1 &
	RELAY_PID=$!
	BENCH_PIDS="$BENCH_PIDS $RELAY_PID"
	bench_wait_line "$_log" "listening on" 30 "$RELAY_PID"
}

# bench_start_baseline LOG [ARGS...]: sets BASELINE_PID and BASELINE_PORT.
bench_start_baseline() {
	_log=$1
	shift
	"$top_builddir/tests/bench/baseline-server" --port 0 "$@" >"$_log" 2>&1 &
	BASELINE_PID=$!
	BENCH_PIDS="$BENCH_PIDS $BASELINE_PID"
	bench_wait_line "$_log" "listening on" 10 "$BASELINE_PID" || return 1
	BASELINE_PORT=$(sed -n 's/^listening on [^:]*:\([0-9]*\).*/\1/p' "$_log" | head -n 1)
}

# bench_users PREFIX N TOKENS_FILE: create users PREFIX1..N and write one
# token per user to TOKENS_FILE.
bench_users() {
	: >"$3"
	for _i in $(seq 1 "$2"); do
		_uid=$("$top_builddir/schema/chatctl" add-user "$1$_i" --no-password) || return 1
		if ! "$top_builddir/schema/chatctl" mint-token "$1$_i" >>"$3" 2>/dev/null; then
			# a chatctl without mint-token: sign the same HS256 claims here
			bench_mint_hs256 "$_uid" >>"$3" || return 1
		fi
	done
}

# bench_mint_hs256 USER_ID: an HS256 access token for CHAT_AUTH_JWT_SECRET,
# valid for a day, shaped as SimpleJWT issues them.
bench_mint_hs256() {
	python3 - "$1" <<'PYEOF'
import base64, hashlib, hmac, json, os, sys, time, uuid
def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = int(time.time())
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
body = b64(json.dumps({"token_type": "access", "exp": now + 86400, "iat": now,
                       "jti": uuid.uuid4().hex, "user_id": int(sys.argv[1])},
                      separators=(",", ":")).encode())
key = os.environ["CHAT_AUTH_JWT_SECRET"].encode()
sig = b64(hmac.new(key, (head + "." + body).encode(), hashlib.sha256).digest())
print(head + "." + body + "." + sig)
PYEOF
}

# bench_rooms PREFIX N OWNER IDS_FILE: create N public rooms; ids one a line.
bench_rooms() {
	: >"$4"
	for _i in $(seq 1 "$2"); do
		"$top_builddir/schema/chatctl" create-room "$1$_i" --owner "$3" >>"$4" || return 1
	done
}

# bench_json FILE EXPR: evaluate a Python expression over the last JSON line
# of FILE (bound to j), e.g. bench_json out 'j["lost"]'.
bench_json() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
line = [l for l in open(sys.argv[1]) if l.startswith("{")][-1]
j = json.loads(line)
print(eval(sys.argv[2], {"j": j}))
EOF
}

# bench_start_lighttpd DIR PORT CHAT_API RELAY_PORT MAX_CONNECTIONS TRIES:
# lighttpd ($LIGHTTPD) on 127.0.0.1:PORT with the shipped site
# (deploy/lighttpd/chat.conf.in) spawning CHAT_API (a command line) with
# DIR/chat.conf; files in DIR. Sets LIGHTTPD_PID; returns 0 once the API
# answers /api/chat/health/ through it (TRIES checks 0.2 s apart), 1 if not.
# MAX_CONNECTIONS replaces (":=") the site's own server.max-connections: a
# second plain assignment is a lighttpd configuration error.
bench_start_lighttpd() {
	_ld=$1 _lp=$2 _la=$3 _lr=$4 _lm=$5 _lt=$6
	mkdir -p "$_ld/www"
	sh "$top_srcdir/deploy/render" "$top_srcdir/deploy/lighttpd/chat.conf.in" \
		HTTP_LISTEN="127.0.0.1:$_lp" WWW_DIR="$_ld/www" CHAT_API="$_la" \
		CHAT_CONF="$_ld/chat.conf" LIGHTTPD_SOCKET_DIR="$_ld" RELAY_HOST=127.0.0.1 \
		RELAY_PORT="$_lr" >"$_ld/lighttpd-chat.conf"
	cat >"$_ld/lighttpd.conf" <<EOC
server.modules = ( "mod_indexfile", "mod_staticfile" )
server.bind = "127.0.0.1"
server.port = $_lp
server.document-root = "$_ld/www"
server.errorlog = "$_ld/lighttpd.log"
server.upload-dirs = ( "$_ld" )
include "$_ld/lighttpd-chat.conf"
server.max-connections := $_lm
EOC
	"$LIGHTTPD" -D -f "$_ld/lighttpd.conf" >>"$_ld/lighttpd.log" 2>&1 &
	LIGHTTPD_PID=$!
	for _ in $(seq 1 "$_lt"); do
		curl -fs -o /dev/null "http://127.0.0.1:$_lp/api/chat/health/" && return 0
		kill -0 "$LIGHTTPD_PID" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}
