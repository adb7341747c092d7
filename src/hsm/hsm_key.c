/* Keys: generation in the HSM, DNSKEY encoding of the public half, key tags. */
#include "hsm_internal.h"
#include "tandem_error.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* DER prefixes of the DigestInfo that CKM_RSA_PKCS signs (RFC 8017 section 9.2, note 1). */
static const uint8_t DIGESTINFO_SHA256[19] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
					      0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
					      0x01, 0x05, 0x00, 0x04, 0x20};
static const uint8_t DIGESTINFO_SHA512[19] = {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60,
					      0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
					      0x03, 0x05, 0x00, 0x04, 0x40};

/* CKA_EC_PARAMS: the curves' OIDs in DER. */
static const uint8_t OID_P256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t OID_P384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t OID_ED25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
/* PKCS#11 3.0 also allows the curve's name as a PrintableString. */
static const uint8_t NAME_ED25519[] = {0x13, 0x0c, 'e', 'd', 'w', 'a', 'r',
				       'd',  's',  '2', '5', '5', '1', '9'};

int hsm_attr_get(hsm_token_t *token, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type, uint8_t **out,
		 size_t *out_len)
{
	assert(token != NULL && out != NULL && out_len != NULL);
	CK_ATTRIBUTE a = {type, NULL, 0};
	CK_RV rv = token->fl->C_GetAttributeValue(token->admin, obj, &a, 1);
	if (rv != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
		return TANDEM_HSM_EP11;
	}
	uint8_t *buf = malloc(a.ulValueLen ? a.ulValueLen : 1);
	if (buf == NULL) {
		return TANDEM_ENOMEM;
	}
	a.pValue = buf;
	rv = token->fl->C_GetAttributeValue(token->admin, obj, &a, 1);
	if (rv != CKR_OK) {
		free(buf);
		return TANDEM_HSM_EP11;
	}
	*out = buf;
	*out_len = a.ulValueLen;
	return TANDEM_OK;
}

static bool bytes_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

static void strip_zeros(const uint8_t **p, size_t *len)
{
	while (*len > 0 && (*p)[0] == 0) {
		(*p)++;
		(*len)--;
	}
}

uint16_t hsm_keytag(const uint8_t *rdata, size_t len)
{
	uint32_t ac = 0;
	for (size_t i = 0; i < len; i++) {
		ac += (i & 1) ? rdata[i] : (uint32_t)rdata[i] << 8;
	}
	ac += (ac >> 16) & 0xffff;
	return (uint16_t)(ac & 0xffff);
}

static size_t rdata_write(const hsm_key_t *key, uint16_t flags, uint8_t *buf)
{
	buf[0] = (uint8_t)(flags >> 8);
	buf[1] = (uint8_t)flags;
	buf[2] = 3;
	buf[3] = key->algorithm;
	/* Always true; it tells the compiler the copy is bounded. */
	size_t n = key->pubkey_len < sizeof(key->pubkey) ? key->pubkey_len : sizeof(key->pubkey);
	memcpy(buf + 4, key->pubkey, n);
	return 4 + n;
}

/* Algorithm 8 or 10 for an RSA key: we record it at keygen in CKA_ALLOWED_MECHANISMS. */
static uint8_t rsa_algorithm(hsm_token_t *t, CK_OBJECT_HANDLE priv)
{
	uint8_t *mechs = NULL;
	size_t len = 0;
	uint8_t alg = HSM_ALG_RSASHA256;
	if (hsm_attr_get(t, priv, CKA_ALLOWED_MECHANISMS, &mechs, &len) != TANDEM_OK) {
		return alg;
	}
	for (size_t i = 0; i + sizeof(CK_MECHANISM_TYPE) <= len; i += sizeof(CK_MECHANISM_TYPE)) {
		CK_MECHANISM_TYPE m;
		memcpy(&m, mechs + i, sizeof(m));
		if (m == CKM_SHA512_RSA_PKCS) {
			alg = HSM_ALG_RSASHA512;
		}
	}
	free(mechs);
	return alg;
}

