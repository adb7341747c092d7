/* The publish gate against zones signed at test time by peer signers (ldns, BIND), and tampered
 * copies. */
#include "crypto.h"
#include "dns_zone.h"
#include "tandem_diag.h"
#include "tandem_error.h"
#include "testsupport.h"
#include "verify.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW_2030 1893456000ULL /* inside 20240101000000 .. 20350101000000 */
#define NOW_2040 2208988800ULL /* after the expiration */
#define NOW_2020 1577836800ULL /* before the inception */

/* The signed zones, made once per test case by the unchecked fixture. */
static char tmp[256];

static void run(const char *fmt, const char *arg)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "cd '%s' && ", tmp);
	size_t n = strlen(cmd);
	snprintf(cmd + n, sizeof(cmd) - n, fmt, arg);
	ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

static void zones_make(void)
{
	char src[512];
	ts_tmpdir(tmp, sizeof(tmp));
	ts_srcpath("tests/unit/verify/data/example.zone", src, sizeof(src));
	run("cp '%s' example.zone", src);
	/* ldns: RSASHA256 ZSK 1024 + KSK 2048; NSEC, NSEC3 and NSEC3 opt-out */
	run("%s",
	    "mkdir ldns && cd ldns && Z=$(ldns-keygen -a RSASHA256 -b 1024 example) && "
	    "K=$(ldns-keygen -k -a RSASHA256 -b 2048 example) && "
	    "D='-i 20240101000000 -e 20350101000000' && "
	    "ldns-signzone $D -f ../ldns-nsec.signed ../example.zone $Z $K && "
	    "ldns-signzone -n -s '' -t 0 $D -f ../ldns-nsec3.signed ../example.zone $Z $K && "
	    "ldns-signzone -n -p -s abcdef -t 3 $D -f ../ldns-optout.signed ../example.zone $Z "
	    "$K && "
	    "grep -v -e '^\\*\\.wild' -e 'mail host' ../example.zone > ../example2.zone && "
	    "printf 'added\\tIN A 192.0.2.20\\nmail\\tIN TXT \"mail host 2\"\\n"
	    "sec2\\tIN NS ns.example.net.\\n"
	    "\\tIN DS 1 13 2 2bb183af5f22588179a53b0a98631fad1a292118a8ec3a8ceb1e3e0614b93c4f\\n"
	    "ins2\\tIN NS ns.example.net.\\n' >> ../example2.zone && "
	    "ldns-signzone $D -f ../ldns-nsec-v2.signed ../example2.zone $Z $K && "
	    "ldns-signzone -n -s '' -t 0 $D -f ../ldns-nsec3-v2.signed ../example2.zone $Z $K && "
	    "ldns-signzone -n -p -s abcdef -t 3 $D -f ../ldns-optout-v2.signed ../example2.zone "
	    "$Z $K && E=$(ldns-keygen -a ECDSAP256SHA256 example) && "
	    "ldns-signzone -A $D -f ../ldns-2alg.signed ../example.zone $Z $K $E");
	/* BIND: ECDSAP256SHA256 ZSK + KSK; NSEC, NSEC3 and NSEC3 opt-out */
	run("%s", "mkdir bind && cd bind && cp ../example.zone . && "
		  "dnssec-keygen -q -K . -a ECDSAP256SHA256 -n ZONE example >/dev/null && "
		  "dnssec-keygen -q -K . -a ECDSAP256SHA256 -f KSK -n ZONE example >/dev/null && "
		  "D='-q -S -K . -o example -s 20240101000000 -e 20350101000000 -O full' && "
		  "dnssec-signzone $D -f ../bind-nsec.signed example.zone >/dev/null && "
		  "dnssec-signzone $D -3 - -f ../bind-nsec3.signed example.zone >/dev/null && "
		  "dnssec-signzone $D -3 ab12 -H 2 -A -f ../bind-optout.signed example.zone "
		  ">/dev/null && cp example.zone example3.zone && "
		  "printf 'host3\\tIN A 192.0.2.30\\n' >> example3.zone && "
		  "dnssec-signzone $D -3 ab12 -H 2 -A -f ../bind-optout-v2.signed example3.zone "
		  ">/dev/null");
	/* Knot: kzonesign at NOW_2030 with ECDSAP256SHA256, NSEC and NSEC3 opt-out */
	for (int optout = 0; optout <= 1; optout++) {
		char cmd[1500];
		snprintf(cmd, sizeof(cmd),
			 "mkdir knot%d && cd knot%d && mkdir keys out && "
			 "printf 'database:\\n  storage: %%s\\n  kasp-db: %%s/keys\\n"
			 "policy:\\n  - id: p\\n    algorithm: ecdsap256sha256\\n"
			 "    nsec3: %s\\n    nsec3-iterations: 0\\n    nsec3-salt-length: 0\\n"
			 "    nsec3-opt-out: %s\\nzone:\\n  - domain: example.\\n"
			 "    file: %%s/../example.zone\\n    dnssec-signing: on\\n"
			 "    dnssec-policy: p\\n' \"$PWD\" \"$PWD\" \"$PWD\" > knot.conf && "
			 "kzonesign -c knot.conf -o out -t %llu example. >/dev/null 2>&1 && "
			 "mv out/example.zone ../knot-%s.signed",
			 optout, optout, optout ? "on" : "off", optout ? "on" : "off",
			 (unsigned long long)NOW_2030, optout ? "optout" : "nsec");
		run("%s", cmd);
	}
}

static void zones_remove(void)
{
	ts_rmtree(tmp);
}

