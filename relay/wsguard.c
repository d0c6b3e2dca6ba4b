/* Unmasked client frames (RFC 6455 5.1: the server must close the
 * connection, 1002).
 *
 * libwebsockets 4.1.6 accepts them: the MASK bit is read but never checked
 * on the server side (later releases refuse them), and no callback tells
 * whether a frame was masked. So the relay looks at the bytes lws reads:
 * lws reads a plain (non-TLS) connection with recv(), and this file defines
 * recv() for the whole program, passing every call to the C library's and
 * following the frame headers of the relay's open WebSocket connections
 * only (relay_wsguard_watch). At the first header without the MASK bit the
 * bytes from that frame on are withheld from lws, and the session is closed
 * with 1002 from the loop (relay_wsguard_sweep). Over TLS (relay.tls_cert;
 * lws reads through OpenSSL) nothing is checked; behind the web server's
 * proxy the relay sees the proxy's frames, which the web servers mask.
 *
 * The table is sized once at start; descriptors above it are not watched.
 * recv() is also called by other threads (database connections): for them
 * the lookup is one relaxed atomic load of a flag that is never set for
 * their descriptors. */
#define _GNU_SOURCE
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "chat_log.h"
#include "relay.h"

enum { ST_B0, ST_B1, ST_EXT, ST_KEY, ST_PAYLOAD };

typedef struct guard {
	atomic_uchar on;     /* watched: an open WebSocket of the relay */
	unsigned char bad;   /* an unmasked frame came: input is dropped */
	unsigned char st;
	unsigned char need;  /* ST_EXT / ST_KEY: bytes still to come */
	uint64_t len;        /* ST_EXT: length so far; ST_PAYLOAD: bytes left */
} guard;

static guard *guards;
static size_t n_guards;
static atomic_bool any_bad;
static ssize_t (*real_recv)(int, void *, size_t, int);

__attribute__((constructor)) static void find_real_recv(void)
{
	real_recv = (ssize_t(*)(int, void *, size_t, int))dlsym(RTLD_NEXT, "recv");
}

int relay_wsguard_init(void)
{
	struct rlimit rl;
	size_t n = 65536;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)(1u << 22))
		n = (size_t)rl.rlim_cur;
	guards = calloc(n, sizeof(*guards));
	if (!guards || !real_recv) {
		chat_log_error("cannot set up the WebSocket frame check");
		free(guards);
		guards = NULL;
		return -1;
	}
	n_guards = n;
	return 0;
}

void relay_wsguard_free(void)
{
	free(guards);
	guards = NULL;
	n_guards = 0;
}

void relay_wsguard_watch(int fd, bool on)
{
	if (fd < 0 || (size_t)fd >= n_guards)
		return;
	guard *g = &guards[fd];
	g->bad = 0;
	g->st = ST_B0;
	g->len = 0;
	atomic_store_explicit(&g->on, on, memory_order_relaxed);
}

/* Follow the frames in p[0..n). Returns n, or the offset of the first
 * unmasked frame's header byte 1 minus one (its first byte). */
static size_t scan(guard *g, const unsigned char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		switch (g->st) {
		case ST_B0:
			g->st = ST_B1;
			i++;
			break;
		case ST_B1:
			if (!(p[i] & 0x80)) {
				g->bad = 1;
				return i ? i - 1 : 0;
			}
			g->len = p[i] & 0x7f;
			i++;
			if (g->len >= 126) {
				g->need = g->len == 126 ? 2 : 8;
				g->len = 0;
				g->st = ST_EXT;
			} else {
				g->need = 4;
				g->st = ST_KEY;
			}
			break;
		case ST_EXT:
			g->len = (g->len << 8) | p[i++];
			if (--g->need == 0) {
				g->need = 4;
				g->st = ST_KEY;
			}
			break;
		case ST_KEY:
			i++;
			if (--g->need == 0)
				g->st = g->len ? ST_PAYLOAD : ST_B0;
			break;
		case ST_PAYLOAD: {
			size_t take = n - i;
			if ((uint64_t)take > g->len)
				take = (size_t)g->len;
			i += take;
			g->len -= take;
			if (g->len == 0)
				g->st = ST_B0;
			break;
		}
		}
	}
	return n;
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	ssize_t n = real_recv(fd, buf, len, flags);
	if (n <= 0 || fd < 0 || (size_t)fd >= n_guards ||
	    !atomic_load_explicit(&guards[fd].on, memory_order_relaxed) || (flags & MSG_PEEK))
		return n;
	guard *g = &guards[fd];
	size_t keep = g->bad ? 0 : scan(g, buf, (size_t)n);
	if (g->bad && !atomic_exchange(&any_bad, true) && relay_g && relay_g->ctx)
		lws_cancel_service(relay_g->ctx); /* the loop closes it (sweep) */
	if (keep == 0 && g->bad) {
		errno = EAGAIN; /* dropped: lws waits for more */
		return -1;
	}
	return (ssize_t)keep;
}

static void sweep_one(relay_session *s, void *arg)
{
	(void)arg;
	int fd = lws_get_socket_fd(s->wsi);
	if (fd < 0 || (size_t)fd >= n_guards || !guards[fd].bad || s->state == RS_CLOSING)
		return;
	relay_g->m.client_errors_total++;
	chat_log_debug("connection %llu sent an unmasked frame: closed with 1002",
	               (unsigned long long)s->conn_id);
	relay_session_close(s, 1002, NULL, "unmasked client frame");
}

void relay_wsguard_sweep(void)
{
	if (!atomic_exchange(&any_bad, false))
		return;
	relay_conns_each(sweep_one, NULL);
}
