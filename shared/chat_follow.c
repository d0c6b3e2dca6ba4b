/* One read of the chat_events follower (see chat_follow.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat_follow.h"

#define WATCH_RANGES CHAT_RANGES_PER_QUERY /* late buckets read per read (one query) */
#define SPAN_QUERIES 4
#define MAX_SPANS (SPAN_QUERIES * CHAT_SPANS_PER_QUERY)

/* ---- the database as a source ------------------------------------------ */

static chat_err db_after(void *ctx, int64_t after_id, int limit, chat_event_row **out, size_t *n)
{
	return chat_dal_events_after(ctx, after_id, limit, out, n);
}

static chat_err db_in_ranges(void *ctx, const chat_id_range *r, size_t nr, chat_event_row **out,
                             size_t *n)
{
	return chat_dal_events_in_ranges(ctx, r, nr, out, n);
}

static chat_err db_room_spans(void *ctx, const chat_room_span *s, size_t ns, chat_event_row **out,
                              size_t *n)
{
	return chat_dal_events_room_spans(ctx, s, ns, out, n);
}

static chat_err db_bucket_counts(void *ctx, int64_t lo, int64_t width, int64_t hi,
                                 int64_t *counts)
{
	return chat_dal_events_bucket_counts(ctx, lo, width, hi, counts);
}

chat_follow_source chat_follow_db_source(chat_db *db)
{
	return (chat_follow_source){ db, db_after, db_in_ranges, db_room_spans, db_bucket_counts, 0 };
}

/* ---- rows gathered by one read ------------------------------------------ */

typedef struct rowbuf {
	chat_event_row *v;
	size_t n;
} rowbuf;

/* Move part's rows to the end of b (part's array is freed). */
static chat_err take(rowbuf *b, chat_event_row *part, size_t np)
{
	if (!np) {
		free(part);
		return CHAT_OK;
	}
	chat_event_row *grown = realloc(b->v, (b->n + np) * sizeof(*grown));
	if (!grown) {
		chat_event_rows_free(part, np);
		return CHAT_ERR_NOMEM;
	}
	b->v = grown;
	memcpy(b->v + b->n, part, np * sizeof(*part));
	b->n += np;
	free(part);
	return CHAT_OK;
}

/* 2, on [lo, hi]: count the events in buckets; note the missing part of
 * each bucket that holds more than the outbox has seen there, up to
 * WATCH_RANGES in all; the top of a further one raises *unsafe_hi. */
static chat_err count_part(const chat_follow_source *src, chat_outbox *o, int64_t lo, int64_t hi,
                           chat_id_range *rg, size_t *k, int64_t *unsafe_hi)
{
	int64_t width = (hi - lo) / CHAT_BUCKETS + 1;
	int64_t counts[CHAT_BUCKETS];
	chat_err e = src->bucket_counts(src->ctx, lo, width, hi, counts);
	if (e != CHAT_OK)
		return e;
	for (int64_t b = 0; b < CHAT_BUCKETS; b++) {
		int64_t blo = lo + b * width;
		if (blo > hi)
			break;
		int64_t bhi = blo + width - 1 < hi ? blo + width - 1 : hi;
		int64_t first = 0, last = 0;
		uint64_t miss = chat_outbox_missing_in(o, blo, bhi, &first, &last);
		if (!miss || (uint64_t)counts[b] <= (uint64_t)(bhi - blo + 1) - miss)
			continue;
		if (*k == WATCH_RANGES) {
			if (bhi > *unsafe_hi)
				*unsafe_hi = bhi;
			continue;
		}
		rg[(*k)++] = (chat_id_range){ first, last };
	}
	return CHAT_OK;
}

/* 2: the watch of the missing window, lowest to highest missing id. A
 * window wider than watch_ids is counted in two parts per read: its top
 * watch_ids (where rooms still active have their marks), and one slice of
 * the rest, in turn (the outbox keeps the place). *unsafe_hi: the top of
 * what this read did not cover (a late bucket left unread, or the rest of
 * a wide window): events of any room may hide there. */
