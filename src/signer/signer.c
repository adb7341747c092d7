/* Zone signing: TTLs, serial, DNSKEY RRset, denial chain, then RRSIGs on N threads. */
#include "signer_internal.h"
#include "tandem_clock.h"
#include "crypto.h"
#include "dns_zonemd.h"
#include "tandem_error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY 86400u

void signer_conf_defaults(signer_conf_t *conf, uint64_t now)
{
	if (conf == NULL) {
		return;
	}
	memset(conf, 0, sizeof(*conf));
	conf->now = now;
	conf->inception_offset = 3600;
	conf->validity = 8 * DAY;
	conf->jitter = 2 * DAY;
	conf->period = 900;
	conf->denial = SIGNER_DENIAL_NSEC3;
	conf->serial_mode = TANDEM_SERIAL_INCREMENT;
	conf->ttls = (signer_ttls_t){.soa = 86400,
				     .dnskey = 43200,
				     .ns = 86400,
				     .a = 86400,
				     .aaaa = 86400,
				     .ds = 86400,
				     .nsec3 = 3600};
	conf->threads = 1;
	conf->refresh = (conf->validity - conf->jitter) / 3;
	conf->key_roll_time = conf->validity - conf->jitter - conf->refresh;
}

static int rdata_ptr_cmp(const void *a, const void *b);

typedef struct job {
	const signer_conf_t *conf;
	hsm_token_t *token;
	tandem_diag_t *diag;
	const uint8_t *origin;
	size_t origin_len;
	const skey_t *keys;
	size_t nkeys;
	item_t *items;
	size_t nitems;
	signer_slot_t *slots; /* NULL: no previous version, every signature is new */
	bool share;           /* kept signatures are pointed at, not copied (signer_dnssec_t) */
	atomic_size_t next;
	atomic_int failed;
	uint32_t inception;
	uint32_t base;
} job_t;

typedef struct worker {
	job_t *job;
	unsigned session;
	tandem_arena_t *arena; /* the RRsets' arrays of signatures */
	tandem_arena_t *bytes; /* the signatures made (and copied) */
	size_t signatures, fresh, reused, refreshed;
	int ret;
	pthread_t thread;
} worker_t;

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * The deterministic jitter: a hash of (owner, type, period) picks an offset in
 * 0..jitter, so two signers at the same period make the same expiration and,
 * with RSA PKCS#1 v1.5, byte-identical RRSIGs; expirations still spread out.
 */
static uint32_t jitter_for(const uint8_t *owner, size_t owner_len, uint16_t type, uint32_t base,
			   uint32_t jitter)
{
	if (jitter == 0) {
		return 0;
	}
	uint64_t h = 1469598103934665603ull; /* FNV-1a offset basis */
	for (size_t i = 0; i < owner_len; i++) {
		h = (h ^ owner[i]) * 1099511628211ull;
	}
	uint8_t extra[6];
	put16(extra, type);
	put32(extra + 2, base);
	for (size_t i = 0; i < sizeof(extra); i++) {
		h = (h ^ extra[i]) * 1099511628211ull;
	}
	/* Final avalanche (splitmix64) so nearby owners spread evenly. */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return (uint32_t)(h % ((uint64_t)jitter + 1));
}

uint32_t signer_expiration(const signer_conf_t *conf, const uint8_t *owner, uint16_t type)
{
	uint32_t base = (uint32_t)(conf->now - conf->now % (conf->period ? conf->period : 1));
	size_t len = dns_name_len(owner, DNS_NAME_MAXLEN);
	return base + conf->validity - jitter_for(owner, len, type, base, conf->jitter);
}

bool signer_key_signs(const skey_t *k, uint16_t type)
{
	if (type == DNS_TYPE_DNSKEY || type == DNS_TYPE_CDS || type == DNS_TYPE_CDNSKEY) {
		return k->ksk;
	}
	return k->zsk;
}

/* Room for the signed data of an RRset (RRSIG RDATA head + every RR). */
static int data_reserve(size_t owner_len, size_t signer_len, const uint8_t *const *rdata,
			uint16_t count, uint8_t **buf, size_t *cap)
{
	size_t need = 18 + signer_len;
	for (uint16_t i = 0; i < count; i++) {
		need += owner_len + 10u + dns_rdata_len(rdata[i]);
	}
	if (need > *cap) {
		uint8_t *bigger = realloc(*buf, need);
		if (bigger == NULL) {
			return TANDEM_ENOMEM;
		}
		*buf = bigger;
		*cap = need;
	}
	return TANDEM_OK;
}

/*
 * Writes the RRSIG signed data (RFC 4034 3.1.8.1) into data: the RRSIG RDATA
 * without algorithm, key tag and signature (filled per key), then each RR in
 * canonical form (rdata must be in canonical order). Returns its length.
 */
