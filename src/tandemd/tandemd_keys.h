/* tandemd's keys: the zone's key set from the cluster archive, imported into this node's HSM. */
#ifndef TANDEMD_KEYS_H
#define TANDEMD_KEYS_H

#include "archive.h"
#include "hsm.h"
#include "kasp_policy.h"
#include "tandem_diag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A key of a zone as this node's HSM holds it. A plain value; key is borrowed from the
 * token. */
typedef struct tdm_key {
	uint32_t id; /* the cluster's key id for the zone */
	const hsm_key_t *key;
	archive_role_t role;
	uint16_t tag;
} tdm_key_t;

/*
 * Makes key `id` of zone in the HSM (label tandem-ZONE-ID; a key already under that
 * label, left by a run that died before the archive took it, is reused) and wraps it
 * under the SMK as a one-key archive entry (*archive is the caller's; free()).
 * Errors: those of hsm_token_generate_key and archive_export_keys.
 */
int tdm_keys_generate(hsm_token_t *token, const char *zone, uint32_t id, archive_role_t role,
		      const kasp_key_policy_t *kp, uint64_t now, tandem_diag_t *diag,
		      tdm_key_t *key, uint8_t **archive, size_t *archive_len);

/*
 * Imports a one-key archive entry into the HSM (a key the token already holds is
 * skipped) and finds it: *key describes it, *imported says whether it was new.
 * Errors: those of archive_import; TANDEM_ARCHIVE_EFORMAT when the entry does not hold
 * exactly one key.
 */
int tdm_keys_import(hsm_token_t *token, uint32_t id, const uint8_t *archive, size_t len,
		    tandem_diag_t *diag, tdm_key_t *key, bool *imported);

/*
 * Destroys key `id` of zone in the HSM (its label tandem-ZONE-ID; hsm_token_destroy_key): a
 * retired key leaves every token. *destroyed says whether the token held it (false: it was
 * not there, nothing to do). A tdm_key_t borrowed for it is dangling afterwards: drop it
 * first. Errors: those of hsm_uri_parse and hsm_token_destroy_key.
 */
int tdm_keys_destroy(hsm_token_t *token, const char *zone, uint32_t id, tandem_diag_t *diag,
		     bool *destroyed);

#endif
