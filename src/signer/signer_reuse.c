/* Incremental signing: which RRSIGs of the previous version to keep, and the refresh schedule. */
#include "signer_internal.h"
#include "crypto.h"
#include "tandem_error.h"

#include <stdlib.h>
#include <string.h>

uint32_t signer_refresh_of(const signer_conf_t *conf)
{
	if (conf->refresh != 0) {
		return conf->refresh;
	}
	return conf->validity > conf->jitter ? (conf->validity - conf->jitter) / 3 : 0;
}

uint32_t signer_refresh_window(const signer_conf_t *conf)
{
	uint32_t refresh = signer_refresh_of(conf);
	if (conf->validity <= conf->jitter || conf->validity - conf->jitter <= refresh) {
		return 0;
	}
	return conf->validity - conf->jitter - refresh;
}

/* Seconds from now to t, an RFC 4034 time (serial arithmetic): negative when t is past. */
static int64_t until(uint32_t t, uint64_t now)
{
	return (int32_t)(t - (uint32_t)now);
}

bool signer_rrsig_due(uint32_t expiration, uint64_t now, uint32_t refresh)
{
	return until(expiration, now) <= (int64_t)refresh;
}

/* floor(pool * t / window) without overflow for t < 2^32: pool = a * window + rem. */
static uint64_t share_until(uint64_t pool, uint64_t t, uint64_t window)
{
	return pool / window * t + pool % window * t / window;
}

size_t signer_refresh_quota(size_t pool, uint64_t since, uint64_t now, uint64_t window)
{
	if (window == 0 || now <= since) {
		return window == 0 ? pool : 0;
	}
	if (now - since >= window || now > UINT32_MAX) {
		return pool;
	}
	uint64_t q = share_until(pool, now, window) - share_until(pool, since, window);
	return q < pool ? (size_t)q : pool;
}

/* ceil(pool * elapsed / window), at most pool: a stopped key's signatures go evenly over the
 * time left to its deadline (window shrinks each run, so this drains to zero by then). */
static size_t drain_quota(size_t pool, uint64_t elapsed, uint64_t window)
{
	if (window == 0 || elapsed >= window) {
		return pool;
	}
	uint64_t a = pool / window, rem = pool % window;
	uint64_t q = a * elapsed + (rem * elapsed + window - 1) / window;
	return q < pool ? (size_t)q : pool;
}

int signer_refresh_pick(const uint32_t *key, size_t n, size_t k, uint8_t *pick)
{
	if ((key == NULL || pick == NULL) && n > 0) {
		return TANDEM_EINVAL;
	}
	if (n == 0) {
		return TANDEM_OK;
	}
	memset(pick, k >= n ? 1 : 0, n);
	if (k == 0 || k >= n) {
		return TANDEM_OK;
	}
	/* Radix select, high 16 bits then low 16 bits: two counting passes, O(n). */
	size_t *cnt = calloc(65536, sizeof(*cnt));
	if (cnt == NULL) {
		return TANDEM_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		cnt[key[i] >> 16]++;
	}
	size_t below = 0;
	uint32_t hi = 0;
	while (below + cnt[hi] < k) {
		below += cnt[hi++];
	}
	memset(cnt, 0, 65536 * sizeof(*cnt));
	for (size_t i = 0; i < n; i++) {
		if ((key[i] >> 16) == hi) {
			cnt[key[i] & 0xffff]++;
		}
	}
	uint32_t lo = 0;
	while (below + cnt[lo] < k) {
		below += cnt[lo++];
	}
	free(cnt);
	uint32_t cut = (hi << 16) | lo;
	size_t equal = k - below; /* how many keys equal to cut are taken, lowest index first */
	for (size_t i = 0; i < n; i++) {
		if (key[i] < cut) {
			pick[i] = 1;
		} else if (key[i] == cut && equal > 0) {
			pick[i] = 1;
			equal--;
		}
	}
	return TANDEM_OK;
}

