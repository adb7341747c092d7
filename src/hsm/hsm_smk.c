/* The SMK: SO-session install, check value, wrap/unwrap under it, the archive MAC key, staged
 * imports that leave nothing behind on failure. */
#include "hsm_smk.h"
#include "hsm_internal.h"
#include "tandem_error.h"
#include "tandem_file.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

/* K0, the fixed AES-256 key wrapped under the SMK for the check value (docs/ceremony.md). */
static const uint8_t CHECK_KEY[32] = "tandem SMK check value test key!";
static const char CHECK_PREFIX[] = "tandem-smk-check-v1";
static const char MAC_CHECK_DATA[] = "tandem-archive-mac-check-v1";
/* AES-KWP of a 32-byte key: 8-byte integrity block + 32 bytes. */
#define KWP_CHECK_LEN 40

/* CKA_EC_PARAMS of the curves we unwrap (as hsm_key.c writes them at keygen). */
static const uint8_t OID_P256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t OID_P384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t OID_ED25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};

struct staged {
	hsm_key_t *key; /* priv/pub are session objects */
	CK_KEY_TYPE type;
};

struct hsm_smk_import {
	hsm_token_t *token;
	CK_OBJECT_HANDLE smk;
	struct staged *keys;
	size_t n, cap;
};

static int check_finish(const uint8_t kwp[KWP_CHECK_LEN], const uint8_t mac[HSM_SMK_MAC_LEN],
			uint8_t out[HSM_SMK_CHECK_LEN])
{
	int ret = TANDEM_CRYPTO_ELIB;
	unsigned len = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(c, CHECK_PREFIX, strlen(CHECK_PREFIX)) == 1 &&
	    EVP_DigestUpdate(c, kwp, KWP_CHECK_LEN) == 1 &&
	    EVP_DigestUpdate(c, mac, HSM_SMK_MAC_LEN) == 1 &&
	    EVP_DigestFinal_ex(c, out, &len) == 1 && len == HSM_SMK_CHECK_LEN) {
		ret = TANDEM_OK;
	}
	EVP_MD_CTX_free(c);
	return ret;
}

int hsm_smk_check_soft(const uint8_t smk[HSM_SMK_KEY_LEN], const uint8_t mac_key[HSM_SMK_KEY_LEN],
		       uint8_t out[HSM_SMK_CHECK_LEN])
{
	if (smk == NULL || mac_key == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	int ret = TANDEM_CRYPTO_ELIB;
	uint8_t kwp[KWP_CHECK_LEN + 16];
	uint8_t mac[HSM_SMK_MAC_LEN];
	int n1 = 0, n2 = 0;
	unsigned mac_len = 0;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL) {
		goto out;
	}
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_wrap_pad(), NULL, smk, NULL) != 1 ||
	    EVP_EncryptUpdate(ctx, kwp, &n1, CHECK_KEY, sizeof(CHECK_KEY)) != 1 ||
	    EVP_EncryptFinal_ex(ctx, kwp + n1, &n2) != 1 || n1 + n2 != KWP_CHECK_LEN) {
		goto out;
	}
	if (HMAC(EVP_sha256(), mac_key, HSM_SMK_KEY_LEN, (const uint8_t *)MAC_CHECK_DATA,
		 strlen(MAC_CHECK_DATA), mac, &mac_len) == NULL ||
	    mac_len != sizeof(mac)) {
		goto out;
	}
	ret = check_finish(kwp, mac, out);
out:
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

/* ---- finding objects ---- */

/* The one secret key object labelled label: TANDEM_HSM_EKEY when there is none or several. */
static int find_secret(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, const char *label,
		       tandem_diag_t *diag, CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE match[] = {{CKA_CLASS, &cls, sizeof(cls)},
				{CKA_LABEL, (void *)label, strlen(label)}};
	CK_OBJECT_HANDLE h[2];
	CK_ULONG got = 0;
	CK_RV rv = fl->C_FindObjectsInit(s, match, 2);
	if (rv == CKR_OK) {
		rv = fl->C_FindObjects(s, h, 2, &got);
		(void)fl->C_FindObjectsFinal(s);
	}
	if (rv != CKR_OK) {
		tandem_diag_add(diag, TANDEM_HSM_EP11, "C_FindObjects (%s): %s", label,
				hsm_rv_name(rv));
		return TANDEM_HSM_EP11;
	}
	if (got != 1) {
		tandem_diag_add(diag, TANDEM_HSM_EKEY, "%s key labelled %s on the token%s",
				got == 0 ? "no" : "more than one", label,
				got == 0 ? " (run tandem-ceremony smk-install)" : "");
		return TANDEM_HSM_EKEY;
	}
	*out = h[0];
	return TANDEM_OK;
}

int hsm_smk_handle(hsm_token_t *token, bool mac, tandem_diag_t *diag, CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_HANDLE *cached = mac ? &token->mac_key : &token->smk;
	if (*cached == CK_INVALID_HANDLE) {
		int ret = find_secret(token->fl, token->admin,
				      mac ? HSM_SMK_MAC_LABEL : HSM_SMK_LABEL, diag, cached);
		if (ret != TANDEM_OK) {
			*cached = CK_INVALID_HANDLE;
			return ret;
		}
	}
	*out = *cached;
	return TANDEM_OK;
}

void hsm_smk_handle_failed(hsm_token_t *token, CK_RV rv)
{
	if (rv == CKR_KEY_HANDLE_INVALID || rv == CKR_WRAPPING_KEY_HANDLE_INVALID ||
	    rv == CKR_UNWRAPPING_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID) {
		token->smk = token->mac_key = CK_INVALID_HANDLE;
		token->check_known = false;
	}
}

