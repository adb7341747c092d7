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

/*
 * A new zone to change in place as the signer does while zone stays as it is, at the cost of
 * the node and RRset arrays only: its own node arrays, RRset arrays and NSEC3 name hashes,
 * and zone's names, RDATA pointer arrays, RDATAs and RRSIGs shared (zone's arena becomes
 * shared, as in dns_zone_apply: either may be freed first). Changing the copy's RRsets
 * (TTL, flags, signatures, dns_node_put_rrset, dns_node_remove_rrset, its node arrays)
 * leaves zone alone; writing into an RDATA pointer array or the bytes of an RDATA it shares
 * does not. zone is only read but for taking a reference to its arena (one thread at a
 * time). Errors: TANDEM_EINVAL, TANDEM_ENOMEM; *out set only on success.
 */
int dns_zone_copy_cow(dns_zone_t *zone, dns_zone_t **out);

#endif
