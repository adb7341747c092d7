/* tandem-coord's side of multi-person control: requests, approvals and the role table in etcd. */
#include "coordd_request.h"
#include "coordd_offline.h"
#include "tandem_encode.h"
#include "tandem_error.h"
#include "tandem_file.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Conditional writes lost to another coordinator before giving up. */
#define REQ_RETRIES 8
/* Longest and shortest time a request may take approvals. */
#define REQ_TTL_MIN_MS 1000u
#define REQ_TTL_MAX_MS (7u * 24u * 3600u * 1000u)

int coordd_requests_init(coordd_requests_t *c, char *error, size_t esize)
{
	char why[160];
	size_t len = 0;
	c->reqs = calloc(1, sizeof(*c->reqs));
	c->ops = calloc(1, sizeof(*c->ops));
	c->mirror = NULL;
	if (c->reqs == NULL || c->ops == NULL) {
		snprintf(error, esize, "out of memory");
		return TANDEM_ENOMEM;
	}
	if (c->mirror_path == NULL) {
		return TANDEM_OK;
	}
	int ret = tandem_file_read(c->mirror_path, COORDRPC_ARCHIVE_MAX, &c->mirror, &len);
	if (ret == TANDEM_ENOENT) {
		return TANDEM_OK; /* written at the first read of the table */
	}
	if (ret == TANDEM_OK) {
		ret = coord_operators_unpack(c->mirror, len, c->ops, why, sizeof(why));
	}
	if (ret != TANDEM_OK) {
		snprintf(error, esize, "role mirror %.100s: %s", c->mirror_path,
			 ret == TANDEM_ESYNTAX ? why : tandem_strerror(ret));
	}
	return ret;
}

void coordd_requests_deinit(coordd_requests_t *c)
{
	if (c != NULL) {
		free(c->reqs);
		free(c->ops);
		free(c->mirror);
		c->reqs = NULL;
		c->ops = NULL;
		c->mirror = NULL;
	}
}

bool coordd_requests_kind(coordrpc_kind_t kind)
{
	return kind == COORDRPC_REQUEST_CREATE || kind == COORDRPC_REQUEST_APPROVE ||
	       kind == COORDRPC_REQUEST_CANCEL || kind == COORDRPC_REQUEST_GET ||
	       kind == COORDRPC_OPERATORS_GET || kind == COORDRPC_OPERATORS_BOOTSTRAP ||
	       kind == COORDRPC_CEREMONY_RECORD;
}

