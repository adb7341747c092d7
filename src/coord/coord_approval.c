/* Multi-person control (DPS 4.2): the role table, the rules, and whether an approval counts. */
#include "coord_approval.h"
#include "tandem_encode.h"
#include "tandem_error.h"
#include "tandem_text.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DOC_VERSION 1

const char *coord_role_str(coord_role_t role)
{
	switch (role) {
	case COORD_ROLE_SA: return "SA";
	case COORD_ROLE_SO: return "SO";
	case COORD_ROLE_WI: return "WI";
	}
	return "?";
}

int coord_role_parse(const char *s, coord_role_t *out)
{
	static const coord_role_t roles[] = {COORD_ROLE_SA, COORD_ROLE_SO, COORD_ROLE_WI};
	for (size_t i = 0; s != NULL && out != NULL && i < 3; i++) {
		if (strcmp(s, coord_role_str(roles[i])) == 0) {
			*out = roles[i];
			return TANDEM_OK;
		}
	}
	return TANDEM_EINVAL;
}

const char *coord_req_state_str(coord_req_state_t st)
{
	static const char *const names[] = {"pending", "executed", "refused", "expired",
					    "cancelled"};
	return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : "?";
}

static void rule_set(coord_rule_t *r, const char *action, size_t n, const unsigned *slots)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->action, sizeof(r->action), "%s", action);
	r->nslots = n;
	memcpy(r->slots, slots, n * sizeof(*slots));
}

void coord_rules_default(coord_rules_t *out)
{
	/* DPS 4.2.2: three people for what creates or unlocks key material, two for the
	 * rest of what the DPS names; switchover and drain stay one person's (no rule). */
	static const unsigned three[] = {COORD_ROLE_SA, COORD_ROLE_SO, COORD_ROLE_WI};
	static const unsigned dist[] = {COORD_ROLE_SA | COORD_ROLE_SO, COORD_ROLE_WI};
	static const unsigned two[] = {COORD_ROLE_SA, COORD_ROLE_SO | COORD_ROLE_WI};
	static const char *const three_actions[] = {"keygen", "smk-install", "token-activate"};
	static const char *const two_actions[] = {
	    "takeover",     "keys-emergency",    "key-remove",      "params-set", "policy-set",
	    "site-suspend", "operator-register", "operator-remove", "rules-set",  "production-off",
	    "drill"};
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < sizeof(three_actions) / sizeof(three_actions[0]); i++) {
		rule_set(&out->rules[out->n++], three_actions[i], 3, three);
	}
	rule_set(&out->rules[out->n++], "archive-distribute", 2, dist);
	for (size_t i = 0; i < sizeof(two_actions) / sizeof(two_actions[0]); i++) {
		rule_set(&out->rules[out->n++], two_actions[i], 2, two);
	}
}

static bool action_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= COORD_ACTION_MAX) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-')) {
			return false;
		}
	}
	return true;
}

/* "SA|SO" into a role set; 0 when malformed. */
static unsigned slot_parse(char *s)
{
	unsigned set = 0;
	const char *parts[4];
	size_t n = tandem_split(s, '|', parts, 3);
	if (n == 0 || n > 3) {
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		coord_role_t r;
		if (coord_role_parse(parts[i], &r) != TANDEM_OK) {
			return 0;
		}
		set |= (unsigned)r;
	}
	return set;
}

/* One "ACTION SLOT..." line (NUL-terminated, modified) into r. */
static bool rule_line(char *line, coord_rule_t *r, char *why, size_t size)
{
	const char *w[COORD_APPROVAL_SLOTS_MAX + 2];
	size_t n = tandem_split(line, ' ', w, COORD_APPROVAL_SLOTS_MAX + 1);
	if (n < 2 || n > COORD_APPROVAL_SLOTS_MAX + 1) {
		snprintf(why, size, "want ACTION and 1..%d slots (or -)", COORD_APPROVAL_SLOTS_MAX);
		return false;
	}
	if (!action_name_ok(w[0])) {
		snprintf(why, size, "action '%.40s' is not [a-z0-9-]{1,31}", w[0]);
		return false;
	}
	memset(r, 0, sizeof(*r));
	snprintf(r->action, sizeof(r->action), "%s", w[0]);
	if (n == 2 && strcmp(w[1], "-") == 0) {
		return true;
	}
	for (size_t i = 1; i < n; i++) {
		char buf[16];
		snprintf(buf, sizeof(buf), "%s", w[i]);
		unsigned set = strlen(w[i]) < sizeof(buf) ? slot_parse(buf) : 0;
		if (set == 0) {
			snprintf(why, size, "slot '%.20s' is not roles SA, SO, WI joined by '|'",
				 w[i]);
			return false;
		}
		r->slots[r->nslots++] = set;
	}
	return true;
}

int coord_rules_parse(const char *text, coord_rules_t *rules, char *why, size_t size)
{
	if (text == NULL || rules == NULL || why == NULL) {
		return TANDEM_EINVAL;
	}
	coord_rules_t *next = malloc(sizeof(*next));
	char *copy = strdup(text);
	int ret = TANDEM_OK;
	if (next == NULL || copy == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	*next = *rules;
	size_t lineno = 0;
	for (char *line = copy, *end; line != NULL; line = end) {
		end = strchr(line, '\n');
		if (end != NULL) {
			*end++ = '\0';
		}
		lineno++;
		char *hash = strchr(line, '#');
		if (hash != NULL) {
			*hash = '\0';
		}
		for (char *p = line; *p; p++) {
			if (*p == '\t' || *p == '\r') {
				*p = ' ';
			}
		}
		if (strspn(line, " ") == strlen(line)) {
			continue;
		}
		coord_rule_t r;
		char msg[160];
		if (!rule_line(line, &r, msg, sizeof(msg))) {
			snprintf(why, size, "line %zu: %s", lineno, msg);
			ret = TANDEM_ESYNTAX;
			goto out;
		}
		coord_rule_t *old = (coord_rule_t *)coord_rule_find(next, r.action);
		if (old == NULL && next->n == COORD_RULES_MAX) {
			snprintf(why, size, "line %zu: more than %d actions", lineno,
				 COORD_RULES_MAX);
			ret = TANDEM_ESYNTAX;
			goto out;
		}
		*(old != NULL ? old : &next->rules[next->n++]) = r;
	}
	*rules = *next;
out:
	free(copy);
	free(next);
	return ret;
}

const coord_rule_t *coord_rule_find(const coord_rules_t *rules, const char *action)
{
	for (size_t i = 0; rules != NULL && action != NULL && i < rules->n; i++) {
		if (strcmp(rules->rules[i].action, action) == 0) {
			return &rules->rules[i];
		}
	}
	return NULL;
}

static void roles_str(unsigned set, char *buf, size_t size)
{
	size_t used = 0;
	buf[0] = '\0';
	for (unsigned r = COORD_ROLE_SA; r <= COORD_ROLE_WI; r <<= 1) {
		if ((set & r) != 0 && used < size) {
			used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? "|" : "",
						 coord_role_str((coord_role_t)r));
		}
	}
}

