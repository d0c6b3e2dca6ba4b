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
