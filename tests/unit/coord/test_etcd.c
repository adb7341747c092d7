/* Unit tests of the etcd client against a real single-member etcd and a fake, lying one. */
#include "coord_etcd.h"
#include "etcd_fixture.h"
#include "tandem_diag.h"
#include "tandem_error.h"
#include "testsupport.h"

#include <check.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The suite's etcd, started in main() before the tests fork. */
static etcd_proc_t suite_etcd;

/* ---- helpers ------------------------------------------------------------------------------ */

static void dump_diag(const tandem_diag_t *diag)
{
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		fprintf(stderr, "  diag: %s\n", tandem_diag_msg(diag, i));
	}
}

static coord_etcd_t *client_on(const char *ep, unsigned timeout_ms)
{
	const char *eps[] = {ep};
	coord_etcd_opts_t o = {.timeout_ms = timeout_ms};
	coord_etcd_t *c = NULL;
	ck_assert_int_eq(coord_etcd_new(eps, 1, &o, NULL, &c), TANDEM_OK);
	return c;
}

static coord_etcd_t *client(void)
{
	return client_on(suite_etcd.endpoint, 2000);
}

/* Unconditional put of a text value; returns the revision. */
static int64_t put_text(coord_etcd_t *c, const char *key, const char *value, int64_t lease)
{
	coord_etcd_txn_t *t = NULL;
	coord_etcd_txn_result_t *r = NULL;
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_new(&t), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_put(t, key, value, strlen(value), lease), TANDEM_OK);
	int rc = coord_etcd_txn_commit(c, t, diag, &r);
	if (rc != TANDEM_OK) {
		dump_diag(diag);
	}
	ck_assert_int_eq(rc, TANDEM_OK);
	ck_assert(r->succeeded);
	int64_t rev = r->revision;
	coord_etcd_txn_result_free(r);
	coord_etcd_txn_free(t);
	tandem_diag_free(diag);
	return rev;
}

/* Reads key; returns its range (n 0 or 1). */
static coord_etcd_range_t *get(coord_etcd_t *c, const char *key)
{
	coord_etcd_range_t *r = NULL;
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	int rc = coord_etcd_get(c, key, 0, diag, &r);
	if (rc != TANDEM_OK) {
		dump_diag(diag);
	}
	ck_assert_int_eq(rc, TANDEM_OK);
	tandem_diag_free(diag);
	return r;
}

static bool key_present(coord_etcd_t *c, const char *key)
{
	coord_etcd_range_t *r = get(c, key);
	bool present = r->n == 1;
	coord_etcd_range_free(r);
	return present;
}

/* ---- endpoints ------------------------------------------------------------------------------ */

/* writes text to dir/name (path, size) with mode; returns path */
static const char *tls_file(const char *dir, const char *name, const char *text, mode_t mode,
			    char *path, size_t size)
{
	snprintf(path, size, "%s/%s", dir, name);
	FILE *fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

/* TLS options: all three or none, https only with them, files there, the key private */
START_TEST(test_tls_options)
{
	char dir[] = "/tmp/tandem-etcd-tls.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char ca[256], cert[256], key[256], loose[256], missing[256];
	tls_file(dir, "ca.pem", "-----BEGIN CERTIFICATE-----\n", 0644, ca, sizeof(ca));
	tls_file(dir, "c.pem", "-----BEGIN CERTIFICATE-----\n", 0644, cert, sizeof(cert));
	tls_file(dir, "c.key", "-----BEGIN PRIVATE KEY-----\n", 0600, key, sizeof(key));
	tls_file(dir, "loose.key", "-----BEGIN PRIVATE KEY-----\n", 0640, loose, sizeof(loose));
	snprintf(missing, sizeof(missing), "%s/none.pem", dir);
	const char *https[] = {"https://127.0.0.1:2379"};
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	coord_etcd_t *c = NULL;

	/* https without TLS options: refused, said */
	ck_assert_int_eq(coord_etcd_new(https, 1, NULL, diag, &c), TANDEM_EINVAL);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, 0), "need a CA"));
	struct {
		const char *ca, *cert, *key;
		int want;
		const char *says;
	} cases[] = {
	    {ca, NULL, NULL, TANDEM_EINVAL, "together"},
	    {ca, cert, NULL, TANDEM_EINVAL, "together"},
	    {NULL, cert, key, TANDEM_EINVAL, "together"},
	    {missing, cert, key, TANDEM_ENOENT, "none.pem"},
	    {ca, missing, key, TANDEM_ENOENT, "none.pem"},
	    {ca, cert, missing, TANDEM_ENOENT, "none.pem"},
	    {ca, cert, loose, TANDEM_EPERM, "group or others"},
	    {ca, cert, key, TANDEM_OK, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		coord_etcd_opts_t o = {
		    .tls_ca = cases[i].ca, .tls_cert = cases[i].cert, .tls_key = cases[i].key};
		tandem_diag_clear(diag);
		int ret = coord_etcd_new(https, 1, &o, diag, &c);
		ck_assert_msg(ret == cases[i].want, "case %zu: %d, want %d", i, ret, cases[i].want);
		if (cases[i].says != NULL) {
			ck_assert_ptr_null(c);
			ck_assert_msg(strstr(tandem_diag_msg(diag, 0), cases[i].says) != NULL,
				      "case %zu: '%s'", i, tandem_diag_msg(diag, 0));
		} else {
			ck_assert_ptr_nonnull(c);
			coord_etcd_free(c);
			c = NULL;
		}
	}
	tandem_diag_free(diag);
	unlink(ca);
	unlink(cert);
	unlink(key);
	unlink(loose);
	rmdir(dir);
}
END_TEST

