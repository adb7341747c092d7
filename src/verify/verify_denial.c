/* The gate's own denial-of-existence checks: NSEC chain (RFC 4034/4035) and NSEC3 chain (RFC 5155).
 */
#include "verify_internal.h"
#include "tandem_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	NSEC3_FLAG_OPTOUT = 0x01,
	BITMAP_MAX = 256 * 34,
};

static void typeset_add(verify_typeset_t *ts, uint16_t type)
{
	ts->bits[type >> 8][(type & 0xff) >> 3] |= (uint8_t)(0x80 >> (type & 7));
	ts->used[type >> 8] = 1;
	if ((unsigned)(type >> 8) >= ts->top) {
		ts->top = (unsigned)(type >> 8) + 1;
	}
}

/* Encodes the set as an RFC 4034 4.1.2 type bitmap and clears it; returns the length. */
static size_t typeset_encode_clear(verify_typeset_t *ts, uint8_t *out)
{
	size_t n = 0;
	for (unsigned win = 0; win < ts->top; win++) {
		if (!ts->used[win]) {
			continue;
		}
		unsigned last = 0;
		for (unsigned i = 0; i < 32; i++) {
			if (ts->bits[win][i] != 0) {
				last = i + 1;
			}
		}
		if (last > 0) {
			out[n] = (uint8_t)win;
			out[n + 1] = (uint8_t)last;
			memcpy(out + n + 2, ts->bits[win], last);
			n += 2 + last;
		}
		memset(ts->bits[win], 0, sizeof(ts->bits[win]));
		ts->used[win] = 0;
	}
	ts->top = 0;
	return n;
}

/* "A NS RRSIG" from a type bitmap, for messages. */
static void bitmap_str(const uint8_t *map, size_t len, char *out, size_t size)
{
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i + 2 <= len;) {
		unsigned win = map[i], blen = map[i + 1];
		if (i + 2 + blen > len) {
			snprintf(out + n, size - n, " (malformed)");
			return;
		}
		for (unsigned b = 0; b < blen * 8; b++) {
			if (map[i + 2 + b / 8] & (0x80 >> (b % 8))) {
				char tbuf[16];
				int k = snprintf(out + n, size - n, "%s%s", n ? " " : "",
						 dns_type_to_str((uint16_t)(win << 8 | b), tbuf));
				if (k < 0 || (size_t)k >= size - n) {
					return;
				}
				n += (size_t)k;
			}
		}
		i += 2 + blen;
	}
}

static bool node_has_data(const dns_node_t *node)
{
	for (size_t i = 0; i < node->rrset_count; i++) {
		if (node->rrsets[i].type != DNS_TYPE_RRSIG) {
			return true;
		}
	}
	return false;
}

/* Compares a record's type bitmap with the types expected at node. */
static void bitmap_check(verify_worker_t *w, const uint8_t *owner, uint16_t type,
			 const uint8_t *map, size_t len, const uint8_t *expect, size_t expect_len)
{
	if (len == expect_len && memcmp(map, expect, len) == 0) {
		return;
	}
	char have[512], want[512];
	bitmap_str(map, len, have, sizeof(have));
	bitmap_str(expect, expect_len, want, sizeof(want));
	verify_fail(w, owner, type, "type bitmap {%s} does not match the name's types {%s}", have,
		    want);
}

/* Types a denial record at node must list: its RRsets, plus RRSIG when any is signed. */
static size_t expected_bitmap(verify_worker_t *w, const dns_node_t *node, uint8_t *out)
{
	bool signed_any = false;
	if (node != NULL) {
		for (size_t i = 0; i < node->rrset_count; i++) {
			const dns_rrset_t *rs = &node->rrsets[i];
			if (rs->type == DNS_TYPE_RRSIG) {
				continue;
			}
			typeset_add(&w->types, rs->type);
			signed_any = signed_any || verify_rrset_signed(node, rs);
		}
	}
	if (signed_any) {
		typeset_add(&w->types, DNS_TYPE_RRSIG);
	}
	return typeset_encode_clear(&w->types, out);
}

