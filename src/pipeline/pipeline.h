/* The one signing sequence: load -> serial -> sign -> gate -> write -> digest, full or update. */
#ifndef PIPELINE_H
#define PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns_diff.h"
#include "dns_digest.h"
#include "dns_zone.h"
#include "hsm.h"
#include "kasp_keystate.h"
#include "kasp_policy.h"
#include "kasp_skr.h"
#include "signer.h"
#include "tandem_arena.h"
#include "tandem_diag.h"
#include "tandem_file.h"
#include "verify.h"

/*
 * tandem-signzone, tandemd's signing run and the rollover simulator all sign
 * through pipeline_run(): one sequence, one set of rules (docs/architecture.md).
 *
 *   load    the input file (or take a zone the caller loaded)
 *   keys    the caller's hook opens its HSM keys, after a bad input was refused
 *   serial  the policy's mode on the input's serial, raised above the committed
 *           serial into the site's residue class (tandem_serial.h)
 *   sign    CDS/CDNSKEY for a key set's DS change, then signer_sign_zone()
 *   pair    the version this one follows (`previous` of an incremental gate, else
 *           `diff_base`) paired with the signed zone once (dns_pair.h), for the gate and
 *           the digest: both then look only at the nodes that are not the same
 *   gate    verify_zone() with the zone's DS set as trust anchor, when one is known;
 *           incremental against `previous` when the request says `previous` passed the
 *           gate (gate_incremental), else the whole zone
 *   write   the signed zone to a temporary file beside `out` (tandem_afile), at the
 *           same time as the gate; never renamed here
 *   digest  the zone digest v1 of the signed zone in memory (dns_digest.h: what the
 *           coordinator commits), and its difference from the version it follows; on a
 *           thread of its own beside the gate (all three only read the signed zone)
 *
 * Nothing is written before the zone is signed, and the written file is never
 * put in place here: the caller commits it (pipeline_result_file_take) only once
 * the gate passed and, in a cluster, the coordinator accepted the commit.
 */

/* A full signing, or an update of a previously signed zone. */
typedef enum {
	PIPELINE_FULL = 0,
	PIPELINE_UPDATE, /* `previous` is handed to the signer (signature reuse) */
} pipeline_kind_t;

/* Where a run stopped (PIPELINE_STAGE_DONE: it did not). */
typedef enum {
	PIPELINE_STAGE_LOAD = 0,
	PIPELINE_STAGE_KEYS,
	PIPELINE_STAGE_SERIAL,
	PIPELINE_STAGE_SIGN,
	PIPELINE_STAGE_GATE,
	PIPELINE_STAGE_WRITE,
	PIPELINE_STAGE_DIGEST,
	PIPELINE_STAGE_DONE,
} pipeline_stage_t;

/* The keys of a run (borrowed: the token and the keys outlive the run). */
typedef struct pipeline_keys {
	const signer_key_t *keys;
	size_t nkeys;
	hsm_token_t *token;
} pipeline_keys_t;

/*
 * Called once the input loaded and before anything is signed, to fill *keys
 * (which starts as the request's): a tool opens its HSM here so that a bad input
 * is refused before any HSM work. Returns TANDEM_OK or an error (detail in diag).
 */
typedef int (*pipeline_keys_fn)(void *arg, pipeline_keys_t *keys, tandem_diag_t *diag);

#define PIPELINE_DS_MAX KASP_KEYS_MAX

