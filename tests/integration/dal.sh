#!/bin/sh
# The DAL against a private MariaDB: migrations (twice), then the cmocka
# suite tests/integration/test_dal.
set -eu
. "$top_srcdir/tests/harness/mariadb.sh"
chat_test_db_start || exit $?

# A second migration is a no-op that says so.
out=$("$top_builddir/schema/chatctl" migrate --schema-dir "$top_srcdir/schema")
echo "$out"
case $out in
*"up to date at version"*) ;;
*) echo "FAIL: second migrate was not a no-op"; exit 1 ;;
esac
v=$(chat_test_sql "SELECT COUNT(*) FROM schema_version")
nfiles=$(ls "$top_srcdir"/schema/[0-9][0-9][0-9]_*.sql | wc -l)
[ "$v" = "$nfiles" ] || { echo "FAIL: schema_version has $v rows"; exit 1; }

"$top_builddir/tests/integration/test_dal"
