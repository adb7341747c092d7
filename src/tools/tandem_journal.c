/* tandem-journal: what a zone's journal holds, and the zone digest v1 of a signed zone file. */
#include "dns_diff.h"
#include "dns_digest.h"
#include "dns_zone.h"
#include "journal.h"
#include "tandem_diag.h"
#include "tandem_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
	fprintf(fp, "usage: tandem-journal show JOURNAL\n"
		    "       tandem-journal digest ZONE SIGNED-FILE\n"
		    "show: one line per entry, oldest first: INDEX FROM TO REMOVED ADDED SHA256\n"
		    "(the entry's checksum). digest: the zone digest v1 of a signed zone file, as\n"
		    "tandemd commits it and writes it in publish.log (docs/architecture.md).\n");
}

static void diag_print(const tandem_diag_t *diag)
{
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		fprintf(stderr, "tandem-journal: %s\n", tandem_diag_msg(diag, i));
	}
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		snprintf(out + 2 * i, 3, "%02x", p[i]);
	}
}

static int show(const char *path, tandem_diag_t *diag)
{
	journal_t *j = NULL;
	int ret = journal_open(path, diag, &j);
	for (size_t i = 0; ret == TANDEM_OK && i < journal_count(j); i++) {
		dns_changeset_t *cs = NULL;
		uint8_t sum[32];
		char sumhex[65];
		ret = journal_read(j, i, diag, &cs);
		if (ret == TANDEM_OK) {
			ret = journal_checksum(j, i, diag, sum);
		}
		if (ret == TANDEM_OK) {
			size_t nrm = 0, nadd = 0;
			dns_changeset_records(cs, false, &nrm);
			dns_changeset_records(cs, true, &nadd);
			hex(sum, sizeof(sum), sumhex);
			printf("%zu %u %u %zu %zu %s\n", i, dns_changeset_serial(cs, false),
			       dns_changeset_serial(cs, true), nrm, nadd, sumhex);
		}
		dns_changeset_free(cs);
	}
	if (ret == TANDEM_OK && journal_cut_bytes(j) > 0) {
		fprintf(stderr, "tandem-journal: %s: a torn tail of %zu bytes was cut\n", path,
			journal_cut_bytes(j));
	}
	journal_close(j);
	return ret;
}

static int digest(const char *origin, const char *path, tandem_diag_t *diag)
{
	dns_load_opts_t lo = {.origin = origin, .keep_dnssec = true};
	dns_zone_t *z = NULL;
	uint8_t d[DNS_DIGEST_LEN];
	char dhex[2 * DNS_DIGEST_LEN + 1];
	int ret = dns_zone_load(path, &lo, diag, &z);
	if (ret == TANDEM_OK) {
		ret = dns_zone_digest(z, d);
	}
	if (ret == TANDEM_OK) {
		hex(d, sizeof(d), dhex);
		printf("%s\n", dhex);
	}
	dns_zone_free(z);
	return ret;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	tandem_diag_t *diag = NULL;
	if (tandem_diag_new(&diag) != TANDEM_OK) {
		return 1;
	}
	int ret;
	if (argc == 3 && strcmp(argv[1], "show") == 0) {
		ret = show(argv[2], diag);
	} else if (argc == 4 && strcmp(argv[1], "digest") == 0) {
		ret = digest(argv[2], argv[3], diag);
	} else {
		usage(stderr);
		tandem_diag_free(diag);
		return 2;
	}
	if (ret != TANDEM_OK) {
		diag_print(diag);
		if (tandem_diag_kept(diag) == 0) {
			fprintf(stderr, "tandem-journal: %s\n", tandem_strerror(ret));
		}
	}
	tandem_diag_free(diag);
	return ret == TANDEM_OK ? 0 : 1;
}
