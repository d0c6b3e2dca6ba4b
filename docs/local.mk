# docs/: installed to $(docdir). Each area lists its own documents in its
# fragment for the tarball; the ones an operator reads are installed here.
dist_doc_DATA += docs/HACKING.md docs/configuration.md docs/api.md docs/openapi.yaml \
	docs/protocol.md docs/relay.md docs/security.md docs/web-client.md

# Man pages, made from Markdown by docs/man/mkman (sh and awk): chat.conf(5)
# from docs/configuration.md itself, the programs' pages from
# docs/man/*.8.md. The pages are in the tarball, so building from it runs
# no generator; docs/man/check.sh (make check) fails when a program's
# --help names an option or command its page does not.
dist_man_MANS = docs/man/chat-api.8 docs/man/chat-relay.8 docs/man/chatctl.8 docs/man/chat.conf.5
man_sources = docs/man/chat-api.8.md docs/man/chat-relay.8.md docs/man/chatctl.8.md
EXTRA_DIST += docs/man/mkman $(man_sources)
mkman = $(AM_V_GEN)$(MKDIR_P) $(@D) && $(SHELL) $(top_srcdir)/docs/man/mkman
mkman_deps = $(top_srcdir)/docs/man/mkman

docs/man/chat.conf.5: $(top_srcdir)/docs/configuration.md $(mkman_deps)
	$(mkman) chat.conf 5 'configuration of chat-api and chat-relay' '$(PACKAGE_VERSION)' \
		<$(top_srcdir)/docs/configuration.md >$@.tmp && mv -f $@.tmp $@
docs/man/chat-api.8: $(top_srcdir)/docs/man/chat-api.8.md $(mkman_deps)
	$(mkman) chat-api 8 'the chat HTTP API, a FastCGI responder' '$(PACKAGE_VERSION)' \
		<$(top_srcdir)/docs/man/chat-api.8.md >$@.tmp && mv -f $@.tmp $@
docs/man/chat-relay.8: $(top_srcdir)/docs/man/chat-relay.8.md $(mkman_deps)
	$(mkman) chat-relay 8 'the chat WebSocket relay' '$(PACKAGE_VERSION)' \
		<$(top_srcdir)/docs/man/chat-relay.8.md >$@.tmp && mv -f $@.tmp $@
docs/man/chatctl.8: $(top_srcdir)/docs/man/chatctl.8.md $(mkman_deps)
	$(mkman) chatctl 8 'administer the chat database: migrations, users, rooms, tokens' \
		'$(PACKAGE_VERSION)' <$(top_srcdir)/docs/man/chatctl.8.md >$@.tmp && mv -f $@.tmp $@

TESTS += docs/man/check.sh
EXTRA_DIST += docs/man/check.sh
