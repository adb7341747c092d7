/* Tokens: slot lookup, one login, a pool of signing sessions, the key list and the signing hot
 * path. */
#include "hsm_internal.h"
#include "tandem_error.h"
#include "tandem_file.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* Copies a blank-padded PKCS#11 text field into a C string without the padding. */
static void p11_text(char *dst, const CK_UTF8CHAR *src, size_t n)
{
	memcpy(dst, src, n);
	while (n > 0 && dst[n - 1] == ' ') {
		n--;
	}
	dst[n] = '\0';
}

/*
 * The return values that say the token, the session or the login is gone rather than that
 * one operation failed: the token was removed or its store went away (SoftHSMv2 then says
 * its objects' handles are invalid), a session was closed under us, the login was lost.
 * They are all one error, TANDEM_HSM_EGONE: reopen the token.
 */
static bool token_rv_gone(CK_RV rv)
{
	switch (rv) {
	case CKR_DEVICE_REMOVED:
	case CKR_DEVICE_ERROR:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_USER_NOT_LOGGED_IN:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
	case CKR_OBJECT_HANDLE_INVALID:
	case CKR_KEY_HANDLE_INVALID: return true;
	default: return false;
	}
}

static bool token_matches(const hsm_uri_t *uri, CK_SLOT_ID slot, const CK_TOKEN_INFO *info,
			  char label[33])
{
	char text[33];
	p11_text(label, info->label, sizeof(info->label));
	if (uri->token != NULL && strcmp(uri->token, label) != 0) {
		return false;
	}
	p11_text(text, info->manufacturerID, sizeof(info->manufacturerID));
	if (uri->manufacturer != NULL && strcmp(uri->manufacturer, text) != 0) {
		return false;
	}
	p11_text(text, info->serialNumber, sizeof(info->serialNumber));
	if (uri->serial != NULL && strcmp(uri->serial, text) != 0) {
		return false;
	}
	p11_text(text, info->model, sizeof(info->model));
	if (uri->model != NULL && strcmp(uri->model, text) != 0) {
		return false;
	}
	return !uri->has_slot_id || uri->slot_id == slot;
}

int hsm_slot_find(CK_FUNCTION_LIST *fl, const hsm_uri_t *uri, tandem_diag_t *diag, CK_SLOT_ID *out,
		  char label[33])
{
	int ret = TANDEM_OK;
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0;
	CK_RV rv = fl->C_GetSlotList(CK_TRUE, NULL, &n);
	if (rv == CKR_OK && n > 0) {
		slots = calloc(n, sizeof(*slots));
		if (slots == NULL) {
			ret = TANDEM_ENOMEM;
			goto out;
		}
		rv = fl->C_GetSlotList(CK_TRUE, slots, &n);
	}
	if (rv != CKR_OK) {
		tandem_diag_add(diag, TANDEM_HSM_EP11, "C_GetSlotList: %s", hsm_rv_name(rv));
		ret = TANDEM_HSM_EP11;
		goto out;
	}
	unsigned found = 0;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO info;
		char lab[33];
		if (fl->C_GetTokenInfo(slots[i], &info) != CKR_OK ||
		    !(info.flags & CKF_TOKEN_INITIALIZED) ||
		    !token_matches(uri, slots[i], &info, lab)) {
			continue;
		}
		if (found++ == 0) {
			*out = slots[i];
			memcpy(label, lab, sizeof(lab));
		}
	}
	if (found != 1) {
		tandem_diag_add(diag, TANDEM_HSM_ETOKEN, "%s token matches %s%s%s",
				found == 0 ? "no" : "more than one",
				uri->token != NULL ? "token=" : "the URI",
				uri->token != NULL ? uri->token : "",
				found == 0 ? "" : " (name it by token, serial or slot-id)");
		ret = TANDEM_HSM_ETOKEN;
	}
out:
	free(slots);
	return ret;
}

