/*
 * The key path's cost per key on a token that already holds many objects: what a node pays for
 * each zone key it makes (generate, wrap and MAC it for the archive) and for each one it
 * imports (verify, unwrap, prove, copy to the token), measured with tandem's own hsm and
 * archive code on two tokens of one SoftHSM store that share an SMK.
 *
 * hsm_keypath --module PATH --token A --token2 B --pin-file F --so-pin-file F
 *             [--fill N] [--keys K] [--alg 13|8]
 *
 * Both tokens are first filled with N token data objects (as many objects as N/2 zones' key
 * pairs would make: SoftHSM's file store pays per object on every search, whatever the
 * class), then K keys are made on A, exported and imported into B, one at a time. Prints,
 * per step, the median and the mean in milliseconds.
 */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "archive.h"
#include "hsm.h"
#include "hsm_internal.h"
#include "hsm_smk.h"
#include "tandem_error.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what, tandem_diag_t *diag, int ret)
{
	fprintf(stderr, "hsm_keypath: %s: %s (%s)\n", what, tandem_strerror(ret),
		diag != NULL && tandem_diag_msg(diag, 0) != NULL ? tandem_diag_msg(diag, 0) : "");
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *step, double *v, size_t n)
{
	double sum = 0;
	for (size_t i = 0; i < n; i++) {
		sum += v[i];
	}
	qsort(v, n, sizeof(*v), cmp_double);
	printf("%-10s median %8.2f ms  mean %8.2f ms  (n=%zu)\n", step, v[n / 2], sum / (double)n,
	       n);
}

