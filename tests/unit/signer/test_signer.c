/* Signer tests: type bitmaps, and whole-zone signing on a private SoftHSM token.
 */
#include "crypto.h"
#include "signer_internal.h"
#include "tandem_error.h"
#include "testsupport.h"
#include "verify.h"
#include "testsupport_dns.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1795000000u /* 2026-11-18, a fixed signing time */

static const char *ZONE = "$ORIGIN example.\n"
			  "$TTL 3600\n"
			  "@ SOA ns1 hostmaster 2026010100 3600 900 604800 300\n"
			  "@ NS ns1\n"
			  "@ NS ns.other.\n"
			  "ns1 A 192.0.2.1\n"
			  "www A 192.0.2.2\n"
			  "*.wild TXT \"wildcard\"\n"
			  "a.b.c A 192.0.2.3\n"
			  "sec NS ns.sec\n"
			  "sec DS 12345 8 2 "
			  "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789\n"
			  "ns.sec A 192.0.2.4\n"
			  "insec NS ns.other.\n"
			  "x.y.insec NS ns.other.\n"
			  "mail MX 10 www\n";

/* RFC 4034 section 4.3: "A MX RRSIG NSEC TYPE1234" */
START_TEST(bitmap_rfc4034_example)
{
	const uint16_t types[] = {1, 15, 46, 47, 1234};
	uint8_t buf[8704];
	size_t n = signer_bitmap(types, 5, buf);
	const uint8_t want[] = {0x00, 0x06, 0x40, 0x01, 0x00, 0x00, 0x00, 0x03, 0x04, 0x1b,
				0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20};
	ck_assert_uint_eq(n, sizeof(want));
	ck_assert_mem_eq(buf, want, sizeof(want));
}
END_TEST

/* ---- whole-zone signing ---- */

typedef struct fixture {
	ts_token_t tok;
	char dir[256];
	char zone_path[512];
	hsm_module_t *module;
	hsm_token_t *token;
	const hsm_key_t *ksk, *zsk;
	tandem_diag_t *diag;
} fixture_t;

static void fixture_open(fixture_t *f, uint8_t alg, unsigned sessions)
{
	memset(f, 0, sizeof(*f));
	ts_token_create(&f->tok, "signer-test");
	ts_tmpdir(f->dir, sizeof(f->dir));
	ts_write_file(f->dir, "example.zone", ZONE, f->zone_path, sizeof(f->zone_path));
	ck_assert_int_eq(tandem_diag_new(&f->diag), TANDEM_OK);
	ck_assert_int_eq(hsm_module_load(NULL, f->diag, &f->module), TANDEM_OK);
	hsm_uri_t *uri = NULL;
	ck_assert_int_eq(hsm_uri_parse(f->tok.uri, f->diag, &uri), TANDEM_OK);
	ck_assert_int_eq(hsm_token_open(f->module, uri, NULL, sessions, f->diag, &f->token),
			 TANDEM_OK);
	hsm_uri_free(uri);
	const char *labels[2] = {"ksk", "zsk"};
	const hsm_key_t **out[2] = {&f->ksk, &f->zsk};
	for (int i = 0; i < 2; i++) {
		char text[800];
		snprintf(text, sizeof(text), "pkcs11:token=signer-test;object=%s", labels[i]);
		ck_assert_int_eq(hsm_uri_parse(text, f->diag, &uri), TANDEM_OK);
		hsm_keyspec_t spec = {.algorithm = alg, .bits = i == 0 ? 2048 : 1024};
		ck_assert_int_eq(hsm_token_generate_key(f->token, uri, &spec, f->diag, out[i]),
				 TANDEM_OK);
		hsm_uri_free(uri);
	}
}

static void fixture_close(fixture_t *f)
{
	hsm_token_close(f->token);
	hsm_module_free(f->module);
	tandem_diag_free(f->diag);
	ts_rmtree(f->dir);
	ts_token_destroy(&f->tok);
}

static dns_zone_t *load(fixture_t *f)
{
	dns_zone_t *z = NULL;
	ck_assert_int_eq(
	    dns_zone_load(f->zone_path, &(dns_load_opts_t){.origin = "example."}, f->diag, &z),
	    TANDEM_OK);
	return z;
}

static int sign(fixture_t *f, dns_zone_t *z, signer_conf_t *c, signer_stats_t *st)
{
	signer_key_t keys[2] = {{.key = f->ksk, .ksk = true}, {.key = f->zsk, .zsk = true}};
	return signer_sign_zone(z, c, keys, 2, f->token, f->diag, st);
}

static uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void assert_gate_passes(dns_zone_t *z, tandem_diag_t *diag)
{
	verify_stats_t vs = {0};
	int ret = verify_zone(z, &(verify_conf_t){.now = NOW, .threads = 2}, diag, &vs);
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		fprintf(stderr, "gate: %s\n", tandem_diag_msg(diag, i));
	}
	ck_assert_int_eq(ret, TANDEM_OK);
	ck_assert_uint_gt(vs.signatures, 0);
}

START_TEST(sign_nsec3_rsa)
{
	fixture_t f;
	fixture_open(&f, HSM_ALG_RSASHA256, 2);
	dns_zone_t *z = load(&f);
	signer_conf_t c;
	signer_conf_defaults(&c, NOW);
	c.threads = 2;
	signer_stats_t st;
	ck_assert_int_eq(sign(&f, z, &c, &st), TANDEM_OK);
	ck_assert_uint_eq(st.serial, 2026010101);

	uint32_t base = NOW - NOW % c.period;
	size_t count = 0;
	dns_node_t *nodes = dns_zone_nodes(z, &count);
	size_t chain_names = 0;
	for (size_t i = 0; i < count; i++) {
		dns_node_t *n = &nodes[i];
		if (!(n->flags & DNS_NODE_BELOW_CUT)) {
			chain_names++;
		}
		for (uint16_t r = 0; r < n->rrset_count; r++) {
			dns_rrset_t *rs = &n->rrsets[r];
			if (!(rs->flags & DNS_RRSET_AUTH)) {
				ck_assert_uint_eq(rs->sig_count, 0); /* delegation NS, glue */
				continue;
			}
			ck_assert_uint_eq(rs->sig_count, 1);
			const uint8_t *sig = dns_rdata_data(rs->sigs[0]);
			uint32_t exp = get32(sig + 8), inc = get32(sig + 12);
			ck_assert_uint_eq(inc, base - c.inception_offset);
			ck_assert_uint_le(exp, base + c.validity);
			ck_assert_uint_ge(exp, base + c.validity - c.jitter);
			uint16_t tag = (uint16_t)((sig[16] << 8) | sig[17]);
			bool dnskey = rs->type == DNS_TYPE_DNSKEY;
			ck_assert_uint_eq(tag,
					  hsm_key_tag(dnskey ? f.ksk : f.zsk, dnskey ? 257 : 256));
			if (n->flags & DNS_NODE_WILDCARD) {
				ck_assert_uint_eq(sig[3], n->labels - 1);
			} else {
				ck_assert_uint_eq(sig[3], n->labels);
			}
		}
	}
	/* Every name not below a cut (ENTs and the insecure delegation too) has an NSEC3. */
	size_t n3 = 0;
	dns_zone_nsec3_nodes(z, &n3);
	ck_assert_uint_eq(n3, chain_names);
	ck_assert_uint_eq(st.nsec_records, n3);
	ck_assert_ptr_nonnull(dns_node_rrset(dns_zone_apex(z), DNS_TYPE_NSEC3PARAM));
	assert_gate_passes(z, f.diag);

	/* The same input at the same time signs to the same bytes (RSA is deterministic). */
	char *first = ts_zone_text(z);
	dns_zone_free(z);
	z = load(&f);
	c.threads = 1;
	ck_assert_int_eq(sign(&f, z, &c, &st), TANDEM_OK);
	char *second = ts_zone_text(z);
	ck_assert_str_eq(first, second);
	free(first);
	free(second);
	dns_zone_free(z);
	fixture_close(&f);
}
END_TEST

