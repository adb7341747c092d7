/* Fuzz target: the audit log's parsers (src/audit): each line as an entry (a decoded entry
 * must encode to the very same line), the whole text as a chain verified from its start
 * with a keyring (anchors are checked), and the text as a keyring file. */
#include "audit_log.h"
#include "fuzz_util.h"
#include "tandem_error.h"

#include <stdlib.h>
#include <string.h>

/* A test-only anchor key (its private half is the seed of make_seeds.c, not a secret). */
static const char keyring_text[] =
    "fuzz-coord 83733d56e0f9270e51b069ab3486afffb27a441ec829598465379afb19990568\n";

static void entries(const uint8_t *data, size_t size)
{
	tandem_diag_t *diag = NULL;
	if (tandem_diag_new(&diag) != TANDEM_OK) {
		return;
	}
	const char *p = (const char *)data, *end = p + size;
	char *enc = malloc(AUDIT_LINE_MAX + 1);
	while (enc != NULL && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		audit_entry_t e;
		if (audit_entry_decode(p, len, diag, &e) == TANDEM_OK) {
			size_t elen = 0;
			if (audit_entry_encode(&e, enc, AUDIT_LINE_MAX + 1, &elen) != TANDEM_OK ||
			    elen != len || memcmp(enc, p, len) != 0) {
				abort(); /* the encoding is canonical: decode then encode is
					    identity */
			}
			uint8_t h[AUDIT_HASH_LEN];
			(void)audit_entry_digest(&e, h);
		}
		tandem_diag_clear(diag);
		p += len + 1;
	}
	free(enc);
	tandem_diag_free(diag);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	entries(data, size);

	audit_keyring_t kr;
	memset(&kr, 0, sizeof(kr));
	tandem_diag_t *diag = NULL;
	if (tandem_diag_new(&diag) != TANDEM_OK) {
		return 0;
	}
	(void)audit_keyring_parse(&kr, keyring_text, diag);
	audit_chain_t *c = NULL;
	if (audit_chain_new(size > 0 && (data[0] & 1) ? 1 : 0, NULL, &kr, &c) == TANDEM_OK) {
		audit_verdict_t v;
		if (audit_chain_add_text(c, (const char *)data, size) == TANDEM_OK) {
			(void)audit_chain_verify(c, &v);
		}
		audit_chain_free(c);
	}
	/* the same bytes as a public key file */
	char *text = fuzz_strdup(data, size);
	if (text != NULL) {
		audit_keyring_t kr2;
		memset(&kr2, 0, sizeof(kr2));
		(void)audit_keyring_parse(&kr2, text, diag);
		free(text);
	}
	tandem_diag_free(diag);
	return 0;
}
