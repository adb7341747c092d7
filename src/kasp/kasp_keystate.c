/* The key-state machine (RFC 7583 timings, RFC 6781 4.1.4 algorithm rollover); pure, no I/O. */
#include "kasp_keystate.h"

#include "kasp_skr.h"
#include "tandem_error.h"

#include <stdlib.h>
#include <string.h>

/* RFC 7583 intervals derived from the policy. */
typedef struct timing {
	uint64_t ipub_key; /* Dprp + TTLkey: a new DNSKEY RRset has reached every cache */
	uint64_t iret_key; /* Dsgn + Dprp + TTLkey: DNSKEY RRsets signed before are out of caches */
	uint64_t iret_sig; /* Dsgn + Dprp + TTLsig: data signed before is out of caches */
	uint64_t iret_zsk; /* key-roll-time + Dprp + TTLsig: a stopped ZSK's last signature is
			      replaced and out of caches (the signer replaces them gradually) */
	uint64_t ipub_ds;  /* DprpP + TTLds: a DS set change has reached every cache */
} timing_t;

typedef struct ctx {
	kasp_keyset_t *set;
	const kasp_policy_t *p;
	uint64_t now;
	timing_t t;
	kasp_step_t *step;
	uint8_t alg; /* the policy's algorithm */
	bool changed;
} ctx_t;

uint32_t kasp_policy_ttl_max(const kasp_policy_t *p)
{
	uint32_t v[] = {p->ttl_soa,  p->ttl_dnskey, p->ttl_ns,   p->ttl_a,
			p->ttl_aaaa, p->ttl_ds,     p->ttl_nsec3};
	uint32_t m = 0;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		m = v[i] > m ? v[i] : m;
	}
	return m;
}

static void timing_from_policy(const kasp_policy_t *p, timing_t *t)
{
	uint64_t dsgn = p->resign_interval, dprp = p->propagation_delay;
	t->ipub_key = dprp + p->ttl_dnskey;
	t->iret_key = dsgn + dprp + p->ttl_dnskey;
	t->iret_sig = dsgn + dprp + kasp_policy_ttl_max(p);
	uint64_t roll = kasp_policy_key_roll_time(p);
	t->iret_zsk = (roll > dsgn ? roll : dsgn) + dprp + kasp_policy_ttl_max(p);
	t->ipub_ds = (uint64_t)p->parent_propagation_delay + p->parent_ds_ttl;
}

static const kasp_key_policy_t *kpol(const ctx_t *c, kasp_role_t role)
{
	return role == KASP_ROLE_KSK ? &c->p->ksk : &c->p->zsk;
}

static bool live(const kasp_key_t *k)
{
	return k->state != KASP_KEY_REMOVED;
}

/* True when time t has come; otherwise t is noted as a coming event. */
static bool due(ctx_t *c, kasp_key_t *k, uint64_t t)
{
	if (c->now >= t) {
		return true;
	}
	if (k != NULL && (k->next == 0 || t < k->next)) {
		k->next = t;
	}
	if (c->step->next == 0 || t < c->step->next) {
		c->step->next = t;
	}
	return false;
}

static void record(ctx_t *c, kasp_key_t *k, kasp_key_state_t from, kasp_ds_state_t ds_from,
		   const char *why)
{
	kasp_step_t *s = c->step;
	if (s->nchanges < KASP_CHANGES_MAX) {
		s->changes[s->nchanges++] = (kasp_change_t){.key_id = k->id,
							    .from = from,
							    .to = k->state,
							    .ds_from = ds_from,
							    .ds_to = k->ds,
							    .why = why};
	}
	c->changed = true;
}

static void set_state(ctx_t *c, kasp_key_t *k, kasp_key_state_t to, const char *why)
{
	kasp_key_state_t from = k->state;
	k->state = to;
	switch (to) {
	case KASP_KEY_PUBLISHED: k->published = c->now; break;
	case KASP_KEY_PRESIGN: k->presigned = c->now; break;
	case KASP_KEY_ACTIVE:
		k->active = c->now;
		if (k->published == 0) {
			k->published = c->now;
		}
		break;
	case KASP_KEY_RETIRED: k->retired = c->now; break;
	case KASP_KEY_POSTSIGN: k->postsigned = c->now; break;
	case KASP_KEY_REMOVED: k->removed = c->now; break;
	default: break;
	}
	record(c, k, from, k->ds, why);
}

static void add_action(ctx_t *c, kasp_action_t a)
{
	kasp_step_t *s = c->step;
	if (s->nactions < KASP_ACTIONS_MAX) {
		s->actions[s->nactions++] = a;
	}
}

static void set_ds(ctx_t *c, kasp_key_t *k, kasp_ds_state_t to, const char *why)
{
	kasp_ds_state_t from = k->ds;
	k->ds = to;
	if (to == KASP_DS_SUBMIT) {
		k->ds_submitted = c->now;
		add_action(c, (kasp_action_t){.kind = KASP_ACTION_DS_SUBMIT,
					      .role = k->role,
					      .algorithm = k->algorithm,
					      .key_id = k->id});
	} else if (to == KASP_DS_RETRACT) {
		k->ds_retracted = c->now;
		add_action(c, (kasp_action_t){.kind = KASP_ACTION_DS_RETRACT,
					      .role = k->role,
					      .algorithm = k->algorithm,
					      .key_id = k->id});
	}
	record(c, k, k->state, from, why);
}

