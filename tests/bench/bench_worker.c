/* One chat-bench worker process: its share of the connections on one
 * libwebsockets client context, driven by a 1 ms tick. libwebsockets
 * opens, reads and writes the sockets in raw mode; the WebSocket
 * handshake and frames are bench_ws.c's.
 *
 * Phases: CONNECT (open connections at the configured rate, wait until each
 * got connection_established or failed) -> tell the parent 'R' -> wait for
 * 'G' -> RUN (fanout: senders send for --duration; connect: hold until the
 * parent's 'S') -> DRAIN (fanout: wait for late deliveries) -> DONE (the
 * result goes back to the parent).
 *
 * Everything here runs on the one service thread of the worker; the only
 * state shared with the parent is the pair of pipes. */
#include "config.h"

#include "bench.h"
#include "bench_ws.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libwebsockets.h>

/* Sequence numbers above this are not tracked (the bitmap would be huge). */
#define MAX_SEQ (1u << 24)
/* A frame or message bigger than this ends the connection (the online list
 * of a room of 100,000 is about 3 MiB). */
#define MAX_FRAME (8u << 20)
#define TICK_US 1000

enum phase { PH_CONNECT, PH_SETTLED, PH_RUN, PH_DRAIN, PH_DONE };
enum cstate { CS_IDLE, CS_CONNECTING, CS_UPGRADED, CS_READY, CS_FAILED, CS_CLOSED };

/* What a receiver saw of one sender of its room: a bitmap of sequence
 * numbers (bit seq set = received), grown on demand. */
struct pair {
	uint64_t *bits;
	uint32_t nwords;
	uint64_t unique;
	uint64_t last_seq;
};

/* One connection; lives for the whole worker (array slot). */
struct conn {
	struct lws *wsi;
	uint32_t gid;          /* global index: fanout room * clients + slot */
	uint32_t room;         /* worker-local room index (fanout) */
	uint32_t slot;         /* position in its room; senders are slots < senders */
	uint8_t state;
	uint8_t write_pending;
	uint8_t counted_ready;
	uint8_t request_sent;  /* the handshake's request is written */
	uint8_t in_message;    /* fragments of a message are being collected */
	uint8_t pong_due;      /* a ping to answer */
	uint8_t pong_len;
	uint16_t close_code;
	int64_t t_start;
	uint64_t sent;         /* sequence numbers 1..sent were sent */
	int64_t t_offset;      /* stagger of this sender's schedule */
	int64_t last_id;       /* last chat_message id received */
	struct pair *pairs;    /* one per sender of the room (fanout) */
	unsigned char *rx;     /* bytes read but not yet a whole frame */
	size_t rxlen, rxcap;
	unsigned char *msg;    /* a fragmented message being collected */
	size_t msglen, msgcap;
	unsigned char *pong;   /* the ping's payload to echo */
	char last_error[24];   /* code of the last error frame */
};

/* One room of this worker (fanout). */
struct room {
	long id;
	uint32_t first;        /* index of its first connection in conns[] */
	uint32_t nclients;
	uint32_t nready;
	uint64_t acked;
	uint64_t delivered_unique;
};

/* The worker; one per process. */
static struct {
	const bench_opts *o;
	unsigned id;
	int ctl_fd, res_fd;
	struct lws_context *ctx;
	struct conn *conns;
	uint32_t nconns;
	uint32_t launched;
	struct room *rooms;
	uint32_t nrooms;
	uint32_t nsenders;
	enum phase phase;
	int64_t t_connect0, t_last_launch, t_complete;
	struct rusage ru_go;
	json_tokener *tok;
	lws_sorted_usec_list_t tick;
	bench_result r;
	int stop;
	int evlib;              /* the context runs on libev (epoll) */
	uint64_t mask_state;    /* xorshift state for the client frames' masks */
	unsigned char wbuf[LWS_PRE + BENCH_WS_CLIENT_HDR_MAX + 65536];
} W;

int64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void bench_result_cause(bench_result *r, const char *text)
{
	unsigned i;
	for (i = 0; i < BENCH_MAX_CAUSES && r->cause[i].count; i++)
		if (!strncmp(r->cause[i].text, text, BENCH_CAUSE_LEN - 1)) {
			r->cause[i].count++;
			return;
		}
	if (i == BENCH_MAX_CAUSES)
		i = BENCH_MAX_CAUSES - 1; /* the last slot collects the rest */
	if (!r->cause[i].count)
		snprintf(r->cause[i].text, BENCH_CAUSE_LEN, "%s", text);
	r->cause[i].count++;
}

static int is_sender(const struct conn *c)
{
	return W.o->mode == BENCH_FANOUT && c->slot < W.o->senders;
}

static uint64_t acked_of(const struct conn *c)
{
	return c->pairs ? c->pairs[c->slot].unique : 0;
}