static dns_zone_t *zone_load(const char *file)
{
	char path[600];
	tandem_diag_t *diag = NULL;
	dns_zone_t *z = NULL;
	snprintf(path, sizeof(path), "%s/%s", tmp, file);
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	int rc = dns_zone_load(path, &(dns_load_opts_t){.origin = "example.", .keep_dnssec = true},
			       diag, &z);
	ck_assert_msg(rc == TANDEM_OK, "%s: load failed: %s", file,
		      tandem_diag_msg(diag, 0) ? tandem_diag_msg(diag, 0) : "?");
	tandem_diag_free(diag);
	return z;
}

/* Copies file to out, dropping owner's records of type (and the RRSIGs over them). */
static void zone_drop(const char *file, const char *out, const char *owner, const char *type)
{
	char in_path[600], out_path[600], line[8192], a[64], b[64];
	snprintf(in_path, sizeof(in_path), "%s/%s", tmp, file);
	snprintf(out_path, sizeof(out_path), "%s/%s", tmp, out);
	snprintf(a, sizeof(a), "\t%s\t", type);
	snprintf(b, sizeof(b), "\tRRSIG\t%s ", type);
	FILE *in = fopen(in_path, "r"), *o = fopen(out_path, "w");
	ck_assert(in != NULL && o != NULL);
	size_t dropped = 0;
	size_t olen = strlen(owner);
	while (fgets(line, sizeof(line), in) != NULL) {
		if (strncmp(line, owner, olen) == 0 && line[olen] == '\t' &&
		    (strstr(line, a) != NULL || strstr(line, b) != NULL)) {
			dropped++;
			continue;
		}
		fputs(line, o);
	}
	fclose(in);
	fclose(o);
	ck_assert_msg(dropped > 0, "nothing to drop for %s %s", owner, type);
}

static bool diag_has(const tandem_diag_t *diag, const char *text)
{
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		if (strstr(tandem_diag_msg(diag, i), text) != NULL) {
			return true;
		}
	}
	return false;
}

static void diag_print(const tandem_diag_t *diag)
{
	for (size_t i = 0; i < tandem_diag_kept(diag) && i < 20; i++) {
		fprintf(stderr, "  %s\n", tandem_diag_msg(diag, i));
	}
}

/* Runs the gate; returns its code and leaves the messages in *diag. */
static int gate(dns_zone_t *z, uint64_t now, unsigned threads, const uint8_t **ds, size_t ds_count,
		tandem_diag_t **diag, verify_stats_t *stats)
{
	ck_assert_int_eq(tandem_diag_new(diag), TANDEM_OK);
	verify_conf_t conf = {.now = now, .ds = ds, .ds_count = ds_count, .threads = threads};
	return verify_zone(z, &conf, *diag, stats);
}

static dns_rrset_t *rrset_at(dns_zone_t *z, const char *name, uint16_t type)
{
	uint8_t wire[DNS_NAME_MAXLEN];
	size_t len;
	ck_assert_int_eq(dns_name_from_str(name, NULL, wire, &len), TANDEM_OK);
	dns_node_t *node = dns_zone_find(z, wire);
	ck_assert_msg(node != NULL, "no node %s", name);
	dns_rrset_t *rs = dns_node_rrset(node, type);
	ck_assert_msg(rs != NULL, "no RRset %s/%u", name, type);
	return rs;
}

/* Expects refusal with a message containing text. */
static void expect_refused(dns_zone_t *z, uint64_t now, const uint8_t **ds, size_t ds_count,
			   const char *text)
{
	tandem_diag_t *diag = NULL;
	verify_stats_t st;
	int rc = gate(z, now, 2, ds, ds_count, &diag, &st);
	if (!diag_has(diag, text)) {
		diag_print(diag);
	}
	ck_assert_int_eq(rc, TANDEM_VERIFY_EFAIL);
	ck_assert_msg(diag_has(diag, text), "no message with \"%s\"", text);
	ck_assert_uint_eq(st.failures, tandem_diag_count(diag));
	tandem_diag_free(diag);
}

static const char *const signed_files[] = {
    "ldns-nsec.signed", "ldns-nsec3.signed",  "ldns-optout.signed",
    "bind-nsec.signed", "bind-nsec3.signed",  "bind-optout.signed",
    "knot-nsec.signed", "knot-optout.signed", "ldns-2alg.signed",
};

START_TEST(test_accepts_peer_zones)
{
	const char *file = signed_files[_i];
	dns_zone_t *z = zone_load(file);
	static const unsigned thread_counts[] = {0, 1, 3, 64};
	for (size_t t = 0; t < sizeof(thread_counts) / sizeof(thread_counts[0]); t++) {
		unsigned threads = thread_counts[t];
		tandem_diag_t *diag = NULL;
		verify_stats_t st = {0};
		int rc = gate(z, NOW_2030, threads, NULL, 0, &diag, &st);
		if (rc != TANDEM_OK) {
			fprintf(stderr, "%s (%u threads):\n", file, threads);
			diag_print(diag);
		}
		ck_assert_int_eq(rc, TANDEM_OK);
		ck_assert_uint_eq(tandem_diag_count(diag), 0);
		ck_assert_uint_eq(st.failures, 0);
		ck_assert_uint_ge(st.signatures, st.rrsets);
		ck_assert_uint_gt(st.rrsets, 10);
		ck_assert_uint_gt(st.denial_records, 5);
		tandem_diag_free(diag);
	}
	dns_zone_free(z);
}
END_TEST

