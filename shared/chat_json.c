/* The JSON shapes of the contract, built in one place. Every builder
 * either returns a complete object or NULL (out of memory): the helpers
 * below release what was built so far on the first failure. */
#include "config.h"

#include <stdio.h>
#include <time.h>

#include "chat_json.h"

#define FRAME_ESTABLISHED_MESSAGE "连接成功"

/* Add v under the literal key k. On failure v is released. */
static bool add(json_object *o, const char *k, json_object *v)
{
	if (!v)
		return false;
	if (json_object_object_add_ex(o, k, v,
	                              JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_KEY_IS_CONSTANT) != 0) {
		json_object_put(v);
		return false;
	}
	return true;
}

/* JSON null, which json-c spells as a NULL value. */
static bool add_null(json_object *o, const char *k)
{
	return json_object_object_add_ex(o, k, NULL,
	                                 JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_KEY_IS_CONSTANT) == 0;
}

static bool add_str(json_object *o, const char *k, const char *s)
{
	return add(o, k, json_object_new_string(s ? s : ""));
}

static bool add_int(json_object *o, const char *k, int64_t v)
{
	return add(o, k, json_object_new_int64(v));
}

static bool add_bool(json_object *o, const char *k, bool v)
{
	return add(o, k, json_object_new_boolean(v));
}

static bool add_time(json_object *o, const char *k, int64_t ms)
{
	char ts[40];

	chat_json_timestamp(ms, ts, sizeof(ts));
	return add_str(o, k, ts);
}

/* Release obj when ok is false; the builders end with "return done(o, ok)". */
static json_object *done(json_object *obj, bool ok)
{
	if (!ok) {
		json_object_put(obj);
		return NULL;
	}
	return obj;
}

void chat_json_timestamp(int64_t ms, char *out, size_t outsz)
{
	/* Floor division, so times before 1970 still print correctly. */
	int64_t sec = ms / 1000, rem = ms % 1000;
	time_t t;
	struct tm tm;

	if (rem < 0) {
		rem += 1000;
		sec--;
	}
	t = (time_t)sec;
	if (!gmtime_r(&t, &tm)) {
		snprintf(out, outsz, "1970-01-01T00:00:00.000Z");
		return;
	}
	snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)rem);
}

json_object *chat_json_user(const chat_user_ref *u)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	return done(o, add_int(o, "id", u->id) && add_str(o, "username", u->username));
}

json_object *chat_json_message(const chat_message *m)
{
	json_object *o = json_object_new_object();
	bool ok;

	if (!o)
		return NULL;
	ok = add_int(o, "id", m->id) && add_int(o, "room_id", m->room_id) &&
	     add_str(o, "content", m->content) && add_str(o, "message_type", m->message_type) &&
	     add_time(o, "timestamp", m->created_ms) && add(o, "sender", chat_json_user(&m->sender));
	if (ok && m->client_id[0])
		ok = add_str(o, "client_id", m->client_id);
	if (ok && m->edited_ms)
		ok = add_time(o, "edited_at", m->edited_ms);
	return done(o, ok);
}

json_object *chat_json_room(const chat_room *r)
{
	json_object *o = json_object_new_object();
	const char *role = chat_role_name(r->role);
	bool ok;

	if (!o)
		return NULL;
	ok = add_int(o, "id", r->id) && add_str(o, "name", r->name) &&
	     add_str(o, "description", r->description) && add_bool(o, "is_private", r->is_private) &&
	     add_int(o, "created_by", r->created_by) && add_time(o, "created_at", r->created_ms) &&
	     add_int(o, "unread_count", r->unread_count) &&
	     (r->has_last_message ? add(o, "last_message", chat_json_message(&r->last_message))
	                          : add_null(o, "last_message")) &&
	     (role ? add_str(o, "role", role) : add_null(o, "role"));
	return done(o, ok);
}

json_object *chat_json_member(const chat_member *m)
{
	json_object *o = json_object_new_object();
	const char *role = chat_role_name(m->role);

	if (!o)
		return NULL;
	return done(o, add_int(o, "id", m->user.id) && add_str(o, "username", m->user.username) &&
	               (role ? add_str(o, "role", role) : add_null(o, "role")) &&
	               add_bool(o, "online", m->online));
}

json_object *chat_json_read(const chat_read *r)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	return done(o, add(o, "user", chat_json_user(&r->user)) && add_time(o, "read_at", r->read_ms));
}

/* {"type":type} to start a frame. */
static json_object *frame(const char *type)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	return done(o, add_str(o, "type", type));
}

json_object *chat_json_frame_established(const chat_user_ref *u, const chat_user_ref *online,
                                         size_t n_online)
{
	json_object *o = frame("connection_established");
	json_object *list;
	bool ok;

	if (!o)
		return NULL;
	ok = add_str(o, "message", FRAME_ESTABLISHED_MESSAGE) && add(o, "user", chat_json_user(u)) &&
	     add(o, "online", list = json_object_new_array());
	for (size_t i = 0; ok && i < n_online; i++) {
		json_object *one = chat_json_user(&online[i]);

		ok = one && json_object_array_add(list, one) == 0;
		if (!ok)
			json_object_put(one);
	}
	return done(o, ok);
}

json_object *chat_json_frame_message(const char *type, const chat_message *m)
{
	json_object *o = frame(type);

	if (!o)
		return NULL;
	return done(o, add(o, "message", chat_json_message(m)));
}

json_object *chat_json_frame_deleted(int64_t message_id)
{
	json_object *o = frame("message_deleted");

	if (!o)
		return NULL;
	return done(o, add_int(o, "message_id", message_id));
}

json_object *chat_json_frame_read(int64_t message_id, const chat_user_ref *u)
{
	json_object *o = frame("message_read");

	if (!o)
		return NULL;
	return done(o, add_int(o, "message_id", message_id) && add(o, "user", chat_json_user(u)));
}

json_object *chat_json_frame_user(const char *type, const chat_user_ref *u)
{
	json_object *o = frame(type);

	if (!o)
		return NULL;
	return done(o, add(o, "user", chat_json_user(u)));
}

json_object *chat_json_frame_typing(const chat_user_ref *u, bool is_typing)
{
	json_object *o = frame("typing");

	if (!o)
		return NULL;
	return done(o, add(o, "user", chat_json_user(u)) && add_bool(o, "is_typing", is_typing));
}

json_object *chat_json_frame_error(const char *message, const char *code)
{
	json_object *o = frame("error");

	if (!o)
		return NULL;
	return done(o, add_str(o, "message", message) && (!code || add_str(o, "code", code)));
}

/* {"type":type,"last_id":N} */
static json_object *frame_last_id(const char *type, int64_t last_id)
{
	json_object *o = frame(type);

	if (!o)
		return NULL;
	return done(o, add_int(o, "last_id", last_id));
}

json_object *chat_json_frame_sync_done(int64_t last_id)
{
	return frame_last_id("sync_done", last_id);
}

json_object *chat_json_frame_resync_required(int64_t last_id)
{
	return frame_last_id("resync_required", last_id);
}

const char *chat_json_string(json_object *obj, size_t *len)
{
	size_t n = 0;
	const char *s = json_object_to_json_string_length(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);

	if (len)
		*len = s ? n : 0;
	return s;
}
