/* Field validation shared by chat-api and chat-relay. The sentences are
 * the ones clients see (HTTP "detail", WebSocket error "message"). */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "chat_types.h"
#include "chat_utf8.h"
#include "chat_validate.h"

#define PASSWORD_MIN_CHARS 8
#define PASSWORD_MAX_CHARS 128
#define PASSWORD_MAX_BYTES 1024

static chat_err invalid(const char **detail, const char *sentence)
{
	if (detail)
		*detail = sentence;
	return CHAT_ERR_INVALID;
}

static bool is_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!strchr(" \t\r\n\v\f", s[i]))
			return false;
	return true;
}

static bool has_control(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F)
			return true;
	return false;
}

/* Decode the code point at s (valid UTF-8 assumed); its length to *n. */
static uint32_t decode(const unsigned char *s, size_t *n)
{
	if (s[0] < 0x80) {
		*n = 1;
		return s[0];
	}
	if (s[0] < 0xE0) {
		*n = 2;
		return (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
	}
	if (s[0] < 0xF0) {
		*n = 3;
		return (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
	}
	*n = 4;
	return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
	       (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
}

/* Non-ASCII ranges that are not letters or digits: symbols, punctuation,
 * spaces, combining marks, private use, emoji. Everything else above
 * U+00BF counts as a letter, which is close to Python's \w that Django's
 * username rule uses, without a Unicode database. */
static const struct { uint32_t lo, hi; } not_word[] = {
	{ 0x0080, 0x00BF }, { 0x00D7, 0x00D7 }, { 0x00F7, 0x00F7 }, { 0x0300, 0x036F },
	{ 0x2000, 0x2BFF }, { 0x2E00, 0x2E7F }, { 0x3000, 0x3004 }, { 0x3008, 0x3020 },
	{ 0x3030, 0x303F }, { 0xE000, 0xF8FF }, { 0xFE00, 0xFE6F }, { 0xFEFF, 0xFEFF },
	{ 0xFF00, 0xFF0F }, { 0xFF1A, 0xFF20 }, { 0xFF3B, 0xFF40 }, { 0xFF5B, 0xFF65 },
	{ 0xFFF0, 0xFFFF }, { 0x1F000, 0x1FAFF }, { 0xE0000, 0x10FFFF },
};

static bool username_char(uint32_t c)
{
	if (c < 0x80)
		return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		       strchr("@.+-_", (int)c) != NULL;
	for (size_t i = 0; i < sizeof(not_word) / sizeof(not_word[0]); i++)
		if (c >= not_word[i].lo && c <= not_word[i].hi)
			return false;
	return true;
}

chat_err chat_validate_content(const char *s, size_t len, int max_chars, const char **detail)
{
	if (!s || len == 0 || is_blank(s, len))
		return invalid(detail, "Content must not be empty.");
	if (!chat_utf8_valid(s, len))
		return invalid(detail, "Content must be valid UTF-8.");
	if (chat_utf8_count(s, len) > (size_t)(max_chars > 0 ? max_chars : 0))
		return invalid(detail, "Content is too long.");
	return CHAT_OK;
}

chat_err chat_validate_message_type(const char *s, const char **detail)
{
	static const char *const types[] = { "text", "image", "file", "system" };

	for (size_t i = 0; s && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(s, types[i]) == 0)
			return CHAT_OK;
	return invalid(detail, "message_type must be one of text, image, file, system.");
}

chat_err chat_validate_client_id(const char *s, size_t len, const char **detail)
{
	if (!s || len == 0 || len > CHAT_CLIENT_ID_MAX_CHARS)
		return invalid(detail, "client_id must be 1 to 64 characters.");
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7E)
			return invalid(detail, "client_id must be printable ASCII.");
	return CHAT_OK;
}

chat_err chat_validate_username(const char *s, size_t len, const char **detail)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t chars = 0;

	if (!s || len == 0)
		return invalid(detail, "Username must not be empty.");
	if (!chat_utf8_valid(s, len))
		return invalid(detail, "Username must be valid UTF-8.");
	for (size_t i = 0, n; i < len; i += n, chars++)
		if (!username_char(decode(p + i, &n)))
			return invalid(detail, "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.");
	if (chars > CHAT_USERNAME_MAX_CHARS)
		return invalid(detail, "Username must be at most 150 characters.");
	return CHAT_OK;
}

chat_err chat_validate_password(const char *s, size_t len, const char **detail)
{
	size_t chars;

	if (!s || len > PASSWORD_MAX_BYTES)
		return invalid(detail, "Password must be 8 to 128 characters.");
	if (!chat_utf8_valid(s, len))
		return invalid(detail, "Password must be valid UTF-8.");
	chars = chat_utf8_count(s, len);
	if (chars < PASSWORD_MIN_CHARS || chars > PASSWORD_MAX_CHARS)
		return invalid(detail, "Password must be 8 to 128 characters.");
	return CHAT_OK;
}

chat_err chat_validate_room_name(const char *s, size_t len, const char **detail)
{
	if (!s || is_blank(s, len))
		return invalid(detail, "Room name must not be empty.");
	if (!chat_utf8_valid(s, len))
		return invalid(detail, "Room name must be valid UTF-8.");
	if (has_control(s, len))
		return invalid(detail, "Room name must not contain control characters.");
	if (chat_utf8_count(s, len) > CHAT_ROOMNAME_MAX_CHARS)
		return invalid(detail, "Room name must be at most 100 characters.");
	return CHAT_OK;
}

chat_err chat_validate_description(const char *s, size_t len, const char **detail)
{
	if (!s)
		return invalid(detail, "Description must be a string.");
	if (!chat_utf8_valid(s, len))
		return invalid(detail, "Description must be valid UTF-8.");
	if (chat_utf8_count(s, len) > CHAT_DESCRIPTION_MAX_CHARS)
		return invalid(detail, "Description must be at most 1000 characters.");
	return CHAT_OK;
}

chat_err chat_parse_id(const char *s, size_t len, long long *out)
{
	uint64_t v = 0;

	/* 19 digits hold INT64_MAX; a leading zero is refused (one spelling
	 * per id). */
	if (!s || len == 0 || len > 19 || s[0] == '0')
		return CHAT_ERR_INVALID;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return CHAT_ERR_INVALID;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > INT64_MAX)
		return CHAT_ERR_INVALID;
	if (out)
		*out = (long long)v;
	return CHAT_OK;
}
