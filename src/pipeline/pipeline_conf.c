/* The policy's rules for a run: the signer's configuration, the load options, SKR slots, CDS. */
#include "pipeline.h"
#include "pipeline_internal.h"

#include "crypto.h"
#include "tandem_error.h"

#include <string.h>

void pipeline_signer_conf(const kasp_policy_t *p, uint64_t now, signer_conf_t *c)
{
	signer_conf_defaults(c, now);
	c->validity = p->sig_validity;
	c->jitter = p->sig_jitter;
	c->inception_offset = p->sig_inception_offset;
	c->period = p->resign_interval ? p->resign_interval : 900;
	c->refresh = p->sig_refresh;
	c->key_roll_time = kasp_policy_key_roll_time(p); /* as the key states assume */
	c->zonemd_hash = (uint8_t)p->zonemd; /* kasp_zonemd_t is RFC 8976's hash number */
	c->denial = p->denial == KASP_DENIAL_NSEC ? SIGNER_DENIAL_NSEC : SIGNER_DENIAL_NSEC3;
	c->nsec3_iterations = p->nsec3_iterations;
	c->nsec3_optout = p->nsec3_optout;
	c->nsec3_salt_len = p->nsec3_salt_len;
	switch (p->serial) {
	case KASP_SERIAL_KEEP: c->serial_mode = TANDEM_SERIAL_KEEP; break;
	case KASP_SERIAL_UNIXTIME: c->serial_mode = TANDEM_SERIAL_UNIXTIME; break;
	case KASP_SERIAL_DATECOUNTER: c->serial_mode = TANDEM_SERIAL_DATECOUNTER; break;
	default: c->serial_mode = TANDEM_SERIAL_INCREMENT; break;
	}
	c->ttls = (signer_ttls_t){.soa = p->ttl_soa,
				  .dnskey = p->ttl_dnskey,
				  .ns = p->ttl_ns,
				  .a = p->ttl_a,
				  .aaaa = p->ttl_aaaa,
				  .ds = p->ttl_ds,
				  .nsec3 = p->ttl_nsec3};
	c->threads = 1;
}

void pipeline_load_opts(const kasp_policy_t *p, const char *origin, dns_load_opts_t *lo)
{
	*lo = (dns_load_opts_t){
	    .origin = origin,
	    .signer_owned = p->signer_owned == KASP_SIGNER_OWNED_REFUSE ? DNS_SIGNER_OWNED_REFUSE
									: DNS_SIGNER_OWNED_DROP,
	};
}

int pipeline_cds_put(dns_zone_t *zone, const kasp_keyset_t *set, uint32_t ttl)
{
	tandem_arena_t *arena = dns_zone_arena(zone);
	const uint8_t *cds[KASP_KEYS_MAX], *cdnskey[KASP_KEYS_MAX];
	uint16_t n = 0;
	const uint8_t *origin = dns_zone_origin(zone);
	size_t olen = dns_name_len(origin, DNS_NAME_MAXLEN);
	for (size_t i = 0; i < set->count; i++) {
		const kasp_key_t *k = &set->keys[i];
		if (!kasp_key_ds_wanted(k)) {
			continue;
		}
		uint8_t ds[64];
		size_t dlen = sizeof(ds);
		if (crypto_ds_from_dnskey(origin, olen, k->dnskey, k->dnskey_len, CRYPTO_DS_SHA256,
					  ds, &dlen) != TANDEM_OK) {
			return TANDEM_EINTERNAL;
		}
		uint8_t *a = tandem_arena_alloc(arena, dlen + 2);
		uint8_t *b = tandem_arena_alloc(arena, (size_t)k->dnskey_len + 2);
		if (a == NULL || b == NULL) {
			return TANDEM_ENOMEM;
		}
		a[0] = (uint8_t)(dlen >> 8);
		a[1] = (uint8_t)dlen;
		memcpy(a + 2, ds, dlen);
		b[0] = (uint8_t)(k->dnskey_len >> 8);
		b[1] = (uint8_t)k->dnskey_len;
		memcpy(b + 2, k->dnskey, k->dnskey_len);
		cds[n] = a;
		cdnskey[n] = b;
		n++;
	}
	if (n == 0) {
		return TANDEM_OK;
	}
	/* canonical RDATA order */
	for (uint16_t i = 1; i < n; i++) {
		for (uint16_t j = i; j > 0 && dns_rdata_compare(cds[j - 1], cds[j]) > 0; j--) {
			const uint8_t *t = cds[j];
			cds[j] = cds[j - 1];
			cds[j - 1] = t;
		}
		for (uint16_t j = i; j > 0 && dns_rdata_compare(cdnskey[j - 1], cdnskey[j]) > 0;
		     j--) {
			const uint8_t *t = cdnskey[j];
			cdnskey[j] = cdnskey[j - 1];
			cdnskey[j - 1] = t;
		}
	}
	dns_node_t *apex = dns_zone_apex(zone);
	dns_rrset_t *rs = dns_node_put_rrset(apex, arena, DNS_TYPE_CDS, ttl, cds, n);
	if (rs == NULL) {
		return TANDEM_ENOMEM;
	}
	rs->flags |= DNS_RRSET_AUTH;
	rs = dns_node_put_rrset(apex, arena, DNS_TYPE_CDNSKEY, ttl, cdnskey, n);
	if (rs == NULL) {
		return TANDEM_ENOMEM;
	}
	rs->flags |= DNS_RRSET_AUTH;
	return TANDEM_OK;
}

