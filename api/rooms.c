/* /api/chat/rooms/ and /api/chat/rooms/{id}/ (+ join, leave), and the
 * visibility rule every room-scoped handler applies: a public room is
 * visible to every authenticated user, a private one to its members only;
 * to anyone else it does not exist (404). */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "chat_dal.h"
#include "chat_json.h"
#include "chat_utf8.h"
#include "chat_validate.h"

int api_room_load(api_req *r, int64_t room_id, chat_room *out)
{
	memset(out, 0, sizeof(*out));
	chat_err e = chat_dal_room_get(r->db, room_id, r->user.id, out);
	if (e == CHAT_OK && !chat_room_visible(out)) {
		chat_room_clear(out);
		e = CHAT_ERR_NOT_FOUND;
	}
	if (e != CHAT_OK) {
		api_respond_chat_err(r, e, NULL);
		return -1;
	}
	return 0;
}

int api_message_load(api_req *r, int64_t message_id, chat_message *msg, chat_room *room)
{
	memset(msg, 0, sizeof(*msg));
	chat_err e = chat_dal_message_get(r->db, message_id, msg);
	if (e != CHAT_OK) {
		api_respond_chat_err(r, e, NULL);
		return -1;
	}
	if (api_room_load(r, msg->room_id, room) != 0) {
		chat_message_clear(msg);
		return -1;
	}
	return 0;
}

/* Answer with the room as the caller now sees it, shaped as in the list
 * (unread count and last message included). 404 when the caller cannot
 * see it. */
static void respond_room(api_req *r, int status, int64_t room_id)
{
	chat_room room;
	chat_err e = chat_dal_room_view(r->db, room_id, r->user.id, &room);
	if (e != CHAT_OK) {
		api_respond_chat_err(r, e, NULL);
		return;
	}
	if (chat_room_visible(&room))
		api_respond_json(r, status, chat_json_room(&room));
	else
		api_respond_chat_err(r, CHAT_ERR_NOT_FOUND, NULL);
	chat_room_clear(&room);
}

static int field_detail(api_req *r, const char *name, const char *detail)
{
	char d[200];
	snprintf(d, sizeof(d), "%s: %s", name, detail);
	api_respond_error(r, 400, d);
	return -1;
}

/* ---- the room list: ?limit=, ?after= (cursor: a room id), ?search= ---- */

#define ROOMS_SEARCH_BUF (CHAT_ROOMNAME_MAX_CHARS * 4 + 1)

/* search: "" when absent; at most a room name long, valid UTF-8. -1
 * after 400. */
static int list_search(api_req *r, char *buf, size_t bufsz)
{
	int got = api_query_get(r, "search", buf, bufsz);
	if (got == 0) {
		buf[0] = '\0';
		return 0;
	}
	size_t len = got > 0 ? strlen(buf) : 0;
	if (got < 0 || chat_utf8_count(buf, len) > CHAT_ROOMNAME_MAX_CHARS ||
	    !chat_utf8_valid(buf, len)) {
		char d[96];
		snprintf(d, sizeof(d), "search: must be valid UTF-8 of at most %d characters",
		         CHAT_ROOMNAME_MAX_CHARS);
		api_respond_error(r, 400, d);
		return -1;
	}
	return 0;
}

/* Percent-encode s into out for a query string; false when it does not
 * fit. */
static bool url_encode(const char *s, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		             c == '-' || c == '.' || c == '_' || c == '~';
		if (o + (plain ? 1 : 3) >= outsz)
			return false;
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return true;
}

/* Link: </api/chat/rooms/?limit=N&after=ID[&search=S]>; rel="next" */
static void add_next_link(api_req *r, int limit, int64_t last_id, const char *search)
{
	char enc[ROOMS_SEARCH_BUF * 3], link[sizeof(enc) + 128];
	if (!url_encode(search, enc, sizeof(enc)))
		return;
	int w = snprintf(link, sizeof(link), "</api/chat/rooms/?limit=%d&after=%lld%s%s>; rel=\"next\"",
	                 limit, (long long)last_id, enc[0] ? "&search=" : "", enc);
	if (w > 0 && (size_t)w < sizeof(link))
		api_add_header(r, "Link", link);
}

void api_h_rooms_list(api_req *r)
{
	chat_room *rooms = NULL;
	size_t n = 0;
	bool more = false;
	int limit;
	int64_t after;
	char search[ROOMS_SEARCH_BUF];

	if (api_query_limit(r, 0 /* absent: every room */, &limit) != 0 ||
	    api_query_id(r, "after", &after) < 0 ||
	    list_search(r, search, sizeof(search)) != 0)
		return;
	chat_err e = chat_dal_rooms_page(r->db, r->user.id, after, search, limit, &rooms, &n, &more);
	if (e != CHAT_OK) {
		api_respond_chat_err(r, e, NULL);
		return;
	}
	json_object *arr = json_object_new_array_ext((int)n);
	for (size_t i = 0; arr && i < n; i++) {
		json_object *o = chat_json_room(&rooms[i]);
		if (!o || json_object_array_add(arr, o) != 0) {
			json_object_put(o);
			json_object_put(arr);
			arr = NULL;
		}
	}
	if (more && n > 0)
		add_next_link(r, limit, rooms[n - 1].id, search);
	chat_rooms_free(rooms, n);
	api_respond_json(r, 200, arr);
}

