/* Room registry, connection registry and fan-out. Service thread only.
 *
 * A room exists while at least one session is linked into it; sessions
 * link at WebSocket open (before the DB lookup, so no live event is missed:
 * they are held until the lookup answers) and unlink when they close. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "chat_log.h"
#include "relay.h"

/* ---- a small chained hash map: uint64 key -> pointer ------------------- */

typedef struct map_node {
	struct map_node *next;
	uint64_t key;
	void *val;
} map_node;

typedef struct idmap {
	map_node **b;
	size_t nb, n;
} idmap;

/* A bucket of nb (a power of two) for key. */
static size_t hash_slot(uint64_t key, size_t nb)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	return (size_t)(key & (nb - 1));
}

static size_t slot(const idmap *m, uint64_t key)
{
	return hash_slot(key, m->nb);
}

static int map_init(idmap *m)
{
	m->nb = 64;
	m->n = 0;
	m->b = calloc(m->nb, sizeof(*m->b));
	return m->b ? 0 : -1;
}

static void map_free(idmap *m)
{
	for (size_t i = 0; m->b && i < m->nb; i++) {
		map_node *n = m->b[i];
		while (n) {
			map_node *next = n->next;
			free(n);
			n = next;
		}
	}
	free(m->b);
	memset(m, 0, sizeof(*m));
}

static void *map_get(const idmap *m, uint64_t key)
{
	for (map_node *n = m->b[slot(m, key)]; n; n = n->next)
		if (n->key == key)
			return n->val;
	return NULL;
}

static void map_grow(idmap *m)
{
	size_t nnb = m->nb * 2;
	map_node **nb = calloc(nnb, sizeof(*nb));
	if (!nb)
		return; /* keep the longer chains */
	idmap tmp = { nb, nnb, m->n };
	for (size_t i = 0; i < m->nb; i++) {
		map_node *n = m->b[i];
		while (n) {
			map_node *next = n->next;
			size_t s = slot(&tmp, n->key);
			n->next = nb[s];
			nb[s] = n;
			n = next;
		}
	}
	free(m->b);
	m->b = nb;
	m->nb = nnb;
}

static int map_put(idmap *m, uint64_t key, void *val)
{
	map_node *n = malloc(sizeof(*n));
	if (!n)
		return -1;
	if (m->n + 1 > m->nb)
		map_grow(m);
	size_t s = slot(m, key);
	n->key = key;
	n->val = val;
	n->next = m->b[s];
	m->b[s] = n;
	m->n++;
	return 0;
}

static void map_del(idmap *m, uint64_t key)
{
	map_node **pp = &m->b[slot(m, key)];
	for (; *pp; pp = &(*pp)->next) {
		if ((*pp)->key == key) {
			map_node *n = *pp;
			*pp = n->next;
			free(n);
			m->n--;
			return;
		}
	}
}

/* ---- registries ------------------------------------------------------- */

static idmap rooms;

/* The connection registry is intrusive (chained through the session's
 * conn_next): a node allocated per connection was 32 bytes of each idle
 * connection's memory. Power-of-two buckets, grown at load factor 1. */
static struct {
	relay_session **b;
	size_t nb, n;
} conns;

static void conns_grow(void)
{
	size_t nnb = conns.nb ? conns.nb * 2 : 64;
	relay_session **nb = calloc(nnb, sizeof(*nb));
	if (!nb)
		return; /* keep the longer chains */
	for (size_t i = 0; i < conns.nb; i++) {
		relay_session *s = conns.b[i];
		while (s) {
			relay_session *next = s->conn_next;
			size_t k = hash_slot(s->conn_id, nnb);
			s->conn_next = nb[k];
			nb[k] = s;
			s = next;
		}
	}
	free(conns.b);
	conns.b = nb;
	conns.nb = nnb;
}

int relay_rooms_init(void)
{
	if (map_init(&rooms) < 0)
		return -1;
	conns_grow();
	return conns.b ? 0 : -1;
}

void relay_rooms_free(void)
{
	for (size_t i = 0; rooms.b && i < rooms.nb; i++)
		for (map_node *n = rooms.b[i]; n; n = n->next)
			free(n->val);
	map_free(&rooms);
	free(conns.b);
	memset(&conns, 0, sizeof(conns));
}

relay_room *relay_rooms_find(int64_t room_id)
{
	return map_get(&rooms, (uint64_t)room_id);
}

int relay_rooms_join(relay_session *s)
{
	relay_room *r = relay_rooms_find(s->room_id);
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return -1;
		r->id = s->room_id;
		if (map_put(&rooms, (uint64_t)r->id, r) < 0) {
			free(r);
			return -1;
		}
		relay_g->n_rooms++;
	}
	s->room = r;
	s->room_prev = NULL;
	s->room_next = r->head;
	if (r->head)
		r->head->room_prev = s;
	r->head = s;
	r->n++;
	return 0;
}

