/* Benchmark of the zone digest v1: full digest of N signed-looking delegations, and the update
 * after C changed names (usage: bench_digest [N [C]]; not run by ctest). */
#include "dns_diff.h"
#include "dns_digest.h"
#include "dns_zone.h"
#include "tandem_diag.h"
#include "tandem_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char base_zone[] = "$ORIGIN example.\n$TTL 3600\n"
				"@ SOA ns1 hostmaster 1 7200 900 1209600 300\n"
				"@ NS ns1\nns1 A 192.0.2.1\n";

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		int r_ = (x);                                                                      \
		if (r_ != TANDEM_OK) {                                                             \
			fprintf(stderr, "%s: %s\n", #x, tandem_strerror(r_));                      \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

/* Owner d<i>.example (or, nsec3, a 32-character hash label) into buf. */
static const uint8_t *owner(size_t i, int nsec3, uint8_t buf[64])
{
	char label[40];
	int n = nsec3 ? snprintf(label, sizeof(label), "%032llu",
				 (unsigned long long)i * 7919ull % 100000000000ull)
		      : snprintf(label, sizeof(label), "d%zu", i);
	buf[0] = (uint8_t)n;
	memcpy(buf + 1, label, (size_t)n);
	memcpy(buf + 1 + n,
	       "\x07"
	       "example",
	       9);
	return buf;
}

/* RDATA of len bytes whose contents depend on (i, v), length-prefixed, into buf. */
static const uint8_t *rdata(size_t i, unsigned v, size_t len, const uint8_t *lead, size_t nlead,
			    uint8_t *buf)
{
	buf[0] = (uint8_t)(len >> 8);
	buf[1] = (uint8_t)len;
	memcpy(buf + 2, lead, nlead);
	for (size_t k = nlead; k < len; k++) {
		buf[2 + k] = (uint8_t)(i * 131 + k * 7 + v * 13);
	}
	return buf;
}

/* A delegation's records (NS, DS, RRSIG DS) and its NSEC3 (and RRSIG NSEC3) into cs. */
static void name_records(dns_changeset_t *cs, bool added, size_t i, unsigned v)
{
	uint8_t o[64], o3[64], rd[400];
	static const uint8_t ns_rd[] = {0, 11, 3, 'n', 's', '1', 5, 'o', 't', 'h', 'e', 'r', 0};
	static const uint8_t cov_ds[] = {0, 43, 8, 2, 0, 0, 14, 16};
	static const uint8_t cov_n3[] = {0, 50, 8, 2, 0, 0, 14, 16};
	static const uint8_t n3[] = {1, 0, 0, 0, 0, 20};
	dns_rr_t rr = {.owner = owner(i, 0, o), .rclass = 1, .ttl = 3600};
	if (v == 0 || !added) {
		rr.type = DNS_TYPE_NS;
		rr.rdata = ns_rd;
		CHECK(dns_changeset_add(cs, added, &rr));
	}
	rr.type = DNS_TYPE_DS;
	rr.rdata = rdata(i, v, 36, (const uint8_t *)"\x30\x39\x08\x02", 4, rd);
	CHECK(dns_changeset_add(cs, added, &rr));
	rr.type = DNS_TYPE_RRSIG;
	rr.rdata = rdata(i, v, 128 + 18 + 9, cov_ds, sizeof(cov_ds), rd);
	CHECK(dns_changeset_add(cs, added, &rr));
	if (v == 0) {
		rr.owner = owner(i, 1, o3);
		rr.type = DNS_TYPE_NSEC3;
		rr.rdata = rdata(i, v, 6 + 20 + 6, n3, sizeof(n3), rd);
		CHECK(dns_changeset_add(cs, added, &rr));
		rr.type = DNS_TYPE_RRSIG;
		rr.rdata = rdata(i, v, 128 + 18 + 9, cov_n3, sizeof(cov_n3), rd);
		CHECK(dns_changeset_add(cs, added, &rr));
	}
}

static void soas(dns_changeset_t *cs, uint32_t from, uint32_t to)
{
	uint8_t b[2][26];
	for (int k = 0; k < 2; k++) {
		uint32_t s = k ? to : from;
		memset(b[k], 0, sizeof(b[k]));
		b[k][1] = 22;
		b[k][4] = (uint8_t)(s >> 24);
		b[k][5] = (uint8_t)(s >> 16);
		b[k][6] = (uint8_t)(s >> 8);
		b[k][7] = (uint8_t)s;
		dns_rr_t rr = {.owner = (const uint8_t *)"\x07"
							 "example",
			       .type = DNS_TYPE_SOA,
			       .rclass = 1,
			       .ttl = 3600,
			       .rdata = b[k]};
		CHECK(dns_changeset_set_soa(cs, k == 1, &rr));
	}
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	size_t c = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
	FILE *fp = fmemopen((void *)base_zone, strlen(base_zone), "r");
	tandem_diag_t *diag = NULL;
	CHECK(tandem_diag_new(&diag));
	dns_load_opts_t lo = {.origin = "example.", .keep_dnssec = true};
	dns_zone_t *z0 = NULL, *z1 = NULL, *z2 = NULL;
	CHECK(dns_zone_load_stream(fp, "base", &lo, diag, &z0));
	fclose(fp);
	/* the first version: n delegations, built through apply (no text to parse) */
	dns_changeset_t *all = NULL, *cs = NULL, *diffed = NULL;
	CHECK(dns_changeset_new(&all));
	/* the base zone's SOA rdata uses names; make the old SOA match it exactly */
	const dns_rr_t *s0 = NULL;
	CHECK(dns_zone_diff(z0, z0, &cs));
	s0 = dns_changeset_soa(cs, false);
	CHECK(dns_changeset_set_soa(all, false, s0));
	soas(all, 1, 2);
	CHECK(dns_changeset_set_soa(all, false, s0));
	dns_changeset_free(cs);
	for (size_t i = 0; i < n; i++) {
		name_records(all, true, i, 0);
	}
	double t = now_s();
	CHECK(dns_zone_apply(z0, all, &z1));
	printf("built %zu names (%zu records) in %.2f s\n", n, dns_changeset_size(all),
	       now_s() - t);
	dns_changeset_free(all);
	t = now_s();
	double c0 = cpu_s();
	dns_digest_t *d1 = NULL, *d2 = NULL;
	CHECK(dns_digest_new(z1, &d1));
	double full = now_s() - t;
	printf("full digest: %zu leaves in %.3f s (%.3f s CPU)\n", dns_digest_leaves(d1), full,
	       cpu_s() - c0);
	/* the change: c names' DS (and its RRSIG) replaced */
	CHECK(dns_changeset_new(&cs));
	soas(cs, 2, 3);
	for (size_t k = 0; k < c; k++) {
		size_t i = k * (n / c);
		name_records(cs, false, i, 0);
		name_records(cs, true, i, 1);
	}
	/* name_records removed the NS and NSEC3 too; put them back as they were */
	for (size_t k = 0; k < c; k++) {
		uint8_t o[64], o3[64], rd[400];
		size_t i = k * (n / c);
		static const uint8_t ns_rd[] = {0,   11,  3,   'n', 's', '1', 5,
						'o', 't', 'h', 'e', 'r', 0};
		static const uint8_t cov_n3[] = {0, 50, 8, 2, 0, 0, 14, 16};
		static const uint8_t n3[] = {1, 0, 0, 0, 0, 20};
		dns_rr_t rr = {.owner = owner(i, 0, o), .rclass = 1, .ttl = 3600};
		rr.type = DNS_TYPE_NS;
		rr.rdata = ns_rd;
		CHECK(dns_changeset_add(cs, true, &rr));
		rr.owner = owner(i, 1, o3);
		rr.type = DNS_TYPE_NSEC3;
		rr.rdata = rdata(i, 0, 6 + 20 + 6, n3, sizeof(n3), rd);
		CHECK(dns_changeset_add(cs, true, &rr));
		rr.type = DNS_TYPE_RRSIG;
		rr.rdata = rdata(i, 0, 128 + 18 + 9, cov_n3, sizeof(cov_n3), rd);
		CHECK(dns_changeset_add(cs, true, &rr));
	}
	t = now_s();
	CHECK(dns_zone_apply(z1, cs, &z2));
	printf("applied %zu changed records in %.2f s\n", dns_changeset_size(cs), now_s() - t);
	t = now_s();
	c0 = cpu_s();
	CHECK(dns_zone_diff(z1, z2, &diffed));
	printf("diff (no shared pointers: memcmp of every RRset): %zu records in %.3f s (%.3f s "
	       "CPU)\n",
	       dns_changeset_size(diffed), now_s() - t, cpu_s() - c0);
	t = now_s();
	c0 = cpu_s();
	CHECK(dns_digest_update(d1, z2, diffed, &d2));
	double upd = now_s() - t, upd_cpu = cpu_s() - c0;
	uint8_t a[32], b[32];
	dns_digest_root(d2, a);
	t = now_s();
	CHECK(dns_zone_digest(z2, b));
	double full2 = now_s() - t;
	printf("update for %zu changed names: %.4f s (%.4f s CPU; full digest of the new version "
	       "%.3f s); roots %s\n",
	       c, upd, upd_cpu, full2, memcmp(a, b, 32) == 0 ? "equal" : "DIFFER");
	dns_changeset_free(cs);
	dns_changeset_free(diffed);
	dns_digest_free(d1);
	dns_digest_free(d2);
	dns_zone_free(z0);
	dns_zone_free(z1);
	dns_zone_free(z2);
	tandem_diag_free(diag);
	return memcmp(a, b, 32) == 0 ? 0 : 1;
}
