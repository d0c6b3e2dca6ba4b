# tests/api: the HTTP API. A cmocka test of the router; the rest talk
# FastCGI (tests/api/fcgi_client.py) to a real chat-api started on a
# private socket against a private MariaDB (tests/harness/mariadb.sh).
check_PROGRAMS += tests/api/test_router tests/api/test_ratelimit tests/api/test_page_cache
tests_api_test_router_SOURCES = tests/api/test_router.c
tests_api_test_router_CFLAGS = $(AM_CFLAGS) -I$(top_srcdir)/api $(CHAT_DEP_CFLAGS) \
	$(FCGI_CFLAGS) $(CMOCKA_CFLAGS)
tests_api_test_router_LDADD = api/libchatapi.la $(CHAT_LIBS) $(FCGI_LIBS) $(CMOCKA_LIBS)
tests_api_test_ratelimit_SOURCES = tests/api/test_ratelimit.c
tests_api_test_ratelimit_CFLAGS = $(tests_api_test_router_CFLAGS)
tests_api_test_ratelimit_LDADD = $(tests_api_test_router_LDADD)
tests_api_test_page_cache_SOURCES = tests/api/test_page_cache.c
tests_api_test_page_cache_CFLAGS = $(tests_api_test_router_CFLAGS)
tests_api_test_page_cache_LDADD = $(tests_api_test_router_LDADD)

TESTS += \
	tests/api/test_router \
	tests/api/test_ratelimit \
	tests/api/test_page_cache \
	tests/api/openapi_sync.py \
	tests/api/auth.sh \
	tests/api/rooms.sh \
	tests/api/members.sh \
	tests/api/messages.sh \
	tests/api/access_races.sh \
	tests/api/post_burst.sh \
	tests/api/reads.sh \
	tests/api/protocol.sh \
	tests/api/health.sh \
	tests/api/events.sh \
	tests/api/cli.sh

EXTRA_DIST += \
	tests/api/lib.sh \
	tests/api/fcgi_client.py \
	tests/api/apitest.py \
	tests/api/openapi_sync.py \
	tests/api/auth.sh tests/api/test_auth.py \
	tests/api/rooms.sh tests/api/test_rooms.py \
	tests/api/members.sh tests/api/test_members.py \
	tests/api/messages.sh tests/api/test_messages.py \
	tests/api/access_races.sh tests/api/test_access_races.py \
	tests/api/post_burst.sh tests/api/test_post_burst.py \
	tests/api/reads.sh tests/api/test_reads.py \
	tests/api/protocol.sh tests/api/test_protocol.py \
	tests/api/health.sh tests/api/test_health.py \
	tests/api/events.sh tests/api/test_events.py \
	tests/api/cli.sh tests/api/test_cli.py

# Fuzz target of the request parsing (router, query, JSON body), built and
# run like the ones in tests/unit (see there; same driver and flags).
if ENABLE_FUZZING
noinst_PROGRAMS += tests/api/fuzz_request
else
check_PROGRAMS += tests/api/fuzz_request
TESTS += tests/api/fuzz_request
endif
tests_api_fuzz_request_SOURCES = tests/api/fuzz_request.c tests/unit/fuzz.h $(FUZZ_DRIVER)
tests_api_fuzz_request_CFLAGS = $(AM_CFLAGS) -I$(top_srcdir)/api -I$(top_srcdir)/tests/unit \
	$(CHAT_DEP_CFLAGS) $(FCGI_CFLAGS) $(FUZZ_FLAGS)
tests_api_fuzz_request_LDFLAGS = $(FUZZ_LD_FLAGS)
tests_api_fuzz_request_LDADD = api/libchatapi.la $(CHAT_LIBS) $(FCGI_LIBS)

# The MariaDB harness keeps a pristine data directory under tests/tmp for
# every test that needs a database (these included); remove it with the
# rest of the build products so distcleancheck finds nothing left.
clean-local: api-clean-local
api-clean-local:
	-rm -rf tests/tmp/db-template tests/tmp/db.* tests/tmp/install-db.log \
		tests/tmp/.template.lock
.PHONY: api-clean-local
