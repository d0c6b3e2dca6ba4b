/* Schema migrations: NNN_name.sql files applied in ascending NNN, each as
 * one multi-statement batch on a dedicated connection, then recorded in
 * schema_version. The files are trusted (shipped with the program), so
 * triggers with BEGIN ... END go through as they are: DELIMITER is a
 * feature of the command-line client, not of the server.
 *
 * Concurrent runners are serialized by GET_LOCK; a second run finds the
 * version recorded and does nothing. DDL commits implicitly in MariaDB, so
 * a file cut short is not rolled back: migrations are written with
 * IF NOT EXISTS / OR REPLACE so that running the file again completes it. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <mysql.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chat_migrate.h"

#define MIGRATE_MAX_FILES 1000
#define MIGRATE_MAX_FILE_BYTES (4 * 1024 * 1024)
#define MIGRATE_LOCK_TIMEOUT_S 60

typedef struct mig_file {
	int version;
	char name[256];
} mig_file;

/* "001_initial.sql": three digits, '_', [A-Za-z0-9_-]+, ".sql". */
static int parse_name(const char *name, int *version)
{
	size_t n = strlen(name);
	if (n < 9 || n >= sizeof(((mig_file *)0)->name) || strcmp(name + n - 4, ".sql") != 0)
		return -1;
	if (!isdigit((unsigned char)name[0]) || !isdigit((unsigned char)name[1]) ||
	    !isdigit((unsigned char)name[2]) || name[3] != '_')
		return -1;
	for (size_t i = 4; i < n - 4; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!isalnum(c) && c != '_' && c != '-')
			return -1;
	}
	*version = (name[0] - '0') * 100 + (name[1] - '0') * 10 + (name[2] - '0');
	return *version > 0 ? 0 : -1;
}

static int cmp_file(const void *a, const void *b)
{
	const mig_file *x = a, *y = b;
	return (x->version > y->version) - (x->version < y->version);
}

static int list_files(const char *dir, mig_file **out, size_t *n, FILE *log)
{
	DIR *d = opendir(dir);
	mig_file *v = NULL;
	size_t cnt = 0;
	if (!d) {
		fprintf(log, "migrate: cannot open schema directory %s: %s\n", dir, strerror(errno));
		return -1;
	}
	v = calloc(MIGRATE_MAX_FILES, sizeof(*v));
	if (!v)
		goto fail;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		int ver;
		if (parse_name(de->d_name, &ver) != 0)
			continue;
		if (cnt == MIGRATE_MAX_FILES) {
			fprintf(log, "migrate: too many files in %s\n", dir);
			goto fail;
		}
		v[cnt].version = ver;
		snprintf(v[cnt].name, sizeof(v[cnt].name), "%s", de->d_name);
		cnt++;
	}
	closedir(d);
	d = NULL;
	qsort(v, cnt, sizeof(*v), cmp_file);
	for (size_t i = 1; i < cnt; i++) {
		if (v[i].version == v[i - 1].version) {
			fprintf(log, "migrate: two files for version %03d: %s and %s\n", v[i].version,
			        v[i - 1].name, v[i].name);
			goto fail;
		}
	}
	*out = v;
	*n = cnt;
	return 0;
fail:
	if (d)
		closedir(d);
	free(v);
	return -1;
}

