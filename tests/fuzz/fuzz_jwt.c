/* Fuzz target: chat_jwt_verify, the gate in front of both programs.
 *
 * The first byte picks a mode, the second the expected token type:
 *   0-2  the rest is a raw token, verified under HS256, RS256 or ES256;
 *   3    the rest is "header-JSON\npayload-JSON": the target encodes and
 *        signs it with the HS256 secret, so the claim checks are reached;
 *        an accepted token must satisfy them (checked here with json-c);
 *   4    the same, signed with HS256 using the RSA public key PEM as the
 *        secret, verified under RS256: must always be refused;
 *   5    the same, unsigned (empty signature), verified under HS256:
 *        must always be refused.
 * Stops nowhere near a database: verification is pure. */
#include "config.h"

#include <json-c/json.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat_config.h"
#include "chat_file.h"
#include "chat_jwt.h"
#include "fuzz.h"

#define SECRET "fuzz-secret-0123456789abcdef0123456789"
#define NOW ((time_t)1750000000)
#define TOKEN_BUF 20000

enum { CFG_HS, CFG_RS, CFG_ES, CFG_N };

static chat_jwt *jwts[CFG_N];
static int leeway;
static char *rsa_pem;
static size_t rsa_pem_len;

static chat_jwt *make(const char *const *sets, size_t n)
{
	chat_config cfg;
	chat_jwt *j = NULL;

	if (chat_config_defaults(&cfg) != 0)
		abort();
	for (size_t i = 0; i < n; i++)
		if (chat_config_set(&cfg, sets[i], stderr) != 0)
			abort();
	leeway = cfg.auth.jwt_leeway;
	j = chat_jwt_create(&cfg, stderr);
	chat_config_free(&cfg);
	if (!j)
		abort();
	return j;
}

static void init(void)
{
	static const char *hs[] = {("auth.jwt_secret=" SECRET), "auth.jwt_issuer=chat",
	                           "auth.jwt_audience=web"};
	static const char *rs[] = {"auth.jwt_algorithm=RS256",
	                           ("auth.jwt_public_key_file=" FUZZ_KEYDIR "/rsa-public.pem")};
	static const char *es[] = {"auth.jwt_algorithm=ES256",
	                           ("auth.jwt_public_key_file=" FUZZ_KEYDIR "/ec-public.pem")};

	if (sodium_init() < 0)
		abort();
	jwts[CFG_HS] = make(hs, 3);
	jwts[CFG_RS] = make(rs, 2);
	jwts[CFG_ES] = make(es, 2);
	rsa_pem = chat_file_read(FUZZ_KEYDIR "/rsa-public.pem", CHAT_KEY_FILE_MAX, &rsa_pem_len);
	if (!rsa_pem)
		abort();
}

static size_t b64url(const void *in, size_t len, char *out, size_t outsz)
{
	if (sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING) > outsz)
		return 0;
	sodium_bin2base64(out, outsz, in, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return strlen(out);
}

/* header.payload[.signature] into tok; false when it does not fit. */
static bool build(const char *h, size_t hl, const char *p, size_t pl, const void *key,
                  size_t keylen, bool sign, char *tok)
{
	size_t n = b64url(h, hl, tok, TOKEN_BUF / 2);
	if (!n && hl)
		return false;
	tok[n++] = '.';
	size_t m = b64url(p, pl, tok + n, TOKEN_BUF / 2 - 100);
	if (!m && pl)
		return false;
	n += m;
	tok[n++] = '.';
	tok[n] = '\0';
	if (sign) {
		unsigned char mac[crypto_auth_hmacsha256_BYTES];
		crypto_auth_hmacsha256_state st;
		crypto_auth_hmacsha256_init(&st, key, keylen);
		crypto_auth_hmacsha256_update(&st, (const unsigned char *)tok, n - 1);
		crypto_auth_hmacsha256_final(&st, mac);
		b64url(mac, sizeof(mac), tok + n, 100);
	}
	return true;
}

static bool is_str(json_object *o, const char *key, const char *want)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) &&
	       strcmp(json_object_get_string(v), want) == 0;
}

static bool aud_has(json_object *o, const char *want)
{
	json_object *v;
	if (!json_object_object_get_ex(o, "aud", &v))
		return false;
	if (!json_object_is_type(v, json_type_array))
		return is_str(o, "aud", want);
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		json_object *e = json_object_array_get_idx(v, i);
		if (json_object_is_type(e, json_type_string) && strcmp(json_object_get_string(e), want) == 0)
			return true;
	}
	return false;
}

/* An accepted signed token must obey the contract's claim rules. Only
 * checked when json-c reads the same texts (it is laxer than libjwt's
 * parser, so the other way round says nothing). */
