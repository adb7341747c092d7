/* The SMK ceremony: a random secret split into sealed cards, and cards combined back into the SMK
 * and the archive MAC key. */
#include "archive.h"
#include "hsm_smk.h"
#include "tandem_error.h"
#include "tandem_file.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

static const char HKDF_SALT[] = "tandem-ceremony-v1";
static const char INFO_SMK[] = "tandem storage master key v1";
static const char INFO_MAC[] = "tandem archive mac key v1";

static int hkdf(const uint8_t secret[ARCHIVE_SECRET_LEN], const char *info, uint8_t out[32])
{
	int ret = TANDEM_CRYPTO_ELIB;
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret,
					      ARCHIVE_SECRET_LEN),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)HKDF_SALT,
					      strlen(HKDF_SALT)),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info)),
	    OSSL_PARAM_construct_end(),
	};
	if (ctx != NULL && EVP_KDF_derive(ctx, out, 32, params) == 1) {
		ret = TANDEM_OK;
	}
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return ret;
}

int archive_keys_derive(const uint8_t secret[ARCHIVE_SECRET_LEN], archive_keys_t *out)
{
	if (secret == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	archive_keys_t k;
	int ret = hkdf(secret, INFO_SMK, k.smk);
	if (ret == TANDEM_OK) {
		ret = hkdf(secret, INFO_MAC, k.mac);
	}
	if (ret == TANDEM_OK) {
		ret = hsm_smk_check_soft(k.smk, k.mac, k.check);
	}
	if (ret == TANDEM_OK) {
		*out = k;
	}
	archive_keys_wipe(&k);
	return ret;
}

void archive_keys_wipe(archive_keys_t *keys)
{
	tandem_wipe(keys, keys != NULL ? sizeof(*keys) : 0);
}

int archive_ceremony_new(unsigned shares, unsigned threshold, unsigned kdf_log2n, uint64_t now,
			 const char *const *passphrases, tandem_diag_t *diag, uint8_t **cards,
			 size_t *card_lens, archive_card_info_t *info)
{
	if (shares == 0 || shares > ARCHIVE_SHARES_MAX || threshold == 0 || threshold > shares ||
	    passphrases == NULL || cards == NULL || card_lens == NULL || info == NULL) {
		return TANDEM_EINVAL;
	}
	for (unsigned i = 0; i < shares; i++) {
		if (passphrases[i] == NULL) {
			return TANDEM_EINVAL;
		}
	}
	int ret = TANDEM_OK;
	uint8_t secret[ARCHIVE_SECRET_LEN];
	archive_keys_t keys;
	uint8_t *ys = calloc(shares, ARCHIVE_SECRET_LEN);
	uint8_t **made = calloc(shares, sizeof(*made));
	size_t *lens = calloc(shares, sizeof(*lens));
	memset(&keys, 0, sizeof(keys));
	if (ys == NULL || made == NULL || lens == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	archive_card_info_t ci = {
	    .shares = shares, .threshold = threshold, .created = now, .kdf_log2n = kdf_log2n};
	if (RAND_bytes(secret, sizeof(secret)) != 1 ||
	    RAND_bytes(ci.ceremony_id, sizeof(ci.ceremony_id)) != 1) {
		ret = TANDEM_CRYPTO_ELIB;
		goto out;
	}
	ret = archive_keys_derive(secret, &keys);
	if (ret != TANDEM_OK) {
		goto out;
	}
	memcpy(ci.check, keys.check, sizeof(ci.check));
	ret = archive_shamir_split(secret, sizeof(secret), shares, threshold, ys);
	if (ret != TANDEM_OK) {
		goto out;
	}
	for (unsigned i = 0; i < shares; i++) {
		ci.number = i + 1;
		ret = archive_card_seal(&ci, ys + (size_t)i * ARCHIVE_SECRET_LEN, passphrases[i],
					strlen(passphrases[i]), diag, &made[i], &lens[i]);
		if (ret != TANDEM_OK) {
			goto out;
		}
	}
	for (unsigned i = 0; i < shares; i++) {
		cards[i] = made[i];
		card_lens[i] = lens[i];
		made[i] = NULL;
	}
	ci.number = 0;
	*info = ci;
out:
	tandem_wipe(secret, sizeof(secret));
	archive_keys_wipe(&keys);
	if (ys != NULL) {
		tandem_wipe(ys, (size_t)shares * ARCHIVE_SECRET_LEN);
		free(ys);
	}
	for (unsigned i = 0; made != NULL && i < shares; i++) {
		free(made[i]);
	}
	free(made);
	free(lens);
	return ret;
}

static void hex16(const uint8_t id[ARCHIVE_CEREMONY_ID_LEN],
		  char out[2 * ARCHIVE_CEREMONY_ID_LEN + 1])
{
	for (size_t i = 0; i < ARCHIVE_CEREMONY_ID_LEN; i++) {
		static const char d[] = "0123456789abcdef";
		out[2 * i] = d[id[i] >> 4];
		out[2 * i + 1] = d[id[i] & 15];
	}
	out[2 * ARCHIVE_CEREMONY_ID_LEN] = '\0';
}

int archive_ceremony_combine(size_t ncards, const uint8_t *const *cards, const size_t *card_lens,
			     const char *const *passphrases, tandem_diag_t *diag,
			     archive_keys_t *keys, archive_card_info_t *info)
{
	if (cards == NULL || card_lens == NULL || passphrases == NULL || keys == NULL ||
	    info == NULL) {
		return TANDEM_EINVAL;
	}
	if (ncards == 0) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_ECARDS, "no cards given");
		return TANDEM_ARCHIVE_ECARDS;
	}
	if (ncards > ARCHIVE_SHARES_MAX) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_ECARDS, "more than %d cards given",
				ARCHIVE_SHARES_MAX);
		return TANDEM_ARCHIVE_ECARDS;
	}
	int ret = TANDEM_OK;
	archive_card_info_t first;
	archive_keys_t k;
	uint8_t secret[ARCHIVE_SECRET_LEN];
	uint8_t xs[ARCHIVE_SHARES_MAX];
	uint8_t *ys = calloc(ncards, ARCHIVE_SECRET_LEN);
	memset(&k, 0, sizeof(k));
	memset(secret, 0, sizeof(secret));
	if (ys == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	/* Every check that needs no passphrase first: cheap, and no card is opened in vain. */
	for (size_t i = 0; i < ncards; i++) {
		archive_card_info_t ci;
		ret = archive_card_peek(cards[i], card_lens[i], diag, &ci);
		if (ret != TANDEM_OK) {
			tandem_diag_add(diag, ret, "card %zu on the command line is refused",
					i + 1);
			goto out;
		}
		if (i == 0) {
			first = ci;
		} else if (memcmp(ci.ceremony_id, first.ceremony_id, sizeof(ci.ceremony_id)) != 0 ||
			   ci.shares != first.shares || ci.threshold != first.threshold ||
			   memcmp(ci.check, first.check, sizeof(ci.check)) != 0) {
			char a[33], b[33];
			hex16(first.ceremony_id, a);
			hex16(ci.ceremony_id, b);
			tandem_diag_add(diag, TANDEM_ARCHIVE_ECARDS,
					"card %u is from another ceremony (%s) than card %u (%s)",
					ci.number, b, first.number, a);
			ret = TANDEM_ARCHIVE_ECARDS;
			goto out;
		}
		for (size_t j = 0; j < i; j++) {
			if (xs[j] == ci.number) {
				tandem_diag_add(diag, TANDEM_ARCHIVE_ECARDS,
						"card %u is given twice", ci.number);
				ret = TANDEM_ARCHIVE_ECARDS;
				goto out;
			}
		}
		xs[i] = (uint8_t)ci.number;
	}
	if (ncards != first.threshold) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_ECARDS,
				"this ceremony needs exactly %u of its %u cards; %zu given%s",
				first.threshold, first.shares, ncards,
				ncards < first.threshold ? " (too few)" : "");
		ret = TANDEM_ARCHIVE_ECARDS;
		goto out;
	}
	for (size_t i = 0; i < ncards; i++) {
		archive_card_info_t ci;
		if (passphrases[i] == NULL) {
			ret = TANDEM_EINVAL;
			goto out;
		}
		ret = archive_card_open(cards[i], card_lens[i], passphrases[i],
					strlen(passphrases[i]), diag, &ci,
					ys + i * ARCHIVE_SECRET_LEN);
		if (ret != TANDEM_OK) {
			goto out;
		}
		/* The bytes were peeked above; the authenticated fields must say the same. */
		if (ci.number != xs[i] ||
		    memcmp(ci.ceremony_id, first.ceremony_id, sizeof(ci.ceremony_id)) != 0) {
			ret = TANDEM_EINTERNAL;
			goto out;
		}
	}
	ret = archive_shamir_combine(xs, ys, (unsigned)ncards, ARCHIVE_SECRET_LEN, secret);
	if (ret == TANDEM_OK) {
		ret = archive_keys_derive(secret, &k);
	}
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (CRYPTO_memcmp(k.check, first.check, sizeof(k.check)) != 0) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_EPASS,
				"the cards open but do not combine to the ceremony's SMK (check "
				"value differs): a card was forged or made at another ceremony");
		ret = TANDEM_ARCHIVE_EPASS;
		goto out;
	}
	*keys = k;
	first.number = 0;
	*info = first;
out:
	archive_keys_wipe(&k);
	tandem_wipe(secret, sizeof(secret));
	if (ys != NULL) {
		tandem_wipe(ys, ncards * ARCHIVE_SECRET_LEN);
		free(ys);
	}
	return ret;
}
