/* chat_json: the exact bytes clients receive for every shape and frame. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat_json.h"

/* 2025-01-25T15:30:00.000Z */
#define T0 INT64_C(1737819000000)

/* Serialize obj, compare with expect, release obj. */
static void check(json_object *obj, const char *expect)
{
	size_t len = 0;
	const char *s;

	assert_non_null(obj);
	s = chat_json_string(obj, &len);
	assert_string_equal(s, expect);
	assert_int_equal(len, strlen(expect));
	json_object_put(obj);
}

static void check_ts(int64_t ms, const char *expect)
{
	char out[32];

	chat_json_timestamp(ms, out, sizeof(out));
	assert_string_equal(out, expect);
}

static void test_timestamp(void **state)
{
	check_ts(0, "1970-01-01T00:00:00.000Z");
	check_ts(T0, "2025-01-25T15:30:00.000Z");
	check_ts(T0 + 7, "2025-01-25T15:30:00.007Z");
	check_ts(T0 + 999, "2025-01-25T15:30:00.999Z");
	check_ts(T0 + 1000, "2025-01-25T15:30:01.000Z");
	/* Year and leap-day boundaries. */
	check_ts(INT64_C(1735689599999), "2024-12-31T23:59:59.999Z");
	check_ts(INT64_C(1735689600000), "2025-01-01T00:00:00.000Z");
	check_ts(INT64_C(1709164800123), "2024-02-29T00:00:00.123Z");
	check_ts(INT64_C(4102444800000), "2100-01-01T00:00:00.000Z");
	/* Before 1970 the milliseconds still count forward. */
	check_ts(-1, "1969-12-31T23:59:59.999Z");
}

static chat_user_ref alice = { 1, "alice" };
static chat_user_ref bob = { 2, "bob" };

static void fill_message(chat_message *m, char *content)
{
	memset(m, 0, sizeof(*m));
	m->id = 123;
	m->room_id = 7;
	m->sender = alice;
	m->content = content;
	snprintf(m->message_type, sizeof(m->message_type), "%s", "text");
	m->created_ms = T0;
}

static void test_user(void **state)
{
	chat_user_ref u = { 42, "张伟 \"quoted\" / slash" };

	check(chat_json_user(&alice), "{\"id\":1,\"username\":\"alice\"}");
	check(chat_json_user(&u), "{\"id\":42,\"username\":\"张伟 \\\"quoted\\\" / slash\"}");
}

static void test_message(void **state)
{
	chat_message m;

	fill_message(&m, "你好 </script>\n");
	check(chat_json_message(&m),
	      "{\"id\":123,\"room_id\":7,\"content\":\"你好 </script>\\n\",\"message_type\":\"text\","
	      "\"timestamp\":\"2025-01-25T15:30:00.000Z\",\"sender\":{\"id\":1,\"username\":\"alice\"}}");

	snprintf(m.client_id, sizeof(m.client_id), "%s", "0b8e7c9e-2f5d-4c4a-9b7e-3f1a2b3c4d5e");
	check(chat_json_message(&m),
	      "{\"id\":123,\"room_id\":7,\"content\":\"你好 </script>\\n\",\"message_type\":\"text\","
	      "\"timestamp\":\"2025-01-25T15:30:00.000Z\",\"sender\":{\"id\":1,\"username\":\"alice\"},"
	      "\"client_id\":\"0b8e7c9e-2f5d-4c4a-9b7e-3f1a2b3c4d5e\"}");

	m.client_id[0] = '\0';
	m.edited_ms = T0 + 61500;
	snprintf(m.message_type, sizeof(m.message_type), "%s", "image");
	check(chat_json_message(&m),
	      "{\"id\":123,\"room_id\":7,\"content\":\"你好 </script>\\n\",\"message_type\":\"image\","
	      "\"timestamp\":\"2025-01-25T15:30:00.000Z\",\"sender\":{\"id\":1,\"username\":\"alice\"},"
	      "\"edited_at\":\"2025-01-25T15:31:01.500Z\"}");
}

