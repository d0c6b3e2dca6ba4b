/* test_dal, part two: reads and unread counts, the room list, the event
 * log (after, by_ids, emit, replay, purge) and presence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat_dal.h"
#include "db_internal.h"
#include "itest.h"

static int64_t unread_of(int64_t user, int64_t room)
{
	chat_unread *u = NULL;
	size_t n = 0;
	assert_int_equal(chat_dal_unread(db, user, &u, &n), CHAT_OK);
	int64_t v = -1; /* not listed */
	for (size_t i = 0; i < n; i++) {
		assert_true(u[i].unread_count > 0);
		if (i)
			assert_true(u[i - 1].room_id < u[i].room_id);
		if (u[i].room_id == room)
			v = u[i].unread_count;
	}
	free(u);
	return v;
}

/* The room as user sees it in chat_dal_rooms_list; NULL if not listed. */
static chat_room *find_room(chat_room *v, size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].id == id)
			return &v[i];
	return NULL;
}

void test_reads_unread(void **state)
{
	(void)state;
	int64_t alice = mkuser("alice");
	int64_t bob = mkuser("bob");
	int64_t carol = mkuser("carol");
	int64_t room = mkroom("reads", false, alice);
	int64_t a1 = post(room, alice, "a1", NULL, NULL);
	int64_t a2 = post(room, alice, "a2", NULL, NULL);
	int64_t a3 = post(room, alice, "a3", NULL, NULL);
	int64_t b1 = post(room, bob, "b1", NULL, NULL);
	post(room, bob, "b2", NULL, NULL);

	/* Others' messages only; carol is not a member so not listed. */
	assert_int_equal(unread_of(alice, room), 2);
	assert_int_equal(unread_of(bob, room), 3);
	assert_int_equal(unread_of(carol, room), -1);
	chat_room *rooms = NULL;
	size_t n = 0;
	assert_int_equal(chat_dal_rooms_list(db, carol, &rooms, &n), CHAT_OK);
	chat_room *r = find_room(rooms, n, room);
	assert_non_null(r);
	assert_int_equal(r->unread_count, 5);
	assert_int_equal(r->role, CHAT_ROLE_NONE);
	chat_rooms_free(rooms, n);

	int64_t pos = -1;
	assert_int_equal(chat_dal_read_position(db, room, bob, &pos), CHAT_OK);
	assert_int_equal(pos, 0);
	assert_int_equal(chat_dal_message_mark_read(db, a2, bob), CHAT_OK);
	assert_int_equal(chat_dal_read_position(db, room, bob, &pos), CHAT_OK);
	assert_int_equal(pos, a2);
	assert_int_equal(unread_of(bob, room), 1);
	/* An older message does not move the position back. */
	assert_int_equal(chat_dal_message_mark_read(db, a1, bob), CHAT_OK);
	assert_int_equal(chat_dal_read_position(db, room, bob, &pos), CHAT_OK);
	assert_int_equal(pos, a2);
	/* A second mark keeps the first receipt and writes no event. */
	long long read_at = sql_int("SELECT UNIX_TIMESTAMP(read_at) * 1000 FROM message_reads"
	                            " WHERE message_id = %lld AND user_id = %lld",
	                            (long long)a2, (long long)bob);
	assert_int_equal(chat_dal_message_mark_read(db, a2, bob), CHAT_OK);
	assert_int_equal(events_count(room, "message_read", a2, bob), 1);
	assert_int_equal(sql_int("SELECT UNIX_TIMESTAMP(read_at) * 1000 FROM message_reads"
	                         " WHERE message_id = %lld AND user_id = %lld",
	                         (long long)a2, (long long)bob), read_at);

	/* Carol reads: she becomes a member, her count follows. */
	assert_int_equal(chat_dal_message_mark_read(db, b1, carol), CHAT_OK);
	chat_role role;
	assert_int_equal(chat_dal_member_role(db, room, carol, &role), CHAT_OK);
	assert_int_equal(role, CHAT_ROLE_MEMBER);
	assert_int_equal(unread_of(carol, room), 1);
	assert_int_equal(chat_dal_message_mark_read(db, a2, carol), CHAT_OK);

	chat_read *rd = NULL;
	assert_int_equal(chat_dal_message_reads(db, a2, &rd, &n), CHAT_OK);
	assert_int_equal(n, 2);
	assert_int_equal(rd[0].user.id, bob);
	assert_int_equal(rd[1].user.id, carol);
	assert_true(rd[0].read_ms > 0 && rd[0].read_ms <= rd[1].read_ms);
	assert_true(rd[0].user.username[0] == 'b');
	free(rd);
	assert_int_equal(chat_dal_message_reads(db, a3, &rd, &n), CHAT_OK);
	assert_int_equal(n, 0);
	free(rd);

	/* Deleted messages are not unread; unknown or deleted: NOT_FOUND. */
	assert_int_equal(chat_dal_message_delete(db, a3), CHAT_OK);
	assert_int_equal(unread_of(bob, room), -1);
	assert_int_equal(unread_of(alice, room), 2);
	assert_int_equal(chat_dal_message_mark_read(db, a3, bob), CHAT_ERR_NOT_FOUND);
	assert_int_equal(chat_dal_message_mark_read(db, 99999999, bob), CHAT_ERR_NOT_FOUND);
	assert_int_equal(chat_dal_message_mark_read(db, a1, 99999999), CHAT_ERR_NOT_FOUND);
	assert_int_equal(chat_dal_read_position(db, room, 99999999, &pos), CHAT_OK);
	assert_int_equal(pos, 0);

	/* Without a read position the count comes from the triggers'
	 * counters: they follow SQL deletes and undeletes too. */
	int64_t dan = mkuser("dan");
	assert_int_equal(chat_dal_member_add(db, room, dan, CHAT_ROLE_MEMBER), CHAT_OK);
	assert_int_equal(unread_of(dan, room), 4); /* a1 a2 b1 b2 */
	post(room, dan, "mine", NULL, NULL);
	assert_int_equal(unread_of(dan, room), 4);
	sql_exec("UPDATE messages SET deleted_at = NULL WHERE id = %lld", (long long)a3);
	assert_int_equal(unread_of(dan, room), 5);
	sql_exec("DELETE FROM messages WHERE id = %lld", (long long)a3);
	assert_int_equal(unread_of(dan, room), 4);
	sql_exec("UPDATE messages SET deleted_at = UTC_TIMESTAMP(3) WHERE id = %lld", (long long)b1);
	assert_int_equal(unread_of(dan, room), 3);
	assert_int_equal(unread_of(alice, room), 2); /* b2 and dan's */
}

/* read_positions.read_live_count rows that disagree with a direct count. */
static long long read_counts_wrong(void)
{
	return sql_int("SELECT COUNT(*) FROM read_positions p WHERE p.read_live_count <>"
	               " (SELECT COUNT(*) FROM messages m WHERE m.room_id = p.room_id"
	               "  AND m.deleted_at IS NULL AND m.id <= p.last_read_id"
	               "  AND m.sender_id <> p.user_id)");
}

