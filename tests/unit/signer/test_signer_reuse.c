/* Incremental signing tests: the refresh schedule, and signing with a previous version against
 * a full signing of the same input, on a private SoftHSM token. */
#include "crypto.h"
#include "dns_zone_copy.h"
#include "signer_internal.h"
#include "tandem_error.h"
#include "testsupport.h"
#include "verify.h"
#include "testsupport_dns.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOW 1795000000u /* 2026-11-18, a fixed signing time */
#define DAY 86400u

static uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint16_t sig_tag(const uint8_t *sig)
{
	const uint8_t *d = dns_rdata_data(sig);
	return (uint16_t)((d[16] << 8) | d[17]);
}

static uint32_t sig_expiration(const uint8_t *sig)
{
	return get32(dns_rdata_data(sig) + 8);
}

/* ---- the schedule's pure functions ---- */

START_TEST(schedule_quota_and_pick)
{
	/* 3,000 signatures, 15-minute runs, a 4-day window: 7 or 8 a run, 3,000 per window */
	size_t sum = 0;
	for (uint64_t t = NOW; t < NOW + 4 * DAY; t += 900) {
		size_t q = signer_refresh_quota(3000, t, t + 900, 4 * DAY);
		ck_assert(q == 7 || q == 8);
		sum += q;
	}
	ck_assert_uint_eq(sum, 3000);
	ck_assert_uint_eq(signer_refresh_quota(3000, NOW, NOW, 4 * DAY), 0);
	ck_assert_uint_eq(signer_refresh_quota(3000, NOW, NOW + 5 * DAY, 4 * DAY), 3000);
	ck_assert_uint_eq(signer_refresh_quota(10, NOW, NOW + 900, 0), 10);
	/* large pools do not overflow */
	size_t big = (size_t)1 << 40;
	ck_assert_uint_eq(signer_refresh_quota(big, NOW, NOW + 3 * 3600, 4 * DAY), big / 32);
	const uint32_t key[] = {50, 10, 70, 10, 0x10005, 10, 3};
	uint8_t pick[7];
	ck_assert_int_eq(signer_refresh_pick(key, 7, 3, pick), TANDEM_OK);
	/* 3, then the first two of the three 10s */
	const uint8_t want3[] = {0, 1, 0, 1, 0, 0, 1};
	ck_assert_mem_eq(pick, want3, 7);
	ck_assert_int_eq(signer_refresh_pick(key, 7, 6, pick), TANDEM_OK);
	const uint8_t want6[] = {1, 1, 1, 1, 0, 1, 1};
	ck_assert_mem_eq(pick, want6, 7);
	ck_assert_int_eq(signer_refresh_pick(key, 7, 0, pick), TANDEM_OK);
	const uint8_t none[7] = {0};
	ck_assert_mem_eq(pick, none, 7);
	ck_assert_int_eq(signer_refresh_pick(key, 7, 9, pick), TANDEM_OK);
	const uint8_t all[] = {1, 1, 1, 1, 1, 1, 1};
	ck_assert_mem_eq(pick, all, 7);
	ck_assert(signer_rrsig_due(NOW + 2 * DAY, NOW, 2 * DAY));
	ck_assert(!signer_rrsig_due(NOW + 2 * DAY + 1, NOW, 2 * DAY));
	signer_conf_t c;
	signer_conf_defaults(&c, NOW);
	ck_assert_uint_eq(c.refresh, 2 * DAY);
	ck_assert_uint_eq(signer_refresh_window(&c), 4 * DAY);
	c.refresh = 0; /* 0 is the default too */
	ck_assert_uint_eq(signer_refresh_of(&c), 2 * DAY);
}
END_TEST

/*
 * 30 days of the DPS policy (validity 8 days, jitter 2 days, period and cycle 15 minutes)
 * on 3,000 RRsets, with the schedule the signer uses: each cycle re-signs the due
 * signatures and the quota of earliest-expiring others; a few RRsets change per cycle
 * (new signatures, not counted as refreshed). Steady state is every cycle after the first
 * full signing: the quota rule has no first wave. No signature may ever be due when a
 * cycle starts (the schedule keeps ahead of the due rule: expiration > now + refresh).
 */
