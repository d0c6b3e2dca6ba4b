/* Group commit of posted messages: the FastCGI worker threads of one
 * process that post messages at the same time (any rooms) share one
 * transaction and one durable commit, instead of queueing one commit each
 * behind the room's row lock.
 *
 * A poster queues its message. If no batch is running, it becomes the
 * leader at once (a lone request never waits for a timer): it takes what
 * is queued (itself and up to WB_MAX in all, oldest first), stores it with
 * chat_dal_messages_insert_batch on its own database connection, wakes the
 * relays once, and hands every poster its own result. Posters that arrive
 * while it commits queue up and form the next batch, led by the oldest.
 *
 * Each poster's answer is the one chat_dal_message_insert would give it:
 * - the batch stored: its stored message (created or the client_id retry);
 * - a batch of one: its own error;
 * - a larger batch refused (one refused message refuses them all: a
 *   non-member of a private room, a deleted client_id retry, a room gone):
 *   nothing was stored, and each poster stores its message on its own, on
 *   its own thread and connection, and gets that answer;
 * - database unavailable (down, conflicts beyond the retries, or the
 *   connection lost at commit, when the outcome is unknown): each poster
 *   gets that error, as on its own; storing again could store twice.
 *
 * Locking: `mu` guards the queue, `busy` and every waiter's state. A
 * waiter lives on its poster's stack until its state is DONE or ALONE;
 * the leader reads its message without the lock while the state is TAKEN
 * (the poster only waits then). */
#include <config.h>

#include <pthread.h>
#include <string.h>

#include "api.h"
#include "chat_dal.h"

/* Most messages per transaction; also bounds the leader's arrays. The
 * DAL reads 64 rooms, senders and client_ids per statement. */
#define WB_MAX 64

typedef enum wb_state {
	WB_QUEUED, /* waiting for a leader */
	WB_TAKEN,  /* in the batch a leader is storing */
	WB_DONE,   /* err, out and created are the answer */
	WB_ALONE,  /* the batch was refused: store on its own */
} wb_state;

typedef struct wb_waiter {
	const chat_new_message *in;
	chat_message out;
	bool created;
	chat_err err;
	wb_state state;
	pthread_cond_t cv; /* signalled on a state change, and to lead */
	struct wb_waiter *next;
} wb_waiter;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static wb_waiter *head, *tail;
static bool busy; /* a leader is storing a batch */

/* Called with mu held and busy set by the caller; returns with mu held,
 * busy cleared, every taken waiter DONE or ALONE and signalled, and the
 * next queued waiter (if any) signalled to lead. */
static void lead(const api_req *r)
{
	wb_waiter *batch[WB_MAX];
	chat_new_message in[WB_MAX];
	chat_message out[WB_MAX];
	bool created[WB_MAX];
	size_t n = 0;

	while (head && n < WB_MAX) {
		wb_waiter *w = head;
		head = w->next;
		w->next = NULL;
		w->state = WB_TAKEN;
		in[n] = *w->in;
		batch[n++] = w;
	}
	if (!head)
		tail = NULL;
	pthread_mutex_unlock(&mu);

	chat_err e = chat_dal_messages_insert_batch(r->db, in, n, out, created);
	bool any = false;
	for (size_t i = 0; e == CHAT_OK && i < n; i++)
		any |= created[i];
	if (any)
		api_notify(r); /* once for the batch, before anyone answers */

	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < n; i++) {
		wb_waiter *w = batch[i];
		if (e == CHAT_OK) {
			w->out = out[i]; /* the poster owns it now */
			w->created = created[i];
		}
		w->err = e;
		w->state = e == CHAT_OK || n == 1 || e == CHAT_ERR_UNAVAILABLE ? WB_DONE : WB_ALONE;
		pthread_cond_signal(&w->cv);
	}
	busy = false;
	if (head)
		pthread_cond_signal(&head->cv);
}

chat_err api_write_message(const api_req *r, const chat_new_message *in, chat_message *out,
                           bool *created)
{
	wb_waiter w;
	memset(&w, 0, sizeof(w));
	w.in = in;
	w.state = WB_QUEUED;
	memset(out, 0, sizeof(*out));
	*created = false;
	if (pthread_cond_init(&w.cv, NULL) != 0)
		return CHAT_ERR_NOMEM;

	pthread_mutex_lock(&mu);
	if (tail)
		tail->next = &w;
	else
		head = &w;
	tail = &w;
	while (w.state == WB_QUEUED || w.state == WB_TAKEN) {
		if (w.state == WB_QUEUED && !busy) {
			busy = true;
			lead(r); /* takes w too unless WB_MAX older ones are queued */
			continue;
		}
		pthread_cond_wait(&w.cv, &mu);
	}
	pthread_mutex_unlock(&mu);
	pthread_cond_destroy(&w.cv);

	if (w.state == WB_ALONE) {
		chat_err e = chat_dal_message_insert(r->db, in, out, created);
		if (e == CHAT_OK && *created)
			api_notify(r);
		return e;
	}
	if (w.err == CHAT_OK) {
		*out = w.out;
		*created = w.created;
	}
	return w.err;
}
