/* chatctl: administration of the chat database.
 *
 *   chatctl [-c FILE] [--set section.key=value]... COMMAND [ARGS]
 *
 * Exit status: 0 success, 1 failure (database, not found, conflict),
 * 2 usage error. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chat_config.h"
#include "chat_dal.h"
#include "chat_db.h"
#include "chat_jwt.h"
#include "chat_migrate.h"
#include "chat_password.h"
#include "chat_validate.h"

#ifndef DATADIR
#define DATADIR "/usr/local/share/chat"
#endif

#define EXIT_USAGE 2
#define MAX_ARGS 32
#define PASSWORD_LINE_MAX 1024

static const char usage_text[] =
	"usage: chatctl [-c FILE] [--set section.key=value]... COMMAND [ARGS]\n"
	"\n"
	"commands:\n"
	"  migrate [--schema-dir DIR]        apply the schema migrations (default dir " DATADIR
	"/schema)\n"
	"  version                           program, schema and server versions\n"
	"  add-user NAME (--password-stdin | --no-password)\n"
	"                                    create a user; prints its id\n"
	"  create-room NAME --owner USER [--private] [--description TEXT]\n"
	"                                    create a room; prints its id\n"
	"  add-member ROOM_ID USER           make USER a member of the room\n"
	"  mint-token USER [--refresh]       print an access (or refresh) token for USER\n"
	"  purge-events --older-than SECONDS delete chat_events rows older than that\n"
	"\n"
	"options:\n"
	"  -c FILE                           configuration file (default " SYSCONFDIR
	"/chat/chat.conf if it exists)\n"
	"  --set section.key=value           override one configuration key\n"
	"  -h, --help                        this text\n"
	"USER is a user name, or #ID for a numeric id.\n";

typedef struct cli {
	const char *conf_path;
	const char *sets[MAX_ARGS];
	size_t nsets;
	const char *pos[MAX_ARGS]; /* command and its positional arguments */
	size_t npos;
	const char *schema_dir;
	bool password_stdin, no_password, is_private, refresh;
	const char *owner;
	const char *description;
	const char *older_than;
} cli;

static int usage_error(const char *msg)
{
	fprintf(stderr, "chatctl: %s\n(chatctl --help lists the commands)\n", msg);
	return EXIT_USAGE;
}

/* Options may appear before or after the command. Returns 0, or an exit
 * status to return at once. */
static int parse_args(int argc, char **argv, cli *c)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **value = NULL;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage_text, stdout);
			return -1;
		} else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			value = &c->conf_path;
		} else if (strcmp(a, "--set") == 0) {
			if (i + 1 >= argc)
				return usage_error("--set needs section.key=value");
			if (c->nsets == MAX_ARGS)
				return usage_error("too many --set options");
			c->sets[c->nsets++] = argv[++i];
			continue;
		} else if (strcmp(a, "--schema-dir") == 0) {
			value = &c->schema_dir;
		} else if (strcmp(a, "--owner") == 0) {
			value = &c->owner;
		} else if (strcmp(a, "--description") == 0) {
			value = &c->description;
		} else if (strcmp(a, "--older-than") == 0) {
			value = &c->older_than;
		} else if (strcmp(a, "--password-stdin") == 0) {
			c->password_stdin = true;
			continue;
		} else if (strcmp(a, "--no-password") == 0) {
			c->no_password = true;
			continue;
		} else if (strcmp(a, "--private") == 0) {
			c->is_private = true;
			continue;
		} else if (strcmp(a, "--refresh") == 0) {
			c->refresh = true;
			continue;
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "chatctl: unknown option %s\n", a);
			return EXIT_USAGE;
		} else {
			if (c->npos == MAX_ARGS)
				return usage_error("too many arguments");
			c->pos[c->npos++] = a;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "chatctl: %s needs a value\n", a);
			return EXIT_USAGE;
		}
		*value = argv[++i];
	}
	return 0;
}

static int load_config(const cli *c, chat_config *cfg)
{
	if (chat_config_defaults(cfg) != 0) {
		fprintf(stderr, "chatctl: out of memory\n");
		return -1;
	}
	const char *path = c->conf_path;
	if (!path && access(chat_config_default_path(), R_OK) == 0)
		path = chat_config_default_path();
	if (path && chat_config_load_file(cfg, path, stderr) != 0)
		return -1;
	if (chat_config_load_env(cfg, stderr) != 0)
		return -1;
	for (size_t i = 0; i < c->nsets; i++)
		if (chat_config_set(cfg, c->sets[i], stderr) != 0)
			return -1;
	return 0;
}

static chat_db *open_db(const chat_config *cfg)
{
	chat_err e = CHAT_OK;
	chat_db *db = chat_db_open(cfg, &e);
	if (!db) {
		fprintf(stderr, "chatctl: out of memory\n");
		return NULL;
	}
	if (e != CHAT_OK) {
		fprintf(stderr, "chatctl: cannot connect to the database: %s\n", chat_db_error(db));
		chat_db_close(db);
		return NULL;
	}
	return db;
}

