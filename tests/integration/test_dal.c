/* The data-access layer against a real MariaDB (started by dal.sh through
 * tests/harness/mariadb.sh, schema applied). Every test makes its own
 * users and rooms, so the order of the tests does not matter. Checks that
 * the DAL does not expose (events written by triggers...) are made with a
 * second, raw connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <mysql.h>

#include "chat_config.h"
#include "chat_dal.h"
#include "chat_db.h"
#include "chat_password.h"
#include "chat_time.h"
#include "itest.h"

chat_config cfg;
chat_db *db;
static MYSQL *raw;

/* ---- helpers ----------------------------------------------------------- */

long long sql_int(const char *fmt, ...)
{
	char q[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(q));
	if (mysql_query(raw, q) != 0)
		fail_msg("%s: %s", q, mysql_error(raw));
	MYSQL_RES *res = mysql_store_result(raw);
	assert_non_null(res);
	MYSQL_ROW row = mysql_fetch_row(res);
	long long v = (row && row[0]) ? strtoll(row[0], NULL, 10) : -1;
	mysql_free_result(res);
	return v;
}

void sql_exec(const char *fmt, ...)
{
	char q[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(q));
	if (mysql_query(raw, q) != 0)
		fail_msg("%s: %s", q, mysql_error(raw));
}

/* Number of events of a kind in a room (optionally with ref/user). */
long long events_count(int64_t room, const char *kind, int64_t ref, int64_t user)
{
	return sql_int("SELECT COUNT(*) FROM chat_events WHERE room_id = %lld AND kind = '%s'"
	               " AND (%lld = 0 OR ref_id = %lld) AND (%lld = 0 OR user_id = %lld)",
	               (long long)room, kind, (long long)ref, (long long)ref, (long long)user,
	               (long long)user);
}

static int counter;

int64_t mkuser(const char *prefix)
{
	char name[64];
	snprintf(name, sizeof(name), "%s%d", prefix, ++counter);
	int64_t id = 0;
	assert_int_equal(chat_dal_user_create(db, name, "", &id), CHAT_OK);
	assert_true(id > 1);
	return id;
}

int64_t mkroom(const char *name, bool priv, int64_t owner)
{
	chat_room r;
	assert_int_equal(chat_dal_room_create(db, name, "desc", priv, owner, &r), CHAT_OK);
	int64_t id = r.id;
	chat_room_clear(&r);
	return id;
}

int64_t post(int64_t room, int64_t sender, const char *content, const char *client_id,
             bool *created_out)
{
	chat_new_message in = { room, sender, content, NULL, client_id, false };
	chat_message m;
	bool created = false;
	assert_int_equal(chat_dal_message_insert(db, &in, &m, &created), CHAT_OK);
	if (created_out)
		*created_out = created;
	int64_t id = m.id;
	chat_message_clear(&m);
	return id;
}

/* ---- connection and schema -------------------------------------------- */

static void test_connect_and_schema(void **state)
{
	(void)state;
	assert_int_equal(chat_db_ping(db), CHAT_OK);
	assert_true(strstr(chat_db_server_version(db), "MariaDB") != NULL);
	int v = 0;
	assert_int_equal(chat_dal_schema_version(db, &v), CHAT_OK);
	assert_true(v >= 4); /* the highest migration applied (others may add more) */
	/* The reserved anonymous user. */
	chat_user u;
	assert_int_equal(chat_dal_user_by_id(db, CHAT_ANONYMOUS_USER_ID, &u), CHAT_OK);
	assert_string_equal(u.username, "anonymous");
	assert_string_equal(u.password_hash, "");
	assert_true(u.is_active);
	/* Sessions are UTC. */
	assert_int_equal(sql_int("SELECT COUNT(*) FROM information_schema.TRIGGERS"
	                         " WHERE TRIGGER_SCHEMA = DATABASE()"), 21);
}

static void test_unreachable_server(void **state)
{
	(void)state;
	chat_config bad = cfg;
	bad.database.host = (char *)"";
	bad.database.socket = (char *)"/nonexistent/mysqld.sock";
	bad.database.connect_timeout = 1;
	chat_err e = CHAT_OK;
	chat_db *d = chat_db_open(&bad, &e);
	assert_non_null(d);
	assert_int_equal(e, CHAT_ERR_UNAVAILABLE);
	assert_int_equal(chat_db_ping(d), CHAT_ERR_UNAVAILABLE);
	chat_user u;
	assert_int_equal(chat_dal_user_by_id(d, 1, &u), CHAT_ERR_UNAVAILABLE);
	assert_true(chat_db_errno(d) != 0);
	chat_db_close(d);
	chat_db_close(NULL);
}

