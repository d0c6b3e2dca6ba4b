/* Keep-alive: pings and idle hang-ups by one sweep from the relay's tick.
 *
 * libwebsockets' own policy (a "validity" timer per connection) keeps one
 * timer per connection in a sorted list that every insert walks from its
 * head: O(n) per new connection and per pong, most of a relay's CPU during
 * a connect burst. Here each WebSocket session only records when it was
 * last heard from (any frame, or a pong: whole seconds of the monotonic
 * clock, read without a system call),
 * and the tick visits a slice of the connection registry's buckets, so
 * that every session is visited once per `period` seconds: O(sessions /
 * period) per tick, and no list or timer of its own per connection.
 *
 * A session not heard from for relay.ping_interval is sent a ping (asked
 * for through WRITEABLE, session.c writes it); one not heard from for
 * relay.idle_timeout is dropped without a close frame (its peer is gone
 * or not reading). With period = min(ping_interval, idle_timeout -
 * ping_interval) / 4 (at least 1 s) the ping goes out at most `period`
 * late and always before the hang-up, which comes at most `period` + 1 s
 * late (the clock's whole seconds) and never early. */
#include "config.h"

#include "chat_log.h"
#include "relay.h"

static size_t cursor; /* the next bucket of the connection registry to visit */
static uint32_t now_s;  /* seconds of the relay's monotonic clock, at the tick */

static uint32_t clock_s(void)
{
	return (uint32_t)(relay_now_ms() / 1000);
}

/* The clock is read here, not the tick's now_s: that one is up to a tick
 * old, and with whole seconds on both sides a client was dropped as early
 * as 1.5 s into an idle_timeout of 3 (test_keepalive on a loaded host). */
void relay_keepalive_start(relay_session *s)
{
	s->ka_heard_s = clock_s();
	s->ka_ping_due = s->ka_ping_sent = s->ka_hung_up = false;
}

void relay_keepalive_heard(relay_session *s)
{
	s->ka_heard_s = clock_s();
	s->ka_ping_due = s->ka_ping_sent = false;
}

typedef struct limits {
	uint32_t ping, idle;
} limits;

static void visit(relay_session *s, void *arg)
{
	const limits *l = arg;
	if (s->ka_hung_up)
		return;
	if (s->state != RS_OPEN) {
		/* Opening (reading paused until the lookup answers) or closing
		 * (a timeout of its own): not judged, and not idle once open. */
		s->ka_heard_s = now_s;
		return;
	}
	/* Whole seconds, each rounded down: only a difference above idle
	 * is an idle_timeout surely passed (never early; a second late at
	 * most, besides the sweep's period). */
	uint32_t quiet = now_s - s->ka_heard_s;
	if (quiet > l->idle) {
		chat_log_debug("connection %llu: nothing heard for %us: hung up",
		               (unsigned long long)s->conn_id, quiet);
		lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		s->ka_hung_up = true;
		return;
	}
	if (quiet >= l->ping && !s->ka_ping_sent) {
		s->ka_ping_sent = s->ka_ping_due = true;
		lws_callback_on_writable(s->wsi);
	}
}

void relay_keepalive_tick(int64_t now_ms)
{
	const chat_config *cfg = relay_g->cfg;
	limits l = { (uint32_t)cfg->relay.ping_interval, (uint32_t)cfg->relay.idle_timeout };
	uint32_t gap = l.idle > l.ping ? l.idle - l.ping : 1;
	uint32_t period = (l.ping < gap ? l.ping : gap) / 4;
	if (period < 1)
		period = 1;
	now_s = (uint32_t)(now_ms / 1000);

	/* Visit buckets / period of the registry's buckets (rounded up); a
	 * pass that reaches the end starts again from the first next tick.
	 * A session moved by the registry's growth may wait one pass more:
	 * its ping is then at most 2 periods late, still before the hang-up. */
	size_t nb = relay_conns_buckets();
	cursor = relay_conns_visit(cursor, (nb + period - 1) / period, visit, &l);
}
bool relay_keepalive_take_ping(relay_session *s)
{
	if (!s->ka_ping_due)
		return false;
	s->ka_ping_due = false;
	return true;
}