/* The unread count of user in room by a direct count of the messages. */
static int64_t unread_direct(int64_t user, int64_t room)
{
	return sql_int("SELECT COUNT(*) FROM messages WHERE room_id = %lld AND deleted_at IS NULL"
	               " AND sender_id <> %lld AND id > COALESCE((SELECT last_read_id FROM"
	               " read_positions WHERE user_id = %lld AND room_id = %lld), 0)",
	               (long long)room, (long long)user, (long long)user, (long long)room);
}

/* The list, the one-room view and /unread all agree with the direct count. */
static void check_unread(int64_t user, int64_t room)
{
	int64_t want = unread_direct(user, room);
	chat_room *v = NULL;
	size_t n = 0;
	assert_int_equal(chat_dal_rooms_list(db, user, &v, &n), CHAT_OK);
	chat_room *r = find_room(v, n, room);
	assert_non_null(r);
	assert_int_equal(r->unread_count, want);
	chat_rooms_free(v, n);
	chat_room one;
	assert_int_equal(chat_dal_room_view(db, room, user, &one), CHAT_OK);
	assert_int_equal(one.unread_count, want);
	chat_room_clear(&one);
	assert_int_equal(unread_of(user, room), want ? want : -1);
}

/* Several readers of a room, their positions moving while messages are
 * deleted and undeleted by the DAL and by plain SQL: read_live_count (and
 * so every unread count) stays equal to a direct count. */
static void read_counts_follow(void)
{
	enum { NU = 4, NM = 12 };
	int64_t u[NU], m[NM];
	for (int i = 0; i < NU; i++)
		u[i] = mkuser("rc");
	int64_t room = mkroom("read-counts", false, u[0]);
	for (int i = 1; i < NU; i++)
		assert_int_equal(chat_dal_member_add(db, room, u[i], CHAT_ROLE_MEMBER), CHAT_OK);
	for (int i = 0; i < NM; i++)
		m[i] = post(room, u[i % NU], "rc", NULL, NULL);
#define CHECK_ALL()                                       \
	do {                                              \
		assert_int_equal(read_counts_wrong(), 0); \
		for (int k = 0; k < NU; k++)              \
			check_unread(u[k], room);         \
	} while (0)
	CHECK_ALL();
	/* Reads by the DAL: forward, then an older one (no move). */
	assert_int_equal(chat_dal_message_mark_read(db, m[3], u[0]), CHAT_OK);
	assert_int_equal(chat_dal_message_mark_read(db, m[6], u[1]), CHAT_OK);
	assert_int_equal(chat_dal_message_mark_read(db, m[10], u[2]), CHAT_OK);
	CHECK_ALL();
	assert_int_equal(chat_dal_message_mark_read(db, m[8], u[0]), CHAT_OK);
	assert_int_equal(chat_dal_message_mark_read(db, m[2], u[1]), CHAT_OK);
	CHECK_ALL();
	assert_true(unread_direct(u[2], room) > 0);
	/* Deletions by the DAL, below and above positions. */
	assert_int_equal(chat_dal_message_delete(db, m[1]), CHAT_OK);
	assert_int_equal(chat_dal_message_delete(db, m[9]), CHAT_OK);
	CHECK_ALL();
	/* Deletion and undeletion by plain SQL. */
	sql_exec("UPDATE messages SET deleted_at = UTC_TIMESTAMP(3) WHERE id IN (%lld, %lld, %lld)",
	         (long long)m[2], (long long)m[5], (long long)m[11]);
	CHECK_ALL();
	sql_exec("UPDATE messages SET deleted_at = NULL WHERE id IN (%lld, %lld)",
	         (long long)m[1], (long long)m[5]);
	CHECK_ALL();
	/* Reading past deleted messages, then a move of sender by SQL. */
	assert_int_equal(chat_dal_message_mark_read(db, m[10], u[0]), CHAT_OK);
	assert_int_equal(chat_dal_message_mark_read(db, m[10], u[3]), CHAT_OK);
	sql_exec("UPDATE messages SET sender_id = %lld WHERE id = %lld", (long long)u[3],
	         (long long)m[4]);
	CHECK_ALL();
	/* Positions moved by plain SQL, forward and back; a position inserted
	 * by SQL; a hard DELETE. */
	sql_exec("UPDATE read_positions SET last_read_id = %lld WHERE room_id = %lld AND user_id = %lld",
	         (long long)m[11], (long long)room, (long long)u[1]);
	sql_exec("UPDATE read_positions SET last_read_id = %lld WHERE room_id = %lld AND user_id = %lld",
	         (long long)m[4], (long long)room, (long long)u[2]);
	CHECK_ALL();
	sql_exec("DELETE FROM read_positions WHERE room_id = %lld AND user_id = %lld",
	         (long long)room, (long long)u[3]);
	sql_exec("INSERT INTO read_positions (user_id, room_id, last_read_id) VALUES (%lld, %lld, %lld)",
	         (long long)u[3], (long long)room, (long long)m[7]);
	CHECK_ALL();
	sql_exec("DELETE FROM messages WHERE id IN (%lld, %lld)", (long long)m[0], (long long)m[6]);
	CHECK_ALL();
	/* New messages are above every position. */
	post(room, u[1], "rc new", NULL, NULL);
	post(room, u[2], "rc new", NULL, NULL);
	CHECK_ALL();
#undef CHECK_ALL
}

/* The counters agree with the messages everywhere the tests wrote. */
void test_counters_consistent(void **state)
{
	(void)state;
	read_counts_follow();
	assert_int_equal(read_counts_wrong(), 0);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM rooms r WHERE r.message_count <>"
	                         " (SELECT COUNT(*) FROM messages m"
	                         "  WHERE m.room_id = r.id AND m.deleted_at IS NULL)"), 0);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM room_sender_counts c WHERE c.live_count <>"
	                         " (SELECT COUNT(*) FROM messages m WHERE m.room_id = c.room_id"
	                         "  AND m.sender_id = c.sender_id AND m.deleted_at IS NULL)"), 0);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM (SELECT room_id, sender_id FROM messages"
	                         " WHERE deleted_at IS NULL GROUP BY room_id, sender_id) g"
	                         " LEFT JOIN room_sender_counts c ON c.room_id = g.room_id"
	                         " AND c.sender_id = g.sender_id WHERE c.room_id IS NULL"), 0);
}

/* Messages inserted by plain SQL with ids of their own, at, below and
 * above read positions (also positions set by SQL beyond every message):
 * each reader's read_live_count, and so every unread count, stays equal
 * to a direct count. The insert triggers probe read_positions only when a
 * position at or above the new id is possible; these are the cases where
 * it is. */
