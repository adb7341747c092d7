/* The coordinator's store: the cluster state in etcd, changed only by conditional transactions. */
#ifndef COORD_STORE_H
#define COORD_STORE_H

#include "coord_etcd.h"
#include "coord_state.h"
#include "tandem_diag.h"

#include <stdbool.h>
#include <stdint.h>

/*
 * The coordinator keeps no state of its own: any coordinator process may
 * answer any request. coord_state_apply() decides; the store makes the
 * decision durable and exclusive (docs/coordinator.md, "Store"):
 *
 *   PREFIX/state/cluster    the cluster part: members, params, suspended sites
 *                           (a ClusterState without zones, coord_state_pack)
 *   PREFIX/state/zone/NAME  one zone each (coord_zone_pack); NAME is the zone's name in
 *                           lower case with its final dot
 *   PREFIX/cluster   the single-key state of before (every zone in it): read once,
 *                    migrated to the keys above in one transaction, then replaced by a
 *                    mark that coordinators of the old layout refuse to read
 *   PREFIX/leader    the timer leader's name, under its etcd lease
 *   PREFIX/keys/Z    kasp's key set of zone Z (kasp_keyset_pack), written by the
 *                    zone's lease holder or an operator, conditioned on its revision
 *   PREFIX/skr/Z     the SKR book of an offline-KSK zone Z (kasp_skrbook_pack), the same
 *   PREFIX/archive/Z/ID  the wrapped-key archive entry of key ID (decimal) of zone Z,
 *                    written with the KEY_ADD that brought the key in, never rewritten
 *
 * A decision reads what it depends on: about one zone (lease, commit, keys, switchover,
 * zone add or remove), the cluster key and that zone's key; a heartbeat or a params
 * change, the cluster key only; anything else (register, drain, takeover, tick, node
 * removal, sites), one range read of PREFIX/state/. It writes only the keys whose value
 * changed, in one transaction conditioned on the mod_revisions of exactly the keys it
 * read (a full read: one compare that no key under PREFIX/state/zone/ was written since
 * the read), so two coordinators that decided from overlapping reads can never both
 * write: the loser re-reads and decides again. A member's time last heard is written
 * only once it moved by a quarter of the node timeout, so a renewal, a commit or a
 * heartbeat writes the one zone key, or nothing. Reads are linearizable, so a
 * coordinator on the minority side of a partition gets TANDEM_COORD_ENOQUORUM and
 * decides nothing.
 *
 * A store borrows an etcd client and, like it, is used by one thread at a
 * time. Two threads (or two processes) that each have their own client and
 * store are two coordinators.
 */
typedef struct coord_store coord_store_t;

/* Default key prefix; a prefix starts and ends with '/'. */
#define COORD_STORE_PREFIX "/tandem/v1/"
/* Longest prefix, without the NUL. */
#define COORD_STORE_PREFIX_MAX 128u
/* How often coord_store_apply decides again after losing a race. */
#define COORD_STORE_RETRIES 8u
/* Longest coordinator name for coord_store_campaign, without the NUL. */
#define COORD_STORE_NAME_MAX 63u

/*
 * Makes a store over etcd (borrowed: it must outlive the store) under prefix
 * (NULL: COORD_STORE_PREFIX). No I/O. Errors: TANDEM_EINVAL (NULL etcd or out,
 * a prefix that does not start and end with '/', is longer than
 * COORD_STORE_PREFIX_MAX or has bytes outside printable ASCII), TANDEM_ENOMEM.
 */
int coord_store_new(coord_etcd_t *etcd, const char *prefix, tandem_diag_t *diag,
		    coord_store_t **out);

/* Frees the store; NULL-safe. It does not resign: the leader lease runs out on
 * its own (call coord_store_resign first for a quick hand-over). */
void coord_store_free(coord_store_t *store);

/* The store's key prefix (borrowed). */
const char *coord_store_prefix(const coord_store_t *store);

