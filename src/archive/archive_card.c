/* SMK share cards: one share sealed with scrypt + AES-256-GCM, the clear fields authenticated. */
#include "archive.h"
#include "card.pb-c.h"
#include "tandem_error.h"
#include "tandem_file.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#define CARD_VERSION 1
#define KDF_SCRYPT   1
#define KDF_R        8
#define KDF_P        1
#define SALT_LEN     16
#define NONCE_LEN    12
#define TAG_LEN      16
#define SEALED_LEN   (ARCHIVE_SECRET_LEN + TAG_LEN)
#define AAD_PREFIX   "tandem-card-v1"
#define AAD_LEN                                                                                    \
	(sizeof(AAD_PREFIX) - 1 + 4 + ARCHIVE_CEREMONY_ID_LEN + 12 + ARCHIVE_CHECK_LEN + 8 + 4 +   \
	 SALT_LEN + 12)

/* The clear fields as the card holds them, checked for range. */
struct card_clear {
	archive_card_info_t info;
	uint8_t salt[SALT_LEN];
	uint8_t nonce[NONCE_LEN];
	unsigned r, p;
};

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

/* The associated data: a fixed layout, so no serializer can change what is authenticated. */
static void card_aad(const struct card_clear *c, uint8_t aad[AAD_LEN])
{
	uint8_t *p = aad;
	memcpy(p, AAD_PREFIX, sizeof(AAD_PREFIX) - 1);
	p += sizeof(AAD_PREFIX) - 1;
	p = put32(p, CARD_VERSION);
	memcpy(p, c->info.ceremony_id, ARCHIVE_CEREMONY_ID_LEN);
	p += ARCHIVE_CEREMONY_ID_LEN;
	p = put32(p, c->info.number);
	p = put32(p, c->info.shares);
	p = put32(p, c->info.threshold);
	memcpy(p, c->info.check, ARCHIVE_CHECK_LEN);
	p += ARCHIVE_CHECK_LEN;
	p = put32(p, (uint32_t)(c->info.created >> 32));
	p = put32(p, (uint32_t)c->info.created);
	p = put32(p, KDF_SCRYPT);
	memcpy(p, c->salt, SALT_LEN);
	p += SALT_LEN;
	p = put32(p, c->info.kdf_log2n);
	p = put32(p, c->r);
	put32(p, c->p);
}

static bool info_valid(const archive_card_info_t *i)
{
	return i->shares >= 1 && i->shares <= ARCHIVE_SHARES_MAX && i->threshold >= 1 &&
	       i->threshold <= i->shares && i->number >= 1 && i->number <= i->shares &&
	       i->kdf_log2n >= ARCHIVE_KDF_MIN && i->kdf_log2n <= ARCHIVE_KDF_MAX;
}

/* scrypt of the passphrase to the 32-byte GCM key. */
static int card_kdf(const char *pass, size_t pass_len, const struct card_clear *c, uint8_t key[32])
{
	uint64_t n = (uint64_t)1 << c->info.kdf_log2n;
	/* OpenSSL wants room for V (128 r N) and B (128 r p); give it a little more. */
	uint64_t maxmem = 128 * (uint64_t)c->r * (n + 2) + 128 * (uint64_t)c->r * c->p + (1u << 20);
	if (EVP_PBE_scrypt(pass, pass_len, c->salt, SALT_LEN, n, c->r, c->p, maxmem, key, 32) !=
	    1) {
		return TANDEM_CRYPTO_ELIB;
	}
	return TANDEM_OK;
}

