/* Database connection: one chat_db per thread (never shared), MariaDB
 * Connector/C underneath. Sessions are utf8mb4 with time_zone '+00:00';
 * MYSQL_OPT_RECONNECT stays off: on a lost connection (2006/2013) the layer
 * reconnects itself, re-prepares its cached statements and retries the
 * statement once when that is safe (reads, and writes outside a
 * transaction that never reached the server). Work that lost to another
 * writer (1213: an InnoDB deadlock or a Galera certification conflict,
 * also at COMMIT; 1205: lock wait timeout) is run again whole, bounded,
 * after a growing random pause: a transaction by chat_db_txn_run(), a
 * statement outside one by itself.
 *
 * Call chat_db_library_init() once before any thread starts and
 * chat_db_thread_end() before a thread that used a chat_db exits. */
#ifndef CHAT_DB_H
#define CHAT_DB_H

#include <stdbool.h>
#include <stdint.h>

#include "chat_config.h"
#include "chat_error.h"

typedef struct chat_db chat_db;

int chat_db_library_init(void);
void chat_db_library_end(void);
void chat_db_thread_end(void);

/* Create a handle from cfg->database. The connection is attempted at once;
 * if the server is down the handle is still returned (*err =
 * CHAT_ERR_UNAVAILABLE) and every later call tries to connect again.
 * Returns NULL only on OOM. Owner: the calling thread. */
chat_db *chat_db_open(const chat_config *cfg, chat_err *err);

/* Close and free. Accepts NULL. */
void chat_db_close(chat_db *db);

/* Is the server reachable right now? (mysql_ping, reconnecting if need be) */
chat_err chat_db_ping(chat_db *db);

/* Run fn(db, arg) inside BEGIN ... COMMIT. fn returns CHAT_OK to commit,
 * anything else to roll back. Every write transaction of the DAL runs
 * here. A deadlock or certification conflict (1213, in a statement or at
 * COMMIT) rolls back and runs fn again, up to 8 times, after a random
 * pause of 1-2 ms doubling up to 128-256 ms; a lock wait timeout (1205)
 * once. fn must be safe to run again (start from a clean state). After
 * such an error every further statement of that attempt fails without
 * being sent (the server has ended the transaction; a statement now would
 * commit on its own). A connection lost before COMMIT
 * reconnects and runs fn again once; a connection lost during COMMIT
 * returns CHAT_ERR_UNAVAILABLE (the outcome is unknown: callers that must
 * not duplicate use client_id dedupe). */
chat_err chat_db_txn_run(chat_db *db, chat_err (*fn)(chat_db *db, void *arg), void *arg);

/* Last MariaDB error number and text on this handle, for logs. */
unsigned chat_db_errno(chat_db *db);
const char *chat_db_error(chat_db *db);
/* Was the last failure a lost race with other writers (deadlock victim,
 * Galera certification conflict, lock wait timeout) rather than a server
 * that cannot be reached? */
bool chat_db_last_was_conflict(chat_db *db);

/* Server's MariaDB version string, or "" when not connected. */
const char *chat_db_server_version(chat_db *db);

#endif