/* The PIN from pin-source (first line) or the environment, into pin (HSM_PIN_MAX). */
static int token_read_pin(const hsm_uri_t *uri, const char *pin_env, tandem_diag_t *diag, char *pin,
			  size_t *pin_len)
{
	int ret = TANDEM_OK;
	char *file = NULL;
	size_t file_len = 0;
	const char *src = NULL;
	if (uri->pin_source != NULL) {
		const char *path = uri->pin_source;
		/* RFC 7512 allows a file: URI here as well as a plain path. */
		if (strncmp(path, "file://", 7) == 0) {
			path += 7;
		} else if (strncmp(path, "file:", 5) == 0) {
			path += 5;
		}
		ret = tandem_secret_read(path, HSM_PIN_MAX * 4, &file, &file_len);
		if (ret == TANDEM_EPERM) {
			tandem_diag_add(diag, TANDEM_HSM_EPIN,
					"pin-source %s can be read or written by group or others: "
					"chmod 600 it",
					path);
			ret = TANDEM_HSM_EPIN;
			goto out;
		}
		if (ret != TANDEM_OK) {
			tandem_diag_add(diag, TANDEM_HSM_EPIN, "pin-source %s: %s", path,
					tandem_strerror(ret));
			ret = TANDEM_HSM_EPIN;
			goto out;
		}
		src = file;
	} else {
		const char *var = pin_env != NULL ? pin_env : "TANDEM_PIN";
		src = getenv(var);
		if (src == NULL) {
			tandem_diag_add(diag, TANDEM_HSM_EPIN,
					"no PIN: the URI has no pin-source and $%s is not set",
					var);
			ret = TANDEM_HSM_EPIN;
			goto out;
		}
	}
	size_t n = strcspn(src, "\r\n");
	if (n == 0 || n >= HSM_PIN_MAX) {
		tandem_diag_add(diag, TANDEM_HSM_EPIN, "the PIN is %s",
				n == 0 ? "empty" : "too long");
		ret = TANDEM_HSM_EPIN;
		goto out;
	}
	memcpy(pin, src, n);
	*pin_len = n;
out:
	if (file != NULL) {
		tandem_wipe(file, file_len);
		free(file);
	}
	return ret;
}

static int token_login(hsm_token_t *t, const hsm_uri_t *uri, const char *pin_env,
		       tandem_diag_t *diag)
{
	char pin[HSM_PIN_MAX];
	size_t pin_len = 0;
	int ret = token_read_pin(uri, pin_env, diag, pin, &pin_len);
	if (ret != TANDEM_OK) {
		goto out;
	}
	CK_RV rv = t->fl->C_Login(t->admin, CKU_USER, (CK_UTF8CHAR *)pin, pin_len);
	switch (rv) {
	case CKR_OK: t->logged_in = true; break;
	/* Login state is per application and token: another handle in this process did it. */
	case CKR_USER_ALREADY_LOGGED_IN: break;
	case CKR_PIN_INCORRECT:
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
	case CKR_PIN_EXPIRED:
	case CKR_PIN_LOCKED:
	case CKR_USER_PIN_NOT_INITIALIZED:
		tandem_diag_add(diag, TANDEM_HSM_EPIN, "C_Login on token %s: %s", t->label,
				hsm_rv_name(rv));
		ret = TANDEM_HSM_EPIN;
		break;
	default:
		tandem_diag_add(diag, TANDEM_HSM_EP11, "C_Login on token %s: %s", t->label,
				hsm_rv_name(rv));
		ret = TANDEM_HSM_EP11;
		break;
	}
out:
	tandem_wipe(pin, sizeof(pin));
	return ret;
}

