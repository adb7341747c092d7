/* Zone signing: RRSIGs through the HSM session pool, NSEC/NSEC3 chains, SOA serials, TTL policy. */
#ifndef SIGNER_H
#define SIGNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns_zone.h"
#include "hsm.h"
#include "tandem_diag.h"
#include "tandem_serial.h"

typedef enum {
	SIGNER_DENIAL_NSEC = 0,
	SIGNER_DENIAL_NSEC3,
} signer_denial_t;

/* TTL overrides; 0 keeps the zone's TTL. */
typedef struct signer_ttls {
	uint32_t soa, dnskey, ns, a, aaaa, ds, nsec3;
} signer_ttls_t;

/* How to sign (a plain value, usually derived from a kasp policy). */
typedef struct signer_conf {
	uint64_t now;              /* signing time, seconds since the epoch */
	uint32_t inception_offset; /* inception = base - offset (default 3600) */
	uint32_t validity;         /* signature lifetime before jitter (default 8 days) */
	uint32_t jitter;           /* expiration lowered by 0..jitter (default 2 days) */
	uint32_t period;           /* time quantum for inception/expiration (default 900):
				      two signers at the same period produce the same times */
	signer_denial_t denial;
	uint16_t nsec3_iterations;
	uint8_t nsec3_salt_len;
	uint8_t nsec3_salt[255];
	bool nsec3_optout;
	tandem_serial_mode_t serial_mode; /* tandem_serial_next() from the SOA serial */
	uint32_t serial_floor;            /* the new serial must be above this (RFC 1982), if set */
	bool has_serial_floor;
	uint32_t serial_exact; /* the SOA serial to use, whatever the mode (a cluster node's */
	bool has_serial_exact; /* serial comes from the coordinator's commit record) */
	signer_ttls_t ttls;
	unsigned threads; /* signing threads, <= token sessions (0: 1) */
	/*
	 * Offline KSK: the DNSKEY RRset and its RRSIGs exactly as signed at the
	 * KSK ceremony for the current time slot (length-prefixed RDATAs). When
	 * presigned_dnskey_count > 0 the DNSKEY RRset is taken as it is, no key
	 * given to signer_sign_zone may have the KSK role, and every key given
	 * must be in it. The RRSIGs are not checked here: the gate does that.
	 */
	const uint8_t *const *presigned_dnskey;
	uint16_t presigned_dnskey_count;
	const uint8_t *const *presigned_rrsig;
	uint16_t presigned_rrsig_count;
	uint32_t presigned_ttl;
	/*
	 * Incremental signing (docs/signing.md, "Reusing signatures"). previous is
	 * the previously signed version of this zone, borrowed for the call (NULL:
	 * sign everything). Its RRSIGs over RRsets that did not change, by keys that
	 * still sign them, that are not due (now >= expiration - refresh) and that
	 * the refresh schedule does not pick are kept in the new zone: pointed at
	 * when previous was made by this function (the new zone then holds its
	 * signature arenas too: either may be freed first), else copied.
	 */
	const dns_zone_t *previous;
	uint32_t refresh;             /* a signature is due refresh seconds before it expires
					 (default, and 0: (validity - jitter) / 3); with previous,
					 validity - jitter - refresh must be at least a period */
	uint32_t key_roll_time;       /* a published key that stops signing: its signatures are all
					 replaced within this long after its last signing run
					 (0: at once; default: the refresh window) */
	const uint16_t *replace_tags; /* emergency: signatures by these key tags are never */
	uint16_t replace_count;       /* reused (a compromised key) */
	/* ZONEMD (RFC 8976): 0 none, else the SIMPLE scheme with this hash (DNS_ZONEMD_SHA384
	 * or DNS_ZONEMD_SHA512): one ZONEMD at the apex with the new serial and the TTL of the
	 * SOA, over the signed zone, signed last (docs/signing.md, "ZONEMD") */
	uint8_t zonemd_hash;
} signer_conf_t;

/* Fills conf with the DPS defaults (NSEC3, 0 iterations, empty salt, validity
 * 8 days with 2 days of jitter, inception offset 1 hour, refresh 2 days,
 * key roll time 4 days, serial increment, DPS 6.7 TTLs, 1 thread) at time now,
 * with no previous version. */
void signer_conf_defaults(signer_conf_t *conf, uint64_t now);

/*
 * One key and its roles in this signing run. Every key is published in the
 * DNSKEY RRset unless `unpublished`; a key with neither role is published
 * only (pre-publication, post-publication, a standby key).
 */
typedef struct signer_key {
	const hsm_key_t *key; /* borrowed */
	bool ksk;             /* signs the DNSKEY, CDS and CDNSKEY RRsets */
	bool zsk;             /* signs everything else */
	bool sep;             /* DNSKEY flags 257 even when not signing (a KSK's); ksk implies it */
	bool unpublished;     /* signs, but its DNSKEY is not in the zone: the first step of
				 an algorithm rollover (RFC 6781 4.1.4) */
} signer_key_t;

