#!/bin/sh
# HTTP API tests: protocol (see tests/api/test_protocol.py).
. "$top_srcdir/tests/api/lib.sh"
api_run_python test_protocol.py