static size_t data_build(uint8_t *data, const uint8_t *owner, size_t owner_len, unsigned labels,
			 uint16_t type, uint32_t ttl, const uint8_t *const *rdata, uint16_t count,
			 uint32_t inception, uint32_t expiration, const uint8_t *signer,
			 size_t signer_len)
{
	put16(data, type);
	data[3] = (uint8_t)labels;
	put32(data + 4, ttl);
	put32(data + 8, expiration);
	put32(data + 12, inception);
	memcpy(data + 18, signer, signer_len);
	size_t pos = 18 + signer_len;
	for (uint16_t i = 0; i < count; i++) {
		uint16_t rdlen = dns_rdata_len(rdata[i]);
		memcpy(data + pos, owner, owner_len);
		pos += owner_len;
		put16(data + pos, type);
		put16(data + pos + 2, DNS_CLASS_IN);
		put32(data + pos + 4, ttl);
		memcpy(data + pos + 8, rdata[i], rdlen + 2u);
		pos += 10u + rdlen;
	}
	return pos;
}

/* Signs data (built by data_build, head_len bytes of RRSIG head) with one key and
 * returns the RRSIG RDATA (length-prefixed) from arena. */
static int rrsig_finish(hsm_token_t *token, unsigned session, const hsm_key_t *hkey, uint8_t alg,
			uint16_t tag, uint8_t *data, size_t len, size_t head_len,
			tandem_arena_t *arena, const uint8_t **out)
{
	data[2] = alg;
	put16(data + 16, tag);
	uint8_t sig[HSM_SIG_MAX];
	size_t sig_len = sizeof(sig);
	int ret = hsm_token_sign(token, session, hkey, data, len, sig, &sig_len);
	if (ret != TANDEM_OK) {
		return ret;
	}
	size_t rdlen = head_len + sig_len;
	uint8_t *rd = tandem_arena_alloc(arena, rdlen + 2);
	if (rd == NULL) {
		return TANDEM_ENOMEM;
	}
	put16(rd, (uint16_t)rdlen);
	memcpy(rd + 2, data, head_len);
	memcpy(rd + 2 + head_len, sig, sig_len);
	*out = rd;
	return TANDEM_OK;
}

/* Makes the RRSIGs of one RRset with every key that signs its type. */
static int sign_rrset(worker_t *w, const item_t *it, uint8_t **buf, size_t *cap)
{
	job_t *job = w->job;
	const dns_node_t *node = it->node;
	dns_rrset_t *rs = it->rs;
	const signer_slot_t *slots = job->slots != NULL ? &job->slots[it->slot] : NULL;
	size_t nsig = 0;
	for (size_t k = 0; k < job->nkeys; k++) {
		nsig += signer_key_signs(&job->keys[k], rs->type);
	}
	bool need = slots == NULL;
	for (size_t s = 0; s < nsig && !need; s++) {
		need = slots[s].keep == NULL;
	}
	size_t head_len = 18 + job->origin_len;
	size_t len = 0;
	if (need) {
		int ret =
		    data_reserve(node->name_len, job->origin_len, rs->rdata, rs->count, buf, cap);
		if (ret != TANDEM_OK) {
			return ret;
		}
		unsigned labels = node->labels;
		if (node->flags & DNS_NODE_WILDCARD) {
			labels--; /* RFC 4034 3.1.3: the '*' label is not counted */
		}
		uint32_t expiration =
		    job->base + job->conf->validity -
		    jitter_for(node->name, node->name_len, rs->type, job->base, job->conf->jitter);
		len = data_build(*buf, node->name, node->name_len, labels, rs->type, rs->ttl,
				 rs->rdata, rs->count, job->inception, expiration, job->origin,
				 job->origin_len);
	}
	const uint8_t **sigs = tandem_arena_alloc(w->arena, sizeof(*sigs) * (nsig ? nsig : 1));
	if (sigs == NULL) {
		return TANDEM_ENOMEM;
	}
	size_t made = 0;
	for (size_t k = 0; k < job->nkeys; k++) {
		const skey_t *key = &job->keys[k];
		if (!signer_key_signs(key, rs->type)) {
			continue;
		}
		const signer_slot_t *slot = slots != NULL ? &slots[made] : NULL;
		if (slot != NULL && slot->keep != NULL) {
			/* Pointed at when the previous version's arenas are this one's too (either
			 * may go first), else copied; and copied over the KSKs' RRsets, whose
			 * signatures may be pre-signed ones (an offline KSK's) that live with the
			 * previous version, not in its signer's arenas. */
			bool ksk_set = rs->type == DNS_TYPE_DNSKEY || rs->type == DNS_TYPE_CDS ||
				       rs->type == DNS_TYPE_CDNSKEY;
			sigs[made] = job->share && !ksk_set
					 ? slot->keep
					 : tandem_arena_memdup(w->bytes, slot->keep,
							       dns_rdata_len(slot->keep) + 2u);
			if (sigs[made] == NULL) {
				return TANDEM_ENOMEM;
			}
			made++;
			w->reused++;
			continue;
		}
		if (slot != NULL && slot->why == SIGNER_SLOT_REFRESH) {
			w->refreshed++;
		} else {
			w->fresh++;
		}
		w->signatures++;
		int ret = rrsig_finish(job->token, w->session, key->hkey, key->alg, key->tag, *buf,
				       len, head_len, w->bytes, &sigs[made]);
		if (ret != TANDEM_OK) {
			char name[1024], tbuf[16];
			dns_name_to_str(node->name, name);
			tandem_diag_add(job->diag, ret, "%s %s: signing with key %u failed: %s",
					name, dns_type_to_str(rs->type, tbuf), key->tag,
					tandem_strerror(ret));
			return ret;
		}
		made++;
	}
	rs->sigs = sigs;
	rs->sig_count = (uint16_t)made;
	return TANDEM_OK;
}

