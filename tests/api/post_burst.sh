#!/bin/sh
# HTTP API tests: concurrent posts answered as if alone, stored exactly
# once (see tests/api/test_post_burst.py).
. "$top_srcdir/tests/api/lib.sh"
api_run_python test_post_burst.py
