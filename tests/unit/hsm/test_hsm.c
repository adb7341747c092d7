/* Unit tests of the hsm module: URIs, modules, tokens, keygen, DNSKEY encoding and signing on
 * SoftHSMv2. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ldns/ldns.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "hsm.h"
#include "hsm_internal.h"
#include "hsm_smk.h"
#include "tandem_error.h"
#include "testsupport.h"

#define SOFTHSM_PATH "/usr/lib/softhsm/libsofthsm2.so"

#if defined(__SANITIZE_ADDRESS__)
/*
 * SoftHSM 2.6.1 leaks an ASN1 object in every EdDSA C_SignInit
 * (OSSL::byteString2oid; fixed upstream by SoftHSMv2 PRs #858 and #863).
 * The leak is theirs, not ours: let LeakSanitizer ignore that library only.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_options(void);
const char *__asan_default_options(void);
/* The leak's stack passes through libcrypto, which has no frame pointers:
 * without the slow unwinder the suppression cannot see libsofthsm2.so. */
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

/* ---- helpers ---- */

static bool diag_has(const tandem_diag_t *d, const char *needle)
{
	for (size_t i = 0; i < tandem_diag_kept(d); i++) {
		if (strstr(tandem_diag_msg(d, i), needle) != NULL) {
			return true;
		}
	}
	return false;
}

static hsm_uri_t *uri_must(const char *text)
{
	hsm_uri_t *u = NULL;
	ck_assert_int_eq(hsm_uri_parse(text, NULL, &u), TANDEM_OK);
	return u;
}

/* A fresh token with the module loaded and the token opened with `sessions` sessions. */
struct fixture {
	ts_token_t t;
	tandem_diag_t *diag;
	hsm_module_t *mod;
	hsm_token_t *tok;
};

static void fx_open(struct fixture *fx, unsigned sessions)
{
	hsm_uri_t *u = uri_must(fx->t.uri);
	int ret = hsm_token_open(fx->mod, u, NULL, sessions, fx->diag, &fx->tok);
	hsm_uri_free(u);
	ck_assert_msg(ret == TANDEM_OK, "open: %s (%s)", tandem_strerror(ret),
		      tandem_diag_kept(fx->diag) ? tandem_diag_msg(fx->diag, 0) : "");
}

static void fx_setup(struct fixture *fx, unsigned sessions)
{
	memset(fx, 0, sizeof(*fx));
	ts_token_create(&fx->t, "tandem-test");
	ck_assert_int_eq(tandem_diag_new(&fx->diag), TANDEM_OK);
	ck_assert_int_eq(hsm_module_load(SOFTHSM_PATH, fx->diag, &fx->mod), TANDEM_OK);
	fx_open(fx, sessions);
}

static void fx_teardown(struct fixture *fx)
{
	hsm_token_close(fx->tok);
	hsm_module_free(fx->mod);
	tandem_diag_free(fx->diag);
	ts_token_destroy(&fx->t);
}

static const hsm_key_t *gen_must(struct fixture *fx, const char *label, uint8_t alg, unsigned bits)
{
	char text[256];
	snprintf(text, sizeof(text), "pkcs11:object=%s", label);
	hsm_uri_t *u = uri_must(text);
	hsm_keyspec_t spec = {.algorithm = alg, .bits = bits};
	const hsm_key_t *key = NULL;
	int ret = hsm_token_generate_key(fx->tok, u, &spec, fx->diag, &key);
	hsm_uri_free(u);
	ck_assert_msg(ret == TANDEM_OK, "keygen %s alg %u: %s (%s)", label, alg,
		      tandem_strerror(ret),
		      tandem_diag_kept(fx->diag) ? tandem_diag_msg(fx->diag, 0) : "");
	ck_assert_ptr_nonnull(key);
	return key;
}

static CK_BBOOL attr_bool(struct fixture *fx, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL v = 0xAA;
	CK_ATTRIBUTE a = {type, &v, sizeof(v)};
	ck_assert_int_eq(fx->tok->fl->C_GetAttributeValue(fx->tok->admin, obj, &a, 1), CKR_OK);
	return v;
}

/* An OpenSSL public key rebuilt from DNSKEY RDATA alone, as a validator would. */
static EVP_PKEY *pkey_from_dnskey(const uint8_t *rdata, size_t len)
{
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	BIGNUM *n = NULL, *e = NULL;
	uint8_t point[97]; /* the builder keeps a pointer to it until to_param */
	uint8_t alg = rdata[3];
	const uint8_t *k = rdata + 4;
	size_t klen = len - 4;
	ck_assert_ptr_nonnull(bld);
	if (alg == HSM_ALG_RSASHA256 || alg == HSM_ALG_RSASHA512) {
		size_t elen = k[0];
		ck_assert_uint_ne(elen, 0);
		e = BN_bin2bn(k + 1, (int)elen, NULL);
		n = BN_bin2bn(k + 1 + elen, (int)(klen - 1 - elen), NULL);
		ck_assert(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n));
		ck_assert(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e));
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	} else if (alg == HSM_ALG_ECDSAP256SHA256 || alg == HSM_ALG_ECDSAP384SHA384) {
		ck_assert_uint_eq(klen, alg == HSM_ALG_ECDSAP256SHA256 ? 64 : 96);
		point[0] = 0x04;
		memcpy(point + 1, k, klen);
		ck_assert(OSSL_PARAM_BLD_push_utf8_string(
		    bld, OSSL_PKEY_PARAM_GROUP_NAME,
		    alg == HSM_ALG_ECDSAP256SHA256 ? "P-256" : "P-384", 0));
		ck_assert(OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
							   klen + 1));
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	} else {
		ck_assert_uint_eq(alg, HSM_ALG_ED25519);
		ck_assert_uint_eq(klen, 32);
		pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, k, klen);
		ck_assert_ptr_nonnull(pkey);
		goto out;
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(EVP_PKEY_fromdata_init(ctx), 1);
	ck_assert_int_eq(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params), 1);
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(n);
	BN_free(e);
	return pkey;
}

/* Verifies a DNSSEC-encoded signature with OpenSSL against the key in the DNSKEY RDATA. */
static bool verify_dnskey(const uint8_t *rdata, size_t rlen, const uint8_t *data, size_t dlen,
			  const uint8_t *sig, size_t slen)
{
	EVP_PKEY *pkey = pkey_from_dnskey(rdata, rlen);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t der[128];
	const uint8_t *s = sig;
	size_t sl = slen;
	const EVP_MD *md = NULL;
	switch (rdata[3]) {
	case HSM_ALG_RSASHA256: md = EVP_sha256(); break;
	case HSM_ALG_RSASHA512: md = EVP_sha512(); break;
	case HSM_ALG_ECDSAP256SHA256: md = EVP_sha256(); break;
	case HSM_ALG_ECDSAP384SHA384: md = EVP_sha384(); break;
	default: md = NULL; break;
	}
	if (rdata[3] == HSM_ALG_ECDSAP256SHA256 || rdata[3] == HSM_ALG_ECDSAP384SHA384) {
		/* r||s to the DER that OpenSSL verifies. */
		ECDSA_SIG *es = ECDSA_SIG_new();
		BIGNUM *r = BN_bin2bn(sig, (int)slen / 2, NULL);
		BIGNUM *ss = BN_bin2bn(sig + slen / 2, (int)slen / 2, NULL);
		ck_assert(ECDSA_SIG_set0(es, r, ss));
		uint8_t *p = der;
		int n = i2d_ECDSA_SIG(es, &p);
		ck_assert_int_gt(n, 0);
		ECDSA_SIG_free(es);
		s = der;
		sl = (size_t)n;
	}
	ck_assert_int_eq(EVP_DigestVerifyInit(ctx, NULL, md, NULL, pkey), 1);
	bool ok = EVP_DigestVerify(ctx, s, sl, data, dlen) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return ok;
}

