/* Two versions of a zone side by side: one walk, split over threads, shared by gate and digest. */
#include "dns_pair.h"
#include "dns_internal.h"
#include "tandem_error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct dns_zone_pairing {
	const dns_zone_t *from, *to;
	size_t node_count, n3_count;           /* to's */
	size_t from_node_count, from_n3_count; /* from's, when paired */
	const dns_node_t **prev;               /* node_count + n3_count */
	uint8_t *same;
	const dns_node_t **gone[2]; /* [0] nodes, [1] NSEC3 nodes */
	size_t gone_count[2];
	size_t changed;
	dns_pair_sigs_t sigs;
};

/* One thread's share: to[tb, te) against from[fb, fe) of one array. */
typedef struct pair_slice {
	const dns_node_t *to, *from;
	size_t tb, te, fb, fe;
	const dns_node_t **prev; /* indexed as to */
	uint8_t *same;
	const dns_node_t **gone;
	size_t gone_count, gone_cap;
	size_t changed;
	bool nsec3; /* the NSEC3 arrays: their flags go into sigs */
	dns_pair_sigs_t sigs;
	int rc;
} pair_slice_t;

/* Name order, byte equality first: the usual case between two versions. */
static int node_cmp(const dns_node_t *a, const dns_node_t *b)
{
	if (a->name == b->name ||
	    (a->name_len == b->name_len && memcmp(a->name, b->name, a->name_len) == 0)) {
		return 0;
	}
	return dns_name_compare(a->name, b->name);
}

static bool rdatas_same(const uint8_t *const *a, const uint8_t *const *b, uint16_t n)
{
	if (a == b) {
		return true;
	}
	for (uint16_t i = 0; i < n; i++) {
		if (a[i] == b[i]) {
			continue;
		}
		uint16_t len = dns_rdata_len(a[i]);
		if (len != dns_rdata_len(b[i]) || memcmp(a[i], b[i], (size_t)len + 2) != 0) {
			return false;
		}
	}
	return true;
}

