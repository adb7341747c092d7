/* tandemd's inputs: the shrink and settle rules, the checked load (FIFO, truncation, accept,
 * the good copy), what a run reads, and the watch. */
#include "tandemd_input.h"

#include "dns_zone_copy.h"

#include "tandem_error.h"
#include "testsupport.h"
#include "testsupport_dns.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

START_TEST(test_shrink_rule)
{
	/* 10% (1000): removing more than a tenth is held, a tenth or less is not */
	ck_assert(tdm_input_shrink_held(5, 1, 1000));
	ck_assert(tdm_input_shrink_held(5, 4, 1000)); /* 20% */
	ck_assert(!tdm_input_shrink_held(100, 90, 1000));
	ck_assert(tdm_input_shrink_held(100, 89, 1000));
	ck_assert(!tdm_input_shrink_held(5, 5, 1000));
	ck_assert(!tdm_input_shrink_held(5, 50, 1000)); /* growth */
	ck_assert(!tdm_input_shrink_held(0, 0, 1000));
	ck_assert(tdm_input_shrink_held(3, 0, 1000)); /* every delegation gone */
	/* 0%: any removal; 100%: none */
	ck_assert(tdm_input_shrink_held(1000000, 999999, 0));
	ck_assert(!tdm_input_shrink_held(1000000, 0, 10000));
	/* 2.5% of a large zone, no overflow */
	ck_assert(!tdm_input_shrink_held(4000000000ull, 3900000000ull, 250));
	ck_assert(tdm_input_shrink_held(4000000000ull, 3899999999ull, 250));
}
END_TEST

static struct stat fake_stat(ino_t ino, off_t size, time_t mtime)
{
	struct stat st;
	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFREG | 0644;
	st.st_dev = 1;
	st.st_ino = ino;
	st.st_size = size;
	st.st_mtim.tv_sec = mtime;
	return st;
}

START_TEST(test_settle_rule)
{
	const uint64_t settle = 5000;
	tdm_settle_t s;
	memset(&s, 0, sizeof(s));
	ck_assert(!tdm_settle_ready(&s, settle, 0));
	/* a file renamed into place: ready at the second look that sees it unchanged */
	struct stat a = fake_stat(10, 100, 1000);
	ck_assert(tdm_settle_feed(&s, &a, 1000));
	ck_assert(!tdm_settle_ready(&s, settle, 1000));
	ck_assert(!tdm_settle_feed(&s, &a, 1250));
	ck_assert(tdm_settle_ready(&s, settle, 1250));
	/* another rename: a new inode, same rule */
	struct stat b = fake_stat(11, 80, 1001);
	ck_assert(tdm_settle_feed(&s, &b, 2000));
	ck_assert(!tdm_settle_ready(&s, settle, 2000));
	ck_assert(!tdm_settle_feed(&s, &b, 2250));
	ck_assert(tdm_settle_ready(&s, settle, 2250));
	/* written in place (same inode, it grows): waits for the settle time, however many
	 * looks see it unchanged during a pause shorter than that */
	struct stat c = fake_stat(11, 40, 1003);
	ck_assert(tdm_settle_feed(&s, &c, 3000));
	for (uint64_t t = 3250; t < 6000; t += 250) {
		ck_assert(!tdm_settle_feed(&s, &c, t));
		ck_assert(!tdm_settle_ready(&s, settle, t));
	}
	/* the writer goes on after a 3 s pause: the wait starts again */
	struct stat c2 = fake_stat(11, 120, 1006);
	ck_assert(tdm_settle_feed(&s, &c2, 6000));
	ck_assert(!tdm_settle_ready(&s, settle, 10750));
	ck_assert(!tdm_settle_feed(&s, &c2, 10750));
	ck_assert(tdm_settle_ready(&s, settle, 11000));
	/* only the mtime changes (touch, or a same-size rewrite): in place too */
	struct stat c3 = fake_stat(11, 120, 1010);
	ck_assert(tdm_settle_feed(&s, &c3, 12000));
	ck_assert(!tdm_settle_feed(&s, &c3, 12250));
	ck_assert(!tdm_settle_ready(&s, settle, 12250));
	ck_assert(tdm_settle_ready(&s, settle, 17000));
	/* settle 0: at once */
	ck_assert(tdm_settle_feed(&s, &c, 20000));
	ck_assert(tdm_settle_ready(&s, 0, 20000));
}
END_TEST

/* The first n lines of conf/example.zone (all of it for n 0) as dir/name; path in buf. */
static void example_lines(const char *dir, const char *name, size_t n, char *buf, size_t size)
{
	char src[512];
	ts_srcpath("conf/example.zone", src, sizeof(src));
	FILE *in = fopen(src, "r");
	ck_assert_ptr_nonnull(in);
	snprintf(buf, size, "%s/%s", dir, name);
	FILE *out = fopen(buf, "w");
	ck_assert_ptr_nonnull(out);
	char line[1024];
	for (size_t i = 0; fgets(line, sizeof(line), in) != NULL && (n == 0 || i < n); i++) {
		fputs(line, out);
	}
	fclose(in);
	ck_assert_int_eq(fclose(out), 0);
}

