/* Helpers shared by the unit tests. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_util.h"

static const char *tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	return t && *t ? t : "/tmp";
}

void unit_write_temp(const char *text, char *path, size_t pathsz)
{
	size_t len = strlen(text);
	int fd;

	assert_true((size_t)snprintf(path, pathsz, "%s/chat-unit-XXXXXX", tmpdir()) < pathsz);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

void unit_make_temp_dir(char *path, size_t pathsz)
{
	assert_true((size_t)snprintf(path, pathsz, "%s/chat-unit-XXXXXX", tmpdir()) < pathsz);
	assert_non_null(mkdtemp(path));
}
