/* Small whole-file reads for configuration material (secrets, PEM keys). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chat_file.h"

char *chat_file_read(const char *path, size_t max, size_t *len_out)
{
	char *buf = NULL;
	size_t len = 0;
	int saved;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	buf = malloc(max + 1);
	if (!buf)
		goto fail;
	for (;;) {
		/* Read one byte beyond max so an oversized file is noticed. */
		char extra;
		ssize_t n = len < max ? read(fd, buf + len, max - len) : read(fd, &extra, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		if (len == max) {
			errno = EFBIG;
			goto fail;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);
	if (len_out)
		*len_out = len;
	return buf;
fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return NULL;
}

char *chat_file_read_secret(const char *path, size_t *len_out)
{
	size_t len;
	char *buf = chat_file_read(path, CHAT_KEY_FILE_MAX, &len);

	if (!buf)
		return NULL;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	if (len_out)
		*len_out = len;
	return buf;
}
