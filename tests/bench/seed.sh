# seed.sh OWNER SENDER ROOMS MESSAGES: fill the benchmark database with
# ROOMS public rooms owned by OWNER (both users members) and MESSAGES
# messages from SENDER spread evenly over them, with OWNER's read position
# in the middle of each room (so every room has unread messages). Uses
# set-based INSERT ... SELECT over MariaDB's sequence tables, 100,000 rows a
# statement. Needs CHAT_DATABASE_SOCKET and CHAT_DATABASE_NAME.
set -eu
owner=$1 sender=$2 rooms=$3 messages=$4
cli=$(command -v mariadb || command -v mysql)
sql() { "$cli" --no-defaults --socket="$CHAT_DATABASE_SOCKET" -uroot -N -B "$CHAT_DATABASE_NAME" -e "$1"; }

uid() { sql "SELECT id FROM users WHERE username = '$1'"; }
o=$(uid "$owner")
s=$(uid "$sender")
[ -n "$o" ] && [ -n "$s" ] || { echo "seed: unknown user" >&2; exit 1; }

sql "INSERT INTO rooms (name, description, is_private, created_by)
	SELECT CONCAT('seed', seq), 'seeded for the HTTP benchmark', 0, $o FROM seq_1_to_$rooms"
r0=$(sql "SELECT MIN(id) FROM rooms WHERE name LIKE 'seed%'")
r1=$(sql "SELECT MAX(id) FROM rooms WHERE name LIKE 'seed%'")
# one INSERT ... SELECT takes consecutive ids; the messages below rely on it
[ $((r1 - r0 + 1)) -eq "$rooms" ] || { echo "seed: room ids are not consecutive" >&2; exit 1; }
# The membership triggers touch rooms, so the ids come from the sequence
# engine rather than from a SELECT on rooms.
sql "INSERT INTO room_members (room_id, user_id, role)
	SELECT $r0 + seq - 1, $o, 'owner' FROM seq_1_to_$rooms"
sql "INSERT INTO room_members (room_id, user_id, role)
	SELECT $r0 + seq - 1, $s, 'member' FROM seq_1_to_$rooms"
batch=100000
done_=0
while [ "$done_" -lt "$messages" ]; do
	n=$((messages - done_))
	[ "$n" -gt "$batch" ] && n=$batch
	sql "INSERT INTO messages (room_id, sender_id, content, message_type)
		SELECT $r0 + (seq % $rooms), $s, CONCAT('seeded message number ', seq), 'text'
		FROM seq_$((done_ + 1))_to_$((done_ + n))"
	done_=$((done_ + n))
	echo "seed: $done_ messages"
done
sql "INSERT INTO read_positions (user_id, room_id, last_read_id)
	SELECT $o, room_id, MIN(id) + (MAX(id) - MIN(id)) DIV 2 FROM messages
	WHERE room_id >= $r0 GROUP BY room_id"
sql "SELECT COUNT(*) FROM messages" | sed 's/^/seed: messages in the database: /'
# Index statistics as a server that grew to this size would have them:
# InnoDB recounts them in the background some time after a bulk load, and
# until then the optimizer may read a table by a far worse index (seen: the
# read-back of stored messages scanning the sender's every message).
sql "ANALYZE TABLE rooms, room_members, messages, read_positions, users" >/dev/null
