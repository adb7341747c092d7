/* tandemctl keys archive-export / archive-import: the SMK-wrapped key archive between sites
 * (docs/ceremony.md). */
#include "archive.h"
#include "hsm.h"
#include "tandem_error.h"
#include "tandem_file.h"
#include "tandemctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Exit codes (tandemctl.h). */
enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_INPUT = 2, EXIT_HSM = 3, EXIT_REFUSED = 4, EXIT_IO = 5 };

int tandemctl_keys_archive_has(const char *cmd)
{
	return cmd != NULL &&
	       (strcmp(cmd, "archive-export") == 0 || strcmp(cmd, "archive-import") == 0);
}

static void usage(FILE *fp)
{
	fprintf(
	    fp,
	    "usage: tandemctl keys archive-export [--module PATH|P11KIT-NAME] --token URI\n"
	    "                                     --out FILE [--now UNIXTIME]\n"
	    "       tandemctl keys archive-import [--module PATH|P11KIT-NAME] --token URI FILE\n"
	    "The token URI names the token and the user PIN's pin-source "
	    "(pkcs11:token=T;pin-source=FILE).\n");
}

static void print_diag(const char *who, const tandem_diag_t *diag)
{
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		fprintf(stderr, "%s: %s\n", who, tandem_diag_msg(diag, i));
	}
}

static int exit_for(int ret)
{
	switch (ret) {
	case TANDEM_OK: return EXIT_OK;
	case TANDEM_EPERM:
	case TANDEM_EEXIST: return EXIT_REFUSED;
	case TANDEM_EIO: return EXIT_IO;
	case TANDEM_ESYNTAX:
	case TANDEM_ERANGE:
	case TANDEM_EINVAL:
	case TANDEM_ENOENT: return EXIT_INPUT;
	default: return EXIT_HSM;
	}
}

/* Opens the token the URI names with one session, logged in as user. */
static int token_open(const char *who, const char *module_opt, const char *token_uri,
		      tandem_diag_t *diag, hsm_module_t **module, hsm_token_t **token)
{
	hsm_uri_t *uri = NULL;
	int ret = hsm_uri_parse(token_uri, diag, &uri);
	if (ret == TANDEM_OK) {
		ret = hsm_module_load(module_opt != NULL ? module_opt : hsm_uri_module(uri), diag,
				      module);
	}
	if (ret == TANDEM_OK) {
		ret = hsm_token_open(*module, uri, NULL, 1, diag, token);
	}
	hsm_uri_free(uri);
	if (ret != TANDEM_OK) {
		print_diag(who, diag);
		fprintf(stderr, "%s: cannot open the token: %s\n", who, tandem_strerror(ret));
	}
	return ret;
}

