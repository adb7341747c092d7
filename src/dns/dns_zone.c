/* The zone container: nodes in canonical order, RRsets per node, empty non-terminals, cuts. */
#include "dns_internal.h"
#include "tandem_error.h"

#include <stdlib.h>
#include <string.h>

int dns_zone_create(const uint8_t *origin, size_t origin_len, dns_zone_t **out)
{
	dns_zone_t *z = calloc(1, sizeof(*z));
	if (z == NULL) {
		return TANDEM_ENOMEM;
	}
	if (tandem_arena_new(4u << 20, &z->arena) != TANDEM_OK) {
		free(z);
		return TANDEM_ENOMEM;
	}
	memcpy(z->origin, origin, origin_len);
	z->origin_len = origin_len;
	*out = z;
	return TANDEM_OK;
}

void dns_shared_arena_release(dns_shared_arena_t *sa)
{
	if (sa != NULL && atomic_fetch_sub(&sa->refs, 1) == 1) {
		tandem_arena_free(sa->arena);
		free(sa);
	}
}

void dns_zone_free(dns_zone_t *zone)
{
	if (zone == NULL) {
		return;
	}
	/* RRset arrays of nodes live in the arena; only the node arrays are malloc'd. */
	free(zone->nodes);
	free(zone->nsec3);
	free(zone->hashes);
	if (zone->own != NULL) {
		dns_shared_arena_release(zone->own);
	} else {
		tandem_arena_free(zone->arena);
	}
	for (size_t i = 0; i < zone->shared_count; i++) {
		dns_shared_arena_release(zone->shared[i]);
	}
	free(zone->shared);
	for (size_t i = 0; i < zone->dnssec_count; i++) {
		dns_shared_arena_release(zone->dnssec[i]);
	}
	free(zone->dnssec);
	free(zone);
}

const uint8_t *dns_zone_origin(const dns_zone_t *zone)
{
	return zone == NULL ? NULL : zone->origin;
}

tandem_arena_t *dns_zone_arena(dns_zone_t *zone)
{
	return zone == NULL ? NULL : zone->arena;
}

void dns_zone_adopt_arena(dns_zone_t *zone, tandem_arena_t *arena)
{
	if (zone == NULL) {
		tandem_arena_free(arena);
		return;
	}
	tandem_arena_merge_take(zone->arena, arena);
}

dns_node_t *dns_zone_nodes(dns_zone_t *zone, size_t *count)
{
	if (zone == NULL) {
		if (count != NULL) {
			*count = 0;
		}
		return NULL;
	}
	if (count != NULL) {
		*count = zone->node_count;
	}
	return zone->nodes;
}

/* The earliest RRSIG expiration over an array of nodes (RRSIG RDATA: type covered 2,
 * algorithm 1, labels 1, original TTL 4, then the expiration). */
static void rrsig_expiration_min(const dns_node_t *nodes, size_t count, bool *any, uint32_t *min)
{
	for (size_t i = 0; i < count; i++) {
		for (uint16_t k = 0; k < nodes[i].rrset_count; k++) {
			const dns_rrset_t *rs = &nodes[i].rrsets[k];
			for (uint16_t j = 0; j < rs->sig_count; j++) {
				const uint8_t *rd = rs->sigs[j];
				if (dns_rdata_len(rd) < 12) {
					continue;
				}
				const uint8_t *e = dns_rdata_data(rd) + 8;
				uint32_t exp = ((uint32_t)e[0] << 24) | ((uint32_t)e[1] << 16) |
					       ((uint32_t)e[2] << 8) | e[3];
				if (!*any || exp < *min) {
					*min = exp;
					*any = true;
				}
			}
		}
	}
}

bool dns_zone_rrsig_expiration_min(dns_zone_t *zone, uint32_t *out)
{
	bool any = false;
	uint32_t min = 0;
	size_t n = 0, n3 = 0;
	const dns_node_t *nodes = dns_zone_nodes(zone, &n);
	const dns_node_t *nsec3 = dns_zone_nsec3_nodes(zone, &n3);
	rrsig_expiration_min(nodes, n, &any, &min);
	rrsig_expiration_min(nsec3, n3, &any, &min);
	if (any && out != NULL) {
		*out = min;
	}
	return any;
}

size_t dns_zone_delegations(dns_zone_t *zone)
{
	size_t n = 0, count = 0;
	dns_node_t *nodes = dns_zone_nodes(zone, &count);
	for (size_t i = 0; i < count; i++) {
		n += (nodes[i].flags & DNS_NODE_DELEG) != 0;
	}
	return n;
}

