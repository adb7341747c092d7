/* The dns module's private structures; no other module includes this. */
#ifndef DNS_INTERNAL_H
#define DNS_INTERNAL_H

#include "dns_zone.h"

struct dns_zone {
	tandem_arena_t *arena;
	uint8_t origin[DNS_NAME_MAXLEN];
	size_t origin_len;
	dns_node_t *nodes; /* malloc'd array, canonical order */
	size_t node_count;
	dns_node_t *nsec3; /* malloc'd array, canonical order */
	size_t nsec3_count;
	uint8_t (*hashes)[20]; /* malloc'd, one per node: dns_zone_set_node_hashes_take */
	size_t hash_count;
};

/* Allocates an empty zone for origin (wire). */
int dns_zone_create(const uint8_t *origin, size_t origin_len, dns_zone_t **out);
/* Sets node flags: apex, delegations, below-cut, occluded, wildcard; RRset AUTH. */
void dns_zone_mark(dns_zone_t *zone);
/* The node named name in nodes[count] (canonical order), or NULL: a binary search. */
dns_node_t *dns_nodes_find(dns_node_t *nodes, size_t count, const uint8_t *name);

#endif
