/* Messages: store (with client_id dedupe), read, page, edit, delete. */
#include <stdatomic.h>
#include <stdio.h>
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

/* messages first, then the sender by primary key: with stale statistics
 * the optimizer went users -> messages by sender, scanning every message
 * the sender ever wrote to find a few ids. */
#define MSG_FROM " FROM messages m STRAIGHT_JOIN users u ON u.id = m.sender_id"

DB_SQL(q_msg_by_id_any, "SELECT " DB_MSG_SELECT("m", "u") MSG_FROM " WHERE m.id = ?");
DB_SQL(q_msg_by_id_live,
       "SELECT " DB_MSG_SELECT("m", "u") MSG_FROM " WHERE m.id = ? AND m.deleted_at IS NULL");
DB_SQL(q_msg_by_ids, "SELECT " DB_MSG_SELECT("m", "u") MSG_FROM " WHERE m.id IN (" DB_IDS64 ")");
/* The per-batch reads come in three sizes, 4, 16 and 64 list slots (the
 * unused ones bound to 0, never an id): the optimizer's range analysis of
 * a 64-slot list was 15 % of MariaDB's time with batches of 25 messages. */
#define IDS4 "?,?,?,?"
#define IDS16 IDS4 "," IDS4 "," IDS4 "," IDS4
#define PAIR4 "(?,?),(?,?),(?,?),(?,?)"
#define PAIR16 PAIR4 "," PAIR4 "," PAIR4 "," PAIR4
#define PAIR64 PAIR16 "," PAIR16 "," PAIR16 "," PAIR16
/* The rows of steps 0 to 2 share one shape, so that READ_ALL can join
 * them: three numbers, a name (NULL but for senders), the step. */
#define SHAPE_TYPES "iiisi"
/* Step 1 of a batch: its rooms locked (ascending: the ordering rule),
 * is_private and max_read_id read under the lock. */
#define LOCK_ROOMS(ids)                                                                   \
	"SELECT id, is_private, max_read_id, NULL, 0 FROM rooms WHERE id IN (" ids ") ORDER BY id" \
	" FOR UPDATE"
DB_SQL(q_msg_lock_rooms4, LOCK_ROOMS(IDS4));
DB_SQL(q_msg_lock_rooms16, LOCK_ROOMS(IDS16));
DB_SQL(q_msg_lock_rooms64, LOCK_ROOMS(DB_IDS64));
/* Step 2: which (room, sender) pairs are memberships: point reads of the
 * primary key (a cross product of rooms and senders would make the
 * optimizer weigh rooms x senders ranges). FORCE INDEX: left to weigh
 * ix_room_members_user too, the optimizer spent about 1 ms of CPU on 64
 * pairs; on the primary key alone, about a quarter of that. */
#define MEMBERS(pairs)                                                          \
	"SELECT room_id, user_id, 0, NULL, 2 FROM room_members FORCE INDEX (PRIMARY)" \
	" WHERE (room_id, user_id) IN (" pairs ")"
DB_SQL(q_msg_members4, MEMBERS(PAIR4));
DB_SQL(q_msg_members16, MEMBERS(PAIR16));
DB_SQL(q_msg_members64, MEMBERS(PAIR64));
/* Step 3: the stored messages of (sender, client_id) pairs, any room
 * (the caller keeps those of the right room): a range read of
 * uq_messages_client_room. No row lock needed: every writer of those
 * rows holds the room lock this transaction holds. */
#define CLIENTS(pairs)                                                                              \
	"SELECT id, sender_id, room_id, client_id, created_at >= UTC_TIMESTAMP(3) - " CLIENT_ID_WINDOW \
	", deleted_at IS NOT NULL FROM messages WHERE (sender_id, client_id) IN (" pairs ")"
DB_SQL(q_msg_clients4, CLIENTS(PAIR4));
DB_SQL(q_msg_clients16, CLIENTS(PAIR16));
DB_SQL(q_msg_clients64, CLIENTS(PAIR64));

/* Step 0: the batch's senders, their names (the stored messages are
 * answered with them) and whether they are active (for the messages that
 * ask, check_sender). Not locked, as the per-request lookup it replaces
 * was not. */
#define SENDERS(ids) "SELECT id, is_active, 0, username, 1 FROM users WHERE id IN (" ids ")"
DB_SQL(q_msg_senders4, SENDERS(IDS4));
DB_SQL(q_msg_senders16, SENDERS(IDS16));
DB_SQL(q_msg_senders64, SENDERS(DB_IDS64));

/* Steps 0 to 2 in one statement, when each list fits one (the usual
 * batch): one round trip instead of three. The parts of a UNION run in
 * order: the rooms are locked first, and the reads after them start once
 * the locks are granted, so they see every membership change committed
 * before (as the separate statements after step 1 do). The checks then
 * run in the steps' order (401 before 404). */
#define READ_ALL(ids, pairs) \
	"(" LOCK_ROOMS(ids) ") UNION ALL (" SENDERS(ids) ") UNION ALL (" MEMBERS(pairs) ")"
