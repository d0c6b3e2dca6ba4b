/* Rooms: creation, lookup, the list with unread counts, changes. */
#include <stdlib.h>
#include <string.h>

#include "chat_dal.h"
#include "db_internal.h"

DB_SQL(q_room_lock, "UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3) WHERE id = ?");
DB_SQL(q_room_insert, "INSERT INTO rooms (name, description, is_private, created_by, created_at) "
                      "VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3))");
DB_SQL(q_owner_insert, "INSERT INTO room_members (room_id, user_id, role, joined_at) "
                       "VALUES (?, ?, 'owner', UTC_TIMESTAMP(3))");
#define ROOM_COLS "r.id, r.name, r.description, r.is_private, r.created_by, r.created_at, m.role"
#define ROOM_TYPES "issiits"
/* With the room's newest event id: it changes with every write to the
 * room's messages (the triggers), so it says whether a page read earlier
 * is still current (api/page_cache.c). One dive into ix_chat_events_room. */
DB_SQL(q_room_get, "SELECT " ROOM_COLS ","
                   " (SELECT MAX(e.id) FROM chat_events e WHERE e.room_id = r.id)"
                   " FROM rooms r "
                   "LEFT JOIN room_members m ON m.room_id = r.id AND m.user_id = ? "
                   "WHERE r.id = ?");
/* The list in one query: visibility, the viewer's role, the newest live
 * message (one backward probe of ix_messages_room_live per room) and the
 * unread count from the counters the schema's triggers keep
 * (DB_UNREAD_EXPR): no scan, whatever the read position. */
#define ROOMS_SELECT \
	"SELECT " ROOM_COLS ", " DB_UNREAD_EXPR("r", "rsc", "rp") ", " \
	DB_MSG_SELECT("lm", "lu") \
	" FROM rooms r" \
	" LEFT JOIN room_members m ON m.room_id = r.id AND m.user_id = ?" \
	" LEFT JOIN read_positions rp ON rp.user_id = ? AND rp.room_id = r.id" \
	" LEFT JOIN room_sender_counts rsc ON rsc.room_id = r.id AND rsc.sender_id = ?" \
	" LEFT JOIN messages lm ON lm.id =" \
	"   (SELECT y.id FROM messages y WHERE y.room_id = r.id AND y.deleted_at IS NULL" \
	"     ORDER BY y.id DESC LIMIT 1)" \
	" LEFT JOIN users lu ON lu.id = lm.sender_id"
/* A page of the list: ids above a cursor, an optional name substring
 * (LIKE with '!' escaping the pattern's metacharacters, in the column's
 * collation, so case-insensitive; a parameter alone has none), one row more than the page to
 * tell whether more follow. */
DB_SQL(q_rooms_page, ROOMS_SELECT " WHERE (r.is_private = 0 OR m.user_id IS NOT NULL) AND r.id > ?"
                     " AND (? = 0 OR r.name LIKE CONCAT('%', ?, '%')"
                     "      COLLATE utf8mb4_unicode_ci ESCAPE '!')"
                     " ORDER BY r.id LIMIT ?");
/* One room as the list shows it, whatever its visibility (callers decide). */
DB_SQL(q_room_view, ROOMS_SELECT " WHERE r.id = ?");
DB_SQL(q_room_update, "UPDATE rooms SET name = COALESCE(?, name), "
                      "description = COALESCE(?, description), "
                      "is_private = IF(? < 0, is_private, ?) WHERE id = ?");
DB_SQL(q_room_delete, "DELETE FROM rooms WHERE id = ?");

chat_err db_room_lock(chat_db *db, int64_t room_id)
{
	db_arg a[] = { DBI(room_id) };
	uint64_t found = 0;
	chat_err e = db_exec(db, &q_room_lock, a, DB_NARGS(a), &found, NULL);
	if (e == CHAT_OK && found == 0)
		e = CHAT_ERR_NOT_FOUND;
	return e;
}

