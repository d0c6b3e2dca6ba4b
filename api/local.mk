# api: chat-api, the FastCGI responder for /api/. Everything but main.c
# goes into a convenience library so the router's unit test links the
# same objects.
noinst_LTLIBRARIES += api/libchatapi.la
api_libchatapi_la_CFLAGS = $(AM_CFLAGS) $(CHAT_DEP_CFLAGS) $(FCGI_CFLAGS)
api_libchatapi_la_SOURCES = \
	api/api.h \
	api/router.c \
	api/request.c \
	api/response.c \
	api/ratelimit.c \
	api/fcgi_server.c \
	api/auth.c \
	api/rooms.c \
	api/members.c \
	api/messages.c \
	api/write_batch.c \
	api/page_cache.h \
	api/page_cache.c \
	api/reads.c \
	api/unread.c \
	api/health.c \
	api/root.c

bin_PROGRAMS += api/chat-api
api_chat_api_SOURCES = api/main.c
api_chat_api_CFLAGS = $(AM_CFLAGS) $(CHAT_DEP_CFLAGS) $(FCGI_CFLAGS)
api_chat_api_LDADD = api/libchatapi.la $(CHAT_LIBS) $(FCGI_LIBS)

# The HTTP API's reference (OpenAPI 3) and its guide with curl examples.
EXTRA_DIST +=