void relay_rooms_leave(relay_session *s)
{
	relay_room *r = s->room;
	if (!r)
		return;
	if (s->room_prev)
		s->room_prev->room_next = s->room_next;
	else
		r->head = s->room_next;
	if (s->room_next)
		s->room_next->room_prev = s->room_prev;
	s->room = NULL;
	s->room_prev = s->room_next = NULL;
	if (--r->n == 0) {
		map_del(&rooms, (uint64_t)r->id);
		free(r);
		relay_g->n_rooms--;
	}
}

int relay_conns_add(relay_session *s)
{
	if (conns.n + 1 > conns.nb)
		conns_grow();
	if (!conns.b)
		return -1;
	size_t k = hash_slot(s->conn_id, conns.nb);
	s->conn_next = conns.b[k];
	conns.b[k] = s;
	conns.n++;
	return 0;
}

void relay_conns_remove(relay_session *s)
{
	if (!s->conn_id || !conns.b)
		return;
	for (relay_session **pp = &conns.b[hash_slot(s->conn_id, conns.nb)]; *pp;
	     pp = &(*pp)->conn_next) {
		if (*pp == s) {
			*pp = s->conn_next;
			s->conn_next = NULL;
			conns.n--;
			return;
		}
	}
}

relay_session *relay_conns_find(uint64_t conn_id)
{
	if (!conn_id || !conns.b)
		return NULL;
	for (relay_session *s = conns.b[hash_slot(conn_id, conns.nb)]; s; s = s->conn_next)
		if (s->conn_id == conn_id)
			return s;
	return NULL;
}

void relay_conns_each(void (*fn)(relay_session *s, void *arg), void *arg)
{
	/* Snapshot the ids first: fn may close sessions (closing only
	 * schedules; the registry changes at LWS_CALLBACK_CLOSED, later). */
	size_t n = conns.n, k = 0;
	uint64_t *ids = malloc((n ? n : 1) * sizeof(*ids));
	if (!ids)
		return;
	for (size_t i = 0; i < conns.nb && k < n; i++)
		for (relay_session *s = conns.b[i]; s && k < n; s = s->conn_next)
			ids[k++] = s->conn_id;
	for (size_t i = 0; i < k; i++) {
		relay_session *s = relay_conns_find(ids[i]);
		if (s)
			fn(s, arg);
	}
	free(ids);
}

size_t relay_conns_visit(size_t from, size_t buckets, void (*fn)(relay_session *s, void *arg),
                         void *arg)
{
	size_t i = from;
	for (; i < conns.nb && i - from < buckets; i++)
		for (relay_session *s = conns.b[i], *next; s; s = next) {
			next = s->conn_next;
			fn(s, arg);
		}
	return i < conns.nb ? i : 0;
}

size_t relay_conns_buckets(void)
{
	return conns.nb;
}

/* ---- fan-out ------------------------------------------------------------ */

void relay_rooms_dispatch(relay_frame *f)
{
	relay_room *r = relay_rooms_find(f->room_id);
	relay_frame_ref(f); /* keep it alive while sessions take and drop refs */
	if (!r)
		goto out;
	relay_g->m.events_delivered_total++;

	if (f->kind == CHAT_EV_ROOM_DELETED) {
		for (relay_session *s = r->head, *next; s; s = next) {
			next = s->room_next;
			if (s->state != RS_CLOSING)
				relay_session_close(s, 4404, "room_deleted", "This room has been deleted");
		}
		goto out;
	}
	if (f->kind == CHAT_EV_ROOM_UPDATED) {
		/* Made private? Each connection's user is checked again (by its
		 * own worker, so after its opening lookup). */
		for (relay_session *s = r->head; s; s = s->room_next) {
			if (s->state == RS_CLOSING)
				continue;
			relay_job *j = relay_job_new(JOB_RECHECK);
			if (!j)
				break;
			j->conn_id = s->conn_id;
			j->room_id = s->room_id;
			j->user_id = s->user.id;
			if (relay_db_submit(j) == 0) {
				/* hold its live events until the answer: nothing of
				 * the room reaches it meanwhile if access is gone */
				s->recheck_pending++;
				s->holding = true;
			}
		}
		goto out;
	}
	if (f->kind == CHAT_EV_MEMBER_LEFT) {
		/* A member leaving a private room loses access to it. */
		for (relay_session *s = r->head, *next; s; s = next) {
			next = s->room_next;
			if (s->room_private && s->user.id == f->user_id && s->state != RS_CLOSING)
				relay_session_close(s, 4404, "room_not_found",
				                    "You are no longer a member of this room");
		}
		goto out;
	}
	if (f->len == 0)
		goto out; /* event without a frame (bookkeeping only) */

	/* relay_session_deliver may cut a slow session off (closing is only
	 * scheduled, the list stays intact). */
	for (relay_session *s = r->head, *next; s; s = next) {
		next = s->room_next;
		relay_session_deliver(s, f);
	}
out:
	relay_frame_unref(f);
}
