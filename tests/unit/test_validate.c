/* chat_utf8 and chat_validate: what a client may send, byte by byte. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat_utf8.h"
#include "chat_validate.h"

#define VALID(lit) assert_true(chat_utf8_valid(lit, sizeof(lit) - 1))
#define INVALID(lit) assert_false(chat_utf8_valid(lit, sizeof(lit) - 1))

static void test_utf8_valid(void **state)
{
	VALID("");
	VALID("hello");
	VALID("\x7F");
	VALID("\xC2\x80");             /* U+0080, smallest 2-byte */
	VALID("\xDF\xBF");             /* U+07FF */
	VALID("\xE0\xA0\x80");         /* U+0800, smallest 3-byte */
	VALID("\xED\x9F\xBF");         /* U+D7FF, just below the surrogates */
	VALID("\xEE\x80\x80");         /* U+E000, just above */
	VALID("\xEF\xBF\xBF");         /* U+FFFF */
	VALID("\xF0\x90\x80\x80");     /* U+10000, smallest 4-byte */
	VALID("\xF4\x8F\xBF\xBF");     /* U+10FFFF, the largest */
	VALID("你好, мир, 🎉");
}

static void test_utf8_invalid(void **state)
{
	assert_false(chat_utf8_valid("a\0b", 3)); /* NUL */
	INVALID("\x80");                          /* lone continuation */
	INVALID("\xBF");
	INVALID("\xC0\x80");                      /* overlong NUL */
	INVALID("\xC1\xBF");                      /* overlong 2-byte */
	INVALID("\xE0\x80\x80");                  /* overlong 3-byte */
	INVALID("\xE0\x9F\xBF");
	INVALID("\xF0\x80\x80\x80");              /* overlong 4-byte */
	INVALID("\xF0\x8F\xBF\xBF");
	INVALID("\xED\xA0\x80");                  /* U+D800 high surrogate */
	INVALID("\xED\xBF\xBF");                  /* U+DFFF low surrogate */
	INVALID("\xED\xA0\xBD\xED\xB8\x80");      /* CESU-8 surrogate pair */
	INVALID("\xF4\x90\x80\x80");              /* U+110000 */
	INVALID("\xF5\x80\x80\x80");
	INVALID("\xFE");
	INVALID("\xFF");
	INVALID("\xC3");                          /* truncated 2-byte */
	INVALID("\xE4\xBD");                      /* truncated 3-byte */
	INVALID("\xF0\x9F\x8E");                  /* truncated 4-byte */
	INVALID("ok\xF0\x9F\x8E");                /* truncated at the end */
	INVALID("\xE4\x41\xA0");                  /* ASCII inside a sequence */
	INVALID("\xC3\xA9\xA9");                  /* one continuation too many */
	/* The length bounds the check: a valid prefix is valid. */
	assert_true(chat_utf8_valid("\xC3\xA9\xFF", 2));
	assert_false(chat_utf8_valid("\xC3\xA9", 1));
}

static void test_utf8_count(void **state)
{
	assert_int_equal(chat_utf8_count("", 0), 0);
	assert_int_equal(chat_utf8_count("abc", 3), 3);
	assert_int_equal(chat_utf8_count("é", strlen("é")), 1);
	assert_int_equal(chat_utf8_count("你好", strlen("你好")), 2);
	assert_int_equal(chat_utf8_count("a🎉b", strlen("a🎉b")), 3);
}

/* n copies of the 4-byte U+1F389, heap allocated. */
static char *emoji(size_t n, size_t *len)
{
	char *s = malloc(n * 4 + 1);

	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * 4, "\xF0\x9F\x8E\x89", 4);
	s[n * 4] = '\0';
	*len = n * 4;
	return s;
}

static void test_content(void **state)
{
	const char *d = NULL;
	size_t len;
	char *s;

	assert_int_equal(chat_validate_content("hi", 2, 4000, &d), CHAT_OK);
	assert_int_equal(chat_validate_content(" x ", 3, 4000, &d), CHAT_OK);
	assert_int_equal(chat_validate_content("line\nline", 9, 4000, &d), CHAT_OK);
	assert_int_equal(chat_validate_content("", 0, 4000, &d), CHAT_ERR_INVALID);
	assert_string_equal(d, "Content must not be empty.");
	assert_int_equal(chat_validate_content(" \n\t", 3, 4000, &d), CHAT_ERR_INVALID);
	assert_string_equal(d, "Content must not be empty.");
	assert_int_equal(chat_validate_content(NULL, 0, 4000, &d), CHAT_ERR_INVALID);
	assert_int_equal(chat_validate_content("a\xC0\x80", 3, 4000, &d), CHAT_ERR_INVALID);
	assert_string_equal(d, "Content must be valid UTF-8.");
	assert_int_equal(chat_validate_content("a\0b", 3, 4000, &d), CHAT_ERR_INVALID);

	/* The limit counts code points, not bytes: 4000 emoji (16000 bytes)
	 * pass, 4001 do not. */
	s = emoji(4000, &len);
	assert_int_equal(chat_validate_content(s, len, 4000, &d), CHAT_OK);
	free(s);
	s = emoji(4001, &len);
	d = NULL;
	assert_int_equal(chat_validate_content(s, len, 4000, &d), CHAT_ERR_INVALID);
	assert_string_equal(d, "Content is too long.");
	free(s);
	assert_int_equal(chat_validate_content("abc", 3, 3, NULL), CHAT_OK);
	assert_int_equal(chat_validate_content("abcd", 4, 3, NULL), CHAT_ERR_INVALID);
}

