/* The gate's own RRSIG check: canonical signed data (RFC 4034 3.1.8.1), validity, keys, OpenSSL. */
#include "verify_internal.h"
#include "tandem_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	RRSIG_FIXED = 18, /* type covered .. key tag */
};

void verify_fail(verify_worker_t *w, const uint8_t *owner, uint16_t type, const char *fmt, ...)
{
	char name[1024], tbuf[16], reason[1400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	dns_name_to_str(owner, name);
	tandem_diag_add(w->ctx->diag, TANDEM_VERIFY_EFAIL, "%s %s: %s", name,
			dns_type_to_str(type, tbuf), reason);
	w->stats.failures++;
}

size_t verify_name_len(const uint8_t *name, size_t max)
{
	size_t n = 0;
	while (n < max) {
		uint8_t l = name[n];
		if (l == 0) {
			return n + 1;
		}
		if (l > 63 || n + 1 + l > DNS_NAME_MAXLEN) {
			return 0;
		}
		n += 1 + (size_t)l;
	}
	return 0;
}

unsigned verify_name_labels(const uint8_t *name)
{
	unsigned n = 0;
	while (*name != 0) {
		name += 1 + *name;
		n++;
	}
	return n;
}

static uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

int verify_name_cmp(const uint8_t *a, const uint8_t *b)
{
	const uint8_t *la[128], *lb[128];
	size_t na = 0, nb = 0;

	for (const uint8_t *p = a; *p != 0 && na < 128; p += 1 + *p) {
		la[na++] = p;
	}
	for (const uint8_t *p = b; *p != 0 && nb < 128; p += 1 + *p) {
		lb[nb++] = p;
	}
	/* from the rightmost label leftwards; a shorter label sorts first on a tie */
	while (na > 0 && nb > 0) {
		const uint8_t *x = la[--na], *y = lb[--nb];
		size_t n = x[0] < y[0] ? x[0] : y[0];
		for (size_t i = 1; i <= n; i++) {
			uint8_t cx = lower(x[i]), cy = lower(y[i]);
			if (cx != cy) {
				return cx < cy ? -1 : 1;
			}
		}
		if (x[0] != y[0]) {
			return x[0] < y[0] ? -1 : 1;
		}
	}
	return (na > nb) - (na < nb);
}

bool verify_rrset_signed(const dns_node_t *node, const dns_rrset_t *rrset)
{
	if (rrset->type == DNS_TYPE_RRSIG) {
		return false;
	}
	if (node->flags & (DNS_NODE_BELOW_CUT | DNS_NODE_OCCLUDED)) {
		return false;
	}
	if (node->flags & DNS_NODE_DELEG) {
		return rrset->type == DNS_TYPE_DS || rrset->type == DNS_TYPE_NSEC;
	}
	return true;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* RFC 1982: a is before b in 32-bit serial arithmetic. */
static bool time_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

/* YYYYMMDDHHmmSS of a 32-bit RRSIG time, placed in the 68-year window around now. */
static void time_str(uint32_t t, uint64_t now, char out[20])
{
	time_t abs = (time_t)((int64_t)now + (int32_t)(t - (uint32_t)now));
	struct tm tm;
	if (gmtime_r(&abs, &tm) == NULL || strftime(out, 20, "%Y%m%d%H%M%S", &tm) == 0) {
		snprintf(out, 20, "%u", t);
	}
}

static bool buf_reserve(verify_worker_t *w, size_t need)
{
	if (need <= w->cap) {
		return true;
	}
	size_t cap = w->cap ? w->cap : 4096;
	while (cap < need) {
		cap *= 2;
	}
	uint8_t *p = realloc(w->buf, cap);
	if (p == NULL) {
		w->rc = TANDEM_ENOMEM;
		return false;
	}
	w->buf = p;
	w->cap = cap;
	return true;
}

static int rdata_cmp(const uint8_t *a, const uint8_t *b)
{
	size_t la = dns_rdata_len(a), lb = dns_rdata_len(b);
	int c = memcmp(a + 2, b + 2, la < lb ? la : lb);
	if (c != 0) {
		return c;
	}
	return (la > lb) - (la < lb);
}

static int rdata_qsort_cmp(const void *a, const void *b)
{
	return rdata_cmp(*(const uint8_t *const *)a, *(const uint8_t *const *)b);
}

/*
 * The RDATAs of rrset in canonical order without duplicates (RFC 4034 6.3);
 * the zone's own order when it already is. Returns the count, 0 on ENOMEM.
 */
static size_t rdata_sorted(verify_worker_t *w, const dns_rrset_t *rrset, const uint8_t ***out)
{
	size_t n = rrset->count;
	bool ordered = true;
	for (size_t i = 1; i < n && ordered; i++) {
		ordered = rdata_cmp(rrset->rdata[i - 1], rrset->rdata[i]) < 0;
	}
	if (ordered) {
		*out = rrset->rdata;
		return n;
	}
	if (w->sorted_cap < n) {
		const uint8_t **p = realloc(w->sorted, n * sizeof(*p));
		if (p == NULL) {
			w->rc = TANDEM_ENOMEM;
			return 0;
		}
		w->sorted = p;
		w->sorted_cap = n;
	}
	memcpy(w->sorted, rrset->rdata, n * sizeof(*w->sorted));
	qsort(w->sorted, n, sizeof(*w->sorted), rdata_qsort_cmp);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (m == 0 || rdata_cmp(w->sorted[m - 1], w->sorted[i]) != 0) {
			w->sorted[m++] = w->sorted[i];
		}
	}
	*out = w->sorted;
	return m;
}

/*
 * Builds the signed data of RFC 4034 3.1.8.1 in w->buf: the RRSIG RDATA
 * without its signature, then every RR in canonical form with the RRSIG's
 * original TTL. A wildcard owner is rebuilt from the labels field.
 */
static bool signed_data_build(verify_worker_t *w, const dns_node_t *node, const dns_rrset_t *rrset,
			      const uint8_t *sig, size_t head_len, unsigned owner_labels,
			      size_t *out_len)
{
	uint8_t owner[DNS_NAME_MAXLEN + 2];
	size_t owner_len;
	const uint8_t *name = node->name;
	unsigned sig_labels = sig[3];

	if (sig_labels < owner_labels) {
		for (unsigned i = 0; i < owner_labels - sig_labels; i++) {
			name += 1 + *name;
		}
		owner[0] = 1;
		owner[1] = '*';
		owner_len = 2 + verify_name_len(name, DNS_NAME_MAXLEN);
		memcpy(owner + 2, name, owner_len - 2);
	} else {
		owner_len = verify_name_len(name, DNS_NAME_MAXLEN);
		memcpy(owner, name, owner_len);
	}
	for (size_t i = 0; i < owner_len; i++) {
		owner[i] = lower(owner[i]);
	}

	const uint8_t **rdata = NULL;
	size_t count = rdata_sorted(w, rrset, &rdata);
	if (count == 0) {
		return false;
	}
	size_t need = head_len;
	for (size_t i = 0; i < count; i++) {
		need += owner_len + 8 + 2 + dns_rdata_len(rdata[i]);
	}
	if (!buf_reserve(w, need)) {
		return false;
	}
	uint8_t *p = w->buf;
	memcpy(p, sig, head_len);
	p += head_len;
	for (size_t i = 0; i < count; i++) {
		memcpy(p, owner, owner_len);
		p += owner_len;
		p[0] = (uint8_t)(rrset->type >> 8);
		p[1] = (uint8_t)rrset->type;
		p[2] = 0;
		p[3] = DNS_CLASS_IN;
		memcpy(p + 4, sig + 4, 4); /* original TTL */
		p += 8;
		size_t len = 2 + (size_t)dns_rdata_len(rdata[i]);
		memcpy(p, rdata[i], len); /* RDLENGTH and RDATA, stored canonical */
		p += len;
	}
	*out_len = (size_t)(p - w->buf);
	return true;
}

static int alg_index(const verify_ctx_t *ctx, uint8_t alg)
{
	for (size_t i = 0; i < ctx->alg_count; i++) {
		if (ctx->algs[i] == alg) {
			return (int)i;
		}
	}
	return -1;
}

/*
 * Checks one RRSIG; on failure writes the reason (after "RRSIG by key N ")
 * into reason and returns false. *key_out is the key that verified.
 */
static bool sig_check(verify_worker_t *w, const dns_node_t *node, const dns_rrset_t *rrset,
		      const uint8_t *rdata, bool reused, char *reason, size_t rsize,
		      const verify_key_t **key_out, bool *unknown_key)
{
	const verify_ctx_t *ctx = w->ctx;
	const uint8_t *sig = dns_rdata_data(rdata);
	size_t len = dns_rdata_len(rdata);
	char when[20], name[1024];

	if (len < RRSIG_FIXED + 1) {
		snprintf(reason, rsize, "is truncated");
		return false;
	}
	size_t signer_len = verify_name_len(sig + RRSIG_FIXED, len - RRSIG_FIXED);
	if (signer_len == 0 || RRSIG_FIXED + signer_len >= len) {
		snprintf(reason, rsize, "is malformed");
		return false;
	}
	size_t head_len = RRSIG_FIXED + signer_len;
	uint16_t covered = (uint16_t)(sig[0] << 8 | sig[1]);
	uint8_t alg = sig[2];
	unsigned labels = sig[3];
	uint32_t ttl = get32(sig + 4), expiration = get32(sig + 8), inception = get32(sig + 12);
	uint16_t tag = (uint16_t)(sig[16] << 8 | sig[17]);
	unsigned owner_labels = verify_name_labels(node->name);
	bool wildcard = node->name[0] == 1 && node->name[1] == '*';
	unsigned expect_labels = owner_labels - (wildcard ? 1 : 0);

	if (covered != rrset->type) {
		snprintf(reason, rsize, "covers type %u", covered);
		return false;
	}
	if (verify_name_cmp(sig + RRSIG_FIXED, ctx->apex) != 0) {
		dns_name_to_str(sig + RRSIG_FIXED, name);
		snprintf(reason, rsize, "has signer name %s, not the apex", name);
		return false;
	}
	if (labels != expect_labels) {
		snprintf(reason, rsize, "has labels %u, expected %u", labels, expect_labels);
		return false;
	}
	if (ttl != rrset->ttl) {
		snprintf(reason, rsize, "has original TTL %u, the RRset's TTL is %u", ttl,
			 rrset->ttl);
		return false;
	}
	if (time_before(ctx->now32, inception)) {
		time_str(inception, ctx->conf->now, when);
		snprintf(reason, rsize, "is not valid before %s", when);
		return false;
	}
	if (time_before(expiration, ctx->now32)) {
		time_str(expiration, ctx->conf->now, when);
		snprintf(reason, rsize, "expired at %s", when);
		return false;
	}
	bool found = false;
	size_t data_len = 0;
	bool built = false;
	/* key tags collide: try every key with this tag and algorithm */
	for (size_t k = 0; k < ctx->key_count; k++) {
		const verify_key_t *key = &ctx->keys[k];
		if (key->tag != tag || key->alg != alg || key->pub == NULL) {
			continue;
		}
		found = true;
		if (reused) {
			/* verified on the identical RRset of the previous version, by a key of
			 * the identical DNSKEY RRset: everything but the crypto is checked */
			*key_out = key;
			return true;
		}
		if (!built) {
			if (!signed_data_build(w, node, rrset, sig, head_len, owner_labels,
					       &data_len)) {
				snprintf(reason, rsize, "cannot be checked: out of memory");
				return false;
			}
			built = true;
		}
		w->stats.verified++;
		if (crypto_verify(key->pub, w->buf, data_len, sig + head_len, len - head_len) ==
		    TANDEM_OK) {
			*key_out = key;
			return true;
		}
	}
	if (!found) {
		*unknown_key = true;
		snprintf(reason, rsize,
			 "(algorithm %u) matches no usable key in the apex DNSKEY RRset", alg);
	} else {
		snprintf(reason, rsize, "does not verify");
	}
	return false;
}

bool verify_rrset_same(const dns_rrset_t *a, const dns_rrset_t *b)
{
	if (a->type != b->type || a->ttl != b->ttl || a->count != b->count) {
		return false;
	}
	for (size_t i = 0; i < a->count; i++) {
		if (a->rdata[i] != b->rdata[i] && rdata_cmp(a->rdata[i], b->rdata[i]) != 0) {
			return false;
		}
	}
	return true;
}

/* Whether sig is byte-identical to one of prev's RRSIGs. */
static bool sig_reused(const dns_rrset_t *prev, const uint8_t *sig)
{
	if (prev == NULL) {
		return false;
	}
	size_t len = 2 + (size_t)dns_rdata_len(sig);
	for (size_t j = 0; j < prev->sig_count; j++) {
		if (dns_rdata_len(prev->sigs[j]) == len - 2 &&
		    memcmp(prev->sigs[j], sig, len) == 0) {
			return true;
		}
	}
	return false;
}

bool verify_rrset_sigs(verify_worker_t *w, const dns_node_t *node, const dns_rrset_t *rrset)
{
	return verify_rrset_sigs_reuse(w, node, rrset, NULL);
}

bool verify_rrset_sigs_reuse(verify_worker_t *w, const dns_node_t *node, const dns_rrset_t *rrset,
			     const dns_rrset_t *prev)
{
	const verify_ctx_t *ctx = w->ctx;
	unsigned ok_algs = 0, seen_algs = 0;
	bool anchor = false;
	char reason[1200];

	w->stats.rrsets++;
	if (rrset->sig_count == 0) {
		verify_fail(w, node->name, rrset->type, "no RRSIG");
		return false;
	}
	for (size_t i = 0; i < rrset->sig_count; i++) {
		const uint8_t *rdata = rrset->sigs[i];
		const verify_key_t *key = NULL;
		w->stats.signatures++;
		int ai = dns_rdata_len(rdata) >= 3 ? alg_index(ctx, dns_rdata_data(rdata)[2]) : -1;
		if (ai >= 0) {
			seen_algs |= 1u << ai;
		}
		bool unknown_key = false;
		bool reused = sig_reused(prev, rdata);
		if (sig_check(w, node, rrset, rdata, reused, reason, sizeof(reason), &key,
			      &unknown_key)) {
			if (ai >= 0) {
				ok_algs |= 1u << ai;
			}
			anchor = anchor || key->anchor;
			continue;
		}
		if (unknown_key && ctx->conf->allow_foreign_rrsigs) {
			continue;
		}
		uint16_t tag =
		    dns_rdata_len(rdata) >= RRSIG_FIXED
			? (uint16_t)(dns_rdata_data(rdata)[16] << 8 | dns_rdata_data(rdata)[17])
			: 0;
		verify_fail(w, node->name, rrset->type, "RRSIG by key %u %s", tag, reason);
	}
	/* RFC 4035 2.2: every algorithm of the DNSKEY RRset signs every RRset */
	for (size_t a = 0; a < ctx->alg_count; a++) {
		if (!(ok_algs & (1u << a)) && !(seen_algs & (1u << a))) {
			verify_fail(w, node->name, rrset->type, "no RRSIG with algorithm %u",
				    ctx->algs[a]);
		}
	}
	return anchor;
}
