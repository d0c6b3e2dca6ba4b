/* Wake-up datagrams over AF_UNIX SOCK_DGRAM sockets in one directory.
 * Each relay process binds dir/relay-<name>.sock; a writer sends one byte
 * to every such socket after it commits. Nothing here ever blocks: a full
 * or dead receiver is skipped, since the relays also poll. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "chat_notify.h"

#define PREFIX "relay-"
#define SUFFIX ".sock"

static bool is_relay_socket(const char *name)
{
	size_t len = strlen(name), pl = strlen(PREFIX), sl = strlen(SUFFIX);

	return len > pl + sl && strncmp(name, PREFIX, pl) == 0 && strcmp(name + len - sl, SUFFIX) == 0;
}

/* dir/name into a sockaddr_un; -1 with ENAMETOOLONG when it does not fit. */
static int make_addr(struct sockaddr_un *sa, const char *dir, const char *name)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int chat_notify_send(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int fd, woken = 0;
	static const char byte = '!';

	if (!d)
		return -1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		closedir(d);
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		struct sockaddr_un sa;

		if (!is_relay_socket(e->d_name) || make_addr(&sa, dir, e->d_name) < 0)
			continue;
		/* ECONNREFUSED (stale file), ENOENT (just removed) and EAGAIN
		 * (receiver's queue full: it has wake-ups pending anyway) are
		 * all fine to skip. */
		if (sendto(fd, &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa,
		           sizeof(sa)) == 1)
			woken++;
	}
	close(fd);
	closedir(d);
	return woken;
}

/* mkdir -p with mode for the directories it creates. */
static int make_dirs(const char *dir, mode_t mode)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int n = snprintf(path, sizeof(path), "%s", dir);

	if (n < 0 || (size_t)n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = path + 1;; p++) {
		bool end = *p == '\0';

		if (*p != '/' && !end)
			continue;
		*p = '\0';
		if (mkdir(path, mode) < 0 && errno != EEXIST)
			return -1;
		if (end)
			break;
		*p = '/';
	}
	return 0;
}

static bool valid_name(const char *name)
{
	if (!name || !*name)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '_' || *p == '.'))
			return false;
	return true;
}

/* An existing file at the path: a socket nobody listens on is stale and
 * removed; a live one belongs to another relay (EADDRINUSE); anything else
 * is not ours to delete (EEXIST). */
static int clear_stale(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, rc;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (rc == 0) {
		errno = EADDRINUSE;
		return -1;
	}
	if (errno != ECONNREFUSED)
		return -1;
	return unlink(sa->sun_path) < 0 && errno != ENOENT ? -1 : 0;
}

int chat_notify_listen(const char *dir, const char *name, char *path_out, size_t path_sz)
{
	struct sockaddr_un sa;
	char file[128];
	int fd = -1, saved, n;

	if (!valid_name(name) || strlen(name) > sizeof(file) - sizeof(PREFIX SUFFIX)) {
		errno = EINVAL;
		return -1;
	}
	n = snprintf(file, sizeof(file), PREFIX "%s" SUFFIX, name);
	if (n < 0 || (size_t)n >= sizeof(file) || make_addr(&sa, dir, file) < 0)
		return -1;
	if (path_out && strlen(sa.sun_path) >= path_sz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (make_dirs(dir, 0755) < 0 || clear_stale(&sa) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	/* Writers may run as another user (the web server's); a wake-up
	 * carries no data, so letting any local user send one is harmless. */
	if (chmod(sa.sun_path, 0666) < 0) {
		unlink(sa.sun_path);
		goto fail;
	}
	if (path_out)
		snprintf(path_out, path_sz, "%s", sa.sun_path);
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int chat_notify_drain(int fd)
{
	char buf[64];
	int count = 0;

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n >= 0) {
			count++;
			continue;
		}
		if (errno == EINTR)
			continue;
		break; /* EAGAIN: empty */
	}
	return count;
}