/* A connection killed by the server is replaced on the next call. */
/* The newest idle connection of the test database other than ours: d's.
 * The server marks a connection idle (Sleep) just after it has sent the
 * answer the client already holds: on a busy machine, look again. */
static long long idle_conn_id(void)
{
	for (int i = 0; i < 200; i++) {
		long long cid = sql_int("SELECT COALESCE(MAX(ID), 0) FROM information_schema.PROCESSLIST"
		                        " WHERE ID <> CONNECTION_ID() AND DB = DATABASE()"
		                        " AND COMMAND = 'Sleep'");
		if (cid > 0)
			return cid;
		usleep(10000);
	}
	return 0;
}

static void test_reconnect(void **state)
{
	(void)state;
	chat_err e;
	chat_db *d = chat_db_open(&cfg, &e);
	assert_int_equal(e, CHAT_OK);
	chat_user u;
	assert_int_equal(chat_dal_user_by_id(d, 1, &u), CHAT_OK);
	long long cid = idle_conn_id();
	assert_true(cid > 0);
	sql_exec("KILL %lld", cid);
	assert_int_equal(chat_dal_user_by_id(d, 1, &u), CHAT_OK);
	/* A write after a kill also goes through (outside a transaction the
	 * send fails before the server sees anything). */
	cid = idle_conn_id();
	assert_true(cid > 0);
	sql_exec("KILL %lld", cid);
	int64_t owner = mkuser("rc");
	chat_room r;
	assert_int_equal(chat_dal_room_create(d, "reconnect", "", false, owner, &r), CHAT_OK);
	chat_room_clear(&r);
	chat_db_close(d);
}

/* ---- users ------------------------------------------------------------- */

static void test_users(void **state)
{
	(void)state;
	int64_t id = 0;
	assert_int_equal(chat_dal_user_create(db, "Carol", "", &id), CHAT_OK);
	int64_t id2 = 0;
	assert_int_equal(chat_dal_user_create(db, "carol", "", &id2), CHAT_ERR_DUPLICATE);
	assert_int_equal(chat_dal_user_create(db, "CAROL", "", &id2), CHAT_ERR_DUPLICATE);

	chat_user u;
	assert_int_equal(chat_dal_user_by_name(db, "cArOl", &u), CHAT_OK);
	assert_int_equal(u.id, id);
	assert_string_equal(u.username, "Carol");
	assert_true(u.is_active);
	assert_true(u.created_ms > 1700000000000LL);
	assert_int_equal(chat_dal_user_by_id(db, id, &u), CHAT_OK);
	assert_string_equal(u.username, "Carol");
	assert_int_equal(chat_dal_user_by_id(db, 999999999, &u), CHAT_ERR_NOT_FOUND);
	assert_int_equal(chat_dal_user_by_name(db, "nobody-here", &u), CHAT_ERR_NOT_FOUND);

	/* Unicode names round-trip. */
	assert_int_equal(chat_dal_user_create(db, "\xe5\xbc\xa0\xe4\xb8\x89", "", &id2), CHAT_OK);
	assert_int_equal(chat_dal_user_by_id(db, id2, &u), CHAT_OK);
	assert_string_equal(u.username, "\xe5\xbc\xa0\xe4\xb8\x89");

	int64_t ids[70];
	for (int i = 0; i < 70; i++)
		ids[i] = i == 0 ? id2 : (i == 1 ? id : (i == 2 ? 987654321 : 1));
	chat_user_ref *refs = NULL;
	size_t n = 0;
	assert_int_equal(chat_dal_users_by_ids(db, ids, 3, &refs, &n), CHAT_OK);
	assert_int_equal(n, 2);
	assert_true(refs[0].id < refs[1].id);
	assert_int_equal(refs[0].id, id);
	assert_string_equal(refs[0].username, "Carol");
	free(refs);
	/* More than one chunk of 64. */
	assert_int_equal(chat_dal_users_by_ids(db, ids, 70, &refs, &n), CHAT_OK);
	assert_true(n >= 3);
	free(refs);
	assert_int_equal(chat_dal_users_by_ids(db, ids, 0, &refs, &n), CHAT_OK);
	assert_int_equal(n, 0);
	free(refs);
}

