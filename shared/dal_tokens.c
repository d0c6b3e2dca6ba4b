/* Revoked refresh tokens (logout), migration 004. */
#include "chat_dal.h"
#include "db_internal.h"

DB_SQL(q_token_revoke, "INSERT IGNORE INTO revoked_tokens (token_id, user_id, expires_at, revoked_at) "
                       "VALUES (?, ?, ?, UTC_TIMESTAMP(3))");
/* Rows of tokens past their exp protect nothing; a few go per logout. */
DB_SQL(q_token_purge, "DELETE FROM revoked_tokens WHERE expires_at < ? ORDER BY expires_at LIMIT 16");
DB_SQL(q_token_revoked, "SELECT 1 FROM revoked_tokens WHERE token_id = ?");

chat_err chat_dal_token_revoke(chat_db *db, const char *token_id, int64_t user_id,
                               int64_t expires_s, int64_t now_s)
{
	db_arg a[] = { DBS(token_id), DBI(user_id), DBI(expires_s) };
	chat_err e = db_exec(db, &q_token_revoke, a, DB_NARGS(a), NULL, NULL);
	if (e != CHAT_OK)
		return e;
	db_arg p[] = { DBI(now_s) };
	(void)db_exec(db, &q_token_purge, p, DB_NARGS(p), NULL, NULL); /* best effort */
	return CHAT_OK;
}

chat_err chat_dal_token_is_revoked(chat_db *db, const char *token_id, bool *revoked)
{
	db_arg a[] = { DBS(token_id) };
	int64_t one = 0;
	chat_err e = db_query_int(db, &q_token_revoked, a, DB_NARGS(a), &one);
	if (e == CHAT_ERR_NOT_FOUND) {
		*revoked = false;
		return CHAT_OK;
	}
	if (e == CHAT_OK)
		*revoked = true;
	return e;
}
