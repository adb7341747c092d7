/* Tests of the dns module: names, zone loading and its refusals, DNSSEC records, writing. */
#include "dns_zone.h"
#include "tandem_arena.h"
#include "tandem_diag.h"
#include "tandem_error.h"
#include "testsupport.h"
#include "testsupport_dns.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The temp dir of the running TCase. It is made and removed by unchecked
 * fixtures, which run in the parent process, so it is removed even when a
 * test fails in its forked child; tests only read it.
 */
static char g_dir[256];
/* Set by the DNSSEC fixture: ldns-signzone output (NSEC and NSEC3), or "" on failure. */
static char g_signed[512];
static char g_signed3[512];

static void dir_setup(void)
{
	ts_tmpdir(g_dir, sizeof(g_dir));
}

static void dir_teardown(void)
{
	ts_rmtree(g_dir);
	g_dir[0] = '\0';
}

/* The unsigned zone that the DNSSEC fixture signs. */
static const char signed_src[] = "$ORIGIN example.\n"
				 "$TTL 3600\n"
				 "@ SOA ns1 hostmaster 1 7200 900 1209600 300\n"
				 "@ NS ns1\n"
				 "@ MX 10 mail\n"
				 "ns1 A 192.0.2.1\n"
				 "mail A 192.0.2.2\n"
				 "www A 192.0.2.3\n"
				 "a.b TXT \"below an empty non-terminal\"\n"
				 "sub NS ns.sub\n"
				 "sub DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118\n"
				 "ns.sub A 192.0.2.4\n";

/* Signs signed_src with a fresh RSASHA256 key, once with NSEC and once with NSEC3. */
static void dnssec_setup(void)
{
	char src[512], cmd[2048];
	dir_setup();
	g_signed[0] = g_signed3[0] = '\0';
	ts_write_file(g_dir, "src.zone", signed_src, src, sizeof(src));
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && k=$(ldns-keygen -a RSASHA256 -b 1024 example.) && "
		 "ldns-signzone -f nsec.zone src.zone \"$k\" && "
		 "ldns-signzone -n -s abcdef -t 1 -f nsec3.zone src.zone \"$k\"",
		 g_dir);
	if (system(cmd) == 0) {
		snprintf(g_signed, sizeof(g_signed), "%s/nsec.zone", g_dir);
		snprintf(g_signed3, sizeof(g_signed3), "%s/nsec3.zone", g_dir);
	}
}

/* ---- helpers ---- */

/* Wire form of an absolute presentation name; aborts the test if it does not parse. */
static const uint8_t *W(const char *str, uint8_t buf[DNS_NAME_MAXLEN])
{
	size_t len = 0;
	ck_assert_msg(dns_name_from_str(str, NULL, buf, &len) == TANDEM_OK, "bad name %s", str);
	return buf;
}

static dns_node_t *find(dns_zone_t *zone, const char *name)
{
	uint8_t buf[DNS_NAME_MAXLEN];
	return dns_zone_find(zone, W(name, buf));
}

/* Writes text to g_dir/file and loads it. */
static int load_text(const char *file, const char *text, bool keep_dnssec, tandem_diag_t *diag,
		     dns_zone_t **out)
{
	char path[512];
	ts_write_file(g_dir, file, text, path, sizeof(path));
	dns_load_opts_t opts = {.origin = "example.", .keep_dnssec = keep_dnssec};
	return dns_zone_load(path, &opts, diag, out);
}

/* Index of the first message containing every non-NULL needle, or -1. */
static long diag_find(const tandem_diag_t *diag, const char *a, const char *b)
{
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		const char *m = tandem_diag_msg(diag, i);
		if ((a == NULL || strstr(m, a) != NULL) && (b == NULL || strstr(m, b) != NULL)) {
			return (long)i;
		}
	}
	return -1;
}

/* Number of messages with a code other than TANDEM_OK. */
static size_t diag_errors(const tandem_diag_t *diag)
{
	size_t n = 0;
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		n += tandem_diag_code(diag, i) != TANDEM_OK;
	}
	return n;
}

static void diag_dump(const tandem_diag_t *diag)
{
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		fprintf(stderr, "  diag[%zu] (%d): %s\n", i, tandem_diag_code(diag, i),
			tandem_diag_msg(diag, i));
	}
}

/* Loads text that must load; fails the test with the diag otherwise. */
static dns_zone_t *load_ok(const char *file, const char *text, bool keep, tandem_diag_t *diag)
{
	dns_zone_t *z = NULL;
	int ret = load_text(file, text, keep, diag, &z);
	if (ret != TANDEM_OK) {
		diag_dump(diag);
	}
	ck_assert_int_eq(ret, TANDEM_OK);
	ck_assert_ptr_nonnull(z);
	return z;
}

static dns_zone_t *load_path_ok(const char *path, bool keep, tandem_diag_t *diag)
{
	dns_zone_t *z = NULL;
	dns_load_opts_t opts = {.origin = "example", .keep_dnssec = keep};
	int ret = dns_zone_load(path, &opts, diag, &z);
	if (ret != TANDEM_OK) {
		diag_dump(diag);
	}
	ck_assert_int_eq(ret, TANDEM_OK);
	return z;
}

static bool rdata_eq(const uint8_t *a, const uint8_t *b)
{
	return dns_rdata_len(a) == dns_rdata_len(b) &&
	       memcmp(dns_rdata_data(a), dns_rdata_data(b), dns_rdata_len(a)) == 0;
}

/* RDATA from bytes into an arena-like caller buffer: 2-byte length then data. */
static const uint8_t *mkrdata(uint8_t *buf, const void *data, uint16_t len)
{
	buf[0] = (uint8_t)(len >> 8);
	buf[1] = (uint8_t)len;
	memcpy(buf + 2, data, len);
	return buf;
}

/* Asserts two zones have the same nodes, flags, RRsets, TTLs, RDATA and signatures. */
static void assert_same_zone(dns_zone_t *a, dns_zone_t *b)
{
	char na[1024], nb[1024];
	size_t ca = 0, cb = 0;
	dns_node_t *xa = dns_zone_nodes(a, &ca);
	dns_node_t *xb = dns_zone_nodes(b, &cb);
	ck_assert_uint_eq(ca, cb);
	for (size_t i = 0; i < ca; i++) {
		dns_name_to_str(xa[i].name, na);
		dns_name_to_str(xb[i].name, nb);
		ck_assert_str_eq(na, nb);
		ck_assert_uint_eq(xa[i].name_len, xb[i].name_len);
		ck_assert_int_eq(memcmp(xa[i].name, xb[i].name, xa[i].name_len), 0);
		ck_assert_msg(xa[i].flags == xb[i].flags, "%s: flags %#x != %#x", na, xa[i].flags,
			      xb[i].flags);
		ck_assert_msg(xa[i].rrset_count == xb[i].rrset_count, "%s: %u RRsets != %u", na,
			      xa[i].rrset_count, xb[i].rrset_count);
		for (uint16_t r = 0; r < xa[i].rrset_count; r++) {
			const dns_rrset_t *ra = &xa[i].rrsets[r], *rb = &xb[i].rrsets[r];
			ck_assert_uint_eq(ra->type, rb->type);
			ck_assert_uint_eq(ra->ttl, rb->ttl);
			ck_assert_uint_eq(ra->flags, rb->flags);
			ck_assert_msg(ra->count == rb->count, "%s type %u: %u RRs != %u", na,
				      ra->type, ra->count, rb->count);
			ck_assert_uint_eq(ra->sig_count, rb->sig_count);
			for (uint16_t k = 0; k < ra->count; k++) {
				ck_assert_msg(rdata_eq(ra->rdata[k], rb->rdata[k]),
					      "%s type %u: RDATA %u differs", na, ra->type, k);
			}
			for (uint16_t k = 0; k < ra->sig_count; k++) {
				ck_assert_msg(rdata_eq(ra->sigs[k], rb->sigs[k]),
					      "%s type %u: RRSIG %u differs", na, ra->type, k);
			}
		}
	}
}

/* Writes zone to g_dir/file and loads it back with the same options. */
static dns_zone_t *write_and_reload(dns_zone_t *zone, const char *file, bool keep,
				    tandem_diag_t *diag)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", g_dir, file);
	FILE *fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(dns_zone_write(zone, fp), TANDEM_OK);
	ck_assert_int_eq(fclose(fp), 0);
	return load_path_ok(path, keep, diag);
}

/* ---- names ---- */

START_TEST(test_name_from_str_absolute)
{
	uint8_t out[DNS_NAME_MAXLEN];
	size_t len = 0;
	static const uint8_t want[] = "\3www\7example\3com";
	ck_assert_int_eq(dns_name_from_str("WWW.Example.COM.", NULL, out, &len), TANDEM_OK);
	ck_assert_uint_eq(len, sizeof(want)); /* the string's NUL is the root label */
	ck_assert_int_eq(memcmp(out, want, sizeof(want)), 0);
	ck_assert_uint_eq(dns_name_len(out, DNS_NAME_MAXLEN), sizeof(want));

	ck_assert_int_eq(dns_name_from_str(".", NULL, out, &len), TANDEM_OK);
	ck_assert_uint_eq(len, 1);
	ck_assert_uint_eq(out[0], 0);

	/* a relative name needs an origin */
	ck_assert_int_eq(dns_name_from_str("www", NULL, out, &len), TANDEM_DNS_ENAME);
	ck_assert_int_eq(dns_name_from_str("@", NULL, out, &len), TANDEM_DNS_ENAME);
}
END_TEST

START_TEST(test_name_from_str_relative)
{
	uint8_t origin[DNS_NAME_MAXLEN], out[DNS_NAME_MAXLEN];
	size_t len = 0;
	W("Example.", origin);
	ck_assert_uint_eq(origin[1], 'e');
	static const uint8_t want[] = "\3www\3sub\7example";
	ck_assert_int_eq(dns_name_from_str("WWW.sub", origin, out, &len), TANDEM_OK);
	ck_assert_uint_eq(len, sizeof(want));
	ck_assert_int_eq(memcmp(out, want, sizeof(want)), 0);

	/* absolute names ignore the origin */
	ck_assert_int_eq(dns_name_from_str("www.other.", origin, out, &len), TANDEM_OK);
	ck_assert_int_eq(memcmp(out, "\3www\5other", 11), 0);
	ck_assert_uint_eq(len, 11);

	ck_assert_int_eq(dns_name_from_str("@", origin, out, &len), TANDEM_OK);
	ck_assert_uint_eq(len, 9);
	ck_assert_int_eq(memcmp(out, origin, 9), 0);
}
END_TEST

START_TEST(test_name_from_str_escapes)
{
	uint8_t out[DNS_NAME_MAXLEN];
	size_t len = 0;
	/* "\." is a dot inside a label */
	ck_assert_int_eq(dns_name_from_str("a\\.b.example.", NULL, out, &len), TANDEM_OK);
	ck_assert_uint_eq(len, 13);
	ck_assert_int_eq(memcmp(out, "\3a.b\7example", 13), 0);
	ck_assert_uint_eq(dns_name_labels(out), 2);

	/* "\065" is 'A', lowercased like any other uppercase letter */
	ck_assert_int_eq(dns_name_from_str("\\065BC.example.", NULL, out, &len), TANDEM_OK);
	ck_assert_int_eq(memcmp(out, "\3abc\7example", 13), 0);

	/* decimal escapes of a high and a low byte, an escaped backslash */
	ck_assert_int_eq(dns_name_from_str("\\200\\000x\\\\.", NULL, out, &len), TANDEM_OK);
	ck_assert_uint_eq(len, 6);
	ck_assert_int_eq(memcmp(out, "\4\xc8\0x\\\0", 6), 0);

	/* "\." at the very end is an escaped dot, so the name is relative */
	ck_assert_int_eq(dns_name_from_str("a\\.", NULL, out, &len), TANDEM_DNS_ENAME);

	/* bad escapes */
	ck_assert_int_eq(dns_name_from_str("\\256.example.", NULL, out, &len), TANDEM_DNS_ENAME);
	ck_assert_int_eq(dns_name_from_str("\\06.example.", NULL, out, &len), TANDEM_DNS_ENAME);
	ck_assert_int_eq(dns_name_from_str("\\06", NULL, out, &len), TANDEM_DNS_ENAME);
	ck_assert_int_eq(dns_name_from_str("abc\\", NULL, out, &len), TANDEM_DNS_ENAME);
}
END_TEST

