/* Fuzz target: the HTTP request path of chat-api. A request (method, URI,
 * Content-Type, Content-Length, Authorization, Origin, client address,
 * body) is turned into the FastCGI parameters and streams chat-api gets
 * from the web server, and api_dispatch() runs on it unchanged: router,
 * 404/405/OPTIONS, body reading (size cap, content type, JSON depth),
 * token check, field validation in the handlers, response writing and the
 * request log (URL scrubbing).
 *
 * The database boundary: the chat_db points at a socket that does not
 * exist, so every DAL call answers "unavailable" (503) at once; and the
 * user lookup after a valid token is replaced at link time
 * (-Wl,--wrap=chat_dal_user_by_id) by an active user, so authenticated
 * handlers are reached and validate their input before their first DAL
 * call.
 *
 * Input: seven lines then the body:
 *   method / URI (a leading '!' sends SCRIPT_NAME+PATH_INFO+QUERY_STRING
 *   instead of REQUEST_URI) / Content-Type / Content-Length ("" = the
 *   body's length) / Authorization ("A" = a valid access token, "R" = a
 *   valid refresh token, else literal) / Origin / REMOTE_ADDR.
 *
 * Oracles: a response is always written, never a 500; the body of an
 * error is a JSON object with "detail"; Access-Control-Allow-Origin only
 * ever names the configured origin; the logged URL has no secret query
 * value left. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api.h"
#include "chat_dal.h"
#include "chat_log.h"
#include "fuzz.h"

#define OUT_CAP (1024 * 1024)
#define INPUT_MAX (256 * 1024)
#define ALLOWED_ORIGIN "http://allowed.example"

static chat_config g_cfg;
static api_server g_srv;
static chat_db *g_db;
static char *g_access, *g_refresh;

static unsigned char out_buf[OUT_CAP];
static bool out_overflow;

chat_err __wrap_chat_dal_user_by_id(chat_db *db, int64_t id, chat_user *out);
chat_err __wrap_chat_dal_user_by_id(chat_db *db, int64_t id, chat_user *out)
{
	(void)db;
	memset(out, 0, sizeof(*out));
	out->id = id;
	snprintf(out->username, sizeof(out->username), "fuzzer%lld", (long long)id);
	out->is_active = true;
	return CHAT_OK;
}

static void out_full(FCGX_Stream *st, int doClose)
{
	(void)doClose;
	out_overflow = true;
	st->wrNext = out_buf; /* keep writing, over the start */
}

static void init(void)
{
	static const char *sets[] = {
		"auth.jwt_secret=fuzz-http-secret-0123456789abcdef",
		"auth.password_ops_limit=1",
		"auth.password_mem_kib=8",
		"auth.login_rate_limit=1000000",
		"database.host=",
		"database.socket=/nonexistent/chat-fuzz.sock",
		"database.connect_timeout=1",
		("api.cors_origins=" ALLOWED_ORIGIN),
		"notify.dir=/nonexistent/chat-fuzz-notify",
	};
	chat_err e;

	if (chat_config_defaults(&g_cfg) != 0)
		abort();
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
		if (chat_config_set(&g_cfg, sets[i], stderr) != 0)
			abort();
	if (chat_log_open("fuzz_http", "info", "stderr", "/dev/null") != 0)
		abort();
	if (chat_db_library_init() != 0)
		abort();
	g_db = chat_db_open(&g_cfg, &e);
	g_srv.cfg = &g_cfg;
	g_srv.jwt = chat_jwt_create(&g_cfg, stderr);
	g_srv.login_limit = api_ratelimit_create(256, g_cfg.auth.login_rate_limit,
	                                         g_cfg.auth.login_rate_window);
	if (!g_db || !g_srv.jwt || !g_srv.login_limit)
		abort();
	g_access = chat_jwt_issue(g_srv.jwt, 2, CHAT_TOKEN_ACCESS, time(NULL));
	g_refresh = chat_jwt_issue(g_srv.jwt, 2, CHAT_TOKEN_REFRESH, time(NULL));
	if (!g_access || !g_refresh)
		abort();
}

/* "NAME=value" into a new string. */
static char *param(const char *name, const char *v, size_t vl)
{
	size_t nl = strlen(name);
	char *s = malloc(nl + 1 + vl + 1);
	if (!s)
		abort();
	memcpy(s, name, nl);
	s[nl] = '=';
	memcpy(s + nl + 1, v, vl);
	s[nl + 1 + vl] = '\0';
	return s;
}

static bool secret_name(const char *p, size_t n)
{
	static const char *const names[] = {"token", "access", "refresh", "password",
	                                    "secret", "access_token", "refresh_token"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && strncasecmp(p, names[i], n) == 0)
			return true;
	return false;
}

/* Every secret parameter in a scrubbed URL's query is masked. */
static void check_scrubbed(const char *uri)
{
	char out[4096];
	chat_log_scrub_url(uri, out, sizeof(out));
	if (strlen(uri) + 64 >= sizeof(out))
		return; /* truncated output: not comparable */
	const char *q = strchr(out, '?');
	const char *hash = strchr(out, '#');
	if (!q || (hash && hash < q))
		return;
	const char *end = q + 1 + strcspn(q + 1, "#");
	for (const char *p = q + 1; p < end;) {
		size_t n = strcspn(p, "&;#");
		if (p + n > end)
			n = (size_t)(end - p);
		const char *eq = memchr(p, '=', n);
		if (eq && secret_name(p, (size_t)(eq - p)))
			FUZZ_CHECK((size_t)(p + n - eq - 1) == 3 && memcmp(eq + 1, "***", 3) == 0,
			           "secret left in logged URL: %s -> %s", uri, out);
		p += n + (p + n < end);
	}
}

