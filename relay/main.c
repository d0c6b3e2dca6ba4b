/* chat-relay: command line, configuration, signals, and the --workers
 * process model (the parent binds one SO_REUSEPORT socket per worker on
 * the same port and forks N relays; each has its own socket, loop,
 * follower and wake-up socket). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chat_config.h"
#include "chat_log.h"
#include "chat_time.h"
#include "relay.h"

volatile sig_atomic_t relay_sig_term;
volatile sig_atomic_t relay_sig_hup;

static void on_term(int sig)
{
	(void)sig;
	relay_sig_term = 1;
}

static void on_hup(int sig)
{
	(void)sig;
	relay_sig_hup = 1;
}

static void set_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: chat-relay [-c FILE] [--set section.key=value ...] [--workers N]\n"
	        "                  [--check-config] [--version] [--help]\n"
	        "\n"
	        "The chat WebSocket relay: ws://HOST:PORT/ws/chat/{room_id}/?token=JWT\n"
	        "\n"
	        "  -c, --config FILE   configuration file (default %s, if present)\n"
	        "  -s, --set S.K=V     override one key (repeatable), e.g. --set relay.port=8001\n"
	        "  -w, --workers N     relay processes sharing the port (relay.workers)\n"
	        "      --check-config  validate the configuration and exit\n"
	        "  -V, --version       print the version and exit\n"
	        "  -h, --help          this text and the configuration keys\n"
	        "\n"
	        "Configuration is read from the file, then CHAT_<SECTION>_<KEY> environment\n"
	        "variables, then --set. Signals: TERM/INT graceful stop, HUP reopen the log.\n\n",
	        chat_config_default_path());
	chat_config_help(out);
}

/* Raise the open-file limit towards what relay.max_connections needs
 * (libwebsockets sizes its tables from it at start). */
static void raise_fd_limit(int max_connections)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	rlim_t want = (rlim_t)max_connections + 256;
	if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
		want = rl.rlim_max;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			chat_log_errno(CHAT_LOG_WARNING, "cannot raise the open-file limit");
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)max_connections + 64)
		chat_log_warn("open-file limit %llu is below relay.max_connections %d: raise it "
		              "(ulimit -n, LimitNOFILE=)", (unsigned long long)rl.rlim_cur,
		              max_connections);
}

/* Worker i serves lfds[i] only. One socket per worker, not one shared
 * socket: the kernel then spreads new connections evenly over the workers
 * (SO_REUSEPORT hashing), where a shared socket goes to whichever loop
 * wakes first and one worker fills up to its fd limit while the others
 * idle. The parent keeps every socket open, so a replacement worker finds
 * the connections queued on its predecessor's socket. */
static pid_t spawn_worker(const chat_config *cfg, const int *lfds, int n, int i, int mfd)
{
	pid_t p = fork();
	if (p < 0) {
		chat_log_errno(CHAT_LOG_ERROR, "fork");
		return -1;
	}
	if (p == 0) {
		for (int k = 0; k < n; k++)
			if (k != i)
				close(lfds[k]);
		_exit(relay_server_run(cfg, lfds[i], mfd));
	}
	return p;
}

/* Run n relay processes on the shared socket; forward TERM/INT/HUP; wait.
 * A worker that dies unexpectedly is replaced (its clients reconnect with
 * last_id), unless workers keep dying right after they start. */
