/* Database connection: MariaDB Connector/C with our own reconnect, a
 * per-connection prepared-statement cache and transaction retries.
 * One chat_db belongs to one thread. */
#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat_db.h"
#include "chat_dbhosts.h"
#include "chat_time.h"
#include "db_internal.h"

/* A connection idle this long is pinged before use, so a server restart
 * is noticed before a write is sent into a dead socket. */
#define DB_IDLE_PING_MS 5000
#define DB_IO_TIMEOUT_S 30
/* Retries of work that lost to another writer (conflict_retry). */
#define DB_CONFLICT_RETRIES 8
#define DB_LOCK_WAIT_RETRIES 1
#define DB_BACKOFF_FIRST_US 1000
#define DB_BACKOFF_MAX_US 128000
#define DB_STR_INITIAL 256
/* A server of a list that failed is tried after the others for this long,
 * so reconnects do not wait on a dead node first every time. */
#define DB_NODE_RETRY_MS 30000

struct chat_db {
	MYSQL *conn; /* NULL while disconnected */
	char *host, *socket, *user, *password, *name;
	unsigned port, connect_timeout;
	chat_dbhost nodes[CHAT_DBHOSTS_MAX]; /* [database] host as a list */
	int nnodes;                          /* 0: the Unix socket; -1: bad list */
	int cur;                             /* index of the connected node */
	int64_t failed_ms[CHAT_DBHOSTS_MAX]; /* when each last failed, 0 = never */
	MYSQL_STMT *stmts[DB_STMT_MAX];
	bool in_txn;
	bool txn_aborted; /* the server ended this transaction (1213/1205) */
	unsigned rand_state;
	bool lost; /* the last error was a lost connection */
	unsigned last_errno;
	char last_error[512];
	char version[96];
	int64_t last_used_ms;
};

static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;
static int next_slot;

int chat_db_library_init(void)
{
	return mysql_library_init(0, NULL, NULL) ? -1 : 0;
}

void chat_db_library_end(void)
{
	mysql_library_end();
}

void chat_db_thread_end(void)
{
	mysql_thread_end();
}

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

/* ---- errors ---------------------------------------------------------- */

static bool errno_is_conn_lost(unsigned e)
{
	switch (e) {
	case CR_SERVER_GONE_ERROR:   /* 2006 */
	case CR_SERVER_LOST:         /* 2013 */
	case CR_CONNECTION_ERROR:    /* 2002 */
	case CR_CONN_HOST_ERROR:     /* 2003 */
	case CR_UNKNOWN_HOST:        /* 2005 */
	case CR_SERVER_LOST_EXTENDED:/* 2055 */
	case CR_COMMANDS_OUT_OF_SYNC:/* 2014: the connection is unusable */
	case ER_CONNECTION_KILLED:   /* 1927 */
	case ER_SERVER_SHUTDOWN:     /* 1053 */
	case ER_UNKNOWN_COM_ERROR:   /* 1047: a Galera node not ready (not in
	                              * the primary component): go elsewhere */
	case 4031:                   /* disconnected by the server for inactivity */
		return true;
	}
	return false;
}

