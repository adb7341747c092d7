/* The config loader: good files, every kind of refusal with its line, secrets, merge, diff. */
#include "conf.h"
#include "tandem_error.h"
#include "testsupport.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TDM_GOOD                                                                                   \
	"# a node\n"                                                                               \
	"name: node-a\n"                                                                           \
	"site: A\n"                                                                                \
	"key: /nonexistent/node-a.secret\n"                                                        \
	"coord:\n"                                                                                 \
	"  - endpoint: tcp://127.0.0.1:7001\n"                                                     \
	"    public-key: keys/coord-a.public\n"                                                    \
	"  - endpoint: tcp://[::1]:7002\n"                                                         \
	"    public-key: keys/coord-b.public\n"                                                    \
	"token: pkcs11:token=node-a;pin-source=/nonexistent/pin\n"                                 \
	"zone:\n"                                                                                  \
	"  - name: example.\n"                                                                     \
	"    input: /srv/example.zone\n"                                                           \
	"out: /srv/signed\n"                                                                       \
	"work: /var/lib/tandem\n"                                                                  \
	"cycle: 5m\n"                                                                              \
	"threads: 2\n"                                                                             \
	"metrics: 127.0.0.1:0\n"

/* Loads text as a tandemd (or tandem-coord) file in a fresh temp dir. */
static int load(const conf_schema_t *s, const char *text, char *dir, tandem_diag_t *diag,
		conf_t **out)
{
	char path[512];
	ts_tmpdir(dir, 256);
	ts_write_file(dir, "t.yaml", text, path, sizeof(path));
	return conf_load(s, path, diag, out);
}

/* text must be refused with a message "FILE:LINE: ..." containing needle. */
static void expect_refused(const conf_schema_t *s, const char *text, unsigned line,
			   const char *needle)
{
	char dir[256], prefix[400];
	tandem_diag_t *diag = NULL;
	conf_t *c = (conf_t *)0x1;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	ck_assert_int_eq(load(s, text, dir, diag, &c), TANDEM_EINVAL);
	ck_assert_ptr_eq(c, (conf_t *)0x1); /* not written on failure */
	snprintf(prefix, sizeof(prefix), "%s/t.yaml:%u: ", dir, line);
	bool found = false;
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		const char *m = tandem_diag_msg(diag, i);
		found |= strncmp(m, prefix, strlen(prefix)) == 0 && strstr(m, needle) != NULL;
	}
	if (!found) {
		for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
			fprintf(stderr, "got: %s\n", tandem_diag_msg(diag, i));
		}
		ck_abort_msg("no message '%s...%s'", prefix, needle);
	}
	tandem_diag_free(diag);
	ts_rmtree(dir);
}

/* The merged argv as one space-separated string. */
static void joined(const conf_argv_t *a, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (int i = 0; i < a->argc; i++) {
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? " " : "", a->argv[i]);
	}
}

START_TEST(good_file)
{
	char dir[256], line[2048];
	tandem_diag_t *diag = NULL;
	conf_t *c = NULL;
	conf_argv_t a;
	char *argv[] = {"tandemd", NULL};
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	ck_assert_int_eq(load(conf_schema_tandemd(), TDM_GOOD, dir, diag, &c), TANDEM_OK);
	ck_assert_int_eq(conf_merge(conf_schema_tandemd(), c, 1, argv, diag, &a), TANDEM_OK);
	joined(&a, line, sizeof(line));
	ck_assert_str_eq(line, "tandemd --name node-a --site A --key /nonexistent/node-a.secret "
			       "--coord tcp://127.0.0.1:7001 --coord-pub keys/coord-a.public "
			       "--coord tcp://[::1]:7002 --coord-pub keys/coord-b.public "
			       "--token pkcs11:token=node-a;pin-source=/nonexistent/pin "
			       "--zone example.=/srv/example.zone --out /srv/signed "
			       "--work /var/lib/tandem --cycle 300 --threads 2 "
			       "--metrics 127.0.0.1:0");
	conf_argv_deinit(&a);
	ck_assert_uint_eq(tandem_diag_count(diag), 0);
	conf_free(c);
	tandem_diag_free(diag);
	ts_rmtree(dir);
}
END_TEST