static int cmd_export(const char *who, int argc, char **argv)
{
	enum { O_MODULE = 256, O_TOKEN, O_OUT, O_NOW, O_STATE };
	static const struct option longopts[] = {
	    {"module", required_argument, NULL, O_MODULE},
	    {"token", required_argument, NULL, O_TOKEN},
	    {"out", required_argument, NULL, O_OUT},
	    {"now", required_argument, NULL, O_NOW},
	    {"state", required_argument, NULL, O_STATE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *module_opt = NULL, *token_uri = NULL, *out = NULL;
	uint64_t now = (uint64_t)time(NULL);
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_MODULE: module_opt = optarg; break;
		case O_TOKEN: token_uri = optarg; break;
		case O_OUT: out = optarg; break;
		case O_NOW: {
			char *end = NULL;
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (optarg[0] == '-' || *end != '\0' || errno != 0 || v > UINT32_MAX) {
				fprintf(stderr, "%s: --now takes a UNIX time\n", who);
				return EXIT_USAGE;
			}
			now = v;
			break;
		}
		case O_STATE:
			fprintf(stderr,
				"%s: --state is not supported yet (the key-state file is being "
				"written); without it every tandem key is exported with what the "
				"token knows\n",
				who);
			return EXIT_USAGE;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (token_uri == NULL || out == NULL || optind != argc) {
		fprintf(stderr, "%s: needs --token URI and --out FILE\n", who);
		usage(stderr);
		return EXIT_USAGE;
	}
	int code = EXIT_HSM;
	tandem_diag_t *diag = NULL;
	hsm_module_t *module = NULL;
	hsm_token_t *token = NULL;
	tandem_afile_t *f = NULL;
	uint8_t *buf = NULL;
	size_t len = 0, count = 0;
	if (tandem_diag_new(&diag) != TANDEM_OK) {
		goto out;
	}
	int ret = token_open(who, module_opt, token_uri, diag, &module, &token);
	if (ret != TANDEM_OK) {
		code = exit_for(ret);
		goto out;
	}
	ret = archive_export(token, now, diag, &buf, &len, &count);
	if (ret != TANDEM_OK) {
		print_diag(who, diag);
		fprintf(stderr, "%s: export failed: %s; nothing written\n", who,
			tandem_strerror(ret));
		code = exit_for(ret);
		goto out;
	}
	ret = tandem_afile_open(out, 0600, &f);
	if (ret == TANDEM_OK) {
		if (fwrite(buf, 1, len, tandem_afile_stream(f)) != len) {
			ret = TANDEM_EIO;
		} else {
			ret = tandem_afile_commit(f);
			f = NULL;
		}
	}
	if (ret != TANDEM_OK) {
		fprintf(stderr, "%s: cannot write %s: %s\n", who, out, tandem_strerror(ret));
		code = EXIT_IO;
		goto out;
	}
	printf("exported %zu key(s) from token %s to %s\n", count, hsm_token_label(token), out);
	code = EXIT_OK;
out:
	tandem_afile_abort(f);
	free(buf);
	hsm_token_close(token);
	hsm_module_free(module);
	tandem_diag_free(diag);
	return code;
}

static int cmd_import(const char *who, int argc, char **argv)
{
	enum { O_MODULE = 256, O_TOKEN };
	static const struct option longopts[] = {
	    {"module", required_argument, NULL, O_MODULE},
	    {"token", required_argument, NULL, O_TOKEN},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *module_opt = NULL, *token_uri = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_MODULE: module_opt = optarg; break;
		case O_TOKEN: token_uri = optarg; break;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (token_uri == NULL || optind + 1 != argc) {
		fprintf(stderr, "%s: needs --token URI and one archive FILE\n", who);
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *path = argv[optind];
	int code = EXIT_INPUT;
	tandem_diag_t *diag = NULL;
	hsm_module_t *module = NULL;
	hsm_token_t *token = NULL;
	char *buf = NULL;
	size_t len = 0;
	if (tandem_diag_new(&diag) != TANDEM_OK) {
		goto out;
	}
	int ret = tandem_file_read(path, ARCHIVE_ARCHIVE_FILE_MAX, &buf, &len);
	if (ret != TANDEM_OK) {
		fprintf(stderr, "%s: %s: %s\n", who, path, tandem_strerror(ret));
		code = ret == TANDEM_EIO ? EXIT_IO : EXIT_INPUT;
		goto out;
	}
	ret = token_open(who, module_opt, token_uri, diag, &module, &token);
	if (ret != TANDEM_OK) {
		code = exit_for(ret);
		goto out;
	}
	archive_import_stats_t st;
	ret = archive_import(token, (const uint8_t *)buf, len, diag, &st);
	if (ret != TANDEM_OK) {
		print_diag(who, diag);
		fprintf(stderr, "%s: %s refused: %s; nothing imported\n", who, path,
			tandem_strerror(ret));
		code = exit_for(ret);
		goto out;
	}
	printf("imported %zu key(s) into token %s, %zu already present\n", st.imported,
	       hsm_token_label(token), st.skipped);
	code = EXIT_OK;
out:
	free(buf);
	hsm_token_close(token);
	hsm_module_free(module);
	tandem_diag_free(diag);
	return code;
}

int tandemctl_keys_archive(const char *cmd, int argc, char **argv)
{
	const char *who = argc > 0 ? argv[0] : "tandemctl";
	if (strcmp(cmd, "archive-export") == 0) {
		return cmd_export(who, argc, argv);
	}
	if (strcmp(cmd, "archive-import") == 0) {
		return cmd_import(who, argc, argv);
	}
	return EXIT_USAGE;
}