static void test_message_type(void **state)
{
	const char *d = NULL;

	assert_int_equal(chat_validate_message_type("text", &d), CHAT_OK);
	assert_int_equal(chat_validate_message_type("image", &d), CHAT_OK);
	assert_int_equal(chat_validate_message_type("file", &d), CHAT_OK);
	assert_int_equal(chat_validate_message_type("system", &d), CHAT_OK);
	assert_int_equal(chat_validate_message_type("Text", &d), CHAT_ERR_INVALID);
	assert_string_equal(d, "message_type must be one of text, image, file, system.");
	assert_int_equal(chat_validate_message_type("", &d), CHAT_ERR_INVALID);
	assert_int_equal(chat_validate_message_type("video", &d), CHAT_ERR_INVALID);
	assert_int_equal(chat_validate_message_type("text ", &d), CHAT_ERR_INVALID);
	assert_int_equal(chat_validate_message_type(NULL, &d), CHAT_ERR_INVALID);
}

static void test_client_id(void **state)
{
	const char *d = NULL;
	char id[66];

	assert_int_equal(chat_validate_client_id("0b8e7c9e-2f5d-4c4a-9b7e-3f1a2b3c4d5e", 36, &d),
	                 CHAT_OK);
	assert_int_equal(chat_validate_client_id("a", 1, &d), CHAT_OK);
	memset(id, 'x', sizeof(id));
	assert_int_equal(chat_validate_client_id(id, 64, &d), CHAT_OK);
	assert_int_equal(chat_validate_client_id(id, 65, &d), CHAT_ERR_INVALID);
	assert_string_equal(d, "client_id must be 1 to 64 characters.");
	assert_int_equal(chat_validate_client_id("", 0, &d), CHAT_ERR_INVALID);
	assert_int_equal(chat_validate_client_id("a\nb", 3, &d), CHAT_ERR_INVALID);
	assert_string_equal(d, "client_id must be printable ASCII.");
	assert_int_equal(chat_validate_client_id("é", 2, &d), CHAT_ERR_INVALID);
}

static void test_username(void **state)
{
	const char *d = NULL;
	char name[200];

#define NAME_OK(s) assert_int_equal(chat_validate_username(s, strlen(s), &d), CHAT_OK)
#define NAME_BAD(s) assert_int_equal(chat_validate_username(s, strlen(s), &d), CHAT_ERR_INVALID)
	NAME_OK("alice");
	NAME_OK("Alice_99");
	NAME_OK("a.b+c-d@e_f");
	NAME_OK("张伟");
	NAME_OK("José");
	NAME_OK("Дмитрий");
	NAME_BAD("");
	assert_string_equal(d, "Username must not be empty.");
	NAME_BAD("alice smith");
	assert_string_equal(d, "Enter a valid username. This value may contain only letters, "
	                       "numbers, and @/./+/-/_ characters.");
	NAME_BAD("alice!");
	NAME_BAD("a/b");
	NAME_BAD("<script>");
	NAME_BAD("emoji🎉");
	NAME_BAD("zero\xE2\x80\x8Bwidth");     /* U+200B */
	NAME_BAD("ideo\xE3\x80\x80space");     /* U+3000 */
	NAME_BAD("bad\xC3");
	assert_string_equal(d, "Username must be valid UTF-8.");
	assert_int_equal(chat_validate_username("a\0b", 3, &d), CHAT_ERR_INVALID);
	memset(name, 'a', sizeof(name));
	assert_int_equal(chat_validate_username(name, 150, &d), CHAT_OK);
	assert_int_equal(chat_validate_username(name, 151, &d), CHAT_ERR_INVALID);
	assert_string_equal(d, "Username must be at most 150 characters.");
	/* 150 characters of 3 bytes each are still 150 characters. */
	{
		char cjk[150 * 3];

		for (size_t i = 0; i < 150; i++)
			memcpy(cjk + i * 3, "张", 3);
		assert_int_equal(chat_validate_username(cjk, sizeof(cjk), &d), CHAT_OK);
	}
#undef NAME_OK
#undef NAME_BAD
}

