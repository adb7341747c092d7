/* Test driver: dist_notify from the shell (integration tests), NOTIFY ZONE SERIAL to peers. */
#include "dist_notify.h"
#include "tandem_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*
 *   notify_send [-n TRIES] ZONE SERIAL KEYFILE|- ADDR@PORT...
 *
 * KEYFILE holds one line "NAME ALGORITHM BASE64SECRET" (mode 0600; refused when group
 * or other may read it); "-" sends unsigned NOTIFYs. Events go to stderr, one line
 * per secondary's final state to stdout ("ADDR@PORT answered SERIAL tries N" or
 * "ADDR@PORT failed tries N rcode R"). Exit 0 when every secondary answered.
 */

static void on_event(void *arg, const dist_notify_event_t *ev)
{
	static const char *const kind[] = {"sent",    "answered", "refused",
					   "dropped", "sendfail", "gave-up"};

	(void)arg;
	fprintf(stderr, "notify_send: %s serial %u: %s (try %u%s%s)\n", ev->peer_name,
		(unsigned)ev->serial, kind[ev->kind], ev->tries, ev->detail ? ", " : "",
		ev->detail ? ev->detail : "");
}

static int read_key(const char *path, char *name, char *alg, char *secret)
{
	struct stat sb;
	FILE *f;
	int got;

	f = fopen(path, "r");
	if (f == NULL || fstat(fileno(f), &sb) != 0) {
		fprintf(stderr, "notify_send: %s: cannot open\n", path);
		if (f != NULL)
			fclose(f);
		return -1;
	}
	if ((sb.st_mode & 077) != 0) {
		fprintf(stderr, "notify_send: %s: readable by group or other, refused\n", path);
		fclose(f);
		return -1;
	}
	got = fscanf(f, "%255s %31s %1023s", name, alg, secret);
	fclose(f);
	if (got != 3) {
		fprintf(stderr, "notify_send: %s: expected NAME ALGORITHM SECRET\n", path);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	dist_notify_opts_t opts = {.first_gap_ms = 500, .max_gap_ms = 4000, .max_tries = 8};
	char name[256] = "", alg[32] = "", secret[1024] = "", addr[128];
	dist_notify_t *n = NULL;
	tandem_diag_t *diag = NULL;
	dist_notify_peer_conf_t peer;
	dist_notify_peer_state_t st;
	size_t i;
	int rc = 2, a;

	if (argc > 2 && strcmp(argv[1], "-n") == 0) {
		opts.max_tries = (unsigned)atoi(argv[2]);
		argv += 2;
		argc -= 2;
	}
	if (argc < 5 || opts.max_tries == 0) {
		fprintf(stderr,
			"usage: notify_send [-n TRIES] ZONE SERIAL KEYFILE|- ADDR@PORT...\n");
		return 2;
	}
	if (tandem_diag_new(&diag) != TANDEM_OK ||
	    dist_notify_new(argv[1], &opts, diag, &n) != TANDEM_OK)
		goto out;
	memset(&peer, 0, sizeof(peer));
	if (strcmp(argv[3], "-") != 0) {
		if (read_key(argv[3], name, alg, secret) != 0)
			goto out;
		if (strcmp(alg, "hmac-sha256") == 0)
			peer.tsig_alg = DIST_TSIG_HMAC_SHA256;
		else if (strcmp(alg, "hmac-sha512") == 0)
			peer.tsig_alg = DIST_TSIG_HMAC_SHA512;
		else {
			fprintf(stderr, "notify_send: %s: algorithm '%s' unknown\n", argv[3], alg);
			goto out;
		}
		peer.tsig_name = name;
		peer.tsig_secret = secret;
	}
	for (a = 4; a < argc; a++) {
		char *at;

		snprintf(addr, sizeof(addr), "%s", argv[a]);
		at = strrchr(addr, '@');
		if (at != NULL)
			*at++ = '\0';
		peer.addr = addr;
		peer.port = at != NULL ? (uint16_t)atoi(at) : 53;
		if (dist_notify_peer_add(n, &peer, diag) != TANDEM_OK)
			goto out;
	}
	dist_notify_set_callback(n, on_event, NULL);
	if (dist_notify_publish(n, (uint32_t)strtoul(argv[2], NULL, 10), dist_notify_now_ms()) !=
	    TANDEM_OK)
		goto out;
	(void)dist_notify_run(n, 120000);
	rc = 0;
	for (i = 0; dist_notify_peer_state(n, i, &st); i++) {
		if (st.answered && !st.pending) {
			printf("%s answered %u tries %u\n", argv[4 + i],
			       (unsigned)st.answered_serial, st.tries);
		} else {
			printf("%s failed tries %u rcode %d\n", argv[4 + i], st.tries,
			       st.last_rcode);
			rc = 1;
		}
	}
out:
	for (i = 0; i < tandem_diag_kept(diag); i++)
		fprintf(stderr, "notify_send: %s\n", tandem_diag_msg(diag, i));
	explicit_bzero(secret, sizeof(secret));
	dist_notify_free(n);
	tandem_diag_free(diag);
	return rc;
}
