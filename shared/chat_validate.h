/* Field validation shared by chat-api and chat-relay, so both refuse the
 * same input with the same words. Each returns CHAT_OK or
 * CHAT_ERR_INVALID with *detail set to a static English sentence. */
#ifndef CHAT_VALIDATE_H
#define CHAT_VALIDATE_H

#include <stddef.h>

#include "chat_error.h"

/* Non-empty, valid UTF-8, at most max_chars code points. */
chat_err chat_validate_content(const char *s, size_t len, int max_chars, const char **detail);
/* text, image, file or system */
chat_err chat_validate_message_type(const char *s, const char **detail);
/* 1..64 characters, printable ASCII. */
chat_err chat_validate_client_id(const char *s, size_t len, const char **detail);
/* 1..150 characters of letters, digits and @.+-_ (Django's rule). */
chat_err chat_validate_username(const char *s, size_t len, const char **detail);
/* 8..128 characters (bytes 1..1024), valid UTF-8. */
chat_err chat_validate_password(const char *s, size_t len, const char **detail);
/* Non-blank, valid UTF-8, at most 100 code points. */
chat_err chat_validate_room_name(const char *s, size_t len, const char **detail);
/* Valid UTF-8, at most 1000 code points (may be empty). */
chat_err chat_validate_description(const char *s, size_t len, const char **detail);
/* Parse a positive decimal id (1..2^63-1, no sign, no spaces). */
chat_err chat_parse_id(const char *s, size_t len, long long *out);

#endif
