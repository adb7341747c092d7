/* Software cryptography with OpenSSL 3: DNSKEY parsing, key tags, DS, NSEC3 hashes, verification.
 */
#include "crypto.h"
#include "tandem_encode.h"
#include "tandem_error.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

enum {
	ALG_RSASHA256 = 8,
	ALG_RSASHA512 = 10,
	ALG_ECDSAP256SHA256 = 13,
	ALG_ECDSAP384SHA384 = 14,
	ALG_ED25519 = 15,
};

struct crypto_pubkey {
	EVP_PKEY *pkey;
	EVP_MD *md;        /* fetched once; NULL for Ed25519 (no pre-hash) */
	EVP_MD_CTX *proto; /* initialised for verification, copied per call (never used itself) */
	size_t ec_size;    /* bytes of r and of s for ECDSA, 0 otherwise */
	uint16_t tag;
	uint16_t flags;
	uint8_t algorithm;
};

uint16_t crypto_key_tag(const uint8_t *rdata, size_t len)
{
	uint32_t ac = 0;
	if (rdata == NULL) {
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		ac += (i & 1) ? rdata[i] : (uint32_t)rdata[i] << 8;
	}
	ac += (ac >> 16) & 0xffff;
	return (uint16_t)(ac & 0xffff);
}

static int pkey_from_params(const char *type, OSSL_PARAM_BLD *bld, EVP_PKEY **out)
{
	int rc = TANDEM_CRYPTO_EKEY;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	if (params == NULL || ctx == NULL) {
		rc = TANDEM_CRYPTO_ELIB;
		goto out;
	}
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		goto out;
	}
	*out = pkey;
	pkey = NULL;
	rc = TANDEM_OK;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return rc;
}

/* RFC 3110 section 2: exponent length (1 or 3 bytes), exponent, modulus. */
static int pkey_from_rsa(const uint8_t *key, size_t len, EVP_PKEY **out)
{
	int rc = TANDEM_CRYPTO_EKEY;
	OSSL_PARAM_BLD *bld = NULL;
	BIGNUM *n = NULL;
	BIGNUM *e = NULL;
	size_t elen;
	size_t off;

	if (len < 1) {
		goto out;
	}
	if (key[0] != 0) {
		elen = key[0];
		off = 1;
	} else {
		if (len < 3) {
			goto out;
		}
		elen = (size_t)key[1] << 8 | key[2];
		off = 3;
	}
	if (elen == 0 || off + elen >= len || len - off - elen > 4096 / 8 * 2) {
		goto out;
	}
	e = BN_bin2bn(key + off, (int)elen, NULL);
	n = BN_bin2bn(key + off + elen, (int)(len - off - elen), NULL);
	bld = OSSL_PARAM_BLD_new();
	if (e == NULL || n == NULL || bld == NULL) {
		rc = TANDEM_CRYPTO_ELIB;
		goto out;
	}
	if (BN_num_bits(n) < 512) {
		goto out;
	}
	if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1) {
		rc = TANDEM_CRYPTO_ELIB;
		goto out;
	}
	rc = pkey_from_params("RSA", bld, out);
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return rc;
}

/* RFC 6605 section 4: the public key is x || y, each of the curve's size. */
static int pkey_from_ecdsa(const char *group, size_t size, const uint8_t *key, size_t len,
			   EVP_PKEY **out)
{
	int rc = TANDEM_CRYPTO_EKEY;
	OSSL_PARAM_BLD *bld = NULL;
	uint8_t point[1 + 2 * 48];

	if (len != 2 * size) {
		goto out;
	}
	point[0] = 0x04; /* uncompressed point */
	memcpy(point + 1, key, len);
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + len) != 1) {
		rc = TANDEM_CRYPTO_ELIB;
		goto out;
	}
	rc = pkey_from_params("EC", bld, out);
out:
	OSSL_PARAM_BLD_free(bld);
	return rc;
}

