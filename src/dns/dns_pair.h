/* Two versions of a zone side by side: which nodes are the same, changed, added or gone. */
#ifndef DNS_PAIR_H
#define DNS_PAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns_zone.h"

/*
 * A pairing of version `to` of a zone with the version `from` it follows, made by one walk
 * of both node arrays and both NSEC3 arrays in canonical order. It is what a cycle's gate
 * (verify_zone with a previous version) and its digest (dns_zone_diff_paired) need to
 * follow the change: both then look only at the nodes that are not the same.
 *
 * A node of `to` is *the same* as its counterpart (the node of `from` with the same name)
 * when everything the zone holds for it is byte for byte equal: flags, RRsets (type, TTL,
 * flags, RDATAs in order), and the RRSIGs of each RRset in the same order. An unchanged
 * node costs pointer comparisons where the versions share RDATA or RRSIGs, else a length
 * and memcmp per RDATA and RRSIG; no record is built.
 *
 * The pairing borrows both zones: they must not change, and must outlive it.
 */
typedef struct dns_zone_pairing dns_zone_pairing_t;

/* What the RRSIGs of the nodes that are the same hold, gathered during the walk: a gate
 * that knows `from` passed can then take those signatures as checked, after checking the
 * validity window and the keys here once. */
#define DNS_PAIR_KEYS_MAX 16
typedef struct dns_pair_sigs {
	size_t rrsets;       /* RRsets with at least one RRSIG, in nodes that are the same */
	size_t sigs;         /* their RRSIGs */
	uint32_t expire_min; /* the earliest expiration and latest inception among them, the */
	uint32_t incept_max; /* 32-bit fields read as they are (as dns_zone_rrsig_expiration_min) */
	uint32_t keys[DNS_PAIR_KEYS_MAX]; /* distinct (algorithm << 16 | key tag) */
	size_t key_count;
	bool keys_overflow; /* more distinct keys than DNS_PAIR_KEYS_MAX: keys[] incomplete */
	bool malformed;     /* an RRSIG too short to read the fields above */
	/* the flags field of every NSEC3 record of `from` ([0]) and of `to` ([1]), ORed and
	   ANDed (0 and 0xff without records; a record too short counts as flags 0) */
	uint8_t nsec3_flags_or[2], nsec3_flags_and[2];
} dns_pair_sigs_t;

/*
 * Pairs `to` with `from` (same origin), the work split over `threads` threads (0: 1).
 * Errors: TANDEM_EINVAL (NULL, different origins), TANDEM_ENOMEM; *out set only on success.
 */
int dns_zone_pair(dns_zone_t *from, dns_zone_t *to, unsigned threads, dns_zone_pairing_t **out);

/* Frees the pairing (not the zones); NULL-safe. */
void dns_zone_pairing_free(dns_zone_pairing_t *p);

/* Whether p pairs exactly these two zones, as they are now (their node counts). */
bool dns_zone_pairing_of(const dns_zone_pairing_t *p, dns_zone_t *from, dns_zone_t *to);

/*
 * The counterpart in `from` of each node of `to`, indexed as `to`'s nodes followed by its
 * NSEC3 nodes (node k of the NSEC3 array at node_count + k); NULL: a node added. Borrowed.
 */
const dns_node_t *const *dns_zone_pairing_prev(const dns_zone_pairing_t *p);

/* For the same indexes: 1 when the node is the same as its counterpart, else 0. */
const uint8_t *dns_zone_pairing_same(const dns_zone_pairing_t *p);

/* The nodes of `from` (nsec3 false) or of its NSEC3 array (true) that `to` no longer has,
 * in canonical order, borrowed; *count set. */
const dns_node_t *const *dns_zone_pairing_gone(const dns_zone_pairing_t *p, bool nsec3,
					       size_t *count);

/* Nodes of `to` (both arrays) that are not the same as a counterpart, plus nodes gone. */
size_t dns_zone_pairing_changed(const dns_zone_pairing_t *p);

/* The RRSIGs of the nodes that are the same (both arrays), borrowed. */
const dns_pair_sigs_t *dns_zone_pairing_sigs(const dns_zone_pairing_t *p);

#endif
