/* The outbox: reading chat_events with what each event points at,
 * writing ephemeral events, resume, purge. */
#include <stdlib.h>
#include <string.h>

#include "chat_dal.h"
#include "db_internal.h"

#define EVENTS_LIMIT_MAX 10000
#define EVENTS_LIMIT_DEFAULT 500
#define PURGE_CHUNK 10000

/* Column layout of every event query: the event (6), the message it
 * points at with its sender (10, all NULL for other kinds or a message
 * gone with its room), the acting user (2). */
#define EV_TYPES "iisiit" DB_MSG_COLS "is"
#define EV_SELECT EV_SELECT_FROM("")
#define EV_SELECT_FROM(hint)                                                              \
	"SELECT e.id, e.room_id, e.kind, e.ref_id, e.user_id, e.created_at, "                \
	DB_MSG_SELECT("m", "mu") ", au.id, au.username"                                     \
	" FROM chat_events e" hint                                                            \
	" LEFT JOIN messages m ON m.id = e.ref_id AND e.kind IN"                              \
	"   ('message_created', 'message_updated', 'message_deleted', 'message_read')"        \
	" LEFT JOIN users mu ON mu.id = m.sender_id"                                          \
	" LEFT JOIN users au ON au.id = e.user_id"
#define RANGE "e.id BETWEEN ? AND ?"
#define RANGES8 RANGE " OR " RANGE " OR " RANGE " OR " RANGE " OR " \
                RANGE " OR " RANGE " OR " RANGE " OR " RANGE

#define SPAN "(e.room_id = ? AND e.id > ? AND e.id <= ?)"
#define SPANS4 SPAN " OR " SPAN " OR " SPAN " OR " SPAN
#define SPANS16 SPANS4 " OR " SPANS4 " OR " SPANS4 " OR " SPANS4

DB_SQL(q_ev_max, "SELECT COALESCE(MAX(id), 0) FROM chat_events");
DB_SQL(q_ev_after, EV_SELECT " WHERE e.id > ? ORDER BY e.id LIMIT ?");
DB_SQL(q_ev_ranges, EV_SELECT " WHERE " RANGES8 " ORDER BY e.id");
DB_SQL(q_ev_spans, EV_SELECT " WHERE " SPANS16 " ORDER BY e.id");
DB_SQL(q_ev_buckets, "SELECT (id - ?) DIV ?, COUNT(*) FROM chat_events"
                     " WHERE id BETWEEN ? AND ? GROUP BY 1 ORDER BY NULL");
DB_SQL(q_ev_insert, "INSERT INTO chat_events (room_id, kind, ref_id, user_id, created_at) "
                    "VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3))");
DB_SQL(q_ev_anchor, "SELECT id FROM chat_events "
                    "WHERE room_id = ? AND kind = 'message_created' AND ref_id = ?");
DB_SQL(q_ev_anchor_next, "SELECT id FROM chat_events "
                         "WHERE room_id = ? AND kind = 'message_created' AND ref_id > ? "
                         "ORDER BY ref_id LIMIT 1");
/* Paged resume (chat_dal_replay_*). */
#define MSG_KINDS "('message_created', 'message_updated', 'message_deleted')"
DB_SQL(q_rp_room_newest, "SELECT COALESCE(MAX(id), 0) FROM messages "
                         "WHERE room_id = ? AND deleted_at IS NULL");
DB_SQL(q_rp_ev_count, "SELECT COUNT(*), COALESCE(MAX(t.id), 0) FROM"
                      " (SELECT e.id FROM chat_events e FORCE INDEX (ix_chat_events_room)"
                      "  WHERE e.room_id = ? AND e.id > ? AND e.kind IN " MSG_KINDS
                      "  ORDER BY e.id LIMIT ?) t");
DB_SQL(q_rp_ev_max, "SELECT e.id FROM chat_events e FORCE INDEX (ix_chat_events_room)"
                    " WHERE e.room_id = ? AND e.kind IN " MSG_KINDS
                    " ORDER BY e.id DESC LIMIT 1");
DB_SQL(q_rp_first_live, "SELECT id FROM messages WHERE room_id = ? AND deleted_at IS NULL"
                        " AND id > ? ORDER BY id LIMIT 1");
DB_SQL(q_rp_msg_count, "SELECT COUNT(*) FROM"
                       " (SELECT id FROM messages WHERE room_id = ? AND deleted_at IS NULL"
                       "  AND id > ? AND id <= ? ORDER BY id LIMIT ?) t");
