/* Unit tests of kasp policies: shipped presets, durations, and every refusal with its line. */
#include "kasp_policy.h"
#include "kasp_policy_doc.h"
#include "tandem_diag.h"
#include "tandem_error.h"
#include "testsupport.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400u

static void assert_policy_eq(const kasp_policy_t *a, const kasp_policy_t *b)
{
	ck_assert_str_eq(a->name, b->name);
	const kasp_key_policy_t *ka[2] = {&a->ksk, &a->zsk}, *kb[2] = {&b->ksk, &b->zsk};
	for (int i = 0; i < 2; i++) {
		ck_assert_uint_eq(ka[i]->algorithm, kb[i]->algorithm);
		ck_assert_uint_eq(ka[i]->bits, kb[i]->bits);
		ck_assert_uint_eq(ka[i]->lifetime, kb[i]->lifetime);
		ck_assert_uint_eq(ka[i]->prepublish, kb[i]->prepublish);
		ck_assert_uint_eq(ka[i]->postpublish, kb[i]->postpublish);
		ck_assert_uint_eq(ka[i]->emergency_postpublish, kb[i]->emergency_postpublish);
	}
	ck_assert_uint_eq(a->sig_validity, b->sig_validity);
	ck_assert_uint_eq(a->sig_jitter, b->sig_jitter);
	ck_assert_uint_eq(a->sig_inception_offset, b->sig_inception_offset);
	ck_assert_uint_eq(a->sig_refresh, b->sig_refresh);
	ck_assert_uint_eq(a->resign_interval, b->resign_interval);
	ck_assert_uint_eq(a->max_run_time, b->max_run_time);
	ck_assert_uint_eq(a->gate_full, b->gate_full);
	ck_assert_int_eq(a->denial, b->denial);
	ck_assert_int_eq(a->nsec3_optout, b->nsec3_optout);
	ck_assert_uint_eq(a->nsec3_iterations, b->nsec3_iterations);
	ck_assert_uint_eq(a->nsec3_salt_len, b->nsec3_salt_len);
	ck_assert_uint_eq(a->nsec3_resalt, b->nsec3_resalt);
	ck_assert_int_eq(a->serial, b->serial);
	ck_assert_uint_eq(a->ttl_soa, b->ttl_soa);
	ck_assert_uint_eq(a->ttl_dnskey, b->ttl_dnskey);
	ck_assert_uint_eq(a->ttl_ns, b->ttl_ns);
	ck_assert_uint_eq(a->ttl_a, b->ttl_a);
	ck_assert_uint_eq(a->ttl_aaaa, b->ttl_aaaa);
	ck_assert_uint_eq(a->ttl_ds, b->ttl_ds);
	ck_assert_uint_eq(a->ttl_nsec3, b->ttl_nsec3);
	ck_assert_uint_eq(a->propagation_delay, b->propagation_delay);
	ck_assert_uint_eq(a->parent_ds_ttl, b->parent_ds_ttl);
	ck_assert_uint_eq(a->parent_propagation_delay, b->parent_propagation_delay);
}

/* The DPS section 6 numbers, written out independently of kasp_policy_defaults. */
static void dps_expected(kasp_policy_t *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "dps-default");
	p->ksk = (kasp_key_policy_t){8, 2048, 365 * DAY, 30 * DAY, 30 * DAY, 7 * DAY, false};
	p->zsk = (kasp_key_policy_t){8, 1024, 90 * DAY, 7 * DAY, 7 * DAY, 2 * DAY, false};
	p->sig_validity = 8 * DAY;
	p->sig_jitter = 2 * DAY;
	p->sig_inception_offset = 3600;
	p->sig_refresh = 2 * DAY;
	p->resign_interval = 900;
	p->max_run_time = 3600;
	p->gate_full = DAY;
	p->denial = KASP_DENIAL_NSEC3;
	p->nsec3_optout = false;
	p->nsec3_iterations = 0;
	p->nsec3_salt_len = 0;
	p->nsec3_resalt = 0;
	p->serial = KASP_SERIAL_INCREMENT;
	p->ttl_soa = 86400;
	p->ttl_dnskey = 43200;
	p->ttl_ns = 86400;
	p->ttl_a = 86400;
	p->ttl_aaaa = 86400;
	p->ttl_ds = 86400;
	p->ttl_nsec3 = 3600;
	p->propagation_delay = 3600;
	p->parent_ds_ttl = DAY;
	p->parent_propagation_delay = 3600;
}

static void dump_diag(const tandem_diag_t *diag)
{
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		fprintf(stderr, "  diag[%zu] (%d): %s\n", i, tandem_diag_code(diag, i),
			tandem_diag_msg(diag, i));
	}
}

static size_t count_code(const tandem_diag_t *diag, int code)
{
	size_t n = 0;
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		n += tandem_diag_code(diag, i) == code;
	}
	return n;
}

/* True if diag holds a message of code that starts "PATH:LINE: " and contains needle. */
static bool has_msg(const tandem_diag_t *diag, int code, const char *path, unsigned line,
		    const char *needle)
{
	char prefix[600];
	snprintf(prefix, sizeof(prefix), "%s:%u: ", path, line);
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		const char *m = tandem_diag_msg(diag, i);
		if (tandem_diag_code(diag, i) == code && strncmp(m, prefix, strlen(prefix)) == 0 &&
		    strstr(m, needle) != NULL) {
			return true;
		}
	}
	return false;
}

/* Loads text from a temp file; returns the code, diag and policy to the caller. */
static int load_text(const char *text, char *path, size_t path_size, char *dir, size_t dir_size,
		     tandem_diag_t *diag, kasp_policy_t *out)
{
	ts_tmpdir(dir, dir_size);
	ts_write_file(dir, "policy.yaml", text, path, path_size);
	return kasp_policy_load(path, diag, out);
}

/* text must be refused, with a message at line that contains needle, and
 * *out must stay untouched. */
static void expect_refused(const char *text, unsigned line, const char *needle)
{
	char dir[256], path[512];
	tandem_diag_t *diag = NULL;
	kasp_policy_t out, sentinel;
	memset(&sentinel, 0xa5, sizeof(sentinel));
	out = sentinel;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	int ret = load_text(text, path, sizeof(path), dir, sizeof(dir), diag, &out);
	if (ret != TANDEM_KASP_EPOLICY || !has_msg(diag, TANDEM_KASP_EPOLICY, path, line, needle)) {
		fprintf(stderr, "expected refusal at line %u with '%s' for:\n%s\ngot %d:\n", line,
			needle, text, ret);
		dump_diag(diag);
	}
	ck_assert_int_eq(ret, TANDEM_KASP_EPOLICY);
	ck_assert(has_msg(diag, TANDEM_KASP_EPOLICY, path, line, needle));
	ck_assert(memcmp(&out, &sentinel, sizeof(out)) == 0);
	tandem_diag_free(diag);
	ts_rmtree(dir);
}

