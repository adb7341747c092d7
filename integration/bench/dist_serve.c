/* Serves one signed zone file with the dist library until stdin closes (the AXFR benchmark,
 * integration/bench/axfr.sh): prints "xfr 127.0.0.1:PORT" once it listens. With a second
 * file, a line "next" on stdin loads it, publishes it with the changeset from the first
 * (IXFR answers from it) and prints "serial S". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "dns_diff.h"
#include "dns_zone.h"
#include "tandem_diag.h"
#include "tandem_error.h"

int main(int argc, char **argv)
{
	if (argc != 4 && argc != 5) {
		fprintf(stderr,
			"usage: dist_serve ZONEFILE ORIGIN TSIG-KEY-FILE [NEXT-ZONEFILE]\n");
		return 2;
	}
	int rc = 1;
	tandem_diag_t *diag = NULL;
	dns_zone_t *zone = NULL;
	dist_version_t *v = NULL;
	dist_key_t *key = NULL;
	dist_server_t *srv = NULL;
	if (tandem_diag_new(&diag) != TANDEM_OK) {
		return 1;
	}
	dns_load_opts_t lo = {.origin = argv[2], .keep_dnssec = true};
	if (dns_zone_load(argv[1], &lo, diag, &zone) != TANDEM_OK ||
	    dist_version_new_take(zone, &v) != TANDEM_OK ||
	    dist_key_load(argv[3], diag, &key) != TANDEM_OK) {
		goto out;
	}
	static const char *listen[] = {"127.0.0.1:0"};
	const dist_key_t *keys[] = {key};
	dist_conf_t conf = {.listen = listen, .nlisten = 1, .keys = keys, .nkeys = 1};
	if (dist_server_new(&conf, diag, &srv) != TANDEM_OK ||
	    dist_publish(srv, argv[2], v) != TANDEM_OK) {
		goto out;
	}
	printf("xfr 127.0.0.1:%u\n", dist_server_port(srv, 0));
	fflush(stdout);
	char line[64];
	while (fgets(line, sizeof(line), stdin) != NULL) {
		if (argc != 5 || strcmp(line, "next\n") != 0) {
			continue;
		}
		dns_zone_t *z2 = NULL;
		dist_version_t *v2 = NULL;
		dns_changeset_t *cs = NULL;
		if (dns_zone_load(argv[4], &lo, diag, &z2) != TANDEM_OK ||
		    dns_zone_diff(dist_version_zone(v), z2, &cs) != TANDEM_OK) {
			dns_zone_free(z2);
			goto out;
		}
		if (dist_version_new_take(z2, &v2) != TANDEM_OK ||
		    dist_version_add_take(v2, cs) != TANDEM_OK ||
		    dist_publish(srv, argv[2], v2) != TANDEM_OK) {
			dist_version_unref(v2);
			goto out;
		}
		dist_version_unref(v);
		v = v2;
		printf("serial %u\n", dist_version_serial(v));
		fflush(stdout);
	}
	rc = 0;
out:
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		fprintf(stderr, "dist_serve: %s\n", tandem_diag_msg(diag, i));
	}
	dist_server_free(srv);
	dist_version_unref(v);
	dist_key_free(key);
	tandem_diag_free(diag);
	return rc;
}
