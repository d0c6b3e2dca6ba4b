#!/bin/sh
# chatctl against a private MariaDB: migrate is idempotent, users, rooms,
# members and tokens can be made, bad usage exits 2, failures exit 1.
set -u
. "$top_srcdir/tests/harness/mariadb.sh"
# Also listen on a free TCP port of 127.0.0.1, to try database.host.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 0)
[ "$port" != 0 ] && CHAT_TEST_DB_OPTS="--skip-networking=0 --bind-address=127.0.0.1 --port=$port"
export CHAT_TEST_DB_OPTS
chat_test_db_start || exit $?

ctl="$top_builddir/schema/chatctl"
fails=0
check() { # check WANT_STATUS DESCRIPTION -- command...
	want=$1; what=$2; shift 3
	out=$("$@" 2>&1); rc=$?
	if [ "$rc" != "$want" ]; then
		echo "FAIL: $what: exit $rc, wanted $want; output: $out"
		fails=$((fails + 1))
	else
		echo "ok: $what"
	fi
}
# Settings must come from the environment and --set alike.
secret=0123456789abcdef0123456789abcdef

# One row per migration file; the version is the highest file number.
nfiles=$(ls "$top_srcdir"/schema/[0-9][0-9][0-9]_*.sql | wc -l)
latest=$(ls "$top_srcdir"/schema/[0-9][0-9][0-9]_*.sql | sed 's|.*/||; s|_.*||; s|^0*||' | sort -n | tail -n 1)
check 0 "migrate again" -- "$ctl" migrate --schema-dir "$top_srcdir/schema"
n=$(chat_test_sql "SELECT COUNT(*) FROM schema_version")
[ "$n" = "$nfiles" ] || { echo "FAIL: schema_version has $n rows"; fails=$((fails + 1)); }
out=$("$ctl" version)
case $out in *"schema version $latest"*) echo "ok: version";; *) echo "FAIL: version: $out"; fails=$((fails + 1));; esac

# Two migrations of a fresh database at once: serialized, applied once.
"$ctl" --set database.name=chat_race migrate --schema-dir "$top_srcdir/schema" >"$CHAT_TEST_DB_DIR/m1" 2>&1 &
m1=$!
"$ctl" --set database.name=chat_race migrate --schema-dir "$top_srcdir/schema" >"$CHAT_TEST_DB_DIR/m2" 2>&1
r2=$?
wait $m1; r1=$?
n=$(chat_test_sql "SELECT COUNT(*) FROM schema_version" chat_race)
if [ "$r1$r2" = 00 ] && [ "$n" = "$nfiles" ]; then echo "ok: concurrent migrations"
else echo "FAIL: concurrent migrations: $r1 $r2 rows $n"; cat "$CHAT_TEST_DB_DIR/m1" "$CHAT_TEST_DB_DIR/m2"; fails=$((fails + 1)); fi

id=$(printf 'a-long-password\n' | "$ctl" add-user erin --password-stdin)
[ -n "$id" ] && [ "$id" -gt 1 ] || { echo "FAIL: add-user printed '$id'"; fails=$((fails + 1)); }
hash=$(chat_test_sql "SELECT password_hash FROM users WHERE id = $id")
case $hash in '$argon2id$'*) echo "ok: password hashed";; *) echo "FAIL: hash '$hash'"; fails=$((fails + 1));; esac
check 1 "duplicate user (case-insensitive)" -- "$ctl" add-user ERIN --no-password
check 0 "user without a password" -- "$ctl" add-user frank --no-password
check 2 "add-user needs a password choice" -- "$ctl" add-user gina
check 2 "add-user rejects a bad name" -- "$ctl" add-user "bad name" --no-password
printf 'short\n' > "$CHAT_TEST_DB_DIR/pw"
check 2 "add-user rejects a short password" -- sh -c "\"$ctl\" add-user gina --password-stdin < \"$CHAT_TEST_DB_DIR/pw\""

room=$("$ctl" create-room "Lobby" --owner erin --description "the lobby")
[ -n "$room" ] && [ "$room" -gt 0 ] || { echo "FAIL: create-room printed '$room'"; fails=$((fails + 1)); }
role=$(chat_test_sql "SELECT role FROM room_members WHERE room_id = $room AND user_id = $id")
[ "$role" = owner ] || { echo "FAIL: owner role '$role'"; fails=$((fails + 1)); }
priv=$("$ctl" create-room "Secret" --private --owner "#$id")
[ "$(chat_test_sql "SELECT is_private FROM rooms WHERE id = $priv")" = 1 ] || { echo "FAIL: private room"; fails=$((fails + 1)); }
check 1 "create-room with an unknown owner" -- "$ctl" create-room X --owner nobody
check 2 "create-room without --owner" -- "$ctl" create-room X

check 0 "add-member" -- "$ctl" add-member "$priv" frank
n=$(chat_test_sql "SELECT COUNT(*) FROM room_members WHERE room_id = $priv")
[ "$n" = 2 ] || { echo "FAIL: members of the private room: $n"; fails=$((fails + 1)); }
check 0 "add-member twice" -- "$ctl" add-member "$priv" frank
check 1 "add-member to a missing room" -- "$ctl" add-member 999999 frank
check 2 "add-member with a bad room id" -- "$ctl" add-member abc frank