/* the (n+1)-th newest live message: the newest n come after it */
DB_SQL(q_rp_msg_nth, "SELECT id FROM messages WHERE room_id = ? AND deleted_at IS NULL"
                     " AND id <= ? ORDER BY id DESC LIMIT 1 OFFSET ?");
DB_SQL(q_rp_events, EV_SELECT_FROM(" FORCE INDEX (ix_chat_events_room)")
                            " WHERE e.room_id = ? AND e.id > ? AND e.id <= ?"
                            " AND e.kind IN " MSG_KINDS " ORDER BY e.id LIMIT ?");
DB_SQL(q_rp_messages, "SELECT " DB_MSG_SELECT("m", "u") " FROM messages m"
                      " JOIN users u ON u.id = m.sender_id"
                      " WHERE m.room_id = ? AND m.deleted_at IS NULL AND m.id > ? AND m.id <= ?"
                      " ORDER BY m.id LIMIT ?");
DB_SQL(q_ev_purge, "DELETE FROM chat_events "
                   "WHERE created_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND LIMIT 10000");

void chat_event_rows_free(chat_event_row *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		chat_message_clear(&v[i].message);
	free(v);
}

static chat_err event_row(void *ctx, const db_row *r)
{
	chat_event_row *e = db_vec_push(ctx);
	if (!e)
		return CHAT_ERR_NOMEM;
	e->ev.id = db_int(r, 0);
	e->ev.room_id = db_int(r, 1);
	e->ev.kind = chat_event_kind_parse(db_str(r, 2));
	e->ev.ref_id = db_int(r, 3);
	e->ev.user_id = db_int(r, 4);
	e->ev.created_ms = db_ms(r, 5);
	if (!db_null(r, 6)) {
		chat_err err = db_row_message(r, 6, &e->message);
		if (err != CHAT_OK)
			return err;
		e->has_message = true;
	}
	if (!db_null(r, 16)) {
		e->has_actor = true;
		e->actor.id = db_int(r, 16);
		db_copy(r, 17, e->actor.username, sizeof(e->actor.username));
	}
	return CHAT_OK;
}

static chat_err events_query(chat_db *db, db_sql *q, const db_arg *a, size_t na,
                             chat_event_row **out, size_t *n)
{
	db_vec v = { NULL, 0, 0, sizeof(chat_event_row) };
	chat_err e = db_query(db, q, a, na, EV_TYPES, event_row, &v);
	if (e != CHAT_OK) {
		chat_event_rows_free(v.v, v.n);
		return e;
	}
	*out = v.v;
	*n = v.n;
	return CHAT_OK;
}

chat_err chat_dal_events_max_id(chat_db *db, int64_t *out)
{
	return db_query_int(db, &q_ev_max, NULL, 0, out);
}

chat_err chat_dal_events_after(chat_db *db, int64_t after_id, int limit, chat_event_row **out,
                               size_t *n)
{
	if (limit <= 0)
		limit = EVENTS_LIMIT_DEFAULT;
	if (limit > EVENTS_LIMIT_MAX)
		limit = EVENTS_LIMIT_MAX;
	db_arg a[] = { DBI(after_id), DBI(limit) };
	return events_query(db, &q_ev_after, a, DB_NARGS(a), out, n);
}

chat_err chat_dal_events_in_ranges(chat_db *db, const chat_id_range *r, size_t n_ranges,
                                   chat_event_row **out, size_t *n)
{
	if (n_ranges > CHAT_RANGES_PER_QUERY)
		return CHAT_ERR_INVALID;
	db_arg a[2 * CHAT_RANGES_PER_QUERY];
	for (size_t k = 0; k < CHAT_RANGES_PER_QUERY; k++) {
		/* unused slots: 0..0, and 0 is never an id */
		a[2 * k] = DBI(k < n_ranges ? r[k].first : 0);
		a[2 * k + 1] = DBI(k < n_ranges ? r[k].last : 0);
	}
	return events_query(db, &q_ev_ranges, a, 2 * CHAT_RANGES_PER_QUERY, out, n);
}

chat_err chat_dal_events_room_spans(chat_db *db, const chat_room_span *s, size_t n_spans,
                                    chat_event_row **out, size_t *n)
{
	if (n_spans > CHAT_SPANS_PER_QUERY)
		return CHAT_ERR_INVALID;
	db_arg a[3 * CHAT_SPANS_PER_QUERY];
	for (size_t k = 0; k < CHAT_SPANS_PER_QUERY; k++) {
		/* unused slots: room 0, which no event has */
		a[3 * k] = DBI(k < n_spans ? s[k].room_id : 0);
		a[3 * k + 1] = DBI(k < n_spans ? s[k].after : 0);
		a[3 * k + 2] = DBI(k < n_spans ? s[k].upto : 0);
	}
	return events_query(db, &q_ev_spans, a, 3 * CHAT_SPANS_PER_QUERY, out, n);
}