START_TEST(test_name_from_str_limits)
{
	uint8_t out[DNS_NAME_MAXLEN], origin[DNS_NAME_MAXLEN];
	size_t len = 0;
	char l63[64], l64[65], l61[62], l62[63], name[400];
	memset(l63, 'a', 63);
	l63[63] = '\0';
	memset(l64, 'b', 64);
	l64[64] = '\0';
	memset(l61, 'c', 61);
	l61[61] = '\0';
	memset(l62, 'd', 62);
	l62[62] = '\0';

	/* 63-byte labels are fine, 64 are not */
	snprintf(name, sizeof(name), "%s.example.", l63);
	ck_assert_int_eq(dns_name_from_str(name, NULL, out, &len), TANDEM_OK);
	ck_assert_uint_eq(out[0], 63);
	snprintf(name, sizeof(name), "%s.example.", l64);
	ck_assert_int_eq(dns_name_from_str(name, NULL, out, &len), TANDEM_DNS_ENAME);
	ck_assert_int_eq(dns_name_from_str(l64, W("example.", origin), out, &len),
			 TANDEM_DNS_ENAME);

	/* 3 x 64 + 62 + 1 = 255 bytes is the longest name; one more byte is refused */
	snprintf(name, sizeof(name), "%s.%s.%s.%s.", l63, l63, l63, l61);
	ck_assert_int_eq(dns_name_from_str(name, NULL, out, &len), TANDEM_OK);
	ck_assert_uint_eq(len, 255);
	ck_assert_uint_eq(dns_name_len(out, DNS_NAME_MAXLEN), 255);
	ck_assert_uint_eq(dns_name_labels(out), 4);
	snprintf(name, sizeof(name), "%s.%s.%s.%s.", l63, l63, l63, l62);
	ck_assert_int_eq(dns_name_from_str(name, NULL, out, &len), TANDEM_DNS_ENAME);
	snprintf(name, sizeof(name), "%s.%s.%s.%s.%s.", l63, l63, l63, l63, l63);
	ck_assert_int_eq(dns_name_from_str(name, NULL, out, &len), TANDEM_DNS_ENAME);

	/* relative: the origin counts */
	snprintf(name, sizeof(name), "%s.%s.%s", l63, l63, l63);
	W("example.", origin); /* 9 bytes: 192 + 9 = 201 */
	ck_assert_int_eq(dns_name_from_str(name, origin, out, &len), TANDEM_OK);
	ck_assert_uint_eq(len, 201);
	snprintf(name, sizeof(name), "%s.%s.%s.%s", l63, l63, l63, l63);
	ck_assert_int_eq(dns_name_from_str(name, origin, out, &len), TANDEM_DNS_ENAME);

	/* empty labels */
	ck_assert_int_eq(dns_name_from_str("a..example.", NULL, out, &len), TANDEM_DNS_ENAME);
	ck_assert_int_eq(dns_name_from_str(".example.", NULL, out, &len), TANDEM_DNS_ENAME);
	ck_assert_int_eq(dns_name_from_str("example..", NULL, out, &len), TANDEM_DNS_ENAME);
	ck_assert_int_eq(dns_name_from_str("", origin, out, &len), TANDEM_DNS_ENAME);
	ck_assert_int_eq(dns_name_from_str(NULL, origin, out, &len), TANDEM_EINVAL);

	/* nothing is written on failure */
	memset(out, 0x5a, sizeof(out));
	len = 77;
	ck_assert_int_eq(dns_name_from_str("a..b.", NULL, out, &len), TANDEM_DNS_ENAME);
	ck_assert_uint_eq(len, 77);
	ck_assert_uint_eq(out[0], 0x5a);
}
END_TEST

START_TEST(test_name_to_str)
{
	static const char *const names[] = {
	    ".",
	    "example.",
	    "a\\.b.example.",
	    "\\000\\001.\\200\\255.example.",
	    "sp\\032ace.x\\\\y.\\\"q\\\".\\;\\(\\)\\@\\$.",
	    "*.example.",
	    "\\127.",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint8_t w1[DNS_NAME_MAXLEN], w2[DNS_NAME_MAXLEN];
		char text[1024];
		size_t l1 = 0, l2 = 0;
		ck_assert_int_eq(dns_name_from_str(names[i], NULL, w1, &l1), TANDEM_OK);
		size_t n = dns_name_to_str(w1, text);
		ck_assert_uint_eq(n, strlen(text));
		ck_assert_str_eq(text, names[i]);
		ck_assert_int_eq(dns_name_from_str(text, NULL, w2, &l2), TANDEM_OK);
		ck_assert_uint_eq(l1, l2);
		ck_assert_int_eq(memcmp(w1, w2, l1), 0);
	}
	/* uppercase comes out lowercase; '\065' comes out as a plain letter */
	uint8_t w[DNS_NAME_MAXLEN];
	char text[1024];
	dns_name_to_str(W("\\065Bc.EXAMPLE.", w), text);
	ck_assert_str_eq(text, "abc.example.");

	/* the longest name, all bytes escaped, fits the documented 1024-byte buffer */
	char name[1100] = "";
	for (int l = 0; l < 4; l++) {
		for (int i = 0; i < (l < 3 ? 63 : 61); i++) {
			strcat(name, "\\200");
		}
		strcat(name, ".");
	}
	ck_assert_uint_eq(dns_name_len(W(name, w), DNS_NAME_MAXLEN), 255);
	ck_assert_uint_lt(dns_name_to_str(w, text), 1024);
	ck_assert_str_eq(text, name);
}
END_TEST

/* RFC 4034 section 6.1: the names in canonical order. */
START_TEST(test_name_compare)
{
	static const char *const order[] = {
	    "example.",         "a.example.",      "yljkjljk.a.example.",
	    "Z.a.example.",     "zABC.a.EXAMPLE.", "z.example.",
	    "\\001.z.example.", "*.z.example.",    "\\200.z.example.",
	};
	const size_t n = sizeof(order) / sizeof(order[0]);
	uint8_t w[9][DNS_NAME_MAXLEN], copy[DNS_NAME_MAXLEN];
	for (size_t i = 0; i < n; i++) {
		W(order[i], w[i]);
	}
	for (size_t i = 0; i < n; i++) {
		W(order[i], copy);
		ck_assert_int_eq(dns_name_compare(w[i], copy), 0);
		for (size_t j = i + 1; j < n; j++) {
			ck_assert_msg(dns_name_compare(w[i], w[j]) < 0, "%s < %s", order[i],
				      order[j]);
			ck_assert_msg(dns_name_compare(w[j], w[i]) > 0, "%s > %s", order[j],
				      order[i]);
		}
	}
	/* a longer label sorts after its prefix; the root sorts first */
	uint8_t a[DNS_NAME_MAXLEN], b[DNS_NAME_MAXLEN];
	ck_assert_int_lt(dns_name_compare(W("ab.example.", a), W("abc.example.", b)), 0);
	ck_assert_int_lt(dns_name_compare(W(".", a), W("example.", b)), 0);
	ck_assert_int_gt(dns_name_compare(W("a.b.", a), W("b.a.", b)), 0);
}
END_TEST

START_TEST(test_name_is_sub_labels)
{
	uint8_t a[DNS_NAME_MAXLEN], b[DNS_NAME_MAXLEN];
	ck_assert(dns_name_is_sub(W("www.example.", a), W("example.", b)));
	ck_assert(dns_name_is_sub(W("a.b.c.example.", a), W("c.example.", b)));
	ck_assert(dns_name_is_sub(W("example.", a), W("example.", b)));
	ck_assert(dns_name_is_sub(W("example.", a), W(".", b)));
	ck_assert(!dns_name_is_sub(W("example.", a), W("www.example.", b)));
	ck_assert(!dns_name_is_sub(W("www.example.", a), W("ample.", b)));
	ck_assert(!dns_name_is_sub(W("a.bexample.", a), W("example.", b)));
	ck_assert(!dns_name_is_sub(W("www.example.", a), W("example.com.", b)));
	/* an escaped dot does not make a label boundary */
	ck_assert(!dns_name_is_sub(W("www\\.example.", a), W("example.", b)));

	ck_assert_uint_eq(dns_name_labels(W(".", a)), 0);
	ck_assert_uint_eq(dns_name_labels(W("example.", a)), 1);
	ck_assert_uint_eq(dns_name_labels(W("a.b.example.", a)), 3);
	ck_assert_uint_eq(dns_name_labels(W("a\\.b.example.", a)), 2);
	ck_assert_uint_eq(dns_name_labels(W("*.example.", a)), 2);

	/* malformed wire names */
	static const uint8_t bad_label[] = {64, 'a'};
	static const uint8_t truncated[] = {3, 'w', 'w', 'w', 7, 'e'};
	ck_assert_uint_eq(dns_name_len(bad_label, sizeof(bad_label)), 0);
	ck_assert_uint_eq(dns_name_len(truncated, sizeof(truncated)), 0);
}
END_TEST

START_TEST(test_alg_names)
{
	ck_assert_int_eq(dns_alg_from_str("rsasha256"), 8);
	ck_assert_int_eq(dns_alg_from_str("ECDSAP256SHA256"), 13);
	ck_assert_int_eq(dns_alg_from_str("15"), 15);
	ck_assert_int_eq(dns_alg_from_str("5"), -1); /* RSASHA1: not signed with */
	ck_assert_int_eq(dns_alg_from_str("rsasha"), -1);
	ck_assert_int_eq(dns_alg_from_str(""), -1);
	ck_assert_int_eq(dns_alg_from_str(NULL), -1);
	ck_assert_str_eq(dns_alg_to_str(14), "ecdsap384sha384");
	ck_assert_ptr_null(dns_alg_to_str(7));
}
END_TEST

START_TEST(test_rdata_compare_type_str)
{
	uint8_t a[8], b[8];
	ck_assert_int_lt(dns_rdata_compare(mkrdata(a, "ab", 2), mkrdata(b, "abc", 3)), 0);
	ck_assert_int_gt(dns_rdata_compare(mkrdata(a, "b", 1), mkrdata(b, "abc", 3)), 0);
	ck_assert_int_eq(dns_rdata_compare(mkrdata(a, "abc", 3), mkrdata(b, "abc", 3)), 0);
	char buf[16];
	ck_assert_str_eq(dns_type_to_str(DNS_TYPE_NSEC3PARAM, buf), "NSEC3PARAM");
	ck_assert_str_eq(dns_type_to_str(65000, buf), "TYPE65000");
}
END_TEST

/* ---- loading a good zone ---- */

/* Line numbers matter to some tests below: keep the header four lines long. */
#define HEADER                                                                                     \
	"$TTL 3600\n"                                                                              \
	"example. IN SOA ns1.example. hostmaster.example. 1 7200 900 1209600 300\n"                \
	"example. IN NS ns1.example.\n"                                                            \
	"ns1.example. IN A 192.0.2.1\n"

static const char good_zone[] =
    "$ORIGIN example.\n"
    "$TTL 3600\n"
    "@\tIN\tSOA\tns1.example. hostmaster.example. ( 1 7200 900 1209600 300 )\n"
    "@\tNS\tns1\n"
    "@\tNS\tNS2.EXAMPLE.\n"
    "@\tNS\tNs1.Example.\n" /* the same as the first NS once canonical */
    "ns1\tA\t192.0.2.1\n"
    "ns2\tA\t192.0.2.2\n"
    "ns1\tA\t192.0.2.1\n" /* a duplicate */
    "WWW.Example.\tA\t192.0.2.10\n"
    "a.b\tTXT\t\"deep\"\n"
    "*.w\tA\t192.0.2.20\n"
    "sub\tNS\tns.sub\n"
    "sub\tNS\tNS.OTHER.NET.\n"
    "sub\tDS\t60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118\n"
    "ns.sub\tA\t192.0.2.30\n"
    "ns1\tAAAA\t2001:db8::1\n" /* ns1 again, away from its other records */
    "www\tMX\t10 NS1.example.\n"
    "$TTL 60\n"
    "late\tA\t192.0.2.40\n";