/* The check value of the keys an SO or user session sees. */
static int check_with(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE smk,
		      CK_OBJECT_HANDLE mac_key, tandem_diag_t *diag, uint8_t out[HSM_SMK_CHECK_LEN],
		      CK_RV *rv_out);

static int check_in_session(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, tandem_diag_t *diag,
			    uint8_t out[HSM_SMK_CHECK_LEN])
{
	CK_OBJECT_HANDLE smk = CK_INVALID_HANDLE, mac_key = CK_INVALID_HANDLE;
	int ret = find_secret(fl, s, HSM_SMK_LABEL, diag, &smk);
	if (ret == TANDEM_OK) {
		ret = find_secret(fl, s, HSM_SMK_MAC_LABEL, diag, &mac_key);
	}
	CK_RV rv = CKR_OK;
	return ret != TANDEM_OK ? ret : check_with(fl, s, smk, mac_key, diag, out, &rv);
}

/* The check value computed with the SMK and MAC key handles given; *rv_out says which
 * PKCS#11 call failed how (CKR_OK when none did). */
static int check_with(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE smk,
		      CK_OBJECT_HANDLE mac_key, tandem_diag_t *diag, uint8_t out[HSM_SMK_CHECK_LEN],
		      CK_RV *rv_out)
{
	CK_OBJECT_HANDLE k0 = CK_INVALID_HANDLE;
	int ret = TANDEM_OK;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	/* A public session object: K0 is no secret, and an SO session may not make private ones.
	 */
	CK_ATTRIBUTE k0_tmpl[] = {
	    {CKA_CLASS, &cls, sizeof(cls)},     {CKA_KEY_TYPE, &aes, sizeof(aes)},
	    {CKA_TOKEN, &no, sizeof(no)},       {CKA_PRIVATE, &no, sizeof(no)},
	    {CKA_SENSITIVE, &no, sizeof(no)},   {CKA_EXTRACTABLE, &yes, sizeof(yes)},
	    {CKA_VALUE, (void *)CHECK_KEY, 32},
	};
	CK_RV rv = fl->C_CreateObject(s, k0_tmpl, sizeof(k0_tmpl) / sizeof(k0_tmpl[0]), &k0);
	if (rv != CKR_OK) {
		k0 = CK_INVALID_HANDLE;
		tandem_diag_add(diag, TANDEM_HSM_EP11, "check value: C_CreateObject: %s",
				hsm_rv_name(rv));
		ret = TANDEM_HSM_EP11;
		goto out;
	}
	uint8_t kwp[KWP_CHECK_LEN + 16];
	CK_ULONG kwp_len = sizeof(kwp);
	CK_MECHANISM wrap = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	rv = fl->C_WrapKey(s, &wrap, smk, k0, kwp, &kwp_len);
	*rv_out = rv;
	if (rv != CKR_OK || kwp_len != KWP_CHECK_LEN) {
		tandem_diag_add(diag, TANDEM_HSM_EP11, "check value: C_WrapKey under the SMK: %s",
				hsm_rv_name(rv));
		ret = TANDEM_HSM_EP11;
		goto out;
	}
	uint8_t mac[HSM_SMK_MAC_LEN];
	CK_ULONG mac_len = sizeof(mac);
	CK_MECHANISM hmac = {CKM_SHA256_HMAC, NULL, 0};
	rv = fl->C_SignInit(s, &hmac, mac_key);
	if (rv == CKR_OK) {
		rv =
		    fl->C_Sign(s, (CK_BYTE *)MAC_CHECK_DATA, strlen(MAC_CHECK_DATA), mac, &mac_len);
	}
	*rv_out = rv;
	if (rv != CKR_OK || mac_len != sizeof(mac)) {
		tandem_diag_add(diag, TANDEM_HSM_EP11, "check value: HMAC with the MAC key: %s",
				hsm_rv_name(rv));
		ret = TANDEM_HSM_EP11;
		goto out;
	}
	ret = check_finish(kwp, mac, out);
out:
	if (k0 != CK_INVALID_HANDLE) {
		(void)fl->C_DestroyObject(s, k0);
	}
	return ret;
}

/* ---- install (SO session) ---- */

static int so_login(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, const char *label,
		    const char *so_pin, size_t so_pin_len, tandem_diag_t *diag)
{
	CK_RV rv = fl->C_Login(s, CKU_SO, (CK_UTF8CHAR *)so_pin, so_pin_len);
	switch (rv) {
	case CKR_OK: return TANDEM_OK;
	case CKR_PIN_INCORRECT:
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
	case CKR_PIN_EXPIRED:
	case CKR_PIN_LOCKED:
		tandem_diag_add(diag, TANDEM_HSM_EPIN, "SO login on token %s: %s", label,
				hsm_rv_name(rv));
		return TANDEM_HSM_EPIN;
	default:
		tandem_diag_add(
		    diag, TANDEM_HSM_EP11, "SO login on token %s: %s%s", label, hsm_rv_name(rv),
		    rv == CKR_USER_ANOTHER_ALREADY_LOGGED_IN || rv == CKR_USER_ALREADY_LOGGED_IN
			? " (close every user session on this token first)"
			: "");
		return TANDEM_HSM_EP11;
	}
}

/* Is there any object labelled label? */
static int label_taken(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, const char *label,
		       tandem_diag_t *diag, bool *taken)
{
	CK_ATTRIBUTE match = {CKA_LABEL, (void *)label, strlen(label)};
	CK_OBJECT_HANDLE h;
	CK_ULONG got = 0;
	CK_RV rv = fl->C_FindObjectsInit(s, &match, 1);
	if (rv == CKR_OK) {
		rv = fl->C_FindObjects(s, &h, 1, &got);
		(void)fl->C_FindObjectsFinal(s);
	}
	if (rv != CKR_OK) {
		tandem_diag_add(diag, TANDEM_HSM_EP11, "C_FindObjects: %s", hsm_rv_name(rv));
		return TANDEM_HSM_EP11;
	}
	*taken = got > 0;
	return TANDEM_OK;
}

