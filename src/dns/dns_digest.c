/* The zone digest v1: leaves per owner, 2^16 buckets, 2^8 groups, a root; updated per change. */
#include "dns_digest.h"
#include "dns_internal.h"
#include "tandem_error.h"

#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define BUCKET_BITS 16
#define BUCKETS     (1u << BUCKET_BITS)
#define GROUPS      256u
#define PER_GROUP   (BUCKETS / GROUPS)
#define ROOT_TAG    "tandem-digest-v1"
#define NOSIG_TAG   "tandem-digest-v1-nosig" /* the same tree without RRSIGs */

typedef struct leaf {
	uint8_t key[DNS_DIGEST_LEN];
	uint8_t hash[DNS_DIGEST_LEN];
} leaf_t;

/* Shared between states: never changed once hashed. */
typedef struct bucket {
	atomic_uint refs;
	uint32_t n;
	uint8_t hash[DNS_DIGEST_LEN];
	leaf_t leaves[]; /* by key */
} bucket_t;

struct dns_digest {
	bucket_t **buckets; /* BUCKETS entries; NULL: empty */
	uint8_t (*groups)[DNS_DIGEST_LEN];
	uint8_t root[DNS_DIGEST_LEN];
	size_t leaves;
	bool nosig; /* made without the RRSIGs (dns_zone_digest_nosig); never updated */
};

/* SHA-256 of nothing: the hash of an empty bucket. */
static const uint8_t empty_hash[DNS_DIGEST_LEN] = {
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};

static void bucket_unref(bucket_t *b)
{
	if (b != NULL && atomic_fetch_sub(&b->refs, 1) == 1) {
		free(b);
	}
}

void dns_digest_free(dns_digest_t *d)
{
	if (d == NULL) {
		return;
	}
	if (d->buckets != NULL) {
		for (size_t i = 0; i < BUCKETS; i++) {
			bucket_unref(d->buckets[i]);
		}
	}
	free(d->buckets);
	free(d->groups);
	free(d);
}

static int digest_alloc(dns_digest_t **out)
{
	dns_digest_t *d = calloc(1, sizeof(*d));
	if (d == NULL) {
		return TANDEM_ENOMEM;
	}
	d->buckets = calloc(BUCKETS, sizeof(*d->buckets));
	d->groups = calloc(GROUPS, sizeof(*d->groups));
	if (d->buckets == NULL || d->groups == NULL) {
		dns_digest_free(d);
		return TANDEM_ENOMEM;
	}
	*out = d;
	return TANDEM_OK;
}

/* ---- hashing ---- */

static bool sha_init(EVP_MD_CTX *ctx)
{
	return EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
}

static bool sha_final(EVP_MD_CTX *ctx, uint8_t out[DNS_DIGEST_LEN])
{
	unsigned len = 0;
	return EVP_DigestFinal_ex(ctx, out, &len) == 1 && len == DNS_DIGEST_LEN;
}

static bool leaf_key(EVP_MD_CTX *ctx, bool nsec3, const uint8_t *owner, uint8_t out[DNS_DIGEST_LEN])
{
	uint8_t tag = nsec3 ? 1 : 0;
	return sha_init(ctx) && EVP_DigestUpdate(ctx, &tag, 1) == 1 &&
	       EVP_DigestUpdate(ctx, owner, dns_name_len(owner, DNS_NAME_MAXLEN)) == 1 &&
	       sha_final(ctx, out);
}

/* One RR into the running hash: owner | type | class | TTL | RDLENGTH | RDATA. */
static bool hash_rr(EVP_MD_CTX *ctx, const uint8_t *owner, size_t owner_len, uint16_t type,
		    uint32_t ttl, const uint8_t *rdata)
{
	uint8_t buf[DNS_NAME_MAXLEN + 10];
	memcpy(buf, owner, owner_len);
	uint8_t *p = buf + owner_len;
	p[0] = (uint8_t)(type >> 8);
	p[1] = (uint8_t)type;
	p[2] = 0;
	p[3] = DNS_CLASS_IN;
	p[4] = (uint8_t)(ttl >> 24);
	p[5] = (uint8_t)(ttl >> 16);
	p[6] = (uint8_t)(ttl >> 8);
	p[7] = (uint8_t)ttl;
	/* the RDATA as stored leads with its 2-byte length: RDLENGTH | RDATA */
	return EVP_DigestUpdate(ctx, buf, owner_len + 8) == 1 &&
	       EVP_DigestUpdate(ctx, rdata, (size_t)dns_rdata_len(rdata) + 2) == 1;
}

