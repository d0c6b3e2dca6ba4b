/* Configuration: one table of every key (section, name, type, bounds,
 * default, help, place in struct chat_config). The INI file, the
 * environment and --set all go through set_value(), so a value means the
 * same wherever it comes from. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <sodium.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chat_config.h"
#include "chat_dbhosts.h"
#include "chat_file.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif

#define MIN_HMAC_SECRET 16

enum key_type { T_INT, T_BOOL, T_STRING, T_LIST, T_CHOICE };

struct key_def {
	const char *section;
	const char *name;
	enum key_type type;
	long min, max;          /* T_INT bounds */
	const char *choices;    /* T_CHOICE: "a|b|c" */
	const char *def;        /* default, in the syntax of the file */
	const char *help;
	size_t off;             /* offsetof(chat_config, ...) */
	bool secret;            /* masked by chat_config_dump */
};

#define OFF(f) offsetof(chat_config, f)
#define INT(s, k, lo, hi, d, h) { #s, #k, T_INT, lo, hi, NULL, #d, h, OFF(s.k), false }
#define BOOL(s, k, d, h) { #s, #k, T_BOOL, 0, 0, NULL, #d, h, OFF(s.k), false }
#define STR(s, k, d, h) { #s, #k, T_STRING, 0, 0, NULL, d, h, OFF(s.k), false }
#define SECRET(s, k, h) { #s, #k, T_STRING, 0, 0, NULL, "", h, OFF(s.k), true }
#define LIST(s, k, h) { #s, #k, T_LIST, 0, 0, NULL, "", h, OFF(s.k), false }
#define LIST_D(s, k, d, h) { #s, #k, T_LIST, 0, 0, NULL, d, h, OFF(s.k), false }
#define CHOICE(s, k, c, d, h) { #s, #k, T_CHOICE, 0, 0, c, d, h, OFF(s.k), false }

