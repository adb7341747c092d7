/* Applying a changeset to a zone: the next version made from the held one. */
#include "dns_diff.h"
#include "dns_internal.h"
#include "tandem_error.h"

#include "dns_zone_copy.h"

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

/* The whole-zone path: every record flattened, sorted and built again. */
static int apply_full(dns_zone_t *old_zone, const dns_changeset_t *cs, dns_zone_t **out)
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

/* ---- the incremental path: the cost grows with the change ---- */

/* A chain of versions sharing arenas longer than this is copied whole, so that what the
 * changes removed is freed at last. */
#define APPLY_SHARE_MAX 4

/* Returned inside this file when the change needs the whole-zone path. */
#define APPLY_FULL 1

typedef struct change {
	dns_rr_t rr;
	bool added;
} change_t;

/* owner, type, RDATA, then the removal before the addition of one record */
static int change_cmp(const void *x, const void *y)
{
	const change_t *a = x, *b = y;
	int c = a->rr.owner == b->rr.owner ? 0 : dns_name_compare(a->rr.owner, b->rr.owner);
	if (c == 0 && a->rr.type != b->rr.type) {
		c = a->rr.type < b->rr.type ? -1 : 1;
	}
	if (c == 0) {
		c = dns_rdata_compare(a->rr.rdata, b->rr.rdata);
	}
	if (c == 0 && a->added != b->added) {
		c = a->added ? 1 : -1;
	}
	return c;
}

static int node_name_cmp(const void *x, const void *y)
{
	const dns_node_t *a = x, *b = y;
	return dns_name_compare(a->name, b->name);
}

/*
 * One RRset of type `type` after the changes ch[0..n) (all of that owner and type, sorted):
 * old (NULL: none) minus the removed plus the added, RDATA in canonical order, the TTL of
 * the first (as the whole-zone path builds it). count 0: the RRset goes.
 */
static int apply_rrset(tandem_arena_t *arena, const dns_rrset_t *old, const change_t *ch, size_t n,
		       uint16_t type, dns_rrset_t *out, bool *mixed)
{
	size_t oc = old != NULL ? old->count : 0;
	if (old != NULL && old->sig_count > 0) {
		return APPLY_FULL; /* signatures over a changed RRset: the flattening path */
	}
	const uint8_t **rd = tandem_arena_alloc(arena, sizeof(*rd) * (oc + n + 1));
	if (rd == NULL) {
		return TANDEM_ENOMEM;
	}
	size_t i = 0, j = 0, k = 0;
	uint32_t ttl = 0;
	while (i < oc || j < n) {
		int c = i == oc  ? 1
			: j == n ? -1
				 : dns_rdata_compare(old->rdata[i], ch[j].rr.rdata);
		if (c < 0) {
			*mixed |= k > 0 && ttl != old->ttl;
			ttl = k == 0 ? old->ttl : ttl;
			rd[k++] = old->rdata[i++];
		} else if (c == 0 && !ch[j].added) {
			if (ch[j].rr.ttl != old->ttl) {
				return TANDEM_ENOENT; /* not that record: another TTL */
			}
			i++;
			j++;
			/* removed twice: the second finds nothing */
			if (j < n && !ch[j].added &&
			    dns_rdata_compare(ch[j].rr.rdata, ch[j - 1].rr.rdata) == 0) {
				return TANDEM_ENOENT;
			}
		} else if (c == 0 || ch[j].added == false) {
			return c == 0 ? TANDEM_EEXIST : TANDEM_ENOENT;
		} else {
			if (k > 0 && dns_rdata_compare(rd[k - 1], ch[j].rr.rdata) == 0) {
				return TANDEM_EEXIST; /* added twice */
			}
			size_t len = (size_t)dns_rdata_len(ch[j].rr.rdata) + 2;
			rd[k] = tandem_arena_memdup(arena, ch[j].rr.rdata, len);
			if (rd[k] == NULL) {
				return TANDEM_ENOMEM;
			}
			*mixed |= k > 0 && ttl != ch[j].rr.ttl;
			ttl = k == 0 ? ch[j].rr.ttl : ttl;
			k++;
			j++;
		}
	}
	if (k > UINT16_MAX) {
		return TANDEM_EINVAL;
	}
	memset(out, 0, sizeof(*out));
	out->type = type;
	out->ttl = ttl;
	out->count = (uint16_t)k;
	out->rdata = rd;
	return TANDEM_OK;
}