static void test_room(void **state)
{
	chat_room r;

	memset(&r, 0, sizeof(r));
	r.id = 7;
	snprintf(r.name, sizeof(r.name), "%s", "General");
	r.description = "Talk";
	r.created_by = 2;
	r.created_ms = T0;
	r.role = CHAT_ROLE_NONE;
	check(chat_json_room(&r),
	      "{\"id\":7,\"name\":\"General\",\"description\":\"Talk\",\"is_private\":false,"
	      "\"created_by\":2,\"created_at\":\"2025-01-25T15:30:00.000Z\",\"unread_count\":0,"
	      "\"last_message\":null,\"role\":null,\"is_member\":false}");

	r.is_private = true;
	r.role = CHAT_ROLE_OWNER;
	r.unread_count = 3;
	r.has_last_message = true;
	fill_message(&r.last_message, "hi");
	check(chat_json_room(&r),
	      "{\"id\":7,\"name\":\"General\",\"description\":\"Talk\",\"is_private\":true,"
	      "\"created_by\":2,\"created_at\":\"2025-01-25T15:30:00.000Z\",\"unread_count\":3,"
	      "\"last_message\":{\"id\":123,\"room_id\":7,\"content\":\"hi\",\"message_type\":\"text\","
	      "\"timestamp\":\"2025-01-25T15:30:00.000Z\",\"sender\":{\"id\":1,\"username\":\"alice\"}},"
	      "\"role\":\"owner\",\"is_member\":true}");

	r.has_last_message = false;
	r.role = CHAT_ROLE_MEMBER;
	r.description = NULL;
	check(chat_json_room(&r),
	      "{\"id\":7,\"name\":\"General\",\"description\":\"\",\"is_private\":true,"
	      "\"created_by\":2,\"created_at\":\"2025-01-25T15:30:00.000Z\",\"unread_count\":3,"
	      "\"last_message\":null,\"role\":\"member\",\"is_member\":true}");
}

static void test_member_read(void **state)
{
	chat_member m = { .user = { 2, "bob" }, .role = CHAT_ROLE_MEMBER, .online = true };
	chat_read rd = { .user = { 2, "bob" }, .read_ms = T0 + 5 };

	check(chat_json_member(&m), "{\"id\":2,\"username\":\"bob\",\"role\":\"member\",\"online\":true}");
	m.role = CHAT_ROLE_OWNER;
	m.online = false;
	check(chat_json_member(&m), "{\"id\":2,\"username\":\"bob\",\"role\":\"owner\",\"online\":false}");
	check(chat_json_read(&rd),
	      "{\"user\":{\"id\":2,\"username\":\"bob\"},\"read_at\":\"2025-01-25T15:30:00.005Z\"}");
}

static void test_frames(void **state)
{
	chat_user_ref online[2] = { { 1, "alice" }, { 2, "bob" } };
	chat_message m;

	check(chat_json_frame_established(&alice, online, 2),
	      "{\"type\":\"connection_established\",\"message\":\"连接成功\","
	      "\"user\":{\"id\":1,\"username\":\"alice\"},"
	      "\"online\":[{\"id\":1,\"username\":\"alice\"},{\"id\":2,\"username\":\"bob\"}]}");
	check(chat_json_frame_established(&alice, NULL, 0),
	      "{\"type\":\"connection_established\",\"message\":\"连接成功\","
	      "\"user\":{\"id\":1,\"username\":\"alice\"},\"online\":[]}");

	fill_message(&m, "hello");
	check(chat_json_frame_message("chat_message", &m),
	      "{\"type\":\"chat_message\",\"message\":{\"id\":123,\"room_id\":7,\"content\":\"hello\","
	      "\"message_type\":\"text\",\"timestamp\":\"2025-01-25T15:30:00.000Z\","
	      "\"sender\":{\"id\":1,\"username\":\"alice\"}}}");
	m.edited_ms = T0 + 1;
	check(chat_json_frame_message("message_updated", &m),
	      "{\"type\":\"message_updated\",\"message\":{\"id\":123,\"room_id\":7,\"content\":\"hello\","
	      "\"message_type\":\"text\",\"timestamp\":\"2025-01-25T15:30:00.000Z\","
	      "\"sender\":{\"id\":1,\"username\":\"alice\"},\"edited_at\":\"2025-01-25T15:30:00.001Z\"}}");

	check(chat_json_frame_deleted(123), "{\"type\":\"message_deleted\",\"message_id\":123}");
	check(chat_json_frame_read(123, &bob),
	      "{\"type\":\"message_read\",\"message_id\":123,\"user\":{\"id\":2,\"username\":\"bob\"}}");
	check(chat_json_frame_user("user_join", &alice),
	      "{\"type\":\"user_join\",\"user\":{\"id\":1,\"username\":\"alice\"}}");
	check(chat_json_frame_user("user_leave", &alice),
	      "{\"type\":\"user_leave\",\"user\":{\"id\":1,\"username\":\"alice\"}}");
	check(chat_json_frame_typing(&alice, true),
	      "{\"type\":\"typing\",\"user\":{\"id\":1,\"username\":\"alice\"},\"is_typing\":true}");
	check(chat_json_frame_typing(&alice, false),
	      "{\"type\":\"typing\",\"user\":{\"id\":1,\"username\":\"alice\"},\"is_typing\":false}");
	check(chat_json_frame_error("Content must not be empty.", "invalid"),
	      "{\"type\":\"error\",\"message\":\"Content must not be empty.\",\"code\":\"invalid\"}");
	check(chat_json_frame_error("oops", NULL), "{\"type\":\"error\",\"message\":\"oops\"}");
	check(chat_json_frame_sync_done(99), "{\"type\":\"sync_done\",\"last_id\":99}");
	check(chat_json_frame_resync_required(5), "{\"type\":\"resync_required\",\"last_id\":5}");
}

