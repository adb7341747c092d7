/* Offline KSK: KSR/SKR (de)serialization, the period's plan, and the import checks, with a KSK on
 * a private SoftHSM token signing the slots as the ceremony does. */
#include "hsm.h"
#include "kasp_skr.h"
#include "skr.pb-c.h"
#include "skrtest.h"
#include "tandem_arena.h"
#include "tandem_error.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(plan_quarter)
{
	kasp_policy_t p;
	kasp_policy_defaults(&p);
	/* the fixture's zone has a standby per role: the plan below is that scheme's */
	p.ksk.standby = p.zsk.standby = true;
	uint8_t ksk[KASP_DNSKEY_MAX];
	size_t klen = 0;
	skrt_fake_dnskey(257, 0x11, ksk, &klen);
	kasp_keyset_t *set = skrt_offline_zone(&p, ksk, klen);
	kasp_keyset_t *copy = malloc(sizeof(*copy));
	memcpy(copy, set, sizeof(*copy));
	kasp_skr_t *req = calloc(1, sizeof(*req));
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	size_t made = 0;
	ck_assert_int_eq(
	    kasp_skr_plan(set, &p, &SKRT_QUARTER, skrt_fake_generate, &made, diag, req), TANDEM_OK);
	ck_assert_int_eq(memcmp(set, copy, sizeof(*set)), 0); /* the state is not changed */
	ck_assert_uint_eq(made, 1);                           /* the successor ZSK (id 5) */
	ck_assert_uint_eq(req->nslots, 9);
	ck_assert_str_eq(req->zone, "example.");
	for (size_t i = 0; i < req->nslots; i++) {
		const kasp_skr_slot_t *s = &req->slots[i];
		ck_assert_uint_eq(s->start, SKRT_QUARTER.start + i * 10 * SKRT_DAY);
		ck_assert_uint_eq(s->end, s->start + 10 * SKRT_DAY);
		ck_assert_uint_eq(s->inception, s->start - 3600);
		ck_assert_uint_eq(s->expiration, s->end + 5 * SKRT_DAY);
		ck_assert_uint_eq(s->ttl, p.ttl_dnskey);
		/* KSK 1 signs, KSK 2 is the published standby */
		ck_assert_uint_eq(s->nsigners, 1);
		ck_assert_int_eq(memcmp(s->keys[s->signers[0]].data, ksk, klen), 0);
		for (size_t k = 1; k < s->nkeys; k++) {
			ck_assert_int_lt(memcmp(s->keys[k - 1].data, s->keys[k].data, 68), 0);
		}
	}
	/* ZSK 5 is made at start + 68d (slot 7) and ZSK 3 removed at start + 82d (slot 9) */
	ck_assert_uint_eq(req->slots[5].nkeys, 4);
	ck_assert_uint_eq(req->slots[6].nkeys, 5);
	ck_assert_uint_eq(req->slots[7].nkeys, 5);
	ck_assert_uint_eq(req->slots[8].nkeys, 5);
	kasp_skr_t *next = calloc(1, sizeof(*next));
	kasp_skr_plan_conf_t later = SKRT_QUARTER;
	later.start += 90 * SKRT_DAY;
	made = 0;
	ck_assert_int_eq(kasp_skr_plan(set, &p, &later, skrt_fake_generate, &made, diag, next),
			 TANDEM_OK);
	ck_assert_uint_eq(next->nslots, 9);

	/* a zone without an offline KSK: the plan asks for a KSK, which cannot be made online */
	kasp_keyset_t *bare = malloc(sizeof(*bare));
	kasp_keyset_init(bare, "example.");
	tandem_diag_clear(diag);
	ck_assert_int_eq(
	    kasp_skr_plan(bare, &p, &SKRT_QUARTER, skrt_fake_generate, &made, diag, next),
	    TANDEM_EPERM);
	ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, 0), "KSK"));
	ck_assert_int_eq(kasp_skr_plan(set, &p, &SKRT_QUARTER, NULL, NULL, diag, next),
			 TANDEM_EINVAL);
	free(bare);
	free(next);
	free(req);
	free(copy);
	free(set);
	tandem_diag_free(diag);
}
END_TEST