static chat_err watch(const chat_follow_source *src, chat_outbox *o, rowbuf *more,
                      int64_t *unsafe_hi)
{
	int64_t lo, hi;
	*unsafe_hi = 0;
	if (!chat_outbox_window(o, &lo, &hi))
		return CHAT_OK;
	int64_t w = src->watch_ids > 0 ? src->watch_ids : CHAT_FOLLOW_WATCH_IDS;
	chat_id_range rg[WATCH_RANGES];
	size_t k = 0;
	chat_err e;
	if (hi - lo < w) {
		e = count_part(src, o, lo, hi, rg, &k, unsafe_hi);
	} else {
		int64_t cold_hi = hi - w; /* [lo, cold_hi]: in slices, in turn */
		int64_t c = chat_outbox_watch_cursor(o);
		if (c < lo || c > cold_hi)
			c = lo;
		int64_t c_hi = c + w - 1 < cold_hi ? c + w - 1 : cold_hi;
		e = count_part(src, o, cold_hi + 1, hi, rg, &k, unsafe_hi);
		if (e == CHAT_OK)
			e = count_part(src, o, c, c_hi, rg, &k, unsafe_hi);
		if (e == CHAT_OK) {
			chat_outbox_set_watch_cursor(o, c_hi + 1);
			if (c > lo || c_hi < cold_hi)
				*unsafe_hi = *unsafe_hi > cold_hi ? *unsafe_hi : cold_hi;
		}
	}
	if (e != CHAT_OK || !k)
		return e;
	chat_event_row *part = NULL;
	size_t np = 0;
	e = src->in_ranges(src->ctx, rg, k, &part, &np);
	if (e != CHAT_OK)
		return e;
	return take(more, part, np);
}

/* 3: the rooms to catch up, as spans. */
typedef struct spans {
	chat_room_span s[MAX_SPANS];
	size_t n;
} spans;

/* The room's events after its mark up to upto may be unseen: give it a
 * span (or widen its span). false: it needs one and none is left. */
static bool want_room(spans *sp, chat_outbox *o, int64_t room_id, int64_t upto)
{
	int64_t after = chat_outbox_after(o, room_id);
	if (after >= upto)
		return true;
	for (size_t i = 0; i < sp->n; i++)
		if (sp->s[i].room_id == room_id) {
			if (sp->s[i].upto < upto)
				sp->s[i].upto = upto;
			return true;
		}
	if (sp->n == MAX_SPANS)
		return false;
	sp->s[sp->n++] = (chat_room_span){ room_id, after, upto };
	return true;
}

static chat_err catch_up(const chat_follow_source *src, const spans *sp, rowbuf *more)
{
	for (size_t off = 0; off < sp->n; off += CHAT_SPANS_PER_QUERY) {
		size_t c = sp->n - off < CHAT_SPANS_PER_QUERY ? sp->n - off : CHAT_SPANS_PER_QUERY;
		chat_event_row *part = NULL;
		size_t np = 0;
		chat_err e = src->room_spans(src->ctx, sp->s + off, c, &part, &np);
		if (e != CHAT_OK)
			return e;
		e = take(more, part, np);
		if (e != CHAT_OK)
			return e;
	}
	return CHAT_OK;
}

typedef struct pick {
	const chat_event_row *row;
	bool reread;
} pick;

static int cmp_pick(const void *a, const void *b)
{
	int64_t x = ((const pick *)a)->row->ev.id, y = ((const pick *)b)->row->ev.id;
	return (x > y) - (x < y);
}

