/* Key and signing policies: the YAML policy file, validated, as a plain value. */
#ifndef KASP_POLICY_H
#define KASP_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "tandem_diag.h"

typedef struct kasp_key_policy {
	uint8_t algorithm;              /* DNSSEC algorithm number */
	unsigned bits;                  /* RSA modulus size (0 for EC) */
	uint32_t lifetime;              /* active period, seconds */
	uint32_t prepublish;            /* seconds */
	uint32_t postpublish;           /* seconds */
	uint32_t emergency_postpublish; /* seconds */
	bool standby;                   /* keep a ready standby at all times (default false) */
} kasp_key_policy_t;

typedef enum { KASP_DENIAL_NSEC = 0, KASP_DENIAL_NSEC3 = 1 } kasp_denial_t;
typedef enum {
	KASP_SERIAL_KEEP = 0,
	KASP_SERIAL_INCREMENT,
	KASP_SERIAL_UNIXTIME,
	KASP_SERIAL_DATECOUNTER,
} kasp_serial_t;
/* What signing does with DNSKEY, CDS, CDNSKEY, RRSIG, NSEC, NSEC3, NSEC3PARAM or
 * ZONEMD records in the unsigned input (zone.signer-owned; see dns_signer_owned_t). */
typedef enum { KASP_SIGNER_OWNED_DROP = 0, KASP_SIGNER_OWNED_REFUSE = 1 } kasp_signer_owned_t;
/* Whether the active waits for the standby's digest of a committed serial before publishing
 * it (zone.compare-before-publish, docs/policy.md): not at all, up to compare_timeout, or
 * until they agree. */
typedef enum {
	KASP_COMPARE_OFF = 0,
	KASP_COMPARE_WAIT = 1,
	KASP_COMPARE_REQUIRE = 2,
} kasp_compare_t;

/* ZONEMD (RFC 8976) in the signed zone (zone.zonemd, docs/policy.md): none, or the SIMPLE
 * scheme with SHA-384 or SHA-512 (the values are RFC 8976's hash algorithm numbers). */
typedef enum {
	KASP_ZONEMD_OFF = 0,
	KASP_ZONEMD_SHA384 = 1,
	KASP_ZONEMD_SHA512 = 2,
} kasp_zonemd_t;

#define KASP_REVIEW_CMD_MAX   512 /* bytes of a review command, its NUL included */
#define KASP_REVIEW_WORDS_MAX 16  /* words of a review command, the program included */

typedef struct kasp_policy {
	char name[64];
	kasp_key_policy_t ksk;
	kasp_key_policy_t zsk;
	/* signatures */
	uint32_t sig_validity;         /* seconds (default 8 days) */
	uint32_t sig_jitter;           /* seconds (default 2 days) */
	uint32_t sig_inception_offset; /* seconds (default 1 hour) */
	uint32_t sig_refresh;          /* re-sign when less than this is left (default 2 days) */
	uint32_t resign_interval;      /* seconds between re-sign cycles (default 900) */
	uint32_t key_roll_time;        /* seconds within which every signature of a ZSK that stopped
					  signing is replaced (signatures.key-roll-time; 0: the refresh
					  window, validity - jitter - refresh): see
					  kasp_policy_key_roll_time */
	uint32_t max_run_time; /* seconds a node's signing run may take before the node gives
				  the zone up (tandemd: "run-overrun"; default 3600) */
	uint32_t gate_full;    /* seconds between whole-zone gates; the cycles between check what
				  changed against the last version (default 1 day; 0: every cycle) */
	/* denial */
	kasp_denial_t denial;
	bool nsec3_optout;
	uint16_t nsec3_iterations;
	uint8_t nsec3_salt_len; /* bytes of random salt (0: empty, RFC 9276) */
	uint32_t nsec3_resalt;  /* seconds (0: never) */
	/* zone */
	kasp_serial_t serial;
	/* the unsigned input (tandemd) */
	uint32_t input_settle;           /* seconds an input written in place must stay unchanged
					    before a run reads it (default 5) */
	uint32_t max_delegation_removal; /* hundredths of a percent (0..10000, default 1000 =
					    10%) of the last good input's delegations an input may
					    remove before it is held for the operator */
	uint32_t ttl_soa, ttl_dnskey, ttl_ns, ttl_a, ttl_aaaa, ttl_ds, ttl_nsec3;
	uint32_t propagation_delay;        /* seconds */
	uint32_t parent_ds_ttl;            /* seconds */
	uint32_t parent_propagation_delay; /* seconds */
	kasp_signer_owned_t signer_owned;  /* default drop */
	kasp_compare_t compare;            /* zone.compare-before-publish (default wait) */
	uint32_t compare_timeout; /* zone.compare-timeout: seconds the standby's digest is waited
				     for (default 30; 1..3600) */
	/* review hooks (tandemd, docs/node.md "Review hooks"): commands run on a new input
	 * before signing and on its signed zone after the gate; "" (the default): none. The
	 * words of a command are split on spaces and tabs, no shell (kasp_review_split) */
	char review_unsigned[KASP_REVIEW_CMD_MAX];
	char review_signed[KASP_REVIEW_CMD_MAX];
	uint32_t review_timeout;    /* seconds a hook may take before it is killed (default 60) */
	kasp_zonemd_t zonemd;       /* zone.zonemd (default off) */
	uint32_t archive_retention; /* keys.archive-retention: seconds a removed key's wrapped
				       copy stays in the cluster's archive (default 365 days) */
} kasp_policy_t;

