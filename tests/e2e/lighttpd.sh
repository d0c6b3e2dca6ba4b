#!/bin/sh
# End-to-end through lighttpd: mod_fastcgi spawns chat-api (bin-path) and
# mod_proxy carries /ws/ to the relay, configured from
# deploy/lighttpd/chat.conf.in. Users, a room, messages over both WebSocket
# addresses and over HTTP, read state: see stack.py.
set -eu
. "$top_srcdir/tests/e2e/e2e.sh"
e2e_run_stack --server lighttpd