int hsm_smk_install(hsm_module_t *module, const hsm_uri_t *uri, const char *so_pin,
		    size_t so_pin_len, const uint8_t smk[HSM_SMK_KEY_LEN],
		    const uint8_t mac_key[HSM_SMK_KEY_LEN], const uint8_t *id, size_t id_len,
		    tandem_diag_t *diag)
{
	if (module == NULL || uri == NULL || so_pin == NULL || so_pin_len == 0 || smk == NULL ||
	    mac_key == NULL || (id == NULL && id_len > 0)) {
		return TANDEM_EINVAL;
	}
	CK_FUNCTION_LIST *fl = module->fl;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE h_smk = CK_INVALID_HANDLE, h_mac = CK_INVALID_HANDLE;
	bool open = false, logged_in = false;
	char label[33];
	CK_SLOT_ID slot = 0;
	uint8_t want[HSM_SMK_CHECK_LEN], got[HSM_SMK_CHECK_LEN];
	int ret = hsm_smk_check_soft(smk, mac_key, want);
	if (ret != TANDEM_OK) {
		goto out;
	}
	ret = hsm_slot_find(fl, uri, diag, &slot, label);
	if (ret != TANDEM_OK) {
		goto out;
	}
	CK_RV rv = fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK) {
		tandem_diag_add(diag, TANDEM_HSM_EP11, "C_OpenSession on token %s: %s", label,
				hsm_rv_name(rv));
		ret = TANDEM_HSM_EP11;
		goto out;
	}
	open = true;
	ret = so_login(fl, s, label, so_pin, so_pin_len, diag);
	if (ret != TANDEM_OK) {
		goto out;
	}
	logged_in = true;

	bool smk_taken = false, mac_taken = false;
	ret = label_taken(fl, s, HSM_SMK_LABEL, diag, &smk_taken);
	if (ret == TANDEM_OK) {
		ret = label_taken(fl, s, HSM_SMK_MAC_LABEL, diag, &mac_taken);
	}
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (smk_taken || mac_taken) {
		tandem_diag_t *probe = NULL;
		bool same = tandem_diag_new(&probe) == TANDEM_OK &&
			    check_in_session(fl, s, probe, got) == TANDEM_OK &&
			    memcmp(got, want, sizeof(want)) == 0;
		tandem_diag_free(probe);
		tandem_diag_add(diag, TANDEM_EEXIST, "token %s already holds %s", label,
				same ? "this ceremony's SMK (same check value): nothing to do"
				     : "an SMK or archive MAC key from another ceremony; "
				       "it is left as it is");
		ret = TANDEM_EEXIST;
		goto out;
	}

	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES, generic = CKK_GENERIC_SECRET;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_MECHANISM_TYPE smk_mechs[] = {CKM_AES_KEY_WRAP_PAD};
	CK_MECHANISM_TYPE mac_mechs[] = {CKM_SHA256_HMAC};
	/* Whatever is unwrapped under the SMK must come back sensitive and wrappable only
	 * under a trusted key (SoftHSM ignores CKA_PRIVATE in this template). */
	CK_ATTRIBUTE unwrap_tmpl[] = {
	    {CKA_SENSITIVE, &yes, sizeof(yes)},
	    {CKA_WRAP_WITH_TRUSTED, &yes, sizeof(yes)},
	};
	CK_ATTRIBUTE smk_tmpl[] = {
	    {CKA_CLASS, &cls, sizeof(cls)},
	    {CKA_KEY_TYPE, &aes, sizeof(aes)},
	    {CKA_TOKEN, &yes, sizeof(yes)},
	    {CKA_PRIVATE, &no, sizeof(no)},
	    {CKA_LABEL, HSM_SMK_LABEL, strlen(HSM_SMK_LABEL)},
	    {CKA_ID, (void *)id, id_len},
	    {CKA_VALUE, (void *)smk, HSM_SMK_KEY_LEN},
	    {CKA_TRUSTED, &yes, sizeof(yes)},
	    {CKA_SENSITIVE, &yes, sizeof(yes)},
	    {CKA_EXTRACTABLE, &no, sizeof(no)},
	    {CKA_WRAP, &yes, sizeof(yes)},
	    {CKA_UNWRAP, &yes, sizeof(yes)},
	    {CKA_ENCRYPT, &no, sizeof(no)},
	    {CKA_DECRYPT, &no, sizeof(no)},
	    {CKA_SIGN, &no, sizeof(no)},
	    {CKA_VERIFY, &no, sizeof(no)},
	    {CKA_DERIVE, &no, sizeof(no)},
	    {CKA_MODIFIABLE, &no, sizeof(no)},
	    {CKA_ALLOWED_MECHANISMS, smk_mechs, sizeof(smk_mechs)},
	    {CKA_UNWRAP_TEMPLATE, unwrap_tmpl, sizeof(unwrap_tmpl)},
	};
	CK_ATTRIBUTE mac_tmpl[] = {
	    {CKA_CLASS, &cls, sizeof(cls)},
	    {CKA_KEY_TYPE, &generic, sizeof(generic)},
	    {CKA_TOKEN, &yes, sizeof(yes)},
	    {CKA_PRIVATE, &no, sizeof(no)},
	    {CKA_LABEL, HSM_SMK_MAC_LABEL, strlen(HSM_SMK_MAC_LABEL)},
	    {CKA_ID, (void *)id, id_len},
	    {CKA_VALUE, (void *)mac_key, HSM_SMK_KEY_LEN},
	    {CKA_SENSITIVE, &yes, sizeof(yes)},
	    {CKA_EXTRACTABLE, &no, sizeof(no)},
	    {CKA_SIGN, &yes, sizeof(yes)},
	    {CKA_VERIFY, &yes, sizeof(yes)},
	    {CKA_ENCRYPT, &no, sizeof(no)},
	    {CKA_DECRYPT, &no, sizeof(no)},
	    {CKA_WRAP, &no, sizeof(no)},
	    {CKA_UNWRAP, &no, sizeof(no)},
	    {CKA_DERIVE, &no, sizeof(no)},
	    {CKA_MODIFIABLE, &no, sizeof(no)},
	    {CKA_ALLOWED_MECHANISMS, mac_mechs, sizeof(mac_mechs)},
	};
	rv = fl->C_CreateObject(s, smk_tmpl, sizeof(smk_tmpl) / sizeof(smk_tmpl[0]), &h_smk);
	if (rv != CKR_OK) {
		h_smk = CK_INVALID_HANDLE;
		tandem_diag_add(diag, TANDEM_HSM_EP11, "creating the SMK on token %s: %s", label,
				hsm_rv_name(rv));
		ret = TANDEM_HSM_EP11;
		goto out;
	}
	rv = fl->C_CreateObject(s, mac_tmpl, sizeof(mac_tmpl) / sizeof(mac_tmpl[0]), &h_mac);
	if (rv != CKR_OK) {
		h_mac = CK_INVALID_HANDLE;
		tandem_diag_add(diag, TANDEM_HSM_EP11,
				"creating the archive MAC key on token %s: %s", label,
				hsm_rv_name(rv));
		ret = TANDEM_HSM_EP11;
		goto out;
	}
	ret = check_in_session(fl, s, diag, got);
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (memcmp(got, want, sizeof(want)) != 0) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_ETAMPER,
				"token %s: the check value computed in the HSM differs from the "
				"ceremony's; nothing installed",
				label);
		ret = TANDEM_ARCHIVE_ETAMPER;
		goto out;
	}
	h_smk = h_mac = CK_INVALID_HANDLE; /* installed: keep them */
