/* Database work off the event loop.
 *
 * relay.db_workers worker threads and as many writer threads, each with its
 * own chat_db and its own locked job queue. Jobs of one connection always
 * go to the same worker (conn_id modulo the count), so they run in the
 * order the loop submitted them (open, typing, close). chat_message inserts
 * go to the connection's writer, which takes everything pending (at most
 * relay.batch_max) and stores it in one transaction; one writer per
 * connection keeps its messages in the order they were sent, several
 * writers let the database commit batches of different rooms in parallel
 * (group commit).
 *
 * Results go back through relay_post(): a locked list plus
 * lws_cancel_service(), the only lws call allowed off the service thread. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat_dal.h"
#include "chat_db.h"
#include "chat_json.h"
#include "chat_log.h"
#include "chat_notify.h"
#include "chat_time.h"
#include "relay.h"

#define QUEUE_MAX 65536 /* jobs per queue; beyond, the loop answers "unavailable" */

typedef struct wqueue {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	relay_job *head, *tail;
	size_t n;
	bool stop;
	bool started;
	pthread_t th;
	int idx;        /* -1 = the writer */
} wqueue;

static relay *R;
static wqueue *workers;
static int n_workers;
static wqueue *writers; /* as many as workers; a connection's inserts go to one */

static pthread_mutex_t res_mu = PTHREAD_MUTEX_INITIALIZER;
static relay_result *res_head, *res_tail;

static atomic_bool db_up;
static atomic_bool db_seen_down; /* a call failed since the last success */
static pthread_mutex_t inst_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t instance_id; /* under inst_mu */
static atomic_llong last_unavail_log;

/* ---- results ---------------------------------------------------------- */

void relay_result_free(relay_result *r)
{
	if (!r)
		return;
	free(r->snap_ids);
	relay_frame_discard(r->established);
	for (size_t i = 0; i < r->n_frames; i++)
		relay_frame_discard(r->frames[i]);
	free(r->frames);
	relay_frame_discard(r->frame);
	free(r);
}

void relay_post(relay_result *r)
{
	r->next = NULL;
	pthread_mutex_lock(&res_mu);
	if (res_tail)
		res_tail->next = r;
	else
		res_head = r;
	res_tail = r;
	pthread_mutex_unlock(&res_mu);
	if (R && R->ctx)
		lws_cancel_service(R->ctx);
}

relay_result *relay_take_results(void)
{
	pthread_mutex_lock(&res_mu);
	relay_result *r = res_head;
	res_head = res_tail = NULL;
	pthread_mutex_unlock(&res_mu);
	return r;
}

static relay_result *result_new(relay_result_kind kind, uint64_t conn_id)
{
	relay_result *r = calloc(1, sizeof(*r));
	if (!r) {
		chat_log_error("out of memory building a result");
		return NULL;
	}
	r->kind = kind;
	r->conn_id = conn_id;
	return r;
}

bool relay_db_up(void)
{
	return atomic_load(&db_up);
}

bool relay_db_down(void)
{
	return atomic_load(&db_seen_down);
}

void relay_db_set_up(bool up)
{
	atomic_store(&db_up, up);
	atomic_store(&db_seen_down, !up);
}

/* Note the outcome of a DB call: keeps /healthz honest and says every few
 * seconds that the database is unreachable. */
static void note(chat_err e, chat_db *db, const char *what)
{
	if (e == CHAT_ERR_UNAVAILABLE) {
		bool was = atomic_exchange(&db_up, false);
		atomic_store(&db_seen_down, true);
		int64_t now = chat_time_mono_ms();
		long long last = atomic_load(&last_unavail_log);
		if (was || now - last >= 5000) {
			atomic_store(&last_unavail_log, now);
			chat_log_warn("database unreachable (%s: %s); retrying", what,
			              db ? chat_db_error(db) : "no connection");
		}
	} else if (e == CHAT_OK || e == CHAT_ERR_NOT_FOUND || e == CHAT_ERR_DUPLICATE) {
		atomic_store(&db_seen_down, false);
		if (!atomic_exchange(&db_up, true))
			chat_log_info("database reachable");
	} else if (e == CHAT_ERR_INTERNAL || e == CHAT_ERR_NOMEM) {
		/* schema mismatch, bug, OOM: say it, at most every few seconds */
		static atomic_llong last_internal;
		int64_t now = chat_time_mono_ms();
		if (now - atomic_load(&last_internal) >= 5000) {
			atomic_store(&last_internal, now);
			chat_log_error("database call failed (%s: %s: %s)", what, chat_err_str(e),
			               db ? chat_db_error(db) : "");
		}
	}
}

