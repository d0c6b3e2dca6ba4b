/* chat_outbox alone: the follower's bookkeeping, no database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat_outbox.h"

static chat_event ev(int64_t id, int64_t room)
{
	chat_event e;
	memset(&e, 0, sizeof(e));
	e.id = id;
	e.room_id = room;
	e.kind = CHAT_EV_MESSAGE_CREATED;
	return e;
}

/* Feed and return the delivered mask as a bit string "10..". */
static const char *feed(chat_outbox *o, const chat_event *e, size_t n, int64_t now)
{
	static char out[65];
	bool d[64];
	assert_true(n <= 64);
	chat_outbox_feed(o, e, n, now, d);
	for (size_t i = 0; i < n; i++)
		out[i] = d[i] ? '1' : '0';
	out[n] = '\0';
	return out;
}

static void test_in_order_and_gaps(void **state)
{
	(void)state;
	chat_outbox *o = chat_outbox_create(10, 1000, 100);
	assert_non_null(o);
	assert_int_equal(chat_outbox_max_seen(o), 10);
	assert_int_equal(chat_outbox_low_water(o), 10);

	chat_event a[] = { ev(11, 1), ev(12, 2) };
	assert_string_equal(feed(o, a, 2, 0), "11");
	assert_int_equal(chat_outbox_max_seen(o), 12);
	assert_int_equal(chat_outbox_low_water(o), 12);

	/* 13 not visible yet (another room's transaction still open). */
	chat_event b[] = { ev(14, 1) };
	assert_string_equal(feed(o, b, 1, 100), "1");
	assert_int_equal(chat_outbox_max_seen(o), 14);
	assert_int_equal(chat_outbox_low_water(o), 12);
	int64_t m[8];
	assert_int_equal(chat_outbox_missing(o, m, 8), 1);
	assert_int_equal(m[0], 13);

	/* It commits late and is read again: delivered, the mark moves. */
	chat_event c[] = { ev(13, 2) };
	assert_string_equal(feed(o, c, 1, 200), "1");
	assert_int_equal(chat_outbox_missing(o, m, 8), 0);
	assert_int_equal(chat_outbox_low_water(o), 14);

	/* Re-reads never deliver twice. */
	chat_event dup[] = { ev(14, 1), ev(13, 2), ev(12, 2), ev(11, 1) };
	assert_string_equal(feed(o, dup, 4, 300), "0000");
	assert_int_equal(chat_outbox_passed_over(o), 0);
	chat_outbox_free(o);
	chat_outbox_free(NULL);
}

static void test_unordered_batch_and_duplicates(void **state)
{
	(void)state;
	chat_outbox *o = chat_outbox_create(0, 1000, 100);
	/* Rows in any order: each room still ascends; a repeated row once. */
	chat_event a[] = { ev(3, 1), ev(1, 1), ev(2, 2), ev(3, 1) };
	const char *d = feed(o, a, 4, 0);
	assert_true(d[0] == '1' || d[3] == '1');
	assert_false(d[0] == '1' && d[3] == '1');
	assert_int_equal(d[1], '1');
	assert_int_equal(d[2], '1');
	assert_int_equal(chat_outbox_max_seen(o), 3);
	assert_int_equal(chat_outbox_low_water(o), 3);
	chat_outbox_free(o);
}

static void test_history_not_delivered(void **state)
{
	(void)state;
	chat_outbox *o = chat_outbox_create(100, 1000, 100);
	chat_event a[] = { ev(50, 1), ev(100, 2), ev(101, 3) };
	assert_string_equal(feed(o, a, 3, 0), "001");
	chat_outbox_free(o);
}

static void test_gap_timeout(void **state)
{
	(void)state;
	chat_outbox *o = chat_outbox_create(0, 1000, 100);
	chat_event a[] = { ev(1, 1), ev(4, 1) };
	assert_string_equal(feed(o, a, 2, 0), "11");
	int64_t m[8];
	assert_int_equal(chat_outbox_missing(o, m, 8), 2);
	assert_int_equal(m[0], 2);
	assert_int_equal(m[1], 3);
	assert_int_equal(chat_outbox_missing(o, m, 1), 1);
	chat_outbox_expire(o, 500); /* not yet */
	assert_int_equal(chat_outbox_low_water(o), 1);
	chat_event b[] = { ev(6, 2) }; /* 5 missing from t=800 */
	assert_string_equal(feed(o, b, 1, 800), "1");
	chat_outbox_expire(o, 1001); /* 2 and 3 go, 5 stays */
	assert_int_equal(chat_outbox_passed_over(o), 2);
	assert_int_equal(chat_outbox_missing(o, m, 8), 1);
	assert_int_equal(m[0], 5);
	assert_int_equal(chat_outbox_low_water(o), 4);
	chat_outbox_expire(o, 1801);
	assert_int_equal(chat_outbox_passed_over(o), 3);
	assert_int_equal(chat_outbox_low_water(o), 6);
	/* A passed-over id that turns up after all: delivered if its room's
	 * order allows (room 3 is new), never if it would go backwards. */
	chat_event late[] = { ev(3, 1), ev(5, 3) };
	assert_string_equal(feed(o, late, 2, 2000), "01");
	chat_outbox_free(o);
}

