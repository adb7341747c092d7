/* tandem-coord's signing policies in etcd (docs/policy.md, "In a cluster"). */
#include "coordd_policy.h"

#include "coord_approval.h"
#include "kasp_policy.h"
#include "kasp_policy_doc.h"
#include "tandem_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A stored policy as read: its document (owned), digest and revision; rev 0: none. */
typedef struct stored {
	uint8_t *doc;
	size_t len;
	int64_t rev;
	uint8_t digest[KASP_POLICY_DIGEST_LEN];
	char hex[KASP_POLICY_DIGEST_HEX];
	const char *text;
	size_t text_len;
} stored_t;

static void audit(const coordd_policy_ctx_t *c, const char *type, const char *zone,
		  const char *details)
{
	tandem_audit_event_t ev = {.type = type,
				   .level = TANDEM_AUDIT_NOTICE,
				   .actor = c->actor,
				   .zone = zone,
				   .key_id = -1,
				   .details = details};
	tandem_audit(c->audit, &ev);
}

static void refuse(coordrpc_decision_t *dec, coord_reason_t reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void refuse(coordrpc_decision_t *dec, coord_reason_t reason, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(dec->text, sizeof(dec->text), fmt, ap);
	va_end(ap);
	dec->accepted = false;
	dec->reason = reason;
}

/* Reads document kind doc of name; a document that is not a stored policy is an error
 * (TANDEM_KASP_EPOLICY: altered in etcd). */
static int stored_get(const coordd_policy_ctx_t *c, coord_doc_t doc, const char *name, stored_t *s)
{
	memset(s, 0, sizeof(*s));
	int ret = coord_store_doc_get(c->store, doc, name, c->diag, &s->doc, &s->len, &s->rev);
	if (ret != TANDEM_OK || s->rev == 0) {
		return ret;
	}
	ret = kasp_policy_doc_unpack(s->doc, s->len, s->digest, &s->text, &s->text_len);
	if (ret != TANDEM_OK) {
		return TANDEM_KASP_EPOLICY;
	}
	kasp_policy_digest_hex(s->digest, s->hex);
	return TANDEM_OK;
}

/* The zones whose policy is name: how many, and their names (space-separated, cut short). */
static int zones_using(const coordd_policy_ctx_t *c, const char *name, size_t *n, char *list,
		       size_t size)
{
	coord_etcd_range_t *r = NULL;
	size_t plen = 0, used = 0;
	int ret = coord_store_doc_list(c->store, COORD_DOC_ZONE_POLICY, c->diag, &r, &plen);
	*n = 0;
	if (list != NULL && size > 0) {
		list[0] = '\0';
	}
	if (ret != TANDEM_OK) {
		return ret;
	}
	for (size_t i = 0; i < r->n; i++) {
		const coord_etcd_kv_t *kv = &r->kvs[i];
		if (kv->key_len <= plen || strcmp((const char *)kv->value, name) != 0) {
			continue;
		}
		(*n)++;
		if (list != NULL && used + 2 < size) {
			int w = snprintf(list + used, size - used, "%s%s", used > 0 ? " " : "",
					 kv->key + plen);
			used = w < 0 || (size_t)w >= size - used ? size - 1 : used + (size_t)w;
		}
	}
	coord_etcd_range_free(r);
	return TANDEM_OK;
}

/* The diag's messages joined by "; " into text. */
static void diag_text(const tandem_diag_t *diag, char *text, size_t size)
{
	size_t used = 0;
	text[0] = '\0';
	for (size_t i = 0; i < tandem_diag_kept(diag) && used + 3 < size; i++) {
		if (tandem_diag_code(diag, i) == TANDEM_OK) {
			continue; /* warnings */
		}
		int w = snprintf(text + used, size - used, "%s%s", used > 0 ? "; " : "",
				 tandem_diag_msg(diag, i));
		used = w < 0 || (size_t)w >= size - used ? size - 1 : used + (size_t)w;
	}
}

/* Writes the zone's policy name ("-": none, the node's own file) at the revision read. */
static int zone_policy_write(const coordd_policy_ctx_t *c, const char *zone, const char *name,
			     const char *hex, coordrpc_decision_t *dec)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int64_t rev = 0, nrev = 0;
	bool won = false;
	char old[KASP_POLICY_NAME_MAX] = "-", details[COORD_ZONE_MAX + 200];
	int ret =
	    coord_store_doc_get(c->store, COORD_DOC_ZONE_POLICY, zone, c->diag, &buf, &len, &rev);
	if (ret != TANDEM_OK) {
		return ret;
	}
	if (buf != NULL && len < sizeof(old)) {
		memcpy(old, buf, len);
		old[len] = '\0';
	}
	free(buf);
	ret = coord_store_doc_put(c->store, COORD_DOC_ZONE_POLICY, zone, (const uint8_t *)name,
				  strlen(name), rev, c->diag, &won, &nrev);
	if (ret != TANDEM_OK) {
		return ret;
	}
	if (!won) {
		refuse(dec, COORD_R_CONFLICT,
		       "zone %.120s: its policy changed meanwhile: ask again", zone);
		return TANDEM_OK;
	}
	snprintf(details, sizeof(details), "zone %s: policy %s -> %s%s%s", zone, old, name,
		 hex != NULL ? " sha256=" : "", hex != NULL ? hex : "");
	audit(c, "zone.policy", zone, details);
	dec->accepted = true;
	dec->reason = COORD_R_OK;
	snprintf(dec->text, sizeof(dec->text), "%.199s", details);
	return TANDEM_OK;
}

