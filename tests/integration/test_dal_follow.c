/* test_dal, part three: the outbox follower against concurrent writers.
 *
 * Writer threads, each with its own connection, store messages in several
 * rooms. One of them holds a transaction open (its ids are assigned) while
 * the others commit higher ids, so a commit arrives out of id order; one
 * rolls a transaction back, leaving a hole that must be passed over after
 * the gap timeout. A reader follows chat_events the way the relay does
 * (chat_follow_read: the events after max_seen, the watch of the missing
 * ids, the catch-up of rooms; chat_outbox decides) and must deliver every
 * event of those rooms exactly once, each room in ascending order. */
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
#include "chat_follow.h"
#include "chat_outbox.h"
#include "chat_time.h"
#include "itest.h"

#define ROOMS 4
#define PER_WRITER 120
#define WRITERS 2
/* Longer than the slow transaction stays open (a transaction open longer
 * than the gap timeout loses its events: keep the relay's gap_timeout_ms
 * above the longest write transaction), short enough to wait out; a
 * loaded machine (sanitizers, parallel tests) can stall a writer for
 * seconds between its insert and its commit. */
#define GAP_TIMEOUT_MS 10000
#define SLOW_HOLD_MAX_MS 2000
#define DEADLINE_MS 60000

typedef struct shared_state {
	int64_t rooms[ROOMS + 1]; /* rooms[ROOMS]: the slow writer's room */
	int64_t user;
	volatile int slow_has_ids;   /* the slow transaction has inserted */
	volatile int writers_done;   /* fast writers finished */
	int fast_stored;             /* messages committed by the fast writers */
	int reader_saw_gap;          /* the reader has a missing id */
	volatile int all_done;
	int64_t slow_msg;
	int64_t rolled_back_msg;
	pthread_mutex_t lock;
} shared_state;

static shared_state S;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static chat_db *thread_db(void)
{
	chat_err e;
	chat_db *d = chat_db_open(&cfg, &e);
	if (!d || e != CHAT_OK) {
		fprintf(stderr, "writer: cannot connect\n");
		abort();
	}
	return d;
}

static void *fast_writer(void *arg)
{
	int me = (int)(intptr_t)arg;
	chat_db *d = thread_db();
	/* Start once the slow transaction holds its ids. */
	for (int i = 0; i < 5000 && !S.slow_has_ids; i++)
		sleep_ms(2);
	unsigned seed = (unsigned)(me * 7919 + 1);
	for (int i = 0; i < PER_WRITER; i++) {
		seed = seed * 1103515245u + 12345u;
		int64_t room = S.rooms[(seed >> 16) % ROOMS];
		char c[64];
		snprintf(c, sizeof(c), "w%d-%d", me, i);
		chat_new_message in = { room, S.user, c, NULL, NULL, false };
		chat_message m;
		bool created;
		chat_err e = chat_dal_message_insert(d, &in, &m, &created);
		if (e != CHAT_OK) {
			fprintf(stderr, "writer %d: %s (%s)\n", me, chat_err_str(e), chat_db_error(d));
			abort();
		}
		chat_message_clear(&m);
		__atomic_add_fetch(&S.fast_stored, 1, __ATOMIC_SEQ_CST);
		if (i % 10 == 0) /* some ephemeral events too */
			chat_dal_event_emit(d, room, CHAT_EV_TYPING, 1, S.user, NULL);
	}
	chat_db_close(d);
	chat_db_thread_end();
	pthread_mutex_lock(&S.lock);
	S.writers_done++;
	pthread_mutex_unlock(&S.lock);
	return NULL;
}

static chat_err slow_txn(chat_db *d, void *arg)
{
	(void)arg;
	chat_new_message in = { S.rooms[ROOMS], S.user, "slow", NULL, NULL, false };
	chat_message m;
	bool created;
	chat_err e = chat_dal_message_insert(d, &in, &m, &created); /* joins this txn */
	if (e != CHAT_OK)
		return e;
	S.slow_msg = m.id;
	chat_message_clear(&m);
	S.slow_has_ids = 1;
	/* Hold the transaction while the others commit higher ids, until the
	 * reader has noticed the hole it leaves. */
	for (int i = 0; i < SLOW_HOLD_MAX_MS / 2 &&
	                (__atomic_load_n(&S.fast_stored, __ATOMIC_SEQ_CST) < 20 ||
	                 !__atomic_load_n(&S.reader_saw_gap, __ATOMIC_SEQ_CST)); i++)
		sleep_ms(2);
	return CHAT_OK;
}

