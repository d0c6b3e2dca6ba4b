#!/bin/sh
# Every option (and chatctl command) a program's --help names is on its man
# page source, so the two cannot drift apart unnoticed.
set -u
top_srcdir=${top_srcdir:-.} top_builddir=${top_builddir:-.}
fail=0
check() { # PROGRAM PAGE.md
	prog=$1 page=$top_srcdir/docs/man/$2
	[ -x "$prog" ] || { echo "SKIP: $prog not built"; exit 77; }
	# The usage part only: the configuration keys follow as "  sec.key (CHAT_...".
	for w in $("$prog" --help 2>&1 | grep -v '^  [a-z_]*\.[a-z_]* (CHAT_' |
		grep -o -e '--[a-z][a-z-]*' | sort -u); do
		grep -q -e "$w" "$page" || { echo "FAIL: $2 lacks $w (in $(basename "$prog") --help)"; fail=1; }
	done
}
check "$top_builddir/api/chat-api" chat-api.8.md
check "$top_builddir/relay/chat-relay" chat-relay.8.md
check "$top_builddir/schema/chatctl" chatctl.8.md
# chatctl's commands: the indented words under "commands:".
for c in $("$top_builddir/schema/chatctl" --help 2>&1 |
	sed -n '/^commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'); do
	grep -q -e "\`$c" "$top_srcdir/docs/man/chatctl.8.md" ||
		{ echo "FAIL: chatctl.8.md lacks the command $c"; fail=1; }
done
[ "$fail" = 0 ] && echo "PASS: every option and command is on its man page"
exit "$fail"
