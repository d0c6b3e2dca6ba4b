/* [database] host as a list: "node1, node2:3307, [fd00::3]:3306". The
 * database layer tries the servers in the order given (so every client
 * prefers the same one: a single writer) and moves on when one refuses,
 * dies or is not ready. Pure parsing, shared by the configuration check
 * and the connect path. */
#ifndef CHAT_DBHOSTS_H
#define CHAT_DBHOSTS_H

#include <stddef.h>

#define CHAT_DBHOSTS_MAX 8  /* servers in one list */
#define CHAT_DBHOST_LEN 256 /* longest name or address, with its NUL */

typedef struct chat_dbhost {
	char host[CHAT_DBHOST_LEN];
	unsigned port;
} chat_dbhost;

/* Parse s (entries separated by commas, white space around them ignored;
 * each "host", "host:port", "[v6]:port" or a bare IPv6 address) into out
 * (may be NULL to only check), entries without a port getting
 * default_port. Returns the number of entries (0 for an empty string), or
 * -1 with *why set to a static explanation. */
int chat_dbhosts_parse(const char *s, unsigned default_port, chat_dbhost *out, size_t max,
                       const char **why);

#endif
