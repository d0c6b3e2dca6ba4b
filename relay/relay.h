/* chat-relay internals: the types the relay's modules share.
 *
 * Threads (see docs/relay.md):
 *   - the service thread runs the libwebsockets loop; it alone touches
 *     sessions, rooms, send queues and metrics counters;
 *   - db worker threads and writer threads (relay.db_workers of each) run
 *     jobs against their own chat_db and post results to the result queue;
 *   - the follower thread reads chat_events and posts one frame per event.
 * Other threads talk to the loop only through relay_post() (a locked queue
 * followed by lws_cancel_service()); the loop drains it in
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED. Results name sessions by connection
 * id, never by pointer: a session may be gone when its result arrives. */
#ifndef CHAT_RELAY_H
#define CHAT_RELAY_H

#include <libwebsockets.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat_addr.h"
#include "chat_config.h"
#include "chat_jwt.h"
#include "chat_types.h"

/* ---- frames (sendq.c) --------------------------------------------------
 * A serialized server frame with LWS_PRE bytes of headroom. Built once by
 * any thread, then owned by the service thread, which shares it among every
 * recipient by reference count (plain int: only the service thread touches
 * it after hand-over). Metadata says which event it carries, for the
 * resume and presence filters. */
typedef struct relay_frame {
	int refs;
	int64_t ev_id;      /* chat_events id, 0 = not an event */
	int64_t room_id;
	int64_t msg_id;     /* message id for message_* events */
	int64_t user_id;    /* actor of the event */
	uint64_t origin;    /* typing: (instance << 24 | conn) that sent it, 0 = none */
	chat_event_kind kind;
	/* typing true only: the matching typing false, built by the follower,
	 * sent if the typer's relay never clears it (typing.c); owned by this
	 * frame until taken */
	struct relay_frame *alt;
	size_t len;
	unsigned char data[]; /* LWS_PRE headroom, then len bytes, then NUL */
} relay_frame;

/* New frame holding a copy of json[0..len) (refs 0). NULL on OOM. */
relay_frame *relay_frame_new(const char *json, size_t len);
/* Serialize obj (and put it) into a new frame; NULL on OOM or obj NULL. */
struct json_object;
relay_frame *relay_frame_from_json(struct json_object *obj);
/* An error frame {"type":"error","message","code"}; NULL on OOM. */
relay_frame *relay_frame_error(const char *message, const char *code);
void relay_frame_ref(relay_frame *f);
/* Drop one reference; frees at zero. Accepts NULL. */
void relay_frame_unref(relay_frame *f);
/* Free a frame nobody referenced yet (refs 0). Accepts NULL. */
void relay_frame_discard(relay_frame *f);

/* Bounded FIFO of frame references (a growable ring). */
typedef struct relay_sendq {
	relay_frame **ring;
	size_t cap, head, count;
	size_t bytes;
} relay_sendq;

/* Append (taking a reference). Returns -1 when the limits (max_frames,
 * max_bytes; 0 = unlimited) would be exceeded or on OOM; the frame is then
 * not referenced. */
int relay_sendq_push(relay_sendq *q, relay_frame *f, size_t max_frames, size_t max_bytes);
/* Put a frame at the head (ignores limits: control frames). -1 on OOM. */
int relay_sendq_push_front(relay_sendq *q, relay_frame *f);
/* The oldest frame, or NULL; pop removes it and returns the reference. */
relay_frame *relay_sendq_peek(const relay_sendq *q);
relay_frame *relay_sendq_pop(relay_sendq *q);
/* Drop every frame; returns how many were dropped. */
size_t relay_sendq_clear(relay_sendq *q);
/* An empty queue gives back a ring grown by a backlog (idle connections
 * would otherwise keep the ring of their busiest moment). */
void relay_sendq_shrink(relay_sendq *q);
/* Bytes of frames and send rings freed since start (any thread). */
size_t relay_frames_freed_bytes(void);
void relay_sendq_free(relay_sendq *q);

/* ---- sessions (session.c) ------------------------------------------------ */

