/* Unit test of the router: every method + path of the contract reaches
 * its handler, ids are parsed, the trailing slash is optional, unknown
 * paths are not found and known paths with another method list the
 * allowed ones. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api.h"

typedef struct expect {
	const char *method;
	const char *path;
	api_handler handler;
	int64_t id;
} expect;

static const expect contract[] = {
	{"POST", "/api/auth/register/", api_h_register, 0},
	{"POST", "/api/auth/token/", api_h_token, 0},
	{"POST", "/api/auth/token/refresh/", api_h_token_refresh, 0},
	{"POST", "/api/auth/logout/", api_h_logout, 0},
	{"GET", "/api/auth/me/", api_h_me, 0},
	{"GET", "/api/chat/rooms/", api_h_rooms_list, 0},
	{"POST", "/api/chat/rooms/", api_h_rooms_create, 0},
	{"GET", "/api/chat/rooms/7/", api_h_room_get, 7},
	{"PATCH", "/api/chat/rooms/7/", api_h_room_update, 7},
	{"DELETE", "/api/chat/rooms/7/", api_h_room_delete, 7},
	{"POST", "/api/chat/rooms/12/join/", api_h_room_join, 12},
	{"POST", "/api/chat/rooms/12/leave/", api_h_room_leave, 12},
	{"GET", "/api/chat/rooms/3/members/", api_h_members_list, 3},
	{"POST", "/api/chat/rooms/3/members/", api_h_members_add, 3},
	{"GET", "/api/chat/rooms/9223372036854775807/messages/", api_h_messages_list,
	 INT64_MAX},
	{"POST", "/api/chat/rooms/1/messages/", api_h_messages_create, 1},
	{"GET", "/api/chat/messages/123/", api_h_message_get, 123},
	{"PATCH", "/api/chat/messages/123/", api_h_message_update, 123},
	{"DELETE", "/api/chat/messages/123/", api_h_message_delete, 123},
	{"POST", "/api/chat/messages/123/read/", api_h_message_read, 123},
	{"GET", "/api/chat/messages/123/reads/", api_h_message_reads, 123},
	{"GET", "/api/chat/unread/", api_h_unread, 0},
	{"GET", "/api/chat/health/", api_h_health, 0},
	{"GET", "/api/chat/", api_h_root, 0},
};

static void check_found(const char *method, const char *path, api_handler h, int64_t id)
{
	const api_route *route = NULL;
	int64_t got = -1;
	api_match m = api_route_match(method, path, &route, &got, NULL, 0);
	if (m != API_MATCH_FOUND)
		fail_msg("%s %s: not found (%d)", method, path, (int)m);
	if (route->handler != h)
		fail_msg("%s %s: wrong handler (pattern %s)", method, path, route->pattern);
	assert_int_equal(got, id);
}

static void test_contract_routes(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(contract) / sizeof(contract[0]); i++)
		check_found(contract[i].method, contract[i].path, contract[i].handler, contract[i].id);
}

static void test_trailing_slash_optional(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(contract) / sizeof(contract[0]); i++) {
		char path[256];
		size_t len = strlen(contract[i].path);
		memcpy(path, contract[i].path, len - 1); /* drop the final '/' */
		path[len - 1] = '\0';
		check_found(contract[i].method, path, contract[i].handler, contract[i].id);
	}
}

static void test_head_is_get(void **state)
{
	(void)state;
	check_found("HEAD", "/api/chat/rooms/", api_h_rooms_list, 0);
	check_found("HEAD", "/api/chat/messages/5/reads", api_h_message_reads, 5);
}

static void test_every_route_is_in_the_contract(void **state)
{
	(void)state;
	size_t n;
	const api_route *routes = api_routes(&n);
	assert_int_equal(n, sizeof(contract) / sizeof(contract[0]));
	for (size_t i = 0; i < n; i++) {
		bool seen = false;
		for (size_t k = 0; k < n; k++)
			if (contract[k].handler == routes[i].handler &&
			    strcmp(contract[k].method, routes[i].method) == 0)
				seen = true;
		if (!seen)
			fail_msg("route %s %s is not in the contract list", routes[i].method,
			         routes[i].pattern);
	}
}

