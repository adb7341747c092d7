/* Tests of the transfer server with real clients: kdig (SOA, AXFR, IXFR, TSIG, ACL) and an
 * ldns client that reads an AXFR slowly while a new version is published. The zones are
 * signed by ldns-signzone (Ed25519, NSEC3, fixed dates) in a temp dir. */
#include "dist.h"
#include "dns_diff.h"
#include "dns_digest.h"
#include "dns_zone.h"
#include "journal.h"
#include "tandem_diag.h"
#include "tandem_error.h"
#include "testsupport.h"

#include <arpa/inet.h>
#include <check.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char g_dir[256];
static char g_keybase[512]; /* the signing key, K<name>+<alg>+<id> */
static char g_secret[64];   /* the TSIG secret of key1 (hmac-sha256) */
static char g_secret2[100]; /* key2 (hmac-sha512) */
static dist_key_t *g_keys[2];
static char g_log[8192]; /* the server's log lines */
static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;

static void log_line(void *arg, const char *line)
{
	(void)arg;
	pthread_mutex_lock(&g_log_lock);
	size_t have = strlen(g_log);
	snprintf(g_log + have, sizeof(g_log) - have, "%s\n", line);
	pthread_mutex_unlock(&g_log_lock);
}

static bool log_has(const char *needle)
{
	pthread_mutex_lock(&g_log_lock);
	bool yes = strstr(g_log, needle) != NULL;
	pthread_mutex_unlock(&g_log_lock);
	return yes;
}

static void random_secret(char *out, size_t raw_len)
{
	unsigned char raw[64];
	ck_assert(RAND_bytes(raw, (int)raw_len) == 1);
	EVP_EncodeBlock((unsigned char *)out, raw, (int)raw_len);
}

static void setup(void)
{
	ts_tmpdir(g_dir, sizeof(g_dir));
	g_log[0] = '\0';
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "cd %s && ldns-keygen -a ED25519 -k example. > keybase", g_dir);
	ck_assert_int_eq(system(cmd), 0);
	char path[600];
	snprintf(path, sizeof(path), "%s/keybase", g_dir);
	FILE *fp = fopen(path, "r");
	ck_assert_ptr_nonnull(fp);
	char base[256] = "";
	ck_assert_ptr_nonnull(fgets(base, sizeof(base), fp));
	fclose(fp);
	base[strcspn(base, "\n")] = '\0';
	snprintf(g_keybase, sizeof(g_keybase), "%s/%s", g_dir, base);
	random_secret(g_secret, 32);
	random_secret(g_secret2, 64);
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	ck_assert_int_eq(dist_key_new("key1", "hmac-sha256", g_secret, diag, &g_keys[0]),
			 TANDEM_OK);
	ck_assert_int_eq(dist_key_new("Key2.", "hmac-sha512", g_secret2, diag, &g_keys[1]),
			 TANDEM_OK);
	tandem_diag_free(diag);
}

static void teardown(void)
{
	dist_key_free(g_keys[0]);
	dist_key_free(g_keys[1]);
	g_keys[0] = g_keys[1] = NULL;
	ts_rmtree(g_dir);
}

/*
 * Writes and signs version `serial` of example.: n delegations d<serial>..d<serial+n-1>
 * (each version drops one and adds one) and a TXT naming the serial. Returns the signed
 * file's path in out.
 */
static void make_zone(uint32_t serial, int n, char *out, size_t size)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/example.%u", g_dir, serial);
	FILE *fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fprintf(fp,
		"$ORIGIN example.\n$TTL 3600\n"
		"@ SOA ns1.example. admin.example. %u 3600 900 604800 300\n"
		"@ NS ns1.example.\nns1 A 192.0.2.1\ntxt TXT \"version %u\"\n",
		serial, serial);
	for (int i = 0; i < n; i++) {
		fprintf(fp, "d%u NS ns.d%u.example.\nns.d%u A 198.51.100.%u\n",
			serial + (uint32_t)i, serial + (uint32_t)i, serial + (uint32_t)i,
			(serial + (uint32_t)i) % 250);
	}
	fclose(fp);
	snprintf(out, size, "%s.signed", path);
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
		 "ldns-signzone -n -t 0 -s ab -i 20260101000000 -e 20270101000000 -f %s %s %s", out,
		 path, g_keybase);
	ck_assert_int_eq(system(cmd), 0);
}

static dns_zone_t *load_zone(const char *path)
{
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_load_opts_t opts = {.origin = "example.", .keep_dnssec = true};
	dns_zone_t *z = NULL;
	int ret = dns_zone_load(path, &opts, diag, &z);
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		fprintf(stderr, "%s\n", tandem_diag_msg(diag, i));
	}
	ck_assert_int_eq(ret, TANDEM_OK);
	tandem_diag_free(diag);
	return z;
}

/* Every record of a zone file (or kdig's output: comments skipped), canonical and sorted. */
static ldns_rr_list *rr_read(const char *text)
{
	ldns_rr_list *list = ldns_rr_list_new();
	char *copy = strdup(text);
	char *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == ';' || line[0] == '$' || line[strspn(line, " \t")] == '\0' ||
		    strstr(line, "\tTSIG\t") != NULL) {
			continue;
		}
		ldns_rr *rr = NULL;
		ck_assert_msg(ldns_rr_new_frm_str(&rr, line, 3600, NULL, NULL) == LDNS_STATUS_OK,
			      "cannot parse: %s", line);
		ldns_rr2canonical(rr);
		ldns_rr_list_push_rr(list, rr);
	}
	free(copy);
	return list;
}

static char *file_text(const char *path)
{
	FILE *fp = fopen(path, "r");
	ck_assert_ptr_nonnull(fp);
	static const size_t max = 64 << 20;
	char *buf = malloc(max);
	size_t n = fread(buf, 1, max - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* Runs kdig (bounded by timeout(1)) and returns its output (the caller frees). */
static char *kdig(uint16_t port, const char *args)
{
	char cmd[2048], out[600];
	snprintf(out, sizeof(out), "%s/kdig.out", g_dir);
	snprintf(cmd, sizeof(cmd),
		 "timeout 60 kdig @127.0.0.1 -p %u +retry=0 +time=20 +nocomments +nostats %s "
		 "> %s 2>&1",
		 port, args, out);
	(void)system(cmd);
	return file_text(out);
}

/* The records kdig printed (the TSIG and question lines skipped). */
static ldns_rr_list *kdig_records(const char *output)
{
	ldns_rr_list *all = rr_read(output);
	ldns_rr_list *keep = ldns_rr_list_new();
	for (size_t i = 0; i < ldns_rr_list_rr_count(all); i++) {
		ldns_rr *rr = ldns_rr_list_rr(all, i);
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_TSIG) {
			continue;
		}
		ldns_rr_list_push_rr(keep, ldns_rr_clone(rr));
	}
	ldns_rr_list_deep_free(all);
	return keep;
}

static uint32_t soa_serial(const ldns_rr *rr)
{
	ck_assert_int_eq(ldns_rr_get_type(rr), LDNS_RR_TYPE_SOA);
	return ldns_rdf2native_int32(ldns_rr_rdf(rr, 2));
}

static bool lists_equal(ldns_rr_list *a, ldns_rr_list *b)
{
	ldns_rr_list_sort(a);
	ldns_rr_list_sort(b);
	return ldns_rr_list_compare(a, b) == 0;
}

static dist_server_t *server_start(const char *const *acl, size_t nacl, double ratio)
{
	static const char *listen[] = {"127.0.0.1:0"};
	dist_conf_t conf = {
	    .listen = listen,
	    .nlisten = 1,
	    .keys = (const dist_key_t *const *)g_keys,
	    .nkeys = 2,
	    .acl = acl,
	    .nacl = nacl,
	    .max_ixfr_ratio = ratio,
	    .log = log_line,
	};
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dist_server_t *srv = NULL;
	int ret = dist_server_new(&conf, diag, &srv);
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		fprintf(stderr, "%s\n", tandem_diag_msg(diag, i));
	}
	ck_assert_int_eq(ret, TANDEM_OK);
	tandem_diag_free(diag);
	ck_assert_uint_eq(dist_server_listeners(srv), 1);
	ck_assert_uint_ne(dist_server_port(srv, 0), 0);
	return srv;
}