out:
	/* On failure nothing we made may stay on the token. */
	if (h_smk != CK_INVALID_HANDLE) {
		(void)fl->C_DestroyObject(s, h_smk);
	}
	if (h_mac != CK_INVALID_HANDLE) {
		(void)fl->C_DestroyObject(s, h_mac);
	}
	if (logged_in) {
		(void)fl->C_Logout(s);
	}
	if (open) {
		(void)fl->C_CloseSession(s);
	}
	tandem_wipe(want, sizeof(want));
	tandem_wipe(got, sizeof(got));
	return ret;
}

/* ---- an open (user) token ---- */

int hsm_smk_check(hsm_token_t *token, tandem_diag_t *diag, uint8_t out[HSM_SMK_CHECK_LEN])
{
	if (token == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	if (!token->check_known) {
		int ret = hsm_smk_check_fresh(token, diag, out);
		if (ret != TANDEM_OK) {
			return ret;
		}
	}
	memcpy(out, token->check, HSM_SMK_CHECK_LEN);
	return TANDEM_OK;
}

int hsm_smk_check_fresh(hsm_token_t *token, tandem_diag_t *diag, uint8_t out[HSM_SMK_CHECK_LEN])
{
	if (token == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	token->check_known = false;
	CK_OBJECT_HANDLE smk = CK_INVALID_HANDLE, mac_key = CK_INVALID_HANDLE;
	int ret = hsm_smk_handle(token, false, diag, &smk);
	if (ret == TANDEM_OK) {
		ret = hsm_smk_handle(token, true, diag, &mac_key);
	}
	if (ret != TANDEM_OK) {
		return ret;
	}
	uint8_t v[HSM_SMK_CHECK_LEN];
	CK_RV rv = CKR_OK;
	ret = check_with(token->fl, token->admin, smk, mac_key, diag, v, &rv);
	if (ret != TANDEM_OK) {
		hsm_smk_handle_failed(token, rv);
		return ret;
	}
	memcpy(token->check, v, sizeof(v));
	token->check_known = true;
	memcpy(out, v, sizeof(v));
	return TANDEM_OK;
}

const uint8_t *hsm_smk_key_id(const hsm_key_t *key, size_t *len)
{
	if (key == NULL || len == NULL) {
		return NULL;
	}
	*len = key->id_len;
	return key->id;
}

bool hsm_smk_key_archivable(hsm_token_t *token, const hsm_key_t *key)
{
	if (token == NULL || key == NULL) {
		return false;
	}
	CK_BBOOL extractable = CK_FALSE, wwt = CK_FALSE;
	CK_ATTRIBUTE a[] = {{CKA_EXTRACTABLE, &extractable, sizeof(extractable)},
			    {CKA_WRAP_WITH_TRUSTED, &wwt, sizeof(wwt)}};
	return token->fl->C_GetAttributeValue(token->admin, key->priv, a, 2) == CKR_OK &&
	       extractable == CK_TRUE && wwt == CK_TRUE;
}

int hsm_smk_wrap(hsm_token_t *token, const hsm_key_t *key, tandem_diag_t *diag, uint8_t **out,
		 size_t *out_len)
{
	if (token == NULL || key == NULL || out == NULL || out_len == NULL) {
		return TANDEM_EINVAL;
	}
	CK_OBJECT_HANDLE smk = CK_INVALID_HANDLE;
	uint8_t *buf = NULL;
	int ret = hsm_smk_handle(token, false, diag, &smk);
	if (ret != TANDEM_OK) {
		goto out;
	}
	CK_MECHANISM wrap = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_ULONG len = 0;
	CK_RV rv = token->fl->C_WrapKey(token->admin, &wrap, smk, key->priv, NULL, &len);
	if (rv == CKR_OK && (len == 0 || len > HSM_SMK_WRAPPED_MAX)) {
		rv = CKR_GENERAL_ERROR;
	}
	if (rv == CKR_OK) {
		buf = malloc(len);
		if (buf == NULL) {
			ret = TANDEM_ENOMEM;
			goto out;
		}
		rv = token->fl->C_WrapKey(token->admin, &wrap, smk, key->priv, buf, &len);
	}
	if (rv != CKR_OK) {
		hsm_smk_handle_failed(token, rv);
		tandem_diag_add(diag, TANDEM_HSM_EP11, "key %s: C_WrapKey under the SMK: %s%s",
				key->label, hsm_rv_name(rv),
				rv == CKR_KEY_NOT_WRAPPABLE || rv == CKR_KEY_UNEXTRACTABLE
				    ? " (the HSM cannot export this key, or not for this algorithm)"
				    : "");
		ret = TANDEM_HSM_EP11;
		goto out;
	}
	*out = buf;
	*out_len = len;
	buf = NULL;
out:
	free(buf);
	return ret;
}

static int mac_key_find(hsm_token_t *token, tandem_diag_t *diag, CK_OBJECT_HANDLE *out)
{
	return hsm_smk_handle(token, true, diag, out);
}

int hsm_smk_mac(hsm_token_t *token, const uint8_t *data, size_t len, tandem_diag_t *diag,
		uint8_t out[HSM_SMK_MAC_LEN])
{
	if (token == NULL || (data == NULL && len > 0) || out == NULL) {
		return TANDEM_EINVAL;
	}
	CK_OBJECT_HANDLE k = CK_INVALID_HANDLE;
	int ret = mac_key_find(token, diag, &k);
	if (ret != TANDEM_OK) {
		return ret;
	}
	CK_MECHANISM m = {CKM_SHA256_HMAC, NULL, 0};
	uint8_t mac[HSM_SMK_MAC_LEN];
	CK_ULONG mac_len = sizeof(mac);
	CK_RV rv = token->fl->C_SignInit(token->admin, &m, k);
	if (rv == CKR_OK) {
		rv = token->fl->C_Sign(token->admin, (CK_BYTE *)data, len, mac, &mac_len);
	}
	if (rv != CKR_OK || mac_len != sizeof(mac)) {
		hsm_smk_handle_failed(token, rv);
		tandem_diag_add(diag, TANDEM_HSM_EP11, "HMAC with the archive MAC key: %s",
				hsm_rv_name(rv));
		return TANDEM_HSM_EP11;
	}
	memcpy(out, mac, sizeof(mac));
	return TANDEM_OK;
}

int hsm_smk_mac_verify(hsm_token_t *token, const uint8_t *data, size_t len,
		       const uint8_t mac[HSM_SMK_MAC_LEN], tandem_diag_t *diag)
{
	if (token == NULL || (data == NULL && len > 0) || mac == NULL) {
		return TANDEM_EINVAL;
	}
	CK_OBJECT_HANDLE k = CK_INVALID_HANDLE;
	int ret = mac_key_find(token, diag, &k);
	if (ret != TANDEM_OK) {
		return ret;
	}
	CK_MECHANISM m = {CKM_SHA256_HMAC, NULL, 0};
	CK_RV rv = token->fl->C_VerifyInit(token->admin, &m, k);
	if (rv == CKR_OK) {
		rv = token->fl->C_Verify(token->admin, (CK_BYTE *)data, len, (CK_BYTE *)mac,
					 HSM_SMK_MAC_LEN);
	}
	if (rv == CKR_SIGNATURE_INVALID || rv == CKR_SIGNATURE_LEN_RANGE) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_ETAMPER, "the archive MAC does not verify");
		return TANDEM_ARCHIVE_ETAMPER;
	}
	if (rv != CKR_OK) {
		hsm_smk_handle_failed(token, rv);
		tandem_diag_add(diag, TANDEM_HSM_EP11, "verifying the archive MAC: %s",
				hsm_rv_name(rv));
		return TANDEM_HSM_EP11;
	}
	return TANDEM_OK;
}