static const struct key_def keys[] = {
	STR(database, host, "", "MariaDB host name or address, or a comma-separated list of servers (host, host:port, [v6]:port) tried in order; empty = connect through the Unix socket"),
	INT(database, port, 1, 65535, 3306, "MariaDB TCP port (used when host is set)"),
	STR(database, socket, "/run/mysqld/mysqld.sock", "MariaDB Unix socket path (used when host is empty)"),
	STR(database, user, "chat", "database user"),
	SECRET(database, password, "database password"),
	STR(database, name, "chat", "database name"),
	INT(database, connect_timeout, 1, 3600, 5, "seconds to wait for a database connection"),

	CHOICE(auth, jwt_algorithm, "HS256|HS384|HS512|RS256|RS384|RS512|ES256|ES384|ES512", "HS256",
	       "JWT algorithm; tokens signed with any other algorithm (or none) are refused"),
	SECRET(auth, jwt_secret, "HMAC secret for HS* (at least 16 bytes); same as Django's SIGNING_KEY to accept its tokens"),
	STR(auth, jwt_secret_file, "", "read the HMAC secret from this file instead (trailing newline ignored)"),
	STR(auth, jwt_public_key_file, "", "PEM public key verifying RS*/ES* tokens"),
	STR(auth, jwt_private_key_file, "", "PEM private key signing RS*/ES* tokens (only to issue tokens here)"),
	STR(auth, jwt_issuer, "", "required iss claim, and the iss of issued tokens; empty = not checked"),
	STR(auth, jwt_audience, "", "required aud claim, and the aud of issued tokens; empty = not checked"),
	INT(auth, jwt_leeway, 0, 3600, 30, "seconds of clock skew allowed on exp and nbf"),
	INT(auth, access_token_lifetime, 10, 31536000, 900, "seconds an issued access token is valid"),
	INT(auth, refresh_token_lifetime, 60, 31536000, 86400, "seconds an issued refresh token is valid"),
	BOOL(auth, allow_anonymous, false, "connections without a token act as the built-in user anonymous (id 1)"),
	INT(auth, login_rate_limit, 0, 1000000, 10, "login and registration attempts per window, per user name and per client address (IPv6: per /64); 0 = unlimited"),
	INT(auth, login_rate_window, 1, 86400, 60, "seconds of the login rate window"),
	INT(auth, login_rate_table_size, 16, 16777216, 4096, "slots of the login limiter's table per chat-api process (each key in its window holds one; when none is free a new key is refused with 429)"),
	INT(auth, password_ops_limit, 1, 100, 2, "Argon2id passes"),
	INT(auth, password_mem_kib, 8, 4194304, 19456, "Argon2id memory in KiB"),

	STR(relay, listen, "127.0.0.1", "address the WebSocket relay listens on"),
	INT(relay, port, 1, 65535, 8001, "WebSocket relay port"),
	INT(relay, workers, 1, 256, 1, "relay processes sharing the port (SO_REUSEPORT), e.g. one per core"),
	CHOICE(relay, event_loop, "auto|libev|poll", "auto", "libwebsockets event loop: libev (epoll), poll(), or auto = poll() for now"),
	STR(relay, tls_cert, "", "PEM certificate for wss:// (empty = plain ws://, TLS left to the proxy)"),
	STR(relay, tls_key, "", "PEM private key for tls_cert"),
	INT(relay, max_frame_size, 128, 16777216, 65536, "largest client frame in bytes; bigger ones are refused"),
	INT(relay, max_content_length, 1, 1000000, 4000, "longest chat message in code points"),
	INT(relay, rate_limit, 1, 100000, 20, "client frames per second per connection"),
	INT(relay, rate_burst, 1, 100000, 40, "burst of client frames allowed above the rate"),
	INT(relay, max_connections, 1, 10000000, 19000, "open WebSocket connections per relay process"),
	INT(relay, max_connections_per_user, 0, 10000000, 50, "open WebSocket connections of one user per relay process (not the anonymous user); 0 = no limit"),
	INT(relay, max_connections_per_address, 0, 10000000, 1000, "open WebSocket connections from one client address (IPv6: one /64) per relay process; 0 = no limit"),
	LIST_D(relay, trusted_proxies, "127.0.0.1, ::1", "peer addresses whose X-Forwarded-For (last entry) names the client address; empty = none"),
	INT(relay, user_rate_limit, 0, 100000, 30, "client frames per second per user, over all of that user's connections to one relay process; 0 = no limit"),
	INT(relay, user_rate_burst, 1, 100000, 60, "burst of client frames of one user allowed above user_rate_limit"),
	INT(relay, handshake_timeout, 1, 3600, 10, "seconds to finish the WebSocket handshake"),
	INT(relay, idle_timeout, 2, 86400, 75, "seconds without hearing from a client (a pong or any frame) before it is dropped"),
	INT(relay, ping_interval, 1, 86400, 30, "seconds between keepalive pings"),
	LIST(relay, allowed_origins, "Origin values allowed to open a WebSocket (comma or space separated); empty = any"),
	INT(relay, send_queue_max_bytes, 1024, INT_MAX, 1048576, "bytes queued for one slow client before it is closed with 4408"),
	INT(relay, send_queue_max_frames, 1, 10000000, 1024, "frames queued for one slow client before it is closed with 4408"),
	INT(relay, send_timeout, 1, 86400, 30, "seconds a client may leave queued frames unread before it is closed with 4408"),
	INT(relay, replay_limit, 1, 1000000, 1000, "most messages replayed on resume (?last_id=); more missing = resync_required"),
	INT(relay, poll_interval_ms, 10, 600000, 500, "milliseconds between polls of the event log (wake-ups come sooner)"),
	INT(relay, typing_timeout, 1, 3600, 10, "seconds after which an unrenewed typing indicator is cleared"),
	INT(relay, db_workers, 1, 64, 2, "database worker threads per relay process"),
	INT(relay, db_writers, 1, 64, 1, "writer threads per relay process storing chat messages (a room's messages go to one)"),
	INT(relay, batch_max, 1, 100000, 256, "most messages stored in one transaction"),
	INT(relay, gap_timeout_ms, 100, 3600000, 10000, "milliseconds a missing event id is watched for a late commit"),
	INT(relay, heartbeat_interval, 1, 3600, 10, "seconds between presence heartbeats of a relay process"),
	STR(relay, metrics_listen, "", "address serving /healthz and /metrics; empty = off"),
	INT(relay, metrics_port, 0, 65535, 0, "port of /healthz and /metrics"),

	INT(api, threads, 1, 1024, 16, "FastCGI worker threads, each with its own database connection; posts arriving together share one transaction"),
	INT(api, max_body_size, 1024, 67108864, 65536, "largest request body in bytes (413 above)"),
	LIST(api, cors_origins, "origins answered with CORS headers (comma or space separated); empty = no CORS"),
	STR(api, socket, "", "standalone mode: FastCGI Unix socket path"),
	STR(api, listen, "", "standalone mode: FastCGI TCP address host:port"),
	INT(api, message_rate_limit, 0, 1000000, 0, "messages one user may post over HTTP per window, per chat-api process (e.g. 40 per 2 s); 0 = unlimited, the default (the contract limits only login and registration by default)"),
	INT(api, message_rate_window, 1, 86400, 2, "seconds of the message rate window"),
	INT(api, room_create_limit, 0, 1000000, 0, "rooms one user may create per window, per chat-api process (e.g. 10 per 60 s); 0 = unlimited, the default"),
	INT(api, room_create_window, 1, 86400, 60, "seconds of the room creation window"),

	STR(notify, dir, RUNSTATEDIR "/chat", "directory of the relays' wake-up sockets"),

	CHOICE(log, level, "error|warning|info|debug", "info", "least severe level logged"),
	CHOICE(log, target, "stderr|syslog", "stderr", "where log lines go"),
	STR(log, file, "", "with target stderr: append to this file instead (reopened on SIGHUP)"),
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static void *field(chat_config *cfg, const struct key_def *k)
{
	return (char *)cfg + k->off;
}

static const void *cfield(const chat_config *cfg, const struct key_def *k)
{
	return (const char *)cfg + k->off;
}

static const struct key_def *find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcasecmp(keys[i].section, section) == 0 && strcasecmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static void free_list(char **list)
{
	for (size_t i = 0; i < CHAT_CONFIG_LIST_MAX && list[i]; i++) {
		free(list[i]);
		list[i] = NULL;
	}
}

static bool parse_long(const char *s, long *out)
{
	char *end;

	if (!*s || isspace((unsigned char)*s))
		return false;
	errno = 0;
	*out = strtol(s, &end, 10);
	return errno == 0 && *end == '\0';
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static bool choice_ok(const char *choices, const char *s)
{
	size_t n = strlen(s);

	for (const char *p = choices; *p;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (len == n && strncmp(p, s, n) == 0)
			return true;
		if (!bar)
			break;
		p = bar + 1;
	}
	return false;
}

/* Split on commas and white space into a NULL-terminated list that
 * replaces list, or extends it when append is set. On error list is left
 * as it was. */
static int parse_list(const char *s, char **list, bool append, const char **why)
{
	char *tmp[CHAT_CONFIG_LIST_MAX] = { NULL };
	size_t n = 0, kept = 0;
	static const char sep[] = ", \t\r\n";

	while (append && kept < CHAT_CONFIG_LIST_MAX && list[kept])
		kept++;

	for (const char *p = s + strspn(s, sep); *p; p += strspn(p, sep)) {
		size_t len = strcspn(p, sep);

		if (kept + n == CHAT_CONFIG_LIST_MAX - 1) {
			*why = "too many entries";
			goto fail;
		}
		tmp[n] = strndup(p, len);
		if (!tmp[n]) {
			*why = "out of memory";
			goto fail;
		}
		n++;
		p += len;
	}
	if (!append)
		free_list(list);
	memcpy(list + kept, tmp, (CHAT_CONFIG_LIST_MAX - kept) * sizeof(tmp[0]));
	return 0;
fail:
	free_list(tmp);
	return -1;
}

/* Store value into the field of k (append: extend a list instead of
 * replacing it). Returns 0, or -1 with *why set to a static explanation of
 * what was expected. */
static int set_value(chat_config *cfg, const struct key_def *k, const char *value, bool append,
                     const char **why)
{
	void *f = field(cfg, k);
	long l;
	char *copy;

	switch (k->type) {
	case T_INT:
		if (!parse_long(value, &l) || l < k->min || l > k->max) {
			*why = "expected an integer in range";
			return -1;
		}
		*(int *)f = (int)l;
		return 0;
	case T_BOOL:
		if (!parse_bool(value, (bool *)f)) {
			*why = "expected true or false";
			return -1;
		}
		return 0;
	case T_CHOICE:
		if (!choice_ok(k->choices, value)) {
			*why = "expected one of the listed values";
			return -1;
		}
		/* fall through */
	case T_STRING:
		copy = strdup(value);
		if (!copy) {
			*why = "out of memory";
			return -1;
		}
		free(*(char **)f);
		*(char **)f = copy;
		return 0;
	case T_LIST:
		return parse_list(value, (char **)f, append, why);
	}
	*why = "internal error";
	return -1;
}

/* "where: bad value "x" for [relay] port: expected an integer in range 1..65535" */
static void report_bad(FILE *err, const char *where, const struct key_def *k,
                       const char *value, const char *why)
{
	if (!err)
		return;
	fprintf(err, "%s: bad value \"%s\" for [%s] %s: %s", where, value, k->section, k->name,
	        why);
	if (k->type == T_INT)
		fprintf(err, " %ld..%ld", k->min, k->max);
	else if (k->type == T_CHOICE)
		fprintf(err, " (%s)", k->choices);
	fputc('\n', err);
}

/* Set section.name from value. seen (one flag per key, or NULL) makes a
 * list key repeated within one file extend the list: lines are short. */
static int apply(chat_config *cfg, FILE *err, const char *where, const char *section,
                 const char *name, const char *value, bool *seen)
{
	const struct key_def *k = find_key(section, name);
	const char *why = NULL;
	size_t idx;

	if (!k) {
		if (err)
			fprintf(err, "%s: unknown key [%s] %s\n", where, section, name);
		return -1;
	}
	idx = (size_t)(k - keys);
	if (set_value(cfg, k, value, seen && seen[idx], &why) < 0) {
		report_bad(err, where, k, value, why);
		return -1;
	}
	if (seen)
		seen[idx] = true;
	return 0;
}

int chat_config_defaults(chat_config *cfg)
{
	const char *why;

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < N_KEYS; i++) {
		if (set_value(cfg, &keys[i], keys[i].def, false, &why) < 0) {
			chat_config_free(cfg);
			return -1;
		}
	}
	return 0;
}

void chat_config_free(chat_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < N_KEYS; i++) {
		void *f = field(cfg, &keys[i]);

		if (keys[i].type == T_STRING || keys[i].type == T_CHOICE) {
			free(*(char **)f);
			*(char **)f = NULL;
		} else if (keys[i].type == T_LIST) {
			free_list((char **)f);
		}
	}
}

