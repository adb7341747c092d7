/* tandem-coord's key-set actions that need approvals (an emergency, a manual rollover, a
 * key removal), their checks, and the DS events of a key-set write. */
#include "coordd_keys.h"
#include "coordd_policy.h"
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

/* The one key-set change of an approved action: the stored key set brought up to now under
 * its own policy, the fact applied (a compromise of key id, or a manual rollover of role),
 * stepped again and written at the revision read. */
typedef enum { FACT_COMPROMISE, FACT_ROLL, FACT_REMOVE } keys_fact_t;

/* The key `key` names in set: its id, else the tag of one key not removed; 0 with *why when
 * none or two keys answer to it. */
static uint32_t key_resolve(kasp_keyset_t *set, uint32_t key, const char **why)
{
	const kasp_key_t *by_id = kasp_keyset_find(set, key), *by_tag = NULL;
	size_t ntag = 0;
	for (size_t i = 0; i < set->count; i++) {
		const kasp_key_t *k = &set->keys[i];
		if (k->tag == key && k->state != KASP_KEY_REMOVED && k != by_id) {
			by_tag = k;
			ntag++;
		}
	}
	if ((by_id != NULL && ntag > 0) || ntag > 1) {
		*why = "names more than one key (an id and a tag, or two tags): give the id";
		return 0;
	}
	if (by_id == NULL && by_tag == NULL) {
		*why = "is neither a key id nor the tag of a key";
		return 0;
	}
	return by_id != NULL ? by_id->id : by_tag->id;
}

/* The fact of an approved action applied to the stepped key set; a refusal is its text. */
static int keys_fact(kasp_keyset_t *set, const char *zone, keys_fact_t fact, uint32_t *idp,
		     kasp_role_t role, uint64_t now, char *text, size_t size)
{
	uint32_t id = *idp;
	const char *why = "";
	int ret = TANDEM_OK;
	switch (fact) {
	case FACT_COMPROMISE:
		ret = kasp_keyset_compromise(set, id, now);
		if (ret != TANDEM_OK) {
			snprintf(text, size, "zone %.80s: key %" PRIu32 " %s: nothing changed",
				 zone, id,
				 ret == TANDEM_KASP_ENOKEY ? "does not exist"
							   : "cannot be rolled in an emergency");
		}
		return ret;
	case FACT_ROLL:
		ret = kasp_keyset_roll(set, role, now);
		if (ret != TANDEM_OK) {
			snprintf(text, size, "zone %.80s: no %s to roll: %s: nothing changed", zone,
				 role == KASP_ROLE_KSK ? "KSK" : "ZSK",
				 ret == TANDEM_KASP_ENOKEY ? "no active key"
							   : "an algorithm rollover is under way");
		}
		return ret;
	case FACT_REMOVE: {
		uint32_t found = key_resolve(set, id, &why);
		const kasp_key_t *k = found != 0 ? kasp_keyset_find(set, found) : NULL;
		ret = k == NULL ? TANDEM_KASP_ENOKEY : kasp_keyset_remove(set, found, now, &why);
		*idp = k != NULL ? found : id; /* the success text names the key by id and tag */
		if (ret != TANDEM_OK) {
			snprintf(text, size, "zone %.80s: key %" PRIu32 " not removed: %s%s%s",
				 zone, id, k != NULL ? kasp_key_state_str(k->state) : "",
				 k != NULL ? ", " : "", why);
		}
		return ret;
	}
	}
	return TANDEM_EINVAL;
}

