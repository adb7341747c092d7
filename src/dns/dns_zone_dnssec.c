/* The arenas of a signed version's RRSIG and NSEC3 bytes, shared with the versions after it. */
#include "dns_internal.h"
#include "tandem_error.h"

#include <stdlib.h>

/* What a version may hold beyond its own records before the next one copies instead. */
#define DNSSEC_SLACK ((size_t)8 << 20)

static int dnssec_push(dns_zone_t *zone, dns_shared_arena_t *sa)
{
	dns_shared_arena_t **bigger =
	    realloc(zone->dnssec, sizeof(*bigger) * (zone->dnssec_count + 1));
	if (bigger == NULL) {
		return TANDEM_ENOMEM;
	}
	zone->dnssec = bigger;
	zone->dnssec[zone->dnssec_count++] = sa;
	zone->dnssec_bytes += sa->size;
	return TANDEM_OK;
}

int dns_zone_dnssec_adopt(dns_zone_t *zone, tandem_arena_t *arena)
{
	if (zone == NULL || arena == NULL || tandem_arena_size(arena) == 0) {
		tandem_arena_free(arena);
		return zone == NULL ? TANDEM_EINVAL : TANDEM_OK;
	}
	dns_shared_arena_t *sa = malloc(sizeof(*sa));
	if (sa == NULL) {
		tandem_arena_free(arena);
		return TANDEM_ENOMEM;
	}
	sa->arena = arena;
	sa->size = tandem_arena_size(arena);
	atomic_init(&sa->refs, 1);
	int ret = dnssec_push(zone, sa);
	if (ret != TANDEM_OK) {
		dns_shared_arena_release(sa);
	}
	return ret;
}

bool dns_zone_dnssec_shareable(const dns_zone_t *prev)
{
	return prev != NULL && prev->dnssec_sealed &&
	       prev->dnssec_bytes <= prev->dnssec_live + prev->dnssec_live / 4 + DNSSEC_SLACK;
}

int dns_zone_dnssec_ref(dns_zone_t *zone, const dns_zone_t *from)
{
	for (size_t i = 0; i < from->dnssec_count; i++) {
		dns_shared_arena_t *sa = from->dnssec[i];
		atomic_fetch_add(&sa->refs, 1);
		int ret = dnssec_push(zone, sa);
		if (ret != TANDEM_OK) {
			dns_shared_arena_release(sa);
			return ret;
		}
	}
	return TANDEM_OK;
}

int dns_zone_dnssec_share(dns_zone_t *zone, const dns_zone_t *prev)
{
	if (zone == NULL || zone == prev || !dns_zone_dnssec_shareable(prev)) {
		return TANDEM_EINVAL;
	}
	return dns_zone_dnssec_ref(zone, prev);
}

void dns_zone_dnssec_seal(dns_zone_t *zone, size_t live)
{
	if (zone != NULL) {
		zone->dnssec_sealed = true;
		zone->dnssec_live = live;
	}
}

void dns_zone_dnssec_bytes(const dns_zone_t *zone, size_t *held, size_t *live)
{
	if (held != NULL) {
		*held = zone != NULL ? zone->dnssec_bytes : 0;
	}
	if (live != NULL) {
		*live = zone != NULL ? zone->dnssec_live : 0;
	}
}
