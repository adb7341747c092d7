/* ZONEMD (RFC 8976): the digest of a zone in memory, SIMPLE scheme. */
#ifndef DNS_ZONEMD_H
#define DNS_ZONEMD_H

#include <stddef.h>
#include <stdint.h>

#include "dns_zone.h"

/* ZONEMD RDATA fields (RFC 8976 2.2): scheme 1 SIMPLE; hash 1 SHA-384, 2 SHA-512. */
#define DNS_ZONEMD_SIMPLE 1
#define DNS_ZONEMD_SHA384 1
#define DNS_ZONEMD_SHA512 2
#define DNS_ZONEMD_MAXLEN 64

/* The digest length of a hash algorithm, 0 for one this module does not know. */
size_t dns_zonemd_hash_len(uint8_t hash_alg);

/*
 * The SIMPLE digest of zone (RFC 8976 3.3): every record in canonical order (RFC 4034 6; the
 * NSEC3 records merged into the order of names; at each name the RRSIGs as one set of type
 * RRSIG, by RDATA), in canonical wire form with the TTLs as the zone holds them (an RRSIG's
 * is its RRset's), glue and occluded data included, each record once, leaving out the
 * apex's ZONEMD RRset and the apex RRSIGs that cover ZONEMD. The whole zone is read: its
 * cost grows with the zone. Writes dns_zonemd_hash_len(hash_alg) bytes to out, and that
 * length to *out_len. Errors: TANDEM_EINVAL (no apex, unknown hash), TANDEM_ENOMEM.
 */
int dns_zonemd_compute(dns_zone_t *zone, uint8_t hash_alg, uint8_t *out, size_t *out_len);

#endif
