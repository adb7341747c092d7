/*
 * Messages written once, straight into wire form: the header and question, answer records
 * with their names compressed against the names already in the message, and the TSIG record
 * that signs the result, its MAC computed with OpenSSL over RFC 8945's digest input (ldns
 * would render every message a second time to sign it).
 */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist_internal.h"
#include "tandem_error.h"

/* The largest offset a compression pointer reaches. */
#define DIST_PTR_MAX 0x3fff
/* Labels in a name: 127 at most in 255 bytes. */
#define DIST_LABELS_MAX 128

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put48(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 6; i++) {
		p[i] = (uint8_t)(v >> (8 * (5 - i)));
	}
}

dist_msg_t *dist_msg_new(void)
{
	return calloc(1, sizeof(dist_msg_t));
}

int dist_msg_start(dist_msg_t *m, uint16_t id, uint8_t opcode, bool rd, uint8_t rcode,
		   const uint8_t *qname, uint16_t qtype, uint16_t qclass)
{
	/* a new generation empties the compression table without touching it */
	if (++m->gen == 0) {
		memset(m->ct, 0, sizeof(m->ct));
		m->gen = 1;
	}
	m->nct = 0;
	m->ancount = 0;
	m->limit = sizeof(m->buf) - DIST_TSIG_ROOM;
	uint8_t *h = m->buf;
	memset(h, 0, 12);
	put16(h, id);
	h[2] = (uint8_t)(0x80 | (opcode & 0x0f) << 3 | 0x04 | (rd ? 0x01 : 0));
	h[3] = rcode & 0x0f;
	m->len = 12;
	if (qname == NULL) {
		return TANDEM_OK;
	}
	size_t qlen = dns_name_len(qname, DNS_NAME_MAXLEN);
	if (qlen == 0) {
		return TANDEM_DNS_EPARSE;
	}
	put16(h + 4, 1);
	/* the question's name is not a compression target: a query may spell it in capitals */
	memcpy(m->buf + m->len, qname, qlen);
	m->len += qlen;
	put16(m->buf + m->len, qtype);
	put16(m->buf + m->len + 2, qclass);
	m->len += 4;
	return TANDEM_OK;
}

/* Where a name (len bytes) already written starts, or 0 (never an offset: the header). */
static uint16_t dist_ct_find(const dist_msg_t *m, uint32_t hash, const uint8_t *name, size_t len)
{
	for (size_t i = hash & (DIST_CT_SLOTS - 1);; i = (i + 1) & (DIST_CT_SLOTS - 1)) {
		const dist_ct_ent_t *e = &m->ct[i];
		if (e->gen != m->gen) {
			return 0;
		}
		if (e->hash == hash && e->len == len && memcmp(e->name, name, len) == 0) {
			return e->off;
		}
	}
}

static void dist_ct_add(dist_msg_t *m, uint32_t hash, const uint8_t *name, size_t len, size_t off)
{
	if (off > DIST_PTR_MAX || m->nct >= DIST_CT_SLOTS / 4 * 3) {
		return;
	}
	size_t i = hash & (DIST_CT_SLOTS - 1);
	while (m->ct[i].gen == m->gen) {
		i = (i + 1) & (DIST_CT_SLOTS - 1);
	}
	m->ct[i] = (dist_ct_ent_t){
	    .name = name, .hash = hash, .gen = m->gen, .off = (uint16_t)off, .len = (uint8_t)len};
	m->nct++;
}

/*
 * Writes name (len bytes, well formed) at m->len: the labels before its longest suffix
 * already in the message, then a pointer to that suffix (or the root label). Every suffix
 * written out becomes a target. Returns the bytes written (at most len).
 */
static size_t dist_msg_name(dist_msg_t *m, const uint8_t *name, size_t len)
{
	size_t start[DIST_LABELS_MAX];
	uint32_t hash[DIST_LABELS_MAX];
	size_t k = 0;
	for (size_t p = 0; name[p] != 0 && k < DIST_LABELS_MAX; p += (size_t)name[p] + 1) {
		start[k++] = p;
	}
	/* FNV-1a over each suffix, from the root up: one pass over the bytes */
	uint32_t h = 2166136261u;
	for (size_t i = k; i-- > 0;) {
		size_t end = i + 1 < k ? start[i + 1] : len - 1;
		for (size_t j = end; j-- > start[i];) {
			h = (h ^ name[j]) * 16777619u;
		}
		hash[i] = h;
	}
	size_t hit = k;
	uint16_t ptr = 0;
	for (size_t i = 0; i < k; i++) {
		ptr = dist_ct_find(m, hash[i], name + start[i], len - start[i]);
		if (ptr != 0) {
			hit = i;
			break;
		}
	}
	uint8_t *out = m->buf + m->len;
	size_t w = 0;
	for (size_t i = 0; i < hit; i++) {
		dist_ct_add(m, hash[i], name + start[i], len - start[i], m->len + w);
		size_t ll = (size_t)name[start[i]] + 1;
		memcpy(out + w, name + start[i], ll);
		w += ll;
	}
	if (hit < k) {
		out[w++] = (uint8_t)(0xc0 | ptr >> 8);
		out[w++] = (uint8_t)ptr;
	} else {
		out[w++] = 0;
	}
	return w;
}

