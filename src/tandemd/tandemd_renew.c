/* tandemd's renewal thread (tandemd_renew.h): one coord.lease.batch of the due renewals at a
 * time, on its own coordinator clients; the lease table below is its only shared state. */
#include "tandemd_renew.h"

#include "coordrpc.h"
#include "net_rpc.h"
#include "node.h"
#include "tandem_clock.h"
#include "tandem_diag.h"
#include "tandem_error.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RENEW_COORDS_MAX 8

/* One zone's lease as the thread knows it. Under r->mu. */
typedef struct renew_slot {
	bool held;
	char zone[COORD_ZONE_MAX];
	uint64_t epoch;
	uint64_t gen; /* moves at every hold and forget: answers of an older gen are dropped */
	uint64_t lease_ms, margin_ms;
	uint64_t next_mono;    /* the next renewal */
	uint64_t granted_mono; /* the send of the last renewal granted (or the loop's grant) */
	/* answers the loop has not taken */
	bool has_granted, has_refused;
	tdm_renew_answer_t granted, refused;
} renew_slot_t;

struct tdm_renew {
	tdm_renew_cfg_t cfg;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* on CLOCK_MONOTONIC */
	bool stop;
	size_t nslots;
	renew_slot_t *slots;
	bool pending; /* some slot has an answer not taken */
	uint64_t batches, granted_total;
	/* the thread's own, outside mu */
	net_rpc_client_t *cl[RENEW_COORDS_MAX];
	size_t cur;
	int last_error;
	tandem_diag_t *diag;
	coordrpc_decision_t dec;
	coordrpc_lease_item_t *items;
	size_t *item_slot;
	uint64_t *item_gen;
};

