/* The data-access layer: every SQL statement of the project lives in
 * shared/dal_*.c, prepared and parameterised, cached per connection.
 * Functions take a chat_db owned by the calling thread and return a
 * chat_err. Output structs are filled only on CHAT_OK; arrays returned
 * through **out are heap-allocated and freed with the matching *_free().
 *
 * Ordering rule (ARCHITECTURE.md): every write that touches a room first
 * takes that room's row lock (the schema's BEFORE triggers do
 * UPDATE rooms SET last_event_at = ...), so within one room message and
 * event ids commit in id order. Access decisions (visibility, ownership)
 * are the caller's; the DAL only reports roles. */
#ifndef CHAT_DAL_H
#define CHAT_DAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat_db.h"
#include "chat_error.h"
#include "chat_types.h"

/* ---- users ---------------------------------------------------------- */

/* Create an active user. password_hash may be "" (cannot log in).
 * CHAT_ERR_DUPLICATE when the name is taken (names compare
 * case-insensitively). */
chat_err chat_dal_user_create(chat_db *db, const char *username, const char *password_hash,
                              int64_t *id_out);
chat_err chat_dal_user_by_id(chat_db *db, int64_t id, chat_user *out);
chat_err chat_dal_user_by_name(chat_db *db, const char *username, chat_user *out);
/* Find by name and verify the password in constant time. Unknown user,
 * inactive user, user without a password and wrong password all answer
 * CHAT_ERR_AUTH after the same amount of hashing work. */
chat_err chat_dal_user_authenticate(chat_db *db, const char *username, const char *password,
                                    chat_user *out);
/* Users by id, for presence lists; ids not found are left out. */
chat_err chat_dal_users_by_ids(chat_db *db, const int64_t *ids, size_t n, chat_user_ref **out,
                               size_t *nout);

/* ---- revoked refresh tokens (logout) ---------------------------------- */

/* Record token_id (chat_jwt_token_id) of user_id's token valid until
 * expires_s as revoked; already revoked: CHAT_OK. Also deletes a few rows
 * of tokens expired before now_s. */
chat_err chat_dal_token_revoke(chat_db *db, const char *token_id, int64_t user_id,
                               int64_t expires_s, int64_t now_s);
/* *revoked: whether token_id was revoked. */
chat_err chat_dal_token_is_revoked(chat_db *db, const char *token_id, bool *revoked);

/* ---- rooms and membership -------------------------------------------- */

/* Create a room and make owner_id its owner, in one transaction. Fills
 * out (role OWNER, unread 0, no last message). */
chat_err chat_dal_room_create(chat_db *db, const char *name, const char *description,
                              bool is_private, int64_t owner_id, chat_room *out);
/* The room with viewer_id's role in it (viewer_id 0: role NONE) and its
 * newest event id. No unread count or last message. CHAT_ERR_NOT_FOUND if
 * absent. */
chat_err chat_dal_room_get(chat_db *db, int64_t room_id, int64_t viewer_id, chat_room *out);
/* One room as chat_dal_rooms_list shows it (viewer's role, unread_count,
 * last_message), whether or not the viewer may see it: callers decide with
 * chat_room_visible(). CHAT_ERR_NOT_FOUND if absent. */
chat_err chat_dal_room_view(chat_db *db, int64_t room_id, int64_t viewer_id, chat_room *out);
/* Rooms visible to user_id (public ones and those it is a member of),
 * ascending id, each with role, unread_count (others' live messages above
 * the user's read position, 0 if none: a non-member's count is every such
 * message) and last_message (newest live one). Two statements plus one per
 * 32 rooms that have a read position. */
chat_err chat_dal_rooms_list(chat_db *db, int64_t user_id, chat_room **out, size_t *n);
/* Like chat_dal_rooms_list, one page: rooms with id > after_id whose
 * name contains search (NULL or "": any; case-insensitive, LIKE's
 * metacharacters taken literally), at most limit of them (limit <= 0:
 * no limit). *has_more: more such rooms follow the page. */
chat_err chat_dal_rooms_page(chat_db *db, int64_t user_id, int64_t after_id, const char *search,
                             int limit, chat_room **out, size_t *n, bool *has_more);
/* Change fields: NULL name/description and is_private < 0 leave them. */
chat_err chat_dal_room_update(chat_db *db, int64_t room_id, const char *name,
                              const char *description, int is_private);
/* Delete the room with its members, messages and receipts. A
 * room_deleted event is written. */
chat_err chat_dal_room_delete(chat_db *db, int64_t room_id);

