# tests/bench: chat-bench load generator and the no-database baseline server
#
# chat-bench is installed (it is useful against a deployment); the baseline
# server only exists to measure the transport's limit on a machine.
bin_PROGRAMS += tests/bench/chat-bench
tests_bench_chat_bench_SOURCES = tests/bench/bench.h tests/bench/bench_main.c \
	tests/bench/bench_opts.c tests/bench/bench_worker.c \
	tests/bench/bench_hist.h tests/bench/bench_hist.c \
	tests/bench/bench_ws.h tests/bench/bench_ws.c
tests_bench_chat_bench_CFLAGS = $(AM_CFLAGS) $(LWS_CFLAGS) $(JSONC_CFLAGS)
tests_bench_chat_bench_LDADD = $(LWS_LIBS) $(JSONC_LIBS)

noinst_PROGRAMS += tests/bench/baseline-server
tests_bench_baseline_server_SOURCES = tests/bench/baseline-server.c
tests_bench_baseline_server_CFLAGS = $(AM_CFLAGS) $(LWS_CFLAGS) $(JSONC_CFLAGS)
tests_bench_baseline_server_LDADD = $(LWS_LIBS) $(JSONC_LIBS)

# The bench's own WebSocket framing (pure functions).
check_PROGRAMS += tests/bench/test_bench_ws
tests_bench_test_bench_ws_SOURCES = tests/bench/test_bench_ws.c tests/bench/bench_ws.h \
	tests/bench/bench_ws.c
tests_bench_test_bench_ws_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_bench_test_bench_ws_LDADD = $(CMOCKA_LIBS)
TESTS += tests/bench/test_bench_ws

# A short run of the tools against the relay and the baseline (make check).
TESTS += tests/bench/smoke.sh
EXTRA_DIST += tests/bench/smoke.sh tests/bench/bench-lib.sh tests/bench/run-bench.sh tests/bench/room-idle.sh tests/bench/conn-burst.sh \
	tests/bench/room-fanout.sh tests/bench/write-path.sh \
	tests/bench/seed.sh tests/bench/bench-report.py tests/bench/profile-notes.md \
	tests/bench/slowlog-summary.py

# The full benchmark matrix; writes docs/BENCHMARKS.md in the source tree.
.PHONY: bench
bench: all
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	MARIADBD='$(MARIADBD)' MARIADB_INSTALL_DB='$(MARIADB_INSTALL_DB)' \
	$(SHELL) $(abs_top_srcdir)/tests/bench/run-bench.sh

# The generated results of the last `make bench` on the reference machine.
EXTRA_DIST += docs/BENCHMARKS.md