typedef enum relay_state {
	RS_NEW = 0,   /* HTTP or handshake */
	RS_AUTH,      /* WebSocket open, DB lookup pending: rx paused, frames held */
	RS_OPEN,      /* served */
	RS_CLOSING,   /* close scheduled: flush queue, then close */
} relay_state;

/* A replay in progress, pulled a page at a time as the send queue drains
 * (session.c asks, job_replay.c reads). mode 0 until the first page
 * planned it. */
typedef struct relay_replay {
	bool planned;           /* the first page decided what follows */
	bool job_out;           /* a page is being read */
	int mode;               /* chat_replay_mode */
	int64_t last_id;        /* asked for */
	int64_t after, upto;    /* keys still to send: after < key <= upto */
	int64_t newest;         /* sync_done's M: last_id or the newest message replayed */
	int64_t newest_sent;    /* newest message replayed (0: none) */
	int64_t max_ev;         /* message events covered */
	int64_t known;          /* min(last_id, the room's newest): the client has these */
	int rows;               /* rows to read for the next page */
} relay_replay;

/* A replay page: at most this many rows, and frames up to about this many
 * bytes (a quarter of the send queue's limits, so a connection holds at
 * most a page or two of its replay). job.c */
size_t relay_replay_page_bytes(const chat_config *cfg);
int relay_replay_page_rows(const chat_config *cfg);

/* libwebsockets' receive buffer per connection, and the most one write
 * hands to the socket at once (server.c). */
enum { RELAY_RX_BUFFER = 128, RELAY_TX_PACKET = 1 << 20 };

/* Per-connection data (lws per_session_data of the "chat" protocol): lives
 * from the connection's creation to LWS_CALLBACK_CLOSED / CLOSED_HTTP.
 * Owned by the service thread. */
enum { RELAY_RETRY_IDS = 4 }; /* retry answers a session remembers */
typedef struct relay_retry_ring {
	int64_t ids[RELAY_RETRY_IDS];
	unsigned char next;        /* ring position (256 % 4 == 0) */
} relay_retry_ring;

/* A session's presence snapshot taken at open: suppresses join/leave
 * frames the newcomer already knows from "online" (events with id <=
 * floor); dropped once the follower is past floor (session.c). Apart from
 * the session: only the newest connections of a room hold one. */
typedef struct relay_snapshot {
	int64_t floor;
	int64_t *ids;              /* sorted */
	size_t n;
	uint64_t cycles;           /* follower cycles done when it was taken */
} relay_snapshot;

typedef struct relay_http_answer {
	char *body;
	size_t len;
	int status;
} relay_http_answer;