/* The fields of an RRSIG RDATA that reuse looks at. */
typedef struct sigv {
	uint16_t covered;
	uint8_t alg, labels;
	uint32_t ttl, expiration, inception;
	uint16_t tag;
} sigv_t;

static uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Parses rr (length-prefixed RRSIG RDATA); false when it is short or its signer is not
 * origin. */
static bool sig_parse(const uint8_t *rr, const uint8_t *origin, size_t olen, sigv_t *v)
{
	size_t len = dns_rdata_len(rr);
	const uint8_t *d = dns_rdata_data(rr);
	if (len <= 18 + olen || memcmp(d + 18, origin, olen) != 0) {
		return false;
	}
	v->covered = (uint16_t)((d[0] << 8) | d[1]);
	v->alg = d[2];
	v->labels = d[3];
	v->ttl = get32(d + 4);
	v->expiration = get32(d + 8);
	v->inception = get32(d + 12);
	v->tag = (uint16_t)((d[16] << 8) | d[17]);
	return true;
}

/* A key in the new DNSKEY RRset, as the previous version's signatures name it. */
typedef struct pkey {
	uint16_t tag;
	uint8_t alg;
	bool in_prev;   /* the same DNSKEY was in the previous version: its tag means this key */
	bool ambiguous; /* another DNSKEY of the RRset has the same algorithm and tag */
	bool replace;   /* in conf->replace_tags */
	int active;     /* index of the key given with this DNSKEY, -1: none */
	bool seen;      /* it made a signature of the previous version */
	int64_t last;   /* its most recent inception, as until() */
	size_t count;   /* signatures of its pool (it stopped signing) */
} pkey_t;

typedef struct plan {
	const signer_conf_t *conf;
	const skey_t *keys;
	size_t nkeys;
	const uint8_t *origin;
	size_t olen;
	pkey_t *pk;
	size_t npk;
	int *key_pk; /* per key given: its pkey, -1 when unpublished or new */
	uint32_t refresh;
	size_t kept_bytes; /* of the signatures kept */
} plan_t;

static pkey_t *pk_find(const plan_t *p, uint8_t alg, uint16_t tag)
{
	for (size_t i = 0; i < p->npk; i++) {
		if (p->pk[i].tag == tag && p->pk[i].alg == alg) {
			return p->pk[i].ambiguous || !p->pk[i].in_prev ? NULL : &p->pk[i];
		}
	}
	return NULL;
}

static bool rdata_in(const uint8_t *rd, const dns_rrset_t *rs)
{
	for (uint16_t i = 0; rs != NULL && i < rs->count; i++) {
		if (dns_rdata_compare(rd, rs->rdata[i]) == 0) {
			return true;
		}
	}
	return false;
}