/* The standby to switch to: ready, same role and algorithm, sound; the oldest first. */
static kasp_key_t *ready_successor(ctx_t *c, const kasp_key_t *of)
{
	kasp_key_t *best = NULL;
	for (size_t i = 0; i < c->set->count; i++) {
		kasp_key_t *k = &c->set->keys[i];
		if (k == of || k->state != KASP_KEY_READY || k->role != of->role ||
		    k->algorithm != of->algorithm || k->compromised || !k->imported) {
			continue;
		}
		if (best == NULL || k->published < best->published ||
		    (k->published == best->published && k->id < best->id)) {
			best = k;
		}
	}
	return best;
}

/* An algorithm rollover is under way while a key of another algorithm signs. */
static bool in_algroll(const ctx_t *c)
{
	for (size_t i = 0; i < c->set->count; i++) {
		const kasp_key_t *k = &c->set->keys[i];
		if (k->state == KASP_KEY_PRESIGN) {
			return true;
		}
		if (k->algorithm != c->alg &&
		    (k->state == KASP_KEY_ACTIVE || k->state == KASP_KEY_POSTSIGN)) {
			return true;
		}
	}
	return false;
}

static bool has_state(const ctx_t *c, kasp_role_t role, uint8_t alg, kasp_key_state_t st)
{
	for (size_t i = 0; i < c->set->count; i++) {
		const kasp_key_t *k = &c->set->keys[i];
		if (k->role == role && k->algorithm == alg && k->state == st) {
			return true;
		}
	}
	return false;
}

/* No key of this role has ever signed: the zone's first keys. */
static bool never_signed(const ctx_t *c, kasp_role_t role)
{
	for (size_t i = 0; i < c->set->count; i++) {
		const kasp_key_t *k = &c->set->keys[i];
		if (k->role == role && (k->active != 0 || k->presigned != 0)) {
			return false;
		}
	}
	return true;
}

static void switch_keys(ctx_t *c, kasp_key_t *old, kasp_key_t *succ, bool emergency)
{
	old->emergency = emergency;
	set_state(c, old, KASP_KEY_RETIRED,
		  emergency ? "emergency: compromised key withdrawn from signing"
			    : "planned rollover: retired, post-publication");
	set_state(c, succ, KASP_KEY_ACTIVE,
		  emergency ? "emergency: ready standby takes over"
			    : "planned rollover: successor takes over");
}

/* Whether KSK k may sign the zone's data for a withdrawn ZSK: active, sound, online, and
 * in every cached DNSKEY RRset. */
static bool may_cover(const ctx_t *c, const kasp_key_t *k)
{
	return k->role == KASP_ROLE_KSK && k->state == KASP_KEY_ACTIVE && !k->compromised &&
	       !kasp_key_offline(k) && c->now >= k->published + c->t.ipub_key;
}

static kasp_key_t *cover_ksk(ctx_t *c, uint8_t alg)
{
	for (size_t i = 0; i < c->set->count; i++) {
		kasp_key_t *k = &c->set->keys[i];
		if (k->algorithm == alg && may_cover(c, k)) {
			return k;
		}
	}
	return NULL;
}

static void rule_compromise(ctx_t *c)
{
	bool algroll = in_algroll(c);
	for (size_t i = 0; i < c->set->count; i++) {
		kasp_key_t *k = &c->set->keys[i];
		if (!k->compromised || !live(k)) {
			continue;
		}
		switch (k->state) {
		case KASP_KEY_ACTIVE: {
			kasp_key_t *succ = ready_successor(c, k);
			if (succ != NULL) {
				switch_keys(c, k, succ, true);
			} else if (k->role == KASP_ROLE_ZSK && !algroll &&
				   cover_ksk(c, k->algorithm) != NULL) {
				/* no ZSK may sign yet: the KSK, in every cached DNSKEY RRset,
				 * signs the data until the replacement is (rule_emergency) */
				k->emergency = true;
				set_state(c, k, KASP_KEY_RETIRED,
					  "emergency: compromised ZSK withdrawn from signing; "
					  "the KSK signs the data meanwhile");
			} /* else: rule_emergency hands over to the replacement */
			break;
		}
		case KASP_KEY_GENERATED:
			set_state(c, k, KASP_KEY_REMOVED, "compromised before publication");
			break;
		case KASP_KEY_PUBLISHED:
		case KASP_KEY_READY:
			k->emergency = true;
			set_state(c, k, KASP_KEY_RETIRED, "compromised standby withdrawn");
			break;
		case KASP_KEY_RETIRED: k->emergency = true; break;
		default: break;
		}
	}
}

/* The replacement an emergency takes: not compromised, imported, of the policy's
 * algorithm, in the zone (or, for a KSK, generated); the longest published first. */