int signer_rrsig_make(hsm_token_t *token, unsigned session, const hsm_key_t *key,
		      uint16_t key_flags, const uint8_t *owner, const uint8_t *signer_name,
		      uint16_t type, uint32_t ttl, const uint8_t *const *rdata, uint16_t count,
		      uint32_t inception, uint32_t expiration, tandem_arena_t *arena,
		      const uint8_t **out)
{
	if (token == NULL || key == NULL || owner == NULL || signer_name == NULL || rdata == NULL ||
	    count == 0 || arena == NULL || out == NULL || !dns_name_is_sub(owner, signer_name) ||
	    tandem_serial_gt(inception, expiration)) {
		return TANDEM_EINVAL;
	}
	size_t owner_len = dns_name_len(owner, DNS_NAME_MAXLEN);
	size_t signer_len = dns_name_len(signer_name, DNS_NAME_MAXLEN);
	const uint8_t **sorted = malloc(sizeof(*sorted) * count);
	uint8_t *buf = NULL;
	size_t cap = 0;
	int ret = TANDEM_ENOMEM;
	if (sorted == NULL) {
		goto out;
	}
	memcpy(sorted, rdata, sizeof(*sorted) * count);
	qsort(sorted, count, sizeof(*sorted), rdata_ptr_cmp);
	ret = data_reserve(owner_len, signer_len, sorted, count, &buf, &cap);
	if (ret != TANDEM_OK) {
		goto out;
	}
	unsigned labels = dns_name_labels(owner);
	if (owner[0] == 1 && owner[1] == '*') {
		labels--;
	}
	size_t len = data_build(buf, owner, owner_len, labels, type, ttl, sorted, count, inception,
				expiration, signer_name, signer_len);
	ret = rrsig_finish(token, session, key, hsm_key_algorithm(key), hsm_key_tag(key, key_flags),
			   buf, len, 18 + signer_len, arena, out);
out:
	free(buf);
	free(sorted);
	return ret;
}

#define CHUNK 64

/* The chunks of the arenas of signature and NSEC3 bytes: a run that makes few records
 * (a cycle without change) keeps little memory alive beyond them, and each chunk gets
 * pages of its own (TANDEM_MMAP_THRESHOLD). */
#define SIGNER_BYTES_CHUNK TANDEM_MMAP_THRESHOLD

static void *worker_run(void *arg)
{
	worker_t *w = arg;
	job_t *job = w->job;
	uint8_t *buf = NULL;
	size_t cap = 0;
	w->ret = TANDEM_OK;
	for (;;) {
		if (atomic_load_explicit(&job->failed, memory_order_relaxed)) {
			break;
		}
		size_t start = atomic_fetch_add_explicit(&job->next, CHUNK, memory_order_relaxed);
		if (start >= job->nitems) {
			break;
		}
		size_t end = start + CHUNK < job->nitems ? start + CHUNK : job->nitems;
		for (size_t i = start; i < end; i++) {
			int ret = sign_rrset(w, &job->items[i], &buf, &cap);
			if (ret != TANDEM_OK) {
				w->ret = ret;
				atomic_store(&job->failed, 1);
				goto out;
			}
		}
	}
out:
	free(buf);
	return NULL;
}

static uint32_t ttl_override(const signer_ttls_t *t, uint16_t type)
{
	switch (type) {
	case DNS_TYPE_SOA: return t->soa;
	case DNS_TYPE_DNSKEY: return t->dnskey;
	case DNS_TYPE_NS: return t->ns;
	case DNS_TYPE_A: return t->a;
	case DNS_TYPE_AAAA: return t->aaaa;
	case DNS_TYPE_DS: return t->ds;
	default: return 0;
	}
}

static uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Applies TTL overrides, sets the new serial; returns the denial TTL in *denial_ttl. */
static int prepare_zone(dns_zone_t *zone, const signer_conf_t *conf, tandem_diag_t *diag,
			uint32_t *serial_out, uint32_t *denial_ttl)
{
	size_t count = 0;
	dns_node_t *nodes = dns_zone_nodes(zone, &count);
	for (size_t i = 0; i < count; i++) {
		for (uint16_t r = 0; r < nodes[i].rrset_count; r++) {
			dns_rrset_t *rs = &nodes[i].rrsets[r];
			uint32_t ttl = ttl_override(&conf->ttls, rs->type);
			if (ttl != 0) {
				rs->ttl = ttl;
			}
			/* Signatures from an earlier run are not reused (yet): drop them. */
			rs->sigs = NULL;
			rs->sig_count = 0;
		}
	}
	dns_node_t *apex = dns_zone_apex(zone);
	dns_rrset_t *soa = dns_node_rrset(apex, DNS_TYPE_SOA);
	if (soa == NULL || soa->count != 1 || dns_rdata_len(soa->rdata[0]) < 22) {
		tandem_diag_add(diag, TANDEM_DNS_ESOA, "zone has no usable SOA record");
		return TANDEM_DNS_ESOA;
	}
	size_t len = dns_rdata_len(soa->rdata[0]);
	uint8_t *copy = tandem_arena_memdup(dns_zone_arena(zone), soa->rdata[0], len + 2);
	if (copy == NULL) {
		return TANDEM_ENOMEM;
	}
	uint8_t *fields = copy + 2 + len - 20;
	uint32_t current = get32(fields);
	uint32_t next = conf->serial_exact;
	int ret = conf->has_serial_exact
		      ? TANDEM_OK
		      : tandem_serial_next(conf->serial_mode, current, conf->has_serial_floor,
					   conf->serial_floor, conf->now, &next);
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, ret, "SOA serial %u cannot advance in this mode (floor %u)",
				current, conf->serial_floor);
		return ret;
	}
	put32(fields, next);
	/* a new pointer array too: the zone's may be shared with the input it was copied from
	 * (dns_zone_copy_cow) */
	const uint8_t **one = tandem_arena_alloc(dns_zone_arena(zone), sizeof(*one));
	if (one == NULL) {
		return TANDEM_ENOMEM;
	}
	one[0] = copy;
	soa->rdata = one;
	*serial_out = next;
	uint32_t minimum = get32(fields + 16);
	/* RFC 9077: an NSEC or NSEC3 record lives no longer than a negative answer,
	 * min(SOA TTL, SOA MINIMUM); the policy's TTL applies only below that bound. */
	uint32_t neg = soa->ttl < minimum ? soa->ttl : minimum;
	*denial_ttl = conf->ttls.nsec3 != 0 && conf->ttls.nsec3 < neg ? conf->ttls.nsec3 : neg;
	return TANDEM_OK;
}

static int rdata_ptr_cmp(const void *a, const void *b)
{
	return dns_rdata_compare(*(const uint8_t *const *)a, *(const uint8_t *const *)b);
}

/*
 * Offline KSK: the ceremony's DNSKEY RRset and RRSIGs go in as they are; each
 * key given (its DNSKEY in `mine`) must be one of its DNSKEYs.
 */
static int put_presigned(dns_node_t *apex, tandem_arena_t *arena, const signer_conf_t *conf,
			 const uint8_t **mine, size_t nmine, tandem_diag_t *diag)
{
	for (size_t i = 0; i < nmine; i++) {
		bool found = false;
		for (uint16_t k = 0; k < conf->presigned_dnskey_count && !found; k++) {
			found = dns_rdata_compare(mine[i], conf->presigned_dnskey[k]) == 0;
		}
		if (!found) {
			tandem_diag_add(
			    diag, TANDEM_SIGNER_ECONF,
			    "a key given (DNSKEY %u) is not in the pre-signed DNSKEY "
			    "RRset of this time slot",
			    crypto_key_tag(dns_rdata_data(mine[i]), dns_rdata_len(mine[i])));
			return TANDEM_SIGNER_ECONF;
		}
	}
	/* The zone owns copies: the caller's RDATAs may go before the zone does (a node keeps
	 * the signed zone for its next update run, docs/node.md). */
	const uint8_t **sorted =
	    tandem_arena_alloc(arena, sizeof(*sorted) * conf->presigned_dnskey_count);
	const uint8_t **sigs =
	    tandem_arena_alloc(arena, sizeof(*sigs) * conf->presigned_rrsig_count);
	if ((sorted == NULL && conf->presigned_dnskey_count > 0) ||
	    (sigs == NULL && conf->presigned_rrsig_count > 0)) {
		return TANDEM_ENOMEM;
	}
	for (uint16_t k = 0; k < conf->presigned_dnskey_count; k++) {
		const uint8_t *rd = conf->presigned_dnskey[k];
		if ((sorted[k] = tandem_arena_memdup(arena, rd, 2u + dns_rdata_len(rd))) == NULL) {
			return TANDEM_ENOMEM;
		}
	}
	for (uint16_t k = 0; k < conf->presigned_rrsig_count; k++) {
		const uint8_t *rd = conf->presigned_rrsig[k];
		if ((sigs[k] = tandem_arena_memdup(arena, rd, 2u + dns_rdata_len(rd))) == NULL) {
			return TANDEM_ENOMEM;
		}
	}
	qsort(sorted, conf->presigned_dnskey_count, sizeof(*sorted), rdata_ptr_cmp);
	dns_rrset_t *rs = dns_node_put_rrset(apex, arena, DNS_TYPE_DNSKEY, conf->presigned_ttl,
					     sorted, conf->presigned_dnskey_count);
	if (rs == NULL) {
		return TANDEM_ENOMEM;
	}
	rs->flags |= DNS_RRSET_AUTH;
	rs->sigs = sigs;
	rs->sig_count = conf->presigned_rrsig_count;
	return TANDEM_OK;
}

