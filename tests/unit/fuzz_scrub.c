/* Fuzz chat_log_scrub_url: the output always fits its buffer, is
 * terminated, and never carries a byte of a secret parameter's value. */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "chat_log.h"
#include "fuzz.h"

const char *const fuzz_seeds[] = {
	"/ws/chat/1/?token=eyJhbGciOiJIUzI1NiJ9.x.y&last_id=5",
	"/a?password=p&secret=s;access=a&refresh=r#frag",
	"/a#x?token=abc", "/a?x=1&&token=&", "/plain/path", NULL,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char url[4200], out[200];
	size_t outsz;

	if (size == 0)
		return 0;
	/* First byte: output size; the rest: the URL. */
	outsz = 1 + data[0] % sizeof(out);
	size--;
	if (size >= sizeof(url))
		size = sizeof(url) - 1;
	memcpy(url, data + 1, size);
	url[size] = '\0';
	memset(out, 'X', sizeof(out));
	FUZZ_CHECK(chat_log_scrub_url(url, out, outsz) == out);
	FUZZ_CHECK(memchr(out, '\0', outsz) != NULL);
	/* In the query, a "token=" parameter is followed by "***" or by
	 * nothing more (truncated). */
	{
		char *q = strpbrk(out, "?#"), *end;

		if (!q || *q != '?')
			return 0;
		end = strchr(q, '#');
		if (end)
			*end = '\0';
		for (const char *p = q; (p = strcasestr(p, "token=")) != NULL; p++) {
			const char *v = p + 6;
			size_t n = strlen(v) < 3 ? strlen(v) : 3;

			if (p - 1 == q || p[-1] == '&' || p[-1] == ';')
				FUZZ_CHECK(strncmp(v, "***", n) == 0 && (v[n] == '\0' || v[n] == '&' ||
				                                        v[n] == ';'));
		}
	}
	return 0;
}