static int load(tdm_input_job_t *in, tandem_diag_t *diag)
{
	dns_zone_t *zone = NULL;
	tandem_diag_clear(diag);
	int ret = tdm_input_load(in, "example.", diag, &zone);
	ck_assert(ret == TANDEM_OK ? zone != NULL : zone == NULL);
	dns_zone_free(zone);
	return ret;
}

static bool same_bytes(const char *a, const char *b)
{
	char cmd[1200];
	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", a, b);
	return system(cmd) == 0;
}

START_TEST(test_load_checks)
{
	char dir[256], full[512], cut[512], fifo[512], good[512], empty[512];
	ts_tmpdir(dir, sizeof(dir));
	example_lines(dir, "full.zone", 0, full, sizeof(full));
	example_lines(dir, "cut.zone", 40, cut, sizeof(cut)); /* head -n 40: 1 of 5 delegations */
	snprintf(fifo, sizeof(fifo), "%s/fifo.zone", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	snprintf(good, sizeof(good), "%s/example.input", dir);
	ts_write_file(dir, "empty.zone", "", empty, sizeof(empty));
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);

	/* a FIFO without a writer: refused at once, never read (a blocking open would hang
	 * here until the test's timeout) */
	tdm_input_job_t in = {.path = fifo, .good_path = good, .max_removal = 1000};
	ck_assert_int_eq(load(&in, diag), TANDEM_EPERM);
	ck_assert_int_eq(in.result, TDM_INPUT_NOT_REGULAR);
	ck_assert_str_eq(in.type, "fifo");
	ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, 0), "not a regular file"));
	ck_assert_int_eq(access(good, F_OK), -1);
	/* a directory, a missing file */
	in.path = dir;
	ck_assert_int_eq(load(&in, diag), TANDEM_EPERM);
	ck_assert_int_eq(in.result, TDM_INPUT_NOT_REGULAR);
	char missing[600];
	snprintf(missing, sizeof(missing), "%s/none.zone", dir);
	in.path = missing;
	ck_assert_int_eq(load(&in, diag), TANDEM_ENOENT);
	ck_assert_int_eq(in.result, TDM_INPUT_MISSING);
	in.path = empty;
	ck_assert_int_ne(load(&in, diag), TANDEM_OK);
	ck_assert_int_eq(in.result, TDM_INPUT_REFUSED);

	/* the whole zone, no reference yet (no good copy): loaded, copied beside the good
	 * copy, not over it until committed */
	in.path = full;
	ck_assert_int_eq(load(&in, diag), TANDEM_OK);
	ck_assert_int_eq(in.result, TDM_INPUT_LOADED);
	ck_assert_uint_eq(in.delegations, 5);
	ck_assert_uint_eq(in.serial, 2024010101u);
	ck_assert(!in.ref_known);
	ck_assert_ptr_nonnull(in.good);
	ck_assert_int_eq(access(good, F_OK), -1);
	ck_assert_int_eq(tandem_afile_commit(in.good), TANDEM_OK);
	in.good = NULL;
	ck_assert(same_bytes(full, good));

	/* truncated on a record boundary: 4 of 5 delegations gone: held, against the
	 * reference given ... */
	in = (tdm_input_job_t){
	    .path = cut, .good_path = good, .has_ref = true, .ref = 5, .max_removal = 1000};
	ck_assert_int_eq(load(&in, diag), TANDEM_EPERM);
	ck_assert_int_eq(in.result, TDM_INPUT_HELD);
	ck_assert_uint_eq(in.delegations, 1);
	ck_assert_ptr_null(in.good);
	/* ... or, without one, the good copy's */
	in.has_ref = false;
	ck_assert_int_eq(load(&in, diag), TANDEM_EPERM);
	ck_assert_int_eq(in.result, TDM_INPUT_HELD);
	ck_assert(in.ref_known);
	ck_assert_uint_eq(in.ref_used, 5);
	ck_assert(same_bytes(full, good));
	/* a policy that allows it, another accepted serial, then the operator's accept */
	in.max_removal = 10000;
	ck_assert_int_eq(load(&in, diag), TANDEM_OK);
	tdm_input_job_clear(&in);
	in.max_removal = 1000;
	in.has_accept = true;
	in.accept_serial = 2024010102u;
	ck_assert_int_eq(load(&in, diag), TANDEM_EPERM);
	in.accept_serial = 2024010101u;
	ck_assert_int_eq(load(&in, diag), TANDEM_OK);
	ck_assert_int_eq(in.result, TDM_INPUT_LOADED);
	tdm_input_job_clear(&in);
	ck_assert(same_bytes(full, good)); /* not committed: the copy beside is gone */

	/* the good copy itself: never held, never copied */
	in = (tdm_input_job_t){.path = good,
			       .from_good = true,
			       .good_path = good,
			       .has_ref = true,
			       .ref = 500,
			       .max_removal = 0};
	ck_assert_int_eq(load(&in, diag), TANDEM_OK);
	ck_assert_ptr_null(in.good);

	/* a zone error: FILE:LINE in diag */
	char badz[512];
	ts_write_file(dir, "bad.zone",
		      "$ORIGIN example.\n$TTL 3600\n@ SOA a.nic. h.nic. 1 2 3 4 5\n@ NS a.nic.\n"
		      "www A 192.0.2.300\n",
		      badz, sizeof(badz));
	in = (tdm_input_job_t){.path = badz, .good_path = good, .max_removal = 1000};
	ck_assert_int_ne(load(&in, diag), TANDEM_OK);
	ck_assert_int_eq(in.result, TDM_INPUT_REFUSED);
	char where[600];
	snprintf(where, sizeof(where), "%s:5:", badz);
	ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, 0), where));

	/* a feed with a CDS of its own: the policy's signer-owned rule applies to the node's
	 * load as to tandem-signzone's: dropped with a warning, or the input refused */
	char cds[512];
	ts_write_file(dir, "cds.zone",
		      "$ORIGIN example.\n$TTL 3600\n@ SOA a.nic. h.nic. 1 2 3 4 5\n@ NS a.nic.\n"
		      "@ CDS 12345 8 2 "
		      "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n",
		      cds, sizeof(cds));
	in = (tdm_input_job_t){.path = cds,
			       .good_path = good,
			       .max_removal = 10000,
			       .signer_owned = DNS_SIGNER_OWNED_DROP};
	ck_assert_int_eq(load(&in, diag), TANDEM_OK);
	ck_assert_int_eq(in.result, TDM_INPUT_LOADED);
	ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, 0), "CDS"));
	tdm_input_job_clear(&in);
	in = (tdm_input_job_t){.path = cds,
			       .good_path = good,
			       .max_removal = 10000,
			       .signer_owned = DNS_SIGNER_OWNED_REFUSE};
	ck_assert_int_ne(load(&in, diag), TANDEM_OK);
	ck_assert_int_eq(in.result, TDM_INPUT_REFUSED);
	snprintf(where, sizeof(where), "%s:5:", cds);
	ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, 0), where));
	tandem_diag_free(diag);
	ts_rmtree(dir);
}
END_TEST