START_TEST(test_load_order_and_flags)
{
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = load_ok("good.zone", good_zone, false, diag);
	ck_assert_uint_eq(diag_errors(diag), 0);

	static const char *const want[] = {
	    "example.",     "b.example.",   "a.b.example.", "late.example.",
	    "ns1.example.", "ns2.example.", "sub.example.", "ns.sub.example.",
	    "w.example.",   "*.w.example.", "www.example.",
	};
	size_t count = 0;
	dns_node_t *nodes = dns_zone_nodes(z, &count);
	ck_assert_uint_eq(count, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < count; i++) {
		char text[1024];
		dns_name_to_str(nodes[i].name, text);
		ck_assert_str_eq(text, want[i]);
		ck_assert_uint_eq(nodes[i].name_len, dns_name_len(nodes[i].name, DNS_NAME_MAXLEN));
		ck_assert_uint_eq(nodes[i].labels, dns_name_labels(nodes[i].name));
		if (i > 0) {
			ck_assert_int_lt(dns_name_compare(nodes[i - 1].name, nodes[i].name), 0);
		}
		ck_assert_ptr_eq(find(z, want[i]), &nodes[i]);
		/* RRsets sorted by type */
		for (uint16_t r = 1; r < nodes[i].rrset_count; r++) {
			ck_assert_uint_lt(nodes[i].rrsets[r - 1].type, nodes[i].rrsets[r].type);
		}
	}
	ck_assert_ptr_null(find(z, "nope.example."));

	/* apex */
	dns_node_t *apex = dns_zone_apex(z);
	ck_assert_ptr_eq(apex, &nodes[0]);
	ck_assert_uint_eq(apex->flags, DNS_NODE_APEX);
	ck_assert_int_eq(memcmp(dns_zone_origin(z), "\7example", 9), 0);
	ck_assert_uint_eq(apex->rrset_count, 2);
	dns_rrset_t *soa = dns_node_rrset(apex, DNS_TYPE_SOA);
	ck_assert_ptr_nonnull(soa);
	ck_assert_uint_eq(soa->count, 1);
	ck_assert_uint_eq(soa->line, 3);
	ck_assert(soa->flags & DNS_RRSET_AUTH);
	dns_rrset_t *ns = dns_node_rrset(apex, DNS_TYPE_NS);
	ck_assert_uint_eq(ns->count, 2); /* Ns1.Example. was ns1 again */
	ck_assert(ns->flags & DNS_RRSET_AUTH);
	ck_assert_uint_eq(ns->ttl, 3600);

	/* empty non-terminals */
	dns_node_t *b = find(z, "b.example.");
	ck_assert_uint_eq(b->flags, DNS_NODE_ENT);
	ck_assert_uint_eq(b->rrset_count, 0);
	ck_assert_uint_eq(find(z, "w.example.")->flags, DNS_NODE_ENT);
	ck_assert_uint_eq(find(z, "a.b.example.")->flags, 0);

	/* wildcard */
	dns_node_t *wild = find(z, "*.w.example.");
	ck_assert_uint_eq(wild->flags, DNS_NODE_WILDCARD);
	ck_assert(dns_node_rrset(wild, DNS_TYPE_A)->flags & DNS_RRSET_AUTH);

	/* delegation: DS is authoritative, NS is not */
	dns_node_t *sub = find(z, "sub.example.");
	ck_assert_uint_eq(sub->flags, DNS_NODE_DELEG);
	ck_assert_uint_eq(sub->rrset_count, 2);
	ck_assert(!(dns_node_rrset(sub, DNS_TYPE_NS)->flags & DNS_RRSET_AUTH));
	ck_assert_uint_eq(dns_node_rrset(sub, DNS_TYPE_NS)->count, 2);
	ck_assert(dns_node_rrset(sub, DNS_TYPE_DS)->flags & DNS_RRSET_AUTH);

	/* glue: below the cut, not occluded, not authoritative */
	dns_node_t *glue = find(z, "ns.sub.example.");
	ck_assert_uint_eq(glue->flags, DNS_NODE_BELOW_CUT);
	ck_assert(!(dns_node_rrset(glue, DNS_TYPE_A)->flags & DNS_RRSET_AUTH));

	/* ordinary names */
	dns_node_t *ns1 = find(z, "ns1.example.");
	ck_assert_uint_eq(ns1->flags, 0);
	ck_assert_uint_eq(ns1->rrset_count, 2);
	ck_assert_uint_eq(ns1->rrsets[0].type, DNS_TYPE_A);
	ck_assert_uint_eq(ns1->rrsets[0].count, 1); /* duplicate removed */
	ck_assert_uint_eq(ns1->rrsets[0].line, 7);
	ck_assert_uint_eq(ns1->rrsets[1].type, DNS_TYPE_AAAA);
	ck_assert_uint_eq(ns1->rrsets[1].line, 17);
	ck_assert_uint_eq(ns1->line, 7);
	ck_assert(ns1->rrsets[0].flags & DNS_RRSET_AUTH);
	ck_assert(ns1->rrsets[1].flags & DNS_RRSET_AUTH);
	ck_assert_ptr_null(dns_node_rrset(ns1, DNS_TYPE_MX));

	/* the mixed-case owner is lowercased and grouped with the lowercase record */
	dns_node_t *www = find(z, "www.example.");
	ck_assert_uint_eq(www->rrset_count, 2);
	ck_assert_uint_eq(dns_node_rrset(www, DNS_TYPE_A)->count, 1);
	ck_assert_int_eq(memcmp(www->name, "\3www\7example", 13), 0);

	/* $TTL applies from where it appears */
	ck_assert_uint_eq(dns_node_rrset(find(z, "late.example."), DNS_TYPE_A)->ttl, 60);
	ck_assert_uint_eq(dns_node_rrset(www, DNS_TYPE_A)->ttl, 3600);

	dns_zone_free(z);
	tandem_diag_free(diag);
}
END_TEST

START_TEST(test_load_canonical_rdata)
{
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = load_ok("good.zone", good_zone, false, diag);
	uint8_t w[DNS_NAME_MAXLEN];

	/* NS RDATA lowercased and sorted canonically: ns1.example. < ns2.example. */
	dns_rrset_t *ns = dns_node_rrset(dns_zone_apex(z), DNS_TYPE_NS);
	ck_assert_uint_eq(ns->count, 2);
	W("ns1.example.", w);
	ck_assert_uint_eq(dns_rdata_len(ns->rdata[0]), 13);
	ck_assert_int_eq(memcmp(dns_rdata_data(ns->rdata[0]), w, 13), 0);
	W("ns2.example.", w);
	ck_assert_int_eq(memcmp(dns_rdata_data(ns->rdata[1]), w, 13), 0);

	/* RDATA order is canonical (wire bytes: \3sub < \5other), not file or text order */
	dns_rrset_t *sns = dns_node_rrset(find(z, "sub.example."), DNS_TYPE_NS);
	ck_assert_uint_eq(sns->count, 2);
	ck_assert_int_lt(dns_rdata_compare(sns->rdata[0], sns->rdata[1]), 0);
	W("ns.sub.example.", w);
	ck_assert_uint_eq(dns_rdata_len(sns->rdata[0]), 16);
	ck_assert_int_eq(memcmp(dns_rdata_data(sns->rdata[0]), w, 16), 0);
	W("ns.other.net.", w);
	ck_assert_int_eq(memcmp(dns_rdata_data(sns->rdata[1]), w, 14), 0);

	/* MX exchange lowercased too */
	dns_rrset_t *mx = dns_node_rrset(find(z, "www.example."), DNS_TYPE_MX);
	ck_assert_uint_eq(dns_rdata_len(mx->rdata[0]), 15);
	ck_assert_int_eq(memcmp(dns_rdata_data(mx->rdata[0]), "\0\12\3ns1\7example", 15), 0);

	/* SOA: names, then five 32-bit numbers */
	dns_rrset_t *soa = dns_node_rrset(dns_zone_apex(z), DNS_TYPE_SOA);
	ck_assert_uint_eq(dns_rdata_len(soa->rdata[0]), 13 + 20 + 20);
	const uint8_t *p = dns_rdata_data(soa->rdata[0]) + 33;
	ck_assert_int_eq(memcmp(p, "\0\0\0\1\0\0\x1c\x20\0\0\x03\x84\0\x12\x75\0\0\0\x01\x2c", 20),
			 0);

	/* A */
	dns_rrset_t *a = dns_node_rrset(find(z, "ns2.example."), DNS_TYPE_A);
	ck_assert_uint_eq(dns_rdata_len(a->rdata[0]), 4);
	ck_assert_int_eq(memcmp(dns_rdata_data(a->rdata[0]), "\xc0\0\2\2", 4), 0);

	dns_zone_free(z);
	tandem_diag_free(diag);
}
END_TEST

START_TEST(test_load_origin_ttl)
{
	static const char text[] = "$ORIGIN example.\n"
				   "$TTL 1234\n"
				   "@ SOA ns1 hostmaster 1 7200 900 1209600 300\n"
				   "@ NS ns1\n"
				   "ns1 A 192.0.2.1\n"
				   "$ORIGIN sub2.example.\n"
				   "host A 192.0.2.2\n"
				   "$TTL 99\n"
				   "other A 192.0.2.3\n"
				   "@ TXT \"at sub2\"\n"
				   "www.example. 77 A 192.0.2.4\n"
				   "\tAAAA 2001:db8::4\n"; /* no owner: the previous one */
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = load_ok("origin.zone", text, false, diag);
	size_t count = 0;
	dns_zone_nodes(z, &count);
	ck_assert_uint_eq(count, 6);

	uint8_t w[DNS_NAME_MAXLEN];
	dns_rrset_t *soa = dns_node_rrset(dns_zone_apex(z), DNS_TYPE_SOA);
	ck_assert_uint_eq(soa->ttl, 1234);
	ck_assert_int_eq(memcmp(dns_rdata_data(soa->rdata[0]), W("ns1.example.", w), 13), 0);
	ck_assert_int_eq(
	    memcmp(dns_rdata_data(soa->rdata[0]) + 13, W("hostmaster.example.", w), 20), 0);
	ck_assert_uint_eq(dns_node_rrset(find(z, "host.sub2.example."), DNS_TYPE_A)->ttl, 1234);
	ck_assert_uint_eq(dns_node_rrset(find(z, "other.sub2.example."), DNS_TYPE_A)->ttl, 99);
	dns_node_t *sub2 = find(z, "sub2.example.");
	ck_assert_ptr_nonnull(sub2);
	ck_assert_uint_eq(sub2->flags, 0); /* it has data: not an ENT */
	ck_assert_uint_eq(dns_node_rrset(sub2, DNS_TYPE_TXT)->ttl, 99);
	dns_node_t *www = find(z, "www.example.");
	ck_assert_uint_eq(dns_node_rrset(www, DNS_TYPE_A)->ttl, 77);
	ck_assert_uint_eq(dns_node_rrset(www, DNS_TYPE_AAAA)->ttl, 99);
	ck_assert_uint_eq(dns_node_rrset(www, DNS_TYPE_AAAA)->line, 12);
	uint32_t serial = 0;
	ck_assert_int_eq(dns_zone_soa_serial(z, &serial), TANDEM_OK);
	ck_assert_uint_eq(serial, 1);
	ck_assert_int_eq(dns_zone_soa_serial(NULL, &serial), TANDEM_EINVAL);

	dns_zone_free(z);
	tandem_diag_free(diag);
}
END_TEST