int coord_rules_format(const coord_rules_t *rules, char *buf, size_t size)
{
	size_t used = 0;
	if (rules == NULL || buf == NULL || size == 0) {
		return TANDEM_EINVAL;
	}
	buf[0] = '\0';
	for (size_t i = 0; i < rules->n; i++) {
		const coord_rule_t *r = &rules->rules[i];
		int n = snprintf(buf + used, size - used, "%s", r->action);
		used += n > 0 ? (size_t)n : 0;
		for (size_t k = 0; k < r->nslots && used < size; k++) {
			char roles[16];
			roles_str(r->slots[k], roles, sizeof(roles));
			n = snprintf(buf + used, size - used, " %s", roles);
			used += n > 0 ? (size_t)n : 0;
		}
		n = used < size
			? snprintf(buf + used, size - used, "%s\n", r->nslots == 0 ? " -" : "")
			: 0;
		used += n > 0 ? (size_t)n : 0;
		if (used >= size) {
			return TANDEM_ERANGE;
		}
	}
	return TANDEM_OK;
}

char *coord_rule_str(const coord_rule_t *rule, char *buf, size_t size)
{
	size_t used = 0;
	buf[0] = '\0';
	if (rule == NULL || rule->nslots == 0) {
		snprintf(buf, size, "one person");
		return buf;
	}
	for (size_t i = 0; i < rule->nslots && used < size; i++) {
		char roles[16];
		roles_str(rule->slots[i], roles, sizeof(roles));
		used += (size_t)snprintf(buf + used, size - used, "%s%s%s",
					 i == 0                  ? ""
					 : i + 1 == rule->nslots ? " and "
								 : ", ",
					 strchr(roles, '|') ? "one of " : "one ", roles);
	}
	return buf;
}

const coord_operator_t *coord_operators_find_pub(const coord_operators_t *ops,
						 const uint8_t pub[COORD_APPROVAL_PUB_LEN])
{
	for (size_t i = 0; ops != NULL && pub != NULL && i < ops->n; i++) {
		if (memcmp(ops->ops[i].pub, pub, COORD_APPROVAL_PUB_LEN) == 0) {
			return &ops->ops[i];
		}
	}
	return NULL;
}

const coord_operator_t *coord_operators_find(const coord_operators_t *ops, const char *name)
{
	for (size_t i = 0; ops != NULL && name != NULL && i < ops->n; i++) {
		if (strcmp(ops->ops[i].name, name) == 0) {
			return &ops->ops[i];
		}
	}
	return NULL;
}

bool coord_operators_add(coord_operators_t *ops, const coord_operator_t *op, char *why, size_t size)
{
	char msg[96];
	const coord_operator_t *o;
	if (!tandem_id_valid(op->name, msg, sizeof(msg))) {
		snprintf(why, size, "operator name: %s", msg);
		return false;
	}
	if (coord_role_str(op->role)[0] == '?') {
		snprintf(why, size, "operator %s: no role", op->name);
		return false;
	}
	if ((o = coord_operators_find(ops, op->name)) != NULL) {
		snprintf(why, size,
			 "operator %s is registered already (role %s): a person holds one role "
			 "(DPS 4.2.4)",
			 op->name, coord_role_str(o->role));
		return false;
	}
	if ((o = coord_operators_find_pub(ops, op->pub)) != NULL) {
		snprintf(why, size,
			 "the key of %s is registered already, as %s (role %s): a person holds "
			 "one role (DPS 4.2.4)",
			 op->name, o->name, coord_role_str(o->role));
		return false;
	}
	if (ops->n == COORD_OPERATORS_MAX) {
		snprintf(why, size, "the role table is full (%d operators)", COORD_OPERATORS_MAX);
		return false;
	}
	ops->ops[ops->n++] = *op;
	return true;
}

bool coord_operators_remove(coord_operators_t *ops, const char *name, char *why, size_t size)
{
	const coord_operator_t *o = coord_operators_find(ops, name);
	if (o == NULL) {
		snprintf(why, size, "operator %.63s is not registered", name);
		return false;
	}
	size_t at = (size_t)(o - ops->ops);
	unsigned left = 0;
	for (size_t i = 0; i < ops->n; i++) {
		left |= i != at ? (unsigned)ops->ops[i].role : 0u;
	}
	if ((left & COORD_ROLE_SA) == 0 || (left & COORD_ROLE_SO) == 0) {
		snprintf(why, size,
			 "removing %s would leave no %s: nobody could approve the next change of "
			 "the role table",
			 name, (left & COORD_ROLE_SA) == 0 ? "SA" : "SO");
		return false;
	}
	memmove(&ops->ops[at], &ops->ops[at + 1], (ops->n - at - 1) * sizeof(ops->ops[0]));
	ops->n--;
	return true;
}

/* ---- arguments -------------------------------------------------------------------------- */

typedef enum {
	ARG_SITE,
	ARG_U64,
	ARG_U32,
	ARG_ZONE,
	ARG_NAME,
	ARG_ROLE,
	ARG_PUB,
	ARG_KEYROLE,
	ARG_ACTION,
	ARG_SLOTS,
	ARG_POLICY, /* a policy name, or "-" (none: the node's own file) */
	ARG_DIGEST  /* a policy's SHA-256, 64 hex digits, or "-" with ARG_POLICY "-" */
} arg_type_t;