START_TEST(test_choose)
{
	tdm_input_state_t s;
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(tdm_input_choose(&s, 5000, 0, false, 0), TDM_INPUT_WAIT); /* no look */
	/* missing: the good copy when there is one */
	tdm_input_look_t look = {.seq = 1, .mono_ms = 1000, .err = ENOENT};
	ck_assert(!tdm_input_state_look(&s, &look));
	ck_assert_int_eq(tdm_input_choose(&s, 5000, 1000, false, 0), TDM_INPUT_WAIT);
	s.have_good = true;
	ck_assert_int_eq(tdm_input_choose(&s, 5000, 1000, false, 0), TDM_INPUT_USE_GOOD);
	/* it appears: settled at the second look */
	look = (tdm_input_look_t){.seq = 2, .mono_ms = 1250, .st = fake_stat(7, 100, 5)};
	ck_assert(tdm_input_state_look(&s, &look));
	ck_assert_int_eq(tdm_input_choose(&s, 5000, 1250, false, 0), TDM_INPUT_WAIT);
	look.seq = 3;
	look.mono_ms = 1500;
	ck_assert(!tdm_input_state_look(&s, &look));
	ck_assert_int_eq(tdm_input_choose(&s, 5000, 1500, false, 0), TDM_INPUT_USE_INPUT);
	/* held at serial 9: the good copy, until the operator accepts serial 9 */
	s.bad = true;
	s.bad_held = true;
	s.held_serial = 9;
	s.bad_id = s.settle.id;
	ck_assert_int_eq(tdm_input_choose(&s, 5000, 1500, false, 0), TDM_INPUT_USE_GOOD);
	ck_assert_int_eq(tdm_input_choose(&s, 5000, 1500, true, 8), TDM_INPUT_USE_GOOD);
	ck_assert_int_eq(tdm_input_choose(&s, 5000, 1500, true, 9), TDM_INPUT_USE_INPUT);
	/* rejected by a review hook at serial 9: the good copy, until the operator approves
	 * that serial (an accept-input does not do) */
	s.bad_held = false;
	s.bad_review = true;
	s.review_serial = 9;
	ck_assert_int_eq(tdm_input_choose(&s, 5000, 1500, true, 9), TDM_INPUT_USE_GOOD);
	s.has_approve = true;
	s.approve_serial = 8;
	ck_assert_int_eq(tdm_input_choose(&s, 5000, 1500, false, 0), TDM_INPUT_USE_GOOD);
	s.approve_serial = 9;
	ck_assert_int_eq(tdm_input_choose(&s, 5000, 1500, false, 0), TDM_INPUT_USE_INPUT);
	s.has_approve = false;
	/* a new version clears it */
	look = (tdm_input_look_t){.seq = 4, .mono_ms = 2000, .st = fake_stat(8, 100, 6)};
	ck_assert(tdm_input_state_look(&s, &look));
	ck_assert(!s.bad);
	ck_assert(!s.bad_review);
	/* a FIFO in its place: not regular, the good copy */
	look = (tdm_input_look_t){.seq = 5, .mono_ms = 2250, .st = fake_stat(9, 0, 7)};
	look.st.st_mode = S_IFIFO | 0600;
	ck_assert(tdm_input_state_look(&s, &look));
	ck_assert(!s.regular);
	ck_assert_str_eq(s.type, "fifo");
	ck_assert_int_eq(tdm_input_choose(&s, 5000, 2250, false, 0), TDM_INPUT_USE_GOOD);
}
END_TEST