static int key_load_rsa(hsm_token_t *t, hsm_key_t *key, tandem_diag_t *diag)
{
	uint8_t *mod = NULL, *exp = NULL;
	size_t mod_len = 0, exp_len = 0;
	/* The modulus and exponent are public attributes of the private key too. */
	CK_OBJECT_HANDLE src = key->pub != CK_INVALID_HANDLE ? key->pub : key->priv;
	int ret = hsm_attr_get(t, src, CKA_MODULUS, &mod, &mod_len);
	if (ret == TANDEM_OK) {
		ret = hsm_attr_get(t, src, CKA_PUBLIC_EXPONENT, &exp, &exp_len);
	}
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, TANDEM_HSM_EKEY, "key %s: cannot read the RSA public key",
				key->label);
		goto out;
	}
	const uint8_t *m = mod, *e = exp;
	strip_zeros(&m, &mod_len);
	strip_zeros(&e, &exp_len);
	if (mod_len < 64 || mod_len > HSM_SIG_MAX || exp_len == 0 || exp_len > 255) {
		tandem_diag_add(diag, TANDEM_HSM_EKEY, "key %s: RSA key of %zu bytes not supported",
				key->label, mod_len);
		ret = TANDEM_HSM_EKEY;
		goto out;
	}
	/* RFC 3110: exponent length in one byte (we refuse longer exponents), exponent, modulus. */
	key->pubkey[0] = (uint8_t)exp_len;
	memcpy(key->pubkey + 1, e, exp_len);
	memcpy(key->pubkey + 1 + exp_len, m, mod_len);
	key->pubkey_len = 1 + exp_len + mod_len;
	unsigned top = 0;
	for (unsigned b = m[0]; b != 0; b >>= 1) {
		top++;
	}
	key->bits = (unsigned)(mod_len - 1) * 8 + top;
	key->sig_len = mod_len;
	key->algorithm = rsa_algorithm(t, key->priv);
	key->mech = CKM_RSA_PKCS;
	if (key->algorithm == HSM_ALG_RSASHA512) {
		key->digestinfo = DIGESTINFO_SHA512;
		key->md = HSM_MD_SHA512;
	} else {
		key->digestinfo = DIGESTINFO_SHA256;
		key->md = HSM_MD_SHA256;
	}
	key->digestinfo_len = sizeof(DIGESTINFO_SHA256);
out:
	free(mod);
	free(exp);
	return ret;
}

/* CKA_EC_POINT is a DER OCTET STRING; some modules give the bare point. Accept both. */
static bool ec_point_unwrap(const uint8_t *p, size_t len, size_t want, const uint8_t **out)
{
	if (len == want + 2 && p[0] == 0x04 && p[1] == want) {
		*out = p + 2;
		return true;
	}
	if (len == want) {
		*out = p;
		return true;
	}
	return false;
}

static int key_load_ec(hsm_token_t *t, hsm_key_t *key, bool edwards, tandem_diag_t *diag)
{
	uint8_t *params = NULL, *point = NULL;
	size_t params_len = 0, point_len = 0;
	int ret = TANDEM_OK;
	if (key->pub == CK_INVALID_HANDLE) {
		tandem_diag_add(diag, TANDEM_HSM_EKEY, "key %s: no public key object with its id",
				key->label);
		ret = TANDEM_HSM_EKEY;
		goto out;
	}
	ret = hsm_attr_get(t, key->pub, CKA_EC_PARAMS, &params, &params_len);
	if (ret == TANDEM_OK) {
		ret = hsm_attr_get(t, key->pub, CKA_EC_POINT, &point, &point_len);
	}
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, TANDEM_HSM_EKEY, "key %s: cannot read the EC public key",
				key->label);
		goto out;
	}
	const uint8_t *q = NULL;
	size_t field = 0;
	if (edwards && (bytes_equal(params, params_len, OID_ED25519, sizeof(OID_ED25519)) ||
			bytes_equal(params, params_len, NAME_ED25519, sizeof(NAME_ED25519)))) {
		key->algorithm = HSM_ALG_ED25519;
		key->mech = CKM_EDDSA;
		key->md = -1;
		field = 32;
		if (ec_point_unwrap(point, point_len, 32, &q)) {
			memcpy(key->pubkey, q, 32);
			key->pubkey_len = 32;
		}
	} else if (!edwards && bytes_equal(params, params_len, OID_P256, sizeof(OID_P256))) {
		key->algorithm = HSM_ALG_ECDSAP256SHA256;
		key->md = HSM_MD_SHA256;
		field = 32;
	} else if (!edwards && bytes_equal(params, params_len, OID_P384, sizeof(OID_P384))) {
		key->algorithm = HSM_ALG_ECDSAP384SHA384;
		key->md = HSM_MD_SHA384;
		field = 48;
	} else {
		tandem_diag_add(diag, TANDEM_HSM_EKEY, "key %s: curve not supported", key->label);
		ret = TANDEM_HSM_EKEY;
		goto out;
	}
	if (!edwards) {
		key->mech = CKM_ECDSA;
		/* DNSSEC wants x||y (RFC 6605): drop the 0x04 of the uncompressed point. */
		if (ec_point_unwrap(point, point_len, 1 + 2 * field, &q) && q[0] == 0x04) {
			memcpy(key->pubkey, q + 1, 2 * field);
			key->pubkey_len = 2 * field;
		}
	}
	if (key->pubkey_len == 0) {
		tandem_diag_add(diag, TANDEM_HSM_EKEY, "key %s: malformed CKA_EC_POINT",
				key->label);
		ret = TANDEM_HSM_EKEY;
		goto out;
	}
	key->bits = (unsigned)field * 8;
	key->sig_len = 2 * field;