static char *read_line(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[256];
	if (f == NULL || fgets(buf, sizeof(buf), f) == NULL) {
		fprintf(stderr, "hsm_keypath: cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

static hsm_uri_t *uri_for(const char *token, const char *pin_file, const char *object)
{
	char text[1024];
	snprintf(text, sizeof(text), "pkcs11:token=%s;pin-source=%s%s%s", token, pin_file,
		 object != NULL ? ";object=" : "", object != NULL ? object : "");
	hsm_uri_t *u = NULL;
	if (hsm_uri_parse(text, NULL, &u) != TANDEM_OK) {
		die("uri", NULL, TANDEM_EINVAL);
	}
	return u;
}

static void fill(hsm_token_t *t, size_t n)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE;
	for (size_t i = 0; i < n; i++) {
		char label[64];
		snprintf(label, sizeof(label), "fill-%zu", i);
		CK_ATTRIBUTE a[] = {{CKA_CLASS, &cls, sizeof(cls)},
				    {CKA_TOKEN, &yes, sizeof(yes)},
				    {CKA_PRIVATE, &yes, sizeof(yes)},
				    {CKA_LABEL, label, strlen(label)},
				    {CKA_VALUE, label, strlen(label)}};
		CK_OBJECT_HANDLE h;
		if (t->fl->C_CreateObject(t->admin, a, 5, &h) != CKR_OK) {
			die("C_CreateObject", NULL, TANDEM_HSM_EP11);
		}
	}
}

int main(int argc, char **argv)
{
	const char *module = NULL, *tok_a = NULL, *tok_b = NULL, *pin_file = NULL, *so_file = NULL;
	size_t nfill = 1000, nkeys = 20;
	int alg = HSM_ALG_ECDSAP256SHA256;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--module") == 0) {
			module = argv[i + 1];
		} else if (strcmp(argv[i], "--token") == 0) {
			tok_a = argv[i + 1];
		} else if (strcmp(argv[i], "--token2") == 0) {
			tok_b = argv[i + 1];
		} else if (strcmp(argv[i], "--pin-file") == 0) {
			pin_file = argv[i + 1];
		} else if (strcmp(argv[i], "--so-pin-file") == 0) {
			so_file = argv[i + 1];
		} else if (strcmp(argv[i], "--fill") == 0) {
			nfill = strtoul(argv[i + 1], NULL, 10);
		} else if (strcmp(argv[i], "--keys") == 0) {
			nkeys = strtoul(argv[i + 1], NULL, 10);
		} else if (strcmp(argv[i], "--alg") == 0) {
			alg = atoi(argv[i + 1]);
		}
	}
	if (module == NULL || tok_a == NULL || tok_b == NULL || pin_file == NULL ||
	    so_file == NULL || nkeys == 0) {
		fprintf(stderr,
			"usage: hsm_keypath --module PATH --token A --token2 B --pin-file F "
			"--so-pin-file F [--fill N] [--keys K] [--alg 13|8]\n");
		return 2;
	}
	tandem_diag_t *diag = NULL;
	hsm_module_t *mod = NULL;
	int ret = tandem_diag_new(&diag);
	if (ret == TANDEM_OK) {
		ret = hsm_module_load(module, diag, &mod);
	}
	if (ret != TANDEM_OK) {
		die("module", diag, ret);
	}
	uint8_t smk[HSM_SMK_KEY_LEN], mac[HSM_SMK_KEY_LEN];
	RAND_bytes(smk, sizeof(smk));
	RAND_bytes(mac, sizeof(mac));
	char *so_pin = read_line(so_file);
	const char *toks[2] = {tok_a, tok_b};
	hsm_token_t *t[2] = {NULL, NULL};
	for (int i = 0; i < 2; i++) {
		hsm_uri_t *u = uri_for(toks[i], pin_file, NULL);
		ret = hsm_smk_install(mod, u, so_pin, strlen(so_pin), smk, mac, NULL, 0, diag);
		if (ret != TANDEM_OK) {
			die("smk-install", diag, ret);
		}
		ret = hsm_token_open(mod, u, NULL, 1, diag, &t[i]);
		if (ret != TANDEM_OK) {
			die("open", diag, ret);
		}
		hsm_uri_free(u);
		double t0 = now_ms();
		fill(t[i], nfill);
		printf("fill %s: %zu objects in %.0f ms\n", toks[i], nfill, now_ms() - t0);
	}
	memset(so_pin, 0, strlen(so_pin));
	memset(smk, 0, sizeof(smk));
	memset(mac, 0, sizeof(mac));
	double *gen = calloc(nkeys, sizeof(double)), *exp = calloc(nkeys, sizeof(double));
	double *imp = calloc(nkeys, sizeof(double)), *wrap = calloc(nkeys, sizeof(double));
	double *chk = calloc(nkeys, sizeof(double));
	for (size_t i = 0; i < nkeys; i++) {
		char label[64];
		snprintf(label, sizeof(label), "tandem-bench%zu.example-%zu", i, i);
		hsm_uri_t *u = uri_for(tok_a, pin_file, label);
		hsm_keyspec_t spec = {.algorithm = (uint8_t)alg, .bits = 2048};
		const hsm_key_t *k = NULL;
		double t0 = now_ms();
		ret = hsm_token_generate_key(t[0], u, &spec, diag, &k);
		double t1 = now_ms();
		hsm_uri_free(u);
		if (ret != TANDEM_OK) {
			die("generate", diag, ret);
		}
		uint8_t cv[HSM_SMK_CHECK_LEN];
		ret = hsm_smk_check(t[0], diag, cv);
		double t2 = now_ms();
		uint8_t *w = NULL;
		size_t wlen = 0;
		if (ret == TANDEM_OK) {
			ret = hsm_smk_wrap(t[0], k, diag, &w, &wlen);
		}
		double t3 = now_ms();
		free(w);
		archive_key_meta_t meta = {.label = label,
					   .role = ARCHIVE_ROLE_ZSK,
					   .state = "active",
					   .created = 1,
					   .published = 1,
					   .active = 1};
		uint8_t *ar = NULL;
		size_t alen = 0;
		if (ret == TANDEM_OK) {
			ret = archive_export_keys(t[0], &meta, 1, 1, diag, &ar, &alen);
		}
		double t4 = now_ms();
		if (ret != TANDEM_OK) {
			die("export", diag, ret);
		}
		archive_import_stats_t st;
		memset(&st, 0, sizeof(st));
		ret = archive_import(t[1], ar, alen, diag, &st);
		double t5 = now_ms();
		if (ret != TANDEM_OK || st.imported != 1) {
			die("import", diag, ret != TANDEM_OK ? ret : TANDEM_EINTERNAL);
		}
		archive_import_stats_deinit(&st);
		free(ar);
		gen[i] = t1 - t0;
		chk[i] = t2 - t1;
		wrap[i] = t3 - t2;
		exp[i] = t4 - t3;
		imp[i] = t5 - t4;
	}
	printf("objects per token: %zu filled + 2 secret keys + the keys made\n", nfill);
	report("generate", gen, nkeys);
	report("smk-check", chk, nkeys);
	report("wrap", wrap, nkeys);
	report("export", exp, nkeys);
	report("import", imp, nkeys);
	hsm_token_close(t[0]);
	hsm_token_close(t[1]);
	hsm_module_free(mod);
	tandem_diag_free(diag);
	free(gen);
	free(exp);
	free(imp);
	free(wrap);
	free(chk);
	return 0;
}