/* May sender c send its next message now? */
static int can_send(const struct conn *c, int64_t now)
{
	if (W.phase != PH_RUN || c->state != CS_READY || !is_sender(c))
		return 0;
	if (c->sent + 1 >= MAX_SEQ)
		return 0;
	if (W.o->window && c->sent - acked_of(c) >= W.o->window)
		return 0;
	if (W.o->rate > 0) {
		int64_t since = now - W.r.t_go - c->t_offset;
		if (since < 0)
			return 0;
		uint64_t due = (uint64_t)((double)since * W.o->rate / 1e9) + 1;
		if (c->sent >= due)
			return 0;
	}
	return 1;
}

static void want_write(struct conn *c)
{
	if (!c->write_pending && c->wsi) {
		c->write_pending = 1;
		lws_callback_on_writable(c->wsi);
	}
}

/* A new mask for a client frame (RFC 6455 wants one per frame; the bench
 * needs no cryptographic quality, only a fresh value). */
static uint32_t next_mask(void)
{
	uint64_t x = W.mask_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	W.mask_state = x;
	return (uint32_t)(x >> 16);
}

/* Write a client frame whose payload (len bytes) is already at
 * W.wbuf + LWS_PRE + BENCH_WS_CLIENT_HDR_MAX; lws keeps what the socket
 * does not take and finishes it. 0 or -1. */
static int write_frame(struct conn *c, unsigned opcode, size_t len)
{
	unsigned char *f = bench_ws_frame_client(W.wbuf + LWS_PRE, opcode, len, next_mask());
	size_t total = (size_t)(W.wbuf + LWS_PRE + BENCH_WS_CLIENT_HDR_MAX - f) + len;
	return lws_write(c->wsi, f, total, LWS_WRITE_RAW) < (int)total ? -1 : 0;
}

/* Append n bytes to a growing buffer, at most MAX_FRAME + 16 in all. */
static int buf_append(unsigned char **b, size_t *len, size_t *cap, const void *in, size_t n)
{
	if (*len + n > MAX_FRAME + 16)
		return -1;
	if (*len + n > *cap) {
		size_t nc = *cap ? *cap : 1024;
		while (nc < *len + n)
			nc *= 2;
		unsigned char *nb = realloc(*b, nc);
		if (!nb)
			return -1;
		*b = nb;
		*cap = nc;
	}
	memcpy(*b + *len, in, n);
	*len += n;
	return 0;
}

static void buf_free(unsigned char **b, size_t *len, size_t *cap)
{
	free(*b);
	*b = NULL;
	*len = *cap = 0;
}

/* Send the next message of sender c. Returns -1 to close the connection. */
static int send_next(struct conn *c)
{
	char content[4200];
	int64_t now = bench_now_ns();
	int n = snprintf(content, sizeof(content), "b:%" PRIu32 ":%" PRIu64 ":%" PRId64,
			 c->gid, c->sent + 1, now);
	if (n < 0 || (size_t)n >= sizeof(content))
		return -1;
	size_t clen = (size_t)n;
	if (W.o->msg_size > clen) {
		size_t want = W.o->msg_size < sizeof(content) - 1 ? W.o->msg_size : sizeof(content) - 1;
		content[clen++] = ':';
		while (clen < want)
			content[clen++] = 'x';
		content[clen] = '\0';
	}
	char *p = (char *)W.wbuf + LWS_PRE + BENCH_WS_CLIENT_HDR_MAX;
	size_t room = sizeof(W.wbuf) - LWS_PRE - BENCH_WS_CLIENT_HDR_MAX;
	n = snprintf(p, room, "{\"type\":\"chat_message\",\"content\":\"%s\",\"message_type\":\"text\"}",
		     content);
	if (n < 0 || (size_t)n >= room)
		return -1;
	if (write_frame(c, BENCH_WS_TEXT, (size_t)n))
		return -1;
	c->sent++;
	W.r.sent++;
	return 0;
}

/* Mark seq received in pair p. Returns 1 if new, 0 if a duplicate, -1 if
 * it cannot be tracked. */
static int pair_mark(struct pair *p, uint64_t seq)
{
	if (seq >= MAX_SEQ)
		return -1;
	uint32_t word = (uint32_t)(seq / 64);
	if (word >= p->nwords) {
		uint32_t n = p->nwords ? p->nwords : 16;
		while (n <= word)
			n *= 2;
		uint64_t *b = realloc(p->bits, (size_t)n * sizeof(*b));
		if (!b)
			return -1;
		memset(b + p->nwords, 0, (size_t)(n - p->nwords) * sizeof(*b));
		p->bits = b;
		p->nwords = n;
	}
	uint64_t bit = (uint64_t)1 << (seq % 64);
	if (p->bits[word] & bit)
		return 0;
	p->bits[word] |= bit;
	p->unique++;
	return 1;
}

/* Parse "b:<gid>:<seq>:<ns>[:padding]". Returns 0 on success. */
static int parse_content(const char *s, uint32_t *gid, uint64_t *seq, int64_t *ns)
{
	char *end;
	if (s[0] != 'b' || s[1] != ':')
		return -1;
	errno = 0;
	unsigned long long g = strtoull(s + 2, &end, 10);
	if (errno || *end != ':' || g > UINT32_MAX)
		return -1;
	unsigned long long q = strtoull(end + 1, &end, 10);
	if (errno || *end != ':')
		return -1;
	long long t = strtoll(end + 1, &end, 10);
	if (errno || (*end != '\0' && *end != ':'))
		return -1;
	*gid = (uint32_t)g;
	*seq = q;
	*ns = t;
	return 0;
}