static int op_put(const coordd_policy_ctx_t *c, const char *name, const coordrpc_request_t *r,
		  coordrpc_decision_t *dec)
{
	kasp_policy_t pol;
	stored_t cur, staged;
	uint8_t digest[KASP_POLICY_DIGEST_LEN];
	char label[KASP_POLICY_NAME_MAX + 16], hex[KASP_POLICY_DIGEST_HEX], *doc = NULL;
	char args[COORD_ARGS_MAX], why[COORD_TEXT_MAX] = "", details[400];
	size_t len = 0, nzones = 0;
	bool won = false;
	int64_t nrev = 0;
	memset(&cur, 0, sizeof(cur));
	memset(&staged, 0, sizeof(staged));
	if (r->doc == NULL || r->doc_len == 0) {
		refuse(dec, COORD_R_BAD_INPUT, "policy put %s: no policy text", name);
		return TANDEM_OK;
	}
	/* the same checks as --check-config, here again: the store takes no unchecked policy */
	snprintf(label, sizeof(label), "policy %s", name);
	tandem_diag_clear(c->diag);
	int ret = kasp_policy_parse(label, (const char *)r->doc, r->doc_len, c->diag, &pol);
	if (ret == TANDEM_KASP_EPOLICY) {
		diag_text(c->diag, dec->text, sizeof(dec->text));
		dec->reason = COORD_R_BAD_INPUT;
		tandem_diag_clear(c->diag);
		return TANDEM_OK;
	}
	tandem_diag_clear(c->diag);
	if (ret != TANDEM_OK) {
		return ret;
	}
	if (strcmp(pol.name, name) != 0) {
		refuse(dec, COORD_R_BAD_INPUT, "policy put %s: the file names policy '%s'", name,
		       pol.name);
		return TANDEM_OK;
	}
	ret = kasp_policy_doc_pack((const char *)r->doc, r->doc_len, digest, &doc, &len);
	if (ret == TANDEM_OK) {
		kasp_policy_digest_hex(digest, hex);
		ret = stored_get(c, COORD_DOC_POLICY, name, &cur);
	}
	if (ret == TANDEM_OK && cur.rev != 0 && memcmp(cur.digest, digest, sizeof(digest)) == 0) {
		dec->accepted = true;
		snprintf(dec->text, sizeof(dec->text), "policy %s sha256=%s: unchanged", name, hex);
		goto out;
	}
	if (ret == TANDEM_OK && cur.rev != 0) {
		ret = zones_using(c, name, &nzones, NULL, 0);
	}
	if (ret != TANDEM_OK) {
		goto out;
	}
	snprintf(args, sizeof(args), "name=%s digest=%s", name, hex);
	if (nzones > 0 &&
	    coordd_requests_direct_refused(c->requests, "policy-set", args, why, sizeof(why)) &&
	    strncmp(why, "policy-set needs approvals", 26) != 0) {
		/* the role table is unreadable: whether it needs approvals is unknown */
		refuse(dec, COORD_R_BAD_INPUT, "%s", why);
		goto out;
	}
	if (nzones > 0 && strncmp(why, "policy-set needs approvals", 26) == 0) {
		/* a policy zones sign with: staged, and in force once approved */
		ret = stored_get(c, COORD_DOC_POLICY_STAGED, name, &staged);
		if (ret == TANDEM_KASP_EPOLICY) {
			ret = TANDEM_OK; /* an altered staged text is simply replaced */
		}
		if (ret == TANDEM_OK) {
			ret = coord_store_doc_put(c->store, COORD_DOC_POLICY_STAGED, name,
						  (const uint8_t *)doc, len, staged.rev, c->diag,
						  &won, &nrev);
		}
		if (ret != TANDEM_OK) {
			goto out;
		}
		if (!won) {
			refuse(dec, COORD_R_CONFLICT, "policy %s: staged meanwhile: put again",
			       name);
			goto out;
		}
		snprintf(
		    details, sizeof(details),
		    "policy %s sha256=%s -> sha256=%s staged (%zu zones use it): needs approvals",
		    name, cur.hex, hex, nzones);
		audit(c, "policy.stage", NULL, details);
		refuse(
		    dec, COORD_R_BAD_INPUT,
		    "needs approvals (staged; %zu zones use it): tandemctl request policy-set %s",
		    nzones, args);
		goto out;
	}
	ret = coord_store_doc_put(c->store, COORD_DOC_POLICY, name, (const uint8_t *)doc, len,
				  cur.rev, c->diag, &won, &nrev);
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (!won) {
		refuse(dec, COORD_R_CONFLICT, "policy %s changed meanwhile: put again", name);
		goto out;
	}
	snprintf(details, sizeof(details), "policy %s sha256=%s -> sha256=%s (%zu zones use it)",
		 name, cur.rev != 0 ? cur.hex : "none", hex, nzones);
	audit(c, "policy.set", NULL, details);
	dec->accepted = true;
	snprintf(dec->text, sizeof(dec->text), "%.199s", details);
out:
	free(doc);
	free(cur.doc);
	free(staged.doc);
	return ret;
}

