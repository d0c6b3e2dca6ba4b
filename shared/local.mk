# shared/: libchat, the library both programs link. core.mk holds the pure
# modules (config, log, JWT, passwords, JSON, validation, notify), dal.mk the
# database side (connection, every query, migrations, outbox follower).
noinst_LTLIBRARIES += shared/libchat.la
shared_libchat_la_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(JWT_CFLAGS) $(SODIUM_CFLAGS) \
	$(INIH_CFLAGS) $(MARIADB_CFLAGS)
shared_libchat_la_LIBADD = $(JWT_FIRST_LIBS) $(JSONC_LIBS) $(JWT_LIBS) $(SODIUM_LIBS) $(INIH_LIBS) \
	$(MARIADB_LIBS) $(PTHREAD_LIBS)
shared_libchat_la_SOURCES = \
	shared/chat_error.h shared/chat_types.h shared/chat_config.h shared/chat_log.h \
	shared/chat_db.h shared/chat_dal.h shared/chat_jwt.h shared/chat_password.h \
	shared/chat_json.h shared/chat_notify.h shared/chat_utf8.h shared/chat_validate.h \
	shared/chat_outbox.h shared/chat_time.h shared/chat_migrate.h \
	shared/chat_types.c

# What a program linking libchat needs on its own command line.
# JWT_FIRST_LIBS: libjansson ahead of json-c where libjwt needs it (configure).
CHAT_LIBS = shared/libchat.la $(JWT_FIRST_LIBS) $(JSONC_LIBS) $(JWT_LIBS) $(SODIUM_LIBS) $(INIH_LIBS) \
	$(MARIADB_LIBS) $(PTHREAD_LIBS)
CHAT_DEP_CFLAGS = $(JSONC_CFLAGS) $(JWT_CFLAGS) $(MARIADB_CFLAGS)
