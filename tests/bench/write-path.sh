#!/bin/sh
# write-path.sh: issue 15's two durable-write cases of run-bench.sh on their
# own, against one fresh database each run:
#   durable-closed-loop  chat-bench fanout, 20 rooms x 10 clients, 2 senders
#                        per room, window 8, 15 s (then, with HALF=1, the
#                        same 40 senders at half the rate reached)
#   http-post            wrk -t2 -c32 -d10s POST through lighttpd + chat-api
# with the CPU seconds mariadbd, the relay and chat-api used during each.
#
# Usage: tests/bench/write-path.sh BUILD_DIR [SCHEMA_DIR]
# BUILD_DIR holds relay/chat-relay, api/chat-api, schema/chatctl and
# tests/bench/chat-bench (a build tree, or a copy of its binaries, so that
# old and new builds can be run one after the other); SCHEMA_DIR the
# migrations to apply (default: this tree's schema/). Environment: SEED
# (messages seeded before the HTTP case, default 1000000), DUR (closed-loop
# seconds, default 15), ONLY (loop or http), HALF=1, RELAY_ENV (extra
# VAR=value words for the relay), API_THREADS (default 16), PERF and
# PERF_RELAY (perf.data files: 8 s of perf record -g during the loop),
# SQLPROF=1 (the server's time per statement shape: a slow log of every
# statement, summed by slowlog-summary.py; it slows the server down),
# EXTRA_DB_OPTS (more mariadbd options).
# Run it under the machine's benchmark lock when measuring.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=$(cd "$here/../.." && pwd)
top_builddir=$(cd "$1" && pwd)
schema=${2:-$top_srcdir/schema}
export top_srcdir top_builddir
SEED=${SEED:-1000000} DUR=${DUR:-15} ONLY=${ONLY:-} API_THREADS=${API_THREADS:-16}

[ -n "${SQLPROF:-}" ] && EXTRA_DB_OPTS="${EXTRA_DB_OPTS:-} --slow-query-log=1 --long-query-time=0 \
--slow-query-log-file=slow.log"
CHAT_TEST_DB_OPTS="--innodb-flush-log-at-trx-commit=1 --sync-binlog=0 --innodb-buffer-pool-size=1G \
--innodb-log-file-size=256M --max-connections=1000 ${EXTRA_DB_OPTS:-}"
CHAT_TEST_NO_SCHEMA=1
export CHAT_TEST_DB_OPTS CHAT_TEST_NO_SCHEMA
. "$top_srcdir/tests/harness/mariadb.sh"
. "$top_srcdir/tests/bench/bench-lib.sh"

