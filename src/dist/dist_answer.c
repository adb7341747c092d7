/* Answers: SOA, AXFR (RFC 5936) and IXFR (RFC 1995), TSIG (RFC 8945) checks and signing, ACL. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist_server_internal.h"
#include "tandem_error.h"
#include "tandem_serial.h"

/* TSIG error codes (RFC 8945 3) */
enum {
	DIST_TSIG_BADSIG = 16,
	DIST_TSIG_BADKEY = 17,
	DIST_TSIG_BADTIME = 18,
};

void dist_logf(dist_server_t *srv, const char *fmt, ...)
{
	if (srv->log == NULL) {
		return;
	}
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	srv->log(srv->log_arg, line);
}

/* A reply to q with its id, opcode, RD and question, QR set. */
static ldns_pkt *dist_reply_new(const ldns_pkt *q, ldns_pkt_rcode rcode)
{
	ldns_pkt *r = ldns_pkt_new();
	if (r == NULL) {
		return NULL;
	}
	ldns_pkt_set_id(r, ldns_pkt_id(q));
	ldns_pkt_set_qr(r, true);
	ldns_pkt_set_opcode(r, ldns_pkt_get_opcode(q));
	ldns_pkt_set_rd(r, ldns_pkt_rd(q));
	ldns_pkt_set_rcode(r, (uint8_t)rcode);
	const ldns_rr_list *qs = ldns_pkt_question(q);
	for (size_t i = 0; qs != NULL && i < ldns_rr_list_rr_count(qs); i++) {
		ldns_rr *rr = ldns_rr_clone(ldns_rr_list_rr(qs, i));
		if (rr == NULL || !ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION, rr)) {
			ldns_rr_free(rr);
			ldns_pkt_free(r);
			return NULL;
		}
	}
	return r;
}

/*
 * An unsigned TSIG record for an error answer (RFC 8945 5.2: BADKEY and BADSIG answers
 * carry no MAC): the request's key name, algorithm and time, and the error. (A BADTIME
 * answer is signed: dist_refuse.)
 */
static ldns_rr *dist_tsig_error(const ldns_rr *qt, uint16_t qid, uint16_t error)
{
	ldns_rr *rr = ldns_rr_new();
	if (rr == NULL) {
		return NULL;
	}
	ldns_rr_set_owner(rr, ldns_rdf_clone(ldns_rr_owner(qt)));
	ldns_rr_set_type(rr, LDNS_RR_TYPE_TSIG);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_ANY);
	ldns_rr_set_ttl(rr, 0);
	uint8_t zero[2] = {0, 0};
	ldns_rdf *f[7] = {
	    ldns_rdf_clone(ldns_rr_rdf(qt, 0)),
	    ldns_rdf_clone(ldns_rr_rdf(qt, 1)),
	    ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, ldns_rdf2native_int16(ldns_rr_rdf(qt, 2))),
	    ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, 2, zero),
	    ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, qid),
	    ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, error),
	    ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, 2, zero),
	};
	bool ok = true;
	for (int i = 0; i < 7; i++) {
		if (f[i] == NULL || !ok) {
			ok = false;
			ldns_rdf_deep_free(f[i]);
			continue;
		}
		if (!ldns_rr_push_rdf(rr, f[i])) {
			ldns_rdf_deep_free(f[i]);
			ok = false;
		}
	}
	if (!ok || ldns_rr_owner(rr) == NULL) {
		ldns_rr_free(rr);
		return NULL;
	}
	return rr;
}

/* Renders r (a refusal: small and rare, so ldns builds it) and signs it with key over *mac
 * when there is a key (RFC 8945 5.3), with err's TSIG error (NULL: none). */
static int dist_render(dist_server_t *srv, ldns_pkt *r, const dist_key_t *key, dist_mac_t *mac,
		       const dist_tsig_err_t *err, uint8_t **wire, size_t *len)
{
	if (ldns_pkt2wire(wire, r, len) != LDNS_STATUS_OK) {
		return TANDEM_ENOMEM;
	}
	if (key == NULL) {
		return TANDEM_OK;
	}
	uint8_t *w = realloc(*wire, *len + DIST_TSIG_ROOM);
	if (w == NULL) {
		free(*wire);
		*wire = NULL;
		return TANDEM_ENOMEM;
	}
	*wire = w;
	return dist_tsig_sign(w, len, *len + DIST_TSIG_ROOM, key, srv->fudge, mac, false, err);
}

