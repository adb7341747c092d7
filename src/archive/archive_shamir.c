/* Shamir's secret sharing over GF(256), byte by byte, without tables (no secret-dependent
 * memory access). */
#include "archive.h"
#include "tandem_error.h"
#include "tandem_file.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

/* Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1 (the AES field), in constant time. */
static uint8_t gf_mul(uint8_t a, uint8_t b)
{
	uint8_t p = 0;
	for (int i = 0; i < 8; i++) {
		p ^= (uint8_t)(-(b & 1)) & a;
		uint8_t carry = (uint8_t)(-(a >> 7));
		a = (uint8_t)((a << 1) ^ (0x1b & carry));
		b >>= 1;
	}
	return p;
}

/* a^254 = a^-1 for a != 0 (the group of units has order 255). */
static uint8_t gf_inv(uint8_t a)
{
	uint8_t r = 1;
	uint8_t base = a;
	for (unsigned e = 254; e != 0; e >>= 1) {
		if (e & 1) {
			r = gf_mul(r, base);
		}
		base = gf_mul(base, base);
	}
	return r;
}

int archive_shamir_split(const uint8_t *secret, size_t len, unsigned n, unsigned m, uint8_t *ys)
{
	if (secret == NULL || ys == NULL || len == 0 || m == 0 || m > n || n > ARCHIVE_SHARES_MAX) {
		return TANDEM_EINVAL;
	}
	int ret = TANDEM_OK;
	/* coefficients a_1..a_{m-1} of one byte's polynomial; a_0 is the secret byte */
	uint8_t coef[ARCHIVE_SHARES_MAX];
	for (size_t b = 0; b < len; b++) {
		if (m > 1 && RAND_bytes(coef, (int)(m - 1)) != 1) {
			ret = TANDEM_CRYPTO_ELIB;
			goto out;
		}
		for (unsigned i = 0; i < n; i++) {
			uint8_t x = (uint8_t)(i + 1);
			/* Horner: ((a_{m-1} x + a_{m-2}) x + ...) x + a_0 */
			uint8_t y = 0;
			for (unsigned k = m - 1; k >= 1; k--) {
				y = gf_mul((uint8_t)(y ^ coef[k - 1]), x);
			}
			ys[(size_t)i * len + b] = (uint8_t)(y ^ secret[b]);
		}
	}
out:
	tandem_wipe(coef, sizeof(coef));
	if (ret != TANDEM_OK) {
		tandem_wipe(ys, (size_t)n * len);
	}
	return ret;
}

int archive_shamir_combine(const uint8_t *xs, const uint8_t *ys, unsigned m, size_t len,
			   uint8_t *secret)
{
	if (xs == NULL || ys == NULL || secret == NULL || len == 0 || m == 0 ||
	    m > ARCHIVE_SHARES_MAX) {
		return TANDEM_EINVAL;
	}
	for (unsigned i = 0; i < m; i++) {
		if (xs[i] == 0) {
			return TANDEM_EINVAL;
		}
		for (unsigned j = 0; j < i; j++) {
			if (xs[i] == xs[j]) {
				return TANDEM_EINVAL;
			}
		}
	}
	/* Lagrange basis at 0: l_i = prod_{j != i} x_j / (x_j - x_i); minus is xor here. */
	uint8_t l[ARCHIVE_SHARES_MAX];
	for (unsigned i = 0; i < m; i++) {
		uint8_t num = 1, den = 1;
		for (unsigned j = 0; j < m; j++) {
			if (j != i) {
				num = gf_mul(num, xs[j]);
				den = gf_mul(den, (uint8_t)(xs[j] ^ xs[i]));
			}
		}
		l[i] = gf_mul(num, gf_inv(den));
	}
	for (size_t b = 0; b < len; b++) {
		uint8_t s = 0;
		for (unsigned i = 0; i < m; i++) {
			s ^= gf_mul(l[i], ys[(size_t)i * len + b]);
		}
		secret[b] = s;
	}
	return TANDEM_OK;
}
