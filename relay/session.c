/* Per-connection state: opening (handshake checks, token, the DB lookup
 * through a worker), writing (one lws_write per WRITEABLE), closing with a
 * code, and the results that come back from the worker threads.
 *
 * Life of a session (relay_session, the lws per-session data):
 *   ESTABLISHED  -> path, Origin, token checked here (no DB); linked into
 *                   its room as "holding" (live events buffered, bounded),
 *                   reading paused; JOB_AUTH submitted.
 *   RES_AUTH     -> connection_established (+ replay), held events
 *                   released, reading resumed: RS_OPEN.
 *   close        -> relay_session_close(): error frame, flush, close code.
 *   CLOSED       -> unlinked; JOB_CLOSE removes presence / typing. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat_json.h"
#include "chat_log.h"
#include "chat_validate.h"
#include "relay.h"
#include "sockstat.h"

#define REPLAY_RECHECK_US 20000 /* kernel queue still full: look again */
#define CLOSE_RECHECK_US 20000  /* input still unread at close: look again */

static size_t qmax_frames(void)
{
	return (size_t)relay_g->cfg->relay.send_queue_max_frames;
}

static size_t qmax_bytes(void)
{
	return (size_t)relay_g->cfg->relay.send_queue_max_bytes;
}

/* ---- sending ------------------------------------------------------------ */

/* Would f take the connection past its limits? Queued and held frames
 * count together; an empty connection takes any one frame (a big
 * "online" list), so no connection holds more than the limits plus one
 * frame. */
static bool over_limits(const relay_session *s, const relay_frame *f)
{
	size_t frames = s->q.count + (s->held ? s->held->count : 0);
	size_t bytes = s->q.bytes + (s->held ? s->held->bytes : 0);
	if (!frames)
		return false;
	return frames + 1 > qmax_frames() || bytes + f->len > qmax_bytes();
}

/* A round: the loop handling one batch of the worker threads' results
 * (events to fan out, answers). Sessions given frames during a round are
 * listed and written once at its end (flush_round), straight from the
 * loop, instead of each asking libwebsockets for a WRITEABLE callback:
 * that round trip switched the socket's POLLOUT interest on and off (two
 * epoll_ctl calls per connection and event burst, 12 % of the relay's CPU
 * in a room of 1,000). Only where frames go out as raw bytes (lws < 4.3,
 * write_frames below), whose partial writes libwebsockets finishes by
 * itself. */
#if LWS_LIBRARY_VERSION_MAJOR > 4 || (LWS_LIBRARY_VERSION_MAJOR == 4 && LWS_LIBRARY_VERSION_MINOR >= 3)
#define WRITE_IN_ROUND 0
#else
#define WRITE_IN_ROUND 1
#endif
static bool in_round;
static relay_session **round_list;
static size_t round_n, round_cap;

static void want_write(relay_session *s)
{
	if (WRITE_IN_ROUND && in_round && s->state != RS_CLOSING) {
		if (s->in_round)
			return;
		if (round_n == round_cap) {
			size_t cap = round_cap ? round_cap * 2 : 256;
			relay_session **l = realloc(round_list, cap * sizeof(*l));
			if (l) {
				round_list = l;
				round_cap = cap;
			}
		}
		if (round_n < round_cap) {
			round_list[round_n++] = s;
			s->in_round = true;
			return;
		}
	}
	lws_callback_on_writable(s->wsi);
}

static int push(relay_session *s, relay_frame *f)
{
	if (relay_sendq_push(&s->q, f, 0, 0) < 0)
		return -1;
	want_write(s);
	return 0;
}

/* The queue of held frames exists only while frames are held. */
static void free_held(relay_session *s)
{
	if (s->held)
		relay_sendq_free(s->held);
	free(s->held);
	s->held = NULL;
}

static void cut_off_slow(relay_session *s)
{
	size_t dropped = relay_sendq_clear(&s->q) + (s->held ? relay_sendq_clear(s->held) : 0);
	relay_g->m.frames_dropped_total += dropped + 1;
	relay_g->m.slow_clients_closed_total++;
	chat_log_info("connection %llu (user %lld, room %lld) too slow: closed with 4408",
	              (unsigned long long)s->conn_id, (long long)s->user.id,
	              (long long)s->room_id);
	relay_session_close(s, 4408, "slow_consumer",
	                    "Send queue overflow: reconnect with last_id");
}

int relay_session_send(relay_session *s, relay_frame *f)
{
	if (s->state == RS_CLOSING || !f)
		return -1;
	if (over_limits(s, f) || push(s, f) < 0) {
		cut_off_slow(s);
		return -1;
	}
	return 0;
}

/* Send a frame nobody else references (frees it if it was not taken). */
static void send_own(relay_session *s, relay_frame *f)
{
	if (!f)
		return;
	relay_frame_ref(f);
	relay_session_send(s, f);
	relay_frame_unref(f);
}

/* The last frame before a close: whatever the limits (the one frame
 * beyond them). */
static void send_last(relay_session *s, relay_frame *f)
{
	if (!f || s->state == RS_CLOSING)
		return;
	relay_frame_ref(f);
	push(s, f);
	relay_frame_unref(f);
}

void relay_session_error(relay_session *s, const char *message, const char *code)
{
	relay_g->m.client_errors_total++;
	send_own(s, relay_frame_error(message, code));
}

void relay_session_close(relay_session *s, int code, const char *errcode, const char *message)
{
	if (s->state == RS_CLOSING)
		return;
	if (errcode)
		send_last(s, relay_frame_error(message ? message : errcode, errcode));
	free_held(s);
	s->holding = false;
	s->state = RS_CLOSING;
	s->close_code = code;
	/* (out of memory: the close goes without its reason) */
	s->close_reason = strdup(message ? message : (errcode ? errcode : ""));
	relay_closing_add(s); /* now, or when its turn comes (closing.c) */
}

