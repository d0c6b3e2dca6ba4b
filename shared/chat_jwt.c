/* JWT verification and issuing over libjwt 1.10.
 *
 * libjwt 1.10 decodes and checks the signature with whatever algorithm the
 * token's header names, and has no claim validation. So, in order:
 *   1. for HS256/HS384/HS512 the signature is first checked here in
 *      constant time (libjwt compares HMACs with strcmp);
 *   2. jwt_decode() always gets the key, so alg "none" fails there;
 *   3. no crit header (RFC 7515 4.1.11), and the header's alg must be
 *      exactly the configured one;
 *   4. the claims are taken out of libjwt as one JSON text and read with
 *      json-c (libjwt's Jansson objects never meet json-c's), where the
 *      types are checked: exp required, nbf, iss, aud, token_type, then the
 *      user id. */
#include "config.h"

#include <errno.h>
#include <jwt.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chat_file.h"
#include "chat_jwt.h"
#include "chat_types.h"
#include "chat_validate.h"

#define TOKEN_MAX 8192     /* longer "tokens" are refused unread */

struct chat_jwt {
	jwt_alg_t alg;
	char alg_name[8];
	unsigned char *verify_key; /* HMAC secret, or PEM public key */
	size_t verify_len;
	unsigned char *sign_key;   /* HMAC secret, or PEM private key; NULL = cannot issue */
	size_t sign_len;
	char *issuer;              /* NULL = not checked */
	char *audience;            /* NULL = not checked */
	int leeway;
	int lifetime[2];           /* by chat_token_type */
	bool allow_anonymous;      /* tokens for the anonymous user pass only then */
};

static bool is_hmac(jwt_alg_t alg)
{
	return alg == JWT_ALG_HS256 || alg == JWT_ALG_HS384 || alg == JWT_ALG_HS512;
}

static void free_key(unsigned char *key, size_t len)
{
	if (key) {
		sodium_memzero(key, len);
		free(key);
	}
}

void chat_jwt_free(chat_jwt *j)
{
	if (!j)
		return;
	/* The HMAC secret is shared by both slots. */
	if (j->sign_key != j->verify_key)
		free_key(j->sign_key, j->sign_len);
	free_key(j->verify_key, j->verify_len);
	free(j->issuer);
	free(j->audience);
	free(j);
}

/* Read a PEM key file, or a secret file (secret: without its trailing
 * line end). */
static unsigned char *read_key(const char *path, bool secret, size_t *len, FILE *err)
{
	char *buf = secret ? chat_file_read_secret(path, len)
	                   : chat_file_read(path, CHAT_KEY_FILE_MAX, len);

	if (!buf && err)
		fprintf(err, "cannot read %s: %s\n", path, strerror(errno));
	return (unsigned char *)buf;
}

static char *dup_or_null(const char *s, bool *ok)
{
	char *d;

	if (!s || !*s)
		return NULL;
	d = strdup(s);
	if (!d)
		*ok = false;
	return d;
}

chat_jwt *chat_jwt_create(const chat_config *cfg, FILE *err)
{
	const char *alg = cfg->auth.jwt_algorithm;
	chat_jwt *j = calloc(1, sizeof(*j));
	bool ok = true;

	if (!j || sodium_init() < 0)
		goto fail;
	j->alg = jwt_str_alg(alg);
	if (j->alg == JWT_ALG_NONE || j->alg == JWT_ALG_INVAL || strlen(alg) >= sizeof(j->alg_name)) {
		if (err)
			fprintf(err, "[auth] jwt_algorithm %s is not supported\n", alg);
		goto fail;
	}
	/* The canonical spelling, compared byte for byte with token headers. */
	snprintf(j->alg_name, sizeof(j->alg_name), "%s", jwt_alg_str(j->alg));

	if (is_hmac(j->alg)) {
		if (*cfg->auth.jwt_secret_file) {
			j->verify_key = read_key(cfg->auth.jwt_secret_file, true, &j->verify_len, err);
		} else if (*cfg->auth.jwt_secret) {
			j->verify_len = strlen(cfg->auth.jwt_secret);
			j->verify_key = (unsigned char *)strdup(cfg->auth.jwt_secret);
		} else if (err) {
			fprintf(err, "[auth] jwt_algorithm %s needs jwt_secret or jwt_secret_file\n", alg);
		}
		if (!j->verify_key || j->verify_len == 0)
			goto fail;
		j->sign_key = j->verify_key;
		j->sign_len = j->verify_len;
	} else {
		if (!*cfg->auth.jwt_public_key_file) {
			if (err)
				fprintf(err, "[auth] jwt_algorithm %s needs jwt_public_key_file\n", alg);
			goto fail;
		}
		j->verify_key = read_key(cfg->auth.jwt_public_key_file, false, &j->verify_len, err);
		if (!j->verify_key)
			goto fail;
		if (*cfg->auth.jwt_private_key_file) {
			j->sign_key = read_key(cfg->auth.jwt_private_key_file, false, &j->sign_len, err);
			if (!j->sign_key)
				goto fail;
		}
	}
	j->issuer = dup_or_null(cfg->auth.jwt_issuer, &ok);
	j->audience = dup_or_null(cfg->auth.jwt_audience, &ok);
	if (!ok)
		goto fail;
	j->leeway = cfg->auth.jwt_leeway;
	j->allow_anonymous = cfg->auth.allow_anonymous;
	j->lifetime[CHAT_TOKEN_ACCESS] = cfg->auth.access_token_lifetime;
	j->lifetime[CHAT_TOKEN_REFRESH] = cfg->auth.refresh_token_lifetime;
	return j;
fail:
	chat_jwt_free(j);
	return NULL;
}

