/* chat_config: defaults, the INI file, environment and --set overrides,
 * and the error messages an operator sees. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "chat_config.h"
#include "unit_util.h"

static const char *load(chat_config *cfg, const char *text, int *rc, char *path, size_t pathsz)
{
	static char errbuf[4096];
	FILE *err;

	/* fmemopen writes no NUL when nothing is written. */
	errbuf[0] = '\0';
	err = fmemopen(errbuf, sizeof(errbuf), "w");

	assert_non_null(err);
	unit_write_temp(text, path, pathsz);
	*rc = chat_config_load_file(cfg, path, err);
	fclose(err);
	unlink(path);
	return errbuf;
}

static void test_defaults(void **state)
{
	chat_config c;

	assert_int_equal(chat_config_defaults(&c), 0);
	assert_string_equal(c.database.host, "");
	assert_string_equal(c.database.socket, "/run/mysqld/mysqld.sock");
	assert_string_equal(c.database.user, "chat");
	assert_string_equal(c.database.name, "chat");
	assert_string_equal(c.database.password, "");
	assert_int_equal(c.database.port, 3306);
	assert_int_equal(c.database.connect_timeout, 5);
	assert_string_equal(c.auth.jwt_algorithm, "HS256");
	assert_int_equal(c.auth.jwt_leeway, 30);
	assert_int_equal(c.auth.access_token_lifetime, 900);
	assert_int_equal(c.auth.refresh_token_lifetime, 86400);
	assert_false(c.auth.allow_anonymous);
	assert_int_equal(c.auth.login_rate_limit, 10);
	assert_int_equal(c.auth.login_rate_window, 60);
	assert_int_equal(c.auth.login_rate_table_size, 4096);
	assert_int_equal(c.api.message_rate_limit, 0);
	assert_int_equal(c.api.message_rate_window, 2);
	assert_int_equal(c.api.room_create_limit, 0);
	assert_int_equal(c.api.room_create_window, 60);
	assert_int_equal(c.auth.password_ops_limit, 2);
	assert_int_equal(c.auth.password_mem_kib, 19456);
	assert_string_equal(c.relay.listen, "127.0.0.1");
	assert_int_equal(c.relay.port, 8001);
	assert_int_equal(c.relay.workers, 1);
	assert_string_equal(c.relay.event_loop, "auto");
	assert_int_equal(c.relay.max_frame_size, 65536);
	assert_int_equal(c.relay.max_content_length, 4000);
	assert_int_equal(c.relay.rate_limit, 20);
	assert_int_equal(c.relay.rate_burst, 40);
	assert_int_equal(c.relay.max_connections, 19000);
	assert_int_equal(c.relay.max_connections_per_user, 50);
	assert_int_equal(c.relay.max_connections_per_address, 1000);
	assert_string_equal(c.relay.trusted_proxies[0], "127.0.0.1");
	assert_string_equal(c.relay.trusted_proxies[1], "::1");
	assert_null(c.relay.trusted_proxies[2]);
	assert_int_equal(c.relay.user_rate_limit, 30);
	assert_int_equal(c.relay.user_rate_burst, 60);
	assert_int_equal(c.relay.handshake_timeout, 10);
	assert_int_equal(c.relay.idle_timeout, 75);
	assert_int_equal(c.relay.ping_interval, 30);
	assert_null(c.relay.allowed_origins[0]);
	assert_int_equal(c.relay.send_queue_max_bytes, 1048576);
	assert_int_equal(c.relay.send_queue_max_frames, 1024);
	assert_int_equal(c.relay.send_timeout, 30);
	assert_int_equal(c.relay.replay_limit, 1000);
	assert_int_equal(c.relay.poll_interval_ms, 500);
	assert_int_equal(c.relay.typing_timeout, 10);
	assert_int_equal(c.relay.db_workers, 2);
	assert_int_equal(c.relay.db_writers, 1);
	assert_int_equal(c.relay.batch_max, 256);
	assert_int_equal(c.relay.gap_timeout_ms, 10000);
	assert_int_equal(c.relay.heartbeat_interval, 10);
	assert_string_equal(c.relay.metrics_listen, "");
	assert_int_equal(c.relay.metrics_port, 0);
	assert_int_equal(c.api.threads, 16);
	assert_int_equal(c.api.max_body_size, 65536);
	assert_null(c.api.cors_origins[0]);
	assert_string_equal(c.notify.dir, RUNSTATEDIR "/chat");
	assert_string_equal(c.log.level, "info");
	assert_string_equal(c.log.target, "stderr");
	assert_string_equal(c.log.file, "");
	chat_config_free(&c);
	chat_config_free(&c); /* idempotent */
}

