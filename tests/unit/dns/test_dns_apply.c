/* dns_zone_apply's incremental path and dns_zone_load_delta: random line edits of a zone file,
 * each result compared with a full load of the same text. */
#include "dns_diff.h"
#include "dns_zone.h"
#include "tandem_error.h"
#include "testsupport_dns.h"

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXLINES 400
#define KEYS     400

typedef struct text {
	char *line[MAXLINES];
	int n;
	unsigned serial;
} text_t;

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static char *fmt3(const char *f, unsigned a, unsigned b, unsigned c)
{
	char buf[256];
	snprintf(buf, sizeof(buf), f, a, b, c);
	return strdup(buf);
}

/* One record line of the kinds a registry's file has, and a few it should not. */
#define fmt(f, a, b) fmt3(f, a, b, 0)

static char *random_line(uint64_t *s)
{
	unsigned k = (unsigned)(rnd(s) % KEYS), v = 1 + (unsigned)(rnd(s) % 2);
	switch (rnd(s) % 16 == 15 ? 16 : rnd(s) % 15) {
	case 0:
	case 1: return fmt3("d%u.ex. 3600 IN NS ns%u.d%u.ex.", k, v, k);
	case 2: return fmt("d%u.ex. 3600 IN NS ns.other%u.net.", k, v);
	case 3:
	case 4: return fmt3("ns%u.d%u.ex. 3600 IN A 10.0.%u.1", v, k, k % 250);
	case 5:
		return fmt3("d%u.ex. 3600 IN DS 1234%u 13 2 "
			    "00000000000000000000000000000000000000000000000000000000000000%02u",
			    k, v, v);
	case 6: return fmt("h%u.s%u.deep.ex. 3600 IN A 10.9.9.9", k, k % 4);
	case 7: return fmt("t%u.ex. %u IN TXT \"v\"", k, v == 1 ? 3600 : 600);
	case 8: return fmt("t%u.ex. 3600 IN TXT \"w%u\"", k, v);
	case 9: return fmt("\t3600 IN A 10.8.%u.%u", k % 250, v); /* inherits the owner */
	case 10: return fmt("  IN TXT \"inherit%u%u\"", k, v);    /* owner and $TTL inherited */
	case 11: return fmt("r%u IN AAAA 2001:db8::%u", k, v);    /* relative, no TTL */
	case 12: return fmt("c%u.ex. 3600 IN CNAME t%u.ex.", k, k);
	case 13: return v == 1 ? strdup("") : strdup("; a comment");
	case 14: return fmt("t%u.ex. 3600 IN MX %u mail.ex.", k, v);
	default: return fmt3("x%u.ex. 3600 IN CDS 1 13 2 %02u", k, v, v); /* 1 in 16 */
	}
}

/* Whether t has this line already (a record twice is one the loader keeps once: the delta
 * path then gives up for good, which the random tests keep rare). */
static bool text_has(const text_t *t, const char *l)
{
	for (int i = 0; i < t->n; i++) {
		if (l[0] != '\0' && l[0] != ';' && strcmp(t->line[i], l) == 0) {
			return true;
		}
	}
	return false;
}

/* A random line t does not have yet. */
static char *new_line(const text_t *t, uint64_t *s)
{
	char *l = random_line(s);
	for (int tries = 0; tries < 20 && text_has(t, l); tries++) {
		free(l);
		l = random_line(s);
	}
	return l;
}

static void text_soa(text_t *t)
{
	free(t->line[2]);
	t->line[2] = fmt("ex. 3600 IN SOA ns.ex. host.ex. %u 3600 900 86400 %u", t->serial, 300);
}

static void text_init(text_t *t, uint64_t *s)
{
	memset(t, 0, sizeof(*t));
	t->serial = 100;
	t->line[0] = strdup("$ORIGIN ex.");
	t->line[1] = strdup("$TTL 3600");
	t->line[2] = NULL;
	text_soa(t);
	t->line[3] = strdup("ex. 3600 IN NS ns.ex.");
	t->line[4] = strdup("ns.ex. 3600 IN A 192.0.2.1");
	t->n = 5;
	while (t->n < 85) { /* no DS or CNAME yet: the first version loads */
		char *l = new_line(t, s);
		if (strstr(l, " DS ") != NULL || strstr(l, "CNAME") != NULL ||
		    strstr(l, " CDS ") != NULL || strstr(l, " 600 IN") != NULL) {
			free(l);
			continue;
		}
		t->line[t->n++] = l;
	}
}

