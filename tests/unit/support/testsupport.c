/* Test support: temp dirs and private SoftHSMv2 tokens. */
#include "testsupport.h"
#include "tandem_file.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdbool.h>

#include <openssl/rand.h>
#include <p11-kit/pkcs11.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "testsupport: %s\n", what);
	abort();
}

void ts_tmpdir(char *buf, size_t size)
{
	const char *base = getenv("TMPDIR");
	if (base == NULL || *base == '\0') {
		base = "/tmp";
	}
	if ((size_t)snprintf(buf, size, "%s/tandem-test-XXXXXX", base) >= size) {
		die("temp path too long");
	}
	if (mkdtemp(buf) == NULL) {
		die("mkdtemp failed");
	}
}

/* Writes a secret to dir/name with mode 0600 from the start. */
static void write_secret(const char *dir, const char *name, const char *text, char *buf,
			 size_t size)
{
	if ((size_t)snprintf(buf, size, "%s/%s", dir, name) >= size) {
		die("path too long");
	}
	int fd = open(buf, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) != 0) {
		die("cannot write secret file");
	}
}

void ts_write_file(const char *dir, const char *name, const char *text, char *buf, size_t size)
{
	if ((size_t)snprintf(buf, size, "%s/%s", dir, name) >= size) {
		die("path too long");
	}
	FILE *fp = fopen(buf, "w");
	if (fp == NULL || fputs(text, fp) < 0 || fclose(fp) != 0) {
		die("cannot write test file");
	}
}

void ts_rmtree(const char *dir)
{
	char cmd[600];
	if (dir == NULL || strstr(dir, "/tandem-test-") == NULL || strchr(dir, '\'') != NULL) {
		return; /* refuse to remove anything we did not make */
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "testsupport: could not remove %s\n", dir);
	}
}

#define SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"

static void random_pin(char out[33])
{
	unsigned char raw[16];
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		die("RAND_bytes failed");
	}
	for (size_t i = 0; i < sizeof(raw); i++) {
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	}
}

/* Initialises a free SoftHSM slot as token `label` with the given PINs. */
static void init_token(const char *label, const char *so_pin, const char *pin)
{
	void *lib = dlopen(SOFTHSM_MODULE, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		die("cannot load " SOFTHSM_MODULE);
	}
	CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
	CK_FUNCTION_LIST_PTR f = NULL;
	if (get == NULL || get(&f) != CKR_OK || f->C_Initialize(NULL) != CKR_OK) {
		die("cannot initialise SoftHSM");
	}
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64;
	if (f->C_GetSlotList(CK_FALSE, slots, &n) != CKR_OK) {
		die("C_GetSlotList failed");
	}
	CK_SLOT_ID slot = 0;
	bool found = false;
	for (CK_ULONG i = 0; i < n && !found; i++) {
		CK_TOKEN_INFO info;
		if (f->C_GetTokenInfo(slots[i], &info) == CKR_OK &&
		    !(info.flags & CKF_TOKEN_INITIALIZED)) {
			slot = slots[i];
			found = true;
		}
	}
	if (!found) {
		die("no free SoftHSM slot");
	}
	CK_UTF8CHAR padded[32];
	memset(padded, ' ', sizeof(padded));
	memcpy(padded, label, strlen(label) < 32 ? strlen(label) : 32);
	CK_SESSION_HANDLE s;
	if (f->C_InitToken(slot, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin), padded) != CKR_OK ||
	    f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) != CKR_OK ||
	    f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin)) != CKR_OK ||
	    f->C_InitPIN(s, (CK_UTF8CHAR_PTR)pin, strlen(pin)) != CKR_OK) {
		die("token initialisation failed");
	}
	f->C_Logout(s);
	f->C_CloseSession(s);
	f->C_Finalize(NULL);
	/* The library stays loaded: unloading SoftHSM and loading it again in one
	 * process is not something it is tested for. */
}

void ts_token_add(ts_token_t *t, const char *label)
{
	char so_pin[33];
	random_pin(so_pin);
	init_token(label, so_pin, t->pin);
	tandem_wipe(so_pin, sizeof(so_pin));
}

void ts_token_create(ts_token_t *t, const char *label)
{
	char path[400];
	memset(t, 0, sizeof(*t));
	ts_tmpdir(t->dir, sizeof(t->dir));
	snprintf(path, sizeof(path), "%s/tokens", t->dir);
	if (mkdir(path, 0700) != 0) {
		die("mkdir tokens");
	}
	char conf[1024];
	snprintf(conf, sizeof(conf),
		 "directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
		 "log.level = ERROR\nslots.removable = false\n",
		 t->dir);
	char conf_path[400];
	ts_write_file(t->dir, "softhsm2.conf", conf, conf_path, sizeof(conf_path));
	setenv("SOFTHSM2_CONF", conf_path, 1);
	random_pin(t->pin);
	char so_pin[33], line[40];
	random_pin(so_pin);
	snprintf(line, sizeof(line), "%s\n", t->pin);
	write_secret(t->dir, "user.pin", line, t->pin_file, sizeof(t->pin_file));
	snprintf(line, sizeof(line), "%s\n", so_pin);
	write_secret(t->dir, "so.pin", line, t->so_pin_file, sizeof(t->so_pin_file));
	init_token(label, so_pin, t->pin);
	tandem_wipe(so_pin, sizeof(so_pin));
	tandem_wipe(line, sizeof(line));
	snprintf(t->uri, sizeof(t->uri), "pkcs11:token=%s;pin-source=%s", label, t->pin_file);
}

void ts_token_destroy(ts_token_t *t)
{
	if (t->dir[0] != '\0') {
		ts_rmtree(t->dir);
	}
	unsetenv("SOFTHSM2_CONF");
	memset(t, 0, sizeof(*t));
}

void ts_srcpath(const char *rel, char *buf, size_t size)
{
	const char *src = getenv("TANDEM_SRCDIR");
	snprintf(buf, size, "%s/%s", src ? src : ".", rel);
}

static uint64_t ts_rng_state;

uint64_t ts_rng_next(void)
{
	uint64_t z = (ts_rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

unsigned ts_rng_below(unsigned n)
{
	return (unsigned)(ts_rng_next() % n);
}

uint64_t ts_rng_seed(const char *test)
{
	const char *env = getenv("TANDEM_SEED");
	uint64_t seed = env != NULL ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
	fprintf(stderr, "%s: seed %llu (TANDEM_SEED=%llu replays it)\n", test,
		(unsigned long long)seed, (unsigned long long)seed);
	ts_rng_state = seed;
	return seed;
}
