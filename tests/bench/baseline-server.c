/* baseline-server: the least a WebSocket chat fan-out can do, to measure
 * the transport's limit on a machine. No database, no authentication, no
 * validation beyond "is it a chat_message with a string content".
 *
 * Same URL shape as the relay (/ws/chat/{room}/?token=anything). On open it
 * sends connection_established; on a chat_message it assigns the next
 * global id and sends one contract-shaped chat_message frame, serialized
 * once and shared (reference counted), to every connection of the room,
 * the sender's included. Per-connection queues are capped; a connection
 * whose queue overflows is closed with 4408 like the relay does.
 *
 *   baseline-server [--listen 127.0.0.1] [--port 0] [--max-queue 4096] [--event-lib ev|poll]
 *
 * Prints "listening on ADDR:PORT" once it accepts connections. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <json-c/json.h>
#include <libwebsockets.h>

#define MAX_FRAME (64u * 1024u)
#define ROOM_BUCKETS 1024u

/* One serialized frame shared by every recipient; freed with the last ref. */
struct frame {
	unsigned refs;
	size_t len;
	unsigned char buf[]; /* LWS_PRE bytes of headroom, then the payload */
};

struct sess;

/* A room exists while it has connections. */
struct room {
	long id;
	struct room *next;      /* hash chain */
	struct sess *members;   /* doubly linked list of sessions */
};

/* Per-connection state, allocated by lws (per_session_data_size); lives
 * from ESTABLISHED to CLOSED. */
struct sess {
	struct lws *wsi;
	struct room *room;
	struct sess *next, *prev;
	struct frame **q;       /* ring of queued frames */
	uint32_t qcap, qhead, qlen;
	int overflowed;
	char *rx;               /* a fragmented frame being collected */
	size_t rxlen, rxcap;
};

static struct room *rooms[ROOM_BUCKETS];
static uint64_t next_id;
static uint32_t max_queue = 4096;
static volatile sig_atomic_t stopping;

static struct frame *frame_new(const char *payload, size_t len)
{
	struct frame *f = malloc(sizeof(*f) + LWS_PRE + len);
	if (!f)
		return NULL;
	f->refs = 1;
	f->len = len;
	memcpy(f->buf + LWS_PRE, payload, len);
	return f;
}

static void frame_unref(struct frame *f)
{
	if (f && --f->refs == 0)
		free(f);
}

static struct room *room_get(long id, int create)
{
	unsigned b = (unsigned)((unsigned long)id % ROOM_BUCKETS);
	for (struct room *r = rooms[b]; r; r = r->next)
		if (r->id == id)
			return r;
	if (!create)
		return NULL;
	struct room *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->id = id;
	r->next = rooms[b];
	rooms[b] = r;
	return r;
}

static void room_drop_if_empty(struct room *r)
{
	if (r->members)
		return;
	struct room **pp = &rooms[(unsigned long)r->id % ROOM_BUCKETS];
	while (*pp && *pp != r)
		pp = &(*pp)->next;
	if (*pp)
		*pp = r->next;
	free(r);
}

/* Queue f (taking a reference) for s; marks s overflowed when full. */
static void enqueue(struct sess *s, struct frame *f)
{
	if (s->overflowed)
		return;
	if (s->qlen == s->qcap) {
		if (s->qcap >= max_queue) {
			s->overflowed = 1;
			lws_callback_on_writable(s->wsi);
			return;
		}
		uint32_t ncap = s->qcap ? s->qcap * 2 : 8;
		struct frame **nq = malloc(ncap * sizeof(*nq));
		if (!nq) {
			s->overflowed = 1;
			lws_callback_on_writable(s->wsi);
			return;
		}
		for (uint32_t i = 0; i < s->qlen; i++)
			nq[i] = s->q[(s->qhead + i) % s->qcap];
		free(s->q);
		s->q = nq;
		s->qcap = ncap;
		s->qhead = 0;
	}
	f->refs++;
	s->q[(s->qhead + s->qlen) % s->qcap] = f;
	s->qlen++;
	lws_callback_on_writable(s->wsi);
}

static void iso_now(char *out, size_t n)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
	if (k && k + 6 <= n)
		snprintf(out + k, n - k, ".%03dZ", (int)(ts.tv_nsec / 1000000) % 1000);
}

