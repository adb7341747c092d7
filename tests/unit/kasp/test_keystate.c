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

/* ---- the cache check ---- */

static kasp_cache_set_t cs(const uint32_t *keys, size_t nk, const uint32_t *signers, size_t ns,
			   uint8_t alg_of_high)
{
	kasp_cache_set_t s = {0};
	for (size_t i = 0; i < nk; i++) {
		s.keys[s.nkeys++] = (kasp_cache_key_t){keys[i], keys[i] >= 100 ? alg_of_high : 8};
	}
	for (size_t i = 0; i < ns; i++) {
		s.signers[s.nsigners++] =
		    (kasp_cache_key_t){signers[i], signers[i] >= 100 ? alg_of_high : 8};
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
	/* a ZSK post-publication shorter than Dsgn + Dprp + TTLsig (kasp_policy_check
	 * refuses it): the old ZSK leaves while data it signed is cached */
	kasp_policy_t p;
	kasp_policy_defaults(&p);
	p.zsk.postpublish = HOUR;
	kasp_sim_result_t r;
	sim(&p, 0, 0, 0, 0, &r);
	ck_assert_uint_gt(r.cache_failures, 0);
	/* an emergency post-publication that short orphans cached signatures likewise */
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
	tcase_add_test(m, test_emergency_ksk);
	tcase_add_test(m, test_manual_rollover);
	tcase_add_test(m, test_algorithm_rollover);
	tcase_add_test(m, test_imported_gate);
	tcase_add_test(m, test_facts_refused);
	suite_add_tcase(s, m);
	TCase *c = tcase_create("cache");
	tcase_add_test(c, test_cache_zsk_without_prepublication);
	tcase_add_test(c, test_cache_zsk_prepublished);
	tcase_add_test(c, test_cache_ds_too_early);
	tcase_add_test(c, test_cache_algorithm_order);
	suite_add_tcase(s, c);
	TCase *sm = tcase_create("simulation");
	tcase_add_test(sm, test_sim_dps_three_years);
	tcase_add_test(sm, test_sim_unsafe_policy_caught);
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