DB_SQL(q_msg_read_all4, READ_ALL(IDS4, PAIR4));
DB_SQL(q_msg_read_all16, READ_ALL(IDS16, PAIR16));
DB_SQL(q_msg_read_all64, READ_ALL(DB_IDS64, PAIR64));

/* The size (4, 16 or 64) for the next n items of a list, and its index. */
static size_t slots_for(size_t n, int *k)
{
	*k = n <= 4 ? 0 : n <= 16 ? 1 : 2;
	return n <= 4 ? 4 : n <= 16 ? 16 : 64;
}
/* Migration 006: the batch's INSERTs marked for the triggers, which then
 * leave the room's and the sender's counters to the batch (step 5b);
 * @chat_max_read_id, the highest max_read_id of the batch's rooms, keeps
 * 005's read_positions probe for the rare id at or below it. */
DB_SQL(q_msg_counts_mark, "SET @chat_writer_counts = 1, @chat_max_read_id = ?");
DB_SQL(q_msg_counts_unmark, "SET @chat_writer_counts = NULL, @chat_max_read_id = NULL");
/* Step 5b: the counters, once per room and per (room, sender) of the
 * batch. Unused room slots are 0 (never an id); unused counter rows repeat
 * the first row with 0 (a duplicate key that adds nothing). */
#define WHEN4 " WHEN ? THEN ? WHEN ? THEN ? WHEN ? THEN ? WHEN ? THEN ?"
#define WHEN16 WHEN4 WHEN4 WHEN4 WHEN4
#define WHEN64 WHEN16 WHEN16 WHEN16 WHEN16
#define ROOM_COUNTS(whens, ids)                                                               \
	"UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3), message_count = message_count +" \
	" CASE id" whens " ELSE 0 END WHERE id IN (" ids ")"
DB_SQL(q_msg_room_counts4, ROOM_COUNTS(WHEN4, IDS4));
DB_SQL(q_msg_room_counts16, ROOM_COUNTS(WHEN16, IDS16));
DB_SQL(q_msg_room_counts64, ROOM_COUNTS(WHEN64, DB_IDS64));
#define TRIPLE4 "(?,?,?),(?,?,?),(?,?,?),(?,?,?)"
#define TRIPLE16 TRIPLE4 "," TRIPLE4 "," TRIPLE4 "," TRIPLE4
#define TRIPLE64 TRIPLE16 "," TRIPLE16 "," TRIPLE16 "," TRIPLE16
#define SENDER_COUNTS(rows)                                                        \
	"INSERT INTO room_sender_counts (room_id, sender_id, live_count) VALUES " rows \
	" ON DUPLICATE KEY UPDATE live_count = live_count + VALUES(live_count)"
DB_SQL(q_msg_sender_counts4, SENDER_COUNTS(TRIPLE4));
DB_SQL(q_msg_sender_counts16, SENDER_COUNTS(TRIPLE16));
DB_SQL(q_msg_sender_counts64, SENDER_COUNTS(TRIPLE64));
DB_SQL(q_msg_client_clear, "UPDATE messages SET client_id = NULL WHERE id = ?");
/* Not INSERT IGNORE: that would also hide a missing user, and its BEFORE
 * trigger would touch the room row for nothing. */
DB_SQL(q_msg_member, "INSERT INTO room_members (room_id, user_id, role, joined_at) "
                     "VALUES (?, ?, 'member', UTC_TIMESTAMP(3))");
/* Step 5: the new messages, one statement per power of two in the count
 * (a batch of up to 256 in at most 8 statements, usually 2-4; a statement
 * per message count would need 256 prepared statements per connection).
 * RETURNING hands back each row's id and time, in row order: no id
 * arithmetic, no reading back. All the batch's rooms are locked
 * already, so a statement spanning rooms keeps the ordering rule. */
#define INS_HEAD "INSERT INTO messages (room_id, sender_id, content, message_type, client_id, " \
                 "created_at) VALUES "
/* Only what the database decides comes back: the rest of each message is
 * what was sent, and the sender's name was read in step 0 (sending every
 * row back, with a subquery for the name, was 12 % of MariaDB's time). */
#define INS_RET " RETURNING id, created_at"
#define INS1 "(?, ?, ?, ?, ?, UTC_TIMESTAMP(3))"
#define INS2 INS1 "," INS1
#define INS4 INS2 "," INS2
#define INS8 INS4 "," INS4
#define INS16 INS8 "," INS8
#define INS32 INS16 "," INS16
#define INS64 INS32 "," INS32
#define INS128 INS64 "," INS64
#define INS_ROWS_MAX 256
DB_SQL(q_msg_insert1, INS_HEAD INS1 INS_RET);
DB_SQL(q_msg_insert2, INS_HEAD INS2 INS_RET);
DB_SQL(q_msg_insert4, INS_HEAD INS4 INS_RET);
DB_SQL(q_msg_insert8, INS_HEAD INS8 INS_RET);
DB_SQL(q_msg_insert16, INS_HEAD INS16 INS_RET);
DB_SQL(q_msg_insert32, INS_HEAD INS32 INS_RET);
DB_SQL(q_msg_insert64, INS_HEAD INS64 INS_RET);
DB_SQL(q_msg_insert128, INS_HEAD INS128 INS_RET);
DB_SQL(q_msg_insert256, INS_HEAD INS128 "," INS128 INS_RET);
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

