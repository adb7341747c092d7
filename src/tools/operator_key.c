/* An operator's approval key: a 0600 secret file or a key on a PKCS#11 token. */
#include "operator_key.h"

#include "hsm.h"
#include "tandem_diag.h"
#include "tandem_encode.h"
#include "tandem_error.h"
#include "tandem_file.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPKEY_EXIT_USAGE = 1, OPKEY_EXIT_INPUT = 2, OPKEY_EXIT_HSM = 3 };

struct opkey {
	EVP_PKEY *secret; /* a secret file's key, or NULL */
	hsm_module_t *module;
	hsm_token_t *token;
	const hsm_key_t *key; /* borrowed from token */
};

/* A bad URI, PIN, key or label is the operator's input (2); the rest is the token's (3). */
static int hsm_exit(int ret)
{
	switch (ret) {
	case TANDEM_HSM_EURI:
	case TANDEM_HSM_EPIN:
	case TANDEM_HSM_EKEY:
	case TANDEM_HSM_ETOKEN:
	case TANDEM_EEXIST:
	case TANDEM_EINVAL: return OPKEY_EXIT_INPUT;
	default: return OPKEY_EXIT_HSM;
	}
}

static void diag_print(const char *who, const char *what, int ret, const tandem_diag_t *diag)
{
	fprintf(stderr, "%s: %s: %s\n", who, what, tandem_strerror(ret));
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		fprintf(stderr, "%s:   %s\n", who, tandem_diag_msg(diag, i));
	}
}

/* Loads the URI's module (module-path/-name, else SoftHSMv2) and opens its token, 1 session. */
static int hsm_open(const hsm_uri_t *uri, tandem_diag_t *diag, opkey_t *k)
{
	int ret = hsm_module_load(hsm_uri_module(uri), diag, &k->module);
	if (ret == TANDEM_OK) {
		ret = hsm_token_open(k->module, uri, NULL, 1, diag, &k->token);
	}
	return ret;
}

/* The Ed25519 public key of a token key (its DNSKEY RDATA after the 4-byte header). */
static int token_pub(const char *who, const hsm_key_t *key, uint8_t pub[COORD_APPROVAL_PUB_LEN])
{
	uint8_t rdata[HSM_DNSKEY_MAX];
	size_t len = 0;
	if (hsm_key_algorithm(key) != HSM_ALG_ED25519 ||
	    hsm_key_dnskey_rdata(key, 256, rdata, &len) != TANDEM_OK ||
	    len != 4 + COORD_APPROVAL_PUB_LEN) {
		fprintf(stderr, "%s: token key %s is not an Ed25519 key: not an operator key\n",
			who, hsm_key_label(key));
		return OPKEY_EXIT_INPUT;
	}
	memcpy(pub, rdata + 4, COORD_APPROVAL_PUB_LEN);
	return 0;
}

static int secret_open(const char *who, const char *path, opkey_t *k,
		       uint8_t pub[COORD_APPROVAL_PUB_LEN])
{
	char *text = NULL;
	size_t len = 0, ulen = COORD_APPROVAL_PUB_LEN;
	uint8_t seed[32];
	int ret = tandem_secret_read(path, 1024, &text, &len);
	if (ret == TANDEM_EPERM) {
		fprintf(stderr, "%s: %s: group or others may read it: refused (chmod 600)\n", who,
			path);
		return OPKEY_EXIT_INPUT;
	}
	if (ret != TANDEM_OK) {
		fprintf(stderr, "%s: %s: %s\n", who, path, tandem_strerror(ret));
		return OPKEY_EXIT_INPUT;
	}
	text[strcspn(text, "\r\n")] = '\0';
	ret = tandem_hex_decode(text, seed, sizeof(seed));
	tandem_wipe(text, len);
	free(text);
	EVP_PKEY *key = ret == TANDEM_OK ? EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
									seed, sizeof(seed))
					 : NULL;
	tandem_wipe(seed, sizeof(seed));
	if (key == NULL || EVP_PKEY_get_raw_public_key(key, pub, &ulen) != 1) {
		fprintf(stderr, "%s: %s: not an operator secret key\n", who, path);
		EVP_PKEY_free(key);
		return OPKEY_EXIT_INPUT;
	}
	k->secret = key;
	return 0;
}

static int token_open(const char *who, const char *uri_text, opkey_t *k,
		      uint8_t pub[COORD_APPROVAL_PUB_LEN])
{
	tandem_diag_t *diag = NULL;
	hsm_uri_t *uri = NULL;
	int ret = tandem_diag_new(&diag);
	if (ret == TANDEM_OK) {
		ret = hsm_uri_parse(uri_text, diag, &uri);
	}
	if (ret == TANDEM_OK) {
		ret = hsm_open(uri, diag, k);
	}
	if (ret == TANDEM_OK) {
		ret = hsm_token_find_key(k->token, uri, diag, &k->key);
	}
	int rc = 0;
	if (ret != TANDEM_OK) {
		diag_print(who, "operator key on the token", ret, diag);
		rc = hsm_exit(ret);
	} else {
		rc = token_pub(who, k->key, pub);
	}
	hsm_uri_free(uri);
	tandem_diag_free(diag);
	return rc;
}

