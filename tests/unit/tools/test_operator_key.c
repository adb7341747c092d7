/* Unit tests of operator_key: an operator's Ed25519 key in a 0600 file or on a SoftHSMv2 token
 * signs what the coordinator verifies, byte for byte the same signature either way. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coord_approval.h"
#include "hsm.h"
#include "hsm_internal.h"
#include "operator_key.h"
#include "tandem_error.h"
#include "testsupport.h"

#if defined(__SANITIZE_ADDRESS__)
/* SoftHSM 2.6.1 leaks in every EdDSA C_SignInit (as tests/unit/hsm/test_hsm.c says). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_options(void);
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}
const char *__lsan_default_suppressions(void)
{
	return "leak:libsofthsm2.so\n";
}
const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}
#endif

#define WHO "test"

static const uint8_t MSG[] = "tandem approval v1\naction takeover\nargs site=B\n"
			     "expires 1796612821728\nrequest 3ca54ef22971eaa6\n";

/* A fixed seed (RFC 8032 7.1 test 1's secret key). */
static const uint8_t SEED[32] = {0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a,
				 0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32,
				 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60};

static void uri_of(const ts_token_t *t, const char *token, const char *object, char *buf,
		   size_t size)
{
	snprintf(buf, size, "pkcs11:token=%s;object=%s;pin-source=%s", token, object, t->pin_file);
}

START_TEST(token_keygen_signs_what_the_coordinator_verifies)
{
	ts_token_t t;
	ts_token_create(&t, "ops");
	uint8_t pub[COORD_APPROVAL_PUB_LEN], pub2[COORD_APPROVAL_PUB_LEN];
	uint8_t sig[COORD_APPROVAL_SIG_LEN];
	char tok[33], obj[65], uri[800];
	/* no object= in the URI: NAME labels the key */
	ck_assert_int_eq(opkey_token_keygen(WHO, t.uri, "sa9", pub, tok, obj), 0);
	ck_assert_str_eq(tok, "ops");
	ck_assert_str_eq(obj, "sa9");
	/* the label is taken now */
	ck_assert_int_eq(opkey_token_keygen(WHO, t.uri, "sa9", pub2, tok, obj), 2);
	/* neither object= nor a usable NAME */
	ck_assert_int_eq(opkey_token_keygen(WHO, t.uri, NULL, pub2, tok, obj), 1);
	ck_assert_int_eq(opkey_token_keygen(WHO, t.uri, "a b", pub2, tok, obj), 2);

	opkey_t *k = NULL;
	uri_of(&t, "ops", "sa9", uri, sizeof(uri));
	ck_assert_int_eq(opkey_open(WHO, uri, &k, pub2), 0);
	ck_assert_mem_eq(pub, pub2, sizeof(pub));
	ck_assert_int_eq(opkey_sign(WHO, k, MSG, sizeof(MSG) - 1, sig), 0);
	opkey_free(k);
	ck_assert(coord_approval_verify(pub, MSG, sizeof(MSG) - 1, sig));
	sig[10] ^= 0x01;
	ck_assert(!coord_approval_verify(pub, MSG, sizeof(MSG) - 1, sig));

	/* the PIN from TANDEM_PIN when the URI has no pin-source */
	snprintf(uri, sizeof(uri), "pkcs11:token=ops;object=sa9");
	setenv("TANDEM_PIN", t.pin, 1);
	k = NULL;
	ck_assert_int_eq(opkey_open(WHO, uri, &k, pub2), 0);
	ck_assert_mem_eq(pub, pub2, sizeof(pub));
	opkey_free(k);
	unsetenv("TANDEM_PIN");
	ts_token_destroy(&t);
}
END_TEST

START_TEST(wrong_pin_opens_nothing)
{
	ts_token_t t;
	ts_token_create(&t, "ops");
	uint8_t pub[COORD_APPROVAL_PUB_LEN];
	char tok[33], obj[65], uri[800], bad[400];
	ck_assert_int_eq(opkey_token_keygen(WHO, t.uri, "sa9", pub, tok, obj), 0);
	ts_write_file(t.dir, "wrong.pin", "271828\n", bad, sizeof(bad));
	ck_assert_int_eq(chmod(bad, 0600), 0);
	snprintf(uri, sizeof(uri), "pkcs11:token=ops;object=sa9;pin-source=%s", bad);
	opkey_t *k = NULL;
	ck_assert_int_eq(opkey_open(WHO, uri, &k, pub), 2);
	ck_assert_ptr_null(k);
	/* nor a key that is not there, nor a token that is not there */
	uri_of(&t, "ops", "nobody", uri, sizeof(uri));
	ck_assert_int_eq(opkey_open(WHO, uri, &k, pub), 2);
	uri_of(&t, "elsewhere", "sa9", uri, sizeof(uri));
	ck_assert_int_eq(opkey_open(WHO, uri, &k, pub), 2);
	ck_assert_ptr_null(k);
	ts_token_destroy(&t);
}
END_TEST

/* Puts SEED on the token as an Ed25519 pair labelled label (C_CreateObject), as a test only
 * can: tandem never makes a token key from a known seed. */