/* Starts m as the answer to q (its first question, which dist_handle checked is there). */
static int dist_msg_answer(dist_msg_t *m, const ldns_pkt *q)
{
	const ldns_rr *question = ldns_rr_list_rr(ldns_pkt_question(q), 0);
	return dist_msg_start(m, ldns_pkt_id(q), (uint8_t)ldns_pkt_get_opcode(q), ldns_pkt_rd(q),
			      LDNS_RCODE_NOERROR, ldns_rdf_data(ldns_rr_owner(question)),
			      (uint16_t)ldns_rr_get_type(question),
			      (uint16_t)ldns_rr_get_class(question));
}

static const char *dist_qtype_str(ldns_rr_type t, char buf[16])
{
	switch (t) {
	case LDNS_RR_TYPE_SOA: return "SOA";
	case LDNS_RR_TYPE_AXFR: return "AXFR";
	case LDNS_RR_TYPE_IXFR: return "IXFR";
	default: snprintf(buf, 16, "TYPE%u", (unsigned)t); return buf;
	}
}

/* What the request asked, for log lines: "AXFR example." */
typedef struct dist_req {
	dist_server_t *srv;
	dist_conn_t *c; /* NULL: UDP */
	ldns_pkt *q;
	const char *peer;
	char what[300];
	const dist_key_t *key; /* verified (its MAC; for BADTIME only that) */
	dist_mac_t mac;        /* the request's MAC, then each answer's */
	uint64_t signed_at;    /* the request's Time Signed (a BADTIME answer repeats it) */
	uint8_t **reply;
	size_t *rlen;
} dist_req_t;

/* Answers with rcode (and a TSIG error record when tsig_error), counts and logs why. */
static void dist_refuse(dist_req_t *rq, ldns_pkt_rcode rcode, uint16_t tsig_error,
			uint64_t *counter, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void dist_refuse(dist_req_t *rq, ldns_pkt_rcode rcode, uint16_t tsig_error,
			uint64_t *counter, const char *fmt, ...)
{
	dist_server_t *srv = rq->srv;
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	dist_count(srv, &srv->stats.refused);
	if (counter != NULL) {
		dist_count(srv, counter);
	}
	ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, (int)rcode);
	dist_logf(srv, "xfr: refused %s from %s (%s): %s: %s", rq->what, rq->peer,
		  rq->c != NULL ? "tcp" : "udp", lt != NULL ? lt->name : "?", why);
	ldns_pkt *r = dist_reply_new(rq->q, rcode);
	if (r == NULL) {
		return;
	}
	int ret = TANDEM_OK;
	if (tsig_error != 0 && rq->key == NULL) {
		ldns_rr *t = dist_tsig_error(ldns_pkt_tsig(rq->q), ldns_pkt_id(rq->q), tsig_error);
		if (t == NULL) {
			ret = TANDEM_ENOMEM;
		} else {
			ldns_pkt_set_tsig(r, t);
		}
		if (ret == TANDEM_OK && ldns_pkt2wire(rq->reply, r, rq->rlen) != LDNS_STATUS_OK) {
			*rq->reply = NULL;
		}
	} else {
		/* a refusal of a signed request is signed (RFC 8945 5.3), a BADTIME too (5.2.3:
		 * the request's time, and ours in Other Data) */
		dist_tsig_err_t err = {.error = tsig_error, .time_signed = rq->signed_at};
		if (tsig_error == DIST_TSIG_BADTIME) {
			uint64_t now = (uint64_t)time(NULL);
			for (int i = 0; i < 6; i++) {
				err.other[i] = (uint8_t)(now >> (8 * (5 - i)));
			}
			err.other_len = 6;
		}
		ret = dist_render(srv, r, rq->key, &rq->mac, tsig_error != 0 ? &err : NULL,
				  rq->reply, rq->rlen);
		if (ret != TANDEM_OK) {
			free(*rq->reply);
			*rq->reply = NULL;
		}
	}
	ldns_pkt_free(r);
}

