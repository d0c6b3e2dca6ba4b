/* UTF-8 checks for untrusted strings. */
#ifndef CHAT_UTF8_H
#define CHAT_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF, no NUL). */
bool chat_utf8_valid(const char *s, size_t len);
/* Number of code points in valid UTF-8. */
size_t chat_utf8_count(const char *s, size_t len);

#endif