static bool node_same(const dns_node_t *a, const dns_node_t *b)
{
	if (a->flags != b->flags || a->rrset_count != b->rrset_count) {
		return false;
	}
	if (a->rrsets == b->rrsets) {
		return true;
	}
	for (uint16_t r = 0; r < a->rrset_count; r++) {
		const dns_rrset_t *x = &a->rrsets[r], *y = &b->rrsets[r];
		if (x->type != y->type || x->count != y->count || x->sig_count != y->sig_count ||
		    x->flags != y->flags || x->ttl != y->ttl ||
		    !rdatas_same(x->rdata, y->rdata, x->count) ||
		    !rdatas_same(x->sigs, y->sigs, x->sig_count)) {
			return false;
		}
	}
	return true;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Adds the RRSIGs of a node that is the same to the summary. */
static void sigs_note(dns_pair_sigs_t *s, const dns_node_t *n)
{
	for (uint16_t r = 0; r < n->rrset_count; r++) {
		const dns_rrset_t *rs = &n->rrsets[r];
		s->rrsets += rs->sig_count > 0 ? 1 : 0;
		s->sigs += rs->sig_count;
		for (uint16_t i = 0; i < rs->sig_count; i++) {
			const uint8_t *d = dns_rdata_data(rs->sigs[i]);
			if (dns_rdata_len(rs->sigs[i]) < 18) {
				s->malformed = true;
				continue;
			}
			uint32_t exp = get32(d + 8), inc = get32(d + 12);
			s->expire_min = exp < s->expire_min ? exp : s->expire_min;
			s->incept_max = inc > s->incept_max ? inc : s->incept_max;
			uint32_t key = (uint32_t)d[2] << 16 | (uint32_t)d[16] << 8 | d[17];
			size_t k = 0;
			while (k < s->key_count && s->keys[k] != key) {
				k++;
			}
			if (k < s->key_count) {
				continue;
			}
			if (s->key_count < DNS_PAIR_KEYS_MAX) {
				s->keys[s->key_count++] = key;
			} else {
				s->keys_overflow = true;
			}
		}
	}
}

static void sigs_init(dns_pair_sigs_t *s)
{
	memset(s, 0, sizeof(*s));
	s->expire_min = UINT32_MAX;
	s->nsec3_flags_and[0] = s->nsec3_flags_and[1] = 0xff;
}

/* The NSEC3 records' flags of a node of `from` (side 0) or `to` (side 1). */
static void flags_note(dns_pair_sigs_t *s, int side, const dns_node_t *n)
{
	const dns_rrset_t *rs = dns_node_rrset(n, DNS_TYPE_NSEC3);
	for (uint16_t i = 0; rs != NULL && i < rs->count; i++) {
		uint8_t f = dns_rdata_len(rs->rdata[i]) >= 2 ? dns_rdata_data(rs->rdata[i])[1] : 0;
		s->nsec3_flags_or[side] |= f;
		s->nsec3_flags_and[side] &= f;
	}
}

static void sigs_merge(dns_pair_sigs_t *sum, const dns_pair_sigs_t *s)
{
	sum->rrsets += s->rrsets;
	sum->sigs += s->sigs;
	sum->expire_min = s->expire_min < sum->expire_min ? s->expire_min : sum->expire_min;
	sum->incept_max = s->incept_max > sum->incept_max ? s->incept_max : sum->incept_max;
	sum->malformed |= s->malformed;
	for (int k = 0; k < 2; k++) {
		sum->nsec3_flags_or[k] |= s->nsec3_flags_or[k];
		sum->nsec3_flags_and[k] &= s->nsec3_flags_and[k];
	}
	sum->keys_overflow |= s->keys_overflow;
	for (size_t k = 0; k < s->key_count; k++) {
		size_t j = 0;
		while (j < sum->key_count && sum->keys[j] != s->keys[k]) {
			j++;
		}
		if (j < sum->key_count) {
			continue;
		}
		if (sum->key_count < DNS_PAIR_KEYS_MAX) {
			sum->keys[sum->key_count++] = s->keys[k];
		} else {
			sum->keys_overflow = true;
		}
	}
}

static bool gone_push(pair_slice_t *s, const dns_node_t *n)
{
	if (s->gone_count == s->gone_cap) {
		size_t cap = s->gone_cap ? 2 * s->gone_cap : 64;
		const dns_node_t **g = realloc(s->gone, cap * sizeof(*g));
		if (g == NULL) {
			s->rc = TANDEM_ENOMEM;
			return false;
		}
		s->gone = g;
		s->gone_cap = cap;
	}
	s->gone[s->gone_count++] = n;
	return true;
}

static void *slice_run(void *arg)
{
	pair_slice_t *s = arg;
	size_t i = s->tb, j = s->fb;
	while (i < s->te || j < s->fe) {
		int c = i == s->te ? 1 : j == s->fe ? -1 : node_cmp(&s->to[i], &s->from[j]);
		if (c < 0) {
			s->prev[i] = NULL;
			s->same[i] = 0;
			s->changed++;
			if (s->nsec3) {
				flags_note(&s->sigs, 1, &s->to[i]);
			}
			i++;
		} else if (c > 0) {
			s->changed++;
			if (s->nsec3) {
				flags_note(&s->sigs, 0, &s->from[j]);
			}
			if (!gone_push(s, &s->from[j++])) {
				return NULL;
			}
		} else {
			s->prev[i] = &s->from[j];
			s->same[i] = node_same(&s->to[i], &s->from[j]) ? 1 : 0;
			if (s->same[i]) {
				sigs_note(&s->sigs, &s->to[i]);
			} else {
				s->changed++;
			}
			if (s->nsec3) {
				flags_note(&s->sigs, 1, &s->to[i]);
				flags_note(&s->sigs, 0, s->same[i] ? &s->to[i] : &s->from[j]);
			}
			i++;
			j++;
		}
	}
	return NULL;
}

/* The first node of from[0, n) not before `node` in canonical order. */
static size_t lower_bound(const dns_node_t *from, size_t n, const dns_node_t *node)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (node_cmp(&from[mid], node) < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo;
}

/* Pairs one array (to: tn nodes from `off` in the pairing's indexes; from: fn nodes). */
static int pair_array(dns_zone_pairing_t *p, size_t which, const dns_node_t *to, size_t tn,
		      size_t off, const dns_node_t *from, size_t fn, unsigned threads)
{
	size_t nt = threads ? threads : 1;
	if (nt > 16) {
		nt = 16;
	}
	if (tn < 4096 * nt) {
		nt = 1; /* a thread costs more than a small walk */
	}
	pair_slice_t slices[16];
	pthread_t tids[16];
	bool started[16] = {false};
	memset(slices, 0, sizeof(slices));
	for (size_t t = 0; t < nt; t++) {
		pair_slice_t *s = &slices[t];
		s->to = to;
		s->from = from;
		s->prev = p->prev + off;
		s->same = p->same + off;
		s->nsec3 = which == 1;
		s->tb = tn * t / nt;
		s->te = tn * (t + 1) / nt;
		sigs_init(&s->sigs);
	}
	for (size_t t = 0; t < nt; t++) {
		slices[t].fb = t == 0 ? 0 : lower_bound(from, fn, &to[slices[t].tb]);
		if (t > 0 && slices[t].fb < slices[t - 1].fb) {
			slices[t].fb = slices[t - 1].fb; /* `to` out of order: still each once */
		}
	}
	for (size_t t = 0; t < nt; t++) {
		slices[t].fe = t + 1 == nt ? fn : slices[t + 1].fb;
	}
	for (size_t t = 1; t < nt; t++) {
		started[t] = pthread_create(&tids[t], NULL, slice_run, &slices[t]) == 0;
	}
	slice_run(&slices[0]);
	for (size_t t = 1; t < nt; t++) {
		if (started[t]) {
			pthread_join(tids[t], NULL);
		} else {
			slice_run(&slices[t]);
		}
	}
	int rc = TANDEM_OK;
	size_t gone = 0;
	for (size_t t = 0; t < nt; t++) {
		rc = slices[t].rc != TANDEM_OK ? slices[t].rc : rc;
		gone += slices[t].gone_count;
	}
	if (rc == TANDEM_OK) {
		p->gone[which] = malloc((gone ? gone : 1) * sizeof(*p->gone[which]));
		rc = p->gone[which] == NULL ? TANDEM_ENOMEM : TANDEM_OK;
	}
	for (size_t t = 0; t < nt; t++) {
		if (rc == TANDEM_OK && slices[t].gone_count > 0) {
			memcpy(p->gone[which] + p->gone_count[which], slices[t].gone,
			       slices[t].gone_count * sizeof(*slices[t].gone));
			p->gone_count[which] += slices[t].gone_count;
		}
		p->changed += slices[t].changed;
		sigs_merge(&p->sigs, &slices[t].sigs);
		free(slices[t].gone);
	}
	return rc;
}

int dns_zone_pair(dns_zone_t *from, dns_zone_t *to, unsigned threads, dns_zone_pairing_t **out)
{
	if (from == NULL || to == NULL || out == NULL || from->origin_len != to->origin_len ||
	    memcmp(from->origin, to->origin, from->origin_len) != 0) {
		return TANDEM_EINVAL;
	}
	dns_zone_pairing_t *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		return TANDEM_ENOMEM;
	}
	p->from = from;
	p->to = to;
	p->node_count = to->node_count;
	p->n3_count = to->nsec3_count;
	p->from_node_count = from->node_count;
	p->from_n3_count = from->nsec3_count;
	sigs_init(&p->sigs);
	size_t total = p->node_count + p->n3_count;
	p->prev = malloc((total ? total : 1) * sizeof(*p->prev));
	p->same = malloc(total ? total : 1);
	int rc = p->prev == NULL || p->same == NULL ? TANDEM_ENOMEM : TANDEM_OK;
	if (rc == TANDEM_OK) {
		rc = pair_array(p, 0, to->nodes, to->node_count, 0, from->nodes, from->node_count,
				threads);
	}
	if (rc == TANDEM_OK) {
		rc = pair_array(p, 1, to->nsec3, to->nsec3_count, to->node_count, from->nsec3,
				from->nsec3_count, threads);
	}
	if (rc != TANDEM_OK) {
		dns_zone_pairing_free(p);
		return rc;
	}
	*out = p;
	return TANDEM_OK;
}