/* Is there more to write: frames, or a started close (closing.c)? */
static bool more_to_write(const relay_session *s)
{
	return s->q.count || s->close_started;
}

static void replay_more(relay_session *s);

/* Bytes written to the socket that the client has not taken yet (the
 * kernel's send queue, plus what lws holds of a partial write); 0 where
 * the system cannot say. */
static size_t unsent(relay_session *s)
{
	return relay_sock_unsent(lws_get_socket_fd(s->wsi)) + (lws_partial_buffered(s->wsi) ? 1 : 0);
}

/* Has the client sent bytes the loop has not read yet? */
static bool unread_input(relay_session *s)
{
	return relay_sock_unread(lws_get_socket_fd(s->wsi));
}

/* A keep-alive ping (keepalive.c asked for it), before any frame. */
static int write_ping(relay_session *s)
{
	/* a payload: libwebsockets (4.1) does not report an empty pong */
	static unsigned char ping[LWS_PRE + 4] = { [LWS_PRE] = 'c', 'h', 'a', 't' };
	if (lws_write(s->wsi, ping + LWS_PRE, 4, LWS_WRITE_PING) < 0)
		return -1;
	if (more_to_write(s))
		lws_callback_on_writable(s->wsi);
	return 0;
}

static size_t ws_header_len(size_t len)
{
	return len < 126 ? 2 : len < 65536 ? 4 : 10;
}

#if LWS_LIBRARY_VERSION_MAJOR > 4 || (LWS_LIBRARY_VERSION_MAJOR == 4 && LWS_LIBRARY_VERSION_MINOR >= 3)
/* libwebsockets 4.3: one frame per write, framed by libwebsockets. A
 * non-reading client cut off with 4408 after raw writes was never closed
 * there (test_limits t_slow_client_replays on Debian 13). */
static int write_frames(relay_session *s, relay_frame *f)
{
	size_t len = f->len;
	int n = lws_write(s->wsi, f->data + LWS_PRE, len, LWS_WRITE_TEXT);
	relay_frame_unref(f);
	if (n < 0)
		return -1;
	relay_g->m.frames_out_total++;
	s->written += ws_header_len(len) + len;
	return 0;
}
#else
/* The header of an unmasked, final text frame of len bytes (RFC 6455 5.2)
 * into h; returns its length. */
static size_t ws_header(unsigned char *h, size_t len)
{
	h[0] = 0x81;
	if (len < 126) {
		h[1] = (unsigned char)len;
		return 2;
	}
	if (len < 65536) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		return 4;
	}
	h[1] = 127;
	for (int i = 0; i < 8; i++)
		h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	return 10;
}

/* Frames queued for one connection go out in one write: framed here
 * (server frames are not masked: the bytes are the same for every
 * recipient) and handed to the socket as they are (LWS_WRITE_HTTP sends
 * raw bytes on a WebSocket connection in libwebsockets 4.0 and 4.1; what
 * the socket does not take, libwebsockets keeps and sends before the next
 * WRITEABLE). One send() for a burst of events instead of one per frame.
 * A frame too big for the batch goes alone, from its own buffer, its
 * header in the headroom (the same bytes for every recipient). */
#define BATCH_BYTES 16384
static unsigned char batch[LWS_PRE + BATCH_BYTES]; /* service thread only */

static int write_frames(relay_session *s, relay_frame *f)
{
	size_t hl = ws_header_len(f->len), used = 0;
	unsigned n_frames = 0;
	unsigned char *out = batch + LWS_PRE;
	if (hl + f->len > BATCH_BYTES) {
		out = f->data + LWS_PRE - hl;
		used = ws_header(out, f->len) + f->len;
		n_frames = 1;
	} else {
		for (;;) {
			used += ws_header(out + used, f->len);
			memcpy(out + used, f->data + LWS_PRE, f->len);
			used += f->len;
			n_frames++;
			relay_frame_unref(f);
			f = relay_sendq_peek(&s->q);
			if (!f || used + ws_header_len(f->len) + f->len > BATCH_BYTES) {
				f = NULL;
				break;
			}
			relay_sendq_pop(&s->q);
		}
	}
	int n = lws_write(s->wsi, out, used, LWS_WRITE_HTTP);
	relay_frame_unref(f); /* the big frame (NULL: already dropped) */
	if (n < 0)
		return -1;
	relay_g->m.frames_out_total += n_frames;
	s->written += used; /* what the socket took, or libwebsockets holds */
	return 0;
}
#endif

static int on_writeable(relay_session *s)
{
	if (relay_keepalive_take_ping(s))
		return write_ping(s);
	relay_frame *f = relay_sendq_pop(&s->q);
	if (!f) {
		if (s->close_started) {
			/* libwebsockets closes the socket right after the close
			 * frame, and a socket closed with unread input, or that
			 * input arrives on later, is reset: the reset throws away
			 * what the client has not read yet, the error frame and
			 * the close frame included (a client that keeps sending,
			 * a sync every 60 ms...). Close once the client has taken
			 * everything and nothing is left to read (or when
			 * closing.c's flush deadline is up). */
			if (unread_input(s) || unsent(s)) {
				relay_loop_set_timer(s->wsi, CLOSE_RECHECK_US);
				return 0;
			}
			const char *why = s->close_reason ? s->close_reason : "";
			/* a close frame's reason: 123 bytes at most (RFC 6455 5.5) */
			size_t wlen = strlen(why);
			lws_close_reason(s->wsi, (enum lws_close_status)s->close_code,
			                 (unsigned char *)why, wlen > 123 ? 123 : wlen);
			return -1;
		}
		return 0;
	}
	if (write_frames(s, f) < 0)
		return -1;
	relay_sendq_shrink(&s->q);
	replay_more(s);
	if (more_to_write(s))
		lws_callback_on_writable(s->wsi);
	return 0;
}