/* ---- staged import ---- */

int hsm_smk_import_new(hsm_token_t *token, tandem_diag_t *diag, hsm_smk_import_t **out)
{
	if (token == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	CK_OBJECT_HANDLE smk = CK_INVALID_HANDLE;
	int ret = hsm_smk_handle(token, false, diag, &smk);
	if (ret != TANDEM_OK) {
		return ret;
	}
	hsm_smk_import_t *imp = calloc(1, sizeof(*imp));
	if (imp == NULL) {
		return TANDEM_ENOMEM;
	}
	imp->token = token;
	imp->smk = smk;
	*out = imp;
	return TANDEM_OK;
}

static void staged_destroy(hsm_token_t *t, struct staged *st)
{
	if (st->key == NULL) {
		return;
	}
	if (st->key->priv != CK_INVALID_HANDLE) {
		(void)t->fl->C_DestroyObject(t->admin, st->key->priv);
	}
	if (st->key->pub != CK_INVALID_HANDLE) {
		(void)t->fl->C_DestroyObject(t->admin, st->key->pub);
	}
	hsm_key_free(st->key);
	st->key = NULL;
}

void hsm_smk_import_free(hsm_smk_import_t *imp)
{
	if (imp == NULL) {
		return;
	}
	for (size_t i = 0; i < imp->n; i++) {
		staged_destroy(imp->token, &imp->keys[i]);
	}
	free(imp->keys);
	free(imp);
}

/* Private key objects (any type) with this attribute value (counted up to 8). */
static int count_private(hsm_token_t *t, CK_ATTRIBUTE_TYPE type, const void *value, size_t len,
			 tandem_diag_t *diag, CK_ULONG *count)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE match[] = {{CKA_CLASS, &cls, sizeof(cls)}, {type, (void *)value, len}};
	return hsm_objects_count(t, match, 2, TANDEM_HSM_EP11, diag, count);
}

