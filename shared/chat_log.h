/* One levelled logger for both programs. Messages go to stderr (or a file)
 * or to syslog. The level is tested before formatting. Secrets never reach
 * the log: callers pass URLs through chat_log_scrub_url() first. */
#ifndef CHAT_LOG_H
#define CHAT_LOG_H

#include <stddef.h>

typedef enum chat_log_level {
	CHAT_LOG_ERROR = 0,
	CHAT_LOG_WARNING,
	CHAT_LOG_INFO,
	CHAT_LOG_DEBUG,
} chat_log_level;

/* Set up the logger: ident (program name), level name ("info"), target
 * ("stderr" or "syslog"), file ("" or NULL = stderr). Returns -1 on a bad
 * level/target name or a file that cannot be opened. Safe to call again
 * (SIGHUP: reopen the file). */
int chat_log_open(const char *ident, const char *level, const char *target, const char *file);

/* Reopen the log file (after logrotate). Safe from the main loop only. */
void chat_log_reopen(void);

void chat_log_close(void);

/* Is this level enabled? Cheap. */
int chat_log_enabled(chat_log_level level);

void chat_log(chat_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, with ": strerror(errno)" appended. */
void chat_log_errno(chat_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define chat_log_error(...) chat_log(CHAT_LOG_ERROR, __VA_ARGS__)
#define chat_log_warn(...) chat_log(CHAT_LOG_WARNING, __VA_ARGS__)
#define chat_log_info(...) chat_log(CHAT_LOG_INFO, __VA_ARGS__)
#define chat_log_debug(...) \
	do { if (chat_log_enabled(CHAT_LOG_DEBUG)) chat_log(CHAT_LOG_DEBUG, __VA_ARGS__); } while (0)

/* Copy url into out (size outsz, always NUL-terminated, truncated if need
 * be) with the values of secret query parameters (token, access, refresh,
 * password, secret) replaced by "***". Returns out. */
char *chat_log_scrub_url(const char *url, char *out, size_t outsz);

#endif
