/* Connections opened and closed: the user and the room looked up, the
 * presence rows added or removed, the "online" snapshot, in batches. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "chat_dal.h"
#include "chat_json.h"
#include "jobs.h"

static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}


/* The users and rooms of new connections, two statements for the batch:
 * r->user, r->room_private, or an error with r->why. */
static void auth_lookup(chat_db *db, relay_job **jobs, relay_result **res, size_t n)
{
	chat_connect_req req[RELAY_AUTH_BATCH] = { { 0, 0 } };
	chat_connect_info *info = malloc(n * sizeof(*info)); /* about 600 bytes each */
	for (size_t i = 0; i < n; i++)
		req[i] = (chat_connect_req){ jobs[i]->user_id, jobs[i]->room_id };
	chat_err e = info ? chat_dal_connect_lookup(db, req, n, info) : CHAT_ERR_NOMEM;
	relay_db_note(e, db, "user and room lookup");
	for (size_t i = 0; i < n; i++) {
		relay_result *r = res[i];
		const chat_connect_info *u = &info[i];
		if (!r)
			continue;
		r->err = e;
		if (e != CHAT_OK)
			continue;
		if (!u->user_found || (!u->user_active && !jobs[i]->anonymous)) {
			r->why = jobs[i]->anonymous ? "Anonymous user not available"
			                            : "User not found or inactive";
			r->err = CHAT_ERR_AUTH;
			continue;
		}
		r->user.id = u->user.id;
		snprintf(r->user.username, sizeof(r->user.username), "%s", u->user.username);
		/* a private room is not revealed */
		if (!u->room_found || (u->room_private && !u->member)) {
			r->why = "Room not found";
			r->err = CHAT_ERR_NOT_FOUND;
			continue;
		}
		r->room_private = u->room_private;
	}
	free(info);
}

/* Presence rows for the connections of the batch still on their way in,
 * in one transaction. A failure other than an unreachable database (a
 * room deleted meanwhile) is retried row by row so it fails that one
 * connection only. */
static void auth_presence(chat_db *db, int64_t inst, relay_job **jobs, relay_result **res,
                          size_t n)
{
	chat_presence_req req[RELAY_AUTH_BATCH];
	int64_t ids[RELAY_AUTH_BATCH];
	size_t idx[RELAY_AUTH_BATCH], m = 0;
	for (size_t i = 0; i < n; i++)
		if (res[i]->err == CHAT_OK) {
			req[m] = (chat_presence_req){ jobs[i]->room_id, res[i]->user.id };
			idx[m++] = i;
		}
	if (!m)
		return;
	chat_err e = chat_dal_presence_add_many(db, inst, req, m, ids);
	relay_db_note(e, db, "presence add");
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
			relay_db_note(r->err, db, "presence add");
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
	relay_jobs_wake();
}

typedef struct room_online {
	int64_t room_id;
	chat_user_ref *users;
	size_t n;
	chat_err err;
} room_online;

/* The "online" list of each room, one statement for all: each room's
 * users copied out of the rows (an error goes to every room). */
static void online_lists(chat_db *db, room_online *rooms, const int64_t *room_ids, size_t n_rooms)
{
	chat_online_ref *rows = NULL;
	size_t nrows = 0;
	chat_err e = chat_dal_presence_online_rooms(db, room_ids, n_rooms, &rows, &nrows);
	relay_db_note(e, db, "presence online");
	for (size_t x = 0; x < n_rooms; x++) {
		room_online *ro = &rooms[x];
		ro->err = e;
		if (e != CHAT_OK)
			continue;
		size_t lo = 0, top = nrows; /* the room's first row: rows are by room */
		while (lo < top) {
			size_t mid = lo + (top - lo) / 2;
			if (rows[mid].room_id < ro->room_id)
				lo = mid + 1;
			else
				top = mid;
		}
		size_t hi = lo;
		while (hi < nrows && rows[hi].room_id == ro->room_id)
			hi++;
		ro->users = malloc((hi > lo ? hi - lo : 1) * sizeof(chat_user_ref));
		if (!ro->users) {
			ro->err = CHAT_ERR_NOMEM;
			continue;
		}
		for (size_t u = lo; u < hi; u++)
			ro->users[u - lo] = rows[u].user;
		ro->n = hi - lo;
	}
	free(rows);
}