int hsm_smk_import_exists(hsm_smk_import_t *imp, const char *label, const uint8_t *id,
			  size_t id_len, const uint8_t *pubkey, size_t pubkey_len,
			  tandem_diag_t *diag, bool *exists)
{
	if (imp == NULL || label == NULL || (id == NULL && id_len > 0) || pubkey == NULL ||
	    exists == NULL) {
		return TANDEM_EINVAL;
	}
	hsm_token_t *t = imp->token;
	CK_ULONG by_label = 0, by_id = 0;
	int ret = TANDEM_OK;
	if (t->nforeign == 0) {
		/* Every private key on the token is listed (found at open, or made, imported
		 * and destroyed through this token since): no search, which would read every
		 * object of a SoftHSM file store. */
		for (size_t i = 0; i < t->nkeys; i++) {
			const hsm_key_t *k = t->keys[i];
			by_label += strcmp(k->label, label) == 0;
			by_id +=
			    id_len > 0 && k->id_len == id_len && memcmp(k->id, id, id_len) == 0;
		}
	} else {
		ret = count_private(t, CKA_LABEL, label, strlen(label), diag, &by_label);
		if (ret == TANDEM_OK && id_len > 0) {
			ret = count_private(t, CKA_ID, id, id_len, diag, &by_id);
		}
	}
	if (ret != TANDEM_OK) {
		return ret;
	}
	if (by_label == 0 && by_id == 0) {
		*exists = false;
		return TANDEM_OK;
	}
	/* Present: it must be the very key the archive holds, under the same label and id. */
	for (size_t i = 0; i < t->nkeys; i++) {
		const hsm_key_t *k = t->keys[i];
		bool same_label = strcmp(k->label, label) == 0;
		bool same_id =
		    k->id_len == id_len && (id_len == 0 || memcmp(k->id, id, id_len) == 0);
		if (!same_label && !same_id) {
			continue;
		}
		if (same_label && same_id && by_label == 1 && (id_len == 0 || by_id == 1) &&
		    k->pubkey_len == pubkey_len && memcmp(k->pubkey, pubkey, pubkey_len) == 0) {
			*exists = true;
			return TANDEM_OK;
		}
		break;
	}
	tandem_diag_add(diag, TANDEM_ARCHIVE_ECONFLICT,
			"key %s: the token already holds a different key with this label or id",
			label);
	return TANDEM_ARCHIVE_ECONFLICT;
}

/* The DNSSEC public key as public key object attributes (RSA: RFC 3110; EC: x||y). */
struct pub_attrs {
	uint8_t point[2 + 1 + 96];
	size_t point_len;
	const uint8_t *params;
	size_t params_len;
	const uint8_t *mod, *exp;
	size_t mod_len, exp_len;
};

static int pub_parse(uint8_t algorithm, const uint8_t *pk, size_t len, CK_KEY_TYPE *type,
		     struct pub_attrs *pa)
{
	memset(pa, 0, sizeof(*pa));
	size_t field = 0;
	switch (algorithm) {
	case HSM_ALG_RSASHA256:
	case HSM_ALG_RSASHA512:
		/* One-byte exponent length only, as hsm_key.c writes it. */
		if (len < 2 || pk[0] == 0 || (size_t)pk[0] + 1 >= len) {
			return TANDEM_HSM_EKEY;
		}
		*type = CKK_RSA;
		pa->exp = pk + 1;
		pa->exp_len = pk[0];
		pa->mod = pk + 1 + pk[0];
		pa->mod_len = len - 1 - pk[0];
		return pa->mod_len >= 64 && pa->mod_len <= HSM_SIG_MAX ? TANDEM_OK
								       : TANDEM_HSM_EKEY;
	case HSM_ALG_ECDSAP256SHA256:
		field = 32;
		pa->params = OID_P256;
		pa->params_len = sizeof(OID_P256);
		break;
	case HSM_ALG_ECDSAP384SHA384:
		field = 48;
		pa->params = OID_P384;
		pa->params_len = sizeof(OID_P384);
		break;
	case HSM_ALG_ED25519:
		if (len != 32) {
			return TANDEM_HSM_EKEY;
		}
		*type = CKK_EC_EDWARDS;
		pa->params = OID_ED25519;
		pa->params_len = sizeof(OID_ED25519);
		pa->point[0] = 0x04;
		pa->point[1] = 32;
		memcpy(pa->point + 2, pk, 32);
		pa->point_len = 34;
		return TANDEM_OK;
	default: return TANDEM_HSM_EKEY;
	}
	if (len != 2 * field) {
		return TANDEM_HSM_EKEY;
	}
	*type = CKK_EC;
	/* CKA_EC_POINT: DER OCTET STRING holding the uncompressed point. */
	pa->point[0] = 0x04;
	pa->point[1] = (uint8_t)(1 + 2 * field);
	pa->point[2] = 0x04;
	memcpy(pa->point + 3, pk, 2 * field);
	pa->point_len = 3 + 2 * field;
	return TANDEM_OK;
}