START_TEST(test_rrsig_byte_flipped)
{
	dns_zone_t *z = zone_load(signed_files[_i]);
	dns_rrset_t *rs = rrset_at(z, "www.example.", DNS_TYPE_A);
	ck_assert_uint_ge(rs->sig_count, 1);
	size_t len = 2 + dns_rdata_len(rs->sigs[0]);
	uint8_t *copy = malloc(len);
	memcpy(copy, rs->sigs[0], len);
	copy[len - 7] ^= 0x01;
	const uint8_t *saved = rs->sigs[0];
	rs->sigs[0] = copy;
	expect_refused(z, NOW_2030, NULL, 0, "www.example. A: RRSIG by key ");
	expect_refused(z, NOW_2030, NULL, 0, "does not verify");
	rs->sigs[0] = saved;
	free(copy);
	dns_zone_free(z);
}
END_TEST

static void hashed_owner(const char *name, const uint8_t *salt, size_t salt_len, unsigned iter,
			 char *out)
{
	uint8_t wire[DNS_NAME_MAXLEN], h[20];
	size_t len;
	ck_assert_int_eq(dns_name_from_str(name, NULL, wire, &len), TANDEM_OK);
	ck_assert_int_eq(crypto_nsec3_hash(wire, len, salt, salt_len, (uint16_t)iter, h),
			 TANDEM_OK);
	size_t n = crypto_base32hex(h, 20, out);
	strcpy(out + n, ".example.");
}

START_TEST(test_nsec3_removed)
{
	char owner[64];
	/* a name with data, then an empty non-terminal */
	hashed_owner("www.example.", NULL, 0, 0, owner);
	zone_drop("ldns-nsec3.signed", "t1.signed", owner, "NSEC3");
	dns_zone_t *z = zone_load("t1.signed");
	expect_refused(z, NOW_2030, NULL, 0, "www.example. NSEC3: no NSEC3 record");
	expect_refused(z, NOW_2030, NULL, 0, "NSEC3: next hashed owner");
	dns_zone_free(z);

	hashed_owner("b.ent.example.", NULL, 0, 0, owner);
	zone_drop("ldns-nsec3.signed", "t2.signed", owner, "NSEC3");
	z = zone_load("t2.signed");
	expect_refused(z, NOW_2030, NULL, 0, "b.ent.example. NSEC3: no NSEC3 record");
	dns_zone_free(z);

	/* opt-out: the secure delegation still needs its NSEC3 */
	const uint8_t salt[] = {0xab, 0xcd, 0xef};
	hashed_owner("secure.example.", salt, sizeof(salt), 3, owner);
	zone_drop("ldns-optout.signed", "t3.signed", owner, "NSEC3");
	z = zone_load("t3.signed");
	expect_refused(z, NOW_2030, NULL, 0, "secure.example. NSEC3: no NSEC3 record");
	dns_zone_free(z);
}
END_TEST

/* An NSEC3 record for glue is refused (and breaks the chain around it). */
START_TEST(test_nsec3_for_glue)
{
	char owner[64], in_path[600], out_path[600], line[8192];
	hashed_owner("ns.secure.example.", NULL, 0, 0, owner);
	snprintf(in_path, sizeof(in_path), "%s/ldns-nsec3.signed", tmp);
	snprintf(out_path, sizeof(out_path), "%s/t5.signed", tmp);
	FILE *in = fopen(in_path, "r"), *o = fopen(out_path, "w");
	ck_assert(in != NULL && o != NULL);
	while (fgets(line, sizeof(line), in) != NULL) {
		fputs(line, o);
	}
	fprintf(o, "%s\t3600\tIN\tNSEC3\t1 0 0 - %.32s A RRSIG\n", owner, owner);
	fclose(in);
	fclose(o);
	dns_zone_t *z = zone_load("t5.signed");
	char expect[160];
	snprintf(expect, sizeof(expect), "%s NSEC3: matches no authoritative name", owner);
	expect_refused(z, NOW_2030, NULL, 0, expect);
	snprintf(expect, sizeof(expect), "%s NSEC3: no RRSIG", owner);
	expect_refused(z, NOW_2030, NULL, 0, expect);
	dns_zone_free(z);
}
END_TEST

START_TEST(test_bad_arguments)
{
	verify_conf_t conf = {.now = NOW_2030, .ds_count = 1};
	dns_zone_t *z = zone_load("ldns-nsec.signed");
	ck_assert_int_eq(verify_zone(NULL, &conf, NULL, NULL), TANDEM_EINVAL);
	ck_assert_int_eq(verify_zone(z, NULL, NULL, NULL), TANDEM_EINVAL);
	ck_assert_int_eq(verify_zone(z, &conf, NULL, NULL),
			 TANDEM_EINVAL); /* ds_count without ds */
	conf.ds_count = 0;
	ck_assert_int_eq(verify_zone(z, &conf, NULL, NULL),
			 TANDEM_OK); /* diag and stats optional */
	dns_zone_free(z);
}
END_TEST

START_TEST(test_nsec_removed)
{
	zone_drop("ldns-nsec.signed", "t4.signed", "www.example.", "NSEC");
	dns_zone_t *z = zone_load("t4.signed");
	expect_refused(z, NOW_2030, NULL, 0, "www.example. NSEC: no NSEC record");
	dns_zone_free(z);
}
END_TEST