/* dns_load_opts_t.default_ttl: used before any $TTL; 0 means the SOA minimum. */
START_TEST(test_load_default_ttl)
{
	static const char text[] =
	    "example. 600 IN SOA ns1.example. h.example. 1 7200 900 1209600 300\n"
	    "example. IN NS ns1.example.\n"
	    "ns1.example. IN A 192.0.2.1\n";
	char path[512];
	ts_write_file(g_dir, "nottl.zone", text, path, sizeof(path));
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);

	dns_zone_t *z = NULL;
	dns_load_opts_t opts = {.origin = "example.", .default_ttl = 500};
	ck_assert_int_eq(dns_zone_load(path, &opts, diag, &z), TANDEM_OK);
	ck_assert_uint_eq(dns_node_rrset(dns_zone_apex(z), DNS_TYPE_SOA)->ttl, 600);
	ck_assert_uint_eq(dns_node_rrset(dns_zone_apex(z), DNS_TYPE_NS)->ttl, 500);
	dns_zone_free(z);

	z = NULL;
	opts.default_ttl = 0;
	ck_assert_int_eq(dns_zone_load(path, &opts, diag, &z), TANDEM_OK);
	ck_assert_uint_eq(dns_node_rrset(dns_zone_apex(z), DNS_TYPE_SOA)->ttl, 600);
	ck_assert_msg(dns_node_rrset(dns_zone_apex(z), DNS_TYPE_NS)->ttl == 300,
		      "NS TTL %u, want the SOA minimum 300",
		      dns_node_rrset(dns_zone_apex(z), DNS_TYPE_NS)->ttl);
	ck_assert_uint_eq(dns_node_rrset(find(z, "ns1.example."), DNS_TYPE_A)->ttl, 300);
	dns_zone_free(z);
	tandem_diag_free(diag);
}
END_TEST

START_TEST(test_load_ttl_mismatch)
{
	static const char text[] = HEADER "www.example. 300 A 192.0.2.5\n"
					  "www.example. 600 A 192.0.2.4\n";
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = load_ok("ttl.zone", text, false, diag);
	dns_rrset_t *a = dns_node_rrset(find(z, "www.example."), DNS_TYPE_A);
	ck_assert_uint_eq(a->count, 2);
	ck_assert_uint_eq(a->ttl, 300); /* the first in the file, though it sorts second */
	ck_assert_uint_eq(a->line, 5);
	ck_assert_uint_eq(tandem_diag_count(diag), 1);
	ck_assert_int_eq(tandem_diag_code(diag, 0), TANDEM_OK);
	ck_assert_int_ge(diag_find(diag, "ttl.zone:6:", "TTL"), 0);
	ck_assert_int_ge(diag_find(diag, "www.example.", "300"), 0);
	dns_zone_free(z);
	tandem_diag_free(diag);
}
END_TEST

/* Records of one owner spread over the file, between other owners' records. */
START_TEST(test_load_split_owner)
{
	static const char text[] = HEADER "x.example. A 192.0.2.9\n"
					  "y.example. A 192.0.2.8\n"
					  "x.example. TXT \"one\"\n"
					  "z.example. A 192.0.2.7\n"
					  "X.EXAMPLE. A 192.0.2.6\n"
					  "y.example. A 192.0.2.8\n"
					  "x.example. TXT \"two\"\n"
					  "ns1.example. TXT \"ns1 again\"\n"
					  "example. MX 0 .\n";
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = load_ok("split.zone", text, false, diag);
	size_t count = 0;
	dns_zone_nodes(z, &count);
	ck_assert_uint_eq(count, 5);
	dns_node_t *x = find(z, "x.example.");
	ck_assert_uint_eq(x->rrset_count, 2);
	ck_assert_uint_eq(dns_node_rrset(x, DNS_TYPE_A)->count, 2);
	ck_assert_uint_eq(dns_node_rrset(x, DNS_TYPE_A)->line, 5);
	ck_assert_uint_eq(dns_node_rrset(x, DNS_TYPE_TXT)->count, 2);
	ck_assert_uint_eq(dns_node_rrset(x, DNS_TYPE_TXT)->line, 7);
	ck_assert_uint_eq(dns_node_rrset(find(z, "y.example."), DNS_TYPE_A)->count, 1);
	ck_assert_uint_eq(find(z, "ns1.example.")->rrset_count, 2);
	dns_node_t *apex = dns_zone_apex(z);
	ck_assert_uint_eq(apex->rrset_count, 3);
	ck_assert_uint_eq(apex->rrsets[0].type, DNS_TYPE_NS);
	ck_assert_uint_eq(apex->rrsets[1].type, DNS_TYPE_SOA);
	ck_assert_uint_eq(apex->rrsets[2].type, DNS_TYPE_MX);
	dns_zone_free(z);
	tandem_diag_free(diag);
}
END_TEST

/* Each RRset's line is the line its first record is on, whatever comes before it. */
START_TEST(test_load_line_numbers)
{
	static const char text[] = HEADER "a.example. A 192.0.2.5\n" /* line 5 */
					  "\n"
					  "b.example. A 192.0.2.6\n" /* 7 */
					  "; a comment line\n"
					  "c.example. A 192.0.2.7\n"            /* 9 */
					  "d.example. A 192.0.2.8 ; trailing\n" /* 10 */
					  "; two\n"
					  "; comments\n"
					  "\n"
					  "e.example. TXT ( \"multi\"\n" /* 14 */
					  "\t\"line\" )\n"
					  "f.example. A 192.0.2.9\n"; /* 16 */
	static const struct {
		const char *name;
		uint32_t line;
	} want[] = {{"a.example.", 5},  {"b.example.", 7},  {"c.example.", 9},
		    {"d.example.", 10}, {"e.example.", 14}, {"f.example.", 16}};
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = load_ok("lines.zone", text, false, diag);
	char got[256] = "", exp[256] = "";
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		dns_node_t *n = find(z, want[i].name);
		ck_assert_ptr_nonnull(n);
		ck_assert_uint_eq(n->rrset_count, 1);
		size_t gl = strlen(got), el = strlen(exp);
		snprintf(got + gl, sizeof(got) - gl, " %s%u", want[i].name, n->rrsets[0].line);
		snprintf(exp + el, sizeof(exp) - el, " %s%u", want[i].name, want[i].line);
	}
	ck_assert_str_eq(got, exp);
	dns_zone_free(z);
	tandem_diag_free(diag);
}
END_TEST

/*
 * Loading sorts names into canonical order (RFC 4034 6.1) through a byte key; the key must
 * agree with the label-by-label comparison everywhere, zero bytes and upper case in
 * labels included, whatever order the file has them in.
 */
START_TEST(test_load_canonical_order)
{
	static const char text[] = HEADER "z.example. A 192.0.2.1\n"
					  "\\000.example. A 192.0.2.2\n"
					  "a\\000b.example. A 192.0.2.3\n"
					  "c.a.example. A 192.0.2.4\n"
					  "A.example. TXT \"a\"\n"
					  "a\\000.example. A 192.0.2.5\n"
					  "*.z.example. A 192.0.2.6\n"
					  "b.a.example. A 192.0.2.7\n"
					  "\\255.example. A 192.0.2.8\n"
					  "aa.example. A 192.0.2.9\n"
					  "a-.example. A 192.0.2.10\n"
					  "yljkjljk.a.example. A 192.0.2.11\n";
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = load_ok("order.zone", text, false, diag);
	size_t n = 0;
	dns_node_t *nodes = dns_zone_nodes(z, &n);
	ck_assert_uint_ge(n, 14);
	for (size_t i = 1; i < n; i++) {
		char a[1024], b[1024];
		dns_name_to_str(nodes[i - 1].name, a);
		dns_name_to_str(nodes[i].name, b);
		ck_assert_msg(dns_name_compare(nodes[i - 1].name, nodes[i].name) < 0,
			      "%s sorted before %s", a, b);
	}
	/* "a.example." and "A.example." are one name */
	ck_assert_ptr_nonnull(dns_node_rrset(find(z, "a.example."), DNS_TYPE_TXT));
	dns_zone_free(z);
	tandem_diag_free(diag);
}
END_TEST

/*
 * The same at scale, in shuffled file order: names that share their first 8 key bytes below
 * the origin (sorted by the whole key), names with zero bytes and upper case, names one
 * label deeper, and one owner whose records are split over two places in the file (one
 * node with both RRsets).
 */
START_TEST(test_load_canonical_order_many)
{
	enum { N = 600 };
	char *lines[N + 2];
	size_t n = 0;
	for (unsigned i = 0; i < N / 3; i++) {
		ck_assert_int_gt(asprintf(&lines[n++], "sharedprefix-%u.example. A 192.0.2.%u\n", i,
					  i % 250 + 1),
				 0);
		ck_assert_int_gt(asprintf(&lines[n++], "%c%s%u.example. A 192.0.2.%u\n",
					  i % 2 ? 'Q' : 'q', i % 5 ? "" : "\\000", i, i % 250 + 1),
				 0);
		ck_assert_int_gt(
		    asprintf(&lines[n++], "x%u.sharedprefix-%u.example. TXT \"%u\"\n", i % 7, i, i),
		    0);
	}
	ck_assert_int_gt(asprintf(&lines[n++], "sharedprefix-7.example. TXT \"second place\"\n"),
			 0);
	uint32_t seed = 12345; /* a fixed shuffle: the same file every run */
	for (size_t i = n - 1; i > 0; i--) {
		seed = seed * 1103515245u + 12345u;
		size_t j = (seed >> 8) % (i + 1);
		char *t = lines[i];
		lines[i] = lines[j];
		lines[j] = t;
	}
	size_t len = strlen(HEADER) + 1;
	for (size_t i = 0; i < n; i++) {
		len += strlen(lines[i]);
	}
	char *text = malloc(len);
	ck_assert_ptr_nonnull(text);
	strcpy(text, HEADER);
	for (size_t i = 0; i < n; i++) {
		strcat(text, lines[i]);
		free(lines[i]);
	}
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = load_ok("many.zone", text, false, diag);
	free(text);
	size_t count = 0;
	dns_node_t *nodes = dns_zone_nodes(z, &count);
	/* the apex, ns1, and N names (no empty non-terminal: every parent has data) */
	ck_assert_uint_eq(count, 2 + N);
	for (size_t i = 1; i < count; i++) {
		char a[1024], b[1024];
		dns_name_to_str(nodes[i - 1].name, a);
		dns_name_to_str(nodes[i].name, b);
		ck_assert_msg(dns_name_compare(nodes[i - 1].name, nodes[i].name) < 0,
			      "%s sorted before %s", a, b);
		ck_assert(!(nodes[i].flags & DNS_NODE_ENT));
	}
	dns_node_t *two = find(z, "sharedprefix-7.example.");
	ck_assert_ptr_nonnull(two);
	ck_assert_ptr_nonnull(dns_node_rrset(two, DNS_TYPE_A));
	ck_assert_ptr_nonnull(dns_node_rrset(two, DNS_TYPE_TXT));
	dns_zone_free(z);
	tandem_diag_free(diag);
}
END_TEST

START_TEST(test_load_occluded)
{
	static const char text[] = HEADER "sub.example. NS ns.sub.example.\n"
					  "ns.sub.example. A 192.0.2.3\n"
					  "mail.sub.example. MX 10 ns.sub.example.\n"
					  "deep.x.sub.example. AAAA 2001:db8::5\n";
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = load_ok("occ.zone", text, false, diag);
	dns_node_t *mail = find(z, "mail.sub.example.");
	ck_assert_ptr_nonnull(mail);
	ck_assert_uint_eq(mail->flags, DNS_NODE_BELOW_CUT | DNS_NODE_OCCLUDED);
	ck_assert(!(dns_node_rrset(mail, DNS_TYPE_MX)->flags & DNS_RRSET_AUTH));
	ck_assert_uint_eq(find(z, "ns.sub.example.")->flags, DNS_NODE_BELOW_CUT);
	ck_assert_uint_eq(find(z, "x.sub.example.")->flags, DNS_NODE_BELOW_CUT | DNS_NODE_ENT);
	ck_assert_uint_eq(find(z, "deep.x.sub.example.")->flags, DNS_NODE_BELOW_CUT);
	ck_assert_uint_eq(find(z, "sub.example.")->flags, DNS_NODE_DELEG);

	ck_assert_uint_eq(diag_errors(diag), 0);
	long i = diag_find(diag, "occ.zone:7:", "mail.sub.example.");
	ck_assert_int_ge(i, 0);
	ck_assert_int_eq(tandem_diag_code(diag, (size_t)i), TANDEM_OK);
	ck_assert_int_ge(diag_find(diag, "occ.zone:7:", "MX"), 0);
	ck_assert_uint_eq(tandem_diag_count(diag), 1); /* glue is not reported */
	dns_zone_free(z);
	tandem_diag_free(diag);
}
END_TEST