int hsm_smk_import_stage(hsm_smk_import_t *imp, const char *label, const uint8_t *id, size_t id_len,
			 uint8_t algorithm, const uint8_t *pubkey, size_t pubkey_len,
			 const uint8_t *wrapped, size_t wrapped_len, tandem_diag_t *diag,
			 const hsm_key_t **out)
{
	if (imp == NULL || label == NULL || label[0] == '\0' || (id == NULL && id_len > 0) ||
	    pubkey == NULL || wrapped == NULL || wrapped_len == 0 ||
	    wrapped_len > HSM_SMK_WRAPPED_MAX || out == NULL) {
		return TANDEM_EINVAL;
	}
	hsm_token_t *t = imp->token;
	CK_FUNCTION_LIST *fl = t->fl;
	hsm_key_t *key = NULL;
	CK_KEY_TYPE type = CKK_RSA;
	struct pub_attrs pa;
	int ret = pub_parse(algorithm, pubkey, pubkey_len, &type, &pa);
	if (ret != TANDEM_OK) {
		ret = TANDEM_ARCHIVE_EFORMAT;
		tandem_diag_add(diag, ret, "key %s: malformed public key for algorithm %u", label,
				algorithm);
		return ret;
	}
	if (imp->n == imp->cap) {
		size_t cap = imp->cap ? imp->cap * 2 : 8;
		struct staged *bigger = realloc(imp->keys, cap * sizeof(*bigger));
		if (bigger == NULL) {
			return TANDEM_ENOMEM;
		}
		imp->keys = bigger;
		imp->cap = cap;
	}
	key = calloc(1, sizeof(*key));
	if (key == NULL) {
		return TANDEM_ENOMEM;
	}
	key->priv = key->pub = CK_INVALID_HANDLE;
	key->label = strdup(label);
	key->id = malloc(id_len ? id_len : 1);
	if (key->label == NULL || key->id == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	if (id_len > 0) {
		memcpy(key->id, id, id_len);
	}
	key->id_len = id_len;

	/* The same attributes hsm_token_generate_key gives a key, as session objects. */
	CK_MECHANISM_TYPE allowed[2] = {CKM_RSA_PKCS, CKM_SHA256_RSA_PKCS};
	CK_ULONG nallowed = 2;
	if (algorithm == HSM_ALG_RSASHA512) {
		allowed[1] = CKM_SHA512_RSA_PKCS;
	} else if (type == CKK_EC) {
		allowed[0] = CKM_ECDSA;
		nallowed = 1;
	} else if (type == CKK_EC_EDWARDS) {
		allowed[0] = CKM_EDDSA;
		nallowed = 1;
	}
	CK_OBJECT_CLASS priv_cls = CKO_PRIVATE_KEY, pub_cls = CKO_PUBLIC_KEY;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE priv_tmpl[] = {
	    {CKA_CLASS, &priv_cls, sizeof(priv_cls)},
	    {CKA_KEY_TYPE, &type, sizeof(type)},
	    {CKA_TOKEN, &no, sizeof(no)},
	    {CKA_PRIVATE, &yes, sizeof(yes)},
	    {CKA_SENSITIVE, &yes, sizeof(yes)},
	    {CKA_SIGN, &yes, sizeof(yes)},
	    {CKA_EXTRACTABLE, &yes, sizeof(yes)},
	    {CKA_WRAP_WITH_TRUSTED, &yes, sizeof(yes)},
	    {CKA_DECRYPT, &no, sizeof(no)},
	    {CKA_UNWRAP, &no, sizeof(no)},
	    {CKA_DERIVE, &no, sizeof(no)},
	    {CKA_LABEL, (void *)label, strlen(label)},
	    {CKA_ID, key->id, id_len},
	    {CKA_ALLOWED_MECHANISMS, allowed, nallowed * sizeof(allowed[0])},
	};
	CK_MECHANISM unwrap = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_RV rv = fl->C_UnwrapKey(t->admin, &unwrap, imp->smk, (CK_BYTE *)wrapped, wrapped_len,
				   priv_tmpl, sizeof(priv_tmpl) / sizeof(priv_tmpl[0]), &key->priv);
	if (rv != CKR_OK) {
		hsm_smk_handle_failed(t, rv);
		key->priv = CK_INVALID_HANDLE;
		/* AES-KWP's integrity check fails for a changed byte or another SMK. */
		bool integrity = rv == CKR_WRAPPED_KEY_INVALID || rv == CKR_GENERAL_ERROR ||
				 rv == CKR_WRAPPED_KEY_LEN_RANGE || rv == CKR_FUNCTION_FAILED;
		tandem_diag_add(diag, integrity ? TANDEM_ARCHIVE_ETAMPER : TANDEM_HSM_EP11,
				"key %s: C_UnwrapKey under the SMK: %s%s", label, hsm_rv_name(rv),
				integrity ? " (tampered, or wrapped under another SMK)" : "");
		ret = integrity ? TANDEM_ARCHIVE_ETAMPER : TANDEM_HSM_EP11;
		goto out;
	}
	/* RSA: the public half as the private object itself holds it, before any public object. */
	if (type == CKK_RSA) {
		ret = hsm_key_load(t, key, type, diag);
		if (ret != TANDEM_OK) {
			goto out;
		}
		if (key->pubkey_len != pubkey_len || memcmp(key->pubkey, pubkey, pubkey_len) != 0 ||
		    key->algorithm != algorithm) {
			tandem_diag_add(diag, TANDEM_ARCHIVE_ETAMPER,
					"key %s: the unwrapped key does not match the archived "
					"public key or algorithm",
					label);
			ret = TANDEM_ARCHIVE_ETAMPER;
			goto out;
		}
	}
	CK_ATTRIBUTE pub_tmpl[12] = {
	    {CKA_CLASS, &pub_cls, sizeof(pub_cls)},
	    {CKA_KEY_TYPE, &type, sizeof(type)},
	    {CKA_TOKEN, &no, sizeof(no)},
	    {CKA_PRIVATE, &no, sizeof(no)},
	    {CKA_VERIFY, &yes, sizeof(yes)},
	    {CKA_ENCRYPT, &no, sizeof(no)},
	    {CKA_WRAP, &no, sizeof(no)},
	    {CKA_LABEL, (void *)label, strlen(label)},
	};
	CK_ULONG npub = 8;
	pub_tmpl[npub++] = (CK_ATTRIBUTE){CKA_ID, key->id, id_len};
	if (type == CKK_RSA) {
		pub_tmpl[npub++] = (CK_ATTRIBUTE){CKA_MODULUS, (void *)pa.mod, pa.mod_len};
		pub_tmpl[npub++] = (CK_ATTRIBUTE){CKA_PUBLIC_EXPONENT, (void *)pa.exp, pa.exp_len};
	} else {
		pub_tmpl[npub++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)pa.params, pa.params_len};
		pub_tmpl[npub++] = (CK_ATTRIBUTE){CKA_EC_POINT, pa.point, pa.point_len};
	}
	assert(npub <= sizeof(pub_tmpl) / sizeof(pub_tmpl[0]));
	rv = fl->C_CreateObject(t->admin, pub_tmpl, npub, &key->pub);
	if (rv != CKR_OK) {
		key->pub = CK_INVALID_HANDLE;
		tandem_diag_add(diag, TANDEM_HSM_EP11, "key %s: creating the public key: %s", label,
				hsm_rv_name(rv));
		ret = TANDEM_HSM_EP11;
		goto out;
	}
	if (type != CKK_RSA) {
		ret = hsm_key_load(t, key, type, diag);
		if (ret != TANDEM_OK) {
			goto out;
		}
		if (key->algorithm != algorithm) {
			tandem_diag_add(diag, TANDEM_ARCHIVE_ETAMPER,
					"key %s: algorithm %u in the HSM, %u in the archive", label,
					key->algorithm, algorithm);
			ret = TANDEM_ARCHIVE_ETAMPER;
			goto out;
		}
	}
	imp->keys[imp->n++] = (struct staged){.key = key, .type = type};
	*out = key;
	key = NULL;
out:
	if (key != NULL) {
		struct staged st = {.key = key};
		staged_destroy(t, &st);
	}
	return ret;
}

