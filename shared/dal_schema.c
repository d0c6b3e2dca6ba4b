/* The schema version the database is at. */
#include <mysqld_error.h>

#include "chat_dal.h"
#include "db_internal.h"

DB_SQL(q_schema_version, "SELECT COALESCE(MAX(version), 0) FROM schema_version");

chat_err chat_dal_schema_version(chat_db *db, int *version)
{
	int64_t v = 0;
	chat_err e = db_query_int(db, &q_schema_version, NULL, 0, &v);
	if (e != CHAT_OK && chat_db_errno(db) == ER_NO_SUCH_TABLE) {
		*version = 0; /* never migrated */
		return CHAT_OK;
	}
	if (e == CHAT_OK)
		*version = (int)v;
	return e;
}