START_TEST(test_endpoints_malformed)
{
	const char *bad[] = {"127.0.0.1:2379",          "http://127.0.0.1",
			     "http://127.0.0.1:99999",  "http://127.0.0.1:0",
			     "ftp://127.0.0.1:2379",    "http://127.0.0.1:2379/v3",
			     "http://user@host:2379",   "http://:2379",
			     "http://127.0.0.1:23x9",   "",
			     "http://127.0.0.1:2379?a", "http:// 127.0.0.1:2379"};
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *eps[] = {suite_etcd.endpoint, bad[i]};
		coord_etcd_t *c = NULL;
		tandem_diag_clear(diag);
		ck_assert_msg(coord_etcd_new(eps, 2, NULL, diag, &c) == TANDEM_EINVAL,
			      "accepted '%s'", bad[i]);
		ck_assert_ptr_null(c);
		ck_assert_uint_ge(tandem_diag_count(diag), 1);
	}
	coord_etcd_t *c = NULL;
	ck_assert_int_eq(coord_etcd_new(NULL, 0, NULL, diag, &c), TANDEM_EINVAL);
	const char *one[] = {NULL};
	ck_assert_int_eq(coord_etcd_new(one, 1, NULL, diag, &c), TANDEM_EINVAL);
	/* a trailing slash is dropped; names are accepted (https: test_tls_options) */
	char slash[80];
	snprintf(slash, sizeof(slash), "%s/", suite_etcd.endpoint);
	const char *good[] = {slash, "http://etcd-a.example:2379", "http://[::1]:2379"};
	ck_assert_int_eq(coord_etcd_new(good, 3, NULL, diag, &c), TANDEM_OK);
	ck_assert_uint_eq(coord_etcd_endpoint_count(c), 3);
	ck_assert_str_eq(coord_etcd_endpoint(c, 0), suite_etcd.endpoint);
	ck_assert_ptr_null(coord_etcd_endpoint(c, 3));
	coord_etcd_range_t *r = get(c, "/t/endpoints/none");
	ck_assert_uint_eq(r->n, 0);
	coord_etcd_range_free(r);
	coord_etcd_free(c);
	coord_etcd_free(NULL);
	tandem_diag_free(diag);
}
END_TEST

/* ---- reads and writes ------------------------------------------------------------------------ */

START_TEST(test_put_get)
{
	coord_etcd_t *c = client();
	coord_etcd_range_t *r = get(c, "/t/putget/absent");
	ck_assert_uint_eq(r->n, 0);
	ck_assert_int_gt(r->revision, 0);
	coord_etcd_range_free(r);

	int64_t rev = put_text(c, "/t/putget/a", "hello", 0);
	r = get(c, "/t/putget/a");
	ck_assert_uint_eq(r->n, 1);
	ck_assert_str_eq(r->kvs[0].key, "/t/putget/a");
	ck_assert_uint_eq(r->kvs[0].key_len, strlen("/t/putget/a"));
	ck_assert_str_eq((const char *)r->kvs[0].value, "hello");
	ck_assert_uint_eq(r->kvs[0].value_len, 5);
	ck_assert_int_eq(r->kvs[0].mod_revision, rev);
	ck_assert_int_eq(r->kvs[0].create_revision, rev);
	ck_assert_int_eq(r->kvs[0].version, 1);
	ck_assert_int_eq(r->kvs[0].lease, 0);
	ck_assert_int_ge(r->revision, rev);
	coord_etcd_range_free(r);

	int64_t rev2 = put_text(c, "/t/putget/a", "again", 0);
	ck_assert_int_gt(rev2, rev);
	r = get(c, "/t/putget/a");
	ck_assert_int_eq(r->kvs[0].create_revision, rev);
	ck_assert_int_eq(r->kvs[0].mod_revision, rev2);
	ck_assert_int_eq(r->kvs[0].version, 2);
	coord_etcd_range_free(r);

	/* binary values (NUL and 0xff bytes, every base64 tail length) and the empty value */
	const uint8_t bin[] = {0x00, 0xff, 0x10, 0x00, 0xfe, 0x7f, 0x80};
	for (size_t len = 0; len <= sizeof(bin); len++) {
		coord_etcd_txn_t *t = NULL;
		coord_etcd_txn_result_t *res = NULL;
		ck_assert_int_eq(coord_etcd_txn_new(&t), TANDEM_OK);
		ck_assert_int_eq(coord_etcd_txn_put(t, "/t/putget/bin", bin, len, 0), TANDEM_OK);
		ck_assert_int_eq(coord_etcd_txn_commit(c, t, NULL, &res), TANDEM_OK);
		coord_etcd_txn_result_free(res);
		coord_etcd_txn_free(t);
		r = get(c, "/t/putget/bin");
		ck_assert_uint_eq(r->n, 1);
		ck_assert_uint_eq(r->kvs[0].value_len, len);
		ck_assert_int_eq(memcmp(r->kvs[0].value, bin, len), 0);
		ck_assert_uint_eq(r->kvs[0].value[len], 0);
		coord_etcd_range_free(r);
	}

	/* serializable reads work too (from the local copy) */
	ck_assert_int_eq(coord_etcd_get(c, "/t/putget/a", COORD_ETCD_SERIALIZABLE, NULL, &r),
			 TANDEM_OK);
	ck_assert_uint_eq(r->n, 1);
	coord_etcd_range_free(r);

	/* argument checks */
	ck_assert_int_eq(coord_etcd_get(c, "", 0, NULL, &r), TANDEM_EINVAL);
	ck_assert_int_eq(coord_etcd_get(c, "/x", 0x80, NULL, &r), TANDEM_EINVAL);
	ck_assert_int_eq(coord_etcd_get(NULL, "/x", 0, NULL, &r), TANDEM_EINVAL);
	coord_etcd_free(c);
}
END_TEST

