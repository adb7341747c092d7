/* Tests of zone differences (diff, apply) and the zone digest v1 (full and incremental). */
#include "dns_diff.h"
#include "dns_digest.h"
#include "dns_zone.h"
#include "tandem_diag.h"
#include "tandem_error.h"
#include "testsupport_dns.h"

#include <check.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a random zone model ---- */

#define NAMES  40
#define HASHES 24

typedef struct model {
	uint32_t serial;
	int present[NAMES]; /* 0 absent, 1 delegation, 2 host (A) */
	int ds[NAMES];      /* delegation: 0 no DS, else a DS variant */
	int glue[NAMES];    /* delegation: in-bailiwick NS with glue */
	int ttl[NAMES];     /* TTL variant */
	int sig[NAMES];     /* RRSIG variant */
	int ent[NAMES];     /* x.y.eK exists (y.eK an empty non-terminal) */
	int n3[HASHES];     /* 0 absent, else the NSEC3 record's variant */
	int n3sig[HASHES];  /* RRSIG variant of the NSEC3 record */
	int apexsig;
} model_t;

static uint32_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 33);
}

/* A base64 signature that differs with (a, b). */
static void sigtext(int a, int b, char *out, size_t size)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	size_t n = 0;
	for (int i = 0; i < 44 && n + 1 < size; i++) {
		out[n++] = al[(unsigned)(a * 31 + b * 17 + i * (a + 3)) % 62];
	}
	out[n] = '\0';
}

static void add(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	char line[512];
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ck_assert(n > 0 && (size_t)n < sizeof(line));
	if (*len + (size_t)n + 1 > *cap) {
		*cap = (*cap + (size_t)n + 1) * 2;
		*buf = realloc(*buf, *cap);
		ck_assert_ptr_nonnull(*buf);
	}
	memcpy(*buf + *len, line, (size_t)n + 1);
	*len += (size_t)n;
}

#define SIGF "%s 8 %d 3600 20270101000000 20261201000000 4711 example. %s\n"

/* The model as zone text (signed-looking: RRSIGs and NSEC3 records, loaded as is). */
static char *model_text(const model_t *m)
{
	char *b = NULL, s[64];
	size_t len = 0, cap = 0;
	add(&b, &len, &cap, "$ORIGIN example.\n$TTL 3600\n");
	add(&b, &len, &cap, "@ SOA ns1 hostmaster %u 7200 900 1209600 300\n", m->serial);
	sigtext((int)m->serial, 1, s, sizeof(s));
	add(&b, &len, &cap, "@ RRSIG " SIGF, "SOA", 1, s);
	add(&b, &len, &cap, "@ NS ns1\nns1 A 192.0.2.1\n");
	sigtext(m->apexsig, 2, s, sizeof(s));
	add(&b, &len, &cap, "@ RRSIG " SIGF, "NS", 1, s);
	for (int k = 0; k < NAMES; k++) {
		unsigned ttl = 3600u + (unsigned)m->ttl[k] * 60u;
		sigtext(k, m->sig[k], s, sizeof(s));
		if (m->present[k] == 1) {
			if (m->glue[k]) {
				add(&b, &len, &cap, "d%d %u NS ns.d%d\nns.d%d A 192.0.2.%d\n", k,
				    ttl, k, k, k + 10);
			} else {
				add(&b, &len, &cap, "d%d %u NS ns.other.net.\n", k, ttl);
			}
			if (m->ds[k]) {
				add(&b, &len, &cap, "d%d %u DS %d 8 2 %064d\n", k, ttl,
				    1000 + m->ds[k], m->ds[k] * 7 + k);
				add(&b, &len, &cap, "d%d %u RRSIG " SIGF, k, ttl, "DS", 2, s);
			}
		} else if (m->present[k] == 2) {
			add(&b, &len, &cap, "d%d %u A 192.0.2.%d\n", k, ttl, 100 + k % 100);
			add(&b, &len, &cap, "d%d %u RRSIG " SIGF, k, ttl, "A", 2, s);
		}
		if (m->ent[k]) {
			add(&b, &len, &cap, "x.y.e%d TXT \"ent %d\"\n", k, m->ent[k]);
			add(&b, &len, &cap, "x.y.e%d RRSIG " SIGF, k, "TXT", 4, s);
		}
	}
	for (int h = 0; h < HASHES; h++) {
		if (m->n3[h] == 0) {
			continue;
		}
		sigtext(h + 100, m->n3sig[h], s, sizeof(s));
		add(&b, &len, &cap, "%032d NSEC3 1 0 0 - %032d A RRSIG\n", h * 3,
		    (h * 3 + m->n3[h]) % 97);
		add(&b, &len, &cap, "%032d RRSIG " SIGF, h * 3, "NSEC3", 2, s);
	}
	return b;
}