/* text must load; the policy goes to out (may be NULL). Returns the diag count. */
static size_t expect_loaded(const char *text, kasp_policy_t *out, const char *warning)
{
	char dir[256], path[512];
	tandem_diag_t *diag = NULL;
	kasp_policy_t p;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	int ret = load_text(text, path, sizeof(path), dir, sizeof(dir), diag, &p);
	if (ret != TANDEM_OK) {
		fprintf(stderr, "expected success for:\n%s\ngot %d:\n", text, ret);
		dump_diag(diag);
	}
	ck_assert_int_eq(ret, TANDEM_OK);
	ck_assert_uint_eq(count_code(diag, TANDEM_KASP_EPOLICY), 0);
	if (warning != NULL) {
		bool found = false;
		for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
			const char *m = tandem_diag_msg(diag, i);
			found = found || (strstr(m, "warning: ") != NULL && strstr(m, warning));
		}
		ck_assert_msg(found, "no warning with '%s'", warning);
	}
	size_t n = tandem_diag_count(diag);
	if (out != NULL) {
		*out = p;
	}
	tandem_diag_free(diag);
	ts_rmtree(dir);
	return n;
}

/* ---- presets ---- */

START_TEST(test_defaults_are_dps)
{
	kasp_policy_t p, want;
	kasp_policy_defaults(&p);
	dps_expected(&want);
	assert_policy_eq(&p, &want);
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	ck_assert_int_eq(kasp_policy_check(&p, diag), TANDEM_OK);
	ck_assert_uint_eq(tandem_diag_count(diag), 0);
	tandem_diag_free(diag);
}
END_TEST

START_TEST(test_preset_dps_default)
{
	char path[512];
	kasp_policy_t p, want;
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	ts_srcpath("conf/dps-default.yaml", path, sizeof(path));
	int ret = kasp_policy_load(path, diag, &p);
	dump_diag(diag);
	ck_assert_int_eq(ret, TANDEM_OK);
	ck_assert_uint_eq(tandem_diag_count(diag), 0);
	dps_expected(&want);
	assert_policy_eq(&p, &want);
	tandem_diag_free(diag);
}
END_TEST

START_TEST(test_preset_modern)
{
	char path[512];
	kasp_policy_t p, want;
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	ts_srcpath("conf/modern.yaml", path, sizeof(path));
	int ret = kasp_policy_load(path, diag, &p);
	dump_diag(diag);
	ck_assert_int_eq(ret, TANDEM_OK);
	ck_assert_uint_eq(tandem_diag_count(diag), 0);
	dps_expected(&want);
	snprintf(want.name, sizeof(want.name), "modern");
	want.ksk.algorithm = 13;
	want.ksk.bits = 0;
	want.zsk.algorithm = 13;
	want.zsk.bits = 0;
	assert_policy_eq(&p, &want);
	tandem_diag_free(diag);
}
END_TEST

static const char flow_text[] =
    "policy: dps-default\n"
    "keys:\n"
    "  ksk: { algorithm: rsasha256, bits: 2048, lifetime: 365d, prepublish: 30d, "
    "postpublish: 30d, emergency-postpublish: 7d }\n"
    "  zsk: { algorithm: rsasha256, bits: 1024, lifetime: 90d, prepublish: 7d, postpublish: "
    "7d, emergency-postpublish: 2d }\n"
    "signatures: { validity: 8d, jitter: 2d, inception-offset: 1h, refresh: 2d, "
    "resign-interval: 15m }\n"
    "denial: { type: nsec3, optout: false, iterations: 0, salt-length: 0, resalt: 0 }\n"
    "zone: { serial: increment, propagation-delay: 1h }\n"
    "ttl: { soa: 86400, dnskey: 43200, ns: 86400, a: 86400, aaaa: 86400, ds: 86400, nsec3: "
    "3600 }\n"
    "parent: { ds-ttl: 1d, propagation-delay: 1h }\n";

/* The same policy in block style, with other spellings of the same values. */
static const char block_text[] = "policy: \"dps-default\"\n"
				 "keys:\n"
				 "  zsk:\n"
				 "    algorithm: 8\n"
				 "    bits: 1024\n"
				 "    lifetime: P90D\n"
				 "    prepublish: 1w\n"
				 "    postpublish: 168h\n"
				 "    emergency-postpublish: PT48H\n"
				 "  ksk:\n"
				 "    algorithm: RSASHA256\n"
				 "    bits: 2048\n"
				 "    lifetime: P1Y\n"
				 "    prepublish: P30D\n"
				 "    postpublish: 2592000\n"
				 "    emergency-postpublish: 7d\n"
				 "signatures:\n"
				 "  validity: 8d\n"
				 "  jitter: 2d\n"
				 "  inception-offset: 60m\n"
				 "  refresh: 1d24h\n"
				 "  resign-interval: 900\n"
				 "denial:\n"
				 "  type: nsec3\n"
				 "  optout: no\n"
				 "  iterations: 0\n"
				 "  salt-length: 0\n"
				 "  resalt: 0\n"
				 "zone:\n"
				 "  serial: increment\n"
				 "  propagation-delay: 3600s\n"
				 "ttl:\n"
				 "  soa: 86400\n"
				 "  dnskey: 12h\n"
				 "  ns: 1d\n"
				 "  a: 86400\n"
				 "  aaaa: 86400\n"
				 "  ds: 86400\n"
				 "  nsec3: 3600\n"
				 "parent:\n"
				 "  ds-ttl: 86400\n"
				 "  propagation-delay: PT1H\n";

START_TEST(test_flow_and_block_agree)
{
	kasp_policy_t flow, block, want;
	ck_assert_uint_eq(expect_loaded(flow_text, &flow, NULL), 0);
	ck_assert_uint_eq(expect_loaded(block_text, &block, NULL), 0);
	assert_policy_eq(&flow, &block);
	dps_expected(&want);
	assert_policy_eq(&flow, &want);
}
END_TEST

