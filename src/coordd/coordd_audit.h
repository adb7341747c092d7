/* tandem-coord's audit sink: queue, append to the chain in etcd, mirror, anchor, retention. */
#ifndef COORDD_AUDIT_H
#define COORDD_AUDIT_H

#include "audit_log.h"
#include "coord_audit.h"
#include "coord_etcd.h"
#include "coord_state.h"
#include "tandem_audit.h"

#include <stdbool.h>
#include <stdint.h>

/*
 * The daemon's side of the audit log (docs/audit.md). Events given to the sink are
 * stamped with this coordinator's clock and queued; each loop turn appends the queue to
 * the chain in etcd (one transaction for up to COORD_AUDIT_BATCH_MAX entries) and mirrors
 * every new entry of the chain (its own and the other coordinators') to an append-only
 * file, fsync'd, after checking that it continues the mirror. While etcd does not serve,
 * events wait in the queue; when it overflows the oldest are dropped, the loss is logged,
 * and an "audit.lost" entry records how many once etcd serves again. Every anchor interval
 * it appends an anchor signing the head it mirrored; the timer leader moves entries older
 * than the retention to dated archive files beside the mirror.
 */
typedef struct coordd_audit coordd_audit_t;

/* Events queued at most; beyond, the oldest are dropped (and counted). */
#define COORDD_AUDIT_QUEUE_MAX 2048u

/* The sink's settings. */
typedef struct coordd_audit_cfg {
	const char *name;         /* this coordinator */
	const char *prefix;       /* the store's prefix */
	const char *mirror;       /* the mirror file (0600, append-only) */
	const char *archive_dir;  /* retention archives go here */
	const char *key_file;     /* the anchor key's secret (0600), or NULL: no anchors */
	uint64_t anchor_every_ms; /* 0: no anchors */
	uint64_t retention_ms;    /* 0: keep everything in etcd */
	void (*log)(void *arg, const char *line); /* the daemon's log (never given secrets) */
	void *log_arg;
} coordd_audit_cfg_t;

/*
 * Opens the mirror (reads its last entry, to continue the chain from it), loads the anchor
 * key when one is given (refused when group or others may read it) and keeps cfg
 * (borrowed: strings must outlive the sink). etcd is borrowed. Errors: TANDEM_EINVAL,
 * TANDEM_ENOMEM, TANDEM_EIO (the mirror), TANDEM_EPERM (a loose key file), TANDEM_ESYNTAX
 * (a key file or mirror line that is not ours), TANDEM_CRYPTO_ELIB.
 */
int coordd_audit_new(coord_etcd_t *etcd, const coordd_audit_cfg_t *cfg, coordd_audit_t **out);
/* Closes the mirror and wipes the key; queued events not yet appended are logged as lost.
 * NULL-safe. */
void coordd_audit_free(coordd_audit_t *a);

/* The sink that queues into a (valid while a lives). */
tandem_audit_sink_t coordd_audit_sink(coordd_audit_t *a);

/* Stores this coordinator's anchor public key in etcd (when it has a key), so that the
 * cluster's own verification finds it. Errors: the etcd errors. */
int coordd_audit_publish_key(coordd_audit_t *a);

/*
 * One loop turn's work, at most a few etcd calls: append the queue, follow the chain into
 * the mirror, anchor when due, and (leader) the retention cut when due. store_up false:
 * nothing is tried (etcd does not serve). After a failed etcd call nothing more is tried
 * for a second, so the loop is not held up. Failures are logged, never fatal; returns the
 * etcd error of this turn (TANDEM_OK when none), for the daemon's view of the store.
 */
int coordd_audit_turn(coordd_audit_t *a, uint64_t now_ms, bool store_up, bool leader);

/*
 * Records what a decision of the machine did (the caller decided `in` and got `res`): one
 * event per effect an auditor asks for (node joins and leaves, lease grants, releases and
 * lapses, takeovers, switchovers, fencing, digest mismatches, alerts as nodes report them,
 * key activation, retirement and purge, zones, params, sites), and for accepted key adds,
 * imports (acks) and destructions. Routine effects (commits, agreeing digests) are not
 * recorded: the cluster state holds them. actor: who sent the input.
 */
void coordd_audit_decision(coordd_audit_t *a, const char *actor, const coord_input_t *in,
			   const coord_result_t *res);

/* Events waiting for etcd, and how many were dropped since the last "audit.lost". */
size_t coordd_audit_pending(const coordd_audit_t *a);

/* The appender (for the audit read RPC), borrowed. */
coord_audit_t *coordd_audit_store(coordd_audit_t *a);

#endif