/* The end of a round: write to each listed session what it was given.
 * A session whose earlier write is not finished, that owes a keep-alive
 * ping or is closing goes through WRITEABLE as before. */
static void flush_round(void)
{
	for (size_t i = 0; i < round_n; i++) {
		relay_session *s = round_list[i];
		if (!s)
			continue; /* closed during the round */
		s->in_round = false;
		if (s->state == RS_CLOSING || s->ka_ping_due || lws_partial_buffered(s->wsi)) {
			lws_callback_on_writable(s->wsi);
			continue;
		}
		if (on_writeable(s) < 0)
			lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	}
	round_n = 0;
	if (round_cap > 65536) { /* one huge round keeps no big list */
		free(round_list);
		round_list = NULL;
		round_cap = 0;
	}
}

/* A session that ends while listed (its slot is skipped). */
static void leave_round(relay_session *s)
{
	if (!s->in_round)
		return;
	for (size_t i = 0; i < round_n; i++)
		if (round_list[i] == s)
			round_list[i] = NULL;
	s->in_round = false;
}

/* ---- live delivery -------------------------------------------------------- */

static bool in_snapshot(const relay_session *s, int64_t user_id)
{
	size_t lo = 0, hi = s->snap->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->snap->ids[mid] == user_id)
			return true;
		if (s->snap->ids[mid] < user_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Should this live frame reach this (open) session? */
static bool answered_retry(const relay_session *s, int64_t msg_id)
{
	for (size_t i = 0; s->retries && i < RELAY_RETRY_IDS; i++)
		if (s->retries->ids[i] == msg_id)
			return true;
	return false;
}

static bool wanted(const relay_session *s, const relay_frame *f)
{
	if (f->kind >= CHAT_EV_MESSAGE_CREATED && f->kind <= CHAT_EV_MESSAGE_DELETED &&
	    f->ev_id <= s->replay_max_ev)
		return false; /* the replay had it */
	if (f->kind == CHAT_EV_MESSAGE_CREATED && f->msg_id <= s->replay_last_msg)
		return false; /* the client has it (last_id / replay) */
	if (f->kind == CHAT_EV_MESSAGE_CREATED && answered_retry(s, f->msg_id))
		return false; /* sent already, as the answer to a retry */
	if (f->kind == CHAT_EV_TYPING && f->origin &&
	    f->origin == relay_origin_of(relay_g->instance_id, s->conn_id))
		return false; /* the typer's own connection */
	if ((f->kind == CHAT_EV_PRESENCE_JOIN || f->kind == CHAT_EV_PRESENCE_LEAVE) &&
	    s->snap && f->ev_id <= s->snap->floor) {
		/* Older than the "online" list the newcomer got: pass on only
		 * what that list does not already say. (Without the list, every
		 * one: a join twice is harmless, a lost leave is not.) */
		bool known = in_snapshot(s, f->user_id);
		return f->kind == CHAT_EV_PRESENCE_JOIN ? !known : known;
	}
	return true;
}

/* The presence snapshot is needed only for events at or below its floor.
 * Events reach a room in ascending id order (the follower's outbox): once
 * one above the floor was judged, none below it can follow, so the
 * snapshot (8 bytes per user online at open: a large room's biggest cost
 * per connection) goes. */
static void drop_snapshot(relay_session *s)
{
	if (s->snap) {
		free(s->snap->ids);
		free(s->snap);
		s->snap = NULL;
	}
}

static void drop_snapshot_past(relay_session *s, const relay_frame *f)
{
	if (s->snap && !s->holding && s->state == RS_OPEN && f->ev_id > s->snap->floor)
		drop_snapshot(s);
}

/* In a room that stays quiet no event above the floor comes: the last
 * connections to open kept their snapshot (80 KB in a room of 10,000)
 * for good. Every event at or below the floor was committed before the
 * snapshot was read, so a follower cycle that began after it reads them
 * all (late commits included: the missing-id watch); once such a cycle
 * ended (two cycles after the snapshot came back), the follower has read
 * past the floor, and every event it posted was fanned out (none in
 * flight: the counter goes up before a post, the cycle count after),
 * none of them can still come. (Events committed after the read with an
 * id below the floor are not in "online" either way: without the
 * snapshot they pass, as the filter lets them pass.) */
static void drop_snapshot_settled(relay_session *s)
{
	if (s->snap && !s->holding && s->state == RS_OPEN &&
	    relay_follower_cycles() >= s->snap->cycles + 2 &&
	    relay_follower_last_event() >= s->snap->floor &&
	    atomic_load(&relay_events_in_flight) == 0)
		drop_snapshot(s);
}

void relay_session_deliver(relay_session *s, relay_frame *f)
{
	if (s->state == RS_CLOSING || s->state == RS_NEW)
		return;
	if (s->holding) {
		if (!s->held)
			s->held = calloc(1, sizeof(*s->held));
		if (!s->held || over_limits(s, f) || relay_sendq_push(s->held, f, 0, 0) < 0)
			cut_off_slow(s);
		return;
	}
	if (wanted(s, f))
		relay_session_send(s, f);
	drop_snapshot_past(s, f);
}

/* Move held frames to the send queue, through the same filters as live
 * ones (after a replay: what it covered is not sent again). */
static void release_held(relay_session *s)
{
	if (s->replay_pending || s->recheck_pending || s->state == RS_AUTH)
		return; /* still waiting for another answer */
	s->holding = false;
	relay_frame *f;
	while (s->state != RS_CLOSING && s->held && (f = relay_sendq_pop(s->held))) {
		if (wanted(s, f))
			relay_session_send(s, f);
		drop_snapshot_past(s, f);
		relay_frame_unref(f);
	}
	free_held(s); /* held again only by a replay or a recheck */
}

/* ---- replay ---------------------------------------------------------------- */

/* Remember what a finished replay covered (monotonic: a later, shorter
 * replay does not lower it). */
static void note_replay(relay_session *s)
{
	const relay_replay *rp = s->rp;
	int64_t last_msg = rp->newest_sent > rp->known ? rp->newest_sent : rp->known;
	if (rp->max_ev > s->replay_max_ev)
		s->replay_max_ev = rp->max_ev;
	if (last_msg > s->replay_last_msg)
		s->replay_last_msg = last_msg;
}

static void replay_end(relay_session *s)
{
	s->replay_pending = false;
	free(s->rp); /* only a connection replaying holds one */
	s->rp = NULL;
	release_held(s);
}

static void replay_submit(relay_session *s, int64_t last_id)
{
	relay_job *j = relay_job_new(JOB_REPLAY);
	if (j) {
		j->conn_id = s->conn_id;
		j->room_id = s->room_id;
		j->last_id = last_id;
		j->rp = *s->rp;
	}
	s->rp->job_out = true;
	if (!j || relay_db_submit(j) < 0) {
		s->rp->job_out = false;
		relay_session_error(s, "Service busy, sync not done", "unavailable");
		replay_end(s);
	}
}

/* Start a replay after message last_id (live events are being held). */
void relay_session_replay(relay_session *s, int64_t last_id)
{
	free(s->rp);
	s->rp = calloc(1, sizeof(*s->rp));
	s->replay_pending = true;
	s->holding = true;
	if (!s->rp) {
		relay_session_error(s, "Out of memory, sync not done", "unavailable");
		replay_end(s);
		return;
	}
	replay_submit(s, last_id);
}

/* A replay waiting for its client to read: its queue below a page, no
 * page being read. */
static bool replay_waiting(const relay_session *s)
{
	return s->replay_pending && s->rp && s->rp->planned && !s->rp->job_out && s->state == RS_OPEN &&
	       s->q.bytes <= relay_replay_page_bytes(relay_g->cfg) &&
	       s->q.count <= (size_t)relay_replay_page_rows(relay_g->cfg);
}

/* The next page once the client has read most of the last one, from the
 * send queue and from the socket: a replay goes only as fast as its
 * client reads (the kernel would otherwise take megabytes of it for a
 * client that never reads). */
static void replay_more(relay_session *s)
{
	if (!replay_waiting(s))
		return;
	if (unsent(s) > relay_replay_page_bytes(relay_g->cfg)) {
		relay_loop_set_timer(s->wsi, REPLAY_RECHECK_US);
		return;
	}
	replay_submit(s, s->rp->last_id);
}

static void on_replay(relay_result *r)
{
	relay_session *s = relay_conns_find(r->conn_id);
	if (!s || s->state != RS_OPEN || !s->replay_pending || !s->rp)
		return;
	if (r->err != CHAT_OK) {
		s->rp->job_out = false;
		relay_session_error(s, "Database unavailable, sync not done", "unavailable");
		replay_end(s);
		return;
	}
	*s->rp = r->rp;
	s->rp->job_out = false;
	for (size_t i = 0; i < r->n_frames && s->state == RS_OPEN; i++) {
		relay_frame *f = r->frames[i];
		r->frames[i] = NULL;
		send_own(s, f);
	}
	if (s->state != RS_OPEN)
		return; /* cut off */
	if (r->replay_done) {
		send_own(s, relay_frame_from_json(chat_json_frame_sync_done(s->rp->newest)));
		note_replay(s);
		replay_end(s);
		return;
	}
	replay_more(s);
}

/* ---- opening ------------------------------------------------------------- */

/* "/ws/chat/{id}" or "/ws/chat/{id}/" -> id; 0 if the path is anything else. */
static int64_t room_from_path(const char *path)
{
	static const char prefix[] = "/ws/chat/";
	if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
		return 0;
	const char *id = path + sizeof(prefix) - 1;
	size_t n = strlen(id);
	if (n && id[n - 1] == '/')
		n--;
	long long v = 0;
	if (n == 0 || chat_parse_id(id, n, &v) != CHAT_OK)
		return 0;
	return v;
}

/* An HTTP answer not written yet (an HTTP request on this connection
 * before an upgrade); its pointer shares a union with WebSocket state. */
static void http_answer_free(relay_session *s)
{
	if (s->http) {
		free(s->http->body);
		free(s->http);
		s->http = NULL;
	}
}

static void on_open(relay_session *s, struct lws *wsi)
{
	const chat_config *cfg = relay_g->cfg;
	http_answer_free(s);
	s->wsi = wsi;
	s->is_ws = true;
	s->conn_id = ++relay_g->next_conn_id;
	s->resume_from = -1;
	s->tokens = cfg->relay.rate_burst;
	s->tokens_ms = relay_now_ms();
	s->state = RS_AUTH;
	if (relay_conns_add(s) < 0) {
		s->conn_id = 0;
		relay_session_close(s, 1011, "internal_error", "Out of memory");
		return;
	}
	relay_g->n_sessions++;
	relay_g->m.connections_total++;
	if (!relay_g->cfg->relay.tls_cert[0])
		relay_wsguard_watch(lws_get_socket_fd(wsi), true);

	if (relay_g->shutting_down) {
		relay_session_close(s, 1001, NULL, "relay shutting down");
		return;
	}
	if (relay_g->n_sessions > (size_t)cfg->relay.max_connections) {
		relay_session_close(s, 1013, "too_many_connections",
		                    "Too many connections, try again later");
		return;
	}

	char path[512];
	if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0 ||
	    !(s->room_id = room_from_path(path))) {
		relay_session_close(s, 4404, "room_not_found", "Room not found");
		return;
	}

	if (cfg->relay.allowed_origins[0]) {
		char origin[256];
		int n = lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN);
		/* No Origin header: not a browser, nothing to protect against. */
		if (n != 0 && (n < 0 || !chat_config_list_has(cfg->relay.allowed_origins, origin))) {
			relay_session_close(s, 1008, "origin_not_allowed", "Origin not allowed");
			return;
		}
	}

	char buf[4096];
	const char *v = lws_get_urlarg_by_name(wsi, "last_id=", buf, sizeof(buf));
	if (v && *v) {
		long long id = 0;
		if (strcmp(v, "0") == 0)
			s->resume_from = 0;
		else if (chat_parse_id(v, strlen(v), &id) == CHAT_OK)
			s->resume_from = id;
		else
			s->bad_last_id = true; /* said after connection_established */
	}

	relay_job *j = relay_job_new(JOB_AUTH);
	if (!j) {
		relay_session_close(s, 1011, "internal_error", "Out of memory");
		return;
	}
	const char *tok = lws_get_urlarg_by_name(wsi, "token=", buf, sizeof(buf));
	if (!tok || !*tok) {
		if (!cfg->auth.allow_anonymous) {
			relay_job_free(j);
			relay_g->m.auth_failures_total++;
			relay_session_close(s, 4401, "token_missing", "Authentication token required");
			return;
		}
		j->user_id = CHAT_ANONYMOUS_USER_ID;
		j->anonymous = true;
	} else {
		const char *why = NULL;
		int64_t uid = 0;
		if (chat_jwt_verify(relay_g->jwt, tok, CHAT_TOKEN_ACCESS, time(NULL), &uid, &why) !=
		    CHAT_OK) {
			relay_job_free(j);
			relay_g->m.auth_failures_total++;
			char msg[128];
			snprintf(msg, sizeof(msg), "Invalid token: %s", why ? why : "refused");
			relay_session_close(s, 4401, "invalid_token", msg);
			return;
		}
		j->user_id = uid;
	}
	s->user.id = j->user_id;

	char addr[CHAT_ADDR_KEY_LEN];
	relay_limits_client_address(wsi, addr, sizeof(addr));
	int over = relay_limits_admit(s, addr);
	if (over != 0) {
		relay_job_free(j);
		if (over < 0) {
			relay_session_close(s, 1011, "internal_error", "Out of memory");
			return;
		}
		relay_g->m.connections_refused_total++;
		/* debug only: a flood must not flood the log (the metric counts) */
		chat_log_debug("connection refused: user %lld from %s is at its %s limit",
		               (long long)s->user.id, addr, over == 1 ? "user" : "address");
		relay_session_close(s, 4403, "too_many_connections",
		                    over == 1 ? "Too many connections of this user"
		                              : "Too many connections from this address");
		return;
	}

	if (relay_db_down()) {
		/* Fail fast: do not queue lookups behind connect timeouts. */
		relay_job_free(j);
		relay_session_close(s, 1013, "unavailable", "Database unavailable, try again later");
		return;
	}
	if (relay_rooms_join(s) < 0) {
		relay_job_free(j);
		relay_session_close(s, 1011, "internal_error", "Out of memory");
		return;
	}
	s->holding = true;
	lws_rx_flow_control(wsi, 0); /* not served until the lookup answers */
	j->conn_id = s->conn_id;
	j->room_id = s->room_id;
	j->last_id = s->resume_from;
	if (relay_db_submit(j) < 0)
		relay_session_close(s, 1013, "unavailable", "Service unavailable, try again later");
}

