#!/bin/sh
# Where jansson's symbols are not versioned (Debian 11), configure links
# libjansson ahead of json-c so that libjwt's calls reach jansson; our own
# calls of the names both libraries export would then reach jansson too.
# So the programs that link libjwt must not import them.
set -u
top_builddir=${top_builddir:-.}
command -v nm >/dev/null 2>&1 || { echo "SKIP: nm not found (binutils)"; exit 77; }
fail=0
for p in api/chat-api relay/chat-relay schema/chatctl; do
	bin=$top_builddir/$p
	[ -x "$bin" ] || { echo "SKIP: $p not built"; exit 77; }
	for s in json_object_get json_object_iter_next; do
		if nm -D --undefined-only "$bin" | grep -qw "$s"; then
			echo "FAIL: $p calls $s, which may resolve to jansson's (docs/HACKING.md)"
			fail=1
		fi
	done
done
[ "$fail" = 0 ] && echo "PASS: no program linking libjwt calls json_object_get or json_object_iter_next"
exit "$fail"
