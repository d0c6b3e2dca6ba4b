/* The outbox follower's bookkeeping (see chat_outbox.h). Pure: no I/O, no
 * clock of its own, so it is tested on its own.
 *
 * Delivery rule: an event is delivered iff its id is above the highest id
 * already delivered for its room. Within a room ids commit in ascending
 * order (the ordering rule), so a missing id below an event that is
 * already visible in the same room cannot appear later; gaps therefore
 * only hold back the low-water mark (what is read again), never delivery
 * of other rooms' events. The rule alone already makes delivery at most
 * once and ascending per room, whatever is fed in. */
#include <stdlib.h>
#include <string.h>

#include "chat_outbox.h"

#define DEFAULT_MAX_RANGES 65536

typedef struct miss {
	int64_t first, last; /* consecutive ids, none seen */
	int64_t since_ms;    /* when they were first noticed missing */
} miss;

typedef struct room_hw {
	int64_t room_id; /* 0 = free slot */
	int64_t hw;      /* highest id delivered */
} room_hw;

struct chat_outbox {
	int64_t start_id; /* a room with no mark has nothing to deliver at or below */
	int64_t max_seen;
	int gap_timeout_ms;
	size_t max_ranges;
	int64_t passed_hi; /* the highest id passed over */
	int64_t watch_cursor;
	miss *miss; /* ascending id, disjoint */
	size_t nmiss, capmiss;
	room_hw *rooms; /* open addressing, power-of-two size */
	size_t nrooms, caprooms;
	uint64_t passed_over;
};

chat_outbox *chat_outbox_create(int64_t start_id, int gap_timeout_ms, size_t max_ranges)
{
	chat_outbox *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->max_seen = start_id > 0 ? start_id : 0;
	o->start_id = o->max_seen;
	/* From a saved position, a room whose mark is below the start may
	 * still have events below it that commit late: as if passed over. */
	o->passed_hi = o->start_id;
	o->gap_timeout_ms = gap_timeout_ms > 0 ? gap_timeout_ms : 0;
	o->max_ranges = max_ranges ? max_ranges : DEFAULT_MAX_RANGES;
	o->caprooms = 64;
	o->rooms = calloc(o->caprooms, sizeof(*o->rooms));
	if (!o->rooms) {
		free(o);
		return NULL;
	}
	return o;
}

void chat_outbox_free(chat_outbox *o)
{
	if (!o)
		return;
	free(o->miss);
	free(o->rooms);
	free(o);
}

/* ---- per-room high-water marks ------------------------------------------ */

static size_t hash_id(int64_t id, size_t cap)
{
	uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ULL;
	return (size_t)(x >> 17) & (cap - 1);
}

static room_hw *room_slot(room_hw *tab, size_t cap, int64_t room_id)
{
	size_t i = hash_id(room_id, cap);
	while (tab[i].room_id != 0 && tab[i].room_id != room_id)
		i = (i + 1) & (cap - 1);
	return &tab[i];
}

static int grow_rooms(chat_outbox *o)
{
	size_t nc = o->caprooms * 2;
	room_hw *nt = calloc(nc, sizeof(*nt));
	if (!nt)
		return -1;
	for (size_t i = 0; i < o->caprooms; i++)
		if (o->rooms[i].room_id)
			*room_slot(nt, nc, o->rooms[i].room_id) = o->rooms[i];
	free(o->rooms);
	o->rooms = nt;
	o->caprooms = nc;
	return 0;
}

/* The room's entry, created at hw 0. NULL only on OOM. */
static room_hw *room_get(chat_outbox *o, int64_t room_id)
{
	room_hw *r = room_slot(o->rooms, o->caprooms, room_id);
	if (r->room_id)
		return r;
	if ((o->nrooms + 1) * 2 > o->caprooms) {
		if (grow_rooms(o) != 0)
			return NULL;
		r = room_slot(o->rooms, o->caprooms, room_id);
	}
	r->room_id = room_id;
	r->hw = 0;
	o->nrooms++;
	return r;
}

/* ---- missing ranges --------------------------------------------------- */

