/* Tests of input by transfer (dist_xfrin) against a real primary: tandem's own transfer
 * server on loopback, with TSIG: AXFR, IXFR after a NOTIFY, an IXFR that does not apply
 * (refused, then AXFR), and NOTIFYs refused (unsigned, outside the ACL, a flood). */
#include "dist.h"
#include "dist_xfrin.h"
#include "dns_diff.h"
#include "dns_zone.h"
#include "tandem_diag.h"
#include "tandem_error.h"
#include "testsupport.h"

#include <arpa/inet.h>
#include <check.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char g_dir[256];
static char g_secret[64];
static dist_key_t *g_key;
static char g_log[65536];
static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;
static dist_xfrin_t *g_x;      /* the NOTIFY hook's target (the server starts first) */
static uint32_t g_expire;      /* the SOA's expire zone_write writes */
static dns_changeset_t *g_cs;  /* the last IXFR handed over (dist_xfrin_conf_t.ixfr) */
static struct stat g_cs_file;  /* ... and the file it was written to */
static unsigned g_ncs;         /* how many were handed over */
static unsigned g_refresh_max; /* the refresh bound (0: the default) */

static void log_line(void *arg, const char *line)
{
	(void)arg;
	pthread_mutex_lock(&g_log_lock);
	size_t have = strlen(g_log);
	snprintf(g_log + have, sizeof(g_log) - have, "%s\n", line);
	pthread_mutex_unlock(&g_log_lock);
}

static size_t log_count(const char *needle)
{
	size_t n = 0;
	pthread_mutex_lock(&g_log_lock);
	for (const char *p = strstr(g_log, needle); p != NULL; p = strstr(p + 1, needle)) {
		n++;
	}
	pthread_mutex_unlock(&g_log_lock);
	return n;
}

static void ixfr_hook(void *arg, size_t zone, dns_changeset_t *cs, const struct stat *written)
{
	(void)arg;
	ck_assert_uint_eq(zone, 0);
	pthread_mutex_lock(&g_log_lock);
	dns_changeset_free(g_cs);
	g_cs = cs;
	g_cs_file = *written;
	g_ncs++;
	pthread_mutex_unlock(&g_log_lock);
}

static void notify_hook(void *arg, const uint8_t *wire, size_t len, const struct sockaddr *addr,
			const char *peer, uint8_t **reply, size_t *rlen)
{
	(void)arg;
	*reply = NULL;
	if (g_x != NULL) {
		dist_xfrin_notify(g_x, wire, len, addr, peer, reply, rlen);
	}
}

static void setup(void)
{
	ts_tmpdir(g_dir, sizeof(g_dir));
	g_log[0] = '\0';
	g_expire = 604800;
	g_refresh_max = 0;
	unsigned char raw[32];
	ck_assert(RAND_bytes(raw, sizeof(raw)) == 1);
	EVP_EncodeBlock((unsigned char *)g_secret, raw, sizeof(raw));
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	ck_assert_int_eq(dist_key_new("xfr-key", "hmac-sha256", g_secret, diag, &g_key), TANDEM_OK);
	tandem_diag_free(diag);
}

static void teardown(void)
{
	dns_changeset_free(g_cs);
	g_cs = NULL;
	g_ncs = 0;
	dist_key_free(g_key);
	g_key = NULL;
	ts_rmtree(g_dir);
}

/* Version serial of example.: delegations d<serial>..d<serial+n-1> (each version drops one
 * and adds one), without d<serial> when drop_first. */
static void zone_write(const char *path, uint32_t serial, int n, bool drop_first)
{
	FILE *fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fprintf(fp,
		"$ORIGIN example.\n$TTL 3600\n"
		"@ SOA ns1.example. admin.example. %u 3600 900 %u 300\n"
		"@ NS ns1.example.\nns1 A 192.0.2.1\n",
		serial, g_expire);
	for (int i = drop_first ? 1 : 0; i < n; i++) {
		uint32_t d = serial + (uint32_t)i;
		fprintf(fp, "d%u NS ns.d%u.example.\nns.d%u A 198.51.100.%u\n", d, d, d, d % 250);
	}
	fclose(fp);
}

static dns_zone_t *zone_load(const char *path)
{
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_load_opts_t opts = {.origin = "example.", .keep_dnssec = true};
	dns_zone_t *z = NULL;
	ck_assert_int_eq(dns_zone_load(path, &opts, diag, &z), TANDEM_OK);
	tandem_diag_free(diag);
	return z;
}