typedef struct arg_spec {
	const char *key;
	arg_type_t type;
	bool optional; /* may be left out (archive-distribute's zone: every zone) */
} arg_spec_t;

typedef struct action_spec {
	const char *action;
	size_t nargs;
	arg_spec_t args[3];
} action_spec_t;

static const action_spec_t action_specs[] = {
    {"takeover", 1, {{"site", ARG_SITE, false}}},
    {"site-suspend", 1, {{"site", ARG_SITE, false}}},
    {"params-set", 2, {{"lease_ms", ARG_U64, false}, {"margin_ms", ARG_U64, false}}},
    {"keys-emergency", 2, {{"zone", ARG_ZONE, false}, {"key", ARG_U32, false}}},
    {"keygen", 2, {{"zone", ARG_ZONE, false}, {"role", ARG_KEYROLE, false}}},
    {"rules-set", 2, {{"action", ARG_ACTION, false}, {"slots", ARG_SLOTS, false}}},
    {"operator-register",
     3,
     {{"name", ARG_NAME, false}, {"role", ARG_ROLE, false}, {"pub", ARG_PUB, false}}},
    {"operator-remove", 1, {{"name", ARG_NAME, false}}},
    {"key-remove", 2, {{"zone", ARG_ZONE, false}, {"key", ARG_U32, false}}},
    {"archive-distribute", 2, {{"node", ARG_NAME, false}, {"zone", ARG_ZONE, true}}},
    {"production-off", 0, {{NULL, ARG_NAME, false}}},
    {"drill", 1, {{"scenario", ARG_ACTION, false}}},
    {"policy-set",
     3,
     {{"name", ARG_POLICY, false}, {"digest", ARG_DIGEST, false}, {"zone", ARG_ZONE, true}}},
};

static bool decimal_ok(const char *v, uint64_t max)
{
	if (*v == '\0' || strlen(v) > 20 || strspn(v, "0123456789") != strlen(v)) {
		return false;
	}
	errno = 0;
	char *end = NULL;
	unsigned long long x = strtoull(v, &end, 10);
	return errno == 0 && *end == '\0' && x <= max;
}

static bool arg_ok(arg_type_t t, const char *v, char *why, size_t size)
{
	char msg[64];
	coord_role_t role;
	uint8_t pub[COORD_APPROVAL_PUB_LEN];
	switch (t) {
	case ARG_SITE:
		if (v[0] >= 'A' && v[0] < 'A' + COORD_SITES_MAX && v[1] == '\0') {
			return true;
		}
		snprintf(why, size, "a site is one letter A..%c", 'A' + COORD_SITES_MAX - 1);
		return false;
	case ARG_U64:
		if (decimal_ok(v, UINT64_MAX)) {
			return true;
		}
		snprintf(why, size, "'%.40s' is not a decimal number", v);
		return false;
	case ARG_U32:
		if (decimal_ok(v, UINT32_MAX)) {
			return true;
		}
		snprintf(why, size, "'%.40s' is not a decimal number below 2^32", v);
		return false;
	case ARG_ZONE:
		if (strlen(v) < COORD_ZONE_MAX && tandem_dname_valid(v, msg, sizeof(msg))) {
			return true;
		}
		snprintf(why, size, "zone '%.40s': %.60s", v, msg);
		return false;
	case ARG_NAME:
		if (tandem_id_valid(v, msg, sizeof(msg))) {
			return true;
		}
		snprintf(why, size, "name '%.40s': %.60s", v, msg);
		return false;
	case ARG_ROLE:
		if (coord_role_parse(v, &role) == TANDEM_OK) {
			return true;
		}
		snprintf(why, size, "role '%.20s' is not SA, SO or WI", v);
		return false;
	case ARG_ACTION:
		if (action_name_ok(v)) {
			return true;
		}
		snprintf(why, size, "action '%.40s': lowercase letters and '-'", v);
		return false;
	case ARG_SLOTS: {
		/* "SA,SO|WI" (one person per comma-separated slot) or "-" (one person alone) */
		char line[COORD_ARGS_MAX + 8];
		coord_rule_t r;
		if (strlen(v) < COORD_ARGS_MAX && strspn(v, "ASOWI|,-") == strlen(v)) {
			snprintf(line, sizeof(line), "x %s", v);
			for (char *p = line; *p; p++) {
				*p = *p == ',' ? ' ' : *p;
			}
			if (rule_line(line, &r, msg, sizeof(msg))) {
				return true;
			}
			snprintf(why, size, "slots '%.40s': %.60s", v, msg);
			return false;
		}
		snprintf(why, size, "slots '%.40s': roles SA, SO, WI joined by '|', slots by ','",
			 v);
		return false;
	}
	case ARG_POLICY: {
		size_t n = strlen(v);
		if (strcmp(v, "-") == 0 ||
		    (n > 0 && n < 64 &&
		     strspn(v,
			    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") ==
			 n)) {
			return true;
		}
		snprintf(why, size, "name '%.40s': a policy name (letters, digits, '-', '_', '.')",
			 v);
		return false;
	}
	case ARG_DIGEST: {
		uint8_t d[32];
		if (strcmp(v, "-") == 0 ||
		    (strlen(v) == 64 && tandem_hex_decode(v, d, sizeof(d)) == TANDEM_OK)) {
			return true;
		}
		snprintf(why, size, "digest: want the 64 hex digits of the policy's SHA-256");
		return false;
	}
	case ARG_KEYROLE:
		if (strcmp(v, "ksk") == 0 || strcmp(v, "zsk") == 0) {
			return true;
		}
		snprintf(why, size, "role '%.20s' is not ksk or zsk", v);
		return false;
	case ARG_PUB:
		if (strlen(v) == 2 * COORD_APPROVAL_PUB_LEN &&
		    tandem_hex_decode(v, pub, sizeof(pub)) == TANDEM_OK) {
			return true;
		}
		snprintf(why, size, "pub: want the 64 hex digits of an Ed25519 public key");
		return false;
	}
	return false;
}

bool coord_request_args(const char *action, const char *const *words, size_t nwords,
			char out[COORD_ARGS_MAX], char *why, size_t size)
{
	const action_spec_t *spec = NULL;
	for (size_t i = 0; action != NULL && i < sizeof(action_specs) / sizeof(action_specs[0]);
	     i++) {
		spec = strcmp(action_specs[i].action, action) == 0 ? &action_specs[i] : spec;
	}
	if (spec == NULL) {
		snprintf(why, size,
			 "action '%.40s' cannot be requested (takeover, site-suspend, params-set, "
			 "keys-emergency, keygen, key-remove, archive-distribute, rules-set, "
			 "operator-register, operator-remove, production-off, drill, policy-set)",
			 action != NULL ? action : "");
		return false;
	}
	const char *vals[3] = {NULL, NULL, NULL};
	size_t lens[3] = {0, 0, 0};
	for (size_t w = 0; w < nwords; w++) {
		const char *eq = strchr(words[w], '=');
		size_t k = 0;
		while (eq != NULL && k < spec->nargs &&
		       (strlen(spec->args[k].key) != (size_t)(eq - words[w]) ||
			strncmp(spec->args[k].key, words[w], (size_t)(eq - words[w])) != 0)) {
			k++;
		}
		if (eq == NULL || k == spec->nargs) {
			snprintf(why, size, "%s: argument '%.40s' is not one of its key=value",
				 action, words[w]);
			return false;
		}
		if (vals[k] != NULL) {
			snprintf(why, size, "%s: %s given twice", action, spec->args[k].key);
			return false;
		}
		vals[k] = eq + 1;
	}
	size_t used = 0;
	out[0] = '\0';
	for (size_t k = 0; k < spec->nargs; k++) {
		char msg[128];
		if (vals[k] == NULL && spec->args[k].optional) {
			continue;
		}
		if (vals[k] == NULL) {
			snprintf(why, size, "%s: %s=... missing", action, spec->args[k].key);
			return false;
		}
		if (!arg_ok(spec->args[k].type, vals[k], msg, sizeof(msg))) {
			snprintf(why, size, "%s %s: %s", action, spec->args[k].key, msg);
			return false;
		}
		lens[k] = strlen(spec->args[k].key) + 1 + strlen(vals[k]) + (used > 0);
		if (used + lens[k] >= COORD_ARGS_MAX) {
			snprintf(why, size, "%s: arguments too long", action);
			return false;
		}
		used += (size_t)snprintf(out + used, COORD_ARGS_MAX - used, "%s%s=%s",
					 used > 0 ? " " : "", spec->args[k].key, vals[k]);
	}
	return true;
}

bool coord_args_get(const char *args, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key);
	for (const char *p = args; p != NULL && *p != '\0';) {
		const char *end = strchr(p, ' ');
		size_t wlen = end != NULL ? (size_t)(end - p) : strlen(p);
		if (wlen > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
			size_t vlen = wlen - klen - 1;
			if (vlen >= size) {
				return false;
			}
			memcpy(out, p + klen + 1, vlen);
			out[vlen] = '\0';
			return true;
		}
		p = end != NULL ? end + 1 : NULL;
	}
	return false;
}

