/* The outbox follower's bookkeeping (pure, no I/O): which events read from
 * chat_events are new, and which ids are still missing. Auto-increment ids
 * commit out of order across rooms, and many ids never commit at all (a
 * stride above 1, as Galera sets; rolled-back transactions), so the
 * follower keeps
 *   - max_seen: the highest id read; the next read asks for id > max_seen;
 *   - missing: the ids below max_seen not yet seen, as ranges of
 *     consecutive ids, each with the time it was first noticed; they are
 *     watched (chat_follow.c) until they appear or are older than
 *     gap_timeout_ms, then passed over;
 *   - per room, its mark: the highest id delivered. An event at or below
 *     its room's mark is never delivered (no duplicates, each room
 *     ascending), and every event seen of a room is at or below its mark.
 * Delivery never waits for a missing id: see chat_follow.h for why the
 * marks alone keep each room in order. */
#ifndef CHAT_OUTBOX_H
#define CHAT_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat_types.h"

typedef struct chat_outbox chat_outbox;

/* Start after start_id (events <= start_id are history; see below for a
 * start from a saved position). max_ranges caps
 * the missing ranges kept (the oldest are passed over beyond it; 0: a
 * default). */
chat_outbox *chat_outbox_create(int64_t start_id, int gap_timeout_ms, size_t max_ranges);
void chat_outbox_free(chat_outbox *o);

/* Feed events read from the database (any order, any mix of new reads and
 * re-reads). deliver[i] is set true for each event to deliver now; rows
 * are then to be delivered in ascending id order. */
void chat_outbox_feed(chat_outbox *o, const chat_event *evs, size_t n, int64_t now_ms,
                      bool *deliver);
/* Pass over missing ids older than the gap timeout. Call once per cycle. */
void chat_outbox_expire(chat_outbox *o, int64_t now_ms);

int64_t chat_outbox_max_seen(const chat_outbox *o);
/* Below it, every id was seen or passed over: a saved position. */
int64_t chat_outbox_low_water(const chat_outbox *o);
/* Copy up to max missing ids (ascending) into ids; returns the count. */
size_t chat_outbox_missing(const chat_outbox *o, int64_t *ids, size_t max);
/* Missing ranges held, and the lowest and highest missing id (false when
 * none is missing). */
size_t chat_outbox_gaps(const chat_outbox *o);
bool chat_outbox_window(const chat_outbox *o, int64_t *first, int64_t *last);
/* How many ids in [lo, hi] are missing; the lowest and highest of them in
 * *first, *last (untouched when none). */
uint64_t chat_outbox_missing_in(const chat_outbox *o, int64_t lo, int64_t hi, int64_t *first,
                                int64_t *last);
/* Where a room's events not yet seen could start: its mark, or the start
 * id if higher. And the highest id ever passed over (0 if none): a room
 * whose mark is below it may have events the follower never saw. */
int64_t chat_outbox_after(chat_outbox *o, int64_t room_id);
int64_t chat_outbox_passed_hi(const chat_outbox *o);

/* A saved position: the low-water mark, the history id (the start id of
 * the first outbox) and the rooms' marks. Restored with
 * chat_outbox_create(low_water), chat_outbox_set_history(history) and
 * chat_outbox_set_mark for each room: nothing seen before is delivered
 * again, and an event that commits late below the low-water mark is
 * still delivered (a room without a mark saw nothing above history). */
int64_t chat_outbox_history(const chat_outbox *o);
void chat_outbox_set_history(chat_outbox *o, int64_t history_id);
int64_t chat_outbox_mark(chat_outbox *o, int64_t room_id);
int chat_outbox_set_mark(chat_outbox *o, int64_t room_id, int64_t mark);
void chat_outbox_each_mark(const chat_outbox *o, void (*fn)(void *arg, int64_t room, int64_t mark),
                           void *arg);

/* Where the follower's watch of a wide window goes on (chat_follow.c). */
int64_t chat_outbox_watch_cursor(const chat_outbox *o);
void chat_outbox_set_watch_cursor(chat_outbox *o, int64_t id);

/* Counters for /metrics. */
uint64_t chat_outbox_passed_over(const chat_outbox *o);

#endif
