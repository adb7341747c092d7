/* Authenticated denial: the NSEC chain (RFC 4034) and the NSEC3 chain with NSEC3PARAM (RFC 5155).
 */
#include "signer_internal.h"
#include "crypto.h"
#include "tandem_error.h"

#include <stdlib.h>
#include <string.h>

size_t signer_bitmap(const uint16_t *types, size_t n, uint8_t *buf)
{
	size_t out = 0;
	size_t i = 0;
	while (i < n) {
		uint8_t window = (uint8_t)(types[i] >> 8);
		uint8_t bits[32] = {0};
		unsigned len = 0;
		while (i < n && (types[i] >> 8) == window) {
			uint8_t low = (uint8_t)types[i];
			bits[low / 8] |= (uint8_t)(0x80 >> (low % 8));
			if (low / 8u + 1 > len) {
				len = low / 8u + 1;
			}
			i++;
		}
		buf[out++] = window;
		buf[out++] = (uint8_t)len;
		memcpy(buf + out, bits, len);
		out += len;
	}
	return out;
}

/* The types an NSEC/NSEC3 at node must list, sorted. nsec: add NSEC itself. */
static size_t node_types(const dns_node_t *n, bool nsec, uint16_t *types)
{
	size_t k = 0;
	bool signed_any = false;
	for (uint16_t r = 0; r < n->rrset_count; r++) {
		uint16_t t = n->rrsets[r].type;
		if (t == DNS_TYPE_NSEC || t == DNS_TYPE_RRSIG) {
			continue;
		}
		if (n->flags & DNS_NODE_DELEG) {
			/* At a cut only NS and DS are the parent's to list. */
			if (t != DNS_TYPE_NS && t != DNS_TYPE_DS) {
				continue;
			}
			if (t == DNS_TYPE_DS) {
				signed_any = true;
			}
		} else {
			signed_any = true;
		}
		types[k++] = t;
	}
	if (nsec) {
		types[k++] = DNS_TYPE_NSEC;
		signed_any = true; /* the NSEC itself is signed */
	}
	if (signed_any) {
		types[k++] = DNS_TYPE_RRSIG;
	}
	/* Insertion sort: a handful of types. */
	for (size_t i = 1; i < k; i++) {
		uint16_t t = types[i];
		size_t j = i;
		while (j > 0 && types[j - 1] > t) {
			types[j] = types[j - 1];
			j--;
		}
		types[j] = t;
	}
	return k;
}

static bool in_nsec_chain(const dns_node_t *n)
{
	return !(n->flags & (DNS_NODE_BELOW_CUT | DNS_NODE_ENT));
}

int signer_nsec_build(dns_zone_t *zone, uint32_t ttl, tandem_diag_t *diag, size_t *records)
{
	size_t count = 0;
	dns_node_t *nodes = dns_zone_nodes(zone, &count);
	tandem_arena_t *arena = dns_zone_arena(zone);
	uint16_t types[1024];
	uint8_t bitmap[8704];
	size_t made = 0;
	size_t first = SIZE_MAX;
	for (size_t i = 0; i < count; i++) {
		if (in_nsec_chain(&nodes[i])) {
			first = i;
			break;
		}
	}
	if (first == SIZE_MAX) {
		tandem_diag_add(diag, TANDEM_SIGNER_ECONF, "zone has no names for an NSEC chain");
		return TANDEM_SIGNER_ECONF;
	}
	for (size_t i = first; i < count;) {
		size_t next = i + 1;
		while (next < count && !in_nsec_chain(&nodes[next])) {
			next++;
		}
		const dns_node_t *to = next < count ? &nodes[next] : &nodes[first];
		dns_node_t *n = &nodes[i];
		size_t nt = node_types(n, true, types);
		size_t blen = signer_bitmap(types, nt, bitmap);
		size_t rdlen = to->name_len + blen;
		uint8_t *rd = tandem_arena_alloc(arena, rdlen + 2);
		if (rd == NULL) {
			return TANDEM_ENOMEM;
		}
		rd[0] = (uint8_t)(rdlen >> 8);
		rd[1] = (uint8_t)rdlen;
		memcpy(rd + 2, to->name, to->name_len);
		memcpy(rd + 2 + to->name_len, bitmap, blen);
		const uint8_t *rdp = rd;
		dns_rrset_t *rs = dns_node_put_rrset(n, arena, DNS_TYPE_NSEC, ttl, &rdp, 1);
		if (rs == NULL) {
			return TANDEM_ENOMEM;
		}
		rs->flags |= DNS_RRSET_AUTH;
		made++;
		i = next;
	}
	*records = made;
	return TANDEM_OK;
}

