/* Unit test of the login rate limiter: the limit per key and window,
 * Retry-After values, independent keys, window expiry, and bounded
 * memory under a flood of distinct keys. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "api.h"

static void test_limit_and_retry_after(void **state)
{
	(void)state;
	api_ratelimit *rl = api_ratelimit_create(64, 3, 60);
	assert_non_null(rl);
	assert_int_equal(api_ratelimit_hit(rl, "n:alice", 1000), 0);
	assert_int_equal(api_ratelimit_hit(rl, "n:alice", 1001), 0);
	assert_int_equal(api_ratelimit_hit(rl, "n:alice", 1002), 0);
	/* Window started at 1000: 60 s long. */
	assert_int_equal(api_ratelimit_hit(rl, "n:alice", 1010), 50);
	assert_int_equal(api_ratelimit_peek(rl, "n:alice", 1059), 1);
	/* Other keys are independent. */
	assert_int_equal(api_ratelimit_hit(rl, "n:bob", 1010), 0);
	assert_int_equal(api_ratelimit_peek(rl, "n:bob", 1010), 0);
	/* A new window. */
	assert_int_equal(api_ratelimit_hit(rl, "n:alice", 1060), 0);
	api_ratelimit_free(rl);
}

static void test_disabled(void **state)
{
	(void)state;
	api_ratelimit *rl = api_ratelimit_create(16, 0, 60);
	for (int i = 0; i < 100; i++)
		assert_int_equal(api_ratelimit_hit(rl, "a:1.2.3.4", 5), 0);
	api_ratelimit_free(rl);
	assert_int_equal(api_ratelimit_hit(NULL, "x", 1), 0);
}

static void test_flood_bounded(void **state)
{
	(void)state;
	/* A small table and many keys: no crash, no growth, and a key at its
	 * limit stays limited however many others come (it is never evicted
	 * inside its window). */
	api_ratelimit *rl = api_ratelimit_create(32, 2, 60);
	char key[32];
	int allowed = 0, full = 0;
	for (int i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "a:10.0.%d.%d", i / 256, i % 256);
		if (api_ratelimit_hit(rl, key, 100) > 0)
			full++;
		if (api_ratelimit_hit(rl, "n:victim", 100) == 0)
			allowed++;
	}
	assert_int_equal(allowed, 2);
	assert_true(full > 9000); /* the table is full: new keys refused */
	/* The windows end: room again. */
	assert_int_equal(api_ratelimit_hit(rl, "a:10.9.9.9", 160), 0);
	assert_int_equal(api_ratelimit_hit(rl, "n:victim", 160), 0);
	api_ratelimit_free(rl);
}

static void test_all_or_nothing(void **state)
{
	(void)state;
	/* Two keys together: one at its limit refuses both, and the other
	 * is not counted nor stored. */
	api_ratelimit *rl = api_ratelimit_create(64, 2, 60);
	const char *both[2] = { "a:1.1.1.1", "n:alice" };
	const char *other[2] = { "a:1.1.1.1", "n:bob" };
	assert_int_equal(api_ratelimit_hit_all(rl, both, 2, 10), 0);
	assert_int_equal(api_ratelimit_hit_all(rl, both, 2, 11), 0);
	assert_int_equal(api_ratelimit_hit_all(rl, both, 2, 12), 58);
	/* The address is at its limit: bob's key is never stored. */
	for (int i = 0; i < 100; i++)
		assert_true(api_ratelimit_hit_all(rl, other, 2, 13) > 0);
	assert_int_equal(api_ratelimit_hit(rl, "n:bob", 14), 0);
	assert_int_equal(api_ratelimit_hit(rl, "n:bob", 14), 0);
	assert_true(api_ratelimit_hit(rl, "n:bob", 14) > 0);
	api_ratelimit_free(rl);
}

static void test_full_table_refuses(void **state)
{
	(void)state;
	/* 16 slots (the minimum, one probe run): the 17th live key is
	 * refused, with the wait until the first window ends, and claims
	 * nothing. */
	api_ratelimit *rl = api_ratelimit_create(16, 5, 60);
	char key[32];
	for (int i = 0; i < 16; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(api_ratelimit_hit(rl, key, 100 + i), 0);
	}
	assert_int_equal(api_ratelimit_hit(rl, "new", 120), 40);
	/* Existing keys still count. */
	assert_int_equal(api_ratelimit_hit(rl, "k3", 121), 0);
	/* Key k0's window ends at 160: its slot is reused. */
	assert_int_equal(api_ratelimit_hit(rl, "new", 160), 0);
	assert_int_equal(api_ratelimit_peek(rl, "k0", 160), 0);
	api_ratelimit_free(rl);
}

static void test_long_keys(void **state)
{
	(void)state;
	api_ratelimit *rl = api_ratelimit_create(16, 1, 10);
	char key[1000];
	for (size_t i = 0; i < sizeof(key) - 1; i++)
		key[i] = 'k';
	key[sizeof(key) - 1] = '\0';
	assert_int_equal(api_ratelimit_hit(rl, key, 1), 0);
	assert_true(api_ratelimit_hit(rl, key, 2) > 0);
	api_ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_and_retry_after),
		cmocka_unit_test(test_all_or_nothing),
		cmocka_unit_test(test_full_table_refuses),
		cmocka_unit_test(test_disabled),
		cmocka_unit_test(test_flood_bounded),
		cmocka_unit_test(test_long_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