static void test_file(void **state)
{
	chat_config c;
	char path[256];
	int rc;
	const char *err;

	assert_int_equal(chat_config_defaults(&c), 0);
	err = load(&c,
	           "; comment\n"
	           "# another comment\n"
	           "[database]\n"
	           "socket = /tmp/db.sock\n"
	           "  password = p@ss word ; inline comment\n"
	           "port=3307\n"
	           "\n"
	           "[auth]\n"
	           "allow_anonymous = yes\n"
	           "jwt_secret = 0123456789abcdef0123\n"
	           "[relay]\n"
	           "allowed_origins = https://a.example, https://b.example  http://c.example\n"
	           "[api]\n"
	           "cors_origins = https://a.example\n"
	           "[log]\n"
	           "level = debug\n",
	           &rc, path, sizeof(path));
	assert_int_equal(rc, 0);
	assert_string_equal(err, "");
	assert_string_equal(c.database.socket, "/tmp/db.sock");
	assert_string_equal(c.database.password, "p@ss word");
	assert_int_equal(c.database.port, 3307);
	assert_true(c.auth.allow_anonymous);
	assert_string_equal(c.relay.allowed_origins[0], "https://a.example");
	assert_string_equal(c.relay.allowed_origins[1], "https://b.example");
	assert_string_equal(c.relay.allowed_origins[2], "http://c.example");
	assert_null(c.relay.allowed_origins[3]);
	assert_true(chat_config_list_has(c.relay.allowed_origins, "HTTPS://B.example"));
	assert_false(chat_config_list_has(c.relay.allowed_origins, "https://b.example.evil"));
	assert_false(chat_config_list_has(c.relay.allowed_origins, NULL));
	assert_string_equal(c.api.cors_origins[0], "https://a.example");
	assert_null(c.api.cors_origins[1]);
	assert_string_equal(c.log.level, "debug");
	assert_int_equal(chat_config_validate(&c, NULL), 0);
	chat_config_free(&c);

	/* A list key repeated in one file continues the list (lines are
	 * short); loading another file starts it afresh. */
	assert_int_equal(chat_config_defaults(&c), 0);
	err = load(&c,
	           "[api]\ncors_origins = https://a.example\n"
	           "cors_origins = https://b.example, https://c.example\n",
	           &rc, path, sizeof(path));
	assert_int_equal(rc, 0);
	assert_string_equal(c.api.cors_origins[0], "https://a.example");
	assert_string_equal(c.api.cors_origins[2], "https://c.example");
	assert_null(c.api.cors_origins[3]);
	err = load(&c, "[api]\ncors_origins = https://d.example\n", &rc, path, sizeof(path));
	assert_int_equal(rc, 0);
	assert_string_equal(c.api.cors_origins[0], "https://d.example");
	assert_null(c.api.cors_origins[1]);
	chat_config_free(&c);
}

static void test_file_errors(void **state)
{
	chat_config c;
	char path[256], expect[4096];
	int rc;
	const char *err;

	assert_int_equal(chat_config_defaults(&c), 0);
	err = load(&c,
	           "[relay]\n"
	           "port = 8002\n"
	           "prot = 8003\n"
	           "port = 70000\n"
	           "[auth]\n"
	           "allow_anonymous = maybe\n"
	           "jwt_algorithm = none\n"
	           "[nosuch]\n"
	           "key = 1\n"
	           "[database]\n"
	           "port = 12x\n",
	           &rc, path, sizeof(path));
	assert_int_equal(rc, -1);
	snprintf(expect, sizeof(expect),
	         "%s:3: unknown key [relay] prot\n"
	         "%s:4: bad value \"70000\" for [relay] port: expected an integer in range 1..65535\n"
	         "%s:6: bad value \"maybe\" for [auth] allow_anonymous: expected true or false\n"
	         "%s:7: bad value \"none\" for [auth] jwt_algorithm: expected one of the listed "
	         "values (HS256|HS384|HS512|RS256|RS384|RS512|ES256|ES384|ES512)\n"
	         "%s:9: unknown key [nosuch] key\n"
	         "%s:11: bad value \"12x\" for [database] port: expected an integer in range 1..65535\n",
	         path, path, path, path, path, path);
	assert_string_equal(err, expect);
	/* Good lines still applied; bad ones left the previous value. */
	assert_int_equal(c.relay.port, 8002);
	assert_false(c.auth.allow_anonymous);
	assert_string_equal(c.auth.jwt_algorithm, "HS256");
	chat_config_free(&c);
}

