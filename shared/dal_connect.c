/* Connections being opened, a batch at a time: their users and rooms
 * looked up in two statements for up to 64 connections (not two per
 * connection: a connect burst is bound by the database's work per
 * connection). */
#include <stdlib.h>
#include <string.h>

#include "chat_dal.h"
#include "db_internal.h"

DB_SQL(q_conn_users, "SELECT id, username, is_active FROM users WHERE id IN (" DB_IDS64 ")");
/* Each room with, for a private one, its members among the batch's users
 * (a public one needs none: one row, m.user_id NULL). */
DB_SQL(q_conn_rooms, "SELECT r.id, r.is_private, m.user_id FROM rooms r "
                     "LEFT JOIN room_members m ON r.is_private <> 0 AND m.room_id = r.id"
                     " AND m.user_id IN (" DB_IDS64 ") "
                     "WHERE r.id IN (" DB_IDS64 ")");

typedef struct lookup_ctx {
	const chat_connect_req *req;
	chat_connect_info *out;
	size_t n;
} lookup_ctx;

static chat_err user_row(void *ctx, const db_row *r)
{
	lookup_ctx *c = ctx;
	int64_t id = db_int(r, 0);
	for (size_t i = 0; i < c->n; i++)
		if (c->req[i].user_id == id) {
			chat_connect_info *o = &c->out[i];
			o->user_found = true;
			o->user_active = db_int(r, 2) != 0;
			o->user.id = id;
			db_copy(r, 1, o->user.username, sizeof(o->user.username));
		}
	return CHAT_OK;
}

static chat_err room_row(void *ctx, const db_row *r)
{
	lookup_ctx *c = ctx;
	int64_t id = db_int(r, 0), member = db_null(r, 2) ? 0 : db_int(r, 2);
	bool priv = db_int(r, 1) != 0;
	for (size_t i = 0; i < c->n; i++)
		if (c->req[i].room_id == id) {
			chat_connect_info *o = &c->out[i];
			o->room_found = true;
			o->room_private = priv;
			if (member && member == c->req[i].user_id)
				o->member = true;
		}
	return CHAT_OK;
}

chat_err chat_dal_connect_lookup(chat_db *db, const chat_connect_req *req, size_t n,
                                 chat_connect_info *out)
{
	memset(out, 0, n * sizeof(*out));
	for (size_t off = 0; off < n; off += 64) {
		size_t m = n - off < 64 ? n - off : 64;
		lookup_ctx c = { req + off, out + off, m };
		db_arg a[128];
		for (size_t k = 0; k < 64; k++) {
			a[k] = DBI(k < m ? req[off + k].user_id : 0);
			a[64 + k] = DBI(k < m ? req[off + k].room_id : 0);
		}
		chat_err e = db_query(db, &q_conn_users, a, 64, "isi", user_row, &c);
		if (e == CHAT_OK)
			e = db_query(db, &q_conn_rooms, a, 128, "iii", room_row, &c);
		if (e != CHAT_OK) {
			memset(out, 0, n * sizeof(*out));
			return e;
		}
	}
	return CHAT_OK;
}
