/* Fuzz target: the key and signing policy loader (src/kasp/kasp_policy.c) on a YAML file
 * (a memory file). A policy that loads must pass its own check again. */
#include "fuzz_util.h"
#include "kasp_policy.h"
#include "tandem_error.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_file_t f;
	if (fuzz_file_open(&f, data, size) != 0) {
		return 0;
	}
	tandem_diag_t *diag = NULL;
	if (tandem_diag_new(&diag) == TANDEM_OK) {
		kasp_policy_t *p = calloc(1, sizeof(*p));
		if (p != NULL && kasp_policy_load(f.path, diag, p) == TANDEM_OK &&
		    kasp_policy_check(p, diag) != TANDEM_OK) {
			abort();
		}
		free(p);
		tandem_diag_free(diag);
	}
	fuzz_file_close(&f);
	return 0;
}
