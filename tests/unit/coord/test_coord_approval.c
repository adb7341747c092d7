/* Unit tests of multi-person control: roles, rules, signatures bound to a request, quorum. */
#include "coord_approval.h"
#include "tandem_error.h"

#include <check.h>
#include <openssl/evp.h>

#include <stdlib.h>
#include <string.h>

#define T0 1800000000000ull

/* A person: a fixed Ed25519 seed, so the test is the same every run. */
typedef struct person {
	EVP_PKEY *key;
	coord_operator_t op;
} person_t;

static void person_init(person_t *p, const char *name, coord_role_t role, uint8_t seed_byte)
{
	uint8_t seed[32];
	size_t len = COORD_APPROVAL_PUB_LEN;
	memset(seed, seed_byte, sizeof(seed));
	memset(p, 0, sizeof(*p));
	p->key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof(seed));
	ck_assert_ptr_nonnull(p->key);
	ck_assert_int_eq(EVP_PKEY_get_raw_public_key(p->key, p->op.pub, &len), 1);
	strcpy(p->op.name, name);
	p->op.role = role;
}

static void sign(const person_t *p, const coord_request_t *req, uint8_t sig[64])
{
	char text[COORD_REQUEST_TEXT_MAX];
	size_t len = coord_request_text(req, text), slen = 64;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	ck_assert_int_eq(EVP_DigestSignInit(ctx, NULL, NULL, NULL, p->key), 1);
	ck_assert_int_eq(EVP_DigestSign(ctx, sig, &slen, (const uint8_t *)text, len), 1);
	EVP_MD_CTX_free(ctx);
}

static person_t sa1, sa2, so1, wi1, stranger;
static coord_operators_t ops;
static coord_rules_t rules;

static void setup(void)
{
	char why[200];
	person_init(&sa1, "sa1", COORD_ROLE_SA, 1);
	person_init(&sa2, "sa2", COORD_ROLE_SA, 2);
	person_init(&so1, "so1", COORD_ROLE_SO, 3);
	person_init(&wi1, "wi1", COORD_ROLE_WI, 4);
	person_init(&stranger, "eve", COORD_ROLE_SO, 5);
	memset(&ops, 0, sizeof(ops));
	ck_assert(coord_operators_add(&ops, &sa1.op, why, sizeof(why)));
	ck_assert(coord_operators_add(&ops, &sa2.op, why, sizeof(why)));
	ck_assert(coord_operators_add(&ops, &so1.op, why, sizeof(why)));
	ck_assert(coord_operators_add(&ops, &wi1.op, why, sizeof(why)));
	coord_rules_default(&rules);
}

static void teardown(void)
{
	person_t *all[] = {&sa1, &sa2, &so1, &wi1, &stranger};
	for (size_t i = 0; i < 5; i++) {
		EVP_PKEY_free(all[i]->key);
	}
}

static coord_request_t request(const char *id, const char *action, const char *args)
{
	coord_request_t r;
	memset(&r, 0, sizeof(r));
	strcpy(r.id, id);
	strcpy(r.action, action);
	strcpy(r.args, args);
	strcpy(r.requester, "op1");
	r.created_ms = T0;
	r.expiry_ms = T0 + COORD_REQUEST_TTL_MS;
	return r;
}

static coord_approve_t approve(coord_request_t *r, const person_t *p, uint64_t now, char *why)
{
	uint8_t sig[64];
	const coord_operator_t *who = NULL;
	sign(p, r, sig);
	return coord_request_approve(r, coord_rule_find(&rules, r->action), &ops, p->op.pub, sig,
				     now, &who, why, 200);
}

START_TEST(test_text)
{
	coord_request_t r = request("00112233aabbccdd", "takeover", "site=B");
	char text[COORD_REQUEST_TEXT_MAX];
	size_t len = coord_request_text(&r, text);
	ck_assert_uint_eq(len, strlen(text));
	ck_assert_str_eq(text, "tandem approval v1\naction takeover\nargs site=B\n"
			       "expires 1800003600000 (2027-01-15T09:00:00.000Z)\n"
			       "request 00112233aabbccdd\n");
}
END_TEST

