/* The publish gate's driver: apex keys and trust anchor, worker threads over node slices, NSEC3
 * chain. */
#include "verify_internal.h"
#include "tandem_error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum {
	DNSKEY_FLAG_ZONE = 0x0100,
	DNSKEY_FLAG_SEP = 0x0001,
	DS_MAX = 4 + 64,
	NSEC3_OPTOUT = 0x01, /* the NSEC3 flags' opt-out bit (RFC 5155 3.1.2.1) */
};

static size_t ds_digest_len(uint8_t type)
{
	switch (type) {
	case CRYPTO_DS_SHA1: return 20;
	case CRYPTO_DS_SHA256: return 32;
	case CRYPTO_DS_SHA384: return 48;
	default: return 0;
	}
}

/* Whether the DS RDATA ds (of length len) is the DS of this DNSKEY RDATA at the apex. */
static bool ds_matches(const verify_ctx_t *ctx, const uint8_t *ds, size_t len,
		       const uint8_t *dnskey, size_t dnskey_len)
{
	uint8_t mine[DS_MAX];
	size_t mine_len = 0;
	if (len < 4 || ds_digest_len(ds[3]) != len - 4) {
		return false;
	}
	if (crypto_ds_from_dnskey(ctx->apex, ctx->apex_len, dnskey, dnskey_len, ds[3], mine,
				  &mine_len) != TANDEM_OK) {
		return false;
	}
	return mine_len == len && memcmp(mine, ds, len) == 0;
}

/*
 * A trust-anchor entry is DS RDATA either bare (as crypto_ds_from_dnskey
 * writes it; its length follows from the digest type) or with the dns
 * module's 2-byte length in front. Both readings are tried: a match needs
 * the full digest of the key, so a wrong reading can only fail to match.
 */
static bool anchor_matches(const verify_ctx_t *ctx, const uint8_t *ds, const uint8_t *dnskey,
			   size_t dnskey_len)
{
	size_t bare = 4 + ds_digest_len(ds[3]);
	if (bare > 4 && ds_matches(ctx, ds, bare, dnskey, dnskey_len)) {
		return true;
	}
	size_t framed = (size_t)(ds[0] << 8 | ds[1]);
	return framed >= 4 && framed <= DS_MAX && framed == 4 + ds_digest_len(ds[5]) &&
	       ds_matches(ctx, ds + 2, framed, dnskey, dnskey_len);
}

/* Parses the apex DNSKEY RRset into ctx->keys; reports unusable keys. */
static int keys_load(verify_ctx_t *ctx, verify_worker_t *w, const dns_node_t *apex,
		     const dns_rrset_t *dnskey)
{
	const verify_conf_t *conf = ctx->conf;
	size_t anchors = 0;

	ctx->keys = calloc(dnskey->count ? dnskey->count : 1, sizeof(*ctx->keys));
	if (ctx->keys == NULL) {
		return TANDEM_ENOMEM;
	}
	for (size_t i = 0; i < dnskey->count; i++) {
		const uint8_t *rd = dns_rdata_data(dnskey->rdata[i]);
		size_t len = dns_rdata_len(dnskey->rdata[i]);
		verify_key_t *key = &ctx->keys[ctx->key_count];
		if (len < 4) {
			verify_fail(w, apex->name, DNS_TYPE_DNSKEY, "malformed DNSKEY record");
			continue;
		}
		key->tag = crypto_key_tag(rd, len);
		key->flags = (uint16_t)(rd[0] << 8 | rd[1]);
		key->alg = rd[3];
		ctx->key_count++;
		if (!(key->flags & DNSKEY_FLAG_ZONE)) {
			continue; /* not a zone key: may not sign zone data */
		}
		int rc = crypto_pubkey_from_dnskey(rd, len, &key->pub);
		if (rc == TANDEM_CRYPTO_EALG) {
			verify_fail(w, apex->name, DNS_TYPE_DNSKEY,
				    "key %u has unsupported algorithm %u", key->tag, key->alg);
			continue;
		}
		if (rc != TANDEM_OK) {
			verify_fail(w, apex->name, DNS_TYPE_DNSKEY, "key %u is malformed (%s)",
				    key->tag, tandem_strerror(rc));
			continue;
		}
		bool known = false;
		for (size_t a = 0; a < ctx->alg_count; a++) {
			known = known || ctx->algs[a] == key->alg;
		}
		if (!known && ctx->alg_count < VERIFY_MAX_ALGS) {
			ctx->algs[ctx->alg_count++] = key->alg;
		}
		if (conf->ds_count > 0) {
			for (size_t d = 0; d < conf->ds_count && !key->anchor; d++) {
				key->anchor = conf->ds[d] != NULL &&
					      anchor_matches(ctx, conf->ds[d], rd, len);
			}
		} else {
			key->anchor = (key->flags & DNSKEY_FLAG_SEP) != 0;
		}
		anchors += key->anchor ? 1 : 0;
	}
	if (anchors == 0) {
		verify_fail(w, apex->name, DNS_TYPE_DNSKEY,
			    conf->ds_count > 0 ? "no key matches a DS of the trust anchor"
					       : "no key with the SEP flag");
	}
	return TANDEM_OK;
}

