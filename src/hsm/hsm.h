/* PKCS#11 through p11-kit: modules, RFC 7512 URIs, tokens with a session pool, keys, signing. */
#ifndef HSM_H
#define HSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tandem_diag.h"

/* DNSSEC algorithm numbers (IANA) that the HSM can make and use. */
enum {
	HSM_ALG_RSASHA256 = 8,
	HSM_ALG_RSASHA512 = 10,
	HSM_ALG_ECDSAP256SHA256 = 13,
	HSM_ALG_ECDSAP384SHA384 = 14,
	HSM_ALG_ED25519 = 15,
};

/* Largest DNSSEC signature we produce (RSA 4096). */
#define HSM_SIG_MAX 512
/* Largest DNSKEY RDATA we produce. */
#define HSM_DNSKEY_MAX 1024

/* ---- modules ---- */

typedef struct hsm_module hsm_module_t;

/*
 * Loads and initialises a PKCS#11 module: an absolute path, or a p11-kit
 * module name (e.g. "softhsm2"); NULL means the default, SoftHSMv2.
 * Errors: TANDEM_HSM_EMODULE (detail in diag).
 */
int hsm_module_load(const char *path_or_name, tandem_diag_t *diag, hsm_module_t **out);
/* Finalises and unloads the module; NULL-safe. All tokens must be closed. */
void hsm_module_free(hsm_module_t *module);

/* ---- PKCS#11 URIs (RFC 7512) ---- */

typedef struct hsm_uri hsm_uri_t;

/*
 * Parses "pkcs11:token=siteA;object=zsk-2026q4;pin-source=/path" (path and
 * query attributes, percent-encoding). Recognised: token, manufacturer,
 * serial, model, slot-id, object, id, type, pin-source, module-name,
 * module-path. "pin-value" is refused (a PIN never travels in a URI or argv).
 * Errors: TANDEM_HSM_EURI (detail in diag).
 */
int hsm_uri_parse(const char *uri, tandem_diag_t *diag, hsm_uri_t **out);
void hsm_uri_free(hsm_uri_t *uri);
/* Attribute values (borrowed; NULL when absent). */
const char *hsm_uri_token(const hsm_uri_t *uri);
const char *hsm_uri_object(const hsm_uri_t *uri);
const char *hsm_uri_pin_source(const hsm_uri_t *uri);
const char *hsm_uri_module(const hsm_uri_t *uri); /* module-path, else module-name */
/* The binary CKA_ID (borrowed) and its length; NULL when absent. */
const uint8_t *hsm_uri_id(const hsm_uri_t *uri, size_t *len);

/* ---- tokens and sessions ---- */

typedef struct hsm_token hsm_token_t;

/*
 * Opens the token the URI names (token/serial/model/manufacturer/slot-id),
 * opens `sessions` read-write sessions (one per signing thread; at least 1)
 * and logs in as user. The PIN comes from the URI's pin-source file (first
 * line, trailing newline stripped), else from the environment variable
 * pin_env (NULL: "TANDEM_PIN"). The PIN is wiped from memory after login.
 * All keys on the token are found in one pass at open.
 * Errors: TANDEM_HSM_ETOKEN, TANDEM_HSM_EPIN, TANDEM_HSM_EP11.
 */
int hsm_token_open(hsm_module_t *module, const hsm_uri_t *uri, const char *pin_env,
		   unsigned sessions, tandem_diag_t *diag, hsm_token_t **out);
/* Logs out, closes every session; NULL-safe. Keys found on it become invalid. */
void hsm_token_close(hsm_token_t *token);
/*
 * Whether the token still answers: its info, every session (still logged in as user) and
 * one of its keys can be read. Cheap; a node calls it every few seconds while its token is
 * in doubt. Errors: TANDEM_HSM_EGONE (detail in diag), TANDEM_EINVAL.
 */
int hsm_token_probe(hsm_token_t *token, tandem_diag_t *diag);

/*
 * Opens a token that went away (TANDEM_HSM_EGONE) again, in place: closes what is left of
 * its sessions, finalises and initialises its module again (so the module must serve only
 * this token in the process), finds the token the URI names, logs in again (the PIN is
 * read again as hsm_token_open reads it) and opens as many sessions as before. Key records
 * already handed out stay valid (found again by CKA_ID and label; one no longer on the
 * token fails to sign); new keys are added. No other thread may use the token meanwhile.
 * Errors: TANDEM_HSM_EGONE (still gone: call again later), TANDEM_HSM_EPIN,
 * TANDEM_ENOMEM, TANDEM_EINVAL (detail in diag).
 */
