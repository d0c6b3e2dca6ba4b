/* Client frames: parse, validate, act. Every refusal is an error frame to
 * the sender alone, with a machine code from the table in docs/protocol.md;
 * the connection stays open. This file is the one place where bad input is
 * mapped to those codes. */
#include "config.h"

#include <json-c/json.h>
#include <string.h>

#include "chat_json.h"
#include "chat_log.h"
#include "chat_utf8.h"
#include "chat_validate.h"
#include "relay.h"

void relay_session_typing(relay_session *s, bool is_typing);

/* A string member: 1 found, 0 absent, -1 present but not a string. */
static int get_string(json_object *o, const char *key, const char **s, size_t *len)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	*s = json_object_get_string(v);
	*len = (size_t)json_object_get_string_len(v);
	return 1;
}

static void bad_field(relay_session *s, const char *field, const char *what)
{
	char msg[160];
	snprintf(msg, sizeof(msg), "Field '%s' %s", field, what);
	relay_session_error(s, msg, "invalid_field");
}

static void missing_field(relay_session *s, const char *field)
{
	char msg[160];
	snprintf(msg, sizeof(msg), "Field '%s' is required", field);
	relay_session_error(s, msg, "missing_field");
}

static void on_chat_message(relay_session *s, json_object *o)
{
	const chat_config *cfg = relay_g->cfg;
	const char *content = NULL, *mtype = NULL, *cid = NULL, *detail = NULL;
	size_t clen = 0, mlen = 0, cidlen = 0;

	int rc = get_string(o, "content", &content, &clen);
	if (rc == 0) {
		missing_field(s, "content");
		return;
	}
	if (rc < 0) {
		bad_field(s, "content", "must be a string");
		return;
	}
	if (clen == 0) {
		relay_session_error(s, "Message content must not be empty", "content_empty");
		return;
	}
	if (memchr(content, '\0', clen)) {
		relay_session_error(s, "Message content must not contain NUL characters",
		                    "invalid_content");
		return;
	}
	if (!chat_utf8_valid(content, clen)) {
		relay_session_error(s, "Message content is not valid UTF-8", "invalid_utf8");
		return;
	}
	if (chat_utf8_count(content, clen) > (size_t)cfg->relay.max_content_length) {
		char msg[128];
		snprintf(msg, sizeof(msg), "Message content longer than %d characters",
		         cfg->relay.max_content_length);
		relay_session_error(s, msg, "content_too_long");
		return;
	}
	if (chat_validate_content(content, clen, cfg->relay.max_content_length, &detail) != CHAT_OK) {
		relay_session_error(s, detail ? detail : "Invalid content", "invalid_content");
		return;
	}

	rc = get_string(o, "message_type", &mtype, &mlen);
	if (rc < 0) {
		bad_field(s, "message_type", "must be a string");
		return;
	}
	if (rc > 0 && chat_validate_message_type(mtype, &detail) != CHAT_OK) {
		relay_session_error(s, "message_type must be one of text, image, file, system",
		                    "invalid_message_type");
		return;
	}

	rc = get_string(o, "client_id", &cid, &cidlen);
	if (rc < 0) {
		bad_field(s, "client_id", "must be a string");
		return;
	}
	if (rc > 0 && chat_validate_client_id(cid, cidlen, &detail) != CHAT_OK) {
		relay_session_error(s, detail ? detail : "Invalid client_id", "invalid_client_id");
		return;
	}

	relay_job *j = relay_job_new(JOB_INSERT);
	if (!j || !(j->content = strndup(content, clen))) {
		relay_job_free(j);
		relay_session_error(s, "Out of memory; the message was not stored", "unavailable");
		return;
	}
	j->conn_id = s->conn_id;
	j->room_id = s->room_id;
	j->user_id = s->user.id;
	snprintf(j->message_type, sizeof(j->message_type), "%s", rc >= 0 && mtype ? mtype : "text");
	if (cid)
		snprintf(j->client_id, sizeof(j->client_id), "%s", cid);
	if (relay_db_submit(j) < 0) {
		relay_session_error(s, "Service busy; the message was not stored", "unavailable");
		return;
	}
	relay_g->pending_inserts++;
	relay_g->m.messages_in_total++;
}

static void on_typing(relay_session *s, json_object *o)
{
	json_object *v;
	if (!json_object_object_get_ex(o, "is_typing", &v)) {
		missing_field(s, "is_typing");
		return;
	}
	if (!json_object_is_type(v, json_type_boolean)) {
		bad_field(s, "is_typing", "must be a boolean");
		return;
	}
	relay_session_typing(s, json_object_get_boolean(v));
}

static void on_explicit(relay_session *s, chat_event_kind kind)
{
	relay_job *j = relay_job_new(JOB_EMIT);
	if (!j)
		return;
	j->conn_id = s->conn_id;
	j->room_id = s->room_id;
	j->user_id = s->user.id;
	j->ev_kind = kind;
	if (relay_db_submit(j) < 0)
		relay_session_error(s, "Service busy, try again later", "unavailable");
}

static void on_sync(relay_session *s, json_object *o)
{
	json_object *v;
	if (!json_object_object_get_ex(o, "last_id", &v)) {
		missing_field(s, "last_id");
		return;
	}
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) {
		bad_field(s, "last_id", "must be a non-negative integer");
		return;
	}
	if (s->replay_pending) {
		relay_session_error(s, "A sync is already in progress", "sync_in_progress");
		return;
	}
	/* Live events are held from now on: they follow the replay, without
	 * duplicates (session.c). */
	relay_session_replay(s, json_object_get_int64(v));
}

void relay_frames_handle(relay_session *s, const char *data, size_t len)
{
	/* data[len] is NUL (session.c). */
	if (!chat_utf8_valid(data, len)) {
		relay_session_error(s, "Frame is not valid UTF-8", "invalid_utf8");
		return;
	}
	/* RFC 8259 strictly, without json-c's strict mode (chat_json.h). */
	json_object *o = NULL;
	char detail[160];
	chat_err jerr = chat_json_parse(data, len, 32, &o, detail, sizeof(detail));
	if (jerr == CHAT_ERR_NOMEM) {
		relay_session_error(s, "Out of memory", "unavailable");
		return;
	}
	if (jerr != CHAT_OK) {
		relay_session_error(s, "Frame is not valid JSON", "invalid_json");
		return;
	}
	if (!o || !json_object_is_type(o, json_type_object)) { /* NULL: the JSON null */
		relay_session_error(s, "Frame must be a JSON object", "invalid_frame");
		goto out;
	}
	const char *type = NULL;
	size_t tlen = 0;
	int rc = get_string(o, "type", &type, &tlen);
	if (rc == 0) {
		relay_session_error(s, "Field 'type' is required", "missing_type");
		goto out;
	}
	if (rc < 0) {
		relay_session_error(s, "Field 'type' must be a string", "invalid_field");
		goto out;
	}
	if (strcmp(type, "chat_message") == 0)
		on_chat_message(s, o);
	else if (strcmp(type, "typing") == 0)
		on_typing(s, o);
	else if (strcmp(type, "user_join") == 0)
		on_explicit(s, CHAT_EV_USER_JOIN);
	else if (strcmp(type, "user_leave") == 0)
		on_explicit(s, CHAT_EV_USER_LEAVE);
	else if (strcmp(type, "sync") == 0)
		on_sync(s, o);
	else
		relay_session_error(s, "Unknown frame type", "unknown_type");
out:
	json_object_put(o);
}