START_TEST(encode_decode)
{
	kasp_policy_t p;
	kasp_policy_defaults(&p);
	uint8_t ksk[KASP_DNSKEY_MAX];
	size_t klen = 0, made = 0;
	skrt_fake_dnskey(257, 0x11, ksk, &klen);
	kasp_keyset_t *set = skrt_offline_zone(&p, ksk, klen);
	kasp_skr_t *req = calloc(1, sizeof(*req));
	tandem_diag_t *diag = NULL;
	tandem_diag_new(&diag);
	ck_assert_int_eq(
	    kasp_skr_plan(set, &p, &SKRT_QUARTER, skrt_fake_generate, &made, diag, req), TANDEM_OK);
	memset(req->request_id, 0xab, sizeof(req->request_id));
	req->created = SKRT_T0;
	uint8_t *buf = NULL;
	size_t len = 0;
	ck_assert_int_eq(kasp_skr_encode(req, &buf, &len), TANDEM_OK);
	kasp_skr_t *back = NULL;
	ck_assert_int_eq(kasp_skr_decode(buf, len, false, diag, &back), TANDEM_OK);
	ck_assert(!back->response);
	ck_assert_str_eq(back->zone, "example.");
	ck_assert_uint_eq(back->created, SKRT_T0);
	ck_assert_int_eq(memcmp(back->request_id, req->request_id, KASP_SKR_ID_LEN), 0);
	ck_assert_uint_eq(back->nslots, req->nslots);
	for (size_t i = 0; i < req->nslots; i++) {
		const kasp_skr_slot_t *a = &req->slots[i], *b = &back->slots[i];
		ck_assert_uint_eq(a->start, b->start);
		ck_assert_uint_eq(a->expiration, b->expiration);
		ck_assert_uint_eq(a->nkeys, b->nkeys);
		ck_assert_uint_eq(a->nsigners, b->nsigners);
		ck_assert_uint_eq(a->signers[0], b->signers[0]);
		for (size_t k = 0; k < a->nkeys; k++) {
			ck_assert_uint_eq(a->keys[k].len, b->keys[k].len);
			ck_assert_int_eq(memcmp(a->keys[k].data, b->keys[k].data, a->keys[k].len),
					 0);
		}
	}
	ck_assert_ptr_eq(kasp_skr_slot_at(back, SKRT_QUARTER.start - 1), NULL);
	ck_assert_ptr_eq(kasp_skr_slot_at(back, SKRT_QUARTER.start), &back->slots[0]);
	ck_assert_ptr_eq(kasp_skr_slot_at(back, SKRT_QUARTER.start + 10 * SKRT_DAY),
			 &back->slots[1]);
	ck_assert_ptr_eq(kasp_skr_slot_at(back, SKRT_QUARTER.start + 90 * SKRT_DAY), NULL);
	kasp_skr_free(back);
	back = NULL;
	/* a request is not a response (no hash), a truncated file is refused */
	ck_assert_int_eq(kasp_skr_decode(buf, len, true, diag, &back), TANDEM_ESYNTAX);
	ck_assert_int_eq(kasp_skr_decode(buf, len / 2, false, diag, &back), TANDEM_ESYNTAX);
	free(buf);
	/* another version, keys out of order, a gap between slots, RRSIGs in a request */
	kasp_skr_t *bad = malloc(sizeof(*bad));
	for (int v = 0; v < 4; v++) {
		memcpy(bad, req, sizeof(*bad));
		if (v == 1) {
			kasp_skr_rdata_t t = bad->slots[2].keys[0];
			bad->slots[2].keys[0] = bad->slots[2].keys[1];
			bad->slots[2].keys[1] = t;
		} else if (v == 2) {
			bad->slots[4].start += 1;
		} else if (v == 3) {
			bad->response = true; /* encoded with RRSIG-less slots as a response */
		}
		ck_assert_int_eq(kasp_skr_encode(bad, &buf, &len), TANDEM_OK);
		if (v == 0) {
			/* re-encode the version field by hand */
			Tandem__KeySigningRequest *m =
			    tandem__key_signing_request__unpack(NULL, len, buf);
			ck_assert_ptr_nonnull(m);
			m->version = 2;
			free(buf);
			len = tandem__key_signing_request__get_packed_size(m);
			buf = malloc(len);
			tandem__key_signing_request__pack(m, buf);
			tandem__key_signing_request__free_unpacked(m, NULL);
		}
		tandem_diag_clear(diag);
		int want = v == 0 ? TANDEM_ERANGE : TANDEM_ESYNTAX;
		ck_assert_int_eq(kasp_skr_decode(buf, len, v == 3, diag, &back), want);
		ck_assert_ptr_null(back);
		ck_assert_uint_ge(tandem_diag_count(diag), 1);
		free(buf);
	}
	free(bad);
	free(req);
	free(set);
	tandem_diag_free(diag);
}
END_TEST

