# relay: chat-relay, the libwebsockets WebSocket relay (see docs/relay.md).
bin_PROGRAMS += relay/chat-relay
relay_chat_relay_SOURCES = \
	relay/relay.h \
	relay/main.c \
	relay/server.c \
	relay/listener.c \
	relay/limits.c \
	relay/session.c \
	relay/closing.c \
	relay/sockstat.h \
	relay/sockstat.c \
	relay/frames.c \
	relay/job.c \
	relay/rooms.c \
	relay/sendq.c \
	relay/jobs.h \
	relay/workq.c \
	relay/results.c \
	relay/dbstate.c \
	relay/job_open.c \
	relay/job_replay.c \
	relay/job_room.c \
	relay/job_instance.c \
	relay/job_write.c \
	relay/follower.c \
	relay/metrics.c \
	relay/typing.c \
	relay/keepalive.c \
	relay/loop.c \
	relay/wsguard.c
relay_chat_relay_CFLAGS = $(AM_CFLAGS) $(CHAT_DEP_CFLAGS) $(LWS_CFLAGS)
relay_chat_relay_LDADD = $(CHAT_LIBS) $(LWS_LIBS) $(LIBEV_LIBS)

# Operations smoke test (workers, metrics, room deletion, busy port, no DB);
# the protocol suite is tests/relay/local.mk.
TESTS += tests/relay/smoke_relay.py
EXTRA_DIST += tests/relay/smoke_relay.py

# Unit test of the shared frames and bounded send queues.
check_PROGRAMS += relay/test_sendq
TESTS += relay/test_sendq
relay_test_sendq_SOURCES = relay/test_sendq.c relay/sendq.c relay/relay.h
relay_test_sendq_CFLAGS = $(AM_CFLAGS) $(CHAT_DEP_CFLAGS) $(LWS_CFLAGS) $(CMOCKA_CFLAGS)
relay_test_sendq_LDADD = $(CHAT_LIBS) $(LWS_LIBS) $(CMOCKA_LIBS)
