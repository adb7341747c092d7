/* Token hygiene: the objects on a node's token that would let a tandem key leave it in clear
 * (a second trusted key, another wrapping key, a private key extractable without a trusted
 * wrapper). */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsm.h"
#include "hsm_internal.h"
#include "hsm_smk.h"
#include "tandem_error.h"

static const char P_TRUSTED[] = "CKA_TRUSTED=true: a trusted key besides the SMK (a key "
				"wrapped under it can be read in clear)";
static const char P_WRAP[] = "CKA_WRAP=true: a wrapping secret key besides the SMK";
static const char P_EXTRACTABLE[] = "CKA_EXTRACTABLE=true with CKA_WRAP_WITH_TRUSTED=false: "
				    "can be wrapped under any wrapping key";
static const char P_SENSITIVE[] = "CKA_SENSITIVE=false: its value can be read";
static const char P_SMK_DUP[] = "a second secret key labelled " HSM_SMK_LABEL;
static const char P_SMK_EXTRACTABLE[] = "CKA_EXTRACTABLE=true on the SMK";
static const char P_SMK_UNTRUSTED[] = "CKA_TRUSTED=false on the SMK";
static const char P_SMK_MISSING[] = "no SMK on the token (tandem-ceremony smk-install)";
static const char P_SMK_CHECK[] = "the SMK's check value cannot be computed in the HSM";
static const char P_SMK_OTHER[] = "the SMK's check value is not the ceremony's";

/* One boolean attribute; dflt when the object has none or hides it. */
static bool attr_bool(hsm_token_t *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, bool dflt)
{
	CK_BBOOL v = CK_FALSE;
	CK_ATTRIBUTE a = {type, &v, sizeof(v)};
	if (t->fl->C_GetAttributeValue(t->admin, h, &a, 1) != CKR_OK || a.ulValueLen != sizeof(v)) {
		return dflt;
	}
	return v == CK_TRUE;
}

static void finding_add(hsm_hygiene_t *out, const char *label, const uint8_t *id, size_t id_len,
			const char *cls, const char *problem)
{
	out->total++;
	if (out->n >= HSM_HYGIENE_MAX) {
		return;
	}
	hsm_hygiene_finding_t *f = &out->f[out->n++];
	memset(f, 0, sizeof(*f));
	size_t i = 0;
	for (; label != NULL && label[i] != '\0' && i + 1 < sizeof(f->label); i++) {
		unsigned char c = (unsigned char)label[i];
		f->label[i] = c >= 0x20 && c < 0x7f && c != '"' ? (char)c : '?';
	}
	f->label[i] = '\0';
	for (i = 0; i < id_len && 2 * i + 2 < sizeof(f->id_hex); i++) {
		snprintf(f->id_hex + 2 * i, 3, "%02x", id[i]);
	}
	f->cls = cls;
	f->problem = problem;
}

/* Every token object the admin session sees, into a fresh array (*out, the caller's). */
static int objects_list(hsm_token_t *t, tandem_diag_t *diag, CK_OBJECT_HANDLE **out, size_t *n)
{
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE match = {CKA_TOKEN, &yes, sizeof(yes)};
	CK_OBJECT_HANDLE *all = NULL;
	size_t count = 0, cap = 0;
	CK_RV rv = t->fl->C_FindObjectsInit(t->admin, &match, 1);
	if (rv != CKR_OK) {
		tandem_diag_add(diag, TANDEM_HSM_EP11, "hygiene: C_FindObjectsInit: %s",
				hsm_rv_name(rv));
		return TANDEM_HSM_EP11;
	}
	int ret = TANDEM_OK;
	for (;;) {
		if (count == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			CK_OBJECT_HANDLE *g = realloc(all, ncap * sizeof(*g));
			if (g == NULL) {
				ret = TANDEM_ENOMEM;
				break;
			}
			all = g;
			cap = ncap;
		}
		CK_ULONG got = 0;
		rv = t->fl->C_FindObjects(t->admin, all + count, cap - count, &got);
		if (rv != CKR_OK) {
			tandem_diag_add(diag, TANDEM_HSM_EP11, "hygiene: C_FindObjects: %s",
					hsm_rv_name(rv));
			ret = TANDEM_HSM_EP11;
			break;
		}
		if (got == 0) {
			break;
		}
		count += got;
	}
	(void)t->fl->C_FindObjectsFinal(t->admin);
	if (ret != TANDEM_OK) {
		free(all);
		return ret;
	}
	*out = all;
	*n = count;
	return TANDEM_OK;
}

