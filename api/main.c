/* chat-api: the HTTP API as a FastCGI responder.
 *
 *   chat-api [-c FILE] [--set section.key=value ...]
 *            [--socket PATH | --listen HOST:PORT] [--threads N]
 *            [--check-config] [--version] [--help]
 *
 * Configuration: built-in defaults, then the file (-c, else the default
 * path when it exists), then CHAT_<SECTION>_<KEY> variables, then the
 * command line in order. Without a socket or listen address it serves the
 * FastCGI socket the web server passes on stdin. */
#include <config.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "chat_config.h"
#include "chat_db.h"
#include "chat_jwt.h"
#include "chat_log.h"
#include "chat_password.h"

/* Slots of each per-user limiter: users posting (or creating rooms)
 * within one window, per process. A full table refuses (api/ratelimit.c);
 * 16384 slots take about 3.6 MB. */
#define USER_SLOTS 16384

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: chat-api [OPTIONS]\n"
	        "FastCGI responder for the chat HTTP API (/api/...).\n\n"
	        "  -c, --config FILE      configuration file (default %s, if present)\n"
	        "      --set SEC.KEY=VAL  override one setting (repeatable)\n"
	        "      --socket PATH      listen on a Unix socket (api.socket)\n"
	        "      --listen HOST:PORT listen on TCP (api.listen)\n"
	        "      --threads N        worker threads (api.threads)\n"
	        "      --check-config     check the configuration and exit\n"
	        "      --version          print the version and exit\n"
	        "  -h, --help             this help, then every setting\n\n"
	        "Without --socket/--listen, chat-api serves the FastCGI socket on stdin\n"
	        "(spawned by lighttpd mod_fastcgi, Apache mod_fcgid or spawn-fcgi).\n"
	        "Settings also come from CHAT_<SECTION>_<KEY> environment variables.\n\n",
	        chat_config_default_path());
	chat_config_help(out);
}

enum { OPT_SET = 256, OPT_SOCKET, OPT_LISTEN, OPT_THREADS, OPT_CHECK, OPT_VERSION };

static const struct option options[] = {
	{"config", required_argument, NULL, 'c'},
	{"set", required_argument, NULL, OPT_SET},
	{"socket", required_argument, NULL, OPT_SOCKET},
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"threads", required_argument, NULL, OPT_THREADS},
	{"check-config", no_argument, NULL, OPT_CHECK},
	{"version", no_argument, NULL, OPT_VERSION},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* Apply "key=value" built from an option, through the config table. */
static int set_from_option(chat_config *cfg, const char *key, const char *value)
{
	char buf[1200];
	int w = snprintf(buf, sizeof(buf), "%s=%s", key, value);
	if (w < 0 || (size_t)w >= sizeof(buf)) {
		fprintf(stderr, "chat-api: value for %s too long\n", key);
		return -1;
	}
	return chat_config_set(cfg, buf, stderr);
}

int main(int argc, char **argv)
{
	chat_config cfg;
	api_server srv;
	const char *config_path = NULL;
	bool check = false;
	int rc = 1, opt;

	memset(&cfg, 0, sizeof(cfg));
	memset(&srv, 0, sizeof(srv));

	/* First pass: -c, --help, --version, --check-config. */
	while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c': config_path = optarg; break;
		case 'h': usage(stdout); return 0;
		case OPT_VERSION: printf("chat-api %s\n", PACKAGE_VERSION); return 0;
		case OPT_CHECK: check = true; break;
		case OPT_SET: case OPT_SOCKET: case OPT_LISTEN: case OPT_THREADS: break;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "chat-api: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}

	if (chat_config_defaults(&cfg) != 0) {
		fprintf(stderr, "chat-api: out of memory\n");
		return 1;
	}
	if (!config_path && access(chat_config_default_path(), R_OK) == 0)
		config_path = chat_config_default_path();
	if (config_path && chat_config_load_file(&cfg, config_path, stderr) != 0)
		goto out;
	if (chat_config_load_env(&cfg, stderr) != 0)
		goto out;

	/* Second pass: the command line, in order, over file and environment. */
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
		int r = 0;
		switch (opt) {
		case OPT_SET: r = chat_config_set(&cfg, optarg, stderr); break;
		case OPT_SOCKET: r = set_from_option(&cfg, "api.socket", optarg); break;
		case OPT_LISTEN: r = set_from_option(&cfg, "api.listen", optarg); break;
		case OPT_THREADS: r = set_from_option(&cfg, "api.threads", optarg); break;
		default: break;
		}
		if (r != 0)
			goto out;
	}
	if (chat_config_validate(&cfg, stderr) != 0)
		goto out;
	if (check) {
		printf("configuration OK\n");
		rc = 0;
		goto out;
	}

	if (chat_log_open("chat-api", cfg.log.level, cfg.log.target, cfg.log.file) != 0) {
		fprintf(stderr, "chat-api: cannot open the log (log.level, log.target, log.file)\n");
		goto out;
	}
	if (chat_password_init((unsigned)cfg.auth.password_ops_limit,
	                       (unsigned)cfg.auth.password_mem_kib) != 0) {
		chat_log_error("cannot initialise libsodium");
		goto out;
	}
	srv.cfg = &cfg;
	srv.jwt = chat_jwt_create(&cfg, stderr);
	if (!srv.jwt)
		goto out;
	if (cfg.auth.login_rate_limit > 0) {
		srv.login_limit = api_ratelimit_create((size_t)cfg.auth.login_rate_table_size,
		                                       cfg.auth.login_rate_limit,
		                                       cfg.auth.login_rate_window);
		if (!srv.login_limit) {
			chat_log_error("out of memory");
			goto out;
		}
	}
	/* Per-user limits: a slot per user active in the window. */
	if (cfg.api.message_rate_limit > 0) {
		srv.message_limit = api_ratelimit_create(USER_SLOTS, cfg.api.message_rate_limit,
		                                         cfg.api.message_rate_window);
		if (!srv.message_limit) {
			chat_log_error("out of memory");
			goto out;
		}
	}
	if (cfg.api.room_create_limit > 0) {
		srv.room_limit = api_ratelimit_create(USER_SLOTS, cfg.api.room_create_limit,
		                                      cfg.api.room_create_window);
		if (!srv.room_limit) {
			chat_log_error("out of memory");
			goto out;
		}
	}
	if (chat_db_library_init() != 0) {
		chat_log_error("cannot initialise the MariaDB client library");
		goto out;
	}
	if (FCGX_Init() != 0) {
		chat_log_error("FCGX_Init failed");
		goto out_db;
	}
	int fd = api_fcgi_listen(&cfg);
	if (fd < 0)
		goto out_db;
	rc = api_fcgi_serve(&srv, fd, cfg.api.threads > 0 ? cfg.api.threads : 1);
	if (fd > 0)
		close(fd);
	if (cfg.api.socket && cfg.api.socket[0] && fd > 0)
		unlink(cfg.api.socket);
	chat_log_info("chat-api stopped");
out_db:
	chat_db_library_end();
out:
	api_ratelimit_free(srv.login_limit);
	api_ratelimit_free(srv.message_limit);
	api_ratelimit_free(srv.room_limit);
	chat_jwt_free(srv.jwt);
	chat_log_close();
	chat_config_free(&cfg);
	return rc;
}
