/* chat-api internals: the request object every handler receives, and the
 * helpers shared by the handlers (request parsing, response writing,
 * authentication, room visibility). Private to api/.
 *
 * Threading: one api_server per process, read-only once the workers start
 * (except the rate limiter, which has its own lock). One api_req per
 * request, owned by the worker thread serving it; its chat_db belongs to
 * that thread. */
#ifndef CHAT_API_H
#define CHAT_API_H

#include <fcgiapp.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat_config.h"
#include "chat_dal.h"
#include "chat_db.h"
#include "chat_error.h"
#include "chat_jwt.h"
#include "chat_types.h"

#define API_JSON_MAX_DEPTH 32
#define API_PATH_MAX 1024
#define API_HEADERS_MAX 1024
#define API_TOKEN_MAX 8192
#define API_PAGE_DEFAULT 50
#define API_PAGE_MAX 200

typedef struct api_ratelimit api_ratelimit;

/* Process-wide state, set up by main() before the workers start. */
typedef struct api_server {
	const chat_config *cfg;
	chat_jwt *jwt;
	api_ratelimit *login_limit;   /* register and token attempts */
	api_ratelimit *message_limit; /* messages posted, per user */
	api_ratelimit *room_limit;    /* rooms created, per user */
} api_server;

typedef struct api_req api_req;
typedef void (*api_handler)(api_req *r);

/* Route flags. */
enum {
	API_ROUTE_PUBLIC = 1 << 0, /* no token needed (and none looked at) */
	API_ROUTE_BODY = 1 << 1,   /* needs a JSON object body */
	API_ROUTE_MESSAGE_RATE = 1 << 2, /* counts against the caller's message rate */
	API_ROUTE_ROOM_RATE = 1 << 3,    /* counts against the caller's room creation rate */
	/* The handler's transaction checks that the caller exists and is
	 * active (posting a message: one statement per batch instead of a
	 * lookup per request); a refusal confirms the caller first. */
	API_ROUTE_CALLER_IN_TXN = 1 << 4,
};

typedef struct api_route {
	const char *method;  /* GET, POST, PATCH, DELETE */
	const char *pattern; /* "/api/chat/rooms/{id}/"; {id} is a positive integer */
	api_handler handler;
	unsigned flags;
} api_route;

typedef enum api_match {
	API_MATCH_FOUND = 0,
	API_MATCH_NOT_FOUND, /* no pattern matches the path: 404 */
	API_MATCH_METHOD,    /* the path exists, not with this method: 405 */
} api_match;

/* One request. Strings point into the FastCGI environment or into the
 * struct itself; they live until the request is finished. */
struct api_req {
	const api_server *srv;
	FCGX_Request *fcgi; /* NULL in unit tests */
	chat_db *db;

	const char *method;      /* as received; HEAD is served as GET */
	bool head;               /* HEAD: headers only */
	char path[API_PATH_MAX]; /* without the query string */
	const char *query;       /* raw query string, "" if none */
	const char *origin;      /* Origin header or NULL */
	const api_route *route;
	int64_t id; /* the {id} of the path, 0 if none */

	json_object *body; /* parsed body (API_ROUTE_BODY routes), owned */

	bool authenticated;
	chat_user_ref user; /* the caller, when authenticated */
	/* Set while the caller's database check is left to the handler
	 * (API_ROUTE_CALLER_IN_TXN; user.username is then empty): run once
	 * before any refusal is written, so that 401 still comes first. It
	 * answers 401 (or 503) itself and returns -1 when the caller is not an
	 * active user; the refusal is then dropped. */
	int (*confirm_caller)(api_req *r);

	/* Response state. */
	char headers[API_HEADERS_MAX]; /* extra header lines, each "Name: value\r\n" */
	size_t headers_len;
	int status; /* 0 until a response is written */
};

/* ---- router.c ------------------------------------------------------- */

/* The route table (contract order) and its length. */
const api_route *api_routes(size_t *n);
/* Match method and path (trailing slash optional). HEAD matches GET
 * routes. On FOUND *route and *id are set (*id 0 when the pattern has no
 * {id}). On FOUND and METHOD, allow (when not NULL) receives the methods
 * the path accepts, e.g. "GET, HEAD, POST, OPTIONS". */
