/* The gate's ZONEMD check (RFC 8976 SIMPLE): its own canonical walk, not the signer's. */
#include "verify_internal.h"
#include "tandem_error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* One record of a name: its type, TTL and length-prefixed RDATA. */
typedef struct zrec {
	uint16_t type;
	uint32_t ttl;
	const uint8_t *rdata;
} zrec_t;

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* RFC 8976 3.3.1.1: by type (RRSIG as type 46), then by RDATA (bytes, shorter first). */
static int zrec_cmp(const void *pa, const void *pb)
{
	const zrec_t *a = pa, *b = pb;
	if (a->type != b->type) {
		return a->type < b->type ? -1 : 1;
	}
	uint16_t la = be16(a->rdata), lb = be16(b->rdata);
	int c = memcmp(a->rdata + 2, b->rdata + 2, la < lb ? la : lb);
	return c != 0 ? c : (la > lb) - (la < lb);
}

/* The digest input of one name's records (apex: ZONEMD and its RRSIGs left out). */
static bool hash_node(EVP_MD_CTX *md, const dns_node_t *n, bool apex, zrec_t **buf, size_t *cap)
{
	size_t need = 0;
	for (uint16_t r = 0; r < n->rrset_count; r++) {
		need += (size_t)n->rrsets[r].count + n->rrsets[r].sig_count;
	}
	if (need > *cap) {
		zrec_t *p = realloc(*buf, need * sizeof(*p));
		if (p == NULL) {
			return false;
		}
		*buf = p;
		*cap = need;
	}
	size_t k = 0;
	for (uint16_t r = 0; r < n->rrset_count; r++) {
		const dns_rrset_t *rs = &n->rrsets[r];
		if (apex && rs->type == DNS_TYPE_ZONEMD) {
			continue; /* its RRSIGs hang off it: left out with it */
		}
		for (uint16_t i = 0; i < rs->count; i++) {
			(*buf)[k++] = (zrec_t){rs->type, rs->ttl, rs->rdata[i]};
		}
		for (uint16_t i = 0; i < rs->sig_count; i++) {
			(*buf)[k++] = (zrec_t){DNS_TYPE_RRSIG, rs->ttl, rs->sigs[i]};
		}
	}
	qsort(*buf, k, sizeof(**buf), zrec_cmp);
	size_t nlen = verify_name_len(n->name, DNS_NAME_MAXLEN);
	for (size_t i = 0; i < k; i++) {
		const zrec_t *z = &(*buf)[i];
		if (i > 0 && zrec_cmp(&(*buf)[i - 1], z) == 0) {
			continue; /* a record is digested once */
		}
		uint8_t fixed[8] = {(uint8_t)(z->type >> 8),
				    (uint8_t)z->type,
				    0,
				    1,
				    (uint8_t)(z->ttl >> 24),
				    (uint8_t)(z->ttl >> 16),
				    (uint8_t)(z->ttl >> 8),
				    (uint8_t)z->ttl};
		if (EVP_DigestUpdate(md, n->name, nlen) != 1 ||
		    EVP_DigestUpdate(md, fixed, sizeof(fixed)) != 1 ||
		    EVP_DigestUpdate(md, z->rdata, (size_t)be16(z->rdata) + 2) != 1) {
			return false;
		}
	}
	return true;
}

/* The SIMPLE digest of the zone with md into out (*len bytes). */
static bool zone_digest(const verify_ctx_t *ctx, const EVP_MD *type, uint8_t *out, unsigned *len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	zrec_t *buf = NULL;
	size_t cap = 0;
	bool ok = md != NULL && EVP_DigestInit_ex(md, type, NULL) == 1;
	size_t i = 0, j = 0;
	while (ok && (i < ctx->node_count || j < ctx->n3_count)) {
		bool main = j >= ctx->n3_count ||
			    (i < ctx->node_count &&
			     verify_name_cmp(ctx->nodes[i].name, ctx->n3nodes[j].name) < 0);
		const dns_node_t *n = main ? &ctx->nodes[i++] : &ctx->n3nodes[j++];
		ok = hash_node(md, n, n == ctx->apex_node, &buf, &cap);
	}
	ok = ok && EVP_DigestFinal_ex(md, out, len) == 1;
	free(buf);
	EVP_MD_CTX_free(md);
	return ok;
}

int verify_zonemd(verify_worker_t *w)
{
	const verify_ctx_t *ctx = w->ctx;
	const dns_node_t *apex = ctx->apex_node;
	const dns_rrset_t *zmd = dns_node_rrset(apex, DNS_TYPE_ZONEMD);
	const dns_rrset_t *soa = dns_node_rrset(apex, DNS_TYPE_SOA);
	if (zmd == NULL) {
		return TANDEM_OK;
	}
	if (soa == NULL || soa->count != 1 || be16(soa->rdata[0]) < 20) {
		verify_fail(w, apex->name, DNS_TYPE_ZONEMD,
			    "no usable SOA to compare its serial with");
		return TANDEM_OK;
	}
	const uint8_t *sd = soa->rdata[0] + 2 + be16(soa->rdata[0]) - 20;
	uint32_t serial = be32(sd);
	bool seen[3] = {false, false, false};
	for (uint16_t i = 0; i < zmd->count; i++) {
		const uint8_t *rd = zmd->rdata[i];
		uint16_t len = be16(rd);
		const uint8_t *d = rd + 2;
		if (len < 6 + 12) { /* RFC 8976 2.2.4: a digest is at least 12 octets */
			verify_fail(w, apex->name, DNS_TYPE_ZONEMD,
				    "record %u is too short (%u octets)", i + 1, len);
			continue;
		}
		uint8_t scheme = d[4], hash = d[5];
		const EVP_MD *type = hash == 1 ? EVP_sha384() : hash == 2 ? EVP_sha512() : NULL;
		if (scheme != 1 || type == NULL) {
			continue; /* RFC 8976 4: an unknown scheme or hash is not checked */
		}
		if (seen[hash]) {
			verify_fail(w, apex->name, DNS_TYPE_ZONEMD,
				    "two records with scheme 1 and hash %u (RFC 8976 2.4)", hash);
			continue;
		}
		seen[hash] = true;
		if (be32(d) != serial) {
			verify_fail(w, apex->name, DNS_TYPE_ZONEMD,
				    "serial %u is not the SOA's serial %u", be32(d), serial);
			continue;
		}
		uint8_t digest[EVP_MAX_MD_SIZE];
		unsigned dlen = 0;
		if (!zone_digest(ctx, type, digest, &dlen)) {
			return TANDEM_ENOMEM;
		}
		if (dlen != (unsigned)(len - 6) || CRYPTO_memcmp(digest, d + 6, dlen) != 0) {
			verify_fail(
			    w, apex->name, DNS_TYPE_ZONEMD,
			    "the digest (scheme 1, hash %u) does not match the zone's records",
			    hash);
		}
	}
	return TANDEM_OK;
}
