/* tandem-coord's audit sink against a real etcd: the queue while etcd does not serve, the
 * loss recorded when it overflows, the mirror, anchors, and a loose anchor key refused. */
#include "audit_log.h"
#include "coord_audit.h"
#include "coord_etcd.h"
#include "coordd_audit.h"
#include "etcd_fixture.h"
#include "tandem_error.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static etcd_proc_t suite_etcd;

/* The daemon's log, as the test sees it. */
typedef struct logbook {
	size_t lines, dropped;
	char last[1024];
} logbook_t;

static void log_line(void *arg, const char *line)
{
	logbook_t *b = arg;
	b->lines++;
	if (strstr(line, "event dropped") != NULL) {
		b->dropped++;
	}
	snprintf(b->last, sizeof(b->last), "%s", line);
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static coord_etcd_t *etcd_client(void)
{
	const char *eps[] = {suite_etcd.endpoint};
	coord_etcd_opts_t o = {.timeout_ms = 5000};
	coord_etcd_t *c = NULL;
	ck_assert_int_eq(coord_etcd_new(eps, 1, &o, NULL, &c), TANDEM_OK);
	return c;
}

static void write_key(const char *path, int mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ck_assert_int_ge(fd, 0);
	const char hex[] = "0707070707070707070707070707070707070707070707070707070707070707\n";
	ck_assert_int_eq(write(fd, hex, strlen(hex)), (int)strlen(hex));
	close(fd);
	ck_assert_int_eq(chmod(path, (mode_t)mode), 0);
}

START_TEST(overflow_is_recorded_and_mirror_verifies)
{
	char dir[] = "/tmp/tandem-coordd-audit.XXXXXX", mirror[256], key[256];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(mirror, sizeof(mirror), "%s/audit.jsonl", dir);
	snprintf(key, sizeof(key), "%s/anchor.secret", dir);
	coord_etcd_t *etcd = etcd_client();
	logbook_t book = {0};
	coordd_audit_cfg_t cfg = {.name = "coord-t",
				  .prefix = "/coordd-audit/",
				  .mirror = mirror,
				  .archive_dir = dir,
				  .key_file = key,
				  .anchor_every_ms = 1,
				  .log = log_line,
				  .log_arg = &book};
	coordd_audit_t *a = NULL;
	/* a key file others may read is refused */
	write_key(key, 0644);
	ck_assert_int_eq(coordd_audit_new(etcd, &cfg, &a), TANDEM_EPERM);
	write_key(key, 0600);
	ck_assert_int_eq(coordd_audit_new(etcd, &cfg, &a), TANDEM_OK);
	ck_assert_int_eq(coordd_audit_publish_key(a), TANDEM_OK);
	/* etcd "down": events queue; 10 beyond the bound are dropped, each logged */
	tandem_audit_sink_t sink = coordd_audit_sink(a);
	for (int i = 0; i < (int)COORDD_AUDIT_QUEUE_MAX + 10; i++) {
		char details[32];
		snprintf(details, sizeof(details), "event %d", i);
		tandem_audit_event_t ev = {.type = "test.event",
					   .level = TANDEM_AUDIT_INFO,
					   .actor = "coord:coord-t",
					   .key_id = -1,
					   .details = details};
		tandem_audit(&sink, &ev);
		ck_assert_int_eq(coordd_audit_turn(a, wall_ms(), false, true), TANDEM_OK);
	}
	ck_assert_uint_eq(book.dropped, 10);
	ck_assert_uint_eq(coordd_audit_pending(a), COORDD_AUDIT_QUEUE_MAX);
	/* etcd serves: the queue drains (bounded), the mirror follows */
	for (int i = 0; i < 500 && coordd_audit_pending(a) > 0; i++) {
		ck_assert_int_eq(coordd_audit_turn(a, wall_ms(), true, false), TANDEM_OK);
	}
	ck_assert_uint_eq(coordd_audit_pending(a), 0);
	for (int i = 0; i < 100; i++) { /* the anchor, queued now the chain has content */
		ck_assert_int_eq(coordd_audit_turn(a, wall_ms() + 1000u * (unsigned)i, true, false),
				 TANDEM_OK);
	}
	coordd_audit_free(a);
	/* the chain holds the loss and an anchor, and the mirror verifies with the key */
	FILE *fp = fopen(mirror, "r");
	ck_assert_ptr_nonnull(fp);
	audit_keyring_t kr;
	memset(&kr, 0, sizeof(kr));
	coord_audit_t *st = NULL;
	ck_assert_int_eq(coord_audit_new(etcd, "/coordd-audit/", &st), TANDEM_OK);
	ck_assert_int_eq(coord_audit_keys_get(st, NULL, &kr), TANDEM_OK);
	ck_assert_uint_eq(kr.n, 1);
	audit_chain_t *ch = NULL;
	ck_assert_int_eq(audit_chain_new(1, NULL, &kr, &ch), TANDEM_OK);
	char line[AUDIT_LINE_MAX + 2];
	size_t n = 0;
	bool first_dropped = false;
	size_t lost = 0, nlost = 0; /* the losses the chain records, in how many entries */
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		ck_assert_int_eq(audit_chain_add_line(ch, line, strlen(line)), TANDEM_OK);
		const char *d = strstr(line, "\"type\":\"audit.lost\"") != NULL
				    ? strstr(line, "\"details\":\"")
				    : NULL;
		lost += d != NULL ? strtoul(d + strlen("\"details\":\""), NULL, 10) : 0;
		nlost += d != NULL;
		first_dropped = first_dropped || strstr(line, "\"details\":\"event 0\"") != NULL;
		n++;
	}
	fclose(fp);
	struct stat sb;
	ck_assert_int_eq(stat(mirror, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0600);
	audit_verdict_t v;
	ck_assert_int_eq(audit_chain_verify(ch, &v), TANDEM_OK);
	ck_assert_msg(v.fault == AUDIT_FAULT_NONE, "%s", v.text);
	/* every event dropped, those dropped to make room for the loss entry included, is
	 * counted in the chain */
	ck_assert_uint_ge(book.dropped, 10);
	ck_assert_uint_eq(lost, book.dropped);
	ck_assert_msg(!first_dropped, "the oldest events should have been the ones dropped");
	/* the events kept, the loss entries and the anchors: nothing else */
	ck_assert_uint_eq(n, COORDD_AUDIT_QUEUE_MAX + 10 - book.dropped + nlost + v.anchors);
	audit_chain_free(ch);
	/* a restarted sink continues its mirror: one more event lands after the last */
	cfg.anchor_every_ms = 0;
	ck_assert_int_eq(coordd_audit_new(etcd, &cfg, &a), TANDEM_OK);
	sink = coordd_audit_sink(a);
	tandem_audit_event_t ev = {.type = "test.after", .actor = "coord:coord-t", .key_id = -1};
	tandem_audit(&sink, &ev);
	ck_assert_int_eq(coordd_audit_turn(a, wall_ms(), true, false), TANDEM_OK);
	coordd_audit_free(a);
	fp = fopen(mirror, "r");
	size_t m = 0;
	while (fgets(line, sizeof(line), fp) != NULL) {
		m++;
	}
	fclose(fp);
	ck_assert_uint_eq(m, n + 1);
	unlink(mirror);
	unlink(key);
	ck_assert_int_eq(rmdir(dir), 0); /* nothing else was left there */
	coord_audit_free(st);
	coord_etcd_free(etcd);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("coordd_audit");
	TCase *tc = tcase_create("etcd");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, overflow_is_recorded_and_mirror_verifies);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (coord_etcd_global_init() != TANDEM_OK) {
		return 1;
	}
	etcd_start(&suite_etcd);
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	etcd_stop(&suite_etcd);
	coord_etcd_global_cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
