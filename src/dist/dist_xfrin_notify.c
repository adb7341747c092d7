/* NOTIFY in for input by transfer: the ACL, the key, a rate per source, and a check at once. */
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "dist_xfrin_internal.h"

/* ---- NOTIFY in -------------------------------------------------------------------------- */

/* The source's token bucket: false when it is over its rate (*log: say so now). */
static bool xfrin_rate_ok(dist_xfrin_t *x, const struct sockaddr *addr, bool *log)
{
	struct sockaddr_storage a;
	memset(&a, 0, sizeof(a));
	if (addr->sa_family == AF_INET6) {
		memcpy(&((struct sockaddr_in6 *)&a)->sin6_addr,
		       &((const struct sockaddr_in6 *)addr)->sin6_addr, sizeof(struct in6_addr));
	} else {
		memcpy(&((struct sockaddr_in *)&a)->sin_addr,
		       &((const struct sockaddr_in *)addr)->sin_addr, sizeof(struct in_addr));
	}
	a.ss_family = addr->sa_family;
	uint64_t now = xfrin_mono_ms();
	xfrin_rate_t *slot = NULL, *oldest = &x->rate[0];
	for (size_t i = 0; i < XFRIN_RATE_SOURCES && slot == NULL; i++) {
		xfrin_rate_t *r = &x->rate[i];
		if (r->used && memcmp(&r->addr, &a, sizeof(a)) == 0) {
			slot = r;
		} else if (!r->used || (oldest->used && r->at_ms < oldest->at_ms)) {
			oldest = r;
		}
	}
	if (slot == NULL) {
		/* a new source takes the slot used longest ago */
		slot = oldest;
		memset(slot, 0, sizeof(*slot));
		slot->addr = a;
		slot->used = true;
		slot->tokens = XFRIN_RATE_BURST;
		slot->at_ms = now;
	}
	slot->tokens += (double)(now - slot->at_ms) * XFRIN_RATE_PER_S / 1000.0;
	if (slot->tokens > XFRIN_RATE_BURST) {
		slot->tokens = XFRIN_RATE_BURST;
	}
	slot->at_ms = now;
	*log = false;
	if (slot->tokens < 1.0) {
		if (slot->logged_ms == 0 || now - slot->logged_ms >= XFRIN_RATE_LOG_MS) {
			slot->logged_ms = now;
			*log = true;
		}
		return false;
	}
	slot->tokens -= 1.0;
	return true;
}

/* The answer to a NOTIFY: its rcode, signed over its MAC when mac is given. */
static void xfrin_notify_reply(dist_xfrin_t *x, const ldns_pkt *q, ldns_pkt_rcode rcode,
			       const ldns_rdf *mac, uint8_t **reply, size_t *rlen)
{
	ldns_pkt *r = ldns_pkt_new();
	if (r == NULL) {
		return;
	}
	ldns_pkt_set_id(r, ldns_pkt_id(q));
	ldns_pkt_set_qr(r, true);
	ldns_pkt_set_aa(r, true);
	ldns_pkt_set_opcode(r, LDNS_PACKET_NOTIFY);
	ldns_pkt_set_rcode(r, (uint8_t)rcode);
	ldns_rr_list *qs = ldns_rr_list_clone(ldns_pkt_question(q));
	if (qs != NULL) {
		ldns_rr_list_deep_free(ldns_pkt_question(r));
		ldns_pkt_set_question(r, qs);
		ldns_pkt_set_qdcount(r, (uint16_t)ldns_rr_list_rr_count(qs));
	}
	if (mac != NULL && ldns_pkt_tsig_sign(r, x->key->name, x->key->secret, XFRIN_FUDGE,
					      x->key->alg, mac) != LDNS_STATUS_OK) {
		ldns_pkt_free(r);
		return;
	}
	if (ldns_pkt2wire(reply, r, rlen) != LDNS_STATUS_OK) {
		*reply = NULL;
	}
	ldns_pkt_free(r);
}