START_TEST(schedule_30_days)
{
	ts_rng_seed("schedule_30_days");
	enum { N = 3000 };
	signer_conf_t c;
	signer_conf_defaults(&c, NOW);
	uint8_t names[N][32];
	uint32_t exp[N], left[N];
	unsigned idx[N];
	uint8_t pick[N];
	for (unsigned i = 0; i < N; i++) {
		int len = snprintf((char *)names[i] + 1, 20, "d%u", i);
		names[i][0] = (uint8_t)len;
		memcpy(names[i] + 1 + len,
		       "\x07"
		       "example",
		       9);
		exp[i] = signer_expiration(&c, names[i], DNS_TYPE_DS);
	}
	uint32_t refresh = signer_refresh_of(&c), window = signer_refresh_window(&c);
	enum { CYCLES = 30 * 96 };
	static size_t refreshed[CYCLES];
	size_t due_total = 0;
	int64_t min_margin = INT64_MAX;
	size_t due_only[CYCLES]; /* what re-signing only at the due time would do */
	static uint32_t exp_due[N];
	memcpy(exp_due, exp, sizeof(exp));
	for (unsigned cyc = 1; cyc < CYCLES; cyc++) {
		c.now = NOW + (uint64_t)cyc * c.period;
		size_t n = 0, due = 0;
		for (unsigned i = 0; i < N; i++) {
			int64_t m = (int64_t)exp[i] - (int64_t)c.now;
			min_margin = m < min_margin ? m : min_margin;
			if (signer_rrsig_due(exp[i], c.now, refresh)) {
				due++;
				exp[i] = signer_expiration(&c, names[i], DNS_TYPE_DS);
				continue;
			}
			left[n] = exp[i] - (uint32_t)c.now;
			idx[n++] = i;
		}
		size_t quota = signer_refresh_quota(n, c.now - c.period, c.now, window);
		ck_assert_int_eq(signer_refresh_pick(left, n, quota, pick), TANDEM_OK);
		for (size_t k = 0; k < n; k++) {
			if (pick[k]) {
				exp[idx[k]] = signer_expiration(&c, names[idx[k]], DNS_TYPE_DS);
			}
		}
		/* churn: two RRsets change and are signed anew */
		for (int j = 0; j < 2; j++) {
			unsigned i = ts_rng_below(N);
			exp[i] = signer_expiration(&c, names[i], DNS_TYPE_DS);
		}
		refreshed[cyc] = quota + due;
		due_total += due;
		size_t d = 0;
		for (unsigned i = 0; i < N; i++) {
			if (signer_rrsig_due(exp_due[i], c.now, refresh)) {
				exp_due[i] = signer_expiration(&c, names[i], DNS_TYPE_DS);
				d++;
			}
		}
		due_only[cyc] = d;
	}
	double sum = 0, sum_due = 0;
	size_t lo = SIZE_MAX, hi = 0, lo_d = SIZE_MAX, hi_d = 0;
	for (unsigned cyc = 1; cyc < CYCLES; cyc++) {
		sum += (double)refreshed[cyc];
		lo = refreshed[cyc] < lo ? refreshed[cyc] : lo;
		hi = refreshed[cyc] > hi ? refreshed[cyc] : hi;
		if (cyc >= 15 * 96) { /* the due-only rule, once its waves have smoothed somewhat */
			sum_due += (double)due_only[cyc];
			lo_d = due_only[cyc] < lo_d ? due_only[cyc] : lo_d;
			hi_d = due_only[cyc] > hi_d ? due_only[cyc] : hi_d;
		}
	}
	double mean = sum / (CYCLES - 1), mean_d = sum_due / (CYCLES - 15 * 96);
	fprintf(stderr,
		"schedule_30_days: %d RRsets, refreshed per cycle mean %.2f min %zu max %zu; "
		"due-only rule (days 15-30): mean %.2f min %zu max %zu; min margin %.2f days\n",
		N, mean, lo, hi, mean_d, lo_d, hi_d, (double)min_margin / DAY);
	ck_assert_uint_eq(due_total, 0);
	ck_assert_int_gt(min_margin, (int64_t)refresh);
	ck_assert(lo >= 0.75 * mean && hi <= 1.25 * mean);
	/* the due rule alone is what the quota replaces: it is far from flat */
	ck_assert(hi_d > 1.25 * mean_d || lo_d < 0.75 * mean_d);
}
END_TEST

/* ---- signing with a previous version ---- */

typedef struct fixture {
	ts_token_t tok;
	char dir[256];
	hsm_module_t *module;
	hsm_token_t *token;
	const hsm_key_t *ksk, *zsk, *zsk2;
	tandem_diag_t *diag;
} fixture_t;

static const hsm_key_t *gen_key(fixture_t *f, const char *label, unsigned bits)
{
	char text[800];
	hsm_uri_t *uri = NULL;
	const hsm_key_t *key = NULL;
	snprintf(text, sizeof(text), "pkcs11:token=reuse-test;object=%s", label);
	ck_assert_int_eq(hsm_uri_parse(text, f->diag, &uri), TANDEM_OK);
	hsm_keyspec_t spec = {.algorithm = HSM_ALG_RSASHA256, .bits = bits};
	ck_assert_int_eq(hsm_token_generate_key(f->token, uri, &spec, f->diag, &key), TANDEM_OK);
	hsm_uri_free(uri);
	return key;
}

static void fixture_open(fixture_t *f)
{
	memset(f, 0, sizeof(*f));
	ts_token_create(&f->tok, "reuse-test");
	ts_tmpdir(f->dir, sizeof(f->dir));
	ck_assert_int_eq(tandem_diag_new(&f->diag), TANDEM_OK);
	ck_assert_int_eq(hsm_module_load(NULL, f->diag, &f->module), TANDEM_OK);
	hsm_uri_t *uri = NULL;
	ck_assert_int_eq(hsm_uri_parse(f->tok.uri, f->diag, &uri), TANDEM_OK);
	ck_assert_int_eq(hsm_token_open(f->module, uri, NULL, 2, f->diag, &f->token), TANDEM_OK);
	hsm_uri_free(uri);
	f->ksk = gen_key(f, "ksk", 2048);
	f->zsk = gen_key(f, "zsk", 1024);
	f->zsk2 = gen_key(f, "zsk2", 1024);
}

static void fixture_close(fixture_t *f)
{
	hsm_token_close(f->token);
	hsm_module_free(f->module);
	tandem_diag_free(f->diag);
	ts_rmtree(f->dir);
	ts_token_destroy(&f->tok);
}

static dns_zone_t *load_text(fixture_t *f, const char *text)
{
	char path[512];
	ts_write_file(f->dir, "in.zone", text, path, sizeof(path));
	dns_zone_t *z = NULL;
	ck_assert_int_eq(dns_zone_load(path, &(dns_load_opts_t){.origin = "example."}, f->diag, &z),
			 TANDEM_OK);
	return z;
}

static void gate(dns_zone_t *z, uint64_t now, tandem_diag_t *diag)
{
	verify_stats_t vs = {0};
	tandem_diag_clear(diag);
	int ret = verify_zone(z, &(verify_conf_t){.now = now, .threads = 2}, diag, &vs);
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		fprintf(stderr, "gate: %s\n", tandem_diag_msg(diag, i));
	}
	ck_assert_int_eq(ret, TANDEM_OK);
	ck_assert_uint_gt(vs.signatures, 0);
}