out:
	free(params);
	free(point);
	return ret;
}

int hsm_key_load(hsm_token_t *token, hsm_key_t *key, CK_KEY_TYPE type, tandem_diag_t *diag)
{
	assert(token != NULL && key != NULL);
	int ret;
	key->md = -1;
	switch (type) {
	case CKK_RSA: ret = key_load_rsa(token, key, diag); break;
	case CKK_EC: ret = key_load_ec(token, key, false, diag); break;
	case CKK_EC_EDWARDS: ret = key_load_ec(token, key, true, diag); break;
	default:
		tandem_diag_add(diag, TANDEM_HSM_EKEY, "key %s: key type %#lx not supported",
				key->label, (unsigned long)type);
		ret = TANDEM_HSM_EKEY;
		break;
	}
	if (ret == TANDEM_OK) {
		uint8_t rdata[HSM_DNSKEY_MAX];
		size_t n = rdata_write(key, 256, rdata);
		key->tag_zsk = hsm_keytag(rdata, n);
		n = rdata_write(key, 257, rdata);
		key->tag_ksk = hsm_keytag(rdata, n);
	}
	return ret;
}

void hsm_key_free(hsm_key_t *key)
{
	if (key == NULL) {
		return;
	}
	free(key->label);
	free(key->id);
	free(key);
}

/* Is any object on the token already called label (or, for a given id, holding that id)? */
static int key_taken(hsm_token_t *t, CK_SESSION_HANDLE sess, CK_ATTRIBUTE *match, bool *taken,
		     tandem_diag_t *diag)
{
	CK_ULONG got = 0;
	int ret = hsm_objects_count_in(t, sess, match, 1, TANDEM_HSM_EGEN, diag, &got);
	if (ret == TANDEM_OK) {
		*taken = got > 0;
	}
	return ret;
}

/*
 * Whether label (or, when check_id, the id) is free on the token, and if so enters both in
 * its names (*reserved), so that a pair being made elsewhere meanwhile cannot take them.
 * Answered from the key list and the names while they cover every object (no search: one
 * reads every object of a SoftHSM file store), else by searches as before.
 * Errors: TANDEM_EEXIST (taken), TANDEM_HSM_EGEN, TANDEM_ENOMEM.
 */
