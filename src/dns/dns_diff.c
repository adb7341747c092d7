/* The difference between two versions of a zone, in the shape of an IXFR. */
#include "dns_diff.h"
#include "dns_internal.h"
#include "tandem_error.h"

#include <stdlib.h>
#include <string.h>

struct dns_changeset {
	tandem_arena_t *arena;
	dns_rr_t soa[2]; /* [0] from, [1] to */
	bool has_soa[2];
	uint32_t serial[2];
	dns_rr_t *list[2]; /* [0] removed, [1] added */
	size_t count[2], cap[2];
	/* the last owner copied, so that one node's records share one copy */
	const uint8_t *last_copy;
	size_t last_len;
};

int dns_changeset_new(dns_changeset_t **out)
{
	if (out == NULL) {
		return TANDEM_EINVAL;
	}
	dns_changeset_t *cs = calloc(1, sizeof(*cs));
	if (cs == NULL || tandem_arena_new(64u << 10, &cs->arena) != TANDEM_OK) {
		free(cs);
		return TANDEM_ENOMEM;
	}
	*out = cs;
	return TANDEM_OK;
}

void dns_changeset_free(dns_changeset_t *cs)
{
	if (cs == NULL) {
		return;
	}
	free(cs->list[0]);
	free(cs->list[1]);
	tandem_arena_free(cs->arena);
	free(cs);
}

/* Copies rr's owner and RDATA into the changeset's arena. */
static int rr_copy(dns_changeset_t *cs, const dns_rr_t *rr, dns_rr_t *out)
{
	if (rr == NULL || rr->owner == NULL || rr->rdata == NULL) {
		return TANDEM_EINVAL;
	}
	/* one copy per owner for a node's records; compared by content, as a caller may
	 * reuse one buffer for several owners */
	size_t len = dns_name_len(rr->owner, DNS_NAME_MAXLEN);
	if (len == 0) {
		return TANDEM_EINVAL;
	}
	const uint8_t *owner = cs->last_copy;
	if (owner == NULL || cs->last_len != len || memcmp(owner, rr->owner, len) != 0) {
		owner = tandem_arena_memdup(cs->arena, rr->owner, len);
		if (owner == NULL) {
			return TANDEM_ENOMEM;
		}
		cs->last_copy = owner;
		cs->last_len = len;
	}
	const uint8_t *rdata =
	    tandem_arena_memdup(cs->arena, rr->rdata, (size_t)dns_rdata_len(rr->rdata) + 2);
	if (rdata == NULL) {
		return TANDEM_ENOMEM;
	}
	*out = *rr;
	out->owner = owner;
	out->rdata = rdata;
	return TANDEM_OK;
}

/* The serial of an SOA RDATA: the first of the five 32-bit fields that end it. */
static bool soa_serial(const uint8_t *rdata, uint32_t *out)
{
	uint16_t len = dns_rdata_len(rdata);
	if (len < 22) {
		return false;
	}
	const uint8_t *p = dns_rdata_data(rdata) + len - 20;
	*out = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
	return true;
}

int dns_changeset_set_soa(dns_changeset_t *cs, bool to_side, const dns_rr_t *rr)
{
	uint32_t serial = 0;
	if (cs == NULL || rr == NULL || rr->rdata == NULL || rr->type != DNS_TYPE_SOA ||
	    !soa_serial(rr->rdata, &serial)) {
		return TANDEM_EINVAL;
	}
	int ret = rr_copy(cs, rr, &cs->soa[to_side]);
	if (ret == TANDEM_OK) {
		cs->has_soa[to_side] = true;
		cs->serial[to_side] = serial;
	}
	return ret;
}

int dns_changeset_add(dns_changeset_t *cs, bool added, const dns_rr_t *rr)
{
	if (cs == NULL) {
		return TANDEM_EINVAL;
	}
	size_t k = added ? 1 : 0;
	if (cs->count[k] == cs->cap[k]) {
		size_t cap = cs->cap[k] ? cs->cap[k] * 2 : 64;
		dns_rr_t *bigger = realloc(cs->list[k], sizeof(*bigger) * cap);
		if (bigger == NULL) {
			return TANDEM_ENOMEM;
		}
		cs->list[k] = bigger;
		cs->cap[k] = cap;
	}
	int ret = rr_copy(cs, rr, &cs->list[k][cs->count[k]]);
	if (ret == TANDEM_OK) {
		cs->count[k]++;
	}
	return ret;
}