int hsm_names_add(hsm_token_t *t, const char *label, size_t label_len, const uint8_t *id,
		  size_t id_len)
{
	if (id_len > sizeof(t->names[0].id)) {
		t->names_complete = false; /* cannot be kept: searched for instead */
		return TANDEM_OK;
	}
	if (t->nnames == t->names_cap) {
		size_t cap = t->names_cap ? t->names_cap * 2 : 8;
		struct hsm_name *bigger = realloc(t->names, cap * sizeof(*bigger));
		if (bigger == NULL) {
			return TANDEM_ENOMEM;
		}
		t->names = bigger;
		t->names_cap = cap;
	}
	struct hsm_name *n = &t->names[t->nnames];
	n->label = strndup(label, label_len);
	if (n->label == NULL) {
		return TANDEM_ENOMEM;
	}
	memcpy(n->id, id, id_len);
	n->id_len = id_len;
	t->nnames++;
	return TANDEM_OK;
}

void hsm_names_drop(hsm_token_t *t, const char *label, const uint8_t *id, size_t id_len)
{
	for (size_t i = 0; i < t->nnames; i++) {
		struct hsm_name *n = &t->names[i];
		if (strcmp(n->label, label) == 0 && n->id_len == id_len &&
		    memcmp(n->id, id, id_len) == 0) {
			free(n->label);
			t->names[i] = t->names[--t->nnames];
			return;
		}
	}
}

int hsm_token_add_key_take(hsm_token_t *token, hsm_key_t *key)
{
	assert(token != NULL && key != NULL);
	if (token->nkeys == token->keys_cap) {
		size_t cap = token->keys_cap ? token->keys_cap * 2 : 16;
		pthread_mutex_lock(&token->names_lock);
		hsm_key_t **bigger = realloc(token->keys, cap * sizeof(*bigger));
		if (bigger != NULL) {
			token->keys = bigger;
			token->keys_cap = cap;
		}
		pthread_mutex_unlock(&token->names_lock);
		if (bigger == NULL) {
			hsm_key_free(key);
			return TANDEM_ENOMEM;
		}
	}
	pthread_mutex_lock(&token->names_lock);
	token->keys[token->nkeys++] = key;
	pthread_mutex_unlock(&token->names_lock);
	return TANDEM_OK;
}

/* What the one scan keeps of each key object. */
struct scan_obj {
	CK_OBJECT_HANDLE handle;
	CK_OBJECT_CLASS cls;
	CK_KEY_TYPE type;
	uint8_t id[128];
	CK_ULONG id_len;
	char label[256];
	CK_ULONG label_len;
	bool paired;
};

static bool scan_same_key(const struct scan_obj *a, const struct scan_obj *b)
{
	if (a->type != b->type) {
		return false;
	}
	/* CKA_ID is the link between the halves of a pair; the label only if both lack one. */
	if (a->id_len > 0 || b->id_len > 0) {
		return a->id_len == b->id_len && memcmp(a->id, b->id, a->id_len) == 0;
	}
	return a->label_len == b->label_len && memcmp(a->label, b->label, a->label_len) == 0;
}

