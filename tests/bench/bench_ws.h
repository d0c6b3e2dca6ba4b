/* chat-bench's own WebSocket client framing (RFC 6455), over connections
 * libwebsockets opens in raw mode.
 *
 * Why not libwebsockets' client: its receive parser handles one byte per
 * call, and with a thousand receivers in one room that parser was half of
 * the tool's CPU, so the tool, not the server, paced the fan-out case.
 * Here a frame that arrived whole is handed on where it lies in the read
 * buffer. Pure functions: no I/O, no allocation. */
#ifndef BENCH_WS_H
#define BENCH_WS_H

#include <stddef.h>
#include <stdint.h>

enum {
	BENCH_WS_CONT = 0x0,
	BENCH_WS_TEXT = 0x1,
	BENCH_WS_BINARY = 0x2,
	BENCH_WS_CLOSE = 0x8,
	BENCH_WS_PING = 0x9,
	BENCH_WS_PONG = 0xa,
};

/* Header bytes of a client frame with a payload of up to 65535 bytes. */
#define BENCH_WS_CLIENT_HDR_MAX 8

/* One frame as read from the server. */
typedef struct bench_ws_frame {
	unsigned opcode;
	int fin;
	size_t header_len;  /* bytes before the payload */
	uint64_t payload_len;
	uint32_t mask;      /* 0 when the frame was not masked */
	int masked;
} bench_ws_frame;

/* Write the opening handshake's request into out (NUL-terminated).
 * key: the Sec-WebSocket-Key, base64 of 16 bytes. Returns its length, or
 * -1 if it does not fit. */
int bench_ws_request(char *out, size_t cap, const char *host, int port, const char *path,
		     const char *key);

/* Read the server's handshake response at buf[0..len). Returns the length
 * of the response head (through the blank line) when it is a 101 with
 * "Upgrade: websocket", 0 when the head is not complete yet, -1 when it
 * is complete and refuses (or is longer than 8 KiB). */
long bench_ws_response(const char *buf, size_t len);

/* Parse the frame header at buf[0..len). Returns 1 and fills f when the
 * header is complete (the payload may not be), 0 when more bytes are
 * needed, -1 on a header no server may send (reserved bits, a control
 * frame longer than 125 bytes or fragmented, a 64-bit length with the top
 * bit set). */
int bench_ws_parse(const unsigned char *buf, size_t len, bench_ws_frame *f);

/* Undo the mask of a payload (only when f->masked; servers do not mask). */
void bench_ws_unmask(unsigned char *payload, size_t len, uint32_t mask);

/* Build a final client frame of the opcode, masked with mask, around the
 * payload already at out + BENCH_WS_CLIENT_HDR_MAX (len bytes, len <=
 * 65535). The header goes just before it. Returns where the frame starts
 * (its length is the header's plus len). */
unsigned char *bench_ws_frame_client(unsigned char *out, unsigned opcode, size_t len,
				     uint32_t mask);

#endif