/* ---- archive-distribution grants ------------------------------------------------------- */

/* The next line of *p as "node zone" (each within its size); false at the end or on a line
 * that is not a grant (*bad set). */
static bool grant_next(const char **p, char node[COORD_ID_MAX], char zone[COORD_ZONE_MAX],
		       bool *bad)
{
	*bad = false;
	while (**p == '\n') {
		(*p)++;
	}
	if (**p == '\0') {
		return false;
	}
	const char *end = strchr(*p, '\n');
	size_t n = end != NULL ? (size_t)(end - *p) : strlen(*p);
	const char *sp = memchr(*p, ' ', n);
	size_t nl = sp != NULL ? (size_t)(sp - *p) : 0;
	size_t zl = sp != NULL ? n - nl - 1 : 0;
	if (sp == NULL || nl == 0 || nl >= COORD_ID_MAX || zl == 0 || zl >= COORD_ZONE_MAX ||
	    memchr(sp + 1, ' ', zl) != NULL) {
		*bad = true;
		return false;
	}
	memcpy(node, *p, nl);
	node[nl] = '\0';
	memcpy(zone, sp + 1, zl);
	zone[zl] = '\0';
	*p += n;
	return true;
}

bool coord_grants_allow(const char *table, const char *node, const char *zone)
{
	char n[COORD_ID_MAX], z[COORD_ZONE_MAX];
	bool bad = false;
	for (const char *p = table;
	     p != NULL && node != NULL && zone != NULL && grant_next(&p, n, z, &bad);) {
		if (strcmp(n, node) == 0 && (strcmp(z, "*") == 0 || strcasecmp(z, zone) == 0)) {
			return true;
		}
	}
	return false;
}

int coord_grants_add(const char *table, const char *node, const char *zone, char *out, size_t size)
{
	char msg[64], n[COORD_ID_MAX], z[COORD_ZONE_MAX];
	const char *want = zone != NULL && zone[0] != '\0' ? zone : "*";
	bool bad = false;
	if (node == NULL || out == NULL || !tandem_id_valid(node, msg, sizeof(msg)) ||
	    strlen(node) >= COORD_ID_MAX ||
	    (strcmp(want, "*") != 0 &&
	     (strlen(want) >= COORD_ZONE_MAX || !tandem_dname_valid(want, msg, sizeof(msg))))) {
		return TANDEM_EINVAL;
	}
	const char *p = table != NULL ? table : "";
	while (grant_next(&p, n, z, &bad)) {
	}
	if (bad) {
		return TANDEM_ESYNTAX;
	}
	size_t have = table != NULL ? strlen(table) : 0;
	/* a zone's grant is covered by "node *" too; "node *" only by itself */
	bool covered = strcmp(want, "*") != 0 && coord_grants_allow(table, node, want);
	for (p = table != NULL ? table : ""; !covered && grant_next(&p, n, z, &bad);) {
		covered = strcmp(n, node) == 0 && strcmp(z, want) == 0;
	}
	int len = covered ? snprintf(out, size, "%s", table != NULL ? table : "")
			  : snprintf(out, size, "%s%s%s %s\n", table != NULL ? table : "",
				     have > 0 && table[have - 1] != '\n' ? "\n" : "", node, want);
	return len < 0 || (size_t)len >= size ? TANDEM_ERANGE : TANDEM_OK;
}

