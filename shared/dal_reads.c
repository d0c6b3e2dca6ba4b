/* Read receipts, read positions and unread counts. */
#include <stdlib.h>
#include <string.h>

#include "chat_dal.h"
#include "db_internal.h"

DB_SQL(q_read_msg_room, "SELECT room_id FROM messages WHERE id = ? AND deleted_at IS NULL");
DB_SQL(q_read_insert, "INSERT INTO message_reads (message_id, user_id, read_at) "
                      "VALUES (?, ?, UTC_TIMESTAMP(3))");
DB_SQL(q_read_member, "INSERT INTO room_members (room_id, user_id, role, joined_at) "
                      "VALUES (?, ?, 'member', UTC_TIMESTAMP(3))");
DB_SQL(q_read_position_up, "INSERT INTO read_positions (user_id, room_id, last_read_id) "
                           "VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE "
                           "last_read_id = GREATEST(last_read_id, VALUES(last_read_id))");
DB_SQL(q_reads_of, "SELECT u.id, u.username, r.read_at FROM message_reads r "
                   "JOIN users u ON u.id = r.user_id WHERE r.message_id = ? "
                   "ORDER BY r.read_at, r.user_id");
/* The caller's memberships with read positions; counts by
 * db_unread_counts() as in chat_dal_rooms_list. */
DB_SQL(q_unread_rooms,
       "SELECT m.room_id, COALESCE(rp.last_read_id, 0),"
       " r.message_count - COALESCE(rsc.live_count, 0)"
       " FROM room_members m JOIN rooms r ON r.id = m.room_id"
       " LEFT JOIN read_positions rp ON rp.user_id = m.user_id AND rp.room_id = m.room_id"
       " LEFT JOIN room_sender_counts rsc ON rsc.room_id = m.room_id AND rsc.sender_id = m.user_id"
       " WHERE m.user_id = ? ORDER BY m.room_id");
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
	e = db_room_lock(db, room_id);
	if (e != CHAT_OK)
		return e;
	/* Plain INSERTs (not IGNORE, which would also hide a missing user):
	 * an existing receipt or membership is fine. The first read time stays. */
	db_arg b[] = { DBI(r->message_id), DBI(r->user_id) };
	e = db_exec(db, &q_read_insert, b, DB_NARGS(b), NULL, NULL);
	if (e != CHAT_OK && e != CHAT_ERR_DUPLICATE)
		return e;
	db_arg c[] = { DBI(room_id), DBI(r->user_id) };
	e = db_exec(db, &q_read_member, c, DB_NARGS(c), NULL, NULL);
	if (e != CHAT_OK && e != CHAT_ERR_DUPLICATE)
		return e;
	db_arg d[] = { DBI(r->user_id), DBI(room_id), DBI(r->message_id) };
	return db_exec(db, &q_read_position_up, d, DB_NARGS(d), NULL, NULL);
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

static chat_err triple_row(void *ctx, const db_row *r)
{
	int64_t *p = db_vec_push(ctx);
	if (!p)
		return CHAT_ERR_NOMEM;
	p[0] = db_int(r, 0);
	p[1] = db_int(r, 1);
	p[2] = db_int(r, 2);
	return CHAT_OK;
}

chat_err chat_dal_unread(chat_db *db, int64_t user_id, chat_unread **out, size_t *n)
{
	/* (room, position, unread if no position) */
	db_vec v = { NULL, 0, 0, 3 * sizeof(int64_t) };
	int64_t *rooms = NULL, *after = NULL, *counts = NULL;
	chat_unread *res = NULL;
	size_t nres = 0;
	db_arg a[] = { DBI(user_id) };
	chat_err e = db_query(db, &q_unread_rooms, a, DB_NARGS(a), "iii", triple_row, &v);
	if (e != CHAT_OK)
		goto out;
	if (v.n) {
		const int64_t *pairs = v.v;
		rooms = malloc(v.n * sizeof(int64_t));
		after = malloc(v.n * sizeof(int64_t));
		counts = malloc(v.n * sizeof(int64_t));
		res = malloc(v.n * sizeof(chat_unread));
		e = CHAT_ERR_NOMEM;
		if (!rooms || !after || !counts || !res)
			goto out;
		/* Rooms with a read position are counted by range; the others
		 * come from the counters. */
		size_t k = 0;
		for (size_t i = 0; i < v.n; i++) {
			if (pairs[3 * i + 1] > 0) {
				rooms[k] = pairs[3 * i];
				after[k] = pairs[3 * i + 1];
				k++;
			}
		}
		e = db_unread_counts(db, user_id, rooms, after, k, counts);
		if (e != CHAT_OK)
			goto out;
		for (size_t i = 0, j = 0; i < v.n; i++) {
			int64_t c = pairs[3 * i + 1] > 0 ? counts[j++] : pairs[3 * i + 2];
			if (c > 0)
				res[nres++] = (chat_unread){ pairs[3 * i], c };
		}
	}
	*out = res;
	*n = nres;
	res = NULL;
	e = CHAT_OK;
out:
	free(res);
	free(rooms);
	free(after);
	free(counts);
	free(v.v);
	return e;
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
