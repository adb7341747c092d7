/* tandemctl policy put|list|show and zone policy: signing policies stored in the cluster and
 * the zones that sign with them (docs/policy.md, "In a cluster"). */
#include "coordrpc.h"
#include "kasp_policy.h"
#include "tandem_diag.h"
#include "tandem_error.h"
#include "tandem_file.h"
#include "tandemctl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_INPUT = 2, EXIT_REFUSED = 4, EXIT_COORD = 5 };
enum { OPT_COORD = 256, OPT_COORD_PUB, OPT_KEY };

/* The largest policy file a cluster stores (what one coordinator request carries). */
#define POLICY_TEXT_MAX (COORDRPC_ARCHIVE_MAX)

typedef struct conn_args {
	const char *coord, *coord_pub, *key;
} conn_args_t;

static void usage(FILE *fp)
{
	fprintf(fp, "usage: tandemctl policy put NAME FILE | policy list | policy show NAME\n"
		    "       tandemctl zone policy ZONE NAME|-\n"
		    "  (with --coord EP[,EP..] --coord-pub FILE[,FILE..] --key SECRET, or\n"
		    "   TANDEM_COORD, TANDEM_COORD_PUB, TANDEM_KEY; docs/policy.md, \"In a "
		    "cluster\")\n");
}

/* Parses the connection options; returns the index of the first operand, or -1 (usage
 * printed; *rc the exit code). */
static int parse(int argc, char **argv, conn_args_t *ca, int *rc)
{
	static const struct option longopts[] = {
	    {"coord", required_argument, NULL, OPT_COORD},
	    {"coord-pub", required_argument, NULL, OPT_COORD_PUB},
	    {"key", required_argument, NULL, OPT_KEY},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	int c;
	memset(ca, 0, sizeof(*ca));
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_COORD: ca->coord = optarg; break;
		case OPT_COORD_PUB: ca->coord_pub = optarg; break;
		case OPT_KEY: ca->key = optarg; break;
		case 'h':
			usage(stdout);
			*rc = EXIT_OK;
			return -1;
		default:
			usage(stderr);
			*rc = EXIT_USAGE;
			return -1;
		}
	}
	return optind;
}

/* Sends req; prints the decision's text (refusals on stderr). Returns the exit code; *dec
 * is the caller's to deinit. */
static int decide(const char *who, const conn_args_t *ca, tandemctl_coord_t *given,
		  const coordrpc_request_t *req, coordrpc_decision_t *dec, bool quiet)
{
	tandemctl_coord_t *c = given;
	int rc =
	    c != NULL ? EXIT_OK : tandemctl_coord_open(who, ca->coord, ca->coord_pub, ca->key, &c);
	if (rc == EXIT_OK) {
		rc = tandemctl_coord_decide(c, req, dec);
	}
	if (rc == EXIT_OK && !dec->accepted) {
		fprintf(stderr, "%s: refused (%s): %s\n", who, coord_reason_str(dec->reason),
			dec->text);
		rc = EXIT_REFUSED;
	} else if (rc == EXIT_OK && !quiet) {
		printf("accepted: %s\n", dec->text);
	}
	if (given == NULL) {
		tandemctl_coord_close(c);
	}
	return rc;
}

/* policy put NAME FILE: the same checks as --check-config here, then again in the
 * coordinator; nothing is sent for a file refused here. */
static int cmd_put(const char *who, int argc, char **argv)
{
	conn_args_t ca;
	int rc = EXIT_OK;
	int i = parse(argc, argv, &ca, &rc);
	if (i < 0) {
		return rc;
	}
	if (argc - i != 2) {
		fprintf(stderr, "%s: needs NAME FILE\n", who);
		return EXIT_USAGE;
	}
	const char *name = argv[i], *path = argv[i + 1];
	tandem_diag_t *diag = NULL;
	kasp_policy_t pol;
	char *text = NULL;
	size_t len = 0;
	coordrpc_request_t *req = calloc(1, sizeof(*req));
	coordrpc_decision_t *dec = calloc(1, sizeof(*dec));
	if (req == NULL || dec == NULL || tandem_diag_new(&diag) != TANDEM_OK) {
		fprintf(stderr, "%s: out of memory\n", who);
		rc = EXIT_COORD;
		goto out;
	}
	int ret = kasp_policy_load(path, diag, &pol);
	for (size_t k = 0; k < tandem_diag_kept(diag); k++) {
		fprintf(stderr, "%s\n", tandem_diag_msg(diag, k));
	}
	if (ret != TANDEM_OK) {
		fprintf(stderr, "%s: %s refused: nothing stored\n", who, path);
		rc = EXIT_INPUT;
		goto out;
	}
	if (strcmp(pol.name, name) != 0) {
		fprintf(stderr, "%s: %s names policy '%s', not '%s': nothing stored\n", who, path,
			pol.name, name);
		rc = EXIT_INPUT;
		goto out;
	}
	ret = tandem_file_read(path, POLICY_TEXT_MAX, &text, &len);
	if (ret != TANDEM_OK) {
		fprintf(stderr, "%s: %s: %s (a cluster stores policies of at most %u bytes)\n", who,
			path, tandem_strerror(ret), (unsigned)POLICY_TEXT_MAX);
		rc = EXIT_INPUT;
		goto out;
	}
	req->kind = COORDRPC_POLICY;
	snprintf(req->action, sizeof(req->action), "put");
	snprintf(req->args, sizeof(req->args), "name=%s", name);
	req->doc = (uint8_t *)text;
	req->doc_len = len;
	rc = decide(who, &ca, NULL, req, dec, false);
	req->doc = NULL;
out:
	free(text);
	if (dec != NULL) {
		coordrpc_decision_deinit(dec);
	}
	free(dec);
	free(req);
	tandem_diag_free(diag);
	return rc;
}

