/* Is the database reachable? What the worker threads last saw, for
 * /healthz and for refusing new connections at once while it is down, and
 * a log line every few seconds while it stays down. Any thread. */
#include "config.h"

#include <stdatomic.h>

#include "chat_log.h"
#include "chat_time.h"
#include "jobs.h"

static atomic_bool db_up;
static atomic_bool db_seen_down; /* a call failed since the last success */
static atomic_llong last_unavail_log;

bool relay_db_up(void)
{
	return atomic_load(&db_up);
}

bool relay_db_down(void)
{
	return atomic_load(&db_seen_down);
}

void relay_db_set_up(bool up)
{
	atomic_store(&db_up, up);
	atomic_store(&db_seen_down, !up);
}

/* Note the outcome of a DB call: keeps /healthz honest and says every few
 * seconds that the database is unreachable. */
void relay_db_note(chat_err e, chat_db *db, const char *what)
{
	if (e == CHAT_ERR_UNAVAILABLE && chat_db_last_was_conflict(db)) {
		/* Other writers won every retry (deadlock or lock wait):
		 * the server answers, so /healthz stays up; the write is refused
		 * with "try again" and said here at most every few seconds. */
		static atomic_llong last_conflict;
		int64_t now = chat_time_mono_ms();
		if (now - atomic_load(&last_conflict) >= 5000) {
			atomic_store(&last_conflict, now);
			chat_log_warn("database write conflict after retries (%s: %s); refused as try-again",
			              what, chat_db_error(db));
		}
	} else if (e == CHAT_ERR_UNAVAILABLE) {
		bool was = atomic_exchange(&db_up, false);
		atomic_store(&db_seen_down, true);
		int64_t now = chat_time_mono_ms();
		long long last = atomic_load(&last_unavail_log);
		if (was || now - last >= 5000) {
			atomic_store(&last_unavail_log, now);
			chat_log_warn("database unavailable (%s: %s); retrying", what,
			              db ? chat_db_error(db) : "no connection");
		}
	} else if (e == CHAT_OK || e == CHAT_ERR_NOT_FOUND || e == CHAT_ERR_DUPLICATE) {
		atomic_store(&db_seen_down, false);
		if (!atomic_exchange(&db_up, true))
			chat_log_info("database reachable");
	} else if (e == CHAT_ERR_INTERNAL || e == CHAT_ERR_NOMEM) {
		/* schema mismatch, bug, OOM: say it, at most every few seconds */
		static atomic_llong last_internal;
		int64_t now = chat_time_mono_ms();
		if (now - atomic_load(&last_internal) >= 5000) {
			atomic_store(&last_internal, now);
			chat_log_error("database call failed (%s: %s: %s)", what, chat_err_str(e),
			               db ? chat_db_error(db) : "");
		}
	}
}