/* The incremental gate against the previous version accepts what the whole gate accepts, and
 * verifies fewer signatures. */
static void gate_incremental(dns_zone_t *z, dns_zone_t *prev, uint64_t now, tandem_diag_t *diag)
{
	verify_stats_t vs = {0}, whole = {0};
	tandem_diag_clear(diag);
	ck_assert_int_eq(verify_zone(z, &(verify_conf_t){.now = now, .threads = 2}, diag, &whole),
			 TANDEM_OK);
	int ret =
	    verify_zone(z, &(verify_conf_t){.now = now, .threads = 2, .previous = prev}, diag, &vs);
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		fprintf(stderr, "incremental gate: %s\n", tandem_diag_msg(diag, i));
	}
	ck_assert_int_eq(ret, TANDEM_OK);
	ck_assert(vs.incremental);
	ck_assert_uint_eq(vs.signatures, whole.signatures);
	ck_assert_uint_lt(vs.verified, whole.verified);
}

/* The zone a random walk of changes works on: delegations (NS in or out of bailiwick, glue,
 * DS) and hosts below empty non-terminals. */
enum { DELEGS = 48, HOSTS = 24 };
typedef struct model {
	bool deleg[DELEGS], ds[DELEGS], glue[DELEGS];
	unsigned ds_val[DELEGS], glue_ip[DELEGS];
	bool host[HOSTS];
	unsigned host_ip[HOSTS];
} model_t;

static char *model_text(const model_t *m)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(fp);
	fprintf(fp, "$ORIGIN example.\n$TTL 3600\n"
		    "@ SOA ns1 hostmaster 2026010100 3600 900 604800 300\n"
		    "@ NS ns1\n@ NS ns.other.\nns1 A 192.0.2.1\nwww A 192.0.2.2\n"
		    "*.wild TXT \"wildcard\"\n");
	for (unsigned i = 0; i < DELEGS; i++) {
		if (!m->deleg[i]) {
			continue;
		}
		/* every fourth delegation sits below an ENT (sub.e<i>) */
		char owner[64];
		snprintf(owner, sizeof(owner), i % 4 == 0 ? "d%u.e%u" : "d%u", i, i / 8);
		if (m->glue[i]) {
			fprintf(fp, "%s NS ns.%s\nns.%s A 198.51.100.%u\n", owner, owner, owner,
				m->glue_ip[i] % 250 + 1);
		} else {
			fprintf(fp, "%s NS ns.other.\n", owner);
		}
		if (m->ds[i]) {
			fprintf(fp, "%s DS %u 8 2 %064x\n", owner, 1000 + i, m->ds_val[i]);
		}
	}
	for (unsigned i = 0; i < HOSTS; i++) {
		if (m->host[i]) {
			fprintf(fp, "h%u.x%u.ent A 203.0.113.%u\n", i, i % 6,
				m->host_ip[i] % 250 + 1);
		}
	}
	fclose(fp);
	return text;
}

static void model_mutate(model_t *m)
{
	unsigned ops = 1 + ts_rng_below(4);
	for (unsigned o = 0; o < ops; o++) {
		unsigned d = ts_rng_below(DELEGS), h = ts_rng_below(HOSTS);
		switch (ts_rng_below(6)) {
		case 0: /* a delegation comes or goes */ m->deleg[d] = !m->deleg[d]; break;
		case 1: /* DS added, removed */ m->ds[d] = !m->ds[d]; break;
		case 2: /* DS changed (a KSK roll in the child) */
			m->ds_val[d] = (unsigned)ts_rng_next();
			m->ds[d] = true;
			break;
		case 3: /* glue changes address, or the NS goes in or out of bailiwick */
			if (ts_rng_below(2)) {
				m->glue_ip[d]++;
			} else {
				m->glue[d] = !m->glue[d];
			}
			break;
		case 4: /* hosts below empty non-terminals come and go */
		case 5:
			m->host[h] = !m->host[h];
			m->host_ip[h] += ts_rng_below(2);
			break;
		}
	}
}

static int sig_cmp_tag(const void *a, const void *b)
{
	return (int)sig_tag(*(const uint8_t *const *)a) - (int)sig_tag(*(const uint8_t *const *)b);
}

/* Same records, and every RRset signed by the same key tags, signature times aside. */
static void assert_same_records(dns_node_t *a, size_t na, dns_node_t *b, size_t nb)
{
	ck_assert_uint_eq(na, nb);
	for (size_t i = 0; i < na; i++) {
		ck_assert_int_eq(dns_name_compare(a[i].name, b[i].name), 0);
		ck_assert_uint_eq(a[i].rrset_count, b[i].rrset_count);
		for (uint16_t r = 0; r < a[i].rrset_count; r++) {
			dns_rrset_t *x = &a[i].rrsets[r], *y = &b[i].rrsets[r];
			ck_assert_uint_eq(x->type, y->type);
			ck_assert_uint_eq(x->ttl, y->ttl);
			ck_assert_uint_eq(x->count, y->count);
			for (uint16_t k = 0; k < x->count; k++) {
				ck_assert_int_eq(dns_rdata_compare(x->rdata[k], y->rdata[k]), 0);
			}
			ck_assert_uint_eq(x->sig_count, y->sig_count);
			const uint8_t *sx[8], *sy[8];
			ck_assert_uint_le(x->sig_count, 8);
			if (x->sig_count == 0) {
				continue;
			}
			memcpy(sx, x->sigs, sizeof(*sx) * x->sig_count);
			memcpy(sy, y->sigs, sizeof(*sy) * y->sig_count);
			qsort(sx, x->sig_count, sizeof(*sx), sig_cmp_tag);
			qsort(sy, y->sig_count, sizeof(*sy), sig_cmp_tag);
			for (uint16_t k = 0; k < x->sig_count; k++) {
				ck_assert_uint_eq(sig_tag(sx[k]), sig_tag(sy[k]));
			}
		}
	}
}

