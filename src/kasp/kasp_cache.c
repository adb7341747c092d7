/* The RFC 7583 safety check over every DS/DNSKEY/RRSIG mix a resolver may cache. */
#include "kasp_cache.h"

#include "tandem_error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPEN UINT64_MAX /* still served */

typedef struct version {
	uint64_t from, until;
	kasp_cache_set_t set;
} version_t;

typedef struct history {
	version_t v[KASP_CACHE_VERSIONS];
	size_t n;
	uint64_t hold;
} history_t;

struct kasp_cache {
	history_t h[3];
	uint64_t last;
};

int kasp_cache_new(uint64_t hold_ds, uint64_t hold_dnskey, uint64_t hold_data, kasp_cache_t **out)
{
	if (out == NULL) {
		return TANDEM_EINVAL;
	}
	kasp_cache_t *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return TANDEM_ENOMEM;
	}
	c->h[KASP_CACHE_DS].hold = hold_ds;
	c->h[KASP_CACHE_DNSKEY].hold = hold_dnskey;
	c->h[KASP_CACHE_DATA].hold = hold_data;
	*out = c;
	return TANDEM_OK;
}

void kasp_cache_free(kasp_cache_t *cache)
{
	free(cache);
}

static bool has_key(const kasp_cache_key_t *keys, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++) {
		if (keys[i].id == id) {
			return true;
		}
	}
	return false;
}

static bool same_keys(const kasp_cache_key_t *a, size_t na, const kasp_cache_key_t *b, size_t nb)
{
	if (na != nb) {
		return false;
	}
	for (size_t i = 0; i < na; i++) {
		bool found = false;
		for (size_t j = 0; j < nb && !found; j++) {
			found = b[j].id == a[i].id && b[j].group == a[i].group;
		}
		if (!found) {
			return false;
		}
	}
	return true;
}

static bool cached(const history_t *h, const version_t *v, uint64_t now)
{
	return v->from <= now && (v->until == OPEN || now < v->until + h->hold);
}

int kasp_cache_serve(kasp_cache_t *cache, kasp_cache_kind_t kind, uint64_t now,
		     const kasp_cache_set_t *set)
{
	if (cache == NULL || set == NULL || (unsigned)kind > KASP_CACHE_DATA ||
	    set->nkeys > KASP_CACHE_KEYS || set->nsigners > KASP_CACHE_KEYS || now < cache->last) {
		return TANDEM_EINVAL;
	}
	cache->last = now;
	history_t *h = &cache->h[kind];
	if (h->n > 0) {
		version_t *cur = &h->v[h->n - 1];
		if (same_keys(cur->set.keys, cur->set.nkeys, set->keys, set->nkeys) &&
		    same_keys(cur->set.signers, cur->set.nsigners, set->signers, set->nsigners)) {
			return TANDEM_OK;
		}
		cur->until = now;
	}
	/* versions that can no longer be in any cache are forgotten */
	size_t k = 0;
	for (size_t i = 0; i < h->n; i++) {
		if (cached(h, &h->v[i], now)) {
			h->v[k++] = h->v[i];
		}
	}
	h->n = k;
	if (h->n == KASP_CACHE_VERSIONS) {
		return TANDEM_ERANGE;
	}
	h->v[h->n++] = (version_t){.from = now, .until = OPEN, .set = *set};
	return TANDEM_OK;
}

/* Prints "{id/alg, ...}" into buf. */
static const char *keys_str(const kasp_cache_key_t *keys, size_t n, char *buf, size_t size)
{
	size_t off = 0;
	off += (size_t)snprintf(buf + off, size - off, "{");
	for (size_t i = 0; i < n && off < size; i++) {
		off += (size_t)snprintf(buf + off, size - off, "%s%" PRIu32 "/%u", i ? "," : "",
					keys[i].id, keys[i].algorithm);
	}
	if (off < size) {
		snprintf(buf + off, size - off, "}");
	}
	return buf;
}

/* Does some key of algorithm alg appear in both lists? */
static bool alg_signs(const kasp_cache_key_t *signers, size_t ns, const kasp_cache_key_t *keys,
		      size_t nk, uint8_t alg)
{
	for (size_t i = 0; i < ns; i++) {
		if (signers[i].algorithm == alg && has_key(keys, nk, signers[i].id)) {
			return true;
		}
	}
	return false;
}

static bool has_alg(const kasp_cache_key_t *keys, size_t n, uint8_t alg)
{
	for (size_t i = 0; i < n; i++) {
		if (keys[i].algorithm == alg) {
			return true;
		}
	}
	return false;
}