static void test_authenticate(void **state)
{
	(void)state;
	char hash[CHAT_PASSWORD_HASH_BUF];
	assert_int_equal(chat_password_hash("correct horse", hash), 0);
	int64_t id = 0;
	assert_int_equal(chat_dal_user_create(db, "Dave", hash, &id), CHAT_OK);
	chat_user u;
	assert_int_equal(chat_dal_user_authenticate(db, "dave", "correct horse", &u), CHAT_OK);
	assert_int_equal(u.id, id);
	assert_int_equal(chat_dal_user_authenticate(db, "Dave", "wrong horse", &u), CHAT_ERR_AUTH);
	assert_int_equal(chat_dal_user_authenticate(db, "nobody", "correct horse", &u),
	                 CHAT_ERR_AUTH);
	/* anonymous has no password: never logs in. */
	assert_int_equal(chat_dal_user_authenticate(db, "anonymous", "", &u), CHAT_ERR_AUTH);
	/* Inactive users cannot log in. */
	sql_exec("UPDATE users SET is_active = 0 WHERE id = %lld", (long long)id);
	assert_int_equal(chat_dal_user_authenticate(db, "Dave", "correct horse", &u),
	                 CHAT_ERR_AUTH);
	assert_int_equal(chat_dal_user_by_id(db, id, &u), CHAT_OK);
	assert_false(u.is_active);
}

/* ---- rooms and members ------------------------------------------------- */

static void test_rooms(void **state)
{
	(void)state;
	int64_t owner = mkuser("owner");
	int64_t other = mkuser("other");
	chat_room r;
	assert_int_equal(chat_dal_room_create(db, "Caf\xc3\xa9", "about things", true, owner, &r),
	                 CHAT_OK);
	assert_true(r.id > 0);
	assert_string_equal(r.name, "Caf\xc3\xa9");
	assert_string_equal(r.description, "about things");
	assert_true(r.is_private);
	assert_int_equal(r.created_by, owner);
	assert_int_equal(r.role, CHAT_ROLE_OWNER);
	assert_false(r.has_last_message);
	int64_t id = r.id;
	chat_room_clear(&r);
	assert_int_equal(events_count(id, "member_joined", 0, owner), 1);

	assert_int_equal(chat_dal_room_get(db, id, other, &r), CHAT_OK);
	assert_int_equal(r.role, CHAT_ROLE_NONE);
	assert_false(chat_room_visible(&r));
	chat_room_clear(&r);
	assert_int_equal(chat_dal_room_get(db, id, 0, &r), CHAT_OK);
	assert_int_equal(r.role, CHAT_ROLE_NONE);
	chat_room_clear(&r);
	assert_int_equal(chat_dal_room_get(db, 99999999, owner, &r), CHAT_ERR_NOT_FOUND);

	/* Update: only given fields change; one room_updated event. */
	assert_int_equal(chat_dal_room_update(db, id, NULL, "new desc", -1), CHAT_OK);
	assert_int_equal(chat_dal_room_get(db, id, owner, &r), CHAT_OK);
	assert_string_equal(r.name, "Caf\xc3\xa9");
	assert_string_equal(r.description, "new desc");
	assert_true(r.is_private);
	chat_room_clear(&r);
	assert_int_equal(chat_dal_room_update(db, id, "Renamed", NULL, 0), CHAT_OK);
	assert_int_equal(chat_dal_room_get(db, id, owner, &r), CHAT_OK);
	assert_string_equal(r.name, "Renamed");
	assert_false(r.is_private);
	chat_room_clear(&r);
	assert_int_equal(events_count(id, "room_updated", 0, 0), 2);
	/* The same values again: found, but no change and no event. */
	assert_int_equal(chat_dal_room_update(db, id, "Renamed", NULL, 0), CHAT_OK);
	assert_int_equal(events_count(id, "room_updated", 0, 0), 2);
	assert_int_equal(chat_dal_room_update(db, 99999999, "x", NULL, -1), CHAT_ERR_NOT_FOUND);

	/* Membership. */
	chat_role role;
	assert_int_equal(chat_dal_member_role(db, id, other, &role), CHAT_OK);
	assert_int_equal(role, CHAT_ROLE_NONE);
	assert_int_equal(chat_dal_member_add(db, id, other, CHAT_ROLE_MEMBER), CHAT_OK);
	assert_int_equal(chat_dal_member_add(db, id, other, CHAT_ROLE_OWNER), CHAT_OK);
	assert_int_equal(chat_dal_member_role(db, id, other, &role), CHAT_OK);
	assert_int_equal(role, CHAT_ROLE_MEMBER); /* unchanged */
	assert_int_equal(events_count(id, "member_joined", 0, other), 1);
	assert_int_equal(chat_dal_member_add(db, 99999999, other, CHAT_ROLE_MEMBER),
	                 CHAT_ERR_NOT_FOUND);
	assert_int_equal(chat_dal_member_add(db, id, 99999999, CHAT_ROLE_MEMBER),
	                 CHAT_ERR_NOT_FOUND);

	chat_member *mem = NULL;
	size_t n = 0;
	assert_int_equal(chat_dal_members_list(db, id, &mem, &n), CHAT_OK);
	assert_int_equal(n, 2);
	assert_int_equal(mem[0].user.id, owner);
	assert_int_equal(mem[0].role, CHAT_ROLE_OWNER);
	assert_int_equal(mem[1].user.id, other);
	assert_int_equal(mem[1].role, CHAT_ROLE_MEMBER);
	assert_false(mem[0].online);
	free(mem);

	assert_int_equal(chat_dal_member_remove(db, id, owner), CHAT_ERR_CONFLICT);
	assert_int_equal(chat_dal_member_remove(db, id, other), CHAT_OK);
	assert_int_equal(chat_dal_member_remove(db, id, other), CHAT_ERR_NOT_FOUND);
	assert_int_equal(events_count(id, "member_left", 0, other), 1);

	/* Delete: members and messages go, one room_deleted event stays. */
	post(id, owner, "bye", NULL, NULL);
	assert_int_equal(chat_dal_room_delete(db, id), CHAT_OK);
	assert_int_equal(chat_dal_room_get(db, id, owner, &r), CHAT_ERR_NOT_FOUND);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM room_members WHERE room_id = %lld",
	                         (long long)id), 0);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM messages WHERE room_id = %lld",
	                         (long long)id), 0);
	assert_int_equal(events_count(id, "room_deleted", 0, 0), 1);
	assert_int_equal(chat_dal_room_delete(db, id), CHAT_ERR_NOT_FOUND);
}

