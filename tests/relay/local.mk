# tests/relay: build fragment, included by the top-level Makefile.am
#
# Integration tests of chat-relay over real WebSocket connections. Each
# script starts its own MariaDB (as tests/harness/mariadb.sh does) and its
# own relay processes on free ports; relaylib.py holds the shared helpers.
# The protocol document's Python example is tests/e2e/seed_client.py.
RELAY_TESTS = \
	tests/relay/test_open.py \
	tests/relay/test_messages.py \
	tests/relay/test_write_access.py \
	tests/relay/test_rooms_isolation.py \
	tests/relay/test_external_writers.py \
	tests/relay/test_presence_typing.py \
	tests/relay/test_resume.py \
	tests/relay/test_replay_bounds.py \
	tests/relay/test_limits.py \
	tests/relay/test_abuse.py \
	tests/relay/test_shutdown.py \
	tests/relay/test_db_outage.py \
	tests/relay/test_db_nodes.py \
	tests/relay/test_seed_python_client.py \
	tests/relay/test_follow_gaps.py \
	tests/relay/test_reap_presence.py \
	tests/relay/test_keepalive.py
TESTS += $(RELAY_TESTS) tests/relay/shutdown_many.sh
EXTRA_DIST += tests/relay/relaylib.py $(RELAY_TESTS) tests/relay/shutdown_many.sh