/* Publishes version serial of example. with n delegations; its zone file path in path. */
static dist_version_t *version_make(uint32_t serial, int n, char *path, size_t size)
{
	make_zone(serial, n, path, size);
	dist_version_t *v = NULL;
	ck_assert_int_eq(dist_version_new_take(load_zone(path), &v), TANDEM_OK);
	ck_assert_uint_eq(dist_version_serial(v), serial);
	return v;
}

static char g_ykey1[200];
static const char *tsig1(void)
{
	snprintf(g_ykey1, sizeof(g_ykey1), "-y hmac-sha256:key1:%s", g_secret);
	return g_ykey1;
}

START_TEST(soa_udp_and_tcp)
{
	char path[700], args[600];
	dist_server_t *srv = server_start(NULL, 0, 0);
	uint16_t port = dist_server_port(srv, 0);
	/* nothing published yet: not authoritative */
	snprintf(args, sizeof(args), "%s example. SOA", tsig1());
	char *out = kdig(port, args);
	ck_assert_msg(strstr(out, "NOTAUTH") != NULL, "%.400s", out);
	free(out);
	dist_version_t *v = version_make(7, 5, path, sizeof(path));
	ck_assert_int_eq(dist_publish(srv, "example.", v), TANDEM_OK);
	uint32_t s = 0;
	ck_assert(dist_served_serial(srv, "example.", &s));
	ck_assert_uint_eq(s, 7);
	for (int tcp = 0; tcp < 2; tcp++) {
		snprintf(args, sizeof(args), "%s %s example. SOA", tsig1(),
			 tcp ? "+tcp" : "+notcp");
		out = kdig(port, args);
		ldns_rr_list *got = kdig_records(out);
		ck_assert_msg(ldns_rr_list_rr_count(got) == 1, "%.400s", out);
		ck_assert_uint_eq(soa_serial(ldns_rr_list_rr(got, 0)), 7);
		ldns_rr_list_deep_free(got);
		free(out);
	}
	dist_stats_t st;
	dist_server_stats(srv, &st);
	ck_assert_uint_eq(st.soa, 2);
	ck_assert_uint_eq(st.notauth, 1);
	dist_server_free(srv);
	dist_version_unref(v);
}
END_TEST

START_TEST(axfr_equals_zone)
{
	char path[700], args[600];
	dist_server_t *srv = server_start(NULL, 0, 0);
	dist_version_t *v = version_make(10, 300, path, sizeof(path));
	ck_assert_int_eq(dist_publish(srv, "example.", v), TANDEM_OK);
	/* key2 (hmac-sha512): many messages, each signed; kdig checks every MAC */
	snprintf(args, sizeof(args), "+tcp -y hmac-sha512:key2:%s example. AXFR", g_secret2);
	char *out = kdig(dist_server_port(srv, 0), args);
	ck_assert_msg(strstr(out, ";; WARNING") == NULL && strstr(out, ";; ERROR") == NULL,
		      "%.400s", out);
	ldns_rr_list *got = kdig_records(out);
	size_t n = ldns_rr_list_rr_count(got);
	ck_assert_uint_gt(n, 1000);
	ck_assert_uint_eq(soa_serial(ldns_rr_list_rr(got, 0)), 10);
	ck_assert_uint_eq(soa_serial(ldns_rr_list_rr(got, n - 1)), 10);
	ldns_rr_free(ldns_rr_list_pop_rr(got)); /* the closing SOA */
	char *text = file_text(path);
	ldns_rr_list *want = rr_read(text);
	free(text);
	ck_assert_uint_eq(ldns_rr_list_rr_count(got), ldns_rr_list_rr_count(want));
	ck_assert_uint_eq(dist_version_records(v), ldns_rr_list_rr_count(want));
	ck_assert(lists_equal(got, want));
	ldns_rr_list_deep_free(got);
	ldns_rr_list_deep_free(want);
	free(out);
	dist_stats_t st;
	dist_server_stats(srv, &st);
	ck_assert_uint_eq(st.axfr, 1);
	ck_assert_uint_eq(st.refused, 0);
	dist_server_free(srv);
	dist_version_unref(v);
}
END_TEST

/* Versions 1, 2, 3 of the zone, the changesets 1->2 and 2->3 through a journal file, the
 * newest published with them. */
typedef struct chain {
	dist_version_t *v[3];
	char path[3][700];
	size_t cs_records; /* removed + added of both changesets */
} chain_t;

static void chain_make(chain_t *ch, int n)
{
	char jpath[600];
	snprintf(jpath, sizeof(jpath), "%s/example.journal", g_dir);
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	journal_t *j = NULL;
	ck_assert_int_eq(journal_open(jpath, diag, &j), TANDEM_OK);
	ch->cs_records = 0;
	for (uint32_t s = 1; s <= 3; s++) {
		ch->v[s - 1] = version_make(s, n, ch->path[s - 1], sizeof(ch->path[0]));
		if (s > 1) {
			dns_changeset_t *cs = NULL;
			ck_assert_int_eq(dns_zone_diff(dist_version_zone(ch->v[s - 2]),
						       dist_version_zone(ch->v[s - 1]), &cs),
					 TANDEM_OK);
			ch->cs_records += dns_changeset_size(cs);
			ck_assert_int_eq(journal_append(j, cs, diag), TANDEM_OK);
			dns_changeset_free(cs);
		}
	}
	/* what a node does at start: the journal's changesets into the version */
	journal_iter_t it;
	ck_assert_int_eq(journal_iter_init(&it, j, 1), TANDEM_OK);
	for (;;) {
		dns_changeset_t *cs = NULL;
		ck_assert_int_eq(journal_iter_next(&it, diag, &cs), TANDEM_OK);
		if (cs == NULL) {
			break;
		}
		ck_assert_int_eq(dist_version_add_take(ch->v[2], cs), TANDEM_OK);
	}
	uint32_t oldest = 0;
	ck_assert_uint_eq(dist_version_changesets(ch->v[2], &oldest), 2);
	ck_assert_uint_eq(oldest, 1);
	journal_close(j);
	tandem_diag_free(diag);
}

static void chain_free(chain_t *ch)
{
	for (int i = 0; i < 3; i++) {
		dist_version_unref(ch->v[i]);
	}
}

/* Removes rr (same TTL too) from list; false when it is not there. */
static bool rr_take(ldns_rr_list *list, const ldns_rr *rr)
{
	size_t n = ldns_rr_list_rr_count(list);
	for (size_t k = 0; k < n; k++) {
		ldns_rr *have = ldns_rr_list_rr(list, k);
		if (ldns_rr_compare(have, rr) == 0 && ldns_rr_ttl(have) == ldns_rr_ttl(rr)) {
			ldns_rr_free(have);
			ldns_rr_list_set_rr(list, ldns_rr_list_rr(list, n - 1), k);
			ldns_rr_list_set_rr_count(list, n - 1);
			return true;
		}
	}
	return false;
}

/* Applies an IXFR answer (RFC 1995: SOA, then per changeset old SOA, removed, new SOA,
 * added, then SOA) to the records of base; *changed counts the removed and added. */