static bool nsec_needed(const dns_node_t *node)
{
	return !(node->flags & (DNS_NODE_BELOW_CUT | DNS_NODE_OCCLUDED)) && node_has_data(node);
}

void verify_node_nsec(verify_worker_t *w, size_t i)
{
	const verify_ctx_t *ctx = w->ctx;
	const dns_node_t *node = &ctx->nodes[i];
	const dns_rrset_t *nsec = dns_node_rrset(node, DNS_TYPE_NSEC);
	uint8_t expect[BITMAP_MAX];
	char name[1024];

	if (!nsec_needed(node)) {
		if (nsec != NULL) {
			verify_fail(w, node->name, DNS_TYPE_NSEC,
				    "NSEC at glue, occluded data or an empty non-terminal");
		}
		return;
	}
	if (nsec == NULL) {
		verify_fail(w, node->name, DNS_TYPE_NSEC, "no NSEC record");
		return;
	}
	w->stats.denial_records += nsec->count;
	if (nsec->count != 1) {
		verify_fail(w, node->name, DNS_TYPE_NSEC, "%u NSEC records, expected one",
			    nsec->count);
		return;
	}
	const uint8_t *rd = dns_rdata_data(nsec->rdata[0]);
	size_t len = dns_rdata_len(nsec->rdata[0]);
	size_t next_len = verify_name_len(rd, len);
	if (next_len == 0) {
		verify_fail(w, node->name, DNS_TYPE_NSEC, "malformed next owner name");
		return;
	}
	/* the next name that owns an NSEC, or the apex after the last one */
	const uint8_t *want = ctx->apex;
	for (size_t j = i + 1; j < ctx->node_count; j++) {
		if (nsec_needed(&ctx->nodes[j])) {
			want = ctx->nodes[j].name;
			break;
		}
	}
	if (verify_name_cmp(rd, want) != 0) {
		char want_str[1024];
		dns_name_to_str(rd, name);
		dns_name_to_str(want, want_str);
		verify_fail(w, node->name, DNS_TYPE_NSEC, "next name %s, expected %s", name,
			    want_str);
	}
	size_t expect_len = expected_bitmap(w, node, expect);
	bitmap_check(w, node->name, DNS_TYPE_NSEC, rd + next_len, len - next_len, expect,
		     expect_len);
}

static bool hash_push(verify_worker_t *w, const uint8_t *name, const dns_node_t *node,
		      bool required)
{
	const verify_ctx_t *ctx = w->ctx;
	if (w->hash_count == w->hash_cap) {
		size_t cap = w->hash_cap ? 2 * w->hash_cap : 1024;
		verify_hash_t *p = realloc(w->hashes, cap * sizeof(*p));
		if (p == NULL) {
			w->rc = TANDEM_ENOMEM;
			return false;
		}
		w->hashes = p;
		w->hash_cap = cap;
	}
	verify_hash_t *h = &w->hashes[w->hash_count];
	size_t len = verify_name_len(name, DNS_NAME_MAXLEN);
	if (crypto_nsec3_hash(name, len, ctx->salt, ctx->salt_len, ctx->iterations, h->hash) !=
	    TANDEM_OK) {
		w->rc = TANDEM_ENOMEM;
		return false;
	}
	h->name = name;
	h->node = node;
	h->required = required;
	w->hash_count++;
	return true;
}