/* The new DNSKEY RRset's keys; which of them the previous version had, and which sign. */
static int pk_build(plan_t *p, const dns_node_t *apex, const dns_node_t *papex)
{
	const dns_rrset_t *rs = dns_node_rrset(apex, DNS_TYPE_DNSKEY);
	const dns_rrset_t *prs = papex != NULL ? dns_node_rrset(papex, DNS_TYPE_DNSKEY) : NULL;
	size_t n = rs != NULL ? rs->count : 0;
	p->pk = calloc(n ? n : 1, sizeof(*p->pk));
	p->key_pk = calloc(p->nkeys, sizeof(*p->key_pk));
	if (p->pk == NULL || p->key_pk == NULL) {
		return TANDEM_ENOMEM;
	}
	for (size_t k = 0; k < p->nkeys; k++) {
		p->key_pk[k] = -1;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *rd = rs->rdata[i];
		pkey_t *e = &p->pk[i];
		uint16_t len = dns_rdata_len(rd);
		e->tag = crypto_key_tag(dns_rdata_data(rd), len);
		e->alg = len >= 4 ? dns_rdata_data(rd)[3] : 0;
		e->in_prev = rdata_in(rd, prs);
		e->active = -1;
		for (uint16_t t = 0; t < p->conf->replace_count; t++) {
			e->replace |= p->conf->replace_tags[t] == e->tag;
		}
		for (size_t j = 0; j < i; j++) {
			if (p->pk[j].tag == e->tag && p->pk[j].alg == e->alg) {
				p->pk[j].ambiguous = e->ambiguous = true;
			}
		}
		/* Another key with this tag in the previous version could have made its
		 * signatures: none of them can be attributed. */
		for (uint16_t j = 0; prs != NULL && j < prs->count; j++) {
			const uint8_t *o = prs->rdata[j];
			uint16_t olen = dns_rdata_len(o);
			if (dns_rdata_compare(o, rd) != 0 && olen >= 4 &&
			    dns_rdata_data(o)[3] == e->alg &&
			    crypto_key_tag(dns_rdata_data(o), olen) == e->tag) {
				e->ambiguous = true;
			}
		}
		for (size_t k = 0; k < p->nkeys; k++) {
			if (!p->keys[k].unpublished &&
			    dns_rdata_compare(p->keys[k].dnskey, rd) == 0) {
				e->active = (int)k;
				p->key_pk[k] = e->in_prev ? (int)i : -1;
			}
		}
	}
	for (size_t k = 0; k < p->nkeys; k++) {
		if (p->key_pk[k] >= 0 && p->pk[p->key_pk[k]].ambiguous) {
			p->key_pk[k] = -1;
		}
	}
	p->npk = n;
	return TANDEM_OK;
}

/* Pass over every previous signature: the most recent inception overall and per key. */
static void scan_inceptions(plan_t *p, dns_node_t *nodes, size_t count, bool *seen, int64_t *last)
{
	uint64_t now = p->conf->now;
	for (size_t i = 0; i < count; i++) {
		for (uint16_t r = 0; r < nodes[i].rrset_count; r++) {
			const dns_rrset_t *rs = &nodes[i].rrsets[r];
			for (uint16_t s = 0; s < rs->sig_count; s++) {
				sigv_t v;
				if (!sig_parse(rs->sigs[s], p->origin, p->olen, &v)) {
					continue;
				}
				int64_t ago = until(v.inception, now);
				if (ago > 0) {
					continue; /* not valid yet: no run made it before now */
				}
				/* An offline KSK's DNSKEY signature dates from its ceremony
				 * slot, not from a signing run. */
				if (v.covered != DNS_TYPE_DNSKEY && (!*seen || ago > *last)) {
					*seen = true;
					*last = ago;
				}
				pkey_t *e = pk_find(p, v.alg, v.tag);
				if (e != NULL && (!e->seen || ago > e->last)) {
					e->seen = true;
					e->last = ago;
				}
			}
		}
	}
}

/* Whether a's records are exactly these (count, and each RDATA in order). */
static bool rdata_same(const dns_rrset_t *a, const uint8_t *const *rdata, uint16_t count)
{
	if (a->count != count) {
		return false;
	}
	/* Versions copied from one unsigned zone share its RDATA (dns_zone_copy_cow): the same
	 * pointers need no look at the bytes. */
	if ((const uint8_t *const *)a->rdata == rdata) {
		return true;
	}
	for (uint16_t i = 0; i < a->count; i++) {
		if (a->rdata[i] != rdata[i] && dns_rdata_compare(a->rdata[i], rdata[i]) != 0) {
			return false;
		}
	}
	return true;
}

static bool rrset_same(const dns_rrset_t *a, const dns_rrset_t *b)
{
	return b != NULL && a->type == b->type && a->ttl == b->ttl &&
	       rdata_same(a, b->rdata, b->count);
}

