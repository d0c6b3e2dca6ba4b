#!/bin/sh
# HTTP API tests: access decided under the room lock (see
# tests/api/test_access_races.py).
. "$top_srcdir/tests/api/lib.sh"
api_run_python test_access_races.py
