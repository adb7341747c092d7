/* The Storage Master Key in the HSM: installing it (SO session), its check value, wrapping and
 * unwrapping DNSSEC keys under it, and the archive MAC key beside it. */
#ifndef HSM_SMK_H
#define HSM_SMK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hsm.h"
#include "tandem_diag.h"

/* Labels of the two secret keys a ceremony installs. */
#define HSM_SMK_LABEL     "tandem-smk"
#define HSM_SMK_MAC_LABEL "tandem-archive-mac"
/* Sizes: AES-256 SMK, HMAC-SHA256 key, check value, MAC. */
#define HSM_SMK_KEY_LEN   32
#define HSM_SMK_CHECK_LEN 32
#define HSM_SMK_MAC_LEN   32
/* Largest wrapped private key we accept (RSA 4096 PKCS#8 is about 2.4 KB). */
#define HSM_SMK_WRAPPED_MAX 8192

/*
 * The check value of an (SMK, MAC key) pair, computed in software:
 * SHA-256("tandem-smk-check-v1" || AES-KWP(SMK, K0) || HMAC-SHA256(MAC key,
 * "tandem-archive-mac-check-v1")), with K0 the fixed AES key of
 * docs/ceremony.md. AES key wrap is deterministic, so the HSM computes the same
 * (hsm_smk_check) without either key leaving it.
 * Errors: TANDEM_EINVAL, TANDEM_CRYPTO_ELIB.
 */
int hsm_smk_check_soft(const uint8_t smk[HSM_SMK_KEY_LEN], const uint8_t mac_key[HSM_SMK_KEY_LEN],
		       uint8_t out[HSM_SMK_CHECK_LEN]);

/*
 * Creates the SMK and the archive MAC key on the token the URI names, in a
 * session of its own logged in as SO (CKA_TRUSTED can only be set by the SO),
 * then logs out and closes it; no user login may be active on that token in
 * this process. The SMK is a token AES key, CKA_TRUSTED, CKA_SENSITIVE, not
 * extractable, CKA_WRAP/CKA_UNWRAP only with CKM_AES_KEY_WRAP_PAD, not
 * modifiable; the MAC key a generic secret for CKM_SHA256_HMAC sign/verify
 * only. Both are public objects (CKA_PRIVATE false): SoftHSM refuses private
 * objects in an SO session (docs/ceremony.md). id (borrowed, may be NULL)
 * becomes their CKA_ID. so_pin is borrowed and not kept. The check value is
 * recomputed in the HSM and must equal hsm_smk_check_soft(smk, mac_key);
 * on any failure nothing stays on the token.
 * Errors: TANDEM_HSM_ETOKEN, TANDEM_HSM_EPIN, TANDEM_HSM_EP11,
 * TANDEM_EEXIST (the token already holds an SMK or MAC key: diag says whether
 * it is the same one), TANDEM_ARCHIVE_ETAMPER (the check value computed in the
 * HSM differs from the ceremony's).
 */
int hsm_smk_install(hsm_module_t *module, const hsm_uri_t *uri, const char *so_pin,
		    size_t so_pin_len, const uint8_t smk[HSM_SMK_KEY_LEN],
		    const uint8_t mac_key[HSM_SMK_KEY_LEN], const uint8_t *id, size_t id_len,
		    tandem_diag_t *diag);

/*
 * The check value of the SMK and MAC key held by an open token, computed in
 * the HSM (a fixed public session key wrapped under the SMK, an HMAC with the
 * MAC key) once per open: later calls return it from the token's memory, as the
 * wrap, MAC and unwrap calls use the SMK and MAC key handles found once (a search
 * per call costs SoftHSM's file store a read of every object on the token).
 * hsm_token_reopen, and a handle the HSM calls invalid, make the next call find
 * and compute them again; the hygiene check always computes it afresh.
 * Errors: TANDEM_HSM_EKEY (no SMK or MAC key, or several),
 * TANDEM_HSM_EP11.
 */
int hsm_smk_check(hsm_token_t *token, tandem_diag_t *diag, uint8_t out[HSM_SMK_CHECK_LEN]);

/* The key's CKA_ID (borrowed) and its length. (Belongs in hsm.h as hsm_key_id; it lives
 * here until that header changes.) */
const uint8_t *hsm_smk_key_id(const hsm_key_t *key, size_t *len);

