/* tandem-coord's side of multi-person control: requests, approvals and the role table in etcd. */
#ifndef COORDD_REQUEST_H
#define COORDD_REQUEST_H

#include "coord_approval.h"
#include "coord_store.h"
#include "coordrpc.h"
#include "tandem_audit.h"
#include "tandem_diag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Executes an approved action (not the role table's, which is done here): fills *accepted
 * and text (what it did, or why it was refused), and may list its effects in dec. Returns
 * an error only when nothing could be decided (the store).
 */
typedef int (*coordd_request_exec_fn)(void *arg, const coord_request_t *req, uint64_t now_ms,
				      bool *accepted, char *text, size_t size,
				      coordrpc_decision_t *dec);

/* What the request handling borrows from the daemon; scratch is its own. */
typedef struct coordd_requests {
	coord_store_t *store;
	tandem_diag_t *diag;
	const tandem_audit_sink_t *audit; /* every request, approval, refusal, execution,
					     cancellation and expiry goes here */
	const coord_rules_t *rules;
	const char *coord_name;
	coordd_request_exec_fn exec;
	void *exec_arg;
	coord_requests_t *reqs; /* scratch (~100 KB), coordd_requests_init allocates it */
	coord_operators_t *ops; /* scratch */
	/* break glass: a local copy of the role table (NULL: none kept). Rewritten whenever
	 * etcd's differs; when etcd has none (a cluster rebuilt without its data), the copy is
	 * written back to etcd before anything is decided, so the approvals still count. */
	const char *mirror_path;
	char *mirror; /* the copy's JSON as last read or written (owned), NULL when none */
} coordd_requests_t;

/* Allocates the scratch and reads the mirror, if one is kept and exists. Errors:
 * TANDEM_ENOMEM, TANDEM_ESYNTAX (an unreadable mirror: why in error), TANDEM_EIO. */
int coordd_requests_init(coordd_requests_t *c, char *error, size_t esize);
/* Reads the role table: the mirror follows it, or restores an etcd that lost it. Failures
 * are left to the next call (and audited when the mirror cannot be written). */
void coordd_requests_mirror_refresh(coordd_requests_t *c);

/* Frees the scratch; NULL-safe. */
void coordd_requests_deinit(coordd_requests_t *c);

/* Whether kind is one of the COORDRPC_REQUEST_* and COORDRPC_OPERATORS_* kinds. */
bool coordd_requests_kind(coordrpc_kind_t kind);

/*
 * Handles one of those kinds from operator `peer` at now_ms: *dec is the decision (a refusal
 * is one; its doc, when set, is the caller's to coordrpc_decision_deinit). Errors (with why
 * in error): the store's, TANDEM_ENOMEM.
 */
int coordd_requests_handle(coordd_requests_t *c, const char *peer, const coordrpc_request_t *r,
			   uint64_t now_ms, coordrpc_decision_t *dec, char *error, size_t esize);

/*
 * Whether the direct command for action (with canonical args) must be refused because it
 * needs approvals: the role table has operators and the action's rule names at least one
 * role. text then says which request to make. A store that cannot be read refuses too.
 */
bool coordd_requests_direct_refused(coordd_requests_t *c, const char *action, const char *args,
				    char *text, size_t size);

#endif