START_TEST(test_partial_file_keeps_defaults)
{
	kasp_policy_t p, want;
	expect_loaded("policy: short\nsignatures: {resign-interval: 5m}\n", &p, NULL);
	dps_expected(&want);
	snprintf(want.name, sizeof(want.name), "short");
	want.resign_interval = 300;
	assert_policy_eq(&p, &want);
	expect_loaded("policy: slow\nsignatures: {max-run-time: 2m}\n", &p, NULL);
	ck_assert_uint_eq(p.max_run_time, 120);
	expect_loaded("policy: careful\nsignatures: {gate-full: 0}\n", &p, NULL);
	ck_assert_uint_eq(p.gate_full, 0);
	expect_loaded("policy: weekly\nsignatures: {gate-full: 7d}\n", &p, NULL);
	ck_assert_uint_eq(p.gate_full, 7 * DAY);

	/* An EC algorithm drops the RSA default size. */
	expect_loaded("policy: ec\nkeys:\n  ksk: {algorithm: ed25519}\n  zsk: {algorithm: 15}\n",
		      &p, NULL);
	ck_assert_uint_eq(p.ksk.algorithm, 15);
	ck_assert_uint_eq(p.ksk.bits, 0);
	ck_assert_uint_eq(p.zsk.bits, 0);

	/* NSEC with NSEC3 settings left at their defaults is fine. */
	expect_loaded("policy: n\ndenial: {type: nsec}\nzone: {serial: datecounter}\n", &p, NULL);
	ck_assert_int_eq(p.denial, KASP_DENIAL_NSEC);
	ck_assert_int_eq(p.serial, KASP_SERIAL_DATECOUNTER);
	ck_assert_int_eq(p.signer_owned, KASP_SIGNER_OWNED_DROP); /* the default */

	/* Signer-owned records in the input: dropped (default) or refused. */
	expect_loaded("policy: r\nzone: {signer-owned: refuse}\n", &p, NULL);
	ck_assert_int_eq(p.signer_owned, KASP_SIGNER_OWNED_REFUSE);
	expect_loaded("policy: d\nzone: {signer-owned: drop}\n", &p, NULL);
	ck_assert_int_eq(p.signer_owned, KASP_SIGNER_OWNED_DROP);

	/* A permanent standby is off unless asked for, per role. */
	ck_assert(!p.ksk.standby && !p.zsk.standby);
	expect_loaded("policy: s\nkeys:\n  zsk: {standby: true}\n", &p, NULL);
	ck_assert(p.zsk.standby);
	ck_assert(!p.ksk.standby);
	expect_loaded("policy: s\nkeys:\n  ksk:\n    standby: yes\n", &p, NULL);
	ck_assert(p.ksk.standby);
}
END_TEST

/* ---- durations ---- */

START_TEST(test_duration_valid)
{
	static const struct {
		const char *text;
		uint32_t secs;
	} ok[] = {
	    {"0", 0},
	    {"3600", 3600},
	    {"90s", 90},
	    {"15m", 900},
	    {"12h", 43200},
	    {"30d", 30 * DAY},
	    {"1w", 7 * DAY},
	    {"1d12h", DAY + 43200},
	    {"1w2d3h4m5s", 9 * DAY + 3 * 3600 + 4 * 60 + 5},
	    {"0d", 0},
	    {"P1Y", 365 * DAY},
	    {"P1M", 30 * DAY},
	    {"P2W", 14 * DAY},
	    {"P7D", 7 * DAY},
	    {"PT1H", 3600},
	    {"PT1H30M", 5400},
	    {"PT90S", 90},
	    {"P1DT12H", DAY + 43200},
	    {"P1Y2M3DT4H5M6S", 365 * DAY + 60 * DAY + 3 * DAY + 4 * 3600 + 5 * 60 + 6},
	    {"4294967295", 4294967295u},
	    {"P49710DT6H28M15S", 4294967295u},
	    {"000030d", 30 * DAY},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint32_t v = 1;
		int ret = kasp_duration_parse(ok[i].text, &v);
		ck_assert_msg(ret == TANDEM_OK, "'%s' refused (%d)", ok[i].text, ret);
		ck_assert_msg(v == ok[i].secs, "'%s' gave %u, not %u", ok[i].text, v, ok[i].secs);
	}
}
END_TEST

START_TEST(test_duration_invalid)
{
	static const char *const bad[] = {
	    "",    "d",    "30x",   "30 d",     " 30d",  "30d ", "-1",
	    "+1",  "1.5d", "30D",   "p1d",      "P",     "PT",   "P1DT",
	    "P1H", "PT1D", "P1D1Y", "P1DT1M1H", "1m1d",  "1d30", "1d1d",
	    "P1",  "PT1",  "1y",    "0x10",     "P1.5D", "dd",   "99999999999999999999x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t v = 77;
		int ret = kasp_duration_parse(bad[i], &v);
		ck_assert_msg(ret == TANDEM_ESYNTAX, "'%s' gave %d", bad[i], ret);
		ck_assert_uint_eq(v, 77);
	}
	static const char *const big[] = {
	    "4294967296",    "99999999999999999999",
	    "49711d",        "7102w",
	    "P137Y",         "P49711D",
	    "PT4294967296S", "P100000000000Y",
	    "4294967295d",   "P49710DT6H28M16S",
	};
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		uint32_t v = 77;
		int ret = kasp_duration_parse(big[i], &v);
		ck_assert_msg(ret == TANDEM_ERANGE, "'%s' gave %d", big[i], ret);
		ck_assert_uint_eq(v, 77);
	}
	uint32_t v;
	ck_assert_int_eq(kasp_duration_parse(NULL, &v), TANDEM_EINVAL);
	ck_assert_int_eq(kasp_duration_parse("1d", NULL), TANDEM_EINVAL);
}
END_TEST

/* ---- structure and type refusals ---- */

START_TEST(test_refuse_unknown_keys)
{
	expect_refused("policy: t\nfoo: 1\n", 2, "unknown key 'foo' in the policy");
	expect_refused("policy: t\nsignatures:\n  validty: 8d\n", 3,
		       "unknown key 'validty' in signatures");
	expect_refused("policy: t\nkeys:\n  ksk:\n    algorithm: 8\n    size: 2048\n", 5,
		       "unknown key 'size' in keys.ksk");
	expect_refused("policy: t\nkeys:\n  csk: {algorithm: 13}\n", 3,
		       "unknown key 'csk' in keys");
	expect_refused("policy: t\nsignatures:\n  resign_interval: 15m\n", 3,
		       "did you mean 'resign-interval'");
	expect_refused("policy: t\nttl: {soa: 1, mx: 3600}\n", 2, "unknown key 'mx' in ttl");
	expect_refused("policy: t\nsignatures:\n  max-run-time: 0\n", 3,
		       "max-run-time must be above 0");
	expect_refused("policy: t\n? [a, b]\n: 1\n", 2, "keys must be plain names");
}
END_TEST

