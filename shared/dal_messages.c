/* Messages: store (with client_id dedupe), read, page, edit, delete. */
#include <stdlib.h>
#include <string.h>

#include "chat_dal.h"
#include "db_internal.h"

#define PAGE_MAX 200
#define PAGE_DEFAULT 50
/* A client_id reused after this long stores a new message. */
#define CLIENT_ID_WINDOW "INTERVAL 1 DAY"
/* Rounds of a transaction that lost a client_id race to a concurrent
 * writer (unique key 1062): the next round finds the stored message. */
#define DUP_ROUNDS 3

#define MSG_FROM " FROM messages m JOIN users u ON u.id = m.sender_id"

DB_SQL(q_msg_by_id_any, "SELECT " DB_MSG_SELECT("m", "u") MSG_FROM " WHERE m.id = ?");
DB_SQL(q_msg_by_id_live,
       "SELECT " DB_MSG_SELECT("m", "u") MSG_FROM " WHERE m.id = ? AND m.deleted_at IS NULL");
DB_SQL(q_msg_by_ids, "SELECT " DB_MSG_SELECT("m", "u") MSG_FROM " WHERE m.id IN (" DB_IDS64 ")");
DB_SQL(q_msg_client, "SELECT id, created_at >= UTC_TIMESTAMP(3) - " CLIENT_ID_WINDOW
                     " FROM messages WHERE sender_id = ? AND client_id = ? FOR UPDATE");
DB_SQL(q_msg_client_clear, "UPDATE messages SET client_id = NULL WHERE id = ?");
DB_SQL(q_msg_is_member, "SELECT 1 FROM room_members WHERE room_id = ? AND user_id = ?");
/* Not INSERT IGNORE: that would also hide a missing user, and its BEFORE
 * trigger would touch the room row for nothing. */
DB_SQL(q_msg_member, "INSERT INTO room_members (room_id, user_id, role, joined_at) "
                     "VALUES (?, ?, 'member', UTC_TIMESTAMP(3))");
DB_SQL(q_msg_insert, "INSERT INTO messages (room_id, sender_id, content, message_type, "
                     "client_id, created_at) VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(3))");
DB_SQL(q_msg_room_live, "SELECT room_id FROM messages WHERE id = ? AND deleted_at IS NULL");
DB_SQL(q_msg_edit, "UPDATE messages SET content = ?, edited_at = UTC_TIMESTAMP(3) "
                   "WHERE id = ? AND deleted_at IS NULL");
DB_SQL(q_msg_delete, "UPDATE messages SET deleted_at = UTC_TIMESTAMP(3) "
                     "WHERE id = ? AND deleted_at IS NULL");
/* Pages read one table: the sender's name comes from a primary-key
 * subquery, not a join. With a join, the optimizer may pick a block
 * nested loop over a small users table, which gives up the index order
 * and sorts the whole room for every page (seen: 45 ms instead of 0.3 ms
 * on a 29,000-message room with two users). */
#define PAGE_SELECT \
	"SELECT m.id, m.room_id, m.sender_id," \
	" (SELECT u.username FROM users u WHERE u.id = m.sender_id)," \
	" m.content, m.message_type, m.client_id, m.created_at, m.edited_at, m.deleted_at" \
	" FROM messages m" \
	" WHERE m.room_id = ? AND m.deleted_at IS NULL AND m.id > ? AND m.id < ?"
DB_SQL(q_page_desc, PAGE_SELECT " ORDER BY m.id DESC LIMIT ?");
DB_SQL(q_page_asc, PAGE_SELECT " ORDER BY m.id ASC LIMIT ?");

typedef struct msg_ctx {
	chat_message *out;
	bool found;
} msg_ctx;

static chat_err msg_row(void *ctx, const db_row *r)
{
	msg_ctx *c = ctx;
	if (c->found)
		return CHAT_OK;
	chat_err e = db_row_message(r, 0, c->out);
	if (e == CHAT_OK)
		c->found = true;
	return e;
}

static chat_err load(chat_db *db, db_sql *q, int64_t id, chat_message *out)
{
	chat_message tmp;
	memset(&tmp, 0, sizeof(tmp));
	msg_ctx c = { &tmp, false };
	db_arg a[] = { DBI(id) };
	chat_err e = db_query(db, q, a, DB_NARGS(a), DB_MSG_COLS, msg_row, &c);
	if (e == CHAT_OK && !c.found)
		e = CHAT_ERR_NOT_FOUND;
	if (e != CHAT_OK) {
		chat_message_clear(&tmp);
		return e;
	}
	chat_message_clear(out);
	*out = tmp;
	return CHAT_OK;
}

chat_err chat_dal_message_get(chat_db *db, int64_t id, chat_message *out)
{
	memset(out, 0, sizeof(*out));
	return load(db, &q_msg_by_id_live, id, out);
}

typedef struct client_hit {
	int64_t id;
	bool recent;
	bool found;
} client_hit;

static chat_err client_row(void *ctx, const db_row *r)
{
	client_hit *h = ctx;
	h->id = db_int(r, 0);
	h->recent = db_int(r, 1) != 0;
	h->found = true;
	return CHAT_OK;
}

