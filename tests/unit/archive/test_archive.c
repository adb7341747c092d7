/* Unit tests of the archive module: Shamir over GF(256), sealed cards, the ceremony, the SMK in
 * SoftHSMv2 (install, check value, CKA_TRUSTED) and the wrapped-key archive between two tokens. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "archive.h"
#include "archive.pb-c.h"
#include "card.pb-c.h"
#include "crypto.h"
#include "hsm.h"
#include "hsm_internal.h"
#include "hsm_smk.h"
#include "tandem_error.h"
#include "tandem_file.h"
#include "testsupport.h"

#define SOFTHSM_PATH "/usr/lib/softhsm/libsofthsm2.so"
/* scrypt 2^10: fast enough to open cards hundreds of times in a test. */
#define TEST_COST 10

#if defined(__SANITIZE_ADDRESS__)
/* SoftHSM 2.6.1 leaks in some operations (see tests/unit/hsm/test_hsm.c): not ours. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_options(void);
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}
const char *__lsan_default_suppressions(void)
{
	return "leak:libsofthsm2.so\n";
}
const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}
#endif

static bool diag_has(const tandem_diag_t *d, const char *needle)
{
	for (size_t i = 0; i < tandem_diag_kept(d); i++) {
		if (strstr(tandem_diag_msg(d, i), needle) != NULL) {
			return true;
		}
	}
	return false;
}

static const char *diag_first(const tandem_diag_t *d)
{
	return tandem_diag_kept(d) > 0 ? tandem_diag_msg(d, 0) : "";
}

/* ---- Shamir ---- */

/* Combines the shares whose bits are set in mask (bit i: x = i + 1). */
static void combine_mask(const uint8_t *ys, size_t len, unsigned n, unsigned mask, uint8_t *out,
			 unsigned *m)
{
	uint8_t xs[32];
	uint8_t sel[32 * 32];
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++) {
		if (mask & (1u << i)) {
			xs[k] = (uint8_t)(i + 1);
			memcpy(sel + k * len, ys + i * len, len);
			k++;
		}
	}
	*m = k;
	ck_assert_int_eq(archive_shamir_combine(xs, sel, k, len, out), TANDEM_OK);
}

START_TEST(shamir_all_subsets)
{
	static const unsigned cases[][2] = {{1, 1}, {1, 3}, {2, 2}, {2, 3}, {3, 5}, {4, 6}, {6, 6}};
	const unsigned m = cases[_i][0], n = cases[_i][1];
	uint8_t secret[32], ys[6 * 32], out[32];
	ck_assert_int_eq(RAND_bytes(secret, sizeof(secret)), 1);
	ck_assert_int_eq(archive_shamir_split(secret, sizeof(secret), n, m, ys), TANDEM_OK);
	unsigned recovered = 0, fewer = 0;
	for (unsigned mask = 1; mask < (1u << n); mask++) {
		unsigned k = (unsigned)__builtin_popcount(mask);
		if (k != m && k != m - 1) {
			continue;
		}
		combine_mask(ys, sizeof(secret), n, mask, out, &k);
		if (k == m) {
			ck_assert_msg(memcmp(out, secret, sizeof(out)) == 0,
				      "%u-of-%u: subset %#x does not recover", m, n, mask);
			recovered++;
		} else {
			ck_assert_msg(memcmp(out, secret, sizeof(out)) != 0,
				      "%u-of-%u: %u shares (subset %#x) recover the secret", m, n,
				      k, mask);
			fewer++;
		}
	}
	ck_assert_uint_gt(recovered, 0);
	ck_assert(m == 1 || fewer > 0);
}
END_TEST

/* A hand-made 2-of-n share pair in the AES field: s + a x, with 0xca * 2 = 0x8f. */
START_TEST(shamir_known_answer)
{
	const uint8_t xs[2] = {1, 2};
	const uint8_t ys[2] = {0x53 ^ 0xca, 0x53 ^ 0x8f};
	uint8_t s = 0;
	ck_assert_int_eq(archive_shamir_combine(xs, ys, 2, 1, &s), TANDEM_OK);
	ck_assert_uint_eq(s, 0x53);
	/* 0x53 and 0xca are inverses in the AES field: a 2-of-n pair at x = 0x53 and x = 0xca
	 * of s + x gives s = y1 * 0xca/(0xca^0x53) + y2 * 0x53/(0x53^0xca). Check with s = 0. */
	const uint8_t xs2[2] = {0x53, 0xca};
	const uint8_t ys2[2] = {0x53, 0xca};
	ck_assert_int_eq(archive_shamir_combine(xs2, ys2, 2, 1, &s), TANDEM_OK);
	ck_assert_uint_eq(s, 0);
}
END_TEST

START_TEST(shamir_255_shares)
{
	uint8_t secret[32], out[32];
	uint8_t *ys = malloc(255 * 32);
	ck_assert_ptr_nonnull(ys);
	ck_assert_int_eq(RAND_bytes(secret, sizeof(secret)), 1);
	/* 3 of 255: the highest x-coordinates and mixed ones */
	ck_assert_int_eq(archive_shamir_split(secret, 32, 255, 3, ys), TANDEM_OK);
	const uint8_t picks[][3] = {{255, 254, 253}, {1, 128, 255}, {17, 2, 200}};
	for (size_t p = 0; p < 3; p++) {
		uint8_t sel[3 * 32];
		for (int k = 0; k < 3; k++) {
			memcpy(sel + k * 32, ys + (picks[p][k] - 1) * 32, 32);
		}
		ck_assert_int_eq(archive_shamir_combine(picks[p], sel, 3, 32, out), TANDEM_OK);
		ck_assert_mem_eq(out, secret, 32);
		ck_assert_int_eq(archive_shamir_combine(picks[p], sel, 2, 32, out), TANDEM_OK);
		ck_assert(memcmp(out, secret, 32) != 0);
	}
	/* 255 of 255 */
	uint8_t xs[255];
	for (int i = 0; i < 255; i++) {
		xs[i] = (uint8_t)(i + 1);
	}
	ck_assert_int_eq(archive_shamir_split(secret, 32, 255, 255, ys), TANDEM_OK);
	ck_assert_int_eq(archive_shamir_combine(xs, ys, 255, 32, out), TANDEM_OK);
	ck_assert_mem_eq(out, secret, 32);
	ck_assert_int_eq(archive_shamir_combine(xs, ys, 254, 32, out), TANDEM_OK);
	ck_assert(memcmp(out, secret, 32) != 0);
	free(ys);
}
END_TEST

START_TEST(shamir_refusals)
{
	uint8_t secret[4] = {1, 2, 3, 4}, ys[256 * 4], out[4];
	ck_assert_int_eq(archive_shamir_split(secret, 4, 3, 4, ys), TANDEM_EINVAL);
	ck_assert_int_eq(archive_shamir_split(secret, 4, 3, 0, ys), TANDEM_EINVAL);
	ck_assert_int_eq(archive_shamir_split(secret, 4, 256, 2, ys), TANDEM_EINVAL);
	ck_assert_int_eq(archive_shamir_split(secret, 0, 3, 2, ys), TANDEM_EINVAL);
	ck_assert_int_eq(archive_shamir_split(secret, 4, 3, 2, ys), TANDEM_OK);
	const uint8_t dup[2] = {2, 2}, zero[2] = {0, 1};
	ck_assert_int_eq(archive_shamir_combine(dup, ys, 2, 4, out), TANDEM_EINVAL);
	ck_assert_int_eq(archive_shamir_combine(zero, ys, 2, 4, out), TANDEM_EINVAL);
	ck_assert_int_eq(archive_shamir_combine(dup, ys, 0, 4, out), TANDEM_EINVAL);
	/* fresh coefficients each time: the same secret gives other shares */
	uint8_t ys2[3 * 4];
	ck_assert_int_eq(archive_shamir_split(secret, 4, 3, 2, ys2), TANDEM_OK);
	ck_assert(memcmp(ys, ys2, sizeof(ys2)) != 0);
}
END_TEST

/* ---- cards ---- */

static archive_card_info_t test_info(void)
{
	archive_card_info_t i = {.number = 2,
				 .shares = 3,
				 .threshold = 2,
				 .created = 1790000000,
				 .kdf_log2n = TEST_COST};
	memset(i.ceremony_id, 0x11, sizeof(i.ceremony_id));
	memset(i.check, 0x22, sizeof(i.check));
	return i;
}

