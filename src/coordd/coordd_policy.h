/* tandem-coord's signing policies in etcd: put, list, show, a zone's policy, and the
 * approved policy-set (docs/policy.md, "In a cluster"). */
#ifndef COORDD_POLICY_H
#define COORDD_POLICY_H

#include "coord_state.h"
#include "coord_store.h"
#include "coordd_request.h"
#include "coordrpc.h"
#include "kasp_policy.h"
#include "tandem_audit.h"
#include "tandem_diag.h"

#include <stdbool.h>
#include <stddef.h>

/* What the policy handling borrows from the daemon. */
typedef struct coordd_policy_ctx {
	coord_store_t *store;
	tandem_diag_t *diag;
	const tandem_audit_sink_t *audit;
	coordd_requests_t *requests; /* whether a change needs approvals */
	const char *actor;           /* who asks: "operator:NAME" */
	/* the zone of a "zone" action as just read (NULL: the zone does not exist) */
	const coord_zone_t *zone;
} coordd_policy_ctx_t;

/*
 * coord.policy (put, list, show, zone): fills dec (a refusal is one; its doc, when set, is
 * the caller's to coordrpc_decision_deinit). Errors (nothing decided): the store's,
 * TANDEM_ENOMEM.
 */
int coordd_policy_op(const coordd_policy_ctx_t *c, const coordrpc_request_t *r,
		     coordrpc_decision_t *dec);

/* coord.policy.get: the zone's policy name in dec->text ("" none) and its stored document in
 * dec->doc. Errors: the store's, TANDEM_ENOMEM. */
int coordd_policy_get(const coordd_policy_ctx_t *c, const char *zone, coordrpc_decision_t *dec);

/*
 * The zone's cluster policy, checked (its digest, then every rule), into *out; *found false
 * (and *out untouched) when the zone names none. A named policy that is missing or fails a
 * check is TANDEM_KASP_EPOLICY. Errors: the store's, TANDEM_ENOMEM.
 */
int coordd_policy_of_zone(coord_store_t *store, tandem_diag_t *diag, const char *zone,
			  kasp_policy_t *out, bool *found);

/* Executes an approved policy-set (args "name=N digest=HEX [zone=Z]"): *accepted and text say
 * what became of it. Errors: the store's. */
int coordd_policy_set_exec(const coordd_policy_ctx_t *c, const char *args, bool *accepted,
			   char *text, size_t size);

#endif