START_TEST(test_bitmap_changed)
{
	dns_zone_t *z = zone_load("ldns-nsec.signed");
	dns_rrset_t *rs = rrset_at(z, "www.example.", DNS_TYPE_NSEC);
	size_t len = 2 + dns_rdata_len(rs->rdata[0]);
	uint8_t *copy = malloc(len);
	memcpy(copy, rs->rdata[0], len);
	/* next name "example." is 9 bytes; then window 0, length, bits: add MX (15) */
	ck_assert_uint_ge(len, 2 + 9 + 4);
	copy[2 + 9 + 2 + 1] |= 0x01;
	const uint8_t *saved = rs->rdata[0];
	rs->rdata[0] = copy;
	expect_refused(z, NOW_2030, NULL, 0, "www.example. NSEC: type bitmap {A MX RRSIG NSEC}");
	rs->rdata[0] = saved;
	free(copy);
	dns_zone_free(z);

	/* the same in an NSEC3 zone, at the hashed owner of the wildcard's parent (an ENT) */
	z = zone_load("bind-nsec3.signed");
	char owner[64];
	uint8_t wire[DNS_NAME_MAXLEN];
	size_t wlen;
	hashed_owner("wild.example.", NULL, 0, 0, owner);
	ck_assert_int_eq(dns_name_from_str(owner, NULL, wire, &wlen), TANDEM_OK);
	size_t n3 = 0;
	dns_node_t *nodes = dns_zone_nsec3_nodes(z, &n3);
	dns_rrset_t *found = NULL;
	for (size_t i = 0; i < n3; i++) {
		if (nodes[i].name_len == wlen && memcmp(nodes[i].name, wire, wlen) == 0) {
			found = dns_node_rrset(&nodes[i], DNS_TYPE_NSEC3);
		}
	}
	ck_assert_ptr_nonnull(found);
	len = 2 + dns_rdata_len(found->rdata[0]);
	copy = malloc(len + 3);
	memcpy(copy, found->rdata[0], len);
	/* an ENT has an empty bitmap; give it "A" */
	copy[len] = 0;
	copy[len + 1] = 1;
	copy[len + 2] = 0x40;
	copy[0] = (uint8_t)((len + 1) >> 8);
	copy[1] = (uint8_t)(len + 1);
	saved = found->rdata[0];
	found->rdata[0] = copy;
	char expect[128];
	snprintf(expect, sizeof(expect), "%s NSEC3: type bitmap {A} does not match", owner);
	expect_refused(z, NOW_2030, NULL, 0, expect);
	found->rdata[0] = saved;
	free(copy);
	dns_zone_free(z);
}
END_TEST

START_TEST(test_validity_window)
{
	dns_zone_t *z = zone_load(signed_files[_i]);
	bool knot = strncmp(signed_files[_i], "knot", 4) == 0; /* Knot picks its own window */
	expect_refused(z, NOW_2040, NULL, 0, "www.example. A: RRSIG by key ");
	expect_refused(z, NOW_2040, NULL, 0,
		       knot ? "expired at 20300115000000" : "expired at 20350101000000");
	expect_refused(z, NOW_2020, NULL, 0,
		       knot ? "is not valid before 2029" : "is not valid before 20240101000000");
	dns_zone_free(z);
}
END_TEST