void test_unread_hand_ids(void **state)
{
	(void)state;
	enum { NU = 4, NM = 8 };
	int64_t u[NU], m[NM];
	for (int i = 0; i < NU; i++)
		u[i] = mkuser("hid");
	int64_t room = mkroom("hand-ids", false, u[0]);
	int64_t other = mkroom("hand-ids-2", false, u[0]);
	for (int i = 1; i < NU; i++)
		assert_int_equal(chat_dal_member_add(db, room, u[i], CHAT_ROLE_MEMBER), CHAT_OK);
	for (int i = 0; i < NM; i++)
		m[i] = post(room, u[i % 2], "hid", NULL, NULL);
#define CHECK_ALL()                                       \
	do {                                              \
		assert_int_equal(read_counts_wrong(), 0); \
		for (int k = 0; k < NU; k++)              \
			check_unread(u[k], room);         \
	} while (0)
	assert_int_equal(chat_dal_message_mark_read(db, m[5], u[2]), CHAT_OK);
	assert_int_equal(chat_dal_message_mark_read(db, m[1], u[3]), CHAT_OK);
	CHECK_ALL();
	/* Gone by a hard DELETE, then back with its own id: below u[2]'s
	 * position, above u[3]'s. */
	sql_exec("DELETE FROM messages WHERE id = %lld", (long long)m[2]);
	CHECK_ALL();
	sql_exec("INSERT INTO messages (id, room_id, sender_id, content) VALUES (%lld, %lld, %lld, 'back')",
	         (long long)m[2], (long long)room, (long long)u[0]);
	CHECK_ALL();
	/* Exactly at a position; and one by the reader itself below its own. */
	sql_exec("DELETE FROM messages WHERE id IN (%lld, %lld)", (long long)m[5], (long long)m[3]);
	sql_exec("INSERT INTO messages (id, room_id, sender_id, content) VALUES (%lld, %lld, %lld, 'at'),"
	         " (%lld, %lld, %lld, 'own')",
	         (long long)m[5], (long long)room, (long long)u[1], (long long)m[3], (long long)room,
	         (long long)u[2]);
	CHECK_ALL();
	/* A deleted one below positions counts for nobody until undeleted. */
	sql_exec("DELETE FROM messages WHERE id = %lld", (long long)m[4]);
	sql_exec("INSERT INTO messages (id, room_id, sender_id, content, deleted_at)"
	         " VALUES (%lld, %lld, %lld, 'deleted', UTC_TIMESTAMP(3))",
	         (long long)m[4], (long long)room, (long long)u[0]);
	CHECK_ALL();
	sql_exec("UPDATE messages SET deleted_at = NULL WHERE id = %lld", (long long)m[4]);
	CHECK_ALL();
	/* A position set by SQL beyond every message: new messages, with ids
	 * of the sequence, are below it and read by that user. */
	int64_t far = m[NM - 1] + 1000;
	sql_exec("UPDATE read_positions SET last_read_id = %lld WHERE room_id = %lld AND user_id = %lld",
	         (long long)far, (long long)room, (long long)u[3]);
	post(room, u[0], "below far", NULL, NULL);
	post(room, u[3], "below far, own", NULL, NULL);
	CHECK_ALL();
	assert_int_equal(unread_direct(u[3], room), 0);
	/* Hand ids between the newest message and that position, two rows in
	 * one statement. */
	sql_exec("INSERT INTO messages (id, room_id, sender_id, content) VALUES (%lld, %lld, %lld, 'h1'),"
	         " (%lld, %lld, %lld, 'h2')",
	         (long long)far - 10, (long long)room, (long long)u[1], (long long)far + 10,
	         (long long)room, (long long)u[0]);
	CHECK_ALL();
	/* A position moved into another room by SQL, beyond its messages. */
	sql_exec("UPDATE read_positions SET room_id = %lld, last_read_id = %lld"
	         " WHERE room_id = %lld AND user_id = %lld",
	         (long long)other, (long long)far + 500, (long long)room, (long long)u[2]);
	post(other, u[0], "in the other room", NULL, NULL);
	CHECK_ALL();
	assert_int_equal(read_counts_wrong(), 0);
	assert_int_equal(unread_direct(u[2], other), 0);
	check_unread(u[2], other);
#undef CHECK_ALL
}

/* Migration 006: the batch keeps rooms.message_count and
 * room_sender_counts itself for the INSERTs it marks (the triggers then
 * write only the events row). A batch over more rooms and (room, sender)
 * pairs than one statement takes (64), with repeats of a client_id inside
 * the batch, retries of stored messages and first posts that make the
 * sender a member, leaves every counter equal to a direct count; so does a
 * batch that fails after marking its INSERTs, and the triggers still count
 * a plain INSERT on the same connection afterwards (the mark is gone). */
DB_SQL(q_t_mark, "SELECT COALESCE(@chat_writer_counts, 0) + COALESCE(@chat_max_read_id, 0)");
DB_SQL(q_t_plain, "INSERT INTO messages (room_id, sender_id, content) VALUES (?, ?, 'plain')");

static void counters_exact(void)
{
	assert_int_equal(read_counts_wrong(), 0);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM rooms r WHERE r.message_count <>"
	                         " (SELECT COUNT(*) FROM messages m"
	                         "  WHERE m.room_id = r.id AND m.deleted_at IS NULL)"), 0);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM room_sender_counts c WHERE c.live_count <>"
	                         " (SELECT COUNT(*) FROM messages m WHERE m.room_id = c.room_id"
	                         "  AND m.sender_id = c.sender_id AND m.deleted_at IS NULL)"), 0);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM (SELECT room_id, sender_id FROM messages"
	                         " WHERE deleted_at IS NULL GROUP BY room_id, sender_id) g"
	                         " LEFT JOIN room_sender_counts c ON c.room_id = g.room_id"
	                         " AND c.sender_id = g.sender_id WHERE c.room_id IS NULL"), 0);
}

static int64_t session_mark(void)
{
	int64_t v = -1;
	assert_int_equal(db_query_int(db, &q_t_mark, NULL, 0, &v), CHAT_OK);
	return v;
}

