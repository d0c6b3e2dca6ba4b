/* Fuzz chat_jwt_verify twice per input:
 * - as a token: no input but an untouched valid token may pass, whatever
 *   the mutation (a forged or altered token passing would be an
 *   authentication bypass);
 * - as the claims of a token signed here with the right secret: this
 *   reaches the claim checks, which must never accept a token without a
 *   numeric exp in the future or without a positive user id. */
#include "config.h"

#include <json-c/json.h>
#include <sodium.h>
#include <string.h>

#include "chat_jwt.h"
#include "fuzz.h"

#define SECRET "django-insecure-simplejwt-test-key-0123456789"
#define NOW ((time_t)1750000000)

/* Valid tokens made by PyJWT 2.6 with SECRET (exp in 2100): user_id 42,
 * user_id "42", sub "43", sub 44 with nbf, user_id 7 with aud and iss. */
static const char *const valid[] = {
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZXhwIjo0MTAyNDQ0ODAwLCJpYXQiOjE3Mzc4MTkwMDAsImp0aSI6IjRmMWMwZDJiOWE4ZTRlNmY4YjdhNmM1ZDRlM2YyYTFiIiwidXNlcl9pZCI6NDJ9.eaaYv8mFHd-wECizVJTBKEj7x5l1ex0Mk5ZwnSzwnBc",
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZXhwIjo0MTAyNDQ0ODAwLCJpYXQiOjE3Mzc4MTkwMDAsImp0aSI6IjRmMWMwZDJiOWE4ZTRlNmY4YjdhNmM1ZDRlM2YyYTFiIiwidXNlcl9pZCI6IjQyIn0.u5as926D2ZVvOyczIryaw32YhPpZ7nfgF_UknxjkNE0",
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZXhwIjo0MTAyNDQ0ODAwLCJpYXQiOjE3Mzc4MTkwMDAsImp0aSI6IjRmMWMwZDJiOWE4ZTRlNmY4YjdhNmM1ZDRlM2YyYTFiIiwic3ViIjoiNDMifQ._zP4FLVBnN3U-lnleGVUNKprAqVuB-sY_Iw0zEqNsnc",
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZXhwIjo0MTAyNDQ0ODAwLCJpYXQiOjE3Mzc4MTkwMDAsImp0aSI6IjRmMWMwZDJiOWE4ZTRlNmY4YjdhNmM1ZDRlM2YyYTFiIiwic3ViIjo0NCwibmJmIjoxNzAwMDAwMDAwfQ.3i7J8gXiezxy7gebycAU9ugi-PQTHecqGXdhi9mrlPg",
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZXhwIjo0MTAyNDQ0ODAwLCJpYXQiOjE3Mzc4MTkwMDAsImp0aSI6IjRmMWMwZDJiOWE4ZTRlNmY4YjdhNmM1ZDRlM2YyYTFiIiwidXNlcl9pZCI6NywiYXVkIjpbIngiLCJjaGF0Il0sImlzcyI6Imh0dHBzOi8vYXV0aC5leGFtcGxlIn0.r6tVbBWPWKQHN1TnEkaAhxd2p1KMFVUR0vUn8jnaUj8",
	NULL,
};

const char *const fuzz_seeds[] = {
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZXhwIjo0MTAyNDQ0ODAwLCJpYXQiOjE3Mzc4MTkwMDAsImp0aSI6IjRmMWMwZDJiOWE4ZTRlNmY4YjdhNmM1ZDRlM2YyYTFiIiwidXNlcl9pZCI6NDJ9.eaaYv8mFHd-wECizVJTBKEj7x5l1ex0Mk5ZwnSzwnBc",
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZXhwIjo0MTAyNDQ0ODAwLCJpYXQiOjE3Mzc4MTkwMDAsImp0aSI6IjRmMWMwZDJiOWE4ZTRlNmY4YjdhNmM1ZDRlM2YyYTFiIiwidXNlcl9pZCI6NywiYXVkIjpbIngiLCJjaGF0Il0sImlzcyI6Imh0dHBzOi8vYXV0aC5leGFtcGxlIn0.r6tVbBWPWKQHN1TnEkaAhxd2p1KMFVUR0vUn8jnaUj8",
	/* {"alg":"none"} . {"exp":4102444800,"user_id":1} . */
	"eyJhbGciOiJub25lIn0.eyJleHAiOjQxMDI0NDQ4MDAsInVzZXJfaWQiOjF9.",
	/* {"alg":"HS512","typ":"JWT"} . same payload . junk */
	"eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInVzZXJfaWQiOjF9.AAAA",
	"a.b.c",
	"",
	"{\"token_type\":\"access\",\"exp\":1750000100,\"user_id\":42,\"aud\":[\"chat\"]}",
	"{\"exp\":1750000100.5,\"sub\":\"43\",\"nbf\":1749999999,\"aud\":\"chat\"}",
	"{\"exp\":1,\"user_id\":\"9223372036854775807\",\"aud\":\"chat\",\"token_type\":null}",
	NULL,
};

