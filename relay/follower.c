/* The chat_events follower: one thread with its own chat_db.
 *
 * It sleeps on the wake-up socket (datagrams from any writer on this host)
 * and on an eventfd kicked by this process's own writer, with
 * relay.poll_interval_ms as a safety net (wake-ups are best effort and do
 * not cross hosts). Each cycle reads the events after its cursor, watches
 * the ids still missing and catches rooms up (chat_follow.h), lets
 * chat_outbox decide what is new (ids commit out of order, or never),
 * builds each delivered event's frame once, and posts it to the
 * loop, which fans it out to the room. Delivery to clients happens only
 * here, so every connection on every relay sees a room's events in id
 * order, once. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "chat_dal.h"
#include "chat_db.h"
#include "chat_follow.h"
#include "chat_json.h"
#include "chat_log.h"
#include "chat_notify.h"
#include "chat_outbox.h"
#include "chat_time.h"
#include "relay.h"

#define READ_LIMIT 1000
#define MAX_ROUNDS 20          /* reads per cycle before checking for stop */
#define MAX_GAPS 65536          /* missing id ranges watched (1.5 MiB) */
#define MAX_IN_FLIGHT 20000    /* event frames posted, not yet fanned out */
#define LAG_EVERY_MS 1000       /* how often the lag gauge asks MAX(id) */

static relay *R;
static pthread_t th;
static bool started;
static atomic_bool stop;
static int kick_fd = -1;
static atomic_llong last_event, lag;
static atomic_ullong passed_over;
static atomic_ullong cycles;

atomic_long relay_events_in_flight;

void relay_follower_kick(void)
{
	if (kick_fd >= 0) {
		uint64_t one = 1;
		ssize_t w = write(kick_fd, &one, sizeof(one));
		(void)w; /* a full counter is as good as a kick */
	}
}

int64_t relay_follower_last_event(void)
{
	return atomic_load(&last_event);
}

int64_t relay_follower_lag(void)
{
	return atomic_load(&lag);
}

uint64_t relay_follower_cycles(void)
{
	return atomic_load(&cycles);
}

uint64_t relay_follower_passed_over(void)
{
	return atomic_load(&passed_over);
}

static relay_frame *live_frame(const chat_event_row *row)
{
	chat_user_ref actor;
	if (row->has_actor) {
		actor = row->actor;
	} else {
		memset(&actor, 0, sizeof(actor));
		actor.id = row->ev.user_id;
	}
	const char *msgtype = row->ev.kind == CHAT_EV_MESSAGE_CREATED ? "chat_message"
	                                                              : "message_updated";
	switch (row->ev.kind) {
	case CHAT_EV_MESSAGE_CREATED:
	case CHAT_EV_MESSAGE_UPDATED:
		/* The row is read now, not as it was: a message deleted since
		 * (gone, or deleted_at set) sends nothing; its message_deleted
		 * event follows. Its content never leaves after the deletion. */
		if (!row->has_message || row->message.deleted_ms)
			return NULL;
		return relay_frame_from_json(chat_json_frame_message(msgtype, &row->message));
	case CHAT_EV_MESSAGE_DELETED:
		return relay_frame_from_json(chat_json_frame_deleted(row->ev.ref_id));
	case CHAT_EV_MESSAGE_READ:
		return relay_frame_from_json(chat_json_frame_read(row->ev.ref_id, &actor));
	case CHAT_EV_PRESENCE_JOIN:
	case CHAT_EV_USER_JOIN:
		return relay_frame_from_json(chat_json_frame_user("user_join", &actor));
	case CHAT_EV_PRESENCE_LEAVE:
	case CHAT_EV_USER_LEAVE:
		return relay_frame_from_json(chat_json_frame_user("user_leave", &actor));
	case CHAT_EV_TYPING:
		return relay_frame_from_json(chat_json_frame_typing(&actor, row->ev.ref_id & 1));
	case CHAT_EV_ROOM_DELETED:
	case CHAT_EV_ROOM_UPDATED:
	case CHAT_EV_MEMBER_LEFT:
		return relay_frame_new("", 0); /* acted on by the loop, not sent */
	default:
		return NULL;
	}
}

/* Events read, not yet posted (follower thread only): the frames of one
 * read go to the loop together, one wake-up, not one per event. */
static relay_result_chain pending;