tok=$("$ctl" --set auth.jwt_secret=$secret mint-token erin)
case $tok in *.*.*) echo "ok: mint-token";; *) echo "FAIL: token '$tok'"; fails=$((fails + 1));; esac
# The payload carries user_id and token_type access.
payload=$(printf '%s' "$tok" | cut -d. -f2 | tr '_-' '/+')
while [ $(( ${#payload} % 4 )) -ne 0 ]; do payload="$payload="; done
claims=$(printf '%s' "$payload" | base64 -d 2>/dev/null)
case $claims in *"\"user_id\":$id"*'"access"'*|*'"access"'*"\"user_id\":$id"*) echo "ok: token claims";;
*) echo "FAIL: claims $claims"; fails=$((fails + 1));; esac
rtok=$(CHAT_AUTH_JWT_SECRET=$secret "$ctl" mint-token "#$id" --refresh)
payload=$(printf '%s' "$rtok" | cut -d. -f2 | tr '_-' '/+')
while [ $(( ${#payload} % 4 )) -ne 0 ]; do payload="$payload="; done
case $(printf '%s' "$payload" | base64 -d 2>/dev/null) in *'"refresh"'*) echo "ok: refresh token";;
*) echo "FAIL: refresh token"; fails=$((fails + 1));; esac
check 1 "mint-token for an unknown user" -- "$ctl" --set auth.jwt_secret=$secret mint-token nobody

chat_test_sql "UPDATE chat_events SET created_at = created_at - INTERVAL 1 DAY"
out=$("$ctl" purge-events --older-than 3600)
case $out in "deleted "[1-9]*) echo "ok: purge-events ($out)";; *) echo "FAIL: purge: $out"; fails=$((fails + 1));; esac
[ "$(chat_test_sql "SELECT COUNT(*) FROM chat_events")" = 0 ] || { echo "FAIL: events left"; fails=$((fails + 1)); }
check 2 "purge-events needs --older-than" -- "$ctl" purge-events
check 2 "unknown command" -- "$ctl" frobnicate
check 2 "unknown option" -- "$ctl" --frob migrate
check 2 "bad --set" -- "$ctl" --set nosuch.key=1 version
check 0 "help" -- "$ctl" --help

# Least privilege: an account with rights on its own database only can
# migrate it, and the programs' account needs no more than SELECT, INSERT,
# UPDATE, DELETE (the triggers run as their definer).
chat_test_sql "CREATE DATABASE chat_limited CHARACTER SET utf8mb4;
CREATE USER 'chatadm'@'localhost' IDENTIFIED BY 'adm-pass-1';
GRANT ALL ON chat_limited.* TO 'chatadm'@'localhost';
CREATE USER 'chatapp'@'localhost' IDENTIFIED BY 'app-pass-1';
GRANT SELECT, INSERT, UPDATE, DELETE ON chat_limited.* TO 'chatapp'@'localhost';" ""
check 0 "migrate as the database's own admin" -- "$ctl" --set database.user=chatadm \
	--set database.password=adm-pass-1 --set database.name=chat_limited \
	migrate --schema-dir "$top_srcdir/schema"
check 1 "the programs' account cannot migrate" -- "$ctl" --set database.user=chatapp \
	--set database.password=app-pass-1 --set database.name=chat_other \
	migrate --schema-dir "$top_srcdir/schema"
uid=$("$ctl" --set database.user=chatapp --set database.password=app-pass-1 \
	--set database.name=chat_limited add-user limited --no-password)
rid=$("$ctl" --set database.user=chatapp --set database.password=app-pass-1 \
	--set database.name=chat_limited create-room limited-room --owner limited)
n=$(chat_test_sql "SELECT COUNT(*) FROM chat_events WHERE room_id = '$rid'" chat_limited)
[ -n "$uid" ] && [ "$n" = 1 ] || { echo "FAIL: DML-only account: user '$uid' room '$rid' events '$n'"; fails=$((fails + 1)); }

# TCP: a host (even "localhost") means TCP on database.port.
if [ "$port" != 0 ]; then
	chat_test_sql "CREATE USER 'tcpuser'@'%' IDENTIFIED BY 'tcp-pass-1';
	GRANT ALL ON chat_test.* TO 'tcpuser'@'%';" ""
	for h in 127.0.0.1 localhost; do
		check 0 "connect over TCP to $h" -- "$ctl" --set database.host=$h \
			--set database.port=$port --set database.user=tcpuser \
			--set database.password=tcp-pass-1 version
	done
	check 1 "TCP to a closed port" -- "$ctl" --set database.host=127.0.0.1 \
		--set database.port=1 --set database.connect_timeout=2 version
fi

# The database down: a clear error and exit 1.
check 1 "database unreachable" -- "$ctl" --set database.socket=/nonexistent/sock version

[ "$fails" = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all chatctl checks passed"