/*
 * Creates the empty cluster state unless one exists (idempotent), with params'
 * lease and margin as the cluster's (they are kept in the state: every decision
 * uses them, whatever the deciding coordinator was started with). An existing
 * state is read back and checked. Errors: TANDEM_EINVAL, TANDEM_ENOMEM,
 * TANDEM_COORD_ESTATE / TANDEM_COORD_EVERSION (the stored state is unreadable),
 * and the etcd errors (TANDEM_COORD_EUNAVAIL, TANDEM_COORD_ENOQUORUM,
 * TANDEM_COORD_EPROTO, TANDEM_COORD_EREFUSED).
 */
int coord_store_init(coord_store_t *store, const coord_params_t *params, tandem_diag_t *diag);

/*
 * The cluster's params: `params` with the lease and margin the state keeps
 * (coord_state_params). A state from before they were kept gets params' (as the
 * first coordinator's, decided at now_ms). Errors: as coord_store_apply;
 * *cluster written only on success.
 */
int coord_store_params(coord_store_t *store, const coord_params_t *params, uint64_t now_ms,
		       tandem_diag_t *diag, coord_params_t *cluster);

/*
 * Reads the cluster state (linearizable) into *state, and its mod_revision
 * into *mod_revision (may be NULL; 0 when no state was ever written, in which
 * case *state is the empty state). Written only on success. Errors: as
 * coord_store_init.
 */
int coord_store_read(coord_store_t *store, const coord_params_t *params, tandem_diag_t *diag,
		     coord_state_t *state, int64_t *mod_revision);

/*
 * Reads (linearizable) the cluster part and zone's key only: *state is the state with that
 * zone alone, or no zone when it has none (a name the machine would take for the same zone
 * finds it). For requests about one zone, which need not read every zone. Errors: as
 * coord_store_read, and TANDEM_EINVAL for an empty or overlong zone; *state written only on
 * success.
 */
int coord_store_read_zone(coord_store_t *store, const coord_params_t *params, const char *zone,
			  tandem_diag_t *diag, coord_state_t *state);

/*
 * Decides `input` at `now_ms` (this coordinator's wall clock, ms since the
 * epoch) on the current state and, when the decision changes the state, writes
 * it conditioned on the revision it was decided on. A lost race makes it read
 * and decide again, at most COORD_STORE_RETRIES times. A refusal writes
 * nothing and is not an error: res->reason says it. *res is written only on
 * success and is then the decision that is in etcd.
 * Errors: TANDEM_EINVAL (NULL argument, bad params, unknown input kind),
 * TANDEM_ENOMEM, TANDEM_COORD_ESTATE / TANDEM_COORD_EVERSION (the stored
 * state is unreadable), TANDEM_COORD_ECONFLICT (lost the race every time),
 * TANDEM_COORD_ENOQUORUM (etcd lost its quorum: nothing was decided),
 * TANDEM_COORD_EUNAVAIL (etcd did not answer; if it was the write, its
 * outcome is unknown: the input may be sent again, which the machine treats
 * as a retry for requests, renewals and commits), TANDEM_COORD_EPROTO,
 * TANDEM_COORD_EREFUSED.
 */
int coord_store_apply(coord_store_t *store, const coord_input_t *input, uint64_t now_ms,
		      const coord_params_t *params, tandem_diag_t *diag, coord_result_t *res);

/*
 * coord_store_apply for a COORD_IN_KEY_ADD that brings the key's archive entry
 * (archive_len bytes, may be 0): when the machine accepts the key, the state and
 * PREFIX/archive/ZONE/ID are written in one transaction, conditioned on the
 * state's revision and on the entry's absence. An entry that exists already
 * (a key removed from the state keeps its entry) makes it a refusal,
 * COORD_R_EXISTS, with the entry unchanged. Errors: as coord_store_apply, and
 * TANDEM_EINVAL for another input kind or archive NULL with archive_len > 0.
 */