static int rdata_cmp(const void *a, const void *b)
{
	return dns_rdata_compare(*(const uint8_t *const *)a, *(const uint8_t *const *)b);
}

/* The list in canonical order: as stored when it already is (RDATAs are), else a sorted
 * copy in tmp (RRSIGs are kept in no particular order). */
static const uint8_t *const *canonical(const uint8_t *const *list, uint16_t n, const uint8_t **tmp)
{
	bool sorted = true;
	for (uint16_t i = 1; i < n && sorted; i++) {
		sorted = dns_rdata_compare(list[i - 1], list[i]) < 0;
	}
	if (sorted) {
		return list;
	}
	memcpy(tmp, list, sizeof(*tmp) * n);
	qsort(tmp, n, sizeof(*tmp), rdata_cmp);
	return tmp;
}

/* The leaf hash of a node; false when it holds no record (no leaf) or hashing failed
 * (*err set). */
static bool leaf_hash(EVP_MD_CTX *ctx, const dns_node_t *n, bool sigs, const uint8_t **tmp,
		      uint8_t out[DNS_DIGEST_LEN], int *err)
{
	bool any = false;
	size_t owner_len = dns_name_len(n->name, DNS_NAME_MAXLEN);
	if (!sha_init(ctx)) {
		*err = TANDEM_ENOMEM;
		return false;
	}
	bool ok = true;
	for (uint16_t k = 0; k < n->rrset_count && ok; k++) {
		const dns_rrset_t *rs = &n->rrsets[k];
		const uint8_t *const *rd = canonical(rs->rdata, rs->count, tmp);
		for (uint16_t i = 0; i < rs->count && ok; i++) {
			ok = hash_rr(ctx, n->name, owner_len, rs->type, rs->ttl, rd[i]);
		}
		uint16_t nsig = sigs ? rs->sig_count : 0;
		const uint8_t *const *sg = canonical(rs->sigs, nsig, tmp);
		for (uint16_t i = 0; i < nsig && ok; i++) {
			ok = hash_rr(ctx, n->name, owner_len, DNS_TYPE_RRSIG, rs->ttl, sg[i]);
		}
		any |= rs->count + nsig > 0;
	}
	if (!ok || !sha_final(ctx, out)) {
		*err = TANDEM_ENOMEM;
		return false;
	}
	return any;
}

static bool bucket_hash(EVP_MD_CTX *ctx, bucket_t *b)
{
	bool ok = sha_init(ctx);
	for (uint32_t i = 0; i < b->n && ok; i++) {
		ok = EVP_DigestUpdate(ctx, b->leaves[i].hash, DNS_DIGEST_LEN) == 1;
	}
	return ok && sha_final(ctx, b->hash);
}

static bool group_hash(EVP_MD_CTX *ctx, dns_digest_t *d, size_t g)
{
	bool ok = sha_init(ctx);
	for (size_t i = g * PER_GROUP; i < (g + 1) * PER_GROUP && ok; i++) {
		const bucket_t *b = d->buckets[i];
		ok = EVP_DigestUpdate(ctx, b != NULL ? b->hash : empty_hash, DNS_DIGEST_LEN) == 1;
	}
	return ok && sha_final(ctx, d->groups[g]);
}

static bool root_hash(EVP_MD_CTX *ctx, dns_digest_t *d)
{
	const char *tag = d->nosig ? NOSIG_TAG : ROOT_TAG;
	return sha_init(ctx) && EVP_DigestUpdate(ctx, tag, strlen(tag)) == 1 &&
	       EVP_DigestUpdate(ctx, d->groups, (size_t)GROUPS * DNS_DIGEST_LEN) == 1 &&
	       sha_final(ctx, d->root);
}

static size_t bucket_of(const uint8_t key[DNS_DIGEST_LEN])
{
	return ((size_t)key[0] << 8) | key[1];
}

static int leaf_cmp(const void *a, const void *b)
{
	return memcmp(((const leaf_t *)a)->key, ((const leaf_t *)b)->key, DNS_DIGEST_LEN);
}