static int op_list(const coordd_policy_ctx_t *c, coordrpc_decision_t *dec)
{
	coord_etcd_range_t *r = NULL;
	size_t plen = 0, used = 0, cap = 4096, count = 0;
	char *out = malloc(cap);
	int ret = out == NULL
		      ? TANDEM_ENOMEM
		      : coord_store_doc_list(c->store, COORD_DOC_POLICY, c->diag, &r, &plen);
	for (size_t i = 0; ret == TANDEM_OK && r != NULL && i < r->n; i++) {
		const coord_etcd_kv_t *kv = &r->kvs[i];
		uint8_t digest[KASP_POLICY_DIGEST_LEN];
		char hex[KASP_POLICY_DIGEST_HEX], zones[200];
		const char *text = NULL;
		size_t tlen = 0, n = 0;
		const char *name = kv->key + plen;
		if (kasp_policy_doc_unpack(kv->value, kv->value_len, digest, &text, &tlen) ==
		    TANDEM_OK) {
			kasp_policy_digest_hex(digest, hex);
		} else {
			snprintf(hex, sizeof(hex), "ALTERED");
		}
		ret = zones_using(c, name, &n, zones, sizeof(zones));
		if (ret != TANDEM_OK) {
			break;
		}
		size_t need = strlen(name) + strlen(zones) + KASP_POLICY_DIGEST_HEX + 32;
		if (used + need >= cap) {
			cap = 2 * cap + need;
			char *bigger = realloc(out, cap);
			if (bigger == NULL) {
				ret = TANDEM_ENOMEM;
				break;
			}
			out = bigger;
		}
		used += (size_t)snprintf(out + used, cap - used, "%s %s %zu%s%s\n", name, hex, n,
					 n > 0 ? " " : "", zones);
		count++;
	}
	coord_etcd_range_free(r);
	if (ret != TANDEM_OK) {
		free(out);
		return ret;
	}
	dec->accepted = true;
	snprintf(dec->text, sizeof(dec->text), "%zu policies", count);
	dec->doc = (uint8_t *)out;
	dec->doc_len = used;
	return TANDEM_OK;
}