/*
 * The RDATA of the types RFC 3597 4 lets a server compress (RFC 1035's; the others go out
 * as they are): how many bytes come before the names, how many names, and how many bytes
 * after them; false for the others.
 */
static bool dist_rdata_names(uint16_t type, size_t *pre, int *names, size_t *post)
{
	*pre = 0;
	*post = 0;
	*names = 1;
	switch (type) {
	case DNS_TYPE_NS:
	case DNS_TYPE_CNAME:
	case DNS_TYPE_PTR: return true;
	case DNS_TYPE_MX: *pre = 2; return true;
	case DNS_TYPE_SOA:
		*names = 2;
		*post = 20;
		return true;
	default: return false;
	}
}

int dist_msg_rr(dist_msg_t *m, const uint8_t *owner, uint16_t type, uint16_t rclass, uint32_t ttl,
		const uint8_t *rdata)
{
	size_t olen = dns_name_len(owner, DNS_NAME_MAXLEN);
	if (olen == 0) {
		return TANDEM_DNS_EPARSE;
	}
	size_t rdlen = dns_rdata_len(rdata);
	const uint8_t *rd = dns_rdata_data(rdata);
	/* compression only shrinks: the uncompressed size bounds what is written */
	if (m->len + olen + 10 + rdlen > m->limit) {
		return TANDEM_ERANGE;
	}
	m->len += dist_msg_name(m, owner, olen);
	uint8_t *p = m->buf + m->len;
	put16(p, type);
	put16(p + 2, rclass);
	put32(p + 4, ttl);
	uint8_t *rdlen_at = p + 8;
	m->len += 10;
	size_t rdstart = m->len;
	size_t pre = 0, post = 0;
	int names = 0;
	bool compress = dist_rdata_names(type, &pre, &names, &post);
	/* the names must be well formed and fill the RDATA exactly, else it goes as it is */
	size_t at[2] = {0, 0}, nl[2] = {0, 0};
	size_t pos = pre;
	for (int i = 0; compress && i < names; i++) {
		nl[i] = pos < rdlen ? dns_name_len(rd + pos, rdlen - pos) : 0;
		at[i] = pos;
		pos += nl[i];
		compress = nl[i] != 0;
	}
	if (compress && pos + post == rdlen) {
		memcpy(m->buf + m->len, rd, pre);
		m->len += pre;
		for (int i = 0; i < names; i++) {
			m->len += dist_msg_name(m, rd + at[i], nl[i]);
		}
		memcpy(m->buf + m->len, rd + pos, post);
		m->len += post;
	} else {
		memcpy(m->buf + m->len, rd, rdlen);
		m->len += rdlen;
	}
	put16(rdlen_at, (uint16_t)(m->len - rdstart));
	m->ancount++;
	put16(m->buf + 6, m->ancount);
	return TANDEM_OK;
}

/* The HMAC of the digest input's pieces with key, into out (64 bytes of room). */
static int dist_hmac(const dist_key_t *key, const uint8_t *const *piece, const size_t *plen,
		     size_t n, uint8_t *out, size_t *outlen)
{
	int ret = TANDEM_CRYPTO_ELIB;
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
	char digest[8];
	memcpy(digest, dist_key_is_sha512(key) ? "SHA512" : "SHA256", 7);
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
	    OSSL_PARAM_construct_end(),
	};
	if (ctx == NULL || EVP_MAC_init(ctx, key->raw, key->rawlen, params) != 1) {
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (plen[i] > 0 && EVP_MAC_update(ctx, piece[i], plen[i]) != 1) {
			goto out;
		}
	}
	if (EVP_MAC_final(ctx, out, outlen, 64) == 1) {
		ret = TANDEM_OK;
	}
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return ret;
}

