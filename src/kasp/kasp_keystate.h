/* The key-state machine: a pure function of (key set, policy, now, recorded facts), RFC 7583. */
#ifndef KASP_KEYSTATE_H
#define KASP_KEYSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kasp_policy.h"

/*
 * The scheme (docs/keys.md has the timelines):
 *  - Every role (KSK, ZSK) has one active key. A successor is generated and
 *    published `prepublish` before the active key's lifetime ends (ZSK
 *    pre-publication, RFC 7583 3.2.1; KSK double-DS with the DNSKEY pre-published
 *    as well, 3.3) and takes over when it is ready (KSK: its DS seen and cached).
 *    With the policy's `standby` for a role, a ready standby is kept at all times
 *    as well (the successor of each roll is then the standby).
 *  - An emergency switches to a ready standby at once; without one it asks for a
 *    replacement at once: a compromised ZSK stops signing at once (the active KSK
 *    signs the data, `covers_zsk`, until the replacement is in every cache); a
 *    KSK replacement signs beside the compromised KSK as soon as it is imported,
 *    the DS is swapped, and the compromised KSK stops once the new DS is cached.
 *  - A retired key stays published for `postpublish` (`emergency-postpublish`
 *    after a compromise); a retired KSK's DS is withdrawn once DNSKEY RRsets
 *    it signed are out of caches, and the key is removed only after
 *    `ds-gone`.
 *  - Changing the policy's algorithm starts an algorithm rollover (RFC 6781
 *    4.1.4): new signatures, then the new DNSKEYs, then the DS swap, then the
 *    old DNSKEYs go, then the old signatures.
 * The machine does no I/O, no HSM work and reads no clock: drivers perform the
 * actions it returns (generate a key, tell the parent) and feed facts back.
 */

#define KASP_KEYS_MAX    64  /* keys per zone (removed keys are pruned oldest first) */
#define KASP_DNSKEY_MAX  640 /* DNSKEY RDATA bytes (RSA 4096 needs 520) */
#define KASP_LABEL_MAX   64  /* HSM object label, NUL included */
#define KASP_ZONE_MAX    256 /* zone name, presentation form, NUL included */
#define KASP_ACTIONS_MAX 32
#define KASP_CHANGES_MAX 128

typedef enum { KASP_ROLE_KSK = 0, KASP_ROLE_ZSK = 1 } kasp_role_t;

typedef enum {
	KASP_KEY_GENERATED = 0, /* in the HSM(s), not in the zone yet */
	KASP_KEY_PRESIGN,       /* algorithm rollover, step 1: signs, DNSKEY not published */
	KASP_KEY_PUBLISHED,     /* DNSKEY published, pre-publication running, not signing */
	KASP_KEY_READY,         /* standby: pre-published (KSK: DS at the parent), may take over */
	KASP_KEY_ACTIVE,        /* published and signing */
	KASP_KEY_RETIRED,       /* published, no longer signing: post-publication */
	KASP_KEY_POSTSIGN,      /* algorithm rollover, step 4: signs, DNSKEY withdrawn */
	KASP_KEY_REMOVED,       /* gone from the zone; kept for the record */
} kasp_key_state_t;
#define KASP_KEY_STATE_LAST KASP_KEY_REMOVED

/* Where a KSK's DS stands at the parent. */
typedef enum {
	KASP_DS_NONE = 0, /* never asked for */
	KASP_DS_SUBMIT,   /* CDS/CDNSKEY published, waiting for `ds-seen` */
	KASP_DS_SEEN,     /* the parent serves it */
	KASP_DS_RETRACT,  /* withdrawal asked for, waiting for `ds-gone` */
	KASP_DS_GONE,     /* the parent no longer serves it */
} kasp_ds_state_t;
#define KASP_DS_STATE_LAST KASP_DS_GONE

/* One key and its history (times in seconds since the epoch; 0 = not yet). */
typedef struct kasp_key {
	uint32_t id; /* unique within the zone, never reused */
	kasp_role_t role;
	uint8_t algorithm;
	uint16_t bits;
	uint16_t tag;                    /* key tag of dnskey */
	char label[KASP_LABEL_MAX];      /* HSM object label */
	uint8_t dnskey[KASP_DNSKEY_MAX]; /* DNSKEY RDATA (flags 257 KSK, 256 ZSK) */
	uint16_t dnskey_len;
	kasp_key_state_t state;
	kasp_ds_state_t ds;
	bool imported;    /* every site's HSM holds it (invariant 4); nothing happens before */
	bool compromised; /* an emergency rollover was asked for */
	bool emergency;   /* retired by an emergency: emergency-postpublish applies */
	uint64_t created, published, presigned, active, retired, postsigned, removed;
	uint64_t ds_submitted, ds_seen, ds_retracted, ds_gone;
	uint64_t roll_at; /* manual rollover asked for at this time (0: none) */
	/* derived by kasp_keystate_step: an active KSK that also signs the zone's data
	 * because no ZSK may (a compromised ZSK withdrawn, its replacement not yet in
	 * every cache: docs/keys.md "Emergency") */
	bool covers_zsk;
	uint64_t next; /* derived by kasp_keystate_step: next time it changes alone (0: none) */
} kasp_key_t;