/* Why a DS version cannot validate a DNSKEY version, or NULL. */
static const char *ds_problem(const kasp_cache_set_t *ds, const kasp_cache_set_t *dk)
{
	bool path = false;
	for (size_t i = 0; i < ds->nkeys; i++) {
		path |= has_key(dk->keys, dk->nkeys, ds->keys[i].id) &&
			has_key(dk->signers, dk->nsigners, ds->keys[i].id);
	}
	if (!path) {
		return "no DS matches a key that signed the DNSKEY RRset";
	}
	for (size_t i = 0; i < ds->nkeys; i++) {
		if (!has_alg(dk->keys, dk->nkeys, ds->keys[i].algorithm)) {
			return "an algorithm of the DS set has no DNSKEY (RFC 6840 5.11)";
		}
	}
	for (size_t i = 0; i < dk->nkeys; i++) {
		if (!alg_signs(dk->signers, dk->nsigners, dk->keys, dk->nkeys,
			       dk->keys[i].algorithm)) {
			return "an algorithm of the DNSKEY RRset does not sign it (RFC 4035 2.2)";
		}
	}
	return NULL;
}

/* Why a DNSKEY version cannot validate a data version, or NULL. */
static const char *data_problem(const kasp_cache_set_t *dk, const kasp_cache_set_t *data)
{
	/* each group of RRsets needs a signer in the DNSKEY RRset */
	for (size_t g = 0; g < data->nsigners; g++) {
		bool first = true, path = false;
		for (size_t i = 0; i < data->nsigners; i++) {
			first &= i >= g || data->signers[i].group != data->signers[g].group;
			if (data->signers[i].group == data->signers[g].group) {
				path |= has_key(dk->keys, dk->nkeys, data->signers[i].id);
			}
		}
		if (first && !path) {
			return data->signers[g].group == 0
				   ? "no key that signed the data is in the DNSKEY RRset"
				   : "no key that signed some of the data (its signatures reused) "
				     "is "
				     "in the DNSKEY RRset";
		}
	}
	if (data->nsigners == 0) {
		return "no key that signed the data is in the DNSKEY RRset";
	}
	for (size_t i = 0; i < dk->nkeys; i++) {
		if (!alg_signs(data->signers, data->nsigners, dk->keys, dk->nkeys,
			       dk->keys[i].algorithm)) {
			return "an algorithm of the DNSKEY RRset does not sign the data (RFC 4035 "
			       "2.2)";
		}
	}
	return NULL;
}

size_t kasp_cache_check(const kasp_cache_t *cache, uint64_t now, tandem_diag_t *diag)
{
	if (cache == NULL) {
		return 0;
	}
	const history_t *hds = &cache->h[KASP_CACHE_DS], *hdk = &cache->h[KASP_CACHE_DNSKEY],
			*hdata = &cache->h[KASP_CACHE_DATA];
	bool secure = false;
	for (size_t i = 0; i < hds->n; i++) {
		secure |= cached(hds, &hds->v[i], now) && hds->v[i].set.nkeys > 0;
	}
	if (!secure) {
		return 0; /* every cached DS set is empty: the zone is insecure */
	}
	size_t failures = 0;
	char a[200], b[200], c[200];
	for (size_t j = 0; j < hdk->n; j++) {
		const version_t *dk = &hdk->v[j];
		if (!cached(hdk, dk, now)) {
			continue;
		}
		for (size_t i = 0; i < hds->n; i++) {
			const version_t *ds = &hds->v[i];
			if (!cached(hds, ds, now) || ds->set.nkeys == 0) {
				continue;
			}
			const char *why = ds_problem(&ds->set, &dk->set);
			if (why != NULL) {
				failures++;
				tandem_diag_add(
				    diag, TANDEM_OK,
				    "at %" PRIu64 ": DS %s (served from %" PRIu64
				    ") and DNSKEY %s signed by %s (served from %" PRIu64 "): %s",
				    now, keys_str(ds->set.keys, ds->set.nkeys, a, sizeof(a)),
				    ds->from, keys_str(dk->set.keys, dk->set.nkeys, b, sizeof(b)),
				    keys_str(dk->set.signers, dk->set.nsigners, c, sizeof(c)),
				    dk->from, why);
			}
		}
		for (size_t i = 0; i < hdata->n; i++) {
			const version_t *d = &hdata->v[i];
			if (!cached(hdata, d, now)) {
				continue;
			}
			const char *why = data_problem(&dk->set, &d->set);
			if (why != NULL) {
				failures++;
				tandem_diag_add(
				    diag, TANDEM_OK,
				    "at %" PRIu64 ": DNSKEY %s (served from %" PRIu64
				    ") and data signed by %s (served from %" PRIu64 "): %s",
				    now, keys_str(dk->set.keys, dk->set.nkeys, a, sizeof(a)),
				    dk->from,
				    keys_str(d->set.signers, d->set.nsigners, b, sizeof(b)),
				    d->from, why);
			}
		}
	}
	return failures;
}