/* ---- messages ---------------------------------------------------------- */

static void test_message_insert_get(void **state)
{
	(void)state;
	int64_t alice = mkuser("alice");
	int64_t bob = mkuser("bob");
	int64_t room = mkroom("msgs", false, alice);

	chat_new_message in = { room, bob, "hello \xf0\x9f\x98\x80 world", "image", NULL, false };
	chat_message m;
	bool created = false;
	assert_int_equal(chat_dal_message_insert(db, &in, &m, &created), CHAT_OK);
	assert_true(created);
	assert_true(m.id > 0);
	assert_int_equal(m.room_id, room);
	assert_int_equal(m.sender.id, bob);
	assert_string_equal(m.content, "hello \xf0\x9f\x98\x80 world");
	assert_string_equal(m.message_type, "image");
	assert_string_equal(m.client_id, "");
	/* UTC milliseconds: within a minute of this machine's clock. */
	assert_true(llabs((long long)(m.created_ms - chat_time_now_ms())) < 60000);
	assert_int_equal(m.edited_ms, 0);
	assert_int_equal(m.deleted_ms, 0);
	int64_t id = m.id;
	chat_message_clear(&m);
	/* The sender became a member; the event was written. */
	chat_role role;
	assert_int_equal(chat_dal_member_role(db, room, bob, &role), CHAT_OK);
	assert_int_equal(role, CHAT_ROLE_MEMBER);
	assert_int_equal(events_count(room, "message_created", id, bob), 1);

	assert_int_equal(chat_dal_message_get(db, id, &m), CHAT_OK);
	assert_string_equal(m.content, "hello \xf0\x9f\x98\x80 world");
	assert_true(m.sender.username[0] == 'b');
	chat_message_clear(&m);
	assert_int_equal(chat_dal_message_get(db, 99999999, &m), CHAT_ERR_NOT_FOUND);

	/* A large message (over the first fetch buffer). */
	size_t big = 300000;
	char *s = malloc(big + 1);
	assert_non_null(s);
	for (size_t i = 0; i < big; i++)
		s[i] = (char)('a' + i % 26);
	s[big] = '\0';
	in.content = s;
	in.message_type = NULL;
	assert_int_equal(chat_dal_message_insert(db, &in, &m, &created), CHAT_OK);
	assert_string_equal(m.message_type, "text");
	assert_int_equal(strlen(m.content), big);
	assert_memory_equal(m.content, s, big);
	chat_message_clear(&m);
	free(s);

	/* Bad input. */
	in.content = "x";
	in.message_type = "video";
	assert_int_equal(chat_dal_message_insert(db, &in, &m, &created), CHAT_ERR_INVALID);
	in.message_type = NULL;
	in.room_id = 99999999;
	assert_int_equal(chat_dal_message_insert(db, &in, &m, &created), CHAT_ERR_NOT_FOUND);
	in.room_id = room;
	in.sender_id = 99999999;
	assert_int_equal(chat_dal_message_insert(db, &in, &m, &created), CHAT_ERR_NOT_FOUND);
}