START_TEST(test_sa_so_quorum_once)
{
	char why[200];
	coord_request_t r = request("0000000000000001", "takeover", "site=B");
	ck_assert_int_eq(approve(&r, &sa1, T0 + 1, why), COORD_APPROVE_RECORDED);
	ck_assert(!coord_request_quorum(&r, coord_rule_find(&rules, "takeover")));
	ck_assert_int_eq(approve(&r, &so1, T0 + 2, why), COORD_APPROVE_QUORUM);
	ck_assert(coord_request_quorum(&r, coord_rule_find(&rules, "takeover")));
	ck_assert_uint_eq(r.napprovals, 2);
	ck_assert_str_eq(r.approvals[1].name, "so1");
	/* SA + WI also fills it */
	coord_request_t w = request("0000000000000002", "takeover", "site=B");
	ck_assert_int_eq(approve(&w, &wi1, T0, why), COORD_APPROVE_RECORDED);
	ck_assert_int_eq(approve(&w, &sa2, T0, why), COORD_APPROVE_QUORUM);
	/* once executed, no approval counts again */
	r.state = COORD_REQ_EXECUTED;
	ck_assert_int_eq(approve(&r, &wi1, T0 + 3, why), COORD_APPROVE_REFUSED);
	ck_assert_ptr_nonnull(strstr(why, "executed"));
}
END_TEST

START_TEST(test_same_person_and_same_role)
{
	char why[200];
	coord_request_t r = request("0000000000000003", "takeover", "site=B");
	ck_assert_int_eq(approve(&r, &sa1, T0, why), COORD_APPROVE_RECORDED);
	ck_assert_int_eq(approve(&r, &sa1, T0, why), COORD_APPROVE_REFUSED);
	ck_assert_ptr_nonnull(strstr(why, "distinct people"));
	ck_assert_int_eq(approve(&r, &sa2, T0, why), COORD_APPROVE_REFUSED);
	ck_assert_ptr_nonnull(strstr(why, "fills no open place"));
	ck_assert_uint_eq(r.napprovals, 1);
	ck_assert_int_eq(r.state, COORD_REQ_PENDING);
	/* SO first, then WI: WI cannot take the SA place */
	coord_request_t q = request("0000000000000004", "params-set", "lease_ms=1 margin_ms=1");
	ck_assert_int_eq(approve(&q, &so1, T0, why), COORD_APPROVE_RECORDED);
	ck_assert_int_eq(approve(&q, &wi1, T0, why), COORD_APPROVE_REFUSED);
	ck_assert_int_eq(approve(&q, &sa2, T0, why), COORD_APPROVE_QUORUM);
}
END_TEST

START_TEST(test_three_roles_and_matching)
{
	char why[200];
	/* keygen: SA, SO and WI, in any order */
	coord_request_t r = request("0000000000000005", "keygen", "");
	ck_assert_int_eq(approve(&r, &wi1, T0, why), COORD_APPROVE_RECORDED);
	ck_assert_int_eq(approve(&r, &sa1, T0, why), COORD_APPROVE_RECORDED);
	ck_assert_int_eq(approve(&r, &sa2, T0, why), COORD_APPROVE_REFUSED);
	ck_assert_int_eq(approve(&r, &so1, T0, why), COORD_APPROVE_QUORUM);
	/* archive distribution: SA or SO, and WI; an SO first then SA fills nothing */
	coord_request_t d = request("0000000000000006", "archive-distribute", "");
	ck_assert_int_eq(approve(&d, &so1, T0, why), COORD_APPROVE_RECORDED);
	ck_assert_int_eq(approve(&d, &sa1, T0, why), COORD_APPROVE_REFUSED);
	ck_assert_int_eq(approve(&d, &wi1, T0, why), COORD_APPROVE_QUORUM);
	/* an overridden rule where a greedy pick would fail: SA|SO then SA */
	char err[200];
	ck_assert_int_eq(coord_rules_parse("x-action SA|SO SA\n", &rules, err, sizeof(err)),
			 TANDEM_OK);
	coord_request_t x = request("0000000000000007", "x-action", "");
	ck_assert_int_eq(approve(&x, &sa1, T0, why), COORD_APPROVE_RECORDED);
	ck_assert_int_eq(approve(&x, &so1, T0, why), COORD_APPROVE_QUORUM);
}
END_TEST

