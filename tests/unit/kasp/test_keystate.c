/* Unit tests of the key-state machine, its cache check, the simulator and the state store. */
#include "kasp_cache.h"
#include "kasp_keystate.h"
#include "kasp_policy.h"
#include "kasp_sim.h"
#include "kasp_store.h"
#include "tandem_diag.h"
#include "tandem_error.h"
#include "testsupport.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAY  86400u
#define HOUR 3600u
#define T0   1767225600u /* 2026-01-01, the fixed clock */

/* dps-default: Dprp 1h, TTLkey 12h, TTLsig 1d, Dsgn 15m, DprpP 1h, TTLds 1d */
#define IPUB_KEY (HOUR + 12 * HOUR)
#define IRET_KEY (900 + HOUR + 12 * HOUR)
#define IRET_SIG (900 + HOUR + DAY)
#define IPUB_DS  (HOUR + DAY)

/* A fake DNSKEY RDATA that is unique per key. */
static size_t fake_dnskey(kasp_role_t role, uint8_t alg, uint32_t id, uint8_t *buf)
{
	buf[0] = 1;
	buf[1] = role == KASP_ROLE_KSK ? 1 : 0;
	buf[2] = 3;
	buf[3] = alg;
	for (int i = 0; i < 8; i++) {
		buf[4 + i] = (uint8_t)(id >> (i % 4 * 8)) ^ (uint8_t)(i * 37);
	}
	return 12;
}

static uint32_t fake_add(kasp_keyset_t *set, kasp_role_t role, uint8_t alg, bool imported,
			 uint64_t now)
{
	uint8_t rd[16];
	char label[32];
	snprintf(label, sizeof(label), "%s-%u", kasp_role_str(role), set->next_id);
	size_t len = fake_dnskey(role, alg, set->next_id, rd);
	uint32_t id = 0;
	ck_assert_int_eq(kasp_keyset_add(set, role, alg, alg == 8 ? 1024 : 0, label, rd, len,
					 imported, now, &id),
			 TANDEM_OK);
	return id;
}

/* Steps at now and generates every key asked for, until none is. */
static void run(kasp_keyset_t *set, const kasp_policy_t *p, uint64_t now, kasp_step_t *st)
{
	for (int i = 0; i < 8; i++) {
		ck_assert_int_eq(kasp_keystate_step(set, p, now, set, st), TANDEM_OK);
		bool gen = false;
		for (size_t a = 0; a < st->nactions; a++) {
			if (st->actions[a].kind == KASP_ACTION_GENERATE) {
				fake_add(set, st->actions[a].role, st->actions[a].algorithm, true,
					 now);
				gen = true;
			}
		}
		if (!gen) {
			return;
		}
	}
	ck_abort_msg("the machine keeps asking for keys");
}

static kasp_key_t *key_in(kasp_keyset_t *set, kasp_role_t role, kasp_key_state_t state)
{
	for (size_t i = 0; i < set->count; i++) {
		if (set->keys[i].role == role && set->keys[i].state == state) {
			return &set->keys[i];
		}
	}
	return NULL;
}

static size_t count_actions(const kasp_step_t *st, kasp_action_kind_t kind)
{
	size_t n = 0;
	for (size_t i = 0; i < st->nactions; i++) {
		n += st->actions[i].kind == kind;
	}
	return n;
}

/* The DPS policy with a permanent standby per role (`standby: true`): the scheme
 * before issue 9, kept as an option. */
static void standby_policy(kasp_policy_t *p)
{
	kasp_policy_defaults(p);
	p->ksk.standby = p->zsk.standby = true;
}

static kasp_keyset_t *new_set(void)
{
	kasp_keyset_t *set = malloc(sizeof(*set));
	ck_assert_ptr_nonnull(set);
	ck_assert_int_eq(kasp_keyset_init(set, "example."), TANDEM_OK);
	return set;
}

/* A zone bootstrapped at T0 with the parent showing both KSKs' DS at T0 + 14h. */
static kasp_keyset_t *bootstrapped(const kasp_policy_t *p, kasp_step_t *st)
{
	kasp_keyset_t *set = new_set();
	run(set, p, T0, st);
	run(set, p, T0 + IPUB_KEY, st);
	for (size_t i = 0; i < set->count; i++) {
		if (set->keys[i].role == KASP_ROLE_KSK) {
			ck_assert_int_eq(kasp_keyset_ds_seen(set, set->keys[i].id, T0 + 14 * HOUR),
					 TANDEM_OK);
		}
	}
	run(set, p, T0 + 14 * HOUR, st);
	return set;
}

START_TEST(test_bootstrap)
{
	kasp_policy_t p;
	standby_policy(&p);
	kasp_step_t st;
	kasp_keyset_t *set = new_set();
	ck_assert_int_eq(kasp_keystate_step(set, &p, T0, set, &st), TANDEM_OK);
	ck_assert_uint_eq(count_actions(&st, KASP_ACTION_GENERATE), 4);
	ck_assert_uint_eq(st.nchanges, 0);
	run(set, &p, T0, &st);
	ck_assert_uint_eq(set->count, 4);
	kasp_key_t *ksk = key_in(set, KASP_ROLE_KSK, KASP_KEY_ACTIVE);
	kasp_key_t *zsk = key_in(set, KASP_ROLE_ZSK, KASP_KEY_ACTIVE);
	ck_assert_ptr_nonnull(ksk);
	ck_assert_ptr_nonnull(zsk);
	ck_assert_ptr_nonnull(key_in(set, KASP_ROLE_KSK, KASP_KEY_PUBLISHED));
	ck_assert_ptr_nonnull(key_in(set, KASP_ROLE_ZSK, KASP_KEY_PUBLISHED));
	ck_assert_uint_eq(ksk->active, T0);
	/* the DS is asked for once the DNSKEY RRset is in every cache */
	ck_assert_uint_eq(st.next, T0 + IPUB_KEY);
	ck_assert(!kasp_keyset_cds_pending(set));
	run(set, &p, T0 + IPUB_KEY - 1, &st);
	ck_assert_uint_eq(count_actions(&st, KASP_ACTION_DS_SUBMIT), 0);
	run(set, &p, T0 + IPUB_KEY, &st);
	ck_assert_uint_eq(count_actions(&st, KASP_ACTION_DS_SUBMIT), 2);
	ck_assert(kasp_keyset_cds_pending(set));
	ck_assert(st.waiting_ds);
	kasp_roles_t r;
	kasp_key_roles(key_in(set, KASP_ROLE_KSK, KASP_KEY_PUBLISHED), &r);
	ck_assert(r.published && r.sep && !r.ksk && !r.zsk);
	kasp_key_roles(zsk, &r);
	ck_assert(r.published && r.zsk && !r.ksk && !r.sep);
	free(set);
}
END_TEST

START_TEST(test_zsk_prepublish)
{
	kasp_policy_t p;
	standby_policy(&p);
	kasp_step_t st;
	kasp_keyset_t *set = bootstrapped(&p, &st);
	kasp_key_t *standby = key_in(set, KASP_ROLE_ZSK, KASP_KEY_PUBLISHED);
	ck_assert_ptr_nonnull(standby);
	uint32_t sid = standby->id;
	run(set, &p, T0 + 7 * DAY - 1, &st);
	ck_assert_int_eq(kasp_keyset_find(set, sid)->state, KASP_KEY_PUBLISHED);
	ck_assert_uint_eq(kasp_keyset_find(set, sid)->next, T0 + 7 * DAY);
	run(set, &p, T0 + 7 * DAY, &st);
	ck_assert_int_eq(kasp_keyset_find(set, sid)->state, KASP_KEY_READY);
	free(set);
}
END_TEST

START_TEST(test_zsk_rollover)
{
	kasp_policy_t p;
	standby_policy(&p);
	kasp_step_t st;
	kasp_keyset_t *set = bootstrapped(&p, &st);
	uint32_t a = key_in(set, KASP_ROLE_ZSK, KASP_KEY_ACTIVE)->id;
	run(set, &p, T0 + 7 * DAY, &st);
	uint32_t s = key_in(set, KASP_ROLE_ZSK, KASP_KEY_READY)->id;
	/* the next successor is made and published `prepublish` before the roll */
	ck_assert_int_eq(kasp_keystate_step(set, &p, T0 + 83 * DAY - 1, set, &st), TANDEM_OK);
	ck_assert_uint_eq(count_actions(&st, KASP_ACTION_GENERATE), 0);
	ck_assert_int_eq(kasp_keystate_step(set, &p, T0 + 83 * DAY, set, &st), TANDEM_OK);
	ck_assert_uint_eq(count_actions(&st, KASP_ACTION_GENERATE), 1);
	ck_assert_int_eq(st.actions[0].role, KASP_ROLE_ZSK);
	run(set, &p, T0 + 83 * DAY, &st);
	kasp_key_t *next = key_in(set, KASP_ROLE_ZSK, KASP_KEY_PUBLISHED);
	ck_assert_ptr_nonnull(next);
	uint32_t n = next->id;
	run(set, &p, T0 + 90 * DAY - 1, &st);
	ck_assert_int_eq(kasp_keyset_find(set, a)->state, KASP_KEY_ACTIVE);
	run(set, &p, T0 + 90 * DAY, &st);
	ck_assert_int_eq(kasp_keyset_find(set, a)->state, KASP_KEY_RETIRED);
	ck_assert_int_eq(kasp_keyset_find(set, s)->state, KASP_KEY_ACTIVE);
	ck_assert_int_eq(kasp_keyset_find(set, n)->state, KASP_KEY_READY);
	run(set, &p, T0 + 97 * DAY - 1, &st);
	ck_assert_int_eq(kasp_keyset_find(set, a)->state, KASP_KEY_RETIRED);
	run(set, &p, T0 + 97 * DAY, &st);
	ck_assert_int_eq(kasp_keyset_find(set, a)->state, KASP_KEY_REMOVED);
	free(set);
}
END_TEST

