# Smoke test of the benchmark tools: a tiny load against the real relay
# (over a private MariaDB) and against the baseline server, asserting that
# nothing is lost, duplicated or out of order, and that every connection
# gets in. Takes about 20 seconds; each tool run is bounded (timeout).
set -eu

: "${top_builddir:?}" "${top_srcdir:?}"
if [ ! -x "$top_builddir/relay/chat-relay" ]; then
	echo "SKIP: relay/chat-relay is not built"
	exit 77
fi
BENCH="$top_builddir/tests/bench/chat-bench"

. "$top_srcdir/tests/harness/mariadb.sh"
. "$top_srcdir/tests/bench/bench-lib.sh"

bench_setup bench-smoke

bench_users smoke 4 "$work/tokens"
bench_rooms smokeroom 2 smoke1 "$work/rooms"
bench_start_relay "$work/relay.log"

fail=0
check() { # name file expr
	v=$(bench_json "$2" "$3")
	if [ "$v" != True ]; then
		echo "FAIL: $1: $3"
		fail=1
	else
		echo "ok: $1"
	fi
}

timeout 120 "$BENCH" connect --url "ws://127.0.0.1:$RELAY_PORT" --tokens "$work/tokens" \
	--rooms-file "$work/rooms" --connections 50 --duration 3 --connect-rate 200 \
	--source-addrs 127.0.0.1-127.0.0.5 --pid "$RELAY_PID" --settle-timeout 20 >"$work/connect.out" 2>&1 || true
cat "$work/connect.out"
check "relay connect: 50 of 50" "$work/connect.out" 'j["ready"] == 50 and j["failed"] == 0 and j["dropped"] == 0'
check "relay connect: server memory sampled" "$work/connect.out" 'j["rss_after_kb"] > 0'

timeout 120 "$BENCH" fanout --url "ws://127.0.0.1:$RELAY_PORT" --tokens "$work/tokens" \
	--rooms-file "$work/rooms" --clients 5 --senders 2 --rate 10 --duration 3 --drain 10 \
	--settle-timeout 20 >"$work/fanout.out" 2>&1 || true
cat "$work/fanout.out"
check "relay fanout: messages stored and delivered" "$work/fanout.out" 'j["stored"] >= 100 and j["delivered"] == j["expected"]'
check "relay fanout: no loss, duplicate or reordering" "$work/fanout.out" \
	'j["lost"] == 0 and j["duplicated"] == 0 and j["out_of_order"] == 0 and j["ok"]'

bench_start_baseline "$work/baseline.log"
timeout 120 "$BENCH" fanout --url "ws://127.0.0.1:$BASELINE_PORT" --tokens "$work/tokens" \
	--room-ids 1,2 --clients 5 --senders 2 --window 4 --duration 2 --drain 5 >"$work/baseline.out" 2>&1 || true
cat "$work/baseline.out"
check "baseline fanout: no loss, duplicate or reordering" "$work/baseline.out" \
	'j["ok"] and j["stored"] > 0 and j["delivered"] == j["expected"]'

# Both event loops (libev is the default above) stop on SIGTERM.
kill "$BASELINE_PID"
for _ in $(seq 1 50); do kill -0 "$BASELINE_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$BASELINE_PID" 2>/dev/null; then
	echo "FAIL: baseline-server ($(sed -n 's/.*(\(.*\))$/\1/p' "$work/baseline.log")) ignored SIGTERM for 5 s"
	fail=1
else
	echo "ok: baseline-server stopped on SIGTERM"
fi
timeout 120 "$BENCH" connect --event-lib poll --url "ws://127.0.0.1:$RELAY_PORT" --tokens "$work/tokens" \
	--rooms-file "$work/rooms" --connections 10 --duration 1 --connect-rate 200 \
	--settle-timeout 20 >"$work/connect-poll.out" 2>&1 || true
cat "$work/connect-poll.out"
check "relay connect, lws poll loop: 10 of 10" "$work/connect-poll.out" 'j["ready"] == 10 and j["failed"] == 0'

exit $fail