/* ---- results ---------------------------------------------------------- */

static void closing_job(int64_t presence_id)
{
	if (!presence_id)
		return;
	relay_job *j = relay_job_new(JOB_CLOSE);
	if (j) {
		j->presence_id = presence_id;
		relay_db_submit(j);
	}
}

static void auth_failed(relay_session *s, relay_result *r)
{
	relay_g->m.auth_failures_total++;
	switch (r->err) {
	case CHAT_ERR_AUTH:
		relay_session_close(s, 4401, "invalid_user", r->why ? r->why : "User not found or inactive");
		break;
	case CHAT_ERR_NOT_FOUND:
		relay_session_close(s, 4404, "room_not_found", "Room not found");
		break;
	case CHAT_ERR_FORBIDDEN:
		relay_session_close(s, 4403, "forbidden", "Not allowed in this room");
		break;
	case CHAT_ERR_UNAVAILABLE:
		relay_session_close(s, 1013, "unavailable",
		                    "Database unavailable, try again later");
		break;
	default:
		relay_session_close(s, 1011, "internal_error", "Internal error");
		break;
	}
}

static void on_auth(relay_result *r)
{
	/* The instance this connection's presence row hangs off: known here
	 * before its first typing event, whichever result came first. */
	if (r->instance_id && !relay_g->instance_id)
		relay_g->instance_id = r->instance_id;
	relay_session *s = relay_conns_find(r->conn_id);
	if (!s || s->state != RS_AUTH) {
		closing_job(r->presence_id); /* it went away meanwhile */
		return;
	}
	s->presence_id = r->presence_id; /* CLOSED removes it, whatever happens now */
	if (r->err != CHAT_OK) {
		auth_failed(s, r);
		return;
	}
	s->user.id = r->user.id;
	s->room_private = r->room_private;
	if (r->snap_ids && (s->snap = malloc(sizeof(*s->snap)))) {
		*s->snap = (relay_snapshot){ r->snap_floor, r->snap_ids, r->snap_n,
		                             relay_follower_cycles() };
		r->snap_ids = NULL;
	}
	s->state = RS_OPEN;
	relay_frame *est = r->established;
	r->established = NULL;
	send_own(s, est);
	if (s->bad_last_id)
		relay_session_error(s, "last_id must be a non-negative integer; no resume",
		                    "invalid_field");
	if (s->resume_from >= 0 && s->state == RS_OPEN)
		relay_session_replay(s, s->resume_from); /* holds live events until it is done */
	release_held(s);
	if (s->state == RS_OPEN && !relay_g->shutting_down)
		lws_rx_flow_control(s->wsi, 1);
	chat_log_debug("connection %llu: user %lld in room %lld", (unsigned long long)s->conn_id,
	               (long long)s->user.id, (long long)s->room_id);
}

