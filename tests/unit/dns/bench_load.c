/* Benchmark of zone loading: wall and CPU seconds of dns_zone_load on a file, best of R runs
 * (usage: bench_load FILE ORIGIN [RUNS]; not run by ctest). */
#include "dns_zone.h"
#include "tandem_diag.h"
#include "tandem_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: bench_load FILE ORIGIN [RUNS]\n");
		return 2;
	}
	int runs = argc > 3 ? atoi(argv[3]) : 3;
	runs = runs < 1 ? 1 : runs > 50 ? 50 : runs;
	double best_wall = 0, best_cpu = 0;
	size_t nodes = 0;
	for (int r = 0; r < runs; r++) {
		tandem_diag_t *diag = NULL;
		dns_zone_t *zone = NULL;
		if (tandem_diag_new(&diag) != TANDEM_OK) {
			return 1;
		}
		dns_load_opts_t opts = {.origin = argv[2]};
		double w = clock_s(CLOCK_MONOTONIC), c = clock_s(CLOCK_PROCESS_CPUTIME_ID);
		int ret = dns_zone_load(argv[1], &opts, diag, &zone);
		w = clock_s(CLOCK_MONOTONIC) - w;
		c = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c;
		if (ret != TANDEM_OK) {
			const char *m = tandem_diag_msg(diag, 0);
			fprintf(stderr, "bench_load: %s: %s\n", argv[1], m != NULL ? m : "refused");
			tandem_diag_free(diag);
			return 1;
		}
		dns_zone_nodes(zone, &nodes);
		best_wall = r == 0 || w < best_wall ? w : best_wall;
		best_cpu = r == 0 || c < best_cpu ? c : best_cpu;
		dns_zone_free(zone);
		tandem_diag_free(diag);
	}
	printf("load: %zu nodes, best of %d: wall %.3f s, cpu %.3f s\n", nodes, runs, best_wall,
	       best_cpu);
	return 0;
}
