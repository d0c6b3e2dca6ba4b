# shared/ database side (connection, queries, migrations, outbox follower)
shared_libchat_la_SOURCES += \
	shared/db_internal.h shared/chat_db.c shared/chat_time.c shared/chat_migrate.c \
	shared/dal_schema.c shared/dal_users.c shared/dal_rooms.c shared/dal_members.c \
	shared/dal_messages.c shared/dal_reads.c shared/dal_events.c shared/dal_presence.c shared/dal_connect.c \
	shared/dal_tokens.c \
	shared/chat_outbox.c shared/chat_follow.h shared/chat_follow.c