static void ixfr_apply(ldns_rr_list *base, ldns_rr_list *ixfr, uint32_t to, size_t *changed)
{
	size_t n = ldns_rr_list_rr_count(ixfr);
	ck_assert_uint_ge(n, 2);
	ck_assert_uint_eq(soa_serial(ldns_rr_list_rr(ixfr, 0)), to);
	ck_assert_uint_eq(soa_serial(ldns_rr_list_rr(ixfr, n - 1)), to);
	*changed = 0;
	size_t i = 1;
	while (i < n - 1) {
		ldns_rr *old_soa = ldns_rr_list_rr(ixfr, i++);
		ck_assert_int_eq(ldns_rr_get_type(old_soa), LDNS_RR_TYPE_SOA);
		ck_assert_msg(rr_take(base, old_soa), "IXFR's old SOA is not the base's");
		while (i < n - 1 &&
		       ldns_rr_get_type(ldns_rr_list_rr(ixfr, i)) != LDNS_RR_TYPE_SOA) {
			ck_assert_msg(rr_take(base, ldns_rr_list_rr(ixfr, i)),
				      "IXFR removes a record the old version lacks");
			(*changed)++;
			i++;
		}
		ck_assert_uint_lt(i, n - 1);
		ldns_rr_list_push_rr(base, ldns_rr_clone(ldns_rr_list_rr(ixfr, i++))); /* new SOA */
		while (i < n - 1 &&
		       ldns_rr_get_type(ldns_rr_list_rr(ixfr, i)) != LDNS_RR_TYPE_SOA) {
			ldns_rr_list_push_rr(base, ldns_rr_clone(ldns_rr_list_rr(ixfr, i)));
			(*changed)++;
			i++;
		}
	}
}

START_TEST(ixfr_equals_changesets)
{
	char args[600];
	chain_t ch;
	chain_make(&ch, 40);
	dist_server_t *srv = server_start(NULL, 0, 0);
	ck_assert_int_eq(dist_publish(srv, "example.", ch.v[2]), TANDEM_OK);
	uint16_t port = dist_server_port(srv, 0);
	/* from 1: both changesets; applied to version 1 they give version 3 */
	snprintf(args, sizeof(args), "+tcp %s example. IXFR=1", tsig1());
	char *out = kdig(port, args);
	ldns_rr_list *got = kdig_records(out);
	char *t1 = file_text(ch.path[0]), *t3 = file_text(ch.path[2]);
	ldns_rr_list *base = rr_read(t1), *want = rr_read(t3);
	size_t changed = 0;
	ixfr_apply(base, got, 3, &changed);
	ck_assert_uint_eq(changed, ch.cs_records);
	ck_assert_uint_lt(ldns_rr_list_rr_count(got), ldns_rr_list_rr_count(want));
	ck_assert(lists_equal(base, want));
	ldns_rr_list_deep_free(got);
	ldns_rr_list_deep_free(base);
	free(out);
	/* from 3, the current one: the single SOA */
	snprintf(args, sizeof(args), "+tcp %s example. IXFR=3", tsig1());
	out = kdig(port, args);
	got = kdig_records(out);
	ck_assert_msg(ldns_rr_list_rr_count(got) == 1, "%.400s", out);
	ck_assert_uint_eq(soa_serial(ldns_rr_list_rr(got, 0)), 3);
	ldns_rr_list_deep_free(got);
	free(out);
	/* from 0, an older serial the journal does not hold: the whole zone, AXFR-style */
	snprintf(args, sizeof(args), "+tcp %s example. IXFR=0", tsig1());
	out = kdig(port, args);
	got = kdig_records(out);
	ck_assert_uint_eq(ldns_rr_list_rr_count(got), ldns_rr_list_rr_count(want) + 1);
	ldns_rr_free(ldns_rr_list_pop_rr(got));
	ck_assert(lists_equal(got, want));
	ldns_rr_list_deep_free(got);
	free(out);
	dist_stats_t st;
	dist_server_stats(srv, &st);
	ck_assert_uint_eq(st.ixfr, 1);
	ck_assert_uint_eq(st.ixfr_uptodate, 1);
	ck_assert_uint_eq(st.ixfr_full, 1);
	ck_assert(log_has("serial not in the journal"));
	ldns_rr_list_deep_free(want);
	free(t1);
	free(t3);
	dist_server_free(srv);
	chain_free(&ch);
}
END_TEST

START_TEST(ixfr_ratio_falls_back)
{
	char args[600];
	chain_t ch;
	chain_make(&ch, 40);
	/* a difference of more than 1% of the zone is sent as the zone */
	dist_server_t *srv = server_start(NULL, 0, 0.01);
	ck_assert_int_eq(dist_publish(srv, "example.", ch.v[2]), TANDEM_OK);
	snprintf(args, sizeof(args), "+tcp %s example. IXFR=1", tsig1());
	char *out = kdig(dist_server_port(srv, 0), args);
	ldns_rr_list *got = kdig_records(out);
	ck_assert_uint_eq(ldns_rr_list_rr_count(got), dist_version_records(ch.v[2]) + 1);
	dist_stats_t st;
	dist_server_stats(srv, &st);
	ck_assert_uint_eq(st.ixfr_full, 1);
	ck_assert_uint_eq(st.ixfr, 0);
	ck_assert(log_has("max-ixfr-ratio"));
	ldns_rr_list_deep_free(got);
	free(out);
	dist_server_free(srv);
	chain_free(&ch);
}
END_TEST

START_TEST(tsig_refusals)
{
	char path[700], args[600], wrong[64];
	dist_server_t *srv = server_start(NULL, 0, 0);
	uint16_t port = dist_server_port(srv, 0);
	dist_version_t *v = version_make(5, 5, path, sizeof(path));
	ck_assert_int_eq(dist_publish(srv, "example.", v), TANDEM_OK);
	random_secret(wrong, 32);
	struct {
		const char *args;
		const char *want; /* in kdig's output */
	} cases[4];
	char a0[300], a1[300], a2[300], a3[300];
	snprintf(a0, sizeof(a0), "-y hmac-sha256:key1:%s", wrong);     /* BADSIG */
	snprintf(a1, sizeof(a1), " ");                                 /* no TSIG */
	snprintf(a2, sizeof(a2), "-y hmac-sha256:nokey:%s", g_secret); /* BADKEY */
	snprintf(a3, sizeof(a3), "-y hmac-sha512:key1:%s", g_secret);  /* BADKEY */
	cases[0].args = a0;
	cases[0].want = "BADSIG";
	cases[1].args = a1;
	cases[1].want = "REFUSED";
	cases[2].args = a2;
	cases[2].want = "BADKEY";
	cases[3].args = a3;
	cases[3].want = "BADKEY";
	for (int i = 0; i < 4; i++) {
		for (int tcp = 0; tcp < 2; tcp++) {
			snprintf(args, sizeof(args), "%s %s example. %s", cases[i].args,
				 tcp ? "+tcp" : "", tcp ? "AXFR" : "SOA");
			char *out = kdig(port, args);
			ldns_rr_list *got = kdig_records(out);
			ck_assert_msg(ldns_rr_list_rr_count(got) == 0, "case %d: %.400s", i, out);
			ck_assert_msg(strstr(out, cases[i].want) != NULL, "case %d: %.400s", i,
				      out);
			ldns_rr_list_deep_free(got);
			free(out);
		}
	}
	dist_stats_t st;
	dist_server_stats(srv, &st);
	ck_assert_uint_eq(st.tsig_badsig, 2);
	ck_assert_uint_eq(st.refused_notsig, 2);
	ck_assert_uint_eq(st.tsig_badkey, 4);
	ck_assert_uint_eq(st.refused, 8);
	ck_assert_uint_eq(st.axfr + st.soa, 0);
	ck_assert(log_has("BADSIG") && log_has("BADKEY") && log_has("no TSIG"));
	/* no secret in the log */
	ck_assert(!log_has(g_secret) && !log_has(wrong));
	dist_server_free(srv);
	dist_version_unref(v);
}
END_TEST

