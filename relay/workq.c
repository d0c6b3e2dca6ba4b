/* Database work off the event loop: the worker queues and threads (the
 * job kinds are in job_*.c, see jobs.h).
 *
 * relay.db_workers worker threads, as many replay threads (replay pages
 * only) and relay.db_writers writer threads, each with its
 * own chat_db and its own locked job queue. A connection's jobs go to the
 * worker of its room (room_id modulo the count; a connection stays in one
 * room), so they run in the order the loop submitted them (open, typing,
 * close), and two workers' batches of opens and closes share no room:
 * they never wait for each other's room locks. Routed by connection, both
 * workers locked the same busy rooms: 100,000 connections at 2,000/s over
 * six processes had a connect p99 of 705-1,476 ms, by room 243-604 ms
 * (tests/bench/conn-burst.sh, alternating). Replay pages, read-only, go
 * to the replay thread of their connection. chat_message inserts
 * go to the writer of their room (room_id modulo relay.db_writers), which takes
 * everything pending (at most relay.batch_max) and stores it in one
 * transaction. A connection sends to one room, so one writer keeps its
 * messages in the order they were sent; and the writers' batches share
 * no room, so they never wait for each other's room locks and the
 * database commits them in parallel (group commit). Routed by connection,
 * every writer's batch held every busy room: each waited for the other's
 * commit.
 *
 * One writer is the default: a batch's cost in the database is mostly
 * per batch (its reads, counters and commit, and the relay's read of the
 * events each commit wakes), so two writers splitting the same load commit
 * batches of half the size and the database spends about half again as
 * much CPU per message (issue 15's closed loop: 43 messages a batch and
 * 80 us per message with two, 107 and 53 us with one, at the same rate).
 *
 * Results go back through relay_post(): a locked list plus
 * lws_cancel_service(), the only lws call allowed off the service thread. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>

#include "chat_db.h"
#include "chat_log.h"
#include "jobs.h"

#define QUEUE_MAX 65536 /* jobs per queue; beyond, the loop answers "unavailable" */

typedef struct wqueue {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	relay_job *head, *tail;
	size_t n;
	bool stop;
	bool started;
	pthread_t th;
	int idx;        /* -1 = the writer */
} wqueue;

static wqueue *workers;
static int n_workers;
static wqueue *writers; /* relay.db_writers; a room's inserts go to one */
static int n_writers;
/* As many again for replay pages: a backlog of replays never delays
 * opens, closes and heartbeats behind it. */
static wqueue *replayers;

static void run_job(chat_db *db, relay_job *j)
{
	switch (j->kind) {
	case JOB_AUTH: relay_job_auth_batch(db, &j, 1); break;
	case JOB_REPLAY: relay_job_replay(db, j); break;
	case JOB_CLOSE: relay_job_close_batch(db, &j, 1); break;
	case JOB_EMIT: relay_job_emit(db, j); break;
	case JOB_HEARTBEAT: relay_job_heartbeat(db); break;
	case JOB_UNREGISTER: relay_job_unregister(db); break;
	case JOB_PRESENCE_READD: relay_job_presence_readd(db, j); break;
	case JOB_RECHECK: relay_job_recheck(db, j); break;
	case JOB_INSERT: break; /* writer only */
	}
}

/* ---- threads and queues ---------------------------------------------- */

static relay_job *pop_locked(wqueue *q)
{
	relay_job *j = q->head;
	if (j) {
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
		q->n--;
		j->next = NULL;
	}
	return j;
}