/* A DNAME makes a cut too: what is below it is not authoritative. */
START_TEST(test_load_dname_cut)
{
	static const char text[] = HEADER "d.example. DNAME other.net.\n"
					  "x.d.example. TXT \"hidden\"\n"
					  "e.example. A 192.0.2.9\n";
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = load_ok("dname.zone", text, false, diag);
	dns_node_t *d = find(z, "d.example.");
	ck_assert_uint_eq(d->flags, 0);
	ck_assert(dns_node_rrset(d, DNS_TYPE_DNAME)->flags & DNS_RRSET_AUTH);
	dns_node_t *x = find(z, "x.d.example.");
	ck_assert_uint_eq(x->flags, DNS_NODE_BELOW_CUT | DNS_NODE_OCCLUDED);
	ck_assert(!(dns_node_rrset(x, DNS_TYPE_TXT)->flags & DNS_RRSET_AUTH));
	ck_assert_uint_eq(find(z, "e.example.")->flags, 0);
	dns_zone_free(z);
	tandem_diag_free(diag);
}
END_TEST

/* ---- refusals ---- */

typedef struct refusal {
	const char *what;
	const char *text;
	int code;
	const char *needle1; /* both must be in one message */
	const char *needle2;
} refusal_t;

static const refusal_t refusals[] = {
    {"missing SOA", "$TTL 3600\nexample. NS ns1.example.\nns1.example. A 192.0.2.1\n",
     TANDEM_DNS_ESOA, "bad.zone", "no SOA"},
    {"duplicate SOA", HEADER "example. SOA ns2.example. h.example. 2 1 1 1 1\n", TANDEM_DNS_ESOA,
     "bad.zone:5:", "line 2"},
    {"SOA not at apex",
     "$TTL 3600\nexample. NS ns1.example.\nsub.example. SOA ns1.example. h.example. 1 1 1 1 1\n",
     TANDEM_DNS_ESOA, "bad.zone:3:", "sub.example."},
    {"out of zone", HEADER "www.example.org. A 192.0.2.9\n", TANDEM_DNS_EZONE,
     "bad.zone:5:", "www.example.org."},
    {"out of zone after a comment", HEADER "\n; a comment\nwww.example.org. A 192.0.2.9\n",
     TANDEM_DNS_EZONE, "bad.zone:7:", "www.example.org."},
    {"out of zone after a multi-line SOA",
     "$TTL 3600\n"
     "; comment\n"
     "\n"
     "example. IN SOA ns1.example. hostmaster.example. (\n"
     "\t1 ; serial\n"
     "\t7200 900 1209600 300 )\n"
     "example. NS ns1.example.\n"
     "\n"
     "example.com. A 192.0.2.1\n",
     TANDEM_DNS_EZONE, "bad.zone:9:", "example.com."},
    {"parent of the apex", HEADER "com. A 192.0.2.9\n", TANDEM_DNS_EZONE,
     "bad.zone:5:", "out-of-zone"},
    {"CNAME beside other data",
     HEADER "www.example. A 192.0.2.5\nwww.example. CNAME ns1.example.\n", TANDEM_DNS_ECNAME,
     "bad.zone:6:", "www.example."},
    {"CNAME before other data",
     HEADER "www.example. CNAME ns1.example.\nwww.example. A 192.0.2.5\n", TANDEM_DNS_ECNAME,
     "bad.zone:6:", "www.example."},
    {"two CNAMEs", HEADER "www.example. CNAME a.example.\nwww.example. CNAME b.example.\n",
     TANDEM_DNS_ECNAME, "bad.zone:5:", "more than one CNAME"},
    {"CNAME at apex", HEADER "example. CNAME www.example.net.\n", TANDEM_DNS_ECNAME,
     "bad.zone:5:", "apex"},
    {"DNAME at apex", HEADER "example. DNAME example.net.\n", TANDEM_DNS_ECNAME,
     "bad.zone:5:", "DNAME"},
    {"bad RDATA", HEADER "www.example. A 300.1.2.3\n", TANDEM_DNS_EPARSE, "bad.zone:5:", NULL},
    {"bad AAAA", HEADER "www.example. AAAA 2001:db8::1::2\n", TANDEM_DNS_EPARSE,
     "bad.zone:5:", NULL},
    {"syntax error", HEADER "www.example. IN NOSUCHTYPE foo\n", TANDEM_DNS_EPARSE,
     "bad.zone:5:", NULL},
    {"DS not at a delegation",
     HEADER "www.example. DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118\n",
     TANDEM_DNS_EZONE, "bad.zone:5:", "www.example."},
    {"DS at the apex", HEADER "example. DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118\n",
     TANDEM_DNS_EZONE, "bad.zone:5:", "delegation"},
    {"class CH", HEADER "www.example. CH TXT \"chaos\"\n", TANDEM_DNS_EPARSE,
     "bad.zone:5:", "class"},
    {"$INCLUDE", HEADER "$INCLUDE other.zone\n", TANDEM_DNS_EPARSE, "bad.zone:5:", "$INCLUDE"},
};

START_TEST(test_refusal)
{
	const refusal_t *t = &refusals[_i];
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	static char sentinel;
	dns_zone_t *z = (dns_zone_t *)(void *)&sentinel;
	int ret = load_text("bad.zone", t->text, false, diag, &z);
	if (ret != t->code || diag_find(diag, t->needle1, t->needle2) < 0) {
		fprintf(stderr, "%s: returned %d\n", t->what, ret);
		diag_dump(diag);
	}
	ck_assert_msg(ret == t->code, "%s: returned %d, want %d", t->what, ret, t->code);
	ck_assert_msg(z == (dns_zone_t *)(void *)&sentinel, "%s: *out written", t->what);
	long i = diag_find(diag, t->needle1, t->needle2);
	ck_assert_msg(i >= 0, "%s: no message with '%s' and '%s'", t->what, t->needle1,
		      t->needle2 ? t->needle2 : "");
	ck_assert_msg(tandem_diag_code(diag, (size_t)i) == t->code, "%s: message code %d", t->what,
		      tandem_diag_code(diag, (size_t)i));
	tandem_diag_free(diag);
}
END_TEST

/* Loading goes on after an error, so every problem is reported at once. */
START_TEST(test_refusal_reports_all)
{
	static const char text[] = HEADER "www.example.org. A 192.0.2.9\n"
					  "www.example. A 300.1.2.3\n"
					  "ok.example. A 192.0.2.10\n"
					  "www.example. CH TXT \"x\"\n";
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = NULL;
	int ret = load_text("many.zone", text, false, diag, &z);
	ck_assert_int_eq(ret, TANDEM_DNS_EZONE); /* the first error's code */
	ck_assert_ptr_null(z);
	ck_assert_uint_eq(diag_errors(diag), 3);
	ck_assert_int_ge(diag_find(diag, "many.zone:5:", NULL), 0);
	ck_assert_int_ge(diag_find(diag, "many.zone:6:", NULL), 0);
	ck_assert_int_ge(diag_find(diag, "many.zone:8:", NULL), 0);
	tandem_diag_free(diag);
}
END_TEST

/* The return code describes this load, not messages already in a reused diag. */
START_TEST(test_refusal_reused_diag)
{
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = NULL;
	char path[600];
	snprintf(path, sizeof(path), "%s/no-such.zone", g_dir);
	dns_load_opts_t opts = {.origin = "example."};
	ck_assert_int_eq(dns_zone_load(path, &opts, diag, &z), TANDEM_ENOENT);
	ck_assert_ptr_null(z);
	ck_assert_int_ge(diag_find(diag, "no-such.zone", NULL), 0);

	int ret =
	    load_text("apex.zone", HEADER "example. CNAME www.example.net.\n", false, diag, &z);
	ck_assert_msg(ret == TANDEM_DNS_ECNAME, "returned %d, want TANDEM_DNS_ECNAME (%d)", ret,
		      TANDEM_DNS_ECNAME);
	ck_assert_ptr_null(z);
	tandem_diag_free(diag);
}
END_TEST

START_TEST(test_load_bad_args)
{
	dns_zone_t *z = NULL;
	dns_load_opts_t opts = {.origin = "example."};
	dns_load_opts_t no_origin = {.origin = NULL};
	dns_load_opts_t bad_origin = {.origin = "a..example"};
	char path[512];
	ts_write_file(g_dir, "args.zone", HEADER, path, sizeof(path));
	ck_assert_int_eq(dns_zone_load(NULL, &opts, NULL, &z), TANDEM_EINVAL);
	ck_assert_int_eq(dns_zone_load(path, NULL, NULL, &z), TANDEM_EINVAL);
	ck_assert_int_eq(dns_zone_load(path, &no_origin, NULL, &z), TANDEM_EINVAL);
	ck_assert_int_eq(dns_zone_load(path, &opts, NULL, NULL), TANDEM_EINVAL);
	ck_assert_int_eq(dns_zone_load(path, &bad_origin, NULL, &z), TANDEM_DNS_ENAME);
	ck_assert_ptr_null(z);
	/* a NULL diag is allowed, and the origin may lack its final dot */
	opts.origin = "EXAMPLE";
	ck_assert_int_eq(dns_zone_load(path, &opts, NULL, &z), TANDEM_OK);
	ck_assert_int_eq(memcmp(dns_zone_origin(z), "\7example", 9), 0);
	dns_zone_free(z);
	dns_zone_free(NULL);
}
END_TEST

/* ---- DNSSEC records ---- */

START_TEST(test_keep_dnssec)
{
	ck_assert_msg(g_signed[0] != '\0', "ldns-keygen/ldns-signzone failed");
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = load_path_ok(g_signed, true, diag);
	ck_assert_uint_eq(diag_errors(diag), 0);

	dns_node_t *apex = dns_zone_apex(z);
	dns_rrset_t *soa = dns_node_rrset(apex, DNS_TYPE_SOA);
	ck_assert_uint_gt(soa->sig_count, 0);
	for (uint16_t i = 0; i < soa->sig_count; i++) {
		/* type covered, then the rest of the RRSIG RDATA */
		ck_assert_uint_eq(dns_rdata_data(soa->sigs[i])[0], 0);
		ck_assert_uint_eq(dns_rdata_data(soa->sigs[i])[1], DNS_TYPE_SOA);
	}
	ck_assert_ptr_null(dns_node_rrset(apex, DNS_TYPE_RRSIG)); /* not an RRset of its own */
	ck_assert_ptr_nonnull(dns_node_rrset(apex, DNS_TYPE_DNSKEY));
	ck_assert_uint_gt(dns_node_rrset(apex, DNS_TYPE_DNSKEY)->sig_count, 0);
	dns_rrset_t *nsec = dns_node_rrset(apex, DNS_TYPE_NSEC);
	ck_assert_ptr_nonnull(nsec);
	ck_assert_uint_eq(nsec->count, 1);
	ck_assert_uint_gt(nsec->sig_count, 0);
	ck_assert(nsec->flags & DNS_RRSET_AUTH);
	ck_assert_uint_eq(dns_rdata_data(nsec->sigs[0])[1], DNS_TYPE_NSEC);

	/* every name with data has an NSEC; the ENT has none */
	size_t count = 0, with_nsec = 0;
	dns_node_t *nodes = dns_zone_nodes(z, &count);
	for (size_t i = 0; i < count; i++) {
		if (dns_node_rrset(&nodes[i], DNS_TYPE_NSEC) != NULL) {
			with_nsec++;
		}
		for (uint16_t r = 0; r < nodes[i].rrset_count; r++) {
			for (uint16_t k = 0; k < nodes[i].rrsets[r].sig_count; k++) {
				const uint8_t *s = dns_rdata_data(nodes[i].rrsets[r].sigs[k]);
				ck_assert_uint_eq((s[0] << 8) | s[1], nodes[i].rrsets[r].type);
			}
		}
	}
	ck_assert_uint_eq(with_nsec, 6); /* apex, a.b, mail, ns1, sub, www */
	ck_assert_ptr_null(dns_node_rrset(find(z, "b.example."), DNS_TYPE_NSEC));
	ck_assert_uint_eq(find(z, "b.example.")->flags, DNS_NODE_ENT);

	/* delegation: NSEC and DS signed and authoritative, NS not signed */
	dns_node_t *sub = find(z, "sub.example.");
	ck_assert_uint_eq(sub->flags, DNS_NODE_DELEG);
	ck_assert_uint_eq(dns_node_rrset(sub, DNS_TYPE_NS)->sig_count, 0);
	ck_assert(dns_node_rrset(sub, DNS_TYPE_NSEC)->flags & DNS_RRSET_AUTH);
	ck_assert_uint_gt(dns_node_rrset(sub, DNS_TYPE_NSEC)->sig_count, 0);
	ck_assert_uint_gt(dns_node_rrset(sub, DNS_TYPE_DS)->sig_count, 0);
	/* glue: neither signed nor covered by NSEC */
	dns_node_t *glue = find(z, "ns.sub.example.");
	ck_assert_uint_eq(glue->flags, DNS_NODE_BELOW_CUT);
	ck_assert_uint_eq(glue->rrset_count, 1);
	ck_assert_uint_eq(glue->rrsets[0].sig_count, 0);
	/* NSEC RDATA: next name then bitmap */
	dns_rrset_t *wnsec = dns_node_rrset(find(z, "www.example."), DNS_TYPE_NSEC);
	uint8_t w[DNS_NAME_MAXLEN];
	ck_assert_int_eq(memcmp(dns_rdata_data(wnsec->rdata[0]), W("example.", w), 9), 0);

	dns_zone_free(z);
	tandem_diag_free(diag);
}
END_TEST

