/* The dns module's private structures; no other module includes this. */
#ifndef DNS_INTERNAL_H
#define DNS_INTERNAL_H

#include "dns_zone.h"

#include <stdatomic.h>

/* An arena several zones point into (dns_zone_apply's result shares the untouched nodes'
 * RRsets and RDATA with the version it was made from): freed when the last one lets go. */
typedef struct dns_shared_arena {
	tandem_arena_t *arena;
	atomic_size_t refs;
	size_t size; /* a DNSSEC arena's bytes when it was adopted (dns_zone_dnssec_adopt) */
} dns_shared_arena_t;

/* Drops one reference; the last frees the arena. NULL-safe. */
void dns_shared_arena_release(dns_shared_arena_t *sa);

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
	/* set once this zone's arena is shared: zone->arena is own->arena, freed by the last
	 * holder (dns_zone_free) */
	dns_shared_arena_t *own;
	/* the arenas of earlier versions that nodes here point into, one reference each */
	dns_shared_arena_t **shared;
	size_t shared_count;
	/* loaded from a file line for line: no message (warning or error), no duplicate record,
	 * every RRset's lines of one TTL; kept through dns_zone_apply while it holds (the
	 * condition for dns_zone_load_delta) */
	bool exact;
	/* the arenas the signer's RRSIG and NSEC3 bytes of this version live in, one reference
	 * each: those of its own run and those of earlier versions it kept records of
	 * (dns_zone_dnssec_adopt, dns_zone_dnssec_share) */
	dns_shared_arena_t **dnssec;
	size_t dnssec_count;
	size_t dnssec_bytes; /* their sizes added up */
	size_t dnssec_live;  /* of which this version's records (dns_zone_dnssec_seal) */
	bool dnssec_sealed;  /* every record a next run may point at is in them */
};

/* z (new, sharing nothing yet) takes a reference to old's arena (shared from then on), to
 * those old shares and to its DNSSEC arenas. Errors: TANDEM_ENOMEM. */
int dns_zone_share_arenas(dns_zone_t *old, dns_zone_t *z);
/* zone takes a reference to each of from's DNSSEC arenas (its records point into them), without
 * becoming sealed. Errors: TANDEM_ENOMEM (those taken so far stay with zone). */
int dns_zone_dnssec_ref(dns_zone_t *zone, const dns_zone_t *from);
/* Allocates an empty zone for origin (wire). */
int dns_zone_create(const uint8_t *origin, size_t origin_len, dns_zone_t **out);
/* Sets node flags: apex, delegations, below-cut, occluded, wildcard; RRset AUTH. */
void dns_zone_mark(dns_zone_t *zone);
/* As dns_zone_mark, for a zone whose RRset arrays may be shared with another version: an
 * array whose flags change is copied into cow first. Errors: TANDEM_ENOMEM. */
int dns_zone_mark_cow(dns_zone_t *zone, tandem_arena_t *cow);
/* As dns_zone_mark_cow, for the nodes named in names[count] (canonical order), and those below
 * the ones flagged DNS_NODE_MARK_BELOW (whether they are a cut changed): the flags of the
 * others do not change when only these names changed. */
#define DNS_NODE_MARK_BELOW (1u << 15)
int dns_zone_mark_below(dns_zone_t *zone, const dns_node_t *names, size_t count,
			tandem_arena_t *cow);
/* The node named name in nodes[count] (canonical order), or NULL: a binary search. */
dns_node_t *dns_nodes_find(dns_node_t *nodes, size_t count, const uint8_t *name);

#endif