void test_batch_counts(void **state)
{
	(void)state;
	enum { NR = 70, NS = 3, N = NR * NS + 3 };
	int64_t u[NS], rooms[NR];
	for (int i = 0; i < NS; i++)
		u[i] = mkuser("bcnt");
	int64_t reader = mkuser("bcnt-reader");
	for (int r = 0; r < NR; r++) {
		char name[32];
		snprintf(name, sizeof(name), "bcnt-%d", r);
		rooms[r] = mkroom(name, false, u[0]);
	}
	/* a reader part-way through two rooms, and a stored message to retry */
	for (int r = 0; r < 2; r++) {
		assert_int_equal(chat_dal_member_add(db, rooms[r], reader, CHAT_ROLE_MEMBER), CHAT_OK);
		int64_t m = post(rooms[r], u[0], "before", NULL, NULL);
		post(rooms[r], u[1], "after", NULL, NULL);
		assert_int_equal(chat_dal_message_mark_read(db, m, reader), CHAT_OK);
	}
	bool created0 = false;
	post(rooms[5], u[2], "stored", "bcnt-retry", &created0);
	assert_true(created0);

	static chat_new_message in[N];
	static char content[N][32], cid[N][32];
	size_t n = 0;
	for (int s = 0; s < NS; s++)
		for (int r = 0; r < NR; r++) {
			snprintf(content[n], sizeof(content[n]), "b%d-%d", s, r);
			snprintf(cid[n], sizeof(cid[n]), "bc%d-%d", s, r);
			in[n] = (chat_new_message){ rooms[r], u[s], content[n], NULL,
				                    r % 3 ? cid[n] : NULL, false };
			n++;
		}
	in[n++] = in[1];  /* a repeat of a client_id inside the batch */
	in[n++] = (chat_new_message){ rooms[5], u[2], "stored", NULL, "bcnt-retry", false };
	in[n++] = (chat_new_message){ rooms[0], reader, "reader's own", NULL, NULL, false };
	assert_int_equal(n, N);
	static chat_message res[N];
	static bool created[N];
	assert_int_equal(chat_dal_messages_insert_batch(db, in, N, res, created), CHAT_OK);
	size_t stored = 0;
	for (size_t i = 0; i < N; i++)
		stored += created[i];
	assert_int_equal(stored, N - 2);
	assert_int_equal(res[N - 3].id, res[1].id);
	assert_false(created[N - 3]);
	assert_false(created[N - 2]);
	for (size_t i = 0; i < N; i++)
		chat_message_clear(&res[i]);
	assert_int_equal(session_mark(), 0);
	counters_exact();
	for (int r = 0; r < 2; r++)
		check_unread(reader, rooms[r]);
	for (int r = 0; r < NR; r++)
		assert_int_equal(events_count(rooms[r], "message_created", 0, 0),
		                 sql_int("SELECT COUNT(*) FROM messages WHERE room_id = %lld",
		                         (long long)rooms[r]));

	/* Fails at its INSERT, after marking (an unknown message_type under
	 * the strict SQL mode): nothing stored, nothing counted, no mark left. */
	chat_new_message bad[2] = { { rooms[1], u[0], "good", NULL, NULL, false },
		                    { rooms[2], u[1], "bad", "nosuchtype", NULL, false } };
	chat_message bres[2];
	bool bcr[2];
	assert_int_not_equal(chat_dal_messages_insert_batch(db, bad, 2, bres, bcr), CHAT_OK);
	assert_int_equal(session_mark(), 0);
	/* A plain INSERT on the same connection: the triggers count it. */
	db_arg a[] = { DBI(rooms[3]), DBI(u[1]) };
	assert_int_equal(db_exec(db, &q_t_plain, a, DB_NARGS(a), NULL, NULL), CHAT_OK);
	post(rooms[1], reader, "one more", NULL, NULL);
	counters_exact();
	for (int r = 0; r < 2; r++)
		check_unread(reader, rooms[r]);
}

void test_rooms_list(void **state)
{
	(void)state;
	int64_t u = mkuser("lister");
	int64_t other = mkuser("other");
	int64_t pub = mkroom("list-public", false, other);
	int64_t hidden = mkroom("list-hidden", true, other);
	int64_t mine = mkroom("list-mine", true, other);
	int64_t empty = mkroom("list-empty", false, u);
	assert_int_equal(chat_dal_member_add(db, mine, u, CHAT_ROLE_MEMBER), CHAT_OK);
	post(pub, other, "p1", NULL, NULL);
	int64_t p2 = post(pub, other, "p2", NULL, NULL);
	int64_t p3 = post(pub, u, "p3 mine", NULL, NULL);
	post(hidden, other, "secret", NULL, NULL);
	int64_t m1 = post(mine, other, "m1", NULL, NULL);

	chat_room *v = NULL;
	size_t n = 0;
	assert_int_equal(chat_dal_rooms_list(db, u, &v, &n), CHAT_OK);
	for (size_t i = 1; i < n; i++)
		assert_true(v[i - 1].id < v[i].id);
	assert_null(find_room(v, n, hidden));
	chat_room *r = find_room(v, n, pub);
	assert_non_null(r);
	assert_int_equal(r->role, CHAT_ROLE_MEMBER); /* posting made u a member */
	assert_int_equal(r->unread_count, 2);
	assert_true(r->has_last_message);
	assert_int_equal(r->last_message.id, p3);
	assert_string_equal(r->last_message.content, "p3 mine");
	assert_int_equal(r->last_message.sender.id, u);
	assert_string_equal(r->description, "desc");
	r = find_room(v, n, mine);
	assert_non_null(r);
	assert_true(r->is_private);
	assert_int_equal(r->unread_count, 1);
	assert_int_equal(r->last_message.id, m1);
	r = find_room(v, n, empty);
	assert_non_null(r);
	assert_int_equal(r->role, CHAT_ROLE_OWNER);
	assert_int_equal(r->unread_count, 0);
	assert_false(r->has_last_message);
	chat_rooms_free(v, n);

	/* The newest live message is the last one; reading moves unread. */
	assert_int_equal(chat_dal_message_delete(db, p3), CHAT_OK);
	assert_int_equal(chat_dal_message_mark_read(db, p2, u), CHAT_OK);
	assert_int_equal(chat_dal_rooms_list(db, u, &v, &n), CHAT_OK);
	r = find_room(v, n, pub);
	assert_non_null(r);
	assert_int_equal(r->last_message.id, p2);
	assert_int_equal(r->unread_count, 0);
	chat_rooms_free(v, n);

	/* The owner of the private rooms sees them all. */
	assert_int_equal(chat_dal_rooms_list(db, other, &v, &n), CHAT_OK);
	assert_non_null(find_room(v, n, hidden));
	assert_non_null(find_room(v, n, mine));
	chat_rooms_free(v, n);

	/* The one-room view agrees with the list, and reports rooms the
	 * viewer cannot see with role NONE for the caller to refuse. */
	post(mine, other, "m2", NULL, NULL);
	assert_int_equal(chat_dal_rooms_list(db, u, &v, &n), CHAT_OK);
	chat_room one;
	assert_int_equal(chat_dal_room_view(db, mine, u, &one), CHAT_OK);
	r = find_room(v, n, mine);
	assert_non_null(r);
	assert_int_equal(one.unread_count, r->unread_count);
	assert_int_equal(one.unread_count, 2);
	assert_int_equal(one.last_message.id, r->last_message.id);
	assert_int_equal(one.role, CHAT_ROLE_MEMBER);
	assert_true(chat_room_visible(&one));
	chat_room_clear(&one);
	chat_rooms_free(v, n);
	assert_int_equal(chat_dal_room_view(db, hidden, u, &one), CHAT_OK);
	assert_false(chat_room_visible(&one));
	assert_int_equal(one.role, CHAT_ROLE_NONE);
	chat_room_clear(&one);
	assert_int_equal(chat_dal_room_view(db, 999999, u, &one), CHAT_ERR_NOT_FOUND);
}