/* Reads class, key type, id and label of every key object at once. */
static int token_scan_objects(hsm_token_t *t, struct scan_obj **out, size_t *out_n,
			      tandem_diag_t *diag)
{
	int ret = TANDEM_OK;
	struct scan_obj *objs = NULL;
	size_t n = 0, cap = 0;
	bool active = false;
	CK_RV rv = t->fl->C_FindObjectsInit(t->admin, NULL, 0);
	if (rv != CKR_OK) {
		goto p11_error;
	}
	active = true;
	for (;;) {
		CK_OBJECT_HANDLE batch[64];
		CK_ULONG got = 0;
		rv = t->fl->C_FindObjects(t->admin, batch, 64, &got);
		if (rv != CKR_OK) {
			goto p11_error;
		}
		if (got == 0) {
			break;
		}
		for (CK_ULONG i = 0; i < got; i++) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				struct scan_obj *bigger = realloc(objs, cap * sizeof(*bigger));
				if (bigger == NULL) {
					ret = TANDEM_ENOMEM;
					goto out;
				}
				objs = bigger;
			}
			struct scan_obj *o = &objs[n];
			memset(o, 0, sizeof(*o));
			o->handle = batch[i];
			CK_ATTRIBUTE a[] = {
			    {CKA_CLASS, &o->cls, sizeof(o->cls)},
			    {CKA_KEY_TYPE, &o->type, sizeof(o->type)},
			    {CKA_ID, o->id, sizeof(o->id)},
			    {CKA_LABEL, o->label, sizeof(o->label) - 1},
			};
			/* Certificates and data objects have no key type: skip them (their
			 * labels unknown, a generation searches for its label). Secret keys'
			 * names are kept. */
			if (t->fl->C_GetAttributeValue(t->admin, o->handle, a, 4) != CKR_OK) {
				t->names_complete = false;
				continue;
			}
			if (o->cls == CKO_SECRET_KEY) {
				if (hsm_names_add(t, o->label, a[3].ulValueLen, o->id,
						  a[2].ulValueLen) != TANDEM_OK) {
					ret = TANDEM_ENOMEM;
					goto out;
				}
				continue;
			}
			if (o->cls != CKO_PRIVATE_KEY && o->cls != CKO_PUBLIC_KEY) {
				t->names_complete = false;
				continue;
			}
			o->id_len = a[2].ulValueLen;
			o->label_len = a[3].ulValueLen;
			n++;
		}
	}
	*out = objs;
	*out_n = n;
	objs = NULL;
	goto out;
p11_error:
	tandem_diag_add(diag, TANDEM_HSM_EP11, "finding keys on token %s: %s", t->label,
			hsm_rv_name(rv));
	ret = TANDEM_HSM_EP11;
out:
	if (active) {
		(void)t->fl->C_FindObjectsFinal(t->admin);
	}
	free(objs);
	return ret;
}

/* The listed key the scanned private key object is (same CKA_ID and label), or NULL. */
static hsm_key_t *token_key_known(hsm_token_t *t, const struct scan_obj *o)
{
	for (size_t i = 0; i < t->nkeys; i++) {
		hsm_key_t *k = t->keys[i];
		if (k->id_len == o->id_len && memcmp(k->id, o->id, o->id_len) == 0 &&
		    strlen(k->label) == o->label_len &&
		    memcmp(k->label, o->label, o->label_len) == 0) {
			return k;
		}
	}
	return NULL;
}