/* Name, description and is_private from the body. Returns -1 after 400. */
static int room_fields(api_req *r, bool create, const char **name, const char **desc,
                       int *is_private)
{
	const char *detail;
	size_t len;
	bool b;
	int got;

	*name = NULL;
	*desc = NULL;
	*is_private = -1;
	got = api_field_string(r, "name", create, name, &len);
	if (got < 0)
		return -1;
	if (got > 0 && chat_validate_room_name(*name, len, &detail) != CHAT_OK)
		return field_detail(r, "name", detail);
	got = api_field_string(r, "description", false, desc, &len);
	if (got < 0)
		return -1;
	if (got > 0 && chat_validate_description(*desc, len, &detail) != CHAT_OK)
		return field_detail(r, "description", detail);
	got = api_field_bool(r, "is_private", false, &b);
	if (got < 0)
		return -1;
	if (got > 0)
		*is_private = b;
	return 0;
}

void api_h_rooms_create(api_req *r)
{
	const char *name, *desc;
	int priv;
	chat_room room;

	if (room_fields(r, true, &name, &desc, &priv) != 0)
		return;
	memset(&room, 0, sizeof(room));
	chat_err e = chat_dal_room_create(r->db, name, desc ? desc : "", priv > 0, r->user.id, &room);
	if (e != CHAT_OK) {
		api_respond_chat_err(r, e, e == CHAT_ERR_DUPLICATE ? "name: a room with that name already exists" : NULL);
		return;
	}
	api_respond_json(r, 201, chat_json_room(&room));
	chat_room_clear(&room);
}

void api_h_room_get(api_req *r)
{
	respond_room(r, 200, r->id);
}

/* Load the room and require the caller to own it: 404 when it cannot see
 * it, 403 when it can but does not own it. */
static int load_owned(api_req *r, chat_room *room)
{
	if (api_room_load(r, r->id, room) != 0)
		return -1;
	if (room->role != CHAT_ROLE_OWNER) {
		chat_room_clear(room);
		api_respond_chat_err(r, CHAT_ERR_FORBIDDEN, "only the room's owner may do this");
		return -1;
	}
	return 0;
}

void api_h_room_update(api_req *r)
{
	const char *name, *desc;
	int priv;
	chat_room room;

	if (load_owned(r, &room) != 0)
		return;
	chat_room_clear(&room);
	if (room_fields(r, false, &name, &desc, &priv) != 0)
		return;
	if (name || desc || priv >= 0) {
		chat_err e = chat_dal_room_update(r->db, r->id, name, desc, priv);
		if (e != CHAT_OK) {
			api_respond_chat_err(r, e, e == CHAT_ERR_DUPLICATE ? "name: a room with that name already exists" : NULL);
			return;
		}
		api_notify(r);
	}
	respond_room(r, 200, r->id);
}

void api_h_room_delete(api_req *r)
{
	chat_room room;
	if (load_owned(r, &room) != 0)
		return;
	chat_room_clear(&room);
	chat_err e = chat_dal_room_delete(r->db, r->id);
	if (e != CHAT_OK) {
		api_respond_chat_err(r, e, NULL);
		return;
	}
	api_notify(r);
	api_respond_empty(r, 204);
}

void api_h_room_join(api_req *r)
{
	chat_room room;
	if (api_room_load(r, r->id, &room) != 0)
		return;
	chat_role role = room.role;
	chat_room_clear(&room);
	if (role == CHAT_ROLE_NONE) {
		/* Only a public room: decided again under the room's lock. */
		chat_err e = chat_dal_room_join(r->db, r->id, r->user.id);
		if (e != CHAT_OK) {
			api_respond_chat_err(r, e, NULL);
			return;
		}
		api_notify(r);
	}
	respond_room(r, 200, r->id);
}

void api_h_room_leave(api_req *r)
{
	chat_room room;
	if (api_room_load(r, r->id, &room) != 0)
		return;
	chat_role role = room.role;
	chat_room_clear(&room);
	if (role == CHAT_ROLE_OWNER) {
		api_respond_error(r, 409, "the owner cannot leave the room (delete it instead)");
		return;
	}
	if (role == CHAT_ROLE_NONE) {
		api_respond_error(r, 409, "you are not a member of this room");
		return;
	}
	chat_err e = chat_dal_member_remove(r->db, r->id, r->user.id);
	if (e == CHAT_ERR_NOT_FOUND) {
		api_respond_error(r, 409, "you are not a member of this room");
		return;
	}
	if (e == CHAT_ERR_CONFLICT) {
		api_respond_error(r, 409, "the owner cannot leave the room (delete it instead)");
		return;
	}
	if (e != CHAT_OK) {
		api_respond_chat_err(r, e, NULL);
		return;
	}
	api_notify(r);
	json_object *o = json_object_new_object();
	if (o) {
		json_object_object_add(o, "status", json_object_new_string("left"));
		json_object_object_add(o, "room_id", json_object_new_int64(r->id));
	}
	api_respond_json(r, 200, o);
}