START_TEST(test_refuse_wrong_types)
{
	expect_refused("policy: t\nttl: 3600\n", 2, "ttl: expected a mapping");
	expect_refused("policy: t\nkeys:\n  - ksk\n", 3, "keys: expected a mapping");
	expect_refused("policy: t\nkeys:\n  zsk: 8\n", 3, "keys.zsk: expected a mapping");
	expect_refused("policy: t\nsignatures:\n  validity: [8d]\n", 3,
		       "signatures.validity: expected a value, found a list");
	expect_refused("policy: t\nsignatures:\n  validity:\n", 3, "signatures.validity: missing");
	expect_refused("policy: t\nsignatures:\n  validity: 8x\n", 3, "not a duration");
	expect_refused("policy: t\nsignatures:\n  validity: 4294967296\n", 3, "too long");
	expect_refused("policy: t\ndenial:\n  optout: maybe\n", 3, "not true or false");
	expect_refused("policy: t\nkeys:\n  zsk:\n    standby: 2\n", 4, "not true or false");
	expect_refused("policy: t\ndenial:\n  type: nsec5\n", 3, "not nsec or nsec3");
	expect_refused("policy: t\nzone:\n  serial: random\n", 3,
		       "not keep, increment, unixtime or datecounter");
	expect_refused("policy: t\nzone:\n  signer-owned: keep\n", 3, "not drop or refuse");
	expect_refused("policy: t\nkeys:\n  ksk:\n    bits: big\n", 4, "not a key size");
	expect_refused("policy: t\nkeys:\n  ksk:\n    bits: -2048\n", 4, "not a key size");
	expect_refused("policy: t\ndenial:\n  iterations: 70000\n", 3, "0 to 65535");
	expect_refused("policy: t\ndenial:\n  salt-length: 256\n", 3, "0 to 255 bytes");
	expect_refused("policy: t\nkeys:\n  ksk:\n    algorithm: rsasha1\n", 4,
		       "unknown algorithm 'rsasha1'");
	expect_refused("policy:\n  name: x\n", 2, "policy: expected a value, found a mapping");
}
END_TEST

START_TEST(test_refuse_duplicates_and_names)
{
	expect_refused("policy: t\nttl:\n  soa: 60\n  soa: 120\n", 4,
		       "given twice (first at line 3)");
	expect_refused("policy: t\nttl: {soa: 60}\nttl: {ns: 60}\n", 3, "given twice");
	expect_refused("policy: t\nkeys:\n  ksk: {}\n  ksk: {}\n", 4, "given twice");
	expect_refused("policy: t\npolicy: u\n", 2, "given twice");
	expect_refused("ttl: {soa: 3600}\n", 1, "missing 'policy: NAME'");
	expect_refused("\n\nttl: {soa: 3600}\n", 3, "missing 'policy: NAME'");
	expect_refused("policy: a b\n", 1, "only letters, digits");
	expect_refused("policy: "
		       "a123456789b123456789c123456789d123456789e123456789f123456789g123\n",
		       1, "longer than 63");
}
END_TEST

START_TEST(test_all_errors_reported)
{
	char dir[256], path[512];
	tandem_diag_t *diag = NULL;
	kasp_policy_t p;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	int ret = load_text("policy: t\nfoo: 1\nbar: 2\nttl: {soa: x}\n", path, sizeof(path), dir,
			    sizeof(dir), diag, &p);
	ck_assert_int_eq(ret, TANDEM_KASP_EPOLICY);
	ck_assert_uint_eq(count_code(diag, TANDEM_KASP_EPOLICY), 3);
	ck_assert(has_msg(diag, TANDEM_KASP_EPOLICY, path, 2, "'foo'"));
	ck_assert(has_msg(diag, TANDEM_KASP_EPOLICY, path, 3, "'bar'"));
	ck_assert(has_msg(diag, TANDEM_KASP_EPOLICY, path, 4, "ttl.soa"));
	tandem_diag_free(diag);
	ts_rmtree(dir);
}
END_TEST

/* ---- keys ---- */

START_TEST(test_refuse_key_sizes_and_algorithms)
{
	expect_refused("policy: t\nkeys:\n  ksk:\n    bits: 1000\n", 4, "keys.ksk.bits: 1000");
	expect_refused("policy: t\nkeys:\n  ksk:\n    bits: 4104\n", 4, "1024 to 4096");
	expect_refused("policy: t\nkeys:\n  zsk:\n    bits: 2050\n", 4, "a multiple of 8");
	expect_refused("policy: t\nkeys:\n  zsk:\n    bits: 0\n", 4, "keys.zsk.bits");
	/* bits with an EC algorithm is refused, whichever comes first */
	expect_refused("policy: t\nkeys:\n  ksk:\n    algorithm: ecdsap256sha256\n    bits: 256\n"
		       "  zsk:\n    algorithm: ecdsap256sha256\n",
		       5, "applies to RSA only");
	expect_refused("policy: t\nkeys:\n  ksk:\n    algorithm: 13\n"
		       "  zsk:\n    bits: 256\n    algorithm: 13\n",
		       6, "keys.zsk.bits: applies to RSA only");
	expect_refused("policy: t\nkeys:\n  ksk:\n    algorithm: 5\n  zsk:\n    algorithm: 5\n", 4,
		       "5 is not supported");
	expect_refused("policy: t\nkeys:\n  ksk:\n    algorithm: 256\n", 4, "unknown algorithm");
	expect_refused("policy: t\nkeys:\n  zsk:\n    algorithm: ecdsap256sha256\n", 4,
		       "must share one algorithm");
	/* the accepted edges */
	kasp_policy_t p;
	expect_loaded("policy: t\nkeys:\n  ksk: {bits: 4096}\n  zsk: {bits: 1024}\n", &p, NULL);
	ck_assert_uint_eq(p.ksk.bits, 4096);
	expect_loaded("policy: t\nkeys:\n  ksk: {algorithm: rsasha512, bits: 1032}\n"
		      "  zsk: {algorithm: rsasha512}\n",
		      &p, NULL);
	ck_assert_uint_eq(p.ksk.algorithm, 10);
	ck_assert_uint_eq(p.ksk.bits, 1032);
	ck_assert_uint_eq(p.zsk.bits, 1024);
}
END_TEST