static void on_delivery(struct conn *c, int64_t id, uint32_t gid, uint64_t seq, int64_t ns,
			int64_t now);

static void on_chat_message(struct conn *c, json_object *msg, int64_t now)
{
	json_object *jid, *jcontent;
	uint32_t gid;
	uint64_t seq;
	int64_t ns;

	if (!json_object_object_get_ex(msg, "id", &jid) ||
	    !json_object_object_get_ex(msg, "content", &jcontent) ||
	    !json_object_is_type(jcontent, json_type_string) ||
	    parse_content(json_object_get_string(jcontent), &gid, &seq, &ns) ||
	    W.o->mode != BENCH_FANOUT || !c->pairs) {
		W.r.foreign++;
		return;
	}
	on_delivery(c, json_object_get_int64(jid), gid, seq, ns, now);
}

/* Skip the literal lit at *p; 0 if it is there. */
static int skip_lit(const char **p, const char *end, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(end - *p) < n || memcmp(*p, lit, n))
		return -1;
	*p += n;
	return 0;
}

static int skip_int(const char **p, const char *end, int64_t *v)
{
	const char *q = *p;
	int64_t x = 0;
	while (q < end && *q >= '0' && *q <= '9' && q - *p < 18)
		x = x * 10 + (*q++ - '0');
	if (q == *p)
		return -1;
	*v = x;
	*p = q;
	return 0;
}

/* The chat_message frames of a chat-relay, read without a JSON parser:
 * {"type":"chat_message","message":{"id":N,"room_id":N,"content":"b:..."
 * (json-c's order and spacing), the content free of escapes. Anything
 * else (another server's frames, other frame types) returns -1 and goes
 * through json-c. At a few hundred thousand deliveries a second, parsing
 * each frame whole was most of the tool's CPU. */
static int fast_chat_message(struct conn *c, const char *buf, size_t len, int64_t now)
{
	const char *p = buf, *end = buf + len;
	int64_t id, room;
	uint32_t gid;
	uint64_t seq;
	int64_t ns;
	char content[64];

	if (W.o->mode != BENCH_FANOUT || !c->pairs ||
	    skip_lit(&p, end, "{\"type\":\"chat_message\",\"message\":{\"id\":") ||
	    skip_int(&p, end, &id) || skip_lit(&p, end, ",\"room_id\":") ||
	    skip_int(&p, end, &room) || skip_lit(&p, end, ",\"content\":\""))
		return -1;
	size_t n = 0;
	while (p + n < end && p[n] != '"' && p[n] != '\\' && n < sizeof(content) - 1) {
		content[n] = p[n];
		n++;
	}
	if (p + n >= end || p[n] == '\\')
		return -1;
	content[n] = '\0';
	if (parse_content(content, &gid, &seq, &ns))
		return -1;
	on_delivery(c, id, gid, seq, ns, now);
	return 0;
}

static void on_delivery(struct conn *c, int64_t id, uint32_t gid, uint64_t seq, int64_t ns,
			int64_t now)
{
	struct room *rm = &W.rooms[c->room];
	uint32_t room_gid0 = W.conns[rm->first].gid;
	if (gid < room_gid0 || gid >= room_gid0 + W.o->senders) {
		W.r.foreign++;
		return;
	}
	uint32_t slot = gid - room_gid0;
	struct pair *p = &c->pairs[slot];
	int fresh = pair_mark(p, seq);
	if (fresh < 0) {
		W.r.foreign++;
		return;
	}
	W.r.delivered++;
	W.r.t_last_delivery = now;
	if (!fresh) {
		W.r.duplicated++;
		return;
	}
	rm->delivered_unique++;
	W.r.delivered_unique++;
	if (seq < p->last_seq)
		W.r.out_of_order_seq++;
	else
		p->last_seq = seq;
	if (id <= c->last_id)
		W.r.out_of_order_id++;
	else
		c->last_id = id;
	bench_hist_add(&W.r.latency, now - ns);
	if (gid == c->gid) {
		/* our own message back: it is stored */
		W.r.acked++;
		rm->acked++;
		W.r.t_last_ack = now;
		bench_hist_add(&W.r.ack, now - ns);
		if (can_send(c, now))
			want_write(c);
	}
}

static void set_ready(struct conn *c, int64_t now)
{
	c->state = CS_READY;
	W.r.ready++;
	bench_hist_add(&W.r.connect, now - c->t_start);
	if (W.o->mode == BENCH_FANOUT) {
		W.rooms[c->room].nready++;
		c->counted_ready = 1;
	}
}

static int has_prefix(const char *buf, size_t len, const char *lit)
{
	size_t n = strlen(lit);
	return len >= n && !memcmp(buf, lit, n);
}

