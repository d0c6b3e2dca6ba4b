/* The writers: batches of chat_message inserts, one transaction each, and
 * the batch-size statistics /metrics shows. */
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "chat_dal.h"
#include "chat_json.h"
#include "jobs.h"

static atomic_ullong batches, batch_rows;
static atomic_ullong batch_buckets[8];

static void count_batch(size_t n)
{
	static const size_t bounds[7] = { 1, 2, 4, 8, 16, 64, 256 };
	atomic_fetch_add(&batches, 1);
	atomic_fetch_add(&batch_rows, n);
	size_t b = 7;
	for (size_t i = 0; i < 7; i++)
		if (n <= bounds[i]) {
			b = i;
			break;
		}
	atomic_fetch_add(&batch_buckets[b], 1);
}

uint64_t relay_db_batches(void) { return atomic_load(&batches); }
uint64_t relay_db_batch_rows(void) { return atomic_load(&batch_rows); }
uint64_t relay_db_batch_bucket(int i) { return atomic_load(&batch_buckets[i]); }

/* A message's answer, added to its batch's chain (posted together). */
static void add_insert_result(relay_result_chain *c, const relay_job *j, chat_err e,
                              const chat_message *m, bool created)
{
	relay_result *r = relay_result_new(RES_INSERT, j->conn_id);
	if (!r)
		return;
	r->err = e;
	if (e == CHAT_OK && !created) {
		/* a client_id retry: the stored message, to this connection only */
		r->frame = relay_frame_from_json(chat_json_frame_message("chat_message", m));
		if (r->frame) {
			r->frame->msg_id = m->id;
			r->frame->room_id = m->room_id;
		}
	}
	relay_chain_add(c, r);
}

/* Stable sort by room: every writer then takes room locks in ascending
 * order (no deadlock between writers), and a connection's messages, all
 * in one room, keep their order. Insertion sort: batches are small and
 * mostly sorted. */
static void sort_by_room(relay_job **jobs, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		relay_job *j = jobs[i];
		size_t k = i;
		while (k > 0 && jobs[k - 1]->room_id > j->room_id) {
			jobs[k] = jobs[k - 1];
			k--;
		}
		jobs[k] = j;
	}
}

void relay_job_write_batch(chat_db *db, relay_job **jobs, size_t n)
{
	sort_by_room(jobs, n);
	chat_new_message *in = calloc(n, sizeof(*in));
	chat_message *out = calloc(n, sizeof(*out));
	bool *created = calloc(n, sizeof(*created));
	bool any_created = false;
	relay_result_chain done = { NULL, NULL };
	chat_err e = CHAT_ERR_NOMEM;
	if (!in || !out || !created)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		in[i].room_id = jobs[i]->room_id;
		in[i].sender_id = jobs[i]->user_id;
		in[i].content = jobs[i]->content;
		in[i].message_type = jobs[i]->message_type[0] ? jobs[i]->message_type : NULL;
		in[i].client_id = jobs[i]->client_id[0] ? jobs[i]->client_id : NULL;
	}
	e = chat_dal_messages_insert_batch(db, in, n, out, created);
	relay_db_note(e, db, "store messages");
	if (e == CHAT_OK) {
		count_batch(n);
		for (size_t i = 0; i < n; i++) {
			add_insert_result(&done, jobs[i], CHAT_OK, &out[i], created[i]);
			any_created |= created[i];
			chat_message_clear(&out[i]);
		}
		goto out;
	}
	if (e == CHAT_ERR_UNAVAILABLE || n == 1)
		goto fail;
	/* One bad row (a room deleted meanwhile...) fails the whole batch:
	 * store the rows one by one so the others still go through. */
	for (size_t i = 0; i < n; i++) {
		bool c = false;
		chat_message m;
		memset(&m, 0, sizeof(m));
		chat_err ei = chat_dal_message_insert(db, &in[i], &m, &c);
		relay_db_note(ei, db, "store message");
		if (ei == CHAT_OK)
			count_batch(1);
		add_insert_result(&done, jobs[i], ei, &m, c);
		any_created |= (ei == CHAT_OK && c);
		if (ei == CHAT_OK)
			chat_message_clear(&m);
	}
	goto out;
fail:
	for (size_t i = 0; i < n; i++)
		add_insert_result(&done, jobs[i], e, NULL, false);
out:
	relay_post_chain(&done);
	if (any_created)
		relay_jobs_wake();
	free(in);
	free(out);
	free(created);
}

