/* Fuzz the configuration parser: an INI file and a --set assignment from
 * the same input. Whatever is accepted leaves a configuration that
 * validates, dumps and frees cleanly, with every value inside its bounds. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "chat_config.h"
#include "fuzz.h"

const char *const fuzz_seeds[] = {
	"[relay]\nport = 8002\nallowed_origins = https://a, https://b\nallowed_origins = c\n",
	"[auth]\njwt_secret = 0123456789abcdef\nallow_anonymous = yes\njwt_algorithm = RS256\n",
	"; c\n# c\n[database]\n  password = p ; inline\nport=3307\n[log]\nlevel = debug\n",
	"relay.rate_limit=5", "api.cors_origins=a b c", "[nosuch]\nx=1\n", "[relay\n", NULL,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	chat_config c;
	char path[64], *set;
	int fd;

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	if (chat_config_defaults(&c) < 0)
		abort();
	fd = memfd_create("fuzz-config", MFD_CLOEXEC);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(write(fd, data, size) == (ssize_t)size);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	chat_config_load_file(&c, path, devnull);
	close(fd);

	set = strndup((const char *)data, size);
	FUZZ_CHECK(set != NULL);
	chat_config_set(&c, set, devnull);
	free(set);

	FUZZ_CHECK(c.relay.port >= 1 && c.relay.port <= 65535);
	FUZZ_CHECK(c.relay.rate_limit >= 1);
	FUZZ_CHECK(c.relay.allowed_origins[CHAT_CONFIG_LIST_MAX - 1] == NULL);
	FUZZ_CHECK(c.api.cors_origins[CHAT_CONFIG_LIST_MAX - 1] == NULL);
	FUZZ_CHECK(c.auth.jwt_algorithm && c.log.level && c.notify.dir);
	chat_config_validate(&c, devnull);
	chat_config_dump(&c, devnull);
	chat_config_free(&c);
	return 0;
}
