#!/bin/sh
# HTTP API tests: health (see tests/api/test_health.py).
. "$top_srcdir/tests/api/lib.sh"
api_run_python test_health.py