static void post_row(const chat_event_row *row)
{
	relay_frame *f = live_frame(row);
	if (!f)
		return;
	f->ev_id = row->ev.id;
	f->room_id = row->ev.room_id;
	f->kind = row->ev.kind;
	f->user_id = row->ev.user_id;
	if (row->ev.kind >= CHAT_EV_MESSAGE_CREATED && row->ev.kind <= CHAT_EV_MESSAGE_READ)
		f->msg_id = row->ev.ref_id;
	if (row->ev.kind == CHAT_EV_TYPING) {
		f->origin = (uint64_t)row->ev.ref_id >> 1;
		if (row->ev.ref_id & 1) {
			chat_user_ref actor;
			if (row->has_actor) {
				actor = row->actor;
			} else {
				memset(&actor, 0, sizeof(actor));
				actor.id = row->ev.user_id;
			}
			f->alt = relay_frame_from_json(chat_json_frame_typing(&actor, false));
			if (f->alt) {
				f->alt->room_id = f->room_id;
				f->alt->kind = CHAT_EV_TYPING;
				f->alt->user_id = f->user_id;
				f->alt->origin = f->origin;
			}
		}
	}
	relay_result *r = calloc(1, sizeof(*r));
	if (!r) {
		relay_frame_discard(f);
		return;
	}
	r->kind = RES_EVENT;
	r->frame = f;
	atomic_fetch_add(&relay_events_in_flight, 1);
	relay_chain_add(&pending, r);
}

static void post_one(void *arg, const chat_event_row *row, bool reread)
{
	(void)arg;
	(void)reread;
	post_row(row);
}

/* One follower cycle: reads until caught up (chat_follow_read does each
 * read the safe way), at most MAX_ROUNDS before looking at stop again. */
static void cycle(chat_db *db, chat_outbox *o)
{
	static int64_t lag_ms;
	for (int round = 0; round < MAX_ROUNDS && !atomic_load(&stop); round++) {
		while (atomic_load(&relay_events_in_flight) > MAX_IN_FLIGHT && !atomic_load(&stop))
			usleep(5000); /* the loop is behind: let it catch up */
		bool full = false;
		chat_err e = chat_follow_read(db, o, READ_LIMIT, chat_time_now_ms(), post_one, NULL,
		                              &full);
		relay_post_chain(&pending);
		if (e != CHAT_OK) {
			relay_db_set_up(e != CHAT_ERR_UNAVAILABLE);
			return;
		}
		relay_db_set_up(true);
		if (!full)
			break;
	}
	chat_outbox_expire(o, chat_time_now_ms());
	atomic_store(&last_event, chat_outbox_max_seen(o));
	atomic_store(&passed_over, chat_outbox_passed_over(o));
	atomic_fetch_add(&cycles, 1);
	/* The lag gauge: after the reads, not before them (the events wait
	 * for no query of its own), and sampled, not asked every cycle. */
	int64_t now = chat_time_mono_ms();
	int64_t maxid = 0;
	if (now - lag_ms >= LAG_EVERY_MS && chat_dal_events_max_id(db, &maxid) == CHAT_OK) {
		lag_ms = now;
		int64_t l = maxid - chat_outbox_max_seen(o);
		atomic_store(&lag, l > 0 ? l : 0);
	}
}

static void *follower_main(void *arg)
{
	(void)arg;
	chat_err e = CHAT_OK;
	chat_db *db = chat_db_open(R->cfg, &e);
	chat_outbox *o = NULL;
	if (!db) {
		chat_log_error("follower: out of memory");
		return NULL;
	}
	int64_t last_warn = 0;
	while (!atomic_load(&stop)) {
		if (!o) {
			int64_t start = 0;
			e = chat_dal_events_max_id(db, &start);
			if (e == CHAT_OK) {
				o = chat_outbox_create(start, R->cfg->relay.gap_timeout_ms, MAX_GAPS);
				if (o)
					chat_log_info("following chat_events after id %lld", (long long)start);
			} else if (chat_time_mono_ms() - last_warn >= 5000) {
				last_warn = chat_time_mono_ms();
				chat_log_warn("follower: database unreachable (%s); retrying",
				              chat_db_error(db));
			}
		}
		if (o)
			cycle(db, o);
		struct pollfd p[2] = {
			{ .fd = R->notify_fd, .events = POLLIN },
			{ .fd = kick_fd, .events = POLLIN },
		};
		int rc = poll(p, 2, R->cfg->relay.poll_interval_ms);
		if (rc > 0) {
			if (p[0].revents & POLLIN)
				chat_notify_drain(R->notify_fd);
			if (p[1].revents & POLLIN) {
				uint64_t v;
				ssize_t rd = read(kick_fd, &v, sizeof(v));
				(void)rd;
			}
		}
	}
	chat_outbox_free(o);
	chat_db_close(db);
	chat_db_thread_end();
	return NULL;
}

int relay_follower_start(relay *r)
{
	R = r;
	atomic_store(&stop, false);
	kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (kick_fd < 0) {
		chat_log_errno(CHAT_LOG_ERROR, "eventfd");
		return -1;
	}
	if (pthread_create(&th, NULL, follower_main, NULL) != 0) {
		chat_log_error("cannot start the follower thread");
		return -1;
	}
	started = true;
	return 0;
}

void relay_follower_stop(void)
{
	if (!started)
		return;
	atomic_store(&stop, true);
	relay_follower_kick();
	pthread_join(th, NULL);
	started = false;
	close(kick_fd);
	kick_fd = -1;
}