/* The node `owner` after the changes ch[0..n) (all of that owner, sorted); old: NULL when
 * the name is new. */
static int apply_node(tandem_arena_t *arena, const dns_node_t *old, const change_t *ch, size_t n,
		      dns_node_t *out, bool *mixed)
{
	size_t oc = old != NULL ? old->rrset_count : 0, cap = oc;
	for (size_t j = 0; j < n; j++) {
		cap += j == 0 || ch[j].rr.type != ch[j - 1].rr.type;
	}
	dns_rrset_t *sets = tandem_arena_alloc(arena, sizeof(*sets) * (cap ? cap : 1));
	if (sets == NULL) {
		return TANDEM_ENOMEM;
	}
	if (old != NULL) {
		*out = *old;
	} else {
		memset(out, 0, sizeof(*out));
		size_t len = dns_name_len(ch[0].rr.owner, DNS_NAME_MAXLEN);
		out->name = tandem_arena_memdup(arena, ch[0].rr.owner, len);
		if (out->name == NULL) {
			return TANDEM_ENOMEM;
		}
		out->name_len = (uint8_t)len;
		out->labels = (uint8_t)dns_name_labels(out->name);
	}
	size_t i = 0, j = 0, k = 0;
	while (i < oc || j < n) {
		uint16_t ot = i < oc ? old->rrsets[i].type : UINT16_MAX;
		uint16_t ct = j < n ? ch[j].rr.type : UINT16_MAX;
		if (i < oc && (j == n || ot < ct)) {
			sets[k++] = old->rrsets[i++]; /* untouched: RDATA shared */
			continue;
		}
		size_t end = j;
		while (end < n && ch[end].rr.type == ct) {
			end++;
		}
		const dns_rrset_t *was = i < oc && ot == ct ? &old->rrsets[i++] : NULL;
		int ret = apply_rrset(arena, was, ch + j, end - j, ct, &sets[k], mixed);
		if (ret != TANDEM_OK) {
			return ret;
		}
		k += sets[k].count > 0;
		j = end;
	}
	out->rrsets = sets;
	out->rrset_count = (uint16_t)k;
	out->rrset_cap = (uint16_t)(cap ? cap : 1);
	out->line = 0;
	return TANDEM_OK;
}

/* The changes as one sorted array (the SOAs a removal and an addition); APPLY_FULL when one
 * is a signature or NSEC3 record, which the flattening path handles. */
static int collect(const dns_changeset_t *cs, change_t **out, size_t *count)
{
	size_t nrm = 0, nadd = 0;
	const dns_rr_t *lists[2] = {dns_changeset_records(cs, false, &nrm),
				    dns_changeset_records(cs, true, &nadd)};
	size_t n = nrm + nadd + 2, m = 0;
	change_t *ch = malloc(sizeof(*ch) * n);
	if (ch == NULL) {
		return TANDEM_ENOMEM;
	}
	for (int side = 0; side < 2; side++) {
		size_t len = side ? nadd : nrm;
		for (size_t i = 0; i < len; i++) {
			const dns_rr_t *r = &lists[side][i];
			if (r->type == DNS_TYPE_RRSIG || r->type == DNS_TYPE_NSEC3) {
				free(ch);
				return APPLY_FULL;
			}
			ch[m++] = (change_t){.rr = *r, .added = side == 1};
		}
		ch[m++] = (change_t){.rr = *dns_changeset_soa(cs, side == 1), .added = side == 1};
	}
	qsort(ch, m, sizeof(*ch), change_cmp);
	*out = ch;
	*count = m;
	return TANDEM_OK;
}

/* Whether names below n lie below a cut because of n. */
static bool is_cut(const dns_node_t *n, bool apex)
{
	return (!apex && dns_node_rrset(n, DNS_TYPE_NS) != NULL) ||
	       dns_node_rrset(n, DNS_TYPE_DNAME) != NULL;
}

/* The new versions of the changed owners, and empty nodes for the missing ancestors of new
 * ones, in canonical order. */