/* NSEC or NSEC3 from the apex; NSEC3PARAM gives the chain's parameters. */
static void denial_setup(verify_ctx_t *ctx, verify_worker_t *w, const dns_node_t *apex)
{
	const dns_rrset_t *param = dns_node_rrset(apex, DNS_TYPE_NSEC3PARAM);
	if (param == NULL) {
		if (dns_node_rrset(apex, DNS_TYPE_NSEC) == NULL) {
			verify_fail(w, apex->name, DNS_TYPE_NSEC,
				    "neither NSEC nor NSEC3PARAM at the apex");
		}
		if (ctx->n3_count > 0) {
			verify_fail(w, apex->name, DNS_TYPE_NSEC3PARAM,
				    "NSEC3 records without NSEC3PARAM");
		}
		return;
	}
	ctx->nsec3 = true;
	const uint8_t *rd = param->count > 0 ? dns_rdata_data(param->rdata[0]) : NULL;
	size_t len = param->count > 0 ? dns_rdata_len(param->rdata[0]) : 0;
	if (param->count != 1 || len < 5 || len != 5u + rd[4]) {
		verify_fail(w, apex->name, DNS_TYPE_NSEC3PARAM, "expected one well-formed record");
		if (len < 5 || len != 5u + rd[4]) {
			return;
		}
	}
	if (rd[0] != 1 || rd[1] != 0) {
		verify_fail(w, apex->name, DNS_TYPE_NSEC3PARAM,
			    "hash algorithm %u, flags %u (expected 1 and 0)", rd[0], rd[1]);
	}
	ctx->iterations = (uint16_t)(rd[2] << 8 | rd[3]);
	ctx->salt_len = rd[4];
	ctx->salt = rd + 5;
}

/* Signatures of one node's RRsets, and of nothing that must stay unsigned. prev: the node's
 * counterpart in the previous version (incremental gate), or NULL. */
static void node_sigs_check(verify_worker_t *w, const dns_node_t *node, bool skip_dnskey,
			    const dns_node_t *prev)
{
	for (size_t r = 0; r < node->rrset_count; r++) {
		const dns_rrset_t *rs = &node->rrsets[r];
		if (skip_dnskey && rs->type == DNS_TYPE_DNSKEY) {
			continue;
		}
		if (verify_rrset_signed(node, rs)) {
			const dns_rrset_t *prs =
			    prev != NULL ? dns_node_rrset(prev, rs->type) : NULL;
			if (prs != NULL && !verify_rrset_same(rs, prs)) {
				prs = NULL;
			}
			verify_rrset_sigs_reuse(w, node, rs, prs);
		} else if (rs->sig_count > 0) {
			verify_fail(w, node->name, rs->type, "RRSIG on %s",
				    (node->flags & DNS_NODE_DELEG)      ? "delegation data"
				    : (node->flags & DNS_NODE_OCCLUDED) ? "occluded data"
									: "glue");
		}
	}
}

/* Cost of checking one node: signatures dominate, so count them. */
static size_t node_cost(const dns_node_t *node)
{
	size_t cost = 1;
	for (size_t r = 0; r < node->rrset_count; r++) {
		cost += node->rrsets[r].sig_count;
	}
	return cost;
}

/* Whether the worker passes over node k (nodes, then NSEC3 nodes) without a look: it is the
 * same as previous's, and so are the RRSIGs of all such nodes (incremental_setup). */
static bool node_skipped(const verify_ctx_t *ctx, size_t k)
{
	return ctx->skip_same && ctx->same[k] &&
	       (k >= ctx->node_count || &ctx->nodes[k] != ctx->apex_node);
}

