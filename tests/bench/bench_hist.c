/* Log-bucketed histogram; see bench_hist.h. */
#include "bench_hist.h"

#include <string.h>

void bench_hist_init(bench_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min_ns = UINT64_MAX;
}

/* Bucket of a value: values below BENCH_HIST_SUB map to themselves; above,
 * the position of the highest set bit picks the row and the next
 * BENCH_HIST_SUB_BITS bits the column. */
static unsigned bucket_of(uint64_t v)
{
	if (v < BENCH_HIST_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	if (msb > BENCH_HIST_MAX_BITS)
		return BENCH_HIST_BUCKETS - 1;
	unsigned row = msb - BENCH_HIST_SUB_BITS + 1;
	unsigned col = (unsigned)(v >> (msb - BENCH_HIST_SUB_BITS)) & (BENCH_HIST_SUB - 1);
	unsigned b = row * BENCH_HIST_SUB + col;
	return b < BENCH_HIST_BUCKETS ? b : BENCH_HIST_BUCKETS - 1;
}

/* The largest value that maps to bucket b. */
static uint64_t bucket_upper(unsigned b)
{
	if (b < BENCH_HIST_SUB)
		return b;
	unsigned row = b / BENCH_HIST_SUB, col = b % BENCH_HIST_SUB;
	unsigned msb = row + BENCH_HIST_SUB_BITS - 1;
	uint64_t base = (uint64_t)(BENCH_HIST_SUB + col) << (msb - BENCH_HIST_SUB_BITS);
	return base + ((uint64_t)1 << (msb - BENCH_HIST_SUB_BITS)) - 1;
}

void bench_hist_add(bench_hist *h, int64_t ns)
{
	uint64_t v = ns < 0 ? 0 : (uint64_t)ns;
	h->bucket[bucket_of(v)]++;
	h->count++;
	h->sum_ns += (double)v;
	if (v < h->min_ns)
		h->min_ns = v;
	if (v > h->max_ns)
		h->max_ns = v;
}

void bench_hist_merge(bench_hist *dst, const bench_hist *src)
{
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
	dst->count += src->count;
	dst->sum_ns += src->sum_ns;
	if (src->count && src->min_ns < dst->min_ns)
		dst->min_ns = src->min_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
}

uint64_t bench_hist_quantile(const bench_hist *h, double q)
{
	if (!h->count)
		return 0;
	if (q >= 1.0)
		return h->max_ns;
	/* rank of the wanted value, 1-based, rounded up */
	uint64_t rank = (uint64_t)(q * (double)h->count);
	if ((double)rank < q * (double)h->count)
		rank++;
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned b = 0; b < BENCH_HIST_BUCKETS; b++) {
		seen += h->bucket[b];
		if (seen >= rank) {
			uint64_t up = bucket_upper(b);
			return up < h->max_ns ? up : h->max_ns;
		}
	}
	return h->max_ns;
}
