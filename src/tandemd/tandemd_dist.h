/* tandemd's transfer server: the dist library started from the options, fed the node's own
 * publications (docs/dist.md). */
#ifndef TANDEMD_DIST_H
#define TANDEMD_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dist.h"
#include "dist_xfrin.h"
#include "journal.h"

typedef struct tdm_dist tdm_dist_t;

/* What --xfr-listen, --tsig-key, --xfr-acl and --max-ixfr-ratio gave (borrowed). */
typedef struct tdm_dist_opts {
	const char *const *listen;
	size_t nlisten;
	const char *const *keys; /* key files */
	size_t nkeys;
	const char *const *acl;
	size_t nacl;
	double ratio; /* negative: unlimited */
	size_t journal_max_entries;
	uint64_t journal_max_bytes;
	const char *const *notify; /* secondaries told of each publication: ADDR:PORT */
	size_t nnotify;
	/* input by transfer (--primary): zone, primary ADDR:PORT, the input file written */
	const dist_xfrin_zone_t *primary;
	size_t nprimary;
	const char *primary_key;       /* --primary-tsig-key, or NULL: the first --tsig-key */
	const char *const *notify_acl; /* --notify-in-acl */
	size_t nnotify_acl;
} tdm_dist_opts_t;

/*
 * Reads the key files and starts the server; prints "xfr ADDR:PORT" per listener on stdout.
 * Without --xfr-listen *out is NULL and nothing runs. Every problem is a line on stderr.
 * Errors: those of dist_key_load and dist_server_new.
 */
int tdm_dist_start(const tdm_dist_opts_t *o, tdm_dist_t **out);

/* Stops the server and frees the keys; NULL-safe. */
void tdm_dist_free(tdm_dist_t *td);

/* The first --xfr-listen address with its bound port ("127.0.0.1:5300"), or "" without a
 * server: the node's `axfr` in status (reported with each register). */
const char *tdm_dist_address(const tdm_dist_t *td);

/* The cluster's TSIG key (the first --tsig-key), borrowed; NULL without a server. */
const dist_key_t *tdm_dist_key(const tdm_dist_t *td);

/*
 * Offers copy (taken; NULL: none) of a committed serial held for the compare to the
 * standby's AXFR of that serial only (dist_hold, docs/dist.md). False (logged) when it
 * cannot be: no server, or out of memory.
 */
bool tdm_dist_hold_take(tdm_dist_t *td, const char *zone, dns_zone_t *copy);

/*
 * Serves v (this node's own publication of zone) with the changeset journal j holds for its
 * serial (its newest entry, when it ends there) and the ones of the version served before
 * (*served), then makes *served v, and starts NOTIFYing the --notify secondaries of its
 * serial (tdm_dist_tick sends them). NULL td: nothing. Never fails the caller: a problem is
 * logged and the version is served without changesets (IXFR then answers with the zone).
 */
void tdm_dist_publish(tdm_dist_t *td, const char *zone, dist_version_t *v, journal_t *j,
		      dist_version_t **served);

/*
 * At start: the zone this node published last (path, its own publication) loaded and
 * served with the journal's changesets that end at its serial; *served set. Nothing when
 * the file is missing. A problem is logged; the node goes on.
 */
void tdm_dist_serve_file(tdm_dist_t *td, const char *zone, const char *path, journal_t *j,
			 dist_version_t **served);

/* The same for the publication tandemd loaded already (v: the server takes its own
 * reference, so that the first run can build on the same copy). NULL v: nothing. */
void tdm_dist_serve_version(tdm_dist_t *td, const char *zone, dist_version_t *v, journal_t *j,
			    dist_version_t **served);

/*
 * Stops serving zone (SOA and transfers answer NOTAUTH, as for a zone never served, from the
 * next request on; a transfer under way ends with the version it began) and NOTIFYing its
 * secondaries (pending tries dropped); *served dropped and set NULL. NULL td: only *served.
 * A later tdm_dist_publish serves it again. Main thread.
 */
void tdm_dist_withdraw(tdm_dist_t *td, const char *zone, dist_version_t **served);

/* Reads NOTIFY answers and sends the tries that are due (never blocks); NULL td: nothing.
 * now_ms: CLOCK_MONOTONIC milliseconds. */
void tdm_dist_tick(tdm_dist_t *td, uint64_t now_ms);

/* What a --notify secondary answered to the node's SOA query (borrowed strings). */
typedef struct tdm_dist_secondary {
	const char *name; /* as --notify gave it: ADDR:PORT */
	uint32_t serial;  /* its last answer */
	bool ahead;       /* above (RFC 1982) the serial this node last served: it ignores us */
	uint32_t ours;    /* that serial */
} tdm_dist_secondary_t;

/*
 * The zone's secondaries that have answered an SOA query (each is asked after a NOTIFY
 * answer, at each publication and every minute; UDP, TSIG with the first key, never
 * blocking): fills at most cap of out, returns how many there are. NULL td: 0.
 */
size_t tdm_dist_secondaries(const tdm_dist_t *td, const char *zone, tdm_dist_secondary_t *out,
			    size_t cap);

/* The input-by-transfer state of zone (false: the zone has no --primary). Any thread. */
bool tdm_dist_xfrin(const tdm_dist_t *td, const char *zone, dist_xfrin_status_t *out);

/* An IXFR received and applied by the transfers in: its net difference and the input file
 * it was written to (docs/node.md, "Input by IXFR"). */
typedef struct tdm_dist_ixfr {
	dns_changeset_t *cs; /* owned by whoever holds the value */
	struct stat written; /* the input file as written (stat after its rename) */
} tdm_dist_ixfr_t;

/* Takes the latest IXFR of zone not taken yet into *out (out->cs is then the caller's);
 * false when there is none. Any thread. */
bool tdm_dist_ixfr_take(tdm_dist_t *td, const char *zone, tdm_dist_ixfr_t *out);

/* The milliseconds until a NOTIFY try is due (0: one is due now, -1: none pending). */
int tdm_dist_timeout_ms(const tdm_dist_t *td, uint64_t now_ms);

/*
 * SIGHUP (docs/config.md, "Reload"): the --notify secondaries become notify[0..n) (copied;
 * each ADDR:PORT, else TANDEM_ESYNTAX and nothing changes). Pending NOTIFYs to the old list
 * are dropped, and every zone this node serves is NOTIFYed to the new list at once.
 */
int tdm_dist_set_notify(tdm_dist_t *td, const char *const *notify, size_t n);

/* SIGHUP: the transfer server's ACL becomes acl[0..n) (dist_server_set_acl: all or
 * nothing; a bad entry is logged and the ACL in force stays). */
int tdm_dist_set_acl(tdm_dist_t *td, const char *const *acl, size_t n);

#endif
