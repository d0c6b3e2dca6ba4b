# tests/integration: the DAL, the migrations, chatctl and the outbox
# follower against a real MariaDB started by tests/harness/mariadb.sh.
check_PROGRAMS += tests/integration/test_dal
tests_integration_test_dal_SOURCES = tests/integration/test_dal.c tests/integration/itest.h
tests_integration_test_dal_CFLAGS = $(AM_CFLAGS) $(CHAT_DEP_CFLAGS) $(CMOCKA_CFLAGS)
tests_integration_test_dal_LDADD = $(CHAT_LIBS) $(CMOCKA_LIBS)

TESTS += tests/integration/dal.sh
EXTRA_DIST += tests/integration/dal.sh tests/harness/mariadb.sh
