/* Presence: relay instances and their live connections. Every removal
 * takes the room lock before the presence row, like every other writer,
 * so the triggers' first/last counts are serialized per room. */
#include <stdlib.h>
#include <string.h>

#include "chat_dal.h"
#include "db_internal.h"

DB_SQL(q_inst_insert, "INSERT INTO relay_instances (hostname, pid, started_at, heartbeat_at) "
                      "VALUES (?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))");
DB_SQL(q_inst_heartbeat, "UPDATE relay_instances SET heartbeat_at = UTC_TIMESTAMP(3) "
                         "WHERE id = ?");
DB_SQL(q_inst_stale, "SELECT id FROM relay_instances "
                     "WHERE heartbeat_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND ORDER BY id");
DB_SQL(q_inst_rows, "SELECT id FROM presence WHERE instance_id = ? ORDER BY room_id, id");
DB_SQL(q_inst_lock, "SELECT id FROM relay_instances WHERE id = ? FOR UPDATE");
DB_SQL(q_inst_left, "SELECT COUNT(*) FROM presence WHERE instance_id = ?");
DB_SQL(q_inst_delete, "DELETE FROM relay_instances WHERE id = ?");
/* A batch's rooms locked by one statement (a range scan of the primary
 * key: ascending id, the order every writer locks in); unused slots 0. */
DB_SQL(q_pres_lock_rooms, "UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3) "
                          "WHERE id IN (" DB_IDS64 ")");
/* Migration 008: the batch's INSERTs marked, its rooms being locked
 * already, so the BEFORE trigger does not lock each row's room again. */
DB_SQL(q_pres_mark, "SET @chat_rooms_locked = 1");
DB_SQL(q_pres_unmark, "SET @chat_rooms_locked = NULL");
/* A batch's rows by statements of 64, 16, 4 and 1 rows, each id returned
 * in the order of the VALUES (the triggers still run per row). */
#define PRES_INS "INSERT INTO presence (instance_id, room_id, user_id, connected_at) VALUES "
#define PRES_R1 "(?, ?, ?, UTC_TIMESTAMP(3))"
#define PRES_R4 PRES_R1 "," PRES_R1 "," PRES_R1 "," PRES_R1
#define PRES_R16 PRES_R4 "," PRES_R4 "," PRES_R4 "," PRES_R4
#define PRES_R64 PRES_R16 "," PRES_R16 "," PRES_R16 "," PRES_R16
DB_SQL(q_pres_insert1, PRES_INS PRES_R1 " RETURNING id");
DB_SQL(q_pres_insert4, PRES_INS PRES_R4 " RETURNING id");
DB_SQL(q_pres_insert16, PRES_INS PRES_R16 " RETURNING id");
DB_SQL(q_pres_insert64, PRES_INS PRES_R64 " RETURNING id");
/* A closing batch's rows: their rooms, then the rows, 64 ids a statement. */
DB_SQL(q_pres_rooms, "SELECT id, room_id FROM presence WHERE id IN (" DB_IDS64 ")");
DB_SQL(q_pres_delete, "DELETE FROM presence WHERE id IN (" DB_IDS64 ")");
/* Grouped in ix_presence_room_user's order (no temporary table, no sort;
 * a loose scan when a room has many connections per user), each name by
 * primary key: driven by the room's presence rows whatever the size of
 * users (a join let the optimizer scan a small users table instead). */
DB_SQL(q_pres_online, "SELECT p.user_id, (SELECT u.username FROM users u WHERE u.id = p.user_id)"
                      " FROM presence p WHERE p.room_id = ? GROUP BY p.user_id ORDER BY p.user_id");
/* The same for up to 64 rooms (unused slots 0). */
DB_SQL(q_pres_online_rooms, "SELECT p.room_id, p.user_id,"
                            " (SELECT u.username FROM users u WHERE u.id = p.user_id)"
                            " FROM presence p WHERE p.room_id IN (" DB_IDS64 ")"
                            " GROUP BY p.room_id, p.user_id ORDER BY p.room_id, p.user_id");

