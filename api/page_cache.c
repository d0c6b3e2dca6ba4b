/* Recent message pages (see page_cache.h): a direct-mapped table, one
 * lock; at most PAGE_CACHE_SLOTS x PAGE_CACHE_MAX_BODY bytes (4 MiB). */
#include <config.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "page_cache.h"

#include "chat_addr.h"

typedef struct slot {
	page_key key;
	int64_t event_id;
	int64_t stored_ms;
	char *body; /* NULL: empty */
	size_t len;
} slot;

static slot slots[PAGE_CACHE_SLOTS];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static size_t slot_of(const page_key *k)
{
	const int64_t v[4] = { k->room_id, k->before, k->after, k->limit };
	return (size_t)(chat_hash_bytes(v, sizeof(v)) % PAGE_CACHE_SLOTS);
}

static int same_key(const page_key *a, const page_key *b)
{
	return a->room_id == b->room_id && a->before == b->before && a->after == b->after &&
	       a->limit == b->limit;
}

char *page_cache_get(const page_key *key, int64_t event_id, int64_t now_ms, size_t *len)
{
	char *copy = NULL;
	slot *s = &slots[slot_of(key)];
	pthread_mutex_lock(&mu);
	if (s->body && same_key(&s->key, key) && s->event_id == event_id &&
	    now_ms - s->stored_ms <= PAGE_CACHE_TTL_MS && now_ms >= s->stored_ms) {
		copy = malloc(s->len + 1);
		if (copy) {
			memcpy(copy, s->body, s->len + 1);
			*len = s->len;
		}
	}
	pthread_mutex_unlock(&mu);
	return copy;
}

void page_cache_put(const page_key *key, int64_t event_id, int64_t now_ms, const char *body,
                    size_t len)
{
	if (len > PAGE_CACHE_MAX_BODY)
		return;
	char *copy = malloc(len + 1);
	if (!copy)
		return;
	memcpy(copy, body, len);
	copy[len] = '\0';
	slot *s = &slots[slot_of(key)];
	pthread_mutex_lock(&mu);
	char *old = s->body;
	s->key = *key;
	s->event_id = event_id;
	s->stored_ms = now_ms;
	s->body = copy;
	s->len = len;
	pthread_mutex_unlock(&mu);
	free(old);
}

void page_cache_clear(void)
{
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < PAGE_CACHE_SLOTS; i++) {
		free(slots[i].body);
		slots[i].body = NULL;
	}
	pthread_mutex_unlock(&mu);
}
