/* Applying a changeset to a zone: the next version made from the held one. */
#include "dns_diff.h"
#include "dns_internal.h"
#include "tandem_error.h"

#include <stdlib.h>
#include <string.h>

static int rr_cmp(const void *x, const void *y)
{
	return dns_rr_compare(x, y);
}

/* The type an RR is grouped under: an RRSIG under the type it covers. */
static uint16_t rr_group(const dns_rr_t *rr)
{
	if (rr->type != DNS_TYPE_RRSIG || dns_rdata_len(rr->rdata) < 2) {
		return rr->type;
	}
	const uint8_t *d = dns_rdata_data(rr->rdata);
	return (uint16_t)((d[0] << 8) | d[1]);
}

/* NSEC3 records and their RRSIGs live in the zone's NSEC3 array. */
static bool rr_in_nsec3(const dns_rr_t *rr)
{
	return rr_group(rr) == DNS_TYPE_NSEC3;
}

/* The order a zone is built in: array, owner, RRset (RRSIGs with what they cover). */
static int build_cmp(const void *x, const void *y)
{
	const dns_rr_t *a = x, *b = y;
	bool na = rr_in_nsec3(a), nb = rr_in_nsec3(b);
	if (na != nb) {
		return na ? 1 : -1;
	}
	int c = a->owner == b->owner ? 0 : dns_name_compare(a->owner, b->owner);
	if (c != 0) {
		return c;
	}
	uint16_t ga = rr_group(a), gb = rr_group(b);
	if (ga != gb) {
		return ga < gb ? -1 : 1;
	}
	bool sa = a->type == DNS_TYPE_RRSIG, sb = b->type == DNS_TYPE_RRSIG;
	if (sa != sb) {
		return sa ? 1 : -1;
	}
	return dns_rdata_compare(a->rdata, b->rdata);
}

typedef struct rr_vec {
	dns_rr_t *v;
	size_t n, cap;
} rr_vec_t;

static int vec_push(rr_vec_t *vec, const dns_rr_t *rr)
{
	if (vec->n == vec->cap) {
		size_t cap = vec->cap ? vec->cap * 2 : 1024;
		dns_rr_t *bigger = realloc(vec->v, sizeof(*bigger) * cap);
		if (bigger == NULL) {
			return TANDEM_ENOMEM;
		}
		vec->v = bigger;
		vec->cap = cap;
	}
	vec->v[vec->n++] = *rr;
	return TANDEM_OK;
}

static int flatten(const dns_node_t *nodes, size_t count, rr_vec_t *vec)
{
	for (size_t i = 0; i < count; i++) {
		const dns_node_t *n = &nodes[i];
		for (uint16_t k = 0; k < n->rrset_count; k++) {
			const dns_rrset_t *rs = &n->rrsets[k];
			dns_rr_t rr = {.owner = n->name, .rclass = DNS_CLASS_IN, .ttl = rs->ttl};
			for (uint16_t j = 0; j < rs->count + rs->sig_count; j++) {
				rr.type = j < rs->count ? rs->type : DNS_TYPE_RRSIG;
				rr.rdata = j < rs->count ? rs->rdata[j] : rs->sigs[j - rs->count];
				if (vec_push(vec, &rr) != TANDEM_OK) {
					return TANDEM_ENOMEM;
				}
			}
		}
	}
	return TANDEM_OK;
}

/* Builds the RRsets of one owner (recs[0..n), build order) into node. */
static int build_node(tandem_arena_t *arena, const dns_rr_t *recs, size_t n, dns_node_t *node,
		      const uint8_t **tmp)
{
	size_t len = dns_name_len(recs[0].owner, DNS_NAME_MAXLEN);
	memset(node, 0, sizeof(*node));
	node->name = tandem_arena_memdup(arena, recs[0].owner, len);
	if (node->name == NULL) {
		return TANDEM_ENOMEM;
	}
	node->name_len = (uint8_t)len;
	node->labels = (uint8_t)dns_name_labels(node->name);
	size_t i = 0;
	while (i < n) {
		uint16_t group = rr_group(&recs[i]);
		size_t end = i, nrd = 0;
		uint32_t ttl = recs[i].ttl;
		while (end < n && rr_group(&recs[end]) == group) {
			end++;
		}
		if (end - i > UINT16_MAX) {
			return TANDEM_EINVAL;
		}
		for (size_t k = i; k < end; k++) {
			tmp[k - i] = tandem_arena_memdup(arena, recs[k].rdata,
							 (size_t)dns_rdata_len(recs[k].rdata) + 2);
			if (tmp[k - i] == NULL) {
				return TANDEM_ENOMEM;
			}
			nrd += recs[k].type != DNS_TYPE_RRSIG;
		}
		if (nrd > 0) {
			ttl = recs[i].ttl;
		}
		dns_rrset_t *rs = dns_node_put_rrset(node, arena, group, ttl, tmp, (uint16_t)nrd);
		if (rs == NULL) {
			return TANDEM_ENOMEM;
		}
		size_t nsig = end - i - nrd;
		if (nsig > 0) {
			rs = dns_node_rrset(node, group);
			rs->sigs = tandem_arena_memdup(arena, tmp + nrd, sizeof(*tmp) * nsig);
			if (rs->sigs == NULL) {
				return TANDEM_ENOMEM;
			}
			rs->sig_count = (uint16_t)nsig;
		}
		i = end;
	}
	return TANDEM_OK;
}

