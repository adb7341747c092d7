/* Fuzz target: an SMK card file (src/archive/archive_card.c), as tandemctl and
 * tandem-ceremony read one from a card: peeked at, then opened with a passphrase. Opening
 * runs scrypt at the card's own cost, so only cards at the least cost the library accepts
 * (2^10, drills and tests) are opened; their passphrase is the test-only one the seeds were
 * sealed with (tests/fuzz/make_seeds.c). */
#include "archive.h"
#include "fuzz_util.h"
#include "tandem_error.h"

#include <stdlib.h>

#define FUZZ_CARD_PASS "fuzz-test-only-passphrase"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tandem_diag_t *diag = NULL;
	if (tandem_diag_new(&diag) != TANDEM_OK) {
		return 0;
	}
	archive_card_info_t info;
	if (archive_card_peek(data, size, diag, &info) == TANDEM_OK) {
		/* what peek accepted is in range */
		if (info.number < 1 || info.number > info.shares || info.threshold < 1 ||
		    info.threshold > info.shares || info.kdf_log2n < ARCHIVE_KDF_MIN ||
		    info.kdf_log2n > ARCHIVE_KDF_MAX) {
			abort();
		}
		if (info.kdf_log2n == ARCHIVE_KDF_MIN) {
			uint8_t share[ARCHIVE_SECRET_LEN];
			archive_card_info_t opened;
			(void)archive_card_open(data, size, FUZZ_CARD_PASS,
						sizeof(FUZZ_CARD_PASS) - 1, diag, &opened, share);
		}
	}
	tandem_diag_free(diag);
	return 0;
}
