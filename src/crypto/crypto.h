/* Software cryptography with OpenSSL: DNSKEY parsing, key tags, DS digests, signature verification.
 */
#ifndef CRYPTO_H
#define CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A public key parsed from DNSKEY RDATA, ready to verify signatures.
 * It is immutable after creation and may be used from several threads.
 */
typedef struct crypto_pubkey crypto_pubkey_t;

/* Parses DNSKEY RDATA (flags, protocol, algorithm, key). Algorithms: 8, 10,
 * 13, 14, 15. Errors: TANDEM_CRYPTO_EALG, TANDEM_CRYPTO_EKEY. */
int crypto_pubkey_from_dnskey(const uint8_t *rdata, size_t len, crypto_pubkey_t **out);
void crypto_pubkey_free(crypto_pubkey_t *key);
uint8_t crypto_pubkey_algorithm(const crypto_pubkey_t *key);
uint16_t crypto_pubkey_tag(const crypto_pubkey_t *key);
uint16_t crypto_pubkey_flags(const crypto_pubkey_t *key);

/* RFC 4034 Appendix B key tag of a DNSKEY RDATA. */
uint16_t crypto_key_tag(const uint8_t *rdata, size_t len);

/*
 * Verifies a DNSSEC signature (wire encoding: RSA raw, ECDSA r||s, Ed25519)
 * over data. Returns TANDEM_OK or TANDEM_CRYPTO_EVERIFY; thread-safe.
 */
int crypto_verify(const crypto_pubkey_t *key, const uint8_t *data, size_t len, const uint8_t *sig,
		  size_t sig_len);

/* DS digest types */
enum { CRYPTO_DS_SHA1 = 1, CRYPTO_DS_SHA256 = 2, CRYPTO_DS_SHA384 = 4 };

/*
 * DS RDATA for the DNSKEY RDATA at owner (wire, lowercase): key tag,
 * algorithm, digest type, digest. out holds at least 52 bytes.
 * Errors: TANDEM_CRYPTO_EALG for an unknown digest type.
 */
int crypto_ds_from_dnskey(const uint8_t *owner, size_t owner_len, const uint8_t *dnskey,
			  size_t dnskey_len, uint8_t digest_type, uint8_t *out, size_t *out_len);

/* SHA-1 NSEC3 hash (RFC 5155 section 5) of a wire name; out is 20 bytes. */
int crypto_nsec3_hash(const uint8_t *name, size_t name_len, const uint8_t *salt, size_t salt_len,
		      uint16_t iterations, uint8_t out[20]);

/*
 * SHA-256 of a whole file (a signed zone's digest, which the cluster commits
 * and standbys compare). Errors: TANDEM_ENOENT, TANDEM_EIO, TANDEM_ENOMEM.
 */
int crypto_sha256_file(const char *path, uint8_t out[32]);

/* Base32hex (RFC 4648, no padding, lowercase) of data into out (NUL-terminated);
 * returns the length. out holds at least (len * 8 + 4) / 5 + 1 bytes. */
size_t crypto_base32hex(const uint8_t *data, size_t len, char *out);

#endif