/* The largest RRset (RDATAs or RRSIGs) of a node array, for the sort buffer. */
static size_t max_set(const dns_node_t *nodes, size_t count)
{
	size_t m = 1;
	for (size_t i = 0; i < count; i++) {
		for (uint16_t k = 0; k < nodes[i].rrset_count; k++) {
			const dns_rrset_t *rs = &nodes[i].rrsets[k];
			m = rs->count > m ? rs->count : m;
			m = rs->sig_count > m ? rs->sig_count : m;
		}
	}
	return m;
}

/* The leaves of a node array appended to leaves[*n]. */
static int collect(EVP_MD_CTX *ctx, const dns_node_t *nodes, size_t count, bool nsec3, bool sigs,
		   leaf_t *leaves, size_t *n, const uint8_t **tmp)
{
	for (size_t i = 0; i < count; i++) {
		int err = TANDEM_OK;
		leaf_t *l = &leaves[*n];
		if (leaf_hash(ctx, &nodes[i], sigs, tmp, l->hash, &err)) {
			if (!leaf_key(ctx, nsec3, nodes[i].name, l->key)) {
				return TANDEM_ENOMEM;
			}
			(*n)++;
		} else if (err != TANDEM_OK) {
			return err;
		}
	}
	return TANDEM_OK;
}

/* The buckets, groups and root of d from leaves sorted by key. */
static int build_tree(EVP_MD_CTX *ctx, dns_digest_t *d, const leaf_t *leaves, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t b = bucket_of(leaves[i].key), end = i;
		while (end < n && bucket_of(leaves[end].key) == b) {
			end++;
		}
		bucket_t *bk = malloc(sizeof(*bk) + sizeof(leaf_t) * (end - i));
		if (bk == NULL) {
			return TANDEM_ENOMEM;
		}
		atomic_init(&bk->refs, 1);
		bk->n = (uint32_t)(end - i);
		memcpy(bk->leaves, &leaves[i], sizeof(leaf_t) * (end - i));
		d->buckets[b] = bk;
		if (!bucket_hash(ctx, bk)) {
			return TANDEM_ENOMEM;
		}
		i = end;
	}
	for (size_t g = 0; g < GROUPS; g++) {
		if (!group_hash(ctx, d, g)) {
			return TANDEM_ENOMEM;
		}
	}
	d->leaves = n;
	return root_hash(ctx, d) ? TANDEM_OK : TANDEM_ENOMEM;
}

