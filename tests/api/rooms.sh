#!/bin/sh
# HTTP API tests: rooms (see tests/api/test_rooms.py).
. "$top_srcdir/tests/api/lib.sh"
api_run_python test_rooms.py
