# tests/unit: cmocka tests of the shared/ modules, one program per module.
UNIT_TESTS = \
	tests/unit/test_config \
	tests/unit/test_log \
	tests/unit/test_password \
	tests/unit/test_validate \
	tests/unit/test_json \
	tests/unit/test_jwt \
	tests/unit/test_notify \
	tests/unit/test_follow_model \
	tests/unit/test_dbhosts \
	tests/unit/test_addr

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

tests_unit_test_addr_SOURCES = tests/unit/test_addr.c $(UNIT_UTIL)
tests_unit_test_addr_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_addr_LDADD = $(UNIT_LIBS)

tests_unit_test_notify_SOURCES = tests/unit/test_notify.c $(UNIT_UTIL)
tests_unit_test_notify_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_notify_LDADD = $(UNIT_LIBS)

# Fuzz targets of the parsers of untrusted input. With --enable-fuzzing
# (configure with CC=clang, and CFLAGS=-fsanitize=fuzzer-no-link,address so
# libchat is instrumented too) they are libFuzzer programs:
#   tests/unit/fuzz_jwt -max_total_time=60
# Otherwise fuzz_main.c runs each through a fixed set of deterministic
# mutations of its seeds, as ordinary tests.
FUZZ_TARGETS = tests/unit/fuzz_utf8 tests/unit/fuzz_jwt tests/unit/fuzz_scrub \
	tests/unit/fuzz_config tests/unit/fuzz_json
if ENABLE_FUZZING
noinst_PROGRAMS += $(FUZZ_TARGETS)
FUZZ_DRIVER =
FUZZ_FLAGS = -fsanitize=fuzzer
else
check_PROGRAMS += $(FUZZ_TARGETS)
TESTS += $(FUZZ_TARGETS)
FUZZ_DRIVER = tests/unit/fuzz_main.c
FUZZ_FLAGS =
endif
FUZZ_CC_FLAGS = $(UNIT_CFLAGS) $(FUZZ_FLAGS)
FUZZ_LD_FLAGS = $(AM_LDFLAGS) $(FUZZ_FLAGS)

tests_unit_fuzz_utf8_SOURCES = tests/unit/fuzz_utf8.c tests/unit/fuzz.h $(FUZZ_DRIVER)
tests_unit_fuzz_utf8_CFLAGS = $(FUZZ_CC_FLAGS)
tests_unit_fuzz_utf8_LDFLAGS = $(FUZZ_LD_FLAGS)
tests_unit_fuzz_utf8_LDADD = $(CHAT_LIBS)

tests_unit_fuzz_jwt_SOURCES = tests/unit/fuzz_jwt.c tests/unit/fuzz.h $(FUZZ_DRIVER)
tests_unit_fuzz_jwt_CFLAGS = $(FUZZ_CC_FLAGS)
tests_unit_fuzz_jwt_LDFLAGS = $(FUZZ_LD_FLAGS)
tests_unit_fuzz_jwt_LDADD = $(CHAT_LIBS)

tests_unit_fuzz_scrub_SOURCES = tests/unit/fuzz_scrub.c tests/unit/fuzz.h $(FUZZ_DRIVER)
tests_unit_fuzz_scrub_CFLAGS = $(FUZZ_CC_FLAGS)
tests_unit_fuzz_scrub_LDFLAGS = $(FUZZ_LD_FLAGS)
tests_unit_fuzz_scrub_LDADD = $(CHAT_LIBS)

tests_unit_fuzz_config_SOURCES = tests/unit/fuzz_config.c tests/unit/fuzz.h $(FUZZ_DRIVER)
tests_unit_fuzz_config_CFLAGS = $(FUZZ_CC_FLAGS)
tests_unit_fuzz_config_LDFLAGS = $(FUZZ_LD_FLAGS)
tests_unit_fuzz_config_LDADD = $(CHAT_LIBS)
tests_unit_fuzz_json_SOURCES = tests/unit/fuzz_json.c tests/unit/fuzz.h $(FUZZ_DRIVER)
tests_unit_fuzz_json_CFLAGS = $(FUZZ_CC_FLAGS)
tests_unit_fuzz_json_LDFLAGS = $(FUZZ_LD_FLAGS)
tests_unit_fuzz_json_LDADD = $(CHAT_LIBS)
EXTRA_DIST += tests/unit/fuzz_main.c

# Throwaway keys for test_jwt.
EXTRA_DIST += tests/unit/data/README tests/unit/data/rsa-public.pem \
	tests/unit/data/rsa-private.pem tests/unit/data/ec-public.pem tests/unit/data/ec-private.pem

# chat_follow against a model of chat_events (pure, randomized; a fixed
# seed here, random seeds and longer runs under make faults).
tests_unit_test_follow_model_SOURCES = tests/unit/test_follow_model.c
tests_unit_test_follow_model_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_follow_model_LDADD = $(UNIT_LIBS)

tests_unit_test_dbhosts_SOURCES = tests/unit/test_dbhosts.c
tests_unit_test_dbhosts_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_dbhosts_LDADD = $(UNIT_LIBS)