START_TEST(test_ksk_ds_gate)
{
	kasp_policy_t p;
	standby_policy(&p);
	kasp_step_t st;
	kasp_keyset_t *set = new_set();
	run(set, &p, T0, &st);
	run(set, &p, T0 + IPUB_KEY, &st);
	uint32_t a = key_in(set, KASP_ROLE_KSK, KASP_KEY_ACTIVE)->id;
	uint32_t s = key_in(set, KASP_ROLE_KSK, KASP_KEY_PUBLISHED)->id;
	ck_assert_int_eq(kasp_keyset_ds_seen(set, a, T0 + 14 * HOUR), TANDEM_OK);
	/* the successor's DS is never confirmed: no roll, however late */
	run(set, &p, T0 + 400 * DAY, &st);
	ck_assert_int_eq(kasp_keyset_find(set, a)->state, KASP_KEY_ACTIVE);
	ck_assert_int_eq(kasp_keyset_find(set, s)->state, KASP_KEY_PUBLISHED);
	ck_assert(st.waiting_ds);
	/* seen now: ready only when every cached DS set holds it */
	uint64_t seen = T0 + 400 * DAY;
	ck_assert_int_eq(kasp_keyset_ds_seen(set, s, seen), TANDEM_OK);
	run(set, &p, seen + IPUB_DS - 1, &st);
	ck_assert_int_eq(kasp_keyset_find(set, a)->state, KASP_KEY_ACTIVE);
	run(set, &p, seen + IPUB_DS, &st);
	ck_assert_int_eq(kasp_keyset_find(set, a)->state, KASP_KEY_RETIRED);
	ck_assert_int_eq(kasp_keyset_find(set, s)->state, KASP_KEY_ACTIVE);
	uint64_t ret = seen + IPUB_DS;
	/* the old DS goes once DNSKEY RRsets the old KSK signed are out of caches */
	run(set, &p, ret + IRET_KEY - 1, &st);
	ck_assert_int_eq(kasp_keyset_find(set, a)->ds, KASP_DS_SEEN);
	run(set, &p, ret + IRET_KEY, &st);
	ck_assert_int_eq(kasp_keyset_find(set, a)->ds, KASP_DS_RETRACT);
	ck_assert_uint_eq(count_actions(&st, KASP_ACTION_DS_RETRACT), 1);
	/* removal waits for ds-gone, however long the post-publication has run */
	run(set, &p, ret + 60 * DAY, &st);
	ck_assert_int_eq(kasp_keyset_find(set, a)->state, KASP_KEY_RETIRED);
	ck_assert(st.waiting_ds);
	ck_assert_int_eq(kasp_keyset_ds_gone(set, a, ret + 60 * DAY), TANDEM_OK);
	run(set, &p, ret + 60 * DAY, &st);
	ck_assert_int_eq(kasp_keyset_find(set, a)->state, KASP_KEY_REMOVED);
	free(set);
}
END_TEST

START_TEST(test_emergency_zsk)
{
	kasp_policy_t p;
	standby_policy(&p);
	kasp_step_t st;
	kasp_keyset_t *set = bootstrapped(&p, &st);
	uint32_t a = key_in(set, KASP_ROLE_ZSK, KASP_KEY_ACTIVE)->id;
	uint32_t s = key_in(set, KASP_ROLE_ZSK, KASP_KEY_PUBLISHED)->id;
	/* before the standby is ready: the compromised key stops signing at once, the KSK
	 * signs the data, and the standby (in every cache since T0 + Ipub(key)) takes over
	 * at once (it needs no more of its pre-publication in an emergency) */
	ck_assert_int_eq(kasp_keyset_compromise(set, a, T0 + DAY), TANDEM_OK);
	run(set, &p, T0 + DAY, &st);
	ck_assert_int_eq(kasp_keyset_find(set, a)->state, KASP_KEY_RETIRED);
	ck_assert(kasp_keyset_find(set, a)->emergency);
	ck_assert_int_eq(kasp_keyset_find(set, s)->state, KASP_KEY_ACTIVE);
	/* a new standby was asked for and published */
	ck_assert_ptr_nonnull(key_in(set, KASP_ROLE_ZSK, KASP_KEY_PUBLISHED));
	run(set, &p, T0 + 3 * DAY - 1, &st);
	ck_assert_int_eq(kasp_keyset_find(set, a)->state, KASP_KEY_RETIRED);
	run(set, &p, T0 + 3 * DAY, &st);
	ck_assert_int_eq(kasp_keyset_find(set, a)->state, KASP_KEY_REMOVED);
	/* with a ready standby the switch is immediate */
	uint32_t b = s;
	uint32_t s2 = key_in(set, KASP_ROLE_ZSK, KASP_KEY_PUBLISHED)->id;
	run(set, &p, T0 + 20 * DAY, &st);
	ck_assert_int_eq(kasp_keyset_compromise(set, b, T0 + 20 * DAY), TANDEM_OK);
	run(set, &p, T0 + 20 * DAY, &st);
	ck_assert_int_eq(kasp_keyset_find(set, b)->state, KASP_KEY_RETIRED);
	ck_assert_int_eq(kasp_keyset_find(set, s2)->state, KASP_KEY_ACTIVE);
	free(set);
}
END_TEST

/* The signing digest moves with what signs and is published, not with DS states or times. */
START_TEST(test_signing_digest)
{
	kasp_policy_t p;
	standby_policy(&p);
	kasp_step_t st;
	kasp_keyset_t *set = bootstrapped(&p, &st);
	kasp_keyset_t *other = malloc(sizeof(*other));
	ck_assert_ptr_nonnull(other);
	uint64_t d0 = kasp_keyset_signing_digest(set);
	ck_assert_uint_ne(d0, 0);
	memcpy(other, set, sizeof(*set));
	for (size_t i = 0; i < other->count; i++) {
		other->keys[i].ds = KASP_DS_RETRACT;
		other->keys[i].ds_seen += 60;
		other->keys[i].next += 3600;
	}
	ck_assert_uint_eq(kasp_keyset_signing_digest(other), d0);
	/* the compromise alone: its signatures are replaced in the next run */
	uint32_t a = key_in(set, KASP_ROLE_ZSK, KASP_KEY_ACTIVE)->id;
	ck_assert_int_eq(kasp_keyset_compromise(set, a, T0 + DAY), TANDEM_OK);
	uint64_t d1 = kasp_keyset_signing_digest(set);
	ck_assert_uint_ne(d1, d0);
	/* the step: the standby signs, the compromised key is only published */
	run(set, &p, T0 + DAY, &st);
	ck_assert_uint_ne(kasp_keyset_signing_digest(set), d1);
	ck_assert_uint_ne(kasp_keyset_signing_digest(set), d0);
	free(other);
	free(set);
}
END_TEST

START_TEST(test_emergency_ksk)
{
	kasp_policy_t p;
	standby_policy(&p);
	kasp_step_t st;
	kasp_keyset_t *set = bootstrapped(&p, &st);
	uint64_t t = T0 + 40 * DAY;
	run(set, &p, t, &st);
	uint32_t a = key_in(set, KASP_ROLE_KSK, KASP_KEY_ACTIVE)->id;
	uint32_t s = key_in(set, KASP_ROLE_KSK, KASP_KEY_READY)->id;
	ck_assert_int_eq(kasp_keyset_compromise(set, a, t), TANDEM_OK);
	run(set, &p, t, &st);
	ck_assert_int_eq(kasp_keyset_find(set, a)->state, KASP_KEY_RETIRED);
	ck_assert_int_eq(kasp_keyset_find(set, s)->state, KASP_KEY_ACTIVE);
	kasp_roles_t r;
	kasp_key_roles(kasp_keyset_find(set, a), &r);
	ck_assert(r.published && r.sep && !r.ksk); /* still published, signs nothing */
	ck_assert_ptr_nonnull(key_in(set, KASP_ROLE_KSK, KASP_KEY_PUBLISHED));
	run(set, &p, t + IRET_KEY, &st);
	ck_assert_int_eq(kasp_keyset_find(set, a)->ds, KASP_DS_RETRACT);
	ck_assert_int_eq(kasp_keyset_ds_gone(set, a, t + IRET_KEY + HOUR), TANDEM_OK);
	run(set, &p, t + 7 * DAY - 1, &st);
	ck_assert_int_eq(kasp_keyset_find(set, a)->state, KASP_KEY_RETIRED);
	run(set, &p, t + 7 * DAY, &st);
	ck_assert_int_eq(kasp_keyset_find(set, a)->state, KASP_KEY_REMOVED);
	free(set);
}
END_TEST

START_TEST(test_manual_rollover)
{
	kasp_policy_t p;
	standby_policy(&p);
	kasp_step_t st;
	kasp_keyset_t *set = bootstrapped(&p, &st);
	run(set, &p, T0 + 10 * DAY, &st);
	uint32_t a = key_in(set, KASP_ROLE_ZSK, KASP_KEY_ACTIVE)->id;
	ck_assert_int_eq(kasp_keyset_roll(set, KASP_ROLE_ZSK, T0 + 10 * DAY), TANDEM_OK);
	run(set, &p, T0 + 10 * DAY, &st);
	ck_assert_int_eq(kasp_keyset_find(set, a)->state, KASP_KEY_RETIRED);
	ck_assert(!kasp_keyset_find(set, a)->emergency);
	ck_assert_ptr_nonnull(key_in(set, KASP_ROLE_ZSK, KASP_KEY_PUBLISHED));
	free(set);
}
END_TEST

