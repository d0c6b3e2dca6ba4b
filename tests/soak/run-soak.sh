#!/bin/bash
# `make soak`: a long mixed load against a private stack, with the servers'
# RSS, open fds, DB connections and the events follower's lag sampled every
# 10 s into a CSV and a plot. A leak shows as a slope. Not part of make check.
#
# The stack (loopback only, free ports): MariaDB from tests/harness, chat-relay,
# lighttpd spawning chat-api from deploy/lighttpd/chat.conf.in. The load, all
# bounded by SOAK_SECONDS:
#   churn   repeated short `chat-bench connect` runs (connect, hold 1 s, close)
#   fanout  `chat-bench fanout` rounds; every round must lose, duplicate and
#           reorder nothing
#   typing  WebSocket clients sending typing true/false twice a second
#   http    GET a page of messages, GET the room list, POST a message
#
# Environment: top_srcdir, top_builddir (set by make);
#   SOAK_SECONDS   load duration (default 1800; 180 with SOAK_VALGRIND)
#   SOAK_VALGRIND  1: chat-relay and chat-api under valgrind memcheck, a
#                  lighter load, and fail on any error or definite leak
#   SOAK_OUT       where soak.csv and soak.png go (default: docs/ of the
#                  source tree; the build tree's tests/soak/ with valgrind)
#   SOAK_KEEP=1    keep the work directory
# The summary (JSON), the relay's log and valgrind's logs go to the build
# tree's tests/soak/. SIGUSR1 or touching <work>/stop (the path is in
# tests/soak/soak.workdir) ends the load early and still writes the results.
set -eu

: "${top_builddir:?}" "${top_srcdir:?}"
for p in relay/chat-relay api/chat-api schema/chatctl tests/bench/chat-bench; do
	[ -x "$top_builddir/$p" ] || { echo "run-soak: $p is not built" >&2; exit 1; }
done
LIGHTTPD=$(command -v lighttpd || ls /usr/sbin/lighttpd 2>/dev/null || true)
[ -n "$LIGHTTPD" ] || { echo "run-soak: lighttpd not found (apt-get install lighttpd)" >&2; exit 1; }
VG=${SOAK_VALGRIND:-}
SECS=${SOAK_SECONDS:-}
[ -n "$SECS" ] || { if [ -n "$VG" ]; then SECS=180; else SECS=1800; fi; }
if [ -n "$VG" ]; then
	command -v valgrind >/dev/null || { echo "run-soak: valgrind not found (apt-get install valgrind)" >&2; exit 1; }
	OUT=${SOAK_OUT:-$top_builddir/tests/soak}
else
	OUT=${SOAK_OUT:-$top_srcdir/docs}
fi
LOGS="$top_builddir/tests/soak"
mkdir -p "$OUT" "$LOGS"
BENCH="$top_builddir/tests/bench/chat-bench"
SOAKPY="$top_srcdir/tests/soak/soak.py"
PY=${PYTHON3:-python3}
python3 -c 'import websockets' 2>/dev/null || PY=/usr/bin/python3

CHAT_TEST_DB_OPTS="--max-connections=1000"
export CHAT_TEST_DB_OPTS
. "$top_srcdir/tests/harness/mariadb.sh"
. "$top_srcdir/tests/bench/bench-lib.sh"

