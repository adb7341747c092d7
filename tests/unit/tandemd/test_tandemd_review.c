/* tandemd's review hooks: the environment a hook sees, its verdict, its output kept for the
 * log, the timeout that kills it and whatever it started, and the private copy. */
#include "tandemd_review.h"

#include "tandem_error.h"
#include "testsupport.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writes an executable script dir/name; its path into path. */
static void script(const char *dir, const char *name, const char *body, char *path, size_t size)
{
	ts_write_file(dir, name, body, path, size);
	ck_assert_int_eq(chmod(path, 0700), 0);
}

START_TEST(test_review_approve_env)
{
	char dir[256], hook[512], cmd[600], out[600];
	ts_tmpdir(dir, sizeof(dir));
	setenv("TANDEM_PIN", "1234", 1); /* tandemd's own environment never reaches a hook */
	snprintf(out, sizeof(out), "%s/env.txt", dir);
	script(dir, "hook.sh",
	       "#!/bin/sh\n"
	       "echo \"$1 $2 $TANDEM_ZONE $TANDEM_SERIAL $TANDEM_STAGE $TANDEM_ZONE_FILE "
	       "pin=${TANDEM_PIN:-none}\" > \"$TANDEM_ZONE_FILE.env\"\n"
	       "echo looks fine\n",
	       hook, sizeof(hook));
	snprintf(cmd, sizeof(cmd), "%s  first\tsecond", hook);
	tdm_review_req_t req = {.command = cmd,
				.zone = "example.",
				.stage = "unsigned",
				.file = out,
				.serial = 2024010101,
				.timeout_s = 30};
	tdm_review_result_t res;
	ck_assert_int_eq(tdm_review_run(&req, &res), TANDEM_OK);
	ck_assert_msg(res.approved, "%s: %s", res.reason, res.output);
	ck_assert_str_eq(res.reason, "exit 0");
	ck_assert_str_eq(res.first_line, "looks fine");
	char envfile[700], line[1024] = "", want[1024];
	snprintf(envfile, sizeof(envfile), "%s.env", out);
	FILE *f = fopen(envfile, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	fclose(f);
	snprintf(want, sizeof(want), "first second example. 2024010101 unsigned %s pin=none\n",
		 out);
	ck_assert_str_eq(line, want);
	unsetenv("TANDEM_PIN");
	ts_rmtree(dir);
}
END_TEST

START_TEST(test_review_reject_output)
{
	char dir[256], hook[512];
	ts_tmpdir(dir, sizeof(dir));
	script(dir, "no.sh",
	       "#!/bin/sh\n\necho \"marker record at line 7\" >&2\necho second line\nexit 3\n",
	       hook, sizeof(hook));
	tdm_review_req_t req = {.command = hook,
				.zone = "example.",
				.stage = "signed",
				.file = "/dev/null",
				.serial = 5,
				.timeout_s = 30};
	tdm_review_result_t res;
	ck_assert_int_eq(tdm_review_run(&req, &res), TANDEM_OK);
	ck_assert(!res.approved);
	ck_assert(!res.timed_out);
	ck_assert_str_eq(res.reason, "exit 3");
	ck_assert_str_eq(res.first_line, "marker record at line 7");
	ck_assert_str_eq(res.output, "marker record at line 7 | second line");

	/* a flood of output is cut, not kept whole, and does not stall the hook */
	script(dir, "loud.sh", "#!/bin/sh\nhead -c 2000000 /dev/zero | tr '\\0' x\nexit 0\n", hook,
	       sizeof(hook));
	req.command = hook;
	ck_assert_int_eq(tdm_review_run(&req, &res), TANDEM_OK);
	ck_assert(res.approved);
	ck_assert_uint_lt(strlen(res.output), TDM_REVIEW_OUTPUT_MAX);
	ck_assert_uint_gt(strlen(res.output), TDM_REVIEW_OUTPUT_MAX / 2);

	/* a program that does not exist is a rejection that says why */
	snprintf(hook, sizeof(hook), "%s/missing.sh", dir);
	req.command = hook;
	ck_assert_int_eq(tdm_review_run(&req, &res), TANDEM_OK);
	ck_assert(!res.approved);
	ck_assert_ptr_nonnull(strstr(res.first_line, "No such file"));
	/* and a command the policy would refuse is refused here too */
	req.command = "hook.sh";
	ck_assert_int_eq(tdm_review_run(&req, &res), TANDEM_EINVAL);
	ck_assert(!res.approved);
	ts_rmtree(dir);
}
END_TEST

/* A hook that hangs, and a child it left behind, are killed at the timeout. */
START_TEST(test_review_timeout)
{
	char dir[256], hook[512], pidfile[600], body[1024];
	ts_tmpdir(dir, sizeof(dir));
	snprintf(pidfile, sizeof(pidfile), "%s/child.pid", dir);
	snprintf(body, sizeof(body),
		 "#!/bin/sh\nsleep 300 &\necho $! > %s\necho waiting\nsleep 300\n", pidfile);
	script(dir, "hang.sh", body, hook, sizeof(hook));
	tdm_review_req_t req = {.command = hook,
				.zone = "example.",
				.stage = "unsigned",
				.file = "/dev/null",
				.serial = 1,
				.timeout_s = 1};
	tdm_review_result_t res;
	ck_assert_int_eq(tdm_review_run(&req, &res), TANDEM_OK);
	ck_assert(!res.approved);
	ck_assert(res.timed_out);
	ck_assert_str_eq(res.reason, "killed after the timeout of 1 s");
	ck_assert_str_eq(res.first_line, "waiting");
	ck_assert_msg(res.seconds >= 1.0 && res.seconds < 30.0, "took %.2f s", res.seconds);
	FILE *f = fopen(pidfile, "r");
	ck_assert_ptr_nonnull(f);
	int child = 0;
	ck_assert_int_eq(fscanf(f, "%d", &child), 1);
	fclose(f);
	/* the background sleep was in the hook's process group: gone (reaped by init) */
	bool gone = false;
	for (int i = 0; i < 200 && !gone; i++) {
		char stat[64], buf[256] = "";
		snprintf(stat, sizeof(stat), "/proc/%d/stat", child);
		FILE *s = fopen(stat, "r");
		gone = s == NULL ||
		       (fgets(buf, sizeof(buf), s) != NULL && strstr(buf, ") Z ") != NULL);
		if (s != NULL) {
			fclose(s);
		}
		if (!gone) {
			usleep(50 * 1000);
		}
	}
	ck_assert_msg(gone, "the hook's child %d still runs", child);
	ts_rmtree(dir);
}
END_TEST

START_TEST(test_review_copy)
{
	char dir[256], src[512], copy[512];
	ts_tmpdir(dir, sizeof(dir));
	static const char text[] = "example. 3600 IN SOA a. b. 1 2 3 4 5\n";
	ts_write_file(dir, "zone", text, src, sizeof(src));
	ck_assert_int_eq(chmod(src, 0644), 0);
	ck_assert_int_eq(tdm_review_copy(src, dir, "example.review", copy, sizeof(copy)),
			 TANDEM_OK);
	struct stat st;
	ck_assert_int_eq(stat(copy, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(st.st_size, (off_t)strlen(text));
	ck_assert_ptr_nonnull(strstr(copy, "/example.review."));
	ck_assert_int_eq(unlink(copy), 0);
	char missing[600];
	snprintf(missing, sizeof(missing), "%s/none", dir);
	ck_assert_int_eq(tdm_review_copy(missing, dir, "x", copy, sizeof(copy)), TANDEM_EIO);
	ts_rmtree(dir);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tandemd_review");
	TCase *tc = tcase_create("review");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_review_approve_env);
	tcase_add_test(tc, test_review_reject_output);
	tcase_add_test(tc, test_review_timeout);
	tcase_add_test(tc, test_review_copy);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