static int db_fail(chat_db *db, const char *what, chat_err e)
{
	if (chat_db_errno(db))
		fprintf(stderr, "chatctl: %s: %s (%s)\n", what, chat_err_str(e), chat_db_error(db));
	else
		fprintf(stderr, "chatctl: %s: %s\n", what, chat_err_str(e));
	return 1;
}

/* "#12" is the id 12; anything else a user name. */
static int resolve_user(chat_db *db, const char *spec, chat_user *u)
{
	chat_err e;
	if (spec[0] == '#') {
		long long id;
		if (chat_parse_id(spec + 1, strlen(spec + 1), &id) != CHAT_OK) {
			fprintf(stderr, "chatctl: %s is not a user id\n", spec);
			return EXIT_USAGE;
		}
		e = chat_dal_user_by_id(db, id, u);
	} else {
		e = chat_dal_user_by_name(db, spec, u);
	}
	if (e == CHAT_ERR_NOT_FOUND) {
		fprintf(stderr, "chatctl: no user %s\n", spec);
		return 1;
	}
	if (e != CHAT_OK)
		return db_fail(db, "looking up the user", e);
	return 0;
}

static int cmd_migrate(const cli *c, const chat_config *cfg)
{
	const char *dir = c->schema_dir ? c->schema_dir : DATADIR "/schema";
	chat_err e = chat_migrate_run(cfg, dir, stdout);
	if (e != CHAT_OK) {
		fprintf(stderr, "chatctl: migration failed: %s\n", chat_err_str(e));
		return 1;
	}
	return 0;
}

static int cmd_version(const chat_config *cfg)
{
	printf("chatctl %s\n", PACKAGE_VERSION);
	chat_db *db = open_db(cfg);
	if (!db)
		return 1;
	int v = 0;
	chat_err e = chat_dal_schema_version(db, &v);
	int rc = 0;
	if (e != CHAT_OK)
		rc = db_fail(db, "reading the schema version", e);
	else
		printf("schema version %d\nserver %s\n", v, chat_db_server_version(db));
	chat_db_close(db);
	return rc;
}