static void on_frame(struct conn *c, const char *buf, size_t len)
{
	int64_t now = bench_now_ns();
	json_object *root, *jtype, *jv;

	if (fast_chat_message(c, buf, len, now) == 0)
		return;
	/* Frames of the relay counted by their type alone: a room of
	 * thousands sends each newcomer an "online" list of thousands and
	 * everyone a user_join per newcomer (N^2/2 frames), which the tool
	 * must read as fast as they come, not parse. */
	if (has_prefix(buf, len, "{\"type\":\"connection_established\",")) {
		if (c->state == CS_UPGRADED || c->state == CS_CONNECTING)
			set_ready(c, now);
		else
			W.r.other_frames++;
		return;
	}
	if (has_prefix(buf, len, "{\"type\":\"user_join\",") ||
	    has_prefix(buf, len, "{\"type\":\"user_leave\",")) {
		W.r.other_frames++;
		return;
	}
	json_tokener_reset(W.tok);
	root = json_tokener_parse_ex(W.tok, buf, (int)len);
	if (!root || !json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "type", &jtype) ||
	    !json_object_is_type(jtype, json_type_string)) {
		W.r.other_frames++;
		goto out;
	}
	const char *type = json_object_get_string(jtype);
	if (!strcmp(type, "chat_message")) {
		if (json_object_object_get_ex(root, "message", &jv) &&
		    json_object_is_type(jv, json_type_object))
			on_chat_message(c, jv, now);
		else
			W.r.foreign++;
	} else if (!strcmp(type, "connection_established")) {
		if (c->state == CS_UPGRADED || c->state == CS_CONNECTING)
			set_ready(c, now);
		else
			W.r.other_frames++;
	} else if (!strcmp(type, "error")) {
		W.r.error_frames++;
		if (json_object_object_get_ex(root, "code", &jv) &&
		    json_object_is_type(jv, json_type_string)) {
			const char *code = json_object_get_string(jv);
			if (!strcmp(code, "rate_limited"))
				W.r.rate_limited++;
			snprintf(c->last_error, sizeof(c->last_error), "%s", code);
		}
	} else {
		W.r.other_frames++;
	}
out:
	if (root)
		json_object_put(root);
}

/* A connection that ended before connection_established, or dropped. */
static void conn_ended(struct conn *c, const char *why)
{
	char text[BENCH_CAUSE_LEN];
	int during = W.phase < PH_DONE;

	if (c->state == CS_READY) {
		if (c->counted_ready) {
			W.rooms[c->room].nready--;
			c->counted_ready = 0;
		}
		if (during) {
			W.r.dropped++;
			snprintf(text, sizeof(text), "dropped: %s", why);
			bench_result_cause(&W.r, text);
		}
	} else if (c->state == CS_CONNECTING || c->state == CS_UPGRADED) {
		W.r.failed++;
		bench_result_cause(&W.r, why);
	}
	c->state = c->state == CS_READY || c->state == CS_CLOSED ? CS_CLOSED : CS_FAILED;
	c->wsi = NULL;
	buf_free(&c->rx, &c->rxlen, &c->rxcap);
	buf_free(&c->msg, &c->msglen, &c->msgcap);
	free(c->pong);
	c->pong = NULL;
	c->pong_due = 0;
}