static void test_file_syntax(void **state)
{
	chat_config c;
	char path[256], expect[1024], longline[600];
	int rc;
	const char *err;

	assert_int_equal(chat_config_defaults(&c), 0);
	err = load(&c, "[relay]\nport = 8002\njust some words\n", &rc, path, sizeof(path));
	assert_int_equal(rc, -1);
	snprintf(expect, sizeof(expect),
	         "%s:3: syntax error (expected [section] or key = value)\n", path);
	assert_string_equal(err, expect);

	/* A line longer than inih's buffer is refused, not split. */
	memset(longline, 'a', sizeof(longline));
	memcpy(longline, "[auth]\njwt_secret = ", 20);
	longline[sizeof(longline) - 2] = '\n';
	longline[sizeof(longline) - 1] = '\0';
	err = load(&c, longline, &rc, path, sizeof(path));
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, ":2: line too long (at most 196 bytes)\n"));
	assert_string_equal(c.auth.jwt_secret, "");

	/* A key without a value is a syntax error, not an empty value. */
	err = load(&c, "[database]\npassword\n", &rc, path, sizeof(path));
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, ":2: syntax error"));

	assert_int_equal(chat_config_load_file(&c, "/nonexistent/chat.conf", NULL), -1);
	chat_config_free(&c);
}

static void test_env(void **state)
{
	chat_config c;
	char errbuf[1024] = "";
	FILE *err;

	assert_int_equal(chat_config_defaults(&c), 0);
	setenv("CHAT_DATABASE_SOCKET", "/run/other.sock", 1);
	setenv("CHAT_RELAY_PORT", "9001", 1);
	setenv("CHAT_AUTH_JWT_SECRET", "from-the-environment-1234", 1);
	setenv("CHAT_RELAY_ALLOWED_ORIGINS", "https://x.example,https://y.example", 1);
	assert_int_equal(chat_config_load_env(&c, NULL), 0);
	assert_string_equal(c.database.socket, "/run/other.sock");
	assert_int_equal(c.relay.port, 9001);
	assert_string_equal(c.auth.jwt_secret, "from-the-environment-1234");
	assert_string_equal(c.relay.allowed_origins[1], "https://y.example");

	setenv("CHAT_API_THREADS", "many", 1);
	err = fmemopen(errbuf, sizeof(errbuf), "w");
	assert_int_equal(chat_config_load_env(&c, err), -1);
	fclose(err);
	assert_string_equal(errbuf, "environment CHAT_API_THREADS: bad value \"many\" for [api] "
	                            "threads: expected an integer in range 1..1024\n");
	assert_int_equal(c.api.threads, 16);
	unsetenv("CHAT_API_THREADS");
	unsetenv("CHAT_DATABASE_SOCKET");
	unsetenv("CHAT_RELAY_PORT");
	unsetenv("CHAT_AUTH_JWT_SECRET");
	unsetenv("CHAT_RELAY_ALLOWED_ORIGINS");
	chat_config_free(&c);
}

