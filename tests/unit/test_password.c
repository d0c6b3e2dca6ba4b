/* chat_password: Argon2id hashing and verification. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "chat_password.h"

static int setup(void **state)
{
	/* The cheapest costs: the tests check behaviour, not strength. */
	return chat_password_init(1, 8);
}

static void test_hash_verify(void **state)
{
	char h1[CHAT_PASSWORD_HASH_BUF], h2[CHAT_PASSWORD_HASH_BUF];

	assert_int_equal(chat_password_hash("correct horse", h1), 0);
	assert_int_equal(strncmp(h1, "$argon2id$", 10), 0);
	assert_non_null(strstr(h1, "$m=8,t=1,"));
	assert_true(chat_password_verify(h1, "correct horse"));
	assert_false(chat_password_verify(h1, "correct horsE"));
	assert_false(chat_password_verify(h1, "correct horse "));
	assert_false(chat_password_verify(h1, ""));
	/* Salted: the same password hashes differently. */
	assert_int_equal(chat_password_hash("correct horse", h2), 0);
	assert_string_not_equal(h1, h2);
	assert_true(chat_password_verify(h2, "correct horse"));
	/* UTF-8 passwords are bytes like any other. */
	assert_int_equal(chat_password_hash("密码密码密码密码", h2), 0);
	assert_true(chat_password_verify(h2, "密码密码密码密码"));
	assert_false(chat_password_verify(h2, "密码密码密码"));
}

static void test_empty_and_bad_hash(void **state)
{
	char big[400];

	assert_false(chat_password_verify("", ""));
	assert_false(chat_password_verify("", "anything"));
	assert_false(chat_password_verify(NULL, "anything"));
	assert_false(chat_password_verify("not a hash", "not a hash"));
	assert_false(chat_password_verify("pbkdf2_sha256$260000$salt$hash", "x"));
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_false(chat_password_verify(big, "x"));
	chat_password_dummy_verify("whatever");
}

static void test_bad_costs(void **state)
{
	assert_int_equal(chat_password_init(0, 8), -1);
	assert_int_equal(chat_password_init(1, 7), -1);
	assert_int_equal(chat_password_init(1, 8), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_verify),
		cmocka_unit_test(test_empty_and_bad_hash),
		cmocka_unit_test(test_bad_costs),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
