/* dns_zone_copy and dns_zone_copy_cow: the copy has every record (RRSIGs and NSEC3 included) and
 * lives on its own. */
#include "dns_diff.h"
#include "dns_digest.h"
#include "dns_zone_copy.h"
#include "tandem_error.h"
#include "testsupport_dns.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A zone with a delegation, glue, an empty non-terminal, RRSIGs and an NSEC3 record. */
static const char signed_zone[] =
    "$ORIGIN example.\n$TTL 3600\n"
    "@ SOA ns1 hostmaster 7 7200 900 1209600 300\n"
    "@ RRSIG SOA 8 1 3600 20270101000000 20261201000000 4711 example. "
    "AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHHIIIIJJJJKKKK\n"
    "@ NS ns1\nns1 A 192.0.2.1\n"
    "d1 NS ns.d1\nns.d1 A 192.0.2.5\nd1 DS 1001 8 2 "
    "0000000000000000000000000000000000000000000000000000000000000007\n"
    "d1 RRSIG DS 8 2 3600 20270101000000 20261201000000 4711 example. "
    "AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHHIIIIJJJJKKKK\n"
    "x.y.e1 TXT \"t\"\n"
    "00000000000000000000000000000003 NSEC3 1 0 0 - 00000000000000000000000000000009 A RRSIG\n"
    "00000000000000000000000000000003 RRSIG NSEC3 8 2 3600 20270101000000 20261201000000 "
    "4711 example. AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHHIIIIJJJJKKKK\n";

static dns_zone_t *load_text(const char *text)
{
	FILE *fp = fmemopen((void *)text, strlen(text), "r");
	ck_assert_ptr_nonnull(fp);
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_load_opts_t lo = {.origin = "example.", .keep_dnssec = true};
	dns_zone_t *z = NULL;
	ck_assert_int_eq(dns_zone_load_stream(fp, "signed", &lo, diag, &z), TANDEM_OK);
	fclose(fp);
	tandem_diag_free(diag);
	return z;
}

static void root_of(dns_zone_t *z, uint8_t out[DNS_DIGEST_LEN])
{
	dns_digest_t *t = NULL;
	ck_assert_int_eq(dns_digest_new(z, &t), TANDEM_OK);
	dns_digest_root(t, out);
	dns_digest_free(t);
}

START_TEST(test_copy_equal_and_apart)
{
	dns_zone_t *z = load_text(signed_zone);
	dns_zone_t *c = NULL;
	ck_assert_int_eq(dns_zone_copy(z, &c), TANDEM_OK);
	ck_assert_ptr_ne(c, z);
	/* the same records: no difference, the same digest, the same text, the same nodes
	 * (the empty non-terminals and flags included) */
	dns_changeset_t *cs = NULL;
	ck_assert_int_eq(dns_zone_diff(z, c, &cs), TANDEM_OK);
	ck_assert_uint_eq(dns_changeset_size(cs), 0);
	dns_changeset_free(cs);
	uint8_t a[DNS_DIGEST_LEN], b[DNS_DIGEST_LEN];
	root_of(z, a);
	root_of(c, b);
	ck_assert_mem_eq(a, b, sizeof(a));
	size_t n1 = 0, n2 = 0, h1 = 0, h2 = 0;
	dns_node_t *na = dns_zone_nodes(z, &n1);
	dns_node_t *nb = dns_zone_nodes(c, &n2);
	ck_assert_uint_eq(n1, n2);
	for (size_t i = 0; i < n1; i++) {
		ck_assert_uint_eq(na[i].flags, nb[i].flags);
		ck_assert_uint_eq(na[i].rrset_count, nb[i].rrset_count);
		ck_assert_ptr_ne(na[i].name, nb[i].name); /* copied, not shared */
	}
	(void)dns_zone_nsec3_nodes(z, &h1);
	(void)dns_zone_nsec3_nodes(c, &h2);
	ck_assert_uint_eq(h1, 1);
	ck_assert_uint_eq(h2, 1);
	char *before = ts_zone_text(z);
	/* apart: a change to the copy leaves the original, and the copy outlives it */
	dns_node_remove_rrset(dns_zone_apex(c), DNS_TYPE_NS);
	char *orig = ts_zone_text(z);
	ck_assert_str_eq(orig, before);
	dns_zone_free(z);
	char *after = ts_zone_text(c);
	ck_assert_str_ne(after, before);
	ck_assert_ptr_nonnull(strstr(after, "RRSIG"));
	free(before);
	free(orig);
	free(after);
	dns_zone_free(c);
	ck_assert_int_eq(dns_zone_copy(NULL, &c), TANDEM_EINVAL);
}
END_TEST

/* The arrays-only copy: the same text, names shared; what the signer changes in place (TTLs,
 * signatures, RRsets added and removed) changes the copy only, and either may be freed first
 * (under AddressSanitizer a record freed under the other is a use after free). */
START_TEST(test_copy_cow)
{
	for (int order = 0; order < 2; order++) {
		dns_zone_t *z = load_text(signed_zone);
		dns_zone_t *c = NULL;
		ck_assert_int_eq(dns_zone_copy_cow(z, &c), TANDEM_OK);
		char *before = ts_zone_text(z);
		char *same = ts_zone_text(c);
		ck_assert_str_eq(before, same);
		size_t n1 = 0, n2 = 0;
		dns_node_t *na = dns_zone_nodes(z, &n1);
		dns_node_t *nb = dns_zone_nodes(c, &n2);
		ck_assert_uint_eq(n1, n2);
		ck_assert_ptr_ne(na, nb);
		for (size_t i = 0; i < n1; i++) {
			ck_assert_ptr_eq(na[i].name, nb[i].name); /* shared */
			ck_assert_uint_eq(na[i].flags, nb[i].flags);
			ck_assert(na[i].rrset_count == 0 || na[i].rrsets != nb[i].rrsets);
		}
		/* the signer's changes, on the copy */
		for (size_t i = 0; i < n2; i++) {
			for (uint16_t r = 0; r < nb[i].rrset_count; r++) {
				nb[i].rrsets[r].ttl = 60;
				nb[i].rrsets[r].sigs = NULL;
				nb[i].rrsets[r].sig_count = 0;
			}
		}
		dns_node_t *apex = dns_zone_apex(c);
		static const uint8_t txt[] = {0, 2, 1, 'x'};
		const uint8_t *one = txt;
		ck_assert_ptr_nonnull(
		    dns_node_put_rrset(apex, dns_zone_arena(c), DNS_TYPE_TXT, 60, &one, 1));
		dns_node_remove_rrset(apex, DNS_TYPE_NS);
		char *orig = ts_zone_text(z);
		ck_assert_str_eq(orig, before);
		char *changed = ts_zone_text(c);
		ck_assert_str_ne(changed, before);
		if (order == 0) {
			dns_zone_free(z);
			z = NULL;
		} else {
			dns_zone_free(c);
			c = NULL;
		}
		char *after = ts_zone_text(order == 0 ? c : z);
		ck_assert_str_eq(after, order == 0 ? changed : before);
		free(before);
		free(same);
		free(orig);
		free(changed);
		free(after);
		dns_zone_free(z);
		dns_zone_free(c);
	}
	dns_zone_t *c = NULL;
	ck_assert_int_eq(dns_zone_copy_cow(NULL, &c), TANDEM_EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dns_copy");
	TCase *tc = tcase_create("copy");
	tcase_add_test(tc, test_copy_equal_and_apart);
	tcase_add_test(tc, test_copy_cow);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