/* CHAT_OK with CHAT_ROLE_NONE when not a member (or no such room). */
chat_err chat_dal_member_role(chat_db *db, int64_t room_id, int64_t user_id, chat_role *out);
/* Add as role; already a member: CHAT_OK, role unchanged. No such room or
 * user: CHAT_ERR_NOT_FOUND. */
chat_err chat_dal_member_add(chat_db *db, int64_t room_id, int64_t user_id, chat_role role);
/* Join a public room (a member already: nothing to do). Private and not a
 * member, or no such room: CHAT_ERR_NOT_FOUND. Decided under the room's
 * lock, so a room made private meanwhile refuses. */
chat_err chat_dal_room_join(chat_db *db, int64_t room_id, int64_t user_id);
/* Not a member: CHAT_ERR_NOT_FOUND. Owner: CHAT_ERR_CONFLICT. */
chat_err chat_dal_member_remove(chat_db *db, int64_t room_id, int64_t user_id);
/* Members by join order, with the online flag from live presence. */
chat_err chat_dal_members_list(chat_db *db, int64_t room_id, chat_member **out, size_t *n);

/* ---- messages --------------------------------------------------------- */

typedef struct chat_new_message {
	int64_t room_id;
	int64_t sender_id;
	const char *content;      /* validated UTF-8 */
	const char *message_type; /* NULL = "text" */
	const char *client_id;    /* NULL or "" = none */
	/* The caller has not looked the sender up: the transaction checks
	 * that it exists and is active (CHAT_ERR_AUTH otherwise). chat-api's
	 * posts, which leave that per-request lookup to the batch. */
	bool check_sender;
} chat_new_message;

/* Store one message. The sender must be a member of a private room
 * (checked under the room's lock; else CHAT_ERR_NOT_FOUND, and nothing is
 * stored, retries included); in a public room it becomes a member if it
 * was not one. With a client_id already used by this sender in this room
 * within the last day, nothing is stored: *created = false and out is the
 * stored message, or CHAT_ERR_GONE if that message has been deleted. Else
 * *created = true. A sender to check (check_sender) that does not exist
 * or is inactive: CHAT_ERR_AUTH, before any other answer. No such room or
 * sender: CHAT_ERR_NOT_FOUND; unknown message_type: CHAT_ERR_INVALID. out is always cleared first; free with
 * chat_message_clear(). */
chat_err chat_dal_message_insert(chat_db *db, const chat_new_message *in, chat_message *out,
                                 bool *created);
/* Store n messages in one transaction (the relay's batches). results[i]
 * and created[i] as for chat_dal_message_insert (a client_id repeated
 * inside the batch yields the first one's message); on error (one refused
 * message refuses the batch) nothing is stored and every result is left
 * cleared. The batch's rooms are locked in ascending id order first. */
chat_err chat_dal_messages_insert_batch(chat_db *db, const chat_new_message *in, size_t n,
                                        chat_message *results, bool *created);
/* A message that is not deleted. CHAT_ERR_NOT_FOUND otherwise. */
chat_err chat_dal_message_get(chat_db *db, int64_t id, chat_message *out);
/* Page of a room's live messages in ascending id. before > 0: the newest
 * `limit` with id < before; after > 0: the oldest `limit` with id > after;
 * after == CHAT_PAGE_FROM_OLDEST: the oldest `limit` of the room;
 * neither: the newest `limit`. has_more: more exist beyond the page in the
 * direction of travel (older for newest/before, newer for after). */
#define CHAT_PAGE_FROM_OLDEST ((int64_t)-1)
chat_err chat_dal_messages_page(chat_db *db, int64_t room_id, int64_t before, int64_t after,
                                int limit, chat_message **out, size_t *n, bool *has_more);
/* Replace the content, set edited_at. Fills out with the new state. */
chat_err chat_dal_message_edit(chat_db *db, int64_t id, const char *content, chat_message *out);
/* Soft delete (deleted_at). Already deleted or absent: NOT_FOUND. */
chat_err chat_dal_message_delete(chat_db *db, int64_t id);
/* The same on behalf of user `actor`, whose access to the room is decided
 * again under the room's lock: private and not a member: NOT_FOUND. (Who
 * may edit or delete, sender or owner, is the caller's check: neither
 * changes.) */
chat_err chat_dal_message_edit_by(chat_db *db, int64_t id, int64_t actor, const char *content,
                                  chat_message *out);
chat_err chat_dal_message_delete_by(chat_db *db, int64_t id, int64_t actor);

/* ---- reads -------------------------------------------------------------- */

/* Record user_id's receipt for the message (first read time kept), move
 * its read position in the room up to at least this id, and make it a
 * member of a public room if it was not. Message absent or deleted, room
 * private and user_id not a member (decided under the room's lock), or no
 * such user: CHAT_ERR_NOT_FOUND. A repeated receipt writes no second
 * event. */