/* ---- typing origin ------------------------------------------------------ */

uint64_t relay_origin_of(int64_t inst, uint64_t conn_id)
{
	/* 24 bits of connection id below the instance id; unique enough to
	 * recognise the typer's own connection, and positive in an int64. */
	return ((uint64_t)inst << 24) | (conn_id & 0xffffff);
}

int64_t relay_typing_ref(bool is_typing, uint64_t origin)
{
	return (int64_t)(((origin & 0x3fffffffffffffffULL) << 1) | (is_typing ? 1 : 0));
}

/* ---- instance ------------------------------------------------------------ */

static void hostname_of(char *buf, size_t sz)
{
	if (gethostname(buf, sz) != 0)
		snprintf(buf, sz, "localhost");
	buf[sz - 1] = '\0';
}

/* The instance id, registering first if need be. 0 if the DB is down. */
static int64_t ensure_instance(chat_db *db, bool *registered)
{
	pthread_mutex_lock(&inst_mu);
	int64_t id = instance_id;
	if (!id) {
		char host[256];
		hostname_of(host, sizeof(host));
		chat_err e = chat_dal_instance_register(db, host, (long)getpid(), &id);
		note(e, db, "register instance");
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

static void wake_relays(void)
{
	chat_notify_send(R->cfg->notify.dir);
	relay_follower_kick();
}

/* ---- replay ------------------------------------------------------------- */

static relay_frame *event_frame(const chat_event_row *row)
{
	switch (row->ev.kind) {
	case CHAT_EV_MESSAGE_CREATED:
		return row->has_message ? relay_frame_from_json(chat_json_frame_message(
		                              "chat_message", &row->message))
		                        : NULL;
	case CHAT_EV_MESSAGE_UPDATED:
		return row->has_message ? relay_frame_from_json(chat_json_frame_message(
		                              "message_updated", &row->message))
		                        : NULL;
	case CHAT_EV_MESSAGE_DELETED:
		return relay_frame_from_json(chat_json_frame_deleted(row->ev.ref_id));
	default:
		return NULL;
	}
}

/* Replay from the messages table (the event log was purged, or the client
 * asks for everything): the live messages after last_id, oldest first, in
 * their current state; more than limit: resync_required and the newest
 * limit. */
static chat_err replay_from_messages(chat_db *db, relay_result *r, int64_t room_id,
                                     int64_t last_id, int limit, int64_t room_newest,
                                     int64_t max_ev)
{
	chat_message *v = NULL;
	size_t n = 0;
	bool more = false;
	chat_err e = chat_dal_messages_page(db, room_id, 0, last_id, limit, &v, &n, &more);
	note(e, db, "replay (messages)");
	if (e != CHAT_OK)
		return e;
	bool truncated = more;
	if (last_id > 0 && more) { /* too many missing: the newest limit */
		chat_messages_free(v, n);
		v = NULL;
		n = 0;
		e = chat_dal_messages_page(db, room_id, 0, 0, limit, &v, &n, &more);
		if (e != CHAT_OK)
			return e;
	}
	r->frames = calloc(n + 2, sizeof(*r->frames));
	if (!r->frames) {
		chat_messages_free(v, n);
		return CHAT_ERR_NOMEM;
	}
	if (truncated)
		r->frames[r->n_frames++] =
			relay_frame_from_json(chat_json_frame_resync_required(last_id));
	int64_t newest = last_id, newest_replayed = 0;
	for (size_t i = 0; i < n; i++) {
		relay_frame *f = relay_frame_from_json(chat_json_frame_message("chat_message", &v[i]));
		if (!f)
			continue;
		f->room_id = room_id;
		f->kind = CHAT_EV_MESSAGE_CREATED;
		f->msg_id = v[i].id;
		if (v[i].id > newest)
			newest = v[i].id;
		if (v[i].id > newest_replayed)
			newest_replayed = v[i].id;
		r->frames[r->n_frames++] = f;
	}
	r->frames[r->n_frames++] = relay_frame_from_json(chat_json_frame_sync_done(newest));
	r->replay_max_ev = max_ev;
	int64_t known = last_id < room_newest ? last_id : room_newest;
	r->replay_last_msg = newest_replayed > known ? newest_replayed : known;
	r->has_replay = true;
	chat_messages_free(v, n);
	return CHAT_OK;
}

/* Fill r with the replay of room after message last_id: resync_required
 * (if truncated), the frames, sync_done. */
static chat_err do_replay(chat_db *db, relay_result *r, int64_t room_id, int64_t last_id)
{
	/* The room's newest message, read before the replay: live messages at
	 * or below min(last_id, it) are the client's already. Not last_id
	 * alone: one above every stored id (a stale client, the old timestamp
	 * ids) must not hide the messages stored from now on. */
	int64_t room_newest = 0;
	chat_message *page = NULL;
	size_t np = 0;
	bool more = false;
	if (chat_dal_messages_page(db, room_id, 0, 0, 1, &page, &np, &more) == CHAT_OK && np)
		room_newest = page[0].id;
	chat_messages_free(page, np);

	chat_event_row *rows = NULL;
	size_t n = 0;
	bool truncated = false;
	int limit = R->cfg->relay.replay_limit;
	chat_err e = chat_dal_room_replay(db, room_id, last_id, limit, &rows, &n, &truncated);
	note(e, db, "replay");
	if (e != CHAT_OK)
		return e;
	if (!truncated) {
		/* Purged event log? If the oldest message after last_id has no
		 * message_created among the rows, the log no longer covers the
		 * gap: replay from the messages table instead. */
		int64_t first_created = 0, max_ev = 0;
		for (size_t i = 0; i < n; i++) {
			if (rows[i].ev.id > max_ev)
				max_ev = rows[i].ev.id;
			if (rows[i].ev.kind == CHAT_EV_MESSAGE_CREATED &&
			    (!first_created || rows[i].ev.ref_id < first_created))
				first_created = rows[i].ev.ref_id;
		}
		chat_message *nx = NULL;
		size_t nn = 0;
		bool hm = false;
		bool hole = last_id == 0; /* "everything": the messages table says it best */
		if (!hole && chat_dal_messages_page(db, room_id, 0, last_id, 1, &nx, &nn, &hm) ==
		                 CHAT_OK && nn)
			hole = !first_created || first_created > nx[0].id;
		chat_messages_free(nx, nn);
		if (hole) {
			chat_event_rows_free(rows, n);
			return replay_from_messages(db, r, room_id, last_id, limit, room_newest, max_ev);
		}
	}
	r->frames = calloc(n + 2, sizeof(*r->frames));
	if (!r->frames) {
		chat_event_rows_free(rows, n);
		return CHAT_ERR_NOMEM;
	}
	int64_t newest = last_id, max_ev = 0, newest_replayed = 0;
	if (truncated)
		r->frames[r->n_frames++] =
			relay_frame_from_json(chat_json_frame_resync_required(last_id));
	for (size_t i = 0; i < n; i++) {
		const chat_event_row *row = &rows[i];
		if (row->ev.id > max_ev)
			max_ev = row->ev.id;
		relay_frame *f = event_frame(row);
		if (!f)
			continue;
		f->ev_id = row->ev.id;
		f->room_id = row->ev.room_id;
		f->kind = row->ev.kind;
		f->msg_id = row->ev.ref_id;
		if (row->ev.kind == CHAT_EV_MESSAGE_CREATED && row->ev.ref_id > newest)
			newest = row->ev.ref_id;
		if (row->ev.kind == CHAT_EV_MESSAGE_CREATED && row->ev.ref_id > newest_replayed)
			newest_replayed = row->ev.ref_id;
		r->frames[r->n_frames++] = f;
	}
	r->frames[r->n_frames++] = relay_frame_from_json(chat_json_frame_sync_done(newest));
	/* a NULL from OOM above is skipped by the loop */
	r->replay_max_ev = max_ev;
	int64_t known = last_id < room_newest ? last_id : room_newest;
	r->replay_last_msg = newest_replayed > known ? newest_replayed : known;
	r->has_replay = true;
	chat_event_rows_free(rows, n);
	return CHAT_OK;
}

/* ---- jobs ------------------------------------------------------------- */

static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

#define AUTH_BATCH 64 /* connections opened per presence transaction */

/* The user and the room of a new connection: r->user, r->room_private,
 * or an error with r->why. */
static chat_err auth_lookup(chat_db *db, const relay_job *j, relay_result *r)
{
	chat_user u;
	chat_room room;
	memset(&room, 0, sizeof(room));
	chat_err e = chat_dal_user_by_id(db, j->user_id, &u);
	note(e, db, "user lookup");
	if (e == CHAT_ERR_NOT_FOUND || (e == CHAT_OK && !u.is_active && !j->anonymous)) {
		r->why = j->anonymous ? "Anonymous user not available" : "User not found or inactive";
		return CHAT_ERR_AUTH;
	}
	if (e != CHAT_OK)
		return e;
	r->user.id = u.id;
	snprintf(r->user.username, sizeof(r->user.username), "%s", u.username);

	e = chat_dal_room_get(db, j->room_id, u.id, &room);
	note(e, db, "room lookup");
	if (e == CHAT_OK && !(chat_room_visible(&room) || room.role != CHAT_ROLE_NONE))
		e = CHAT_ERR_NOT_FOUND; /* a private room is not revealed */
	if (e == CHAT_ERR_NOT_FOUND)
		r->why = "Room not found";
	r->room_private = room.is_private;
	chat_room_clear(&room);
	return e;
}

/* Presence rows for the connections of the batch still on their way in,
 * in one transaction. A failure other than an unreachable database (a
 * room deleted meanwhile) is retried row by row so it fails that one
 * connection only. */
static void auth_presence(chat_db *db, int64_t inst, relay_job **jobs, relay_result **res,
                          size_t n)
{
	chat_presence_req req[AUTH_BATCH];
	int64_t ids[AUTH_BATCH];
	size_t idx[AUTH_BATCH], m = 0;
	for (size_t i = 0; i < n; i++)
		if (res[i]->err == CHAT_OK) {
			req[m] = (chat_presence_req){ jobs[i]->room_id, res[i]->user.id };
			idx[m++] = i;
		}
	if (!m)
		return;
	chat_err e = chat_dal_presence_add_many(db, inst, req, m, ids);
	note(e, db, "presence add");
	if (e == CHAT_OK) {
		for (size_t k = 0; k < m; k++)
			res[idx[k]]->presence_id = ids[k];
	} else if (e == CHAT_ERR_UNAVAILABLE || m == 1) {
		for (size_t k = 0; k < m; k++)
			res[idx[k]]->err = e;
	} else {
		bool gone = false;
		for (size_t k = 0; k < m; k++) {
			relay_result *r = res[idx[k]];
			r->err = chat_dal_presence_add(db, inst, req[k].room_id, req[k].user_id,
			                               &r->presence_id);
			note(r->err, db, "presence add");
			gone |= r->err == CHAT_ERR_NOT_FOUND;
		}
		/* NOT_FOUND is a room deleted meanwhile, or this relay's instance
		 * reaped by another relay (a heartbeat too late under load; the
		 * next heartbeat registers again). The latter is not the client's
		 * room: tell it to come back instead. */
		if (gone && chat_dal_instance_heartbeat(db, inst) == CHAT_ERR_NOT_FOUND)
			for (size_t k = 0; k < m; k++)
				if (res[idx[k]]->err == CHAT_ERR_NOT_FOUND)
					res[idx[k]]->err = CHAT_ERR_UNAVAILABLE;
	}
	wake_relays();
}

typedef struct room_online {
	int64_t room_id;
	chat_user_ref *users;
	size_t n;
	chat_err err;
} room_online;

/* New connections, up to AUTH_BATCH of them, opened together: each is
 * looked up, then one transaction adds all their presence rows (one
 * commit, not one per connection: a burst of connects is bound by the
 * database's commit rate otherwise), then one "online" list per room.
 *
 * Snapshot: who is online, then the newest event id. A presence event
 * at or below the floor is judged against the list (session.c). */
static void job_auth_batch(chat_db *db, relay_job **jobs, size_t n)
{
	relay_result *res[AUTH_BATCH];
	room_online rooms[AUTH_BATCH];
	size_t n_rooms = 0, ok = 0;
	bool reg = false;
	int64_t inst = 0, floor = 0;
	chat_err floor_err = CHAT_OK;
	for (size_t i = 0; i < n; i++) {
		res[i] = result_new(RES_AUTH, jobs[i]->conn_id);
		if (!res[i])
			continue;
		res[i]->err = auth_lookup(db, jobs[i], res[i]);
		ok += res[i]->err == CHAT_OK;
	}
	if (ok) {
		inst = ensure_instance(db, &reg);
		if (!inst) {
			for (size_t i = 0; i < n; i++)
				if (res[i] && res[i]->err == CHAT_OK)
					res[i]->err = CHAT_ERR_UNAVAILABLE;
		}
	}
	if (reg) {
		/* Before the connections it opens: the loop must know its
		 * instance id before their first typing event (its origin). */
		relay_result *ri = result_new(RES_INSTANCE, 0);
		if (ri) {
			ri->instance_id = inst;
			relay_post(ri);
		}
	}
	size_t live = 0;
	relay_result *present[AUTH_BATCH];
	relay_job *pjobs[AUTH_BATCH];
	for (size_t i = 0; i < n; i++)
		if (res[i] && res[i]->err == CHAT_OK) {
			present[live] = res[i];
			pjobs[live++] = jobs[i];
		}
	if (live)
		auth_presence(db, inst, pjobs, present, live);

	for (size_t k = 0; k < live; k++) {
		if (present[k]->err != CHAT_OK)
			continue;
		size_t x = 0;
		while (x < n_rooms && rooms[x].room_id != pjobs[k]->room_id)
			x++;
		if (x < n_rooms)
			continue;
		rooms[n_rooms] = (room_online){ pjobs[k]->room_id, NULL, 0, CHAT_OK };
		rooms[n_rooms].err = chat_dal_presence_online(db, pjobs[k]->room_id,
		                                              &rooms[n_rooms].users, &rooms[n_rooms].n);
		note(rooms[n_rooms].err, db, "presence online");
		n_rooms++;
	}
	if (n_rooms) {
		floor_err = chat_dal_events_max_id(db, &floor);
		note(floor_err, db, "events max id");
	}

	for (size_t i = 0; i < n; i++) {
		relay_result *r = res[i];
		relay_job *j = jobs[i];
		if (!r)
			continue;
		r->instance_id = inst;
		if (r->err != CHAT_OK)
			goto post;
		room_online *ro = rooms;
		while (ro->room_id != j->room_id)
			ro++;
		r->err = ro->err != CHAT_OK ? ro->err : floor_err;
		if (r->err != CHAT_OK)
			goto post;
		r->snap_floor = floor;
		r->established = relay_frame_from_json(chat_json_frame_established(&r->user, ro->users,
		                                                                   ro->n));
		if (!r->established) {
			r->err = CHAT_ERR_NOMEM;
			goto post;
		}
		r->snap_ids = malloc((ro->n ? ro->n : 1) * sizeof(int64_t));
		if (r->snap_ids) {
			for (size_t u = 0; u < ro->n; u++)
				r->snap_ids[u] = ro->users[u].id;
			r->snap_n = ro->n;
			qsort(r->snap_ids, r->snap_n, sizeof(int64_t), cmp_id);
		}
		if (j->last_id >= 0)
			r->err = do_replay(db, r, j->room_id, j->last_id);
	post:
		relay_post(r);
	}
	for (size_t x = 0; x < n_rooms; x++)
		free(rooms[x].users);
}

static void job_replay(chat_db *db, relay_job *j)
{
	relay_result *r = result_new(RES_REPLAY, j->conn_id);
	if (!r)
		return;
	r->err = do_replay(db, r, j->room_id, j->last_id);
	relay_post(r);
}

/* Closed connections, a batch of them: typing-off events first (each
 * connection's typing ended before it left), then every presence row in
 * one transaction. */
static void job_close_batch(chat_db *db, relay_job **jobs, size_t n)
{
	int64_t ids[AUTH_BATCH];
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		relay_job *j = jobs[i];
		if (j->typing_off) {
			int64_t id = 0;
			chat_err e = chat_dal_event_emit(db, j->room_id, CHAT_EV_TYPING, j->ref_id,
			                                 j->user_id, &id);
			note(e, db, "typing off");
		}
		if (j->presence_id)
			ids[m++] = j->presence_id;
	}
	if (m) {
		chat_err e = chat_dal_presence_remove_many(db, ids, m, NULL);
		note(e, db, "presence remove");
	}
	wake_relays();
}

static void job_emit(chat_db *db, relay_job *j)
{
	int64_t id = 0;
	chat_err e = chat_dal_event_emit(db, j->room_id, j->ev_kind, j->ref_id, j->user_id, &id);
	note(e, db, "emit event");
	if (e == CHAT_OK) {
		wake_relays();
		return;
	}
	if (j->ev_kind == CHAT_EV_TYPING)
		return; /* a lost typing indicator is not worth an error */
	relay_result *r = result_new(RES_INSERT, j->conn_id);
	if (!r)
		return;
	r->err = e;
	relay_post(r);
}

static void job_heartbeat(chat_db *db)
{
	relay_result *r = result_new(RES_INSTANCE, 0);
	if (!r)
		return;
	bool reg = false;
	int64_t inst = ensure_instance(db, &reg);
	if (inst) {
		chat_err e = chat_dal_instance_heartbeat(db, inst);
		note(e, db, "heartbeat");
		if (e == CHAT_ERR_NOT_FOUND) {
			/* Reaped by another relay while we were stalled: register
			 * again; the loop re-adds its connections' presence. */
			chat_log_warn("relay instance %lld was reaped; registering again",
			              (long long)inst);
			pthread_mutex_lock(&inst_mu);
			instance_id = 0;
			pthread_mutex_unlock(&inst_mu);
			inst = ensure_instance(db, &reg);
			r->reregistered = inst != 0;
		}
		if (inst) {
			int reaped = 0;
			e = chat_dal_instances_reap(db, 3 * R->cfg->relay.heartbeat_interval, &reaped);
			note(e, db, "reap");
			if (e == CHAT_OK && reaped > 0) {
				chat_log_info("reaped %d dead relay instance(s)", reaped);
				wake_relays();
			}
		}
	} else {
		note(chat_db_ping(db), db, "ping");
	}
	r->instance_id = inst;
	relay_post(r);
}

static void job_unregister(chat_db *db)
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
			wake_relays();
	}
	relay_result *r = result_new(RES_JOB_DONE, 0);
	if (r)
		relay_post(r);
}