static void test_not_found(void **state)
{
	(void)state;
	static const char *const paths[] = {
		"/",
		"",
		"/api",
		"/api/",
		"/api/chat/rooms//",
		"/api/chat/rooms/0/",
		"/api/chat/rooms/-1/",
		"/api/chat/rooms/+1/",
		"/api/chat/rooms/abc/",
		"/api/chat/rooms/1x/",
		"/api/chat/rooms/ 1/",
		"/api/chat/rooms/9223372036854775808/",
		"/api/chat/rooms/99999999999999999999999/",
		"/api/chat/rooms/1/nothing/",
		"/api/chat/rooms/1/messages/2/",
		"/api/chat/roomsx/",
		"/api/chat/rooms/1//",
		"/api/chat/messages/",
		"/api/chat/messages/1/read/x",
		"/API/CHAT/ROOMS/",
		"/api/chat/unread//",
		"/api/auth/token/refresh/x/",
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const api_route *route = NULL;
		int64_t id;
		char allow[128];
		api_match m = api_route_match("GET", paths[i], &route, &id, allow, sizeof(allow));
		if (m != API_MATCH_NOT_FOUND)
			fail_msg("GET '%s' should be not found, got %d", paths[i], (int)m);
	}
}

static void check_allow(const char *method, const char *path, const char *allow_want)
{
	const api_route *route = NULL;
	int64_t id;
	char allow[128];
	api_match m = api_route_match(method, path, &route, &id, allow, sizeof(allow));
	assert_int_equal(m, API_MATCH_METHOD);
	assert_string_equal(allow, allow_want);
}

static void test_method_not_allowed(void **state)
{
	(void)state;
	check_allow("DELETE", "/api/chat/rooms/", "GET, HEAD, POST, OPTIONS");
	check_allow("PUT", "/api/chat/rooms/4", "GET, HEAD, PATCH, DELETE, OPTIONS");
	check_allow("GET", "/api/auth/register/", "POST, OPTIONS");
	check_allow("HEAD", "/api/auth/token", "POST, OPTIONS");
	check_allow("POST", "/api/chat/health/", "GET, HEAD, OPTIONS");
	check_allow("OPTIONS", "/api/chat/messages/8/read/", "POST, OPTIONS");
	check_allow("GET", "/api/chat/rooms/2/join/", "POST, OPTIONS");
	check_allow("post", "/api/chat/rooms/", "GET, HEAD, POST, OPTIONS");
}

static void test_public_and_body_flags(void **state)
{
	(void)state;
	size_t n;
	const api_route *routes = api_routes(&n);
	for (size_t i = 0; i < n; i++) {
		bool pub = routes[i].flags & API_ROUTE_PUBLIC;
		bool want_pub = routes[i].handler == api_h_register ||
		                routes[i].handler == api_h_token ||
		                routes[i].handler == api_h_token_refresh ||
		                routes[i].handler == api_h_logout ||
		                routes[i].handler == api_h_health || routes[i].handler == api_h_root;
		if (pub != want_pub)
			fail_msg("%s %s: public flag %d", routes[i].method, routes[i].pattern, pub);
		bool body = routes[i].flags & API_ROUTE_BODY;
		bool want_body = strcmp(routes[i].method, "PATCH") == 0 ||
		                 (strcmp(routes[i].method, "POST") == 0 &&
		                  !strstr(routes[i].pattern, "join") &&
		                  !strstr(routes[i].pattern, "leave") &&
		                  !strstr(routes[i].pattern, "/read/"));
		if (body != want_body)
			fail_msg("%s %s: body flag %d", routes[i].method, routes[i].pattern, body);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contract_routes),
		cmocka_unit_test(test_trailing_slash_optional),
		cmocka_unit_test(test_head_is_get),
		cmocka_unit_test(test_every_route_is_in_the_contract),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_method_not_allowed),
		cmocka_unit_test(test_public_and_body_flags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