int coord_store_apply_key_add(coord_store_t *store, const coord_input_t *input, uint64_t now_ms,
			      const coord_params_t *params, const uint8_t *archive,
			      size_t archive_len, tandem_diag_t *diag, coord_result_t *res);

/* One lease request or renewal of a node's batch (coord_store_lease_batch). */
typedef struct coord_store_lease {
	char zone[COORD_ZONE_MAX];
	uint64_t epoch; /* a renewal's epoch */
	bool renew;     /* false: a lease request */
} coord_store_lease_t;

/* Effects kept per decision of a batch (a grant makes one or two). */
#define COORD_STORE_LEASE_EFFECTS 4

/* One item's decision in a batch: the machine's result without most of its room. */
typedef struct coord_store_decided {
	coord_reason_t reason;
	char text[COORD_TEXT_MAX];
	bool changed;
	uint64_t epoch;
	uint64_t expiry_ms;
	size_t neffects; /* the first COORD_STORE_LEASE_EFFECTS; dropped counts the rest */
	size_t dropped;
	coord_effect_t effects[COORD_STORE_LEASE_EFFECTS];
} coord_store_decided_t;

/*
 * A node's lease requests and renewals, all at once: items[i] is decided as the single
 * COORD_IN_LEASE_REQUEST or COORD_IN_LEASE_RENEW of `node` (with `instance`) for its zone
 * would be, on the cluster part and that zone alone, one after the other (the member's
 * time last heard moves with each), at now_ms; out[i] is its decision. What the decisions
 * changed goes in one transaction, conditioned on the cluster key and on each zone key it
 * writes being as read; a lost race reads and decides all again (COORD_STORE_RETRIES). So
 * each item's outcome is exactly that of its single request, and a refusal of one zone
 * (a stale epoch, a lease that ran out) changes nothing for the others. One read of
 * PREFIX/state/, one transaction: a node's renewals cost the coordinator two etcd calls,
 * whatever the number of zones. Errors: TANDEM_EINVAL (NULL argument, n 0 or above
 * COORD_ZONES_MAX, bad params, a zone named twice, case and final dot aside), and those of
 * coord_store_apply; out[] written only on success.
 */
int coord_store_lease_batch(coord_store_t *store, const char *node, const char *instance,
			    const coord_store_lease_t *items, size_t n, uint64_t now_ms,
			    const coord_params_t *params, tandem_diag_t *diag,
			    coord_store_decided_t *out);

/* One archive entry of a zone (coord_store_archive_list). */
typedef struct coord_store_entry {
	uint32_t id;
	uint8_t *value; /* owned by the list */
	size_t len;
} coord_store_entry_t;

/* A zone's archive entries, in key order (not numeric order). */
typedef struct coord_store_archive {
	size_t n;
	coord_store_entry_t *entries;
} coord_store_archive_t;

/*
 * Reads the archive entry of key id of zone (linearizable) into a new buffer
 * (*value is the caller's, free() it; written only on success).
 * Errors: TANDEM_ENOENT (no entry), TANDEM_EINVAL, TANDEM_ENOMEM, the etcd
 * errors.
 */
int coord_store_archive_get(coord_store_t *store, const char *zone, uint32_t id,
			    tandem_diag_t *diag, uint8_t **value, size_t *len);

/*
 * Reads every archive entry of zone (linearizable; none is an empty list).
 * Keys under the zone's prefix whose last part is not a decimal id below 2^32
 * (another zone's, whose name extends this one's with '/') are skipped.
 * *out is the caller's: coord_store_archive_free(). Errors: TANDEM_EINVAL,
 * TANDEM_ENOMEM, the etcd errors.
 */
int coord_store_archive_list(coord_store_t *store, const char *zone, tandem_diag_t *diag,
			     coord_store_archive_t **out);