static const dns_node_t *find_in(dns_node_t *nodes, size_t n, const uint8_t *name)
{
	for (size_t i = 0; i < n; i++) {
		if (dns_name_compare(nodes[i].name, name) == 0) {
			return &nodes[i];
		}
	}
	return NULL;
}

static bool rrset_equal(const dns_rrset_t *a, const dns_rrset_t *b)
{
	if (b == NULL || a->ttl != b->ttl || a->count != b->count) {
		return false;
	}
	for (uint16_t k = 0; k < a->count; k++) {
		if (dns_rdata_compare(a->rdata[k], b->rdata[k]) != 0) {
			return false;
		}
	}
	return true;
}

typedef struct tally {
	size_t fresh, reused, refreshed;
} tally_t;

/* Classifies cur's signatures against prev: byte-identical to one of the same unchanged
 * RRset (reused), made again over an unchanged RRset (refreshed), over a changed one (new). */
static void tally_nodes(dns_node_t *cur, size_t nc, dns_node_t *prev, size_t np, tally_t *t)
{
	for (size_t i = 0; i < nc; i++) {
		const dns_node_t *pn = find_in(prev, np, cur[i].name);
		for (uint16_t r = 0; r < cur[i].rrset_count; r++) {
			const dns_rrset_t *rs = &cur[i].rrsets[r];
			const dns_rrset_t *prs = pn ? dns_node_rrset(pn, rs->type) : NULL;
			bool same = rrset_equal(rs, prs) && prs->sig_count > 0;
			for (uint16_t s = 0; s < rs->sig_count; s++) {
				bool identical = false;
				for (uint16_t j = 0; same && j < prs->sig_count && !identical;
				     j++) {
					size_t len = dns_rdata_len(rs->sigs[s]) + 2u;
					identical = len == dns_rdata_len(prs->sigs[j]) + 2u &&
						    memcmp(rs->sigs[s], prs->sigs[j], len) == 0;
				}
				if (!same) {
					t->fresh++;
				} else if (identical) {
					t->reused++;
				} else {
					t->refreshed++;
				}
			}
		}
	}
}

static void assert_tally(dns_zone_t *cur, dns_zone_t *prev, const signer_stats_t *st)
{
	tally_t t = {0};
	size_t nc = 0, np = 0;
	dns_node_t *c = dns_zone_nodes(cur, &nc), *p = dns_zone_nodes(prev, &np);
	tally_nodes(c, nc, p, np, &t);
	c = dns_zone_nsec3_nodes(cur, &nc);
	p = dns_zone_nsec3_nodes(prev, &np);
	tally_nodes(c, nc, p, np, &t);
	ck_assert_uint_eq(t.reused, st->rrsigs_reused);
	ck_assert_uint_eq(t.refreshed, st->rrsigs_refreshed);
	ck_assert_uint_eq(t.fresh, st->rrsigs_new);
	ck_assert_uint_eq(st->signatures, st->rrsigs_new + st->rrsigs_refreshed);
}

static int sign_with(fixture_t *f, dns_zone_t *z, signer_conf_t *c, const signer_key_t *keys,
		     size_t n, signer_stats_t *st)
{
	tandem_diag_clear(f->diag);
	int ret = signer_sign_zone(z, c, keys, n, f->token, f->diag, st);
	for (size_t i = 0; i < tandem_diag_kept(f->diag); i++) {
		fprintf(stderr, "sign: %s\n", tandem_diag_msg(f->diag, i));
	}
	return ret;
}

/*
 * Random sequences of changes, step by step, 15 minutes apart: every version signed with
 * the last one as previous passes the gate, equals a full signing of the same input
 * (signature times aside), and keeps the unchanged RRsets' RRSIGs byte for byte except the
 * few the schedule refreshes; the stats say exactly that. A second signing of each step
 * (the other site: same previous version and time, another thread count) is byte for
 * byte the same. The last version also passes
 * BIND's dnssec-verify (installed by deploy/install-deps.sh), which validates at the
 * clock's time only: so this walk starts at the clock (printed), not at NOW.
 */