static kasp_key_t *replacement(ctx_t *c, kasp_role_t role)
{
	kasp_key_t *best = NULL;
	for (size_t i = 0; i < c->set->count; i++) {
		kasp_key_t *k = &c->set->keys[i];
		if (k->role != role || k->algorithm != c->alg || k->compromised || !k->imported ||
		    (k->state != KASP_KEY_PUBLISHED && k->state != KASP_KEY_READY)) {
			continue;
		}
		if (best == NULL || k->published < best->published ||
		    (k->published == best->published && k->id < best->id)) {
			best = k;
		}
	}
	return best;
}

/*
 * An emergency with no ready standby (docs/keys.md "Emergency"):
 *  - ZSK: the compromised key was withdrawn at once (the KSK signs the data meanwhile,
 *    rule_compromise); the replacement signs once its DNSKEY is in every cache,
 *    Ipub(key) after its publication, without the rest of the pre-publish period.
 *  - KSK: the replacement becomes active the moment it is in the zone (it signs the
 *    DNSKEY RRset beside the compromised key); its DS is asked for once its DNSKEY is
 *    in every cache (rule_ds) and the compromised key's DS is withdrawn in the same
 *    step (a DS swap: CDS/CDNSKEY name only the replacement); the compromised key stops
 *    signing once the new DS is in every cache.
 */
static void rule_emergency(ctx_t *c)
{
	if (in_algroll(c)) {
		return;
	}
	for (int r = KASP_ROLE_KSK; r <= KASP_ROLE_ZSK; r++) {
		kasp_role_t role = (kasp_role_t)r;
		if (never_signed(c, role)) {
			continue;
		}
		kasp_key_t *bad = NULL, *good = NULL;
		for (size_t i = 0; i < c->set->count; i++) {
			kasp_key_t *k = &c->set->keys[i];
			if (k->role != role || k->state != KASP_KEY_ACTIVE ||
			    k->algorithm != c->alg) {
				continue;
			}
			if (k->compromised) {
				bad = bad == NULL ? k : bad;
			} else {
				good = good == NULL ? k : good;
			}
		}
		if (role == KASP_ROLE_ZSK) {
			if (good != NULL) {
				continue;
			}
			kasp_key_t *succ = replacement(c, role);
			if (succ == NULL) {
				c->step->waiting_keys = true;
				continue;
			}
			if (!due(c, succ, succ->published + c->t.ipub_key)) {
				continue;
			}
			if (bad != NULL) {
				switch_keys(c, bad, succ, true);
			} else {
				set_state(c, succ, KASP_KEY_ACTIVE,
					  "emergency: replacement signs (its DNSKEY is in every "
					  "cache)");
			}
			continue;
		}
		if (bad == NULL) {
			continue;
		}
		if (good == NULL) {
			kasp_key_t *succ = replacement(c, role);
			if (succ == NULL) {
				c->step->waiting_keys = true;
				continue;
			}
			set_state(c, succ, KASP_KEY_ACTIVE,
				  "emergency: replacement signs the DNSKEY RRset beside the "
				  "compromised KSK");
			good = succ;
		}
		/* the compromised DS goes once the replacement's is asked for and DNSKEY
		 * RRsets signed by the compromised KSK alone are out of every cache */
		if ((bad->ds == KASP_DS_SUBMIT || bad->ds == KASP_DS_SEEN) &&
		    (good->ds == KASP_DS_SUBMIT || good->ds == KASP_DS_SEEN) &&
		    due(c, good, good->active + c->t.iret_key)) {
			set_ds(c, bad, KASP_DS_RETRACT,
			       "emergency: DS of the compromised KSK withdrawn (DS swap)");
		}
		if (good->ds != KASP_DS_SEEN) {
			c->step->waiting_ds |= good->ds == KASP_DS_SUBMIT;
			continue;
		}
		if (due(c, good, good->ds_seen + c->t.ipub_ds)) {
			bad->emergency = true;
			set_state(c, bad, KASP_KEY_RETIRED,
				  "emergency: compromised KSK stops signing (new DS in every "
				  "cache)");
		}
	}
}

static void rule_bootstrap(ctx_t *c)
{
	if (in_algroll(c)) {
		return;
	}
	for (int r = KASP_ROLE_KSK; r <= KASP_ROLE_ZSK; r++) {
		if (!never_signed(c, (kasp_role_t)r)) {
			continue;
		}
		for (size_t i = 0; i < c->set->count; i++) {
			kasp_key_t *k = &c->set->keys[i];
			if (k->role == (kasp_role_t)r && k->state == KASP_KEY_GENERATED &&
			    k->algorithm == c->alg && k->imported && !k->compromised) {
				/* The zone has no DS yet: no validator depends on it, so its
				 * first keys may sign at once (docs/keys.md). */
				set_state(c, k, KASP_KEY_ACTIVE,
					  "initial key (zone not yet secure)");
				break;
			}
		}
	}
}

