/* The relay instance in the database: registered on first use, kept alive
 * by heartbeats (which also reap dead relays), removed at clean shutdown.
 * Presence rows hang off it. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "chat_dal.h"
#include "chat_log.h"
#include "chat_notify.h"
#include "jobs.h"

static pthread_mutex_t inst_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t instance_id; /* under inst_mu */

static void hostname_of(char *buf, size_t sz)
{
	if (gethostname(buf, sz) != 0)
		snprintf(buf, sz, "localhost");
	buf[sz - 1] = '\0';
}

/* The instance id, registering first if need be. 0 if the DB is down. */
int64_t relay_instance_ensure(chat_db *db, bool *registered)
{
	pthread_mutex_lock(&inst_mu);
	int64_t id = instance_id;
	if (!id) {
		char host[256];
		hostname_of(host, sizeof(host));
		chat_err e = chat_dal_instance_register(db, host, (long)getpid(), &id);
		relay_db_note(e, db, "register instance");
		if (e == CHAT_OK) {
			instance_id = id;
			if (registered)
				*registered = true;
			chat_log_info("registered as relay instance %lld", (long long)id);
		} else {
			id = 0;
		}
	}
	pthread_mutex_unlock(&inst_mu);
	return id;
}

void relay_jobs_wake(void)
{
	chat_notify_send(relay_g->cfg->notify.dir);
	relay_follower_kick();
}

void relay_job_heartbeat(chat_db *db)
{
	relay_result *r = relay_result_new(RES_INSTANCE, 0);
	if (!r)
		return;
	bool reg = false;
	int64_t inst = relay_instance_ensure(db, &reg);
	if (inst) {
		chat_err e = chat_dal_instance_heartbeat(db, inst);
		relay_db_note(e, db, "heartbeat");
		if (e == CHAT_ERR_NOT_FOUND) {
			/* Reaped by another relay while we were stalled: register
			 * again; the loop re-adds its connections' presence. */
			chat_log_warn("relay instance %lld was reaped; registering again",
			              (long long)inst);
			pthread_mutex_lock(&inst_mu);
			instance_id = 0;
			pthread_mutex_unlock(&inst_mu);
			inst = relay_instance_ensure(db, &reg);
			r->reregistered = inst != 0;
		}
		if (inst) {
			int reaped = 0;
			e = chat_dal_instances_reap(db, 3 * relay_g->cfg->relay.heartbeat_interval, &reaped);
			relay_db_note(e, db, "reap");
			if (e == CHAT_OK && reaped > 0) {
				chat_log_info("reaped %d dead relay instance(s)", reaped);
				relay_jobs_wake();
			}
		}
	} else {
		relay_db_note(chat_db_ping(db), db, "ping");
	}
	r->instance_id = inst;
	relay_post(r);
}

void relay_job_unregister(chat_db *db)
{
	pthread_mutex_lock(&inst_mu);
	int64_t inst = instance_id;
	instance_id = 0;
	pthread_mutex_unlock(&inst_mu);
	if (inst) {
		chat_err e = chat_dal_instance_unregister(db, inst);
		if (e != CHAT_OK)
			chat_log_warn("could not unregister relay instance %lld: %s", (long long)inst,
			              chat_err_str(e));
		else
			relay_jobs_wake();
	}
	relay_result *r = relay_result_new(RES_JOB_DONE, 0);
	if (r)
		relay_post(r);
}

