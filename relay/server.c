/* One relay process: the libwebsockets context, the service loop, the
 * once-a-second tick (keep-alive sweep, typing expiry, heartbeats,
 * shutdown progress) and the graceful shutdown. */
#include "config.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chat_db.h"
#include "chat_log.h"
#include "chat_notify.h"
#include "chat_time.h"
#include "relay.h"

relay *relay_g;

enum { SD_NONE = 0, SD_DRAIN_WRITES, SD_FLUSH_EVENTS, SD_CLOSING, SD_UNREGISTER };

#define SHUTDOWN_STEP_MS 5000
#define TRIM_AFTER_BYTES (4u << 20)
#define TRIM_EVERY_MS 5000
#define RELAY_MMAP_THRESHOLD (64 * 1024)

int64_t relay_now_ms(void)
{
	return chat_time_mono_ms();
}

static void lws_log_emit(int level, const char *line)
{
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	chat_log(level == LLL_ERR ? CHAT_LOG_ERROR : CHAT_LOG_WARNING, "lws: %.*s", (int)n, line);
}

/* rx_buffer_size: libwebsockets gives every connection a receive buffer of
 * this size (0: 4 KiB, the largest part of an idle connection's memory);
 * session.c reassembles messages from pieces of this size. 128 holds any
 * control frame (125 bytes at most). tx_packet_size: without it, each
 * write is cut at rx_buffer_size and the rest copied aside for later. */