typedef struct bucket_ctx {
	int64_t *counts;
} bucket_ctx;

static chat_err bucket_row(void *ctx, const db_row *r)
{
	bucket_ctx *b = ctx;
	int64_t k = db_int(r, 0);
	if (k >= 0 && k < CHAT_BUCKETS)
		b->counts[k] = db_int(r, 1);
	return CHAT_OK;
}

chat_err chat_dal_events_bucket_counts(chat_db *db, int64_t lo, int64_t width, int64_t hi,
                                       int64_t *counts)
{
	memset(counts, 0, CHAT_BUCKETS * sizeof(*counts));
	if (width <= 0 || hi < lo)
		return CHAT_ERR_INVALID;
	bucket_ctx b = { counts };
	db_arg a[] = { DBI(lo), DBI(width), DBI(lo), DBI(hi) };
	return db_query(db, &q_ev_buckets, a, DB_NARGS(a), "ii", bucket_row, &b);
}

typedef struct emit_args {
	int64_t room_id, ref_id, user_id;
	chat_event_kind kind;
	int64_t id;
} emit_args;

static chat_err emit_txn(chat_db *db, void *arg)
{
	emit_args *m = arg;
	chat_err e = db_room_lock(db, m->room_id);
	if (e != CHAT_OK)
		return e;
	db_arg a[] = { DBI(m->room_id), DBS(chat_event_kind_name(m->kind)), DBI(m->ref_id),
		       DBI(m->user_id) };
	return db_exec(db, &q_ev_insert, a, DB_NARGS(a), NULL, &m->id);
}

chat_err chat_dal_event_emit(chat_db *db, int64_t room_id, chat_event_kind kind, int64_t ref_id,
                             int64_t user_id, int64_t *id_out)
{
	if (kind == CHAT_EV_UNKNOWN || ref_id < 0 || user_id < 0)
		return CHAT_ERR_INVALID;
	emit_args m = { room_id, ref_id, user_id, kind, 0 };
	chat_err e = chat_db_txn_run(db, emit_txn, &m);
	if (e == CHAT_OK && id_out)
		*id_out = m.id;
	return e;
}

typedef struct count_max {
	int64_t count, max;
} count_max;

static chat_err count_max_row(void *ctx, const db_row *r)
{
	count_max *c = ctx;
	c->count = db_int(r, 0);
	c->max = db_int(r, 1);
	return CHAT_OK;
}

/* Live messages after `from` (up to the newest), all of them or, past the
 * limit, the newest limit. */
static chat_err plan_messages(chat_db *db, int64_t room_id, int64_t from, int limit,
                              chat_replay_plan *p)
{
	int64_t count = 0, ev = 0;
	db_arg a[] = { DBI(room_id), DBI(from), DBI(p->room_newest), DBI(limit + 1) };
	chat_err e = db_query_int(db, &q_rp_msg_count, a, DB_NARGS(a), &count);
	if (e != CHAT_OK)
		return e;
	p->mode = count ? CHAT_REPLAY_MESSAGES : CHAT_REPLAY_NONE;
	p->after = from;
	p->upto = p->room_newest;
	if (count > limit) {
		db_arg b[] = { DBI(room_id), DBI(p->room_newest), DBI(limit) };
		e = db_query_int(db, &q_rp_msg_nth, b, DB_NARGS(b), &p->after);
		if (e != CHAT_OK)
			return e;
		p->truncated = true;
	}
	/* every message event so far: the current state sent covers them */
	db_arg c[] = { DBI(room_id) };
	e = db_query_int(db, &q_rp_ev_max, c, DB_NARGS(c), &ev);
	if (e != CHAT_OK && e != CHAT_ERR_NOT_FOUND)
		return e;
	p->max_ev = ev;
	return CHAT_OK;
}