START_TEST(test_algorithm_rollover)
{
	kasp_policy_t p;
	standby_policy(&p);
	kasp_step_t st;
	kasp_keyset_t *set = bootstrapped(&p, &st);
	uint64_t t = T0 + 40 * DAY;
	run(set, &p, t, &st);
	uint32_t old_ksk = key_in(set, KASP_ROLE_KSK, KASP_KEY_ACTIVE)->id;
	uint32_t old_zsk = key_in(set, KASP_ROLE_ZSK, KASP_KEY_ACTIVE)->id;
	p.ksk.algorithm = p.zsk.algorithm = 13;
	p.ksk.bits = p.zsk.bits = 0;
	ck_assert_int_eq(kasp_keystate_step(set, &p, t, set, &st), TANDEM_OK);
	ck_assert_uint_eq(count_actions(&st, KASP_ACTION_GENERATE), 4);
	ck_assert_uint_eq(st.actions[0].algorithm, 13);
	run(set, &p, t, &st);
	/* 1: new signatures first, the new DNSKEYs unpublished */
	kasp_key_t *nk = key_in(set, KASP_ROLE_KSK, KASP_KEY_PRESIGN);
	kasp_key_t *nz = key_in(set, KASP_ROLE_ZSK, KASP_KEY_PRESIGN);
	ck_assert_ptr_nonnull(nk);
	ck_assert_ptr_nonnull(nz);
	uint32_t nkid = nk->id, nzid = nz->id;
	kasp_roles_t r;
	kasp_key_roles(nz, &r);
	ck_assert(r.in_zone && r.zsk && !r.published);
	ck_assert_int_eq(kasp_keyset_find(set, old_zsk)->state, KASP_KEY_ACTIVE);
	run(set, &p, t + IRET_SIG - 1, &st);
	ck_assert_int_eq(kasp_keyset_find(set, nzid)->state, KASP_KEY_PRESIGN);
	/* 2: new DNSKEYs published (both algorithms sign) */
	t += IRET_SIG;
	run(set, &p, t, &st);
	ck_assert_int_eq(kasp_keyset_find(set, nkid)->state, KASP_KEY_ACTIVE);
	ck_assert_int_eq(kasp_keyset_find(set, nzid)->state, KASP_KEY_ACTIVE);
	ck_assert_int_eq(kasp_keyset_find(set, old_ksk)->state, KASP_KEY_ACTIVE);
	ck_assert_int_eq(kasp_keyset_find(set, old_ksk)->ds, KASP_DS_SEEN);
	/* 3: the DS swap once the new DNSKEYs are in caches */
	run(set, &p, t + IPUB_KEY - 1, &st);
	ck_assert_int_eq(kasp_keyset_find(set, nkid)->ds, KASP_DS_NONE);
	t += IPUB_KEY;
	run(set, &p, t, &st);
	ck_assert_int_eq(kasp_keyset_find(set, nkid)->ds, KASP_DS_SUBMIT);
	ck_assert_int_eq(kasp_keyset_find(set, old_ksk)->ds, KASP_DS_RETRACT);
	ck_assert_uint_eq(count_actions(&st, KASP_ACTION_DS_RETRACT), 2); /* old KSK + standby */
	for (size_t i = 0; i < set->count; i++) {
		kasp_key_t *k = &set->keys[i];
		if (k->role == KASP_ROLE_KSK && k->ds == KASP_DS_SUBMIT) {
			ck_assert_int_eq(kasp_keyset_ds_seen(set, k->id, t + HOUR), TANDEM_OK);
		} else if (k->role == KASP_ROLE_KSK && k->ds == KASP_DS_RETRACT) {
			ck_assert_int_eq(kasp_keyset_ds_gone(set, k->id, t + HOUR), TANDEM_OK);
		}
	}
	t += HOUR;
	/* 4: old DNSKEYs withdrawn once the DS swap is in every cache; they still sign */
	run(set, &p, t + IPUB_DS - 1, &st);
	ck_assert_int_eq(kasp_keyset_find(set, old_zsk)->state, KASP_KEY_ACTIVE);
	t += IPUB_DS;
	run(set, &p, t, &st);
	ck_assert_int_eq(kasp_keyset_find(set, old_zsk)->state, KASP_KEY_POSTSIGN);
	ck_assert_int_eq(kasp_keyset_find(set, old_ksk)->state, KASP_KEY_POSTSIGN);
	kasp_key_roles(kasp_keyset_find(set, old_zsk), &r);
	ck_assert(r.in_zone && r.zsk && !r.published);
	for (size_t i = 0; i < set->count; i++) {
		const kasp_key_t *k = &set->keys[i];
		if (k->algorithm ==
		    8) { /* old standbys are gone, old active keys sign unpublished */
			ck_assert(k->state == KASP_KEY_POSTSIGN || k->state == KASP_KEY_REMOVED);
		}
	}
	/* 5: old signatures withdrawn */
	run(set, &p, t + IRET_KEY - 1, &st);
	ck_assert_int_eq(kasp_keyset_find(set, old_zsk)->state, KASP_KEY_POSTSIGN);
	run(set, &p, t + IRET_KEY, &st);
	ck_assert_int_eq(kasp_keyset_find(set, old_zsk)->state, KASP_KEY_REMOVED);
	ck_assert_int_eq(kasp_keyset_find(set, old_ksk)->state, KASP_KEY_REMOVED);
	for (size_t i = 0; i < set->count; i++) {
		if (set->keys[i].state != KASP_KEY_REMOVED) {
			ck_assert_uint_eq(set->keys[i].algorithm, 13);
		}
	}
	free(set);
}
END_TEST

START_TEST(test_imported_gate)
{
	kasp_policy_t p;
	kasp_policy_defaults(&p);
	kasp_step_t st;
	kasp_keyset_t *set = new_set();
	uint32_t ids[4];
	for (int i = 0; i < 4; i++) {
		ids[i] = fake_add(set, i < 2 ? KASP_ROLE_KSK : KASP_ROLE_ZSK, 8, false, T0);
	}
	ck_assert_int_eq(kasp_keystate_step(set, &p, T0 + DAY, set, &st), TANDEM_OK);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(kasp_keyset_find(set, ids[i])->state, KASP_KEY_GENERATED);
	}
	ck_assert_uint_eq(count_actions(&st, KASP_ACTION_GENERATE), 0);
	ck_assert_int_eq(kasp_keyset_imported(set, ids[0]), TANDEM_OK);
	/* a new zone's KSK does not sign the data while its first ZSK is not imported */
	ck_assert_int_eq(kasp_keystate_step(set, &p, T0 + DAY, set, &st), TANDEM_OK);
	ck_assert_int_eq(kasp_keyset_find(set, ids[0])->state, KASP_KEY_ACTIVE);
	ck_assert(!kasp_keyset_find(set, ids[0])->covers_zsk);
	ck_assert_int_eq(kasp_keyset_imported(set, ids[2]), TANDEM_OK);
	ck_assert_int_eq(kasp_keystate_step(set, &p, T0 + DAY, set, &st), TANDEM_OK);
	ck_assert_int_eq(kasp_keyset_find(set, ids[0])->state, KASP_KEY_ACTIVE);
	ck_assert_int_eq(kasp_keyset_find(set, ids[1])->state, KASP_KEY_GENERATED);
	ck_assert(st.waiting_keys);
	free(set);
}
END_TEST

START_TEST(test_facts_refused)
{
	kasp_policy_t p;
	kasp_policy_defaults(&p);
	kasp_step_t st;
	kasp_keyset_t *set = bootstrapped(&p, &st);
	uint32_t zsk = key_in(set, KASP_ROLE_ZSK, KASP_KEY_ACTIVE)->id;
	uint32_t ksk = key_in(set, KASP_ROLE_KSK, KASP_KEY_ACTIVE)->id;
	ck_assert_int_eq(kasp_keyset_ds_seen(set, 999, T0), TANDEM_KASP_ENOKEY);
	ck_assert_int_eq(kasp_keyset_ds_seen(set, zsk, T0), TANDEM_KASP_EFACT);
	ck_assert_int_eq(kasp_keyset_ds_seen(set, ksk, T0), TANDEM_KASP_EFACT); /* already seen */
	ck_assert_int_eq(kasp_keyset_ds_gone(set, ksk, T0), TANDEM_KASP_EFACT); /* not withdrawn */
	ck_assert_int_eq(kasp_keyset_compromise(set, 999, T0), TANDEM_KASP_ENOKEY);
	ck_assert_int_eq(kasp_keyset_imported(set, 999), TANDEM_KASP_ENOKEY);
	ck_assert_int_eq(kasp_keyset_init(set, ""), TANDEM_EINVAL);
	free(set);
}
END_TEST

/* An operator's removal (the key-remove request): never a key that signs or the only
 * published one of its role; a standby that has a twin, or a generated key, goes. */
START_TEST(test_remove)
{
	kasp_policy_t p;
	kasp_policy_defaults(&p);
	kasp_step_t st;
	kasp_keyset_t *set = bootstrapped(&p, &st);
	const char *why = NULL;
	uint32_t zsk = key_in(set, KASP_ROLE_ZSK, KASP_KEY_ACTIVE)->id;
	uint32_t ksk = key_in(set, KASP_ROLE_KSK, KASP_KEY_ACTIVE)->id;
	ck_assert_int_eq(kasp_keyset_remove(set, 999, T0, &why), TANDEM_KASP_ENOKEY);
	ck_assert_int_eq(kasp_keyset_remove(set, zsk, T0, &why), TANDEM_KASP_EFACT);
	ck_assert_str_eq(why, "it still signs");
	ck_assert_int_eq(kasp_keyset_remove(set, ksk, T0, &why), TANDEM_KASP_EFACT);
	ck_assert_str_eq(why, "it still signs");
	/* a generated ZSK (not published) may go */
	uint32_t gen = fake_add(set, KASP_ROLE_ZSK, 8, true, T0);
	ck_assert_int_eq(kasp_keyset_remove(set, gen, T0 + 5, &why), TANDEM_OK);
	ck_assert_int_eq(kasp_keyset_find(set, gen)->state, KASP_KEY_REMOVED);
	ck_assert_uint_eq(kasp_keyset_find(set, gen)->removed, T0 + 5);
	ck_assert_int_eq(kasp_keyset_remove(set, gen, T0 + 6, &why), TANDEM_KASP_EFACT);
	ck_assert_str_eq(why, "it is removed already");
	/* a published KSK that is the only published one of its role is kept: make the active
	 * KSK look retired (published, not signing) with no other KSK published */
	kasp_key_t *k = kasp_keyset_find(set, ksk);
	k->state = KASP_KEY_RETIRED;
	ck_assert_int_eq(kasp_keyset_remove(set, ksk, T0, &why), TANDEM_KASP_EFACT);
	ck_assert_str_eq(why, "it is the only published KSK");
	/* with a second published KSK it may go */
	uint32_t twin = fake_add(set, KASP_ROLE_KSK, 8, true, T0);
	kasp_keyset_find(set, twin)->state = KASP_KEY_READY;
	ck_assert_int_eq(kasp_keyset_remove(set, ksk, T0, &why), TANDEM_OK);
	ck_assert_int_eq(kasp_keyset_remove(NULL, ksk, T0, &why), TANDEM_EINVAL);
	free(set);
}
END_TEST