void test_events(void **state)
{
	(void)state;
	int64_t alice = mkuser("alice");
	int64_t bob = mkuser("bob");
	int64_t room = mkroom("events", false, alice);
	int64_t start = 0;
	assert_int_equal(chat_dal_events_max_id(db, &start), CHAT_OK);
	assert_true(start > 0);

	int64_t t1 = 0;
	assert_int_equal(chat_dal_event_emit(db, room, CHAT_EV_TYPING, 1, bob, &t1), CHAT_OK);
	assert_true(t1 > start);
	int64_t m = post(room, bob, "hello", NULL, NULL);
	assert_int_equal(chat_dal_message_mark_read(db, m, alice), CHAT_OK);
	chat_message edited;
	assert_int_equal(chat_dal_message_edit(db, m, "hello!", &edited), CHAT_OK);
	chat_message_clear(&edited);
	int64_t j = 0;
	assert_int_equal(chat_dal_event_emit(db, room, CHAT_EV_USER_JOIN, 0, alice, &j), CHAT_OK);
	assert_int_equal(chat_dal_message_delete(db, m), CHAT_OK);
	int64_t max = 0;
	assert_int_equal(chat_dal_events_max_id(db, &max), CHAT_OK);

	chat_event_row *v = NULL;
	size_t n = 0;
	assert_int_equal(chat_dal_events_after(db, start, 100, &v, &n), CHAT_OK);
	/* typing, member_joined (bob), message_created, message_read,
	 * member_joined (alice is already one: none), message_updated,
	 * user_join, message_deleted */
	static const chat_event_kind want[] = {
		CHAT_EV_TYPING, CHAT_EV_MEMBER_JOINED, CHAT_EV_MESSAGE_CREATED, CHAT_EV_MESSAGE_READ,
		CHAT_EV_MESSAGE_UPDATED, CHAT_EV_USER_JOIN, CHAT_EV_MESSAGE_DELETED,
	};
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(v[i].ev.kind, want[i]);
		assert_int_equal(v[i].ev.room_id, room);
		assert_true(v[i].ev.created_ms > 0);
		if (i)
			assert_true(v[i - 1].ev.id < v[i].ev.id);
	}
	assert_int_equal(v[0].ev.id, t1);
	assert_int_equal(v[0].ev.ref_id, 1);
	assert_false(v[0].has_message);
	assert_true(v[0].has_actor);
	assert_int_equal(v[0].actor.id, bob);
	assert_int_equal(v[2].ev.ref_id, m);
	assert_true(v[2].has_message);
	/* The message's current state: edited, then deleted. */
	assert_string_equal(v[2].message.content, "hello!");
	assert_true(v[2].message.deleted_ms > 0);
	assert_int_equal(v[2].message.sender.id, bob);
	assert_true(v[3].has_message);
	assert_int_equal(v[3].actor.id, alice);
	assert_int_equal(v[6].ev.id, max);
	assert_int_equal(v[5].ev.id, j);
	chat_event_rows_free(v, n);

	/* A limit. */
	assert_int_equal(chat_dal_events_after(db, start, 2, &v, &n), CHAT_OK);
	assert_int_equal(n, 2);
	chat_event_rows_free(v, n);
	assert_int_equal(chat_dal_events_after(db, max, 10, &v, &n), CHAT_OK);
	assert_int_equal(n, 0);
	chat_event_rows_free(v, n);

	/* By id ranges: absent ids left out, ascending, each row once. */
	chat_id_range rg[] = { { max, max + 1000 }, { 999999990, 999999999 }, { t1, t1 },
			       { t1, t1 } };
	assert_int_equal(chat_dal_events_in_ranges(db, rg, 4, &v, &n), CHAT_OK);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].ev.id, t1);
	assert_int_equal(v[1].ev.id, max);
	assert_int_equal(v[1].ev.kind, CHAT_EV_MESSAGE_DELETED);
	assert_true(v[1].has_message);
	chat_event_rows_free(v, n);
	chat_id_range all = { start + 1, max };
	assert_int_equal(chat_dal_events_in_ranges(db, &all, 1, &v, &n), CHAT_OK);
	assert_int_equal(n, 7);
	assert_int_equal(v[0].ev.id, start + 1);
	chat_event_rows_free(v, n);
	chat_id_range many[CHAT_RANGES_PER_QUERY + 1] = { { 0, 0 } };
	assert_int_equal(chat_dal_events_in_ranges(db, many, CHAT_RANGES_PER_QUERY + 1, &v, &n),
	                 CHAT_ERR_INVALID);
	assert_int_equal(chat_dal_events_in_ranges(db, many, 0, &v, &n), CHAT_OK);
	assert_int_equal(n, 0);
	chat_event_rows_free(v, n);

	assert_int_equal(chat_dal_event_emit(db, 99999999, CHAT_EV_TYPING, 1, bob, &t1),
	                 CHAT_ERR_NOT_FOUND);

	/* After the room is gone its events stay, without their messages. */
	assert_int_equal(chat_dal_room_delete(db, room), CHAT_OK);
	assert_int_equal(chat_dal_events_after(db, start, 100, &v, &n), CHAT_OK);
	assert_int_equal(n, 8);
	assert_false(v[2].has_message);
	assert_int_equal(v[7].ev.kind, CHAT_EV_ROOM_DELETED);
	chat_event_rows_free(v, n);
}

/* Plan a resume and read it in pages of two: kinds and message ids in
 * the order the relay sends them (live messages from the table count as
 * creations). */
static size_t read_replay(int64_t room, int64_t last_id, int limit, chat_event_kind *kinds,
                          int64_t *refs, size_t max, bool *trunc)
{
	chat_replay_plan p;
	assert_int_equal(chat_dal_replay_plan(db, room, last_id, limit, &p), CHAT_OK);
	*trunc = p.truncated;
	size_t got = 0;
	int64_t after = p.after;
	while (p.mode != CHAT_REPLAY_NONE) {
		size_t n = 0;
		if (p.mode == CHAT_REPLAY_EVENTS) {
			chat_event_row *v = NULL;
			assert_int_equal(chat_dal_replay_events(db, room, after, p.upto, 2, &v, &n),
			                 CHAT_OK);
			for (size_t i = 0; i < n; i++) {
				assert_true(got < max);
				assert_int_equal(v[i].ev.room_id, room);
				assert_true(v[i].ev.id > after && v[i].ev.id <= p.upto);
				assert_true(v[i].has_message);
				assert_int_equal(v[i].message.id, v[i].ev.ref_id);
				kinds[got] = v[i].ev.kind;
				refs[got++] = v[i].ev.ref_id;
				after = v[i].ev.id;
			}
			chat_event_rows_free(v, n);
		} else {
			chat_message *v = NULL;
			assert_int_equal(chat_dal_replay_messages(db, room, after, p.upto, 2, &v, &n),
			                 CHAT_OK);
			for (size_t i = 0; i < n; i++) {
				assert_true(got < max);
				assert_int_equal(v[i].room_id, room);
				assert_int_equal(v[i].deleted_ms, 0);
				kinds[got] = CHAT_EV_MESSAGE_CREATED;
				refs[got++] = v[i].id;
				after = v[i].id;
			}
			chat_messages_free(v, n);
		}
		if (n < 2)
			break;
	}
	return got;
}

