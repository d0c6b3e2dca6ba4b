/* The relay's database jobs, as the worker queue (workq.c) runs them.
 *
 * Files and who calls whom (no circles):
 *   workq.c        queues and threads; calls the job kinds below
 *   job_open.c     connections opened / closed (user, room, presence)
 *   job_replay.c   resume: a replay's pages
 *   job_room.c     typing and join/leave events, access rechecks,
 *                  presence re-added after the instance was reaped
 *   job_instance.c the relay instance: register, heartbeat, reap, leave
 *   job_write.c    the writers: batches of chat_message inserts
 *   results.c      relay_post(): every job kind posts through it
 *   dbstate.c      is the database up (every job kind notes its calls)
 * Everything here runs on a worker thread with that thread's own chat_db. */
#ifndef CHAT_RELAY_JOBS_H
#define CHAT_RELAY_JOBS_H

#include "chat_db.h"
#include "relay.h"

/* Connections opened (and closed) together: at most this many per batch.
 * A burst queues more than one batch's worth: bigger batches share their
 * rooms' locks, online lists and commit among more connections. */
#define RELAY_AUTH_BATCH 256

/* results.c: a zeroed result; NULL (logged) on OOM. */
relay_result *relay_result_new(relay_result_kind kind, uint64_t conn_id);

/* dbstate.c: note the outcome of a call (up/down, rate-limited logging). */
void relay_db_note(chat_err e, chat_db *db, const char *what);

/* job_instance.c */
/* The instance id, registering first if need be (*registered set then,
 * may be NULL). 0 if the database is down. */
int64_t relay_instance_ensure(chat_db *db, bool *registered);
/* Tell every relay (this one included) that events were written. */
void relay_jobs_wake(void);
void relay_job_heartbeat(chat_db *db);
void relay_job_unregister(chat_db *db);

/* job_open.c: n <= RELAY_AUTH_BATCH jobs of one kind. */
void relay_job_auth_batch(chat_db *db, relay_job **jobs, size_t n);
void relay_job_close_batch(chat_db *db, relay_job **jobs, size_t n);

/* job_replay.c: plan (first page) or the next page of a replay. */
void relay_job_replay(chat_db *db, relay_job *j);

/* job_room.c */
void relay_job_emit(chat_db *db, relay_job *j);
void relay_job_presence_readd(chat_db *db, relay_job *j);
void relay_job_recheck(chat_db *db, relay_job *j);

/* job_write.c: store n chat_message jobs in one transaction. */
void relay_job_write_batch(chat_db *db, relay_job **jobs, size_t n);

#endif
