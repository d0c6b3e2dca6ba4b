# Benchmark matrix runner: being written.
echo "run-bench.sh: not written yet" >&2
exit 1