static dns_zone_t *load_textz(const char *text)
{
	FILE *fp = fmemopen((void *)text, strlen(text), "r");
	ck_assert_ptr_nonnull(fp);
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_load_opts_t lo = {.origin = "example.", .keep_dnssec = true};
	dns_zone_t *z = NULL;
	int ret = dns_zone_load_stream(fp, "model", &lo, diag, &z);
	if (ret != TANDEM_OK) {
		for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
			fprintf(stderr, "%s\n", tandem_diag_msg(diag, i));
		}
	}
	ck_assert_int_eq(ret, TANDEM_OK);
	fclose(fp);
	tandem_diag_free(diag);
	return z;
}

static dns_zone_t *model_zone(const model_t *m)
{
	char *text = model_text(m);
	dns_zone_t *z = load_textz(text);
	free(text);
	return z;
}

static void model_mutate(model_t *m, uint64_t *s)
{
	int k = (int)(rnd(s) % NAMES), h = (int)(rnd(s) % HASHES);
	switch (rnd(s) % 9) {
	case 0: m->present[k] = (m->present[k] + 1 + (int)(rnd(s) % 2)) % 3; break;
	case 1: m->ds[k] = (int)(rnd(s) % 4); break;
	case 2: m->glue[k] = !m->glue[k]; break;
	case 3: m->ttl[k] = (int)(rnd(s) % 3); break;
	case 4: m->sig[k]++; break;
	case 5: m->ent[k] = m->ent[k] ? 0 : 1 + (int)(rnd(s) % 3); break;
	case 6: m->n3[h] = (int)(rnd(s) % 4); break;
	case 7: m->n3sig[h]++; break;
	default: m->apexsig++; break;
	}
}

static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every record of a zone as text lines, sorted: what two zones must share. */
static char *records(dns_zone_t *z)
{
	char *buf = ts_zone_text(z);
	size_t size = strlen(buf);
	size_t n = 0;
	for (size_t i = 0; i < size; i++) {
		n += buf[i] == '\n';
	}
	char **lines = calloc(n + 1, sizeof(*lines));
	size_t k = 0;
	for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l != NULL;
	     l = strtok_r(NULL, "\n", &save)) {
		lines[k++] = l;
	}
	qsort(lines, k, sizeof(*lines), line_cmp);
	char *out = NULL;
	size_t osize = 0;
	FILE *fp = open_memstream(&out, &osize);
	for (size_t i = 0; i < k; i++) {
		if (lines[i][0] != ';') {
			fprintf(fp, "%s\n", lines[i]);
		}
	}
	fclose(fp);
	free(lines);
	free(buf);
	return out;
}

static void root_of(dns_zone_t *z, uint8_t out[DNS_DIGEST_LEN])
{
	ck_assert_int_eq(dns_zone_digest(z, out), TANDEM_OK);
}

/* ---- tests ---- */

/* For random change sequences: apply(old, diff(old, new)) has exactly new's records, and
 * the incremental digest equals the full one at every step. */
