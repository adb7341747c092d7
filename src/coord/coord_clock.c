/* Clock agreement: offsets from round trips and one-way messages, and which clock a majority
 * disowns. */
#include "coord_clock.h"

#include <stdlib.h>
#include <string.h>

bool coord_clock_exchange(uint64_t t0_ms, uint64_t server_ms, uint64_t t1_ms,
			  coord_clock_sample_t *out)
{
	if (out == NULL || t1_ms < t0_ms) {
		return false;
	}
	uint64_t rtt = t1_ms - t0_ms;
	uint64_t mid = t0_ms + rtt / 2u;
	out->offset_ms = (int64_t)(server_ms - mid); /* two's complement: negative when behind */
	out->error_ms = (rtt + 1u) / 2u;
	return true;
}

coord_clock_sample_t coord_clock_oneway(uint64_t sent_ms, uint64_t recv_ms)
{
	coord_clock_sample_t s = {.offset_ms = (int64_t)(sent_ms - recv_ms), .error_ms = 0};
	return s;
}

static int clock_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y ? 1 : 0;
}

/* Whether a clock at x (+- e) lies outside [lo - limit, hi + limit] beyond its error. */
static bool clock_outside(int64_t x, uint64_t e, int64_t lo, int64_t hi, uint64_t limit)
{
	return x - (int64_t)e > hi + (int64_t)limit || x + (int64_t)e < lo - (int64_t)limit;
}

bool coord_clock_judge(const coord_clock_sample_t *s, size_t n, uint64_t limit_ms,
		       coord_clock_verdict_t *out)
{
	int64_t v[COORD_CLOCK_MAX + 1];
	if (out == NULL || n > COORD_CLOCK_MAX || (s == NULL && n > 0)) {
		return false;
	}
	memset(out, 0, sizeof(*out));
	size_t k = 0;
	v[k++] = 0; /* ours */
	for (size_t i = 0; i < n; i++) {
		if (s[i].error_ms < limit_ms) {
			v[k++] = s[i].offset_ms;
		}
	}
	out->used = k - 1;
	for (size_t i = 0; i < n; i++) {
		out->peer_far[i] = s[i].error_ms < limit_ms &&
				   clock_outside(s[i].offset_ms, s[i].error_ms, 0, 0, limit_ms);
	}
	if (k < 3) {
		return true; /* one against one: nobody can be blamed */
	}
	qsort(v, k, sizeof(v[0]), clock_cmp);
	/* the median band: one value when k is odd, the two middle ones when even */
	int64_t lo = v[(k - 1) / 2], hi = v[k / 2];
	out->decidable = true;
	out->offset_ms = 0 < lo ? -lo : 0 > hi ? -hi : 0;
	out->skewed = clock_outside(0, 0, lo, hi, limit_ms);
	for (size_t i = 0; i < n; i++) {
		out->peer_skewed[i] =
		    s[i].error_ms < limit_ms &&
		    clock_outside(s[i].offset_ms, s[i].error_ms, lo, hi, limit_ms);
	}
	return true;
}
