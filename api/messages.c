/* Messages: a room's history and posting to it
 * (/api/chat/rooms/{id}/messages/), and one message
 * (/api/chat/messages/{id}/: get, edit by its sender, delete by its
 * sender or the room's owner). Message objects come from
 * chat_json_message, the serializer the relay uses too. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "chat_dal.h"
#include "chat_json.h"
#include "chat_time.h"
#include "chat_validate.h"
#include "page_cache.h"

static int field_detail(api_req *r, const char *name, const char *detail)
{
	char d[200];
	snprintf(d, sizeof(d), "%s: %s", name, detail);
	api_respond_error(r, 400, d);
	return -1;
}

/* after: absent (*after 0), a message id, or 0 = from the oldest message
 * (*after CHAT_PAGE_FROM_OLDEST). -1 after 400. */
static int page_after(api_req *r, int64_t *after)
{
	char buf[32];
	long long v = 0;
	*after = 0;
	int got = api_query_get(r, "after", buf, sizeof(buf));
	if (got == 0)
		return 0;
	if (got > 0 && strcmp(buf, "0") == 0) {
		*after = CHAT_PAGE_FROM_OLDEST;
		return 0;
	}
	if (got < 0 || chat_parse_id(buf, strlen(buf), &v) != CHAT_OK) {
		api_respond_error(r, 400, "after: must be 0 (from the oldest) or a message id");
		return -1;
	}
	*after = (int64_t)v;
	return 0;
}

void api_h_messages_list(api_req *r)
{
	chat_room room;
	int limit;
	int64_t before, after;
	chat_message *msgs = NULL;
	size_t n = 0, len = 0;
	bool more = false;
	const char *body = NULL;

	if (api_room_load(r, r->id, &room) != 0)
		return;
	int64_t tag = room.last_event_id; /* read before the page: page_cache.h */
	chat_room_clear(&room);
	if (api_query_limit(r, API_PAGE_DEFAULT, &limit) != 0 ||
	    api_query_id(r, "before", &before) < 0 ||
	    page_after(r, &after) < 0)
		return;
	if (before && after) {
		api_respond_error(r, 400, "before and after cannot be used together");
		return;
	}
	page_key key = { r->id, before, after, limit };
	int64_t now = chat_time_mono_ms();
	char *hit = page_cache_get(&key, tag, now, &len);
	if (hit) {
		api_respond_body(r, 200, hit, len);
		free(hit);
		return;
	}
	chat_err e = chat_dal_messages_page(r->db, r->id, before, after, limit, &msgs, &n, &more);
	if (e != CHAT_OK) {
		api_respond_chat_err(r, e, NULL);
		return;
	}
	json_object *o = json_object_new_object();
	json_object *arr = json_object_new_array_ext((int)n);
	if (!o || !arr) {
		json_object_put(arr);
		json_object_put(o);
		o = NULL;
		goto out;
	}
	json_object_object_add(o, "results", arr);
	json_object_object_add(o, "has_more", json_object_new_boolean(more));
	for (size_t i = 0; i < n; i++) {
		json_object *m = chat_json_message(&msgs[i]);
		if (!m || json_object_array_add(arr, m) != 0) {
			json_object_put(m);
			json_object_put(o);
			o = NULL;
			break;
		}
	}
	body = o ? chat_json_string(o, &len) : NULL;
	if (body) {
		page_cache_put(&key, tag, now, body, len);
		api_respond_body(r, 200, body, len);
		json_object_put(o);
		o = NULL;
	}
out:
	chat_messages_free(msgs, n);
	if (!body)
		api_respond_json(r, 200, o); /* NULL: the out-of-memory answer */
}

static int content_field(api_req *r, const char **content)
{
	size_t len;
	const char *detail;
	if (api_field_string(r, "content", true, content, &len) < 0)
		return -1;
	if (chat_validate_content(*content, len, r->srv->cfg->relay.max_content_length, &detail) !=
	    CHAT_OK)
		return field_detail(r, "content", detail);
	return 0;
}

/* No room lookup first: the DAL decides visibility (no such room, or
 * private and not a member: 404, the same answer as api_room_load's) under
 * the room's lock, in the insert's own transaction, which it shares with
 * the messages other threads post meanwhile (write_batch.c). No user
 * lookup either (API_ROUTE_CALLER_IN_TXN): that transaction checks the
 * sender, and any refusal confirms the caller first. */
void api_h_messages_create(api_req *r)
{
	const char *content, *type = NULL, *client_id = NULL, *detail;
	size_t len;
	chat_message out;
	bool created = false;
	int got;

	if (content_field(r, &content) != 0)
		return;
	got = api_field_string(r, "message_type", false, &type, &len);
	if (got < 0)
		return;
	if (got > 0 && chat_validate_message_type(type, &detail) != CHAT_OK) {
		field_detail(r, "message_type", detail);
		return;
	}
	got = api_field_string(r, "client_id", false, &client_id, &len);
	if (got < 0)
		return;
	if (got > 0 && chat_validate_client_id(client_id, len, &detail) != CHAT_OK) {
		field_detail(r, "client_id", detail);
		return;
	}
	chat_new_message in = {
		.room_id = r->id,
		.sender_id = r->user.id,
		.content = content,
		.message_type = type,
		.client_id = client_id,
		.check_sender = r->confirm_caller != NULL,
	};
	chat_err e = api_write_message(r, &in, &out, &created); /* wakes the relays */
	if (e != CHAT_OK) {
		api_respond_chat_err(r, e, NULL);
		return;
	}
	api_respond_json(r, created ? 201 : 200, chat_json_message(&out));
	chat_message_clear(&out);
}

void api_h_message_get(api_req *r)
{
	chat_message m;
	chat_room room;
	if (api_message_load(r, r->id, &m, &room) != 0)
		return;
	chat_room_clear(&room);
	api_respond_json(r, 200, chat_json_message(&m));
	chat_message_clear(&m);
}

void api_h_message_update(api_req *r)
{
	chat_message m, out;
	chat_room room;
	const char *content;

	if (api_message_load(r, r->id, &m, &room) != 0)
		return;
	chat_room_clear(&room);
	bool mine = m.sender.id == r->user.id;
	chat_message_clear(&m);
	if (!mine) {
		api_respond_chat_err(r, CHAT_ERR_FORBIDDEN, "only the sender may edit a message");
		return;
	}
	if (content_field(r, &content) != 0)
		return;
	memset(&out, 0, sizeof(out));
	chat_err e = chat_dal_message_edit_by(r->db, r->id, r->user.id, content, &out);
	if (e != CHAT_OK) {
		api_respond_chat_err(r, e, NULL);
		return;
	}
	api_notify(r);
	api_respond_json(r, 200, chat_json_message(&out));
	chat_message_clear(&out);
}

void api_h_message_delete(api_req *r)
{
	chat_message m;
	chat_room room;

	if (api_message_load(r, r->id, &m, &room) != 0)
		return;
	bool allowed = m.sender.id == r->user.id || room.role == CHAT_ROLE_OWNER;
	chat_room_clear(&room);
	chat_message_clear(&m);
	if (!allowed) {
		api_respond_chat_err(r, CHAT_ERR_FORBIDDEN,
		                     "only the sender or the room's owner may delete a message");
		return;
	}
	chat_err e = chat_dal_message_delete_by(r->db, r->id, r->user.id);
	if (e != CHAT_OK) {
		api_respond_chat_err(r, e, NULL);
		return;
	}
	api_notify(r);
	api_respond_empty(r, 204);
}