static void check_accepted(const char *h, size_t hl, const char *p, size_t pl,
                           chat_token_type expect, int64_t uid)
{
	json_object *hdr = json_tokener_parse(h), *pay = json_tokener_parse(p);
	json_object *v;

	FUZZ_CHECK(uid > 0, "accepted token gave user id %lld", (long long)uid);
	if (hdr && strlen(h) == hl && json_object_is_type(hdr, json_type_object))
		FUZZ_CHECK(is_str(hdr, "alg", "HS256"), "accepted a header without alg HS256: %s", h);
	if (pay && strlen(p) == pl && json_object_is_type(pay, json_type_object)) {
		FUZZ_CHECK(json_object_object_get_ex(pay, "exp", &v) &&
		               (json_object_is_type(v, json_type_int) ||
		                json_object_is_type(v, json_type_double)),
		           "accepted without a numeric exp: %s", p);
		FUZZ_CHECK(json_object_get_double(v) + leeway >= (double)NOW,
		           "accepted an expired token: %s", p);
		if (json_object_object_get_ex(pay, "token_type", &v))
			FUZZ_CHECK(is_str(pay, "token_type",
			                  expect == CHAT_TOKEN_REFRESH ? "refresh" : "access"),
			           "accepted a wrong token_type: %s", p);
		else
			FUZZ_CHECK(expect == CHAT_TOKEN_ACCESS, "accepted a refresh without token_type");
		FUZZ_CHECK(is_str(pay, "iss", "chat"), "accepted a wrong iss: %s", p);
		FUZZ_CHECK(aud_has(pay, "web"), "accepted a wrong aud: %s", p);
	}
	json_object_put(hdr);
	json_object_put(pay);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	char *tok = NULL, *raw = NULL;
	int64_t uid = 0;
	const char *why = NULL;

	if (!ready) {
		init();
		ready = true;
	}
	if (size < 2 || size > TOKEN_BUF / 4)
		return 0;
	int mode = data[0] % 6;
	chat_token_type expect = (data[1] & 1) ? CHAT_TOKEN_REFRESH : CHAT_TOKEN_ACCESS;
	data += 2;
	size -= 2;

	if (mode < 3) {
		raw = malloc(size + 1);
		if (!raw)
			return 0;
		memcpy(raw, data, size);
		raw[size] = '\0';
		chat_err e = chat_jwt_verify(jwts[mode], raw, expect, NOW, &uid, &why);
		FUZZ_CHECK(e == CHAT_OK || e == CHAT_ERR_AUTH, "unexpected error %d", (int)e);
		FUZZ_CHECK(e == CHAT_OK || why != NULL, "refusal without a reason");
		if (mode == CFG_HS && e == CHAT_OK) {
			/* A random token passing an HMAC: only our seeds do that. */
			FUZZ_CHECK(uid > 0, "accepted token gave user id %lld", (long long)uid);
		}
		goto out;
	}

	/* Structured modes: header and payload texts, NUL-terminated copies. */
	const uint8_t *nl = memchr(data, '\n', size);
	size_t hl = nl ? (size_t)(nl - data) : size;
	size_t pl = nl ? size - hl - 1 : 0;
	char *h = malloc(hl + 1), *p = malloc(pl + 1);
	tok = malloc(TOKEN_BUF);
	if (!h || !p || !tok) {
		free(h);
		free(p);
		goto out;
	}
	memcpy(h, data, hl);
	h[hl] = '\0';
	memcpy(p, nl ? nl + 1 : data + size, pl);
	p[pl] = '\0';

	if (mode == 3 && build(h, hl, p, pl, SECRET, strlen(SECRET), true, tok)) {
		if (chat_jwt_verify(jwts[CFG_HS], tok, expect, NOW, &uid, &why) == CHAT_OK)
			check_accepted(h, hl, p, pl, expect, uid);
	} else if (mode == 4 && build(h, hl, p, pl, rsa_pem, rsa_pem_len, true, tok)) {
		FUZZ_CHECK(chat_jwt_verify(jwts[CFG_RS], tok, expect, NOW, &uid, &why) != CHAT_OK,
		           "RS256 config accepted an HS256 token signed with the public key: %s", tok);
	} else if (mode == 5 && build(h, hl, p, pl, NULL, 0, false, tok)) {
		for (int c = 0; c < CFG_N; c++)
			FUZZ_CHECK(chat_jwt_verify(jwts[c], tok, expect, NOW, &uid, &why) != CHAT_OK,
			           "accepted an unsigned token: %s", tok);
	}
	free(h);
	free(p);
out:
	free(raw);
	free(tok);
	return 0;
}