static int key_reserve(hsm_token_t *t, CK_SESSION_HANDLE sess, const char *label, const uint8_t *id,
		       size_t id_len, bool check_id, tandem_diag_t *diag, bool *reserved)
{
	bool by_label = false, by_id = false;
	int ret = TANDEM_OK;
	pthread_mutex_lock(&t->names_lock);
	bool complete = t->names_complete;
	if (complete) {
		for (size_t i = 0; i < t->nkeys; i++) {
			const hsm_key_t *k = t->keys[i];
			by_label = by_label || strcmp(k->label, label) == 0;
			by_id = by_id || (k->id_len == id_len && memcmp(k->id, id, id_len) == 0);
		}
		for (size_t i = 0; i < t->nnames; i++) {
			const struct hsm_name *n = &t->names[i];
			by_label = by_label || strcmp(n->label, label) == 0;
			by_id = by_id || (n->id_len == id_len && memcmp(n->id, id, id_len) == 0);
		}
		if (!by_label && !by_id) {
			ret = hsm_names_add(t, label, strlen(label), id, id_len);
			*reserved = ret == TANDEM_OK;
		}
	}
	pthread_mutex_unlock(&t->names_lock);
	if (!complete) {
		CK_ATTRIBUTE m_label = {CKA_LABEL, (void *)label, strlen(label)};
		CK_ATTRIBUTE m_id = {CKA_ID, (void *)id, id_len};
		ret = key_taken(t, sess, &m_label, &by_label, diag);
		if (ret == TANDEM_OK && check_id) {
			ret = key_taken(t, sess, &m_id, &by_id, diag);
		}
	}
	if (ret != TANDEM_OK) {
		return ret;
	}
	if (by_label) {
		tandem_diag_add(diag, TANDEM_EEXIST, "token %s already holds an object labelled %s",
				t->label, label);
		return TANDEM_EEXIST;
	}
	if (by_id && (check_id || complete)) {
		tandem_diag_add(diag, TANDEM_EEXIST,
				"token %s already holds an object with this id", t->label);
		return TANDEM_EEXIST;
	}
	return TANDEM_OK;
}

/* A key pair made in the HSM, not yet in the token's key list (hsm_token_adopt_key). */
struct hsm_keypair {
	CK_OBJECT_HANDLE pub, priv;
	CK_KEY_TYPE type;
	char *label;
	uint8_t id[128];
	size_t id_len;
};

void hsm_keypair_free(hsm_keypair_t *made)
{
	if (made == NULL) {
		return;
	}
	free(made->label);
	free(made);
}

/*
 * Makes the key pair on session sess (the admin session, or another thread's own): the
 * objects only, the token's key list untouched. A half-made pair is destroyed.
 */
