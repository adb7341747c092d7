/*
 * The raw HSM bound: C_SignInit + C_Sign straight on the PKCS#11 module, one
 * session per thread, with none of tandem's code in the way. tandem's signing
 * throughput is judged against this number.
 *
 * hsm_rawbound --module PATH --token LABEL --key LABEL --pin-file F
 *              --threads N --count M [--mech rsa|ecdsa]
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

struct bench {
	CK_FUNCTION_LIST *fl;
	CK_MECHANISM_TYPE mech;
	CK_OBJECT_HANDLE key;
	CK_BYTE input[51];
	CK_ULONG input_len;
	pthread_barrier_t start;
};

struct worker {
	struct bench *b;
	CK_SESSION_HANDLE session;
	unsigned long count;
	CK_RV failed; /* first error, CKR_OK if none */
};

static void usage(void)
{
	fprintf(stderr, "usage: hsm_rawbound --module PATH --token LABEL --key LABEL "
			"--pin-file F --threads N --count M [--mech rsa|ecdsa]\n");
	exit(2);
}

static CK_RV sign_once(const struct bench *b, CK_SESSION_HANDLE s)
{
	CK_MECHANISM mech = {b->mech, NULL, 0};
	CK_BYTE sig[1024];
	CK_ULONG sig_len = sizeof(sig);
	CK_RV rv = b->fl->C_SignInit(s, &mech, b->key);
	if (rv == CKR_OK) {
		rv = b->fl->C_Sign(s, (CK_BYTE *)b->input, b->input_len, sig, &sig_len);
	}
	return rv;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	pthread_barrier_wait(&w->b->start);
	for (unsigned long i = 0; i < w->count; i++) {
		CK_RV rv = sign_once(w->b, w->session);
		if (rv != CKR_OK) {
			w->failed = rv;
			break;
		}
	}
	return NULL;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int read_pin(const char *path, char *pin, size_t size)
{
	FILE *fp = fopen(path, "r");
	if (fp == NULL || fgets(pin, (int)size, fp) == NULL) {
		if (fp != NULL) {
			fclose(fp);
		}
		return -1;
	}
	fclose(fp);
	pin[strcspn(pin, "\r\n")] = '\0';
	return 0;
}

int main(int argc, char **argv)
{
	const char *module = NULL, *token = NULL, *key_label = NULL, *pin_file = NULL;
	const char *mech_name = "rsa";
	unsigned long threads = 1, count = 0;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc) {
			usage();
		}
		const char *opt = argv[i], *val = argv[++i];
		if (strcmp(opt, "--module") == 0) {
			module = val;
		} else if (strcmp(opt, "--token") == 0) {
			token = val;
		} else if (strcmp(opt, "--key") == 0) {
			key_label = val;
		} else if (strcmp(opt, "--pin-file") == 0) {
			pin_file = val;
		} else if (strcmp(opt, "--threads") == 0) {
			threads = strtoul(val, NULL, 10);
		} else if (strcmp(opt, "--count") == 0) {
			count = strtoul(val, NULL, 10);
		} else if (strcmp(opt, "--mech") == 0) {
			mech_name = val;
		} else {
			usage();
		}
	}
	if (module == NULL || token == NULL || key_label == NULL || pin_file == NULL ||
	    threads == 0 || threads > 256 || count == 0) {
		usage();
	}

	struct bench b = {0};
	if (strcmp(mech_name, "rsa") == 0) {
		/* A SHA-256 DigestInfo: the 19-byte DER prefix and a 32-byte digest. */
		static const CK_BYTE prefix[19] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
						   0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
						   0x01, 0x05, 0x00, 0x04, 0x20};
		b.mech = CKM_RSA_PKCS;
		memcpy(b.input, prefix, sizeof(prefix));
		b.input_len = 51;
	} else if (strcmp(mech_name, "ecdsa") == 0) {
		b.mech = CKM_ECDSA;
		b.input_len = 32;
	} else {
		usage();
	}
	for (CK_ULONG i = b.input_len - 32; i < b.input_len; i++) {
		b.input[i] = (CK_BYTE)(i * 37 + 11);
	}

	void *lib = dlopen(module, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		fprintf(stderr, "hsm_rawbound: dlopen %s: %s\n", module, dlerror());
		return 1;
	}
	CK_C_GetFunctionList get_list = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
	CK_C_INITIALIZE_ARGS init = {.flags = CKF_OS_LOCKING_OK};
	if (get_list == NULL || get_list(&b.fl) != CKR_OK || b.fl->C_Initialize(&init) != CKR_OK) {
		fprintf(stderr, "hsm_rawbound: cannot initialise %s\n", module);
		return 1;
	}

	CK_SLOT_ID slots[64], slot = 0;
	CK_ULONG nslots = 64;
	int found = 0;
	if (b.fl->C_GetSlotList(CK_TRUE, slots, &nslots) != CKR_OK) {
		nslots = 0;
	}
	for (CK_ULONG i = 0; i < nslots && !found; i++) {
		CK_TOKEN_INFO info;
		char label[33];
		if (b.fl->C_GetTokenInfo(slots[i], &info) != CKR_OK) {
			continue;
		}
		memcpy(label, info.label, 32);
		size_t n = 32;
		while (n > 0 && label[n - 1] == ' ') {
			n--;
		}
		label[n] = '\0';
		if (strcmp(label, token) == 0) {
			slot = slots[i];
			found = 1;
		}
	}
	if (!found) {
		fprintf(stderr, "hsm_rawbound: no token labelled %s\n", token);
		return 1;
	}

	struct worker *w = calloc(threads, sizeof(*w));
	if (w == NULL) {
		return 1;
	}
	for (unsigned long i = 0; i < threads; i++) {
		CK_RV rv = b.fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
					       NULL, &w[i].session);
		if (rv != CKR_OK) {
			fprintf(stderr, "hsm_rawbound: C_OpenSession: %#lx\n", rv);
			return 1;
		}
		w[i].b = &b;
		w[i].count = count / threads + (i < count % threads ? 1 : 0);
	}
	char pin[256];
	if (read_pin(pin_file, pin, sizeof(pin)) != 0) {
		fprintf(stderr, "hsm_rawbound: cannot read %s\n", pin_file);
		return 1;
	}
	CK_RV rv = b.fl->C_Login(w[0].session, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin));
	memset(pin, 0, sizeof(pin));
	if (rv != CKR_OK) {
		fprintf(stderr, "hsm_rawbound: C_Login: %#lx\n", rv);
		return 1;
	}

	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
			       {CKA_LABEL, (void *)key_label, strlen(key_label)}};
	CK_ULONG got = 0;
	if (b.fl->C_FindObjectsInit(w[0].session, tmpl, 2) != CKR_OK ||
	    b.fl->C_FindObjects(w[0].session, &b.key, 1, &got) != CKR_OK ||
	    b.fl->C_FindObjectsFinal(w[0].session) != CKR_OK || got != 1) {
		fprintf(stderr, "hsm_rawbound: no private key labelled %s\n", key_label);
		return 1;
	}
	/* One signature per session first, so no first-use cost lands in the timing. */
	for (unsigned long i = 0; i < threads; i++) {
		rv = sign_once(&b, w[i].session);
		if (rv != CKR_OK) {
			fprintf(stderr, "hsm_rawbound: C_Sign: %#lx\n", rv);
			return 1;
		}
	}

	pthread_t *th = calloc(threads, sizeof(*th));
	if (th == NULL) {
		return 1;
	}
	pthread_barrier_init(&b.start, NULL, (unsigned)threads + 1);
	for (unsigned long i = 0; i < threads; i++) {
		if (pthread_create(&th[i], NULL, worker_run, &w[i]) != 0) {
			fprintf(stderr, "hsm_rawbound: pthread_create failed\n");
			return 1;
		}
	}
	pthread_barrier_wait(&b.start);
	double t0 = now();
	for (unsigned long i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
	}
	double seconds = now() - t0;
	int status = 0;
	for (unsigned long i = 0; i < threads; i++) {
		if (w[i].failed != CKR_OK) {
			fprintf(stderr, "hsm_rawbound: thread %lu: C_Sign: %#lx\n", i, w[i].failed);
			status = 1;
		}
	}
	if (status == 0) {
		printf("rawbound threads=%lu count=%lu seconds=%.3f sigs_per_sec=%.0f\n", threads,
		       count, seconds, (double)count / seconds);
	}
	for (unsigned long i = 0; i < threads; i++) {
		b.fl->C_CloseSession(w[i].session);
	}
	b.fl->C_Finalize(NULL);
	pthread_barrier_destroy(&b.start);
	free(th);
	free(w);
	return status;
}