/* ---- requests and approvals ------------------------------------------------------------- */

size_t coord_request_text(const coord_request_t *req, char out[COORD_REQUEST_TEXT_MAX])
{
	char when[32];
	int n = snprintf(out, COORD_REQUEST_TEXT_MAX,
			 "tandem approval v1\naction %s\nargs %s\nexpires %" PRIu64
			 " (%s)\nrequest %s\n",
			 req->action, req->args, req->expiry_ms,
			 tandem_utc_ms(req->expiry_ms, when, sizeof(when)), req->id);
	return n < 0                                ? 0
	       : (size_t)n < COORD_REQUEST_TEXT_MAX ? (size_t)n
						    : COORD_REQUEST_TEXT_MAX - 1;
}

bool coord_approval_verify(const uint8_t pub[COORD_APPROVAL_PUB_LEN], const uint8_t *msg,
			   size_t len, const uint8_t sig[COORD_APPROVAL_SIG_LEN])
{
	bool ok = false;
	EVP_PKEY *key =
	    EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, COORD_APPROVAL_PUB_LEN);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (key != NULL && ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1) {
		ok = EVP_DigestVerify(ctx, sig, COORD_APPROVAL_SIG_LEN, msg, len) == 1;
	}
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	return ok;
}

int coord_approval_sign(const uint8_t seed[32], const uint8_t *msg, size_t len,
			uint8_t sig[COORD_APPROVAL_SIG_LEN], uint8_t pub[COORD_APPROVAL_PUB_LEN])
{
	size_t slen = COORD_APPROVAL_SIG_LEN, plen = COORD_APPROVAL_PUB_LEN;
	int ret = TANDEM_EINVAL;
	EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (key != NULL && ctx != NULL && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
	    EVP_DigestSign(ctx, sig, &slen, msg, len) == 1 &&
	    EVP_PKEY_get_raw_public_key(key, pub, &plen) == 1) {
		ret = TANDEM_OK;
	}
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	return ret;
}

/* The largest number of approvals (roles[0..n)) that fill distinct slots: a tiny bipartite
 * matching, by trying every assignment (n, slots <= 4). */
static size_t match(const unsigned *roles, size_t n, size_t i, const coord_rule_t *rule,
		    unsigned used)
{
	if (i == n) {
		return 0;
	}
	size_t best = match(roles, n, i + 1, rule, used); /* leave approval i out */
	for (size_t s = 0; s < rule->nslots; s++) {
		if ((used & (1u << s)) == 0 && (rule->slots[s] & roles[i]) != 0) {
			size_t m = 1 + match(roles, n, i + 1, rule, used | (1u << s));
			best = m > best ? m : best;
		}
	}
	return best;
}

/* A rule without slots is one person of any role. */
static const coord_rule_t *rule_effective(const coord_rule_t *rule, coord_rule_t *one)
{
	if (rule != NULL && rule->nslots > 0) {
		return rule;
	}
	memset(one, 0, sizeof(*one));
	one->nslots = 1;
	one->slots[0] = COORD_ROLE_ANY;
	return one;
}

static size_t request_match(const coord_request_t *req, const coord_rule_t *rule)
{
	unsigned roles[COORD_APPROVAL_SLOTS_MAX] = {0};
	size_t n =
	    req->napprovals < COORD_APPROVAL_SLOTS_MAX ? req->napprovals : COORD_APPROVAL_SLOTS_MAX;
	for (size_t i = 0; i < n; i++) {
		roles[i] = (unsigned)req->approvals[i].role;
	}
	return match(roles, n, 0, rule, 0);
}

bool coord_request_quorum(const coord_request_t *req, const coord_rule_t *rule)
{
	coord_rule_t one;
	rule = rule_effective(rule, &one);
	return request_match(req, rule) == rule->nslots;
}

coord_approve_t coord_request_approve(coord_request_t *req, const coord_rule_t *rule,
				      const coord_operators_t *ops,
				      const uint8_t pub[COORD_APPROVAL_PUB_LEN],
				      const uint8_t sig[COORD_APPROVAL_SIG_LEN], uint64_t now_ms,
				      const coord_operator_t **who, char *why, size_t size)
{
	coord_rule_t one;
	char need[128];
	rule = rule_effective(rule, &one);
	const coord_operator_t *op = coord_operators_find_pub(ops, pub);
	*who = op;
	if (req->state != COORD_REQ_PENDING) {
		snprintf(why, size, "request %s is %s: approvals are closed", req->id,
			 coord_req_state_str(req->state));
		return COORD_APPROVE_REFUSED;
	}
	if (now_ms >= req->expiry_ms) {
		req->state = COORD_REQ_EXPIRED;
		snprintf(req->outcome, sizeof(req->outcome), "expired before its quorum");
		snprintf(why, size, "request %s expired (its approvals expire with it)", req->id);
		return COORD_APPROVE_EXPIRED;
	}
	if (op == NULL) {
		snprintf(why, size, "the approving key is not registered in the role table");
		return COORD_APPROVE_REFUSED;
	}
	char text[COORD_REQUEST_TEXT_MAX];
	size_t len = coord_request_text(req, text);
	if (!coord_approval_verify(pub, (const uint8_t *)text, len, sig)) {
		snprintf(why, size,
			 "the signature of %s does not verify for request %s (an approval of "
			 "another request, or of other text)",
			 op->name, req->id);
		return COORD_APPROVE_REFUSED;
	}
	for (size_t i = 0; i < req->napprovals; i++) {
		if (strcmp(req->approvals[i].name, op->name) == 0) {
			snprintf(why, size,
				 "%s approved request %s already: it needs distinct people",
				 op->name, req->id);
			return COORD_APPROVE_REFUSED;
		}
	}
	size_t before = request_match(req, rule);
	if (req->napprovals == COORD_APPROVAL_SLOTS_MAX) {
		snprintf(why, size, "request %s has all the approvals it can hold", req->id);
		return COORD_APPROVE_REFUSED;
	}
	coord_approval_t *a = &req->approvals[req->napprovals++];
	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", op->name);
	a->role = op->role;
	a->at_ms = now_ms;
	memcpy(a->sig, sig, COORD_APPROVAL_SIG_LEN);
	size_t after = request_match(req, rule);
	if (after == before) {
		req->napprovals--;
		memset(a, 0, sizeof(*a));
		snprintf(why, size, "%s (%s) fills no open place: %s needs %s, distinct people",
			 op->name, coord_role_str(op->role), req->action,
			 coord_rule_str(rule, need, sizeof(need)));
		return COORD_APPROVE_REFUSED;
	}
	if (after == rule->nslots) {
		snprintf(why, size, "approval by %s (%s) recorded; the quorum (%s) is met",
			 op->name, coord_role_str(op->role),
			 coord_rule_str(rule, need, sizeof(need)));
		return COORD_APPROVE_QUORUM;
	}
	snprintf(why, size, "approval by %s (%s) recorded; %zu of %zu: waiting (%s)", op->name,
		 coord_role_str(op->role), after, rule->nslots,
		 coord_rule_str(rule, need, sizeof(need)));
	return COORD_APPROVE_RECORDED;
}

