# tests/integration: the DAL, the migrations, chatctl and the outbox
# follower against a real MariaDB started by tests/harness/mariadb.sh.
check_PROGRAMS += tests/integration/test_dal tests/integration/test_outbox
tests_integration_test_dal_SOURCES = tests/integration/test_dal.c tests/integration/itest.h \
	tests/integration/test_dal_events.c tests/integration/test_dal_follow.c \
	tests/integration/test_dal_txn.c tests/integration/test_dal_reap.c
tests_integration_test_dal_CFLAGS = $(AM_CFLAGS) $(CHAT_DEP_CFLAGS) $(CMOCKA_CFLAGS)
tests_integration_test_dal_LDADD = $(CHAT_LIBS) $(CMOCKA_LIBS)

# The outbox bookkeeping alone (pure, no database).
tests_integration_test_outbox_SOURCES = tests/integration/test_outbox.c
tests_integration_test_outbox_CFLAGS = $(AM_CFLAGS) $(CHAT_DEP_CFLAGS) $(CMOCKA_CFLAGS)
tests_integration_test_outbox_LDADD = $(CHAT_LIBS) $(CMOCKA_LIBS)

TESTS += tests/integration/test_outbox tests/integration/dal.sh tests/integration/chatctl.sh
EXTRA_DIST += tests/integration/dal.sh tests/integration/chatctl.sh tests/harness/mariadb.sh