/* True if the key is one tandem made to travel: CKA_EXTRACTABLE and CKA_WRAP_WITH_TRUSTED. */
bool hsm_smk_key_archivable(hsm_token_t *token, const hsm_key_t *key);

/*
 * Wraps a private key under the SMK with CKM_AES_KEY_WRAP_PAD into a fresh
 * buffer (*out, the caller's; free()). Errors: TANDEM_HSM_EKEY (no SMK),
 * TANDEM_HSM_EP11 (the HSM refused, e.g. an algorithm it cannot wrap: diag),
 * TANDEM_ENOMEM.
 */
int hsm_smk_wrap(hsm_token_t *token, const hsm_key_t *key, tandem_diag_t *diag, uint8_t **out,
		 size_t *out_len);

/* HMAC-SHA256 of data with the archive MAC key, in the HSM.
 * Errors: TANDEM_HSM_EKEY (no MAC key), TANDEM_HSM_EP11. */
int hsm_smk_mac(hsm_token_t *token, const uint8_t *data, size_t len, tandem_diag_t *diag,
		uint8_t out[HSM_SMK_MAC_LEN]);
/* Verifies such an HMAC in the HSM. Errors: TANDEM_ARCHIVE_ETAMPER (it does not verify),
 * TANDEM_HSM_EKEY, TANDEM_HSM_EP11. */
int hsm_smk_mac_verify(hsm_token_t *token, const uint8_t *data, size_t len,
		       const uint8_t mac[HSM_SMK_MAC_LEN], tandem_diag_t *diag);

/*
 * An import staged in session objects: each key is unwrapped under the SMK as
 * a session object (sensitive, private, extractable only under a trusted key)
 * beside a session public key object, so it can be proved before anything is
 * written to the token. hsm_smk_import_commit() copies them all to the token
 * or, on any failure, removes what it copied. hsm_smk_import_free() destroys
 * the session objects. At most one import per token at a time.
 */
typedef struct hsm_smk_import hsm_smk_import_t;

/* Starts an import on an open token (borrowed; it must outlive the import).
 * Errors: TANDEM_HSM_EKEY (no SMK), TANDEM_ENOMEM. */
int hsm_smk_import_new(hsm_token_t *token, tandem_diag_t *diag, hsm_smk_import_t **out);
/* Destroys the staged session objects; NULL-safe. */
void hsm_smk_import_free(hsm_smk_import_t *imp);

/*
 * Does the token already hold a private key with this label or id? *exists is
 * set when one does and its public key (DNSSEC encoding) equals pubkey.
 * Errors: TANDEM_ARCHIVE_ECONFLICT (a key with this label or id but another public key,
 * or one tandem cannot read), TANDEM_HSM_EP11.
 */
int hsm_smk_import_exists(hsm_smk_import_t *imp, const char *label, const uint8_t *id,
			  size_t id_len, const uint8_t *pubkey, size_t pubkey_len,
			  tandem_diag_t *diag, bool *exists);

/*
 * Unwraps one key into session objects: the private key with this label, id
 * and DNSSEC algorithm (RSA: its CKA_ALLOWED_MECHANISMS records 8 or 10, as
 * at keygen), and a public key object from the DNSSEC-encoded pubkey. *out is
 * a key record borrowed from the import, usable with hsm_token_sign() and
 * hsm_key_dnskey_rdata() to prove the key before commit.
 * Errors: TANDEM_ARCHIVE_ETAMPER (the HSM could not unwrap it: tampered, or
 * another SMK; or the unwrapped key is not what the archive says),
 * TANDEM_ARCHIVE_EFORMAT (pubkey malformed for the algorithm, or an algorithm
 * tandem does not know), TANDEM_HSM_EKEY (a key type tandem cannot read),
 * TANDEM_EINVAL, TANDEM_HSM_EP11, TANDEM_ENOMEM.
 */
int hsm_smk_import_stage(hsm_smk_import_t *imp, const char *label, const uint8_t *id, size_t id_len,
			 uint8_t algorithm, const uint8_t *pubkey, size_t pubkey_len,
			 const uint8_t *wrapped, size_t wrapped_len, tandem_diag_t *diag,
			 const hsm_key_t **out);

/*
 * Copies every staged key pair to the token (CKA_TOKEN) and adds them to the
 * token's key list. All or nothing: on failure the copies made are destroyed.
 * Errors: TANDEM_HSM_EP11, TANDEM_ENOMEM.
 */
int hsm_smk_import_commit(hsm_smk_import_t *imp, tandem_diag_t *diag);

#endif
