/* test_dal, part four: chat_db_txn_run's retries. A real deadlock between
 * two connections is retried and both transactions end up committed; a
 * connection killed in the middle of a transaction is replaced and the
 * transaction run again, its effect applied once. Uses the private
 * statement layer (db_internal.h) to run the odd statement of its own. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "chat_dal.h"
#include "db_internal.h"
#include "itest.h"

DB_SQL(q_conn_id, "SELECT CONNECTION_ID()");
DB_SQL(q_id_stride, "SET SESSION auto_increment_increment = 3, auto_increment_offset = 2");
DB_SQL(q_lock_waits, "SELECT COUNT(*) FROM information_schema.INNODB_TRX "
                     "WHERE trx_state = 'LOCK WAIT'");

static void nap(void)
{
	struct timespec ts = { 0, 5 * 1000000L };
	nanosleep(&ts, NULL);
}

typedef struct dl_side {
	int64_t first, second; /* rooms, locked in this order */
	int runs;
	volatile int *me_locked, *other_locked;
	chat_err result;
} dl_side;

static chat_err deadlock_fn(chat_db *d, void *arg)
{
	dl_side *s = arg;
	s->runs++;
	chat_err e = db_room_lock(d, s->first);
	if (e != CHAT_OK)
		return e;
	if (s->runs == 1) {
		/* Both hold their first lock before either asks for its second. */
		*s->me_locked = 1;
		for (int i = 0; i < 2000 && !*s->other_locked; i++)
			nap();
	}
	return db_room_lock(d, s->second);
}

static void *deadlock_thread(void *arg)
{
	dl_side *s = arg;
	chat_err e;
	chat_db *d = chat_db_open(&cfg, &e);
	if (!d || e != CHAT_OK)
		abort();
	s->result = chat_db_txn_run(d, deadlock_fn, s);
	chat_db_close(d);
	chat_db_thread_end();
	return NULL;
}

void test_txn_deadlock_retried(void **state)
{
	(void)state;
	int64_t owner = mkuser("dl");
	int64_t x = mkroom("deadlock-x", false, owner);
	int64_t y = mkroom("deadlock-y", false, owner);
	volatile int a_locked = 0, b_locked = 0;
	dl_side a = { x, y, 0, &a_locked, &b_locked, CHAT_ERR_INTERNAL };
	dl_side b = { y, x, 0, &b_locked, &a_locked, CHAT_ERR_INTERNAL };
	pthread_t ta, tb;
	assert_int_equal(pthread_create(&ta, NULL, deadlock_thread, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, deadlock_thread, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(a.result, CHAT_OK);
	assert_int_equal(b.result, CHAT_OK);
	/* InnoDB chose a victim (1213), which ran again. */
	assert_int_equal(a.runs + b.runs, 3);
}

typedef struct kill_args {
	int64_t room, sender;
	int runs;
} kill_args;

static chat_err kill_fn(chat_db *d, void *arg)
{
	kill_args *k = arg;
	k->runs++;
	int64_t id = 0;
	chat_err e = db_query_int(d, &q_conn_id, NULL, 0, &id);
	if (e != CHAT_OK)
		return e;
	chat_new_message in = { k->room, k->sender, "survives a kill", NULL, NULL, false };
	chat_message m;
	bool created;
	e = chat_dal_message_insert(d, &in, &m, &created);
	if (e != CHAT_OK)
		return e;
	chat_message_clear(&m);
	if (k->runs == 1)
		sql_exec("KILL %lld", (long long)id); /* the uncommitted insert is lost */
	chat_new_message in2 = { k->room, k->sender, "second", NULL, NULL, false };
	e = chat_dal_message_insert(d, &in2, &m, &created);
	if (e == CHAT_OK)
		chat_message_clear(&m);
	return e;
}

void test_txn_connection_lost(void **state)
{
	(void)state;
	int64_t owner = mkuser("kill");
	int64_t room = mkroom("killed", false, owner);
	chat_err e;
	chat_db *d = chat_db_open(&cfg, &e);
	assert_int_equal(e, CHAT_OK);
	kill_args k = { room, owner, 0 };
	assert_int_equal(chat_db_txn_run(d, kill_fn, &k), CHAT_OK);
	assert_int_equal(k.runs, 2);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM messages WHERE room_id = %lld",
	                         (long long)room), 2);
	/* The handle is usable afterwards. */
	assert_int_equal(chat_db_ping(d), CHAT_OK);
	chat_db_close(d);
}

