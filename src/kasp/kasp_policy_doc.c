/* A policy as a cluster stores it: its text under a header naming its SHA-256. */
#include "kasp_policy_doc.h"

#include "tandem_encode.h"
#include "tandem_error.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER     "tandem-policy v1 sha256="
#define HEADER_LEN (sizeof(HEADER) - 1)
/* the header line: HEADER, 64 hex digits, '\n' */
#define LINE_LEN (HEADER_LEN + 2 * KASP_POLICY_DIGEST_LEN + 1)

bool kasp_policy_name_ok(const char *name)
{
	if (name == NULL) {
		return false;
	}
	size_t n = strnlen(name, KASP_POLICY_NAME_MAX);
	if (n == 0 || n >= KASP_POLICY_NAME_MAX) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
		if (!ok) {
			return false;
		}
	}
	return true;
}

int kasp_policy_digest(const char *text, size_t len, uint8_t digest[KASP_POLICY_DIGEST_LEN])
{
	unsigned int n = 0;
	if (text == NULL || digest == NULL) {
		return TANDEM_EINVAL;
	}
	if (EVP_Digest(text, len, digest, &n, EVP_sha256(), NULL) != 1 ||
	    n != KASP_POLICY_DIGEST_LEN) {
		return TANDEM_CRYPTO_ELIB;
	}
	return TANDEM_OK;
}

char *kasp_policy_digest_hex(const uint8_t digest[KASP_POLICY_DIGEST_LEN],
			     char hex[KASP_POLICY_DIGEST_HEX])
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < KASP_POLICY_DIGEST_LEN; i++) {
		hex[2 * i] = digits[digest[i] >> 4];
		hex[2 * i + 1] = digits[digest[i] & 15u];
	}
	hex[2 * KASP_POLICY_DIGEST_LEN] = '\0';
	return hex;
}

int kasp_policy_doc_pack(const char *text, size_t len, uint8_t digest[KASP_POLICY_DIGEST_LEN],
			 char **doc, size_t *doc_len)
{
	uint8_t d[KASP_POLICY_DIGEST_LEN];
	char hex[KASP_POLICY_DIGEST_HEX];
	if (text == NULL || len == 0 || digest == NULL || doc == NULL || doc_len == NULL) {
		return TANDEM_EINVAL;
	}
	int ret = kasp_policy_digest(text, len, d);
	if (ret != TANDEM_OK) {
		return ret;
	}
	char *out = malloc(LINE_LEN + len + 1);
	if (out == NULL) {
		return TANDEM_ENOMEM;
	}
	snprintf(out, LINE_LEN + 1, "%s%s\n", HEADER, kasp_policy_digest_hex(d, hex));
	memcpy(out + LINE_LEN, text, len);
	out[LINE_LEN + len] = '\0';
	memcpy(digest, d, sizeof(d));
	*doc = out;
	*doc_len = LINE_LEN + len;
	return TANDEM_OK;
}

int kasp_policy_doc_unpack(const uint8_t *doc, size_t len, uint8_t digest[KASP_POLICY_DIGEST_LEN],
			   const char **text, size_t *text_len)
{
	uint8_t want[KASP_POLICY_DIGEST_LEN], got[KASP_POLICY_DIGEST_LEN];
	char hex[KASP_POLICY_DIGEST_HEX];
	if (doc == NULL || digest == NULL || text == NULL || text_len == NULL) {
		return TANDEM_EINVAL;
	}
	if (len <= LINE_LEN || memcmp(doc, HEADER, HEADER_LEN) != 0 || doc[LINE_LEN - 1] != '\n') {
		return TANDEM_ESYNTAX;
	}
	memcpy(hex, doc + HEADER_LEN, 2 * KASP_POLICY_DIGEST_LEN);
	hex[2 * KASP_POLICY_DIGEST_LEN] = '\0';
	if (tandem_hex_decode(hex, want, sizeof(want)) != TANDEM_OK) {
		return TANDEM_ESYNTAX;
	}
	const char *t = (const char *)doc + LINE_LEN;
	int ret = kasp_policy_digest(t, len - LINE_LEN, got);
	if (ret != TANDEM_OK) {
		return ret;
	}
	if (memcmp(want, got, sizeof(want)) != 0) {
		return TANDEM_KASP_EPOLICY;
	}
	memcpy(digest, want, sizeof(want));
	*text = t;
	*text_len = len - LINE_LEN;
	return TANDEM_OK;
}
