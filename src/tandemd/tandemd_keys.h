/* tandemd's keys: the zone's key set from the cluster archive, imported into this node's HSM. */
#ifndef TANDEMD_KEYS_H
#define TANDEMD_KEYS_H

#include "archive.h"
#include "coordrpc.h"
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

/* A key being made in the HSM on a thread of its own (a slow generation, RSA 4096 takes
 * seconds, never holds back the loop that renews leases). */
typedef struct tdm_keygen tdm_keygen_t;

/*
 * Starts making key `id` of zone in the HSM (label tandem-ZONE-ID, as tdm_keys_generate) on a
 * new thread, on an HSM session of its own (hsm_token_generate_detached): several may run at
 * once, for different keys, and the caller's thread may use the admin session meanwhile; the
 * key joins the token's key list at tdm_keygen_finish, on the caller's thread. Until then
 * the caller starts no signing run, import or destroy (tandemd's rule: key work between
 * runs). *out is the caller's: tdm_keygen_finish. Errors: TANDEM_ENOMEM, TANDEM_EINTERNAL
 * (no thread).
 */
int tdm_keygen_start(hsm_token_t *token, const char *zone, uint32_t id, const kasp_key_policy_t *kp,
		     tdm_keygen_t **out);

/* Whether the generation has ended (tdm_keygen_finish then does not wait). */
bool tdm_keygen_done(const tdm_keygen_t *g);

/*
 * Waits for the thread, adds the key made to the token's key list (hsm_token_adopt_key), frees
 * g (NULL-safe: TANDEM_OK) and returns the result: TANDEM_OK when the key is in the list
 * (tdm_keys_generate then finds it and only wraps it), else the generation's or the adoption's
 * error with its first diagnostic in why. The caller's thread must own the token.
 */
int tdm_keygen_finish(tdm_keygen_t *g, char *why, size_t why_size);

/* Whether key `id` of zone (label tandem-ZONE-ID) is in the token's key list. */
bool tdm_keys_have(hsm_token_t *token, const char *zone, uint32_t id);

/* Archived keys being imported into the HSM on a thread of their own (unwrapping under the
 * SMK and a test signature each: the HSM's pace, not the loop's). */
typedef struct tdm_keyimport tdm_keyimport_t;

/* One key's outcome, as tdm_keys_import gives it. A plain value; key is borrowed from the
 * token. */
typedef struct tdm_keyimport_result {
	uint32_t id;
	int ret;
	tdm_key_t key; /* ret TANDEM_OK */
	bool imported; /* ret TANDEM_OK: it was new on the token */
	char why[256]; /* ret not TANDEM_OK: the first diagnostic */
} tdm_keyimport_result_t;

/* An empty batch for token (borrowed). *out is the caller's: tdm_keyimport_free. Errors:
 * TANDEM_EINVAL, TANDEM_ENOMEM. */
int tdm_keyimport_new(hsm_token_t *token, tdm_keyimport_t **out);

/* Adds key `id`'s one-key archive entry (copied) to a batch not yet started. Errors:
 * TANDEM_EINVAL (NULL, or started), TANDEM_ENOMEM. */
int tdm_keyimport_add(tdm_keyimport_t *g, uint32_t id, const uint8_t *archive, size_t len);

/* Number of keys in the batch. */
size_t tdm_keyimport_count(const tdm_keyimport_t *g);

/*
 * Starts importing the batch on a new thread (tdm_keys_import for each key). As for
 * tdm_keygen_start, nothing else may use the token's admin session or change its key list
 * until it is done. Errors: TANDEM_EINVAL (NULL, or started), TANDEM_EINTERNAL (no thread).
 */
int tdm_keyimport_start(tdm_keyimport_t *g);

/* Whether the batch's thread has ended. */
bool tdm_keyimport_done(const tdm_keyimport_t *g);

/* Key i's outcome (i < count), once done; borrowed from g. */
const tdm_keyimport_result_t *tdm_keyimport_result(const tdm_keyimport_t *g, size_t i);

/* Waits for the thread if started, frees the copies and g; NULL-safe. */
void tdm_keyimport_free(tdm_keyimport_t *g);

/*
 * Whether the status shows key k acknowledged by a node of every site that must hold it
 * before use (sites 0..nsites-1 that are not suspended), so that coord.key.activate can be
 * granted: the holder asks only then, not once a second per inactive key of every zone
 * (at 500 zones those refused asks were most of a pass's coordinator calls). The
 * coordinator still decides (invariant 4); an ack by a node the status does not list
 * counts for no site. False for an active or retired key.
 */
bool tdm_keys_activation_due(const coordrpc_status_t *st, const coordrpc_key_status_t *k);

#endif