static void job_presence_readd(chat_db *db, relay_job *j)
{
	relay_result *r = result_new(RES_PRESENCE, j->conn_id);
	if (!r)
		return;
	int64_t inst = ensure_instance(db, NULL);
	chat_err e = inst ? chat_dal_presence_add(db, inst, j->room_id, j->user_id, &r->presence_id)
	                  : CHAT_ERR_UNAVAILABLE;
	note(e, db, "presence add");
	r->err = e;
	relay_post(r);
}

static void job_recheck(chat_db *db, relay_job *j)
{
	relay_result *r = result_new(RES_RECHECK, j->conn_id);
	if (!r)
		return;
	chat_room room;
	memset(&room, 0, sizeof(room));
	chat_err e = chat_dal_room_get(db, j->room_id, j->user_id, &room);
	note(e, db, "room recheck");
	if (e == CHAT_OK && !(chat_room_visible(&room) || room.role != CHAT_ROLE_NONE))
		e = CHAT_ERR_NOT_FOUND;
	r->room_private = e == CHAT_OK && room.is_private;
	r->err = e;
	chat_room_clear(&room);
	relay_post(r);
}

static void run_job(chat_db *db, relay_job *j)
{
	switch (j->kind) {
	case JOB_AUTH: job_auth_batch(db, &j, 1); break;
	case JOB_REPLAY: job_replay(db, j); break;
	case JOB_CLOSE: job_close_batch(db, &j, 1); break;
	case JOB_EMIT: job_emit(db, j); break;
	case JOB_HEARTBEAT: job_heartbeat(db); break;
	case JOB_UNREGISTER: job_unregister(db); break;
	case JOB_PRESENCE_READD: job_presence_readd(db, j); break;
	case JOB_RECHECK: job_recheck(db, j); break;
	case JOB_INSERT: break; /* writer only */
	}
}