START_TEST(import_checks)
{
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	skrt_ceremony_t cer;
	skrt_ceremony_open(&cer, diag);
	hsm_token_t *tok = cer.tok;
	const hsm_key_t *key = cer.key;
	tandem_arena_t *arena = cer.arena;
	size_t made = 0;

	kasp_policy_t p;
	kasp_policy_defaults(&p);
	kasp_keyset_t *set = skrt_offline_zone(&p, cer.ksk, cer.ksk_len);
	kasp_skr_t *req = calloc(1, sizeof(*req)), *resp = calloc(1, sizeof(*resp));
	kasp_skr_t *bad = calloc(1, sizeof(*bad));
	ck_assert_int_eq(
	    kasp_skr_plan(set, &p, &SKRT_QUARTER, skrt_fake_generate, &made, diag, req), TANDEM_OK);
	memset(req->request_id, 0x5a, KASP_SKR_ID_LEN);
	uint8_t *qbuf = NULL;
	size_t qlen = 0;
	uint8_t hash[32];
	ck_assert_int_eq(kasp_skr_encode(req, &qbuf, &qlen), TANDEM_OK);
	ck_assert_int_eq(kasp_skr_sha256(qbuf, qlen, hash), TANDEM_OK);
	memcpy(req->request_sha256, hash, 32);
	skrt_sign_all(tok, key, req, resp, arena);
	memcpy(resp->request_sha256, hash, 32);
	req->response = false;
	uint64_t now = SKRT_QUARTER.start;

	/* the genuine response passes, also after a round trip through its file form */
	ck_assert_int_eq(kasp_skr_check(req, hash, resp, now, diag), TANDEM_OK);
	uint8_t *rbuf = NULL;
	size_t rlen = 0;
	kasp_skr_t *back = NULL;
	ck_assert_int_eq(kasp_skr_encode(resp, &rbuf, &rlen), TANDEM_OK);
	ck_assert_int_eq(kasp_skr_decode(rbuf, rlen, true, diag, &back), TANDEM_OK);
	ck_assert_int_eq(kasp_skr_check(req, hash, back, now, diag), TANDEM_OK);
	ck_assert_int_eq(kasp_skr_rrsig_verify(SKRT_APEX, &back->slots[3], &back->slots[3].sigs[0],
					       &back->slots[3].keys[back->slots[3].signers[0]]),
			 TANDEM_OK);
	kasp_skr_free(back);
	free(rbuf);

	/* each tampering is refused with a message */
	static const char *const cases[] = {"wrong request id", "hash",       "missing slot",
					    "dnskey set",       "bad rrsig",  "expired slot",
					    "period over",      "wrong zone", "no rrsig by signer"};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		memcpy(bad, resp, sizeof(*bad));
		uint8_t h[32];
		memcpy(h, hash, 32);
		uint64_t when = now;
		switch (c) {
		case 0: bad->request_id[0] ^= 1; break;
		case 1: bad->request_sha256[31] ^= 1; break;
		case 2: bad->nslots--; break;
		case 3: bad->slots[4].keys[0].data[10] ^= 1; break;
		case 4: bad->slots[8].sigs[0].data[bad->slots[8].sigs[0].len - 1] ^= 1; break;
		case 5:
			/* then one slot's window is older */
			skrt_sign_all(tok, key, req, bad, arena);
			bad->slots[2].expiration -= 10 * SKRT_DAY;
			memcpy(bad->request_sha256, hash, 32);
			break;
		case 6: when = SKRT_QUARTER.start + 90 * SKRT_DAY; break;
		case 7: snprintf(bad->zone, sizeof(bad->zone), "other."); break;
		case 8: bad->slots[1].nsigs = 0; break;
		default: break;
		}
		tandem_diag_clear(diag);
		ck_assert_msg(kasp_skr_check(req, h, bad, when, diag) == TANDEM_EPERM, "%s",
			      cases[c]);
		ck_assert_msg(tandem_diag_count(diag) >= 1, "%s: no message", cases[c]);
	}
	/* an RRSIG whose times differ from the request (re-signed over an older window) */
	memcpy(bad, resp, sizeof(*bad));
	kasp_skr_slot_t *s = &bad->slots[0];
	s->expiration -= SKRT_DAY;
	skrt_sign_all(tok, key, bad, bad, arena);
	memcpy(bad->request_sha256, hash, 32);
	bad->slots[0].expiration += SKRT_DAY;
	tandem_diag_clear(diag);
	ck_assert_int_eq(kasp_skr_check(req, hash, bad, now, diag), TANDEM_EPERM);
	ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, 0), "window"));

	free(qbuf);
	free(bad);
	free(resp);
	free(req);
	free(set);
	skrt_ceremony_close(&cer);
	tandem_diag_free(diag);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("skr");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, plan_quarter);
	tcase_add_test(tc, encode_decode);
	tcase_add_test(tc, import_checks);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