/* RFC 8945 5.2: the key, then the MAC, then the time. True when the request may go on. */
static bool dist_tsig_check(dist_req_t *rq, const uint8_t *wire, size_t len)
{
	dist_server_t *srv = rq->srv;
	ldns_rr *t = ldns_pkt_tsig(rq->q);
	if (t == NULL) {
		if (srv->tsig_optional) {
			return true;
		}
		dist_refuse(rq, LDNS_RCODE_REFUSED, 0, &srv->stats.refused_notsig,
			    "no TSIG, and TSIG is required");
		return false;
	}
	char kname[300] = "?";
	char *s = ldns_rdf2str(ldns_rr_owner(t));
	if (s != NULL) {
		snprintf(kname, sizeof(kname), "%s", s);
		free(s);
	}
	if (ldns_rr_rd_count(t) < 7) {
		dist_refuse(rq, LDNS_RCODE_FORMERR, 0, &srv->stats.malformed,
			    "malformed TSIG record");
		return false;
	}
	const dist_key_t *key = NULL;
	for (size_t i = 0; i < srv->nkeys && key == NULL; i++) {
		const dist_key_t *k = srv->keys[i];
		if (ldns_dname_compare(ldns_rr_owner(t), k->dname) == 0 &&
		    ldns_dname_compare(ldns_rr_rdf(t, 0), k->alg_dname) == 0) {
			key = k;
		}
	}
	if (key == NULL) {
		dist_refuse(rq, LDNS_RCODE_NOTAUTH, DIST_TSIG_BADKEY, &srv->stats.tsig_badkey,
			    "TSIG key %s unknown, or not with that algorithm (BADKEY)", kname);
		return false;
	}
	if (!dist_tsig_verify(rq->q, wire, len, key->name, key->secret, NULL)) {
		dist_refuse(rq, LDNS_RCODE_NOTAUTH, DIST_TSIG_BADSIG, &srv->stats.tsig_badsig,
			    "TSIG key %s: the MAC does not verify (BADSIG)", kname);
		return false;
	}
	const ldns_rdf *tr = ldns_rr_rdf(t, 1);
	uint64_t signed_at = 0;
	if (ldns_rdf_size(tr) == 6) {
		for (size_t i = 0; i < 6; i++) {
			signed_at = (signed_at << 8) | ldns_rdf_data(tr)[i];
		}
	}
	uint64_t fudge = ldns_rdf2native_int16(ldns_rr_rdf(t, 2));
	if (fudge > srv->fudge) {
		fudge = srv->fudge;
	}
	/* verified: the MAC is as long as the key's hash (its RDF: 2-byte size, then it) */
	const ldns_rdf *mr = ldns_rr_rdf(t, 3);
	if (ldns_rdf_size(mr) < 2 || ldns_rdf_size(mr) - 2 > sizeof(rq->mac.b)) {
		return false;
	}
	rq->key = key;
	rq->mac.len = ldns_rdf_size(mr) - 2;
	memcpy(rq->mac.b, ldns_rdf_data(mr) + 2, rq->mac.len);
	rq->signed_at = signed_at;
	uint64_t now = (uint64_t)time(NULL);
	if ((now > signed_at ? now - signed_at : signed_at - now) > fudge) {
		dist_refuse(rq, LDNS_RCODE_NOTAUTH, DIST_TSIG_BADTIME, &srv->stats.tsig_badtime,
			    "TSIG key %s: signed %" PRIu64 " s away from our clock, fudge %" PRIu64
			    " (BADTIME)",
			    kname, now > signed_at ? now - signed_at : signed_at - now, fudge);
		return false;
	}
	return true;
}

/* The ACL: an entry whose prefix holds the address and whose key (if it names one) signed. */
static bool dist_acl_check(dist_req_t *rq, const struct sockaddr *addr)
{
	dist_server_t *srv = rq->srv;
	bool ok = false;
	pthread_mutex_lock(&srv->acl_lock);
	ok = srv->nacl == 0;
	for (size_t i = 0; !ok && i < srv->nacl; i++) {
		ok = dist_acl_match(&srv->acl[i], addr) &&
		     (srv->acl[i].key == NULL || srv->acl[i].key == rq->key);
	}
	pthread_mutex_unlock(&srv->acl_lock);
	if (ok) {
		return true;
	}
	dist_refuse(rq, LDNS_RCODE_REFUSED, 0, &srv->stats.refused_acl,
		    "address%s%s not in xfr-acl", rq->key != NULL ? " and key " : "",
		    rq->key != NULL ? rq->key->name : "");
	return false;
}

/* A one-message answer holding v's SOA. */
static void dist_answer_soa(dist_req_t *rq, const dist_version_t *v)
{
	if (rq->srv->one == NULL) {
		rq->srv->one = dist_msg_new();
	}
	dist_msg_t *m = rq->srv->one;
	if (m == NULL || dist_msg_answer(m, rq->q) != TANDEM_OK ||
	    dist_version_push_soa(v, m) != TANDEM_OK ||
	    (rq->key != NULL &&
	     dist_tsig_sign(m->buf, &m->len, sizeof(m->buf), rq->key, rq->srv->fudge, &rq->mac,
			    false, NULL) != TANDEM_OK)) {
		return;
	}
	*rq->reply = malloc(m->len);
	if (*rq->reply != NULL) {
		memcpy(*rq->reply, m->buf, m->len);
		*rq->rlen = m->len;
	}
}

