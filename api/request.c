/* Reading a request: CGI parameters, the path, the query string, the body
 * (size cap, content type, JSON with a depth limit) and body fields with
 * precise error details. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "chat_json.h"
#include "chat_validate.h"

/* A body nobody reads is drained up to this much, so the connection to
 * the web server stays in step; beyond it the request is answered as is. */
#define SKIP_MAX (1024 * 1024)

const char *api_param(const api_req *r, const char *name)
{
	if (!r->fcgi)
		return NULL;
	return FCGX_GetParam(name, r->fcgi->envp);
}

void api_req_init(api_req *r, const api_server *srv, FCGX_Request *fcgi, chat_db *db)
{
	memset(r, 0, sizeof(*r));
	r->srv = srv;
	r->fcgi = fcgi;
	r->db = db;
	r->query = "";

	const char *m = api_param(r, "REQUEST_METHOD");
	r->method = m ? m : "";

	/* REQUEST_URI is what the client asked for, whatever SCRIPT_NAME and
	 * PATH_INFO the web server derived from it. */
	const char *uri = api_param(r, "REQUEST_URI");
	if (uri && uri[0]) {
		const char *q = strchr(uri, '?');
		size_t len = q ? (size_t)(q - uri) : strlen(uri);
		if (len >= sizeof(r->path))
			len = 0; /* absurdly long: matches nothing (404) */
		memcpy(r->path, uri, len);
		r->path[len] = '\0';
		if (q)
			r->query = q + 1;
	} else {
		const char *sn = api_param(r, "SCRIPT_NAME");
		const char *pi = api_param(r, "PATH_INFO");
		int w = snprintf(r->path, sizeof(r->path), "%s%s", sn ? sn : "", pi ? pi : "");
		if (w < 0 || (size_t)w >= sizeof(r->path))
			r->path[0] = '\0';
		const char *qs = api_param(r, "QUERY_STRING");
		if (qs)
			r->query = qs;
	}
	r->origin = api_param(r, "HTTP_ORIGIN");
}

void api_req_clear(api_req *r)
{
	if (r->body)
		json_object_put(r->body);
	r->body = NULL;
}

/* CONTENT_LENGTH as a number: -1 absent, -2 malformed. */
static long long content_length(const api_req *r)
{
	const char *cl = api_param(r, "CONTENT_LENGTH");
	if (!cl || !cl[0])
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(cl, &end, 10);
	if (errno || *end || v < 0)
		return -2;
	return v;
}

int api_skip_body(api_req *r)
{
	long long cl = content_length(r);
	if (cl > r->srv->cfg->api.max_body_size) {
		api_respond_error(r, 413, "request body too large");
		return -1;
	}
	if (!r->fcgi || cl <= 0)
		return 0;
	char buf[4096];
	long long left = cl < SKIP_MAX ? cl : SKIP_MAX;
	while (left > 0) {
		int n = FCGX_GetStr(buf, (int)(left < (long long)sizeof(buf) ? left : (long long)sizeof(buf)),
		                    r->fcgi->in);
		if (n <= 0)
			break;
		left -= n;
	}
	return 0;
}

static bool is_json_type(const char *ct)
{
	static const char want[] = "application/json";
	if (!ct)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, sizeof(want) - 1) != 0)
		return false;
	ct += sizeof(want) - 1;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int api_json_parse(const char *buf, size_t len, json_object **out, char *detail,
                   size_t detail_sz)
{
	json_object *obj = NULL;

	*out = NULL;
	size_t start = 0;
	while (start < len && is_space(buf[start]))
		start++;
	if (start == len) {
		snprintf(detail, detail_sz, "a JSON object body is required");
		return -1;
	}
	if (chat_json_parse(buf, len, API_JSON_MAX_DEPTH, &obj, detail, detail_sz) != CHAT_OK)
		return -1;
	if (!json_object_is_type(obj, json_type_object)) {
		snprintf(detail, detail_sz, "the JSON body must be an object, not %s",
		         json_type_to_name(json_object_get_type(obj)));
		json_object_put(obj);
		return -1;
	}
	*out = obj;
	return 0;
}