static void test_set(void **state)
{
	chat_config c;
	char errbuf[1024] = "";
	FILE *err;

	assert_int_equal(chat_config_defaults(&c), 0);
	assert_int_equal(chat_config_set(&c, "relay.port=9100", NULL), 0);
	assert_int_equal(c.relay.port, 9100);
	assert_int_equal(chat_config_set(&c, "auth.jwt_issuer=https://issuer.example/a=b", NULL), 0);
	assert_string_equal(c.auth.jwt_issuer, "https://issuer.example/a=b");
	assert_int_equal(chat_config_set(&c, "api.cors_origins=", NULL), 0);
	assert_null(c.api.cors_origins[0]);
	assert_int_equal(chat_config_set(&c, "log.level=warning", NULL), 0);
	assert_string_equal(c.log.level, "warning");
	assert_int_equal(chat_config_set(&c, "relay.event_loop=poll", NULL), 0);
	assert_string_equal(c.relay.event_loop, "poll");

	err = fmemopen(errbuf, sizeof(errbuf), "w");
	assert_int_equal(chat_config_set(&c, "relay.event_loop=epoll", err), -1);
	assert_int_equal(chat_config_set(&c, "relay.nope=1", err), -1);
	assert_int_equal(chat_config_set(&c, "relayport=1", err), -1);
	assert_int_equal(chat_config_set(&c, "relay.port", err), -1);
	assert_int_equal(chat_config_set(&c, "relay.port=0", err), -1);
	assert_int_equal(chat_config_set(&c, "database.password=", err), 0);
	assert_int_equal(chat_config_set(&c, "database.port=-1", err), -1);
	fclose(err);
	assert_string_equal(errbuf,
	                    "--set: bad value \"epoll\" for [relay] event_loop: expected one of the listed values (auto|libev|poll)\n"
	                    "--set: unknown key [relay] nope\n"
	                    "--set: expected section.key=value, got \"relayport=1\"\n"
	                    "--set: expected section.key=value, got \"relay.port\"\n"
	                    "--set: bad value \"0\" for [relay] port: expected an integer in range 1..65535\n"
	                    "--set: bad value \"-1\" for [database] port: expected an integer in range 1..65535\n");
	assert_int_equal(c.relay.port, 9100);
	chat_config_free(&c);
}

static void test_lists(void **state)
{
	chat_config c;
	char big[2048] = "relay.allowed_origins=";

	assert_int_equal(chat_config_defaults(&c), 0);
	assert_int_equal(chat_config_set(&c, "relay.allowed_origins= ,a ,, b\tc, ", NULL), 0);
	assert_string_equal(c.relay.allowed_origins[0], "a");
	assert_string_equal(c.relay.allowed_origins[1], "b");
	assert_string_equal(c.relay.allowed_origins[2], "c");
	assert_null(c.relay.allowed_origins[3]);
	/* A new value replaces the list. */
	assert_int_equal(chat_config_set(&c, "relay.allowed_origins=z", NULL), 0);
	assert_string_equal(c.relay.allowed_origins[0], "z");
	assert_null(c.relay.allowed_origins[1]);
	/* More entries than fit: refused, old list kept. */
	for (int i = 0; i < CHAT_CONFIG_LIST_MAX; i++) {
		char one[16];

		snprintf(one, sizeof(one), "o%d,", i);
		strcat(big, one);
	}
	assert_int_equal(chat_config_set(&c, big, NULL), -1);
	assert_string_equal(c.relay.allowed_origins[0], "z");
	assert_null(c.relay.allowed_origins[1]);
	chat_config_free(&c);
}

static int validate(chat_config *c, const char *const *sets, char *errbuf, size_t errsz)
{
	FILE *err = fmemopen(errbuf, errsz, "w");
	int rc;

	for (; *sets; sets++)
		assert_int_equal(chat_config_set(c, *sets, NULL), 0);
	rc = chat_config_validate(c, err);
	fclose(err);
	return rc;
}

