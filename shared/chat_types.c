/* Small helpers for the plain data types and the error enum. */
#include <stdlib.h>
#include <string.h>

#include "chat_error.h"
#include "chat_types.h"

const char *chat_err_str(chat_err e)
{
	switch (e) {
	case CHAT_OK: return "ok";
	case CHAT_ERR_NOT_FOUND: return "not found";
	case CHAT_ERR_DUPLICATE: return "duplicate";
	case CHAT_ERR_CONFLICT: return "conflict";
	case CHAT_ERR_FORBIDDEN: return "forbidden";
	case CHAT_ERR_INVALID: return "invalid";
	case CHAT_ERR_AUTH: return "authentication failed";
	case CHAT_ERR_UNAVAILABLE: return "database unavailable";
	case CHAT_ERR_NOMEM: return "out of memory";
	case CHAT_ERR_INTERNAL: return "internal error";
	case CHAT_ERR_GONE: return "deleted";
	}
	return "unknown error";
}

const char *chat_role_name(chat_role r)
{
	switch (r) {
	case CHAT_ROLE_OWNER: return "owner";
	case CHAT_ROLE_MEMBER: return "member";
	case CHAT_ROLE_NONE: break;
	}
	return NULL;
}

void chat_message_clear(chat_message *m)
{
	if (!m)
		return;
	free(m->content);
	memset(m, 0, sizeof(*m));
}

void chat_messages_free(chat_message *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		chat_message_clear(&v[i]);
	free(v);
}

void chat_room_clear(chat_room *r)
{
	if (!r)
		return;
	free(r->description);
	chat_message_clear(&r->last_message);
	memset(r, 0, sizeof(*r));
}

void chat_rooms_free(chat_room *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		chat_room_clear(&v[i]);
	free(v);
}

bool chat_room_visible(const chat_room *r)
{
	return !r->is_private || r->role != CHAT_ROLE_NONE;
}

static const char *const event_kind_names[] = {
	[CHAT_EV_UNKNOWN] = "unknown",
	[CHAT_EV_MESSAGE_CREATED] = "message_created",
	[CHAT_EV_MESSAGE_UPDATED] = "message_updated",
	[CHAT_EV_MESSAGE_DELETED] = "message_deleted",
	[CHAT_EV_MESSAGE_READ] = "message_read",
	[CHAT_EV_MEMBER_JOINED] = "member_joined",
	[CHAT_EV_MEMBER_LEFT] = "member_left",
	[CHAT_EV_ROOM_UPDATED] = "room_updated",
	[CHAT_EV_ROOM_DELETED] = "room_deleted",
	[CHAT_EV_PRESENCE_JOIN] = "presence_join",
	[CHAT_EV_PRESENCE_LEAVE] = "presence_leave",
	[CHAT_EV_TYPING] = "typing",
	[CHAT_EV_USER_JOIN] = "user_join",
	[CHAT_EV_USER_LEAVE] = "user_leave",
};

const char *chat_event_kind_name(chat_event_kind k)
{
	if ((size_t)k >= sizeof(event_kind_names) / sizeof(event_kind_names[0]))
		return "unknown";
	return event_kind_names[k];
}

chat_event_kind chat_event_kind_parse(const char *s)
{
	for (size_t i = 1; i < sizeof(event_kind_names) / sizeof(event_kind_names[0]); i++)
		if (strcmp(s, event_kind_names[i]) == 0)
			return (chat_event_kind)i;
	return CHAT_EV_UNKNOWN;
}