static void rule_publish(ctx_t *c)
{
	bool algroll = in_algroll(c);
	for (size_t i = 0; i < c->set->count; i++) {
		kasp_key_t *k = &c->set->keys[i];
		if (k->state != KASP_KEY_GENERATED || k->algorithm != c->alg || k->compromised) {
			continue;
		}
		/* in an algorithm rollover, new standbys wait for the new active keys */
		if (algroll && !has_state(c, k->role, c->alg, KASP_KEY_ACTIVE)) {
			continue;
		}
		if (!k->imported) {
			c->step->waiting_keys = true;
			continue;
		}
		set_state(c, k, KASP_KEY_PUBLISHED, "DNSKEY published (pre-publication)");
	}
}

static void rule_ready(ctx_t *c)
{
	for (size_t i = 0; i < c->set->count; i++) {
		kasp_key_t *k = &c->set->keys[i];
		if (k->state != KASP_KEY_PUBLISHED || k->compromised) {
			continue;
		}
		uint64_t t = k->published + kpol(c, k->role)->prepublish;
		if (k->role == KASP_ROLE_KSK) {
			if (k->ds != KASP_DS_SEEN) {
				c->step->waiting_ds |= k->ds == KASP_DS_SUBMIT;
				continue;
			}
			/* double-DS: every cached DS set must hold the new DS */
			uint64_t ds_t = k->ds_seen + c->t.ipub_ds;
			t = ds_t > t ? ds_t : t;
		}
		if (due(c, k, t)) {
			set_state(c, k, KASP_KEY_READY,
				  k->role == KASP_ROLE_KSK
				      ? "ready: pre-published and DS in every cache"
				      : "ready: pre-published in every cache");
		}
	}
}

static void rule_ds(ctx_t *c)
{
	bool algroll = in_algroll(c);
	bool new_ds = false; /* a KSK of the policy's algorithm signs and has its DS asked for */
	for (size_t i = 0; i < c->set->count; i++) {
		const kasp_key_t *k = &c->set->keys[i];
		new_ds |= k->role == KASP_ROLE_KSK && k->algorithm == c->alg &&
			  k->state == KASP_KEY_ACTIVE &&
			  (k->ds == KASP_DS_SUBMIT || k->ds == KASP_DS_SEEN);
	}
	for (size_t i = 0; i < c->set->count; i++) {
		kasp_key_t *k = &c->set->keys[i];
		if (k->role != KASP_ROLE_KSK || !live(k)) {
			continue;
		}
		if (k->ds == KASP_DS_NONE && k->algorithm == c->alg && !k->compromised &&
		    (k->state == KASP_KEY_PUBLISHED || k->state == KASP_KEY_READY ||
		     k->state == KASP_KEY_ACTIVE)) {
			/* RFC 7344/7583: the DS is asked for once the DNSKEY is in caches */
			if (due(c, k, k->published + c->t.ipub_key)) {
				set_ds(c, k, KASP_DS_SUBMIT, "DS submitted: CDS/CDNSKEY published");
			}
			continue;
		}
		if (k->ds != KASP_DS_SUBMIT && k->ds != KASP_DS_SEEN) {
			continue;
		}
		if (k->state == KASP_KEY_RETIRED) {
			/* the parent must keep the DS while DNSKEY RRsets it signed are cached */
			if (due(c, k, k->retired + c->t.iret_key)) {
				set_ds(c, k, KASP_DS_RETRACT, "DS withdrawal asked for");
			}
		} else if (algroll && k->algorithm != c->alg && new_ds) {
			set_ds(c, k, KASP_DS_RETRACT, "algorithm rollover 3/5: DS swap");
		}
	}
}

static uint64_t roll_time(const ctx_t *c, const kasp_key_t *k)
{
	uint64_t t = k->active + kpol(c, k->role)->lifetime;
	return (k->roll_at != 0 && k->roll_at < t) ? k->roll_at : t;
}

static void rule_roll(ctx_t *c)
{
	for (size_t i = 0; i < c->set->count; i++) {
		kasp_key_t *k = &c->set->keys[i];
		if (k->state != KASP_KEY_ACTIVE || k->compromised || k->algorithm != c->alg) {
			continue;
		}
		if (!due(c, k, roll_time(c, k))) {
			continue;
		}
		kasp_key_t *succ = ready_successor(c, k);
		if (succ != NULL) {
			switch_keys(c, k, succ, false);
			continue;
		}
		/* the DS gate: a KSK never retires before its successor's DS is seen */
		for (size_t j = 0; j < c->set->count; j++) {
			const kasp_key_t *s = &c->set->keys[j];
			c->step->waiting_ds |= s->role == KASP_ROLE_KSK &&
					       s->state == KASP_KEY_PUBLISHED &&
					       s->ds == KASP_DS_SUBMIT;
		}
	}
}