static char *read_file(const char *path, FILE *log)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	if (!f) {
		fprintf(log, "migrate: cannot open %s: %s\n", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || st.st_size > MIGRATE_MAX_FILE_BYTES) {
		fprintf(log, "migrate: %s: unreadable or larger than %d bytes\n", path,
		        MIGRATE_MAX_FILE_BYTES);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		goto out;
	size_t got = fread(buf, 1, (size_t)st.st_size, f);
	if (got != (size_t)st.st_size) {
		fprintf(log, "migrate: short read on %s\n", path);
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[got] = '\0';
out:
	fclose(f);
	return buf;
}

/* Run a (multi-)statement text, draining every result. */
static int run_sql(MYSQL *c, const char *sql, size_t len, const char *what, FILE *log)
{
	int stmt_no = 1;
	if (mysql_real_query(c, sql, (unsigned long)len) != 0)
		goto fail;
	for (;;) {
		MYSQL_RES *res = mysql_store_result(c);
		if (res)
			mysql_free_result(res);
		else if (mysql_field_count(c) != 0)
			goto fail;
		int rc = mysql_next_result(c);
		if (rc == -1)
			return 0;
		if (rc > 0)
			goto fail;
		stmt_no++;
	}
fail:
	fprintf(log, "migrate: %s (statement %d): error %u: %s\n", what, stmt_no, mysql_errno(c),
	        mysql_error(c));
	return -1;
}

/* First column of the first row of a single-statement query as a number
 * (0 for no row or NULL). */
static int query_int(MYSQL *c, const char *sql, long long *out, FILE *log)
{
	if (mysql_query(c, sql) != 0) {
		fprintf(log, "migrate: %s: error %u: %s\n", sql, mysql_errno(c), mysql_error(c));
		return -1;
	}
	MYSQL_RES *res = mysql_store_result(c);
	if (!res) {
		fprintf(log, "migrate: %s: %s\n", sql, mysql_error(c));
		return -1;
	}
	MYSQL_ROW row = mysql_fetch_row(res);
	*out = (row && row[0]) ? strtoll(row[0], NULL, 10) : 0;
	mysql_free_result(res);
	return 0;
}

/* Database names are put into SQL text (CREATE DATABASE / USE take no
 * parameters): accept the plain identifier characters only. */
static bool valid_db_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!isalnum(ch) && ch != '_' && ch != '$')
			return false;
	}
	return true;
}

