/* xfrin_fetch: one zone taken from a primary by the dist_xfrin library, its log lines on
 * stdout, until it has written `count` transfers or `seconds` passed (bench/xfrin.sh). */
#include "dist.h"
#include "dist_xfrin.h"
#include "tandem_diag.h"
#include "tandem_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static void say(void *arg, const char *line)
{
	(void)arg;
	printf("%s\n", line);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: xfrin_fetch ZONE ADDR:PORT KEYFILE INPUT COUNT SECONDS\n");
		return 2;
	}
	tandem_diag_t *diag = NULL;
	dist_key_t *key = NULL;
	dist_xfrin_t *x = NULL;
	int rc = 1;
	if (tandem_diag_new(&diag) != TANDEM_OK ||
	    dist_key_load(argv[3], diag, &key) != TANDEM_OK) {
		fprintf(stderr, "xfrin_fetch: key %s: %s\n", argv[3],
			diag != NULL && tandem_diag_kept(diag) > 0 ? tandem_diag_msg(diag, 0)
								   : "?");
		goto out;
	}
	/* checks every second: a new serial is seen within a second of the primary's */
	dist_xfrin_zone_t zone = {.name = argv[1], .primary = argv[2], .path = argv[4]};
	dist_xfrin_conf_t conf = {.zones = &zone,
				  .nzones = 1,
				  .key = key,
				  .refresh_min_s = 1,
				  .refresh_max_s = 1,
				  .log = say};
	if (dist_xfrin_new(&conf, diag, &x) != TANDEM_OK) {
		fprintf(stderr, "xfrin_fetch: %s\n",
			tandem_diag_kept(diag) > 0 ? tandem_diag_msg(diag, 0) : "cannot start");
		goto out;
	}
	unsigned long want = strtoul(argv[5], NULL, 10);
	time_t until = time(NULL) + atol(argv[6]);
	dist_xfrin_status_t st = {0};
	while (time(NULL) < until) {
		dist_xfrin_status(x, 0, &st);
		if (st.transfers >= want) {
			rc = 0;
			break;
		}
		usleep(20000);
	}
out:
	dist_xfrin_free(x);
	/* CPU time beside the wall time of the log lines: the bench box is shared */
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		printf("cpu: user %.2f s, sys %.2f s, max RSS %ld MB\n",
		       (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
		       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
		       ru.ru_maxrss / 1024);
	}
	dist_key_free(key);
	tandem_diag_free(diag);
	return rc;
}
