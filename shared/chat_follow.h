/* One read of the chat_events follower, done the only safe way, for every
 * reader (the relay's follower thread, tests, tools).
 *
 * The facts it relies on: every writer takes its room's lock before its
 * event ids are allocated and holds it until commit, so within one room
 * ids commit in ascending order; across rooms they commit in any order,
 * and many ids never commit at all (auto_increment_increment > 1, as
 * Galera sets, leaves strides of ids no one allocates; a rollback leaves
 * its ids unused). A missing id cannot be told from a slow one, so the
 * design must not depend on how many there are.
 *
 * Each read:
 *   1. new: the events after max_seen (at most limit), one query;
 *   2. watch: if ids are missing, one query counts the events in 1024
 *      buckets of the missing window (lowest to highest missing id); a
 *      bucket holding more events than the outbox has seen there holds a
 *      late commit, and up to 8 such buckets (their missing part) are read
 *      in one more query. A window wider than CHAT_FOLLOW_WATCH_IDS ids
 *      (a stride at thousands of events a second) costs two counts: its
 *      top part, and one slice of the rest in turn, so no read scans more
 *      than twice that many ids; the rest counts as not covered (3);
 *   3. catch up: a room of 1 whose mark is below the highest id ever
 *      passed over (or below a late bucket left unread), and a room of 2,
 *      may have older events never seen: its events after its mark (up to
 *      that bound for a room of 1, up to the old max_seen for a room of
 *      2), 16 rooms per query, at most 4 queries (rows of 1 from the 65th
 *      such room on are left for the next read, which follows at once);
 *   4. feed everything to the outbox in ONE call and hand the events to
 *      deliver to fn in ascending id order.
 * Why this keeps each room in order: when 1 or 2 shows an event of a
 * room, every older event of that room committed before it. 2 runs after
 * 1, so a bucket that counted nothing new hides nothing older than a row
 * of 1, and 3 reads the rest (what was passed over, unread buckets, and
 * for a row of 2 whatever committed between the count and the fetch).
 * All of it is fed together, so a room's mark never moves past an event
 * that will still appear, however many ids are missing and however long
 * ago they were passed over. The gap timeout only bounds how long 2
 * watches for a late commit that nothing newer in its room reveals.
 * Queries per read: at most 1 + 3 + 4, whatever the stride, offset or
 * rollbacks; delivery never waits for a gap.
 * If any query fails, nothing is fed: the next read does the same again. */
#ifndef CHAT_FOLLOW_H
#define CHAT_FOLLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "chat_dal.h"
#include "chat_outbox.h"

/* Where the events come from: the database (chat_follow_db_source), or a
 * model in tests. Each returns rows as the chat_dal_events_* functions of
 * the same names do. */
typedef struct chat_follow_source {
	void *ctx;
	chat_err (*after)(void *ctx, int64_t after_id, int limit, chat_event_row **out, size_t *n);
	chat_err (*in_ranges)(void *ctx, const chat_id_range *r, size_t n_ranges,
	                      chat_event_row **out, size_t *n);
	chat_err (*room_spans)(void *ctx, const chat_room_span *s, size_t n_spans,
	                       chat_event_row **out, size_t *n);
	chat_err (*bucket_counts)(void *ctx, int64_t lo, int64_t width, int64_t hi,
	                          int64_t *counts);
	int64_t watch_ids; /* ids one count covers at most (0: CHAT_FOLLOW_WATCH_IDS) */
} chat_follow_source;

/* A wider missing window is counted in two parts per read (see 2). */
#define CHAT_FOLLOW_WATCH_IDS 131072

chat_follow_source chat_follow_db_source(chat_db *db);

/* Called for each event to deliver; reread is true when the row came from
 * 2 or 3 (an id that had been missing). The row is freed after the call. */
typedef void (*chat_follow_fn)(void *arg, const chat_event_row *row, bool reread);

/* Returns CHAT_OK or the error of a query (then nothing was fed).
 * *full is set when more may be waiting (read 1 returned limit rows, or
 * rows were left for the next read). */
chat_err chat_follow_read_from(const chat_follow_source *src, chat_outbox *o, int limit,
                               int64_t now_ms, chat_follow_fn fn, void *arg, bool *full);
chat_err chat_follow_read(chat_db *db, chat_outbox *o, int limit, int64_t now_ms,
                          chat_follow_fn fn, void *arg, bool *full);

#endif