START_TEST(test_watch)
{
	char dir[256], f[512];
	ts_tmpdir(dir, sizeof(dir));
	snprintf(f, sizeof(f), "%s/in.zone", dir);
	const char *paths[] = {f};
	tdm_input_watch_t *w = NULL;
	ck_assert_int_eq(tdm_input_watch_new(paths, 1, 1, 50, &w), TANDEM_OK);
	tdm_input_look_t look;
	for (int i = 0; i < 200; i++) {
		tdm_input_watch_get(w, 0, &look);
		if (look.seq > 0) {
			break;
		}
		usleep(20000);
	}
	ck_assert_uint_gt(look.seq, 0);
	ck_assert_int_eq(look.err, ENOENT);
	ck_assert_int_eq(mkfifo(f, 0600), 0); /* looked at, never opened */
	uint64_t seq = look.seq;
	for (int i = 0; i < 200; i++) {
		tdm_input_watch_get(w, 0, &look);
		if (look.seq > seq + 1) {
			break;
		}
		usleep(20000);
	}
	ck_assert_int_eq(look.err, 0);
	ck_assert(S_ISFIFO(look.st.st_mode));
	tdm_input_watch_free(w);
	ts_rmtree(dir);
}
END_TEST

/* A path added on SIGHUP (tdm_input_watch_grow) is looked at from the next round on; one
 * beyond the room given at start is not. */
START_TEST(test_watch_grow)
{
	char dir[256], a[512], b[512];
	ts_tmpdir(dir, sizeof(dir));
	snprintf(a, sizeof(a), "%s/a.zone", dir);
	snprintf(b, sizeof(b), "%s/b.zone", dir);
	const char *paths[2] = {a, NULL};
	tdm_input_watch_t *w = NULL;
	ck_assert_int_eq(tdm_input_watch_new(paths, 1, 2, 50, &w), TANDEM_OK);
	tdm_input_look_t look;
	for (int i = 0; i < 200; i++) {
		tdm_input_watch_get(w, 0, &look);
		if (look.seq > 1) {
			break;
		}
		usleep(20000);
	}
	ck_assert_uint_gt(look.seq, 1);
	tdm_input_watch_get(w, 1, &look);
	ck_assert_uint_eq(look.seq, 0); /* not watched yet */
	paths[1] = b;
	tdm_input_watch_grow(w, 3); /* beyond its room: refused */
	tdm_input_watch_get(w, 1, &look);
	ck_assert_uint_eq(look.seq, 0);
	tdm_input_watch_grow(w, 2);
	for (int i = 0; i < 200; i++) {
		tdm_input_watch_get(w, 1, &look);
		if (look.seq > 0) {
			break;
		}
		usleep(20000);
	}
	ck_assert_uint_gt(look.seq, 0);
	ck_assert_int_eq(look.err, ENOENT);
	tdm_input_watch_get(w, 2, &look);
	ck_assert_uint_eq(look.seq, 0);
	tdm_input_watch_free(w);
	ts_rmtree(dir);
}
END_TEST

/* A changed input against the good copy of the zone held: only its changed lines are parsed
 * (the same zone as a full parse, one of the run's own, the shared one kept as the next
 * copy); with a good copy that is not the file written of the zone held, parsed whole with
 * the reason said. */