static void check_response(const api_req *r, size_t outlen)
{
	FUZZ_CHECK(r->status != 0, "no response for %s %s", r->method, r->path);
	FUZZ_CHECK(r->status != 500, "500 for %s %s", r->method, r->path);
	if (out_overflow)
		return;
	out_buf[outlen] = '\0';
	char *text = (char *)out_buf;
	FUZZ_CHECK(strncmp(text, "Status: ", 8) == 0, "response does not start with Status");
	char *sep = strstr(text, "\r\n\r\n");
	FUZZ_CHECK(sep != NULL, "no end of headers");
	*sep = '\0';
	const char *acao = strstr(text, "Access-Control-Allow-Origin: ");
	if (acao) {
		acao += strlen("Access-Control-Allow-Origin: ");
		FUZZ_CHECK(strncasecmp(acao, ALLOWED_ORIGIN "\r\n", strlen(ALLOWED_ORIGIN) + 2) == 0 ||
		               (strncasecmp(acao, ALLOWED_ORIGIN, strlen(ALLOWED_ORIGIN)) == 0 &&
		                acao[strlen(ALLOWED_ORIGIN)] == '\0'),
		           "CORS allowed origin %.80s", acao);
	}
	const char *body = sep + 4;
	if (r->status >= 400 && !r->head && *body) {
		json_object *o = json_tokener_parse(body);
		json_object *d;
		FUZZ_CHECK(o && json_object_is_type(o, json_type_object) &&
		               json_object_object_get_ex(o, "detail", &d),
		           "error body is not {\"detail\"}: %.200s", body);
		json_object_put(o);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	const char *line[7];
	size_t len[7];
	size_t pos = 0;
	char *env[16] = {0};
	int ne = 0;

	if (!ready) {
		init();
		ready = true;
	}
	if (size > INPUT_MAX)
		return 0;
	for (int i = 0; i < 7; i++) {
		const uint8_t *nl = pos < size ? memchr(data + pos, '\n', size - pos) : NULL;
		line[i] = (const char *)data + pos;
		len[i] = nl ? (size_t)(nl - (data + pos)) : size - pos;
		pos = nl ? pos + len[i] + 1 : size;
	}
	const char *body = (const char *)data + pos;
	size_t body_len = size - pos;

	env[ne++] = param("REQUEST_METHOD", line[0], len[0]);
	if (len[1] && line[1][0] == '!') {
		const char *u = line[1] + 1;
		size_t ul = len[1] - 1;
		const char *q = memchr(u, '?', ul);
		size_t pl = q ? (size_t)(q - u) : ul;
		env[ne++] = param("SCRIPT_NAME", "", 0);
		env[ne++] = param("PATH_INFO", u, pl);
		if (q)
			env[ne++] = param("QUERY_STRING", q + 1, ul - pl - 1);
	} else {
		env[ne++] = param("REQUEST_URI", line[1], len[1]);
	}
	if (len[2])
		env[ne++] = param("CONTENT_TYPE", line[2], len[2]);
	if (len[3]) {
		env[ne++] = param("CONTENT_LENGTH", line[3], len[3]);
	} else {
		char cl[32];
		snprintf(cl, sizeof(cl), "%zu", body_len);
		env[ne++] = param("CONTENT_LENGTH", cl, strlen(cl));
	}
	if (len[4] == 1 && (line[4][0] == 'A' || line[4][0] == 'R')) {
		const char *t = line[4][0] == 'A' ? g_access : g_refresh;
		char *h = malloc(strlen(t) + 8);
		if (!h)
			abort();
		snprintf(h, strlen(t) + 8, "Bearer %s", t);
		env[ne++] = param("HTTP_AUTHORIZATION", h, strlen(h));
		free(h);
	} else if (len[4]) {
		env[ne++] = param("HTTP_AUTHORIZATION", line[4], len[4]);
	}
	if (len[5])
		env[ne++] = param("HTTP_ORIGIN", line[5], len[5]);
	env[ne++] = param("REMOTE_ADDR", len[6] ? line[6] : "127.0.0.1", len[6] ? len[6] : 9);
	env[ne] = NULL;

	unsigned char *in_copy = malloc(body_len ? body_len : 1);
	if (!in_copy)
		abort();
	memcpy(in_copy, body, body_len);
	FCGX_Stream in = {0}, out = {0}, err = {0};
	in.rdNext = in.stopUnget = in_copy;
	in.stop = in.wrNext = in_copy + body_len;
	in.isReader = 1;
	in.isClosed = 1; /* everything is in the buffer */
	out.wrNext = out.rdNext = out_buf;
	out.stop = out_buf + OUT_CAP - 1;
	out.emptyBuffProc = out_full;
	out_overflow = false;
	err = out;

	FCGX_Request fr = {0};
	fr.in = &in;
	fr.out = &out;
	fr.err = &err;
	fr.envp = env;

	api_req r;
	api_req_init(&r, &g_srv, &fr, g_db);
	api_dispatch(&r);
	check_response(&r, (size_t)(out.wrNext - out_buf));
	const char *uri = api_param(&r, "REQUEST_URI");
	if (uri)
		check_scrubbed(uri);
	api_req_clear(&r);

	free(in_copy);
	for (int i = 0; i < ne; i++)
		free(env[i]);
	return 0;
}