START_TEST(test_refuse_key_timing)
{
	/* lifetime <= prepublish */
	expect_refused("policy: t\nkeys:\n  zsk:\n    lifetime: 7d\n", 4,
		       "keys.zsk.lifetime (7d) must be longer than keys.zsk.prepublish (7d)");
	/* ZSK prepublish < DNSKEY TTL + propagation delay (12h + 1h) */
	expect_refused("policy: t\nkeys:\n  zsk:\n    prepublish: 12h\n", 4,
		       "keys.zsk.prepublish (12h) is shorter");
	/* ... and blamed on the TTL when that is what the file changed */
	expect_refused("policy: t\nttl:\n  dnskey: 7d\n", 3, "keys.zsk.prepublish (7d)");
	/* ZSK postpublish < resign interval + propagation + largest TTL (1d1h15m) */
	expect_refused(
	    "policy: t\nkeys:\n  zsk:\n    postpublish: 1d\n    emergency-postpublish: 1d\n", 4,
	    "keys.zsk.postpublish (1d) is shorter");
	expect_refused("policy: t\nttl:\n  soa: 1d\n  ns: 10d\n", 4, "keys.zsk.postpublish (7d)");
	/* ZSK emergency post-publish: bounded both ways */
	expect_refused("policy: t\nkeys:\n  zsk:\n    emergency-postpublish: 1d\n", 4,
		       "keys.zsk.emergency-postpublish (1d) is shorter");
	expect_refused("policy: t\nkeys:\n  zsk:\n    emergency-postpublish: 8d\n", 4,
		       "is longer than keys.zsk.postpublish");
	/* KSK prepublish < max(DNSKEY TTL + propagation, parent delay + DS TTL) */
	expect_refused("policy: t\nkeys:\n  ksk:\n    prepublish: 1d\n", 4,
		       "keys.ksk.prepublish (1d) is shorter");
	expect_refused("policy: t\nparent:\n  ds-ttl: 40d\n", 3, "keys.ksk.prepublish (30d)");
	/* KSK postpublish */
	expect_refused("policy: t\nkeys:\n  ksk:\n    postpublish: 1d\n    "
		       "emergency-postpublish: 1d\n",
		       4, "keys.ksk.postpublish (1d) is shorter");
	expect_refused("policy: t\nkeys:\n  ksk:\n    emergency-postpublish: 12h\n", 4,
		       "keys.ksk.emergency-postpublish (12h) is shorter");
	/* exactly at the bounds is accepted (a stopped ZSK's signatures replaced in one cycle) */
	expect_loaded("policy: t\nkeys:\n  zsk:\n    prepublish: 13h\n    postpublish: 1d1h15m\n"
		      "    emergency-postpublish: 1d1h15m\n    lifetime: 13h1s\n"
		      "  ksk:\n    prepublish: 1d1h\n    postpublish: 1d1h\n"
		      "    emergency-postpublish: 13h15m\nsignatures:\n  key-roll-time: 15m\n",
		      NULL, NULL);
}
END_TEST

/* ---- signatures ---- */

START_TEST(test_refuse_signature_timing)
{
	expect_refused("policy: t\nsignatures:\n  validity: 2d\n  jitter: 2d\n", 4,
		       "signatures.jitter (2d) must be shorter than signatures.validity (2d)");
	expect_refused("policy: t\nsignatures:\n  validity: 0\n", 3, "signatures.validity");
	expect_refused("policy: t\nsignatures:\n  validity: 2147483648\n", 3, "below 2^31");
	expect_refused("policy: t\nsignatures:\n  inception-offset: 9d\n", 3,
		       "signatures.inception-offset (9d) is larger");
	expect_refused("policy: t\nsignatures:\n  refresh: 6d\n", 3,
		       "signatures.refresh (6d) must be above 0 and below validity - jitter (6d)");
	expect_refused("policy: t\nsignatures:\n  refresh: 0\n", 3, "signatures.refresh (0s)");
	expect_refused("policy: t\nsignatures:\n  refresh: 1h\n", 3,
		       "longer than signatures.resign-interval + zone.propagation-delay (1h15m)");
	expect_refused("policy: t\nzone:\n  propagation-delay: 2d\n", 3, "signatures.refresh (2d)");
	expect_refused("policy: t\nsignatures:\n  resign-interval: 0\n", 3,
		       "resign-interval must be above 0");
	kasp_policy_t p;
	expect_loaded("policy: t\nsignatures: {validity: 14d, jitter: 0, inception-offset: 14d, "
		      "refresh: 1h15m1s, key-roll-time: 1d}\n",
		      &p, NULL);
	ck_assert_uint_eq(p.sig_validity, 14 * DAY);
}
END_TEST

/*
 * Signatures are reused: a ZSK that stops signing keeps signatures in the zone until the
 * refresh schedule replaces them, within key-roll-time (default validity - jitter -
 * refresh: 4 days with the DPS numbers). Its DNSKEY must stay that long plus Dprp and
 * TTLsig, or cached answers signed by it turn bogus. A post-publication that only covered
 * one cycle (the rule of a signer that re-signs everything each cycle) is refused.
 */
START_TEST(test_key_roll_time)
{
	kasp_policy_t p;
	kasp_policy_defaults(&p);
	ck_assert_uint_eq(kasp_policy_key_roll_time(&p), 4 * DAY);
	/* 2d covers resign-interval + Dprp + TTLsig (1d1h15m) but not the 4-day drain */
	expect_refused("policy: t\nkeys:\n  zsk:\n    postpublish: 2d\n"
		       "    emergency-postpublish: 2d\n",
		       4, "keys.zsk.postpublish (2d) is shorter than signatures.key-roll-time");
	expect_refused("policy: t\nkeys:\n  zsk:\n    postpublish: 5d59m59s\n", 4,
		       "(5d1h)"); /* 4d + Dprp 1h + the largest TTL 1d, one second short */
	expect_loaded("policy: t\nkeys:\n  zsk:\n    postpublish: 5d1h\n", NULL, NULL);
	/* a shorter drain (more signatures per cycle) allows a shorter post-publication */
	expect_loaded("policy: t\nkeys:\n  zsk:\n    postpublish: 2d\n"
		      "    emergency-postpublish: 2d\nsignatures:\n  key-roll-time: 12h\n",
		      &p, NULL);
	ck_assert_uint_eq(kasp_policy_key_roll_time(&p), 12 * 3600);
	/* bounds: at least one cycle, at most the refresh window */
	expect_refused("policy: t\nsignatures:\n  key-roll-time: 5m\n", 3,
		       "signatures.key-roll-time (5m) must be at least one resign-interval");
	expect_refused("policy: t\nsignatures:\n  key-roll-time: 5d\n", 3,
		       "at most validity - jitter - refresh (4d)");
}
END_TEST

/* ---- denial, zone, TTLs ---- */

