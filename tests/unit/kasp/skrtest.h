/* Offline-KSK test helpers shared by the KSR/SKR and SKR-book tests: fake DNSKEYs, a zone with
 * offline KSKs, and the ceremony's part (a KSK on a private SoftHSM token signing every slot). */
#ifndef SKRTEST_H
#define SKRTEST_H

#include "hsm.h"
#include "kasp_skr.h"
#include "tandem_arena.h"
#include "tandem_diag.h"
#include "testsupport.h"

#include <stddef.h>
#include <stdint.h>

#define SKRT_T0  1790000000u /* 2026-09-21, a fixed clock */
#define SKRT_DAY 86400u

/* The zone's apex as a wire name ("example."). */
extern const uint8_t SKRT_APEX[];

/* A quarter: 9 slots of 10 days from SKRT_T0 + 15 days, RRSIGs from 1h before to 5 days after. */
extern const kasp_skr_plan_conf_t SKRT_QUARTER;

/* A fake DNSKEY RDATA (flags, 3, RSASHA256, n distinguishing bytes) in out (68 bytes). */
void skrt_fake_dnskey(uint16_t flags, uint8_t n, uint8_t *out, size_t *len);

/* A kasp_skr_generate_fn making fake ZSKs; arg is a size_t counting them. */
int skrt_fake_generate(void *arg, const kasp_action_t *action, uint32_t id, char *label,
		       uint8_t *dnskey, size_t *dnskey_len);

/*
 * Zone "example." with two offline KSKs (the first with DNSKEY ksk, the second a fake one) and
 * two ZSKs, brought to SKRT_T0 by the machine. The caller frees it.
 */
kasp_keyset_t *skrt_offline_zone(const kasp_policy_t *p, const uint8_t *ksk, size_t ksk_len);

/*
 * The ceremony's part: resp becomes req (unless they are the same) marked as a response, every
 * slot signed by key. The RRSIGs' memory comes from arena and is copied into resp.
 */
void skrt_sign_all(hsm_token_t *tok, const hsm_key_t *key, const kasp_skr_t *req, kasp_skr_t *resp,
		   tandem_arena_t *arena);

/* The offline KSK: a private SoftHSM token with one RSA-1024 key, object "ksk-a". */
typedef struct skrt_ceremony {
	ts_token_t token;
	hsm_module_t *mod;
	hsm_uri_t *uri;
	hsm_token_t *tok;
	const hsm_key_t *key; /* borrowed from tok */
	tandem_arena_t *arena;
	uint8_t ksk[HSM_DNSKEY_MAX]; /* the key's DNSKEY RDATA (flags 257) */
	size_t ksk_len;
} skrt_ceremony_t;

/* Makes the token and the key; fails the test on any error (diag gets the reasons). */
void skrt_ceremony_open(skrt_ceremony_t *c, tandem_diag_t *diag);

/* Closes and removes everything skrt_ceremony_open made. */
void skrt_ceremony_close(skrt_ceremony_t *c);

#endif
