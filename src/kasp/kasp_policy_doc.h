/* kasp_policy_doc: a policy as a cluster stores it (PREFIX/policies/NAME in etcd): its
 * YAML text under one header line that names the text's SHA-256 (docs/policy.md, "In a
 * cluster"). The digest is what commits, approvals and the audit log name. */
#ifndef KASP_POLICY_DOC_H
#define KASP_POLICY_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KASP_POLICY_DIGEST_LEN 32
/* the digest in hex, NUL included */
#define KASP_POLICY_DIGEST_HEX (2 * KASP_POLICY_DIGEST_LEN + 1)
/* a policy name, NUL included (docs/policy.md, `policy`) */
#define KASP_POLICY_NAME_MAX 64

/* Whether name is a policy name: 1 to 63 letters, digits, '-', '_' or '.'. */
bool kasp_policy_name_ok(const char *name);

/* SHA-256 of len bytes of text into digest. Errors: TANDEM_EINVAL, TANDEM_CRYPTO_ELIB. */
int kasp_policy_digest(const char *text, size_t len, uint8_t digest[KASP_POLICY_DIGEST_LEN]);

/* digest as 64 lowercase hex digits into hex. Returns hex. */
char *kasp_policy_digest_hex(const uint8_t digest[KASP_POLICY_DIGEST_LEN],
			     char hex[KASP_POLICY_DIGEST_HEX]);

/*
 * The stored document of text (len bytes): "tandem-policy v1 sha256=HEX\n" then the text,
 * into a new buffer (*doc is the caller's, free() it), and the text's digest.
 * Errors: TANDEM_EINVAL (NULL, len 0), TANDEM_ENOMEM, TANDEM_CRYPTO_ELIB; outputs written
 * only on success.
 */
int kasp_policy_doc_pack(const char *text, size_t len, uint8_t digest[KASP_POLICY_DIGEST_LEN],
			 char **doc, size_t *doc_len);

/*
 * Reads a stored document: *text points into doc (text_len bytes, not NUL-terminated) and
 * digest is the header's, checked against the text. Errors: TANDEM_EINVAL (NULL),
 * TANDEM_ESYNTAX (no or a malformed header, no text), TANDEM_KASP_EPOLICY (the text's
 * SHA-256 is not the header's: altered in the store or in transit); outputs written only
 * on success.
 */
int kasp_policy_doc_unpack(const uint8_t *doc, size_t len, uint8_t digest[KASP_POLICY_DIGEST_LEN],
			   const char **text, size_t *text_len);

#endif