/* The cost of work item k: a skipped node costs next to nothing. */
static size_t item_cost(const verify_ctx_t *ctx, size_t k)
{
	if (node_skipped(ctx, k)) {
		return 0;
	}
	return node_cost(k < ctx->node_count ? &ctx->nodes[k] : &ctx->n3nodes[k - ctx->node_count]);
}

/* Splits nodes and NSEC3 nodes into nthreads contiguous slices of about equal cost. */
static void slices_plan(const verify_ctx_t *ctx, verify_worker_t *workers, size_t nthreads)
{
	size_t total_work = ctx->node_count + ctx->n3_count;
	size_t total_cost = 0;
	for (size_t k = 0; k < total_work; k++) {
		total_cost += item_cost(ctx, k);
	}
	size_t k = 0, cost = 0;
	for (size_t t = 0; t < nthreads; t++) {
		workers[t].ctx = ctx;
		workers[t].begin = k;
		size_t target = total_cost * (t + 1) / nthreads;
		while (k < total_work && (cost < target || t + 1 == nthreads)) {
			cost += item_cost(ctx, k);
			k++;
		}
		workers[t].end = k;
	}
}

static void *worker_run(void *arg)
{
	verify_worker_t *w = arg;
	const verify_ctx_t *ctx = w->ctx;

	for (size_t k = w->begin; k < w->end && w->rc == TANDEM_OK; k++) {
		const dns_node_t *prev = ctx->incremental ? ctx->prev_of[k] : NULL;
		bool skipped = ctx->incremental && node_skipped(ctx, k);
		if (k >= ctx->node_count) {
			if (!skipped) {
				node_sigs_check(w, &ctx->n3nodes[k - ctx->node_count], false, prev);
			}
			continue;
		}
		const dns_node_t *node = &ctx->nodes[k];
		/* two names of previous's, paired in order by the walk, are in order */
		bool paired = prev != NULL && k > 0 && ctx->prev_of[k - 1] != NULL;
		if (k > 0 && !paired && verify_name_cmp(ctx->nodes[k - 1].name, node->name) >= 0) {
			verify_fail(w, node->name, DNS_TYPE_NSEC, "name out of canonical order");
		}
		bool apex = node == ctx->apex_node;
		/* the apex is always checked in full */
		if (!skipped) {
			node_sigs_check(w, node, apex, apex ? NULL : prev);
		}
		if (ctx->nsec3) {
			if (!ctx->incremental || ctx->changed[k]) {
				verify_node_nsec3_names(w, k);
			}
		} else {
			verify_node_nsec(w, k);
		}
	}
	return NULL;
}

static void worker_deinit(verify_worker_t *w)
{
	free(w->buf);
	free(w->sorted);
	free(w->hashes);
}

static void stats_add(verify_stats_t *sum, const verify_stats_t *s)
{
	sum->rrsets += s->rrsets;
	sum->signatures += s->signatures;
	sum->denial_records += s->denial_records;
	sum->failures += s->failures;
	sum->verified += s->verified;
}

/* Whether a name has the same types and kind (delegation, glue, ENT...) in both versions. */
static bool node_same_shape(const dns_node_t *a, const dns_node_t *b)
{
	const uint16_t mask =
	    DNS_NODE_APEX | DNS_NODE_DELEG | DNS_NODE_BELOW_CUT | DNS_NODE_ENT | DNS_NODE_OCCLUDED;
	if ((a->flags & mask) != (b->flags & mask) || a->rrset_count != b->rrset_count) {
		return false;
	}
	for (size_t r = 0; r < a->rrset_count; r++) {
		if (a->rrsets[r].type != b->rrsets[r].type) {
			return false;
		}
	}
	return true;
}

/* Marks the ancestors of name (strictly between it and the apex) that this version has as
 * changed: the NSEC3 records an ENT needs follow the names below it. */
static void ancestors_mark(verify_ctx_t *ctx, const uint8_t *name)
{
	unsigned extra = verify_name_labels(name) - verify_name_labels(ctx->apex);
	const uint8_t *p = name;
	for (unsigned k = 1; k < extra; k++) {
		p += 1 + *p;
		size_t lo = 0, hi = ctx->node_count;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = verify_name_cmp(ctx->nodes[mid].name, p);
			if (c == 0) {
				ctx->changed[mid] = true;
				break;
			}
			if (c < 0) {
				lo = mid + 1;
			} else {
				hi = mid;
			}
		}
	}
}

