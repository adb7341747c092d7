/* The difference between two versions of a zone, in the shape of an IXFR (RFC 1995). */
#ifndef DNS_DIFF_H
#define DNS_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns_pair.h"
#include "dns_zone.h"

/*
 * A changeset says how version `from` of a zone becomes version `to`: the old SOA
 * and the records removed, then the new SOA and the records added, each an
 * individual RR in canonical wire form (RRSIG, NSEC and NSEC3 records included;
 * an RRSIG is a record of type RRSIG with the TTL of the RRset it covers). A
 * changed TTL is a removal of the record with the old TTL and an addition with
 * the new one, as in IXFR. The SOA records themselves are not in the removed and
 * added lists (their RRSIGs are).
 *
 * A changeset owns copies of everything it holds (its own arena): it stays valid
 * after both versions of the zone are freed.
 */

/* One resource record (a plain value; the bytes belong to whoever made it). */
typedef struct dns_rr {
	const uint8_t *owner; /* wire format, lowercase */
	uint16_t type;
	uint16_t rclass;
	uint32_t ttl;
	const uint8_t *rdata; /* 2-byte big-endian length, then the RDATA */
} dns_rr_t;

typedef struct dns_changeset dns_changeset_t;

/* An empty changeset (no SOA yet). Errors: TANDEM_ENOMEM, TANDEM_EINVAL. */
int dns_changeset_new(dns_changeset_t **out);

/* Frees the changeset and everything it copied; NULL-safe. */
void dns_changeset_free(dns_changeset_t *cs);

/*
 * Sets the old (to_side false) or new SOA record, copying rr's bytes; the serial
 * is read from its RDATA. Errors: TANDEM_EINVAL (not an SOA, RDATA too short),
 * TANDEM_ENOMEM.
 */
int dns_changeset_set_soa(dns_changeset_t *cs, bool to_side, const dns_rr_t *rr);

/* Appends a copy of rr to the records removed (added false) or added. Errors:
 * TANDEM_EINVAL (malformed owner or RDATA), TANDEM_ENOMEM. */
int dns_changeset_add(dns_changeset_t *cs, bool added, const dns_rr_t *rr);

/* The removed (added false) or added records, borrowed, and how many. */
const dns_rr_t *dns_changeset_records(const dns_changeset_t *cs, bool added, size_t *count);

/* The old (to_side false) or new SOA record, borrowed; NULL when not set. */
const dns_rr_t *dns_changeset_soa(const dns_changeset_t *cs, bool to_side);

/* The serial of the old (to_side false) or new SOA (0 when not set). */
uint32_t dns_changeset_serial(const dns_changeset_t *cs, bool to_side);

/* Removed plus added records, the two SOAs not counted. */
size_t dns_changeset_size(const dns_changeset_t *cs);

/*
 * The changeset from old_zone to new_zone (same origin): both node arrays and both
 * NSEC3 arrays are paired in canonical order (dns_zone_pair, one thread), and only the
 * nodes that are not byte for byte the same are diffed. The removed
 * and added records are each in canonical order (dns_rr_compare), so the changeset
 * of two versions is the same whatever order RRSIGs are stored in. Both zones are
 * only read. Errors: TANDEM_EINVAL (NULL, different origins), TANDEM_DNS_ESOA
 * (either zone has no single SOA), TANDEM_ENOMEM; *out set only on success.
 */
int dns_zone_diff(dns_zone_t *old_zone, dns_zone_t *new_zone, dns_changeset_t **out);

/*
 * As dns_zone_diff, from a pairing of the two zones (dns_zone_pair(old_zone, new_zone)) that
 * a caller made once for more than one use (a cycle's gate and digest): only the nodes that
 * are not the same, and those gone, are looked at. Errors: as dns_zone_diff, and
 * TANDEM_EINVAL when pairing is not one of these two zones.
 */
int dns_zone_diff_paired(dns_zone_t *old_zone, dns_zone_t *new_zone,
			 const dns_zone_pairing_t *pairing, dns_changeset_t **out);

/*
 * A new zone: old_zone with the changeset applied (old_zone's records untouched). The old SOA
 * and every removed record must be in old_zone, and no added record already; the
 * result's nodes are flagged as loading flags them, empty non-terminals included.
 * A changeset without RRSIG and NSEC3 records, to a zone without NSEC3 nodes, costs a search
 * per changed owner and a copy of the node array: the result shares the untouched RRsets and
 * RDATA with old_zone (whose arena becomes shared: either may be freed first), so neither may
 * be changed in place (signed, flagged) while the other lives: dns_zone_copy makes one that
 * may. Every few versions in a chain the result is such a copy, so that what the changes
 * removed is freed. Other changesets flatten and sort every record (cost grows with the
 * zone).
 * Errors: TANDEM_ENOENT (a removed record or the old SOA is not in old_zone),
 * TANDEM_EEXIST (an added record is already there), TANDEM_EINVAL, TANDEM_ENOMEM.
 */
int dns_zone_apply(dns_zone_t *old_zone, const dns_changeset_t *cs, dns_zone_t **out);

/* Canonical order of two RRs: owner (RFC 4034 6.1), type, then RDATA (the TTL last). */
int dns_rr_compare(const dns_rr_t *a, const dns_rr_t *b);

#endif