/* Build the chat_message event once and queue it to the whole room. */
static void broadcast_message(struct room *r, json_object *content)
{
	char ts[40];
	json_object *ev = json_object_new_object(), *msg = json_object_new_object(),
		    *sender = json_object_new_object();
	iso_now(ts, sizeof(ts));
	json_object_object_add(msg, "id", json_object_new_int64((int64_t)++next_id));
	json_object_object_add(msg, "content", json_object_get(content));
	json_object_object_add(msg, "message_type", json_object_new_string("text"));
	json_object_object_add(msg, "timestamp", json_object_new_string(ts));
	json_object_object_add(sender, "id", json_object_new_int(1));
	json_object_object_add(sender, "username", json_object_new_string("bench"));
	json_object_object_add(msg, "sender", sender);
	json_object_object_add(ev, "type", json_object_new_string("chat_message"));
	json_object_object_add(ev, "message", msg);
	size_t len;
	const char *text = json_object_to_json_string_length(ev, JSON_C_TO_STRING_PLAIN, &len);
	struct frame *f = frame_new(text, len);
	json_object_put(ev);
	if (!f)
		return;
	for (struct sess *s = r->members; s; s = s->next)
		enqueue(s, f);
	frame_unref(f);
}

static void on_message(struct sess *s, const char *buf, size_t len)
{
	static json_tokener *tok;
	if (!tok && !(tok = json_tokener_new()))
		return;
	json_tokener_reset(tok);
	json_object *root = json_tokener_parse_ex(tok, buf, (int)len);
	json_object *type, *content;
	if (root && json_object_is_type(root, json_type_object) &&
	    json_object_object_get_ex(root, "type", &type) &&
	    json_object_is_type(type, json_type_string) &&
	    !strcmp(json_object_get_string(type), "chat_message") &&
	    json_object_object_get_ex(root, "content", &content) &&
	    json_object_is_type(content, json_type_string))
		broadcast_message(s->room, content);
	if (root)
		json_object_put(root);
}

/* "/ws/chat/123/" or "/ws/chat/123" -> 123, or -1. */
static long room_from_uri(const char *uri)
{
	static const char prefix[] = "/ws/chat/";
	const char *p = strstr(uri, prefix);
	if (!p)
		return -1;
	p += sizeof(prefix) - 1;
	char *end;
	errno = 0;
	long v = strtol(p, &end, 10);
	if (errno || end == p || v <= 0 || (*end && *end != '/' && *end != '?'))
		return -1;
	return v;
}

