/* The JSON shapes of the contract, built in one place. Every builder
 * either returns a complete object or NULL (out of memory): the helpers
 * below release what was built so far on the first failure. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
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
	     (role ? add_str(o, "role", role) : add_null(o, "role")) &&
	     add_bool(o, "is_member", r->role != CHAT_ROLE_NONE);
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

/* ---- strict parsing ------------------------------------------------------ */

#define PARSE_DEPTH_CAP 512

typedef struct jscan {
	const unsigned char *b;
	size_t len, i;
	const char *err; /* first problem, NULL while fine */
	size_t at;       /* its byte offset */
} jscan;

static bool fail(jscan *s, const char *what)
{
	if (!s->err) {
		s->err = what;
		s->at = s->i;
	}
	return false;
}

static void skip_ws(jscan *s)
{
	while (s->i < s->len &&
	       (s->b[s->i] == ' ' || s->b[s->i] == '\t' || s->b[s->i] == '\n' || s->b[s->i] == '\r'))
		s->i++;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* One UTF-8 sequence starting at s->i (a byte >= 0x80): shortest form,
 * no surrogates, at most U+10FFFF. */
static bool scan_utf8(jscan *s)
{
	const unsigned char *p = s->b + s->i;
	size_t left = s->len - s->i, n;
	uint32_t cp;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
	} else {
		return fail(s, "invalid UTF-8 in a string");
	}
	if (left < n)
		return fail(s, "invalid UTF-8 in a string");
	for (size_t k = 1; k < n; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return fail(s, "invalid UTF-8 in a string");
		cp = (cp << 6) | (p[k] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return fail(s, "invalid UTF-8 in a string");
	s->i += n;
	return true;
}

/* A string; s->i at its opening quote. */
static bool scan_string(jscan *s)
{
	s->i++;
	while (s->i < s->len) {
		unsigned char c = s->b[s->i];
		if (c == '"') {
			s->i++;
			return true;
		}
		if (c < 0x20)
			return fail(s, "control character in a string (escape it)");
		if (c >= 0x80) {
			if (!scan_utf8(s))
				return false;
			continue;
		}
		if (c == '\\') {
			s->i++;
			if (s->i >= s->len)
				break;
			c = s->b[s->i];
			if (c == 'u') {
				for (int k = 1; k <= 4; k++)
					if (s->i + (size_t)k >= s->len || !is_hex(s->b[s->i + (size_t)k]))
						return fail(s, "\\u must be followed by four hex digits");
				s->i += 4;
			} else if (!strchr("\"\\/bfnrt", c) || c == '\0') {
				return fail(s, "invalid escape in a string");
			}
		}
		s->i++;
	}
	return fail(s, "unterminated string");
}

static bool digits(jscan *s)
{
	size_t from = s->i;
	while (s->i < s->len && is_digit(s->b[s->i]))
		s->i++;
	return s->i > from;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool scan_number(jscan *s)
{
	if (s->b[s->i] == '-')
		s->i++;
	if (s->i < s->len && s->b[s->i] == 'I')
		return fail(s, "NaN and Infinity are not JSON numbers");
	if (s->i < s->len && s->b[s->i] == '0') {
		s->i++;
		if (s->i < s->len && is_digit(s->b[s->i]))
			return fail(s, "numbers take no leading zeros");
	} else if (!digits(s)) {
		return fail(s, "invalid number");
	}
	if (s->i < s->len && s->b[s->i] == '.') {
		s->i++;
		if (!digits(s))
			return fail(s, "invalid number: digits must follow the decimal point");
	}
	if (s->i < s->len && (s->b[s->i] == 'e' || s->b[s->i] == 'E')) {
		s->i++;
		if (s->i < s->len && (s->b[s->i] == '+' || s->b[s->i] == '-'))
			s->i++;
		if (!digits(s))
			return fail(s, "invalid number: digits must follow the exponent");
	}
	return true;
}

static bool scan_literal(jscan *s, const char *word)
{
	size_t n = strlen(word);
	if (s->len - s->i < n || memcmp(s->b + s->i, word, n) != 0)
		return fail(s, "unexpected characters (not true, false or null)");
	s->i += n;
	return true;
}

/* The start of a value at s->i: a scalar scanned whole, or the opening
 * of a container (pushed). */
static bool scan_value(jscan *s, unsigned char *stack, int *depth, int max_depth)
{
	if (s->i >= s->len)
		return fail(s, "unexpected end of input");
	unsigned char c = s->b[s->i];
	switch (c) {
	case '{':
	case '[':
		if (*depth >= max_depth)
			return fail(s, "nested too deep");
		stack[(*depth)++] = c;
		s->i++;
		return true;
	case '"':
		return scan_string(s);
	case 't':
		return scan_literal(s, "true");
	case 'f':
		return scan_literal(s, "false");
	case 'n':
		return scan_literal(s, "null");
	case 'N':
	case 'I':
		return fail(s, "NaN and Infinity are not JSON numbers");
	case '/':
	case '#':
		return fail(s, "comments are not allowed in JSON");
	case '\'':
		return fail(s, "strings take double quotes");
	case ']':
	case '}':
		return fail(s, "a value is missing");
	default:
		if (c == '-' || is_digit(c))
			return scan_number(s);
		if (c == ',')
			return fail(s, "a value is missing before ','");
		return fail(s, "unexpected character");
	}
}

/* An object key and its colon; s->i at the key after white space. */
static bool scan_key(jscan *s)
{
	if (s->i >= s->len)
		return fail(s, "unexpected end of input");
	if (s->b[s->i] == '}')
		return fail(s, "trailing comma");
	if (s->b[s->i] == '\'')
		return fail(s, "strings take double quotes");
	if (s->b[s->i] != '"')
		return fail(s, "object keys must be double-quoted strings");
	if (!scan_string(s))
		return false;
	skip_ws(s);
	if (s->i >= s->len || s->b[s->i] != ':')
		return fail(s, "expected ':' after an object key");
	s->i++;
	skip_ws(s);
	return true;
}

/* The whole text; iterative, so deep nesting costs no stack. */
static bool scan_text(jscan *s, int max_depth)
{
	unsigned char stack[PARSE_DEPTH_CAP];
	int depth = 0;

	skip_ws(s);
	if (s->i >= s->len)
		return fail(s, "empty body: a JSON value is required");
	for (;;) {
		size_t before = s->i;
		if (!scan_value(s, stack, &depth, max_depth))
			return false;
		/* Just opened a container: its first key, or its end. */
		if (s->i == before + 1 && (s->b[before] == '{' || s->b[before] == '[')) {
			skip_ws(s);
			char close = s->b[before] == '{' ? '}' : ']';
			if (s->i < s->len && s->b[s->i] == close) {
				depth--;
				s->i++;
			} else if (close == '}') {
				if (!scan_key(s))
					return false;
				continue;
			} else {
				continue;
			}
		}
		/* After a complete value: a comma, the end of containers, or the
		 * end of the text. */
		for (;;) {
			skip_ws(s);
			if (depth == 0) {
				if (s->i < s->len) {
					if (s->b[s->i] == '/' || s->b[s->i] == '#')
						return fail(s, "comments are not allowed in JSON");
					return fail(s, "trailing characters after the value");
				}
				return true;
			}
			unsigned char top = stack[depth - 1];
			char close = top == '{' ? '}' : ']';
			if (s->i >= s->len)
				return fail(s, "unexpected end of input");
			if (s->b[s->i] == close) {
				depth--;
				s->i++;
				continue;
			}
			if (s->b[s->i] == '/' || s->b[s->i] == '#')
				return fail(s, "comments are not allowed in JSON");
			if (s->b[s->i] != ',')
				return fail(s, top == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
			s->i++;
			skip_ws(s);
			if (s->i < s->len && s->b[s->i] == close)
				return fail(s, "trailing comma");
			if (top == '{' && !scan_key(s))
				return false;
			break;
		}
	}
}

chat_err chat_json_parse(const char *buf, size_t len, int max_depth, json_object **out,
                         char *detail, size_t detail_sz)
{
	jscan s = { (const unsigned char *)buf, len, 0, NULL, 0 };
	json_tokener *tok = NULL;
	json_object *obj = NULL;
	chat_err rc = CHAT_ERR_INVALID;

	*out = NULL;
	if (detail_sz)
		detail[0] = '\0';
	if (max_depth > PARSE_DEPTH_CAP)
		max_depth = PARSE_DEPTH_CAP;
	if (max_depth < 1)
		max_depth = 1;
	if (len > INT32_MAX) {
		snprintf(detail, detail_sz, "JSON parse error: input too large");
		return CHAT_ERR_INVALID;
	}
	if (!scan_text(&s, max_depth)) {
		if (strcmp(s.err, "nested too deep") == 0)
			snprintf(detail, detail_sz, "JSON parse error: nested deeper than %d levels",
			         max_depth);
		else if (s.at == 0 && s.i == 0 && len == 0)
			snprintf(detail, detail_sz, "JSON parse error: %s", s.err);
		else
			snprintf(detail, detail_sz, "JSON parse error: %s at byte %zu", s.err, s.at);
		return CHAT_ERR_INVALID;
	}
	/* Valid: json-c builds it (no flags needed, nothing unusual left). */
	tok = json_tokener_new_ex(max_depth + 1);
	if (!tok) {
		snprintf(detail, detail_sz, "out of memory");
		return CHAT_ERR_NOMEM;
	}
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_continue) {
		/* A bare number needs an end marker. */
		obj = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
	}
	if (jerr != json_tokener_success) {
		json_object_put(obj);
		obj = NULL;
		snprintf(detail, detail_sz, "JSON parse error: %s", json_tokener_error_desc(jerr));
		rc = CHAT_ERR_INVALID;
		goto out;
	}
	*out = obj;
	rc = CHAT_OK;
out:
	json_tokener_free(tok);
	return rc;
}
