/* Fixed-window rate limiter with bounded memory: a fixed table of slots,
 * open addressing over a short probe run. A key holds its slot until its
 * window ends and is never evicted before: when the probe run of a new
 * key has no free or expired slot (the table is full there), the request
 * is refused, not counted, and nothing is forgotten. So no pattern of
 * requests gets more than `limit` hits per window for any key, whatever
 * other keys it makes the table hold; a flood of new keys is refused
 * until the windows it fills end. Refused requests take no slot. One
 * mutex guards the table; the work under it is a few string compares.
 * The limit is per process: several chat-api processes each count. */
#include <config.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "chat_addr.h"

#define KEY_MAX 200
#define PROBE 16
#define KEYS_MAX 4 /* keys counted together by one api_ratelimit_hit_all */

typedef struct slot {
	char key[KEY_MAX + 1]; /* "" = free */
	int64_t window_start;  /* seconds */
	int count;
} slot;

struct api_ratelimit {
	pthread_mutex_t lock;
	size_t n;
	int limit;
	int window_s;
	slot *slots;
};

api_ratelimit *api_ratelimit_create(size_t slots, int limit, int window_s)
{
	api_ratelimit *rl = calloc(1, sizeof(*rl));
	if (!rl)
		return NULL;
	if (slots < PROBE)
		slots = PROBE;
	rl->slots = calloc(slots, sizeof(slot));
	if (!rl->slots) {
		free(rl);
		return NULL;
	}
	rl->n = slots;
	rl->limit = limit;
	rl->window_s = window_s > 0 ? window_s : 1;
	pthread_mutex_init(&rl->lock, NULL);
	return rl;
}

void api_ratelimit_free(api_ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl->slots);
	free(rl);
}

static bool live(const api_ratelimit *rl, const slot *s, int64_t now_s)
{
	return s->key[0] && now_s < s->window_start + rl->window_s;
}

/* Seconds until s's window ends (>= 1). */
static int wait_of(const api_ratelimit *rl, const slot *s, int64_t now_s)
{
	int64_t w = s->window_start + rl->window_s - now_s;
	return w < 1 ? 1 : (int)w;
}

/* The live slot of key, or NULL. Caller holds the lock. */
static slot *lookup(api_ratelimit *rl, const char *key, int64_t now_s)
{
	size_t start = (size_t)(chat_hash_str(key) % rl->n);
	for (size_t i = 0; i < PROBE; i++) {
		slot *s = &rl->slots[(start + i) % rl->n];
		if (live(rl, s, now_s) && strcmp(s->key, key) == 0)
			return s;
	}
	return NULL;
}

/* A free or expired slot for key (which has no live slot), claimed with a
 * fresh window; NULL when its probe run is full of live keys, with
 * *full_wait the seconds until the first of them ends. Caller holds the
 * lock. */
static slot *claim(api_ratelimit *rl, const char *key, int64_t now_s, int *full_wait)
{
	size_t start = (size_t)(chat_hash_str(key) % rl->n);
	int w = 0;
	for (size_t i = 0; i < PROBE; i++) {
		slot *s = &rl->slots[(start + i) % rl->n];
		if (!live(rl, s, now_s)) {
			memcpy(s->key, key, strlen(key) + 1);
			s->window_start = now_s;
			s->count = 0;
			return s;
		}
		int sw = wait_of(rl, s, now_s);
		if (w == 0 || sw < w)
			w = sw;
	}
	*full_wait = w;
	return NULL;
}

static void copy_key(char *dst, const char *key)
{
	size_t len = strlen(key);
	if (len > KEY_MAX)
		len = KEY_MAX;
	memcpy(dst, key, len);
	dst[len] = '\0';
}

int api_ratelimit_hit_all(api_ratelimit *rl, const char *const *keys, size_t n, int64_t now_s)
{
	char k[KEYS_MAX][KEY_MAX + 1];
	slot *s[KEYS_MAX] = { NULL };
	bool claimed[KEYS_MAX] = { false };
	int wait = 0;

	if (!rl || rl->limit <= 0 || n == 0)
		return 0;
	if (n > KEYS_MAX)
		n = KEYS_MAX;
	for (size_t i = 0; i < n; i++)
		copy_key(k[i], keys[i]);
	pthread_mutex_lock(&rl->lock);
	/* First every key's verdict: one at its limit refuses them all. */
	for (size_t i = 0; i < n; i++) {
		s[i] = lookup(rl, k[i], now_s);
		if (s[i] && s[i]->count >= rl->limit) {
			int w = wait_of(rl, s[i], now_s);
			if (w > wait)
				wait = w;
		}
	}
	/* Then slots for the new keys; a full run refuses, and what this
	 * request claimed is given back. */
	for (size_t i = 0; i < n && wait == 0; i++) {
		if (s[i])
			continue;
		s[i] = claim(rl, k[i], now_s, &wait);
		claimed[i] = s[i] != NULL;
	}
	if (wait) {
		for (size_t i = 0; i < n; i++)
			if (claimed[i])
				s[i]->key[0] = '\0';
	} else {
		for (size_t i = 0; i < n; i++)
			s[i]->count++;
	}
	pthread_mutex_unlock(&rl->lock);
	return wait;
}

int api_ratelimit_hit(api_ratelimit *rl, const char *key, int64_t now_s)
{
	return api_ratelimit_hit_all(rl, &key, 1, now_s);
}

int api_ratelimit_peek(api_ratelimit *rl, const char *key, int64_t now_s)
{
	char k[KEY_MAX + 1];
	int wait = 0;
	if (!rl || rl->limit <= 0)
		return 0;
	copy_key(k, key);
	pthread_mutex_lock(&rl->lock);
	slot *s = lookup(rl, k, now_s);
	if (s && s->count >= rl->limit)
		wait = wait_of(rl, s, now_s);
	pthread_mutex_unlock(&rl->lock);
	return wait;
}