chat_err chat_dal_replay_plan(chat_db *db, int64_t room_id, int64_t last_id, int limit,
                              chat_replay_plan *out)
{
	chat_replay_plan p;
	memset(&p, 0, sizeof(p));
	if (limit < 1 || last_id < 0)
		return CHAT_ERR_INVALID;
	db_arg r[] = { DBI(room_id) };
	chat_err e = db_query_int(db, &q_rp_room_newest, r, DB_NARGS(r), &p.room_newest);
	if (e != CHAT_OK)
		goto out;
	if (last_id == 0) { /* everything: the messages table says it best */
		e = plan_messages(db, room_id, 0, limit, &p);
		goto out;
	}
	/* Where the client stands in the log: the creation of message
	 * last_id, or just before the first logged creation after it. */
	int64_t anchor = 0;
	db_arg a[] = { DBI(room_id), DBI(last_id) };
	e = db_query_int(db, &q_ev_anchor, a, DB_NARGS(a), &anchor);
	if (e == CHAT_ERR_NOT_FOUND) {
		int64_t next = 0;
		e = db_query_int(db, &q_ev_anchor_next, a, DB_NARGS(a), &next);
		if (e == CHAT_ERR_NOT_FOUND) { /* no creation logged after it */
			e = plan_messages(db, room_id, last_id, limit, &p);
			goto out;
		}
		anchor = next - 1;
	}
	if (e != CHAT_OK)
		goto out;
	count_max cm = { 0, 0 };
	db_arg b[] = { DBI(room_id), DBI(anchor), DBI(limit + 1) };
	e = db_query(db, &q_rp_ev_count, b, DB_NARGS(b), "ii", count_max_row, &cm);
	if (e != CHAT_OK)
		goto out;
	if (cm.count > limit) { /* too much missing: the newest limit messages */
		e = plan_messages(db, room_id, 0, limit, &p);
		p.truncated = true; /* even if fewer are still live */
		goto out;
	}
	/* Purged log? The first live message after last_id must have its
	 * creation among the events; if not, the log no longer covers the
	 * gap: the messages table instead. */
	int64_t first = 0, created = 0;
	e = db_query_int(db, &q_rp_first_live, a, DB_NARGS(a), &first);
	if (e == CHAT_OK) {
		db_arg c[] = { DBI(room_id), DBI(first) };
		e = db_query_int(db, &q_ev_anchor, c, DB_NARGS(c), &created);
		if (e == CHAT_ERR_NOT_FOUND || (e == CHAT_OK && created <= anchor)) {
			e = plan_messages(db, room_id, last_id, limit, &p);
			goto out;
		}
	}
	if (e != CHAT_OK && e != CHAT_ERR_NOT_FOUND)
		goto out;
	e = CHAT_OK;
	p.mode = cm.count ? CHAT_REPLAY_EVENTS : CHAT_REPLAY_NONE;
	p.after = anchor;
	p.upto = cm.max;
	p.max_ev = cm.max;
out:
	if (e == CHAT_OK)
		*out = p;
	return e;
}

chat_err chat_dal_replay_events(chat_db *db, int64_t room_id, int64_t after, int64_t upto,
                                int limit, chat_event_row **out, size_t *n)
{
	if (limit < 1)
		limit = 1;
	if (limit > 1000)
		limit = 1000;
	db_arg a[] = { DBI(room_id), DBI(after), DBI(upto), DBI(limit) };
	return events_query(db, &q_rp_events, a, DB_NARGS(a), out, n);
}

static chat_err replay_msg_row(void *ctx, const db_row *r)
{
	chat_message *m = db_vec_push(ctx);
	if (!m)
		return CHAT_ERR_NOMEM;
	return db_row_message(r, 0, m);
}

chat_err chat_dal_replay_messages(chat_db *db, int64_t room_id, int64_t after, int64_t upto,
                                  int limit, chat_message **out, size_t *n)
{
	if (limit < 1)
		limit = 1;
	if (limit > 1000)
		limit = 1000;
	db_arg a[] = { DBI(room_id), DBI(after), DBI(upto), DBI(limit) };
	db_vec v = { NULL, 0, 0, sizeof(chat_message) };
	chat_err e = db_query(db, &q_rp_messages, a, DB_NARGS(a), DB_MSG_COLS, replay_msg_row, &v);
	if (e != CHAT_OK) {
		chat_messages_free(v.v, v.n);
		return e;
	}
	*out = v.v;
	*n = v.n;
	return CHAT_OK;
}

chat_err chat_dal_events_purge(chat_db *db, int max_age_s, int64_t *deleted)
{
	int64_t total = 0;
	uint64_t got;
	db_arg a[] = { DBI(max_age_s < 0 ? 0 : max_age_s) };
	/* In chunks, so no single statement holds locks for long. */
	do {
		got = 0;
		chat_err e = db_exec(db, &q_ev_purge, a, DB_NARGS(a), &got, NULL);
		if (e != CHAT_OK)
			return e;
		total += (int64_t)got;
	} while (got == PURGE_CHUNK);
	if (deleted)
		*deleted = total;
	return CHAT_OK;
}