typedef struct hashed {
	uint8_t hash[20];
	const dns_node_t *node;
} hashed_t;

static int hashed_cmp(const void *a, const void *b)
{
	return memcmp(((const hashed_t *)a)->hash, ((const hashed_t *)b)->hash, 20);
}

/* Insertion sort of a few hashed names by hash. */
static void hashed_insertion(hashed_t *h, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		hashed_t x = h[i];
		size_t j = i;
		while (j > 0 && memcmp(h[j - 1].hash, x.hash, 20) > 0) {
			h[j] = h[j - 1];
			j--;
		}
		h[j] = x;
	}
}

/*
 * Sorts h[n] by hash. The hashes are SHA-1 output, so their first 16 bits spread them
 * evenly: one counting pass on them puts each name in a bucket of a few, each sorted in
 * place (a large bucket, e.g. names chosen to share a prefix at a known salt, by qsort).
 * A million names cost two passes instead of a comparison sort's twenty.
 */
static int hashed_sort(hashed_t *h, size_t n)
{
	enum { BUCKETS = 1u << 16, SMALL = 32 };
	if (n < 2) {
		return TANDEM_OK;
	}
	size_t *start = calloc(BUCKETS + 1, sizeof(*start));
	hashed_t *tmp = malloc(sizeof(*tmp) * n);
	if (start == NULL || tmp == NULL) {
		free(start);
		free(tmp);
		return TANDEM_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		start[((size_t)h[i].hash[0] << 8 | h[i].hash[1]) + 1]++;
	}
	for (size_t b = 1; b <= BUCKETS; b++) {
		start[b] += start[b - 1];
	}
	for (size_t i = 0; i < n; i++) {
		tmp[start[(size_t)h[i].hash[0] << 8 | h[i].hash[1]]++] = h[i];
	}
	/* start[b] is now the end of bucket b */
	size_t from = 0;
	for (size_t b = 0; b < BUCKETS; b++) {
		size_t len = start[b] - from;
		if (len > SMALL) {
			qsort(tmp + from, len, sizeof(*tmp), hashed_cmp);
		} else {
			hashed_insertion(tmp + from, len);
		}
		from = start[b];
	}
	memcpy(h, tmp, sizeof(*h) * n);
	free(tmp);
	free(start);
	return TANDEM_OK;
}

/* Which nodes get an NSEC3 (RFC 5155 7.1): not below a cut; with opt-out not insecure
 * delegations, and ENTs only when something below them is in the chain. */
static uint8_t *nsec3_membership(dns_zone_t *zone, bool optout)
{
	size_t count = 0;
	dns_node_t *nodes = dns_zone_nodes(zone, &count);
	uint8_t *in = calloc(count ? count : 1, 1);
	if (in == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < count; i++) {
		const dns_node_t *n = &nodes[i];
		if (n->flags & DNS_NODE_BELOW_CUT) {
			continue;
		}
		if (n->flags & DNS_NODE_ENT) {
			in[i] = optout ? 0 : 1;
			continue;
		}
		if (optout && (n->flags & DNS_NODE_DELEG) &&
		    dns_node_rrset(n, DNS_TYPE_DS) == NULL) {
			continue;
		}
		in[i] = 1;
	}
	if (!optout) {
		return in;
	}
	/* With opt-out, an ENT is needed when a member lies below it. */
	const uint8_t *origin = dns_zone_origin(zone);
	size_t olen = dns_name_len(origin, DNS_NAME_MAXLEN);
	for (size_t i = 0; i < count; i++) {
		if (!in[i] || (nodes[i].flags & DNS_NODE_ENT)) {
			continue;
		}
		const uint8_t *name = nodes[i].name;
		while (name[0] != 0) {
			name += name[0] + 1;
			if (dns_name_len(name, DNS_NAME_MAXLEN) <= olen) {
				break;
			}
			dns_node_t *p = dns_zone_find(zone, name);
			if (p == NULL || !(p->flags & DNS_NODE_ENT)) {
				break;
			}
			size_t pi = (size_t)(p - nodes);
			if (in[pi]) {
				break;
			}
			in[pi] = 1;
		}
	}
	return in;
}