static void test_missing_cap(void **state)
{
	(void)state;
	/* The cap counts ranges, not ids: a stride leaves one range per event. */
	chat_outbox *o = chat_outbox_create(0, 1000, 3);
	chat_event a[] = { ev(3, 1), ev(6, 1), ev(9, 2), ev(12, 2) };
	assert_string_equal(feed(o, a, 4, 0), "1111");
	int64_t m[16];
	assert_int_equal(chat_outbox_gaps(o), 3); /* 1-2 went beyond the cap */
	assert_int_equal(chat_outbox_missing(o, m, 16), 6);
	assert_int_equal(m[0], 4);
	assert_int_equal(m[5], 11);
	assert_int_equal(chat_outbox_passed_over(o), 2);
	assert_int_equal(chat_outbox_passed_hi(o), 2);
	/* A huge jump is one range: nothing is allocated per id. */
	chat_event c[] = { ev(10000000000LL, 2) };
	assert_string_equal(feed(o, c, 1, 0), "1");
	assert_int_equal(chat_outbox_gaps(o), 3);
	int64_t first = 0, last = 0;
	assert_true(chat_outbox_window(o, &first, &last));
	assert_int_equal(first, 7);
	assert_int_equal(last, 10000000000LL - 1);
	assert_int_equal(chat_outbox_passed_hi(o), 5);
	chat_outbox_free(o);
}

static void test_ranges(void **state)
{
	(void)state;
	chat_outbox *o = chat_outbox_create(100, 1000, 0);
	chat_event a[] = { ev(110, 1) };
	assert_string_equal(feed(o, a, 1, 0), "1");
	int64_t first = 0, last = 0;
	assert_int_equal(chat_outbox_missing_in(o, 0, 1000, &first, &last), 9);
	assert_int_equal(first, 101);
	assert_int_equal(last, 109);
	/* one found inside splits the range; at an end shrinks it */
	chat_event b[] = { ev(105, 2), ev(101, 3), ev(109, 4) };
	assert_string_equal(feed(o, b, 3, 10), "111");
	assert_int_equal(chat_outbox_gaps(o), 2);
	assert_int_equal(chat_outbox_missing_in(o, 102, 107, &first, &last), 5);
	assert_int_equal(chat_outbox_missing_in(o, 104, 106, &first, &last), 2);
	assert_int_equal(first, 104);
	assert_int_equal(last, 106);
	assert_int_equal(chat_outbox_missing_in(o, 105, 105, &first, &last), 0);
	assert_int_equal(chat_outbox_low_water(o), 101);
	/* marks: a room's start is the start id until it has one */
	assert_int_equal(chat_outbox_after(o, 9), 100);
	assert_int_equal(chat_outbox_after(o, 2), 105);
	assert_int_equal(chat_outbox_mark(o, 4), 109);
	assert_int_equal(chat_outbox_set_mark(o, 9, 107), 0);
	chat_event c[] = { ev(107, 9), ev(108, 9) };
	assert_string_equal(feed(o, c, 2, 20), "01");
	/* expiry passes ranges over and remembers the highest id */
	chat_outbox_expire(o, 2000);
	assert_int_equal(chat_outbox_gaps(o), 0);
	assert_int_equal(chat_outbox_passed_hi(o), 106);
	assert_int_equal(chat_outbox_passed_over(o), 4);
	assert_int_equal(chat_outbox_low_water(o), 110);
	chat_outbox_free(o);
}

static void test_many_rooms(void **state)
{
	(void)state;
	chat_outbox *o = chat_outbox_create(0, 1000, 100);
	for (int round = 0; round < 2; round++) {
		for (int64_t base = 0; base < 1000; base += 50) {
			chat_event e[50];
			for (int i = 0; i < 50; i++)
				e[i] = ev(base + i + 1, base + i + 1); /* one room each */
			const char *d = feed(o, e, 50, 0);
			for (int i = 0; i < 50; i++)
				assert_int_equal(d[i], round == 0 ? '1' : '0');
		}
	}
	assert_int_equal(chat_outbox_max_seen(o), 1000);
	assert_int_equal(chat_outbox_low_water(o), 1000);
	chat_outbox_free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order_and_gaps),
		cmocka_unit_test(test_unordered_batch_and_duplicates),
		cmocka_unit_test(test_history_not_delivered),
		cmocka_unit_test(test_gap_timeout),
		cmocka_unit_test(test_missing_cap),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_many_rooms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