/* The file is read through our own line reader so that every error carries
 * the physical line number and over-long lines are refused, not silently
 * split by inih's fixed buffer. */
struct file_ctx {
	chat_config *cfg;
	FILE *fp;
	FILE *err;
	const char *path;
	int lineno;
	int first_error_line; /* the first line we reported an error for */
	char *line;
	size_t linecap;
	bool seen[N_KEYS];
};

static void note_error(struct file_ctx *c)
{
	if (!c->first_error_line)
		c->first_error_line = c->lineno;
}

/* One physical line per call, so inih's line count is ours. Leading white
 * space is dropped: inih would take an indented line for the continuation
 * of the previous value, which surprises more than it helps. */
static char *reader(char *str, int num, void *stream)
{
	struct file_ctx *c = stream;
	ssize_t n = getline(&c->line, &c->linecap, c->fp);
	const char *p = c->line;

	if (n < 0)
		return NULL;
	c->lineno++;
	while (*p == ' ' || *p == '\t') {
		p++;
		n--;
	}
	/* inih needs room for "\r\n" and the NUL. */
	if (n > num - 3) {
		if (c->err)
			fprintf(c->err, "%s:%d: line too long (at most %d bytes)\n", c->path,
			        c->lineno, num - 4);
		note_error(c);
		/* Hand inih an unparsable line so it records the error too. */
		snprintf(str, (size_t)num, "[\n");
		return str;
	}
	memcpy(str, p, (size_t)n + 1);
	return str;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct file_ctx *c = user;
	char where[PATH_MAX + 32];

	snprintf(where, sizeof(where), "%s:%d", c->path, c->lineno);
	if (apply(c->cfg, c->err, where, section, name, value, c->seen) < 0) {
		note_error(c);
		return 0;
	}
	return 1;
}