START_TEST(test_range)
{
	coord_etcd_t *c = client();
	put_text(c, "/t/range/a/1", "1", 0);
	put_text(c, "/t/range/a/3", "3", 0);
	put_text(c, "/t/range/a/2", "2", 0);
	put_text(c, "/t/range/b/1", "x", 0);
	put_text(c, "/t/range/a", "not under a/", 0);

	coord_etcd_range_t *r = NULL;
	ck_assert_int_eq(coord_etcd_range(c, "/t/range/a/", 0, 0, NULL, &r), TANDEM_OK);
	ck_assert_uint_eq(r->n, 3);
	ck_assert_int_eq(r->count, 3);
	ck_assert(!r->more);
	ck_assert_str_eq(r->kvs[0].key, "/t/range/a/1");
	ck_assert_str_eq(r->kvs[1].key, "/t/range/a/2");
	ck_assert_str_eq(r->kvs[2].key, "/t/range/a/3");
	ck_assert_str_eq((const char *)r->kvs[2].value, "3");
	coord_etcd_range_free(r);

	ck_assert_int_eq(coord_etcd_range(c, "/t/range/a/", 2, 0, NULL, &r), TANDEM_OK);
	ck_assert_uint_eq(r->n, 2);
	ck_assert_int_eq(r->count, 3);
	ck_assert(r->more);
	coord_etcd_range_free(r);

	ck_assert_int_eq(coord_etcd_range(c, "/t/range/", 0, COORD_ETCD_SERIALIZABLE, NULL, &r),
			 TANDEM_OK);
	ck_assert_uint_eq(r->n, 5);
	coord_etcd_range_free(r);

	ck_assert_int_eq(coord_etcd_range(c, "/t/range/none/", 0, 0, NULL, &r), TANDEM_OK);
	ck_assert_uint_eq(r->n, 0);
	coord_etcd_range_free(r);

	/* prefixes ending in 0xff: the range end carries into the byte before */
	put_text(c,
		 "/t/range/\xff\xff"
		 "1",
		 "1", 0);
	put_text(c, "/t/range/\xff\xff\xff", "2", 0);
	put_text(c, "/t/range/\xff\xfe", "3", 0);
	ck_assert_int_eq(coord_etcd_range(c, "/t/range/\xff\xff", 0, 0, NULL, &r), TANDEM_OK);
	ck_assert_uint_eq(r->n, 2);
	coord_etcd_range_free(r);

	/* the empty prefix is every key */
	ck_assert_int_eq(coord_etcd_range(c, "", 0, 0, NULL, &r), TANDEM_OK);
	ck_assert_uint_ge(r->n, 8);
	coord_etcd_range_free(r);
	coord_etcd_free(c);
}
END_TEST

/* Only the keys written since a revision, and the count of every key under the prefix (the
 * coordinator's kept state tells deletions by it). */
START_TEST(test_range_since)
{
	coord_etcd_t *c = client();
	put_text(c, "/t/since/a", "1", 0);
	int64_t rev = put_text(c, "/t/since/b", "2", 0);
	put_text(c, "/t/since/c", "3", 0);
	int64_t rev2 = put_text(c, "/t/since/a", "4", 0);
	put_text(c, "/t/sinceX", "not under since/", 0);

	coord_etcd_range_t *r = NULL;
	ck_assert_int_eq(coord_etcd_range_since(c, "/t/since/", rev + 1, 0, NULL, &r), TANDEM_OK);
	ck_assert_uint_eq(r->n, 2);
	ck_assert_int_eq(r->count, 3);
	ck_assert_str_eq(r->kvs[0].key, "/t/since/a");
	ck_assert_str_eq((const char *)r->kvs[0].value, "4");
	ck_assert_int_eq(r->kvs[0].mod_revision, rev2);
	ck_assert_str_eq(r->kvs[1].key, "/t/since/c");
	ck_assert_int_ge(r->revision, rev2);
	int64_t now = r->revision;
	coord_etcd_range_free(r);

	/* nothing since: no key, the count still 3 */
	ck_assert_int_eq(coord_etcd_range_since(c, "/t/since/", now + 1, 0, NULL, &r), TANDEM_OK);
	ck_assert_uint_eq(r->n, 0);
	ck_assert_int_eq(r->count, 3);
	coord_etcd_range_free(r);

	/* a deleted key: not listed, and the count falls */
	coord_etcd_txn_t *t = NULL;
	coord_etcd_txn_result_t *res = NULL;
	ck_assert_int_eq(coord_etcd_txn_new(&t), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_delete(t, "/t/since/b"), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_commit(c, t, NULL, &res), TANDEM_OK);
	coord_etcd_txn_result_free(res);
	coord_etcd_txn_free(t);
	ck_assert_int_eq(coord_etcd_range_since(c, "/t/since/", now + 1, 0, NULL, &r), TANDEM_OK);
	ck_assert_uint_eq(r->n, 0);
	ck_assert_int_eq(r->count, 2);
	coord_etcd_range_free(r);

	/* several keys at one revision, an absent one among them */
	const char *keys[] = {"/t/since/c", "/t/since/b", "/t/since/a"};
	coord_etcd_txn_result_t *m = NULL;
	ck_assert_int_eq(coord_etcd_get_many(c, keys, 3, NULL, &m), TANDEM_OK);
	ck_assert_uint_eq(m->n_reads, 3);
	ck_assert_uint_eq(m->reads[0].n, 1);
	ck_assert_str_eq((const char *)m->reads[0].kvs[0].value, "3");
	ck_assert_uint_eq(m->reads[1].n, 0);
	ck_assert_uint_eq(m->reads[2].n, 1);
	ck_assert_str_eq((const char *)m->reads[2].kvs[0].value, "4");
	ck_assert_int_eq(m->reads[1].revision, m->revision);
	ck_assert_int_ge(m->revision, now);
	coord_etcd_txn_result_free(m);
	ck_assert_int_eq(coord_etcd_get_many(c, keys, 0, NULL, &m), TANDEM_EINVAL);

	ck_assert_int_eq(coord_etcd_range_since(c, "", 1, 0, NULL, &r), TANDEM_EINVAL);
	ck_assert_int_eq(coord_etcd_range_since(c, "/t/since/", 0, 0, NULL, &r), TANDEM_EINVAL);
	ck_assert_int_eq(coord_etcd_range_since(c, "/t/since/", 1, 0x80, NULL, &r), TANDEM_EINVAL);
	coord_etcd_free(c);
}
END_TEST

/* ---- transactions ------------------------------------------------------------------------------
 */