/* The records of a zone file, sorted (the SOA among them). */
static ldns_rr_list *records(const char *path)
{
	FILE *fp = fopen(path, "r");
	ck_assert_ptr_nonnull(fp);
	ldns_zone *z = NULL;
	ldns_rdf *origin = ldns_dname_new_frm_str("example.");
	ck_assert_int_eq(ldns_zone_new_frm_fp(&z, fp, origin, 3600, LDNS_RR_CLASS_IN),
			 LDNS_STATUS_OK);
	fclose(fp);
	ldns_rdf_deep_free(origin);
	ldns_rr_list *l = ldns_rr_list_clone(ldns_zone_rrs(z));
	ldns_rr_list_push_rr(l, ldns_rr_clone(ldns_zone_soa(z)));
	ldns_zone_deep_free(z);
	ldns_rr_list_sort(l);
	return l;
}

static bool same_records(const char *a, const char *b)
{
	ldns_rr_list *x = records(a), *y = records(b);
	bool same = ldns_rr_list_compare(x, y) == 0;
	ldns_rr_list_deep_free(x);
	ldns_rr_list_deep_free(y);
	return same;
}

static dist_server_t *server_start(void)
{
	static const char *listen[] = {"127.0.0.1:0"};
	static const dist_key_t *keys[1];
	keys[0] = g_key; /* borrowed by the server until it is freed */
	dist_conf_t conf = {.listen = listen,
			    .nlisten = 1,
			    .keys = keys,
			    .nkeys = 1,
			    .log = log_line,
			    .notify = notify_hook};
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dist_server_t *srv = NULL;
	ck_assert_int_eq(dist_server_new(&conf, diag, &srv), TANDEM_OK);
	tandem_diag_free(diag);
	return srv;
}

/* Serves version serial (n delegations) with the changeset from prev (NULL: none). */
static dist_version_t *serve(dist_server_t *srv, uint32_t serial, int n, dist_version_t *prev,
			     char *path, size_t size)
{
	snprintf(path, size, "%s/primary.%u", g_dir, serial);
	zone_write(path, serial, n, false);
	dist_version_t *v = NULL;
	ck_assert_int_eq(dist_version_new_take(zone_load(path), &v), TANDEM_OK);
	if (prev != NULL) {
		dns_changeset_t *cs = NULL;
		ck_assert_int_eq(dns_zone_diff(dist_version_zone(prev), dist_version_zone(v), &cs),
				 TANDEM_OK);
		ck_assert_int_eq(dist_version_add_take(v, cs), TANDEM_OK);
	}
	ck_assert_int_eq(dist_publish(srv, "example.", v), TANDEM_OK);
	return v;
}

static dist_xfrin_t *xfrin_start(uint16_t port, const char *input, const char *const *acl,
				 size_t nacl)
{
	static char primary[64];
	snprintf(primary, sizeof(primary), "127.0.0.1:%u", port);
	dist_xfrin_zone_t zone = {.name = "example", .primary = primary, .path = input};
	dist_xfrin_conf_t conf = {.zones = &zone,
				  .nzones = 1,
				  .key = g_key,
				  .notify_acl = acl,
				  .nacl = nacl,
				  .refresh_min_s = g_refresh_max != 0 ? 1 : 0,
				  .refresh_max_s = g_refresh_max,
				  .log = log_line,
				  .ixfr = ixfr_hook};
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dist_xfrin_t *x = NULL;
	ck_assert_int_eq(dist_xfrin_new(&conf, diag, &x), TANDEM_OK);
	tandem_diag_free(diag);
	g_x = x;
	return x;
}

static void xfrin_stop(dist_xfrin_t *x)
{
	g_x = NULL;
	dist_xfrin_free(x);
}

/* Waits (30 s at most) until the zone holds serial after `transfers` transfers. */
static void wait_transfers(dist_xfrin_t *x, uint64_t transfers, uint32_t serial)
{
	dist_xfrin_status_t st;
	for (int i = 0; i < 300; i++) {
		dist_xfrin_status(x, 0, &st);
		if (st.transfers >= transfers) {
			break;
		}
		usleep(100000);
	}
	ck_assert_uint_eq(st.transfers, transfers);
	ck_assert(st.has_serial);
	ck_assert_uint_eq(st.serial, serial);
}

/* A NOTIFY for example. (signed with g_key when sign, its TSIG then naming algorithm alg
 * when not NULL) from 127.0.0.1; the rcode answered, -1 when none came within 2 s. */