/* HMAC-SHA384 (RFC 4231) over libsodium's SHA-512: SHA-384 is SHA-512
 * with other initial values, truncated to 48 bytes, and libsodium's
 * SHA-512 state is public. So HS384 is checked here in constant time
 * like the others, with no second crypto library. */
#define SHA384_BYTES 48
#define SHA512_BLOCK 128

static void sha384_init(crypto_hash_sha512_state *st)
{
	static const uint64_t iv[8] = {
		0xcbbb9d5dc1059ed8ULL, 0x629a292a367cd507ULL, 0x9159015a3070dd17ULL,
		0x152fecd8f70e5939ULL, 0x67332667ffc00b31ULL, 0x8eb44a8768581511ULL,
		0xdb0c2e0d64f98fa7ULL, 0x47b5481dbefa4fa4ULL,
	};
	crypto_hash_sha512_init(st);
	memcpy(st->state, iv, sizeof(iv));
}

static void sha384_final(crypto_hash_sha512_state *st, unsigned char out[SHA384_BYTES])
{
	unsigned char full[crypto_hash_sha512_BYTES];
	crypto_hash_sha512_final(st, full);
	memcpy(out, full, SHA384_BYTES);
	sodium_memzero(full, sizeof(full));
}

static void hmac_sha384(const unsigned char *key, size_t keylen, const unsigned char *msg,
                        size_t len, unsigned char out[SHA384_BYTES])
{
	unsigned char k[SHA512_BLOCK] = { 0 }, pad[SHA512_BLOCK], inner[SHA384_BYTES];
	crypto_hash_sha512_state st;

	if (keylen > SHA512_BLOCK) {
		sha384_init(&st);
		crypto_hash_sha512_update(&st, key, keylen);
		sha384_final(&st, k);
	} else {
		memcpy(k, key, keylen);
	}
	for (size_t i = 0; i < SHA512_BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	sha384_init(&st);
	crypto_hash_sha512_update(&st, pad, sizeof(pad));
	crypto_hash_sha512_update(&st, msg, len);
	sha384_final(&st, inner);
	for (size_t i = 0; i < SHA512_BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	sha384_init(&st);
	crypto_hash_sha512_update(&st, pad, sizeof(pad));
	crypto_hash_sha512_update(&st, inner, sizeof(inner));
	sha384_final(&st, out);
	sodium_memzero(k, sizeof(k));
	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(&st, sizeof(st));
}

/* Constant-time HMAC check for every HMAC algorithm (HS256, HS384,
 * HS512). Returns false on a bad signature; true when it matches or the
 * algorithm is not an HMAC (libjwt checks RS/ES signatures). */
static bool hmac_matches(const chat_jwt *j, const char *token)
{
	unsigned char mac[crypto_auth_hmacsha512_BYTES], sig[crypto_auth_hmacsha512_BYTES];
	const char *first = strchr(token, '.');
	const char *last = strrchr(token, '.');
	const unsigned char *in = (const unsigned char *)token;
	size_t maclen, siglen, inlen;

	if (!is_hmac(j->alg))
		return true;
	if (!first || first == last)
		return false;
	inlen = (size_t)(last - token);
	if (sodium_base642bin(sig, sizeof(sig), last + 1, strlen(last + 1), NULL, &siglen, NULL,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return false;
	if (j->alg == JWT_ALG_HS256) {
		crypto_auth_hmacsha256_state st;

		crypto_auth_hmacsha256_init(&st, j->verify_key, j->verify_len);
		crypto_auth_hmacsha256_update(&st, in, inlen);
		crypto_auth_hmacsha256_final(&st, mac);
		maclen = crypto_auth_hmacsha256_BYTES;
	} else if (j->alg == JWT_ALG_HS384) {
		hmac_sha384(j->verify_key, j->verify_len, in, inlen, mac);
		maclen = SHA384_BYTES;
	} else {
		crypto_auth_hmacsha512_state st;

		crypto_auth_hmacsha512_init(&st, j->verify_key, j->verify_len);
		crypto_auth_hmacsha512_update(&st, in, inlen);
		crypto_auth_hmacsha512_final(&st, mac);
		maclen = crypto_auth_hmacsha512_BYTES;
	}
	return siglen == maclen && sodium_memcmp(mac, sig, maclen) == 0;
}

/* RFC 7515 4.1.11: a crit header lists extensions the recipient must
 * understand; this verifier understands none, so any crit is refused
 * (whatever its type). */
static bool has_crit(jwt_t *jwt)
{
	char *text = jwt_get_headers_json(jwt, NULL);
	json_object *h = text ? json_tokener_parse(text) : NULL;
	bool crit = !h || json_object_object_get_ex(h, "crit", NULL);
	json_object_put(h);
	free(text);
	return crit;
}

/* A JSON number claim as seconds. */
static bool claim_time(json_object *claims, const char *name, double *out)
{
	json_object *v;

	if (!json_object_object_get_ex(claims, name, &v))
		return false;
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return false;
	*out = json_object_get_double(v);
	return true;
}

/* A positive id from a JSON integer or a decimal string; the integer goes
 * through its decimal text so that out-of-range values are refused, not
 * clamped. */
static bool claim_id(json_object *v, int64_t *out)
{
	const char *s;
	long long id;

	if (json_object_is_type(v, json_type_int))
		s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
	else if (json_object_is_type(v, json_type_string))
		s = json_object_get_string(v);
	else
		return false;
	if (!s || chat_parse_id(s, strlen(s), &id) != CHAT_OK)
		return false;
	*out = id;
	return true;
}

static bool string_is(json_object *v, const char *want)
{
	return json_object_is_type(v, json_type_string) && strcmp(json_object_get_string(v), want) == 0;
}

/* aud is a string or an array of strings (RFC 7519 4.1.3). */
static bool audience_ok(json_object *claims, const char *want)
{
	json_object *v;

	if (!json_object_object_get_ex(claims, "aud", &v))
		return false;
	if (json_object_is_type(v, json_type_array)) {
		size_t n = json_object_array_length(v);

		for (size_t i = 0; i < n; i++)
			if (string_is(json_object_array_get_idx(v, i), want))
				return true;
		return false;
	}
	return string_is(v, want);
}

/* The claim checks, on the decoded and signature-checked claims. */
static const char *check_claims(const chat_jwt *j, json_object *claims, chat_token_type expect,
                                time_t now, int64_t *user_id, int64_t *exp)
{
	json_object *v;
	double t;

	if (!json_object_is_type(claims, json_type_object))
		return "malformed token";
	if (!claim_time(claims, "exp", &t))
		return "token has no valid exp";
	if ((double)now > t + j->leeway)
		return "token expired";
	*exp = t > (double)INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)t;
	if (json_object_object_get_ex(claims, "nbf", &v)) {
		if (!claim_time(claims, "nbf", &t))
			return "token has an invalid nbf";
		if ((double)now + j->leeway < t)
			return "token not yet valid";
	}
	if (j->issuer && (!json_object_object_get_ex(claims, "iss", &v) || !string_is(v, j->issuer)))
		return "wrong token issuer";
	if (j->audience && !audience_ok(claims, j->audience))
		return "wrong token audience";
	if (json_object_object_get_ex(claims, "token_type", &v)) {
		if (!string_is(v, expect == CHAT_TOKEN_REFRESH ? "refresh" : "access"))
			return "wrong token type";
	} else if (expect == CHAT_TOKEN_REFRESH) {
		return "wrong token type";
	}
	if (!json_object_object_get_ex(claims, "user_id", &v) &&
	    !json_object_object_get_ex(claims, "sub", &v))
		return "token names no user";
	if (!claim_id(v, user_id))
		return "token has an invalid user id";
	/* The built-in anonymous user cannot log in; a token naming it is
	 * someone's forgery or mistake, and must not act as it while
	 * anonymous access is off. */
	if (*user_id == CHAT_ANONYMOUS_USER_ID && !j->allow_anonymous)
		return "token for the anonymous user (anonymous access is off)";
	return NULL;
}

chat_err chat_jwt_verify(const chat_jwt *j, const char *token, chat_token_type expect,
                         time_t now, int64_t *user_id, const char **why)
{
	return chat_jwt_verify_exp(j, token, expect, now, user_id, NULL, why);
}

void chat_jwt_token_id(const char *token, char out[CHAT_JWT_ID_LEN + 1])
{
	unsigned char h[CHAT_JWT_ID_LEN / 2];
	const char *last = strrchr(token, '.');
	size_t len = last ? (size_t)(last - token) : strlen(token);

	crypto_generichash(h, sizeof(h), (const unsigned char *)token, len, NULL, 0);
	sodium_bin2hex(out, CHAT_JWT_ID_LEN + 1, h, sizeof(h));
}

chat_err chat_jwt_verify_exp(const chat_jwt *j, const char *token, chat_token_type expect,
                             time_t now, int64_t *user_id, int64_t *exp_out, const char **why)
{
	const char *reason = NULL;
	jwt_t *jwt = NULL;
	char *text = NULL;
	json_object *claims = NULL;
	const char *alg;
	int64_t id = 0, exp = 0;

	if (!token || !*token || strnlen(token, TOKEN_MAX + 1) > TOKEN_MAX) {
		reason = "malformed token";
		goto out;
	}
	if (!hmac_matches(j, token)) {
		reason = "bad token signature";
		goto out;
	}
	if (jwt_decode(&jwt, token, j->verify_key, (int)j->verify_len) != 0 || !jwt) {
		reason = "invalid token";
		goto out;
	}
	/* libjwt up to 1.16 refused a typ other than JWT while decoding; 1.17
	 * (Debian 13) does not look at it. */
	const char *typ = jwt_get_header(jwt, "typ");
	if (typ && strcasecmp(typ, "JWT") != 0) {
		reason = "invalid token";
		goto out;
	}
	if (has_crit(jwt)) {
		reason = "token has a crit header";
		goto out;
	}
	alg = jwt_get_header(jwt, "alg");
	if (jwt_get_alg(jwt) != j->alg || !alg || strcmp(alg, j->alg_name) != 0) {
		reason = "wrong token algorithm";
		goto out;
	}
	text = jwt_get_grants_json(jwt, NULL);
	claims = text ? json_tokener_parse(text) : NULL;
	if (!claims) {
		reason = "malformed token";
		goto out;
	}
	reason = check_claims(j, claims, expect, now, &id, &exp);
out:
	json_object_put(claims);
	free(text);
	jwt_free(jwt);
	if (why)
		*why = reason;
	if (reason)
		return CHAT_ERR_AUTH;
	if (user_id)
		*user_id = id;
	if (exp_out)
		*exp_out = exp;
	return CHAT_OK;
}

char *chat_jwt_issue(const chat_jwt *j, int64_t user_id, chat_token_type type, time_t now)
{
	unsigned char rnd[16];
	char jti[sizeof(rnd) * 2 + 1];
	jwt_t *jwt = NULL;
	char *out = NULL;
	int t = type == CHAT_TOKEN_REFRESH ? CHAT_TOKEN_REFRESH : CHAT_TOKEN_ACCESS;

	if (!j->sign_key || user_id <= 0 || jwt_new(&jwt) != 0)
		goto out;
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(jti, sizeof(jti), rnd, sizeof(rnd));
	/* The claims of Django REST framework SimpleJWT, so either side can
	 * read the other's tokens. */
	if (jwt_add_grant(jwt, "token_type", t == CHAT_TOKEN_REFRESH ? "refresh" : "access") ||
	    jwt_add_grant_int(jwt, "exp", (long)now + j->lifetime[t]) ||
	    jwt_add_grant_int(jwt, "iat", (long)now) || jwt_add_grant(jwt, "jti", jti) ||
	    jwt_add_grant_int(jwt, "user_id", (long)user_id) ||
	    (j->issuer && jwt_add_grant(jwt, "iss", j->issuer)) ||
	    (j->audience && jwt_add_grant(jwt, "aud", j->audience)) ||
	    jwt_set_alg(jwt, j->alg, j->sign_key, (int)j->sign_len))
		goto out;
	out = jwt_encode_str(jwt);
out:
	jwt_free(jwt);
	return out;
}
