/* common module tests: arenas, diagnostics, atomic files, whole-file reads, wiping, errors. */
#include "tandem_arena.h"
#include "tandem_diag.h"
#include "tandem_encode.h"
#include "tandem_error.h"
#include "tandem_file.h"
#include "tandem_text.h"
#include "testsupport.h"

#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

START_TEST(arena_alloc_align_and_merge)
{
	tandem_arena_t *a = NULL, *b = NULL;
	ck_assert_int_eq(tandem_arena_new(64, &a), TANDEM_OK);
	ck_assert_int_eq(tandem_arena_new(64, &b), TANDEM_OK);
	uint8_t *p[100];
	for (int i = 0; i < 100; i++) {
		p[i] = tandem_arena_alloc(a, (size_t)(i % 13) + 1);
		ck_assert_ptr_nonnull(p[i]);
		ck_assert_uint_eq((uintptr_t)p[i] % 8, 0);
		memset(p[i], i, (size_t)(i % 13) + 1);
	}
	/* Nothing overwrote anything: allocations are disjoint. */
	for (int i = 0; i < 100; i++) {
		for (int k = 0; k < i % 13 + 1; k++) {
			ck_assert_uint_eq(p[i][k], (uint8_t)i);
		}
	}
	/* A block larger than the chunk size is served too. */
	uint8_t *big = tandem_arena_alloc(a, 10000);
	ck_assert_ptr_nonnull(big);
	memset(big, 0xab, 10000);
	const char text[] = "survives a merge";
	char *copy = tandem_arena_memdup(b, text, sizeof(text));
	size_t before = tandem_arena_size(a) + tandem_arena_size(b);
	tandem_arena_merge_take(a, b);
	ck_assert_uint_eq(tandem_arena_size(a), before);
	ck_assert_str_eq(copy, text);
	ck_assert_uint_eq(p[99][0], 99);
	tandem_arena_free(a);
	tandem_arena_free(NULL);
	ck_assert_int_eq(tandem_arena_new(0, NULL), TANDEM_EINVAL);
}
END_TEST

static void *diag_writer(void *arg)
{
	for (int i = 0; i < 500; i++) {
		tandem_diag_add(arg, TANDEM_EIO, "message %d", i);
	}
	return NULL;
}

/* ASan has an allocator of its own: the malloc test below is glibc's. */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

#if defined(__GLIBC__) && !defined(TEST_ASAN)
#define TEST_GLIBC_MALLOC 1
/* VmRSS of this process in kB (-1: unknown). */
static long rss_kb(void)
{
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (fp != NULL && fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) {
			break;
		}
	}
	if (fp != NULL) {
		fclose(fp);
	}
	return kb;
}
#endif

/* A freed zone's arena goes back to the system even after glibc raised its mmap threshold
 * (what it does when a big block is freed): tandemd holds a new version while the old one
 * is freed, and its peak RSS counts what the freed versions left in the heaps. */
START_TEST(malloc_tune_returns_freed_arenas)
{
#ifdef TEST_GLIBC_MALLOC
	ck_assert(tandem_malloc_tune());
	void *raise = malloc(8u << 20); /* untuned glibc: the threshold becomes 8 MiB */
	ck_assert_ptr_nonnull(raise);
	memset(raise, 1, 8u << 20);
	free(raise);
	long before = rss_kb();
	ck_assert_int_gt(before, 0);
	tandem_arena_t *a = NULL;
	ck_assert_int_eq(tandem_arena_new(4u << 20, &a), TANDEM_OK);
	void *pins[32]; /* each above a chunk: a heap could not give the chunks back */
	for (int i = 0; i < 32; i++) { /* 128 MiB of chunks */
		uint8_t *p = tandem_arena_alloc(a, (4u << 20) - 64);
		ck_assert_ptr_nonnull(p);
		memset(p, 1, (4u << 20) - 64);
		pins[i] = malloc(64u << 10);
		ck_assert_ptr_nonnull(pins[i]);
		memset(pins[i], 1, 64u << 10);
	}
	tandem_arena_free(a);
	long after = rss_kb();
	ck_assert_msg(after < before + (32l << 10),
		      "VmRSS %ld kB before the arena, %ld after its free", before, after);
	for (int i = 0; i < 32; i++) {
		free(pins[i]);
	}
#endif
}
END_TEST

/* Small blocks a job freed (a digest state's buckets) go back to the system on
 * tandem_malloc_release, not only when reused: tandemd calls it after each run. */