/* Replaces the apex DNSKEY RRset with the keys given (every key is published). */
static int put_dnskeys(dns_zone_t *zone, const signer_conf_t *conf, const signer_key_t *keys,
		       size_t nkeys, skey_t *out, tandem_diag_t *diag)
{
	tandem_arena_t *arena = dns_zone_arena(zone);
	const uint8_t **rdata = calloc(nkeys, sizeof(*rdata));
	if (rdata == NULL) {
		return TANDEM_ENOMEM;
	}
	int ret = TANDEM_OK;
	size_t published = 0;
	for (size_t i = 0; i < nkeys; i++) {
		uint16_t flags = (keys[i].ksk || keys[i].sep) ? 257 : 256;
		uint8_t buf[HSM_DNSKEY_MAX];
		size_t len = sizeof(buf);
		ret = hsm_key_dnskey_rdata(keys[i].key, flags, buf, &len);
		if (ret != TANDEM_OK) {
			tandem_diag_add(diag, ret, "key %s: cannot make its DNSKEY",
					hsm_key_label(keys[i].key));
			goto out;
		}
		uint8_t *rd = tandem_arena_alloc(arena, len + 2);
		if (rd == NULL) {
			ret = TANDEM_ENOMEM;
			goto out;
		}
		put16(rd, (uint16_t)len);
		memcpy(rd + 2, buf, len);
		if (!keys[i].unpublished) {
			rdata[published++] = rd;
		}
		out[i] = (skey_t){.hkey = keys[i].key,
				  .dnskey = rd,
				  .tag = hsm_key_tag(keys[i].key, flags),
				  .alg = hsm_key_algorithm(keys[i].key),
				  .ksk = keys[i].ksk,
				  .zsk = keys[i].zsk,
				  .unpublished = keys[i].unpublished};
	}
	qsort(rdata, published, sizeof(*rdata), rdata_ptr_cmp);
	size_t uniq = 0;
	for (size_t i = 0; i < published; i++) {
		if (uniq == 0 || dns_rdata_compare(rdata[uniq - 1], rdata[i]) != 0) {
			rdata[uniq++] = rdata[i];
		}
	}
	dns_node_t *apex = dns_zone_apex(zone);
	if (conf->presigned_dnskey_count > 0) {
		ret = put_presigned(apex, arena, conf, rdata, uniq, diag);
		goto out;
	}
	dns_rrset_t *rs =
	    dns_node_put_rrset(apex, arena, DNS_TYPE_DNSKEY,
			       conf->ttls.dnskey ? conf->ttls.dnskey : 3600, rdata, (uint16_t)uniq);
	if (rs == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	rs->flags |= DNS_RRSET_AUTH;
out:
	free(rdata);
	return ret;
}

/* An RRset that arrives signed (an offline KSK's DNSKEY RRset) is not signed again. */
static bool to_sign(const dns_rrset_t *rs)
{
	return (rs->flags & DNS_RRSET_AUTH) && rs->sig_count == 0;
}

/* The RRsets to sign, in canonical order, each with its first slot (one slot per key that
 * signs its type); *nslots is the total. */
static int collect_items(dns_zone_t *zone, const skey_t *keys, size_t nkeys, item_t **out,
			 size_t *nout, size_t *nslots)
{
	size_t per_role[2] = {0, 0}; /* keys that sign DNSKEY, keys that sign the rest */
	for (size_t k = 0; k < nkeys; k++) {
		per_role[0] += signer_key_signs(&keys[k], DNS_TYPE_DNSKEY);
		per_role[1] += signer_key_signs(&keys[k], DNS_TYPE_SOA);
	}
	size_t count = 0, n3 = 0;
	dns_node_t *nodes = dns_zone_nodes(zone, &count);
	dns_node_t *nsec3 = dns_zone_nsec3_nodes(zone, &n3);
	size_t total = n3;
	for (size_t i = 0; i < count; i++) {
		for (uint16_t r = 0; r < nodes[i].rrset_count; r++) {
			total += to_sign(&nodes[i].rrsets[r]);
		}
	}
	item_t *items = malloc(sizeof(*items) * (total ? total : 1));
	if (items == NULL) {
		return TANDEM_ENOMEM;
	}
	size_t k = 0, slot = 0;
	for (size_t i = 0; i < count; i++) {
		for (uint16_t r = 0; r < nodes[i].rrset_count; r++) {
			dns_rrset_t *rs = &nodes[i].rrsets[r];
			if (to_sign(rs)) {
				items[k++] = (item_t){&nodes[i], rs, slot};
				bool ksk = rs->type == DNS_TYPE_DNSKEY ||
					   rs->type == DNS_TYPE_CDS || rs->type == DNS_TYPE_CDNSKEY;
				slot += per_role[ksk ? 0 : 1];
			}
		}
	}
	for (size_t i = 0; i < n3; i++) {
		items[k++] = (item_t){&nsec3[i], &nsec3[i].rrsets[0], slot};
		slot += per_role[1];
	}
	*out = items;
	*nout = k;
	*nslots = slot;
	return TANDEM_OK;
}

/* The apex ZONEMD with a zero digest, unsigned (not DNS_RRSET_AUTH): it is in the NSEC or
 * NSEC3 bitmap of the apex, left out of the digest, and signed once the digest is in. */
static int zonemd_placeholder(dns_zone_t *zone, const signer_conf_t *conf, uint32_t serial)
{
	size_t hlen = dns_zonemd_hash_len(conf->zonemd_hash);
	dns_node_t *apex = dns_zone_apex(zone);
	const dns_rrset_t *soa = dns_node_rrset(apex, DNS_TYPE_SOA);
	uint8_t *rd = tandem_arena_alloc(dns_zone_arena(zone), 2 + 6 + hlen);
	if (rd == NULL) {
		return TANDEM_ENOMEM;
	}
	put16(rd, (uint16_t)(6 + hlen));
	put32(rd + 2, serial);
	rd[6] = DNS_ZONEMD_SIMPLE;
	rd[7] = conf->zonemd_hash;
	memset(rd + 8, 0, hlen);
	const uint8_t *one = rd;
	dns_rrset_t *rs =
	    dns_node_put_rrset(apex, dns_zone_arena(zone), DNS_TYPE_ZONEMD, soa->ttl, &one, 1);
	if (rs == NULL) {
		return TANDEM_ENOMEM;
	}
	rs->flags = 0;
	return TANDEM_OK;
}

/* Fills in the apex ZONEMD's digest over the signed zone and signs it with the ZSKs. */
static int zonemd_finish(dns_zone_t *zone, job_t *job, signer_stats_t *st, tandem_diag_t *diag)
{
	dns_rrset_t *rs = dns_node_rrset(dns_zone_apex(zone), DNS_TYPE_ZONEMD);
	if (rs == NULL || rs->count != 1) {
		return TANDEM_EINVAL;
	}
	uint8_t *rd = tandem_arena_memdup(dns_zone_arena(zone), rs->rdata[0],
					  (size_t)dns_rdata_len(rs->rdata[0]) + 2u);
	size_t len = 0;
	if (rd == NULL) {
		return TANDEM_ENOMEM;
	}
	int ret = dns_zonemd_compute(zone, job->conf->zonemd_hash, rd + 8, &len);
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, ret, "ZONEMD: the digest could not be computed: %s",
				tandem_strerror(ret));
		return ret;
	}
	rs->rdata[0] = rd;
	rs->flags |= DNS_RRSET_AUTH;
	worker_t w = {.job = job, .session = 0, .arena = dns_zone_arena(zone)};
	if (tandem_arena_new(SIGNER_BYTES_CHUNK, &w.bytes) != TANDEM_OK) {
		return TANDEM_ENOMEM;
	}
	item_t it = {dns_zone_apex(zone), rs, 0};
	signer_slot_t *slots = job->slots;
	uint8_t *buf = NULL;
	size_t cap = 0;
	job->slots = NULL; /* never reused: its serial and digest are new each run */
	ret = sign_rrset(&w, &it, &buf, &cap);
	job->slots = slots;
	free(buf);
	if (dns_zone_dnssec_adopt(zone, w.bytes) != TANDEM_OK && ret == TANDEM_OK) {
		ret = TANDEM_ENOMEM;
	}
	st->signatures += w.signatures;
	st->rrsigs_new += w.fresh;
	st->rrsets_signed++;
	return ret;
}