START_TEST(acl_refusal)
{
	char path[700], args[600];
	dist_version_t *v = version_make(5, 5, path, sizeof(path));
	/* loopback allowed only with key2; 10/8 with any key */
	static const char *acl[] = {"10.0.0.0/8", "127.0.0.0/8,key2"};
	dist_server_t *srv = server_start(acl, 2, 0);
	ck_assert_int_eq(dist_publish(srv, "example.", v), TANDEM_OK);
	uint16_t port = dist_server_port(srv, 0);
	snprintf(args, sizeof(args), "+tcp %s example. AXFR", tsig1());
	char *out = kdig(port, args);
	ldns_rr_list *got = kdig_records(out);
	ck_assert_msg(ldns_rr_list_rr_count(got) == 0 && strstr(out, "REFUSED") != NULL, "%s", out);
	ldns_rr_list_deep_free(got);
	free(out);
	snprintf(args, sizeof(args), "+tcp -y hmac-sha512:key2:%s example. AXFR", g_secret2);
	out = kdig(port, args);
	got = kdig_records(out);
	ck_assert_msg(ldns_rr_list_rr_count(got) == dist_version_records(v) + 1, "%.400s", out);
	ldns_rr_list_deep_free(got);
	free(out);
	dist_stats_t st;
	dist_server_stats(srv, &st);
	ck_assert_uint_eq(st.refused_acl, 1);
	ck_assert_uint_eq(st.axfr, 1);
	ck_assert(log_has("not in xfr-acl"));
	dist_server_free(srv);
	dist_version_unref(v);
	/* an ACL naming a key no one has, or a bad prefix, is refused at start */
	static const char *bad1[] = {"127.0.0.1,nokey"};
	static const char *bad2[] = {"127.0.0.1/33"};
	static const char *listen[] = {"127.0.0.1:0"};
	for (int i = 0; i < 2; i++) {
		dist_conf_t conf = {.listen = listen,
				    .nlisten = 1,
				    .keys = (const dist_key_t *const *)g_keys,
				    .nkeys = 2,
				    .acl = i == 0 ? bad1 : bad2,
				    .nacl = 1};
		tandem_diag_t *diag = NULL;
		ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
		dist_server_t *s = NULL;
		ck_assert_int_eq(dist_server_new(&conf, diag, &s), TANDEM_ESYNTAX);
		ck_assert_ptr_null(s);
		ck_assert_uint_eq(tandem_diag_count(diag), 1);
		tandem_diag_free(diag);
	}
}
END_TEST

START_TEST(key_file)
{
	char path[600], text[300];
	snprintf(text, sizeof(text), "# the cluster's key\nxfr-key hmac-sha256 %s\n", g_secret);
	ts_write_file(g_dir, "tsig.key", text, path, sizeof(path));
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dist_key_t *k = NULL;
	ck_assert_int_eq(chmod(path, 0640), 0);
	ck_assert_int_eq(dist_key_load(path, diag, &k), TANDEM_EPERM);
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(dist_key_load(path, diag, &k), TANDEM_OK);
	ck_assert_str_eq(dist_key_name(k), "xfr-key.");
	dist_key_free(k);
	const char *bad[] = {"k hmac-md5 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", "k hmac-sha256\n",
			     "k hmac-sha256 not*base64\n", "k hmac-sha256 QUJD\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ts_write_file(g_dir, "bad.key", bad[i], path, sizeof(path));
		ck_assert_int_eq(chmod(path, 0600), 0);
		k = NULL;
		ck_assert_int_eq(dist_key_load(path, diag, &k), TANDEM_ESYNTAX);
		ck_assert_ptr_null(k);
	}
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		ck_assert(strstr(tandem_diag_msg(diag, i), g_secret) == NULL);
	}
	tandem_diag_free(diag);
}
END_TEST

START_TEST(version_changesets)
{
	char path[700];
	dist_version_t *v[3];
	dns_changeset_t *cs[2];
	for (uint32_t s = 1; s <= 3; s++) {
		v[s - 1] = version_make(s, 3, path, sizeof(path));
	}
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(
		    dns_zone_diff(dist_version_zone(v[i]), dist_version_zone(v[i + 1]), &cs[i]),
		    TANDEM_OK);
	}
	/* a changeset that does not follow the last one is refused (and freed) */
	ck_assert_int_eq(dist_version_add_take(v[1], cs[0]), TANDEM_OK);
	dns_changeset_t *again = NULL;
	ck_assert_int_eq(dns_zone_diff(dist_version_zone(v[0]), dist_version_zone(v[1]), &again),
			 TANDEM_OK);
	ck_assert_int_eq(dist_version_add_take(v[1], again), TANDEM_JOURNAL_ESEQ);
	ck_assert_int_eq(dist_version_add_take(v[2], cs[1]), TANDEM_OK);
	/* the depth by count: only v[2]'s own */
	uint32_t oldest = 0;
	ck_assert_int_eq(dist_version_inherit(v[2], v[1], 1, 0), TANDEM_OK);
	ck_assert_uint_eq(dist_version_changesets(v[2], &oldest), 1);
	ck_assert_uint_eq(oldest, 2);
	/* by bytes: the journal size of one entry is not room for two */
	ck_assert_int_eq(dist_version_inherit(v[2], v[1], 0, journal_entry_bytes(cs[1])),
			 TANDEM_OK);
	ck_assert_uint_eq(dist_version_changesets(v[2], NULL), 1);
	/* no limit: v[1]'s changeset is shared in front */
	ck_assert_int_eq(dist_version_inherit(v[2], v[1], 0, 0), TANDEM_OK);
	ck_assert_uint_eq(dist_version_changesets(v[2], &oldest), 2);
	ck_assert_uint_eq(oldest, 1);
	/* publishing: the name must be the origin; a published version takes no more */
	dist_server_t *srv = server_start(NULL, 0, 0);
	ck_assert_int_eq(dist_publish(srv, "other.", v[2]), TANDEM_EINVAL);
	ck_assert_int_eq(dist_publish(srv, "EXAMPLE", v[2]), TANDEM_OK);
	ck_assert_int_eq(dist_version_inherit(v[2], v[1], 0, 0), TANDEM_EPERM);
	dns_changeset_t *late = NULL;
	ck_assert_int_eq(dns_zone_diff(dist_version_zone(v[0]), dist_version_zone(v[1]), &late),
			 TANDEM_OK);
	ck_assert_int_eq(dist_version_add_take(v[2], late), TANDEM_EPERM);
	/* a version whose changesets end below its serial is not served (v[0]'s 1 -> 2 on
	 * a version of serial 3) */
	dist_version_t *odd = version_make(3, 3, path, sizeof(path));
	ck_assert_int_eq(dns_zone_diff(dist_version_zone(v[0]), dist_version_zone(v[1]), &late),
			 TANDEM_OK);
	ck_assert_int_eq(dist_version_add_take(odd, late), TANDEM_OK);
	ck_assert_int_eq(dist_publish(srv, "example.", odd), TANDEM_EINVAL);
	dist_version_unref(odd);
	uint32_t s = 0;
	ck_assert(dist_served_serial(srv, "example.", &s));
	ck_assert_uint_eq(s, 3);
	ck_assert_int_eq(dist_publish(srv, "example.", NULL), TANDEM_OK);
	ck_assert(!dist_served_serial(srv, "example.", &s));
	dist_server_free(srv);
	/* the versions outlive the server: the caller's references */
	ck_assert_uint_eq(dist_version_serial(v[2]), 3);
	for (int i = 0; i < 3; i++) {
		dist_version_unref(v[i]);
	}
}
END_TEST

/* Reads one length-prefixed message; false on EOF or timeout. */
static bool read_msg(int fd, uint8_t *buf, size_t *len)
{
	uint8_t pre[2];
	size_t got = 0;
	while (got < 2) {
		ssize_t r = recv(fd, pre + got, 2 - got, 0);
		if (r <= 0) {
			return false;
		}
		got += (size_t)r;
	}
	*len = ((size_t)pre[0] << 8) | pre[1];
	got = 0;
	while (got < *len) {
		ssize_t r = recv(fd, buf + got, *len - got, 0);
		if (r <= 0) {
			return false;
		}
		got += (size_t)r;
	}
	return true;
}

