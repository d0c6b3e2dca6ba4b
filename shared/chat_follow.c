/* One read of the chat_events follower (see chat_follow.h). */
#include <stdlib.h>
#include <string.h>

#include "chat_follow.h"

#define MAX_REREAD 512 /* missing ids and gaps asked for again per read */
#define IDS_PER_QUERY 64

/* Ids to ask for again after read 1: every id still missing and every gap
 * inside rows (ids above max_seen the read skipped), ascending, at most
 * max. */
static size_t wanted_ids(chat_outbox *o, const chat_event_row *rows, size_t n, int64_t *ids,
                         size_t max)
{
	size_t k = chat_outbox_missing(o, ids, max);
	int64_t prev = chat_outbox_max_seen(o);
	for (size_t i = 0; i < n && k < max; i++) {
		if (rows[i].ev.id <= prev)
			continue;
		for (int64_t id = prev + 1; id < rows[i].ev.id && k < max; id++)
			ids[k++] = id;
		prev = rows[i].ev.id;
	}
	return k;
}

/* Read 2: the rows of ids, appended to *more. */
static chat_err reread(chat_db *db, const int64_t *ids, size_t k, chat_event_row **more,
                       size_t *nm)
{
	for (size_t off = 0; off < k; off += IDS_PER_QUERY) {
		size_t c = k - off < IDS_PER_QUERY ? k - off : IDS_PER_QUERY;
		chat_event_row *part = NULL;
		size_t np = 0;
		chat_err e = chat_dal_events_by_ids(db, ids + off, c, &part, &np);
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
	int64_t ids[MAX_REREAD];

	*full = false;
	chat_err e = chat_dal_events_after(db, chat_outbox_max_seen(o), limit, &rows, &n);
	if (e != CHAT_OK)
		return e;
	size_t k = wanted_ids(o, rows, n, ids, MAX_REREAD);
	e = reread(db, ids, k, &more, &nm);
	if (e != CHAT_OK)
		goto out;
	*full = limit > 0 && n == (size_t)limit;
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
