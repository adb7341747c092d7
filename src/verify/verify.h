/* The publish gate: an independent check of a signed zone before anything is published. */
#ifndef VERIFY_H
#define VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns_pair.h"
#include "dns_zone.h"
#include "tandem_diag.h"

typedef struct verify_conf {
	uint64_t now;              /* validity windows are checked at this time */
	const uint8_t **ds;        /* trust anchor: DS RDATAs for the apex (may be NULL), each
				      bare (as crypto_ds_from_dnskey writes it) or with the dns
				      module's 2-byte length in front; both are accepted */
	size_t ds_count;           /* 0: the DNSKEY RRset must be signed by a SEP key */
	bool allow_foreign_rrsigs; /* RRSIGs by keys not in the DNSKEY RRset are skipped, not
				      failures (an algorithm rollover's first and last steps,
				      RFC 6781 4.1.4); each RRset still needs a valid RRSIG
				      for every algorithm of the DNSKEY RRset */
	unsigned threads;          /* verification threads (0: 1) */
	/* an incremental gate: the previous version of the zone, which passed the gate (whole
	   or incremental) and is not changed while this one runs; NULL: the whole zone. See
	   verify_zone for what is then checked and when the whole zone is checked anyway. */
	const dns_zone_t *previous;
	/* with previous: dns_zone_pair(previous, zone) when the caller made it already (a
	   cycle's digest uses the same one); NULL, or not of these zones: made here */
	const dns_zone_pairing_t *pairing;
} verify_conf_t;

typedef struct verify_stats {
	size_t rrsets;
	size_t signatures;
	size_t denial_records;
	size_t failures;
	size_t verified;  /* signatures checked cryptographically (the rest were reused:
			     byte-identical to one on the identical RRset of `previous`) */
	size_t changed;   /* names added, removed or with other types than in `previous` */
	bool incremental; /* the gate checked against `previous`; false: the whole zone */
} verify_stats_t;

/*
 * Checks zone, which must have been loaded or signed through the dns module
 * (names and RDATA canonical). Uses its own canonical-form and chain code and
 * OpenSSL; it shares no code with the signer. Checks:
 *  - every authoritative RRset has a valid RRSIG, made by a key in the apex
 *    DNSKEY RRset, within its validity window at conf->now;
 *  - the DNSKEY RRset is signed by a key that matches a DS in conf->ds (or,
 *    without a DS set, by a key with the SEP flag);
 *  - the NSEC or NSEC3 chain is complete and ordered, each record's type
 *    bitmap matches its name's types, NSEC3 parameters match NSEC3PARAM;
 *  - no RRSIG on glue, occluded data or delegation NS;
 *  - an apex ZONEMD (RFC 8976) of scheme SIMPLE with SHA-384 or SHA-512 carries the SOA's
 *    serial and the digest of the zone's records (whole zone, also when incremental);
 *    other schemes and hashes are not checked.
 *
 * Incremental (conf->previous set, same apex, DNSKEY RRset, NSEC3PARAM and denial kind
 * as previous, and not: opt-out records in previous and a record without the flag in zone;
 * otherwise the whole zone is checked and stats->incremental is false):
 *  - the two versions are paired (dns_zone_pair, or conf->pairing); a node byte for byte
 *    the same as previous's (the apex aside) is not looked at again when the RRSIGs of all
 *    such nodes are valid at conf->now (their earliest expiration and latest inception)
 *    and each of their keys (algorithm and tag) is a usable key of the DNSKEY RRset (or
 *    conf->allow_foreign_rrsigs); otherwise each such node's RRSIGs get the checks below;
 *  - an RRSIG is checked cryptographically unless it is byte-identical to an RRSIG of the
 *    identical RRset (owner, type, TTL, RDATAs) in previous; a reused one still gets every
 *    other check (validity window at conf->now, signer, labels, TTL, a usable key of that
 *    tag and algorithm); the apex's RRsets are always checked cryptographically;
 *  - NSEC zones: the chain and every bitmap, whole zone (no hashing, no crypto);
 *  - NSEC3 zones: every changed name (added, removed, other types or flags) and the apex is
 *    hashed and needs its record with the right bitmap (a removed one: no record), ENTs and
 *    opt-out as in the full check; every NSEC3 record that is new or differs from
 *    previous's other than in its next-hash field must be the record of a changed name;
 *    and, whole zone, the owners' form and order, the next-hash links, the parameters and
 *    flags of every record;
 *  - whole zone: canonical order of names, RRSIG placement (none on glue or delegations).
 * Each failure is added to diag as "owner TYPE: reason". The work is split
 * over conf->threads threads (disjoint slices of nodes). stats, if not NULL,
 * is filled in whatever the outcome (it is a report, not a result).
 * Returns TANDEM_OK, TANDEM_VERIFY_EFAIL when anything failed, TANDEM_EINVAL
 * for bad arguments, or TANDEM_ENOMEM.
 */
int verify_zone(dns_zone_t *zone, const verify_conf_t *conf, tandem_diag_t *diag,
		verify_stats_t *stats);

#endif
