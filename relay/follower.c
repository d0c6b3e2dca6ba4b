/* The chat_events follower: one thread with its own chat_db.
 *
 * It sleeps on the wake-up socket (datagrams from any writer on this host)
 * and on an eventfd kicked by this process's own writer, with
 * relay.poll_interval_ms as a safety net (wake-ups are best effort and do
 * not cross hosts). Each cycle reads the events after its cursor plus the
 * ids still missing, lets chat_outbox decide what is new (ids commit out of
 * order), builds each delivered event's frame once, and posts it to the
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
#include "chat_json.h"
#include "chat_log.h"
#include "chat_notify.h"
#include "chat_outbox.h"
#include "chat_time.h"
#include "relay.h"

#define READ_LIMIT 1000
#define MAX_ROUNDS 20          /* reads per cycle before checking for stop */
#define MAX_MISSING 4096
#define MAX_REASK 512       /* missing ids and gaps asked for again per read */
#define MAX_IN_FLIGHT 20000    /* event frames posted, not yet fanned out */

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
		if (!row->has_message)
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
	relay_post(r);
}

static int cmp_row(const void *a, const void *b)
{
	const chat_event_row *x = *(const chat_event_row *const *)a;
	const chat_event_row *y = *(const chat_event_row *const *)b;
	return x->ev.id < y->ev.id ? -1 : x->ev.id > y->ev.id;
}

/* Feed the rows of two reads (b may be empty) to the outbox in ONE call and
 * post the delivered ones in id order. One call matters: the outbox
 * delivers an event only above its room's highest delivered id, so an
 * event that was missing must be fed together with the newer events of
 * its room that a read returned (see cycle()). */
static void deliver(chat_outbox *o, chat_event_row *a, size_t na, chat_event_row *b, size_t nb)
{
	size_t n = na + nb;
	if (!n)
		return;
	chat_event *evs = malloc(n * sizeof(*evs));
	bool *dl = calloc(n, sizeof(*dl));
	const chat_event_row **all = malloc(n * sizeof(*all));
	if (!evs || !dl || !all)
		goto out;
	for (size_t i = 0; i < na; i++)
		all[i] = &a[i];
	for (size_t i = 0; i < nb; i++)
		all[na + i] = &b[i];
	for (size_t i = 0; i < n; i++)
		evs[i] = all[i]->ev;
	chat_outbox_feed(o, evs, n, chat_time_now_ms(), dl);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (dl[i])
			all[k++] = all[i];
	qsort(all, k, sizeof(*all), cmp_row);
	for (size_t i = 0; i < k; i++)
		post_row(all[i]);
out:
	free(evs);
	free(dl);
	free(all);
}

/* Ids to ask for again after a read: every id still missing and every gap
 * inside rows (ids between the previous max_seen and the rows' ids that
 * the read did not return), ascending, at most max. */
static size_t wanted_ids(chat_outbox *o, const chat_event_row *rows, size_t n, int64_t *ids,
                         size_t max)
{
	size_t k = chat_outbox_missing(o, ids, max);
	int64_t prev = chat_outbox_max_seen(o);
	for (size_t i = 0; i < n && k < max; i++) {
		if (rows[i].ev.id <= prev)
			continue;
		for (int64_t id = prev + 1; id < rows[i].ev.id && k < max; id++)
			ids[k++] = id;
		prev = rows[i].ev.id;
	}
	return k;
}

/* One follower cycle: read the events after max_seen, then - in a second
 * query issued after the first - the ids still missing and the gaps of
 * that read, and feed both to the outbox together. Why this order: when
 * the first read shows an event of a room, every older event of that room
 * committed before it (the room lock), so the second read sees those older
 * ones even if they were missing until now, and the outbox gets them in
 * the same feed, before it moves the room's mark past them. */
static void cycle(chat_db *db, chat_outbox *o)
{
	int64_t maxid = 0;
	if (chat_dal_events_max_id(db, &maxid) == CHAT_OK) {
		int64_t l = maxid - chat_outbox_max_seen(o);
		atomic_store(&lag, l > 0 ? l : 0);
	}
	int64_t ids[MAX_REASK];
	for (int round = 0; round < MAX_ROUNDS && !atomic_load(&stop); round++) {
		while (atomic_load(&relay_events_in_flight) > MAX_IN_FLIGHT && !atomic_load(&stop))
			usleep(5000); /* the loop is behind: let it catch up */
		chat_event_row *rows = NULL, *more = NULL;
		size_t n = 0, nm = 0;
		chat_err e = chat_dal_events_after(db, chat_outbox_max_seen(o), READ_LIMIT, &rows, &n);
		if (e != CHAT_OK) {
			relay_db_set_up(e != CHAT_ERR_UNAVAILABLE);
			return;
		}
		relay_db_set_up(true);
		size_t k = wanted_ids(o, rows, n, ids, MAX_REASK);
		for (size_t off = 0; off < k; off += 64) {
			size_t c = k - off < 64 ? k - off : 64;
			chat_event_row *part = NULL;
			size_t np = 0;
			if (chat_dal_events_by_ids(db, ids + off, c, &part, &np) != CHAT_OK)
				break;
			if (np) {
				chat_event_row *grown = realloc(more, (nm + np) * sizeof(*more));
				if (!grown) {
					chat_event_rows_free(part, np);
					break;
				}
				more = grown;
				memcpy(more + nm, part, np * sizeof(*part));
				nm += np;
			}
			free(part); /* rows moved into more: free the array only */
		}
		deliver(o, rows, n, more, nm);
		bool full = n == READ_LIMIT;
		chat_event_rows_free(rows, n);
		chat_event_rows_free(more, nm);
		if (!full)
			break;
	}
	chat_outbox_expire(o, chat_time_now_ms());
	atomic_store(&last_event, chat_outbox_max_seen(o));
	atomic_store(&passed_over, chat_outbox_passed_over(o));
	atomic_fetch_add(&cycles, 1);
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
				o = chat_outbox_create(start, R->cfg->relay.gap_timeout_ms, MAX_MISSING);
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
