/* Recent message pages, serialized, per chat-api process.
 *
 * A page (room, before, after, limit) is the same for every reader who may
 * see the room, and it changes only when the room's messages do; every
 * such change writes a chat_events row of the room (the schema's
 * triggers, whoever writes). So a page stored with the room's newest
 * event id is still current as long as that id has not moved. The id is
 * read BEFORE the page, so a page can only be newer than its tag (a
 * change in between moves the id and the entry is not used again).
 * Entries also expire after PAGE_CACHE_TTL_MS, which bounds what the
 * events cannot see (an administrator's cascade delete of a user). */
#ifndef API_PAGE_CACHE_H
#define API_PAGE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define PAGE_CACHE_SLOTS 64
#define PAGE_CACHE_MAX_BODY (64 * 1024) /* larger pages are not kept */
#define PAGE_CACHE_TTL_MS 2000

typedef struct page_key {
	int64_t room_id, before, after;
	int limit;
} page_key;

/* The body stored for key under tag event_id, not older than the TTL:
 * a malloc'ed copy (*len set), or NULL. Thread-safe. */
char *page_cache_get(const page_key *key, int64_t event_id, int64_t now_ms, size_t *len);
/* Keep body (copied) for key under tag event_id. Thread-safe. */
void page_cache_put(const page_key *key, int64_t event_id, int64_t now_ms, const char *body,
                    size_t len);
/* Drop everything (tests). */
void page_cache_clear(void);

#endif
