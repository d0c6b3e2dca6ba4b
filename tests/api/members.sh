#!/bin/sh
# HTTP API tests: members (see tests/api/test_members.py).
. "$top_srcdir/tests/api/lib.sh"
api_run_python test_members.py
