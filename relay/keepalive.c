/* Keep-alive: pings and idle hang-ups by one sweep from the relay's tick.
 *
 * libwebsockets' own policy (a "validity" timer per connection) keeps one
 * timer per connection in a sorted list that every insert walks from its
 * head: O(n) per new connection and per pong, most of a relay's CPU during
 * a connect burst. Here each WebSocket session only records when it was
 * last heard from (any frame, or a pong: a cached clock, no system call),
 * and the tick visits a slice of the sessions, in a list of their own, so
 * that every session is visited once per `period` seconds: O(sessions /
 * period) per tick.
 *
 * A session not heard from for relay.ping_interval is sent a ping (asked
 * for through WRITEABLE, session.c writes it); one not heard from for
 * relay.idle_timeout is dropped without a close frame (its peer is gone
 * or not reading). With period = min(ping_interval, idle_timeout -
 * ping_interval) / 4 (at least 1 s) the ping goes out at most `period`
 * late and always before the hang-up, which comes at most `period` late. */
#include "config.h"

#include "chat_log.h"
#include "relay.h"

static relay_session *head, *tail, *cursor;
static size_t count;
static uint32_t now_s; /* seconds of the relay's monotonic clock, per tick */

static uint32_t clock_s(void)
{
	return (uint32_t)(relay_now_ms() / 1000);
}

void relay_keepalive_add(relay_session *s)
{
	if (s->ka.linked)
		return;
	if (!now_s)
		now_s = clock_s();
	s->ka.heard_s = now_s;
	s->ka.ping_due = s->ka.ping_sent = false;
	s->ka.next = NULL;
	s->ka.prev = tail;
	if (tail)
		tail->ka.next = s;
	else
		head = s;
	tail = s;
	s->ka.linked = true;
	count++;
}

void relay_keepalive_remove(relay_session *s)
{
	if (!s->ka.linked)
		return;
	if (cursor == s)
		cursor = s->ka.next;
	if (s->ka.prev)
		s->ka.prev->ka.next = s->ka.next;
	else
		head = s->ka.next;
	if (s->ka.next)
		s->ka.next->ka.prev = s->ka.prev;
	else
		tail = s->ka.prev;
	s->ka.prev = s->ka.next = NULL;
	s->ka.linked = false;
	count--;
}

void relay_keepalive_heard(relay_session *s)
{
	s->ka.heard_s = now_s;
	s->ka.ping_due = s->ka.ping_sent = false;
}

static void visit(relay_session *s, uint32_t ping, uint32_t idle)
{
	if (s->state != RS_OPEN) {
		/* Opening (reading paused until the lookup answers) or closing
		 * (a timeout of its own): not judged, and not idle once open. */
		s->ka.heard_s = now_s;
		return;
	}
	uint32_t quiet = now_s - s->ka.heard_s;
	if (quiet >= idle) {
		chat_log_debug("connection %llu: nothing heard for %us: hung up",
		               (unsigned long long)s->conn_id, quiet);
		lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		relay_keepalive_remove(s);
		return;
	}
	if (quiet >= ping && !s->ka.ping_sent) {
		s->ka.ping_sent = s->ka.ping_due = true;
		lws_callback_on_writable(s->wsi);
	}
}

void relay_keepalive_tick(int64_t now_ms)
{
	const chat_config *cfg = relay_g->cfg;
	uint32_t ping = (uint32_t)cfg->relay.ping_interval;
	uint32_t idle = (uint32_t)cfg->relay.idle_timeout;
	uint32_t gap = idle > ping ? idle - ping : 1;
	uint32_t period = (ping < gap ? ping : gap) / 4;
	if (period < 1)
		period = 1;
	now_s = (uint32_t)(now_ms / 1000);

	/* Visit count / period sessions (rounded up); a pass that reaches
	 * the end starts again from the head next tick. */
	size_t slice = (count + period - 1) / period;
	if (!cursor)
		cursor = head;
	while (slice-- && cursor) {
		relay_session *s = cursor;
		cursor = s->ka.next;
		visit(s, ping, idle);
	}
}

bool relay_keepalive_take_ping(relay_session *s)
{
	if (!s->ka.ping_due)
		return false;
	s->ka.ping_due = false;
	return true;
}
