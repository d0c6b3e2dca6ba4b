/* A log-bucketed histogram of durations in nanoseconds, for latency
 * percentiles. Each power of two is split into BENCH_HIST_SUB sub-buckets,
 * so a reported percentile is within 1/16 (6.25 %) of the true value. The
 * struct is plain data of fixed size: it is copied through a pipe from the
 * worker processes and merged by adding the counts. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define BENCH_HIST_SUB_BITS 4
#define BENCH_HIST_SUB (1u << BENCH_HIST_SUB_BITS)
/* 2^42 ns is about 73 minutes: longer values land in the last bucket. */
#define BENCH_HIST_MAX_BITS 42
#define BENCH_HIST_BUCKETS ((BENCH_HIST_MAX_BITS + 1) * BENCH_HIST_SUB)

typedef struct bench_hist {
	uint64_t count;
	uint64_t min_ns;
	uint64_t max_ns;
	double sum_ns;
	uint64_t bucket[BENCH_HIST_BUCKETS];
} bench_hist;

/* Empty the histogram. */
void bench_hist_init(bench_hist *h);

/* Count one value (negative durations, from clock skew, count as 0). */
void bench_hist_add(bench_hist *h, int64_t ns);

/* Add every count of src into dst. */
void bench_hist_merge(bench_hist *dst, const bench_hist *src);

/* The value at quantile q (0..1): the upper edge of the bucket holding it,
 * capped by the exact maximum. 0 when the histogram is empty. */
uint64_t bench_hist_quantile(const bench_hist *h, double q);

#endif
