/* The route table and the dispatcher: method + path -> handler, then the
 * steps every request shares (404/405/OPTIONS, body, authentication,
 * request log). The table reads like the HTTP table of the contract. */
#include <config.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api.h"
#include "chat_log.h"
#include "chat_time.h"
#include "chat_validate.h"

#define PUB API_ROUTE_PUBLIC
#define BODY API_ROUTE_BODY
#define MSG_RATE API_ROUTE_MESSAGE_RATE
#define ROOM_RATE API_ROUTE_ROOM_RATE
#define IN_TXN API_ROUTE_CALLER_IN_TXN

static const api_route routes[] = {
	{"POST", "/api/auth/register/", api_h_register, PUB | BODY},
	{"POST", "/api/auth/token/", api_h_token, PUB | BODY},
	{"POST", "/api/auth/token/refresh/", api_h_token_refresh, PUB | BODY},
	{"POST", "/api/auth/logout/", api_h_logout, PUB | BODY},
	{"GET", "/api/auth/me/", api_h_me, 0},
	{"GET", "/api/chat/", api_h_root, PUB},
	{"GET", "/api/chat/health/", api_h_health, PUB},
	{"GET", "/api/chat/rooms/", api_h_rooms_list, 0},
	{"POST", "/api/chat/rooms/", api_h_rooms_create, BODY | ROOM_RATE},
	{"GET", "/api/chat/rooms/{id}/", api_h_room_get, 0},
	{"PATCH", "/api/chat/rooms/{id}/", api_h_room_update, BODY},
	{"DELETE", "/api/chat/rooms/{id}/", api_h_room_delete, 0},
	{"POST", "/api/chat/rooms/{id}/join/", api_h_room_join, 0},
	{"POST", "/api/chat/rooms/{id}/leave/", api_h_room_leave, 0},
	{"GET", "/api/chat/rooms/{id}/members/", api_h_members_list, 0},
	{"POST", "/api/chat/rooms/{id}/members/", api_h_members_add, BODY},
	{"GET", "/api/chat/rooms/{id}/messages/", api_h_messages_list, 0},
	{"POST", "/api/chat/rooms/{id}/messages/", api_h_messages_create, BODY | MSG_RATE | IN_TXN},
	{"GET", "/api/chat/messages/{id}/", api_h_message_get, 0},
	{"PATCH", "/api/chat/messages/{id}/", api_h_message_update, BODY},
	{"DELETE", "/api/chat/messages/{id}/", api_h_message_delete, 0},
	{"POST", "/api/chat/messages/{id}/read/", api_h_message_read, 0},
	{"GET", "/api/chat/messages/{id}/reads/", api_h_message_reads, 0},
	{"GET", "/api/chat/unread/", api_h_unread, 0},
};

const api_route *api_routes(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}

/* Does path match pattern? Both are compared segment by segment; a
 * trailing slash is optional on the path. {id} takes a positive integer. */
static bool pattern_match(const char *pattern, const char *path, int64_t *id)
{
	size_t plen = strlen(path);
	size_t tlen = strlen(pattern);
	int64_t found = 0;

	/* Compare without the final slash on either side. */
	if (plen > 1 && path[plen - 1] == '/')
		plen--;
	if (tlen > 1 && pattern[tlen - 1] == '/')
		tlen--;

	size_t i = 0, j = 0;
	while (i < tlen && j < plen) {
		if (pattern[i] == '{') {
			const char *close = memchr(pattern + i, '}', tlen - i);
			if (!close)
				return false;
			size_t seg = j;
			while (seg < plen && path[seg] != '/')
				seg++;
			long long v;
			if (chat_parse_id(path + j, seg - j, &v) != CHAT_OK)
				return false;
			found = (int64_t)v;
			i = (size_t)(close - pattern) + 1;
			j = seg;
			continue;
		}
		if (pattern[i] != path[j])
			return false;
		i++;
		j++;
	}
	if (i != tlen || j != plen)
		return false;
	*id = found;
	return true;
}

static void allow_append(char *allow, size_t allow_sz, size_t *used, const char *m)
{
	/* Each method once. */
	size_t ml = strlen(m);
	for (const char *p = allow; (p = strstr(p, m)) != NULL; p += ml)
		if ((p == allow || p[-1] == ' ') && (p[ml] == ',' || p[ml] == '\0'))
			return;
	int w = snprintf(allow + *used, allow_sz - *used, "%s%s", *used ? ", " : "", m);
	if (w > 0 && (size_t)w < allow_sz - *used)
		*used += (size_t)w;
}

api_match api_route_match(const char *method, const char *path, const api_route **route,
                          int64_t *id, char *allow, size_t allow_sz)
{
	size_t n = sizeof(routes) / sizeof(routes[0]);
	const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
	const api_route *hit = NULL;
	int64_t hit_id = 0;
	bool path_known = false;
	size_t used = 0;

	if (allow && allow_sz)
		allow[0] = '\0';
	for (size_t k = 0; k < n; k++) {
		int64_t v;
		if (!pattern_match(routes[k].pattern, path, &v))
			continue;
		path_known = true;
		if (allow && allow_sz) {
			allow_append(allow, allow_sz, &used, routes[k].method);
			if (strcmp(routes[k].method, "GET") == 0)
				allow_append(allow, allow_sz, &used, "HEAD");
		}
		if (!hit && strcmp(routes[k].method, want) == 0) {
			hit = &routes[k];
			hit_id = v;
		}
	}
	if (!path_known)
		return API_MATCH_NOT_FOUND;
	if (allow && allow_sz)
		allow_append(allow, allow_sz, &used, "OPTIONS");
	if (!hit)
		return API_MATCH_METHOD;
	*route = hit;
	*id = hit_id;
	return API_MATCH_FOUND;
}