/* The URL path of connection c. 0, or -1 if it does not fit. */
static int conn_path(const struct conn *c, char *path, size_t cap)
{
	const bench_opts *o = W.o;
	long room_id = o->mode == BENCH_FANOUT ? W.rooms[c->room].id : o->room_ids[c->room];
	const char *token = o->tokens[c->gid % o->ntokens];
	int n = snprintf(path, cap, "%s/ws/chat/%ld/?token=%s", o->path_prefix, room_id, token);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Write the opening handshake's request. 0 or -1. */
static int send_request(struct conn *c)
{
	char path[2048], key[32];
	unsigned char nonce[16];

	for (int i = 0; i < 16; i += 4) {
		uint32_t m = next_mask();
		memcpy(nonce + i, &m, 4);
	}
	if (conn_path(c, path, sizeof(path)) ||
	    lws_b64_encode_string((const char *)nonce, 16, key, sizeof(key)) < 0)
		return -1;
	char *p = (char *)W.wbuf + LWS_PRE;
	int n = bench_ws_request(p, sizeof(W.wbuf) - LWS_PRE, W.o->host, W.o->port, path, key);
	if (n < 0 || lws_write(c->wsi, (unsigned char *)p, (size_t)n, LWS_WRITE_RAW) < n)
		return -1;
	c->request_sent = 1;
	return 0;
}

/* One whole frame from the server. Returns -1 to close the connection. */
static int on_ws_frame(struct conn *c, const bench_ws_frame *f, unsigned char *payload, size_t len)
{
	switch (f->opcode) {
	case BENCH_WS_TEXT:
	case BENCH_WS_BINARY:
		if (c->in_message)
			return -1; /* a new message inside a fragmented one */
		if (f->fin) {
			on_frame(c, (const char *)payload, len);
			return 0;
		}
		c->in_message = 1;
		c->msglen = 0;
		return buf_append(&c->msg, &c->msglen, &c->msgcap, payload, len);
	case BENCH_WS_CONT:
		if (!c->in_message || buf_append(&c->msg, &c->msglen, &c->msgcap, payload, len))
			return -1;
		if (f->fin) {
			c->in_message = 0;
			on_frame(c, (const char *)c->msg, c->msglen);
			buf_free(&c->msg, &c->msglen, &c->msgcap);
		}
		return 0;
	case BENCH_WS_PING:
		/* answered from the next WRITEABLE; a newer ping replaces an older one */
		if (!c->pong && !(c->pong = malloc(125)))
			return -1;
		memcpy(c->pong, payload, len);
		c->pong_len = (uint8_t)len;
		c->pong_due = 1;
		want_write(c);
		return 0;
	case BENCH_WS_CLOSE:
		if (len >= 2)
			c->close_code = (uint16_t)(payload[0] << 8 | payload[1]);
		return -1;
	case BENCH_WS_PONG:
		return 0;
	default:
		return -1;
	}
}

/* Bytes read from the socket: the handshake's response, then frames. A
 * frame that arrived whole is handled where it lies; the rest of one is
 * kept until it is complete. Returns -1 to close the connection. */
static int on_bytes(struct conn *c, unsigned char *in, size_t len)
{
	unsigned char *buf = in;
	size_t n = len, off = 0;

	if (c->rxlen) {
		if (buf_append(&c->rx, &c->rxlen, &c->rxcap, in, len)) {
			conn_ended(c, "frame larger than the bench's limit");
			return -1;
		}
		buf = c->rx;
		n = c->rxlen;
	}
	if (c->state == CS_CONNECTING) {
		long head = bench_ws_response((const char *)buf, n);
		if (head < 0) {
			char text[BENCH_CAUSE_LEN];
			size_t l = 0;
			while (l < n && l < 40 && buf[l] != '\r' && buf[l] != '\n')
				l++;
			snprintf(text, sizeof(text), "handshake refused: %.*s", (int)l, (const char *)buf);
			conn_ended(c, text);
			return -1;
		}
		if (head > 0) { /* else the response is not complete: all of it is kept */
			c->state = CS_UPGRADED;
			W.r.upgraded++;
			off = (size_t)head;
		}
	}
	while (c->state != CS_CONNECTING && off < n) {
		bench_ws_frame f;
		int r = bench_ws_parse(buf + off, n - off, &f);
		if (r < 0 || (r > 0 && f.payload_len > MAX_FRAME)) {
			conn_ended(c, r < 0 ? "a frame no server may send" : "frame larger than the bench's limit");
			return -1;
		}
		if (r == 0 || n - off - f.header_len < f.payload_len)
			break;
		unsigned char *payload = buf + off + f.header_len;
		size_t plen = (size_t)f.payload_len;
		if (f.masked)
			bench_ws_unmask(payload, plen, f.mask);
		off += f.header_len + plen;
		if (on_ws_frame(c, &f, payload, plen))
			return -1;
	}
	size_t left = n - off;
	if (buf == c->rx) {
		if (!left)
			buf_free(&c->rx, &c->rxlen, &c->rxcap); /* idle connections hold no buffer */
		else {
			memmove(c->rx, c->rx + off, left);
			c->rxlen = left;
		}
	} else if (left && buf_append(&c->rx, &c->rxlen, &c->rxcap, buf + off, left)) {
		return -1;
	}
	return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		    void *in, size_t len)
{
	struct conn *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;
	char text[BENCH_CAUSE_LEN];

	(void)user;
	if (!c)
		return 0;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (c->state == CS_CONNECTING || c->state == CS_UPGRADED) {
			snprintf(text, sizeof(text), "connect error: %s",
				 in ? (const char *)in : "(none)");
			conn_ended(c, text);
		}
		break;

	case LWS_CALLBACK_RAW_CONNECTED:
		want_write(c);
		break;

	case LWS_CALLBACK_RAW_RX:
		if (c->state == CS_FAILED || c->state == CS_CLOSED)
			return -1;
		if (on_bytes(c, in, len))
			return -1;
		break;

	case LWS_CALLBACK_RAW_WRITEABLE:
		c->write_pending = 0;
		if (!c->request_sent)
			return send_request(c);
		if (c->pong_due) {
			memcpy(W.wbuf + LWS_PRE + BENCH_WS_CLIENT_HDR_MAX, c->pong, c->pong_len);
			c->pong_due = 0;
			if (write_frame(c, BENCH_WS_PONG, c->pong_len))
				return -1;
			/* one write per WRITEABLE: the message waits for the next */
			if (can_send(c, bench_now_ns()))
				want_write(c);
			break;
		}
		/* Everything the window (and the rate) allows now, in one go:
		 * one message per WRITEABLE let a busy tool, reading a
		 * thousand sockets per loop pass, hold the sender to a message
		 * a pass, far below what its window allows. */
		for (int k = 0; k < 256 && can_send(c, bench_now_ns()); k++) {
			if (send_next(c))
				return -1;
			if (lws_partial_buffered(c->wsi))
				break; /* the socket is full: the rest when it drains */
		}
		if (can_send(c, bench_now_ns()))
			want_write(c);
		break;

	case LWS_CALLBACK_RAW_CLOSE:
		if (c->state != CS_CONNECTING && c->state != CS_UPGRADED && c->state != CS_READY)
			break;
		if (!c->close_code)
			snprintf(text, sizeof(text), "closed without a close code%s%s%s",
				 c->last_error[0] ? " (error " : "", c->last_error, c->last_error[0] ? ")" : "");
		else if (c->last_error[0])
			snprintf(text, sizeof(text), "closed %u (error %s)", c->close_code, c->last_error);
		else
			snprintf(text, sizeof(text), "closed %u", c->close_code);
		conn_ended(c, text);
		break;

	case LWS_CALLBACK_WSI_DESTROY:
		/* the last word on every wsi: never keep a pointer to a freed one,
		 * whatever path closed it */
		if (c->wsi == wsi || c->state == CS_CONNECTING || c->state == CS_UPGRADED) {
			if (c->state == CS_CONNECTING || c->state == CS_UPGRADED || c->state == CS_READY)
				conn_ended(c, c->state == CS_READY ? "connection destroyed"
								    : "connection destroyed before connection_established");
			c->wsi = NULL;
		}
		break;

	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	/* raw connections read into the context's buffer (pt_serv_buf_size) */
	{ "chat-bench", callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* Owner of a connection (connect mode) or room (fanout). */
static unsigned owner(uint32_t i)
{
	return i % W.o->procs;
}

static int setup(void)
{
	const bench_opts *o = W.o;

	if (o->mode == BENCH_CONNECT) {
		uint32_t n = 0;
		for (uint32_t i = 0; i < o->connections; i++)
			n += owner(i) == W.id;
		W.conns = calloc(n ? n : 1, sizeof(*W.conns));
		if (!W.conns)
			return -1;
		for (uint32_t i = 0; i < o->connections; i++)
			if (owner(i) == W.id) {
				struct conn *c = &W.conns[W.nconns++];
				c->gid = i;
				c->room = i % (uint32_t)o->nrooms;
			}
		return 0;
	}

	uint32_t nr = 0;
	for (uint32_t ri = 0; ri < o->nrooms; ri++)
		nr += owner(ri) == W.id;
	W.rooms = calloc(nr ? nr : 1, sizeof(*W.rooms));
	W.conns = calloc((size_t)(nr ? nr : 1) * o->clients, sizeof(*W.conns));
	if (!W.rooms || !W.conns)
		return -1;
	for (uint32_t ri = 0; ri < o->nrooms; ri++) {
		if (owner(ri) != W.id)
			continue;
		struct room *rm = &W.rooms[W.nrooms];
		rm->id = o->room_ids[ri];
		rm->first = W.nconns;
		rm->nclients = o->clients;
		for (uint32_t k = 0; k < o->clients; k++) {
			struct conn *c = &W.conns[W.nconns++];
			c->gid = ri * o->clients + k;
			c->room = W.nrooms;
			c->slot = k;
			c->pairs = calloc(o->senders ? o->senders : 1, sizeof(*c->pairs));
			if (!c->pairs)
				return -1;
		}
		W.nrooms++;
	}
	/* spread the senders' schedules over one period so they do not send in bursts */
	uint32_t total = 0, idx = 0;
	for (uint32_t i = 0; i < W.nconns; i++)
		total += is_sender(&W.conns[i]);
	W.nsenders = total;
	for (uint32_t i = 0; i < W.nconns; i++)
		if (is_sender(&W.conns[i]) && o->rate > 0)
			W.conns[i].t_offset = (int64_t)(1e9 / o->rate * idx++ / total);
	return 0;
}

static const lws_retry_bo_t no_validity; /* all zero: no validity timer */

static void launch(struct conn *c)
{
	const bench_opts *o = W.o;
	struct lws_client_connect_info ci;
	char path[2048];

	c->t_start = bench_now_ns();
	c->state = CS_CONNECTING;
	W.r.attempted++;
	if (conn_path(c, path, sizeof(path))) {
		conn_ended(c, "URL too long");
		return;
	}
	memset(&ci, 0, sizeof(ci));
	ci.context = W.ctx;
	ci.address = o->host;
	ci.port = o->port;
	ci.path = path;
	ci.host = o->host;
	ci.method = "RAW"; /* the handshake and frames are ours (bench_ws.c) */
	ci.local_protocol_name = protocols[0].name;
	ci.opaque_user_data = c;
	ci.pwsi = &c->wsi;
	ci.retry_and_idle_policy = &no_validity;
	if (o->nsource)
		ci.iface = o->source_addrs[c->gid % o->nsource];
	if (!lws_client_connect_via_info(&ci) && c->state == CS_CONNECTING)
		conn_ended(c, "connect error: lws_client_connect_via_info failed");
}

static int settled(void)
{
	for (uint32_t i = 0; i < W.nconns; i++)
		if (W.conns[i].state == CS_CONNECTING || W.conns[i].state == CS_UPGRADED ||
		    W.conns[i].state == CS_IDLE)
			return 0;
	return 1;
}

/* Fanout: every sender acknowledged and every ready receiver has everything. */
static int drained(void)
{
	for (uint32_t i = 0; i < W.nconns; i++) {
		struct conn *c = &W.conns[i];
		if (is_sender(c) && c->state == CS_READY && acked_of(c) < c->sent)
			return 0;
	}
	for (uint32_t r = 0; r < W.nrooms; r++)
		if (W.rooms[r].delivered_unique < W.rooms[r].acked * W.rooms[r].nready)
			return 0;
	return 1;
}

static void go(int64_t now)
{
	W.phase = PH_RUN;
	W.r.t_go = now;
	getrusage(RUSAGE_SELF, &W.ru_go);
	for (uint32_t i = 0; i < W.nconns; i++)
		if (can_send(&W.conns[i], now))
			want_write(&W.conns[i]);
}

static void account(void);

/* The result to the parent; 0 when it was sent. */
static int report(void)
{
	struct rusage ru;

	W.r.t_end = bench_now_ns();
	getrusage(RUSAGE_SELF, &ru);
	W.r.cpu_user = (double)(ru.ru_utime.tv_sec - W.ru_go.ru_utime.tv_sec) +
		       (double)(ru.ru_utime.tv_usec - W.ru_go.ru_utime.tv_usec) / 1e6;
	W.r.cpu_sys = (double)(ru.ru_stime.tv_sec - W.ru_go.ru_stime.tv_sec) +
		      (double)(ru.ru_stime.tv_usec - W.ru_go.ru_stime.tv_usec) / 1e6;
	W.r.maxrss_kb = ru.ru_maxrss;
	if (W.o->mode == BENCH_FANOUT)
		account();
	return bench_write_full(W.res_fd, &W.r, sizeof(W.r));
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
	int64_t now = bench_now_ns();
	const bench_opts *o = W.o;
	ssize_t n;
	char cmd;

	switch (W.phase) {
	case PH_CONNECT: {
		double per_worker = o->connect_rate / o->procs;
		uint64_t due = per_worker > 0 ? (uint64_t)((double)(now - W.t_connect0) * per_worker / 1e9) + 1
					      : W.nconns;
		while (W.launched < W.nconns && W.launched < due) {
			launch(&W.conns[W.launched++]);
			W.t_last_launch = now;
		}
		if (W.launched == W.nconns) {
			if (!settled() && now - W.t_last_launch > (int64_t)(o->settle_timeout * 1e9)) {
				for (uint32_t i = 0; i < W.nconns; i++) {
					struct conn *c = &W.conns[i];
					if (c->state == CS_CONNECTING || c->state == CS_UPGRADED) {
						W.r.failed++;
						bench_result_cause(&W.r, "no connection_established before the settle timeout");
						c->state = CS_FAILED;
						if (c->wsi)
							lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
					}
				}
			}
			if (settled()) {
				W.phase = PH_SETTLED;
				if (bench_write_full(W.res_fd, "R", 1))
					W.stop = 1;
			}
		}
		break;
	}
	case PH_SETTLED:
		n = read(W.ctl_fd, &cmd, 1);
		if (n == 1 && cmd == 'G')
			go(now);
		else if (n == 0)
			W.stop = 1; /* the parent is gone */
		break;
	case PH_RUN:
		if (o->mode == BENCH_CONNECT) {
			n = read(W.ctl_fd, &cmd, 1);
			if (n == 1 && cmd == 'S') {
				W.r.t_send_end = now;
				W.phase = PH_DONE;
			} else if (n == 0) {
				W.stop = 1;
			}
			break;
		}
		if (now - W.r.t_go >= (int64_t)(o->duration * 1e9)) {
			W.phase = PH_DRAIN;
			W.r.t_send_end = now;
			break;
		}
		if (o->rate > 0)
			for (uint32_t i = 0; i < W.nconns; i++)
				if (!W.conns[i].write_pending && can_send(&W.conns[i], now))
					want_write(&W.conns[i]);
		break;
	case PH_DRAIN:
		if (!W.t_complete && drained())
			W.t_complete = now;
		/* a short grace after completion catches duplicates */
		if ((W.t_complete && now - W.t_complete > 200000000) ||
		    now - W.r.t_send_end >= (int64_t)(o->drain * 1e9))
			W.phase = PH_DONE;
		break;
	case PH_DONE:
		break;
	}
	if (W.phase == PH_DONE || W.stop) {
		W.stop = 1;
		/* lws 4.3 never returns from its own libev loop after
		 * lws_context_destroy() in a callback (4.1 did): report from
		 * here and end the worker process. */
		if (W.evlib)
			_exit(W.phase == PH_DONE && report() == 0 ? 0 : 1);
		lws_cancel_service(W.ctx);
		return;
	}
	lws_sul_schedule(W.ctx, 0, &W.tick, on_tick, TICK_US);
}

static uint64_t popcount_words(const uint64_t *w, uint32_t n)
{
	uint64_t s = 0;
	for (uint32_t i = 0; i < n; i++)
		s += (uint64_t)__builtin_popcountll(w[i]);
	return s;
}

/* Final accounting of a fanout run: for each sender, the messages stored
 * are those anyone in the room received; every receiver that reached
 * connection_established should have each of them once. */
static void account(void)
{
	const bench_opts *o = W.o;
	for (uint32_t r = 0; r < W.nrooms; r++) {
		struct room *rm = &W.rooms[r];
		for (uint32_t s = 0; s < o->senders && s < rm->nclients; s++) {
			uint32_t nw = 0;
			for (uint32_t k = 0; k < rm->nclients; k++) {
				struct pair *p = &W.conns[rm->first + k].pairs[s];
				if (p->nwords > nw)
					nw = p->nwords;
			}
			uint64_t *u = calloc(nw ? nw : 1, sizeof(*u));
			if (!u)
				continue;
			for (uint32_t k = 0; k < rm->nclients; k++) {
				struct pair *p = &W.conns[rm->first + k].pairs[s];
				for (uint32_t i = 0; i < p->nwords; i++)
					u[i] |= p->bits[i];
			}
			uint64_t stored = popcount_words(u, nw);
			W.r.stored += stored;
			for (uint32_t k = 0; k < rm->nclients; k++) {
				struct conn *c = &W.conns[rm->first + k];
				if (c->state != CS_READY && c->state != CS_CLOSED)
					continue; /* never a receiver */
				W.r.expected += stored;
				struct pair *p = &c->pairs[s];
				for (uint32_t i = 0; i < nw; i++) {
					uint64_t have = i < p->nwords ? p->bits[i] : 0;
					W.r.lost += (uint64_t)__builtin_popcountll(u[i] & ~have);
				}
			}
			free(u);
		}
		for (uint32_t k = 0; k < rm->nclients; k++) {
			struct conn *c = &W.conns[rm->first + k];
			if (c->state == CS_READY || c->state == CS_CLOSED) {
				W.r.receivers++;
				W.r.senders += is_sender(c);
			}
		}
	}
}

int bench_worker_run(const bench_opts *o, unsigned worker, int ctl_fd, int res_fd)
{
	struct lws_context_creation_info info;
	int rc = 1;

	memset(&W, 0, sizeof(W));
	W.o = o;
	W.id = worker;
	W.ctl_fd = ctl_fd;
	W.res_fd = res_fd;
	bench_hist_init(&W.r.connect);
	bench_hist_init(&W.r.latency);
	bench_hist_init(&W.r.ack);
	if (fcntl(ctl_fd, F_SETFL, fcntl(ctl_fd, F_GETFL) | O_NONBLOCK))
		goto fail;
	W.mask_state = (uint64_t)bench_now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15u;
	W.tok = json_tokener_new();
	if (!W.tok || setup())
		goto fail;

	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.max_http_header_pool = 1024;
	/* one read takes what a burst of fan-out frames brought */
	info.pt_serv_buf_size = 65536;
#ifdef HAVE_STRUCT_LWS_CONTEXT_CREATION_INFO_CONNECT_TIMEOUT_SECS
	info.connect_timeout_secs = 30; /* lws 4.1+; 4.0 uses timeout_secs */
#endif
	info.timeout_secs = 30;
	/* No ping/hang-up ("validity") timer per connection: libwebsockets
	 * keeps them in one sorted list, and inserting into it was a fifth of
	 * the machine's CPU in a 100,000-connection burst (the relay does the
	 * same, server.c). The bench pings no one. */
	info.retry_and_idle_policy = &no_validity;
	/* lws's own loop is poll(): it scans every fd on each wake-up, which
	 * costs more than the work itself with thousands of connections.
	 * libev (epoll) does not; fall back to poll where its plugin is missing. */
	if (o->evlib) {
		info.options |= LWS_SERVER_OPTION_LIBEV;
		W.ctx = lws_create_context(&info);
		W.evlib = W.ctx != NULL;
		info.options &= ~(uint64_t)LWS_SERVER_OPTION_LIBEV;
	}
	if (!W.ctx)
		W.ctx = lws_create_context(&info);
	if (!W.ctx)
		goto fail;

	W.t_connect0 = bench_now_ns();
	lws_sul_schedule(W.ctx, 0, &W.tick, on_tick, 1);
	while (!W.stop)
		if (lws_service(W.ctx, 0) < 0 || W.evlib)
			break;
	if (W.phase != PH_DONE || report() != 0)
		goto fail;
	rc = 0;
	/* closing thousands of connections takes a while; the parent has the result */
	lws_context_destroy(W.ctx);
	W.ctx = NULL;
fail:
	if (W.ctx)
		lws_context_destroy(W.ctx);
	if (W.tok)
		json_tokener_free(W.tok);
	return rc;
}