mkdir -p "$top_builddir/tests/tmp"
work=$(mktemp -d "$top_builddir/tests/tmp/soak.XXXXXX")
mkdir -p "$work/notify"
CHAT_NOTIFY_DIR="$work/notify"
LIGHTTPD_PID= RELAY_PID= LOAD_PIDS=
# valgrind needs time to write its leak report after SIGTERM
stop_wait() { # PID SECONDS
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq 1 $(( $2 * 10 ))); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
cleanup() {
	for p in $LOAD_PIDS; do stop_wait "$p" 10; done
	stop_wait "$LIGHTTPD_PID" 60
	stop_wait "$RELAY_PID" 60
	chat_test_db_stop
	[ -n "${SOAK_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '=== %s %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# Load levels: the valgrind run is some 20-50 times slower per operation.
if [ -n "$VG" ]; then
	CHURN_N=40 CHURN_RATE=100 FAN_ROOMS=4 FAN_CLIENTS=5 FAN_SENDERS=1 FAN_RATE=1 ROUND=30
	TYPERS=2 HTTP_RATE=4 SETTLE=120
else
	CHURN_N=200 CHURN_RATE=1000 FAN_ROOMS=10 FAN_CLIENTS=10 FAN_SENDERS=2 FAN_RATE=2 ROUND=60
	TYPERS=4 HTTP_RATE=20 SETTLE=60
fi

say "starting MariaDB"
chat_test_db_start
trap cleanup EXIT  # the harness set its own; ours stops the database too
bench_relay_env
CHAT_LOG_LEVEL=warning CHAT_RELAY_MAX_CONNECTIONS=5000
export CHAT_LOG_LEVEL CHAT_RELAY_MAX_CONNECTIONS

say "users, rooms, tokens"
# tokens must outlive the run (the default access lifetime is 15 minutes)
CHAT_AUTH_ACCESS_TOKEN_LIFETIME=$((SECS + 3600))
export CHAT_AUTH_ACCESS_TOKEN_LIFETIME
bench_users soak 40 "$work/tokens"
bench_rooms soakroom 20 soak1 "$work/rooms"
head -n "$FAN_ROOMS" "$work/rooms" >"$work/fan-rooms"
tail -n 5 "$work/rooms" >"$work/side-rooms"

VGOPTS="--leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --error-exitcode=99 --num-callers=30"
say "starting chat-relay${VG:+ under valgrind}"
RELAY_PORT=$(bench_free_port)
if [ -n "$VG" ]; then
	CHAT_RELAY_PORT=$RELAY_PORT valgrind $VGOPTS --log-file="$work/valgrind-relay.log" \
		"$top_builddir/relay/chat-relay" >"$work/relay.log" 2>&1 &
else
	CHAT_RELAY_PORT=$RELAY_PORT nice -n 2 "$top_builddir/relay/chat-relay" >"$work/relay.log" 2>&1 &
fi
RELAY_PID=$!
# ready when /healthz answers 200 (the database was reached)
up=
for _ in $(seq 1 600); do
	curl -fs -o /dev/null "http://127.0.0.1:$RELAY_PORT/healthz" && { up=1; break; }
	kill -0 "$RELAY_PID" 2>/dev/null || break
	sleep 0.2
done
[ -n "$up" ] || { echo "run-soak: chat-relay did not come up" >&2; tail -n 20 "$work/relay.log" >&2; exit 1; }

say "starting lighttpd + chat-api${VG:+ under valgrind}"
HTTP_PORT=$(bench_free_port)
cat >"$work/chat.conf" <<EOC
[database]
socket = $CHAT_DATABASE_SOCKET
user = root
name = chat_test
[api]
threads = 4
[notify]
dir = $CHAT_NOTIFY_DIR
[log]
level = warning
EOC
CHAT_API="$top_builddir/api/chat-api"
# lighttpd splits bin-path on blanks (no shell): valgrind's options are
# single words, so the command line can be given as it is.
[ -n "$VG" ] && CHAT_API="$(command -v valgrind) $VGOPTS --log-file=$work/valgrind-api.%p.log $CHAT_API"
bench_start_lighttpd "$work" "$HTTP_PORT" "$CHAT_API" "$RELAY_PORT" 1024 600 ||
	{ echo "run-soak: the API did not answer through lighttpd" >&2; tail -n 20 "$work/lighttpd.log" >&2; exit 1; }
API_PIDS0=$(cat "/proc/$LIGHTTPD_PID/task/$LIGHTTPD_PID/children")

T0=$(date +%s)
END=$((T0 + SECS))
say "load for $SECS s (relay $RELAY_PORT, http $HTTP_PORT); sampling every 10 s"
"$PY" "$SOAKPY" sample --csv "$work/soak.csv" --seconds "$SECS" --interval 10 \
	--relay-pid "$RELAY_PID" --lighttpd-pid "$LIGHTTPD_PID" \
	--metrics "http://127.0.0.1:$RELAY_PORT/metrics" --db-socket "$CHAT_DATABASE_SOCKET" \
	--stop-file "$work/stop" 2>"$work/sample.err" &
SAMPLE_PID=$!
LOAD_PIDS="$SAMPLE_PID"

# (a) connection churn: chat-bench connect runs until the end
(
	while [ "$(date +%s)" -lt $((END - 3)) ] && [ ! -e "$work/stop" ]; do
		timeout $((SETTLE + 30)) nice -n 5 "$BENCH" connect --url "ws://127.0.0.1:$RELAY_PORT" \
			--tokens "$work/tokens" --rooms-file "$work/rooms" --connections $CHURN_N \
			--duration 1 --connect-rate $CHURN_RATE --source-addrs 127.0.0.1-127.0.0.20 \
			--settle-timeout $SETTLE --quiet >"$work/churn.one" 2>&1 || true
		grep '^{' "$work/churn.one" | tail -n 1 >>"$work/churn.jsonl" || true
	done
) &
LOAD_PIDS="$LOAD_PIDS $!"

# (b) message fan-out in rounds; each round's JSON is kept and judged
(
	while [ "$(date +%s)" -lt $((END - ROUND - 10)) ] && [ ! -e "$work/stop" ]; do
		timeout $((ROUND + SETTLE + 60)) nice -n 5 "$BENCH" fanout --url "ws://127.0.0.1:$RELAY_PORT" \
			--tokens "$work/tokens" --rooms-file "$work/fan-rooms" --clients $FAN_CLIENTS \
			--senders $FAN_SENDERS --rate $FAN_RATE --duration $ROUND --drain 5 \
			--connect-rate 200 --settle-timeout $SETTLE --quiet >"$work/fanout.one" 2>&1 || true
		if grep -q '^{' "$work/fanout.one"; then
			grep '^{' "$work/fanout.one" | tail -n 1 >>"$work/fanout.jsonl"
		else
			echo '{"ok": false, "error": "no result"}' >>"$work/fanout.jsonl"
			tail -n 5 "$work/fanout.one" >&2
		fi
	done
) &
LOAD_PIDS="$LOAD_PIDS $!"

# (c) typing, (d) HTTP reads and writes
nice -n 5 "$PY" "$SOAKPY" typing --url "ws://127.0.0.1:$RELAY_PORT" --tokens "$work/tokens" \
	--rooms "$work/side-rooms" --seconds "$SECS" --clients $TYPERS --out "$work/typing.json" \
	>"$work/typing.log" 2>&1 &
LOAD_PIDS="$LOAD_PIDS $!"
nice -n 5 "$PY" "$SOAKPY" http --base "http://127.0.0.1:$HTTP_PORT" --tokens "$work/tokens" \
	--rooms "$work/side-rooms" --seconds "$SECS" --rate $HTTP_RATE --out "$work/http.json" \
	>"$work/http.log" 2>&1 &
LOAD_PIDS="$LOAD_PIDS $!"

# SIGUSR1 (or touching $work/stop) ends the load early, cleanly
trap 'touch "$work/stop"' USR1
echo "$work" >"$LOGS/soak.workdir"
died=
while :; do
	alive=
	for p in $LOAD_PIDS; do kill -0 "$p" 2>/dev/null && alive=1; done
	[ -n "$alive" ] || break
	if ! kill -0 "$RELAY_PID" 2>/dev/null; then died="chat-relay"; touch "$work/stop"; fi
	if ! kill -0 "$LIGHTTPD_PID" 2>/dev/null; then died="lighttpd"; touch "$work/stop"; fi
	# the typing and HTTP loops stop on their own clock; tell them on early stop
	if [ -e "$work/stop" ]; then
		for p in $LOAD_PIDS; do [ "$p" = "$SAMPLE_PID" ] || kill "$p" 2>/dev/null || true; done
	fi
	sleep 2
done
for p in $LOAD_PIDS; do wait "$p" 2>/dev/null || true; done
LOAD_PIDS=
T1=$(date +%s)
say "load done after $((T1 - T0)) s"

API_PIDS1=$(cat "/proc/$LIGHTTPD_PID/task/$LIGHTTPD_PID/children" 2>/dev/null || true)
[ "$API_PIDS0" = "$API_PIDS1" ] || died="${died:+$died, }chat-api (pids $API_PIDS0 -> ${API_PIDS1:-none})"
kill -0 "$RELAY_PID" 2>/dev/null || died="${died:+$died, }chat-relay"

# stop the servers now: under valgrind this is when the leak reports come
stop_wait "$LIGHTTPD_PID" 120; LIGHTTPD_PID=
for p in $API_PIDS0; do
	for _ in $(seq 1 600); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
done
stop_wait "$RELAY_PID" 120
RELAY_PID=

cp "$work/soak.csv" "$OUT/soak.csv"
fail=0
"$PY" "$SOAKPY" summary --csv "$work/soak.csv" --rounds "$work/fanout.jsonl" \
	--churn "$work/churn.jsonl" --typing "$work/typing.json" --http "$work/http.json" \
	--out "$LOGS/soak-summary.json" || fail=1
[ -z "$died" ] || { echo "FAIL: died during the soak: $died"; fail=1; }
if grep -E 'AddressSanitizer|runtime error:|LeakSanitizer' "$work/relay.log" "$work/lighttpd.log" >/dev/null 2>&1; then
	echo "FAIL: sanitizer report in the servers' logs"; fail=1
fi

if [ -n "$VG" ]; then
	for f in "$work"/valgrind-*.log; do
		[ -e "$f" ] || { echo "FAIL: no valgrind log"; fail=1; continue; }
		n=$(basename "$f")
		errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$f" | tail -n 1)
		def=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$f" | tail -n 1)
		echo "valgrind $n: errors=${errs:-?} definitely_lost_bytes=${def:-0}"
		# no heap summary: the process never exited by itself (killed)
		grep -q 'HEAP SUMMARY' "$f" || { echo "FAIL: $n has no leak report (did not exit cleanly)"; fail=1; }
		cp "$f" "$LOGS/$n"
		if [ "${errs:-x}" != 0 ] || [ "${def:-0}" != 0 ]; then
			echo "FAIL: valgrind found problems in $n:"; grep -A25 -m3 'definitely lost in\|Invalid\|uninitialised' "$f" | head -n 80
			fail=1
		fi
	done
fi

if command -v gnuplot >/dev/null; then
	gnuplot -e "csv='$OUT/soak.csv'; png='$OUT/soak.png'" "$top_srcdir/tests/soak/soak.gp" &&
		say "plot: $OUT/soak.png"
else
	echo "gnuplot not found (apt-get install gnuplot-nox): no plot"
fi
cp "$work/relay.log" "$LOGS/soak-relay.log" 2>/dev/null || true
rm -f "$LOGS/soak.workdir"
[ "$fail" = 0 ] && say "soak PASSED ($((T1 - T0)) s of load)" || say "soak FAILED"
exit $fail