int hsm_token_hygiene(hsm_token_t *token, const uint8_t *want_check, tandem_diag_t *diag,
		      hsm_hygiene_t *out)
{
	if (token == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	memset(out, 0, sizeof(*out));
	CK_OBJECT_HANDLE *objs = NULL;
	size_t n = 0;
	int ret = objects_list(token, diag, &objs, &n);
	if (ret != TANDEM_OK) {
		return ret;
	}
	size_t nsmk = 0;
	char smk_label[] = HSM_SMK_LABEL;
	uint8_t *smk_id = NULL;
	size_t smk_id_len = 0;
	for (size_t i = 0; i < n; i++) {
		CK_OBJECT_CLASS cls = 0;
		CK_ATTRIBUTE ca = {CKA_CLASS, &cls, sizeof(cls)};
		if (token->fl->C_GetAttributeValue(token->admin, objs[i], &ca, 1) != CKR_OK ||
		    (cls != CKO_SECRET_KEY && cls != CKO_PRIVATE_KEY && cls != CKO_PUBLIC_KEY)) {
			continue; /* certificates, data objects: they cannot wrap */
		}
		uint8_t *label = NULL, *id = NULL;
		size_t label_len = 0, id_len = 0;
		/* An object without a label or id is still checked, named by what it has. */
		int r1 = hsm_attr_get(token, objs[i], CKA_LABEL, &label, &label_len);
		int r2 = hsm_attr_get(token, objs[i], CKA_ID, &id, &id_len);
		if (r1 == TANDEM_ENOMEM || r2 == TANDEM_ENOMEM) {
			free(label);
			free(id);
			ret = TANDEM_ENOMEM;
			goto out;
		}
		if (r1 != TANDEM_OK) {
			label_len = 0;
		}
		if (r2 != TANDEM_OK) {
			id_len = 0;
		}
		char lbl[HSM_HYGIENE_LABEL_MAX] = "";
		if (label != NULL) {
			size_t l = label_len < sizeof(lbl) - 1 ? label_len : sizeof(lbl) - 1;
			memcpy(lbl, label, l);
			lbl[l] = '\0';
		}
		free(label);
		bool trusted = attr_bool(token, objs[i], CKA_TRUSTED, false);
		if (cls == CKO_SECRET_KEY && label_len == strlen(smk_label) &&
		    strcmp(lbl, smk_label) == 0) {
			if (++nsmk > 1) {
				finding_add(out, lbl, id, id_len, "secret key", P_SMK_DUP);
			} else {
				if (!trusted) {
					finding_add(out, lbl, id, id_len, "secret key",
						    P_SMK_UNTRUSTED);
				}
				if (attr_bool(token, objs[i], CKA_EXTRACTABLE, true)) {
					finding_add(out, lbl, id, id_len, "secret key",
						    P_SMK_EXTRACTABLE);
				}
				smk_id = id;
				smk_id_len = id_len;
				id = NULL;
			}
		} else if (cls == CKO_SECRET_KEY) {
			if (trusted) {
				finding_add(out, lbl, id, id_len, "secret key", P_TRUSTED);
			} else if (attr_bool(token, objs[i], CKA_WRAP, false)) {
				finding_add(out, lbl, id, id_len, "secret key", P_WRAP);
			}
		} else if (cls == CKO_PUBLIC_KEY) {
			if (trusted) {
				finding_add(out, lbl, id, id_len, "public key", P_TRUSTED);
			}
		} else {
			if (attr_bool(token, objs[i], CKA_EXTRACTABLE, true) &&
			    !attr_bool(token, objs[i], CKA_WRAP_WITH_TRUSTED, false)) {
				finding_add(out, lbl, id, id_len, "private key", P_EXTRACTABLE);
			}
			if (!attr_bool(token, objs[i], CKA_SENSITIVE, false)) {
				finding_add(out, lbl, id, id_len, "private key", P_SENSITIVE);
			}
		}
		free(id);
	}
	if (nsmk == 0) {
		finding_add(out, smk_label, NULL, 0, "secret key", P_SMK_MISSING);
	} else if (nsmk == 1) {
		uint8_t got[HSM_SMK_CHECK_LEN];
		if (hsm_smk_check_fresh(token, diag, got) != TANDEM_OK) {
			finding_add(out, smk_label, smk_id, smk_id_len, "secret key", P_SMK_CHECK);
		} else if (want_check != NULL && CRYPTO_memcmp(got, want_check, sizeof(got)) != 0) {
			finding_add(out, smk_label, smk_id, smk_id_len, "secret key", P_SMK_OTHER);
		}
	}
	ret = TANDEM_OK;
out:
	free(smk_id);
	free(objs);
	return ret;
}

void hsm_hygiene_finding_format(const hsm_hygiene_finding_t *f, char *buf, size_t size)
{
	if (buf == NULL || size == 0) {
		return;
	}
	if (f == NULL) {
		buf[0] = '\0';
		return;
	}
	snprintf(buf, size, "%s label=\"%s\" id=%s: %s", f->cls != NULL ? f->cls : "object",
		 f->label, f->id_hex[0] != '\0' ? f->id_hex : "-",
		 f->problem != NULL ? f->problem : "?");
}