/*
 * Empties the archive entry of key id of zone (a purged key: its wrapped copy goes after the
 * archive retention); the empty entry stays, so coord_store_apply_key_add still refuses the
 * id. An absent entry is left absent. Errors: TANDEM_EINVAL, TANDEM_COORD_EUNAVAIL,
 * TANDEM_COORD_ENOQUORUM, TANDEM_COORD_EPROTO.
 */
int coord_store_archive_clear(coord_store_t *store, const char *zone, uint32_t id,
			      tandem_diag_t *diag);

/* Frees an archive list; NULL-safe. */
void coord_store_archive_free(coord_store_archive_t *archive);

/*
 * Reads the name in PREFIX/leader (linearizable) into name (COORD_STORE_NAME_MAX
 * + 1 bytes): "" when nobody leads. A value that is not a printable name of at
 * most COORD_STORE_NAME_MAX bytes reads as "?". Errors: TANDEM_EINVAL, the etcd
 * errors; name written only on success.
 */
int coord_store_leader(coord_store_t *store, tandem_diag_t *diag,
		       char name[COORD_STORE_NAME_MAX + 1]);

/* The documents kept per zone beside the state, each written whole and conditionally. */
typedef enum {
	COORD_DOC_KEYSET = 0, /* PREFIX/keys/ZONE: kasp's key set (kasp_keyset_pack) */
	COORD_DOC_SKR,        /* PREFIX/skr/ZONE: an offline-KSK zone's SKR book (kasp_skrbook) */
	/* the cluster's, not a zone's (zone must be ""): multi-person control, as the JSON of
	 * coord_approval.h (docs/approvals.md) */
	COORD_DOC_OPERATORS,  /* PREFIX/operators: the role table */
	COORD_DOC_REQUESTS,   /* PREFIX/requests: the requests and their approvals */
	COORD_DOC_RULES,      /* PREFIX/approval-rules: who approves what (coord_rules_format) */
	COORD_DOC_GRANTS,     /* PREFIX/archive-grants: nodes that may import from the archive */
	COORD_DOC_OFFLINE,    /* PREFIX/audit-offline: offline audit chains imported, how far */
	COORD_DOC_PRODUCTION, /* PREFIX/production: "on" or "off" (tandemctl cluster production) */
	/* signing policies (docs/policy.md, "In a cluster"); zone is the policy's name for the
	 * first two, a zone for the third */
	COORD_DOC_POLICY,        /* PREFIX/policies/NAME: kasp_policy_doc (header + YAML) */
	COORD_DOC_POLICY_STAGED, /* PREFIX/policy-staged/NAME: a change awaiting approval */
	COORD_DOC_ZONE_POLICY,   /* PREFIX/zone-policy/ZONE: the name of the zone's policy */
} coord_doc_t;

/*
 * Reads zone's document `doc` (linearizable) into a new buffer (*buf is the
 * caller's, free() it) with its mod_revision. None: *buf NULL, *len 0,
 * *mod_revision 0. The bytes are returned as stored (the caller unpacks them).
 * Errors: TANDEM_EINVAL (NULL, empty or overlong zone, unknown doc),
 * TANDEM_ENOMEM, the etcd errors; outputs written only on success.
 */
int coord_store_doc_get(coord_store_t *store, coord_doc_t doc, const char *zone,
			tandem_diag_t *diag, uint8_t **buf, size_t *len, int64_t *mod_revision);

/*
 * Writes zone's document `doc` (len bytes, len > 0) in one transaction, if its
 * mod_revision is still expect_revision (0: if there is none yet). A failed
 * compare is not an error: *won is false and nothing was written. On a win,
 * *new_revision is the document's new mod_revision (else the current one, 0
 * when there is none). The bytes are not checked here.
 * Errors: TANDEM_EINVAL (NULL, bad zone or doc, len 0, expect_revision < 0),
 * TANDEM_ENOMEM, the etcd errors (after TANDEM_COORD_EUNAVAIL the outcome is
 * unknown: read again); *won and *new_revision written only on success.
 */
