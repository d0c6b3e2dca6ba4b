/* chat-bench command line. */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIST 1000000

static void usage(FILE *f)
{
	fputs("usage: chat-bench connect|fanout [options]\n"
	      "  --url ws://HOST:PORT[/prefix]  relay address (default ws://127.0.0.1:8001)\n"
	      "  --tokens FILE           JWTs, one a line, used round-robin (required)\n"
	      "  --room-ids 1,2,3        rooms to use, or --rooms-file FILE (ids, one a line)\n"
	      "  --rooms N               use only the first N rooms of the list\n"
	      "  --connections N         connect: connections to hold (default 100)\n"
	      "  --clients N             fanout: clients per room (default 10)\n"
	      "  --senders N             fanout: senders per room (default 1)\n"
	      "  --rate R                fanout: messages/s per sender (0 = as fast as --window allows)\n"
	      "  --window W              fanout: unacknowledged messages per sender (default 0 = no cap\n"
	      "                          with --rate, 1 without)\n"
	      "  --msg-size N            fanout: pad each content to N bytes\n"
	      "  --duration S            seconds to hold (connect) or to send (fanout) (default 5)\n"
	      "  --drain S               fanout: seconds to wait for late deliveries (default 5)\n"
	      "  --settle-timeout S      seconds to wait for connection_established (default 30)\n"
	      "  --connect-rate N[/s]    new connections per second (default 1000)\n"
	      "  --source-addrs A-B|A,B  bind connections to these IPv4 source addresses\n"
	      "  --procs P               worker processes (default 1)\n"
	      "  --pid PID[,PID...]      server processes whose RSS is sampled\n"
	      "  --event-lib ev|poll     lws event loop: libev/epoll (default) or lws's poll()\n"
	      "  --quiet                 only the final JSON line\n",
	      f);
}

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "chat-bench: %s: %s\n", what, arg ? arg : "");
	usage(stderr);
	exit(2);
}

static double num(const char *s, double lo, double hi, const char *name)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || (*end && strcmp(end, "/s")) || v < lo || v > hi)
		die(name, s);
	return v;
}

static void add_room(bench_opts *o, const char *s, const char *name)
{
	if (o->nrooms >= MAX_LIST)
		die("too many rooms", name);
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || v <= 0)
		die(name, s);
	long *r = realloc(o->room_ids, (o->nrooms + 1) * sizeof(*r));
	if (!r)
		die("out of memory", name);
	o->room_ids = r;
	o->room_ids[o->nrooms++] = v;
}

static void room_list(bench_opts *o, const char *list)
{
	char *dup = strdup(list), *save = NULL;
	if (!dup)
		die("out of memory", list);
	for (char *t = strtok_r(dup, ", \t\n", &save); t; t = strtok_r(NULL, ", \t\n", &save))
		add_room(o, t, "--room-ids");
	free(dup);
}

/* Read a whole small file (ids or tokens), at most 64 MiB. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		die("cannot open", path);
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (len + 1 == cap) {
			if (cap >= (64u << 20))
				die("file too big", path);
			cap *= 2;
			char *b = realloc(buf, cap);
			if (!b)
				free(buf);
			buf = b;
		}
	}
	fclose(f);
	if (!buf)
		die("out of memory", path);
	buf[len] = '\0';
	return buf;
}

static void tokens_file(bench_opts *o, const char *path)
{
	char *buf = slurp(path), *save = NULL;
	free(o->token_buf);
	free(o->tokens);
	o->tokens = NULL;
	o->ntokens = 0;
	o->token_buf = buf;
	for (char *t = strtok_r(buf, "\r\n", &save); t; t = strtok_r(NULL, "\r\n", &save)) {
		while (*t == ' ' || *t == '\t')
			t++;
		if (!*t || *t == '#')
			continue;
		if (o->ntokens >= MAX_LIST)
			die("too many tokens", path);
		char **v = realloc(o->tokens, (o->ntokens + 1) * sizeof(*v));
		if (!v)
			die("out of memory", path);
		o->tokens = v;
		o->tokens[o->ntokens++] = t; /* points into buf, kept for the run */
	}
}