/* Both RRsets absent, or both present and the same (NSEC3PARAM, DNSKEY); with any_nsec,
 * both NSEC RRsets present or absent (the kind of denial). */
static bool apex_rrset_same(const dns_node_t *a, const dns_node_t *b, uint16_t type)
{
	const dns_rrset_t *x = dns_node_rrset(a, type), *y = dns_node_rrset(b, type);
	if (type == DNS_TYPE_NSEC) {
		return (x == NULL) == (y == NULL);
	}
	return (x == NULL && y == NULL) || (x != NULL && y != NULL && verify_rrset_same(x, y));
}

/* Whether the RRSIGs of the nodes that are the same as previous's need no look at all: each
 * passed the previous gate on the identical RRset, by a key of the identical DNSKEY RRset, so
 * only what changes with time and keys is left, checked here once for all of them. */
static bool time_before32(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0; /* RFC 4034 3.1.5: serial number arithmetic */
}

static bool same_sigs_ok(const verify_ctx_t *ctx, const dns_pair_sigs_t *s)
{
	if (s->malformed || s->keys_overflow) {
		return false;
	}
	if (s->sigs > 0 && (time_before32(ctx->now32, s->incept_max) ||
			    time_before32(s->expire_min, ctx->now32))) {
		return false;
	}
	if (ctx->conf->allow_foreign_rrsigs) {
		return true;
	}
	for (size_t k = 0; k < s->key_count; k++) {
		bool usable = false;
		for (size_t i = 0; i < ctx->key_count && !usable; i++) {
			const verify_key_t *key = &ctx->keys[i];
			usable = key->pub != NULL && key->alg == (uint8_t)(s->keys[k] >> 16) &&
				 key->tag == (uint16_t)s->keys[k];
		}
		if (!usable) {
			return false;
		}
	}
	return true;
}

/* The signed RRsets and RRSIGs of a node (those the pairing counted). */
static void node_sig_counts(const dns_node_t *n, size_t *rrsets, size_t *sigs)
{
	for (size_t r = 0; r < n->rrset_count; r++) {
		*rrsets += n->rrsets[r].sig_count > 0 ? 1 : 0;
		*sigs += n->rrsets[r].sig_count;
	}
}

/*
 * An incremental gate against conf->previous, when it is one: pairs every node and NSEC3
 * node with its counterpart there (conf->pairing, or made here), marks changed names, and
 * hashes (into rem) the names that are gone or changed. Leaves ctx->incremental false (a
 * whole-zone check) when the previous version has another apex, DNSKEY RRset, NSEC3PARAM
 * or kind of denial, or when an unchanged name may have lost the opt-out its missing
 * record relies on: the previous version has opt-out records (so names without a record
 * may exist, and they are not hashed here) and this one has a record without it (whose
 * span may now hold one). Only the nodes that are not the same are looked at here.
 */
