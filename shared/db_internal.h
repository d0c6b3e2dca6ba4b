/* Private to shared/chat_db.c and shared/dal_*.c: the connection struct
 * and a small layer over MariaDB prepared statements.
 *
 * Every SQL statement is a static db_sql in the dal_*.c file that uses it;
 * its slot in the per-connection statement cache is assigned on first use,
 * so there is no central list to keep in step. Parameters are passed as an
 * array of db_arg (DBI/DBS), result columns described by a type string
 * ('i' integer, 's' string, 't' DATETIME as epoch milliseconds) and handed
 * row by row to a callback. */
#ifndef CHAT_DB_INTERNAL_H
#define CHAT_DB_INTERNAL_H

#include <mysql.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat_db.h"
#include "chat_types.h"

#define DB_STMT_MAX 128 /* distinct statements in the whole program */
#define DB_MAX_ARGS 1280 /* a 256-row INSERT of 5 columns */
#define DB_STACK_ARGS 132
#define DB_MAX_COLS 24

typedef struct db_sql {
	const char *text;
	int slot; /* -1 until first use */
} db_sql;

#define DB_SQL(name, sqltext) static db_sql name = { sqltext, -1 }

enum { DB_ARG_NULL, DB_ARG_INT, DB_ARG_STR };

typedef struct db_arg {
	int type;
	int64_t i;
	const char *s;
} db_arg;

#define DBI(v) ((db_arg){ .type = DB_ARG_INT, .i = (int64_t)(v) })
/* A string; NULL binds SQL NULL. */
#define DBS(v) ((db_arg){ .type = (v) ? DB_ARG_STR : DB_ARG_NULL, .s = (v) })
#define DB_NARGS(a) (sizeof(a) / sizeof((a)[0]))

typedef struct db_col {
	my_bool is_null;
	my_bool error;
	unsigned long len;
	long long i;
	MYSQL_TIME t;
	char *buf; /* strings: NUL-terminated, grown as needed */
	unsigned long cap;
} db_col;

typedef struct db_row {
	size_t n;
	db_col c[DB_MAX_COLS];
} db_row;

/* Column accessors; k is the 0-based column. */
int64_t db_int(const db_row *r, size_t k);
bool db_null(const db_row *r, size_t k);
/* "" for NULL. Valid until the next row. */
const char *db_str(const db_row *r, size_t k);
unsigned long db_len(const db_row *r, size_t k);
/* 0 for NULL. */
int64_t db_ms(const db_row *r, size_t k);
/* Copy a string column into a fixed buffer (truncating at a UTF-8
 * boundary if it must) / onto the heap (NULL on OOM). */
void db_copy(const db_row *r, size_t k, char *out, size_t outsz);
char *db_dup(const db_row *r, size_t k);

/* Called for each row; a non-OK return stops and is returned. */
typedef chat_err (*db_row_fn)(void *ctx, const db_row *row);

/* Run a statement returning rows (cols describes them). */
chat_err db_query(chat_db *db, db_sql *q, const db_arg *args, size_t nargs, const char *cols,
                  db_row_fn fn, void *ctx);
/* Run a statement returning no rows. affected (found rows: the connection
 * uses CLIENT_FOUND_ROWS) and insert_id may be NULL. */
chat_err db_exec(chat_db *db, db_sql *q, const db_arg *args, size_t nargs, uint64_t *affected,
                 int64_t *insert_id);
/* Single int64 from the first column of the first row; CHAT_ERR_NOT_FOUND
 * when there is no row, *isnull (may be NULL) when it is NULL. */
chat_err db_query_int(chat_db *db, db_sql *q, const db_arg *args, size_t nargs, int64_t *out);

/* Is a transaction (chat_db_txn_run) open on this handle? */
bool db_in_txn(const chat_db *db);

/* Lock the room row (ordering rule): CHAT_ERR_NOT_FOUND if there is no
 * such room. Meant to be the first write of a transaction. */
chat_err db_room_lock(chat_db *db, int64_t room_id);

/* Lock the room row (as db_room_lock) and decide, under that lock,
 * whether user_id may act in it: a member may; a non-member may only in a
 * public room (*member false: the caller makes it one if it acts). No
 * such room, or private and not a member: CHAT_ERR_NOT_FOUND (the room is
 * not visible). In dal_members.c. */
chat_err db_room_lock_access(chat_db *db, int64_t room_id, int64_t user_id, bool *member);
/* Make user_id a member of room_id (its room lock held). */
chat_err db_member_join(chat_db *db, int64_t room_id, int64_t user_id);

/* The unread count of a user in a room from counters kept by the schema's
 * triggers (no scan): the room's live messages (r: rooms), minus the
 * user's own (c: room_sender_counts, may be NULL), minus the others' the
 * user has read (p: read_positions.read_live_count, may be NULL). Never
 * below 0. */
#define DB_UNREAD_EXPR(r, c, p) \
	"GREATEST(0, " r ".message_count - COALESCE(" c ".live_count, 0) - COALESCE(" p \
	".read_live_count, 0))"

/* 64 placeholders for an IN list; unused ones are bound to 0, which is
 * never an id. */
#define DB_IDS64 "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?," \
                 "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?"

/* Helpers for growing result arrays. */
typedef struct db_vec {
	void *v;
	size_t n, cap, elem;
} db_vec;
/* Pointer to a new zeroed element, NULL on OOM. */
void *db_vec_push(db_vec *vec);

/* MYSQL_TIME (UTC) to epoch milliseconds. */
int64_t db_time_to_ms(const MYSQL_TIME *t);

/* Fill a chat_message from columns start..start+9 laid out as
 * DB_MSG_COLS / DB_MSG_SELECT. content is duplicated (CHAT_ERR_NOMEM). */
#define DB_MSG_COLS "iiissssttt"
#define DB_MSG_SELECT(m, u) \
	m ".id, " m ".room_id, " m ".sender_id, " u ".username, " m ".content, " m \
	".message_type, " m ".client_id, " m ".created_at, " m ".edited_at, " m ".deleted_at"
chat_err db_row_message(const db_row *r, size_t start, chat_message *out);

#endif
