/* Fuzz target: the configuration parser. The input is the content of a
 * chat.conf (given to chat_config_load_file through a memfd, so no file
 * is left behind), then the result is validated and dumped; each input
 * line is also tried as a --set assignment (chat_config_set). A config
 * file is trusted more than network input, but an operator's typo must
 * give a "file:line" error, never a crash. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "chat_config.h"
#include "fuzz.h"

#define INPUT_MAX (256 * 1024)

static FILE *devnull(void)
{
	static FILE *f;
	if (!f && !(f = fopen("/dev/null", "w")))
		abort();
	return f;
}

static void load_file(const uint8_t *data, size_t size)
{
	chat_config cfg;
	char path[64];
	int fd = memfd_create("chat.conf", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	FUZZ_CHECK(chat_config_defaults(&cfg) == 0, "defaults failed");
	int rc = chat_config_load_file(&cfg, path, devnull());
	FUZZ_CHECK(rc == 0 || rc == -1, "load_file returned %d", rc);
	if (rc == 0) {
		(void)chat_config_validate(&cfg, devnull());
		chat_config_dump(&cfg, devnull());
		(void)chat_config_list_has(cfg.relay.allowed_origins, "http://localhost:8000");
		(void)chat_config_list_has(cfg.api.cors_origins, "http://localhost:8000");
	}
	chat_config_free(&cfg);
	close(fd);
}

static void set_lines(const uint8_t *data, size_t size)
{
	chat_config cfg;
	char line[4096];

	FUZZ_CHECK(chat_config_defaults(&cfg) == 0, "defaults failed");
	for (size_t i = 0; i < size;) {
		const uint8_t *nl = memchr(data + i, '\n', size - i);
		size_t len = nl ? (size_t)(nl - (data + i)) : size - i;
		if (len < sizeof(line)) {
			memcpy(line, data + i, len);
			line[len] = '\0';
			(void)chat_config_set(&cfg, line, devnull());
		}
		i += len + 1;
	}
	chat_config_dump(&cfg, devnull());
	chat_config_free(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > INPUT_MAX)
		return 0;
	load_file(data, size);
	set_lines(data, size);
	return 0;
}