chat_err chat_dal_instance_register(chat_db *db, const char *hostname, long pid,
                                    int64_t *instance_id)
{
	db_arg a[] = { DBS(hostname ? hostname : ""), DBI(pid) };
	return db_exec(db, &q_inst_insert, a, DB_NARGS(a), NULL, instance_id);
}

chat_err chat_dal_instance_heartbeat(chat_db *db, int64_t instance_id)
{
	db_arg a[] = { DBI(instance_id) };
	uint64_t found = 0;
	chat_err e = db_exec(db, &q_inst_heartbeat, a, DB_NARGS(a), &found, NULL);
	if (e == CHAT_OK && found == 0)
		e = CHAT_ERR_NOT_FOUND; /* reaped: register again */
	return e;
}

/* 64 ids a statement (unused slots 0, never an id). */
static chat_err by_ids64(chat_db *db, db_sql *q, const int64_t *ids, size_t n,
                         const char *cols, db_row_fn fn, void *ctx, uint64_t *affected)
{
	if (affected)
		*affected = 0;
	for (size_t off = 0; off < n; off += 64) {
		db_arg a[64];
		for (size_t x = 0; x < 64; x++)
			a[x] = DBI(off + x < n ? ids[off + x] : 0);
		uint64_t found = 0;
		chat_err e = cols ? db_query(db, q, a, 64, cols, fn, ctx)
		                  : db_exec(db, q, a, 64, &found, NULL);
		if (e != CHAT_OK)
			return e;
		if (affected)
			*affected += found;
	}
	return CHAT_OK;
}

/* Lock the distinct rooms of rooms[0..n) (sorted in place; 0 = none) in
 * ascending id order, like every writer: concurrent batches queue instead
 * of deadlocking; 64 a statement. Then mark the connection: the presence
 * rows that follow are written under those locks, and the triggers leave
 * the rooms alone (migrations 008, 009). *distinct and *found: the rooms
 * asked for and those that exist. */
static chat_err lock_and_mark(chat_db *db, int64_t *rooms, size_t n, size_t *distinct,
                              uint64_t *found)
{
	size_t nr = 0;
	for (size_t i = 1; i < n; i++) /* insertion sort: batches are small */
		for (size_t k = i; k > 0 && rooms[k - 1] > rooms[k]; k--) {
			int64_t t = rooms[k];
			rooms[k] = rooms[k - 1];
			rooms[k - 1] = t;
		}
	for (size_t i = 0; i < n; i++)
		if (rooms[i] && (!nr || rooms[nr - 1] != rooms[i]))
			rooms[nr++] = rooms[i];
	*distinct = nr;
	chat_err e = by_ids64(db, &q_pres_lock_rooms, rooms, nr, NULL, NULL, NULL, found);
	return e != CHAT_OK ? e : db_exec(db, &q_pres_mark, NULL, 0, NULL, NULL);
}

typedef struct add_args {
	int64_t instance_id;
	const chat_presence_req *req;
	size_t n;
	int64_t *ids;
	size_t *order; /* req indices sorted by room */
} add_args;

typedef struct ids_ctx {
	int64_t *ids;
	size_t n, max;
} ids_ctx;

static chat_err returned_id(void *ctx, const db_row *r)
{
	ids_ctx *c = ctx;
	if (c->n >= c->max)
		return CHAT_ERR_INTERNAL;
	c->ids[c->n++] = db_int(r, 0);
	return CHAT_OK;
}