START_TEST(test_diff_apply_random)
{
	uint64_t s = 0x9e3779b97f4a7c15ull + (uint64_t)_i;
	model_t m;
	memset(&m, 0, sizeof(m));
	m.serial = 100;
	for (int k = 0; k < NAMES; k++) {
		m.present[k] = (int)(rnd(&s) % 3);
		m.glue[k] = (int)(rnd(&s) % 2);
		m.ds[k] = (int)(rnd(&s) % 3);
	}
	for (int h = 0; h < HASHES; h++) {
		m.n3[h] = (int)(rnd(&s) % 3);
	}
	dns_zone_t *old = model_zone(&m);
	dns_digest_t *state = NULL;
	ck_assert_int_eq(dns_digest_new(old, &state), TANDEM_OK);
	for (int step = 0; step < 25; step++) {
		int changes = 1 + (int)(rnd(&s) % 3);
		for (int c = 0; c < changes; c++) {
			model_mutate(&m, &s);
		}
		m.serial++;
		dns_zone_t *next = model_zone(&m);
		dns_changeset_t *cs = NULL;
		ck_assert_int_eq(dns_zone_diff(old, next, &cs), TANDEM_OK);
		ck_assert_uint_eq(dns_changeset_serial(cs, false), m.serial - 1);
		ck_assert_uint_eq(dns_changeset_serial(cs, true), m.serial);
		dns_zone_t *applied = NULL;
		ck_assert_int_eq(dns_zone_apply(old, cs, &applied), TANDEM_OK);
		char *want = records(next), *got = records(applied);
		if (strcmp(got, want) != 0) {
			fprintf(stderr, "step %d\n--- applied\n%s\n--- new\n%s\n", step, got, want);
			ck_abort_msg("apply(old, diff(old, new)) differs from new at step %d",
				     step);
		}
		/* the flags loading sets are set alike */
		size_t n1 = 0, n2 = 0;
		dns_node_t *a = dns_zone_nodes(applied, &n1), *b = dns_zone_nodes(next, &n2);
		ck_assert_uint_eq(n1, n2);
		for (size_t i = 0; i < n1; i++) {
			ck_assert_uint_eq(a[i].flags, b[i].flags);
		}
		/* digest: incremental == full, and the old state is untouched */
		uint8_t before[DNS_DIGEST_LEN], old_root[DNS_DIGEST_LEN], full[DNS_DIGEST_LEN],
		    incr[DNS_DIGEST_LEN], applied_root[DNS_DIGEST_LEN];
		dns_digest_root(state, before);
		root_of(old, old_root);
		ck_assert_mem_eq(before, old_root, DNS_DIGEST_LEN);
		dns_digest_t *nstate = NULL;
		ck_assert_int_eq(dns_digest_update(state, next, cs, &nstate), TANDEM_OK);
		dns_digest_root(nstate, incr);
		root_of(next, full);
		root_of(applied, applied_root);
		ck_assert_mem_eq(incr, full, DNS_DIGEST_LEN);
		ck_assert_mem_eq(applied_root, full, DNS_DIGEST_LEN);
		dns_digest_root(state, old_root);
		ck_assert_mem_eq(before, old_root, DNS_DIGEST_LEN);
		/* the serial changes every step: the root must too */
		ck_assert(memcmp(before, full, DNS_DIGEST_LEN) != 0);
		free(want);
		free(got);
		dns_zone_free(applied);
		dns_changeset_free(cs);
		dns_digest_free(state);
		state = nstate;
		dns_zone_free(old);
		old = next;
	}
	dns_digest_free(state);
	dns_zone_free(old);
}
END_TEST