int hsm_token_reopen(hsm_token_t *token, const hsm_uri_t *uri, const char *pin_env,
		     tandem_diag_t *diag);

/* Number of sessions in the pool. */
unsigned hsm_token_sessions(const hsm_token_t *token);
/* The token's label (borrowed). */
const char *hsm_token_label(const hsm_token_t *token);

/* ---- keys ---- */

typedef struct hsm_key hsm_key_t;

typedef struct hsm_keyspec {
	uint8_t algorithm; /* HSM_ALG_* */
	unsigned bits;     /* RSA: 1024..4096; ignored for EC and Ed25519 */
	/*
	 * true: the private key never leaves the token, not even wrapped (CKA_EXTRACTABLE
	 * false, so CKA_NEVER_EXTRACTABLE; no CKA_WRAP_WITH_TRUSTED): an operator's approval
	 * key. false: a zone key, which the archive exports wrapped under the SMK.
	 */
	bool stays;
} hsm_keyspec_t;

/*
 * Finds the key pair the URI names (object label and/or id) among the keys
 * found at open. Exactly one private key must match.
 * Errors: TANDEM_HSM_EKEY (none, or several: detail in diag).
 */
int hsm_token_find_key(hsm_token_t *token, const hsm_uri_t *uri, tandem_diag_t *diag,
		       const hsm_key_t **out);

/*
 * Generates a key pair in the HSM with the URI's object label (and id if
 * given; otherwise a random 16-byte CKA_ID). The private key is CKA_TOKEN,
 * CKA_PRIVATE, CKA_SENSITIVE, CKA_SIGN, CKA_EXTRACTABLE and
 * CKA_WRAP_WITH_TRUSTED (it can leave the HSM only wrapped under a trusted
 * key, the SMK); with spec->stays it is not extractable at all. Errors: TANDEM_HSM_EGEN,
 * TANDEM_EEXIST if the label or id is taken. "Taken" is answered from what the token
 * found at open and made, imported or destroyed since (its key list and other key
 * objects' names, pairs being made), without a search, unless the open met objects whose
 * label it could not read (then it searches): objects another process adds to the token
 * meanwhile are not seen.
 */
int hsm_token_generate_key(hsm_token_t *token, const hsm_uri_t *uri, const hsm_keyspec_t *spec,
			   tandem_diag_t *diag, const hsm_key_t **out);

/* A key pair made in the HSM and not yet in the token's key list. */
typedef struct hsm_keypair hsm_keypair_t;

/*
 * hsm_token_generate_key's first half, for a thread of its own: the pair is made on a
 * session the call opens and closes (SoftHSM and other modules serve sessions of one login
 * from several threads), checked against label and id as there; the admin session and the
 * key list are not touched, so several of these may run at once beside the thread that owns
 * the token. The thread that owns the token then takes the pair with hsm_token_adopt_key.
 * Errors: as hsm_token_generate_key's.
 */
int hsm_token_generate_detached(hsm_token_t *token, const hsm_uri_t *uri, const hsm_keyspec_t *spec,
				tandem_diag_t *diag, hsm_keypair_t **out);

/* Adds a pair from hsm_token_generate_detached to the token's key list (the owner's thread;
 * takes made, whatever the outcome: a pair that cannot be listed is destroyed).
 * Errors: TANDEM_HSM_EGEN, TANDEM_ENOMEM. */
int hsm_token_adopt_key(hsm_token_t *token, hsm_keypair_t *made, tandem_diag_t *diag,
			const hsm_key_t **out);

/* Frees a pair record (not its objects); NULL-safe. */
void hsm_keypair_free(hsm_keypair_t *made);

/*
 * Destroys key's objects in the HSM (C_DestroyObject on its private key, then its public
 * key) and drops it from the token's list: key (and every pointer borrowed to it) is freed
 * and must not be used again; a later open does not find it. The caller makes sure no
 * session signs with it meanwhile. Errors: TANDEM_EINVAL (NULL), TANDEM_HSM_EKEY (not a
 * key of this token), TANDEM_HSM_EP11 (the HSM refused: the private key is left in
 * place and listed, or it is gone and only the public object stayed; detail in diag).
 */
int hsm_token_destroy_key(hsm_token_t *token, const hsm_key_t *key, tandem_diag_t *diag);

/* Number of private keys on the token, and key i (borrowed from the token). */
size_t hsm_token_key_count(const hsm_token_t *token);
const hsm_key_t *hsm_token_key(const hsm_token_t *token, size_t i);