typedef struct relay_session {
	struct lws *wsi;
	uint64_t conn_id;          /* 0 until the WebSocket opens */
	unsigned char state;       /* relay_state (one byte: every byte here is
	                            * paid once per connection) */
	bool is_ws : 1;
	bool room_private : 1;
	bool holding : 1;          /* live frames go to held (auth, replay, recheck) */
	bool replay_pending : 1;   /* a replay runs: pages follow as the client reads */
	bool bad_last_id : 1;      /* ?last_id= was not a number */
	bool rx_discard : 1;
	bool rx_binary : 1;
	bool rate_noticed : 1;
	bool typing : 1;           /* typing indicator on (typing_deadline_ms) */
	bool in_typing_list : 1;
	bool ka_ping_due : 1;      /* keepalive.c: a ping to write */
	bool ka_ping_sent : 1;     /* ... and not answered yet */
	bool ka_hung_up : 1;
	bool in_round : 1;         /* session.c: listed to be written at the end of the round */
	bool close_started : 1;    /* closing.c: its close runs (else waits its turn) */
	uint32_t ka_heard_s;       /* keepalive.c: relay clock, seconds */
	uint32_t rx_len;           /* rx: bytes so far (max_frame_size <= 16 MiB) */
	int close_code;

	/* room membership and the connection registry (rooms.c) */
	int64_t room_id;
	struct relay_room *room;
	struct relay_session *room_prev, *room_next;
	struct relay_session *conn_next;

	/* Only the user's id: its name went out in the opening frame and is
	 * never needed again (a name buffer here was 600 bytes a connection) */
	struct {
		int64_t id;
	} user;
	int64_t presence_id;       /* 0 = none registered */

	/* limits.c: the budgets this session holds */
	struct relay_budget *user_budget, *addr_budget;

	/* outgoing */
	relay_sendq q;             /* to the client */
	relay_sendq *held;         /* live frames held during auth, replay or a
	                            * recheck (NULL: none held) */
	relay_replay *rp;          /* the replay in progress (NULL: none) */
	/* send timeout (session.c check_stalled) */
	uint64_t written, written_seen; /* bytes handed to the socket: total, at the last tick */
	uint32_t unsent_seen;      /* the socket's unsent bytes at the last tick */
	int recheck_pending;       /* room changed: access being checked again */
	uint64_t acked_seen;       /* bytes the client acknowledged, at the last tick */
	int64_t stalled_since_ms;  /* output waiting and none taken since (0 = not) */
	char *close_reason;        /* set when a close is scheduled (NULL: none) */
	int64_t resume_from;       /* -1 = no resume requested at open */
	/* What the last replay covered: live message events at or below these
	 * are not sent again (the follower may deliver them after the replay) */
	int64_t replay_max_ev;
	int64_t replay_last_msg;
	union {
		/* WebSocket: messages this connection got as client_id retry
		 * answers: their live event, when it comes after, is not sent
		 * again (allocated at the first retry answer: few connections
		 * ever get one) */
		struct relay_retry_ring *retries;
		/* HTTP (/healthz, /metrics): the answer being written */
		struct relay_http_answer *http;
	};

	/* presence snapshot taken at open (NULL once dropped) */
	struct relay_snapshot *snap;

	/* incoming message reassembly, capped at relay.max_frame_size */
	char *rx;

	/* token bucket */
	double tokens;
	int64_t tokens_ms;

	/* typing indicator */
	int64_t typing_deadline_ms;
	struct relay_session *typing_prev, *typing_next;


} relay_session;

/* ---- jobs and results (workq.c, results.c) ----------------------------------- */

typedef enum relay_job_kind {
	JOB_AUTH = 1,       /* user + room + presence + online (+ replay) */
	JOB_REPLAY,         /* a sync frame */
	JOB_INSERT,         /* chat_message: its room's writer thread */
	JOB_CLOSE,          /* connection closed: typing off, presence remove */
	JOB_EMIT,           /* typing / explicit user_join / user_leave */
	JOB_HEARTBEAT,      /* register / heartbeat / reap / ping */
	JOB_UNREGISTER,     /* clean shutdown */
	JOB_PRESENCE_READD, /* instance was reaped: register the connection again */
	JOB_RECHECK,        /* room changed: may this connection's user still see it? */
} relay_job_kind;

typedef struct relay_job {
	struct relay_job *next;
	relay_job_kind kind;
	uint64_t conn_id;
	int64_t room_id;
	int64_t user_id;
	int64_t last_id;        /* AUTH/REPLAY: resume point, -1 = none */
	relay_replay rp;        /* REPLAY: the page to read (mode 0: plan first) */
	int64_t presence_id;    /* CLOSE */
	bool typing_off;        /* CLOSE: emit typing false first */
	chat_event_kind ev_kind;/* EMIT */
	int64_t ref_id;         /* EMIT */
	bool anonymous;         /* AUTH */
	char *content;          /* INSERT, owned */
	char message_type[CHAT_MESSAGE_TYPE_BUF];
	char client_id[CHAT_CLIENT_ID_BUF];
} relay_job;

typedef enum relay_result_kind {
	RES_AUTH = 1,
	RES_REPLAY,
	RES_INSERT,
	RES_EVENT,          /* follower: one event frame for a room */
	RES_INSTANCE,       /* instance (re)registered: id, reregistered flag */
	RES_JOB_DONE,       /* UNREGISTER finished */
	RES_PRESENCE,       /* PRESENCE_READD: new presence id */
	RES_RECHECK,        /* err CHAT_ERR_NOT_FOUND: no longer visible */
} relay_result_kind;