/* The previous version's hashes, when it has them for the same NSEC3PARAM (param: the
 * length-prefixed RDATA of this version's); NULL otherwise. */
static const uint8_t (*prev_hashes(const signer_conf_t *conf, const uint8_t *param,
				   const dns_node_t **pnodes, size_t *pcount))[20]
{
	/* only read; the dns accessors are not const-qualified */
	dns_zone_t *prev = (dns_zone_t *)conf->previous;
	const uint8_t(*ph)[20] = dns_zone_node_hashes(prev);
	const dns_node_t *papex = ph != NULL ? dns_zone_apex(prev) : NULL;
	const dns_rrset_t *pp = papex != NULL ? dns_node_rrset(papex, DNS_TYPE_NSEC3PARAM) : NULL;
	if (pp == NULL || pp->count != 1 ||
	    memcmp(pp->rdata[0], param, 2u + dns_rdata_len(param)) != 0) {
		return NULL;
	}
	*pnodes = dns_zone_nodes(prev, pcount);
	return ph;
}

/* The parts of an NSEC3 run that do not change from record to record. */
typedef struct n3ctx {
	tandem_arena_t *arena; /* the chain's arrays */
	tandem_arena_t *bytes; /* its records' owner names and RDATA */
	bool share;            /* records kept point into the previous version's */
	const uint8_t *origin;
	size_t olen;
	unsigned labels; /* of an NSEC3 owner */
	uint32_t ttl;
	uint8_t head[6 + 255]; /* RDATA up to the next hash: alg, flags, iterations, salt, 20 */
	size_t hlen;
} n3ctx_t;

static void n3ctx_init(n3ctx_t *x, dns_zone_t *zone, const signer_conf_t *conf, uint32_t ttl,
		       const signer_dnssec_t *dnssec)
{
	x->arena = dns_zone_arena(zone);
	x->bytes = dnssec != NULL && dnssec->bytes != NULL ? dnssec->bytes : x->arena;
	x->share = dnssec != NULL && dnssec->bytes != NULL && dnssec->share;
	x->origin = dns_zone_origin(zone);
	x->olen = dns_name_len(x->origin, DNS_NAME_MAXLEN);
	x->labels = dns_name_labels(x->origin) + 1;
	x->ttl = ttl;
	uint8_t *p = x->head;
	*p++ = 1; /* SHA-1 */
	*p++ = conf->nsec3_optout ? 1 : 0;
	*p++ = (uint8_t)(conf->nsec3_iterations >> 8);
	*p++ = (uint8_t)conf->nsec3_iterations;
	*p++ = conf->nsec3_salt_len;
	memcpy(p, conf->nsec3_salt, conf->nsec3_salt_len);
	p += conf->nsec3_salt_len;
	*p++ = 20;
	x->hlen = (size_t)(p - x->head);
}

/* Fills one NSEC3 node of the output arrays around its owner name and RDATA. */
static void n3_wrap(const n3ctx_t *x, const uint8_t *name, const uint8_t *rd, dns_node_t *out,
		    dns_rrset_t *set, const uint8_t **ptr)
{
	*ptr = rd;
	*set = (dns_rrset_t){.type = DNS_TYPE_NSEC3,
			     .count = 1,
			     .ttl = x->ttl,
			     .flags = DNS_RRSET_AUTH,
			     .rdata = ptr};
	*out = (dns_node_t){.name = name,
			    .name_len = (uint8_t)(1 + 32 + x->olen),
			    .labels = (uint8_t)x->labels,
			    .rrset_count = 1,
			    .rrset_cap = 1,
			    .rrsets = set};
}