static void test_validate(void **state)
{
	chat_config c;
	char errbuf[1024], path[256];

	assert_int_equal(chat_config_defaults(&c), 0);
	memset(errbuf, 0, sizeof(errbuf));
	assert_int_equal(validate(&c, (const char *[]){ NULL }, errbuf, sizeof(errbuf)), -1);
	assert_string_equal(errbuf, "[auth] jwt_algorithm HS256 needs jwt_secret or jwt_secret_file\n");

	memset(errbuf, 0, sizeof(errbuf));
	assert_int_equal(validate(&c, (const char *[]){ "auth.jwt_secret=short", NULL }, errbuf,
	                          sizeof(errbuf)),
	                 -1);
	assert_string_equal(errbuf, "[auth] the JWT secret is too short: 5 bytes, at least 16 needed\n");

	memset(errbuf, 0, sizeof(errbuf));
	assert_int_equal(validate(&c, (const char *[]){ "auth.jwt_secret=0123456789abcdef", NULL },
	                          errbuf, sizeof(errbuf)),
	                 0);
	assert_string_equal(errbuf, "");

	/* The secret from a file, its trailing newline ignored. */
	unit_write_temp("0123456789abcde\n", path, sizeof(path));
	memset(errbuf, 0, sizeof(errbuf));
	chat_config_set(&c, "auth.jwt_secret=", NULL);
	{
		char set[300];

		snprintf(set, sizeof(set), "auth.jwt_secret_file=%s", path);
		assert_int_equal(validate(&c, (const char *[]){ set, NULL }, errbuf, sizeof(errbuf)), -1);
	}
	assert_string_equal(errbuf, "[auth] the JWT secret is too short: 15 bytes, at least 16 needed\n");
	unlink(path);
	memset(errbuf, 0, sizeof(errbuf));
	assert_int_equal(validate(&c, (const char *[]){ NULL }, errbuf, sizeof(errbuf)), -1);
	assert_non_null(strstr(errbuf, "No such file"));

	memset(errbuf, 0, sizeof(errbuf));
	assert_int_equal(validate(&c,
	                          (const char *[]){ "auth.jwt_secret_file=", "auth.jwt_algorithm=RS256",
	                                            "relay.ping_interval=80", NULL },
	                          errbuf, sizeof(errbuf)),
	                 -1);
	assert_string_equal(errbuf, "[auth] jwt_algorithm RS256 needs jwt_public_key_file\n"
	                            "[relay] idle_timeout (75) must be longer than ping_interval (80)\n");
	chat_config_free(&c);

	/* [database] host may list servers; a malformed list is named. */
	assert_int_equal(chat_config_defaults(&c), 0);
	memset(errbuf, 0, sizeof(errbuf));
	assert_int_equal(validate(&c,
	                          (const char *[]){ "auth.jwt_secret=0123456789abcdef",
	                                            "database.host=10.0.0.1, 10.0.0.2:3307", NULL },
	                          errbuf, sizeof(errbuf)),
	                 0);
	memset(errbuf, 0, sizeof(errbuf));
	assert_int_equal(validate(&c, (const char *[]){ "database.host=10.0.0.1,,10.0.0.2", NULL },
	                          errbuf, sizeof(errbuf)),
	                 -1);
	assert_string_equal(errbuf, "[database] host \"10.0.0.1,,10.0.0.2\": an empty entry in the list\n");
	memset(errbuf, 0, sizeof(errbuf));
	assert_int_equal(validate(&c, (const char *[]){ "database.host=db:99999", NULL }, errbuf,
	                          sizeof(errbuf)),
	                 -1);
	assert_string_equal(errbuf,
	                    "[database] host \"db:99999\": a port is not a number from 1 to 65535\n");
	chat_config_free(&c);
}

static void test_dump(void **state)
{
	chat_config c;
	char *buf = NULL;
	size_t len = 0;
	FILE *out;

	assert_int_equal(chat_config_defaults(&c), 0);
	chat_config_set(&c, "auth.jwt_secret=supersecretvalue-0123", NULL);
	chat_config_set(&c, "database.password=dbpass", NULL);
	chat_config_set(&c, "relay.allowed_origins=https://a https://b", NULL);
	out = open_memstream(&buf, &len);
	chat_config_dump(&c, out);
	fclose(out);
	assert_null(strstr(buf, "supersecretvalue"));
	assert_null(strstr(buf, "dbpass"));
	assert_non_null(strstr(buf, "[auth]\njwt_algorithm = HS256\njwt_secret = ***\n"));
	assert_non_null(strstr(buf, "password = ***\n"));
	assert_non_null(strstr(buf, "allowed_origins = https://a, https://b\n"));
	assert_non_null(strstr(buf, "[relay]\nlisten = 127.0.0.1\nport = 8001\n"));
	free(buf);

	/* The dump reads back as the same configuration. */
	{
		chat_config d;
		char path[256];

		buf = NULL;
		chat_config_set(&c, "auth.jwt_secret=", NULL);
		chat_config_set(&c, "database.password=", NULL);
		out = open_memstream(&buf, &len);
		chat_config_dump(&c, out);
		fclose(out);
		assert_int_equal(chat_config_defaults(&d), 0);
		unit_write_temp(buf, path, sizeof(path));
		assert_int_equal(chat_config_load_file(&d, path, stderr), 0);
		unlink(path);
		assert_string_equal(d.relay.allowed_origins[1], "https://b");
		assert_int_equal(d.relay.port, 8001);
		chat_config_free(&d);
		free(buf);
	}

	buf = NULL;
	out = open_memstream(&buf, &len);
	chat_config_help(out);
	fclose(out);
	assert_non_null(strstr(buf, "relay.port (CHAT_RELAY_PORT, default \"8001\"): "));
	free(buf);
	chat_config_free(&c);
	assert_non_null(strstr(chat_config_default_path(), "/chat/chat.conf"));
}

