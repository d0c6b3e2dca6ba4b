# deploy: build fragment, included by the top-level Makefile.am
#
# Web server, systemd and logrotate configs are templates (*.in) rendered by
# deploy/render with the configured install paths; `make install` puts them
# under $(pkgdatadir)/deploy/, the web client under $(pkgdatadir)/www, and
# the sample chat.conf under $(pkgdatadir)/deploy/ and, when none exists yet,
# as $(sysconfdir)/chat/chat.conf.

deploy_templates = \
	deploy/lighttpd/chat.conf.in \
	deploy/apache/chat-proxy-fcgi.conf.in \
	deploy/apache/chat-fcgid.conf.in \
	deploy/nginx/chat.conf.in \
	deploy/systemd/chat-relay.service.in \
	deploy/systemd/chat-relay@.service.in \
	deploy/systemd/chat-api.socket.in \
	deploy/systemd/chat-api.service.in \
	deploy/logrotate/chat.in

EXTRA_DIST += $(deploy_templates) deploy/render deploy/quickstart deploy/chat.conf docs/screenshot.png
dist_doc_DATA += docs/deploy.md

deploy_render = $(SHELL) $(top_srcdir)/deploy/render
deploy_render_vars = \
	CHAT_API='$(bindir)/chat-api' \
	CHAT_RELAY='$(bindir)/chat-relay' \
	CHAT_CONF='$(sysconfdir)/chat/chat.conf' \
	WWW_DIR='$(pkgdatadir)/www' \
	API_SOCKET_DIR='$(runstatedir)/chat' \
	LIGHTTPD_SOCKET_DIR='$(runstatedir)/lighttpd' \
	LOG_DIR='$(localstatedir)/log/chat' \
	DOC_DIR='$(docdir)' \
	HTTP_LISTEN='0.0.0.0:8000' \
	HTTP_PORT='8000' \
	RELAY_HOST='127.0.0.1' \
	RELAY_PORT='8001'
# One rule for every rendered file: its template is the same path + ".in".
deploy_do_render = $(AM_V_GEN)$(MKDIR_P) $(@D) && \
	$(deploy_render) $(top_srcdir)/$@.in $(deploy_render_vars) >$@.tmp && mv -f $@.tmp $@
deploy_render_deps = $(top_srcdir)/deploy/render Makefile

deploy/lighttpd/chat.conf: $(top_srcdir)/deploy/lighttpd/chat.conf.in $(deploy_render_deps)
	$(deploy_do_render)
deploy/apache/chat-proxy-fcgi.conf: $(top_srcdir)/deploy/apache/chat-proxy-fcgi.conf.in $(deploy_render_deps)
	$(deploy_do_render)
deploy/apache/chat-fcgid.conf: $(top_srcdir)/deploy/apache/chat-fcgid.conf.in $(deploy_render_deps)
	$(deploy_do_render)
deploy/nginx/chat.conf: $(top_srcdir)/deploy/nginx/chat.conf.in $(deploy_render_deps)
	$(deploy_do_render)
deploy/systemd/chat-relay.service: $(top_srcdir)/deploy/systemd/chat-relay.service.in $(deploy_render_deps)
	$(deploy_do_render)
deploy/systemd/chat-relay@.service: $(top_srcdir)/deploy/systemd/chat-relay@.service.in $(deploy_render_deps)
	$(deploy_do_render)
deploy/systemd/chat-api.socket: $(top_srcdir)/deploy/systemd/chat-api.socket.in $(deploy_render_deps)
	$(deploy_do_render)
deploy/systemd/chat-api.service: $(top_srcdir)/deploy/systemd/chat-api.service.in $(deploy_render_deps)
	$(deploy_do_render)
deploy/logrotate/chat: $(top_srcdir)/deploy/logrotate/chat.in $(deploy_render_deps)
	$(deploy_do_render)

deploydir = $(pkgdatadir)/deploy
dist_deploy_DATA = deploy/chat.conf

deploylighttpddir = $(deploydir)/lighttpd
nodist_deploylighttpd_DATA = deploy/lighttpd/chat.conf

deployapachedir = $(deploydir)/apache
nodist_deployapache_DATA = deploy/apache/chat-proxy-fcgi.conf deploy/apache/chat-fcgid.conf

deploynginxdir = $(deploydir)/nginx
nodist_deploynginx_DATA = deploy/nginx/chat.conf

deploysystemddir = $(deploydir)/systemd
nodist_deploysystemd_DATA = \
	deploy/systemd/chat-relay.service \
	deploy/systemd/chat-relay@.service \
	deploy/systemd/chat-api.socket \
	deploy/systemd/chat-api.service
dist_deploysystemd_DATA = deploy/systemd/chat-relay.target deploy/systemd/chat.sysusers

deploylogrotatedir = $(deploydir)/logrotate
nodist_deploylogrotate_DATA = deploy/logrotate/chat

wwwdir = $(pkgdatadir)/www
dist_www_DATA = deploy/www/index.html deploy/www/style.css deploy/www/favicon.svg \
	deploy/www/app.js deploy/www/rooms.js deploy/www/messages.js deploy/www/compose.js \
	deploy/www/connection.js deploy/www/session.js deploy/www/state.js deploy/www/util.js

CLEANFILES += \
	$(nodist_deploylighttpd_DATA) $(nodist_deployapache_DATA) \
	$(nodist_deploynginx_DATA) $(nodist_deploysystemd_DATA) \
	$(nodist_deploylogrotate_DATA)

# The configuration file is the operator's: install the sample only where
# there is none, and on uninstall remove it only if it is still the sample.
chat_conf_dest = $(DESTDIR)$(sysconfdir)/chat/chat.conf
install-data-hook: deploy-install-conf
deploy-install-conf:
	@if test -f "$(chat_conf_dest)"; then \
		echo "keeping the existing $(sysconfdir)/chat/chat.conf"; \
	else \
		$(MKDIR_P) "$(DESTDIR)$(sysconfdir)/chat" && \
		echo " $(INSTALL_DATA) -m 0640 deploy/chat.conf '$(chat_conf_dest)'" && \
		$(INSTALL_DATA) -m 0640 $(srcdir)/deploy/chat.conf "$(chat_conf_dest)"; \
	fi
uninstall-hook: deploy-uninstall-conf
deploy-uninstall-conf:
	@if test -f "$(chat_conf_dest)" && cmp -s $(srcdir)/deploy/chat.conf "$(chat_conf_dest)"; then \
		echo " rm -f '$(chat_conf_dest)'"; rm -f "$(chat_conf_dest)"; \
		rmdir "$(DESTDIR)$(sysconfdir)/chat" 2>/dev/null || :; \
	fi
.PHONY: deploy-install-conf deploy-uninstall-conf
