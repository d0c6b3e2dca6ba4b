/* chat_notify: wake-up datagrams between real sockets in a temporary
 * directory. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "chat_notify.h"
#include "unit_util.h"

static char dir[256];

static int setup(void **state)
{
	unit_make_temp_dir(dir, sizeof(dir));
	return 0;
}

/* Remove what the tests left in dir, then dir itself. */
static int teardown(void **state)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_send_receive(void **state)
{
	char pa[256], pb[256], other[300];
	int a = chat_notify_listen(dir, "a", pa, sizeof(pa));
	int b = chat_notify_listen(dir, "b", pb, sizeof(pb));
	int flags;
	FILE *f;

	assert_true(a >= 0);
	assert_true(b >= 0);
	assert_non_null(strstr(pa, "/relay-a.sock"));
	flags = fcntl(a, F_GETFL);
	assert_true(flags & O_NONBLOCK);
	assert_true(fcntl(a, F_GETFD) & FD_CLOEXEC);
	/* Files that are not relay sockets are left alone. */
	snprintf(other, sizeof(other), "%s/other.sock", dir);
	f = fopen(other, "w");
	assert_non_null(f);
	fclose(f);

	assert_int_equal(chat_notify_drain(a), 0);
	assert_int_equal(chat_notify_send(dir), 2);
	assert_int_equal(chat_notify_send(dir), 2);
	assert_int_equal(chat_notify_drain(a), 2);
	assert_int_equal(chat_notify_drain(b), 2);
	assert_int_equal(chat_notify_drain(a), 0);

	/* A closed relay's file stays behind: skipped, not an error. */
	close(b);
	assert_int_equal(chat_notify_send(dir), 1);
	assert_int_equal(chat_notify_drain(a), 1);
	/* Restarting under the same name replaces the stale file. */
	b = chat_notify_listen(dir, "b", pb, sizeof(pb));
	assert_true(b >= 0);
	assert_int_equal(chat_notify_send(dir), 2);
	assert_int_equal(chat_notify_drain(b), 1);
	/* A live socket of the same name is not taken over. */
	assert_int_equal(chat_notify_listen(dir, "b", NULL, 0), -1);
	assert_int_equal(errno, EADDRINUSE);
	close(a);
	close(b);
	unlink(pa);
	unlink(pb);
}

static void test_no_listener(void **state)
{
	char sub[300], path[400];
	FILE *f;

	snprintf(sub, sizeof(sub), "%s/empty", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(chat_notify_send(sub), 0);
	assert_int_equal(chat_notify_send("/nonexistent/chat-notify-dir"), -1);
	/* A regular file named like a socket is skipped by send and never
	 * removed by listen. */
	snprintf(path, sizeof(path), "%s/relay-f.sock", sub);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(chat_notify_send(sub), 0);
	assert_int_equal(chat_notify_listen(sub, "f", NULL, 0), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(access(path, F_OK), 0);
}

static void test_listen_creates_dir(void **state)
{
	char sub[300], path[400];
	struct stat st;
	int fd;

	snprintf(sub, sizeof(sub), "%s/run/chat", dir);
	fd = chat_notify_listen(sub, "worker-1", path, sizeof(path));
	assert_true(fd >= 0);
	assert_int_equal(stat(sub, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(chat_notify_send(sub), 1);
	assert_int_equal(chat_notify_drain(fd), 1);
	close(fd);
	unlink(path);
}

static void test_bad_names(void **state)
{
	char longdir[300], small[8];

	assert_int_equal(chat_notify_listen(dir, "", NULL, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(chat_notify_listen(dir, "../x", NULL, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(chat_notify_listen(dir, NULL, NULL, 0), -1);
	/* sun_path holds about 108 bytes. */
	memset(longdir, 'd', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	assert_int_equal(chat_notify_listen(longdir, "a", NULL, 0), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	/* The path must fit the caller's buffer. */
	assert_int_equal(chat_notify_listen(dir, "a", small, sizeof(small)), -1);
	assert_int_equal(errno, ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_send_receive),
		cmocka_unit_test(test_no_listener),
		cmocka_unit_test(test_listen_creates_dir),
		cmocka_unit_test(test_bad_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
