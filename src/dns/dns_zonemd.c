/* ZONEMD (RFC 8976): the SIMPLE scheme's digest of a zone in memory. */
#include "dns_zonemd.h"
#include "dns_internal.h"
#include "tandem_error.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

size_t dns_zonemd_hash_len(uint8_t hash_alg)
{
	switch (hash_alg) {
	case DNS_ZONEMD_SHA384: return 48;
	case DNS_ZONEMD_SHA512: return 64;
	default: return 0;
	}
}

static int rdata_cmp(const void *a, const void *b)
{
	return dns_rdata_compare(*(const uint8_t *const *)a, *(const uint8_t *const *)b);
}

static bool put_rr(EVP_MD_CTX *ctx, const dns_node_t *n, uint16_t type, uint32_t ttl,
		   const uint8_t *rdata)
{
	uint8_t head[10];
	head[0] = (uint8_t)(type >> 8);
	head[1] = (uint8_t)type;
	head[2] = 0;
	head[3] = DNS_CLASS_IN;
	head[4] = (uint8_t)(ttl >> 24);
	head[5] = (uint8_t)(ttl >> 16);
	head[6] = (uint8_t)(ttl >> 8);
	head[7] = (uint8_t)ttl;
	return EVP_DigestUpdate(ctx, n->name, n->name_len) == 1 &&
	       EVP_DigestUpdate(ctx, head, 8) == 1 &&
	       EVP_DigestUpdate(ctx, rdata, (size_t)dns_rdata_len(rdata) + 2) == 1;
}

/* The RRSIG's type covered (its first two RDATA bytes). */
static uint16_t covered(const uint8_t *sig)
{
	const uint8_t *d = dns_rdata_data(sig);
	return dns_rdata_len(sig) >= 2 ? (uint16_t)((d[0] << 8) | d[1]) : 0;
}

/*
 * One node's records in RFC 8976 3.3.1.1 order: by type, the RRSIGs of every covered type
 * together at type 46, each type's RDATAs in canonical order (stored so; RRSIGs sorted
 * here). At the apex the ZONEMD RRset and the RRSIGs that cover it are left out.
 */
static int put_node(EVP_MD_CTX *ctx, const dns_node_t *n, bool apex, const uint8_t ***sigbuf,
		    size_t *sigcap)
{
	size_t nsig = 0;
	uint32_t sig_ttl = 0;
	for (uint16_t r = 0; r < n->rrset_count; r++) {
		nsig += n->rrsets[r].sig_count;
	}
	if (nsig > *sigcap) {
		const uint8_t **p = realloc(*sigbuf, nsig * sizeof(*p));
		if (p == NULL) {
			return TANDEM_ENOMEM;
		}
		*sigbuf = p;
		*sigcap = nsig;
	}
	size_t k = 0;
	bool sigs_done = nsig == 0;
	for (uint16_t r = 0; r <= n->rrset_count; r++) {
		const dns_rrset_t *rs = r < n->rrset_count ? &n->rrsets[r] : NULL;
		if (!sigs_done && (rs == NULL || rs->type > DNS_TYPE_RRSIG)) {
			/* all RRSIGs of the node: the RRsets are sorted by type, so every one
			 * covering a type below 46 is known; gather those above too */
			k = 0;
			for (uint16_t q = 0; q < n->rrset_count; q++) {
				const dns_rrset_t *s = &n->rrsets[q];
				for (uint16_t i = 0; i < s->sig_count; i++) {
					if (apex && covered(s->sigs[i]) == DNS_TYPE_ZONEMD) {
						continue;
					}
					(*sigbuf)[k++] = s->sigs[i];
				}
			}
			qsort(*sigbuf, k, sizeof(**sigbuf), rdata_cmp);
			for (size_t i = 0; i < k; i++) {
				if (i > 0 &&
				    dns_rdata_compare((*sigbuf)[i - 1], (*sigbuf)[i]) == 0) {
					continue;
				}
				/* an RRSIG's TTL as the zone holds it: its RRset's */
				sig_ttl = 0;
				for (uint16_t q = 0; q < n->rrset_count; q++) {
					if (n->rrsets[q].type == covered((*sigbuf)[i])) {
						sig_ttl = n->rrsets[q].ttl;
						break;
					}
				}
				if (!put_rr(ctx, n, DNS_TYPE_RRSIG, sig_ttl, (*sigbuf)[i])) {
					return TANDEM_ENOMEM;
				}
			}
			sigs_done = true;
		}
		if (rs == NULL) {
			break;
		}
		if (apex && rs->type == DNS_TYPE_ZONEMD) {
			continue;
		}
		for (uint16_t i = 0; i < rs->count; i++) {
			if (!put_rr(ctx, n, rs->type, rs->ttl, rs->rdata[i])) {
				return TANDEM_ENOMEM;
			}
		}
	}
	return TANDEM_OK;
}

int dns_zonemd_compute(dns_zone_t *zone, uint8_t hash_alg, uint8_t *out, size_t *out_len)
{
	const EVP_MD *md = hash_alg == DNS_ZONEMD_SHA384   ? EVP_sha384()
			   : hash_alg == DNS_ZONEMD_SHA512 ? EVP_sha512()
							   : NULL;
	if (zone == NULL || out == NULL || out_len == NULL || md == NULL ||
	    dns_zone_apex(zone) == NULL) {
		return TANDEM_EINVAL;
	}
	size_t count = 0, n3 = 0;
	const dns_node_t *nodes = dns_zone_nodes(zone, &count);
	const dns_node_t *nsec3 = dns_zone_nsec3_nodes(zone, &n3);
	const dns_node_t *apex = dns_zone_apex(zone);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const uint8_t **sigbuf = NULL;
	size_t sigcap = 0;
	int ret = ctx != NULL && EVP_DigestInit_ex(ctx, md, NULL) == 1 ? TANDEM_OK : TANDEM_ENOMEM;
	/* the two arrays are each in canonical order: merge them (NSEC3 owners sort among
	 * the zone's own names) */
	size_t i = 0, j = 0;
	while (ret == TANDEM_OK && (i < count || j < n3)) {
		const dns_node_t *n;
		if (j >= n3 || (i < count && dns_name_compare(nodes[i].name, nsec3[j].name) <= 0)) {
			n = &nodes[i++];
		} else {
			n = &nsec3[j++];
		}
		ret = put_node(ctx, n, n == apex, &sigbuf, &sigcap);
	}
	unsigned int len = 0;
	if (ret == TANDEM_OK && EVP_DigestFinal_ex(ctx, out, &len) != 1) {
		ret = TANDEM_ENOMEM;
	}
	if (ret == TANDEM_OK) {
		*out_len = len;
	}
	free(sigbuf);
	EVP_MD_CTX_free(ctx);
	return ret;
}