/* A previous signature that may stand for an RRset now: right fields, valid, not due. */
static bool sig_usable(const plan_t *p, const sigv_t *v, const dns_rrset_t *rs, unsigned labels)
{
	return v->covered == rs->type && v->labels == labels && v->ttl == rs->ttl &&
	       until(v->inception, p->conf->now) <= 0 &&
	       !signer_rrsig_due(v->expiration, p->conf->now, p->refresh);
}

/* Fills the slots of one unchanged RRset from its previous signatures (prs). */
static void plan_rrset(plan_t *p, const item_t *it, const dns_rrset_t *prs, signer_slot_t *slots,
		       size_t *pool0)
{
	const dns_rrset_t *rs = it->rs;
	unsigned labels = it->node->labels - ((it->node->flags & DNS_NODE_WILDCARD) ? 1u : 0u);
	uint64_t used = 0; /* previous signatures already standing in for a key (first 64) */
	size_t s = 0;
	for (size_t k = 0; k < p->nkeys; k++) {
		const skey_t *key = &p->keys[k];
		if (!signer_key_signs(key, rs->type)) {
			continue;
		}
		signer_slot_t *sl = &slots[s++];
		sl->why = SIGNER_SLOT_REFRESH;
		if (p->key_pk[k] < 0) {
			continue; /* new to the zone or unpublished: sign */
		}
		const pkey_t *own = &p->pk[p->key_pk[k]];
		bool own_seen = false;
		for (uint16_t j = 0; j < prs->sig_count && !own_seen; j++) {
			sigv_t v;
			if (!sig_parse(prs->sigs[j], p->origin, p->olen, &v) || v.alg != own->alg ||
			    v.tag != own->tag) {
				continue;
			}
			own_seen = true;
			if (!own->replace && sig_usable(p, &v, rs, labels)) {
				sl->keep = prs->sigs[j];
				p->kept_bytes += 2u + dns_rdata_len(sl->keep);
				sl->left = (uint32_t)until(v.expiration, p->conf->now);
				sl->pool = 0;
				(*pool0)++;
			}
		}
		if (own_seen) {
			continue;
		}
		/* No signature by this key yet: one by a published key of its algorithm that
		 * stopped signing this RRset stands in until the schedule replaces it. */
		for (uint16_t j = 0; j < prs->sig_count; j++) {
			sigv_t v;
			if ((j < 64 && (used >> j) & 1) ||
			    !sig_parse(prs->sigs[j], p->origin, p->olen, &v) || v.alg != key->alg) {
				continue;
			}
			pkey_t *e = pk_find(p, v.alg, v.tag);
			if (e == NULL || e->replace ||
			    (e->active >= 0 && signer_key_signs(&p->keys[e->active], rs->type)) ||
			    !sig_usable(p, &v, rs, labels)) {
				continue;
			}
			sl->keep = prs->sigs[j];
			p->kept_bytes += 2u + dns_rdata_len(sl->keep);
			sl->left = (uint32_t)until(v.expiration, p->conf->now);
			sl->pool = (uint16_t)(1 + (e - p->pk));
			e->count++;
			if (j < 64) {
				used |= 1ull << j;
			}
			break;
		}
	}
}

/* Takes the schedule's share of one pool: its quota of earliest-expiring signatures. */
static int pick_pool(signer_slot_t *slots, size_t nslots, uint16_t pool, size_t count, size_t quota,
		     size_t *kept_bytes)
{
	if (quota == 0 || count == 0) {
		return TANDEM_OK;
	}
	uint32_t *left = calloc(count, sizeof(*left));
	uint8_t *pick = malloc(count);
	size_t *where = malloc(sizeof(*where) * count);
	int ret = TANDEM_ENOMEM;
	if (left == NULL || pick == NULL || where == NULL) {
		goto out;
	}
	size_t n = 0;
	for (size_t i = 0; i < nslots && n < count; i++) {
		if (slots[i].keep != NULL && slots[i].pool == pool) {
			left[n] = slots[i].left;
			where[n++] = i;
		}
	}
	ret = signer_refresh_pick(left, n, quota, pick);
	if (ret != TANDEM_OK) {
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (pick[i]) {
			*kept_bytes -= 2u + dns_rdata_len(slots[where[i]].keep);
			slots[where[i]].keep = NULL;
			slots[where[i]].why = SIGNER_SLOT_REFRESH;
		}
	}
out:
	free(left);
	free(pick);
	free(where);
	return ret;
}