static void test_password(void **state)
{
	const char *d = NULL;
	char pw[1100];

	assert_int_equal(chat_validate_password("12345678", 8, &d), CHAT_OK);
	assert_int_equal(chat_validate_password("1234567", 7, &d), CHAT_ERR_INVALID);
	assert_string_equal(d, "Password must be 8 to 128 characters.");
	assert_int_equal(chat_validate_password("", 0, &d), CHAT_ERR_INVALID);
	/* Characters, not bytes: 8 CJK characters are 24 bytes and enough;
	 * 4 of them (12 bytes) are not. */
	assert_int_equal(chat_validate_password("密码密码密码密码", strlen("密码密码密码密码"), &d), CHAT_OK);
	assert_int_equal(chat_validate_password("密码密码", strlen("密码密码"), &d), CHAT_ERR_INVALID);
	memset(pw, 'p', sizeof(pw));
	assert_int_equal(chat_validate_password(pw, 128, &d), CHAT_OK);
	assert_int_equal(chat_validate_password(pw, 129, &d), CHAT_ERR_INVALID);
	assert_int_equal(chat_validate_password(pw, sizeof(pw), &d), CHAT_ERR_INVALID);
	assert_int_equal(chat_validate_password("abcdefg\xFF", 8, &d), CHAT_ERR_INVALID);
	assert_string_equal(d, "Password must be valid UTF-8.");
}

static void test_room_fields(void **state)
{
	const char *d = NULL;
	char big[1200];

	assert_int_equal(chat_validate_room_name("General", 7, &d), CHAT_OK);
	assert_int_equal(chat_validate_room_name("技术 讨论", strlen("技术 讨论"), &d), CHAT_OK);
	assert_int_equal(chat_validate_room_name("", 0, &d), CHAT_ERR_INVALID);
	assert_string_equal(d, "Room name must not be empty.");
	assert_int_equal(chat_validate_room_name("   ", 3, &d), CHAT_ERR_INVALID);
	assert_int_equal(chat_validate_room_name("a\nb", 3, &d), CHAT_ERR_INVALID);
	assert_string_equal(d, "Room name must not contain control characters.");
	memset(big, 'r', sizeof(big));
	assert_int_equal(chat_validate_room_name(big, 100, &d), CHAT_OK);
	assert_int_equal(chat_validate_room_name(big, 101, &d), CHAT_ERR_INVALID);
	assert_string_equal(d, "Room name must be at most 100 characters.");

	assert_int_equal(chat_validate_description("", 0, &d), CHAT_OK);
	assert_int_equal(chat_validate_description("multi\nline", 10, &d), CHAT_OK);
	assert_int_equal(chat_validate_description(big, 1000, &d), CHAT_OK);
	assert_int_equal(chat_validate_description(big, 1001, &d), CHAT_ERR_INVALID);
	assert_string_equal(d, "Description must be at most 1000 characters.");
	assert_int_equal(chat_validate_description("\xED\xA0\x80", 3, &d), CHAT_ERR_INVALID);
	assert_string_equal(d, "Description must be valid UTF-8.");
}

static void test_parse_id(void **state)
{
	long long v = -1;

#define ID_OK(s, want)                                                         \
	do {                                                                   \
		assert_int_equal(chat_parse_id(s, strlen(s), &v), CHAT_OK);    \
		assert_true(v == (want));                                      \
	} while (0)
#define ID_BAD(s) assert_int_equal(chat_parse_id(s, strlen(s), &v), CHAT_ERR_INVALID)
	ID_OK("1", 1);
	ID_OK("123", 123);
	ID_OK("9223372036854775807", INT64_MAX);
	ID_BAD("9223372036854775808");
	ID_BAD("99999999999999999999");
	ID_BAD("0");
	ID_BAD("007");
	ID_BAD("");
	ID_BAD("-1");
	ID_BAD("+1");
	ID_BAD(" 1");
	ID_BAD("1 ");
	ID_BAD("1a");
	ID_BAD("0x10");
	ID_BAD("１");  /* fullwidth digit */
	/* Only len bytes are read: "12/" with len 2 is 12. */
	assert_int_equal(chat_parse_id("12/", 2, &v), CHAT_OK);
	assert_int_equal(v, 12);
	assert_int_equal(chat_parse_id(NULL, 0, &v), CHAT_ERR_INVALID);
#undef ID_OK
#undef ID_BAD
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_valid),   cmocka_unit_test(test_utf8_invalid),
		cmocka_unit_test(test_utf8_count),   cmocka_unit_test(test_content),
		cmocka_unit_test(test_message_type), cmocka_unit_test(test_client_id),
		cmocka_unit_test(test_username),     cmocka_unit_test(test_password),
		cmocka_unit_test(test_room_fields),  cmocka_unit_test(test_parse_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
