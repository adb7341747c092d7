/* tandem-ceremony record and record-sign: what a ceremony did, signed by the people present. */
#include "ceremony_record.h"
#include "coord_approval.h"
#include "operator_key.h"
#include "tandem_encode.h"
#include "tandem_error.h"
#include "tandem_file.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_INPUT = 2, EXIT_IO = 5 };
enum { O_OUT = 256, O_WHAT, O_CHECK, O_HOLDER, O_PRESENT, O_NAME, O_KEY };

#define RECORD_MAX   (64u * 1024u)
#define RECORD_LINES 64

static void usage(FILE *fp)
{
	fprintf(fp, "usage: tandem-ceremony record --out FILE --what TEXT --present NAME:ROLE...\n"
		    "                       [--check-value HEX]... [--card-holder CARD=NAME]...\n"
		    "       tandem-ceremony record-sign FILE --name NAME --key SECRET|pkcs11:URI\n"
		    "  (docs/approvals.md, \"Ceremony records\")\n");
}

/* One line of printable text without the characters that would split or forge a line. */
static bool text_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > 200) {
		return false;
	}
	for (; *s; s++) {
		if (*s < 0x20 || *s > 0x7e) {
			return false;
		}
	}
	return true;
}

int ceremony_record(int argc, char **argv)
{
	static const struct option longopts[] = {{"out", required_argument, NULL, O_OUT},
						 {"what", required_argument, NULL, O_WHAT},
						 {"check-value", required_argument, NULL, O_CHECK},
						 {"card-holder", required_argument, NULL, O_HOLDER},
						 {"present", required_argument, NULL, O_PRESENT},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	const char *out = NULL, *what = NULL;
	const char *checks[RECORD_LINES], *holders[RECORD_LINES], *present[RECORD_LINES];
	size_t nc = 0, nh = 0, np = 0;
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_OUT: out = optarg; break;
		case O_WHAT: what = optarg; break;
		case O_CHECK: checks[nc < RECORD_LINES ? nc++ : nc - 1] = optarg; break;
		case O_HOLDER: holders[nh < RECORD_LINES ? nh++ : nh - 1] = optarg; break;
		case O_PRESENT: present[np < RECORD_LINES ? np++ : np - 1] = optarg; break;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || out == NULL || what == NULL || np < 2) {
		fprintf(stderr, "%s: needs --out, --what and two or more --present\n", argv[0]);
		return EXIT_USAGE;
	}
	char *buf = malloc(RECORD_MAX);
	char stamp[32];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (buf == NULL) {
		return EXIT_IO;
	}
	size_t used = (size_t)snprintf(
	    buf, RECORD_MAX, "%stime %s\nwhat %s\n", COORD_RECORD_HEADER,
	    tandem_utc_ms((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u, stamp,
			  sizeof(stamp)),
	    text_ok(what) ? what : "");
	int rc = text_ok(what) ? EXIT_OK : EXIT_INPUT;
	for (size_t i = 0; rc == EXIT_OK && i < nc; i++) {
		rc = text_ok(checks[i]) && strchr(checks[i], ' ') == NULL ? EXIT_OK : EXIT_INPUT;
		used +=
		    (size_t)snprintf(buf + used, RECORD_MAX - used, "check-value %s\n", checks[i]);
	}
	for (size_t i = 0; rc == EXIT_OK && i < nh; i++) {
		char card[64];
		const char *eq = strchr(holders[i], '=');
		rc = eq != NULL && eq != holders[i] && (size_t)(eq - holders[i]) < sizeof(card) &&
			     text_ok(holders[i]) && strchr(holders[i], ' ') == NULL
			 ? EXIT_OK
			 : EXIT_INPUT;
		if (rc == EXIT_OK) {
			memcpy(card, holders[i], (size_t)(eq - holders[i]));
			card[eq - holders[i]] = '\0';
			used += (size_t)snprintf(buf + used, RECORD_MAX - used,
						 "card-holder %s %s\n", card, eq + 1);
		}
	}
	for (size_t i = 0; rc == EXIT_OK && i < np; i++) {
		const char *colon = strchr(present[i], ':');
		coord_role_t role;
		rc = colon != NULL && colon != present[i] && text_ok(present[i]) &&
			     strchr(present[i], ' ') == NULL &&
			     coord_role_parse(colon + 1, &role) == TANDEM_OK
			 ? EXIT_OK
			 : EXIT_INPUT;
		if (rc == EXIT_OK) {
			used += (size_t)snprintf(buf + used, RECORD_MAX - used, "present %.*s %s\n",
						 (int)(colon - present[i]), present[i], colon + 1);
		}
	}
	if (rc != EXIT_OK || used >= RECORD_MAX) {
		fprintf(stderr,
			"%s: --what, --check-value HEX, --card-holder CARD=NAME and --present "
			"NAME:SA|SO|WI are single words or lines of printable text\n",
			argv[0]);
		free(buf);
		return EXIT_INPUT;
	}
	int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	bool ok = fd >= 0 && write(fd, buf, used) == (ssize_t)used && fsync(fd) == 0;
	if (fd >= 0) {
		ok = close(fd) == 0 && ok;
	}
	if (!ok) {
		fprintf(stderr, "%s: %s: %s\n", argv[0], out,
			fd < 0 ? strerror(errno) : "not written");
		free(buf);
		return EXIT_IO;
	}
	fwrite(buf, 1, used, stdout);
	printf("record written to %s: each person present signs it "
	       "(tandem-ceremony record-sign %s --name NAME --key SECRET)\n",
	       out, out);
	free(buf);
	return EXIT_OK;
}

int ceremony_record_sign(int argc, char **argv)
{
	static const struct option longopts[] = {{"name", required_argument, NULL, O_NAME},
						 {"key", required_argument, NULL, O_KEY},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	const char *name = NULL, *key = NULL;
	char *text = NULL, line[64];
	size_t len = 0;
	uint8_t sig[COORD_APPROVAL_SIG_LEN], pub[COORD_APPROVAL_PUB_LEN];
	opkey_t *okey = NULL;
	tandem_afile_t *f = NULL;
	int c, rc = EXIT_INPUT;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_NAME: name = optarg; break;
		case O_KEY: key = optarg; break;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || name == NULL || key == NULL) {
		fprintf(stderr, "%s: needs FILE --name NAME --key SECRET\n", argv[0]);
		return EXIT_USAGE;
	}
	const char *path = argv[optind];
	int ret = tandem_file_read(path, RECORD_MAX, &text, &len);
	if (ret != TANDEM_OK) {
		fprintf(stderr, "%s: %s: %s\n", argv[0], path, tandem_strerror(ret));
		return EXIT_INPUT;
	}
	snprintf(line, sizeof(line), "\npresent %.40s ", name);
	size_t blen = coord_record_body(text, len);
	if (len < sizeof(COORD_RECORD_HEADER) - 1 ||
	    memcmp(text, COORD_RECORD_HEADER, sizeof(COORD_RECORD_HEADER) - 1) != 0 ||
	    memmem(text, blen, line, strlen(line)) == NULL) {
		fprintf(stderr, "%s: %s: not a ceremony record listing %s as present\n", argv[0],
			path, name);
		goto out;
	}
	/* a secret file, or a key on a PKCS#11 token: the same signature either way */
	rc = opkey_open(argv[0], key, &okey, pub);
	if (rc == EXIT_OK) {
		rc = opkey_sign(argv[0], okey, (const uint8_t *)text, blen, sig);
	}
	if (rc != EXIT_OK) {
		goto out;
	}
	char ph[2 * COORD_APPROVAL_PUB_LEN + 1], sh[2 * COORD_APPROVAL_SIG_LEN + 1];
	for (size_t i = 0; i < sizeof(pub); i++) {
		snprintf(ph + 2 * i, 3, "%02x", pub[i]);
	}
	for (size_t i = 0; i < sizeof(sig); i++) {
		snprintf(sh + 2 * i, 3, "%02x", sig[i]);
	}
	/* the file is rewritten whole (atomically): the record, then the signatures so far */
	rc = EXIT_IO;
	if (tandem_afile_open(path, 0644, &f) == TANDEM_OK) {
		FILE *fp = tandem_afile_stream(f);
		fwrite(text, 1, len, fp);
		fprintf(fp, "%ssignature %s %s %s\n", len > 0 && text[len - 1] != '\n' ? "\n" : "",
			name, ph, sh);
		rc = tandem_afile_commit(f) == TANDEM_OK ? EXIT_OK : EXIT_IO;
		f = NULL;
	}
	if (rc != EXIT_OK) {
		fprintf(stderr, "%s: %s: not written\n", argv[0], path);
		goto out;
	}
	fwrite(text, 1, blen, stdout);
	printf("signed by %s\n", name);
out:
	tandem_afile_abort(f);
	opkey_free(okey);
	free(text);
	return rc;
}