/* The rows, in room order, by multi-row INSERTs (the rooms are locked). */
static chat_err add_rows(chat_db *db, add_args *p)
{
	db_arg a[64 * 3];
	for (size_t k = 0; k < p->n;) {
		size_t left = p->n - k;
		size_t m = left >= 64 ? 64 : left >= 16 ? 16 : left >= 4 ? 4 : 1;
		db_sql *q = m == 64 ? &q_pres_insert64 : m == 16 ? &q_pres_insert16
		            : m == 4 ? &q_pres_insert4 : &q_pres_insert1;
		int64_t got[64];
		for (size_t x = 0; x < m; x++) {
			const chat_presence_req *r = &p->req[p->order[k + x]];
			a[3 * x] = DBI(p->instance_id);
			a[3 * x + 1] = DBI(r->room_id);
			a[3 * x + 2] = DBI(r->user_id);
		}
		ids_ctx c = { got, 0, m };
		chat_err e = db_query(db, q, a, 3 * m, "i", returned_id, &c);
		if (e != CHAT_OK)
			return e;
		if (c.n != m)
			return CHAT_ERR_INTERNAL;
		for (size_t x = 0; x < m; x++)
			p->ids[p->order[k + x]] = got[x];
		k += m;
	}
	return CHAT_OK;
}

/* The batch's rooms locked, then its rows, marked as stored under those
 * locks. */
static chat_err add_txn(chat_db *db, void *arg)
{
	add_args *p = arg;
	int64_t *rooms = malloc((p->n ? p->n : 1) * sizeof(*rooms));
	if (!rooms)
		return CHAT_ERR_NOMEM;
	for (size_t i = 0; i < p->n; i++)
		rooms[i] = p->req[i].room_id;
	size_t nr = 0;
	uint64_t found = 0;
	chat_err e = lock_and_mark(db, rooms, p->n, &nr, &found);
	free(rooms);
	if (e == CHAT_OK && found != nr)
		e = CHAT_ERR_NOT_FOUND; /* a room is gone */
	if (e == CHAT_OK)
		e = add_rows(db, p);
	/* unmarked on the way out, whatever happened (only these batches,
	 * which always lock first, mark presence on the programs' connections) */
	chat_err u = db_exec(db, &q_pres_unmark, NULL, 0, NULL, NULL);
	return e != CHAT_OK ? e : u;
}

chat_err chat_dal_presence_add_many(chat_db *db, int64_t instance_id, const chat_presence_req *req,
                                    size_t n, int64_t *presence_ids)
{
	size_t one = 0;
	size_t *order = n <= 1 ? &one : malloc(n * sizeof(*order));
	if (!order)
		return CHAT_ERR_NOMEM;
	/* insertion sort by room, stable: batches are small */
	for (size_t i = 0; i < n; i++) {
		size_t k = i;
		while (k > 0 && req[order[k - 1]].room_id > req[i].room_id) {
			order[k] = order[k - 1];
			k--;
		}
		order[k] = i;
	}
	add_args p = { instance_id, req, n, presence_ids, order };
	chat_err e = n ? chat_db_txn_run(db, add_txn, &p) : CHAT_OK;
	if (e != CHAT_OK)
		memset(presence_ids, 0, n * sizeof(*presence_ids));
	if (order != &one)
		free(order);
	return e;
}

chat_err chat_dal_presence_add(chat_db *db, int64_t instance_id, int64_t room_id, int64_t user_id,
                               int64_t *presence_id)
{
	chat_presence_req r = { room_id, user_id };
	int64_t id = 0;
	chat_err e = chat_dal_presence_add_many(db, instance_id, &r, 1, &id);
	if (e == CHAT_OK && presence_id)
		*presence_id = id;
	return e;
}

typedef struct rm_args {
	const int64_t *ids;
	size_t n;
	int64_t *rooms; /* room of ids[i], 0 = row gone (then sorted to lock) */
	size_t removed;
} rm_args;

static chat_err room_of_row(void *ctx, const db_row *r)
{
	rm_args *p = ctx;
	int64_t id = db_int(r, 0);
	for (size_t i = 0; i < p->n; i++)
		if (p->ids[i] == id)
			p->rooms[i] = db_int(r, 1);
	return CHAT_OK;
}

/* The rows' rooms (one statement per 64), those rooms locked, then the
 * rows deleted (one statement per 64), marked as deleted under those
 * locks. Rows already gone are skipped. */
