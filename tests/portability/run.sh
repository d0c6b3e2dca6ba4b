#!/usr/bin/env bash
# Build and test the release tarball on another Debian release, as an
# administrator would: a fresh debootstrap chroot, the one `apt-get install`
# line docs/deploy.md gives for that release (no autotools), then
# `./configure --enable-werror && make && make check` from the tarball.
#
#   tests/portability/run.sh RELEASE [TARBALL]
#
# RELEASE is bullseye, bookworm or trixie. TARBALL defaults to the newest
# chat-*.tar.gz in the current directory (`make dist`). Run as root.
#
# Environment:
#   CHAT_PORTABILITY_DIR  work directory (default ./portability): the
#                         chroot lives in DIR/RELEASE while it runs, DIR/cache
#                         keeps the debootstrap base and downloaded packages
#                         between runs, DIR/RELEASE-results the logs.
#   CHAT_PORTABILITY_CHECK  "full" (default) runs make check; "unit" only the
#                         cmocka unit tests (what a short CI stage can afford);
#                         any other value is a TESTS list for make check
#                         (e.g. "tests/relay/test_replay_bounds.py").
#   CHAT_PORTABILITY_KEEP=1 leaves the chroot in place for inspection.
#   CHAT_PORTABILITY_JOBS  make -j (default: number of CPUs).
#
# The Debian mirror is the one this machine's apt already uses (read from
# /etc/apt/sources.list.d/ and /etc/apt/sources.list). The chroot runs in
# its own mount and PID namespaces: when it ends, every process started in
# it is gone and nothing stays mounted. Tests inside bind only loopback.
set -euo pipefail

PROG=tests/portability/run.sh
die() { printf '%s: %s\n' "$PROG" "$*" >&2; exit 1; }
say() { printf '==> %s\n' "$*"; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)

REL=${1:-}
case $REL in
bullseye) VER=11 ;;
bookworm) VER=12 ;;
trixie) VER=13 ;;
*) die "usage: $PROG bullseye|bookworm|trixie [TARBALL]" ;;
esac
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot)"
for t in debootstrap unshare chroot tar ip; do
	command -v "$t" >/dev/null 2>&1 || die "$t not found (apt-get install debootstrap util-linux iproute2)"
done

TARBALL=${2:-}
if [ -z "$TARBALL" ]; then
	TARBALL=$(ls -t chat-*.tar.gz 2>/dev/null | head -1) || true
	[ -n "$TARBALL" ] || die "no chat-*.tar.gz here: run make dist first or name the tarball"
fi
[ -f "$TARBALL" ] || die "$TARBALL: no such file"
TARBALL=$(cd "$(dirname "$TARBALL")" && pwd)/$(basename "$TARBALL")

# --- the package line: docs/deploy.md is the only list ----------------------

# The line follows a "# Debian VER (REL)" comment in a code block; backslash
# continuations are joined.
packages() {
	awk -v tag="# Debian $VER ($REL)" '
		found && /^apt-get install/ { line = $0; take = 1 }
		take {
			if (line != $0) line = line " " $0
			if ($0 !~ /\\$/) { print line; exit }
			next
		}
		$0 == tag { found = 1 }
	' "$TOP/docs/deploy.md" | sed 's/\\//g; s/^apt-get install//'
}
PKGS=$(packages)
[ -n "$PKGS" ] || die "docs/deploy.md has no '# Debian $VER ($REL)' apt-get install line"

# --- the mirror: whatever this machine's apt uses ----------------------------

# Prints "URI SUITES" per source (deb822 stanzas and one-line entries).
apt_sources() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '
			function flush() { if (uri != "" && deb) print uri, suites; uri = ""; suites = ""; deb = 0 }
			/^[ \t]*$/ { flush(); next }
			/^Types:/ { deb = ($0 ~ /[ \t]deb([ \t]|$)/) }
			/^URIs:/ { uri = $2 }
			/^Suites:/ { $1 = ""; suites = $0 }
			END { flush() }
		' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) while ($i !~ /\]$/) i++; if ($2 ~ /^\[/) i++; print $i, $(i+1) }' "$f"
	done
}
# The Debian archive: a source carrying a plain release suite (not
# -security, not -updates, not -backports); its security archive likewise.
MIRROR=$(apt_sources | awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^(buster|bullseye|bookworm|trixie|forky|sid|stable|testing)$/) { print $1; exit } }')
SECURITY=$(apt_sources | awk '{ for (i = 2; i <= NF; i++) if ($i ~ /-security$/) { print $1; exit } }')
[ -n "$MIRROR" ] || die "no Debian archive found in /etc/apt/sources.list{,.d}"