/* ---- conflicts: more than one in a row, and inside a message batch ---- */

static long long deadlocks(void)
{
	return sql_int("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
	               "WHERE VARIABLE_NAME = 'INNODB_DEADLOCKS'");
}

/* The heavier side of a deadlock: it has changed more rows, so InnoDB
 * picks the other side as the victim. */
static chat_err make_heavy(chat_db *d, const int64_t *rooms, int n)
{
	for (int i = 0; i < n; i++) {
		chat_err e = db_room_lock(d, rooms[i]);
		if (e != CHAT_OK)
			return e;
	}
	return CHAT_OK;
}

enum { BURST = 5, HEAVY = 20 };

typedef struct burst {
	int64_t x, y, heavy[HEAVY];
	volatile int light_round, heavy_round; /* last round that holds its first lock */
	int light_runs, heavy_runs;
	chat_err light_result, heavy_result;
} burst;

static void wait_flag(volatile int *flag, int round)
{
	for (int i = 0; i < 4000 && *flag < round; i++)
		nap();
}

/* Each of its first BURST runs deadlocks with a round of the heavy side. */
static chat_err light_fn(chat_db *d, void *arg)
{
	burst *b = arg;
	int round = ++b->light_runs;
	chat_err e = db_room_lock(d, b->x);
	if (e != CHAT_OK)
		return e;
	if (round <= BURST) {
		b->light_round = round;
		wait_flag(&b->heavy_round, round);
	}
	return db_room_lock(d, b->y);
}

static chat_err heavy_fn(chat_db *d, void *arg)
{
	burst *b = arg;
	b->heavy_runs++;
	int round = b->heavy_round + 1;
	chat_err e = make_heavy(d, b->heavy, HEAVY);
	if (e == CHAT_OK)
		e = db_room_lock(d, b->y);
	if (e != CHAT_OK)
		return e;
	b->heavy_round = round;
	wait_flag(&b->light_round, round);
	return db_room_lock(d, b->x);
}

static void *light_thread(void *arg)
{
	burst *b = arg;
	chat_err e;
	chat_db *d = chat_db_open(&cfg, &e);
	if (!d || e != CHAT_OK)
		abort();
	b->light_result = chat_db_txn_run(d, light_fn, b);
	chat_db_close(d);
	chat_db_thread_end();
	return NULL;
}

static void *heavy_thread(void *arg)
{
	burst *b = arg;
	chat_err e;
	chat_db *d = chat_db_open(&cfg, &e);
	if (!d || e != CHAT_OK)
		abort();
	b->heavy_result = CHAT_OK;
	for (int r = 0; r < BURST && b->heavy_result == CHAT_OK; r++)
		b->heavy_result = chat_db_txn_run(d, heavy_fn, b);
	chat_db_close(d);
	chat_db_thread_end();
	return NULL;
}

/* Two hosts of a Galera cluster taking writes for one room can conflict
 * several times in a row; so can two InnoDB writers. The loser runs again
 * (bounded) until it goes through: here five deadlocks in a row, each
 * with the light transaction as the victim, and then its commit. */
void test_txn_conflict_burst(void **state)
{
	(void)state;
	int64_t owner = mkuser("burst");
	burst b;
	memset(&b, 0, sizeof(b));
	b.x = mkroom("burst-x", false, owner);
	b.y = mkroom("burst-y", false, owner);
	for (int i = 0; i < HEAVY; i++)
		b.heavy[i] = mkroom("burst-heavy", false, owner);
	long long before = deadlocks();
	pthread_t tl, th;
	assert_int_equal(pthread_create(&th, NULL, heavy_thread, &b), 0);
	assert_int_equal(pthread_create(&tl, NULL, light_thread, &b), 0);
	pthread_join(tl, NULL);
	pthread_join(th, NULL);
	assert_int_equal(b.heavy_result, CHAT_OK);
	assert_int_equal(b.light_result, CHAT_OK);
	/* Each deadlock costs its victim exactly one more run, nothing else. */
	long long reruns = (long long)b.heavy_runs + b.light_runs - (BURST + 1);
	assert_true(reruns >= 1);
	assert_true(deadlocks() - before >= 1);
	/* InnoDB picks the lighter transaction as the victim (MariaDB 10.6 and
	 * later always do here; 10.5 sometimes weighs them otherwise, and the
	 * burst is then shared between the two): when the heavy side was never
	 * chosen, the light one lost all BURST rounds and still committed. */
	if (b.heavy_runs == BURST)
		assert_int_equal(b.light_runs, BURST + 1);
}