/* ---- the writers: batches of chat_message inserts ---------------------- */

static atomic_ullong batches, batch_rows;
static atomic_ullong batch_buckets[8];

static void count_batch(size_t n)
{
	static const size_t bounds[7] = { 1, 2, 4, 8, 16, 64, 256 };
	atomic_fetch_add(&batches, 1);
	atomic_fetch_add(&batch_rows, n);
	size_t b = 7;
	for (size_t i = 0; i < 7; i++)
		if (n <= bounds[i]) {
			b = i;
			break;
		}
	atomic_fetch_add(&batch_buckets[b], 1);
}

uint64_t relay_db_batches(void) { return atomic_load(&batches); }
uint64_t relay_db_batch_rows(void) { return atomic_load(&batch_rows); }
uint64_t relay_db_batch_bucket(int i) { return atomic_load(&batch_buckets[i]); }

static void post_insert_result(const relay_job *j, chat_err e, const chat_message *m,
                               bool created)
{
	relay_result *r = result_new(RES_INSERT, j->conn_id);
	if (!r)
		return;
	r->err = e;
	if (e == CHAT_OK && !created) {
		/* a client_id retry: the stored message, to this connection only */
		r->frame = relay_frame_from_json(chat_json_frame_message("chat_message", m));
		if (r->frame) {
			r->frame->msg_id = m->id;
			r->frame->room_id = m->room_id;
		}
	}
	relay_post(r);
}

