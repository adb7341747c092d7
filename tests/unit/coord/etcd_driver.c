/* A tiny command-line driver of the etcd client, for integration tests and manual checks. */
#include "coord_etcd.h"
#include "tandem_diag.h"
#include "tandem_error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * etcd_driver [-t TIMEOUT_MS] [-s] ENDPOINT[,ENDPOINT...] COMMAND [ARGS]
 *   get KEY             prints "VALUE mod_revision" (linearizable; -s: serializable),
 *                       or "(absent) REVISION"
 *   put KEY VALUE       unconditional put (a transaction without compares)
 *   create KEY VALUE    put only if KEY is absent
 *   status              one line per endpoint: health, member, leader, term, errors
 *   members             one line per member
 * Exit codes: 0 ok, 1 usage or other error, 2 TANDEM_COORD_ECONFLICT,
 * 3 TANDEM_COORD_ENOQUORUM, 4 TANDEM_COORD_EUNAVAIL. Errors and the diag go to stderr.
 */

static int exit_code(int rc)
{
	switch (rc) {
	case TANDEM_OK: return 0;
	case TANDEM_COORD_ECONFLICT: return 2;
	case TANDEM_COORD_ENOQUORUM: return 3;
	case TANDEM_COORD_EUNAVAIL: return 4;
	default: return 1;
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: etcd_driver [-t TIMEOUT_MS] [-s] ENDPOINTS "
			"get KEY | put KEY VALUE | create KEY VALUE | status | members\n");
	return 1;
}

static int run(coord_etcd_t *c, unsigned flags, int argc, char **argv, tandem_diag_t *diag)
{
	int rc = TANDEM_EINVAL;
	const char *cmd = argv[0];
	if (strcmp(cmd, "get") == 0 && argc == 2) {
		coord_etcd_range_t *r = NULL;
		if ((rc = coord_etcd_get(c, argv[1], flags, diag, &r)) == TANDEM_OK) {
			if (r->n == 1) {
				printf("%s %" PRId64 "\n", (const char *)r->kvs[0].value,
				       r->kvs[0].mod_revision);
			} else {
				printf("(absent) %" PRId64 "\n", r->revision);
			}
		}
		coord_etcd_range_free(r);
	} else if ((strcmp(cmd, "put") == 0 || strcmp(cmd, "create") == 0) && argc == 3) {
		coord_etcd_txn_t *t = NULL;
		coord_etcd_txn_result_t *res = NULL;
		if ((rc = coord_etcd_txn_new(&t)) == TANDEM_OK && strcmp(cmd, "create") == 0) {
			rc = coord_etcd_txn_cmp_absent(t, argv[1]);
		}
		if (rc == TANDEM_OK) {
			rc = coord_etcd_txn_put(t, argv[1], argv[2], strlen(argv[2]), 0);
		}
		if (rc == TANDEM_OK) {
			rc = coord_etcd_txn_commit(c, t, diag, &res);
		}
		if (res != NULL) {
			printf("%s %" PRId64 "\n", res->succeeded ? "ok" : "conflict",
			       res->revision);
		}
		coord_etcd_txn_result_free(res);
		coord_etcd_txn_free(t);
	} else if (strcmp(cmd, "status") == 0 && argc == 1) {
		rc = TANDEM_OK;
		for (size_t i = 0; i < coord_etcd_endpoint_count(c); i++) {
			coord_etcd_status_t st;
			int r = coord_etcd_endpoint_status(c, i, diag, &st);
			if (r != TANDEM_OK) {
				printf("%s unreachable\n", coord_etcd_endpoint(c, i));
				rc = r;
				continue;
			}
			printf("%s healthy=%s member=%" PRIx64 " leader=%" PRIx64 " term=%" PRId64
			       " version=%s errors=%s\n",
			       coord_etcd_endpoint(c, i), st.healthy ? "true" : "false",
			       st.member_id, st.leader, st.raft_term, st.version,
			       st.errors[0] ? st.errors : "-");
		}
	} else if (strcmp(cmd, "members") == 0 && argc == 1) {
		coord_etcd_members_t *m = NULL;
		if ((rc = coord_etcd_member_list(c, diag, &m)) == TANDEM_OK) {
			for (size_t i = 0; i < m->n; i++) {
				printf("%" PRIx64 " %s peers=%s clients=%s%s\n", m->members[i].id,
				       m->members[i].name, m->members[i].peer_urls,
				       m->members[i].client_urls,
				       m->members[i].learner ? " learner" : "");
			}
		}
		coord_etcd_members_free(m);
	} else {
		usage();
	}
	return rc;
}

int main(int argc, char **argv)
{
	coord_etcd_opts_t opts = {0};
	unsigned flags = 0;
	int i = 1, rc = TANDEM_OK;
	const char *eps[COORD_ETCD_MAX_ENDPOINTS];
	size_t n = 0;
	char *list = NULL;
	tandem_diag_t *diag = NULL;
	coord_etcd_t *c = NULL;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
			opts.timeout_ms = (unsigned)strtoul(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "-s") == 0) {
			flags |= COORD_ETCD_SERIALIZABLE;
		} else {
			return usage();
		}
	}
	if (argc - i < 2) {
		return usage();
	}
	if ((list = strdup(argv[i])) == NULL || tandem_diag_new(&diag) != TANDEM_OK ||
	    coord_etcd_global_init() != TANDEM_OK) {
		fprintf(stderr, "etcd_driver: cannot initialise\n");
		free(list);
		tandem_diag_free(diag);
		return 1;
	}
	for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (n < COORD_ETCD_MAX_ENDPOINTS) {
			eps[n] = tok;
		}
		n++;
	}
	if ((rc = coord_etcd_new(eps, n, &opts, diag, &c)) == TANDEM_OK) {
		rc = run(c, flags, argc - i - 1, argv + i + 1, diag);
	}
	if (rc != TANDEM_OK) {
		fprintf(stderr, "etcd_driver: %s\n", tandem_strerror(rc));
		for (size_t k = 0; k < tandem_diag_kept(diag); k++) {
			fprintf(stderr, "  %s\n", tandem_diag_msg(diag, k));
		}
	}
	coord_etcd_free(c);
	coord_etcd_global_cleanup();
	tandem_diag_free(diag);
	free(list);
	return exit_code(rc);
}
