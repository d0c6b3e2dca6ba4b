/* One read of the chat_events follower, done the only safe way, for every
 * reader (the relay's follower thread, tests, tools):
 *   1. read the events after the outbox's max_seen (at most limit);
 *   2. THEN, in a second query, re-read every id still missing and every
 *      gap of that read (as runs of ids, at most 64 runs; read 1 is cut
 *      below the first id that did not fit, and read again next time;
 *      several queries go from the highest ids down);
 *   3. feed both results to the outbox in ONE call and hand the events to
 *      deliver to fn in ascending id order.
 * Why: when read 1 shows an event of a room, every older event of that room
 * committed before it (the room lock), so read 2 sees those older ones even
 * if they were missing until now, and the outbox gets them before it moves
 * the room's mark past them. Fed separately, a late event would be skipped.
 * If read 2 fails, nothing is fed: the next call reads the same again. */
#ifndef CHAT_FOLLOW_H
#define CHAT_FOLLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "chat_dal.h"
#include "chat_outbox.h"

/* Called for each event to deliver; reread is true when the row came from
 * the second query (an id that had been missing, or a gap). The row is
 * freed after the call. */
typedef void (*chat_follow_fn)(void *arg, const chat_event_row *row, bool reread);

/* Returns CHAT_OK or the error of either query (then nothing was fed).
 * *full is set when read 1 returned limit rows (more may be waiting). */
chat_err chat_follow_read(chat_db *db, chat_outbox *o, int limit, int64_t now_ms,
                          chat_follow_fn fn, void *arg, bool *full);

#endif
