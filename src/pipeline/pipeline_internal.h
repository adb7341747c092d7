/* The pipeline's private pieces, shared by its files only. */
#ifndef PIPELINE_INTERNAL_H
#define PIPELINE_INTERNAL_H

#include "pipeline.h"

#define PIPELINE_ANCHOR_MAX (2 * PIPELINE_DS_MAX)

/* The gate's trust anchor of one run: the request's DS RDATAs and those made from its key
 * set (bare SHA-256 DS RDATA in own[]). */
typedef struct pipeline_anchor {
	const uint8_t *ptr[PIPELINE_ANCHOR_MAX];
	uint8_t own[PIPELINE_ANCHOR_MAX][64];
	size_t count;
} pipeline_anchor_t;

/* Fills a from req's ds and ds_keys for the zone at origin (wire form). Errors:
 * TANDEM_ERANGE (too many), TANDEM_CRYPTO_* (a DNSKEY no DS can be made from). */
int pipeline_anchor_fill(const pipeline_req_t *req, const uint8_t *origin, pipeline_anchor_t *a);

/*
 * Puts the CDS and CDNSKEY RRsets (RFC 7344; SHA-256 DS) for the DS set the
 * key set wants at the zone's apex, with TTL ttl, when it wants any (callers
 * do this while kasp_keyset_cds_pending). Errors: TANDEM_ENOMEM,
 * TANDEM_EINTERNAL (a DNSKEY the DS cannot be made from).
 */
int pipeline_cds_put(dns_zone_t *zone, const kasp_keyset_t *set, uint32_t ttl);

#endif
