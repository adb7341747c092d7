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
} signer_conf_t;

/* Fills conf with the DPS defaults (NSEC3, 0 iterations, empty salt, validity
 * 8 days with 2 days of jitter, inception offset 1 hour, serial increment,
 * DPS 6.7 TTLs, 1 thread) at time now. */
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
	size_t signatures;
	size_t nsec_records;
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
 * glue stay unsigned; DS at delegations is signed.
 * Errors: TANDEM_SIGNER_ENOKEY, TANDEM_SIGNER_ESERIAL, TANDEM_SIGNER_ECONF,
 * TANDEM_HSM_ESIGN, TANDEM_ENOMEM (detail in diag). On error the zone may be
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

#endif
