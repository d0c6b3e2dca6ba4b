/* What the kernel says about a connection's socket: what it still holds
 * for the client, what the client has taken, what the client sent that is
 * not read yet. The send timeout and the replay's pace are measured here
 * (session.c). Linux answers all three; elsewhere the unsent and acked
 * counts are unknown and session.c counts its own writes instead. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#ifdef __linux__
#include <linux/sockios.h> /* SIOCOUTQ */
#include <linux/tcp.h>     /* struct tcp_info with tcpi_bytes_acked */
#endif

#include "sockstat.h"

size_t relay_sock_unsent(int fd)
{
#ifdef SIOCOUTQ
	int v = 0;
	if (ioctl(fd, SIOCOUTQ, &v) == 0 && v > 0)
		return (size_t)v;
#else
	(void)fd;
#endif
	return 0;
}

bool relay_sock_acked(int fd, uint64_t *acked)
{
#if defined(__linux__) && defined(TCP_INFO)
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	/* tcpi_bytes_acked came with Linux 4.1: an older kernel fills less */
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	    len >= offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof(ti.tcpi_bytes_acked)) {
		*acked = ti.tcpi_bytes_acked;
		return true;
	}
#else
	(void)fd;
	(void)acked;
#endif
	return false;
}

bool relay_sock_unread(int fd)
{
	int v = 0;
	return ioctl(fd, FIONREAD, &v) == 0 && v > 0;
}