/* Starts a transfer on the TCP client: its messages come from dist_xfr_next. */
static void dist_xfr_start(dist_req_t *rq, dist_version_t *v, bool ixfr, size_t first)
{
	dist_conn_t *c = rq->c;
	c->msg = dist_msg_new();
	if (c->msg == NULL) {
		dist_logf(rq->srv, "xfr: %s from %s: out of memory", rq->what, rq->peer);
		return;
	}
	c->xfr_busy = true;
	c->v = dist_version_ref(v);
	c->query = rq->q;
	rq->q = NULL;
	c->key = rq->key;
	c->mac = rq->mac;
	c->msgs = 0;
	dist_stream_init(&c->st, v, ixfr, first);
}

int dist_xfr_next(dist_conn_t *c, const uint8_t **wire, size_t *len, bool *done)
{
	dist_msg_t *m = c->msg;
	int ret = dist_msg_answer(m, c->query);
	if (ret == TANDEM_OK) {
		ret = dist_stream_fill(&c->st, m, DIST_MSG_FILL, done);
	}
	/* every message is signed; after the first, over the previous MAC and the timers */
	if (ret == TANDEM_OK && c->key != NULL) {
		ret = dist_tsig_sign(m->buf, &m->len, sizeof(m->buf), c->key, c->srv->fudge,
				     &c->mac, c->msgs > 0, NULL);
	}
	if (ret != TANDEM_OK) {
		return ret;
	}
	c->msgs++;
	*wire = m->buf;
	*len = m->len;
	return TANDEM_OK;
}

void dist_xfr_end(dist_conn_t *c)
{
	c->xfr_busy = false;
	dist_version_unref(c->v);
	c->v = NULL;
	ldns_pkt_free(c->query);
	c->query = NULL;
	c->mac.len = 0;
	free(c->msg);
	c->msg = NULL;
	c->key = NULL;
}

/* IXFR: the client's serial from the SOA in the authority section; false when missing. */
static bool dist_ixfr_serial(const ldns_pkt *q, uint32_t *out)
{
	const ldns_rr_list *auth = ldns_pkt_authority(q);
	for (size_t i = 0; auth != NULL && i < ldns_rr_list_rr_count(auth); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(auth, i);
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && ldns_rr_rd_count(rr) >= 3) {
			*out = ldns_rdf2native_int32(ldns_rr_rdf(rr, 2));
			return true;
		}
	}
	return false;
}

/* An IXFR of v from serial `from`. */
static void dist_answer_ixfr(dist_req_t *rq, dist_version_t *v, uint32_t from)
{
	dist_server_t *srv = rq->srv;
	if (from == v->serial || tandem_serial_gt(from, v->serial) || rq->c == NULL) {
		/* up to date (or ahead: we have nothing newer), or UDP: the client asks
		 * again over TCP when the SOA is newer (RFC 1995 2) */
		dist_count(srv, &srv->stats.ixfr_uptodate);
		dist_answer_soa(rq, v);
		return;
	}
	size_t first = 0;
	while (first < v->ncs && dns_changeset_serial(v->cs[first]->cs, false) != from) {
		first++;
	}
	uint64_t records = 2;
	for (size_t i = first; i < v->ncs; i++) {
		records += v->cs[i]->records;
	}
	bool full = first == v->ncs;
	const char *why = "serial not in the journal";
	if (!full && srv->ratio >= 0 && (double)records > srv->ratio * (double)v->records) {
		full = true;
		why = "larger than max-ixfr-ratio of the zone";
	}
	if (full) {
		dist_count(srv, &srv->stats.ixfr_full);
		dist_logf(srv, "xfr: %s from %s: serial %u to %u as a full zone: %s", rq->what,
			  rq->peer, from, v->serial, why);
		dist_xfr_start(rq, v, false, 0);
		return;
	}
	dist_count(srv, &srv->stats.ixfr);
	dist_xfr_start(rq, v, true, first);
}