size_t coord_requests_expire(coord_requests_t *reqs, uint64_t now_ms, size_t *idx, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < reqs->n; i++) {
		coord_request_t *r = &reqs->reqs[i];
		if (r->state == COORD_REQ_PENDING && r->expiry_ms <= now_ms) {
			r->state = COORD_REQ_EXPIRED;
			snprintf(r->outcome, sizeof(r->outcome), "expired before its quorum");
			if (idx != NULL && n < max) {
				idx[n] = i;
			}
			n++;
		}
	}
	return n;
}

coord_request_t *coord_requests_find(coord_requests_t *reqs, const char *id)
{
	for (size_t i = 0; reqs != NULL && id != NULL && i < reqs->n; i++) {
		if (strcmp(reqs->reqs[i].id, id) == 0) {
			return &reqs->reqs[i];
		}
	}
	return NULL;
}

int coord_requests_add(coord_requests_t *reqs, const coord_request_t *req)
{
	if (reqs == NULL || req == NULL) {
		return TANDEM_EINVAL;
	}
	if (reqs->n == COORD_REQUESTS_MAX) {
		size_t i = 0;
		while (i < reqs->n && reqs->reqs[i].state == COORD_REQ_PENDING) {
			i++; /* the table is in creation order: the first finished is the oldest */
		}
		if (i == reqs->n) {
			return TANDEM_ERANGE;
		}
		memmove(&reqs->reqs[i], &reqs->reqs[i + 1],
			(reqs->n - i - 1) * sizeof(reqs->reqs[0]));
		reqs->n--;
	}
	reqs->reqs[reqs->n++] = *req;
	return TANDEM_OK;
}

/* ---- ceremony records ----------------------------------------------------------------- */

size_t coord_record_body(const char *text, size_t len)
{
	for (size_t at = 0; at < len;) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t end = nl != NULL ? (size_t)(nl - text) + 1 : len;
		if (end - at >= 10 && memcmp(text + at, "signature ", 10) == 0) {
			return at;
		}
		at = end;
	}
	return len;
}

#define RECORD_PEOPLE_MAX 16

typedef struct record_person {
	char name[COORD_ID_MAX];
	coord_role_t role;
	bool signed_;
} record_person_t;

/* One "signature NAME PUBHEX SIGHEX" line against the body and the people present. */
static int record_signature(char *line, size_t lineno, const char *body, size_t blen,
			    record_person_t *people, size_t n, const coord_operators_t *ops,
			    char *why, size_t size)
{
	const char *w[5];
	uint8_t pub[COORD_APPROVAL_PUB_LEN], sig[COORD_APPROVAL_SIG_LEN];
	if (tandem_split(line, ' ', w, 4) != 4 || tandem_hex_decode(w[2], pub, sizeof(pub)) != 0 ||
	    tandem_hex_decode(w[3], sig, sizeof(sig)) != TANDEM_OK) {
		snprintf(why, size, "line %zu: want signature NAME PUBHEX SIGHEX", lineno);
		return TANDEM_ESYNTAX;
	}
	record_person_t *p = NULL;
	for (size_t i = 0; i < n; i++) {
		p = strcmp(people[i].name, w[1]) == 0 ? &people[i] : p;
	}
	if (p == NULL || p->signed_) {
		snprintf(why, size, "line %zu: %.63s %s", lineno, w[1],
			 p == NULL ? "signs but is not listed as present" : "signs twice");
		return TANDEM_EPERM;
	}
	if (!coord_approval_verify(pub, (const uint8_t *)body, blen, sig)) {
		snprintf(why, size,
			 "line %zu: the signature of %.63s does not verify over the record", lineno,
			 w[1]);
		return TANDEM_EPERM;
	}
	const coord_operator_t *op = ops != NULL ? coord_operators_find(ops, w[1]) : NULL;
	if (ops != NULL && (op == NULL || op->role != p->role ||
			    memcmp(op->pub, pub, COORD_APPROVAL_PUB_LEN) != 0)) {
		snprintf(why, size, "line %zu: %.63s is %s", lineno, w[1],
			 op == NULL            ? "not a registered operator"
			 : op->role != p->role ? "registered in another role"
					       : "registered with another key");
		return TANDEM_EPERM;
	}
	p->signed_ = true;
	return TANDEM_OK;
}

