/* chat_log: URL scrubbing, levels, and the line format in a log file. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "chat_log.h"
#include "unit_util.h"

static void check_scrub(const char *in, const char *expect)
{
	char out[256];

	assert_ptr_equal(chat_log_scrub_url(in, out, sizeof(out)), out);
	assert_string_equal(out, expect);
}

static void test_scrub(void **state)
{
	check_scrub("/ws/chat/1/", "/ws/chat/1/");
	check_scrub("/ws/chat/1/?token=eyJhbGciOi.x.y", "/ws/chat/1/?token=***");
	check_scrub("/ws/chat/1/?last_id=5&token=abc", "/ws/chat/1/?last_id=5&token=***");
	check_scrub("/ws/chat/1/?token=abc&last_id=5", "/ws/chat/1/?token=***&last_id=5");
	check_scrub("/a?TOKEN=abc;password=p&secret=s&access=a&refresh=r&x=1",
	            "/a?TOKEN=***;password=***&secret=***&access=***&refresh=***&x=1");
	check_scrub("/a?access_token=a&tokens=keep", "/a?access_token=***&tokens=keep");
	check_scrub("/a?token", "/a?token");
	check_scrub("/a?token=", "/a?token=***");
	check_scrub("/a?token=abc#frag", "/a?token=***#frag");
	check_scrub("/a?x=1&&token=abc&", "/a?x=1&&token=***&");
	check_scrub("/a#x?token=abc", "/a#x?token=abc"); /* not a query */
	check_scrub("", "");
}

static void test_scrub_truncates(void **state)
{
	char out[12];

	chat_log_scrub_url("/ws/chat/1/?token=abcdef", out, sizeof(out));
	assert_string_equal(out, "/ws/chat/1/");
	chat_log_scrub_url("/ws/chat/12345/?token=abcdef", out, sizeof(out));
	assert_string_equal(out, "/ws/chat/12");
	/* Truncation never lets part of the secret through. */
	{
		char o2[21];

		chat_log_scrub_url("/x?token=SECRETSECRETSECRET", o2, sizeof(o2));
		assert_string_equal(o2, "/x?token=***");
	}
	assert_null(chat_log_scrub_url("/x", NULL, 0));
}

static char *read_all(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_file_levels(void **state)
{
	char path[256];
	const char *text;

	unit_write_temp("", path, sizeof(path));
	assert_int_equal(chat_log_open("unit", "nonsense", "stderr", path), -1);
	assert_int_equal(chat_log_open("unit", "info", "carrier-pigeon", path), -1);
	assert_int_equal(chat_log_open("unit", "warning", "stderr", path), 0);
	assert_false(chat_log_enabled(CHAT_LOG_INFO));
	assert_true(chat_log_enabled(CHAT_LOG_WARNING));
	chat_log_info("not shown");
	chat_log_warn("shown %d", 42);
	chat_log_debug("not shown either");
	errno = ENOENT;
	chat_log_errno(CHAT_LOG_ERROR, "opening %s", "x");
	assert_int_equal(errno, ENOENT);
	chat_log_error("two\nlines\r");
	text = read_all(path);
	assert_null(strstr(text, "not shown"));
	/* "2026-01-01T00:00:00.000Z unit[123]: warning: shown 42" */
	assert_non_null(strstr(text, " unit["));
	assert_non_null(strstr(text, "]: warning: shown 42\n"));
	assert_non_null(strstr(text, "]: error: opening x: No such file or directory\n"));
	assert_non_null(strstr(text, "]: error: two lines \n"));
	assert_int_equal(text[4], '-');
	assert_int_equal(text[10], 'T');
	assert_int_equal(text[19], '.');
	assert_int_equal(text[23], 'Z');

	/* Reopen after the file was moved away (logrotate). */
	unlink(path);
	chat_log_reopen();
	chat_log_error("after rotate");
	assert_non_null(strstr(read_all(path), "error: after rotate\n"));
	assert_null(strstr(read_all(path), "shown 42"));
	chat_log_close();
	unlink(path);
}

static void test_long_line(void **state)
{
	char path[256], big[10000];
	const char *text;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	unit_write_temp("", path, sizeof(path));
	assert_int_equal(chat_log_open("unit", "debug", "stderr", path), 0);
	chat_log_info("%s", big);
	chat_log_info("next");
	text = read_all(path);
	assert_non_null(strstr(text, "x\n"));
	assert_non_null(strstr(text, "info: next\n"));
	chat_log_close();
	unlink(path);
}

#define THREADS 4
#define LINES 2000

static void *log_lines(void *arg)
{
	for (int i = 0; i < LINES; i++)
		chat_log_info("thread %ld line %d %s", (long)(intptr_t)arg, i,
		              "padding padding padding padding padding padding");
	return NULL;
}

/* Lines from several threads never interleave: each is one write(). */
static void test_threads(void **state)
{
	char path[256], line[512];
	pthread_t t[THREADS];
	int count[THREADS] = { 0 };
	FILE *f;

	unit_write_temp("", path, sizeof(path));
	assert_int_equal(chat_log_open("unit", "info", "stderr", path), 0);
	for (long i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, log_lines, (void *)(intptr_t)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	chat_log_close();

	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		long th;
		int n;

		assert_int_equal(sscanf(strstr(line, "info: "), "info: thread %ld line %d", &th, &n), 2);
		assert_true(th >= 0 && th < THREADS);
		assert_int_equal(n, count[th]); /* in order, none lost, none torn */
		count[th]++;
		assert_non_null(strstr(line, " padding padding padding padding padding padding\n"));
	}
	fclose(f);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(count[i], LINES);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scrub),
		cmocka_unit_test(test_scrub_truncates),
		cmocka_unit_test(test_file_levels),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