static int callback_chat(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			 void *in, size_t len)
{
	struct sess *s = user;
	char uri[512];

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED: {
		memset(s, 0, sizeof(*s));
		s->wsi = wsi;
		long id = -1;
		if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) > 0)
			id = room_from_uri(uri);
		if (id < 0 || !(s->room = room_get(id, 1))) {
			lws_close_reason(wsi, 4404, (unsigned char *)"no such room", 12);
			return -1;
		}
		s->next = s->room->members;
		if (s->next)
			s->next->prev = s;
		s->room->members = s;
		static const char hello[] = "{\"type\":\"connection_established\",\"message\":\"\xe8\xbf\x9e\xe6\x8e\xa5\xe6\x88\x90\xe5\x8a\x9f\","
					    "\"user\":{\"id\":1,\"username\":\"bench\"},\"online\":[{\"id\":1,\"username\":\"bench\"}]}";
		struct frame *f = frame_new(hello, sizeof(hello) - 1);
		if (!f)
			return -1;
		enqueue(s, f);
		frame_unref(f);
		break;
	}

	case LWS_CALLBACK_RECEIVE: {
		int first = lws_is_first_fragment(wsi), final = lws_is_final_fragment(wsi);
		if (first && final) {
			on_message(s, in, len);
			break;
		}
		if (first)
			s->rxlen = 0;
		if (s->rxlen + len > MAX_FRAME) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
			return -1;
		}
		if (s->rxlen + len > s->rxcap) {
			size_t cap = s->rxcap ? s->rxcap : 1024;
			while (cap < s->rxlen + len)
				cap *= 2;
			char *b = realloc(s->rx, cap);
			if (!b)
				return -1;
			s->rx = b;
			s->rxcap = cap;
		}
		memcpy(s->rx + s->rxlen, in, len);
		s->rxlen += len;
		if (final) {
			on_message(s, s->rx, s->rxlen);
			s->rxlen = 0;
		}
		break;
	}

	case LWS_CALLBACK_SERVER_WRITEABLE: {
		if (s->overflowed) {
			lws_close_reason(wsi, 4408, (unsigned char *)"too slow", 8);
			return -1;
		}
		if (!s->qlen)
			break;
		struct frame *f = s->q[s->qhead];
		s->qhead = (s->qhead + 1) % s->qcap;
		s->qlen--;
		/* server frames are not masked: the shared buffer is not modified */
		int want = (int)f->len;
		int n = lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
		frame_unref(f);
		if (n < want)
			return -1;
		if (s->qlen)
			lws_callback_on_writable(wsi);
		break;
	}

	case LWS_CALLBACK_CLOSED:
		if (s->room) {
			if (s->prev)
				s->prev->next = s->next;
			else
				s->room->members = s->next;
			if (s->next)
				s->next->prev = s->prev;
			room_drop_if_empty(s->room);
			s->room = NULL;
		}
		while (s->qlen) {
			frame_unref(s->q[s->qhead]);
			s->qhead = (s->qhead + 1) % s->qcap;
			s->qlen--;
		}
		free(s->q);
		s->q = NULL;
		free(s->rx);
		s->rx = NULL;
		break;

	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
	/* first: connections that name no subprotocol land here */
	{ "chat", callback_chat, sizeof(struct sess), 4096, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static struct lws_context *ctx;
static int evlib = 1;
static lws_sorted_usec_list_t stop_sul;

/* The signal handler only sets a flag; this timer acts on it. */
static void check_stop(lws_sorted_usec_list_t *sul)
{
	if (!stopping) {
		lws_sul_schedule(ctx, 0, &stop_sul, check_stop, 100000);
		return;
	}
	/* lws 4.3 never returns from its own libev loop after
	 * lws_context_destroy() in a callback (4.1 did); nothing here needs
	 * a clean close, so just end. */
	if (evlib)
		exit(0);
	lws_cancel_service(ctx);
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static long arg_num(const char *s, long lo, long hi, const char *name)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "baseline-server: bad %s: %s\n", name, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	const char *listen_addr = "127.0.0.1";
	int port = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--listen") && i + 1 < argc)
			listen_addr = argv[++i];
		else if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = (int)arg_num(argv[++i], 0, 65535, "--port");
		else if (!strcmp(argv[i], "--event-lib") && i + 1 < argc)
			evlib = !strcmp(argv[++i], "ev");
		else if (!strcmp(argv[i], "--max-queue") && i + 1 < argc)
			max_queue = (uint32_t)arg_num(argv[++i], 8, 1 << 20, "--max-queue");
		else {
			fprintf(stderr, "usage: baseline-server [--listen ADDR] [--port N] [--max-queue N] [--event-lib ev|poll]\n");
			return 2;
		}
	}

	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = port;
	info.iface = listen_addr;
	info.protocols = protocols;
	info.max_http_header_pool = 1024;
	info.timeout_secs = 30;
	/* libev (epoll) unless asked for lws's own poll() loop */
	if (evlib) {
		info.options |= LWS_SERVER_OPTION_LIBEV;
		ctx = lws_create_context(&info);
		if (!ctx)
			evlib = 0;
		info.options &= ~(uint64_t)LWS_SERVER_OPTION_LIBEV;
	}
	if (!ctx)
		ctx = lws_create_context(&info);
	if (!ctx) {
		fprintf(stderr, "baseline-server: cannot listen on %s:%d\n", listen_addr, port);
		return 1;
	}
	struct lws_vhost *vh = lws_get_vhost_by_name(ctx, "default");
	printf("listening on %s:%d (%s)\n", listen_addr, vh ? lws_get_vhost_listen_port(vh) : port,
	       evlib ? "libev" : "poll");
	fflush(stdout);
	lws_sul_schedule(ctx, 0, &stop_sul, check_stop, 100000);
	while (!stopping)
		if (lws_service(ctx, 0) < 0 || evlib)
			break;
	lws_context_destroy(ctx);
	return 0;
}
