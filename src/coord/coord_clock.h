/* Clock agreement: offsets from round trips and one-way messages, and which clock a majority
 * disowns. */
#ifndef COORD_CLOCK_H
#define COORD_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Safety (DESIGN.md invariant 1) assumes the coordinators' clocks agree within the drift
 * margin. A coordinator measures the other clocks it can see: the other coordinators by
 * round trips (NTP-style: offset = server - (t0 + t1) / 2, within +-(t1 - t0) / 2) and the
 * nodes it hears from by one way (offset = sent - received, low by the unknown transit
 * time). coord_clock_judge then takes the median of all these clocks and its own as the
 * reference: a clock outside [median - limit, median + limit] is skewed. With an even
 * number of clocks the band runs from the lower to the upper middle value, so a tie (one
 * against one, two against two) blames nobody. Fewer than three clocks decide nothing.
 * Pure functions: no clock is read here (docs/coordinator.md, "Clocks").
 */

/* Most clocks one judgement takes, besides one's own. */
#define COORD_CLOCK_MAX 48u

/* One measured clock: its offset from ours, and how sure we are. */
typedef struct coord_clock_sample {
	int64_t offset_ms; /* that clock minus ours */
	uint64_t error_ms; /* the true offset lies within offset_ms +- error_ms */
} coord_clock_sample_t;

/*
 * The sample of one round trip: we sent at t0_ms and got the answer at t1_ms (our clock),
 * the other side read server_ms (its clock) in between. Returns false (nothing written)
 * when t1_ms < t0_ms (our clock stepped back: no measurement).
 */
bool coord_clock_exchange(uint64_t t0_ms, uint64_t server_ms, uint64_t t1_ms,
			  coord_clock_sample_t *out);

/* The sample of a one-way message sent at sent_ms (its clock), received at recv_ms (ours):
 * error 0, though the true offset is higher by the transit time. */
coord_clock_sample_t coord_clock_oneway(uint64_t sent_ms, uint64_t recv_ms);

/* The judgement of coord_clock_judge. */
typedef struct coord_clock_verdict {
	bool decidable;    /* three clocks or more (ours included) were usable */
	bool skewed;       /* ours lies outside the majority's band */
	int64_t offset_ms; /* ours minus the nearest edge of the median band (0 inside it, or
			      when not decidable) */
	size_t used;       /* samples counted (those with error_ms < limit_ms) */
	bool peer_skewed[COORD_CLOCK_MAX]; /* sample i's clock lies outside the band, beyond
					     its error */
	bool peer_far[COORD_CLOCK_MAX];    /* sample i differs from ours by more than the
					     limit beyond its error (whoever is wrong) */
} coord_clock_verdict_t;

/*
 * Judges n samples (n <= COORD_CLOCK_MAX) and our own clock (offset 0, error 0) against
 * limit_ms (the coordinator uses half the drift margin). A sample whose error_ms is
 * limit_ms or more is too uncertain and is not counted. Writes *out; returns false
 * (nothing written) when n > COORD_CLOCK_MAX, s is NULL with n > 0, or out is NULL.
 */
bool coord_clock_judge(const coord_clock_sample_t *s, size_t n, uint64_t limit_ms,
		       coord_clock_verdict_t *out);

#endif
