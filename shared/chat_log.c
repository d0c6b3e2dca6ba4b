/* The logger. Each line is formatted into one buffer and written with a
 * single write(), so lines from several threads never interleave. The file
 * is reopened by dup2() onto the same descriptor, which other threads may
 * be writing to at that moment without harm. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "chat_log.h"

#define LINE_MAX_BYTES 4096

static const char *const level_names[] = { "error", "warning", "info", "debug" };
static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

static atomic_int cur_level = CHAT_LOG_INFO;
static atomic_bool use_syslog;
static int log_fd = STDERR_FILENO; /* stderr, or the file dup2'd over its own fd */
static bool log_fd_owned;
static char log_ident[64] = "chat";
static char log_path[4096];

static int parse_level(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

static int open_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int chat_log_open(const char *ident, const char *level, const char *target, const char *file)
{
	int lvl = parse_level(level ? level : "info");
	bool sys;

	if (lvl < 0)
		return -1;
	if (!target || strcmp(target, "stderr") == 0)
		sys = false;
	else if (strcmp(target, "syslog") == 0)
		sys = true;
	else
		return -1;
	if (ident)
		snprintf(log_ident, sizeof(log_ident), "%s", ident);

	if (!sys && file && *file) {
		int fd;

		if (strlen(file) >= sizeof(log_path))
			return -1;
		fd = open_file(file);
		if (fd < 0)
			return -1;
		snprintf(log_path, sizeof(log_path), "%s", file);
		if (log_fd_owned) {
			dup2(fd, log_fd);
			close(fd);
		} else {
			log_fd = fd;
			log_fd_owned = true;
		}
	} else {
		log_path[0] = '\0';
		/* Point an owned descriptor back at stderr rather than close it
		 * under a thread that may be writing. */
		if (log_fd_owned)
			dup2(STDERR_FILENO, log_fd);
	}
	if (sys)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	atomic_store(&use_syslog, sys);
	atomic_store(&cur_level, lvl);
	return 0;
}

void chat_log_reopen(void)
{
	int fd;

	if (!log_fd_owned || !log_path[0])
		return;
	fd = open_file(log_path);
	if (fd < 0) {
		chat_log_errno(CHAT_LOG_ERROR, "cannot reopen log file %s", log_path);
		return;
	}
	dup2(fd, log_fd);
	close(fd);
}

void chat_log_close(void)
{
	if (atomic_load(&use_syslog))
		closelog();
	atomic_store(&use_syslog, false);
	if (log_fd_owned) {
		close(log_fd);
		log_fd = STDERR_FILENO;
		log_fd_owned = false;
	}
	log_path[0] = '\0';
}

int chat_log_enabled(chat_log_level level)
{
	return (int)level <= atomic_load(&cur_level);
}

/* Control characters from untrusted text must not forge log lines. */
static void defang(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			*s = ' ';
}

static void emit(chat_log_level level, const char *msg)
{
	char line[LINE_MAX_BYTES + 256];
	struct timeval tv;
	struct tm tm;
	int n;

	if (atomic_load(&use_syslog)) {
		syslog(syslog_prio[level], "%s", msg);
		return;
	}
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%ld]: %s: %s\n",
	             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	             tm.tm_sec, (long)(tv.tv_usec / 1000), log_ident, (long)getpid(),
	             level_names[level], msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* A log line that cannot be written has nowhere else to go. */
	if (write(log_fd, line, (size_t)n) < 0)
		return;
}

static void vlog(chat_log_level level, int errnum, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void vlog(chat_log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[LINE_MAX_BYTES];
	int n;

	if (!chat_log_enabled(level))
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (errnum) {
		size_t len = strlen(msg);
		char ebuf[128];

		snprintf(msg + len, sizeof(msg) - len, ": %s",
		         strerror_r(errnum, ebuf, sizeof(ebuf)));
	}
	defang(msg);
	emit(level, msg);
}

void chat_log(chat_log_level level, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vlog(level, 0, fmt, ap);
	va_end(ap);
	errno = saved;
}

void chat_log_errno(chat_log_level level, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vlog(level, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}

/* Bounded appender: never overflows, remembers nothing but where it is. */
struct sbuf {
	char *out;
	size_t cap, len;
};

static void put(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + 1 >= b->cap)
		return;
	if (n > b->cap - 1 - b->len)
		n = b->cap - 1 - b->len;
	memcpy(b->out + b->len, s, n);
	b->len += n;
	b->out[b->len] = '\0';
}

static bool is_secret_param(const char *name, size_t len)
{
	static const char *const secret[] = {
		"token", "access", "refresh", "password", "secret", "access_token", "refresh_token",
	};

	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
		if (strlen(secret[i]) == len && strncasecmp(name, secret[i], len) == 0)
			return true;
	return false;
}

char *chat_log_scrub_url(const char *url, char *out, size_t outsz)
{
	struct sbuf b = { out, outsz, 0 };
	const char *q, *end;

	if (!out || outsz == 0)
		return out;
	out[0] = '\0';
	if (!url)
		return out;
	q = url + strcspn(url, "?#");
	if (*q != '?') { /* no query, or a '?' inside the fragment */
		put(&b, url, strlen(url));
		return out;
	}
	put(&b, url, (size_t)(q - url) + 1);
	end = q + 1 + strcspn(q + 1, "#");
	for (const char *p = q + 1; p < end;) {
		size_t plen = strcspn(p, "&;#");
		const char *eq = memchr(p, '=', plen);

		if (p + plen > end)
			plen = (size_t)(end - p);
		if (eq && is_secret_param(p, (size_t)(eq - p))) {
			put(&b, p, (size_t)(eq - p) + 1);
			put(&b, "***", 3);
		} else {
			put(&b, p, plen);
		}
		p += plen;
		if (p < end) {
			put(&b, p, 1); /* the separator */
			p++;
		}
	}
	put(&b, end, strlen(end)); /* "#fragment" */
	return out;
}
