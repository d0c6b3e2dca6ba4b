#!/bin/sh
# HTTP API tests: events (see tests/api/test_events.py).
. "$top_srcdir/tests/api/lib.sh"
api_run_python test_events.py