/* One pass over the token's objects; private keys are paired with public ones by CKA_ID. */
static int token_find_keys(hsm_token_t *t, tandem_diag_t *diag)
{
	struct scan_obj *objs = NULL;
	size_t n = 0;
	t->nforeign = 0;
	pthread_mutex_lock(&t->names_lock);
	t->names_complete = true; /* until an object's label or id cannot be read */
	int ret = token_scan_objects(t, &objs, &n, diag);
	pthread_mutex_unlock(&t->names_lock);
	if (ret != TANDEM_OK) {
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (objs[i].cls != CKO_PRIVATE_KEY) {
			continue;
		}
		/* After a reopen: a key already listed keeps its record (callers hold pointers
		 * to it) and gets its new handles. */
		hsm_key_t *known = token_key_known(t, &objs[i]);
		if (known != NULL) {
			known->priv = objs[i].handle;
			known->pub = CK_INVALID_HANDLE;
			for (size_t j = 0; j < n; j++) {
				if (objs[j].cls == CKO_PUBLIC_KEY && !objs[j].paired &&
				    scan_same_key(&objs[i], &objs[j])) {
					objs[j].paired = true;
					known->pub = objs[j].handle;
					break;
				}
			}
			continue;
		}
		hsm_key_t *key = calloc(1, sizeof(*key));
		if (key == NULL) {
			ret = TANDEM_ENOMEM;
			goto out;
		}
		key->priv = objs[i].handle;
		key->pub = CK_INVALID_HANDLE;
		for (size_t j = 0; j < n; j++) {
			if (objs[j].cls == CKO_PUBLIC_KEY && !objs[j].paired &&
			    scan_same_key(&objs[i], &objs[j])) {
				objs[j].paired = true;
				key->pub = objs[j].handle;
				break;
			}
		}
		key->label = strndup(objs[i].label, objs[i].label_len);
		key->id = malloc(objs[i].id_len ? objs[i].id_len : 1);
		if (key->label == NULL || key->id == NULL) {
			hsm_key_free(key);
			ret = TANDEM_ENOMEM;
			goto out;
		}
		memcpy(key->id, objs[i].id, objs[i].id_len);
		key->id_len = objs[i].id_len;
		int r = hsm_key_load(t, key, objs[i].type, diag);
		if (r == TANDEM_ENOMEM) {
			hsm_key_free(key);
			ret = r;
			goto out;
		}
		if (r != TANDEM_OK) {
			/* A key we cannot use (another algorithm, no public half) is not an error.
			 */
			hsm_key_free(key);
			t->nforeign++;
			pthread_mutex_lock(&t->names_lock);
			r = hsm_names_add(t, objs[i].label, objs[i].label_len, objs[i].id,
					  objs[i].id_len);
			pthread_mutex_unlock(&t->names_lock);
			if (r != TANDEM_OK) {
				ret = r;
				goto out;
			}
			continue;
		}
		ret = hsm_token_add_key_take(t, key);
		if (ret != TANDEM_OK) {
			goto out;
		}
	}
	/* public keys without a private half keep their names taken */
	pthread_mutex_lock(&t->names_lock);
	for (size_t j = 0; ret == TANDEM_OK && j < n; j++) {
		if (objs[j].cls == CKO_PUBLIC_KEY && !objs[j].paired) {
			ret = hsm_names_add(t, objs[j].label, objs[j].label_len, objs[j].id,
					    objs[j].id_len);
		}
	}
	pthread_mutex_unlock(&t->names_lock);
out:
	free(objs);
	return ret;
}

