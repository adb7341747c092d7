/* Known-answer tests of the crypto module: RFC key tags, DS, signatures, NSEC3 hashes, base32hex.
 */
#include "crypto.h"
#include "tandem_error.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

/* Base64 to bytes; returns the length. */
static size_t b64(const char *text, uint8_t *out)
{
	size_t len = strlen(text);
	int n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)len);
	ck_assert_int_ge(n, 0);
	while (len > 0 && text[len - 1] == '=') {
		len--;
		n--;
	}
	return (size_t)n;
}

static size_t hex(const char *text, uint8_t *out)
{
	size_t n = 0;
	for (; text[0] && text[1]; text += 2) {
		unsigned v;
		ck_assert_int_eq(sscanf(text, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
	}
	return n;
}

/* DNSKEY RDATA from flags, algorithm and the base64 key. */
static size_t dnskey(uint16_t flags, uint8_t alg, const char *key, uint8_t *out)
{
	out[0] = (uint8_t)(flags >> 8);
	out[1] = (uint8_t)flags;
	out[2] = 3;
	out[3] = alg;
	return 4 + b64(key, out + 4);
}

static size_t wire_name(const char *text, uint8_t *out)
{
	size_t n = 0;
	while (*text) {
		const char *dot = strchr(text, '.');
		size_t l = dot ? (size_t)(dot - text) : strlen(text);
		out[n++] = (uint8_t)l;
		memcpy(out + n, text, l);
		n += l;
		text += l + (dot ? 1 : 0);
	}
	out[n++] = 0;
	return n;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* RFC 4034 3.1.8.1 signed data for "www.example.net. 3600 IN A addr". */
static size_t signed_data(uint8_t alg, uint32_t exp, uint32_t inc, uint16_t tag, uint8_t last,
			  uint8_t *out)
{
	size_t n = 0;
	put16(out, 1); /* type covered A */
	out[2] = alg;
	out[3] = 3;
	put32(out + 4, 3600);
	put32(out + 8, exp);
	put32(out + 12, inc);
	put16(out + 16, tag);
	n = 18 + wire_name("example.net", out + 18);
	n += wire_name("www.example.net", out + n);
	put16(out + n, 1);
	put16(out + n + 2, 1);
	put32(out + n + 4, 3600);
	put16(out + n + 8, 4);
	n += 10;
	out[n++] = 192;
	out[n++] = 0;
	out[n++] = 2;
	out[n++] = last;
	return n;
}

struct sig_case {
	const char *what;
	uint8_t alg;
	uint16_t flags, tag;
	const char *key;
	uint32_t exp, inc;
	uint8_t last;
	const char *sig;
};

/* RFC 5702 section 6 and RFC 6605 section 6 examples. */
static const struct sig_case sig_cases[] = {
    {"RFC 5702 RSASHA256", 8, 256, 9033,
     "AwEAAcFcGsaxxdgiuuGmCkVImy4h99CqT7jwY3pexPGcnUFtR2Fh36BponcwtkZ4cAgtvd4Qs8PkxUdp6p/DlUmObdk=",
     1893456000, 946684800, 91,
     "kRCOH6u7l0QGy9qpC9l1sLncJcOKFLJ7GhiUOibu4teYp5VE9RncriShZNz85mwlMgNEacFYK/lPtPiVYP4bwg=="},
    {"RFC 5702 RSASHA512", 10, 256, 3740,
     "AwEAAdHoNTOW+et86KuJOWRDp1pndvwb6Y83nSVXXyLA3DLroROUkN6X0O6pnWnjJQujX/AyhqFDxj13tOnD9u/"
     "1kTg7cV6rklMrZDtJCQ5PCl/D7QNPsgVsMu1J2Q8gpMpztNFLpPBz1bWXjDtaR7ZQBlZ3PFY12ZTSncorffcGmhOL",
     1893456000, 946684800, 91,
     "tsb4wnjRUDnB1BUi+t6TMTXThjVnG+eCkWqjvvjhzQL1d0YRoOe0CbxrVDYd0xDtsuJRaeUw1ep94PzEWzr0iGYgZBWm/"
     "zpq+9fOuagYJRfDqfReKBzMweOLDiNa8iP5g9vMhpuv6OPlvpXwm9Sa9ZXIbNl1MBGk0fthPgxdDLw="},
    {"RFC 6605 ECDSAP256SHA256", 13, 257, 55648,
     "GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edbkrSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA==",
     1284026679, 1281607479, 1,
     "qx6wLYqmh+l9oCKTN6qIc+bw6ya+KJ8oMz0YP107epXAyGmt+3SNruPFKG7tZoLBLlUzGGus7ZwmwWep666VCw=="},
    {"RFC 6605 ECDSAP384SHA384", 14, 257, 10771,
     "xKYaNhWdGOfJ+nPrL8/arkwf2EY3MDJ+SErKivBVSum1w/egsXvSADtNJhyem5RCOpgQ6K8X1DRSEkrbYQ+OB+v8/"
     "uX45NBwY8rp65F6Glur8I/mlVNgF6W/qTI37m40",
     1284027625, 1281608425, 1,
     "/L5hDKIvGDyI1fcARX3z65qrmPsVz73QD1Mr5CEqOiLP95hxQouuroGCeZOvzFaxsT8Glr74hbavRKayJNuydCuzWTSSP"
     "dz7"
     "wnqXL5bdcJzusdnI0RSMROxxwGipWcJm"},
};

START_TEST(test_signatures)
{
	const struct sig_case *c = &sig_cases[_i];
	uint8_t rdata[600], data[200], sig[600];
	size_t rlen = dnskey(c->flags, c->alg, c->key, rdata);
	crypto_pubkey_t *key = NULL;

	ck_assert_int_eq(crypto_key_tag(rdata, rlen), c->tag);
	ck_assert_int_eq(crypto_pubkey_from_dnskey(rdata, rlen, &key), TANDEM_OK);
	ck_assert_int_eq(crypto_pubkey_tag(key), c->tag);
	ck_assert_int_eq(crypto_pubkey_algorithm(key), c->alg);
	ck_assert_int_eq(crypto_pubkey_flags(key), c->flags);
	size_t dlen = signed_data(c->alg, c->exp, c->inc, c->tag, c->last, data);
	size_t slen = b64(c->sig, sig);
	ck_assert_msg(crypto_verify(key, data, dlen, sig, slen) == TANDEM_OK, "%s", c->what);

	/* one flipped bit in the data, then in the signature */
	data[dlen - 1] ^= 1;
	ck_assert_int_eq(crypto_verify(key, data, dlen, sig, slen), TANDEM_CRYPTO_EVERIFY);
	data[dlen - 1] ^= 1;
	sig[slen / 2] ^= 0x10;
	ck_assert_int_eq(crypto_verify(key, data, dlen, sig, slen), TANDEM_CRYPTO_EVERIFY);
	/* a truncated signature */
	sig[slen / 2] ^= 0x10;
	ck_assert_int_eq(crypto_verify(key, data, dlen, sig, slen - 1), TANDEM_CRYPTO_EVERIFY);
	crypto_pubkey_free(key);
}
END_TEST

/* RFC 8032 section 7.1, TEST 1 and TEST 2 (raw Ed25519). */
START_TEST(test_ed25519)
{
	static const struct {
		const char *pub, *msg, *sig;
	} v[] = {
	    {"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
	     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e"
	     "39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
	    {"3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
	     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f"
	     "3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t rdata[100] = {1, 1, 3, 15};
		uint8_t msg[8], sig[64];
		size_t rlen = 4 + hex(v[i].pub, rdata + 4);
		size_t mlen = hex(v[i].msg, msg);
		ck_assert_int_eq(hex(v[i].sig, sig), 64);
		crypto_pubkey_t *key = NULL;
		ck_assert_int_eq(crypto_pubkey_from_dnskey(rdata, rlen, &key), TANDEM_OK);
		ck_assert_int_eq(crypto_verify(key, msg, mlen, sig, 64), TANDEM_OK);
		sig[3] ^= 1;
		ck_assert_int_eq(crypto_verify(key, msg, mlen, sig, 64), TANDEM_CRYPTO_EVERIFY);
		crypto_pubkey_free(key);
	}
}
END_TEST

START_TEST(test_bad_keys)
{
	uint8_t rdata[600];
	crypto_pubkey_t *key = NULL;
	size_t len;

	/* RSA/SHA-1 (5) is not supported */
	len = dnskey(256, 5,
		     "AwEAAcFcGsaxxdgiuuGmCkVImy4h99CqT7jwY3pexPGcnUFtR2Fh36BponcwtkZ4cAgtvd4Q"
		     "s8PkxUdp6p/DlUmObdk=",
		     rdata);
	ck_assert_int_eq(crypto_pubkey_from_dnskey(rdata, len, &key), TANDEM_CRYPTO_EALG);
	/* ECDSA key of the wrong size, not on the curve, Ed25519 too short */
	len =
	    dnskey(257, 13, "GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edbkrSqQpF64cYbcB7w", rdata);
	ck_assert_int_eq(crypto_pubkey_from_dnskey(rdata, len, &key), TANDEM_CRYPTO_EKEY);
	len =
	    dnskey(257, 13,
		   "AAAAhhXUN/"
		   "u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edbkrSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA==",
		   rdata);
	ck_assert_int_eq(crypto_pubkey_from_dnskey(rdata, len, &key), TANDEM_CRYPTO_EKEY);
	len = dnskey(257, 15, "l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZ", rdata);
	ck_assert_int_eq(crypto_pubkey_from_dnskey(rdata, len, &key), TANDEM_CRYPTO_EKEY);
	/* RSA: exponent runs past the end; protocol not 3 */
	uint8_t rsa[] = {1, 0, 3, 8, 200, 1, 0, 1};
	ck_assert_int_eq(crypto_pubkey_from_dnskey(rsa, sizeof(rsa), &key), TANDEM_CRYPTO_EKEY);
	len = dnskey(257, 15, "l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=", rdata);
	rdata[2] = 2;
	ck_assert_int_eq(crypto_pubkey_from_dnskey(rdata, len, &key), TANDEM_CRYPTO_EKEY);
	ck_assert_ptr_null(key);
	ck_assert_int_eq(crypto_pubkey_from_dnskey(NULL, 0, &key), TANDEM_EINVAL);
}
END_TEST

struct ds_case {
	const char *owner;
	uint16_t flags;
	uint8_t alg, digest_type;
	uint16_t tag;
	const char *key, *digest;
};

/* RFC 4034 5.4, RFC 4509 2.3, RFC 6605 6.1/6.2, RFC 8080 6.1/6.2. */
static const struct ds_case ds_cases[] = {
    {"dskey.example.com", 256, 5, 1, 60485,
     "AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYtsmx3TGkJaNXVbfi/2pHm822aJ5iI9BMzNXxeYCmZDRD99WYwYqUSdjMmmAphX"
     "dvxegXd/M5+X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9XzcnOf+EPbtG9DMBmADjFDc2w/rljwvFw==",
     "2BB183AF5F22588179A53B0A98631FAD1A292118"},
    {"dskey.example.com", 256, 5, 2, 60485,
     "AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYtsmx3TGkJaNXVbfi/2pHm822aJ5iI9BMzNXxeYCmZDRD99WYwYqUSdjMmmAphX"
     "dvxegXd/M5+X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9XzcnOf+EPbtG9DMBmADjFDc2w/rljwvFw==",
     "D4B7D520E7BB5F0F67674A0CCEB1E3E0614B93C4F9E99B8383F6A1E4469DA50A"},
    {"example.net", 257, 13, 2, 55648,
     "GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edbkrSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA==",
     "b4c8c1fe2e7477127b27115656ad6256f424625bf5c1e2770ce6d6e37df61d17"},
    {"example.net", 257, 14, 4, 10771,
     "xKYaNhWdGOfJ+nPrL8/arkwf2EY3MDJ+SErKivBVSum1w/egsXvSADtNJhyem5RCOpgQ6K8X1DRSEkrbYQ+OB+v8/"
     "uX45NBwY8rp65F6Glur8I/mlVNgF6W/qTI37m40",
     "72d7b62976ce06438e9c0bf319013cf801f09ecc84b8d7e9495f27e305c6a9b0563a9b5f4d288405c3008a946d"
     "f983d6"},
    {"example.com", 257, 15, 2, 3613, "l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=",
     "3aa5ab37efce57f737fc1627013fee07bdf241bd10f3b1964ab55c78e79a304b"},
    {"example.com", 257, 15, 2, 35217, "zPnZ/QwEe7S8C5SPz2OfS5RR40ATk2/rYnE9xHIEijs=",
     "401781b934e392de492ec77ae2e15d70f6575a1c0bc59c5275c04ebe80c6614c"},
};

START_TEST(test_ds)
{
	const struct ds_case *c = &ds_cases[_i];
	uint8_t rdata[600], owner[256], expect[60], ds[60];
	size_t rlen = dnskey(c->flags, c->alg, c->key, rdata);
	size_t olen = wire_name(c->owner, owner);
	size_t dlen = 0;

	ck_assert_int_eq(crypto_key_tag(rdata, rlen), c->tag);
	put16(expect, c->tag);
	expect[2] = c->alg;
	expect[3] = c->digest_type;
	size_t elen = 4 + hex(c->digest, expect + 4);
	ck_assert_int_eq(crypto_ds_from_dnskey(owner, olen, rdata, rlen, c->digest_type, ds, &dlen),
			 TANDEM_OK);
	ck_assert_uint_eq(dlen, elen);
	ck_assert_mem_eq(ds, expect, elen);
	ck_assert_int_eq(crypto_ds_from_dnskey(owner, olen, rdata, rlen, 3, ds, &dlen),
			 TANDEM_CRYPTO_EALG);
}
END_TEST

/* RFC 5155 Appendix A: salt aabbccdd, 12 extra iterations. */
START_TEST(test_nsec3_hash)
{
	static const char *const v[][2] = {
	    {"example", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"},
	    {"a.example", "35mthgpgcu1qg68fab165klnsnk3dpvl"},
	    {"ai.example", "gjeqe526plbf1g8mklp59enfd789njgi"},
	    {"ns1.example", "2t7b4g4vsa5smi47k61mv5bv1a22bojr"},
	    {"ns2.example", "q04jkcevqvmu85r014c7dkba38o0ji5r"},
	    {"w.example", "k8udemvp1j2f7eg6jebps17vp3n8i58h"},
	    {"*.w.example", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"},
	    {"x.w.example", "b4um86eghhds6nea196smvmlo4ors995"},
	    {"y.w.example", "ji6neoaepv8b5o6k4ev33abha8ht9fgc"},
	    {"x.y.w.example", "2vptu5timamqttgl4luu9kg21e0aor3s"},
	    {"xx.example", "t644ebqk9bibcna874givr6joj62mlhv"},
	};
	const uint8_t salt[] = {0xaa, 0xbb, 0xcc, 0xdd};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t name[256], h[20];
		char text[40];
		size_t len = wire_name(v[i][0], name);
		ck_assert_int_eq(crypto_nsec3_hash(name, len, salt, sizeof(salt), 12, h),
				 TANDEM_OK);
		ck_assert_uint_eq(crypto_base32hex(h, sizeof(h), text), 32);
		ck_assert_str_eq(text, v[i][1]);
	}
}
END_TEST

/* RFC 4648 section 10, lowercase and without padding. */
START_TEST(test_base32hex)
{
	static const char *const v[][2] = {
	    {"", ""},
	    {"f", "co"},
	    {"fo", "cpng"},
	    {"foo", "cpnmu"},
	    {"foob", "cpnmuog"},
	    {"fooba", "cpnmuoj1"},
	    {"foobar", "cpnmuoj1e8"},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char out[20];
		size_t n = crypto_base32hex((const uint8_t *)v[i][0], strlen(v[i][0]), out);
		ck_assert_uint_eq(n, strlen(v[i][1]));
		ck_assert_str_eq(out, v[i][1]);
	}
}
END_TEST

/* RFC 4034 Appendix B: the example key from section 5.4 has tag 60485. */
START_TEST(test_key_tag)
{
	uint8_t rdata[600];
	size_t len = dnskey(256, 5, ds_cases[0].key, rdata);
	ck_assert_int_eq(crypto_key_tag(rdata, len), 60485);
	/* odd length: the last byte counts as a high byte */
	const uint8_t odd[] = {0x01, 0x02, 0x03};
	ck_assert_int_eq(crypto_key_tag(odd, sizeof(odd)), 0x0402);
}
END_TEST

/* The file digest against the known SHA-256 of "abc" (FIPS 180-2), a 3 MiB file against a
 * one-shot digest (it is read in 1 MiB pieces), and a missing file. */
START_TEST(test_sha256_file)
{
	static const uint8_t abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
					0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
					0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
					0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	char path[] = "/tmp/tandem-sha256-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	FILE *fp = fdopen(fd, "wb");
	ck_assert_ptr_nonnull(fp);
	fputs("abc", fp);
	fclose(fp);
	uint8_t d[32];
	ck_assert_int_eq(crypto_sha256_file(path, d), TANDEM_OK);
	ck_assert_mem_eq(d, abc, 32);

	size_t big = 3u << 20;
	unsigned char *buf = malloc(big + 5);
	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0; i < big + 5; i++) {
		buf[i] = (unsigned char)(i * 7 + 3);
	}
	fp = fopen(path, "wb");
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(buf, 1, big + 5, fp), big + 5);
	fclose(fp);
	uint8_t want[32];
	unsigned int len = 0;
	ck_assert_int_eq(EVP_Digest(buf, big + 5, want, &len, EVP_sha256(), NULL), 1);
	ck_assert_int_eq(crypto_sha256_file(path, d), TANDEM_OK);
	ck_assert_mem_eq(d, want, 32);
	free(buf);
	unlink(path);
	ck_assert_int_eq(crypto_sha256_file(path, d), TANDEM_ENOENT);
}
END_TEST

static Suite *crypto_suite(void)
{
	Suite *s = suite_create("crypto");
	TCase *tc = tcase_create("kat");
	tcase_add_loop_test(tc, test_signatures, 0, sizeof(sig_cases) / sizeof(sig_cases[0]));
	tcase_add_test(tc, test_ed25519);
	tcase_add_test(tc, test_bad_keys);
	tcase_add_loop_test(tc, test_ds, 0, sizeof(ds_cases) / sizeof(ds_cases[0]));
	tcase_add_test(tc, test_nsec3_hash);
	tcase_add_test(tc, test_sha256_file);
	tcase_add_test(tc, test_base32hex);
	tcase_add_test(tc, test_key_tag);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(crypto_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
