/* chat-bench: parent process. Forks the workers, starts them together,
 * samples the server's memory, merges the results and reports them as a
 * readable summary and one final JSON line. */
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

int bench_write_full(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int bench_read_full(int fd, void *buf, size_t n)
{
	char *p = buf;
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* VmRSS of a process in KiB, or -1. */
static long rss_kb(int pid)
{
	char path[64], line[256];
	long kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6)) {
			kb = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

static long rss_total(const bench_opts *o)
{
	long sum = 0;
	for (unsigned i = 0; i < o->npids; i++) {
		long v = rss_kb(o->pids[i]);
		if (v < 0)
			return -1;
		sum += v;
	}
	return o->npids ? sum : -1;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -1;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		return -1;
	return (int)(rl.rlim_cur > 1000000000 ? 1000000000 : rl.rlim_cur);
}

static void merge(bench_result *dst, const bench_result *s)
{
	dst->attempted += s->attempted;
	dst->upgraded += s->upgraded;
	dst->ready += s->ready;
	dst->failed += s->failed;
	dst->dropped += s->dropped;
	for (unsigned i = 0; i < BENCH_MAX_CAUSES && s->cause[i].count; i++)
		for (uint64_t k = 0; k < s->cause[i].count; k++)
			bench_result_cause(dst, s->cause[i].text);
	bench_hist_merge(&dst->connect, &s->connect);
	bench_hist_merge(&dst->latency, &s->latency);
	bench_hist_merge(&dst->ack, &s->ack);
	dst->sent += s->sent;
	dst->acked += s->acked;
	dst->stored += s->stored;
	dst->delivered += s->delivered;
	dst->delivered_unique += s->delivered_unique;
	dst->expected += s->expected;
	dst->lost += s->lost;
	dst->duplicated += s->duplicated;
	dst->out_of_order_seq += s->out_of_order_seq;
	dst->out_of_order_id += s->out_of_order_id;
	dst->foreign += s->foreign;
	dst->error_frames += s->error_frames;
	dst->rate_limited += s->rate_limited;
	dst->other_frames += s->other_frames;
	dst->senders += s->senders;
	dst->receivers += s->receivers;
	if (!dst->t_go || (s->t_go && s->t_go < dst->t_go))
		dst->t_go = s->t_go;
	if (s->t_send_end > dst->t_send_end)
		dst->t_send_end = s->t_send_end;
	if (s->t_last_ack > dst->t_last_ack)
		dst->t_last_ack = s->t_last_ack;
	if (s->t_last_delivery > dst->t_last_delivery)
		dst->t_last_delivery = s->t_last_delivery;
	if (s->t_end > dst->t_end)
		dst->t_end = s->t_end;
	dst->cpu_user += s->cpu_user;
	dst->cpu_sys += s->cpu_sys;
	if (s->maxrss_kb > dst->maxrss_kb)
		dst->maxrss_kb = s->maxrss_kb;
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static json_object *jdouble(double v)
{
	/* three decimals are plenty and keep the line readable */
	return json_object_new_double((double)(int64_t)(v * 1000.0 + (v < 0 ? -0.5 : 0.5)) / 1000.0);
}

static json_object *hist_json(const bench_hist *h, int full)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "count", json_object_new_int64((int64_t)h->count));
	json_object_object_add(o, "p50", jdouble(ms(bench_hist_quantile(h, 0.50))));
	if (full)
		json_object_object_add(o, "p90", jdouble(ms(bench_hist_quantile(h, 0.90))));
	json_object_object_add(o, "p99", jdouble(ms(bench_hist_quantile(h, 0.99))));
	if (full)
		json_object_object_add(o, "p99_9", jdouble(ms(bench_hist_quantile(h, 0.999))));
	json_object_object_add(o, "max", jdouble(ms(h->max_ns)));
	json_object_object_add(o, "mean", jdouble(h->count ? h->sum_ns / (double)h->count / 1e6 : 0));
	return o;
}

static void print_hist(const char *name, const bench_hist *h)
{
	printf("  %-10s n=%" PRIu64 "  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms\n", name,
	       h->count, ms(bench_hist_quantile(h, 0.5)), ms(bench_hist_quantile(h, 0.9)),
	       ms(bench_hist_quantile(h, 0.99)), ms(bench_hist_quantile(h, 0.999)), ms(h->max_ns));
}

#define ADD_INT(obj, k, v) json_object_object_add(obj, k, json_object_new_int64((int64_t)(v)))

int main(int argc, char **argv)
{
	bench_opts o;
	bench_result total;
	bench_result *res = NULL;
	pid_t *pids = NULL;
	int *ctl = NULL, *rfd = NULL;
	int rc = 1;

	bench_opts_parse(&o, argc, argv);
	signal(SIGPIPE, SIG_IGN);
	int nofile = raise_nofile();
	unsigned per_worker = o.mode == BENCH_CONNECT ? (o.connections + o.procs - 1) / o.procs
		: (unsigned)((o.nrooms + o.procs - 1) / o.procs) * o.clients;
	if (nofile > 0 && per_worker + 64 > (unsigned)nofile)
		fprintf(stderr, "chat-bench: warning: %u connections per worker but the fd limit is %d; "
			"use more --procs\n", per_worker, nofile);

	res = calloc(o.procs, sizeof(*res));
	pids = calloc(o.procs, sizeof(*pids));
	ctl = calloc(o.procs, sizeof(*ctl));
	rfd = calloc(o.procs, sizeof(*rfd));
	if (!res || !pids || !ctl || !rfd)
		goto out;

	long rss_before = rss_total(&o);
	fflush(NULL);
	for (unsigned w = 0; w < o.procs; w++) {
		int c[2], r[2];
		if (pipe(c) || pipe(r))
			goto out;
		pid_t pid = fork();
		if (pid < 0)
			goto out;
		if (pid == 0) {
			close(c[1]);
			close(r[0]);
			/* other workers' pipes are not ours to hold */
			for (unsigned k = 0; k < w; k++) {
				close(ctl[k]);
				close(rfd[k]);
			}
			_exit(bench_worker_run(&o, w, c[0], r[1]));
		}
		close(c[0]);
		close(r[1]);
		pids[w] = pid;
		ctl[w] = c[1];
		rfd[w] = r[0];
	}

	/* every worker settled: connected or failed */
	int64_t t0 = bench_now_ns();
	for (unsigned w = 0; w < o.procs; w++) {
		char ch;
		if (bench_read_full(rfd[w], &ch, 1) || ch != 'R') {
			fprintf(stderr, "chat-bench: worker %u died while connecting\n", w);
			goto out;
		}
	}
	double connect_s = (double)(bench_now_ns() - t0) / 1e9;
	long rss_ready = rss_total(&o);
	for (unsigned w = 0; w < o.procs; w++)
		if (bench_write_full(ctl[w], "G", 1))
			goto out;
	long rss_after = rss_ready;
	if (o.mode == BENCH_CONNECT) {
		sleep_s(o.duration);
		rss_after = rss_total(&o);
		for (unsigned w = 0; w < o.procs; w++)
			if (bench_write_full(ctl[w], "S", 1))
				goto out;
	}
	memset(&total, 0, sizeof(total));
	bench_hist_init(&total.connect);
	bench_hist_init(&total.latency);
	bench_hist_init(&total.ack);
	for (unsigned w = 0; w < o.procs; w++) {
		if (bench_read_full(rfd[w], &res[w], sizeof(res[w]))) {
			fprintf(stderr, "chat-bench: worker %u died\n", w);
			goto out;
		}
		merge(&total, &res[w]);
	}
	double worst_cpu_pct = 0;
	for (unsigned w = 0; w < o.procs; w++) {
		double span = (double)(res[w].t_end - res[w].t_go) / 1e9;
		double pct = span > 0 ? 100.0 * (res[w].cpu_user + res[w].cpu_sys) / span : 0;
		if (pct > worst_cpu_pct)
			worst_cpu_pct = pct;
	}
	for (unsigned w = 0; w < o.procs; w++) {
		int st;
		waitpid(pids[w], &st, 0);
		pids[w] = 0;
	}

	/* figures */
	uint64_t ooo = total.out_of_order_seq + total.out_of_order_id;
	double send_s = (double)(total.t_send_end - total.t_go) / 1e9;
	double deliv_span = (double)(total.t_last_delivery - total.t_go) / 1e9;
	double ack_span = (double)(total.t_last_ack - total.t_go) / 1e9;
	double deliveries_ps = deliv_span > 0 ? (double)total.delivered / deliv_span : 0;
	double messages_ps = ack_span > 0 ? (double)total.stored / ack_span : 0;
	double run_span = (double)(total.t_end - total.t_go) / 1e9;
	double cpu = total.cpu_user + total.cpu_sys;
	long rss_delta = rss_before >= 0 && rss_after >= 0 ? rss_after - rss_before : -1;
	double bytes_per_conn = rss_delta >= 0 && total.ready ? (double)rss_delta * 1024.0 / (double)total.ready : -1;
	/* Sent and neither echoed (stored) nor refused with an error frame by
	 * the end of the drain: a message the server lost track of. */
	uint64_t unanswered = total.sent > total.acked + total.error_frames
	                              ? total.sent - total.acked - total.error_frames : 0;
	int ok;
	if (o.mode == BENCH_FANOUT)
		ok = total.lost == 0 && total.duplicated == 0 && ooo == 0 && total.failed == 0 &&
		     total.stored > 0 && total.dropped == 0 && unanswered == 0;
	else
		ok = total.ready == o.connections && total.dropped == 0;

	if (!o.quiet) {
		printf("chat-bench %s: ws://%s:%d%s, %u worker process(es)\n",
		       o.mode == BENCH_CONNECT ? "connect" : "fanout", o.host, o.port, o.path_prefix, o.procs);
		printf("connections: %" PRIu64 " attempted, %" PRIu64 " upgraded, %" PRIu64
		       " ready, %" PRIu64 " failed, %" PRIu64 " dropped (settled in %.1f s)\n",
		       total.attempted, total.upgraded, total.ready, total.failed, total.dropped, connect_s);
		for (unsigned i = 0; i < BENCH_MAX_CAUSES && total.cause[i].count; i++)
			printf("  %8" PRIu64 " x %s\n", total.cause[i].count, total.cause[i].text);
		print_hist("connect", &total.connect);
		if (o.npids)
			printf("server RSS: %ld KiB before, %ld KiB connected, %ld KiB at the end; %.0f bytes per connection\n",
			       rss_before, rss_ready, rss_after, bytes_per_conn);
		if (o.mode == BENCH_FANOUT) {
			printf("fanout: %zu rooms x %u clients, %u senders/room, rate %g/s, window %u, %.1f s\n",
			       o.nrooms, o.clients, o.senders, o.rate, o.window, send_s);
			printf("  sent %" PRIu64 ", stored %" PRIu64 " (acked %" PRIu64 "), unanswered %" PRIu64
			       ", delivered %" PRIu64 " of %" PRIu64 " expected\n",
			       total.sent, total.stored, total.acked, unanswered, total.delivered,
			       total.expected);
			printf("  lost %" PRIu64 ", duplicated %" PRIu64 ", out of order %" PRIu64
			       " (seq %" PRIu64 ", id %" PRIu64 "), foreign %" PRIu64 ", error frames %" PRIu64
			       " (rate_limited %" PRIu64 ")\n",
			       total.lost, total.duplicated, ooo, total.out_of_order_seq, total.out_of_order_id,
			       total.foreign, total.error_frames, total.rate_limited);
			printf("  %.0f deliveries/s, %.0f stored messages/s\n", deliveries_ps, messages_ps);
			print_hist("latency", &total.latency);
			print_hist("ack", &total.ack);
		}
		printf("tool CPU: %.2f s over %.1f s (busiest worker %.0f%% of a core)%s\n", cpu, run_span,
		       worst_cpu_pct, worst_cpu_pct > 90 ? " -- the tool may be the bottleneck" : "");
		printf("result: %s\n", ok ? "OK" : "FAILED");
	}

	json_c_set_serialization_double_format("%.3f", JSON_C_OPTION_GLOBAL);
	json_object *j = json_object_new_object(), *causes = json_object_new_object();
	json_object_object_add(j, "mode", json_object_new_string(o.mode == BENCH_CONNECT ? "connect" : "fanout"));
	ADD_INT(j, "procs", o.procs);
	ADD_INT(j, "requested", o.mode == BENCH_CONNECT ? o.connections : (unsigned)o.nrooms * o.clients);
	ADD_INT(j, "attempted", total.attempted);
	ADD_INT(j, "upgraded", total.upgraded);
	ADD_INT(j, "ready", total.ready);
	ADD_INT(j, "failed", total.failed);
	ADD_INT(j, "dropped", total.dropped);
	for (unsigned i = 0; i < BENCH_MAX_CAUSES && total.cause[i].count; i++)
		ADD_INT(causes, total.cause[i].text, total.cause[i].count);
	json_object_object_add(j, "failure_causes", causes);
	json_object_object_add(j, "connect_s", jdouble(connect_s));
	json_object_object_add(j, "connect_ms", hist_json(&total.connect, 0));
	ADD_INT(j, "rss_before_kb", rss_before);
	ADD_INT(j, "rss_ready_kb", rss_ready);
	ADD_INT(j, "rss_after_kb", rss_after);
	json_object_object_add(j, "bytes_per_connection", jdouble(bytes_per_conn));
	if (o.mode == BENCH_FANOUT) {
		ADD_INT(j, "rooms", o.nrooms);
		ADD_INT(j, "clients_per_room", o.clients);
		ADD_INT(j, "senders_per_room", o.senders);
		json_object_object_add(j, "rate", jdouble(o.rate));
		ADD_INT(j, "window", o.window);
		json_object_object_add(j, "send_s", jdouble(send_s));
		ADD_INT(j, "sent", total.sent);
		ADD_INT(j, "stored", total.stored);
		ADD_INT(j, "acked", total.acked);
		ADD_INT(j, "delivered", total.delivered);
		ADD_INT(j, "delivered_unique", total.delivered_unique);
		ADD_INT(j, "expected", total.expected);
		ADD_INT(j, "unanswered", unanswered);
		ADD_INT(j, "lost", total.lost);
		ADD_INT(j, "duplicated", total.duplicated);
		ADD_INT(j, "out_of_order", ooo);
		ADD_INT(j, "out_of_order_seq", total.out_of_order_seq);
		ADD_INT(j, "out_of_order_id", total.out_of_order_id);
		ADD_INT(j, "foreign", total.foreign);
		ADD_INT(j, "error_frames", total.error_frames);
		ADD_INT(j, "rate_limited", total.rate_limited);
		json_object_object_add(j, "deliveries_per_s", jdouble(deliveries_ps));
		json_object_object_add(j, "messages_per_s", jdouble(messages_ps));
		json_object_object_add(j, "latency_ms", hist_json(&total.latency, 1));
		json_object_object_add(j, "ack_ms", hist_json(&total.ack, 1));
	}
	json_object_object_add(j, "tool_cpu_s", jdouble(cpu));
	json_object_object_add(j, "tool_busiest_worker_cpu_pct", jdouble(worst_cpu_pct));
	ADD_INT(j, "tool_maxrss_kb", total.maxrss_kb);
	json_object_object_add(j, "ok", json_object_new_boolean(ok));
	printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
	json_object_put(j);
	rc = ok ? 0 : 1;
out:
	for (unsigned w = 0; pids && w < o.procs; w++)
		if (pids[w] > 0) {
			kill(pids[w], SIGTERM);
			waitpid(pids[w], NULL, 0);
		}
	free(res);
	free(pids);
	free(ctl);
	free(rfd);
	bench_opts_free(&o);
	return rc;
}
