/* Fuzz target: the relay's client-frame handler, relay_frames_handle()
 * from relay/frames.c, compiled into this program unchanged. Its calls out
 * of frames.c (error frames, typing, database jobs) are replaced by the
 * stubs below, so a frame goes bytes -> UTF-8 -> JSON -> validation -> the
 * action the relay would take, and stops at the database boundary: a job
 * handed to relay_db_submit() is inspected and dropped.
 *
 * Oracles: every frame gets exactly one answer (one error frame, or one
 * action); an error code is a machine code; a chat_message job carries
 * content, message_type and client_id that pass the shared validators,
 * byte for byte. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_json.h"
#include "chat_utf8.h"
#include "chat_validate.h"
#include "fuzz.h"
#include "relay.h"

/* Same cap session.c applies before a frame reaches frames.c. */
#define FRAME_MAX 65536

relay *relay_g;
static relay g_relay;
static chat_config g_cfg;

static int n_errors, n_actions;
static const char *last_code;

void relay_session_typing(relay_session *s, bool is_typing);

void relay_session_error(relay_session *s, const char *message, const char *code)
{
	(void)s;
	FUZZ_CHECK(message && message[0], "error frame without a message");
	FUZZ_CHECK(code && code[0], "error frame without a code");
	for (const char *c = code; *c; c++)
		FUZZ_CHECK((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_', "odd error code %s", code);
	/* The frame the client would get must serialize. */
	json_object *o = chat_json_frame_error(message, code);
	FUZZ_CHECK(o != NULL, "error frame not built");
	size_t len = 0;
	const char *txt = chat_json_string(o, &len);
	FUZZ_CHECK(txt && chat_utf8_valid(txt, len), "error frame is not UTF-8");
	json_object_put(o);
	last_code = code;
	n_errors++;
}

void relay_session_typing(relay_session *s, bool is_typing)
{
	(void)s;
	(void)is_typing;
	n_actions++;
}

void relay_session_replay(relay_session *s, int64_t last_id)
{
	(void)s;
	FUZZ_CHECK(last_id >= 0, "replay from %lld", (long long)last_id);
	n_actions++;
}

int relay_db_submit(relay_job *j)
{
	const char *detail = NULL;

	n_actions++;
	switch (j->kind) {
	case JOB_INSERT:
		FUZZ_CHECK(j->content != NULL, "insert without content");
		FUZZ_CHECK(chat_validate_content(j->content, strlen(j->content),
		                                 g_cfg.relay.max_content_length, &detail) == CHAT_OK,
		           "insert of invalid content (%s)", detail ? detail : "?");
		FUZZ_CHECK(chat_validate_message_type(j->message_type, &detail) == CHAT_OK,
		           "insert of message_type '%s'", j->message_type);
		if (j->client_id[0])
			FUZZ_CHECK(chat_validate_client_id(j->client_id, strlen(j->client_id), &detail) ==
			               CHAT_OK,
			           "insert of client_id '%s'", j->client_id);
		break;
	case JOB_REPLAY:
		FUZZ_CHECK(j->last_id >= 0, "replay from %lld", (long long)j->last_id);
		break;
	case JOB_EMIT:
		FUZZ_CHECK(j->ev_kind == CHAT_EV_USER_JOIN || j->ev_kind == CHAT_EV_USER_LEAVE,
		           "emit of kind %d", (int)j->ev_kind);
		break;
	default:
		FUZZ_CHECK(0, "unexpected job kind %d from a client frame", (int)j->kind);
	}
	relay_job_free(j);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	relay_session s;

	if (!ready) {
		if (chat_config_defaults(&g_cfg) != 0)
			abort();
		g_relay.cfg = &g_cfg;
		relay_g = &g_relay;
		ready = true;
	}
	if (size > FRAME_MAX)
		return 0;
	/* session.c hands over a NUL-terminated copy. */
	char *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';

	memset(&s, 0, sizeof(s));
	s.conn_id = 1;
	s.room_id = 1;
	s.user.id = 2;
	s.state = RS_OPEN;
	s.is_ws = true;
	n_errors = n_actions = 0;
	last_code = NULL;

	relay_frames_handle(&s, buf, size);

	FUZZ_CHECK(n_errors + n_actions == 1, "%d error frames and %d actions for one frame",
	           n_errors, n_actions);
	if (!chat_utf8_valid(buf, size))
		FUZZ_CHECK(n_errors == 1, "invalid UTF-8 frame acted upon");
	free(buf);
	return 0;
}