static const char small_zone[] =
    "$ORIGIN example.\n$TTL 3600\n"
    "@ SOA ns1 hostmaster 7 7200 900 1209600 300\n"
    "@ NS ns1\nns1 A 192.0.2.1\n"
    "d1 NS ns.d1\nns.d1 A 192.0.2.5\nd1 DS 1001 8 2 "
    "0000000000000000000000000000000000000000000000000000000000000007\n"
    "d1 RRSIG DS 8 2 3600 20270101000000 20261201000000 4711 example. "
    "AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHHIIIIJJJJKKKK\n"
    "x.y.e1 TXT \"t\"\n"
    "00000000000000000000000000000003 NSEC3 1 0 0 - 00000000000000000000000000000009 A RRSIG\n"
    "00000000000000000000000000000003 RRSIG NSEC3 8 2 3600 20270101000000 20261201000000 "
    "4711 example. AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHHIIIIJJJJKKKK\n";

/* Any one-bit change of any record's RDATA or owner changes the root; undone, the root is
 * back. */
START_TEST(test_digest_bitflip)
{
	dns_zone_t *z = load_textz(small_zone);
	uint8_t base[DNS_DIGEST_LEN], r[DNS_DIGEST_LEN];
	root_of(z, base);
	size_t flips = 0;
	for (int arr = 0; arr < 2; arr++) {
		size_t n = 0;
		dns_node_t *nodes = arr ? dns_zone_nsec3_nodes(z, &n) : dns_zone_nodes(z, &n);
		for (size_t i = 0; i < n; i++) {
			for (uint16_t k = 0; k < nodes[i].rrset_count; k++) {
				dns_rrset_t *rs = &nodes[i].rrsets[k];
				for (uint16_t j = 0; j < rs->count + rs->sig_count; j++) {
					uint8_t *rd =
					    (uint8_t *)(j < rs->count ? rs->rdata[j]
								      : rs->sigs[j - rs->count]);
					uint16_t len = dns_rdata_len(rd);
					for (uint16_t bit = 0; bit < len * 8; bit += 13) {
						rd[2 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
						root_of(z, r);
						ck_assert_msg(memcmp(r, base, sizeof(r)) != 0,
							      "bit %u unseen", bit);
						rd[2 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
						flips++;
					}
				}
			}
		}
	}
	ck_assert_uint_gt(flips, 100);
	/* and any bit of an owner name's label bytes (the length bytes left alone, so the name
	 * stays well formed): the digest sorts by hashed keys, not by the array's order */
	for (int arr = 0; arr < 2; arr++) {
		size_t n = 0;
		dns_node_t *nodes = arr ? dns_zone_nsec3_nodes(z, &n) : dns_zone_nodes(z, &n);
		for (size_t i = 0; i < n; i++) {
			uint8_t *name = (uint8_t *)nodes[i].name;
			if (nodes[i].rrset_count == 0) {
				continue; /* an empty non-terminal has no leaf */
			}
			for (size_t at = 0; name[at] != 0; at += (size_t)name[at] + 1) {
				for (size_t k = 1; k <= name[at]; k++) {
					name[at + k] ^= 0x10;
					root_of(z, r);
					ck_assert_msg(memcmp(r, base, sizeof(r)) != 0,
						      "owner byte %zu unseen", at + k);
					name[at + k] ^= 0x10;
				}
			}
		}
	}
	root_of(z, r);
	ck_assert_mem_eq(r, base, DNS_DIGEST_LEN);
	dns_zone_free(z);
}
END_TEST

/* A TTL change, an RRSIG change and an NSEC3 change each change the root, and each shows
 * in the changeset as removal plus addition. */
START_TEST(test_digest_ttl_sig_nsec3)
{
	static const char *const edits[][2] = {
	    {"d1 DS 1001", "d1 300 DS 1001"},
	    {"AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHHIIIIJJJJKKKK\nx.y",
	     "AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHHIIIIJJJJKKKL\nx.y"},
	    {"00000000000000000000000000000009 A", "00000000000000000000000000000009 A TXT"},
	};
	dns_zone_t *z = load_textz(small_zone);
	uint8_t base[DNS_DIGEST_LEN], r[DNS_DIGEST_LEN];
	root_of(z, base);
	for (size_t e = 0; e < sizeof(edits) / sizeof(edits[0]); e++) {
		const char *at = strstr(small_zone, edits[e][0]);
		ck_assert_ptr_nonnull(at);
		char text[4096];
		snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - small_zone), small_zone,
			 edits[e][1], at + strlen(edits[e][0]));
		dns_zone_t *z2 = load_textz(text);
		root_of(z2, r);
		ck_assert_msg(memcmp(r, base, sizeof(r)) != 0, "edit %zu unseen", e);
		dns_changeset_t *cs = NULL;
		ck_assert_int_eq(dns_zone_diff(z, z2, &cs), TANDEM_OK);
		size_t nrm = 0, nadd = 0;
		dns_changeset_records(cs, false, &nrm);
		dns_changeset_records(cs, true, &nadd);
		ck_assert_uint_ge(nrm, 1);
		ck_assert_uint_ge(nadd, 1);
		dns_changeset_free(cs);
		dns_zone_free(z2);
	}
	dns_zone_free(z);
}
END_TEST

