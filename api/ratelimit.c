/* Fixed-window rate limiter with bounded memory: a fixed table of slots,
 * open addressing over a short probe run. A key whose slot was taken over
 * (the table is full of live keys) starts a fresh window: under a flood
 * of distinct keys the limit weakens rather than memory growing. One
 * mutex guards the table; the work under it is a few string compares.
 * The limit is per process: several chat-api processes each count. */
#include <config.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

#define KEY_MAX 200
#define PROBE 16

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

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

/* The slot for key (found, free, expired or the oldest of the run).
 * Caller holds the lock. */
static slot *find(api_ratelimit *rl, const char *key, int64_t now_s, bool *existing)
{
	size_t start = (size_t)(hash(key) % rl->n);
	slot *victim = NULL;
	bool victim_dead = false;
	for (size_t i = 0; i < PROBE; i++) {
		slot *s = &rl->slots[(start + i) % rl->n];
		if (s->key[0] && strcmp(s->key, key) == 0) {
			*existing = now_s < s->window_start + rl->window_s;
			return s;
		}
		bool dead = !s->key[0] || now_s >= s->window_start + rl->window_s;
		if (dead) {
			if (!victim_dead) {
				victim = s;
				victim_dead = true;
			}
		} else if (!victim || (!victim_dead && s->window_start < victim->window_start)) {
			victim = s;
		}
	}
	*existing = false;
	return victim;
}

static void copy_key(char *dst, const char *key)
{
	size_t len = strlen(key);
	if (len > KEY_MAX)
		len = KEY_MAX;
	memcpy(dst, key, len);
	dst[len] = '\0';
}

int api_ratelimit_hit(api_ratelimit *rl, const char *key, int64_t now_s)
{
	char k[KEY_MAX + 1];
	int wait = 0;
	if (!rl || rl->limit <= 0)
		return 0;
	copy_key(k, key);
	pthread_mutex_lock(&rl->lock);
	bool existing;
	slot *s = find(rl, k, now_s, &existing);
	if (!existing) {
		memcpy(s->key, k, sizeof(k));
		s->window_start = now_s;
		s->count = 0;
	}
	if (s->count >= rl->limit) {
		wait = (int)(s->window_start + rl->window_s - now_s);
		if (wait < 1)
			wait = 1;
	} else {
		s->count++;
	}
	pthread_mutex_unlock(&rl->lock);
	return wait;
}

int api_ratelimit_peek(api_ratelimit *rl, const char *key, int64_t now_s)
{
	char k[KEY_MAX + 1];
	int wait = 0;
	if (!rl || rl->limit <= 0)
		return 0;
	copy_key(k, key);
	pthread_mutex_lock(&rl->lock);
	bool existing;
	slot *s = find(rl, k, now_s, &existing);
	if (existing && s->count >= rl->limit) {
		wait = (int)(s->window_start + rl->window_s - now_s);
		if (wait < 1)
			wait = 1;
	}
	pthread_mutex_unlock(&rl->lock);
	return wait;
}