START_TEST(test_replay_expiry_unregistered)
{
	char why[200];
	uint8_t sig[64];
	const coord_operator_t *who = NULL;
	const coord_rule_t *rule = coord_rule_find(&rules, "takeover");
	coord_request_t r1 = request("00000000000000a1", "takeover", "site=B");
	coord_request_t r2 = request("00000000000000a2", "takeover", "site=B");
	/* sa1's signature of request 1 sent for request 2 */
	sign(&sa1, &r1, sig);
	ck_assert_int_eq(
	    coord_request_approve(&r2, rule, &ops, sa1.op.pub, sig, T0, &who, why, sizeof(why)),
	    COORD_APPROVE_REFUSED);
	ck_assert_ptr_nonnull(strstr(why, "does not verify"));
	ck_assert_uint_eq(r2.napprovals, 0);
	/* the same request with another expiry is other text */
	coord_request_t r1b = r1;
	r1b.expiry_ms++;
	ck_assert_int_eq(
	    coord_request_approve(&r1b, rule, &ops, sa1.op.pub, sig, T0, &who, why, sizeof(why)),
	    COORD_APPROVE_REFUSED);
	/* a key that is not in the table */
	ck_assert_int_eq(approve(&r1, &stranger, T0, why), COORD_APPROVE_REFUSED);
	ck_assert_ptr_nonnull(strstr(why, "not registered"));
	/* at the expiry: the request expires and nothing counts */
	ck_assert_int_eq(approve(&r1, &sa1, r1.expiry_ms, why), COORD_APPROVE_EXPIRED);
	ck_assert_int_eq(r1.state, COORD_REQ_EXPIRED);
	ck_assert_int_eq(approve(&r1, &so1, r1.expiry_ms - 1, why), COORD_APPROVE_REFUSED);
	/* the sweep expires pending requests only */
	coord_requests_t *reqs = calloc(1, sizeof(*reqs));
	ck_assert_int_eq(coord_requests_add(reqs, &r2), TANDEM_OK);
	coord_request_t done = request("00000000000000a3", "takeover", "site=A");
	done.state = COORD_REQ_EXECUTED;
	ck_assert_int_eq(coord_requests_add(reqs, &done), TANDEM_OK);
	size_t idx[4];
	ck_assert_uint_eq(coord_requests_expire(reqs, r2.expiry_ms - 1, idx, 4), 0);
	ck_assert_uint_eq(coord_requests_expire(reqs, r2.expiry_ms, idx, 4), 1);
	ck_assert_uint_eq(idx[0], 0);
	ck_assert_int_eq(reqs->reqs[1].state, COORD_REQ_EXECUTED);
	free(reqs);
}
END_TEST