START_TEST(publish_during_slow_axfr)
{
	char p1[700], p2[700];
	dist_server_t *srv = server_start(NULL, 0, 0);
	dist_version_t *v1 = version_make(20, 3000, p1, sizeof(p1));
	dist_version_t *v2 = version_make(21, 3000, p2, sizeof(p2));
	ck_assert_int_eq(dist_publish(srv, "example.", v1), TANDEM_OK);
	/* a client with a small receive window: the server cannot run ahead by much */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int small = 4096;
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	struct timeval tv = {.tv_sec = 30};
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(dist_server_port(srv, 0))};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ldns_pkt *q = NULL;
	ck_assert(ldns_pkt_query_new_frm_str(&q, "example.", LDNS_RR_TYPE_AXFR, LDNS_RR_CLASS_IN,
					     0) == LDNS_STATUS_OK);
	ldns_pkt_set_id(q, 4242);
	ck_assert(ldns_pkt_tsig_sign(q, "key1.", g_secret, 300, "hmac-sha256.", NULL) ==
		  LDNS_STATUS_OK);
	uint8_t *wire = NULL;
	size_t wlen = 0;
	ck_assert(ldns_pkt2wire(&wire, q, &wlen) == LDNS_STATUS_OK);
	uint8_t pre[2] = {(uint8_t)(wlen >> 8), (uint8_t)wlen};
	ck_assert_int_eq(send(fd, pre, 2, 0), 2);
	ck_assert_int_eq(send(fd, wire, wlen, 0), (ssize_t)wlen);
	free(wire);
	ldns_pkt_free(q);
	static uint8_t buf[65536];
	size_t len = 0;
	ldns_rr_list *got = ldns_rr_list_new();
	int msgs = 0;
	bool end = false;
	while (!end) {
		ck_assert_msg(read_msg(fd, buf, &len), "the AXFR broke off after %d messages",
			      msgs);
		ldns_pkt *m = NULL;
		ck_assert(ldns_wire2pkt(&m, buf, len) == LDNS_STATUS_OK);
		ck_assert_int_eq(ldns_pkt_get_rcode(m), LDNS_RCODE_NOERROR);
		ck_assert_ptr_nonnull(ldns_pkt_tsig(m)); /* every message signed */
		const ldns_rr_list *an = ldns_pkt_answer(m);
		for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
			ldns_rr *rr = ldns_rr_clone(ldns_rr_list_rr(an, i));
			ldns_rr2canonical(rr);
			ldns_rr_list_push_rr(got, rr);
		}
		ldns_pkt_free(m);
		if (++msgs == 1) {
			/* the new version goes live while the transfer is at its start */
			ck_assert_int_eq(dist_publish(srv, "example.", v2), TANDEM_OK);
			uint32_t s = 0;
			ck_assert(dist_served_serial(srv, "example.", &s));
			ck_assert_uint_eq(s, 21);
		}
		size_t n = ldns_rr_list_rr_count(got);
		end = n > 1 && ldns_rr_get_type(ldns_rr_list_rr(got, n - 1)) == LDNS_RR_TYPE_SOA;
		if (msgs % 16 == 0) {
			usleep(10000); /* slow reader */
		}
	}
	close(fd);
	ck_assert_int_gt(msgs, 10);
	size_t n = ldns_rr_list_rr_count(got);
	ck_assert_uint_eq(soa_serial(ldns_rr_list_rr(got, n - 1)), 20);
	ldns_rr_free(ldns_rr_list_pop_rr(got));
	char *text = file_text(p1);
	ldns_rr_list *want = rr_read(text);
	free(text);
	ck_assert(lists_equal(got, want));
	ldns_rr_list_deep_free(got);
	ldns_rr_list_deep_free(want);
	/* the next transfer is of the new version */
	char args[600];
	snprintf(args, sizeof(args), "%s example. SOA", tsig1());
	char *out = kdig(dist_server_port(srv, 0), args);
	got = kdig_records(out);
	ck_assert_msg(ldns_rr_list_rr_count(got) == 1, "%.400s", out);
	ck_assert_uint_eq(soa_serial(ldns_rr_list_rr(got, 0)), 21);
	ldns_rr_list_deep_free(got);
	free(out);
	dist_server_free(srv);
	dist_version_unref(v1);
	dist_version_unref(v2);
}
END_TEST

/*
 * A transfer read by hand over TCP (qtype AXFR, or IXFR from serial `from`), signed with
 * key/alg/secret: every message's TSIG checked with ldns' own verifier (RFC 8945 5.3.1: the
 * first over the request's MAC, each next over the previous MAC and the timers only), and
 * the records gathered (canonical) in *got. Returns the messages; *bytes: their total size,
 * *plain: what the records would take uncompressed.
 */
static int xfr_verified(uint16_t port, ldns_rr_type qtype, uint32_t from, const char *key,
			const char *alg, const char *secret, ldns_rr_list *got, size_t *bytes,
			size_t *plain)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = {.tv_sec = 30};
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ldns_pkt *q = NULL;
	ck_assert(ldns_pkt_query_new_frm_str(&q, "example.", qtype, LDNS_RR_CLASS_IN, 0) ==
		  LDNS_STATUS_OK);
	ldns_pkt_set_id(q, 777);
	if (qtype == LDNS_RR_TYPE_IXFR) {
		char text[200];
		snprintf(text, sizeof(text), "example. 0 IN SOA . . %u 0 0 0 0", from);
		ldns_rr *soa = NULL;
		ck_assert(ldns_rr_new_frm_str(&soa, text, 0, NULL, NULL) == LDNS_STATUS_OK);
		ck_assert(ldns_pkt_push_rr(q, LDNS_SECTION_AUTHORITY, soa));
	}
	ck_assert(ldns_pkt_tsig_sign(q, key, secret, 300, alg, NULL) == LDNS_STATUS_OK);
	ldns_rdf *mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(q), 3));
	uint8_t *wire = NULL;
	size_t wlen = 0;
	ck_assert(ldns_pkt2wire(&wire, q, &wlen) == LDNS_STATUS_OK);
	uint8_t pre[2] = {(uint8_t)(wlen >> 8), (uint8_t)wlen};
	ck_assert_int_eq(send(fd, pre, 2, 0), 2);
	ck_assert_int_eq(send(fd, wire, wlen, 0), (ssize_t)wlen);
	free(wire);
	ldns_pkt_free(q);
	static uint8_t buf[65536];
	size_t len = 0;
	int msgs = 0;
	size_t soas = 0;
	*bytes = *plain = 0;
	bool end = false;
	while (!end) {
		ck_assert_msg(read_msg(fd, buf, &len), "the transfer broke off after %d messages",
			      msgs);
		*bytes += len;
		ldns_pkt *m = NULL;
		ck_assert(ldns_wire2pkt(&m, buf, len) == LDNS_STATUS_OK);
		ck_assert_int_eq(ldns_pkt_get_rcode(m), LDNS_RCODE_NOERROR);
		ck_assert_uint_eq(ldns_pkt_id(m), 777);
		ck_assert(ldns_pkt_qr(m) && ldns_pkt_aa(m));
		ck_assert_ptr_nonnull(ldns_pkt_tsig(m));
		ck_assert_msg(ldns_pkt_tsig_verify_next(m, buf, len, key, secret, mac, msgs > 0),
			      "message %d: its TSIG does not verify", msgs);
		ldns_rdf_deep_free(mac);
		mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(m), 3));
		const ldns_rr_list *an = ldns_pkt_answer(m);
		ck_assert_uint_gt(ldns_rr_list_rr_count(an), 0);
		for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
			ldns_rr *rr = ldns_rr_clone(ldns_rr_list_rr(an, i));
			*plain += ldns_rr_uncompressed_size(rr);
			ldns_rr2canonical(rr);
			ldns_rr_list_push_rr(got, rr);
			if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA &&
			    soa_serial(rr) == soa_serial(ldns_rr_list_rr(got, 0))) {
				soas++;
			}
		}
		ldns_pkt_free(m);
		msgs++;
		/* the end: the closing SOA (an IXFR holds the new SOA a third time inside) */
		size_t n = ldns_rr_list_rr_count(got);
		end = n > 1 && ldns_rr_get_type(ldns_rr_list_rr(got, n - 1)) == LDNS_RR_TYPE_SOA &&
		      soas == (qtype == LDNS_RR_TYPE_IXFR ? 3 : 2);
	}
	ldns_rdf_deep_free(mac);
	close(fd);
	return msgs;
}