static void random_walk(signer_denial_t denial, bool optout)
{
	fixture_t f;
	fixture_open(&f);
	ts_rng_seed(denial == SIGNER_DENIAL_NSEC ? "random_changes_nsec"
		    : optout                     ? "random_changes_nsec3_optout"
						 : "random_changes_nsec3");
	model_t m = {0};
	for (unsigned i = 0; i < DELEGS; i++) {
		m.deleg[i] = ts_rng_below(3) != 0;
		m.ds[i] = ts_rng_below(2);
		m.glue[i] = ts_rng_below(2);
		m.ds_val[i] = (unsigned)ts_rng_next();
	}
	for (unsigned i = 0; i < HOSTS; i++) {
		m.host[i] = ts_rng_below(2);
	}
	signer_key_t keys[2] = {{.key = f.ksk, .ksk = true}, {.key = f.zsk, .zsk = true}};
	signer_conf_t c;
	uint64_t start = (uint64_t)time(NULL) - 13 * 900; /* the last step is in the past */
	start -= start % 900;
	fprintf(stderr, "random walk from %llu\n", (unsigned long long)start);
	signer_conf_defaults(&c, start);
	c.denial = denial;
	c.nsec3_optout = optout;
	c.threads = 2;
	char *text = model_text(&m);
	dns_zone_t *prev = load_text(&f, text);
	free(text);
	signer_stats_t st;
	ck_assert_int_eq(sign_with(&f, prev, &c, keys, 2, &st), TANDEM_OK);
	ck_assert_uint_eq(st.rrsigs_reused, 0);
	size_t reused = 0, total = 0;
	for (unsigned step = 1; step <= 12; step++) {
		model_mutate(&m);
		text = model_text(&m);
		c.now = start + step * 900u;
		c.has_serial_floor = true; /* the serial moves on from the last version's */
		c.serial_floor = st.serial;
		dns_zone_t *full = load_text(&f, text);
		dns_zone_t *inc = load_text(&f, text);
		dns_zone_t *twin = load_text(&f, text);
		free(text);
		c.previous = NULL;
		signer_stats_t fst;
		ck_assert_int_eq(sign_with(&f, full, &c, keys, 2, &fst), TANDEM_OK);
		ck_assert_uint_eq(fst.rrsigs_new, fst.signatures); /* no previous: all new */
		ck_assert_uint_eq(fst.rrsigs_reused + fst.rrsigs_refreshed, 0);
		c.previous = prev;
		ck_assert_int_eq(sign_with(&f, inc, &c, keys, 2, &st), TANDEM_OK);
		gate(inc, c.now, f.diag);
		gate_incremental(inc, prev, c.now, f.diag);
		if (denial == SIGNER_DENIAL_NSEC3) {
			/* the names the previous version had keep their hashes */
			ck_assert_uint_gt(fst.nsec3_hashed, 0);
			ck_assert_uint_lt(st.nsec3_hashed, fst.nsec3_hashed);
			/* and the chain is updated, not made anew (test_signer_nsec3) */
			ck_assert_uint_gt(st.nsec3_kept, 0);
			ck_assert_uint_eq(fst.nsec3_kept, 0);
		}
		size_t na = 0, nb = 0;
		dns_node_t *a = dns_zone_nodes(inc, &na), *b = dns_zone_nodes(full, &nb);
		assert_same_records(a, na, b, nb);
		a = dns_zone_nsec3_nodes(inc, &na);
		b = dns_zone_nsec3_nodes(full, &nb);
		assert_same_records(a, na, b, nb);
		assert_tally(inc, prev, &st);
		/* the schedule's share each cycle: pool * 900 / 4 days, below 1 here */
		ck_assert_uint_le(st.rrsigs_refreshed, 1);
		/* the other site, same previous version and time, one thread: the same choice,
		 * byte for byte (RSA) */
		c.threads = 1;
		ck_assert_int_eq(sign_with(&f, twin, &c, keys, 2, NULL), TANDEM_OK);
		c.threads = 2;
		char *x = ts_zone_text(inc), *y = ts_zone_text(twin);
		ck_assert_str_eq(x, y);
		free(x);
		free(y);
		dns_zone_free(twin);
		ck_assert_uint_gt(st.rrsigs_new, 0); /* the SOA at least */
		reused += st.rrsigs_reused;
		total += st.rrsigs_reused + st.signatures;
		dns_zone_free(full);
		dns_zone_free(prev);
		prev = inc;
	}
	fprintf(stderr, "random walk: %zu of %zu signatures reused over 12 steps\n", reused, total);
	/* BIND's validator on the last version (an independent check of the gate's verdict) */
	char path[600], cmd[1400];
	snprintf(path, sizeof(path), "%s/last.signed", f.dir);
	FILE *fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(dns_zone_write(prev, fp), TANDEM_OK);
	ck_assert_int_eq(fclose(fp), 0);
	snprintf(cmd, sizeof(cmd), "dnssec-verify -q -o example. %s >&2", path);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_uint_gt(reused * 2, total); /* most */
	dns_zone_free(prev);
	fixture_close(&f);
}

START_TEST(random_changes_nsec3)
{
	random_walk(SIGNER_DENIAL_NSEC3, false);
}
END_TEST

START_TEST(random_changes_nsec3_optout)
{
	random_walk(SIGNER_DENIAL_NSEC3, true);
}
END_TEST

START_TEST(random_changes_nsec)
{
	random_walk(SIGNER_DENIAL_NSEC, false);
}
END_TEST

static const char *SMALL = "$ORIGIN example.\n$TTL 3600\n"
			   "@ SOA ns1 hostmaster 2026010100 3600 900 604800 300\n"
			   "@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\nmail MX 10 www\n"
			   "a NS ns.other.\na DS 1 8 2 "
			   "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789\n"
			   "b NS ns.other.\nb DS 2 8 2 "
			   "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789\n"
			   "c NS ns.other.\nd NS ns.other.\ne.f TXT \"x\"\n";

/* The earliest expiration in the zone, and how many signatures are by a key tag. */
static void zone_sigs(dns_zone_t *z, uint16_t tag, uint32_t *min_exp, size_t *by_tag)
{
	*min_exp = UINT32_MAX;
	*by_tag = 0;
	for (int pass = 0; pass < 2; pass++) {
		size_t n = 0;
		dns_node_t *nodes = pass == 0 ? dns_zone_nodes(z, &n) : dns_zone_nsec3_nodes(z, &n);
		for (size_t i = 0; i < n; i++) {
			for (uint16_t r = 0; r < nodes[i].rrset_count; r++) {
				const dns_rrset_t *rs = &nodes[i].rrsets[r];
				for (uint16_t s = 0; s < rs->sig_count; s++) {
					uint32_t e = sig_expiration(rs->sigs[s]);
					*min_exp = e < *min_exp ? e : *min_exp;
					*by_tag += sig_tag(rs->sigs[s]) == tag;
				}
			}
		}
	}
}