/* One run's request: a plain value; every pointer is borrowed. */
typedef struct pipeline_req {
	pipeline_kind_t kind;
	const dns_zone_t *previous; /* UPDATE: the zone as last signed (may be NULL) */
	/* load: `zone` when the caller loaded it (signed in place, stays the caller's),
	 * else the file `input` with `load` (pipeline_load_opts gives the policy's) */
	dns_zone_t *zone;
	const char *input;
	dns_load_opts_t load;
	/* serial: conf.has_serial_exact takes conf.serial_exact as it is; otherwise
	 * conf.serial_mode on the input's serial, then above `committed` (when
	 * has_committed) in class `residue` mod `modulus` (0: any serial) */
	bool has_committed;
	uint32_t committed;
	uint32_t residue, modulus;
	/* sign */
	signer_conf_t conf; /* pipeline_signer_conf gives the policy's */
	pipeline_keys_t keys;
	pipeline_keys_fn open_keys; /* NULL: keys as given */
	void *open_keys_arg;
	const kasp_keyset_t *cds_keys; /* CDS/CDNSKEY for its DS set at the apex (NULL: none) */
	uint32_t cds_ttl;
	/* gate (the trust anchor: every DS of ds, plus those of ds_keys) */
	bool no_gate;                 /* a standby's shadow run: signed and hashed only */
	const uint8_t **ds;           /* DS RDATAs (verify_conf_t.ds) */
	size_t ds_count;              /* ... and how many */
	const kasp_keyset_t *ds_keys; /* a key set whose DS set the parent serves */
	const uint32_t *ds_ids;       /* with ds_keys: exactly these keys' DS (a parent's own
					 view); NULL: the KSKs whose DS is seen or being
					 retracted (kasp key state) */
	size_t ds_nids;               /* ... and how many */
	unsigned gate_threads;        /* 0: one per CPU */
	bool gate_incremental;        /* UPDATE: `previous` passed the gate (whole or incremental)
					 and the gate checks what changed against it (verify.h);
					 false: the whole zone (at start, after a full signing,
					 when the policy's gate-full is due) */
	tandem_diag_t *gate_diag;     /* the gate's findings (NULL: the run's diag) */
	/* write and digest */
	const char *out; /* written beside it (not renamed); NULL: not written */
	bool sync;       /* fsync the written file before returning (a full disk shows here) */
	bool digest;     /* the zone digest v1 of the signed zone (res->digest, res->tree) */
	/* difference: the version this one follows (its SOA serial is the changeset's from;
	 * NULL: no changeset, the digest computed whole), and that version's digest state
	 * (NULL: computed here); both borrowed, only read. Needs `digest`. */
	const dns_zone_t *diff_base;
	const dns_digest_t *diff_base_tree;
} pipeline_req_t;

/* What a run did: where it stopped, the serials, the counts and each stage's time. */
typedef struct pipeline_result {
	pipeline_stage_t stage; /* PIPELINE_STAGE_DONE, or the stage that failed */
	int sys_errno;          /* WRITE: the errno of the failed open or write, else 0 */
	uint32_t input_serial;  /* the loaded zone's SOA serial */
	uint32_t serial;        /* the signed zone's */
	size_t records;         /* records in the signed zone, RRSIGs and denial included */
	signer_stats_t sign;
	verify_stats_t gate; /* gate.failures: at least 1 when the gate refused */
	double seconds_load, seconds_keys, seconds_sign, seconds_gate, seconds_write,
	    seconds_digest, seconds_total;
	double seconds_pair; /* the pairing with the version this one follows, made once before
				the gate and the digest, which both use it */
	bool paired;         /* ... when one was made */
	uint8_t digest[DNS_DIGEST_LEN]; /* the zone digest v1 (the tree's root) */
	/* owned: freed by pipeline_result_deinit unless taken */
	dns_digest_t *tree;         /* digest: the signed zone's digest state */
	dns_changeset_t *changeset; /* diff_base: the difference from it (IXFR's shape) */
	dns_zone_t *zone;           /* the zone the pipeline loaded, signed (NULL when given) */
	tandem_afile_t *file;       /* the written file, not yet renamed */
} pipeline_result_t;

/* Empties res (no zone, no file). */
void pipeline_result_init(pipeline_result_t *res);

/* Frees what res still owns: the loaded zone, and the written file (removed, the target
 * left untouched). NULL-safe; res is empty afterwards. */
void pipeline_result_deinit(pipeline_result_t *res);

/* Hands the written file (or NULL) to the caller, who commits or aborts it. */
tandem_afile_t *pipeline_result_file_take(pipeline_result_t *res);