api_match api_route_match(const char *method, const char *path, const api_route **route,
                          int64_t *id, char *allow, size_t allow_sz);
/* Serve one request end to end: route, authenticate, run the handler,
 * write the response, log it. */
void api_dispatch(api_req *r);

/* ---- request.c ------------------------------------------------------ */

/* Fill r from the FastCGI request (method, path, query, origin). */
void api_req_init(api_req *r, const api_server *srv, FCGX_Request *fcgi, chat_db *db);
/* Release what the request owns (the parsed body). */
void api_req_clear(api_req *r);
/* A CGI parameter (e.g. "HTTP_AUTHORIZATION") or NULL. */
const char *api_param(const api_req *r, const char *name);
/* Read and parse the JSON object body, enforcing api.max_body_size
 * (413), the content type (415), the depth limit and the syntax (400).
 * Returns 0 with r->body set, or -1 after writing the error response. */
int api_read_body(api_req *r);
/* Parse buf[0..len) as one JSON object (chat_json_parse: strict RFC
 * 8259, valid UTF-8, depth <= API_JSON_MAX_DEPTH, only white space
 * around it). Returns 0
 * with *out (owned by the caller), or -1 with a sentence in detail. */
int api_json_parse(const char *buf, size_t len, json_object **out, char *detail,
                   size_t detail_sz);
/* Discard (up to a bound) a body nobody reads; 413 when CONTENT_LENGTH
 * is over the limit. Returns 0, or -1 after writing the error response. */
int api_skip_body(api_req *r);
/* Query parameter name, percent-decoded into buf. Returns 1 when found,
 * 0 when absent, -1 when longer than buf or badly encoded. */
int api_query_get(const api_req *r, const char *name, char *buf, size_t bufsz);
/* Optional positive-integer query parameter: 0 when absent (*out = 0),
 * 1 when valid, -1 after writing 400 with "name: ..." detail. */
int api_query_id(api_req *r, const char *name, int64_t *out);
/* ?limit=: absent = dflt; a positive integer, capped at API_PAGE_MAX (a
 * larger one is not refused: clients read "max 200" as a cap). Zero,
 * negative, empty or non-numeric: -1 after 400. */
int api_query_limit(api_req *r, int dflt, int *limit);

/* Body fields. Each returns 1 when present and valid, 0 when absent (or
 * JSON null) and not required, -1 after writing a 400 naming the field. */
int api_field_string(api_req *r, const char *name, bool required, const char **s,
                     size_t *len);
int api_field_bool(api_req *r, const char *name, bool required, bool *out);
int api_field_id(api_req *r, const char *name, bool required, int64_t *out);

/* ---- response.c ------------------------------------------------------ */

/* Add a header line to the response (ignored when it does not fit). */
void api_add_header(api_req *r, const char *name, const char *value);
/* Write status and obj (ownership taken, may be NULL for no body: 204). */
void api_respond_json(api_req *r, int status, json_object *obj);
void api_respond_empty(api_req *r, int status);
/* A body already serialized (JSON). */
void api_respond_body(api_req *r, int status, const char *json, size_t len);
/* {"detail": detail} */
void api_respond_error(api_req *r, int status, const char *detail);
/* 429 with Retry-After: wait (seconds, >= 1) and a detail saying so. */
void api_respond_429(api_req *r, int wait);
/* Map a DAL error to its status; detail NULL takes the default wording. */
void api_respond_chat_err(api_req *r, chat_err e, const char *detail);
/* The HTTP status a chat_err maps to. */
int api_status_of(chat_err e);
/* Preflight headers (allowed methods and headers) when r->origin is a
 * configured origin. Every response also gets Access-Control-Allow-Origin
 * for such an origin, and Vary: Origin when CORS is configured. */
void api_add_cors_preflight(api_req *r, const char *allow);
/* After a committed write clients must hear of: wake the relays. */
void api_notify(const api_req *r);

/* ---- fcgi_server.c --------------------------------------------------- */