static void check_replay(int64_t room, int64_t last_id, int limit, const chat_event_kind *kinds,
                         const int64_t *refs, size_t nwant, bool want_trunc)
{
	chat_event_kind k[32];
	int64_t r[32];
	bool trunc = !want_trunc;
	size_t n = read_replay(room, last_id, limit, k, r, 32, &trunc);
	assert_true(trunc == want_trunc);
	assert_int_equal(n, nwant);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(k[i], kinds[i]);
		assert_int_equal(r[i], refs[i]);
	}
}

void test_replay(void **state)
{
	(void)state;
	int64_t alice = mkuser("alice");
	int64_t room = mkroom("replay", false, alice);
	int64_t other = mkroom("replay-other", false, alice);
	check_replay(room, 0, 10, NULL, NULL, 0, false); /* empty room */
	int64_t m[6];
	for (int i = 1; i <= 5; i++) {
		char c[8];
		snprintf(c, sizeof(c), "r%d", i);
		m[i] = post(room, alice, c, NULL, NULL);
		post(other, alice, c, NULL, NULL); /* interleaved, never replayed */
	}
	chat_message e;
	assert_int_equal(chat_dal_message_edit(db, m[2], "r2 edited", &e), CHAT_OK);
	chat_message_clear(&e);
	int64_t ev;
	assert_int_equal(chat_dal_event_emit(db, room, CHAT_EV_TYPING, 1, alice, &ev), CHAT_OK);
	assert_int_equal(chat_dal_message_delete(db, m[1]), CHAT_OK);

	const chat_event_kind C = CHAT_EV_MESSAGE_CREATED, U = CHAT_EV_MESSAGE_UPDATED,
	                      D = CHAT_EV_MESSAGE_DELETED;
	{
		chat_event_kind k[] = { C, C, U, D };
		int64_t r[] = { m[4], m[5], m[2], m[1] };
		check_replay(room, m[3], 10, k, r, 4, false);
		check_replay(room, m[3], 4, k, r, 4, false); /* exactly the limit */
	}
	{
		chat_event_kind k[] = { U, D };
		int64_t r[] = { m[2], m[1] };
		check_replay(room, m[5], 10, k, r, 2, false);
	}
	{
		/* last_id 0: the live messages in their current state */
		chat_event_kind k[] = { C, C, C, C };
		int64_t r[] = { m[2], m[3], m[4], m[5] };
		check_replay(room, 0, 10, k, r, 4, false);
		check_replay(room, 0, 4, k, r, 4, false);
	}
	{
		/* More missing than the limit: the newest live messages. */
		chat_event_kind k[] = { C, C, C };
		int64_t r[] = { m[3], m[4], m[5] };
		check_replay(room, m[3], 3, k, r, 3, true);
		check_replay(room, 0, 3, k, r, 3, true);
	}
	/* The creation event of m3 purged: start at the next message. */
	sql_exec("DELETE FROM chat_events WHERE kind = 'message_created' AND ref_id = %lld",
	         (long long)m[3]);
	{
		chat_event_kind k[] = { C, C, U, D };
		int64_t r[] = { m[4], m[5], m[2], m[1] };
		check_replay(room, m[3], 10, k, r, 4, false);
	}
	/* All creation events after last_id purged but messages exist: the
	 * live messages from the table, all of them within the limit. */
	sql_exec("DELETE FROM chat_events WHERE kind = 'message_created' AND room_id = %lld"
	         " AND ref_id > %lld", (long long)room, (long long)m[3]);
	{
		chat_event_kind k[] = { C, C };
		int64_t r[] = { m[4], m[5] };
		check_replay(room, m[3], 10, k, r, 2, false);
		int64_t r1[] = { m[5] };
		check_replay(room, m[3], 1, k, r1, 1, true);
	}
	/* Up to date, or beyond every id: nothing. */
	check_replay(other, 999999999, 10, NULL, NULL, 0, false);
	chat_replay_plan p;
	assert_int_equal(chat_dal_replay_plan(db, room, -1, 10, &p), CHAT_ERR_INVALID);
	assert_int_equal(chat_dal_replay_plan(db, room, 0, 0, &p), CHAT_ERR_INVALID);
}

void test_purge(void **state)
{
	(void)state;
	int64_t alice = mkuser("alice");
	int64_t room = mkroom("purge", false, alice);
	for (int i = 0; i < 5; i++)
		post(room, alice, "old", NULL, NULL);
	long long before = sql_int("SELECT COUNT(*) FROM chat_events");
	sql_exec("UPDATE chat_events SET created_at = created_at - INTERVAL 2 HOUR"
	         " WHERE room_id = %lld", (long long)room);
	int64_t deleted = -1;
	assert_int_equal(chat_dal_events_purge(db, 3600, &deleted), CHAT_OK);
	assert_int_equal(deleted, 6); /* member_joined + 5 message_created */
	assert_int_equal(sql_int("SELECT COUNT(*) FROM chat_events"), before - 6);
	assert_int_equal(events_count(room, "message_created", 0, 0), 0);
	assert_int_equal(chat_dal_events_purge(db, 3600, &deleted), CHAT_OK);
	assert_int_equal(deleted, 0);
	/* Messages themselves stay. */
	assert_int_equal(sql_int("SELECT COUNT(*) FROM messages WHERE room_id = %lld",
	                         (long long)room), 5);
}

static size_t online_count(int64_t room, int64_t user)
{
	chat_user_ref *u = NULL;
	size_t n = 0, hits = 0;
	assert_int_equal(chat_dal_presence_online(db, room, &u, &n), CHAT_OK);
	for (size_t i = 0; i < n; i++) {
		if (i)
			assert_true(u[i - 1].id < u[i].id);
		if (u[i].id == user)
			hits++;
	}
	free(u);
	return hits;
}

