/* The audit chain in a real etcd: two appender processes racing make one chain; the cut. */
#include "audit_log.h"
#include "coord_audit.h"
#include "coord_etcd.h"
#include "etcd_fixture.h"
#include "tandem_diag.h"
#include "tandem_error.h"

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static etcd_proc_t suite_etcd;

#define T0 1796601600000ull
/* Entries each of the two appenders writes (the 10,000 in all). */
#define PER_APPENDER 5000

/*
 * One appender process (this program run as "--appender NAME PREFIX COUNT ENDPOINT"), as a
 * coordinator is: its own etcd client, its own coord_audit. It says "ready" once its client
 * answers, waits for a byte on stdin so that both start together, appends COUNT entries
 * one by one and says "done FAILURES CONFLICTS START END" (monotonic seconds, comparable
 * across processes). Exit 0 when every append succeeded.
 */
static int appender_main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: %s --appender NAME PREFIX COUNT ENDPOINT\n", argv[0]);
		return 2;
	}
	const char *name = argv[2], *prefix = argv[3];
	int count = atoi(argv[4]), failures = 0;
	const char *eps[] = {argv[5]};
	coord_etcd_opts_t o = {.timeout_ms = 5000};
	coord_etcd_t *etcd = NULL;
	coord_audit_t *a = NULL;
	tandem_diag_t *diag = NULL;
	coord_audit_head_t h;
	char go = 0;
	if (coord_etcd_global_init() != TANDEM_OK || tandem_diag_new(&diag) != TANDEM_OK ||
	    coord_etcd_new(eps, 1, &o, diag, &etcd) != TANDEM_OK ||
	    coord_audit_new(etcd, prefix, &a) != TANDEM_OK ||
	    coord_audit_head(a, diag, &h) != TANDEM_OK) {
		fprintf(stderr, "%s: cannot reach etcd at %s\n", name, argv[5]);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	if (read(STDIN_FILENO, &go, 1) != 1) {
		return 1;
	}
	double t0 = etcd_now_s();
	for (int i = 0; i < count; i++) {
		char details[64];
		audit_entry_t e;
		snprintf(details, sizeof(details), "%s %d", name, i);
		tandem_audit_event_t ev = {.type = "test.append",
					   .level = TANDEM_AUDIT_INFO,
					   .actor = name,
					   .key_id = -1,
					   .details = details};
		audit_entry_from_event(&ev, name, T0 + (uint64_t)i, &e);
		int ret = coord_audit_append(a, &e, 1, diag);
		if (ret != TANDEM_OK) {
			fprintf(stderr, "%s: append %d: %s\n", name, i, tandem_strerror(ret));
			for (size_t k = 0; k < tandem_diag_kept(diag); k++) {
				fprintf(stderr, "  %s\n", tandem_diag_msg(diag, k));
			}
			tandem_diag_clear(diag);
			failures++;
		}
	}
	printf("done %d %" PRIu64 " %.6f %.6f\n", failures, coord_audit_conflicts(a), t0,
	       etcd_now_s());
	fflush(stdout);
	coord_audit_free(a);
	coord_etcd_free(etcd);
	tandem_diag_free(diag);
	coord_etcd_global_cleanup();
	return failures == 0 ? 0 : 1;
}

typedef struct appender {
	const char *name;
	pid_t pid;
	int to, from; /* its stdin, its stdout */
	char line[256];
	size_t len;
	int failures;
	uint64_t conflicts;
	double start, end;
} appender_t;