static int touched_nodes(dns_zone_t *old, tandem_arena_t *arena, const change_t *ch, size_t n,
			 dns_node_t **out, size_t *count, bool *mixed)
{
	size_t cap = 16, m = 0;
	dns_node_t *t = malloc(sizeof(*t) * cap);
	int ret = t == NULL ? TANDEM_ENOMEM : TANDEM_OK;
	for (size_t i = 0; i < n && ret == TANDEM_OK;) {
		size_t end = i + 1;
		while (end < n && dns_name_compare(ch[i].rr.owner, ch[end].rr.owner) == 0) {
			end++;
		}
		if (!dns_name_is_sub(ch[i].rr.owner, old->origin)) {
			ret = TANDEM_EINVAL; /* not in the zone */
			break;
		}
		const dns_node_t *was = dns_nodes_find(old->nodes, old->node_count, ch[i].rr.owner);
		/* room for this node and its ancestors */
		if (m + 1 + DNS_NAME_MAXLEN / 2 > cap) {
			cap = 2 * (m + 1 + DNS_NAME_MAXLEN / 2);
			dns_node_t *bigger = realloc(t, sizeof(*t) * cap);
			if (bigger == NULL) {
				ret = TANDEM_ENOMEM;
				break;
			}
			t = bigger;
		}
		ret = apply_node(arena, was, ch + i, end - i, &t[m], mixed);
		if (ret != TANDEM_OK) {
			break;
		}
		bool apex = dns_name_compare(ch[i].rr.owner, old->origin) == 0;
		if (was == NULL || is_cut(was, apex) != is_cut(&t[m], apex)) {
			t[m].flags |= DNS_NODE_MARK_BELOW; /* the names below may change flags */
		}
		const uint8_t *name = t[m++].name;
		while (was == NULL && name[0] != 0) {
			name += name[0] + 1;
			if (dns_name_len(name, DNS_NAME_MAXLEN) <= old->origin_len ||
			    dns_nodes_find(old->nodes, old->node_count, name) != NULL) {
				break;
			}
			t[m++] =
			    (dns_node_t){.name = name,
					 .name_len = (uint8_t)dns_name_len(name, DNS_NAME_MAXLEN),
					 .labels = (uint8_t)dns_name_labels(name),
					 .flags = DNS_NODE_ENT};
		}
		i = end;
	}
	if (ret != TANDEM_OK) {
		free(t);
		return ret;
	}
	qsort(t, m, sizeof(*t), node_name_cmp);
	size_t u = 0; /* one per name: a changed owner over an ancestor made for another */
	for (size_t i = 0; i < m; i++) {
		if (u > 0 && dns_name_compare(t[u - 1].name, t[i].name) == 0) {
			if (t[i].rrset_count > t[u - 1].rrset_count ||
			    !(t[i].flags & DNS_NODE_ENT)) {
				t[u - 1] = t[i];
			}
			continue;
		}
		t[u++] = t[i];
	}
	*out = t;
	*count = u;
	return TANDEM_OK;
}

/* The first of nodes[0..n) not before name (a binary search). */
static size_t lower_bound(const dns_node_t *nodes, size_t n, const uint8_t *name)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (dns_name_compare(nodes[mid].name, name) < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo;
}

/*
 * old's nodes with the touched ones merged in (the untouched copied a run at a time: a search
 * per touched name, not a comparison per node); then, from the end, a node without RRsets is
 * kept (as an empty non-terminal) only when the next one kept is below it.
 */