START_TEST(sign_nsec3_optout)
{
	fixture_t f;
	fixture_open(&f, HSM_ALG_ECDSAP256SHA256, 1);
	dns_zone_t *z = load(&f);
	signer_conf_t c;
	signer_conf_defaults(&c, NOW);
	c.nsec3_optout = true;
	c.nsec3_iterations = 5;
	c.nsec3_salt_len = 4;
	memcpy(c.nsec3_salt, "\xaa\xbb\xcc\xdd", 4);
	signer_stats_t st;
	ck_assert_int_eq(sign(&f, z, &c, &st), TANDEM_OK);
	/* insec and y.insec's ENT drop out: insec is insecure, x.y.insec is below its cut */
	dns_node_t *insec = dns_zone_find(z, (const uint8_t *)"\x05insec\x07"
							      "example");
	ck_assert_ptr_nonnull(insec);
	size_t n3 = 0;
	dns_node_t *nsec3 = dns_zone_nsec3_nodes(z, &n3);
	uint8_t h[20];
	ck_assert_int_eq(crypto_nsec3_hash(insec->name, insec->name_len, c.nsec3_salt, 4, 5, h),
			 TANDEM_OK);
	char b32[40];
	crypto_base32hex(h, 20, b32);
	for (size_t i = 0; i < n3; i++) {
		ck_assert(memcmp(nsec3[i].name + 1, b32, 32) != 0);
		const uint8_t *rd = dns_rdata_data(nsec3[i].rrsets[0].rdata[0]);
		ck_assert_uint_eq(rd[1], 1); /* opt-out flag */
		ck_assert_uint_eq((rd[2] << 8) | rd[3], 5);
	}
	assert_gate_passes(z, f.diag);
	dns_zone_free(z);
	fixture_close(&f);
}
END_TEST

START_TEST(sign_nsec_chain)
{
	fixture_t f;
	fixture_open(&f, HSM_ALG_RSASHA256, 1);
	dns_zone_t *z = load(&f);
	signer_conf_t c;
	signer_conf_defaults(&c, NOW);
	c.denial = SIGNER_DENIAL_NSEC;
	signer_stats_t st;
	ck_assert_int_eq(sign(&f, z, &c, &st), TANDEM_OK);
	size_t count = 0, n3 = 0;
	dns_node_t *nodes = dns_zone_nodes(z, &count);
	dns_zone_nsec3_nodes(z, &n3);
	ck_assert_uint_eq(n3, 0);
	/* Follow the chain from the apex: it visits every authoritative name once. */
	size_t expect = 0;
	for (size_t i = 0; i < count; i++) {
		bool member = !(nodes[i].flags & (DNS_NODE_BELOW_CUT | DNS_NODE_ENT));
		expect += member;
		ck_assert((dns_node_rrset(&nodes[i], DNS_TYPE_NSEC) != NULL) == member);
	}
	const dns_node_t *at = dns_zone_apex(z);
	size_t steps = 0;
	do {
		dns_rrset_t *nsec = dns_node_rrset(at, DNS_TYPE_NSEC);
		ck_assert_ptr_nonnull(nsec);
		at = dns_zone_find(z, dns_rdata_data(nsec->rdata[0]));
		ck_assert_ptr_nonnull(at);
		steps++;
	} while (at != dns_zone_apex(z) && steps <= count);
	ck_assert_uint_eq(steps, expect);
	assert_gate_passes(z, f.diag);
	dns_zone_free(z);
	fixture_close(&f);
}
END_TEST

/* A cluster node signs with the serial its coordinator's commit record calls for, even one
 * the serial mode would not pick (below the input's); the gate still passes. */
START_TEST(sign_serial_exact)
{
	fixture_t f;
	fixture_open(&f, HSM_ALG_RSASHA256, 1);
	dns_zone_t *z = load(&f);
	signer_conf_t c;
	signer_conf_defaults(&c, NOW);
	c.denial = SIGNER_DENIAL_NSEC;
	c.has_serial_exact = true;
	c.serial_exact = 7;
	signer_stats_t st;
	ck_assert_int_eq(sign(&f, z, &c, &st), TANDEM_OK);
	ck_assert_uint_eq(st.serial, 7);
	dns_rrset_t *soa = dns_node_rrset(dns_zone_apex(z), DNS_TYPE_SOA);
	ck_assert_ptr_nonnull(soa);
	size_t len = dns_rdata_len(soa->rdata[0]);
	ck_assert_uint_eq(get32(soa->rdata[0] + 2 + len - 20), 7);
	assert_gate_passes(z, f.diag);
	dns_zone_free(z);
	fixture_close(&f);
}
END_TEST

START_TEST(sign_refusals)
{
	fixture_t f;
	fixture_open(&f, HSM_ALG_RSASHA256, 1);
	dns_zone_t *z = load(&f);
	signer_conf_t c;
	signer_conf_defaults(&c, NOW);
	signer_key_t zsk_only[1] = {{.key = f.zsk, .zsk = true}};
	ck_assert_int_eq(signer_sign_zone(z, &c, zsk_only, 1, f.token, f.diag, NULL),
			 TANDEM_SIGNER_ENOKEY);
	c.threads = 4; /* more threads than sessions */
	ck_assert_int_eq(sign(&f, z, &c, NULL), TANDEM_SIGNER_ECONF);
	c.threads = 1;
	c.serial_mode = TANDEM_SERIAL_KEEP;
	c.has_serial_floor = true;
	c.serial_floor = 2026010100; /* the zone's own serial: keep cannot rise above it */
	ck_assert_int_eq(sign(&f, z, &c, NULL), TANDEM_SIGNER_ESERIAL);
	dns_zone_free(z);
	fixture_close(&f);
}
END_TEST

