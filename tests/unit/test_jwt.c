/* chat_jwt: tokens as Django REST framework SimpleJWT issues them are
 * accepted; every forgery and misuse we know of is refused. Test tokens
 * are built by hand here (base64url + HMAC-SHA256 from libsodium), not
 * with libjwt, so the test does not share the code under test. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <sodium.h>

#include "chat_jwt.h"
#include "unit_util.h"

#define SECRET "django-insecure-simplejwt-test-key-0123456789"
#define NOW ((time_t)1750000000)

/* Made by PyJWT 2.6 exactly as SimpleJWT calls it (jwt.encode(payload,
 * SIGNING_KEY, algorithm="HS256")) with the payload
 * {"token_type":"access","exp":4102444800,"iat":1737819000,
 *  "jti":"4f1c0d2b9a8e4e6f8b7a6c5d4e3f2a1b","user_id":42} and SECRET. */
#define PYJWT_ACCESS                                                                            \
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZXhwIjo0MTAyNDQ0OD" \
	"AwLCJpYXQiOjE3Mzc4MTkwMDAsImp0aSI6IjRmMWMwZDJiOWE4ZTRlNmY4YjdhNmM1ZDRlM2YyYTFiIiwidXNl" \
	"cl9pZCI6NDJ9.eaaYv8mFHd-wECizVJTBKEj7x5l1ex0Mk5ZwnSzwnBc"
/* The same with token_type "refresh". */
#define PYJWT_REFRESH                                                                           \
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImV4cCI6NDEwMjQ0ND" \
	"gwMCwiaWF0IjoxNzM3ODE5MDAwLCJqdGkiOiI0ZjFjMGQyYjlhOGU0ZTZmOGI3YTZjNWQ0ZTNmMmExYiIsInVz" \
	"ZXJfaWQiOjQyfQ.Sy-0Cjltxp-MEnVV24so4uwBcSAHoSsmq6o6e7UgF3o"

static char token[4096];