/* policy list, policy show NAME */
static int cmd_read(const char *who, bool show, int argc, char **argv)
{
	conn_args_t ca;
	int rc = EXIT_OK;
	int i = parse(argc, argv, &ca, &rc);
	if (i < 0) {
		return rc;
	}
	if (argc - i != (show ? 1 : 0)) {
		fprintf(stderr, "%s: %s\n", who, show ? "needs NAME" : "takes no operand");
		return EXIT_USAGE;
	}
	coordrpc_request_t *req = calloc(1, sizeof(*req));
	coordrpc_decision_t *dec = calloc(1, sizeof(*dec));
	if (req == NULL || dec == NULL) {
		free(req);
		free(dec);
		fprintf(stderr, "%s: out of memory\n", who);
		return EXIT_COORD;
	}
	req->kind = COORDRPC_POLICY;
	snprintf(req->action, sizeof(req->action), "%s", show ? "show" : "list");
	if (show) {
		snprintf(req->args, sizeof(req->args), "name=%.200s", argv[i]);
	}
	rc = decide(who, &ca, NULL, req, dec, true);
	if (rc == EXIT_OK && show) {
		printf("# %s\n", dec->text);
	} else if (rc == EXIT_OK) {
		printf("%-24s %-64s %s\n", "POLICY", "SHA256", "ZONES");
		const char *p = (const char *)dec->doc, *end = p + dec->doc_len;
		while (p != NULL && p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
			char line[1024], nm[64], hx[80];
			unsigned long cnt = 0;
			int off = 0;
			snprintf(line, sizeof(line), "%.*s", (int)(n < 1023 ? n : 1023), p);
			if (sscanf(line, "%63s %79s %lu%n", nm, hx, &cnt, &off) >= 3) {
				printf("%-24s %-64s %lu%s\n", nm, hx, cnt, line + off);
			}
			p = nl != NULL ? nl + 1 : end;
		}
	}
	if (rc == EXIT_OK && show && dec->doc != NULL) {
		fwrite(dec->doc, 1, dec->doc_len, stdout);
	}
	coordrpc_decision_deinit(dec);
	free(dec);
	free(req);
	return rc;
}

int tandemctl_policy_zone_set(tandemctl_coord_t *c, const char *who, const char *zone,
			      const char *name)
{
	coordrpc_request_t *req = calloc(1, sizeof(*req));
	coordrpc_decision_t *dec = calloc(1, sizeof(*dec));
	int rc = EXIT_COORD;
	size_t zl = strlen(zone);
	if (req == NULL || dec == NULL) {
		fprintf(stderr, "%s: out of memory\n", who);
		goto out;
	}
	if (zl == 0 || zl + 2 > sizeof(req->zone)) {
		fprintf(stderr, "%s: zone name empty or too long\n", who);
		rc = EXIT_INPUT;
		goto out;
	}
	/* a zone gets its final dot, as zone add gives it */
	snprintf(req->zone, sizeof(req->zone), "%s%s", zone, zone[zl - 1] == '.' ? "" : ".");
	req->kind = COORDRPC_POLICY;
	snprintf(req->action, sizeof(req->action), "zone");
	snprintf(req->args, sizeof(req->args), "name=%.200s", name);
	rc = decide(who, NULL, c, req, dec, false);
out:
	if (dec != NULL) {
		coordrpc_decision_deinit(dec);
	}
	free(dec);
	free(req);
	return rc;
}

int tandemctl_policy_zone(int argc, char **argv)
{
	conn_args_t ca;
	tandemctl_coord_t *c = NULL;
	int rc = EXIT_OK;
	int i = parse(argc, argv, &ca, &rc);
	if (i < 0) {
		return rc;
	}
	if (argc - i != 2) {
		fprintf(stderr, "%s: needs ZONE NAME (or - for the node's own --policy file)\n",
			argv[0]);
		return EXIT_USAGE;
	}
	rc = tandemctl_coord_open(argv[0], ca.coord, ca.coord_pub, ca.key, &c);
	if (rc == EXIT_OK) {
		rc = tandemctl_policy_zone_set(c, argv[0], argv[i], argv[i + 1]);
	}
	tandemctl_coord_close(c);
	return rc;
}

int tandemctl_policy(int argc, char **argv)
{
	char who[64];
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	const char *sub = argv[1];
	snprintf(who, sizeof(who), "tandemctl policy %.20s", sub);
	argv[1] = who;
	if (strcmp(sub, "put") == 0) {
		return cmd_put(who, argc - 1, argv + 1);
	}
	if (strcmp(sub, "list") == 0 || strcmp(sub, "show") == 0) {
		return cmd_read(who, strcmp(sub, "show") == 0, argc - 1, argv + 1);
	}
	fprintf(stderr, "tandemctl: unknown command 'policy %s'\n", sub);
	usage(stderr);
	return EXIT_USAGE;
}