START_TEST(command_line_overrides)
{
	char dir[256], line[2048];
	tandem_diag_t *diag = NULL;
	conf_t *c = NULL;
	conf_argv_t a;
	char *argv[] = {"tandemd", "--cycle", "60", "--zone", "other.=/o.zone"};
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	ck_assert_int_eq(load(conf_schema_tandemd(), TDM_GOOD, dir, diag, &c), TANDEM_OK);
	ck_assert_int_eq(conf_merge(conf_schema_tandemd(), c, 5, argv, diag, &a), TANDEM_OK);
	joined(&a, line, sizeof(line));
	/* the file's cycle comes first (getopt keeps the last); the file's zones are dropped */
	ck_assert_ptr_ne(strstr(line, "--cycle 300"), NULL);
	ck_assert_ptr_ne(strstr(line, "--cycle 300"), strstr(line, "--cycle 60"));
	ck_assert(strstr(line, "--cycle 300") < strstr(line, "--cycle 60"));
	ck_assert_ptr_eq(strstr(line, "example.="), NULL);
	ck_assert_ptr_ne(strstr(line, "--zone other.=/o.zone"), NULL);
	conf_argv_deinit(&a);
	conf_free(c);
	tandem_diag_free(diag);
	ts_rmtree(dir);
}
END_TEST

START_TEST(required_missing)
{
	char dir[256];
	tandem_diag_t *diag = NULL;
	conf_t *c = NULL;
	conf_argv_t a = {0};
	char *argv[] = {"tandemd", "--out", "/o"};
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	ck_assert_int_eq(load(conf_schema_tandemd(), "name: n\nsite: B\n", dir, diag, &c),
			 TANDEM_OK);
	ck_assert_int_eq(conf_merge(conf_schema_tandemd(), c, 3, argv, diag, &a), TANDEM_EINVAL);
	ck_assert_ptr_null(a.argv);
	bool key = false, out = false;
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		key |= strstr(tandem_diag_msg(diag, i), ": key: required") != NULL;
		out |= strstr(tandem_diag_msg(diag, i), ": out: required") != NULL;
	}
	ck_assert(key);
	ck_assert(!out); /* given on the command line */
	conf_free(c);
	tandem_diag_free(diag);
	ts_rmtree(dir);
}
END_TEST

START_TEST(refusals)
{
	const conf_schema_t *t = conf_schema_tandemd(), *k = conf_schema_coord();
	expect_refused(t, "name: a\nnmae: b\n", 2, "nmae: unknown key");
	expect_refused(t, "name: a\npid_file: /x\n", 2, "did you mean 'pid-file'");
	expect_refused(t, "name: a\n\nthreads: many\n", 3, "threads: 'many' is not a whole number");
	expect_refused(t, "threads: 65\n", 1, "from 1 to 64");
	expect_refused(t, "threads: [1, 2]\n", 1, "threads: expected a value, found a list");
	expect_refused(t, "site: E\n", 1, "site: 'E' is not A, B, C or D");
	expect_refused(t, "cycle: 2d\n", 1, "cycle: '2d' is 172800 s, outside 1..86400 s");
	expect_refused(t, "cycle: soon\n", 1, "is not a duration");
	expect_refused(t, "metrics: localhost\n", 1, "is not HOST:PORT");
	expect_refused(t, "metrics: 127.0.0.1:70000\n", 1, "is not HOST:PORT");
	expect_refused(t, "name: a\nname: b\n", 2, "name: given twice (first on line 1)");
	expect_refused(t, "name: a\nsite: [A\n", 3, "not valid YAML");
	expect_refused(t, "name: a\n  site: A\n", 2, "not valid YAML");
	expect_refused(t, "- name\n", 1, "expected a mapping of keys");
	expect_refused(t, "name:\n", 1, "name: missing value");
	expect_refused(t, "zone:\n  - name: a.\n    input: /a\n  - name: b.\n", 4,
		       "zone.input: missing");
	expect_refused(t, "zone:\n  - name: a.\n    file: /a\n", 3,
		       "zone.file: unknown key (a zone entry has name, input)");
	expect_refused(t, "zone:\n  - name: a.\n    name: b.\n    input: /a\n", 3,
		       "zone.name: given twice");
	expect_refused(t, "zone: example.\n", 1, "zone: expected a list, found a value");
	expect_refused(t, "coord:\n  - endpoint: 127.0.0.1:7001\n    public-key: p\n", 2,
		       "coord.endpoint: '127.0.0.1:7001' is not tcp://HOST:PORT");
	expect_refused(t, "token: pkcs11:token=a;pin-value=1234\n", 1,
		       "a PIN is never written in the config file");
	expect_refused(t, "token: /dev/token\n", 1, "is not a PKCS#11 URI");
	expect_refused(t, "zone:\n  - name: bad..name\n    input: /a\n", 2,
		       "zone.name: 'bad..name' is not a domain name");
	expect_refused(t, "smk-check: abc\n", 1, "smk-check: 3 hex digits; want 64");
	expect_refused(t, "smk-check: xyz\n", 1, "smk-check: 'xyz' is not hex digits");
	expect_refused(k, "name: 'a b'\n", 1, "name: 'a b' holds a space");
	expect_refused(k, "zone: [ok., -x..]\n", 1, "zone[2]: '-x..' is not a domain name");
	expect_refused(k, "etcd: [http://127.0.0.1:2379, ftp://x]\n", 1,
		       "etcd[2]: 'ftp://x' is not an http:// or https:// URL");
	expect_refused(k, "insecure-etcd: maybe\n", 1, "is not true or false");
	expect_refused(k, "peer:\n  - name: b\n", 2, "peer.endpoint: missing");
	expect_refused(k, "\n\naudit-retention: -1\n", 3,
		       "audit-retention: '-1' is not a duration");
}
END_TEST

