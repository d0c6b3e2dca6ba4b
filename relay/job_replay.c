/* Resume (?last_id= at open, or a sync frame), one page at a time: the
 * first job plans the replay (chat_dal_replay_plan fixes what it covers)
 * and reads the first page; the session asks for each next page once the
 * client has read most of the previous one (session.c), so a replay is
 * produced only as fast as its client takes it. */
#include "config.h"

#include <stdlib.h>

#include "chat_dal.h"
#include "chat_json.h"
#include "jobs.h"

#define FIRST_PAGE_ROWS 32

/* The frame of a replayed event. A message deleted since carries no
 * content in any frame: its creation and edits are skipped (the deletion
 * follows in the log, or the client never had it). */
static relay_frame *event_frame(const chat_event_row *row)
{
	switch (row->ev.kind) {
	case CHAT_EV_MESSAGE_CREATED:
		return row->has_message && !row->message.deleted_ms
		               ? relay_frame_from_json(
		                         chat_json_frame_message("chat_message", &row->message))
		               : NULL;
	case CHAT_EV_MESSAGE_UPDATED:
		return row->has_message && !row->message.deleted_ms
		               ? relay_frame_from_json(
		                         chat_json_frame_message("message_updated", &row->message))
		               : NULL;
	case CHAT_EV_MESSAGE_DELETED:
		return relay_frame_from_json(chat_json_frame_deleted(row->ev.ref_id));
	default:
		return NULL;
	}
}

/* Decide what the replay covers; r->rp set, resync_required queued when
 * more is missing than relay.replay_limit. */
static chat_err plan(chat_db *db, const relay_job *j, relay_result *r)
{
	chat_replay_plan p;
	chat_err e = chat_dal_replay_plan(db, j->room_id, j->last_id,
	                                  relay_g->cfg->relay.replay_limit, &p);
	relay_db_note(e, db, "replay plan");
	if (e != CHAT_OK)
		return e;
	relay_replay *rp = &r->rp;
	rp->planned = true;
	rp->mode = p.mode;
	rp->last_id = j->last_id;
	rp->after = p.after;
	rp->upto = p.upto;
	rp->newest = j->last_id;
	rp->max_ev = p.max_ev;
	/* Live messages at or below min(last_id, the room's newest) are the
	 * client's already. Not last_id alone: one above every stored id (a
	 * stale client) must not hide the messages stored from now on. */
	rp->known = j->last_id < p.room_newest ? j->last_id : p.room_newest;
	/* The first page guesses small: its frame sizes set the next pages'
	 * row counts (page()), and a page of big messages read in full but
	 * mostly left for the next one would be wasted database work. */
	rp->rows = relay_replay_page_rows(relay_g->cfg);
	if (rp->rows > FIRST_PAGE_ROWS)
		rp->rows = FIRST_PAGE_ROWS;
	if (p.truncated) {
		relay_frame *f = relay_frame_from_json(chat_json_frame_resync_required(j->last_id));
		if (!f)
			return CHAT_ERR_NOMEM;
		r->frames[r->n_frames++] = f;
	}
	return CHAT_OK;
}

/* Add one replayed frame; true while the page has room for more. */
static bool add(relay_result *r, relay_frame *f, int64_t created_id, size_t *bytes,
                size_t budget)
{
	if (!f)
		return true;
	if (created_id > r->rp.newest)
		r->rp.newest = created_id;
	if (created_id > r->rp.newest_sent)
		r->rp.newest_sent = created_id;
	r->frames[r->n_frames++] = f;
	*bytes += f->len;
	return *bytes < budget;
}

/* The next page after r->rp.after. */
static chat_err page(chat_db *db, const relay_job *j, relay_result *r)
{
	relay_replay *rp = &r->rp;
	size_t budget = relay_replay_page_bytes(relay_g->cfg), bytes = 0, n = 0, used = 0;
	int rows = rp->rows > 0 ? rp->rows : 1;
	chat_err e;
	bool room = true;
	if (rp->mode == CHAT_REPLAY_EVENTS) {
		chat_event_row *v = NULL;
		e = chat_dal_replay_events(db, j->room_id, rp->after, rp->upto, rows, &v, &n);
		relay_db_note(e, db, "replay");
		if (e != CHAT_OK)
			return e;
		for (; used < n && room; used++) {
			const chat_event_row *row = &v[used];
			relay_frame *f = event_frame(row);
			if (f) {
				f->ev_id = row->ev.id;
				f->room_id = row->ev.room_id;
				f->kind = row->ev.kind;
				f->msg_id = row->ev.ref_id;
			}
			rp->after = row->ev.id;
			room = add(r, f, row->ev.kind == CHAT_EV_MESSAGE_CREATED && f ? row->ev.ref_id : 0,
			           &bytes, budget);
		}
		chat_event_rows_free(v, n);
	} else {
		chat_message *v = NULL;
		e = chat_dal_replay_messages(db, j->room_id, rp->after, rp->upto, rows, &v, &n);
		relay_db_note(e, db, "replay (messages)");
		if (e != CHAT_OK)
			return e;
		for (; used < n && room; used++) {
			relay_frame *f = relay_frame_from_json(chat_json_frame_message("chat_message", &v[used]));
			if (f) {
				f->room_id = j->room_id;
				f->kind = CHAT_EV_MESSAGE_CREATED;
				f->msg_id = v[used].id;
			}
			rp->after = v[used].id;
			room = add(r, f, f ? v[used].id : 0, &bytes, budget);
		}
		chat_messages_free(v, n);
	}
	r->replay_done = (used == n && n < (size_t)rows) || rp->after >= rp->upto;
	/* Next page: about a budget's worth of rows of this page's size. */
	if (used && bytes) {
		size_t per = bytes / used ? bytes / used : 1;
		size_t want = budget / per + 1, max = (size_t)relay_replay_page_rows(relay_g->cfg);
		rp->rows = (int)(want < max ? want : max);
	}
	return CHAT_OK;
}

void relay_job_replay(chat_db *db, relay_job *j)
{
	relay_result *r = relay_result_new(RES_REPLAY, j->conn_id);
	if (!r)
		return;
	r->rp = j->rp;
	int rows = relay_replay_page_rows(relay_g->cfg);
	if (r->rp.rows > rows)
		r->rp.rows = rows;
	r->frames = calloc((size_t)rows + 1, sizeof(*r->frames));
	if (!r->frames) {
		r->err = CHAT_ERR_NOMEM;
		goto post;
	}
	if (!r->rp.planned && (r->err = plan(db, j, r)) != CHAT_OK)
		goto post;
	if (r->rp.mode == CHAT_REPLAY_NONE)
		r->replay_done = true;
	else
		r->err = page(db, j, r);
post:
	relay_post(r);
}