static chat_err rollback_txn(chat_db *d, void *arg)
{
	(void)arg;
	chat_new_message in = { S.rooms[0], S.user, "never", NULL, NULL, false };
	chat_message m;
	bool created;
	chat_err e = chat_dal_message_insert(d, &in, &m, &created);
	if (e != CHAT_OK)
		return e;
	S.rolled_back_msg = m.id;
	chat_message_clear(&m);
	return CHAT_ERR_CONFLICT; /* roll back: the event id is burnt */
}

static void *slow_writer(void *arg)
{
	(void)arg;
	chat_db *d = thread_db();
	chat_err e = chat_db_txn_run(d, slow_txn, NULL);
	if (e != CHAT_OK)
		abort();
	e = chat_db_txn_run(d, rollback_txn, NULL);
	if (e != CHAT_ERR_CONFLICT)
		abort();
	/* And a last committed one after the hole. */
	chat_new_message in = { S.rooms[0], S.user, "after the hole", NULL, NULL, false };
	chat_message m;
	bool created;
	if (chat_dal_message_insert(d, &in, &m, &created) != CHAT_OK)
		abort();
	chat_message_clear(&m);
	chat_db_close(d);
	chat_db_thread_end();
	return NULL;
}

static bool our_room(int64_t room)
{
	for (int i = 0; i <= ROOMS; i++)
		if (S.rooms[i] == room)
			return true;
	return false;
}

typedef struct delivered {
	int64_t *ids; /* event ids delivered, in delivery order */
	size_t n, cap;
	int64_t last[ROOMS + 1];
	bool slow_via_missing; /* the slow event came in through by_ids */
} delivered;

/* chat_follow_read hands each event to deliver here, ascending. */
static void deliver_row(void *arg, const chat_event_row *row, bool reread)
{
	delivered *d = arg;
	if (!our_room(row->ev.room_id))
		return;
	int r = 0;
	while (S.rooms[r] != row->ev.room_id)
		r++;
	assert_true(row->ev.id > d->last[r]); /* ascending per room */
	d->last[r] = row->ev.id;
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 256;
		d->ids = realloc(d->ids, d->cap * sizeof(int64_t));
		assert_non_null(d->ids);
	}
	d->ids[d->n++] = row->ev.id;
	if (row->ev.kind == CHAT_EV_MESSAGE_CREATED && row->ev.ref_id == S.slow_msg && S.slow_msg &&
	    reread)
		d->slow_via_missing = true;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