START_TEST(all_errors_reported)
{
	char dir[256];
	tandem_diag_t *diag = NULL;
	conf_t *c = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	ck_assert_int_eq(
	    load(conf_schema_tandemd(), "threads: 0\nsite: Z\nbogus: 1\n", dir, diag, &c),
	    TANDEM_EINVAL);
	ck_assert_uint_eq(tandem_diag_count(diag), 3);
	tandem_diag_free(diag);
	ts_rmtree(dir);
}
END_TEST

START_TEST(secret_modes)
{
	char dir[256], key[512], pin[512], text[2048], prefix[1200];
	tandem_diag_t *diag = NULL;
	conf_t *c = NULL;
	ts_tmpdir(dir, sizeof(dir));
	ts_write_file(dir, "coord.secret", "x\n", key, sizeof(key));
	ts_write_file(dir, "pin", "1234\n", pin, sizeof(pin));
	ck_assert_int_eq(chmod(key, 0644), 0);
	ck_assert_int_eq(chmod(pin, 0640), 0);
	snprintf(text, sizeof(text), "key: %s\ntoken: pkcs11:token=t;pin-source=%s\n", key, pin);
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	char path[512];
	ts_write_file(dir, "t.yaml", text, path, sizeof(path));
	ck_assert_int_eq(conf_load(conf_schema_tandemd(), path, diag, &c), TANDEM_EINVAL);
	ck_assert_uint_eq(tandem_diag_count(diag), 2);
	snprintf(prefix, sizeof(prefix), "%s:1: key: %s is mode 0644", path, key);
	ck_assert_int_eq(strncmp(tandem_diag_msg(diag, 0), prefix, strlen(prefix)), 0);
	ck_assert_ptr_ne(strstr(tandem_diag_msg(diag, 1), ":2: token: "), NULL);
	ck_assert_ptr_ne(strstr(tandem_diag_msg(diag, 1), "is mode 0640"), NULL);
	ck_assert_ptr_eq(strstr(tandem_diag_msg(diag, 1), "1234"), NULL); /* never the PIN */
	/* fixed: accepted */
	ck_assert_int_eq(chmod(key, 0600), 0);
	ck_assert_int_eq(chmod(pin, 0400), 0);
	tandem_diag_clear(diag);
	ck_assert_int_eq(conf_load(conf_schema_tandemd(), path, diag, &c), TANDEM_OK);
	conf_free(c);
	tandem_diag_free(diag);
	ts_rmtree(dir);
}
END_TEST

static void count_diff(void *arg, const conf_key_t *key, unsigned old_line, unsigned new_line)
{
	char *out = arg;
	char one[96];
	snprintf(one, sizeof(one), "%s:%u:%u ", key->name, old_line, new_line);
	strcat(out, one);
}

START_TEST(diff)
{
	char dir1[256], dir2[256], seen[512] = "";
	conf_t *a = NULL, *b = NULL;
	const conf_schema_t *k = conf_schema_coord();
	ck_assert_int_eq(load(k, "name: c\nzone: [a., b.]\ninsecure-etcd: false\n", dir1, NULL, &a),
			 TANDEM_OK);
	ck_assert_int_eq(load(k,
			      "zone: [a., b., c.]\nname: c\ninsecure-etcd: no\nlisten: "
			      "tcp://127.0.0.1:*\n",
			      dir2, NULL, &b),
			 TANDEM_OK);
	conf_diff(k, a, b, count_diff, seen);
	ck_assert_str_eq(seen, "listen:0:4 zone:2:1 ");
	const char *vals[4];
	ck_assert_uint_eq(conf_values(b, conf_schema_find(k, "zone"), vals, 4), 3);
	ck_assert_str_eq(vals[2], "c.");
	conf_free(a);
	conf_free(b);
	ts_rmtree(dir1);
	ts_rmtree(dir2);
}
END_TEST

