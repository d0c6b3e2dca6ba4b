/* Small jobs about a connection's room: events it emits (typing, explicit
 * join/leave), its presence row re-added after a reap, its access
 * checked again after the room changed. */
#include "config.h"

#include <string.h>

#include "chat_dal.h"
#include "jobs.h"

void relay_job_emit(chat_db *db, relay_job *j)
{
	int64_t id = 0;
	chat_err e = chat_dal_event_emit(db, j->room_id, j->ev_kind, j->ref_id, j->user_id, &id);
	relay_db_note(e, db, "emit event");
	if (e == CHAT_OK) {
		relay_jobs_wake();
		return;
	}
	if (j->ev_kind == CHAT_EV_TYPING)
		return; /* a lost typing indicator is not worth an error */
	relay_result *r = relay_result_new(RES_INSERT, j->conn_id);
	if (!r)
		return;
	r->err = e;
	relay_post(r);
}

void relay_job_presence_readd(chat_db *db, relay_job *j)
{
	relay_result *r = relay_result_new(RES_PRESENCE, j->conn_id);
	if (!r)
		return;
	int64_t inst = relay_instance_ensure(db, NULL);
	chat_err e = inst ? chat_dal_presence_add(db, inst, j->room_id, j->user_id, &r->presence_id)
	                  : CHAT_ERR_UNAVAILABLE;
	relay_db_note(e, db, "presence add");
	r->err = e;
	relay_post(r);
}

void relay_job_recheck(chat_db *db, relay_job *j)
{
	relay_result *r = relay_result_new(RES_RECHECK, j->conn_id);
	if (!r)
		return;
	chat_room room;
	memset(&room, 0, sizeof(room));
	chat_err e = chat_dal_room_get(db, j->room_id, j->user_id, &room);
	relay_db_note(e, db, "room recheck");
	if (e == CHAT_OK && !(chat_room_visible(&room) || room.role != CHAT_ROLE_NONE))
		e = CHAT_ERR_NOT_FOUND;
	r->room_private = e == CHAT_OK && room.is_private;
	r->err = e;
	chat_room_clear(&room);
	relay_post(r);
}