static int read_password(char *buf, size_t sz)
{
	if (!fgets(buf, (int)sz, stdin)) {
		fprintf(stderr, "chatctl: no password on standard input\n");
		return -1;
	}
	size_t n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (n == sz - 1) {
		fprintf(stderr, "chatctl: password line too long\n");
		return -1;
	}
	if (n && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return 0;
}

static int cmd_add_user(const cli *c, const chat_config *cfg)
{
	if (c->npos != 2)
		return usage_error("add-user NAME (--password-stdin | --no-password)");
	if (c->password_stdin == c->no_password)
		return usage_error("add-user needs exactly one of --password-stdin and --no-password");
	const char *name = c->pos[1];
	const char *detail = NULL;
	if (chat_validate_username(name, strlen(name), &detail) != CHAT_OK) {
		fprintf(stderr, "chatctl: user name: %s\n", detail);
		return EXIT_USAGE;
	}
	char hash[CHAT_PASSWORD_HASH_BUF] = "";
	if (c->password_stdin) {
		char pw[PASSWORD_LINE_MAX + 2];
		if (read_password(pw, sizeof(pw)) != 0)
			return 1;
		if (chat_validate_password(pw, strlen(pw), &detail) != CHAT_OK) {
			fprintf(stderr, "chatctl: password: %s\n", detail);
			return EXIT_USAGE;
		}
		if (chat_password_init((unsigned)cfg->auth.password_ops_limit,
		                       (unsigned)cfg->auth.password_mem_kib) != 0 ||
		    chat_password_hash(pw, hash) != 0) {
			fprintf(stderr, "chatctl: cannot hash the password\n");
			return 1;
		}
		memset(pw, 0, sizeof(pw));
	}
	chat_db *db = open_db(cfg);
	if (!db)
		return 1;
	int64_t id = 0;
	chat_err e = chat_dal_user_create(db, name, hash, &id);
	int rc = 0;
	if (e == CHAT_ERR_DUPLICATE) {
		fprintf(stderr, "chatctl: user name %s is taken\n", name);
		rc = 1;
	} else if (e != CHAT_OK) {
		rc = db_fail(db, "creating the user", e);
	} else {
		printf("%lld\n", (long long)id);
	}
	chat_db_close(db);
	return rc;
}

static int cmd_create_room(const cli *c, const chat_config *cfg)
{
	if (c->npos != 2 || !c->owner)
		return usage_error("create-room NAME --owner USER [--private] [--description TEXT]");
	const char *name = c->pos[1];
	const char *desc = c->description ? c->description : "";
	const char *detail = NULL;
	if (chat_validate_room_name(name, strlen(name), &detail) != CHAT_OK ||
	    chat_validate_description(desc, strlen(desc), &detail) != CHAT_OK) {
		fprintf(stderr, "chatctl: %s\n", detail);
		return EXIT_USAGE;
	}
	chat_db *db = open_db(cfg);
	if (!db)
		return 1;
	chat_user owner;
	int rc = resolve_user(db, c->owner, &owner);
	if (rc == 0) {
		chat_room room;
		chat_err e = chat_dal_room_create(db, name, desc, c->is_private, owner.id, &room);
		if (e != CHAT_OK) {
			rc = db_fail(db, "creating the room", e);
		} else {
			printf("%lld\n", (long long)room.id);
			chat_room_clear(&room);
		}
	}
	chat_db_close(db);
	return rc;
}

static int cmd_add_member(const cli *c, const chat_config *cfg)
{
	if (c->npos != 3)
		return usage_error("add-member ROOM_ID USER");
	long long room_id;
	if (chat_parse_id(c->pos[1], strlen(c->pos[1]), &room_id) != CHAT_OK)
		return usage_error("ROOM_ID must be a positive integer");
	chat_db *db = open_db(cfg);
	if (!db)
		return 1;
	chat_user u;
	int rc = resolve_user(db, c->pos[2], &u);
	if (rc == 0) {
		chat_err e = chat_dal_member_add(db, room_id, u.id, CHAT_ROLE_MEMBER);
		if (e == CHAT_ERR_NOT_FOUND) {
			fprintf(stderr, "chatctl: no room %lld\n", room_id);
			rc = 1;
		} else if (e != CHAT_OK) {
			rc = db_fail(db, "adding the member", e);
		}
	}
	chat_db_close(db);
	return rc;
}

static int cmd_mint_token(const cli *c, const chat_config *cfg)
{
	if (c->npos != 2)
		return usage_error("mint-token USER [--refresh]");
	chat_jwt *jwt = chat_jwt_create(cfg, stderr);
	if (!jwt)
		return 1;
	chat_db *db = open_db(cfg);
	int rc = 1;
	if (!db)
		goto out;
	chat_user u;
	rc = resolve_user(db, c->pos[1], &u);
	if (rc != 0)
		goto out;
	if (!u.is_active) {
		fprintf(stderr, "chatctl: user %s is not active\n", u.username);
		rc = 1;
		goto out;
	}
	char *tok = chat_jwt_issue(jwt, u.id, c->refresh ? CHAT_TOKEN_REFRESH : CHAT_TOKEN_ACCESS,
	                           time(NULL));
	if (!tok) {
		fprintf(stderr, "chatctl: cannot issue a token (is a signing key configured?)\n");
		rc = 1;
		goto out;
	}
	printf("%s\n", tok);
	free(tok);
	rc = 0;
out:
	chat_db_close(db);
	chat_jwt_free(jwt);
	return rc;
}

static int cmd_purge_events(const cli *c, const chat_config *cfg)
{
	if (c->npos != 1 || !c->older_than)
		return usage_error("purge-events --older-than SECONDS");
	char *end = NULL;
	errno = 0;
	long s = strtol(c->older_than, &end, 10);
	if (errno || !end || *end || end == c->older_than || s < 0 || s > 100L * 365 * 86400)
		return usage_error("--older-than takes a number of seconds");
	chat_db *db = open_db(cfg);
	if (!db)
		return 1;
	int64_t n = 0;
	chat_err e = chat_dal_events_purge(db, (int)s, &n);
	int rc = 0;
	if (e != CHAT_OK)
		rc = db_fail(db, "purging events", e);
	else
		printf("deleted %lld event(s)\n", (long long)n);
	chat_db_close(db);
	return rc;
}

int main(int argc, char **argv)
{
	cli c;
	chat_config cfg;
	int rc;
	memset(&c, 0, sizeof(c));
	memset(&cfg, 0, sizeof(cfg));
	rc = parse_args(argc, argv, &c);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if (c.npos == 0)
		return usage_error("no command given");
	if (load_config(&c, &cfg) != 0) {
		chat_config_free(&cfg);
		return EXIT_USAGE;
	}
	if (chat_db_library_init() != 0) {
		fprintf(stderr, "chatctl: cannot initialise the MariaDB client library\n");
		chat_config_free(&cfg);
		return 1;
	}
	const char *cmd = c.pos[0];
	if (strcmp(cmd, "migrate") == 0)
		rc = c.npos == 1 ? cmd_migrate(&c, &cfg) : usage_error("migrate takes no arguments");
	else if (strcmp(cmd, "version") == 0)
		rc = cmd_version(&cfg);
	else if (strcmp(cmd, "add-user") == 0)
		rc = cmd_add_user(&c, &cfg);
	else if (strcmp(cmd, "create-room") == 0)
		rc = cmd_create_room(&c, &cfg);
	else if (strcmp(cmd, "add-member") == 0)
		rc = cmd_add_member(&c, &cfg);
	else if (strcmp(cmd, "mint-token") == 0)
		rc = cmd_mint_token(&c, &cfg);
	else if (strcmp(cmd, "purge-events") == 0)
		rc = cmd_purge_events(&c, &cfg);
	else {
		fprintf(stderr, "chatctl: unknown command %s\n", cmd);
		rc = EXIT_USAGE;
	}
	chat_db_library_end();
	chat_config_free(&cfg);
	return rc;
}
