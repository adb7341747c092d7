/* The pipeline on a private SoftHSM token: a full run, a refused input, the serial rules, the
 * gate's DS trust anchor (given, or the DS set of a key set), a shadow run. */
#include "crypto.h"
#include "pipeline.h"
#include "tandem_error.h"
#include "testsupport.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NOW 1795000000u /* 2026-11-18, a fixed signing time */

static const char *ZONE = "$ORIGIN example.\n"
			  "$TTL 3600\n"
			  "@ SOA ns1 hostmaster 2026010100 3600 900 604800 300\n"
			  "@ NS ns1\n"
			  "ns1 A 192.0.2.1\n"
			  "www A 192.0.2.2\n"
			  "sec NS ns.sec\n"
			  "sec DS 12345 8 2 "
			  "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789\n"
			  "ns.sec A 192.0.2.4\n";

/* line 4 is broken */
static const char *BAD_ZONE = "$ORIGIN example.\n"
			      "$TTL 3600\n"
			      "@ SOA ns1 hostmaster 2026010100 3600 900 604800 300\n"
			      "www A 192.0.2.999\n"
			      "@ NS ns1\n";

typedef struct fixture {
	ts_token_t tok;
	char dir[256];
	char zone_path[512];
	char bad_path[512];
	char out_path[512];
	hsm_module_t *module;
	hsm_token_t *token;
	const hsm_key_t *ksk, *zsk, *other;
	signer_key_t keys[2];
	tandem_diag_t *diag;
	kasp_keyset_t *set;
	int opened; /* calls of the keys hook */
} fixture_t;

static fixture_t F;

static const hsm_key_t *make_key(const char *label, unsigned bits)
{
	char text[800];
	hsm_uri_t *uri = NULL;
	const hsm_key_t *key = NULL;
	snprintf(text, sizeof(text), "pkcs11:token=pipe-test;object=%s", label);
	ck_assert_int_eq(hsm_uri_parse(text, F.diag, &uri), TANDEM_OK);
	hsm_keyspec_t spec = {.algorithm = HSM_ALG_RSASHA256, .bits = bits};
	ck_assert_int_eq(hsm_token_generate_key(F.token, uri, &spec, F.diag, &key), TANDEM_OK);
	hsm_uri_free(uri);
	return key;
}

/* Adds key to F.set as a KSK whose DS is in state ds. */
static void set_add_ksk(const hsm_key_t *key, kasp_ds_state_t ds)
{
	uint8_t rd[1024];
	size_t len = sizeof(rd);
	ck_assert_int_eq(hsm_key_dnskey_rdata(key, 257, rd, &len), TANDEM_OK);
	uint32_t id = 0;
	ck_assert_int_eq(kasp_keyset_add(F.set, KASP_ROLE_KSK, HSM_ALG_RSASHA256, 1024,
					 hsm_key_label(key), rd, len, true, NOW - 86400, &id),
			 TANDEM_OK);
	kasp_keyset_find(F.set, id)->ds = ds;
}

static void setup(void)
{
	memset(&F, 0, sizeof(F));
	ts_token_create(&F.tok, "pipe-test");
	ts_tmpdir(F.dir, sizeof(F.dir));
	ts_write_file(F.dir, "example.zone", ZONE, F.zone_path, sizeof(F.zone_path));
	ts_write_file(F.dir, "bad.zone", BAD_ZONE, F.bad_path, sizeof(F.bad_path));
	snprintf(F.out_path, sizeof(F.out_path), "%s/example.signed", F.dir);
	ck_assert_int_eq(tandem_diag_new(&F.diag), TANDEM_OK);
	ck_assert_int_eq(hsm_module_load(NULL, F.diag, &F.module), TANDEM_OK);
	hsm_uri_t *uri = NULL;
	ck_assert_int_eq(hsm_uri_parse(F.tok.uri, F.diag, &uri), TANDEM_OK);
	ck_assert_int_eq(hsm_token_open(F.module, uri, NULL, 2, F.diag, &F.token), TANDEM_OK);
	hsm_uri_free(uri);
	F.ksk = make_key("ksk", 1024);
	F.zsk = make_key("zsk", 1024);
	F.other = make_key("other", 1024);
	F.keys[0] = (signer_key_t){.key = F.ksk, .ksk = true};
	F.keys[1] = (signer_key_t){.key = F.zsk, .zsk = true};
	F.set = calloc(1, sizeof(*F.set));
	ck_assert_ptr_nonnull(F.set);
	ck_assert_int_eq(kasp_keyset_init(F.set, "example."), TANDEM_OK);
}

