/* The JSON shapes, built in one place so chat-api and chat-relay emit
 * identical objects. Every builder returns a new json_object the caller
 * owns (json_object_put), or NULL on OOM. */
#ifndef CHAT_JSON_H
#define CHAT_JSON_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "chat_error.h"
#include "chat_types.h"

/* "2025-01-25T15:30:00.000Z" into out (at least 32 bytes). */
void chat_json_timestamp(int64_t ms, char *out, size_t outsz);

/* {"id","username"} */
json_object *chat_json_user(const chat_user_ref *u);
/* {"id","room_id","content","message_type","timestamp","sender",
 *  "client_id"? (when set), "edited_at"? (when edited)} */
json_object *chat_json_message(const chat_message *m);
/* {"id","name","description","is_private","created_by","created_at",
 *  "unread_count","last_message" (message or null), "role" (or null),
 *  "is_member" (the viewer's role is not none)} */
json_object *chat_json_room(const chat_room *r);
/* {"id","username","role","online"} */
json_object *chat_json_member(const chat_member *m);
/* {"user":{...},"read_at"} */
json_object *chat_json_read(const chat_read *r);

/* WebSocket frames (server to client). */
json_object *chat_json_frame_established(const chat_user_ref *u, const chat_user_ref *online,
                                         size_t n_online);
/* type is "chat_message" or "message_updated": {"type",message:{...}} */
json_object *chat_json_frame_message(const char *type, const chat_message *m);
json_object *chat_json_frame_deleted(int64_t message_id);
json_object *chat_json_frame_read(int64_t message_id, const chat_user_ref *u);
/* type is "user_join" or "user_leave" */
json_object *chat_json_frame_user(const char *type, const chat_user_ref *u);
json_object *chat_json_frame_typing(const chat_user_ref *u, bool is_typing);
json_object *chat_json_frame_error(const char *message, const char *code);
json_object *chat_json_frame_sync_done(int64_t last_id);
json_object *chat_json_frame_resync_required(int64_t last_id);

/* Parse buf[0..len) as exactly one JSON text under RFC 8259, strictly:
 * white space only around the value (no BOM), no NaN/Infinity, no
 * leading zeros or '+', no trailing commas, no comments, no single
 * quotes, no control characters or invalid escapes in strings, every
 * byte valid UTF-8 (any code point: Chinese, emoji, right-to-left text
 * pass byte for byte), containers nested at most max_depth deep. The
 * check is our own (json-c's JSON_TOKENER_STRICT refuses every non-ASCII
 * string in json-c 0.18); json-c then builds the value. CHAT_OK with
 * *out (the caller's; NULL for the JSON null), CHAT_ERR_INVALID with a
 * sentence naming the problem and its byte offset in detail (always
 * terminated), CHAT_ERR_NOMEM. Used by chat-api for bodies and by the
 * relay for frames. */
chat_err chat_json_parse(const char *buf, size_t len, int max_depth, json_object **out,
                         char *detail, size_t detail_sz);

/* Compact serialization without escaping '/'; the string belongs to obj. */
const char *chat_json_string(json_object *obj, size_t *len);

#endif