/* A zone's keys. A plain value (about 50 KB): allocate it on the heap. */
typedef struct kasp_keyset {
	char zone[KASP_ZONE_MAX];
	uint32_t next_id;
	size_t count;
	kasp_key_t keys[KASP_KEYS_MAX];
	/* Driver metadata, ignored by the machine: the policy file and token URI
	 * the zone's keys were made with (no PIN; a pin-source path at most). */
	char policy_path[512];
	char token_uri[512];
} kasp_keyset_t;

typedef enum {
	KASP_ACTION_GENERATE = 0, /* make a key of role/algorithm/bits in the HSM, then
				     kasp_keyset_add() it */
	KASP_ACTION_DS_SUBMIT,    /* tell the parent to add key_id's DS (CDS is published) */
	KASP_ACTION_DS_RETRACT,   /* tell the parent to remove key_id's DS */
} kasp_action_kind_t;

typedef struct kasp_action {
	kasp_action_kind_t kind;
	kasp_role_t role;
	uint8_t algorithm;
	uint16_t bits;
	uint32_t key_id;
} kasp_action_t;

/* One transition made by a step, for the timeline. */
typedef struct kasp_change {
	uint32_t key_id;
	kasp_key_state_t from, to;
	kasp_ds_state_t ds_from, ds_to;
	const char *why; /* static text: "planned rollover", "emergency", ... */
} kasp_change_t;

/* What a step did and wants. */
typedef struct kasp_step {
	kasp_action_t actions[KASP_ACTIONS_MAX];
	size_t nactions;
	kasp_change_t changes[KASP_CHANGES_MAX];
	size_t nchanges;
	uint64_t next;     /* next time something changes with no new fact (0: none) */
	bool waiting_ds;   /* a transition waits for ds-seen or ds-gone */
	bool waiting_keys; /* a transition waits for keys to be generated or imported */
} kasp_step_t;

/*
 * Runs the machine at `now`: applies every transition that is due (repeatedly,
 * until nothing changes) to a copy of `in`, writes it to `out` (which may be
 * `in`), and fills `step` with the transitions made, the actions the driver
 * must perform, and the next event time. Each key's `next` is refreshed.
 * Errors: TANDEM_EINVAL (NULL, or a policy whose KSK and ZSK algorithms
 * differ), TANDEM_ENOMEM; out and step written only on success.
 */
int kasp_keystate_step(const kasp_keyset_t *in, const kasp_policy_t *policy, uint64_t now,
		       kasp_keyset_t *out, kasp_step_t *step);

/* Empties set and names its zone. Errors: TANDEM_EINVAL (NULL, name too long). */
int kasp_keyset_init(kasp_keyset_t *set, const char *zone);

/*
 * Records a key the driver generated (after a KASP_ACTION_GENERATE): state
 * GENERATED, created = now, id = set->next_id (which advances). `imported`
 * says whether every site already holds it. When the set is full, the oldest
 * removed key is dropped. Errors: TANDEM_EINVAL (bad argument, DNSKEY or
 * label too long), TANDEM_ERANGE (full of live keys); *id written on success.
 */
int kasp_keyset_add(kasp_keyset_t *set, kasp_role_t role, uint8_t algorithm, uint16_t bits,
		    const char *label, const uint8_t *dnskey, size_t dnskey_len, bool imported,
		    uint64_t now, uint32_t *id);

/* The key with this id (borrowed), or NULL. */
kasp_key_t *kasp_keyset_find(kasp_keyset_t *set, uint32_t id);

/* Fact: the parent serves key id's DS since `now`. Errors: TANDEM_KASP_ENOKEY (no
 * such key), TANDEM_KASP_EFACT (not a KSK whose DS was submitted). */
int kasp_keyset_ds_seen(kasp_keyset_t *set, uint32_t id, uint64_t now);
/* Fact: the parent no longer serves key id's DS. Errors: TANDEM_KASP_ENOKEY,
 * TANDEM_KASP_EFACT (no withdrawal pending for that key). */
