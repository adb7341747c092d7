/* Multi-person control (DPS 4.2): operators and roles, per-action rules, signed approvals. */
#ifndef COORD_APPROVAL_H
#define COORD_APPROVAL_H

#include "coord_state.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Pure decisions, no I/O: the coordinator keeps the role table and the requests in etcd
 * (PREFIX/operators, PREFIX/requests, as the JSON these functions pack) and asks here
 * whether an approval counts. docs/approvals.md has the flow.
 *
 * A request names an action and its arguments; an operator approves it by signing, with
 * Ed25519, the request's canonical text (coord_request_text): its id, action, arguments
 * and expiry. The signature therefore binds the approval to that one request: replayed
 * for another, or after the request changed, it does not verify.
 */

#define COORD_APPROVAL_PUB_LEN   32 /* Ed25519 public key */
#define COORD_APPROVAL_SIG_LEN   64 /* Ed25519 signature */
#define COORD_OPERATORS_MAX      64
#define COORD_APPROVAL_SLOTS_MAX 4 /* people one action may need */
#define COORD_RULES_MAX          32
#define COORD_REQUESTS_MAX       64 /* kept in PREFIX/requests; the oldest finished go first */
#define COORD_REQUEST_ID_MAX     17 /* 16 lowercase hex characters + NUL */
#define COORD_ACTION_MAX         32
#define COORD_ARGS_MAX           256
#define COORD_REQUEST_TTL_MS     3600000u /* the default: an hour */
#define COORD_REQUEST_TEXT_MAX   512      /* the canonical text, NUL included */

/* The roles of DPS 4.2.1, as bits so that a rule's slot is a set of them. */
typedef enum {
	COORD_ROLE_SA = 1, /* system administrator */
	COORD_ROLE_SO = 2, /* security officer */
	COORD_ROLE_WI = 4, /* witness */
} coord_role_t;
#define COORD_ROLE_ANY 7u

/* One registered person. */
typedef struct coord_operator {
	char name[COORD_ID_MAX];
	coord_role_t role;
	uint8_t pub[COORD_APPROVAL_PUB_LEN];
} coord_operator_t;

/* The role table. A plain value (~7 KB). */
typedef struct coord_operators {
	size_t n;
	coord_operator_t ops[COORD_OPERATORS_MAX];
} coord_operators_t;

/* Who must approve an action: one distinct person per slot, each slot a set of roles.
 * No slot: one person alone (the direct command is allowed). */
typedef struct coord_rule {
	char action[COORD_ACTION_MAX];
	size_t nslots;
	unsigned slots[COORD_APPROVAL_SLOTS_MAX];
} coord_rule_t;

typedef struct coord_rules {
	size_t n;
	coord_rule_t rules[COORD_RULES_MAX];
} coord_rules_t;

typedef enum {
	COORD_REQ_PENDING = 0,
	COORD_REQ_EXECUTED,
	COORD_REQ_REFUSED, /* the quorum was met but the action was refused when executed */
	COORD_REQ_EXPIRED,
	COORD_REQ_CANCELLED,
} coord_req_state_t;

/* One approval that counted. */
typedef struct coord_approval {
	char name[COORD_ID_MAX];
	coord_role_t role;
	uint64_t at_ms;
	uint8_t sig[COORD_APPROVAL_SIG_LEN];
} coord_approval_t;

typedef struct coord_request {
	char id[COORD_REQUEST_ID_MAX];
	char action[COORD_ACTION_MAX];
	char args[COORD_ARGS_MAX]; /* canonical: "key=value" words, single spaces */
	char requester[COORD_ID_MAX];
	uint64_t created_ms, expiry_ms;
	coord_req_state_t state;
	char outcome[COORD_TEXT_MAX]; /* executed, refused or cancelled: what and why */
	size_t napprovals;
	coord_approval_t approvals[COORD_APPROVAL_SLOTS_MAX];
} coord_request_t;

/* The requests document. A plain value (~80 KB): on the heap. */
typedef struct coord_requests {
	size_t n;
	coord_request_t reqs[COORD_REQUESTS_MAX];
} coord_requests_t;

/* "SA", "SO", "WI" (static); "?" for anything else. */
const char *coord_role_str(coord_role_t role);
/* The role named s (exactly "SA", "SO" or "WI"). Errors: TANDEM_EINVAL. */
int coord_role_parse(const char *s, coord_role_t *out);
/* "pending", "executed", "refused", "expired", "cancelled" (static). */
const char *coord_req_state_str(coord_req_state_t st);

/* The defaults of DPS 4.2.2 (docs/approvals.md has the table). */
void coord_rules_default(coord_rules_t *out);