/* The state of a whole zone, with its RRSIGs or without (sigs false: the nosig digest). */
static int digest_build(dns_zone_t *zone, bool sigs, dns_digest_t **out)
{
	if (zone == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	dns_digest_t *d = NULL;
	leaf_t *leaves = NULL;
	const uint8_t **tmp = NULL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t total = zone->node_count + zone->nsec3_count, n = 0;
	size_t m1 = max_set(zone->nodes, zone->node_count);
	size_t m3 = max_set(zone->nsec3, zone->nsec3_count);
	int ret = ctx == NULL ? TANDEM_ENOMEM : digest_alloc(&d);
	if (ret != TANDEM_OK) {
		goto out;
	}
	leaves = malloc(sizeof(*leaves) * (total ? total : 1));
	tmp = malloc(sizeof(*tmp) * (m1 > m3 ? m1 : m3));
	if (leaves == NULL || tmp == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	d->nosig = !sigs;
	ret = collect(ctx, zone->nodes, zone->node_count, false, sigs, leaves, &n, tmp);
	if (ret == TANDEM_OK) {
		ret = collect(ctx, zone->nsec3, zone->nsec3_count, true, sigs, leaves, &n, tmp);
	}
	if (ret != TANDEM_OK) {
		goto out;
	}
	qsort(leaves, n, sizeof(*leaves), leaf_cmp);
	ret = build_tree(ctx, d, leaves, n);
out:
	free(leaves);
	free(tmp);
	EVP_MD_CTX_free(ctx);
	if (ret != TANDEM_OK) {
		dns_digest_free(d);
		return ret;
	}
	*out = d;
	return TANDEM_OK;
}

int dns_digest_new(dns_zone_t *zone, dns_digest_t **out)
{
	return digest_build(zone, true, out);
}

/* ---- update ---- */

/* An owner a changeset touches: its key and where its node is. */
typedef struct touch {
	uint8_t key[DNS_DIGEST_LEN];
	const uint8_t *owner;
	bool nsec3;
} touch_t;

static int touch_cmp(const void *a, const void *b)
{
	return memcmp(((const touch_t *)a)->key, ((const touch_t *)b)->key, DNS_DIGEST_LEN);
}

/* NSEC3 records and the RRSIGs that cover them are the NSEC3 array's. */
static bool rr_nsec3(const dns_rr_t *rr)
{
	if (rr->type == DNS_TYPE_NSEC3) {
		return true;
	}
	if (rr->type != DNS_TYPE_RRSIG || dns_rdata_len(rr->rdata) < 2) {
		return false;
	}
	const uint8_t *p = dns_rdata_data(rr->rdata);
	return ((p[0] << 8) | p[1]) == DNS_TYPE_NSEC3;
}

/* The distinct owners cs touches, sorted by key, into *out (malloc'd). */
static int touched(EVP_MD_CTX *ctx, const dns_changeset_t *cs, touch_t **out, size_t *count)
{
	size_t nrm = 0, nadd = 0;
	const dns_rr_t *rm = dns_changeset_records(cs, false, &nrm);
	const dns_rr_t *add = dns_changeset_records(cs, true, &nadd);
	size_t total = nrm + nadd + 2, n = 0;
	touch_t *t = malloc(sizeof(*t) * total);
	if (t == NULL) {
		return TANDEM_ENOMEM;
	}
	for (size_t i = 0; i < total; i++) {
		const dns_rr_t *rr = i < nrm          ? &rm[i]
				     : i < nrm + nadd ? &add[i - nrm]
						      : dns_changeset_soa(cs, i == total - 1);
		if (rr == NULL) {
			continue;
		}
		/* a node's records come together: skip repeats of the previous owner */
		bool nsec3 = rr_nsec3(rr);
		if (n > 0 && t[n - 1].nsec3 == nsec3 &&
		    (t[n - 1].owner == rr->owner ||
		     dns_name_compare(t[n - 1].owner, rr->owner) == 0)) {
			continue;
		}
		t[n].owner = rr->owner;
		t[n].nsec3 = nsec3;
		if (!leaf_key(ctx, nsec3, rr->owner, t[n].key)) {
			free(t);
			return TANDEM_ENOMEM;
		}
		n++;
	}
	qsort(t, n, sizeof(*t), touch_cmp);
	size_t u = 0;
	for (size_t i = 0; i < n; i++) {
		if (u == 0 || memcmp(t[u - 1].key, t[i].key, DNS_DIGEST_LEN) != 0) {
			t[u++] = t[i];
		}
	}
	*out = t;
	*count = u;
	return TANDEM_OK;
}

/* A new bucket: old's leaves (old may be NULL) with the touched owners t[0..nt) hashed
 * again from zone; NULL in *out when it ends up empty. */
static int bucket_rebuild(EVP_MD_CTX *ctx, dns_zone_t *zone, const bucket_t *old, const touch_t *t,
			  size_t nt, const uint8_t **tmp, size_t tmp_cap, bucket_t **out)
{
	uint32_t n_old = old != NULL ? old->n : 0;
	bucket_t *b = malloc(sizeof(*b) + sizeof(leaf_t) * (n_old + nt));
	if (b == NULL) {
		return TANDEM_ENOMEM;
	}
	atomic_init(&b->refs, 1);
	uint32_t i = 0, n = 0;
	for (size_t k = 0; k < nt; k++) {
		while (i < n_old && memcmp(old->leaves[i].key, t[k].key, DNS_DIGEST_LEN) < 0) {
			b->leaves[n++] = old->leaves[i++];
		}
		if (i < n_old && memcmp(old->leaves[i].key, t[k].key, DNS_DIGEST_LEN) == 0) {
			i++; /* replaced (or gone) */
		}
		const dns_node_t *node =
		    t[k].nsec3 ? dns_nodes_find(zone->nsec3, zone->nsec3_count, t[k].owner)
			       : dns_nodes_find(zone->nodes, zone->node_count, t[k].owner);
		if (node == NULL) {
			continue;
		}
		if (max_set(node, 1) > tmp_cap) {
			free(b);
			return TANDEM_ERANGE;
		}
		int err = TANDEM_OK;
		leaf_t *l = &b->leaves[n];
		if (leaf_hash(ctx, node, true, tmp, l->hash, &err)) {
			memcpy(l->key, t[k].key, DNS_DIGEST_LEN);
			n++;
		} else if (err != TANDEM_OK) {
			free(b);
			return err;
		}
	}
	while (i < n_old) {
		b->leaves[n++] = old->leaves[i++];
	}
	b->n = n;
	if (n == 0) {
		free(b);
		*out = NULL;
		return TANDEM_OK;
	}
	if (!bucket_hash(ctx, b)) {
		free(b);
		return TANDEM_ENOMEM;
	}
	*out = b;
	return TANDEM_OK;
}

int dns_digest_update(const dns_digest_t *prev, dns_zone_t *zone, const dns_changeset_t *cs,
		      dns_digest_t **out)
{
	if (prev == NULL || zone == NULL || cs == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	dns_digest_t *d = NULL;
	touch_t *t = NULL;
	size_t nt = 0;
	/* RRsets are at most 65535 records */
	size_t tmp_cap = UINT16_MAX;
	const uint8_t **tmp = malloc(sizeof(*tmp) * tmp_cap);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ret = ctx == NULL || tmp == NULL ? TANDEM_ENOMEM : digest_alloc(&d);
	if (ret != TANDEM_OK) {
		goto out;
	}
	for (size_t i = 0; i < BUCKETS; i++) {
		d->buckets[i] = prev->buckets[i];
		if (d->buckets[i] != NULL) {
			atomic_fetch_add(&d->buckets[i]->refs, 1);
		}
	}
	memcpy(d->groups, prev->groups, (size_t)GROUPS * DNS_DIGEST_LEN);
	d->leaves = prev->leaves;
	ret = touched(ctx, cs, &t, &nt);
	size_t k = 0;
	while (ret == TANDEM_OK && k < nt) {
		size_t b = bucket_of(t[k].key), end = k;
		while (end < nt && bucket_of(t[end].key) == b) {
			end++;
		}
		bucket_t *nb = NULL;
		bucket_t *ob = d->buckets[b];
		ret = bucket_rebuild(ctx, zone, ob, &t[k], end - k, tmp, tmp_cap, &nb);
		if (ret == TANDEM_OK) {
			d->leaves = d->leaves - (ob != NULL ? ob->n : 0) + (nb != NULL ? nb->n : 0);
			d->buckets[b] = nb;
			bucket_unref(ob);
		}
		k = end;
	}
	/* the groups of the touched buckets, each once */
	size_t last = GROUPS;
	for (size_t i = 0; i < nt && ret == TANDEM_OK; i++) {
		size_t g = bucket_of(t[i].key) / PER_GROUP;
		if (g != last && !group_hash(ctx, d, g)) {
			ret = TANDEM_ENOMEM;
		}
		last = g;
	}
	if (ret == TANDEM_OK && !root_hash(ctx, d)) {
		ret = TANDEM_ENOMEM;
	}
out:
	free(t);
	free(tmp);
	EVP_MD_CTX_free(ctx);
	if (ret != TANDEM_OK) {
		dns_digest_free(d);
		return ret;
	}
	*out = d;
	return TANDEM_OK;
}

void dns_digest_root(const dns_digest_t *d, uint8_t out[DNS_DIGEST_LEN])
{
	if (d != NULL && out != NULL) {
		memcpy(out, d->root, DNS_DIGEST_LEN);
	}
}

size_t dns_digest_leaves(const dns_digest_t *d)
{
	return d != NULL ? d->leaves : 0;
}

int dns_zone_digest(dns_zone_t *zone, uint8_t out[DNS_DIGEST_LEN])
{
	if (out == NULL) {
		return TANDEM_EINVAL;
	}
	dns_digest_t *d = NULL;
	int ret = dns_digest_new(zone, &d);
	if (ret == TANDEM_OK) {
		dns_digest_root(d, out);
	}
	dns_digest_free(d);
	return ret;
}

int dns_zone_digest_nosig(dns_zone_t *zone, uint8_t out[DNS_DIGEST_LEN])
{
	if (out == NULL) {
		return TANDEM_EINVAL;
	}
	dns_digest_t *d = NULL;
	int ret = digest_build(zone, false, &d);
	if (ret == TANDEM_OK) {
		dns_digest_root(d, out);
	}
	dns_digest_free(d);
	return ret;
}