/* How many of cur's RRSIGs are prev's very bytes (not copies), and of its NSEC3 records;
 * *copied: those kept over the KSKs' RRsets, copies (they may be pre-signed ones). */
static size_t shared_sigs(dns_zone_t *cur, dns_zone_t *prev, size_t *n3, size_t *copied)
{
	size_t same = 0;
	*n3 = 0;
	*copied = 0;
	for (int pass = 0; pass < 2; pass++) {
		size_t nc = 0, np = 0;
		dns_node_t *c =
		    pass == 0 ? dns_zone_nodes(cur, &nc) : dns_zone_nsec3_nodes(cur, &nc);
		dns_node_t *p =
		    pass == 0 ? dns_zone_nodes(prev, &np) : dns_zone_nsec3_nodes(prev, &np);
		for (size_t i = 0; i < nc; i++) {
			const dns_node_t *pn = find_in(p, np, c[i].name);
			*n3 += pass == 1 && pn != NULL && pn->name == c[i].name &&
			       pn->rrsets[0].rdata[0] == c[i].rrsets[0].rdata[0];
			for (uint16_t r = 0; pn != NULL && r < c[i].rrset_count; r++) {
				const dns_rrset_t *rs = &c[i].rrsets[r];
				const dns_rrset_t *prs = dns_node_rrset(pn, rs->type);
				for (uint16_t s = 0; prs != NULL && s < rs->sig_count; s++) {
					for (uint16_t j = 0; j < prs->sig_count; j++) {
						size_t len = 2u + dns_rdata_len(rs->sigs[s]);
						bool ksk = rs->type == DNS_TYPE_DNSKEY;
						same += !ksk && rs->sigs[s] == prs->sigs[j];
						*copied +=
						    ksk && rs->sigs[s] != prs->sigs[j] &&
						    len == 2u + dns_rdata_len(prs->sigs[j]) &&
						    memcmp(rs->sigs[s], prs->sigs[j], len) == 0;
					}
				}
			}
		}
	}
	return same;
}

/*
 * The signatures and NSEC3 records a version keeps are the previous version's bytes, not
 * copies, and stay valid whichever version is freed first: v3 keeps records v1's run made
 * after v1 and v2 are freed, and v3 stays whole when v4, made from it, is freed. Under
 * AddressSanitizer (the unit build) a record freed under a version that still points at it
 * is a use after free; without it, the text written before and after differs.
 */
START_TEST(kept_records_shared)
{
	fixture_t f;
	fixture_open(&f);
	signer_key_t keys[2] = {{.key = f.ksk, .ksk = true}, {.key = f.zsk, .zsk = true}};
	signer_conf_t c;
	signer_conf_defaults(&c, NOW);
	signer_stats_t st;
	dns_zone_t *v[4];
	for (int i = 0; i < 4; i++) {
		c.now = NOW + 900u * (unsigned)i;
		c.previous = i > 0 ? v[i - 1] : NULL;
		v[i] = load_text(&f, SMALL);
		ck_assert_int_eq(sign_with(&f, v[i], &c, keys, 2, &st), TANDEM_OK);
		if (i == 0) {
			continue;
		}
		size_t n3 = 0, copied = 0;
		ck_assert_uint_gt(st.rrsigs_reused, 0);
		ck_assert_uint_gt(st.nsec3_kept, 0);
		size_t same = shared_sigs(v[i], v[i - 1], &n3, &copied);
		ck_assert_uint_gt(same, 0);
		ck_assert_uint_eq(same + copied, st.rrsigs_reused);
		ck_assert_uint_eq(n3, st.nsec3_kept);
	}
	dns_zone_t *copy = NULL;
	ck_assert_int_eq(dns_zone_copy(v[2], &copy), TANDEM_OK);
	char *before = ts_zone_text(v[2]);
	dns_zone_free(v[0]);
	dns_zone_free(v[1]);
	dns_zone_free(v[3]);
	char *after = ts_zone_text(v[2]);
	ck_assert_str_eq(before, after);
	char *copied = ts_zone_text(copy);
	ck_assert_str_eq(before, copied);
	gate(v[2], NOW + 1800, f.diag);
	free(before);
	free(after);
	free(copied);
	dns_zone_free(copy);
	dns_zone_free(v[2]);
	fixture_close(&f);
}
END_TEST

/*
 * Real signing over simulated days: a small zone re-signed every hour for 10 days, nothing
 * changing (not even the serial). Every version passes the gate at its time (and, once a
 * day, a second signing from the same previous version is byte-identical), no signature
 * comes within the refresh time of its expiration, and the schedule re-signs the zone
 * about once per 4-day window (10 days: between 2 and 4 times its signatures).
 */
