/* Users: accounts and authentication. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chat_dal.h"
#include "chat_password.h"
#include "db_internal.h"

DB_SQL(q_user_insert, "INSERT INTO users (username, password_hash, is_active, created_at) "
                      "VALUES (?, ?, 1, UTC_TIMESTAMP(3))");
DB_SQL(q_user_by_id, "SELECT id, username, password_hash, is_active, created_at "
                     "FROM users WHERE id = ?");
DB_SQL(q_user_by_name, "SELECT id, username, password_hash, is_active, created_at "
                       "FROM users WHERE username = ?");
DB_SQL(q_users_by_ids, "SELECT id, username FROM users WHERE id IN (" DB_IDS64 ") ORDER BY id");

chat_err chat_dal_user_create(chat_db *db, const char *username, const char *password_hash,
                              int64_t *id_out)
{
	db_arg a[] = { DBS(username), DBS(password_hash ? password_hash : "") };
	int64_t id = 0;
	chat_err e = db_exec(db, &q_user_insert, a, DB_NARGS(a), NULL, &id);
	if (e == CHAT_OK && id_out)
		*id_out = id;
	return e;
}

typedef struct user_ctx {
	chat_user *out;
	bool found;
} user_ctx;

static chat_err user_row(void *ctx, const db_row *r)
{
	user_ctx *c = ctx;
	memset(c->out, 0, sizeof(*c->out));
	c->out->id = db_int(r, 0);
	db_copy(r, 1, c->out->username, sizeof(c->out->username));
	db_copy(r, 2, c->out->password_hash, sizeof(c->out->password_hash));
	c->out->is_active = db_int(r, 3) != 0;
	c->out->created_ms = db_ms(r, 4);
	c->found = true;
	return CHAT_OK;
}

static chat_err user_query(chat_db *db, db_sql *q, const db_arg *a, chat_user *out)
{
	chat_user tmp;
	user_ctx c = { &tmp, false };
	chat_err e = db_query(db, q, a, 1, "issit", user_row, &c);
	if (e != CHAT_OK)
		return e;
	if (!c.found)
		return CHAT_ERR_NOT_FOUND;
	*out = tmp;
	return CHAT_OK;
}

chat_err chat_dal_user_by_id(chat_db *db, int64_t id, chat_user *out)
{
	db_arg a[] = { DBI(id) };
	return user_query(db, &q_user_by_id, a, out);
}

/* The column's collation (utf8mb4_unicode_ci) makes "alice ", "alicé" and
 * "alice" equal: good for refusing look-alike registrations, wrong for a
 * lookup, where each spelling would reach the same account (and dodge the
 * per-name login limit). A lookup matches only the name itself, ASCII case
 * aside. */
chat_err chat_dal_user_by_name(chat_db *db, const char *username, chat_user *out)
{
	db_arg a[] = { DBS(username) };
	chat_user u;
	chat_err e = user_query(db, &q_user_by_name, a, &u);
	if (e != CHAT_OK)
		return e;
	if (strcasecmp(u.username, username) != 0) {
		memset(u.password_hash, 0, sizeof(u.password_hash));
		return CHAT_ERR_NOT_FOUND;
	}
	*out = u;
	return CHAT_OK;
}

chat_err chat_dal_user_authenticate(chat_db *db, const char *username, const char *password,
                                    chat_user *out)
{
	chat_user u;
	chat_err e = chat_dal_user_by_name(db, username, &u);
	if (e != CHAT_OK && e != CHAT_ERR_NOT_FOUND) {
		chat_password_dummy_verify(password);
		return e;
	}
	/* Every failure spends the same hashing work as a real check. */
	if (e == CHAT_ERR_NOT_FOUND || !u.is_active || u.password_hash[0] == '\0') {
		chat_password_dummy_verify(password);
		e = CHAT_ERR_AUTH;
	} else if (!chat_password_verify(u.password_hash, password)) {
		e = CHAT_ERR_AUTH;
	}
	if (e == CHAT_OK)
		*out = u;
	memset(u.password_hash, 0, sizeof(u.password_hash));
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

static int cmp_ref(const void *a, const void *b)
{
	const chat_user_ref *x = a, *y = b;
	return (x->id > y->id) - (x->id < y->id);
}

/* Chunks of 64 ids; the result is sorted by id. */
chat_err chat_dal_users_by_ids(chat_db *db, const int64_t *ids, size_t n, chat_user_ref **out,
                               size_t *nout)
{
	db_vec v = { NULL, 0, 0, sizeof(chat_user_ref) };
	chat_err e = CHAT_OK;
	for (size_t off = 0; off < n; off += 64) {
		db_arg a[64];
		for (size_t k = 0; k < 64; k++)
			a[k] = DBI(off + k < n ? ids[off + k] : 0);
		e = db_query(db, &q_users_by_ids, a, 64, "is", ref_row, &v);
		if (e != CHAT_OK)
			goto fail;
	}
	if (v.n > 1)
		qsort(v.v, v.n, sizeof(chat_user_ref), cmp_ref);
	*out = v.v;
	*nout = v.n;
	return CHAT_OK;
fail:
	free(v.v);
	return e;
}
