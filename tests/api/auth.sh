#!/bin/sh
# HTTP API tests: auth (see tests/api/test_auth.py).
. "$top_srcdir/tests/api/lib.sh"
api_run_python test_auth.py