START_TEST(test_roles_table)
{
	char why[200];
	coord_operator_t op = so1.op;
	/* a name in a second role, and a key in a second role */
	op.role = COORD_ROLE_WI;
	ck_assert(!coord_operators_add(&ops, &op, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "one role"));
	strcpy(op.name, "so1-again");
	ck_assert(!coord_operators_add(&ops, &op, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "registered already, as so1"));
	strcpy(op.name, "bad name");
	memset(op.pub, 9, sizeof(op.pub));
	ck_assert(!coord_operators_add(&ops, &op, why, sizeof(why)));
	ck_assert_uint_eq(ops.n, 4);
	/* removing the last SO is refused; an SA of two is not */
	ck_assert(!coord_operators_remove(&ops, "so1", why, sizeof(why)));
	ck_assert(!coord_operators_remove(&ops, "nobody", why, sizeof(why)));
	ck_assert(coord_operators_remove(&ops, "sa2", why, sizeof(why)));
	ck_assert(!coord_operators_remove(&ops, "sa1", why, sizeof(why)));
	ck_assert_uint_eq(ops.n, 3);
	/* JSON round trip, and a document with one key twice refused */
	char *text = NULL;
	coord_operators_t back;
	ck_assert_int_eq(coord_operators_pack(&ops, &text), TANDEM_OK);
	ck_assert_int_eq(coord_operators_unpack(text, strlen(text), &back, why, sizeof(why)),
			 TANDEM_OK);
	ck_assert_uint_eq(back.n, 3);
	ck_assert_mem_eq(back.ops[2].pub, ops.ops[2].pub, 32);
	ck_assert_int_eq(back.ops[2].role, COORD_ROLE_WI);
	char *twice = malloc(2 * strlen(text) + 8);
	/* {"operators":[A,B,C],...}: add so1's entry again under another name */
	ck_assert_int_eq(coord_operators_unpack("", 0, &back, why, sizeof(why)), TANDEM_OK);
	ck_assert_uint_eq(back.n, 0);
	strcpy(twice, "{\"version\":1,\"operators\":[");
	coord_operators_t two = ops;
	char *one = NULL;
	two.n = 1;
	two.ops[0] = so1.op;
	ck_assert_int_eq(coord_operators_pack(&two, &one), TANDEM_OK);
	const char *entry = strchr(one, '[') + 1;
	size_t elen = (size_t)(strrchr(one, ']') - entry);
	strncat(twice, entry, elen);
	strcat(twice, ",");
	strncat(twice, entry, elen);
	strcat(twice, "]}");
	twice[strlen(twice) - 2 - elen + 9] = 'x'; /* "name":"so1" -> "name":"xo1" */
	ck_assert_int_eq(coord_operators_unpack(twice, strlen(twice), &back, why, sizeof(why)),
			 TANDEM_ESYNTAX);
	ck_assert_ptr_nonnull(strstr(why, "registered already"));
	free(one);
	free(twice);
	free(text);
}
END_TEST