/*
 * Applies an override to rules: one line per action, "ACTION SLOT..." where a slot is
 * roles joined by '|' (SA, SO|WI) or "-" alone for a single person; '#' starts a comment.
 * An action not in rules is added. Refused (nothing changed, why says the line): an
 * unknown role, more than COORD_APPROVAL_SLOTS_MAX slots, a malformed action name, too
 * many actions. Errors: TANDEM_EINVAL, TANDEM_ESYNTAX.
 */
int coord_rules_parse(const char *text, coord_rules_t *rules, char *why, size_t size);

/* Writes rules in the text coord_rules_parse reads ("ACTION SLOT...\n", "ACTION -\n"):
 * applied over the defaults it gives rules back. Errors: TANDEM_EINVAL, TANDEM_ERANGE. */
int coord_rules_format(const coord_rules_t *rules, char *buf, size_t size);

/* The rule of action, or NULL when there is none (borrowed from rules). */
const coord_rule_t *coord_rule_find(const coord_rules_t *rules, const char *action);

/* The rule for people: "one SA and one of SO|WI", "one person". Returns buf. */
char *coord_rule_str(const coord_rule_t *rule, char *buf, size_t size);

/* The operator with this public key, or NULL (borrowed). */
const coord_operator_t *coord_operators_find_pub(const coord_operators_t *ops,
						 const uint8_t pub[COORD_APPROVAL_PUB_LEN]);
/* The operator of this name, or NULL (borrowed). */
const coord_operator_t *coord_operators_find(const coord_operators_t *ops, const char *name);

/*
 * Adds an operator, refusing (false, why filled, ops unchanged) a name that is not an id,
 * a name or a key that is registered already (a person holds one role: DPS 4.2.4), or a
 * full table.
 */
bool coord_operators_add(coord_operators_t *ops, const coord_operator_t *op, char *why,
			 size_t size);

/*
 * Removes the named operator, refusing (false, why filled) an unknown name, or a removal
 * that leaves no SA or no SO (nobody could approve the next change of the table).
 */
bool coord_operators_remove(coord_operators_t *ops, const char *name, char *why, size_t size);

/*
 * Checks and canonicalises the arguments of an action (words "key=value", in any order)
 * into out (COORD_ARGS_MAX): false with why filled for an action that cannot be requested,
 * an unknown, missing or repeated key, or a bad value. Actions and their keys:
 *   takeover site=A|B...            site-suspend site=S
 *   params-set lease_ms=N margin_ms=N
 *   keys-emergency zone=Z key=ID    keygen zone=Z role=ksk|zsk
 *   rules-set action=A slots=SA,SO|WI (or slots=- for one person)
 *   operator-register name=N role=SA|SO|WI key=HEX64     operator-remove name=N
 *   key-remove zone=Z key=ID|TAG    archive-distribute node=N [zone=Z]
 *   policy-set name=P digest=HEX64 [zone=Z] (name=- digest=-: the node's own file)
 */
bool coord_request_args(const char *action, const char *const *words, size_t nwords,
			char out[COORD_ARGS_MAX], char *why, size_t size);

/*
 * The archive-distribution grants (PREFIX/archive-grants, docs/approvals.md): one line per
 * grant, "NODE ZONE" or "NODE *" (every zone). Whether table (NUL-terminated, NULL or ""
 * for none) lets node import zone's keys from the archive.
 */
bool coord_grants_allow(const char *table, const char *node, const char *zone);

/*
 * table with the grant "node zone" added (zone NULL or "": "*") into out (size). A grant
 * that is there already (or covered by "node *") leaves the table as it was; a line of the
 * table that is not a grant is refused. Errors: TANDEM_EINVAL (a bad node or zone name),
 * TANDEM_ESYNTAX (a bad line in table), TANDEM_ERANGE (out too small).
 */
int coord_grants_add(const char *table, const char *node, const char *zone, char *out, size_t size);

/* The value of key in canonical args into out (size): false when absent or too long. */
bool coord_args_get(const char *args, const char *key, char *out, size_t size);

/*
 * The exact text an approver signs, in out (COORD_REQUEST_TEXT_MAX); its last line is
 * "request ID". Returns its length (without the NUL).
 */
size_t coord_request_text(const coord_request_t *req, char out[COORD_REQUEST_TEXT_MAX]);

/* Whether sig is pub's Ed25519 signature of msg. */
bool coord_approval_verify(const uint8_t pub[COORD_APPROVAL_PUB_LEN], const uint8_t *msg,
			   size_t len, const uint8_t sig[COORD_APPROVAL_SIG_LEN]);

/* What one approval did. */
typedef enum {
	COORD_APPROVE_REFUSED = 0, /* nothing changed (why says it) */
	COORD_APPROVE_RECORDED,    /* counted; the quorum is not met yet */
	COORD_APPROVE_QUORUM,      /* counted, and the quorum is met: execute it now */
	COORD_APPROVE_EXPIRED,     /* the request expired: req->state is now expired */
} coord_approve_t;