int coord_record_check(const char *text, size_t len, const coord_operators_t *ops, char *summary,
		       size_t ssize, char *why, size_t size)
{
	static const size_t hlen = sizeof(COORD_RECORD_HEADER) - 1;
	record_person_t people[RECORD_PEOPLE_MAX];
	size_t n = 0, lineno = 0, used = 0;
	bool has_time = false, has_what = false;
	if (text == NULL || summary == NULL || why == NULL || ssize == 0) {
		return TANDEM_EINVAL;
	}
	summary[0] = '\0';
	if (len < hlen || memcmp(text, COORD_RECORD_HEADER, hlen) != 0 ||
	    memchr(text, '\0', len) != NULL) {
		snprintf(why, size, "line 1: not a '%.*s' record", (int)hlen - 1,
			 COORD_RECORD_HEADER);
		return TANDEM_ESYNTAX;
	}
	size_t blen = coord_record_body(text, len);
	char *copy = malloc(len + 1);
	if (copy == NULL) {
		return TANDEM_ENOMEM;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	int ret = TANDEM_OK;
	for (char *line = copy, *next; ret == TANDEM_OK && line != NULL && *line; line = next) {
		size_t off = (size_t)(line - copy);
		next = strchr(line, '\n');
		if (next != NULL) {
			*next++ = '\0';
		}
		lineno++;
		if (lineno == 1) {
			continue;
		}
		if (off >= blen) {
			ret = strncmp(line, "signature ", 10) == 0
				  ? record_signature(line, lineno, text, blen, people, n, ops, why,
						     size)
				  : TANDEM_ESYNTAX;
			if (ret == TANDEM_ESYNTAX && strncmp(line, "signature ", 10) != 0) {
				snprintf(why, size, "line %zu: after the signatures", lineno);
			}
			continue;
		}
		if (strncmp(line, "time ", 5) == 0 || strncmp(line, "what ", 5) == 0) {
			has_time |= line[0] == 't';
			has_what |= line[0] == 'w';
			if (line[0] == 'w') {
				used += (size_t)snprintf(summary + used, ssize - used, "%.120s",
							 line + 5);
				used = used < ssize ? used : ssize - 1;
			}
		} else if (strncmp(line, "present ", 8) == 0) {
			const char *w[4];
			coord_role_t role;
			if (tandem_split(line, ' ', w, 3) != 3 || strlen(w[1]) >= COORD_ID_MAX ||
			    coord_role_parse(w[2], &role) != TANDEM_OK || n == RECORD_PEOPLE_MAX) {
				snprintf(why, size, "line %zu: want present NAME SA|SO|WI", lineno);
				ret = TANDEM_ESYNTAX;
				continue;
			}
			for (size_t i = 0; i < n; i++) {
				if (strcmp(people[i].name, w[1]) == 0) {
					snprintf(why, size, "line %zu: %s listed twice", lineno,
						 w[1]);
					ret = TANDEM_ESYNTAX;
				}
			}
			memset(&people[n], 0, sizeof(people[n]));
			memcpy(people[n].name, w[1], strlen(w[1]) + 1);
			people[n++].role = role;
		} else if (strncmp(line, "check-value ", 12) != 0 &&
			   strncmp(line, "card-holder ", 12) != 0) {
			snprintf(why, size, "line %zu: unknown line '%.20s'", lineno, line);
			ret = TANDEM_ESYNTAX;
		}
	}
	free(copy);
	if (ret == TANDEM_OK && (!has_time || !has_what || n < 2)) {
		snprintf(why, size, "the record needs a time, a what and two people present");
		ret = TANDEM_ESYNTAX;
	}
	for (size_t i = 0; ret == TANDEM_OK && i < n; i++) {
		if (!people[i].signed_) {
			snprintf(why, size, "%s was present but has not signed", people[i].name);
			ret = TANDEM_EPERM;
		}
	}
	for (size_t i = 0; ret == TANDEM_OK && i < n && used + 1 < ssize; i++) {
		used += (size_t)snprintf(summary + used, ssize - used, "%s%s (%s)",
					 i == 0 ? "; signed by " : ", ", people[i].name,
					 coord_role_str(people[i].role));
	}
	return ret;
}

/* ---- JSON ------------------------------------------------------------------------------- */

static void hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int dump(json_t *root, char **out)
{
	if (root == NULL) {
		return TANDEM_ENOMEM;
	}
	char *s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(root);
	if (s == NULL) {
		return TANDEM_ENOMEM;
	}
	*out = s;
	return TANDEM_OK;
}

int coord_operators_pack(const coord_operators_t *ops, char **out)
{
	if (ops == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	json_t *root = json_object();
	json_t *arr = json_array();
	for (size_t i = 0; root != NULL && arr != NULL && i < ops->n; i++) {
		char h[2 * COORD_APPROVAL_PUB_LEN + 1];
		hex(ops->ops[i].pub, COORD_APPROVAL_PUB_LEN, h);
		json_array_append_new(arr,
				      json_pack("{s:s,s:s,s:s}", "name", ops->ops[i].name, "role",
						coord_role_str(ops->ops[i].role), "pub", h));
	}
	if (root == NULL || arr == NULL) {
		json_decref(root);
		json_decref(arr);
		return TANDEM_ENOMEM;
	}
	json_object_set_new(root, "version", json_integer(DOC_VERSION));
	json_object_set_new(root, "operators", arr);
	return dump(root, out);
}

static bool str_field(json_t *o, const char *key, char *dst, size_t size, bool optional)
{
	json_t *v = json_object_get(o, key);
	if (v == NULL && optional) {
		dst[0] = '\0';
		return true;
	}
	const char *s = json_string_value(v);
	if (s == NULL || strlen(s) >= size) {
		return false;
	}
	memcpy(dst, s, strlen(s) + 1);
	return true;
}

static bool u64_field(json_t *o, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		return false;
	}
	*out = (uint64_t)json_integer_value(v);
	return true;
}

static json_t *doc_load(const char *text, size_t len, const char *list, char *why, size_t size)
{
	json_error_t err;
	json_t *root = json_loadb(text, len, 0, &err);
	if (root == NULL) {
		snprintf(why, size, "line %d: %s", err.line, err.text);
		return NULL;
	}
	json_t *v = json_object_get(root, "version");
	if (!json_is_integer(v) || json_integer_value(v) != DOC_VERSION ||
	    !json_is_array(json_object_get(root, list))) {
		snprintf(why, size, "not a version %d document with %s", DOC_VERSION, list);
		json_decref(root);
		return NULL;
	}
	return root;
}

int coord_operators_unpack(const char *text, size_t len, coord_operators_t *out, char *why,
			   size_t size)
{
	if ((text == NULL && len > 0) || out == NULL || why == NULL) {
		return TANDEM_EINVAL;
	}
	coord_operators_t *ops = calloc(1, sizeof(*ops));
	if (ops == NULL) {
		return TANDEM_ENOMEM;
	}
	int ret = TANDEM_OK;
	json_t *root = len == 0 ? NULL : doc_load(text, len, "operators", why, size);
	if (len > 0 && root == NULL) {
		ret = TANDEM_ESYNTAX;
		goto out;
	}
	json_t *arr = json_object_get(root, "operators");
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *o = json_array_get(arr, i);
		coord_operator_t op;
		char role[4], pub[2 * COORD_APPROVAL_PUB_LEN + 1], msg[160];
		memset(&op, 0, sizeof(op));
		if (!str_field(o, "name", op.name, sizeof(op.name), false) ||
		    !str_field(o, "role", role, sizeof(role), false) ||
		    !str_field(o, "pub", pub, sizeof(pub), false) ||
		    coord_role_parse(role, &op.role) != TANDEM_OK ||
		    tandem_hex_decode(pub, op.pub, sizeof(op.pub)) != TANDEM_OK) {
			snprintf(why, size, "operator %zu: want name, role SA|SO|WI, pub (hex)", i);
			ret = TANDEM_ESYNTAX;
			goto out;
		}
		if (!coord_operators_add(ops, &op, msg, sizeof(msg))) {
			snprintf(why, size, "operator %zu: %s", i, msg);
			ret = TANDEM_ESYNTAX;
			goto out;
		}
	}
	*out = *ops;
out:
	json_decref(root);
	free(ops);
	return ret;
}

