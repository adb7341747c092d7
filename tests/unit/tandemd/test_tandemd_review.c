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

/* A zone file with serial `serial` and a TXT naming it. */
static void review_zone(const char *dir, const char *name, uint32_t serial, char *path, size_t size)
{
	char text[512];
	snprintf(text, sizeof(text),
		 "$ORIGIN example.\n$TTL 3600\n@ SOA ns1 admin %u 3600 900 604800 300\n"
		 "@ NS ns1\nns1 A 192.0.2.1\ntxt TXT \"version %u\"\n",
		 serial, serial);
	ts_write_file(dir, name, text, path, size);
}

/* Runs kdig (bounded) with the key in keyfile (kdig's -k format; NULL: unsigned); its
 * output in a string the caller frees. */
static char *review_kdig(const char *dir, const char *addr, const char *keyfile, const char *what)
{
	char cmd[2048], out[600];
	const char *colon = strrchr(addr, ':');
	snprintf(out, sizeof(out), "%s/kdig.out", dir);
	snprintf(cmd, sizeof(cmd),
		 "timeout 30 kdig @%.*s -p %s +retry=0 +time=10 %s %s %s > %s 2>&1",
		 (int)(colon - addr), addr, colon + 1, keyfile != NULL ? "-k" : "",
		 keyfile != NULL ? keyfile : "", what, out);
	(void)system(cmd);
	FILE *f = fopen(out, "r");
	ck_assert_ptr_nonnull(f);
	char *buf = calloc(1, 65536);
	size_t n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The review port: loopback only, TSIG required; a version is served only between
 * tdm_review_srv_serve and _unserve; the hook gets the address, the key's name and file
 * (not the secret) and can read the zone by AXFR there. */
START_TEST(test_review_port)
{
	char dir[256], key[512], zone[512], hook[512], kfile[512], got[600];
	ts_tmpdir(dir, sizeof(dir));
	ts_write_file(dir, "tsig.key",
		      "review-key hmac-sha256 c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMw==\n", key,
		      sizeof(key));
	ck_assert_int_eq(chmod(key, 0600), 0);
	/* kdig's -k file: ALG:NAME:SECRET */
	ts_write_file(dir, "kdig.key",
		      "hmac-sha256:review-key:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMw==\n",
		      kfile, sizeof(kfile));
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	const char *keys[] = {key};
	tdm_review_srv_t *rs = NULL;
	/* anything but loopback is refused, and so is a port without a key */
	static const char *const bad[] = {"0.0.0.0:0", "192.0.2.1:5300", "[::]:0", "localhost:0"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(tdm_review_srv_start(bad[i], keys, 1, diag, &rs), TANDEM_ESYNTAX);
		ck_assert_ptr_null(rs);
		ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, 0), "not a loopback address"));
		tandem_diag_clear(diag);
	}
	ck_assert(tdm_review_listen_ok("127.0.0.1:0") && tdm_review_listen_ok("127.9.8.7:53") &&
		  tdm_review_listen_ok("[::1]:5300"));
	ck_assert(!tdm_review_listen_ok("[::2]:0") && !tdm_review_listen_ok("127.0.0.1") &&
		  !tdm_review_listen_ok("[::ffff:127.0.0.1]:0") && !tdm_review_listen_ok(":53") &&
		  !tdm_review_listen_ok(NULL));
	ck_assert_int_eq(tdm_review_srv_start("127.0.0.1:0", keys, 0, diag, &rs), TANDEM_EINVAL);
	tandem_diag_clear(diag);
	ck_assert_int_eq(tdm_review_srv_start("127.0.0.1:0", keys, 1, diag, &rs), TANDEM_OK);
	tdm_review_req_t req = {
	    .command = hook, .zone = "example.", .stage = "signed", .serial = 7, .timeout_s = 30};
	tdm_review_srv_req(rs, &req);
	ck_assert_ptr_nonnull(strstr(req.axfr, "127.0.0.1:"));
	ck_assert_str_eq(req.key, "review-key.");
	ck_assert_str_eq(req.key_file, key);
	/* nothing served before */
	char *out = review_kdig(dir, req.axfr, kfile, "example. SOA");
	ck_assert_msg(strstr(out, "NOTAUTH") != NULL, "%s", out);
	free(out);
	review_zone(dir, "example.zone", 7, zone, sizeof(zone));
	req.file = zone;
	ck_assert_int_eq(tdm_review_srv_serve(rs, "example.", zone, diag), TANDEM_OK);
	/* the hook reads the key's file itself and transfers the zone */
	snprintf(got, sizeof(got), "%s/got", dir);
	char body[2048];
	snprintf(body, sizeof(body),
		 "#!/bin/sh\n"
		 "case \"$TANDEM_REVIEW_AXFR\" in 127.0.0.1:*) ;; *) echo no address; exit 2;; "
		 "esac\n"
		 "env | grep -q c2VjcmV0 && { echo the secret is in the environment; exit 3; }\n"
		 "read -r name alg secret < \"$TANDEM_REVIEW_KEY_FILE\"\n"
		 "[ \"$name.\" = \"$TANDEM_REVIEW_KEY\" ] || { echo key $name; exit 4; }\n"
		 "k=$(mktemp) && printf '%%s:%%s:%%s\\n' \"$alg\" \"$name\" \"$secret\" > \"$k\"\n"
		 "kdig @127.0.0.1 -p \"${TANDEM_REVIEW_AXFR##*:}\" +retry=0 +time=10 -k \"$k\" "
		 "AXFR \"$TANDEM_ZONE\" > %s 2>&1\n"
		 "rc=$?; rm -f \"$k\"; exit $rc\n",
		 got);
	script(dir, "axfr.sh", body, hook, sizeof(hook));
	tdm_review_result_t res;
	ck_assert_int_eq(tdm_review_run(&req, &res), TANDEM_OK);
	ck_assert_msg(res.approved, "%s: %s", res.reason, res.output);
	FILE *f = fopen(got, "r");
	ck_assert_ptr_nonnull(f);
	char text[8192];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	ck_assert_msg(strstr(text, "\"version 7\"") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "SOA\tns1.example. admin.example. 7 ") != NULL, "%s", text);
	/* without the key: refused */
	out = review_kdig(dir, req.axfr, NULL, "example. SOA");
	ck_assert_msg(strstr(out, "REFUSED") != NULL, "%s", out);
	free(out);
	/* and after: no longer served */
	tdm_review_srv_unserve(rs, "example.");
	out = review_kdig(dir, req.axfr, kfile, "example. SOA");
	ck_assert_msg(strstr(out, "NOTAUTH") != NULL, "%s", out);
	free(out);
	tdm_review_srv_free(rs);
	tandem_diag_free(diag);
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
	tcase_add_test(tc, test_review_port);
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