static void test_client_id_dedupe(void **state)
{
	(void)state;
	int64_t alice = mkuser("alice");
	int64_t bob = mkuser("bob");
	int64_t room = mkroom("dedupe", false, alice);
	bool created = false;
	int64_t a1 = post(room, alice, "first", "uuid-1", &created);
	assert_true(created);
	int64_t a2 = post(room, alice, "retry", "uuid-1", &created);
	assert_false(created);
	assert_int_equal(a1, a2);
	chat_message m;
	assert_int_equal(chat_dal_message_get(db, a1, &m), CHAT_OK);
	assert_string_equal(m.content, "first");
	assert_string_equal(m.client_id, "uuid-1");
	chat_message_clear(&m);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM messages WHERE room_id = %lld",
	                         (long long)room), 1);
	assert_int_equal(events_count(room, "message_created", 0, 0), 1);
	/* Another sender may use the same client_id. */
	int64_t b1 = post(room, bob, "bob's", "uuid-1", &created);
	assert_true(created);
	assert_true(b1 != a1);
	/* The same sender in another room: another message (the key is
	 * (sender, room, client_id): schema 003). */
	int64_t room2 = mkroom("dedupe2", false, alice);
	int64_t a3 = post(room2, alice, "elsewhere", "uuid-1", &created);
	assert_true(created);
	assert_true(a3 != a1);
	assert_int_equal(post(room2, alice, "elsewhere", "uuid-1", &created), a3);
	assert_false(created);
	/* A retry by someone who lost access to a private room: refused,
	 * whether the message would be new or a retry. */
	int64_t priv = mkroom("dedupe-private", true, alice);
	assert_int_equal(chat_dal_member_add(db, priv, bob, CHAT_ROLE_MEMBER), CHAT_OK);
	int64_t p1 = post(priv, bob, "inside", "uuid-p", &created);
	assert_true(created);
	assert_int_equal(chat_dal_member_remove(db, priv, bob), CHAT_OK);
	chat_new_message out1 = { priv, bob, "inside", NULL, "uuid-p", false };
	chat_new_message out2 = { priv, bob, "new", NULL, NULL, false };
	assert_int_equal(chat_dal_message_insert(db, &out1, &m, &created), CHAT_ERR_NOT_FOUND);
	assert_null(m.content);
	assert_int_equal(chat_dal_message_insert(db, &out2, &m, &created), CHAT_ERR_NOT_FOUND);
	chat_role role = CHAT_ROLE_OWNER;
	assert_int_equal(chat_dal_member_role(db, priv, bob, &role), CHAT_OK);
	assert_int_equal(role, CHAT_ROLE_NONE);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM messages WHERE room_id = %lld",
	                         (long long)priv), 1);
	(void)p1;
	/* Older than a day: a new message, the old one loses its key. */
	sql_exec("UPDATE messages SET created_at = created_at - INTERVAL 2 DAY WHERE id = %lld",
	         (long long)a1);
	int64_t a4 = post(room, alice, "a day later", "uuid-1", &created);
	assert_true(created);
	assert_true(a4 > a1);
	assert_int_equal(sql_int("SELECT client_id IS NULL FROM messages WHERE id = %lld",
	                         (long long)a1), 1);
	/* No client_id: never deduplicated. */
	int64_t n1 = post(room, alice, "same", NULL, &created);
	int64_t n2 = post(room, alice, "same", "", &created);
	assert_true(created);
	assert_true(n1 != n2);
}