static bool same_name(const dns_node_t *a, const dns_node_t *b)
{
	return a->name_len == b->name_len &&
	       (a->name == b->name || memcmp(a->name, b->name, a->name_len) == 0);
}

/* The next node of arr (from *cur on) named as node, or NULL; arr is in canonical order and
 * successive calls ask for names in that order (a merge-join). Byte equality first: from
 * one version to the next almost every name is there again, at the node the last call
 * found or the one after it, so the canonical comparison runs only around names that came
 * or went. */
static const dns_node_t *join(const dns_node_t *arr, size_t count, size_t *cur,
			      const dns_node_t *node)
{
	while (*cur < count) {
		const dns_node_t *a = &arr[*cur];
		if (same_name(a, node)) {
			return a;
		}
		if (*cur + 1 < count && same_name(&arr[*cur + 1], node)) {
			return &arr[++*cur];
		}
		int c = dns_name_compare(a->name, node->name);
		if (c == 0) {
			return &arr[*cur];
		}
		if (c > 0) {
			return NULL;
		}
		(*cur)++;
	}
	return NULL;
}

int signer_prev_map(dns_zone_t *zone, dns_zone_t *prev, const dns_node_t ***out)
{
	size_t count = 0, pcount = 0, pj = 0;
	const dns_node_t *nodes = dns_zone_nodes(zone, &count);
	const dns_node_t *pnodes = dns_zone_nodes(prev, &pcount);
	const dns_node_t **map = malloc(sizeof(*map) * (count ? count : 1));
	if (map == NULL) {
		return TANDEM_ENOMEM;
	}
	for (size_t i = 0; i < count; i++) {
		map[i] = NULL;
		if (pj < pcount && same_name(&pnodes[pj], &nodes[i])) {
			map[i] = &pnodes[pj++];
			continue;
		}
		while (pj < pcount) {
			int c = dns_name_compare(pnodes[pj].name, nodes[i].name);
			if (c > 0) {
				break;
			}
			pj++;
			if (c == 0) {
				map[i] = &pnodes[pj - 1];
				break;
			}
		}
	}
	*out = map;
	return TANDEM_OK;
}