/*
 * Judges an approval (pub, sig) of req at now_ms, under rule: refused when the request is
 * not pending, the key is not registered, the signature is not of coord_request_text(req),
 * the person approved it already, or the approval fills no slot still open (e.g. a second
 * SA where the rule wants one SA and one SO or WI). A counted approval is appended to req
 * and *who names the operator (borrowed from ops; NULL when not registered). why says what
 * happened, for people and the audit log.
 */
coord_approve_t coord_request_approve(coord_request_t *req, const coord_rule_t *rule,
				      const coord_operators_t *ops,
				      const uint8_t pub[COORD_APPROVAL_PUB_LEN],
				      const uint8_t sig[COORD_APPROVAL_SIG_LEN], uint64_t now_ms,
				      const coord_operator_t **who, char *why, size_t size);

/* Whether req's approvals fill every slot of rule with distinct people. */
bool coord_request_quorum(const coord_request_t *req, const coord_rule_t *rule);

/* Marks every pending request whose expiry passed (expiry_ms <= now_ms) expired; returns
 * how many (their ids are in reqs, state COORD_REQ_EXPIRED, outcome "expired"). */
size_t coord_requests_expire(coord_requests_t *reqs, uint64_t now_ms, size_t *idx, size_t max);

/* The request of this id, or NULL (borrowed). */
coord_request_t *coord_requests_find(coord_requests_t *reqs, const char *id);

/*
 * Appends req (a copy), first dropping the oldest finished request when the table is full.
 * Errors: TANDEM_ERANGE (full of pending requests), TANDEM_EINVAL.
 */
int coord_requests_add(coord_requests_t *reqs, const coord_request_t *req);

/*
 * Signs msg with the Ed25519 key whose 32-byte seed is given (an operator's secret):
 * sig and its public key pub. Errors: TANDEM_EINVAL (OpenSSL refused it).
 */
int coord_approval_sign(const uint8_t seed[32], const uint8_t *msg, size_t len,
			uint8_t sig[COORD_APPROVAL_SIG_LEN], uint8_t pub[COORD_APPROVAL_PUB_LEN]);

/*
 * Ceremony records (DPS 5.1.1): what was done, check values, card holders and who was
 * present, as lines of text, signed by every person present:
 *
 *   tandem ceremony record v1
 *   time 2026-12-07T02:20:00.000Z
 *   what SMK generated: 3 cards, any 2 install it
 *   check-value 374d...            (any number, 0..)
 *   card-holder card-01 alice      (any number, 0..)
 *   present sa1 SA                 (two or more: NAME ROLE)
 *   signature sa1 PUBHEX SIGHEX    (one per person present, after every other line)
 *
 * Each signature is over the body: every byte before the first "signature " line.
 */
#define COORD_RECORD_HEADER "tandem ceremony record v1\n"

/* The length of the record's body (up to the first signature line). */
size_t coord_record_body(const char *text, size_t len);

/*
 * Checks a signed record: the header, a time and a what, at least two people present
 * (distinct names), exactly one signature per person present and none by anyone else,
 * each verifying over the body with the key it names. With ops (the role table; NULL for
 * a check of the record alone), every person present must be registered with the role
 * the record gives and have signed with the registered key. summary (e.g. "what ...;
 * present sa1 (SA), so1 (SO)") for the audit line. Errors: TANDEM_ESYNTAX (why says what
 * and on which line), TANDEM_EPERM (a signature or a person refused), TANDEM_EINVAL.
 */
int coord_record_check(const char *text, size_t len, const coord_operators_t *ops, char *summary,
		       size_t ssize, char *why, size_t size);

/* JSON documents (as stored in etcd and shown by tandemctl). pack: *out is the caller's
 * (free()). unpack refuses a malformed document (why says what) with TANDEM_ESYNTAX; an
 * empty input (len 0) is the empty table. Errors also TANDEM_ENOMEM, TANDEM_EINVAL. */
int coord_operators_pack(const coord_operators_t *ops, char **out);
int coord_operators_unpack(const char *text, size_t len, coord_operators_t *out, char *why,
			   size_t size);
int coord_requests_pack(const coord_requests_t *reqs, char **out);
int coord_requests_unpack(const char *text, size_t len, coord_requests_t *out, char *why,
			  size_t size);
/* One request as a JSON object (what `request show --json` prints), *out the caller's. */
int coord_request_pack(const coord_request_t *req, char **out);
int coord_request_unpack(const char *text, size_t len, coord_request_t *out, char *why,
			 size_t size);

#endif
