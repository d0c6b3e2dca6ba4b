/* One error type for the whole project. Every shared/ function that can fail
 * returns a chat_err; api/ maps it to an HTTP status and relay/ to an error
 * frame code, each in one place (api/errors.c, relay/frames.c). */
#ifndef CHAT_ERROR_H
#define CHAT_ERROR_H

typedef enum chat_err {
	CHAT_OK = 0,
	CHAT_ERR_NOT_FOUND,   /* row absent (or not visible to the caller) */
	CHAT_ERR_DUPLICATE,   /* unique key violated (username taken, ...) */
	CHAT_ERR_CONFLICT,    /* state forbids it (owner leaving, ...) */
	CHAT_ERR_FORBIDDEN,   /* authenticated but not allowed */
	CHAT_ERR_INVALID,     /* bad input */
	CHAT_ERR_AUTH,        /* bad credentials or token */
	CHAT_ERR_UNAVAILABLE, /* database down or connection lost after retry */
	CHAT_ERR_NOMEM,
	CHAT_ERR_INTERNAL,
	CHAT_ERR_GONE,        /* existed but was deleted (a client_id retry of a deleted message) */
} chat_err;

/* Static English name of an error, for logs ("not found", ...). */
const char *chat_err_str(chat_err e);

#endif