/* An extra ZSK that signs but is not published (RFC 6781 4.1.4, first step), and a KSK
 * published without signing (flags stay 257). */
START_TEST(sign_unpublished_and_sep)
{
	fixture_t f;
	fixture_open(&f, HSM_ALG_RSASHA256, 1);
	hsm_uri_t *uri = NULL;
	const hsm_key_t *extra = NULL, *standby = NULL;
	ck_assert_int_eq(hsm_uri_parse("pkcs11:token=signer-test;object=zsk-new", f.diag, &uri),
			 TANDEM_OK);
	hsm_keyspec_t spec = {.algorithm = HSM_ALG_RSASHA256, .bits = 1024};
	ck_assert_int_eq(hsm_token_generate_key(f.token, uri, &spec, f.diag, &extra), TANDEM_OK);
	hsm_uri_free(uri);
	ck_assert_int_eq(hsm_uri_parse("pkcs11:token=signer-test;object=ksk-standby", f.diag, &uri),
			 TANDEM_OK);
	spec.bits = 2048;
	ck_assert_int_eq(hsm_token_generate_key(f.token, uri, &spec, f.diag, &standby), TANDEM_OK);
	hsm_uri_free(uri);

	dns_zone_t *z = load(&f);
	signer_conf_t c;
	signer_conf_defaults(&c, NOW);
	signer_key_t keys[4] = {{.key = f.ksk, .ksk = true},
				{.key = f.zsk, .zsk = true},
				{.key = extra, .zsk = true, .unpublished = true},
				{.key = standby, .sep = true}};
	ck_assert_int_eq(signer_sign_zone(z, &c, keys, 4, f.token, f.diag, NULL), TANDEM_OK);
	dns_rrset_t *dnskey = dns_node_rrset(dns_zone_apex(z), DNS_TYPE_DNSKEY);
	ck_assert_uint_eq(dnskey->count, 3); /* ksk, zsk, standby; not the unpublished key */
	unsigned seps = 0;
	for (uint16_t i = 0; i < dnskey->count; i++) {
		const uint8_t *rd = dns_rdata_data(dnskey->rdata[i]);
		seps += ((rd[0] << 8) | rd[1]) == 257;
	}
	ck_assert_uint_eq(seps, 2);
	ck_assert_uint_eq(dnskey->sig_count, 1); /* the standby KSK does not sign */
	dns_rrset_t *soa = dns_node_rrset(dns_zone_apex(z), DNS_TYPE_SOA);
	ck_assert_uint_eq(soa->sig_count, 2); /* both ZSKs sign */

	/* The gate refuses the RRSIG by a key it cannot see, unless told to skip those. */
	verify_conf_t vc = {.now = NOW, .threads = 1};
	tandem_diag_clear(f.diag);
	ck_assert_int_eq(verify_zone(z, &vc, f.diag, NULL), TANDEM_VERIFY_EFAIL);
	ck_assert_ptr_nonnull(strstr(tandem_diag_msg(f.diag, 0), "matches no usable key"));
	vc.allow_foreign_rrsigs = true;
	tandem_diag_clear(f.diag);
	ck_assert_int_eq(verify_zone(z, &vc, f.diag, NULL), TANDEM_OK);
	dns_zone_free(z);
	fixture_close(&f);
}
END_TEST

/* The fixture's KSK (flags 257) and ZSK (256) DNSKEY RDATAs, each led by its length. */
static void dnskey_rdatas(const fixture_t *f, uint8_t kbuf[2][HSM_DNSKEY_MAX + 2])
{
	const hsm_key_t *keys[2] = {f->ksk, f->zsk};
	for (int i = 0; i < 2; i++) {
		size_t len = HSM_DNSKEY_MAX;
		ck_assert_int_eq(
		    hsm_key_dnskey_rdata(keys[i], i == 0 ? 257 : 256, kbuf[i] + 2, &len),
		    TANDEM_OK);
		kbuf[i][0] = (uint8_t)(len >> 8);
		kbuf[i][1] = (uint8_t)len;
	}
}