static void rule_remove(ctx_t *c)
{
	for (size_t i = 0; i < c->set->count; i++) {
		kasp_key_t *k = &c->set->keys[i];
		if (k->state == KASP_KEY_RETIRED) {
			const kasp_key_policy_t *kp = kpol(c, k->role);
			uint64_t q = k->emergency ? kp->emergency_postpublish : kp->postpublish;
			if (k->role == KASP_ROLE_ZSK && !k->emergency && q < c->t.iret_zsk) {
				/* never before its last signature is gone (the policy check
				 * refuses such a postpublish; a policy built in memory may not
				 * have been checked) */
				q = c->t.iret_zsk;
			}
			if (k->role == KASP_ROLE_KSK && k->ds != KASP_DS_NONE &&
			    k->ds != KASP_DS_GONE) {
				c->step->waiting_ds |= k->ds == KASP_DS_RETRACT;
				continue;
			}
			if (due(c, k, k->retired + q)) {
				set_state(c, k, KASP_KEY_REMOVED, "post-publication over: removed");
			}
		} else if (k->state == KASP_KEY_POSTSIGN) {
			if (due(c, k, k->postsigned + c->t.iret_key)) {
				set_state(c, k, KASP_KEY_REMOVED,
					  "algorithm rollover 5/5: old signatures withdrawn");
			}
		}
	}
}

/* RFC 6781 4.1.4, steps 1, 2 and 4 (3 is the DS swap in rule_ds, 5 in rule_remove). */
static void rule_algroll(ctx_t *c)
{
	if (!in_algroll(c)) {
		return;
	}
	kasp_keyset_t *set = c->set;
	bool started = false, presign = false;
	kasp_key_t *first[2] = {NULL, NULL};
	uint64_t presigned = 0;
	for (size_t i = 0; i < set->count; i++) {
		kasp_key_t *k = &set->keys[i];
		if (k->algorithm != c->alg || !live(k)) {
			continue;
		}
		started |= k->state != KASP_KEY_GENERATED;
		if (k->state == KASP_KEY_PRESIGN) {
			presign = true;
			presigned = k->presigned > presigned ? k->presigned : presigned;
		}
		if (k->state == KASP_KEY_GENERATED && k->imported && !k->compromised &&
		    first[k->role] == NULL) {
			first[k->role] = k;
		}
	}
	if (!started) {
		if (first[0] == NULL || first[1] == NULL) {
			c->step->waiting_keys = true;
			return;
		}
		for (int r = 0; r < 2; r++) {
			set_state(c, first[r], KASP_KEY_PRESIGN,
				  "algorithm rollover 1/5: new signatures before the new DNSKEY");
		}
		return;
	}
	if (presign) {
		if (!due(c, NULL, presigned + c->t.iret_sig)) {
			return;
		}
		for (size_t i = 0; i < set->count; i++) {
			if (set->keys[i].state == KASP_KEY_PRESIGN) {
				set_state(c, &set->keys[i], KASP_KEY_ACTIVE,
					  "algorithm rollover 2/5: new DNSKEY published");
			}
		}
		return;
	}
	/* step 4 waits for the new DS in every cache and the old DS gone from them */
	kasp_key_t *knew = NULL;
	uint64_t t = 0;
	bool ready = true;
	for (size_t i = 0; i < set->count; i++) {
		kasp_key_t *k = &set->keys[i];
		if (!live(k)) {
			continue;
		}
		if (k->algorithm == c->alg) {
			if (k->role == KASP_ROLE_KSK && k->state == KASP_KEY_ACTIVE) {
				knew = k;
			}
			continue;
		}
		if (k->state == KASP_KEY_RETIRED || k->state == KASP_KEY_POSTSIGN) {
			ready = false; /* retired old keys finish their post-publication first */
		}
		if (k->role == KASP_ROLE_KSK && k->ds != KASP_DS_NONE && k->ds != KASP_DS_GONE) {
			ready = false;
			c->step->waiting_ds |= k->ds == KASP_DS_RETRACT;
		}
		if (k->ds == KASP_DS_GONE && k->ds_gone > t) {
			t = k->ds_gone;
		}
	}
	if (knew == NULL || knew->ds != KASP_DS_SEEN) {
		c->step->waiting_ds |= knew != NULL && knew->ds == KASP_DS_SUBMIT;
		return;
	}
	t = knew->ds_seen > t ? knew->ds_seen : t;
	if (!ready || !due(c, knew, t + c->t.ipub_ds)) {
		return;
	}
	for (size_t i = 0; i < set->count; i++) {
		kasp_key_t *k = &set->keys[i];
		if (!live(k) || k->algorithm == c->alg) {
			continue;
		}
		if (k->state == KASP_KEY_ACTIVE) {
			set_state(c, k, KASP_KEY_POSTSIGN,
				  "algorithm rollover 4/5: old DNSKEY withdrawn, still signing");
		} else {
			set_state(c, k, KASP_KEY_REMOVED,
				  "algorithm rollover: old standby dropped");
		}
	}
}

/* Keys the machine wants generated: a first key (and its standby with the policy's
 * `standby`), a successor `prepublish` before each roll, a replacement at once in an
 * emergency. */