static int notify_alg(uint16_t port, bool sign, const char *alg)
{
	ldns_pkt *q = NULL;
	ck_assert_int_eq(
	    ldns_pkt_query_new_frm_str(&q, "example.", LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, LDNS_AA),
	    LDNS_STATUS_OK);
	ldns_pkt_set_opcode(q, LDNS_PACKET_NOTIFY);
	ldns_pkt_set_random_id(q);
	if (sign) {
		ck_assert_int_eq(
		    ldns_pkt_tsig_sign(q, "xfr-key.", g_secret, 300, "hmac-sha256.", NULL),
		    LDNS_STATUS_OK);
		if (alg != NULL) {
			ldns_rdf_deep_free(
			    ldns_rr_set_rdf(ldns_pkt_tsig(q), ldns_dname_new_frm_str(alg), 0));
		}
	}
	uint8_t *wire = NULL;
	size_t len = 0;
	ck_assert_int_eq(ldns_pkt2wire(&wire, q, &len), LDNS_STATUS_OK);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
	ck_assert_int_eq(send(fd, wire, len, 0), (ssize_t)len);
	int rcode = -1;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	uint8_t buf[4096];
	if (poll(&pfd, 1, 2000) == 1) {
		ssize_t got = recv(fd, buf, sizeof(buf), 0);
		ldns_pkt *r = NULL;
		if (got > 0 && ldns_wire2pkt(&r, buf, (size_t)got) == LDNS_STATUS_OK) {
			ck_assert_uint_eq(ldns_pkt_id(r), ldns_pkt_id(q));
			rcode = ldns_pkt_get_rcode(r);
			ldns_pkt_free(r);
		}
	}
	close(fd);
	free(wire);
	ldns_pkt_free(q);
	return rcode;
}

static int notify(uint16_t port, bool sign)
{
	return notify_alg(port, sign, NULL);
}

START_TEST(axfr_then_ixfr_on_notify)
{
	dist_server_t *srv = server_start();
	uint16_t port = dist_server_port(srv, 0);
	char p1[600], p2[600], input[600];
	dist_version_t *v1 = serve(srv, 1, 20, NULL, p1, sizeof(p1));
	snprintf(input, sizeof(input), "%s/input.zone", g_dir);
	dist_xfrin_t *x = xfrin_start(port, input, NULL, 0);
	wait_transfers(x, 1, 1);
	ck_assert(same_records(input, p1));
	ck_assert_uint_eq(log_count("xfrin example.: AXFR from 127.0.0.1:"), 1);

	dist_version_t *v2 = serve(srv, 2, 20, v1, p2, sizeof(p2));
	ck_assert_int_eq(notify(port, true), LDNS_RCODE_NOERROR);
	wait_transfers(x, 2, 2);
	ck_assert(same_records(input, p2));
	/* d1 (NS, A) out, d21 (NS, A) in */
	ck_assert_uint_eq(log_count("IXFR from 127.0.0.1:"), 1);
	ck_assert_uint_eq(log_count("serial 1 -> 2, 4 records changed"), 1);
	/* the IXFR (not the AXFR) was handed over: its net difference, which applied to the
	 * first version gives the second, and the file it was written to */
	pthread_mutex_lock(&g_log_lock);
	ck_assert_uint_eq(g_ncs, 1);
	ck_assert_ptr_nonnull(g_cs);
	ck_assert_uint_eq(dns_changeset_serial(g_cs, false), 1);
	ck_assert_uint_eq(dns_changeset_serial(g_cs, true), 2);
	size_t removed = 0, added = 0;
	(void)dns_changeset_records(g_cs, false, &removed);
	(void)dns_changeset_records(g_cs, true, &added);
	ck_assert_uint_eq(removed, 2);
	ck_assert_uint_eq(added, 2);
	struct stat now;
	ck_assert_int_eq(stat(input, &now), 0);
	ck_assert_uint_eq(now.st_ino, g_cs_file.st_ino);
	ck_assert_int_eq(now.st_size, g_cs_file.st_size);
	dns_zone_t *z1 = zone_load(p1), *z2 = zone_load(p2), *applied = NULL;
	ck_assert_int_eq(dns_zone_apply(z1, g_cs, &applied), TANDEM_OK);
	pthread_mutex_unlock(&g_log_lock);
	dns_changeset_t *rest = NULL;
	ck_assert_int_eq(dns_zone_diff(applied, z2, &rest), TANDEM_OK);
	ck_assert_uint_eq(dns_changeset_size(rest), 0);
	dns_changeset_free(rest);
	dns_zone_free(applied);
	dns_zone_free(z1);
	dns_zone_free(z2);
	dist_xfrin_status_t st;
	dist_xfrin_status(x, 0, &st);
	for (int r = 0; r < DIST_XFRIN_NREASONS; r++) {
		ck_assert_uint_eq(st.refused[r], 0);
	}
	xfrin_stop(x);
	dist_server_free(srv);
	dist_version_unref(v1);
	dist_version_unref(v2);
}
END_TEST