int hsm_smk_import_commit(hsm_smk_import_t *imp, tandem_diag_t *diag)
{
	if (imp == NULL) {
		return TANDEM_EINVAL;
	}
	hsm_token_t *t = imp->token;
	CK_FUNCTION_LIST *fl = t->fl;
	int ret = TANDEM_OK;
	size_t n = imp->n;
	hsm_key_t **made = calloc(n ? n : 1, sizeof(*made));
	hsm_key_t **bigger = NULL;
	if (made == NULL) {
		return TANDEM_ENOMEM;
	}
	/* Every allocation first, so nothing can fail once the token holds the keys. */
	for (size_t i = 0; i < n; i++) {
		const hsm_key_t *src = imp->keys[i].key;
		made[i] = malloc(sizeof(*made[i]));
		if (made[i] == NULL) {
			ret = TANDEM_ENOMEM;
			goto out;
		}
		memcpy(made[i], src, sizeof(*src));
		made[i]->priv = made[i]->pub = CK_INVALID_HANDLE;
		made[i]->label = NULL;
		made[i]->id = NULL;
		made[i]->label = strdup(src->label);
		made[i]->id = malloc(src->id_len ? src->id_len : 1);
		if (made[i]->label == NULL || made[i]->id == NULL) {
			ret = TANDEM_ENOMEM;
			goto out;
		}
		memcpy(made[i]->id, src->id, src->id_len);
	}
	if (t->nkeys + n > t->keys_cap) {
		size_t cap = t->nkeys + n;
		bigger = realloc(t->keys, cap * sizeof(*bigger));
		if (bigger == NULL) {
			ret = TANDEM_ENOMEM;
			goto out;
		}
		t->keys = bigger;
		t->keys_cap = cap;
	}
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE to_token = {CKA_TOKEN, &yes, sizeof(yes)};
	for (size_t i = 0; i < n; i++) {
		const hsm_key_t *src = imp->keys[i].key;
		CK_RV rv = fl->C_CopyObject(t->admin, src->priv, &to_token, 1, &made[i]->priv);
		if (rv != CKR_OK) {
			made[i]->priv = CK_INVALID_HANDLE;
		} else {
			rv = fl->C_CopyObject(t->admin, src->pub, &to_token, 1, &made[i]->pub);
			if (rv != CKR_OK) {
				made[i]->pub = CK_INVALID_HANDLE;
			}
		}
		if (rv != CKR_OK) {
			tandem_diag_add(diag, TANDEM_HSM_EP11,
					"key %s: storing it on the token: %s; nothing imported",
					src->label, hsm_rv_name(rv));
			ret = TANDEM_HSM_EP11;
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		t->keys[t->nkeys++] = made[i];
		made[i] = NULL;
	}
out:
	for (size_t i = 0; i < n; i++) {
		if (made[i] == NULL) {
			continue;
		}
		/* All or nothing: a failed commit takes back every copy it made. */
		if (made[i]->priv != CK_INVALID_HANDLE) {
			(void)fl->C_DestroyObject(t->admin, made[i]->priv);
		}
		if (made[i]->pub != CK_INVALID_HANDLE) {
			(void)fl->C_DestroyObject(t->admin, made[i]->pub);
		}
		hsm_key_free(made[i]);
	}
	free(made);
	return ret;
}