START_TEST(days_of_real_signing)
{
	fixture_t f;
	fixture_open(&f);
	signer_key_t keys[2] = {{.key = f.ksk, .ksk = true}, {.key = f.zsk, .zsk = true}};
	signer_conf_t c;
	signer_conf_defaults(&c, NOW);
	dns_zone_t *prev = load_text(&f, SMALL);
	signer_stats_t st;
	ck_assert_int_eq(sign_with(&f, prev, &c, keys, 2, &st), TANDEM_OK);
	size_t first = st.signatures;
	char line[4096] = "";
	size_t refreshed_total = 0, held_before = 0, compacted = 0;
	for (unsigned h = 1; h <= 240; h++) {
		c.now = NOW + h * 3600u;
		c.previous = prev;
		dns_zone_t *z = load_text(&f, SMALL);
		ck_assert_int_eq(sign_with(&f, z, &c, keys, 2, &st), TANDEM_OK);
		gate(z, c.now, f.diag);
		uint32_t min_exp = 0;
		size_t unused = 0;
		zone_sigs(z, 0, &min_exp, &unused);
		ck_assert_uint_gt(min_exp, c.now + signer_refresh_of(&c));
		refreshed_total += st.rrsigs_refreshed;
		if (h % 24 == 0) {
			/* the other site picks the same signatures to refresh, byte for byte */
			dns_zone_t *twin = load_text(&f, SMALL);
			ck_assert_int_eq(sign_with(&f, twin, &c, keys, 2, NULL), TANDEM_OK);
			char *x = ts_zone_text(z), *y = ts_zone_text(twin);
			ck_assert_str_eq(x, y);
			free(x);
			free(y);
			dns_zone_free(twin);
			size_t len = strlen(line);
			snprintf(line + len, sizeof(line) - len, " day%u:%zu", h / 24,
				 refreshed_total);
		}
		/* the arenas of kept records stay bounded: a version copies what it keeps once
		 * those it would share hold more than a quarter (and 8 MiB) above their records */
		size_t held = 0, live = 0;
		dns_zone_dnssec_bytes(z, &held, &live);
		ck_assert_uint_le(live, held);
		ck_assert_uint_le(held, (size_t)16 << 20);
		compacted += held < held_before;
		held_before = held;
		dns_zone_free(prev);
		prev = z;
	}
	fprintf(stderr, "days_of_real_signing: %zu signatures, refreshed (cumulative)%s\n", first,
		line);
	ck_assert_uint_gt(compacted, 0);
	/* in 10 days each signature is refreshed about 10 / 4 times, never all at once */
	ck_assert_uint_ge(refreshed_total, 2 * first);
	ck_assert_uint_le(refreshed_total, 4 * first);
	dns_zone_free(prev);
	fixture_close(&f);
}
END_TEST

/*
 * ZSK rollover: zsk2 is published, then takes over; zsk stays published and its
 * signatures stand in until the schedule replaces them, all within key_roll_time (2 hours
 * here: 8 cycles), about evenly per cycle. Then zsk goes from the DNSKEY RRset.
 */
START_TEST(zsk_rollover)
{
	fixture_t f;
	fixture_open(&f);
	signer_key_t before[3] = {
	    {.key = f.ksk, .ksk = true}, {.key = f.zsk, .zsk = true}, {.key = f.zsk2}};
	signer_key_t after[3] = {
	    {.key = f.ksk, .ksk = true}, {.key = f.zsk}, {.key = f.zsk2, .zsk = true}};
	signer_key_t gone[2] = {{.key = f.ksk, .ksk = true}, {.key = f.zsk2, .zsk = true}};
	uint16_t old_tag = hsm_key_tag(f.zsk, 256);
	signer_conf_t c;
	signer_conf_defaults(&c, NOW);
	c.key_roll_time = 2 * 3600;
	dns_zone_t *prev = load_text(&f, SMALL);
	signer_stats_t st;
	ck_assert_int_eq(sign_with(&f, prev, &c, before, 3, &st), TANDEM_OK);
	uint32_t min_exp = 0;
	size_t start = 0;
	zone_sigs(prev, old_tag, &min_exp, &start);
	size_t old = start;
	char line[1024] = "";
	unsigned cyc = 1;
	for (; cyc <= 20 && (cyc == 1 || old > 0); cyc++) {
		c.now = NOW + cyc * 900u;
		c.previous = prev;
		dns_zone_t *z = load_text(&f, SMALL);
		ck_assert_int_eq(sign_with(&f, z, &c, after, 3, &st), TANDEM_OK);
		gate(z, c.now, f.diag);
		size_t now_old = 0;
		zone_sigs(z, old_tag, &min_exp, &now_old);
		size_t len = strlen(line);
		snprintf(line + len, sizeof(line) - len, " %zu(-%zu)", now_old, old - now_old);
		if (cyc > 1) {
			/* evenly: at most ceil(start / 8) + 1 replaced per cycle, never more old */
			ck_assert_uint_le(old - now_old, (start + 7) / 8 + 1);
		}
		old = now_old;
		dns_zone_free(prev);
		prev = z;
	}
	fprintf(stderr, "zsk_rollover: old ZSK signatures per cycle:%s\n", line);
	ck_assert_uint_eq(old, 0);
	ck_assert_uint_le(cyc - 1, 9); /* within key_roll_time (8 cycles) of its last run */
	/* the old key leaves the DNSKEY RRset: nothing of it is left to drop */
	c.now += 900;
	c.previous = prev;
	dns_zone_t *z = load_text(&f, SMALL);
	ck_assert_int_eq(sign_with(&f, z, &c, gone, 2, &st), TANDEM_OK);
	gate(z, c.now, f.diag);
	ck_assert_uint_gt(st.rrsigs_reused, 0);
	dns_zone_free(z);
	dns_zone_free(prev);
	fixture_close(&f);
}
END_TEST

/*
 * What is never reused: signatures by a key named compromised (replace_tags), by a key
 * that left the DNSKEY RRset, and everything after a new NSEC3 salt or a switch to NSEC.
 */