/* The claims as a json-c object, or NULL. */
static json_object *claims_of(const char *payload)
{
	json_object *o = json_tokener_parse(payload);

	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

/* Sign payload as an HS256 token with SECRET into tok. */
static void sign(const char *payload, size_t len, char *tok, size_t toksz)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	size_t n;

	sodium_bin2base64(tok, toksz, (const unsigned char *)header, sizeof(header) - 1,
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	n = strlen(tok);
	tok[n++] = '.';
	sodium_bin2base64(tok + n, toksz - n, (const unsigned char *)payload, len,
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)SECRET, strlen(SECRET));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)tok, strlen(tok));
	crypto_auth_hmacsha256_final(&st, mac);
	n = strlen(tok);
	tok[n++] = '.';
	sodium_bin2base64(tok + n, toksz - n, mac, sizeof(mac), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void fuzz_claims(const chat_jwt *j, const char *payload, size_t len)
{
	static char tok[3 * 8200];
	int64_t id = 0;
	json_object *claims, *v;

	if (len > 6000)
		return;
	sign(payload, len, tok, sizeof(tok));
	if (chat_jwt_verify(j, tok, CHAT_TOKEN_ACCESS, NOW, &id, NULL) != CHAT_OK)
		return;
	/* Accepted: the claims were a JSON object with a numeric exp not
	 * past (leeway 30 s) and a positive id. */
	claims = claims_of(payload);
	FUZZ_CHECK(claims != NULL);
	FUZZ_CHECK(json_object_object_get_ex(claims, "exp", &v));
	FUZZ_CHECK(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double));
	FUZZ_CHECK(json_object_get_double(v) + 30 >= (double)NOW);
	FUZZ_CHECK(id > 0);
	json_object_put(claims);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static chat_jwt *j;
	static char tok[8200];
	int64_t id = 0;
	const char *why = NULL;
	chat_err rc;

	if (!j) {
		chat_config cfg;

		if (chat_config_defaults(&cfg) < 0 ||
		    chat_config_set(&cfg, "auth.jwt_secret=" SECRET, NULL) < 0 ||
		    chat_config_set(&cfg, "auth.jwt_audience=chat", NULL) < 0)
			abort();
		j = chat_jwt_create(&cfg, stderr);
		chat_config_free(&cfg);
		FUZZ_CHECK(j != NULL);
	}
	if (size >= sizeof(tok))
		size = sizeof(tok) - 1;
	memcpy(tok, data, size);
	tok[size] = '\0';

	rc = chat_jwt_verify(j, tok, CHAT_TOKEN_ACCESS, NOW, &id, &why);
	if (rc == CHAT_OK) {
		bool known = false;

		/* Only the one seed with aud "chat" can pass; compare all anyway. */
		for (size_t i = 0; valid[i]; i++)
			known = known || strcmp(tok, valid[i]) == 0;
		FUZZ_CHECK(known);
		FUZZ_CHECK(id > 0);
		FUZZ_CHECK(why == NULL);
	} else {
		FUZZ_CHECK(rc == CHAT_ERR_AUTH);
		FUZZ_CHECK(why != NULL);
	}
	/* A refresh check of the same input never passes (all are access). */
	FUZZ_CHECK(chat_jwt_verify(j, tok, CHAT_TOKEN_REFRESH, NOW, &id, NULL) == CHAT_ERR_AUTH);

	fuzz_claims(j, tok, size);
	return 0;
}