void dist_xfrin_notify(void *arg, const uint8_t *wire, size_t len, const struct sockaddr *addr,
		       const char *peer, uint8_t **reply, size_t *rlen)
{
	dist_xfrin_t *x = arg;
	ldns_pkt *q = NULL;
	*reply = NULL;
	if (dist_wire2pkt(&q, wire, len) != LDNS_STATUS_OK) {
		q = NULL;
	}
	const ldns_rr *qr = q != NULL ? ldns_rr_list_rr(ldns_pkt_question(q), 0) : NULL;
	xfrin_zone_t *z = NULL;
	for (size_t i = 0; qr != NULL && i < x->nzones && z == NULL; i++) {
		if (ldns_dname_compare(ldns_rr_owner(qr), x->zones[i].dname) == 0) {
			z = &x->zones[i];
		}
	}
	bool log = false;
	pthread_mutex_lock(&x->lock);
	bool ok = xfrin_rate_ok(x, addr, &log);
	if (!ok && z != NULL) {
		z->st.refused[DIST_XFRIN_NOTIFY_RATE]++;
	}
	pthread_mutex_unlock(&x->lock);
	if (!ok) {
		/* dropped unanswered; the log line too is bounded */
		if (log) {
			xfrin_logf(
			    x,
			    "xfrin %s: refused (%s): NOTIFYs from %s over %d a second (burst "
			    "%d): dropped unanswered, said again in %d s at the earliest",
			    z != NULL ? z->name : "-",
			    dist_xfrin_reason_name(DIST_XFRIN_NOTIFY_RATE), peer, XFRIN_RATE_PER_S,
			    XFRIN_RATE_BURST, XFRIN_RATE_LOG_MS / 1000);
		}
		goto out;
	}
	if (q == NULL) {
		xfrin_refuse(x, NULL, DIST_XFRIN_MALFORMED, "a malformed NOTIFY from %s: dropped",
			     peer);
		goto out;
	}
	char zname[300] = "?";
	if (qr != NULL) {
		char *s = ldns_rdf2str(ldns_rr_owner(qr));
		snprintf(zname, sizeof(zname), "%s", s != NULL ? s : "?");
		free(s);
	}
	bool allowed = false;
	ldns_rr *t = ldns_pkt_tsig(q);
	for (size_t i = 0; i < x->nacl && !allowed; i++) {
		allowed = dist_acl_match(&x->acl[i], addr) && (x->acl[i].key == NULL || t != NULL);
	}
	if (x->nacl == 0 && z != NULL) {
		/* no ACL: the zone's primary address (any port) */
		dist_acl_t a = {.family = z->addr.ss_family,
				.bits = z->addr.ss_family == AF_INET6 ? 128 : 32};
		if (z->addr.ss_family == AF_INET6) {
			memcpy(a.addr, &((struct sockaddr_in6 *)&z->addr)->sin6_addr, 16);
		} else {
			memcpy(a.addr, &((struct sockaddr_in *)&z->addr)->sin_addr, 4);
		}
		allowed = dist_acl_match(&a, addr);
	}
	if (!allowed) {
		xfrin_refuse(x, z, DIST_XFRIN_NOTIFY_ACL,
			     "NOTIFY for %s from %s: address not in notify-in-acl: REFUSED", zname,
			     peer);
		xfrin_notify_reply(x, q, LDNS_RCODE_REFUSED, NULL, reply, rlen);
		goto out;
	}
	if (t == NULL || ldns_rr_rd_count(t) < 7 ||
	    ldns_dname_compare(ldns_rr_owner(t), x->key->dname) != 0 ||
	    !dist_tsig_verify(q, wire, len, x->key->name, x->key->secret, NULL) ||
	    !xfrin_tsig_time_ok(t)) {
		xfrin_refuse(
		    x, z, DIST_XFRIN_NOTIFY_TSIG, "NOTIFY for %s from %s: %s: NOTAUTH", zname, peer,
		    t == NULL
			? "no TSIG"
			: "a TSIG not of the primary's key, a bad MAC or a time outside the fudge");
		xfrin_notify_reply(x, q, LDNS_RCODE_NOTAUTH, NULL, reply, rlen);
		goto out;
	}
	const ldns_rdf *mac = ldns_rr_rdf(t, 3);
	if (z == NULL) {
		xfrin_refuse(x, NULL, DIST_XFRIN_NOTIFY_ACL,
			     "NOTIFY for %s from %s: not a zone taken by transfer: NOTAUTH", zname,
			     peer);
		xfrin_notify_reply(x, q, LDNS_RCODE_NOTAUTH, mac, reply, rlen);
		goto out;
	}
	pthread_mutex_lock(&x->lock);
	bool already = z->notified;
	z->notified = true;
	pthread_cond_signal(&x->cond);
	pthread_mutex_unlock(&x->lock);
	if (!already) {
		xfrin_logf(x, "xfrin %s: NOTIFY from %s: checking %s", z->name, peer, z->primary);
	}
	xfrin_notify_reply(x, q, LDNS_RCODE_NOERROR, mac, reply, rlen);
out:
	ldns_pkt_free(q);
}