/*
 * The time a stopped ZSK's signatures take to leave the zone under p: its key-roll-time,
 * or the refresh window (validity - jitter - refresh) when that is 0 or longer (a signature
 * is refreshed within the window anyway). RFC 7583's Dsgn for a planned ZSK rollover: the
 * old key must stay published this long after it stops signing, plus Dprp and TTLsig.
 */
uint32_t kasp_policy_key_roll_time(const kasp_policy_t *p);

/*
 * Splits a review command (zone.review-unsigned, zone.review-signed) into its words, in
 * place in buf (size bytes, a copy of the command the caller made): argv[0..*argc-1] point
 * into buf, argv[*argc] is NULL (argv has KASP_REVIEW_WORDS_MAX + 1 entries). Words are
 * separated by spaces and tabs; nothing else is special, and no shell ever reads them.
 * Errors: TANDEM_ESYNTAX (why, a sentence, says what): empty, a program that is not an
 * absolute path, a quote, backslash or control character, more than KASP_REVIEW_WORDS_MAX
 * words.
 */
int kasp_review_split(char *buf, char **argv, size_t *argc, char *why, size_t why_size);

/* Fills p with the GMO DPS section 6 defaults ("dps-default"). */
void kasp_policy_defaults(kasp_policy_t *p);

/*
 * Loads a policy YAML file over the defaults and validates it. Unknown keys,
 * bad durations ("90d", "7d", "12h", "3600", "P1Y2M"...), bad algorithms or
 * sizes, and impossible timing (for example a pre-publish shorter than the
 * DNSKEY TTL plus the propagation delay) are refused with "FILE:LINE: reason"
 * in diag (code TANDEM_KASP_EPOLICY); every error found is reported, not just
 * the first. Legal but discouraged settings (NSEC3 iterations or salt, RFC
 * 9276) add "FILE:LINE: warning: ..." with code TANDEM_OK and do not fail.
 * The file format and every rule are in docs/policy.md.
 * Errors: TANDEM_KASP_EPOLICY, TANDEM_EIO (missing or unreadable file),
 * TANDEM_ENOMEM, TANDEM_EINVAL; *out written only on success.
 */
int kasp_policy_load(const char *path, tandem_diag_t *diag, kasp_policy_t *out);

/*
 * kasp_policy_load on a policy's text in memory (len bytes, no NUL needed), as stored in
 * a cluster (docs/policy.md, "In a cluster"): messages are "LABEL:LINE: reason" (label:
 * the file the text came from, or where it is stored). Errors: as kasp_policy_load,
 * without TANDEM_EIO; *out written only on success.
 */
int kasp_policy_parse(const char *label, const char *text, size_t len, tandem_diag_t *diag,
		      kasp_policy_t *out);

/* Validates a policy (as kasp_policy_load does after parsing); messages are
 * "policy NAME: reason", warnings as for kasp_policy_load.
 * Errors: TANDEM_KASP_EPOLICY, TANDEM_EINVAL. */
int kasp_policy_check(const kasp_policy_t *p, tandem_diag_t *diag);

/* Parses a duration ("30d", "12h", "15m", "90s", "1w", "1d12h", plain seconds
 * "3600", ISO 8601 "P1Y"/"P7D"/"PT1H"/"P1DT12H" with Y = 365 days and M = 30
 * days) into seconds. Errors: TANDEM_ESYNTAX, TANDEM_ERANGE (above
 * UINT32_MAX seconds), TANDEM_EINVAL (NULL argument); *out written only on
 * success. */
int kasp_duration_parse(const char *text, uint32_t *out);

#endif