/* The first range whose last id is >= id (o->nmiss if none). */
static size_t miss_find(const chat_outbox *o, int64_t id)
{
	size_t lo = 0, hi = o->nmiss;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (o->miss[mid].last < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void pass_over(chat_outbox *o, const miss *m)
{
	o->passed_over += (uint64_t)(m->last - m->first + 1);
	if (m->last > o->passed_hi)
		o->passed_hi = m->last;
}

static int miss_reserve(chat_outbox *o, size_t extra)
{
	if (o->nmiss + extra <= o->capmiss)
		return 0;
	size_t nc = o->capmiss ? o->capmiss : 64;
	while (nc < o->nmiss + extra)
		nc *= 2;
	miss *nm = realloc(o->miss, nc * sizeof(*nm));
	if (!nm)
		return -1;
	o->miss = nm;
	o->capmiss = nc;
	return 0;
}

/* Ids (from, to) exclusive became missing at now: one range, above every
 * range already held. Beyond the cap the oldest ranges are passed over. */
static void miss_add_range(chat_outbox *o, int64_t from, int64_t to, int64_t now)
{
	if (to - from <= 1)
		return;
	miss m = { from + 1, to - 1, now };
	if (o->nmiss >= o->max_ranges) {
		/* an eighth at once: one move per many ranges, not per range */
		size_t drop = o->max_ranges / 8 ? o->max_ranges / 8 : 1;
		for (size_t i = 0; i < drop; i++)
			pass_over(o, &o->miss[i]);
		memmove(&o->miss[0], &o->miss[drop], (o->nmiss - drop) * sizeof(miss));
		o->nmiss -= drop;
	}
	if (miss_reserve(o, 1) != 0) {
		pass_over(o, &m); /* cannot track them: passed over (counted) */
		return;
	}
	o->miss[o->nmiss++] = m;
}

/* id was seen: take it out of its range (split in two if inside). */
static void miss_remove(chat_outbox *o, int64_t id)
{
	size_t i = miss_find(o, id);
	if (i == o->nmiss || o->miss[i].first > id)
		return;
	miss *m = &o->miss[i];
	if (m->first == id && m->last == id) {
		memmove(&o->miss[i], &o->miss[i + 1], (o->nmiss - i - 1) * sizeof(miss));
		o->nmiss--;
	} else if (m->first == id) {
		m->first++;
	} else if (m->last == id) {
		m->last--;
	} else if (miss_reserve(o, 1) == 0) {
		memmove(&o->miss[i + 1], &o->miss[i], (o->nmiss - i) * sizeof(miss));
		o->nmiss++;
		o->miss[i].last = id - 1;
		o->miss[i + 1].first = id + 1;
	} else {
		/* OOM: keep the upper part only; the lower one is passed over */
		miss lower = { m->first, id - 1, m->since_ms };
		pass_over(o, &lower);
		m->first = id + 1;
	}
}

/* ---- feeding ---------------------------------------------------------- */

typedef struct order_ent {
	int64_t id;
	size_t idx;
} order_ent;

static int cmp_order(const void *a, const void *b)
{
	const order_ent *x = a, *y = b;
	if (x->id != y->id)
		return (x->id > y->id) - (x->id < y->id);
	return (x->idx > y->idx) - (x->idx < y->idx);
}

void chat_outbox_feed(chat_outbox *o, const chat_event *evs, size_t n, int64_t now_ms,
                      bool *deliver)
{
	for (size_t i = 0; i < n; i++)
		deliver[i] = false;
	if (n == 0)
		return;
	/* Work in ascending id order whatever order the rows came in. */
	order_ent small[64];
	order_ent *ord = n <= 64 ? small : malloc(n * sizeof(*ord));
	bool sorted = ord != NULL;
	if (!ord)
		ord = small; /* OOM: fall back to the given order, still safe */
	for (size_t i = 0; sorted && i < n; i++)
		ord[i] = (order_ent){ evs[i].id, i };
	if (sorted)
		qsort(ord, n, sizeof(*ord), cmp_order);

	for (size_t k = 0; k < n; k++) {
		size_t i = sorted ? ord[k].idx : k;
		const chat_event *e = &evs[i];
		if (e->room_id <= 0)
			continue; /* not a row of chat_events */
		if (e->id > o->max_seen) {
			miss_add_range(o, o->max_seen, e->id, now_ms);
			o->max_seen = e->id;
		} else {
			miss_remove(o, e->id);
		}
		room_hw *r = room_get(o, e->room_id);
		if (!r)
			continue; /* OOM: never deliver without the duplicate guard */
		if (e->id > (r->hw ? r->hw : o->start_id)) {
			r->hw = e->id;
			deliver[i] = true;
		}
	}
	if (ord != small)
		free(ord);
}

void chat_outbox_expire(chat_outbox *o, int64_t now_ms)
{
	size_t w = 0;
	for (size_t i = 0; i < o->nmiss; i++) {
		if (now_ms - o->miss[i].since_ms > o->gap_timeout_ms) {
			pass_over(o, &o->miss[i]);
			continue;
		}
		o->miss[w++] = o->miss[i];
	}
	o->nmiss = w;
}

int64_t chat_outbox_max_seen(const chat_outbox *o)
{
	return o->max_seen;
}

int64_t chat_outbox_low_water(const chat_outbox *o)
{
	return o->nmiss ? o->miss[0].first - 1 : o->max_seen;
}

size_t chat_outbox_missing(const chat_outbox *o, int64_t *ids, size_t max)
{
	size_t k = 0;
	for (size_t i = 0; i < o->nmiss && k < max; i++)
		for (int64_t id = o->miss[i].first; id <= o->miss[i].last && k < max; id++)
			ids[k++] = id;
	return k;
}

size_t chat_outbox_gaps(const chat_outbox *o)
{
	return o->nmiss;
}

bool chat_outbox_window(const chat_outbox *o, int64_t *first, int64_t *last)
{
	if (!o->nmiss)
		return false;
	*first = o->miss[0].first;
	*last = o->miss[o->nmiss - 1].last;
	return true;
}

uint64_t chat_outbox_missing_in(const chat_outbox *o, int64_t lo, int64_t hi, int64_t *first,
                                int64_t *last)
{
	uint64_t n = 0;
	for (size_t i = miss_find(o, lo); i < o->nmiss && o->miss[i].first <= hi; i++) {
		int64_t a = o->miss[i].first > lo ? o->miss[i].first : lo;
		int64_t b = o->miss[i].last < hi ? o->miss[i].last : hi;
		if (!n)
			*first = a;
		*last = b;
		n += (uint64_t)(b - a + 1);
	}
	return n;
}

int64_t chat_outbox_after(chat_outbox *o, int64_t room_id)
{
	room_hw *r = room_slot(o->rooms, o->caprooms, room_id);
	return r->room_id && r->hw ? r->hw : o->start_id;
}

int64_t chat_outbox_history(const chat_outbox *o)
{
	return o->start_id;
}

void chat_outbox_set_history(chat_outbox *o, int64_t history_id)
{
	if (history_id >= 0 && history_id < o->start_id)
		o->start_id = history_id;
}

int64_t chat_outbox_passed_hi(const chat_outbox *o)
{
	return o->passed_hi;
}

int64_t chat_outbox_mark(chat_outbox *o, int64_t room_id)
{
	room_hw *r = room_slot(o->rooms, o->caprooms, room_id);
	return r->room_id ? r->hw : 0;
}

int chat_outbox_set_mark(chat_outbox *o, int64_t room_id, int64_t mark)
{
	room_hw *r = room_get(o, room_id);
	if (!r)
		return -1;
	r->hw = mark;
	return 0;
}

void chat_outbox_each_mark(const chat_outbox *o, void (*fn)(void *arg, int64_t room, int64_t mark),
                           void *arg)
{
	for (size_t i = 0; i < o->caprooms; i++)
		if (o->rooms[i].room_id)
			fn(arg, o->rooms[i].room_id, o->rooms[i].hw);
}

int64_t chat_outbox_watch_cursor(const chat_outbox *o)
{
	return o->watch_cursor;
}

void chat_outbox_set_watch_cursor(chat_outbox *o, int64_t id)
{
	o->watch_cursor = id;
}

uint64_t chat_outbox_passed_over(const chat_outbox *o)
{
	return o->passed_over;
}
