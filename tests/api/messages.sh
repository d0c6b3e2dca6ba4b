#!/bin/sh
# HTTP API tests: messages (see tests/api/test_messages.py).
. "$top_srcdir/tests/api/lib.sh"
api_run_python test_messages.py