/* Makes the NSEC3 record of node n (its hash, the next hash nxt) in the arena. */
static int n3_make(const n3ctx_t *x, const uint8_t hash[20], const uint8_t nxt[20],
		   const dns_node_t *n, dns_node_t *out, dns_rrset_t *set, const uint8_t **ptr)
{
	uint16_t types[1024];
	uint8_t bitmap[8704];
	size_t nt = (n->flags & DNS_NODE_ENT) ? 0 : node_types(n, false, types);
	size_t blen = signer_bitmap(types, nt, bitmap);
	size_t rdlen = x->hlen + 20 + blen;
	size_t name_len = 1 + 32 + x->olen;
	uint8_t *mem = tandem_arena_alloc(x->bytes, name_len + rdlen + 2);
	if (mem == NULL) {
		return TANDEM_ENOMEM;
	}
	char b32[40];
	crypto_base32hex(hash, 20, b32);
	mem[0] = 32;
	memcpy(mem + 1, b32, 32);
	memcpy(mem + 33, x->origin, x->olen);
	uint8_t *rd = mem + name_len;
	rd[0] = (uint8_t)(rdlen >> 8);
	rd[1] = (uint8_t)rdlen;
	memcpy(rd + 2, x->head, x->hlen);
	memcpy(rd + 2 + x->hlen, nxt, 20);
	memcpy(rd + 2 + x->hlen + 20, bitmap, blen);
	n3_wrap(x, mem, rd, out, set, ptr);
	return TANDEM_OK;
}

/* The output arrays of a chain of nh records: nodes malloc'd, RRsets and pointers from the
 * arena. */
static int n3_arrays(tandem_arena_t *arena, size_t nh, dns_node_t **out, dns_rrset_t **sets,
		     const uint8_t ***ptrs)
{
	size_t n = nh ? nh : 1;
	*out = calloc(n, sizeof(**out));
	*sets = tandem_arena_alloc(arena, sizeof(**sets) * n);
	*ptrs = tandem_arena_alloc(arena, sizeof(**ptrs) * n);
	return *out != NULL && *sets != NULL && *ptrs != NULL ? TANDEM_OK : TANDEM_ENOMEM;
}

static int collision(tandem_diag_t *diag, const uint8_t *a_name, const uint8_t *b_name)
{
	char a[1024], b[1024];
	dns_name_to_str(a_name, a);
	dns_name_to_str(b_name, b);
	tandem_diag_add(diag, TANDEM_SIGNER_ECONF,
			"NSEC3 hash collision between %s and %s: choose another salt", a, b);
	return TANDEM_SIGNER_ECONF;
}

/* The whole chain from the hashes of the member nodes (h, nh; sorted here). */
static int nsec3_full(const n3ctx_t *x, hashed_t *h, size_t nh, tandem_diag_t *diag,
		      dns_node_t **chain)
{
	int ret = hashed_sort(h, nh);
	if (ret != TANDEM_OK) {
		return ret;
	}
	for (size_t i = 1; i < nh; i++) {
		if (memcmp(h[i - 1].hash, h[i].hash, 20) == 0) {
			return collision(diag, h[i - 1].node->name, h[i].node->name);
		}
	}
	dns_node_t *out = NULL;
	dns_rrset_t *sets = NULL;
	const uint8_t **ptrs = NULL;
	ret = n3_arrays(x->arena, nh, &out, &sets, &ptrs);
	for (size_t i = 0; i < nh && ret == TANDEM_OK; i++) {
		ret = n3_make(x, h[i].hash, h[(i + 1) % nh].hash, h[i].node, &out[i], &sets[i],
			      &ptrs[i]);
	}
	if (ret != TANDEM_OK) {
		free(out);
		return ret;
	}
	*chain = out;
	return TANDEM_OK;
}

/* ---- the chain of an update: the previous chain and the names that changed ---- */

/* A name that enters the chain, leaves it, or stays with other types. */
typedef struct delta {
	uint8_t hash[20];
	char b32[40];           /* its owner label (32 characters) */
	const dns_node_t *node; /* this version's node; NULL for one that leaves */
} delta_t;

