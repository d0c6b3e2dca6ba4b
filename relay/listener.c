/* The relay's own listening socket.
 *
 * libwebsockets 4.1.6 cannot share a port between processes
 * (LWS_SERVER_OPTION_ALLOW_LISTEN_SHARE is broken there), so the vhost does
 * not listen: we bind the socket ourselves (SO_REUSEPORT; bound once by
 * the parent in --workers mode, the children inherit it), adopt it into
 * the loop as a raw descriptor to learn when it is readable, accept, and
 * hand each connection to lws_adopt_descriptor_vhost(). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chat_log.h"
#include "relay.h"

#define ACCEPTS_PER_WAKE 64 /* then let the loop serve others */

int relay_listener_open(const char *addr, int port)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	char sport[16];
	snprintf(sport, sizeof(sport), "%d", port);
	int rc = getaddrinfo(addr && *addr ? addr : NULL, sport, &hints, &res);
	if (rc != 0) {
		chat_log_error("cannot listen on %s:%d: %s", addr, port, gai_strerror(rc));
		return -1;
	}
	int fd = -1, saved = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		/* SO_REUSEADDR: restarts do not wait for TIME_WAIT.
		 * SO_REUSEPORT: independently started relays (systemd
		 * chat-relay@N) may share the port; the kernel spreads the
		 * connections. Any other program holding the port still makes
		 * bind fail (all sockets must set it, same user). */
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
#ifdef SO_REUSEPORT
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
#endif
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		errno = saved;
		if (saved == EADDRINUSE)
			chat_log_error("cannot listen on %s:%d: address already in use by another "
			               "program", addr, port);
		else
			chat_log_errno(CHAT_LOG_ERROR, "cannot listen on %s:%d", addr, port);
	}
	return fd;
}

int relay_listener_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

struct lws *relay_listener_adopt(struct lws_vhost *vh, int fd)
{
	lws_sock_file_fd_type u;
	u.filefd = fd;
	struct lws *w = lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, u, "chat-listener",
	                                           NULL);
	if (!w)
		chat_log_error("cannot add the listening socket to the event loop");
	return w;
}

static void accept_some(int lfd)
{
	for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
		int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			if (errno == EMFILE || errno == ENFILE)
				chat_log_errno(CHAT_LOG_WARNING, "accept");
			else if (errno != ECONNABORTED)
				chat_log_errno(CHAT_LOG_WARNING, "accept");
			return;
		}
		/* Nagle off, as lws sets it on the sockets it accepts itself:
		 * with it on, a frame written while the one before is not yet
		 * acknowledged waits for the client's ACK, which a client that
		 * also sends delays up to 40 ms (its delayed ACK) or until its
		 * next frame. */
		int one = 1;
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		/* Not lws_adopt_socket_vhost(): it always passes ALLOW_SSL, and
		 * lws 4.0 then leaves a plain-text connection waiting for a TLS
		 * handshake forever (spinning on POLLIN). lws closes cfd itself
		 * when it cannot adopt it. */
		lws_sock_file_fd_type u;
		u.sockfd = cfd;
		const char *cert = relay_g->cfg->relay.tls_cert;
		lws_adoption_type type = LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP;
		if (cert && *cert)
			type |= LWS_ADOPT_ALLOW_SSL;
		if (!lws_adopt_descriptor_vhost(relay_g->vh, type, u, NULL, NULL))
			chat_log_warn("could not adopt an accepted connection");
	}
}

int relay_listener_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                            void *in, size_t len)
{
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		if (relay_g->shutting_down)
			return -1; /* stop listening (lws closes the descriptor) */
		accept_some(lws_get_socket_fd(wsi));
		return 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		if (wsi == relay_g->listen_wsi)
			relay_g->listen_wsi = NULL;
		if (wsi == relay_g->metrics_wsi)
			relay_g->metrics_wsi = NULL;
		return 0;
	default:
		return 0;
	}
}