int pipeline_skr_presign(const kasp_skr_t *skr, uint64_t t, tandem_arena_t *arena, signer_conf_t *c,
			 const kasp_skr_slot_t **slot)
{
	const kasp_skr_slot_t *s = kasp_skr_slot_at(skr, t);
	if (s == NULL) {
		return TANDEM_ENOENT;
	}
	const uint8_t **keys = tandem_arena_alloc(arena, s->nkeys * sizeof(*keys));
	const uint8_t **sigs = tandem_arena_alloc(arena, s->nsigs * sizeof(*sigs));
	if (keys == NULL || sigs == NULL) {
		return TANDEM_ENOMEM;
	}
	for (size_t i = 0; i < s->nkeys + s->nsigs; i++) {
		const kasp_skr_rdata_t *r = i < s->nkeys ? &s->keys[i] : &s->sigs[i - s->nkeys];
		uint8_t *p = tandem_arena_alloc(arena, (size_t)r->len + 2);
		if (p == NULL) {
			return TANDEM_ENOMEM;
		}
		p[0] = (uint8_t)(r->len >> 8);
		p[1] = (uint8_t)r->len;
		memcpy(p + 2, r->data, r->len);
		*(i < s->nkeys ? &keys[i] : &sigs[i - s->nkeys]) = p;
	}
	c->presigned_dnskey = keys;
	c->presigned_dnskey_count = (uint16_t)s->nkeys;
	c->presigned_rrsig = sigs;
	c->presigned_rrsig_count = (uint16_t)s->nsigs;
	c->presigned_ttl = s->ttl;
	if (slot != NULL) {
		*slot = s;
	}
	return TANDEM_OK;
}

bool pipeline_ds_served(const kasp_key_t *key)
{
	return key != NULL && key->role == KASP_ROLE_KSK &&
	       (key->ds == KASP_DS_SEEN || key->ds == KASP_DS_RETRACT);
}

/* The key of set with this id, or NULL. */
static const kasp_key_t *key_by_id(const kasp_keyset_t *set, uint32_t id)
{
	for (size_t i = 0; i < set->count; i++) {
		if (set->keys[i].id == id) {
			return &set->keys[i];
		}
	}
	return NULL;
}

int pipeline_anchor_fill(const pipeline_req_t *req, const uint8_t *origin, pipeline_anchor_t *a)
{
	a->count = 0;
	for (size_t i = 0; i < req->ds_count && a->count < PIPELINE_ANCHOR_MAX; i++) {
		a->ptr[a->count++] = req->ds[i];
	}
	const kasp_keyset_t *set = req->ds_keys;
	size_t n = set == NULL ? 0 : req->ds_ids != NULL ? req->ds_nids : set->count;
	size_t olen = dns_name_len(origin, DNS_NAME_MAXLEN);
	for (size_t i = 0; i < n; i++) {
		const kasp_key_t *k =
		    req->ds_ids != NULL ? key_by_id(set, req->ds_ids[i]) : &set->keys[i];
		if (k == NULL || (req->ds_ids == NULL && !pipeline_ds_served(k))) {
			continue;
		}
		if (a->count == PIPELINE_ANCHOR_MAX) {
			return TANDEM_ERANGE;
		}
		size_t len = sizeof(a->own[0]);
		int ret = crypto_ds_from_dnskey(origin, olen, k->dnskey, k->dnskey_len,
						CRYPTO_DS_SHA256, a->own[a->count], &len);
		if (ret != TANDEM_OK) {
			return ret;
		}
		a->ptr[a->count] = a->own[a->count];
		a->count++;
	}
	return TANDEM_OK;
}