void test_outbox_follow(void **state)
{
	(void)state;
	memset(&S, 0, sizeof(S));
	pthread_mutex_init(&S.lock, NULL);
	S.user = mkuser("writer");
	for (int i = 0; i <= ROOMS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "follow-%d", i);
		S.rooms[i] = mkroom(name, false, S.user);
	}
	int64_t start = 0;
	assert_int_equal(chat_dal_events_max_id(db, &start), CHAT_OK);
	chat_outbox *o = chat_outbox_create(start, GAP_TIMEOUT_MS, 1024);
	assert_non_null(o);

	pthread_t th[WRITERS + 1];
	assert_int_equal(pthread_create(&th[WRITERS], NULL, slow_writer, NULL), 0);
	for (int i = 0; i < WRITERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, fast_writer, (void *)(intptr_t)i), 0);

	delivered d;
	memset(&d, 0, sizeof(d));
	int64_t t0 = chat_time_mono_ms();
	int64_t quiet_since = 0;
	bool joined = false;
	for (;;) {
		assert_true(chat_time_mono_ms() - t0 < DEADLINE_MS);
		/* The relay's own read (chat_follow_read): new events, then the
		 * missing ids and gaps, fed together. */
		int64_t before = chat_outbox_max_seen(o);
		size_t before_n = d.n;
		bool full = false;
		assert_int_equal(chat_follow_read(db, o, 100, chat_time_mono_ms(), deliver_row, &d,
		                                  &full),
		                 CHAT_OK);
		int64_t miss[1];
		if (chat_outbox_missing(o, miss, 1))
			__atomic_store_n(&S.reader_saw_gap, 1, __ATOMIC_SEQ_CST);
		size_t n = (chat_outbox_max_seen(o) != before || d.n != before_n) ? 1 : 0;
		chat_outbox_expire(o, chat_time_mono_ms());
		if (!joined && S.writers_done == WRITERS) {
			for (int i = 0; i <= WRITERS; i++)
				pthread_join(th[i], NULL);
			joined = true;
		}
		/* Done when the writers are, nothing is missing and a read
		 * after that brought nothing new. */
		if (joined && chat_outbox_missing(o, miss, 1) == 0 && n == 0) {
			if (!quiet_since)
				quiet_since = chat_time_mono_ms();
			else if (chat_time_mono_ms() - quiet_since > 200)
				break;
		} else {
			quiet_since = 0;
		}
		sleep_ms(n ? 0 : 10);
	}

	/* Exactly the committed events of our rooms, each once. */
	char q[512];
	snprintf(q, sizeof(q), "%lld,%lld,%lld,%lld,%lld", (long long)S.rooms[0],
	         (long long)S.rooms[1], (long long)S.rooms[2], (long long)S.rooms[3],
	         (long long)S.rooms[4]);
	long long want = sql_int("SELECT COUNT(*) FROM chat_events WHERE id > %lld AND room_id IN (%s)",
	                         (long long)start, q);
	assert_int_equal((long long)d.n, want);
	qsort(d.ids, d.n, sizeof(int64_t), cmp_i64);
	for (size_t i = 1; i < d.n; i++)
		assert_true(d.ids[i - 1] != d.ids[i]);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM chat_events WHERE id > %lld AND room_id IN (%s)"
	                         " AND kind = 'message_created'", (long long)start, q),
	                 WRITERS * PER_WRITER + 2);
	/* The held transaction really committed out of order, and was caught
	 * by re-reading the missing id. */
	long long slow_ev = sql_int("SELECT id FROM chat_events WHERE kind = 'message_created'"
	                            " AND ref_id = %lld", (long long)S.slow_msg);
	assert_true(sql_int("SELECT COUNT(*) FROM chat_events WHERE id > %lld AND room_id IN (%s)",
	                    slow_ev, q) > 0);
	assert_true(d.slow_via_missing);
	/* The rolled-back message and its event never existed; its id was
	 * passed over. */
	assert_true(S.rolled_back_msg > 0);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM messages WHERE id = %lld",
	                         (long long)S.rolled_back_msg), 0);
	assert_true(chat_outbox_passed_over(o) >= 1);
	assert_int_equal(chat_outbox_low_water(o), chat_outbox_max_seen(o));
	free(d.ids);
	chat_outbox_free(o);
	pthread_mutex_destroy(&S.lock);
}

/* ---- more holes than one re-read asks for ------------------------------ */

#define HOLES 600 /* above the old cap of 512 re-read ids, and of 64 runs */

typedef struct gaps_state {
	chat_db *other;  /* commits while the long transaction is open */
	chat_db *reader;
	chat_outbox *o;
	int64_t room_x, room_y, user;
	int64_t x_ids[HOLES + 1]; /* the messages of room X, in order */
	int64_t got[HOLES + 2];   /* room X's message ids as delivered */
	size_t n_got;
} gaps_state;

static gaps_state G;

static void gaps_deliver(void *arg, const chat_event_row *row, bool reread)
{
	(void)arg;
	(void)reread;
	if (row->ev.room_id != G.room_x || row->ev.kind != CHAT_EV_MESSAGE_CREATED)
		return;
	assert_true(G.n_got < HOLES + 2);
	G.got[G.n_got++] = row->ev.ref_id;
}

static void gaps_follow(int rounds)
{
	for (int i = 0; i < rounds; i++) {
		bool full = false;
		assert_int_equal(chat_follow_read(G.reader, G.o, 1000, chat_time_now_ms(),
		                                  gaps_deliver, NULL, &full), CHAT_OK);
		if (!full)
			break;
	}
}

static int64_t gaps_post(chat_db *d, int64_t room)
{
	chat_new_message in = { room, G.user, "gap", NULL, NULL, false };
	chat_message m;
	bool created;
	assert_int_equal(chat_dal_message_insert(d, &in, &m, &created), CHAT_OK);
	int64_t id = m.id;
	chat_message_clear(&m);
	return id;
}

/* Room X's messages in one open transaction, each followed by a committed
 * message of room Y on another connection: HOLES separate holes. */