START_TEST(test_load_lines)
{
	char dir[256], full[512], edited[512], good[512], cmd[2048];
	ts_tmpdir(dir, sizeof(dir));
	example_lines(dir, "full.zone", 0, full, sizeof(full));
	snprintf(edited, sizeof(edited), "%s/edited.zone", dir);
	snprintf(good, sizeof(good), "%s/example.input", dir);
	snprintf(cmd, sizeof(cmd),
		 "sed 's/2024010101 ; serial/2024010102 ; serial/' '%s' >'%s' && "
		 "printf 'added 86400 IN NS ns1.added.example.net.\\n' >>'%s'",
		 full, edited, edited);
	ck_assert_int_eq(system(cmd), 0);
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	tdm_input_job_t in = {
	    .path = full, .good_path = good, .max_removal = 1000, .keep_copy = true};
	dns_zone_t *z1 = NULL;
	ck_assert_int_eq(tdm_input_load(&in, "example.", diag, &z1), TANDEM_OK);
	ck_assert(in.has_good_id);
	ck_assert_int_eq(tandem_afile_commit(in.good), TANDEM_OK); /* as a run's commit */
	in.good = NULL;
	dns_zone_t *cache = in.copy;
	in.copy = NULL;
	tdm_input_id_t good_id = in.good_id;
	dns_zone_free(z1);

	tdm_input_job_t in2 = {.path = edited,
			       .good_path = good,
			       .max_removal = 1000,
			       .keep_copy = true,
			       .cache = cache,
			       .has_cache_good = true,
			       .cache_good_id = good_id};
	dns_zone_t *z2 = NULL;
	ck_assert_int_eq(tdm_input_load(&in2, "example.", diag, &z2), TANDEM_OK);
	ck_assert_msg(in2.from_lines, "parsed whole: %s", in2.lines_why);
	ck_assert_uint_eq(in2.serial, 2024010102u);
	dns_load_opts_t lo = {.origin = "example."};
	dns_zone_t *want = NULL;
	ck_assert_int_eq(dns_zone_load(edited, &lo, diag, &want), TANDEM_OK);
	char *tw = ts_zone_text(want), *t2 = ts_zone_text(z2), *tc = ts_zone_text(in2.copy);
	ck_assert_str_eq(t2, tw);
	ck_assert_str_eq(tc, tw);
	/* the run changes its zone in place: the copy kept does not follow */
	dns_node_remove_rrset(dns_zone_apex(z2), DNS_TYPE_NS);
	free(tc);
	tc = ts_zone_text(in2.copy);
	ck_assert_str_eq(tc, tw);
	free(tc);
	free(t2);
	dns_zone_free(z2);
	tdm_input_job_clear(&in2);

	/* a good copy that is not the one written of the zone held: parsed whole */
	tdm_input_job_t in3 = {.path = edited,
			       .good_path = good,
			       .max_removal = 1000,
			       .cache = cache,
			       .has_cache_good = true,
			       .cache_good_id = good_id};
	in3.cache_good_id.size++;
	dns_zone_t *z3 = NULL;
	ck_assert_int_eq(tdm_input_load(&in3, "example.", diag, &z3), TANDEM_OK);
	ck_assert(!in3.from_lines);
	ck_assert_ptr_nonnull(strstr(in3.lines_why, "good copy"));
	t2 = ts_zone_text(z3);
	ck_assert_str_eq(t2, tw);
	free(t2);
	free(tw);
	dns_zone_free(z3);
	tdm_input_job_clear(&in3);
	dns_zone_free(want);
	dns_zone_free(cache);
	tandem_diag_free(diag);
}
END_TEST

