#!/bin/sh
# End-to-end in a browser: headless Debian chromium, driven by playwright-core
# (installed with axe-core from package-lock.json into the build tree with
# npm ci), uses the web client through lighttpd against a stack seeded with
# 300 rooms: users find, join and manage rooms, chat, edit and delete; the
# network stalls and the relay restarts; keyboard use, a phone layout and
# axe-core (no serious or critical finding) are checked; the session is
# shared by tabs. Screenshots (desktop 1280x800, phone 390x844) are left in
# test-artifacts/ of the build tree; see docs/web-client.md.
#
# Skipped (77) when node, npm or chromium are missing, when npm cannot reach
# the registry, or when CHAT_E2E_SKIP_BROWSER or CHAT_TEST_QUICK is set.
set -eu
. "$top_srcdir/tests/e2e/e2e.sh"

[ -z "${CHAT_E2E_SKIP_BROWSER:-}" ] || e2e_skip "CHAT_E2E_SKIP_BROWSER is set"
[ -z "${CHAT_TEST_QUICK:-}" ] || e2e_skip "CHAT_TEST_QUICK is set"
NODE=$(command -v node) || e2e_skip "node is not installed (apt-get install nodejs npm)"
NPM=$(command -v npm) || e2e_skip "npm is not installed (apt-get install npm)"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || e2e_skip "$CHROMIUM is not installed (apt-get install chromium)"
major=$("$NODE" -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || e2e_skip "playwright-core needs node >= 20 (found $("$NODE" --version))"

# playwright-core and axe-core, exactly as locked, into the build tree (the source tree
# may be read-only). Reinstalled only when the lockfile changes.
npmdir="$top_builddir/tests/e2e/npm"
mkdir -p "$npmdir"
if ! cmp -s "$top_srcdir/tests/e2e/package-lock.json" "$npmdir/package-lock.json" ||
	[ ! -f "$npmdir/node_modules/playwright-core/package.json" ]; then
	cat "$top_srcdir/tests/e2e/package.json" >"$npmdir/package.json"
	cat "$top_srcdir/tests/e2e/package-lock.json" >"$npmdir/package-lock.json"
	if ! (cd "$npmdir" && "$NPM" ci --no-audit --no-fund --prefer-offline) >"$npmdir/npm.log" 2>&1; then
		cat "$npmdir/npm.log" >&2
		rm -f "$npmdir/package-lock.json"
		e2e_skip "npm ci could not install playwright-core and axe-core (registry unreachable?)"
	fi
fi

E2E_NPM_DIR=$npmdir CHROMIUM=$CHROMIUM
export E2E_NPM_DIR CHROMIUM
# Access tokens live 10 s here, so the page has to renew them with its
# refresh token during the test.
e2e_run_stack --server lighttpd \
	--set auth.access_token_lifetime=10 --set auth.jwt_leeway=0 \
	--exec "$NODE" "$top_srcdir/tests/e2e/browser.test.mjs"