int opkey_open(const char *who, const char *spec, opkey_t **out,
	       uint8_t pub[COORD_APPROVAL_PUB_LEN])
{
	opkey_t *k = calloc(1, sizeof(*k));
	if (k == NULL) {
		fprintf(stderr, "%s: out of memory\n", who);
		return OPKEY_EXIT_INPUT;
	}
	int rc = strncmp(spec, "pkcs11:", 7) == 0 ? token_open(who, spec, k, pub)
						  : secret_open(who, spec, k, pub);
	if (rc != 0) {
		opkey_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

int opkey_sign(const char *who, opkey_t *key, const uint8_t *msg, size_t len,
	       uint8_t sig[COORD_APPROVAL_SIG_LEN])
{
	if (key->token != NULL) {
		uint8_t buf[HSM_SIG_MAX];
		size_t slen = 0;
		int ret = hsm_token_sign(key->token, 0, key->key, msg, len, buf, &slen);
		if (ret != TANDEM_OK || slen != COORD_APPROVAL_SIG_LEN) {
			fprintf(stderr, "%s: signing on the token failed: %s\n", who,
				ret != TANDEM_OK ? tandem_strerror(ret) : "not 64 bytes");
			return OPKEY_EXIT_HSM;
		}
		memcpy(sig, buf, COORD_APPROVAL_SIG_LEN);
		return 0;
	}
	size_t slen = COORD_APPROVAL_SIG_LEN;
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	bool ok = mctx != NULL && EVP_DigestSignInit(mctx, NULL, NULL, NULL, key->secret) == 1 &&
		  EVP_DigestSign(mctx, sig, &slen, msg, len) == 1;
	EVP_MD_CTX_free(mctx);
	if (!ok) {
		fprintf(stderr, "%s: signing failed\n", who);
		return OPKEY_EXIT_INPUT;
	}
	return 0;
}

void opkey_free(opkey_t *key)
{
	if (key == NULL) {
		return;
	}
	EVP_PKEY_free(key->secret); /* OpenSSL clears the private key as it frees it */
	hsm_token_close(key->token);
	hsm_module_free(key->module);
	free(key);
}

static bool label_ok(const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) > 64) {
		return false;
	}
	for (; *s != '\0'; s++) {
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '.' && *s != '_') {
			return false;
		}
	}
	return true;
}

/* uri with ";object=label" added to its path (before any '?' query), into a fresh string. */
static char *uri_with_object(const char *uri, const char *label)
{
	size_t path_end = strcspn(uri, "?");
	size_t n = strlen(uri) + strlen(label) + 16;
	char *s = malloc(n);
	if (s != NULL) {
		bool empty = path_end == 7; /* "pkcs11:" alone */
		snprintf(s, n, "%.*s%sobject=%s%s", (int)path_end, uri, empty ? "" : ";", label,
			 uri + path_end);
	}
	return s;
}

int opkey_token_keygen(const char *who, const char *uri_text, const char *label,
		       uint8_t pub[COORD_APPROVAL_PUB_LEN], char token_label[33], char object[65])
{
	tandem_diag_t *diag = NULL;
	hsm_uri_t *uri = NULL;
	opkey_t k = {0};
	char *full = NULL;
	const hsm_key_t *key = NULL;
	int rc = OPKEY_EXIT_INPUT;
	int ret = tandem_diag_new(&diag);
	if (ret == TANDEM_OK) {
		ret = hsm_uri_parse(uri_text, diag, &uri);
	}
	if (ret != TANDEM_OK) {
		diag_print(who, "--pkcs11", ret, diag);
		goto out;
	}
	if (hsm_uri_object(uri) == NULL) {
		if (!label_ok(label)) {
			fprintf(stderr,
				"%s: --pkcs11: the URI has no object=LABEL, and no NAME (letters, "
				"digits, '.', '-', '_') to label the key with\n",
				who);
			rc = label == NULL ? OPKEY_EXIT_USAGE : OPKEY_EXIT_INPUT;
			goto out;
		}
		full = uri_with_object(uri_text, label);
		hsm_uri_free(uri);
		uri = NULL;
		ret = full == NULL ? TANDEM_ENOMEM : hsm_uri_parse(full, diag, &uri);
		if (ret != TANDEM_OK) {
			diag_print(who, "--pkcs11", ret, diag);
			goto out;
		}
	}
	ret = hsm_open(uri, diag, &k);
	if (ret == TANDEM_OK) {
		hsm_keyspec_t spec = {.algorithm = HSM_ALG_ED25519, .stays = true};
		ret = hsm_token_generate_key(k.token, uri, &spec, diag, &key);
	}
	if (ret != TANDEM_OK) {
		diag_print(who, "operator key generation on the token", ret, diag);
		rc = hsm_exit(ret);
		goto out;
	}
	rc = token_pub(who, key, pub);
	if (rc == 0) {
		snprintf(token_label, 33, "%s", hsm_token_label(k.token));
		snprintf(object, 65, "%s", hsm_key_label(key));
	}
out:
	hsm_token_close(k.token);
	hsm_module_free(k.module);
	hsm_uri_free(uri);
	free(full);
	tandem_diag_free(diag);
	return rc;
}