/* New connections, up to RELAY_AUTH_BATCH of them, opened together: each is
 * looked up, then one transaction adds all their presence rows (one
 * commit, not one per connection: a burst of connects is bound by the
 * database's commit rate otherwise), then one "online" list per room.
 *
 * Snapshot: who is online, then the newest event id. A presence event
 * at or below the floor is judged against the list (session.c). */
void relay_job_auth_batch(chat_db *db, relay_job **jobs, size_t n)
{
	relay_result *res[RELAY_AUTH_BATCH];
	room_online rooms[RELAY_AUTH_BATCH];
	size_t n_rooms = 0, ok = 0;
	bool reg = false;
	int64_t inst = 0, floor = 0;
	chat_err floor_err = CHAT_OK;
	for (size_t i = 0; i < n; i++) {
		res[i] = relay_result_new(RES_AUTH, jobs[i]->conn_id);
	}
	auth_lookup(db, jobs, res, n);
	for (size_t i = 0; i < n; i++)
		ok += res[i] && res[i]->err == CHAT_OK;
	if (ok) {
		inst = relay_instance_ensure(db, &reg);
		if (!inst) {
			for (size_t i = 0; i < n; i++)
				if (res[i] && res[i]->err == CHAT_OK)
					res[i]->err = CHAT_ERR_UNAVAILABLE;
		}
	}
	if (reg) {
		/* Before the connections it opens: the loop must know its
		 * instance id before their first typing event (its origin). */
		relay_result *ri = relay_result_new(RES_INSTANCE, 0);
		if (ri) {
			ri->instance_id = inst;
			relay_post(ri);
		}
	}
	size_t live = 0;
	relay_result *present[RELAY_AUTH_BATCH];
	relay_job *pjobs[RELAY_AUTH_BATCH];
	for (size_t i = 0; i < n; i++)
		if (res[i] && res[i]->err == CHAT_OK) {
			present[live] = res[i];
			pjobs[live++] = jobs[i];
		}
	if (live)
		auth_presence(db, inst, pjobs, present, live);

	int64_t room_ids[RELAY_AUTH_BATCH];
	for (size_t k = 0; k < live; k++) {
		if (present[k]->err != CHAT_OK)
			continue;
		size_t x = 0;
		while (x < n_rooms && rooms[x].room_id != pjobs[k]->room_id)
			x++;
		if (x < n_rooms)
			continue;
		rooms[n_rooms] = (room_online){ pjobs[k]->room_id, NULL, 0, CHAT_OK };
		room_ids[n_rooms++] = pjobs[k]->room_id;
	}
	if (n_rooms)
		online_lists(db, rooms, room_ids, n_rooms);
	if (n_rooms) {
		floor_err = chat_dal_events_max_id(db, &floor);
		relay_db_note(floor_err, db, "events max id");
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
	post:
		relay_post(r);
	}
	for (size_t x = 0; x < n_rooms; x++)
		free(rooms[x].users);
}

/* Closed connections, a batch of them: typing-off events first (each
 * connection's typing ended before it left), then every presence row in
 * one transaction. */
void relay_job_close_batch(chat_db *db, relay_job **jobs, size_t n)
{
	int64_t ids[RELAY_AUTH_BATCH];
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		relay_job *j = jobs[i];
		if (j->typing_off) {
			int64_t id = 0;
			chat_err e = chat_dal_event_emit(db, j->room_id, CHAT_EV_TYPING, j->ref_id,
			                                 j->user_id, &id);
			relay_db_note(e, db, "typing off");
		}
		if (j->presence_id)
			ids[m++] = j->presence_id;
	}
	if (m) {
		chat_err e = chat_dal_presence_remove_many(db, ids, m, NULL);
		relay_db_note(e, db, "presence remove");
	}
	relay_jobs_wake();
}