static int op_show(const coordd_policy_ctx_t *c, const char *name, coordrpc_decision_t *dec)
{
	stored_t s;
	char zones[400];
	size_t n = 0;
	int ret = stored_get(c, COORD_DOC_POLICY, name, &s);
	if (ret == TANDEM_KASP_EPOLICY) {
		refuse(dec, COORD_R_BAD_INPUT,
		       "policy %s: the stored text does not match its digest (altered in etcd)",
		       name);
		ret = TANDEM_OK;
		goto out;
	}
	if (ret == TANDEM_OK && s.rev == 0) {
		refuse(dec, COORD_R_BAD_INPUT,
		       "no policy %s in the cluster (tandemctl policy list)", name);
		goto out;
	}
	if (ret == TANDEM_OK) {
		ret = zones_using(c, name, &n, zones, sizeof(zones));
	}
	if (ret != TANDEM_OK) {
		goto out;
	}
	dec->doc = malloc(s.text_len + 1);
	if (dec->doc == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	memcpy(dec->doc, s.text, s.text_len);
	dec->doc_len = s.text_len;
	dec->accepted = true;
	snprintf(dec->text, sizeof(dec->text), "policy %s sha256=%s zones=%zu%s%.100s", name, s.hex,
		 n, n > 0 ? " " : "", zones);
out:
	free(s.doc);
	return ret;
}

/* A zone's policy: one person for a zone never signed yet, else as policy-set. */
static int op_zone(const coordd_policy_ctx_t *c, const char *name, const coordrpc_request_t *r,
		   coordrpc_decision_t *dec)
{
	stored_t s;
	char args[COORD_ARGS_MAX], why[COORD_TEXT_MAX];
	memset(&s, 0, sizeof(s));
	if (c->zone == NULL || c->zone->removed) {
		refuse(dec, COORD_R_UNKNOWN_ZONE, "no zone %.200s", r->zone);
		return TANDEM_OK;
	}
	int ret = TANDEM_OK;
	if (strcmp(name, "-") != 0) {
		ret = stored_get(c, COORD_DOC_POLICY, name, &s);
		if (ret == TANDEM_KASP_EPOLICY || (ret == TANDEM_OK && s.rev == 0)) {
			refuse(dec, COORD_R_BAD_INPUT, "policy %s: %s", name,
			       s.rev == 0 ? "not in the cluster (tandemctl policy put)"
					  : "its stored text does not match its digest");
			ret = TANDEM_OK;
			goto out;
		}
		if (ret != TANDEM_OK) {
			goto out;
		}
	}
	char full[COORD_ZONE_MAX + 160];
	snprintf(full, sizeof(full), "name=%s digest=%s zone=%s", name, s.rev != 0 ? s.hex : "-",
		 r->zone);
	if (strlen(full) >= sizeof(args)) {
		refuse(dec, COORD_R_BAD_INPUT, "zone %.100s...: too long a name for an approval",
		       r->zone);
		goto out;
	}
	memcpy(args, full, strlen(full) + 1);
	if (c->zone->has_committed &&
	    coordd_requests_direct_refused(c->requests, "policy-set", args, why, sizeof(why))) {
		/* the whole request to make (why cuts the arguments short); or why it cannot tell
		 */
		if (strncmp(why, "policy-set needs approvals", 26) == 0) {
			refuse(dec, COORD_R_BAD_INPUT,
			       "needs approvals: tandemctl request policy-set %s", args);
		} else {
			refuse(dec, COORD_R_BAD_INPUT, "%s", why);
		}
		goto out;
	}
	ret = zone_policy_write(c, r->zone, name, s.rev != 0 ? s.hex : NULL, dec);
out:
	free(s.doc);
	return ret;
}

int coordd_policy_op(const coordd_policy_ctx_t *c, const coordrpc_request_t *r,
		     coordrpc_decision_t *dec)
{
	char name[KASP_POLICY_NAME_MAX] = "";
	memset(dec, 0, sizeof(*dec));
	dec->reason = COORD_R_OK;
	bool named = coord_args_get(r->args, "name", name, sizeof(name));
	bool none_ok = strcmp(r->action, "zone") == 0 && strcmp(name, "-") == 0;
	if (strcmp(r->action, "list") == 0) {
		return op_list(c, dec);
	}
	if (!named || (!none_ok && !kasp_policy_name_ok(name))) {
		refuse(dec, COORD_R_BAD_INPUT,
		       "policy %s: want name=NAME (1 to 63 letters, digits, '-', '_' or '.')",
		       r->action);
		return TANDEM_OK;
	}
	if (strcmp(r->action, "put") == 0) {
		return op_put(c, name, r, dec);
	}
	if (strcmp(r->action, "show") == 0) {
		return op_show(c, name, dec);
	}
	if (strcmp(r->action, "zone") == 0) {
		return op_zone(c, name, r, dec);
	}
	refuse(dec, COORD_R_BAD_INPUT, "policy: unknown action '%.20s' (put, list, show, zone)",
	       r->action);
	return TANDEM_OK;
}

int coordd_policy_get(const coordd_policy_ctx_t *c, const char *zone, coordrpc_decision_t *dec)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int64_t rev = 0;
	stored_t s;
	memset(&s, 0, sizeof(s));
	memset(dec, 0, sizeof(*dec));
	int ret =
	    coord_store_doc_get(c->store, COORD_DOC_ZONE_POLICY, zone, c->diag, &buf, &len, &rev);
	if (ret != TANDEM_OK) {
		return ret;
	}
	dec->accepted = true;
	if (buf == NULL || len == 0 || len >= KASP_POLICY_NAME_MAX || (len == 1 && buf[0] == '-')) {
		goto out; /* none: the node's own file */
	}
	memcpy(dec->text, buf, len);
	dec->text[len] = '\0';
	ret = coord_store_doc_get(c->store, COORD_DOC_POLICY, dec->text, c->diag, &s.doc, &s.len,
				  &s.rev);
	if (ret == TANDEM_OK && s.rev != 0) {
		dec->doc = s.doc; /* as stored: the node checks the digest itself */
		dec->doc_len = s.len;
		s.doc = NULL;
	}
out:
	free(buf);
	free(s.doc);
	return ret;
}