/* Key properties (borrowed strings). */
const char *hsm_key_label(const hsm_key_t *key);
uint8_t hsm_key_algorithm(const hsm_key_t *key);
unsigned hsm_key_bits(const hsm_key_t *key);

/*
 * The DNSKEY RDATA (flags, protocol 3, algorithm, public key in the DNSSEC
 * encoding: RFC 3110 for RSA, x||y for ECDSA, 32 bytes for Ed25519) for the
 * given flags (256 ZSK, 257 KSK). buf holds at least HSM_DNSKEY_MAX bytes.
 */
int hsm_key_dnskey_rdata(const hsm_key_t *key, uint16_t flags, uint8_t *buf, size_t *len);
/* RFC 4034 Appendix B key tag of the key's DNSKEY with these flags. */
uint16_t hsm_key_tag(const hsm_key_t *key, uint16_t flags);

/*
 * Signs data (the whole RRSIG signed data) with key on session number
 * `session` (0 .. sessions-1; one thread per session). The digest is made
 * locally where the mechanism allows (RSA: DigestInfo + CKM_RSA_PKCS; ECDSA:
 * CKM_ECDSA), Ed25519 signs the message itself. The signature is written in
 * DNSSEC encoding (ECDSA r||s) to sig (HSM_SIG_MAX bytes).
 * Errors: TANDEM_HSM_ESIGN, TANDEM_HSM_ESESSION (no such session number),
 * TANDEM_HSM_EGONE (the token, the session or the login is gone: CKR_DEVICE_REMOVED,
 * CKR_TOKEN_NOT_PRESENT, CKR_SESSION_HANDLE_INVALID, CKR_USER_NOT_LOGGED_IN, invalid
 * object handles ...; see hsm_token_reopen).
 */
int hsm_token_sign(hsm_token_t *token, unsigned session, const hsm_key_t *key, const uint8_t *data,
		   size_t len, uint8_t *sig, size_t *sig_len);

/* ---- token hygiene: nothing on the token may let a key leave it in clear ---- */

/* Findings kept per check (more are counted, not kept), and field sizes. */
#define HSM_HYGIENE_MAX       16
#define HSM_HYGIENE_LABEL_MAX 65 /* label, printable ASCII (others as '?'), cut at 64 */
#define HSM_HYGIENE_ID_MAX    65 /* CKA_ID in hex, cut at 32 bytes */

/* One object that breaks the token's policy, a plain value. */
typedef struct hsm_hygiene_finding {
	char label[HSM_HYGIENE_LABEL_MAX];
	char id_hex[HSM_HYGIENE_ID_MAX];
	const char *cls;     /* static: "secret key", "private key", "public key" */
	const char *problem; /* static: the attribute that is wrong and why it matters */
} hsm_hygiene_finding_t;

/* The result of a check, a plain value: total findings, the first HSM_HYGIENE_MAX kept. */
typedef struct hsm_hygiene {
	size_t total;
	size_t n;
	hsm_hygiene_finding_t f[HSM_HYGIENE_MAX];
} hsm_hygiene_t;

/*
 * Checks the token's objects (token objects the user session sees) against what tandem
 * needs for keys to stay in the HSM (docs/ceremony.md, "Token hygiene"):
 *  - exactly one trusted key (CKA_TRUSTED, secret or public key): the SMK, the one
 *    secret key labelled "tandem-smk", itself not extractable; its check value must
 *    compute in the HSM (hsm_smk_check) and, when want_check is not NULL, equal
 *    want_check (HSM_SMK_CHECK_LEN bytes, borrowed);
 *  - no other secret key with CKA_WRAP;
 *  - no private key that is CKA_EXTRACTABLE without CKA_WRAP_WITH_TRUSTED, and none
 *    that is not CKA_SENSITIVE.
 * A missing SMK is a finding too. out is overwritten: out->total == 0 means the token
 * is clean. Uses the token's admin session: not concurrently with key generation,
 * import or destruction on the same token (signing sessions are not used).
 * Errors: TANDEM_EINVAL (NULL), TANDEM_HSM_EP11 (the objects cannot be listed: detail
 * in diag), TANDEM_ENOMEM. A check value that cannot be computed is a finding, with
 * its PKCS#11 detail in diag.
 */
int hsm_token_hygiene(hsm_token_t *token, const uint8_t *want_check, tandem_diag_t *diag,
		      hsm_hygiene_t *out);

/* Formats a finding as one line ("secret key label=\"x\" id=01ab: CKA_TRUSTED=true ...")
 * into buf (always NUL-terminated, cut to size). */
void hsm_hygiene_finding_format(const hsm_hygiene_finding_t *f, char *buf, size_t size);

#endif
