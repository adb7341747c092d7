/* tandem-coord's key-set actions that need approvals: an emergency rollover, and its check. */
#include "coordd_keys.h"
#include "kasp_policy.h"
#include "kasp_store.h"
#include "tandem_error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The stored key set of zone into *set, with its revision (0: none). */
static int keyset_read(coord_store_t *store, tandem_diag_t *diag, const char *zone,
		       kasp_keyset_t *set, int64_t *rev)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret = coord_store_doc_get(store, COORD_DOC_KEYSET, zone, diag, &buf, &len, rev);
	if (ret == TANDEM_OK && *rev != 0) {
		ret = kasp_keyset_unpack(buf, len, "stored key set", diag, set);
	}
	free(buf);
	return ret;
}

int coordd_keys_emergency(coord_store_t *store, tandem_diag_t *diag, const char *zone, uint32_t id,
			  uint64_t now_ms, bool *accepted, char *text, size_t size)
{
	kasp_keyset_t *set = malloc(sizeof(*set));
	kasp_policy_t *pol = malloc(sizeof(*pol));
	kasp_step_t *st = malloc(sizeof(*st));
	uint8_t *buf = NULL;
	size_t len = 0;
	int64_t rev = 0, now_rev = 0;
	uint64_t now = now_ms / 1000u; /* the key-state machine counts seconds */
	bool won = false;
	int ret = set == NULL || pol == NULL || st == NULL ? TANDEM_ENOMEM : TANDEM_OK;
	*accepted = false;
	if (ret == TANDEM_OK) {
		ret = keyset_read(store, diag, zone, set, &rev);
	}
	if (ret != TANDEM_OK) {
		snprintf(text, size, "zone %.80s: the stored key set is unreadable: %s", zone,
			 tandem_strerror(ret));
		goto out;
	}
	if (rev == 0) {
		snprintf(text, size, "zone %.80s has no key set", zone);
		goto out;
	}
	const char *path = set->policy_path[0] != '\0' ? set->policy_path : "dps-default";
	if (strcmp(path, "dps-default") == 0 && access(path, F_OK) != 0) {
		kasp_policy_defaults(pol);
	} else if (kasp_policy_load(path, diag, pol) != TANDEM_OK) {
		snprintf(text, size, "zone %.80s: policy %.80s unreadable here: nothing changed",
			 zone, path);
		goto out;
	}
	ret = kasp_keystate_step(set, pol, now, set, st);
	int fact = ret == TANDEM_OK ? kasp_keyset_compromise(set, id, now) : TANDEM_OK;
	if (ret == TANDEM_OK && fact != TANDEM_OK) {
		snprintf(text, size, "zone %.80s: key %" PRIu32 " %s: nothing changed", zone, id,
			 fact == TANDEM_KASP_ENOKEY ? "does not exist"
						    : "cannot be rolled in an emergency");
		goto out;
	}
	if (ret == TANDEM_OK) {
		ret = kasp_keystate_step(set, pol, now, set, st);
	}
	if (ret == TANDEM_OK) {
		ret = kasp_keyset_pack(set, &buf, &len);
	}
	if (ret == TANDEM_OK) {
		ret = coord_store_doc_put(store, COORD_DOC_KEYSET, zone, buf, len, rev, diag, &won,
					  &now_rev);
	}
	if (ret != TANDEM_OK) {
		snprintf(text, size, "zone %.80s: %s", zone, tandem_strerror(ret));
		goto out;
	}
	*accepted = won;
	if (won) {
		snprintf(text, size,
			 "zone %.80s: key %" PRIu32 " compromised; key set written at revision "
			 "%" PRId64,
			 zone, id, now_rev);
	} else {
		snprintf(text, size, "zone %.80s: the key set changed meanwhile: request it again",
			 zone);
	}
out:
	/* only the store's failures and memory are errors; the rest is a refusal (text) */
	if (ret != TANDEM_ENOMEM && (ret > TANDEM_COORD_EUNAVAIL || ret < TANDEM_COORD_EREFUSED)) {
		ret = TANDEM_OK;
	}
	tandem_diag_clear(diag);
	free(buf);
	free(set);
	free(pol);
	free(st);
	return ret;
}

bool coordd_keys_new_compromise(coord_store_t *store, tandem_diag_t *diag,
				const kasp_keyset_t *next, uint32_t *id)
{
	kasp_keyset_t *old = malloc(sizeof(*old));
	int64_t rev = 0;
	bool found = false;
	*id = 0;
	if (old == NULL || keyset_read(store, diag, next->zone, old, &rev) != TANDEM_OK) {
		tandem_diag_clear(diag);
		free(old);
		return true;
	}
	for (size_t i = 0; i < next->count && !found; i++) {
		const kasp_key_t *k = &next->keys[i];
		const kasp_key_t *was = rev != 0 ? kasp_keyset_find(old, k->id) : NULL;
		if (k->compromised && (was == NULL || !was->compromised)) {
			*id = k->id;
			found = true;
		}
	}
	free(old);
	return found;
}
