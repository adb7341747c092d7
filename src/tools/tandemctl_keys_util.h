/* Helpers shared by tandemctl's key-state commands and the rollover simulator. */
#ifndef TANDEMCTL_KEYS_UTIL_H
#define TANDEMCTL_KEYS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hsm.h"
#include "kasp_keystate.h"
#include "kasp_policy.h"
#include "kasp_skr.h"
#include "kasp_store.h"
#include "signer.h"
#include "tandem_diag.h"
#include "tandemctl.h"

/* Exit codes (tandemctl.h). */
enum {
	KEYS_EXIT_OK = 0,
	KEYS_EXIT_USAGE = 1,
	KEYS_EXIT_INPUT = 2,
	KEYS_EXIT_HSM = 3,
	KEYS_EXIT_REFUSED = 4,
	KEYS_EXIT_IO = 5,
	KEYS_EXIT_COORD = 5, /* --cluster: the coordinators unreachable, failing, or too slow */
};

/* Prints every kept message of diag to stderr. */
void keys_diag_print(const tandem_diag_t *diag);

/* Loads a policy file; a name without a file ("dps-default") is the built-in DPS
 * policy. Errors as kasp_policy_load (messages in diag). */
int keys_policy_load(const char *path_or_name, tandem_diag_t *diag, kasp_policy_t *out);

/* Decimal parse with an upper bound; false on anything else. */
bool keys_uint_parse(const char *s, unsigned long long max, unsigned long long *out);

/* "2026-01-01T00:00:00Z" (or "-" for 0) into buf of 32 bytes. */
const char *keys_time_str(uint64_t t, char buf[32]);

/* The zone name lowercased with a trailing dot into buf (KASP_ZONE_MAX);
 * false if it is empty or too long. */
bool keys_zone_norm(const char *in, char *buf);

/* Loads the module and opens the token the URI names (sessions: at least 1).
 * Errors from hsm_module_load / hsm_uri_parse / hsm_token_open, detail in diag. */
int keys_hsm_open(const char *module, const char *token_uri, unsigned sessions, tandem_diag_t *diag,
		  hsm_module_t **mod, hsm_token_t **tok);

/*
 * Generates a key pair for a machine action in the HSM under `label`, and
 * writes its DNSKEY RDATA (flags 257 for a KSK, 256 for a ZSK) to dnskey
 * (KASP_DNSKEY_MAX bytes). Errors from hsm_token_generate_key, TANDEM_EINVAL.
 */
int keys_hsm_generate(hsm_token_t *tok, const kasp_action_t *action, const char *label,
		      tandem_diag_t *diag, const hsm_key_t **key, uint8_t *dnskey,
		      size_t *dnskey_len);

/*
 * As keys_hsm_generate, but a key pair the token already holds under `label`
 * with the action's algorithm is used as it is (*adopted set): `keys ksr`
 * generates a period's planned ZSKs ahead of time under the labels the
 * machine will give them, and `keys generate` adopts them when they are due.
 */
int keys_hsm_adopt_or_generate(hsm_token_t *tok, const kasp_action_t *action, const char *label,
			       tandem_diag_t *diag, const hsm_key_t **key, uint8_t *dnskey,
			       size_t *dnskey_len, bool *adopted);

/* The HSM label the machine's next key of role gets in zone: ZONE-ROLE-ID. */
void keys_label(const char *zone, kasp_role_t role, uint32_t id, char label[KASP_LABEL_MAX]);

/* Durations: "90d", "36h", "15m", "30s" or seconds; false on anything else. */
bool keys_duration_parse(const char *s, uint64_t max, uint64_t *out);

/* tandemctl keys simulate (tandemctl_keys_sim.c); argv[0] is the command's name. */
int tandemctl_keys_simulate(int argc, char **argv);

/* A command's view of the key state: the store, one zone's key set, its policy. */
typedef struct keys_state {
	kasp_store_t *store;
	kasp_keyset_t *set;
	kasp_policy_t policy;
	tandem_diag_t *diag;
} keys_state_t;

/*
 * Loads the key state in dir and, when zone is not NULL, that zone's key set
 * and policy (a new zone is created when may_create and both policy and token
 * are given; new_zone_hint ends the message asking for them). policy and
 * token, when given, are recorded in the key set (a token URI carrying a PIN
 * is refused). Prints what went wrong, prefixed with prog; returns a
 * KEYS_EXIT_* code. keys_state_free() must be called whatever it returns.
 */
int keys_state_load(const char *prog, const char *dir, const char *zone, bool may_create,
		    const char *policy, const char *token, const char *new_zone_hint,
		    keys_state_t *s);
/* Saves the zone's key set into the store and the store into dir (made 0700 if
 * absent), atomically. Returns a KEYS_EXIT_* code. */
int keys_state_save(const char *prog, const char *dir, keys_state_t *s);
/* Frees what keys_state_load allocated. */
void keys_state_free(keys_state_t *s);

/* Lowercase hex of len bytes into out (2 * len + 1 bytes); returns out. */
const char *keys_hex(const uint8_t *in, size_t len, char *out);

/* --cluster: the coordinator connection and the revision the key set was read at. */
typedef struct keys_cluster {
	tandemctl_coord_t *coord;
	int64_t revision;
} keys_cluster_t;

/*
 * --cluster: loads zone's key set through coord.keyset.get into s (s->store stays NULL, and
 * s->policy is not loaded: keys_cluster_policy) and keeps the revision read in cl. None
 * stored yet: with may_create and a policy, a new key set of the zone recording that
 * policy path; else an error. Prints what went wrong, prefixed with prog; returns a
 * KEYS_EXIT_* code. keys_state_free() must be called whatever it returns.
 */
int keys_cluster_load(const char *prog, keys_cluster_t *cl, const char *zone, bool may_create,
		      const char *policy, keys_state_t *s);
/* --cluster: loads s->policy: policy if given; else the zone's cluster policy when the cluster
 * names one (coord.policy.get through cl: the one its nodes sign with, so that a key step
 * here sees what theirs see, an algorithm rollover included); else the key set's (else the
 * built-in one). */
int keys_cluster_policy(const char *prog, keys_cluster_t *cl, const char *policy, keys_state_t *s);
/* --cluster: writes s->set back at cl->revision (coord.keyset.put), prints "key set of ZONE
 * written at revision R" and keeps R in cl. A key set changed meanwhile: KEYS_EXIT_REFUSED. */
int keys_cluster_save(const char *prog, keys_cluster_t *cl, keys_state_t *s);

/*
 * --cluster: the zone's SKR book through coord.skr.get, checked whole (kasp_skrbook_unpack:
 * messages in diag), into book, an empty book of the zone when none is stored (revision
 * 0). A zone not in the cluster: as tandemctl_coord_skr_get (unknown may be NULL). Prints
 * what went wrong, prefixed with prog; returns a KEYS_EXIT_* code; book is initialised
 * whatever it returns (kasp_skrbook_deinit it).
 */
int keys_skrbook_read(const char *prog, tandemctl_coord_t *coord, const char *zone,
		      tandem_diag_t *diag, kasp_skrbook_t *book, int64_t *revision, bool *unknown);
/* --cluster: writes the book if it is still at revision (coord.skr.put); *new_revision on
 * success. Returns a KEYS_EXIT_* code (KEYS_EXIT_REFUSED: changed meanwhile). */
int keys_skrbook_write(const char *prog, tandemctl_coord_t *coord, const kasp_skrbook_t *book,
		       int64_t revision, int64_t *new_revision);

#endif