static MYSQL *connect_admin(const chat_config *cfg, FILE *log)
{
	MYSQL *c = mysql_init(NULL);
	if (!c) {
		fprintf(log, "migrate: out of memory\n");
		return NULL;
	}
	my_bool off = 0;
	unsigned ct = cfg->database.connect_timeout > 0 ? (unsigned)cfg->database.connect_timeout : 5;
	unsigned io = 300; /* DDL on a big table can take a while */
	mysql_optionsv(c, MYSQL_OPT_RECONNECT, &off);
	mysql_optionsv(c, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
	mysql_optionsv(c, MYSQL_OPT_READ_TIMEOUT, &io);
	mysql_optionsv(c, MYSQL_OPT_WRITE_TIMEOUT, &io);
	mysql_optionsv(c, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	/* The triggers keep the sql_mode they were created with: use the one
	 * the programs' sessions use. */
	mysql_optionsv(c, MYSQL_INIT_COMMAND,
	               "SET time_zone = '+00:00', "
	               "sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO', "
	               "collation_connection = 'utf8mb4_unicode_ci'");
	const char *host = cfg->database.host && cfg->database.host[0] ? cfg->database.host : NULL;
	const char *sock = !host && cfg->database.socket && cfg->database.socket[0]
	                           ? cfg->database.socket : NULL;
	if (!host && !sock)
		host = "localhost";
	else if (host) {
		unsigned proto = MYSQL_PROTOCOL_TCP; /* a host means TCP, as in chat_db.c */
		mysql_optionsv(c, MYSQL_OPT_PROTOCOL, &proto);
	}
	unsigned port = cfg->database.port > 0 ? (unsigned)cfg->database.port : 0;
	if (!mysql_real_connect(c, host, cfg->database.user, cfg->database.password, NULL, port, sock,
	                        CLIENT_MULTI_STATEMENTS)) {
		fprintf(log, "migrate: cannot connect to the database server (%s): error %u: %s\n",
		        sock ? sock : host, mysql_errno(c), mysql_error(c));
		mysql_close(c);
		return NULL;
	}
	return c;
}

static int record_version(MYSQL *c, const mig_file *f, FILE *log)
{
	/* The name matched [A-Za-z0-9_.-]+ (parse_name): safe as a literal. */
	char sql[512];
	int n = snprintf(sql, sizeof(sql),
	                 "INSERT INTO schema_version (version, name, applied_at) "
	                 "VALUES (%d, '%s', UTC_TIMESTAMP(3))",
	                 f->version, f->name);
	if (n < 0 || (size_t)n >= sizeof(sql))
		return -1;
	return run_sql(c, sql, (size_t)n, "recording the version", log);
}

chat_err chat_migrate_run(const chat_config *cfg, const char *dir, FILE *out)
{
	chat_err err = CHAT_ERR_INTERNAL;
	mig_file *files = NULL;
	size_t nfiles = 0;
	char *sql = NULL;
	char buf[512];
	bool locked = false;
	const char *name = cfg->database.name ? cfg->database.name : "";

	if (!valid_db_name(name)) {
		fprintf(out, "migrate: database name \"%s\" must be 1-64 of [A-Za-z0-9_$]\n", name);
		return CHAT_ERR_INVALID;
	}
	if (list_files(dir, &files, &nfiles, out) != 0)
		return CHAT_ERR_INVALID;
	MYSQL *c = connect_admin(cfg, out);
	if (!c) {
		free(files);
		return CHAT_ERR_UNAVAILABLE;
	}

	snprintf(buf, sizeof(buf),
	         "CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
	         name);
	if (mysql_real_query(c, buf, (unsigned long)strlen(buf)) != 0) {
		/* An account limited to an existing database may not create
		 * one: go on if the database is there. */
		fprintf(out, "migrate: note: cannot create database %s (%s); using it as it is\n",
		        name, mysql_error(c));
	}
	if (mysql_select_db(c, name) != 0) {
		fprintf(out, "migrate: cannot use database %s: %s\n", name, mysql_error(c));
		goto fail;
	}
	long long got = 0;
	snprintf(buf, sizeof(buf), "SELECT GET_LOCK('chat_migrate_%s', %d)", name,
	         MIGRATE_LOCK_TIMEOUT_S);
	if (query_int(c, buf, &got, out) != 0)
		goto fail;
	if (got != 1) {
		fprintf(out, "migrate: another migration is running (lock not obtained in %d s)\n",
		        MIGRATE_LOCK_TIMEOUT_S);
		goto fail;
	}
	locked = true;
	static const char create_version[] =
		"CREATE TABLE IF NOT EXISTS schema_version ("
		" version INT UNSIGNED NOT NULL PRIMARY KEY,"
		" name VARCHAR(200) NOT NULL,"
		" applied_at DATETIME(3) NOT NULL DEFAULT UTC_TIMESTAMP(3)"
		") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci";
	if (run_sql(c, create_version, sizeof(create_version) - 1, "schema_version", out) != 0)
		goto fail;
	long long current = 0;
	if (query_int(c, "SELECT COALESCE(MAX(version), 0) FROM schema_version", &current, out) != 0)
		goto fail;

	int applied = 0;
	for (size_t i = 0; i < nfiles; i++) {
		if (files[i].version <= current)
			continue;
		char path[4096];
		int pn = snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
		if (pn < 0 || (size_t)pn >= sizeof(path)) {
			fprintf(out, "migrate: path too long\n");
			goto fail;
		}
		sql = read_file(path, out);
		if (!sql)
			goto fail;
		fprintf(out, "migrate: applying %s ...\n", files[i].name);
		if (run_sql(c, sql, strlen(sql), files[i].name, out) != 0)
			goto fail;
		if (record_version(c, &files[i], out) != 0)
			goto fail;
		free(sql);
		sql = NULL;
		applied++;
		current = files[i].version;
	}
	if (applied)
		fprintf(out, "migrate: applied %d migration(s); database %s is at version %lld\n",
		        applied, name, current);
	else
		fprintf(out, "migrate: database %s is up to date at version %lld\n", name, current);
	if (nfiles && current > files[nfiles - 1].version)
		fprintf(out, "migrate: note: the database is newer (%lld) than these files (%d)\n",
		        current, files[nfiles - 1].version);
	err = CHAT_OK;
fail:
	if (locked) {
		snprintf(buf, sizeof(buf), "SELECT RELEASE_LOCK('chat_migrate_%s')", name);
		long long ignored;
		query_int(c, buf, &ignored, out);
	}
	free(sql);
	free(files);
	mysql_close(c);
	return err;
}