static int check_inputs(const signer_conf_t *conf, const signer_key_t *keys, size_t nkeys,
			hsm_token_t *token, tandem_diag_t *diag)
{
	bool ksk = false, zsk = false;
	for (size_t i = 0; i < nkeys; i++) {
		if (keys[i].key == NULL) {
			return TANDEM_EINVAL;
		}
		ksk |= keys[i].ksk;
		zsk |= keys[i].zsk;
	}
	if (conf->zonemd_hash != 0 && dns_zonemd_hash_len(conf->zonemd_hash) == 0) {
		tandem_diag_add(diag, TANDEM_SIGNER_ECONF, "ZONEMD hash algorithm %u is not known",
				conf->zonemd_hash);
		return TANDEM_SIGNER_ECONF;
	}
	bool presigned = conf->presigned_dnskey_count > 0;
	if (presigned && (ksk || conf->presigned_rrsig_count == 0)) {
		tandem_diag_add(diag, TANDEM_SIGNER_ECONF,
				ksk ? "a pre-signed DNSKEY RRset (offline KSK) leaves no KSK role "
				      "to the keys given"
				    : "the pre-signed DNSKEY RRset has no RRSIG");
		return TANDEM_SIGNER_ECONF;
	}
	if ((!ksk && !presigned) || !zsk) {
		tandem_diag_add(diag, TANDEM_SIGNER_ENOKEY, "signing needs at least one %s",
				zsk ? "KSK" : "ZSK");
		return TANDEM_SIGNER_ENOKEY;
	}
	unsigned threads = conf->threads ? conf->threads : 1;
	if (threads > hsm_token_sessions(token)) {
		tandem_diag_add(diag, TANDEM_SIGNER_ECONF, "%u threads but only %u HSM sessions",
				threads, hsm_token_sessions(token));
		return TANDEM_SIGNER_ECONF;
	}
	if (conf->validity <= conf->jitter || conf->period == 0 ||
	    conf->inception_offset >= conf->validity) {
		tandem_diag_add(diag, TANDEM_SIGNER_ECONF,
				"signature validity must exceed jitter and inception offset, "
				"period must be positive");
		return TANDEM_SIGNER_ECONF;
	}
	if (conf->previous != NULL && signer_refresh_window(conf) < conf->period) {
		tandem_diag_add(diag, TANDEM_SIGNER_ECONF,
				"refresh (%u s) must leave at least one period between it and the "
				"minimum validity (validity %u s - jitter %u s)",
				signer_refresh_of(conf), conf->validity, conf->jitter);
		return TANDEM_SIGNER_ECONF;
	}
	if (conf->replace_count > 0 && conf->replace_tags == NULL) {
		return TANDEM_EINVAL;
	}
	return TANDEM_OK;
}