static void b64url(const void *data, size_t len, char *out, size_t outsz)
{
	assert_true(sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING) <= outsz);
	sodium_bin2base64(out, outsz, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

enum sig { SIG_NONE, SIG_HS256, SIG_HS512 };

/* header.payload.signature, signed with key (HMAC) or not at all. */
static const char *mint_with(const char *header, const char *payload, enum sig sig,
                             const void *key, size_t keylen)
{
	char h[1024], p[2048], s[200] = "";
	unsigned char mac[crypto_auth_hmacsha512_BYTES];
	int n;

	b64url(header, strlen(header), h, sizeof(h));
	b64url(payload, strlen(payload), p, sizeof(p));
	n = snprintf(token, sizeof(token), "%s.%s", h, p);
	assert_true(n > 0 && (size_t)n < sizeof(token));
	if (sig == SIG_HS256) {
		crypto_auth_hmacsha256_state st;

		crypto_auth_hmacsha256_init(&st, key, keylen);
		crypto_auth_hmacsha256_update(&st, (const unsigned char *)token, strlen(token));
		crypto_auth_hmacsha256_final(&st, mac);
		b64url(mac, crypto_auth_hmacsha256_BYTES, s, sizeof(s));
	} else if (sig == SIG_HS512) {
		crypto_auth_hmacsha512_state st;

		crypto_auth_hmacsha512_init(&st, key, keylen);
		crypto_auth_hmacsha512_update(&st, (const unsigned char *)token, strlen(token));
		crypto_auth_hmacsha512_final(&st, mac);
		b64url(mac, crypto_auth_hmacsha512_BYTES, s, sizeof(s));
	}
	n = snprintf(token + strlen(token), sizeof(token) - strlen(token), ".%s", s);
	assert_true(n > 0);
	return token;
}

#define HS256_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* A SimpleJWT-shaped HS256 token with SECRET and the given payload. */
static const char *mint(const char *payload)
{
	return mint_with(HS256_HEADER, payload, SIG_HS256, SECRET, strlen(SECRET));
}

/* SimpleJWT's access token payload for user 42, valid around NOW, with
 * extra text inserted before the closing brace. */
static const char *simplejwt_payload(const char *type, long exp, const char *extra)
{
	static char p[1024];

	snprintf(p, sizeof(p),
	         "{\"token_type\":\"%s\",\"exp\":%ld,\"iat\":%ld,"
	         "\"jti\":\"8d1f0a3c5b7e49d2a6c4e8f0b2d4f6a8\",\"user_id\":42%s}",
	         type, exp, (long)NOW - 10, extra);
	return p;
}

static chat_jwt *make(const char *const *sets)
{
	chat_config cfg;
	chat_jwt *j;

	assert_int_equal(chat_config_defaults(&cfg), 0);
	assert_int_equal(chat_config_set(&cfg, "auth.jwt_secret=" SECRET, NULL), 0);
	for (; sets && *sets; sets++)
		assert_int_equal(chat_config_set(&cfg, *sets, stderr), 0);
	j = chat_jwt_create(&cfg, stderr);
	chat_config_free(&cfg);
	assert_non_null(j);
	return j;
}

static void accept(const chat_jwt *j, const char *tok, chat_token_type type, int64_t want)
{
	int64_t id = -1;
	const char *why = "unset";

	assert_int_equal(chat_jwt_verify(j, tok, type, NOW, &id, &why), CHAT_OK);
	assert_null(why);
	assert_int_equal(id, want);
}

static void refuse(const chat_jwt *j, const char *tok, chat_token_type type, const char *reason)
{
	int64_t id = -1;
	const char *why = NULL;

	assert_int_equal(chat_jwt_verify(j, tok, type, NOW, &id, &why), CHAT_ERR_AUTH);
	assert_non_null(why);
	if (reason)
		assert_string_equal(why, reason);
	assert_int_equal(id, -1);
}

/* Refused for one of two reasons (the check that catches it differs
 * between libjwt versions). */
static void refuse_either(const chat_jwt *j, const char *tok, const char *r1, const char *r2)
{
	int64_t id = -1;
	const char *why = NULL;

	assert_int_equal(chat_jwt_verify(j, tok, CHAT_TOKEN_ACCESS, NOW, &id, &why), CHAT_ERR_AUTH);
	assert_non_null(why);
	if (strcmp(why, r1) != 0)
		assert_string_equal(why, r2);
	assert_int_equal(id, -1);
}

static void test_simplejwt_accepted(void **state)
{
	chat_jwt *j = make(NULL);

	/* Built by hand, byte for byte as SimpleJWT does. */
	accept(j, mint(simplejwt_payload("access", NOW + 300, "")), CHAT_TOKEN_ACCESS, 42);
	/* Made by PyJWT itself. */
	accept(j, PYJWT_ACCESS, CHAT_TOKEN_ACCESS, 42);
	accept(j, PYJWT_REFRESH, CHAT_TOKEN_REFRESH, 42);
	refuse(j, PYJWT_REFRESH, CHAT_TOKEN_ACCESS, "wrong token type");
	refuse(j, PYJWT_ACCESS, CHAT_TOKEN_REFRESH, "wrong token type");
	chat_jwt_free(j);
}

static void test_alg_none(void **state)
{
	chat_jwt *j = make(NULL);
	const char *p = simplejwt_payload("access", NOW + 300, "");

	refuse(j, mint_with("{\"alg\":\"none\",\"typ\":\"JWT\"}", p, SIG_NONE, NULL, 0),
	       CHAT_TOKEN_ACCESS, NULL);
	refuse(j, mint_with("{\"alg\":\"none\"}", p, SIG_NONE, NULL, 0), CHAT_TOKEN_ACCESS, NULL);
	refuse(j, mint_with("{\"alg\":\"None\"}", p, SIG_NONE, NULL, 0), CHAT_TOKEN_ACCESS, NULL);
	/* alg none, yet a valid HS256 signature appended. */
	refuse(j, mint_with("{\"alg\":\"none\",\"typ\":\"JWT\"}", p, SIG_HS256, SECRET, strlen(SECRET)),
	       CHAT_TOKEN_ACCESS, NULL);
	/* No alg at all. */
	refuse(j, mint_with("{\"typ\":\"JWT\"}", p, SIG_HS256, SECRET, strlen(SECRET)),
	       CHAT_TOKEN_ACCESS, NULL);
	chat_jwt_free(j);
}

static void test_wrong_algorithm(void **state)
{
	chat_jwt *j = make(NULL);
	const char *p = simplejwt_payload("access", NOW + 300, "");

	/* Correctly signed, but with HS512: not the configured algorithm. */
	refuse(j, mint_with("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", p, SIG_HS512, SECRET, strlen(SECRET)),
	       CHAT_TOKEN_ACCESS, NULL);
	/* Claiming HS512 over an HS256 signature does not help either. */
	refuse(j, mint_with("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", p, SIG_HS256, SECRET, strlen(SECRET)),
	       CHAT_TOKEN_ACCESS, NULL);
	/* libjwt up to 1.16 reads alg case-insensitively, so our own check
	 * refuses it; 1.17 (Debian 13) refuses it while decoding. */
	refuse_either(j, mint_with("{\"alg\":\"hs256\",\"typ\":\"JWT\"}", p, SIG_HS256, SECRET,
	                           strlen(SECRET)),
	              "wrong token algorithm", "invalid token");
	refuse(j, mint_with("{\"alg\":\"HS256\",\"typ\":\"JWE\"}", p, SIG_HS256, SECRET, strlen(SECRET)),
	       CHAT_TOKEN_ACCESS, "invalid token");
	chat_jwt_free(j);

	/* And the other way round: HS512 configured, HS256 token refused. */
	j = make((const char *[]){ "auth.jwt_algorithm=HS512", NULL });
	refuse(j, mint(p), CHAT_TOKEN_ACCESS, "bad token signature");
	accept(j, mint_with("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", p, SIG_HS512, SECRET, strlen(SECRET)),
	       CHAT_TOKEN_ACCESS, 42);
	chat_jwt_free(j);
}

static void test_bad_signature(void **state)
{
	chat_jwt *j = make(NULL);
	const char *p = simplejwt_payload("access", NOW + 300, "");
	const char *other = "another-secret-of-sufficient-len";
	char *t;
	size_t len;

	refuse(j, mint_with(HS256_HEADER, p, SIG_HS256, other, strlen(other)), CHAT_TOKEN_ACCESS,
	       "bad token signature");
	t = strdup(mint(p));
	len = strlen(t);
	t[len - 2] = t[len - 2] == 'A' ? 'B' : 'A';
	refuse(j, t, CHAT_TOKEN_ACCESS, "bad token signature");
	/* Signature cut off, or left empty. */
	t[len - 5] = '\0';
	refuse(j, t, CHAT_TOKEN_ACCESS, "bad token signature");
	*strrchr(t, '.') = '\0';
	refuse(j, t, CHAT_TOKEN_ACCESS, "bad token signature");
	free(t);
	refuse(j, mint_with(HS256_HEADER, p, SIG_NONE, NULL, 0), CHAT_TOKEN_ACCESS,
	       "bad token signature");
	/* The payload changed after signing (user 42 -> 1). */
	{
		char h[128], pl[1024], forged[2048];
		const char *good = mint(p);
		const char *sig = strrchr(good, '.');
		const char *evil = simplejwt_payload("access", NOW + 300, ",\"user_id\":1");

		b64url(HS256_HEADER, strlen(HS256_HEADER), h, sizeof(h));
		b64url(evil, strlen(evil), pl, sizeof(pl));
		snprintf(forged, sizeof(forged), "%s.%s%s", h, pl, sig);
		refuse(j, forged, CHAT_TOKEN_ACCESS, "bad token signature");
	}
	chat_jwt_free(j);
}

/* HS384 signatures are checked here in constant time like HS256/HS512
 * (it was left to libjwt's strcmp, which answered "invalid token"). The
 * tokens are signed by libjwt (OpenSSL), so this also proves our
 * HMAC-SHA384 equals OpenSSL's. */
static void test_hs384_constant_time(void **state)
{
	chat_jwt *j = make((const char *[]){ "auth.jwt_algorithm=HS384", NULL });
	char *good = chat_jwt_issue(j, 42, CHAT_TOKEN_ACCESS, NOW);
	assert_non_null(good);
	accept(j, good, CHAT_TOKEN_ACCESS, 42);
	size_t len = strlen(good);
	good[len - 3] = good[len - 3] == 'A' ? 'B' : 'A';
	refuse(j, good, CHAT_TOKEN_ACCESS, "bad token signature");
	*strrchr(good, '.') = '\0';
	refuse(j, good, CHAT_TOKEN_ACCESS, "bad token signature");
	free(good);
	/* A long key (over SHA-384's 128-byte block) is hashed first. */
	chat_jwt_free(j);
	char set[300];
	snprintf(set, sizeof(set), "auth.jwt_secret=%0200d", 7);
	j = make((const char *[]){ "auth.jwt_algorithm=HS384", set, NULL });
	good = chat_jwt_issue(j, 43, CHAT_TOKEN_ACCESS, NOW);
	accept(j, good, CHAT_TOKEN_ACCESS, 43);
	free(good);
	chat_jwt_free(j);
	(void)state;
}

/* RFC 7515 4.1.11: extensions named in crit must be understood; we
 * understand none, so any crit header is refused. */
static void test_crit_refused(void **state)
{
	chat_jwt *j = make(NULL);
	const char *p = simplejwt_payload("access", NOW + 300, "");
	accept(j, mint(p), CHAT_TOKEN_ACCESS, 42);
	refuse(j,
	       mint_with("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"crit\":[\"exp\"]}", p, SIG_HS256,
	                 SECRET, strlen(SECRET)),
	       CHAT_TOKEN_ACCESS, "token has a crit header");
	refuse(j,
	       mint_with("{\"alg\":\"HS256\",\"crit\":[\"x\"],\"x\":1}", p, SIG_HS256, SECRET,
	                 strlen(SECRET)),
	       CHAT_TOKEN_ACCESS, "token has a crit header");
	refuse(j, mint_with("{\"alg\":\"HS256\",\"crit\":[]}", p, SIG_HS256, SECRET, strlen(SECRET)),
	       CHAT_TOKEN_ACCESS, "token has a crit header");
	chat_jwt_free(j);
	(void)state;
}

/* A token for the anonymous user (id 1) passes only with anonymous
 * access on (it was accepted either way). */
static void test_anonymous_token(void **state)
{
	chat_jwt *j = make(NULL);
	const char *p = "{\"token_type\":\"access\",\"exp\":1750000300,\"user_id\":1}";
	refuse(j, mint(p), CHAT_TOKEN_ACCESS, "token for the anonymous user (anonymous access is off)");
	refuse(j, mint("{\"exp\":1750000300,\"sub\":\"1\"}"), CHAT_TOKEN_ACCESS, NULL);
	chat_jwt_free(j);
	j = make((const char *[]){ "auth.allow_anonymous=true", NULL });
	accept(j, mint(p), CHAT_TOKEN_ACCESS, 1);
	chat_jwt_free(j);
	(void)state;
}

static void test_times(void **state)
{
	chat_jwt *j = make(NULL); /* leeway 30 s */

	accept(j, mint(simplejwt_payload("access", NOW - 30, "")), CHAT_TOKEN_ACCESS, 42);
	refuse(j, mint(simplejwt_payload("access", NOW - 31, "")), CHAT_TOKEN_ACCESS, "token expired");
	refuse(j, mint(simplejwt_payload("access", NOW - 86400, "")), CHAT_TOKEN_ACCESS,
	       "token expired");
	/* nbf in the future beyond the leeway, and within it. */
	refuse(j, mint(simplejwt_payload("access", NOW + 300, ",\"nbf\":1750000031")),
	       CHAT_TOKEN_ACCESS, "token not yet valid");
	accept(j, mint(simplejwt_payload("access", NOW + 300, ",\"nbf\":1750000030")),
	       CHAT_TOKEN_ACCESS, 42);
	refuse(j, mint(simplejwt_payload("access", NOW + 300, ",\"nbf\":\"soon\"")), CHAT_TOKEN_ACCESS,
	       "token has an invalid nbf");
	/* exp is required, and must be a number. */
	refuse(j, mint("{\"token_type\":\"access\",\"user_id\":42}"), CHAT_TOKEN_ACCESS,
	       "token has no valid exp");
	refuse(j, mint("{\"token_type\":\"access\",\"exp\":\"4102444800\",\"user_id\":42}"),
	       CHAT_TOKEN_ACCESS, "token has no valid exp");
	refuse(j, mint("{\"token_type\":\"access\",\"exp\":null,\"user_id\":42}"), CHAT_TOKEN_ACCESS,
	       "token has no valid exp");
	/* A fractional NumericDate is a number too. */
	accept(j, mint("{\"exp\":1750000100.5,\"user_id\":42}"), CHAT_TOKEN_ACCESS, 42);
	chat_jwt_free(j);

	j = make((const char *[]){ "auth.jwt_leeway=0", NULL });
	refuse(j, mint(simplejwt_payload("access", NOW - 1, "")), CHAT_TOKEN_ACCESS, "token expired");
	accept(j, mint(simplejwt_payload("access", NOW, "")), CHAT_TOKEN_ACCESS, 42);
	chat_jwt_free(j);
}

static void test_token_type(void **state)
{
	chat_jwt *j = make(NULL);

	accept(j, mint(simplejwt_payload("refresh", NOW + 300, "")), CHAT_TOKEN_REFRESH, 42);
	refuse(j, mint(simplejwt_payload("refresh", NOW + 300, "")), CHAT_TOKEN_ACCESS,
	       "wrong token type");
	refuse(j, mint(simplejwt_payload("access", NOW + 300, "")), CHAT_TOKEN_REFRESH,
	       "wrong token type");
	refuse(j, mint(simplejwt_payload("sliding", NOW + 300, "")), CHAT_TOKEN_ACCESS,
	       "wrong token type");
	/* No token_type: an access token (tokens from other issuers), never a
	 * refresh token. */
	accept(j, mint("{\"exp\":1750000300,\"user_id\":42}"), CHAT_TOKEN_ACCESS, 42);
	refuse(j, mint("{\"exp\":1750000300,\"user_id\":42}"), CHAT_TOKEN_REFRESH, "wrong token type");
	refuse(j, mint("{\"exp\":1750000300,\"user_id\":42,\"token_type\":1}"), CHAT_TOKEN_ACCESS,
	       "wrong token type");
	chat_jwt_free(j);
}

static void test_user_id(void **state)
{
	chat_jwt *j = make(NULL);

	accept(j, mint("{\"exp\":1750000300,\"user_id\":\"42\"}"), CHAT_TOKEN_ACCESS, 42);
	accept(j, mint("{\"exp\":1750000300,\"sub\":\"43\"}"), CHAT_TOKEN_ACCESS, 43);
	accept(j, mint("{\"exp\":1750000300,\"sub\":44}"), CHAT_TOKEN_ACCESS, 44);
	/* user_id wins over sub. */
	accept(j, mint("{\"exp\":1750000300,\"sub\":\"7\",\"user_id\":42}"), CHAT_TOKEN_ACCESS, 42);
	accept(j, mint("{\"exp\":1750000300,\"user_id\":9223372036854775807}"), CHAT_TOKEN_ACCESS,
	       INT64_MAX);
	refuse(j, mint("{\"exp\":1750000300}"), CHAT_TOKEN_ACCESS, "token names no user");
	refuse(j, mint("{\"exp\":1750000300,\"user_id\":0}"), CHAT_TOKEN_ACCESS,
	       "token has an invalid user id");
	refuse(j, mint("{\"exp\":1750000300,\"user_id\":-5}"), CHAT_TOKEN_ACCESS,
	       "token has an invalid user id");
	refuse(j, mint("{\"exp\":1750000300,\"user_id\":4.2}"), CHAT_TOKEN_ACCESS,
	       "token has an invalid user id");
	refuse(j, mint("{\"exp\":1750000300,\"user_id\":\"42abc\"}"), CHAT_TOKEN_ACCESS,
	       "token has an invalid user id");
	refuse(j, mint("{\"exp\":1750000300,\"user_id\":\" 42\"}"), CHAT_TOKEN_ACCESS,
	       "token has an invalid user id");
	refuse(j, mint("{\"exp\":1750000300,\"user_id\":true}"), CHAT_TOKEN_ACCESS,
	       "token has an invalid user id");
	refuse(j, mint("{\"exp\":1750000300,\"user_id\":null,\"sub\":\"5\"}"), CHAT_TOKEN_ACCESS,
	       "token has an invalid user id");
	refuse(j, mint("{\"exp\":1750000300,\"sub\":\"alice\"}"), CHAT_TOKEN_ACCESS,
	       "token has an invalid user id");
	refuse(j, mint("{\"exp\":1750000300,\"user_id\":\"9223372036854775808\"}"), CHAT_TOKEN_ACCESS,
	       "token has an invalid user id");
	chat_jwt_free(j);
}

static void test_garbage(void **state)
{
	chat_jwt *j = make(NULL);
	static const char *const junk[] = {
		"", "abc", ".", "..", "...", "a.b", "a.b.c", "a.b.c.d", "Bearer x.y.z",
		"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
		"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..",
		"!!!.???.###",
	};
	char *huge;

	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		refuse(j, junk[i], CHAT_TOKEN_ACCESS, NULL);
	refuse(j, NULL, CHAT_TOKEN_ACCESS, "malformed token");
	refuse(j, "", CHAT_TOKEN_ACCESS, "malformed token");
	/* Well signed, but the payload is not a JSON object. */
	refuse(j, mint("[1,2,3]"), CHAT_TOKEN_ACCESS, NULL);
	refuse(j, mint("42"), CHAT_TOKEN_ACCESS, NULL);
	refuse(j, mint("not json"), CHAT_TOKEN_ACCESS, NULL);
	refuse(j, mint_with("not json", "{}", SIG_HS256, SECRET, strlen(SECRET)), CHAT_TOKEN_ACCESS,
	       NULL);
	huge = malloc(20000);
	memset(huge, 'a', 19999);
	huge[19999] = '\0';
	refuse(j, huge, CHAT_TOKEN_ACCESS, "malformed token");
	free(huge);
	/* why may be NULL. */
	assert_int_equal(chat_jwt_verify(j, "x", CHAT_TOKEN_ACCESS, NOW, NULL, NULL), CHAT_ERR_AUTH);
	chat_jwt_free(j);
}

static void test_issuer_audience(void **state)
{
	chat_jwt *j = make((const char *[]){ "auth.jwt_issuer=https://auth.example",
	                                     "auth.jwt_audience=chat", NULL });

	accept(j, mint("{\"exp\":1750000300,\"user_id\":42,\"iss\":\"https://auth.example\",\"aud\":\"chat\"}"),
	       CHAT_TOKEN_ACCESS, 42);
	accept(j, mint("{\"exp\":1750000300,\"user_id\":42,\"iss\":\"https://auth.example\","
	               "\"aud\":[\"other\",\"chat\"]}"),
	       CHAT_TOKEN_ACCESS, 42);
	refuse(j, mint("{\"exp\":1750000300,\"user_id\":42,\"iss\":\"https://auth.example\","
	               "\"aud\":[\"other\"]}"),
	       CHAT_TOKEN_ACCESS, "wrong token audience");
	refuse(j, mint("{\"exp\":1750000300,\"user_id\":42,\"iss\":\"https://auth.example\","
	               "\"aud\":\"chat2\"}"),
	       CHAT_TOKEN_ACCESS, "wrong token audience");
	refuse(j, mint("{\"exp\":1750000300,\"user_id\":42,\"iss\":\"https://auth.example\"}"),
	       CHAT_TOKEN_ACCESS, "wrong token audience");
	refuse(j, mint("{\"exp\":1750000300,\"user_id\":42,\"iss\":\"https://auth.example\","
	               "\"aud\":[1,2]}"),
	       CHAT_TOKEN_ACCESS, "wrong token audience");
	refuse(j, mint("{\"exp\":1750000300,\"user_id\":42,\"iss\":\"https://evil.example\",\"aud\":\"chat\"}"),
	       CHAT_TOKEN_ACCESS, "wrong token issuer");
	refuse(j, mint("{\"exp\":1750000300,\"user_id\":42,\"aud\":\"chat\"}"), CHAT_TOKEN_ACCESS,
	       "wrong token issuer");
	/* A plain SimpleJWT token carries neither. */
	refuse(j, PYJWT_ACCESS, CHAT_TOKEN_ACCESS, "wrong token issuer");
	chat_jwt_free(j);

	/* Not configured: not checked. */
	j = make(NULL);
	accept(j, mint("{\"exp\":1750000300,\"user_id\":42,\"iss\":\"x\",\"aud\":[\"y\"]}"),
	       CHAT_TOKEN_ACCESS, 42);
	chat_jwt_free(j);
}

/* Decode the payload of a compact token into a json-c object. */
static json_object *payload_of(const char *tok)
{
	const char *a = strchr(tok, '.'), *b = strrchr(tok, '.');
	char bin[2048];
	size_t len;

	assert_non_null(a);
	assert_true(b > a);
	assert_int_equal(sodium_base642bin((unsigned char *)bin, sizeof(bin) - 1, a + 1,
	                                   (size_t)(b - a - 1), NULL, &len, NULL,
	                                   sodium_base64_VARIANT_URLSAFE_NO_PADDING),
	                 0);
	bin[len] = '\0';
	return json_tokener_parse(bin);
}

static int64_t get_int(json_object *o, const char *k)
{
	json_object *v;

	assert_true(json_object_object_get_ex(o, k, &v));
	assert_true(json_object_is_type(v, json_type_int));
	return json_object_get_int64(v);
}

static const char *get_str(json_object *o, const char *k)
{
	json_object *v;

	assert_true(json_object_object_get_ex(o, k, &v));
	assert_true(json_object_is_type(v, json_type_string));
	return json_object_get_string(v);
}

static void test_issue_round_trip(void **state)
{
	chat_jwt *j = make((const char *[]){ "auth.jwt_issuer=https://auth.example",
	                                     "auth.jwt_audience=chat", NULL });
	char *a = chat_jwt_issue(j, 42, CHAT_TOKEN_ACCESS, NOW);
	char *r = chat_jwt_issue(j, 42, CHAT_TOKEN_REFRESH, NOW);
	char *a2 = chat_jwt_issue(j, 42, CHAT_TOKEN_ACCESS, NOW);
	json_object *p;
	const char *jti;

	assert_non_null(a);
	assert_non_null(r);
	accept(j, a, CHAT_TOKEN_ACCESS, 42);
	accept(j, r, CHAT_TOKEN_REFRESH, 42);
	refuse(j, a, CHAT_TOKEN_REFRESH, "wrong token type");
	refuse(j, r, CHAT_TOKEN_ACCESS, "wrong token type");
	/* The header SimpleJWT and PyJWT write. */
	assert_int_equal(strncmp(a, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", 37), 0);

	p = payload_of(a);
	assert_non_null(p);
	assert_string_equal(get_str(p, "token_type"), "access");
	assert_int_equal(get_int(p, "exp"), NOW + 900);
	assert_int_equal(get_int(p, "iat"), NOW);
	assert_int_equal(get_int(p, "user_id"), 42);
	assert_string_equal(get_str(p, "iss"), "https://auth.example");
	assert_string_equal(get_str(p, "aud"), "chat");
	jti = get_str(p, "jti");
	assert_int_equal(strlen(jti), 32);
	assert_int_equal(strspn(jti, "0123456789abcdef"), 32);
	json_object_put(p);
	p = payload_of(r);
	assert_string_equal(get_str(p, "token_type"), "refresh");
	assert_int_equal(get_int(p, "exp"), NOW + 86400);
	json_object_put(p);
	/* A new jti each time. */
	assert_string_not_equal(a, a2);

	/* Expired as time passes. */
	{
		int64_t id;

		assert_int_equal(chat_jwt_verify(j, a, CHAT_TOKEN_ACCESS, NOW + 930, &id, NULL), CHAT_OK);
		assert_int_equal(chat_jwt_verify(j, a, CHAT_TOKEN_ACCESS, NOW + 931, &id, NULL),
		                 CHAT_ERR_AUTH);
	}
	assert_null(chat_jwt_issue(j, 0, CHAT_TOKEN_ACCESS, NOW));
	free(a);
	free(a2);
	free(r);
	chat_jwt_free(j);
}

static void test_rs256(void **state)
{
	chat_jwt *j = make((const char *[]){ "auth.jwt_algorithm=RS256",
	                                     "auth.jwt_public_key_file=" UNIT_DATADIR "/rsa-public.pem",
	                                     "auth.jwt_private_key_file=" UNIT_DATADIR "/rsa-private.pem",
	                                     NULL });
	chat_jwt *verify_only = make((const char *[]){ "auth.jwt_algorithm=RS256",
	                                               "auth.jwt_public_key_file=" UNIT_DATADIR
	                                               "/rsa-public.pem",
	                                               NULL });
	char *t = chat_jwt_issue(j, 7, CHAT_TOKEN_ACCESS, NOW);
	char *pem;
	size_t len;
	FILE *f;

	assert_non_null(t);
	assert_int_equal(strncmp(t, "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.", 37), 0);
	accept(j, t, CHAT_TOKEN_ACCESS, 7);
	accept(verify_only, t, CHAT_TOKEN_ACCESS, 7);
	/* Without the private key nothing can be issued. */
	assert_null(chat_jwt_issue(verify_only, 7, CHAT_TOKEN_ACCESS, NOW));
	free(t);

	/* The classic confusion: an HS256 token whose HMAC key is the PEM
	 * public key itself. libjwt verifies it; the algorithm check refuses. */
	f = fopen(UNIT_DATADIR "/rsa-public.pem", "rb");
	assert_non_null(f);
	pem = malloc(8192);
	len = fread(pem, 1, 8192, f);
	fclose(f);
	refuse(verify_only,
	       mint_with(HS256_HEADER, simplejwt_payload("access", NOW + 300, ""), SIG_HS256, pem, len),
	       CHAT_TOKEN_ACCESS, "wrong token algorithm");
	free(pem);
	/* alg none reaches libjwt here (no HMAC pre-check for RS256). */
	refuse(verify_only,
	       mint_with("{\"alg\":\"none\",\"typ\":\"JWT\"}",
	                 simplejwt_payload("access", NOW + 300, ""), SIG_NONE, NULL, 0),
	       CHAT_TOKEN_ACCESS, "invalid token");
	/* HS256 tokens with the old secret are refused once RS256 is on. */
	refuse(verify_only, PYJWT_ACCESS, CHAT_TOKEN_ACCESS, NULL);
	chat_jwt_free(j);
	chat_jwt_free(verify_only);
}

static void test_es256(void **state)
{
	chat_jwt *j = make((const char *[]){ "auth.jwt_algorithm=ES256",
	                                     "auth.jwt_public_key_file=" UNIT_DATADIR "/ec-public.pem",
	                                     "auth.jwt_private_key_file=" UNIT_DATADIR "/ec-private.pem",
	                                     NULL });
	chat_jwt *rsa = make((const char *[]){ "auth.jwt_algorithm=RS256",
	                                       "auth.jwt_public_key_file=" UNIT_DATADIR "/rsa-public.pem",
	                                       NULL });
	char *t = chat_jwt_issue(j, 9, CHAT_TOKEN_ACCESS, NOW);

	assert_non_null(t);
	accept(j, t, CHAT_TOKEN_ACCESS, 9);
	refuse(rsa, t, CHAT_TOKEN_ACCESS, NULL);
	free(t);
	chat_jwt_free(j);
	chat_jwt_free(rsa);
}

static void test_secret_file(void **state)
{
	chat_config cfg;
	chat_jwt *j;
	char path[256], set[300];

	/* Written by "echo": the trailing newline is not part of the secret. */
	unit_write_temp(SECRET "\n", path, sizeof(path));
	snprintf(set, sizeof(set), "auth.jwt_secret_file=%s", path);
	assert_int_equal(chat_config_defaults(&cfg), 0);
	assert_int_equal(chat_config_set(&cfg, set, NULL), 0);
	assert_int_equal(chat_config_validate(&cfg, stderr), 0);
	j = chat_jwt_create(&cfg, stderr);
	assert_non_null(j);
	accept(j, PYJWT_ACCESS, CHAT_TOKEN_ACCESS, 42);
	chat_jwt_free(j);
	chat_config_free(&cfg);
	unlink(path);
}

static void test_create_errors(void **state)
{
	chat_config cfg;

	assert_int_equal(chat_config_defaults(&cfg), 0);
	assert_null(chat_jwt_create(&cfg, NULL)); /* HS256 without a secret */
	chat_config_set(&cfg, "auth.jwt_secret_file=/nonexistent/secret", NULL);
	assert_null(chat_jwt_create(&cfg, NULL));
	chat_config_set(&cfg, "auth.jwt_secret_file=", NULL);
	chat_config_set(&cfg, "auth.jwt_algorithm=RS256", NULL);
	chat_config_set(&cfg, "auth.jwt_secret=" SECRET, NULL);
	assert_null(chat_jwt_create(&cfg, NULL)); /* RS256 without a public key */
	chat_config_set(&cfg, "auth.jwt_public_key_file=/nonexistent.pem", NULL);
	assert_null(chat_jwt_create(&cfg, NULL));
	chat_config_free(&cfg);
	chat_jwt_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simplejwt_accepted),
		cmocka_unit_test(test_alg_none),
		cmocka_unit_test(test_wrong_algorithm),
		cmocka_unit_test(test_bad_signature),
		cmocka_unit_test(test_hs384_constant_time), cmocka_unit_test(test_crit_refused),
		cmocka_unit_test(test_anonymous_token),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_token_type),
		cmocka_unit_test(test_user_id),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_issuer_audience),
		cmocka_unit_test(test_issue_round_trip),
		cmocka_unit_test(test_rs256),
		cmocka_unit_test(test_es256),
		cmocka_unit_test(test_secret_file),
		cmocka_unit_test(test_create_errors),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
