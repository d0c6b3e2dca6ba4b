/* Strict UTF-8 (RFC 3629): the shortest form only, no surrogates, nothing
 * above U+10FFFF, and no NUL (a C string would silently end there). */
#include "config.h"

#include "chat_utf8.h"

/* Length of the well-formed sequence at s[0..len), 0 if ill-formed. */
static size_t seq_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xBF; /* bounds of the second byte */
	size_t n;

	if (c == 0)
		return 0;
	if (c < 0x80)
		return 1;
	if (c < 0xC2) /* continuation byte, or overlong 2-byte lead */
		return 0;
	if (c < 0xE0) {
		n = 2;
	} else if (c < 0xF0) {
		n = 3;
		if (c == 0xE0)
			lo = 0xA0; /* overlong */
		else if (c == 0xED)
			hi = 0x9F; /* surrogates U+D800..U+DFFF */
	} else if (c < 0xF5) {
		n = 4;
		if (c == 0xF0)
			lo = 0x90; /* overlong */
		else if (c == 0xF4)
			hi = 0x8F; /* above U+10FFFF */
	} else {
		return 0;
	}
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	return n;
}

bool chat_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < len;) {
		size_t n = seq_len(p + i, len - i);

		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

size_t chat_utf8_count(const char *s, size_t len)
{
	size_t count = 0;

	/* Every byte that is not a continuation byte starts a code point. */
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			count++;
	return count;
}
