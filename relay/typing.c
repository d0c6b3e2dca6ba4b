/* Typing indicators of other relays' users (see relay.h). Service thread
 * only. The table is small: users typing right now in rooms with
 * connections here; it is capped, the oldest entries going first. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "relay.h"

#define TYPING_MAX 10000   /* remembered remote typers */
#define GRACE_MS 3000      /* the typer's own relay clears it first, normally */

typedef struct typer {
	int64_t room_id;
	int64_t user_id;
	uint64_t origin;
	int64_t deadline_ms;
	relay_frame *off; /* the "false" to send (one reference held) */
} typer;

static typer *tab;
static size_t n, cap;

static void drop(size_t i)
{
	relay_frame_unref(tab[i].off);
	tab[i] = tab[--n];
}

static typer *find(const relay_frame *f)
{
	for (size_t i = 0; i < n; i++)
		if (tab[i].room_id == f->room_id && tab[i].user_id == f->user_id &&
		    tab[i].origin == f->origin)
			return &tab[i];
	return NULL;
}

void relay_typing_seen(relay_frame *f)
{
	if (f->kind != CHAT_EV_TYPING)
		return;
	relay_frame *off = f->alt;
	f->alt = NULL;
	/* Our own connections' indicators expire through session.c, which
	 * writes a real "false" event; only other relays' are kept here. */
	bool local = relay_g->instance_id && (f->origin >> 24) == (uint64_t)relay_g->instance_id;
	typer *t = find(f);
	if (!off || local) { /* "false" (or ours): forget it */
		if (t)
			drop((size_t)(t - tab));
		relay_frame_discard(off);
		return;
	}
	if (!relay_rooms_find(f->room_id)) { /* nobody here to tell */
		relay_frame_discard(off);
		return;
	}
	int64_t deadline = relay_now_ms() + 1000LL * relay_g->cfg->relay.typing_timeout + GRACE_MS;
	relay_frame_ref(off);
	if (t) {
		relay_frame_unref(t->off);
		t->off = off;
		t->deadline_ms = deadline;
		return;
	}
	if (n == cap) {
		if (cap >= TYPING_MAX) {
			drop(0); /* full: forget one rather than grow */
		} else {
			size_t ncap = cap ? cap * 2 : 16;
			typer *nt = realloc(tab, ncap * sizeof(*nt));
			if (!nt) {
				relay_frame_unref(off);
				return;
			}
			tab = nt;
			cap = ncap;
		}
	}
	tab[n++] = (typer){ f->room_id, f->user_id, f->origin, deadline, off };
}

void relay_typing_tick(int64_t now_ms)
{
	for (size_t i = 0; i < n;) {
		if (now_ms < tab[i].deadline_ms) {
			i++;
			continue;
		}
		relay_frame *off = tab[i].off;
		tab[i].off = NULL;
		tab[i] = tab[--n];
		relay_rooms_dispatch(off); /* the typer's relay went quiet: clear it here */
		relay_frame_unref(off);
	}
}

void relay_typing_free(void)
{
	while (n)
		drop(n - 1);
	free(tab);
	tab = NULL;
	cap = 0;
}

/* ---- typing origin ------------------------------------------------------ */

uint64_t relay_origin_of(int64_t inst, uint64_t conn_id)
{
	/* 24 bits of connection id below the instance id; unique enough to
	 * recognise the typer's own connection, and positive in an int64. */
	return ((uint64_t)inst << 24) | (conn_id & 0xffffff);
}

int64_t relay_typing_ref(bool is_typing, uint64_t origin)
{
	return (int64_t)(((origin & 0x3fffffffffffffffULL) << 1) | (is_typing ? 1 : 0));
}