/* Stable sort by room: every writer then takes room locks in ascending
 * order (no deadlock between writers), and a connection's messages, all
 * in one room, keep their order. Insertion sort: batches are small and
 * mostly sorted. */
static void sort_by_room(relay_job **jobs, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		relay_job *j = jobs[i];
		size_t k = i;
		while (k > 0 && jobs[k - 1]->room_id > j->room_id) {
			jobs[k] = jobs[k - 1];
			k--;
		}
		jobs[k] = j;
	}
}

static void write_batch(chat_db *db, relay_job **jobs, size_t n)
{
	sort_by_room(jobs, n);
	chat_new_message *in = calloc(n, sizeof(*in));
	chat_message *out = calloc(n, sizeof(*out));
	bool *created = calloc(n, sizeof(*created));
	bool any_created = false;
	chat_err e = CHAT_ERR_NOMEM;
	if (!in || !out || !created)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		in[i].room_id = jobs[i]->room_id;
		in[i].sender_id = jobs[i]->user_id;
		in[i].content = jobs[i]->content;
		in[i].message_type = jobs[i]->message_type[0] ? jobs[i]->message_type : NULL;
		in[i].client_id = jobs[i]->client_id[0] ? jobs[i]->client_id : NULL;
	}
	e = chat_dal_messages_insert_batch(db, in, n, out, created);
	note(e, db, "store messages");
	if (e == CHAT_OK) {
		count_batch(n);
		for (size_t i = 0; i < n; i++) {
			post_insert_result(jobs[i], CHAT_OK, &out[i], created[i]);
			any_created |= created[i];
			chat_message_clear(&out[i]);
		}
		goto out;
	}
	if (e == CHAT_ERR_UNAVAILABLE || n == 1)
		goto fail;
	/* One bad row (a room deleted meanwhile...) fails the whole batch:
	 * store the rows one by one so the others still go through. */
	for (size_t i = 0; i < n; i++) {
		bool c = false;
		chat_message m;
		memset(&m, 0, sizeof(m));
		chat_err ei = chat_dal_message_insert(db, &in[i], &m, &c);
		note(ei, db, "store message");
		if (ei == CHAT_OK)
			count_batch(1);
		post_insert_result(jobs[i], ei, &m, c);
		any_created |= (ei == CHAT_OK && c);
		if (ei == CHAT_OK)
			chat_message_clear(&m);
	}
	goto out;
