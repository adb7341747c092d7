/* The NSEC3 chain of an update (built from the previous chain and the names that changed)
 * against the chain built in full from the same input: random walks, no HSM. */
#include "signer_internal.h"
#include "tandem_error.h"
#include "testsupport.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOW 1795000000u

/*
 * A small zone, so that the ends of the hash chain and its wrap-around change often: each
 * slot is absent, a host (A, or A and TXT: a type change), a delegation (with or without
 * DS: opt-out membership, with glue below it), or a host two labels below an empty
 * non-terminal (ENTs appear and go).
 */
enum { SLOTS = 14, KINDS = 6 };

static char *model_text(const unsigned *slot)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(fp);
	fprintf(fp, "$ORIGIN example.\n$TTL 3600\n"
		    "@ SOA ns1 hostmaster 2026010100 3600 900 604800 300\n"
		    "@ NS ns1\nns1 A 192.0.2.1\n");
	for (unsigned i = 0; i < SLOTS; i++) {
		switch (slot[i]) {
		case 0: break;
		case 1: fprintf(fp, "h%u A 192.0.2.%u\n", i, i + 10); break;
		case 2: fprintf(fp, "h%u A 192.0.2.%u\nh%u TXT \"t\"\n", i, i + 10, i); break;
		case 3:
			fprintf(fp, "h%u NS ns.h%u\nns.h%u A 198.51.100.%u\n", i, i, i, i + 1);
			break;
		case 4:
			fprintf(fp, "h%u NS ns.other.\nh%u DS %u 8 2 %064x\n", i, i, 1000 + i, i);
			break;
		case 5: fprintf(fp, "x.y.h%u AAAA 2001:db8::%x\n", i, i + 1); break;
		}
	}
	fclose(fp);
	return text;
}

typedef struct walk {
	char dir[256];
	tandem_diag_t *diag;
	signer_conf_t conf;
	size_t first_changed, last_changed, kept, made, ents_changed;
} walk_t;

static dns_zone_t *load(walk_t *w, const unsigned *slot)
{
	char *text = model_text(slot);
	char path[512];
	ts_write_file(w->dir, "in.zone", text, path, sizeof(path));
	free(text);
	dns_zone_t *z = NULL;
	ck_assert_int_eq(dns_zone_load(path, &(dns_load_opts_t){.origin = "example."}, w->diag, &z),
			 TANDEM_OK);
	return z;
}

static size_t ents(dns_zone_t *z)
{
	size_t n = 0, count = 0;
	dns_node_t *nodes = dns_zone_nodes(z, &count);
	for (size_t i = 0; i < count; i++) {
		n += (nodes[i].flags & DNS_NODE_ENT) != 0;
	}
	return n;
}

static bool same_name(const dns_node_t *a, const dns_node_t *b)
{
	return a->name_len == b->name_len && memcmp(a->name, b->name, a->name_len) == 0;
}

static bool same_record(const dns_node_t *a, const dns_node_t *b)
{
	const uint8_t *x = a->rrsets[0].rdata[0], *y = b->rrsets[0].rdata[0];
	return same_name(a, b) && dns_rdata_len(x) == dns_rdata_len(y) &&
	       memcmp(x, y, 2u + dns_rdata_len(x)) == 0;
}

static int build(walk_t *w, dns_zone_t *z, size_t *records, size_t *hashed, size_t *kept)
{
	*records = *hashed = *kept = 0;
	tandem_diag_clear(w->diag);
	const dns_node_t **pmap = NULL;
	if (w->conf.previous != NULL) {
		ck_assert_int_eq(signer_prev_map(z, (dns_zone_t *)w->conf.previous, &pmap),
				 TANDEM_OK);
	}
	int ret = signer_nsec3_build(z, &w->conf, pmap, 3600, NULL, w->diag, records, hashed, kept);
	free(pmap);
	for (size_t i = 0; i < tandem_diag_kept(w->diag); i++) {
		fprintf(stderr, "nsec3: %s\n", tandem_diag_msg(w->diag, i));
	}
	return ret;
}

/* One step: the update's chain (on prev) and the full chain of the same input are the same
 * records in the same order; kept counts exactly the records that stayed byte for byte. */
static dns_zone_t *step(walk_t *w, dns_zone_t *prev, const unsigned *slot)
{
	dns_zone_t *full = load(w, slot), *inc = load(w, slot);
	size_t fr, fh, fk, ir, ih, ik;
	w->conf.previous = NULL;
	ck_assert_int_eq(build(w, full, &fr, &fh, &fk), TANDEM_OK);
	w->conf.previous = prev;
	ck_assert_int_eq(build(w, inc, &ir, &ih, &ik), TANDEM_OK);
	ck_assert_uint_eq(fk, 0);
	ck_assert_uint_le(ih, fh);
	size_t na = 0, nb = 0, np = 0;
	dns_node_t *a = dns_zone_nsec3_nodes(inc, &na), *b = dns_zone_nsec3_nodes(full, &nb);
	dns_node_t *p = dns_zone_nsec3_nodes(prev, &np);
	ck_assert_uint_eq(na, nb);
	ck_assert_uint_eq(ir, na);
	size_t same = 0;
	for (size_t i = 0; i < na; i++) {
		ck_assert(same_record(&a[i], &b[i]));
		ck_assert_uint_eq(a[i].labels, b[i].labels);
		ck_assert_uint_eq(a[i].rrsets[0].ttl, b[i].rrsets[0].ttl);
		ck_assert_uint_eq(a[i].rrsets[0].flags, b[i].rrsets[0].flags);
		for (size_t j = 0; j < np; j++) {
			if (same_name(&a[i], &p[j])) {
				same += same_record(&a[i], &p[j]);
				break;
			}
		}
	}
	ck_assert_uint_eq(ik, same);
	/* the node hashes kept for the next version are the full build's */
	size_t count = 0;
	dns_zone_nodes(inc, &count);
	ck_assert_mem_eq(dns_zone_node_hashes(inc), dns_zone_node_hashes(full), count * 20);
	w->first_changed += !same_name(&a[0], &p[0]);
	w->last_changed += !same_name(&a[na - 1], &p[np - 1]);
	w->ents_changed += ents(inc) != ents(prev);
	w->kept += ik;
	w->made += ir - ik;
	dns_zone_free(full);
	dns_zone_free(prev);
	return inc;
}

