/* tandemd's signing run on its own thread: the checked load, then the pipeline (src/pipeline). */
#ifndef TANDEMD_SIGN_H
#define TANDEMD_SIGN_H

#include "coord_state.h"
#include "dist.h"
#include "dns_digest.h"
#include "hsm.h"
#include "journal.h"
#include "kasp_keystate.h"
#include "signer.h"
#include "tandemd_input.h"
#include "tandemd_review.h"
#include "tandem_diag.h"
#include "tandem_file.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define TDM_SIGN_KEYS_MAX COORD_KEYS_MAX

/*
 * One run. The caller fills the inputs, starts it with tdm_sign_start, polls
 * tdm_sign_done and then reads the outputs after tdm_sign_join. While it runs
 * the caller must not touch the token except through other sessions' keys it
 * does not change (no key generation or import).
 */
typedef struct tdm_sign {
	/* inputs */
	const char *origin;   /* zone name, presentation form */
	const char *input;    /* unsigned zone file */
	const char *out_path; /* the file the node's writer puts the result in (for messages:
				 the run itself writes no file) */
	bool shadow;          /* a standby's run: no gate, the file is only hashed */
	signer_conf_t conf;   /* now, serial rules, salt, threads ... */
	/* serial: exactly `serial_exact` when conf.has_serial_exact, else the one above the
	 * committed serial in the site's residue class, at least what the mode gives */
	bool has_committed;
	uint32_t committed;
	uint32_t residue, modulus;
	signer_key_t keys[TDM_SIGN_KEYS_MAX];
	size_t nkeys;
	uint16_t replace_tags[TDM_SIGN_KEYS_MAX]; /* compromised keys' tags (conf.replace_tags
						     points here): never reused */
	hsm_token_t *token;
	unsigned gate_threads;
	const kasp_keyset_t *cds_set; /* CDS/CDNSKEY for its DS set at the apex (NULL: none) */
	/* an update run: the version whose valid signatures that are not due are reused (docs/
	 * node.md, "Incremental signing"). previous is borrowed (the caller keeps it alive and
	 * unchanged until the run is joined). Without it, after a restart, the first of
	 * previous_paths (this node's publication, its shadow copy) whose SOA serial is
	 * base_serial (and, with has_previous_digest, whose zone digest is previous_digest) is
	 * loaded and used. Neither: a full signing, and base_serial becomes 0. */
	const dns_zone_t *previous;
	const dns_digest_t *previous_tree; /* previous's digest state (NULL: computed) */
	/* the journal (docs/node.md, "Journal"): the run's difference from the version it
	 * follows (previous, else `held`: the committed version this node holds, when a full
	 * signing replaces it) is appended to journal_path before the run ends, so before
	 * any commit; without either the journal restarts at this run's serial */
	const dns_zone_t *held;
	const dns_digest_t *held_tree;
	const char *journal_path; /* NULL: no journal */
	journal_t *journal;       /* in and out: the zone's journal, open across runs so that
				     a run does not check every entry again; the caller keeps it
				     between runs (borrowed by the run, which may open it when
				     NULL, or close it after an error and leave NULL) and
				     closes it at the end */
	size_t journal_max_entries;
	uint64_t journal_max_bytes;
	const char *previous_paths[2];
	/* after a restart: this node's publication (previous_paths[0]) as tandemd loaded it
	 * once at start, shared with the transfer server (borrowed: the caller keeps it alive
	 * and unchanged until the run is joined); used as it is when its serial and digest are
	 * the ones wanted, copied when the journal is to bring it up or a standby takes it,
	 * never parsed from the file again. NULL: the file is loaded */
	const dns_zone_t *boot;
	bool boot_used;           /* out: the run built on boot */
	bool has_previous_digest; /* the zone digest v1 (dns_digest.h) of the file loaded */
	uint8_t previous_digest[COORD_DIGEST_LEN];
	uint32_t base_serial;  /* the serial of the previous version (for the commit) */
	bool gate_incremental; /* the gate checks what changed against `previous` (held in
				  memory: a version this node published or shadowed exactly);
				  false, or a previous loaded from a file: the whole zone */
	/* a restarted standby: first try to take its own copy of adopt_serial (the serial it
	 * shadows) when its zone digest is adopt_digest, signing nothing (adopt stays true);
	 * otherwise adopt becomes false and the run builds on base_serial as above */
	bool adopt;
	uint32_t adopt_serial;
	uint8_t adopt_digest[COORD_DIGEST_LEN];
	const kasp_keyset_t *ds_keys; /* the gate's trust anchor: the DS set the parent serves
					 by this key set's state (NULL: none, a SEP key will do) */
	uint32_t cds_ttl;
	int64_t keyset_revision; /* the key set's revision, for the commit record */
	tdm_input_job_t in;      /* how the input is read and checked (tandemd_input.h); in.path
				    is what `input` names */
	dns_zone_t
	    *input_cache; /* in and out: the zone's unsigned copy that in.cache points to
			     (NULL: none). When the input loaded is not a copy of it (parsed
			     anew, or an IXFR applied) the run frees it and copies the new
			     zone to in.copy (the next cache); else the caller takes it back */
	/* the review hooks (docs/node.md, "Review hooks"), run only by an active run that
	 * reads the input itself (not the good copy): NULL or "": none. Each hook reads a
	 * private copy in review_dir: of the input's bytes as loaded, of the written zone */
	const char *review_unsigned;
	const char *review_signed;
	uint32_t review_timeout; /* seconds */
	const char *review_dir;
	tdm_review_srv_t *review_srv; /* --review-listen: the copy is also served there by
					 AXFR while its hook runs (borrowed), or NULL */
	bool review_skip; /* no hook for an input whose SOA serial is review_skip_serial: */
	uint32_t review_skip_serial; /* its version was reviewed already, or the operator
					approved it */
	/* a zone whose signatures are not deterministic (ECDSA; docs/node.md, "Compare before
	 * publish"): the signed zone's nosig digest is computed (has_nosig, nosig) */
	bool want_nosig;
	/* a standby's run of such a zone: then the active's version of the serial is read from
	 * its transfer server peer_axfr (with peer_key, within peer_timeout_ms), its nosig
	 * digest must be peer_nosig (the committed one) and it must pass this node's gate
	 * (ds_keys, at this node's clock); the outcome is in peer_verified / peer_why */
	char peer_axfr[COORD_METRICS_MAX]; /* "": not read (peer_skip says why); a copy: the status
				that named it may be replaced while the run goes */
	const dist_key_t *peer_key;
	unsigned peer_timeout_ms;
	uint8_t peer_nosig[COORD_DIGEST_LEN];
	const char *peer_skip; /* why the active's version cannot be read (no key, no address) */
	const dns_zone_t *peer_previous; /* the active's version verified last (borrowed, not
					    changed while the run goes): the gate checks what
					    changed against it; NULL: the whole zone */
	/* outputs */
	int ret;               /* TANDEM_OK or the first error */
	int sys_errno;         /* the errno of a failed write of the output (ENOSPC ...), or 0 */
	const char *sys_path;  /* the file that write was to: out_path or journal_path */
	tandem_diag_t *diag;   /* what went wrong, or load warnings */
	uint32_t serial;       /* of the signed zone */
	uint32_t input_serial; /* the unsigned zone's SOA serial */
	uint8_t digest[COORD_DIGEST_LEN];
	bool has_expiry;     /* the signed zone holds RRSIGs: */
	uint32_t expiry_min; /* their earliest expiration (UNIX seconds), for metrics */
	size_t signatures;   /* RRSIGs made by this run (new + refreshed) */
	size_t rrsigs_new, rrsigs_reused, rrsigs_refreshed; /* the signer's counts */
	double seconds;
	uint64_t end_mono_ms; /* when it ended (CLOCK_MONOTONIC ms) */
	char summary[640];    /* the pipeline's one line: serial, records, RRSIGs, stage times,
				 and what the journal got */
	dns_digest_t *tree;   /* the signed zone's digest state (the caller takes it with
				 signed_zone) */
	bool journaled;       /* an entry journal_from -> serial was appended: a caller
				 whose version is not committed drops it (tdm_sign_unjournal) */
	uint32_t journal_from;
	bool updated;       /* signatures were reused from a previous version (else: full) */
	bool replayed;      /* the previous version came from a file that lagged, brought up to
			       base_serial by the journal's entries */
	bool gate_failed;   /* the run stopped at the gate: the signed zone was refused */
	bool review_ran[2]; /* the unsigned [0] and signed [1] hooks ran: */
	tdm_review_result_t review[2]; /* their verdicts and output (the caller logs them) */
	uint32_t review_serial[2];     /* the serial each saw */
	bool review_rejected;          /* a hook rejected (in.result is then
					  TDM_INPUT_REVIEW_REJECTED) */
	bool gate_full;                /* the gate checked the whole zone (not incremental) */
	dns_zone_t *signed_zone;       /* the signed zone, for the next update run: the caller takes
					  it (NULL after a failure) */
	bool has_nosig;                /* want_nosig: the signed zone's nosig digest */
	uint8_t nosig[COORD_DIGEST_LEN];
	bool peer_checked;     /* a standby's check of the active's version ran: */
	bool peer_verified;    /* it was read, is the committed one and passed the gate */
	char peer_why[200];    /* else why not (the first failure) */
	double peer_seconds;   /* the read and the gate */
	bool peer_incremental; /* the gate checked against peer_previous (else whole) */
	dns_zone_t *peer_zone; /* the active's version once verified: the caller takes it (the
				  next check's peer_previous) */
	/* the thread */
	pthread_t thread;
	atomic_bool done;
	bool started;
} tdm_sign_t;