START_TEST(test_args_and_rules)
{
	char out[COORD_ARGS_MAX], why[200], buf0[96];
	const char *w1[] = {"site=B"};
	ck_assert(coord_request_args("takeover", w1, 1, out, why, sizeof(why)));
	ck_assert_str_eq(out, "site=B");
	const char *w2[] = {"margin_ms=2000", "lease_ms=10000"};
	ck_assert(coord_request_args("params-set", w2, 2, out, why, sizeof(why)));
	ck_assert_str_eq(out, "lease_ms=10000 margin_ms=2000");
	char v[32];
	ck_assert(coord_args_get(out, "margin_ms", v, sizeof(v)));
	ck_assert_str_eq(v, "2000");
	ck_assert(!coord_args_get(out, "lease", v, sizeof(v)));
	const char *bad1[] = {"site=b"};
	ck_assert(!coord_request_args("takeover", bad1, 1, out, why, sizeof(why)));
	const char *bad2[] = {"site=A", "site=B"};
	ck_assert(!coord_request_args("takeover", bad2, 2, out, why, sizeof(why)));
	ck_assert(!coord_request_args("takeover", NULL, 0, out, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "missing"));
	ck_assert(!coord_request_args("switchover", w1, 1, out, why, sizeof(why)));
	const char *bad3[] = {"name=x", "role=SA", "pub=00"};
	ck_assert(!coord_request_args("operator-register", bad3, 3, out, why, sizeof(why)));
	/* key-remove: zone and a key id or tag; archive-distribute: a node, the zone optional */
	const char *kr[] = {"key=12345", "zone=example."};
	ck_assert(coord_request_args("key-remove", kr, 2, out, why, sizeof(why)));
	ck_assert_str_eq(out, "zone=example. key=12345");
	ck_assert(!coord_request_args("key-remove", kr, 1, out, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "zone=... missing"));
	const char *ad[] = {"node=node-c"};
	ck_assert(coord_request_args("archive-distribute", ad, 1, out, why, sizeof(why)));
	ck_assert_str_eq(out, "node=node-c");
	const char *adz[] = {"zone=example.", "node=node-c"};
	ck_assert(coord_request_args("archive-distribute", adz, 2, out, why, sizeof(why)));
	ck_assert_str_eq(out, "node=node-c zone=example.");
	/* policy-set: a policy name and its SHA-256, the zone optional; "-" for none */
	const char *ps[] = {
	    "zone=example.",
	    "digest=eecdfcf2721d0635bbe5da86aecb71c6f6c6b845f20e59ed11ffb43f243b3aaa", "name=p1"};
	ck_assert(coord_request_args("policy-set", ps, 3, out, why, sizeof(why)));
	ck_assert_str_eq(out,
			 "name=p1 "
			 "digest=eecdfcf2721d0635bbe5da86aecb71c6f6c6b845f20e59ed11ffb43f243b3aaa "
			 "zone=example.");
	ck_assert(coord_request_args("policy-set", ps + 1, 2, out, why, sizeof(why)));
	const char *none[] = {"name=-", "digest=-", "zone=example."};
	ck_assert(coord_request_args("policy-set", none, 3, out, why, sizeof(why)));
	const char *short_digest[] = {"name=p1", "digest=eecdfcf2"};
	ck_assert(!coord_request_args("policy-set", short_digest, 2, out, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "digest"));
	const char *bad_name[] = {"name=a/b", "digest=-"};
	ck_assert(!coord_request_args("policy-set", bad_name, 2, out, why, sizeof(why)));
	ck_assert(!coord_request_args("policy-set", ps + 2, 1, out, why, sizeof(why)));
	const char *adn[] = {"zone=example."};
	ck_assert(!coord_request_args("archive-distribute", adn, 1, out, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "node=... missing"));
	const char *adb[] = {"node=no de"};
	ck_assert(!coord_request_args("archive-distribute", adb, 1, out, why, sizeof(why)));
	ck_assert_str_eq(coord_rule_str(coord_rule_find(&rules, "key-remove"), buf0, sizeof(buf0)),
			 "one SA and one of SO|WI");
	/* tandemctl drill on a production cluster, and the flag off (docs/drills.md) */
	const char *w3[] = {"scenario=site-loss"};
	ck_assert(coord_request_args("drill", w3, 1, out, why, sizeof(why)));
	ck_assert_str_eq(out, "scenario=site-loss");
	const char *bad4[] = {"scenario=Site Loss"};
	ck_assert(!coord_request_args("drill", bad4, 1, out, why, sizeof(why)));
	ck_assert(!coord_request_args("drill", NULL, 0, out, why, sizeof(why)));
	ck_assert(coord_request_args("production-off", NULL, 0, out, why, sizeof(why)));
	ck_assert_str_eq(out, "");
	ck_assert(!coord_request_args("production-off", w3, 1, out, why, sizeof(why)));
	/* the rules: defaults, and an override refused whole when one line is bad */
	char buf[96];
	ck_assert_str_eq(coord_rule_str(coord_rule_find(&rules, "takeover"), buf, sizeof(buf)),
			 "one SA and one of SO|WI");
	ck_assert_str_eq(coord_rule_str(coord_rule_find(&rules, "drill"), buf, sizeof(buf)),
			 "one SA and one of SO|WI");
	ck_assert_str_eq(
	    coord_rule_str(coord_rule_find(&rules, "production-off"), buf, sizeof(buf)),
	    "one SA and one of SO|WI");
	ck_assert_ptr_null(coord_rule_find(&rules, "switchover"));
	ck_assert_int_eq(
	    coord_rules_parse("takeover -\nsite-suspend SA XX\n", &rules, why, sizeof(why)),
	    TANDEM_ESYNTAX);
	ck_assert_ptr_nonnull(strstr(why, "line 2"));
	ck_assert_uint_eq(coord_rule_find(&rules, "takeover")->nslots, 2);
	ck_assert_int_eq(
	    coord_rules_parse("# one person may\ntakeover -\n", &rules, why, sizeof(why)),
	    TANDEM_OK);
	ck_assert_uint_eq(coord_rule_find(&rules, "takeover")->nslots, 0);
	/* a one-person rule: any registered person alone */
	coord_request_t r = request("0000000000000009", "takeover", "site=B");
	ck_assert_int_eq(approve(&r, &wi1, T0, why), COORD_APPROVE_QUORUM);
}
END_TEST

/* The rules as stored in etcd: formatted, parsed back over the defaults, the same; a
 * rules-set request's arguments checked. */
