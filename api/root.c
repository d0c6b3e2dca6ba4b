/* GET /api/chat/: an index of the resources with absolute URLs, as Django
 * REST framework's API root shows. No token needed. The host comes from
 * the Host header when it looks like a host name, else from the server's
 * own name and port. */
#include <config.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api.h"

static bool host_ok(const char *h)
{
	size_t n = strlen(h);
	if (n == 0 || n > 255)
		return false;
	/* Host names, IPv4, [IPv6] and a port: nothing else. */
	return strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") == n;
}

static void base_url(const api_req *r, char *out, size_t outsz)
{
	const char *https = api_param(r, "HTTPS");
	const char *scheme_p = api_param(r, "REQUEST_SCHEME");
	bool tls = (https && (strcasecmp(https, "on") == 0 || strcmp(https, "1") == 0)) ||
	           (scheme_p && strcasecmp(scheme_p, "https") == 0);
	const char *scheme = tls ? "https" : "http";
	const char *host = api_param(r, "HTTP_HOST");
	int w;

	if (host && host_ok(host)) {
		w = snprintf(out, outsz, "%s://%s", scheme, host);
	} else {
		const char *name = api_param(r, "SERVER_NAME");
		const char *port = api_param(r, "SERVER_PORT");
		if (!name || !host_ok(name))
			name = "localhost";
		bool default_port = !port || !host_ok(port) ||
		                    (tls ? strcmp(port, "443") == 0 : strcmp(port, "80") == 0);
		if (default_port)
			w = snprintf(out, outsz, "%s://%s", scheme, name);
		else
			w = snprintf(out, outsz, "%s://%s:%s", scheme, name, port);
	}
	if (w < 0 || (size_t)w >= outsz)
		snprintf(out, outsz, "%s://localhost", scheme);
}

void api_h_root(api_req *r)
{
	static const struct {
		const char *name;
		const char *path;
	} index[] = {
		{"rooms", "/api/chat/rooms/"},
		{"unread", "/api/chat/unread/"},
		{"health", "/api/chat/health/"},
		{"register", "/api/auth/register/"},
		{"token", "/api/auth/token/"},
		{"token_refresh", "/api/auth/token/refresh/"},
		{"logout", "/api/auth/logout/"},
		{"me", "/api/auth/me/"},
	};
	char base[300], url[400];

	base_url(r, base, sizeof(base));
	json_object *o = json_object_new_object();
	for (size_t i = 0; o && i < sizeof(index) / sizeof(index[0]); i++) {
		snprintf(url, sizeof(url), "%s%s", base, index[i].path);
		json_object_object_add(o, index[i].name, json_object_new_string(url));
	}
	api_respond_json(r, 200, o);
}
