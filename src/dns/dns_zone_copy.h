/* A deep copy of a zone in memory, so that a caller can keep one version while another is
 * signed in place. */
#ifndef DNS_ZONE_COPY_H
#define DNS_ZONE_COPY_H

#include "dns_zone.h"

/*
 * A new zone with the same nodes, flags, RRsets, RDATAs, RRSIGs, NSEC3 nodes and NSEC3
 * name hashes as zone, in its own arena: changing or freeing either leaves the other as it
 * was. zone is only read (several threads may copy it at once). Cost grows with the zone
 * (a walk and a memcpy per record; no parsing, no sorting). Errors: TANDEM_EINVAL,
 * TANDEM_ENOMEM; *out set only on success.
 */
int dns_zone_copy(const dns_zone_t *zone, dns_zone_t **out);

#endif