static void test_large_ids(void **state)
{
	chat_user_ref u = { INT64_MAX, "max" };

	check(chat_json_user(&u), "{\"id\":9223372036854775807,\"username\":\"max\"}");
	check(chat_json_frame_deleted(INT64_C(1758787632222)),
	      "{\"type\":\"message_deleted\",\"message_id\":1758787632222}");
}

/* ---- chat_json_parse: strict RFC 8259 without json-c's strict mode
 * (which refuses every non-ASCII string in json-c 0.18). */

/* Parse text (its strlen); the value's compact form, or NULL after a
 * refusal whose detail must be non-empty. "null" for the JSON null. */
static char *parse(const char *text)
{
	static char out[4096];
	char detail[160] = "";
	json_object *o = (json_object *)1;
	chat_err e = chat_json_parse(text, strlen(text), 32, &o, detail, sizeof(detail));

	if (e != CHAT_OK) {
		assert_null(o);
		assert_true(detail[0] != '\0');
		return NULL;
	}
	size_t len;
	snprintf(out, sizeof(out), "%s", o ? chat_json_string(o, &len) : "null");
	json_object_put(o);
	return out;
}

static void accepts(const char *text, const char *compact)
{
	char *got = parse(text);
	if (!got)
		fail_msg("refused: %s", text);
	assert_string_equal(got, compact);
}

static void refuses(const char *text)
{
	if (parse(text))
		fail_msg("accepted: %s", text);
}

static void test_parse_accepts(void **state)
{
	accepts("{}", "{}");
	accepts(" { \"a\" : [ 1 , -2.5e3 , true , false , null ] }\r\n\t",
	        "{\"a\":[1,-2.5e3,true,false,null]}");
	accepts("[]", "[]");
	accepts("0", "0");
	accepts("-0.5E+2", "-0.5E+2");
	accepts("\"x\"", "\"x\"");
	accepts("null", "null");
	accepts("{\"a\":{\"b\":{\"c\":[[[]]]}}}", "{\"a\":{\"b\":{\"c\":[[[]]]}}}");
	/* Escapes, including surrogate pairs. */
	accepts("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"]",
	        "[\"\\\"\\\\/\\b\\f\\n\\r\\t\u00e9\U0001F600\"]");
	/* Any valid UTF-8, byte for byte: Chinese, emoji, right-to-left,
	 * combining marks, a zero-width joiner sequence. */
	accepts("{\"content\":\"你好，世界\"}", "{\"content\":\"你好，世界\"}");
	accepts("{\"content\":\"😀👍🏽👨\u200d👩\u200d👧\"}", "{\"content\":\"😀👍🏽👨\u200d👩\u200d👧\"}");
	accepts("{\"content\":\"שלום עולם مرحبا بالعالم\"}",
	        "{\"content\":\"שלום עולם مرحبا بالعالم\"}");
	accepts("{\"e\u0301\":\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\"}",
	        "{\"e\u0301\":\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\"}");
	/* Duplicate keys: the last one wins (as json-c does). */
	accepts("{\"a\":1,\"a\":2}", "{\"a\":2}");
	/* Large integers keep their value. */
	accepts("[9223372036854775807]", "[9223372036854775807]");
	(void)state;
}

