/* Fuzz target: the offline-KSK request and response files (src/kasp/kasp_skr.c). The first
 * byte's low bit says which (a response carries signatures); a file that decodes is encoded
 * again and must decode to the same encoding. */
#include "fuzz_util.h"
#include "kasp_skr.h"
#include "tandem_error.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) {
		return 0;
	}
	bool response = (data[0] & 1) != 0;
	tandem_diag_t *diag = NULL;
	if (tandem_diag_new(&diag) != TANDEM_OK) {
		return 0;
	}
	kasp_skr_t *skr = NULL;
	if (kasp_skr_decode(data + 1, size - 1, response, diag, &skr) == TANDEM_OK) {
		uint8_t *enc = NULL, *enc2 = NULL;
		size_t len = 0, len2 = 0;
		kasp_skr_t *again = NULL;
		if (kasp_skr_encode(skr, &enc, &len) == TANDEM_OK) {
			if (kasp_skr_decode(enc, len, response, diag, &again) != TANDEM_OK ||
			    kasp_skr_encode(again, &enc2, &len2) != TANDEM_OK || len != len2 ||
			    memcmp(enc, enc2, len) != 0) {
				abort(); /* what decoded must round-trip */
			}
		}
		kasp_skr_free(again);
		free(enc);
		free(enc2);
		kasp_skr_free(skr);
	}
	tandem_diag_free(diag);
	return 0;
}