/* Offline KSK: the DNSKEY RRset is signed ahead for a time slot, the zone with the ZSK only. */
/*
 * A version signed with an offline KSK's pre-signed DNSKEY RRset, then one signed online with
 * that KSK from it: the ceremony's signature is still good and is kept, as a copy: it lives
 * in the first version's memory, not in its signer's arenas, and the first version may be
 * freed first (under AddressSanitizer a pointer into it is a use after free).
 */
START_TEST(presigned_kept_online)
{
	fixture_t f;
	fixture_open(&f, HSM_ALG_RSASHA256, 1);
	tandem_arena_t *arena = NULL;
	ck_assert_int_eq(tandem_arena_new(0, &arena), TANDEM_OK);
	uint8_t kbuf[2][HSM_DNSKEY_MAX + 2];
	const uint8_t *dnskey[2] = {kbuf[0], kbuf[1]};
	dnskey_rdatas(&f, kbuf);
	const uint8_t apex[] = "\x07"
			       "example";
	const uint8_t *rrsig = NULL;
	ck_assert_int_eq(signer_rrsig_make(f.token, 0, f.ksk, 257, apex, apex, DNS_TYPE_DNSKEY,
					   43200, dnskey, 2, NOW - 86400, NOW + 20 * 86400, arena,
					   &rrsig),
			 TANDEM_OK);
	signer_conf_t c;
	signer_conf_defaults(&c, NOW);
	c.presigned_dnskey = dnskey;
	c.presigned_dnskey_count = 2;
	c.presigned_rrsig = &rrsig;
	c.presigned_rrsig_count = 1;
	c.presigned_ttl = 43200;
	signer_key_t zsk_only[1] = {{.key = f.zsk, .zsk = true}};
	dns_zone_t *v1 = load(&f);
	ck_assert_int_eq(signer_sign_zone(v1, &c, zsk_only, 1, f.token, f.diag, NULL), TANDEM_OK);
	signer_conf_t c2;
	signer_conf_defaults(&c2, NOW + 900);
	c2.previous = v1;
	signer_key_t online[2] = {{.key = f.ksk, .ksk = true}, {.key = f.zsk, .zsk = true}};
	dns_zone_t *v2 = load(&f);
	signer_stats_t st;
	ck_assert_int_eq(signer_sign_zone(v2, &c2, online, 2, f.token, f.diag, &st), TANDEM_OK);
	ck_assert_uint_gt(st.rrsigs_reused, 0);
	const dns_rrset_t *rs = dns_node_rrset(dns_zone_apex(v2), DNS_TYPE_DNSKEY);
	ck_assert_uint_eq(rs->sig_count, 1);
	size_t size = 2u + dns_rdata_len(rrsig);
	ck_assert_mem_eq(rs->sigs[0], rrsig, size); /* the ceremony's, kept */
	dns_zone_free(v1);
	ck_assert_mem_eq(rs->sigs[0], rrsig, size);
	tandem_diag_clear(f.diag);
	ck_assert_int_eq(verify_zone(v2, &(verify_conf_t){.now = NOW + 900}, f.diag, NULL),
			 TANDEM_OK);
	dns_zone_free(v2);
	tandem_arena_free(arena);
	fixture_close(&f);
}
END_TEST

