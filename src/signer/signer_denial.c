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

/* Name order for walking two versions together: byte equality first, the usual case. */
static int walk_cmp(const dns_node_t *a, const dns_node_t *b)
{
	if (a->name_len == b->name_len && memcmp(a->name, b->name, a->name_len) == 0) {
		return 0;
	}
	return dns_name_compare(a->name, b->name);
}

int signer_nsec3_build(dns_zone_t *zone, const signer_conf_t *conf, uint32_t ttl,
		       tandem_diag_t *diag, size_t *records, size_t *hashed)
{
	int ret = TANDEM_OK;
	size_t count = 0;
	dns_node_t *nodes = dns_zone_nodes(zone, &count);
	tandem_arena_t *arena = dns_zone_arena(zone);
	const uint8_t *origin = dns_zone_origin(zone);
	size_t olen = dns_name_len(origin, DNS_NAME_MAXLEN);
	hashed_t *h = NULL;
	uint8_t(*keep)[20] = NULL; /* every node's hash, kept with the zone */
	dns_node_t *out = NULL;
	uint8_t *in = NULL;
	size_t nh = 0;
	uint16_t types[1024];
	uint8_t bitmap[8704];

	if (olen + 33 > DNS_NAME_MAXLEN) {
		tandem_diag_add(diag, TANDEM_SIGNER_ECONF, "zone name too long for NSEC3 owners");
		return TANDEM_SIGNER_ECONF;
	}
	/* NSEC3PARAM first: the apex bitmap lists it. Flags are 0 in NSEC3PARAM. */
	dns_node_t *apex = dns_zone_apex(zone);
	size_t plen = 5u + conf->nsec3_salt_len;
	uint8_t *param = tandem_arena_alloc(arena, plen + 2);
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
	dns_rrset_t *prs = dns_node_put_rrset(apex, arena, DNS_TYPE_NSEC3PARAM, ttl, &pp, 1);
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
	/* a name the previous version had keeps its hash (same salt and iterations) */
	const dns_node_t *pnodes = NULL;
	size_t pcount = 0, pj = 0;
	const uint8_t(*ph)[20] = prev_hashes(conf, param, &pnodes, &pcount);
	static const uint8_t none[20] = {0};
	for (size_t i = 0; i < count; i++) {
		if (!in[i]) {
			continue;
		}
		h[nh].node = &nodes[i];
		int c = 1;
		while (ph != NULL && pj < pcount && (c = walk_cmp(&pnodes[pj], &nodes[i])) < 0) {
			pj++;
		}
		if (ph != NULL && pj < pcount && c == 0 && memcmp(ph[pj], none, 20) != 0) {
			memcpy(h[nh].hash, ph[pj], 20);
		} else if (crypto_nsec3_hash(nodes[i].name, nodes[i].name_len, conf->nsec3_salt,
					     conf->nsec3_salt_len, conf->nsec3_iterations,
					     h[nh].hash) != TANDEM_OK) {
			ret = TANDEM_ENOMEM;
			goto out;
		} else {
			(*hashed)++;
		}
		memcpy(keep[i], h[nh].hash, 20);
		nh++;
	}
	ret = hashed_sort(h, nh);
	if (ret != TANDEM_OK) {
		goto out;
	}
	for (size_t i = 1; i < nh; i++) {
		if (memcmp(h[i - 1].hash, h[i].hash, 20) == 0) {
			char a[1024], b[1024];
			dns_name_to_str(h[i - 1].node->name, a);
			dns_name_to_str(h[i].node->name, b);
			tandem_diag_add(
			    diag, TANDEM_SIGNER_ECONF,
			    "NSEC3 hash collision between %s and %s: choose another salt", a, b);
			ret = TANDEM_SIGNER_ECONF;
			goto out;
		}
	}
	out = calloc(nh ? nh : 1, sizeof(*out));
	dns_rrset_t *sets = tandem_arena_alloc(arena, sizeof(*sets) * (nh ? nh : 1));
	const uint8_t **ptrs = tandem_arena_alloc(arena, sizeof(*ptrs) * (nh ? nh : 1));
	if (out == NULL || sets == NULL || ptrs == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	memset(sets, 0, sizeof(*sets) * (nh ? nh : 1));
	uint8_t flags = conf->nsec3_optout ? 1 : 0;
	for (size_t i = 0; i < nh; i++) {
		const hashed_t *cur = &h[i];
		const hashed_t *nxt = &h[(i + 1) % nh];
		size_t nt =
		    (cur->node->flags & DNS_NODE_ENT) ? 0 : node_types(cur->node, false, types);
		size_t blen = signer_bitmap(types, nt, bitmap);
		size_t rdlen = 5u + conf->nsec3_salt_len + 1 + 20 + blen;
		size_t name_len = 1 + 32 + olen;
		uint8_t *mem = tandem_arena_alloc(arena, name_len + rdlen + 2);
		if (mem == NULL) {
			ret = TANDEM_ENOMEM;
			goto out;
		}
		uint8_t *name = mem;
		name[0] = 32;
		char b32[40];
		crypto_base32hex(cur->hash, 20, b32);
		memcpy(name + 1, b32, 32);
		memcpy(name + 33, origin, olen);
		uint8_t *rd = mem + name_len;
		rd[0] = (uint8_t)(rdlen >> 8);
		rd[1] = (uint8_t)rdlen;
		uint8_t *p = rd + 2;
		*p++ = 1;
		*p++ = flags;
		*p++ = (uint8_t)(conf->nsec3_iterations >> 8);
		*p++ = (uint8_t)conf->nsec3_iterations;
		*p++ = conf->nsec3_salt_len;
		memcpy(p, conf->nsec3_salt, conf->nsec3_salt_len);
		p += conf->nsec3_salt_len;
		*p++ = 20;
		memcpy(p, nxt->hash, 20);
		p += 20;
		memcpy(p, bitmap, blen);
		ptrs[i] = rd;
		sets[i].type = DNS_TYPE_NSEC3;
		sets[i].count = 1;
		sets[i].ttl = ttl;
		sets[i].flags = DNS_RRSET_AUTH;
		sets[i].rdata = &ptrs[i];
		out[i].name = name;
		out[i].name_len = (uint8_t)name_len;
		out[i].labels = (uint8_t)(dns_name_labels(origin) + 1);
		out[i].rrset_count = 1;
		out[i].rrset_cap = 1;
		out[i].rrsets = &sets[i];
	}
	dns_zone_set_nsec3_nodes_take(zone, out, nh);
	out = NULL;
	dns_zone_set_node_hashes_take(zone, keep, count);
	keep = NULL;
	*records = nh;
out:
	free(keep);
	free(out);
	free(h);
	free(in);
	return ret;
}
