/* Configuration: one INI file (chat.conf), then CHAT_<SECTION>_<KEY>
 * environment variables, then command-line "--set section.key=value"
 * overrides, in that order. Every key lives in one table (chat_config.c)
 * with its type, bounds, default and help; deploy/chat.conf documents them.
 * Unknown keys and bad values are reported as "file:line: ..." errors. */
#ifndef CHAT_CONFIG_H
#define CHAT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CHAT_CONFIG_LIST_MAX 16

typedef struct chat_config {
	struct {
		char *host;          /* "" = use socket */
		int port;
		char *socket;        /* Unix socket path */
		char *user;
		char *password;
		char *name;          /* database name */
		int connect_timeout; /* seconds */
	} database;
	struct {
		char *jwt_algorithm;       /* HS256 (default), RS256, ES256 */
		char *jwt_secret;          /* HS256 shared secret */
		char *jwt_secret_file;     /* or read the secret from a file */
		char *jwt_public_key_file; /* RS256/ES256 verification key (PEM) */
		char *jwt_private_key_file;/* RS256/ES256 signing key, to issue */
		char *jwt_issuer;          /* "" = not checked / not set */
		char *jwt_audience;        /* "" = not checked / not set */
		int jwt_leeway;            /* seconds */
		int access_token_lifetime; /* seconds */
		int refresh_token_lifetime;/* seconds */
		bool allow_anonymous;
		int login_rate_limit;      /* attempts per window per name and per address */
		int login_rate_window;     /* seconds */
		int login_rate_table_size; /* limiter slots per process */
		int password_ops_limit;    /* Argon2id passes */
		int password_mem_kib;      /* Argon2id memory, KiB */
	} auth;
	struct {
		char *listen;              /* address, default 127.0.0.1 */
		int port;                  /* default 8001 */
		int workers;               /* processes sharing the port */
		char *event_loop;          /* auto, libev or poll */
		char *tls_cert;
		char *tls_key;
		int max_frame_size;        /* bytes, default 65536 */
		int max_content_length;    /* code points, default 4000 */
		int rate_limit;            /* frames per second, default 20 */
		int rate_burst;            /* default 40 */
		int max_connections;
		int max_connections_per_user;    /* 0 = no limit */
		int max_connections_per_address; /* 0 = no limit */
		char *trusted_proxies[CHAT_CONFIG_LIST_MAX]; /* NULL-terminated; empty = none */
		int user_rate_limit;       /* frames per second per user, 0 = no limit */
		int user_rate_burst;
		int handshake_timeout;     /* seconds */
		int idle_timeout;          /* seconds without hearing from the client */
		int ping_interval;         /* seconds */
		char *allowed_origins[CHAT_CONFIG_LIST_MAX]; /* NULL-terminated; empty = any */
		int send_queue_max_bytes;
		int send_queue_max_frames;
		int send_timeout;          /* seconds with output queued and none written */
		int replay_limit;          /* default 1000 */
		int poll_interval_ms;      /* safety-net poll of chat_events */
		int typing_timeout;        /* seconds, default 10 */
		int db_workers;            /* database worker threads */
		int db_writers;            /* writer threads (message inserts) */
		int batch_max;             /* max inserts per transaction */
		int gap_timeout_ms;        /* a missing event id older than this is passed over */
		int heartbeat_interval;    /* seconds, presence instance heartbeat */
		char *metrics_listen;      /* "" = off, else address of /healthz and /metrics */
		int metrics_port;
	} relay;
	struct {
		int threads;               /* FastCGI worker threads */
		int max_body_size;         /* bytes, default 65536 */
		char *cors_origins[CHAT_CONFIG_LIST_MAX]; /* NULL-terminated; empty = no CORS */
		char *socket;              /* standalone: Unix socket path */
		char *listen;              /* standalone: host:port */
		int message_rate_limit;    /* per user per window, per process; 0 = off */
		int message_rate_window;   /* seconds */
		int room_create_limit;     /* per user per window, per process; 0 = off */
		int room_create_window;    /* seconds */
	} api;
	struct {
		char *dir;                 /* directory of relay wake-up sockets */
	} notify;
	struct {
		char *level;               /* error, warning, info, debug */
		char *target;              /* stderr or syslog */
		char *file;                /* "" = stderr; else append to this file */
	} log;
} chat_config;

/* Fill cfg with the built-in defaults. Never fails except on OOM
 * (returns -1). */
int chat_config_defaults(chat_config *cfg);

/* Read an INI file over the current values. Errors are written to err
 * (one line each, "path:line: message") and the function returns -1;
 * 0 on success. A missing file is an error. */
int chat_config_load_file(chat_config *cfg, const char *path, FILE *err);

/* Apply CHAT_<SECTION>_<KEY> variables from the environment
 * (e.g. CHAT_DATABASE_SOCKET). Returns -1 after reporting bad values. */
int chat_config_load_env(chat_config *cfg, FILE *err);

/* Apply one "section.key=value" override (from --set). Returns -1 after
 * reporting an unknown key or a bad value. */
int chat_config_set(chat_config *cfg, const char *assignment, FILE *err);

/* Cross-key checks (secret present for HS256, key file for RS256, ...).
 * Returns -1 after reporting. */
int chat_config_validate(const chat_config *cfg, FILE *err);

/* Release every string the config owns. Accepts a zeroed config. */
void chat_config_free(chat_config *cfg);

/* Print every key with its current value (secrets masked) as INI. */
void chat_config_dump(const chat_config *cfg, FILE *out);

/* Print the key table: name, default and help, for --help output. */
void chat_config_help(FILE *out);

/* Default config file path: SYSCONFDIR "/chat/chat.conf". */
const char *chat_config_default_path(void);

/* True when origin (exact, case-insensitive) is in the NULL-terminated list. */
bool chat_config_list_has(char *const *list, const char *origin);

#endif
