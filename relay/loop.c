/* The event loop under libwebsockets (relay.event_loop).
 *
 * libwebsockets' own loop calls poll() over every descriptor on every
 * wake-up: with tens of thousands of connections that is most of the
 * work. With libev (epoll) a wake-up costs what is ready. The relay makes
 * the libev loop itself and hands it to libwebsockets as a "foreign" loop,
 * so that the relay, not libwebsockets, runs it: one iteration at a time,
 * checking its signal flags and its stop flag in between, as it does
 * between lws_service() calls on poll(). (libwebsockets' internal libev
 * loop runs until something breaks it, 4.0 to 4.3, and 4.3 never ends it
 * on lws_context_destroy() from inside a callback; a foreign loop is
 * ended by its owner and destroyed after the context.)
 *
 * libwebsockets 4.1+ has libev as a plugin (Debian: libwebsockets-evlib-ev);
 * 4.0 has it built in. Where it is missing the context cannot be created
 * with LWS_SERVER_OPTION_LIBEV, and the relay falls back to poll(). */
#include "config.h"

#include <string.h>

#ifdef HAVE_LIBEV
#include <ev.h>
#endif

#include "chat_log.h"
#include "relay.h"

#ifdef HAVE_LIBEV
static struct ev_loop *ev;
static void *foreign[1];

static const char *backend_name(struct ev_loop *l)
{
	switch (ev_backend(l)) {
	case EVBACKEND_EPOLL: return "epoll";
	case EVBACKEND_POLL: return "poll";
	case EVBACKEND_SELECT: return "select";
	default: return "other";
	}
}
#endif

struct lws_context *relay_loop_create(struct lws_context_creation_info *info, const char *want)
{
	bool poll_only = want && !strcmp(want, "poll");
	bool insist = want && !strcmp(want, "libev");
	struct lws_context *ctx = NULL;
	/* auto is poll(): on the libev loop libwebsockets' per-connection
	 * timers (lws_set_timer_usecs) were seen to fire late, and a draining
	 * close lost its close frame (docs/relay.md). */
	if (!insist)
		poll_only = true;
#ifdef HAVE_LIBEV
	if (!poll_only) {
		ev = ev_loop_new(EVFLAG_AUTO);
		if (ev) {
			foreign[0] = ev;
			info->options |= LWS_SERVER_OPTION_LIBEV;
			info->foreign_loops = foreign;
			ctx = lws_create_context(info);
			info->options &= ~(uint64_t)LWS_SERVER_OPTION_LIBEV;
			info->foreign_loops = NULL;
			if (ctx) {
				chat_log_info("event loop: libev (%s)", backend_name(ev));
				return ctx;
			}
			ev_loop_destroy(ev);
			ev = NULL;
		}
		if (insist)
			chat_log_warn("relay.event_loop = libev, but libwebsockets cannot use libev "
			              "(package libwebsockets-evlib-ev): using poll()");
		else
			chat_log_info("libwebsockets cannot use libev (package "
			              "libwebsockets-evlib-ev): event loop poll()");
	}
#else
	if (!poll_only)
		chat_log(insist ? CHAT_LOG_WARNING : CHAT_LOG_INFO,
		         "this relay was built without libev (libev-dev): event loop poll()");
#endif
	ctx = lws_create_context(info);
	if (ctx && poll_only)
		chat_log_info("event loop: poll()");
	return ctx;
}

void relay_loop_run(struct lws_context *ctx, bool (*keep_going)(void))
{
#ifdef HAVE_LIBEV
	if (ev) {
		/* One iteration: returns after the ready watchers ran, or when
		 * a signal interrupted the wait. */
		while (keep_going())
			ev_run(ev, EVRUN_ONCE);
		return;
	}
#endif
	while (keep_going())
		if (lws_service(ctx, 0) < 0)
			break;
}

void relay_loop_free(void)
{
#ifdef HAVE_LIBEV
	if (ev)
		ev_loop_destroy(ev);
	ev = NULL;
#endif
}