/* The archive-distribution grants: a node's own zone, every zone, nobody else. */
START_TEST(test_grants)
{
	char t1[256], t2[256], t3[256];
	ck_assert(!coord_grants_allow(NULL, "node-a", "example."));
	ck_assert(!coord_grants_allow("", "node-a", "example."));
	ck_assert_int_eq(coord_grants_add("", "node-a", NULL, t1, sizeof(t1)), TANDEM_OK);
	ck_assert_str_eq(t1, "node-a *\n");
	ck_assert(coord_grants_allow(t1, "node-a", "example."));
	ck_assert(coord_grants_allow(t1, "node-a", "other.jp."));
	ck_assert(!coord_grants_allow(t1, "node-c", "example."));
	ck_assert(!coord_grants_allow(t1, "node-", "example."));
	ck_assert_int_eq(coord_grants_add(t1, "node-c", "example.", t2, sizeof(t2)), TANDEM_OK);
	ck_assert_str_eq(t2, "node-a *\nnode-c example.\n");
	ck_assert(coord_grants_allow(t2, "node-c", "EXAMPLE."));
	ck_assert(!coord_grants_allow(t2, "node-c", "other.jp."));
	/* already there, or covered by "node *": the table as it was */
	ck_assert_int_eq(coord_grants_add(t2, "node-c", "example.", t3, sizeof(t3)), TANDEM_OK);
	ck_assert_str_eq(t3, t2);
	ck_assert_int_eq(coord_grants_add(t2, "node-a", "example.", t3, sizeof(t3)), TANDEM_OK);
	ck_assert_str_eq(t3, t2);
	/* every zone for node-c: added beside its one zone */
	ck_assert_int_eq(coord_grants_add(t2, "node-c", "", t3, sizeof(t3)), TANDEM_OK);
	ck_assert_str_eq(t3, "node-a *\nnode-c example.\nnode-c *\n");
	/* refusals: bad names, a bad table, no room */
	ck_assert_int_eq(coord_grants_add(t1, "no de", NULL, t3, sizeof(t3)), TANDEM_EINVAL);
	ck_assert_int_eq(coord_grants_add(t1, "node-c", "bad..zone", t3, sizeof(t3)),
			 TANDEM_EINVAL);
	ck_assert_int_eq(coord_grants_add("node-a\n", "node-c", NULL, t3, sizeof(t3)),
			 TANDEM_ESYNTAX);
	ck_assert_int_eq(coord_grants_add(t1, "node-c", NULL, t3, 8), TANDEM_ERANGE);
}
END_TEST

START_TEST(test_rules_stored_and_set)
{
	coord_rules_t r, back;
	char text[64u * COORD_RULES_MAX], again[64u * COORD_RULES_MAX], why[160];
	coord_rules_default(&r);
	ck_assert_int_eq(
	    coord_rules_parse("keygen SA SO|WI\nsite-suspend -\n", &r, why, sizeof(why)),
	    TANDEM_OK);
	ck_assert_int_eq(coord_rules_format(&r, text, sizeof(text)), TANDEM_OK);
	ck_assert_ptr_nonnull(strstr(text, "keygen SA SO|WI\n"));
	ck_assert_ptr_nonnull(strstr(text, "site-suspend -\n"));
	ck_assert_ptr_nonnull(strstr(text, "rules-set SA SO|WI\n")); /* a default of its own */
	coord_rules_default(&back);
	ck_assert_int_eq(coord_rules_parse(text, &back, why, sizeof(why)), TANDEM_OK);
	ck_assert_int_eq(coord_rules_format(&back, again, sizeof(again)), TANDEM_OK);
	ck_assert_str_eq(text, again);
	ck_assert_int_eq(coord_rules_format(&r, text, 8), TANDEM_ERANGE);

	char args[COORD_ARGS_MAX];
	const char *ok[] = {"action=keygen", "slots=SA,SO|WI"};
	ck_assert(coord_request_args("rules-set", ok, 2, args, why, sizeof(why)));
	const char *one[] = {"action=takeover", "slots=-"};
	ck_assert(coord_request_args("rules-set", one, 2, args, why, sizeof(why)));
	const char *bad_role[] = {"action=keygen", "slots=SA,XX"};
	ck_assert(!coord_request_args("rules-set", bad_role, 2, args, why, sizeof(why)));
	const char *bad_action[] = {"action=Keygen!", "slots=SA"};
	ck_assert(!coord_request_args("rules-set", bad_action, 2, args, why, sizeof(why)));
	const char *too_many[] = {"action=keygen", "slots=SA,SO,WI,SA,SO"};
	ck_assert(!coord_request_args("rules-set", too_many, 2, args, why, sizeof(why)));
}
END_TEST

