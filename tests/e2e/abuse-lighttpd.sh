#!/bin/sh
# One abusive client against the site behind lighttpd (from the shipped
# template): half-open requests, a WebSocket flood from one user, a 300 MB
# POST, while a normal client keeps logging in and chatting. See abuse.py.
set -eu
. "$top_srcdir/tests/e2e/e2e.sh"
e2e_abuse_checks lighttpd
e2e_run_stack --server lighttpd --exec "$PY" "$top_srcdir/tests/e2e/abuse.py"