static void sign_and_verify(struct fixture *fx, const hsm_key_t *key, unsigned session)
{
	uint8_t rdata[HSM_DNSKEY_MAX], sig[HSM_SIG_MAX];
	size_t rlen = 0, slen = 0;
	static const uint8_t data[] = "\x00\x30\x08\x02\x00\x00\x0e\x10 the RRSIG signed data";
	ck_assert_int_eq(hsm_key_dnskey_rdata(key, 256, rdata, &rlen), TANDEM_OK);
	ck_assert_int_eq(hsm_token_sign(fx->tok, session, key, data, sizeof(data), sig, &slen),
			 TANDEM_OK);
	ck_assert_msg(verify_dnskey(rdata, rlen, data, sizeof(data), sig, slen),
		      "signature of %s does not verify", hsm_key_label(key));
	/* A flipped bit must fail, or the check above proves nothing. */
	sig[slen / 2] ^= 0x01;
	ck_assert(!verify_dnskey(rdata, rlen, data, sizeof(data), sig, slen));
}

/* ---- URIs ---- */

START_TEST(uri_valid)
{
	hsm_uri_t *u = uri_must("pkcs11:token=siteA;object=zsk-2026q4;pin-source=/path");
	ck_assert_str_eq(hsm_uri_token(u), "siteA");
	ck_assert_str_eq(hsm_uri_object(u), "zsk-2026q4");
	ck_assert_str_eq(hsm_uri_pin_source(u), "/path");
	ck_assert_ptr_null(hsm_uri_module(u));
	size_t n = 99;
	ck_assert_ptr_null(hsm_uri_id(u, &n));
	hsm_uri_free(u);

	u = uri_must("pkcs11:token=a;serial=0123;model=SoftHSM%20v2;slot-id=7;type=private"
		     "?pin-source=file:/p&module-name=softhsm2");
	ck_assert_str_eq(hsm_uri_token(u), "a");
	ck_assert_str_eq(hsm_uri_pin_source(u), "file:/p");
	ck_assert_str_eq(hsm_uri_module(u), "softhsm2");
	ck_assert_str_eq(u->model, "SoftHSM v2");
	ck_assert(u->has_slot_id);
	ck_assert_uint_eq(u->slot_id, 7);
	hsm_uri_free(u);

	u = uri_must("pkcs11:token=a?module-name=x&module-path=/usr/lib/x.so");
	ck_assert_str_eq(hsm_uri_module(u), "/usr/lib/x.so"); /* the path wins */
	hsm_uri_free(u);

	u = uri_must("pkcs11:");
	ck_assert_ptr_null(hsm_uri_token(u));
	hsm_uri_free(u);
	u = uri_must("PKCS11:library-description=x;x-vendor=1");
	hsm_uri_free(u);
}
END_TEST