static void test_batch_insert(void **state)
{
	(void)state;
	int64_t alice = mkuser("alice");
	int64_t bob = mkuser("bob");
	int64_t r1 = mkroom("batch1", false, alice);
	int64_t r2 = mkroom("batch2", false, alice);
	chat_new_message in[5] = {
		{ r1, alice, "one", NULL, "b-1", false },
		{ r2, bob, "two", "file", NULL, false },
		{ r1, alice, "one again", NULL, "b-1", false }, /* duplicate inside the batch */
		{ r1, bob, "three", NULL, "b-1", false },
		{ r2, alice, "four", NULL, NULL, false },
	};
	chat_message res[5];
	bool created[5];
	assert_int_equal(chat_dal_messages_insert_batch(db, in, 5, res, created), CHAT_OK);
	assert_true(created[0] && created[1] && !created[2] && created[3] && created[4]);
	assert_int_equal(res[2].id, res[0].id);
	assert_string_equal(res[2].content, "one");
	assert_true(res[0].id < res[1].id && res[1].id < res[3].id && res[3].id < res[4].id);
	assert_string_equal(res[1].message_type, "file");
	assert_int_equal(res[4].room_id, r2);
	chat_role role;
	assert_int_equal(chat_dal_member_role(db, r2, bob, &role), CHAT_OK);
	assert_int_equal(role, CHAT_ROLE_MEMBER);
	for (int i = 0; i < 5; i++)
		chat_message_clear(&res[i]);

	/* One bad row: nothing of the batch is stored. */
	long long before = sql_int("SELECT COUNT(*) FROM messages");
	chat_new_message bad[2] = {
		{ r1, alice, "fine", NULL, NULL, false },
		{ 99999999, alice, "no room", NULL, NULL, false },
	};
	assert_int_equal(chat_dal_messages_insert_batch(db, bad, 2, res, created),
	                 CHAT_ERR_NOT_FOUND);
	assert_int_equal(res[0].id, 0);
	assert_null(res[0].content);
	assert_false(created[0]);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM messages"), before);
	assert_int_equal(chat_dal_messages_insert_batch(db, bad, 0, res, created), CHAT_OK);

	/* Senders to check (chat-api's posts): an inactive or unknown one
	 * refuses the batch before its rooms are looked at; active ones pass. */
	int64_t carol = mkuser("carol_b");
	chat_new_message chk[3] = {
		{ r1, alice, "checked", NULL, NULL, true },
		{ r2, carol, "checked too", NULL, NULL, true },
		{ 99999999, alice, "no room", NULL, NULL, true },
	};
	assert_int_equal(chat_dal_messages_insert_batch(db, chk, 2, res, created), CHAT_OK);
	assert_true(created[0] && created[1]);
	assert_memory_equal(res[1].sender.username, "carol_b", 7);
	chat_message_clear(&res[0]);
	chat_message_clear(&res[1]);
	sql_exec("UPDATE users SET is_active = 0 WHERE id = %lld", (long long)carol);
	before = sql_int("SELECT COUNT(*) FROM messages");
	assert_int_equal(chat_dal_messages_insert_batch(db, chk, 2, res, created), CHAT_ERR_AUTH);
	chk[1].sender_id = 99999999; /* no such user, posting to no such room */
	chk[1].room_id = 99999999;
	assert_int_equal(chat_dal_messages_insert_batch(db, &chk[1], 1, res, created),
	                 CHAT_ERR_AUTH);
	chk[1].check_sender = false; /* unchecked: the room decides */
	assert_int_equal(chat_dal_messages_insert_batch(db, &chk[1], 1, res, created),
	                 CHAT_ERR_NOT_FOUND);
	assert_int_equal(chat_dal_messages_insert_batch(db, &chk[2], 1, res, created),
	                 CHAT_ERR_NOT_FOUND); /* an active sender: the room's answer */
	assert_int_equal(sql_int("SELECT COUNT(*) FROM messages"), before);

	/* A big batch (over one 64-row load), rooms in any order, a repeated
	 * client_id: every result matches its input. */
	enum { BIG = 150 };
	chat_new_message *many = calloc(BIG, sizeof(*many));
	chat_message *mres = calloc(BIG, sizeof(*mres));
	bool *mcr = calloc(BIG, sizeof(*mcr));
	char (*text)[32] = calloc(BIG, 32);
	assert_true(many && mres && mcr && text);
	int64_t r3 = mkroom("batch3", false, bob);
	int64_t order[3] = { r3, r1, r2 };
	for (int i = 0; i < BIG; i++) {
		snprintf(text[i], 32, "big %d", i);
		many[i] = (chat_new_message){ order[i % 3], i % 2 ? alice : bob, text[i], NULL,
		                              i == 7 || i == 97 ? "big-dup" : NULL, false };
	}
	assert_int_equal(chat_dal_messages_insert_batch(db, many, BIG, mres, mcr), CHAT_OK);
	for (int i = 0; i < BIG; i++) {
		if (i == 97) { /* 7 and 97: one room, one sender */
			assert_false(mcr[i]);
			assert_int_equal(mres[i].id, mres[7].id);
			assert_string_equal(mres[i].content, "big 7");
			continue;
		}
		assert_true(mcr[i]);
		assert_string_equal(mres[i].content, text[i]);
		assert_int_equal(mres[i].room_id, many[i].room_id);
		assert_int_equal(mres[i].sender.id, many[i].sender_id);
		/* the answer is the stored message as a read returns it */
		chat_message got;
		assert_int_equal(chat_dal_message_get(db, mres[i].id, &got), CHAT_OK);
		assert_int_equal(got.room_id, mres[i].room_id);
		assert_string_equal(got.sender.username, mres[i].sender.username);
		assert_int_equal(strncmp(got.sender.username, i % 2 ? "alice" : "bob", 3), 0);
		assert_string_equal(got.content, mres[i].content);
		assert_string_equal(got.message_type, mres[i].message_type);
		assert_string_equal(got.client_id, mres[i].client_id);
		assert_int_equal(got.created_ms, mres[i].created_ms);
		assert_true(got.created_ms > 0);
		assert_int_equal(mres[i].edited_ms, 0);
		assert_int_equal(mres[i].deleted_ms, 0);
		chat_message_clear(&got);
		if (i)
			assert_true(mres[i].id > mres[i - 1].id || i == 100);
	}
	assert_int_equal(chat_dal_member_role(db, r3, alice, &role), CHAT_OK);
	assert_int_equal(role, CHAT_ROLE_MEMBER);
	chat_messages_free(mres, BIG);
	free(many);
	free(mcr);
	free(text);
}