static void *thread_main(void *arg)
{
	wqueue *q = arg;
	chat_err e = CHAT_OK;
	chat_db *db = chat_db_open(relay_g->cfg, &e);
	if (!db) {
		chat_log_error("out of memory opening a database handle");
		return NULL;
	}
	relay_db_note(e, db, "connect");
	size_t bmax = (size_t)relay_g->cfg->relay.batch_max;
	relay_job **batch = q->idx < 0 ? calloc(bmax, sizeof(*batch)) : NULL;

	for (;;) {
		pthread_mutex_lock(&q->mu);
		while (!q->head && !q->stop)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->stop && (!q->head || q->idx >= 0)) {
			/* Stopping: the writer stores what it still holds; the
			 * workers drop the rest (presence rows went with the
			 * instance), so a dead database cannot stall the exit. */
			pthread_mutex_unlock(&q->mu);
			break;
		}
		if (q->idx < 0 && batch) {
			size_t n = 0;
			while (n < bmax && q->head)
				batch[n++] = pop_locked(q);
			pthread_mutex_unlock(&q->mu);
			relay_job_write_batch(db, batch, n);
			for (size_t i = 0; i < n; i++)
				relay_job_free(batch[i]);
			continue;
		}
		if (q->idx >= 0 && (q->head->kind == JOB_AUTH || q->head->kind == JOB_CLOSE)) {
			/* A run of opens or closes at the head: one transaction
			 * for all. Only the head run, so every connection's jobs
			 * keep their order. */
			relay_job *run[RELAY_AUTH_BATCH];
			relay_job_kind kind = q->head->kind;
			size_t n = 0;
			while (n < RELAY_AUTH_BATCH && q->head && q->head->kind == kind)
				run[n++] = pop_locked(q);
			pthread_mutex_unlock(&q->mu);
			if (kind == JOB_AUTH)
				relay_job_auth_batch(db, run, n);
			else
				relay_job_close_batch(db, run, n);
			for (size_t i = 0; i < n; i++)
				relay_job_free(run[i]);
			continue;
		}
		relay_job *j = pop_locked(q);
		pthread_mutex_unlock(&q->mu);
		if (q->idx < 0) { /* no batch array (OOM): one at a time */
			relay_job_write_batch(db, &j, 1);
		} else {
			run_job(db, j);
		}
		relay_job_free(j);
	}
	free(batch);
	chat_db_close(db);
	chat_db_thread_end();
	return NULL;
}

static int queue_start(wqueue *q, int idx)
{
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->idx = idx;
	q->stop = false;
	if (pthread_create(&q->th, NULL, thread_main, q) != 0) {
		chat_log_error("cannot start a database thread");
		return -1;
	}
	q->started = true;
	return 0;
}

static void queue_stop(wqueue *q)
{
	if (!q->started)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->th, NULL);
	q->started = false;
	relay_job *j;
	while ((j = pop_locked(q)))
		relay_job_free(j);
}

int relay_db_start(relay *r)
{
	n_workers = r->cfg->relay.db_workers;
	workers = calloc((size_t)n_workers, sizeof(*workers));
	if (!workers)
		return -1;
	for (int i = 0; i < n_workers; i++)
		if (queue_start(&workers[i], i) < 0)
			return -1;
	n_writers = r->cfg->relay.db_writers;
	writers = calloc((size_t)n_writers, sizeof(*writers));
	if (!writers)
		return -1;
	for (int i = 0; i < n_writers; i++)
		if (queue_start(&writers[i], -1) < 0)
			return -1;
	replayers = calloc((size_t)n_workers, sizeof(*replayers));
	if (!replayers)
		return -1;
	for (int i = 0; i < n_workers; i++)
		if (queue_start(&replayers[i], i) < 0)
			return -1;
	return 0;
}

void relay_db_stop(void)
{
	for (int i = 0; writers && i < n_writers; i++)
		queue_stop(&writers[i]);
	free(writers);
	writers = NULL;
	for (int i = 0; workers && i < n_workers; i++)
		queue_stop(&workers[i]);
	free(workers);
	workers = NULL;
	for (int i = 0; replayers && i < n_workers; i++)
		queue_stop(&replayers[i]);
	free(replayers);
	replayers = NULL;
	relay_result *r = relay_take_results();
	while (r) {
		relay_result *next = r->next;
		relay_result_free(r);
		r = next;
	}
}

int relay_db_submit(relay_job *j)
{
	if (!workers || !writers || !replayers) { /* not started, or stopped */
		relay_job_free(j);
		return -1;
	}
	uint64_t key = j->kind == JOB_REPLAY ? j->conn_id : (uint64_t)j->room_id;
	size_t w = (size_t)(key % (uint64_t)(j->kind == JOB_INSERT ? n_writers : n_workers));
	wqueue *q = j->kind == JOB_INSERT   ? &writers[w]
	            : j->kind == JOB_REPLAY ? &replayers[w]
	                                    : &workers[w];
	pthread_mutex_lock(&q->mu);
	if (q->stop || !q->started || q->n >= QUEUE_MAX) {
		pthread_mutex_unlock(&q->mu);
		relay_job_free(j);
		return -1;
	}
	j->next = NULL;
	if (j->kind == JOB_HEARTBEAT && q->head) {
		/* Ahead of everything: behind a backlog of connects it would
		 * come too late, and other relays would reap this one. */
		j->next = q->head;
		q->head = j;
	} else {
		if (q->tail)
			q->tail->next = j;
		else
			q->head = j;
		q->tail = j;
	}
	q->n++;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	return 0;
}
