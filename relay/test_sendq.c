/* Unit tests of the relay's shared frames and bounded send queues
 * (relay/sendq.c): order, limits, the ring growing and wrapping, and
 * reference counting (run under ASan/LSan, a leak or a double free
 * fails). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "relay.h"

static relay_frame *mk(const char *s)
{
	relay_frame *f = relay_frame_new(s, strlen(s));
	assert_non_null(f);
	return f;
}

static const char *text(const relay_frame *f)
{
	return (const char *)f->data + LWS_PRE;
}

static void test_frame_layout(void **state)
{
	(void)state;
	relay_frame *f = mk("{\"type\":\"x\"}");
	assert_int_equal(f->len, 12);
	assert_int_equal(f->refs, 0);
	assert_string_equal(text(f), "{\"type\":\"x\"}"); /* NUL-terminated after the payload */
	relay_frame_discard(f);

	relay_frame *e = relay_frame_error("bad \"input\"", "invalid_json");
	assert_non_null(e);
	assert_non_null(strstr(text(e), "\"type\":\"error\""));
	assert_non_null(strstr(text(e), "\"code\":\"invalid_json\""));
	assert_non_null(strstr(text(e), "bad \\\"input\\\""));
	relay_frame_discard(e);
	assert_null(relay_frame_from_json(NULL));
}

static void test_fifo_and_wrap(void **state)
{
	(void)state;
	relay_sendq q;
	memset(&q, 0, sizeof(q));
	char buf[16];
	int next_in = 0, next_out = 0;
	/* interleave pushes and pops so the ring wraps and grows */
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 7; i++) {
			snprintf(buf, sizeof(buf), "%d", next_in++);
			relay_frame *f = mk(buf);
			assert_int_equal(relay_sendq_push(&q, f, 0, 0), 0);
			assert_int_equal(f->refs, 1);
		}
		for (int i = 0; i < 5; i++) {
			relay_frame *f = relay_sendq_pop(&q);
			assert_non_null(f);
			snprintf(buf, sizeof(buf), "%d", next_out++);
			assert_string_equal(text(f), buf);
			relay_frame_unref(f);
		}
	}
	assert_int_equal(q.count, (size_t)(next_in - next_out));
	size_t bytes = 0;
	for (int i = next_out; i < next_in; i++) {
		snprintf(buf, sizeof(buf), "%d", i);
		bytes += strlen(buf);
	}
	assert_int_equal(q.bytes, bytes);
	assert_int_equal(relay_sendq_clear(&q), (size_t)(next_in - next_out));
	assert_int_equal(q.count, 0);
	assert_int_equal(q.bytes, 0);
	assert_null(relay_sendq_pop(&q));
	assert_null(relay_sendq_peek(&q));
	relay_sendq_free(&q);
}

static void test_limits(void **state)
{
	(void)state;
	relay_sendq q;
	memset(&q, 0, sizeof(q));
	relay_frame *f = mk("0123456789"); /* 10 bytes */
	relay_frame_ref(f);                 /* the test's own reference */
	/* by frames */
	assert_int_equal(relay_sendq_push(&q, f, 3, 0), 0);
	assert_int_equal(relay_sendq_push(&q, f, 3, 0), 0);
	assert_int_equal(relay_sendq_push(&q, f, 3, 0), 0);
	assert_int_equal(relay_sendq_push(&q, f, 3, 0), -1);
	assert_int_equal(f->refs, 4); /* a refused push takes no reference */
	relay_sendq_clear(&q);
	assert_int_equal(f->refs, 1);
	/* by bytes: 25 bytes allow two frames of 10 */
	assert_int_equal(relay_sendq_push(&q, f, 0, 25), 0);
	assert_int_equal(relay_sendq_push(&q, f, 0, 25), 0);
	assert_int_equal(relay_sendq_push(&q, f, 0, 25), -1);
	assert_int_equal(q.bytes, 20);
	/* control frames bypass the limits, at the head */
	relay_frame *c = mk("ctl");
	assert_int_equal(relay_sendq_push_front(&q, c), 0);
	assert_ptr_equal(relay_sendq_peek(&q), c);
	assert_int_equal(q.count, 3);
	relay_frame *p = relay_sendq_pop(&q);
	assert_ptr_equal(p, c);
	relay_frame_unref(p); /* frees c */
	relay_sendq_free(&q);
	assert_int_equal(f->refs, 1);
	relay_frame_unref(f); /* frees f */
}

static void test_shared_among_queues(void **state)
{
	(void)state;
	/* one frame, many recipients: freed after the last one wrote it */
	relay_sendq qs[5];
	memset(qs, 0, sizeof(qs));
	relay_frame *f = mk("{\"type\":\"chat_message\"}");
	relay_frame_ref(f); /* the fan-out's hold */
	for (int i = 0; i < 5; i++)
		assert_int_equal(relay_sendq_push(&qs[i], f, 10, 1000), 0);
	relay_frame_unref(f);
	assert_int_equal(f->refs, 5);
	for (int i = 0; i < 4; i++) {
		relay_frame *g = relay_sendq_pop(&qs[i]);
		assert_ptr_equal(g, f);
		relay_frame_unref(g);
	}
	assert_int_equal(f->refs, 1);
	relay_sendq_free(&qs[4]); /* the last reference: frees f (LSan checks) */
	for (int i = 0; i < 4; i++)
		relay_sendq_free(&qs[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_layout),
		cmocka_unit_test(test_fifo_and_wrap),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_shared_among_queues),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