static void check_page(int64_t room, int64_t before, int64_t after, int limit,
                       const int64_t *want, size_t nwant, bool want_more)
{
	chat_message *m = NULL;
	size_t n = 0;
	bool more = !want_more;
	assert_int_equal(chat_dal_messages_page(db, room, before, after, limit, &m, &n, &more),
	                 CHAT_OK);
	assert_int_equal(n, nwant);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(m[i].id, want[i]);
	assert_true(more == want_more);
	chat_messages_free(m, n);
}

static void test_paging(void **state)
{
	(void)state;
	int64_t alice = mkuser("alice");
	int64_t room = mkroom("paging", false, alice);
	check_page(room, 0, 0, 50, NULL, 0, false); /* empty room */
	int64_t id[250];
	for (int i = 0; i < 250; i++) {
		char c[16];
		snprintf(c, sizeof(c), "m%d", i);
		id[i] = post(room, alice, c, NULL, NULL);
	}
	/* Newest page. */
	check_page(room, 0, 0, 3, id + 247, 3, true);
	/* Before. */
	check_page(room, id[10], 0, 3, id + 7, 3, true);
	check_page(room, id[3], 0, 5, id, 3, false);
	check_page(room, id[0], 0, 5, NULL, 0, false); /* before the first id */
	/* After. */
	check_page(room, 0, id[5], 3, id + 6, 3, true);
	check_page(room, 0, id[246], 10, id + 247, 3, false);
	check_page(room, 0, id[249], 10, NULL, 0, false); /* after the last id */
	/* Limit over the cap: 200. */
	check_page(room, 0, 0, 1000, id + 50, 200, true);
	check_page(room, 0, 0, 0, id + 200, 50, true); /* default 50 */
	/* Deleted messages are skipped; another room's are not seen. */
	assert_int_equal(chat_dal_message_delete(db, id[248]), CHAT_OK);
	int64_t want[] = { id[246], id[247], id[249] };
	check_page(room, 0, 0, 3, want, 3, true);
	int64_t other = mkroom("paging2", false, alice);
	check_page(other, 0, 0, 50, NULL, 0, false);
	int64_t live[200];
	for (int i = 0; i < 199; i++)
		live[i] = id[49 + i];
	live[199] = id[249];
	check_page(room, 0, 0, 200, live, 200, true);
	check_page(room, 0, id[47], 200, id + 48, 200, true);
}

