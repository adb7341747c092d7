/* Tests of the journal: append and reopen, torn tails, corruption, truncation, depth, IXFR
 * iteration. */
#include "dns_diff.h"
#include "journal.h"
#include "tandem_diag.h"
#include "tandem_error.h"
#include "testsupport.h"

#include <check.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[256];
static char g_path[512];

static void setup(void)
{
	ts_tmpdir(g_dir, sizeof(g_dir));
	snprintf(g_path, sizeof(g_path), "%s/example.journal", g_dir);
}

static void teardown(void)
{
	ts_rmtree(g_dir);
}

static const uint8_t apex[] = "\x07"
			      "example";

/* An SOA RDATA (root names) of serial s, in buf (2-byte length first). */
static const uint8_t *soa_rdata(uint32_t s, uint8_t buf[24])
{
	memset(buf, 0, 24);
	buf[1] = 22;
	uint8_t *p = buf + 4; /* after the two root names */
	p[0] = (uint8_t)(s >> 24);
	p[1] = (uint8_t)(s >> 16);
	p[2] = (uint8_t)(s >> 8);
	p[3] = (uint8_t)s;
	return buf;
}

/* A changeset from -> to with n removed and n added A records whose bytes depend on to. */
static dns_changeset_t *cs_make(uint32_t from, uint32_t to, int n)
{
	dns_changeset_t *cs = NULL;
	uint8_t b1[24], b2[24];
	ck_assert_int_eq(dns_changeset_new(&cs), TANDEM_OK);
	dns_rr_t soa = {.owner = apex, .type = 6, .rclass = 1, .ttl = 3600};
	soa.rdata = soa_rdata(from, b1);
	ck_assert_int_eq(dns_changeset_set_soa(cs, false, &soa), TANDEM_OK);
	soa.rdata = soa_rdata(to, b2);
	ck_assert_int_eq(dns_changeset_set_soa(cs, true, &soa), TANDEM_OK);
	for (int i = 0; i < n; i++) {
		uint8_t owner[32], rd[6] = {0, 4, 192, 0, (uint8_t)(to & 0xff), (uint8_t)i};
		int len = snprintf((char *)owner + 1, sizeof(owner) - 1, "h%d", i);
		owner[0] = (uint8_t)len;
		memcpy(owner + 1 + len, apex, sizeof(apex));
		dns_rr_t rr = {
		    .owner = owner, .type = 1, .rclass = 1, .ttl = 60 + (uint32_t)i, .rdata = rd};
		ck_assert_int_eq(dns_changeset_add(cs, i % 2 == 0, &rr), TANDEM_OK);
	}
	return cs;
}

static journal_t *jopen_ok(void)
{
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	journal_t *j = NULL;
	int ret = journal_open(g_path, diag, &j);
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		fprintf(stderr, "%s\n", tandem_diag_msg(diag, i));
	}
	ck_assert_int_eq(ret, TANDEM_OK);
	tandem_diag_free(diag);
	return j;
}

static void append_ok(journal_t *j, uint32_t from, uint32_t to, int n)
{
	dns_changeset_t *cs = cs_make(from, to, n);
	ck_assert_int_eq(journal_append(j, cs, NULL), TANDEM_OK);
	dns_changeset_free(cs);
}

/* Two changesets hold the same records. */
static void cs_same(const dns_changeset_t *a, const dns_changeset_t *b)
{
	ck_assert_uint_eq(dns_changeset_serial(a, false), dns_changeset_serial(b, false));
	ck_assert_uint_eq(dns_changeset_serial(a, true), dns_changeset_serial(b, true));
	for (int k = 0; k < 2; k++) {
		size_t na = 0, nb = 0;
		const dns_rr_t *ra = dns_changeset_records(a, k, &na);
		const dns_rr_t *rb = dns_changeset_records(b, k, &nb);
		ck_assert_uint_eq(na, nb);
		for (size_t i = 0; i < na; i++) {
			ck_assert_int_eq(dns_rr_compare(&ra[i], &rb[i]), 0);
			ck_assert_uint_eq(ra[i].rclass, rb[i].rclass);
		}
	}
}

static void file_size(off_t *out)
{
	struct stat st;
	ck_assert_int_eq(stat(g_path, &st), 0);
	*out = st.st_size;
}