static void text_edit(text_t *t, uint64_t *s)
{
	int at = 5 + (int)(rnd(s) % (uint64_t)(t->n - 4));
	switch (rnd(s) % 3) {
	case 0:
		if (t->n < MAXLINES) {
			memmove(&t->line[at + 1], &t->line[at],
				sizeof(char *) * (size_t)(t->n - at));
			t->line[at] = new_line(t, s);
			t->n++;
		}
		break;
	case 1:
		if (at < t->n) {
			free(t->line[at]);
			memmove(&t->line[at], &t->line[at + 1],
				sizeof(char *) * (size_t)(t->n - at - 1));
			t->n--;
		}
		break;
	default:
		if (at < t->n) {
			char *l = new_line(t, s);
			free(t->line[at]);
			t->line[at] = l;
		}
		break;
	}
}

static char *text_bytes(const text_t *t, size_t *len)
{
	char *buf = NULL;
	FILE *fp = open_memstream(&buf, len);
	ck_assert_ptr_nonnull(fp);
	for (int i = 0; i < t->n; i++) {
		fprintf(fp, "%s\n", t->line[i]);
	}
	ck_assert_int_eq(fclose(fp), 0);
	return buf;
}

static void text_free(text_t *t)
{
	for (int i = 0; i < t->n; i++) {
		free(t->line[i]);
	}
}

/* The next version of t: one to three edits and the serial raised; returns a copy of the
 * version before (the caller frees one of the two). */
static text_t text_next(text_t *t, uint64_t *s)
{
	text_t keep = *t;
	for (int i = 0; i < t->n; i++) {
		keep.line[i] = strdup(t->line[i]);
	}
	int edits = 1 + (int)(rnd(s) % 3);
	for (int e = 0; e < edits; e++) {
		text_edit(t, s);
	}
	t->serial++;
	text_soa(t);
	return keep;
}

/* Whether the last load_full said anything (a warning). */
static size_t load_said;

/* A full load of the bytes, or NULL when the loader refuses them. */
static dns_zone_t *load_full(const char *buf, size_t len)
{
	FILE *fp = fmemopen((void *)buf, len, "r");
	ck_assert_ptr_nonnull(fp);
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_load_opts_t lo = {.origin = "ex."};
	dns_zone_t *z = NULL;
	int ret = dns_zone_load_stream(fp, "zone", &lo, diag, &z);
	fclose(fp);
	load_said = tandem_diag_count(diag);
	if (getenv("TEST_VERBOSE") != NULL) {
		for (size_t i = 0; i < tandem_diag_count(diag); i++) {
			fprintf(stderr, "%s\n", tandem_diag_msg(diag, i));
		}
	}
	tandem_diag_free(diag);
	return ret == TANDEM_OK ? z : NULL;
}

/* got has want's records, node flags and RRset flags. */
static void assert_same(dns_zone_t *got, dns_zone_t *want, const char *what, int step)
{
	char *a = ts_zone_text(got), *b = ts_zone_text(want);
	if (strcmp(a, b) != 0) {
		fprintf(stderr, "--- %s\n%s\n--- full load\n%s\n", what, a, b);
		ck_abort_msg("%s differs from a full load at step %d", what, step);
	}
	free(a);
	free(b);
	size_t n1 = 0, n2 = 0;
	dns_node_t *x = dns_zone_nodes(got, &n1), *y = dns_zone_nodes(want, &n2);
	ck_assert_uint_eq(n1, n2);
	for (size_t i = 0; i < n1; i++) {
		ck_assert_uint_eq(x[i].flags, y[i].flags);
		ck_assert_uint_eq(x[i].rrset_count, y[i].rrset_count);
		for (uint16_t r = 0; r < x[i].rrset_count; r++) {
			ck_assert_uint_eq(x[i].rrsets[r].flags, y[i].rrsets[r].flags);
		}
	}
}

