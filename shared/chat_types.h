/* Plain data the DAL returns and the JSON shapes serialize. Timestamps are
 * milliseconds since the Unix epoch, UTC. Strings in fixed arrays are
 * NUL-terminated UTF-8; the sizes below are bytes (4 per code point). */
#ifndef CHAT_TYPES_H
#define CHAT_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHAT_USERNAME_MAX_CHARS 150
#define CHAT_USERNAME_BUF (CHAT_USERNAME_MAX_CHARS * 4 + 1)
#define CHAT_ROOMNAME_MAX_CHARS 100
#define CHAT_ROOMNAME_BUF (CHAT_ROOMNAME_MAX_CHARS * 4 + 1)
#define CHAT_DESCRIPTION_MAX_CHARS 1000
#define CHAT_CLIENT_ID_MAX_CHARS 64
#define CHAT_CLIENT_ID_BUF (CHAT_CLIENT_ID_MAX_CHARS * 4 + 1)
#define CHAT_PASSWORD_HASH_BUF 256
#define CHAT_MESSAGE_TYPE_BUF 8
#define CHAT_ANONYMOUS_USER_ID 1

/* A user as other people see it: {"id","username"}. */
typedef struct chat_user_ref {
	int64_t id;
	char username[CHAT_USERNAME_BUF];
} chat_user_ref;

typedef struct chat_user {
	int64_t id;
	char username[CHAT_USERNAME_BUF];
	char password_hash[CHAT_PASSWORD_HASH_BUF]; /* "" = cannot log in */
	bool is_active;
	int64_t created_ms;
} chat_user;

typedef enum chat_role {
	CHAT_ROLE_NONE = 0, /* not a member */
	CHAT_ROLE_MEMBER,
	CHAT_ROLE_OWNER,
} chat_role;

/* "owner", "member", or NULL for NONE. */
const char *chat_role_name(chat_role r);

typedef struct chat_message {
	int64_t id;
	int64_t room_id;
	chat_user_ref sender;
	char *content;                           /* owned, heap */
	char message_type[CHAT_MESSAGE_TYPE_BUF]; /* text|image|file|system */
	char client_id[CHAT_CLIENT_ID_BUF];      /* "" = none */
	int64_t created_ms;
	int64_t edited_ms;  /* 0 = never edited */
	int64_t deleted_ms; /* 0 = not deleted */
} chat_message;

/* Free content and zero the struct. Accepts NULL. */
void chat_message_clear(chat_message *m);
/* Clear each and free the array. Accepts NULL. */
void chat_messages_free(chat_message *v, size_t n);

typedef struct chat_room {
	int64_t id;
	char name[CHAT_ROOMNAME_BUF];
	char *description;   /* owned, heap, never NULL after a DAL read */
	bool is_private;
	int64_t created_by;
	int64_t created_ms;
	int64_t last_event_id; /* the room's newest chat_events id (chat_dal_room_get) */
	/* Viewer-dependent, filled by the DAL calls that take a viewer: */
	chat_role role;       /* the viewer's role */
	int64_t unread_count;
	bool has_last_message;
	chat_message last_message;
} chat_room;

void chat_room_clear(chat_room *r);
void chat_rooms_free(chat_room *v, size_t n);

/* Public rooms are visible to every authenticated user; private ones to
 * their members only. */
bool chat_room_visible(const chat_room *r);

typedef struct chat_member {
	chat_user_ref user;
	chat_role role;
	bool online; /* has a live WebSocket connection in the room (any relay) */
} chat_member;

typedef struct chat_read {
	chat_user_ref user;
	int64_t read_ms;
} chat_read;

typedef struct chat_unread {
	int64_t room_id;
	int64_t unread_count;
} chat_unread;

/* Kinds of rows in chat_events; the names are the strings stored in the
 * kind column. */
typedef enum chat_event_kind {
	CHAT_EV_UNKNOWN = 0,
	CHAT_EV_MESSAGE_CREATED, /* "message_created": ref_id = message id */
	CHAT_EV_MESSAGE_UPDATED, /* "message_updated": ref_id = message id */
	CHAT_EV_MESSAGE_DELETED, /* "message_deleted": ref_id = message id */
	CHAT_EV_MESSAGE_READ,    /* "message_read": ref_id = message id, user_id = reader */
	CHAT_EV_MEMBER_JOINED,   /* "member_joined": user_id */
	CHAT_EV_MEMBER_LEFT,     /* "member_left": user_id */
	CHAT_EV_ROOM_UPDATED,    /* "room_updated" */
	CHAT_EV_ROOM_DELETED,    /* "room_deleted" */
	CHAT_EV_PRESENCE_JOIN,   /* "presence_join": user's first live connection to the room */
	CHAT_EV_PRESENCE_LEAVE,  /* "presence_leave": user's last live connection closed */
	CHAT_EV_TYPING,          /* "typing": user_id; ref_id bit 0 = typing (1) or stopped (0),
	                          * the higher bits name the typing connection
	                          * (relay instance << 24 | connection number) */
	CHAT_EV_USER_JOIN,       /* "user_join": explicit frame from a client */
	CHAT_EV_USER_LEAVE,      /* "user_leave": explicit frame from a client */
} chat_event_kind;

const char *chat_event_kind_name(chat_event_kind k);
chat_event_kind chat_event_kind_parse(const char *s);

typedef struct chat_event {
	int64_t id;
	int64_t room_id;
	chat_event_kind kind;
	int64_t ref_id;  /* 0 = none */
	int64_t user_id; /* 0 = none */
	int64_t created_ms;
} chat_event;

#endif
