/* /api/chat/rooms/{id}/members/: list the members (with their online
 * flag), and let the owner add one. */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "chat_dal.h"
#include "chat_json.h"

void api_h_members_list(api_req *r)
{
	chat_room room;
	chat_member *m = NULL;
	size_t n = 0;

	if (api_room_load(r, r->id, &room) != 0)
		return;
	chat_room_clear(&room);
	chat_err e = chat_dal_members_list(r->db, r->id, &m, &n);
	if (e != CHAT_OK) {
		api_respond_chat_err(r, e, NULL);
		return;
	}
	json_object *arr = json_object_new_array_ext((int)n);
	for (size_t i = 0; arr && i < n; i++) {
		json_object *o = chat_json_member(&m[i]);
		if (!o || json_object_array_add(arr, o) != 0) {
			json_object_put(o);
			json_object_put(arr);
			arr = NULL;
		}
	}
	free(m);
	api_respond_json(r, 200, arr);
}

void api_h_members_add(api_req *r)
{
	chat_room room;
	chat_user u;
	chat_role before = CHAT_ROLE_NONE;
	chat_member *m = NULL;
	size_t n = 0;
	int64_t uid = 0;

	if (api_room_load(r, r->id, &room) != 0)
		return;
	chat_role mine = room.role;
	chat_room_clear(&room);
	if (mine != CHAT_ROLE_OWNER) {
		api_respond_chat_err(r, CHAT_ERR_FORBIDDEN, "only the room's owner may add members");
		return;
	}
	if (api_field_id(r, "user_id", true, &uid) < 0)
		return;
	chat_err e = chat_dal_user_by_id(r->db, uid, &u);
	if (e == CHAT_OK && !u.is_active)
		e = CHAT_ERR_NOT_FOUND;
	if (e != CHAT_OK) {
		api_respond_chat_err(r, e, e == CHAT_ERR_NOT_FOUND ? "user_id: no such user" : NULL);
		return;
	}
	e = chat_dal_member_role(r->db, r->id, uid, &before);
	if (e == CHAT_ERR_NOT_FOUND) {
		before = CHAT_ROLE_NONE;
		e = CHAT_OK;
	}
	if (e == CHAT_OK && before == CHAT_ROLE_NONE) {
		e = chat_dal_member_add(r->db, r->id, uid, CHAT_ROLE_MEMBER);
		if (e == CHAT_OK)
			api_notify(r);
	}
	if (e == CHAT_OK)
		e = chat_dal_members_list(r->db, r->id, &m, &n);
	if (e != CHAT_OK) {
		api_respond_chat_err(r, e, NULL);
		return;
	}
	json_object *o = NULL;
	for (size_t i = 0; i < n; i++)
		if (m[i].user.id == uid)
			o = chat_json_member(&m[i]);
	free(m);
	if (!o) {
		/* Removed again between the two statements. */
		api_respond_chat_err(r, CHAT_ERR_CONFLICT, "the user is not a member any more");
		return;
	}
	api_respond_json(r, before == CHAT_ROLE_NONE ? 201 : 200, o);
}