/* Make the sender a member unless it is one. */
static chat_err ensure_member(chat_db *db, int64_t room_id, int64_t user_id)
{
	int64_t one = 0;
	db_arg a[] = { DBI(room_id), DBI(user_id) };
	chat_err e = db_query_int(db, &q_msg_is_member, a, DB_NARGS(a), &one);
	if (e != CHAT_ERR_NOT_FOUND)
		return e;
	e = db_exec(db, &q_msg_member, a, DB_NARGS(a), NULL, NULL);
	return e == CHAT_ERR_DUPLICATE ? CHAT_OK : e; /* joined meanwhile */
}

/* One message inside the caller's transaction, its room already locked.
 * check_member: the (room, sender) pair was not handled earlier in the
 * batch. */
static chat_err insert_one(chat_db *db, const chat_new_message *in, bool check_member,
                           chat_message *out, bool *created)
{
	const char *cid = in->client_id && in->client_id[0] ? in->client_id : NULL;
	chat_err e;
	if (cid) {
		client_hit h = { 0, false, false };
		db_arg a[] = { DBI(in->sender_id), DBS(cid) };
		e = db_query(db, &q_msg_client, a, DB_NARGS(a), "ii", client_row, &h);
		if (e != CHAT_OK)
			return e;
		if (h.found && h.recent) {
			*created = false;
			out->id = h.id; /* loaded with the rest of the batch */
			return CHAT_OK;
		}
		if (h.found) {
			/* Older than the window: the key is free again. */
			db_arg b[] = { DBI(h.id) };
			e = db_exec(db, &q_msg_client_clear, b, DB_NARGS(b), NULL, NULL);
			if (e != CHAT_OK)
				return e;
		}
	}
	if (check_member) {
		e = ensure_member(db, in->room_id, in->sender_id);
		if (e != CHAT_OK)
			return e;
	}
	db_arg a[] = { DBI(in->room_id), DBI(in->sender_id), DBS(in->content ? in->content : ""),
		       DBS(in->message_type && in->message_type[0] ? in->message_type : "text"),
		       DBS(cid) };
	int64_t id = 0;
	e = db_exec(db, &q_msg_insert, a, DB_NARGS(a), NULL, &id);
	if (e != CHAT_OK)
		return e;
	*created = true;
	out->id = id; /* loaded with the rest of the batch */
	return CHAT_OK;
}

typedef struct batch_args {
	const chat_new_message *in;
	size_t n;
	chat_message *results;
	bool *created;
} batch_args;

static void clear_results(chat_message *results, bool *created, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		chat_message_clear(&results[i]);
		created[i] = false;
	}
}

typedef struct fill_ctx {
	chat_message *results;
	size_t n;
} fill_ctx;

/* A row of q_msg_by_ids into every result slot with that id (a batch may
 * name one stored message twice). */
static chat_err fill_row(void *ctx, const db_row *r)
{
	fill_ctx *c = ctx;
	int64_t id = db_int(r, 0);
	for (size_t i = 0; i < c->n; i++) {
		if (c->results[i].id != id || c->results[i].content)
			continue;
		chat_err e = db_row_message(r, 0, &c->results[i]);
		if (e != CHAT_OK)
			return e;
	}
	return CHAT_OK;
}