START_TEST(test_drop_dnssec)
{
	ck_assert_msg(g_signed[0] != '\0', "ldns-keygen/ldns-signzone failed");
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = load_path_ok(g_signed, false, diag);
	size_t count = 0;
	dns_node_t *nodes = dns_zone_nodes(z, &count);
	ck_assert_uint_eq(count, 8);
	for (size_t i = 0; i < count; i++) {
		for (uint16_t r = 0; r < nodes[i].rrset_count; r++) {
			ck_assert_uint_eq(nodes[i].rrsets[r].sig_count, 0);
			ck_assert_uint_ne(nodes[i].rrsets[r].type, DNS_TYPE_NSEC);
			ck_assert_uint_ne(nodes[i].rrsets[r].type, DNS_TYPE_RRSIG);
		}
	}
	/* DNSKEY is the signer's own too: the input's is dropped */
	ck_assert_ptr_null(dns_node_rrset(dns_zone_apex(z), DNS_TYPE_DNSKEY));
	dns_zone_free(z);

	/* NSEC3 and NSEC3PARAM are dropped too, with their hashed names */
	ck_assert_msg(g_signed3[0] != '\0', "ldns-signzone -n failed");
	z = load_path_ok(g_signed3, false, diag);
	dns_zone_nodes(z, &count);
	ck_assert_uint_eq(count, 8);
	ck_assert_ptr_null(dns_node_rrset(dns_zone_apex(z), DNS_TYPE_NSEC3PARAM));
	size_t n3 = 0;
	dns_zone_nsec3_nodes(z, &n3);
	ck_assert_uint_eq(n3, 0);
	dns_zone_free(z);
	tandem_diag_free(diag);
}
END_TEST

/* NSEC3 records belong in the separate NSEC3 node array (see dns_zone.h). */
START_TEST(test_keep_dnssec_nsec3)
{
	ck_assert_msg(g_signed3[0] != '\0', "ldns-signzone -n failed");
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = load_path_ok(g_signed3, true, diag);
	dns_node_t *apex = dns_zone_apex(z);
	ck_assert_ptr_nonnull(dns_node_rrset(apex, DNS_TYPE_NSEC3PARAM));
	ck_assert_uint_gt(dns_node_rrset(apex, DNS_TYPE_NSEC3PARAM)->sig_count, 0);

	size_t count = 0, n3 = 0;
	dns_node_t *nodes = dns_zone_nodes(z, &count);
	size_t nsec3_in_main = 0;
	for (size_t i = 0; i < count; i++) {
		if (dns_node_rrset(&nodes[i], DNS_TYPE_NSEC3) != NULL) {
			nsec3_in_main++;
		}
	}
	dns_node_t *hashed = dns_zone_nsec3_nodes(z, &n3);
	ck_assert_msg(nsec3_in_main == 0 && count == 8 && n3 == 7,
		      "main array: %zu nodes, %zu with NSEC3 (want 8 and 0); NSEC3 array: %zu "
		      "(want 7: the apex, the ENT and 5 more names)",
		      count, nsec3_in_main, n3);
	for (size_t i = 0; i < n3; i++) {
		dns_rrset_t *rs = dns_node_rrset(&hashed[i], DNS_TYPE_NSEC3);
		ck_assert_ptr_nonnull(rs);
		ck_assert_uint_gt(rs->sig_count, 0);
	}
	dns_zone_free(z);
	tandem_diag_free(diag);
}
END_TEST

/* An RRSIG that covers a type the name does not have is refused. */
START_TEST(test_keep_dnssec_orphan_rrsig)
{
	static const char text[] =
	    HEADER "www.example. RRSIG MX 8 2 3600 20300101000000 20200101000000 6091 example. "
		   "AwEAAbMd68KbnrX0voJIAjqtt0IivutU\n"
		   "www.example. A 192.0.2.9\n";
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = NULL;
	ck_assert_int_eq(load_text("orphan.zone", text, true, diag, &z), TANDEM_DNS_EPARSE);
	ck_assert_ptr_null(z);
	ck_assert_int_ge(diag_find(diag, "orphan.zone:5:", "RRSIG"), 0);
	tandem_diag_clear(diag);
	/* without keep_dnssec the RRSIG is simply dropped */
	ck_assert_int_eq(load_text("orphan.zone", text, false, diag, &z), TANDEM_OK);
	ck_assert_uint_eq(dns_node_rrset(find(z, "www.example."), DNS_TYPE_A)->sig_count, 0);
	dns_zone_free(z);
	tandem_diag_free(diag);
}
END_TEST

/* ---- writing ---- */

static const char write_zone[] =
    "$ORIGIN example.\n"
    "$TTL 3600\n"
    "@ SOA ns1 hostmaster 2024010101 7200 900 1209600 300\n"
    "@ NS ns1\n"
    "@ MX 10 mail\n"
    "@ MX 20 mail2.example.net.\n"
    "@ TXT \"v=spf1 -all\" \"with spaces and \\\"quotes\\\"\"\n"
    "@ TXT \"semi;colon\" \"back\\\\slash\" \"\"\n"
    "@ CAA 0 issue \"ca.example.net; account=123\"\n"
    "@ CAA 128 tbs \"Unknown\"\n"
    "@ DNSKEY 256 3 5 AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYtsmx3TGkJaNXVbfi/2pHm822aJ5iI9BMzNXxeYCmZ"
    "DRD99WYwYqUSdjMmmAphXdvxegXd/M5+X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9XzcnOf+EPbtG9DMBmADjF"
    "Dc2w/rljwvFw==\n"
    "@ TYPE65000 \\# 3 010203\n"
    "@ TYPE65001 \\# 0\n"
    "ns1 A 192.0.2.1\n"
    "ns1 AAAA 2001:db8::1\n"
    "ns1 AAAA ::ffff:192.0.2.1\n"
    "mail A 192.0.2.2\n"
    "_sip._tcp SRV 10 20 5060 sip\n"
    "sip A 192.0.2.3\n"
    "sub NS ns.sub\n"
    "sub DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118\n"
    "ns.sub A 192.0.2.4\n"
    "weird\\.name\\032x A 192.0.2.5\n"
    "*.wild 60 TXT \"wildcard\"\n"
    "alias CNAME www.example.net.\n"
    "ptr PTR host.example.net.\n"
    "d DNAME other.example.net.\n"
    "sshfp SSHFP 1 1 dd465c09cfa51fb45020cc83316fff21b9ec74ac\n"
    "tlsa TLSA 3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6\n"
    "hinfo HINFO \"PC\" \"Linux 6\"\n";

START_TEST(test_write_round_trip)
{
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z1 = load_ok("write.zone", write_zone, false, diag);
	ck_assert_uint_eq(diag_errors(diag), 0);
	dns_zone_t *z2 = write_and_reload(z1, "write.out", false, diag);
	ck_assert_uint_eq(diag_errors(diag), 0);
	assert_same_zone(z1, z2);
	/* the unknown type kept its bytes */
	dns_rrset_t *u = dns_node_rrset(dns_zone_apex(z2), 65000);
	ck_assert_ptr_nonnull(u);
	ck_assert_uint_eq(dns_rdata_len(u->rdata[0]), 3);
	ck_assert_int_eq(memcmp(dns_rdata_data(u->rdata[0]), "\1\2\3", 3), 0);
	ck_assert_uint_eq(dns_rdata_len(dns_node_rrset(dns_zone_apex(z2), 65001)->rdata[0]), 0);
	/* TXT with quotes: the second string is byte-exact */
	dns_rrset_t *txt = dns_node_rrset(dns_zone_apex(z2), DNS_TYPE_TXT);
	ck_assert_uint_eq(txt->count, 2);
	static const char spf[] = "\13v=spf1 -all\030with spaces and \"quotes\"";
	bool found = false;
	for (uint16_t i = 0; i < txt->count; i++) {
		found |= dns_rdata_len(txt->rdata[i]) == sizeof(spf) - 1 &&
			 memcmp(dns_rdata_data(txt->rdata[i]), spf, sizeof(spf) - 1) == 0;
	}
	ck_assert(found);
	dns_zone_free(z2);

	/* writing twice gives the same text */
	char p1[512], p2[512];
	snprintf(p1, sizeof(p1), "%s/write.out", g_dir);
	z2 = write_and_reload(z1, "write2.out", false, diag);
	snprintf(p2, sizeof(p2), "%s/write3.out", g_dir);
	FILE *fp = fopen(p2, "w");
	ck_assert_int_eq(dns_zone_write(z2, fp), TANDEM_OK);
	fclose(fp);
	char cmd[1200];
	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", p1, p2);
	ck_assert_int_eq(system(cmd), 0);

	ck_assert_int_eq(dns_zone_write(NULL, stdout), TANDEM_EINVAL);
	ck_assert_int_eq(dns_zone_write(z1, NULL), TANDEM_EINVAL);
	dns_zone_free(z1);
	dns_zone_free(z2);
	tandem_diag_free(diag);
}
END_TEST

/* The presentation of a few records, as the first lines of the output. */
START_TEST(test_write_text)
{
	static const char text[] = HEADER "b.example. 60 TXT \"x y\" \"q\\\"\"\n"
					  "a.example. MX 5 Mail.Example.\n"
					  "example. TYPE65000 \\# 3 010203\n";
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = load_ok("text.zone", text, false, diag);
	char *buf = ts_zone_text(z);
	static const char want[] =
	    "example.\t3600\tIN\tSOA\tns1.example. hostmaster.example. 1 7200 900 1209600 300\n"
	    "example.\t3600\tIN\tNS\tns1.example.\n"
	    "example.\t3600\tIN\tTYPE65000\t\\# 3 010203\n"
	    "a.example.\t3600\tIN\tMX\t5 mail.example.\n"
	    "b.example.\t60\tIN\tTXT\t\"x y\" \"q\\\"\"\n"
	    "ns1.example.\t3600\tIN\tA\t192.0.2.1\n";
	ck_assert_str_eq(buf, want);
	free(buf);
	dns_zone_free(z);
	tandem_diag_free(diag);
}
END_TEST