static void on_insert(relay_result *r)
{
	if (relay_g->pending_inserts)
		relay_g->pending_inserts--;
	relay_session *s = relay_conns_find(r->conn_id);
	if (!s || s->state != RS_OPEN)
		return;
	switch (r->err) {
	case CHAT_OK:
		if (r->frame) { /* client_id retry: the stored message, to this connection */
			relay_frame *f = r->frame;
			r->frame = NULL;
			if (!s->retries)
				s->retries = calloc(1, sizeof(*s->retries));
			if (s->retries) /* without: the live event may come twice */
				s->retries->ids[s->retries->next++ % RELAY_RETRY_IDS] = f->msg_id;
			send_own(s, f);
		}
		break;
	case CHAT_ERR_UNAVAILABLE:
		relay_session_error(s, "Database unavailable; the message was not stored",
		                    "unavailable");
		break;
	case CHAT_ERR_NOT_FOUND:
		/* The room is gone, or became private and the sender is not a
		 * member (the DAL checks under the room lock): as the access
		 * recheck does. */
		relay_session_close(s, 4404, "room_not_found",
		                    "You no longer have access to this room");
		break;
	case CHAT_ERR_GONE:
		relay_session_error(s, "That message has been deleted", "not_found");
		break;
	case CHAT_ERR_INVALID:
		relay_session_error(s, "Invalid message", "invalid_field");
		break;
	case CHAT_ERR_FORBIDDEN:
		relay_session_error(s, "Not allowed", "forbidden");
		break;
	default:
		relay_session_error(s, "Internal error; the message was not stored", "internal_error");
		break;
	}
}