static const char PASS[] = "correct horse battery";

START_TEST(card_round_trip)
{
	archive_card_info_t in = test_info(), out, peek;
	uint8_t share[32], back[32];
	uint8_t *card = NULL;
	size_t len = 0;
	ck_assert_int_eq(RAND_bytes(share, sizeof(share)), 1);
	ck_assert_int_eq(archive_card_seal(&in, share, PASS, strlen(PASS), NULL, &card, &len),
			 TANDEM_OK);
	ck_assert_ptr_null(memmem(card, len, share, sizeof(share)));
	ck_assert_int_eq(archive_card_peek(card, len, NULL, &peek), TANDEM_OK);
	ck_assert_mem_eq(&peek, &in, sizeof(in));
	ck_assert_int_eq(archive_card_open(card, len, PASS, strlen(PASS), NULL, &out, back),
			 TANDEM_OK);
	ck_assert_mem_eq(back, share, 32);
	ck_assert_mem_eq(&out, &in, sizeof(in));
	/* sealing twice gives different bytes (fresh salt and nonce) */
	uint8_t *card2 = NULL;
	size_t len2 = 0;
	ck_assert_int_eq(archive_card_seal(&in, share, PASS, strlen(PASS), NULL, &card2, &len2),
			 TANDEM_OK);
	ck_assert(len2 != len || memcmp(card, card2, len) != 0);
	free(card);
	free(card2);
}
END_TEST

START_TEST(card_wrong_passphrase)
{
	archive_card_info_t in = test_info(), out;
	uint8_t share[32] = {7}, back[32] = {0};
	uint8_t *card = NULL;
	size_t len = 0;
	tandem_diag_t *d = NULL;
	ck_assert_int_eq(tandem_diag_new(&d), TANDEM_OK);
	ck_assert_int_eq(archive_card_seal(&in, share, PASS, strlen(PASS), d, &card, &len),
			 TANDEM_OK);
	ck_assert_int_eq(archive_card_open(card, len, "correct horse battery!", 22, d, &out, back),
			 TANDEM_ARCHIVE_EPASS);
	ck_assert(diag_has(d, "card 2: wrong passphrase"));
	ck_assert_int_eq(back[0], 0); /* nothing written on failure */
	/* too short a passphrase is refused at sealing */
	uint8_t *none = NULL;
	ck_assert_int_eq(archive_card_seal(&in, share, "short", 5, d, &none, &len), TANDEM_EINVAL);
	ck_assert_ptr_null(none);
	free(card);
	tandem_diag_free(d);
}
END_TEST

START_TEST(card_every_byte_flipped)
{
	archive_card_info_t in = test_info(), out;
	uint8_t share[32], back[32];
	uint8_t *card = NULL;
	size_t len = 0;
	ck_assert_int_eq(RAND_bytes(share, sizeof(share)), 1);
	ck_assert_int_eq(archive_card_seal(&in, share, PASS, strlen(PASS), NULL, &card, &len),
			 TANDEM_OK);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			card[i] ^= (uint8_t)(1u << bit);
			int ret =
			    archive_card_open(card, len, PASS, strlen(PASS), NULL, &out, back);
			ck_assert_msg(ret != TANDEM_OK, "flipping bit %d of byte %zu of %zu passes",
				      bit, i, len);
			card[i] ^= (uint8_t)(1u << bit);
		}
	}
	ck_assert_int_eq(archive_card_open(card, len, PASS, strlen(PASS), NULL, &out, back),
			 TANDEM_OK);
	free(card);
}
END_TEST

START_TEST(card_truncated)
{
	archive_card_info_t in = test_info(), out;
	uint8_t share[32] = {1}, back[32];
	uint8_t *card = NULL;
	size_t len = 0;
	ck_assert_int_eq(archive_card_seal(&in, share, PASS, strlen(PASS), NULL, &card, &len),
			 TANDEM_OK);
	for (size_t n = 0; n < len; n++) {
		ck_assert_msg(archive_card_open(card, n, PASS, strlen(PASS), NULL, &out, back) !=
				  TANDEM_OK,
			      "a card cut to %zu of %zu bytes opens", n, len);
	}
	free(card);
}
END_TEST

START_TEST(card_unknown_version)
{
	archive_card_info_t in = test_info(), out;
	uint8_t share[32] = {1}, back[32];
	uint8_t *card = NULL;
	size_t len = 0;
	ck_assert_int_eq(archive_card_seal(&in, share, PASS, strlen(PASS), NULL, &card, &len),
			 TANDEM_OK);
	Tandem__Card *m = tandem__card__unpack(NULL, len, card);
	ck_assert_ptr_nonnull(m);
	m->version = 2;
	uint8_t buf[1024];
	size_t n = tandem__card__pack(m, buf);
	tandem__card__free_unpacked(m, NULL);
	tandem_diag_t *d = NULL;
	ck_assert_int_eq(tandem_diag_new(&d), TANDEM_OK);
	ck_assert_int_eq(archive_card_open(buf, n, PASS, strlen(PASS), d, &out, back),
			 TANDEM_ARCHIVE_EVERSION);
	ck_assert(diag_has(d, "version 2"));
	tandem_diag_free(d);
	free(card);
}
END_TEST

/* ---- the ceremony ---- */

static const char *const PASSES[] = {"passphrase one", "passphrase two", "passphrase three",
				     "passphrase four", "passphrase five"};

struct ceremony {
	uint8_t *cards[5];
	size_t lens[5];
	archive_card_info_t info;
	unsigned n;
};

static void ceremony_make(struct ceremony *c, unsigned n, unsigned m)
{
	memset(c, 0, sizeof(*c));
	c->n = n;
	ck_assert_int_eq(archive_ceremony_new(n, m, TEST_COST, 1790000000, PASSES, NULL, c->cards,
					      c->lens, &c->info),
			 TANDEM_OK);
}

static void ceremony_free(struct ceremony *c)
{
	for (unsigned i = 0; i < c->n; i++) {
		free(c->cards[i]);
	}
}

static int ceremony_combine(const struct ceremony *c, const unsigned *which, size_t k,
			    tandem_diag_t *d, archive_keys_t *keys)
{
	const uint8_t *cards[5];
	size_t lens[5];
	const char *pass[5];
	for (size_t i = 0; i < k; i++) {
		cards[i] = c->cards[which[i]];
		lens[i] = c->lens[which[i]];
		pass[i] = PASSES[which[i]];
	}
	archive_card_info_t info;
	return archive_ceremony_combine(k, cards, lens, pass, d, keys, &info);
}

START_TEST(ceremony_every_threshold_subset)
{
	struct ceremony c;
	ceremony_make(&c, 5, 3);
	archive_keys_t first, keys;
	bool have_first = false;
	for (unsigned mask = 0; mask < 32; mask++) {
		if (__builtin_popcount(mask) != 3) {
			continue;
		}
		unsigned which[3], k = 0;
		for (unsigned i = 0; i < 5; i++) {
			if (mask & (1u << i)) {
				which[k++] = i;
			}
		}
		ck_assert_int_eq(ceremony_combine(&c, which, 3, NULL, &keys), TANDEM_OK);
		ck_assert_mem_eq(keys.check, c.info.check, ARCHIVE_CHECK_LEN);
		if (!have_first) {
			first = keys;
			have_first = true;
		}
		ck_assert_mem_eq(&keys, &first, sizeof(keys));
	}
	ck_assert(memcmp(first.smk, first.mac, 32) != 0);
	uint8_t soft[32];
	ck_assert_int_eq(hsm_smk_check_soft(first.smk, first.mac, soft), TANDEM_OK);
	ck_assert_mem_eq(soft, c.info.check, 32);
	archive_keys_wipe(&first);
	archive_keys_wipe(&keys);
	ceremony_free(&c);
}
END_TEST