static chat_err remove_txn(chat_db *db, void *arg)
{
	rm_args *p = arg;
	p->removed = 0;
	memset(p->rooms, 0, p->n * sizeof(*p->rooms));
	chat_err e = by_ids64(db, &q_pres_rooms, p->ids, p->n, "ii", room_of_row, p, NULL);
	size_t nr = 0;
	uint64_t found = 0, removed = 0;
	if (e == CHAT_OK)
		e = lock_and_mark(db, p->rooms, p->n, &nr, &found);
	if (e == CHAT_OK)
		e = by_ids64(db, &q_pres_delete, p->ids, p->n, NULL, NULL, NULL, &removed);
	chat_err u = db_exec(db, &q_pres_unmark, NULL, 0, NULL, NULL);
	p->removed = (size_t)removed;
	return e != CHAT_OK ? e : u;
}

chat_err chat_dal_presence_remove_many(chat_db *db, const int64_t *presence_ids, size_t n,
                                       size_t *removed)
{
	int64_t room1;
	int64_t *rooms = n <= 1 ? &room1 : malloc(n * sizeof(*rooms));
	chat_err e = CHAT_ERR_NOMEM;
	rm_args p = { presence_ids, n, rooms, 0 };
	if (rooms)
		e = n ? chat_db_txn_run(db, remove_txn, &p) : CHAT_OK;
	if (removed)
		*removed = e == CHAT_OK ? p.removed : 0;
	if (rooms != &room1)
		free(rooms);
	return e;
}

chat_err chat_dal_presence_remove(chat_db *db, int64_t presence_id)
{
	size_t removed = 0;
	chat_err e = chat_dal_presence_remove_many(db, &presence_id, 1, &removed);
	if (e == CHAT_OK && removed == 0)
		e = CHAT_ERR_NOT_FOUND; /* removed meanwhile */
	return e;
}

static chat_err id_row(void *ctx, const db_row *r)
{
	int64_t *v = db_vec_push(ctx);
	if (!v)
		return CHAT_ERR_NOMEM;
	*v = db_int(r, 0);
	return CHAT_OK;
}

/* The instance row goes only with no presence row left, or the foreign
 * key would take late rows along with no trigger (no presence_leave).
 * Locking the instance row first makes the count final: a relay adding
 * a row holds a shared lock on it (the foreign-key check) until it
 * commits, and a new one waits, then fails (the instance is gone). */
typedef struct inst_args {
	int64_t id;
	bool gone;
} inst_args;

static chat_err delete_if_empty_txn(chat_db *db, void *arg)
{
	inst_args *p = arg;
	db_arg a[] = { DBI(p->id) };
	int64_t id = 0, left = 0;
	chat_err e = db_query_int(db, &q_inst_lock, a, DB_NARGS(a), &id);
	if (e == CHAT_ERR_NOT_FOUND) {
		p->gone = true; /* another relay reaped it */
		return CHAT_OK;
	}
	if (e != CHAT_OK)
		return e;
	e = db_query_int(db, &q_inst_left, a, DB_NARGS(a), &left);
	if (e != CHAT_OK || left > 0)
		return e;
	p->gone = true;
	return db_exec(db, &q_inst_delete, a, DB_NARGS(a), NULL, NULL);
}

chat_err chat_dal_instance_unregister(chat_db *db, int64_t instance_id)
{
	db_arg a[] = { DBI(instance_id) };
	inst_args p = { instance_id, false };
	chat_err e = CHAT_OK;
	/* Rows its relay added meanwhile are removed in the next round; a
	 * relay still adding after 8 rounds is alive: the next reap goes on. */
	for (int round = 0; round < 8 && !p.gone && e == CHAT_OK; round++) {
		db_vec v = { NULL, 0, 0, sizeof(int64_t) };
		e = db_query(db, &q_inst_rows, a, DB_NARGS(a), "i", id_row, &v);
		/* Transactions of up to 256 rows (rooms locked in order, each
		 * presence_leave written in its room's order): a relay that held
		 * 20,000 connections leaves in seconds, not one commit per row. */
		for (size_t off = 0; e == CHAT_OK && off < v.n; off += 256) {
			size_t m = v.n - off < 256 ? v.n - off : 256;
			e = chat_dal_presence_remove_many(db, (int64_t *)v.v + off, m, NULL);
		}
		free(v.v);
		if (e == CHAT_OK)
			e = chat_db_txn_run(db, delete_if_empty_txn, &p);
	}
	if (e == CHAT_OK && !p.gone)
		e = CHAT_ERR_CONFLICT;
	return e;
}