static void rule_successors(ctx_t *c)
{
	for (int r = KASP_ROLE_KSK; r <= KASP_ROLE_ZSK; r++) {
		const kasp_key_policy_t *kp = kpol(c, (kasp_role_t)r);
		unsigned spare = kp->standby ? 1 : 0;
		kasp_key_t *active = NULL;
		unsigned succ = 0, starting = 0;
		for (size_t i = 0; i < c->set->count; i++) {
			kasp_key_t *k = &c->set->keys[i];
			if (k->role != (kasp_role_t)r || k->algorithm != c->alg || k->compromised) {
				continue;
			}
			switch (k->state) {
			case KASP_KEY_ACTIVE: active = k; break;
			case KASP_KEY_PRESIGN: starting++; break;
			case KASP_KEY_GENERATED:
			case KASP_KEY_PUBLISHED:
			case KASP_KEY_READY: succ++; break;
			default: break;
			}
		}
		unsigned want;
		if (active == NULL) {
			/* a first key (and its standby), for a new zone or a new algorithm;
			 * with only a compromised active key, or after a withdrawn one, a
			 * replacement at once */
			want =
			    has_state(c, (kasp_role_t)r, c->alg, KASP_KEY_ACTIVE) ? 1 : 1 + spare;
			succ += starting;
		} else {
			uint64_t rt = roll_time(c, active);
			uint64_t gen = rt > kp->prepublish ? rt - kp->prepublish : 0;
			want = spare + (due(c, active, gen) ? 1 : 0);
		}
		for (unsigned n = succ; n < want; n++) {
			add_action(c, (kasp_action_t){.kind = KASP_ACTION_GENERATE,
						      .role = (kasp_role_t)r,
						      .algorithm = c->alg,
						      .bits = (uint16_t)kp->bits});
			c->step->waiting_keys = true;
		}
	}
}

/* Which active KSKs sign the data as well: those that may while no ZSK signs, after a
 * ZSK has signed (a new zone waits for its first ZSK as before). */
static void derive_cover(ctx_t *c)
{
	bool zsk_signs = never_signed(c, KASP_ROLE_ZSK);
	for (size_t i = 0; i < c->set->count; i++) {
		const kasp_key_t *k = &c->set->keys[i];
		zsk_signs |= k->role == KASP_ROLE_ZSK &&
			     (k->state == KASP_KEY_ACTIVE || k->state == KASP_KEY_PRESIGN ||
			      k->state == KASP_KEY_POSTSIGN);
	}
	for (size_t i = 0; i < c->set->count; i++) {
		kasp_key_t *k = &c->set->keys[i];
		k->covers_zsk = !zsk_signs && may_cover(c, k);
	}
}

int kasp_keystate_step(const kasp_keyset_t *in, const kasp_policy_t *policy, uint64_t now,
		       kasp_keyset_t *out, kasp_step_t *step)
{
	if (in == NULL || policy == NULL || out == NULL || step == NULL ||
	    policy->ksk.algorithm != policy->zsk.algorithm || in->count > KASP_KEYS_MAX) {
		return TANDEM_EINVAL;
	}
	int ret = TANDEM_ENOMEM;
	kasp_keyset_t *set = malloc(sizeof(*set));
	kasp_step_t *st = calloc(1, sizeof(*st));
	if (set == NULL || st == NULL) {
		goto out;
	}
	memcpy(set, in, sizeof(*set));
	ctx_t c = {.set = set, .p = policy, .now = now, .step = st, .alg = policy->ksk.algorithm};
	timing_from_policy(policy, &c.t);
	/* every rule only moves keys forward, so this ends; the bound is a safety net */
	for (int round = 0; round < 64; round++) {
		c.changed = false;
		st->next = 0;
		st->waiting_ds = st->waiting_keys = false;
		for (size_t i = 0; i < set->count; i++) {
			set->keys[i].next = 0;
		}
		rule_compromise(&c);
		rule_bootstrap(&c);
		rule_publish(&c);
		rule_ready(&c);
		rule_emergency(&c);
		rule_ds(&c);
		rule_roll(&c);
		rule_remove(&c);
		rule_algroll(&c);
		if (!c.changed) {
			break;
		}
	}
	derive_cover(&c);
	rule_successors(&c);
	memcpy(out, set, sizeof(*set));
	memcpy(step, st, sizeof(*st));
	ret = TANDEM_OK;
out:
	free(set);
	free(st);
	return ret;
}

/* ---- facts ---- */

int kasp_keyset_init(kasp_keyset_t *set, const char *zone)
{
	if (set == NULL || zone == NULL || strlen(zone) >= KASP_ZONE_MAX || *zone == '\0') {
		return TANDEM_EINVAL;
	}
	memset(set, 0, sizeof(*set));
	memcpy(set->zone, zone, strlen(zone) + 1);
	set->next_id = 1;
	return TANDEM_OK;
}

kasp_key_t *kasp_keyset_find(kasp_keyset_t *set, uint32_t id)
{
	if (set == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < set->count && i < KASP_KEYS_MAX; i++) {
		if (set->keys[i].id == id) {
			return &set->keys[i];
		}
	}
	return NULL;
}

