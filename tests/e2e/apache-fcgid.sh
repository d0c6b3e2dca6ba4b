#!/bin/sh
# End-to-end through a private Apache 2.4 instance: mod_fcgid spawns
# chat-api (one request per process), mod_proxy_wstunnel for /ws/,
# configured from deploy/apache/chat-fcgid.conf.in. The checks: see
# stack.py.
set -eu
. "$top_srcdir/tests/e2e/e2e.sh"
e2e_run_stack --server apache-fcgid