START_TEST(test_load_cache)
{
	char dir[256], full[512], copy[512], edited[512], good[512];
	ts_tmpdir(dir, sizeof(dir));
	example_lines(dir, "full.zone", 0, full, sizeof(full));
	example_lines(dir, "copy.zone", 0, copy, sizeof(copy)); /* the same bytes, another inode */
	snprintf(good, sizeof(good), "%s/example.input", dir);
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);

	/* parsed, and a copy kept for the next load */
	tdm_input_job_t in = {
	    .path = full, .good_path = good, .max_removal = 1000, .keep_copy = true};
	dns_zone_t *z1 = NULL;
	ck_assert_int_eq(tdm_input_load(&in, "example.", diag, &z1), TANDEM_OK);
	ck_assert(!in.from_cache);
	ck_assert_ptr_nonnull(in.copy);
	char *t1 = ts_zone_text(z1);
	dns_zone_t *cache = in.copy;
	in.copy = NULL;
	ck_assert_ptr_nonnull(in.good); /* the good copy written, put in place as a run does */
	ck_assert_int_eq(tandem_afile_commit(in.good), TANDEM_OK);
	in.good = NULL;
	uint8_t hash[32];
	memcpy(hash, in.hash, sizeof(hash));
	tdm_input_job_clear(&in);
	/* the loaded zone is signed in place by a run: the copy must not follow (one RRset
	 * removed from the apex of z1 leaves the cache as it was) */
	dns_node_t *apex = dns_zone_apex(z1);
	uint16_t before = apex->rrset_count;
	dns_node_remove_rrset(apex, DNS_TYPE_NS);
	ck_assert_uint_eq(apex->rrset_count, before - 1u);
	char *tc = ts_zone_text(cache);
	ck_assert_str_eq(tc, t1);
	free(tc);
	dns_zone_free(z1);

	/* the same bytes under another name: copied from the cache, not parsed; no good copy
	 * written while the one written of the cache's bytes is in place */
	struct stat gst;
	ck_assert_int_eq(stat(good, &gst), 0);
	tdm_input_id_t good_id = tdm_input_id(&gst);
	tdm_input_job_t in2 = {.path = copy,
			       .good_path = good,
			       .max_removal = 1000,
			       .keep_copy = true,
			       .cache = cache,
			       .has_cache_good = true,
			       .cache_good_id = good_id};
	memcpy(in2.cache_hash, hash, sizeof(hash));
	dns_zone_t *z2 = NULL;
	ck_assert_int_eq(tdm_input_load(&in2, "example.", diag, &z2), TANDEM_OK);
	ck_assert(in2.from_cache);
	ck_assert(in2.compared); /* byte for byte against the good copy, not hashed */
	ck_assert(!in2.hashed_pieces);
	ck_assert_mem_eq(in2.hash, hash, sizeof(hash));
	ck_assert(in2.good_kept);
	ck_assert_ptr_null(in2.good);
	ck_assert_ptr_null(in2.copy);
	ck_assert_uint_eq(in2.seconds_parse, 0);
	ck_assert_uint_eq(in2.serial, 2024010101u);
	ck_assert_uint_eq(in2.delegations, dns_zone_delegations(cache));
	char *t2 = ts_zone_text(z2);
	ck_assert_str_eq(t2, t1);
	free(t2);
	/* its records are the cache's, not copied (a copy of 1M delegations took 2 s) */
	ck_assert_ptr_eq(dns_zone_apex(z2)->rrsets[0].rdata, dns_zone_apex(cache)->rrsets[0].rdata);
	dns_zone_free(z2);
	tdm_input_job_clear(&in2);

	/* the good copy out of the page cache: the file is hashed in pieces, not compared */
	int gfd = open(good, O_RDONLY);
	ck_assert_int_ge(gfd, 0);
	ck_assert_int_eq(fdatasync(gfd), 0);
	ck_assert_int_eq(posix_fadvise(gfd, 0, 0, POSIX_FADV_DONTNEED), 0);
	close(gfd);
	ck_assert_int_eq(tdm_input_load(&in2, "example.", diag, &z2), TANDEM_OK);
	ck_assert(in2.from_cache);
	ck_assert(in2.compared);
	ck_assert(in2.hashed_pieces);
	ck_assert_mem_eq(in2.hash, hash, sizeof(hash));
	ck_assert(in2.good_kept);
	ck_assert_ptr_null(in2.good);
	t2 = ts_zone_text(z2);
	ck_assert_str_eq(t2, t1);
	free(t2);
	ck_assert_ptr_eq(dns_zone_apex(z2)->rrsets[0].rdata, dns_zone_apex(cache)->rrsets[0].rdata);
	dns_zone_free(z2);
	tdm_input_job_clear(&in2);

	/* the good copy replaced since (another file): a new one is written */
	char moved[2200];
	snprintf(moved, sizeof(moved), "cp '%s' '%s.new' && mv '%s.new' '%s'", good, good, good,
		 good);
	ck_assert_int_eq(system(moved), 0);
	ck_assert_int_eq(tdm_input_load(&in2, "example.", diag, &z2), TANDEM_OK);
	ck_assert(in2.from_cache);
	ck_assert(!in2.compared); /* the good copy is not the one of the cache: hashed */
	ck_assert_mem_eq(in2.hash, hash, sizeof(hash));
	ck_assert(!in2.good_kept);
	ck_assert_ptr_nonnull(in2.good);
	dns_zone_free(z2);
	tdm_input_job_clear(&in2);

	/* the very file the cache was read from, untouched: not even read; touched (its ctime
	 * and mtime move), read again and found the same */
	tdm_input_job_t in3 = {.path = full,
			       .good_path = good,
			       .max_removal = 1000,
			       .keep_copy = true,
			       .cache = cache,
			       .has_cache_id = true,
			       .cache_id = in.id,
			       .cache_ctime_s = in.ctime_s,
			       .cache_ctime_ns = in.ctime_ns};
	memcpy(in3.cache_hash, hash, sizeof(hash));
	ck_assert_int_eq(tdm_input_load(&in3, "example.", diag, &z2), TANDEM_OK);
	ck_assert(in3.unread);
	ck_assert(in3.from_cache);
	ck_assert_mem_eq(in3.hash, hash, sizeof(hash));
	t2 = ts_zone_text(z2);
	ck_assert_str_eq(t2, t1);
	free(t2);
	dns_zone_free(z2);
	tdm_input_job_clear(&in3);
	struct timespec later[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
	struct timespec pause = {0, 20000000L};
	nanosleep(&pause, NULL);
	ck_assert_int_eq(utimensat(AT_FDCWD, full, later, 0), 0);
	ck_assert_int_eq(tdm_input_load(&in3, "example.", diag, &z2), TANDEM_OK);
	ck_assert(!in3.unread);
	ck_assert(in3.from_cache);
	dns_zone_free(z2);
	tdm_input_job_clear(&in3);

	/* other policy load rules: parsed again */
	in2.signer_owned = DNS_SIGNER_OWNED_REFUSE;
	ck_assert_int_eq(tdm_input_load(&in2, "example.", diag, &z2), TANDEM_OK);
	ck_assert(!in2.from_cache);
	dns_zone_free(z2);
	tdm_input_job_clear(&in2);

	/* one byte changed (an address): parsed again, and the zone says so */
	char cmd[1400];
	example_lines(dir, "edited.zone", 0, edited, sizeof(edited));
	snprintf(cmd, sizeof(cmd), "sed -i 's/192.0.2.80/192.0.2.81/' '%s'", edited);
	ck_assert_int_eq(system(cmd), 0);
	in2.signer_owned = DNS_SIGNER_OWNED_DROP;
	in2.path = edited;
	/* (the good copy in place, a copy of the cache's bytes, named as the cache's: the file
	 * of the same size is compared with it first, found different, then read from its
	 * start and hashed) */
	ck_assert_int_eq(stat(good, &gst), 0);
	in2.cache_good_id = tdm_input_id(&gst);
	in2.has_cache_good = true;
	ck_assert_int_eq(tdm_input_load(&in2, "example.", diag, &z2), TANDEM_OK);
	ck_assert(!in2.from_cache);
	ck_assert(!in2.compared);
	ck_assert_mem_ne(in2.hash, hash, sizeof(hash));
	t2 = ts_zone_text(z2);
	ck_assert_str_ne(t2, t1);
	free(t2);
	dns_zone_free(z2);
	tdm_input_job_clear(&in2);

	free(t1);
	dns_zone_free(cache);
	tandem_diag_free(diag);
	ts_rmtree(dir);
}
END_TEST

