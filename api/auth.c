/* Authentication: Bearer tokens on every non-public route, and the
 * /api/auth/ endpoints (register, token, refresh, me). Registration and
 * login are rate limited per user name and per client address
 * (REMOTE_ADDR only: X-Forwarded-For is whatever the client says; IPv6
 * by /64). */
#include <config.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api.h"
#include "chat_addr.h"
#include "chat_dal.h"
#include "chat_json.h"
#include "chat_log.h"
#include "chat_password.h"
#include "chat_validate.h"

static const char bad_credentials[] = "No active account found with the given credentials";
static const char bad_token[] = "Given token not valid for any token type";

static void respond_401(api_req *r, const char *detail)
{
	api_add_header(r, "WWW-Authenticate", "Bearer realm=\"api\"");
	api_respond_error(r, 401, detail);
}

/* Load an active user; -1 after answering 401 or 503. That answer
 * replaces whatever refusal was on its way (confirm_caller), headers
 * included. */
static int load_active_user(api_req *r, int64_t id, chat_user *u, const char *detail)
{
	chat_err e = chat_dal_user_by_id(r->db, id, u);
	if (e != CHAT_OK || !u->is_active) {
		r->headers_len = 0;
		r->headers[0] = '\0';
	}
	if (e == CHAT_ERR_NOT_FOUND || (e == CHAT_OK && !u->is_active)) {
		respond_401(r, detail);
		return -1;
	}
	if (e != CHAT_OK) {
		api_respond_chat_err(r, e, NULL);
		return -1;
	}
	return 0;
}

static int confirm_caller(api_req *r)
{
	chat_user u;
	return load_active_user(r, r->user.id, &u, "User not found or inactive");
}

int api_authenticate(api_req *r)
{
	const api_server *srv = r->srv;
	const char *h = api_param(r, "HTTP_AUTHORIZATION");
	chat_user u;
	int64_t uid;
	const char *why = NULL;

	if (!h || !h[0]) {
		if (!srv->cfg->auth.allow_anonymous) {
			respond_401(r, "Authentication credentials were not provided.");
			return -1;
		}
		uid = CHAT_ANONYMOUS_USER_ID;
	} else {
		if (strncasecmp(h, "Bearer ", 7) != 0) {
			respond_401(r, "Authorization header must be: Bearer <token>");
			return -1;
		}
		const char *tok = h + 7;
		while (*tok == ' ')
			tok++;
		if (!*tok || strlen(tok) > API_TOKEN_MAX) {
			respond_401(r, bad_token);
			return -1;
		}
		if (chat_jwt_verify(srv->jwt, tok, CHAT_TOKEN_ACCESS, time(NULL), &uid, &why) != CHAT_OK) {
			chat_log_debug("token refused: %s", why ? why : "?");
			respond_401(r, bad_token);
			return -1;
		}
	}
	if (r->route && (r->route->flags & API_ROUTE_CALLER_IN_TXN)) {
		r->user.id = uid;
		r->user.username[0] = '\0';
		r->confirm_caller = confirm_caller;
		r->authenticated = true;
		return 0;
	}
	if (load_active_user(r, uid, &u, "User not found or inactive") != 0)
		return -1;
	r->user.id = u.id;
	memcpy(r->user.username, u.username, sizeof(r->user.username));
	r->authenticated = true;
	return 0;
}

/* The address key: the address as every limit counts it (an IPv6
 * address by its /64, see chat_addr.h). */
static void address_key(const char *addr, char *out, size_t outsz)
{
	char c[CHAT_ADDR_KEY_LEN];

	if (chat_addr_canonical(addr, c, sizeof(c)))
		snprintf(out, outsz, "a:%s", c);
	else
		snprintf(out, outsz, "a:%.80s", addr ? addr : "-");
}

/* Count a login/registration attempt against the client address and the
 * user name together: either at its limit refuses the attempt, which then
 * counts against neither (and takes no slot). Returns 0, or -1 after
 * answering 429. */
