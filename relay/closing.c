/* Closes paced: at most CLOSING_MAX connections go through their close at
 * once; the others wait their turn, in order.
 *
 * Each close puts the connection on libwebsockets' timer list three or
 * four times (the flush deadline below, then the library's own "close
 * sent", "close acknowledged" and socket-shutdown timeouts), and that list
 * is sorted on insert: each insert walks every timer due earlier, that is
 * every connection closing before it. A relay closing 16,000 connections
 * at once (SIGTERM) spent 15 s of its loop in those walks, and the
 * clients it had not reached by its shutdown deadline got no close frame.
 * Paced, a walk is at most a few hundred timers long. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "relay.h"

#define CLOSING_MAX 256
#define CLOSE_FLUSH_SECS 5 /* a closing client that does not read is dropped */

static size_t active;     /* started, not yet LWS_CALLBACK_CLOSED */
static uint64_t *waiting; /* conn_ids, oldest at head */
static size_t head, tail, cap;

static void start(relay_session *s)
{
	s->close_started = true;
	active++;
	lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, CLOSE_FLUSH_SECS);
	lws_callback_on_writable(s->wsi);
}

static int enqueue(uint64_t conn_id)
{
	if (tail == cap) {
		if (head > 0) { /* slide down before growing */
			memmove(waiting, waiting + head, (tail - head) * sizeof(*waiting));
			tail -= head;
			head = 0;
		} else {
			size_t n = cap ? cap * 2 : 1024;
			uint64_t *w = realloc(waiting, n * sizeof(*w));
			if (!w)
				return -1;
			waiting = w;
			cap = n;
		}
	}
	waiting[tail++] = conn_id;
	return 0;
}

void relay_closing_add(relay_session *s)
{
	/* no room in the queue (out of memory): start at once, unpaced */
	if (active < CLOSING_MAX || !s->conn_id || enqueue(s->conn_id) < 0)
		start(s);
}

/* Only a finished close makes room (done), so that is the one caller. */
static void pump(void)
{
	while (active < CLOSING_MAX && head < tail) {
		/* gone meanwhile (the client hung up, a keep-alive kill): skipped */
		relay_session *s = relay_conns_find(waiting[head++]);
		if (s && s->state == RS_CLOSING && !s->close_started)
			start(s);
	}
	if (head == tail) {
		head = tail = 0;
		if (cap > 65536) { /* one huge burst keeps no big array */
			free(waiting);
			waiting = NULL;
			cap = 0;
		}
	}
}

void relay_closing_done(relay_session *s)
{
	if (!s->close_started)
		return;
	s->close_started = false;
	if (active > 0) /* 0 after relay_closing_free(): the context's last closes */
		active--;
	pump();
}

size_t relay_closing_waiting(void)
{
	return tail - head;
}

void relay_closing_free(void)
{
	free(waiting);
	waiting = NULL;
	head = tail = cap = 0;
	active = 0;
}