void dist_handle(dist_server_t *srv, dist_conn_t *c, const uint8_t *wire, size_t len,
		 const struct sockaddr *addr, const char *peer, uint8_t **reply, size_t *rlen)
{
	dist_req_t rq = {.srv = srv, .c = c, .peer = peer, .reply = reply, .rlen = rlen};
	dist_version_t *v = NULL;
	*reply = NULL;
	*rlen = 0;
	dist_count(srv, &srv->stats.queries);
	snprintf(rq.what, sizeof(rq.what), "query");
	if (dist_wire2pkt(&rq.q, wire, len) != LDNS_STATUS_OK) {
		rq.q = NULL;
		dist_count(srv, &srv->stats.malformed);
		dist_logf(srv, "xfr: dropped a malformed message of %zu bytes from %s", len, peer);
		goto out;
	}
	if (ldns_pkt_qr(rq.q)) {
		goto out; /* an answer: never answered */
	}
	ldns_rr *question =
	    ldns_pkt_qdcount(rq.q) == 1 ? ldns_rr_list_rr(ldns_pkt_question(rq.q), 0) : NULL;
	ldns_rr_type qtype = question != NULL ? ldns_rr_get_type(question) : 0;
	if (question != NULL) {
		char tb[16];
		char *qn = ldns_rdf2str(ldns_rr_owner(question));
		snprintf(rq.what, sizeof(rq.what), "%s %s", dist_qtype_str(qtype, tb),
			 qn != NULL ? qn : "?");
		free(qn);
	}
	if (ldns_pkt_get_opcode(rq.q) == LDNS_PACKET_NOTIFY && srv->notify != NULL) {
		srv->notify(srv->notify_arg, wire, len, addr, peer, reply, rlen);
		goto out;
	}
	if (ldns_pkt_get_opcode(rq.q) != LDNS_PACKET_QUERY) {
		dist_refuse(&rq, LDNS_RCODE_NOTIMPL, 0, &srv->stats.notimp, "opcode %d",
			    (int)ldns_pkt_get_opcode(rq.q));
		goto out;
	}
	if (question == NULL) {
		dist_refuse(&rq, LDNS_RCODE_FORMERR, 0, &srv->stats.malformed,
			    "%u questions, not one", (unsigned)ldns_pkt_qdcount(rq.q));
		goto out;
	}
	if (!dist_tsig_check(&rq, wire, len) || !dist_acl_check(&rq, addr)) {
		goto out;
	}
	if (qtype != LDNS_RR_TYPE_SOA && qtype != LDNS_RR_TYPE_AXFR && qtype != LDNS_RR_TYPE_IXFR) {
		dist_refuse(&rq, LDNS_RCODE_REFUSED, 0, NULL, "only SOA, AXFR and IXFR are served");
		goto out;
	}
	if (ldns_rr_get_class(question) != LDNS_RR_CLASS_IN) {
		dist_refuse(&rq, LDNS_RCODE_REFUSED, 0, NULL, "class %u, not IN",
			    (unsigned)ldns_rr_get_class(question));
		goto out;
	}
	uint32_t from = 0;
	bool one_serial = qtype == LDNS_RR_TYPE_AXFR && dist_ixfr_serial(rq.q, &from);
	/* a peer's AXFR of one serial (a standby verifying the active's version before it is
	 * published): the version held for the compare, or the published one, when it has that
	 * serial; nothing else is sent for it */
	v = one_serial ? dist_server_held(srv, ldns_rr_owner(question)) : NULL;
	if (v != NULL && v->serial != from) {
		dist_version_unref(v);
		v = NULL;
	}
	if (v == NULL) {
		v = dist_server_version(srv, ldns_rr_owner(question));
	}
	if (v != NULL && one_serial && v->serial != from) {
		dist_refuse(&rq, LDNS_RCODE_REFUSED, 0, NULL,
			    "serial %u is neither held nor served here (%u is)", from, v->serial);
		goto out;
	}
	if (v == NULL) {
		/* RFC 5936 2.2.1: not authoritative for the zone */
		dist_refuse(&rq, LDNS_RCODE_NOTAUTH, 0, &srv->stats.notauth,
			    "no such zone served here");
		goto out;
	}
	switch (qtype) {
	case LDNS_RR_TYPE_SOA:
		dist_count(srv, &srv->stats.soa);
		dist_answer_soa(&rq, v);
		break;
	case LDNS_RR_TYPE_AXFR:
		if (c == NULL) {
			dist_refuse(&rq, LDNS_RCODE_NOTIMPL, 0, &srv->stats.notimp,
				    "AXFR over UDP (RFC 5936 4.2)");
			break;
		}
		dist_count(srv, &srv->stats.axfr);
		dist_xfr_start(&rq, v, false, 0);
		break;
	default:
		if (!dist_ixfr_serial(rq.q, &from)) {
			dist_refuse(&rq, LDNS_RCODE_FORMERR, 0, &srv->stats.malformed,
				    "IXFR without an SOA in the authority section");
			break;
		}
		dist_answer_ixfr(&rq, v, from);
		break;
	}
out:
	dist_version_unref(v);
	ldns_pkt_free(rq.q);
}