int dist_tsig_sign(uint8_t *buf, size_t *len, size_t cap, const dist_key_t *key, uint16_t fudge,
		   dist_mac_t *mac, bool timers_only, const dist_tsig_err_t *err)
{
	const uint8_t *kname = ldns_rdf_data(key->dname);
	size_t klen = ldns_rdf_size(key->dname);
	const uint8_t *alg = ldns_rdf_data(key->alg_dname);
	size_t alen = ldns_rdf_size(key->alg_dname);
	size_t maclen = dist_key_is_sha512(key) ? 64 : 32;
	size_t olen = err != NULL ? err->other_len : 0;
	if (olen > sizeof(err->other)) {
		return TANDEM_EINVAL;
	}
	size_t need = klen + 10 + alen + 16 + maclen + olen;
	if (*len < 12 || *len + need > cap) {
		return TANDEM_ERANGE;
	}
	uint64_t now = err != NULL ? err->time_signed : (uint64_t)time(NULL);
	/* RFC 8945 4.3.3: the variables (after 4.3.1's prior MAC and the message) */
	uint8_t prior[2];
	put16(prior, (uint16_t)mac->len);
	uint8_t head[6] = {0, 255, 0, 0, 0, 0}; /* class ANY, TTL 0 */
	uint8_t timers[8];
	put48(timers, now);
	put16(timers + 6, fudge);
	uint8_t tail[4 + 6]; /* error, other length, other data */
	put16(tail, err != NULL ? err->error : 0);
	put16(tail + 2, (uint16_t)olen);
	if (olen > 0) {
		memcpy(tail + 4, err->other, olen);
	}
	const uint8_t *piece[8];
	size_t plen[8];
	size_t n = 0;
	if (mac->len > 0) {
		piece[n] = prior;
		plen[n++] = 2;
		piece[n] = mac->b;
		plen[n++] = mac->len;
	}
	piece[n] = buf;
	plen[n++] = *len;
	if (!timers_only) {
		piece[n] = kname;
		plen[n++] = klen;
		piece[n] = head;
		plen[n++] = sizeof(head);
		piece[n] = alg;
		plen[n++] = alen;
	}
	piece[n] = timers;
	plen[n++] = sizeof(timers);
	if (!timers_only) {
		piece[n] = tail;
		plen[n++] = 4 + olen;
	}
	uint8_t out[64];
	size_t outlen = 0;
	int ret = dist_hmac(key, piece, plen, n, out, &outlen);
	if (ret != TANDEM_OK || outlen != maclen) {
		return ret != TANDEM_OK ? ret : TANDEM_CRYPTO_ELIB;
	}
	/* the record: owner, TSIG ANY 0, RDATA (RFC 8945 4.2) */
	uint8_t *p = buf + *len;
	memcpy(p, kname, klen);
	p += klen;
	put16(p, LDNS_RR_TYPE_TSIG);
	put16(p + 2, LDNS_RR_CLASS_ANY);
	put32(p + 4, 0);
	put16(p + 8, (uint16_t)(alen + 16 + maclen + olen));
	p += 10;
	memcpy(p, alg, alen);
	p += alen;
	memcpy(p, timers, sizeof(timers));
	p += sizeof(timers);
	put16(p, (uint16_t)maclen);
	memcpy(p + 2, out, maclen);
	p += 2 + maclen;
	memcpy(p, buf, 2); /* original id: the message's own */
	memcpy(p + 2, tail, 4 + olen);
	p += 6 + olen;
	*len = (size_t)(p - buf);
	put16(buf + 10, (uint16_t)(((buf[10] << 8) | buf[11]) + 1));
	memcpy(mac->b, out, maclen);
	mac->len = maclen;
	return TANDEM_OK;
}

