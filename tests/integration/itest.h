/* Shared by the files of the test_dal program. */
#ifndef ITEST_H
#define ITEST_H

#include <stdbool.h>
#include <stdint.h>

#include "chat_config.h"
#include "chat_db.h"

extern chat_config cfg;
extern chat_db *db;

long long sql_int(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sql_exec(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
long long events_count(int64_t room, const char *kind, int64_t ref, int64_t user);
int64_t mkuser(const char *prefix);
int64_t mkroom(const char *name, bool priv, int64_t owner);
int64_t post(int64_t room, int64_t sender, const char *content, const char *client_id,
             bool *created_out);

void test_reads_unread(void **state);
void test_rooms_list(void **state);
void test_events(void **state);
void test_replay(void **state);
void test_purge(void **state);
void test_presence(void **state);
void test_presence_many(void **state);
void test_presence_batch(void **state);
void test_reap_late_row(void **state);
void test_outbox_follow(void **state);
void test_outbox_follow_many_gaps(void **state);
void test_follow_queries(void **state);
void test_counters_consistent(void **state);
void test_unread_hand_ids(void **state);
void test_batch_counts(void **state);
void test_txn_deadlock_retried(void **state);
void test_txn_connection_lost(void **state);
void test_txn_conflict_burst(void **state);
void test_txn_deadlock_in_batch(void **state);
void test_batch_id_stride(void **state);
void test_txn_conflict_exhausted(void **state);

#define ITEST_MORE_TESTS                          \
	cmocka_unit_test(test_reads_unread),      \
	cmocka_unit_test(test_rooms_list),        \
	cmocka_unit_test(test_events),            \
	cmocka_unit_test(test_replay),            \
	cmocka_unit_test(test_purge),             \
	cmocka_unit_test(test_presence),          \
	cmocka_unit_test(test_presence_many),     \
	cmocka_unit_test(test_presence_batch),    \
	cmocka_unit_test(test_reap_late_row),     \
	cmocka_unit_test(test_outbox_follow),     \
	cmocka_unit_test(test_outbox_follow_many_gaps), \
	cmocka_unit_test(test_follow_queries),    \
	cmocka_unit_test(test_txn_deadlock_retried), \
	cmocka_unit_test(test_txn_connection_lost), \
	cmocka_unit_test(test_txn_conflict_burst), \
	cmocka_unit_test(test_txn_deadlock_in_batch), \
	cmocka_unit_test(test_batch_id_stride), \
	cmocka_unit_test(test_txn_conflict_exhausted), \
	cmocka_unit_test(test_counters_consistent), \
	cmocka_unit_test(test_unread_hand_ids), \
	cmocka_unit_test(test_batch_counts),

#endif