START_TEST(ceremony_refusals)
{
	struct ceremony c, other;
	ceremony_make(&c, 3, 2);
	ceremony_make(&other, 3, 2);
	tandem_diag_t *d = NULL;
	ck_assert_int_eq(tandem_diag_new(&d), TANDEM_OK);
	archive_keys_t keys;
	memset(&keys, 0xee, sizeof(keys));

	unsigned one[] = {1};
	ck_assert_int_eq(ceremony_combine(&c, one, 1, d, &keys), TANDEM_ARCHIVE_ECARDS);
	ck_assert(diag_has(d, "too few"));
	unsigned three[] = {0, 1, 2};
	ck_assert_int_eq(ceremony_combine(&c, three, 3, d, &keys), TANDEM_ARCHIVE_ECARDS);
	unsigned twice[] = {1, 1};
	ck_assert_int_eq(ceremony_combine(&c, twice, 2, d, &keys), TANDEM_ARCHIVE_ECARDS);
	ck_assert(diag_has(d, "given twice"));

	/* card 1 of one ceremony with card 2 of another */
	const uint8_t *mixed[2] = {c.cards[0], other.cards[1]};
	size_t mixed_len[2] = {c.lens[0], other.lens[1]};
	const char *pass[2] = {PASSES[0], PASSES[1]};
	archive_card_info_t info;
	ck_assert_int_eq(archive_ceremony_combine(2, mixed, mixed_len, pass, d, &keys, &info),
			 TANDEM_ARCHIVE_ECARDS);
	ck_assert(diag_has(d, "another ceremony"));

	/* a wrong passphrase names the card */
	const uint8_t *two[2] = {c.cards[0], c.cards[2]};
	size_t two_len[2] = {c.lens[0], c.lens[2]};
	const char *wrong[2] = {PASSES[0], PASSES[1]};
	tandem_diag_clear(d);
	ck_assert_int_eq(archive_ceremony_combine(2, two, two_len, wrong, d, &keys, &info),
			 TANDEM_ARCHIVE_EPASS);
	ck_assert(diag_has(d, "card 3: wrong passphrase"));

	/* a holder forges a card: same clear fields, their own passphrase, a garbage share */
	archive_card_info_t ci;
	ck_assert_int_eq(archive_card_peek(c.cards[2], c.lens[2], NULL, &ci), TANDEM_OK);
	uint8_t garbage[32] = {0x42};
	uint8_t *forged = NULL;
	size_t forged_len = 0;
	ck_assert_int_eq(archive_card_seal(&ci, garbage, PASSES[2], strlen(PASSES[2]), NULL,
					   &forged, &forged_len),
			 TANDEM_OK);
	const uint8_t *with_forged[2] = {c.cards[0], forged};
	size_t with_forged_len[2] = {c.lens[0], forged_len};
	const char *good[2] = {PASSES[0], PASSES[2]};
	tandem_diag_clear(d);
	ck_assert_int_eq(
	    archive_ceremony_combine(2, with_forged, with_forged_len, good, d, &keys, &info),
	    TANDEM_ARCHIVE_EPASS);
	ck_assert(diag_has(d, "check value"));

	/* nothing written on any failure */
	uint8_t ee[sizeof(keys)];
	memset(ee, 0xee, sizeof(ee));
	ck_assert_mem_eq(&keys, ee, sizeof(keys));
	free(forged);
	tandem_diag_free(d);
	ceremony_free(&c);
	ceremony_free(&other);
}
END_TEST

/* ---- the SMK in SoftHSM ---- */

/* Module, a first token (ts_token_create), and its SO PIN. */
struct hsm_fx {
	ts_token_t t;
	tandem_diag_t *diag;
	hsm_module_t *mod;
	char so_pin[64];
	size_t so_pin_len;
};

static void pin_from_file(const char *path, char *pin, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	ck_assert_int_eq(tandem_file_read(path, 256, &buf, &n), TANDEM_OK);
	n = strcspn(buf, "\r\n");
	ck_assert_uint_lt(n, 64);
	memcpy(pin, buf, n);
	pin[n] = '\0';
	*len = n;
	tandem_wipe(buf, n);
	free(buf);
}

static void hfx_setup(struct hsm_fx *fx)
{
	memset(fx, 0, sizeof(*fx));
	ts_token_create(&fx->t, "siteA");
	ck_assert_int_eq(tandem_diag_new(&fx->diag), TANDEM_OK);
	ck_assert_int_eq(hsm_module_load(SOFTHSM_PATH, fx->diag, &fx->mod), TANDEM_OK);
	pin_from_file(fx->t.so_pin_file, fx->so_pin, &fx->so_pin_len);
}

static void hfx_teardown(struct hsm_fx *fx)
{
	hsm_module_free(fx->mod);
	tandem_diag_free(fx->diag);
	ts_token_destroy(&fx->t);
}

/*
 * A second token under the same SOFTHSM2_CONF with a known SO PIN (ts_token_add forgets
 * it) and the same user PIN, initialised through the loaded module.
 */