START_TEST(test_txn)
{
	coord_etcd_t *c = client();
	tandem_diag_t *diag = NULL;
	coord_etcd_txn_t *t = NULL;
	coord_etcd_txn_result_t *res = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);

	/* create if absent: succeeds once, then conflicts and reports the current value */
	ck_assert_int_eq(coord_etcd_txn_new(&t), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_cmp_absent(t, "/t/txn/k"), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_put(t, "/t/txn/k", "v1", 2, 0), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_put(t, "/t/txn/other", "o", 1, 0), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_on_fail_get(t, "/t/txn/k"), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_on_fail_range(t, "/t/txn/"), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_commit(c, t, diag, &res), TANDEM_OK);
	ck_assert(res->succeeded);
	ck_assert_uint_eq(res->n_reads, 0);
	int64_t created = res->revision;
	coord_etcd_txn_result_free(res);
	res = NULL;
	ck_assert_int_eq(coord_etcd_txn_commit(c, t, diag, &res), TANDEM_COORD_ECONFLICT);
	ck_assert(!res->succeeded);
	ck_assert_int_eq(res->revision, created);
	ck_assert_uint_eq(res->n_reads, 2);
	ck_assert_uint_eq(res->reads[0].n, 1);
	ck_assert_str_eq((const char *)res->reads[0].kvs[0].value, "v1");
	ck_assert_int_eq(res->reads[0].kvs[0].mod_revision, created);
	ck_assert_uint_eq(res->reads[1].n, 2);
	coord_etcd_txn_result_free(res);
	res = NULL;
	coord_etcd_txn_free(t);

	/* compare on mod_revision: the current one wins, a stale one conflicts */
	ck_assert_int_eq(coord_etcd_txn_new(&t), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_cmp_mod(t, "/t/txn/k", created), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_cmp_create(t, "/t/txn/k", created), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_cmp_value(t, "/t/txn/k", "v1", 2), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_put(t, "/t/txn/k", "v2", 2, 0), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_on_fail_get(t, "/t/txn/k"), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_commit(c, t, diag, &res), TANDEM_OK);
	int64_t moved = res->revision;
	ck_assert_int_gt(moved, created);
	coord_etcd_txn_result_free(res);
	res = NULL;
	ck_assert_int_eq(coord_etcd_txn_commit(c, t, diag, &res), TANDEM_COORD_ECONFLICT);
	ck_assert_str_eq((const char *)res->reads[0].kvs[0].value, "v2");
	ck_assert_int_eq(res->reads[0].kvs[0].mod_revision, moved);
	coord_etcd_txn_result_free(res);
	res = NULL;
	coord_etcd_txn_free(t);

	/* a value compare on an absent key fails (etcd cannot tell "" from absent otherwise) */
	ck_assert_int_eq(coord_etcd_txn_new(&t), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_cmp_value(t, "/t/txn/nope", "", 0), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_put(t, "/t/txn/nope", "x", 1, 0), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_commit(c, t, diag, &res), TANDEM_COORD_ECONFLICT);
	ck_assert_uint_eq(res->n_reads, 0);
	coord_etcd_txn_result_free(res);
	res = NULL;
	coord_etcd_txn_free(t);
	/* cmp_mod 0 means absent */
	ck_assert_int_eq(coord_etcd_txn_new(&t), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_cmp_mod(t, "/t/txn/nope", 0), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_put(t, "/t/txn/sub/1", "1", 1, 0), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_put(t, "/t/txn/sub/2", "2", 1, 0), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_commit(c, t, diag, &res), TANDEM_OK);
	coord_etcd_txn_result_free(res);
	res = NULL;
	coord_etcd_txn_free(t);

	/* delete and delete-prefix */
	ck_assert_int_eq(coord_etcd_txn_new(&t), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_delete(t, "/t/txn/other"), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_delete_prefix(t, "/t/txn/sub/"), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_delete(t, "/t/txn/never-there"), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_commit(c, t, diag, &res), TANDEM_OK);
	coord_etcd_txn_result_free(res);
	res = NULL;
	coord_etcd_txn_free(t);
	ck_assert(!key_present(c, "/t/txn/other"));
	ck_assert(!key_present(c, "/t/txn/sub/1"));
	ck_assert(key_present(c, "/t/txn/k"));

	/* argument checks: empty keys, an empty transaction, too many ops */
	ck_assert_int_eq(coord_etcd_txn_new(&t), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_put(t, "", "x", 1, 0), TANDEM_EINVAL);
	ck_assert_int_eq(coord_etcd_txn_put(t, "/k", NULL, 1, 0), TANDEM_EINVAL);
	ck_assert_int_eq(coord_etcd_txn_delete_prefix(t, ""), TANDEM_EINVAL);
	ck_assert_int_eq(coord_etcd_txn_cmp_mod(t, "/k", -1), TANDEM_EINVAL);
	ck_assert_int_eq(coord_etcd_txn_commit(c, t, diag, &res), TANDEM_EINVAL);
	ck_assert_ptr_null(res);
	for (unsigned i = 0; i < COORD_ETCD_MAX_TXN_OPS; i++) {
		ck_assert_int_eq(coord_etcd_txn_delete(t, "/t/txn/many"), TANDEM_OK);
	}
	ck_assert_int_eq(coord_etcd_txn_delete(t, "/t/txn/many"), TANDEM_EINVAL);
	coord_etcd_txn_free(t);
	coord_etcd_txn_free(NULL);
	coord_etcd_txn_result_free(NULL);
	tandem_diag_free(diag);
	coord_etcd_free(c);
}
END_TEST

/* Two clients race a compare-on-mod_revision: exactly one wins each round. */
typedef struct racer {
	pthread_barrier_t *barrier;
	const char *name;
	int rounds;
	int wins;
	int conflicts;
	int errors;
} racer_t;

static void *race_thread(void *arg)
{
	racer_t *r = arg;
	coord_etcd_t *c = NULL;
	const char *eps[] = {suite_etcd.endpoint};
	if (coord_etcd_new(eps, 1, NULL, NULL, &c) != TANDEM_OK) {
		r->errors++;
	}
	for (int i = 0; i < r->rounds; i++) {
		coord_etcd_range_t *cur = NULL;
		coord_etcd_txn_t *t = NULL;
		coord_etcd_txn_result_t *res = NULL;
		/* both read the same state first, then both try to move it */
		int rc = c ? coord_etcd_get(c, "/t/race/k", 0, NULL, &cur) : TANDEM_EINVAL;
		pthread_barrier_wait(r->barrier);
		if (rc == TANDEM_OK && cur->n == 1 && coord_etcd_txn_new(&t) == TANDEM_OK &&
		    coord_etcd_txn_cmp_mod(t, "/t/race/k", cur->kvs[0].mod_revision) == TANDEM_OK &&
		    coord_etcd_txn_put(t, "/t/race/k", r->name, strlen(r->name), 0) == TANDEM_OK &&
		    coord_etcd_txn_on_fail_get(t, "/t/race/k") == TANDEM_OK) {
			rc = coord_etcd_txn_commit(c, t, NULL, &res);
			if (rc == TANDEM_OK) {
				r->wins++;
			} else if (rc == TANDEM_COORD_ECONFLICT && res->n_reads == 1 &&
				   res->reads[0].n == 1 &&
				   strcmp((const char *)res->reads[0].kvs[0].value, r->name) != 0) {
				r->conflicts++;
			} else {
				r->errors++;
			}
		} else {
			r->errors++;
		}
		coord_etcd_txn_result_free(res);
		coord_etcd_txn_free(t);
		coord_etcd_range_free(cur);
		/* nobody reads the next round's state before both have written */
		pthread_barrier_wait(r->barrier);
	}
	coord_etcd_free(c);
	return NULL;
}

