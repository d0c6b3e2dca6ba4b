/* chat_dbhosts: [database] host as a list of servers tried in order. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat_dbhosts.h"

static void test_single(void **state)
{
	chat_dbhost h[CHAT_DBHOSTS_MAX];
	const char *why = NULL;

	assert_int_equal(chat_dbhosts_parse("", 3306, h, CHAT_DBHOSTS_MAX, &why), 0);
	assert_int_equal(chat_dbhosts_parse("  ", 3306, h, CHAT_DBHOSTS_MAX, &why), 0);
	assert_int_equal(chat_dbhosts_parse("db1.example", 3306, h, CHAT_DBHOSTS_MAX, &why), 1);
	assert_string_equal(h[0].host, "db1.example");
	assert_int_equal(h[0].port, 3306);
	/* A bare IPv6 address is one host, not host:port. */
	assert_int_equal(chat_dbhosts_parse("fd00::5", 3307, h, CHAT_DBHOSTS_MAX, &why), 1);
	assert_string_equal(h[0].host, "fd00::5");
	assert_int_equal(h[0].port, 3307);
}

static void test_list(void **state)
{
	chat_dbhost h[CHAT_DBHOSTS_MAX];
	const char *why = NULL;

	assert_int_equal(chat_dbhosts_parse("10.0.0.1, 10.0.0.2:3307,[fd00::3]:3308 ,db4", 3306,
	                                    h, CHAT_DBHOSTS_MAX, &why),
	                 4);
	assert_string_equal(h[0].host, "10.0.0.1");
	assert_int_equal(h[0].port, 3306);
	assert_string_equal(h[1].host, "10.0.0.2");
	assert_int_equal(h[1].port, 3307);
	assert_string_equal(h[2].host, "fd00::3");
	assert_int_equal(h[2].port, 3308);
	assert_string_equal(h[3].host, "db4");
	assert_int_equal(h[3].port, 3306);
	/* out may be NULL: only count and check. */
	assert_int_equal(chat_dbhosts_parse("a,b", 3306, NULL, 0, &why), 2);
}

static void test_bad(void **state)
{
	chat_dbhost h[CHAT_DBHOSTS_MAX];
	const char *bad[] = {
		"a,,b", "a,", ",a", "a:0", "a:65536", "a:x", "a:", "[fd00::1", "[fd00::1]x",
		"[]:3306", ":3306", "a:33 06", "a b",
		"a,b,c,d,e,f,g,h,i", /* more than CHAT_DBHOSTS_MAX */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = NULL;

		if (chat_dbhosts_parse(bad[i], 3306, h, CHAT_DBHOSTS_MAX, &why) != -1)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_non_null(why);
	}
	/* A name longer than the buffer is refused, not cut. */
	char longname[CHAT_DBHOST_LEN + 8];
	const char *why = NULL;

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(chat_dbhosts_parse(longname, 3306, h, CHAT_DBHOSTS_MAX, &why), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