int crypto_pubkey_from_dnskey(const uint8_t *rdata, size_t len, crypto_pubkey_t **out)
{
	int rc = TANDEM_CRYPTO_EKEY;
	crypto_pubkey_t *k = NULL;
	const char *mdname = NULL;

	if (rdata == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	if (len < 5) {
		goto out;
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		rc = TANDEM_ENOMEM;
		goto out;
	}
	k->flags = (uint16_t)(rdata[0] << 8 | rdata[1]);
	k->algorithm = rdata[3];
	k->tag = crypto_key_tag(rdata, len);
	if (rdata[2] != 3) {
		goto out; /* protocol must be 3 (RFC 4034 2.1.2) */
	}
	const uint8_t *key = rdata + 4;
	size_t key_len = len - 4;
	switch (k->algorithm) {
	case ALG_RSASHA256:
		mdname = "SHA256";
		rc = pkey_from_rsa(key, key_len, &k->pkey);
		break;
	case ALG_RSASHA512:
		mdname = "SHA512";
		rc = pkey_from_rsa(key, key_len, &k->pkey);
		break;
	case ALG_ECDSAP256SHA256:
		mdname = "SHA256";
		k->ec_size = 32;
		rc = pkey_from_ecdsa("P-256", 32, key, key_len, &k->pkey);
		break;
	case ALG_ECDSAP384SHA384:
		mdname = "SHA384";
		k->ec_size = 48;
		rc = pkey_from_ecdsa("P-384", 48, key, key_len, &k->pkey);
		break;
	case ALG_ED25519:
		if (key_len != 32) {
			goto out;
		}
		k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key, key_len);
		rc = k->pkey ? TANDEM_OK : TANDEM_CRYPTO_EKEY;
		break;
	default: rc = TANDEM_CRYPTO_EALG; goto out;
	}
	if (rc != TANDEM_OK) {
		goto out;
	}
	if (mdname != NULL) {
		k->md = EVP_MD_fetch(NULL, mdname, NULL);
		if (k->md == NULL) {
			rc = TANDEM_CRYPTO_ELIB;
			goto out;
		}
		/* OpenSSL 3.0 looks the signature method up under a global lock on
		 * every DigestVerifyInit; copying an initialised context does not. */
		k->proto = EVP_MD_CTX_new();
		if (k->proto == NULL ||
		    EVP_DigestVerifyInit(k->proto, NULL, k->md, NULL, k->pkey) != 1) {
			rc = TANDEM_CRYPTO_ELIB;
			goto out;
		}
	}
	*out = k;
	k = NULL;
	rc = TANDEM_OK;
out:
	crypto_pubkey_free(k);
	return rc;
}

void crypto_pubkey_free(crypto_pubkey_t *key)
{
	if (key == NULL) {
		return;
	}
	EVP_MD_CTX_free(key->proto);
	EVP_PKEY_free(key->pkey);
	EVP_MD_free(key->md);
	free(key);
}

uint8_t crypto_pubkey_algorithm(const crypto_pubkey_t *key)
{
	return key ? key->algorithm : 0;
}

uint16_t crypto_pubkey_tag(const crypto_pubkey_t *key)
{
	return key ? key->tag : 0;
}

uint16_t crypto_pubkey_flags(const crypto_pubkey_t *key)
{
	return key ? key->flags : 0;
}

/* One DER INTEGER from a big-endian unsigned value; returns the bytes written. */
static size_t der_integer(const uint8_t *v, size_t n, uint8_t *out)
{
	while (n > 1 && v[0] == 0) {
		v++;
		n--;
	}
	size_t pad = (v[0] & 0x80) ? 1 : 0;
	out[0] = 0x02;
	out[1] = (uint8_t)(n + pad);
	out[2] = 0;
	memcpy(out + 2 + pad, v, n);
	return 2 + pad + n;
}

/* ECDSA r || s (RFC 6605) to the DER SEQUENCE OpenSSL verifies; out holds 2*size+8 bytes. */
static size_t ecdsa_sig_to_der(const uint8_t *sig, size_t size, uint8_t *out)
{
	size_t n = 2;
	n += der_integer(sig, size, out + n);
	n += der_integer(sig + size, size, out + n);
	out[0] = 0x30;
	out[1] = (uint8_t)(n - 2); /* at most 2 * (2 + 1 + 48) = 102: short form */
	return n;
}

int crypto_verify(const crypto_pubkey_t *key, const uint8_t *data, size_t len, const uint8_t *sig,
		  size_t sig_len)
{
	int rc = TANDEM_CRYPTO_EVERIFY;
	EVP_MD_CTX *ctx = NULL;
	uint8_t der[2 * 48 + 8];

	if (key == NULL || (data == NULL && len > 0) || sig == NULL) {
		return TANDEM_EINVAL;
	}
	if (key->ec_size != 0) {
		if (sig_len != 2 * key->ec_size) {
			goto out;
		}
		sig_len = ecdsa_sig_to_der(sig, key->ec_size, der);
		sig = der;
	}
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL) {
		rc = TANDEM_ENOMEM;
		goto out;
	}
	/* The key is shared between threads: both paths only read it. */
	if (key->proto != NULL) {
		if (EVP_MD_CTX_copy_ex(ctx, key->proto) != 1 ||
		    EVP_DigestVerifyUpdate(ctx, data, len) != 1) {
			rc = TANDEM_CRYPTO_ELIB;
			goto out;
		}
		if (EVP_DigestVerifyFinal(ctx, sig, sig_len) == 1) {
			rc = TANDEM_OK;
		}
		goto out;
	}
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key->pkey) != 1) {
		rc = TANDEM_CRYPTO_ELIB;
		goto out;
	}
	if (EVP_DigestVerify(ctx, sig, sig_len, data, len) == 1) {
		rc = TANDEM_OK;
	}
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

