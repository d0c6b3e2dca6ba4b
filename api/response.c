/* Writing responses: status line, headers (JSON type, CORS, extra lines),
 * body; and the one mapping of chat_err to HTTP status. */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "api.h"
#include "chat_json.h"
#include "chat_log.h"
#include "chat_notify.h"

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "Unknown";
}

int api_status_of(chat_err e)
{
	switch (e) {
	case CHAT_OK: return 200;
	case CHAT_ERR_NOT_FOUND: return 404;
	case CHAT_ERR_GONE: return 404;
	case CHAT_ERR_DUPLICATE: return 409;
	case CHAT_ERR_CONFLICT: return 409;
	case CHAT_ERR_FORBIDDEN: return 403;
	case CHAT_ERR_INVALID: return 400;
	case CHAT_ERR_AUTH: return 401;
	case CHAT_ERR_UNAVAILABLE: return 503;
	case CHAT_ERR_NOMEM: return 503;
	case CHAT_ERR_INTERNAL: return 500;
	}
	return 500;
}

static const char *default_detail(chat_err e)
{
	switch (e) {
	case CHAT_ERR_NOT_FOUND: return "Not found.";
	case CHAT_ERR_GONE: return "This message has been deleted.";
	case CHAT_ERR_DUPLICATE: return "already exists";
	case CHAT_ERR_CONFLICT: return "conflict with the current state";
	case CHAT_ERR_FORBIDDEN: return "You do not have permission to perform this action.";
	case CHAT_ERR_INVALID: return "invalid input";
	case CHAT_ERR_AUTH: return "Authentication credentials were not provided.";
	case CHAT_ERR_UNAVAILABLE: return "database unavailable";
	case CHAT_ERR_NOMEM: return "out of memory";
	case CHAT_ERR_INTERNAL:
	case CHAT_OK: break;
	}
	return "internal error";
}

void api_add_header(api_req *r, const char *name, const char *value)
{
	size_t room = sizeof(r->headers) - r->headers_len;
	/* Header values never carry line breaks from the client. */
	if (strpbrk(value, "\r\n"))
		return;
	int w = snprintf(r->headers + r->headers_len, room, "%s: %s\r\n", name, value);
	if (w < 0 || (size_t)w >= room) {
		r->headers[r->headers_len] = '\0';
		chat_log_warn("response header %s dropped: no room", name);
		return;
	}
	r->headers_len += (size_t)w;
}

static bool cors_configured(const api_req *r)
{
	return r->srv->cfg->api.cors_origins[0] != NULL;
}

static bool origin_allowed(const api_req *r)
{
	return r->origin && r->origin[0] && cors_configured(r) &&
	       chat_config_list_has(r->srv->cfg->api.cors_origins, r->origin);
}

void api_add_cors_preflight(api_req *r, const char *allow)
{
	if (!origin_allowed(r))
		return;
	api_add_header(r, "Access-Control-Allow-Methods", allow);
	api_add_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
	api_add_header(r, "Access-Control-Max-Age", "600");
}

static void write_response(api_req *r, int status, const char *body, size_t len)
{
	if (r->status) {
		chat_log_error("second response (%d after %d) dropped", status, r->status);
		return;
	}
	if (status >= 400 && r->confirm_caller) {
		int (*confirm)(api_req *) = r->confirm_caller;
		r->confirm_caller = NULL;
		if (confirm(r) != 0)
			return; /* answered 401 or 503 instead */
	}
	r->status = status;
	if (!r->fcgi)
		return;
	FCGX_Stream *out = r->fcgi->out;
	char line[128];
	/* libfcgi's own printf lacks %zu and friends: format here. */
	snprintf(line, sizeof(line), "Status: %d %s\r\n", status, reason(status));
	FCGX_PutS(line, out);
	if (body) {
		snprintf(line, sizeof(line),
		         "Content-Type: application/json; charset=utf-8\r\n"
		         "Content-Length: %zu\r\n",
		         len);
		FCGX_PutS(line, out);
	}
	FCGX_PutS("X-Content-Type-Options: nosniff\r\n"
	          "Cache-Control: no-store\r\n",
	          out);
	if (origin_allowed(r)) {
		FCGX_PutS("Access-Control-Allow-Origin: ", out);
		FCGX_PutS(r->origin, out);
		FCGX_PutS("\r\n", out);
		FCGX_PutS("Access-Control-Expose-Headers: Retry-After, Link\r\n", out);
	}
	if (cors_configured(r))
		FCGX_PutS("Vary: Origin\r\n", out);
	if (r->headers_len)
		FCGX_PutStr(r->headers, (int)r->headers_len, out);
	FCGX_PutS("\r\n", out);
	if (body && !r->head)
		FCGX_PutStr(body, (int)len, out);
}

void api_respond_json(api_req *r, int status, json_object *obj)
{
	if (!obj) {
		write_response(r, 503, "{\"detail\":\"out of memory\"}", 26);
		return;
	}
	size_t len = 0;
	const char *s = chat_json_string(obj, &len);
	write_response(r, status, s, len);
	json_object_put(obj);
}

void api_respond_body(api_req *r, int status, const char *json, size_t len)
{
	write_response(r, status, json, len);
}

void api_respond_empty(api_req *r, int status)
{
	write_response(r, status, NULL, 0);
}

void api_respond_error(api_req *r, int status, const char *detail)
{
	json_object *o = json_object_new_object();
	if (o)
		json_object_object_add(o, "detail", json_object_new_string(detail));
	api_respond_json(r, status, o);
}

void api_respond_429(api_req *r, int wait)
{
	char v[16], detail[96];
	snprintf(v, sizeof(v), "%d", wait);
	api_add_header(r, "Retry-After", v);
	snprintf(detail, sizeof(detail), "Request was throttled. Expected available in %d second%s.",
	         wait, wait == 1 ? "" : "s");
	api_respond_error(r, 429, detail);
}

void api_respond_chat_err(api_req *r, chat_err e, const char *detail)
{
	if (e == CHAT_ERR_UNAVAILABLE || e == CHAT_ERR_INTERNAL)
		chat_log_warn("%s %s: %s", r->method, r->route ? r->route->pattern : r->path,
		              chat_err_str(e));
	if (e == CHAT_ERR_UNAVAILABLE)
		detail = NULL; /* always the same words for a database outage */
	api_respond_error(r, api_status_of(e), detail ? detail : default_detail(e));
}

void api_notify(const api_req *r)
{
	const char *dir = r->srv->cfg->notify.dir;
	if (dir && dir[0])
		(void)chat_notify_send(dir);
}