int coordd_policy_of_zone(coord_store_t *store, tandem_diag_t *diag, const char *zone,
			  kasp_policy_t *out, bool *found)
{
	uint8_t *buf = NULL, *doc = NULL, digest[KASP_POLICY_DIGEST_LEN];
	size_t len = 0, dlen = 0, tlen = 0;
	int64_t rev = 0;
	char name[KASP_POLICY_NAME_MAX], label[KASP_POLICY_NAME_MAX + 32];
	const char *text = NULL;
	*found = false;
	int ret = coord_store_doc_get(store, COORD_DOC_ZONE_POLICY, zone, diag, &buf, &len, &rev);
	if (ret != TANDEM_OK || buf == NULL || len == 0 || len >= sizeof(name) ||
	    (len == 1 && buf[0] == '-')) {
		goto out;
	}
	memcpy(name, buf, len);
	name[len] = '\0';
	*found = true;
	ret = coord_store_doc_get(store, COORD_DOC_POLICY, name, diag, &doc, &dlen, &rev);
	if (ret == TANDEM_OK &&
	    (doc == NULL || kasp_policy_doc_unpack(doc, dlen, digest, &text, &tlen) != TANDEM_OK)) {
		ret = TANDEM_KASP_EPOLICY;
	}
	if (ret == TANDEM_OK) {
		snprintf(label, sizeof(label), "cluster policy %s", name);
		ret = kasp_policy_parse(label, text, tlen, diag, out);
	}
out:
	free(buf);
	free(doc);
	return ret;
}

