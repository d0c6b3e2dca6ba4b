# Replay every fuzz target over its seed corpus and its regression inputs
# (tests/fuzz/regressions/NAME/: inputs that once crashed a target), with
# no fuzzer: a crash or a failed oracle there fails make check.
set -u
src=${top_srcdir:-.}/tests/fuzz
bin=${top_builddir:-.}/tests/fuzz
status=0
for t in jwt config http frames; do
	dirs=
	for d in "$src/corpus/$t" "$src/regressions/$t"; do
		[ -d "$d" ] && dirs="$dirs $d"
	done
	if [ -z "$dirs" ]; then
		echo "no inputs for $t" >&2
		status=1
		continue
	fi
	# shellcheck disable=SC2086
	if ! "$bin/replay_$t" $dirs; then
		echo "FAIL: replay_$t" >&2
		status=1
	fi
done
exit $status
