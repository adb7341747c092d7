/* Bodies of the hsm module's objects, shared by its .c files and its unit test only. */
#ifndef HSM_INTERNAL_H
#define HSM_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#include "hsm.h"
#include "tandem_diag.h"

/* Longest PKCS#11 URI attribute value and PIN we accept. */
#define HSM_URI_VALUE_MAX 1024
#define HSM_PIN_MAX       256
/* Public key bytes in DNSSEC encoding: RSA 4096 with a long exponent fits. */
#define HSM_PUBKEY_MAX (HSM_DNSKEY_MAX - 4)

struct hsm_module {
	CK_FUNCTION_LIST *fl;   /* the module's own functions, not p11-kit's wrappers */
	CK_FUNCTION_LIST **all; /* set when loaded by name: every configured module */
	bool initialised;       /* we called C_Initialize and owe a C_Finalize */
};

struct hsm_uri {
	char *token;
	char *manufacturer;
	char *serial;
	char *model;
	char *object;
	char *type;
	char *pin_source;
	char *module_name;
	char *module_path;
	uint8_t *id;
	size_t id_len;
	bool has_slot_id;
	unsigned long slot_id;
};

struct hsm_key {
	CK_OBJECT_HANDLE priv;
	CK_OBJECT_HANDLE pub; /* CK_INVALID_HANDLE when the token holds no public object */
	char *label;
	uint8_t *id;
	size_t id_len;
	uint8_t algorithm;
	unsigned bits;
	size_t sig_len; /* signature size in DNSSEC encoding */
	/* Everything the hot path needs, fixed at open or keygen. */
	CK_MECHANISM_TYPE mech;
	const uint8_t *digestinfo; /* RSA: DER prefix of the DigestInfo; NULL otherwise */
	size_t digestinfo_len;
	int md; /* index into hsm_token.md, or -1 to sign the message itself */
	uint8_t pubkey[HSM_PUBKEY_MAX];
	size_t pubkey_len;
	uint16_t tag_zsk; /* key tags for flags 256 and 257 */
	uint16_t tag_ksk;
};

/* Digests the hot path may need, fetched once so no thread pays a lookup per call. */
enum { HSM_MD_SHA256, HSM_MD_SHA384, HSM_MD_SHA512, HSM_MD_COUNT };

/* One signing session: used by one thread only. */
struct hsm_session {
	CK_SESSION_HANDLE handle;
	EVP_MD_CTX *mdctx;
};

struct hsm_token {
	hsm_module_t *module;
	CK_FUNCTION_LIST *fl;
	CK_SLOT_ID slot;
	char label[33];
	CK_SESSION_HANDLE admin; /* finds objects and makes keys, never signs */
	bool admin_open;
	bool logged_in; /* we logged in and owe a C_Logout */
	struct hsm_session *sessions;
	unsigned nsessions;
	EVP_MD *md[HSM_MD_COUNT];
	hsm_key_t **keys; /* pointers, so borrowed keys survive growth of the array */
	size_t nkeys;
	size_t keys_cap;
	/*
	 * The SMK and the archive MAC key, found once (hsm_smk.c) instead of by a search per
	 * key: a search costs SoftHSM's file store a read of every object file on the token.
	 * CK_INVALID_HANDLE until first needed, after a reopen, and after the HSM called a
	 * cached handle invalid. The check value is computed once per open likewise.
	 */
	/* Private keys the last scan found and could not list (another algorithm, no public
	 * half): while there are none, the key list alone answers whether a label or id is
	 * taken by a private key, without a search. */
	size_t nforeign;
	/*
	 * Labels and ids taken on the token beside the key list: its other key objects found
	 * at open (the SMK, the MAC key, keys tandem cannot list, public keys without their
	 * private half) and the pairs made since that are not (or never were) adopted. While
	 * names_complete (the scan at open could read every object's label and id), a
	 * generation checks label and id here and in the key list instead of by two searches
	 * (at 1,000 objects on SoftHSM: 230 ms of a 13 ms generation). names_lock guards names
	 * and every change of the key list, since detached generations read both.
	 */
	pthread_mutex_t names_lock;
	bool names_complete;
	struct hsm_name *names;
	size_t nnames, names_cap;
	CK_OBJECT_HANDLE smk;
	CK_OBJECT_HANDLE mac_key;
	bool check_known;
	uint8_t check[32]; /* HSM_SMK_CHECK_LEN */
};

