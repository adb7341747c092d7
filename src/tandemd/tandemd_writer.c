/* tandemd's signed-zone files, written off the cycle by one thread, the newest version wins. */
#include "tandemd_writer.h"
#include "tandem_clock.h"

#include "tandem_error.h"
#include "tandem_fault.h"
#include "tandem_file.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef struct writer_slot {
	/* the request waiting (zone NULL: none); borrowed */
	const dns_zone_t *want;
	uint32_t want_serial;
	char want_path[PATH_MAX];
	/* the write under way (zone NULL: none); borrowed unless owned */
	const dns_zone_t *cur;
	bool cur_owned; /* released by the caller while written: cur_owner dropped here */
	void *cur_owner;
	tdm_writer_state_t st;
} writer_slot_t;

struct tdm_writer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;   /* a request came, or stop */
	pthread_cond_t idle; /* a write ended */
	bool stop, exited;
	uint64_t delay_ms;
	tdm_writer_drop_fn drop; /* NULL: owners are the zones */
	size_t n;
	writer_slot_t *slots; /* n, owned */
};

int tdm_writer_write_file(const dns_zone_t *zone, const char *path)
{
	tandem_afile_t *f = NULL;
	errno = 0;
	int ret = tandem_afile_open(path, 0644, &f);
	if (ret != TANDEM_OK) {
		return errno != 0 ? errno : EIO;
	}
	ret = dns_zone_write(zone, tandem_afile_stream(f));
	if (ret == TANDEM_OK && fflush(tandem_afile_stream(f)) != 0) {
		ret = TANDEM_EIO;
	}
	int err = ret == TANDEM_OK ? 0 : errno != 0 ? errno : EIO;
	if (ret != TANDEM_OK) {
		tandem_afile_abort(f); /* nothing half-written is left, the old file stays */
		return err;
	}
	tandem_fault("writer-written"); /* written and flushed, not yet renamed */
	errno = 0;
	if (tandem_afile_commit(f) != TANDEM_OK) {
		return errno != 0 ? errno : EIO;
	}
	return 0;
}

static void writer_drop(const tdm_writer_t *w, void *owner)
{
	if (w->drop != NULL) {
		w->drop(owner);
	} else {
		dns_zone_free(owner);
	}
}

static void *writer_run(void *arg)
{
	tdm_writer_t *w = arg;
	/* the runs come first: this thread only writes files that already are published */
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 5);
	pthread_mutex_lock(&w->mu);
	for (;;) {
		writer_slot_t *s = NULL;
		for (size_t i = 0; i < w->n && s == NULL; i++) {
			if (w->slots[i].want != NULL) {
				s = &w->slots[i];
			}
		}
		if (s == NULL) {
			if (w->stop) {
				break;
			}
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		char path[PATH_MAX];
		s->cur = s->want;
		s->cur_owned = false;
		uint32_t serial = s->want_serial;
		memcpy(path, s->want_path, sizeof(path));
		s->want = NULL;
		pthread_mutex_unlock(&w->mu);
		uint64_t t0 = tandem_mono_ms();
		if (w->delay_ms > 0) {
			struct timespec d = {(time_t)(w->delay_ms / 1000u),
					     (long)(w->delay_ms % 1000u) * 1000000L};
			nanosleep(&d, NULL);
		}
		int err = tdm_writer_write_file(s->cur, path);
		uint64_t t1 = tandem_mono_ms();
		pthread_mutex_lock(&w->mu);
		if (s->cur_owned) {
			writer_drop(w, s->cur_owner);
		}
		s->cur = NULL;
		s->cur_owner = NULL;
		s->cur_owned = false;
		s->st.done++;
		s->st.ok = err == 0;
		s->st.err = err;
		s->st.serial = serial;
		memcpy(s->st.path, path, sizeof(s->st.path));
		s->st.seconds = (double)(t1 - t0) / 1e3;
		pthread_cond_broadcast(&w->idle);
	}
	w->exited = true;
	pthread_cond_broadcast(&w->idle);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int tdm_writer_new(size_t nslots, uint64_t delay_ms, tdm_writer_drop_fn drop, tdm_writer_t **out)
{
	if (out == NULL || nslots == 0) {
		return TANDEM_EINVAL;
	}
	tdm_writer_t *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		return TANDEM_ENOMEM;
	}
	w->slots = calloc(nslots, sizeof(*w->slots));
	w->n = nslots;
	w->delay_ms = delay_ms;
	w->drop = drop;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	pthread_cond_init(&w->idle, &ca);
	pthread_condattr_destroy(&ca);
	if (w->slots == NULL || pthread_create(&w->thread, NULL, writer_run, w) != 0) {
		pthread_cond_destroy(&w->idle);
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w->slots);
		free(w);
		return TANDEM_ENOMEM;
	}
	*out = w;
	return TANDEM_OK;
}

void tdm_writer_submit(tdm_writer_t *w, size_t slot, const char *path, const dns_zone_t *zone,
		       uint32_t serial)
{
	if (w == NULL || slot >= w->n || zone == NULL || path == NULL) {
		return;
	}
	pthread_mutex_lock(&w->mu);
	writer_slot_t *s = &w->slots[slot];
	s->want = zone;
	s->want_serial = serial;
	snprintf(s->want_path, sizeof(s->want_path), "%s", path);
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

bool tdm_writer_release(tdm_writer_t *w, size_t slot, const dns_zone_t *zone, void *owner)
{
	if (w == NULL || slot >= w->n || zone == NULL) {
		return false;
	}
	bool taken = false;
	pthread_mutex_lock(&w->mu);
	writer_slot_t *s = &w->slots[slot];
	if (s->want == zone) {
		s->want = NULL;
	}
	if (s->cur == zone) {
		s->cur_owned = true;
		s->cur_owner = owner;
		taken = true;
	}
	pthread_mutex_unlock(&w->mu);
	return taken;
}

void tdm_writer_get(tdm_writer_t *w, size_t slot, tdm_writer_state_t *out)
{
	memset(out, 0, sizeof(*out));
	if (w == NULL || slot >= w->n) {
		return;
	}
	pthread_mutex_lock(&w->mu);
	*out = w->slots[slot].st;
	out->busy = w->slots[slot].want != NULL || w->slots[slot].cur != NULL;
	out->writing = w->slots[slot].cur;
	pthread_mutex_unlock(&w->mu);
}

bool tdm_writer_free(tdm_writer_t *w, uint64_t wait_ms)
{
	if (w == NULL) {
		return true;
	}
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(wait_ms / 1000u);
	until.tv_nsec += (long)(wait_ms % 1000u) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	int rc = 0;
	while (!w->exited && rc != ETIMEDOUT) {
		rc = pthread_cond_timedwait(&w->idle, &w->mu, &until);
	}
	bool exited = w->exited;
	pthread_mutex_unlock(&w->mu);
	if (!exited) {
		return false; /* still writing: left behind, as a hung file system leaves it */
	}
	pthread_join(w->thread, NULL);
	for (size_t i = 0; i < w->n; i++) {
		if (w->slots[i].cur_owned) {
			writer_drop(w, w->slots[i].cur_owner);
		}
	}
	pthread_cond_destroy(&w->idle);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w->slots);
	free(w);
	return true;
}