static int run_workers(const chat_config *cfg, int lfd, int mfd, int n)
{
	pid_t *pids = calloc((size_t)n, sizeof(*pids));
	int64_t *started = calloc((size_t)n, sizeof(*started));
	int *lfds = calloc((size_t)n, sizeof(*lfds));
	int status = 0, quick_deaths = 0;
	if (!pids || !started || !lfds) {
		free(pids);
		free(started);
		free(lfds);
		close(lfd);
		return 1;
	}
	/* lfd is worker 0's; the others bind the port it got (port 0 = any) */
	lfds[0] = lfd;
	int port = relay_listener_port(lfd);
	for (int i = 1; i < n; i++) {
		lfds[i] = relay_listener_open(cfg->relay.listen, port);
		if (lfds[i] < 0) {
			for (int k = 0; k < i; k++)
				close(lfds[k]);
			free(pids);
			free(started);
			free(lfds);
			return 1;
		}
	}
	for (int i = 0; i < n; i++) {
		pids[i] = spawn_worker(cfg, lfds, n, i, mfd);
		started[i] = chat_time_mono_ms();
		if (pids[i] < 0) {
			pids[i] = 0;
			relay_sig_term = 1;
			status = 1;
			break;
		}
	}
	int alive = 0;
	for (int i = 0; i < n; i++)
		alive += pids[i] > 0;
	bool forwarded = false;
	while (alive > 0) {
		if (relay_sig_term && !forwarded) {
			for (int i = 0; i < n; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGTERM);
			forwarded = true;
			/* no more workers: let new clients be refused */
			for (int i = 0; i < n; i++)
				if (lfds[i] >= 0)
					close(lfds[i]);
			for (int i = 0; i < n; i++)
				lfds[i] = -1;
			if (mfd >= 0)
				close(mfd);
			mfd = -1;
		}
		if (relay_sig_hup) {
			relay_sig_hup = 0;
			chat_log_reopen();
			for (int i = 0; i < n; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGHUP);
		}
		int st = 0;
		pid_t p = waitpid(-1, &st, 0);
		if (p < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (pids[i] != p)
				continue;
			pids[i] = 0;
			alive--;
			bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
			if (ok && forwarded)
				break;
			chat_log_error("relay worker %ld ended (%s %d)", (long)p,
			               WIFEXITED(st) ? "exit" : "signal",
			               WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			if (forwarded)
				status = 1;
			if (forwarded || relay_sig_term)
				break;
			if (chat_time_mono_ms() - started[i] < 5000 && ++quick_deaths >= 5) {
				chat_log_error("relay workers keep failing at start; stopping");
				status = 1;
				relay_sig_term = 1;
				break;
			}
			pids[i] = spawn_worker(cfg, lfds, n, i, mfd);
			started[i] = chat_time_mono_ms();
			if (pids[i] > 0) {
				alive++;
				chat_log_warn("started relay worker %ld in its place", (long)pids[i]);
			} else {
				pids[i] = 0;
			}
			break;
		}
	}
	for (int i = 0; i < n; i++)
		if (lfds[i] >= 0)
			close(lfds[i]);
	if (mfd >= 0)
		close(mfd);
	free(pids);
	free(started);
	free(lfds);
	return status;
}

int main(int argc, char **argv)
{
	enum { OPT_CHECK = 256 };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "set", required_argument, NULL, 's' },
		{ "workers", required_argument, NULL, 'w' },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conf_path = NULL;
	const char *workers_arg = NULL;
	bool check_only = false;
	int status = 1;
	chat_config cfg;
	memset(&cfg, 0, sizeof(cfg));

	/* First pass: options that do not touch the configuration. */
	int c;
	while ((c = getopt_long(argc, argv, "c:s:w:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': conf_path = optarg; break;
		case 's': break;
		case 'w': workers_arg = optarg; break;
		case OPT_CHECK: check_only = true; break;
		case 'V': printf("chat-relay %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "chat-relay: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}

	if (chat_config_defaults(&cfg) < 0) {
		fprintf(stderr, "chat-relay: out of memory\n");
		return 1;
	}
	struct stat st;
	if (!conf_path && stat(chat_config_default_path(), &st) == 0)
		conf_path = chat_config_default_path();
	if (conf_path && chat_config_load_file(&cfg, conf_path, stderr) < 0)
		goto out;
	if (chat_config_load_env(&cfg, stderr) < 0)
		goto out;
	optind = 0; /* glibc: rescan from the start */
	while ((c = getopt_long(argc, argv, "c:s:w:Vh", longopts, NULL)) != -1)
		if (c == 's' && chat_config_set(&cfg, optarg, stderr) < 0)
			goto out;
	if (workers_arg) {
		char assign[64];
		snprintf(assign, sizeof(assign), "relay.workers=%s", workers_arg);
		if (chat_config_set(&cfg, assign, stderr) < 0)
			goto out;
	}
	if (chat_config_validate(&cfg, stderr) < 0)
		goto out;
	if (check_only) {
		printf("configuration OK\n");
		status = 0;
		goto out;
	}

	if (chat_log_open("chat-relay", cfg.log.level, cfg.log.target, cfg.log.file) < 0) {
		fprintf(stderr, "chat-relay: cannot open the log (%s)\n", cfg.log.file);
		goto out;
	}
	set_signals();
	raise_fd_limit(cfg.relay.max_connections);

	int lfd = relay_listener_open(cfg.relay.listen, cfg.relay.port);
	if (lfd < 0)
		goto out_log;
	int mfd = -1;
	if (cfg.relay.metrics_listen && *cfg.relay.metrics_listen) {
		mfd = relay_listener_open(cfg.relay.metrics_listen, cfg.relay.metrics_port);
		if (mfd < 0) {
			close(lfd);
			goto out_log;
		}
	}
	if (cfg.relay.workers > 1) {
		chat_log_info("starting %d relay processes on %s:%d", cfg.relay.workers,
		              cfg.relay.listen, relay_listener_port(lfd));
		status = run_workers(&cfg, lfd, mfd, cfg.relay.workers);
	} else {
		status = relay_server_run(&cfg, lfd, mfd);
	}
out_log:
	chat_log_close();
out:
	chat_config_free(&cfg);
	return status;
}