int signer_reuse_plan(dns_zone_t *zone, const signer_conf_t *conf, const dns_node_t *const *pmap,
		      const skey_t *keys, size_t nkeys, const item_t *items, size_t nitems,
		      signer_slot_t *slots, size_t *kept_bytes)
{
	/* The previous version is only read; the dns accessors are not const-qualified. */
	dns_zone_t *prev = (dns_zone_t *)conf->previous;
	plan_t p = {.conf = conf,
		    .keys = keys,
		    .nkeys = nkeys,
		    .origin = dns_zone_origin(zone),
		    .refresh = signer_refresh_of(conf)};
	p.olen = dns_name_len(p.origin, DNS_NAME_MAXLEN);
	size_t nslots = 0;
	for (size_t i = 0; i < nitems; i++) {
		size_t end = items[i].slot;
		for (size_t k = 0; k < nkeys; k++) {
			end += signer_key_signs(&keys[k], items[i].rs->type);
		}
		nslots = end > nslots ? end : nslots;
	}
	for (size_t i = 0; i < nslots; i++) {
		slots[i] = (signer_slot_t){.keep = NULL, .why = SIGNER_SLOT_NEW};
	}
	*kept_bytes = 0;
	dns_node_t *apex = dns_zone_apex(zone);
	dns_node_t *papex = dns_zone_apex(prev);
	if (papex == NULL || dns_name_compare(dns_zone_origin(prev), p.origin) != 0) {
		return TANDEM_OK; /* another zone: nothing to keep */
	}
	/* A new NSEC3 salt, iterations or a switch between NSEC and NSEC3: sign in full. Its TTL
	 * is not a parameter: it follows the SOA (RFC 9077), and a new TTL only makes the
	 * denial records' signatures new (sig_usable). */
	const dns_rrset_t *param = dns_node_rrset(apex, DNS_TYPE_NSEC3PARAM);
	const dns_rrset_t *pparam = dns_node_rrset(papex, DNS_TYPE_NSEC3PARAM);
	if ((param == NULL) != (pparam == NULL) ||
	    (param != NULL && !rdata_same(param, pparam->rdata, pparam->count))) {
		return TANDEM_OK;
	}
	int ret = pk_build(&p, apex, papex);
	if (ret != TANDEM_OK) {
		goto out;
	}
	size_t pcount = 0, p3count = 0, n3count = 0;
	dns_node_t *pnodes = dns_zone_nodes(prev, &pcount);
	dns_node_t *p3 = dns_zone_nsec3_nodes(prev, &p3count);
	const dns_node_t *n3 = dns_zone_nsec3_nodes(zone, &n3count);
	bool seen = false;
	int64_t last = 0;
	scan_inceptions(&p, pnodes, pcount, &seen, &last);
	scan_inceptions(&p, p3, p3count, &seen, &last);

	size_t count = 0;
	const dns_node_t *nodes = dns_zone_nodes(zone, &count);
	size_t pool0 = 0, cur3 = 0;
	for (size_t i = 0; i < nitems; i++) {
		const item_t *it = &items[i];
		bool in3 = it->node >= n3 && it->node < n3 + n3count;
		const dns_node_t *pn =
		    in3 ? join(p3, p3count, &cur3, it->node) : pmap[it->node - nodes];
		const dns_rrset_t *prs = pn != NULL ? dns_node_rrset(pn, it->rs->type) : NULL;
		/* Unchanged means the same records, signed before (glue that became
		 * authoritative is new to signing). */
		if (rrset_same(it->rs, prs) && prs->sig_count > 0) {
			plan_rrset(&p, it, prs, &slots[it->slot], &pool0);
		}
	}

	/* The schedule: time since the previous run's base, and each pool's share of it. */
	uint64_t base = conf->now - conf->now % conf->period;
	int64_t prev_base = (int64_t)conf->now + last + conf->inception_offset;
	uint64_t elapsed =
	    seen && (int64_t)base > prev_base ? (uint64_t)((int64_t)base - prev_base) : 0;
	uint64_t window = signer_refresh_window(conf);
	size_t quota0 = elapsed > 0 ? signer_refresh_quota(pool0, base - elapsed, base, window) : 0;
	ret = pick_pool(slots, nslots, 0, pool0, quota0, &p.kept_bytes);
	for (size_t i = 0; i < p.npk && ret == TANDEM_OK; i++) {
		pkey_t *e = &p.pk[i];
		if (e->count == 0) {
			continue;
		}
		/* Stopped at its last signing run; all of it goes by then + key_roll_time,
		 * evenly over the time left, and no slower than the schedule. */
		int64_t stopped = (int64_t)conf->now + e->last + conf->inception_offset;
		int64_t deadline = stopped + conf->key_roll_time;
		size_t quota = e->count;
		if (conf->key_roll_time > 0 && (int64_t)base < deadline) {
			uint64_t left = (uint64_t)(deadline - prev_base);
			quota = drain_quota(e->count, elapsed, left < window ? left : window);
		}
		ret = pick_pool(slots, nslots, (uint16_t)(1 + i), e->count, quota, &p.kept_bytes);
	}
	*kept_bytes = p.kept_bytes;
out:
	free(p.pk);
	free(p.key_pk);
	return ret;
}