START_TEST(test_trust_anchor)
{
	dns_zone_t *z = zone_load(signed_files[_i]);
	dns_rrset_t *keys = rrset_at(z, "example.", DNS_TYPE_DNSKEY);
	const uint8_t apex[] = {7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
	uint8_t ds[64], framed[66];
	size_t ds_len = 0;
	for (size_t i = 0; i < keys->count; i++) {
		if (dns_rdata_data(keys->rdata[i])[1] == 1) { /* SEP */
			ck_assert_int_eq(crypto_ds_from_dnskey(
					     apex, sizeof(apex), dns_rdata_data(keys->rdata[i]),
					     dns_rdata_len(keys->rdata[i]), 2, ds, &ds_len),
					 TANDEM_OK);
		}
	}
	ck_assert_uint_eq(ds_len, 36);
	const uint8_t *anchor[] = {ds};
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(gate(z, NOW_2030, 2, anchor, 1, &diag, NULL), TANDEM_OK);
	tandem_diag_free(diag);
	/* the same DS with the dns module's length prefix */
	framed[0] = 0;
	framed[1] = (uint8_t)ds_len;
	memcpy(framed + 2, ds, ds_len);
	anchor[0] = framed;
	ck_assert_int_eq(gate(z, NOW_2030, 2, anchor, 1, &diag, NULL), TANDEM_OK);
	tandem_diag_free(diag);
	/* one digest byte off: no key matches */
	ds[20] ^= 0xff;
	anchor[0] = ds;
	expect_refused(z, NOW_2030, anchor, 1, "example. DNSKEY: no key matches a DS");
	dns_zone_free(z);
}
END_TEST

START_TEST(test_rrsig_on_glue)
{
	dns_zone_t *z = zone_load(signed_files[_i]);
	dns_rrset_t *www = rrset_at(z, "www.example.", DNS_TYPE_A);
	dns_rrset_t *glue = rrset_at(z, "ns.secure.example.", DNS_TYPE_A);
	const uint8_t *sigs[] = {www->sigs[0]};
	glue->sigs = sigs;
	glue->sig_count = 1;
	expect_refused(z, NOW_2030, NULL, 0, "ns.secure.example. A: RRSIG on glue");
	glue->sig_count = 0;
	glue->sigs = NULL;
	/* and on the NS RRset of a delegation */
	dns_rrset_t *ns = rrset_at(z, "insecure.example.", DNS_TYPE_NS);
	ns->sigs = sigs;
	ns->sig_count = 1;
	expect_refused(z, NOW_2030, NULL, 0, "insecure.example. NS: RRSIG on delegation data");
	ns->sig_count = 0;
	ns->sigs = NULL;
	/* and on data occluded by a delegation */
	dns_rrset_t *occluded = rrset_at(z, "txt.insecure.example.", DNS_TYPE_TXT);
	occluded->sigs = sigs;
	occluded->sig_count = 1;
	expect_refused(z, NOW_2030, NULL, 0, "txt.insecure.example. TXT: RRSIG on occluded data");
	occluded->sig_count = 0;
	occluded->sigs = NULL;
	dns_zone_free(z);
}
END_TEST

START_TEST(test_unsigned_rrset)
{
	dns_zone_t *z = zone_load(signed_files[_i]);
	dns_rrset_t *mx = rrset_at(z, "example.", DNS_TYPE_MX);
	mx->sig_count = 0;
	expect_refused(z, NOW_2030, NULL, 0, "example. MX: no RRSIG");
	dns_zone_free(z);
}
END_TEST

/* RFC 4035 2.2: with two algorithms in the DNSKEY RRset, each RRset needs both. */
START_TEST(test_missing_algorithm)
{
	dns_zone_t *z = zone_load("ldns-2alg.signed");
	dns_rrset_t *rs = rrset_at(z, "www.example.", DNS_TYPE_A);
	ck_assert_uint_eq(rs->sig_count, 2);
	/* keep only the RSA signature */
	const uint8_t *keep[1] = {NULL};
	for (size_t i = 0; i < rs->sig_count; i++) {
		if (dns_rdata_data(rs->sigs[i])[2] == 8) {
			keep[0] = rs->sigs[i];
		}
	}
	ck_assert_ptr_nonnull(keep[0]);
	const uint8_t **saved = rs->sigs;
	rs->sigs = keep;
	rs->sig_count = 1;
	expect_refused(z, NOW_2030, NULL, 0, "www.example. A: no RRSIG with algorithm 13");
	rs->sigs = saved;
	rs->sig_count = 2;
	dns_zone_free(z);
}
END_TEST

/* ---- the incremental gate: the previous version (gated) and the next one ---- */

/* Version 1 and version 2 (a name and two delegations added, a TXT changed, the wildcard and
 * its ENT gone), signed by ldns with the same keys and times. */
static const char *const incr_files[][2] = {
    {"ldns-nsec.signed", "ldns-nsec-v2.signed"},
    {"ldns-nsec3.signed", "ldns-nsec3-v2.signed"},
    {"ldns-optout.signed", "ldns-optout-v2.signed"},
};

static int gate_incr(dns_zone_t *z, dns_zone_t *prev, uint64_t now, const uint8_t **ds,
		     size_t ds_count, tandem_diag_t **diag, verify_stats_t *stats)
{
	ck_assert_int_eq(tandem_diag_new(diag), TANDEM_OK);
	verify_conf_t conf = {
	    .now = now, .ds = ds, .ds_count = ds_count, .threads = 2, .previous = prev};
	return verify_zone(z, &conf, *diag, stats);
}

static void expect_refused_incr(dns_zone_t *z, dns_zone_t *prev, const char *text)
{
	tandem_diag_t *diag = NULL;
	verify_stats_t st = {0};
	int rc = gate_incr(z, prev, NOW_2030, NULL, 0, &diag, &st);
	if (!diag_has(diag, text)) {
		diag_print(diag);
	}
	ck_assert_int_eq(rc, TANDEM_VERIFY_EFAIL);
	ck_assert(st.incremental);
	ck_assert_msg(diag_has(diag, text), "no message with \"%s\"", text);
	tandem_diag_free(diag);
}

/* The NSEC3 RRset at the hashed owner of name in z. */
static dns_rrset_t *nsec3_of(dns_zone_t *z, const char *name, const uint8_t *salt, size_t salt_len,
			     unsigned iter, char *owner)
{
	uint8_t wire[DNS_NAME_MAXLEN];
	size_t wlen, n3 = 0;
	hashed_owner(name, salt, salt_len, iter, owner);
	ck_assert_int_eq(dns_name_from_str(owner, NULL, wire, &wlen), TANDEM_OK);
	dns_node_t *nodes = dns_zone_nsec3_nodes(z, &n3);
	for (size_t i = 0; i < n3; i++) {
		if (nodes[i].name_len == wlen && memcmp(nodes[i].name, wire, wlen) == 0) {
			return dns_node_rrset(&nodes[i], DNS_TYPE_NSEC3);
		}
	}
	ck_assert_msg(false, "no NSEC3 record for %s", name);
	return NULL;
}

/* A copy of an RDATA with one byte XORed (freed by the caller). */
static uint8_t *rdata_flipped(const uint8_t *rdata, size_t at, uint8_t mask)
{
	size_t len = 2 + dns_rdata_len(rdata);
	ck_assert_uint_lt(at, len);
	uint8_t *copy = malloc(len);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, rdata, len);
	copy[at] ^= mask;
	return copy;
}

START_TEST(test_incr_accepts_and_verifies_less)
{
	dns_zone_t *prev = zone_load(incr_files[_i][0]);
	dns_zone_t *z = zone_load(incr_files[_i][1]);
	tandem_diag_t *diag = NULL;
	verify_stats_t full = {0}, incr = {0}, same = {0};
	ck_assert_int_eq(gate(z, NOW_2030, 2, NULL, 0, &diag, &full), TANDEM_OK);
	tandem_diag_free(diag);
	ck_assert(!full.incremental);
	ck_assert_uint_eq(full.verified, full.signatures);
	int rc = gate_incr(z, prev, NOW_2030, NULL, 0, &diag, &incr);
	if (rc != TANDEM_OK) {
		diag_print(diag);
	}
	ck_assert_int_eq(rc, TANDEM_OK);
	tandem_diag_free(diag);
	ck_assert(incr.incremental);
	ck_assert_uint_eq(incr.signatures, full.signatures); /* every one is looked at */
	ck_assert_uint_lt(incr.verified, full.verified);
	/* added, ins2, sec2; wild and *.wild gone (mail's TXT changed: same types) */
	ck_assert_uint_eq(incr.changed, 5);
	/* no change at all: only the apex is verified */
	dns_zone_t *again = zone_load(incr_files[_i][1]);
	ck_assert_int_eq(gate_incr(again, z, NOW_2030, NULL, 0, &diag, &same), TANDEM_OK);
	tandem_diag_free(diag);
	size_t apex_sigs = 0;
	dns_node_t *apex = dns_zone_apex(again);
	for (size_t r = 0; r < apex->rrset_count; r++) {
		apex_sigs += apex->rrsets[r].sig_count;
	}
	ck_assert(same.incremental);
	ck_assert_uint_eq(same.changed, 0);
	ck_assert_uint_eq(same.verified, apex_sigs);
	ck_assert_uint_lt(same.verified * 3, full.verified);
	/* and the other way round: the names go again */
	ck_assert_int_eq(gate_incr(prev, z, NOW_2030, NULL, 0, &diag, &incr), TANDEM_OK);
	tandem_diag_free(diag);
	dns_zone_free(again);
	dns_zone_free(z);
	dns_zone_free(prev);
}
END_TEST