chat_err chat_dal_message_mark_read(chat_db *db, int64_t message_id, int64_t user_id);
/* Receipts of a message, oldest first. */
chat_err chat_dal_message_reads(chat_db *db, int64_t message_id, chat_read **out, size_t *n);
/* The user's rooms (memberships) with unread_count > 0, ascending room id.
 * unread = messages from others, not deleted, id above the read position. */
chat_err chat_dal_unread(chat_db *db, int64_t user_id, chat_unread **out, size_t *n);
/* Read position of a user in a room (0 = none). */
chat_err chat_dal_read_position(chat_db *db, int64_t room_id, int64_t user_id, int64_t *out);

/* ---- events (the outbox) ---------------------------------------------- */

/* An event with what it points at, loaded in the same query. */
typedef struct chat_event_row {
	chat_event ev;
	bool has_message;     /* message_* kinds whose message still exists */
	chat_message message; /* its current state (may be deleted: deleted_ms) */
	bool has_actor;
	chat_user_ref actor;  /* ev.user_id's user */
} chat_event_row;

void chat_event_rows_free(chat_event_row *v, size_t n);

/* Highest event id (0 if none). A relay starts following from here. */
chat_err chat_dal_events_max_id(chat_db *db, int64_t *out);
/* Events with id > after_id, ascending, at most limit (<= 0: 500; capped
 * at 10000). */
chat_err chat_dal_events_after(chat_db *db, int64_t after_id, int limit, chat_event_row **out,
                               size_t *n);
/* Events with ids in these ranges (first..last inclusive), ascending;
 * absent ids are left out. n_ranges <= CHAT_RANGES_PER_QUERY. */
#define CHAT_RANGES_PER_QUERY 8
typedef struct chat_id_range {
	int64_t first, last;
} chat_id_range;
chat_err chat_dal_events_in_ranges(chat_db *db, const chat_id_range *r, size_t n_ranges,
                                   chat_event_row **out, size_t *n);
/* A room's events with after < id <= upto, for up to CHAT_SPANS_PER_QUERY
 * rooms at once (ix_chat_events_room: each span is one index range),
 * ascending. */
#define CHAT_SPANS_PER_QUERY 16
typedef struct chat_room_span {
	int64_t room_id, after, upto;
} chat_room_span;
chat_err chat_dal_events_room_spans(chat_db *db, const chat_room_span *s, size_t n_spans,
                                    chat_event_row **out, size_t *n);
/* How many events exist in each of CHAT_BUCKETS buckets of width ids from
 * lo (bucket b: lo + b*width .. lo + (b+1)*width - 1), counting only ids
 * <= hi. counts[] is filled (zeros for empty buckets). One range scan of
 * the primary key, no rows sent but the counts. */
#define CHAT_BUCKETS 1024
chat_err chat_dal_events_bucket_counts(chat_db *db, int64_t lo, int64_t width, int64_t hi,
                                       int64_t *counts);
/* Write an ephemeral event (typing, explicit user_join/user_leave) for a
 * room, taking the room lock like every other writer. No such room:
 * CHAT_ERR_NOT_FOUND. id_out may be NULL. */
chat_err chat_dal_event_emit(chat_db *db, int64_t room_id, chat_event_kind kind, int64_t ref_id,
                             int64_t user_id, int64_t *id_out);
/* Paged resume (the relay). chat_dal_replay_plan decides once what a
 * resume after message last_id sends, as chat_dal_room_replay does, and
 * fixes its upper bound; the pages are then read with
 * chat_dal_replay_events / chat_dal_replay_messages as the client drains
 * them, `after` moving to the last key read. What is planned: the room's
 * message_created/updated/deleted events logged after message last_id was
 * stored (from just before the first logged creation after it if its own
 * was purged), in log order; when the log no longer covers the gap (a
 * newer live message without its creation event), or last_id is 0, the
 * live messages after last_id from the messages table in their current
 * state; more than limit missing: truncated, the newest limit live
 * messages. */
typedef enum chat_replay_mode {
	CHAT_REPLAY_NONE = 0,  /* nothing is missing */
	CHAT_REPLAY_EVENTS,    /* the event log: keys are chat_events ids */
	CHAT_REPLAY_MESSAGES,  /* live messages in their current state: keys are message ids */
} chat_replay_mode;
typedef struct chat_replay_plan {
	chat_replay_mode mode;
	int64_t after, upto;   /* the keys to send: after < key <= upto */
	bool truncated;        /* more than limit missing: the newest limit messages */
	int64_t max_ev;        /* the room's message events at or below this are covered */
	int64_t room_newest;   /* the room's newest live message when planned (0: none) */
} chat_replay_plan;
/* last_id 0 = everything; limit (1..1000000) is the only cap. */
chat_err chat_dal_replay_plan(chat_db *db, int64_t room_id, int64_t last_id, int limit,
                              chat_replay_plan *out);
