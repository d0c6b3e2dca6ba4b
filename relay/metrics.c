/* GET /healthz and GET /metrics (Prometheus text format), served on the
 * WebSocket port. Service thread only (the counters live in relay_g->m;
 * the follower's and writer's figures are read through atomics). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"

typedef struct buf {
	char *p;
	size_t len, cap;
	bool oom;
} buf;

__attribute__((format(printf, 2, 3))) static void put(buf *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = b->cap * 2 + (size_t)n;
		char *np = realloc(b->p, ncap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

static void metric(buf *b, const char *name, const char *type, const char *help,
                   unsigned long long v)
{
	put(b, "# HELP chat_relay_%s %s\n# TYPE chat_relay_%s %s\nchat_relay_%s %llu\n", name, help,
	    name, type, name, v);
}

static char *metrics_text(size_t *len)
{
	const relay_metrics *m = &relay_g->m;
	buf b = { malloc(4096), 0, 4096, false };
	if (!b.p)
		return NULL;
	metric(&b, "connections", "gauge", "Open WebSocket connections.", relay_g->n_sessions);
	metric(&b, "connections_total", "counter", "WebSocket connections opened.",
	       m->connections_total);
	metric(&b, "rooms", "gauge", "Rooms with at least one connection.", relay_g->n_rooms);
	metric(&b, "messages_in_total", "counter", "chat_message frames accepted for storing.",
	       m->messages_in_total);
	metric(&b, "frames_in_total", "counter", "Frames received from clients.", m->frames_in_total);
	metric(&b, "frames_out_total", "counter", "Frames written to clients.", m->frames_out_total);
	metric(&b, "frames_dropped_total", "counter",
	       "Frames discarded because a client was too slow.", m->frames_dropped_total);
	metric(&b, "slow_clients_closed_total", "counter",
	       "Connections closed with 4408 (send queue overflow).", m->slow_clients_closed_total);
	metric(&b, "rate_limited_total", "counter", "Client frames refused by the rate limit.",
	       m->rate_limited_total);
	metric(&b, "connections_refused_total", "counter",
	       "Connections refused for too many of one user or one address.",
	       m->connections_refused_total);
	metric(&b, "client_errors_total", "counter", "Error frames sent to clients.",
	       m->client_errors_total);
	metric(&b, "auth_failures_total", "counter", "Connections refused at opening.",
	       m->auth_failures_total);
	metric(&b, "events_delivered_total", "counter",
	       "Events read from chat_events and fanned out to a room.", m->events_delivered_total);
	metric(&b, "last_event_id", "gauge", "Highest chat_events id read by the follower.",
	       (unsigned long long)relay_follower_last_event());
	metric(&b, "event_reader_lag", "gauge",
	       "Events in chat_events not yet read after the follower's last cycle (sampled each second).",
	       (unsigned long long)relay_follower_lag());
	metric(&b, "events_passed_over_total", "counter",
	       "Missing event ids no longer watched (rolled back, or skipped by an id stride).",
	       (unsigned long long)relay_follower_passed_over());
	metric(&b, "db_up", "gauge", "1 when the database answered last time.", relay_db_up());

	static const char *const le[8] = { "1", "2", "4", "8", "16", "64", "256", "+Inf" };
	put(&b, "# HELP chat_relay_db_batch_size Messages stored per transaction.\n"
	        "# TYPE chat_relay_db_batch_size histogram\n");
	unsigned long long cum = 0;
	for (int i = 0; i < 8; i++) {
		cum += relay_db_batch_bucket(i);
		put(&b, "chat_relay_db_batch_size_bucket{le=\"%s\"} %llu\n", le[i], cum);
	}
	put(&b, "chat_relay_db_batch_size_sum %llu\nchat_relay_db_batch_size_count %llu\n",
	    (unsigned long long)relay_db_batch_rows(), (unsigned long long)relay_db_batches());
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

int relay_metrics_http(const char *path, char **body, size_t *len, const char **ctype)
{
	*ctype = "text/plain; charset=utf-8";
	if (strcmp(path, "/healthz") == 0 || strcmp(path, "/healthz/") == 0) {
		bool up = relay_db_up();
		*body = strdup(up ? "ok" : "unavailable");
		*len = *body ? strlen(*body) : 0;
		return up ? 200 : 503;
	}
	if (strcmp(path, "/metrics") == 0 || strcmp(path, "/metrics/") == 0) {
		*ctype = "text/plain; version=0.0.4; charset=utf-8";
		*body = metrics_text(len);
		return 200;
	}
	*body = strdup("not found");
	*len = *body ? strlen(*body) : 0;
	return 404;
}
