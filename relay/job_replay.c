/* Resume: the frames of a replay (?last_id= at open, or a sync frame). */
#include "config.h"

#include <stdlib.h>

#include "chat_dal.h"
#include "chat_json.h"
#include "jobs.h"

static relay_frame *event_frame(const chat_event_row *row)
{
	switch (row->ev.kind) {
	case CHAT_EV_MESSAGE_CREATED:
		return row->has_message ? relay_frame_from_json(chat_json_frame_message(
		                              "chat_message", &row->message))
		                        : NULL;
	case CHAT_EV_MESSAGE_UPDATED:
		return row->has_message ? relay_frame_from_json(chat_json_frame_message(
		                              "message_updated", &row->message))
		                        : NULL;
	case CHAT_EV_MESSAGE_DELETED:
		return relay_frame_from_json(chat_json_frame_deleted(row->ev.ref_id));
	default:
		return NULL;
	}
}

/* Replay from the messages table (the event log was purged, or the client
 * asks for everything): the live messages after last_id, oldest first, in
 * their current state; more than limit: resync_required and the newest
 * limit. */
static chat_err replay_from_messages(chat_db *db, relay_result *r, int64_t room_id,
                                     int64_t last_id, int limit, int64_t room_newest,
                                     int64_t max_ev)
{
	chat_message *v = NULL;
	size_t n = 0;
	bool more = false;
	chat_err e = chat_dal_messages_page(db, room_id, 0, last_id, limit, &v, &n, &more);
	relay_db_note(e, db, "replay (messages)");
	if (e != CHAT_OK)
		return e;
	bool truncated = more;
	if (last_id > 0 && more) { /* too many missing: the newest limit */
		chat_messages_free(v, n);
		v = NULL;
		n = 0;
		e = chat_dal_messages_page(db, room_id, 0, 0, limit, &v, &n, &more);
		if (e != CHAT_OK)
			return e;
	}
	r->frames = calloc(n + 2, sizeof(*r->frames));
	if (!r->frames) {
		chat_messages_free(v, n);
		return CHAT_ERR_NOMEM;
	}
	if (truncated)
		r->frames[r->n_frames++] =
			relay_frame_from_json(chat_json_frame_resync_required(last_id));
	int64_t newest = last_id, newest_replayed = 0;
	for (size_t i = 0; i < n; i++) {
		relay_frame *f = relay_frame_from_json(chat_json_frame_message("chat_message", &v[i]));
		if (!f)
			continue;
		f->room_id = room_id;
		f->kind = CHAT_EV_MESSAGE_CREATED;
		f->msg_id = v[i].id;
		if (v[i].id > newest)
			newest = v[i].id;
		if (v[i].id > newest_replayed)
			newest_replayed = v[i].id;
		r->frames[r->n_frames++] = f;
	}
	r->frames[r->n_frames++] = relay_frame_from_json(chat_json_frame_sync_done(newest));
	r->replay_max_ev = max_ev;
	int64_t known = last_id < room_newest ? last_id : room_newest;
	r->replay_last_msg = newest_replayed > known ? newest_replayed : known;
	r->has_replay = true;
	chat_messages_free(v, n);
	return CHAT_OK;
}

/* Fill r with the replay of room after message last_id: resync_required
 * (if truncated), the frames, sync_done. */
chat_err relay_replay_fill(chat_db *db, relay_result *r, int64_t room_id, int64_t last_id)
{
	/* The room's newest message, read before the replay: live messages at
	 * or below min(last_id, it) are the client's already. Not last_id
	 * alone: one above every stored id (a stale client, the old timestamp
	 * ids) must not hide the messages stored from now on. */
	int64_t room_newest = 0;
	chat_message *page = NULL;
	size_t np = 0;
	bool more = false;
	if (chat_dal_messages_page(db, room_id, 0, 0, 1, &page, &np, &more) == CHAT_OK && np)
		room_newest = page[0].id;
	chat_messages_free(page, np);

	chat_event_row *rows = NULL;
	size_t n = 0;
	bool truncated = false;
	int limit = relay_g->cfg->relay.replay_limit;
	chat_err e = chat_dal_room_replay(db, room_id, last_id, limit, &rows, &n, &truncated);
	relay_db_note(e, db, "replay");
	if (e != CHAT_OK)
		return e;
	if (!truncated) {
		/* Purged event log? If the oldest message after last_id has no
		 * message_created among the rows, the log no longer covers the
		 * gap: replay from the messages table instead. */
		int64_t first_created = 0, max_ev = 0;
		for (size_t i = 0; i < n; i++) {
			if (rows[i].ev.id > max_ev)
				max_ev = rows[i].ev.id;
			if (rows[i].ev.kind == CHAT_EV_MESSAGE_CREATED &&
			    (!first_created || rows[i].ev.ref_id < first_created))
				first_created = rows[i].ev.ref_id;
		}
		chat_message *nx = NULL;
		size_t nn = 0;
		bool hm = false;
		bool hole = last_id == 0; /* "everything": the messages table says it best */
		if (!hole && chat_dal_messages_page(db, room_id, 0, last_id, 1, &nx, &nn, &hm) ==
		                 CHAT_OK && nn)
			hole = !first_created || first_created > nx[0].id;
		chat_messages_free(nx, nn);
		if (hole) {
			chat_event_rows_free(rows, n);
			return replay_from_messages(db, r, room_id, last_id, limit, room_newest, max_ev);
		}
	}
	r->frames = calloc(n + 2, sizeof(*r->frames));
	if (!r->frames) {
		chat_event_rows_free(rows, n);
		return CHAT_ERR_NOMEM;
	}
	int64_t newest = last_id, max_ev = 0, newest_replayed = 0;
	if (truncated)
		r->frames[r->n_frames++] =
			relay_frame_from_json(chat_json_frame_resync_required(last_id));
	for (size_t i = 0; i < n; i++) {
		const chat_event_row *row = &rows[i];
		if (row->ev.id > max_ev)
			max_ev = row->ev.id;
		relay_frame *f = event_frame(row);
		if (!f)
			continue;
		f->ev_id = row->ev.id;
		f->room_id = row->ev.room_id;
		f->kind = row->ev.kind;
		f->msg_id = row->ev.ref_id;
		if (row->ev.kind == CHAT_EV_MESSAGE_CREATED && row->ev.ref_id > newest)
			newest = row->ev.ref_id;
		if (row->ev.kind == CHAT_EV_MESSAGE_CREATED && row->ev.ref_id > newest_replayed)
			newest_replayed = row->ev.ref_id;
		r->frames[r->n_frames++] = f;
	}
	r->frames[r->n_frames++] = relay_frame_from_json(chat_json_frame_sync_done(newest));
	/* a NULL from OOM above is skipped by the loop */
	r->replay_max_ev = max_ev;
	int64_t known = last_id < room_newest ? last_id : room_newest;
	r->replay_last_msg = newest_replayed > known ? newest_replayed : known;
	r->has_replay = true;
	chat_event_rows_free(rows, n);
	return CHAT_OK;
}

void relay_job_replay(chat_db *db, relay_job *j)
{
	relay_result *r = relay_result_new(RES_REPLAY, j->conn_id);
	if (!r)
		return;
	r->err = relay_replay_fill(db, r, j->room_id, j->last_id);
	relay_post(r);
}