const dns_rr_t *dns_changeset_records(const dns_changeset_t *cs, bool added, size_t *count)
{
	size_t k = added ? 1 : 0;
	if (count != NULL) {
		*count = cs != NULL ? cs->count[k] : 0;
	}
	return cs != NULL ? cs->list[k] : NULL;
}

const dns_rr_t *dns_changeset_soa(const dns_changeset_t *cs, bool to_side)
{
	return cs != NULL && cs->has_soa[to_side] ? &cs->soa[to_side] : NULL;
}

uint32_t dns_changeset_serial(const dns_changeset_t *cs, bool to_side)
{
	return cs != NULL ? cs->serial[to_side] : 0;
}

size_t dns_changeset_size(const dns_changeset_t *cs)
{
	return cs != NULL ? cs->count[0] + cs->count[1] : 0;
}

int dns_rr_compare(const dns_rr_t *a, const dns_rr_t *b)
{
	int c = a->owner == b->owner ? 0 : dns_name_compare(a->owner, b->owner);
	if (c != 0) {
		return c;
	}
	if (a->type != b->type) {
		return a->type < b->type ? -1 : 1;
	}
	c = a->rdata == b->rdata ? 0 : dns_rdata_compare(a->rdata, b->rdata);
	if (c != 0) {
		return c;
	}
	return a->ttl < b->ttl ? -1 : a->ttl > b->ttl ? 1 : 0;
}

/* ---- the walk ---- */

static int rr_cmp(const void *x, const void *y)
{
	return dns_rr_compare(x, y);
}

static bool rdata_equal(const uint8_t *a, const uint8_t *b)
{
	if (a == b) {
		return true;
	}
	uint16_t len = dns_rdata_len(a);
	return len == dns_rdata_len(b) && memcmp(a, b, (size_t)len + 2) == 0;
}

static int put(dns_changeset_t *cs, bool added, const uint8_t *owner, uint16_t type, uint32_t ttl,
	       const uint8_t *rdata)
{
	dns_rr_t rr = {
	    .owner = owner, .type = type, .rclass = DNS_CLASS_IN, .ttl = ttl, .rdata = rdata};
	return dns_changeset_add(cs, added, &rr);
}

/* Every record of an RRset (the SOA record itself aside) and its RRSIGs. */
static int rrset_all(dns_changeset_t *cs, bool added, const uint8_t *owner, const dns_rrset_t *rs)
{
	int ret = TANDEM_OK;
	if (rs->type != DNS_TYPE_SOA) {
		for (uint16_t i = 0; i < rs->count && ret == TANDEM_OK; i++) {
			ret = put(cs, added, owner, rs->type, rs->ttl, rs->rdata[i]);
		}
	}
	for (uint16_t i = 0; i < rs->sig_count && ret == TANDEM_OK; i++) {
		ret = put(cs, added, owner, DNS_TYPE_RRSIG, rs->ttl, rs->sigs[i]);
	}
	return ret;
}

static int node_all(dns_changeset_t *cs, bool added, const dns_node_t *n)
{
	int ret = TANDEM_OK;
	for (uint16_t i = 0; i < n->rrset_count && ret == TANDEM_OK; i++) {
		ret = rrset_all(cs, added, n->name, &n->rrsets[i]);
	}
	return ret;
}

/* The records of list a (na) not in list b (nb), each as a record of `type`. RRsets are
 * small, and RRSIGs are kept in no particular order: a quadratic look is right here. */
static int list_minus(dns_changeset_t *cs, bool added, const uint8_t *owner, uint16_t type,
		      uint32_t ttl, const uint8_t **a, uint16_t na, const uint8_t **b, uint16_t nb)
{
	for (uint16_t i = 0; i < na; i++) {
		bool found = false;
		for (uint16_t j = 0; j < nb && !found; j++) {
			found = rdata_equal(a[i], b[j]);
		}
		if (!found) {
			int ret = put(cs, added, owner, type, ttl, a[i]);
			if (ret != TANDEM_OK) {
				return ret;
			}
		}
	}
	return TANDEM_OK;
}