void test_presence(void **state)
{
	(void)state;
	int64_t alice = mkuser("alice");
	int64_t bob = mkuser("bob");
	int64_t room = mkroom("presence", false, alice);
	int64_t i1 = 0, i2 = 0, i3 = 0;
	assert_int_equal(chat_dal_instance_register(db, "host-a", 100, &i1), CHAT_OK);
	assert_int_equal(chat_dal_instance_register(db, "host-b", 200, &i2), CHAT_OK);
	assert_int_equal(chat_dal_instance_register(db, "host-c", 300, &i3), CHAT_OK);
	assert_true(i1 > 0 && i2 > i1 && i3 > i2);

	int64_t p1, p2, p3, p4;
	assert_int_equal(chat_dal_presence_add(db, i1, room, alice, &p1), CHAT_OK);
	assert_int_equal(events_count(room, "presence_join", 0, alice), 1);
	/* Second connection, another relay: no second join. */
	assert_int_equal(chat_dal_presence_add(db, i2, room, alice, &p2), CHAT_OK);
	assert_int_equal(events_count(room, "presence_join", 0, alice), 1);
	assert_int_equal(online_count(room, alice), 1);
	chat_member *mem = NULL;
	size_t n = 0;
	assert_int_equal(chat_dal_members_list(db, room, &mem, &n), CHAT_OK);
	assert_int_equal(n, 1);
	assert_true(mem[0].online);
	free(mem);

	assert_int_equal(chat_dal_presence_remove(db, p1), CHAT_OK);
	assert_int_equal(events_count(room, "presence_leave", 0, alice), 0);
	assert_int_equal(online_count(room, alice), 1);
	assert_int_equal(chat_dal_presence_remove(db, p2), CHAT_OK);
	assert_int_equal(events_count(room, "presence_leave", 0, alice), 1);
	assert_int_equal(online_count(room, alice), 0);
	assert_int_equal(chat_dal_presence_remove(db, p2), CHAT_ERR_NOT_FOUND);

	/* Reap: i3 stops heartbeating; its rows go with presence_leave. */
	assert_int_equal(chat_dal_presence_add(db, i3, room, bob, &p3), CHAT_OK);
	assert_int_equal(chat_dal_presence_add(db, i1, room, alice, &p4), CHAT_OK);
	assert_int_equal(events_count(room, "presence_join", 0, bob), 1);
	assert_int_equal(events_count(room, "presence_join", 0, alice), 2);
	sql_exec("UPDATE relay_instances SET heartbeat_at = heartbeat_at - INTERVAL 10 MINUTE"
	         " WHERE id = %lld", (long long)i3);
	assert_int_equal(chat_dal_instance_heartbeat(db, i1), CHAT_OK);
	assert_int_equal(chat_dal_instance_heartbeat(db, i2), CHAT_OK);
	int reaped = -1;
	assert_int_equal(chat_dal_instances_reap(db, 60, &reaped), CHAT_OK);
	assert_true(reaped >= 1);
	assert_int_equal(events_count(room, "presence_leave", 0, bob), 1);
	assert_int_equal(online_count(room, bob), 0);
	assert_int_equal(online_count(room, alice), 1);
	assert_int_equal(chat_dal_instance_heartbeat(db, i3), CHAT_ERR_NOT_FOUND);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM presence WHERE instance_id = %lld",
	                         (long long)i3), 0);
	assert_int_equal(chat_dal_instances_reap(db, 60, &reaped), CHAT_OK);
	assert_int_equal(reaped, 0);

	/* Clean shutdown of i1. */
	assert_int_equal(chat_dal_instance_unregister(db, i1), CHAT_OK);
	assert_int_equal(events_count(room, "presence_leave", 0, alice), 2);
	assert_int_equal(chat_dal_instance_heartbeat(db, i1), CHAT_ERR_NOT_FOUND);

	assert_int_equal(chat_dal_presence_add(db, i1, room, alice, &p1), CHAT_ERR_NOT_FOUND);
	assert_int_equal(chat_dal_presence_add(db, i2, 99999999, alice, &p1), CHAT_ERR_NOT_FOUND);
	/* Deleting the room takes its presence rows along. */
	assert_int_equal(chat_dal_presence_add(db, i2, room, bob, &p1), CHAT_OK);
	assert_int_equal(chat_dal_room_delete(db, room), CHAT_OK);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM presence WHERE id = %lld", (long long)p1), 0);
	assert_int_equal(chat_dal_instance_unregister(db, i2), CHAT_OK);
}

/* A burst of connects and disconnects in one transaction each: the same
 * rows and join/leave events as one at a time, rooms in any order; a
 * deleted room fails the whole add; rows already gone are skipped. */
void test_presence_many(void **state)
{
	(void)state;
	int64_t alice = mkuser("alice");
	int64_t bob = mkuser("bob");
	int64_t r1 = mkroom("many-1", false, alice);
	int64_t r2 = mkroom("many-2", false, bob);
	int64_t inst = 0;
	assert_int_equal(chat_dal_instance_register(db, "host-m", 1, &inst), CHAT_OK);

	chat_presence_req req[] = { { r2, bob }, { r1, alice }, { r2, alice }, { r1, alice } };
	int64_t ids[4] = { 0 };
	assert_int_equal(chat_dal_presence_add_many(db, inst, req, 4, ids), CHAT_OK);
	for (int i = 0; i < 4; i++) {
		assert_true(ids[i] > 0);
		assert_int_equal(sql_int("SELECT room_id * 1000000 + user_id FROM presence WHERE id = %lld",
		                         (long long)ids[i]),
		                 req[i].room_id * 1000000 + req[i].user_id);
	}
	assert_int_equal(events_count(r1, "presence_join", 0, alice), 1); /* two rows, one join */
	assert_int_equal(events_count(r2, "presence_join", 0, alice), 1);
	assert_int_equal(events_count(r2, "presence_join", 0, bob), 1);
	assert_int_equal(online_count(r1, alice), 1);
	assert_int_equal(online_count(r2, bob), 1);

	/* remove three (one twice: counted once), then the last one alone */
	int64_t rm[] = { ids[3], ids[0], ids[2], ids[3] };
	size_t removed = 0;
	assert_int_equal(chat_dal_presence_remove_many(db, rm, 4, &removed), CHAT_OK);
	assert_int_equal(removed, 3);
	assert_int_equal(events_count(r1, "presence_leave", 0, alice), 0); /* ids[1] remains */
	assert_int_equal(events_count(r2, "presence_leave", 0, alice), 1);
	assert_int_equal(events_count(r2, "presence_leave", 0, bob), 1);
	assert_int_equal(online_count(r1, alice), 1);
	assert_int_equal(online_count(r2, bob), 0);
	assert_int_equal(chat_dal_presence_remove_many(db, rm, 4, &removed), CHAT_OK);
	assert_int_equal(removed, 0);
	assert_int_equal(chat_dal_presence_remove(db, ids[1]), CHAT_OK);
	assert_int_equal(events_count(r1, "presence_leave", 0, alice), 1);

	/* More than one statement's worth (64 ids) over three rooms, ids in
	 * any order: every row goes, one leave per (room, user). */
	enum { BIG = 150 };
	int64_t r3 = mkroom("many-3", false, bob);
	chat_presence_req big[BIG];
	int64_t bids[BIG];
	for (int i = 0; i < BIG; i++) {
		big[i].room_id = i % 3 == 0 ? r1 : i % 3 == 1 ? r2 : r3;
		big[i].user_id = i % 2 ? alice : bob;
	}
	assert_int_equal(chat_dal_presence_add_many(db, inst, big, BIG, bids), CHAT_OK);
	long long leaves = sql_int("SELECT COUNT(*) FROM chat_events WHERE kind = 'presence_leave'");
	for (int i = 0; i < BIG / 2; i++) { /* reversed */
		int64_t t = bids[i];
		bids[i] = bids[BIG - 1 - i];
		bids[BIG - 1 - i] = t;
	}
	assert_int_equal(chat_dal_presence_remove_many(db, bids, BIG, &removed), CHAT_OK);
	assert_int_equal(removed, BIG);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM chat_events WHERE kind = 'presence_leave'"),
	                 leaves + 6);
	assert_int_equal(online_count(r3, bob), 0);
	assert_int_equal(online_count(r1, alice), 0);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM presence WHERE instance_id = %lld",
	                         (long long)inst), 0);

	/* all or nothing */
	chat_presence_req bad[] = { { r1, bob }, { 99999999, bob } };
	int64_t bid[2] = { -1, -1 };
	long long rows = sql_int("SELECT COUNT(*) FROM presence");
	assert_int_equal(chat_dal_presence_add_many(db, inst, bad, 2, bid), CHAT_ERR_NOT_FOUND);
	assert_true(bid[0] == 0 && bid[1] == 0);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM presence"), rows);
	assert_int_equal(chat_dal_instance_unregister(db, inst), CHAT_OK);
}