/* ---- storing a batch ---------------------------------------------------
 *
 * One transaction, a fixed number of statements per batch rather than per
 * message (the rooms of 64 messages locked by one statement, their
 * memberships read by one, their client_ids by one, the new messages by
 * one INSERT per power of two in their count, which also returns them;
 * steps 0 to 2 are one statement when each list fits 64, READ_ALL):
 *
 * 0. read the senders' names and which are active; when a message asks
 *    (check_sender), one that does not exist or is not active refuses the
 *    batch (CHAT_ERR_AUTH);
 * 1. lock every room of the batch, ascending (the ordering rule), reading
 *    is_private under that lock;
 * 2. read which senders are members; a non-member of a private room is
 *    refused (CHAT_ERR_NOT_FOUND: the room is not visible to it), retries
 *    included;
 * 3. find the client_ids already stored for (sender, room): a live one
 *    within the window answers the retry, a deleted one refuses it
 *    (CHAT_ERR_GONE: its content is gone), an older one frees the key;
 * 4. make the senders of new messages in public rooms members;
 * 5. insert the new messages, in batch order, returning their ids and
 *    times;
 * 6. read the stored messages that retries name.
 * Membership and is_private change only under the room lock, which this
 * transaction holds from step 1 to its commit. */

typedef struct room_st {
	int64_t id;
	bool found, is_private;
	int64_t added; /* messages the batch stores in the room */
} room_st;

typedef struct pair_st {
	int64_t room, user;
	bool member, needs_join;
	int64_t added; /* messages the batch stores from this sender in this room */
} pair_st;

typedef struct batch_st {
	const chat_new_message *in;
	size_t n;
	chat_message *results;
	bool *created;
	room_st *rooms;
	size_t n_rooms;
	pair_st *pairs;
	size_t n_pairs;
	int64_t *users;
	bool *active; /* per user: exists and is active (step 0) */
	char (*names)[CHAT_USERNAME_BUF]; /* per user: the name (step 0) */
	size_t n_users;
	size_t *cids; /* indexes of messages with a client_id, by (sender, room, cid, index) */
	size_t n_cids;
	size_t *lead; /* per message: the first of the batch with its client_id (or itself) */
	int64_t *hit_id; /* per message: the stored message its client_id names (0: none) */
	signed char *hit_state; /* 0 none, 1 live in the window, 2 deleted in the window, 3 older */
	int64_t max_read; /* the highest rooms.max_read_id of the batch's rooms */
	bool counts; /* the batch keeps the counters (migration 006) */
	bool marked; /* @chat_writer_counts set on the connection */
} batch_st;