/* The DS events of a key-set write: a KSK's DS newly seen or gone, nothing else. */
START_TEST(test_ds_changes)
{
	kasp_policy_t p;
	kasp_policy_defaults(&p);
	kasp_step_t st;
	kasp_keyset_t *old = bootstrapped(&p, &st);
	kasp_keyset_t *next = malloc(sizeof(*next));
	ck_assert_ptr_nonnull(next);
	kasp_ds_change_t ch[KASP_KEYS_MAX];
	uint32_t ksk = key_in(old, KASP_ROLE_KSK, KASP_KEY_ACTIVE)->id;
	/* the same key set: nothing; no key set before: the DS seen at bootstrap counts */
	ck_assert_uint_eq(kasp_keyset_ds_changes(old, old, ch, KASP_KEYS_MAX), 0);
	size_t n = kasp_keyset_ds_changes(NULL, old, ch, KASP_KEYS_MAX);
	ck_assert_uint_ge(n, 1);
	ck_assert(ch[0].seen);
	/* a KSK's DS submitted, then seen; then withdrawn, then gone */
	memcpy(next, old, sizeof(*next));
	kasp_keyset_find(old, ksk)->ds = KASP_DS_SUBMIT;
	ck_assert_uint_eq(kasp_keyset_ds_changes(old, next, ch, KASP_KEYS_MAX), 1);
	ck_assert_uint_eq(ch[0].id, ksk);
	ck_assert_uint_eq(ch[0].tag, kasp_keyset_find(next, ksk)->tag);
	ck_assert(ch[0].seen);
	ck_assert_uint_eq(kasp_keyset_ds_changes(old, next, ch, 0), 0);
	kasp_keyset_find(old, ksk)->ds = KASP_DS_RETRACT;
	kasp_keyset_find(next, ksk)->ds = KASP_DS_GONE;
	ck_assert_uint_eq(kasp_keyset_ds_changes(old, next, ch, KASP_KEYS_MAX), 1);
	ck_assert(!ch[0].seen);
	/* a withdrawal asked for is not an event of its own here */
	kasp_keyset_find(old, ksk)->ds = KASP_DS_SEEN;
	kasp_keyset_find(next, ksk)->ds = KASP_DS_RETRACT;
	ck_assert_uint_eq(kasp_keyset_ds_changes(old, next, ch, KASP_KEYS_MAX), 0);
	free(old);
	free(next);
}
END_TEST

/* ---- the cache check ---- */

static kasp_cache_set_t cs(const uint32_t *keys, size_t nk, const uint32_t *signers, size_t ns,
			   uint8_t alg_of_high)
{
	kasp_cache_set_t s = {0};
	for (size_t i = 0; i < nk; i++) {
		s.keys[s.nkeys++] = (kasp_cache_key_t){
		    .id = keys[i], .algorithm = keys[i] >= 100 ? alg_of_high : 8};
	}
	for (size_t i = 0; i < ns; i++) {
		s.signers[s.nsigners++] = (kasp_cache_key_t){
		    .id = signers[i], .algorithm = signers[i] >= 100 ? alg_of_high : 8};
	}
	return s;
}

static kasp_cache_t *cache_base(void)
{
	kasp_cache_t *c = NULL;
	ck_assert_int_eq(kasp_cache_new(IPUB_DS, IPUB_KEY, HOUR + DAY, &c), TANDEM_OK);
	uint32_t ds[] = {1}, dk[] = {1, 2}, ksig[] = {1}, zsig[] = {2};
	kasp_cache_set_t d = cs(ds, 1, NULL, 0, 8), k = cs(dk, 2, ksig, 1, 8),
			 z = cs(NULL, 0, zsig, 1, 8);
	ck_assert_int_eq(kasp_cache_serve(c, KASP_CACHE_DS, T0, &d), TANDEM_OK);
	ck_assert_int_eq(kasp_cache_serve(c, KASP_CACHE_DNSKEY, T0, &k), TANDEM_OK);
	ck_assert_int_eq(kasp_cache_serve(c, KASP_CACHE_DATA, T0, &z), TANDEM_OK);
	ck_assert_uint_eq(kasp_cache_check(c, T0, NULL), 0);
	return c;
}

START_TEST(test_cache_zsk_without_prepublication)
{
	kasp_cache_t *c = cache_base();
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	/* ZSK 3 published and used at once: old DNSKEY RRsets lack it */
	uint32_t dk[] = {1, 2, 3}, ksig[] = {1}, zsig[] = {3};
	kasp_cache_set_t k = cs(dk, 3, ksig, 1, 8), z = cs(NULL, 0, zsig, 1, 8);
	uint64_t t = T0 + 10 * DAY;
	ck_assert_int_eq(kasp_cache_serve(c, KASP_CACHE_DNSKEY, t, &k), TANDEM_OK);
	ck_assert_int_eq(kasp_cache_serve(c, KASP_CACHE_DATA, t, &z), TANDEM_OK);
	ck_assert_uint_gt(kasp_cache_check(c, t, diag), 0);
	ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, 0), "no key that signed the data"));
	/* once the old DNSKEY RRset has aged out, it is fine */
	ck_assert_uint_eq(kasp_cache_check(c, t + IPUB_KEY, NULL), 0);
	tandem_diag_free(diag);
	kasp_cache_free(c);
}
END_TEST

START_TEST(test_cache_zsk_prepublished)
{
	kasp_cache_t *c = cache_base();
	uint32_t dk[] = {1, 2, 3}, ksig[] = {1}, zsig[] = {3};
	kasp_cache_set_t k = cs(dk, 3, ksig, 1, 8), z = cs(NULL, 0, zsig, 1, 8);
	uint64_t t = T0 + 10 * DAY;
	ck_assert_int_eq(kasp_cache_serve(c, KASP_CACHE_DNSKEY, t, &k), TANDEM_OK);
	ck_assert_uint_eq(kasp_cache_check(c, t, NULL), 0);
	t += IPUB_KEY;
	ck_assert_int_eq(kasp_cache_serve(c, KASP_CACHE_DATA, t, &z), TANDEM_OK);
	ck_assert_uint_eq(kasp_cache_check(c, t, NULL), 0);
	/* removing ZSK 2 while data it signed is cached fails */
	uint32_t dk2[] = {1, 3};
	kasp_cache_set_t k2 = cs(dk2, 2, ksig, 1, 8);
	ck_assert_int_eq(kasp_cache_serve(c, KASP_CACHE_DNSKEY, t + HOUR, &k2), TANDEM_OK);
	ck_assert_uint_gt(kasp_cache_check(c, t + HOUR, NULL), 0);
	kasp_cache_free(c);
}
END_TEST

/*
 * A signer that reuses signatures: after ZSK 2 stops, some RRsets still carry only its
 * signature and the others only ZSK 3's (two groups). Every group needs its key in the
 * DNSKEY RRset: removing ZSK 2 while its group is served or cached fails, where the
 * one-group reading ("some signer is published") would wrongly pass.
 */
START_TEST(test_cache_reused_signature_groups)
{
	kasp_cache_t *c = cache_base();
	uint32_t dk[] = {1, 2, 3}, ksig[] = {1}, zsig[] = {2, 3};
	kasp_cache_set_t k = cs(dk, 3, ksig, 1, 8), mixed = cs(NULL, 0, zsig, 2, 8);
	mixed.signers[0].group = 1; /* RRsets still signed by the old ZSK alone */
	mixed.signers[1].group = 2; /* RRsets already signed by the new one */
	uint64_t t = T0 + 10 * DAY;
	ck_assert_int_eq(kasp_cache_serve(c, KASP_CACHE_DNSKEY, t, &k), TANDEM_OK);
	t += IPUB_KEY;
	ck_assert_int_eq(kasp_cache_serve(c, KASP_CACHE_DATA, t, &mixed), TANDEM_OK);
	ck_assert_uint_eq(kasp_cache_check(c, t, NULL), 0);
	/* ZSK 2 leaves the DNSKEY RRset while RRsets signed by it alone are served */
	uint32_t dk2[] = {1, 3};
	kasp_cache_set_t k2 = cs(dk2, 2, ksig, 1, 8);
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	ck_assert_int_eq(kasp_cache_serve(c, KASP_CACHE_DNSKEY, t + HOUR, &k2), TANDEM_OK);
	ck_assert_uint_gt(kasp_cache_check(c, t + HOUR, diag), 0);
	bool named = false; /* the mixed version is named (the base version fails too) */
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		named |= strstr(tandem_diag_msg(diag, i), "signatures reused") != NULL;
	}
	ck_assert(named);
	tandem_diag_free(diag);
	kasp_cache_free(c);
	/* the same two signers as one group (each RRset signed by both) pass */
	c = cache_base();
	kasp_cache_set_t both = cs(NULL, 0, zsig, 2, 8);
	ck_assert_int_eq(kasp_cache_serve(c, KASP_CACHE_DNSKEY, T0 + 10 * DAY, &k), TANDEM_OK);
	ck_assert_int_eq(kasp_cache_serve(c, KASP_CACHE_DATA, t, &both), TANDEM_OK);
	ck_assert_int_eq(kasp_cache_serve(c, KASP_CACHE_DNSKEY, t + HOUR, &k2), TANDEM_OK);
	ck_assert_uint_eq(kasp_cache_check(c, t + HOUR + 2 * DAY, NULL), 0);
	kasp_cache_free(c);
}
END_TEST

START_TEST(test_cache_ds_too_early)
{
	kasp_cache_t *c = cache_base();
	/* KSK 4 takes over signing the DNSKEY RRset as soon as its DS is served */
	uint32_t ds[] = {1, 4}, dk[] = {1, 2, 4}, ksig[] = {4};
	kasp_cache_set_t d = cs(ds, 2, NULL, 0, 8), k = cs(dk, 3, ksig, 1, 8);
	uint64_t t = T0 + 10 * DAY;
	ck_assert_int_eq(kasp_cache_serve(c, KASP_CACHE_DS, t, &d), TANDEM_OK);
	ck_assert_int_eq(kasp_cache_serve(c, KASP_CACHE_DNSKEY, t, &k), TANDEM_OK);
	ck_assert_uint_gt(kasp_cache_check(c, t, NULL), 0);
	/* an insecure zone (no DS anywhere in caches) cannot fail */
	kasp_cache_t *c2 = NULL;
	ck_assert_int_eq(kasp_cache_new(IPUB_DS, IPUB_KEY, DAY, &c2), TANDEM_OK);
	kasp_cache_set_t empty = {0};
	ck_assert_int_eq(kasp_cache_serve(c2, KASP_CACHE_DS, T0, &empty), TANDEM_OK);
	ck_assert_int_eq(kasp_cache_serve(c2, KASP_CACHE_DNSKEY, T0, &k), TANDEM_OK);
	ck_assert_uint_eq(kasp_cache_check(c2, T0, NULL), 0);
	kasp_cache_free(c2);
	kasp_cache_free(c);
}
END_TEST

START_TEST(test_cache_algorithm_order)
{
	kasp_cache_t *c = cache_base();
	/* a DNSKEY of algorithm 13 before any data carries algorithm 13 signatures */
	uint32_t dk[] = {1, 2, 100, 101}, ksig[] = {1, 100}, zsig[] = {2, 101};
	kasp_cache_set_t k = cs(dk, 4, ksig, 2, 13), z = cs(NULL, 0, zsig, 2, 13);
	uint64_t t = T0 + 10 * DAY;
	ck_assert_int_eq(kasp_cache_serve(c, KASP_CACHE_DNSKEY, t, &k), TANDEM_OK);
	ck_assert_int_eq(kasp_cache_serve(c, KASP_CACHE_DATA, t, &z), TANDEM_OK);
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	ck_assert_uint_gt(kasp_cache_check(c, t, diag), 0);
	ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, 0), "algorithm"));
	tandem_diag_free(diag);
	kasp_cache_free(c);
}
END_TEST