START_TEST(test_requests_doc)
{
	char why[200];
	coord_requests_t *reqs = calloc(1, sizeof(*reqs));
	coord_requests_t *back = calloc(1, sizeof(*back));
	coord_request_t r = request("00000000000000b1", "takeover", "site=B");
	ck_assert_int_eq(approve(&r, &sa1, T0, why), COORD_APPROVE_RECORDED);
	for (size_t i = 0; i < COORD_REQUESTS_MAX; i++) {
		r.id[15] = (char)('a' + (i % 6));
		r.id[14] = (char)('a' + (i / 6 % 6));
		r.state = i == 3 ? COORD_REQ_CANCELLED : COORD_REQ_PENDING;
		ck_assert_int_eq(coord_requests_add(reqs, &r), TANDEM_OK);
	}
	/* full: the oldest finished one makes room; then only pending ones: refused */
	ck_assert_int_eq(coord_requests_add(reqs, &r), TANDEM_OK);
	ck_assert_int_eq(coord_requests_add(reqs, &r), TANDEM_ERANGE);
	char *text = NULL;
	ck_assert_int_eq(coord_requests_pack(reqs, &text), TANDEM_OK);
	ck_assert_int_eq(coord_requests_unpack(text, strlen(text), back, why, sizeof(why)),
			 TANDEM_OK);
	ck_assert_uint_eq(back->n, COORD_REQUESTS_MAX);
	ck_assert_mem_eq(back->reqs[5].approvals[0].sig, reqs->reqs[5].approvals[0].sig, 64);
	ck_assert_str_eq(back->reqs[5].args, "site=B");
	ck_assert_int_eq(
	    coord_requests_unpack("{\"version\":2,\"requests\":[]}", 27, back, why, sizeof(why)),
	    TANDEM_ESYNTAX);
	free(text);
	free(reqs);
	free(back);
}
END_TEST

/* Appends person p's signature of the record's body to rec (a buffer of 4096). */
static void record_sign(char *rec, const person_t *p, const char *name)
{
	uint8_t seed[32], sig[64], pub[32];
	size_t len = sizeof(seed);
	ck_assert_int_eq(EVP_PKEY_get_raw_private_key(p->key, seed, &len), 1);
	size_t blen = coord_record_body(rec, strlen(rec));
	ck_assert_int_eq(coord_approval_sign(seed, (const uint8_t *)rec, blen, sig, pub),
			 TANDEM_OK);
	ck_assert_mem_eq(pub, p->op.pub, 32);
	strcat(rec, "signature ");
	strcat(rec, name);
	strcat(rec, " ");
	for (size_t i = 0; i < 32; i++) {
		sprintf(rec + strlen(rec), "%02x", pub[i]);
	}
	strcat(rec, " ");
	for (size_t i = 0; i < 64; i++) {
		sprintf(rec + strlen(rec), "%02x", sig[i]);
	}
	strcat(rec, "\n");
}