static int key_make(hsm_token_t *token, CK_SESSION_HANDLE sess, const hsm_uri_t *uri,
		    const hsm_keyspec_t *spec, tandem_diag_t *diag, hsm_keypair_t *made)
{
	if (uri->object == NULL || uri->object[0] == '\0') {
		tandem_diag_add(diag, TANDEM_EINVAL,
				"key generation needs object=LABEL in the URI");
		return TANDEM_EINVAL;
	}
	int ret = TANDEM_OK;
	CK_RV rv = CKR_OK;
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
	const char *label = uri->object;
	bool reserved = false; /* label and id entered in the token's names */

	CK_KEY_TYPE type = CKK_RSA;
	CK_MECHANISM gen = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
	/*
	 * An RSA key does not say whether it serves algorithm 8 or 10; we record
	 * that in CKA_ALLOWED_MECHANISMS (CKM_SHA256_/SHA512_RSA_PKCS beside the
	 * CKM_RSA_PKCS we sign with), so it survives a reopen. Whoever unwraps a
	 * key from the archive must set the same attribute, or an algorithm 10
	 * key comes back as algorithm 8.
	 */
	CK_MECHANISM_TYPE allowed[2] = {CKM_RSA_PKCS, CKM_SHA256_RSA_PKCS};
	CK_ULONG nallowed = 2;
	const uint8_t *params = NULL;
	size_t params_len = 0;
	switch (spec->algorithm) {
	case HSM_ALG_RSASHA256:
	case HSM_ALG_RSASHA512:
		if (spec->bits < 1024 || spec->bits > 4096) {
			tandem_diag_add(diag, TANDEM_HSM_EGEN,
					"RSA keys are 1024 to 4096 bits, not %u", spec->bits);
			return TANDEM_HSM_EGEN;
		}
		if (spec->algorithm == HSM_ALG_RSASHA512) {
			allowed[1] = CKM_SHA512_RSA_PKCS;
		}
		break;
	case HSM_ALG_ECDSAP256SHA256:
	case HSM_ALG_ECDSAP384SHA384:
		type = CKK_EC;
		gen.mechanism = CKM_EC_KEY_PAIR_GEN;
		allowed[0] = CKM_ECDSA;
		nallowed = 1;
		params = spec->algorithm == HSM_ALG_ECDSAP256SHA256 ? OID_P256 : OID_P384;
		params_len = spec->algorithm == HSM_ALG_ECDSAP256SHA256 ? sizeof(OID_P256)
									: sizeof(OID_P384);
		break;
	case HSM_ALG_ED25519:
		type = CKK_EC_EDWARDS;
		gen.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN;
		allowed[0] = CKM_EDDSA;
		nallowed = 1;
		params = OID_ED25519;
		params_len = sizeof(OID_ED25519);
		break;
	default:
		tandem_diag_add(diag, TANDEM_HSM_EGEN, "DNSSEC algorithm %u not supported",
				spec->algorithm);
		return TANDEM_HSM_EGEN;
	}

	uint8_t id[128];
	size_t id_len = 16;
	if (uri->id != NULL) {
		if (uri->id_len == 0 || uri->id_len > sizeof(id)) {
			tandem_diag_add(diag, TANDEM_HSM_EGEN, "a key id is 1 to %zu bytes",
					sizeof(id));
			ret = TANDEM_HSM_EGEN;
			goto out;
		}
		memcpy(id, uri->id, uri->id_len);
		id_len = uri->id_len;
	} else {
		rv = token->fl->C_GenerateRandom(sess, id, id_len);
		if (rv != CKR_OK) {
			tandem_diag_add(diag, TANDEM_HSM_EGEN, "C_GenerateRandom: %s",
					hsm_rv_name(rv));
			ret = TANDEM_HSM_EGEN;
			goto out;
		}
	}
	ret = key_reserve(token, sess, label, id, id_len, uri->id != NULL, diag, &reserved);
	if (ret != TANDEM_OK) {
		goto out;
	}

	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_BBOOL leaves = spec->stays ? CK_FALSE : CK_TRUE;
	CK_ULONG bits = spec->bits;
	uint8_t f4[] = {0x01, 0x00, 0x01};
	CK_ATTRIBUTE pub_tmpl[9] = {
	    {CKA_TOKEN, &yes, sizeof(yes)},
	    {CKA_PRIVATE, &no, sizeof(no)},
	    {CKA_VERIFY, &yes, sizeof(yes)},
	    {CKA_ENCRYPT, &no, sizeof(no)},
	    {CKA_WRAP, &no, sizeof(no)},
	    {CKA_LABEL, (void *)label, strlen(label)},
	    {CKA_ID, id, id_len},
	};
	CK_ULONG npub = 7;
	if (type == CKK_RSA) {
		pub_tmpl[npub++] = (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)};
		pub_tmpl[npub++] = (CK_ATTRIBUTE){CKA_PUBLIC_EXPONENT, f4, sizeof(f4)};
	} else {
		pub_tmpl[npub++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)params, params_len};
	}
	CK_ATTRIBUTE priv_tmpl[] = {
	    {CKA_TOKEN, &yes, sizeof(yes)},
	    {CKA_PRIVATE, &yes, sizeof(yes)},
	    {CKA_SENSITIVE, &yes, sizeof(yes)},
	    {CKA_SIGN, &yes, sizeof(yes)},
	    {CKA_EXTRACTABLE, &leaves, sizeof(leaves)},
	    {CKA_WRAP_WITH_TRUSTED, &leaves, sizeof(leaves)},
	    {CKA_DECRYPT, &no, sizeof(no)},
	    {CKA_UNWRAP, &no, sizeof(no)},
	    {CKA_DERIVE, &no, sizeof(no)},
	    {CKA_LABEL, (void *)label, strlen(label)},
	    {CKA_ID, id, id_len},
	    {CKA_ALLOWED_MECHANISMS, allowed, nallowed * sizeof(allowed[0])},
	};
	rv = token->fl->C_GenerateKeyPair(sess, &gen, pub_tmpl, npub, priv_tmpl,
					  sizeof(priv_tmpl) / sizeof(priv_tmpl[0]), &pub, &priv);
	if (rv != CKR_OK) {
		tandem_diag_add(diag, TANDEM_HSM_EGEN, "C_GenerateKeyPair (%s, algorithm %u): %s",
				label, spec->algorithm, hsm_rv_name(rv));
		ret = TANDEM_HSM_EGEN;
		pub = priv = CK_INVALID_HANDLE;
		goto out;
	}
	made->label = strdup(label);
	if (made->label == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	made->pub = pub;
	made->priv = priv;
	made->type = type;
	memcpy(made->id, id, id_len);
	made->id_len = id_len;
	pub = priv = CK_INVALID_HANDLE; /* made's now */
out:
	/* A half-made key must not stay on the token to collide with the next try. */
	if (priv != CK_INVALID_HANDLE) {
		(void)token->fl->C_DestroyObject(sess, priv);
	}
	if (pub != CK_INVALID_HANDLE) {
		(void)token->fl->C_DestroyObject(sess, pub);
	}
	if (ret != TANDEM_OK && reserved) {
		pthread_mutex_lock(&token->names_lock);
		hsm_names_drop(token, label, id, id_len);
		pthread_mutex_unlock(&token->names_lock);
	}
	return ret;
}

