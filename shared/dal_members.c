/* Room membership. */
#include <stdlib.h>
#include <string.h>

#include "chat_dal.h"
#include "db_internal.h"

DB_SQL(q_member_role, "SELECT role FROM room_members WHERE room_id = ? AND user_id = ?");
/* The room lock of the ordering rule, taken by a locking read so that
 * is_private comes from the same locked row. */
DB_SQL(q_member_lock_room, "SELECT is_private FROM rooms WHERE id = ? FOR UPDATE");
DB_SQL(q_member_insert, "INSERT INTO room_members (room_id, user_id, role, joined_at) "
                        "VALUES (?, ?, ?, UTC_TIMESTAMP(3))");
DB_SQL(q_member_delete, "DELETE FROM room_members WHERE room_id = ? AND user_id = ?");
DB_SQL(q_members_list,
       "SELECT u.id, u.username, m.role,"
       " EXISTS (SELECT 1 FROM presence p WHERE p.room_id = m.room_id AND p.user_id = m.user_id)"
       " FROM room_members m JOIN users u ON u.id = m.user_id"
       " WHERE m.room_id = ? ORDER BY m.joined_at, m.user_id");

static chat_err role_row(void *ctx, const db_row *r)
{
	*(chat_role *)ctx = strcmp(db_str(r, 0), "owner") == 0 ? CHAT_ROLE_OWNER : CHAT_ROLE_MEMBER;
	return CHAT_OK;
}

chat_err chat_dal_member_role(chat_db *db, int64_t room_id, int64_t user_id, chat_role *out)
{
	chat_role role = CHAT_ROLE_NONE;
	db_arg a[] = { DBI(room_id), DBI(user_id) };
	chat_err e = db_query(db, &q_member_role, a, DB_NARGS(a), "s", role_row, &role);
	if (e == CHAT_OK)
		*out = role;
	return e;
}

chat_err db_room_lock_access(chat_db *db, int64_t room_id, int64_t user_id, bool *member)
{
	int64_t is_private = 0;
	db_arg a[] = { DBI(room_id) };
	chat_err e = db_query_int(db, &q_member_lock_room, a, DB_NARGS(a), &is_private);
	if (e != CHAT_OK)
		return e;
	/* A statement after the lock: it sees every membership change
	 * committed before the lock was granted. */
	chat_role role = CHAT_ROLE_NONE;
	e = chat_dal_member_role(db, room_id, user_id, &role);
	if (e != CHAT_OK)
		return e;
	*member = role != CHAT_ROLE_NONE;
	return !*member && is_private ? CHAT_ERR_NOT_FOUND : CHAT_OK;
}

chat_err db_member_join(chat_db *db, int64_t room_id, int64_t user_id)
{
	/* Not INSERT IGNORE: that would also hide a missing user. */
	db_arg a[] = { DBI(room_id), DBI(user_id), DBS("member") };
	chat_err e = db_exec(db, &q_member_insert, a, DB_NARGS(a), NULL, NULL);
	return e == CHAT_ERR_DUPLICATE ? CHAT_OK : e;
}

typedef struct member_args {
	int64_t room_id, user_id;
	chat_role role;
} member_args;

static chat_err add_txn(chat_db *db, void *arg)
{
	member_args *m = arg;
	chat_err e = db_room_lock(db, m->room_id);
	if (e != CHAT_OK)
		return e;
	db_arg a[] = { DBI(m->room_id), DBI(m->user_id),
		       DBS(m->role == CHAT_ROLE_OWNER ? "owner" : "member") };
	e = db_exec(db, &q_member_insert, a, DB_NARGS(a), NULL, NULL);
	return e == CHAT_ERR_DUPLICATE ? CHAT_OK : e;
}

chat_err chat_dal_member_add(chat_db *db, int64_t room_id, int64_t user_id, chat_role role)
{
	member_args m = { room_id, user_id, role };
	return chat_db_txn_run(db, add_txn, &m);
}

static chat_err join_txn(chat_db *db, void *arg)
{
	member_args *m = arg;
	bool member = false;
	chat_err e = db_room_lock_access(db, m->room_id, m->user_id, &member);
	if (e != CHAT_OK || member)
		return e;
	return db_member_join(db, m->room_id, m->user_id);
}

chat_err chat_dal_room_join(chat_db *db, int64_t room_id, int64_t user_id)
{
	member_args m = { room_id, user_id, CHAT_ROLE_MEMBER };
	return chat_db_txn_run(db, join_txn, &m);
}

static chat_err remove_txn(chat_db *db, void *arg)
{
	member_args *m = arg;
	chat_err e = db_room_lock(db, m->room_id);
	if (e != CHAT_OK)
		return e;
	chat_role role = CHAT_ROLE_NONE;
	e = chat_dal_member_role(db, m->room_id, m->user_id, &role);
	if (e != CHAT_OK)
		return e;
	if (role == CHAT_ROLE_NONE)
		return CHAT_ERR_NOT_FOUND;
	if (role == CHAT_ROLE_OWNER)
		return CHAT_ERR_CONFLICT;
	db_arg a[] = { DBI(m->room_id), DBI(m->user_id) };
	return db_exec(db, &q_member_delete, a, DB_NARGS(a), NULL, NULL);
}

chat_err chat_dal_member_remove(chat_db *db, int64_t room_id, int64_t user_id)
{
	member_args m = { room_id, user_id, CHAT_ROLE_NONE };
	return chat_db_txn_run(db, remove_txn, &m);
}

static chat_err member_row(void *ctx, const db_row *r)
{
	chat_member *m = db_vec_push(ctx);
	if (!m)
		return CHAT_ERR_NOMEM;
	m->user.id = db_int(r, 0);
	db_copy(r, 1, m->user.username, sizeof(m->user.username));
	m->role = strcmp(db_str(r, 2), "owner") == 0 ? CHAT_ROLE_OWNER : CHAT_ROLE_MEMBER;
	m->online = db_int(r, 3) != 0;
	return CHAT_OK;
}

chat_err chat_dal_members_list(chat_db *db, int64_t room_id, chat_member **out, size_t *n)
{
	db_vec v = { NULL, 0, 0, sizeof(chat_member) };
	db_arg a[] = { DBI(room_id) };
	chat_err e = db_query(db, &q_members_list, a, DB_NARGS(a), "issi", member_row, &v);
	if (e != CHAT_OK) {
		free(v.v);
		return e;
	}
	*out = v.v;
	*n = v.n;
	return CHAT_OK;
}
