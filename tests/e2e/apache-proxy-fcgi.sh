#!/bin/sh
# End-to-end through a private Apache 2.4 instance: mod_proxy_fcgi to a
# standalone chat-api on a Unix socket, mod_proxy_wstunnel for /ws/,
# configured from deploy/apache/chat-proxy-fcgi.conf.in. The checks: see
# stack.py.
set -eu
. "$top_srcdir/tests/e2e/e2e.sh"
e2e_run_stack --server apache-proxy-fcgi