/* The nosig digest (compare of zones whose signatures are not deterministic): blind to an
 * RRSIG change, not to a TTL or NSEC3 change; never the full root. */
START_TEST(test_digest_nosig)
{
	static const char *const edits[][2] = {
	    {"d1 DS 1001", "d1 300 DS 1001"},
	    {"AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHHIIIIJJJJKKKK\nx.y",
	     "AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHHIIIIJJJJKKKL\nx.y"},
	    {"00000000000000000000000000000009 A", "00000000000000000000000000000009 A TXT"},
	};
	static const bool seen[] = {true, false, true};
	dns_zone_t *z = load_textz(small_zone);
	uint8_t base[DNS_DIGEST_LEN], full[DNS_DIGEST_LEN], r[DNS_DIGEST_LEN];
	ck_assert_int_eq(dns_zone_digest_nosig(z, base), TANDEM_OK);
	root_of(z, full);
	ck_assert(memcmp(base, full, sizeof(base)) != 0);
	ck_assert_int_eq(dns_zone_digest_nosig(z, r), TANDEM_OK);
	ck_assert(memcmp(base, r, sizeof(base)) == 0);
	for (size_t e = 0; e < sizeof(edits) / sizeof(edits[0]); e++) {
		const char *at = strstr(small_zone, edits[e][0]);
		ck_assert_ptr_nonnull(at);
		char text[4096];
		snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - small_zone), small_zone,
			 edits[e][1], at + strlen(edits[e][0]));
		dns_zone_t *z2 = load_textz(text);
		ck_assert_int_eq(dns_zone_digest_nosig(z2, r), TANDEM_OK);
		ck_assert_msg((memcmp(r, base, sizeof(r)) != 0) == seen[e], "edit %zu: %s", e,
			      seen[e] ? "unseen" : "seen");
		dns_zone_free(z2);
	}
	ck_assert_int_eq(dns_zone_digest_nosig(NULL, r), TANDEM_EINVAL);
	dns_zone_free(z);
}
END_TEST

/* The root depends on the records only: the same zone written in another order (lines
 * reversed) has the same root, and a zone diffed against itself is empty. */
