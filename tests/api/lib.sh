# Shared by the tests/api/*.sh scripts: start a private MariaDB with the
# schema, then run one Python test file against a real chat-api that the
# Python side starts itself (tests/api/apitest.py).
#
#   . "$top_srcdir/tests/api/lib.sh"
#   api_run_python test_auth.py

: "${top_srcdir:?}" "${top_builddir:?}"

api_run_python() {
	if [ ! -x "$top_builddir/api/chat-api" ]; then
		echo "api/chat-api not built" >&2
		exit 99
	fi
	if [ ! -x "$top_builddir/schema/chatctl" ]; then
		echo "schema/chatctl not built yet: cannot create the schema" >&2
		exit 99
	fi
	. "$top_srcdir/tests/harness/mariadb.sh"
	chat_test_db_start || exit $?
	export CHAT_TEST_DB_PID CHAT_TEST_DB_DIR
	CHAT_AUTH_JWT_SECRET=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
	CHAT_AUTH_PASSWORD_OPS_LIMIT=1
	CHAT_AUTH_PASSWORD_MEM_KIB=8192
	export CHAT_AUTH_JWT_SECRET CHAT_AUTH_PASSWORD_OPS_LIMIT CHAT_AUTH_PASSWORD_MEM_KIB
	py=${PYTHON3:-python3}
	"$py" "$top_srcdir/tests/api/$1"
	rc=$?
	return $rc
}
