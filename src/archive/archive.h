/* The archive module: the SMK ceremony (Shamir shares on passphrase-sealed cards) and the
 * SMK-wrapped key archive that carries private keys from one site's HSM to the other's. */
#ifndef ARCHIVE_H
#define ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hsm.h"
#include "tandem_diag.h"

/* The ceremony secret (from which the SMK and the archive MAC key derive), its id, its check
 * value. */
#define ARCHIVE_SECRET_LEN      32
#define ARCHIVE_CEREMONY_ID_LEN 16
#define ARCHIVE_CHECK_LEN       32
/* Shares: x-coordinates 1..255 over GF(256). */
#define ARCHIVE_SHARES_MAX 255

/* scrypt cost of a card, as log2(N) with r = 8, p = 1 (docs/ceremony.md). */
#define ARCHIVE_KDF_DEFAULT 17 /* 128 MiB, about half a second */
#define ARCHIVE_KDF_FLOOR   15 /* least a production ceremony accepts */
#define ARCHIVE_KDF_MIN     10 /* least the library accepts: drills and tests only */
#define ARCHIVE_KDF_MAX     20 /* most we accept (1 GiB), so a card cannot exhaust memory */
/* Shortest passphrase a card accepts. */
#define ARCHIVE_PASSPHRASE_MIN 8
/* Largest card file and archive file we read. */
#define ARCHIVE_CARD_FILE_MAX    4096
#define ARCHIVE_ARCHIVE_FILE_MAX (64u << 20)

/* ---- Shamir's secret sharing over GF(256) ---- */

/*
 * Splits secret (len bytes) into n shares of which any m recover it, byte by
 * byte, with a fresh random polynomial of degree m-1 (OpenSSL RAND_bytes) per
 * byte. Share i (x-coordinate i+1) is written to ys + i*len; ys holds n*len
 * bytes. 1 <= m <= n <= 255. Errors: TANDEM_EINVAL, TANDEM_CRYPTO_ELIB.
 */
int archive_shamir_split(const uint8_t *secret, size_t len, unsigned n, unsigned m, uint8_t *ys);

/*
 * Recovers the secret from m shares: x-coordinates xs[0..m-1] (1..255,
 * distinct) and share bytes ys + i*len. With fewer shares than the threshold
 * the result is garbage, not an error: callers check it (check value, GCM).
 * Errors: TANDEM_EINVAL (no share, x = 0 or a repeated x).
 */
int archive_shamir_combine(const uint8_t *xs, const uint8_t *ys, unsigned m, size_t len,
			   uint8_t *secret);

/* ---- keys derived from the ceremony secret ---- */

/* SMK and archive MAC key (HKDF-SHA256 of the secret with distinct info strings) and their
 * check value. A secret: wipe it with archive_keys_wipe(). */
typedef struct archive_keys {
	uint8_t smk[32];
	uint8_t mac[32];
	uint8_t check[ARCHIVE_CHECK_LEN];
} archive_keys_t;

/* Derives the keys and their check value. Errors: TANDEM_EINVAL, TANDEM_CRYPTO_ELIB. */
int archive_keys_derive(const uint8_t secret[ARCHIVE_SECRET_LEN], archive_keys_t *out);
/* Wipes the keys; NULL-safe. */
void archive_keys_wipe(archive_keys_t *keys);

/* ---- cards ---- */

/* What a card says in the clear (all of it authenticated). A plain value. */
typedef struct archive_card_info {
	uint8_t ceremony_id[ARCHIVE_CEREMONY_ID_LEN];
	unsigned number;    /* the share's x-coordinate, 1..shares */
	unsigned shares;    /* N */
	unsigned threshold; /* M */
	uint8_t check[ARCHIVE_CHECK_LEN];
	uint64_t created;
	unsigned kdf_log2n; /* scrypt N = 2^kdf_log2n, r = 8, p = 1 */
} archive_card_info_t;

/*
 * Seals one share (ARCHIVE_SECRET_LEN bytes) with a passphrase: scrypt
 * (info->kdf_log2n, fresh salt) to an AES-256-GCM key, fresh nonce, the card's
 * other fields as associated data. *out (the caller's; free()) is the card
 * file's bytes (proto/card.proto). Errors: TANDEM_EINVAL (a field out of
 * range, a passphrase shorter than ARCHIVE_PASSPHRASE_MIN), TANDEM_CRYPTO_ELIB,
 * TANDEM_ENOMEM.
 */