/* Starts the run on its own thread. Errors: TANDEM_ENOMEM (no thread or diag). */
int tdm_sign_start(tdm_sign_t *job);

/* Whether the run has finished (then tdm_sign_join does not block). */
bool tdm_sign_done(tdm_sign_t *job);

/* Waits for the run to end. */
void tdm_sign_join(tdm_sign_t *job);

/* Drops the entry a finished run appended (its version was not committed: a refused
 * commit, a standby's digest that disagrees), so the journal never holds a version above
 * the committed one longer than needed. Errors: those of journal_open and
 * journal_truncate_after (detail in job->diag); TANDEM_OK when nothing was appended. */
int tdm_sign_unjournal(tdm_sign_t *job);

/* Frees what a finished run holds: its signed zone, digest state and diag. */
void tdm_sign_clear(tdm_sign_t *job);

/*
 * The journal's entries from serial `from` up to `want` applied to zone, in order. Returns the
 * zone of serial want (zone is freed), or NULL (zone freed too) when the journal does not
 * lead there. A node's file that lags what it published or shadowed (its writer had not caught
 * up when it stopped) is brought up to date this way.
 */
dns_zone_t *tdm_journal_replay(journal_t *j, dns_zone_t *zone, uint32_t from, uint32_t want);

#endif
