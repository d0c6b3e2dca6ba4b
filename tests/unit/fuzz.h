/* Fuzz targets of the parsers of untrusted input. Each target defines
 * LLVMFuzzerTestOneInput and a NULL-terminated list of seed inputs. Built
 * with --enable-fuzzing (clang) they are libFuzzer programs; otherwise
 * fuzz_main.c drives them through a fixed number of deterministic
 * mutations of the seeds, as ordinary tests under make check (and under
 * the sanitizers in CI). A target aborts when an invariant breaks. */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern const char *const fuzz_seeds[];

/* abort() with a message when cond is false (assert() may be compiled out). */
#define FUZZ_CHECK(cond)                                                                   \
	do {                                                                               \
		if (!(cond))                                                               \
			fuzz_fail(__FILE__, __LINE__, #cond);                              \
	} while (0)

#include <stdio.h>
#include <stdlib.h>

__attribute__((noreturn)) static inline void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
	abort();
}

#endif