typedef struct deltas {
	delta_t *v;
	size_t n, cap;
} deltas_t;

static int delta_push(deltas_t *d, const uint8_t hash[20], const dns_node_t *node)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		delta_t *v = realloc(d->v, sizeof(*v) * cap);
		if (v == NULL) {
			return TANDEM_ENOMEM;
		}
		d->v = v;
		d->cap = cap;
	}
	delta_t *e = &d->v[d->n++];
	memcpy(e->hash, hash, 20);
	crypto_base32hex(hash, 20, e->b32);
	e->node = node;
	return TANDEM_OK;
}

static int delta_cmp(const void *a, const void *b)
{
	return memcmp(((const delta_t *)a)->hash, ((const delta_t *)b)->hash, 20);
}

/* The raw hash an NSEC3 owner's first label (32 base32hex characters) spells. */
static bool b32_decode(const uint8_t *label, uint8_t out[20])
{
	uint64_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < 32; i++) {
		uint8_t c = label[i];
		unsigned v;
		if (c >= '0' && c <= '9') {
			v = c - '0';
		} else if (c >= 'a' && c <= 'v') {
			v = c - 'a' + 10u;
		} else if (c >= 'A' && c <= 'V') {
			v = c - 'A' + 10u;
		} else {
			return false;
		}
		acc = acc << 5 | v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return o == 20;
}

/* Whether two versions of a name list the same types in an NSEC3 bitmap: the same kind
 * (ENT, delegation) and the same types left once node_types has filtered them. */
static bool same_types(const dns_node_t *a, const dns_node_t *b)
{
	if ((a->flags ^ b->flags) & (DNS_NODE_ENT | DNS_NODE_DELEG)) {
		return false;
	}
	bool cut = a->flags & DNS_NODE_DELEG;
	uint16_t i = 0, j = 0;
	for (;;) {
		while (i < a->rrset_count &&
		       (a->rrsets[i].type == DNS_TYPE_NSEC || a->rrsets[i].type == DNS_TYPE_RRSIG ||
			(cut && a->rrsets[i].type != DNS_TYPE_NS &&
			 a->rrsets[i].type != DNS_TYPE_DS))) {
			i++;
		}
		while (j < b->rrset_count &&
		       (b->rrsets[j].type == DNS_TYPE_NSEC || b->rrsets[j].type == DNS_TYPE_RRSIG ||
			(cut && b->rrsets[j].type != DNS_TYPE_NS &&
			 b->rrsets[j].type != DNS_TYPE_DS))) {
			j++;
		}
		if (i == a->rrset_count || j == b->rrset_count) {
			return i == a->rrset_count && j == b->rrset_count;
		}
		if (a->rrsets[i].type != b->rrsets[j].type) {
			return false;
		}
		i++;
		j++;
	}
}

/* The previous version's chain entry p3 (one NSEC3 RRset of one record, owner and header
 * as this run makes them), or false. */
static bool n3_reusable(const n3ctx_t *x, const dns_node_t *p)
{
	if (p->name_len != 1 + 32 + x->olen || p->name[0] != 32 || p->rrset_count != 1 ||
	    p->rrsets[0].type != DNS_TYPE_NSEC3 || p->rrsets[0].count != 1) {
		return false;
	}
	const uint8_t *rd = p->rrsets[0].rdata[0];
	return dns_rdata_len(rd) >= x->hlen + 20 && memcmp(rd + 2, x->head, x->hlen) == 0 &&
	       memcmp(p->name + 33, x->origin, x->olen) == 0;
}

/* The next hash of chain entry e: an added name's, or the owner of a previous record. */
static bool entry_hash(const int64_t e, const deltas_t *add, const dns_node_t *p3, uint8_t out[20])
{
	if (e < 0) {
		memcpy(out, add->v[-(e + 1)].hash, 20);
		return true;
	}
	return b32_decode(p3[e].name + 1, out);
}

enum { N3_FALLBACK = 1 }; /* the previous chain does not fit: build the whole chain */

