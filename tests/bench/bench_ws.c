/* RFC 6455 client framing for chat-bench (see bench_ws.h). */
#include "bench_ws.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define RESPONSE_MAX 8192

int bench_ws_request(char *out, size_t cap, const char *host, int port, const char *path,
		     const char *key)
{
	int n = snprintf(out, cap,
			 "GET %s HTTP/1.1\r\n"
			 "Host: %s:%d\r\n"
			 "Upgrade: websocket\r\n"
			 "Connection: Upgrade\r\n"
			 "Sec-WebSocket-Key: %s\r\n"
			 "Sec-WebSocket-Version: 13\r\n"
			 "\r\n",
			 path, host, port, key);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* Is there a header line "name: value" (case-insensitive name, value
 * containing want case-insensitively) in head[0..len)? */
static int has_header(const char *head, size_t len, const char *name, const char *want)
{
	size_t nl = strlen(name), wl = strlen(want);
	const char *p = head, *end = head + len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > nl && !strncasecmp(p, name, nl) && p[nl] == ':')
			for (const char *v = p + nl + 1; v + wl <= eol; v++)
				if (!strncasecmp(v, want, wl))
					return 1;
		p = eol + 1;
	}
	return 0;
}

long bench_ws_response(const char *buf, size_t len)
{
	size_t scan = len < RESPONSE_MAX ? len : RESPONSE_MAX;
	const char *end = NULL;
	for (size_t i = 3; i < scan; i++)
		if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
			end = buf + i + 1;
			break;
		}
	if (!end)
		return len >= RESPONSE_MAX ? -1 : 0;
	size_t head = (size_t)(end - buf);
	if (head < 12 || memcmp(buf, "HTTP/1.1 101", 12) ||
	    !has_header(buf, head, "Upgrade", "websocket"))
		return -1;
	return (long)head;
}

int bench_ws_parse(const unsigned char *buf, size_t len, bench_ws_frame *f)
{
	if (len < 2)
		return 0;
	if (buf[0] & 0x70)
		return -1; /* no extension was agreed */
	f->fin = (buf[0] & 0x80) != 0;
	f->opcode = buf[0] & 0x0f;
	f->masked = (buf[1] & 0x80) != 0;
	uint64_t plen = buf[1] & 0x7f;
	size_t h = 2;
	if (plen == 126) {
		if (len < 4)
			return 0;
		plen = (uint64_t)buf[2] << 8 | buf[3];
		h = 4;
	} else if (plen == 127) {
		if (len < 10)
			return 0;
		plen = 0;
		for (int i = 0; i < 8; i++)
			plen = plen << 8 | buf[2 + i];
		if (plen >> 63)
			return -1;
		h = 10;
	}
	if (f->opcode >= 0x8 && (plen > 125 || !f->fin))
		return -1;
	f->mask = 0;
	if (f->masked) {
		if (len < h + 4)
			return 0;
		memcpy(&f->mask, buf + h, 4);
		h += 4;
	}
	f->header_len = h;
	f->payload_len = plen;
	return 1;
}

void bench_ws_unmask(unsigned char *payload, size_t len, uint32_t mask)
{
	unsigned char m[4];
	memcpy(m, &mask, 4);
	for (size_t i = 0; i < len; i++)
		payload[i] ^= m[i & 3];
}

unsigned char *bench_ws_frame_client(unsigned char *out, unsigned opcode, size_t len,
				     uint32_t mask)
{
	unsigned char *payload = out + BENCH_WS_CLIENT_HDR_MAX;
	unsigned char *h;
	if (len < 126) {
		h = payload - 6;
		h[1] = (unsigned char)(0x80 | len);
	} else {
		h = payload - 8;
		h[1] = 0x80 | 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
	}
	h[0] = (unsigned char)(0x80 | (opcode & 0x0f));
	memcpy(payload - 4, &mask, 4);
	bench_ws_unmask(payload, len, mask); /* masking is the same XOR */
	return h;
}