/* dir/name: example. at serial with delegations d<first>..d<first+n-1> (NS and glue). */
static void deleg_zone(const char *dir, const char *name, uint32_t serial, int first, int n,
		       char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", dir, name);
	FILE *fp = fopen(buf, "w");
	ck_assert_ptr_nonnull(fp);
	fprintf(fp,
		"$ORIGIN example.\n$TTL 3600\n"
		"@ SOA ns1.example. admin.example. %u 3600 900 604800 300\n"
		"@ NS ns1.example.\nns1 A 192.0.2.1\n",
		serial);
	for (int i = first; i < first + n; i++) {
		fprintf(fp, "d%d NS ns.d%d.example.\nns.d%d A 198.51.100.%d\n", i, i, i, i % 250);
	}
	ck_assert_int_eq(fclose(fp), 0);
}

/* The zone of path as a plain parse gives it. */
static dns_zone_t *parsed(const char *path)
{
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	dns_load_opts_t lo = {.origin = "example."};
	dns_zone_t *z = NULL;
	ck_assert_int_eq(dns_zone_load(path, &lo, diag, &z), TANDEM_OK);
	tandem_diag_free(diag);
	return z;
}

/* A job for path with cache and delta (the file's identity taken now). */
static tdm_input_job_t delta_job(const char *path, const char *good, const dns_zone_t *cache,
				 const dns_changeset_t *cs)
{
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	return (tdm_input_job_t){.path = path,
				 .good_path = good,
				 .max_removal = 1000,
				 .has_ref = true,
				 .ref = dns_zone_delegations((dns_zone_t *)cache),
				 .keep_copy = true,
				 .cache = cache,
				 .delta = cs,
				 .delta_id = tdm_input_id(&st),
				 .delta_ctime_s = (int64_t)st.st_ctim.tv_sec,
				 .delta_ctime_ns = st.st_ctim.tv_nsec};
}

