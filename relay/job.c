/* Database jobs: what a session asks the worker threads to do. Created on
 * the service thread, owned by the worker queue once submitted, freed by
 * whoever handles the result. Kept apart from workq.c so the frame
 * handler (frames.c) links without the worker threads (the fuzz target). */
#include <stdlib.h>

#include "relay.h"

relay_job *relay_job_new(relay_job_kind kind)
{
	relay_job *j = calloc(1, sizeof(*j));
	if (j) {
		j->kind = kind;
		j->last_id = -1;
	}
	return j;
}

void relay_job_free(relay_job *j)
{
	if (!j)
		return;
	free(j->content);
	free(j);
}

size_t relay_replay_page_bytes(const chat_config *cfg)
{
	size_t b = (size_t)cfg->relay.send_queue_max_bytes / 4;
	return b < 65536 ? b : 65536;
}

int relay_replay_page_rows(const chat_config *cfg)
{
	int r = cfg->relay.send_queue_max_frames / 4;
	return r < 1 ? 1 : r > 128 ? 128 : r;
}