/* A broken signature on a changed RRset, and on an unchanged one whose RRSIG is new. */
START_TEST(test_incr_broken_signature)
{
	dns_zone_t *prev = zone_load(incr_files[_i][0]);
	dns_zone_t *z = zone_load(incr_files[_i][1]);
	const char *owners[] = {"added.example.", "www.example."};
	for (size_t k = 0; k < 2; k++) {
		dns_rrset_t *rs = rrset_at(z, owners[k], DNS_TYPE_A);
		uint8_t *copy = rdata_flipped(rs->sigs[0], 2u + dns_rdata_len(rs->sigs[0]) - 7, 1);
		const uint8_t *saved = rs->sigs[0];
		rs->sigs[0] = copy;
		expect_refused_incr(z, prev, "does not verify");
		rs->sigs[0] = saved;
		free(copy);
	}
	/* a reused signature still expires */
	tandem_diag_t *diag = NULL;
	verify_stats_t st = {0};
	ck_assert_int_eq(gate_incr(z, prev, NOW_2040, NULL, 0, &diag, &st), TANDEM_VERIFY_EFAIL);
	ck_assert(diag_has(diag, "www.example. A: RRSIG by key "));
	ck_assert(diag_has(diag, "expired at 20350101000000"));
	tandem_diag_free(diag);
	dns_zone_free(z);
	dns_zone_free(prev);
}
END_TEST

/* Nodes the same as the previous version's are passed over, but not their signatures' time:
 * with nothing changed, a later gate refuses expired ones and an earlier one those not yet
 * valid; and an RRSIG by a key the DNSKEY RRset lacks (previous "passed" with it) is caught
 * from the pairing's key summary. */
START_TEST(test_incr_same_nodes)
{
	dns_zone_t *prev = zone_load(incr_files[_i][1]);
	dns_zone_t *z = zone_load(incr_files[_i][1]);
	tandem_diag_t *diag = NULL;
	verify_stats_t st = {0};
	ck_assert_int_eq(gate_incr(z, prev, NOW_2030, NULL, 0, &diag, &st), TANDEM_OK);
	ck_assert(st.incremental);
	tandem_diag_free(diag);
	ck_assert_int_eq(gate_incr(z, prev, NOW_2040, NULL, 0, &diag, &st), TANDEM_VERIFY_EFAIL);
	ck_assert(st.incremental);
	ck_assert(diag_has(diag, "www.example. A: RRSIG by key "));
	ck_assert(diag_has(diag, "expired at 20350101000000"));
	tandem_diag_free(diag);
	ck_assert_int_eq(gate_incr(z, prev, NOW_2020, NULL, 0, &diag, &st), TANDEM_VERIFY_EFAIL);
	ck_assert(diag_has(diag, "www.example. A: RRSIG by key "));
	ck_assert(diag_has(diag, "is not valid before"));
	tandem_diag_free(diag);
	/* the same RRSIG (same pointers) in both versions, made by an unknown key */
	dns_rrset_t *rs = rrset_at(z, "www.example.", DNS_TYPE_A);
	uint8_t *copy = rdata_flipped(rs->sigs[0], 2 + 16, 0x5a); /* the key tag */
	const uint8_t *saved = rs->sigs[0];
	rs->sigs[0] = copy;
	ck_assert_int_eq(gate_incr(z, z, NOW_2030, NULL, 0, &diag, &st), TANDEM_VERIFY_EFAIL);
	if (!diag_has(diag, "matches no usable key")) {
		diag_print(diag);
	}
	ck_assert(diag_has(diag, "www.example. A: RRSIG by key "));
	ck_assert(diag_has(diag, "matches no usable key"));
	tandem_diag_free(diag);
	rs->sigs[0] = saved;
	free(copy);
	dns_zone_free(z);
	dns_zone_free(prev);
}
END_TEST