/* A batch of opening connections as the relay runs it: users and rooms
 * looked up in one call (missing, inactive, private and not a member),
 * rows added by multi-row statements (150: every statement size), every
 * room's online list in one statement. And a user's 151st connection to
 * a room reads a couple of its presence rows, not all 150 (migration 007:
 * the work of a connect no longer grows with the connections open). */
void test_presence_batch(void **state)
{
	(void)state;
	int64_t alice = mkuser("alice");
	int64_t bob = mkuser("bob");
	int64_t gone = mkuser("gone");
	sql_exec("UPDATE users SET is_active = 0 WHERE id = %lld", (long long)gone);
	int64_t pub = mkroom("batch-pub", false, alice);
	int64_t priv = mkroom("batch-priv", true, alice);
	int64_t empty = mkroom("batch-empty", false, alice);

	chat_connect_req lq[] = { { alice, pub }, { bob, priv }, { alice, priv }, { gone, pub },
		                  { 99999999, pub }, { bob, 99999999 }, { bob, pub } };
	chat_connect_info info[7];
	assert_int_equal(chat_dal_connect_lookup(db, lq, 7, info), CHAT_OK);
	assert_true(info[0].user_found && info[0].user_active && info[0].room_found);
	assert_int_equal(info[0].user.id, alice);
	assert_true(strncmp(info[0].user.username, "alice", 5) == 0);
	assert_false(info[0].room_private);
	assert_true(info[1].room_found && info[1].room_private && !info[1].member);
	assert_true(info[2].room_found && info[2].room_private && info[2].member);
	assert_true(info[3].user_found && !info[3].user_active);
	assert_false(info[4].user_found);
	assert_true(info[4].room_found);
	assert_true(info[5].user_found && !info[5].room_found);
	assert_true(info[6].user_found && info[6].room_found && !info[6].room_private);
	assert_true(strncmp(info[6].user.username, "bob", 3) == 0);

	int64_t inst = 0;
	assert_int_equal(chat_dal_instance_register(db, "host-batch", 1, &inst), CHAT_OK);
	enum { N = 150 };
	chat_presence_req req[N];
	int64_t ids[N];
	for (int i = 0; i < N; i++)
		req[i] = (chat_presence_req){ i % 3 == 2 ? priv : pub, i == 7 ? bob : alice };
	assert_int_equal(chat_dal_presence_add_many(db, inst, req, N, ids), CHAT_OK);
	for (int i = 0; i < N; i++)
		assert_int_equal(sql_int("SELECT room_id * 1000000 + user_id FROM presence WHERE id = %lld",
		                         (long long)ids[i]),
		                 req[i].room_id * 1000000 + req[i].user_id);
	assert_int_equal(events_count(pub, "presence_join", 0, alice), 1);
	assert_int_equal(events_count(pub, "presence_join", 0, bob), 1);
	assert_int_equal(events_count(priv, "presence_join", 0, alice), 1);

	int64_t rooms[] = { priv, empty, pub };
	chat_online_ref *on = NULL;
	size_t non = 0;
	assert_int_equal(chat_dal_presence_online_rooms(db, rooms, 3, &on, &non), CHAT_OK);
	assert_int_equal(non, 3);
	assert_true(pub < priv);
	assert_true(on[0].room_id == pub && on[0].user.id == alice);
	assert_string_equal(on[0].user.username, info[0].user.username);
	assert_true(on[1].room_id == pub && on[1].user.id == bob);
	assert_string_equal(on[1].user.username, info[6].user.username);
	assert_true(on[2].room_id == priv && on[2].user.id == alice);
	free(on);

	/* The 100th row of (pub, alice): its trigger reads a couple of rows. */
	sql_exec("FLUSH STATUS");
	sql_exec("INSERT INTO presence (instance_id, room_id, user_id) VALUES (%lld, %lld, %lld)",
	         (long long)inst, (long long)pub, (long long)alice);
	long long next = sql_int("SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS"
	                         " WHERE VARIABLE_NAME = 'HANDLER_READ_NEXT'");
	assert_true(next < 20);
	assert_int_equal(events_count(pub, "presence_join", 0, alice), 1);
	/* Removing all but one row of a pair: no leave; the last one: one. */
	sql_exec("DELETE FROM presence WHERE room_id = %lld AND user_id = %lld ORDER BY id LIMIT 99",
	         (long long)pub, (long long)alice);
	assert_int_equal(events_count(pub, "presence_leave", 0, alice), 0);
	sql_exec("DELETE FROM presence WHERE room_id = %lld AND user_id = %lld", (long long)pub,
	         (long long)alice);
	assert_int_equal(events_count(pub, "presence_leave", 0, alice), 1);
	assert_int_equal(chat_dal_instance_unregister(db, inst), CHAT_OK);
	assert_int_equal(events_count(pub, "presence_leave", 0, bob), 1);
	assert_int_equal(events_count(priv, "presence_leave", 0, alice), 1);
}