static int rate_limit(api_req *r, const char *username, size_t ulen)
{
	api_ratelimit *rl = r->srv->login_limit;
	char akey[96], nkey[256];
	const char *keys[2] = { akey, nkey };

	if (!rl)
		return 0;
	address_key(api_param(r, "REMOTE_ADDR"), akey, sizeof(akey));
	/* Names compare case-insensitively; bound the key. */
	size_t n = ulen < sizeof(nkey) - 3 ? ulen : sizeof(nkey) - 3;
	nkey[0] = 'n';
	nkey[1] = ':';
	for (size_t i = 0; username && i < n; i++)
		nkey[2 + i] = (char)tolower((unsigned char)username[i]);
	nkey[2 + (username ? n : 0)] = '\0';
	int wait = api_ratelimit_hit_all(rl, keys, username && ulen ? 2 : 1, (int64_t)time(NULL));
	if (wait > 0) {
		api_respond_429(r, wait);
		return -1;
	}
	return 0;
}

static json_object *user_json(int64_t id, const char *username)
{
	chat_user_ref ref;
	ref.id = id;
	snprintf(ref.username, sizeof(ref.username), "%s", username);
	return chat_json_user(&ref);
}

void api_h_register(api_req *r)
{
	const char *name = NULL, *pw = NULL, *detail = NULL;
	size_t nlen = 0, plen = 0;
	char hash[CHAT_PASSWORD_HASH_BUF];
	int64_t id = 0;

	if (api_field_string(r, "username", true, &name, &nlen) < 0)
		return;
	if (rate_limit(r, name, nlen) != 0)
		return;
	if (chat_validate_username(name, nlen, &detail) != CHAT_OK) {
		char d[200];
		snprintf(d, sizeof(d), "username: %s", detail);
		api_respond_error(r, 400, d);
		return;
	}
	if (api_field_string(r, "password", true, &pw, &plen) < 0)
		return;
	if (chat_validate_password(pw, plen, &detail) != CHAT_OK) {
		char d[200];
		snprintf(d, sizeof(d), "password: %s", detail);
		api_respond_error(r, 400, d);
		return;
	}
	if (chat_password_hash(pw, hash) != 0) {
		api_respond_error(r, 500, "could not hash the password");
		return;
	}
	chat_err e = chat_dal_user_create(r->db, name, hash, &id);
	if (e == CHAT_ERR_DUPLICATE) {
		api_respond_error(r, 409, "username: a user with that username already exists");
		return;
	}
	if (e != CHAT_OK) {
		api_respond_chat_err(r, e, NULL);
		return;
	}
	api_respond_json(r, 201, user_json(id, name));
}

/* Issue a token or answer 500 (a signing key missing is the server's
 * configuration, not the client's mistake). */
static char *issue(api_req *r, int64_t uid, chat_token_type type)
{
	char *t = chat_jwt_issue(r->srv->jwt, uid, type, time(NULL));
	if (!t) {
		chat_log_error("cannot issue tokens: is a signing key configured?");
		api_respond_error(r, 500, "token issuing is not configured on this server");
	}
	return t;
}

