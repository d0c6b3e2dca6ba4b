# SIGTERM to a relay that holds many connections (16,000 idle clients
# that read and answer the close): every client gets its close 1001, the
# relay exits 0 well within the service units' TimeoutStopSec (20 s, after
# which systemd kills it and the clients get no close frame and its
# presence rows stay until another relay reaps them), and no presence row
# is left. Connections are opened by chat-bench (one process per 8,000),
# over loopback; about a minute in all.
set -eu

: "${top_builddir:?}" "${top_srcdir:?}"
if [ ! -x "$top_builddir/relay/chat-relay" ]; then
	echo "SKIP: relay/chat-relay is not built"
	exit 77
fi
N=${SHUTDOWN_MANY_CONNECTIONS:-16000}
LIMIT_MS=15000 # a margin under TimeoutStopSec=20
BENCH="$top_builddir/tests/bench/chat-bench"

. "$top_srcdir/tests/harness/mariadb.sh"
. "$top_srcdir/tests/bench/bench-lib.sh"

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" -lt $((N + 200)) ]; then
	echo "SKIP: the open-file limit $(ulimit -n) is below $((N + 200))"
	exit 77
fi
bench_setup shutdown-many

bench_users many 20 "$work/tokens" >/dev/null
bench_rooms manyroom 20 many1 "$work/rooms" >/dev/null
bench_start_relay "$work/relay.log"

# held for 35 s unless the relay closes them first
timeout 120 "$BENCH" connect --url "ws://127.0.0.1:$RELAY_PORT" --tokens "$work/tokens" \
	--rooms-file "$work/rooms" --connections "$N" --duration 35 --connect-rate 4000 \
	--source-addrs 127.0.0.1-127.0.0.20 --procs 2 --settle-timeout 60 \
	>"$work/connect.out" 2>&1 &
bench_pid=$!
online=0
for _ in $(seq 1 600); do
	online=$(chat_test_sql "SELECT COUNT(*) FROM presence")
	[ "$online" -ge "$N" ] && break
	kill -0 "$bench_pid" 2>/dev/null || break
	sleep 0.1
done
fail=0
if [ "$online" -lt "$N" ]; then
	echo "FAIL: only $online of $N connections online"
	cat "$work/connect.out"
	exit 1
fi
echo "ok: $N connections online"

t0=$(date +%s%N)
kill -TERM "$RELAY_PID"
status=0
wait "$RELAY_PID" || status=$?
took_ms=$((($(date +%s%N) - t0) / 1000000))
BENCH_PIDS=
echo "relay exited $status after $took_ms ms"
grep -E "shutting down|shutdown:|stopped" "$work/relay.log" || true
if [ "$status" -ne 0 ]; then
	echo "FAIL: exit status $status after SIGTERM"
	fail=1
fi
if [ "$took_ms" -gt "$LIMIT_MS" ]; then
	echo "FAIL: the relay took $took_ms ms to stop (more than $LIMIT_MS)"
	fail=1
else
	echo "ok: stopped in $took_ms ms"
fi
if grep -qE "ERROR: AddressSanitizer|runtime error:|LeakSanitizer" "$work/relay.log"; then
	echo "FAIL: a sanitizer report in the relay's log:"
	grep -A30 -E "ERROR: AddressSanitizer|runtime error:|LeakSanitizer" "$work/relay.log" | head -60
	fail=1
fi
left=$(chat_test_sql "SELECT COUNT(*) FROM presence")
if [ "$left" -ne 0 ]; then
	echo "FAIL: $left presence row(s) left after the relay stopped"
	fail=1
else
	echo "ok: no presence row left"
fi

wait "$bench_pid" || true
cat "$work/connect.out"
closed=$(bench_json "$work/connect.out" 'j["failure_causes"].get("dropped: closed 1001", 0)')
if [ "$closed" != "$N" ]; then
	echo "FAIL: $closed of $N clients got close 1001"
	fail=1
else
	echo "ok: every client got close 1001"
fi
exit $fail
