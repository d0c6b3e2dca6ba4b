/* Reaping a dead relay instance: every presence row that goes away writes
 * its presence_leave, also a row its relay added while the reaper was at
 * work (the foreign key would otherwise take it along silently: cascades
 * fire no triggers, and the room would hear a second join later). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <time.h>

#include "chat_dal.h"
#include "itest.h"

typedef struct reap_run {
	chat_err e;
	int reaped;
} reap_run;

static void *reaper(void *arg)
{
	reap_run *r = arg;
	r->e = chat_dal_instances_reap(db, 60, &r->reaped);
	return NULL;
}

void test_reap_late_row(void **state)
{
	(void)state;
	int64_t alice = mkuser("reapa"), bob = mkuser("reapb");
	int64_t room = mkroom("reap-race", false, alice);
	int64_t dead = 0, p = 0;
	assert_int_equal(chat_dal_instance_register(db, "host-dead", 7, &dead), CHAT_OK);
	assert_int_equal(chat_dal_presence_add(db, dead, room, alice, &p), CHAT_OK);
	sql_exec("UPDATE relay_instances SET heartbeat_at = heartbeat_at - INTERVAL 10 MINUTE"
	         " WHERE id = %lld", (long long)dead);
	/* The "dead" relay is still adding a row, uncommitted, when the
	 * reaper starts: the reaper's list of rows cannot see it. */
	sql_exec("BEGIN");
	sql_exec("INSERT INTO presence (instance_id, room_id, user_id) VALUES (%lld, %lld, %lld)",
	         (long long)dead, (long long)room, (long long)bob);
	reap_run r = { CHAT_ERR_INTERNAL, -1 };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, reaper, &r), 0);
	struct timespec ts = { 0, 500 * 1000 * 1000 };
	nanosleep(&ts, NULL); /* the reaper is waiting on the row's lock */
	sql_exec("COMMIT");
	pthread_join(th, NULL);
	assert_int_equal(r.e, CHAT_OK);
	assert_int_equal(r.reaped, 1);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM relay_instances WHERE id = %lld",
	                         (long long)dead), 0);
	assert_int_equal(events_count(room, "presence_join", 0, alice), 1);
	assert_int_equal(events_count(room, "presence_leave", 0, alice), 1);
	assert_int_equal(events_count(room, "presence_join", 0, bob), 1);
	assert_int_equal(events_count(room, "presence_leave", 0, bob), 1);
}
