/* tandemd's unsigned inputs: a watch off the main thread, the settle and shrink rules, the
 * checked load a run makes, and the node's last good copy of each input. */
#ifndef TANDEMD_INPUT_H
#define TANDEMD_INPUT_H

#include "dns_diff.h"
#include "dns_zone.h"
#include "tandem_diag.h"
#include "tandem_file.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* ---- the watch: stat() of every input on its own thread ------------------------------- */

/* One look at an input, a plain value. */
typedef struct tdm_input_look {
	uint64_t seq;     /* looks taken at this input so far; 0: none yet */
	uint64_t mono_ms; /* when (CLOCK_MONOTONIC) */
	int err;          /* 0, or stat()'s errno (ENOENT: missing) */
	struct stat st;   /* when err is 0 */
} tdm_input_look_t;

typedef struct tdm_input_watch tdm_input_watch_t;

/* After a look that found an input changed, the next look comes this soon (the settle
 * rule's second look at a renamed file), not a whole interval later. */
#define TDM_INPUT_RELOOK_MS 60u

/*
 * Starts a thread that stat()s each of the n paths (borrowed: they must outlive the watch;
 * paths has room for cap, the most tdm_input_watch_grow may reach) every interval_ms
 * (TDM_INPUT_RELOOK_MS after a round that saw an input change), so that an input on a hung file
 * system never blocks the caller: a look that does not come back simply grows old
 * (tdm_input_look_t.mono_ms). It never opens a file. Errors: TANDEM_EINVAL, TANDEM_ENOMEM (no
 * memory or thread).
 */
int tdm_input_watch_new(const char *const *paths, size_t n, size_t cap, uint64_t interval_ms,
			tdm_input_watch_t **out);

/* Watches paths[0..n) from the next round on (a zone added on SIGHUP): paths[old n..n) must
 * be set before the call and stay unchanged. n above cap, or below the current n: nothing. */
void tdm_input_watch_grow(tdm_input_watch_t *w, size_t n);

/* The latest look at path i (seq 0 when none was taken yet). */
void tdm_input_watch_get(tdm_input_watch_t *w, size_t i, tdm_input_look_t *out);

/* Stops and frees the watch; NULL-safe. A thread stuck in stat() for more than two seconds
 * is left behind (the watch is then not freed: the thread still uses it). */
void tdm_input_watch_free(tdm_input_watch_t *w);

/* ---- the settle rule -------------------------------------------------------------------- */

/* What identifies one version of an input file. */
typedef struct tdm_input_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	int64_t mtime_s;
	long mtime_ns;
} tdm_input_id_t;

/* The identity a stat gives. */
tdm_input_id_t tdm_input_id(const struct stat *st);

/* Whether two identities are the same version. */
bool tdm_input_id_equal(const tdm_input_id_t *a, const tdm_input_id_t *b);

/* How long an input has looked the same, a plain value (zero it to start). */
typedef struct tdm_settle {
	bool known;
	tdm_input_id_t id;
	uint64_t since_ms; /* when this version was first seen */
	uint64_t looks;    /* looks that saw it */
	bool new_inode;    /* it came as a new file (renamed into place, or the first look) */
} tdm_settle_t;

/* Takes one look (a regular file's stat at now_ms); returns true when the version changed. */
bool tdm_settle_feed(tdm_settle_t *s, const struct stat *st, uint64_t now_ms);

/*
 * Whether the input may be read now: a new file (a new inode, as a rename into place gives)
 * that a second look still sees unchanged, or a file written in place (same inode) that has
 * stayed unchanged for settle_ms.
 */
bool tdm_settle_ready(const tdm_settle_t *s, uint64_t settle_ms, uint64_t now_ms);

/* ---- the shrink rule -------------------------------------------------------------------- */

/*
 * Whether an input with new_count delegations must be held when the last good input had
 * old_count: it removes more than max_removal hundredths of a percent of them (1000 = 10%).
 * An input that removes none, or a last good input without delegations, is never held.
 */
bool tdm_input_shrink_held(uint64_t old_count, uint64_t new_count, uint32_t max_removal);

/* ---- a run's load ----------------------------------------------------------------------- */

typedef enum {
	TDM_INPUT_LOADED = 0,      /* loaded */
	TDM_INPUT_MISSING,         /* no such file */
	TDM_INPUT_NOT_REGULAR,     /* a FIFO, device, directory, ...: refused, never read */
	TDM_INPUT_UNREADABLE,      /* open or read failed */
	TDM_INPUT_REFUSED,         /* not a loadable zone: diag has FILE:LINE reasons */
	TDM_INPUT_CHANGED,         /* written to while it was read: to be read again */
	TDM_INPUT_HELD,            /* removes more delegations than the policy allows */
	TDM_INPUT_REVIEW_REJECTED, /* loaded, and a review hook rejected it or its signed zone
				      (set by the run, tandemd_sign.c) */
} tdm_input_result_t;

