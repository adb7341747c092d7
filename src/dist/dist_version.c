/* Published versions: a signed zone and the changesets IXFR answers from, counted by reference. */
#include <stdlib.h>
#include <string.h>

#include "dist_internal.h"
#include "journal.h"
#include "tandem_error.h"

static uint64_t dist_count_nodes(dns_node_t *nodes, size_t n)
{
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < nodes[i].rrset_count; j++) {
			total += nodes[i].rrsets[j].count + (uint64_t)nodes[i].rrsets[j].sig_count;
		}
	}
	return total;
}

int dist_version_new_take(dns_zone_t *zone, dist_version_t **out)
{
	int ret = TANDEM_EINVAL;
	dist_version_t *v = NULL;
	uint32_t serial = 0;
	if (zone == NULL || out == NULL) {
		goto out;
	}
	ret = dns_zone_soa_serial(zone, &serial);
	if (ret != TANDEM_OK) {
		goto out;
	}
	v = calloc(1, sizeof(*v));
	if (v == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	atomic_init(&v->refs, 1);
	v->zone = zone;
	zone = NULL;
	v->serial = serial;
	size_t n = 0, n3 = 0;
	dns_node_t *nodes = dns_zone_nodes(v->zone, &n);
	dns_node_t *nodes3 = dns_zone_nsec3_nodes(v->zone, &n3);
	v->records = dist_count_nodes(nodes, n) + dist_count_nodes(nodes3, n3);
	*out = v;
	ret = TANDEM_OK;
out:
	dns_zone_free(zone);
	return ret;
}

dist_version_t *dist_version_ref(dist_version_t *v)
{
	if (v != NULL) {
		atomic_fetch_add(&v->refs, 1);
	}
	return v;
}

static void dist_cs_unref(dist_cs_t *c)
{
	if (c != NULL && atomic_fetch_sub(&c->refs, 1) == 1) {
		dns_changeset_free(c->cs);
		free(c);
	}
}

void dist_version_unref(dist_version_t *v)
{
	if (v == NULL || atomic_fetch_sub(&v->refs, 1) != 1) {
		return;
	}
	for (size_t i = 0; i < v->ncs; i++) {
		dist_cs_unref(v->cs[i]);
	}
	free(v->cs);
	dns_zone_free(v->zone);
	free(v);
}

dns_zone_t *dist_version_zone(const dist_version_t *v)
{
	return v != NULL ? v->zone : NULL;
}

uint32_t dist_version_serial(const dist_version_t *v)
{
	return v != NULL ? v->serial : 0;
}

uint64_t dist_version_records(const dist_version_t *v)
{
	return v != NULL ? v->records : 0;
}

size_t dist_version_changesets(const dist_version_t *v, uint32_t *oldest)
{
	if (v == NULL || v->ncs == 0) {
		return 0;
	}
	if (oldest != NULL) {
		*oldest = dns_changeset_serial(v->cs[0]->cs, false);
	}
	return v->ncs;
}

/* Room for n more changeset pointers at the end. */
static int dist_version_reserve(dist_version_t *v, size_t n)
{
	if (v->ncs + n <= v->cap) {
		return TANDEM_OK;
	}
	size_t cap = v->cap > 0 ? v->cap : 8;
	while (cap < v->ncs + n) {
		cap *= 2;
	}
	dist_cs_t **p = realloc(v->cs, cap * sizeof(*p));
	if (p == NULL) {
		return TANDEM_ENOMEM;
	}
	v->cs = p;
	v->cap = cap;
	return TANDEM_OK;
}

int dist_version_add_take(dist_version_t *v, dns_changeset_t *cs)
{
	int ret = TANDEM_EINVAL;
	dist_cs_t *c = NULL;
	if (v == NULL || cs == NULL || dns_changeset_soa(cs, false) == NULL ||
	    dns_changeset_soa(cs, true) == NULL) {
		goto out;
	}
	ret = TANDEM_EPERM;
	if (v->frozen) {
		goto out;
	}
	ret = TANDEM_JOURNAL_ESEQ;
	if (v->ncs > 0 &&
	    dns_changeset_serial(v->cs[v->ncs - 1]->cs, true) != dns_changeset_serial(cs, false)) {
		goto out;
	}
	ret = dist_version_reserve(v, 1);
	if (ret != TANDEM_OK) {
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	atomic_init(&c->refs, 1);
	c->bytes = journal_entry_bytes(cs);
	c->records = dns_changeset_size(cs) + 2;
	c->cs = cs;
	cs = NULL;
	v->cs[v->ncs++] = c;
	ret = TANDEM_OK;
out:
	dns_changeset_free(cs);
	return ret;
}

int dist_version_inherit(dist_version_t *v, const dist_version_t *prev, size_t max_count,
			 uint64_t max_bytes)
{
	if (v == NULL || prev == NULL) {
		return TANDEM_EINVAL;
	}
	if (v->frozen) {
		return TANDEM_EPERM;
	}
	/* the serial prev's changesets must lead to */
	uint32_t to = v->ncs > 0 ? dns_changeset_serial(v->cs[0]->cs, false) : v->serial;
	size_t end = prev->ncs;
	while (end > 0 && dns_changeset_serial(prev->cs[end - 1]->cs, true) != to) {
		end--;
	}
	/* how many of prev's, newest first, fit beside v's own */
	size_t count = v->ncs;
	uint64_t bytes = 0;
	for (size_t i = 0; i < v->ncs; i++) {
		bytes += v->cs[i]->bytes;
	}
	size_t start = end;
	while (start > 0) {
		const dist_cs_t *c = prev->cs[start - 1];
		if ((max_count > 0 && count + 1 > max_count) ||
		    (max_bytes > 0 && bytes + c->bytes > max_bytes)) {
			break;
		}
		count++;
		bytes += c->bytes;
		start--;
	}
	size_t n = end - start;
	if (n == 0) {
		return TANDEM_OK;
	}
	int ret = dist_version_reserve(v, n);
	if (ret != TANDEM_OK) {
		return ret;
	}
	memmove(v->cs + n, v->cs, v->ncs * sizeof(*v->cs));
	for (size_t i = 0; i < n; i++) {
		v->cs[i] = prev->cs[start + i];
		atomic_fetch_add(&v->cs[i]->refs, 1);
	}
	v->ncs += n;
	return TANDEM_OK;
}

/* ---- records to the wire ---- */

int dist_version_push_soa(const dist_version_t *v, dist_msg_t *m)
{
	dns_node_t *apex = dns_zone_apex(v->zone);
	const dns_rrset_t *soa = apex != NULL ? dns_node_rrset(apex, DNS_TYPE_SOA) : NULL;
	if (soa == NULL || soa->count != 1) {
		return TANDEM_DNS_ESOA;
	}
	return dist_msg_rr(m, apex->name, DNS_TYPE_SOA, DNS_CLASS_IN, soa->ttl, soa->rdata[0]);
}

/*
 * Stream phases. AXFR: the SOA, every record but the apex SOA (main nodes, then NSEC3
 * nodes; each RRset's RDATAs, then its RRSIGs with the RRset's TTL), the SOA. IXFR: the
 * SOA, then per changeset its old SOA, removed records, new SOA, added records, the SOA.
 */
enum {
	DIST_PH_HEAD,
	DIST_PH_NODES,
	DIST_PH_NSEC3,
	DIST_PH_CS,
	DIST_PH_TAIL,
	DIST_PH_DONE,
};

void dist_stream_init(dist_stream_t *s, const dist_version_t *v, bool ixfr, size_t first)
{
	memset(s, 0, sizeof(*s));
	s->v = v;
	s->ixfr = ixfr;
	s->first = first;
	s->a = first;
	s->phase = DIST_PH_HEAD;
}

/* The next record of a node array at (a: node, b: RRset, c: RDATA then RRSIG), or false
 * at its end. */
static int dist_stream_nodes(dist_stream_t *s, dns_node_t *nodes, size_t n, const uint8_t *apex,
			     dist_msg_t *m, bool *more)
{
	*more = false;
	while (s->a < n) {
		const dns_node_t *node = &nodes[s->a];
		if (s->b >= node->rrset_count) {
			s->a++;
			s->b = 0;
			s->c = 0;
			continue;
		}
		const dns_rrset_t *rs = &node->rrsets[s->b];
		size_t total = (size_t)rs->count + rs->sig_count;
		if (s->c >= total) {
			s->b++;
			s->c = 0;
			continue;
		}
		size_t k = s->c++;
		bool is_soa = rs->type == DNS_TYPE_SOA && node->name == apex;
		if (k < rs->count) {
			if (is_soa) {
				continue; /* sent first and last */
			}
			*more = true;
			return dist_msg_rr(m, node->name, rs->type, DNS_CLASS_IN, rs->ttl,
					   rs->rdata[k]);
		}
		*more = true;
		return dist_msg_rr(m, node->name, DNS_TYPE_RRSIG, DNS_CLASS_IN, rs->ttl,
				   rs->sigs[k - rs->count]);
	}
	return TANDEM_OK;
}

/* The next record of the changesets at (a: changeset, b: 0 old SOA, 1 removed, 2 new SOA,
 * 3 added, c: record). */
static int dist_stream_cs(dist_stream_t *s, dist_msg_t *m, bool *more)
{
	*more = false;
	while (s->a < s->v->ncs) {
		const dns_changeset_t *cs = s->v->cs[s->a]->cs;
		if (s->b == 0 || s->b == 2) {
			const dns_rr_t *soa = dns_changeset_soa(cs, s->b == 2);
			s->b++;
			s->c = 0;
			*more = true;
			return dist_msg_rr(m, soa->owner, soa->type, soa->rclass, soa->ttl,
					   soa->rdata);
		}
		size_t n = 0;
		const dns_rr_t *rr = dns_changeset_records(cs, s->b == 3, &n);
		if (s->c < n) {
			rr += s->c++;
			*more = true;
			return dist_msg_rr(m, rr->owner, rr->type, rr->rclass, rr->ttl, rr->rdata);
		}
		s->c = 0;
		if (++s->b > 3) {
			s->b = 0;
			s->a++;
		}
	}
	return TANDEM_OK;
}

int dist_stream_fill(dist_stream_t *s, dist_msg_t *m, size_t max, bool *done)
{
	int ret = TANDEM_OK;
	dns_zone_t *zone = s->v->zone;
	const uint8_t *apex = dns_zone_apex(zone)->name;
	while (m->len < max && s->phase != DIST_PH_DONE) {
		/* a record that does not fit goes first in the next message: back to before it */
		dist_stream_t before = *s;
		bool more = false;
		size_t n = 0;
		switch (s->phase) {
		case DIST_PH_HEAD:
		case DIST_PH_TAIL:
			ret = dist_version_push_soa(s->v, m);
			more = s->phase == DIST_PH_HEAD;
			s->phase = s->phase == DIST_PH_HEAD ? (s->ixfr ? DIST_PH_CS : DIST_PH_NODES)
							    : DIST_PH_DONE;
			if (more) {
				s->a = s->ixfr ? s->first : 0;
				s->b = 0;
				s->c = 0;
			}
			break;
		case DIST_PH_NODES: {
			dns_node_t *nodes = dns_zone_nodes(zone, &n);
			ret = dist_stream_nodes(s, nodes, n, apex, m, &more);
			if (ret == TANDEM_OK && !more) {
				s->phase = DIST_PH_NSEC3;
				s->a = s->b = s->c = 0;
			}
			break;
		}
		case DIST_PH_NSEC3: {
			dns_node_t *nodes = dns_zone_nsec3_nodes(zone, &n);
			ret = dist_stream_nodes(s, nodes, n, apex, m, &more);
			if (ret == TANDEM_OK && !more) {
				s->phase = DIST_PH_TAIL;
			}
			break;
		}
		case DIST_PH_CS:
			ret = dist_stream_cs(s, m, &more);
			if (ret == TANDEM_OK && !more) {
				s->phase = DIST_PH_TAIL;
			}
			break;
		default: s->phase = DIST_PH_DONE; break;
		}
		if (ret == TANDEM_ERANGE && m->ancount > 0) {
			*s = before;
			break;
		}
		if (ret != TANDEM_OK) {
			return ret;
		}
	}
	*done = s->phase == DIST_PH_DONE;
	return TANDEM_OK;
}