int chat_config_load_file(chat_config *cfg, const char *path, FILE *err)
{
	struct file_ctx c = { .cfg = cfg, .err = err, .path = path };
	int rc;

	c.fp = fopen(path, "re");
	if (!c.fp) {
		if (err)
			fprintf(err, "%s: cannot open: %s\n", path, strerror(errno));
		return -1;
	}
	rc = ini_parse_stream(reader, &c, handler, &c);
	/* inih returns the first failing line; when it is not one we already
	 * reported, inih itself could not parse it. */
	if (rc > 0 && rc != c.first_error_line && err)
		fprintf(err, "%s:%d: syntax error (expected [section] or key = value)\n", path, rc);
	else if (rc < 0 && err)
		fprintf(err, "%s: cannot parse (out of memory)\n", path);
	if (ferror(c.fp)) {
		if (err)
			fprintf(err, "%s: read error\n", path);
		rc = -1;
	}
	free(c.line);
	fclose(c.fp);
	return rc == 0 ? 0 : -1;
}

/* CHAT_<SECTION>_<KEY>, upper case. */
static void env_name(const struct key_def *k, char *out, size_t outsz)
{
	snprintf(out, outsz, "CHAT_%s_%s", k->section, k->name);
	for (char *p = out; *p; p++)
		*p = (char)toupper((unsigned char)*p);
}