static int merge_nodes(const dns_zone_t *old, const dns_node_t *t, size_t nt, dns_node_t **out,
		       size_t *count)
{
	size_t cap = old->node_count + nt, m = 0, a = 0;
	dns_node_t *v = malloc(sizeof(*v) * (cap ? cap : 1));
	if (v == NULL) {
		return TANDEM_ENOMEM;
	}
	for (size_t b = 0; b < nt; b++) {
		size_t at = a + lower_bound(old->nodes + a, old->node_count - a, t[b].name);
		memcpy(v + m, old->nodes + a, sizeof(*v) * (at - a));
		m += at - a;
		a = at;
		if (a < old->node_count && dns_name_compare(old->nodes[a].name, t[b].name) == 0) {
			a++; /* replaced */
		}
		v[m++] = t[b];
	}
	memcpy(v + m, old->nodes + a, sizeof(*v) * (old->node_count - a));
	m += old->node_count - a;
	/* empty nodes: kept as empty non-terminals when the next node kept is below them */
	size_t next = m, dropped = 0;
	for (size_t i = m; i > 0; i--) {
		dns_node_t *n = &v[i - 1];
		if (n->rrset_count > 0) {
			n->flags &= (uint16_t)~DNS_NODE_ENT;
			next = i - 1;
		} else if (next < m && dns_name_is_sub(v[next].name, n->name)) {
			n->flags |= DNS_NODE_ENT;
			next = i - 1;
		} else {
			n->name = NULL; /* dropped */
			dropped++;
		}
	}
	if (dropped > 0) {
		size_t k = 0;
		for (size_t i = 0; i < m; i++) {
			if (v[i].name != NULL) {
				v[k++] = v[i];
			}
		}
		m = k;
	}
	*out = v;
	*count = m;
	return TANDEM_OK;
}

int dns_zone_share_arenas(dns_zone_t *old, dns_zone_t *z)
{
	if (old->own == NULL) {
		old->own = malloc(sizeof(*old->own));
		if (old->own == NULL) {
			return TANDEM_ENOMEM;
		}
		old->own->arena = old->arena;
		atomic_init(&old->own->refs, 1);
	}
	z->shared = malloc(sizeof(*z->shared) * (old->shared_count + 1));
	if (z->shared == NULL) {
		return TANDEM_ENOMEM;
	}
	z->shared[z->shared_count++] = old->own;
	atomic_fetch_add(&old->own->refs, 1);
	for (size_t i = 0; i < old->shared_count; i++) {
		z->shared[z->shared_count++] = old->shared[i];
		atomic_fetch_add(&old->shared[i]->refs, 1);
	}
	/* the RRSIGs of untouched RRsets of a signed version: in the signer's arenas */
	return dns_zone_dnssec_ref(z, old);
}

/* The incremental path, or APPLY_FULL. */
static int apply_shared(dns_zone_t *old, const dns_changeset_t *cs, dns_zone_t **out)
{
	change_t *ch = NULL;
	size_t nch = 0, nt = 0;
	dns_node_t *t = NULL;
	dns_zone_t *z = NULL;
	bool mixed = false; /* an RRset whose records came with different TTLs */
	if (old->nsec3_count > 0) {
		return APPLY_FULL;
	}
	int ret = collect(cs, &ch, &nch);
	if (ret == TANDEM_OK) {
		ret = dns_zone_create(old->origin, old->origin_len, &z);
	}
	if (ret == TANDEM_OK) {
		ret = dns_zone_share_arenas(old, z);
	}
	if (ret == TANDEM_OK) {
		ret = touched_nodes(old, z->arena, ch, nch, &t, &nt, &mixed);
	}
	if (ret == TANDEM_OK) {
		ret = merge_nodes(old, t, nt, &z->nodes, &z->node_count);
	}
	if (ret == TANDEM_OK) {
		ret = dns_zone_mark_below(z, t, nt, z->arena);
		z->exact = old->exact && !mixed;
	}
	if (ret == TANDEM_OK && z->shared_count > APPLY_SHARE_MAX) {
		dns_zone_t *whole = NULL;
		ret = dns_zone_copy(z, &whole);
		dns_zone_free(z);
		z = whole;
	}
	free(ch);
	free(t);
	if (ret != TANDEM_OK) {
		dns_zone_free(z);
		return ret;
	}
	*out = z;
	return TANDEM_OK;
}

int dns_zone_apply(dns_zone_t *old_zone, const dns_changeset_t *cs, dns_zone_t **out)
{
	if (old_zone == NULL || cs == NULL || out == NULL || dns_changeset_soa(cs, false) == NULL ||
	    dns_changeset_soa(cs, true) == NULL) {
		return TANDEM_EINVAL;
	}
	int ret = apply_shared(old_zone, cs, out);
	return ret == APPLY_FULL ? apply_full(old_zone, cs, out) : ret;
}