/* Two RRsets of one type at one owner, both in canonical RDATA order. */
static int rdata_merge(dns_changeset_t *cs, const uint8_t *owner, const dns_rrset_t *a,
		       const dns_rrset_t *b)
{
	uint16_t i = 0, j = 0;
	while (i < a->count || j < b->count) {
		int c = i == a->count                ? 1
			: j == b->count              ? -1
			: a->rdata[i] == b->rdata[j] ? 0
						     : dns_rdata_compare(a->rdata[i], b->rdata[j]);
		int ret = TANDEM_OK;
		if (c < 0) {
			ret = put(cs, false, owner, a->type, a->ttl, a->rdata[i++]);
		} else if (c > 0) {
			ret = put(cs, true, owner, b->type, b->ttl, b->rdata[j++]);
		} else {
			i++;
			j++;
		}
		if (ret != TANDEM_OK) {
			return ret;
		}
	}
	return TANDEM_OK;
}

static int diff_rrset(dns_changeset_t *cs, const uint8_t *owner, const dns_rrset_t *a,
		      const dns_rrset_t *b)
{
	if (a->ttl != b->ttl) {
		/* IXFR has no TTL change: every record goes with the old TTL and comes back */
		int ret = rrset_all(cs, false, owner, a);
		return ret != TANDEM_OK ? ret : rrset_all(cs, true, owner, b);
	}
	int ret = TANDEM_OK;
	bool same_rdata = a->rdata == b->rdata && a->count == b->count;
	if (!same_rdata && a->type != DNS_TYPE_SOA) {
		/* small sets: a quadratic look, which does not rely on the order */
		ret = a->count <= 8 && b->count <= 8
			  ? list_minus(cs, false, owner, a->type, a->ttl, a->rdata, a->count,
				       b->rdata, b->count)
			  : rdata_merge(cs, owner, a, b);
		if (ret == TANDEM_OK && a->count <= 8 && b->count <= 8) {
			ret = list_minus(cs, true, owner, b->type, b->ttl, b->rdata, b->count,
					 a->rdata, a->count);
		}
	}
	if (ret != TANDEM_OK || (a->sigs == b->sigs && a->sig_count == b->sig_count)) {
		return ret;
	}
	ret = list_minus(cs, false, owner, DNS_TYPE_RRSIG, a->ttl, a->sigs, a->sig_count, b->sigs,
			 b->sig_count);
	if (ret == TANDEM_OK) {
		ret = list_minus(cs, true, owner, DNS_TYPE_RRSIG, b->ttl, b->sigs, b->sig_count,
				 a->sigs, a->sig_count);
	}
	return ret;
}

static int diff_node(dns_changeset_t *cs, const dns_node_t *a, const dns_node_t *b)
{
	if (a->rrsets == b->rrsets && a->rrset_count == b->rrset_count) {
		return TANDEM_OK;
	}
	uint16_t i = 0, j = 0;
	while (i < a->rrset_count || j < b->rrset_count) {
		const dns_rrset_t *ra = i < a->rrset_count ? &a->rrsets[i] : NULL;
		const dns_rrset_t *rb = j < b->rrset_count ? &b->rrsets[j] : NULL;
		int ret;
		if (rb == NULL || (ra != NULL && ra->type < rb->type)) {
			ret = rrset_all(cs, false, a->name, ra);
			i++;
		} else if (ra == NULL || rb->type < ra->type) {
			ret = rrset_all(cs, true, b->name, rb);
			j++;
		} else {
			ret = diff_rrset(cs, b->name, ra, rb);
			i++;
			j++;
		}
		if (ret != TANDEM_OK) {
			return ret;
		}
	}
	return TANDEM_OK;
}