/* The DNSKEY RRset against a trust anchor that does not match: refused incrementally too. */
START_TEST(test_incr_trust_anchor)
{
	dns_zone_t *prev = zone_load(incr_files[_i][0]);
	dns_zone_t *z = zone_load(incr_files[_i][1]);
	dns_rrset_t *keys = rrset_at(z, "example.", DNS_TYPE_DNSKEY);
	const uint8_t apex[] = {7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
	uint8_t ds[64];
	size_t ds_len = 0;
	for (size_t i = 0; i < keys->count; i++) {
		if (dns_rdata_data(keys->rdata[i])[1] == 1) { /* SEP */
			ck_assert_int_eq(crypto_ds_from_dnskey(
					     apex, sizeof(apex), dns_rdata_data(keys->rdata[i]),
					     dns_rdata_len(keys->rdata[i]), 2, ds, &ds_len),
					 TANDEM_OK);
		}
	}
	const uint8_t *anchor[] = {ds};
	tandem_diag_t *diag = NULL;
	verify_stats_t st = {0};
	ck_assert_int_eq(gate_incr(z, prev, NOW_2030, anchor, 1, &diag, &st), TANDEM_OK);
	ck_assert(st.incremental);
	tandem_diag_free(diag);
	ds[20] ^= 0xff;
	ck_assert_int_eq(gate_incr(z, prev, NOW_2030, anchor, 1, &diag, &st), TANDEM_VERIFY_EFAIL);
	ck_assert(diag_has(diag, "example. DNSKEY: no key matches a DS"));
	tandem_diag_free(diag);
	dns_zone_free(z);
	dns_zone_free(prev);
}
END_TEST

/* NSEC3 next to a changed name: a broken link, a wrong bitmap, a missing record; an unchanged
 * name's record changed; a stale record of a removed name. */
START_TEST(test_incr_nsec3_chain)
{
	const uint8_t salt[] = {0xab, 0xcd, 0xef};
	bool optout = _i == 1;
	const uint8_t *sp = optout ? salt : NULL;
	size_t sl = optout ? sizeof(salt) : 0;
	unsigned it = optout ? 3 : 0;
	dns_zone_t *prev = zone_load(incr_files[1 + _i][0]);
	dns_zone_t *z = zone_load(incr_files[1 + _i][1]);
	char owner[64], expect[160];
	size_t next_at = 2 + 5 + sl + 1; /* the first byte of the next hashed owner */

	/* the added name's record links to the wrong next owner */
	dns_rrset_t *rs = nsec3_of(z, "added.example.", sp, sl, it, owner);
	uint8_t *copy = rdata_flipped(rs->rdata[0], next_at, 0x10);
	const uint8_t *saved = rs->rdata[0];
	rs->rdata[0] = copy;
	snprintf(expect, sizeof(expect), "%s NSEC3: next hashed owner", owner);
	expect_refused_incr(z, prev, expect);
	rs->rdata[0] = saved;
	free(copy);

	/* the added name's bitmap: A RRSIG, plus MX */
	size_t len = 2 + dns_rdata_len(rs->rdata[0]);
	copy = rdata_flipped(rs->rdata[0], len - 1, 0);
	ck_assert_uint_eq(copy[next_at + 20], 0); /* window 0 */
	copy[next_at + 22 + 1] |= 0x01;           /* MX (15) */
	rs->rdata[0] = copy;
	snprintf(expect, sizeof(expect), "%s NSEC3: type bitmap {A MX RRSIG}", owner);
	expect_refused_incr(z, prev, expect);
	rs->rdata[0] = saved;
	free(copy);

	/* an unchanged name's record (www) with another bitmap: no changed name explains it */
	dns_rrset_t *www = nsec3_of(z, "www.example.", sp, sl, it, owner);
	len = 2 + dns_rdata_len(www->rdata[0]);
	copy = rdata_flipped(www->rdata[0], next_at + 22 + 1, 0x01);
	saved = www->rdata[0];
	www->rdata[0] = copy;
	snprintf(expect, sizeof(expect),
		 "%s NSEC3: differs from the previous version's, but no changed name", owner);
	expect_refused_incr(z, prev, expect);
	www->rdata[0] = saved;
	free(copy);

	/* the secure delegation added has no record */
	dns_zone_free(z);
	const char *v2 = incr_files[1 + _i][1], *v1 = incr_files[1 + _i][0];
	hashed_owner("sec2.example.", sp, sl, it, owner);
	zone_drop(v2, "i1.signed", owner, "NSEC3");
	z = zone_load("i1.signed");
	expect_refused_incr(z, prev, "sec2.example. NSEC3: no NSEC3 record");
	dns_zone_free(z);

	/* an unchanged name's record gone: the chain breaks there */
	hashed_owner("www.example.", sp, sl, it, owner);
	zone_drop(v1, "i2.signed", owner, "NSEC3");
	z = zone_load("i2.signed");
	snprintf(expect, sizeof(expect), "NSEC3: next hashed owner %.32s", owner);
	expect_refused_incr(z, prev, expect);
	/* ... and relinked around it: the record is gone, but no name explains it */
	uint8_t gone[20];
	crypto_nsec3_hash((const uint8_t *)"\003www\007example", 13, sp, sl, (uint16_t)it, gone);
	size_t n3 = 0;
	dns_node_t *nodes = dns_zone_nsec3_nodes(z, &n3);
	dns_rrset_t *before = NULL;
	for (size_t k = 0; k < n3 && before == NULL; k++) {
		rs = dns_node_rrset(&nodes[k], DNS_TYPE_NSEC3);
		if (memcmp(dns_rdata_data(rs->rdata[0]) + 5 + sl + 1, gone, 20) == 0) {
			before = rs;
		}
	}
	ck_assert_ptr_nonnull(before);
	dns_rrset_t *pw = nsec3_of(prev, "www.example.", sp, sl, it, owner);
	copy = rdata_flipped(before->rdata[0], 0, 0);
	memcpy(copy + next_at, dns_rdata_data(pw->rdata[0]) + 5 + sl + 1, 20);
	saved = before->rdata[0];
	before->rdata[0] = copy;
	snprintf(expect, sizeof(expect),
		 "%s NSEC3: the record is gone, but no name with this hash is gone or changed",
		 owner);
	expect_refused_incr(z, prev, expect);
	before->rdata[0] = saved;
	free(copy);
	dns_zone_free(z);

	/* the other way: version 1 after version 2 */
	dns_zone_t *p2 = zone_load(v2);
	z = zone_load(v1);
	tandem_diag_t *diag = NULL;
	verify_stats_t st = {0};
	ck_assert_int_eq(gate_incr(z, p2, NOW_2030, NULL, 0, &diag, &st), TANDEM_OK);
	ck_assert(st.incremental);
	tandem_diag_free(diag);
	dns_zone_free(z);
	dns_zone_free(p2);
	dns_zone_free(prev);
}
END_TEST

/* Opt-out: an unchanged insecure delegation without a record (x.far.example., under an ENT
 * without one) lies, in version 2 (host3.example. added, signed by BIND with opt-out), in the
 * span of the new name's record; that record loses its opt-out flag. The whole gate refuses
 * the zone; so must the gate given the previous version, which hashes no unchanged name: it
 * checks the whole zone then. */
START_TEST(test_incr_optout_span)
{
	const uint8_t salt[] = {0xab, 0x12};
	dns_zone_t *prev = zone_load("bind-optout.signed");
	dns_zone_t *z = zone_load("bind-optout-v2.signed");
	tandem_diag_t *diag = NULL;
	verify_stats_t st = {0};
	/* as signed: the pair is checked incrementally */
	int rc = gate_incr(z, prev, NOW_2030, NULL, 0, &diag, &st);
	if (rc != TANDEM_OK) {
		diag_print(diag);
	}
	ck_assert_int_eq(rc, TANDEM_OK);
	ck_assert(st.incremental);
	ck_assert_uint_eq(st.changed, 1);
	tandem_diag_free(diag);
	char owner[64];
	dns_rrset_t *rs = nsec3_of(z, "host3.example.", salt, sizeof(salt), 2, owner);
	ck_assert(dns_rdata_data(rs->rdata[0])[1] & 0x01);
	uint8_t *copy = rdata_flipped(rs->rdata[0], 2 + 1, 0x01); /* the flags */
	const uint8_t *saved = rs->rdata[0];
	rs->rdata[0] = copy;
	const char *want = "x.far.example. NSEC3: no NSEC3 record for this name";
	ck_assert_int_eq(gate(z, NOW_2030, 2, NULL, 0, &diag, &st), TANDEM_VERIFY_EFAIL);
	ck_assert_msg(diag_has(diag, want), "the whole gate: no message with \"%s\"", want);
	tandem_diag_free(diag);
	ck_assert_int_eq(gate_incr(z, prev, NOW_2030, NULL, 0, &diag, &st), TANDEM_VERIFY_EFAIL);
	if (!diag_has(diag, want)) {
		diag_print(diag);
	}
	ck_assert_msg(diag_has(diag, want), "given the previous version: no message with \"%s\"",
		      want);
	ck_assert(!st.incremental);
	tandem_diag_free(diag);
	rs->rdata[0] = saved;
	free(copy);
	dns_zone_free(z);
	dns_zone_free(prev);
}
END_TEST

/* NSEC: the chain and bitmaps are checked whole; a changed name's wrong bitmap is refused. */
START_TEST(test_incr_nsec_bitmap)
{
	dns_zone_t *prev = zone_load(incr_files[0][0]);
	dns_zone_t *z = zone_load(incr_files[0][1]);
	dns_rrset_t *rs = rrset_at(z, "added.example.", DNS_TYPE_NSEC);
	size_t next_len = 2 + dns_name_len(dns_rdata_data(rs->rdata[0]), DNS_NAME_MAXLEN);
	uint8_t *copy = rdata_flipped(rs->rdata[0], next_len + 2 + 1, 0x01); /* MX */
	const uint8_t *saved = rs->rdata[0];
	rs->rdata[0] = copy;
	expect_refused_incr(z, prev, "added.example. NSEC: type bitmap {A MX RRSIG NSEC}");
	rs->rdata[0] = saved;
	free(copy);
	dns_zone_free(z);
	dns_zone_free(prev);
}
END_TEST

static Suite *verify_suite(void)
{
	Suite *s = suite_create("verify");
	TCase *tc = tcase_create("peers");
	size_t nfiles = sizeof(signed_files) / sizeof(signed_files[0]);
	tcase_add_unchecked_fixture(tc, zones_make, zones_remove);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_accepts_peer_zones, 0, (int)nfiles);
	tcase_add_loop_test(tc, test_rrsig_byte_flipped, 0, (int)nfiles);
	tcase_add_test(tc, test_nsec3_removed);
	tcase_add_test(tc, test_nsec_removed);
	tcase_add_test(tc, test_nsec3_for_glue);
	tcase_add_test(tc, test_bad_arguments);
	tcase_add_test(tc, test_bitmap_changed);
	tcase_add_loop_test(tc, test_validity_window, 0, (int)nfiles);
	tcase_add_loop_test(tc, test_trust_anchor, 0, (int)nfiles);
	tcase_add_loop_test(tc, test_rrsig_on_glue, 0, (int)nfiles);
	tcase_add_loop_test(tc, test_unsigned_rrset, 0, (int)nfiles);
	tcase_add_test(tc, test_missing_algorithm);
	size_t nincr = sizeof(incr_files) / sizeof(incr_files[0]);
	tcase_add_loop_test(tc, test_incr_accepts_and_verifies_less, 0, (int)nincr);
	tcase_add_loop_test(tc, test_incr_broken_signature, 0, (int)nincr);
	tcase_add_loop_test(tc, test_incr_trust_anchor, 0, (int)nincr);
	tcase_add_loop_test(tc, test_incr_same_nodes, 0, (int)nincr);
	tcase_add_loop_test(tc, test_incr_nsec3_chain, 0, 2);
	tcase_add_test(tc, test_incr_nsec_bitmap);
	tcase_add_test(tc, test_incr_optout_span);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(verify_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