static int incremental_setup(verify_ctx_t *ctx, dns_zone_t *zone, verify_worker_t *rem,
			     dns_zone_pairing_t **own, verify_stats_t *stats)
{
	dns_zone_t *prev = (dns_zone_t *)ctx->conf->previous; /* read only */
	if (prev == NULL) {
		return TANDEM_OK;
	}
	const dns_node_t *papex = dns_zone_apex(prev);
	const uint8_t *porigin = dns_zone_origin(prev);
	if (papex == NULL || porigin == NULL || verify_name_cmp(porigin, ctx->apex) != 0 ||
	    !apex_rrset_same(papex, ctx->apex_node, DNS_TYPE_DNSKEY) ||
	    !apex_rrset_same(papex, ctx->apex_node, DNS_TYPE_NSEC3PARAM) ||
	    !apex_rrset_same(papex, ctx->apex_node, DNS_TYPE_NSEC)) {
		return TANDEM_OK;
	}
	size_t pn3_count = 0;
	dns_node_t *pn3nodes = dns_zone_nsec3_nodes(prev, &pn3_count);
	const dns_zone_pairing_t *pairing = ctx->conf->pairing;
	if (!dns_zone_pairing_of(pairing, prev, zone)) {
		int rc = dns_zone_pair(prev, zone, ctx->conf->threads, own);
		if (rc != TANDEM_OK) {
			return rc;
		}
		pairing = *own;
	}
	const dns_pair_sigs_t *ps = dns_zone_pairing_sigs(pairing);
	if (ctx->nsec3 && (ps->nsec3_flags_or[0] & NSEC3_OPTOUT) &&
	    !(ps->nsec3_flags_and[1] & NSEC3_OPTOUT)) {
		return TANDEM_OK;
	}
	ctx->prev_of = dns_zone_pairing_prev(pairing);
	ctx->same = dns_zone_pairing_same(pairing);
	ctx->pnodes = dns_zone_nodes(prev, &ctx->pcount);
	ctx->pn3nodes = pn3nodes;
	ctx->pn3_count = pn3_count;
	ctx->changed = calloc(ctx->node_count ? ctx->node_count : 1, sizeof(*ctx->changed));
	if (ctx->changed == NULL) {
		return TANDEM_ENOMEM;
	}
	for (size_t i = 0; i < ctx->node_count; i++) {
		if (ctx->same[i]) {
			continue;
		}
		const dns_node_t *p = ctx->prev_of[i];
		const uint8_t *gone = NULL;  /* a name whose record may be gone */
		const uint8_t *moved = NULL; /* a name added or changed */
		if (p == NULL) {
			moved = ctx->nodes[i].name;
		} else if (!node_same_shape(&ctx->nodes[i], p)) {
			gone = moved = p->name; /* it may own no NSEC3 record now */
		} else {
			continue;
		}
		ctx->changed[i] = true;
		stats->changed++;
		if (gone != NULL && ctx->nsec3 && !verify_hash_removed(rem, gone)) {
			return rem->rc;
		}
		if (ctx->nsec3) {
			/* what an ancestor needs may change with it (ENTs, opt-out) */
			ancestors_mark(ctx, moved);
		}
	}
	size_t ngone = 0;
	const dns_node_t *const *gone = dns_zone_pairing_gone(pairing, false, &ngone);
	for (size_t g = 0; g < ngone; g++) {
		stats->changed++;
		if (ctx->nsec3 && !verify_hash_removed(rem, gone[g]->name)) {
			return rem->rc;
		}
		if (ctx->nsec3) {
			ancestors_mark(ctx, gone[g]->name);
		}
	}
	/* the apex's denial is always checked */
	ctx->changed[ctx->apex_node - ctx->nodes] = true;
	if (ctx->nsec3) {
		/* a record gone: it must be a name's that is gone or changed */
		const dns_node_t *const *g3 = dns_zone_pairing_gone(pairing, true, &ngone);
		ctx->gone3 = malloc((ngone ? ngone : 1) * sizeof(*ctx->gone3));
		if (ctx->gone3 == NULL) {
			return TANDEM_ENOMEM;
		}
		memcpy(ctx->gone3, g3, ngone * sizeof(*g3));
		ctx->gone3_count = ngone;
		ctx->gone3_cap = ngone;
	}
	ctx->skip_same = same_sigs_ok(ctx, ps);
	if (ctx->skip_same) {
		/* counted as if looked at (the apex, always checked, counts itself) */
		size_t rrsets = ps->rrsets, sigs = ps->sigs;
		size_t ar = 0, as = 0;
		if (ctx->same[ctx->apex_node - ctx->nodes]) {
			node_sig_counts(ctx->apex_node, &ar, &as);
		}
		stats->rrsets += rrsets - ar;
		stats->signatures += sigs - as;
	}
	ctx->incremental = true;
	return TANDEM_OK;
}

