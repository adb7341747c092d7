/* tandem-coord's archive-distribution grants: the table in etcd, its bootstrap, the check. */
#include "coordd_grants.h"
#include "tandem_error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The grant table's largest size: COORD_NODES_MAX nodes, a few zones each. */
#define GRANTS_MAX (64u * 1024u)

/* The stored table as a string (*text the caller's, "" when none) and its revision. */
static int grants_read(coord_store_t *store, tandem_diag_t *diag, char **text, int64_t *rev)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	*text = NULL;
	int ret = coord_store_doc_get(store, COORD_DOC_GRANTS, "", diag, &buf, &len, rev);
	if (ret == TANDEM_OK && len > GRANTS_MAX) {
		ret = TANDEM_ERANGE;
	}
	if (ret == TANDEM_OK && (*text = malloc(len + 1)) == NULL) {
		ret = TANDEM_ENOMEM;
	}
	if (ret == TANDEM_OK) {
		if (len > 0) {
			memcpy(*text, buf, len);
		}
		(*text)[len] = '\0';
	}
	free(buf);
	return ret;
}

int coordd_grants_bootstrap(coord_store_t *store, tandem_diag_t *diag, const char *const *nodes,
			    size_t n, bool *written, char *text, size_t size)
{
	char *table = NULL, *next = malloc(GRANTS_MAX), *cur = malloc(GRANTS_MAX);
	int64_t rev = 0, now_rev = 0;
	*written = false;
	text[0] = '\0';
	int ret = next == NULL || cur == NULL ? TANDEM_ENOMEM : TANDEM_OK;
	if (ret == TANDEM_OK && n > 0) {
		ret = grants_read(store, diag, &table, &rev);
	}
	if (ret != TANDEM_OK || n == 0 || rev != 0) {
		goto out;
	}
	cur[0] = '\0';
	size_t used = 0;
	for (size_t i = 0; ret == TANDEM_OK && i < n; i++) {
		ret = coord_grants_add(cur, nodes[i], NULL, next, GRANTS_MAX);
		if (ret == TANDEM_OK) {
			memcpy(cur, next, strlen(next) + 1);
			used += (size_t)snprintf(text + used, used < size ? size - used : 0, "%s%s",
						 i > 0 ? " " : "", nodes[i]);
		}
	}
	if (ret == TANDEM_OK) {
		ret = coord_store_doc_put(store, COORD_DOC_GRANTS, "", (const uint8_t *)cur,
					  strlen(cur), 0, diag, written, &now_rev);
	}
out:
	free(table);
	free(next);
	free(cur);
	return ret;
}

bool coordd_grants_allow(coordd_requests_t *reqs, coord_store_t *store, tandem_diag_t *diag,
			 const char *node, const char *zone, char *why, size_t size)
{
	char args[COORD_ARGS_MAX], need[COORD_TEXT_MAX];
	snprintf(args, sizeof(args), "node=%.63s zone=%.180s", node, zone);
	why[0] = '\0';
	if (!coordd_requests_direct_refused(reqs, "archive-distribute", args, need, sizeof(need))) {
		return true;
	}
	char *table = NULL;
	int64_t rev = 0;
	int ret = grants_read(store, diag, &table, &rev);
	bool ok = ret == TANDEM_OK && coord_grants_allow(table, node, zone);
	free(table);
	tandem_diag_clear(diag);
	if (!ok && ret != TANDEM_OK) {
		snprintf(why, size, "the archive-distribution grants are unreadable (%s)",
			 tandem_strerror(ret));
	} else if (!ok) {
		snprintf(why, size, "node %.63s holds no key of zone %.100s (a new node): %s", node,
			 zone, need);
	}
	return ok;
}

int coordd_grants_add(coord_store_t *store, tandem_diag_t *diag, const char *node, const char *zone,
		      bool *accepted, char *text, size_t size)
{
	char *table = NULL, *next = malloc(GRANTS_MAX);
	int64_t rev = 0, now_rev = 0;
	bool won = false;
	const char *what = zone != NULL && zone[0] != '\0' ? zone : "every zone";
	*accepted = false;
	int ret = next == NULL ? TANDEM_ENOMEM : grants_read(store, diag, &table, &rev);
	if (ret != TANDEM_OK) {
		snprintf(text, size, "the archive-distribution grants are unreadable: %s",
			 tandem_strerror(ret));
		goto out;
	}
	int aret = coord_grants_add(table, node, zone, next, GRANTS_MAX);
	if (aret != TANDEM_OK) {
		snprintf(text, size, "archive-distribute node=%.63s: %s: nothing changed", node,
			 aret == TANDEM_ESYNTAX ? "the stored grants are not a grant table"
						: tandem_strerror(aret));
		goto out;
	}
	if (strcmp(next, table) == 0) {
		*accepted = true;
		snprintf(text, size, "node %.63s may import the keys of %.100s already", node,
			 what);
		goto out;
	}
	ret = coord_store_doc_put(store, COORD_DOC_GRANTS, "", (const uint8_t *)next, strlen(next),
				  rev, diag, &won, &now_rev);
	if (ret != TANDEM_OK) {
		snprintf(text, size, "archive-distribute: %s", tandem_strerror(ret));
		goto out;
	}
	*accepted = won;
	if (won) {
		snprintf(text, size,
			 "node %.63s may import the keys of %.100s from the archive (grants at "
			 "revision %" PRId64 ")",
			 node, what, now_rev);
	} else {
		snprintf(text, size,
			 "the archive-distribution grants changed meanwhile: request "
			 "it again");
	}
out:
	tandem_diag_clear(diag);
	free(table);
	free(next);
	return ret;
}