/* Every key of the table, as "section.key" lines, from the --help text. */
static char *all_keys(void)
{
	char *help = NULL, *keys = NULL;
	size_t hlen = 0, klen = 0;
	FILE *h = open_memstream(&help, &hlen);
	FILE *k = open_memstream(&keys, &klen);

	chat_config_help(h);
	fclose(h);
	for (char *line = help; line && *line;) {
		char *nl = strchr(line, '\n');

		fprintf(k, "%.*s\n", (int)strcspn(line + 2, " "), line + 2);
		line = nl ? nl + 1 : NULL;
	}
	fclose(k);
	free(help);
	return keys;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	assert_non_null(f);
	buf = malloc(1 << 20);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* deploy/chat.conf lists every key, commented out with its default, and
 * reads cleanly with every key uncommented; docs/configuration.md names
 * every key's environment variable. */
static void test_sample_and_docs(void **state)
{
	char *keys = all_keys();
	char *conf = slurp(UNIT_TOP_SRCDIR "/deploy/chat.conf");
	char *docs = slurp(UNIT_TOP_SRCDIR "/docs/configuration.md");
	char *uncommented = malloc(strlen(conf) + 2), *seen = NULL, *out = uncommented;
	size_t seenlen = 0;
	FILE *s = open_memstream(&seen, &seenlen);
	char section[64] = "", path[256];
	chat_config c;
	int rc, nkeys = 0;

	for (char *line = conf; *line;) {
		size_t len = strcspn(line, "\n");
		char key[64];

		if (sscanf(line, "[%63[a-z]]", section) == 1) {
			/* section header */
		} else if (line[0] == '#' && sscanf(line + 1, "%63[a-z_] =", key) == 1 &&
		           strstr(line, " =") == line + 1 + strlen(key)) {
			fprintf(s, "%s.%s\n", section, key);
			line++, len--; /* uncomment */
			nkeys++;
		}
		memcpy(out, line, len);
		out += len;
		*out++ = '\n';
		line += len + (line[len] == '\n');
	}
	*out = '\0';
	fclose(s);
	assert_string_equal(seen, keys);

	assert_int_equal(chat_config_defaults(&c), 0);
	assert_string_equal(load(&c, conf, &rc, path, sizeof(path)), "");
	assert_int_equal(rc, 0);
	assert_string_equal(load(&c, uncommented, &rc, path, sizeof(path)), "");
	assert_int_equal(rc, 0);
	chat_config_free(&c);

	for (char *k = keys; *k; k += strcspn(k, "\n") + 1) {
		char env[128] = "CHAT_";
		size_t i = 5;

		for (const char *p = k; *p != '\n' && i < sizeof(env) - 1; p++)
			env[i++] = *p == '.' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		env[i] = '\0';
		if (!strstr(docs, env))
			fail_msg("docs/configuration.md does not mention %s", env);
	}
	assert_true(nkeys > 50);
	free(keys);
	free(conf);
	free(docs);
	free(uncommented);
	free(seen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),  cmocka_unit_test(test_file),
		cmocka_unit_test(test_file_errors), cmocka_unit_test(test_file_syntax),
		cmocka_unit_test(test_env),       cmocka_unit_test(test_set),
		cmocka_unit_test(test_lists),     cmocka_unit_test(test_validate),
		cmocka_unit_test(test_dump),      cmocka_unit_test(test_sample_and_docs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