static void add_source(bench_opts *o, uint32_t host_order)
{
	char text[INET_ADDRSTRLEN];
	struct in_addr a = { .s_addr = htonl(host_order) };
	if (!inet_ntop(AF_INET, &a, text, sizeof(text)) || o->nsource >= 65536)
		die("--source-addrs", "too many addresses");
	char **v = realloc(o->source_addrs, (o->nsource + 1) * sizeof(*v));
	if (!v || !(v[o->nsource] = strdup(text)))
		die("out of memory", "--source-addrs");
	o->source_addrs = v;
	o->nsource++;
}

/* "127.0.0.1-127.0.0.50" or "127.0.0.1,127.0.0.2" */
static void source_list(bench_opts *o, const char *list)
{
	char *dup = strdup(list), *save = NULL;
	if (!dup)
		die("out of memory", list);
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *dash = strchr(t, '-');
		struct in_addr a, b;
		if (dash)
			*dash = '\0';
		if (inet_pton(AF_INET, t, &a) != 1)
			die("--source-addrs: not an IPv4 address", t);
		b = a;
		if (dash && inet_pton(AF_INET, dash + 1, &b) != 1)
			die("--source-addrs: not an IPv4 address", dash + 1);
		uint32_t lo = ntohl(a.s_addr), hi = ntohl(b.s_addr);
		if (hi < lo || hi - lo >= 65536)
			die("--source-addrs: bad range", list);
		for (uint32_t x = lo;; x++) {
			add_source(o, x);
			if (x == hi)
				break;
		}
	}
	free(dup);
}

static void pid_list(bench_opts *o, const char *list)
{
	char *dup = strdup(list), *save = NULL;
	if (!dup)
		die("out of memory", list);
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (o->npids >= sizeof(o->pids) / sizeof(o->pids[0]))
			die("--pid: too many", list);
		o->pids[o->npids++] = (int)num(t, 1, 4194304, "--pid");
	}
	free(dup);
}

/* ws://host:port/prefix */
static void parse_url(bench_opts *o, const char *url)
{
	const char *p = url;
	if (!strncmp(p, "ws://", 5))
		p += 5;
	else if (strstr(p, "://"))
		die("--url: only ws:// is supported", url);
	const char *slash = strchr(p, '/');
	size_t hostport = slash ? (size_t)(slash - p) : strlen(p);
	char hp[300];
	if (hostport == 0 || hostport >= sizeof(hp))
		die("--url", url);
	memcpy(hp, p, hostport);
	hp[hostport] = '\0';
	char *colon = strrchr(hp, ':');
	o->port = 80;
	if (colon) {
		*colon = '\0';
		o->port = (int)num(colon + 1, 1, 65535, "--url port");
	}
	if (snprintf(o->host, sizeof(o->host), "%s", hp) >= (int)sizeof(o->host))
		die("--url", url);
	const char *prefix = slash ? slash : "";
	size_t plen = strlen(prefix);
	while (plen && prefix[plen - 1] == '/')
		plen--;
	if (plen >= sizeof(o->path_prefix))
		die("--url", url);
	memcpy(o->path_prefix, prefix, plen);
	o->path_prefix[plen] = '\0';
}