START_TEST(test_refuse_denial)
{
	expect_refused("policy: t\ndenial:\n  iterations: 501\n", 3,
		       "denial.iterations 501 is above 500");
	expect_refused("policy: t\ndenial:\n  type: nsec\n  optout: true\n", 4,
		       "are NSEC3 settings, but denial.type is nsec");
	expect_refused("policy: t\ndenial:\n  type: nsec\n  salt-length: 8\n", 4, "NSEC3 settings");
	kasp_policy_t p;
	ck_assert_uint_ne(
	    expect_loaded("policy: t\ndenial:\n  iterations: 10\n", &p, "denial.iterations 10"), 0);
	ck_assert_uint_eq(p.nsec3_iterations, 10);
	expect_loaded("policy: t\ndenial:\n  iterations: 500\n", &p, "RFC 9276");
	expect_loaded("policy: t\ndenial:\n  salt-length: 255\n  resalt: 30d\n", &p,
		      "denial.salt-length 255");
	ck_assert_uint_eq(p.nsec3_salt_len, 255);
	ck_assert_uint_eq(p.nsec3_resalt, 30 * DAY);
	expect_loaded("policy: t\ndenial:\n  resalt: 30d\n", &p, "resalt has no effect");
	expect_loaded("policy: t\ndenial:\n  optout: true\n", &p, NULL);
	ck_assert(p.nsec3_optout);
}
END_TEST

START_TEST(test_refuse_ttls)
{
	expect_refused("policy: t\nttl:\n  soa: 0\n", 3, "ttl.soa 0 must be 1 to 2147483647");
	expect_refused("policy: t\nttl:\n  a: 2147483648\n", 3, "ttl.a 2147483648");
	expect_refused("policy: t\nparent:\n  ds-ttl: 0\n", 3, "parent.ds-ttl 0");
	kasp_policy_t p;
	expect_loaded("policy: t\nttl: {nsec3: 1h, a: 300, aaaa: PT5M}\n", &p, NULL);
	ck_assert_uint_eq(p.ttl_nsec3, 3600);
	ck_assert_uint_eq(p.ttl_aaaa, 300);
}
END_TEST

/* ---- files that are not policies ---- */

START_TEST(test_refuse_not_policies)
{
	expect_refused("", 1, "the file is empty");
	expect_refused("# only a comment\n\n", 1, "the file is empty");
	expect_refused("just some words\n", 1, "expected a policy mapping");
	expect_refused("- policy: t\n", 1, "found a list");
	expect_refused("policy: t\nttl: {soa: 60\n", 3, "not valid YAML");
	expect_refused("policy: t\n  ttl: 1\n", 2, "not valid YAML");
	expect_refused("policy: t\n---\npolicy: u\n", 3, "only one YAML document");
	expect_refused("policy: t\n\x01\x02\x03\n", 2, "not valid YAML");
	expect_refused("policy: t\nname: \xff\xfe\n", 2, "not valid YAML");
	/* a binary file: a PNG signature and some bytes */
	expect_refused("\x89PNG\r\n\x1a\n\x01\x02", 1, "not valid YAML");
}
END_TEST

START_TEST(test_missing_file)
{
	char dir[256], path[600];
	tandem_diag_t *diag = NULL;
	kasp_policy_t p;
	ts_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/nope.yaml", dir);
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	ck_assert_int_eq(kasp_policy_load(path, diag, &p), TANDEM_EIO);
	ck_assert_uint_eq(tandem_diag_count(diag), 1);
	ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, 0), "no such file"));
	ck_assert_int_eq(tandem_diag_code(diag, 0), TANDEM_EIO);
	/* a directory cannot be read as a file either */
	ck_assert_int_eq(kasp_policy_load(dir, NULL, &p), TANDEM_EIO);
	ck_assert_int_eq(kasp_policy_load(NULL, diag, &p), TANDEM_EINVAL);
	ck_assert_int_eq(kasp_policy_load(path, diag, NULL), TANDEM_EINVAL);
	tandem_diag_free(diag);
	ts_rmtree(dir);
}
END_TEST

START_TEST(test_check_in_memory)
{
	kasp_policy_t p;
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	kasp_policy_defaults(&p);
	p.ksk.bits = 0;
	ck_assert_int_eq(kasp_policy_check(&p, diag), TANDEM_KASP_EPOLICY);
	ck_assert_ptr_nonnull(
	    strstr(tandem_diag_msg(diag, 0), "policy dps-default: keys.ksk.bits"));
	tandem_diag_clear(diag);

	kasp_policy_defaults(&p);
	p.ksk.algorithm = p.zsk.algorithm = 13;
	ck_assert_int_eq(kasp_policy_check(&p, diag), TANDEM_KASP_EPOLICY); /* bits left at RSA */
	p.ksk.bits = p.zsk.bits = 0;
	tandem_diag_clear(diag);
	ck_assert_int_eq(kasp_policy_check(&p, diag), TANDEM_OK);

	p.serial = (kasp_serial_t)7;
	p.denial = (kasp_denial_t)9;
	p.name[0] = '\0';
	ck_assert_int_eq(kasp_policy_check(&p, diag), TANDEM_KASP_EPOLICY);
	ck_assert_uint_eq(tandem_diag_count(diag), 3);
	ck_assert_int_eq(kasp_policy_check(NULL, diag), TANDEM_EINVAL);
	tandem_diag_free(diag);
}
END_TEST

/* The input keys: defaults, durations and shares, and what is refused. */
START_TEST(test_input_keys)
{
	kasp_policy_t p;
	kasp_policy_defaults(&p);
	ck_assert_uint_eq(p.input_settle, 5);
	ck_assert_uint_eq(p.max_delegation_removal, 1000);
	char path[512], dir[256];
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	int ret =
	    load_text("policy: x\nzone: { input-settle: 10s, max-delegation-removal: 2.5% }\n",
		      path, sizeof(path), dir, sizeof(dir), diag, &p);
	dump_diag(diag);
	ck_assert_int_eq(ret, TANDEM_OK);
	ck_assert_uint_eq(p.input_settle, 10);
	ck_assert_uint_eq(p.max_delegation_removal, 250);
	ts_rmtree(dir);
	static const char *const good[][2] = {
	    {"0%", "0"}, {"100%", "10000"}, {"10", "1000"}, {"0.5%", "50"}, {"12.25%", "1225"}};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char text[128];
		snprintf(text, sizeof(text), "policy: x\nzone:\n  max-delegation-removal: \"%s\"\n",
			 good[i][0]);
		tandem_diag_clear(diag);
		ck_assert_int_eq(load_text(text, path, sizeof(path), dir, sizeof(dir), diag, &p),
				 TANDEM_OK);
		ck_assert_uint_eq(p.max_delegation_removal, strtoul(good[i][1], NULL, 10));
		ts_rmtree(dir);
	}
	static const char *const bad[] = {"101%", "abc", "10.123%", "-5%", "%", "1e3", "10%%"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[128];
		snprintf(text, sizeof(text), "policy: x\nzone:\n  max-delegation-removal: \"%s\"\n",
			 bad[i]);
		tandem_diag_clear(diag);
		ck_assert_int_eq(load_text(text, path, sizeof(path), dir, sizeof(dir), diag, &p),
				 TANDEM_KASP_EPOLICY);
		ck_assert(has_msg(diag, TANDEM_KASP_EPOLICY, path, 3, "max-delegation-removal"));
		ts_rmtree(dir);
	}
	tandem_diag_clear(diag);
	ck_assert_int_eq(load_text("policy: x\nzone:\n  input-settle: 2h\n", path, sizeof(path),
				   dir, sizeof(dir), diag, &p),
			 TANDEM_KASP_EPOLICY);
	ck_assert(has_msg(diag, TANDEM_KASP_EPOLICY, path, 3, "input-settle"));
	ts_rmtree(dir);
	tandem_diag_free(diag);
}
END_TEST

