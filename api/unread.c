/* GET /api/chat/unread/: the caller's rooms with unread messages. */
#include <config.h>

#include <stdlib.h>

#include "api.h"
#include "chat_dal.h"

void api_h_unread(api_req *r)
{
	chat_unread *u = NULL;
	size_t n = 0;
	int64_t total = 0;

	chat_err e = chat_dal_unread(r->db, r->user.id, &u, &n);
	if (e != CHAT_OK) {
		api_respond_chat_err(r, e, NULL);
		return;
	}
	json_object *o = json_object_new_object();
	json_object *rooms = json_object_new_array_ext((int)n);
	if (!o || !rooms) {
		json_object_put(rooms);
		json_object_put(o);
		o = NULL;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *it = json_object_new_object();
		if (!it)
			continue;
		json_object_object_add(it, "room_id", json_object_new_int64(u[i].room_id));
		json_object_object_add(it, "unread_count", json_object_new_int64(u[i].unread_count));
		json_object_array_add(rooms, it);
		total += u[i].unread_count;
	}
	json_object_object_add(o, "total", json_object_new_int64(total));
	json_object_object_add(o, "rooms", rooms);
out:
	free(u);
	api_respond_json(r, 200, o);
}
