/* Fuzz what chat-api reads from a request before any handler runs: the
 * router (method + path), the query string parser and the JSON body
 * parser. Invariants: the router's answers are consistent (an id only
 * with a route, Allow always names OPTIONS), decoded query values fit
 * their buffer, and a parsed body is always an object. */
#include "config.h"

#include <string.h>

#include "api.h"
#include "fuzz.h"

const char *const fuzz_seeds[] = {
	"0GET\n/api/chat/rooms/12/messages/",
	"0PATCH\n/api/chat/messages/9223372036854775807",
	"0HEAD\n/api/chat//rooms/1/",
	"1limit=50&before=%31%32&after=+&x",
	"1before=%zz&limit=%&after=99999999999999999999999",
	"2{\"content\": \"h\\u00e9llo\", \"client_id\": null, \"a\": [1, {\"b\": []}]}",
	"2[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	"2 {\"x\": 1} trailing",
	NULL,
};

static void fuzz_route(const uint8_t *data, size_t size)
{
	char buf[API_PATH_MAX + 16];
	if (size >= sizeof(buf))
		size = sizeof(buf) - 1;
	memcpy(buf, data, size);
	buf[size] = '\0';
	/* "METHOD\npath" */
	char *nl = strchr(buf, '\n');
	const char *method = "GET", *path = buf;
	if (nl) {
		*nl = '\0';
		method = buf;
		path = nl + 1;
	}
	const api_route *route = NULL;
	int64_t id = -1;
	char allow[128];
	api_match m = api_route_match(method, path, &route, &id, allow, sizeof(allow));
	if (m == API_MATCH_FOUND) {
		FUZZ_CHECK(route != NULL);
		FUZZ_CHECK(id >= 0);
		FUZZ_CHECK((id > 0) == (strstr(route->pattern, "{id}") != NULL));
	}
	if (m != API_MATCH_NOT_FOUND)
		FUZZ_CHECK(strstr(allow, "OPTIONS") != NULL);
}

static void fuzz_query(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"limit", "before", "after", "x", "token"};
	char query[4096];
	api_req r;
	if (size >= sizeof(query))
		size = sizeof(query) - 1;
	memcpy(query, data, size);
	query[size] = '\0';
	memset(&r, 0, sizeof(r));
	r.query = query;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char out[24];
		memset(out, 'Z', sizeof(out));
		int got = api_query_get(&r, names[i], out, sizeof(out));
		FUZZ_CHECK(got >= -1 && got <= 1);
		if (got == 1)
			FUZZ_CHECK(memchr(out, '\0', sizeof(out)) != NULL);
	}
}

static void fuzz_json(const uint8_t *data, size_t size)
{
	json_object *obj = NULL;
	char detail[160];
	detail[0] = '\0';
	if (api_json_parse((const char *)data, size, &obj, detail, sizeof(detail)) == 0) {
		FUZZ_CHECK(obj != NULL);
		FUZZ_CHECK(json_object_is_type(obj, json_type_object));
		json_object_put(obj);
	} else {
		FUZZ_CHECK(obj == NULL);
		FUZZ_CHECK(detail[0] != '\0');
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	/* First byte: '0' router, '1' query, '2' JSON (any byte, modulo 3). */
	switch (data[0] % 3) {
	case 0: fuzz_route(data + 1, size - 1); break;
	case 1: fuzz_query(data + 1, size - 1); break;
	default: fuzz_json(data + 1, size - 1); break;
	}
	return 0;
}