/* zone.compare-before-publish and zone.compare-timeout (issue 11): wait and 30 s by default,
 * the three modes, a timeout from 1 s to 1 h; anything else refused at its line. */
START_TEST(test_compare_keys)
{
	kasp_policy_t p;
	kasp_policy_defaults(&p);
	ck_assert_int_eq(p.compare, KASP_COMPARE_WAIT);
	ck_assert_uint_eq(p.compare_timeout, 30);
	static const struct {
		const char *text;
		kasp_compare_t mode;
	} modes[] = {{"off", KASP_COMPARE_OFF},
		     {"wait", KASP_COMPARE_WAIT},
		     {"require", KASP_COMPARE_REQUIRE}};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		char text[128];
		snprintf(text, sizeof(text),
			 "policy: x\nzone: { compare-before-publish: %s, compare-timeout: 2m }\n",
			 modes[i].text);
		expect_loaded(text, &p, NULL);
		ck_assert_int_eq(p.compare, modes[i].mode);
		ck_assert_uint_eq(p.compare_timeout, 120);
	}
	expect_refused("policy: t\nzone:\n  compare-before-publish: always\n", 3,
		       "not off, wait or require");
	expect_refused("policy: t\nzone:\n  compare-before-publish: yes\n", 3,
		       "not off, wait or require");
	char path[512], dir[256];
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	static const char *const bad[] = {"0", "2h", "30x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[128];
		snprintf(text, sizeof(text), "policy: x\nzone:\n  compare-timeout: %s\n", bad[i]);
		tandem_diag_clear(diag);
		ck_assert_int_eq(load_text(text, path, sizeof(path), dir, sizeof(dir), diag, &p),
				 TANDEM_KASP_EPOLICY);
		ck_assert(has_msg(diag, TANDEM_KASP_EPOLICY, path, 3, "compare-timeout"));
		ts_rmtree(dir);
	}
	tandem_diag_free(diag);
}
END_TEST

/* The review hooks (issue 11): none by default, a command split on spaces without a shell,
 * a timeout; a bad command or timeout is refused with its line. */
START_TEST(test_review_keys)
{
	kasp_policy_t p;
	kasp_policy_defaults(&p);
	ck_assert_str_eq(p.review_unsigned, "");
	ck_assert_str_eq(p.review_signed, "");
	ck_assert_uint_eq(p.review_timeout, 60);
	char path[512], dir[256];
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	int ret = load_text("policy: x\nzone:\n  review-unsigned: /usr/bin/check -q  unsigned\n"
			    "  review-signed: /opt/review\n  review-timeout: 2m\n",
			    path, sizeof(path), dir, sizeof(dir), diag, &p);
	dump_diag(diag);
	ck_assert_int_eq(ret, TANDEM_OK);
	ck_assert_str_eq(p.review_unsigned, "/usr/bin/check -q  unsigned");
	ck_assert_str_eq(p.review_signed, "/opt/review");
	ck_assert_uint_eq(p.review_timeout, 120);
	ts_rmtree(dir);

	char buf[KASP_REVIEW_CMD_MAX], why[256];
	char *argv[KASP_REVIEW_WORDS_MAX + 1];
	size_t argc = 0;
	snprintf(buf, sizeof(buf), "%s", p.review_unsigned);
	ck_assert_int_eq(kasp_review_split(buf, argv, &argc, why, sizeof(why)), TANDEM_OK);
	ck_assert_uint_eq(argc, 3);
	ck_assert_str_eq(argv[0], "/usr/bin/check");
	ck_assert_str_eq(argv[1], "-q");
	ck_assert_str_eq(argv[2], "unsigned");
	ck_assert_ptr_null(argv[3]);

	static const char *const bad[][2] = {
	    {"review-unsigned: check.sh", "absolute path"},
	    {"review-signed: '/bin/sh -c \"exit 1\"'", "quote"},
	    {"review-signed: /a 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", "more than 16 words"},
	    {"review-unsigned: \"\\t\"", "is empty"},
	    {"review-unsigned: \"/bin/x\\x07\"", "control character"},
	    {"review-timeout: 0", "review-timeout"},
	    {"review-timeout: 2h", "review-timeout"},
	    {"review-timeout: soon", "review-timeout"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text), "policy: x\nzone:\n  %s\n", bad[i][0]);
		tandem_diag_clear(diag);
		ck_assert_int_eq(load_text(text, path, sizeof(path), dir, sizeof(dir), diag, &p),
				 TANDEM_KASP_EPOLICY);
		if (!has_msg(diag, TANDEM_KASP_EPOLICY, path, 3, bad[i][1])) {
			dump_diag(diag);
			ck_abort_msg("%s: no line-3 message with '%s'", bad[i][0], bad[i][1]);
		}
		ts_rmtree(dir);
	}
	/* two hooks of 40 minutes could not end within the one-hour run */
	tandem_diag_clear(diag);
	ck_assert_int_eq(load_text("policy: x\nzone:\n  review-signed: /x\n  review-timeout: 40m\n",
				   path, sizeof(path), dir, sizeof(dir), diag, &p),
			 TANDEM_KASP_EPOLICY);
	ck_assert(has_msg(diag, TANDEM_KASP_EPOLICY, path, 4, "max-run-time"));
	ts_rmtree(dir);
	tandem_diag_free(diag);
}
END_TEST

