/* chat_addr: see chat_addr.h. */
#include "config.h"

#include "chat_addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

bool chat_addr_canonical(const char *text, char *out, size_t outlen)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (!out || outlen < CHAT_ADDR_KEY_LEN)
		return false;
	out[0] = '\0';
	if (!text)
		return false;
	if (inet_pton(AF_INET, text, &a4) == 1)
		return inet_ntop(AF_INET, &a4, out, (socklen_t)outlen) != NULL;
	if (inet_pton(AF_INET6, text, &a6) != 1)
		return false;
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		memcpy(&a4, &a6.s6_addr[12], 4);
		return inet_ntop(AF_INET, &a4, out, (socklen_t)outlen) != NULL;
	}
	memset(&a6.s6_addr[8], 0, 8);
	if (!inet_ntop(AF_INET6, &a6, out, (socklen_t)outlen)) {
		out[0] = '\0';
		return false;
	}
	size_t n = strlen(out);
	snprintf(out + n, outlen - n, "/64");
	return true;
}

uint64_t chat_hash_bytes(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 14695981039346656037ULL; /* FNV offset basis */
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

uint64_t chat_hash_str(const char *s)
{
	return chat_hash_bytes(s, strlen(s));
}
