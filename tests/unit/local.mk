# tests/unit: cmocka tests of the shared/ modules, one program per module.
UNIT_TESTS = \
	tests/unit/test_config \
	tests/unit/test_log \
	tests/unit/test_password \
	tests/unit/test_validate \
	tests/unit/test_json \
	tests/unit/test_jwt \
	tests/unit/test_notify

check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)

UNIT_CFLAGS = $(AM_CFLAGS) $(CHAT_DEP_CFLAGS) $(SODIUM_CFLAGS) $(CMOCKA_CFLAGS) \
	-DUNIT_DATADIR='"$(abs_top_srcdir)/tests/unit/data"' \
	-DUNIT_TOP_SRCDIR='"$(abs_top_srcdir)"'
UNIT_LIBS = $(CHAT_LIBS) $(CMOCKA_LIBS)
UNIT_UTIL = tests/unit/unit_util.c tests/unit/unit_util.h

tests_unit_test_config_SOURCES = tests/unit/test_config.c $(UNIT_UTIL)
tests_unit_test_config_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_config_LDADD = $(UNIT_LIBS)

tests_unit_test_log_SOURCES = tests/unit/test_log.c $(UNIT_UTIL)
tests_unit_test_log_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_log_LDADD = $(UNIT_LIBS)

tests_unit_test_password_SOURCES = tests/unit/test_password.c $(UNIT_UTIL)
tests_unit_test_password_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_password_LDADD = $(UNIT_LIBS)

tests_unit_test_validate_SOURCES = tests/unit/test_validate.c $(UNIT_UTIL)
tests_unit_test_validate_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_validate_LDADD = $(UNIT_LIBS)

tests_unit_test_json_SOURCES = tests/unit/test_json.c $(UNIT_UTIL)
tests_unit_test_json_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_json_LDADD = $(UNIT_LIBS)

tests_unit_test_jwt_SOURCES = tests/unit/test_jwt.c $(UNIT_UTIL)
tests_unit_test_jwt_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_jwt_LDADD = $(UNIT_LIBS)

tests_unit_test_notify_SOURCES = tests/unit/test_notify.c $(UNIT_UTIL)
tests_unit_test_notify_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_notify_LDADD = $(UNIT_LIBS)

# Throwaway keys for test_jwt.
EXTRA_DIST += tests/unit/data/README tests/unit/data/rsa-public.pem \
	tests/unit/data/rsa-private.pem tests/unit/data/ec-public.pem tests/unit/data/ec-private.pem
