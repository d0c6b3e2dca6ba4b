/* Small whole-file reads for configuration material (secrets, PEM keys). */
#ifndef CHAT_FILE_H
#define CHAT_FILE_H

#include <stddef.h>

/* Read the whole regular file at path, at most max bytes, into a malloc'd
 * NUL-terminated buffer (*len_out = bytes read, when not NULL). Returns NULL
 * with errno set on failure; EFBIG when the file is larger than max. */
char *chat_file_read(const char *path, size_t max, size_t *len_out);

/* Largest key or secret file read (PEM keys, HMAC secrets). */
#define CHAT_KEY_FILE_MAX 65536

/* Read a secret file (at most CHAT_KEY_FILE_MAX bytes) without its
 * trailing line ends, which editors and "echo" add and which are not part
 * of the secret. Same returns as chat_file_read(); the caller wipes and
 * frees the buffer. */
char *chat_file_read_secret(const char *path, size_t *len_out);

#endif
