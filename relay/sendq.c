/* Shared serialized frames and the per-connection bounded send queue.
 *
 * A frame is built once (by whichever thread produced the event) with
 * LWS_PRE bytes of headroom, then handed to the service thread, which
 * appends the same buffer to every recipient's queue. Server frames are not
 * masked, so lws_write() may send one buffer to many connections in turn. */
#include "config.h"

#include <json-c/json.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "chat_json.h"
#include "relay.h"

relay_frame *relay_frame_new(const char *json, size_t len)
{
	relay_frame *f = malloc(sizeof(*f) + LWS_PRE + len + 1);
	if (!f)
		return NULL;
	memset(f, 0, sizeof(*f));
	f->len = len;
	memcpy(f->data + LWS_PRE, json, len);
	f->data[LWS_PRE + len] = '\0';
	return f;
}

relay_frame *relay_frame_from_json(struct json_object *obj)
{
	if (!obj)
		return NULL;
	size_t len = 0;
	const char *s = chat_json_string(obj, &len);
	relay_frame *f = s ? relay_frame_new(s, len) : NULL;
	json_object_put(obj);
	return f;
}

relay_frame *relay_frame_error(const char *message, const char *code)
{
	return relay_frame_from_json(chat_json_frame_error(message, code));
}

/* frames and send rings freed so far (server.c trims after many): the
 * rings that a room's backlog grew (every newcomer's user_join to everyone
 * while a large room fills) are freed once emptied, and count as much */
static atomic_size_t freed_bytes;

size_t relay_frames_freed_bytes(void)
{
	return atomic_load_explicit(&freed_bytes, memory_order_relaxed);
}

static void frame_free(relay_frame *f)
{
	if (f->alt && f->alt->refs <= 0)
		free(f->alt); /* never taken */
	atomic_fetch_add_explicit(&freed_bytes, sizeof(*f) + LWS_PRE + f->len, memory_order_relaxed);
	free(f);
}

void relay_frame_ref(relay_frame *f)
{
	f->refs++;
}

void relay_frame_unref(relay_frame *f)
{
	if (f && --f->refs <= 0)
		frame_free(f);
}

void relay_frame_discard(relay_frame *f)
{
	if (f && f->refs <= 0)
		frame_free(f);
}

static void ring_free(relay_frame **ring, size_t cap)
{
	if (!ring)
		return;
	atomic_fetch_add_explicit(&freed_bytes, cap * sizeof(*ring), memory_order_relaxed);
	free(ring);
}

static int grow(relay_sendq *q)
{
	size_t ncap = q->cap ? q->cap * 2 : 8;
	relay_frame **n = malloc(ncap * sizeof(*n));
	if (!n)
		return -1;
	for (size_t i = 0; i < q->count; i++)
		n[i] = q->ring[(q->head + i) % q->cap];
	ring_free(q->ring, q->cap);
	q->ring = n;
	q->cap = ncap;
	q->head = 0;
	return 0;
}

int relay_sendq_push(relay_sendq *q, relay_frame *f, size_t max_frames, size_t max_bytes)
{
	if (max_frames && q->count + 1 > max_frames)
		return -1;
	if (max_bytes && q->bytes + f->len > max_bytes)
		return -1;
	if (q->count == q->cap && grow(q) < 0)
		return -1;
	q->ring[(q->head + q->count) % q->cap] = f;
	q->count++;
	q->bytes += f->len;
	relay_frame_ref(f);
	return 0;
}

int relay_sendq_push_front(relay_sendq *q, relay_frame *f)
{
	if (q->count == q->cap && grow(q) < 0)
		return -1;
	q->head = (q->head + q->cap - 1) % q->cap;
	q->ring[q->head] = f;
	q->count++;
	q->bytes += f->len;
	relay_frame_ref(f);
	return 0;
}

relay_frame *relay_sendq_peek(const relay_sendq *q)
{
	return q->count ? q->ring[q->head] : NULL;
}

relay_frame *relay_sendq_pop(relay_sendq *q)
{
	if (!q->count)
		return NULL;
	relay_frame *f = q->ring[q->head];
	q->head = (q->head + 1) % q->cap;
	q->count--;
	q->bytes -= f->len;
	return f;
}

size_t relay_sendq_clear(relay_sendq *q)
{
	size_t n = 0;
	relay_frame *f;
	while ((f = relay_sendq_pop(q))) {
		relay_frame_unref(f);
		n++;
	}
	return n;
}

void relay_sendq_shrink(relay_sendq *q)
{
	if (q->count || q->cap <= 8)
		return;
	ring_free(q->ring, q->cap);
	q->ring = NULL;
	q->cap = q->head = 0;
}

void relay_sendq_free(relay_sendq *q)
{
	relay_sendq_clear(q);
	ring_free(q->ring, q->cap);
	memset(q, 0, sizeof(*q));
}