int hsm_token_open(hsm_module_t *module, const hsm_uri_t *uri, const char *pin_env,
		   unsigned sessions, tandem_diag_t *diag, hsm_token_t **out)
{
	if (module == NULL || uri == NULL || sessions == 0 || out == NULL) {
		return TANDEM_EINVAL;
	}
	int ret = TANDEM_OK;
	CK_RV rv = CKR_OK;
	hsm_token_t *t = calloc(1, sizeof(*t));
	if (t == NULL) {
		return TANDEM_ENOMEM;
	}
	t->module = module;
	t->fl = module->fl;
	pthread_mutex_init(&t->names_lock, NULL);
	ret = hsm_slot_find(t->fl, uri, diag, &t->slot, t->label);
	if (ret != TANDEM_OK) {
		goto out;
	}
	const CK_FLAGS flags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
	rv = t->fl->C_OpenSession(t->slot, flags, NULL, NULL, &t->admin);
	if (rv != CKR_OK) {
		tandem_diag_add(diag, TANDEM_HSM_EP11, "C_OpenSession on token %s: %s", t->label,
				hsm_rv_name(rv));
		ret = TANDEM_HSM_EP11;
		goto out;
	}
	t->admin_open = true;
	ret = token_login(t, uri, pin_env, diag);
	if (ret != TANDEM_OK) {
		goto out;
	}

	static const char *const md_names[HSM_MD_COUNT] = {"SHA256", "SHA384", "SHA512"};
	for (int i = 0; i < HSM_MD_COUNT; i++) {
		t->md[i] = EVP_MD_fetch(NULL, md_names[i], NULL);
		if (t->md[i] == NULL) {
			tandem_diag_add(diag, TANDEM_HSM_EP11, "OpenSSL has no %s", md_names[i]);
			ret = TANDEM_HSM_EP11;
			goto out;
		}
	}
	t->sessions = calloc(sessions, sizeof(*t->sessions));
	if (t->sessions == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	for (; t->nsessions < sessions; t->nsessions++) {
		struct hsm_session *s = &t->sessions[t->nsessions];
		s->mdctx = EVP_MD_CTX_new();
		if (s->mdctx == NULL) {
			ret = TANDEM_ENOMEM;
			goto out;
		}
		rv = t->fl->C_OpenSession(t->slot, flags, NULL, NULL, &s->handle);
		if (rv != CKR_OK) {
			EVP_MD_CTX_free(s->mdctx);
			tandem_diag_add(diag, TANDEM_HSM_EP11,
					"C_OpenSession %u of %u on token %s: %s", t->nsessions + 1,
					sessions, t->label, hsm_rv_name(rv));
			ret = TANDEM_HSM_EP11;
			goto out;
		}
	}
	ret = token_find_keys(t, diag);
	if (ret != TANDEM_OK) {
		goto out;
	}
	*out = t;
	t = NULL;
out:
	hsm_token_close(t);
	return ret;
}

void hsm_token_close(hsm_token_t *token)
{
	if (token == NULL) {
		return;
	}
	for (unsigned i = 0; i < token->nsessions; i++) {
		(void)token->fl->C_CloseSession(token->sessions[i].handle);
		EVP_MD_CTX_free(token->sessions[i].mdctx);
	}
	if (token->logged_in) {
		(void)token->fl->C_Logout(token->admin);
	}
	if (token->admin_open) {
		(void)token->fl->C_CloseSession(token->admin);
	}
	for (int i = 0; i < HSM_MD_COUNT; i++) {
		EVP_MD_free(token->md[i]);
	}
	for (size_t i = 0; i < token->nkeys; i++) {
		hsm_key_free(token->keys[i]);
	}
	free(token->keys);
	for (size_t i = 0; i < token->nnames; i++) {
		free(token->names[i].label);
	}
	free(token->names);
	pthread_mutex_destroy(&token->names_lock);
	free(token->sessions);
	free(token);
}

int hsm_token_probe(hsm_token_t *token, tandem_diag_t *diag)
{
	if (token == NULL) {
		return TANDEM_EINVAL;
	}
	CK_TOKEN_INFO info;
	CK_SESSION_INFO si;
	const char *what = "C_GetTokenInfo";
	CK_RV rv = token->fl->C_GetTokenInfo(token->slot, &info);
	for (unsigned i = 0; rv == CKR_OK && i <= token->nsessions; i++) {
		what = "C_GetSessionInfo";
		rv = token->fl->C_GetSessionInfo(
		    i == token->nsessions ? token->admin : token->sessions[i].handle, &si);
		if (rv == CKR_OK && si.state != CKS_RW_USER_FUNCTIONS &&
		    si.state != CKS_RO_USER_FUNCTIONS) {
			rv = CKR_USER_NOT_LOGGED_IN;
		}
	}
	/* A store that went away shows in its objects first (SoftHSMv2). */
	for (size_t i = 0; rv == CKR_OK && i < token->nkeys; i++) {
		if (token->keys[i]->priv == CK_INVALID_HANDLE) {
			continue;
		}
		CK_OBJECT_CLASS cls = 0;
		CK_ATTRIBUTE a = {CKA_CLASS, &cls, sizeof(cls)};
		what = "reading a key";
		rv = token->fl->C_GetAttributeValue(token->admin, token->keys[i]->priv, &a, 1);
		break;
	}
	if (rv != CKR_OK) {
		tandem_diag_add(diag, TANDEM_HSM_EGONE, "token %s: %s: %s", token->label, what,
				hsm_rv_name(rv));
		return TANDEM_HSM_EGONE;
	}
	return TANDEM_OK;
}

int hsm_token_reopen(hsm_token_t *t, const hsm_uri_t *uri, const char *pin_env, tandem_diag_t *diag)
{
	if (t == NULL || uri == NULL) {
		return TANDEM_EINVAL;
	}
	/* What is left of the old sessions goes; their errors do not matter. */
	for (unsigned i = 0; i < t->nsessions; i++) {
		(void)t->fl->C_CloseSession(t->sessions[i].handle);
		t->sessions[i].handle = CK_INVALID_HANDLE;
	}
	if (t->logged_in) {
		(void)t->fl->C_Logout(t->admin);
		t->logged_in = false;
	}
	if (t->admin_open) {
		(void)t->fl->C_CloseSession(t->admin);
		t->admin_open = false;
	}
	for (size_t i = 0; i < t->nkeys; i++) {
		t->keys[i]->priv = CK_INVALID_HANDLE; /* until found again */
		t->keys[i]->pub = CK_INVALID_HANDLE;
	}
	t->smk = t->mac_key = CK_INVALID_HANDLE; /* found again, and checked again, when needed */
	t->check_known = false;
	int ret = hsm_module_reinit(t->module, diag);
	if (ret != TANDEM_OK) {
		return ret;
	}
	char label[33];
	ret = hsm_slot_find(t->fl, uri, diag, &t->slot, label);
	if (ret != TANDEM_OK) {
		return TANDEM_HSM_EGONE;
	}
	const CK_FLAGS flags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
	CK_RV rv = t->fl->C_OpenSession(t->slot, flags, NULL, NULL, &t->admin);
	if (rv != CKR_OK) {
		tandem_diag_add(diag, TANDEM_HSM_EGONE, "C_OpenSession on token %s: %s", t->label,
				hsm_rv_name(rv));
		return TANDEM_HSM_EGONE;
	}
	t->admin_open = true;
	ret = token_login(t, uri, pin_env, diag);
	if (ret != TANDEM_OK) {
		return ret == TANDEM_HSM_EP11 ? TANDEM_HSM_EGONE : ret;
	}
	for (unsigned i = 0; i < t->nsessions; i++) {
		rv = t->fl->C_OpenSession(t->slot, flags, NULL, NULL, &t->sessions[i].handle);
		if (rv != CKR_OK) {
			tandem_diag_add(diag, TANDEM_HSM_EGONE,
					"C_OpenSession %u of %u on token %s: %s", i + 1,
					t->nsessions, t->label, hsm_rv_name(rv));
			return TANDEM_HSM_EGONE;
		}
	}
	ret = token_find_keys(t, diag);
	return ret == TANDEM_HSM_EP11 ? TANDEM_HSM_EGONE : ret;
}

unsigned hsm_token_sessions(const hsm_token_t *token)
{
	return token != NULL ? token->nsessions : 0;
}

const char *hsm_token_label(const hsm_token_t *token)
{
	return token != NULL ? token->label : NULL;
}

size_t hsm_token_key_count(const hsm_token_t *token)
{
	return token != NULL ? token->nkeys : 0;
}

const hsm_key_t *hsm_token_key(const hsm_token_t *token, size_t i)
{
	return token != NULL && i < token->nkeys ? token->keys[i] : NULL;
}

int hsm_token_find_key(hsm_token_t *token, const hsm_uri_t *uri, tandem_diag_t *diag,
		       const hsm_key_t **out)
{
	if (token == NULL || uri == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	if (uri->type != NULL && strcmp(uri->type, "private") != 0 &&
	    strcmp(uri->type, "public") != 0) {
		tandem_diag_add(diag, TANDEM_HSM_EKEY, "type=%s names no key pair", uri->type);
		return TANDEM_HSM_EKEY;
	}
	const hsm_key_t *found = NULL;
	size_t matches = 0;
	for (size_t i = 0; i < token->nkeys; i++) {
		const hsm_key_t *k = token->keys[i];
		if (uri->object != NULL && strcmp(uri->object, k->label) != 0) {
			continue;
		}
		if (uri->id != NULL &&
		    (uri->id_len != k->id_len || memcmp(uri->id, k->id, k->id_len) != 0)) {
			continue;
		}
		found = k;
		matches++;
	}
	if (matches != 1) {
		tandem_diag_add(diag, TANDEM_HSM_EKEY, "%s on token %s matches %s%s%s",
				matches == 0 ? "no private key" : "more than one private key",
				token->label, uri->object != NULL ? "object=" : "the URI",
				uri->object != NULL ? uri->object : "",
				uri->id != NULL ? " with the given id" : "");
		return TANDEM_HSM_EKEY;
	}
	*out = found;
	return TANDEM_OK;
}

/*
 * The hot path. Each thread owns one session and its digest context, and keys
 * are immutable after open, so nothing here takes a lock of ours.
 */
int hsm_token_sign(hsm_token_t *token, unsigned session, const hsm_key_t *key, const uint8_t *data,
		   size_t len, uint8_t *sig, size_t *sig_len)
{
	if (token == NULL || key == NULL || (data == NULL && len > 0) || sig == NULL ||
	    sig_len == NULL) {
		return TANDEM_EINVAL;
	}
	if (session >= token->nsessions) {
		return TANDEM_HSM_ESESSION;
	}
	struct hsm_session *s = &token->sessions[session];
	/* DigestInfo prefix (at most 19 bytes) + SHA-512 digest. */
	uint8_t buf[19 + EVP_MAX_MD_SIZE];
	const uint8_t *input = data;
	CK_ULONG input_len = len;
	if (key->md >= 0) {
		unsigned int dlen = 0;
		if (key->digestinfo_len > 0) {
			memcpy(buf, key->digestinfo, key->digestinfo_len);
		}
		if (EVP_DigestInit_ex(s->mdctx, token->md[key->md], NULL) != 1 ||
		    EVP_DigestUpdate(s->mdctx, data, len) != 1 ||
		    EVP_DigestFinal_ex(s->mdctx, buf + key->digestinfo_len, &dlen) != 1) {
			return TANDEM_HSM_ESIGN;
		}
		input = buf;
		input_len = key->digestinfo_len + dlen;
	}
	CK_MECHANISM mech = {key->mech, NULL, 0};
	CK_RV rv = token->fl->C_SignInit(s->handle, &mech, key->priv);
	if (rv != CKR_OK) {
		return token_rv_gone(rv) ? TANDEM_HSM_EGONE : TANDEM_HSM_ESIGN;
	}
	/* HSM_SIG_MAX covers every key we load, so C_Sign never stops at BUFFER_TOO_SMALL
	 * and leaves the operation active. */
	CK_ULONG out_len = HSM_SIG_MAX;
	rv = token->fl->C_Sign(s->handle, (CK_BYTE *)input, input_len, sig, &out_len);
	if (rv != CKR_OK || out_len != key->sig_len) {
		return token_rv_gone(rv) ? TANDEM_HSM_EGONE : TANDEM_HSM_ESIGN;
	}
	*sig_len = out_len;
	return TANDEM_OK;
}

int hsm_objects_count(hsm_token_t *t, CK_ATTRIBUTE *match, CK_ULONG nmatch, int err,
		      tandem_diag_t *diag, CK_ULONG *count)
{
	return hsm_objects_count_in(t, t->admin, match, nmatch, err, diag, count);
}

int hsm_objects_count_in(hsm_token_t *t, CK_SESSION_HANDLE sess, CK_ATTRIBUTE *match,
			 CK_ULONG nmatch, int err, tandem_diag_t *diag, CK_ULONG *count)
{
	CK_OBJECT_HANDLE h[HSM_COUNT_MAX];
	CK_ULONG got = 0;
	CK_RV rv = t->fl->C_FindObjectsInit(sess, match, nmatch);
	if (rv == CKR_OK) {
		rv = t->fl->C_FindObjects(sess, h, HSM_COUNT_MAX, &got);
		(void)t->fl->C_FindObjectsFinal(sess);
	}
	if (rv != CKR_OK) {
		tandem_diag_add(diag, err, "C_FindObjects: %s", hsm_rv_name(rv));
		return err;
	}
	*count = got;
	return TANDEM_OK;
}