START_TEST(test_ceremony_record)
{
	static const char body[] = "tandem ceremony record v1\n"
				   "time 2027-01-15T08:00:00.000Z\n"
				   "what SMK generated: 3 cards, any 2 install it\n"
				   "check-value 374d15e8\n"
				   "card-holder card-01 alice\n"
				   "present sa1 SA\n"
				   "present so1 SO\n";
	char rec[4096], sum[200], why[200];
	strcpy(rec, body);
	ck_assert_uint_eq(coord_record_body(rec, strlen(rec)), strlen(body));
	/* unsigned, then half signed: refused */
	ck_assert_int_eq(
	    coord_record_check(rec, strlen(rec), &ops, sum, sizeof(sum), why, sizeof(why)),
	    TANDEM_EPERM);
	record_sign(rec, &sa1, "sa1");
	ck_assert_int_eq(
	    coord_record_check(rec, strlen(rec), &ops, sum, sizeof(sum), why, sizeof(why)),
	    TANDEM_EPERM);
	ck_assert_ptr_nonnull(strstr(why, "so1 was present but has not signed"));
	record_sign(rec, &so1, "so1");
	ck_assert_int_eq(
	    coord_record_check(rec, strlen(rec), &ops, sum, sizeof(sum), why, sizeof(why)),
	    TANDEM_OK);
	ck_assert_ptr_nonnull(strstr(sum, "SMK generated"));
	ck_assert_ptr_nonnull(strstr(sum, "so1 (SO)"));
	ck_assert_int_eq(
	    coord_record_check(rec, strlen(rec), NULL, sum, sizeof(sum), why, sizeof(why)),
	    TANDEM_OK);
	/* an edited check value breaks every signature */
	char bad[4096];
	strcpy(bad, rec);
	strstr(bad, "374d15e8")[0] = '4';
	ck_assert_int_eq(
	    coord_record_check(bad, strlen(bad), NULL, sum, sizeof(sum), why, sizeof(why)),
	    TANDEM_EPERM);
	ck_assert_ptr_nonnull(strstr(why, "does not verify"));
	/* a signature twice, a line after the signatures, a signer not present */
	strcpy(bad, rec);
	record_sign(bad, &so1, "so1");
	ck_assert_int_eq(
	    coord_record_check(bad, strlen(bad), NULL, sum, sizeof(sum), why, sizeof(why)),
	    TANDEM_EPERM);
	strcpy(bad, rec);
	strcat(bad, "present wi1 WI\n");
	ck_assert_int_eq(
	    coord_record_check(bad, strlen(bad), NULL, sum, sizeof(sum), why, sizeof(why)),
	    TANDEM_ESYNTAX);
	strcpy(bad, rec);
	record_sign(bad, &wi1, "wi1");
	ck_assert_int_eq(
	    coord_record_check(bad, strlen(bad), NULL, sum, sizeof(sum), why, sizeof(why)),
	    TANDEM_EPERM);
	/* against the role table: a role other than the registered one, an unknown person */
	strcpy(bad, body);
	strstr(bad, "present so1 SO")[13] = 'A'; /* so1 listed as SA */
	record_sign(bad, &sa1, "sa1");
	record_sign(bad, &so1, "so1");
	ck_assert_int_eq(
	    coord_record_check(bad, strlen(bad), NULL, sum, sizeof(sum), why, sizeof(why)),
	    TANDEM_OK);
	ck_assert_int_eq(
	    coord_record_check(bad, strlen(bad), &ops, sum, sizeof(sum), why, sizeof(why)),
	    TANDEM_EPERM);
	ck_assert_ptr_nonnull(strstr(why, "another role"));
	strcpy(bad, body);
	strcat(bad, "present eve SO\n");
	record_sign(bad, &sa1, "sa1");
	record_sign(bad, &so1, "so1");
	record_sign(bad, &stranger, "eve");
	ck_assert_int_eq(
	    coord_record_check(bad, strlen(bad), &ops, sum, sizeof(sum), why, sizeof(why)),
	    TANDEM_EPERM);
	ck_assert_ptr_nonnull(strstr(why, "not a registered operator"));
	/* not a record at all; one person only */
	ck_assert_int_eq(coord_record_check("hello\n", 6, NULL, sum, sizeof(sum), why, sizeof(why)),
			 TANDEM_ESYNTAX);
	strcpy(bad, "tandem ceremony record v1\ntime t\nwhat w\npresent sa1 SA\n");
	record_sign(bad, &sa1, "sa1");
	ck_assert_int_eq(
	    coord_record_check(bad, strlen(bad), NULL, sum, sizeof(sum), why, sizeof(why)),
	    TANDEM_ESYNTAX);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("coord_approval");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_text);
	tcase_add_test(tc, test_sa_so_quorum_once);
	tcase_add_test(tc, test_same_person_and_same_role);
	tcase_add_test(tc, test_three_roles_and_matching);
	tcase_add_test(tc, test_replay_expiry_unregistered);
	tcase_add_test(tc, test_roles_table);
	tcase_add_test(tc, test_args_and_rules);
	tcase_add_test(tc, test_grants);
	tcase_add_test(tc, test_rules_stored_and_set);
	tcase_add_test(tc, test_requests_doc);
	tcase_add_test(tc, test_ceremony_record);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