START_TEST(test_txn_race)
{
	coord_etcd_t *c = client();
	put_text(c, "/t/race/k", "start", 0);
	pthread_barrier_t barrier;
	pthread_barrier_init(&barrier, NULL, 2);
	racer_t a = {.barrier = &barrier, .name = "a", .rounds = 20};
	racer_t b = {.barrier = &barrier, .name = "b", .rounds = 20};
	pthread_t ta, tb;
	ck_assert_int_eq(pthread_create(&ta, NULL, race_thread, &a), 0);
	ck_assert_int_eq(pthread_create(&tb, NULL, race_thread, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_barrier_destroy(&barrier);
	ck_assert_int_eq(a.errors + b.errors, 0);
	ck_assert_int_eq(a.wins + b.wins, 20);
	ck_assert_int_eq(a.conflicts + b.conflicts, 20);
	ck_assert_int_eq(a.wins + a.conflicts, 20);
	coord_etcd_range_t *r = get(c, "/t/race/k");
	ck_assert_int_eq(r->kvs[0].version, 21);
	coord_etcd_range_free(r);
	coord_etcd_free(c);
}
END_TEST

/* ---- leases ------------------------------------------------------------------------------------
 */

START_TEST(test_lease_expiry)
{
	coord_etcd_t *c = client();
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	int64_t id = 0, ttl = 0, left = 0, granted = 0;
	ck_assert_int_eq(coord_etcd_lease_grant(c, 2, diag, &id, &ttl), TANDEM_OK);
	ck_assert_int_gt(id, 0);
	ck_assert_int_ge(ttl, 2);
	put_text(c, "/t/lease/exp", "held", id);
	coord_etcd_range_t *r = get(c, "/t/lease/exp");
	ck_assert_int_eq(r->kvs[0].lease, id);
	coord_etcd_range_free(r);
	ck_assert_int_eq(coord_etcd_lease_ttl(c, id, diag, &left, &granted), TANDEM_OK);
	ck_assert_int_le(left, ttl);
	ck_assert_int_eq(granted, ttl);

	/* without keepalives the key goes within TTL plus the leader's check interval */
	double t0 = etcd_now_s();
	while (key_present(c, "/t/lease/exp")) {
		ck_assert_msg(etcd_now_s() - t0 < (double)ttl + 4, "leased key outlived its lease");
		etcd_sleep_ms(100);
	}
	ck_assert_int_eq(coord_etcd_lease_ttl(c, id, diag, &left, &granted), TANDEM_COORD_ELEASE);
	ck_assert_int_eq(coord_etcd_lease_keepalive(c, id, diag, &left), TANDEM_COORD_ELEASE);
	ck_assert_int_eq(coord_etcd_lease_revoke(c, id, diag), TANDEM_COORD_ELEASE);

	/* a put under the dead lease is refused and writes nothing */
	coord_etcd_txn_t *t = NULL;
	coord_etcd_txn_result_t *res = NULL;
	ck_assert_int_eq(coord_etcd_txn_new(&t), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_put(t, "/t/lease/exp", "late", 4, id), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_commit(c, t, diag, &res), TANDEM_COORD_ELEASE);
	ck_assert_ptr_null(res);
	coord_etcd_txn_free(t);
	ck_assert(!key_present(c, "/t/lease/exp"));

	ck_assert_int_eq(coord_etcd_lease_grant(c, 0, diag, &id, &ttl), TANDEM_EINVAL);
	ck_assert_int_eq(coord_etcd_lease_keepalive(c, 0, diag, &left), TANDEM_EINVAL);
	tandem_diag_free(diag);
	coord_etcd_free(c);
}
END_TEST

START_TEST(test_lease_keepalive_revoke)
{
	coord_etcd_t *c = client();
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	int64_t id = 0, ttl = 0, left = 0, granted = 0;
	ck_assert_int_eq(coord_etcd_lease_grant(c, 2, diag, &id, &ttl), TANDEM_OK);
	put_text(c, "/t/lease/ka", "held", id);
	/* kept alive for twice its TTL and more, the key stays */
	double t0 = etcd_now_s();
	while (etcd_now_s() - t0 < 2.0 * (double)ttl + 0.5) {
		int64_t renewed = 0;
		ck_assert_int_eq(coord_etcd_lease_keepalive(c, id, diag, &renewed), TANDEM_OK);
		ck_assert_int_eq(renewed, ttl);
		etcd_sleep_ms(400);
		ck_assert(key_present(c, "/t/lease/ka"));
	}
	ck_assert_int_eq(coord_etcd_lease_ttl(c, id, diag, &left, &granted), TANDEM_OK);
	ck_assert_int_ge(left, 1);
	/* revoking deletes the key at once */
	ck_assert_int_eq(coord_etcd_lease_revoke(c, id, diag), TANDEM_OK);
	ck_assert(!key_present(c, "/t/lease/ka"));
	ck_assert_int_eq(coord_etcd_lease_revoke(c, id, diag), TANDEM_COORD_ELEASE);
	ck_assert_int_eq(coord_etcd_lease_keepalive(c, id, diag, &left), TANDEM_COORD_ELEASE);
	ck_assert_int_eq(coord_etcd_lease_ttl(c, id, diag, &left, &granted), TANDEM_COORD_ELEASE);
	tandem_diag_free(diag);
	coord_etcd_free(c);
}
END_TEST

/* ---- failover and unavailability
 * ------------------------------------------------------------------ */

START_TEST(test_failover)
{
	int port;
	etcd_free_ports(1, &port); /* nobody listens there */
	char dead[64];
	snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", port);
	const char *eps[] = {dead, suite_etcd.endpoint};
	coord_etcd_opts_t o = {.timeout_ms = 1000};
	coord_etcd_t *c = NULL;
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_new(eps, 2, &o, diag, &c), TANDEM_OK);
	put_text(c, "/t/failover/k", "v", 0);
	coord_etcd_range_t *r = NULL;
	ck_assert_int_eq(coord_etcd_get(c, "/t/failover/k", 0, diag, &r), TANDEM_OK);
	ck_assert_uint_eq(r->n, 1);
	coord_etcd_range_free(r);
	/* the live endpoint is remembered: the dead one is not tried again */
	size_t before = tandem_diag_count(diag);
	ck_assert_int_eq(coord_etcd_get(c, "/t/failover/k", 0, diag, &r), TANDEM_OK);
	coord_etcd_range_free(r);
	ck_assert_uint_eq(tandem_diag_count(diag), before);
	coord_etcd_members_t *m = NULL;
	ck_assert_int_eq(coord_etcd_member_list(c, diag, &m), TANDEM_OK);
	coord_etcd_members_free(m);
	/* the dead endpoint alone: unavailable, with its address in the diag */
	coord_etcd_status_t st;
	tandem_diag_clear(diag);
	ck_assert_int_eq(coord_etcd_endpoint_status(c, 0, diag, &st), TANDEM_COORD_EUNAVAIL);
	ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, 0), dead));
	ck_assert_int_eq(coord_etcd_endpoint_status(c, 2, diag, &st), TANDEM_EINVAL);
	coord_etcd_free(c);
	tandem_diag_free(diag);
}
END_TEST