static void renew_say(tdm_renew_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void renew_say(tdm_renew_t *r, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (r->cfg.say != NULL) {
		r->cfg.say(r->cfg.say_arg, line);
	}
}

/* Sends the batch to the current coordinator, then the next ones, as the loop's calls do: a
 * refusal for the coordinator's own clock is no answer. */
static int renew_call(tdm_renew_t *r, const coordrpc_request_t *req)
{
	int ret = TANDEM_NET_ETIMEOUT;
	for (size_t n = 0; n < r->cfg.ncoords; n++) {
		size_t i = (r->cur + n) % r->cfg.ncoords;
		if (r->cl[i] == NULL) {
			net_rpc_client_cfg_t cc = {.endpoint = r->cfg.endpoints[i],
						   .server_public = r->cfg.pubs[i],
						   .timeout_ms = r->cfg.timeout_ms,
						   .attempts = 1};
			ret = net_rpc_client_new(r->cfg.zctx, r->cfg.key, &cc, &r->cl[i]);
			if (ret != TANDEM_OK) {
				continue;
			}
		}
		coordrpc_decision_deinit(&r->dec);
		ret = coordrpc_call(r->cl[i], req, r->diag, &r->dec);
		if (ret == TANDEM_OK && !r->dec.accepted && r->dec.reason == COORD_R_CLOCK_SKEW) {
			ret = TANDEM_COORD_EUNAVAIL;
		}
		if (ret == TANDEM_OK) {
			if (r->last_error != TANDEM_OK) {
				renew_say(r, "renewals: coordinator %s answers",
					  r->cfg.endpoints[i]);
			}
			r->cur = i;
			r->last_error = TANDEM_OK;
			tandem_diag_clear(r->diag);
			return TANDEM_OK;
		}
		if (ret == TANDEM_NET_ETIMEOUT) {
			/* its socket may hold the old request */
			net_rpc_client_free(r->cl[i]);
			r->cl[i] = NULL;
		}
	}
	if (ret != r->last_error) {
		renew_say(r, "renewals: no coordinator answered: %s (sent again in %" PRIu64 " ms)",
			  tandem_strerror(ret), r->cfg.retry_ms);
		r->last_error = ret;
	}
	tandem_diag_clear(r->diag);
	return ret;
}

/* Under mu: the due renewals into r->items, each slot's next renewal pushed to the retry (an
 * answer moves it). A slot within a sixth of its lease of its renewal goes along, so that
 * the renewals of zones granted at about the same time travel together. */
static size_t renew_gather(tdm_renew_t *r, uint64_t now, uint64_t *next_due)
{
	size_t n = 0;
	bool any_due = false;
	*next_due = UINT64_MAX;
	for (size_t i = 0; i < r->nslots; i++) {
		const renew_slot_t *s = &r->slots[i];
		any_due = any_due || (s->held && now >= s->next_mono);
	}
	for (size_t i = 0; i < r->nslots; i++) {
		renew_slot_t *s = &r->slots[i];
		if (!s->held) {
			continue;
		}
		bool go = any_due && now + s->lease_ms / 6 >= s->next_mono &&
			  n < COORDRPC_LEASE_BATCH_MAX;
		if (!go) {
			*next_due = s->next_mono < *next_due ? s->next_mono : *next_due;
			continue;
		}
		coordrpc_lease_item_t *it = &r->items[n];
		memset(it, 0, sizeof(*it));
		memcpy(it->zone, s->zone, sizeof(it->zone));
		it->epoch = s->epoch;
		it->renew = true;
		r->item_slot[n] = i;
		r->item_gen[n] = s->gen;
		s->next_mono = now + r->cfg.retry_ms;
		*next_due = s->next_mono < *next_due ? s->next_mono : *next_due;
		n++;
	}
	return n;
}

/* Under mu: the batch's answers into the slots still holding what was sent. */
static void renew_answers(tdm_renew_t *r, size_t n, bool answered, const node_input_t *in,
			  uint64_t sent, uint64_t sent_wall, uint64_t came)
{
	for (size_t k = 0; answered && k < n; k++) {
		renew_slot_t *s = &r->slots[r->item_slot[k]];
		const node_input_t *one = &in[k];
		if (!s->held || s->gen != r->item_gen[k] || !one->lease.answered) {
			continue; /* forgotten or held anew meanwhile: not this lease's answer */
		}
		tdm_renew_answer_t a = {.accepted = one->lease.accepted,
					.reason = one->lease.reason,
					.epoch = one->lease.epoch,
					.sent_mono = sent,
					.sent_wall = sent_wall,
					.answered_mono = came};
		memcpy(a.text, r->dec.leases[k].text, sizeof(a.text));
		r->pending = true;
		if (!a.accepted || a.epoch != s->epoch) {
			/* refused (or, which a coordinator never does, renewed under another
			 * epoch): the loop's node drops the lease; no more renewals */
			a.epoch = s->epoch; /* the epoch it was sent under */
			if (a.accepted) {
				a.accepted = false;
				a.reason = COORD_R_STALE_EPOCH;
				snprintf(a.text, sizeof(a.text), "renewed under epoch %" PRIu64,
					 one->lease.epoch);
			}
			s->refused = a;
			s->has_refused = true;
			s->held = false;
			continue;
		}
		r->granted_total++;
		/* The loop may take several renewals as one: it checks the first answer's time
		 * against the deadline it knows, so the first is kept, unless one came after
		 * its predecessor's deadline (the lease lapsed on this clock meanwhile): then
		 * that one's, which the loop finds late too, and the stop is said there. */
		bool continuous = came < s->granted_mono + s->lease_ms - s->margin_ms;
		if (s->has_granted && continuous) {
			a.answered_mono = s->granted.answered_mono;
		}
		s->granted = a;
		s->has_granted = true;
		s->granted_mono = sent;
		s->next_mono = sent + s->lease_ms / 3;
		/* the deadline moves now, whatever the loop is doing: the watch says the stop
		 * at the new one (under mu: a forget after this disarms it) */
		if (continuous) {
			uint64_t until = s->lease_ms - s->margin_ms;
			tdm_watch_arm(r->cfg.watch, r->item_slot[k], sent + until,
				      sent_wall + until, s->epoch);
		}
	}
}

static uint64_t renew_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void *renew_run(void *arg)
{
	tdm_renew_t *r = arg;
	const char **zones = calloc(COORDRPC_LEASE_BATCH_MAX, sizeof(*zones));
	node_lease_answer_t *ans = calloc(COORDRPC_LEASE_BATCH_MAX, sizeof(*ans));
	node_input_t *in = calloc(COORDRPC_LEASE_BATCH_MAX, sizeof(*in));
	if (zones == NULL || ans == NULL || in == NULL) {
		renew_say(r, "renewals: out of memory: the renewal thread stops");
		free(zones);
		free(ans);
		free(in);
		return NULL;
	}
	pthread_mutex_lock(&r->mu);
	while (!r->stop) {
		uint64_t now = tandem_mono_ms(), next = UINT64_MAX;
		size_t n = renew_gather(r, now, &next);
		if (n == 0) {
			if (next == UINT64_MAX) {
				pthread_cond_wait(&r->cv, &r->mu);
			} else {
				struct timespec until = {.tv_sec = (time_t)(next / 1000u),
							 .tv_nsec =
							     (long)(next % 1000u) * 1000000L};
				(void)pthread_cond_timedwait(&r->cv, &r->mu, &until);
			}
			continue;
		}
		pthread_mutex_unlock(&r->mu);
		coordrpc_request_t req;
		memset(&req, 0, sizeof(req));
		req.kind = COORDRPC_LEASE_BATCH;
		snprintf(req.node, sizeof(req.node), "%s", r->cfg.node);
		snprintf(req.instance, sizeof(req.instance), "%s", r->cfg.instance);
		req.items = r->items;
		req.nitems = n;
		uint64_t sent_wall = renew_wall_ms(); /* first: never a late deadline */
		uint64_t sent = tandem_mono_ms();     /* every deadline counts from the send */
		bool answered = renew_call(r, &req) == TANDEM_OK;
		uint64_t came = tandem_mono_ms();
		for (size_t k = 0; k < n; k++) {
			zones[k] = r->items[k].zone;
			if (answered && k < r->dec.nleases) {
				const coordrpc_lease_result_t *l = &r->dec.leases[k];
				ans[k] = (node_lease_answer_t){l->zone, l->accepted, l->reason,
							       l->epoch};
			}
		}
		if (answered &&
		    !node_lease_batch_replies(zones, n, ans, r->dec.nleases, sent, in)) {
			renew_say(r,
				  "renewals: the answer is not one result per zone, in order (%zu "
				  "for %zu): taken as no answer",
				  r->dec.nleases, n);
			answered = false;
		}
		pthread_mutex_lock(&r->mu);
		r->batches++;
		renew_answers(r, n, answered, in, sent, sent_wall, came);
	}
	pthread_mutex_unlock(&r->mu);
	free(zones);
	free(ans);
	free(in);
	return NULL;
}

int tdm_renew_start(const tdm_renew_cfg_t *cfg, size_t nslots, tdm_renew_t **out)
{
	if (cfg->ncoords == 0 || cfg->ncoords > RENEW_COORDS_MAX || nslots == 0) {
		return TANDEM_EINVAL;
	}
	tdm_renew_t *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		return TANDEM_ENOMEM;
	}
	r->cfg = *cfg;
	r->nslots = nslots;
	r->slots = calloc(nslots, sizeof(*r->slots));
	r->items = calloc(COORDRPC_LEASE_BATCH_MAX, sizeof(*r->items));
	r->item_slot = calloc(COORDRPC_LEASE_BATCH_MAX, sizeof(*r->item_slot));
	r->item_gen = calloc(COORDRPC_LEASE_BATCH_MAX, sizeof(*r->item_gen));
	if (r->slots == NULL || r->items == NULL || r->item_slot == NULL || r->item_gen == NULL ||
	    tandem_diag_new(&r->diag) != TANDEM_OK) {
		tandem_diag_free(r->diag);
		free(r->slots);
		free(r->items);
		free(r->item_slot);
		free(r->item_gen);
		free(r);
		return TANDEM_ENOMEM;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&r->thread, NULL, renew_run, r) != 0) {
		pthread_cond_destroy(&r->cv);
		pthread_mutex_destroy(&r->mu);
		tandem_diag_free(r->diag);
		free(r->slots);
		free(r->items);
		free(r->item_slot);
		free(r->item_gen);
		free(r);
		return TANDEM_ENOMEM;
	}
	*out = r;
	return TANDEM_OK;
}

