/* Argon2id password hashes through libsodium. The costs are set once at
 * start-up; a dummy hash made then lets unknown users cost the same time as
 * known ones. */
#include "config.h"

#include <sodium.h>
#include <string.h>

#include "chat_password.h"

_Static_assert(crypto_pwhash_STRBYTES <= CHAT_PASSWORD_HASH_BUF, "hash buffer too small");

static unsigned long long ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
static size_t mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
static char dummy_hash[crypto_pwhash_STRBYTES];

int chat_password_init(unsigned ops_limit, unsigned mem_kib)
{
	unsigned char pw[16];
	char hex[sizeof(pw) * 2 + 1];

	if (sodium_init() < 0)
		return -1;
	if (ops_limit < crypto_pwhash_OPSLIMIT_MIN || ops_limit > crypto_pwhash_OPSLIMIT_MAX ||
	    (size_t)mem_kib * 1024 < crypto_pwhash_MEMLIMIT_MIN)
		return -1;
	ops = ops_limit;
	mem = (size_t)mem_kib * 1024;
	/* A random password nobody knows: the dummy verification never matches. */
	randombytes_buf(pw, sizeof(pw));
	sodium_bin2hex(hex, sizeof(hex), pw, sizeof(pw));
	if (crypto_pwhash_str(dummy_hash, hex, strlen(hex), ops, mem) != 0)
		return -1;
	return 0;
}

int chat_password_hash(const char *password, char out[CHAT_PASSWORD_HASH_BUF])
{
	memset(out, 0, CHAT_PASSWORD_HASH_BUF);
	if (crypto_pwhash_str(out, password, strlen(password), ops, mem) != 0)
		return -1;
	return 0;
}

void chat_password_dummy_verify(const char *password)
{
	/* The result is meaningless; only the time spent matters. */
	if (dummy_hash[0] && crypto_pwhash_str_verify(dummy_hash, password, strlen(password)) == 0)
		return;
}

bool chat_password_verify(const char *hash, const char *password)
{
	if (!hash || !password)
		return false;
	/* crypto_pwhash_str_verify wants a NUL inside its buffer size. */
	if (!hash[0] || strnlen(hash, crypto_pwhash_STRBYTES) == crypto_pwhash_STRBYTES) {
		chat_password_dummy_verify(password);
		return false;
	}
	return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}
