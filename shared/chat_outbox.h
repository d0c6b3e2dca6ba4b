/* The outbox follower's bookkeeping (pure, no I/O): which events read from
 * chat_events are new, and which ids are still missing. Auto-increment ids
 * commit out of order across rooms, so the follower keeps
 *   - max_seen: the highest id read; the next read asks for id > max_seen;
 *   - missing: ids below max_seen not yet seen, each with the time it was
 *     first noticed; they are asked for again (chat_dal_events_by_ids)
 *     until they appear or are older than gap_timeout_ms (a rolled-back
 *     transaction), then passed over;
 *   - per room, the highest id delivered: an event at or below it is never
 *     delivered (no duplicates, each room ascending).
 * The low-water mark is min(missing) - 1, or max_seen when none is missing. */
#ifndef CHAT_OUTBOX_H
#define CHAT_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat_types.h"

typedef struct chat_outbox chat_outbox;

/* Start after start_id (events <= start_id are history). max_missing caps
 * the missing set (the oldest are passed over beyond it). */
chat_outbox *chat_outbox_create(int64_t start_id, int gap_timeout_ms, size_t max_missing);
void chat_outbox_free(chat_outbox *o);

/* Feed events read from the database (any order, any mix of new reads and
 * re-reads of missing ids). deliver[i] is set true for each event to
 * deliver now; rows are then to be delivered in ascending id order.
 * Missing ids re-read after a read of newer events must be fed in the SAME
 * call as those newer events: fed alone afterwards, a late event would sit
 * below its room's high-water mark and be skipped. */
void chat_outbox_feed(chat_outbox *o, const chat_event *evs, size_t n, int64_t now_ms,
                      bool *deliver);
/* Pass over missing ids older than the gap timeout. Call once per cycle. */
void chat_outbox_expire(chat_outbox *o, int64_t now_ms);

int64_t chat_outbox_max_seen(const chat_outbox *o);
int64_t chat_outbox_low_water(const chat_outbox *o);
/* Copy up to max missing ids (ascending) into ids; returns the count. */
size_t chat_outbox_missing(const chat_outbox *o, int64_t *ids, size_t max);
/* The same, skipping the lowest skip of them (to read them in slices). */
size_t chat_outbox_missing_from(const chat_outbox *o, size_t skip, int64_t *ids, size_t max);
/* Counters for /metrics. */
uint64_t chat_outbox_passed_over(const chat_outbox *o);

#endif
