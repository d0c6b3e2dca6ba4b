# End-to-end test helpers, sourced by tests/e2e/*.sh (run by make check).
#
# A test script sources this file, starts a private MariaDB through
# tests/harness/mariadb.sh, then hands over to stack.py, which starts the
# relay and a web server from the BUILD tree on free ports and runs the
# checks. Every process is stopped when the script exits.

: "${top_builddir:?top_builddir must be set (make check sets it)}"
: "${top_srcdir:?top_srcdir must be set (make check sets it)}"

. "$top_srcdir/tests/harness/mariadb.sh"

e2e_skip() {
	echo "SKIP: $*" >&2
	exit 77
}

# e2e_need_programs: the programs under test must have been built.
e2e_need_programs() {
	for p in api/chat-api relay/chat-relay schema/chatctl; do
		[ -x "$top_builddir/$p" ] || { echo "FAIL: $top_builddir/$p is not built" >&2; exit 99; }
	done
}

# e2e_python: a python3 with the websockets module (Debian's
# python3-websockets lives in /usr/bin/python3's path, not in a pyenv one).
e2e_python() {
	for py in "${PYTHON3:-}" python3 /usr/bin/python3; do
		[ -n "$py" ] || continue
		command -v "$py" >/dev/null 2>&1 || continue
		if "$py" -c 'import websockets' >/dev/null 2>&1; then
			echo "$py"
			return 0
		fi
	done
	return 1
}

# e2e_run_stack ARGS...: start MariaDB, then stack.py with ARGS.
e2e_run_stack() {
	e2e_need_programs
	PY=$(e2e_python) || e2e_skip "python3-websockets not installed (apt-get install python3-websockets)"
	chat_test_db_start || exit $?
	rc=0
	"$PY" "$top_srcdir/tests/e2e/stack.py" "$@" || rc=$?
	return $rc
}

# e2e_abuse_checks SERVER: what the abuse tests need beyond the stack: sources
# 127.0.0.2 and .3 (any loopback address works on Linux) and, for Apache,
# mod_qos (the per-address cap of the shipped site).
e2e_abuse_checks() {
	PY=$(e2e_python) || e2e_skip "python3-websockets not installed (apt-get install python3-websockets)"
	case $1 in
	apache-*)
		[ -f /usr/lib/apache2/modules/mod_qos.so ] ||
			e2e_skip "mod_qos is not installed (apt-get install libapache2-mod-qos)"
		;;
	esac
}