/* The room's message_created/updated/deleted events after < id <= upto,
 * ascending, at most limit (capped at 1000). */
chat_err chat_dal_replay_events(chat_db *db, int64_t room_id, int64_t after, int64_t upto,
                                int limit, chat_event_row **out, size_t *n);
/* The room's live messages after < id <= upto, ascending, at most limit
 * (capped at 1000). */
chat_err chat_dal_replay_messages(chat_db *db, int64_t room_id, int64_t after, int64_t upto,
                                  int limit, chat_message **out, size_t *n);
/* Delete events older than max_age_s seconds; *deleted gets the count. */
chat_err chat_dal_events_purge(chat_db *db, int max_age_s, int64_t *deleted);

/* ---- presence (live connections, across relay processes and hosts) ----- */

/* Register this relay process; its presence rows hang off the id. */
chat_err chat_dal_instance_register(chat_db *db, const char *hostname, long pid,
                                    int64_t *instance_id);
/* CHAT_ERR_NOT_FOUND: the instance was reaped (its presence rows are
 * gone): register again and re-add the live connections. */
chat_err chat_dal_instance_heartbeat(chat_db *db, int64_t instance_id);
/* Remove instances (and their presence rows, so presence_leave events
 * are written) whose heartbeat is older than max_age_s. */
chat_err chat_dal_instances_reap(chat_db *db, int max_age_s, int *reaped);
/* Remove this instance and all its presence rows (clean shutdown, or a
 * reap), each row with its presence_leave: the instance row goes last,
 * only once no row is left (locked against new ones), so the foreign
 * key's cascade (which fires no trigger) never removes one. A relay still
 * adding rows after several rounds: CHAT_ERR_CONFLICT, the instance stays. */
chat_err chat_dal_instance_unregister(chat_db *db, int64_t instance_id);
/* A live connection opened/closed. The schema's triggers write
 * presence_join on a user's first row in a room and presence_leave when
 * its last row goes. */
chat_err chat_dal_presence_add(chat_db *db, int64_t instance_id, int64_t room_id, int64_t user_id,
                               int64_t *presence_id);
/* Several connections in one transaction (one commit for a burst of
 * connects). All or nothing: an error (a room deleted meanwhile:
 * CHAT_ERR_NOT_FOUND) adds none and zeroes presence_ids. */
typedef struct chat_presence_req {
	int64_t room_id, user_id;
} chat_presence_req;
chat_err chat_dal_presence_add_many(chat_db *db, int64_t instance_id, const chat_presence_req *req,
                                    size_t n, int64_t *presence_ids);
/* CHAT_ERR_NOT_FOUND when the row is already gone (reaped, room deleted). */
chat_err chat_dal_presence_remove(chat_db *db, int64_t presence_id);
/* Several rows in one transaction; rows already gone are skipped
 * (*removed counts the others). */
chat_err chat_dal_presence_remove_many(chat_db *db, const int64_t *presence_ids, size_t n,
                                       size_t *removed);
/* Distinct users with a live connection to the room, ascending id. */
chat_err chat_dal_presence_online(chat_db *db, int64_t room_id, chat_user_ref **out, size_t *n);
/* The same for several rooms in one statement: rows (room, user) by
 * ascending room, then user id; room_ids distinct, in any order.
 * *out is freed by the caller (NULL when *n is 0). */
typedef struct chat_online_ref {
	int64_t room_id;
	chat_user_ref user;
} chat_online_ref;
chat_err chat_dal_presence_online_rooms(chat_db *db, const int64_t *room_ids, size_t n,
                                        chat_online_ref **out, size_t *nout);

/* ---- connections being opened (a batch at a time) ---------------------- */

typedef struct chat_connect_req {
	int64_t user_id, room_id;
} chat_connect_req;
typedef struct chat_connect_info {
	bool user_found, user_active;
	chat_user_ref user;           /* when user_found */
	bool room_found, room_private; /* the room as it is now */
	bool member;                  /* of a private room (not looked up for a public one) */
} chat_connect_info;
/* The user and room of each of n connections, two statements per 64: out[i]
 * for req[i]. An error leaves every out[i] zeroed. */
chat_err chat_dal_connect_lookup(chat_db *db, const chat_connect_req *req, size_t n,
                                 chat_connect_info *out);

/* ---- schema ------------------------------------------------------------ */

/* Version recorded in schema_version (0 if the table is absent). */
chat_err chat_dal_schema_version(chat_db *db, int *version);

#endif