START_TEST(test_append_reopen)
{
	journal_t *j = jopen_ok();
	ck_assert_uint_eq(journal_count(j), 0);
	ck_assert(!journal_serial(j, true, NULL));
	append_ok(j, 10, 11, 4);
	append_ok(j, 11, 12, 0);
	/* an entry takes what journal_entry_bytes says (a caller's depth check) */
	uint64_t before = journal_bytes(j);
	dns_changeset_t *third = cs_make(12, 13, 7);
	ck_assert_int_eq(journal_append(j, third, NULL), TANDEM_OK);
	ck_assert_uint_eq(journal_bytes(j) - before, journal_entry_bytes(third));
	dns_changeset_free(third);
	journal_close(j);
	j = jopen_ok();
	ck_assert_uint_eq(journal_count(j), 3);
	ck_assert_uint_eq(journal_cut_bytes(j), 0);
	uint32_t s = 0;
	ck_assert(journal_serial(j, true, &s));
	ck_assert_uint_eq(s, 10);
	ck_assert(journal_serial(j, false, &s));
	ck_assert_uint_eq(s, 13);
	static const int sizes[] = {4, 0, 7};
	for (size_t i = 0; i < 3; i++) {
		dns_changeset_t *got = NULL,
				*want = cs_make(10 + (uint32_t)i, 11 + (uint32_t)i, sizes[i]);
		ck_assert_int_eq(journal_read(j, i, NULL, &got), TANDEM_OK);
		cs_same(got, want);
		dns_changeset_free(got);
		dns_changeset_free(want);
	}
	dns_changeset_t *none = NULL;
	ck_assert_int_eq(journal_read(j, 3, NULL, &none), TANDEM_ERANGE);
	/* checksums: what two sites compare; one per entry */
	uint8_t c0[32], c1[32];
	ck_assert_int_eq(journal_checksum(j, 0, NULL, c0), TANDEM_OK);
	ck_assert_int_eq(journal_checksum(j, 1, NULL, c1), TANDEM_OK);
	ck_assert(memcmp(c0, c1, 32) != 0);
	ck_assert_int_eq(journal_checksum(j, 3, NULL, c1), TANDEM_ERANGE);
	journal_close(j);
}
END_TEST

/* A changeset that does not start at the newest serial is refused; the file is as before. */
START_TEST(test_append_sequence)
{
	journal_t *j = jopen_ok();
	append_ok(j, 10, 11, 2);
	off_t before = 0, after = 0;
	file_size(&before);
	dns_changeset_t *cs = cs_make(12, 13, 2);
	ck_assert_int_eq(journal_append(j, cs, NULL), TANDEM_JOURNAL_ESEQ);
	dns_changeset_free(cs);
	file_size(&after);
	ck_assert_int_eq(before, after);
	ck_assert_uint_eq(journal_count(j), 1);
	journal_close(j);
}
END_TEST

/* A crash mid-append leaves an entry the file ends inside of: opening cuts it, keeps the
 * entries before it, and appending goes on from there. Checked at every cut point class:
 * inside the length, the payload, the hash; and a zero-filled tail. */
START_TEST(test_torn_tail)
{
	journal_t *j = jopen_ok();
	append_ok(j, 1, 2, 3);
	append_ok(j, 2, 3, 3);
	off_t good = 0;
	file_size(&good);
	append_ok(j, 3, 4, 5);
	off_t full = 0;
	file_size(&full);
	journal_close(j);
	off_t entry = full - good;
	const off_t cuts[] = {1, 3, 4, 20, entry / 2, entry - 32, entry - 1};
	for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
		ck_assert_int_eq(truncate(g_path, good + cuts[c]), 0);
		j = jopen_ok();
		ck_assert_uint_eq(journal_count(j), 2);
		ck_assert_uint_eq(journal_cut_bytes(j), (size_t)cuts[c]);
		off_t now = 0;
		file_size(&now);
		ck_assert_int_eq(now, good);
		append_ok(j, 3, 4, 5);
		journal_close(j);
		file_size(&now);
		ck_assert_int_eq(now, full);
	}
	/* zeros after the last entry: a file system that extended the file, never wrote it */
	int fd = open(g_path, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	uint8_t zeros[100] = {0};
	ck_assert_int_eq(write(fd, zeros, sizeof(zeros)), (ssize_t)sizeof(zeros));
	close(fd);
	j = jopen_ok();
	ck_assert_uint_eq(journal_count(j), 3);
	ck_assert_uint_eq(journal_cut_bytes(j), sizeof(zeros));
	journal_close(j);
}
END_TEST

