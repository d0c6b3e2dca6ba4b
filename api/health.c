/* GET /api/chat/health/: 200 when the database answers, else 503. No
 * token needed, so load balancers and monitors can use it. */
#include <config.h>

#include "api.h"

void api_h_health(api_req *r)
{
	chat_err e = chat_db_ping(r->db);
	if (e != CHAT_OK) {
		api_respond_chat_err(r, CHAT_ERR_UNAVAILABLE, NULL);
		return;
	}
	json_object *o = json_object_new_object();
	if (o)
		json_object_object_add(o, "status", json_object_new_string("ok"));
	api_respond_json(r, 200, o);
}