static chat_role role_of(const db_row *r, size_t k)
{
	if (db_null(r, k))
		return CHAT_ROLE_NONE;
	return strcmp(db_str(r, k), "owner") == 0 ? CHAT_ROLE_OWNER : CHAT_ROLE_MEMBER;
}

static chat_err fill_room(const db_row *r, chat_room *out)
{
	memset(out, 0, sizeof(*out));
	out->id = db_int(r, 0);
	db_copy(r, 1, out->name, sizeof(out->name));
	out->description = db_dup(r, 2);
	if (!out->description)
		return CHAT_ERR_NOMEM;
	out->is_private = db_int(r, 3) != 0;
	out->created_by = db_int(r, 4);
	out->created_ms = db_ms(r, 5);
	out->role = role_of(r, 6);
	return CHAT_OK;
}

typedef struct room_ctx {
	chat_room *out;
	bool found;
} room_ctx;

static chat_err room_row(void *ctx, const db_row *r)
{
	room_ctx *c = ctx;
	if (c->found)
		return CHAT_OK;
	chat_err e = fill_room(r, c->out);
	if (e != CHAT_OK)
		return e;
	c->out->last_event_id = db_null(r, 7) ? 0 : db_int(r, 7);
	c->found = true;
	return CHAT_OK;
}

chat_err chat_dal_room_get(chat_db *db, int64_t room_id, int64_t viewer_id, chat_room *out)
{
	chat_room tmp;
	room_ctx c = { &tmp, false };
	db_arg a[] = { DBI(viewer_id), DBI(room_id) };
	chat_err e = db_query(db, &q_room_get, a, DB_NARGS(a), ROOM_TYPES "i", room_row, &c);
	if (e != CHAT_OK) {
		if (c.found)
			chat_room_clear(&tmp);
		return e;
	}
	if (!c.found)
		return CHAT_ERR_NOT_FOUND;
	*out = tmp;
	return CHAT_OK;
}

typedef struct create_args {
	const char *name, *description;
	bool is_private;
	int64_t owner_id;
	chat_room *out;
} create_args;

static chat_err create_txn(chat_db *db, void *arg)
{
	create_args *c = arg;
	int64_t id = 0;
	db_arg a[] = { DBS(c->name), DBS(c->description ? c->description : ""),
		       DBI(c->is_private ? 1 : 0), DBI(c->owner_id) };
	chat_err e = db_exec(db, &q_room_insert, a, DB_NARGS(a), NULL, &id);
	if (e != CHAT_OK)
		return e;
	db_arg b[] = { DBI(id), DBI(c->owner_id) };
	e = db_exec(db, &q_owner_insert, b, DB_NARGS(b), NULL, NULL);
	if (e != CHAT_OK)
		return e;
	return chat_dal_room_get(db, id, c->owner_id, c->out);
}

chat_err chat_dal_room_create(chat_db *db, const char *name, const char *description,
                              bool is_private, int64_t owner_id, chat_room *out)
{
	chat_room tmp;
	memset(&tmp, 0, sizeof(tmp));
	create_args c = { name, description, is_private, owner_id, &tmp };
	chat_err e = chat_db_txn_run(db, create_txn, &c);
	if (e != CHAT_OK) {
		chat_room_clear(&tmp);
		return e;
	}
	*out = tmp;
	return CHAT_OK;
}

static chat_err list_row(void *ctx, const db_row *r)
{
	db_vec *v = ctx;
	chat_room *room = db_vec_push(v);
	if (!room)
		return CHAT_ERR_NOMEM;
	chat_err e = fill_room(r, room);
	if (e != CHAT_OK)
		return e;
	room->unread_count = db_int(r, 7);
	if (!db_null(r, 8)) {
		e = db_row_message(r, 8, &room->last_message);
		if (e != CHAT_OK)
			return e;
		room->has_last_message = true;
	}
	return CHAT_OK;
}