/* A label and id taken on the token (hsm_token.names). */
struct hsm_name {
	char *label;
	uint8_t id[128];
	size_t id_len;
};
/* Adds a taken name (names_lock held by the caller). Errors: TANDEM_ENOMEM. */
int hsm_names_add(hsm_token_t *t, const char *label, size_t label_len, const uint8_t *id,
		  size_t id_len);
/* Drops one name equal to label and id, if any (names_lock held by the caller). */
void hsm_names_drop(hsm_token_t *t, const char *label, const uint8_t *id, size_t id_len);

/* A static name for a CK_RV ("CKR_PIN_INCORRECT"), for diag messages. */
const char *hsm_rv_name(CK_RV rv);

/*
 * Finalises the module and initialises it again (C_Finalize, C_Initialize): every session
 * and object handle of every token it serves becomes invalid. A token that went away is
 * found again only after this with some modules (SoftHSMv2 reads its token directory at
 * C_Initialize). Errors: TANDEM_HSM_EGONE (detail in diag).
 */
int hsm_module_reinit(hsm_module_t *module, tandem_diag_t *diag);

/* Fills key's cached fields (algorithm, bits, public key, tags, mechanism)
 * from its objects. Errors: TANDEM_HSM_EKEY, TANDEM_HSM_EP11, TANDEM_ENOMEM. */
int hsm_key_load(hsm_token_t *token, hsm_key_t *key, CK_KEY_TYPE type, tandem_diag_t *diag);
/* Frees a key record (not the HSM objects); NULL-safe. */
void hsm_key_free(hsm_key_t *key);
/* Appends a key record to the token's list (takes it). Errors: TANDEM_ENOMEM. */
int hsm_token_add_key_take(hsm_token_t *token, hsm_key_t *key);

/* RFC 4034 Appendix B key tag of DNSKEY RDATA (the algorithm 1 special case does not apply). */
uint16_t hsm_keytag(const uint8_t *rdata, size_t len);

/* Reads one attribute of variable length into a fresh buffer.
 * Errors: TANDEM_HSM_EP11 (the attribute is absent or unreadable), TANDEM_ENOMEM. */
int hsm_attr_get(hsm_token_t *token, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type, uint8_t **out,
		 size_t *out_len);

/*
 * The slot of the one initialised token the URI names (token, manufacturer,
 * serial, model, slot-id) and its label; TANDEM_HSM_ETOKEN (in diag) when
 * none or several match. Used by hsm_token_open and by the SO-session code
 * in hsm_smk.c, which cannot open a user-logged-in token.
 */
int hsm_slot_find(CK_FUNCTION_LIST *fl, const hsm_uri_t *uri, tandem_diag_t *diag, CK_SLOT_ID *out,
		  char label[33]);

/* Objects matching the template, counted up to HSM_COUNT_MAX, found on the
 * token's admin session; a PKCS#11 failure is reported as err (in diag). */
#define HSM_COUNT_MAX 8
int hsm_objects_count(hsm_token_t *t, CK_ATTRIBUTE *match, CK_ULONG nmatch, int err,
		      tandem_diag_t *diag, CK_ULONG *count);
/* The same on a session of the caller's (another thread's, not the admin session). */
int hsm_objects_count_in(hsm_token_t *t, CK_SESSION_HANDLE sess, CK_ATTRIBUTE *match,
			 CK_ULONG nmatch, int err, tandem_diag_t *diag, CK_ULONG *count);

/*
 * The token's SMK (mac false) or archive MAC key (mac true) handle, found by label on the
 * admin session the first time and cached in the token (hsm_smk.c).
 * Errors: TANDEM_HSM_EKEY (none, or several), TANDEM_HSM_EP11.
 */
int hsm_smk_handle(hsm_token_t *token, bool mac, tandem_diag_t *diag, CK_OBJECT_HANDLE *out);
/* A PKCS#11 call with a cached SMK or MAC key handle failed with rv: a handle the HSM calls
 * invalid is dropped (both, and the check value), so the next call finds them again. */
void hsm_smk_handle_failed(hsm_token_t *token, CK_RV rv);
/* hsm_smk_check without the cached value: computed in the HSM now, and cached. */
int hsm_smk_check_fresh(hsm_token_t *token, tandem_diag_t *diag, uint8_t out[32]);

#endif