fail:
	for (size_t i = 0; i < n; i++)
		post_insert_result(jobs[i], e, NULL, false);
out:
	if (any_created)
		wake_relays();
	free(in);
	free(out);
	free(created);
}

/* ---- threads and queues ---------------------------------------------- */

static relay_job *pop_locked(wqueue *q)
{
	relay_job *j = q->head;
	if (j) {
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
		q->n--;
		j->next = NULL;
	}
	return j;
}

static void *thread_main(void *arg)
{
	wqueue *q = arg;
	chat_err e = CHAT_OK;
	chat_db *db = chat_db_open(R->cfg, &e);
	if (!db) {
		chat_log_error("out of memory opening a database handle");
		return NULL;
	}
	note(e, db, "connect");
	size_t bmax = (size_t)R->cfg->relay.batch_max;
	relay_job **batch = q->idx < 0 ? calloc(bmax, sizeof(*batch)) : NULL;

	for (;;) {
		pthread_mutex_lock(&q->mu);
		while (!q->head && !q->stop)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->stop && (!q->head || q->idx >= 0)) {
			/* Stopping: the writer stores what it still holds; the
			 * workers drop the rest (presence rows went with the
			 * instance), so a dead database cannot stall the exit. */
			pthread_mutex_unlock(&q->mu);
			break;
		}
		if (q->idx < 0 && batch) {
			size_t n = 0;
			while (n < bmax && q->head)
				batch[n++] = pop_locked(q);
			pthread_mutex_unlock(&q->mu);
			write_batch(db, batch, n);
			for (size_t i = 0; i < n; i++)
				relay_job_free(batch[i]);
			continue;
		}
		if (q->idx >= 0 && (q->head->kind == JOB_AUTH || q->head->kind == JOB_CLOSE)) {
			/* A run of opens or closes at the head: one transaction
			 * for all. Only the head run, so every connection's jobs
			 * keep their order. */
			relay_job *run[AUTH_BATCH];
			relay_job_kind kind = q->head->kind;
			size_t n = 0;
			while (n < AUTH_BATCH && q->head && q->head->kind == kind)
				run[n++] = pop_locked(q);
			pthread_mutex_unlock(&q->mu);
			if (kind == JOB_AUTH)
				job_auth_batch(db, run, n);
			else
				job_close_batch(db, run, n);
			for (size_t i = 0; i < n; i++)
				relay_job_free(run[i]);
			continue;
		}
		relay_job *j = pop_locked(q);
		pthread_mutex_unlock(&q->mu);
		if (q->idx < 0) { /* no batch array (OOM): one at a time */
			write_batch(db, &j, 1);
		} else {
			run_job(db, j);
		}
		relay_job_free(j);
	}
	free(batch);
	chat_db_close(db);
	chat_db_thread_end();
	return NULL;
}