/* Starts this program as an appender process; it dies with the test (PR_SET_PDEATHSIG). */
static void appender_spawn(appender_t *ap, const char *prefix, int count)
{
	int in[2], out[2];
	char n[16];
	snprintf(n, sizeof(n), "%d", count);
	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_eq(pipe(out), 0);
	pid_t parent = getpid();
	ap->pid = fork();
	ck_assert_int_ge(ap->pid, 0);
	if (ap->pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) {
			_exit(1);
		}
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execl("/proc/self/exe", "test_coord_audit", "--appender", ap->name, prefix, n,
		      suite_etcd.endpoint, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	ap->to = in[1];
	ap->from = out[0];
	ap->len = 0;
}

/* Reads the appender's next line (at most timeout_s seconds) into ap->line. */
static void appender_line(appender_t *ap, double timeout_s)
{
	double until = etcd_now_s() + timeout_s;
	ap->len = 0;
	for (;;) {
		double left = until - etcd_now_s();
		ck_assert_msg(left > 0, "%s: no line within %.0f s", ap->name, timeout_s);
		struct pollfd p = {.fd = ap->from, .events = POLLIN};
		int r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		ck_assert_int_ge(r, 0);
		if (r == 0) {
			continue;
		}
		char c;
		ssize_t got = read(ap->from, &c, 1);
		ck_assert_msg(got == 1, "%s: exited before its line", ap->name);
		if (c == '\n') {
			ap->line[ap->len] = '\0';
			return;
		}
		ck_assert_uint_lt(ap->len, sizeof(ap->line) - 1);
		ap->line[ap->len++] = c;
	}
}

typedef struct client {
	coord_etcd_t *etcd;
	coord_audit_t *a;
	tandem_diag_t *diag;
} client_t;

static void client_open(client_t *c, const char *prefix)
{
	const char *eps[] = {suite_etcd.endpoint};
	coord_etcd_opts_t o = {.timeout_ms = 5000};
	ck_assert_int_eq(tandem_diag_new(&c->diag), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_new(eps, 1, &o, c->diag, &c->etcd), TANDEM_OK);
	ck_assert_int_eq(coord_audit_new(c->etcd, prefix, &c->a), TANDEM_OK);
}

static void client_close(client_t *c)
{
	coord_audit_free(c->a);
	coord_etcd_free(c->etcd);
	tandem_diag_free(c->diag);
}

/* Reads the whole chain from from_seq into a verifier started at start/prev. */
static audit_chain_t *read_chain(client_t *c, uint64_t from, const uint8_t *prev,
				 audit_verdict_t *v, char **seen_details, size_t nseen)
{
	audit_chain_t *ch = NULL;
	ck_assert_int_eq(audit_chain_new(from, prev, NULL, &ch), TANDEM_OK);
	for (uint64_t next = from;;) {
		coord_audit_lines_t *l = NULL;
		ck_assert_int_eq(coord_audit_read(c->a, next, 1000, c->diag, &l), TANDEM_OK);
		for (size_t i = 0; i < l->n; i++) {
			ck_assert_uint_eq(l->seq[i], next + i);
			ck_assert_int_eq(audit_chain_add_line(ch, l->line[i], strlen(l->line[i])),
					 TANDEM_OK);
			if (seen_details != NULL && l->seq[i] <= nseen) {
				audit_entry_t e;
				ck_assert_int_eq(
				    audit_entry_decode(l->line[i], strlen(l->line[i]), NULL, &e),
				    TANDEM_OK);
				seen_details[l->seq[i] - 1] = strdup(e.details);
			}
		}
		size_t n = l->n;
		coord_audit_lines_free(l);
		if (n == 0) {
			break;
		}
		next += n;
	}
	ck_assert_int_eq(audit_chain_verify(ch, v), TANDEM_OK);
	return ch;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

START_TEST(two_appenders_one_chain)
{
	appender_t ap[2] = {{.name = "coord-a"}, {.name = "coord-b"}};
	for (int i = 0; i < 2; i++) {
		appender_spawn(&ap[i], "/audit-race/", PER_APPENDER);
	}
	for (int i = 0; i < 2; i++) {
		appender_line(&ap[i], 60);
		ck_assert_str_eq(ap[i].line, "ready");
	}
	double t0 = etcd_now_s();
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(write(ap[i].to, "g", 1), 1);
	}
	for (int i = 0; i < 2; i++) {
		appender_line(&ap[i], 200);
		ck_assert_msg(sscanf(ap[i].line, "done %d %" SCNu64 " %lf %lf", &ap[i].failures,
				     &ap[i].conflicts, &ap[i].start, &ap[i].end) == 4,
			      "%s: %s", ap[i].name, ap[i].line);
		int status = 0;
		ck_assert_int_eq(waitpid(ap[i].pid, &status, 0), ap[i].pid);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "%s: status %#x, %d appends failed", ap[i].name, status,
			      ap[i].failures);
		close(ap[i].to);
		close(ap[i].from);
	}
	double took = etcd_now_s() - t0;
	fprintf(stderr,
		"audit race: %d entries by 2 appender processes in %.1f s (%" PRIu64 " + %" PRIu64
		" races lost)\n",
		2 * PER_APPENDER, took, ap[0].conflicts, ap[1].conflicts);
	ck_assert_int_eq(ap[0].failures + ap[1].failures, 0);
	/* they did run at the same time: each started before the other ended */
	ck_assert_msg(ap[0].start < ap[1].end && ap[1].start < ap[0].end,
		      "the appenders did not overlap: %.3f-%.3f and %.3f-%.3f", ap[0].start,
		      ap[0].end, ap[1].start, ap[1].end);
	client_t c;
	client_open(&c, "/audit-race/");
	coord_audit_head_t h;
	ck_assert_int_eq(coord_audit_head(c.a, c.diag, &h), TANDEM_OK);
	ck_assert_uint_eq(h.seq, 2 * PER_APPENDER);
	ck_assert_uint_eq(h.base_seq, 1);
	char **details = calloc(2 * PER_APPENDER, sizeof(*details));
	audit_verdict_t v;
	audit_chain_t *ch = read_chain(&c, 1, NULL, &v, details, 2 * PER_APPENDER);
	ck_assert_msg(v.fault == AUDIT_FAULT_NONE, "%s", v.text);
	ck_assert_uint_eq(v.first_seq, 1);
	ck_assert_uint_eq(v.last_seq, 2 * PER_APPENDER);
	ck_assert_mem_eq(v.last_hash, h.hash, AUDIT_HASH_LEN);
	/* every event of each appender is there exactly once */
	qsort(details, 2 * PER_APPENDER, sizeof(*details), str_cmp);
	for (size_t i = 0; i + 1 < 2 * PER_APPENDER; i++) {
		ck_assert_ptr_nonnull(details[i]);
		ck_assert_str_ne(details[i], details[i + 1]);
	}
	for (size_t i = 0; i < 2 * PER_APPENDER; i++) {
		free(details[i]);
	}
	free(details);
	audit_chain_free(ch);
	client_close(&c);
}
END_TEST