/*
 * The chain of an update: the previous version's records in hash order, less those of the
 * names that left (gone), with those of the names that entered (add) merged in. A record
 * whose name kept its types and whose successor is the same is copied as it was; one whose
 * successor changed gets the new next hash; added names and those whose types changed
 * (chg) are made anew. Returns N3_FALLBACK when the previous chain is not the one its
 * hashes describe.
 */
static int nsec3_update(const n3ctx_t *x, const dns_node_t *p3, size_t p3count, deltas_t *add,
			deltas_t *gone, deltas_t *chg, tandem_diag_t *diag, dns_node_t **chain,
			size_t *nchain, size_t *kept, size_t *live)
{
	deltas_t *lists[] = {add, gone, chg};
	for (size_t l = 0; l < 3; l++) {
		if (lists[l]->n > 1) { /* an empty list has no array at all */
			qsort(lists[l]->v, lists[l]->n, sizeof(*lists[l]->v), delta_cmp);
		}
	}
	for (size_t i = 1; i < add->n; i++) {
		if (memcmp(add->v[i - 1].hash, add->v[i].hash, 20) == 0) {
			return collision(diag, add->v[i - 1].node->name, add->v[i].node->name);
		}
	}
	if (gone->n > p3count) {
		return N3_FALLBACK;
	}
	size_t nh = p3count - gone->n + add->n;
	int64_t *ent = malloc(sizeof(*ent) * (nh ? nh : 1)); /* >= 0: p3 index; < 0: add */
	dns_node_t *out = NULL;
	dns_rrset_t *sets = NULL;
	const uint8_t **ptrs = NULL;
	int ret = TANDEM_OK;
	if (ent == NULL) {
		return TANDEM_ENOMEM;
	}
	/* pass 1: the order of the new chain */
	size_t k = 0, a = 0, g = 0, e = 0;
	while (k < p3count || a < add->n) {
		if (k < p3count && g < gone->n) {
			int c = memcmp(gone->v[g].b32, p3[k].name + 1, 32);
			if (c < 0) {
				ret = N3_FALLBACK; /* a name left that the chain did not have */
				goto out;
			}
			if (c == 0) {
				g++;
				k++;
				continue;
			}
		}
		int c = k == p3count  ? 1
			: a == add->n ? -1
				      : memcmp(p3[k].name + 1, add->v[a].b32, 32);
		if (c == 0) {
			/* another name of the chain has this hash */
			char name[1024];
			dns_name_to_str(add->v[a].node->name, name);
			tandem_diag_add(
			    diag, TANDEM_SIGNER_ECONF,
			    "NSEC3 hash collision between %s and the name hashed to %.32s: "
			    "choose another salt",
			    name, (const char *)p3[k].name + 1);
			ret = TANDEM_SIGNER_ECONF;
			goto out;
		}
		if (e == nh) {
			ret = N3_FALLBACK;
			goto out;
		}
		ent[e++] = c < 0 ? (int64_t)k++ : -(int64_t)(++a);
	}
	if (e != nh || g != gone->n) {
		ret = N3_FALLBACK;
		goto out;
	}
	/* pass 2: the records */
	ret = n3_arrays(x->arena, nh, &out, &sets, &ptrs);
	size_t ci = 0;
	for (size_t i = 0; i < nh && ret == TANDEM_OK; i++) {
		int64_t cur = ent[i], nxt = ent[(i + 1) % nh];
		uint8_t next[20];
		if (cur < 0) {
			if (!entry_hash(nxt, add, p3, next)) {
				ret = N3_FALLBACK;
				break;
			}
			ret = n3_make(x, add->v[-(cur + 1)].hash, next, add->v[-(cur + 1)].node,
				      &out[i], &sets[i], &ptrs[i]);
			continue;
		}
		const dns_node_t *p = &p3[cur];
		if (!n3_reusable(x, p)) {
			ret = N3_FALLBACK;
			break;
		}
		while (ci < chg->n && memcmp(chg->v[ci].b32, p->name + 1, 32) < 0) {
			ci++;
		}
		bool changed = ci < chg->n && memcmp(chg->v[ci].b32, p->name + 1, 32) == 0;
		bool same_next = nxt >= 0 && (size_t)nxt == ((size_t)cur + 1) % p3count;
		if (!same_next && !entry_hash(nxt, add, p3, next)) {
			ret = N3_FALLBACK;
			break;
		}
		if (changed) {
			if (same_next) {
				memcpy(next, p->rrsets[0].rdata[0] + 2 + x->hlen, 20);
			}
			ret = n3_make(x, chg->v[ci].hash, next, chg->v[ci].node, &out[i], &sets[i],
				      &ptrs[i]);
			continue;
		}
		const uint8_t *prd = p->rrsets[0].rdata[0];
		size_t rdsize = 2u + dns_rdata_len(prd);
		if (same_next && x->share) {
			/* the previous version's bytes, in arenas this version holds too */
			(*kept)++;
			*live += p->name_len + rdsize;
			n3_wrap(x, p->name, prd, &out[i], &sets[i], &ptrs[i]);
			continue;
		}
		uint8_t *mem = tandem_arena_alloc(x->bytes, p->name_len + rdsize);
		if (mem == NULL) {
			ret = TANDEM_ENOMEM;
			break;
		}
		memcpy(mem, p->name, p->name_len);
		memcpy(mem + p->name_len, prd, rdsize);
		if (same_next) {
			(*kept)++;
		} else {
			memcpy(mem + p->name_len + 2 + x->hlen, next, 20);
		}
		n3_wrap(x, mem, mem + p->name_len, &out[i], &sets[i], &ptrs[i]);
	}
	if (ret == TANDEM_OK) {
		*chain = out;
		*nchain = nh;
		out = NULL;
	}
out:
	free(out);
	free(ent);
	return ret;
}

