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
	chat_new_message in = { k->room, k->sender, "survives a kill", NULL, NULL };
	chat_message m;
	bool created;
	e = chat_dal_message_insert(d, &in, &m, &created);
	if (e != CHAT_OK)
		return e;
	chat_message_clear(&m);
	if (k->runs == 1)
		sql_exec("KILL %lld", (long long)id); /* the uncommitted insert is lost */
	chat_new_message in2 = { k->room, k->sender, "second", NULL, NULL };
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