static json_t *request_json(const coord_request_t *r)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr != NULL && i < r->napprovals; i++) {
		const coord_approval_t *a = &r->approvals[i];
		char h[2 * COORD_APPROVAL_SIG_LEN + 1];
		hex(a->sig, COORD_APPROVAL_SIG_LEN, h);
		json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:s}", "operator", a->name,
						     "role", coord_role_str(a->role), "at_ms",
						     (json_int_t)a->at_ms, "sig", h));
	}
	if (arr == NULL) {
		return NULL;
	}
	return json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:o}", "id", r->id, "action", r->action,
			 "args", r->args, "requester", r->requester, "created_ms",
			 (json_int_t)r->created_ms, "expiry_ms", (json_int_t)r->expiry_ms, "state",
			 coord_req_state_str(r->state), "outcome", r->outcome, "approvals", arr);
}

static bool request_from_json(json_t *o, coord_request_t *r)
{
	char state[16];
	memset(r, 0, sizeof(*r));
	if (!str_field(o, "id", r->id, sizeof(r->id), false) ||
	    !str_field(o, "action", r->action, sizeof(r->action), false) ||
	    !str_field(o, "args", r->args, sizeof(r->args), false) ||
	    !str_field(o, "requester", r->requester, sizeof(r->requester), false) ||
	    !str_field(o, "outcome", r->outcome, sizeof(r->outcome), true) ||
	    !str_field(o, "state", state, sizeof(state), false) ||
	    !u64_field(o, "created_ms", &r->created_ms) ||
	    !u64_field(o, "expiry_ms", &r->expiry_ms)) {
		return false;
	}
	bool known = false;
	for (int s = COORD_REQ_PENDING; s <= COORD_REQ_CANCELLED; s++) {
		if (strcmp(state, coord_req_state_str((coord_req_state_t)s)) == 0) {
			r->state = (coord_req_state_t)s;
			known = true;
		}
	}
	json_t *arr = json_object_get(o, "approvals");
	if (!known || !json_is_array(arr) || json_array_size(arr) > COORD_APPROVAL_SLOTS_MAX) {
		return false;
	}
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *a = json_array_get(arr, i);
		coord_approval_t *ap = &r->approvals[r->napprovals++];
		char role[4], sig[2 * COORD_APPROVAL_SIG_LEN + 1];
		if (!str_field(a, "operator", ap->name, sizeof(ap->name), false) ||
		    !str_field(a, "role", role, sizeof(role), false) ||
		    !str_field(a, "sig", sig, sizeof(sig), false) ||
		    !u64_field(a, "at_ms", &ap->at_ms) ||
		    coord_role_parse(role, &ap->role) != TANDEM_OK ||
		    tandem_hex_decode(sig, ap->sig, sizeof(ap->sig)) != TANDEM_OK) {
			return false;
		}
	}
	return true;
}

int coord_request_pack(const coord_request_t *req, char **out)
{
	if (req == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	return dump(request_json(req), out);
}

int coord_request_unpack(const char *text, size_t len, coord_request_t *out, char *why, size_t size)
{
	if (text == NULL || out == NULL || why == NULL) {
		return TANDEM_EINVAL;
	}
	json_error_t err;
	json_t *o = json_loadb(text, len, 0, &err);
	coord_request_t r;
	bool ok = o != NULL && request_from_json(o, &r);
	json_decref(o);
	if (!ok) {
		snprintf(why, size, "not a request");
		return TANDEM_ESYNTAX;
	}
	*out = r;
	return TANDEM_OK;
}

int coord_requests_pack(const coord_requests_t *reqs, char **out)
{
	if (reqs == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	json_t *arr = json_array();
	for (size_t i = 0; arr != NULL && i < reqs->n; i++) {
		json_array_append_new(arr, request_json(&reqs->reqs[i]));
	}
	if (arr == NULL) {
		return TANDEM_ENOMEM;
	}
	return dump(json_pack("{s:i,s:o}", "version", DOC_VERSION, "requests", arr), out);
}

int coord_requests_unpack(const char *text, size_t len, coord_requests_t *out, char *why,
			  size_t size)
{
	if ((text == NULL && len > 0) || out == NULL || why == NULL) {
		return TANDEM_EINVAL;
	}
	out->n = 0;
	if (len == 0) {
		return TANDEM_OK;
	}
	json_t *root = doc_load(text, len, "requests", why, size);
	if (root == NULL) {
		return TANDEM_ESYNTAX;
	}
	json_t *arr = json_object_get(root, "requests");
	int ret = TANDEM_OK;
	if (json_array_size(arr) > COORD_REQUESTS_MAX) {
		snprintf(why, size, "more than %d requests", COORD_REQUESTS_MAX);
		ret = TANDEM_ESYNTAX;
	}
	for (size_t i = 0; ret == TANDEM_OK && i < json_array_size(arr); i++) {
		if (!request_from_json(json_array_get(arr, i), &out->reqs[i])) {
			snprintf(why, size, "request %zu: malformed", i);
			ret = TANDEM_ESYNTAX;
		}
		out->n = i + 1;
	}
	if (ret != TANDEM_OK) {
		out->n = 0;
	}
	json_decref(root);
	return ret;
}