static void teardown(void)
{
	free(F.set);
	hsm_token_close(F.token);
	hsm_module_free(F.module);
	tandem_diag_free(F.diag);
	ts_rmtree(F.dir);
	ts_token_destroy(&F.tok);
}

static int open_keys(void *arg, pipeline_keys_t *keys, tandem_diag_t *diag)
{
	(void)diag;
	fixture_t *f = arg;
	f->opened++;
	*keys = (pipeline_keys_t){.keys = f->keys, .nkeys = 2, .token = f->token};
	return TANDEM_OK;
}

/* A full run's request: the policy defaults at NOW, the keys through the hook. */
static pipeline_req_t request(void)
{
	kasp_policy_t policy;
	kasp_policy_defaults(&policy);
	pipeline_req_t req = {.kind = PIPELINE_FULL,
			      .input = F.zone_path,
			      .open_keys = open_keys,
			      .open_keys_arg = &F,
			      .gate_threads = 2,
			      .out = F.out_path,
			      .digest = true};
	pipeline_load_opts(&policy, "example.", &req.load);
	pipeline_signer_conf(&policy, NOW, &req.conf);
	req.conf.nsec3_salt_len = 0;
	req.conf.threads = 2;
	return req;
}

/* Files in the test's dir besides the two inputs (temporary files included). */
static int other_files(void)
{
	DIR *d = opendir(F.dir);
	ck_assert_ptr_nonnull(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		n += e->d_name[0] != '.' && strcmp(e->d_name, "example.zone") != 0 &&
		     strcmp(e->d_name, "bad.zone") != 0;
	}
	closedir(d);
	return n;
}

/* Whether diag holds a message containing text. */
static bool diag_has(const tandem_diag_t *diag, const char *text)
{
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		if (strstr(tandem_diag_msg(diag, i), text) != NULL) {
			return true;
		}
	}
	return false;
}

START_TEST(full_run)
{
	pipeline_req_t req = request();
	pipeline_result_t res;
	pipeline_result_init(&res);
	ck_assert_int_eq(pipeline_run(&req, &res, F.diag), TANDEM_OK);
	ck_assert_int_eq(res.stage, PIPELINE_STAGE_DONE);
	ck_assert_int_eq(F.opened, 1);
	ck_assert_uint_eq(res.input_serial, 2026010100u);
	ck_assert_uint_eq(res.serial, 2026010101u); /* increment */
	ck_assert_uint_gt(res.sign.signatures, 5);
	ck_assert_uint_gt(res.records, res.sign.signatures);
	ck_assert_uint_gt(res.gate.signatures, 0);
	ck_assert_ptr_nonnull(res.zone);
	ck_assert(res.seconds_total >= res.seconds_sign);
	/* written beside the target, not renamed: the caller commits */
	struct stat st;
	ck_assert_int_ne(stat(F.out_path, &st), 0);
	ck_assert_int_eq(other_files(), 1);
	tandem_afile_t *file = pipeline_result_file_take(&res);
	ck_assert_ptr_nonnull(file);
	ck_assert_int_eq(tandem_afile_commit(file), TANDEM_OK);
	/* the digest is the zone digest v1 of the signed zone: the same for the zone in
	 * memory and for the written file loaded back (a restart's check) */
	uint8_t digest[32];
	ck_assert_int_eq(dns_zone_digest(res.zone, digest), TANDEM_OK);
	ck_assert_mem_eq(digest, res.digest, 32);
	ck_assert_ptr_nonnull(res.tree);
	ck_assert_ptr_null(res.changeset); /* no base: no difference */
	char line[256];
	pipeline_result_summary(&res, line, sizeof(line));
	ck_assert_ptr_nonnull(strstr(line, "serial 2026010101, "));
	ck_assert_ptr_nonnull(strstr(line, " s (full, "));
	ck_assert_ptr_null(strstr(line, ", pair ")); /* nothing to pair with */
	ck_assert(!res.gate.incremental);
	ck_assert_uint_eq(res.gate.verified, res.gate.signatures);
	/* the written zone is the signed one: it passes the gate again, loaded as signed */
	dns_zone_t *z = NULL;
	dns_load_opts_t lo = {.origin = "example.", .keep_dnssec = true};
	ck_assert_int_eq(dns_zone_load(F.out_path, &lo, F.diag, &z), TANDEM_OK);
	ck_assert_int_eq(dns_zone_digest(z, digest), TANDEM_OK);
	ck_assert_mem_eq(digest, res.digest, 32);
	verify_conf_t vc = {.now = NOW, .threads = 1};
	ck_assert_int_eq(verify_zone(z, &vc, F.diag, NULL), TANDEM_OK);
	dns_zone_free(z);
	pipeline_result_deinit(&res);
	ck_assert_ptr_null(res.zone);
}
END_TEST

