/* tandem-coord's archive-distribution grants: which nodes may import a zone's keys from the
 * archive (docs/approvals.md, "Archive distribution to a new node"). */
#ifndef COORDD_GRANTS_H
#define COORDD_GRANTS_H

#include "coord_store.h"
#include "coordd_request.h"
#include "tandem_diag.h"

#include <stdbool.h>
#include <stddef.h>

/*
 * At start: when etcd has no grant table (PREFIX/archive-grants) and nodes are given
 * (--archive-grant), writes one granting each of them every zone, conditioned on its
 * absence (two coordinators starting at once write it once). *written says whether this
 * call wrote it; text says what happened (for the log and the audit entry). Errors: the
 * store's, TANDEM_EINVAL (a bad node name), TANDEM_ERANGE.
 */
int coordd_grants_bootstrap(coord_store_t *store, tandem_diag_t *diag, const char *const *nodes,
			    size_t n, bool *written, char *text, size_t size);

/*
 * Whether node, which holds no key of zone (a new node for it), may import zone's keys
 * from the archive: yes while nobody could approve (no role table: a cluster being set up)
 * or when archive distribution is one person's (rule "-"), else only with a grant. When
 * not, why says which request to make. A store that cannot be read counts as no.
 */
bool coordd_grants_allow(coordd_requests_t *reqs, coord_store_t *store, tandem_diag_t *diag,
			 const char *node, const char *zone, char *why, size_t size);

/*
 * The approved "archive-distribute node=N [zone=Z]": the grant added to the table at the
 * revision read (a grant already there changes nothing). *accepted and text say what
 * happened. Errors: the store's, TANDEM_ENOMEM.
 */
int coordd_grants_add(coord_store_t *store, tandem_diag_t *diag, const char *node, const char *zone,
		      bool *accepted, char *text, size_t size);

#endif
