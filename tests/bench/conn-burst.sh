#!/bin/sh
# A connect burst: N idle WebSocket connections opened at RATE per second
# across `chat-relay --workers W` (loopback, source addresses 127.0.0.1 to
# 127.0.0.50 for ports), held 5 s. Starts a private MariaDB and the
# relays, creates 50 users and 100 rooms, runs chat-bench connect and
# prints its summary and JSON line, then one line:
#   conn-burst: N at RATE/s, W workers (event loop): ESTABLISHED established,
#   connect p50 X ms p99 Y ms, Z bytes per connection
#
#   top_srcdir=.. top_builddir=. sh ../tests/bench/conn-burst.sh [N] [RATE] [W] [RELAY]
#
# Defaults: 100000 connections at 2000/s over 6 workers. RELAY (a
# chat-relay binary, default the build's) lets two builds be compared.
# CONN_BURST_LOOP sets relay.event_loop; CONN_BURST_PERF=FILE records
# `perf record -g` of one relay worker during the burst into FILE (of the
# whole machine with CONN_BURST_PERF_ALL=1). The CPU time the relays and
# mariadbd used during the run is printed too.
# Each process may hold 20,000 descriptors here (the hard limit): the
# relays and chat-bench raise their soft limit to it, and chat-bench
# runs one process per 16,000 connections at least.
set -eu
: "${top_builddir:?}" "${top_srcdir:?}"
top_builddir=$(cd "$top_builddir" && pwd) top_srcdir=$(cd "$top_srcdir" && pwd)
N=${1:-100000}
RATE=${2:-2000}
W=${3:-6}
RELAY_BIN=${4:-$top_builddir/relay/chat-relay}
. "$top_srcdir/tests/harness/mariadb.sh"
. "$top_srcdir/tests/bench/bench-lib.sh"
mkdir -p "$top_builddir/tests/tmp"
work=$(mktemp -d "$top_builddir/tests/tmp/conn-burst.XXXXXX")
BENCH_PIDS=
PERF_PID=
cleanup() {
	[ -z "$PERF_PID" ] || kill -INT "$PERF_PID" 2>/dev/null || true
	bench_stop_all
	chat_test_db_stop
	rm -rf "$work"
}
CHAT_TEST_DB_OPTS="--innodb-flush-log-at-trx-commit=1 --sync-binlog=0 --max-connections=1000"
export CHAT_TEST_DB_OPTS
chat_test_db_start
# after the start: under dash the harness cannot see an earlier EXIT trap
# and would replace it with its own
trap cleanup EXIT
trap 'exit 130' INT TERM
bench_relay_env
CHAT_NOTIFY_DIR="$work"
[ -z "${CONN_BURST_LOOP:-}" ] || { CHAT_RELAY_EVENT_LOOP=$CONN_BURST_LOOP; export CHAT_RELAY_EVENT_LOOP; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

bench_users bench 50 "$work/tokens" >/dev/null
bench_rooms room 100 bench1 "$work/rooms" >/dev/null

RELAY_PORT=$(bench_free_port)
CHAT_RELAY_PORT=$RELAY_PORT "$RELAY_BIN" --workers "$W" >"$work/relay.log" 2>&1 &
RELAY_PID=$!
BENCH_PIDS="$RELAY_PID"
bench_wait_line "$work/relay.log" "listening on" 30 "$RELAY_PID"
for _ in $(seq 1 100); do
	[ "$(pgrep -P "$RELAY_PID" | wc -l)" -ge "$W" ] && break
	sleep 0.1
done
PIDS=$(pgrep -P "$RELAY_PID" | paste -sd, -)
sleep 1 # every worker listening
LOOP=$(sed -n 's/.*event loop: \(.*\)/\1/p' "$work/relay.log" | head -n 1)

PROCS=$(( (N + 15999) / 16000 ))
[ "$PROCS" -ge "$W" ] || PROCS=$W
if [ -n "${CONN_BURST_PERF:-}" ]; then
	if [ -n "${CONN_BURST_PERF_ALL:-}" ]; then set -- -a; else set -- -p "${PIDS%%,*}"; fi
	perf record -g -o "$CONN_BURST_PERF" "$@" -- sleep $(( N / RATE + 5 )) >"$work/perf.log" 2>&1 &
	PERF_PID=$!
fi
cpu_ticks() { # PID...: utime+stime of each, in clock ticks
	for _p in "$@"; do awk '{print $14 + $15}' "/proc/$_p/stat" 2>/dev/null || echo 0; done | paste -sd' ' -
}
PIDLIST=$(echo "$PIDS" | tr , ' ')
CPU0="$(cpu_ticks $PIDLIST) $(cpu_ticks "$CHAT_TEST_DB_PID")"
T0=$(date +%s.%N)
"$top_builddir/tests/bench/chat-bench" connect --url "ws://127.0.0.1:$RELAY_PORT" \
	--tokens "$work/tokens" --rooms-file "$work/rooms" --connections "$N" --duration 5 \
	--connect-rate "$RATE" --source-addrs 127.0.0.1-127.0.0.50 --procs "$PROCS" \
	--settle-timeout 120 --pid "$PIDS" | tee "$work/bench.out" || true
CPU1="$(cpu_ticks $PIDLIST) $(cpu_ticks "$CHAT_TEST_DB_PID")"
python3 - "$CPU0" "$CPU1" "$T0" "$(date +%s.%N)" "$(getconf CLK_TCK)" <<'EOF'
import sys
a, b = [list(map(int, x.split())) for x in sys.argv[1:3]]
span, hz = float(sys.argv[4]) - float(sys.argv[3]), int(sys.argv[5])
d = [(y - x) / hz for x, y in zip(a, b)]
print("conn-burst: CPU over %.0f s: relays %.1f s (busiest %.1f s), mariadbd %.1f s"
      % (span, sum(d[:-1]), max(d[:-1]), d[-1]))
EOF
# The closes: chat-bench has hung up; time until the relays have removed
# every presence row (bounded: 300 s), and the CPU that took.
T2=$(date +%s.%N)
for _ in $(seq 1 600); do
	[ "$(chat_test_sql "SELECT COUNT(*) FROM presence")" = 0 ] && break
	sleep 0.5
done
CPU2="$(cpu_ticks $PIDLIST) $(cpu_ticks "$CHAT_TEST_DB_PID")"
python3 - "$CPU1" "$CPU2" "$T2" "$(date +%s.%N)" "$(getconf CLK_TCK)" \
	"$(chat_test_sql "SELECT COUNT(*) FROM presence")" <<'EOF'
import sys
a, b = [list(map(int, x.split())) for x in sys.argv[1:3]]
span, hz = float(sys.argv[4]) - float(sys.argv[3]), int(sys.argv[5])
d = [(y - x) / hz for x, y in zip(a, b)]
print("conn-burst: closes: %s presence rows left %.1f s after chat-bench ended; CPU: relays %.1f s, "
      "mariadbd %.1f s" % (sys.argv[6], span, sum(d[:-1]), d[-1]))
EOF
if [ -n "$PERF_PID" ]; then
	wait "$PERF_PID" 2>/dev/null || true
	PERF_PID=
fi
grep '^{' "$work/bench.out" | tail -n 1 >"$work/bench.json" || true
[ -s "$work/bench.json" ] || { echo "conn-burst: chat-bench gave no result" >&2; exit 1; }
python3 - "$work/bench.json" "$N" "$RATE" "$W" "${LOOP:-poll()}" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
c = j.get("connect_ms", {})
print("conn-burst: %s at %s/s, %s workers (%s): %d established, connect p50 %.0f ms p99 %.0f ms, "
      "%.0f bytes per connection" % (sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5],
      j["ready"], c.get("p50", -1), c.get("p99", -1), j.get("bytes_per_connection", -1)))
EOF
