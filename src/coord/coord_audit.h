/* The audit chain in etcd: append under a compare on the head, read by number, cut for retention.
 */
#ifndef COORD_AUDIT_H
#define COORD_AUDIT_H

#include "audit_log.h"
#include "coord_etcd.h"
#include "tandem_diag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Beside the cluster state, under the store's prefix (docs/audit.md, "In etcd"):
 *
 *   PREFIX/audit/e/SEQ      one entry's line (SEQ: 20 decimal digits, so key order is
 *                           number order)
 *   PREFIX/audit/head       "SEQ HASH": the last entry (absent before the first)
 *   PREFIX/audit/base       "SEQ PREV": the first entry kept after a retention cut, and the
 *                           hash of the last one archived (absent: the chain starts at 1)
 *   PREFIX/audit/keys/NAME  a coordinator's anchor public key, in hex
 *
 * An append writes entries N+1.. and the new head in one transaction conditioned on the
 * head's mod_revision, so appenders (any number of coordinators) make one chain: the loser
 * of a race re-seals its entries after the new head and tries again. A client is used by
 * one thread at a time, like the etcd client it borrows.
 */
typedef struct coord_audit coord_audit_t;

/* Most entries one append writes (each is a put; the head one more). */
#define COORD_AUDIT_BATCH_MAX 64u
/* How often an append re-seals after losing the race before it gives up. */
#define COORD_AUDIT_RETRIES 200u

/* The chain's ends as etcd holds them. */
typedef struct coord_audit_head {
	uint64_t seq; /* 0: empty */
	uint8_t hash[AUDIT_HASH_LEN];
	uint64_t base_seq; /* the first entry kept (1 before any cut) */
	uint8_t base_prev[AUDIT_HASH_LEN];
	int64_t base_rev; /* the base key's mod_revision (0: absent) */
} coord_audit_head_t;

/* Lines read from etcd, in number order. */
typedef struct coord_audit_lines {
	size_t n;
	uint64_t *seq;
	char **line; /* NUL-terminated, owned */
} coord_audit_lines_t;

/* Makes an appender over etcd (borrowed) under prefix (the store's, "/tandem/v1/").
 * Errors: TANDEM_EINVAL, TANDEM_ENOMEM. */
int coord_audit_new(coord_etcd_t *etcd, const char *prefix, coord_audit_t **out);
/* Frees; NULL-safe. */
void coord_audit_free(coord_audit_t *a);

/*
 * Appends n (1..COORD_AUDIT_BATCH_MAX) entries, in order, at the end of the chain: seals
 * each (seq, prev, hash: written into entries[]) and writes them with the new head in one
 * transaction, re-sealing after a lost race. A write whose outcome is unknown (a timeout)
 * is checked by reading the head: if it holds the last entry's hash, it was applied.
 * Errors: TANDEM_EINVAL, TANDEM_ENOMEM, TANDEM_COORD_ECONFLICT (lost every race),
 * TANDEM_COORD_EPROTO (a head that is not "SEQ HASH"), the etcd errors
 * (TANDEM_COORD_EUNAVAIL, TANDEM_COORD_ENOQUORUM: not appended, or unknown and the read
 * of the head failed too: the caller may append again, at worst recording twice).
 */
int coord_audit_append(coord_audit_t *a, audit_entry_t *entries, size_t n, tandem_diag_t *diag);

/* Reads the head and base (linearizable). Errors: the etcd errors, TANDEM_COORD_EPROTO. */
int coord_audit_head(coord_audit_t *a, tandem_diag_t *diag, coord_audit_head_t *out);

/*
 * Reads entries from_seq onwards, at most limit (1..), in number order (linearizable).
 * *out is the caller's: coord_audit_lines_free. Errors: TANDEM_EINVAL, TANDEM_ENOMEM, the
 * etcd errors, TANDEM_COORD_EPROTO (a key that is not an entry number).
 */
int coord_audit_read(coord_audit_t *a, uint64_t from_seq, size_t limit, tandem_diag_t *diag,
		     coord_audit_lines_t **out);
/* Frees; NULL-safe. */
void coord_audit_lines_free(coord_audit_lines_t *l);

/* Stores (overwrites) coordinator name's anchor public key. Errors: TANDEM_EINVAL, the etcd
 * errors. */
int coord_audit_key_put(coord_audit_t *a, const char *name, const uint8_t pub[AUDIT_KEY_LEN],
			tandem_diag_t *diag);
/* Adds the stored anchor keys to kr (malformed ones are skipped, named in diag). Errors:
 * the etcd errors, TANDEM_ERANGE (kr full). */
int coord_audit_keys_get(coord_audit_t *a, tandem_diag_t *diag, audit_keyring_t *kr);

/*
 * The retention cut: removes entries seen->base_seq..upto from etcd and sets the base to
 * upto + 1 with prev = upto_hash, in one transaction conditioned on the base being as
 * seen (no other coordinator cut meanwhile). The caller archived and verified the lines
 * first. Errors: TANDEM_EINVAL (upto below the base, or at or beyond the head: the head
 * stays), TANDEM_COORD_ECONFLICT (the base moved), the etcd errors.
 */
int coord_audit_cut(coord_audit_t *a, const coord_audit_head_t *seen, uint64_t upto,
		    const uint8_t upto_hash[AUDIT_HASH_LEN], tandem_diag_t *diag);

/* Races this appender lost (for tests and metrics). */
uint64_t coord_audit_conflicts(const coord_audit_t *a);

#endif