START_TEST(uri_percent)
{
	hsm_uri_t *u = uri_must("pkcs11:token=site%20A;object=a%3bb%3D%25;id=%01%02%fF%00");
	ck_assert_str_eq(hsm_uri_token(u), "site A");
	ck_assert_str_eq(hsm_uri_object(u), "a;b=%");
	size_t n = 0;
	const uint8_t *id = hsm_uri_id(u, &n);
	ck_assert_ptr_nonnull(id);
	ck_assert_uint_eq(n, 4);
	ck_assert_mem_eq(id, "\x01\x02\xff\x00", 4);
	hsm_uri_free(u);

	u = uri_must("pkcs11:id=ab");
	id = hsm_uri_id(u, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_mem_eq(id, "ab", 2);
	hsm_uri_free(u);
}
END_TEST

START_TEST(uri_pin_value_refused)
{
	tandem_diag_t *d = NULL;
	hsm_uri_t *u = NULL;
	ck_assert_int_eq(tandem_diag_new(&d), TANDEM_OK);
	ck_assert_int_eq(hsm_uri_parse("pkcs11:token=a;pin-value=s3cr3t", d, &u), TANDEM_HSM_EURI);
	ck_assert_int_eq(hsm_uri_parse("pkcs11:token=a?pin-value=s3cr3t", d, &u), TANDEM_HSM_EURI);
	ck_assert_ptr_null(u);
	ck_assert(diag_has(d, "pin-value"));
	ck_assert(!diag_has(d, "s3cr3t"));
	tandem_diag_free(d);
}
END_TEST

START_TEST(uri_garbage_refused)
{
	static const char *const bad[] = {
	    "http://example/",
	    "pkcs11",
	    "pkcs11:token",
	    "pkcs11:=x",
	    "pkcs11:token=a;;object=b",
	    "pkcs11:tokne=a",
	    "pkcs11:token=a;token=b",
	    "pkcs11:id=%zz",
	    "pkcs11:id=%0",
	    "pkcs11:object=%",
	    "pkcs11:token=a%00b",
	    "pkcs11:slot-id=abc",
	    "pkcs11:slot-id=-1",
	    "pkcs11:type=banana",
	    "pkcs11:token=a?pin-source=/x&pin-source=/y",
	};
	tandem_diag_t *d = NULL;
	ck_assert_int_eq(tandem_diag_new(&d), TANDEM_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hsm_uri_t *u = NULL;
		tandem_diag_clear(d);
		ck_assert_msg(hsm_uri_parse(bad[i], d, &u) == TANDEM_HSM_EURI, "accepted %s",
			      bad[i]);
		ck_assert_ptr_null(u);
		ck_assert_msg(tandem_diag_count(d) == 1, "no message for %s", bad[i]);
	}
	ck_assert_int_eq(hsm_uri_parse(NULL, d, NULL), TANDEM_EINVAL);
	tandem_diag_free(d);
}
END_TEST

/* ---- modules ---- */

START_TEST(module_load_by_path_and_name)
{
	ts_token_t t;
	ts_token_create(&t, "mod");
	tandem_diag_t *d = NULL;
	hsm_module_t *m = NULL;
	ck_assert_int_eq(tandem_diag_new(&d), TANDEM_OK);
	ck_assert_int_eq(hsm_module_load(SOFTHSM_PATH, d, &m), TANDEM_OK);
	hsm_module_free(m);
	m = NULL;
	ck_assert_int_eq(hsm_module_load("softhsm2", d, &m), TANDEM_OK);
	/* The module loaded by name is usable: open the token on it. */
	hsm_uri_t *u = uri_must(t.uri);
	hsm_token_t *tok = NULL;
	ck_assert_int_eq(hsm_token_open(m, u, NULL, 1, d, &tok), TANDEM_OK);
	ck_assert_str_eq(hsm_token_label(tok), "mod");
	hsm_token_close(tok);
	hsm_uri_free(u);
	hsm_module_free(m);
	m = NULL;
	ck_assert_int_eq(hsm_module_load(NULL, d, &m), TANDEM_OK);
	hsm_module_free(m);
	ck_assert_uint_eq(tandem_diag_count(d), 0);
	tandem_diag_free(d);
	ts_token_destroy(&t);
}
END_TEST

START_TEST(module_bad_refused)
{
	static const char *const bad[] = {"/nonexistent/libnothing.so", "/etc/hostname",
					  "relative/lib.so", "no-such-p11-kit-module"};
	tandem_diag_t *d = NULL;
	ck_assert_int_eq(tandem_diag_new(&d), TANDEM_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hsm_module_t *m = NULL;
		tandem_diag_clear(d);
		ck_assert_msg(hsm_module_load(bad[i], d, &m) == TANDEM_HSM_EMODULE, "loaded %s",
			      bad[i]);
		ck_assert_ptr_null(m);
		ck_assert_uint_ge(tandem_diag_count(d), 1);
	}
	ck_assert(diag_has(d, "softhsm2")); /* the list of modules p11-kit knows */
	ck_assert_int_eq(hsm_module_load("", d, NULL), TANDEM_EINVAL);
	tandem_diag_free(d);
}
END_TEST

/* ---- tokens ---- */

START_TEST(token_open_basics)
{
	struct fixture fx;
	fx_setup(&fx, 3);
	ck_assert_uint_eq(hsm_token_sessions(fx.tok), 3);
	ck_assert_str_eq(hsm_token_label(fx.tok), "tandem-test");
	ck_assert_uint_eq(hsm_token_key_count(fx.tok), 0);
	ck_assert_ptr_null(hsm_token_key(fx.tok, 0));
	fx_teardown(&fx);
}
END_TEST

START_TEST(token_wrong_pin_refused)
{
	ts_token_t t;
	ts_token_create(&t, "pin");
	char pin_file[400], uri[800];
	ts_write_file(t.dir, "wrong.pin", "98765\n", pin_file, sizeof(pin_file));
	/* Loose permissions are refused before the PIN is even read. */
	char uri_loose[800];
	snprintf(uri_loose, sizeof(uri_loose), "pkcs11:token=pin;pin-source=%s", pin_file);
	{
		tandem_diag_t *dl = NULL;
		hsm_module_t *ml = NULL;
		hsm_token_t *tl = NULL;
		ck_assert_int_eq(tandem_diag_new(&dl), TANDEM_OK);
		ck_assert_int_eq(hsm_module_load(SOFTHSM_PATH, dl, &ml), TANDEM_OK);
		hsm_uri_t *ul = uri_must(uri_loose);
		ck_assert_int_eq(chmod(pin_file, 0644), 0);
		ck_assert_int_eq(hsm_token_open(ml, ul, NULL, 1, dl, &tl), TANDEM_HSM_EPIN);
		ck_assert_ptr_null(tl);
		ck_assert(diag_has(dl, "chmod 600"));
		hsm_uri_free(ul);
		hsm_module_free(ml);
		tandem_diag_free(dl);
	}
	ck_assert_int_eq(chmod(pin_file, 0600), 0);
	snprintf(uri, sizeof(uri), "pkcs11:token=pin;pin-source=%s", pin_file);
	tandem_diag_t *d = NULL;
	hsm_module_t *m = NULL;
	hsm_token_t *tok = NULL;
	ck_assert_int_eq(tandem_diag_new(&d), TANDEM_OK);
	ck_assert_int_eq(hsm_module_load(SOFTHSM_PATH, d, &m), TANDEM_OK);
	hsm_uri_t *u = uri_must(uri);
	ck_assert_int_eq(hsm_token_open(m, u, NULL, 2, d, &tok), TANDEM_HSM_EPIN);
	ck_assert_ptr_null(tok);
	ck_assert(diag_has(d, "CKR_PIN_INCORRECT"));
	ck_assert(!diag_has(d, "98765"));
	hsm_uri_free(u);

	/* No pin-source and no environment variable: refused before C_Login. */
	tandem_diag_clear(d);
	unsetenv("TS_NO_SUCH_PIN");
	u = uri_must("pkcs11:token=pin");
	ck_assert_int_eq(hsm_token_open(m, u, "TS_NO_SUCH_PIN", 1, d, &tok), TANDEM_HSM_EPIN);
	ck_assert(diag_has(d, "TS_NO_SUCH_PIN"));
	/* The right PIN from the environment works. */
	setenv("TS_PIN", t.pin, 1);
	ck_assert_int_eq(hsm_token_open(m, u, "TS_PIN", 1, d, &tok), TANDEM_OK);
	hsm_token_close(tok);
	unsetenv("TS_PIN");
	hsm_uri_free(u);

	/* A pin-source that does not exist. */
	tok = NULL;
	u = uri_must("pkcs11:token=pin;pin-source=/nonexistent/pin");
	ck_assert_int_eq(hsm_token_open(m, u, NULL, 1, d, &tok), TANDEM_HSM_EPIN);
	hsm_uri_free(u);

	hsm_module_free(m);
	tandem_diag_free(d);
	ts_token_destroy(&t);
}
END_TEST

START_TEST(token_missing_refused)
{
	ts_token_t t;
	ts_token_create(&t, "present");
	char uri[800];
	snprintf(uri, sizeof(uri), "pkcs11:token=absent;pin-source=%s", t.pin_file);
	tandem_diag_t *d = NULL;
	hsm_module_t *m = NULL;
	hsm_token_t *tok = NULL;
	ck_assert_int_eq(tandem_diag_new(&d), TANDEM_OK);
	ck_assert_int_eq(hsm_module_load(SOFTHSM_PATH, d, &m), TANDEM_OK);
	hsm_uri_t *u = uri_must(uri);
	ck_assert_int_eq(hsm_token_open(m, u, NULL, 1, d, &tok), TANDEM_HSM_ETOKEN);
	ck_assert_ptr_null(tok);
	ck_assert(diag_has(d, "absent"));
	ck_assert_int_eq(hsm_token_open(m, u, NULL, 0, d, &tok), TANDEM_EINVAL);
	hsm_uri_free(u);
	hsm_module_free(m);
	tandem_diag_free(d);
	ts_token_destroy(&t);
}
END_TEST

/* ---- keys ---- */

static const struct {
	uint8_t alg;
	unsigned bits;
	unsigned want_bits;
} ALGS[] = {
    {HSM_ALG_RSASHA256, 1024, 1024},   {HSM_ALG_RSASHA512, 2048, 2048},
    {HSM_ALG_ECDSAP256SHA256, 0, 256}, {HSM_ALG_ECDSAP384SHA384, 0, 384},
    {HSM_ALG_ED25519, 0, 256},
};

START_TEST(key_generate_each_algorithm)
{
	struct fixture fx;
	fx_setup(&fx, 1);
	char label[32];
	snprintf(label, sizeof(label), "key-alg%u", ALGS[_i].alg);
	const hsm_key_t *key = gen_must(&fx, label, ALGS[_i].alg, ALGS[_i].bits);
	ck_assert_str_eq(hsm_key_label(key), label);
	ck_assert_uint_eq(hsm_key_algorithm(key), ALGS[_i].alg);
	ck_assert_uint_eq(hsm_key_bits(key), ALGS[_i].want_bits);
	ck_assert_uint_eq(hsm_token_key_count(fx.tok), 1);
	ck_assert_ptr_eq(hsm_token_key(fx.tok, 0), key);

	/* The DPS attributes, read back from the HSM itself. */
	CK_OBJECT_HANDLE priv = key->priv;
	ck_assert_uint_eq(attr_bool(&fx, priv, CKA_TOKEN), CK_TRUE);
	ck_assert_uint_eq(attr_bool(&fx, priv, CKA_PRIVATE), CK_TRUE);
	ck_assert_uint_eq(attr_bool(&fx, priv, CKA_SENSITIVE), CK_TRUE);
	ck_assert_uint_eq(attr_bool(&fx, priv, CKA_SIGN), CK_TRUE);
	ck_assert_uint_eq(attr_bool(&fx, priv, CKA_EXTRACTABLE), CK_TRUE);
	ck_assert_uint_eq(attr_bool(&fx, priv, CKA_WRAP_WITH_TRUSTED), CK_TRUE);
	ck_assert_uint_eq(attr_bool(&fx, priv, CKA_DECRYPT), CK_FALSE);
	ck_assert_uint_eq(attr_bool(&fx, key->pub, CKA_VERIFY), CK_TRUE);
	ck_assert_uint_eq(attr_bool(&fx, key->pub, CKA_TOKEN), CK_TRUE);

	/* DNSKEY RDATA header, and the key tag against ldns's own computation. */
	uint8_t rdata[HSM_DNSKEY_MAX];
	size_t rlen = 0;
	for (uint16_t flags = 256; flags <= 257; flags++) {
		ck_assert_int_eq(hsm_key_dnskey_rdata(key, flags, rdata, &rlen), TANDEM_OK);
		ck_assert_uint_eq(rdata[0], flags >> 8);
		ck_assert_uint_eq(rdata[1], flags & 0xff);
		ck_assert_uint_eq(rdata[2], 3);
		ck_assert_uint_eq(rdata[3], ALGS[_i].alg);
		ck_assert_uint_eq(hsm_key_tag(key, flags), ldns_calc_keytag_raw(rdata, rlen));
	}
	/* Flags we do not cache take the other path. */
	ck_assert_int_eq(hsm_key_dnskey_rdata(key, 385, rdata, &rlen), TANDEM_OK);
	ck_assert_uint_eq(hsm_key_tag(key, 385), ldns_calc_keytag_raw(rdata, rlen));

	sign_and_verify(&fx, key, 0);
	fx_teardown(&fx);
}
END_TEST

/* An operator's approval key (spec.stays): sensitive, never extractable, not even wrapped. */
START_TEST(key_generate_stays)
{
	struct fixture fx;
	fx_setup(&fx, 1);
	hsm_uri_t *u = uri_must("pkcs11:object=operator-sa1");
	hsm_keyspec_t spec = {.algorithm = HSM_ALG_ED25519, .stays = true};
	const hsm_key_t *key = NULL;
	ck_assert_int_eq(hsm_token_generate_key(fx.tok, u, &spec, fx.diag, &key), TANDEM_OK);
	hsm_uri_free(u);
	CK_OBJECT_HANDLE priv = key->priv;
	ck_assert_uint_eq(attr_bool(&fx, priv, CKA_SENSITIVE), CK_TRUE);
	ck_assert_uint_eq(attr_bool(&fx, priv, CKA_ALWAYS_SENSITIVE), CK_TRUE);
	ck_assert_uint_eq(attr_bool(&fx, priv, CKA_EXTRACTABLE), CK_FALSE);
	ck_assert_uint_eq(attr_bool(&fx, priv, CKA_NEVER_EXTRACTABLE), CK_TRUE);
	ck_assert_uint_eq(attr_bool(&fx, priv, CKA_WRAP_WITH_TRUSTED), CK_FALSE);
	/* The private value itself cannot be read. */
	uint8_t value[64];
	CK_ATTRIBUTE a = {CKA_VALUE, value, sizeof(value)};
	ck_assert_uint_eq(fx.tok->fl->C_GetAttributeValue(fx.tok->admin, priv, &a, 1),
			  CKR_ATTRIBUTE_SENSITIVE);
	/* Nor be made extractable afterwards (PKCS#11: CKA_EXTRACTABLE goes true to false only). */
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE make = {CKA_EXTRACTABLE, &yes, sizeof(yes)};
	ck_assert_uint_ne(fx.tok->fl->C_SetAttributeValue(fx.tok->admin, priv, &make, 1), CKR_OK);
	ck_assert_uint_eq(attr_bool(&fx, priv, CKA_EXTRACTABLE), CK_FALSE);
	sign_and_verify(&fx, key, 0);
	fx_teardown(&fx);
}
END_TEST

START_TEST(key_deterministic_signatures)
{
	struct fixture fx;
	fx_setup(&fx, 2);
	const hsm_key_t *keys[] = {gen_must(&fx, "rsa", HSM_ALG_RSASHA256, 1024),
				   gen_must(&fx, "ed", HSM_ALG_ED25519, 0)};
	static const uint8_t data[] = "same data, same signature";
	for (size_t i = 0; i < 2; i++) {
		uint8_t a[HSM_SIG_MAX], b[HSM_SIG_MAX];
		size_t alen = 0, blen = 0;
		ck_assert_int_eq(hsm_token_sign(fx.tok, 0, keys[i], data, sizeof(data), a, &alen),
				 TANDEM_OK);
		ck_assert_int_eq(hsm_token_sign(fx.tok, 1, keys[i], data, sizeof(data), b, &blen),
				 TANDEM_OK);
		ck_assert_uint_eq(alen, i == 0 ? 128 : 64);
		ck_assert_uint_eq(alen, blen);
		ck_assert_mem_eq(a, b, alen);
	}
	/* Session numbers past the pool are refused. */
	uint8_t sig[HSM_SIG_MAX];
	size_t slen = 0;
	ck_assert_int_eq(hsm_token_sign(fx.tok, 2, keys[0], data, sizeof(data), sig, &slen),
			 TANDEM_HSM_ESESSION);
	ck_assert_int_eq(hsm_token_sign(fx.tok, 0, NULL, data, sizeof(data), sig, &slen),
			 TANDEM_EINVAL);
	fx_teardown(&fx);
}
END_TEST

START_TEST(key_duplicate_label_refused)
{
	struct fixture fx;
	fx_setup(&fx, 1);
	gen_must(&fx, "zsk", HSM_ALG_ECDSAP256SHA256, 0);
	hsm_uri_t *u = uri_must("pkcs11:object=zsk");
	hsm_keyspec_t spec = {.algorithm = HSM_ALG_RSASHA256, .bits = 1024};
	const hsm_key_t *key = NULL;
	ck_assert_int_eq(hsm_token_generate_key(fx.tok, u, &spec, fx.diag, &key), TANDEM_EEXIST);
	ck_assert_ptr_null(key);
	hsm_uri_free(u);

	/* A taken id is refused too, and bad specs are refused before the HSM sees them. */
	u = uri_must("pkcs11:object=k1;id=%01");
	gen_must(&fx, "k0", HSM_ALG_ED25519, 0);
	ck_assert_int_eq(hsm_token_generate_key(fx.tok, u, &spec, fx.diag, &key), TANDEM_OK);
	hsm_uri_free(u);
	u = uri_must("pkcs11:object=k2;id=%01");
	ck_assert_int_eq(hsm_token_generate_key(fx.tok, u, &spec, fx.diag, &key), TANDEM_EEXIST);
	hsm_uri_free(u);
	u = uri_must("pkcs11:object=k3");
	hsm_keyspec_t small = {.algorithm = HSM_ALG_RSASHA256, .bits = 512};
	hsm_keyspec_t dsa = {.algorithm = 3, .bits = 1024};
	ck_assert_int_eq(hsm_token_generate_key(fx.tok, u, &small, fx.diag, &key), TANDEM_HSM_EGEN);
	ck_assert_int_eq(hsm_token_generate_key(fx.tok, u, &dsa, fx.diag, &key), TANDEM_HSM_EGEN);
	hsm_uri_free(u);
	u = uri_must("pkcs11:id=%02");
	ck_assert_int_eq(hsm_token_generate_key(fx.tok, u, &spec, fx.diag, &key), TANDEM_EINVAL);
	hsm_uri_free(u);
	ck_assert_uint_eq(hsm_token_key_count(fx.tok), 3);
	fx_teardown(&fx);
}
END_TEST

/* Keys made off the owner's thread (tandemd's key generation workers): four generations at
 * once, each on a session of its own, while the owner signs on the admin-free signing
 * session; none is in the key list until adopted; each then signs, a taken label is refused
 * as by hsm_token_generate_key, and a reopen finds every key once. */
struct detached_job {
	hsm_token_t *tok;
	char label[32];
	hsm_keyspec_t spec;
	int ret;
	hsm_keypair_t *made;
};

static void *detached_run(void *arg)
{
	struct detached_job *j = arg;
	char text[64];
	snprintf(text, sizeof(text), "pkcs11:object=%s", j->label);
	hsm_uri_t *u = NULL;
	j->ret = hsm_uri_parse(text, NULL, &u);
	if (j->ret == TANDEM_OK) {
		j->ret = hsm_token_generate_detached(j->tok, u, &j->spec, NULL, &j->made);
	}
	hsm_uri_free(u);
	return NULL;
}

START_TEST(key_generate_detached_parallel)
{
	struct fixture fx;
	fx_setup(&fx, 1);
	const hsm_key_t *signer = gen_must(&fx, "signer", HSM_ALG_ECDSAP256SHA256, 0);
	struct detached_job jobs[4];
	pthread_t th[4];
	for (size_t i = 0; i < 4; i++) {
		memset(&jobs[i], 0, sizeof(jobs[i]));
		jobs[i].tok = fx.tok;
		snprintf(jobs[i].label, sizeof(jobs[i].label), "tandem-z%zu-1", i);
		jobs[i].spec = i % 2 == 0
				   ? (hsm_keyspec_t){.algorithm = HSM_ALG_RSASHA256, .bits = 1024}
				   : (hsm_keyspec_t){.algorithm = HSM_ALG_ECDSAP256SHA256};
		ck_assert_int_eq(pthread_create(&th[i], NULL, detached_run, &jobs[i]), 0);
	}
	for (int n = 0; n < 20; n++) {
		sign_and_verify(&fx, signer, 0); /* the owner's thread goes on meanwhile */
	}
	for (size_t i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(jobs[i].ret == TANDEM_OK, "%s: %s", jobs[i].label,
			      tandem_strerror(jobs[i].ret));
		ck_assert_ptr_nonnull(jobs[i].made);
	}
	ck_assert_uint_eq(hsm_token_key_count(fx.tok), 1); /* none adopted yet */
	/* a label taken by a detached pair is refused, as for the admin's generation */
	struct detached_job dup = {.tok = fx.tok, .spec = {.algorithm = HSM_ALG_ECDSAP256SHA256}};
	snprintf(dup.label, sizeof(dup.label), "%s", jobs[1].label);
	detached_run(&dup);
	ck_assert_int_eq(dup.ret, TANDEM_EEXIST);
	ck_assert_ptr_null(dup.made);
	for (size_t i = 0; i < 4; i++) {
		const hsm_key_t *k = NULL;
		ck_assert_int_eq(hsm_token_adopt_key(fx.tok, jobs[i].made, fx.diag, &k), TANDEM_OK);
		ck_assert_str_eq(hsm_key_label(k), jobs[i].label);
		sign_and_verify(&fx, k, 0);
	}
	ck_assert_uint_eq(hsm_token_key_count(fx.tok), 5);
	hsm_token_close(fx.tok);
	fx.tok = NULL;
	fx_open(&fx, 1);
	ck_assert_uint_eq(hsm_token_key_count(fx.tok), 5);
	fx_teardown(&fx);
}
END_TEST

/* Issue 9 item 5: a retired key is destroyed in the HSM: its objects are gone, a reopen does
 * not find it, and signing with its handle fails. */
START_TEST(key_destroy)
{
	struct fixture fx;
	fx_setup(&fx, 1);
	const hsm_key_t *keep = gen_must(&fx, "keep", HSM_ALG_ECDSAP256SHA256, 0);
	const hsm_key_t *gone = gen_must(&fx, "gone", HSM_ALG_ECDSAP256SHA256, 0);
	uint8_t sig[HSM_SIG_MAX];
	size_t sig_len = sizeof(sig);
	static const uint8_t data[] = "signed data";
	ck_assert_int_eq(hsm_token_sign(fx.tok, 0, gone, data, sizeof(data), sig, &sig_len),
			 TANDEM_OK);
	struct hsm_key copy = *gone; /* its handles, to try them after */
	CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE match[] = {{CKA_LABEL, (void *)"gone", 4}, {CKA_CLASS, &priv, sizeof(priv)}};
	CK_ULONG count = 0;
	ck_assert_int_eq(hsm_objects_count(fx.tok, match, 1, TANDEM_HSM_EP11, fx.diag, &count),
			 TANDEM_OK);
	ck_assert_uint_eq(count, 2);
	ck_assert_int_eq(hsm_token_destroy_key(fx.tok, gone, fx.diag), TANDEM_OK);
	ck_assert_uint_eq(hsm_token_key_count(fx.tok), 1);
	ck_assert_str_eq(hsm_key_label(hsm_token_key(fx.tok, 0)), "keep");
	/* neither the private nor the public object is left */
	ck_assert_int_eq(hsm_objects_count(fx.tok, match, 1, TANDEM_HSM_EP11, fx.diag, &count),
			 TANDEM_OK);
	ck_assert_uint_eq(count, 0);
	ck_assert_int_eq(hsm_objects_count(fx.tok, match, 2, TANDEM_HSM_EP11, fx.diag, &count),
			 TANDEM_OK);
	ck_assert_uint_eq(count, 0);
	/* the HSM signs with it no more (SoftHSM says the handle is invalid, which the token
	 * layer reads as "perhaps gone": the node then probes, and the token answers) */
	copy.label = NULL;
	copy.id = NULL;
	sig_len = sizeof(sig);
	int signed_ret = hsm_token_sign(fx.tok, 0, &copy, data, sizeof(data), sig, &sig_len);
	ck_assert(signed_ret == TANDEM_HSM_ESIGN || signed_ret == TANDEM_HSM_EGONE);
	ck_assert_int_eq(hsm_token_probe(fx.tok, fx.diag), TANDEM_OK);
	/* not a key of this token (any more) */
	ck_assert_int_eq(hsm_token_destroy_key(fx.tok, &copy, fx.diag), TANDEM_HSM_EKEY);
	ck_assert_int_eq(hsm_token_destroy_key(NULL, keep, fx.diag), TANDEM_EINVAL);
	/* a reopened token does not find it; the other key is intact and signs */
	hsm_token_close(fx.tok);
	fx.tok = NULL;
	fx_open(&fx, 1);
	ck_assert_uint_eq(hsm_token_key_count(fx.tok), 1);
	hsm_uri_t *u = uri_must("pkcs11:object=gone");
	const hsm_key_t *found = NULL;
	ck_assert_int_eq(hsm_token_find_key(fx.tok, u, fx.diag, &found), TANDEM_HSM_EKEY);
	hsm_uri_free(u);
	u = uri_must("pkcs11:object=keep");
	ck_assert_int_eq(hsm_token_find_key(fx.tok, u, fx.diag, &keep), TANDEM_OK);
	hsm_uri_free(u);
	sig_len = sizeof(sig);
	ck_assert_int_eq(hsm_token_sign(fx.tok, 0, keep, data, sizeof(data), sig, &sig_len),
			 TANDEM_OK);
	fx_teardown(&fx);
}
END_TEST

START_TEST(key_found_after_reopen)
{
	struct fixture fx;
	fx_setup(&fx, 1);
	static const char *const labels[] = {"ksk-rsa", "zsk-rsa512", "zsk-ec", "zsk-ec384",
					     "zsk-ed"};
	uint8_t before[5][HSM_DNSKEY_MAX];
	size_t before_len[5];
	for (size_t i = 0; i < 5; i++) {
		const hsm_key_t *k = gen_must(&fx, labels[i], ALGS[i].alg, ALGS[i].bits);
		ck_assert_int_eq(hsm_key_dnskey_rdata(k, 257, before[i], &before_len[i]),
				 TANDEM_OK);
	}
	hsm_token_close(fx.tok);
	fx.tok = NULL;
	fx_open(&fx, 2);
	ck_assert_uint_eq(hsm_token_key_count(fx.tok), 5);
	for (size_t i = 0; i < 5; i++) {
		char text[128];
		snprintf(text, sizeof(text), "pkcs11:object=%s;type=private", labels[i]);
		hsm_uri_t *u = uri_must(text);
		const hsm_key_t *k = NULL;
		ck_assert_int_eq(hsm_token_find_key(fx.tok, u, fx.diag, &k), TANDEM_OK);
		hsm_uri_free(u);
		ck_assert_str_eq(hsm_key_label(k), labels[i]);
		ck_assert_uint_eq(hsm_key_algorithm(k), ALGS[i].alg); /* 10 stays 10 */
		ck_assert_uint_eq(hsm_key_bits(k), ALGS[i].want_bits);
		uint8_t rdata[HSM_DNSKEY_MAX];
		size_t rlen = 0;
		ck_assert_int_eq(hsm_key_dnskey_rdata(k, 257, rdata, &rlen), TANDEM_OK);
		ck_assert_uint_eq(rlen, before_len[i]);
		ck_assert_mem_eq(rdata, before[i], rlen);
		sign_and_verify(&fx, k, 1);

		/* The same key by its CKA_ID. */
		char idtext[300] = "pkcs11:id=";
		for (size_t j = 0; j < k->id_len; j++) {
			snprintf(idtext + strlen(idtext), 4, "%%%02x", k->id[j]);
		}
		u = uri_must(idtext);
		const hsm_key_t *by_id = NULL;
		ck_assert_int_eq(hsm_token_find_key(fx.tok, u, fx.diag, &by_id), TANDEM_OK);
		ck_assert_ptr_eq(by_id, k);
		hsm_uri_free(u);
	}
	const hsm_key_t *k = NULL;
	hsm_uri_t *u = uri_must("pkcs11:object=nope");
	ck_assert_int_eq(hsm_token_find_key(fx.tok, u, fx.diag, &k), TANDEM_HSM_EKEY);
	hsm_uri_free(u);
	u = uri_must("pkcs11:token=tandem-test"); /* names no key: five match */
	ck_assert_int_eq(hsm_token_find_key(fx.tok, u, fx.diag, &k), TANDEM_HSM_EKEY);
	ck_assert(diag_has(fx.diag, "more than one"));
	hsm_uri_free(u);
	u = uri_must("pkcs11:object=zsk-ec;type=cert");
	ck_assert_int_eq(hsm_token_find_key(fx.tok, u, fx.diag, &k), TANDEM_HSM_EKEY);
	hsm_uri_free(u);
	ck_assert_ptr_null(k);
	fx_teardown(&fx);
}
END_TEST

/* The token's store goes away under a running process (an HSM unplugged, SoftHSM's token
 * directory moved): signing says EGONE, not a plain signing failure; the probe says so too;
 * once it is back, the token is opened again in place and the same key record signs. */
START_TEST(token_gone_and_reopened)
{
	struct fixture fx;
	fx_setup(&fx, 2);
	const hsm_key_t *key = gen_must(&fx, "k", HSM_ALG_RSASHA256, 1024);
	static const uint8_t data[] = "signed before, during and after";
	uint8_t before[HSM_SIG_MAX], after[HSM_SIG_MAX];
	size_t blen = 0, alen = 0;
	ck_assert_int_eq(hsm_token_sign(fx.tok, 0, key, data, sizeof(data), before, &blen),
			 TANDEM_OK);
	ck_assert_int_eq(hsm_token_probe(fx.tok, fx.diag), TANDEM_OK);

	char store[300], away[300];
	snprintf(store, sizeof(store), "%s/tokens", fx.t.dir);
	snprintf(away, sizeof(away), "%s/tokens.away", fx.t.dir);
	ck_assert_int_eq(rename(store, away), 0);
	for (unsigned session = 0; session < 2; session++) {
		ck_assert_int_eq(
		    hsm_token_sign(fx.tok, session, key, data, sizeof(data), after, &alen),
		    TANDEM_HSM_EGONE);
	}
	tandem_diag_clear(fx.diag);
	ck_assert_int_eq(hsm_token_probe(fx.tok, fx.diag), TANDEM_HSM_EGONE);
	ck_assert(diag_has(fx.diag, "tandem-test"));
	hsm_uri_t *u = uri_must(fx.t.uri);
	ck_assert_int_eq(hsm_token_reopen(fx.tok, u, NULL, fx.diag), TANDEM_HSM_EGONE);
	ck_assert_int_eq(hsm_token_probe(fx.tok, fx.diag), TANDEM_HSM_EGONE);

	ck_assert_int_eq(rename(away, store), 0);
	tandem_diag_clear(fx.diag);
	int ret = hsm_token_reopen(fx.tok, u, NULL, fx.diag);
	ck_assert_msg(ret == TANDEM_OK, "reopen: %s (%s)", tandem_strerror(ret),
		      tandem_diag_kept(fx.diag) ? tandem_diag_msg(fx.diag, 0) : "");
	hsm_uri_free(u);
	ck_assert_int_eq(hsm_token_probe(fx.tok, fx.diag), TANDEM_OK);
	ck_assert_uint_eq(hsm_token_key_count(fx.tok), 1);
	ck_assert_ptr_eq(hsm_token_key(fx.tok, 0), key);
	for (unsigned session = 0; session < 2; session++) {
		ck_assert_int_eq(
		    hsm_token_sign(fx.tok, session, key, data, sizeof(data), after, &alen),
		    TANDEM_OK);
		ck_assert_uint_eq(alen, blen);
		ck_assert_mem_eq(after, before, alen); /* RSA: the same key */
	}
	fx_teardown(&fx);
}
END_TEST

START_TEST(key_tag_known_vector)
{
	/* RFC 8080 section 6.1: Ed25519 DNSKEY 257 3 15 l02Woi0i... has key tag 3613. */
	static const uint8_t rdata[36] = {0x01, 0x01, 0x03, 0x0f, 0x97, 0x4d, 0x96, 0xa2, 0x2d,
					  0x22, 0x4b, 0xc0, 0x1a, 0xdb, 0x91, 0x50, 0x91, 0x47,
					  0x7d, 0x44, 0xcc, 0xd9, 0x1c, 0x9a, 0x41, 0xa1, 0x14,
					  0x30, 0x01, 0x01, 0x17, 0xd5, 0x2c, 0x59, 0x24, 0x0e};
	ck_assert_uint_eq(hsm_keytag(rdata, sizeof(rdata)), 3613);
	ck_assert_uint_eq(ldns_calc_keytag_raw((uint8_t *)rdata, sizeof(rdata)), 3613);
	/* An odd length: the last byte counts as a high byte. */
	static const uint8_t odd[7] = {0x01, 0x00, 0x03, 0x0f, 0xfe, 0xff, 0xfd};
	ck_assert_uint_eq(hsm_keytag(odd, 7), ldns_calc_keytag_raw((uint8_t *)odd, 7));
}
END_TEST

struct worker {
	struct fixture *fx;
	const hsm_key_t *key;
	unsigned session;
	int failures;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 40; i++) {
		uint8_t data[64], sig[HSM_SIG_MAX], rdata[HSM_DNSKEY_MAX];
		size_t slen = 0, rlen = 0;
		snprintf((char *)data, sizeof(data), "thread %u message %d", w->session, i);
		if (hsm_token_sign(w->fx->tok, w->session, w->key, data, sizeof(data), sig,
				   &slen) != TANDEM_OK ||
		    hsm_key_dnskey_rdata(w->key, 256, rdata, &rlen) != TANDEM_OK ||
		    !verify_dnskey(rdata, rlen, data, sizeof(data), sig, slen)) {
			w->failures++;
		}
	}
	return NULL;
}