/* keys.archive-retention (issue 9 item 5): a year by default, a duration, once. */
START_TEST(test_archive_retention)
{
	kasp_policy_t p;
	kasp_policy_defaults(&p);
	ck_assert_uint_eq(p.archive_retention, 365u * 86400u);
	char path[512], dir[256];
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	int ret =
	    load_text("policy: x\nkeys:\n  archive-retention: 30d\n  zsk: { lifetime: 90d }\n",
		      path, sizeof(path), dir, sizeof(dir), diag, &p);
	dump_diag(diag);
	ck_assert_int_eq(ret, TANDEM_OK);
	ck_assert_uint_eq(p.archive_retention, 30u * 86400u);
	ck_assert_uint_eq(p.zsk.lifetime, 90u * 86400u);
	ts_rmtree(dir);
	tandem_diag_clear(diag);
	ck_assert_int_eq(load_text("policy: x\nkeys:\n  archive-retention: soon\n", path,
				   sizeof(path), dir, sizeof(dir), diag, &p),
			 TANDEM_KASP_EPOLICY);
	ck_assert(has_msg(diag, TANDEM_KASP_EPOLICY, path, 3, "archive-retention"));
	ts_rmtree(dir);
	tandem_diag_clear(diag);
	ck_assert_int_eq(load_text("policy: x\nkeys:\n  archive-retention: 1d\n  "
				   "archive-retention: 2d\n",
				   path, sizeof(path), dir, sizeof(dir), diag, &p),
			 TANDEM_KASP_EPOLICY);
	ts_rmtree(dir);
	tandem_diag_clear(diag);
	ck_assert_int_eq(load_text("policy: x\nkeys:\n  archive: 1d\n", path, sizeof(path), dir,
				   sizeof(dir), diag, &p),
			 TANDEM_KASP_EPOLICY);
	ts_rmtree(dir);
	tandem_diag_free(diag);
}
END_TEST

/* A policy's text parsed in memory (as a cluster stores it) gives what the same file gives,
 * and refusals name the label and the line. */
START_TEST(test_parse_in_memory)
{
	static const char good[] =
	    "policy: p1\nsignatures: { validity: 7d }\ndenial: { type: nsec }\n";
	static const char bad[] = "policy: p1\nsignatures:\n  validity: 10x\n";
	char dir[256], path[512];
	tandem_diag_t *diag = NULL;
	kasp_policy_t a, b;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	ck_assert_int_eq(load_text(good, path, sizeof(path), dir, sizeof(dir), diag, &a),
			 TANDEM_OK);
	ck_assert_int_eq(kasp_policy_parse("etcd:policies/p1", good, strlen(good), diag, &b),
			 TANDEM_OK);
	assert_policy_eq(&a, &b);
	ck_assert_uint_eq(b.sig_validity, 7 * DAY);
	ck_assert_int_eq(b.denial, KASP_DENIAL_NSEC);
	memset(&b, 0x5a, sizeof(b));
	kasp_policy_t untouched = b;
	ck_assert_int_eq(kasp_policy_parse("new.yaml", bad, strlen(bad), diag, &b),
			 TANDEM_KASP_EPOLICY);
	ck_assert(has_msg(diag, TANDEM_KASP_EPOLICY, "new.yaml", 3, "validity"));
	ck_assert_mem_eq(&b, &untouched, sizeof(b));
	ts_rmtree(dir);
	tandem_diag_free(diag);
}
END_TEST

/* The stored document round-trips, names the text's SHA-256, and an altered text or header
 * is refused. */
START_TEST(test_policy_doc)
{
	static const char text[] = "policy: p1\n";
	uint8_t digest[KASP_POLICY_DIGEST_LEN], back[KASP_POLICY_DIGEST_LEN];
	char hex[KASP_POLICY_DIGEST_HEX], *doc = NULL;
	const char *t = NULL;
	size_t len = 0, tlen = 0;
	ck_assert_int_eq(kasp_policy_doc_pack(text, strlen(text), digest, &doc, &len), TANDEM_OK);
	/* sha256("policy: p1\n"), computed independently (Python hashlib) */
	ck_assert_str_eq(kasp_policy_digest_hex(digest, hex),
			 "eecdfcf2721d0635bbe5da86aecb71c6f6c6b845f20e59ed11ffb43f243b3aaa");
	ck_assert_int_eq(strncmp(doc, "tandem-policy v1 sha256=", 24), 0);
	ck_assert_int_eq(kasp_policy_doc_unpack((const uint8_t *)doc, len, back, &t, &tlen),
			 TANDEM_OK);
	ck_assert_mem_eq(back, digest, sizeof(digest));
	ck_assert_uint_eq(tlen, strlen(text));
	ck_assert_int_eq(memcmp(t, text, tlen), 0);
	doc[len - 2] = '2'; /* "p2": the text no longer matches its header */
	ck_assert_int_eq(kasp_policy_doc_unpack((const uint8_t *)doc, len, back, &t, &tlen),
			 TANDEM_KASP_EPOLICY);
	doc[0] = 'x';
	ck_assert_int_eq(kasp_policy_doc_unpack((const uint8_t *)doc, len, back, &t, &tlen),
			 TANDEM_ESYNTAX);
	ck_assert_int_eq(kasp_policy_doc_unpack((const uint8_t *)doc, 10, back, &t, &tlen),
			 TANDEM_ESYNTAX);
	free(doc);
	ck_assert(kasp_policy_name_ok("dps-default"));
	ck_assert(kasp_policy_name_ok("a.b_c-1"));
	ck_assert(!kasp_policy_name_ok(""));
	ck_assert(!kasp_policy_name_ok("a/b"));
	ck_assert(!kasp_policy_name_ok("a b"));
	char longname[80];
	memset(longname, 'a', 64);
	longname[64] = '\0';
	ck_assert(!kasp_policy_name_ok(longname));
	longname[63] = '\0';
	ck_assert(kasp_policy_name_ok(longname));
}
END_TEST

static Suite *kasp_suite(void)
{
	Suite *s = suite_create("kasp");
	TCase *tc = tcase_create("policy");
	tcase_add_test(tc, test_defaults_are_dps);
	tcase_add_test(tc, test_preset_dps_default);
	tcase_add_test(tc, test_preset_modern);
	tcase_add_test(tc, test_flow_and_block_agree);
	tcase_add_test(tc, test_partial_file_keeps_defaults);
	tcase_add_test(tc, test_duration_valid);
	tcase_add_test(tc, test_duration_invalid);
	tcase_add_test(tc, test_refuse_unknown_keys);
	tcase_add_test(tc, test_refuse_wrong_types);
	tcase_add_test(tc, test_refuse_duplicates_and_names);
	tcase_add_test(tc, test_all_errors_reported);
	tcase_add_test(tc, test_refuse_key_sizes_and_algorithms);
	tcase_add_test(tc, test_refuse_key_timing);
	tcase_add_test(tc, test_refuse_signature_timing);
	tcase_add_test(tc, test_key_roll_time);
	tcase_add_test(tc, test_refuse_denial);
	tcase_add_test(tc, test_refuse_ttls);
	tcase_add_test(tc, test_refuse_not_policies);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_check_in_memory);
	tcase_add_test(tc, test_input_keys);
	tcase_add_test(tc, test_archive_retention);
	tcase_add_test(tc, test_compare_keys);
	tcase_add_test(tc, test_review_keys);
	tcase_add_test(tc, test_parse_in_memory);
	tcase_add_test(tc, test_policy_doc);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(kasp_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