/* What signing did, for reports and benchmarks. */
typedef struct signer_stats {
	size_t rrsets_signed;
	size_t signatures;       /* made by the HSM: rrsigs_new + rrsigs_refreshed */
	size_t rrsigs_new;       /* over RRsets that are new or changed (all, without previous) */
	size_t rrsigs_reused;    /* copied from the previous version */
	size_t rrsigs_refreshed; /* over unchanged RRsets: due, picked by the schedule, key
				    stopped, replaced or new to the role */
	size_t nsec_records;
	size_t nsec3_hashed; /* NSEC3 owner hashes computed (the rest taken from previous) */
	size_t nsec3_kept;   /* NSEC3 records kept from previous as they were (the chain
				updated around the names that changed, not made anew) */
	uint32_t serial;
	double seconds_prepare; /* keys, serial, TTLs, denial chain */
	double seconds_sign;    /* RRSIG generation */
} signer_stats_t;

/*
 * Signs zone in place: applies TTL overrides, sets the SOA serial, replaces
 * the DNSKEY RRset with the keys given (plus CDS/CDNSKEY untouched), builds
 * the NSEC or NSEC3 chain (with NSEC3PARAM), and signs every authoritative
 * RRset: the DNSKEY RRset with the KSKs, all others with the ZSKs, using
 * conf->threads threads, each with its own HSM session. Delegation NS and
 * glue stay unsigned; DS at delegations is signed. With conf->previous, the
 * previous version's signatures that may be kept are kept instead of made
 * again (shared with previous, dns_zone_dnssec_share, or copied: see
 * signer_conf_t.previous); zone never borrows from previous past the call.
 * Errors: TANDEM_SIGNER_ENOKEY, TANDEM_SIGNER_ESERIAL, TANDEM_SIGNER_ECONF,
 * TANDEM_HSM_ESIGN, TANDEM_ENOMEM (detail in diag), TANDEM_EINVAL (also when
 * conf->previous is zone itself). On error the zone may be
 * partly signed and must be discarded.
 */
int signer_sign_zone(dns_zone_t *zone, const signer_conf_t *conf, const signer_key_t *keys,
		     size_t nkeys, hsm_token_t *token, tandem_diag_t *diag, signer_stats_t *stats);

/*
 * One RRSIG by key (DNSKEY flags key_flags, for its key tag) over the RRset
 * (owner, type, ttl, rdata: length-prefixed RDATAs in any order) valid from
 * inception to expiration, signed as signer_name (the zone apex). The
 * offline KSK ceremony signs each time slot's DNSKEY RRset with it. The
 * RRSIG RDATA (length-prefixed) is allocated from arena.
 * Errors: TANDEM_EINVAL (owner outside signer_name, inception after
 * expiration, ...), TANDEM_HSM_ESIGN, TANDEM_ENOMEM.
 */
int signer_rrsig_make(hsm_token_t *token, unsigned session, const hsm_key_t *key,
		      uint16_t key_flags, const uint8_t *owner, const uint8_t *signer_name,
		      uint16_t type, uint32_t ttl, const uint8_t *const *rdata, uint16_t count,
		      uint32_t inception, uint32_t expiration, tandem_arena_t *arena,
		      const uint8_t **out);

/* ---- the refresh schedule (pure functions; docs/signing.md) ---- */

/* The effective refresh of conf: conf->refresh, or (validity - jitter) / 3 when 0. */
uint32_t signer_refresh_of(const signer_conf_t *conf);
/* The refresh window W = validity - jitter - refresh: every reusable signature is
 * refreshed about once per W. 0 when conf leaves no window (refused by signing). */
uint32_t signer_refresh_window(const signer_conf_t *conf);
/* True if a signature expiring at expiration (RFC 4034 serial time) is due at now:
 * now >= expiration - refresh. */
bool signer_rrsig_due(uint32_t expiration, uint64_t now, uint32_t refresh);
/* The expiration a signature over (owner, type) made at conf->now gets (the
 * deterministic jitter below validity). */
uint32_t signer_expiration(const signer_conf_t *conf, const uint8_t *owner, uint16_t type);
/*
 * How many of pool reusable signatures the schedule refreshes in a run at time now
 * whose previous run was at since: floor(pool * now / window) - floor(pool * since /
 * window), at most pool (all when window is 0 or now - since >= window). Summed over
 * successive runs this is pool * elapsed / window, so a zone of any size is refreshed
 * once per window without rounding up each run; two signers with the same previous
 * version and time get the same number. Times are UNIX seconds below 2^32.
 */
size_t signer_refresh_quota(size_t pool, uint64_t since, uint64_t now, uint64_t window);
/*
 * Marks in pick (n bytes) the k smallest of key[0..n) (ties: lower index
 * first), in O(n): the k earliest-expiring signatures when key is the time
 * left. Errors: TANDEM_EINVAL, TANDEM_ENOMEM.
 */
int signer_refresh_pick(const uint32_t *key, size_t n, size_t k, uint8_t *pick);

#endif
