/* Offline-KSK test helpers: fake keys, a zone with offline KSKs, the ceremony's signing. */
#include "skrtest.h"

#include "dns_zone.h"
#include "signer.h"
#include "tandem_error.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const uint8_t SKRT_APEX[] = "\x07"
			    "example";

const kasp_skr_plan_conf_t SKRT_QUARTER = {.start = SKRT_T0 + 15 * SKRT_DAY,
					   .slot_length = 10 * SKRT_DAY,
					   .slots = 9,
					   .inception_offset = 3600,
					   .overlap = 5 * SKRT_DAY};

void skrt_fake_dnskey(uint16_t flags, uint8_t n, uint8_t *out, size_t *len)
{
	out[0] = (uint8_t)(flags >> 8);
	out[1] = (uint8_t)flags;
	out[2] = 3;
	out[3] = 8;
	memset(out + 4, n, 64);
	out[4] = 3; /* RFC 3110 exponent length */
	*len = 68;
}

int skrt_fake_generate(void *arg, const kasp_action_t *action, uint32_t id, char *label,
		       uint8_t *dnskey, size_t *dnskey_len)
{
	size_t *made = arg;
	(*made)++;
	snprintf(label, KASP_LABEL_MAX, "example-%s-%u", kasp_role_str(action->role), id);
	skrt_fake_dnskey(256, (uint8_t)(0x40 + id), dnskey, dnskey_len);
	return TANDEM_OK;
}

kasp_keyset_t *skrt_offline_zone(const kasp_policy_t *p, const uint8_t *ksk, size_t ksk_len)
{
	kasp_keyset_t *set = malloc(sizeof(*set));
	ck_assert_ptr_nonnull(set);
	ck_assert_int_eq(kasp_keyset_init(set, "example."), TANDEM_OK);
	uint8_t d[KASP_DNSKEY_MAX];
	size_t len = 0;
	uint32_t id = 0;
	ck_assert_int_eq(kasp_keyset_add(set, KASP_ROLE_KSK, 8, 2048, "offline:ksk-a", ksk, ksk_len,
					 true, SKRT_T0, &id),
			 TANDEM_OK);
	skrt_fake_dnskey(257, 0x22, d, &len);
	ck_assert_int_eq(kasp_keyset_add(set, KASP_ROLE_KSK, 8, 2048, "offline:ksk-b", d, len, true,
					 SKRT_T0, &id),
			 TANDEM_OK);
	for (uint8_t i = 0; i < 2; i++) {
		skrt_fake_dnskey(256, (uint8_t)(0x30 + i), d, &len);
		ck_assert_int_eq(
		    kasp_keyset_add(set, KASP_ROLE_ZSK, 8, 1024, "zsk", d, len, true, SKRT_T0, &id),
		    TANDEM_OK);
	}
	kasp_step_t st;
	ck_assert_int_eq(kasp_keystate_step(set, p, SKRT_T0, set, &st), TANDEM_OK);
	ck_assert(kasp_key_offline(&set->keys[0]));
	ck_assert(!kasp_key_offline(&set->keys[2]));
	return set;
}

void skrt_sign_all(hsm_token_t *tok, const hsm_key_t *key, const kasp_skr_t *req, kasp_skr_t *resp,
		   tandem_arena_t *arena)
{
	if (resp != req) {
		memcpy(resp, req, sizeof(*resp));
	}
	resp->response = true;
	for (size_t i = 0; i < resp->nslots; i++) {
		kasp_skr_slot_t *s = &resp->slots[i];
		const uint8_t *rd[KASP_SKR_KEYS_MAX];
		for (size_t k = 0; k < s->nkeys; k++) {
			uint8_t *p = tandem_arena_alloc(arena, s->keys[k].len + 2u);
			ck_assert_ptr_nonnull(p);
			p[0] = (uint8_t)(s->keys[k].len >> 8);
			p[1] = (uint8_t)s->keys[k].len;
			memcpy(p + 2, s->keys[k].data, s->keys[k].len);
			rd[k] = p;
		}
		const uint8_t *sig = NULL;
		ck_assert_int_eq(signer_rrsig_make(tok, 0, key, 257, SKRT_APEX, SKRT_APEX,
						   DNS_TYPE_DNSKEY, s->ttl, rd, (uint16_t)s->nkeys,
						   s->inception, s->expiration, arena, &sig),
				 TANDEM_OK);
		s->sigs[0].len = dns_rdata_len(sig);
		memcpy(s->sigs[0].data, dns_rdata_data(sig), s->sigs[0].len);
		s->nsigs = 1;
	}
}

void skrt_ceremony_open(skrt_ceremony_t *c, tandem_diag_t *diag)
{
	memset(c, 0, sizeof(*c));
	ts_token_create(&c->token, "offline");
	ck_assert_int_eq(tandem_arena_new(0, &c->arena), TANDEM_OK);
	char text[800];
	snprintf(text, sizeof(text), "%s;object=ksk-a", c->token.uri);
	ck_assert_int_eq(hsm_module_load(NULL, diag, &c->mod), TANDEM_OK);
	ck_assert_int_eq(hsm_uri_parse(text, diag, &c->uri), TANDEM_OK);
	ck_assert_int_eq(hsm_token_open(c->mod, c->uri, NULL, 1, diag, &c->tok), TANDEM_OK);
	hsm_keyspec_t spec = {.algorithm = HSM_ALG_RSASHA256, .bits = 1024};
	ck_assert_int_eq(hsm_token_generate_key(c->tok, c->uri, &spec, diag, &c->key), TANDEM_OK);
	c->ksk_len = sizeof(c->ksk);
	ck_assert_int_eq(hsm_key_dnskey_rdata(c->key, 257, c->ksk, &c->ksk_len), TANDEM_OK);
}

void skrt_ceremony_close(skrt_ceremony_t *c)
{
	hsm_token_close(c->tok);
	hsm_uri_free(c->uri);
	hsm_module_free(c->mod);
	tandem_arena_free(c->arena);
	ts_token_destroy(&c->token);
	memset(c, 0, sizeof(*c));
}
