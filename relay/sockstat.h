/* What the kernel says about a connection's socket (sockstat.c). Kept out
 * of relay.h: Linux's <linux/tcp.h> and the C library's socket headers do
 * not mix in one file. */
#ifndef CHAT_RELAY_SOCKSTAT_H
#define CHAT_RELAY_SOCKSTAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes written to the socket the peer has not acknowledged yet (0 where
 * the system cannot say). */
size_t relay_sock_unsent(int fd);
/* Bytes the peer has acknowledged since the connection began; false where
 * the system cannot say. */
bool relay_sock_acked(int fd, uint64_t *acked);
/* Has the peer sent bytes not read yet? */
bool relay_sock_unread(int fd);

#endif