typedef struct relay_result {
	struct relay_result *next;
	relay_result_kind kind;
	uint64_t conn_id;
	int err;                   /* chat_err */
	const char *why;           /* static text for error frames */
	/* AUTH */
	chat_user_ref user;
	bool room_private;
	int64_t presence_id;
	int64_t snap_floor;
	int64_t *snap_ids;
	size_t snap_n;
	relay_frame *established;
	/* REPLAY: one page of frames in order (resync_required first on the
	 * first page), owned until handed to a session; rp says where the
	 * replay stands after it */
	relay_frame **frames;
	size_t n_frames;
	relay_replay rp;
	bool replay_done;          /* nothing after this page: sync_done */
	/* INSERT: duplicate (created=false) -> stored message frame */
	relay_frame *frame;        /* also RES_EVENT */
	/* INSTANCE, AUTH: the relay's instance id */
	int64_t instance_id;
	bool reregistered;
} relay_result;

/* Free a result and whatever it still owns. */
void relay_result_free(relay_result *r);

/* ---- the process-wide relay state (server.c) ---------------------------- */

typedef struct relay_metrics {
	uint64_t connections_total;
	uint64_t messages_in_total;
	uint64_t frames_in_total;
	uint64_t frames_out_total;
	uint64_t frames_dropped_total;
	uint64_t slow_clients_closed_total;
	uint64_t rate_limited_total;
	uint64_t connections_refused_total; /* per-user / per-address caps */
	uint64_t client_errors_total;
	uint64_t events_delivered_total;
	uint64_t auth_failures_total;
	uint64_t db_batches_total;
	uint64_t db_batch_rows_total;
	uint64_t db_batch_buckets[8]; /* <=1,2,4,8,16,64,256,+Inf */
} relay_metrics;

typedef struct relay {
	const chat_config *cfg;
	chat_jwt *jwt;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	int listen_fd;              /* main listener (inherited in worker mode) */
	int metrics_fd;             /* optional second listener, -1 = none */
	struct lws *listen_wsi;
	struct lws *metrics_wsi;
	char notify_path[256];
	int notify_fd;

	uint64_t next_conn_id;
	size_t n_sessions;          /* open WebSocket sessions */
	size_t n_rooms;
	int64_t instance_id;        /* as known by the loop */
	size_t pending_inserts;     /* submitted, not yet acknowledged */
	size_t trimmed_at_bytes;    /* relay_frames_freed_bytes() at the last malloc_trim */
	size_t freed_at_tick;       /* ... at the last tick */
	int64_t trimmed_at_ms;
	relay_session *typing_head;
	relay_metrics m;

	lws_sorted_usec_list_t tick;
	int64_t last_heartbeat_ms;
	bool heartbeat_busy;

	/* shutdown */
	bool shutting_down;
	int shutdown_phase;
	int64_t shutdown_deadline_ms;
	uint64_t shutdown_cycles;
	bool unregistered;
	bool stop_loop;
} relay;

extern relay *relay_g;

/* Signal flags (main.c). */
extern volatile sig_atomic_t relay_sig_term;
extern volatile sig_atomic_t relay_sig_hup;

/* server.c: run one relay process on an already-listening socket.
 * Returns the process exit status. */
int relay_server_run(const chat_config *cfg, int listen_fd, int metrics_fd);
int64_t relay_now_ms(void);

/* loop.c: the event loop under libwebsockets. create: the context on
 * libev (epoll, a loop the relay runs) unless want is "poll" or
 * libwebsockets cannot use libev, then on poll() (logged). run: serve
 * until keep_going() returns false; it is called between wake-ups.
 * free: after lws_context_destroy(). */
struct lws_context *relay_loop_create(struct lws_context_creation_info *info, const char *want);
void relay_loop_run(struct lws_context *ctx, bool (*keep_going)(void));
/* lws_set_timer_usecs(), kept on time on the libev loop as well (loop.c
 * says why). */
