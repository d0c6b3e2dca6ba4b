# tests/fuzz: one libFuzzer target per parser of untrusted input (JWT,
# configuration, the HTTP request path, the relay's client frames).
# Each target's LLVMFuzzerTestOneInput is also linked with replay_main.c
# into a normal program that `make check` runs over the seed corpus and
# the regression inputs (crashes once found), with or without fuzzing.
# `configure --enable-fuzzing CC=clang` builds the libFuzzer binaries;
# `make fuzz` runs each for FUZZ_SECONDS. See docs/security.md.
SECFUZZ_NAMES = jwt config http frames
FUZZ_SECONDS = 60

SECFUZZ_CFLAGS = $(AM_CFLAGS) $(CHAT_DEP_CFLAGS) $(SODIUM_CFLAGS) \
	-I$(top_srcdir)/tests/fuzz -DFUZZ_KEYDIR='"$(abs_top_srcdir)/tests/unit/data"'
SECFUZZ_HTTP_CFLAGS = $(SECFUZZ_CFLAGS) -I$(top_srcdir)/api $(FCGI_CFLAGS)
SECFUZZ_HTTP_LIBS = api/libchatapi.la $(CHAT_LIBS) $(FCGI_LIBS)
# The user lookup after a valid token is the database boundary the HTTP
# target stops at (fuzz_http.c explains).
SECFUZZ_HTTP_WRAP = -Wl,--wrap=chat_dal_user_by_id
SECFUZZ_FRAMES_CFLAGS = $(SECFUZZ_CFLAGS) -I$(top_srcdir)/relay $(LWS_CFLAGS)
SECFUZZ_FRAMES_LIBS = $(CHAT_LIBS)

# Replays, always built for make check.
SECFUZZ_REPLAYS = tests/fuzz/replay_jwt tests/fuzz/replay_config tests/fuzz/replay_http \
	tests/fuzz/replay_frames
check_PROGRAMS += $(SECFUZZ_REPLAYS)
tests_fuzz_replay_jwt_SOURCES = tests/fuzz/fuzz_jwt.c tests/fuzz/replay_main.c tests/fuzz/fuzz.h
tests_fuzz_replay_jwt_CFLAGS = $(SECFUZZ_CFLAGS)
tests_fuzz_replay_jwt_LDADD = $(CHAT_LIBS)
tests_fuzz_replay_config_SOURCES = tests/fuzz/fuzz_config.c tests/fuzz/replay_main.c tests/fuzz/fuzz.h
tests_fuzz_replay_config_CFLAGS = $(SECFUZZ_CFLAGS)
tests_fuzz_replay_config_LDADD = $(CHAT_LIBS)
tests_fuzz_replay_http_SOURCES = tests/fuzz/fuzz_http.c tests/fuzz/replay_main.c tests/fuzz/fuzz.h
tests_fuzz_replay_http_CFLAGS = $(SECFUZZ_HTTP_CFLAGS)
tests_fuzz_replay_http_LDFLAGS = $(AM_LDFLAGS) $(SECFUZZ_HTTP_WRAP)
tests_fuzz_replay_http_LDADD = $(SECFUZZ_HTTP_LIBS)
tests_fuzz_replay_frames_SOURCES = tests/fuzz/fuzz_frames.c relay/frames.c relay/job.c tests/fuzz/replay_main.c \
	tests/fuzz/fuzz.h
tests_fuzz_replay_frames_CFLAGS = $(SECFUZZ_FRAMES_CFLAGS)
tests_fuzz_replay_frames_LDADD = $(SECFUZZ_FRAMES_LIBS)

TESTS += tests/fuzz/replay.sh
EXTRA_DIST += tests/fuzz/replay.sh tests/fuzz/corpus tests/fuzz/regressions \
	tests/fuzz/README tests/fuzz/dict tests/fuzz/make_seeds.py

if ENABLE_FUZZING
SECFUZZ_TARGETS = tests/fuzz/fuzz_jwt tests/fuzz/fuzz_config tests/fuzz/fuzz_http \
	tests/fuzz/fuzz_frames
noinst_PROGRAMS += $(SECFUZZ_TARGETS)
tests_fuzz_fuzz_jwt_SOURCES = tests/fuzz/fuzz_jwt.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_jwt_CFLAGS = $(SECFUZZ_CFLAGS)
tests_fuzz_fuzz_jwt_LDFLAGS = $(AM_LDFLAGS) $(LIBFUZZER_LDFLAGS)
tests_fuzz_fuzz_jwt_LDADD = $(CHAT_LIBS)
tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_config_CFLAGS = $(SECFUZZ_CFLAGS)
tests_fuzz_fuzz_config_LDFLAGS = $(AM_LDFLAGS) $(LIBFUZZER_LDFLAGS)
tests_fuzz_fuzz_config_LDADD = $(CHAT_LIBS)
tests_fuzz_fuzz_http_SOURCES = tests/fuzz/fuzz_http.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_http_CFLAGS = $(SECFUZZ_HTTP_CFLAGS)
tests_fuzz_fuzz_http_LDFLAGS = $(AM_LDFLAGS) $(LIBFUZZER_LDFLAGS) $(SECFUZZ_HTTP_WRAP)
tests_fuzz_fuzz_http_LDADD = $(SECFUZZ_HTTP_LIBS)
tests_fuzz_fuzz_frames_SOURCES = tests/fuzz/fuzz_frames.c relay/frames.c relay/job.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_frames_CFLAGS = $(SECFUZZ_FRAMES_CFLAGS)
tests_fuzz_fuzz_frames_LDFLAGS = $(AM_LDFLAGS) $(LIBFUZZER_LDFLAGS)
tests_fuzz_fuzz_frames_LDADD = $(SECFUZZ_FRAMES_LIBS)

# Each target for FUZZ_SECONDS, one after the other, starting from the
# seeds; new inputs go to tests/fuzz/work/NAME, crashes to
# tests/fuzz/artifacts/ (copy them to tests/fuzz/regressions/NAME/).
fuzz: $(SECFUZZ_TARGETS)
	@set -e; for t in $(SECFUZZ_NAMES); do \
	  mkdir -p tests/fuzz/work/$$t tests/fuzz/artifacts; \
	  echo "fuzz_$$t: $(FUZZ_SECONDS) s"; \
	  ./tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=tests/fuzz/artifacts/$$t- -dict=$(srcdir)/tests/fuzz/dict/$$t.dict \
	    tests/fuzz/work/$$t $(srcdir)/tests/fuzz/corpus/$$t; \
	done
else
fuzz:
	@echo "make fuzz needs: configure --enable-fuzzing CC=clang" >&2; exit 1
endif
.PHONY: fuzz

clean-local: clean-fuzz
clean-fuzz:
	-rm -rf tests/fuzz/work tests/fuzz/artifacts
.PHONY: clean-fuzz
