#!/bin/sh
# Fan-out in one large room: 1 room x CLIENTS clients, one sender whose
# window of WINDOW unacknowledged messages paces it (issue 15's fan-out
# case: 1,000 clients, window 32), against a private MariaDB with durable
# commits and one relay. Prints chat-bench's summary and JSON line.
#
#   top_srcdir=.. top_builddir=. sh ../tests/bench/room-fanout.sh \
#       [CLIENTS] [WINDOW] [SECONDS] [RELAY] [CHAT_BENCH]
#
# RELAY and CHAT_BENCH (binaries, default the build's) let two builds be
# compared on the same machine. BENCH_PERF=DIR records `perf record -g` of
# the relay and of chat-bench's worker(s) during the run into DIR.
# BENCH_PROCS sets chat-bench's --procs (default 1).
set -eu
: "${top_builddir:?}" "${top_srcdir:?}"
CLIENTS=${1:-1000}
WINDOW=${2:-32}
SECS=${3:-10}
RELAY_BIN=${4:-$top_builddir/relay/chat-relay}
BENCH_BIN=${5:-$top_builddir/tests/bench/chat-bench}
CHAT_TEST_DB_OPTS="--innodb-flush-log-at-trx-commit=1 --sync-binlog=0 --innodb-buffer-pool-size=256M --innodb-log-file-size=256M \
--max-connections=200"
export CHAT_TEST_DB_OPTS
. "$top_srcdir/tests/harness/mariadb.sh"
. "$top_srcdir/tests/bench/bench-lib.sh"
mkdir -p "$top_builddir/tests/tmp"
work=$(mktemp -d "$top_builddir/tests/tmp/room-fanout.XXXXXX")
BENCH_PIDS=
cleanup() {
	bench_stop_all
	chat_test_db_stop
	rm -rf "$work"
}
chat_test_db_start
# after the start: in dash, the harness cannot see an EXIT trap set before
# it (a subshell's "trap" prints none) and would replace it with its own,
# leaving the relay running
trap cleanup EXIT
trap 'exit 130' INT TERM
bench_relay_env
CHAT_NOTIFY_DIR="$work"
# a few users are enough: connections of one user are separate clients
bench_users fan 20 "$work/tokens"
bench_rooms fanroom 1 fan1 "$work/room"
RELAY_PORT=$(bench_free_port)
CHAT_RELAY_PORT=$RELAY_PORT "$RELAY_BIN" >"$work/relay.log" 2>&1 &
RELAY_PID=$!
BENCH_PIDS="$RELAY_PID"
bench_wait_line "$work/relay.log" "listening on" 30 "$RELAY_PID"
if [ -n "${BENCH_PERF:-}" ]; then
	mkdir -p "$BENCH_PERF"
	# once every client is connected: the run itself, not the connects
	(
		sleep "${BENCH_PERF_DELAY:-4}"
		perf record -g -o "$BENCH_PERF/relay.data" -p "$RELAY_PID" -- sleep "$SECS" \
			>"$BENCH_PERF/relay.log" 2>&1 &
		w=$(pgrep -f "chat-bench fanout" | sort -n | tail -n +2 | paste -sd, -)
		[ -n "$w" ] && perf record -g -o "$BENCH_PERF/bench.data" -p "$w" -- sleep "$SECS" \
			>"$BENCH_PERF/bench.log" 2>&1
		wait
	) &
	PERF_PID=$!
fi
"$BENCH_BIN" fanout --url "ws://127.0.0.1:$RELAY_PORT" --tokens "$work/tokens" \
	--rooms-file "$work/room" --clients "$CLIENTS" --senders 1 --window "$WINDOW" \
	--duration "$SECS" --drain 10 --connect-rate 2000 --settle-timeout 60 \
	--procs "${BENCH_PROCS:-1}" --pid "$RELAY_PID" || true
[ -z "${PERF_PID:-}" ] || wait "$PERF_PID"
