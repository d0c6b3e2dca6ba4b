/* Fuzz the UTF-8 checks and the field validators against an independent
 * decoder written the straightforward way (decode, then test the code
 * point), so the table-driven validator is checked, not just run. */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "chat_utf8.h"
#include "chat_validate.h"
#include "fuzz.h"

const char *const fuzz_seeds[] = {
	"hello", "你好, мир, 🎉", "\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF",
	"\xED\x9F\xBF\xEE\x80\x80", "alice_99@x.y+z-w", "张伟", "123", "9223372036854775807",
	"  General  ", "line\nline", NULL,
};

/* Decode one sequence; returns its length or 0 if ill-formed. */
static size_t ref_decode(const unsigned char *s, size_t len, unsigned long *cp)
{
	size_t n;
	unsigned long c;

	if (s[0] < 0x80)
		n = 1, c = s[0];
	else if ((s[0] & 0xE0) == 0xC0)
		n = 2, c = s[0] & 0x1F;
	else if ((s[0] & 0xF0) == 0xE0)
		n = 3, c = s[0] & 0x0F;
	else if ((s[0] & 0xF8) == 0xF0)
		n = 4, c = s[0] & 0x07;
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3F);
	}
	/* Shortest form only, no surrogates, nothing above U+10FFFF, no NUL. */
	if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) || (n == 4 && c < 0x10000))
		return 0;
	if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF || c == 0)
		return 0;
	*cp = c;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	size_t count = 0, i = 0;
	bool ref = true;
	const char *d;
	long long id;

	while (i < size) {
		unsigned long cp;
		size_t n = ref_decode(data + i, size - i, &cp);

		if (!n) {
			ref = false;
			break;
		}
		i += n;
		count++;
	}
	FUZZ_CHECK(chat_utf8_valid(s, size) == ref);
	if (ref)
		FUZZ_CHECK(chat_utf8_count(s, size) == count);

	/* Whatever a validator accepts is valid UTF-8 of bounded length. */
	if (chat_validate_content(s, size, 100, &d) == CHAT_OK)
		FUZZ_CHECK(ref && count >= 1 && count <= 100);
	if (chat_validate_username(s, size, &d) == CHAT_OK)
		FUZZ_CHECK(ref && count >= 1 && count <= 150 && !memchr(s, ' ', size));
	if (chat_validate_password(s, size, &d) == CHAT_OK)
		FUZZ_CHECK(ref && count >= 8 && count <= 128);
	if (chat_validate_room_name(s, size, &d) == CHAT_OK)
		FUZZ_CHECK(ref && count >= 1 && count <= 100);
	if (chat_validate_description(s, size, &d) == CHAT_OK)
		FUZZ_CHECK(ref && count <= 1000);
	if (chat_validate_client_id(s, size, &d) == CHAT_OK)
		FUZZ_CHECK(size >= 1 && size <= 64);
	if (chat_parse_id(s, size, &id) == CHAT_OK) {
		char back[32];

		/* Exactly one spelling per id: printing it gives the input back. */
		FUZZ_CHECK(id > 0);
		FUZZ_CHECK((size_t)snprintf(back, sizeof(back), "%lld", id) == size &&
		           memcmp(back, s, size) == 0);
	}
	return 0;
}
