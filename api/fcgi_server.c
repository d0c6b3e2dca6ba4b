/* The FastCGI side: the listening socket, the worker threads (each with
 * its own FCGX_Request and chat_db), and a clean stop on SIGTERM.
 *
 * Stopping: the main thread waits for signals with sigwait(); workers
 * block in FCGX_Accept_r(). On SIGTERM the main thread sets `stopping`,
 * calls FCGX_ShutdownPending() and interrupts with SIGUSR1 (installed
 * without SA_RESTART, and with FCGI_FAIL_ACCEPT_ON_INTR) only the
 * workers that are waiting for a request, again every few milliseconds
 * until they are gone, so a request in progress is never interrupted. */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "chat_db.h"
#include "chat_log.h"

#define LISTEN_BACKLOG 128
#define MAX_ACCEPT_FAILURES 100

typedef struct worker {
	pthread_t thread;
	bool started;
	atomic_bool done;
	atomic_bool waiting; /* inside FCGX_Accept_r, no request in hand */
	int fd;
	const api_server *srv;
} worker;

static atomic_bool stopping;

/* Is something accepting connections on the Unix socket at path? */
static bool socket_in_use(const char *path)
{
	struct sockaddr_un sa;
	if (strlen(path) >= sizeof(sa.sun_path))
		return false;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	bool used = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return used;
}

static void on_wake(int sig)
{
	(void)sig; /* only there to interrupt accept() */
}

int api_fcgi_listen(const chat_config *cfg)
{
	const char *where = NULL;
	if (cfg->api.socket && cfg->api.socket[0])
		where = cfg->api.socket;
	else if (cfg->api.listen && cfg->api.listen[0])
		where = cfg->api.listen;
	if (!where) {
		if (FCGX_IsCGI()) {
			chat_log_error("stdin is not a FastCGI socket: start chat-api from the web "
			               "server (mod_fastcgi, mod_fcgid, spawn-fcgi) or give --socket "
			               "PATH or --listen HOST:PORT");
			return -1;
		}
		chat_log_info("serving the FastCGI socket passed on stdin");
		return 0;
	}
	if (where == cfg->api.socket) {
		if (socket_in_use(where)) {
			chat_log_error("%s is in use by another process (another chat-api?)", where);
			return -1;
		}
		(void)unlink(where); /* a stale socket file from an earlier run */
	}
	int fd = FCGX_OpenSocket(where, LISTEN_BACKLOG);
	if (fd < 0) {
		chat_log_errno(CHAT_LOG_ERROR, "cannot listen on %s", where);
		return -1;
	}
	chat_log_info("listening on %s", where);
	return fd;
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	FCGX_Request req;
	chat_err err = CHAT_OK;
	int failures = 0;
	sigset_t wake;

	/* Only SIGUSR1 reaches a worker. */
	sigemptyset(&wake);
	sigaddset(&wake, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &wake, NULL);

	chat_db *db = chat_db_open(w->srv->cfg, &err);
	if (!db) {
		chat_log_error("out of memory opening a database handle");
		goto out;
	}
	if (err != CHAT_OK)
		chat_log_warn("database not reachable yet (%s); requests will retry",
		              chat_db_error(db));
	if (FCGX_InitRequest(&req, w->fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		chat_log_error("FCGX_InitRequest failed");
		goto out;
	}
	while (!atomic_load(&stopping)) {
		atomic_store(&w->waiting, true);
		int rc = FCGX_Accept_r(&req);
		atomic_store(&w->waiting, false);
		if (rc < 0) {
			if (atomic_load(&stopping))
				break;
			if (errno == EINTR)
				continue;
			if (++failures >= MAX_ACCEPT_FAILURES) {
				chat_log_error("accept keeps failing; stopping");
				kill(getpid(), SIGTERM);
				break;
			}
			struct timespec ts = {0, 50 * 1000 * 1000};
			nanosleep(&ts, NULL);
			continue;
		}
		failures = 0;
		api_req r;
		api_req_init(&r, w->srv, &req, db);
		api_dispatch(&r);
		api_req_clear(&r);
		FCGX_Finish_r(&req);
	}
	FCGX_Finish_r(&req);
	FCGX_Free(&req, 0);
out:
	chat_db_close(db);
	chat_db_thread_end();
	atomic_store(&w->done, true);
	return NULL;
}

int api_fcgi_serve(const api_server *srv, int fd, int threads)
{
	sigset_t set;
	struct sigaction sa;
	int rc = 0, sig = 0;
	worker *ws = calloc((size_t)threads, sizeof(*ws));
	if (!ws) {
		chat_log_error("out of memory");
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_wake; /* no SA_RESTART: accept() must return EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Workers inherit this mask: the main thread alone takes TERM/INT/HUP. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigdelset(&set, SIGUSR1);

	for (int i = 0; i < threads; i++) {
		ws[i].fd = fd;
		ws[i].srv = srv;
		if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) != 0) {
			chat_log_errno(CHAT_LOG_ERROR, "cannot start worker thread %d", i);
			rc = 1;
			break;
		}
		ws[i].started = true;
	}
	if (rc == 0)
		chat_log_info("chat-api ready: %d worker thread%s", threads, threads == 1 ? "" : "s");

	while (rc == 0) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			chat_log_reopen();
			continue;
		}
		chat_log_info("signal %d: finishing requests in progress, then exiting", sig);
		break;
	}

	atomic_store(&stopping, true);
	FCGX_ShutdownPending();
	for (;;) {
		bool all_done = true;
		for (int i = 0; i < threads; i++) {
			if (!ws[i].started || atomic_load(&ws[i].done))
				continue;
			all_done = false;
			if (atomic_load(&ws[i].waiting))
				pthread_kill(ws[i].thread, SIGUSR1);
		}
		if (all_done)
			break;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < threads; i++)
		if (ws[i].started)
			pthread_join(ws[i].thread, NULL);
	free(ws);
	return rc;
}
