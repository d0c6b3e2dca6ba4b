/* Parsing of the [database] host list; see chat_dbhosts.h. */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "chat_dbhosts.h"

static bool parse_port(const char *p, size_t n, unsigned *port)
{
	unsigned long v = 0;

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v < 1 || v > 65535)
		return false;
	*port = (unsigned)v;
	return true;
}

/* One entry p[0..n) without surrounding white space. */
static bool parse_one(const char *p, size_t n, unsigned default_port, chat_dbhost *h,
                      const char **why)
{
	const char *host = p, *port = NULL;
	size_t hlen = n, plen = 0;

	if (n && p[0] == '[') {
		const char *close = memchr(p, ']', n);

		if (!close) {
			*why = "an IPv6 address in [ ] lacks its ]";
			return false;
		}
		host = p + 1;
		hlen = (size_t)(close - host);
		if (close + 1 != p + n) {
			if (close[1] != ':') {
				*why = "expected :port after ]";
				return false;
			}
			port = close + 2;
			plen = (size_t)(p + n - port);
		}
	} else {
		const char *colon = memchr(p, ':', n);

		/* Exactly one colon: host:port. More: a bare IPv6 address. */
		if (colon && !memchr(colon + 1, ':', (size_t)(p + n - colon - 1))) {
			hlen = (size_t)(colon - p);
			port = colon + 1;
			plen = (size_t)(p + n - port);
		}
	}
	if (hlen == 0) {
		*why = "an entry has no host";
		return false;
	}
	if (hlen >= CHAT_DBHOST_LEN) {
		*why = "a host name is too long";
		return false;
	}
	for (size_t i = 0; i < hlen; i++) {
		if (host[i] == ' ' || host[i] == '\t' || host[i] == '[' || host[i] == ']') {
			*why = "a host contains white space or brackets (separate entries with commas)";
			return false;
		}
	}
	unsigned pv = default_port;
	if (port && !parse_port(port, plen, &pv)) {
		*why = "a port is not a number from 1 to 65535";
		return false;
	}
	if (h) {
		memcpy(h->host, host, hlen);
		h->host[hlen] = '\0';
		h->port = pv;
	}
	return true;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

int chat_dbhosts_parse(const char *s, unsigned default_port, chat_dbhost *out, size_t max,
                       const char **why)
{
	size_t n = 0;
	const char *p = s;

	while (is_space(*p))
		p++;
	if (!*p)
		return 0;
	for (;;) {
		const char *end = strchr(p, ',');
		const char *stop = end ? end : p + strlen(p);
		const char *a = p, *b = stop;

		while (a < b && is_space(*a))
			a++;
		while (b > a && is_space(b[-1]))
			b--;
		if (a == b) {
			*why = "an empty entry in the list";
			return -1;
		}
		if (n == CHAT_DBHOSTS_MAX || (out && n == max)) {
			*why = "too many servers in the list";
			return -1;
		}
		if (!parse_one(a, (size_t)(b - a), default_port, out ? &out[n] : NULL, why))
			return -1;
		n++;
		if (!end)
			return (int)n;
		p = end + 1;
	}
}