# --- work directories and cleanup --------------------------------------------

WORK=${CHAT_PORTABILITY_DIR:-$PWD/portability}
mkdir -p "$WORK/cache"
WORK=$(cd "$WORK" && pwd)
ROOT=$WORK/$REL
RESULTS=$WORK/$REL-results
BASE=$WORK/cache/$REL-base.tar
DEBS=$WORK/cache/$REL-debs
JOBS=${CHAT_PORTABILITY_JOBS:-$(nproc)}
CHECK=${CHAT_PORTABILITY_CHECK:-full}
case $CHECK in
*[!A-Za-z0-9_./\ -]*) die "CHAT_PORTABILITY_CHECK: full, unit or a list of test paths" ;;
esac

exec 8>"$WORK/.$REL.lock"
flock -n 8 || die "another run for $REL is using $WORK"

NS_PID=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	# The namespace's first process: killing it ends every process of the
	# run and drops its mounts.
	if [ -n "$NS_PID" ] && kill -0 "$NS_PID" 2>/dev/null; then
		kill -TERM "$NS_PID" 2>/dev/null || true
		wait "$NS_PID" 2>/dev/null || true
	fi
	if [ -z "${CHAT_PORTABILITY_KEEP:-}" ] && [ -d "$ROOT" ]; then
		if grep -q " $ROOT/" /proc/self/mounts; then
			echo "$PROG: something is still mounted under $ROOT; not removing it" >&2
		else
			rm -rf --one-file-system "$ROOT"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the chroot ---------------------------------------------------------------

rm -rf --one-file-system "$ROOT" "$RESULTS"
mkdir -p "$ROOT" "$RESULTS" "$DEBS"
start=$(date +%s)
if [ -f "$BASE" ]; then
	say "$REL: base system from $BASE"
	tar -C "$ROOT" -xf "$BASE"
