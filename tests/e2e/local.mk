# tests/e2e: build fragment, included by the top-level Makefile.am
#
# End-to-end tests: the whole stack from the build tree (own MariaDB via
# tests/harness/mariadb.sh, chat-relay, and a private web server configured
# from the templates in deploy/) on free ports. stack.py starts it and runs
# the HTTP + WebSocket checks; browser.test.mjs drives the web client in
# headless chromium. seed_client.py and seed_client.js are the protocol
# document's example clients, verbatim (the tests replace only the URL and
# the token).
TESTS += \
	tests/e2e/configs.sh \
	tests/e2e/lighttpd.sh \
	tests/e2e/apache-proxy-fcgi.sh \
	tests/e2e/apache-fcgid.sh \
	tests/e2e/nginx.sh \
	tests/e2e/quickstart.sh \
	tests/e2e/abuse-lighttpd.sh \
	tests/e2e/abuse-nginx.sh \
	tests/e2e/abuse-apache-proxy-fcgi.sh \
	tests/e2e/abuse-apache-fcgid.sh \
	tests/e2e/abuse-quickstart.sh \
	tests/e2e/browser.sh

EXTRA_DIST += \
	tests/e2e/e2e.sh \
	tests/e2e/stack.py \
	tests/e2e/configs.sh \
	tests/e2e/lighttpd.sh \
	tests/e2e/apache-proxy-fcgi.sh \
	tests/e2e/apache-fcgid.sh \
	tests/e2e/nginx.sh \
	tests/e2e/quickstart.sh \
	tests/e2e/browser.sh \
	tests/e2e/abuse.py \
	tests/e2e/abuse-lighttpd.sh \
	tests/e2e/abuse-nginx.sh \
	tests/e2e/abuse-apache-proxy-fcgi.sh \
	tests/e2e/abuse-apache-fcgid.sh \
	tests/e2e/abuse-quickstart.sh \
	tests/e2e/browser.test.mjs \
	tests/e2e/seed_client.py \
	tests/e2e/seed_client.js \
	tests/e2e/package.json \
	tests/e2e/package-lock.json

# npm ci's work area and the screenshots.
clean-local: e2e-clean-local
e2e-clean-local:
	-rm -rf tests/e2e/npm test-artifacts tests/tmp/e2e-*
.PHONY: e2e-clean-local