void relay_loop_set_timer(struct lws *wsi, int64_t us);
void relay_loop_free(void);

/* listener.c */
/* Open a listening TCP socket on addr:port (SO_REUSEADDR, SO_REUSEPORT),
 * non-blocking. Returns the fd, -1 after logging why. */
int relay_listener_open(const char *addr, int port);
/* Port the socket is bound to (0 if unknown). */
int relay_listener_port(int fd);
/* Adopt fd into the loop: accepted connections go to the vhost. */
struct lws *relay_listener_adopt(struct lws_vhost *vh, int fd);
int relay_listener_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                            void *in, size_t len);

/* limits.c: connections per user and per client address, frames per user
 * (per process). The client address of a new connection (the peer, or the
 * last X-Forwarded-For entry of a trusted proxy), canonical. */
void relay_limits_client_address(struct lws *wsi, char *out, size_t outlen);
/* Count s (user.id set) from the client address addr against its
 * budgets: 0 admitted, 1 its user, 2 its address is at the limit, -1 out
 * of memory. */
int relay_limits_admit(relay_session *s, const char *addr);
/* Give back what relay_limits_admit counted (idempotent). */
void relay_limits_release(relay_session *s);
/* Take one frame from the session's user's bucket; false = over the rate. */
bool relay_limits_user_frame(relay_session *s, int64_t now_ms);
void relay_limits_free(void);

/* wsguard.c: unmasked client frames (lws 4.1.6 accepts them). */
int relay_wsguard_init(void);
void relay_wsguard_free(void);
/* Follow (or stop following) the frames read from this descriptor. */
void relay_wsguard_watch(int fd, bool on);
/* Loop: close the sessions that sent an unmasked frame with 1002. */
void relay_wsguard_sweep(void);

/* session.c */
int relay_session_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                           void *in, size_t len);
/* Queue a frame to the client (taking a reference); overflow closes the
 * session with 4408. Returns -1 if the session was cut off. */
int relay_session_send(relay_session *s, relay_frame *f);
/* Queue an error frame (not counted against the limits). */
void relay_session_error(relay_session *s, const char *message, const char *code);
/* Schedule a close: optional error frame, flush, then close with code. */
void relay_session_close(relay_session *s, int code, const char *errcode, const char *message);

/* closing.c: closes paced (libwebsockets' timer list is sorted on insert).
 * add: a session just set RS_CLOSING, started now or queued; done: at
 * LWS_CALLBACK_CLOSED, starts the next waiting ones. */
void relay_closing_add(relay_session *s);
void relay_closing_done(relay_session *s);
size_t relay_closing_waiting(void);
void relay_closing_free(void);
/* Start a replay after message last_id (sync frame, ?last_id=): live
 * events are held until it is done. */
void relay_session_replay(relay_session *s, int64_t last_id);
/* Deliver a live event frame, honouring hold and presence filters. */
void relay_session_deliver(relay_session *s, relay_frame *f);
void relay_session_handle_result(relay_result *r);
/* Once a second: typing expiry. */
void relay_session_tick(int64_t now_ms);
/* Shutdown helpers. */
void relay_session_pause_all(void);
void relay_session_close_all(int code, const char *reason);

/* keepalive.c: pings and idle hang-ups by one sweep (instead of a
 * libwebsockets timer per connection). start at ESTABLISHED; heard on
 * every received frame or pong; the tick visits a slice of the
 * connection registry; take_ping in WRITEABLE says whether to write a
 * ping first. */
void relay_keepalive_start(relay_session *s);
void relay_keepalive_heard(relay_session *s);
void relay_keepalive_tick(int64_t now_ms);
bool relay_keepalive_take_ping(relay_session *s);

/* typing.c: typing indicators seen in the event log. A relay that dies
 * while one of its users is typing never sends the "false"; every relay
 * therefore remembers the remote typers of its rooms and, when no renewal
 * or "false" came within relay.typing_timeout (+ a grace period), sends
 * the "false" to its own connections itself. */
