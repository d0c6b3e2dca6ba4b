# Test harness: a private MariaDB server for one test script.
#
#   . "$top_srcdir/tests/harness/mariadb.sh"
#   chat_test_db_start          # starts mariadbd, applies the schema
#   ... CHAT_DATABASE_SOCKET, CHAT_DATABASE_NAME are exported ...
#   (stopped and removed automatically when the script exits; a script
#   with its own EXIT trap calls chat_test_db_stop from it)
#
# The server runs on a private data directory under the build tree with a
# Unix socket and no TCP port; nothing of the system's MariaDB is touched.
# A pristine data directory is made once per build tree (mariadb-install-db
# is the slow part) and copied for each test.

: "${top_builddir:?top_builddir must be set (make check sets it)}"
: "${top_srcdir:?top_srcdir must be set (make check sets it)}"

_chat_find() {
	for c in "$@"; do
		p=$(command -v "$c" 2>/dev/null || true)
		[ -n "$p" ] && { echo "$p"; return 0; }
		for d in /usr/sbin /usr/bin /usr/libexec; do
			[ -x "$d/$c" ] && { echo "$d/$c"; return 0; }
		done
	done
	return 1
}

chat_test_db_stop() {
	if [ -n "${CHAT_TEST_DB_PID:-}" ] && kill -0 "$CHAT_TEST_DB_PID" 2>/dev/null; then
		kill "$CHAT_TEST_DB_PID" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$CHAT_TEST_DB_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$CHAT_TEST_DB_PID" 2>/dev/null || true
	fi
	CHAT_TEST_DB_PID=
	if [ -n "${CHAT_TEST_DB_DIR:-}" ] && [ -z "${CHAT_TEST_KEEP:-}" ]; then
		# the short socket directory outside it (see chat_test_db_start)
		if [ -L "$CHAT_TEST_DB_DIR/sockdir" ]; then
			rm -rf "$(readlink "$CHAT_TEST_DB_DIR/sockdir")"
		fi
		rm -rf "$CHAT_TEST_DB_DIR"
	fi
}

# Start mariadbd on a copy of the template. Sets CHAT_TEST_DB_DIR,
# CHAT_TEST_DB_PID, CHAT_DATABASE_SOCKET, CHAT_DATABASE_USER, CHAT_DATABASE_NAME.
chat_test_db_start() {
	MARIADBD=${MARIADBD:-$(_chat_find mariadbd mysqld)} || { echo "mariadbd not found (apt-get install mariadb-server)" >&2; return 77; }
	MARIADB_INSTALL_DB=${MARIADB_INSTALL_DB:-$(_chat_find mariadb-install-db mysql_install_db)} || { echo "mariadb-install-db not found" >&2; return 77; }
	_admin=$(_chat_find mariadb-admin mysqladmin) || return 77

	tmproot="$top_builddir/tests/tmp"
	mkdir -p "$tmproot"
	template="$tmproot/db-template"
	_user_opt=
	[ "$(id -u)" = 0 ] && _user_opt=--user=root
	(
		flock 9
		if [ ! -f "$template/.ready" ]; then
			rm -rf "$template"
			# --force: MariaDB 10.5 stops when neither the host name nor
			# localhost resolves (a chroot or container without /etc/hosts)
			"$MARIADB_INSTALL_DB" --no-defaults --datadir="$template" $_user_opt \
				--tmpdir="$tmproot" \
				--auth-root-authentication-method=normal --skip-test-db --force \
				>"$tmproot/install-db.log" 2>&1 || { cat "$tmproot/install-db.log" >&2; exit 1; }
			touch "$template/.ready"
		fi
	) 9>"$tmproot/.template.lock" || return 1

	CHAT_TEST_DB_DIR=$(mktemp -d "$tmproot/db.XXXXXX")
	cp -a "$template/." "$CHAT_TEST_DB_DIR/data"
	sock="$CHAT_TEST_DB_DIR/mysqld.sock"
	if [ ${#sock} -gt 100 ]; then
		# sun_path holds 108 bytes: fall back to a short directory.
		sdir=$(mktemp -d /tmp/chatdb.XXXXXX)
		sock="$sdir/mysqld.sock"
		ln -s "$sdir" "$CHAT_TEST_DB_DIR/sockdir"
	fi
	# Stopped at exit, unless the caller already has an EXIT trap: then
	# that trap must call chat_test_db_stop itself (replacing it would
	# skip the caller's own cleanup).
	# "trap" runs in this shell with its output to a file: dash prints no
	# traps inside a command substitution's subshell.
	trap >"$CHAT_TEST_DB_DIR/traps"
	case "$(cat "$CHAT_TEST_DB_DIR/traps")" in
	*EXIT*) ;;
	*) trap 'chat_test_db_stop' EXIT ;;
	esac
	"$MARIADBD" --no-defaults $_user_opt --datadir="$CHAT_TEST_DB_DIR/data" \
		--socket="$sock" --pid-file="$CHAT_TEST_DB_DIR/mysqld.pid" \
		--log-error="$CHAT_TEST_DB_DIR/error.log" --skip-networking \
		--tmpdir="$CHAT_TEST_DB_DIR" \
		--character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
		--default-time-zone=+00:00 --innodb-buffer-pool-size=64M \
		--innodb-log-file-size=32M ${CHAT_TEST_DB_OPTS:-} \
		>/dev/null 2>&1 &
	CHAT_TEST_DB_PID=$!
	for _ in $(seq 1 300); do
		if "$_admin" --no-defaults --socket="$sock" -uroot ping >/dev/null 2>&1; then
			break
		fi
		if ! kill -0 "$CHAT_TEST_DB_PID" 2>/dev/null; then
			echo "mariadbd exited; its log:" >&2
			cat "$CHAT_TEST_DB_DIR/error.log" >&2
			return 1
		fi
		sleep 0.1
	done
	"$_admin" --no-defaults --socket="$sock" -uroot ping >/dev/null 2>&1 || { echo "mariadbd did not start" >&2; return 1; }
	CHAT_DATABASE_SOCKET=$sock
	CHAT_DATABASE_USER=root
	CHAT_DATABASE_PASSWORD=
	CHAT_DATABASE_NAME=chat_test
	CHAT_DATABASE_HOST=
	export CHAT_DATABASE_SOCKET CHAT_DATABASE_USER CHAT_DATABASE_PASSWORD CHAT_DATABASE_NAME CHAT_DATABASE_HOST
	chat_test_sql "CREATE DATABASE IF NOT EXISTS chat_test CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" "" || return 1
	if [ -z "${CHAT_TEST_NO_SCHEMA:-}" ]; then
		"$top_builddir/schema/chatctl" migrate --schema-dir "$top_srcdir/schema" >"$CHAT_TEST_DB_DIR/migrate.log" 2>&1 || { cat "$CHAT_TEST_DB_DIR/migrate.log" >&2; return 1; }
	fi
}

# chat_test_sql "SQL" [database]: run SQL as root on the private server.
chat_test_sql() {
	_cli=$(_chat_find mariadb mysql) || return 1
	"$_cli" --no-defaults --socket="$CHAT_DATABASE_SOCKET" -uroot -N -B ${2-chat_test} -e "$1"
}