START_TEST(ixfr_that_does_not_apply)
{
	dist_server_t *srv = server_start();
	uint16_t port = dist_server_port(srv, 0);
	char p1[600], p2[600], input[600];
	dist_version_t *v1 = serve(srv, 1, 20, NULL, p1, sizeof(p1));
	dist_version_t *v2 = serve(srv, 2, 20, v1, p2, sizeof(p2));
	/* the copy held is serial 1 without d1: the IXFR 1->2 deletes d1, not there */
	snprintf(input, sizeof(input), "%s/input.zone", g_dir);
	zone_write(input, 1, 20, true);
	dist_xfrin_t *x = xfrin_start(port, input, NULL, 0);
	wait_transfers(x, 1, 2);
	ck_assert(same_records(input, p2));
	dist_xfrin_status_t st;
	dist_xfrin_status(x, 0, &st);
	ck_assert_uint_eq(st.refused[DIST_XFRIN_IXFR_APPLY], 1);
	ck_assert_uint_eq(log_count("refused (ixfr-apply): IXFR from 127.0.0.1:"), 1);
	ck_assert_uint_eq(log_count("it deletes a record not there: d1.example."), 1);
	ck_assert_uint_eq(log_count("xfrin example.: AXFR from 127.0.0.1:"), 1);
	xfrin_stop(x);
	dist_server_free(srv);
	dist_version_unref(v1);
	dist_version_unref(v2);
}
END_TEST

START_TEST(notify_refusals_and_flood)
{
	dist_server_t *srv = server_start();
	uint16_t port = dist_server_port(srv, 0);
	char p1[600], input[600];
	dist_version_t *v1 = serve(srv, 1, 5, NULL, p1, sizeof(p1));
	snprintf(input, sizeof(input), "%s/input.zone", g_dir);
	dist_xfrin_t *x = xfrin_start(port, input, NULL, 0);
	wait_transfers(x, 1, 1);
	dist_xfrin_status_t st;

	/* unsigned: NOTAUTH, nothing checked */
	ck_assert_int_eq(notify(port, false), LDNS_RCODE_NOTAUTH);
	dist_xfrin_status(x, 0, &st);
	ck_assert_uint_eq(st.refused[DIST_XFRIN_NOTIFY_TSIG], 1);
	ck_assert_uint_eq(log_count("refused (notify-tsig): NOTIFY for example. from 127.0.0.1#"),
			  1);
	/* the primary's key name with an algorithm ldns does not know: NOTAUTH, and (under
	 * ASan) no TSIG record leaked per datagram, as ldns_pkt_tsig_verify did */
	ck_assert_int_eq(notify_alg(port, true, "hmac-none."), LDNS_RCODE_NOTAUTH);
	dist_xfrin_status(x, 0, &st);
	ck_assert_uint_eq(st.refused[DIST_XFRIN_NOTIFY_TSIG], 2);
	xfrin_stop(x);

	/* an ACL without 127.0.0.1: REFUSED */
	static const char *acl[] = {"10.0.0.0/8"};
	x = xfrin_start(port, input, acl, 1);
	ck_assert_int_eq(notify(port, true), LDNS_RCODE_REFUSED);
	dist_xfrin_status(x, 0, &st);
	ck_assert_uint_eq(st.refused[DIST_XFRIN_NOTIFY_ACL], 1);
	ck_assert_uint_eq(log_count("refused (notify-acl): NOTIFY for example. from 127.0.0.1#"),
			  1);

	/* a flood from one source: 100 at once; past the burst, dropped unanswered, said once */
	ldns_pkt *q = NULL;
	ck_assert_int_eq(
	    ldns_pkt_query_new_frm_str(&q, "example.", LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, LDNS_AA),
	    LDNS_STATUS_OK);
	ldns_pkt_set_opcode(q, LDNS_PACKET_NOTIFY);
	uint8_t *wire = NULL;
	size_t len = 0;
	ck_assert_int_eq(ldns_pkt2wire(&wire, q, &len), LDNS_STATUS_OK);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int rcvbuf = 1 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
	for (int i = 0; i < 100; i++) {
		ck_assert_int_eq(send(fd, wire, len, 0), (ssize_t)len);
	}
	int answered = 0;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	uint8_t buf[4096];
	while (poll(&pfd, 1, 1500) == 1 && recv(fd, buf, sizeof(buf), 0) > 0) {
		answered++;
	}
	close(fd);
	free(wire);
	ldns_pkt_free(q);
	dist_xfrin_status(x, 0, &st);
	/* the burst (19 tokens left) and what refilled while they were read */
	ck_assert_int_ge(answered, 15);
	ck_assert_int_le(answered, 40);
	ck_assert_uint_eq(st.refused[DIST_XFRIN_NOTIFY_RATE], (uint64_t)(100 - answered));
	ck_assert_uint_eq(log_count("refused (notify-rate)"), 1);
	xfrin_stop(x);
	dist_server_free(srv);
	dist_version_unref(v1);
}
END_TEST

