/* The zone digest v1: a hash tree over the canonical wire form of a zone, updated per change. */
#ifndef DNS_DIGEST_H
#define DNS_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "dns_diff.h"
#include "dns_zone.h"

/*
 * What the cluster commits for a signed zone and what the standby compares
 * (docs/architecture.md, "Zone digest v1", defines it byte for byte):
 *
 *   RR      owner | type | class | TTL | RDLENGTH | RDATA (RFC 8976 SIMPLE's form; an
 *           RRSIG with the TTL of the RRset it covers)
 *   leaf    one per owner name that holds records: SHA-256 over its RRs, RRsets by type,
 *           each RRset's RDATAs in canonical order followed by its RRSIGs in canonical
 *           RDATA order. The NSEC3 chain's owners (NSEC3 records and their RRSIGs) make
 *           leaves of their own: key = SHA-256(0x01 | owner), other owners'
 *           key = SHA-256(0x00 | owner)
 *   bucket  2^16 of them, by the first 16 bits of the key; hash = SHA-256 over its
 *           leaves' hashes in key order (an empty bucket: SHA-256 of nothing)
 *   group   2^8 of them, each SHA-256 over 256 consecutive bucket hashes
 *   root    SHA-256("tandem-digest-v1" | the 256 group hashes)
 *
 * The root depends on the zone's records only, never on file text, pointers or the
 * order records were added in. An update recomputes the leaves a changeset touches,
 * their buckets and groups, and the root: its cost grows with the change. A digest
 * state is never changed once made: an update makes a new state that shares the
 * untouched buckets of the old one (reference counts), so the state of the version
 * being published stays intact while the next one is built, and either may be freed
 * first (from any thread, one state by one thread at a time).
 */

#define DNS_DIGEST_LEN 32

typedef struct dns_digest dns_digest_t;

/* The digest state of a whole zone (only read). Errors: TANDEM_EINVAL, TANDEM_ENOMEM. */
int dns_digest_new(dns_zone_t *zone, dns_digest_t **out);

/*
 * The state of zone, made from prev (the state of the version cs starts from, borrowed
 * and unchanged) and cs (the changeset to zone, as dns_zone_diff makes it): only the
 * owners cs names are hashed again. The caller keeps prev alive during the call.
 * Errors: TANDEM_EINVAL, TANDEM_ENOMEM; *out set only on success.
 */
int dns_digest_update(const dns_digest_t *prev, dns_zone_t *zone, const dns_changeset_t *cs,
		      dns_digest_t **out);

/* The root hash. */
void dns_digest_root(const dns_digest_t *d, uint8_t out[DNS_DIGEST_LEN]);

/* Leaves in the tree (owner names that hold records). */
size_t dns_digest_leaves(const dns_digest_t *d);

/* Frees the state (the buckets it shares stay with the states that still hold them);
 * NULL-safe. */
void dns_digest_free(dns_digest_t *d);

/* The root of zone in one call. Errors: as dns_digest_new. */
int dns_zone_digest(dns_zone_t *zone, uint8_t out[DNS_DIGEST_LEN]);

/*
 * The zone digest v1 "nosig" of zone in one call: the same tree with every RRSIG left out
 * (a leaf hashes its RRsets' RDATAs only) and the root tag "tandem-digest-v1-nosig", so it
 * never equals a full root. Two signers whose signatures are not deterministic (ECDSA)
 * agree on it when they signed the same records (docs/architecture.md, "Zone digest v1").
 * Made whole each time (no incremental state). Errors: as dns_digest_new.
 */
int dns_zone_digest_nosig(dns_zone_t *zone, uint8_t out[DNS_DIGEST_LEN]);

#endif