static void random_walk(const char *name, bool optout, uint8_t salt_len, uint16_t iterations)
{
	walk_t w = {0};
	ts_tmpdir(w.dir, sizeof(w.dir));
	ck_assert_int_eq(tandem_diag_new(&w.diag), TANDEM_OK);
	signer_conf_defaults(&w.conf, NOW);
	w.conf.nsec3_optout = optout;
	w.conf.nsec3_salt_len = salt_len;
	w.conf.nsec3_iterations = iterations;
	for (uint8_t i = 0; i < salt_len; i++) {
		w.conf.nsec3_salt[i] = (uint8_t)(0xa0 + i);
	}
	ts_rng_seed(name);
	unsigned slot[SLOTS];
	for (unsigned i = 0; i < SLOTS; i++) {
		slot[i] = ts_rng_below(KINDS);
	}
	dns_zone_t *prev = load(&w, slot);
	size_t r, h, k;
	ck_assert_int_eq(build(&w, prev, &r, &h, &k), TANDEM_OK);
	for (unsigned s = 0; s < 300; s++) {
		unsigned ops = 1 + ts_rng_below(3);
		for (unsigned o = 0; o < ops; o++) {
			slot[ts_rng_below(SLOTS)] = ts_rng_below(KINDS);
		}
		prev = step(&w, prev, slot);
	}
	/* no change at all: every record kept, nothing hashed */
	size_t count = 0;
	dns_zone_nsec3_nodes(prev, &count);
	dns_zone_t *same = load(&w, slot);
	w.conf.previous = prev;
	ck_assert_int_eq(build(&w, same, &r, &h, &k), TANDEM_OK);
	ck_assert_uint_eq(h, 0);
	ck_assert_uint_eq(k, count);
	ck_assert_uint_eq(r, count);
	fprintf(stderr, "%s: %zu records kept, %zu made; ends changed %zu/%zu times, ENTs %zu\n",
		name, w.kept, w.made, w.first_changed, w.last_changed, w.ents_changed);
	/* the walk reached what it is for: both ends of the chain and ENTs changed */
	ck_assert_uint_gt(w.first_changed, 0);
	ck_assert_uint_gt(w.last_changed, 0);
	ck_assert_uint_gt(w.ents_changed, 0);
	ck_assert_uint_gt(w.kept, w.made);
	dns_zone_free(same);
	dns_zone_free(prev);
	tandem_diag_free(w.diag);
	ts_rmtree(w.dir);
}

START_TEST(update_equals_full)
{
	random_walk("update_equals_full", false, 0, 0);
}
END_TEST

START_TEST(update_equals_full_optout)
{
	random_walk("update_equals_full_optout", true, 0, 0);
}
END_TEST

START_TEST(update_equals_full_salt)
{
	random_walk("update_equals_full_salt", false, 4, 2);
}
END_TEST

/* A new salt, or opt-out switched on: the whole chain is made anew. */
START_TEST(new_parameters_build_in_full)
{
	walk_t w = {0};
	ts_tmpdir(w.dir, sizeof(w.dir));
	ck_assert_int_eq(tandem_diag_new(&w.diag), TANDEM_OK);
	signer_conf_defaults(&w.conf, NOW);
	unsigned slot[SLOTS] = {1, 2, 3, 4, 5, 1, 0, 3, 4, 5, 2, 1, 3, 4};
	dns_zone_t *prev = load(&w, slot);
	size_t r, h, k;
	ck_assert_int_eq(build(&w, prev, &r, &h, &k), TANDEM_OK);
	ck_assert_uint_eq(h, r);
	w.conf.previous = prev;
	dns_zone_t *salted = load(&w, slot), *optout = load(&w, slot);
	w.conf.nsec3_salt_len = 1;
	w.conf.nsec3_salt[0] = 0x42;
	ck_assert_int_eq(build(&w, salted, &r, &h, &k), TANDEM_OK);
	ck_assert_uint_eq(h, r);
	ck_assert_uint_eq(k, 0);
	w.conf.nsec3_salt_len = 0;
	w.conf.nsec3_optout = true;
	ck_assert_int_eq(build(&w, optout, &r, &h, &k), TANDEM_OK);
	ck_assert_uint_eq(k, 0);
	ck_assert_uint_gt(r, 0);
	dns_zone_free(optout);
	dns_zone_free(salted);
	dns_zone_free(prev);
	tandem_diag_free(w.diag);
	ts_rmtree(w.dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("signer_nsec3");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, update_equals_full);
	tcase_add_test(tc, update_equals_full_optout);
	tcase_add_test(tc, update_equals_full_salt);
	tcase_add_test(tc, new_parameters_build_in_full);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