/* Hands the signed zone's digest state (or NULL) to the caller (dns_digest_free): the next
 * run's diff_base_tree. */
dns_digest_t *pipeline_result_tree_take(pipeline_result_t *res);

/* Hands the difference from diff_base (or NULL) to the caller (dns_changeset_free). */
dns_changeset_t *pipeline_result_changeset_take(pipeline_result_t *res);

/* Hands the signed zone the pipeline loaded (or NULL) to the caller (dns_zone_free). */
dns_zone_t *pipeline_result_zone_take(pipeline_result_t *res);

/*
 * Runs the sequence for req. res is filled whatever the outcome (res->stage says
 * where it stopped); diag gets the load's findings ("FILE:LINE: reason", warnings
 * included), the keys hook's, the serial's and the signer's, and the gate's unless
 * req->gate_diag. On failure nothing is left written (no temporary file).
 * Errors: the failing stage's (TANDEM_DNS_E* for a refused input, TANDEM_HSM_E*,
 * TANDEM_SIGNER_E*, TANDEM_VERIFY_EFAIL, TANDEM_EIO, TANDEM_ENOMEM), TANDEM_EINVAL
 * (neither zone nor input, no keys).
 */
int pipeline_run(const pipeline_req_t *req, pipeline_result_t *res, tandem_diag_t *diag);

/*
 * The gate alone, on a zone signed elsewhere: a standby checking the active's version of a
 * zone whose signatures are not deterministic (docs/node.md). verify_zone at `now` with the
 * trust anchor of req (ds, ds_keys), req->gate_threads, RRSIGs of keys outside the DNSKEY
 * RRset allowed when foreign (an algorithm rollover's first or last step), whole (previous
 * NULL) or incremental against previous, a version that passed this gate before. Errors:
 * verify_zone's (TANDEM_VERIFY_EFAIL: diag has the failures), those of the DS set.
 */
int pipeline_gate(const pipeline_req_t *req, dns_zone_t *zone, uint64_t now, bool foreign,
		  const dns_zone_t *previous, verify_stats_t *stats, tandem_diag_t *diag);

/*
 * One line for a log: "serial S, N records, RRSIGs A new / B reused / C refreshed, load
 * 0.01 s, sign 0.20 s, gate 0.05 s (incremental, V verified), write 0.01 s" into buf[size]
 * (NUL-terminated; the gate says "full" or "incremental" and how many signatures it checked
 * cryptographically, or "gate not run"). Returns buf.
 */
char *pipeline_result_summary(const pipeline_result_t *res, char *buf, size_t size);

/* ---- the policy's rules, for the request ---- */

/*
 * Fills c from policy p at time now: signature times, denial (NSEC or NSEC3 with
 * its parameters and salt length), serial mode, TTLs; one thread. Callers apply
 * their own overrides afterwards.
 */
void pipeline_signer_conf(const kasp_policy_t *p, uint64_t now, signer_conf_t *c);

/*
 * Fills lo for loading an unsigned input of zone origin (borrowed; presentation)
 * under policy p: the records the signer makes itself are dropped or refused as
 * p->signer_owned says. Every program that signs an input loads it with these.
 */
void pipeline_load_opts(const kasp_policy_t *p, const char *origin, dns_load_opts_t *lo);

/*
 * Offline KSK: the DNSKEY RRset and RRSIGs of the slot of skr that covers t go
 * into c as the pre-signed DNSKEY RRset (copied into arena, length-prefixed);
 * *slot (if slot is not NULL) says which. Errors: TANDEM_ENOENT (no slot covers
 * t), TANDEM_ENOMEM.
 */
int pipeline_skr_presign(const kasp_skr_t *skr, uint64_t t, tandem_arena_t *arena, signer_conf_t *c,
			 const kasp_skr_slot_t **slot);

/* True if the parent serves key's DS by the key state: a KSK whose DS is seen, or whose
 * withdrawal is asked for and not yet confirmed gone. */
bool pipeline_ds_served(const kasp_key_t *key);

#endif