void relay_typing_seen(relay_frame *f);
void relay_typing_tick(int64_t now_ms);
void relay_typing_free(void);

/* frames.c: a complete client message. */
void relay_frames_handle(relay_session *s, const char *data, size_t len);

/* rooms.c */
typedef struct relay_room {
	int64_t id;
	relay_session *head;
	size_t n;
} relay_room;

int relay_rooms_init(void);
void relay_rooms_free(void);
/* Link s into its room (s->room_id). -1 on OOM. */
int relay_rooms_join(relay_session *s);
void relay_rooms_leave(relay_session *s);
relay_room *relay_rooms_find(int64_t room_id);
/* Connection registry. */
int relay_conns_add(relay_session *s);
void relay_conns_remove(relay_session *s);
relay_session *relay_conns_find(uint64_t conn_id);
/* Visit every session (safe against the visitor closing it). */
void relay_conns_each(void (*fn)(relay_session *s, void *arg), void *arg);
/* Visit the sessions in `buckets` of the registry's buckets from `from`
 * on; returns where the next visit starts (0 after the last bucket). fn
 * must not unregister a session (closing only schedules that). */
size_t relay_conns_visit(size_t from, size_t buckets, void (*fn)(relay_session *s, void *arg),
                         void *arg);
size_t relay_conns_buckets(void);
/* Fan an event frame out to its room; takes care of room_deleted and
 * member_left. Consumes the result's frame. */
void relay_rooms_dispatch(relay_frame *f);

/* workq.c (queues and threads), results.c (relay_post), dbstate.c */
int relay_db_start(relay *r);
/* Stop the threads after their queues drain. */
void relay_db_stop(void);
/* Queue a job (ownership passes). Routed by conn_id / room so one
 * connection's jobs run in order. -1 when stopping (job freed). */
int relay_db_submit(relay_job *j);
relay_job *relay_job_new(relay_job_kind kind);
void relay_job_free(relay_job *j);
/* Post a result to the loop (any thread). */
void relay_post(relay_result *r);
/* Results gathered to be posted with one wake-up of the loop: a writer's
 * batch, a follower's read. Start it zeroed. */
typedef struct relay_result_chain {
	relay_result *head, *tail;
} relay_result_chain;
void relay_chain_add(relay_result_chain *c, relay_result *r);
/* Post the chain (any thread) and leave it empty. */
void relay_post_chain(relay_result_chain *c);
/* The context relay_post() wakes (NULL: none). server.c sets it once the
 * context exists and clears it after the posting threads are joined. */
void relay_post_wake(struct lws_context *ctx);
/* Loop: take every pending result (a list, oldest first). */
relay_result *relay_take_results(void);
/* Is the database reachable (last known)? */
bool relay_db_up(void);
/* Was the database found unreachable by the latest call (not merely not
 * yet tried)? New connections are then refused at once. */
bool relay_db_down(void);
void relay_db_set_up(bool up);
/* Encode/decode the typing origin carried in the event's ref_id. */
int64_t relay_typing_ref(bool is_typing, uint64_t origin);
uint64_t relay_origin_of(int64_t instance_id, uint64_t conn_id);

/* follower.c */
int relay_follower_start(relay *r);
void relay_follower_stop(void);
void relay_follower_kick(void);
/* Event frames posted by the follower and not yet fanned out. */
extern atomic_long relay_events_in_flight;
int64_t relay_follower_last_event(void);
int64_t relay_follower_lag(void);
uint64_t relay_follower_passed_over(void);
/* Completed read cycles (to wait for one that started after a kick). */
uint64_t relay_follower_cycles(void);

/* metrics.c */
/* Build the body of an HTTP GET; returns the status (200/503/404) and a
 * malloc'd body in *body. */
int relay_metrics_http(const char *path, char **body, size_t *len, const char **ctype);
/* job_write.c: writer batch statistics (any thread). */
uint64_t relay_db_batches(void);
uint64_t relay_db_batch_rows(void);
uint64_t relay_db_batch_bucket(int i);

#endif