START_TEST(never_reused)
{
	fixture_t f;
	fixture_open(&f);
	signer_key_t keys[2] = {{.key = f.ksk, .ksk = true}, {.key = f.zsk, .zsk = true}};
	signer_conf_t c;
	signer_conf_defaults(&c, NOW);
	dns_zone_t *prev = load_text(&f, SMALL);
	signer_stats_t st;
	ck_assert_int_eq(sign_with(&f, prev, &c, keys, 2, &st), TANDEM_OK);
	size_t all = st.signatures;

	/* the same input a moment later: everything but the SOA's signature is kept */
	c.previous = prev;
	c.has_serial_floor = true;
	c.serial_floor = st.serial;
	dns_zone_t *z = load_text(&f, SMALL);
	ck_assert_int_eq(sign_with(&f, z, &c, keys, 2, &st), TANDEM_OK);
	ck_assert_uint_eq(st.rrsigs_new, 1);
	ck_assert_uint_eq(st.rrsigs_reused, all - 1);
	ck_assert_uint_eq(st.rrsigs_refreshed, 0);
	dns_zone_free(z);

	/* emergency, a period later (RSA would make the same bytes at the same time): the ZSK
	 * is compromised; only the KSK's DNSKEY signature stays */
	c.now += c.period;
	uint16_t tag = hsm_key_tag(f.zsk, 256);
	c.replace_tags = &tag;
	c.replace_count = 1;
	z = load_text(&f, SMALL);
	ck_assert_int_eq(sign_with(&f, z, &c, keys, 2, &st), TANDEM_OK);
	ck_assert_uint_eq(st.rrsigs_reused, 1);
	ck_assert_uint_eq(st.rrsigs_refreshed, all - 2);
	assert_tally(z, prev, &st);
	gate(z, c.now, f.diag);
	dns_zone_free(z);
	c.replace_count = 0;
	c.replace_tags = NULL;

	/* another ZSK, the old one gone from the zone: none of its signatures is kept */
	signer_key_t other[2] = {{.key = f.ksk, .ksk = true}, {.key = f.zsk2, .zsk = true}};
	z = load_text(&f, SMALL);
	ck_assert_int_eq(sign_with(&f, z, &c, other, 2, &st), TANDEM_OK);
	ck_assert_uint_eq(st.rrsigs_reused, 0); /* the DNSKEY RRset changed too */
	gate(z, c.now, f.diag);
	dns_zone_free(z);

	/* a new salt signs in full */
	c.nsec3_salt_len = 2;
	c.nsec3_salt[0] = 0xab;
	z = load_text(&f, SMALL);
	ck_assert_int_eq(sign_with(&f, z, &c, keys, 2, &st), TANDEM_OK);
	ck_assert_uint_eq(st.rrsigs_reused, 0);
	ck_assert_uint_eq(st.rrsigs_new, st.signatures);
	dns_zone_free(z);
	/* and so does NSEC after NSEC3 */
	c.nsec3_salt_len = 0;
	c.denial = SIGNER_DENIAL_NSEC;
	z = load_text(&f, SMALL);
	ck_assert_int_eq(sign_with(&f, z, &c, keys, 2, &st), TANDEM_OK);
	ck_assert_uint_eq(st.rrsigs_reused, 0);
	gate(z, c.now, f.diag);
	dns_zone_free(z);

	/* the previous version cannot be the zone being signed */
	c.previous = prev;
	ck_assert_int_eq(sign_with(&f, prev, &c, keys, 2, &st), TANDEM_EINVAL);

	/* a refresh that leaves no window is refused */
	c.denial = SIGNER_DENIAL_NSEC3;
	c.refresh = c.validity - c.jitter;
	z = load_text(&f, SMALL);
	ck_assert_int_eq(sign_with(&f, z, &c, keys, 2, &st), TANDEM_SIGNER_ECONF);
	dns_zone_free(z);
	dns_zone_free(prev);
	fixture_close(&f);
}
END_TEST

/* Glue that becomes authoritative (its delegation went) was never signed: its signature is
 * new, not refreshed, though its records did not change. */
START_TEST(glue_turns_authoritative)
{
	fixture_t f;
	fixture_open(&f);
	signer_key_t keys[2] = {{.key = f.ksk, .ksk = true}, {.key = f.zsk, .zsk = true}};
	signer_conf_t c;
	signer_conf_defaults(&c, NOW);
	char text[2048];
	snprintf(text, sizeof(text), "%sg NS ns.g\nns.g A 192.0.2.9\n", SMALL);
	dns_zone_t *prev = load_text(&f, text);
	signer_stats_t st;
	ck_assert_int_eq(sign_with(&f, prev, &c, keys, 2, &st), TANDEM_OK);
	snprintf(text, sizeof(text), "%sns.g A 192.0.2.9\n", SMALL);
	c.now += c.period;
	c.previous = prev;
	c.has_serial_floor = true;
	c.serial_floor = st.serial;
	dns_zone_t *z = load_text(&f, text);
	ck_assert_int_eq(sign_with(&f, z, &c, keys, 2, &st), TANDEM_OK);
	gate(z, c.now, f.diag);
	assert_tally(z, prev, &st);
	const dns_node_t *glue = dns_zone_find(z, (const uint8_t *)"\x02ns\x01g\x07"
								   "example");
	ck_assert_ptr_nonnull(glue);
	ck_assert_uint_eq(dns_node_rrset(glue, DNS_TYPE_A)->sig_count, 1);
	ck_assert_uint_le(st.rrsigs_refreshed, 1); /* the schedule's one, at most */
	dns_zone_free(z);
	dns_zone_free(prev);
	fixture_close(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("signer_reuse");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, schedule_quota_and_pick);
	tcase_add_test(tc, schedule_30_days);
	tcase_add_test(tc, random_changes_nsec3);
	tcase_add_test(tc, random_changes_nsec3_optout);
	tcase_add_test(tc, random_changes_nsec);
	tcase_add_test(tc, never_reused);
	tcase_add_test(tc, glue_turns_authoritative);
	tcase_add_test(tc, zsk_rollover);
	tcase_add_test(tc, days_of_real_signing);
	tcase_add_test(tc, kept_records_shared);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