int api_read_body(api_req *r)
{
	int max = r->srv->cfg->api.max_body_size;
	long long cl = content_length(r);
	char *buf = NULL;
	size_t len = 0;
	int rc = -1;

	if (cl > max) {
		api_respond_error(r, 413, "request body too large");
		return -1;
	}
	if (cl == -2) {
		api_respond_error(r, 400, "malformed Content-Length");
		return -1;
	}
	if (!is_json_type(api_param(r, "CONTENT_TYPE"))) {
		api_skip_body(r);
		api_respond_error(r, 415, "Unsupported media type: the body must be application/json");
		return -1;
	}
	/* Read at most max + 1 bytes whatever CONTENT_LENGTH said. */
	buf = malloc((size_t)max + 2);
	if (!buf) {
		api_respond_error(r, 503, "out of memory");
		return -1;
	}
	while (r->fcgi && len <= (size_t)max) {
		int n = FCGX_GetStr(buf + len, (int)((size_t)max + 1 - len), r->fcgi->in);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (len > (size_t)max) {
		api_respond_error(r, 413, "request body too large");
		goto out;
	}
	buf[len] = '\0';

	char detail[160];
	json_object *obj = NULL;
	if (api_json_parse(buf, len, &obj, detail, sizeof(detail)) != 0) {
		api_respond_error(r, 400, detail);
		goto out;
	}
	r->body = obj;
	rc = 0;
out:
	free(buf);
	return rc;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..len) into buf ('+' is a space). */
static int url_decode(const char *s, size_t len, char *buf, size_t bufsz)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (i + 2 >= len)
				return -1;
			int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (o + 1 >= bufsz)
			return -1;
		buf[o++] = c;
	}
	buf[o] = '\0';
	return 1;
}

int api_query_get(const api_req *r, const char *name, char *buf, size_t bufsz)
{
	size_t nlen = strlen(name);
	const char *p = r->query;
	while (p && *p) {
		const char *end = strchr(p, '&');
		size_t plen = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', plen);
		size_t klen = eq ? (size_t)(eq - p) : plen;
		if (klen == nlen && memcmp(p, name, nlen) == 0) {
			if (!eq) {
				if (bufsz == 0)
					return -1;
				buf[0] = '\0';
				return 1;
			}
			return url_decode(eq + 1, plen - klen - 1, buf, bufsz);
		}
		p = end ? end + 1 : NULL;
	}
	return 0;
}

int api_query_id(api_req *r, const char *name, int64_t *out)
{
	char buf[32];
	long long v;
	*out = 0;
	int got = api_query_get(r, name, buf, sizeof(buf));
	if (got == 0)
		return 0;
	if (got < 0 || chat_parse_id(buf, strlen(buf), &v) != CHAT_OK) {
		char detail[96];
		snprintf(detail, sizeof(detail), "%s: must be a positive integer", name);
		api_respond_error(r, 400, detail);
		return -1;
	}
	*out = (int64_t)v;
	return 1;
}

static json_object *field(const api_req *r, const char *name)
{
	json_object *v = NULL;
	if (!r->body || !json_object_object_get_ex(r->body, name, &v))
		return NULL;
	return v; /* NULL for JSON null too */
}

static int field_error(api_req *r, const char *name, const char *what)
{
	char detail[160];
	snprintf(detail, sizeof(detail), "%s: %s", name, what);
	api_respond_error(r, 400, detail);
	return -1;
}

int api_field_string(api_req *r, const char *name, bool required, const char **s,
                     size_t *len)
{
	json_object *v = field(r, name);
	if (!v)
		return required ? field_error(r, name, "this field is required") : 0;
	if (!json_object_is_type(v, json_type_string))
		return field_error(r, name, "must be a string");
	*s = json_object_get_string(v);
	*len = (size_t)json_object_get_string_len(v);
	return 1;
}

int api_field_bool(api_req *r, const char *name, bool required, bool *out)
{
	json_object *v = field(r, name);
	if (!v)
		return required ? field_error(r, name, "this field is required") : 0;
	if (!json_object_is_type(v, json_type_boolean))
		return field_error(r, name, "must be true or false");
	*out = json_object_get_boolean(v);
	return 1;
}

int api_field_id(api_req *r, const char *name, bool required, int64_t *out)
{
	json_object *v = field(r, name);
	if (!v)
		return required ? field_error(r, name, "this field is required") : 0;
	if (!json_object_is_type(v, json_type_int))
		return field_error(r, name, "must be a positive integer");
	errno = 0;
	int64_t x = json_object_get_int64(v);
	if (x <= 0 || x == INT64_MAX)
		return field_error(r, name, "must be a positive integer");
	*out = x;
	return 1;
}

int api_query_limit(api_req *r, int dflt, int *limit)
{
	char buf[64];
	*limit = dflt;
	int got = api_query_get(r, "limit", buf, sizeof(buf));
	if (got == 0)
		return 0;
	size_t len = got > 0 ? strlen(buf) : 0;
	bool digits = len > 0 && strspn(buf, "0123456789") == len;
	long v = 0;
	for (size_t i = 0; digits && i < len && v <= API_PAGE_MAX; i++)
		v = v * 10 + (buf[i] - '0');
	if (!digits || v == 0) {
		char d[96];
		snprintf(d, sizeof(d), "limit: must be a positive integer (at most %d are answered)",
		         API_PAGE_MAX);
		api_respond_error(r, 400, d);
		return -1;
	}
	*limit = v > API_PAGE_MAX ? API_PAGE_MAX : (int)v;
	return 0;
}
