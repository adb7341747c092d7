/* tandemd's lease watch: one thread sleeping until the nearest armed deadline. */
#include "tandemd_watch.h"
#include "tandem_clock.h"

#include "tandem_error.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

typedef struct watch_slot {
	bool armed, fired;
	uint64_t deadline_mono, deadline_wall, epoch;
} watch_slot_t;

struct tdm_watch {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* on CLOCK_MONOTONIC */
	bool stop;
	tdm_watch_fn fn;
	void *arg;
	watch_slot_t slots[TDM_WATCH_SLOTS];
};

static void *watch_run(void *arg)
{
	tdm_watch_t *w = arg;
	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		uint64_t now = tandem_mono_ms(), next = UINT64_MAX;
		for (size_t i = 0; i < TDM_WATCH_SLOTS; i++) {
			watch_slot_t *s = &w->slots[i];
			if (!s->armed || s->fired) {
				continue;
			}
			/* coord_lease_may_publish: publishing ends at the deadline itself */
			if (now >= s->deadline_mono) {
				s->fired = true;
				w->fn(w->arg, i, s->epoch, s->deadline_wall);
			} else if (s->deadline_mono < next) {
				next = s->deadline_mono;
			}
		}
		if (next == UINT64_MAX) {
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		struct timespec until = {.tv_sec = (time_t)(next / 1000u),
					 .tv_nsec = (long)(next % 1000u) * 1000000L};
		(void)pthread_cond_timedwait(&w->cv, &w->mu, &until);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int tdm_watch_start(tdm_watch_fn fn, void *arg, tdm_watch_t **out)
{
	tdm_watch_t *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		return TANDEM_ENOMEM;
	}
	w->fn = fn;
	w->arg = arg;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&w->thread, NULL, watch_run, w) != 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return TANDEM_ENOMEM;
	}
	*out = w;
	return TANDEM_OK;
}

void tdm_watch_arm(tdm_watch_t *w, size_t slot, uint64_t deadline_mono_ms,
		   uint64_t deadline_wall_ms, uint64_t epoch)
{
	if (w == NULL || slot >= TDM_WATCH_SLOTS) {
		return;
	}
	pthread_mutex_lock(&w->mu);
	w->slots[slot] = (watch_slot_t){.armed = true,
					.deadline_mono = deadline_mono_ms,
					.deadline_wall = deadline_wall_ms,
					.epoch = epoch};
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

bool tdm_watch_disarm(tdm_watch_t *w, size_t slot)
{
	if (w == NULL || slot >= TDM_WATCH_SLOTS) {
		return false;
	}
	pthread_mutex_lock(&w->mu);
	bool fired = w->slots[slot].armed && w->slots[slot].fired;
	w->slots[slot] = (watch_slot_t){0};
	pthread_mutex_unlock(&w->mu);
	return fired;
}

void tdm_watch_stop(tdm_watch_t *w)
{
	if (w == NULL) {
		return;
	}
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