/* The FastCGI listening socket: cfg->api.socket (Unix path), else
 * cfg->api.listen (host:port), else 0 (the socket the web server passed
 * on stdin). Returns the fd, -1 after logging. Call after FCGX_Init(). */
int api_fcgi_listen(const chat_config *cfg);
/* Serve on fd with `threads` workers until SIGTERM or SIGINT, then let
 * the requests in progress finish. SIGHUP reopens the log file. Returns
 * 0 on a clean stop, 1 when the workers could not run. Blocks those
 * signals in the calling thread; call it from main with no other
 * threads running. */
int api_fcgi_serve(const api_server *srv, int fd, int threads);

/* ---- write_batch.c --------------------------------------------------- */

/* Store a validated message as chat_dal_message_insert does, with the same
 * result and error, in one transaction shared with the messages the
 * process's other worker threads post at the same time (group commit; no
 * waiting when none are). Wakes the relays when a message was created.
 * out is always cleared first; free with chat_message_clear(). */
chat_err api_write_message(const api_req *r, const chat_new_message *in, chat_message *out,
                           bool *created);

/* ---- auth.c ---------------------------------------------------------- */

/* Resolve the caller from the Authorization header (or the anonymous user
 * when allowed and no token is sent). Returns 0, or -1 after writing 401
 * (503 when the database is down). On an API_ROUTE_CALLER_IN_TXN route
 * only the token is checked here (see api_req.confirm_caller). */
int api_authenticate(api_req *r);

/* ---- ratelimit.c ------------------------------------------------------ */

/* A fixed-window limiter over a fixed-size table (bounded memory):
 * `limit` hits per `window_s` seconds per key. limit <= 0 disables it.
 * A key keeps its slot until its window ends; when a new key finds no
 * free slot the hit is refused (the table is full: refuse, not forget). */
api_ratelimit *api_ratelimit_create(size_t slots, int limit, int window_s);
void api_ratelimit_free(api_ratelimit *rl);
/* Count one hit for each of keys[0..n) (n <= 4) at now_s, all or
 * nothing. Returns 0 when allowed (every key counted), else the seconds
 * to wait (the Retry-After value, >= 1) and nothing is counted nor
 * stored: some key is at its limit, or a new key found the table full. */
int api_ratelimit_hit_all(api_ratelimit *rl, const char *const *keys, size_t n, int64_t now_s);
/* api_ratelimit_hit_all for one key. */
int api_ratelimit_hit(api_ratelimit *rl, const char *key, int64_t now_s);
/* Seconds until key may try again without counting a hit (0 = now). */
int api_ratelimit_peek(api_ratelimit *rl, const char *key, int64_t now_s);

/* ---- rooms.c (shared by the room-scoped handlers) -------------------- */

/* Load room id with the caller's role. Returns 0 when the caller may see
 * it; -1 after writing 404 (absent or private to others) or 503. */
int api_room_load(api_req *r, int64_t room_id, chat_room *out);
/* Load a live message and its room for the caller; same rule. */
int api_message_load(api_req *r, int64_t message_id, chat_message *msg, chat_room *room);

/* ---- handlers ----------------------------------------------------------- */

void api_h_register(api_req *r);
void api_h_token(api_req *r);
void api_h_token_refresh(api_req *r);
void api_h_logout(api_req *r);
void api_h_me(api_req *r);
void api_h_root(api_req *r);
void api_h_health(api_req *r);
void api_h_rooms_list(api_req *r);
void api_h_rooms_create(api_req *r);
void api_h_room_get(api_req *r);
void api_h_room_update(api_req *r);
void api_h_room_delete(api_req *r);
void api_h_room_join(api_req *r);
void api_h_room_leave(api_req *r);
void api_h_members_list(api_req *r);
void api_h_members_add(api_req *r);
void api_h_messages_list(api_req *r);
void api_h_messages_create(api_req *r);
void api_h_message_get(api_req *r);
void api_h_message_update(api_req *r);
void api_h_message_delete(api_req *r);
void api_h_message_read(api_req *r);
void api_h_message_reads(api_req *r);
void api_h_unread(api_req *r);

#endif