START_TEST(cut_keeps_the_chain_verifiable)
{
	client_t c;
	client_open(&c, "/audit-cut/");
	audit_entry_t e[30];
	for (int i = 0; i < 30; i++) {
		tandem_audit_event_t ev = {.type = "test.cut", .actor = "coord:a", .key_id = i};
		audit_entry_from_event(&ev, "coord-a", T0 + (uint64_t)i * 1000u, &e[i]);
	}
	ck_assert_int_eq(coord_audit_append(c.a, e, 10, c.diag), TANDEM_OK);
	ck_assert_int_eq(coord_audit_append(c.a, e + 10, 20, c.diag), TANDEM_OK);
	coord_audit_head_t h;
	ck_assert_int_eq(coord_audit_head(c.a, c.diag, &h), TANDEM_OK);
	ck_assert_uint_eq(h.seq, 30);
	/* the head stays: a cut through it is refused */
	ck_assert_int_eq(coord_audit_cut(c.a, &h, 30, e[29].hash, c.diag), TANDEM_EINVAL);
	ck_assert_int_eq(coord_audit_cut(c.a, &h, 12, e[11].hash, c.diag), TANDEM_OK);
	/* a second cut from the same (old) view loses: the base moved */
	ck_assert_int_eq(coord_audit_cut(c.a, &h, 14, e[13].hash, c.diag), TANDEM_COORD_ECONFLICT);
	coord_audit_head_t h2;
	ck_assert_int_eq(coord_audit_head(c.a, c.diag, &h2), TANDEM_OK);
	ck_assert_uint_eq(h2.base_seq, 13);
	ck_assert_mem_eq(h2.base_prev, e[11].hash, AUDIT_HASH_LEN);
	coord_audit_lines_t *l = NULL;
	ck_assert_int_eq(coord_audit_read(c.a, 1, 100, c.diag, &l), TANDEM_OK);
	ck_assert_uint_eq(l->n, 18);
	ck_assert_uint_eq(l->seq[0], 13);
	coord_audit_lines_free(l);
	audit_verdict_t v;
	audit_chain_t *ch = read_chain(&c, h2.base_seq, h2.base_prev, &v, NULL, 0);
	ck_assert_msg(v.fault == AUDIT_FAULT_NONE, "%s", v.text);
	ck_assert_uint_eq(v.first_seq, 13);
	audit_chain_free(ch);
	/* appends go on after a cut */
	ck_assert_int_eq(coord_audit_append(c.a, e, 1, c.diag), TANDEM_OK);
	ck_assert_uint_eq(e[0].seq, 31);
	/* anchor keys */
	audit_keyring_t kr;
	uint8_t pub[AUDIT_KEY_LEN];
	memset(&kr, 0, sizeof(kr));
	memset(pub, 7, sizeof(pub));
	ck_assert_int_eq(coord_audit_key_put(c.a, "coord-a", pub, c.diag), TANDEM_OK);
	ck_assert_int_eq(coord_audit_keys_get(c.a, c.diag, &kr), TANDEM_OK);
	ck_assert_uint_eq(kr.n, 1);
	ck_assert_str_eq(kr.keys[0].name, "coord-a");
	client_close(&c);
}
END_TEST

static Suite *audit_suite(void)
{
	Suite *s = suite_create("coord_audit");
	TCase *tc = tcase_create("etcd");
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, two_appenders_one_chain);
	tcase_add_test(tc, cut_keeps_the_chain_verifiable);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--appender") == 0) {
		return appender_main(argc, argv);
	}
	if (coord_etcd_global_init() != TANDEM_OK) {
		fprintf(stderr, "curl_global_init failed\n");
		return 1;
	}
	etcd_start(&suite_etcd);
	SRunner *sr = srunner_create(audit_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	etcd_stop(&suite_etcd);
	coord_etcd_global_cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
