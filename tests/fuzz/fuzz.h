/* The libFuzzer entry point every target defines. The same object is
 * linked either with libFuzzer (-fsanitize=fuzzer, fuzzing builds) or with
 * replay_main.c, which runs it over files for `make check`. */
#ifndef CHAT_FUZZ_H
#define CHAT_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Run one input. Returns 0; a bug aborts (assertion, sanitizer). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with a message when cond is false: the fuzzer's oracle. Unlike
 * assert() it is never compiled out. */
#define FUZZ_CHECK(cond, ...)                                               \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d): ", #cond, \
			        __FILE__, __LINE__);                        \
			fprintf(stderr, __VA_ARGS__);                       \
			fputc('\n', stderr);                                \
			abort();                                            \
		}                                                           \
	} while (0)

#endif
