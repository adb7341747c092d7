/* Benchmark of loading the next version of a zone file: a full load of NEW against
 * dns_zone_load_delta of NEW over OLD (and the copy a node run takes of its result), median of
 * R runs each, in CPU seconds (usage: bench_load_delta OLD NEW ORIGIN [RUNS]; not run by ctest). */
#include "dns_zone.h"
#include "dns_zone_copy.h"
#include "tandem_diag.h"
#include "tandem_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CPU seconds of this thread: the machine is shared, wall time says more about the others */
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	if (fp == NULL || fseek(fp, 0, SEEK_END) != 0) {
		goto out;
	}
	long n = ftell(fp);
	rewind(fp);
	buf = n > 0 ? malloc((size_t)n) : NULL;
	if (buf != NULL && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	*len = (size_t)n;
out:
	if (fp != NULL) {
		fclose(fp);
	}
	return buf;
}

static dns_zone_t *load(const char *buf, size_t len, const char *origin)
{
	tandem_diag_t *diag = NULL;
	dns_zone_t *z = NULL;
	FILE *fp = fmemopen((void *)buf, len, "r");
	dns_load_opts_t lo = {.origin = origin};
	if (fp == NULL || tandem_diag_new(&diag) != TANDEM_OK ||
	    dns_zone_load_stream(fp, "zone", &lo, diag, &z) != TANDEM_OK) {
		z = NULL;
	}
	if (fp != NULL) {
		fclose(fp);
	}
	tandem_diag_free(diag);
	return z;
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), dcmp);
	return v[n / 2];
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: bench_load_delta OLD NEW ORIGIN [RUNS]\n");
		return 2;
	}
	int runs = argc > 4 ? atoi(argv[4]) : 3;
	runs = runs < 1 ? 1 : runs > 20 ? 20 : runs;
	size_t olen = 0, nlen = 0;
	char *ob = slurp(argv[1], &olen), *nb = slurp(argv[2], &nlen);
	dns_zone_t *prev = ob != NULL ? load(ob, olen, argv[3]) : NULL;
	if (nb == NULL || prev == NULL) {
		fprintf(stderr, "bench_load_delta: cannot read or load the files\n");
		return 1;
	}
	double full[20], delta[20], copy[20];
	for (int r = 0; r < runs; r++) {
		double t = now_s();
		dns_zone_t *z = getenv("BENCH_DELTA_ONLY") ? NULL : load(nb, nlen, argv[3]);
		full[r] = now_s() - t;
		dns_zone_free(z);
		char why[256];
		dns_zone_t *d = NULL, *c = NULL;
		t = now_s();
		int ret = dns_zone_load_delta(prev, ob, olen, nb, nlen, "zone",
					      &(dns_load_opts_t){.origin = argv[3]}, &d, why,
					      sizeof(why));
		delta[r] = now_s() - t;
		if (ret != TANDEM_OK) {
			fprintf(stderr, "bench_load_delta: delta path gave up: %s\n", why);
			return 1;
		}
		t = now_s();
		(void)dns_zone_copy(d, &c);
		copy[r] = now_s() - t;
		dns_zone_free(c);
		dns_zone_free(d);
	}
	printf("cpu: full %.3f s, delta %.3f s, copy of the result %.3f s "
	       "(medians of %d)\n",
	       median(full, runs), median(delta, runs), median(copy, runs), runs);
	dns_zone_free(prev);
	free(ob);
	free(nb);
	return 0;
}
