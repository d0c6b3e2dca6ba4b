/* Wake-up datagrams: after a commit a writer wakes every relay whose
 * socket is in the notification directory. A datagram carries no data;
 * losing one loses nothing (relays also poll). */
#ifndef CHAT_NOTIFY_H
#define CHAT_NOTIFY_H

#include <stddef.h>

/* Send one datagram to every socket in dir (non-blocking; sockets with no
 * reader are skipped, and stale ones are left for their owner). Returns
 * the number of relays woken, -1 if dir cannot be read. */
int chat_notify_send(const char *dir);

/* Create dir if needed and bind a non-blocking SOCK_DGRAM socket at
 * dir/"relay-<name>.sock" (replacing a stale file). path_out receives the
 * path (for unlink at exit). Returns the fd, -1 on error (errno set). */
int chat_notify_listen(const char *dir, const char *name, char *path_out, size_t path_sz);

/* Read and discard every pending datagram. Returns how many. */
int chat_notify_drain(int fd);

#endif
