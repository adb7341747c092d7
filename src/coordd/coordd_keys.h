/* tandem-coord's key-set actions that need approvals: an emergency rollover and a manual
 * rollover (key generation outside the schedule), a key removal, done here once approved, the
 * checks that refuse the same changes written directly, and the DS events of a write. */
#ifndef COORDD_KEYS_H
#define COORDD_KEYS_H

#include "coord_store.h"
#include "kasp_keystate.h"
#include "tandem_diag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The approved "keys-emergency zone=Z key=ID": what `tandemctl keys emergency --cluster`
 * does, here: the zone's stored key set brought up to now_ms under its own policy (the
 * key set's policy path, else the DPS defaults), key ID marked compromised, stepped again,
 * written at the revision read. *accepted and text say what happened (a refusal: no such
 * key, the policy unreadable, the key set changed meanwhile). Errors: the store's,
 * TANDEM_ENOMEM.
 */
int coordd_keys_emergency(coord_store_t *store, tandem_diag_t *diag, const char *zone, uint32_t id,
			  uint64_t now_ms, bool *accepted, char *text, size_t size);

/*
 * The approved "keygen zone=Z role=ksk|zsk": what `tandemctl keys rollover --cluster` does,
 * here, as coordd_keys_emergency does for an emergency: a manual rollover of the role's
 * active key is asked for (a successor is made at once, DPS: key generation outside the
 * schedule). A refusal (no active key of the role, an algorithm rollover under way, the
 * key set changed meanwhile) is *accepted false with text. Errors: the store's,
 * TANDEM_ENOMEM.
 */
int coordd_keys_rollover(coord_store_t *store, tandem_diag_t *diag, const char *zone,
			 kasp_role_t role, uint64_t now_ms, bool *accepted, char *text,
			 size_t size);

/*
 * The approved "key-remove zone=Z key=ID|TAG": the stored key set brought up to now, the
 * key (its id, else the tag of one key not removed) moved to removed (kasp_keyset_remove:
 * every HSM then destroys it through the usual path), written at the revision read. A
 * refusal (no such key, a key that still signs or is the only published one of its role,
 * an id that is also another key's tag, the key set changed meanwhile) is *accepted false
 * with text. Errors: the store's, TANDEM_ENOMEM.
 */
int coordd_keys_remove(coord_store_t *store, tandem_diag_t *diag, const char *zone, uint32_t key,
		       uint64_t now_ms, bool *accepted, char *text, size_t size);

/* The stored key set of zone into *set (a heap value of the caller's), with its revision
 * (0: none, *set untouched). Errors: the store's, a key set that does not unpack. */
int coordd_keys_read(coord_store_t *store, tandem_diag_t *diag, const char *zone,
		     kasp_keyset_t *set, int64_t *rev);

/*
 * Whether the key set `next` (an operator's put) asks for a manual rollover the stored key
 * set does not (a key's roll_at newly set): *role is that key's role. An unreadable store
 * counts as yes, as below.
 */
bool coordd_keys_new_roll(coord_store_t *store, tandem_diag_t *diag, const kasp_keyset_t *next,
			  kasp_role_t *role);

/*
 * Whether the key set `next` (an operator's put) marks a key compromised that the stored
 * key set of the zone does not: *id names it. A store that cannot be read counts as yes
 * (*id 0): the put then waits for approvals rather than slip through.
 */
bool coordd_keys_new_compromise(coord_store_t *store, tandem_diag_t *diag,
				const kasp_keyset_t *next, uint32_t *id);

#endif