/* A chain of versions, each apply(previous, diff(previous, full load)): the same records and
 * flags as the full load, every earlier version freed first (the shared memory outlives it),
 * and the version applied to unchanged by it. */
START_TEST(test_apply_chain)
{
	uint64_t s = 0x2545f4914f6cdd1dull + (uint64_t)_i * 7919u;
	text_t t;
	text_init(&t, &s);
	size_t len = 0;
	char *buf = text_bytes(&t, &len);
	dns_zone_t *cur = load_full(buf, len);
	free(buf);
	for (int tries = 0; cur == NULL && tries < 50; tries++) {
		text_edit(&t, &s);
		buf = text_bytes(&t, &len);
		cur = load_full(buf, len);
		free(buf);
	}
	ck_assert_ptr_nonnull(cur);
	int applied = 0;
	size_t shared = 0; /* RRsets the applied versions share with the one before */
	for (int step = 0; step < 40; step++) {
		text_t keep = text_next(&t, &s);
		buf = text_bytes(&t, &len);
		dns_zone_t *want = load_full(buf, len);
		free(buf);
		if (want == NULL) {
			text_free(&t); /* the loader refuses it: back to the last good text */
			t = keep;
			continue;
		}
		text_free(&keep);
		dns_changeset_t *cs = NULL;
		ck_assert_int_eq(dns_zone_diff(cur, want, &cs), TANDEM_OK);
		char *before = ts_zone_text(cur);
		dns_zone_t *next = NULL;
		ck_assert_int_eq(dns_zone_apply(cur, cs, &next), TANDEM_OK);
		char *after = ts_zone_text(cur);
		ck_assert_str_eq(before, after);
		size_t nn = 0;
		dns_node_t *nodes = dns_zone_nodes(next, &nn);
		for (size_t i = 0; i < nn; i++) {
			dns_node_t *was = dns_zone_find(cur, nodes[i].name);
			shared += was != NULL && was->rrset_count > 0 && nodes[i].rrset_count > 0 &&
				  was->rrsets[0].rdata == nodes[i].rrsets[0].rdata;
		}
		free(before);
		free(after);
		dns_changeset_free(cs);
		dns_zone_free(cur);
		assert_same(next, want, "apply", step);
		dns_zone_free(want);
		cur = next;
		applied++;
	}
	ck_assert_int_gt(applied, 10);
	ck_assert_uint_gt(shared, 100);
	dns_zone_free(cur);
	text_free(&t);
}
END_TEST

/* dns_zone_load_delta of random line edits (lines that take the owner before them among
 * them) equals a full load of the new text whenever it answers, answers for most, and refuses
 * what the full load refuses. */
START_TEST(test_load_delta_random)
{
	uint64_t s = 0x9e3779b97f4a7c15ull + (uint64_t)_i * 104729u;
	text_t t;
	size_t len = 0, plen = 0;
	char *prev_buf = NULL;
	dns_zone_t *cur = NULL;
	for (int tries = 0; tries < 100 && (cur == NULL || load_said > 0); tries++) {
		if (tries > 0) { /* a first version without warnings: one the path can start from */
			dns_zone_free(cur);
			free(prev_buf);
			text_free(&t);
		}
		text_init(&t, &s);
		prev_buf = text_bytes(&t, &plen);
		cur = load_full(prev_buf, plen);
	}
	ck_assert_ptr_nonnull(cur);
	ck_assert_uint_eq(load_said, 0);
	dns_load_opts_t lo = {.origin = "ex."};
	int delta = 0, steps = 0;
	for (int step = 0; step < 60; step++) {
		text_t keep = text_next(&t, &s);
		char *buf = text_bytes(&t, &len);
		dns_zone_t *want = load_full(buf, len), *got = NULL;
		char why[256];
		int ret = dns_zone_load_delta(cur, prev_buf, plen, buf, len, "zone", &lo, &got, why,
					      sizeof(why));
		if (getenv("TEST_VERBOSE") != NULL) {
			fprintf(stderr, "step %d: %s %s\n", step,
				ret == TANDEM_OK ? "delta" : "full", ret == TANDEM_OK ? "" : why);
		}
		if (ret == TANDEM_OK) {
			ck_assert_msg(want != NULL, "the delta path took what a full load refuses");
			assert_same(got, want, "delta load", step);
			delta++;
		} else {
			ck_assert_int_eq(ret, TANDEM_ERANGE);
			ck_assert_str_ne(why, "");
		}
		steps++;
		if (want == NULL || load_said > 0) {
			/* refused, or warned about: back to the last text (else every later step
			 * would go to the full load) */
			dns_zone_free(got);
			dns_zone_free(want);
			free(buf);
			text_free(&t);
			t = keep;
			t.serial += 1000;
			continue;
		}
		text_free(&keep);
		dns_zone_free(cur);
		if (got != NULL) {
			cur =
			    got; /* chain the delta results: they must hold for the next one too */
			dns_zone_free(want);
		} else {
			cur = want;
		}
		free(prev_buf);
		prev_buf = buf;
		plen = len;
	}
	ck_assert_int_gt(delta, steps / 4);
	dns_zone_free(cur);
	free(prev_buf);
	text_free(&t);
}
END_TEST