int kasp_keyset_add(kasp_keyset_t *set, kasp_role_t role, uint8_t algorithm, uint16_t bits,
		    const char *label, const uint8_t *dnskey, size_t dnskey_len, bool imported,
		    uint64_t now, uint32_t *id)
{
	if (set == NULL || label == NULL || dnskey == NULL || id == NULL ||
	    (role != KASP_ROLE_KSK && role != KASP_ROLE_ZSK) || strlen(label) >= KASP_LABEL_MAX ||
	    dnskey_len < 4 || dnskey_len > KASP_DNSKEY_MAX || set->count > KASP_KEYS_MAX) {
		return TANDEM_EINVAL;
	}
	if (set->count == KASP_KEYS_MAX) {
		size_t oldest = KASP_KEYS_MAX;
		for (size_t i = 0; i < set->count; i++) {
			if (set->keys[i].state == KASP_KEY_REMOVED &&
			    (oldest == KASP_KEYS_MAX ||
			     set->keys[i].removed < set->keys[oldest].removed)) {
				oldest = i;
			}
		}
		if (oldest == KASP_KEYS_MAX) {
			return TANDEM_ERANGE;
		}
		memmove(&set->keys[oldest], &set->keys[oldest + 1],
			(set->count - oldest - 1) * sizeof(set->keys[0]));
		set->count--;
	}
	kasp_key_t *k = &set->keys[set->count];
	memset(k, 0, sizeof(*k));
	k->id = set->next_id;
	k->role = role;
	k->algorithm = algorithm;
	k->bits = bits;
	memcpy(k->label, label, strlen(label) + 1);
	memcpy(k->dnskey, dnskey, dnskey_len);
	k->dnskey_len = (uint16_t)dnskey_len;
	/* RFC 4034 Appendix B (algorithm 1 is refused by policy, so no special case) */
	uint32_t ac = 0;
	for (size_t i = 0; i < dnskey_len; i++) {
		ac += (i & 1) ? dnskey[i] : (uint32_t)dnskey[i] << 8;
	}
	ac += (ac >> 16) & 0xffff;
	k->tag = (uint16_t)(ac & 0xffff);
	k->state = KASP_KEY_GENERATED;
	k->imported = imported;
	k->created = now;
	set->count++;
	set->next_id++;
	*id = k->id;
	return TANDEM_OK;
}

int kasp_keyset_ds_seen(kasp_keyset_t *set, uint32_t id, uint64_t now)
{
	kasp_key_t *k = kasp_keyset_find(set, id);
	if (k == NULL) {
		return TANDEM_KASP_ENOKEY;
	}
	if (k->role != KASP_ROLE_KSK || k->ds != KASP_DS_SUBMIT) {
		return TANDEM_KASP_EFACT;
	}
	k->ds = KASP_DS_SEEN;
	k->ds_seen = now;
	return TANDEM_OK;
}

int kasp_keyset_ds_gone(kasp_keyset_t *set, uint32_t id, uint64_t now)
{
	kasp_key_t *k = kasp_keyset_find(set, id);
	if (k == NULL) {
		return TANDEM_KASP_ENOKEY;
	}
	if (k->role != KASP_ROLE_KSK || k->ds != KASP_DS_RETRACT) {
		return TANDEM_KASP_EFACT;
	}
	k->ds = KASP_DS_GONE;
	k->ds_gone = now;
	return TANDEM_OK;
}

int kasp_keyset_imported(kasp_keyset_t *set, uint32_t id)
{
	kasp_key_t *k = kasp_keyset_find(set, id);
	if (k == NULL) {
		return TANDEM_KASP_ENOKEY;
	}
	k->imported = true;
	return TANDEM_OK;
}

int kasp_keyset_compromise(kasp_keyset_t *set, uint32_t id, uint64_t now)
{
	kasp_key_t *k = kasp_keyset_find(set, id);
	if (k == NULL) {
		return TANDEM_KASP_ENOKEY;
	}
	if (k->state == KASP_KEY_REMOVED || k->state == KASP_KEY_PRESIGN ||
	    k->state == KASP_KEY_POSTSIGN) {
		return TANDEM_KASP_EFACT;
	}
	(void)now; /* the switch happens at the next step, whose time is the driver's */
	k->compromised = true;
	return TANDEM_OK;
}

int kasp_keyset_remove(kasp_keyset_t *set, uint32_t id, uint64_t now, const char **why)
{
	static const char *none = "";
	const char **w = why != NULL ? why : &none;
	*w = "";
	if (set == NULL) {
		return TANDEM_EINVAL;
	}
	kasp_key_t *k = kasp_keyset_find(set, id);
	if (k == NULL) {
		*w = "no such key";
		return TANDEM_KASP_ENOKEY;
	}
	kasp_roles_t r;
	kasp_key_roles(k, &r);
	if (k->state == KASP_KEY_REMOVED) {
		*w = "it is removed already";
		return TANDEM_KASP_EFACT;
	}
	if (r.ksk || r.zsk || k->covers_zsk) {
		*w = "it still signs";
		return TANDEM_KASP_EFACT;
	}
	bool other = false;
	for (size_t i = 0; r.published && i < set->count; i++) {
		kasp_roles_t o;
		kasp_key_roles(&set->keys[i], &o);
		other =
		    other || (set->keys[i].id != id && set->keys[i].role == k->role && o.published);
	}
	if (r.published && !other) {
		*w = k->role == KASP_ROLE_KSK ? "it is the only published KSK"
					      : "it is the only published ZSK";
		return TANDEM_KASP_EFACT;
	}
	k->state = KASP_KEY_REMOVED;
	k->removed = now;
	k->next = 0;
	return TANDEM_OK;
}