/* The nodes of one array that are not the same in both versions (pairing), and those gone. */
static int diff_paired(dns_changeset_t *cs, const dns_node_t *b, size_t nb,
		       const dns_node_t *const *prev, const uint8_t *same,
		       const dns_node_t *const *gone, size_t ngone)
{
	int ret = TANDEM_OK;
	for (size_t j = 0; j < nb && ret == TANDEM_OK; j++) {
		if (same[j]) {
			continue;
		}
		ret = prev[j] == NULL ? node_all(cs, true, &b[j]) : diff_node(cs, prev[j], &b[j]);
	}
	for (size_t i = 0; i < ngone && ret == TANDEM_OK; i++) {
		ret = node_all(cs, false, gone[i]);
	}
	return ret;
}

/* The apex SOA of a zone as a record. */
static int zone_soa(dns_zone_t *zone, dns_rr_t *out)
{
	const dns_node_t *apex = dns_zone_apex(zone);
	const dns_rrset_t *soa = dns_node_rrset(apex, DNS_TYPE_SOA);
	uint32_t serial = 0;
	if (soa == NULL || soa->count != 1 || !soa_serial(soa->rdata[0], &serial)) {
		return TANDEM_DNS_ESOA;
	}
	*out = (dns_rr_t){.owner = apex->name,
			  .type = DNS_TYPE_SOA,
			  .rclass = DNS_CLASS_IN,
			  .ttl = soa->ttl,
			  .rdata = soa->rdata[0]};
	return TANDEM_OK;
}

int dns_zone_diff(dns_zone_t *old_zone, dns_zone_t *new_zone, dns_changeset_t **out)
{
	if (old_zone == NULL || new_zone == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	dns_zone_pairing_t *p = NULL;
	int ret = dns_zone_pair(old_zone, new_zone, 1, &p);
	if (ret == TANDEM_OK) {
		ret = dns_zone_diff_paired(old_zone, new_zone, p, out);
	}
	dns_zone_pairing_free(p);
	return ret;
}

int dns_zone_diff_paired(dns_zone_t *old_zone, dns_zone_t *new_zone,
			 const dns_zone_pairing_t *pairing, dns_changeset_t **out)
{
	if (out == NULL || !dns_zone_pairing_of(pairing, old_zone, new_zone)) {
		return TANDEM_EINVAL;
	}
	dns_rr_t soa_from, soa_to;
	int ret = zone_soa(old_zone, &soa_from);
	if (ret == TANDEM_OK) {
		ret = zone_soa(new_zone, &soa_to);
	}
	if (ret != TANDEM_OK) {
		return ret;
	}
	dns_changeset_t *cs = NULL;
	ret = dns_changeset_new(&cs);
	if (ret == TANDEM_OK) {
		ret = dns_changeset_set_soa(cs, false, &soa_from);
	}
	if (ret == TANDEM_OK) {
		ret = dns_changeset_set_soa(cs, true, &soa_to);
	}
	if (ret == TANDEM_OK) {
		size_t ngone = 0;
		const dns_node_t *const *gone = dns_zone_pairing_gone(pairing, false, &ngone);
		ret = diff_paired(cs, new_zone->nodes, new_zone->node_count,
				  dns_zone_pairing_prev(pairing), dns_zone_pairing_same(pairing),
				  gone, ngone);
	}
	if (ret == TANDEM_OK) {
		size_t ngone = 0, off = new_zone->node_count;
		const dns_node_t *const *gone = dns_zone_pairing_gone(pairing, true, &ngone);
		ret = diff_paired(cs, new_zone->nsec3, new_zone->nsec3_count,
				  dns_zone_pairing_prev(pairing) + off,
				  dns_zone_pairing_same(pairing) + off, gone, ngone);
	}
	if (ret != TANDEM_OK) {
		dns_changeset_free(cs);
		return ret;
	}
	/* canonical order: two sites' changesets of the same versions are the same bytes,
	 * whatever order each one's RRSIGs are stored in */
	for (size_t k = 0; k < 2; k++) {
		if (cs->count[k] > 1) {
			qsort(cs->list[k], cs->count[k], sizeof(dns_rr_t), rr_cmp);
		}
	}
	*out = cs;
	return TANDEM_OK;
}