static const char *cid_of(const chat_new_message *m)
{
	return m->client_id && m->client_id[0] ? m->client_id : NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int cmp_room(const void *a, const void *b)
{
	return cmp_i64(&((const room_st *)a)->id, &((const room_st *)b)->id);
}

static int cmp_pair(const void *a, const void *b)
{
	const pair_st *x = a, *y = b;
	int c = cmp_i64(&x->room, &y->room);
	return c ? c : cmp_i64(&x->user, &y->user);
}

/* qsort has no context argument; per thread, as the relay runs several
 * writer threads (a shared one let one batch sort with another's array) */
static _Thread_local const chat_new_message *g_sort_in;

/* (sender, room, client_id) of two messages that both have a client_id. */
static int cmp_triple(const chat_new_message *x, const chat_new_message *y)
{
	int c = cmp_i64(&x->sender_id, &y->sender_id);
	if (!c)
		c = cmp_i64(&x->room_id, &y->room_id);
	return c ? c : strcmp(cid_of(x), cid_of(y));
}

/* By triple, then batch order. */
static int cmp_cid(const void *a, const void *b)
{
	size_t i = *(const size_t *)a, k = *(const size_t *)b;
	int c = cmp_triple(&g_sort_in[i], &g_sort_in[k]);
	return c ? c : (i > k) - (i < k);
}

static room_st *room_find(batch_st *b, int64_t id)
{
	room_st key = { id, false, false, 0 };
	return bsearch(&key, b->rooms, b->n_rooms, sizeof(key), cmp_room);
}

static pair_st *pair_find(batch_st *b, int64_t room, int64_t user)
{
	pair_st key = { room, user, false, false, 0 };
	return bsearch(&key, b->pairs, b->n_pairs, sizeof(key), cmp_pair);
}

/* Sorted distinct rooms, (room, sender) pairs and senders of the batch. */
static chat_err batch_index(batch_st *b)
{
	size_t n = b->n;
	b->rooms = calloc(n, sizeof(*b->rooms));
	b->pairs = calloc(n, sizeof(*b->pairs));
	b->users = calloc(n, sizeof(*b->users));
	b->active = calloc(n, sizeof(*b->active));
	b->names = calloc(n, sizeof(*b->names));
	b->cids = calloc(n, sizeof(*b->cids));
	b->lead = calloc(n, sizeof(*b->lead));
	b->hit_id = calloc(n, sizeof(*b->hit_id));
	b->hit_state = calloc(n, sizeof(*b->hit_state));
	if (!b->rooms || !b->pairs || !b->users || !b->active || !b->names || !b->cids || !b->lead ||
	    !b->hit_id || !b->hit_state)
		return CHAT_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		b->lead[i] = i;
		b->rooms[i].id = b->in[i].room_id;
		b->pairs[i].room = b->in[i].room_id;
		b->pairs[i].user = b->in[i].sender_id;
		b->users[i] = b->in[i].sender_id;
		if (cid_of(&b->in[i]))
			b->cids[b->n_cids++] = i;
	}
	qsort(b->rooms, n, sizeof(*b->rooms), cmp_room);
	qsort(b->pairs, n, sizeof(*b->pairs), cmp_pair);
	qsort(b->users, n, sizeof(*b->users), cmp_i64);
	b->n_rooms = b->n_pairs = b->n_users = 0;
	for (size_t i = 0; i < n; i++) {
		if (!b->n_rooms || b->rooms[b->n_rooms - 1].id != b->rooms[i].id)
			b->rooms[b->n_rooms++] = b->rooms[i];
		if (!b->n_pairs || cmp_pair(&b->pairs[b->n_pairs - 1], &b->pairs[i]))
			b->pairs[b->n_pairs++] = b->pairs[i];
		if (!b->n_users || b->users[b->n_users - 1] != b->users[i])
			b->users[b->n_users++] = b->users[i];
	}
	g_sort_in = b->in;
	qsort(b->cids, b->n_cids, sizeof(*b->cids), cmp_cid);
	g_sort_in = NULL;
	for (size_t k = 1; k < b->n_cids; k++) {
		size_t prev = b->cids[k - 1], i = b->cids[k];
		if (cmp_triple(&b->in[prev], &b->in[i]) == 0)
			b->lead[i] = b->lead[prev];
	}
	return CHAT_OK;
}

static void batch_free(batch_st *b)
{
	free(b->rooms);
	free(b->pairs);
	free(b->users);
	free(b->active);
	free(b->names);
	free(b->cids);
	free(b->lead);
	free(b->hit_id);
	free(b->hit_state);
}

static chat_err sender_row(void *ctx, const db_row *r)
{
	batch_st *b = ctx;
	int64_t id = db_int(r, 0);
	int64_t *u = bsearch(&id, b->users, b->n_users, sizeof(id), cmp_i64);
	if (u) {
		db_copy(r, 3, b->names[u - b->users], sizeof(b->names[0]));
		b->active[u - b->users] = db_int(r, 1) != 0;
	}
	return CHAT_OK;
}

/* Step 0's check: when a message asks (check_sender), its sender exists
 * and is active. */
static chat_err check_senders(const batch_st *b)
{
	for (size_t i = 0; i < b->n; i++) {
		if (!b->in[i].check_sender)
			continue;
		int64_t *u = bsearch(&b->in[i].sender_id, b->users, b->n_users, sizeof(int64_t),
		                     cmp_i64);
		if (!u || !b->active[u - b->users])
			return CHAT_ERR_AUTH;
	}
	return CHAT_OK;
}

/* Step 0: first, so that an unknown or inactive sender is refused before
 * its room is looked at (401 comes before 404), when a message asks. */
static chat_err read_senders(chat_db *db, batch_st *b)
{
	static db_sql *const q[] = { &q_msg_senders4, &q_msg_senders16, &q_msg_senders64 };
	for (size_t off = 0; off < b->n_users; off += 64) {
		db_arg a[64];
		int v;
		size_t slots = slots_for(b->n_users - off, &v);
		for (size_t k = 0; k < slots; k++)
			a[k] = DBI(off + k < b->n_users ? b->users[off + k] : 0);
		chat_err e = db_query(db, q[v], a, slots, SHAPE_TYPES, sender_row, b);
		if (e != CHAT_OK)
			return e;
	}
	return check_senders(b);
}

static chat_err lock_row(void *ctx, const db_row *r)
{
	batch_st *b = ctx;
	room_st *rs = room_find(b, db_int(r, 0));
	if (rs) {
		rs->found = true;
		rs->is_private = db_int(r, 1) != 0;
		if (db_int(r, 2) > b->max_read)
			b->max_read = db_int(r, 2);
	}
	return CHAT_OK;
}