static int keys_act(coord_store_t *store, tandem_diag_t *diag, const char *zone, keys_fact_t what,
		    uint32_t id, kasp_role_t role, uint64_t now_ms, bool *accepted, char *text,
		    size_t size)
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
	/* the zone's cluster policy when it names one (docs/policy.md, "In a cluster"), else
	 * the file the key set records */
	bool cluster = false;
	const char *path = set->policy_path[0] != '\0' ? set->policy_path : "dps-default";
	ret = coordd_policy_of_zone(store, diag, zone, pol, &cluster);
	tandem_diag_clear(diag);
	if (ret != TANDEM_OK) {
		snprintf(text, size,
			 "zone %.80s: its cluster policy is unusable here (%s): nothing "
			 "changed",
			 zone, tandem_strerror(ret));
		ret = ret == TANDEM_KASP_EPOLICY ? TANDEM_OK : ret; /* a refusal, not a failure */
		goto out;
	}
	if (cluster) {
		/* read above */
	} else if (strcmp(path, "dps-default") == 0 && access(path, F_OK) != 0) {
		kasp_policy_defaults(pol);
	} else if (kasp_policy_load(path, diag, pol) != TANDEM_OK) {
		snprintf(text, size, "zone %.80s: policy %.80s unreadable here: nothing changed",
			 zone, path);
		goto out;
	}
	ret = kasp_keystate_step(set, pol, now, set, st);
	if (ret == TANDEM_OK &&
	    keys_fact(set, zone, what, &id, role, now, text, size) != TANDEM_OK) {
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
	const kasp_key_t *k = kasp_keyset_find(set, id);
	if (won && what == FACT_REMOVE) {
		snprintf(text, size,
			 "zone %.80s: key %" PRIu32
			 " (tag %u) removed (every HSM destroys it); key "
			 "set written at revision %" PRId64,
			 zone, id, k != NULL ? k->tag : 0u, now_rev);
	} else if (won && what == FACT_COMPROMISE) {
		snprintf(text, size,
			 "zone %.80s: key %" PRIu32 " compromised; key set written at revision "
			 "%" PRId64,
			 zone, id, now_rev);
	} else if (won) {
		snprintf(text, size,
			 "zone %.80s: %s rollover asked for (a successor is made now); key set "
			 "written at revision %" PRId64,
			 zone, role == KASP_ROLE_KSK ? "KSK" : "ZSK", now_rev);
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

int coordd_keys_emergency(coord_store_t *store, tandem_diag_t *diag, const char *zone, uint32_t id,
			  uint64_t now_ms, bool *accepted, char *text, size_t size)
{
	return keys_act(store, diag, zone, FACT_COMPROMISE, id, KASP_ROLE_ZSK, now_ms, accepted,
			text, size);
}

int coordd_keys_rollover(coord_store_t *store, tandem_diag_t *diag, const char *zone,
			 kasp_role_t role, uint64_t now_ms, bool *accepted, char *text, size_t size)
{
	return keys_act(store, diag, zone, FACT_ROLL, 0, role, now_ms, accepted, text, size);
}

int coordd_keys_remove(coord_store_t *store, tandem_diag_t *diag, const char *zone, uint32_t key,
		       uint64_t now_ms, bool *accepted, char *text, size_t size)
{
	return keys_act(store, diag, zone, FACT_REMOVE, key, KASP_ROLE_ZSK, now_ms, accepted, text,
			size);
}

static bool keys_new_fact(coord_store_t *store, tandem_diag_t *diag, const kasp_keyset_t *next,
			  bool emergency, uint32_t *id);

bool coordd_keys_new_compromise(coord_store_t *store, tandem_diag_t *diag,
				const kasp_keyset_t *next, uint32_t *id)
{
	return keys_new_fact(store, diag, next, true, id);
}

bool coordd_keys_new_roll(coord_store_t *store, tandem_diag_t *diag, const kasp_keyset_t *next,
			  kasp_role_t *role)
{
	uint32_t id = 0;
	bool found = keys_new_fact(store, diag, next, false, &id);
	*role = KASP_ROLE_ZSK;
	for (size_t i = 0; found && i < next->count; i++) {
		if (next->keys[i].id == id) {
			*role = next->keys[i].role;
		}
	}
	return found;
}

/* Whether next marks a key compromised (emergency) or asks for its manual rollover
 * (roll_at set) that the stored key set does not; *id names it. */
static bool keys_new_fact(coord_store_t *store, tandem_diag_t *diag, const kasp_keyset_t *next,
			  bool emergency, uint32_t *id)
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
		bool now_set = emergency ? k->compromised : k->roll_at != 0;
		bool was_set = was != NULL && (emergency ? was->compromised : was->roll_at != 0);
		if (now_set && !was_set) {
			*id = k->id;
			found = true;
		}
	}
	free(old);
	return found;
}

int coordd_keys_read(coord_store_t *store, tandem_diag_t *diag, const char *zone,
		     kasp_keyset_t *set, int64_t *rev)
{
	return keyset_read(store, diag, zone, set, rev);
}