static bool owner_changed(const dns_rr_t *a, const dns_rr_t *b)
{
	return rr_in_nsec3(a) != rr_in_nsec3(b) ||
	       (a->owner != b->owner && dns_name_compare(a->owner, b->owner) != 0);
}

/* Builds a zone like `like` (its origin) from records in build order. */
static int build_zone(const dns_zone_t *like, const dns_rr_t *recs, size_t n, dns_zone_t **out)
{
	dns_zone_t *z = NULL;
	dns_node_t *nodes[2] = {NULL, NULL};
	size_t counts[2] = {0, 0};
	const uint8_t **tmp = malloc(sizeof(*tmp) * (n ? n : 1));
	int ret = tmp == NULL ? TANDEM_ENOMEM : dns_zone_create(like->origin, like->origin_len, &z);
	if (ret != TANDEM_OK) {
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || owner_changed(&recs[i - 1], &recs[i])) {
			counts[rr_in_nsec3(&recs[i])]++;
		}
	}
	for (size_t k = 0; k < 2; k++) {
		nodes[k] = calloc(counts[k] ? counts[k] : 1, sizeof(dns_node_t));
		if (nodes[k] == NULL) {
			ret = TANDEM_ENOMEM;
			goto out;
		}
		counts[k] = 0;
	}
	size_t i = 0;
	while (i < n) {
		size_t end = i + 1;
		while (end < n && !owner_changed(&recs[i], &recs[end])) {
			end++;
		}
		size_t k = rr_in_nsec3(&recs[i]);
		ret = build_node(z->arena, &recs[i], end - i, &nodes[k][counts[k]++], tmp);
		if (ret != TANDEM_OK) {
			goto out;
		}
		i = end;
	}
	z->nodes = nodes[0];
	z->node_count = counts[0];
	nodes[0] = NULL;
	dns_zone_set_nsec3_nodes_take(z, nodes[1], counts[1]);
	nodes[1] = NULL;
	ret = dns_zone_add_ents(z);
	if (ret == TANDEM_OK) {
		dns_zone_mark(z);
	}
out:
	free(tmp);
	free(nodes[0]);
	free(nodes[1]);
	if (ret != TANDEM_OK) {
		dns_zone_free(z);
		return ret;
	}
	*out = z;
	return TANDEM_OK;
}

/* Marks (in gone[]) the records of old (sorted) that rm (sorted) removes. */
static int mark_removed(const rr_vec_t *old, const dns_rr_t *rm, size_t nrm, bool *gone)
{
	size_t i = 0;
	for (size_t j = 0; j < nrm; j++) {
		while (i < old->n && dns_rr_compare(&old->v[i], &rm[j]) < 0) {
			i++;
		}
		if (i == old->n || dns_rr_compare(&old->v[i], &rm[j]) != 0 || gone[i]) {
			return TANDEM_ENOENT;
		}
		gone[i] = true;
	}
	return TANDEM_OK;
}

int dns_zone_apply(dns_zone_t *old_zone, const dns_changeset_t *cs, dns_zone_t **out)
{
	if (old_zone == NULL || cs == NULL || out == NULL || dns_changeset_soa(cs, false) == NULL ||
	    dns_changeset_soa(cs, true) == NULL) {
		return TANDEM_EINVAL;
	}
	size_t nrm = 0, nadd = 0;
	const dns_rr_t *removed = dns_changeset_records(cs, false, &nrm);
	const dns_rr_t *added = dns_changeset_records(cs, true, &nadd);
	rr_vec_t old = {0}, rm = {0}, next = {0};
	bool *gone = NULL;
	int ret = flatten(old_zone->nodes, old_zone->node_count, &old);
	if (ret == TANDEM_OK) {
		ret = flatten(old_zone->nsec3, old_zone->nsec3_count, &old);
	}
	for (size_t i = 0; i < nrm && ret == TANDEM_OK; i++) {
		ret = vec_push(&rm, &removed[i]);
	}
	if (ret == TANDEM_OK) {
		ret = vec_push(&rm, dns_changeset_soa(cs, false));
	}
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (old.n > 1) {
		qsort(old.v, old.n, sizeof(*old.v), rr_cmp);
	}
	qsort(rm.v, rm.n, sizeof(*rm.v), rr_cmp);
	gone = calloc(old.n ? old.n : 1, sizeof(*gone));
	if (gone == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	ret = mark_removed(&old, rm.v, rm.n, gone);
	for (size_t i = 0; i < old.n && ret == TANDEM_OK; i++) {
		if (!gone[i]) {
			ret = vec_push(&next, &old.v[i]);
		}
	}
	for (size_t i = 0; i < nadd && ret == TANDEM_OK; i++) {
		ret = vec_push(&next, &added[i]);
	}
	if (ret == TANDEM_OK) {
		ret = vec_push(&next, dns_changeset_soa(cs, true));
	}
	if (ret != TANDEM_OK) {
		goto out;
	}
	qsort(next.v, next.n, sizeof(*next.v), rr_cmp);
	for (size_t i = 1; i < next.n; i++) {
		const dns_rr_t *a = &next.v[i - 1], *b = &next.v[i];
		if (a->type == b->type && dns_name_compare(a->owner, b->owner) == 0 &&
		    dns_rdata_compare(a->rdata, b->rdata) == 0) {
			ret = TANDEM_EEXIST; /* the same record twice (or with two TTLs) */
			goto out;
		}
	}
	qsort(next.v, next.n, sizeof(*next.v), build_cmp);
	ret = build_zone(old_zone, next.v, next.n, out);
out:
	free(gone);
	free(old.v);
	free(rm.v);
	free(next.v);
	return ret;
}