/* Step 1's check: every room exists. */
static chat_err check_rooms(const batch_st *b)
{
	for (size_t i = 0; i < b->n_rooms; i++)
		if (!b->rooms[i].found)
			return CHAT_ERR_NOT_FOUND;
	return CHAT_OK;
}

/* Step 1. Chunks in ascending order, each locked in ascending id order. */
static chat_err lock_rooms(chat_db *db, batch_st *b)
{
	static db_sql *const q[] = { &q_msg_lock_rooms4, &q_msg_lock_rooms16, &q_msg_lock_rooms64 };
	for (size_t off = 0; off < b->n_rooms; off += 64) {
		db_arg a[64];
		int v;
		size_t slots = slots_for(b->n_rooms - off, &v);
		for (size_t k = 0; k < slots; k++)
			a[k] = DBI(off + k < b->n_rooms ? b->rooms[off + k].id : 0);
		chat_err e = db_query(db, q[v], a, slots, SHAPE_TYPES, lock_row, b);
		if (e != CHAT_OK)
			return e;
	}
	return check_rooms(b);
}

static chat_err member_row(void *ctx, const db_row *r)
{
	pair_st *p = pair_find(ctx, db_int(r, 0), db_int(r, 1));
	if (p)
		p->member = true;
	return CHAT_OK;
}

/* Step 2's check: never a member of a private room implicitly. */
static chat_err check_members(batch_st *b)
{
	for (size_t i = 0; i < b->n_pairs; i++) {
		pair_st *p = &b->pairs[i];
		if (!p->member && room_find(b, p->room)->is_private)
			return CHAT_ERR_NOT_FOUND;
	}
	return CHAT_OK;
}

/* Step 2: up to 64 (room, sender) pairs per query (usually one). */
static chat_err read_members(chat_db *db, batch_st *b)
{
	static db_sql *const q[] = { &q_msg_members4, &q_msg_members16, &q_msg_members64 };
	for (size_t off = 0; off < b->n_pairs; off += 64) {
		db_arg a[128];
		int v;
		size_t slots = slots_for(b->n_pairs - off, &v);
		for (size_t k = 0; k < slots; k++) {
			const pair_st *p = off + k < b->n_pairs ? &b->pairs[off + k] : NULL;
			a[2 * k] = DBI(p ? p->room : 0);
			a[2 * k + 1] = DBI(p ? p->user : 0);
		}
		chat_err e = db_query(db, q[v], a, 2 * slots, SHAPE_TYPES, member_row, b);
		if (e != CHAT_OK)
			return e;
	}
	return check_members(b);
}

/* A row of READ_ALL: its last column says which part. */
static chat_err read_all_row(void *ctx, const db_row *r)
{
	switch (db_int(r, 4)) {
	case 0:
		return lock_row(ctx, r);
	case 1:
		return sender_row(ctx, r);
	default:
		return member_row(ctx, r);
	}
}

/* Steps 0 to 2: one statement when every list fits 64, else one step
 * after the other. */
static chat_err read_and_lock(chat_db *db, batch_st *b)
{
	if (b->n_pairs > 64) { /* rooms and senders are never more than pairs */
		chat_err e = read_senders(db, b);
		if (e == CHAT_OK)
			e = lock_rooms(db, b);
		return e == CHAT_OK ? read_members(db, b) : e;
	}
	static db_sql *const q[] = { &q_msg_read_all4, &q_msg_read_all16, &q_msg_read_all64 };
	db_arg a[256];
	int v;
	size_t slots = slots_for(b->n_pairs, &v);
	for (size_t k = 0; k < slots; k++) {
		a[k] = DBI(k < b->n_rooms ? b->rooms[k].id : 0);
		a[slots + k] = DBI(k < b->n_users ? b->users[k] : 0);
		a[2 * slots + 2 * k] = DBI(k < b->n_pairs ? b->pairs[k].room : 0);
		a[2 * slots + 2 * k + 1] = DBI(k < b->n_pairs ? b->pairs[k].user : 0);
	}
	chat_err e = db_query(db, q[v], a, 4 * slots, SHAPE_TYPES, read_all_row, b);
	if (e == CHAT_OK)
		e = check_senders(b);
	if (e == CHAT_OK)
		e = check_rooms(b);
	return e == CHAT_OK ? check_members(b) : e;
}