int verify_zone(dns_zone_t *zone, const verify_conf_t *conf, tandem_diag_t *diag,
		verify_stats_t *stats)
{
	int rc = TANDEM_OK;
	verify_ctx_t ctx = {0};
	verify_worker_t *workers = NULL;
	pthread_t *tids = NULL;
	bool *started = NULL;
	verify_hash_t *hashes = NULL;
	verify_worker_t main_w = {0};
	verify_worker_t rem_w = {0}; /* incremental: hashes of names gone or changed */
	verify_stats_t total = {0};
	dns_zone_pairing_t *own_pairing = NULL; /* incremental, when conf has none of these zones */
	size_t nthreads = 0;
	size_t total_work = 0;
	size_t hash_count = 0;

	if (zone == NULL || conf == NULL || (conf->ds_count > 0 && conf->ds == NULL)) {
		return TANDEM_EINVAL;
	}
	ctx.conf = conf;
	ctx.diag = diag;
	ctx.now32 = (uint32_t)conf->now;
	ctx.apex = dns_zone_origin(zone);
	if (ctx.apex == NULL) {
		return TANDEM_EINVAL;
	}
	ctx.apex_len = verify_name_len(ctx.apex, DNS_NAME_MAXLEN);
	ctx.nodes = dns_zone_nodes(zone, &ctx.node_count);
	ctx.n3nodes = dns_zone_nsec3_nodes(zone, &ctx.n3_count);
	main_w.ctx = &ctx;
	rem_w.ctx = &ctx;

	const dns_node_t *apex = dns_zone_apex(zone);
	const dns_rrset_t *dnskey = apex ? dns_node_rrset(apex, DNS_TYPE_DNSKEY) : NULL;
	if (apex == NULL || dnskey == NULL) {
		verify_fail(&main_w, ctx.apex, DNS_TYPE_DNSKEY, "no DNSKEY RRset at the apex");
		goto out;
	}
	ctx.apex_node = apex;
	rc = keys_load(&ctx, &main_w, apex, dnskey);
	if (rc != TANDEM_OK) {
		goto out;
	}
	denial_setup(&ctx, &main_w, apex);
	rc = incremental_setup(&ctx, zone, &rem_w, &own_pairing, &total);
	if (rc != TANDEM_OK) {
		goto out;
	}
	total.incremental = ctx.incremental;

	/* the DNSKEY RRset first: it decides whether the keys are trusted at all */
	if (!verify_rrset_sigs(&main_w, apex, dnskey)) {
		verify_fail(&main_w, apex->name, DNS_TYPE_DNSKEY,
			    conf->ds_count > 0 ? "not signed by a key matching the trust anchor"
					       : "not signed by a key with the SEP flag");
	}

	total_work = ctx.node_count + ctx.n3_count;
	nthreads = conf->threads ? conf->threads : 1;
	if (nthreads > total_work) {
		nthreads = total_work ? total_work : 1;
	}
	workers = calloc(nthreads, sizeof(*workers));
	tids = calloc(nthreads, sizeof(*tids));
	started = calloc(nthreads, sizeof(*started));
	if (workers == NULL || tids == NULL || started == NULL) {
		nthreads = 0;
		rc = TANDEM_ENOMEM;
		goto out;
	}
	slices_plan(&ctx, workers, nthreads);
	/* thread 0's share runs here; a thread that cannot start runs here too */
	for (size_t t = 1; t < nthreads; t++) {
		started[t] = pthread_create(&tids[t], NULL, worker_run, &workers[t]) == 0;
	}
	worker_run(&workers[0]);
	for (size_t t = 1; t < nthreads; t++) {
		if (started[t]) {
			pthread_join(tids[t], NULL);
		} else {
			worker_run(&workers[t]);
		}
	}

	for (size_t t = 0; t < nthreads; t++) {
		if (workers[t].rc != TANDEM_OK) {
			rc = workers[t].rc;
			goto out;
		}
		hash_count += workers[t].hash_count;
	}
	if (ctx.nsec3) {
		hashes = malloc((hash_count ? hash_count : 1) * sizeof(*hashes));
		if (hashes == NULL) {
			rc = TANDEM_ENOMEM;
			goto out;
		}
		size_t at = 0;
		for (size_t t = 0; t < nthreads; t++) {
			if (workers[t].hash_count > 0) {
				memcpy(hashes + at, workers[t].hashes,
				       workers[t].hash_count * sizeof(*hashes));
			}
			at += workers[t].hash_count;
		}
		verify_nsec3_chain(&main_w, hashes, hash_count, rem_w.hashes, rem_w.hash_count);
		rc = main_w.rc;
	}
	if (rc == TANDEM_OK) {
		rc = verify_zonemd(&main_w);
	}
out:
	stats_add(&total, &main_w.stats);
	for (size_t t = 0; t < nthreads; t++) {
		stats_add(&total, &workers[t].stats);
		worker_deinit(&workers[t]);
	}
	worker_deinit(&main_w);
	worker_deinit(&rem_w);
	dns_zone_pairing_free(own_pairing);
	free(ctx.changed);
	free(ctx.gone3);
	for (size_t k = 0; k < ctx.key_count; k++) {
		crypto_pubkey_free(ctx.keys[k].pub);
	}
	free(ctx.keys);
	free(hashes);
	free(started);
	free(tids);
	free(workers);
	if (rc == TANDEM_OK && total.failures > 0) {
		rc = TANDEM_VERIFY_EFAIL;
	}
	if (stats != NULL) {
		*stats = total;
	}
	return rc;
}