/* Moves *p past the (possibly compressed) name at wire[*p]; false when it runs over len. */
static bool dist_skip_name(const uint8_t *wire, size_t len, size_t *p)
{
	while (*p < len) {
		uint8_t b = wire[*p];
		if (b == 0) {
			(*p)++;
			return true;
		}
		if ((b & 0xC0) == 0xC0) {
			*p += 2;
			return *p <= len;
		}
		if ((b & 0xC0) != 0) {
			return false;
		}
		*p += (size_t)b + 1;
	}
	return false;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

/* TSIG records in a message (any section), or -1 when its sections cannot be walked or a TSIG
 * record is not the message's last record (RFC 8945 5.1: the last of the additional data). */
static int dist_wire_tsig_count(const uint8_t *wire, size_t len)
{
	if (wire == NULL || len < 12) {
		return -1;
	}
	size_t p = 12, rrs = (size_t)get16(wire + 6) + get16(wire + 8) + get16(wire + 10);
	int tsig = 0;
	for (unsigned q = get16(wire + 4); q > 0; q--) {
		if (!dist_skip_name(wire, len, &p) || len - p < 4) {
			return -1;
		}
		p += 4;
	}
	for (; rrs > 0; rrs--) {
		if (!dist_skip_name(wire, len, &p) || len - p < 10) {
			return -1;
		}
		uint16_t type = get16(wire + p), rdlen = get16(wire + p + 8);
		p += 10;
		if (len - p < rdlen) {
			return -1;
		}
		p += rdlen;
		if (type == 250 && rrs != 1) {
			return -1; /* ldns keeps reading past it, and loses it when a later record
				      fails */
		}
		tsig += type == 250;
	}
	return tsig;
}

int dist_wire2pkt(ldns_pkt **out, const uint8_t *wire, size_t len)
{
	int n = dist_wire_tsig_count(wire, len);
	if (out == NULL || n < 0 || n > 1) {
		if (out != NULL) {
			*out = NULL;
		}
		return LDNS_STATUS_ERR;
	}
	return (int)ldns_wire2pkt(out, wire, len);
}

/* Whether n bytes of two wire names are the same, without ASCII case. */
static bool dist_name_caseeq(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t x = a[i] >= 'A' && a[i] <= 'Z' ? (uint8_t)(a[i] + 32) : a[i];
		uint8_t y = b[i] >= 'A' && b[i] <= 'Z' ? (uint8_t)(b[i] + 32) : b[i];
		if (x != y) {
			return false;
		}
	}
	return true;
}

int dist_tsig_verify_after(const uint8_t *wire, size_t len, const dist_key_t *key,
			   const uint8_t *prior, size_t prior_len, const uint8_t *before,
			   size_t before_len)
{
	if (len < 12 || get16(wire + 10) == 0) {
		return TANDEM_CRYPTO_EVERIFY;
	}
	/* the TSIG is the last record: walk to it */
	size_t p = 12, rrs = (size_t)get16(wire + 6) + get16(wire + 8) + get16(wire + 10) - 1;
	for (uint16_t q = get16(wire + 4); q > 0; q--) {
		if (!dist_skip_name(wire, len, &p) || (p += 4) > len) {
			return TANDEM_CRYPTO_EVERIFY;
		}
	}
	for (size_t i = 0; i < rrs; i++) {
		if (!dist_skip_name(wire, len, &p) || p + 10 > len) {
			return TANDEM_CRYPTO_EVERIFY;
		}
		p += 10 + (size_t)get16(wire + p + 8);
	}
	size_t at = p, r = p;
	if (p > len || !dist_skip_name(wire, len, &r) || r + 10 > len ||
	    get16(wire + r) != LDNS_RR_TYPE_TSIG) {
		return TANDEM_CRYPTO_EVERIFY;
	}
	/* the key's name (not compressed, RFC 8945 4.2; without case) */
	const uint8_t *kname = ldns_rdf_data(key->dname);
	size_t klen = ldns_rdf_size(key->dname);
	if (r - at != klen || !dist_name_caseeq(wire + at, kname, klen)) {
		return TANDEM_CRYPTO_EVERIFY;
	}
	size_t rdlen = get16(wire + r + 8), rd = r + 10;
	if (rd + rdlen > len) {
		return TANDEM_CRYPTO_EVERIFY;
	}
	const uint8_t *alg = ldns_rdf_data(key->alg_dname);
	size_t alen = ldns_rdf_size(key->alg_dname);
	size_t maclen = dist_key_is_sha512(key) ? 64 : 32;
	if (rdlen < alen + 16 || !dist_name_caseeq(wire + rd, alg, alen) ||
	    get16(wire + rd + alen + 8) != maclen || rdlen < alen + 16 + maclen) {
		return TANDEM_CRYPTO_EVERIFY;
	}
	const uint8_t *timers = wire + rd + alen; /* time signed (6), fudge (2) */
	const uint8_t *mac = timers + 10;
	const uint8_t *orig_id = mac + maclen;
	/* RFC 8945 5.3.1: prior MAC, the unsigned messages since, this message without its
	 * TSIG (original id, one record less), the timers */
	uint8_t head[12];
	memcpy(head, wire, 12);
	memcpy(head, orig_id, 2);
	put16(head + 10, (uint16_t)(get16(wire + 10) - 1));
	const uint8_t *piece[5] = {prior, before, head, wire + 12, timers};
	size_t plen[5] = {prior_len, before_len, 12, at - 12, 8};
	uint8_t out[64];
	size_t outlen = 0;
	int ret = dist_hmac(key, piece, plen, 5, out, &outlen);
	if (ret != TANDEM_OK) {
		return ret;
	}
	return outlen == maclen && CRYPTO_memcmp(out, mac, maclen) == 0 ? TANDEM_OK
									: TANDEM_CRYPTO_EVERIFY;
}