START_TEST(sign_presigned_dnskey)
{
	fixture_t f;
	fixture_open(&f, HSM_ALG_RSASHA256, 1);
	tandem_arena_t *arena = NULL;
	ck_assert_int_eq(tandem_arena_new(0, &arena), TANDEM_OK);
	uint8_t kbuf[2][HSM_DNSKEY_MAX + 2];
	const uint8_t *dnskey[2] = {kbuf[0], kbuf[1]};
	dnskey_rdatas(&f, kbuf);
	const uint8_t apex[] = "\x07"
			       "example";
	uint32_t slot_start = NOW - 86400, slot_end = NOW + 20 * 86400;
	const uint8_t *rrsig = NULL;
	ck_assert_int_eq(signer_rrsig_make(f.token, 0, f.ksk, 257, apex, apex, DNS_TYPE_DNSKEY,
					   43200, dnskey, 2, slot_start, slot_end, arena, &rrsig),
			 TANDEM_OK);
	/* The DS of the KSK is the trust anchor the gate checks the slot against. */
	uint8_t ds[2 + 64];
	size_t ds_len = 0;
	ck_assert_int_eq(crypto_ds_from_dnskey(apex, sizeof(apex), kbuf[0] + 2,
					       dns_rdata_len(kbuf[0]), CRYPTO_DS_SHA256, ds + 2,
					       &ds_len),
			 TANDEM_OK);
	ds[0] = 0;
	ds[1] = (uint8_t)ds_len;
	const uint8_t *anchor[1] = {ds};

	signer_conf_t c;
	signer_conf_defaults(&c, NOW);
	c.presigned_dnskey = dnskey;
	c.presigned_dnskey_count = 2;
	c.presigned_rrsig = &rrsig;
	c.presigned_rrsig_count = 1;
	c.presigned_ttl = 43200;
	signer_key_t zsk_only[1] = {{.key = f.zsk, .zsk = true}};
	dns_zone_t *z = load(&f);
	ck_assert_int_eq(signer_sign_zone(z, &c, zsk_only, 1, f.token, f.diag, NULL), TANDEM_OK);
	dns_rrset_t *rs = dns_node_rrset(dns_zone_apex(z), DNS_TYPE_DNSKEY);
	ck_assert_uint_eq(rs->sig_count, 1);
	/* taken as it is, not signed again */
	ck_assert_uint_eq(dns_rdata_len(rs->sigs[0]), dns_rdata_len(rrsig));
	ck_assert_mem_eq(rs->sigs[0], rrsig, 2u + dns_rdata_len(rrsig));
	/* the zone holds its own copies: the caller's buffers may go first (tandemd keeps
	 * the signed zone for its next update run while the slot's buffers are freed) */
	uint8_t kbuf_saved[2][HSM_DNSKEY_MAX + 2], rrsig_saved[1024];
	size_t rrsig_size = 2u + dns_rdata_len(rrsig);
	ck_assert_uint_le(rrsig_size, sizeof(rrsig_saved));
	memcpy(kbuf_saved, kbuf, sizeof(kbuf));
	memcpy(rrsig_saved, rrsig, rrsig_size);
	memset(kbuf, 0xa5, sizeof(kbuf));
	memset((uint8_t *)rrsig + 2, 0x5a, rrsig_size - 2);
	verify_conf_t vc = {.now = NOW, .ds = anchor, .ds_count = 1};
	tandem_diag_clear(f.diag);
	ck_assert_int_eq(verify_zone(z, &vc, f.diag, NULL), TANDEM_OK);
	memcpy(kbuf, kbuf_saved, sizeof(kbuf));
	memcpy((uint8_t *)rrsig, rrsig_saved, rrsig_size);
	/* Past the slot's signature, the gate stops publication. */
	vc.now = slot_end + 1;
	ck_assert_int_eq(verify_zone(z, &vc, f.diag, NULL), TANDEM_VERIFY_EFAIL);
	dns_zone_free(z);

	/* A KSK role beside a pre-signed RRset, and a key outside it, are refused. */
	signer_key_t with_ksk[2] = {{.key = f.ksk, .ksk = true}, {.key = f.zsk, .zsk = true}};
	z = load(&f);
	ck_assert_int_eq(signer_sign_zone(z, &c, with_ksk, 2, f.token, f.diag, NULL),
			 TANDEM_SIGNER_ECONF);
	c.presigned_dnskey_count = 1; /* the KSK only: the ZSK is not in the slot */
	ck_assert_int_eq(signer_sign_zone(z, &c, zsk_only, 1, f.token, f.diag, NULL),
			 TANDEM_SIGNER_ECONF);
	dns_zone_free(z);
	/* Inception after expiration is refused. */
	ck_assert_int_eq(signer_rrsig_make(f.token, 0, f.ksk, 257, apex, apex, DNS_TYPE_DNSKEY,
					   43200, dnskey, 2, slot_end, slot_start, arena, &rrsig),
			 TANDEM_EINVAL);
	tandem_arena_free(arena);
	fixture_close(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("signer");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, bitmap_rfc4034_example);
	tcase_add_test(tc, sign_nsec3_rsa);
	tcase_add_test(tc, sign_nsec3_optout);
	tcase_add_test(tc, sign_nsec_chain);
	tcase_add_test(tc, sign_serial_exact);
	tcase_add_test(tc, sign_refusals);
	tcase_add_test(tc, sign_unpublished_and_sep);
	tcase_add_test(tc, sign_presigned_dnskey);
	tcase_add_test(tc, presigned_kept_online);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
