/* Unit test of the page cache: a page comes back only for the same key,
 * the same event tag and within the TTL; a newer page replaces an older
 * one; oversized bodies are not kept. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "page_cache.h"

static void test_hit_and_misses(void **state)
{
	(void)state;
	page_cache_clear();
	page_key k = { 7, 0, 0, 50 };
	size_t len = 0;
	assert_null(page_cache_get(&k, 100, 1000, &len));
	page_cache_put(&k, 100, 1000, "{\"results\":[]}", 14);
	char *b = page_cache_get(&k, 100, 1500, &len);
	assert_non_null(b);
	assert_int_equal(len, 14);
	assert_string_equal(b, "{\"results\":[]}");
	free(b);
	/* the room moved on: a new event */
	assert_null(page_cache_get(&k, 101, 1500, &len));
	/* another shape of the same room */
	page_key other = { 7, 0, 0, 49 };
	assert_null(page_cache_get(&other, 100, 1500, &len));
	page_key before = { 7, 10, 0, 50 };
	assert_null(page_cache_get(&before, 100, 1500, &len));
	/* too old, or a clock that went back */
	assert_null(page_cache_get(&k, 100, 1000 + PAGE_CACHE_TTL_MS + 1, &len));
	assert_null(page_cache_get(&k, 100, 999, &len));
	/* replaced by a newer page */
	page_cache_put(&k, 101, 2000, "{\"n\":2}", 7);
	assert_null(page_cache_get(&k, 100, 2000, &len));
	b = page_cache_get(&k, 101, 2001, &len);
	assert_non_null(b);
	assert_string_equal(b, "{\"n\":2}");
	free(b);
}

static void test_big_bodies_not_kept(void **state)
{
	(void)state;
	page_cache_clear();
	page_key k = { 8, 0, 0, 200 };
	size_t n = PAGE_CACHE_MAX_BODY + 1, len = 0;
	char *big = malloc(n);
	assert_non_null(big);
	memset(big, 'x', n);
	page_cache_put(&k, 5, 1000, big, n);
	assert_null(page_cache_get(&k, 5, 1000, &len));
	page_cache_put(&k, 5, 1000, big, n - 1);
	char *b = page_cache_get(&k, 5, 1000, &len);
	assert_non_null(b);
	assert_int_equal(len, n - 1);
	free(b);
	free(big);
	page_cache_clear();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_and_misses),
		cmocka_unit_test(test_big_bodies_not_kept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