size_t kasp_keyset_ds_changes(const kasp_keyset_t *old, const kasp_keyset_t *next,
			      kasp_ds_change_t *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; next != NULL && i < next->count && n < max; i++) {
		const kasp_key_t *k = &next->keys[i];
		const kasp_key_t *was = NULL;
		for (size_t j = 0; old != NULL && j < old->count; j++) {
			was = old->keys[j].id == k->id ? &old->keys[j] : was;
		}
		kasp_ds_state_t before = was != NULL ? was->ds : KASP_DS_NONE;
		if (k->role != KASP_ROLE_KSK || k->ds == before ||
		    (k->ds != KASP_DS_SEEN && k->ds != KASP_DS_GONE)) {
			continue;
		}
		out[n++] =
		    (kasp_ds_change_t){.id = k->id, .tag = k->tag, .seen = k->ds == KASP_DS_SEEN};
	}
	return n;
}

int kasp_keyset_roll(kasp_keyset_t *set, kasp_role_t role, uint64_t now)
{
	if (set == NULL) {
		return TANDEM_EINVAL;
	}
	kasp_key_t *found = NULL;
	for (size_t i = 0; i < set->count; i++) {
		kasp_key_t *k = &set->keys[i];
		if (k->role == role && k->state == KASP_KEY_ACTIVE && !k->compromised) {
			if (found != NULL) {
				/* two algorithms sign: an algorithm rollover */
				return TANDEM_KASP_EFACT;
			}
			found = k;
		}
	}
	if (found == NULL) {
		return TANDEM_KASP_ENOKEY;
	}
	if (found->roll_at == 0 || now < found->roll_at) {
		found->roll_at = now;
	}
	return TANDEM_OK;
}

/* ---- reading the state ---- */

void kasp_key_roles(const kasp_key_t *key, kasp_roles_t *out)
{
	kasp_roles_t r = {0};
	bool ksk = key->role == KASP_ROLE_KSK;
	switch (key->state) {
	case KASP_KEY_PRESIGN:
	case KASP_KEY_POSTSIGN:
		r.in_zone = true;
		r.ksk = ksk;
		r.zsk = !ksk;
		r.sep = ksk;
		break;
	case KASP_KEY_ACTIVE:
		r.in_zone = r.published = true;
		r.ksk = ksk;
		r.zsk = !ksk || key->covers_zsk;
		r.sep = ksk;
		break;
	case KASP_KEY_PUBLISHED:
	case KASP_KEY_READY:
	case KASP_KEY_RETIRED:
		r.in_zone = r.published = true;
		r.sep = ksk;
		break;
	default: break;
	}
	*out = r;
}

/* FNV-1a: change detection, not security (a collision only waits for the next cycle). */
static uint64_t fnv1a(uint64_t h, uint64_t v, size_t bytes)
{
	for (size_t i = 0; i < bytes; i++) {
		h ^= (v >> (8 * i)) & 0xffu;
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t kasp_keyset_signing_digest(const kasp_keyset_t *set)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < set->count; i++) {
		const kasp_key_t *k = &set->keys[i];
		kasp_roles_t r;
		kasp_key_roles(k, &r);
		uint64_t bits = (uint64_t)r.in_zone | (uint64_t)r.published << 1 |
				(uint64_t)r.ksk << 2 | (uint64_t)r.zsk << 3 | (uint64_t)r.sep << 4 |
				(uint64_t)k->compromised << 5;
		h = fnv1a(h, k->id, 4);
		h = fnv1a(h, k->tag, 2);
		h = fnv1a(h, bits, 1);
	}
	return h != 0 ? h : 1;
}

bool kasp_key_ds_wanted(const kasp_key_t *key)
{
	return key->role == KASP_ROLE_KSK && (key->ds == KASP_DS_SUBMIT || key->ds == KASP_DS_SEEN);
}

bool kasp_keyset_cds_pending(const kasp_keyset_t *set)
{
	for (size_t i = 0; i < set->count; i++) {
		const kasp_key_t *k = &set->keys[i];
		if (k->role == KASP_ROLE_KSK &&
		    (k->ds == KASP_DS_SUBMIT || k->ds == KASP_DS_RETRACT)) {
			return true;
		}
	}
	return false;
}

const char *kasp_role_str(kasp_role_t role)
{
	return role == KASP_ROLE_KSK ? "ksk" : "zsk";
}

const char *kasp_key_state_str(kasp_key_state_t state)
{
	static const char *const names[] = {"generated", "presign", "published", "ready",
					    "active",    "retired", "postsign",  "removed"};
	return (unsigned)state <= KASP_KEY_STATE_LAST ? names[state] : "?";
}

const char *kasp_ds_state_str(kasp_ds_state_t ds)
{
	static const char *const names[] = {"-", "submitted", "seen", "retracting", "gone"};
	return (unsigned)ds <= KASP_DS_STATE_LAST ? names[ds] : "?";
}