/* Run q (the one-room view). */
static chat_err rooms_fetch(chat_db *db, db_sql *q, int64_t user_id, int64_t room_id,
                            chat_room **out, size_t *n)
{
	db_vec v = { NULL, 0, 0, sizeof(chat_room) };
	db_arg a[] = { DBI(user_id), DBI(user_id), DBI(user_id), DBI(room_id) };
	size_t na = room_id > 0 ? 4 : 3;
	chat_err e = db_query(db, q, a, na, ROOM_TYPES "i" DB_MSG_COLS, list_row, &v);
	if (e != CHAT_OK) {
		chat_rooms_free(v.v, v.n);
		return e;
	}
	*out = v.v;
	*n = v.n;
	return CHAT_OK;
}


/* search with LIKE's metacharacters escaped by '!' into out (at least
 * 2 * strlen(search) + 1 bytes). */
static void like_escape(const char *search, char *out)
{
	for (; *search; search++) {
		if (*search == '%' || *search == '_' || *search == '!')
			*out++ = '!';
		*out++ = *search;
	}
	*out = '\0';
}

chat_err chat_dal_rooms_page(chat_db *db, int64_t user_id, int64_t after_id, const char *search,
                             int limit, chat_room **out, size_t *n, bool *has_more)
{
	size_t slen = search ? strlen(search) : 0;
	char *pat = malloc(2 * slen + 1);
	db_vec v = { NULL, 0, 0, sizeof(chat_room) };

	if (!pat)
		return CHAT_ERR_NOMEM;
	like_escape(search ? search : "", pat);
	int64_t rows = limit > 0 ? (int64_t)limit + 1 : INT64_MAX;
	db_arg a[] = { DBI(user_id), DBI(user_id), DBI(user_id), DBI(after_id > 0 ? after_id : 0),
		       DBI(slen > 0), DBS(pat), DBI(rows) };
	chat_err e = db_query(db, &q_rooms_page, a, DB_NARGS(a), ROOM_TYPES "i" DB_MSG_COLS, list_row,
	                      &v);
	free(pat);
	if (e != CHAT_OK) {
		chat_rooms_free(v.v, v.n);
		return e;
	}
	*has_more = limit > 0 && v.n > (size_t)limit;
	if (*has_more) {
		chat_room_clear(&((chat_room *)v.v)[v.n - 1]);
		v.n--;
	}
	*out = v.v;
	*n = v.n;
	return CHAT_OK;
}

chat_err chat_dal_rooms_list(chat_db *db, int64_t user_id, chat_room **out, size_t *n)
{
	bool more;
	return chat_dal_rooms_page(db, user_id, 0, NULL, 0, out, n, &more);
}

chat_err chat_dal_room_view(chat_db *db, int64_t room_id, int64_t viewer_id, chat_room *out)
{
	chat_room *v = NULL;
	size_t n = 0;
	chat_err e = rooms_fetch(db, &q_room_view, viewer_id, room_id, &v, &n);
	if (e != CHAT_OK)
		return e;
	if (n == 0) {
		free(v);
		return CHAT_ERR_NOT_FOUND;
	}
	*out = v[0];
	free(v);
	return CHAT_OK;
}

chat_err chat_dal_room_update(chat_db *db, int64_t room_id, const char *name,
                              const char *description, int is_private)
{
	int p = is_private < 0 ? -1 : (is_private ? 1 : 0);
	db_arg a[] = { DBS(name), DBS(description), DBI(p), DBI(p < 0 ? 0 : p), DBI(room_id) };
	uint64_t found = 0;
	chat_err e = db_exec(db, &q_room_update, a, DB_NARGS(a), &found, NULL);
	if (e == CHAT_OK && found == 0)
		e = CHAT_ERR_NOT_FOUND;
	return e;
}

chat_err chat_dal_room_delete(chat_db *db, int64_t room_id)
{
	db_arg a[] = { DBI(room_id) };
	uint64_t found = 0;
	chat_err e = db_exec(db, &q_room_delete, a, DB_NARGS(a), &found, NULL);
	if (e == CHAT_OK && found == 0)
		e = CHAT_ERR_NOT_FOUND;
	return e;
}