int crypto_ds_from_dnskey(const uint8_t *owner, size_t owner_len, const uint8_t *dnskey,
			  size_t dnskey_len, uint8_t digest_type, uint8_t *out, size_t *out_len)
{
	int rc = TANDEM_CRYPTO_ELIB;
	EVP_MD_CTX *ctx = NULL;
	const char *mdname;
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned digest_len = 0;

	if (owner == NULL || dnskey == NULL || out == NULL || out_len == NULL || dnskey_len < 4) {
		return TANDEM_EINVAL;
	}
	switch (digest_type) {
	case CRYPTO_DS_SHA1: mdname = "SHA1"; break;
	case CRYPTO_DS_SHA256: mdname = "SHA256"; break;
	case CRYPTO_DS_SHA384: mdname = "SHA384"; break;
	default: return TANDEM_CRYPTO_EALG;
	}
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL) {
		rc = TANDEM_ENOMEM;
		goto out;
	}
	/* RFC 4034 5.1.4: digest = hash(owner name | DNSKEY RDATA) */
	if (EVP_DigestInit_ex2(ctx, EVP_get_digestbyname(mdname), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, owner, owner_len) != 1 ||
	    EVP_DigestUpdate(ctx, dnskey, dnskey_len) != 1 ||
	    EVP_DigestFinal_ex(ctx, digest, &digest_len) != 1) {
		goto out;
	}
	uint16_t tag = crypto_key_tag(dnskey, dnskey_len);
	out[0] = (uint8_t)(tag >> 8);
	out[1] = (uint8_t)tag;
	out[2] = dnskey[3];
	out[3] = digest_type;
	memcpy(out + 4, digest, digest_len);
	*out_len = 4 + (size_t)digest_len;
	rc = TANDEM_OK;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* SHA-1 fetched once for the process: handing EVP_sha1() to EVP_DigestInit_ex2 makes
 * OpenSSL 3 look the implementation up again on every call, which was half the cost of
 * hashing a million owner names. */
static EVP_MD *sha1_md;
static pthread_once_t sha1_once = PTHREAD_ONCE_INIT;

static void sha1_fetch(void)
{
	sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
}

int crypto_nsec3_hash(const uint8_t *name, size_t name_len, const uint8_t *salt, size_t salt_len,
		      uint16_t iterations, uint8_t out[20])
{
	int rc = TANDEM_CRYPTO_ELIB;
	EVP_MD_CTX *ctx = NULL;
	uint8_t h[20];

	if (name == NULL || out == NULL || (salt == NULL && salt_len > 0)) {
		return TANDEM_EINVAL;
	}
	(void)pthread_once(&sha1_once, sha1_fetch);
	const EVP_MD *md = sha1_md != NULL ? sha1_md : EVP_sha1();
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL) {
		rc = TANDEM_ENOMEM;
		goto out;
	}
	/* RFC 5155 5: IH(0) = H(name | salt), IH(k) = H(IH(k-1) | salt) */
	const uint8_t *in = name;
	size_t in_len = name_len;
	for (unsigned i = 0; i <= iterations; i++) {
		/* after the first round, reinitialise without looking the digest up again */
		if (EVP_DigestInit_ex2(ctx, i == 0 ? md : NULL, NULL) != 1 ||
		    EVP_DigestUpdate(ctx, in, in_len) != 1 ||
		    EVP_DigestUpdate(ctx, salt, salt_len) != 1 ||
		    EVP_DigestFinal_ex(ctx, h, NULL) != 1) {
			goto out;
		}
		in = h;
		in_len = sizeof(h);
	}
	memcpy(out, h, sizeof(h));
	rc = TANDEM_OK;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

size_t crypto_base32hex(const uint8_t *data, size_t len, char *out)
{
	return tandem_base32hex(data, len, out);
}

int crypto_sha256_file(const char *path, uint8_t out[32])
{
	if (path == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	FILE *fp = fopen(path, "rb");
	if (fp == NULL) {
		return errno == ENOENT ? TANDEM_ENOENT : TANDEM_EIO;
	}
	int ret = TANDEM_ENOMEM;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *buf = malloc(1u << 20);
	if (md == NULL || buf == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		goto out;
	}
	ret = TANDEM_EIO;
	size_t n;
	while ((n = fread(buf, 1, 1u << 20, fp)) > 0) {
		if (EVP_DigestUpdate(md, buf, n) != 1) {
			goto out;
		}
	}
	unsigned int len = 0;
	uint8_t digest[EVP_MAX_MD_SIZE];
	if (ferror(fp) || EVP_DigestFinal_ex(md, digest, &len) != 1 || len != 32) {
		goto out;
	}
	memcpy(out, digest, 32);
	ret = TANDEM_OK;
out:
	free(buf);
	EVP_MD_CTX_free(md);
	fclose(fp);
	return ret;
}