/* A complete entry with a changed byte is refused, with its index; so is a file that is
 * not a journal. */
START_TEST(test_corrupt)
{
	journal_t *j = jopen_ok();
	append_ok(j, 1, 2, 3);
	append_ok(j, 2, 3, 3);
	append_ok(j, 3, 4, 3);
	journal_close(j);
	off_t size = 0;
	file_size(&size);
	/* entries are equal in size here: a byte in the middle of the second one */
	off_t entry = (size - 16) / 3;
	for (int which = 1; which <= 2; which++) {
		int fd = open(g_path, O_RDWR);
		ck_assert_int_ge(fd, 0);
		off_t at = 16 + entry * which + entry / 2;
		uint8_t b = 0;
		ck_assert_int_eq(pread(fd, &b, 1, at), 1);
		b ^= 0x40;
		ck_assert_int_eq(pwrite(fd, &b, 1, at), 1);
		tandem_diag_t *diag = NULL;
		ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
		journal_t *bad = NULL;
		ck_assert_int_eq(journal_open(g_path, diag, &bad), TANDEM_JOURNAL_ECORRUPT);
		ck_assert_ptr_null(bad);
		char want[64];
		snprintf(want, sizeof(want), "entry %d at offset", which);
		ck_assert_ptr_nonnull(strstr(tandem_diag_msg(diag, 0), want));
		tandem_diag_free(diag);
		b ^= 0x40;
		ck_assert_int_eq(pwrite(fd, &b, 1, at), 1);
		close(fd);
	}
	/* restored, it opens; the file is left as it was (nothing cut) */
	j = jopen_ok();
	ck_assert_uint_eq(journal_count(j), 3);
	journal_close(j);
	ck_assert_int_eq(truncate(g_path, 0), 0);
	FILE *fp = fopen(g_path, "w");
	fputs("not a journal at all\n", fp);
	fclose(fp);
	journal_t *bad = NULL;
	ck_assert_int_eq(journal_open(g_path, NULL, &bad), TANDEM_JOURNAL_EVERSION);
}
END_TEST

START_TEST(test_truncate_after)
{
	journal_t *j = jopen_ok();
	for (uint32_t s = 10; s < 14; s++) {
		append_ok(j, s, s + 1, 2);
	}
	ck_assert_int_eq(journal_truncate_after(j, 20, NULL), TANDEM_OK);
	ck_assert_uint_eq(journal_count(j), 4);
	ck_assert_int_eq(journal_truncate_after(j, 12, NULL), TANDEM_OK);
	ck_assert_uint_eq(journal_count(j), 2);
	uint32_t s = 0;
	ck_assert(journal_serial(j, false, &s));
	ck_assert_uint_eq(s, 12);
	/* the uncommitted version's entry is gone; the next one follows the committed serial */
	append_ok(j, 12, 14, 1);
	journal_close(j);
	j = jopen_ok();
	ck_assert_uint_eq(journal_count(j), 3);
	ck_assert_int_eq(journal_truncate_after(j, 10, NULL), TANDEM_OK);
	ck_assert_uint_eq(journal_count(j), 0);
	ck_assert_int_eq(journal_reset(j, NULL), TANDEM_OK);
	ck_assert_uint_eq(journal_bytes(j), 16);
	journal_close(j);
}
END_TEST

/* Depth: by entries and by bytes, oldest first, by a rewrite that reopens cleanly. */
START_TEST(test_limit)
{
	journal_t *j = jopen_ok();
	for (uint32_t s = 100; s < 110; s++) {
		append_ok(j, s, s + 1, 4);
	}
	uint64_t all = journal_bytes(j);
	uint64_t entry = (all - 16) / 10;
	ck_assert_int_eq(journal_limit(j, 4, 0, NULL), TANDEM_OK);
	ck_assert_uint_eq(journal_count(j), 4);
	uint32_t s = 0;
	ck_assert(journal_serial(j, true, &s));
	ck_assert_uint_eq(s, 106);
	ck_assert_int_eq(journal_limit(j, 0, 16 + 2 * entry + 1, NULL), TANDEM_OK);
	ck_assert_uint_eq(journal_count(j), 2);
	ck_assert_uint_le(journal_bytes(j), 16 + 2 * entry + 1);
	append_ok(j, 110, 111, 4);
	journal_close(j);
	j = jopen_ok();
	ck_assert_uint_eq(journal_count(j), 3);
	ck_assert(journal_serial(j, true, &s));
	ck_assert_uint_eq(s, 108);
	dns_changeset_t *got = NULL, *want = cs_make(109, 110, 4);
	ck_assert_int_eq(journal_read(j, 1, NULL, &got), TANDEM_OK);
	cs_same(got, want);
	dns_changeset_free(got);
	dns_changeset_free(want);
	/* no temporary file left beside it */
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "test $(ls '%s' | wc -l) -eq 1", g_dir);
	ck_assert_int_eq(system(cmd), 0);
	journal_close(j);
}
END_TEST

