/* chat_addr: the address key every limit counts a client under. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat_addr.h"

static void expect_key(const char *in, const char *want)
{
	char out[CHAT_ADDR_KEY_LEN];
	assert_true(chat_addr_canonical(in, out, sizeof(out)));
	assert_string_equal(out, want);
}

static void test_ipv4(void **state)
{
	(void)state;
	expect_key("127.0.0.2", "127.0.0.2");
	expect_key("192.0.2.200", "192.0.2.200");
}

/* The relay and the API see one client through IPv4 and IPv6 sockets:
 * its mapped form is the same key. */
static void test_v4_mapped_is_ipv4(void **state)
{
	(void)state;
	expect_key("::ffff:192.0.2.7", "192.0.2.7");
	expect_key("::FFFF:127.0.0.1", "127.0.0.1");
}

/* Every address of one /64 is one key; the next /64 is another. */
static void test_ipv6_by_64(void **state)
{
	(void)state;
	expect_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64");
	expect_key("2001:db8:1:2::1", "2001:db8:1:2::/64");
	expect_key("2001:0DB8:0001:0002:0:0:0:ffff", "2001:db8:1:2::/64");
	expect_key("2001:db8:1:3::1", "2001:db8:1:3::/64");
	expect_key("::1", "::/64");
	/* the longest /64 text still fits */
	expect_key("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff::/64");
}

static void test_not_an_address(void **state)
{
	(void)state;
	char out[CHAT_ADDR_KEY_LEN] = "x";
	const char *bad[] = { "", "unknown", "127.0.0.1:80", "[::1]", "1.2.3", "2001:db8::1/64",
	                      "fe80::1%eth0", " 127.0.0.1", NULL };
	for (size_t i = 0; bad[i]; i++) {
		assert_false(chat_addr_canonical(bad[i], out, sizeof(out)));
		assert_string_equal(out, "");
	}
	assert_false(chat_addr_canonical(NULL, out, sizeof(out)));
	/* a buffer too short for every answer is refused, not truncated */
	char small[16];
	assert_false(chat_addr_canonical("127.0.0.1", small, sizeof(small)));
}

static void test_hash(void **state)
{
	(void)state;
	/* FNV-1a 64 reference values */
	assert_true(chat_hash_str("") == 0xcbf29ce484222325ULL);
	assert_true(chat_hash_str("a") == 0xaf63dc4c8601ec8cULL);
	assert_true(chat_hash_str("foobar") == 0x85944171f73967e8ULL);
	assert_true(chat_hash_bytes("foobar", 6) == chat_hash_str("foobar"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4),
		cmocka_unit_test(test_v4_mapped_is_ipv4),
		cmocka_unit_test(test_ipv6_by_64),
		cmocka_unit_test(test_not_an_address),
		cmocka_unit_test(test_hash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
