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
DB_SQL(q_inst_delete, "DELETE FROM relay_instances WHERE id = ?");
DB_SQL(q_pres_insert, "INSERT INTO presence (instance_id, room_id, user_id, connected_at) "
                      "VALUES (?, ?, ?, UTC_TIMESTAMP(3))");
DB_SQL(q_pres_room, "SELECT room_id FROM presence WHERE id = ?");
DB_SQL(q_pres_delete, "DELETE FROM presence WHERE id = ?");
DB_SQL(q_pres_online, "SELECT DISTINCT u.id, u.username FROM presence p "
                      "JOIN users u ON u.id = p.user_id WHERE p.room_id = ? ORDER BY u.id");

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

typedef struct pres_args {
	int64_t instance_id, room_id, user_id, presence_id;
} pres_args;

static chat_err add_txn(chat_db *db, void *arg)
{
	pres_args *p = arg;
	chat_err e = db_room_lock(db, p->room_id);
	if (e != CHAT_OK)
		return e;
	db_arg a[] = { DBI(p->instance_id), DBI(p->room_id), DBI(p->user_id) };
	return db_exec(db, &q_pres_insert, a, DB_NARGS(a), NULL, &p->presence_id);
}

chat_err chat_dal_presence_add(chat_db *db, int64_t instance_id, int64_t room_id, int64_t user_id,
                               int64_t *presence_id)
{
	pres_args p = { instance_id, room_id, user_id, 0 };
	chat_err e = chat_db_txn_run(db, add_txn, &p);
	if (e == CHAT_OK && presence_id)
		*presence_id = p.presence_id;
	return e;
}

static chat_err remove_txn(chat_db *db, void *arg)
{
	pres_args *p = arg;
	int64_t room_id = 0;
	db_arg a[] = { DBI(p->presence_id) };
	chat_err e = db_query_int(db, &q_pres_room, a, DB_NARGS(a), &room_id);
	if (e != CHAT_OK)
		return e;
	e = db_room_lock(db, room_id);
	if (e != CHAT_OK)
		return e;
	uint64_t found = 0;
	e = db_exec(db, &q_pres_delete, a, DB_NARGS(a), &found, NULL);
	if (e == CHAT_OK && found == 0)
		e = CHAT_ERR_NOT_FOUND; /* removed meanwhile */
	return e;
}

chat_err chat_dal_presence_remove(chat_db *db, int64_t presence_id)
{
	pres_args p = { 0, 0, 0, presence_id };
	return chat_db_txn_run(db, remove_txn, &p);
}

static chat_err id_row(void *ctx, const db_row *r)
{
	int64_t *v = db_vec_push(ctx);
	if (!v)
		return CHAT_ERR_NOMEM;
	*v = db_int(r, 0);
	return CHAT_OK;
}

chat_err chat_dal_instance_unregister(chat_db *db, int64_t instance_id)
{
	db_vec v = { NULL, 0, 0, sizeof(int64_t) };
	db_arg a[] = { DBI(instance_id) };
	chat_err e = db_query(db, &q_inst_rows, a, DB_NARGS(a), "i", id_row, &v);
	if (e != CHAT_OK)
		goto out;
	/* One small transaction per connection: each writes its
	 * presence_leave (when last) in its room's order. */
	for (size_t i = 0; i < v.n; i++) {
		e = chat_dal_presence_remove(db, ((int64_t *)v.v)[i]);
		if (e != CHAT_OK && e != CHAT_ERR_NOT_FOUND)
			goto out;
	}
	e = db_exec(db, &q_inst_delete, a, DB_NARGS(a), NULL, NULL);
out:
	free(v.v);
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