static int queue_start(wqueue *q, int idx)
{
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->idx = idx;
	q->stop = false;
	if (pthread_create(&q->th, NULL, thread_main, q) != 0) {
		chat_log_error("cannot start a database thread");
		return -1;
	}
	q->started = true;
	return 0;
}

static void queue_stop(wqueue *q)
{
	if (!q->started)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->th, NULL);
	q->started = false;
	relay_job *j;
	while ((j = pop_locked(q)))
		relay_job_free(j);
}

int relay_db_start(relay *r)
{
	R = r;
	atomic_store(&db_up, false);
	n_workers = r->cfg->relay.db_workers;
	workers = calloc((size_t)n_workers, sizeof(*workers));
	if (!workers)
		return -1;
	for (int i = 0; i < n_workers; i++)
		if (queue_start(&workers[i], i) < 0)
			return -1;
	writers = calloc((size_t)n_workers, sizeof(*writers));
	if (!writers)
		return -1;
	for (int i = 0; i < n_workers; i++)
		if (queue_start(&writers[i], -1) < 0)
			return -1;
	return 0;
}

void relay_db_stop(void)
{
	for (int i = 0; writers && i < n_workers; i++)
		queue_stop(&writers[i]);
	free(writers);
	writers = NULL;
	for (int i = 0; workers && i < n_workers; i++)
		queue_stop(&workers[i]);
	free(workers);
	workers = NULL;
	relay_result *r = relay_take_results();
	while (r) {
		relay_result *next = r->next;
		relay_result_free(r);
		r = next;
	}
}

int relay_db_submit(relay_job *j)
{
	size_t w = j->conn_id ? (size_t)(j->conn_id % (uint64_t)n_workers) : 0;
	wqueue *q = j->kind == JOB_INSERT ? &writers[w] : &workers[w];
	pthread_mutex_lock(&q->mu);
	if (q->stop || !q->started || q->n >= QUEUE_MAX) {
		pthread_mutex_unlock(&q->mu);
		relay_job_free(j);
		return -1;
	}
	j->next = NULL;
	if (j->kind == JOB_HEARTBEAT && q->head) {
		/* Ahead of everything: behind a backlog of connects it would
		 * come too late, and other relays would reap this one. */
		j->next = q->head;
		q->head = j;
	} else {
		if (q->tail)
			q->tail->next = j;
		else
			q->head = j;
		q->tail = j;
	}
	q->n++;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	return 0;
}
