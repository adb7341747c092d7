/* tandemctl's command groups: each lives in its own file and is reached through tandemctl.c. */
#ifndef TANDEMCTL_H
#define TANDEMCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Each handler gets the command's own name (e.g. "list") and its arguments
 * with argv[0] set to "tandemctl keys CMD" (so getopt works as usual), and
 * returns the process exit code: 0 success, 1 usage, 2 bad input, 3 HSM
 * problem, 4 refused by a check, 5 I/O failure.
 */

/* keys list, ds, ds-seen, ds-gone, generate, rollover, emergency, simulate
 * (tandemctl_keys_state.c): the key-state machine on a --state DIR. */
int tandemctl_keys_state(const char *cmd, int argc, char **argv);
/* true if cmd is one of tandemctl_keys_state's commands */
int tandemctl_keys_state_has(const char *cmd);

/* keys archive-export, archive-import (tandemctl_keys_archive.c). */
int tandemctl_keys_archive(const char *cmd, int argc, char **argv);
int tandemctl_keys_archive_has(const char *cmd);

/* keys ksk-import, ksr, skr-import (tandemctl_keys_skr.c): the offline KSK's request and
 * response on a --state DIR, or through the zone's key set and SKR book in the cluster
 * (--cluster). */
int tandemctl_keys_skr(const char *cmd, int argc, char **argv);
int tandemctl_keys_skr_has(const char *cmd);

/* status, switchover, takeover, drain, undrain, node remove, zone add/remove, net keygen
 * (tandemctl_cluster.c): the coordinator RPC. argv[0] is the command ("status", "zone", ...)
 * followed by its subcommand for node, zone and net. Exit codes: 0 success, 1 usage, 2 bad
 * input, 4 refused by the coordinator (or locally: takeover without --force), 5 coordinator
 * unreachable or failed. */
int tandemctl_cluster(int argc, char **argv);
/* true if cmd is one of tandemctl_cluster's commands */
int tandemctl_cluster_has(const char *cmd);

/*
 * The coordinator connection of the cluster commands, for other command groups (keys
 * --cluster). Opaque; errors are printed to stderr prefixed with `who`, and every
 * function returns an exit code (0, 1 usage, 2 bad input, 4 refused, 5 coordinator).
 */
typedef struct tandemctl_coord tandemctl_coord_t;

/* Opens it from the endpoints, public key files and secret key file given (each may be
 * NULL: then TANDEM_COORD, TANDEM_COORD_PUB, TANDEM_KEY). *out only on success;
 * tandemctl_coord_close() it. */
int tandemctl_coord_open(const char *who, const char *coord, const char *coord_pub, const char *key,
			 tandemctl_coord_t **out);
/* NULL-safe. */
void tandemctl_coord_close(tandemctl_coord_t *c);

/* policy put|list|show (tandemctl_policy.c): signing policies stored in the cluster
 * (docs/policy.md, "In a cluster"); argv[0] is "policy", argv[1] the subcommand. */
int tandemctl_policy(int argc, char **argv);
/* zone policy Z NAME (argv[0] "tandemctl zone policy"), and the --policy of zone add: sets
 * a zone's policy through c. */
int tandemctl_policy_zone(int argc, char **argv);
int tandemctl_policy_zone_set(tandemctl_coord_t *c, const char *who, const char *zone,
			      const char *name);

/* The zone's stored key set (coord.keyset.get): *buf is the caller's (free()), NULL with
 * *len 0 and *revision 0 when none was written yet. A zone the coordinator does not know
 * (removed): 2. */
int tandemctl_coord_keyset_get(tandemctl_coord_t *c, const char *zone, uint8_t **buf, size_t *len,
			       int64_t *revision);

/* Writes the zone's key set if it is still at revision (coord.keyset.put as the
 * operator); *new_revision on success. A key set changed meanwhile: 4, with "the key set
 * changed meanwhile; run the command again". */
int tandemctl_coord_keyset_put(tandemctl_coord_t *c, const char *zone, const uint8_t *buf,
			       size_t len, int64_t revision, int64_t *new_revision);

/* The zone's SKR book (coord.skr.get), as tandemctl_coord_keyset_get. A zone the cluster
 * does not know (not added yet, or removed): 2 with a message, or, when unknown is not
 * NULL, 0 with *unknown set (no bytes, revision 0, nothing printed). */
int tandemctl_coord_skr_get(tandemctl_coord_t *c, const char *zone, uint8_t **buf, size_t *len,
			    int64_t *revision, bool *unknown);

/* Writes the zone's SKR book if it is still at revision (coord.skr.put as the operator), as
 * tandemctl_coord_keyset_put: a book changed meanwhile is 4, "the SKR book changed
 * meanwhile; run the command again"; bytes the coordinator refuses (not a valid book): 5. */
int tandemctl_coord_skr_put(tandemctl_coord_t *c, const char *zone, const uint8_t *buf, size_t len,
			    int64_t revision, int64_t *new_revision);

/* A page of the audit chain from from_seq (coord.audit.get, tandemctl_audit.c): *out is the
 * caller's (coordrpc_audit_page_deinit). Exit code: 0, or 5 (printed). */
struct coordrpc_audit_page;
int tandemctl_coord_audit_get(tandemctl_coord_t *c, uint64_t from_seq, uint32_t limit,
			      struct coordrpc_audit_page *out);

/* audit keygen, show, verify, export (tandemctl_audit.c): the audit log. argv[0] is
 * "audit". Exit codes: 0, 1 usage, 2 bad input, 4 verification failed, 5 coordinator or
 * I/O failure. */
int tandemctl_audit(int argc, char **argv);

/* Sends req, any request whose reply is a decision (struct coordrpc_request and
 * coordrpc_decision of coordrpc.h), and gives its decision: a refusal is a decision (0); *dec's
 * doc is the caller's (coordrpc_decision_deinit). Errors are printed: 5 (coordinator). */
struct coordrpc_request;
struct coordrpc_decision;
int tandemctl_coord_decide(tandemctl_coord_t *c, const struct coordrpc_request *req,
			   struct coordrpc_decision *dec);

/* The status as the first coordinator that answers reads it, printing nothing on failure
 * (drills poll through faults). Returns a tandem code (TANDEM_OK, or the last endpoint's
 * error). */
struct coordrpc_status;
int tandemctl_coord_status_quiet(tandemctl_coord_t *c, struct coordrpc_status *st);

/* drill SCENARIO|list (tandemctl_drill.c): a disaster-recovery drill against the running
 * cluster, its faults injected through the hooks file (docs/drills.md). argv[0] is "drill".
 * Exit codes: 0 passed (or listed), 1 usage, 2 bad input, 4 refused or the drill failed,
 * 5 coordinator unreachable. */
int tandemctl_drill(int argc, char **argv);

/* operator keygen|bootstrap|list, request ACTION|list|show|cancel, approve
 * (tandemctl_request.c): multi-person control (docs/approvals.md). argv[0] is the command
 * ("operator", "request", "approve"). Exit codes as tandemctl_cluster. */
int tandemctl_request(int argc, char **argv);
/* true if cmd is one of tandemctl_request's commands */
int tandemctl_request_has(const char *cmd);

#endif
