/* tandem-ceremony: the SMK ceremony on an offline machine: make the share cards, install the SMK
 * from M of them in an HSM, print an HSM's SMK check value; and the offline KSK ceremony: sign a
 * key signing request's DNSKEY RRsets (docs/ceremony.md). */
#include "archive.h"
#include "ceremony_record.h"
#include "crypto.h"
#include "dns_zone.h"
#include "hsm.h"
#include "hsm_smk.h"
#include "kasp_skr.h"
#include "signer.h"
#include "tandem_arena.h"
#include "tandem_error.h"
#include "tandem_file.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

/* Exit codes (docs/ceremony.md), as tandemctl's. */
enum {
	EXIT_OK = 0,
	EXIT_USAGE = 1,
	EXIT_INPUT = 2,   /* a card or file refused, too few cards, mixed ceremonies */
	EXIT_HSM = 3,     /* module, token, PIN or PKCS#11 problem */
	EXIT_REFUSED = 4, /* wrong passphrase, tampered card, check value mismatch, SMK present */
	EXIT_IO = 5,      /* a file could not be written */
};

#define PASS_MAX 1024
#define PIN_MAX  256

static void usage(FILE *fp)
{
	fprintf(
	    fp,
	    "usage: tandem-ceremony smk-new --shares N --threshold M --out DIR\n"
	    "                       [--kdf-cost LOG2N] [--drill] [--passphrase-file FILE]\n"
	    "                       [--now UNIXTIME]\n"
	    "       tandem-ceremony smk-install [--module PATH|P11KIT-NAME] --token URI\n"
	    "                       [--so-pin-source FILE] [--passphrase-file FILE] [--drill]\n"
	    "                       CARD...\n"
	    "       tandem-ceremony smk-check [--module PATH|P11KIT-NAME] --token URI\n"
	    "       tandem-ceremony skr-sign [--module PATH|P11KIT-NAME] --ksk URI [--ksk URI]\n"
	    "                       [--now UNIXTIME] --out SKR KSR\n"
	    "       tandem-ceremony skr-sign [--module ...] --ksk URI... --zone Z --dnskey-out "
	    "FILE\n"
	    "       tandem-ceremony record --out FILE --what TEXT --present NAME:ROLE... "
	    "[--check-value HEX]...\n"
	    "                       [--card-holder CARD=NAME]...   (a ceremony record)\n"
	    "       tandem-ceremony record-sign FILE --name NAME --key SECRET|pkcs11:URI\n"
	    "Passphrases and the SO PIN are asked on the terminal (no echo) unless given in\n"
	    "files (one passphrase per line, in card order; mode 0600); never on the command "
	    "line.\n");
}

static void print_diag(const tandem_diag_t *diag)
{
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		fprintf(stderr, "tandem-ceremony: %s\n", tandem_diag_msg(diag, i));
	}
}

static int exit_for(int ret)
{
	switch (ret) {
	case TANDEM_OK: return EXIT_OK;
	case TANDEM_EPERM:
	case TANDEM_EEXIST:
	case TANDEM_ARCHIVE_EPASS:
	case TANDEM_ARCHIVE_ETAMPER:
	case TANDEM_ARCHIVE_ECONFLICT: return EXIT_REFUSED;
	case TANDEM_EIO: return EXIT_IO;
	case TANDEM_HSM_EMODULE:
	case TANDEM_HSM_EURI:
	case TANDEM_HSM_ETOKEN:
	case TANDEM_HSM_EPIN:
	case TANDEM_HSM_EKEY:
	case TANDEM_HSM_EP11:
	case TANDEM_HSM_ESESSION:
	case TANDEM_HSM_EGONE: return EXIT_HSM;
	default: return EXIT_INPUT;
	}
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static bool parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end = NULL;
	if (s == NULL || *s == '\0' || *s == '-') {
		return false;
	}
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max) {
		return false;
	}
	*out = v;
	return true;
}

/* ---- secrets: from the terminal without echo, or from a 0600 file ---- */