int coord_store_doc_put(coord_store_t *store, coord_doc_t doc, const char *zone, const uint8_t *buf,
			size_t len, int64_t expect_revision, tandem_diag_t *diag, bool *won,
			int64_t *new_revision);

/*
 * Reads every document of kind doc (one of the per-name kinds: COORD_DOC_POLICY,
 * COORD_DOC_POLICY_STAGED, COORD_DOC_ZONE_POLICY; linearizable, at most 4096) into *out,
 * in key order; each key's name starts at key + *prefix_len. *out is the caller's:
 * coord_etcd_range_free(). Errors: TANDEM_EINVAL, TANDEM_ENOMEM, the etcd errors.
 */
int coord_store_doc_list(coord_store_t *store, coord_doc_t doc, tandem_diag_t *diag,
			 coord_etcd_range_t **out, size_t *prefix_len);

/* Compare failures this store has met in coord_store_apply (for metrics and tests). */
uint64_t coord_store_conflicts(const coord_store_t *store);

/* Transactions coord_store_apply sent and etcd applied (for metrics and tests). */
uint64_t coord_store_writes(const coord_store_t *store);

/* Migrations of the single-key layout this store made (0 or 1; for tests). */
uint64_t coord_store_migrations(const coord_store_t *store);
/* Whole-state reads answered from the state kept from the last one and the keys written since
 * (the others read every key). */
uint64_t coord_store_reads_since(const coord_store_t *store);
/* Decisions about one zone or none written on the kept state with no read first, and those
 * of them whose write found the kept state behind (then read and decided again). */
uint64_t coord_store_kept_writes(const coord_store_t *store);
/*
 * Brings up to date the revision each zone's key set (PREFIX/keys/ZONE) was last written at:
 * the first call reads every key set's key (no values), later ones only those written since
 * (one keys-only range read each). A key set deleted since, or more than the store keeps,
 * drops what was kept (TANDEM_COORD_ECONFLICT, TANDEM_ERANGE; the next call reads all
 * again). Errors: those and the etcd errors.
 */
int coord_store_keyset_revs(coord_store_t *store, tandem_diag_t *diag);
/* The revision zone's key set was last written at, as the last coord_store_keyset_revs saw
 * it (its name as the key set's key spells it, else any spelling of the same name); 0: none
 * stored, or nothing kept. */
int64_t coord_store_keyset_rev(const coord_store_t *store, const char *zone);
uint64_t coord_store_kept_misses(const coord_store_t *store);

/*
 * Campaigns for the coordinator leadership (the one that sends ticks), and
 * keeps it: call it every ttl_s / 3 seconds. The first call grants an etcd
 * lease of ttl_s seconds; later calls renew it (a lost lease is replaced by a
 * new one). PREFIX/leader is created, if absent, with `name` under the lease:
 * *is_leader says whether it is this store's. When the leader stops renewing,
 * etcd deletes the key after the TTL and another campaigner takes it.
 * Leadership is a hint for efficiency, not a safety property: a deposed leader
 * may still believe it leads for up to ttl_s, and its ticks go through the
 * same conditional write as everything else.
 * Errors: TANDEM_EINVAL (NULL, empty or overlong name, ttl_s < 1),
 * TANDEM_ENOMEM, and the etcd errors; *is_leader written only on success.
 */
int coord_store_campaign(coord_store_t *store, const char *name, int64_t ttl_s, tandem_diag_t *diag,
			 bool *is_leader);

/*
 * Gives up leadership: revokes this store's lease, which deletes
 * PREFIX/leader if it was ours. No lease: nothing to do. Errors: the etcd
 * errors (a lease that had already expired is not one).
 */
int coord_store_resign(coord_store_t *store, tandem_diag_t *diag);

#endif