START_TEST(xfr_messages_verify)
{
	chain_t ch;
	chain_make(&ch, 400);
	dist_server_t *srv = server_start(NULL, 0, 0);
	ck_assert_int_eq(dist_publish(srv, "example.", ch.v[2]), TANDEM_OK);
	uint16_t port = dist_server_port(srv, 0);
	char *t1 = file_text(ch.path[0]), *t3 = file_text(ch.path[2]);
	ldns_rr_list *base = rr_read(t1), *want = rr_read(t3);
	free(t1);
	free(t3);
	/* AXFR, hmac-sha512: many messages, each verified; exactly the zone's records */
	ldns_rr_list *got = ldns_rr_list_new();
	size_t bytes = 0, plain = 0;
	int msgs = xfr_verified(port, LDNS_RR_TYPE_AXFR, 0, "key2.", "hmac-sha512.", g_secret2, got,
				&bytes, &plain);
	ck_assert_int_gt(msgs, 4);
	size_t n = ldns_rr_list_rr_count(got);
	ck_assert_uint_eq(soa_serial(ldns_rr_list_rr(got, n - 1)), 3);
	ldns_rr_free(ldns_rr_list_pop_rr(got));
	ck_assert_uint_eq(ldns_rr_list_rr_count(got), ldns_rr_list_rr_count(want));
	ldns_rr_list *want_copy = ldns_rr_list_clone(want);
	ck_assert(lists_equal(got, want_copy));
	ldns_rr_list_deep_free(want_copy);
	ldns_rr_list_deep_free(got);
	/* names were compressed: well under the records' uncompressed size */
	ck_assert_msg(bytes < plain * 9 / 10, "%zu bytes for %zu uncompressed", bytes, plain);
	/* IXFR from 1, hmac-sha256: applied to version 1 it gives version 3 */
	got = ldns_rr_list_new();
	xfr_verified(port, LDNS_RR_TYPE_IXFR, 1, "key1.", "hmac-sha256.", g_secret, got, &bytes,
		     &plain);
	size_t changed = 0;
	ixfr_apply(base, got, 3, &changed);
	ck_assert_uint_eq(changed, ch.cs_records);
	ck_assert(lists_equal(base, want));
	ldns_rr_list_deep_free(got);
	ldns_rr_list_deep_free(base);
	ldns_rr_list_deep_free(want);
	dist_server_free(srv);
	chain_free(&ch);
}
END_TEST

/* A record of about 64 KB after smaller ones: it does not fit the message they are in, so it
 * opens the next one; nothing is lost or repeated. */
START_TEST(axfr_big_record)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/big.zone", g_dir);
	FILE *fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	/* absolute names: rr_read skips $ lines */
	fprintf(fp, "example. 3600 SOA ns1.example. admin.example. 5 3600 900 604800 300\n"
		    "example. 3600 NS ns1.example.\nns1.example. 3600 A 192.0.2.1\n");
	for (int i = 0; i < 400; i++) {
		fprintf(fp,
			"a%03d.example. 3600 TXT \"a record of some size, number %d, before the "
			"big one\"\n",
			i, i);
	}
	fprintf(fp, "big.example. 3600 TXT");
	for (int i = 0; i < 250; i++) {
		fprintf(fp, " \"%0254d\"", i);
	}
	fprintf(fp, "\nz.example. 3600 TXT \"after\"\n");
	fclose(fp);
	dist_version_t *v = NULL;
	ck_assert_int_eq(dist_version_new_take(load_zone(path), &v), TANDEM_OK);
	dist_server_t *srv = server_start(NULL, 0, 0);
	ck_assert_int_eq(dist_publish(srv, "example.", v), TANDEM_OK);
	ldns_rr_list *got = ldns_rr_list_new();
	size_t bytes = 0, plain = 0;
	int msgs = xfr_verified(dist_server_port(srv, 0), LDNS_RR_TYPE_AXFR, 0, "key1.",
				"hmac-sha256.", g_secret, got, &bytes, &plain);
	ck_assert_int_ge(msgs, 3);
	ldns_rr_free(ldns_rr_list_pop_rr(got));
	char *text = file_text(path);
	ldns_rr_list *want = rr_read(text);
	free(text);
	ck_assert_uint_eq(ldns_rr_list_rr_count(got), 405);
	ck_assert(lists_equal(got, want));
	ldns_rr_list_deep_free(got);
	ldns_rr_list_deep_free(want);
	dist_server_free(srv);
	dist_version_unref(v);
}
END_TEST

/* Sends the rawlen bytes of raw over UDP to the server; the answer's bytes into buf (cap),
 * its length returned, 0 when none came within 5 s. */
static size_t udp_raw(uint16_t port, const uint8_t *raw, size_t rawlen, uint8_t *buf, size_t cap)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct timeval tv = {.tv_sec = 5};
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(sendto(fd, raw, rawlen, 0, (struct sockaddr *)&sa, sizeof(sa)),
			 (ssize_t)rawlen);
	ssize_t got = recv(fd, buf, cap, 0);
	close(fd);
	return got > 0 ? (size_t)got : 0;
}

/* Sends q (signed with key1 when sign) over UDP to the server and returns the answer, or
 * NULL when none came within 5 s. */
static ldns_pkt *udp_ask(uint16_t port, ldns_pkt *q, bool sign, const uint8_t *raw, size_t rawlen)
{
	uint8_t *wire = NULL;
	size_t wlen = 0;
	if (q != NULL) {
		if (sign) {
			ck_assert(ldns_pkt_tsig_sign(q, "key1.", g_secret, 300, "hmac-sha256.",
						     NULL) == LDNS_STATUS_OK);
		}
		ck_assert(ldns_pkt2wire(&wire, q, &wlen) == LDNS_STATUS_OK);
		raw = wire;
		rawlen = wlen;
	}
	static uint8_t buf[65536];
	size_t got = udp_raw(port, raw, rawlen, buf, sizeof(buf));
	free(wire);
	ldns_pkt *a = NULL;
	if (got > 0) {
		ck_assert(ldns_wire2pkt(&a, buf, got) == LDNS_STATUS_OK);
	}
	return a;
}

static ldns_pkt *query(const char *name, ldns_rr_type t)
{
	ldns_pkt *q = NULL;
	ck_assert(ldns_pkt_query_new_frm_str(&q, name, t, LDNS_RR_CLASS_IN, 0) == LDNS_STATUS_OK);
	ldns_pkt_set_id(q, 777);
	return q;
}

