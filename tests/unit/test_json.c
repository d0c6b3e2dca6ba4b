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
	      "\"last_message\":null,\"role\":null}");

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
	      "\"role\":\"owner\"}");

	r.has_last_message = false;
	r.role = CHAT_ROLE_MEMBER;
	r.description = NULL;
	check(chat_json_room(&r),
	      "{\"id\":7,\"name\":\"General\",\"description\":\"\",\"is_private\":true,"
	      "\"created_by\":2,\"created_at\":\"2025-01-25T15:30:00.000Z\",\"unread_count\":3,"
	      "\"last_message\":null,\"role\":\"member\"}");
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timestamp), cmocka_unit_test(test_user),
		cmocka_unit_test(test_message),   cmocka_unit_test(test_room),
		cmocka_unit_test(test_member_read), cmocka_unit_test(test_frames),
		cmocka_unit_test(test_large_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