int archive_card_seal(const archive_card_info_t *info, const uint8_t *share, const char *pass,
		      size_t pass_len, tandem_diag_t *diag, uint8_t **out, size_t *out_len);

/*
 * Reads a card's clear fields without opening it (to name it in a prompt).
 * Errors: TANDEM_ARCHIVE_EFORMAT (malformed or truncated, or a field out of
 * range), TANDEM_ARCHIVE_EVERSION (an unknown version).
 */
int archive_card_peek(const uint8_t *buf, size_t len, tandem_diag_t *diag,
		      archive_card_info_t *info);

/*
 * Opens a card: the share goes to share (ARCHIVE_SECRET_LEN bytes) and the
 * clear fields to info, both only on success. Errors: TANDEM_ARCHIVE_EFORMAT,
 * TANDEM_ARCHIVE_EVERSION (as archive_card_peek), TANDEM_ARCHIVE_EPASS (wrong
 * passphrase, or the card was changed: GCM cannot tell which),
 * TANDEM_CRYPTO_ELIB, TANDEM_EINVAL.
 */
int archive_card_open(const uint8_t *buf, size_t len, const char *pass, size_t pass_len,
		      tandem_diag_t *diag, archive_card_info_t *info, uint8_t *share);

/* ---- the ceremony ---- */

/*
 * A new ceremony: a random secret, split into `shares` shares of which
 * `threshold` recover it, each sealed on a card with passphrases[i]
 * (NUL-terminated, borrowed). cards[i] and card_lens[i] (arrays of `shares`)
 * receive each card's bytes (the caller frees them); *info the common fields
 * (number 0). The secret is wiped before returning. Errors: as
 * archive_shamir_split and archive_card_seal.
 */
int archive_ceremony_new(unsigned shares, unsigned threshold, unsigned kdf_log2n, uint64_t now,
			 const char *const *passphrases, tandem_diag_t *diag, uint8_t **cards,
			 size_t *card_lens, archive_card_info_t *info);

/*
 * Opens ncards cards with their passphrases, checks that they belong to one
 * ceremony, that there are exactly `threshold` of them with distinct numbers,
 * combines the shares, derives the keys and checks them against the cards'
 * check value. Every intermediate secret is wiped. *keys (wipe it after use)
 * and *info (number 0) are written only on success.
 * Errors: TANDEM_ARCHIVE_ECARDS (no card, too few or too many cards, cards
 * from different ceremonies, a repeated card), TANDEM_ARCHIVE_EPASS (a wrong
 * passphrase or a tampered card: diag names the card; or the combined secret
 * fails the check value: a forged card), TANDEM_ARCHIVE_EFORMAT,
 * TANDEM_ARCHIVE_EVERSION (a card refused as by archive_card_peek),
 * TANDEM_EINVAL (a NULL argument).
 */
int archive_ceremony_combine(size_t ncards, const uint8_t *const *cards, const size_t *card_lens,
			     const char *const *passphrases, tandem_diag_t *diag,
			     archive_keys_t *keys, archive_card_info_t *info);

/* ---- the wrapped-key archive ---- */

/* Limits of an archived key's fields. */
#define ARCHIVE_LABEL_MAX 255 /* CKA_LABEL bytes */
#define ARCHIVE_ID_MAX    128 /* CKA_ID bytes */
#define ARCHIVE_STATE_MAX 32  /* key state name, NUL included */

/* A key's role as the key state gives it (proto ArchiveRole). */
typedef enum {
	ARCHIVE_ROLE_UNKNOWN = 0, /* exported without the key state */
	ARCHIVE_ROLE_KSK = 1,
	ARCHIVE_ROLE_ZSK = 2,
	ARCHIVE_ROLE_CSK = 3,
} archive_role_t;

/* "ksk", "zsk", "csk" or "unknown" (static, never NULL). */
const char *archive_role_str(archive_role_t role);

/*
 * Exports every private key on the open token that tandem generated (those
 * with CKA_WRAP_WITH_TRUSTED), each wrapped under the SMK with
 * CKM_AES_KEY_WRAP_PAD, with label, id, algorithm, size, DNSKEY RDATA (flags
 * 256: without the key state the role is unknown) and key tag, the SMK check
 * value, and an HMAC made in the HSM with the archive MAC key. *out (the
 * caller's; free()) holds the file's bytes (proto/archive.proto); *count the
 * number of keys. A key the HSM refuses to wrap fails the whole export.
 * Errors: TANDEM_HSM_EKEY (no SMK or MAC key), TANDEM_HSM_EP11, TANDEM_ENOMEM.
 */