/* ---- the simulator, with fake keys and no signer ---- */

static int fake_gen(void *arg, const kasp_action_t *a, uint32_t id, char *label, uint8_t *dnskey,
		    size_t *len)
{
	(void)arg;
	snprintf(label, KASP_LABEL_MAX, "sim-%s-%u", kasp_role_str(a->role), id);
	*len = fake_dnskey(a->role, a->algorithm, id, dnskey);
	return TANDEM_OK;
}

static void sim(const kasp_policy_t *p, uint64_t ez, uint64_t ek, uint64_t at, uint8_t alg,
		kasp_sim_result_t *res)
{
	kasp_sim_ops_t ops = {.generate = fake_gen};
	kasp_sim_conf_t conf = {.zone = "example.",
				.policy = p,
				.start = T0,
				.end = T0 + 3 * 365 * DAY,
				.emergency_zsk = ez,
				.emergency_ksk = ek,
				.algorithm_at = at,
				.algorithm = alg};
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	int ret = kasp_sim_run(&conf, &ops, diag, res);
	for (size_t i = 0; i < tandem_diag_kept(diag) && i < 5; i++) {
		fprintf(stderr, "sim: %s\n", tandem_diag_msg(diag, i));
	}
	ck_assert_int_eq(ret, TANDEM_OK);
	tandem_diag_free(diag);
}

START_TEST(test_sim_dps_three_years)
{
	kasp_policy_t p;
	kasp_policy_defaults(&p);
	kasp_sim_result_t r;
	sim(&p, 0, 0, 0, 0, &r);
	ck_assert_uint_ge(r.zsk_rollovers, 11);
	ck_assert_uint_ge(r.ksk_rollovers, 2);
	ck_assert_uint_eq(r.cache_failures, 0);
	sim(&p, T0 + 200 * DAY, T0 + 400 * DAY, T0 + 500 * DAY, 13, &r);
	ck_assert_uint_eq(r.cache_failures, 0);
	ck_assert_uint_ge(r.zsk_rollovers, 12);
	ck_assert_uint_ge(r.ksk_rollovers, 3);
}
END_TEST

START_TEST(test_sim_unsafe_policy_caught)
{
	/* a ZSK post-publication shorter than key-roll-time + Dprp + TTLsig
	 * (kasp_policy_check refuses it): the machine keeps the old ZSK published until its
	 * last signature is replaced and out of caches all the same */
	kasp_policy_t p;
	kasp_policy_defaults(&p);
	p.zsk.postpublish = HOUR;
	kasp_sim_result_t r;
	sim(&p, 0, 0, 0, 0, &r);
	ck_assert_uint_eq(r.cache_failures, 0);
	ck_assert_uint_ge(r.zsk_rollovers, 11);
	/* an emergency post-publication that short (not lengthened: an emergency replaces
	 * every signature at once) orphans cached signatures: the model catches it */
	kasp_policy_defaults(&p);
	p.zsk.emergency_postpublish = HOUR;
	sim(&p, T0 + 200 * DAY, 0, 0, 0, &r);
	ck_assert_uint_gt(r.cache_failures, 0);
	/* the same runs with the DPS values are clean */
	kasp_policy_defaults(&p);
	sim(&p, T0 + 200 * DAY, 0, 0, 0, &r);
	ck_assert_uint_eq(r.cache_failures, 0);
}
END_TEST

/* ---- issue 9: DPS pre-publication by default, emergencies without a standby ---- */

#define STEP15 (15 * 60u)

/* A DNSKEY RDATA of the real size: flags, protocol, algorithm, RSA exponent 65537 and a
 * modulus of `bits` (RFC 3110), unique per key. */
static size_t rsa_dnskey(kasp_role_t role, uint16_t bits, uint32_t id, uint8_t *buf)
{
	size_t n = 0;
	buf[n++] = 1;
	buf[n++] = role == KASP_ROLE_KSK ? 1 : 0;
	buf[n++] = 3;
	buf[n++] = 8;
	buf[n++] = 3;
	buf[n++] = 1;
	buf[n++] = 0;
	buf[n++] = 1;
	for (size_t i = 0; i < bits / 8u; i++) {
		buf[n++] = (uint8_t)(id * 131u + i * 7u);
	}
	return n;
}

static int rsa_gen(void *arg, const kasp_action_t *a, uint32_t id, char *label, uint8_t *dnskey,
		   size_t *len)
{
	(void)arg;
	snprintf(label, KASP_LABEL_MAX, "sim-%s-%u", kasp_role_str(a->role), id);
	*len = rsa_dnskey(a->role, a->bits, id, dnskey);
	return TANDEM_OK;
}

/*
 * Wire size of the answer to "example. DNSKEY": header 12, question (name 9 + type +
 * class), each DNSKEY RR (owner compressed to a 2-byte pointer, type, class, TTL,
 * RDLENGTH, RDATA), each RRSIG over the DNSKEY RRset by each key that signs it (18 bytes
 * of fixed fields, the signer's name uncompressed, RFC 4034 3.1.7, and an RSA signature
 * as long as the modulus).
 */
static size_t dnskey_answer_size(const kasp_keyset_t *set)
{
	const size_t name = 9; /* "example." */
	size_t n = 12 + name + 4;
	for (size_t i = 0; i < set->count; i++) {
		const kasp_key_t *k = &set->keys[i];
		kasp_roles_t r;
		kasp_key_roles(k, &r);
		if (r.published) {
			n += 2 + 10 + k->dnskey_len;
		}
		if (r.ksk) {
			n += 2 + 10 + 18 + name + (size_t)(k->dnskey_len - 8);
		}
	}
	return n;
}

#define EVENTS_MAX 4096

typedef struct watch {
	uint64_t t[EVENTS_MAX];
	size_t size[EVENTS_MAX];
	size_t n;
	unsigned no_ksk, no_zsk; /* events with no KSK or no ZSK signing */
	kasp_keyset_t last;
	uint64_t last_t;
} watch_t;

static size_t watch_publish(void *arg, const kasp_keyset_t *set, const uint32_t *ds, size_t nds,
			    uint64_t now, tandem_diag_t *diag, kasp_sim_signers_t *signers)
{
	(void)signers;
	(void)ds;
	(void)nds;
	(void)diag;
	watch_t *w = arg;
	bool ksk = false, zsk = false;
	for (size_t i = 0; i < set->count; i++) {
		kasp_roles_t r;
		kasp_key_roles(&set->keys[i], &r);
		ksk |= r.ksk && r.published;
		zsk |= r.zsk && r.published;
	}
	w->no_ksk += !ksk;
	w->no_zsk += !zsk;
	if (w->n < EVENTS_MAX) {
		w->t[w->n] = now;
		w->size[w->n++] = dnskey_answer_size(set);
	}
	memcpy(&w->last, set, sizeof(*set));
	w->last_t = now;
	return 0;
}

/* Item 4: three years of the DPS default policy, event by event (every transition). */
START_TEST(test_dps_prepublication_three_years)
{
	kasp_policy_t p;
	kasp_policy_defaults(&p);
	watch_t *w = calloc(1, sizeof(*w));
	ck_assert_ptr_nonnull(w);
	kasp_sim_ops_t ops = {.arg = w, .generate = rsa_gen, .publish = watch_publish};
	uint64_t end = T0 + 3 * 365 * DAY;
	kasp_sim_conf_t conf = {.zone = "example.", .policy = &p, .start = T0, .end = end};
	kasp_sim_result_t res;
	ck_assert_int_eq(kasp_sim_run(&conf, &ops, NULL, &res), TANDEM_OK);
	ck_assert_uint_eq(res.cache_failures, 0);
	ck_assert_uint_ge(res.zsk_rollovers, 11);
	ck_assert_uint_ge(res.ksk_rollovers, 2);
	ck_assert_uint_lt(w->n, EVENTS_MAX);
	/* (c) a KSK and a ZSK sign at every event */
	ck_assert_uint_eq(w->no_ksk, 0);
	ck_assert_uint_eq(w->no_zsk, 0);
	const kasp_keyset_t *set = &w->last;
	/* (b) successors are published `prepublish` before they sign; a KSK also waits for
	 * its DS to be in every cache (ds-seen + Ipub(DS)), which this parent (1h) makes
	 * shorter than the 30 days */
	unsigned zsk_succ = 0, ksk_succ = 0;
	for (size_t i = 0; i < set->count; i++) {
		const kasp_key_t *k = &set->keys[i];
		if (k->active == 0 || k->active == T0) {
			continue; /* never signed, or a first key */
		}
		if (k->role == KASP_ROLE_ZSK) {
			zsk_succ++;
			uint64_t d = k->active - k->published;
			ck_assert_msg(d + STEP15 >= 7 * DAY && d <= 7 * DAY + STEP15,
				      "zsk %u published %llu s before it signs", k->id,
				      (unsigned long long)d);
		} else {
			ksk_succ++;
			uint64_t want = k->published + 30 * DAY;
			uint64_t ds = k->ds_seen + IPUB_DS;
			ck_assert_uint_ne(k->ds_seen, 0);
			ck_assert_uint_eq(k->active, want > ds ? want : ds);
			ck_assert_uint_eq(k->active - k->published, 30 * DAY);
		}
	}
	ck_assert_uint_ge(zsk_succ, 11);
	ck_assert_uint_ge(ksk_succ, 2);
	/* (d) retired keys leave after their post-publication (a KSK not before ds-gone) */
	for (size_t i = 0; i < set->count; i++) {
		const kasp_key_t *k = &set->keys[i];
		if (k->retired == 0) {
			continue;
		}
		uint64_t post = k->role == KASP_ROLE_KSK ? 30 * DAY : 7 * DAY;
		if (k->state != KASP_KEY_REMOVED) {
			ck_assert_uint_lt(w->last_t - k->retired, post);
			continue;
		}
		uint64_t t = k->retired + post;
		if (k->role == KASP_ROLE_KSK && k->ds_gone > t) {
			t = k->ds_gone;
		}
		ck_assert_uint_eq(k->removed, t);
	}
	/* (a) the DNSKEY answer fits 1232 bytes except around KSK rollovers: from
	 * `prepublish` before a new KSK signs to the old KSK's removal (ds-gone included) */
	size_t over = 0, biggest = 0;
	for (size_t e = 0; e < w->n; e++) {
		bool window = false;
		for (size_t i = 0; i < set->count; i++) {
			const kasp_key_t *k = &set->keys[i];
			if (k->role != KASP_ROLE_KSK || k->active == 0 || k->active == T0) {
				continue;
			}
			window |= w->t[e] + 30 * DAY + 2 * DAY >= k->active &&
				  w->t[e] <= k->active + 30 * DAY + 2 * DAY;
		}
		if (!window) {
			biggest = w->size[e] > biggest ? w->size[e] : biggest;
			over += w->size[e] > 1232;
		}
	}
	ck_assert_msg(over == 0, "%zu events with a DNSKEY answer above 1232 bytes (max %zu)", over,
		      biggest);
	ck_assert_uint_gt(biggest, 700); /* the sizes are real: 1 KSK + 2 ZSKs + 1 RRSIG */
	free(w);
}
END_TEST

