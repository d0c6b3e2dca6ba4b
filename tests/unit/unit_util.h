/* Helpers shared by the unit tests. */
#ifndef UNIT_UTIL_H
#define UNIT_UTIL_H

#include <stddef.h>

/* Write text to a new temporary file; its path goes to path. Aborts the
 * test on failure. */
void unit_write_temp(const char *text, char *path, size_t pathsz);

/* Make a new temporary directory; its path goes to path. */
void unit_make_temp_dir(char *path, size_t pathsz);

#endif