void api_h_token(api_req *r)
{
	const char *name = NULL, *pw = NULL;
	size_t nlen = 0, plen = 0;
	chat_user u;
	char *access = NULL, *refresh = NULL;

	if (api_field_string(r, "username", true, &name, &nlen) < 0)
		return;
	if (rate_limit(r, name, nlen) != 0)
		return;
	if (api_field_string(r, "password", true, &pw, &plen) < 0)
		return;
	/* A NUL inside either string could never match a stored account. */
	if (strlen(name) != nlen || strlen(pw) != plen) {
		respond_401(r, bad_credentials);
		return;
	}
	chat_err e = chat_dal_user_authenticate(r->db, name, pw, &u);
	if (e == CHAT_ERR_AUTH || e == CHAT_ERR_NOT_FOUND) {
		respond_401(r, bad_credentials);
		return;
	}
	if (e != CHAT_OK) {
		api_respond_chat_err(r, e, NULL);
		return;
	}
	access = issue(r, u.id, CHAT_TOKEN_ACCESS);
	if (!access)
		goto out;
	refresh = issue(r, u.id, CHAT_TOKEN_REFRESH);
	if (!refresh)
		goto out;
	json_object *o = json_object_new_object();
	if (o) {
		json_object_object_add(o, "access", json_object_new_string(access));
		json_object_object_add(o, "refresh", json_object_new_string(refresh));
	}
	api_respond_json(r, 200, o);
out:
	free(access);
	free(refresh);
}

/* Verify the body's refresh token (signature, claims; not revocation).
 * Returns 0 with *uid, *exp and its id set, or -1 after answering 400 or
 * 401. */
static int refresh_token(api_req *r, int64_t *uid, int64_t *exp, char id[CHAT_JWT_ID_LEN + 1])
{
	const char *tok = NULL, *why = NULL;
	size_t len = 0;

	if (api_field_string(r, "refresh", true, &tok, &len) < 0)
		return -1;
	if (len == 0 || len > API_TOKEN_MAX || strlen(tok) != len ||
	    chat_jwt_verify_exp(r->srv->jwt, tok, CHAT_TOKEN_REFRESH, time(NULL), uid, exp, &why) !=
	        CHAT_OK) {
		chat_log_debug("refresh token refused: %s", why ? why : "malformed");
		respond_401(r, "Token is invalid or expired");
		return -1;
	}
	chat_jwt_token_id(tok, id);
	return 0;
}

void api_h_token_refresh(api_req *r)
{
	int64_t uid = 0, exp = 0;
	char id[CHAT_JWT_ID_LEN + 1];
	chat_user u;

	bool revoked = false;

	if (refresh_token(r, &uid, &exp, id) != 0)
		return;
	chat_err e = chat_dal_token_is_revoked(r->db, id, &revoked);
	if (e != CHAT_OK) {
		api_respond_chat_err(r, e, NULL);
		return;
	}
	if (revoked) {
		chat_log_debug("refresh token refused: revoked by a logout");
		respond_401(r, "Token is invalid or expired");
		return;
	}
	if (load_active_user(r, uid, &u, "Token is invalid or expired") != 0)
		return;
	char *access = issue(r, u.id, CHAT_TOKEN_ACCESS);
	if (!access)
		return;
	json_object *o = json_object_new_object();
	if (o)
		json_object_object_add(o, "access", json_object_new_string(access));
	free(access);
	api_respond_json(r, 200, o);
}

/* Revoke the body's refresh token: it cannot be refreshed again, here
 * or in any other process (the database keeps it until its exp). The
 * access tokens issued from it run out on their own (short-lived). A
 * token already revoked answers 200 too. */
void api_h_logout(api_req *r)
{
	int64_t uid = 0, exp = 0;
	char id[CHAT_JWT_ID_LEN + 1];

	/* Revoking twice is fine: no revocation check here. */
	if (refresh_token(r, &uid, &exp, id) != 0)
		return;
	/* Keep the row until the token could no longer pass (leeway too). */
	chat_err e = chat_dal_token_revoke(r->db, id, uid, exp + r->srv->cfg->auth.jwt_leeway,
	                                   (int64_t)time(NULL));
	if (e != CHAT_OK) {
		api_respond_chat_err(r, e, NULL);
		return;
	}
	json_object *o = json_object_new_object();
	if (o)
		json_object_object_add(o, "status", json_object_new_string("ok"));
	api_respond_json(r, 200, o);
}

void api_h_me(api_req *r)
{
	api_respond_json(r, 200, chat_json_user(&r->user));
}