START_TEST(bad_input_refused)
{
	pipeline_req_t req = request();
	req.input = F.bad_path;
	pipeline_result_t res;
	pipeline_result_init(&res);
	ck_assert_int_ne(pipeline_run(&req, &res, F.diag), TANDEM_OK);
	ck_assert_int_eq(res.stage, PIPELINE_STAGE_LOAD);
	char where[600];
	snprintf(where, sizeof(where), "%s:4:", F.bad_path);
	ck_assert_msg(diag_has(F.diag, where), "no '%s' in: %s", where, tandem_diag_msg(F.diag, 0));
	ck_assert_int_eq(F.opened, 0); /* no HSM work for a refused input */
	ck_assert_int_eq(other_files(), 0);
	ck_assert_ptr_null(res.file);
	ck_assert_ptr_null(res.zone);
	/* a missing input likewise, and a request with neither input nor zone */
	req.input = "/nonexistent/zone";
	ck_assert_int_ne(pipeline_run(&req, &res, F.diag), TANDEM_OK);
	ck_assert_int_eq(res.stage, PIPELINE_STAGE_LOAD);
	req.input = NULL;
	ck_assert_int_eq(pipeline_run(&req, &res, F.diag), TANDEM_EINVAL);
	ck_assert_int_eq(other_files(), 0);
	pipeline_result_deinit(&res);
}
END_TEST

START_TEST(serial_rules)
{
	pipeline_req_t req = request();
	req.out = NULL;
	pipeline_result_t res;
	pipeline_result_init(&res);
	/* above the committed serial, into the site's class (B: odd) */
	req.has_committed = true;
	req.committed = 2026010150u;
	req.residue = 1;
	req.modulus = 2;
	ck_assert_int_eq(pipeline_run(&req, &res, F.diag), TANDEM_OK);
	ck_assert_uint_eq(res.serial, 2026010151u);
	ck_assert_ptr_null(res.file);
	/* site A (even) */
	req.residue = 0;
	ck_assert_int_eq(pipeline_run(&req, &res, F.diag), TANDEM_OK);
	ck_assert_uint_eq(res.serial, 2026010152u);
	/* keep: the input's serial when it is above and in class */
	req.conf.serial_mode = TANDEM_SERIAL_KEEP;
	req.has_committed = false;
	ck_assert_int_eq(pipeline_run(&req, &res, F.diag), TANDEM_OK);
	ck_assert_uint_eq(res.serial, 2026010100u);
	/* unixtime behind the input's serial (2026... > NOW): the input's + 1, in class */
	req.conf.serial_mode = TANDEM_SERIAL_UNIXTIME;
	ck_assert_int_eq(pipeline_run(&req, &res, F.diag), TANDEM_OK);
	ck_assert_uint_eq(res.serial, 2026010102u);
	/* exactly the committed one (a standby's shadow run) */
	req.conf.has_serial_exact = true;
	req.conf.serial_exact = 77;
	ck_assert_int_eq(pipeline_run(&req, &res, F.diag), TANDEM_OK);
	ck_assert_uint_eq(res.serial, 77);
	/* no serial 2^31 or more ahead of the committed one: the mode's 2026010101 is just
	 * above it, the class (even) would be 2^31 ahead: refused before signing */
	req.conf.has_serial_exact = false;
	req.conf.serial_mode = TANDEM_SERIAL_INCREMENT;
	req.has_committed = true;
	req.committed = 2026010101u - 0x7fffffffu;
	req.residue = 0;
	tandem_diag_clear(F.diag);
	ck_assert_int_eq(pipeline_run(&req, &res, F.diag), TANDEM_SIGNER_ESERIAL);
	ck_assert_int_eq(res.stage, PIPELINE_STAGE_SERIAL);
	ck_assert(diag_has(F.diag, "no serial above the committed"));
	pipeline_result_deinit(&res);
}
END_TEST

/* The gate refuses a DNSKEY RRset that no DS of the trust anchor matches, and nothing is
 * left written. */
