/* Read receipts, read positions and unread counts. */
#include <stdlib.h>
#include <string.h>

#include "chat_dal.h"
#include "db_internal.h"

DB_SQL(q_read_msg_room, "SELECT room_id FROM messages WHERE id = ? AND deleted_at IS NULL");
DB_SQL(q_read_insert, "INSERT INTO message_reads (message_id, user_id, read_at) "
                      "VALUES (?, ?, UTC_TIMESTAMP(3))");
/* The position only moves forward. Its triggers (schema 002) keep
 * read_live_count: the insert counts up to the position, the move counts
 * only the newly read range. An upsert would run the insert trigger's full
 * count every time, hence a read, then one of the two. */
DB_SQL(q_read_position_new, "INSERT INTO read_positions (user_id, room_id, last_read_id) "
                            "VALUES (?, ?, ?)");
DB_SQL(q_read_position_move, "UPDATE read_positions SET last_read_id = ? "
                             "WHERE user_id = ? AND room_id = ? AND last_read_id < ?");
DB_SQL(q_reads_of, "SELECT u.id, u.username, r.read_at FROM message_reads r "
                   "JOIN users u ON u.id = r.user_id WHERE r.message_id = ? "
                   "ORDER BY r.read_at, r.user_id");
/* The caller's memberships with unread messages, from the counters as in
 * chat_dal_rooms_list (DB_UNREAD_EXPR): no scan. */
DB_SQL(q_unread_rooms,
       "SELECT m.room_id, " DB_UNREAD_EXPR("r", "rsc", "rp") " AS unread"
       " FROM room_members m JOIN rooms r ON r.id = m.room_id"
       " LEFT JOIN read_positions rp ON rp.user_id = m.user_id AND rp.room_id = m.room_id"
       " LEFT JOIN room_sender_counts rsc ON rsc.room_id = m.room_id AND rsc.sender_id = m.user_id"
       " WHERE m.user_id = ? HAVING unread > 0 ORDER BY m.room_id");
DB_SQL(q_read_position, "SELECT last_read_id FROM read_positions WHERE user_id = ? AND room_id = ?");

typedef struct read_args {
	int64_t message_id, user_id;
} read_args;

static chat_err mark_txn(chat_db *db, void *arg)
{
	read_args *r = arg;
	int64_t room_id = 0;
	db_arg a[] = { DBI(r->message_id) };
	chat_err e = db_query_int(db, &q_read_msg_room, a, DB_NARGS(a), &room_id);
	if (e != CHAT_OK)
		return e;
	/* Under the room lock: may the reader act in the room (a private one
	 * only as a member), and is the message still there? */
	bool member = false;
	e = db_room_lock_access(db, room_id, r->user_id, &member);
	if (e != CHAT_OK)
		return e;
	int64_t again = 0;
	e = db_query_int(db, &q_read_msg_room, a, DB_NARGS(a), &again);
	if (e != CHAT_OK)
		return e;
	if (again != room_id)
		return CHAT_ERR_NOT_FOUND; /* moved by SQL meanwhile */
	if (!member) {
		e = db_member_join(db, room_id, r->user_id); /* a public room */
		if (e != CHAT_OK)
			return e;
	}
	/* A plain INSERT (not IGNORE, which would also hide a missing user):
	 * an existing receipt is fine. The first read time stays. */
	db_arg b[] = { DBI(r->message_id), DBI(r->user_id) };
	e = db_exec(db, &q_read_insert, b, DB_NARGS(b), NULL, NULL);
	if (e != CHAT_OK && e != CHAT_ERR_DUPLICATE)
		return e;
	db_arg d[] = { DBI(r->user_id), DBI(room_id) };
	int64_t pos = 0;
	e = db_query_int(db, &q_read_position, d, DB_NARGS(d), &pos);
	if (e == CHAT_ERR_NOT_FOUND) {
		db_arg n[] = { DBI(r->user_id), DBI(room_id), DBI(r->message_id) };
		return db_exec(db, &q_read_position_new, n, DB_NARGS(n), NULL, NULL);
	}
	if (e != CHAT_OK || pos >= r->message_id)
		return e;
	db_arg m[] = { DBI(r->message_id), DBI(r->user_id), DBI(room_id), DBI(r->message_id) };
	return db_exec(db, &q_read_position_move, m, DB_NARGS(m), NULL, NULL);
}

chat_err chat_dal_message_mark_read(chat_db *db, int64_t message_id, int64_t user_id)
{
	read_args r = { message_id, user_id };
	return chat_db_txn_run(db, mark_txn, &r);
}

static chat_err read_row(void *ctx, const db_row *r)
{
	chat_read *rd = db_vec_push(ctx);
	if (!rd)
		return CHAT_ERR_NOMEM;
	rd->user.id = db_int(r, 0);
	db_copy(r, 1, rd->user.username, sizeof(rd->user.username));
	rd->read_ms = db_ms(r, 2);
	return CHAT_OK;
}

chat_err chat_dal_message_reads(chat_db *db, int64_t message_id, chat_read **out, size_t *n)
{
	db_vec v = { NULL, 0, 0, sizeof(chat_read) };
	db_arg a[] = { DBI(message_id) };
	chat_err e = db_query(db, &q_reads_of, a, DB_NARGS(a), "ist", read_row, &v);
	if (e != CHAT_OK) {
		free(v.v);
		return e;
	}
	*out = v.v;
	*n = v.n;
	return CHAT_OK;
}

static chat_err unread_row(void *ctx, const db_row *r)
{
	chat_unread *u = db_vec_push(ctx);
	if (!u)
		return CHAT_ERR_NOMEM;
	u->room_id = db_int(r, 0);
	u->unread_count = db_int(r, 1);
	return CHAT_OK;
}

chat_err chat_dal_unread(chat_db *db, int64_t user_id, chat_unread **out, size_t *n)
{
	db_vec v = { NULL, 0, 0, sizeof(chat_unread) };
	db_arg a[] = { DBI(user_id) };
	chat_err e = db_query(db, &q_unread_rooms, a, DB_NARGS(a), "ii", unread_row, &v);
	if (e != CHAT_OK) {
		free(v.v);
		return e;
	}
	*out = v.v;
	*n = v.n;
	return CHAT_OK;
}

chat_err chat_dal_read_position(chat_db *db, int64_t room_id, int64_t user_id, int64_t *out)
{
	int64_t v = 0;
	db_arg a[] = { DBI(user_id), DBI(room_id) };
	chat_err e = db_query_int(db, &q_read_position, a, DB_NARGS(a), &v);
	if (e == CHAT_ERR_NOT_FOUND) {
		v = 0;
		e = CHAT_OK;
	}
	if (e == CHAT_OK)
		*out = v;
	return e;
}