static void token_import_seed(ts_token_t *t, const char *label, const uint8_t pub[32])
{
	tandem_diag_t *d = NULL;
	hsm_module_t *m = NULL;
	hsm_uri_t *u = NULL;
	hsm_token_t *tok = NULL;
	ck_assert_int_eq(tandem_diag_new(&d), TANDEM_OK);
	ck_assert_int_eq(hsm_module_load(NULL, d, &m), TANDEM_OK);
	ck_assert_int_eq(hsm_uri_parse(t->uri, d, &u), TANDEM_OK);
	ck_assert_int_eq(hsm_token_open(m, u, NULL, 1, d, &tok), TANDEM_OK);
	static const uint8_t oid[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
	uint8_t point[34] = {0x04, 0x20};
	memcpy(point + 2, pub, 32);
	CK_OBJECT_CLASS cpriv = CKO_PRIVATE_KEY, cpub = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = CKK_EC_EDWARDS;
	CK_BBOOL yes = CK_TRUE;
	uint8_t id[] = {0x5e, 0xed};
	CK_ATTRIBUTE priv[] = {
	    {CKA_CLASS, &cpriv, sizeof(cpriv)},
	    {CKA_KEY_TYPE, &kt, sizeof(kt)},
	    {CKA_TOKEN, &yes, sizeof(yes)},
	    {CKA_PRIVATE, &yes, sizeof(yes)},
	    {CKA_SENSITIVE, &yes, sizeof(yes)},
	    {CKA_SIGN, &yes, sizeof(yes)},
	    {CKA_EC_PARAMS, (void *)oid, sizeof(oid)},
	    {CKA_VALUE, (void *)SEED, sizeof(SEED)},
	    {CKA_LABEL, (void *)label, strlen(label)},
	    {CKA_ID, id, sizeof(id)},
	};
	CK_ATTRIBUTE pubt[] = {
	    {CKA_CLASS, &cpub, sizeof(cpub)},
	    {CKA_KEY_TYPE, &kt, sizeof(kt)},
	    {CKA_TOKEN, &yes, sizeof(yes)},
	    {CKA_VERIFY, &yes, sizeof(yes)},
	    {CKA_EC_PARAMS, (void *)oid, sizeof(oid)},
	    {CKA_EC_POINT, point, sizeof(point)},
	    {CKA_LABEL, (void *)label, strlen(label)},
	    {CKA_ID, id, sizeof(id)},
	};
	CK_OBJECT_HANDLE h;
	CK_RV rv = tok->fl->C_CreateObject(tok->admin, priv, sizeof(priv) / sizeof(priv[0]), &h);
	ck_assert_msg(rv == CKR_OK, "C_CreateObject (private): %s", hsm_rv_name(rv));
	rv = tok->fl->C_CreateObject(tok->admin, pubt, sizeof(pubt) / sizeof(pubt[0]), &h);
	ck_assert_msg(rv == CKR_OK, "C_CreateObject (public): %s", hsm_rv_name(rv));
	hsm_token_close(tok);
	hsm_uri_free(u);
	hsm_module_free(m);
	tandem_diag_free(d);
}

START_TEST(token_and_file_signatures_are_the_same)
{
	ts_token_t t;
	ts_token_create(&t, "ops");
	/* the file key: the seed in hex, mode 0600 */
	char hex[2 * 32 + 2], path[400], uri[800];
	for (size_t i = 0; i < sizeof(SEED); i++) {
		snprintf(hex + 2 * i, 3, "%02x", SEED[i]);
	}
	strcat(hex, "\n");
	ts_write_file(t.dir, "op.secret", hex, path, sizeof(path));
	ck_assert_int_eq(chmod(path, 0644), 0);
	opkey_t *f = NULL;
	uint8_t pubf[COORD_APPROVAL_PUB_LEN], pubt[COORD_APPROVAL_PUB_LEN];
	uint8_t sigf[COORD_APPROVAL_SIG_LEN], sigt[COORD_APPROVAL_SIG_LEN];
	ck_assert_int_eq(opkey_open(WHO, path, &f, pubf), 2); /* others may read it */
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(opkey_open(WHO, path, &f, pubf), 0);
	ck_assert_int_eq(opkey_sign(WHO, f, MSG, sizeof(MSG) - 1, sigf), 0);
	opkey_free(f);

	token_import_seed(&t, "known", pubf);
	opkey_t *k = NULL;
	uri_of(&t, "ops", "known", uri, sizeof(uri));
	ck_assert_int_eq(opkey_open(WHO, uri, &k, pubt), 0);
	ck_assert_int_eq(opkey_sign(WHO, k, MSG, sizeof(MSG) - 1, sigt), 0);
	opkey_free(k);
	/* Ed25519 is deterministic: the same key gives the same bytes on the token and off it */
	ck_assert_mem_eq(pubt, pubf, sizeof(pubf));
	ck_assert_mem_eq(sigt, sigf, sizeof(sigf));
	ck_assert(coord_approval_verify(pubt, MSG, sizeof(MSG) - 1, sigt));
	ts_token_destroy(&t);
}
END_TEST

static Suite *opkey_suite(void)
{
	Suite *s = suite_create("operator_key");
	TCase *tc = tcase_create("softhsm");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, token_keygen_signs_what_the_coordinator_verifies);
	tcase_add_test(tc, wrong_pin_opens_nothing);
	tcase_add_test(tc, token_and_file_signatures_are_the_same);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(opkey_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
