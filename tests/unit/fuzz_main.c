/* Driver for the fuzz targets when libFuzzer is not used: each seed, then
 * FUZZ_ROUNDS deterministic mutations of them (byte flips, insertions,
 * deletions, splices, truncations), then any files named on the command
 * line (to replay a crash found by libFuzzer). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define FUZZ_ROUNDS 20000
#define FUZZ_MAX 4096

static uint64_t rng = 0x9E3779B97F4A7C15u;

static uint64_t next(void)
{
	/* xorshift64: reproducible, good enough to shake the inputs. */
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void run(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes, so ASan sees reads past the end. */
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		abort();
	memcpy(copy, data, size);
	LLVMFuzzerTestOneInput(copy, size);
	free(copy);
}

static size_t mutate(uint8_t *buf, size_t len, size_t nseeds)
{
	static const char *const tokens[] = { ".", "=", "&", "?", "%", "\"", "\\", "{", "}",
		"[", "]", ",", ":", "\n", "\xC3", "\xE4\xBD", "\xF0\x9F\x8E", "\xED\xA0\x80",
		"\xC0\x80", "\xFF", "0", "-1", "99999999999999999999", "null", "token=" };
	int steps = 1 + (int)(next() % 4);

	for (int s = 0; s < steps; s++) {
		size_t pos = len ? (size_t)(next() % (len + 1)) : 0;

		switch (next() % 5) {
		case 0: /* flip a byte */
			if (len)
				buf[pos % len] ^= (uint8_t)(1u << (next() % 8));
			break;
		case 1: /* insert a token */ {
			const char *t = tokens[next() % (sizeof(tokens) / sizeof(tokens[0]))];
			size_t tl = strlen(t);

			if (len + tl <= FUZZ_MAX) {
				memmove(buf + pos + tl, buf + pos, len - pos);
				memcpy(buf + pos, t, tl);
				len += tl;
			}
			break;
		}
		case 2: /* delete a run */ {
			size_t n = pos < len ? (size_t)(next() % (len - pos + 1)) : 0;

			memmove(buf + pos, buf + pos + n, len - pos - n);
			len -= n;
			break;
		}
		case 3: /* splice in part of another seed */ {
			const char *o = fuzz_seeds[next() % nseeds];
			size_t ol = strlen(o), from = ol ? (size_t)(next() % ol) : 0;
			size_t n = ol - from;

			if (len + n > FUZZ_MAX)
				n = FUZZ_MAX - len;
			memmove(buf + pos + n, buf + pos, len - pos);
			memcpy(buf + pos, o + from, n);
			len += n;
			break;
		}
		default: /* truncate */
			len = pos;
			break;
		}
	}
	return len;
}

int main(int argc, char **argv)
{
	static uint8_t buf[FUZZ_MAX];
	size_t nseeds = 0;

	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			FILE *f = fopen(argv[i], "rb");
			size_t n;

			if (!f) {
				perror(argv[i]);
				return 1;
			}
			n = fread(buf, 1, sizeof(buf), f);
			fclose(f);
			run(buf, n);
		}
		return 0;
	}
	while (fuzz_seeds[nseeds])
		nseeds++;
	for (size_t i = 0; i < nseeds; i++)
		run((const uint8_t *)fuzz_seeds[i], strlen(fuzz_seeds[i]));
	for (int r = 0; r < FUZZ_ROUNDS; r++) {
		const char *seed = fuzz_seeds[next() % nseeds];
		size_t len = strlen(seed);

		if (len > FUZZ_MAX)
			len = FUZZ_MAX;
		memcpy(buf, seed, len);
		len = mutate(buf, len, nseeds);
		run(buf, len);
	}
	printf("%d inputs, no invariant broken\n", FUZZ_ROUNDS + (int)nseeds);
	return 0;
}