START_TEST(test_write_round_trip_signed)
{
	const char *files[] = {g_signed, g_signed3};
	for (size_t f = 0; f < 2; f++) {
		ck_assert_msg(files[f][0] != '\0', "ldns-keygen/ldns-signzone failed");
		tandem_diag_t *diag = NULL;
		ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
		dns_zone_t *z1 = load_path_ok(files[f], true, diag);
		dns_zone_t *z2 = write_and_reload(z1, f ? "signed3.out" : "signed.out", true, diag);
		ck_assert_uint_eq(diag_errors(diag), 0);
		assert_same_zone(z1, z2);
		size_t c1 = 0, c2 = 0;
		dns_zone_nsec3_nodes(z1, &c1);
		dns_zone_nsec3_nodes(z2, &c2);
		ck_assert_uint_eq(c1, c2);
		dns_zone_free(z1);
		dns_zone_free(z2);
		tandem_diag_free(diag);
	}
}
END_TEST

/* ---- records of one type from a file (trust anchors) ---- */

START_TEST(test_rdata_load_file)
{
	static const char ds[] =
	    "$TTL 300\n"
	    "Example. IN DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118\n"
	    "example. 60 DS 12345 8 2 "
	    "0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6\n";
	char path[512];
	ts_write_file(g_dir, "ds.txt", ds, path, sizeof(path));
	tandem_arena_t *arena = NULL;
	ck_assert_int_eq(tandem_arena_new(0, &arena), TANDEM_OK);
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	static const char *const origins[] = {"example.", "EXAMPLE.", "example"};
	for (size_t o = 0; o < 3; o++) {
		const uint8_t **rd = NULL;
		size_t count = 0;
		int ret =
		    dns_rdata_load_file(path, origins[o], DNS_TYPE_DS, arena, diag, &rd, &count);
		if (ret != TANDEM_OK) {
			diag_dump(diag);
		}
		ck_assert_msg(ret == TANDEM_OK, "origin %s: %d", origins[o], ret);
		ck_assert_uint_eq(count, 2);
		ck_assert_uint_eq(dns_rdata_len(rd[0]), 4 + 20);
		ck_assert_int_eq(memcmp(dns_rdata_data(rd[0]), "\xec\x45\5\1\x2b\xb1", 6), 0);
		ck_assert_uint_eq(dns_rdata_len(rd[1]), 4 + 32);
		ck_assert_int_eq(memcmp(dns_rdata_data(rd[1]), "\x30\x39\x08\x02\x0c\x72", 6), 0);
		free(rd);
	}

	/* a record of another type, or of another owner, is refused with its line */
	static const struct {
		const char *text;
		const char *needle;
	} bad[] = {
	    {"example. DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118\n"
	     "example. A 192.0.2.1\n",
	     "bad.txt:2:"},
	    {"www.example. DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118\n", "bad.txt:1:"},
	    {"example. DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118\n"
	     "example. DS 60485 5 1 zz\n",
	     "bad.txt:2:"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const uint8_t **rd = NULL;
		size_t count = 99;
		tandem_diag_clear(diag);
		ts_write_file(g_dir, "bad.txt", bad[i].text, path, sizeof(path));
		ck_assert_int_eq(
		    dns_rdata_load_file(path, "example.", DNS_TYPE_DS, arena, diag, &rd, &count),
		    TANDEM_DNS_EPARSE);
		ck_assert_ptr_null(rd);
		ck_assert_uint_eq(count, 99);
		ck_assert_msg(diag_find(diag, bad[i].needle, NULL) >= 0, "case %zu: no '%s'", i,
			      bad[i].needle);
	}
	const uint8_t **rd = NULL;
	size_t count = 0;
	snprintf(path, sizeof(path), "%s/none.txt", g_dir);
	ck_assert_int_eq(
	    dns_rdata_load_file(path, "example.", DNS_TYPE_DS, arena, diag, &rd, &count),
	    TANDEM_EIO);
	ck_assert_int_eq(
	    dns_rdata_load_file(NULL, "example.", DNS_TYPE_DS, arena, diag, &rd, &count),
	    TANDEM_EINVAL);
	tandem_diag_free(diag);
	tandem_arena_free(arena);
}
END_TEST

/* ---- RRsets of a node ---- */

START_TEST(test_node_put_remove)
{
	tandem_arena_t *arena = NULL;
	ck_assert_int_eq(tandem_arena_new(0, &arena), TANDEM_OK);
	uint8_t name[DNS_NAME_MAXLEN];
	dns_node_t node = {.name = W("n.example.", name), .name_len = 11, .labels = 2};
	uint8_t r1[8], r2[8], r3[8];
	const uint8_t *one[] = {mkrdata(r1, "\xc0\0\2\1", 4)};
	const uint8_t *two[] = {mkrdata(r2, "\0\12\0", 3), mkrdata(r3, "\0\24\0", 3)};

	static const uint16_t add[] = {DNS_TYPE_MX, DNS_TYPE_A,   65000,       DNS_TYPE_AAAA,
				       DNS_TYPE_NS, DNS_TYPE_TXT, DNS_TYPE_SOA};
	static const uint16_t sorted[] = {DNS_TYPE_A,   DNS_TYPE_NS,   DNS_TYPE_SOA, DNS_TYPE_MX,
					  DNS_TYPE_TXT, DNS_TYPE_AAAA, 65000};
	for (size_t i = 0; i < 7; i++) {
		dns_rrset_t *rs = dns_node_put_rrset(&node, arena, add[i], 100 + add[i], one, 1);
		ck_assert_ptr_nonnull(rs);
		ck_assert_uint_eq(rs->type, add[i]);
		ck_assert_uint_eq(node.rrset_count, i + 1);
	}
	for (size_t i = 0; i < 7; i++) {
		ck_assert_uint_eq(node.rrsets[i].type, sorted[i]);
		ck_assert_uint_eq(node.rrsets[i].ttl, 100u + sorted[i]);
		ck_assert_uint_eq(node.rrsets[i].count, 1);
		ck_assert_ptr_eq(node.rrsets[i].rdata[0], r1);
		ck_assert_ptr_eq(dns_node_rrset(&node, sorted[i]), &node.rrsets[i]);
	}
	ck_assert_ptr_null(dns_node_rrset(&node, DNS_TYPE_CNAME));

	/* replacing keeps the place and drops old signatures; the array is copied */
	dns_rrset_t *mx = dns_node_rrset(&node, DNS_TYPE_MX);
	mx->sigs = one;
	mx->sig_count = 1;
	dns_rrset_t *rs = dns_node_put_rrset(&node, arena, DNS_TYPE_MX, 42, two, 2);
	ck_assert_ptr_eq(rs, &node.rrsets[3]);
	ck_assert_uint_eq(node.rrset_count, 7);
	ck_assert_uint_eq(rs->count, 2);
	ck_assert_uint_eq(rs->ttl, 42);
	ck_assert_uint_eq(rs->sig_count, 0);
	ck_assert_ptr_ne(rs->rdata, two);
	two[0] = NULL;
	ck_assert_ptr_eq(rs->rdata[0], r2);
	ck_assert_ptr_eq(rs->rdata[1], r3);

	/* an empty RRset */
	rs = dns_node_put_rrset(&node, arena, DNS_TYPE_CNAME, 5, NULL, 0);
	ck_assert_ptr_nonnull(rs);
	ck_assert_uint_eq(rs->count, 0);
	ck_assert_uint_eq(node.rrsets[2].type, DNS_TYPE_CNAME);
	ck_assert_uint_eq(node.rrset_count, 8);
	ck_assert_ptr_null(dns_node_put_rrset(&node, arena, DNS_TYPE_A, 5, NULL, 1));
	ck_assert_ptr_null(dns_node_put_rrset(NULL, arena, DNS_TYPE_A, 5, one, 1));
	ck_assert_ptr_null(dns_node_put_rrset(&node, NULL, DNS_TYPE_A, 5, one, 1));

	/* removing: first, middle, last, absent */
	dns_node_remove_rrset(&node, DNS_TYPE_A);
	dns_node_remove_rrset(&node, DNS_TYPE_MX);
	dns_node_remove_rrset(&node, 65000);
	dns_node_remove_rrset(&node, DNS_TYPE_DS);
	dns_node_remove_rrset(NULL, DNS_TYPE_DS);
	static const uint16_t left[] = {DNS_TYPE_NS, DNS_TYPE_CNAME, DNS_TYPE_SOA, DNS_TYPE_TXT,
					DNS_TYPE_AAAA};
	ck_assert_uint_eq(node.rrset_count, 5);
	for (size_t i = 0; i < 5; i++) {
		ck_assert_uint_eq(node.rrsets[i].type, left[i]);
		ck_assert_uint_eq(node.rrsets[i].ttl,
				  left[i] == DNS_TYPE_CNAME ? 5 : 100u + left[i]);
	}
	ck_assert_ptr_null(dns_node_rrset(&node, DNS_TYPE_MX));
	for (size_t i = 0; i < 5; i++) {
		dns_node_remove_rrset(&node, left[i]);
	}
	ck_assert_uint_eq(node.rrset_count, 0);
	ck_assert_ptr_nonnull(dns_node_put_rrset(&node, arena, DNS_TYPE_A, 1, one, 1));
	ck_assert_uint_eq(node.rrset_count, 1);
	tandem_arena_free(arena);
}
END_TEST

/* Adding to a loaded node (whose RRset array is exactly full) and to an ENT. */
START_TEST(test_node_put_loaded)
{
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = load_ok("good.zone", good_zone, false, diag);
	uint8_t r1[8];
	const uint8_t *one[] = {mkrdata(r1, "\1\2\3", 3)};
	dns_node_t *apex = dns_zone_apex(z);
	dns_rrset_t *soa_before = dns_node_rrset(apex, DNS_TYPE_SOA);
	const uint8_t *soa_rdata = soa_before->rdata[0];
	ck_assert_ptr_nonnull(
	    dns_node_put_rrset(apex, dns_zone_arena(z), DNS_TYPE_NSEC, 300, one, 1));
	ck_assert_ptr_nonnull(dns_node_put_rrset(apex, dns_zone_arena(z), DNS_TYPE_A, 300, one, 1));
	ck_assert_uint_eq(apex->rrset_count, 4);
	ck_assert_uint_eq(apex->rrsets[0].type, DNS_TYPE_A);
	ck_assert_uint_eq(apex->rrsets[1].type, DNS_TYPE_NS);
	ck_assert_uint_eq(apex->rrsets[2].type, DNS_TYPE_SOA);
	ck_assert_uint_eq(apex->rrsets[3].type, DNS_TYPE_NSEC);
	ck_assert_ptr_eq(dns_node_rrset(apex, DNS_TYPE_SOA)->rdata[0], soa_rdata);
	ck_assert_uint_eq(dns_node_rrset(apex, DNS_TYPE_NS)->count, 2);
	ck_assert(dns_node_rrset(apex, DNS_TYPE_SOA)->flags & DNS_RRSET_AUTH);

	dns_node_t *ent = find(z, "b.example.");
	ck_assert_ptr_nonnull(
	    dns_node_put_rrset(ent, dns_zone_arena(z), DNS_TYPE_NSEC, 300, one, 1));
	ck_assert_uint_eq(ent->rrset_count, 1);
	dns_node_remove_rrset(ent, DNS_TYPE_NSEC);
	ck_assert_uint_eq(ent->rrset_count, 0);

	/* an adopted arena lives as long as the zone */
	tandem_arena_t *worker = NULL;
	ck_assert_int_eq(tandem_arena_new(0, &worker), TANDEM_OK);
	uint8_t *sig = tandem_arena_alloc(worker, 16);
	ck_assert_ptr_nonnull(sig);
	memset(sig, 0, 16);
	dns_zone_adopt_arena(z, worker);
	dns_zone_free(z);
	tandem_diag_free(diag);
}
END_TEST

/* dns_zone_add_ents is idempotent and keeps order. */
START_TEST(test_add_ents_again)
{
	static const char text[] = HEADER "a.b.c.example. A 192.0.2.1\n"
					  "x.y.b.c.example. A 192.0.2.2\n"
					  "q.example. A 192.0.2.3\n";
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = load_ok("ents.zone", text, false, diag);
	static const char *const want[] = {
	    "example.",       "c.example.",       "b.c.example.", "a.b.c.example.",
	    "y.b.c.example.", "x.y.b.c.example.", "ns1.example.", "q.example.",
	};
	for (int pass = 0; pass < 2; pass++) {
		size_t count = 0;
		dns_node_t *nodes = dns_zone_nodes(z, &count);
		ck_assert_uint_eq(count, 8);
		for (size_t i = 0; i < count; i++) {
			char buf[1024];
			dns_name_to_str(nodes[i].name, buf);
			ck_assert_str_eq(buf, want[i]);
		}
		ck_assert_uint_eq(find(z, "c.example.")->flags, DNS_NODE_ENT);
		ck_assert_uint_eq(find(z, "y.b.c.example.")->flags, DNS_NODE_ENT);
		ck_assert_int_eq(dns_zone_add_ents(z), TANDEM_OK);
	}
	ck_assert_int_eq(dns_zone_add_ents(NULL), TANDEM_EINVAL);
	dns_zone_free(z);
	tandem_diag_free(diag);
}
END_TEST

/* ---- records the signer owns ---- */

/* An unsigned input with every record type the signer makes itself appended (issue 8):
 * line 5 DNSKEY, 6 CDS, 8 CDNSKEY, 9 a second CDS, 10 RRSIG, 11 NSEC, 12 NSEC3,
 * 13 NSEC3PARAM, 14 ZONEMD. */
#define KEY64                                                                                      \
	"mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ=="
static const char owned_zone[] =
    HEADER "example. DNSKEY 257 3 13 " KEY64 "\n"
	   "example. CDS 12345 13 2 "
	   "8f6e2b9d4f5a0a3c1e7b2d9f4a6c8e0b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c\n"
	   "www.example. A 192.0.2.3\n"
	   "example. CDNSKEY 257 3 13 " KEY64 "\n"
	   "example. CDS 23456 13 2 "
	   "1f6e2b9d4f5a0a3c1e7b2d9f4a6c8e0b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c\n"
	   "www.example. RRSIG A 13 2 3600 20300101000000 20200101000000 12345 example. " KEY64 "\n"
	   "www.example. NSEC example. A RRSIG NSEC\n"
	   "2vptu5timamqttgl4luu9kg21e0aor3s.example. NSEC3 1 0 0 - "
	   "35mthgpgcu1qg68fab165klnsnk3dpvl A\n"
	   "example. NSEC3PARAM 1 0 0 -\n"
	   "example. ZONEMD 2018031500 1 1 "
	   "febe3d4ce2ec2ffa4ba99d46cd69d6d29711e55217057bee7eb1a7b641a47ba7fed2dd5b97ae499faf"
	   "a4f22c6bd647de\n";

static const struct {
	uint16_t type;
	const char *needle1, *needle2; /* FILE:LINE of the first, then "COUNT TYPE record" */
} owned_expect[] = {
    {DNS_TYPE_DNSKEY, "owned.zone:5:", ": 1 DNSKEY record"},
    {DNS_TYPE_CDS, "owned.zone:6:", ": 2 CDS records"},
    {DNS_TYPE_CDNSKEY, "owned.zone:8:", ": 1 CDNSKEY record"},
    {DNS_TYPE_RRSIG, "owned.zone:10:", ": 1 RRSIG record"},
    {DNS_TYPE_NSEC, "owned.zone:11:", ": 1 NSEC record"},
    {DNS_TYPE_NSEC3, "owned.zone:12:", ": 1 NSEC3 record"},
    {DNS_TYPE_NSEC3PARAM, "owned.zone:13:", ": 1 NSEC3PARAM record"},
    {DNS_TYPE_ZONEMD, "owned.zone:14:", ": 1 ZONEMD record"},
};

/* Dropped by default: none of them reaches the zone, and each type is named once in a
 * warning with its count and the first FILE:LINE. */
START_TEST(test_signer_owned_dropped)
{
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = load_ok("owned.zone", owned_zone, false, diag);
	ck_assert_uint_eq(diag_errors(diag), 0);
	dns_node_t *apex = dns_zone_apex(z);
	dns_node_t *www = find(z, "www.example.");
	for (size_t i = 0; i < sizeof(owned_expect) / sizeof(owned_expect[0]); i++) {
		ck_assert_ptr_null(dns_node_rrset(apex, owned_expect[i].type));
		ck_assert_ptr_null(dns_node_rrset(www, owned_expect[i].type));
		long at = diag_find(diag, owned_expect[i].needle1, owned_expect[i].needle2);
		if (at < 0) {
			diag_dump(diag);
		}
		ck_assert_msg(at >= 0, "no warning '%s ... %s'", owned_expect[i].needle1,
			      owned_expect[i].needle2);
		ck_assert_int_eq(tandem_diag_code(diag, (size_t)at), TANDEM_OK);
		ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, (size_t)at), "warning"));
		ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, (size_t)at), "dropped"));
	}
	/* one line per type, nothing else */
	ck_assert_uint_eq(tandem_diag_kept(diag), 8);
	ck_assert_uint_eq(www->rrset_count, 1);
	ck_assert_uint_eq(dns_node_rrset(www, DNS_TYPE_A)->sig_count, 0);
	ck_assert_ptr_null(find(z, "2vptu5timamqttgl4luu9kg21e0aor3s.example."));
	size_t n3 = 0;
	dns_zone_nsec3_nodes(z, &n3);
	ck_assert_uint_eq(n3, 0);
	dns_zone_free(z);
	tandem_diag_free(diag);
}
END_TEST