else
	say "$REL: debootstrap from $MIRROR (cached afterwards in $BASE)"
	nice debootstrap --variant=minbase "$REL" "$ROOT" "$MIRROR" >"$RESULTS/debootstrap.log" 2>&1 ||
		{ tail -20 "$RESULTS/debootstrap.log" >&2; die "debootstrap failed"; }
	rm -f "$ROOT"/var/cache/apt/archives/*.deb
	tar -C "$ROOT" -cf "$BASE.tmp" . && mv "$BASE.tmp" "$BASE"
fi

{
	echo "deb $MIRROR $REL main"
	echo "deb $MIRROR $REL-updates main"
	[ -z "$SECURITY" ] || echo "deb $SECURITY $REL-security main"
} >"$ROOT/etc/apt/sources.list"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mkdir -p "$ROOT/build"
cp "$TARBALL" "$ROOT/build/"

# What runs inside: the packages (with the network), then the
# administrator's steps (without: loopback only).
ENV='export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
cat >"$ROOT/build/install.sh" <<EOF
#!/bin/sh
set -e
$ENV
cd /build
echo "==> $REL: apt-get install$PKGS"
apt-get update -q >apt.log 2>&1 || { tail -20 apt.log; exit 1; }
if ! apt-get install -y -q$PKGS >>apt.log 2>&1; then
	# A mirror may lack some of an old release's security updates: then the
	# release as published, with its point-release updates.
	grep -q '^E: Failed to fetch' apt.log || { tail -30 apt.log; exit 1; }
	echo "==> $REL: the security archive is incomplete on this mirror; without it"
	sed -i '/-security/d' /etc/apt/sources.list
	apt-get update -q >>apt.log 2>&1 || { tail -20 apt.log; exit 1; }
	apt-get install -y -q$PKGS >>apt.log 2>&1 || { tail -30 apt.log; exit 1; }
fi
for t in autoconf automake libtoolize aclocal; do
	if command -v \$t >/dev/null 2>&1; then echo "\$t is installed: the test must run without autotools"; exit 1; fi
done
dpkg-query -W -f '\${Package} \${Version}\n' gcc libwebsockets-dev libjwt-dev libjson-c-dev \
	libjansson-dev libmariadb-dev mariadb-server python3 python3-websockets 2>/dev/null >versions.txt || true
EOF
cat >"$ROOT/build/build.sh" <<EOF
#!/bin/sh
set -e
$ENV
cd /build
tar xf $(basename "$TARBALL")
cd $(basename "$TARBALL" .tar.gz)
echo "==> $REL: ./configure --enable-werror"
./configure --enable-werror >/build/configure.log 2>&1 || { tail -30 /build/configure.log; exit 1; }
echo "==> $REL: make -j$JOBS"
nice make -j$JOBS >/build/make.log 2>&1 || { grep -E 'error|Error' /build/make.log | head -30; exit 1; }
if [ "$CHECK" = unit ]; then
	echo "==> $REL: make check (unit tests)"
	nice make -j$JOBS check TESTS='\$(UNIT_TESTS) \$(FUZZ_TARGETS)' >/build/check.log 2>&1 || st=\$?
elif [ "$CHECK" = full ]; then
	echo "==> $REL: make check"
	nice make -j$JOBS check >/build/check.log 2>&1 || st=\$?
else
	echo "==> $REL: make check TESTS='$CHECK'"
	nice make -j$JOBS check TESTS='$CHECK' >/build/check.log 2>&1 || st=\$?
fi
cp test-suite.log /build/ 2>/dev/null || true
exit \${st:-0}
EOF
chmod +x "$ROOT/build/install.sh" "$ROOT/build/build.sh"

# The namespace: private mounts (a fresh /dev, /proc, /dev/pts, /dev/shm,
# the package cache), a PID namespace, then chroot and run $3.
cat >"$ROOT/build/enter.sh" <<'EOF'
#!/bin/sh
set -e
R=$1 DEBS=$2 CMD=$3
mount -t proc proc "$R/proc"
mount -t tmpfs -o mode=755,size=64k dev "$R/dev"
for d in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
	n=${d%%:*} m=${d#*:}
	mknod -m 666 "$R/dev/$n" c "${m%%:*}" "${m#*:}"
done
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
ln -s /proc/self/fd "$R/dev/fd"
mount -t tmpfs -o mode=1777 shm "$R/dev/shm"
mount -t tmpfs -o mode=1777 tmp "$R/tmp"
mount --bind "$DEBS" "$R/var/cache/apt/archives"
exec chroot "$R" "$CMD"
EOF
chmod +x "$ROOT/build/enter.sh"

say "$REL: packages from docs/deploy.md:$PKGS"
# in_namespace [unshare options] PROGRAM ARGS...: in new mount and PID
# namespaces (killing NS_PID ends everything in them).
in_namespace() {
	local st=0
	unshare --mount --propagation private --pid --fork --kill-child "$@" \
		> >(tee -a "$RESULTS/run.log") 2>&1 &
	NS_PID=$!
	wait "$NS_PID" || st=$?
	NS_PID=
	return "$st"
}
st=0
in_namespace "$ROOT/build/enter.sh" "$ROOT" "$DEBS" /build/install.sh || st=$?
# The build and the tests: a network namespace with only loopback up (no
# route out, no DNS) and a host name of its own.
[ "$st" != 0 ] || in_namespace --net --uts /bin/sh -c \
	'ip link set lo up && hostname chat-portability && exec "$0" "$@"' \
	"$ROOT/build/enter.sh" "$ROOT" "$DEBS" /build/build.sh || st=$?

# Results: the logs of the run and of each failed test.
for f in apt.log versions.txt configure.log make.log check.log test-suite.log; do
	[ -f "$ROOT/build/$f" ] && cp "$ROOT/build/$f" "$RESULTS/"
done
src=$ROOT/build/$(basename "$TARBALL" .tar.gz)
if [ -d "$src" ]; then
	(cd "$src" && grep -rlE '^:test-result: (FAIL|ERROR)' --include='*.trs' . 2>/dev/null || true) |
		while read -r trs; do
			mkdir -p "$RESULTS/$(dirname "$trs")"
			cp "$src/${trs%.trs}.log" "$RESULTS/${trs%.trs}.log" 2>/dev/null || true
		done
fi

count() { sed -n "s/^# $1: *//p" "$RESULTS/test-suite.log" 2>/dev/null | head -1; }
echo
echo "=== Debian $VER ($REL): $(( $(date +%s) - start )) s, check=$CHECK"
[ -f "$RESULTS/versions.txt" ] && sed 's/^/    /' "$RESULTS/versions.txt"
if [ -f "$RESULTS/test-suite.log" ]; then
	echo "    tests: $(count TOTAL) total, $(count PASS) pass, $(count SKIP) skip, $(count XFAIL) xfail," \
		"$(count FAIL) fail, $(count ERROR) error"
	grep -E '^(FAIL|ERROR): ' "$RESULTS/test-suite.log" | sed 's/^/    /' || true
fi
echo "    logs: $RESULTS"
[ "$st" = 0 ] && echo "    result: PASS" || echo "    result: FAIL (exit $st)"
exit "$st"