static chat_err map_errno(unsigned e)
{
	switch (e) {
	case 0: return CHAT_OK;
	case ER_DUP_ENTRY:
	case ER_DUP_ENTRY_WITH_KEY_NAME:
		return CHAT_ERR_DUPLICATE;
	case ER_NO_REFERENCED_ROW:
	case ER_NO_REFERENCED_ROW_2:
		return CHAT_ERR_NOT_FOUND;
	case ER_ROW_IS_REFERENCED:
	case ER_ROW_IS_REFERENCED_2:
		return CHAT_ERR_CONFLICT;
	case ER_DATA_TOO_LONG:
	case WARN_DATA_TRUNCATED: /* e.g. an unknown ENUM value */
	case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD:
	case ER_TRUNCATED_WRONG_VALUE:
	case ER_WARN_DATA_OUT_OF_RANGE:
	case ER_BAD_NULL_ERROR:
		return CHAT_ERR_INVALID;
	case ER_LOCK_DEADLOCK:
	case ER_LOCK_WAIT_TIMEOUT:
	case ER_CON_COUNT_ERROR:
	case ER_TOO_MANY_USER_CONNECTIONS:
	case ER_ACCESS_DENIED_ERROR:
	case ER_DBACCESS_DENIED_ERROR:
	case ER_BAD_DB_ERROR:
	case ER_OPTION_PREVENTS_STATEMENT: /* read-only server */
		return CHAT_ERR_UNAVAILABLE;
	}
	if (errno_is_conn_lost(e) || (e >= 2000 && e < 3000))
		return CHAT_ERR_UNAVAILABLE;
	return CHAT_ERR_INTERNAL;
}

static void set_error(chat_db *db, unsigned e, const char *msg)
{
	db->last_errno = e;
	db->lost = errno_is_conn_lost(e);
	snprintf(db->last_error, sizeof(db->last_error), "%s", msg ? msg : "");
}

static chat_err conn_error(chat_db *db)
{
	set_error(db, mysql_errno(db->conn), mysql_error(db->conn));
	return map_errno(db->last_errno);
}

static chat_err stmt_error(chat_db *db, MYSQL_STMT *st)
{
	set_error(db, mysql_stmt_errno(st), mysql_stmt_error(st));
	return map_errno(db->last_errno);
}

static void clear_error(chat_db *db)
{
	db->last_errno = 0;
	db->lost = false;
	db->last_error[0] = '\0';
}

unsigned chat_db_errno(chat_db *db)
{
	return db ? db->last_errno : 0;
}

static bool errno_is_conflict(unsigned e);

bool chat_db_last_was_conflict(chat_db *db)
{
	return db && errno_is_conflict(db->last_errno);
}

const char *chat_db_error(chat_db *db)
{
	return db ? db->last_error : "";
}

const char *chat_db_server_version(chat_db *db)
{
	return db && db->conn ? db->version : "";
}

bool db_in_txn(const chat_db *db)
{
	return db->in_txn;
}

/* ---- conflicts ---------------------------------------------------------- */

/* Errors after which the server has rolled the work back because another
 * writer won: an InnoDB deadlock victim, a Galera certification conflict
 * or brute-force abort (both 1213, also at COMMIT), a lock wait timeout
 * (1205: the statement is rolled back; the caller rolls back the rest). */
static bool errno_is_conflict(unsigned e)
{
	return e == ER_LOCK_DEADLOCK || e == ER_LOCK_WAIT_TIMEOUT;
}

/* The one retry policy for such losses: may the work run again, after
 * its *attempt-th loss? Yes, at most DB_CONFLICT_RETRIES times (a lock
 * wait timeout already waited innodb_lock_wait_timeout: at most
 * DB_LOCK_WAIT_RETRIES), after a random pause that doubles from 1-2 ms to
 * 128-256 ms, so that writers that collided do not collide again in step.
 * Running again cannot duplicate: nothing of the lost attempt committed. */
static bool conflict_retry(chat_db *db, unsigned err, int *attempt)
{
	int limit = err == ER_LOCK_DEADLOCK ? DB_CONFLICT_RETRIES
	            : err == ER_LOCK_WAIT_TIMEOUT ? DB_LOCK_WAIT_RETRIES : 0;
	if (*attempt >= limit)
		return false;
	long us = DB_BACKOFF_FIRST_US << (*attempt < 7 ? *attempt : 7);
	if (us > DB_BACKOFF_MAX_US)
		us = DB_BACKOFF_MAX_US;
	(*attempt)++;
	if (!db->rand_state)
		db->rand_state = (unsigned)chat_time_mono_ms() ^ (unsigned)(uintptr_t)db;
	us += (long)((unsigned)rand_r(&db->rand_state) % (unsigned)us);
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	while (nanosleep(&ts, &ts) != 0) {
	}
	return true;
}