int signer_nsec3_build(dns_zone_t *zone, const signer_conf_t *conf, const dns_node_t *const *pmap,
		       uint32_t ttl, signer_dnssec_t *dnssec, tandem_diag_t *diag, size_t *records,
		       size_t *hashed, size_t *kept)
{
	int ret = TANDEM_OK;
	size_t count = 0, live = 0;
	dns_node_t *nodes = dns_zone_nodes(zone, &count);
	n3ctx_t x;
	n3ctx_init(&x, zone, conf, ttl, dnssec);
	hashed_t *h = NULL;
	uint8_t(*keep)[20] = NULL; /* every node's hash, kept with the zone */
	dns_node_t *chain = NULL;
	uint8_t *in = NULL;
	uint8_t *matched = NULL; /* per previous node: this version has its name */
	deltas_t add = {0}, gone = {0}, chg = {0};
	size_t nh = 0;

	if (x.olen + 33 > DNS_NAME_MAXLEN) {
		tandem_diag_add(diag, TANDEM_SIGNER_ECONF, "zone name too long for NSEC3 owners");
		return TANDEM_SIGNER_ECONF;
	}
	/* NSEC3PARAM first: the apex bitmap lists it. Flags are 0 in NSEC3PARAM. */
	dns_node_t *apex = dns_zone_apex(zone);
	size_t plen = 5u + conf->nsec3_salt_len;
	uint8_t *param = tandem_arena_alloc(x.arena, plen + 2);
	if (apex == NULL || param == NULL) {
		return apex == NULL ? TANDEM_SIGNER_ECONF : TANDEM_ENOMEM;
	}
	param[0] = 0;
	param[1] = (uint8_t)plen;
	param[2] = 1; /* SHA-1 */
	param[3] = 0;
	param[4] = (uint8_t)(conf->nsec3_iterations >> 8);
	param[5] = (uint8_t)conf->nsec3_iterations;
	param[6] = conf->nsec3_salt_len;
	memcpy(param + 7, conf->nsec3_salt, conf->nsec3_salt_len);
	const uint8_t *pp = param;
	/* RFC 5155 4: NSEC3PARAM TTL is not constrained; use the denial TTL. */
	dns_rrset_t *prs = dns_node_put_rrset(apex, x.arena, DNS_TYPE_NSEC3PARAM, ttl, &pp, 1);
	if (prs == NULL) {
		return TANDEM_ENOMEM;
	}
	prs->flags |= DNS_RRSET_AUTH;

	in = nsec3_membership(zone, conf->nsec3_optout);
	h = malloc(sizeof(*h) * (count ? count : 1));
	keep = calloc(count ? count : 1, sizeof(*keep));
	if (in == NULL || h == NULL || keep == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	/*
	 * A name the previous version had keeps its hash (same salt and iterations). With the
	 * map of names to the previous version's nodes this also finds what the chain must
	 * change: names that enter it, names that leave it, and names that stay with other
	 * types.
	 */
	const dns_node_t *pnodes = NULL;
	size_t pcount = 0, pmembers = 0;
	const uint8_t(*ph)[20] = prev_hashes(conf, param, &pnodes, &pcount);
	if (ph != NULL && (pmap == NULL || (matched = calloc(pcount ? pcount : 1, 1)) == NULL)) {
		ret = pmap == NULL ? TANDEM_EINVAL : TANDEM_ENOMEM;
		goto out;
	}
	static const uint8_t none[20] = {0};
	for (size_t i = 0; i < count && ret == TANDEM_OK; i++) {
		const dns_node_t *pn = NULL;
		if (ph != NULL && pmap[i] != NULL) {
			size_t pj = (size_t)(pmap[i] - pnodes);
			matched[pj] = 1;
			pn = memcmp(ph[pj], none, 20) != 0 ? pmap[i] : NULL;
		}
		if (!in[i]) {
			if (pn != NULL) {
				ret = delta_push(&gone, ph[pn - pnodes], NULL);
			}
			continue;
		}
		h[nh].node = &nodes[i];
		if (pn != NULL) {
			memcpy(h[nh].hash, ph[pn - pnodes], 20);
			if (!same_types(&nodes[i], pn)) {
				ret = delta_push(&chg, h[nh].hash, &nodes[i]);
			}
		} else if (crypto_nsec3_hash(nodes[i].name, nodes[i].name_len, conf->nsec3_salt,
					     conf->nsec3_salt_len, conf->nsec3_iterations,
					     h[nh].hash) != TANDEM_OK) {
			ret = TANDEM_ENOMEM;
		} else {
			(*hashed)++;
			if (ph != NULL) {
				ret = delta_push(&add, h[nh].hash, &nodes[i]);
			}
		}
		memcpy(keep[i], h[nh].hash, 20);
		nh++;
	}
	/* the previous chain's members, and those whose names are gone */
	for (size_t pj = 0; ph != NULL && pj < pcount && ret == TANDEM_OK; pj++) {
		if (memcmp(ph[pj], none, 20) != 0) {
			pmembers++;
			if (!matched[pj]) {
				ret = delta_push(&gone, ph[pj], NULL);
			}
		}
	}
	if (ret != TANDEM_OK) {
		goto out;
	}
	size_t p3count = 0;
	const dns_node_t *p3 =
	    ph != NULL ? dns_zone_nsec3_nodes((dns_zone_t *)conf->previous, &p3count) : NULL;
	size_t nchain = 0;
	ret = N3_FALLBACK;
	if (p3 != NULL && p3count == pmembers && p3count > 0 &&
	    dns_name_compare(dns_zone_origin(conf->previous), x.origin) == 0) {
		ret = nsec3_update(&x, p3, p3count, &add, &gone, &chg, diag, &chain, &nchain, kept,
				   &live);
	}
	if (ret == N3_FALLBACK) {
		*kept = 0;
		live = 0;
		nchain = nh;
		ret = nsec3_full(&x, h, nh, diag, &chain);
	}
	if (ret != TANDEM_OK) {
		goto out;
	}
	dns_zone_set_nsec3_nodes_take(zone, chain, nchain);
	dns_zone_set_node_hashes_take(zone, keep, count);
	keep = NULL;
	*records = nchain;
	if (dnssec != NULL) {
		dnssec->live += live;
	}
out:
	free(matched);
	free(add.v);
	free(gone.v);
	free(chg.v);
	free(keep);
	free(h);
	free(in);
	return ret;
}
