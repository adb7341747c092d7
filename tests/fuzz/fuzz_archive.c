/* Fuzz target: the wrapped-key archive file's parsing (src/archive/archive_file.c): its
 * framing, then its key entries, as archive_import reads them before and after the HSM
 * checks the SMK and the MAC (the HSM part is not fuzzed: no token here). */
#include "archive_internal.h"
#include "fuzz_util.h"
#include "tandem_error.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tandem_diag_t *diag = NULL;
	if (tandem_diag_new(&diag) != TANDEM_OK) {
		return 0;
	}
	Tandem__Archive *a = NULL;
	Tandem__ArchivePayload *p = NULL;
	if (archive_file_read(data, size, diag, &a, &p) == TANDEM_OK) {
		archive_key_info_t *keys = NULL;
		if (archive_payload_keys(p, diag, &keys) == TANDEM_OK) {
			for (size_t i = 0; i < p->n_keys; i++) {
				if (keys[i].dnskey_len < 5 || keys[i].label[0] == '\0') {
					abort();
				}
			}
			free(keys);
		}
		tandem__archive_payload__free_unpacked(p, NULL);
		tandem__archive__free_unpacked(a, NULL);
	}
	tandem_diag_free(diag);
	return 0;
}
