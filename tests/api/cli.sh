#!/bin/sh
# HTTP API tests: cli (see tests/api/test_cli.py).
. "$top_srcdir/tests/api/lib.sh"
api_run_python test_cli.py