START_TEST(input_replaced_by_hand)
{
	dist_server_t *srv = server_start();
	uint16_t port = dist_server_port(srv, 0);
	char p1[600], p2[600], input[600], tmp[700];
	dist_version_t *v1 = serve(srv, 1, 20, NULL, p1, sizeof(p1));
	snprintf(input, sizeof(input), "%s/input.zone", g_dir);
	dist_xfrin_t *x = xfrin_start(port, input, NULL, 0);
	wait_transfers(x, 1, 1);
	/* someone puts another serial-1 file in place, without d1 */
	snprintf(tmp, sizeof(tmp), "%s.new", input);
	zone_write(tmp, 1, 20, true);
	ck_assert_int_eq(rename(tmp, input), 0);
	dist_version_t *v2 = serve(srv, 2, 20, v1, p2, sizeof(p2));
	ck_assert_int_eq(notify(port, true), LDNS_RCODE_NOERROR);
	wait_transfers(x, 2, 2);
	ck_assert(same_records(input, p2));
	/* the file was read again, so the IXFR (deleting d1) did not apply to it */
	ck_assert_uint_eq(log_count("changed since it was last read or written: read again"), 1);
	ck_assert_uint_eq(log_count("it deletes a record not there: d1.example."), 1);
	xfrin_stop(x);
	dist_server_free(srv);
	dist_version_unref(v1);
	dist_version_unref(v2);
}
END_TEST

START_TEST(primary_gone_past_expire)
{
	/* refresh and retry bounded to 1 s, the SOA's expire 3 s */
	g_refresh_max = 1;
	g_expire = 3;
	dist_server_t *srv = server_start();
	uint16_t port = dist_server_port(srv, 0);
	char p1[600], input[600];
	dist_version_t *v1 = serve(srv, 1, 5, NULL, p1, sizeof(p1));
	snprintf(input, sizeof(input), "%s/input.zone", g_dir);
	dist_xfrin_t *x = xfrin_start(port, input, NULL, 0);
	wait_transfers(x, 1, 1);
	dist_xfrin_status_t st;
	dist_xfrin_status(x, 0, &st);
	ck_assert(!st.expired);
	ck_assert_uint_eq(st.expire_s, 3);
	dist_server_free(srv);
	for (int i = 0; i < 200 && !st.expired; i++) {
		usleep(100000);
		dist_xfrin_status(x, 0, &st);
	}
	ck_assert(st.expired);
	ck_assert_uint_ge(st.refused[DIST_XFRIN_UNREACHABLE], 3);
	ck_assert_uint_eq(st.serial, 1);
	ck_assert(same_records(input, p1)); /* what was taken stays */
	xfrin_stop(x);
	dist_version_unref(v1);
}
END_TEST

static Suite *xfrin_suite(void)
{
	Suite *s = suite_create("dist_xfrin");
	TCase *tc = tcase_create("xfrin");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, axfr_then_ixfr_on_notify);
	tcase_add_test(tc, ixfr_that_does_not_apply);
	tcase_add_test(tc, notify_refusals_and_flood);
	tcase_add_test(tc, input_replaced_by_hand);
	tcase_add_test(tc, primary_gone_past_expire);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(xfrin_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