static void readd_one(relay_session *s, void *arg)
{
	(void)arg;
	if (s->state != RS_OPEN)
		return;
	s->presence_id = 0;
	relay_job *j = relay_job_new(JOB_PRESENCE_READD);
	if (!j)
		return;
	j->conn_id = s->conn_id;
	j->room_id = s->room_id;
	j->user_id = s->user.id;
	relay_db_submit(j);
}

void relay_session_handle_result(relay_result *r)
{
	switch (r->kind) {
	case RES_EVENT: {
		relay_frame *f = r->frame;
		r->frame = NULL;
		atomic_fetch_sub(&relay_events_in_flight, 1);
		relay_typing_seen(f);
		relay_rooms_dispatch(f); /* frees it once every recipient wrote it */
		break;
	}
	case RES_AUTH:
		on_auth(r);
		break;
	case RES_REPLAY:
		on_replay(r);
		break;
	case RES_INSERT:
		on_insert(r);
		break;
	case RES_INSTANCE:
		relay_g->heartbeat_busy = false;
		if (r->instance_id)
			relay_g->instance_id = r->instance_id;
		if (r->reregistered)
			relay_conns_each(readd_one, NULL);
		break;
	case RES_PRESENCE: {
		relay_session *s = relay_conns_find(r->conn_id);
		if (s && s->state != RS_CLOSING)
			s->presence_id = r->presence_id;
		else
			closing_job(r->presence_id);
		break;
	}
	case RES_JOB_DONE:
		relay_g->unregistered = true;
		break;
	case RES_RECHECK: {
		relay_session *s = relay_conns_find(r->conn_id);
		if (!s || s->state == RS_CLOSING)
			break;
		if (s->recheck_pending > 0)
			s->recheck_pending--;
		if (r->err == CHAT_ERR_NOT_FOUND) {
			relay_session_close(s, 4404, "room_not_found",
			                    "You no longer have access to this room");
			break;
		}
		if (r->err == CHAT_OK)
			s->room_private = r->room_private;
		/* (database down: keep serving, as before the change) */
		release_held(s);
		break;
	}
	}
}

/* ---- receiving ------------------------------------------------------------- */

static bool rate_ok(relay_session *s)
{
	const chat_config *cfg = relay_g->cfg;
	int64_t now = relay_now_ms();
	s->tokens += (double)(now - s->tokens_ms) * cfg->relay.rate_limit / 1000.0;
	if (s->tokens > cfg->relay.rate_burst)
		s->tokens = cfg->relay.rate_burst;
	s->tokens_ms = now;
	if (s->tokens >= 1.0 && relay_limits_user_frame(s, now)) {
		s->tokens -= 1.0;
		s->rate_noticed = false;
		return true;
	}
	relay_g->m.rate_limited_total++;
	if (!s->rate_noticed) { /* one error per burst of refused frames */
		s->rate_noticed = true;
		relay_session_error(s, "Too many frames; slow down", "rate_limited");
	}
	return false;
}

/* Size of the reassembly buffer holding len bytes (and a NUL): a power of
 * two from 256 on, at most max + 1. A function of the length, so the
 * session keeps no capacity field. libwebsockets hands a message over in
 * pieces of at most the protocol's rx_buffer_size (server.c). */
static size_t rx_cap(size_t len, size_t max)
{
	size_t cap = 256;
	while (cap < len + 1)
		cap *= 2;
	return cap > max + 1 ? max + 1 : cap;
}