/* The input part of one run. The caller fills the inputs; tdm_input_load the outputs. */
typedef struct tdm_input_job {
	/* inputs (borrowed) */
	const char *path;      /* the file to load */
	bool from_good;        /* path is the node's good copy: no hold, no new copy */
	const char *good_path; /* the good copy: a loaded input is copied beside it */
	bool has_ref;          /* ref is known; else the good copy's delegations are counted */
	uint64_t ref;          /* delegations of the last good input */
	uint32_t max_removal;  /* hundredths of a percent (the policy's) */
	bool has_accept;       /* the operator accepted the input with this SOA serial */
	uint32_t accept_serial;
	dns_signer_owned_t signer_owned; /* what signer-owned records in the input do (policy) */
	/* the zone as an earlier load of the same bytes gave it (NULL: none): when the file's
	 * SHA-256 is cache_hash and it was loaded with the same signer_owned, it is copied
	 * instead of parsed again (docs/node.md, "no change"); keep_copy: a zone parsed anew is
	 * copied into `copy` for the next load's cache */
	const dns_zone_t *cache;
	uint8_t cache_hash[32];
	dns_signer_owned_t cache_owned;
	bool keep_copy;
	/* the file the cache's bytes were last read from: when the file opened is that one,
	 * untouched (the same device, inode, size, mtime and ctime), it is not even read */
	bool has_cache_id;
	tdm_input_id_t cache_id;
	int64_t cache_ctime_s;
	long cache_ctime_ns;
	/* an IXFR received (NULL: none): when the file opened is the one the transfer wrote
	 * (delta_id, delta_ctime) and cache is the zone at the IXFR's old serial, loaded with
	 * the same signer_owned, the zone is cache with delta applied instead of the file
	 * parsed (its bytes are still read: the good copy, the hash); a difference that holds
	 * a record the loader would not keep as it is (signer-owned, another class, outside
	 * the zone) or that does not apply: the file is parsed, as without one */
	const dns_changeset_t *delta;
	tdm_input_id_t delta_id;
	int64_t delta_ctime_s;
	long delta_ctime_ns;
	/* the good copy written of cache's bytes (tdm_input_job_t.good_id of the run that made
	 * cache): while good_path is still that file, a new input is compared with it line by
	 * line and only the lines that differ are parsed (dns_zone_load_delta); when that is not
	 * sure the file is parsed whole, lines_why says why */
	bool has_cache_good;
	tdm_input_id_t cache_good_id;
	/* outputs */
	tdm_input_result_t result;
	tdm_input_id_t id;    /* of what was read (LOADED, REFUSED, HELD, NOT_REGULAR) */
	char type[16];        /* NOT_REGULAR: "fifo", "directory", "socket", "device" */
	uint32_t serial;      /* its SOA serial (LOADED, HELD) */
	uint64_t delegations; /* its delegations (LOADED, HELD) */
	bool ref_known;       /* the hold rule had a reference (ref_used) */
	uint64_t ref_used;
	tandem_afile_t *good; /* LOADED from the input: its copy, written, not yet renamed over
				 good_path (tdm_input_job_clear removes it) */
	uint8_t hash[32];     /* LOADED: the SHA-256 of the bytes read */
	bool from_cache;      /* LOADED: *out is a copy of cache, nothing was parsed */
	bool unread;          /* LOADED, from_cache: the file is cache_id's, it was not read */
	bool compared;        /* LOADED, from_cache: a new file of the good copy's size (the good
				 copy of cache's bytes, cache_good_id) found the same as it, byte for
				 byte (in the page cache), or by its hash taken in pieces
				 (hashed_pieces): never read into one buffer */
	bool hashed_pieces;
	bool good_kept;      /* LOADED, from_cache: good_path is still the good copy written of
				cache's bytes (cache_good_id), so none was written (good NULL) */
	bool from_delta;     /* LOADED: *out is cache with delta applied, nothing was parsed */
	char delta_why[120]; /* delta given but not used: why (the file was parsed) */
	bool from_lines;     /* LOADED: *out is cache with the file's changed lines applied */
	char lines_why[120]; /* a good copy of cache held, but the file was parsed whole: why */
	bool has_good_id;    /* good is set: good_id is the file written (dev, inode, size,
			      * mtime: the same after the rename over good_path) */
	tdm_input_id_t good_id;
	int64_t ctime_s; /* of what was opened (with id) */
	long ctime_ns;
	dns_zone_t *copy; /* LOADED, keep_copy, parsed: an unsigned copy (the caller's: taken,
			     or freed by tdm_input_job_clear) */
	double seconds_read, seconds_parse, seconds_copy; /* where the load's time went */
} tdm_input_job_t;

