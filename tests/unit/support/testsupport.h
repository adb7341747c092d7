/* Test support: temporary directories and a private SoftHSMv2 token per test. */
#ifndef TESTSUPPORT_H
#define TESTSUPPORT_H

#include <stddef.h>
#include <stdint.h>

/*
 * A SoftHSMv2 token of the test's own: a temp dir with softhsm2.conf and a
 * token dir, SOFTHSM2_CONF pointing at it, one token initialised with label
 * `label` through PKCS#11 (C_InitToken, C_InitPIN: no PIN on a command line)
 * with random user and SO PINs, written to pin-source files (mode 0600).
 * ts_token_destroy() removes everything and unsets SOFTHSM2_CONF.
 */
typedef struct ts_token {
	char dir[256];         /* the temp dir */
	char pin_file[300];    /* pin-source file holding the user PIN */
	char so_pin_file[300]; /* pin-source file holding the SO PIN */
	char pin[33];          /* the user PIN, for tests that pass it another way */
	char uri[700];         /* "pkcs11:token=LABEL;pin-source=PINFILE" */
} ts_token_t;

/* Creates the token; aborts the test process with a message on failure. */
void ts_token_create(ts_token_t *t, const char *label);
/* Adds a second token with another label under the same SOFTHSM2_CONF. */
void ts_token_add(ts_token_t *t, const char *label);
/* Removes the token dir and everything in it. */
void ts_token_destroy(ts_token_t *t);

/* A fresh temp dir (mkdtemp under $TMPDIR or /tmp) written to buf. */
void ts_tmpdir(char *buf, size_t size);
/* Writes text to dir/name and returns the path in buf. */
void ts_write_file(const char *dir, const char *name, const char *text, char *buf, size_t size);
/* rm -rf of a temp dir made by ts_tmpdir. */
void ts_rmtree(const char *dir);

/* Source-tree path of a test data file: $TANDEM_SRCDIR/rel. */
void ts_srcpath(const char *rel, char *buf, size_t size);

/*
 * A seeded PRNG (splitmix64) for randomized tests: ts_rng_seed takes TANDEM_SEED from the
 * environment, else the time, prints "TEST: seed N (TANDEM_SEED=N replays it)" so that a
 * failure can be replayed, and returns it. One sequence per process.
 */
uint64_t ts_rng_seed(const char *test);
uint64_t ts_rng_next(void);
unsigned ts_rng_below(unsigned n); /* n > 0 */
#endif