/* Cases the delta path must hand to the full load, each once. */
START_TEST(test_load_delta_gives_up)
{
	static const char base[] =
	    "$TTL 3600\nex. SOA ns.ex. h.ex. 1 3600 900 86400 300\n"
	    "ex. NS ns.ex.\nns.ex. A 192.0.2.1\nd1 NS ns.d1\nns.d1 A 192.0.2.2\n"
	    "t1 TXT \"a\"\n";
	static const struct {
		const char *text, *why;
	} cases[] = {
	    {"$TTL 60\nex. SOA ns.ex. h.ex. 2 3600 900 86400 300\nex. NS ns.ex.\nns.ex. A "
	     "192.0.2.1\nd1 NS ns.d1\nns.d1 A 192.0.2.2\nt1 TXT \"a\"\n",
	     "directive"},
	    {"$TTL 3600\nex. SOA ns.ex. h.ex. 1 3600 900 86400 300\nex. NS ns.ex.\nns.ex. A "
	     "192.0.2.1\nd1 NS ns.d1\nns.d1 A 192.0.2.2\nt1 TXT \"b\"\n",
	     "SOA"},
	    {"$TTL 3600\nex. SOA ns.ex. h.ex. 2 3600 900 86400 300\nex. NS ns.ex.\nns.ex. A "
	     "192.0.2.1\nd1 NS ns.d1\nns.d1 A 192.0.2.2\nt1 TXT \"a\"\nt1 CNAME ex.\n",
	     "refuses"},
	    {"$TTL 3600\nex. SOA ns.ex. h.ex. 2 3600 900 86400 300\nex. NS ns.ex.\nns.ex. A "
	     "192.0.2.1\nd1 NS ns.d1\nns.d1 A 192.0.2.2\nt1 TXT \"a\"\nd1 DNSKEY 256 3 13 "
	     "AAAA\n",
	     "full load reports"},
	    {"$TTL 3600\nex. SOA ns.ex. h.ex. 2 3600 900 86400 300\nex. NS ns.ex.\nns.ex. A "
	     "192.0.2.1\nd1 NS ns.d1\nns.d1 A 192.0.2.2\nt1 TXT \"a\"\nt1 60 TXT \"b\"\n",
	     "TTLs"},
	    {"$TTL 3600\nex. SOA ns.ex. h.ex. 2 3600 900 86400 300\nex. NS ns.ex.\nns.ex. A "
	     "192.0.2.1\nd1 NS ns.d1\nns.d1 A 192.0.2.2\nt1 TXT \"a\"\nns.ex. A 192.0.2.1\n",
	     "already"},
	    {"$TTL 3600\nex. SOA ns.ex. h.ex. 2 3600 900 86400 300\nex. NS ns.ex.\nns.ex. A "
	     "192.0.2.1\nd1 NS ns.d1\nns.d1 A 192.0.2.2\nt1 TXT \"a\"\nx.d1 TXT \"o\"\n",
	     "warns"},
	    {"$TTL 3600\nex. SOA ns.ex. h.ex. 2 3600 900 86400 300\nex. NS ns.ex.\nns.ex. A "
	     "192.0.2.1\nd1 NS ns.d1\nns.d1 A 192.0.2.2\nt1 TXT \"a\"\n* NS ns.d1\n",
	     "refuses"},

	};
	dns_zone_t *prev = load_full(base, strlen(base));
	ck_assert_ptr_nonnull(prev);
	dns_load_opts_t lo = {.origin = "ex."};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		dns_zone_t *got = NULL;
		char why[256];
		int ret =
		    dns_zone_load_delta(prev, base, strlen(base), cases[i].text,
					strlen(cases[i].text), "zone", &lo, &got, why, sizeof(why));
		ck_assert_msg(ret == TANDEM_ERANGE && strstr(why, cases[i].why) != NULL,
			      "case %zu: %d, '%s', want '%s'", i, ret, why, cases[i].why);
		ck_assert_ptr_null(got);
	}
	/* a changed line inside a record over lines (at the left edge: it looks like one of its
	 * own) */
	static const char p1[] = "$TTL 3600\nex. SOA ns.ex. h.ex. 1 3600 900 86400 300\nex. NS "
				 "ns.ex.\nns.ex. A 192.0.2.1\nt1 TXT ( \"a\"\n\"b\" )\nt2 TXT c\n";
	static const char p2[] = "$TTL 3600\nex. SOA ns.ex. h.ex. 2 3600 900 86400 300\nex. NS "
				 "ns.ex.\nns.ex. A 192.0.2.1\nt1 TXT ( \"a\"\n\"x\" )\nt2 TXT c\n";
	dns_zone_t *pz = load_full(p1, strlen(p1)), *pg = NULL;
	char pwhy[256];
	ck_assert_ptr_nonnull(pz);
	ck_assert_int_eq(dns_zone_load_delta(pz, p1, strlen(p1), p2, strlen(p2), "zone", &lo, &pg,
					     pwhy, sizeof(pwhy)),
			 TANDEM_ERANGE);
	ck_assert_ptr_nonnull(strstr(pwhy, "parentheses"));
	dns_zone_free(pz);
	/* and ones it takes: a delegation added beside a line that takes its owner; a record
	 * over three lines (a continuation at the left edge) changed whole */
	static const char spans[] = "$TTL 3600\nex. SOA ns.ex. h.ex. 2 3600 900 86400 300\n"
				    "ex. NS ns.ex.\nns.ex. A 192.0.2.1\nd1 NS ns.d1\n"
				    "ns.d1 A 192.0.2.2\nt1 TXT ( \"a;\" ; (\n\"b)\"\n ) \n";
	dns_zone_t *got2 = NULL, *want2 = load_full(spans, strlen(spans));
	char why2[256];
	ck_assert_ptr_nonnull(want2);
	ck_assert_int_eq(dns_zone_load_delta(prev, base, strlen(base), spans, strlen(spans), "zone",
					     &lo, &got2, why2, sizeof(why2)),
			 TANDEM_OK);
	assert_same(got2, want2, "delta load", 0);
	dns_zone_free(got2);
	dns_zone_free(want2);
	static const char next[] = "$TTL 3600\nex. SOA ns.ex. h.ex. 2 3600 900 86400 300\n"
				   "ex. NS ns.ex.\nns.ex. A 192.0.2.1\nd1 NS ns.d1\n\tNS ns.d2\n"
				   "ns.d1 A 192.0.2.2\nt1 TXT \"a\"\n";
	dns_zone_t *got = NULL, *want = load_full(next, strlen(next));
	char why[256];
	ck_assert_int_eq(dns_zone_load_delta(prev, base, strlen(base), next, strlen(next), "zone",
					     &lo, &got, why, sizeof(why)),
			 TANDEM_OK);
	assert_same(got, want, "delta load", 0);
	dns_zone_free(got);
	dns_zone_free(want);
	dns_zone_free(prev);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("dns_apply");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_apply_chain, 0, 6);
	tcase_add_loop_test(tc, test_load_delta_random, 0, 8);
	tcase_add_test(tc, test_load_delta_gives_up);
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