int hsm_token_adopt_key(hsm_token_t *token, hsm_keypair_t *made, tandem_diag_t *diag,
			const hsm_key_t **out)
{
	if (token == NULL || made == NULL || out == NULL) {
		hsm_keypair_free(made);
		return TANDEM_EINVAL;
	}
	int ret = TANDEM_OK;
	hsm_key_t *key = calloc(1, sizeof(*key));
	if (key == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	key->priv = made->priv;
	key->pub = made->pub;
	key->label = strdup(made->label);
	key->id = malloc(made->id_len);
	if (key->label == NULL || key->id == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	memcpy(key->id, made->id, made->id_len);
	key->id_len = made->id_len;
	ret = hsm_key_load(token, key, made->type, diag);
	if (ret != TANDEM_OK) {
		ret = ret == TANDEM_ENOMEM ? ret : TANDEM_HSM_EGEN;
		goto out;
	}
	hsm_key_t *added = key;
	ret = hsm_token_add_key_take(token, key);
	key = NULL;
	if (ret != TANDEM_OK) {
		goto out;
	}
	made->pub = made->priv = CK_INVALID_HANDLE; /* the token's list owns them now */
	*out = added;
	pthread_mutex_lock(&token->names_lock); /* listed now: its name is the list's */
	hsm_names_drop(token, made->label, made->id, made->id_len);
	pthread_mutex_unlock(&token->names_lock);
out:
	hsm_key_free(key);
	/* A key that cannot join the list must not stay on the token to collide with the next
	 * try. */
	bool held = made->priv != CK_INVALID_HANDLE || made->pub != CK_INVALID_HANDLE;
	bool gone = true;
	if (made->priv != CK_INVALID_HANDLE) {
		gone = token->fl->C_DestroyObject(token->admin, made->priv) == CKR_OK && gone;
	}
	if (made->pub != CK_INVALID_HANDLE) {
		gone = token->fl->C_DestroyObject(token->admin, made->pub) == CKR_OK && gone;
	}
	if (held && gone && made->label != NULL) { /* its name is free again */
		pthread_mutex_lock(&token->names_lock);
		hsm_names_drop(token, made->label, made->id, made->id_len);
		pthread_mutex_unlock(&token->names_lock);
	}
	hsm_keypair_free(made);
	return ret;
}

int hsm_token_generate_key(hsm_token_t *token, const hsm_uri_t *uri, const hsm_keyspec_t *spec,
			   tandem_diag_t *diag, const hsm_key_t **out)
{
	if (token == NULL || uri == NULL || spec == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	hsm_keypair_t *made = calloc(1, sizeof(*made));
	if (made == NULL) {
		return TANDEM_ENOMEM;
	}
	int ret = key_make(token, token->admin, uri, spec, diag, made);
	if (ret != TANDEM_OK) {
		hsm_keypair_free(made);
		return ret;
	}
	return hsm_token_adopt_key(token, made, diag, out);
}

int hsm_token_generate_detached(hsm_token_t *token, const hsm_uri_t *uri, const hsm_keyspec_t *spec,
				tandem_diag_t *diag, hsm_keypair_t **out)
{
	if (token == NULL || uri == NULL || spec == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	CK_SESSION_HANDLE sess = CK_INVALID_HANDLE;
	CK_RV rv = token->fl->C_OpenSession(token->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
					    NULL, &sess);
	if (rv != CKR_OK) {
		tandem_diag_add(diag, TANDEM_HSM_EGEN, "C_OpenSession on token %s: %s",
				token->label, hsm_rv_name(rv));
		return TANDEM_HSM_EGEN;
	}
	hsm_keypair_t *made = calloc(1, sizeof(*made));
	int ret = made == NULL ? TANDEM_ENOMEM : key_make(token, sess, uri, spec, diag, made);
	(void)token->fl->C_CloseSession(sess);
	if (ret != TANDEM_OK) {
		hsm_keypair_free(made);
		return ret;
	}
	*out = made;
	return TANDEM_OK;
}

int hsm_token_destroy_key(hsm_token_t *token, const hsm_key_t *key, tandem_diag_t *diag)
{
	if (token == NULL || key == NULL) {
		return TANDEM_EINVAL;
	}
	size_t i = 0;
	while (i < token->nkeys && token->keys[i] != key) {
		i++;
	}
	if (i == token->nkeys) {
		tandem_diag_add(diag, TANDEM_HSM_EKEY, "key %s is not a key of token %s",
				key->label, token->label);
		return TANDEM_HSM_EKEY;
	}
	hsm_key_t *k = token->keys[i];
	CK_RV rv = token->fl->C_DestroyObject(token->admin, k->priv);
	if (rv != CKR_OK) {
		tandem_diag_add(diag, TANDEM_HSM_EP11, "C_DestroyObject (private key %s): %s",
				k->label, hsm_rv_name(rv));
		return TANDEM_HSM_EP11;
	}
	int ret = TANDEM_OK;
	if (k->pub != CK_INVALID_HANDLE) {
		rv = token->fl->C_DestroyObject(token->admin, k->pub);
		if (rv != CKR_OK) {
			tandem_diag_add(diag, TANDEM_HSM_EP11,
					"C_DestroyObject (public key %s): %s; the private key is "
					"gone",
					k->label, hsm_rv_name(rv));
			ret = TANDEM_HSM_EP11;
		}
	}
	pthread_mutex_lock(&token->names_lock);
	memmove(&token->keys[i], &token->keys[i + 1],
		(token->nkeys - i - 1) * sizeof(*token->keys));
	token->nkeys--;
	if (ret != TANDEM_OK) { /* its public object stayed, with the name */
		(void)hsm_names_add(token, k->label, strlen(k->label), k->id, k->id_len);
	}
	pthread_mutex_unlock(&token->names_lock);
	hsm_key_free(k);
	return ret;
}

const char *hsm_key_label(const hsm_key_t *key)
{
	return key != NULL ? key->label : NULL;
}

uint8_t hsm_key_algorithm(const hsm_key_t *key)
{
	return key != NULL ? key->algorithm : 0;
}

unsigned hsm_key_bits(const hsm_key_t *key)
{
	return key != NULL ? key->bits : 0;
}

int hsm_key_dnskey_rdata(const hsm_key_t *key, uint16_t flags, uint8_t *buf, size_t *len)
{
	if (key == NULL || buf == NULL || len == NULL) {
		return TANDEM_EINVAL;
	}
	*len = rdata_write(key, flags, buf);
	return TANDEM_OK;
}

uint16_t hsm_key_tag(const hsm_key_t *key, uint16_t flags)
{
	if (key == NULL) {
		return 0;
	}
	if (flags == 256) {
		return key->tag_zsk;
	}
	if (flags == 257) {
		return key->tag_ksk;
	}
	uint8_t rdata[HSM_DNSKEY_MAX];
	size_t n = rdata_write(key, flags, rdata);
	return hsm_keytag(rdata, n);
}
