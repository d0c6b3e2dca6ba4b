# shared/ pure modules (config, log, JWT, passwords, JSON, validation, notify)
shared_libchat_la_SOURCES += \
	shared/chat_file.h shared/chat_file.c \
	shared/chat_addr.h shared/chat_addr.c \
	shared/chat_config.c \
	shared/chat_dbhosts.h shared/chat_dbhosts.c \
	shared/chat_log.c \
	shared/chat_password.c \
	shared/chat_utf8.c \
	shared/chat_validate.c \
	shared/chat_json.c \
	shared/chat_jwt.c \
	shared/chat_notify.c

# The annotated sample configuration and the configuration reference.
EXTRA_DIST += deploy/chat.conf
