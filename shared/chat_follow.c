/* One read of the chat_events follower (see chat_follow.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat_follow.h"

#define MAX_RANGES 64 /* id ranges asked for again per read (8 queries) */

/* What read 2 asks for again: every id still missing and every gap inside
 * rows (ids above max_seen that read 1 skipped), ascending, as ranges of
 * consecutive ids (a batch's ids come in runs), at most max ranges.
 * Returns the count; *cutoff is the lowest wanted id that did not fit
 * (INT64_MAX if all did). */
static size_t wanted_ranges(chat_outbox *o, const chat_event_row *rows, size_t n,
                            chat_id_range *rg, size_t max, int64_t *cutoff)
{
	size_t k = 0;
	*cutoff = INT64_MAX;
	int64_t miss[256];
	size_t got, off = 0;
	/* the missing ids, in slices (the outbox copies them out) */
	do {
		got = chat_outbox_missing_from(o, off, miss, 256);
		for (size_t i = 0; i < got; i++) {
			if (k && rg[k - 1].last + 1 == miss[i]) {
				rg[k - 1].last = miss[i];
				continue;
			}
			if (k == max) {
				*cutoff = miss[i];
				return k;
			}
			rg[k++] = (chat_id_range){ miss[i], miss[i] };
		}
		off += got;
	} while (got == 256);
	int64_t prev = chat_outbox_max_seen(o);
	for (size_t i = 0; i < n; i++) {
		if (rows[i].ev.id <= prev)
			continue;
		if (rows[i].ev.id > prev + 1) {
			if (k && rg[k - 1].last + 1 == prev + 1) {
				rg[k - 1].last = rows[i].ev.id - 1;
			} else if (k == max) {
				*cutoff = prev + 1;
				return k;
			} else {
				rg[k++] = (chat_id_range){ prev + 1, rows[i].ev.id - 1 };
			}
		}
		prev = rows[i].ev.id;
	}
	return k;
}

/* Read 2: the rows in the ranges, appended to *more. Several queries when
 * there are many ranges, the HIGHEST ranges first: a transaction that
 * commits between two of them is then seen in its lower ids only (the
 * rest stay missing, delivered later, still in order). Lowest first, the
 * later query would see its higher ids without the lower ones an earlier
 * query missed, and delivering those would move the room's mark past the
 * lower ones, which would then be skipped (seen under load). */
static chat_err reread(chat_db *db, const chat_id_range *rg, size_t k, chat_event_row **more,
                       size_t *nm)
{
	size_t end = k;
	while (end > 0) {
		size_t c = end < CHAT_RANGES_PER_QUERY ? end : CHAT_RANGES_PER_QUERY;
		size_t off = end - c;
		end = off;
		chat_event_row *part = NULL;
		size_t np = 0;
		chat_err e = chat_dal_events_in_ranges(db, rg + off, c, &part, &np);
		if (e != CHAT_OK)
			return e;
		if (np) {
			chat_event_row *grown = realloc(*more, (*nm + np) * sizeof(**more));
			if (!grown) {
				chat_event_rows_free(part, np);
				return CHAT_ERR_NOMEM;
			}
			*more = grown;
			memcpy(*more + *nm, part, np * sizeof(*part));
			*nm += np;
		}
		free(part); /* the rows moved into *more: free the array only */
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

chat_err chat_follow_read(chat_db *db, chat_outbox *o, int limit, int64_t now_ms,
                          chat_follow_fn fn, void *arg, bool *full)
{
	chat_event_row *rows = NULL, *more = NULL;
	size_t n = 0, nm = 0;
	chat_event *evs = NULL;
	bool *dl = NULL;
	pick *all = NULL;
	chat_id_range rg[MAX_RANGES];
	int64_t cutoff;

	*full = false;
	chat_err e = chat_dal_events_after(db, chat_outbox_max_seen(o), limit, &rows, &n);
	if (e != CHAT_OK)
		return e;
	size_t k = wanted_ranges(o, rows, n, rg, MAX_RANGES, &cutoff);
	e = reread(db, rg, k, &more, &nm);
	if (e != CHAT_OK)
		goto out;
	*full = limit > 0 && n == (size_t)limit;
	/* Not every wanted id fitted in read 2: feed nothing of read 1 at or
	 * above the first that did not. An event fed now would move its
	 * room's mark past an older event of that room not asked for, which
	 * would then be skipped. The rows held back are read again next time
	 * (max_seen stays below them). */
	size_t kept = n;
	while (kept > 0 && rows[kept - 1].ev.id >= cutoff)
		kept--;
	if (kept < n) {
		*full = *full || nm > 0; /* progress: go round again at once */
		for (size_t i = kept; i < n; i++)
			chat_message_clear(&rows[i].message);
		n = kept;
	}
	size_t total = n + nm;
	if (!total)
		goto out;
	evs = malloc(total * sizeof(*evs));
	dl = calloc(total, sizeof(*dl));
	all = malloc(total * sizeof(*all));
	e = CHAT_ERR_NOMEM;
	if (!evs || !dl || !all)
		goto out;
	e = CHAT_OK;
	for (size_t i = 0; i < n; i++)
		all[i] = (pick){ &rows[i], false };
	for (size_t i = 0; i < nm; i++)
		all[n + i] = (pick){ &more[i], true };
	for (size_t i = 0; i < total; i++)
		evs[i] = all[i].row->ev;
	chat_outbox_feed(o, evs, total, now_ms, dl);
	size_t d = 0;
	for (size_t i = 0; i < total; i++)
		if (dl[i])
			all[d++] = all[i];
	qsort(all, d, sizeof(*all), cmp_pick);
	for (size_t i = 0; i < d; i++)
		fn(arg, all[i].row, all[i].reread);
out:
	free(evs);
	free(dl);
	free(all);
	chat_event_rows_free(rows, n);
	chat_event_rows_free(more, nm);
	return e;
}