int archive_card_seal(const archive_card_info_t *info, const uint8_t *share, const char *pass,
		      size_t pass_len, tandem_diag_t *diag, uint8_t **out, size_t *out_len)
{
	if (info == NULL || share == NULL || pass == NULL || out == NULL || out_len == NULL) {
		return TANDEM_EINVAL;
	}
	if (!info_valid(info)) {
		tandem_diag_add(diag, TANDEM_EINVAL,
				"card %u: number, shares, threshold or KDF cost out of range",
				info->number);
		return TANDEM_EINVAL;
	}
	if (pass_len < ARCHIVE_PASSPHRASE_MIN) {
		tandem_diag_add(diag, TANDEM_EINVAL,
				"card %u: a passphrase has at least %d characters", info->number,
				ARCHIVE_PASSPHRASE_MIN);
		return TANDEM_EINVAL;
	}
	int ret = TANDEM_CRYPTO_ELIB;
	uint8_t key[32];
	uint8_t aad[AAD_LEN];
	uint8_t sealed[SEALED_LEN];
	uint8_t *buf = NULL;
	EVP_CIPHER_CTX *ctx = NULL;
	struct card_clear c = {.info = *info, .r = KDF_R, .p = KDF_P};
	if (RAND_bytes(c.salt, SALT_LEN) != 1 || RAND_bytes(c.nonce, NONCE_LEN) != 1) {
		goto out;
	}
	ret = card_kdf(pass, pass_len, &c, key);
	if (ret != TANDEM_OK) {
		goto out;
	}
	ret = TANDEM_CRYPTO_ELIB;
	card_aad(&c, aad);
	int n = 0, fin = 0;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL || EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, c.nonce) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)sizeof(aad)) != 1 ||
	    EVP_EncryptUpdate(ctx, sealed, &n, share, ARCHIVE_SECRET_LEN) != 1 ||
	    EVP_EncryptFinal_ex(ctx, sealed + n, &fin) != 1 || n + fin != ARCHIVE_SECRET_LEN ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, sealed + ARCHIVE_SECRET_LEN) !=
		1) {
		goto out;
	}
	Tandem__CardKdf kdf = TANDEM__CARD_KDF__INIT;
	kdf.algorithm = KDF_SCRYPT;
	kdf.salt = (ProtobufCBinaryData){SALT_LEN, c.salt};
	kdf.log2_n = c.info.kdf_log2n;
	kdf.r = c.r;
	kdf.p = c.p;
	Tandem__Card card = TANDEM__CARD__INIT;
	card.version = CARD_VERSION;
	card.ceremony_id = (ProtobufCBinaryData){ARCHIVE_CEREMONY_ID_LEN, c.info.ceremony_id};
	card.number = c.info.number;
	card.shares = c.info.shares;
	card.threshold = c.info.threshold;
	card.check_value = (ProtobufCBinaryData){ARCHIVE_CHECK_LEN, c.info.check};
	card.created = c.info.created;
	card.kdf = &kdf;
	card.nonce = (ProtobufCBinaryData){NONCE_LEN, c.nonce};
	card.sealed = (ProtobufCBinaryData){SEALED_LEN, sealed};
	size_t len = tandem__card__get_packed_size(&card);
	buf = malloc(len);
	if (buf == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	tandem__card__pack(&card, buf);
	*out = buf;
	*out_len = len;
	buf = NULL;
	ret = TANDEM_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	free(buf);
	tandem_wipe(key, sizeof(key));
	return ret;
}

static bool bin_is(const ProtobufCBinaryData *b, size_t len)
{
	return b->len == len && (len == 0 || b->data != NULL);
}

