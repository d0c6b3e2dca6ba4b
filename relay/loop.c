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
static struct lws_context *ev_ctx;
static ev_timer nudge;

/* libwebsockets keeps its timers in one sorted list and wakes for the
 * first through one ev_timer. A timer set from an I/O callback is sorted
 * in, but that ev_timer is only re-armed with ev_timer_start(), which
 * does nothing to a timer already running: a 20 ms timer set while the
 * ev_timer waits for the relay's 1 s tick fires at the tick. (A draining
 * close then waited a second per look and ran into its flush timeout
 * without its close frame.) So the relay keeps an ev_timer of its own
 * for the earliest short timer it set, and when it fires wakes the loop
 * through libwebsockets' own event pipe: libwebsockets then runs every
 * timer that is due. */
static void nudge_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	if (ev_ctx)
		lws_cancel_service(ev_ctx);
}

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
				ev_ctx = ctx;
				ev_init(&nudge, nudge_cb);
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
		/* nothing to nudge once the context is being destroyed */
		ev_timer_stop(ev, &nudge);
		ev_ctx = NULL;
		return;
	}
#endif
	while (keep_going())
		if (lws_service(ctx, 0) < 0)
			break;
}

void relay_loop_set_timer(struct lws *wsi, int64_t us)
{
	lws_set_timer_usecs(wsi, us);
#ifdef HAVE_LIBEV
	if (!ev || !ev_ctx)
		return;
	ev_tstamp at = ev_now(ev) + (ev_tstamp)us / 1e6;
	if (ev_is_active(&nudge) && ev_now(ev) + ev_timer_remaining(ev, &nudge) <= at)
		return; /* an earlier nudge covers it */
	ev_timer_stop(ev, &nudge);
	ev_timer_set(&nudge, (ev_tstamp)us / 1e6, 0.);
	ev_timer_start(ev, &nudge);
#endif
}

void relay_loop_free(void)
{
#ifdef HAVE_LIBEV
	if (ev) {
		ev_timer_stop(ev, &nudge);
		ev_loop_destroy(ev);
	}
	ev = NULL;
	ev_ctx = NULL;
#endif
}