/* ---- connecting -------------------------------------------------------- */

/* Every disconnect but the final close follows a failure: with a list of
 * servers, the one we were on goes to the back of the line for a while. */
static void db_disconnect(chat_db *db)
{
	if (db->conn && db->nnodes > 1)
		db->failed_ms[db->cur] = chat_time_mono_ms();
	for (int i = 0; i < DB_STMT_MAX; i++) {
		if (db->stmts[i]) {
			mysql_stmt_close(db->stmts[i]);
			db->stmts[i] = NULL;
		}
	}
	if (db->conn) {
		mysql_close(db->conn);
		db->conn = NULL;
	}
	/* in_txn is left to chat_db_txn_run: inside a transaction nothing
	 * reconnects until it has given up on that attempt. */
}

/* One connection attempt to host:port (TCP), or to the Unix socket when
 * host is NULL. Returns the handle or NULL with the error recorded. */
static MYSQL *connect_one(chat_db *db, const char *host, unsigned port)
{
	MYSQL *c = mysql_init(NULL);
	if (!c) {
		set_error(db, CR_OUT_OF_MEMORY, "out of memory");
		return NULL;
	}
	my_bool off = 0;
	unsigned io = DB_IO_TIMEOUT_S;
	unsigned ct = db->connect_timeout ? db->connect_timeout : 5;
	mysql_optionsv(c, MYSQL_OPT_RECONNECT, &off);
	mysql_optionsv(c, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
	mysql_optionsv(c, MYSQL_OPT_READ_TIMEOUT, &io);
	mysql_optionsv(c, MYSQL_OPT_WRITE_TIMEOUT, &io);
	mysql_optionsv(c, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	/* Session settings, re-applied by every reconnect. READ COMMITTED:
	 * each statement sees the latest commits (the outbox reader needs
	 * that) and fewer gap locks. A lock wait shorter than the read
	 * timeout, so the server reports it rather than the socket. */
	mysql_optionsv(c, MYSQL_INIT_COMMAND,
	               "SET time_zone = '+00:00', "
	               "sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO', "
	               "innodb_lock_wait_timeout = 10, "
	               "collation_connection = 'utf8mb4_unicode_ci'");
	mysql_optionsv(c, MYSQL_INIT_COMMAND,
	               "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");

	const char *sock = (!host && db->socket[0]) ? db->socket : NULL;
	if (!host && !sock)
		host = "localhost";
	else if (host) {
		/* A host means TCP, even "localhost" (which the client library
		 * would otherwise take as its default Unix socket). */
		unsigned proto = MYSQL_PROTOCOL_TCP;
		mysql_optionsv(c, MYSQL_OPT_PROTOCOL, &proto);
	}
	if (!mysql_real_connect(c, host, db->user, db->password, db->name[0] ? db->name : NULL,
	                        port, sock, CLIENT_FOUND_ROWS)) {
		set_error(db, mysql_errno(c), mysql_error(c));
		db->lost = true;
		mysql_close(c);
		return NULL;
	}
	return c;
}

/* Connect to the socket, or to the first server of the list that answers:
 * in the configured order (every client prefers the same node), those that
 * failed in the last DB_NODE_RETRY_MS after the others. */
static chat_err db_connect(chat_db *db)
{
	MYSQL *c = NULL;

	if (db->nnodes < 0) {
		set_error(db, 0, "[database] host is not a valid list of servers");
		return CHAT_ERR_UNAVAILABLE;
	}
	if (db->nnodes == 0) {
		c = connect_one(db, NULL, db->port);
	} else {
		int64_t now = chat_time_mono_ms();
		bool recent[CHAT_DBHOSTS_MAX];
		for (int i = 0; i < db->nnodes; i++)
			recent[i] = db->failed_ms[i] && now - db->failed_ms[i] < DB_NODE_RETRY_MS;
		for (int pass = 0; pass < 2 && !c; pass++) {
			for (int i = 0; i < db->nnodes && !c; i++) {
				if (recent[i] != (pass == 1))
					continue;
				c = connect_one(db, db->nodes[i].host, db->nodes[i].port);
				if (c) {
					db->cur = i;
					db->failed_ms[i] = 0;
				} else {
					db->failed_ms[i] = chat_time_mono_ms();
				}
			}
		}
	}
	if (!c)
		return db->last_errno == CR_OUT_OF_MEMORY ? CHAT_ERR_NOMEM : CHAT_ERR_UNAVAILABLE;
	db->conn = c;
	snprintf(db->version, sizeof(db->version), "%s", mysql_get_server_info(c));
	db->last_used_ms = chat_time_mono_ms();
	clear_error(db);
	return CHAT_OK;
}

/* Make sure there is a live connection before sending anything. */
static chat_err db_ensure(chat_db *db)
{
	if (!db->conn && db->in_txn) {
		db->lost = true;
		return CHAT_ERR_UNAVAILABLE;
	}
	if (!db->conn)
		return db_connect(db);
	int64_t now = chat_time_mono_ms();
	if (!db->in_txn && now - db->last_used_ms > DB_IDLE_PING_MS) {
		if (mysql_ping(db->conn) != 0) {
			db_disconnect(db);
			return db_connect(db);
		}
	}
	db->last_used_ms = now;
	return CHAT_OK;
}

chat_db *chat_db_open(const chat_config *cfg, chat_err *err)
{
	chat_db *db = calloc(1, sizeof(*db));
	if (!db)
		goto oom;
	db->host = dup_or_empty(cfg->database.host);
	db->socket = dup_or_empty(cfg->database.socket);
	db->user = dup_or_empty(cfg->database.user);
	db->password = dup_or_empty(cfg->database.password);
	db->name = dup_or_empty(cfg->database.name);
	if (!db->host || !db->socket || !db->user || !db->password || !db->name)
		goto oom;
	db->port = cfg->database.port > 0 ? (unsigned)cfg->database.port : 0;
	db->connect_timeout =
		cfg->database.connect_timeout > 0 ? (unsigned)cfg->database.connect_timeout : 5;
	{
		const char *why;
		db->nnodes = chat_dbhosts_parse(db->host, db->port ? db->port : 3306, db->nodes,
		                                CHAT_DBHOSTS_MAX, &why);
	}
	chat_err e = db_connect(db);
	if (err)
		*err = e;
	return db;
oom:
	chat_db_close(db);
	if (err)
		*err = CHAT_ERR_NOMEM;
	return NULL;
}

void chat_db_close(chat_db *db)
{
	if (!db)
		return;
	db_disconnect(db);
	free(db->host);
	free(db->socket);
	free(db->user);
	if (db->password) {
		/* explicit_bzero is not everywhere; a volatile loop is enough. */
		volatile char *p = db->password;
		while (*p)
			*p++ = 0;
	}
	free(db->password);
	free(db->name);
	free(db);
}

chat_err chat_db_ping(chat_db *db)
{
	if (!db->conn)
		return db_connect(db);
	if (mysql_ping(db->conn) == 0) {
		db->last_used_ms = chat_time_mono_ms();
		return CHAT_OK;
	}
	conn_error(db);
	if (db->in_txn)
		return CHAT_ERR_UNAVAILABLE;
	db_disconnect(db);
	return db_connect(db);
}

/* ---- statements -------------------------------------------------------- */

static int slot_of(db_sql *q)
{
	int s = __atomic_load_n(&q->slot, __ATOMIC_ACQUIRE);
	if (s >= 0)
		return s;
	pthread_mutex_lock(&slot_lock);
	if (q->slot < 0 && next_slot < DB_STMT_MAX)
		__atomic_store_n(&q->slot, next_slot++, __ATOMIC_RELEASE);
	s = q->slot;
	pthread_mutex_unlock(&slot_lock);
	return s;
}

static void drop_stmt(chat_db *db, int slot)
{
	if (db->stmts[slot]) {
		mysql_stmt_close(db->stmts[slot]);
		db->stmts[slot] = NULL;
	}
}

static MYSQL_STMT *prepared(chat_db *db, db_sql *q, int *slot_out, chat_err *err)
{
	int slot = slot_of(q);
	*slot_out = slot;
	if (slot < 0) {
		set_error(db, 0, "statement cache full (raise DB_STMT_MAX)");
		*err = CHAT_ERR_INTERNAL;
		return NULL;
	}
	if (db->stmts[slot])
		return db->stmts[slot];
	MYSQL_STMT *st = mysql_stmt_init(db->conn);
	if (!st) {
		*err = conn_error(db);
		return NULL;
	}
	if (mysql_stmt_prepare(st, q->text, (unsigned long)strlen(q->text)) != 0) {
		*err = stmt_error(db, st);
		mysql_stmt_close(st);
		return NULL;
	}
	db->stmts[slot] = st;
	return st;
}

static void free_cols(db_row *row)
{
	for (size_t k = 0; k < row->n; k++)
		free(row->c[k].buf);
}

/* One attempt. *sent tells whether the statement may have reached the
 * server (execute was called). */
static chat_err run_once(chat_db *db, db_sql *q, const db_arg *args, size_t nargs,
                         const char *cols, db_row_fn fn, void *ctx, uint64_t *affected,
                         int64_t *insert_id, bool *sent)
{
	MYSQL_BIND pb[DB_MAX_ARGS];
	long long iv[DB_MAX_ARGS];
	unsigned long lens[DB_MAX_ARGS];
	MYSQL_BIND rb[DB_MAX_COLS];
	db_row row;
	chat_err e = CHAT_OK;
	int slot = -1;
	bool have_result = false;

	*sent = false;
	memset(&row, 0, sizeof(row));
	if (nargs > DB_MAX_ARGS || (cols && strlen(cols) > DB_MAX_COLS)) {
		set_error(db, 0, "too many parameters or columns");
		return CHAT_ERR_INTERNAL;
	}
	e = db_ensure(db);
	if (e != CHAT_OK)
		return e;
	MYSQL_STMT *st = prepared(db, q, &slot, &e);
	if (!st)
		return e;

	memset(pb, 0, sizeof(pb[0]) * (nargs ? nargs : 1));
	for (size_t k = 0; k < nargs; k++) {
		switch (args[k].type) {
		case DB_ARG_INT:
			iv[k] = args[k].i;
			pb[k].buffer_type = MYSQL_TYPE_LONGLONG;
			pb[k].buffer = &iv[k];
			break;
		case DB_ARG_STR:
			lens[k] = (unsigned long)strlen(args[k].s);
			pb[k].buffer_type = MYSQL_TYPE_STRING;
			pb[k].buffer = (void *)args[k].s;
			pb[k].buffer_length = lens[k];
			pb[k].length = &lens[k];
			break;
		default:
			pb[k].buffer_type = MYSQL_TYPE_NULL;
			break;
		}
	}
	if (mysql_stmt_param_count(st) != nargs) {
		set_error(db, 0, "parameter count mismatch");
		return CHAT_ERR_INTERNAL;
	}
	if (nargs && mysql_stmt_bind_param(st, pb) != 0)
		return stmt_error(db, st);

	*sent = true;
	if (mysql_stmt_execute(st) != 0) {
		e = stmt_error(db, st);
		if (db->last_errno == ER_NEED_REPREPARE || db->last_errno == ER_UNKNOWN_STMT_HANDLER)
			drop_stmt(db, slot);
		return e;
	}

	if (!cols) {
		if (affected)
			*affected = (uint64_t)mysql_stmt_affected_rows(st);
		if (insert_id)
			*insert_id = (int64_t)mysql_stmt_insert_id(st);
		clear_error(db);
		return CHAT_OK;
	}

	row.n = strlen(cols);
	if (mysql_stmt_field_count(st) != row.n) {
		set_error(db, 0, "result column count mismatch");
		e = CHAT_ERR_INTERNAL;
		goto out;
	}
	memset(rb, 0, sizeof(rb[0]) * row.n);
	for (size_t k = 0; k < row.n; k++) {
		db_col *c = &row.c[k];
		rb[k].is_null = &c->is_null;
		rb[k].error = &c->error;
		rb[k].length = &c->len;
		switch (cols[k]) {
		case 'i':
			rb[k].buffer_type = MYSQL_TYPE_LONGLONG;
			rb[k].buffer = &c->i;
			break;
		case 't':
			rb[k].buffer_type = MYSQL_TYPE_DATETIME;
			rb[k].buffer = &c->t;
			rb[k].buffer_length = sizeof(c->t);
			break;
		default:
			c->cap = DB_STR_INITIAL;
			c->buf = malloc(c->cap);
			if (!c->buf) {
				e = CHAT_ERR_NOMEM;
				goto out;
			}
			rb[k].buffer_type = MYSQL_TYPE_STRING;
			rb[k].buffer = c->buf;
			rb[k].buffer_length = c->cap - 1;
			break;
		}
	}
	if (mysql_stmt_bind_result(st, rb) != 0) {
		e = stmt_error(db, st);
		goto out;
	}
	/* Buffer the whole result so fn may run other statements. */
	if (mysql_stmt_store_result(st) != 0) {
		e = stmt_error(db, st);
		goto out;
	}
	have_result = true;
	for (;;) {
		int rc = mysql_stmt_fetch(st);
		if (rc == MYSQL_NO_DATA)
			break;
		if (rc == 1) {
			e = stmt_error(db, st);
			goto out;
		}
		bool rebind = false;
		for (size_t k = 0; k < row.n; k++) {
			db_col *c = &row.c[k];
			if (cols[k] != 's' || c->is_null)
				continue;
			if (c->len >= c->cap) {
				/* Truncated: grow and fetch the column again. */
				char *nb = realloc(c->buf, c->len + 1);
				if (!nb) {
					e = CHAT_ERR_NOMEM;
					goto out;
				}
				c->buf = nb;
				c->cap = c->len + 1;
				rb[k].buffer = c->buf;
				rb[k].buffer_length = c->cap - 1;
				if (mysql_stmt_fetch_column(st, &rb[k], (unsigned)k, 0) != 0) {
					e = stmt_error(db, st);
					goto out;
				}
				rebind = true;
			}
			c->buf[c->len] = '\0';
		}
		if (rebind && mysql_stmt_bind_result(st, rb) != 0) {
			e = stmt_error(db, st);
			goto out;
		}
		e = fn(ctx, &row);
		if (e != CHAT_OK)
			goto out;
	}
	clear_error(db);
out:
	if (have_result)
		mysql_stmt_free_result(st);
	else if (e != CHAT_OK && slot >= 0)
		mysql_stmt_reset(st);
	free_cols(&row);
	return e;
}

/* Retry once on a lost connection when that cannot duplicate a write:
 * reads always; writes only outside a transaction and when the server
 * cannot have run them (nothing sent, or the send itself failed). Also
 * once after the server asked for the statement to be prepared again. */
static chat_err run(chat_db *db, db_sql *q, const db_arg *args, size_t nargs, const char *cols,
                    db_row_fn fn, void *ctx, uint64_t *affected, int64_t *insert_id)
{
	/* The server already ended this transaction: a statement now would
	 * run on its own, outside it (autocommit). Its loss stands until
	 * chat_db_txn_run rolls back and runs the whole again. */
	if (db->in_txn && db->txn_aborted)
		return CHAT_ERR_UNAVAILABLE;
	int conflicts = 0;
	for (int attempt = 0;; attempt++) {
		bool sent = false;
		chat_err e = run_once(db, q, args, nargs, cols, fn, ctx, affected, insert_id, &sent);
		if (e != CHAT_OK && errno_is_conflict(db->last_errno)) {
			if (db->in_txn) {
				db->txn_aborted = true;
				return e;
			}
			/* On its own (autocommit), the statement was all the work. */
			if (conflict_retry(db, db->last_errno, &conflicts)) {
				attempt--;
				continue;
			}
			return e;
		}
		if (e == CHAT_OK || attempt > 0)
			return e;
		if (db->last_errno == ER_NEED_REPREPARE && !db->in_txn)
			continue;
		if (!db->lost)
			return e;
		db_disconnect(db);
		if (db->in_txn) {
			db->lost = true; /* chat_db_txn_run sees it */
			return CHAT_ERR_UNAVAILABLE;
		}
		if (cols == NULL && sent && db->last_errno != CR_SERVER_GONE_ERROR)
			return CHAT_ERR_UNAVAILABLE;
	}
}

chat_err db_query(chat_db *db, db_sql *q, const db_arg *args, size_t nargs, const char *cols,
                  db_row_fn fn, void *ctx)
{
	return run(db, q, args, nargs, cols, fn, ctx, NULL, NULL);
}

chat_err db_exec(chat_db *db, db_sql *q, const db_arg *args, size_t nargs, uint64_t *affected,
                 int64_t *insert_id)
{
	return run(db, q, args, nargs, NULL, NULL, NULL, affected, insert_id);
}

typedef struct int_ctx {
	int64_t v;
	bool found;
} int_ctx;

static chat_err int_row(void *ctx, const db_row *r)
{
	int_ctx *c = ctx;
	if (!c->found) {
		c->v = db_null(r, 0) ? 0 : db_int(r, 0);
		c->found = true;
	}
	return CHAT_OK;
}

chat_err db_query_int(chat_db *db, db_sql *q, const db_arg *args, size_t nargs, int64_t *out)
{
	int_ctx c = { 0, false };
	chat_err e = db_query(db, q, args, nargs, "i", int_row, &c);
	if (e != CHAT_OK)
		return e;
	if (!c.found)
		return CHAT_ERR_NOT_FOUND;
	*out = c.v;
	return CHAT_OK;
}

/* ---- transactions ---------------------------------------------------- */

static bool simple(chat_db *db, const char *sql)
{
	if (mysql_query(db->conn, sql) != 0) {
		conn_error(db);
		return false;
	}
	return true;
}

chat_err chat_db_txn_run(chat_db *db, chat_err (*fn)(chat_db *db, void *arg), void *arg)
{
	if (db->in_txn) /* nested: part of the caller's transaction */
		return fn(db, arg);
	int lost_retries = 0, conflicts = 0;
	for (;;) {
		chat_err e = db_ensure(db);
		if (e != CHAT_OK)
			return e;
		if (!simple(db, "START TRANSACTION")) {
			if (db->lost) {
				db_disconnect(db);
				if (lost_retries++ == 0)
					continue;
				return CHAT_ERR_UNAVAILABLE;
			}
			return map_errno(db->last_errno);
		}
		db->in_txn = true;
		db->txn_aborted = false;
		clear_error(db);
		e = fn(db, arg);
		if (e == CHAT_OK && db->txn_aborted)
			e = CHAT_ERR_UNAVAILABLE; /* fn went on after a loss: never commit that */
		if (e == CHAT_OK) {
			if (mysql_commit(db->conn) == 0) {
				db->in_txn = false;
				return CHAT_OK;
			}
			conn_error(db);
			if (db->lost) {
				/* The outcome is unknown: never run fn again. */
				db_disconnect(db);
				db->in_txn = false;
				return CHAT_ERR_UNAVAILABLE;
			}
			e = map_errno(db->last_errno);
		}
		unsigned en = db->last_errno;
		bool lost = db->lost || !db->conn;
		if (lost) {
			db_disconnect(db);
			db->in_txn = false;
			if (lost_retries++ == 0)
				continue;
			return CHAT_ERR_UNAVAILABLE;
		}
		db->in_txn = false;
		if (mysql_rollback(db->conn) != 0) {
			unsigned keep = en;
			conn_error(db);
			if (db->lost)
				db_disconnect(db);
			db->last_errno = keep;
		}
		if (errno_is_conflict(en) && conflict_retry(db, en, &conflicts))
			continue;
		return e;
	}
}

/* ---- rows -------------------------------------------------------------- */

int64_t db_int(const db_row *r, size_t k)
{
	return r->c[k].is_null ? 0 : (int64_t)r->c[k].i;
}

bool db_null(const db_row *r, size_t k)
{
	return r->c[k].is_null;
}

const char *db_str(const db_row *r, size_t k)
{
	return r->c[k].is_null || !r->c[k].buf ? "" : r->c[k].buf;
}

unsigned long db_len(const db_row *r, size_t k)
{
	return r->c[k].is_null ? 0 : r->c[k].len;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int64_t db_time_to_ms(const MYSQL_TIME *t)
{
	if (t->year == 0 && t->month == 0 && t->day == 0)
		return 0;
	int64_t days = days_from_civil(t->year, t->month, t->day);
	int64_t s = days * 86400 + t->hour * 3600 + t->minute * 60 + t->second;
	return s * 1000 + t->second_part / 1000;
}

int64_t db_ms(const db_row *r, size_t k)
{
	return r->c[k].is_null ? 0 : db_time_to_ms(&r->c[k].t);
}

void db_copy(const db_row *r, size_t k, char *out, size_t outsz)
{
	if (!outsz)
		return;
	const char *s = db_str(r, k);
	size_t n = db_len(r, k);
	if (n >= outsz) {
		n = outsz - 1;
		/* Do not cut a UTF-8 sequence in half. */
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(out, s, n);
	out[n] = '\0';
}

char *db_dup(const db_row *r, size_t k)
{
	size_t n = db_len(r, k);
	char *p = malloc(n + 1);
	if (!p)
		return NULL;
	memcpy(p, db_str(r, k), n);
	p[n] = '\0';
	return p;
}

void *db_vec_push(db_vec *vec)
{
	if (vec->n == vec->cap) {
		size_t nc = vec->cap ? vec->cap * 2 : 16;
		void *nv = realloc(vec->v, nc * vec->elem);
		if (!nv)
			return NULL;
		vec->v = nv;
		vec->cap = nc;
	}
	void *p = (char *)vec->v + vec->n * vec->elem;
	memset(p, 0, vec->elem);
	vec->n++;
	return p;
}

chat_err db_row_message(const db_row *r, size_t s, chat_message *out)
{
	memset(out, 0, sizeof(*out));
	out->id = db_int(r, s + 0);
	out->room_id = db_int(r, s + 1);
	out->sender.id = db_int(r, s + 2);
	db_copy(r, s + 3, out->sender.username, sizeof(out->sender.username));
	out->content = db_dup(r, s + 4);
	if (!out->content)
		return CHAT_ERR_NOMEM;
	db_copy(r, s + 5, out->message_type, sizeof(out->message_type));
	db_copy(r, s + 6, out->client_id, sizeof(out->client_id));
	out->created_ms = db_ms(r, s + 7);
	out->edited_ms = db_ms(r, s + 8);
	out->deleted_ms = db_ms(r, s + 9);
	return CHAT_OK;
}