int dns_zone_soa_serial(dns_zone_t *zone, uint32_t *out)
{
	if (zone == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	const dns_rrset_t *soa = dns_node_rrset(dns_zone_apex(zone), DNS_TYPE_SOA);
	if (soa == NULL || soa->count != 1 || dns_rdata_len(soa->rdata[0]) < 22) {
		return TANDEM_DNS_ESOA;
	}
	/* the serial leads the five 32-bit fields that end the RDATA */
	const uint8_t *p = soa->rdata[0] + 2 + dns_rdata_len(soa->rdata[0]) - 20;
	*out = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
	return TANDEM_OK;
}

void dns_zone_set_node_hashes_take(dns_zone_t *zone, uint8_t (*hashes)[20], size_t count)
{
	if (zone == NULL) {
		free(hashes);
		return;
	}
	free(zone->hashes);
	zone->hashes = NULL;
	zone->hash_count = 0;
	if (hashes != NULL && count == zone->node_count) {
		zone->hashes = hashes;
		zone->hash_count = count;
	} else {
		free(hashes);
	}
}

const uint8_t (*dns_zone_node_hashes(const dns_zone_t *zone))[20]
{
	if (zone == NULL || zone->hashes == NULL || zone->hash_count != zone->node_count) {
		return NULL;
	}
	return (const uint8_t(*)[20])zone->hashes;
}

dns_node_t *dns_zone_nsec3_nodes(dns_zone_t *zone, size_t *count)
{
	if (zone == NULL) {
		if (count != NULL) {
			*count = 0;
		}
		return NULL;
	}
	if (count != NULL) {
		*count = zone->nsec3_count;
	}
	return zone->nsec3;
}

void dns_zone_set_nsec3_nodes_take(dns_zone_t *zone, dns_node_t *nodes, size_t count)
{
	if (zone == NULL) {
		free(nodes);
		return;
	}
	free(zone->nsec3);
	zone->nsec3 = nodes;
	zone->nsec3_count = count;
}

dns_node_t *dns_nodes_find(dns_node_t *nodes, size_t count, const uint8_t *name)
{
	size_t lo = 0, hi = count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = dns_name_compare(nodes[mid].name, name);
		if (c == 0) {
			return &nodes[mid];
		}
		if (c < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return NULL;
}

dns_node_t *dns_zone_find(dns_zone_t *zone, const uint8_t *name)
{
	if (zone == NULL || name == NULL) {
		return NULL;
	}
	return dns_nodes_find(zone->nodes, zone->node_count, name);
}

dns_node_t *dns_zone_apex(dns_zone_t *zone)
{
	/* The apex sorts first among the zone's names. */
	if (zone == NULL || zone->node_count == 0) {
		return NULL;
	}
	return (zone->nodes[0].flags & DNS_NODE_APEX) ? &zone->nodes[0]
						      : dns_zone_find(zone, zone->origin);
}

dns_rrset_t *dns_node_rrset(const dns_node_t *node, uint16_t type)
{
	if (node == NULL) {
		return NULL;
	}
	for (uint16_t i = 0; i < node->rrset_count; i++) {
		if (node->rrsets[i].type == type) {
			return &node->rrsets[i];
		}
		if (node->rrsets[i].type > type) {
			break;
		}
	}
	return NULL;
}

dns_rrset_t *dns_node_put_rrset(dns_node_t *node, tandem_arena_t *arena, uint16_t type,
				uint32_t ttl, const uint8_t *const *rdata, uint16_t count)
{
	if (node == NULL || arena == NULL || (count > 0 && rdata == NULL)) {
		return NULL;
	}
	const uint8_t **copy = NULL;
	if (count > 0) {
		copy = tandem_arena_memdup(arena, rdata, sizeof(*copy) * count);
		if (copy == NULL) {
			return NULL;
		}
	}
	dns_rrset_t *rs = dns_node_rrset(node, type);
	if (rs == NULL) {
		if (node->rrset_count == node->rrset_cap) {
			uint16_t cap = (uint16_t)(node->rrset_cap ? node->rrset_cap * 2 : 4);
			dns_rrset_t *bigger = tandem_arena_alloc(arena, sizeof(*bigger) * cap);
			if (bigger == NULL) {
				return NULL;
			}
			if (node->rrset_count > 0) {
				memcpy(bigger, node->rrsets, sizeof(*bigger) * node->rrset_count);
			}
			node->rrsets = bigger;
			node->rrset_cap = cap;
		}
		uint16_t at = 0;
		while (at < node->rrset_count && node->rrsets[at].type < type) {
			at++;
		}
		memmove(&node->rrsets[at + 1], &node->rrsets[at],
			sizeof(dns_rrset_t) * (node->rrset_count - at));
		node->rrset_count++;
		rs = &node->rrsets[at];
		memset(rs, 0, sizeof(*rs));
		rs->type = type;
	}
	rs->ttl = ttl;
	rs->count = count;
	rs->rdata = copy;
	rs->sigs = NULL;
	rs->sig_count = 0;
	return rs;
}

void dns_node_remove_rrset(dns_node_t *node, uint16_t type)
{
	dns_rrset_t *rs = dns_node_rrset(node, type);
	if (rs == NULL) {
		return;
	}
	size_t at = (size_t)(rs - node->rrsets);
	memmove(rs, rs + 1, sizeof(*rs) * (node->rrset_count - at - 1));
	node->rrset_count--;
}

static int node_cmp(const void *a, const void *b)
{
	return dns_name_compare(((const dns_node_t *)a)->name, ((const dns_node_t *)b)->name);
}

int dns_zone_add_ents(dns_zone_t *zone)
{
	if (zone == NULL) {
		return TANDEM_EINVAL;
	}
	dns_node_t *ents = NULL;
	size_t n_ents = 0, cap = 0;
	int ret = TANDEM_OK;
	dns_zone_set_node_hashes_take(zone, NULL, 0); /* the node array changes */
	for (size_t i = 0; i < zone->node_count; i++) {
		const uint8_t *name = zone->nodes[i].name;
		/* Walk up the ancestors strictly between name and the apex. Once
		 * an ancestor exists (as a node or an ENT made for an earlier
		 * name), its own ancestors were handled when it was seen. */
		while (name[0] != 0) {
			const uint8_t *parent = name + name[0] + 1;
			if (dns_name_len(parent, DNS_NAME_MAXLEN) <= zone->origin_len) {
				break;
			}
			if (dns_nodes_find(zone->nodes, zone->node_count, parent) != NULL) {
				break;
			}
			/* ENTs were made in canonical order of their first
			 * descendant, which is not their own order; check the last
			 * few (siblings share parents), else search linearly
			 * backwards is too slow: keep a sorted check at the end. */
			bool seen = false;
			for (size_t k = n_ents; k > 0 && k + 8 > n_ents; k--) {
				if (dns_name_compare(ents[k - 1].name, parent) == 0) {
					seen = true;
					break;
				}
			}
			if (seen) {
				break;
			}
			{
				if (n_ents == cap) {
					cap = cap ? cap * 2 : 64;
					dns_node_t *bigger = realloc(ents, sizeof(*ents) * cap);
					if (bigger == NULL) {
						ret = TANDEM_ENOMEM;
						goto out;
					}
					ents = bigger;
				}
				dns_node_t *e = &ents[n_ents++];
				memset(e, 0, sizeof(*e));
				e->name = parent;
				e->name_len = (uint8_t)dns_name_len(parent, DNS_NAME_MAXLEN);
				e->labels = (uint8_t)dns_name_labels(parent);
				e->flags = DNS_NODE_ENT;
				e->line = 0;
			}
			name = parent;
		}
	}
	if (n_ents == 0) {
		goto out;
	}
	qsort(ents, n_ents, sizeof(*ents), node_cmp);
	/* Drop duplicates the short look-back missed. */
	size_t uniq = 0;
	for (size_t k = 0; k < n_ents; k++) {
		if (uniq == 0 || dns_name_compare(ents[uniq - 1].name, ents[k].name) != 0) {
			ents[uniq++] = ents[k];
		}
	}
	dns_node_t *merged = malloc(sizeof(*merged) * (zone->node_count + uniq));
	if (merged == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	size_t a = 0, b = 0, m = 0;
	while (a < zone->node_count || b < uniq) {
		if (b == uniq || (a < zone->node_count &&
				  dns_name_compare(zone->nodes[a].name, ents[b].name) < 0)) {
			merged[m++] = zone->nodes[a++];
		} else {
			merged[m++] = ents[b++];
		}
	}
	free(zone->nodes);
	zone->nodes = merged;
	zone->node_count = m;
out:
	free(ents);
	return ret;
}

void dns_zone_mark(dns_zone_t *zone)
{
	(void)dns_zone_mark_cow(zone, NULL);
}

/* The AUTH flag an RRset of node n gets. */
static uint16_t rrset_flags(const dns_node_t *n, const dns_rrset_t *rs)
{
	bool auth;
	if (n->flags & DNS_NODE_BELOW_CUT) {
		auth = false;
	} else if (n->flags & DNS_NODE_DELEG) {
		auth = rs->type == DNS_TYPE_DS || rs->type == DNS_TYPE_NSEC;
	} else {
		auth = true;
	}
	return (uint16_t)(auth ? (rs->flags | DNS_RRSET_AUTH) : (rs->flags & ~DNS_RRSET_AUTH));
}

/* Marks nodes[from..to), below cut (NULL: none) at from. */
static int mark_nodes(dns_zone_t *zone, size_t from, size_t to, const uint8_t *cut,
		      tandem_arena_t *cow)
{
	/* cut: the delegation or DNAME owner we are below */
	for (size_t i = from; i < to; i++) {
		dns_node_t *n = &zone->nodes[i];
		n->flags &= DNS_NODE_ENT;
		if (n->name[0] == 1 && n->name[1] == '*') {
			n->flags |= DNS_NODE_WILDCARD;
		}
		if (cut != NULL && !dns_name_is_sub(n->name, cut)) {
			cut = NULL;
		}
		bool apex = dns_name_compare(n->name, zone->origin) == 0;
		if (apex) {
			n->flags |= DNS_NODE_APEX;
		} else if (cut != NULL) {
			n->flags |= DNS_NODE_BELOW_CUT;
			for (uint16_t r = 0; r < n->rrset_count; r++) {
				uint16_t t = n->rrsets[r].type;
				if (t != DNS_TYPE_A && t != DNS_TYPE_AAAA) {
					n->flags |= DNS_NODE_OCCLUDED;
				}
			}
		} else if (dns_node_rrset(n, DNS_TYPE_NS) != NULL) {
			n->flags |= DNS_NODE_DELEG;
			cut = n->name;
		}
		if (cut == NULL && dns_node_rrset(n, DNS_TYPE_DNAME) != NULL) {
			cut = n->name; /* names below a DNAME are occluded too */
		}
		bool same = true;
		for (uint16_t r = 0; r < n->rrset_count && same; r++) {
			same = rrset_flags(n, &n->rrsets[r]) == n->rrsets[r].flags;
		}
		if (!same && cow != NULL) {
			/* another version may point at these RRsets: change a copy */
			dns_rrset_t *mine =
			    tandem_arena_memdup(cow, n->rrsets, sizeof(*mine) * n->rrset_count);
			if (mine == NULL) {
				return TANDEM_ENOMEM;
			}
			n->rrsets = mine;
			n->rrset_cap = n->rrset_count;
		}
		for (uint16_t r = 0; r < n->rrset_count && !same; r++) {
			n->rrsets[r].flags = rrset_flags(n, &n->rrsets[r]);
		}
	}
	return TANDEM_OK;
}

int dns_zone_mark_cow(dns_zone_t *zone, tandem_arena_t *cow)
{
	return mark_nodes(zone, 0, zone->node_count, NULL, cow);
}

/* The cut name lies below, from its ancestors (the top-most delegation or DNAME), or NULL. */
static const uint8_t *cut_above(dns_zone_t *zone, const uint8_t *name)
{
	const uint8_t *cut = NULL;
	for (const uint8_t *p = name; p[0] != 0;) {
		p += p[0] + 1;
		size_t len = dns_name_len(p, DNS_NAME_MAXLEN);
		if (len < zone->origin_len) {
			break;
		}
		const dns_node_t *a = dns_nodes_find(zone->nodes, zone->node_count, p);
		bool apex = len == zone->origin_len;
		if (a != NULL && ((!apex && dns_node_rrset(a, DNS_TYPE_NS) != NULL) ||
				  dns_node_rrset(a, DNS_TYPE_DNAME) != NULL)) {
			cut = a->name; /* the one furthest up wins */
		}
		if (apex) {
			break;
		}
	}
	return cut;
}

int dns_zone_mark_below(dns_zone_t *zone, const dns_node_t *names, size_t count,
			tandem_arena_t *cow)
{
	size_t done = 0; /* nodes before this index are marked */
	for (size_t k = 0; k < count; k++) {
		dns_node_t *n = dns_nodes_find(zone->nodes, zone->node_count, names[k].name);
		if (n == NULL) {
			continue; /* (gone) */
		}
		size_t from = (size_t)(n - zone->nodes), to = from + 1;
		while ((names[k].flags & DNS_NODE_MARK_BELOW) && to < zone->node_count &&
		       dns_name_is_sub(zone->nodes[to].name, n->name)) {
			to++;
		}
		if (from < done) {
			from = done; /* inside a subtree marked already */
		}
		if (from < to) {
			const uint8_t *cut = cut_above(zone, zone->nodes[from].name);
			int ret = mark_nodes(zone, from, to, cut, cow);
			if (ret != TANDEM_OK) {
				return ret;
			}
			done = to;
		}
	}
	return TANDEM_OK;
}