void tdm_renew_stop(tdm_renew_t *r)
{
	if (r == NULL) {
		return;
	}
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	for (size_t i = 0; i < RENEW_COORDS_MAX; i++) {
		net_rpc_client_free(r->cl[i]);
	}
	coordrpc_decision_deinit(&r->dec);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	tandem_diag_free(r->diag);
	free(r->slots);
	free(r->items);
	free(r->item_slot);
	free(r->item_gen);
	free(r);
}

void tdm_renew_hold(tdm_renew_t *r, size_t slot, const char *zone, uint64_t epoch,
		    uint64_t granted_mono, uint64_t lease_ms, uint64_t margin_ms)
{
	if (r == NULL || slot >= r->nslots) {
		return;
	}
	pthread_mutex_lock(&r->mu);
	renew_slot_t *s = &r->slots[slot];
	if (!s->held || s->epoch != epoch) {
		*s = (renew_slot_t){.gen = s->gen + 1};
		snprintf(s->zone, sizeof(s->zone), "%s", zone);
	}
	s->held = true;
	s->epoch = epoch;
	s->lease_ms = lease_ms;
	s->margin_ms = margin_ms;
	if (granted_mono > s->granted_mono) {
		s->granted_mono = granted_mono;
	}
	uint64_t next = granted_mono + lease_ms / 3;
	/* the loop's grant is this thread's own renewal, or a newer request's */
	if (s->next_mono == 0 || next > s->next_mono) {
		s->next_mono = next;
	}
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

void tdm_renew_forget(tdm_renew_t *r, size_t slot)
{
	if (r == NULL || slot >= r->nslots) {
		return;
	}
	pthread_mutex_lock(&r->mu);
	renew_slot_t *s = &r->slots[slot];
	*s = (renew_slot_t){.gen = s->gen + 1};
	pthread_mutex_unlock(&r->mu);
}

size_t tdm_renew_take(tdm_renew_t *r, size_t slot, tdm_renew_answer_t out[2])
{
	if (r == NULL || slot >= r->nslots) {
		return 0;
	}
	size_t n = 0;
	pthread_mutex_lock(&r->mu);
	renew_slot_t *s = &r->slots[slot];
	if (s->has_granted) {
		out[n++] = s->granted;
		s->has_granted = false;
	}
	if (s->has_refused) {
		out[n++] = s->refused;
		s->has_refused = false;
	}
	pthread_mutex_unlock(&r->mu);
	return n;
}

bool tdm_renew_pending(tdm_renew_t *r)
{
	if (r == NULL) {
		return false;
	}
	pthread_mutex_lock(&r->mu);
	bool p = r->pending;
	r->pending = false;
	pthread_mutex_unlock(&r->mu);
	return p;
}

void tdm_renew_counts(tdm_renew_t *r, uint64_t *batches, uint64_t *granted)
{
	pthread_mutex_lock(&r->mu);
	*batches = r->batches;
	*granted = r->granted_total;
	pthread_mutex_unlock(&r->mu);
}