int coordd_policy_set_exec(const coordd_policy_ctx_t *c, const char *args, bool *accepted,
			   char *text, size_t size)
{
	char name[KASP_POLICY_NAME_MAX], hex[KASP_POLICY_DIGEST_HEX + 1], zone[COORD_ZONE_MAX];
	char details[400];
	stored_t cur, staged;
	coordrpc_decision_t *dec = calloc(1, sizeof(*dec));
	bool won = false;
	int64_t nrev = 0;
	int ret = TANDEM_OK;
	memset(&cur, 0, sizeof(cur));
	memset(&staged, 0, sizeof(staged));
	*accepted = false;
	if (dec == NULL) {
		return TANDEM_ENOMEM;
	}
	if (!coord_args_get(args, "name", name, sizeof(name)) ||
	    !coord_args_get(args, "digest", hex, sizeof(hex))) {
		snprintf(text, size, "policy-set: want name=NAME digest=HEX");
		goto out;
	}
	if (coord_args_get(args, "zone", zone, sizeof(zone))) {
		if (strcmp(name, "-") != 0) {
			ret = stored_get(c, COORD_DOC_POLICY, name, &cur);
			if (ret == TANDEM_OK && (cur.rev == 0 || strcmp(cur.hex, hex) != 0)) {
				snprintf(text, size,
					 "policy-set: policy %s is not sha256=%.64s any more: "
					 "nothing changed",
					 name, hex);
				goto out;
			}
			if (ret != TANDEM_OK) {
				goto out;
			}
		}
		ret =
		    zone_policy_write(c, zone, name, strcmp(name, "-") != 0 ? cur.hex : NULL, dec);
		*accepted = ret == TANDEM_OK && dec->accepted;
		snprintf(text, size, "%s", dec->text);
		goto out;
	}
	ret = stored_get(c, COORD_DOC_POLICY_STAGED, name, &staged);
	if (ret == TANDEM_OK) {
		ret = stored_get(c, COORD_DOC_POLICY, name, &cur);
	}
	if (ret == TANDEM_KASP_EPOLICY) {
		snprintf(text, size, "policy-set: policy %s: a stored text is altered", name);
		ret = TANDEM_OK;
		goto out;
	}
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (staged.rev == 0 || strcmp(staged.hex, hex) != 0) {
		snprintf(text, size,
			 "policy-set: the text staged for %s is not sha256=%.64s (put again): "
			 "nothing changed",
			 name, hex);
		goto out;
	}
	ret = coord_store_doc_put(c->store, COORD_DOC_POLICY, name, staged.doc, staged.len, cur.rev,
				  c->diag, &won, &nrev);
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (!won) {
		snprintf(text, size, "policy-set: policy %s changed meanwhile: nothing changed",
			 name);
		goto out;
	}
	snprintf(details, sizeof(details), "policy %s sha256=%s -> sha256=%s (approved)", name,
		 cur.rev != 0 ? cur.hex : "none", staged.hex);
	audit(c, "policy.set", NULL, details);
	*accepted = true;
	snprintf(text, size, "%s", details);
out:
	free(cur.doc);
	free(staged.doc);
	coordrpc_decision_deinit(dec);
	free(dec);
	return ret;
}