int archive_export(hsm_token_t *token, uint64_t now, tandem_diag_t *diag, uint8_t **out,
		   size_t *out_len, size_t *count);

/*
 * What the key state says of one key to export. The archive module knows
 * nothing of the key state: the caller fills this in. A plain value; the
 * pointers are borrowed.
 */
typedef struct archive_key_meta {
	const char *label;   /* CKA_LABEL of the private key on the token */
	archive_role_t role; /* KSK and CSK get DNSKEY flags 257, the others 256 */
	const char *state;   /* key state name, shorter than ARCHIVE_STATE_MAX; NULL: none */
	uint64_t created, published, active, retired, removed; /* 0: not yet */
	const uint8_t *dnskey; /* DNSKEY RDATA the state records (NULL: unchecked): the
				  token's key must have the same algorithm and public key */
	size_t dnskey_len;
} archive_key_meta_t;

/*
 * Exports exactly the nmeta keys meta lists, found on the token by label, as
 * archive_export() does, with role, state and timestamps from meta and DNSKEY
 * RDATA and key tag for the role's flags (257 for a KSK). Keys on the token
 * that meta does not list are left out. Every listed key that the token lacks
 * is named in diag before the export fails.
 * Errors: TANDEM_HSM_EKEY (a listed key is not on the token, is there twice,
 * or is not one tandem made to travel; or no SMK or MAC key),
 * TANDEM_ARCHIVE_ECONFLICT (the token's key under a label is not the key meta
 * describes), TANDEM_EINVAL (no key, a label listed twice, a field out of
 * range), TANDEM_HSM_EP11, TANDEM_ENOMEM.
 */
int archive_export_keys(hsm_token_t *token, const archive_key_meta_t *meta, size_t nmeta,
			uint64_t now, tandem_diag_t *diag, uint8_t **out, size_t *out_len);

/* One key of an imported archive as the (authenticated) archive describes it. A plain value. */
typedef struct archive_key_info {
	char label[ARCHIVE_LABEL_MAX + 1];
	uint8_t id[ARCHIVE_ID_MAX];
	size_t id_len;
	uint8_t algorithm;
	unsigned bits;
	archive_role_t role;
	char state[ARCHIVE_STATE_MAX]; /* "" when the archive has no key state */
	uint64_t created, published, active, retired, removed;
	uint8_t dnskey[HSM_DNSKEY_MAX]; /* DNSKEY RDATA */
	size_t dnskey_len;
	uint16_t key_tag;
	bool imported; /* false: the token already held it */
} archive_key_info_t;

/* What an import did. Embedded: archive_import_stats_deinit() frees keys. */
typedef struct archive_import_stats {
	size_t imported;          /* keys unwrapped, proved and stored */
	size_t skipped;           /* keys the token already held */
	uint64_t created;         /* when the archive was made */
	char source_token[64];    /* label of the token it was made from (cut short) */
	archive_key_info_t *keys; /* every key of the archive, in its order */
	size_t nkeys;
} archive_import_stats_t;

/* Frees the key list of stats and empties it; NULL-safe. */
void archive_import_stats_deinit(archive_import_stats_t *stats);

/*
 * Imports an archive into the open token: checks its format and version, that
 * it was made under this token's SMK (check value) and its HMAC (in the HSM),
 * then unwraps every key into session objects, proves each by signing test
 * data in the HSM and verifying with the archived DNSKEY in software, and only
 * then stores them all on the token. Keys the token already holds (same label,
 * id and public key) are skipped. All or nothing: on any error the token is as
 * it was. *stats is written on success (release it with
 * archive_import_stats_deinit()).
 * Errors: TANDEM_ARCHIVE_EFORMAT (malformed or truncated),
 * TANDEM_ARCHIVE_EVERSION (unknown version), TANDEM_ARCHIVE_ETAMPER (another
 * SMK, altered, or a key that fails its proof), TANDEM_ARCHIVE_ECONFLICT (the
 * token holds a different key under a label or id of the archive),
 * TANDEM_HSM_EKEY, TANDEM_HSM_EP11, TANDEM_ENOMEM.
 */
int archive_import(hsm_token_t *token, const uint8_t *buf, size_t len, tandem_diag_t *diag,
		   archive_import_stats_t *stats);

#endif
