/* tandemd's lease watch: a thread that says "stop publishing" the moment a lease's deadline
 * passes, whatever the main loop is waiting for (an unanswered coordinator, the HSM). */
#ifndef TANDEMD_WATCH_H
#define TANDEMD_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TDM_WATCH_SLOTS 1024 /* one per zone (COORD_ZONES_MAX) */

/*
 * Called on the watch's thread when slot's deadline passes while armed, once per arming:
 * the caller logs the stop there. epoch and deadline_wall_ms are what tdm_watch_arm was
 * given.
 */
typedef void (*tdm_watch_fn)(void *arg, size_t slot, uint64_t epoch, uint64_t deadline_wall_ms);

typedef struct tdm_watch tdm_watch_t;

/* Starts the watch's thread. fn and arg must outlive the watch. Errors: TANDEM_ENOMEM. */
int tdm_watch_start(tdm_watch_fn fn, void *arg, tdm_watch_t **out);

/*
 * Arms slot (a zone) with its deadline on CLOCK_MONOTONIC (milliseconds) and, for the log,
 * the same deadline on the wall clock and the lease epoch; re-arming replaces the deadline
 * and forgets an earlier firing.
 */
void tdm_watch_arm(tdm_watch_t *w, size_t slot, uint64_t deadline_mono_ms,
		   uint64_t deadline_wall_ms, uint64_t epoch);

/* Disarms slot. Returns true when its deadline had fired since it was armed (the stop was
 * logged then: the caller need not log it again). NULL-safe (returns false). */
bool tdm_watch_disarm(tdm_watch_t *w, size_t slot);

/* Stops and joins the thread, frees w; NULL-safe. */
void tdm_watch_stop(tdm_watch_t *w);

#endif