void dns_zone_pairing_free(dns_zone_pairing_t *p)
{
	if (p == NULL) {
		return;
	}
	free(p->prev);
	free(p->same);
	free(p->gone[0]);
	free(p->gone[1]);
	free(p);
}

bool dns_zone_pairing_of(const dns_zone_pairing_t *p, dns_zone_t *from, dns_zone_t *to)
{
	return p != NULL && from != NULL && to != NULL && p->from == from && p->to == to &&
	       p->node_count == to->node_count && p->n3_count == to->nsec3_count &&
	       p->from_node_count == from->node_count && p->from_n3_count == from->nsec3_count;
}

const dns_node_t *const *dns_zone_pairing_prev(const dns_zone_pairing_t *p)
{
	return p != NULL ? p->prev : NULL;
}

const uint8_t *dns_zone_pairing_same(const dns_zone_pairing_t *p)
{
	return p != NULL ? p->same : NULL;
}

const dns_node_t *const *dns_zone_pairing_gone(const dns_zone_pairing_t *p, bool nsec3,
					       size_t *count)
{
	size_t k = nsec3 ? 1 : 0;
	if (count != NULL) {
		*count = p != NULL ? p->gone_count[k] : 0;
	}
	return p != NULL ? p->gone[k] : NULL;
}

size_t dns_zone_pairing_changed(const dns_zone_pairing_t *p)
{
	return p != NULL ? p->changed : 0;
}

const dns_pair_sigs_t *dns_zone_pairing_sigs(const dns_zone_pairing_t *p)
{
	return p != NULL ? &p->sigs : NULL;
}