/* Unpacks and range-checks the clear fields; *sealed points into *msg. */
static int card_parse(const uint8_t *buf, size_t len, tandem_diag_t *diag, Tandem__Card **msg,
		      struct card_clear *c)
{
	if (buf == NULL || len == 0 || len > ARCHIVE_CARD_FILE_MAX) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_EFORMAT, "not a card: %s",
				len == 0 ? "empty" : "too large");
		return TANDEM_ARCHIVE_EFORMAT;
	}
	Tandem__Card *m = tandem__card__unpack(NULL, len, buf);
	if (m == NULL) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_EFORMAT, "not a card, or a truncated one");
		return TANDEM_ARCHIVE_EFORMAT;
	}
	int ret = TANDEM_OK;
	if (m->version != CARD_VERSION) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_EVERSION,
				"card format version %u is not supported (this is %d)", m->version,
				CARD_VERSION);
		ret = TANDEM_ARCHIVE_EVERSION;
		goto out;
	}
	if (!bin_is(&m->ceremony_id, ARCHIVE_CEREMONY_ID_LEN) ||
	    !bin_is(&m->check_value, ARCHIVE_CHECK_LEN) || !bin_is(&m->nonce, NONCE_LEN) ||
	    !bin_is(&m->sealed, SEALED_LEN) || m->kdf == NULL || !bin_is(&m->kdf->salt, SALT_LEN)) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_EFORMAT,
				"card: a field is missing or has the wrong size");
		ret = TANDEM_ARCHIVE_EFORMAT;
		goto out;
	}
	memset(c, 0, sizeof(*c));
	memcpy(c->info.ceremony_id, m->ceremony_id.data, ARCHIVE_CEREMONY_ID_LEN);
	memcpy(c->info.check, m->check_value.data, ARCHIVE_CHECK_LEN);
	memcpy(c->salt, m->kdf->salt.data, SALT_LEN);
	memcpy(c->nonce, m->nonce.data, NONCE_LEN);
	c->info.number = m->number;
	c->info.shares = m->shares;
	c->info.threshold = m->threshold;
	c->info.created = m->created;
	c->info.kdf_log2n = m->kdf->log2_n;
	c->r = m->kdf->r;
	c->p = m->kdf->p;
	if (m->kdf->algorithm != KDF_SCRYPT || c->r < 1 || c->r > 32 || c->p < 1 || c->p > 4 ||
	    !info_valid(&c->info)) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_EFORMAT,
				"card: number, shares, threshold or KDF parameters out of range");
		ret = TANDEM_ARCHIVE_EFORMAT;
		goto out;
	}
	*msg = m;
	m = NULL;
out:
	if (m != NULL) {
		tandem__card__free_unpacked(m, NULL);
	}
	return ret;
}

int archive_card_peek(const uint8_t *buf, size_t len, tandem_diag_t *diag,
		      archive_card_info_t *info)
{
	if (info == NULL) {
		return TANDEM_EINVAL;
	}
	Tandem__Card *m = NULL;
	struct card_clear c;
	int ret = card_parse(buf, len, diag, &m, &c);
	if (ret == TANDEM_OK) {
		*info = c.info;
		tandem__card__free_unpacked(m, NULL);
	}
	return ret;
}

int archive_card_open(const uint8_t *buf, size_t len, const char *pass, size_t pass_len,
		      tandem_diag_t *diag, archive_card_info_t *info, uint8_t *share)
{
	if (pass == NULL || info == NULL || share == NULL) {
		return TANDEM_EINVAL;
	}
	Tandem__Card *m = NULL;
	struct card_clear c;
	uint8_t key[32];
	uint8_t aad[AAD_LEN];
	uint8_t plain[ARCHIVE_SECRET_LEN + 16];
	EVP_CIPHER_CTX *ctx = NULL;
	int ret = card_parse(buf, len, diag, &m, &c);
	if (ret != TANDEM_OK) {
		goto out;
	}
	ret = card_kdf(pass, pass_len, &c, key);
	if (ret != TANDEM_OK) {
		goto out;
	}
	card_aad(&c, aad);
	int n = 0, fin = 0;
	ret = TANDEM_CRYPTO_ELIB;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL || EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, c.nonce) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)sizeof(aad)) != 1 ||
	    EVP_DecryptUpdate(ctx, plain, &n, m->sealed.data, ARCHIVE_SECRET_LEN) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
				m->sealed.data + ARCHIVE_SECRET_LEN) != 1) {
		goto out;
	}
	if (EVP_DecryptFinal_ex(ctx, plain + n, &fin) != 1 || n + fin != ARCHIVE_SECRET_LEN) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_EPASS,
				"card %u: wrong passphrase, or the card was altered",
				c.info.number);
		ret = TANDEM_ARCHIVE_EPASS;
		goto out;
	}
	memcpy(share, plain, ARCHIVE_SECRET_LEN);
	*info = c.info;
	ret = TANDEM_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	tandem_wipe(key, sizeof(key));
	tandem_wipe(plain, sizeof(plain));
	if (m != NULL) {
		tandem__card__free_unpacked(m, NULL);
	}
	return ret;
}