/* The same, on a 15-minute clock: the machine driven directly, with a parent that
 * acts one hour after it is asked. */
START_TEST(test_dps_prepublication_15min)
{
	kasp_policy_t p;
	kasp_policy_defaults(&p);
	kasp_step_t st;
	kasp_keyset_t *set = new_set();
	uint32_t pend_id[16];
	uint64_t pend_at[16];
	bool pend_add[16];
	size_t npend = 0;
	unsigned max_ksk = 0, max_zsk = 0;
	for (uint64_t t = T0; t < T0 + 3 * 365 * DAY; t += STEP15) {
		size_t k = 0;
		for (size_t i = 0; i < npend; i++) {
			if (pend_at[i] > t) {
				pend_id[k] = pend_id[i];
				pend_at[k] = pend_at[i];
				pend_add[k++] = pend_add[i];
			} else if (pend_add[i]) {
				ck_assert_int_eq(kasp_keyset_ds_seen(set, pend_id[i], t),
						 TANDEM_OK);
			} else {
				ck_assert_int_eq(kasp_keyset_ds_gone(set, pend_id[i], t),
						 TANDEM_OK);
			}
		}
		npend = k;
		run(set, &p, t, &st);
		for (size_t a = 0; a < st.nactions; a++) {
			if (st.actions[a].kind == KASP_ACTION_GENERATE) {
				continue;
			}
			ck_assert_uint_lt(npend, 16);
			pend_id[npend] = st.actions[a].key_id;
			pend_at[npend] = t + HOUR;
			pend_add[npend++] = st.actions[a].kind == KASP_ACTION_DS_SUBMIT;
		}
		unsigned nk = 0, nz = 0, sk = 0, sz = 0;
		for (size_t i = 0; i < set->count; i++) {
			kasp_roles_t r;
			kasp_key_roles(&set->keys[i], &r);
			nk += r.published && set->keys[i].role == KASP_ROLE_KSK;
			nz += r.published && set->keys[i].role == KASP_ROLE_ZSK;
			sk += r.ksk;
			sz += r.zsk;
		}
		ck_assert_uint_eq(sk, 1); /* (c) */
		ck_assert_uint_eq(sz, 1);
		max_ksk = nk > max_ksk ? nk : max_ksk;
		max_zsk = nz > max_zsk ? nz : max_zsk;
	}
	/* never more than the rolling pair of a role in the zone */
	ck_assert_uint_eq(max_ksk, 2);
	ck_assert_uint_eq(max_zsk, 2);
	for (size_t i = 0; i < set->count; i++) {
		const kasp_key_t *k = &set->keys[i];
		if (k->active == 0 || k->active == T0) {
			continue;
		}
		uint64_t d = k->active - k->published;
		uint64_t want = k->role == KASP_ROLE_ZSK ? 7 * DAY : 30 * DAY;
		ck_assert_msg(d + STEP15 >= want && d <= want + STEP15,
			      "%s %u published %llu s before it signs", kasp_role_str(k->role),
			      k->id, (unsigned long long)d);
	}
	free(set);
}
END_TEST

/* A DPS-default zone at T0 whose KSK's DS the parent shows at T0 + 14h. */
static kasp_keyset_t *dps_zone(const kasp_policy_t *p, kasp_step_t *st)
{
	kasp_keyset_t *set = new_set();
	run(set, p, T0, st);
	ck_assert_uint_eq(set->count, 2); /* one KSK, one ZSK: no standby */
	run(set, p, T0 + IPUB_KEY, st);
	uint32_t ksk = key_in(set, KASP_ROLE_KSK, KASP_KEY_ACTIVE)->id;
	ck_assert_int_eq(kasp_keyset_ds_seen(set, ksk, T0 + 14 * HOUR), TANDEM_OK);
	run(set, p, T0 + 14 * HOUR, st);
	return set;
}

static bool signs_data(kasp_keyset_t *set, uint32_t id)
{
	kasp_roles_t r;
	kasp_key_roles(kasp_keyset_find(set, id), &r);
	return r.zsk;
}

static bool signs_dnskey(kasp_keyset_t *set, uint32_t id)
{
	kasp_roles_t r;
	kasp_key_roles(kasp_keyset_find(set, id), &r);
	return r.ksk;
}

/* Steps the machine; a key it asks for is added as the cluster adds it (not yet
 * imported); returns its id (0: none asked for). */
static uint32_t step_cluster(kasp_keyset_t *set, const kasp_policy_t *p, uint64_t now,
			     kasp_step_t *st, kasp_role_t role)
{
	ck_assert_int_eq(kasp_keystate_step(set, p, now, set, st), TANDEM_OK);
	uint32_t id = 0;
	for (size_t a = 0; a < st->nactions; a++) {
		if (st->actions[a].kind == KASP_ACTION_GENERATE) {
			ck_assert_int_eq(st->actions[a].role, role);
			ck_assert_uint_eq(id, 0);
			id = fake_add(set, role, 8, false, now);
		}
	}
	return id;
}

/* Item 2, ZSK: the compromised key stops signing at once, with no standby. */
static void emergency_zsk_at(uint64_t t)
{
	kasp_policy_t p;
	kasp_policy_defaults(&p);
	kasp_step_t st;
	kasp_keyset_t *set = dps_zone(&p, &st);
	for (uint64_t u = T0 + DAY; u < t; u += DAY) {
		run(set, &p, u, &st); /* every planned rollover on time */
	}
	run(set, &p, t, &st);
	uint32_t a = key_in(set, KASP_ROLE_ZSK, KASP_KEY_ACTIVE)->id;
	uint32_t ksk = key_in(set, KASP_ROLE_KSK, KASP_KEY_ACTIVE)->id;
	ck_assert_ptr_null(key_in(set, KASP_ROLE_ZSK, KASP_KEY_READY));
	ck_assert_int_eq(kasp_keyset_compromise(set, a, t), TANDEM_OK);
	/* the same step: withdrawn, a replacement asked for, the KSK signs the data */
	uint32_t n = step_cluster(set, &p, t, &st, KASP_ROLE_ZSK);
	ck_assert_uint_ne(n, 0);
	ck_assert_int_eq(kasp_keyset_find(set, a)->state, KASP_KEY_RETIRED);
	ck_assert(!signs_data(set, a));
	ck_assert(signs_data(set, ksk) && signs_dnskey(set, ksk));
	/* not yet at every site: nothing of it in the zone */
	ck_assert_uint_eq(step_cluster(set, &p, t + 60, &st, KASP_ROLE_ZSK), 0);
	ck_assert_int_eq(kasp_keyset_find(set, n)->state, KASP_KEY_GENERATED);
	ck_assert(st.waiting_keys);
	/* imported everywhere: published at once, signs once it is in every cache */
	uint64_t imp = t + 120;
	ck_assert_int_eq(kasp_keyset_imported(set, n), TANDEM_OK);
	ck_assert_uint_eq(step_cluster(set, &p, imp, &st, KASP_ROLE_ZSK), 0);
	ck_assert_int_eq(kasp_keyset_find(set, n)->state, KASP_KEY_PUBLISHED);
	ck_assert_uint_eq(st.next, imp + IPUB_KEY);
	for (uint64_t u = imp; u <= t + 3 * DAY; u += STEP15) {
		run(set, &p, u, &st);
		ck_assert(!signs_data(set, a)); /* never again */
		ck_assert(signs_data(set, u < imp + IPUB_KEY ? ksk : n));
		ck_assert(signs_data(set, ksk) == (u < imp + IPUB_KEY));
		kasp_roles_t r;
		kasp_key_roles(kasp_keyset_find(set, a), &r);
		/* published for the emergency post-publication (2d), then removed */
		ck_assert(r.published == (u < t + 2 * DAY));
	}
	ck_assert_int_eq(kasp_keyset_find(set, a)->state, KASP_KEY_REMOVED);
	ck_assert_uint_ge(kasp_keyset_find(set, a)->removed,
			  t + 2 * DAY); /* the first step after */
	ck_assert_uint_lt(kasp_keyset_find(set, a)->removed, t + 2 * DAY + STEP15);
	free(set);
}

START_TEST(test_emergency_zsk_no_standby)
{
	emergency_zsk_at(T0 + DAY);       /* the zone's first day */
	emergency_zsk_at(T0 + 45 * DAY);  /* mid-life: no successor yet */
	emergency_zsk_at(T0 + 135 * DAY); /* the second ZSK's mid-life */
}
END_TEST

/* Item 2, KSK: the replacement signs the DNSKEY RRset once imported, the DS is swapped
 * and the compromised KSK stops signing once the new DS is in every cache. */