START_TEST(malloc_release_returns_freed_small_blocks)
{
#ifdef TEST_GLIBC_MALLOC
	enum { N = 65536, SIZE = 2048 }; /* 128 MiB in blocks below the mmap threshold */
	uint8_t **blocks = calloc(N, sizeof(*blocks));
	ck_assert_ptr_nonnull(blocks);
	long before = rss_kb();
	for (int i = 0; i < N; i++) {
		blocks[i] = malloc(SIZE);
		ck_assert_ptr_nonnull(blocks[i]);
		memset(blocks[i], 1, SIZE);
	}
	void *pin = malloc(SIZE); /* above them: the heap's top cannot shrink */
	ck_assert_ptr_nonnull(pin);
	for (int i = 0; i < N; i++) {
		free(blocks[i]);
	}
	long freed = rss_kb();
	tandem_malloc_release();
	long after = rss_kb();
	ck_assert_msg(after < before + (32l << 10),
		      "VmRSS %ld kB before, %ld with the blocks freed, %ld after the release",
		      before, freed, after);
	free(pin);
	free(blocks);
#endif
}
END_TEST

START_TEST(diag_keeps_and_counts)
{
	tandem_diag_t *d = NULL;
	ck_assert_int_eq(tandem_diag_new(&d), TANDEM_OK);
	tandem_diag_add(d, TANDEM_DNS_EPARSE, "%s:%u: %s", "zone", 7u, "bad");
	ck_assert_uint_eq(tandem_diag_count(d), 1);
	ck_assert_str_eq(tandem_diag_msg(d, 0), "zone:7: bad");
	ck_assert_int_eq(tandem_diag_code(d, 0), TANDEM_DNS_EPARSE);
	ck_assert_ptr_null(tandem_diag_msg(d, 1));
	ck_assert_int_eq(tandem_diag_code(d, 1), TANDEM_OK);
	/* Four threads add 2,000 messages: all counted, the first 1,000 kept. */
	tandem_diag_clear(d);
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_create(&t[i], NULL, diag_writer, d), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
	}
	ck_assert_uint_eq(tandem_diag_count(d), 2000);
	ck_assert_uint_eq(tandem_diag_kept(d), TANDEM_DIAG_KEEP);
	ck_assert_ptr_nonnull(tandem_diag_msg(d, TANDEM_DIAG_KEEP - 1));
	tandem_diag_clear(d);
	ck_assert_uint_eq(tandem_diag_count(d), 0);
	tandem_diag_add(NULL, TANDEM_EIO, "ignored");
	tandem_diag_free(d);
}
END_TEST

static size_t count_entries(const char *dir)
{
	size_t n = 0;
	DIR *dp = opendir(dir);
	ck_assert_ptr_nonnull(dp);
	struct dirent *e;
	while ((e = readdir(dp)) != NULL) {
		n += e->d_name[0] != '.';
	}
	closedir(dp);
	return n;
}

START_TEST(afile_commit_and_abort)
{
	char dir[256], path[400], *text = NULL;
	size_t len = 0;
	ts_tmpdir(dir, sizeof(dir));
	ts_write_file(dir, "out", "old contents\n", path, sizeof(path));

	/* Abort: the target is untouched and no temporary file is left. */
	tandem_afile_t *f = NULL;
	ck_assert_int_eq(tandem_afile_open(path, 0600, &f), TANDEM_OK);
	ck_assert_ptr_nonnull(strstr(tandem_afile_tmp_path(f), "out.tmp."));
	fputs("half-written", tandem_afile_stream(f));
	tandem_afile_abort(f);
	ck_assert_int_eq(tandem_file_read(path, 1024, &text, &len), TANDEM_OK);
	ck_assert_str_eq(text, "old contents\n");
	free(text);
	ck_assert_uint_eq(count_entries(dir), 1);

	/* Commit: the new contents replace the old, with the mode asked for. */
	ck_assert_int_eq(tandem_afile_open(path, 0640, &f), TANDEM_OK);
	fputs("new contents\n", tandem_afile_stream(f));
	ck_assert_int_eq(tandem_afile_commit(f), TANDEM_OK);
	ck_assert_int_eq(tandem_file_read(path, 1024, &text, &len), TANDEM_OK);
	ck_assert_str_eq(text, "new contents\n");
	ck_assert_uint_eq(len, 13);
	free(text);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0640);
	ck_assert_uint_eq(count_entries(dir), 1);

	/* A directory that does not exist: refused, nothing created. */
	char bad[500];
	snprintf(bad, sizeof(bad), "%s/missing/out", dir);
	f = NULL;
	ck_assert_int_eq(tandem_afile_open(bad, 0644, &f), TANDEM_EIO);
	ck_assert_ptr_null(f);
	ts_rmtree(dir);
}
END_TEST

