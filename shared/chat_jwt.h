/* JWT verification and issuing (libjwt 1.10). The algorithm is the
 * configured one, never the token's: after decoding, the header's alg must
 * equal it, so alg:none and HS256-signed-with-the-public-key are refused.
 * exp is required (leeway from config), nbf honoured, iss/aud checked when
 * configured. The user id is the claim user_id (Django SimpleJWT) or else
 * sub (a number or a decimal string). token_type, when present, must match.
 * A token naming the anonymous user (id 1) is refused unless
 * auth.allow_anonymous is on; any crit header is refused (RFC 7515).
 * A chat_jwt is immutable after creation: any thread may use it. */
#ifndef CHAT_JWT_H
#define CHAT_JWT_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "chat_config.h"
#include "chat_error.h"

typedef struct chat_jwt chat_jwt;

typedef enum chat_token_type {
	CHAT_TOKEN_ACCESS = 0,  /* token_type absent or "access" */
	CHAT_TOKEN_REFRESH,     /* token_type "refresh" */
} chat_token_type;

/* Build from cfg->auth (reads key files). NULL after reporting to err. */
chat_jwt *chat_jwt_create(const chat_config *cfg, FILE *err);
void chat_jwt_free(chat_jwt *j);

/* Verify token as of now. CHAT_OK and *user_id on success; CHAT_ERR_AUTH
 * otherwise, with *why (static string, safe to log: never the token) set
 * when why is not NULL. */
chat_err chat_jwt_verify(const chat_jwt *j, const char *token, chat_token_type expect,
                         time_t now, int64_t *user_id, const char **why);
/* The same, also giving the token's exp claim (seconds) in *exp. */
chat_err chat_jwt_verify_exp(const chat_jwt *j, const char *token, chat_token_type expect,
                             time_t now, int64_t *user_id, int64_t *exp, const char **why);

#define CHAT_JWT_ID_LEN 32
/* A token's identity for revocation: the hex BLAKE2b-128 of its signed
 * part (header.payload, which the signature fixes), into out
 * (CHAT_JWT_ID_LEN + 1 bytes). Two encodings of one signature give the
 * same id. */
void chat_jwt_token_id(const char *token, char out[CHAT_JWT_ID_LEN + 1]);

/* Issue a token for user_id: claims token_type, exp, iat, jti, user_id
 * (and iss/aud when configured), lifetime from config. Returns a malloc'd
 * string, NULL on failure (e.g. RS256 without a private key). */
char *chat_jwt_issue(const chat_jwt *j, int64_t user_id, chat_token_type type, time_t now);

#endif