START_TEST(test_stopped_etcd)
{
	etcd_proc_t e;
	etcd_start(&e);
	coord_etcd_t *c = client_on(e.endpoint, 800);
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	put_text(c, "/t/stop/k", "v", 0);
	coord_etcd_range_t *r = NULL;

	/* frozen (SIGSTOP): the connection opens but nothing answers; the timeout holds */
	kill(e.pid, SIGSTOP);
	int status = 0;
	ck_assert_int_eq(waitpid(e.pid, &status, WUNTRACED), e.pid); /* it has stopped */
	ck_assert(WIFSTOPPED(status));
	double t0 = etcd_now_s();
	int rc = coord_etcd_get(c, "/t/stop/k", 0, diag, &r);
	double took = etcd_now_s() - t0;
	ck_assert_int_eq(rc, TANDEM_COORD_EUNAVAIL);
	ck_assert_msg(took >= 0.7 && took < 3.0, "frozen etcd: took %.2f s", took);
	ck_assert_uint_ge(tandem_diag_count(diag), 2);
	kill(e.pid, SIGCONT);
	ck_assert_int_eq(coord_etcd_get(c, "/t/stop/k", 0, diag, &r), TANDEM_OK);
	coord_etcd_range_free(r);
	r = NULL;

	/* killed: refused at once, for reads, transactions and leases alike */
	kill(e.pid, SIGKILL);
	waitpid(e.pid, NULL, 0);
	e.pid = 0;
	t0 = etcd_now_s();
	ck_assert_int_eq(coord_etcd_get(c, "/t/stop/k", 0, diag, &r), TANDEM_COORD_EUNAVAIL);
	ck_assert_ptr_null(r);
	coord_etcd_txn_t *t = NULL;
	coord_etcd_txn_result_t *res = NULL;
	ck_assert_int_eq(coord_etcd_txn_new(&t), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_put(t, "/t/stop/k", "w", 1, 0), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_commit(c, t, diag, &res), TANDEM_COORD_EUNAVAIL);
	ck_assert_ptr_null(res);
	coord_etcd_txn_free(t);
	int64_t id = 0, ttl = 0;
	ck_assert_int_eq(coord_etcd_lease_grant(c, 5, diag, &id, &ttl), TANDEM_COORD_EUNAVAIL);
	ck_assert_int_eq(id, 0);
	took = etcd_now_s() - t0;
	ck_assert_msg(took < 2.4, "stopped etcd: took %.2f s", took);
	coord_etcd_free(c);
	tandem_diag_free(diag);
	etcd_stop(&e);
}
END_TEST

/* A socket that takes connections (the kernel's backlog) and never answers: a frozen
 * member. Writes its endpoint; returns the fd. */
static int silent_listener(char *ep, size_t size)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	snprintf(ep, size, "http://127.0.0.1:%d", ntohs(a.sin_port));
	return fd;
}

/* call_timeout_ms bounds a whole call across frozen members, and the next call starts with
 * the first endpoint not tried, so the live one is reached after all. */
START_TEST(test_call_budget)
{
	char ep1[64], ep2[64];
	int fd1 = silent_listener(ep1, sizeof(ep1)), fd2 = silent_listener(ep2, sizeof(ep2));
	const char *eps[] = {ep1, ep2, suite_etcd.endpoint};
	coord_etcd_opts_t o = {
	    .timeout_ms = 1000, .connect_timeout_ms = 200, .call_timeout_ms = 1000};
	coord_etcd_t *c = NULL;
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_new(eps, 3, &o, diag, &c), TANDEM_OK);
	coord_etcd_range_t *r = NULL;
	double t0 = etcd_now_s();
	int rc = coord_etcd_get(c, "/t/budget/k", 0, diag, &r);
	double took = etcd_now_s() - t0;
	/* without the bound: 1 s and a probe per frozen member, then the live one answers */
	ck_assert_int_eq(rc, TANDEM_COORD_EUNAVAIL);
	ck_assert_msg(took >= 0.9 && took < 1.8, "a bounded call took %.2f s", took);
	ck_assert_ptr_null(r);
	int calls = 1;
	for (; rc != TANDEM_OK && calls < 4; calls++) {
		t0 = etcd_now_s();
		rc = coord_etcd_get(c, "/t/budget/k", 0, diag, &r);
		took = etcd_now_s() - t0;
		ck_assert_msg(took < 1.8, "a bounded call took %.2f s", took);
	}
	ck_assert_int_eq(rc, TANDEM_OK);
	ck_assert_int_le(calls, 3); /* ep2 alone, then the live one */
	coord_etcd_range_free(r);
	coord_etcd_free(c);
	tandem_diag_free(diag);
	close(fd1);
	close(fd2);
}
END_TEST

/* ---- cluster views
 * ---------------------------------------------------------------------------------- */