/* The node named name (binary search over the canonical node array), or NULL. */
static const dns_node_t *node_find(const verify_ctx_t *ctx, const uint8_t *name)
{
	size_t lo = 0, hi = ctx->node_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = verify_name_cmp(ctx->nodes[mid].name, name);
		if (c == 0) {
			return &ctx->nodes[mid];
		}
		if (c < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return NULL;
}

bool verify_hash_removed(verify_worker_t *w, const uint8_t *name)
{
	return hash_push(w, name, NULL, false);
}

/* Whether a name needs an NSEC3 record by the nodes below it (an empty non-terminal): one
 * of them does (RFC 5155 7.1: with opt-out, not when only insecure delegations are below). */
static bool below_required(const verify_ctx_t *ctx, const uint8_t *name)
{
	size_t lo = 0, hi = ctx->node_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (verify_name_cmp(ctx->nodes[mid].name, name) <= 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	/* the names below follow it in canonical order */
	for (size_t k = lo; k < ctx->node_count && dns_name_is_sub(ctx->nodes[k].name, name); k++) {
		const dns_node_t *n = &ctx->nodes[k];
		if ((n->flags & (DNS_NODE_BELOW_CUT | DNS_NODE_OCCLUDED)) || !node_has_data(n)) {
			continue;
		}
		if (!(n->flags & DNS_NODE_DELEG) || dns_node_rrset(n, DNS_TYPE_DS) != NULL) {
			return true;
		}
	}
	return false;
}

void verify_node_nsec3_names(verify_worker_t *w, size_t i)
{
	const verify_ctx_t *ctx = w->ctx;
	const dns_node_t *node = &ctx->nodes[i];

	if (dns_node_rrset(node, DNS_TYPE_NSEC) != NULL) {
		verify_fail(w, node->name, DNS_TYPE_NSEC, "NSEC record in an NSEC3 zone");
	}
	if ((node->flags & (DNS_NODE_BELOW_CUT | DNS_NODE_OCCLUDED)) || !node_has_data(node)) {
		/* empty non-terminals are reached from the names below them; an incremental
		 * gate sees a changed one alone */
		if (ctx->incremental && !(node->flags & (DNS_NODE_BELOW_CUT | DNS_NODE_OCCLUDED)) &&
		    dns_name_is_sub(node->name, ctx->apex) && node != ctx->apex_node) {
			(void)hash_push(w, node->name, NULL, below_required(ctx, node->name));
		}
		return;
	}
	/* RFC 5155 7.1: with opt-out, insecure delegations may go without NSEC3 */
	bool required =
	    !(node->flags & DNS_NODE_DELEG) || dns_node_rrset(node, DNS_TYPE_DS) != NULL;
	if (!hash_push(w, node->name, node, required)) {
		return;
	}
	/* every ancestor up to the apex exists; those without data are ENTs */
	unsigned extra = verify_name_labels(node->name) - verify_name_labels(ctx->apex);
	const uint8_t *p = node->name;
	for (unsigned k = 1; k < extra; k++) {
		p += 1 + *p;
		const dns_node_t *anc = node_find(ctx, p);
		if (anc != NULL && node_has_data(anc)) {
			continue; /* it adds itself */
		}
		/* incremental: this name alone does not say what the ENT needs; all below do */
		bool req = ctx->incremental ? below_required(ctx, p) : required;
		if (!hash_push(w, p, NULL, req)) {
			return;
		}
	}
}

static int hash_qsort_cmp(const void *a, const void *b)
{
	const verify_hash_t *x = a, *y = b;
	int c = memcmp(x->hash, y->hash, 20);
	if (c != 0) {
		return c;
	}
	return (int)y->required - (int)x->required;
}

static int b32_value(uint8_t c)
{
	c = (uint8_t)((c >= 'A' && c <= 'Z') ? c + 32 : c);
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'v') {
		return c - 'a' + 10;
	}
	return -1;
}

/* The 20-byte hash of an NSEC3 owner "base32hex(hash).apex", or false. */
static bool nsec3_owner_hash(const verify_ctx_t *ctx, const uint8_t *owner, uint8_t out[20])
{
	if (owner[0] != 32 || verify_name_cmp(owner + 33, ctx->apex) != 0) {
		return false;
	}
	uint64_t acc = 0;
	unsigned bits = 0;
	size_t n = 0;
	for (unsigned i = 1; i <= 32; i++) {
		int v = b32_value(owner[i]);
		if (v < 0) {
			return false;
		}
		acc = (acc << 5) | (uint64_t)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	return n == 20;
}

/* Checks the fields of one NSEC3 record; next is the following record's hash. */
static void nsec3_record_check(verify_worker_t *w, const dns_node_t *n3, const uint8_t *rdata,
			       const uint8_t next[20], const verify_hash_t *match)
{
	const verify_ctx_t *ctx = w->ctx;
	const uint8_t *rd = dns_rdata_data(rdata);
	size_t len = dns_rdata_len(rdata);
	uint8_t expect[BITMAP_MAX];

	if (len < 5 || len < 5u + rd[4] + 1 || len < 5u + rd[4] + 1 + rd[5 + rd[4]]) {
		verify_fail(w, n3->name, DNS_TYPE_NSEC3, "malformed NSEC3 record");
		return;
	}
	uint8_t salt_len = rd[4];
	uint16_t iterations = (uint16_t)(rd[2] << 8 | rd[3]);
	if (rd[0] != 1 || iterations != ctx->iterations || salt_len != ctx->salt_len ||
	    memcmp(rd + 5, ctx->salt, salt_len) != 0) {
		verify_fail(w, n3->name, DNS_TYPE_NSEC3,
			    "parameters (algorithm %u, %u iterations, salt length %u) differ from "
			    "NSEC3PARAM",
			    rd[0], iterations, salt_len);
	}
	if (rd[1] & ~NSEC3_FLAG_OPTOUT) {
		verify_fail(w, n3->name, DNS_TYPE_NSEC3, "unknown flags 0x%02x", rd[1]);
	}
	size_t off = 5u + salt_len;
	uint8_t hash_len = rd[off];
	if (hash_len != 20 || memcmp(rd + off + 1, next, 20) != 0) {
		char have[64], want[40];
		crypto_base32hex(rd + off + 1, hash_len <= 39 ? hash_len : 0, have);
		crypto_base32hex(next, 20, want);
		verify_fail(w, n3->name, DNS_TYPE_NSEC3, "next hashed owner %s, expected %s", have,
			    want);
	}
	off += 1u + hash_len;
	if (match != NULL) {
		size_t expect_len = expected_bitmap(w, match->node, expect);
		bitmap_check(w, n3->name, DNS_TYPE_NSEC3, rd + off, len - off, expect, expect_len);
	}
}

static bool nsec3_optout(const dns_node_t *n3)
{
	const dns_rrset_t *rs = dns_node_rrset(n3, DNS_TYPE_NSEC3);
	return rs != NULL && rs->count > 0 && dns_rdata_len(rs->rdata[0]) >= 2 &&
	       (dns_rdata_data(rs->rdata[0])[1] & NSEC3_FLAG_OPTOUT);
}

/* Whether two NSEC3 records are the same but for the next hashed owner (a neighbour's change
 * relinks a record without changing what it says about its own name). */
static bool nsec3_same_but_next(const dns_node_t *a, const dns_node_t *b)
{
	const dns_rrset_t *x = dns_node_rrset(a, DNS_TYPE_NSEC3);
	const dns_rrset_t *y = dns_node_rrset(b, DNS_TYPE_NSEC3);
	if (x == NULL || y == NULL || x->count != 1 || y->count != 1 || x->ttl != y->ttl) {
		return false;
	}
	const uint8_t *p = dns_rdata_data(x->rdata[0]), *q = dns_rdata_data(y->rdata[0]);
	size_t len = dns_rdata_len(x->rdata[0]);
	if (len != dns_rdata_len(y->rdata[0]) || len < 6 || len < 6u + p[4]) {
		return false;
	}
	size_t off = 5u + p[4]; /* the hash length */
	size_t end = off + 1u + p[off];
	return end <= len && memcmp(p, q, off + 1) == 0 && memcmp(p + end, q + end, len - end) == 0;
}

/* The NSEC3 owners' hashes, decoded when first needed (an incremental gate needs few). */
typedef struct owners {
	const verify_ctx_t *ctx;
	verify_worker_t *w;
	uint8_t (*hash)[20];
	uint8_t *state; /* 0: not decoded yet, 1: decoded, 2: not a hash (reported) */
} owners_t;

/* The hash of NSEC3 owner j, or NULL when it is not one (reported once). */
static const uint8_t *owners_get(owners_t *ow, size_t j)
{
	if (ow->state[j] == 0) {
		const dns_node_t *n3 = &ow->ctx->n3nodes[j];
		ow->state[j] = nsec3_owner_hash(ow->ctx, n3->name, ow->hash[j]) ? 1 : 2;
		if (ow->state[j] == 2) {
			verify_fail(ow->w, n3->name, DNS_TYPE_NSEC3,
				    "owner is not a base32hex SHA-1 hash under the apex");
		}
	}
	return ow->state[j] == 1 ? ow->hash[j] : NULL;
}

/* The first owner whose hash is not below h (owners not a hash count as below). */
static size_t owners_lower_bound(owners_t *ow, const uint8_t h[20])
{
	size_t lo = 0, hi = ow->ctx->n3_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const uint8_t *oh = owners_get(ow, mid);
		if (oh == NULL || memcmp(oh, h, 20) < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo;
}

static int hash_bsearch_cmp(const void *key, const void *elem)
{
	return memcmp(key, ((const verify_hash_t *)elem)->hash, 20);
}

static int hash_only_cmp(const void *a, const void *b)
{
	return memcmp(((const verify_hash_t *)a)->hash, ((const verify_hash_t *)b)->hash, 20);
}

/* The first of v[n] (sorted) above h. */
static const verify_hash_t *hash_upper(const uint8_t *h, const verify_hash_t *v, size_t n)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (memcmp(v[mid].hash, h, 20) <= 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return v + lo;
}

/* bsearch for a hash in v[n]; an empty list may be NULL (bsearch itself must not see one). */
static const verify_hash_t *hash_find(const uint8_t *h, const verify_hash_t *v, size_t n)
{
	return n == 0 ? NULL : bsearch(h, v, n, sizeof(*v), hash_bsearch_cmp);
}

/* Incremental: no NSEC3 record is left for a name that is gone or needs none now, and a
 * record gone is a name's that is gone or changed. */
static void removed_check(verify_worker_t *w, const verify_hash_t *hashes, size_t count,
			  owners_t *ow, verify_hash_t *removed, size_t nremoved)
{
	const verify_ctx_t *ctx = w->ctx;
	if (nremoved > 1) {
		qsort(removed, nremoved, sizeof(*removed), hash_only_cmp);
	}
	for (size_t g = 0; g < ctx->gone3_count; g++) {
		uint8_t h[20];
		/* a changed name's (its record checked above, with opt-out) or a name gone */
		if (!nsec3_owner_hash(ctx, ctx->gone3[g]->name, h) ||
		    (hash_find(h, removed, nremoved) == NULL &&
		     hash_find(h, hashes, count) == NULL)) {
			verify_fail(w, ctx->gone3[g]->name, DNS_TYPE_NSEC3,
				    "the record is gone, but no name with this hash is gone or "
				    "changed");
		}
	}
	for (size_t r = 0; r < nremoved; r++) {
		if (hash_find(removed[r].hash, hashes, count) != NULL) {
			continue; /* the name still needs it (checked with the changed names) */
		}
		size_t at = owners_lower_bound(ow, removed[r].hash);
		const uint8_t *oh = at < ctx->n3_count ? owners_get(ow, at) : NULL;
		if (oh != NULL && memcmp(oh, removed[r].hash, 20) == 0) {
			verify_fail(w, ctx->n3nodes[at].name, DNS_TYPE_NSEC3,
				    "NSEC3 record of a name that is gone or owns none now");
		}
	}
}

/* The checks of NSEC3 record j (all its fields; the bitmap when a name's hash matches). */
static void nsec3_node_check(verify_worker_t *w, owners_t *ow, size_t j, const verify_hash_t *match)
{
	const verify_ctx_t *ctx = w->ctx;
	size_t n = ctx->n3_count;
	const dns_node_t *n3 = &ctx->n3nodes[j];
	const dns_node_t *prev = ctx->incremental ? ctx->prev_of[ctx->node_count + j] : NULL;
	if (match != NULL) {
		/* a name's record: its bitmap is checked below */
	} else if (ctx->incremental && prev == NULL) {
		verify_fail(w, n3->name, DNS_TYPE_NSEC3,
			    "new NSEC3 record, but no changed name has this hash");
	} else if (ctx->incremental && !nsec3_same_but_next(n3, prev)) {
		verify_fail(
		    w, n3->name, DNS_TYPE_NSEC3,
		    "differs from the previous version's, but no changed name has this hash");
	} else if (!ctx->incremental) {
		verify_fail(w, n3->name, DNS_TYPE_NSEC3,
			    "matches no authoritative name, delegation or empty non-terminal");
	}
	const dns_rrset_t *rs = dns_node_rrset(n3, DNS_TYPE_NSEC3);
	if (rs == NULL || rs->count == 0) {
		verify_fail(w, n3->name, DNS_TYPE_NSEC3, "no NSEC3 RRset at a hashed name");
		return;
	}
	w->stats.denial_records += rs->count;
	if (rs->count != 1) {
		verify_fail(w, n3->name, DNS_TYPE_NSEC3, "%u NSEC3 records, expected one",
			    rs->count);
	}
	static const uint8_t none[20];
	const uint8_t *next = owners_get(ow, (j + 1) % n);
	for (size_t r = 0; r < rs->count; r++) {
		nsec3_record_check(w, n3, rs->rdata[r], next != NULL ? next : none, match);
	}
}

/* A name's hash that no record has: a failure unless an opt-out record covers it. */
static void nsec3_missing(verify_worker_t *w, const verify_hash_t *h, const dns_node_t *cover)
{
	char b32[40];
	if (h->required || !nsec3_optout(cover)) {
		crypto_base32hex(h->hash, 20, b32);
		verify_fail(w, h->name, DNS_TYPE_NSEC3, "no NSEC3 record for this name (hash %s)",
			    b32);
	}
}

/* Whether NSEC3 record j and the one after it (the first after the last) are the same as two
 * neighbours of the previous version: then their order and link held there and still do. */
static bool nsec3_link_kept(const verify_ctx_t *ctx, size_t j)
{
	size_t n = ctx->n3_count, base = ctx->node_count, k = (j + 1) % n;
	const dns_node_t *a = ctx->prev_of[base + j], *b = ctx->prev_of[base + k];
	if (!ctx->same[base + j] || a == NULL || b == NULL) {
		return false;
	}
	return k == 0 ? a == &ctx->pn3nodes[ctx->pn3_count - 1] && b == &ctx->pn3nodes[0]
		      : b == a + 1;
}

static int size_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

/* The incremental chain: only the records that changed, whose link to the next one is not
 * the previous version's, or that a changed name's hash falls on or between. */
static void nsec3_chain_incremental(verify_worker_t *w, owners_t *ow, verify_hash_t *hashes,
				    size_t count)
{
	const verify_ctx_t *ctx = w->ctx;
	size_t n = ctx->n3_count;
	size_t *todo = NULL, ntodo = 0, cap = 0;
	size_t kept = 0;
	for (size_t j = 0; j <= n; j++) {
		/* j == n: a slot for each hash below */
		bool add = j < n && !nsec3_link_kept(ctx, j);
		size_t need = ntodo + (add ? 1 : 0) + (j == n ? count : 0);
		if (need > cap) {
			size_t c = cap ? 2 * cap : 256;
			c = c < need ? need : c;
			size_t *t = realloc(todo, c * sizeof(*t));
			if (t == NULL) {
				free(todo);
				w->rc = TANDEM_ENOMEM;
				return;
			}
			todo = t;
			cap = c;
		}
		if (add) {
			todo[ntodo++] = j;
		} else if (j < n) {
			kept++;
		}
	}
	/* a hash matches a record, or falls in the span of the record before it */
	for (size_t i = 0; i < count; i++) {
		size_t at = owners_lower_bound(ow, hashes[i].hash);
		const uint8_t *oh = at < n ? owners_get(ow, at) : NULL;
		todo[ntodo++] = oh != NULL && memcmp(oh, hashes[i].hash, 20) == 0 ? at
				: at > 0                                          ? at - 1
										  : n - 1;
	}
	qsort(todo, ntodo, sizeof(*todo), size_cmp);
	for (size_t t = 0; t < ntodo; t++) {
		size_t j = todo[t];
		if (t > 0 && todo[t - 1] == j) {
			continue;
		}
		const uint8_t *oh = owners_get(ow, j);
		const uint8_t *next = j + 1 < n ? owners_get(ow, j + 1) : NULL;
		if (oh != NULL && next != NULL && memcmp(oh, next, 20) >= 0) {
			verify_fail(w, ctx->n3nodes[j + 1].name, DNS_TYPE_NSEC3,
				    "out of hash order");
		}
		const verify_hash_t *match = oh != NULL ? hash_find(oh, hashes, count) : NULL;
		nsec3_node_check(w, ow, j, match);
		/* the hashes in this record's span (after it, before the next) have none */
		size_t i = oh != NULL ? (size_t)(hash_upper(oh, hashes, count) - hashes) : count;
		for (; oh != NULL && i < count &&
		       (next == NULL || memcmp(hashes[i].hash, next, 20) < 0);
		     i++) {
			nsec3_missing(w, &hashes[i], &ctx->n3nodes[j]);
		}
		if (j == n - 1) {
			/* ... and those before the first record wrap to the last one */
			const uint8_t *first = owners_get(ow, 0);
			for (i = 0;
			     first != NULL && i < count && memcmp(hashes[i].hash, first, 20) < 0;
			     i++) {
				nsec3_missing(w, &hashes[i], &ctx->n3nodes[j]);
			}
		}
	}
	/* a record kept as it was is one NSEC3 record (the previous gate saw to that) */
	w->stats.denial_records += kept;
	free(todo);
}

void verify_nsec3_chain(verify_worker_t *w, verify_hash_t *hashes, size_t count,
			verify_hash_t *removed, size_t nremoved)
{
	const verify_ctx_t *ctx = w->ctx;
	size_t n = ctx->n3_count;
	owners_t ow = {.ctx = ctx, .w = w};

	if (count > 1) {
		qsort(hashes, count, sizeof(*hashes), hash_qsort_cmp);
	}
	/* one entry per hash; the first of equal ones is required if any is */
	size_t m = 0;
	for (size_t i = 0; i < count; i++) {
		if (m > 0 && memcmp(hashes[m - 1].hash, hashes[i].hash, 20) == 0) {
			if (hashes[m - 1].node == NULL && hashes[i].node != NULL) {
				hashes[m - 1].node = hashes[i].node;
				hashes[m - 1].name = hashes[i].name;
			}
			continue;
		}
		hashes[m++] = hashes[i];
	}
	count = m;

	if (n == 0) {
		verify_fail(w, ctx->apex, DNS_TYPE_NSEC3, "no NSEC3 records");
		return;
	}
	ow.hash = calloc(n, sizeof(*ow.hash));
	ow.state = calloc(n, 1);
	if (ow.hash == NULL || ow.state == NULL) {
		free(ow.hash);
		free(ow.state);
		w->rc = TANDEM_ENOMEM;
		return;
	}
	if (ctx->incremental) {
		nsec3_chain_incremental(w, &ow, hashes, count);
		if (w->rc == TANDEM_OK) {
			removed_check(w, hashes, count, &ow, removed, nremoved);
		}
		free(ow.hash);
		free(ow.state);
		return;
	}
	for (size_t j = 0; j < n; j++) {
		const uint8_t *oh = owners_get(&ow, j);
		if (oh != NULL && j > 0 && memcmp(ow.hash[j - 1], oh, 20) >= 0) {
			verify_fail(w, ctx->n3nodes[j].name, DNS_TYPE_NSEC3, "out of hash order");
		}
	}
	size_t i = 0;
	for (size_t j = 0; j <= n; j++) {
		/* names whose hash sorts before record j (or after the last) have none */
		while (i < count && (j == n || memcmp(hashes[i].hash, ow.hash[j], 20) < 0)) {
			nsec3_missing(w, &hashes[i], &ctx->n3nodes[j > 0 ? j - 1 : n - 1]);
			i++;
		}
		if (j == n) {
			break;
		}
		const verify_hash_t *match = NULL;
		if (i < count && memcmp(hashes[i].hash, ow.hash[j], 20) == 0) {
			match = &hashes[i++];
		}
		nsec3_node_check(w, &ow, j, match);
	}
	free(ow.hash);
	free(ow.state);
}