typedef struct batch_rival {
	int64_t x, y, heavy[HEAVY];
	int runs;
	chat_err result;
	volatile int holding;
	chat_db *poll; /* the rival thread's second connection, to watch lock waits */
} batch_rival;

/* Holds room y, waits until the batch waits for it (holding x), then asks
 * for x: a deadlock whose victim is the lighter batch. */
static chat_err rival_fn(chat_db *d, void *arg)
{
	batch_rival *r = arg;
	r->runs++;
	chat_err e = make_heavy(d, r->heavy, HEAVY);
	if (e == CHAT_OK)
		e = db_room_lock(d, r->y);
	if (e != CHAT_OK)
		return e;
	r->holding = 1;
	int64_t waits = 0;
	/* At most 7.5 s, under the session's 10 s lock wait timeout: on a slow
	 * machine a late sighting must not leave the batch to time out. */
	for (int i = 0; i < 1500 && waits == 0; i++) {
		nap();
		if (db_query_int(r->poll, &q_lock_waits, NULL, 0, &waits) != CHAT_OK)
			waits = 0;
	}
	return db_room_lock(d, r->x);
}

static void *rival_thread(void *arg)
{
	batch_rival *r = arg;
	chat_err e;
	chat_db *d = chat_db_open(&cfg, &e);
	if (!d || e != CHAT_OK)
		abort();
	r->poll = chat_db_open(&cfg, &e);
	if (!r->poll || e != CHAT_OK)
		abort();
	r->result = chat_db_txn_run(d, rival_fn, r);
	chat_db_close(r->poll);
	chat_db_close(d);
	chat_db_thread_end();
	return NULL;
}

/* A message batch chosen as a deadlock victim is stored exactly once,
 * each message acknowledged once (one result, created), with one
 * message_created event each. */
void test_txn_deadlock_in_batch(void **state)
{
	(void)state;
	int64_t alice = mkuser("victim");
	batch_rival r;
	memset(&r, 0, sizeof(r));
	r.x = mkroom("victim-x", false, alice);
	r.y = mkroom("victim-y", false, alice);
	for (int i = 0; i < HEAVY; i++)
		r.heavy[i] = mkroom("victim-heavy", false, alice);
	chat_new_message in[4] = {
		{ r.x, alice, "x one", NULL, "dl-1", false },
		{ r.y, alice, "y one", NULL, "dl-2", false },
		{ r.x, alice, "x two", NULL, "dl-3", false },
		{ r.y, alice, "y two", NULL, NULL, false },
	};
	chat_message res[4];
	bool created[4];
	long long before = deadlocks();
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, rival_thread, &r), 0);
	for (int i = 0; i < 4000 && !r.holding; i++)
		nap();
	assert_true(r.holding);
	chat_err e;
	chat_db *mine = chat_db_open(&cfg, &e);
	assert_int_equal(e, CHAT_OK);
	e = chat_dal_messages_insert_batch(mine, in, 4, res, created);
	if (e != CHAT_OK)
		fprintf(stderr, "batch: %s (%u %s)\n", chat_err_str(e), chat_db_errno(mine),
		        chat_db_error(mine));
	assert_int_equal(e, CHAT_OK);
	pthread_join(t, NULL);
	assert_int_equal(r.result, CHAT_OK);
	assert_int_equal(r.runs, 1);
	assert_int_equal(deadlocks() - before, 1);
	for (int i = 0; i < 4; i++) {
		assert_true(created[i]);
		assert_string_equal(res[i].content, in[i].content);
		assert_int_equal(res[i].room_id, in[i].room_id);
		assert_int_equal(sql_int("SELECT COUNT(*) FROM messages WHERE id = %lld AND content = '%s'",
		                         (long long)res[i].id, in[i].content), 1);
		assert_int_equal(events_count(in[i].room_id, "message_created", res[i].id, 0), 1);
		chat_message_clear(&res[i]);
	}
	assert_int_equal(sql_int("SELECT COUNT(*) FROM messages WHERE room_id IN (%lld, %lld)",
	                         (long long)r.x, (long long)r.y), 4);
	chat_db_close(mine);
}

/* A batch stores its new messages 16 rows a statement and takes their ids
 * as one block with the session's auto_increment_increment (a Galera node
 * runs with 3 and an offset): every result is the row stored for it. */