START_TEST(test_status_members)
{
	coord_etcd_t *c = client();
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	coord_etcd_members_t *m = NULL;
	ck_assert_int_eq(coord_etcd_member_list(c, diag, &m), TANDEM_OK);
	ck_assert_uint_eq(m->n, 1);
	ck_assert_str_eq(m->members[0].name, "tandem-test");
	ck_assert_str_eq(m->members[0].client_urls, suite_etcd.endpoint);
	ck_assert_ptr_nonnull(strstr(m->members[0].peer_urls, "http://127.0.0.1:"));
	ck_assert(!m->members[0].learner);
	ck_assert_uint_ne(m->cluster_id, 0);
	ck_assert_uint_eq(m->member_id, m->members[0].id);
	coord_etcd_status_t st;
	ck_assert_int_eq(coord_etcd_endpoint_status(c, 0, diag, &st), TANDEM_OK);
	ck_assert(st.healthy);
	ck_assert_uint_eq(st.member_id, m->members[0].id);
	ck_assert_uint_eq(st.leader, st.member_id);
	ck_assert_int_gt(st.raft_term, 0);
	ck_assert_int_gt(st.raft_index, 0);
	ck_assert_int_gt(st.db_size, 0);
	ck_assert_int_eq(strncmp(st.version, "3.", 2), 0);
	ck_assert_str_eq(st.errors, "");
	coord_etcd_members_free(m);
	coord_etcd_members_free(NULL);
	tandem_diag_free(diag);
	coord_etcd_free(c);
}
END_TEST

/* ---- a lying etcd: every malformed reply is refused
 * ---------------------------------------------- */

typedef struct fake_server {
	int fd;
	int port;
	const char *const *replies; /* one whole HTTP response per connection */
	size_t n;
} fake_server_t;

static void *fake_thread(void *arg)
{
	fake_server_t *s = arg;
	for (size_t i = 0; i < s->n; i++) {
		int fd = accept(s->fd, NULL, NULL);
		if (fd < 0) {
			break;
		}
		/* read the request: headers, then Content-Length bytes */
		char buf[8192];
		size_t got = 0;
		char *hdr_end = NULL;
		while (got < sizeof(buf) - 1) {
			ssize_t k = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
			if (k <= 0) {
				break;
			}
			got += (size_t)k;
			buf[got] = '\0';
			hdr_end = strstr(buf, "\r\n\r\n");
			if (hdr_end != NULL) {
				const char *cl = strstr(buf, "Content-Length:");
				size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
				if (got >= (size_t)(hdr_end + 4 - buf) + body) {
					break;
				}
			}
		}
		const char *r = s->replies[i];
		send(fd, r, strlen(r), MSG_NOSIGNAL);
		close(fd);
	}
	return NULL;
}

static char *http_reply(int status, const char *body)
{
	size_t len = strlen(body) + 200;
	char *r = malloc(len);
	ck_assert_ptr_nonnull(r);
	snprintf(r, len,
		 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\n\r\n%s",
		 status, strlen(body), body);
	return r;
}

