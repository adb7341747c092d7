/* Shared state of the publish gate's parts (signatures, denial chains, driver); verify-only. */
#ifndef VERIFY_INTERNAL_H
#define VERIFY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "dns_zone.h"
#include "tandem_diag.h"
#include "verify.h"

/* One key of the apex DNSKEY RRset, parsed once and shared read-only by the workers. */
typedef struct verify_key {
	crypto_pubkey_t *pub; /* NULL when the algorithm is unsupported or the key malformed */
	uint16_t tag;
	uint16_t flags;
	uint8_t alg;
	bool anchor; /* matches a trust-anchor DS (or has the SEP flag without a DS set) */
} verify_key_t;

#define VERIFY_MAX_ALGS 8

/* Everything the workers read; immutable while they run. */
typedef struct verify_ctx {
	const verify_conf_t *conf;
	tandem_diag_t *diag;
	const uint8_t *apex;
	size_t apex_len;
	const dns_node_t *apex_node;
	verify_key_t *keys;
	size_t key_count;
	uint8_t algs[VERIFY_MAX_ALGS]; /* distinct usable algorithms of the DNSKEY RRset */
	size_t alg_count;
	uint32_t now32;
	bool nsec3;
	/* NSEC3 parameters from NSEC3PARAM */
	uint16_t iterations;
	uint8_t salt_len;
	const uint8_t *salt;
	dns_node_t *nodes;
	size_t node_count;
	dns_node_t *n3nodes;
	size_t n3_count;
	/* incremental: previous version's nodes, and for each node then NSEC3 node of this
	 * version its counterpart there (NULL: none); changed[k]: a changed name (nodes only) */
	bool incremental;
	dns_node_t *pnodes;
	size_t pcount;
	dns_node_t *pn3nodes;
	size_t pn3_count;
	const dns_node_t *const *prev_of;
	const uint8_t *same; /* byte for byte previous's (the pairing's) */
	bool skip_same;      /* ... and their RRSIGs need no look: see incremental_setup */
	bool *changed;
	const dns_node_t **gone3; /* previous version's NSEC3 nodes not in this one */
	size_t gone3_count, gone3_cap;
} verify_ctx_t;

/* A name that needs (or may have) an NSEC3 record, with its hash. */
typedef struct verify_hash {
	uint8_t hash[20];
	bool required;          /* false: an insecure delegation or an ENT above only those */
	const uint8_t *name;    /* wire name; may point into a descendant's name */
	const dns_node_t *node; /* NULL for an empty non-terminal */
} verify_hash_t;

/* The types of one name as a bitset, for type bitmap comparison. */
typedef struct verify_typeset {
	uint8_t bits[256][32];
	uint8_t used[256];
	unsigned top; /* one past the highest window used */
} verify_typeset_t;

/* One thread's share of the work and its private buffers. */
typedef struct verify_worker {
	const verify_ctx_t *ctx;
	size_t begin, end; /* indexes over nodes, then NSEC3 nodes */
	uint8_t *buf;      /* signed data, reused between signatures */
	size_t cap;
	const uint8_t **sorted; /* RDATA pointers when an RRset needs sorting */
	size_t sorted_cap;
	verify_hash_t *hashes;
	size_t hash_count, hash_cap;
	verify_typeset_t types;
	verify_stats_t stats;
	int rc; /* TANDEM_ENOMEM when a buffer could not grow */
} verify_worker_t;

/* Adds "owner TYPE: reason" to the diag and counts a failure. */
void verify_fail(verify_worker_t *w, const uint8_t *owner, uint16_t type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Canonical (RFC 4034 6.1) comparison of wire names, case-insensitive. */
int verify_name_cmp(const uint8_t *a, const uint8_t *b);
/* Length of a wire name within max bytes, or 0 when malformed. */
size_t verify_name_len(const uint8_t *name, size_t max);
/* Label count of a wire name, not counting the root. */
unsigned verify_name_labels(const uint8_t *name);

/* Whether the RRset at node must carry signatures (RFC 4035 2.2). */
bool verify_rrset_signed(const dns_node_t *node, const dns_rrset_t *rrset);

/*
 * Checks the RRSIGs of an RRset that must be signed; reports each failure.
 * Returns true if a valid RRSIG came from a trust-anchor key.
 */
bool verify_rrset_sigs(verify_worker_t *w, const dns_node_t *node, const dns_rrset_t *rrset);

/*
 * As verify_rrset_sigs; an RRSIG byte-identical to one of prev's (the identical RRset of the
 * previous version, which passed the gate; NULL: none) is not checked cryptographically.
 */
bool verify_rrset_sigs_reuse(verify_worker_t *w, const dns_node_t *node, const dns_rrset_t *rrset,
			     const dns_rrset_t *prev);

/* Whether two RRsets hold the same type, TTL and RDATAs (signatures aside). */
bool verify_rrset_same(const dns_rrset_t *a, const dns_rrset_t *b);

/* NSEC checks for nodes[i] (NSEC zones). */
void verify_node_nsec(verify_worker_t *w, size_t i);
/* Collects the NSEC3 hashes nodes[i] requires (NSEC3 zones). */
void verify_node_nsec3_names(verify_worker_t *w, size_t i);
/* Checks the NSEC3 chain against the collected hashes (sorted in place). Incremental
 * (ctx->incremental): hashes are the changed names' only, removed (count nremoved, sorted
 * in place) the hashes of names gone or no longer owning an NSEC3 record. */
void verify_nsec3_chain(verify_worker_t *w, verify_hash_t *hashes, size_t count,
			verify_hash_t *removed, size_t nremoved);
/* Checks the apex ZONEMD records, if any (RFC 8976 4: each of scheme SIMPLE and hash SHA-384
 * or SHA-512 must carry the SOA's serial and the digest of the zone's records; other schemes
 * and hashes are not checked). Whole zone. Returns TANDEM_OK or TANDEM_ENOMEM. */
int verify_zonemd(verify_worker_t *w);
/* Pushes the hash of a previous version's name that is gone (incremental gate). */
bool verify_hash_removed(verify_worker_t *w, const uint8_t *name);

#endif