static void on_receive(relay_session *s, struct lws *wsi, const void *in, size_t len)
{
	if (s->state == RS_CLOSING)
		return; /* read only to reach the client's close; never acknowledged */
	size_t max = (size_t)relay_g->cfg->relay.max_frame_size;
	if (lws_is_first_fragment(wsi)) {
		s->rx_len = 0;
		s->rx_discard = false;
		s->rx_binary = lws_frame_is_binary(wsi);
	}
	if (!s->rx_discard) {
		if (s->rx_len + len > max) {
			s->rx_discard = true; /* the rest of this message is thrown away */
			s->rx_len = 0;
		} else {
			size_t cap = rx_cap(s->rx_len, max), need = s->rx_len + len + 1;
			if (!s->rx || need > cap) {
				char *n = realloc(s->rx, rx_cap(need - 1, max));
				if (!n) {
					s->rx_discard = true;
					s->rx_len = 0;
					goto check_final;
				}
				s->rx = n;
			}
			memcpy(s->rx + s->rx_len, in, len);
			s->rx_len += (uint32_t)len; /* at most max_frame_size */
		}
	}
check_final:
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) != 0)
		return;
	relay_g->m.frames_in_total++;
	if (s->state != RS_OPEN)
		goto done; /* closing: nothing more is served */
	if (!rate_ok(s))
		goto done;
	if (s->rx_discard) {
		char msg[96];
		snprintf(msg, sizeof(msg), "Frame larger than %zu bytes", max);
		relay_session_error(s, msg, "frame_too_large");
		goto done;
	}
	if (s->rx_binary) {
		relay_session_error(s, "Binary frames are not supported; send JSON text",
		                    "invalid_frame");
		goto done;
	}
	s->rx[s->rx_len] = '\0';
	relay_frames_handle(s, s->rx, s->rx_len);
done:
	/* an idle connection keeps no buffer (a message is rare next to the
	 * connection's lifetime; a malloc per message costs nothing next to
	 * its JSON) */
	free(s->rx);
	s->rx = NULL;
	s->rx_len = 0;
	s->rx_discard = false;
}

/* ---- typing expiry -------------------------------------------------------- */

/* A client that takes none of its output for relay.send_timeout is a
 * slow consumer too, even before its queue fills (a replay it does not
 * read, a quiet room). Taken = acknowledged by the client's TCP (Linux);
 * elsewhere, what was written to the socket since the last tick minus what
 * the socket's queue grew by. Frames merely written into the kernel's
 * buffer, or held by libwebsockets, are not taken. Connections with
 * nothing written and nothing waiting cost no system call. */
static void check_stalled(relay_session *s, void *arg)
{
	int64_t now_ms = *(const int64_t *)arg;
	if (s->state != RS_OPEN)
		return;
	drop_snapshot_settled(s);
	uint64_t wrote = s->written - s->written_seen;
	if (!wrote && !s->unsent_seen && !s->q.count) {
		s->stalled_since_ms = 0;
		relay_sendq_free(&s->q); /* idle for a second: no ring kept */
		return;
	}
	size_t left = unsent(s);
	uint64_t acked = 0;
	bool taken;
	if (relay_sock_acked(lws_get_socket_fd(s->wsi), &acked)) {
		taken = acked != s->acked_seen;
		s->acked_seen = acked;
	} else {
		taken = wrote + s->unsent_seen > left;
	}
	s->written_seen = s->written;
	s->unsent_seen = left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
	if (taken || (!left && !s->q.count)) {
		s->stalled_since_ms = 0;
		replay_more(s); /* in case the socket drained since it last looked */
		return;
	}
	if (!s->stalled_since_ms)
		s->stalled_since_ms = now_ms;
	else if (now_ms - s->stalled_since_ms >= 1000LL * relay_g->cfg->relay.send_timeout)
		cut_off_slow(s);
}

void relay_session_tick(int64_t now_ms)
{
	relay_conns_each(check_stalled, &now_ms);
	for (relay_session *s = relay_g->typing_head, *next; s; s = next) {
		next = s->typing_next;
		if (s->typing && now_ms >= s->typing_deadline_ms) {
			relay_job *j = relay_job_new(JOB_EMIT);
			if (j) {
				j->conn_id = s->conn_id;
				j->room_id = s->room_id;
				j->user_id = s->user.id;
				j->ev_kind = CHAT_EV_TYPING;
				j->ref_id = relay_typing_ref(false, relay_origin_of(relay_g->instance_id,
				                                                     s->conn_id));
				relay_db_submit(j);
			}
			s->typing = false;
			/* unlink */
			if (s->typing_prev)
				s->typing_prev->typing_next = s->typing_next;
			else
				relay_g->typing_head = s->typing_next;
			if (s->typing_next)
				s->typing_next->typing_prev = s->typing_prev;
			s->typing_prev = s->typing_next = NULL;
			s->in_typing_list = false;
		}
	}
}

static void typing_unlink(relay_session *s)
{
	if (!s->in_typing_list)
		return;
	if (s->typing_prev)
		s->typing_prev->typing_next = s->typing_next;
	else
		relay_g->typing_head = s->typing_next;
	if (s->typing_next)
		s->typing_next->typing_prev = s->typing_prev;
	s->typing_prev = s->typing_next = NULL;
	s->in_typing_list = false;
}

/* frames.c calls this for {"type":"typing"}. */
void relay_session_typing(relay_session *s, bool is_typing);
void relay_session_typing(relay_session *s, bool is_typing)
{
	relay_job *j = relay_job_new(JOB_EMIT);
	if (!j)
		return;
	j->conn_id = s->conn_id;
	j->room_id = s->room_id;
	j->user_id = s->user.id;
	j->ev_kind = CHAT_EV_TYPING;
	j->ref_id = relay_typing_ref(is_typing, relay_origin_of(relay_g->instance_id, s->conn_id));
	if (relay_db_submit(j) < 0) {
		relay_session_error(s, "Service busy, try again later", "unavailable");
		return;
	}
	if (is_typing) {
		s->typing = true;
		s->typing_deadline_ms = relay_now_ms() + 1000LL * relay_g->cfg->relay.typing_timeout;
		if (!s->in_typing_list) {
			s->typing_prev = NULL;
			s->typing_next = relay_g->typing_head;
			if (relay_g->typing_head)
				relay_g->typing_head->typing_prev = s;
			relay_g->typing_head = s;
			s->in_typing_list = true;
		}
	} else {
		s->typing = false;
		typing_unlink(s);
	}
}