START_TEST(file_read_limits)
{
	char dir[256], path[400], *text = NULL;
	size_t len = 0;
	ts_tmpdir(dir, sizeof(dir));
	char big[10000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ts_write_file(dir, "big", big, path, sizeof(path));
	ck_assert_int_eq(tandem_file_read(path, 100, &text, &len), TANDEM_ERANGE);
	ck_assert_ptr_null(text);
	ck_assert_int_eq(tandem_file_read(path, sizeof(big), &text, &len), TANDEM_OK);
	ck_assert_uint_eq(len, sizeof(big) - 1);
	ck_assert_uint_eq(strlen(text), sizeof(big) - 1);
	free(text);
	text = NULL;
	snprintf(path, sizeof(path), "%s/absent", dir);
	ck_assert_int_eq(tandem_file_read(path, 100, &text, &len), TANDEM_ENOENT);
	ck_assert_int_eq(tandem_file_read(dir, 100, &text, &len), TANDEM_EIO);
	ts_rmtree(dir);
}
END_TEST

START_TEST(secret_read_refuses_loose_modes)
{
	char dir[256], path[400], *text = NULL;
	size_t len = 0;
	ts_tmpdir(dir, sizeof(dir));
	ts_write_file(dir, "pin", "s3cret\n", path, sizeof(path));
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(tandem_secret_read(path, 100, &text, &len), TANDEM_EPERM);
	ck_assert_ptr_null(text);
	ck_assert_int_eq(chmod(path, 0620), 0);
	ck_assert_int_eq(tandem_secret_read(path, 100, &text, &len), TANDEM_EPERM);
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(tandem_secret_read(path, 100, &text, &len), TANDEM_OK);
	ck_assert_str_eq(text, "s3cret\n");
	tandem_wipe(text, len);
	free(text);
	snprintf(path, sizeof(path), "%s/absent", dir);
	ck_assert_int_eq(tandem_secret_read(path, 100, &text, &len), TANDEM_ENOENT);
	ts_rmtree(dir);
}
END_TEST

START_TEST(wipe_and_strerror)
{
	char secret[32] = "correct horse battery staple";
	tandem_wipe(secret, sizeof(secret));
	for (size_t i = 0; i < sizeof(secret); i++) {
		ck_assert_uint_eq((unsigned char)secret[i], 0);
	}
	ck_assert_str_eq(tandem_strerror(TANDEM_OK), "success");
	ck_assert_str_eq(tandem_strerror(TANDEM_HSM_EPIN), "PIN missing or refused");
	ck_assert_str_eq(tandem_strerror(-12345), "unknown error");
	/* Every code in every module's range has its own text. */
	const int codes[] = {TANDEM_ENOMEM,           TANDEM_EIO,
			     TANDEM_CRYPTO_EVERIFY,   TANDEM_HSM_ESIGN,
			     TANDEM_DNS_ECNAME,       TANDEM_SIGNER_ESERIAL,
			     TANDEM_VERIFY_EFAIL,     TANDEM_KASP_EPOLICY,
			     TANDEM_KASP_ESTATE,      TANDEM_KASP_EVERSION,
			     TANDEM_KASP_EFACT,       TANDEM_KASP_ENOKEY,
			     TANDEM_ARCHIVE_EPASS,    TANDEM_ARCHIVE_ECARDS,
			     TANDEM_ARCHIVE_ETAMPER,  TANDEM_ARCHIVE_EFORMAT,
			     TANDEM_ARCHIVE_EVERSION, TANDEM_ARCHIVE_ECONFLICT};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		ck_assert_str_ne(tandem_strerror(codes[i]), "unknown error");
		for (size_t j = 0; j < i; j++) {
			ck_assert_str_ne(tandem_strerror(codes[i]), tandem_strerror(codes[j]));
		}
	}
}
END_TEST

/* Comma lists as the daemons' --etcd and tandemctl's --coord take them, and log stamps. */
START_TEST(split_and_utc_stamp)
{
	char buf[] = "tcp://a:1,,tcp://b:2,";
	const char *f[3];
	ck_assert_uint_eq(tandem_split(buf, ',', f, 3), 2);
	ck_assert_str_eq(f[0], "tcp://a:1");
	ck_assert_str_eq(f[1], "tcp://b:2");
	char many[] = "a,b,c,d";
	ck_assert_uint_eq(tandem_split(many, ',', f, 3), 4);
	ck_assert_str_eq(f[2], "c");
	char empty[] = "";
	ck_assert_uint_eq(tandem_split(empty, ',', f, 3), 0);
	uint8_t bytes[3] = {0};
	ck_assert_int_eq(tandem_hex_decode("00aFff", bytes, 3), TANDEM_OK);
	ck_assert(bytes[0] == 0x00 && bytes[1] == 0xaf && bytes[2] == 0xff);
	ck_assert_int_eq(tandem_hex_decode("00aF", bytes, 3), TANDEM_EINVAL);    /* short */
	ck_assert_int_eq(tandem_hex_decode("00aFff0", bytes, 3), TANDEM_EINVAL); /* long */
	ck_assert_int_eq(tandem_hex_decode("00aFfg", bytes, 3), TANDEM_EINVAL);  /* not hex */
	ck_assert(bytes[2] == 0xff);                                             /* unchanged */
	ck_assert_int_eq(tandem_hex_decode(NULL, bytes, 3), TANDEM_EINVAL);
	char stamp[32];
	/* 2026-11-23T04:30:00.007Z */
	ck_assert_str_eq(tandem_utc_ms(1795408200007ull, stamp, sizeof(stamp)),
			 "2026-11-23T04:30:00.007Z");
}
END_TEST

