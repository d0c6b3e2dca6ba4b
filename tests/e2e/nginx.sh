#!/bin/sh
# End-to-end through a private nginx instance: fastcgi_pass to a standalone
# chat-api on a Unix socket, proxy_pass with the WebSocket upgrade for /ws/,
# configured from deploy/nginx/chat.conf.in. The checks: see stack.py.
set -eu
. "$top_srcdir/tests/e2e/e2e.sh"
e2e_run_stack --server nginx