START_TEST(test_digest_order_free)
{
	dns_zone_t *z = load_textz(small_zone);
	char *copy = strdup(small_zone);
	char *lines[64] = {0};
	size_t n = 0;
	for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l != NULL && n < 64;
	     l = strtok_r(NULL, "\n", &save)) {
		lines[n++] = l;
	}
	ck_assert_uint_gt(n, 2);
	char text[4096];
	size_t len = (size_t)snprintf(text, sizeof(text), "%s\n%s\n", lines[0] ? lines[0] : "",
				      lines[1] ? lines[1] : "");
	for (size_t i = n; i > 2; i--) {
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s\n", lines[i - 1]);
	}
	dns_zone_t *z2 = load_textz(text);
	uint8_t a[DNS_DIGEST_LEN], b[DNS_DIGEST_LEN];
	root_of(z, a);
	root_of(z2, b);
	ck_assert_mem_eq(a, b, DNS_DIGEST_LEN);
	dns_changeset_t *cs = NULL;
	ck_assert_int_eq(dns_zone_diff(z, z2, &cs), TANDEM_OK);
	ck_assert_uint_eq(dns_changeset_size(cs), 0);
	dns_changeset_free(cs);
	free(copy);
	dns_zone_free(z);
	dns_zone_free(z2);
}
END_TEST

/* apply refuses a changeset that does not fit: a removed record that is not there. */
START_TEST(test_apply_refuses)
{
	dns_zone_t *z = load_textz(small_zone);
	dns_changeset_t *cs = NULL;
	ck_assert_int_eq(dns_zone_diff(z, z, &cs), TANDEM_OK);
	static const uint8_t owner[] = "\x02zz\x07"
				       "example";
	static const uint8_t rd[] = {0, 4, 192, 0, 2, 9};
	dns_rr_t rr = {.owner = owner, .type = DNS_TYPE_A, .rclass = 1, .ttl = 60, .rdata = rd};
	ck_assert_int_eq(dns_changeset_add(cs, false, &rr), TANDEM_OK);
	dns_zone_t *out = NULL;
	ck_assert_int_eq(dns_zone_apply(z, cs, &out), TANDEM_ENOENT);
	ck_assert_ptr_null(out);
	dns_changeset_free(cs);
	dns_zone_free(z);
}
END_TEST