chat_err chat_dal_instances_reap(chat_db *db, int max_age_s, int *reaped)
{
	db_vec v = { NULL, 0, 0, sizeof(int64_t) };
	db_arg a[] = { DBI(max_age_s < 0 ? 0 : max_age_s) };
	int count = 0;
	chat_err e = db_query(db, &q_inst_stale, a, DB_NARGS(a), "i", id_row, &v);
	if (e != CHAT_OK)
		goto out;
	for (size_t i = 0; i < v.n; i++) {
		e = chat_dal_instance_unregister(db, ((int64_t *)v.v)[i]);
		if (e == CHAT_ERR_CONFLICT) {
			e = CHAT_OK; /* still adding rows: alive after all, next time */
			continue;
		}
		if (e != CHAT_OK)
			goto out;
		count++;
	}
out:
	if (reaped)
		*reaped = count;
	free(v.v);
	return e;
}

static chat_err ref_row(void *ctx, const db_row *r)
{
	chat_user_ref *u = db_vec_push(ctx);
	if (!u)
		return CHAT_ERR_NOMEM;
	u->id = db_int(r, 0);
	db_copy(r, 1, u->username, sizeof(u->username));
	return CHAT_OK;
}

chat_err chat_dal_presence_online(chat_db *db, int64_t room_id, chat_user_ref **out, size_t *n)
{
	db_vec v = { NULL, 0, 0, sizeof(chat_user_ref) };
	db_arg a[] = { DBI(room_id) };
	chat_err e = db_query(db, &q_pres_online, a, DB_NARGS(a), "is", ref_row, &v);
	if (e != CHAT_OK) {
		free(v.v);
		return e;
	}
	*out = v.v;
	*n = v.n;
	return CHAT_OK;
}

static chat_err online_row(void *ctx, const db_row *r)
{
	chat_online_ref *o = db_vec_push(ctx);
	if (!o)
		return CHAT_ERR_NOMEM;
	o->room_id = db_int(r, 0);
	o->user.id = db_int(r, 1);
	db_copy(r, 2, o->user.username, sizeof(o->user.username));
	return CHAT_OK;
}

static int cmp_online(const void *a, const void *b)
{
	const chat_online_ref *x = a, *y = b;
	if (x->room_id != y->room_id)
		return x->room_id < y->room_id ? -1 : 1;
	return x->user.id < y->user.id ? -1 : x->user.id > y->user.id;
}

chat_err chat_dal_presence_online_rooms(chat_db *db, const int64_t *room_ids, size_t n,
                                        chat_online_ref **out, size_t *nout)
{
	db_vec v = { NULL, 0, 0, sizeof(chat_online_ref) };
	for (size_t off = 0; off < n; off += 64) {
		db_arg a[64];
		for (size_t k = 0; k < 64; k++)
			a[k] = DBI(off + k < n ? room_ids[off + k] : 0);
		chat_err e = db_query(db, &q_pres_online_rooms, a, 64, "iis", online_row, &v);
		if (e != CHAT_OK) {
			free(v.v);
			return e;
		}
	}
	if (n > 64 && v.n > 1) /* several statements: a room may recur */
		qsort(v.v, v.n, sizeof(chat_online_ref), cmp_online);
	*out = v.v;
	*nout = v.n;
	return CHAT_OK;
}
