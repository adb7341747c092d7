/* Fuzz target: the daemons' config loader (src/conf) on a YAML file, against tandemd's
 * schema or tandem-coord's (the first byte's low bit). The file is a memory file: secret
 * files it names are only looked at (stat), never written. */
#include "conf.h"
#include "fuzz_util.h"
#include "tandem_error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) {
		return 0;
	}
	const conf_schema_t *schema = (data[0] & 1) ? conf_schema_coord() : conf_schema_tandemd();
	fuzz_file_t f;
	if (fuzz_file_open(&f, data + 1, size - 1) != 0) {
		return 0;
	}
	tandem_diag_t *diag = NULL;
	if (tandem_diag_new(&diag) == TANDEM_OK) {
		conf_t *conf = NULL;
		if (conf_load(schema, f.path, diag, &conf) == TANDEM_OK) {
			conf_free(conf);
		}
		tandem_diag_free(diag);
	}
	fuzz_file_close(&f);
	return 0;
}