/* A changeset copies what it is given: a caller may reuse one buffer for several owners. */
START_TEST(test_changeset_copies)
{
	dns_changeset_t *cs = NULL;
	ck_assert_int_eq(dns_changeset_new(&cs), TANDEM_OK);
	uint8_t owner[16] = "\x02"
			    "aa"
			    "\x07"
			    "example";
	uint8_t rd[6] = {0, 4, 192, 0, 2, 1};
	dns_rr_t rr = {.owner = owner, .type = DNS_TYPE_A, .rclass = 1, .ttl = 60, .rdata = rd};
	ck_assert_int_eq(dns_changeset_add(cs, true, &rr), TANDEM_OK);
	owner[1] = 'b';
	rd[5] = 2;
	ck_assert_int_eq(dns_changeset_add(cs, true, &rr), TANDEM_OK);
	owner[1] = 'z';
	rd[5] = 9;
	size_t n = 0;
	const dns_rr_t *got = dns_changeset_records(cs, true, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_mem_eq(got[0].owner,
			 "\x02"
			 "aa",
			 3);
	ck_assert_mem_eq(got[1].owner,
			 "\x02"
			 "ba",
			 3);
	ck_assert_uint_eq(got[0].rdata[5], 1);
	ck_assert_uint_eq(got[1].rdata[5], 2);
	dns_changeset_free(cs);
}
END_TEST

/* A zone of n delegations (every third with a DS and an RRSIG) and n/5 NSEC3-looking
 * records; with `variant`, the delegations whose index is 1 mod 97 are gone, those 2 mod 97
 * get other NS, those 3 mod 97 another RRSIG, and names past n are added. */
static dns_zone_t *big_zone(int n, int variant)
{
	char *b = NULL, s[64];
	size_t len = 0, cap = 0;
	add(&b, &len, &cap, "$ORIGIN example.\n$TTL 3600\n");
	add(&b, &len, &cap, "@ SOA ns1 hostmaster %d 7200 900 1209600 300\n", 1 + variant);
	add(&b, &len, &cap, "@ NS ns1\nns1 A 192.0.2.1\n");
	int end = n + (variant ? 50 : 0);
	for (int k = 0; k < end; k++) {
		int m = k % 97;
		if (variant && m == 1 && k < n) {
			continue;
		}
		add(&b, &len, &cap, "d%d NS ns%d.other.net.\n", k, variant && m == 2 ? 2 : 1);
		if (k % 3 == 0) {
			sigtext(k, variant && m == 3 ? 1 : 0, s, sizeof(s));
			add(&b, &len, &cap, "d%d DS %d 8 2 %064d\n", k, 1000 + k % 7, k);
			add(&b, &len, &cap, "d%d RRSIG " SIGF, k, "DS", 2, s);
		}
	}
	for (int h = 0; h < n / 5; h++) {
		sigtext(h + 7, 0, s, sizeof(s));
		add(&b, &len, &cap, "%032d NSEC3 1 0 0 - %032d NS\n", h * 2, h * 2 + 2);
		add(&b, &len, &cap, "%032d RRSIG " SIGF, h * 2, "NSEC3", 2, s);
	}
	dns_zone_t *z = load_textz(b);
	free(b);
	return z;
}

/* Each record of a changeset as text, in order: two changesets compared. */
static char *changeset_text(const dns_changeset_t *cs)
{
	char *out = NULL;
	size_t size = 0;
	FILE *fp = open_memstream(&out, &size);
	ck_assert_ptr_nonnull(fp);
	for (int added = 0; added < 2; added++) {
		size_t n = 0;
		const dns_rr_t *rr = dns_changeset_records(cs, added, &n);
		for (size_t i = 0; i < n; i++) {
			char owner[DNS_NAME_MAXLEN * 4 + 1];
			dns_name_to_str(rr[i].owner, owner);
			fprintf(fp, "%d %s %u %u %u:", added, owner, rr[i].type, rr[i].ttl,
				dns_rdata_len(rr[i].rdata));
			for (size_t k = 0; k < dns_rdata_len(rr[i].rdata); k++) {
				fprintf(fp, "%02x", rr[i].rdata[2 + k]);
			}
			fputc('\n', fp);
		}
	}
	fclose(fp);
	return out;
}

/* The pairing split over threads pairs as one thread does; unchanged nodes are the same;
 * the difference made from it is dns_zone_diff's; a pairing of other zones is refused. */
START_TEST(test_pair_threads)
{
	enum { N = 15000 }; /* above 3 threads × 4096 nodes: the walk is split */
	dns_zone_t *a = big_zone(N, 0), *a2 = big_zone(N, 0), *b = big_zone(N, 1);
	/* two loads of one text: every node the same, nothing changed, no RRSIG looked past */
	dns_zone_pairing_t *p = NULL;
	ck_assert_int_eq(dns_zone_pair(a, a2, 3, &p), TANDEM_OK);
	ck_assert(dns_zone_pairing_of(p, a, a2));
	ck_assert(!dns_zone_pairing_of(p, a2, a));
	ck_assert_uint_eq(dns_zone_pairing_changed(p), 0);
	size_t n = 0, n3 = 0;
	dns_zone_nodes(a2, &n);
	dns_zone_nsec3_nodes(a2, &n3);
	for (size_t k = 0; k < n + n3; k++) {
		ck_assert_uint_eq(dns_zone_pairing_same(p)[k], 1);
	}
	const dns_pair_sigs_t *ps = dns_zone_pairing_sigs(p);
	ck_assert_uint_eq(ps->sigs, N / 3 + N / 5);
	ck_assert_uint_eq(ps->key_count, 1);
	ck_assert_uint_eq(ps->keys[0], 8u << 16 | 4711u);
	ck_assert_uint_eq(ps->nsec3_flags_or[1], 0);
	dns_changeset_t *cs = NULL;
	ck_assert_int_eq(dns_zone_diff_paired(a2, a, p, &cs), TANDEM_EINVAL);
	dns_zone_pairing_free(p);

	/* a changed version: 1 thread and 3 threads agree, node for node */
	dns_zone_pairing_t *p1 = NULL, *p3 = NULL;
	ck_assert_int_eq(dns_zone_pair(a, b, 1, &p1), TANDEM_OK);
	ck_assert_int_eq(dns_zone_pair(a, b, 3, &p3), TANDEM_OK);
	dns_zone_nodes(b, &n);
	dns_zone_nsec3_nodes(b, &n3);
	size_t same = 0;
	for (size_t k = 0; k < n + n3; k++) {
		ck_assert_ptr_eq(dns_zone_pairing_prev(p1)[k], dns_zone_pairing_prev(p3)[k]);
		ck_assert_uint_eq(dns_zone_pairing_same(p1)[k], dns_zone_pairing_same(p3)[k]);
		same += dns_zone_pairing_same(p1)[k];
	}
	/* changed: the apex (SOA), 2 mod 97 (NS), 3 mod 97 with a DS (RRSIG); 50 added */
	size_t changed = 1, gone_want = 0;
	for (int k = 0; k < N; k++) {
		changed += k % 97 == 2 || (k % 97 == 3 && k % 3 == 0);
		gone_want += k % 97 == 1;
	}
	ck_assert_uint_eq(n + n3 - same, changed + 50);
	size_t g1 = 0, g3 = 0;
	const dns_node_t *const *gone1 = dns_zone_pairing_gone(p1, false, &g1);
	const dns_node_t *const *gone3 = dns_zone_pairing_gone(p3, false, &g3);
	ck_assert_uint_eq(g1, gone_want);
	ck_assert_uint_eq(g3, gone_want);
	for (size_t k = 0; k < g1; k++) {
		ck_assert_ptr_eq(gone1[k], gone3[k]);
	}
	ck_assert_uint_eq(dns_zone_pairing_changed(p1), changed + 50 + gone_want);
	ck_assert_uint_eq(dns_zone_pairing_changed(p3), dns_zone_pairing_changed(p1));
	dns_changeset_t *whole = NULL, *paired = NULL;
	ck_assert_int_eq(dns_zone_diff(a, b, &whole), TANDEM_OK);
	ck_assert_int_eq(dns_zone_diff_paired(a, b, p3, &paired), TANDEM_OK);
	char *tw = changeset_text(whole), *tp = changeset_text(paired);
	ck_assert_str_eq(tp, tw);
	ck_assert_uint_gt(dns_changeset_size(paired), 0);
	/* and the digest from it is the full one's */
	dns_digest_t *sa = NULL, *sb = NULL;
	uint8_t incr[DNS_DIGEST_LEN], full[DNS_DIGEST_LEN];
	ck_assert_int_eq(dns_digest_new(a, &sa), TANDEM_OK);
	ck_assert_int_eq(dns_digest_update(sa, b, paired, &sb), TANDEM_OK);
	dns_digest_root(sb, incr);
	root_of(b, full);
	ck_assert_mem_eq(incr, full, DNS_DIGEST_LEN);
	free(tw);
	free(tp);
	dns_digest_free(sa);
	dns_digest_free(sb);
	dns_changeset_free(whole);
	dns_changeset_free(paired);
	dns_zone_pairing_free(p1);
	dns_zone_pairing_free(p3);
	dns_zone_free(a);
	dns_zone_free(a2);
	dns_zone_free(b);
}
END_TEST

static Suite *diff_suite(void)
{
	Suite *s = suite_create("dns_diff");
	TCase *tc = tcase_create("diff");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_diff_apply_random, 0, 8);
	tcase_add_test(tc, test_digest_bitflip);
	tcase_add_test(tc, test_digest_ttl_sig_nsec3);
	tcase_add_test(tc, test_digest_nosig);
	tcase_add_test(tc, test_digest_order_free);
	tcase_add_test(tc, test_apply_refuses);
	tcase_add_test(tc, test_changeset_copies);
	tcase_add_test(tc, test_pair_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(diff_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