START_TEST(dname_id_and_escape)
{
	char why[128];
	ck_assert(tandem_dname_valid("example.", why, sizeof(why)));
	ck_assert(tandem_dname_valid("example", why, sizeof(why)));
	ck_assert(tandem_dname_valid("co.jp.", why, sizeof(why)));
	ck_assert(tandem_dname_valid("_x-1.example", NULL, 0));
	const char *bad[] = {"",     ".",    "..",     "a..b",  ".a",
			     "a/b.", "a b.", "a\\.b.", "a\nb.", "\x01a."};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		ck_assert_msg(!tandem_dname_valid(bad[i], why, sizeof(why)), "accepted '%s'",
			      bad[i]);
		ck_assert_msg(why[0] != '\0', "no reason for '%s'", bad[i]);
	}
	char label[80], name[300];
	memset(label, 'a', 63);
	strcpy(label + 63, ".");
	ck_assert(tandem_dname_valid(label, NULL, 0));
	memset(label, 'a', 64);
	strcpy(label + 64, ".");
	ck_assert(!tandem_dname_valid(label, why, sizeof(why)));
	ck_assert(strstr(why, "63") != NULL);
	/* three labels of 63 and one of 61: 3 * 64 + 62 + 1 = 255 octets in wire form */
	memset(name, 'a', sizeof(name));
	for (int i = 0; i < 3; i++) {
		name[i * 64 + 63] = '.';
	}
	name[3 * 64 + 61] = '\0';
	ck_assert(tandem_dname_valid(name, NULL, 0));
	name[3 * 64 + 61] = 'a'; /* 256 */
	name[3 * 64 + 62] = '\0';
	ck_assert(!tandem_dname_valid(name, why, sizeof(why)));
	ck_assert(tandem_dname_equal("EXAMPLE.", "example"));
	ck_assert(tandem_dname_equal("a.b", "A.B."));
	ck_assert(!tandem_dname_equal("a.b.", "a.bc."));
	ck_assert(!tandem_dname_equal("example.", "xample."));

	ck_assert(tandem_id_valid("node-a", why, sizeof(why)));
	ck_assert(tandem_id_valid("n.1_x", NULL, 0));
	ck_assert(!tandem_id_valid("", why, sizeof(why)));
	ck_assert(!tandem_id_valid("-a", why, sizeof(why)));
	ck_assert(!tandem_id_valid("a/b", why, sizeof(why)));
	ck_assert(!tandem_id_valid("a\nb", why, sizeof(why)));
	memset(name, 'x', 64);
	name[64] = '\0';
	ck_assert(!tandem_id_valid(name, why, sizeof(why)));

	char out[64];
	ck_assert_str_eq(tandem_escape(out, sizeof(out), "plain text"), "plain text");
	ck_assert_str_eq(tandem_escape(out, sizeof(out), "a\nb\r\x7f\\"), "a\\x0ab\\x0d\\x7f\\\\");
	ck_assert_str_eq(tandem_escape(out, sizeof(out), "\xc3\xa9"), "\\xc3\\xa9");
	/* a copy that does not fit never cuts an escape in half */
	ck_assert_str_eq(tandem_escape(out, 6, "ab\ncd"), "ab");
	ck_assert_str_eq(tandem_escape(out, 7, "ab\ncd"), "ab\\x0a");
	ck_assert_str_eq(tandem_escape(out, sizeof(out), NULL), "");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("common");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, arena_alloc_align_and_merge);
	tcase_add_test(tc, diag_keeps_and_counts);
	tcase_add_test(tc, afile_commit_and_abort);
	tcase_add_test(tc, file_read_limits);
	tcase_add_test(tc, secret_read_refuses_loose_modes);
	tcase_add_test(tc, wipe_and_strerror);
	tcase_add_test(tc, split_and_utc_stamp);
	tcase_add_test(tc, dname_id_and_escape);
	/* 128 MiB touched per test: minutes, not seconds, on a loaded machine */
	TCase *tm = tcase_create("malloc");
	tcase_set_timeout(tm, 120);
	tcase_add_test(tm, malloc_tune_returns_freed_arenas);
	tcase_add_test(tm, malloc_release_returns_freed_small_blocks);
	suite_add_tcase(s, tm);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