static void audit(coordd_requests_t *c, const char *type, tandem_audit_level_t level,
		  const char *actor, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void audit(coordd_requests_t *c, const char *type, tandem_audit_level_t level,
		  const char *actor, const char *fmt, ...)
{
	char details[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(details, sizeof(details), fmt, ap);
	va_end(ap);
	tandem_audit_event_t ev = {.type = type,
				   .level = level,
				   .actor = actor,
				   .zone = NULL,
				   .key_id = -1,
				   .details = details};
	tandem_audit(c->audit, &ev);
}

static void refuse(coordrpc_decision_t *dec, coord_reason_t reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void refuse(coordrpc_decision_t *dec, coord_reason_t reason, const char *fmt, ...)
{
	va_list ap;
	dec->accepted = false;
	dec->reason = reason;
	va_start(ap, fmt);
	vsnprintf(dec->text, sizeof(dec->text), fmt, ap);
	va_end(ap);
}

static void accept(coordrpc_decision_t *dec, const char *text)
{
	dec->accepted = true;
	dec->reason = COORD_R_OK;
	snprintf(dec->text, sizeof(dec->text), "%s", text);
}

/* Reads one document of the cluster (NUL-terminated copy in *buf, the caller frees). */
static int doc_read(coordd_requests_t *c, coord_doc_t doc, char **text, size_t *len, int64_t *rev)
{
	uint8_t *buf = NULL;
	int ret = coord_store_doc_get(c->store, doc, "", c->diag, &buf, len, rev);
	if (ret != TANDEM_OK) {
		return ret;
	}
	char *t = malloc(*len + 1);
	if (t == NULL) {
		free(buf);
		return TANDEM_ENOMEM;
	}
	if (*len > 0) {
		memcpy(t, buf, *len);
	}
	t[*len] = '\0';
	free(buf);
	*text = t;
	return TANDEM_OK;
}

static void audit(coordd_requests_t *c, const char *type, tandem_audit_level_t level,
		  const char *actor, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Keeps the mirror equal to text (the role table in etcd), atomically. */
static void mirror_write(coordd_requests_t *c, const char *text)
{
	char actor[COORD_ID_MAX + 8];
	tandem_afile_t *f = NULL;
	if (c->mirror_path == NULL || (c->mirror != NULL && strcmp(c->mirror, text) == 0)) {
		return;
	}
	char *copy = strdup(text);
	int ret = copy == NULL ? TANDEM_ENOMEM : tandem_afile_open(c->mirror_path, 0600, &f);
	if (ret == TANDEM_OK) {
		fputs(text, tandem_afile_stream(f));
		ret = tandem_afile_commit(f);
		f = NULL;
	}
	snprintf(actor, sizeof(actor), "coord:%s", c->coord_name);
	if (ret != TANDEM_OK) {
		tandem_afile_abort(f);
		free(copy);
		audit(c, "operators.mirror", TANDEM_AUDIT_WARNING, actor,
		      "role mirror %s not written: %s", c->mirror_path, tandem_strerror(ret));
		return;
	}
	free(c->mirror);
	c->mirror = copy;
	audit(c, "operators.mirror", TANDEM_AUDIT_INFO, actor, "role mirror %s updated",
	      c->mirror_path);
}

/* etcd has no role table but the mirror has one: a cluster rebuilt without its data. The
 * mirror's table is written back (only if etcd still has none), never decided without. */
static int mirror_restore(coordd_requests_t *c, int64_t *rev, char *error, size_t esize)
{
	char actor[COORD_ID_MAX + 8], why[160];
	int64_t now_rev = 0;
	bool won = false;
	snprintf(actor, sizeof(actor), "coord:%s", c->coord_name);
	int ret = coord_operators_unpack(c->mirror, strlen(c->mirror), c->ops, why, sizeof(why));
	if (ret == TANDEM_OK) {
		ret = coord_store_doc_put(c->store, COORD_DOC_OPERATORS, "",
					  (const uint8_t *)c->mirror, strlen(c->mirror), 0, c->diag,
					  &won, &now_rev);
	}
	if (ret != TANDEM_OK) {
		snprintf(error, esize, "role table: restoring the mirror: %s",
			 ret == TANDEM_ESYNTAX ? why : tandem_strerror(ret));
		return ret;
	}
	if (!won) {
		snprintf(error, esize, "role table: written meanwhile; ask again");
		return TANDEM_COORD_ECONFLICT;
	}
	*rev = now_rev;
	audit(c, "operators.restore", TANDEM_AUDIT_CRITICAL, actor,
	      "etcd had no role table: restored from the mirror %s (%zu operators)", c->mirror_path,
	      c->ops->n);
	return TANDEM_OK;
}

static int ops_load(coordd_requests_t *c, int64_t *rev, char *error, size_t esize)
{
	char *text = NULL, why[160];
	size_t len = 0;
	int ret = doc_read(c, COORD_DOC_OPERATORS, &text, &len, rev);
	if (ret == TANDEM_OK && *rev == 0 && c->mirror != NULL) {
		free(text);
		return mirror_restore(c, rev, error, esize);
	}
	if (ret == TANDEM_OK) {
		ret = coord_operators_unpack(text, len, c->ops, why, sizeof(why));
		if (ret != TANDEM_OK) {
			snprintf(error, esize, "stored role table: %s", why);
		} else if (*rev != 0) {
			mirror_write(c, text);
		}
	} else {
		snprintf(error, esize, "store: role table: %s", tandem_strerror(ret));
	}
	free(text);
	return ret;
}

void coordd_requests_mirror_refresh(coordd_requests_t *c)
{
	char error[COORD_TEXT_MAX];
	int64_t rev = 0;
	if (c->mirror_path != NULL) {
		(void)ops_load(c, &rev, error, sizeof(error));
		tandem_diag_clear(c->diag);
	}
}

static int reqs_load(coordd_requests_t *c, int64_t *rev, char *error, size_t esize)
{
	char *text = NULL, why[160];
	size_t len = 0;
	int ret = doc_read(c, COORD_DOC_REQUESTS, &text, &len, rev);
	if (ret == TANDEM_OK) {
		ret = coord_requests_unpack(text, len, c->reqs, why, sizeof(why));
		if (ret != TANDEM_OK) {
			snprintf(error, esize, "stored requests: %s", why);
		}
	} else {
		snprintf(error, esize, "store: requests: %s", tandem_strerror(ret));
	}
	free(text);
	return ret;
}

/* Writes c->reqs if still at rev; *won false when another coordinator wrote first. */
static int reqs_store(coordd_requests_t *c, int64_t rev, bool *won, char *error, size_t esize)
{
	char *text = NULL;
	int64_t now_rev = 0;
	int ret = coord_requests_pack(c->reqs, &text);
	if (ret == TANDEM_OK) {
		ret = coord_store_doc_put(c->store, COORD_DOC_REQUESTS, "", (const uint8_t *)text,
					  strlen(text), rev, c->diag, won, &now_rev);
	}
	if (ret != TANDEM_OK) {
		snprintf(error, esize, "store: requests: %s", tandem_strerror(ret));
	}
	free(text);
	return ret;
}

static void audit_expired(coordd_requests_t *c, const size_t *idx, size_t n)
{
	char actor[COORD_ID_MAX + 8];
	snprintf(actor, sizeof(actor), "coord:%s", c->coord_name);
	for (size_t i = 0; i < n; i++) {
		const coord_request_t *r = &c->reqs->reqs[idx[i]];
		audit(c, "request.expire", TANDEM_AUDIT_NOTICE, actor,
		      "request %s %s %s expired with %zu approval(s)", r->id, r->action, r->args,
		      r->napprovals);
	}
}

/* Loads the requests and expires the overdue ones (not written yet: *nexp of them). */
static int reqs_load_swept(coordd_requests_t *c, uint64_t now, int64_t *rev, size_t *idx,
			   size_t *nexp, char *error, size_t esize)
{
	int ret = reqs_load(c, rev, error, esize);
	*nexp = ret == TANDEM_OK ? coord_requests_expire(c->reqs, now, idx, COORD_REQUESTS_MAX) : 0;
	return ret;
}

static int random_id(char out[COORD_REQUEST_ID_MAX])
{
	uint8_t b[8];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		return TANDEM_EIO;
	}
	for (size_t i = 0; i < sizeof(b); i++) {
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	}
	return TANDEM_OK;
}

/* Checks the action's own preconditions on the role table (register, remove). */
static bool table_check(coordd_requests_t *c, const char *action, const char *args, char *why,
			size_t size, coord_operators_t *after)
{
	*after = *c->ops;
	if (strcmp(action, "operator-register") == 0) {
		coord_operator_t op;
		char role[4], pub[2 * COORD_APPROVAL_PUB_LEN + 1];
		memset(&op, 0, sizeof(op));
		if (!coord_args_get(args, "name", op.name, sizeof(op.name)) ||
		    !coord_args_get(args, "role", role, sizeof(role)) ||
		    !coord_args_get(args, "pub", pub, sizeof(pub)) ||
		    coord_role_parse(role, &op.role) != TANDEM_OK ||
		    tandem_hex_decode(pub, op.pub, sizeof(op.pub)) != TANDEM_OK) {
			snprintf(why, size, "operator-register: bad arguments");
			return false;
		}
		return coord_operators_add(after, &op, why, size);
	}
	if (strcmp(action, "operator-remove") == 0) {
		char name[COORD_ID_MAX];
		return coord_args_get(args, "name", name, sizeof(name)) &&
		       coord_operators_remove(after, name, why, size);
	}
	return true;
}

static int req_create(coordd_requests_t *c, const char *peer, const coordrpc_request_t *r,
		      uint64_t now, coordrpc_decision_t *dec, char *error, size_t esize)
{
	char why[COORD_TEXT_MAX], actor[COORD_ID_MAX + 16], need[96];
	const char *words[8];
	char argbuf[COORDRPC_ARGS_MAX];
	int64_t orev = 0, rev = 0;
	size_t idx[COORD_REQUESTS_MAX], nexp = 0;
	coord_request_t req;
	snprintf(actor, sizeof(actor), "operator:%s", peer);
	memset(&req, 0, sizeof(req));
	int ret = ops_load(c, &orev, error, esize);
	if (ret != TANDEM_OK) {
		return ret;
	}
	memcpy(argbuf, r->args, sizeof(argbuf));
	size_t nwords = tandem_split(argbuf, ' ', words, 7);
	const coord_rule_t *rule = coord_rule_find(c->rules, r->action);
	coord_operators_t *after = malloc(sizeof(*after));
	if (after == NULL) {
		return TANDEM_ENOMEM;
	}
	if (c->ops->n == 0) {
		snprintf(why, sizeof(why),
			 "no operator is registered: the role table is bootstrapped first "
			 "(tandemctl operator bootstrap)");
	} else if (nwords > 7) {
		snprintf(why, sizeof(why), "%.31s: too many arguments", r->action);
	} else if (!coord_request_args(r->action, words, nwords, req.args, why, sizeof(why))) {
		/* why says it */
	} else if (rule == NULL || rule->nslots == 0) {
		snprintf(why, sizeof(why), "%s needs no approvals: use its direct command",
			 r->action);
	} else if (r->ttl_ms != 0 && (r->ttl_ms < REQ_TTL_MIN_MS || r->ttl_ms > REQ_TTL_MAX_MS)) {
		snprintf(why, sizeof(why), "expiry %" PRIu64 " ms: want 1 s to 7 days", r->ttl_ms);
	} else if (table_check(c, r->action, req.args, why, sizeof(why), after)) {
		why[0] = '\0';
	}
	free(after);
	if (why[0] != '\0') {
		audit(c, "request.refuse", TANDEM_AUDIT_WARNING, actor,
		      "request %.31s %.200s not recorded: %s", r->action, r->args, why);
		refuse(dec, COORD_R_BAD_INPUT, "%s", why);
		return TANDEM_OK;
	}
	if (random_id(req.id) != TANDEM_OK) {
		snprintf(error, esize, "no randomness for a request id");
		return TANDEM_EIO;
	}
	snprintf(req.action, sizeof(req.action), "%s", r->action);
	snprintf(req.requester, sizeof(req.requester), "%s", peer);
	req.created_ms = now;
	req.expiry_ms = now + (r->ttl_ms != 0 ? r->ttl_ms : COORD_REQUEST_TTL_MS);
	req.state = COORD_REQ_PENDING;
	for (int attempt = 0; attempt < REQ_RETRIES; attempt++) {
		bool won = false;
		ret = reqs_load_swept(c, now, &rev, idx, &nexp, error, esize);
		if (ret != TANDEM_OK) {
			return ret;
		}
		if (coord_requests_add(c->reqs, &req) != TANDEM_OK) {
			refuse(dec, COORD_R_BUSY, "%d requests are pending: cancel some first",
			       COORD_REQUESTS_MAX);
			return TANDEM_OK;
		}
		ret = reqs_store(c, rev, &won, error, esize);
		if (ret != TANDEM_OK) {
			return ret;
		}
		if (won) {
			audit_expired(c, idx, nexp);
			audit(c, "request.create", TANDEM_AUDIT_NOTICE, actor,
			      "request %s %s %s, needs %s, expires %" PRIu64, req.id, req.action,
			      req.args, coord_rule_str(rule, need, sizeof(need)), req.expiry_ms);
			char text[COORD_REQUEST_TEXT_MAX];
			size_t len = coord_request_text(&req, text);
			dec->doc = malloc(len);
			if (dec->doc == NULL) {
				return TANDEM_ENOMEM;
			}
			memcpy(dec->doc, text, len);
			dec->doc_len = len;
			snprintf(why, sizeof(why), "request %s: %s needs %s", req.id, req.action,
				 need);
			accept(dec, why);
			return TANDEM_OK;
		}
	}
	snprintf(error, esize, "store: requests: lost %d races", REQ_RETRIES);
	return TANDEM_COORD_ECONFLICT;
}

/* Sets one request's state and outcome (by id) through the store, retried on a lost race. */
static int req_update(coordd_requests_t *c, const char *id, coord_req_state_t state,
		      const char *outcome, char *error, size_t esize)
{
	for (int attempt = 0; attempt < REQ_RETRIES; attempt++) {
		int64_t rev = 0;
		bool won = false;
		int ret = reqs_load(c, &rev, error, esize);
		coord_request_t *req = ret == TANDEM_OK ? coord_requests_find(c->reqs, id) : NULL;
		if (ret != TANDEM_OK) {
			return ret;
		}
		if (req == NULL) {
			snprintf(error, esize, "request %s vanished", id);
			return TANDEM_ENOENT;
		}
		req->state = state;
		snprintf(req->outcome, sizeof(req->outcome), "%s", outcome);
		ret = reqs_store(c, rev, &won, error, esize);
		if (ret != TANDEM_OK || won) {
			return ret;
		}
	}
	snprintf(error, esize, "store: requests: lost %d races", REQ_RETRIES);
	return TANDEM_COORD_ECONFLICT;
}

/* The role table's own actions: the table changes, conditioned on its revision. */
static int table_exec(coordd_requests_t *c, const coord_request_t *req, bool *accepted, char *text,
		      size_t size, char *error, size_t esize)
{
	coord_operators_t *after = malloc(sizeof(*after));
	int ret = after == NULL ? TANDEM_ENOMEM : TANDEM_OK;
	for (int attempt = 0; ret == TANDEM_OK && attempt < REQ_RETRIES; attempt++) {
		int64_t rev = 0, now_rev = 0;
		bool won = false;
		char *doc = NULL;
		ret = ops_load(c, &rev, error, esize);
		if (ret != TANDEM_OK) {
			break;
		}
		if (!table_check(c, req->action, req->args, text, size, after)) {
			*accepted = false;
			break;
		}
		ret = coord_operators_pack(after, &doc);
		if (ret == TANDEM_OK) {
			ret = coord_store_doc_put(c->store, COORD_DOC_OPERATORS, "",
						  (const uint8_t *)doc, strlen(doc), rev, c->diag,
						  &won, &now_rev);
		}
		free(doc);
		if (ret == TANDEM_OK && won) {
			*accepted = true;
			snprintf(text, size, "role table: %.31s %.120s", req->action, req->args);
			break;
		}
		if (ret == TANDEM_OK && attempt + 1 == REQ_RETRIES) {
			ret = TANDEM_COORD_ECONFLICT;
		}
	}
	if (ret != TANDEM_OK && error[0] == '\0') {
		snprintf(error, esize, "store: role table: %s", tandem_strerror(ret));
	}
	free(after);
	return ret;
}

/* The quorum is met and this coordinator claimed the request: execute it, record how. */
static int req_execute(coordd_requests_t *c, const coord_request_t *req, uint64_t now, char *text,
		       size_t size, bool *accepted, coordrpc_decision_t *dec, char *error,
		       size_t esize)
{
	char actor[COORD_ID_MAX + 8];
	snprintf(actor, sizeof(actor), "coord:%s", c->coord_name);
	bool table = strncmp(req->action, "operator-", 9) == 0;
	int ret = table ? table_exec(c, req, accepted, text, size, error, esize)
			: c->exec(c->exec_arg, req, now, accepted, text, size, dec);
	if (ret != TANDEM_OK) {
		/* the request stays claimed (executed, "executing"): nothing runs it twice; the
		 * operator checks the state and makes a new request */
		audit(c, "request.execute", TANDEM_AUDIT_CRITICAL, actor,
		      "request %s %s %s: the store failed during execution: %s", req->id,
		      req->action, req->args, error);
		return ret;
	}
	audit(c, "request.execute", *accepted ? TANDEM_AUDIT_NOTICE : TANDEM_AUDIT_WARNING, actor,
	      "request %s %s %s %s: %s", req->id, req->action, req->args,
	      *accepted ? "executed" : "refused on execution", text);
	return req_update(c, req->id, *accepted ? COORD_REQ_EXECUTED : COORD_REQ_REFUSED, text,
			  error, esize);
}

static int req_approve(coordd_requests_t *c, const char *peer, const coordrpc_request_t *r,
		       uint64_t now, coordrpc_decision_t *dec, char *error, size_t esize)
{
	char why[COORD_TEXT_MAX], actor[COORD_ID_MAX + 16];
	size_t idx[COORD_REQUESTS_MAX], nexp = 0;
	int64_t orev = 0;
	int ret = ops_load(c, &orev, error, esize);
	if (ret != TANDEM_OK) {
		return ret;
	}
	if (!r->has_sig) {
		refuse(dec, COORD_R_BAD_INPUT, "an approval carries a public key and a signature");
		return TANDEM_OK;
	}
	for (int attempt = 0; attempt < REQ_RETRIES; attempt++) {
		int64_t rev = 0;
		bool won = false;
		const coord_operator_t *who = NULL;
		ret = reqs_load_swept(c, now, &rev, idx, &nexp, error, esize);
		if (ret != TANDEM_OK) {
			return ret;
		}
		coord_request_t *req = coord_requests_find(c->reqs, r->req_id);
		coord_approve_t res = COORD_APPROVE_REFUSED;
		if (req == NULL) {
			snprintf(why, sizeof(why), "no request %.16s", r->req_id);
		} else {
			res = coord_request_approve(req, coord_rule_find(c->rules, req->action),
						    c->ops, r->pub, r->sig, now, &who, why,
						    sizeof(why));
		}
		snprintf(actor, sizeof(actor), "%s%s",
			 who != NULL ? "approver:" : "operator:", who != NULL ? who->name : peer);
		if (res == COORD_APPROVE_QUORUM) {
			req->state = COORD_REQ_EXECUTED; /* claimed: no other coordinator runs it */
			snprintf(req->outcome, sizeof(req->outcome), "executing");
		}
		if (res == COORD_APPROVE_REFUSED && nexp == 0) {
			audit(c, "request.refuse", TANDEM_AUDIT_WARNING, actor,
			      "approval of request %.16s refused: %s", r->req_id, why);
			refuse(dec, COORD_R_BAD_INPUT, "%s", why);
			return TANDEM_OK;
		}
		ret = reqs_store(c, rev, &won, error, esize);
		if (ret != TANDEM_OK) {
			return ret;
		}
		if (!won) {
			continue;
		}
		audit_expired(c, idx, nexp);
		if (res == COORD_APPROVE_REFUSED || res == COORD_APPROVE_EXPIRED) {
			audit(c, res == COORD_APPROVE_EXPIRED ? "request.expire" : "request.refuse",
			      TANDEM_AUDIT_WARNING, actor, "approval of request %.16s refused: %s",
			      r->req_id, why);
			refuse(dec, COORD_R_BAD_INPUT, "%s", why);
			return TANDEM_OK;
		}
		audit(c, "request.approve", TANDEM_AUDIT_NOTICE, actor,
		      "request %s %s %s: %s (CURVE peer %s)", req->id, req->action, req->args, why,
		      peer);
		if (res == COORD_APPROVE_RECORDED) {
			accept(dec, why);
			return TANDEM_OK;
		}
		coord_request_t claimed = *req;
		char text[COORD_TEXT_MAX];
		bool accepted = false;
		ret =
		    req_execute(c, &claimed, now, text, sizeof(text), &accepted, dec, error, esize);
		if (ret != TANDEM_OK) {
			return ret;
		}
		if (accepted) {
			snprintf(why, sizeof(why), "request %s executed: %.150s", claimed.id, text);
			accept(dec, why);
		} else {
			refuse(dec, COORD_R_BAD_INPUT, "request %s refused on execution: %.140s",
			       claimed.id, text);
		}
		return TANDEM_OK;
	}
	snprintf(error, esize, "store: requests: lost %d races", REQ_RETRIES);
	return TANDEM_COORD_ECONFLICT;
}

static int req_cancel_or_get(coordd_requests_t *c, const char *peer, const coordrpc_request_t *r,
			     uint64_t now, coordrpc_decision_t *dec, char *error, size_t esize)
{
	char actor[COORD_ID_MAX + 16], text[COORD_TEXT_MAX];
	size_t idx[COORD_REQUESTS_MAX], nexp = 0;
	bool cancel = r->kind == COORDRPC_REQUEST_CANCEL;
	snprintf(actor, sizeof(actor), "operator:%s", peer);
	for (int attempt = 0; attempt < REQ_RETRIES; attempt++) {
		int64_t rev = 0;
		bool won = false;
		int ret = reqs_load_swept(c, now, &rev, idx, &nexp, error, esize);
		if (ret != TANDEM_OK) {
			return ret;
		}
		coord_request_t *req = coord_requests_find(c->reqs, r->req_id);
		text[0] = '\0';
		if ((cancel || r->req_id[0] != '\0') && req == NULL) {
			snprintf(text, sizeof(text), "no request %.16s", r->req_id);
		} else if (cancel && req->state != COORD_REQ_PENDING) {
			snprintf(text, sizeof(text),
				 "request %s is %s: only a pending one is cancelled", req->id,
				 coord_req_state_str(req->state));
		} else if (cancel) {
			req->state = COORD_REQ_CANCELLED;
			snprintf(req->outcome, sizeof(req->outcome), "cancelled by %s", peer);
		}
		bool write = nexp > 0 || (cancel && text[0] == '\0');
		if (write) {
			ret = reqs_store(c, rev, &won, error, esize);
			if (ret != TANDEM_OK) {
				return ret;
			}
			if (!won) {
				continue;
			}
			audit_expired(c, idx, nexp);
		}
		if (text[0] != '\0') {
			if (cancel) {
				audit(c, "request.refuse", TANDEM_AUDIT_WARNING, actor,
				      "cancel refused: %s", text);
			}
			refuse(dec, COORD_R_BAD_INPUT, "%s", text);
			return TANDEM_OK;
		}
		if (cancel) {
			audit(c, "request.cancel", TANDEM_AUDIT_NOTICE, actor,
			      "request %s %s %s cancelled with %zu approval(s)", req->id,
			      req->action, req->args, req->napprovals);
			snprintf(text, sizeof(text), "request %s cancelled", req->id);
			accept(dec, text);
			return TANDEM_OK;
		}
		char *doc = NULL;
		ret = req != NULL ? coord_request_pack(req, &doc)
				  : coord_requests_pack(c->reqs, &doc);
		if (ret != TANDEM_OK) {
			return ret;
		}
		dec->doc = (uint8_t *)doc;
		dec->doc_len = strlen(doc);
		accept(dec, "read");
		return TANDEM_OK;
	}
	snprintf(error, esize, "store: requests: lost %d races", REQ_RETRIES);
	return TANDEM_COORD_ECONFLICT;
}

/* The first role table, while there is none: at least one SA and one SO, so that the next
 * change of the table can be approved. */
static int ops_bootstrap(coordd_requests_t *c, const char *peer, const coordrpc_request_t *r,
			 coordrpc_decision_t *dec, char *error, size_t esize)
{
	char why[COORD_TEXT_MAX], actor[COORD_ID_MAX + 16];
	snprintf(actor, sizeof(actor), "operator:%s", peer);
	int64_t now_rev = 0, orev = 0;
	bool won = false;
	unsigned roles = 0;
	/* a table in etcd or in this coordinator's mirror (restored by the load) wins */
	int lret = ops_load(c, &orev, error, esize);
	if (lret != TANDEM_OK) {
		return lret;
	}
	char *text = malloc(r->doc_len + 1);
	int ret = text == NULL ? TANDEM_ENOMEM : TANDEM_OK;
	if (ret == TANDEM_OK && r->doc_len > 0) {
		memcpy(text, r->doc, r->doc_len);
	}
	if (ret == TANDEM_OK) {
		text[r->doc_len] = '\0';
		ret = coord_operators_unpack(text, r->doc_len, c->ops, why, sizeof(why));
		if (ret == TANDEM_ESYNTAX || ret == TANDEM_EINVAL) {
			ret = TANDEM_OK;
			c->ops->n = 0;
		} else {
			why[0] = '\0';
		}
	}
	for (size_t i = 0; ret == TANDEM_OK && i < c->ops->n; i++) {
		roles |= (unsigned)c->ops->ops[i].role;
	}
	if (ret == TANDEM_OK && why[0] == '\0' &&
	    (roles & (COORD_ROLE_SA | COORD_ROLE_SO)) != (COORD_ROLE_SA | COORD_ROLE_SO)) {
		snprintf(why, sizeof(why), "the first role table needs at least one SA and one SO");
	}
	if (ret == TANDEM_OK && why[0] == '\0') {
		ret = coord_store_doc_put(c->store, COORD_DOC_OPERATORS, "", (const uint8_t *)text,
					  r->doc_len, 0, c->diag, &won, &now_rev);
		if (ret != TANDEM_OK) {
			snprintf(error, esize, "store: role table: %s", tandem_strerror(ret));
		} else if (!won) {
			snprintf(why, sizeof(why),
				 "the role table exists already: operators are registered through "
				 "requests (tandemctl request operator-register ...)");
		}
	}
	if (ret == TANDEM_OK && why[0] != '\0') {
		audit(c, "operators.bootstrap", TANDEM_AUDIT_WARNING, actor, "refused: %s", why);
		refuse(dec, COORD_R_BAD_INPUT, "%s", why);
	} else if (ret == TANDEM_OK) {
		char names[512];
		size_t used = 0;
		names[0] = '\0';
		for (size_t i = 0; i < c->ops->n && used < sizeof(names); i++) {
			used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s=%s",
						 i ? " " : "", c->ops->ops[i].name,
						 coord_role_str(c->ops->ops[i].role));
		}
		audit(c, "operators.bootstrap", TANDEM_AUDIT_NOTICE, actor,
		      "role table created: %s", names);
		snprintf(why, sizeof(why), "role table created with %zu operators", c->ops->n);
		accept(dec, why);
	}
	free(text);
	return ret;
}

/* A ceremony record (DPS 5.1.1) signed by everyone present, each registered in the role
 * the record gives: checked against the role table and written to the audit log. */
static int ceremony_import(coordd_requests_t *c, const char *peer, const coordrpc_request_t *r,
			   coordrpc_decision_t *dec, char *error, size_t esize)
{
	char actor[COORD_ID_MAX + 16], why[COORD_TEXT_MAX], sum[400], digest[65];
	uint8_t md[32];
	unsigned int mdlen = 0;
	int64_t rev = 0;
	snprintf(actor, sizeof(actor), "operator:%s", peer);
	int ret = ops_load(c, &rev, error, esize);
	if (ret != TANDEM_OK) {
		return ret;
	}
	if (EVP_Digest(r->doc, r->doc_len, md, &mdlen, EVP_sha256(), NULL) != 1) {
		snprintf(error, esize, "no SHA-256");
		return TANDEM_EINTERNAL;
	}
	for (size_t i = 0; i < sizeof(md); i++) {
		snprintf(digest + 2 * i, 3, "%02x", md[i]);
	}
	ret = r->doc_len == 0 ? TANDEM_ESYNTAX
			      : coord_record_check((const char *)r->doc, r->doc_len, c->ops, sum,
						   sizeof(sum), why, sizeof(why));
	if (ret == TANDEM_ENOMEM) {
		return ret;
	}
	if (ret != TANDEM_OK) {
		if (r->doc_len == 0) {
			snprintf(why, sizeof(why), "an empty record");
		}
		audit(c, "ceremony.refuse", TANDEM_AUDIT_WARNING, actor,
		      "ceremony record sha256 %s refused: %s", digest, why);
		refuse(dec, COORD_R_BAD_INPUT, "ceremony record refused: %s", why);
		return TANDEM_OK;
	}
	audit(c, "ceremony.record", TANDEM_AUDIT_NOTICE, actor, "ceremony record sha256 %s: %s",
	      digest, sum);
	snprintf(why, sizeof(why), "ceremony record %.16s accepted: %.150s", digest, sum);
	accept(dec, why);
	return TANDEM_OK;
}

int coordd_requests_handle(coordd_requests_t *c, const char *peer, const coordrpc_request_t *r,
			   uint64_t now_ms, coordrpc_decision_t *dec, char *error, size_t esize)
{
	memset(dec, 0, sizeof(*dec));
	error[0] = '\0';
	switch (r->kind) {
	case COORDRPC_REQUEST_CREATE: return req_create(c, peer, r, now_ms, dec, error, esize);
	case COORDRPC_REQUEST_APPROVE: return req_approve(c, peer, r, now_ms, dec, error, esize);
	case COORDRPC_REQUEST_CANCEL:
	case COORDRPC_REQUEST_GET: return req_cancel_or_get(c, peer, r, now_ms, dec, error, esize);
	case COORDRPC_OPERATORS_BOOTSTRAP: return ops_bootstrap(c, peer, r, dec, error, esize);
	case COORDRPC_CEREMONY_RECORD:
		/* the same path takes offline audit files (tandemctl audit import-offline) */
		if (coordd_offline_is(r->doc, r->doc_len)) {
			return coordd_offline_import(c, peer, r->doc, r->doc_len, dec, error,
						     esize);
		}
		return ceremony_import(c, peer, r, dec, error, esize);
	case COORDRPC_OPERATORS_GET: {
		int64_t rev = 0;
		char *doc = NULL;
		if (strcmp(r->req_id, "rules") == 0) {
			/* the rules in force (the cluster's, as the dispatcher just read them) */
			size_t cap = 64u * COORD_RULES_MAX;
			doc = malloc(cap);
			int ret =
			    doc == NULL ? TANDEM_ENOMEM : coord_rules_format(c->rules, doc, cap);
			if (ret == TANDEM_OK) {
				dec->doc = (uint8_t *)doc;
				dec->doc_len = strlen(doc);
				accept(dec, "read");
			} else {
				free(doc);
			}
			return ret;
		}
		int ret = ops_load(c, &rev, error, esize);
		if (ret == TANDEM_OK) {
			ret = coord_operators_pack(c->ops, &doc);
		}
		if (ret == TANDEM_OK) {
			dec->doc = (uint8_t *)doc;
			dec->doc_len = strlen(doc);
			accept(dec, "read");
		}
		return ret;
	}
	default: break;
	}
	snprintf(error, esize, "not a request kind");
	return TANDEM_EINVAL;
}

bool coordd_requests_direct_refused(coordd_requests_t *c, const char *action, const char *args,
				    char *text, size_t size)
{
	char error[COORD_TEXT_MAX], need[96];
	int64_t rev = 0;
	const coord_rule_t *rule = coord_rule_find(c->rules, action);
	if (rule == NULL || rule->nslots == 0) {
		return false;
	}
	if (ops_load(c, &rev, error, sizeof(error)) != TANDEM_OK) {
		snprintf(text, size, "%.100s: cannot tell whether it needs approvals: refused",
			 error);
		return true;
	}
	if (c->ops->n == 0) {
		return false; /* no role table yet: docs/approvals.md, "Bootstrap" */
	}
	snprintf(text, size, "%s needs approvals (%s): tandemctl request %s %.80s", action,
		 coord_rule_str(rule, need, sizeof(need)), action, args);
	return true;
}