/* Fill results[] whose id insert_one set, 64 per query. */
static chat_err load_results(chat_db *db, chat_message *results, size_t n)
{
	for (size_t off = 0; off < n; off += 64) {
		size_t m = n - off < 64 ? n - off : 64;
		db_arg a[64];
		for (size_t k = 0; k < 64; k++)
			a[k] = DBI(k < m ? results[off + k].id : 0);
		fill_ctx c = { results + off, m };
		chat_err e = db_query(db, &q_msg_by_ids, a, 64, DB_MSG_COLS, fill_row, &c);
		if (e != CHAT_OK)
			return e;
		for (size_t k = 0; k < m; k++)
			if (!results[off + k].content)
				return CHAT_ERR_INTERNAL; /* stored a moment ago: cannot be */
	}
	return CHAT_OK;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Was the sender made a member of this room earlier in the batch (by a
 * message actually stored: a deduplicated one may belong to another room)? */
static bool member_done(const batch_args *b, size_t i)
{
	for (size_t k = 0; k < i; k++)
		if (b->created[k] && b->in[k].room_id == b->in[i].room_id &&
		    b->in[k].sender_id == b->in[i].sender_id)
			return true;
	return false;
}

static chat_err batch_txn(chat_db *db, void *arg)
{
	batch_args *b = arg;
	chat_err e = CHAT_OK;
	int64_t small[64];
	int64_t *rooms = b->n <= 64 ? small : malloc(b->n * sizeof(*rooms));
	if (!rooms)
		return CHAT_ERR_NOMEM;
	clear_results(b->results, b->created, b->n); /* a retried round starts clean */
	/* Lock every room of the batch first, in ascending id order, so
	 * concurrent batches over the same rooms queue instead of
	 * deadlocking. */
	for (size_t i = 0; i < b->n; i++)
		rooms[i] = b->in[i].room_id;
	qsort(rooms, b->n, sizeof(*rooms), cmp_i64);
	for (size_t i = 0; i < b->n; i++) {
		if (i && rooms[i] == rooms[i - 1])
			continue;
		e = db_room_lock(db, rooms[i]);
		if (e != CHAT_OK)
			goto out;
	}
	for (size_t i = 0; i < b->n; i++) {
		e = insert_one(db, &b->in[i], !member_done(b, i), &b->results[i], &b->created[i]);
		if (e != CHAT_OK)
			goto out;
	}
	e = load_results(db, b->results, b->n);
out:
	if (rooms != small)
		free(rooms);
	return e;
}

chat_err chat_dal_messages_insert_batch(chat_db *db, const chat_new_message *in, size_t n,
                                        chat_message *results, bool *created)
{
	for (size_t i = 0; i < n; i++) {
		memset(&results[i], 0, sizeof(results[i]));
		created[i] = false;
	}
	if (n == 0)
		return CHAT_OK;
	batch_args b = { in, n, results, created };
	chat_err e = CHAT_OK;
	for (int round = 0; round < DUP_ROUNDS; round++) {
		e = chat_db_txn_run(db, batch_txn, &b);
		if (e != CHAT_ERR_DUPLICATE || db_in_txn(db))
			break;
	}
	if (e != CHAT_OK)
		clear_results(results, created, n);
	return e;
}

chat_err chat_dal_message_insert(chat_db *db, const chat_new_message *in, chat_message *out,
                                 bool *created)
{
	bool c = false;
	chat_err e = chat_dal_messages_insert_batch(db, in, 1, out, &c);
	if (e == CHAT_OK)
		*created = c;
	return e;
}

typedef struct change_args {
	int64_t id;
	const char *content; /* NULL: delete */
	chat_message *out;
} change_args;

static chat_err change_txn(chat_db *db, void *arg)
{
	change_args *c = arg;
	int64_t room_id = 0;
	db_arg a[] = { DBI(c->id) };
	chat_err e = db_query_int(db, &q_msg_room_live, a, DB_NARGS(a), &room_id);
	if (e != CHAT_OK)
		return e;
	e = db_room_lock(db, room_id); /* room first, then the message row */
	if (e != CHAT_OK)
		return e;
	uint64_t found = 0;
	if (c->content) {
		db_arg b[] = { DBS(c->content), DBI(c->id) };
		e = db_exec(db, &q_msg_edit, b, DB_NARGS(b), &found, NULL);
	} else {
		e = db_exec(db, &q_msg_delete, a, DB_NARGS(a), &found, NULL);
	}
	if (e != CHAT_OK)
		return e;
	if (found == 0)
		return CHAT_ERR_NOT_FOUND;
	if (c->out)
		return load(db, &q_msg_by_id_any, c->id, c->out);
	return CHAT_OK;
}

chat_err chat_dal_message_edit(chat_db *db, int64_t id, const char *content, chat_message *out)
{
	chat_message tmp;
	memset(&tmp, 0, sizeof(tmp));
	change_args c = { id, content ? content : "", &tmp };
	chat_err e = chat_db_txn_run(db, change_txn, &c);
	if (e != CHAT_OK) {
		chat_message_clear(&tmp);
		return e;
	}
	*out = tmp;
	return CHAT_OK;
}

chat_err chat_dal_message_delete(chat_db *db, int64_t id)
{
	change_args c = { id, NULL, NULL };
	return chat_db_txn_run(db, change_txn, &c);
}

static chat_err page_row(void *ctx, const db_row *r)
{
	chat_message *m = db_vec_push(ctx);
	if (!m)
		return CHAT_ERR_NOMEM;
	return db_row_message(r, 0, m);
}

chat_err chat_dal_messages_page(chat_db *db, int64_t room_id, int64_t before, int64_t after,
                                int limit, chat_message **out, size_t *n, bool *has_more)
{
	if (limit <= 0)
		limit = PAGE_DEFAULT;
	if (limit > PAGE_MAX)
		limit = PAGE_MAX;
	bool asc = after > 0 || after == CHAT_PAGE_FROM_OLDEST;
	db_arg a[] = { DBI(room_id), DBI(after > 0 ? after : 0),
		       DBI(before > 0 ? before : INT64_MAX), DBI(limit + 1) };
	db_vec v = { NULL, 0, 0, sizeof(chat_message) };
	chat_err e = db_query(db, asc ? &q_page_asc : &q_page_desc, a, DB_NARGS(a), DB_MSG_COLS,
	                      page_row, &v);
	if (e != CHAT_OK) {
		chat_messages_free(v.v, v.n);
		return e;
	}
	chat_message *m = v.v;
	bool more = v.n > (size_t)limit;
	if (more) {
		chat_message_clear(&m[v.n - 1]); /* the probe row beyond the page */
		v.n--;
	}
	if (!asc) {
		for (size_t i = 0, j = v.n ? v.n - 1 : 0; i < j; i++, j--) {
			chat_message t = m[i];
			m[i] = m[j];
			m[j] = t;
		}
	}
	*out = m;
	*n = v.n;
	*has_more = more;
	return CHAT_OK;
}