START_TEST(cli_split)
{
	conf_cli_t cli;
	char *argv[] = {"tandem-coord", "-c", "/etc/x.yaml", "--name", "n", "--check-config"};
	ck_assert_int_eq(conf_cli_split(conf_schema_coord(), 6, argv, NULL, &cli), TANDEM_OK);
	ck_assert_str_eq(cli.config, "/etc/x.yaml");
	ck_assert(cli.check);
	ck_assert(!cli.print_schema);
	ck_assert_int_eq(cli.argc, 3);
	ck_assert_str_eq(cli.argv[1], "--name");
	ck_assert_str_eq(conf_cli_path(conf_schema_coord(), &cli), "/etc/x.yaml");
	conf_cli_deinit(&cli);
	char *bad[] = {"tandemd", "-c"};
	ck_assert_int_eq(conf_cli_split(conf_schema_tandemd(), 2, bad, NULL, &cli), TANDEM_EINVAL);
	/* an option's value is the option's, even when it looks like one of the loader's */
	char *val[] = {"tandemd",        "--name",          "-c",      "--coord-pub",
		       "--check-config", "--insecure-etcd", "-cx.yaml"};
	ck_assert_int_eq(conf_cli_split(conf_schema_tandemd(), 7, val, NULL, &cli), TANDEM_OK);
	ck_assert_int_eq(cli.argc, 6);
	ck_assert(!cli.check);
	ck_assert_str_eq(cli.argv[2], "-c");
	ck_assert_str_eq(cli.argv[4], "--check-config");
	ck_assert_str_eq(cli.config, "x.yaml");
	conf_cli_deinit(&cli);
}
END_TEST

START_TEST(default_path)
{
	static const conf_key_t keys[] = {{.name = "n", .type = CONF_INT, .min = 0, .max = 9}};
	char dir[256], path[512], file[512];
	conf_cli_t cli;
	char *argv[] = {"d", "--n", "1"};
	ts_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/d.yaml", dir);
	conf_schema_t s = {.program = "d", .default_path = path, .keys = keys, .nkeys = 1};
	ck_assert_int_eq(conf_cli_split(&s, 3, argv, NULL, &cli), TANDEM_OK);
	ck_assert_ptr_null(conf_cli_path(&s, &cli)); /* no file: the command line alone */
	ts_write_file(dir, "d.yaml", "n: 2\n", file, sizeof(file));
	ck_assert_str_eq(conf_cli_path(&s, &cli), path); /* there: read without -c */
	conf_cli_deinit(&cli);
	ts_rmtree(dir);
}
END_TEST

START_TEST(empty_file)
{
	char dir[256];
	conf_t *c = NULL;
	ck_assert_int_eq(load(conf_schema_coord(), "# nothing yet\n", dir, NULL, &c), TANDEM_OK);
	conf_free(c);
	ts_rmtree(dir);
	tandem_diag_t *diag = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	ck_assert_int_eq(conf_load(conf_schema_coord(), "/nonexistent/t.yaml", diag, &c),
			 TANDEM_ENOENT);
	ck_assert_ptr_ne(strstr(tandem_diag_msg(diag, 0), "no such file"), NULL);
	tandem_diag_free(diag);
}
END_TEST

START_TEST(schema_print)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(fp);
	conf_schema_print(conf_schema_tandemd(), fp);
	fclose(fp);
	/* every key of the schema has its row */
	for (size_t i = 0; i < conf_schema_tandemd()->nkeys; i++) {
		char row[96];
		snprintf(row, sizeof(row), "| `%s` |", conf_schema_tandemd()->keys[i].name);
		ck_assert_ptr_ne(strstr(buf, row), NULL);
	}
	ck_assert_ptr_ne(strstr(buf, "| `coord[].public-key` | path | required | |"), NULL);
	free(buf);
}
END_TEST

static Suite *conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("loader");
	tcase_add_test(tc, good_file);
	tcase_add_test(tc, command_line_overrides);
	tcase_add_test(tc, required_missing);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, all_errors_reported);
	tcase_add_test(tc, secret_modes);
	tcase_add_test(tc, diff);
	tcase_add_test(tc, cli_split);
	tcase_add_test(tc, default_path);
	tcase_add_test(tc, empty_file);
	tcase_add_test(tc, schema_print);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(conf_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
