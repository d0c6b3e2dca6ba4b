/* Fuzz chat_json_parse, the strict RFC 8259 parser of API bodies and
 * relay frames: no crash, no leak, a terminated detail on refusal; what it
 * accepts is valid UTF-8, and json-c's serialization of the value parses
 * again to the same value (the check and json-c agree on what they saw). */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "chat_json.h"
#include "chat_utf8.h"
#include "fuzz.h"

const char *const fuzz_seeds[] = {
	"{\"type\":\"chat_message\",\"content\":\"你好 😀 שלום\",\"message_type\":\"text\"}",
	"{\"a\":[1,-2.5e3,true,false,null,{\"b\":\"\\u00e9\\ud83d\\ude00\\n\"}]}",
	"[0,1.0E+2,-0.5e-1,\"\\\\\\/\\\"\"]", "null", "\"x\"", "[[[[[[[[]]]]]]]]",
	"{\"a\":NaN}", "[1,]", "{\"a\":1,}", "/* c */{}", "{'a':1}", "[01]", "\"\t\"",
	" \r\n\t{} ", "\"\\ud800\"", "[\"\\udc00x\\ud83d\"]", "\"\\u0000\"", NULL,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	json_object *o = NULL, *again = NULL;
	char detail[160];

	memset(detail, 'x', sizeof(detail));
	chat_err e = chat_json_parse(s, size, 32, &o, detail, sizeof(detail));
	if (e != CHAT_OK) {
		FUZZ_CHECK(o == NULL);
		FUZZ_CHECK(memchr(detail, '\0', sizeof(detail)) != NULL && detail[0] != '\0');
		return 0;
	}
	FUZZ_CHECK(chat_utf8_valid(s, size));
	size_t len = 0;
	const char *text = o ? chat_json_string(o, &len) : "null";
	if (!o)
		len = 4;
	char *copy = malloc(len + 1);
	FUZZ_CHECK(copy != NULL);
	memcpy(copy, text, len + 1);
	FUZZ_CHECK(chat_json_parse(copy, len, 33, &again, detail, sizeof(detail)) == CHAT_OK);
	size_t len2 = 0;
	const char *text2 = again ? chat_json_string(again, &len2) : "null";
	if (!again)
		len2 = 4;
	FUZZ_CHECK(len2 == len && memcmp(text2, copy, len) == 0);
	free(copy);
	json_object_put(again);
	json_object_put(o);
	return 0;
}