int kasp_keyset_ds_gone(kasp_keyset_t *set, uint32_t id, uint64_t now);
/* Fact: every site's HSM holds key id (invariant 4). Errors: TANDEM_KASP_ENOKEY. */
int kasp_keyset_imported(kasp_keyset_t *set, uint32_t id);
/*
 * Fact: key id is compromised. The next step withdraws it from signing (at once
 * for a ZSK, or when a ready standby exists; a KSK without one once its
 * replacement's DS is in every cache), asks for a replacement when there is no
 * successor, and keeps it published for the emergency post-publish period
 * (docs/keys.md "Emergency"). Errors: TANDEM_KASP_ENOKEY,
 * TANDEM_KASP_EFACT (already removed, or in an algorithm rollover's unpublished
 * signing step, where an emergency is not supported).
 */
int kasp_keyset_compromise(kasp_keyset_t *set, uint32_t id, uint64_t now);
/* Asks for a manual rollover of the active key of `role` at `now` (a successor
 * is asked for at once; the switch happens when one is ready). Errors: TANDEM_KASP_ENOKEY (no
 * active key), TANDEM_KASP_EFACT (two active keys: an algorithm rollover is under way),
 * TANDEM_EINVAL. */
int kasp_keyset_roll(kasp_keyset_t *set, kasp_role_t role, uint64_t now);

/*
 * An operator's removal of key id (the approved `key-remove` request, docs/approvals.md):
 * the key goes to REMOVED at `now`, so every HSM destroys it. Refused, with *why a static
 * reason, for a key that signs (active, pre- or post-signing, or an active KSK covering
 * the ZSK's part) or whose DNSKEY is the only published one of its role; a removal at the
 * end of a rollover stays the machine's own. Errors: TANDEM_KASP_ENOKEY, TANDEM_KASP_EFACT
 * (refused, or already removed), TANDEM_EINVAL (NULL).
 */
int kasp_keyset_remove(kasp_keyset_t *set, uint32_t id, uint64_t now, const char **why);

/* One DS change between two versions of a zone's key set. */
typedef struct kasp_ds_change {
	uint32_t id;
	uint16_t tag;
	bool seen; /* true: the parent serves its DS now (ds-seen); false: no longer (ds-gone) */
} kasp_ds_change_t;

/*
 * The KSKs whose DS newly became seen or gone from old (NULL: no key set before) to next,
 * at most max of them into out, in next's order; returns how many. Pure.
 */
size_t kasp_keyset_ds_changes(const kasp_keyset_t *old, const kasp_keyset_t *next,
			      kasp_ds_change_t *out, size_t max);

/* How the signer must use a key in its current state. */
typedef struct kasp_roles {
	bool in_zone;   /* give it to the signer at all */
	bool published; /* its DNSKEY is in the DNSKEY RRset */
	bool ksk;       /* signs DNSKEY, CDS, CDNSKEY */
	bool zsk;       /* signs everything else */
	bool sep;       /* DNSKEY flags 257 */
} kasp_roles_t;

/* The signing roles of key in its state. */
void kasp_key_roles(const kasp_key_t *key, kasp_roles_t *out);

/*
 * A digest of what the key set makes the signer do: each key's id, tag, signing roles
 * (kasp_key_roles) and compromised flag, in key set order. Two key sets with the same digest
 * sign and publish the same DNSKEY RRset and the same signatures; a change that only moves a
 * DS state (ds-seen, ds-gone, a submission) or a timestamp leaves it alone. Never 0. The
 * signing node starts a run at once when it changes (docs/node.md, "When a run starts").
 */
uint64_t kasp_keyset_signing_digest(const kasp_keyset_t *set);

/* True if key's DS belongs in the parent's DS set (submitted or seen): these
 * are the records of the CDS/CDNSKEY RRsets and of `tandemctl keys ds`. */
bool kasp_key_ds_wanted(const kasp_key_t *key);
/* True if the parent has a change to make (a DS submitted or retracted and not
 * yet confirmed): CDS/CDNSKEY are published while this holds (RFC 7344). */
bool kasp_keyset_cds_pending(const kasp_keyset_t *set);

/* Names for printing: "ksk"/"zsk", "published", "seen"... (static, never NULL). */
const char *kasp_role_str(kasp_role_t role);
const char *kasp_key_state_str(kasp_key_state_t state);
const char *kasp_ds_state_str(kasp_ds_state_t ds);

/* Largest TTL the policy gives the zone (RFC 7583 TTLsig). */
uint32_t kasp_policy_ttl_max(const kasp_policy_t *policy);

#endif
