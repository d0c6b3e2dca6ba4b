#!/bin/sh
# HTTP API tests: reads (see tests/api/test_reads.py).
. "$top_srcdir/tests/api/lib.sh"
api_run_python test_reads.py