int signer_sign_zone(dns_zone_t *zone, const signer_conf_t *conf, const signer_key_t *keys,
		     size_t nkeys, hsm_token_t *token, tandem_diag_t *diag, signer_stats_t *stats)
{
	if (zone == NULL || conf == NULL || keys == NULL || nkeys == 0 || token == NULL ||
	    dns_zone_apex(zone) == NULL || conf->previous == zone) {
		return TANDEM_EINVAL;
	}
	int ret = check_inputs(conf, keys, nkeys, token, diag);
	if (ret != TANDEM_OK) {
		return ret;
	}
	double t0 = tandem_mono_s();
	signer_stats_t st = {0};
	skey_t *skeys = calloc(nkeys, sizeof(*skeys));
	item_t *items = NULL;
	worker_t *workers = NULL;
	unsigned threads = conf->threads ? conf->threads : 1;
	job_t job = {.conf = conf, .token = token, .diag = diag, .keys = skeys, .nkeys = nkeys};
	if (skeys == NULL) {
		return TANDEM_ENOMEM;
	}
	const dns_node_t **pmap = NULL; /* this version's names in the previous one */
	uint32_t denial_ttl = 0;
	/* the records kept are the previous version's bytes when its arenas may become this
	 * version's too, else copies (dns_zone_dnssec_shareable) */
	signer_dnssec_t dnssec = {.share = dns_zone_dnssec_shareable(conf->previous)};
	size_t held = 0;
	if (dnssec.share && (ret = dns_zone_dnssec_share(zone, conf->previous)) != TANDEM_OK) {
		goto out;
	}
	dns_zone_dnssec_bytes(zone, &held, NULL);
	job.share = dnssec.share;
	ret = prepare_zone(zone, conf, diag, &st.serial, &denial_ttl);
	if (ret != TANDEM_OK) {
		goto out;
	}
	ret = put_dnskeys(zone, conf, keys, nkeys, skeys, diag);
	if (ret != TANDEM_OK) {
		goto out;
	}
	dns_node_remove_rrset(dns_zone_apex(zone), DNS_TYPE_ZONEMD);
	if (conf->zonemd_hash != 0) {
		ret = zonemd_placeholder(zone, conf, st.serial);
		if (ret != TANDEM_OK) {
			goto out;
		}
	}
	dns_node_t *apex = dns_zone_apex(zone);
	dns_node_remove_rrset(apex, DNS_TYPE_NSEC3PARAM);
	/* only read; the dns accessors are not const-qualified */
	if (conf->previous != NULL &&
	    (ret = signer_prev_map(zone, (dns_zone_t *)conf->previous, &pmap)) != TANDEM_OK) {
		goto out;
	}
	if (conf->denial == SIGNER_DENIAL_NSEC3) {
		ret = tandem_arena_new(SIGNER_BYTES_CHUNK, &dnssec.bytes);
		if (ret == TANDEM_OK) {
			ret =
			    signer_nsec3_build(zone, conf, pmap, denial_ttl, &dnssec, diag,
					       &st.nsec_records, &st.nsec3_hashed, &st.nsec3_kept);
		}
		int adopted = dns_zone_dnssec_adopt(zone, dnssec.bytes);
		ret = ret == TANDEM_OK ? adopted : ret;
	} else {
		dns_zone_set_nsec3_nodes_take(zone, NULL, 0);
		ret = signer_nsec_build(zone, denial_ttl, diag, &st.nsec_records);
	}
	if (ret != TANDEM_OK) {
		goto out;
	}
	size_t nslots = 0;
	ret = collect_items(zone, skeys, nkeys, &items, &job.nitems, &nslots);
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (conf->previous != NULL) {
		size_t kept = 0;
		job.slots = calloc(nslots ? nslots : 1, sizeof(*job.slots));
		ret = job.slots == NULL ? TANDEM_ENOMEM
					: signer_reuse_plan(zone, conf, pmap, skeys, nkeys, items,
							    job.nitems, job.slots, &kept);
		if (ret != TANDEM_OK) {
			goto out;
		}
		dnssec.live += job.share ? kept : 0;
	}
	job.items = items;
	job.origin = dns_zone_origin(zone);
	job.origin_len = dns_name_len(job.origin, DNS_NAME_MAXLEN);
	job.base = (uint32_t)(conf->now - conf->now % conf->period);
	job.inception = job.base - conf->inception_offset;
	double t1 = tandem_mono_s();

	workers = calloc(threads, sizeof(*workers));
	if (workers == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	unsigned started = 0;
	for (unsigned i = 0; i < threads; i++) {
		workers[i].job = &job;
		workers[i].session = i;
		if (tandem_arena_new(4u << 20, &workers[i].arena) != TANDEM_OK ||
		    tandem_arena_new(SIGNER_BYTES_CHUNK, &workers[i].bytes) != TANDEM_OK) {
			ret = TANDEM_ENOMEM;
			break;
		}
		if (i == 0) {
			continue; /* the calling thread is worker 0 */
		}
		if (pthread_create(&workers[i].thread, NULL, worker_run, &workers[i]) != 0) {
			ret = TANDEM_ENOMEM;
			atomic_store(&job.failed, 1);
			break;
		}
		started = i;
	}
	if (ret == TANDEM_OK) {
		worker_run(&workers[0]);
	}
	for (unsigned i = 1; i <= started; i++) {
		pthread_join(workers[i].thread, NULL);
	}
	for (unsigned i = 0; i < threads; i++) {
		if (ret == TANDEM_OK && workers[i].ret != TANDEM_OK) {
			ret = workers[i].ret;
		}
		st.signatures += workers[i].signatures;
		st.rrsigs_new += workers[i].fresh;
		st.rrsigs_reused += workers[i].reused;
		st.rrsigs_refreshed += workers[i].refreshed;
		dns_zone_adopt_arena(zone, workers[i].arena);
		int adopted = dns_zone_dnssec_adopt(zone, workers[i].bytes);
		ret = ret == TANDEM_OK ? adopted : ret;
	}
	if (ret != TANDEM_OK) {
		goto out;
	}
	st.rrsets_signed = job.nitems;
	if (conf->zonemd_hash != 0) {
		ret = zonemd_finish(zone, &job, &st, diag);
		if (ret != TANDEM_OK) {
			goto out;
		}
	}
	/* live: the records kept in earlier versions' arenas, and this run's arenas */
	size_t now_held = 0;
	dns_zone_dnssec_bytes(zone, &now_held, NULL);
	dns_zone_dnssec_seal(zone, dnssec.live + (now_held - held));
	st.seconds_prepare = t1 - t0;
	st.seconds_sign = tandem_mono_s() - t1;
	if (stats != NULL) {
		*stats = st;
	}
out:
	free(pmap);
	free(workers);
	free(job.slots);
	free(items);
	free(skeys);
	return ret;
}