START_TEST(test_malformed_replies)
{
	/* each case: the reply the fake etcd sends, the call to make, the code expected */
	enum { GET, RANGE, TXN, GRANT, KEEPALIVE, MEMBERS };
	static const struct {
		int status;
		const char *body;
		int call;
		int expect;
	} cases[] = {
	    {200, "hello", GET, TANDEM_COORD_EPROTO},
	    {200, "[1,2]", GET, TANDEM_COORD_EPROTO},
	    {200, "{\"header\":{\"revision\":\"7\"}", GET, TANDEM_COORD_EPROTO},
	    {200, "{}", GET, TANDEM_COORD_EPROTO},
	    {200, "{\"header\":{\"revision\":\"12abc\"}}", GET, TANDEM_COORD_EPROTO},
	    {200, "{\"header\":{\"revision\":\"99999999999999999999\"}}", GET, TANDEM_COORD_EPROTO},
	    {200, "{\"header\":{\"revision\":\"7\"},\"header\":{\"revision\":\"8\"}}", GET,
	     TANDEM_COORD_EPROTO},
	    {200, "{\"header\":{\"revision\":\"7\"},\"kvs\":{}}", GET, TANDEM_COORD_EPROTO},
	    {200,
	     "{\"header\":{\"revision\":\"7\"},\"kvs\":[{\"key\":\"!!!!\",\"create_revision\":"
	     "\"1\","
	     "\"mod_revision\":\"1\",\"version\":\"1\"}],\"count\":\"1\"}",
	     GET, TANDEM_COORD_EPROTO},
	    /* "Zm9=": non-canonical padding */
	    {200,
	     "{\"header\":{\"revision\":\"7\"},\"kvs\":[{\"key\":\"aw==\",\"value\":\"Zm9=\","
	     "\"create_revision\":\"1\",\"mod_revision\":\"1\",\"version\":\"1\"}],\"count\":"
	     "\"1\"}",
	     GET, TANDEM_COORD_EPROTO},
	    /* the reply is about another key */
	    {200,
	     "{\"header\":{\"revision\":\"7\"},\"kvs\":[{\"key\":\"b3RoZXI=\",\"create_revision\":"
	     "\"1\",\"mod_revision\":\"1\",\"version\":\"1\"}],\"count\":\"1\"}",
	     GET, TANDEM_COORD_EPROTO},
	    /* count smaller than the keys returned, mod before create */
	    {200,
	     "{\"header\":{\"revision\":\"7\"},\"kvs\":[{\"key\":\"aw==\",\"create_revision\":"
	     "\"1\",\"mod_revision\":\"1\",\"version\":\"1\"}],\"count\":\"0\"}",
	     GET, TANDEM_COORD_EPROTO},
	    {200,
	     "{\"header\":{\"revision\":\"7\"},\"kvs\":[{\"key\":\"aw==\",\"create_revision\":"
	     "\"5\",\"mod_revision\":\"4\",\"version\":\"1\"}],\"count\":\"1\"}",
	     GET, TANDEM_COORD_EPROTO},
	    /* a good reply, to show the fake is understood at all */
	    {200,
	     "{\"header\":{\"revision\":\"7\"},\"kvs\":[{\"key\":\"aw==\",\"value\":\"dg==\","
	     "\"create_revision\":\"5\",\"mod_revision\":\"6\",\"version\":\"2\"}],\"count\":"
	     "\"1\"}",
	     GET, TANDEM_OK},
	    {200, "{\"header\":{\"revision\":\"7\"},\"kvs\":[1],\"count\":\"1\"}", RANGE,
	     TANDEM_COORD_EPROTO},
	    /* txn failed, but the failure reads are missing */
	    {200, "{\"header\":{\"revision\":\"7\"}}", TXN, TANDEM_COORD_EPROTO},
	    {200, "{\"header\":{\"revision\":\"7\"},\"succeeded\":\"yes\"}", TXN,
	     TANDEM_COORD_EPROTO},
	    {200, "{\"header\":{\"revision\":\"7\"},\"responses\":[{\"response_put\":{}}]}", TXN,
	     TANDEM_COORD_EPROTO},
	    {200, "{\"header\":{\"revision\":\"7\"},\"ID\":\"0\",\"TTL\":\"5\"}", GRANT,
	     TANDEM_COORD_EPROTO},
	    {200, "{\"header\":{\"revision\":\"7\"},\"ID\":\"3\",\"TTL\":\"5\",\"error\":\"bad\"}",
	     GRANT, TANDEM_COORD_EREFUSED},
	    /* keepalive answering for another lease */
	    {200, "{\"result\":{\"ID\":\"4\",\"TTL\":\"5\"}}", KEEPALIVE, TANDEM_COORD_EPROTO},
	    {200,
	     "{\"error\":{\"grpc_code\":5,\"message\":\"etcdserver: requested lease not found\"}}",
	     KEEPALIVE, TANDEM_COORD_ELEASE},
	    {200, "{\"header\":{\"cluster_id\":\"-1\"},\"members\":[]}", MEMBERS,
	     TANDEM_COORD_EPROTO},
	    {400, "{\"error\":\"etcdserver: key is not provided\",\"code\":3}", GET,
	     TANDEM_COORD_EREFUSED},
	    {404, "Not Found", GET, TANDEM_COORD_EPROTO},
	    {500, "{\"header\":{\"revision\":\"7\"}}", GET, TANDEM_COORD_EPROTO},
	};
	size_t n = sizeof(cases) / sizeof(cases[0]);
	char **replies = calloc(n + 1, sizeof(char *));
	ck_assert_ptr_nonnull(replies);
	for (size_t i = 0; i < n; i++) {
		replies[i] = http_reply(cases[i].status, cases[i].body);
	}
	/* and one reply larger than the client's bound */
	char big[4096];
	memset(big, ' ', sizeof(big) - 3);
	memcpy(big + sizeof(big) - 3, "{}", 3);
	replies[n] = http_reply(200, big);

	fake_server_t s = {.replies = (const char *const *)replies, .n = n + 1};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	s.fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(s.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(s.fd, 4), 0);
	ck_assert_int_eq(getsockname(s.fd, (struct sockaddr *)&a, &alen), 0);
	s.port = ntohs(a.sin_port);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, fake_thread, &s), 0);

	char ep[64];
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", s.port);
	const char *eps[] = {ep};
	coord_etcd_opts_t o = {.timeout_ms = 2000, .max_reply = 1024};
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	for (size_t i = 0; i <= n; i++) {
		coord_etcd_t *c = NULL;
		ck_assert_int_eq(coord_etcd_new(eps, 1, &o, NULL, &c), TANDEM_OK);
		int call = i < n ? cases[i].call : GET;
		int expect = i < n ? cases[i].expect : TANDEM_COORD_EPROTO;
		int rc = TANDEM_EINTERNAL;
		coord_etcd_range_t *r = NULL;
		coord_etcd_txn_t *t = NULL;
		coord_etcd_txn_result_t *res = NULL;
		coord_etcd_members_t *m = NULL;
		int64_t id = 0, ttl = 0;
		tandem_diag_clear(diag);
		switch (call) {
		case GET: rc = coord_etcd_get(c, "k", 0, diag, &r); break;
		case RANGE: rc = coord_etcd_range(c, "k", 0, 0, diag, &r); break;
		case TXN:
			ck_assert_int_eq(coord_etcd_txn_new(&t), TANDEM_OK);
			ck_assert_int_eq(coord_etcd_txn_cmp_absent(t, "k"), TANDEM_OK);
			ck_assert_int_eq(coord_etcd_txn_on_fail_get(t, "k"), TANDEM_OK);
			rc = coord_etcd_txn_commit(c, t, diag, &res);
			break;
		case GRANT: rc = coord_etcd_lease_grant(c, 5, diag, &id, &ttl); break;
		case KEEPALIVE: rc = coord_etcd_lease_keepalive(c, 3, diag, &ttl); break;
		case MEMBERS: rc = coord_etcd_member_list(c, diag, &m); break;
		}
		ck_assert_msg(rc == expect, "case %zu: got %d (%s), expected %d", i, rc,
			      tandem_strerror(rc), expect);
		if (rc != TANDEM_OK) {
			ck_assert_ptr_null(r);
			ck_assert_ptr_null(res);
			ck_assert_ptr_null(m);
			ck_assert_uint_ge(tandem_diag_count(diag), 1);
		} else {
			ck_assert_uint_eq(r->n, 1);
			ck_assert_str_eq((const char *)r->kvs[0].value, "v");
		}
		coord_etcd_range_free(r);
		coord_etcd_txn_result_free(res);
		coord_etcd_txn_free(t);
		coord_etcd_members_free(m);
		coord_etcd_free(c);
	}
	pthread_join(th, NULL);
	close(s.fd);
	for (size_t i = 0; i <= n; i++) {
		free(replies[i]);
	}
	free(replies);
	tandem_diag_free(diag);
}
END_TEST

static Suite *etcd_suite(void)
{
	Suite *s = suite_create("coord_etcd");
	TCase *tc = tcase_create("etcd");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_endpoints_malformed);
	tcase_add_test(tc, test_tls_options);
	tcase_add_test(tc, test_put_get);
	tcase_add_test(tc, test_range);
	tcase_add_test(tc, test_range_since);
	tcase_add_test(tc, test_txn);
	tcase_add_test(tc, test_txn_race);
	tcase_add_test(tc, test_lease_expiry);
	tcase_add_test(tc, test_lease_keepalive_revoke);
	tcase_add_test(tc, test_failover);
	tcase_add_test(tc, test_stopped_etcd);
	tcase_add_test(tc, test_call_budget);
	tcase_add_test(tc, test_status_members);
	tcase_add_test(tc, test_malformed_replies);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (coord_etcd_global_init() != TANDEM_OK) {
		fprintf(stderr, "curl_global_init failed\n");
		return 1;
	}
	etcd_start(&suite_etcd);
	SRunner *sr = srunner_create(etcd_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	etcd_stop(&suite_etcd);
	coord_etcd_global_cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
