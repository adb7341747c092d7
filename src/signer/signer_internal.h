/* The signer's private pieces, shared by its files only. */
#ifndef SIGNER_INTERNAL_H
#define SIGNER_INTERNAL_H

#include "signer.h"

/* A key as the workers use it. */
typedef struct skey {
	const hsm_key_t *hkey;
	const uint8_t *dnskey; /* its DNSKEY RDATA (length-prefixed) in the zone's arena */
	uint16_t tag;
	uint8_t alg;
	bool ksk, zsk;
	bool unpublished;
} skey_t;

/* Why a signature is made, or that it is copied. */
enum {
	SIGNER_SLOT_NEW = 0, /* the RRset is new or changed */
	SIGNER_SLOT_REFRESH, /* unchanged RRset, signature made again */
};

/* What one signing key does for one RRset: copy keep, or sign (why). */
typedef struct signer_slot {
	const uint8_t *keep; /* previous RRSIG RDATA to keep, or NULL: sign */
	uint32_t left;       /* keep's expiration - now, the schedule's order */
	uint16_t pool;       /* 0: a key that signs; 1 + i: published key i that stopped */
	uint8_t why;         /* SIGNER_SLOT_* when keep is NULL */
} signer_slot_t;

/* One RRset to sign; its slots (one per key that signs its type, in key order) start at
 * slot in the job's slot array. */
typedef struct item {
	const dns_node_t *node;
	dns_rrset_t *rs;
	size_t slot;
} item_t;

/* True if key k signs RRsets of type in this run. */
bool signer_key_signs(const skey_t *k, uint16_t type);

/*
 * Plans which previous signatures to keep (conf->previous set, pmap its signer_prev_map):
 * fills the slots of every item (items in canonical order: main nodes, then NSEC3
 * nodes) with the RRSIG to keep, or NULL and the reason to sign; *kept_bytes: the RDATA
 * bytes (length prefix included) of those kept. Errors: TANDEM_ENOMEM.
 */
int signer_reuse_plan(dns_zone_t *zone, const signer_conf_t *conf, const dns_node_t *const *pmap,
		      const skey_t *keys, size_t nkeys, const item_t *items, size_t nitems,
		      signer_slot_t *slots, size_t *kept_bytes);

/* Where a run's RRSIG and NSEC3 bytes go (dns_zone_dnssec_adopt): the records it makes into
 * bytes, and those it keeps of the previous version pointed at when share (its DNSSEC arenas
 * are the new version's too: dns_zone_dnssec_share), else copied into bytes. live: the bytes
 * of the records kept. bytes NULL: the zone's arena, records copied. */
typedef struct signer_dnssec {
	tandem_arena_t *bytes;
	bool share;
	size_t live;
} signer_dnssec_t;

/*
 * The previous version's node of each of zone's names (same index as dns_zone_nodes; NULL:
 * a new name), in one pass over both node arrays in canonical order that compares names by
 * their bytes and canonically only around names that came or went. *out is malloc'd (the
 * caller frees it). Errors: TANDEM_ENOMEM.
 */
int signer_prev_map(dns_zone_t *zone, dns_zone_t *prev, const dns_node_t ***out);

/* Builds the NSEC chain (NSEC RRsets at every authoritative name and delegation). */
int signer_nsec_build(dns_zone_t *zone, uint32_t ttl, tandem_diag_t *diag, size_t *records);
/* Builds the NSEC3 chain and NSEC3PARAM (RFC 5155) with conf's parameters. The names'
 * hashes stay with the zone (dns_zone_set_node_hashes_take); those of conf->previous are
 * taken for the names it had (pmap: signer_prev_map, NULL without previous) when its
 * NSEC3PARAM is the same, and then its chain is updated
 * around the names that changed instead of made anew. *hashed: hashes computed; *kept:
 * records copied from the previous chain as they were. */
int signer_nsec3_build(dns_zone_t *zone, const signer_conf_t *conf, const dns_node_t *const *pmap,
		       uint32_t ttl, signer_dnssec_t *dnssec, tandem_diag_t *diag, size_t *records,
		       size_t *hashed, size_t *kept);
/* Appends an RFC 4034 4.1.2 type bitmap of the sorted types to buf; returns bytes written
 * (buf holds at least 8704 bytes). */
size_t signer_bitmap(const uint16_t *types, size_t n, uint8_t *buf);

#endif