/* Reads one line from the terminal with echo off into buf (PASS_MAX). */
static int tty_secret(const char *prompt, char *buf, size_t size)
{
	int ret = TANDEM_EIO;
	FILE *tty = fopen("/dev/tty", "r+");
	if (tty == NULL) {
		return TANDEM_EIO;
	}
	/* No stdio buffer: it would keep a copy of the secret we cannot wipe. */
	setvbuf(tty, NULL, _IONBF, 0);
	struct termios old, quiet;
	bool restore = false;
	if (tcgetattr(fileno(tty), &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		restore = tcsetattr(fileno(tty), TCSAFLUSH, &quiet) == 0;
	}
	fputs(prompt, tty);
	fflush(tty);
	if (fgets(buf, (int)size, tty) != NULL) {
		buf[strcspn(buf, "\r\n")] = '\0';
		ret = TANDEM_OK;
	}
	if (restore) {
		(void)tcsetattr(fileno(tty), TCSAFLUSH, &old);
	}
	fclose(tty);
	return ret;
}

/* A file of secrets, one per line; lines point into buf. */
typedef struct secret_lines {
	char *buf;
	size_t len;
	char **line;
	size_t n;
} secret_lines_t;

static void lines_free(secret_lines_t *l)
{
	if (l->buf != NULL) {
		tandem_wipe(l->buf, l->len);
		free(l->buf);
	}
	free(l->line);
	memset(l, 0, sizeof(*l));
}

static int lines_read(const char *path, secret_lines_t *l)
{
	memset(l, 0, sizeof(*l));
	int ret = tandem_secret_read(path, 1 << 20, &l->buf, &l->len);
	if (ret != TANDEM_OK) {
		fprintf(stderr, "tandem-ceremony: %s: %s%s\n", path, tandem_strerror(ret),
			ret == TANDEM_EPERM ? " (group or others may access it: chmod 600)" : "");
		return ret;
	}
	size_t cap = 1;
	for (size_t i = 0; i < l->len; i++) {
		cap += l->buf[i] == '\n';
	}
	l->line = calloc(cap, sizeof(*l->line));
	if (l->line == NULL) {
		lines_free(l);
		return TANDEM_ENOMEM;
	}
	char *p = l->buf;
	while (*p != '\0') {
		char *nl = strchr(p, '\n');
		if (nl != NULL) {
			*nl = '\0';
		}
		size_t n = strlen(p);
		if (n > 0 && p[n - 1] == '\r') {
			p[n - 1] = '\0';
		}
		l->line[l->n++] = p;
		if (nl == NULL) {
			break;
		}
		p = nl + 1;
	}
	return TANDEM_OK;
}

/* The first n lines of a --passphrase-file, one per card in card order, into pass
 * (pointers into lines, which the caller wipes and frees). */
static int passfile_take(const char *path, size_t n, secret_lines_t *lines, char **pass)
{
	int ret = lines_read(path, lines);
	if (ret != TANDEM_OK) {
		return ret;
	}
	if (lines->n < n) {
		fprintf(stderr,
			"tandem-ceremony: %s has %zu lines; one passphrase per card (%zu) is "
			"needed\n",
			path, lines->n, n);
		return TANDEM_ESYNTAX;
	}
	for (size_t i = 0; i < n; i++) {
		pass[i] = lines->line[i];
	}
	return TANDEM_OK;
}

/* ---- smk-new ---- */

static int cmd_new(int argc, char **argv)
{
	enum { O_SHARES = 256, O_THRESHOLD, O_OUT, O_COST, O_DRILL, O_PASSFILE, O_NOW };
	static const struct option longopts[] = {
	    {"shares", required_argument, NULL, O_SHARES},
	    {"threshold", required_argument, NULL, O_THRESHOLD},
	    {"out", required_argument, NULL, O_OUT},
	    {"kdf-cost", required_argument, NULL, O_COST},
	    {"drill", no_argument, NULL, O_DRILL},
	    {"passphrase-file", required_argument, NULL, O_PASSFILE},
	    {"now", required_argument, NULL, O_NOW},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	unsigned long long shares = 0, threshold = 0, cost = ARCHIVE_KDF_DEFAULT, v = 0;
	uint64_t now = (uint64_t)time(NULL);
	const char *out = NULL, *passfile = NULL;
	bool drill = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_SHARES:
		case O_THRESHOLD:
			if (!parse_uint(optarg, ARCHIVE_SHARES_MAX, &v) || v == 0) {
				fprintf(stderr, "tandem-ceremony: --shares and --threshold take "
						"1..255\n");
				return EXIT_USAGE;
			}
			*(c == O_SHARES ? &shares : &threshold) = v;
			break;
		case O_OUT: out = optarg; break;
		case O_COST:
			if (!parse_uint(optarg, ARCHIVE_KDF_MAX, &cost) || cost < ARCHIVE_KDF_MIN) {
				fprintf(stderr, "tandem-ceremony: --kdf-cost takes %d..%d\n",
					ARCHIVE_KDF_MIN, ARCHIVE_KDF_MAX);
				return EXIT_USAGE;
			}
			break;
		case O_DRILL: drill = true; break;
		case O_PASSFILE: passfile = optarg; break;
		case O_NOW:
			if (!parse_uint(optarg, UINT32_MAX, &v)) {
				fprintf(stderr, "tandem-ceremony: --now takes a UNIX time\n");
				return EXIT_USAGE;
			}
			now = v;
			break;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || shares == 0 || threshold == 0 || out == NULL) {
		fprintf(stderr, "tandem-ceremony: smk-new needs --shares, --threshold and --out\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (threshold > shares) {
		fprintf(stderr, "tandem-ceremony: --threshold %llu is more than --shares %llu\n",
			threshold, shares);
		return EXIT_USAGE;
	}
	if (cost < ARCHIVE_KDF_FLOOR && !drill) {
		fprintf(stderr,
			"tandem-ceremony: --kdf-cost %llu is below the production floor %d "
			"(add --drill for an exercise whose cards protect nothing)\n",
			cost, ARCHIVE_KDF_FLOOR);
		return EXIT_USAGE;
	}

	int code = EXIT_INPUT;
	tandem_diag_t *diag = NULL;
	secret_lines_t lines = {0};
	char *typed = NULL;
	char **pass = calloc(shares, sizeof(*pass));
	uint8_t **cards = calloc(shares, sizeof(*cards));
	size_t *lens = calloc(shares, sizeof(*lens));
	char(*paths)[4096] = calloc(shares, sizeof(*paths));
	if (pass == NULL || cards == NULL || lens == NULL || paths == NULL ||
	    tandem_diag_new(&diag) != TANDEM_OK) {
		fprintf(stderr, "tandem-ceremony: out of memory\n");
		goto out;
	}
	if (mkdir(out, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "tandem-ceremony: cannot make %s: %s\n", out, strerror(errno));
		code = EXIT_IO;
		goto out;
	}
	for (unsigned long long i = 0; i < shares; i++) {
		int w =
		    snprintf(paths[i], sizeof(paths[i]), "%s/card-%02llu.tandem-card", out, i + 1);
		if (w < 0 || (size_t)w >= sizeof(paths[i])) {
			fprintf(stderr, "tandem-ceremony: --out path too long\n");
			goto out;
		}
		/* Never overwrite a card: it may be the only copy of an earlier ceremony's share.
		 */
		if (access(paths[i], F_OK) == 0) {
			fprintf(stderr, "tandem-ceremony: %s exists; use an empty directory\n",
				paths[i]);
			code = EXIT_REFUSED;
			goto out;
		}
	}
	if (passfile != NULL) {
		if (passfile_take(passfile, (size_t)shares, &lines, pass) != TANDEM_OK) {
			goto out;
		}
	} else {
		typed = calloc(shares * 2, PASS_MAX);
		if (typed == NULL) {
			goto out;
		}
		for (unsigned long long i = 0; i < shares; i++) {
			char prompt[128], *a = typed + 2 * i * PASS_MAX, *b = a + PASS_MAX;
			snprintf(prompt, sizeof(prompt),
				 "Passphrase of card %llu's holder: ", i + 1);
			if (tty_secret(prompt, a, PASS_MAX) != TANDEM_OK ||
			    tty_secret("Again: ", b, PASS_MAX) != TANDEM_OK) {
				fprintf(stderr,
					"tandem-ceremony: no terminal to ask passphrases on "
					"(use --passphrase-file)\n");
				goto out;
			}
			if (strcmp(a, b) != 0) {
				fprintf(stderr,
					"tandem-ceremony: the passphrases differ; start again\n");
				goto out;
			}
			pass[i] = a;
		}
	}
	for (unsigned long long i = 0; i < shares; i++) {
		if (strlen(pass[i]) < ARCHIVE_PASSPHRASE_MIN) {
			fprintf(stderr,
				"tandem-ceremony: card %llu: a passphrase has at least %d "
				"characters\n",
				i + 1, ARCHIVE_PASSPHRASE_MIN);
			goto out;
		}
	}
	archive_card_info_t info;
	int ret = archive_ceremony_new((unsigned)shares, (unsigned)threshold, (unsigned)cost, now,
				       (const char *const *)pass, diag, cards, lens, &info);
	if (ret != TANDEM_OK) {
		print_diag(diag);
		fprintf(stderr, "tandem-ceremony: %s\n", tandem_strerror(ret));
		code = exit_for(ret);
		goto out;
	}
	for (unsigned long long i = 0; i < shares; i++) {
		tandem_afile_t *f = NULL;
		ret = tandem_afile_open(paths[i], 0600, &f);
		if (ret == TANDEM_OK) {
			if (fwrite(cards[i], 1, lens[i], tandem_afile_stream(f)) != lens[i]) {
				tandem_afile_abort(f);
				ret = TANDEM_EIO;
			} else {
				ret = tandem_afile_commit(f);
			}
		}
		if (ret != TANDEM_OK) {
			fprintf(stderr, "tandem-ceremony: cannot write %s: %s\n", paths[i],
				tandem_strerror(ret));
			code = EXIT_IO;
			goto out;
		}
	}
	char id[2 * ARCHIVE_CEREMONY_ID_LEN + 1], check[2 * ARCHIVE_CHECK_LEN + 1];
	hex(info.ceremony_id, sizeof(info.ceremony_id), id);
	hex(info.check, sizeof(info.check), check);
	printf("ceremony %s: %llu cards, any %llu of them install the SMK (KDF scrypt 2^%llu%s)\n",
	       id, shares, threshold, cost, drill && cost < ARCHIVE_KDF_FLOOR ? ", DRILL" : "");
	for (unsigned long long i = 0; i < shares; i++) {
		printf("card %llu: %s\n", i + 1, paths[i]);
	}
	printf("check value: %s\n", check);
	code = EXIT_OK;
out:
	lines_free(&lines);
	if (typed != NULL) {
		tandem_wipe(typed, shares * 2 * PASS_MAX);
		free(typed);
	}
	for (unsigned long long i = 0; cards != NULL && i < shares; i++) {
		free(cards[i]);
	}
	free(cards);
	free(lens);
	free(pass);
	free(paths);
	tandem_diag_free(diag);
	return code;
}

/* ---- HSM commands ---- */

static int load_module(const char *opt, const hsm_uri_t *uri, tandem_diag_t *diag,
		       hsm_module_t **out)
{
	const char *m = opt != NULL ? opt : hsm_uri_module(uri);
	int ret = hsm_module_load(m, diag, out);
	if (ret != TANDEM_OK) {
		print_diag(diag);
	}
	return ret;
}

/* The SO PIN from --so-pin-source (first line) or the terminal, into pin (PIN_MAX). */
static int so_pin_get(const char *file, const char *token, char *pin, size_t *pin_len)
{
	int ret = TANDEM_OK;
	char *buf = NULL;
	size_t len = 0;
	if (file != NULL) {
		ret = tandem_secret_read(file, PIN_MAX * 4, &buf, &len);
		if (ret != TANDEM_OK) {
			fprintf(stderr, "tandem-ceremony: --so-pin-source %s: %s%s\n", file,
				tandem_strerror(ret),
				ret == TANDEM_EPERM ? " (group or others may access it: chmod 600)"
						    : "");
			goto out;
		}
		size_t n = strcspn(buf, "\r\n");
		if (n == 0 || n >= PIN_MAX) {
			fprintf(stderr, "tandem-ceremony: the SO PIN in %s is %s\n", file,
				n == 0 ? "empty" : "too long");
			ret = TANDEM_HSM_EPIN;
			goto out;
		}
		memcpy(pin, buf, n);
		pin[n] = '\0';
		*pin_len = n;
	} else {
		char prompt[128];
		snprintf(prompt, sizeof(prompt),
			 "SO PIN of token %s: ", token != NULL ? token : "(URI)");
		ret = tty_secret(prompt, pin, PIN_MAX);
		if (ret != TANDEM_OK || pin[0] == '\0') {
			fprintf(stderr, "tandem-ceremony: no SO PIN (use --so-pin-source FILE "
					"without a terminal)\n");
			ret = TANDEM_HSM_EPIN;
			goto out;
		}
		*pin_len = strlen(pin);
	}
out:
	if (buf != NULL) {
		tandem_wipe(buf, len);
		free(buf);
	}
	return ret;
}

static int cmd_install(int argc, char **argv)
{
	enum { O_MODULE = 256, O_TOKEN, O_SOPIN, O_PASSFILE, O_DRILL };
	static const struct option longopts[] = {
	    {"module", required_argument, NULL, O_MODULE},
	    {"token", required_argument, NULL, O_TOKEN},
	    {"so-pin-source", required_argument, NULL, O_SOPIN},
	    {"passphrase-file", required_argument, NULL, O_PASSFILE},
	    {"drill", no_argument, NULL, O_DRILL},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *module_opt = NULL, *token = NULL, *so_file = NULL, *passfile = NULL;
	bool drill = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_MODULE: module_opt = optarg; break;
		case O_TOKEN: token = optarg; break;
		case O_SOPIN: so_file = optarg; break;
		case O_PASSFILE: passfile = optarg; break;
		case O_DRILL: drill = true; break;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	size_t ncards = (size_t)(argc - optind);
	if (token == NULL || ncards == 0) {
		fprintf(stderr, "tandem-ceremony: smk-install needs --token URI and the cards\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	int code = EXIT_INPUT, ret = TANDEM_OK;
	tandem_diag_t *diag = NULL;
	hsm_uri_t *uri = NULL;
	hsm_module_t *module = NULL;
	secret_lines_t lines = {0};
	char *typed = NULL;
	char so_pin[PIN_MAX];
	size_t so_pin_len = 0;
	archive_keys_t keys;
	archive_card_info_t info;
	memset(&keys, 0, sizeof(keys));
	memset(so_pin, 0, sizeof(so_pin));
	uint8_t **cards = calloc(ncards, sizeof(*cards));
	size_t *lens = calloc(ncards, sizeof(*lens));
	char **pass = calloc(ncards, sizeof(*pass));
	if (cards == NULL || lens == NULL || pass == NULL || tandem_diag_new(&diag) != TANDEM_OK) {
		goto out;
	}
	ret = hsm_uri_parse(token, diag, &uri);
	if (ret != TANDEM_OK) {
		print_diag(diag);
		code = EXIT_USAGE;
		goto out;
	}
	for (size_t i = 0; i < ncards; i++) {
		const char *path = argv[optind + (int)i];
		char *buf = NULL;
		ret = tandem_file_read(path, ARCHIVE_CARD_FILE_MAX, &buf, &lens[i]);
		if (ret != TANDEM_OK) {
			fprintf(stderr, "tandem-ceremony: %s: %s\n", path, tandem_strerror(ret));
			goto out;
		}
		cards[i] = (uint8_t *)buf;
		archive_card_info_t ci;
		ret = archive_card_peek(cards[i], lens[i], diag, &ci);
		if (ret != TANDEM_OK) {
			print_diag(diag);
			fprintf(stderr, "tandem-ceremony: %s is refused\n", path);
			goto out;
		}
		if (ci.kdf_log2n < ARCHIVE_KDF_FLOOR && !drill) {
			fprintf(stderr,
				"tandem-ceremony: %s is a drill card (KDF cost 2^%u, below the "
				"floor 2^%d): add --drill to install it\n",
				path, ci.kdf_log2n, ARCHIVE_KDF_FLOOR);
			code = EXIT_REFUSED;
			goto out;
		}
	}
	if (passfile != NULL) {
		if (passfile_take(passfile, ncards, &lines, pass) != TANDEM_OK) {
			goto out;
		}
	} else {
		typed = calloc(ncards, PASS_MAX);
		if (typed == NULL) {
			goto out;
		}
		for (size_t i = 0; i < ncards; i++) {
			char prompt[4200];
			snprintf(prompt, sizeof(prompt),
				 "Passphrase for %s: ", argv[optind + (int)i]);
			if (tty_secret(prompt, typed + i * PASS_MAX, PASS_MAX) != TANDEM_OK) {
				fprintf(stderr,
					"tandem-ceremony: no terminal to ask passphrases on "
					"(use --passphrase-file)\n");
				goto out;
			}
			pass[i] = typed + i * PASS_MAX;
		}
	}
	/* The SO PIN and the module first, so the combined keys live only for the install. */
	ret = so_pin_get(so_file, hsm_uri_token(uri), so_pin, &so_pin_len);
	if (ret != TANDEM_OK) {
		code = EXIT_HSM;
		goto out;
	}
	ret = load_module(module_opt, uri, diag, &module);
	if (ret != TANDEM_OK) {
		code = EXIT_HSM;
		goto out;
	}
	ret = archive_ceremony_combine(ncards, (const uint8_t *const *)cards, lens,
				       (const char *const *)pass, diag, &keys, &info);
	if (ret != TANDEM_OK) {
		print_diag(diag);
		fprintf(stderr,
			"tandem-ceremony: the cards do not give the SMK; nothing installed\n");
		code = exit_for(ret);
		goto out;
	}
	ret = hsm_smk_install(module, uri, so_pin, so_pin_len, keys.smk, keys.mac, info.ceremony_id,
			      sizeof(info.ceremony_id), diag);
	/* The combined keys are in the HSM now, or refused: either way, gone from here. */
	archive_keys_wipe(&keys);
	tandem_wipe(so_pin, sizeof(so_pin));
	if (ret != TANDEM_OK) {
		print_diag(diag);
		fprintf(stderr, "tandem-ceremony: SMK not installed: %s\n", tandem_strerror(ret));
		code = exit_for(ret);
		goto out;
	}
	char id[2 * ARCHIVE_CEREMONY_ID_LEN + 1], check[2 * ARCHIVE_CHECK_LEN + 1];
	hex(info.ceremony_id, sizeof(info.ceremony_id), id);
	hex(info.check, sizeof(info.check), check);
	printf("SMK of ceremony %s installed on token %s\ncheck value: %s\n", id,
	       hsm_uri_token(uri) != NULL ? hsm_uri_token(uri) : "(URI)", check);
	code = EXIT_OK;
out:
	archive_keys_wipe(&keys);
	tandem_wipe(so_pin, sizeof(so_pin));
	lines_free(&lines);
	if (typed != NULL) {
		tandem_wipe(typed, ncards * PASS_MAX);
		free(typed);
	}
	for (size_t i = 0; cards != NULL && i < ncards; i++) {
		free(cards[i]);
	}
	free(cards);
	free(lens);
	free(pass);
	hsm_module_free(module);
	hsm_uri_free(uri);
	tandem_diag_free(diag);
	return code;
}

static int cmd_check(int argc, char **argv)
{
	enum { O_MODULE = 256, O_TOKEN };
	static const struct option longopts[] = {
	    {"module", required_argument, NULL, O_MODULE},
	    {"token", required_argument, NULL, O_TOKEN},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *module_opt = NULL, *token = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_MODULE: module_opt = optarg; break;
		case O_TOKEN: token = optarg; break;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (token == NULL || optind != argc) {
		fprintf(stderr, "tandem-ceremony: smk-check needs --token URI\n");
		return EXIT_USAGE;
	}
	int code = EXIT_HSM;
	tandem_diag_t *diag = NULL;
	hsm_uri_t *uri = NULL;
	hsm_module_t *module = NULL;
	hsm_token_t *tok = NULL;
	if (tandem_diag_new(&diag) != TANDEM_OK) {
		goto out;
	}
	int ret = hsm_uri_parse(token, diag, &uri);
	if (ret != TANDEM_OK) {
		print_diag(diag);
		code = EXIT_USAGE;
		goto out;
	}
	ret = load_module(module_opt, uri, diag, &module);
	if (ret == TANDEM_OK) {
		ret = hsm_token_open(module, uri, NULL, 1, diag, &tok);
	}
	uint8_t check[HSM_SMK_CHECK_LEN];
	if (ret == TANDEM_OK) {
		ret = hsm_smk_check(tok, diag, check);
	}
	if (ret != TANDEM_OK) {
		print_diag(diag);
		fprintf(stderr, "tandem-ceremony: no check value: %s\n", tandem_strerror(ret));
		code = exit_for(ret);
		goto out;
	}
	char text[2 * HSM_SMK_CHECK_LEN + 1];
	hex(check, sizeof(check), text);
	printf("token %s SMK check value: %s\n", hsm_token_label(tok), text);
	code = EXIT_OK;
out:
	hsm_token_close(tok);
	hsm_module_free(module);
	hsm_uri_free(uri);
	tandem_diag_free(diag);
	return code;
}

/* ---- skr-sign: the offline KSK signs a key signing request ---- */

#define SKR_KSK_MAX   8
#define SKR_VALID_MAX (60u * 86400) /* longest RRSIG window the ceremony signs */

/* The KSKs named on the command line, found on the offline token. */
typedef struct ksk_set {
	const hsm_key_t *key[SKR_KSK_MAX];
	kasp_skr_rdata_t dnskey[SKR_KSK_MAX];
	size_t n;
} ksk_set_t;

static int ksk_find(const ksk_set_t *ks, const kasp_skr_rdata_t *dnskey)
{
	for (size_t i = 0; i < ks->n; i++) {
		if (ks->dnskey[i].len == dnskey->len &&
		    memcmp(ks->dnskey[i].data, dnskey->data, dnskey->len) == 0) {
			return (int)i;
		}
	}
	return -1;
}

static const char *utc(uint64_t t, char buf[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		snprintf(buf, 32, "%llu", (unsigned long long)t);
	}
	return buf;
}

/* Writes the KSKs' DNSKEY records (for tandemctl keys ksk-import). */
static int write_dnskeys(const char *path, const char *zone, const ksk_set_t *ks)
{
	tandem_afile_t *f = NULL;
	int ret = tandem_afile_open(path, 0644, &f);
	if (ret != TANDEM_OK) {
		return ret;
	}
	FILE *fp = tandem_afile_stream(f);
	for (size_t i = 0; i < ks->n; i++) {
		const kasp_skr_rdata_t *d = &ks->dnskey[i];
		unsigned char b64[2 * KASP_SKR_RDATA_MAX];
		EVP_EncodeBlock(b64, d->data + 4, (int)d->len - 4);
		fprintf(fp, "; %s, key tag %u\n%s 3600 IN DNSKEY %u %u %u %s\n",
			hsm_key_label(ks->key[i]), crypto_key_tag(d->data, d->len), zone,
			(d->data[0] << 8) | d->data[1], d->data[2], d->data[3], b64);
	}
	if (ferror(fp)) {
		tandem_afile_abort(f);
		return TANDEM_EIO;
	}
	return tandem_afile_commit(f);
}

/* The ceremony's own checks of a request before the KSK signs anything. */
static int skr_vet(const kasp_skr_t *req, const ksk_set_t *ks, uint64_t now)
{
	char t1[32];
	if (req->slots[req->nslots - 1].end <= now) {
		fprintf(stderr, "tandem-ceremony: the request's period ended %s: nothing to sign\n",
			utc(req->slots[req->nslots - 1].end, t1));
		return EXIT_REFUSED;
	}
	for (size_t i = 0; i < req->nslots; i++) {
		const kasp_skr_slot_t *sl = &req->slots[i];
		if (sl->expiration - sl->inception > SKR_VALID_MAX) {
			fprintf(stderr,
				"tandem-ceremony: slot %zu asks for RRSIGs valid %u days (at most "
				"%u): refused\n",
				i + 1, (sl->expiration - sl->inception) / 86400,
				SKR_VALID_MAX / 86400);
			return EXIT_REFUSED;
		}
		/* a SEP key this ceremony does not hold must not slip into a signed RRset */
		for (size_t k = 0; k < sl->nkeys; k++) {
			if ((sl->keys[k].data[1] & 1) != 0 && ksk_find(ks, &sl->keys[k]) < 0) {
				fprintf(
				    stderr,
				    "tandem-ceremony: slot %zu holds KSK %u, which is not one of "
				    "the --ksk keys: refused\n",
				    i + 1, crypto_key_tag(sl->keys[k].data, sl->keys[k].len));
				return EXIT_REFUSED;
			}
		}
	}
	return EXIT_OK;
}

static int cmd_skr_sign(int argc, char **argv)
{
	enum { O_MODULE = 256, O_KSK, O_OUT, O_NOW, O_DNSKEY_OUT, O_ZONE };
	static const struct option longopts[] = {
	    {"module", required_argument, NULL, O_MODULE},
	    {"ksk", required_argument, NULL, O_KSK},
	    {"out", required_argument, NULL, O_OUT},
	    {"now", required_argument, NULL, O_NOW},
	    {"dnskey-out", required_argument, NULL, O_DNSKEY_OUT},
	    {"zone", required_argument, NULL, O_ZONE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *module_opt = NULL, *out = NULL, *dnskey_out = NULL, *zone = NULL;
	const char *ksk_uri[SKR_KSK_MAX];
	size_t nksk = 0;
	uint64_t now = (uint64_t)time(NULL);
	unsigned long long v = 0;
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_MODULE: module_opt = optarg; break;
		case O_KSK:
			if (nksk == SKR_KSK_MAX) {
				fprintf(stderr, "tandem-ceremony: at most %d --ksk\n", SKR_KSK_MAX);
				return EXIT_USAGE;
			}
			ksk_uri[nksk++] = optarg;
			break;
		case O_OUT: out = optarg; break;
		case O_DNSKEY_OUT: dnskey_out = optarg; break;
		case O_ZONE: zone = optarg; break;
		case O_NOW:
			if (!parse_uint(optarg, UINT32_MAX, &v)) {
				fprintf(stderr, "tandem-ceremony: --now takes a UNIX time\n");
				return EXIT_USAGE;
			}
			now = v;
			break;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	bool sign = dnskey_out == NULL;
	if (nksk == 0 || (sign && (out == NULL || optind + 1 != argc)) ||
	    (!sign && (zone == NULL || optind != argc))) {
		fprintf(stderr, "tandem-ceremony: skr-sign needs --ksk URI and either --out SKR "
				"KSR, or --zone Z --dnskey-out FILE\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	int code = EXIT_INPUT, ret;
	tandem_diag_t *diag = NULL;
	tandem_arena_t *arena = NULL;
	hsm_uri_t *uri = NULL;
	hsm_module_t *module = NULL;
	hsm_token_t *tok = NULL;
	char *kbuf = NULL;
	size_t klen = 0;
	uint8_t *rbuf = NULL;
	size_t rlen = 0;
	kasp_skr_t *req = NULL;
	ksk_set_t ks;
	memset(&ks, 0, sizeof(ks));
	if (tandem_diag_new(&diag) != TANDEM_OK || tandem_arena_new(0, &arena) != TANDEM_OK) {
		goto out;
	}
	uint8_t hash[32];
	if (sign) {
		const char *ksr = argv[optind];
		ret = tandem_file_read(ksr, KASP_SKR_FILE_MAX, &kbuf, &klen);
		if (ret != TANDEM_OK) {
			fprintf(stderr, "tandem-ceremony: %s: %s\n", ksr, tandem_strerror(ret));
			goto out;
		}
		ret = kasp_skr_decode((const uint8_t *)kbuf, klen, false, diag, &req);
		if (ret != TANDEM_OK ||
		    kasp_skr_sha256((const uint8_t *)kbuf, klen, hash) != TANDEM_OK) {
			print_diag(diag);
			fprintf(stderr, "tandem-ceremony: %s is refused\n", ksr);
			goto out;
		}
	}
	/* every KSK on one offline token: the first URI names it */
	code = EXIT_HSM;
	ret = hsm_uri_parse(ksk_uri[0], diag, &uri);
	if (ret != TANDEM_OK) {
		print_diag(diag);
		code = EXIT_USAGE;
		goto out;
	}
	ret = load_module(module_opt, uri, diag, &module);
	if (ret == TANDEM_OK) {
		ret = hsm_token_open(module, uri, NULL, 1, diag, &tok);
	}
	for (size_t i = 0; ret == TANDEM_OK && i < nksk; i++) {
		hsm_uri_t *ku = NULL;
		ret = hsm_uri_parse(ksk_uri[i], diag, &ku);
		if (ret == TANDEM_OK) {
			ret = hsm_token_find_key(tok, ku, diag, &ks.key[i]);
		}
		hsm_uri_free(ku);
		size_t len = HSM_DNSKEY_MAX;
		uint8_t d[HSM_DNSKEY_MAX];
		if (ret == TANDEM_OK) {
			ret = hsm_key_dnskey_rdata(ks.key[i], 257, d, &len);
		}
		if (ret == TANDEM_OK && len > KASP_SKR_RDATA_MAX) {
			ret = TANDEM_EINVAL;
		}
		if (ret == TANDEM_OK) {
			ks.dnskey[i].len = (uint16_t)len;
			memcpy(ks.dnskey[i].data, d, len);
			ks.n++;
		}
	}
	if (ret != TANDEM_OK) {
		print_diag(diag);
		fprintf(stderr, "tandem-ceremony: the KSKs are not usable: %s\n",
			tandem_strerror(ret));
		code = exit_for(ret);
		goto out;
	}
	if (!sign) {
		ret = write_dnskeys(dnskey_out, zone, &ks);
		if (ret != TANDEM_OK) {
			fprintf(stderr, "tandem-ceremony: cannot write %s\n", dnskey_out);
			code = EXIT_IO;
			goto out;
		}
		printf("%zu KSK DNSKEY record(s) of %s written to %s\n", ks.n, zone, dnskey_out);
		code = EXIT_OK;
		goto out;
	}
	code = skr_vet(req, &ks, now);
	if (code != EXIT_OK) {
		goto out;
	}
	uint8_t apex[DNS_NAME_MAXLEN];
	size_t alen = 0;
	code = EXIT_INPUT;
	if (dns_name_from_str(req->zone, NULL, apex, &alen) != TANDEM_OK) {
		goto out;
	}
	char t1[32], t2[32], hexid[2 * KASP_SKR_ID_LEN + 1];
	hex(req->request_id, KASP_SKR_ID_LEN, hexid);
	printf("zone %s, request %s, %zu slots %s .. %s\n", req->zone, hexid, req->nslots,
	       utc(req->slots[0].start, t1), utc(req->slots[req->nslots - 1].end, t2));
	size_t nsig = 0;
	for (size_t i = 0; i < req->nslots; i++) {
		kasp_skr_slot_t *sl = &req->slots[i];
		const uint8_t *rd[KASP_SKR_KEYS_MAX];
		for (size_t k = 0; k < sl->nkeys; k++) {
			uint8_t *p = tandem_arena_alloc(arena, (size_t)sl->keys[k].len + 2);
			if (p == NULL) {
				goto out;
			}
			p[0] = (uint8_t)(sl->keys[k].len >> 8);
			p[1] = (uint8_t)sl->keys[k].len;
			memcpy(p + 2, sl->keys[k].data, sl->keys[k].len);
			rd[k] = p;
		}
		char t3[32], t4[32];
		printf("slot %2zu  %s .. %s  RRSIG %s .. %s  keys", i + 1, utc(sl->start, t1),
		       utc(sl->end, t2), utc(sl->inception, t3), utc(sl->expiration, t4));
		for (size_t k = 0; k < sl->nkeys; k++) {
			printf(" %u", crypto_key_tag(sl->keys[k].data, sl->keys[k].len));
		}
		printf("\n");
		sl->nsigs = 0;
		for (size_t j = 0; j < sl->nsigners; j++) {
			const kasp_skr_rdata_t *kd = &sl->keys[sl->signers[j]];
			int at = ksk_find(&ks, kd);
			const uint8_t *sig = NULL;
			if (at < 0 || sl->nsigs == KASP_SKR_SIGS_MAX) {
				fprintf(stderr,
					"tandem-ceremony: slot %zu: signer KSK %u is not held "
					"here\n",
					i + 1, crypto_key_tag(kd->data, kd->len));
				code = EXIT_REFUSED;
				goto out;
			}
			ret = signer_rrsig_make(
			    tok, 0, ks.key[at], (uint16_t)((kd->data[0] << 8) | kd->data[1]), apex,
			    apex, DNS_TYPE_DNSKEY, sl->ttl, rd, (uint16_t)sl->nkeys, sl->inception,
			    sl->expiration, arena, &sig);
			if (ret != TANDEM_OK || dns_rdata_len(sig) > KASP_SKR_RDATA_MAX) {
				fprintf(stderr, "tandem-ceremony: slot %zu: signing failed: %s\n",
					i + 1, tandem_strerror(ret));
				code = EXIT_HSM;
				goto out;
			}
			kasp_skr_rdata_t *out_sig = &sl->sigs[sl->nsigs];
			out_sig->len = dns_rdata_len(sig);
			memcpy(out_sig->data, dns_rdata_data(sig), out_sig->len);
			/* checked in software before it leaves the ceremony */
			if (kasp_skr_rrsig_verify(apex, sl, out_sig, kd) != TANDEM_OK) {
				fprintf(
				    stderr,
				    "tandem-ceremony: slot %zu: the HSM's RRSIG does not verify\n",
				    i + 1);
				code = EXIT_HSM;
				goto out;
			}
			sl->nsigs++;
			nsig++;
		}
	}
	req->response = true;
	memcpy(req->request_sha256, hash, sizeof(hash));
	req->created = now;
	code = EXIT_IO;
	if (kasp_skr_encode(req, &rbuf, &rlen) != TANDEM_OK) {
		goto out;
	}
	tandem_afile_t *f = NULL;
	ret = tandem_afile_open(out, 0644, &f);
	if (ret == TANDEM_OK) {
		if (fwrite(rbuf, 1, rlen, tandem_afile_stream(f)) != rlen) {
			tandem_afile_abort(f);
			ret = TANDEM_EIO;
		} else {
			ret = tandem_afile_commit(f);
		}
	}
	if (ret != TANDEM_OK) {
		fprintf(stderr, "tandem-ceremony: cannot write %s: %s\n", out,
			tandem_strerror(ret));
		goto out;
	}
	char hh[65];
	hex(hash, sizeof(hash), hh);
	printf("signed %zu RRSIG(s); response for request SHA-256 %s written to %s\n", nsig, hh,
	       out);
	code = EXIT_OK;
out:
	kasp_skr_free(req);
	free(rbuf);
	free(kbuf);
	hsm_token_close(tok);
	hsm_module_free(module);
	hsm_uri_free(uri);
	tandem_arena_free(arena);
	tandem_diag_free(diag);
	return code;
}

int main(int argc, char **argv)
{
	if (tandem_proc_harden() != TANDEM_OK) {
		fprintf(stderr, "tandem-ceremony: cannot disable core dumps\n");
		return EXIT_USAGE;
	}
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return EXIT_OK;
	}
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	char name[64];
	snprintf(name, sizeof(name), "tandem-ceremony %s", cmd);
	argv[1] = name;
	if (strcmp(cmd, "smk-new") == 0) {
		return cmd_new(argc - 1, argv + 1);
	}
	if (strcmp(cmd, "smk-install") == 0) {
		return cmd_install(argc - 1, argv + 1);
	}
	if (strcmp(cmd, "smk-check") == 0) {
		return cmd_check(argc - 1, argv + 1);
	}
	if (strcmp(cmd, "skr-sign") == 0) {
		return cmd_skr_sign(argc - 1, argv + 1);
	}
	if (strcmp(cmd, "record") == 0) {
		return ceremony_record(argc - 1, argv + 1);
	}
	if (strcmp(cmd, "record-sign") == 0) {
		return ceremony_record_sign(argc - 1, argv + 1);
	}
	fprintf(stderr, "tandem-ceremony: unknown command '%s'\n", cmd);
	usage(stderr);
	return EXIT_USAGE;
}