START_TEST(test_load_delta)
{
	char dir[256], v1[512], v2[512], v3[512], good[512];
	ts_tmpdir(dir, sizeof(dir));
	snprintf(good, sizeof(good), "%s/example.input", dir);
	deleg_zone(dir, "v1.zone", 1, 0, 20, v1, sizeof(v1));
	deleg_zone(dir, "v2.zone", 2, 1, 20, v2, sizeof(v2)); /* d0 out, d20 in */
	deleg_zone(dir, "v3.zone", 3, 0, 15, v3, sizeof(v3)); /* 5 of 20 out: 25% */
	dns_zone_t *cache = parsed(v1), *z2 = parsed(v2), *z3 = parsed(v3);
	dns_changeset_t *cs2 = NULL, *cs3 = NULL;
	ck_assert_int_eq(dns_zone_diff(cache, z2, &cs2), TANDEM_OK);
	ck_assert_int_eq(dns_zone_diff(cache, z3, &cs3), TANDEM_OK);
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);

	/* the difference applied to the copy held: the zone a parse gives, nothing parsed; the
	 * good copy and the hash are the file's */
	tdm_input_job_t in = delta_job(v2, good, cache, cs2);
	dns_zone_t *z = NULL;
	ck_assert_int_eq(tdm_input_load(&in, "example.", diag, &z), TANDEM_OK);
	ck_assert(in.from_delta);
	ck_assert(!in.from_cache);
	ck_assert_str_eq(in.delta_why, "");
	ck_assert_uint_eq(in.serial, 2);
	ck_assert_ptr_nonnull(in.copy);
	ck_assert_ptr_nonnull(in.good);
	char *ta = ts_zone_text(z), *tb = ts_zone_text(z2);
	ck_assert_str_eq(ta, tb);
	free(ta);
	free(tb);
	dns_zone_free(z);
	ck_assert_int_eq(tandem_afile_commit(in.good), TANDEM_OK);
	in.good = NULL;
	ck_assert(same_bytes(good, v2));
	tdm_input_job_clear(&in);

	/* the same checks as a parsed file's: 25% of the delegations removed is held */
	in = delta_job(v3, good, cache, cs3);
	ck_assert_int_eq(tdm_input_load(&in, "example.", diag, &z), TANDEM_EPERM);
	ck_assert(in.from_delta);
	ck_assert_int_eq(in.result, TDM_INPUT_HELD);
	ck_assert_uint_eq(in.delegations, 15);
	ck_assert_ptr_null(in.copy);
	tdm_input_job_clear(&in);

	/* a difference that does not start at the copy's serial: the file is parsed */
	in = delta_job(v3, good, z2, cs3);
	in.has_accept = true;
	in.accept_serial = 3;
	ck_assert_int_eq(tdm_input_load(&in, "example.", diag, &z), TANDEM_OK);
	ck_assert(!in.from_delta);
	ck_assert_ptr_nonnull(strstr(in.delta_why, "starts at serial 1, the copy held is at 2"));
	ta = ts_zone_text(z);
	tb = ts_zone_text(z3);
	ck_assert_str_eq(ta, tb);
	free(ta);
	free(tb);
	dns_zone_free(z);
	tdm_input_job_clear(&in);

	/* the file replaced since the transfer wrote it: parsed */
	in = delta_job(v2, good, cache, cs2);
	in.delta_id.ino++;
	ck_assert_int_eq(tdm_input_load(&in, "example.", diag, &z), TANDEM_OK);
	ck_assert(!in.from_delta);
	ck_assert_ptr_nonnull(strstr(in.delta_why, "no longer the one the transfer wrote"));
	dns_zone_free(z);
	tdm_input_job_clear(&in);

	/* data added beside a CNAME: not applied, so the loader's check refuses it as in a
	 * file (the primary's zone has CNAME and other data at w) */
	char c1[512], c4[512], cmd[1400];
	deleg_zone(dir, "c1.zone", 1, 0, 20, c1, sizeof(c1));
	deleg_zone(dir, "c4.zone", 4, 0, 20, c4, sizeof(c4));
	snprintf(cmd, sizeof(cmd),
		 "echo 'w CNAME d1.example.' >> '%s' && printf 'w CNAME d1.example.\\nw A "
		 "192.0.2.9\\n' >> '%s'",
		 c1, c4);
	ck_assert_int_eq(system(cmd), 0);
	dns_zone_t *zc = parsed(c1), *zsoa = NULL;
	ck_assert_int_eq(dns_zone_copy(zc, &zsoa), TANDEM_OK);
	dns_node_t *apex = dns_zone_apex(zsoa);
	dns_rrset_t *soa = dns_node_rrset(apex, DNS_TYPE_SOA);
	uint8_t *rd = (uint8_t *)soa->rdata[0]; /* the serial: 4, as c4's */
	size_t rdl = dns_rdata_len(rd), at = rdl + 2 - 20;
	rd[at] = rd[at + 1] = rd[at + 2] = 0;
	rd[at + 3] = 4;
	dns_changeset_t *cs4 = NULL;
	ck_assert_int_eq(dns_zone_diff(zc, zsoa, &cs4), TANDEM_OK);
	uint8_t w[DNS_NAME_MAXLEN], a[6] = {0, 4, 192, 0, 2, 9};
	size_t wl = 0;
	ck_assert_int_eq(dns_name_from_str("w.example.", NULL, w, &wl), TANDEM_OK);
	dns_rr_t wa = {.owner = w, .type = DNS_TYPE_A, .rclass = 1, .ttl = 3600, .rdata = a};
	ck_assert_int_eq(dns_changeset_add(cs4, true, &wa), TANDEM_OK);
	in = delta_job(c4, good, zc, cs4);
	ck_assert_int_ne(tdm_input_load(&in, "example.", diag, &z), TANDEM_OK);
	ck_assert(!in.from_delta);
	ck_assert_int_eq(in.result, TDM_INPUT_REFUSED);
	ck_assert_ptr_nonnull(strstr(in.delta_why, "adds data beside a CNAME"));
	tdm_input_job_clear(&in);
	dns_changeset_free(cs4);
	dns_zone_free(zc);
	dns_zone_free(zsoa);

	dns_changeset_free(cs2);
	dns_changeset_free(cs3);
	dns_zone_free(cache);
	dns_zone_free(z2);
	dns_zone_free(z3);
	tandem_diag_free(diag);
	ts_rmtree(dir);
}
END_TEST

static Suite *input_suite(void)
{
	Suite *s = suite_create("tandemd_input");
	TCase *tc = tcase_create("input");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_shrink_rule);
	tcase_add_test(tc, test_settle_rule);
	tcase_add_test(tc, test_load_checks);
	tcase_add_test(tc, test_load_cache);
	tcase_add_test(tc, test_load_lines);
	tcase_add_test(tc, test_load_delta);
	tcase_add_test(tc, test_choose);
	tcase_add_test(tc, test_watch);
	tcase_add_test(tc, test_watch_grow);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(input_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
