/* Small whole-file reads for configuration material (secrets, PEM keys). */
#ifndef CHAT_FILE_H
#define CHAT_FILE_H

#include <stddef.h>

/* Read the whole regular file at path, at most max bytes, into a malloc'd
 * NUL-terminated buffer (*len_out = bytes read, when not NULL). Returns NULL
 * with errno set on failure; EFBIG when the file is larger than max. */
char *chat_file_read(const char *path, size_t max, size_t *len_out);

#endif