int chat_config_load_env(chat_config *cfg, FILE *err)
{
	int rc = 0;

	for (size_t i = 0; i < N_KEYS; i++) {
		char name[128], where[160];
		const char *value, *why;

		env_name(&keys[i], name, sizeof(name));
		value = getenv(name);
		if (!value)
			continue;
		if (set_value(cfg, &keys[i], value, false, &why) < 0) {
			snprintf(where, sizeof(where), "environment %s", name);
			report_bad(err, where, &keys[i], value, why);
			rc = -1;
		}
	}
	return rc;
}

int chat_config_set(chat_config *cfg, const char *assignment, FILE *err)
{
	const char *dot = strchr(assignment, '.');
	const char *eq = strchr(assignment, '=');
	char section[64], name[64];
	size_t slen, nlen;

	if (!dot || !eq || dot > eq)
		goto syntax;
	slen = (size_t)(dot - assignment);
	nlen = (size_t)(eq - dot - 1);
	if (slen == 0 || nlen == 0 || slen >= sizeof(section) || nlen >= sizeof(name))
		goto syntax;
	memcpy(section, assignment, slen);
	section[slen] = '\0';
	memcpy(name, dot + 1, nlen);
	name[nlen] = '\0';
	return apply(cfg, err, "--set", section, name, eq + 1, NULL);
syntax:
	if (err)
		fprintf(err, "--set: expected section.key=value, got \"%s\"\n", assignment);
	return -1;
}

/* Length of the HMAC secret the config names (inline or from its file);
 * -1 after reporting when the file cannot be read. */
static long secret_length(const chat_config *cfg, FILE *err)
{
	const char *path = cfg->auth.jwt_secret_file;
	char *buf;
	size_t len;

	if (!*path)
		return (long)strlen(cfg->auth.jwt_secret);
	buf = chat_file_read_secret(path, &len);
	if (!buf) {
		if (err)
			fprintf(err, "[auth] jwt_secret_file %s: %s\n", path, strerror(errno));
		return -1;
	}
	sodium_memzero(buf, len);
	free(buf);
	return (long)len;
}