static void test_parse_refuses(void **state)
{
	static const char *bad[] = {
		"", "   ", "{", "}", "[1,]", "{\"a\":1,}", "[,1]", "{,}", "[1 2]",
		"{\"a\" 1}", "{\"a\":}", "{a:1}", "{'a':1}", "['x']", "[NaN]", "[Infinity]",
		"[-Infinity]", "[nan]", "[+1]", "[01]", "[1.]", "[.5]", "[1e]", "[1e+]", "[-]",
		"[0x10]", "[tru]", "[True]", "[nul]", "[undefined]", "/* c */ {}", "{} // c",
		"{\"a\":1 /* c */}", "# c\n{}", "{}{}", "{} x", "[1]]", "\"abc", "\"a\\x\"",
		"\"\\u12\"", "\"\\u12G4\"", "\"\\\"", "\"tab\there\"", "\"nl\nhere\"",
		"\"\x01\"", "\"\x7f\"" /* DEL is allowed: see below */, "\xef\xbb\xbf{}",
		"{\"a\":\"\xc3\"}", "{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xed\xa0\x80\"}",
		"{\"a\":\"\xf4\x90\x80\x80\"}", "{\"a\":\"\xff\"}", "{\"a\":\"\x80\"}",
		"\x0b[]", "\f[]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (strcmp(bad[i], "\"\x7f\"") == 0)
			continue;
		refuses(bad[i]);
	}
	/* DEL (0x7f) is not a control character in JSON's sense. */
	accepts("\"\x7f\"", "\"\x7f\"");
	/* A NUL inside the buffer (len beyond it) is refused, not cut. */
	json_object *o = NULL;
	char detail[160];
	assert_int_equal(chat_json_parse("{}\0{}", 5, 32, &o, detail, sizeof(detail)), CHAT_ERR_INVALID);
	assert_int_equal(chat_json_parse("\"a\0b\"", 5, 32, &o, detail, sizeof(detail)),
	                 CHAT_ERR_INVALID);
	/* Only the bytes given count: "[1]x" cut at 3 is fine. */
	assert_int_equal(chat_json_parse("[1]x", 3, 32, &o, detail, sizeof(detail)), CHAT_OK);
	json_object_put(o);
	(void)state;
}

static void test_parse_depth_and_messages(void **state)
{
	char buf[200], detail[160];
	json_object *o = NULL;

	/* 32 levels pass, 33 do not. */
	memset(buf, '[', 32);
	memset(buf + 32, ']', 32);
	assert_int_equal(chat_json_parse(buf, 64, 32, &o, detail, sizeof(detail)), CHAT_OK);
	json_object_put(o);
	memset(buf, '[', 33);
	memset(buf + 33, ']', 33);
	assert_int_equal(chat_json_parse(buf, 66, 32, &o, detail, sizeof(detail)), CHAT_ERR_INVALID);
	assert_non_null(strstr(detail, "deeper than 32"));
	/* Deep nesting far beyond the limit costs no stack. */
	char *deep = malloc(1000000);
	memset(deep, '[', 1000000);
	assert_int_equal(chat_json_parse(deep, 1000000, 32, &o, detail, sizeof(detail)),
	                 CHAT_ERR_INVALID);
	free(deep);
	/* The messages say what and where. */
	chat_json_parse("[NaN]", 5, 32, &o, detail, sizeof(detail));
	assert_non_null(strstr(detail, "byte 1"));
	chat_json_parse("[1,]", 4, 32, &o, detail, sizeof(detail));
	assert_non_null(strstr(detail, "byte 3"));
	chat_json_parse("{\"a\":\"\xff\"}", 8, 32, &o, detail, sizeof(detail));
	assert_non_null(strstr(detail, "UTF-8"));
	chat_json_parse("", 0, 32, &o, detail, sizeof(detail));
	assert_non_null(strstr(detail, "empty"));
	/* A tiny detail buffer is still a terminated string. */
	char tiny[4];
	chat_json_parse("[", 1, 32, &o, tiny, sizeof(tiny));
	assert_true(strlen(tiny) < sizeof(tiny));
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timestamp), cmocka_unit_test(test_user),
		cmocka_unit_test(test_message),   cmocka_unit_test(test_room),
		cmocka_unit_test(test_member_read), cmocka_unit_test(test_frames),
		cmocka_unit_test(test_large_ids),
		cmocka_unit_test(test_parse_accepts),
		cmocka_unit_test(test_parse_refuses),
		cmocka_unit_test(test_parse_depth_and_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
