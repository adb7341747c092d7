/* Fuzz target: the zone loader (src/dns/dns_load.c) on an RFC 1035 zone file for origin
 * example., read from a stream. The first byte picks the options: signer-owned records
 * dropped or refused, or kept (a signed zone, as tandem-verify loads one). */
#include "dns_zone.h"
#include "fuzz_util.h"
#include "tandem_error.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) {
		return 0;
	}
	dns_load_opts_t opts = {.origin = "example."};
	switch (data[0] % 3) {
	case 0: opts.signer_owned = DNS_SIGNER_OWNED_DROP; break;
	case 1: opts.signer_owned = DNS_SIGNER_OWNED_REFUSE; break;
	default: opts.keep_dnssec = true; break;
	}
	if (data[0] & 0x80) {
		opts.default_ttl = 300;
	}
	/* fmemopen refuses a size of 0: an empty file is one blank line */
	static char blank[] = "\n";
	FILE *fp = size > 1 ? fmemopen((void *)(data + 1), size - 1, "r") : fmemopen(blank, 1, "r");
	if (fp == NULL) {
		return 0;
	}
	tandem_diag_t *diag = NULL;
	if (tandem_diag_new(&diag) == TANDEM_OK) {
		dns_zone_t *zone = NULL;
		if (dns_zone_load_stream(fp, "fuzz.zone", &opts, diag, &zone) == TANDEM_OK) {
			dns_zone_free(zone);
		}
		tandem_diag_free(diag);
	}
	fclose(fp);
	return 0;
}