mkdir -p "$top_builddir/tests/tmp"
work=$(mktemp -d "$top_builddir/tests/tmp/wpath.XXXXXX")
mkdir -p "$work/notify"
CHAT_NOTIFY_DIR="$work/notify"
LIGHTTPD_PID=
cleanup() {
	bench_stop "$LIGHTTPD_PID"
	bench_stop_all
	chat_test_db_stop
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# CPU seconds (user + system) of a process and its threads.
cpu() { awk '{ printf "%.2f\n", ($14 + $15) / 100 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
calc() { awk "BEGIN { printf \"%.2f\\n\", $1 }"; } # no bc on a bare machine

chat_test_db_start
"$top_builddir/schema/chatctl" migrate --schema-dir "$schema" >"$work/migrate.log" 2>&1
DBPID=$CHAT_TEST_DB_PID
bench_relay_env
for v in ${RELAY_ENV:-}; do export "${v?}"; done
bench_users bench 50 "$work/tokens"
bench_rooms room 100 bench1 "$work/rooms"
BENCH="$top_builddir/tests/bench/chat-bench"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$ONLY" != http ]; then
	bench_start_relay "$work/relay.log"
	d0=$(cpu "$DBPID") r0=$(cpu "$RELAY_PID")
	if [ -n "${PERF:-}" ]; then
		# PERF=FILE: perf record -g of mariadbd (and PERF_RELAY=FILE of the
		# relay) for 8 s in the middle of the run
		(sleep 4; perf record -q -g -o "$PERF" -p "$DBPID" -- sleep 8 >/dev/null 2>&1) &
		perf_pids=$!
		if [ -n "${PERF_RELAY:-}" ]; then
			(sleep 4; perf record -q -g -o "$PERF_RELAY" -p "$RELAY_PID" -- sleep 8 >/dev/null 2>&1) &
			perf_pids="$perf_pids $!"
		fi
	fi
	"$BENCH" fanout --url "ws://127.0.0.1:$RELAY_PORT" --tokens "$work/tokens" --rooms-file "$work/rooms" \
		--rooms 20 --clients 10 --senders 2 --window 8 --duration "$DUR" --drain 10 >"$work/loop.out" 2>&1 || true
	d1=$(cpu "$DBPID") r1=$(cpu "$RELAY_PID")
	for p in ${perf_pids:-}; do wait "$p" || true; done
	grep -v '^{' "$work/loop.out" | tail -n 4
	j=$(grep '^{' "$work/loop.out" | tail -n 1)
	echo "$j" >"$work/loop.json"
	mps=$(bench_json "$work/loop.json" "int(j['messages_per_s'])")
	echo "closed-loop: $mps msg/s ok=$(bench_json "$work/loop.json" "j['ok']") \
lost=$(bench_json "$work/loop.json" "j.get('lost')") dup=$(bench_json "$work/loop.json" "j.get('duplicated')") \
ooo=$(bench_json "$work/loop.json" "j.get('out_of_order')") ack_p50/p99=$(bench_json "$work/loop.json" "j['ack_ms']['p50']")/$(bench_json "$work/loop.json" "j['ack_ms']['p99']") ms; \
cpu s mariadbd $(calc "$d1 - $d0") relay $(calc "$r1 - $r0")"
	curl -s "http://127.0.0.1:$RELAY_PORT/metrics" 2>/dev/null | grep -E '^chat_relay_db_batch_size_(sum|count)' || true
	[ -n "${SQLPROF:-}" ] && python3 "$here/slowlog-summary.py" "$CHAT_TEST_DB_DIR/data/slow.log"
	if [ -n "${HALF:-}" ] && [ "$mps" -gt 0 ]; then
		half=$(python3 -c "print(round($mps / 2 / 40, 3))")
		"$BENCH" fanout --url "ws://127.0.0.1:$RELAY_PORT" --tokens "$work/tokens" --rooms-file "$work/rooms" \
			--rooms 20 --clients 10 --senders 2 --rate "$half" --duration "$DUR" --drain 10 >"$work/half.out" 2>&1 || true
		grep '^{' "$work/half.out" | tail -n 1 >"$work/half.json"
		echo "half rate ($half msg/s each): $(bench_json "$work/half.json" "int(j['messages_per_s'])") msg/s \
ok=$(bench_json "$work/half.json" "j['ok']") ack_p50/p99=$(bench_json "$work/half.json" "j['ack_ms']['p50']")/$(bench_json "$work/half.json" "j['ack_ms']['p99']") ms"
	fi
	bench_stop "$RELAY_PID"
fi

if [ "$ONLY" != loop ]; then
	LIGHTTPD=$(command -v lighttpd || ls /usr/sbin/lighttpd)
	sh "$top_srcdir/tests/bench/seed.sh" bench1 bench2 1000 "$SEED" >"$work/seed.out" 2>&1
	HTTP_PORT=$(bench_free_port)
	cat >"$work/chat.conf" <<EOF
[database]
socket = $CHAT_DATABASE_SOCKET
user = root
name = chat_test
[api]
threads = $API_THREADS
[notify]
dir = $CHAT_NOTIFY_DIR
[log]
level = warning
EOF
	bench_start_lighttpd "$work" "$HTTP_PORT" "$top_builddir/api/chat-api" 1 4096 100
	tok=$(head -n 1 "$work/tokens")
	seed_room=$(chat_test_sql "SELECT MIN(id) FROM rooms WHERE name LIKE 'seed%'")
	cat >"$work/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"content":"wrk says hello","message_type":"text"}'
wrk.headers["Content-Type"] = "application/json"
EOF
	apis=$(pgrep -d' ' -x chat-api -P "$LIGHTTPD_PID" || true)
	d0=$(cpu "$DBPID") a0=0
	for p in $apis; do a0=$(calc "$a0 + $(cpu "$p")"); done
	wrk -t2 -c32 -d10s --latency -s "$work/post.lua" -H "Authorization: Bearer $tok" \
		"http://127.0.0.1:$HTTP_PORT/api/chat/rooms/$seed_room/messages/" >"$work/post.out" 2>&1 || true
	d1=$(cpu "$DBPID") a1=0
	for p in $apis; do a1=$(calc "$a1 + $(cpu "$p")"); done
	n=$(chat_test_sql "SELECT COUNT(*) FROM messages WHERE room_id = $seed_room AND content = 'wrk says hello'")
	echo "http-post: $(sed -n 's/^Requests\/sec: *//p' "$work/post.out") req/s, \
p50 $(awk '$1 == "50%" { print $2 }' "$work/post.out") p99 $(awk '$1 == "99%" { print $2 }' "$work/post.out"), \
non-2xx: $(sed -n 's/.*Non-2xx or 3xx responses: *//p' "$work/post.out" | grep . || echo 0), stored $n; \
cpu s mariadbd $(calc "$d1 - $d0") chat-api $(calc "$a1 - $a0")"
	grep -E 'requests in' "$work/post.out"
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