static int iter_count(journal_t *j, uint32_t from, uint32_t *last_to)
{
	journal_iter_t it;
	int ret = journal_iter_init(&it, j, from);
	if (ret != TANDEM_OK) {
		return ret;
	}
	int n = 0;
	for (;;) {
		dns_changeset_t *cs = NULL;
		ck_assert_int_eq(journal_iter_next(&it, NULL, &cs), TANDEM_OK);
		if (cs == NULL) {
			break;
		}
		ck_assert_uint_eq(dns_changeset_serial(cs, false), from);
		from = dns_changeset_serial(cs, true);
		*last_to = from;
		dns_changeset_free(cs);
		n++;
	}
	return n;
}

START_TEST(test_iter)
{
	journal_t *j = jopen_ok();
	for (uint32_t s = 50; s < 55; s++) {
		append_ok(j, s, s + 1, 3);
	}
	uint32_t to = 0;
	ck_assert_int_eq(iter_count(j, 52, &to), 3);
	ck_assert_uint_eq(to, 55);
	ck_assert_int_eq(iter_count(j, 50, &to), 5);
	to = 0;
	ck_assert_int_eq(iter_count(j, 55, &to), 0); /* up to date */
	ck_assert_uint_eq(to, 0);
	ck_assert_int_eq(iter_count(j, 49, &to), TANDEM_ENOENT);
	ck_assert_int_eq(iter_count(j, 56, &to), TANDEM_ENOENT);
	ck_assert_int_eq(journal_limit(j, 2, 0, NULL), TANDEM_OK);
	ck_assert_int_eq(iter_count(j, 52, &to), TANDEM_ENOENT); /* dropped: AXFR */
	ck_assert_int_eq(iter_count(j, 53, &to), 2);
	journal_close(j);
}
END_TEST

/* Serials wrap (RFC 1982): truncation and iteration across 2^32. */
START_TEST(test_wraparound)
{
	journal_t *j = jopen_ok();
	const uint32_t s[] = {4294967294u, 4294967295u, 0u, 1u, 2u};
	for (size_t i = 0; i + 1 < 5; i++) {
		append_ok(j, s[i], s[i + 1], 2);
	}
	uint32_t to = 0;
	ck_assert_int_eq(iter_count(j, 4294967295u, &to), 3);
	ck_assert_uint_eq(to, 2);
	ck_assert_int_eq(journal_truncate_after(j, 0, NULL), TANDEM_OK);
	ck_assert_uint_eq(journal_count(j), 2);
	ck_assert(journal_serial(j, false, &to));
	ck_assert_uint_eq(to, 0);
	ck_assert_int_eq(journal_truncate_after(j, 4294967295u, NULL), TANDEM_OK);
	ck_assert_uint_eq(journal_count(j), 1);
	append_ok(j, 4294967295u, 3, 1);
	journal_close(j);
	j = jopen_ok();
	ck_assert_int_eq(iter_count(j, 4294967294u, &to), 2);
	ck_assert_uint_eq(to, 3);
	journal_close(j);
}
END_TEST

static Suite *journal_suite(void)
{
	Suite *s = suite_create("journal");
	TCase *tc = tcase_create("journal");
	tcase_add_unchecked_fixture(tc, NULL, NULL);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_append_reopen);
	tcase_add_test(tc, test_append_sequence);
	tcase_add_test(tc, test_torn_tail);
	tcase_add_test(tc, test_corrupt);
	tcase_add_test(tc, test_truncate_after);
	tcase_add_test(tc, test_limit);
	tcase_add_test(tc, test_iter);
	tcase_add_test(tc, test_wraparound);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(journal_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