static void test_edit_delete(void **state)
{
	(void)state;
	int64_t alice = mkuser("alice");
	int64_t room = mkroom("edits", false, alice);
	int64_t id = post(room, alice, "v1", "e-1", NULL);
	chat_message m;
	assert_int_equal(chat_dal_message_edit(db, id, "v2", &m), CHAT_OK);
	assert_int_equal(m.id, id);
	assert_string_equal(m.content, "v2");
	assert_true(m.edited_ms >= m.created_ms);
	assert_true(m.edited_ms > 0);
	assert_string_equal(m.client_id, "e-1");
	chat_message_clear(&m);
	assert_int_equal(events_count(room, "message_updated", id, alice), 1);
	assert_int_equal(chat_dal_message_get(db, id, &m), CHAT_OK);
	assert_string_equal(m.content, "v2");
	assert_true(m.edited_ms > 0);
	chat_message_clear(&m);

	assert_int_equal(chat_dal_message_delete(db, id), CHAT_OK);
	assert_int_equal(events_count(room, "message_deleted", id, 0), 1);
	assert_int_equal(chat_dal_message_get(db, id, &m), CHAT_ERR_NOT_FOUND);
	assert_int_equal(chat_dal_message_delete(db, id), CHAT_ERR_NOT_FOUND);
	assert_int_equal(chat_dal_message_edit(db, id, "v3", &m), CHAT_ERR_NOT_FOUND);
	assert_int_equal(chat_dal_message_delete(db, 99999999), CHAT_ERR_NOT_FOUND);
	assert_int_equal(chat_dal_message_edit(db, 99999999, "x", &m), CHAT_ERR_NOT_FOUND);
	assert_int_equal(events_count(room, "message_deleted", id, 0), 1);
	assert_int_equal(events_count(room, "message_updated", id, 0), 1);
	/* A deleted message's client_id still stores nothing new, and its
	 * retry is refused: the content is gone. */
	chat_new_message again = { room, alice, "again", NULL, "e-1", false };
	bool created = true;
	assert_int_equal(chat_dal_message_insert(db, &again, &m, &created), CHAT_ERR_GONE);
	assert_null(m.content);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM messages WHERE room_id = %lld",
	                         (long long)room), 1);
	/* Admin SQL produces events too. */
	sql_exec("INSERT INTO messages (room_id, sender_id, content) VALUES (%lld, %lld, 'sql')",
	         (long long)room, (long long)alice);
	assert_int_equal(events_count(room, "message_created", 0, 0), 2);
	sql_exec("DELETE FROM messages WHERE room_id = %lld AND content = 'sql'", (long long)room);
	assert_int_equal(events_count(room, "message_deleted", 0, 0), 2);
}

/* ---- main ---------------------------------------------------------------- */

static int group_setup(void **state)
{
	(void)state;
	if (chat_config_defaults(&cfg) != 0 || chat_config_load_env(&cfg, stderr) != 0)
		return -1;
	if (chat_db_library_init() != 0 || chat_password_init(1, 8) != 0)
		return -1;
	chat_err e;
	db = chat_db_open(&cfg, &e);
	if (!db || e != CHAT_OK) {
		fprintf(stderr, "cannot connect: %s\n", db ? chat_db_error(db) : "oom");
		return -1;
	}
	raw = mysql_init(NULL);
	const char *host = cfg.database.host[0] ? cfg.database.host : NULL;
	if (!mysql_real_connect(raw, host, cfg.database.user, cfg.database.password,
	                        cfg.database.name, (unsigned)cfg.database.port,
	                        host ? NULL : cfg.database.socket, 0)) {
		fprintf(stderr, "raw connect: %s\n", mysql_error(raw));
		return -1;
	}
	mysql_set_character_set(raw, "utf8mb4");
	mysql_query(raw, "SET time_zone = '+00:00'");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	chat_db_close(db);
	mysql_close(raw);
	chat_config_free(&cfg);
	chat_db_library_end();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_and_schema),
		cmocka_unit_test(test_unreachable_server),
		cmocka_unit_test(test_reconnect),
		cmocka_unit_test(test_users),
		cmocka_unit_test(test_authenticate),
		cmocka_unit_test(test_rooms),
		cmocka_unit_test(test_message_insert_get),
		cmocka_unit_test(test_client_id_dedupe),
		cmocka_unit_test(test_batch_insert),
		cmocka_unit_test(test_paging),
		cmocka_unit_test(test_edit_delete),
		ITEST_MORE_TESTS
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
