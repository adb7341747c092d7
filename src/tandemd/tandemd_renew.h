/* tandemd's renewal thread: the held leases are renewed off the main loop, so that a loop
 * busy in the HSM, on disk, in a signing run or in key work lets no lease lapse
 * (docs/node.md, "Leases"). */
#ifndef TANDEMD_RENEW_H
#define TANDEMD_RENEW_H

#include "coord_state.h"
#include "net_key.h"
#include "tandemd_watch.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the thread needs, all borrowed for the thread's life. */
typedef struct tdm_renew_cfg {
	void *zctx;                   /* the process's ZeroMQ context (thread-safe) */
	const net_key_t *key;         /* the node's CURVE key */
	const char *const *endpoints; /* the coordinators, in the loop's order */
	const char *const *pubs;      /* their public keys (Z85) */
	size_t ncoords;
	const char *node, *instance;
	uint32_t timeout_ms; /* each call, at each coordinator */
	uint64_t retry_ms;   /* an unanswered renewal goes again this soon */
	tdm_watch_t *watch;  /* re-armed at each renewal granted: the new deadline */
	void (*say)(void *arg, const char *line); /* a log line (any thread) */
	void *say_arg;
} tdm_renew_cfg_t;

typedef struct tdm_renew tdm_renew_t;

/* A renewal's answer, for the loop to feed to the zone's node (NODE_IN_LEASE_REPLY). */
typedef struct tdm_renew_answer {
	bool accepted;
	coord_reason_t reason;
	uint64_t epoch;
	uint64_t sent_mono, sent_wall; /* when the renewal was sent */
	uint64_t answered_mono;        /* when its answer came */
	char text[COORD_TEXT_MAX];     /* the coordinator's text (a refusal's reason) */
} tdm_renew_answer_t;

/* Starts the thread for nslots zones (slot: the zone's index). Errors: TANDEM_ENOMEM,
 * TANDEM_EINVAL. */
int tdm_renew_start(const tdm_renew_cfg_t *cfg, size_t nslots, tdm_renew_t **out);

/* Stops and joins the thread (a call it is in ends within its timeouts), frees; NULL-safe. */
void tdm_renew_stop(tdm_renew_t *r);

/*
 * The loop's node holds slot's lease `zone` at `epoch`, granted from a request or renewal
 * sent at granted_mono: the thread renews it from granted_mono + lease/3 on, every lease/3
 * while answered, every retry_ms while not, until tdm_renew_forget or a refusal. A new epoch
 * drops what the thread had for the old one.
 */
void tdm_renew_hold(tdm_renew_t *r, size_t slot, const char *zone, uint64_t epoch,
		    uint64_t granted_mono, uint64_t lease_ms, uint64_t margin_ms);

/* The loop's node no longer holds slot's lease: no more renewals, answers not taken are
 * dropped, and a renewal in flight is not answered to the loop nor re-arms the watch. */
void tdm_renew_forget(tdm_renew_t *r, size_t slot);

/*
 * What the thread learnt of slot's lease since the last take, in order: the latest renewal
 * granted (if any), then a refusal (if any: the thread renews the slot no more). Returns how
 * many of out[0..1] it wrote.
 */
size_t tdm_renew_take(tdm_renew_t *r, size_t slot, tdm_renew_answer_t out[2]);

/* Whether an answer came since the last call (cleared by it; cheap: the loop looks each
 * turn and then takes every slot's). */
bool tdm_renew_pending(tdm_renew_t *r);

/* Batches sent and renewals granted so far (metrics, tests). */
void tdm_renew_counts(tdm_renew_t *r, uint64_t *batches, uint64_t *granted);

#endif
