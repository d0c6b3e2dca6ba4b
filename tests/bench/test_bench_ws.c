/* Unit test of chat-bench's WebSocket framing: the handshake request and
 * response, server frame headers of every length form, refused headers,
 * and client frames that a server can unmask back to the payload. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bench_ws.h"

static void test_request(void **state)
{
	(void)state;
	char buf[512];
	int n = bench_ws_request(buf, sizeof(buf), "127.0.0.1", 8000, "/ws/chat/3/?token=t",
				 "dGhlIHNhbXBsZSBub25jZQ==");
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(buf));
	assert_non_null(strstr(buf, "GET /ws/chat/3/?token=t HTTP/1.1\r\n"));
	assert_non_null(strstr(buf, "\r\nHost: 127.0.0.1:8000\r\n"));
	assert_non_null(strstr(buf, "\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
	assert_non_null(strstr(buf, "\r\nSec-WebSocket-Version: 13\r\n"));
	assert_string_equal(buf + n - 4, "\r\n\r\n");
	/* too small a buffer is refused, not cut */
	assert_int_equal(bench_ws_request(buf, 40, "127.0.0.1", 8000, "/x", "k"), -1);
}

static void test_response(void **state)
{
	(void)state;
	const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n"
			  "Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n\x81\x02hi";
	size_t head = sizeof(ok) - 1 - 4; /* the frame after the head is not part of it */
	assert_int_equal(bench_ws_response(ok, sizeof(ok) - 1), (long)head);
	/* every prefix of the head is "not yet" */
	for (size_t i = 0; i < head; i++)
		assert_int_equal(bench_ws_response(ok, i), 0);
	const char refused[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
	assert_int_equal(bench_ws_response(refused, sizeof(refused) - 1), -1);
	const char no_upgrade[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n";
	assert_int_equal(bench_ws_response(no_upgrade, sizeof(no_upgrade) - 1), -1);
	/* a head that never ends is refused once it is too long to be one */
	static char endless[9000];
	memset(endless, 'a', sizeof(endless));
	assert_int_equal(bench_ws_response(endless, sizeof(endless)), -1);
}

static void test_parse_lengths(void **state)
{
	(void)state;
	bench_ws_frame f;
	const unsigned char small[] = { 0x81, 0x05, 'h', 'e', 'l', 'l', 'o' };
	assert_int_equal(bench_ws_parse(small, 1, &f), 0);
	assert_int_equal(bench_ws_parse(small, sizeof(small), &f), 1);
	assert_int_equal(f.opcode, BENCH_WS_TEXT);
	assert_true(f.fin);
	assert_false(f.masked);
	assert_int_equal(f.header_len, 2);
	assert_int_equal(f.payload_len, 5);

	const unsigned char mid[] = { 0x01, 126, 0x01, 0x00 };
	assert_int_equal(bench_ws_parse(mid, 3, &f), 0);
	assert_int_equal(bench_ws_parse(mid, 4, &f), 1);
	assert_false(f.fin);
	assert_int_equal(f.header_len, 4);
	assert_int_equal(f.payload_len, 256);

	const unsigned char big[] = { 0x80, 127, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00 };
	assert_int_equal(bench_ws_parse(big, 9, &f), 0);
	assert_int_equal(bench_ws_parse(big, 10, &f), 1);
	assert_int_equal(f.opcode, BENCH_WS_CONT);
	assert_int_equal(f.header_len, 10);
	assert_int_equal(f.payload_len, 65536);

	/* a masked frame: the mask is read and undone */
	unsigned char masked[] = { 0x81, 0x82, 1, 2, 3, 4, 'o' ^ 1, 'k' ^ 2 };
	assert_int_equal(bench_ws_parse(masked, 5, &f), 0);
	assert_int_equal(bench_ws_parse(masked, sizeof(masked), &f), 1);
	assert_true(f.masked);
	assert_int_equal(f.header_len, 6);
	bench_ws_unmask(masked + 6, 2, f.mask);
	assert_memory_equal(masked + 6, "ok", 2);
}

static void test_parse_refused(void **state)
{
	(void)state;
	bench_ws_frame f;
	const unsigned char rsv[] = { 0xc1, 0x00 };            /* RSV1 without an extension */
	const unsigned char long_ping[] = { 0x89, 126, 0, 200 }; /* control frame over 125 */
	const unsigned char split_close[] = { 0x08, 0x00 };    /* fragmented control frame */
	const unsigned char huge[] = { 0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0 };
	assert_int_equal(bench_ws_parse(rsv, sizeof(rsv), &f), -1);
	assert_int_equal(bench_ws_parse(long_ping, sizeof(long_ping), &f), -1);
	assert_int_equal(bench_ws_parse(split_close, sizeof(split_close), &f), -1);
	assert_int_equal(bench_ws_parse(huge, sizeof(huge), &f), -1);
}

/* A client frame parses back (as a server would) to the same payload. */
static void round_trip(size_t len)
{
	static unsigned char buf[BENCH_WS_CLIENT_HDR_MAX + 70000], want[70000];
	for (size_t i = 0; i < len; i++)
		want[i] = (unsigned char)(i * 7 + 3);
	memcpy(buf + BENCH_WS_CLIENT_HDR_MAX, want, len);
	unsigned char *fr = bench_ws_frame_client(buf, BENCH_WS_TEXT, len, 0xa1b2c3d4u);
	size_t total = (size_t)(buf + BENCH_WS_CLIENT_HDR_MAX - fr) + len;
	bench_ws_frame f;
	assert_int_equal(bench_ws_parse(fr, total, &f), 1);
	assert_true(f.fin);
	assert_true(f.masked);
	assert_int_equal(f.opcode, BENCH_WS_TEXT);
	assert_int_equal(f.payload_len, len);
	assert_int_equal(f.header_len + len, total);
	if (len)
		assert_memory_not_equal(fr + f.header_len, want, len < 4 ? len : 4);
	bench_ws_unmask(fr + f.header_len, len, f.mask);
	assert_memory_equal(fr + f.header_len, want, len);
}

static void test_client_frames(void **state)
{
	(void)state;
	round_trip(0);
	round_trip(1);
	round_trip(125);
	round_trip(126);
	round_trip(4200);
	round_trip(65535);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_parse_lengths),
		cmocka_unit_test(test_parse_refused),
		cmocka_unit_test(test_client_frames),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