static void emergency_ksk_at(uint64_t t)
{
	kasp_policy_t p;
	kasp_policy_defaults(&p);
	kasp_step_t st;
	kasp_keyset_t *set = dps_zone(&p, &st);
	for (uint64_t u = T0 + DAY; u < t; u += DAY) {
		run(set, &p, u, &st);
	}
	run(set, &p, t, &st);
	uint32_t a = key_in(set, KASP_ROLE_KSK, KASP_KEY_ACTIVE)->id;
	ck_assert_int_eq(kasp_keyset_find(set, a)->ds, KASP_DS_SEEN);
	ck_assert_ptr_null(key_in(set, KASP_ROLE_KSK, KASP_KEY_READY));
	ck_assert_int_eq(kasp_keyset_compromise(set, a, t), TANDEM_OK);
	uint32_t n = step_cluster(set, &p, t, &st, KASP_ROLE_KSK);
	ck_assert_uint_ne(n, 0);
	ck_assert(signs_dnskey(set, a)); /* nothing else can sign the DNSKEY RRset yet */
	uint64_t imp = t + 120;
	ck_assert_int_eq(kasp_keyset_imported(set, n), TANDEM_OK);
	ck_assert_uint_eq(step_cluster(set, &p, imp, &st, KASP_ROLE_KSK), 0);
	ck_assert_int_eq(kasp_keyset_find(set, n)->state, KASP_KEY_ACTIVE);
	ck_assert(signs_dnskey(set, n));
	/* its DS once its DNSKEY is in every cache; the compromised DS withdrawn once
	 * DNSKEY RRsets signed by the compromised KSK alone are out of every cache */
	run(set, &p, imp + IPUB_KEY - 1, &st);
	ck_assert_int_eq(kasp_keyset_find(set, n)->ds, KASP_DS_NONE);
	run(set, &p, imp + IPUB_KEY, &st);
	ck_assert_int_eq(kasp_keyset_find(set, n)->ds, KASP_DS_SUBMIT);
	ck_assert_int_eq(kasp_keyset_find(set, a)->ds, KASP_DS_SEEN);
	run(set, &p, imp + IRET_KEY - 1, &st);
	ck_assert_int_eq(kasp_keyset_find(set, a)->ds, KASP_DS_SEEN);
	run(set, &p, imp + IRET_KEY, &st);
	ck_assert_int_eq(kasp_keyset_find(set, a)->ds, KASP_DS_RETRACT);
	ck_assert_uint_eq(count_actions(&st, KASP_ACTION_DS_RETRACT), 1);
	ck_assert(kasp_keyset_cds_pending(set));
	ck_assert(!kasp_key_ds_wanted(kasp_keyset_find(set, a))); /* CDS: the new key only */
	uint64_t seen = imp + IRET_KEY + HOUR;
	ck_assert_int_eq(kasp_keyset_ds_seen(set, n, seen), TANDEM_OK);
	ck_assert_int_eq(kasp_keyset_ds_gone(set, a, seen), TANDEM_OK);
	run(set, &p, seen + IPUB_DS - 1, &st);
	ck_assert(signs_dnskey(set, a));
	for (uint64_t u = seen + IPUB_DS; u <= seen + IPUB_DS + 8 * DAY; u += STEP15) {
		run(set, &p, u, &st);
		ck_assert(!signs_dnskey(set, a) && !signs_data(set, a));
		ck_assert(signs_dnskey(set, n));
		kasp_roles_t r;
		kasp_key_roles(kasp_keyset_find(set, a), &r);
		ck_assert(r.published == (u < seen + IPUB_DS + 7 * DAY)); /* 7d, then gone */
	}
	ck_assert_int_eq(kasp_keyset_find(set, a)->state, KASP_KEY_REMOVED);
	free(set);
}

START_TEST(test_emergency_ksk_no_standby)
{
	emergency_ksk_at(T0 + DAY);
	emergency_ksk_at(T0 + 100 * DAY);
}
END_TEST

/* Emergencies on any day, with and without the standby option, one role or both: the cache
 * check (every DS/DNSKEY/RRSIG mix a resolver may hold) never fails. */
START_TEST(test_emergency_sweep)
{
	static const unsigned days[] = {1,  2,   3,   5,   45,  84,  86,  88,  89, 90,
					91, 180, 335, 336, 340, 364, 365, 366, 380};
	for (int sb = 0; sb < 2; sb++) {
		kasp_policy_t p;
		kasp_policy_defaults(&p);
		p.ksk.standby = p.zsk.standby = sb != 0;
		for (size_t i = 0; i < sizeof(days) / sizeof(days[0]); i++) {
			uint64_t d = T0 + days[i] * DAY;
			kasp_sim_result_t r;
			sim(&p, d, 0, 0, 0, &r);
			ck_assert_msg(r.cache_failures == 0, "standby %d, zsk emergency day %u", sb,
				      days[i]);
			sim(&p, 0, d, 0, 0, &r);
			ck_assert_msg(r.cache_failures == 0, "standby %d, ksk emergency day %u", sb,
				      days[i]);
			sim(&p, d, d + 2 * DAY, 0, 0, &r);
			ck_assert_msg(r.cache_failures == 0, "standby %d, both from day %u", sb,
				      days[i]);
		}
	}
}
END_TEST

/* The standby option's fast path is unchanged: the ready standby takes over in the step. */
START_TEST(test_emergency_with_standby_option)
{
	kasp_policy_t p;
	standby_policy(&p);
	kasp_step_t st;
	kasp_keyset_t *set = bootstrapped(&p, &st);
	uint64_t t = T0 + 40 * DAY;
	run(set, &p, t, &st);
	uint32_t a = key_in(set, KASP_ROLE_ZSK, KASP_KEY_ACTIVE)->id;
	uint32_t s = key_in(set, KASP_ROLE_ZSK, KASP_KEY_READY)->id;
	ck_assert_int_eq(kasp_keyset_compromise(set, a, t), TANDEM_OK);
	run(set, &p, t, &st);
	ck_assert_int_eq(kasp_keyset_find(set, s)->state, KASP_KEY_ACTIVE);
	ck_assert(!signs_data(set, a));
	ck_assert(
	    !kasp_keyset_find(set, key_in(set, KASP_ROLE_KSK, KASP_KEY_ACTIVE)->id)->covers_zsk);
	free(set);
}
END_TEST

/* ---- the store ---- */

static kasp_keyset_t *some_state(void)
{
	kasp_policy_t p;
	kasp_policy_defaults(&p);
	kasp_step_t st;
	kasp_keyset_t *set = bootstrapped(&p, &st);
	run(set, &p, T0 + 100 * DAY, &st);
	snprintf(set->policy_path, sizeof(set->policy_path), "conf/dps-default.yaml");
	return set;
}

START_TEST(test_store_roundtrip)
{
	char dir[256];
	ts_tmpdir(dir, sizeof(dir));
	kasp_store_t *st = NULL;
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	ck_assert_int_eq(kasp_store_load(dir, diag, &st), TANDEM_OK); /* no file: empty */
	ck_assert_uint_eq(kasp_store_count(st), 0);
	kasp_keyset_t *set = some_state();
	ck_assert_int_eq(kasp_store_put(st, set), TANDEM_OK);
	kasp_keyset_t *other = new_set();
	snprintf(other->zone, sizeof(other->zone), "other.");
	ck_assert_int_eq(kasp_store_put(st, other), TANDEM_OK);
	ck_assert_int_eq(kasp_store_save(st, dir, diag), TANDEM_OK);
	kasp_store_free(st);
	st = NULL;
	ck_assert_int_eq(kasp_store_load(dir, diag, &st), TANDEM_OK);
	ck_assert_uint_eq(kasp_store_count(st), 2);
	kasp_keyset_t *back = malloc(sizeof(*back));
	ck_assert_int_eq(kasp_store_get(st, "example.", back), TANDEM_OK);
	ck_assert_uint_eq(back->count, set->count);
	ck_assert_uint_eq(back->next_id, set->next_id);
	ck_assert_str_eq(back->policy_path, set->policy_path);
	for (size_t i = 0; i < set->count; i++) {
		const kasp_key_t *a = &set->keys[i], *b = &back->keys[i];
		ck_assert_uint_eq(a->id, b->id);
		ck_assert_int_eq(a->state, b->state);
		ck_assert_int_eq(a->ds, b->ds);
		ck_assert_uint_eq(a->tag, b->tag);
		ck_assert_uint_eq(a->published, b->published);
		ck_assert_uint_eq(a->active, b->active);
		ck_assert_uint_eq(a->ds_seen, b->ds_seen);
		ck_assert_str_eq(a->label, b->label);
		ck_assert_mem_eq(a->dnskey, b->dnskey, a->dnskey_len);
	}
	ck_assert_int_eq(kasp_store_get(st, "nope.", back), TANDEM_ENOENT);
	kasp_store_free(st);
	free(back);
	free(other);
	free(set);
	tandem_diag_free(diag);
	ts_rmtree(dir);
}
END_TEST

/* Writes len bytes of data to dir/keystate.pb. */
static void write_state(const char *dir, const char *data, size_t len)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/%s", dir, KASP_STORE_FILE);
	FILE *fp = fopen(path, "wb");
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(data, 1, len, fp), len);
	fclose(fp);
}

START_TEST(test_store_refuses_bad_files)
{
	char dir[256], path[400];
	ts_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, KASP_STORE_FILE);
	kasp_store_t *st = NULL;
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	ck_assert_int_eq(kasp_store_load(dir, diag, &st), TANDEM_OK);
	kasp_keyset_t *set = some_state();
	ck_assert_int_eq(kasp_store_put(st, set), TANDEM_OK);
	ck_assert_int_eq(kasp_store_save(st, dir, diag), TANDEM_OK);
	kasp_store_free(st);
	char *good = NULL;
	size_t len = 0;
	FILE *fp = fopen(path, "rb");
	ck_assert_ptr_nonnull(fp);
	good = malloc(1 << 20);
	len = fread(good, 1, 1 << 20, fp);
	fclose(fp);
	ck_assert_uint_gt(len, 100);

	/* truncated anywhere: refused */
	size_t cuts[] = {1, 10, len / 2, len - 33, len - 1};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		write_state(dir, good, cuts[i]);
		st = NULL;
		tandem_diag_clear(diag);
		ck_assert_int_eq(kasp_store_load(dir, diag, &st), TANDEM_KASP_ESTATE);
		ck_assert_ptr_null(st);
		ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, 0), path));
	}
	/* one byte flipped in the records */
	char *bad = malloc(len);
	memcpy(bad, good, len);
	bad[len / 2] ^= 0x40;
	write_state(dir, bad, len);
	tandem_diag_clear(diag);
	ck_assert_int_eq(kasp_store_load(dir, diag, &st), TANDEM_KASP_ESTATE);
	/* not ours at all */
	write_state(dir, "policy: x\n", 10);
	ck_assert_int_eq(kasp_store_load(dir, diag, &st), TANDEM_KASP_ESTATE);
	/* a newer format: the version field (field 1, varint) says 2 */
	memcpy(bad, good, len);
	ck_assert_int_eq((unsigned char)bad[0], 0x08);
	ck_assert_int_eq(bad[1], 1);
	bad[1] = 2;
	write_state(dir, bad, len);
	tandem_diag_clear(diag);
	ck_assert_int_eq(kasp_store_load(dir, diag, &st), TANDEM_KASP_EVERSION);
	ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, 0), "newer"));
	/* the good file still loads */
	write_state(dir, good, len);
	ck_assert_int_eq(kasp_store_load(dir, diag, &st), TANDEM_OK);
	ck_assert_uint_eq(kasp_store_count(st), 1);
	/* a failed save (directory read-only; root ignores that) keeps the old file */
	if (geteuid() != 0) {
		kasp_keyset_t *changed = new_set();
		snprintf(changed->zone, sizeof(changed->zone), "new.");
		ck_assert_int_eq(kasp_store_put(st, changed), TANDEM_OK);
		ck_assert_int_eq(chmod(dir, 0500), 0);
		ck_assert_int_eq(kasp_store_save(st, dir, diag), TANDEM_EIO);
		ck_assert_int_eq(chmod(dir, 0700), 0);
		free(changed);
		kasp_store_free(st);
		st = NULL;
		ck_assert_int_eq(kasp_store_load(dir, diag, &st), TANDEM_OK);
		ck_assert_uint_eq(kasp_store_count(st), 1);
	}
	kasp_store_free(st);
	free(bad);
	free(good);
	free(set);
	tandem_diag_free(diag);
	ts_rmtree(dir);
}
END_TEST

