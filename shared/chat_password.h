/* Password hashing: Argon2id through libsodium (crypto_pwhash_str), with
 * costs from the config. Verification is constant time, and a failed
 * lookup spends the same work through chat_password_dummy_verify(). */
#ifndef CHAT_PASSWORD_H
#define CHAT_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#include "chat_types.h"

/* Call once at start-up (sodium_init). Costs: ops_limit >= 1, mem_kib >= 8.
 * Returns -1 if libsodium cannot start. */
int chat_password_init(unsigned ops_limit, unsigned mem_kib);

/* Hash into out (CHAT_PASSWORD_HASH_BUF bytes). Returns -1 on failure. */
int chat_password_hash(const char *password, char out[CHAT_PASSWORD_HASH_BUF]);

/* True when password matches hash. An empty hash never matches (but does
 * the same work). */
bool chat_password_verify(const char *hash, const char *password);

/* Spend the work of one verification, for unknown users. */
void chat_password_dummy_verify(const char *password);

#endif