/* Refused (429) requests are logged at most LOG_429_PER_S a second per
 * process: a flood of them must not flood the log (chat-api's stderr ends
 * in the web server's log). The next one logged says how many were not. */
#define LOG_429_PER_S 5

static pthread_mutex_t log_429_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t log_429_second;
static int log_429_count;
static long long log_429_skipped;

/* Whether to log a request with this status now; *skipped: how many
 * 429s were left out since the last line logged. */
static bool log_allowed(int status, long long *skipped)
{
	int64_t now = chat_time_mono_ms() / 1000;
	bool ok = true;

	pthread_mutex_lock(&log_429_lock);
	if (status == 429) {
		if (now != log_429_second) {
			log_429_second = now;
			log_429_count = 0;
		}
		ok = log_429_count < LOG_429_PER_S;
		if (ok)
			log_429_count++;
		else
			log_429_skipped++;
	}
	if (ok) {
		*skipped = log_429_skipped;
		log_429_skipped = 0;
	}
	pthread_mutex_unlock(&log_429_lock);
	return ok;
}

static void log_request(const api_req *r, int64_t started_ms)
{
	long long skipped = 0;

	if (!chat_log_enabled(CHAT_LOG_INFO))
		return;
	if (!log_allowed(r->status, &skipped))
		return;
	char url[API_PATH_MAX + 512];
	char full[API_PATH_MAX + 512];
	const char *uri = api_param(r, "REQUEST_URI");
	if (!uri) {
		snprintf(full, sizeof(full), "%s%s%s", r->path, r->query[0] ? "?" : "", r->query);
		uri = full;
	}
	chat_log_scrub_url(uri, url, sizeof(url));
	if (skipped)
		chat_log_info("%s %s %d %lldms (%lld more refused requests not logged)", r->method, url,
		              r->status, (long long)(chat_time_mono_ms() - started_ms), skipped);
	else
		chat_log_info("%s %s %d %lldms", r->method, url, r->status,
		              (long long)(chat_time_mono_ms() - started_ms));
}

/* The per-user limits of the routes that have one (the caller is
 * authenticated). Returns true after answering 429. */
static bool user_rate_limited(api_req *r, unsigned flags)
{
	api_ratelimit *rl = NULL;
	char key[32];

	if (flags & API_ROUTE_MESSAGE_RATE)
		rl = r->srv->message_limit;
	else if (flags & API_ROUTE_ROOM_RATE)
		rl = r->srv->room_limit;
	if (!rl)
		return false;
	snprintf(key, sizeof(key), "u:%lld", (long long)r->user.id);
	int wait = api_ratelimit_hit(rl, key, (int64_t)time(NULL));
	if (wait <= 0)
		return false;
	api_respond_429(r, wait);
	return true;
}

void api_dispatch(api_req *r)
{
	int64_t started = chat_time_mono_ms();
	char allow[128];
	const api_route *route = NULL;
	int64_t id = 0;

	r->head = strcmp(r->method, "HEAD") == 0; /* no body, whatever the answer */
	if (!r->method[0]) {
		api_respond_error(r, 400, "missing request method");
		goto out;
	}
	api_match m = api_route_match(r->method, r->path, &route, &id, allow, sizeof(allow));
	if (m == API_MATCH_NOT_FOUND) {
		api_skip_body(r);
		api_respond_error(r, 404, "Not found.");
		goto out;
	}
	if (strcmp(r->method, "OPTIONS") == 0) {
		api_skip_body(r);
		api_add_header(r, "Allow", allow);
		api_add_cors_preflight(r, allow);
		api_respond_empty(r, 204);
		goto out;
	}
	if (m == API_MATCH_METHOD) {
		char detail[160];
		api_skip_body(r);
		api_add_header(r, "Allow", allow);
		snprintf(detail, sizeof(detail), "Method \"%.16s\" not allowed.", r->method);
		api_respond_error(r, 405, detail);
		goto out;
	}
	r->route = route;
	r->id = id;

	if (route->flags & API_ROUTE_BODY) {
		if (api_read_body(r) != 0)
			goto out;
	} else if (api_skip_body(r) != 0) {
		goto out;
	}
	if (!(route->flags & API_ROUTE_PUBLIC) && api_authenticate(r) != 0)
		goto out;
	if (user_rate_limited(r, route->flags))
		goto out;
	route->handler(r);
	if (r->status == 0) {
		chat_log_error("%s %s: handler wrote no response", r->method, route->pattern);
		api_respond_error(r, 500, "internal error");
	}
out:
	log_request(r, started);
}