START_TEST(gate_refuses_wrong_ds)
{
	pipeline_req_t req = request();
	pipeline_result_t res;
	pipeline_result_init(&res);
	uint8_t rd[1024], ds[64];
	size_t len = sizeof(rd), dlen = sizeof(ds);
	ck_assert_int_eq(hsm_key_dnskey_rdata(F.other, 257, rd, &len), TANDEM_OK);
	const uint8_t origin[] = "\7example";
	ck_assert_int_eq(
	    crypto_ds_from_dnskey(origin, sizeof(origin), rd, len, CRYPTO_DS_SHA256, ds, &dlen),
	    TANDEM_OK);
	const uint8_t *list[1] = {ds};
	req.ds = list;
	req.ds_count = 1;
	tandem_diag_t *gd = NULL;
	ck_assert_int_eq(tandem_diag_new(&gd), TANDEM_OK);
	req.gate_diag = gd;
	ck_assert_int_eq(pipeline_run(&req, &res, F.diag), TANDEM_VERIFY_EFAIL);
	ck_assert_int_eq(res.stage, PIPELINE_STAGE_GATE);
	ck_assert_uint_ge(res.gate.failures, 1);
	ck_assert(diag_has(gd, "trust anchor"));
	ck_assert_ptr_null(res.file);
	ck_assert_int_eq(other_files(), 0);
	/* the same DS in a shadow run: not gated, signed and hashed */
	req.no_gate = true;
	ck_assert_int_eq(pipeline_run(&req, &res, F.diag), TANDEM_OK);
	ck_assert_ptr_nonnull(res.file);
	pipeline_result_deinit(&res);
	ck_assert_int_eq(other_files(), 0); /* deinit removed the shadow's file */
	tandem_diag_free(gd);
}
END_TEST

/* tandemd's anchor: the DS set the parent serves by the key set's state. */
START_TEST(gate_anchor_from_keyset)
{
	pipeline_req_t req = request();
	req.out = NULL;
	req.ds_keys = F.set;
	pipeline_result_t res;
	pipeline_result_init(&res);
	/* the signing KSK's DS only submitted: the parent serves none, a SEP key will do */
	set_add_ksk(F.ksk, KASP_DS_SUBMIT);
	ck_assert_int_eq(pipeline_run(&req, &res, F.diag), TANDEM_OK);
	/* another KSK's DS seen: the DNSKEY RRset signed by ours alone is refused */
	set_add_ksk(F.other, KASP_DS_SEEN);
	ck_assert_int_eq(pipeline_run(&req, &res, F.diag), TANDEM_VERIFY_EFAIL);
	ck_assert_int_eq(res.stage, PIPELINE_STAGE_GATE);
	/* ours seen as well (a double-DS rollover): passes */
	F.set->keys[0].ds = KASP_DS_SEEN;
	ck_assert_int_eq(pipeline_run(&req, &res, F.diag), TANDEM_OK);
	/* ours being retracted, the other gone: still served, passes */
	F.set->keys[0].ds = KASP_DS_RETRACT;
	F.set->keys[1].ds = KASP_DS_GONE;
	ck_assert_int_eq(pipeline_run(&req, &res, F.diag), TANDEM_OK);
	/* a parent's own view (ids): only the other key's DS */
	uint32_t ids[1] = {F.set->keys[1].id};
	req.ds_ids = ids;
	req.ds_nids = 1;
	ck_assert_int_eq(pipeline_run(&req, &res, F.diag), TANDEM_VERIFY_EFAIL);
	ids[0] = F.set->keys[0].id;
	ck_assert_int_eq(pipeline_run(&req, &res, F.diag), TANDEM_OK);
	pipeline_result_deinit(&res);
}
END_TEST

static int open_keys_presign(void *arg, pipeline_keys_t *keys, tandem_diag_t *diag)
{
	(void)diag;
	fixture_t *f = arg;
	static signer_key_t three[3];
	three[0] = f->keys[0];
	three[1] = f->keys[1];
	three[2] = (signer_key_t){.key = f->other, .zsk = true, .unpublished = true};
	*keys = (pipeline_keys_t){.keys = three, .nkeys = 3, .token = f->token};
	return TANDEM_OK;
}

/* An algorithm rollover's first step (RFC 6781 4.1.4): a key signs before its DNSKEY is
 * published. The gate lets its RRSIGs through (tandemd's own gate used to refuse them). */
START_TEST(gate_allows_unpublished_signer)
{
	pipeline_req_t req = request();
	req.out = NULL;
	req.open_keys = open_keys_presign;
	pipeline_result_t res;
	pipeline_result_init(&res);
	ck_assert_int_eq(pipeline_run(&req, &res, F.diag), TANDEM_OK);
	ck_assert_int_eq(res.stage, PIPELINE_STAGE_DONE);
	/* two ZSKs sign: twice the data RRSIGs of a plain run */
	size_t with = res.sign.signatures;
	req.open_keys = open_keys;
	ck_assert_int_eq(pipeline_run(&req, &res, F.diag), TANDEM_OK);
	ck_assert_uint_gt(with, res.sign.signatures);
	pipeline_result_deinit(&res);
}
END_TEST