void bench_opts_parse(bench_opts *o, int argc, char **argv)
{
	enum { O_URL = 256, O_TOKENS, O_ROOM_IDS, O_ROOMS_FILE, O_ROOMS, O_CONNECTIONS,
	       O_CLIENTS, O_SENDERS, O_RATE, O_WINDOW, O_MSG_SIZE, O_DURATION, O_DRAIN,
	       O_SETTLE, O_CONNECT_RATE, O_SOURCE, O_PROCS, O_PID, O_QUIET, O_EVLIB, O_HELP };
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, O_URL },
		{ "tokens", required_argument, NULL, O_TOKENS },
		{ "room-ids", required_argument, NULL, O_ROOM_IDS },
		{ "rooms-file", required_argument, NULL, O_ROOMS_FILE },
		{ "rooms", required_argument, NULL, O_ROOMS },
		{ "connections", required_argument, NULL, O_CONNECTIONS },
		{ "clients", required_argument, NULL, O_CLIENTS },
		{ "senders", required_argument, NULL, O_SENDERS },
		{ "rate", required_argument, NULL, O_RATE },
		{ "window", required_argument, NULL, O_WINDOW },
		{ "msg-size", required_argument, NULL, O_MSG_SIZE },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "drain", required_argument, NULL, O_DRAIN },
		{ "settle-timeout", required_argument, NULL, O_SETTLE },
		{ "connect-rate", required_argument, NULL, O_CONNECT_RATE },
		{ "source-addrs", required_argument, NULL, O_SOURCE },
		{ "procs", required_argument, NULL, O_PROCS },
		{ "pid", required_argument, NULL, O_PID },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "event-lib", required_argument, NULL, O_EVLIB },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	long nrooms_limit = 0;
	int window_set = 0, opt;

	memset(o, 0, sizeof(*o));
	o->connections = 100;
	o->clients = 10;
	o->senders = 1;
	o->duration = 5;
	o->drain = 5;
	o->settle_timeout = 30;
	o->connect_rate = 1000;
	o->procs = 1;
	o->evlib = 1;
	parse_url(o, "ws://127.0.0.1:8001");

	if (argc < 2)
		die("missing mode", "connect or fanout");
	if (!strcmp(argv[1], "connect"))
		o->mode = BENCH_CONNECT;
	else if (!strcmp(argv[1], "fanout"))
		o->mode = BENCH_FANOUT;
	else if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		exit(0);
	} else
		die("unknown mode", argv[1]);
	optind = 2;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case O_URL: parse_url(o, optarg); break;
		case O_TOKENS: tokens_file(o, optarg); break;
		case O_ROOM_IDS: room_list(o, optarg); break;
		case O_ROOMS_FILE: {
			char *buf = slurp(optarg);
			room_list(o, buf);
			free(buf);
			break;
		}
		case O_ROOMS: nrooms_limit = (long)num(optarg, 1, MAX_LIST, "--rooms"); break;
		case O_CONNECTIONS: o->connections = (unsigned)num(optarg, 1, 10000000, "--connections"); break;
		case O_CLIENTS: o->clients = (unsigned)num(optarg, 1, 1000000, "--clients"); break;
		case O_SENDERS: o->senders = (unsigned)num(optarg, 0, 1000000, "--senders"); break;
		case O_RATE: o->rate = num(optarg, 0, 1e7, "--rate"); break;
		case O_WINDOW: o->window = (unsigned)num(optarg, 0, 1e7, "--window"); window_set = 1; break;
		case O_MSG_SIZE: o->msg_size = (unsigned)num(optarg, 0, 4000, "--msg-size"); break;
		case O_DURATION: o->duration = num(optarg, 0, 86400, "--duration"); break;
		case O_DRAIN: o->drain = num(optarg, 0, 3600, "--drain"); break;
		case O_SETTLE: o->settle_timeout = num(optarg, 0.1, 3600, "--settle-timeout"); break;
		case O_CONNECT_RATE: o->connect_rate = num(optarg, 0, 1e7, "--connect-rate"); break;
		case O_SOURCE: source_list(o, optarg); break;
		case O_PROCS: o->procs = (unsigned)num(optarg, 1, 64, "--procs"); break;
		case O_PID: pid_list(o, optarg); break;
		case O_QUIET: o->quiet = 1; break;
		case O_EVLIB:
			if (strcmp(optarg, "ev") && strcmp(optarg, "poll"))
				die("--event-lib", optarg);
			o->evlib = !strcmp(optarg, "ev");
			break;
		case O_HELP: usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind < argc)
		die("unexpected argument", argv[optind]);
	if (!o->ntokens)
		die("no tokens", "--tokens FILE is required");
	if (!o->nrooms)
		die("no rooms", "--room-ids or --rooms-file is required");
	if (nrooms_limit) {
		if ((size_t)nrooms_limit > o->nrooms)
			die("--rooms is larger than the room list", argv[0]);
		o->nrooms = (size_t)nrooms_limit;
	}
	if (o->senders > o->clients)
		o->senders = o->clients;
	if (o->mode == BENCH_FANOUT && !window_set && o->rate <= 0)
		o->window = 1;
	if (o->mode == BENCH_FANOUT && o->rate <= 0 && !o->window)
		die("fanout needs --rate or --window", "");
}

void bench_opts_free(bench_opts *o)
{
	free(o->tokens);
	free(o->token_buf);
	free(o->room_ids);
	for (size_t i = 0; i < o->nsource; i++)
		free(o->source_addrs[i]);
	free(o->source_addrs);
	memset(o, 0, sizeof(*o));
}
