# schema: versioned SQL migrations, installed to $(pkgdatadir)/schema, and
# chatctl, the administration tool that applies them (and creates users,
# rooms, tokens...).
schemadir = $(pkgdatadir)/schema
dist_schema_DATA = schema/001_initial.sql schema/002_unread_counters.sql \
	schema/003_client_id_per_room.sql \
	schema/004_revoked_tokens.sql \
	schema/005_lean_triggers.sql \
	schema/006_writer_counts.sql \
	schema/007_presence_probe.sql \
	schema/008_presence_writer.sql \
	schema/009_presence_close.sql

bin_PROGRAMS += schema/chatctl
schema_chatctl_SOURCES = schema/chatctl.c
schema_chatctl_CFLAGS = $(AM_CFLAGS) $(CHAT_DEP_CFLAGS)
schema_chatctl_LDADD = $(CHAT_LIBS)

dist_doc_DATA += docs/schema.md