/* ---- close -------------------------------------------------------------- */

static void on_closed(relay_session *s)
{
	leave_round(s);
	relay_closing_done(s);
	if (!s->conn_id)
		goto free_bufs;
	typing_unlink(s);
	relay_rooms_leave(s);
	relay_conns_remove(s);
	relay_limits_release(s);
	relay_wsguard_watch(lws_get_socket_fd(s->wsi), false);
	relay_g->n_sessions--;
	if (s->presence_id || s->typing) {
		relay_job *j = relay_job_new(JOB_CLOSE);
		if (j) {
			j->conn_id = s->conn_id;
			j->presence_id = s->presence_id;
			j->typing_off = s->typing;
			j->room_id = s->room_id;
			j->user_id = s->user.id;
			j->ref_id = relay_typing_ref(false, relay_origin_of(relay_g->instance_id,
			                                                     s->conn_id));
			relay_db_submit(j);
		}
	}
	s->conn_id = 0;
free_bufs:
	relay_sendq_free(&s->q);
	free_held(s);
	free(s->rx);
	s->rx = NULL;
	drop_snapshot(s);
	free(s->rp);
	s->rp = NULL;
	free(s->close_reason);
	s->close_reason = NULL;
	free(s->retries);
	s->retries = NULL;
}

/* ---- shutdown ------------------------------------------------------------ */

static void pause_one(relay_session *s, void *arg)
{
	(void)arg;
	if (s->state != RS_CLOSING)
		lws_rx_flow_control(s->wsi, 0);
}

void relay_session_pause_all(void)
{
	relay_conns_each(pause_one, NULL);
}

static void close_one(relay_session *s, void *arg)
{
	if (s->state == RS_CLOSING)
		return;
	/* Shutting down: do not make every client drain a long backlog of
	 * events first (they resume with last_id and get them again); keep
	 * the frames that are not events (errors, a client_id retry's
	 * message). */
	relay_sendq keep;
	memset(&keep, 0, sizeof(keep));
	relay_frame *f;
	while ((f = relay_sendq_pop(&s->q))) {
		if (f->ev_id == 0 && f->kind == CHAT_EV_UNKNOWN) /* replayed messages are events too */
			relay_sendq_push(&keep, f, 0, 0);
		relay_frame_unref(f);
	}
	relay_sendq_free(&s->q);
	s->q = keep;
	relay_session_close(s, 1001, NULL, arg);
	/* Read again (and drop) what the client sent since the pause, so the
	 * close handshake completes: a socket closed with unread input is
	 * reset, and the reset can overtake the close frame (the client then
	 * sees 1006, not 1001). */
	lws_rx_flow_control(s->wsi, 1);
}

void relay_session_close_all(int code, const char *reason)
{
	(void)code;
	relay_conns_each(close_one, (void *)reason);
}

/* ---- HTTP: /healthz and /metrics ---------------------------------------- */

static int on_http(relay_session *s, struct lws *wsi, const char *path)
{
	const char *ctype = "text/plain; charset=utf-8";
	http_answer_free(s);
	relay_http_answer *a = s->http = calloc(1, sizeof(*s->http));
	if (!a)
		return -1;
	a->status = relay_metrics_http(path, &a->body, &a->len, &ctype);
	if (!a->body)
		return -1;
	unsigned char hdr[LWS_PRE + 512];
	unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
	if (lws_add_http_common_headers(wsi, (unsigned)a->status, ctype, (lws_filepos_t)a->len, &p,
	                                end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
	                                 (const unsigned char *)"no-store", 8, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	lws_callback_on_writable(wsi);
	return 0;
}

static int on_http_writeable(relay_session *s, struct lws *wsi)
{
	relay_http_answer *a = s->http;
	if (!a || !a->body)
		return -1;
	unsigned char *buf = malloc(LWS_PRE + a->len + 1);
	if (!buf)
		return -1;
	memcpy(buf + LWS_PRE, a->body, a->len);
	int n = lws_write(wsi, buf + LWS_PRE, a->len, LWS_WRITE_HTTP_FINAL);
	free(buf);
	http_answer_free(s);
	if (n < 0)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- the protocol callback ------------------------------------------------- */

int relay_session_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                           void *in, size_t len)
{
	relay_session *s = user;
	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED: {
		relay_wsguard_sweep();
		relay_result *r = relay_take_results();
		in_round = true;
		while (r) {
			relay_result *next = r->next;
			relay_session_handle_result(r);
			relay_result_free(r);
			r = next;
		}
		in_round = false;
		flush_round();
		return 0;
	}
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return relay_g->shutting_down ? 1 : 0;
	case LWS_CALLBACK_ESTABLISHED:
		on_open(s, wsi);
		relay_keepalive_start(s);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		relay_keepalive_heard(s);
		on_receive(s, wsi, in, len);
		return 0;
	case LWS_CALLBACK_RECEIVE_PONG:
		relay_keepalive_heard(s);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return on_writeable(s);
	case LWS_CALLBACK_TIMER: /* waiting for the socket: replay_more(), a close */
		if (s->state == RS_CLOSING)
			lws_callback_on_writable(wsi);
		else
			replay_more(s);
		return 0;
	case LWS_CALLBACK_CLOSED:
		on_closed(s);
		return 0;
	case LWS_CALLBACK_HTTP:
		return on_http(s, wsi, in ? (const char *)in : "/");
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return on_http_writeable(s, wsi);
	case LWS_CALLBACK_CLOSED_HTTP:
		if (s)
			http_answer_free(s);
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}