static void token_add_known(struct hsm_fx *fx, const char *label, const char *so_pin)
{
	CK_FUNCTION_LIST *f = fx->mod->fl;
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16;
	ck_assert_int_eq(f->C_GetSlotList(CK_FALSE, slots, &n), CKR_OK);
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
	ck_assert(found);
	CK_UTF8CHAR padded[32];
	memset(padded, ' ', sizeof(padded));
	memcpy(padded, label, strlen(label));
	CK_SESSION_HANDLE s;
	ck_assert_int_eq(f->C_InitToken(slot, (CK_UTF8CHAR *)so_pin, strlen(so_pin), padded),
			 CKR_OK);
	ck_assert_int_eq(
	    f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_int_eq(f->C_Login(s, CKU_SO, (CK_UTF8CHAR *)so_pin, strlen(so_pin)), CKR_OK);
	ck_assert_int_eq(f->C_InitPIN(s, (CK_UTF8CHAR *)fx->t.pin, strlen(fx->t.pin)), CKR_OK);
	f->C_Logout(s);
	f->C_CloseSession(s);
}

static hsm_uri_t *uri_for(const char *token, const char *pin_file)
{
	char text[600];
	snprintf(text, sizeof(text), "pkcs11:token=%s;pin-source=%s", token, pin_file);
	hsm_uri_t *u = NULL;
	ck_assert_int_eq(hsm_uri_parse(text, NULL, &u), TANDEM_OK);
	return u;
}

static int install(struct hsm_fx *fx, const char *token, const char *so_pin, size_t so_len,
		   const archive_keys_t *k)
{
	hsm_uri_t *u = uri_for(token, fx->t.pin_file);
	static const uint8_t id[16] = {1, 2, 3};
	int ret =
	    hsm_smk_install(fx->mod, u, so_pin, so_len, k->smk, k->mac, id, sizeof(id), fx->diag);
	hsm_uri_free(u);
	return ret;
}

static hsm_token_t *open_token(struct hsm_fx *fx, const char *token)
{
	hsm_uri_t *u = uri_for(token, fx->t.pin_file);
	hsm_token_t *t = NULL;
	int ret = hsm_token_open(fx->mod, u, NULL, 1, fx->diag, &t);
	hsm_uri_free(u);
	ck_assert_msg(ret == TANDEM_OK, "open %s: %s", token, diag_first(fx->diag));
	return t;
}

static void keys_random(archive_keys_t *k)
{
	uint8_t secret[32];
	ck_assert_int_eq(RAND_bytes(secret, sizeof(secret)), 1);
	ck_assert_int_eq(archive_keys_derive(secret, k), TANDEM_OK);
	tandem_wipe(secret, sizeof(secret));
}

static CK_BBOOL attr_bool(hsm_token_t *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL v = 0xaa;
	CK_ATTRIBUTE a = {type, &v, sizeof(v)};
	ck_assert_int_eq(t->fl->C_GetAttributeValue(t->admin, h, &a, 1), CKR_OK);
	return v;
}

static CK_OBJECT_HANDLE find_label(hsm_token_t *t, const char *label, CK_ULONG *count)
{
	CK_ATTRIBUTE match = {CKA_LABEL, (void *)label, strlen(label)};
	CK_OBJECT_HANDLE h[4] = {CK_INVALID_HANDLE};
	CK_ULONG got = 0;
	ck_assert_int_eq(t->fl->C_FindObjectsInit(t->admin, &match, 1), CKR_OK);
	ck_assert_int_eq(t->fl->C_FindObjects(t->admin, h, 4, &got), CKR_OK);
	t->fl->C_FindObjectsFinal(t->admin);
	*count = got;
	return h[0];
}

/* Every object on the token, session objects included. */
static CK_ULONG object_count(hsm_token_t *t)
{
	CK_OBJECT_HANDLE h[64];
	CK_ULONG got = 0;
	ck_assert_int_eq(t->fl->C_FindObjectsInit(t->admin, NULL, 0), CKR_OK);
	ck_assert_int_eq(t->fl->C_FindObjects(t->admin, h, 64, &got), CKR_OK);
	t->fl->C_FindObjectsFinal(t->admin);
	return got;
}

START_TEST(smk_install_and_check)
{
	struct hsm_fx fx;
	hfx_setup(&fx);
	struct ceremony c;
	ceremony_make(&c, 3, 2);
	unsigned which[] = {0, 2};
	archive_keys_t keys;
	ck_assert_int_eq(ceremony_combine(&c, which, 2, NULL, &keys), TANDEM_OK);
	int ret = install(&fx, "siteA", fx.so_pin, fx.so_pin_len, &keys);
	ck_assert_msg(ret == TANDEM_OK, "install: %s", diag_first(fx.diag));

	/* a second install is refused and says it is the same SMK */
	ck_assert_int_eq(install(&fx, "siteA", fx.so_pin, fx.so_pin_len, &keys), TANDEM_EEXIST);
	ck_assert(diag_has(fx.diag, "same check value"));

	hsm_token_t *t = open_token(&fx, "siteA");
	uint8_t check[32];
	ck_assert_int_eq(hsm_smk_check(t, fx.diag, check), TANDEM_OK);
	ck_assert_mem_eq(check, c.info.check, 32);
	ck_assert_mem_eq(check, keys.check, 32);

	CK_ULONG n = 0;
	CK_OBJECT_HANDLE smk = find_label(t, HSM_SMK_LABEL, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(attr_bool(t, smk, CKA_TRUSTED), CK_TRUE);
	ck_assert_uint_eq(attr_bool(t, smk, CKA_SENSITIVE), CK_TRUE);
	ck_assert_uint_eq(attr_bool(t, smk, CKA_EXTRACTABLE), CK_FALSE);
	ck_assert_uint_eq(attr_bool(t, smk, CKA_NEVER_EXTRACTABLE), CK_FALSE); /* imported */
	ck_assert_uint_eq(attr_bool(t, smk, CKA_WRAP), CK_TRUE);
	ck_assert_uint_eq(attr_bool(t, smk, CKA_UNWRAP), CK_TRUE);
	ck_assert_uint_eq(attr_bool(t, smk, CKA_ENCRYPT), CK_FALSE);
	ck_assert_uint_eq(attr_bool(t, smk, CKA_DECRYPT), CK_FALSE);
	ck_assert_uint_eq(attr_bool(t, smk, CKA_TOKEN), CK_TRUE);
	ck_assert_uint_eq(attr_bool(t, smk, CKA_MODIFIABLE), CK_FALSE);
	/* the value never comes out */
	uint8_t value[32];
	CK_ATTRIBUTE a = {CKA_VALUE, value, sizeof(value)};
	ck_assert_int_eq(t->fl->C_GetAttributeValue(t->admin, smk, &a, 1), CKR_ATTRIBUTE_SENSITIVE);
	/* and the user cannot make it untrusted */
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE untrust = {CKA_TRUSTED, &no, sizeof(no)};
	ck_assert_int_ne(t->fl->C_SetAttributeValue(t->admin, smk, &untrust, 1), CKR_OK);
	ck_assert_uint_eq(attr_bool(t, smk, CKA_TRUSTED), CK_TRUE);
	CK_OBJECT_HANDLE mac = find_label(t, HSM_SMK_MAC_LABEL, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(attr_bool(t, mac, CKA_EXTRACTABLE), CK_FALSE);
	ck_assert_uint_eq(attr_bool(t, mac, CKA_SIGN), CK_TRUE);

	/* HMAC in the HSM equals HMAC in software with the ceremony's key */
	uint8_t hmac_hsm[32], hmac_soft[32];
	unsigned hl = 0;
	ck_assert_int_eq(hsm_smk_mac(t, (const uint8_t *)"abc", 3, fx.diag, hmac_hsm), TANDEM_OK);
	HMAC(EVP_sha256(), keys.mac, 32, (const uint8_t *)"abc", 3, hmac_soft, &hl);
	ck_assert_mem_eq(hmac_hsm, hmac_soft, 32);
	ck_assert_int_eq(hsm_smk_mac_verify(t, (const uint8_t *)"abc", 3, hmac_soft, fx.diag),
			 TANDEM_OK);
	hmac_soft[0] ^= 1;
	ck_assert_int_eq(hsm_smk_mac_verify(t, (const uint8_t *)"abc", 3, hmac_soft, fx.diag),
			 TANDEM_ARCHIVE_ETAMPER);

	/* no SO login while a user is logged in on the token */
	ck_assert_int_ne(install(&fx, "siteA", fx.so_pin, fx.so_pin_len, &keys), TANDEM_OK);
	hsm_token_close(t);
	archive_keys_wipe(&keys);
	ceremony_free(&c);
	hfx_teardown(&fx);
}
END_TEST

START_TEST(smk_install_refusals_leave_nothing)
{
	struct hsm_fx fx;
	hfx_setup(&fx);
	struct ceremony c, other;
	ceremony_make(&c, 3, 2);
	ceremony_make(&other, 2, 2);
	archive_keys_t keys;
	memset(&keys, 0, sizeof(keys));

	/* too few, mixed, wrong passphrase, tampered: combine refuses, install never runs */
	unsigned one[] = {0};
	ck_assert_int_eq(ceremony_combine(&c, one, 1, fx.diag, &keys), TANDEM_ARCHIVE_ECARDS);
	const uint8_t *mixed[2] = {c.cards[0], other.cards[1]};
	size_t mixed_len[2] = {c.lens[0], other.lens[1]};
	const char *pass[2] = {PASSES[0], PASSES[1]};
	archive_card_info_t info;
	ck_assert_int_eq(archive_ceremony_combine(2, mixed, mixed_len, pass, fx.diag, &keys, &info),
			 TANDEM_ARCHIVE_ECARDS);
	const char *wrong[2] = {PASSES[0], PASSES[0]};
	const uint8_t *two[2] = {c.cards[0], c.cards[1]};
	size_t two_len[2] = {c.lens[0], c.lens[1]};
	ck_assert_int_eq(archive_ceremony_combine(2, two, two_len, wrong, fx.diag, &keys, &info),
			 TANDEM_ARCHIVE_EPASS);
	c.cards[1][c.lens[1] - 3] ^= 0x10;
	ck_assert_int_eq(archive_ceremony_combine(2, two, two_len, pass, fx.diag, &keys, &info),
			 TANDEM_ARCHIVE_EPASS);
	c.cards[1][c.lens[1] - 3] ^= 0x10;

	/* wrong SO PIN: refused, nothing made */
	ck_assert_int_eq(ceremony_combine(&c, (unsigned[]){0, 1}, 2, NULL, &keys), TANDEM_OK);
	ck_assert_int_eq(install(&fx, "siteA", "not-the-so-pin", 14, &keys), TANDEM_HSM_EPIN);
	ck_assert_int_eq(install(&fx, "nosuchtoken", fx.so_pin, fx.so_pin_len, &keys),
			 TANDEM_HSM_ETOKEN);

	hsm_token_t *t = open_token(&fx, "siteA");
	uint8_t check[32];
	ck_assert_int_eq(hsm_smk_check(t, fx.diag, check), TANDEM_HSM_EKEY);
	ck_assert_uint_eq(object_count(t), 0);
	hsm_token_close(t);
	archive_keys_wipe(&keys);
	ceremony_free(&c);
	ceremony_free(&other);
	hfx_teardown(&fx);
}
END_TEST

static const hsm_key_t *gen(hsm_token_t *t, const char *label, uint8_t alg, unsigned bits,
			    tandem_diag_t *diag)
{
	char text[256];
	snprintf(text, sizeof(text), "pkcs11:object=%s", label);
	hsm_uri_t *u = NULL;
	ck_assert_int_eq(hsm_uri_parse(text, NULL, &u), TANDEM_OK);
	hsm_keyspec_t spec = {.algorithm = alg, .bits = bits};
	const hsm_key_t *key = NULL;
	int ret = hsm_token_generate_key(t, u, &spec, diag, &key);
	hsm_uri_free(u);
	ck_assert_msg(ret == TANDEM_OK, "keygen %s: %s", label, diag_first(diag));
	return key;
}

START_TEST(wrap_refused_under_untrusted_key)
{
	struct hsm_fx fx;
	hfx_setup(&fx);
	archive_keys_t keys;
	keys_random(&keys);
	ck_assert_int_eq(install(&fx, "siteA", fx.so_pin, fx.so_pin_len, &keys), TANDEM_OK);
	hsm_token_t *t = open_token(&fx, "siteA");
	const hsm_key_t *k = gen(t, "zsk", HSM_ALG_RSASHA256, 1024, fx.diag);

	/* an AES key the user made: same value as the SMK, but not CKA_TRUSTED */
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &aes, sizeof(aes)},
			       {CKA_TOKEN, &no, sizeof(no)},   {CKA_VALUE, keys.smk, 32},
			       {CKA_WRAP, &yes, sizeof(yes)},  {CKA_UNWRAP, &yes, sizeof(yes)}};
	CK_OBJECT_HANDLE untrusted;
	ck_assert_int_eq(t->fl->C_CreateObject(t->admin, tmpl, 6, &untrusted), CKR_OK);
	/* the user may not make it trusted */
	CK_ATTRIBUTE trust = {CKA_TRUSTED, &yes, sizeof(yes)};
	ck_assert_int_ne(t->fl->C_SetAttributeValue(t->admin, untrusted, &trust, 1), CKR_OK);
	CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	uint8_t buf[4096];
	CK_ULONG len = sizeof(buf);
	ck_assert_int_eq(t->fl->C_WrapKey(t->admin, &m, untrusted, k->priv, buf, &len),
			 CKR_KEY_NOT_WRAPPABLE);
	/* under the SMK it works, and the key is not readable in the clear */
	uint8_t *w = NULL;
	size_t wlen = 0;
	ck_assert_int_eq(hsm_smk_wrap(t, k, fx.diag, &w, &wlen), TANDEM_OK);
	ck_assert_uint_gt(wlen, 600);
	ck_assert(hsm_smk_key_archivable(t, k));
	free(w);
	hsm_token_close(t);
	archive_keys_wipe(&keys);
	hfx_teardown(&fx);
}
END_TEST

/* ---- the archive between two tokens ---- */

struct two_sites {
	struct hsm_fx fx;
	archive_keys_t keys;
	char so_b[33];
};

static void sites_setup(struct two_sites *s)
{
	hfx_setup(&s->fx);
	snprintf(s->so_b, sizeof(s->so_b), "so-pin-of-site-b");
	token_add_known(&s->fx, "siteB", s->so_b);
	keys_random(&s->keys);
	ck_assert_int_eq(install(&s->fx, "siteA", s->fx.so_pin, s->fx.so_pin_len, &s->keys),
			 TANDEM_OK);
	ck_assert_int_eq(install(&s->fx, "siteB", s->so_b, strlen(s->so_b), &s->keys), TANDEM_OK);
}

static void sites_teardown(struct two_sites *s)
{
	archive_keys_wipe(&s->keys);
	hfx_teardown(&s->fx);
}

/* Keys on A of three algorithms, exported. */
static void export_from_a(struct two_sites *s, uint8_t **out, size_t *len)
{
	hsm_token_t *a = open_token(&s->fx, "siteA");
	gen(a, "ksk-8", HSM_ALG_RSASHA256, 2048, s->fx.diag);
	gen(a, "zsk-10", HSM_ALG_RSASHA512, 1024, s->fx.diag);
	gen(a, "zsk-13", HSM_ALG_ECDSAP256SHA256, 256, s->fx.diag);
	size_t count = 0;
	int ret = archive_export(a, 1790000000, s->fx.diag, out, len, &count);
	ck_assert_msg(ret == TANDEM_OK, "export: %s", diag_first(s->fx.diag));
	ck_assert_uint_eq(count, 3);
	hsm_token_close(a);
}

static void sign_with(hsm_token_t *t, const char *label, const uint8_t *data, size_t len,
		      uint8_t *sig, size_t *sig_len, uint8_t *rdata, size_t *rdata_len)
{
	const hsm_key_t *k = NULL;
	char text[128];
	snprintf(text, sizeof(text), "pkcs11:object=%s", label);
	hsm_uri_t *u = NULL;
	ck_assert_int_eq(hsm_uri_parse(text, NULL, &u), TANDEM_OK);
	ck_assert_int_eq(hsm_token_find_key(t, u, NULL, &k), TANDEM_OK);
	hsm_uri_free(u);
	ck_assert_int_eq(hsm_token_sign(t, 0, k, data, len, sig, sig_len), TANDEM_OK);
	ck_assert_int_eq(hsm_key_dnskey_rdata(k, 257, rdata, rdata_len), TANDEM_OK);
}

START_TEST(archive_round_trip)
{
	struct two_sites s;
	sites_setup(&s);
	uint8_t *arch = NULL;
	size_t len = 0;
	export_from_a(&s, &arch, &len);

	hsm_token_t *b = open_token(&s.fx, "siteB");
	archive_import_stats_t st;
	int ret = archive_import(b, arch, len, s.fx.diag, &st);
	ck_assert_msg(ret == TANDEM_OK, "import: %s", diag_first(s.fx.diag));
	ck_assert_uint_eq(st.imported, 3);
	ck_assert_uint_eq(st.skipped, 0);
	/* an archive made without the key state: role unknown, flags 256, no state */
	ck_assert_uint_eq(st.nkeys, 3);
	ck_assert_str_eq(st.source_token, "siteA");
	ck_assert_uint_eq(st.created, 1790000000);
	for (size_t i = 0; i < st.nkeys; i++) {
		ck_assert_int_eq(st.keys[i].role, ARCHIVE_ROLE_UNKNOWN);
		ck_assert_str_eq(st.keys[i].state, "");
		ck_assert_uint_eq(st.keys[i].dnskey[1], 0); /* flags 256 */
		ck_assert(st.keys[i].imported);
	}
	archive_import_stats_deinit(&st);
	/* the keys are usable at once on the open token, and again after a reopen */
	const uint8_t data[] = "the same RRSIG signed data";
	uint8_t sig_b[HSM_SIG_MAX], sig_a[HSM_SIG_MAX], rd_a[HSM_DNSKEY_MAX], rd_b[HSM_DNSKEY_MAX];
	size_t sl_a = 0, sl_b = 0, rl_a = 0, rl_b = 0;
	sign_with(b, "ksk-8", data, sizeof(data), sig_b, &sl_b, rd_b, &rl_b);
	hsm_token_close(b);

	b = open_token(&s.fx, "siteB");
	ck_assert_uint_eq(hsm_token_key_count(b), 3);
	hsm_token_t *a = open_token(&s.fx, "siteA");
	const char *labels[] = {"ksk-8", "zsk-10", "zsk-13"};
	for (int i = 0; i < 3; i++) {
		sign_with(a, labels[i], data, sizeof(data), sig_a, &sl_a, rd_a, &rl_a);
		sign_with(b, labels[i], data, sizeof(data), sig_b, &sl_b, rd_b, &rl_b);
		ck_assert_uint_eq(rl_a, rl_b);
		ck_assert_mem_eq(rd_a, rd_b, rl_a); /* same public key and algorithm (8 vs 10) */
		if (i < 2) {
			ck_assert_uint_eq(sl_a, sl_b); /* RSA PKCS#1 v1.5: byte-identical */
			ck_assert_mem_eq(sig_a, sig_b, sl_a);
		}
		crypto_pubkey_t *pk = NULL;
		ck_assert_int_eq(crypto_pubkey_from_dnskey(rd_a, rl_a, &pk), TANDEM_OK);
		ck_assert_int_eq(crypto_verify(pk, data, sizeof(data), sig_b, sl_b), TANDEM_OK);
		crypto_pubkey_free(pk);
	}
	ck_assert_uint_eq(rd_a[3], HSM_ALG_ECDSAP256SHA256);
	/* attributes of an imported key: sensitive, leaves only under a trusted key */
	for (size_t i = 0; i < hsm_token_key_count(b); i++) {
		const hsm_key_t *k = hsm_token_key(b, i);
		ck_assert_uint_eq(attr_bool(b, k->priv, CKA_TOKEN), CK_TRUE);
		ck_assert_uint_eq(attr_bool(b, k->priv, CKA_PRIVATE), CK_TRUE);
		ck_assert_uint_eq(attr_bool(b, k->priv, CKA_SENSITIVE), CK_TRUE);
		ck_assert_uint_eq(attr_bool(b, k->priv, CKA_WRAP_WITH_TRUSTED), CK_TRUE);
		ck_assert_uint_eq(attr_bool(b, k->priv, CKA_DECRYPT), CK_FALSE);
		ck_assert(k->pub != CK_INVALID_HANDLE);
	}
	if (hsm_key_algorithm(hsm_token_key(b, 1)) != HSM_ALG_RSASHA512 &&
	    hsm_key_algorithm(hsm_token_key(b, 0)) != HSM_ALG_RSASHA512 &&
	    hsm_key_algorithm(hsm_token_key(b, 2)) != HSM_ALG_RSASHA512) {
		ck_abort_msg("algorithm 10 came back as another algorithm");
	}
	/* importing again skips every key */
	ret = archive_import(b, arch, len, s.fx.diag, &st);
	ck_assert_int_eq(ret, TANDEM_OK);
	ck_assert_uint_eq(st.imported, 0);
	ck_assert_uint_eq(st.skipped, 3);
	ck_assert_uint_eq(st.nkeys, 3);
	ck_assert(!st.keys[0].imported);
	archive_import_stats_deinit(&st);
	archive_import_stats_deinit(&st); /* twice is harmless */
	ck_assert_ptr_null(st.keys);
	ck_assert_uint_eq(object_count(b), 2 + 6); /* SMK, MAC key, 3 pairs */
	hsm_token_close(a);
	hsm_token_close(b);
	free(arch);
	sites_teardown(&s);
}
END_TEST

/* Import must fail and leave token B exactly as it was (SMK and MAC key only). */
static void import_refused(struct two_sites *s, const uint8_t *buf, size_t len, int want,
			   const char *what)
{
	hsm_token_t *b = open_token(&s->fx, "siteB");
	archive_import_stats_t st = {.imported = 99, .skipped = 99};
	tandem_diag_clear(s->fx.diag);
	int ret = archive_import(b, buf, len, s->fx.diag, &st);
	ck_assert_msg(ret != TANDEM_OK, "%s: imported", what);
	if (want != 0) {
		ck_assert_msg(ret == want, "%s: %s (%s), wanted %s", what, tandem_strerror(ret),
			      diag_first(s->fx.diag), tandem_strerror(want));
	} else {
		/* a damaged archive is malformed, altered or of another version: nothing else */
		ck_assert_msg(ret == TANDEM_ARCHIVE_EFORMAT || ret == TANDEM_ARCHIVE_ETAMPER ||
				  ret == TANDEM_ARCHIVE_EVERSION,
			      "%s: %s (%s)", what, tandem_strerror(ret), diag_first(s->fx.diag));
	}
	ck_assert_uint_eq(st.imported, 99);
	ck_assert_msg(object_count(b) == 2, "%s: %lu objects left on the token", what,
		      (unsigned long)object_count(b));
	ck_assert_uint_eq(hsm_token_key_count(b), 0);
	hsm_token_close(b);
}

START_TEST(archive_refusals)
{
	struct two_sites s;
	sites_setup(&s);
	uint8_t *arch = NULL;
	size_t len = 0;
	export_from_a(&s, &arch, &len);
	uint8_t *copy = malloc(len);
	ck_assert_ptr_nonnull(copy);

	/* truncated anywhere */
	for (size_t n = 0; n < len; n += (n < 64 || len - n < 64) ? 1 : 97) {
		import_refused(&s, arch, n, 0, "truncated");
	}
	/* one bit flipped anywhere */
	for (size_t i = 0; i < len; i += (i < 64 || len - i < 64) ? 1 : 41) {
		memcpy(copy, arch, len);
		copy[i] ^= 0x04;
		import_refused(&s, copy, len, 0, "flipped");
	}
	/* a flip inside a wrapped key is caught by the MAC, with a clear message */
	memcpy(copy, arch, len);
	copy[len / 2] ^= 0x01;
	import_refused(&s, copy, len, TANDEM_ARCHIVE_ETAMPER, "flipped in the middle");
	ck_assert(diag_has(s.fx.diag, "altered") || diag_has(s.fx.diag, "tampered"));
	/* an unknown version */
	Tandem__Archive *a = tandem__archive__unpack(NULL, len, arch);
	ck_assert_ptr_nonnull(a);
	a->version = 2;
	uint8_t *v2 = malloc(tandem__archive__get_packed_size(a));
	size_t v2_len = tandem__archive__pack(a, v2);
	import_refused(&s, v2, v2_len, TANDEM_ARCHIVE_EVERSION, "version 2");
	free(v2);
	tandem__archive__free_unpacked(a, NULL);
	free(copy);

	/* an archive from another SMK: token C with another ceremony's keys */
	token_add_known(&s.fx, "siteC", "so-pin-of-site-c");
	archive_keys_t other;
	keys_random(&other);
	ck_assert_int_eq(install(&s.fx, "siteC", "so-pin-of-site-c", 16, &other), TANDEM_OK);
	hsm_token_t *c = open_token(&s.fx, "siteC");
	gen(c, "zsk-c", HSM_ALG_RSASHA256, 1024, s.fx.diag);
	uint8_t *arch_c = NULL;
	size_t len_c = 0, count = 0;
	ck_assert_int_eq(archive_export(c, 1790000000, s.fx.diag, &arch_c, &len_c, &count),
			 TANDEM_OK);
	hsm_token_close(c);
	import_refused(&s, arch_c, len_c, TANDEM_ARCHIVE_ETAMPER, "another SMK");
	ck_assert(diag_has(s.fx.diag, "another SMK"));
	free(arch_c);
	archive_keys_wipe(&other);
	free(arch);
	sites_teardown(&s);
}
END_TEST

/* An archive whose MAC is right (made here with the ceremony's MAC key) but whose second key
 * fails its proof: the first key, already unwrapped, must not stay behind. */
START_TEST(archive_failure_midway_leaves_nothing)
{
	struct two_sites s;
	sites_setup(&s);
	uint8_t *arch = NULL;
	size_t len = 0;
	export_from_a(&s, &arch, &len);
	Tandem__Archive *a = tandem__archive__unpack(NULL, len, arch);
	ck_assert_ptr_nonnull(a);
	Tandem__ArchivePayload *p =
	    tandem__archive_payload__unpack(NULL, a->payload.len, a->payload.data);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(p->n_keys, 3);
	/* The ECDSA key first, so it is staged before the failure; then two RSA keys with
	 * their wrapped blobs swapped: each unwraps to the other's private key. */
	for (size_t i = 0; i < p->n_keys; i++) {
		if (p->keys[i]->algorithm == HSM_ALG_ECDSAP256SHA256) {
			Tandem__ArchiveKey *t = p->keys[0];
			p->keys[0] = p->keys[i];
			p->keys[i] = t;
		}
	}
	size_t r1 = 0, r2 = 0, found = 0;
	for (size_t i = 0; i < p->n_keys; i++) {
		if (p->keys[i]->algorithm == HSM_ALG_RSASHA256 ||
		    p->keys[i]->algorithm == HSM_ALG_RSASHA512) {
			*(found++ == 0 ? &r1 : &r2) = i;
		}
	}
	ck_assert_uint_eq(found, 2);
	ProtobufCBinaryData tmp = p->keys[r1]->wrapped;
	p->keys[r1]->wrapped = p->keys[r2]->wrapped;
	p->keys[r2]->wrapped = tmp;
	size_t plen = tandem__archive_payload__get_packed_size(p);
	uint8_t *pbuf = malloc(plen);
	tandem__archive_payload__pack(p, pbuf);
	/* the MAC, in software, with the ceremony's MAC key */
	uint8_t *macin = malloc(17 + plen), mac[32];
	memcpy(macin, "tandem-archive-v1", 17);
	memcpy(macin + 17, pbuf, plen);
	unsigned ml = 0;
	HMAC(EVP_sha256(), s.keys.mac, 32, macin, 17 + plen, mac, &ml);
	Tandem__Archive forged = TANDEM__ARCHIVE__INIT;
	forged.version = 1;
	forged.payload = (ProtobufCBinaryData){plen, pbuf};
	forged.mac = (ProtobufCBinaryData){32, mac};
	uint8_t *fbuf = malloc(tandem__archive__get_packed_size(&forged));
	size_t flen = tandem__archive__pack(&forged, fbuf);
	import_refused(&s, fbuf, flen, 0, "swapped wrapped keys");
	ck_assert(diag_has(s.fx.diag, "does not match") || diag_has(s.fx.diag, "does not verify"));
	free(fbuf);
	free(macin);
	free(pbuf);
	tandem__archive_payload__free_unpacked(p, NULL);
	tandem__archive__free_unpacked(a, NULL);
	free(arch);
	sites_teardown(&s);
}
END_TEST

/* The same label on B with another key: a conflict, nothing imported. */
START_TEST(archive_conflicting_label)
{
	struct two_sites s;
	sites_setup(&s);
	uint8_t *arch = NULL;
	size_t len = 0;
	export_from_a(&s, &arch, &len);
	hsm_token_t *b = open_token(&s.fx, "siteB");
	gen(b, "zsk-10", HSM_ALG_RSASHA512, 1024, s.fx.diag);
	CK_ULONG before = object_count(b);
	archive_import_stats_t st;
	tandem_diag_clear(s.fx.diag);
	ck_assert_int_eq(archive_import(b, arch, len, s.fx.diag, &st), TANDEM_ARCHIVE_ECONFLICT);
	ck_assert(diag_has(s.fx.diag, "different key"));
	ck_assert_uint_eq(object_count(b), before);
	hsm_token_close(b);
	free(arch);
	sites_teardown(&s);
}
END_TEST

/* Metadata the key state would give: role, state, times and the DNSKEY it records. */
static archive_key_meta_t meta_for(const hsm_key_t *k, archive_role_t role, const char *state,
				   uint64_t t, uint8_t *rdata, size_t *rdata_len)
{
	ck_assert_int_eq(
	    hsm_key_dnskey_rdata(k, role == ARCHIVE_ROLE_KSK ? 257 : 256, rdata, rdata_len),
	    TANDEM_OK);
	return (archive_key_meta_t){.label = hsm_key_label(k),
				    .role = role,
				    .state = state,
				    .created = t,
				    .published = t + 1,
				    .active = t + 2,
				    .dnskey = rdata,
				    .dnskey_len = *rdata_len};
}

/* C_FindObjectsInit calls through a token whose function list was swapped for counting. */
static CK_FUNCTION_LIST counting_fl;
static CK_C_FindObjectsInit real_find_init;
static unsigned find_inits;

static CK_RV counting_find_init(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	find_inits++;
	return real_find_init(s, tmpl, n);
}

/* One key exported from A and imported into B, both steps checked. */
static void key_across(struct two_sites *s, hsm_token_t *a, hsm_token_t *b, const hsm_key_t *k)
{
	uint8_t rd[HSM_DNSKEY_MAX];
	size_t rl = 0;
	archive_key_meta_t m = meta_for(k, ARCHIVE_ROLE_ZSK, "active", 1790000000, rd, &rl);
	uint8_t *arch = NULL;
	size_t len = 0;
	int ret = archive_export_keys(a, &m, 1, 1790000000, s->fx.diag, &arch, &len);
	ck_assert_msg(ret == TANDEM_OK, "export: %s", diag_first(s->fx.diag));
	archive_import_stats_t st;
	ret = archive_import(b, arch, len, s->fx.diag, &st);
	ck_assert_msg(ret == TANDEM_OK, "import: %s", diag_first(s->fx.diag));
	ck_assert_uint_eq(st.imported, 1);
	archive_import_stats_deinit(&st);
	free(arch);
}

/*
 * The key path searches the token only for the first key: the SMK and MAC key handles, the
 * check value and the taken labels and ids (key list and names) are kept by the token (a search
 * reads every object of a SoftHSM file store: at 3,000 objects, about a second per key). A cached
 * handle the HSM calls invalid is found again at the next call.
 */
START_TEST(archive_key_path_searches_once)
{
	struct two_sites s;
	sites_setup(&s);
	hsm_token_t *a = open_token(&s.fx, "siteA");
	hsm_token_t *b = open_token(&s.fx, "siteB");
	CK_FUNCTION_LIST *real = a->fl;
	counting_fl = *real;
	real_find_init = real->C_FindObjectsInit;
	counting_fl.C_FindObjectsInit = counting_find_init;
	a->fl = b->fl = &counting_fl;

	key_across(&s, a, b, gen(a, "zsk-first", HSM_ALG_ECDSAP256SHA256, 256, s.fx.diag));
	ck_assert_uint_gt(find_inits, 0); /* the first key finds the SMK and MAC key */
	find_inits = 0;
	const hsm_key_t *k2 = gen(a, "zsk-second", HSM_ALG_ECDSAP256SHA256, 256, s.fx.diag);
	key_across(&s, a, b, k2);
	ck_assert_uint_eq(find_inits, 0); /* made, exported and imported without a search */
	/* the names the token holds beside its keys are still refused, without a search */
	hsm_uri_t *u = NULL;
	ck_assert_int_eq(hsm_uri_parse("pkcs11:object=" HSM_SMK_LABEL, NULL, &u), TANDEM_OK);
	hsm_keyspec_t spec = {.algorithm = HSM_ALG_ECDSAP256SHA256};
	const hsm_key_t *dup = NULL;
	ck_assert_int_eq(hsm_token_generate_key(a, u, &spec, s.fx.diag, &dup), TANDEM_EEXIST);
	hsm_uri_free(u);
	ck_assert_int_eq(hsm_uri_parse("pkcs11:object=zsk-first", NULL, &u), TANDEM_OK);
	ck_assert_int_eq(hsm_token_generate_key(b, u, &spec, s.fx.diag, &dup), TANDEM_EEXIST);
	hsm_uri_free(u);
	ck_assert_uint_eq(find_inits, 0);

	/* a stale SMK handle: the wrap fails once, then the SMK is found again */
	a->smk = 0x7ffffff0;
	uint8_t *w = NULL;
	size_t wl = 0;
	ck_assert_int_eq(hsm_smk_wrap(a, k2, s.fx.diag, &w, &wl), TANDEM_HSM_EP11);
	ck_assert_int_eq(hsm_smk_wrap(a, k2, s.fx.diag, &w, &wl), TANDEM_OK);
	ck_assert_uint_gt(wl, 0);
	free(w);
	/* and a check value that no longer computes is not served from memory */
	uint8_t cv[HSM_SMK_CHECK_LEN], cv2[HSM_SMK_CHECK_LEN];
	ck_assert_int_eq(hsm_smk_check(a, s.fx.diag, cv), TANDEM_OK);
	a->mac_key = 0x7ffffff0;
	ck_assert_int_eq(hsm_smk_check_fresh(a, s.fx.diag, cv2), TANDEM_HSM_EP11);
	ck_assert_int_eq(hsm_smk_check(a, s.fx.diag, cv2), TANDEM_OK);
	ck_assert_mem_eq(cv, cv2, sizeof(cv));

	a->fl = b->fl = real;
	hsm_token_close(a);
	hsm_token_close(b);
	sites_teardown(&s);
}
END_TEST

/* With the key state: exactly the listed keys, with role, state, times and the KSK's real
 * (flags 257) key tag; a listed key the token lacks or holds differently is refused. */
START_TEST(archive_with_state)
{
	struct two_sites s;
	sites_setup(&s);
	hsm_token_t *a = open_token(&s.fx, "siteA");
	const hsm_key_t *ksk = gen(a, "example-ksk-1", HSM_ALG_RSASHA256, 2048, s.fx.diag);
	const hsm_key_t *zsk = gen(a, "example-zsk-2", HSM_ALG_RSASHA256, 1024, s.fx.diag);
	gen(a, "stray", HSM_ALG_RSASHA256, 1024, s.fx.diag);
	uint8_t rk[HSM_DNSKEY_MAX], rz[HSM_DNSKEY_MAX];
	size_t lk = 0, lz = 0;
	archive_key_meta_t meta[3] = {
	    meta_for(ksk, ARCHIVE_ROLE_KSK, "active", 1790000000, rk, &lk),
	    meta_for(zsk, ARCHIVE_ROLE_ZSK, "published", 1790000100, rz, &lz),
	};
	meta[1].active = 0;
	uint16_t tag_ksk = hsm_key_tag(ksk, 257), tag_zsk = hsm_key_tag(zsk, 256);
	ck_assert_uint_ne(tag_ksk, hsm_key_tag(ksk, 256));

	/* refusals first, nothing written */
	uint8_t *arch = NULL;
	size_t len = 0;
	meta[2] = (archive_key_meta_t){.label = "example-zsk-9", .role = ARCHIVE_ROLE_ZSK};
	tandem_diag_clear(s.fx.diag);
	ck_assert_int_eq(archive_export_keys(a, meta, 3, 1790000000, s.fx.diag, &arch, &len),
			 TANDEM_HSM_EKEY);
	ck_assert(diag_has(s.fx.diag, "example-zsk-9"));
	ck_assert_ptr_null(arch);
	meta[2] = meta[0];
	ck_assert_int_eq(archive_export_keys(a, meta, 3, 1790000000, s.fx.diag, &arch, &len),
			 TANDEM_EINVAL);
	archive_key_meta_t wrong = meta[0];
	wrong.dnskey = rz; /* the ZSK's public key under the KSK's label */
	wrong.dnskey_len = lz;
	tandem_diag_clear(s.fx.diag);
	ck_assert_int_eq(archive_export_keys(a, &wrong, 1, 1790000000, s.fx.diag, &arch, &len),
			 TANDEM_ARCHIVE_ECONFLICT);
	ck_assert(diag_has(s.fx.diag, "example-ksk-1"));
	ck_assert_int_eq(archive_export_keys(a, meta, 0, 1790000000, s.fx.diag, &arch, &len),
			 TANDEM_EINVAL);
	ck_assert_ptr_null(arch);

	int ret = archive_export_keys(a, meta, 2, 1790000200, s.fx.diag, &arch, &len);
	ck_assert_msg(ret == TANDEM_OK, "export: %s", diag_first(s.fx.diag));
	hsm_token_close(a);

	hsm_token_t *b = open_token(&s.fx, "siteB");
	archive_import_stats_t st;
	ret = archive_import(b, arch, len, s.fx.diag, &st);
	ck_assert_msg(ret == TANDEM_OK, "import: %s", diag_first(s.fx.diag));
	ck_assert_uint_eq(st.imported, 2);
	ck_assert_uint_eq(st.nkeys, 2);
	ck_assert_uint_eq(hsm_token_key_count(b), 2); /* "stray" stayed at home */
	const archive_key_info_t *k = &st.keys[0], *z = &st.keys[1];
	ck_assert_str_eq(k->label, "example-ksk-1");
	ck_assert_int_eq(k->role, ARCHIVE_ROLE_KSK);
	ck_assert_str_eq(k->state, "active");
	ck_assert_uint_eq(k->created, 1790000000);
	ck_assert_uint_eq(k->published, 1790000001);
	ck_assert_uint_eq(k->active, 1790000002);
	ck_assert_uint_eq(k->retired, 0);
	ck_assert_uint_eq(k->key_tag, tag_ksk);
	ck_assert_uint_eq(k->dnskey_len, lk);
	ck_assert_mem_eq(k->dnskey, rk, lk); /* flags 257 */
	ck_assert_uint_eq(k->algorithm, HSM_ALG_RSASHA256);
	ck_assert_uint_eq(k->bits, 2048);
	ck_assert_str_eq(z->label, "example-zsk-2");
	ck_assert_int_eq(z->role, ARCHIVE_ROLE_ZSK);
	ck_assert_str_eq(z->state, "published");
	ck_assert_uint_eq(z->active, 0);
	ck_assert_uint_eq(z->key_tag, tag_zsk);
	ck_assert_str_eq(archive_role_str(k->role), "ksk");
	ck_assert_str_eq(archive_role_str(ARCHIVE_ROLE_UNKNOWN), "unknown");
	archive_import_stats_deinit(&st);
	hsm_token_close(b);
	free(arch);
	sites_teardown(&s);
}
END_TEST

/* An authentic archive (MAC made with the ceremony's key) whose KSK carries flags 256 is
 * malformed: role and DNSKEY must agree. */
START_TEST(archive_role_flags_must_agree)
{
	struct two_sites s;
	sites_setup(&s);
	uint8_t *arch = NULL;
	size_t len = 0;
	export_from_a(&s, &arch, &len);
	Tandem__Archive *a = tandem__archive__unpack(NULL, len, arch);
	ck_assert_ptr_nonnull(a);
	Tandem__ArchivePayload *p =
	    tandem__archive_payload__unpack(NULL, a->payload.len, a->payload.data);
	ck_assert_ptr_nonnull(p);
	p->keys[0]->role = TANDEM__ARCHIVE_ROLE__ARCHIVE_ROLE_KSK; /* flags stay 256 */
	size_t plen = tandem__archive_payload__get_packed_size(p);
	uint8_t *pbuf = malloc(plen), *macin = malloc(17 + plen), mac[32];
	tandem__archive_payload__pack(p, pbuf);
	memcpy(macin, "tandem-archive-v1", 17);
	memcpy(macin + 17, pbuf, plen);
	unsigned ml = 0;
	HMAC(EVP_sha256(), s.keys.mac, 32, macin, 17 + plen, mac, &ml);
	Tandem__Archive forged = TANDEM__ARCHIVE__INIT;
	forged.version = 1;
	forged.payload = (ProtobufCBinaryData){plen, pbuf};
	forged.mac = (ProtobufCBinaryData){32, mac};
	uint8_t *fbuf = malloc(tandem__archive__get_packed_size(&forged));
	size_t flen = tandem__archive__pack(&forged, fbuf);
	import_refused(&s, fbuf, flen, TANDEM_ARCHIVE_EFORMAT, "KSK with flags 256");
	ck_assert(diag_has(s.fx.diag, "flags do not match the role"));
	free(fbuf);
	free(macin);
	free(pbuf);
	tandem__archive_payload__free_unpacked(p, NULL);
	tandem__archive__free_unpacked(a, NULL);
	free(arch);
	sites_teardown(&s);
}
END_TEST

static Suite *archive_suite(void)
{
	Suite *s = suite_create("archive");
	TCase *tc = tcase_create("shamir");
	tcase_add_loop_test(tc, shamir_all_subsets, 0, 7);
	tcase_add_test(tc, shamir_known_answer);
	tcase_add_test(tc, shamir_255_shares);
	tcase_add_test(tc, shamir_refusals);
	suite_add_tcase(s, tc);

	tc = tcase_create("card");
	tcase_add_test(tc, card_round_trip);
	tcase_add_test(tc, card_wrong_passphrase);
	tcase_add_test(tc, card_every_byte_flipped);
	tcase_add_test(tc, card_truncated);
	tcase_add_test(tc, card_unknown_version);
	suite_add_tcase(s, tc);

	tc = tcase_create("ceremony");
	tcase_add_test(tc, ceremony_every_threshold_subset);
	tcase_add_test(tc, ceremony_refusals);
	suite_add_tcase(s, tc);

	tc = tcase_create("smk");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, smk_install_and_check);
	tcase_add_test(tc, smk_install_refusals_leave_nothing);
	tcase_add_test(tc, wrap_refused_under_untrusted_key);
	suite_add_tcase(s, tc);

	tc = tcase_create("archive");
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, archive_round_trip);
	tcase_add_test(tc, archive_refusals);
	tcase_add_test(tc, archive_failure_midway_leaves_nothing);
	tcase_add_test(tc, archive_conflicting_label);
	tcase_add_test(tc, archive_with_state);
	tcase_add_test(tc, archive_role_flags_must_agree);
	tcase_add_test(tc, archive_key_path_searches_once);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(archive_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
