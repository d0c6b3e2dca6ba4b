/* /api/chat/rooms/{id}/members/: list the members (with their online
 * flag), and let the owner add one. */
#include <config.h>

#include <stdio.h>
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

/* The user to add: {"user_id":N} or {"username":"..."} (one of them).
 * Returns 0 with *uid, or -1 after answering 400/404/503. The anonymous
 * user (id 1) is never a member: it cannot log in, and in a private room
 * it would open the room to every connection without a token. */
static int member_to_add(api_req *r, int64_t *uid)
{
	const char *name = NULL;
	size_t nlen = 0;
	chat_user u;
	chat_err e;

	int has_id = api_field_id(r, "user_id", false, uid);
	if (has_id < 0)
		return -1;
	int has_name = api_field_string(r, "username", false, &name, &nlen);
	if (has_name < 0)
		return -1;
	if (has_id && has_name) {
		api_respond_error(r, 400, "give user_id or username, not both");
		return -1;
	}
	if (!has_id && !has_name) {
		api_respond_error(r, 400, "user_id: this field is required (or give username)");
		return -1;
	}
	const char *field = has_id ? "user_id" : "username";
	if (has_name) {
		if (nlen == 0) {
			api_respond_error(r, 400, "username: must not be empty");
			return -1;
		}
		/* A NUL inside, or longer than any name: nobody has it. */
		e = strlen(name) != nlen || nlen >= sizeof(u.username)
		        ? CHAT_ERR_NOT_FOUND
		        : chat_dal_user_by_name(r->db, name, &u);
	} else {
		e = chat_dal_user_by_id(r->db, *uid, &u);
	}
	if (e == CHAT_OK)
		memset(u.password_hash, 0, sizeof(u.password_hash));
	if (e == CHAT_OK && u.id == CHAT_ANONYMOUS_USER_ID) {
		char d[96];
		snprintf(d, sizeof(d), "%s: the anonymous user cannot be a member of a room", field);
		api_respond_error(r, 400, d);
		return -1;
	}
	if (e == CHAT_OK && !u.is_active)
		e = CHAT_ERR_NOT_FOUND;
	if (e != CHAT_OK) {
		char d[64];
		snprintf(d, sizeof(d), "%s: no such user", field);
		api_respond_chat_err(r, e, e == CHAT_ERR_NOT_FOUND ? d : NULL);
		return -1;
	}
	*uid = u.id;
	return 0;
}

void api_h_members_add(api_req *r)
{
	chat_room room;
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
	if (member_to_add(r, &uid) != 0)
		return;
	chat_err e = chat_dal_member_role(r->db, r->id, uid, &before);
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
