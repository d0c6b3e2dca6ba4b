/* Read receipts: POST /api/chat/messages/{id}/read/ records one and moves
 * the caller's read position; GET .../reads/ lists them. */
#include <config.h>

#include <stdlib.h>

#include "api.h"
#include "chat_dal.h"
#include "chat_json.h"

void api_h_message_read(api_req *r)
{
	chat_message m;
	chat_room room;

	if (api_message_load(r, r->id, &m, &room) != 0)
		return;
	chat_room_clear(&room);
	chat_message_clear(&m);
	/* The DAL makes the reader a member of a public room. */
	chat_err e = chat_dal_message_mark_read(r->db, r->id, r->user.id);
	if (e != CHAT_OK) {
		api_respond_chat_err(r, e, NULL);
		return;
	}
	api_notify(r);
	json_object *o = json_object_new_object();
	if (o) {
		json_object_object_add(o, "status", json_object_new_string("ok"));
		json_object_object_add(o, "message_id", json_object_new_int64(r->id));
	}
	api_respond_json(r, 200, o);
}

void api_h_message_reads(api_req *r)
{
	chat_message m;
	chat_room room;
	chat_read *reads = NULL;
	size_t n = 0;

	if (api_message_load(r, r->id, &m, &room) != 0)
		return;
	chat_room_clear(&room);
	chat_message_clear(&m);
	chat_err e = chat_dal_message_reads(r->db, r->id, &reads, &n);
	if (e != CHAT_OK) {
		api_respond_chat_err(r, e, NULL);
		return;
	}
	json_object *arr = json_object_new_array_ext((int)n);
	for (size_t i = 0; arr && i < n; i++) {
		json_object *o = chat_json_read(&reads[i]);
		if (!o || json_object_array_add(arr, o) != 0) {
			json_object_put(o);
			json_object_put(arr);
			arr = NULL;
		}
	}
	free(reads);
	api_respond_json(r, 200, arr);
}