static chat_err cid_row(void *ctx, const db_row *r)
{
	batch_st *b = ctx;
	chat_new_message key = { .room_id = db_int(r, 2), .sender_id = db_int(r, 1),
		                 .client_id = db_str(r, 3) };
	if (!key.client_id[0])
		return CHAT_OK; /* '' by hand-written SQL: never asked for */
	/* The first batch message with this (sender, room, client_id). */
	size_t lo = 0, hi = b->n_cids;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (cmp_triple(&b->in[b->cids[mid]], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == b->n_cids || cmp_triple(&b->in[b->cids[lo]], &key) != 0)
		return CHAT_OK; /* the same client_id of this sender in another room */
	size_t i = b->cids[lo];
	b->hit_id[i] = db_int(r, 0);
	b->hit_state[i] = db_int(r, 4) == 0 ? 3 : db_int(r, 5) ? 2 : 1;
	return CHAT_OK;
}

/* Step 3: up to 64 (sender, client_id) pairs per query, on
 * uq_messages_client_room. */
static chat_err read_client_ids(chat_db *db, batch_st *b)
{
	static db_sql *const q[] = { &q_msg_clients4, &q_msg_clients16, &q_msg_clients64 };
	for (size_t off = 0; off < b->n_cids; off += 64) {
		db_arg a[128];
		int v;
		size_t slots = slots_for(b->n_cids - off, &v);
		for (size_t k = 0; k < slots; k++) {
			const chat_new_message *m = off + k < b->n_cids ? &b->in[b->cids[off + k]] : NULL;
			a[2 * k] = DBI(m ? m->sender_id : 0);
			a[2 * k + 1] = DBS(m ? cid_of(m) : "");
		}
		chat_err e = db_query(db, q[v], a, 2 * slots, "iiisii", cid_row, b);
		if (e != CHAT_OK)
			return e;
	}
	return CHAT_OK;
}

/* Steps 3 (decisions) and 4: which messages are new, and who joins. */
static chat_err plan(chat_db *db, batch_st *b)
{
	for (size_t i = 0; i < b->n; i++) {
		if (b->lead[i] != i)
			continue; /* follows the first of the batch with its client_id */
		if (b->hit_state[i] == 2)
			return CHAT_ERR_GONE;
		if (b->hit_state[i] == 3) {
			/* Older than the window: the key is free again. */
			db_arg a[] = { DBI(b->hit_id[i]) };
			chat_err e = db_exec(db, &q_msg_client_clear, a, DB_NARGS(a), NULL, NULL);
			if (e != CHAT_OK)
				return e;
			b->hit_state[i] = 0;
			b->hit_id[i] = 0;
		}
	}
	for (size_t i = 0; i < b->n; i++) {
		if (b->hit_state[b->lead[i]] == 1)
			continue; /* a retry: stores nothing, joins nobody */
		pair_st *p = pair_find(b, b->in[i].room_id, b->in[i].sender_id);
		if (!p->member)
			p->needs_join = true;
	}
	for (size_t i = 0; i < b->n_pairs; i++) {
		if (!b->pairs[i].needs_join)
			continue;
		/* Not INSERT IGNORE: that would also hide a missing user. */
		db_arg a[] = { DBI(b->pairs[i].room), DBI(b->pairs[i].user) };
		chat_err e = db_exec(db, &q_msg_member, a, DB_NARGS(a), NULL, NULL);
		if (e != CHAT_OK)
			return e;
	}
	return CHAT_OK;
}

typedef struct ins_ctx {
	batch_st *b;
	const size_t *idx; /* the batch index of each row of the statement */
	size_t rows, got;
	int64_t last_id;
} ins_ctx;

/* A row returned by the INSERT (id, created_at): the next of the
 * statement's messages, the rest of it as sent. Ids not ascending would
 * mean rows returned in another order than sent: an error, never a wrong
 * answer. */
static chat_err ins_row(void *ctx, const db_row *r)
{
	ins_ctx *c = ctx;
	if (c->got == c->rows)
		return CHAT_ERR_INTERNAL;
	size_t i = c->idx[c->got++];
	const chat_new_message *in = &c->b->in[i];
	chat_message *m = &c->b->results[i];
	memset(m, 0, sizeof(*m));
	m->id = db_int(r, 0);
	m->created_ms = db_ms(r, 1);
	if (m->id <= c->last_id)
		return CHAT_ERR_INTERNAL;
	c->last_id = m->id;
	m->room_id = in->room_id;
	m->sender.id = in->sender_id;
	int64_t *u = bsearch(&in->sender_id, c->b->users, c->b->n_users, sizeof(int64_t), cmp_i64);
	if (u)
		snprintf(m->sender.username, sizeof(m->sender.username), "%s", c->b->names[u - c->b->users]);
	m->content = strdup(in->content ? in->content : "");
	if (!m->content)
		return CHAT_ERR_NOMEM;
	snprintf(m->message_type, sizeof(m->message_type), "%s",
	         in->message_type && in->message_type[0] ? in->message_type : "text");
	const char *cid = cid_of(in);
	snprintf(m->client_id, sizeof(m->client_id), "%s", cid ? cid : "");
	c->b->created[i] = true;
	return CHAT_OK;
}

/* Step 5, in batch order: the new messages (one statement per power of
 * two, largest first), then the repeats, which take the id of the
 * message they repeat. */
static chat_err insert_new(chat_db *db, batch_st *b)
{
	static db_sql *const by_rows[] = { &q_msg_insert256, &q_msg_insert128, &q_msg_insert64,
		                           &q_msg_insert32,  &q_msg_insert16,  &q_msg_insert8,
		                           &q_msg_insert4,   &q_msg_insert2,   &q_msg_insert1 };
	size_t *todo = malloc(b->n * sizeof(*todo));
	db_arg *a = malloc(INS_ROWS_MAX * 5 * sizeof(*a));
	chat_err e = todo && a ? CHAT_OK : CHAT_ERR_NOMEM;
	size_t n_todo = 0;
	for (size_t i = 0; e == CHAT_OK && i < b->n; i++)
		if (b->lead[i] == i && b->hit_state[i] == 0)
			todo[n_todo++] = i;
	for (size_t k = 0; e == CHAT_OK && k < n_todo;) {
		size_t rows = INS_ROWS_MAX, v = 0;
		while (rows > n_todo - k) {
			rows /= 2;
			v++;
		}
		for (size_t r = 0; r < rows; r++) {
			const chat_new_message *in = &b->in[todo[k + r]];
			a[5 * r] = DBI(in->room_id);
			a[5 * r + 1] = DBI(in->sender_id);
			a[5 * r + 2] = DBS(in->content ? in->content : "");
			a[5 * r + 3] = DBS(in->message_type && in->message_type[0] ? in->message_type
			                                                          : "text");
			a[5 * r + 4] = DBS(cid_of(in));
		}
		ins_ctx c = { b, todo + k, rows, 0, 0 };
		e = db_query(db, by_rows[v], a, rows * 5, "it", ins_row, &c);
		if (e == CHAT_OK && c.got != rows)
			e = CHAT_ERR_INTERNAL;
		k += rows;
	}
	free(todo);
	free(a);
	if (e != CHAT_OK)
		return e;
	for (size_t i = 0; i < b->n; i++) {
		size_t lead = b->lead[i];
		if (b->hit_state[lead] == 1)
			b->results[i].id = b->hit_id[lead];
	}
	return CHAT_OK;
}

/* Whether the database's triggers leave the counters of marked INSERTs
 * to the batch (migration 006 applied). Asked once per process: with an
 * older schema the batch must not count too (every message would count
 * twice); 006 is applied with the writers stopped, like 005. */
static atomic_int g_writer_counts = -1; /* -1 not known yet, 0 no, 1 yes */

static chat_err writer_counts(chat_db *db, bool *yes)
{
	int k = atomic_load(&g_writer_counts);
	if (k < 0) {
		int v = 0;
		chat_err e = chat_dal_schema_version(db, &v);
		if (e != CHAT_OK)
			return e;
		k = v >= 6;
		atomic_store(&g_writer_counts, k);
	}
	*yes = k == 1;
	return CHAT_OK;
}

/* Before step 5: the INSERTs that follow are the batch's (migration 006). */
static chat_err counts_mark(chat_db *db, batch_st *b)
{
	chat_err e = writer_counts(db, &b->counts);
	if (e != CHAT_OK || !b->counts)
		return e;
	db_arg a[] = { DBI(b->max_read) };
	e = db_exec(db, &q_msg_counts_mark, a, DB_NARGS(a), NULL, NULL);
	if (e == CHAT_OK)
		b->marked = true;
	return e;
}

static chat_err counts_unmark(chat_db *db, batch_st *b)
{
	if (!b->marked)
		return CHAT_OK;
	chat_err e = db_exec(db, &q_msg_counts_unmark, NULL, 0, NULL, NULL);
	if (e == CHAT_OK)
		b->marked = false;
	return e;
}

/* Step 5b: what the triggers left out for the marked INSERTs, in the
 * same transaction and under the same room locks: the rooms'
 * message_count (and last_event_at), the senders' live counts. Every
 * message the batch stores is live. */
static chat_err store_counts(chat_db *db, batch_st *b)
{
	chat_err e = counts_unmark(db, b);
	if (e != CHAT_OK || !b->counts)
		return e;
	for (size_t i = 0; i < b->n; i++) {
		if (!b->created[i])
			continue;
		room_find(b, b->in[i].room_id)->added++;
		pair_find(b, b->in[i].room_id, b->in[i].sender_id)->added++;
	}
	static db_sql *const qr[] = { &q_msg_room_counts4, &q_msg_room_counts16,
		                      &q_msg_room_counts64 };
	static db_sql *const qs[] = { &q_msg_sender_counts4, &q_msg_sender_counts16,
		                      &q_msg_sender_counts64 };
	db_arg a[192];
	room_st *rooms = calloc(b->n_rooms, sizeof(*rooms));
	pair_st *pairs = calloc(b->n_pairs, sizeof(*pairs));
	size_t nr = 0, np = 0;
	if (!rooms || !pairs)
		e = CHAT_ERR_NOMEM;
	for (size_t i = 0; e == CHAT_OK && i < b->n_rooms; i++)
		if (b->rooms[i].added)
			rooms[nr++] = b->rooms[i];
	for (size_t i = 0; e == CHAT_OK && i < b->n_pairs; i++)
		if (b->pairs[i].added)
			pairs[np++] = b->pairs[i];
	for (size_t off = 0; e == CHAT_OK && off < nr; off += 64) {
		int v;
		size_t slots = slots_for(nr - off, &v);
		for (size_t k = 0; k < slots; k++) {
			const room_st *r = off + k < nr ? &rooms[off + k] : NULL;
			a[2 * k] = DBI(r ? r->id : 0);
			a[2 * k + 1] = DBI(r ? r->added : 0);
			a[2 * slots + k] = DBI(r ? r->id : 0);
		}
		e = db_exec(db, qr[v], a, 3 * slots, NULL, NULL);
	}
	for (size_t off = 0; e == CHAT_OK && off < np; off += 64) {
		int v;
		size_t slots = slots_for(np - off, &v);
		for (size_t k = 0; k < slots; k++) {
			bool pad = off + k >= np;
			const pair_st *p = &pairs[pad ? off : off + k];
			a[3 * k] = DBI(p->room);
			a[3 * k + 1] = DBI(p->user);
			a[3 * k + 2] = DBI(pad ? 0 : p->added);
		}
		e = db_exec(db, qs[v], a, 3 * slots, NULL, NULL);
	}
	free(rooms);
	free(pairs);
	return e;
}

/* A later message of the batch with its lead's client_id: a copy of the
 * lead's stored message. */
static chat_err copy_repeats(batch_st *b)
{
	for (size_t i = 0; i < b->n; i++) {
		size_t lead = b->lead[i];
		if (lead == i || !b->created[lead])
			continue;
		chat_message *dst = &b->results[i];
		*dst = b->results[lead];
		dst->content = strdup(b->results[lead].content);
		if (!dst->content)
			return CHAT_ERR_NOMEM;
	}
	return CHAT_OK;
}

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

/* A row of q_msg_by_ids into every result slot with that id still
 * empty (a batch may name one stored message twice). */
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

/* Step 6: fill the results that have an id but no message yet (the
 * stored messages retries name), 64 ids per query. */
static chat_err load_results(chat_db *db, chat_message *results, size_t n)
{
	size_t i = 0;
	for (;;) {
		db_arg a[64];
		size_t m = 0;
		for (; i < n && m < 64; i++)
			if (results[i].id && !results[i].content)
				a[m++] = DBI(results[i].id);
		if (m == 0)
			break;
		for (size_t k = m; k < 64; k++)
			a[k] = DBI(0);
		fill_ctx c = { results, n };
		chat_err e = db_query(db, &q_msg_by_ids, a, 64, DB_MSG_COLS, fill_row, &c);
		if (e != CHAT_OK)
			return e;
	}
	for (size_t k = 0; k < n; k++)
		if (!results[k].content)
			return CHAT_ERR_INTERNAL; /* stored a moment ago: cannot be */
	return CHAT_OK;
}

typedef struct batch_args {
	const chat_new_message *in;
	size_t n;
	chat_message *results;
	bool *created;
} batch_args;

static chat_err batch_txn(chat_db *db, void *arg)
{
	batch_args *a = arg;
	clear_results(a->results, a->created, a->n); /* a retried round starts clean */
	batch_st b;
	memset(&b, 0, sizeof(b));
	b.in = a->in;
	b.n = a->n;
	b.results = a->results;
	b.created = a->created;
	chat_err e = batch_index(&b);
	if (e == CHAT_OK)
		e = read_and_lock(db, &b);
	if (e == CHAT_OK)
		e = read_client_ids(db, &b);
	if (e == CHAT_OK)
		e = plan(db, &b);
	if (e == CHAT_OK)
		e = counts_mark(db, &b);
	if (e == CHAT_OK)
		e = insert_new(db, &b);
	if (e == CHAT_OK)
		e = store_counts(db, &b);
	if (b.marked)
		(void)counts_unmark(db, &b); /* failed on the way: leave nothing set */
	if (e == CHAT_OK)
		e = copy_repeats(&b);
	if (e == CHAT_OK)
		e = load_results(db, b.results, b.n);
	batch_free(&b);
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
	int64_t actor; /* 0: no access check */
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
	/* Room first, then the message row; the actor's access is decided
	 * again under that lock (the room may have turned private). */
	bool member = false;
	e = c->actor ? db_room_lock_access(db, room_id, c->actor, &member) : db_room_lock(db, room_id);
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
	return chat_dal_message_edit_by(db, id, 0, content, out);
}

chat_err chat_dal_message_edit_by(chat_db *db, int64_t id, int64_t actor, const char *content,
                                  chat_message *out)
{
	chat_message tmp;
	memset(&tmp, 0, sizeof(tmp));
	change_args c = { id, actor, content ? content : "", &tmp };
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
	return chat_dal_message_delete_by(db, id, 0);
}

chat_err chat_dal_message_delete_by(chat_db *db, int64_t id, int64_t actor)
{
	change_args c = { id, actor, NULL, NULL };
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
