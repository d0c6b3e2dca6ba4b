#!/bin/sh
# The abuse checks of abuse.py against the site `deploy/quickstart up`
# writes (the shipped lighttpd site inside quickstart's own lighttpd.conf),
# with the stack's default chat.conf: the normal client renews its token
# instead of logging in again (the default login limit allows 10 a minute).
set -eu
. "$top_srcdir/tests/e2e/e2e.sh"
e2e_need_programs
e2e_abuse_checks lighttpd
command -v lighttpd >/dev/null 2>&1 || [ -x /usr/sbin/lighttpd ] || e2e_skip "lighttpd not installed"
_chat_find mariadbd mysqld >/dev/null || e2e_skip "mariadb-server not installed"
command -v bash >/dev/null 2>&1 || e2e_skip "bash not installed"

tmp=$(mktemp -d /tmp/chatqa.XXXXXX)
qs="$top_srcdir/deploy/quickstart"
CHAT_QUICKSTART_BUILD=$top_builddir CHAT_QUICKSTART_NO_APT=1
export CHAT_QUICKSTART_BUILD CHAT_QUICKSTART_NO_APT
cleanup() {
	bash "$qs" down --data "$tmp/s" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

set -- $("$PY" -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
if ! bash "$qs" up --http-port "$1" --ws-port "$2" --data "$tmp/s" >"$tmp/up.out" 2>&1; then
	cat "$tmp/up.out"
	echo "FAIL: quickstart up"
	exit 1
fi
rc=0
E2E_BASE_URL="http://127.0.0.1:$1" E2E_STACK_DIR="$tmp/s/run" E2E_SERVER="quickstart (lighttpd)" \
	E2E_NORMAL_AUTH=refresh "$PY" "$top_srcdir/tests/e2e/abuse.py" || rc=$?
if [ $rc -ne 0 ]; then
	for f in "$tmp/s"/logs/lighttpd.log "$tmp/s"/logs/relay.log; do
		echo "---- $f"
		tail -n 20 "$f"
	done
fi
exit $rc
