/* The rollover simulator: the key-state machine on a fake clock, with a fake parent and the cache
 * check. */
#ifndef KASP_SIM_H
#define KASP_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kasp_keystate.h"
#include "tandem_diag.h"

/*
 * The simulator drives kasp_keystate_step() from `start` to `end`, jumping
 * from one event to the next. It plays the parent (a DS submitted or
 * withdrawn is served or dropped parent.propagation-delay later, and then
 * reported with ds-seen / ds-gone), injects the emergencies and the algorithm
 * change it is asked for, and at every event asks the driver to sign and gate
 * the zone (ops.publish) and runs the cache check (kasp_cache.h) over every
 * DS/DNSKEY/RRSIG version served so far. Key generation and signing are the
 * driver's (tandemctl uses the HSM; unit tests fake both).
 */

/* What a driver that really signs found in the zone it published: the keys whose RRSIGs
 * cover the zone's data (every RRset but the DNSKEY RRset), in groups: the keys of one
 * group sign the same RRsets (kasp_cache_key_t.group). With signature reuse these are not
 * only the keys the roles say sign: a stopped ZSK's signatures stay on some RRsets until
 * they are replaced, and the cache check must see them. */
#define KASP_SIM_SIGNERS_MAX 16
typedef struct kasp_sim_signers {
	bool known; /* the driver filled ids (else the roles are taken) */
	size_t n;   /* at most KASP_SIM_SIGNERS_MAX */
	uint32_t ids[KASP_SIM_SIGNERS_MAX];
	uint8_t group[KASP_SIM_SIGNERS_MAX];
} kasp_sim_signers_t;

typedef struct kasp_sim_ops {
	void *arg;
	/* Generates the key the action asks for: writes its HSM label (NUL-terminated,
	 * < KASP_LABEL_MAX) and DNSKEY RDATA (flags 257 for a KSK, 256 for a ZSK; at most
	 * KASP_DNSKEY_MAX bytes). Returns TANDEM_OK or an error (the run stops). */
	int (*generate)(void *arg, const kasp_action_t *action, uint32_t id, char *label,
			uint8_t *dnskey, size_t *dnskey_len);
	/* Signs the zone at `now` with the roles kasp_key_roles() gives each key of set,
	 * publishing CDS/CDNSKEY when kasp_keyset_cds_pending(), and gates it with the
	 * parent's DS set (key ids); returns the number of gate failures (messages in
	 * diag), or (size_t)-1 when signing itself failed (the run stops). It may say which
	 * keys' signatures the published zone's data carries (*signers starts unknown). May
	 * be NULL. */
	size_t (*publish)(void *arg, const kasp_keyset_t *set, const uint32_t *parent_ds,
			  size_t nds, uint64_t now, tandem_diag_t *diag,
			  kasp_sim_signers_t *signers);
	/* One timeline line (no newline). May be NULL. */
	void (*line)(void *arg, const char *text);
} kasp_sim_ops_t;

typedef struct kasp_sim_conf {
	const char *zone;            /* zone name for the key set */
	const kasp_policy_t *policy; /* the policy at the start */
	uint64_t start, end;         /* fake clock, seconds since the epoch */
	uint64_t emergency_zsk;      /* compromise the active ZSK at this time (0: never) */
	uint64_t emergency_ksk;      /* compromise the active KSK at this time (0: never) */
	uint64_t algorithm_at;       /* switch the policy to `algorithm` at this time (0: never) */
	uint8_t algorithm;           /* the new algorithm (RSA keeps or takes 2048/1024 bits) */
	uint64_t cycle; /* also sign every `cycle` seconds (a node's resign interval), as a
			   node does: a driver that reuses signatures then shows their gradual
			   replacement after a rollover; 0: only at events */
} kasp_sim_conf_t;

typedef struct kasp_sim_result {
	unsigned zsk_rollovers; /* ZSKs that signed and were then removed: rollovers completed */
	unsigned ksk_rollovers;
	size_t events;         /* times the zone was signed and checked */
	size_t keys;           /* keys generated */
	size_t gate_failures;  /* from ops.publish */
	size_t cache_failures; /* from kasp_cache_check */
} kasp_sim_result_t;

/*
 * Runs the simulation. Failures of validation (gate or cache) are counted,
 * described in diag and do not stop the run; errors do.
 * Errors: TANDEM_EINVAL, TANDEM_ENOMEM, TANDEM_EINTERNAL (the machine stalled
 * or a version overflowed the cache model), or the error ops returned;
 * *out written only on success.
 */
int kasp_sim_run(const kasp_sim_conf_t *conf, const kasp_sim_ops_t *ops, tandem_diag_t *diag,
		 kasp_sim_result_t *out);

#endif
