#!/bin/sh
# One abusive client against the site behind apache-fcgid (from the shipped
# template): half-open requests, a WebSocket flood from one user, a 300 MB
# POST, while a normal client keeps logging in and chatting. See abuse.py.
set -eu
. "$top_srcdir/tests/e2e/e2e.sh"
e2e_abuse_checks apache-fcgid
e2e_run_stack --server apache-fcgid --exec "$PY" "$top_srcdir/tests/e2e/abuse.py"