static chat_err gaps_txn(chat_db *d, void *arg)
{
	(void)arg;
	for (int i = 0; i < HOLES; i++) {
		G.x_ids[i] = gaps_post(d, G.room_x);
		gaps_post(G.other, G.room_y);
	}
	gaps_follow(20); /* sees room Y's rows; room X's ids are missing */
	return CHAT_OK;
}

/* Once the transaction commits, a newer event of room X must not be
 * delivered before the older ones (its room's mark would then pass them
 * and they would be skipped): every one arrives, once, in order. */
void test_outbox_follow_many_gaps(void **state)
{
	(void)state;
	memset(&G, 0, sizeof(G));
	G.user = mkuser("gaps");
	G.room_x = mkroom("gaps-x", false, G.user);
	G.room_y = mkroom("gaps-y", false, G.user);
	G.other = thread_db();
	G.reader = thread_db();
	int64_t start = 0;
	assert_int_equal(chat_dal_events_max_id(db, &start), CHAT_OK);
	G.o = chat_outbox_create(start, 60000, 4096);
	assert_non_null(G.o);

	assert_int_equal(chat_db_txn_run(db, gaps_txn, NULL), CHAT_OK);
	assert_int_equal(G.n_got, 0);
	G.x_ids[HOLES] = gaps_post(G.other, G.room_x);
	for (int i = 0; i < 50 && G.n_got < HOLES + 1; i++)
		gaps_follow(20);
	assert_int_equal(G.n_got, HOLES + 1);
	for (int i = 0; i <= HOLES; i++)
		assert_int_equal(G.got[i], G.x_ids[i]);
	assert_int_equal(chat_outbox_passed_over(G.o), 0);

	chat_outbox_free(G.o);
	chat_db_close(G.other);
	chat_db_close(G.reader);
}

/* ---- the follower's own queries, against SQL's own answers ------------- */

void test_follow_queries(void **state)
{
	(void)state;
	int64_t u = mkuser("fq");
	int64_t ra = mkroom("fq-a", false, u), rb = mkroom("fq-b", false, u);
	int64_t ids[40];
	for (int i = 0; i < 40; i++)
		assert_int_equal(chat_dal_event_emit(db, i % 3 ? ra : rb, CHAT_EV_TYPING, 2, u, &ids[i]),
		                 CHAT_OK);
	int64_t lo = ids[0], hi = ids[39];
	/* buckets of 7 ids from lo: each count is what SQL counts there */
	int64_t counts[CHAT_BUCKETS];
	assert_int_equal(chat_dal_events_bucket_counts(db, lo, 7, hi, counts), CHAT_OK);
	long long total = 0;
	for (int64_t b = 0; b * 7 <= hi - lo; b++) {
		assert_int_equal(counts[b], sql_int("SELECT COUNT(*) FROM chat_events WHERE id BETWEEN"
		                                    " %lld AND %lld", (long long)(lo + 7 * b),
		                                    (long long)(lo + 7 * b + 6 < hi ? lo + 7 * b + 6 : hi)));
		total += counts[b];
	}
	assert_int_equal(total, sql_int("SELECT COUNT(*) FROM chat_events WHERE id BETWEEN %lld AND"
	                                " %lld", (long long)lo, (long long)hi));
	assert_int_equal(counts[CHAT_BUCKETS - 1], 0);
	/* spans: room a after ids[4] up to ids[30], room b after ids[20] */
	chat_room_span sp[] = { { ra, ids[4], ids[30] }, { rb, ids[20], hi } };
	chat_event_row *rows = NULL;
	size_t n = 0;
	assert_int_equal(chat_dal_events_room_spans(db, sp, 2, &rows, &n), CHAT_OK);
	size_t want = 0;
	for (int i = 0; i < 40; i++) {
		int64_t room = i % 3 ? ra : rb;
		bool in = room == ra ? ids[i] > ids[4] && ids[i] <= ids[30] : ids[i] > ids[20];
		if (!in)
			continue;
		assert_true(want < n);
		assert_int_equal(rows[want].ev.id, ids[i]); /* ascending */
		assert_int_equal(rows[want].ev.room_id, room);
		want++;
	}
	assert_int_equal(n, want);
	chat_event_rows_free(rows, n);
	assert_int_equal(chat_dal_events_room_spans(db, sp, CHAT_SPANS_PER_QUERY + 1, &rows, &n),
	                 CHAT_ERR_INVALID);
}