START_TEST(odd_requests)
{
	char path[700];
	dist_server_t *srv = server_start(NULL, 0, 0);
	uint16_t port = dist_server_port(srv, 0);
	dist_version_t *v = version_make(9, 3, path, sizeof(path));
	ck_assert_int_eq(dist_publish(srv, "example.", v), TANDEM_OK);
	/* AXFR over UDP: NOTIMP, signed */
	ldns_pkt *q = query("example.", LDNS_RR_TYPE_AXFR);
	ldns_pkt *a = udp_ask(port, q, true, NULL, 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(ldns_pkt_get_rcode(a), LDNS_RCODE_NOTIMPL);
	ck_assert_ptr_nonnull(ldns_pkt_tsig(a));
	ck_assert_uint_eq(ldns_pkt_id(a), 777);
	ldns_pkt_free(a);
	ldns_pkt_free(q);
	/* NOTIFY (another opcode): NOTIMP */
	q = query("example.", LDNS_RR_TYPE_SOA);
	ldns_pkt_set_opcode(q, LDNS_PACKET_NOTIFY);
	a = udp_ask(port, q, true, NULL, 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(ldns_pkt_get_rcode(a), LDNS_RCODE_NOTIMPL);
	ldns_pkt_free(a);
	ldns_pkt_free(q);
	/* IXFR over UDP from an old serial: the single SOA (the client goes to TCP) */
	q = query("example.", LDNS_RR_TYPE_IXFR);
	ldns_rr *soa = NULL;
	ck_assert(ldns_rr_new_frm_str(&soa, "example. 3600 IN SOA a. b. 1 1 1 1 1", 0, NULL,
				      NULL) == LDNS_STATUS_OK);
	ldns_pkt_push_rr(q, LDNS_SECTION_AUTHORITY, soa);
	a = udp_ask(port, q, true, NULL, 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(ldns_pkt_get_rcode(a), LDNS_RCODE_NOERROR);
	ck_assert_uint_eq(ldns_pkt_ancount(a), 1);
	ck_assert_uint_eq(soa_serial(ldns_rr_list_rr(ldns_pkt_answer(a), 0)), 9);
	ldns_pkt_free(a);
	ldns_pkt_free(q);
	/* an IXFR without the client's SOA: FORMERR */
	q = query("example.", LDNS_RR_TYPE_IXFR);
	a = udp_ask(port, q, true, NULL, 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(ldns_pkt_get_rcode(a), LDNS_RCODE_FORMERR);
	ldns_pkt_free(a);
	ldns_pkt_free(q);
	/* a type the server does not serve, and a zone it does not: REFUSED, NOTAUTH */
	q = query("example.", LDNS_RR_TYPE_A);
	a = udp_ask(port, q, true, NULL, 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(ldns_pkt_get_rcode(a), LDNS_RCODE_REFUSED);
	ldns_pkt_free(a);
	ldns_pkt_free(q);
	q = query("other.", LDNS_RR_TYPE_SOA);
	a = udp_ask(port, q, true, NULL, 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(ldns_pkt_get_rcode(a), LDNS_RCODE_NOTAUTH);
	ldns_pkt_free(a);
	ldns_pkt_free(q);
	/* garbage: no answer, counted */
	static const uint8_t junk[] = {1, 2, 3, 4, 5, 6, 7};
	ck_assert_ptr_null(udp_ask(port, NULL, false, junk, sizeof(junk)));
	/* a signed query whose bytes were changed after signing: BADSIG */
	q = query("example.", LDNS_RR_TYPE_SOA);
	ck_assert(ldns_pkt_tsig_sign(q, "key1.", g_secret, 300, "hmac-sha256.", NULL) ==
		  LDNS_STATUS_OK);
	uint8_t *wire = NULL;
	size_t wlen = 0;
	ck_assert(ldns_pkt2wire(&wire, q, &wlen) == LDNS_STATUS_OK);
	wire[2] ^= 0x01; /* the RD flag */
	a = udp_ask(port, NULL, false, wire, wlen);
	free(wire);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(ldns_pkt_get_rcode(a), LDNS_RCODE_NOTAUTH);
	ck_assert_uint_eq(ldns_rdf2native_int16(ldns_rr_rdf(ldns_pkt_tsig(a), 5)), 16);
	ldns_pkt_free(a);
	ldns_pkt_free(q);
	dist_stats_t st;
	dist_server_stats(srv, &st);
	ck_assert_uint_eq(st.notimp, 2);
	ck_assert_uint_eq(st.ixfr_uptodate, 1);
	ck_assert_uint_eq(st.malformed, 2); /* FORMERR and the junk */
	ck_assert_uint_eq(st.notauth, 1);
	ck_assert_uint_eq(st.tsig_badsig, 1);
	ck_assert_uint_eq(st.queries, 8);
	dist_server_free(srv);
	dist_version_unref(v);
}
END_TEST

/*
 * A request signed by hand (ldns signs only with the current time) with key1 at time
 * signed_at, fudge 300: the message's wire, its TSIG appended (RFC 8945 4.2, 4.3.3).
 */
static size_t request_signed_at(uint64_t signed_at, uint8_t *out, size_t cap)
{
	ldns_pkt *q = query("example.", LDNS_RR_TYPE_SOA);
	uint8_t *wire = NULL;
	size_t wlen = 0;
	ck_assert(ldns_pkt2wire(&wire, q, &wlen) == LDNS_STATUS_OK);
	ldns_pkt_free(q);
	static const uint8_t kname[] = "\004key1";      /* key1. */
	static const uint8_t alg[] = "\013hmac-sha256"; /* hmac-sha256. */
	uint8_t vars[64];
	size_t n = 0;
	memcpy(vars, kname, sizeof(kname)); /* with the root's 0 */
	n += sizeof(kname);
	static const uint8_t any_ttl0[] = {0, 255, 0, 0, 0, 0};
	memcpy(vars + n, any_ttl0, sizeof(any_ttl0));
	n += sizeof(any_ttl0);
	memcpy(vars + n, alg, sizeof(alg));
	n += sizeof(alg);
	uint8_t timers[8];
	for (int i = 0; i < 6; i++) {
		timers[i] = (uint8_t)(signed_at >> (8 * (5 - i)));
	}
	timers[6] = 300 >> 8;
	timers[7] = 300 & 0xff;
	memcpy(vars + n, timers, sizeof(timers));
	n += sizeof(timers);
	memset(vars + n, 0, 4); /* error 0, no other data */
	n += 4;
	uint8_t key[64];
	int klen = EVP_DecodeBlock(key, (const unsigned char *)g_secret, (int)strlen(g_secret));
	ck_assert_int_ge(klen, 32);
	uint8_t *digest_in = malloc(wlen + n);
	memcpy(digest_in, wire, wlen);
	memcpy(digest_in + wlen, vars, n);
	uint8_t mac[64];
	size_t maclen = 0;
	ck_assert_ptr_nonnull(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, 32, digest_in,
					wlen + n, mac, sizeof(mac), &maclen));
	ck_assert_uint_eq(maclen, 32);
	free(digest_in);
	ck_assert_uint_le(wlen + 200, cap);
	memcpy(out, wire, wlen);
	size_t len = wlen;
	free(wire);
	memcpy(out + len, kname, sizeof(kname));
	len += sizeof(kname);
	static const uint8_t tsig_any_ttl0[] = {0, 250, 0, 255, 0, 0, 0, 0};
	memcpy(out + len, tsig_any_ttl0, sizeof(tsig_any_ttl0));
	len += sizeof(tsig_any_ttl0);
	size_t rdlen = sizeof(alg) + 8 + 2 + maclen + 6;
	out[len++] = (uint8_t)(rdlen >> 8);
	out[len++] = (uint8_t)rdlen;
	memcpy(out + len, alg, sizeof(alg));
	len += sizeof(alg);
	memcpy(out + len, timers, sizeof(timers));
	len += sizeof(timers);
	out[len++] = 0;
	out[len++] = (uint8_t)maclen;
	memcpy(out + len, mac, maclen);
	len += maclen;
	memcpy(out + len, out, 2); /* original id */
	len += 2;
	memset(out + len, 0, 4);
	len += 4;
	out[11]++; /* ARCOUNT */
	return len;
}

/* RFC 8945 5.2.3: a request whose MAC verifies but whose time is outside the fudge gets
 * NOTAUTH/BADTIME signed with its key, the request's time, and our time in Other Data. */
START_TEST(badtime_signed)
{
	char path[700];
	dist_server_t *srv = server_start(NULL, 0, 0);
	uint16_t port = dist_server_port(srv, 0);
	dist_version_t *v = version_make(9, 3, path, sizeof(path));
	ck_assert_int_eq(dist_publish(srv, "example.", v), TANDEM_OK);
	uint8_t req[1024];
	uint64_t t0 = (uint64_t)time(NULL);
	uint64_t skewed = t0 - 3600; /* an hour behind: outside the fudge of 300 */
	size_t rlen = request_signed_at(skewed, req, sizeof(req));
	ldns_pkt *q = NULL;
	ck_assert(ldns_wire2pkt(&q, req, rlen) == LDNS_STATUS_OK);
	ck_assert_ptr_nonnull(ldns_pkt_tsig(q));
	ldns_rdf *qmac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(q), 3));
	static uint8_t buf[65536];
	size_t len = udp_raw(port, req, rlen, buf, sizeof(buf));
	uint64_t t1 = (uint64_t)time(NULL);
	ck_assert_uint_gt(len, 0);
	ldns_pkt *a = NULL;
	ck_assert(ldns_wire2pkt(&a, buf, len) == LDNS_STATUS_OK);
	ck_assert_int_eq(ldns_pkt_get_rcode(a), LDNS_RCODE_NOTAUTH);
	ck_assert_uint_eq(ldns_pkt_ancount(a), 0);
	ldns_rr *t = ldns_pkt_tsig(a);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(ldns_rdf2native_int16(ldns_rr_rdf(t, 5)), 18); /* BADTIME */
	/* the MAC is there and verifies with the key over the request's MAC */
	ck_assert_uint_eq(ldns_rdf_size(ldns_rr_rdf(t, 3)), 2 + 32);
	ck_assert_msg(ldns_pkt_tsig_verify(a, buf, len, "key1.", g_secret, qmac),
		      "the BADTIME answer's MAC does not verify");
	/* the request's time, and ours (6 bytes) in Other Data */
	const ldns_rdf *tr = ldns_rr_rdf(t, 1);
	ck_assert_uint_eq(ldns_rdf_size(tr), 6);
	uint64_t ts = 0;
	for (int i = 0; i < 6; i++) {
		ts = (ts << 8) | ldns_rdf_data(tr)[i];
	}
	ck_assert_uint_eq(ts, skewed);
	const ldns_rdf *od = ldns_rr_rdf(t, 6);
	ck_assert_uint_eq(ldns_rdf_size(od), 2 + 6);
	ck_assert_uint_eq(ldns_rdf_data(od)[1], 6);
	uint64_t ours = 0;
	for (int i = 0; i < 6; i++) {
		ours = (ours << 8) | ldns_rdf_data(od)[2 + i];
	}
	ck_assert(ours >= t0 && ours <= t1);
	/* a MAC over other bytes does not verify: the check above can fail */
	buf[len - 1] ^= 1;
	ldns_pkt *bad = NULL;
	ck_assert(ldns_wire2pkt(&bad, buf, len) == LDNS_STATUS_OK);
	ck_assert(!ldns_pkt_tsig_verify(bad, buf, len, "key1.", g_secret, qmac));
	ldns_pkt_free(bad);
	dist_stats_t st;
	dist_server_stats(srv, &st);
	ck_assert_uint_eq(st.tsig_badtime, 1);
	ck_assert_uint_eq(st.soa, 0);
	ck_assert(log_has("BADTIME"));
	ldns_pkt_free(a);
	ldns_pkt_free(q);
	ldns_rdf_deep_free(qmac);
	dist_server_free(srv);
	dist_version_unref(v);
}
END_TEST

/* A version held for the compare (dist_hold) goes only to a peer's AXFR that names its
 * serial (dist_fetch_version): SOA and a plain AXFR still get the published one; the fetch
 * gets exactly the held zone over many TSIG-verified messages, the published serial too, and
 * a serial neither held nor served, a wrong key or a dropped hold are refused. */
START_TEST(held_version_fetch)
{
	char path10[700], path12[700], args[600];
	dist_server_t *srv = server_start(NULL, 0, 0);
	uint16_t port = dist_server_port(srv, 0);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	dist_version_t *v10 = version_make(10, 300, path10, sizeof(path10));
	dist_version_t *v12 = version_make(12, 300, path12, sizeof(path12));
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *got = NULL;
	/* held before anything is published: fetched, but not served */
	ck_assert_int_eq(dist_hold(srv, "example.", v12), TANDEM_OK);
	uint32_t s = 0;
	ck_assert(!dist_served_serial(srv, "example.", &s));
	ck_assert_int_eq(dist_fetch_version(addr, "example.", 12, g_keys[0], 20000, diag, &got),
			 TANDEM_OK);
	dns_zone_free(got);
	got = NULL;
	ck_assert_int_eq(dist_publish(srv, "example.", v10), TANDEM_OK);
	snprintf(args, sizeof(args), "+tcp %s example. AXFR", tsig1());
	char *out = kdig(port, args);
	ldns_rr_list *recs = kdig_records(out);
	ck_assert_uint_gt(ldns_rr_list_rr_count(recs), 1000);
	ck_assert_uint_eq(soa_serial(ldns_rr_list_rr(recs, 0)), 10);
	ldns_rr_list_deep_free(recs);
	free(out);
	/* the held serial, byte for byte the zone (same zone digest) */
	ck_assert_int_eq(dist_fetch_version(addr, "example.", 12, g_keys[1], 20000, diag, &got),
			 TANDEM_OK);
	uint8_t a[DNS_DIGEST_LEN], b[DNS_DIGEST_LEN];
	ck_assert_int_eq(dns_zone_digest(got, a), TANDEM_OK);
	ck_assert_int_eq(dns_zone_digest(dist_version_zone(v12), b), TANDEM_OK);
	ck_assert_mem_eq(a, b, DNS_DIGEST_LEN);
	dns_zone_free(got);
	got = NULL;
	ck_assert_int_eq(dist_fetch_version(addr, "example.", 10, g_keys[0], 20000, diag, &got),
			 TANDEM_OK);
	ck_assert_int_eq(dns_zone_soa_serial(got, &s), TANDEM_OK);
	ck_assert_uint_eq(s, 10);
	dns_zone_free(got);
	got = NULL;
	/* neither held nor served */
	tandem_diag_clear(diag);
	ck_assert_int_eq(dist_fetch_version(addr, "example.", 11, g_keys[0], 20000, diag, &got),
			 TANDEM_EIO);
	ck_assert_ptr_null(got);
	ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, 0), "REFUSED"));
	ck_assert(log_has("serial 11 is neither held nor served here (10 is)"));
	/* the right name, another secret: nothing accepted */
	char other[64];
	random_secret(other, 32);
	dist_key_t *bad = NULL;
	ck_assert_int_eq(dist_key_new("key1", "hmac-sha256", other, diag, &bad), TANDEM_OK);
	tandem_diag_clear(diag);
	ck_assert_int_ne(dist_fetch_version(addr, "example.", 12, bad, 20000, diag, &got),
			 TANDEM_OK);
	ck_assert_ptr_null(got);
	dist_key_free(bad);
	/* the hold dropped: refused */
	ck_assert_int_eq(dist_hold(srv, "example.", NULL), TANDEM_OK);
	ck_assert_int_eq(dist_fetch_version(addr, "example.", 12, g_keys[0], 20000, diag, &got),
			 TANDEM_EIO);
	/* nothing listens: a clear failure within the time given */
	dist_server_free(srv);
	tandem_diag_clear(diag);
	ck_assert_int_eq(dist_fetch_version(addr, "example.", 12, g_keys[0], 5000, diag, &got),
			 TANDEM_EIO);
	ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, 0), "connect"));
	tandem_diag_free(diag);
	dist_version_unref(v10);
	dist_version_unref(v12);
}
END_TEST

static Suite *dist_suite(void)
{
	Suite *s = suite_create("dist");
	TCase *tc = tcase_create("server");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, soa_udp_and_tcp);
	tcase_add_test(tc, axfr_equals_zone);
	tcase_add_test(tc, ixfr_equals_changesets);
	tcase_add_test(tc, ixfr_ratio_falls_back);
	tcase_add_test(tc, tsig_refusals);
	tcase_add_test(tc, acl_refusal);
	tcase_add_test(tc, key_file);
	tcase_add_test(tc, version_changesets);
	tcase_add_test(tc, odd_requests);
	tcase_add_test(tc, badtime_signed);
	tcase_add_test(tc, publish_during_slow_axfr);
	tcase_add_test(tc, xfr_messages_verify);
	tcase_add_test(tc, axfr_big_record);
	tcase_add_test(tc, held_version_fetch);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(dist_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