/* Reads dir/keystate.pb into a new buffer. */
static uint8_t *read_state(const char *dir, size_t *len)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/%s", dir, KASP_STORE_FILE);
	FILE *fp = fopen(path, "rb");
	ck_assert_ptr_nonnull(fp);
	uint8_t *buf = malloc(1 << 20);
	ck_assert_ptr_nonnull(buf);
	*len = fread(buf, 1, 1 << 20, fp);
	fclose(fp);
	return buf;
}

START_TEST(test_keyset_pack_roundtrip)
{
	kasp_keyset_t *set = some_state();
	snprintf(set->token_uri, sizeof(set->token_uri), "pkcs11:token=a");
	uint8_t *buf = NULL;
	size_t len = 0;
	ck_assert_int_eq(kasp_keyset_pack(set, &buf, &len), TANDEM_OK);
	ck_assert_uint_gt(len, 100);
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	kasp_keyset_t *back = malloc(sizeof(*back));
	ck_assert_int_eq(kasp_keyset_unpack(buf, len, "keys/example.", diag, back), TANDEM_OK);
	ck_assert_str_eq(back->zone, set->zone);
	ck_assert_str_eq(back->policy_path, set->policy_path);
	ck_assert_str_eq(back->token_uri, set->token_uri);
	ck_assert_uint_eq(back->next_id, set->next_id);
	ck_assert_uint_eq(back->count, set->count);
	for (size_t i = 0; i < set->count; i++) {
		const kasp_key_t *a = &set->keys[i], *b = &back->keys[i];
		ck_assert_uint_eq(a->id, b->id);
		ck_assert_int_eq(a->state, b->state);
		ck_assert_int_eq(a->ds, b->ds);
		ck_assert_uint_eq(a->tag, b->tag);
		ck_assert_uint_eq(a->active, b->active);
		ck_assert_str_eq(a->label, b->label);
		ck_assert_mem_eq(a->dnskey, b->dnskey, a->dnskey_len);
	}
	/* the bytes are those of a state file holding that zone alone */
	char dir[256];
	ts_tmpdir(dir, sizeof(dir));
	kasp_store_t *st = NULL;
	ck_assert_int_eq(kasp_store_load(dir, diag, &st), TANDEM_OK);
	ck_assert_int_eq(kasp_store_put(st, set), TANDEM_OK);
	ck_assert_int_eq(kasp_store_save(st, dir, diag), TANDEM_OK);
	size_t flen = 0;
	uint8_t *file = read_state(dir, &flen);
	ck_assert_uint_eq(flen, len);
	ck_assert_mem_eq(file, buf, len);
	/* packing is deterministic: packing what was unpacked gives the same bytes */
	uint8_t *again = NULL;
	size_t alen = 0;
	ck_assert_int_eq(kasp_keyset_pack(back, &again, &alen), TANDEM_OK);
	ck_assert_uint_eq(alen, len);
	ck_assert_mem_eq(again, buf, len);
	/* bad arguments */
	ck_assert_int_eq(kasp_keyset_pack(NULL, &again, &alen), TANDEM_EINVAL);
	ck_assert_int_eq(kasp_keyset_unpack(buf, len, "x", diag, NULL), TANDEM_EINVAL);
	free(again);
	free(file);
	kasp_store_free(st);
	ts_rmtree(dir);
	free(back);
	free(buf);
	free(set);
	tandem_diag_free(diag);
}
END_TEST

START_TEST(test_keyset_unpack_refuses)
{
	kasp_keyset_t *set = some_state();
	uint8_t *good = NULL;
	size_t len = 0;
	ck_assert_int_eq(kasp_keyset_pack(set, &good, &len), TANDEM_OK);
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	kasp_keyset_t *back = malloc(sizeof(*back));
	memset(back, 0x5a, sizeof(*back));
	uint8_t *bad = malloc(len);

	/* one byte flipped in the records: the checksum catches it */
	memcpy(bad, good, len);
	bad[len / 2] ^= 0x40;
	ck_assert_int_eq(kasp_keyset_unpack(bad, len, "keys/example.", diag, back),
			 TANDEM_KASP_ESTATE);
	ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, 0), "keys/example.: "));
	ck_assert_uint_eq(back->count, 0x5a5a5a5a5a5a5a5au); /* untouched */
	/* truncated anywhere, or empty */
	size_t cuts[] = {0, 1, 10, len / 2, len - 33, len - 1};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		tandem_diag_clear(diag);
		ck_assert_int_eq(kasp_keyset_unpack(good, cuts[i], "ks", diag, back),
				 TANDEM_KASP_ESTATE);
		ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, 0), "ks: "));
	}
	/* garbage */
	tandem_diag_clear(diag);
	ck_assert_int_eq(kasp_keyset_unpack((const uint8_t *)"policy: x\n", 10, "ks", diag, back),
			 TANDEM_KASP_ESTATE);
	/* another version */
	memcpy(bad, good, len);
	ck_assert_uint_eq(bad[0], 0x08);
	ck_assert_uint_eq(bad[1], 1);
	bad[1] = 2;
	tandem_diag_clear(diag);
	ck_assert_int_eq(kasp_keyset_unpack(bad, len, "ks", diag, back), TANDEM_KASP_EVERSION);
	ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, 0), "newer"));
	/* a well-formed file with two zones (a whole state file) is not one key set */
	char dir[256];
	ts_tmpdir(dir, sizeof(dir));
	kasp_store_t *st = NULL;
	ck_assert_int_eq(kasp_store_load(dir, diag, &st), TANDEM_OK);
	ck_assert_int_eq(kasp_store_put(st, set), TANDEM_OK);
	snprintf(set->zone, sizeof(set->zone), "other.");
	ck_assert_int_eq(kasp_store_put(st, set), TANDEM_OK);
	ck_assert_int_eq(kasp_store_save(st, dir, diag), TANDEM_OK);
	size_t flen = 0;
	uint8_t *two = read_state(dir, &flen);
	tandem_diag_clear(diag);
	ck_assert_int_eq(kasp_keyset_unpack(two, flen, "ks", diag, back), TANDEM_KASP_ESTATE);
	ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, 0), "2 zones"));
	/* and none */
	kasp_store_free(st);
	st = NULL;
	ts_rmtree(dir);
	ts_tmpdir(dir, sizeof(dir));
	ck_assert_int_eq(kasp_store_load(dir, diag, &st), TANDEM_OK);
	ck_assert_int_eq(kasp_store_save(st, dir, diag), TANDEM_OK);
	free(two);
	two = read_state(dir, &flen);
	tandem_diag_clear(diag);
	ck_assert_int_eq(kasp_keyset_unpack(two, flen, "ks", diag, back), TANDEM_KASP_ESTATE);
	ck_assert_uint_eq(back->count, 0x5a5a5a5a5a5a5a5au);
	/* the good bytes still unpack */
	ck_assert_int_eq(kasp_keyset_unpack(good, len, "ks", diag, back), TANDEM_OK);
	ck_assert_str_eq(back->zone, "example.");
	kasp_store_free(st);
	ts_rmtree(dir);
	free(two);
	free(bad);
	free(back);
	free(good);
	free(set);
	tandem_diag_free(diag);
}
END_TEST

static Suite *keystate_suite(void)
{
	Suite *s = suite_create("keystate");
	TCase *m = tcase_create("machine");
	tcase_add_test(m, test_bootstrap);
	tcase_add_test(m, test_zsk_prepublish);
	tcase_add_test(m, test_zsk_rollover);
	tcase_add_test(m, test_ksk_ds_gate);
	tcase_add_test(m, test_emergency_zsk);
	tcase_add_test(m, test_signing_digest);
	tcase_add_test(m, test_emergency_ksk);
	tcase_add_test(m, test_manual_rollover);
	tcase_add_test(m, test_algorithm_rollover);
	tcase_add_test(m, test_imported_gate);
	tcase_add_test(m, test_facts_refused);
	suite_add_tcase(s, m);
	TCase *c = tcase_create("cache");
	tcase_add_test(c, test_cache_zsk_without_prepublication);
	tcase_add_test(c, test_cache_zsk_prepublished);
	tcase_add_test(c, test_cache_reused_signature_groups);
	tcase_add_test(c, test_cache_ds_too_early);
	tcase_add_test(c, test_cache_algorithm_order);
	suite_add_tcase(s, c);
	TCase *sm = tcase_create("simulation");
	tcase_add_test(sm, test_sim_dps_three_years);
	tcase_add_test(sm, test_sim_unsafe_policy_caught);
	tcase_add_test(sm, test_dps_prepublication_three_years);
	tcase_add_test(sm, test_dps_prepublication_15min);
	tcase_add_test(sm, test_emergency_zsk_no_standby);
	tcase_add_test(sm, test_emergency_ksk_no_standby);
	tcase_add_test(sm, test_emergency_with_standby_option);
	tcase_add_test(sm, test_emergency_sweep);
	tcase_add_test(sm, test_remove);
	tcase_add_test(sm, test_ds_changes);
	tcase_set_timeout(sm, 120);
	suite_add_tcase(s, sm);
	TCase *st = tcase_create("store");
	tcase_add_test(st, test_store_roundtrip);
	tcase_add_test(st, test_store_refuses_bad_files);
	tcase_add_test(st, test_keyset_pack_roundtrip);
	tcase_add_test(st, test_keyset_unpack_refuses);
	suite_add_tcase(s, st);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(keystate_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