/* A zone the caller loaded is signed in place and stays the caller's; an update carries the
 * previous zone (reuse comes with the signer's). */
START_TEST(given_zone_and_update)
{
	pipeline_req_t req = request();
	req.out = NULL;
	dns_zone_t *z = NULL;
	ck_assert_int_eq(dns_zone_load(F.zone_path, &req.load, F.diag, &z), TANDEM_OK);
	pipeline_result_t res;
	pipeline_result_init(&res);
	req.zone = z;
	req.input = NULL;
	ck_assert_int_eq(pipeline_run(&req, &res, F.diag), TANDEM_OK);
	ck_assert_ptr_null(res.zone);
	ck_assert_ptr_nonnull(dns_node_rrset(dns_zone_apex(z), DNS_TYPE_DNSKEY));
	size_t full_verified = res.gate.verified;
	ck_assert(!res.gate.incremental);
	/* the next cycle as an update of it */
	pipeline_req_t next = request();
	next.out = NULL;
	next.kind = PIPELINE_UPDATE;
	next.previous = z;
	/* ... whose difference from it is the changeset, and whose digest is updated by it */
	dns_digest_t *tree = pipeline_result_tree_take(&res);
	ck_assert_ptr_nonnull(tree);
	next.diff_base = z;
	next.diff_base_tree = tree;
	next.conf.serial_exact = 2026010105u;
	next.conf.has_serial_exact = true;
	ck_assert_int_eq(pipeline_run(&next, &res, F.diag), TANDEM_OK);
	ck_assert_uint_eq(res.serial, 2026010105u);
	ck_assert(!res.gate.incremental); /* not asked for: the whole zone */
	ck_assert_uint_eq(res.gate.verified, full_verified);
	/* the previous version passed the gate: only what changed (the SOA, at the apex) */
	pipeline_result_deinit(&res);
	next.gate_incremental = true;
	ck_assert_int_eq(pipeline_run(&next, &res, F.diag), TANDEM_OK);
	ck_assert(res.gate.incremental);
	ck_assert_uint_gt(res.gate.verified, 0);
	ck_assert_uint_lt(res.gate.verified, full_verified);
	char line[400];
	pipeline_result_summary(&res, line, sizeof(line));
	char want[64];
	snprintf(want, sizeof(want), " s (incremental, %zu verified), ", res.gate.verified);
	ck_assert_msg(strstr(line, want) != NULL, "%s", line);
	/* one pairing of the two versions, for the gate and the digest's difference */
	ck_assert(res.paired);
	ck_assert_msg(strstr(line, ", pair ") != NULL, "%s", line);
	dns_zone_t *signed_zone = pipeline_result_zone_take(&res);
	ck_assert_ptr_nonnull(signed_zone);
	dns_changeset_t *cs = pipeline_result_changeset_take(&res);
	ck_assert_ptr_nonnull(cs);
	ck_assert_uint_eq(dns_changeset_serial(cs, false), 2026010101u);
	ck_assert_uint_eq(dns_changeset_serial(cs, true), 2026010105u);
	ck_assert_uint_gt(dns_changeset_size(cs), 0); /* the SOA's RRSIGs at least */
	uint8_t full[32];
	ck_assert_int_eq(dns_zone_digest(signed_zone, full), TANDEM_OK);
	ck_assert_mem_eq(full, res.digest, 32);
	dns_zone_t *applied = NULL;
	ck_assert_int_eq(dns_zone_apply(z, cs, &applied), TANDEM_OK);
	ck_assert_int_eq(dns_zone_digest(applied, full), TANDEM_OK);
	ck_assert_mem_eq(full, res.digest, 32);
	dns_zone_free(applied);
	dns_changeset_free(cs);
	dns_digest_free(tree);
	dns_zone_free(signed_zone);
	pipeline_result_deinit(&res);
	dns_zone_free(z);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pipeline");
	TCase *tc = tcase_create("pipeline");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, full_run);
	tcase_add_test(tc, bad_input_refused);
	tcase_add_test(tc, serial_rules);
	tcase_add_test(tc, gate_refuses_wrong_ds);
	tcase_add_test(tc, gate_anchor_from_keyset);
	tcase_add_test(tc, gate_allows_unpublished_signer);
	tcase_add_test(tc, given_zone_and_update);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