int chat_config_validate(const chat_config *cfg, FILE *err)
{
	const char *alg = cfg->auth.jwt_algorithm;
	int rc = 0;

#define FAIL(...) do { if (err) fprintf(err, __VA_ARGS__); rc = -1; } while (0)
	if (alg[0] == 'H') {
		long n;

		if (*cfg->auth.jwt_secret && *cfg->auth.jwt_secret_file)
			FAIL("[auth] set jwt_secret or jwt_secret_file, not both\n");
		n = secret_length(cfg, err);
		if (n < 0)
			rc = -1;
		else if (n == 0)
			FAIL("[auth] jwt_algorithm %s needs jwt_secret or jwt_secret_file\n", alg);
		else if (n < MIN_HMAC_SECRET)
			FAIL("[auth] the JWT secret is too short: %ld bytes, at least %d needed\n", n,
			     MIN_HMAC_SECRET);
	} else if (!*cfg->auth.jwt_public_key_file) {
		FAIL("[auth] jwt_algorithm %s needs jwt_public_key_file\n", alg);
	}
	{
		const char *why = NULL;

		if (chat_dbhosts_parse(cfg->database.host, (unsigned)cfg->database.port, NULL, 0,
		                       &why) < 0)
			FAIL("[database] host \"%s\": %s\n", cfg->database.host, why);
	}
	if (cfg->relay.idle_timeout <= cfg->relay.ping_interval)
		FAIL("[relay] idle_timeout (%d) must be longer than ping_interval (%d)\n",
		     cfg->relay.idle_timeout, cfg->relay.ping_interval);
	if (!*cfg->relay.tls_cert != !*cfg->relay.tls_key)
		FAIL("[relay] tls_cert and tls_key go together\n");
	if (*cfg->relay.metrics_listen && cfg->relay.metrics_port == 0)
		FAIL("[relay] metrics_listen needs metrics_port\n");
	if (!*cfg->notify.dir)
		FAIL("[notify] dir must not be empty\n");
#undef FAIL
	return rc;
}

static void print_list(FILE *out, char *const *list)
{
	for (size_t i = 0; i < CHAT_CONFIG_LIST_MAX && list[i]; i++)
		fprintf(out, "%s%s", i ? ", " : "", list[i]);
}

static void print_value(FILE *out, const chat_config *cfg, const struct key_def *k)
{
	const void *f = cfield(cfg, k);

	switch (k->type) {
	case T_INT:
		fprintf(out, "%d", *(const int *)f);
		break;
	case T_BOOL:
		fputs(*(const bool *)f ? "true" : "false", out);
		break;
	case T_STRING:
	case T_CHOICE:
		fputs(k->secret && **(char *const *)f ? "***" : *(char *const *)f, out);
		break;
	case T_LIST:
		print_list(out, (char *const *)f);
		break;
	}
}

void chat_config_dump(const chat_config *cfg, FILE *out)
{
	const char *section = "";

	for (size_t i = 0; i < N_KEYS; i++) {
		if (strcmp(section, keys[i].section) != 0) {
			section = keys[i].section;
			fprintf(out, "%s[%s]\n", i ? "\n" : "", section);
		}
		fprintf(out, "%s = ", keys[i].name);
		print_value(out, cfg, &keys[i]);
		fputc('\n', out);
	}
}

void chat_config_help(FILE *out)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct key_def *k = &keys[i];
		char env[128];

		env_name(k, env, sizeof(env));
		fprintf(out, "  %s.%s (%s, default \"%s\"): %s", k->section, k->name, env, k->def,
		        k->help);
		if (k->type == T_INT)
			fprintf(out, " [%ld..%ld]", k->min, k->max);
		else if (k->type == T_CHOICE)
			fprintf(out, " [%s]", k->choices);
		fputc('\n', out);
	}
}

const char *chat_config_default_path(void)
{
	return SYSCONFDIR "/chat/chat.conf";
}

bool chat_config_list_has(char *const *list, const char *origin)
{
	if (!origin)
		return false;
	for (size_t i = 0; i < CHAT_CONFIG_LIST_MAX && list[i]; i++)
		if (strcasecmp(list[i], origin) == 0)
			return true;
	return false;
}