START_TEST(sign_concurrent_sessions)
{
	struct fixture fx;
	fx_setup(&fx, 2);
	const hsm_key_t *rsa = gen_must(&fx, "rsa", HSM_ALG_RSASHA256, 1024);
	const hsm_key_t *ec = gen_must(&fx, "ec", HSM_ALG_ECDSAP256SHA256, 0);
	for (int round = 0; round < 2; round++) {
		struct worker w[2] = {{&fx, round ? ec : rsa, 0, 0}, {&fx, round ? ec : rsa, 1, 0}};
		pthread_t th[2];
		for (int i = 0; i < 2; i++) {
			ck_assert_int_eq(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
		}
		for (int i = 0; i < 2; i++) {
			pthread_join(th[i], NULL);
			ck_assert_int_eq(w[i].failures, 0);
		}
	}
	fx_teardown(&fx);
}
END_TEST

/* ---- token hygiene ---- */

/* The SO PIN from the fixture's pin-source file (first line). */
static void so_pin_read(const struct fixture *fx, char pin[64], size_t *len)
{
	FILE *fp = fopen(fx->t.so_pin_file, "r");
	ck_assert_ptr_nonnull(fp);
	ck_assert_ptr_nonnull(fgets(pin, 64, fp));
	fclose(fp);
	*len = strcspn(pin, "\r\n");
	pin[*len] = '\0';
}

/* A fresh token holding a ceremony's SMK and MAC key, opened as user. */
static void hyg_setup(struct fixture *fx, bool with_smk)
{
	memset(fx, 0, sizeof(*fx));
	ts_token_create(&fx->t, "tandem-test");
	ck_assert_int_eq(tandem_diag_new(&fx->diag), TANDEM_OK);
	ck_assert_int_eq(hsm_module_load(SOFTHSM_PATH, fx->diag, &fx->mod), TANDEM_OK);
	if (with_smk) {
		uint8_t smk[HSM_SMK_KEY_LEN], mac[HSM_SMK_KEY_LEN];
		memset(smk, 0x5a, sizeof(smk));
		memset(mac, 0xa5, sizeof(mac));
		const uint8_t id[] = {0x53, 0x4d};
		char pin[64];
		size_t len = 0;
		so_pin_read(fx, pin, &len);
		hsm_uri_t *u = uri_must(fx->t.uri);
		int ret = hsm_smk_install(fx->mod, u, pin, len, smk, mac, id, sizeof(id), fx->diag);
		hsm_uri_free(u);
		ck_assert_msg(ret == TANDEM_OK, "smk-install: %s", tandem_strerror(ret));
	}
	fx_open(fx, 1);
}

/* Creates an object on the token in an SO session, as a token's SO could: the user
 * session is closed meanwhile (PKCS#11 allows one login type at a time) and reopened. */
static void so_create(struct fixture *fx, CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
	hsm_token_close(fx->tok);
	fx->tok = NULL;
	CK_FUNCTION_LIST *f = fx->mod->fl;
	hsm_uri_t *u = uri_must(fx->t.uri);
	CK_SLOT_ID slot = 0;
	char label[33];
	ck_assert_int_eq(hsm_slot_find(f, u, fx->diag, &slot, label), TANDEM_OK);
	hsm_uri_free(u);
	char pin[64];
	size_t len = 0;
	so_pin_read(fx, pin, &len);
	CK_SESSION_HANDLE s;
	ck_assert_int_eq(
	    f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_int_eq(f->C_Login(s, CKU_SO, (CK_UTF8CHAR *)pin, len), CKR_OK);
	CK_OBJECT_HANDLE h;
	CK_RV rv = f->C_CreateObject(s, tmpl, n, &h);
	ck_assert_msg(rv == CKR_OK, "SO C_CreateObject: %s", hsm_rv_name(rv));
	f->C_Logout(s);
	f->C_CloseSession(s);
	fx_open(fx, 1);
}

static hsm_hygiene_t hyg_run(struct fixture *fx)
{
	hsm_hygiene_t h;
	memset(&h, 0xee, sizeof(h));
	int ret = hsm_token_hygiene(fx->tok, NULL, fx->diag, &h);
	ck_assert_msg(ret == TANDEM_OK, "hygiene: %s", tandem_strerror(ret));
	return h;
}

/* The finding naming this object (label, id hex, class) whose problem starts with attr. */
static bool hyg_has(const hsm_hygiene_t *h, const char *label, const char *id_hex, const char *cls,
		    const char *attr)
{
	for (size_t i = 0; i < h->n; i++) {
		const hsm_hygiene_finding_t *f = &h->f[i];
		if (strcmp(f->label, label) == 0 && strcmp(f->id_hex, id_hex) == 0 &&
		    strcmp(f->cls, cls) == 0 && strncmp(f->problem, attr, strlen(attr)) == 0) {
			char line[300];
			hsm_hygiene_finding_format(f, line, sizeof(line));
			ck_assert_ptr_nonnull(strstr(line, label));
			ck_assert_ptr_nonnull(strstr(line, attr));
			return true;
		}
	}
	return false;
}

START_TEST(hygiene_clean_token_passes)
{
	struct fixture fx;
	hyg_setup(&fx, true);
	gen_must(&fx, "zsk-clean", HSM_ALG_ECDSAP256SHA256, 0);
	gen_must(&fx, "ksk-clean", HSM_ALG_RSASHA256, 1024);
	hsm_hygiene_t h = hyg_run(&fx);
	ck_assert_msg(h.total == 0, "clean token: %zu finding(s), first: %s", h.total,
		      h.n ? h.f[0].problem : "");
	ck_assert_uint_eq(h.n, 0);
	fx_teardown(&fx);
}
END_TEST

START_TEST(hygiene_no_smk_found)
{
	struct fixture fx;
	hyg_setup(&fx, false);
	hsm_hygiene_t h = hyg_run(&fx);
	ck_assert_uint_eq(h.total, 1);
	ck_assert(hyg_has(&h, "tandem-smk", "", "secret key", "no SMK"));
	fx_teardown(&fx);
}
END_TEST

/* The SO adds a trusted AES key of a value they know: every tandem key can then be wrapped
 * under it by the user and unwrapped in software. */
START_TEST(hygiene_second_trusted_key_found)
{
	struct fixture fx;
	hyg_setup(&fx, true);
	gen_must(&fx, "zsk-victim", HSM_ALG_ECDSAP256SHA256, 0);
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	uint8_t value[32];
	memset(value, 0x42, sizeof(value));
	uint8_t id[] = {0xbe, 0xef};
	CK_ATTRIBUTE tmpl[] = {
	    {CKA_CLASS, &cls, sizeof(cls)},    {CKA_KEY_TYPE, &aes, sizeof(aes)},
	    {CKA_TOKEN, &yes, sizeof(yes)},    {CKA_PRIVATE, &no, sizeof(no)},
	    {CKA_LABEL, "rogue", 5},           {CKA_ID, id, sizeof(id)},
	    {CKA_VALUE, value, sizeof(value)}, {CKA_TRUSTED, &yes, sizeof(yes)},
	    {CKA_WRAP, &yes, sizeof(yes)},     {CKA_EXTRACTABLE, &no, sizeof(no)},
	};
	so_create(&fx, tmpl, sizeof(tmpl) / sizeof(tmpl[0]));

	/* The threat is real: the user can now wrap a tandem key under the rogue key. */
	CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
	CK_ATTRIBUTE m[] = {{CKA_CLASS, &sk, sizeof(sk)}, {CKA_LABEL, "rogue", 5}};
	CK_OBJECT_HANDLE rogue = CK_INVALID_HANDLE;
	CK_ULONG got = 0;
	ck_assert_int_eq(fx.tok->fl->C_FindObjectsInit(fx.tok->admin, m, 2), CKR_OK);
	ck_assert_int_eq(fx.tok->fl->C_FindObjects(fx.tok->admin, &rogue, 1, &got), CKR_OK);
	fx.tok->fl->C_FindObjectsFinal(fx.tok->admin);
	ck_assert_uint_eq(got, 1);
	const hsm_key_t *victim = NULL;
	for (size_t i = 0; i < hsm_token_key_count(fx.tok); i++) {
		if (strcmp(hsm_key_label(hsm_token_key(fx.tok, i)), "zsk-victim") == 0) {
			victim = hsm_token_key(fx.tok, i);
		}
	}
	ck_assert_ptr_nonnull(victim);
	uint8_t wrapped[4096];
	CK_ULONG wlen = sizeof(wrapped);
	CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	ck_assert_int_eq(
	    fx.tok->fl->C_WrapKey(fx.tok->admin, &kwp, rogue, victim->priv, wrapped, &wlen),
	    CKR_OK);

	hsm_hygiene_t h = hyg_run(&fx);
	ck_assert_uint_eq(h.total, 1);
	ck_assert(hyg_has(&h, "rogue", "beef", "secret key", "CKA_TRUSTED=true"));
	fx_teardown(&fx);
}
END_TEST

START_TEST(hygiene_extractable_private_key_found)
{
	struct fixture fx;
	hyg_setup(&fx, true);
	gen_must(&fx, "zsk-fine", HSM_ALG_ECDSAP256SHA256, 0);
	CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	uint8_t id[] = {0x0c, 0x1e, 0xa2};
	CK_ATTRIBUTE pub[] = {{CKA_TOKEN, &yes, sizeof(yes)},
			      {CKA_EC_PARAMS, (void *)p256, sizeof(p256)},
			      {CKA_LABEL, "leaky", 5},
			      {CKA_ID, id, sizeof(id)}};
	CK_ATTRIBUTE priv[] = {
	    {CKA_TOKEN, &yes, sizeof(yes)},
	    {CKA_PRIVATE, &yes, sizeof(yes)},
	    {CKA_SENSITIVE, &yes, sizeof(yes)},
	    {CKA_EXTRACTABLE, &yes, sizeof(yes)},
	    {CKA_WRAP_WITH_TRUSTED, &no, sizeof(no)},
	    {CKA_SIGN, &yes, sizeof(yes)},
	    {CKA_LABEL, "leaky", 5},
	    {CKA_ID, id, sizeof(id)},
	};
	CK_OBJECT_HANDLE hpub, hpriv;
	CK_RV rv =
	    fx.tok->fl->C_GenerateKeyPair(fx.tok->admin, &mech, pub, 4, priv, 8, &hpub, &hpriv);
	ck_assert_msg(rv == CKR_OK, "C_GenerateKeyPair: %s", hsm_rv_name(rv));
	hsm_hygiene_t h = hyg_run(&fx);
	ck_assert_uint_eq(h.total, 1);
	ck_assert(hyg_has(&h, "leaky", "0c1ea2", "private key", "CKA_EXTRACTABLE=true"));
	fx_teardown(&fx);
}
END_TEST

START_TEST(hygiene_second_wrapping_key_found)
{
	struct fixture fx;
	hyg_setup(&fx, true);
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_BBOOL yes = CK_TRUE;
	uint8_t value[32];
	memset(value, 0x17, sizeof(value));
	uint8_t id[] = {0x77};
	CK_ATTRIBUTE tmpl[] = {
	    {CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &aes, sizeof(aes)},
	    {CKA_TOKEN, &yes, sizeof(yes)}, {CKA_LABEL, "wrapper", 7},
	    {CKA_ID, id, sizeof(id)},       {CKA_VALUE, value, sizeof(value)},
	    {CKA_WRAP, &yes, sizeof(yes)},
	};
	CK_OBJECT_HANDLE hk;
	CK_RV rv =
	    fx.tok->fl->C_CreateObject(fx.tok->admin, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &hk);
	ck_assert_msg(rv == CKR_OK, "C_CreateObject: %s", hsm_rv_name(rv));
	hsm_hygiene_t h = hyg_run(&fx);
	ck_assert_uint_eq(h.total, 1);
	ck_assert(hyg_has(&h, "wrapper", "77", "secret key", "CKA_WRAP=true"));
	fx_teardown(&fx);
}
END_TEST

/* The SMK found is checked against the ceremony's check value when one is given. */
START_TEST(hygiene_other_smk_found)
{
	struct fixture fx;
	hyg_setup(&fx, true);
	uint8_t smk[HSM_SMK_KEY_LEN], mac[HSM_SMK_KEY_LEN], want[HSM_SMK_CHECK_LEN];
	memset(smk, 0x5a, sizeof(smk));
	memset(mac, 0xa5, sizeof(mac));
	ck_assert_int_eq(hsm_smk_check_soft(smk, mac, want), TANDEM_OK);
	hsm_hygiene_t h;
	ck_assert_int_eq(hsm_token_hygiene(fx.tok, want, fx.diag, &h), TANDEM_OK);
	ck_assert_uint_eq(h.total, 0);
	want[0] ^= 1;
	ck_assert_int_eq(hsm_token_hygiene(fx.tok, want, fx.diag, &h), TANDEM_OK);
	ck_assert_uint_eq(h.total, 1);
	ck_assert(hyg_has(&h, "tandem-smk", "534d", "secret key", "the SMK's check value"));
	fx_teardown(&fx);
}
END_TEST

static Suite *hsm_suite(void)
{
	Suite *s = suite_create("hsm");
	TCase *tc = tcase_create("uri");
	tcase_add_test(tc, uri_valid);
	tcase_add_test(tc, uri_percent);
	tcase_add_test(tc, uri_pin_value_refused);
	tcase_add_test(tc, uri_garbage_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("module");
	tcase_add_test(tc, module_load_by_path_and_name);
	tcase_add_test(tc, module_bad_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("token");
	tcase_add_test(tc, token_open_basics);
	tcase_add_test(tc, key_destroy);
	tcase_add_test(tc, token_wrong_pin_refused);
	tcase_add_test(tc, token_missing_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("key");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, key_generate_each_algorithm, 0, sizeof(ALGS) / sizeof(ALGS[0]));
	tcase_add_test(tc, key_generate_stays);
	tcase_add_test(tc, key_deterministic_signatures);
	tcase_add_test(tc, key_duplicate_label_refused);
	tcase_add_test(tc, key_generate_detached_parallel);
	tcase_add_test(tc, key_found_after_reopen);
	tcase_add_test(tc, token_gone_and_reopened);
	tcase_add_test(tc, key_tag_known_vector);
	tcase_add_test(tc, sign_concurrent_sessions);
	suite_add_tcase(s, tc);

	tc = tcase_create("hygiene");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, hygiene_clean_token_passes);
	tcase_add_test(tc, hygiene_no_smk_found);
	tcase_add_test(tc, hygiene_second_trusted_key_found);
	tcase_add_test(tc, hygiene_extractable_private_key_found);
	tcase_add_test(tc, hygiene_second_wrapping_key_found);
	tcase_add_test(tc, hygiene_other_smk_found);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(hsm_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