/*
 * Loads the zone in->path for origin, refusing anything but a regular file: opens it with
 * O_NONBLOCK (a FIFO cannot hang the open), fstat()s the open file, reads it whole and
 * checks it did not change meanwhile, then loads the bytes; an input (not the good copy)
 * that removes too many delegations is held unless the operator accepted its serial.
 * in->result says what happened; *out is the caller's on TANDEM_OK. Without keep_copy, a zone
 * made from the cache (from_lines, from_delta) shares its RRset arrays with it: the caller
 * copies them (dns_zone_copy_cow) before changing the zone in place.
 * Errors: TANDEM_ENOENT (missing), TANDEM_EPERM (not a regular file, or held), TANDEM_EIO
 * (unreadable, or changed while read), the loader's TANDEM_DNS_E*, TANDEM_ENOMEM.
 */
int tdm_input_load(tdm_input_job_t *in, const char *origin, tandem_diag_t *diag, dns_zone_t **out);

/* Removes an uncommitted good copy (in->good). */
void tdm_input_job_clear(tdm_input_job_t *in);

/* ---- a zone's input, as the node sees it --------------------------------------------------- */

typedef enum {
	TDM_INPUT_WAIT,      /* nothing to sign from now */
	TDM_INPUT_USE_INPUT, /* the input, settled */
	TDM_INPUT_USE_GOOD,  /* the last good copy (input missing, refused, held, not regular) */
} tdm_input_use_t;

typedef struct tdm_input_state {
	char good_path[PATH_MAX]; /* WORK/<zone>input: the last input loaded as good */
	bool have_good;
	bool has_ref; /* delegations of the last good input */
	uint64_t ref;
	/* the latest look */
	uint64_t seq;
	int err;
	bool regular;
	char type[16]; /* of a non-regular file */
	tdm_settle_t settle;
	/* a version refused or held: not read again until it changes */
	bool bad;
	tdm_input_id_t bad_id;
	bool bad_held;   /* held by the shrink rule, at held_serial */
	bool bad_nonreg; /* the run found it not a regular file */
	uint32_t held_serial;
	bool bad_review; /* rejected by a review hook: review_serial is the serial the hook saw
			    (the input's, or its signed zone's), review_input the input's */
	bool review_signed_stage;
	uint32_t review_serial;
	uint32_t review_input;
	char review_line[120];  /* the hook's first output line (or why it failed) */
	char review_reason[64]; /* "exit 1", "killed after the timeout of 60 s" */
	bool review_refused;    /* the operator rejected it too (tandemctl zone reject) */
	bool reviewed;          /* the hooks approved the version reviewed_id, SOA serial */
	tdm_input_id_t reviewed_id;
	uint32_t reviewed_serial;
	/* what the run about to start reads (tdm_input_choose's answer) */
	tdm_input_use_t use;
	bool has_accept; /* the operator accepted the input with this serial */
	uint32_t accept_serial;
	bool has_approve; /* the operator approved the version a review hook rejected at this
			     serial (tandemctl zone approve), after the rejection */
	uint32_t approve_serial;
	uint32_t review_seq;        /* the cluster's count of review decisions, last seen */
	uint32_t review_seq_reject; /* ... when the hook rejected: only later ones count */
} tdm_input_state_t;

/* Sets up a zone's state: the good copy is WORK/<zone>input (zone with its final dot); a
 * regular file there is the last good input of an earlier run. Errors: TANDEM_ERANGE (path
 * too long). */
int tdm_input_state_init(tdm_input_state_t *s, const char *work, const char *zone);

/* Names a file type for messages: "fifo", "directory", "socket", "device", "file". */
const char *tdm_input_type(mode_t mode);

/* An IXFR's file, written by this node's transfers in (st: its stat after the rename), is
 * taken as a new version seen and settled (the run signs it at once; the watch's looks at
 * the same file are no change). Returns true (a new version). */
bool tdm_input_state_delivered(tdm_input_state_t *s, const struct stat *st, uint64_t now_ms);

/* Takes a new look into s; returns true when the input changed (a new version appeared,
 * or it went missing or came back). */
bool tdm_input_state_look(tdm_input_state_t *s, const tdm_input_look_t *look);

/* What a run should read now (see the rules in docs/node.md). */
tdm_input_use_t tdm_input_choose(const tdm_input_state_t *s, uint64_t settle_ms, uint64_t now_ms,
				 bool has_accept, uint32_t accept_serial);

#endif