chat_err chat_follow_read_from(const chat_follow_source *src, chat_outbox *o, int limit,
                               int64_t now_ms, chat_follow_fn fn, void *arg, bool *full)
{
	chat_event_row *rows = NULL;
	size_t n = 0;
	rowbuf more = { NULL, 0 };
	chat_event *evs = NULL;
	bool *dl = NULL, *keep = NULL;
	pick *all = NULL;
	spans *sp = NULL;
	int64_t max_seen = chat_outbox_max_seen(o);

	*full = false;
	chat_err e = src->after(src->ctx, max_seen, limit, &rows, &n);
	if (e != CHAT_OK)
		return e;
	int64_t unsafe_hi = 0;
	e = watch(src, o, &more, &unsafe_hi);
	if (e != CHAT_OK)
		goto out;
	/* more late buckets than one read takes: go round again at once */
	*full = (limit > 0 && n == (size_t)limit) || unsafe_hi != 0;

	/* Which rooms to catch up, and how far. A room of read 1: up to the
	 * highest passed-over id or unread late bucket (the counts came after
	 * read 1, so every older event of the room is either seen, fetched by
	 * 2, or there). A room of 2: up to the old max_seen (an older event of
	 * it may have committed between the counts and the fetch). A watched
	 * row whose room gets no span is left (its id stays missing, the next
	 * read finds it again); rows of read 1 are kept up to the first whose
	 * room gets none (read 1 resumes there). */
	e = CHAT_ERR_NOMEM;
	sp = malloc(sizeof(*sp));
	keep = malloc((more.n ? more.n : 1) * sizeof(*keep));
	if (!sp || !keep)
		goto out;
	sp->n = 0;
	int64_t bound = chat_outbox_passed_hi(o) > unsafe_hi ? chat_outbox_passed_hi(o) : unsafe_hi;
	if (bound > max_seen)
		bound = max_seen;
	size_t kept_more = 0;
	for (size_t i = 0; i < more.n; i++) {
		keep[i] = want_room(sp, o, more.v[i].ev.room_id, max_seen);
		kept_more += keep[i];
	}
	size_t kept = 0;
	while (kept < n && want_room(sp, o, rows[kept].ev.room_id, bound))
		kept++;
	if (kept < n || kept_more < more.n)
		*full = true; /* left for the next read: go round again at once */
	for (size_t i = kept; i < n; i++)
		chat_message_clear(&rows[i].message);
	n = kept;
	size_t watched = more.n;
	e = catch_up(src, sp, &more);
	if (e != CHAT_OK)
		goto out;

	size_t total = n + more.n;
	if (!total)
		goto out;
	e = CHAT_ERR_NOMEM;
	evs = malloc(total * sizeof(*evs));
	dl = calloc(total, sizeof(*dl));
	all = malloc(total * sizeof(*all));
	if (!evs || !dl || !all)
		goto out;
	e = CHAT_OK;
	size_t t = 0;
	for (size_t i = 0; i < n; i++)
		all[t++] = (pick){ &rows[i], false };
	for (size_t i = 0; i < more.n; i++)
		if (i >= watched || keep[i])
			all[t++] = (pick){ &more.v[i], true };
	for (size_t i = 0; i < t; i++)
		evs[i] = all[i].row->ev;
	chat_outbox_feed(o, evs, t, now_ms, dl);
	size_t d = 0;
	for (size_t i = 0; i < t; i++)
		if (dl[i])
			all[d++] = all[i];
	qsort(all, d, sizeof(*all), cmp_pick);
	for (size_t i = 0; i < d; i++)
		fn(arg, all[i].row, all[i].reread);
out:
	free(evs);
	free(dl);
	free(all);
	free(keep);
	free(sp);
	chat_event_rows_free(rows, n);
	chat_event_rows_free(more.v, more.n);
	return e;
}

chat_err chat_follow_read(chat_db *db, chat_outbox *o, int limit, int64_t now_ms,
                          chat_follow_fn fn, void *arg, bool *full)
{
	chat_follow_source src = chat_follow_db_source(db);
	return chat_follow_read_from(&src, o, limit, now_ms, fn, arg, full);
}