static const struct lws_protocols protocols[] = {
	{ "chat", relay_session_callback, sizeof(relay_session), RELAY_RX_BUFFER, 0, NULL,
	  RELAY_TX_PACKET },
	{ "chat-listener", relay_listener_callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static void begin_shutdown(relay *r)
{
	chat_log_info("shutting down: closing connections");
	r->shutting_down = true;
	r->shutdown_phase = SD_DRAIN_WRITES;
	r->shutdown_deadline_ms = relay_now_ms() + SHUTDOWN_STEP_MS;
	if (r->listen_wsi)
		lws_set_timeout(r->listen_wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	if (r->metrics_wsi)
		lws_set_timeout(r->metrics_wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	/* Stop reading: no new messages; those already queued are stored and
	 * acknowledged before the connections close. */
	relay_session_pause_all();
}

static void shutdown_step(relay *r)
{
	int64_t now = relay_now_ms();
	bool late = now >= r->shutdown_deadline_ms;
	switch (r->shutdown_phase) {
	case SD_DRAIN_WRITES:
		if (r->pending_inserts && !late)
			return;
		if (r->pending_inserts)
			chat_log_warn("shutdown: %zu message(s) still unacknowledged",
			              r->pending_inserts);
		/* Let the follower deliver what was just stored, so the senders
		 * see their messages before the close. */
		relay_follower_kick();
		r->shutdown_cycles = relay_follower_cycles();
		r->shutdown_phase = SD_FLUSH_EVENTS;
		r->shutdown_deadline_ms = now + 1000;
		return;
	case SD_FLUSH_EVENTS:
		if ((relay_follower_cycles() < r->shutdown_cycles + 2 ||
		     atomic_load(&relay_events_in_flight) > 0) && !late)
			return;
		relay_session_close_all(1001, "relay shutting down");
		r->shutdown_phase = SD_CLOSING;
		r->shutdown_deadline_ms = now + SHUTDOWN_STEP_MS;
		return;
	case SD_CLOSING:
		if (r->n_sessions && !late)
			return;
		if (r->n_sessions)
			chat_log_warn("shutdown: %zu connection(s) not closed in time (%zu not reached)",
			              (size_t)r->n_sessions, relay_closing_waiting());
		{
			relay_job *j = relay_job_new(JOB_UNREGISTER);
			if (!j || relay_db_submit(j) < 0)
				r->unregistered = true;
		}
		r->shutdown_phase = SD_UNREGISTER;
		r->shutdown_deadline_ms = now + SHUTDOWN_STEP_MS;
		return;
	case SD_UNREGISTER:
		if (!r->unregistered && !late)
			return;
		r->stop_loop = true;
		return;
	default:
		return;
	}
}

/* Give freed memory back to the system once many frames were freed
 * (a burst of traffic or of opening frames, slow clients cut off,
 * connections closed), or some were and the burst is over (none freed
 * since the last tick), at most every few seconds: glibc keeps freed
 * chunks in its arenas (one per thread that allocated them: frames come
 * from the worker, replay and follower threads) and returns only the top
 * of each heap by itself. */
static void give_back_memory(relay *r, int64_t now)
{
	size_t freed = relay_frames_freed_bytes();
	bool quiet = freed == r->freed_at_tick;
	r->freed_at_tick = freed;
	if (freed == r->trimmed_at_bytes || now - r->trimmed_at_ms < TRIM_EVERY_MS ||
	    (freed - r->trimmed_at_bytes < TRIM_AFTER_BYTES && !quiet))
		return;
	r->trimmed_at_bytes = freed;
	r->trimmed_at_ms = now;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

static void tick_cb(lws_sorted_usec_list_t *sul)
{
	relay *r = relay_g;
	int64_t now = relay_now_ms();
	relay_keepalive_tick(now);
	relay_session_tick(now);
	relay_typing_tick(now);

	int64_t every = r->instance_id ? 1000LL * r->cfg->relay.heartbeat_interval : 2000;
	if (!r->heartbeat_busy && now - r->last_heartbeat_ms >= every && !r->shutting_down) {
		relay_job *j = relay_job_new(JOB_HEARTBEAT);
		if (j && relay_db_submit(j) == 0)
			r->heartbeat_busy = true;
		r->last_heartbeat_ms = now;
	}
	if (r->shutting_down)
		shutdown_step(r);
	give_back_memory(r, now);
	lws_sul_schedule(r->ctx, 0, sul, tick_cb,
	                 (r->shutting_down ? 100 : 1000) * LWS_US_PER_MS);
}

/* Between wake-ups of the loop: signals, and whether to go on. */
static bool keep_going(void)
{
	relay *r = relay_g;
	if (relay_sig_hup) {
		relay_sig_hup = 0;
		chat_log_reopen();
		chat_log_info("log reopened");
	}
	if (relay_sig_term && !r->shutting_down)
		begin_shutdown(r);
	return !r->stop_loop;
}

int relay_server_run(const chat_config *cfg, int listen_fd, int metrics_fd)
{
	int status = 1;
	relay *r = calloc(1, sizeof(*r));
	if (!r) {
		chat_log_error("out of memory");
		return 1;
	}
	relay_g = r;
	r->cfg = cfg;
	r->listen_fd = listen_fd;
	r->metrics_fd = metrics_fd;
	r->notify_fd = -1;

#ifdef __GLIBC__
	/* Large blocks (a newcomer's opening frame lists everyone online: 120
	 * KB in a room of 3,000) straight from the system and back on free.
	 * glibc's default threshold rises to the size of the largest block
	 * freed, after which they are carved from the heaps and leave them
	 * fragmented: one room of 3,000 cost 3.6 KB a connection, 2.7 with
	 * this. Setting it also stops that rise. */
	mallopt(M_MMAP_THRESHOLD, RELAY_MMAP_THRESHOLD);
#endif
	if (chat_db_library_init() != 0) {
		chat_log_error("cannot initialise the MariaDB client library");
		goto out;
	}
	r->jwt = chat_jwt_create(cfg, stderr);
	if (!r->jwt) {
		chat_log_error("cannot set up JWT verification (see above)");
		goto out;
	}
	char name[32];
	snprintf(name, sizeof(name), "%ld", (long)getpid());
	r->notify_fd = chat_notify_listen(cfg->notify.dir, name, r->notify_path,
	                                  sizeof(r->notify_path));
	if (r->notify_fd < 0) {
		chat_log_errno(CHAT_LOG_WARNING,
		               "cannot bind a wake-up socket in %s (events arrive by polling only)",
		               cfg->notify.dir);
		r->notify_path[0] = '\0';
	}
	if (relay_rooms_init() < 0 || relay_wsguard_init() < 0)
		goto out;

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);

	/* No ping/hang-up ("validity") timer per connection: libwebsockets
	 * keeps them in one sorted list that every insert walks, most of the
	 * CPU in a connect burst. keepalive.c does both from the tick. */
	static lws_retry_bo_t retry;
	retry.secs_since_valid_ping = 0;
	retry.secs_since_valid_hangup = 0;

	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	bool tls = cfg->relay.tls_cert && *cfg->relay.tls_cert;
	if (tls)
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = protocols;
	info.timeout_secs = (unsigned)cfg->relay.handshake_timeout;
	info.timeout_secs_ah_idle = (unsigned)cfg->relay.handshake_timeout; /* headers pending */
	info.retry_and_idle_policy = &retry;
	info.max_http_header_data = 8192; /* room for long tokens in the URL */
	info.vhost_name = "chat";
	if (tls) {
		info.ssl_cert_filepath = cfg->relay.tls_cert;
		info.ssl_private_key_filepath = cfg->relay.tls_key;
	}
	r->ctx = relay_loop_create(&info, cfg->relay.event_loop);
	if (!r->ctx) {
		chat_log_error("cannot create the libwebsockets context");
		goto out;
	}
	r->vh = lws_create_vhost(r->ctx, &info);
	if (!r->vh) {
		chat_log_error("cannot create the WebSocket vhost%s", tls ? " (check tls_cert/tls_key)" : "");
		goto out;
	}

	relay_post_wake(r->ctx);
	if (relay_db_start(r) < 0 || relay_follower_start(r) < 0)
		goto out;

	r->listen_wsi = relay_listener_adopt(r->vh, listen_fd);
	if (!r->listen_wsi)
		goto out;
	if (metrics_fd >= 0 && !(r->metrics_wsi = relay_listener_adopt(r->vh, metrics_fd)))
		goto out;

	lws_sul_schedule(r->ctx, 0, &r->tick, tick_cb, 100 * LWS_US_PER_MS);
	chat_log_info("listening on %s://%s:%d (pid %ld)", tls ? "wss" : "ws", cfg->relay.listen,
	              relay_listener_port(listen_fd), (long)getpid());

	relay_loop_run(r->ctx, keep_going);
	status = 0;
	chat_log_info("stopped");

out:
	/* Every thread that posts is stopped and joined before the context
	 * goes: a post during lws_context_destroy() would wake freed memory.
	 * The connections closed by the destroy then find the queues stopped
	 * (relay_db_submit refuses). */
	relay_follower_stop();
	relay_db_stop();
	relay_post_wake(NULL);
	/* The closes still waiting are dropped with the context: none may
	 * start (a writable request) while it is destroyed. */
	relay_closing_free();
	if (r->ctx) {
		/* Cancel with the real callback: libwebsockets 4.3 asserts a
		 * callback even to cancel; lws_sul_cancel() is not in 4.0. */
		lws_sul_schedule(r->ctx, 0, &r->tick, tick_cb, LWS_SET_TIMER_USEC_CANCEL);
		lws_context_destroy(r->ctx);
		r->ctx = NULL;
	}
	relay_loop_free();
	relay_typing_free();
	relay_rooms_free();
	relay_limits_free();
	relay_wsguard_free();
	if (r->notify_fd >= 0)
		close(r->notify_fd);
	if (r->notify_path[0])
		unlink(r->notify_path);
	chat_jwt_free(r->jwt);
	chat_db_library_end();
	free(r);
	relay_g = NULL;
	return status;
}
