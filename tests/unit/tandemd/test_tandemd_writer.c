/* tandemd's file writer: the file follows, the newest version wins, a zone released while
 * written is freed by the writer, a failed write leaves nothing half-written. */
#include "tandemd_writer.h"

#include "tandem_error.h"
#include "testsupport.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* conf/example.zone with SOA serial `serial`, loaded. */
static dns_zone_t *example(const char *dir, uint32_t serial)
{
	char src[512], path[600], cmd[1400];
	ts_srcpath("conf/example.zone", src, sizeof(src));
	snprintf(path, sizeof(path), "%s/in%u.zone", dir, serial);
	snprintf(cmd, sizeof(cmd), "sed 's/2024010101 ; serial/%u ; serial/' '%s' >'%s'", serial,
		 src, path);
	ck_assert_int_eq(system(cmd), 0);
	dns_load_opts_t lo = {.origin = "example."};
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = NULL;
	ck_assert_int_eq(dns_zone_load(path, &lo, diag, &z), TANDEM_OK);
	tandem_diag_free(diag);
	return z;
}

/* The SOA serial of the zone file at path (0: none, or it does not load). */
static uint32_t file_serial(const char *path)
{
	dns_load_opts_t lo = {.origin = "example.", .keep_dnssec = true};
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_zone_t *z = NULL;
	uint32_t serial = 0;
	if (dns_zone_load(path, &lo, diag, &z) == TANDEM_OK) {
		(void)dns_zone_soa_serial(z, &serial);
	}
	dns_zone_free(z);
	tandem_diag_free(diag);
	return serial;
}

/* Waits (10 s at most) until slot 0 has ended `done` writes and is idle. */
static void wait_done(tdm_writer_t *w, uint64_t done, tdm_writer_state_t *st)
{
	for (int i = 0; i < 1000; i++) {
		tdm_writer_get(w, 0, st);
		if (st->done >= done && !st->busy) {
			return;
		}
		struct timespec t = {0, 10000000L};
		nanosleep(&t, NULL);
	}
	ck_abort_msg("the writer did not end %llu writes in 10 s", (unsigned long long)done);
}

/* Waits (10 s at most) until slot 0 is writing zone: the writer took it and waits its delay. */
static void wait_writing(tdm_writer_t *w, const dns_zone_t *zone)
{
	tdm_writer_state_t st;
	for (int i = 0; i < 1000; i++) {
		tdm_writer_get(w, 0, &st);
		if (st.writing == zone) {
			return;
		}
		struct timespec t = {0, 10000000L};
		nanosleep(&t, NULL);
	}
	ck_abort_msg("the writer did not take the zone in 10 s");
}

/* Files in dir whose name holds ".tmp." (a temporary file left behind). */
static int tmp_files(const char *dir)
{
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	int n = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		n += strstr(e->d_name, ".tmp.") != NULL;
	}
	closedir(d);
	return n;
}

START_TEST(test_writer)
{
	char dir[256], out[512], bad[512];
	ts_tmpdir(dir, sizeof(dir));
	snprintf(out, sizeof(out), "%s/example.zone", dir);
	snprintf(bad, sizeof(bad), "%s/missing/example.zone", dir);
	dns_zone_t *z[5];
	for (uint32_t i = 1; i <= 4; i++) {
		z[i] = example(dir, i);
	}
	tdm_writer_t *w = NULL;
	/* each write waits 1 s first: long enough for the steps below to act while the writer
	 * holds a zone, even on a loaded machine (wait_writing sees it take the zone) */
	ck_assert_int_eq(tdm_writer_new(1, 1000, NULL, &w), TANDEM_OK);
	tdm_writer_state_t st;

	/* the file follows a request */
	tdm_writer_submit(w, 0, out, z[1], 1);
	wait_done(w, 1, &st);
	ck_assert(st.ok);
	ck_assert_uint_eq(st.serial, 1);
	ck_assert_str_eq(st.path, out);
	ck_assert_uint_eq(file_serial(out), 1);

	/* while serial 1 is written again, 2 then 3 are asked for: 3 replaces 2, which is
	 * never written */
	tdm_writer_submit(w, 0, out, z[1], 1);
	wait_writing(w, z[1]); /* the writer took it: it waits its delay */
	tdm_writer_submit(w, 0, out, z[2], 2);
	tdm_writer_submit(w, 0, out, z[3], 3);
	wait_done(w, 3, &st);
	ck_assert_uint_eq(st.done, 3);
	ck_assert(st.ok);
	ck_assert_uint_eq(st.serial, 3);
	ck_assert_uint_eq(file_serial(out), 3);

	/* a zone released while it is written: the writer takes it over and frees it; one
	 * released while waiting is dropped (the caller frees it) */
	tdm_writer_submit(w, 0, out, z[4], 4);
	wait_writing(w, z[4]);
	ck_assert(tdm_writer_release(w, 0, z[4], z[4]));
	tdm_writer_submit(w, 0, out, z[2], 2);
	ck_assert(!tdm_writer_release(w, 0, z[2], z[2]));
	wait_done(w, 4, &st);
	ck_assert_uint_eq(st.done, 4);
	ck_assert_uint_eq(file_serial(out), 4);

	/* a write that fails: said with its errno, nothing half-written, the file stays */
	tdm_writer_submit(w, 0, bad, z[1], 1);
	wait_done(w, 5, &st);
	ck_assert(!st.ok);
	ck_assert_int_eq(st.err, ENOENT);
	ck_assert_uint_eq(st.serial, 1);
	ck_assert_int_eq(tmp_files(dir), 0);
	ck_assert_uint_eq(file_serial(out), 4);

	/* a stop finishes what waits */
	tdm_writer_submit(w, 0, out, z[3], 3);
	ck_assert(tdm_writer_free(w, 10000));
	ck_assert_uint_eq(file_serial(out), 3);
	ck_assert_int_eq(tmp_files(dir), 0);
	dns_zone_free(z[1]);
	dns_zone_free(z[2]);
	dns_zone_free(z[3]);
	ts_rmtree(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tandemd_writer");
	TCase *tc = tcase_create("writer");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_writer);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
