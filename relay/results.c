/* Results: what worker threads post back to the event loop.
 *
 * relay_post() appends to a locked list and wakes the loop with
 * lws_cancel_service(), the only lws call allowed off the service thread;
 * the loop takes the whole list in LWS_CALLBACK_EVENT_WAIT_CANCELLED.
 * The context to wake is set once the loop exists and cleared before it is
 * destroyed; server.c stops and joins every posting thread before that, so
 * no post can race lws_context_destroy(). */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "chat_log.h"
#include "jobs.h"

static pthread_mutex_t res_mu = PTHREAD_MUTEX_INITIALIZER;
static relay_result *res_head, *res_tail;
static _Atomic(struct lws_context *) wake_ctx;

void relay_post_wake(struct lws_context *ctx)
{
	atomic_store(&wake_ctx, ctx);
}

void relay_result_free(relay_result *r)
{
	if (!r)
		return;
	free(r->snap_ids);
	relay_frame_discard(r->established);
	for (size_t i = 0; i < r->n_frames; i++)
		relay_frame_discard(r->frames[i]);
	free(r->frames);
	relay_frame_discard(r->frame);
	free(r);
}

void relay_chain_add(relay_result_chain *c, relay_result *r)
{
	r->next = NULL;
	if (c->tail)
		c->tail->next = r;
	else
		c->head = r;
	c->tail = r;
}

void relay_post_chain(relay_result_chain *c)
{
	if (!c->head)
		return;
	pthread_mutex_lock(&res_mu);
	if (res_tail)
		res_tail->next = c->head;
	else
		res_head = c->head;
	res_tail = c->tail;
	pthread_mutex_unlock(&res_mu);
	c->head = c->tail = NULL;
	struct lws_context *ctx = atomic_load(&wake_ctx);
	if (ctx)
		lws_cancel_service(ctx);
}

void relay_post(relay_result *r)
{
	relay_result_chain c = { NULL, NULL };
	relay_chain_add(&c, r);
	relay_post_chain(&c);
}

relay_result *relay_take_results(void)
{
	pthread_mutex_lock(&res_mu);
	relay_result *r = res_head;
	res_head = res_tail = NULL;
	pthread_mutex_unlock(&res_mu);
	return r;
}

relay_result *relay_result_new(relay_result_kind kind, uint64_t conn_id)
{
	relay_result *r = calloc(1, sizeof(*r));
	if (!r) {
		chat_log_error("out of memory building a result");
		return NULL;
	}
	r->kind = kind;
	r->conn_id = conn_id;
	return r;
}

