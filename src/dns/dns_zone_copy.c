/* Copies of a zone in memory: deep (nodes, RRsets, RDATAs and RRSIGs in a new arena), or of the
 * arrays only, sharing the rest. */
#include "dns_zone_copy.h"

#include "dns_internal.h"
#include "tandem_error.h"

#include <stdlib.h>
#include <string.h>

/* n RDATA pointers and their bytes (2-byte length, then the data) into arena. */
static const uint8_t **copy_rdatas(tandem_arena_t *arena, const uint8_t *const *src, size_t n)
{
	if (n == 0) {
		return NULL;
	}
	const uint8_t **dst = tandem_arena_alloc(arena, n * sizeof(*dst));
	if (dst == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		size_t len = 2u + (size_t)dns_rdata_len(src[i]);
		dst[i] = tandem_arena_memdup(arena, src[i], len);
		if (dst[i] == NULL) {
			return NULL;
		}
	}
	return dst;
}

/* The n nodes of src into a new malloc'd array (names and RRsets in arena). */
static int copy_nodes(tandem_arena_t *arena, const dns_node_t *src, size_t n, dns_node_t **out)
{
	*out = NULL;
	if (n == 0) {
		return TANDEM_OK;
	}
	dns_node_t *dst = calloc(n, sizeof(*dst));
	if (dst == NULL) {
		return TANDEM_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const dns_node_t *s = &src[i];
		dns_node_t *d = &dst[i];
		*d = *s;
		d->name = tandem_arena_memdup(arena, s->name, s->name_len);
		d->rrset_cap = s->rrset_count;
		d->rrsets = NULL;
		if (s->rrset_count > 0) {
			d->rrsets = tandem_arena_alloc(arena, s->rrset_count * sizeof(*d->rrsets));
		}
		if (d->name == NULL || (s->rrset_count > 0 && d->rrsets == NULL)) {
			free(dst);
			return TANDEM_ENOMEM;
		}
		for (uint16_t j = 0; j < s->rrset_count; j++) {
			const dns_rrset_t *rs = &s->rrsets[j];
			dns_rrset_t *rd = &d->rrsets[j];
			*rd = *rs;
			rd->rdata = copy_rdatas(arena, rs->rdata, rs->count);
			rd->sigs = copy_rdatas(arena, rs->sigs, rs->sig_count);
			if ((rs->count > 0 && rd->rdata == NULL) ||
			    (rs->sig_count > 0 && rd->sigs == NULL)) {
				free(dst);
				return TANDEM_ENOMEM;
			}
		}
	}
	*out = dst;
	return TANDEM_OK;
}

/* zone's NSEC3 hashes of its names (when it has them) into to, a malloc'd copy. */
static int copy_hashes(const dns_zone_t *zone, dns_zone_t *to)
{
	if (zone->hashes == NULL || zone->hash_count == 0) {
		return TANDEM_OK;
	}
	to->hashes = malloc(zone->hash_count * sizeof(*to->hashes));
	if (to->hashes == NULL) {
		return TANDEM_ENOMEM;
	}
	memcpy(to->hashes, zone->hashes, zone->hash_count * sizeof(*to->hashes));
	to->hash_count = zone->hash_count;
	return TANDEM_OK;
}

int dns_zone_copy(const dns_zone_t *zone, dns_zone_t **out)
{
	if (zone == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	dns_zone_t *z = NULL;
	int ret = dns_zone_create(zone->origin, zone->origin_len, &z);
	if (ret == TANDEM_OK) {
		ret = copy_nodes(z->arena, zone->nodes, zone->node_count, &z->nodes);
		z->node_count = z->nodes != NULL ? zone->node_count : 0;
	}
	if (ret == TANDEM_OK) {
		ret = copy_nodes(z->arena, zone->nsec3, zone->nsec3_count, &z->nsec3);
		z->nsec3_count = z->nsec3 != NULL ? zone->nsec3_count : 0;
	}
	if (ret == TANDEM_OK) {
		z->exact = zone->exact;
	}
	if (ret == TANDEM_OK) {
		ret = copy_hashes(zone, z);
	}
	if (ret != TANDEM_OK) {
		dns_zone_free(z);
		return ret;
	}
	*out = z;
	return TANDEM_OK;
}

/* The n nodes of src into a new malloc'd array, their RRset arrays into one block of arena;
 * names and RDATA shared. */
static int cow_nodes(tandem_arena_t *arena, const dns_node_t *src, size_t n, dns_node_t **out)
{
	*out = NULL;
	if (n == 0) {
		return TANDEM_OK;
	}
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		total += src[i].rrset_count;
	}
	dns_node_t *dst = malloc(n * sizeof(*dst));
	dns_rrset_t *sets = total > 0 ? tandem_arena_alloc(arena, total * sizeof(*sets)) : NULL;
	if (dst == NULL || (total > 0 && sets == NULL)) {
		free(dst);
		return TANDEM_ENOMEM;
	}
	memcpy(dst, src, n * sizeof(*dst));
	for (size_t i = 0; i < n; i++) {
		uint16_t count = src[i].rrset_count;
		dst[i].rrsets = count > 0 ? sets : NULL;
		dst[i].rrset_cap = count; /* an RRset added gets a new array */
		if (count > 0) {
			memcpy(sets, src[i].rrsets, count * sizeof(*sets));
			sets += count;
		}
	}
	*out = dst;
	return TANDEM_OK;
}

int dns_zone_copy_cow(dns_zone_t *zone, dns_zone_t **out)
{
	if (zone == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	dns_zone_t *z = NULL;
	int ret = dns_zone_create(zone->origin, zone->origin_len, &z);
	if (ret == TANDEM_OK) {
		ret = dns_zone_share_arenas(zone, z);
	}
	if (ret == TANDEM_OK) {
		ret = cow_nodes(z->arena, zone->nodes, zone->node_count, &z->nodes);
		z->node_count = z->nodes != NULL ? zone->node_count : 0;
	}
	if (ret == TANDEM_OK) {
		ret = cow_nodes(z->arena, zone->nsec3, zone->nsec3_count, &z->nsec3);
		z->nsec3_count = z->nsec3 != NULL ? zone->nsec3_count : 0;
	}
	if (ret == TANDEM_OK) {
		ret = copy_hashes(zone, z);
	}
	if (ret != TANDEM_OK) {
		dns_zone_free(z);
		return ret;
	}
	z->exact = zone->exact;
	*out = z;
	return TANDEM_OK;
}
