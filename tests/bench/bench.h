/* chat-bench: a load generator speaking the chat WebSocket protocol.
 *
 * The parent process parses the options, forks --procs worker processes
 * (each with its own libwebsockets context and its own share of the
 * connections), starts them together, and merges the fixed-size result
 * each worker writes back through a pipe. All connections of one room live
 * in the same worker, so ordering, duplicate and loss checks are local. */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "bench_hist.h"

enum bench_mode { BENCH_CONNECT, BENCH_FANOUT };

/* Options, filled by bench_opts.c; read-only once the workers run. */
typedef struct bench_opts {
	enum bench_mode mode;
	char host[256];
	int port;
	char path_prefix[256];  /* URL path before /ws/chat/..., without trailing '/' */
	char **tokens;          /* one JWT each, used round-robin (point into token_buf) */
	char *token_buf;
	size_t ntokens;
	long *room_ids;         /* rooms to use, in order */
	size_t nrooms;
	char **source_addrs;    /* IPv4 source addresses, round-robin; none = kernel's choice */
	size_t nsource;
	unsigned connections;   /* connect mode: total connections */
	unsigned clients;       /* fanout: clients per room */
	unsigned senders;       /* fanout: senders per room (the first clients) */
	double rate;            /* fanout: messages/s per sender, 0 = window-bound */
	unsigned window;        /* fanout: unacknowledged messages per sender, 0 = none */
	unsigned msg_size;      /* fanout: pad contents to this many bytes */
	double duration;        /* seconds: hold time (connect) or send time (fanout) */
	double drain;           /* seconds to wait for late deliveries */
	double settle_timeout;  /* seconds to wait for every connection_established */
	double connect_rate;    /* new connections per second, all workers together */
	unsigned procs;         /* worker processes */
	int pids[16];           /* server processes whose RSS is sampled */
	unsigned npids;
	int quiet;
	int evlib;              /* run the lws context on libev (default) */
} bench_opts;

/* Parse argv into o (exits with a usage message on bad options). */
void bench_opts_parse(bench_opts *o, int argc, char **argv);

/* Free what bench_opts_parse allocated. */
void bench_opts_free(bench_opts *o);

#define BENCH_MAX_CAUSES 16
#define BENCH_CAUSE_LEN 96

/* What one worker measured. Plain data: written whole through a pipe. */
typedef struct bench_result {
	uint64_t attempted;     /* connections started */
	uint64_t upgraded;      /* WebSocket handshake completed */
	uint64_t ready;         /* connection_established received */
	uint64_t failed;        /* never reached connection_established */
	uint64_t dropped;       /* closed after connection_established, before the end */
	struct {
		char text[BENCH_CAUSE_LEN];
		uint64_t count;
	} cause[BENCH_MAX_CAUSES];
	bench_hist connect;     /* connect start -> connection_established */
	bench_hist latency;     /* send -> delivery, every receiver */
	bench_hist ack;         /* send -> the sender's own copy back */
	uint64_t sent;
	uint64_t acked;         /* the sender got its own message back */
	uint64_t stored;        /* distinct messages seen by anyone in the room */
	uint64_t delivered;     /* chat_message frames of ours received, duplicates included */
	uint64_t delivered_unique;
	uint64_t expected;      /* stored x receivers of the room */
	uint64_t lost;
	uint64_t duplicated;
	uint64_t out_of_order_seq;  /* per receiver, per sender sequence going back */
	uint64_t out_of_order_id;   /* per receiver, message id not ascending */
	uint64_t foreign;       /* chat_message frames not made by this run */
	uint64_t error_frames;
	uint64_t rate_limited;  /* error frames with code rate_limited */
	uint64_t other_frames;
	uint64_t senders;
	uint64_t receivers;
	int64_t t_go;           /* CLOCK_MONOTONIC ns: sending/holding started */
	int64_t t_send_end;     /* sending stopped */
	int64_t t_last_ack;
	int64_t t_last_delivery;
	int64_t t_end;
	double cpu_user;        /* seconds, this worker */
	double cpu_sys;
	long maxrss_kb;
} bench_result;

/* Count a cause of failure (text truncated to fit). */
void bench_result_cause(bench_result *r, const char *text);

/* Run one worker: connections whose index i satisfies owner(i) == worker.
 * ctl_fd: the parent's commands ('G' go, 'S' stop); res_fd: 'R' when
 * settled, then the bench_result. Returns the process exit status. */
int bench_worker_run(const bench_opts *o, unsigned worker, int ctl_fd, int res_fd);

/* Monotonic clock in nanoseconds. */
int64_t bench_now_ns(void);

/* Write/read exactly n bytes (retrying on EINTR/short counts); 0 or -1. */
int bench_write_full(int fd, const void *buf, size_t n);
int bench_read_full(int fd, void *buf, size_t n);

#endif