/* With signer-owned: refuse, the input is refused and each type is named with FILE:LINE. */
START_TEST(test_signer_owned_refused)
{
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	char path[512];
	ts_write_file(g_dir, "owned.zone", owned_zone, path, sizeof(path));
	dns_load_opts_t opts = {.origin = "example.", .signer_owned = DNS_SIGNER_OWNED_REFUSE};
	static char sentinel;
	dns_zone_t *z = (dns_zone_t *)(void *)&sentinel;
	ck_assert_int_eq(dns_zone_load(path, &opts, diag, &z), TANDEM_DNS_EPARSE);
	ck_assert(z == (dns_zone_t *)(void *)&sentinel);
	for (size_t i = 0; i < sizeof(owned_expect) / sizeof(owned_expect[0]); i++) {
		long at = diag_find(diag, owned_expect[i].needle1, owned_expect[i].needle2);
		if (at < 0) {
			diag_dump(diag);
		}
		ck_assert_msg(at >= 0, "no refusal '%s ... %s'", owned_expect[i].needle1,
			      owned_expect[i].needle2);
		ck_assert_int_eq(tandem_diag_code(diag, (size_t)at), TANDEM_DNS_EPARSE);
		ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, (size_t)at), "refuse"));
	}
	ck_assert_uint_eq(diag_errors(diag), 8);

	/* a clean input loads silently in either mode */
	tandem_diag_clear(diag);
	ts_write_file(g_dir, "clean.zone", HEADER "www.example. A 192.0.2.3\n", path, sizeof(path));
	ck_assert_int_eq(dns_zone_load(path, &opts, diag, &z), TANDEM_OK);
	ck_assert_uint_eq(tandem_diag_kept(diag), 0);
	dns_zone_free(z);
	tandem_diag_free(diag);
}
END_TEST

/* Verification (keep_dnssec) reads a signed zone: nothing is dropped or refused there. */
START_TEST(test_signer_owned_kept_for_verify)
{
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = load_ok("owned.zone", owned_zone, true, diag);
	ck_assert_ptr_nonnull(dns_node_rrset(dns_zone_apex(z), DNS_TYPE_CDS));
	ck_assert_ptr_nonnull(dns_node_rrset(dns_zone_apex(z), DNS_TYPE_DNSKEY));
	ck_assert_ptr_nonnull(dns_node_rrset(dns_zone_apex(z), DNS_TYPE_ZONEMD));
	ck_assert_int_lt(diag_find(diag, "dropped", NULL), 0);
	dns_zone_free(z);
	tandem_diag_free(diag);
}
END_TEST

/* The NSEC3 hashes a signer leaves with a zone: kept only for its node array as it is. */
START_TEST(test_node_hashes)
{
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = load_ok("hashes.zone",
				"$ORIGIN example.\n$TTL 300\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\n"
				"ns A 192.0.2.1\na.b.c A 192.0.2.2\n",
				false, diag);
	size_t n = 0;
	dns_zone_nodes(z, &n);
	ck_assert_uint_eq(n, 5); /* apex, a.b.c, b.c and c (ENTs), ns */
	ck_assert_ptr_null(dns_zone_node_hashes(z));
	/* a count that is not the node count is not kept */
	uint8_t(*h)[20] = calloc(n + 1, 20);
	ck_assert_ptr_nonnull(h);
	dns_zone_set_node_hashes_take(z, h, n + 1);
	ck_assert_ptr_null(dns_zone_node_hashes(z));
	h = calloc(n, 20);
	ck_assert_ptr_nonnull(h);
	h[2][0] = 0x42;
	dns_zone_set_node_hashes_take(z, h, n);
	ck_assert_ptr_eq(dns_zone_node_hashes(z), h);
	ck_assert_uint_eq(dns_zone_node_hashes(z)[2][0], 0x42);
	/* the node array may change: they are dropped */
	ck_assert_int_eq(dns_zone_add_ents(z), TANDEM_OK);
	ck_assert_ptr_null(dns_zone_node_hashes(z));
	dns_zone_free(z);
	tandem_diag_free(diag);
}
END_TEST

static Suite *dns_suite(void)
{
	Suite *s = suite_create("dns");

	TCase *names = tcase_create("names");
	tcase_add_test(names, test_name_from_str_absolute);
	tcase_add_test(names, test_name_from_str_relative);
	tcase_add_test(names, test_name_from_str_escapes);
	tcase_add_test(names, test_name_from_str_limits);
	tcase_add_test(names, test_name_to_str);
	tcase_add_test(names, test_name_compare);
	tcase_add_test(names, test_name_is_sub_labels);
	tcase_add_test(names, test_rdata_compare_type_str);
	tcase_add_test(names, test_alg_names);
	suite_add_tcase(s, names);

	TCase *load = tcase_create("load");
	tcase_add_unchecked_fixture(load, dir_setup, dir_teardown);
	tcase_add_test(load, test_load_order_and_flags);
	tcase_add_test(load, test_node_hashes);
	tcase_add_test(load, test_load_canonical_rdata);
	tcase_add_test(load, test_load_origin_ttl);
	tcase_add_test(load, test_load_default_ttl);
	tcase_add_test(load, test_load_ttl_mismatch);
	tcase_add_test(load, test_load_split_owner);
	tcase_add_test(load, test_load_line_numbers);
	tcase_add_test(load, test_load_canonical_order);
	tcase_add_test(load, test_load_canonical_order_many);
	tcase_add_test(load, test_load_occluded);
	tcase_add_test(load, test_load_dname_cut);
	tcase_add_loop_test(load, test_refusal, 0, sizeof(refusals) / sizeof(refusals[0]));
	tcase_add_test(load, test_refusal_reports_all);
	tcase_add_test(load, test_refusal_reused_diag);
	tcase_add_test(load, test_load_bad_args);
	tcase_add_test(load, test_rdata_load_file);
	tcase_add_test(load, test_node_put_remove);
	tcase_add_test(load, test_node_put_loaded);
	tcase_add_test(load, test_add_ents_again);
	tcase_add_test(load, test_write_round_trip);
	tcase_add_test(load, test_write_text);
	tcase_add_test(load, test_signer_owned_dropped);
	tcase_add_test(load, test_signer_owned_refused);
	tcase_add_test(load, test_signer_owned_kept_for_verify);
	suite_add_tcase(s, load);

	TCase *dnssec = tcase_create("dnssec");
	tcase_add_unchecked_fixture(dnssec, dnssec_setup, dir_teardown);
	tcase_add_test(dnssec, test_keep_dnssec);
	tcase_add_test(dnssec, test_drop_dnssec);
	tcase_add_test(dnssec, test_keep_dnssec_nsec3);
	tcase_add_test(dnssec, test_keep_dnssec_orphan_rrsig);
	tcase_add_test(dnssec, test_write_round_trip_signed);
	suite_add_tcase(s, dnssec);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(dns_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