void test_batch_id_stride(void **state)
{
	(void)state;
	int64_t alice = mkuser("stride");
	int64_t bob = mkuser("stride");
	int64_t rooms[3] = { mkroom("stride-a", false, alice), mkroom("stride-b", false, alice),
		             mkroom("stride-c", false, bob) };
	chat_err e;
	chat_db *d = chat_db_open(&cfg, &e);
	assert_int_equal(e, CHAT_OK);
	assert_int_equal(db_exec(d, &q_id_stride, NULL, 0, NULL, NULL), CHAT_OK);
	enum { N = 37 };
	chat_new_message in[N];
	chat_message res[N];
	bool created[N];
	char text[N][32], cid[N][16];
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N; i++) {
			snprintf(text[i], sizeof(text[i]), "stride %d.%d", round, i);
			snprintf(cid[i], sizeof(cid[i]), "s-%d-%d", round, i);
			in[i] = (chat_new_message){ rooms[(i * 7 + round) % 3], i % 2 ? alice : bob,
				                    text[i], i % 5 ? NULL : "file",
				                    i % 3 ? cid[i] : NULL, false };
		}
		assert_int_equal(chat_dal_messages_insert_batch(d, in, N, res, created), CHAT_OK);
		for (int i = 0; i < N; i++) {
			assert_true(created[i]);
			assert_int_equal(res[i].id % 3, 2);
			assert_true(i == 0 || res[i].id > res[i - 1].id);
			assert_string_equal(res[i].content, text[i]);
			assert_int_equal(res[i].room_id, in[i].room_id);
			assert_int_equal(res[i].sender.id, in[i].sender_id);
			assert_int_equal(sql_int("SELECT COUNT(*) FROM messages WHERE id = %lld AND "
			                         "content = '%s' AND room_id = %lld",
			                         (long long)res[i].id, text[i],
			                         (long long)in[i].room_id), 1);
			chat_message_clear(&res[i]);
		}
	}
	chat_db_close(d);
}

/* ---- a conflict that outlasts the retries is told apart from an outage */

DB_SQL(q_short_lock_wait, "SET SESSION innodb_lock_wait_timeout = 1");

typedef struct holder {
	int64_t room;
	volatile int locked, release;
} holder;

static chat_err hold_fn(chat_db *d, void *arg)
{
	holder *h = arg;
	chat_err e = db_room_lock(d, h->room);
	if (e != CHAT_OK)
		return e;
	h->locked = 1;
	for (int i = 0; i < 2000 && !h->release; i++) /* at most 10 s */
		nap();
	return CHAT_OK;
}

static void *holder_thread(void *arg)
{
	chat_err e;
	chat_db *d = chat_db_open(&cfg, &e);
	if (!d || e != CHAT_OK)
		abort();
	if (chat_db_txn_run(d, hold_fn, arg) != CHAT_OK)
		abort();
	chat_db_close(d);
	chat_db_thread_end();
	return NULL;
}

static chat_err lock_room_fn(chat_db *d, void *arg)
{
	return db_room_lock(d, *(int64_t *)arg);
}

/* The relay keeps /healthz up and says "conflict", not "unavailable",
 * when other writers won every retry: it asks chat_db_last_was_conflict. */
void test_txn_conflict_exhausted(void **state)
{
	(void)state;
	int64_t owner = mkuser("held");
	int64_t room = mkroom("held-room", false, owner);
	chat_err e;
	chat_db *d = chat_db_open(&cfg, &e);
	assert_int_equal(e, CHAT_OK);
	assert_false(chat_db_last_was_conflict(d));
	assert_int_equal(db_exec(d, &q_short_lock_wait, NULL, 0, NULL, NULL), CHAT_OK);

	holder h = { room, 0, 0 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, holder_thread, &h), 0);
	for (int i = 0; i < 2000 && !h.locked; i++)
		nap();
	assert_true(h.locked);
	/* two lock waits of 1 s each (one retry), then the refusal */
	assert_int_equal(chat_db_txn_run(d, lock_room_fn, &room), CHAT_ERR_UNAVAILABLE);
	assert_true(chat_db_last_was_conflict(d));
	h.release = 1;
	pthread_join(t, NULL);
	/* the handle is fine: the same work goes through now */
	assert_int_equal(chat_db_txn_run(d, lock_room_fn, &room), CHAT_OK);
	chat_db_close(d);
}
