/* Input by transfer from a hidden primary: SOA checks, IXFR/AXFR in with TSIG, the copy. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "dist_internal.h"
#include "dist_xfrin_internal.h"
#include "tandem_error.h"
#include "tandem_file.h"
#include "tandem_serial.h"

#define XFRIN_UDP_WAIT_MS 3000 /* one SOA query's wait */
#define XFRIN_UDP_TRIES   2
#define XFRIN_TCP_WAIT_MS 30000 /* a transfer silent this long is broken off */
#define XFRIN_CONNECT_MS  10000 /* a TCP connection not made by then is given up */
#define XFRIN_MSG_MAX     65535
/* xfrin_transfer's answer when an IXFR is not served: ask AXFR */
#define XFRIN_ASK_AXFR TANDEM_EPERM

static const char *const xfrin_reasons[DIST_XFRIN_NREASONS] = {
    "tsig",        "truncated",  "ixfr-apply",  "rcode",       "malformed",
    "unreachable", "notify-acl", "notify-tsig", "notify-rate", "write"};

const char *dist_xfrin_reason_name(dist_xfrin_reason_t r)
{
	return r < DIST_XFRIN_NREASONS ? xfrin_reasons[r] : "?";
}

uint64_t xfrin_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void xfrin_logf(dist_xfrin_t *x, const char *fmt, ...)
{
	if (x->log == NULL) {
		return;
	}
	char line[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	x->log(x->log_arg, line);
}

void xfrin_refuse(dist_xfrin_t *x, xfrin_zone_t *z, dist_xfrin_reason_t r, const char *fmt, ...)
{
	char why[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (z != NULL) {
		pthread_mutex_lock(&x->lock);
		z->st.refused[r]++;
		pthread_mutex_unlock(&x->lock);
	}
	xfrin_logf(x, "xfrin %s: refused (%s): %s", z != NULL ? z->name : "-",
		   dist_xfrin_reason_name(r), why);
}

/* Whether a TSIG record's time signed is within XFRIN_FUDGE of our clock. */
bool xfrin_tsig_time_ok(const ldns_rr *t)
{
	const ldns_rdf *tr = ldns_rr_rdf(t, 1);
	uint64_t at = 0;
	for (size_t i = 0; ldns_rdf_size(tr) == 6 && i < 6; i++) {
		at = (at << 8) | ldns_rdf_data(tr)[i];
	}
	uint64_t now = (uint64_t)time(NULL);
	return (now > at ? now - at : at - now) <= XFRIN_FUDGE;
}

/* ---- the copy: records in a tree ------------------------------------------------------ */

/*
 * A record of the copy is its uncompressed wire form (owner, type, class, TTL, RDATA length,
 * RDATA) in one allocation, the tree node's key: about a third of an ldns_rr's memory. Two
 * records are the same when owner (without case), type, class and RDATA are: the TTL is
 * not compared (an IXFR's delete names the record, whatever its TTL).
 */

/* The owner's length in a record's wire form (uncompressed, as ldns_rr2wire writes it). */
static size_t xfrin_owner_len(const uint8_t *b)
{
	size_t i = 0;
	while (b[i] != 0) {
		i += (size_t)b[i] + 1;
	}
	return i + 1;
}

/* The whole wire form's length. */
static size_t xfrin_blob_len(const uint8_t *b)
{
	size_t ol = xfrin_owner_len(b);
	return ol + 10 + (((size_t)b[ol + 8] << 8) | b[ol + 9]);
}

static int xfrin_rr_cmp(const void *pa, const void *pb)
{
	const uint8_t *a = pa, *b = pb;
	size_t la = xfrin_owner_len(a), lb = xfrin_owner_len(b);
	/* label lengths (0..63) are below 'A': lowering every byte lowers only letters */
	for (size_t i = 0; i < la && i < lb; i++) {
		int ca = a[i] >= 'A' && a[i] <= 'Z' ? a[i] + 32 : a[i];
		int cb = b[i] >= 'A' && b[i] <= 'Z' ? b[i] + 32 : b[i];
		if (ca != cb) {
			return ca < cb ? -1 : 1;
		}
	}
	if (la != lb) {
		return la < lb ? -1 : 1;
	}
	int c = memcmp(a + la, b + lb, 4); /* type, class */
	if (c != 0) {
		return c;
	}
	size_t ra = ((size_t)a[la + 8] << 8) | a[la + 9];
	size_t rb = ((size_t)b[lb + 8] << 8) | b[lb + 9];
	if (ra != rb) {
		return ra < rb ? -1 : 1;
	}
	return memcmp(a + la + 10, b + lb + 10, ra);
}

/* rr's wire form (the caller's, malloc'd to its size: ldns_rr2wire would hand over a
 * 64 KiB buffer per record). Errors: TANDEM_ENOMEM. */
static int xfrin_blob(const ldns_rr *rr, uint8_t **out)
{
	*out = NULL;
	ldns_buffer *b = ldns_buffer_new(256);
	if (b == NULL) {
		return TANDEM_ENOMEM;
	}
	int ret = TANDEM_ENOMEM;
	if (ldns_rr2buffer_wire(b, rr, LDNS_SECTION_ANSWER) == LDNS_STATUS_OK &&
	    (*out = malloc(ldns_buffer_position(b))) != NULL) {
		memcpy(*out, ldns_buffer_begin(b), ldns_buffer_position(b));
		ret = TANDEM_OK;
	}
	ldns_buffer_free(b);
	return ret;
}

static void xfrin_node_free(ldns_rbnode_t *n, void *arg)
{
	(void)arg;
	free((void *)n->key);
	free(n);
}

static void xfrin_tree_free(ldns_rbtree_t *t)
{
	if (t != NULL) {
		ldns_traverse_postorder(t, xfrin_node_free, NULL);
		free(t);
	}
}

/* A node holding rr's wire form. Errors: TANDEM_ENOMEM. */
static int xfrin_node_new(const ldns_rr *rr, ldns_rbnode_t **out)
{
	uint8_t *blob = NULL;
	ldns_rbnode_t *n = calloc(1, sizeof(*n));
	if (n == NULL || xfrin_blob(rr, &blob) != TANDEM_OK) {
		free(n);
		return TANDEM_ENOMEM;
	}
	n->key = blob;
	*out = n;
	return TANDEM_OK;
}

/* Puts a copy of rr in t; a record already there (TTL aside) is replaced. */
static int xfrin_tree_put(ldns_rbtree_t *t, const ldns_rr *rr)
{
	ldns_rbnode_t *n = NULL;
	int ret = xfrin_node_new(rr, &n);
	if (ret != TANDEM_OK) {
		return ret;
	}
	ldns_rbnode_t *old = ldns_rbtree_delete(t, n->key);
	if (old != NULL) {
		xfrin_node_free(old, NULL);
	}
	ldns_rbtree_insert(t, n);
	return TANDEM_OK;
}

/* Prints a record of the copy. Errors: TANDEM_DNS_EPARSE. */
static int xfrin_blob_print(FILE *fp, const uint8_t *b)
{
	ldns_rr *rr = NULL;
	size_t pos = 0;
	if (ldns_wire2rr(&rr, b, xfrin_blob_len(b), &pos, LDNS_SECTION_ANSWER) != LDNS_STATUS_OK) {
		return TANDEM_DNS_EPARSE;
	}
	ldns_rr_print(fp, rr);
	ldns_rr_free(rr);
	return TANDEM_OK;
}

static uint32_t xfrin_soa_serial(const ldns_rr *soa)
{
	return ldns_rdf2native_int32(ldns_rr_rdf(soa, 2));
}

/* Takes the refresh, retry and expire of soa, refresh and retry bounded. */
static void xfrin_soa_timers(dist_xfrin_t *x, xfrin_zone_t *z, const ldns_rr *soa)
{
	uint32_t refresh = ldns_rdf2native_int32(ldns_rr_rdf(soa, 3));
	uint32_t retry = ldns_rdf2native_int32(ldns_rr_rdf(soa, 4));
	z->refresh_s = refresh < x->rmin ? x->rmin : refresh > x->rmax ? x->rmax : refresh;
	z->retry_s = retry < x->rmin ? x->rmin : retry > x->rmax ? x->rmax : retry;
	z->expire_s = ldns_rdf2native_int32(ldns_rr_rdf(soa, 5));
}

/* Reads fp record by record into *soa and the tree t (never the whole zone as ldns records
 * at once). Returns NULL, or why not (*line: where). */
static const char *xfrin_read_zone(xfrin_zone_t *z, FILE *fp, ldns_rr **soa, ldns_rbtree_t *t,
				   int *line)
{
	uint32_t ttl = 3600;
	ldns_rdf *origin = ldns_rdf_clone(z->dname);
	ldns_rdf *prev = NULL;
	const char *why = origin == NULL ? "out of memory" : NULL;
	while (why == NULL && !feof(fp)) {
		ldns_rr *rr = NULL;
		ldns_status st = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &origin, &prev, line);
		if (st == LDNS_STATUS_SYNTAX_EMPTY || st == LDNS_STATUS_SYNTAX_TTL ||
		    st == LDNS_STATUS_SYNTAX_ORIGIN) {
			continue;
		}
		if (st != LDNS_STATUS_OK) {
			why = ldns_get_errorstr_by_id(st);
		} else if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && *soa == NULL &&
			   ldns_rr_rd_count(rr) == 7) {
			*soa = rr;
			rr = NULL;
		} else if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA) {
			why = "a second SOA";
		} else if (xfrin_tree_put(t, rr) != TANDEM_OK) {
			why = "out of memory";
		}
		ldns_rr_free(rr);
	}
	ldns_rdf_deep_free(origin);
	ldns_rdf_deep_free(prev);
	if (why == NULL && *soa == NULL) {
		why = "no SOA";
	}
	return why;
}

/* At start (and when someone replaced it): the input file, when there, is the copy IXFR
 * asks from. */
static void xfrin_load(dist_xfrin_t *x, xfrin_zone_t *z)
{
	uint64_t t0 = xfrin_mono_ms();
	FILE *fp = fopen(z->path, "r");
	if (fp == NULL) {
		return;
	}
	z->has_id = fstat(fileno(fp), &z->id) == 0;
	ldns_rr *soa = NULL;
	int line = 0;
	ldns_rbtree_t *t = ldns_rbtree_create(xfrin_rr_cmp);
	const char *why = t != NULL ? xfrin_read_zone(z, fp, &soa, t, &line) : "out of memory";
	fclose(fp);
	if (why != NULL) {
		xfrin_logf(x, "xfrin %s: %s:%d: %s; the first transfer is an AXFR", z->name,
			   z->path, line, why);
		ldns_rr_free(soa);
		xfrin_tree_free(t);
		return;
	}
	xfrin_logf(x, "xfrin %s: %zu records of serial %" PRIu32 " read back from %s (%.2f s)",
		   z->name, (size_t)t->count + 1, xfrin_soa_serial(soa), z->path,
		   (double)(xfrin_mono_ms() - t0) / 1000.0);
	z->soa = soa;
	z->rrs = t;
	xfrin_soa_timers(x, z, z->soa);
	/* the copy counts as fresh at start: the expire runs from there */
	z->last_ok_mono_ms = xfrin_mono_ms();
	pthread_mutex_lock(&x->lock);
	z->st.has_serial = true;
	z->st.serial = xfrin_soa_serial(z->soa);
	pthread_mutex_unlock(&x->lock);
}

/* Writes the copy over the input file: temp, fsync, rename. */
static int xfrin_write(xfrin_zone_t *z)
{
	tandem_afile_t *f = NULL;
	int ret = tandem_afile_open(z->path, 0644, &f);
	if (ret != TANDEM_OK) {
		return ret;
	}
	FILE *fp = tandem_afile_stream(f);
	ldns_rr_print(fp, z->soa);
	bool bad = false;
	for (ldns_rbnode_t *n = ldns_rbtree_first(z->rrs); n != LDNS_RBTREE_NULL && !bad;
	     n = ldns_rbtree_next(n)) {
		bad = xfrin_blob_print(fp, n->key) != TANDEM_OK;
	}
	if (bad || ferror(fp)) {
		tandem_afile_abort(f);
		return TANDEM_EIO;
	}
	ret = tandem_afile_commit(f);
	z->has_id = ret == TANDEM_OK && stat(z->path, &z->id) == 0;
	return ret;
}

/* ---- queries and answers --------------------------------------------------------------- */

/* A query for z (type, and for IXFR the SOA held in authority), TSIG-signed; *mac is the
 * query's MAC (the caller's). */
static int xfrin_query(dist_xfrin_t *x, xfrin_zone_t *z, ldns_rr_type type, uint16_t *id,
		       uint8_t **wire, size_t *len, ldns_rdf **mac)
{
	ldns_pkt *q = ldns_pkt_query_new(ldns_rdf_clone(z->dname), type, LDNS_RR_CLASS_IN, 0);
	if (q == NULL) {
		return TANDEM_ENOMEM;
	}
	int ret = TANDEM_ENOMEM;
	ldns_pkt_set_random_id(q);
	*id = ldns_pkt_id(q);
	if (type == LDNS_RR_TYPE_IXFR) {
		ldns_rr *soa = ldns_rr_clone(z->soa);
		if (soa == NULL || !ldns_pkt_push_rr(q, LDNS_SECTION_AUTHORITY, soa)) {
			ldns_rr_free(soa);
			goto out;
		}
	}
	ret = TANDEM_CRYPTO_ELIB;
	if (ldns_pkt_tsig_sign(q, x->key->name, x->key->secret, XFRIN_FUDGE, x->key->alg, NULL) !=
	    LDNS_STATUS_OK) {
		goto out;
	}
	*mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(q), 3));
	ret = TANDEM_ENOMEM;
	if (*mac == NULL || ldns_pkt2wire(wire, q, len) != LDNS_STATUS_OK) {
		ldns_rdf_deep_free(*mac);
		*mac = NULL;
		goto out;
	}
	ret = TANDEM_OK;
out:
	ldns_pkt_free(q);
	return ret;
}

/* The messages of a transfer left unsigned since its last signed one (RFC 8945 5.3.1): the
 * next signed message's MAC covers them as received. */
typedef struct xfrin_unsigned {
	uint8_t *buf;
	size_t len, cap;
	unsigned n;
} xfrin_unsigned_t;

/* At most this many messages in a row may be unsigned (RFC 8945 5.3.1: 99). */
#define XFRIN_UNSIGNED_MAX 99u

/* Keeps an unsigned message for the next MAC. Errors: TANDEM_ENOMEM. */
static int xfrin_unsigned_put(xfrin_unsigned_t *u, const uint8_t *wire, size_t len)
{
	if (u->len + len > u->cap) {
		size_t cap = u->cap != 0 ? u->cap : 65536;
		while (cap < u->len + len) {
			cap *= 2;
		}
		uint8_t *b = realloc(u->buf, cap);
		if (b == NULL) {
			return TANDEM_ENOMEM;
		}
		u->buf = b;
		u->cap = cap;
	}
	memcpy(u->buf + u->len, wire, len);
	u->len += len;
	u->n++;
	return TANDEM_OK;
}

/* Checks one answer message: its id, its question, its TSIG (over prev, the query's or the
 * previous message's MAC, which it replaces). NULL when good, else why (*r the reason).
 * u (a transfer's: NULL for a single answer): a later message may come unsigned, kept in u
 * (*is_signed false) for the next signed one, whose MAC covers it. */
static const char *xfrin_check(dist_xfrin_t *x, xfrin_zone_t *z, const ldns_pkt *p,
			       const uint8_t *wire, size_t len, uint16_t id, ldns_rr_type type,
			       ldns_rdf **prev, bool first, xfrin_unsigned_t *u, bool *is_signed,
			       dist_xfrin_reason_t *r)
{
	*is_signed = false;
	*r = DIST_XFRIN_MALFORMED;
	if (!ldns_pkt_qr(p) || ldns_pkt_id(p) != id) {
		return "not an answer to our query (id or QR)";
	}
	const ldns_rr *q = ldns_rr_list_rr(ldns_pkt_question(p), 0);
	if ((first || q != NULL) && (q == NULL || ldns_rr_get_type(q) != type ||
				     ldns_dname_compare(ldns_rr_owner(q), z->dname) != 0)) {
		return "the question is not ours";
	}
	*r = DIST_XFRIN_TSIG;
	const ldns_rr *t = ldns_pkt_tsig(p);
	if (t == NULL && u != NULL && !first) {
		if (u->n >= XFRIN_UNSIGNED_MAX) {
			return "100 messages in a row without TSIG (RFC 8945 5.3.1 allows 99)";
		}
		if (xfrin_unsigned_put(u, wire, len) != TANDEM_OK) {
			*r = DIST_XFRIN_MALFORMED;
			return "out of memory";
		}
		if (ldns_pkt_get_rcode(p) != LDNS_RCODE_NOERROR) {
			*r = DIST_XFRIN_RCODE;
			return "error";
		}
		return NULL; /* its records count once a later MAC covers it */
	}
	if (t == NULL || ldns_rr_rd_count(t) < 7) {
		return first ? "an answer without TSIG (the first message must be signed)"
			     : "an answer message without TSIG";
	}
	if (u != NULL && u->n > 0) {
		/* after unsigned messages: the MAC covers them too (ldns cannot say so) */
		if (dist_tsig_verify_after(wire, len, x->key, ldns_rdf_data(*prev),
					   ldns_rdf_size(*prev), u->buf, u->len) != TANDEM_OK) {
			return "the TSIG MAC does not verify over the unsigned messages before it "
			       "(BADSIG, or another key)";
		}
		u->len = 0;
		u->n = 0;
	} else if (!dist_tsig_verify_next((ldns_pkt *)p, wire, len, x->key->name, x->key->secret,
					  *prev, !first)) {
		/* (a non-const packet: ldns may take the TSIG off it, which is put back) */
		return "the TSIG MAC does not verify (BADSIG, or another key)";
	}
	*is_signed = true;
	if (!xfrin_tsig_time_ok(t)) {
		return "the TSIG time is outside the fudge (BADTIME)";
	}
	ldns_rdf *m = ldns_rdf_clone(ldns_rr_rdf(t, 3));
	if (m == NULL) {
		*r = DIST_XFRIN_MALFORMED;
		return "out of memory";
	}
	ldns_rdf_deep_free(*prev);
	*prev = m;
	if (ldns_pkt_get_rcode(p) != LDNS_RCODE_NOERROR) {
		*r = DIST_XFRIN_RCODE;
		return "error";
	}
	return NULL;
}

static const char *xfrin_rcode_name(const ldns_pkt *p)
{
	ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, (int)ldns_pkt_get_rcode(p));
	return lt != NULL ? lt->name : "?";
}

/* The primary's SOA over UDP. TANDEM_OK with *soa (the caller's), or refused (logged,
 * counted) with TANDEM_EIO. */
static int xfrin_soa(dist_xfrin_t *x, xfrin_zone_t *z, ldns_rr **soa)
{
	int ret = TANDEM_EIO;
	uint8_t *wire = NULL;
	size_t len = 0;
	ldns_rdf *mac = NULL;
	uint16_t id = 0;
	ldns_pkt *p = NULL;
	int fd = -1;
	if (xfrin_query(x, z, LDNS_RR_TYPE_SOA, &id, &wire, &len, &mac) != TANDEM_OK) {
		xfrin_refuse(x, z, DIST_XFRIN_MALFORMED, "cannot build the SOA query");
		goto out;
	}
	fd = socket(z->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&z->addr, z->addrlen) != 0) {
		xfrin_refuse(x, z, DIST_XFRIN_UNREACHABLE, "SOA query to %s: %s", z->primary,
			     strerror(errno));
		goto out;
	}
	uint8_t buf[XFRIN_MSG_MAX];
	int err = 0; /* the last send or receive error (ECONNREFUSED: nothing listens) */
	for (int tries = 0; tries < XFRIN_UDP_TRIES; tries++) {
		if (send(fd, wire, len, 0) < 0) {
			err = errno;
			continue;
		}
		uint64_t until = xfrin_mono_ms() + XFRIN_UDP_WAIT_MS;
		for (uint64_t now = xfrin_mono_ms(); now < until; now = xfrin_mono_ms()) {
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			if (poll(&pfd, 1, (int)(until - now)) <= 0) {
				continue;
			}
			ssize_t got = recv(fd, buf, sizeof(buf), 0);
			if (got < 0) {
				err = errno;
				break; /* an ICMP error: the next try */
			}
			if (dist_wire2pkt(&p, buf, (size_t)got) != LDNS_STATUS_OK) {
				p = NULL;
				continue; /* noise: wait for the answer */
			}
			if (!ldns_pkt_qr(p) || ldns_pkt_id(p) != id) {
				ldns_pkt_free(p);
				p = NULL;
				continue;
			}
			dist_xfrin_reason_t r;
			bool is_signed = false;
			const char *why =
			    xfrin_check(x, z, p, buf, (size_t)got, id, LDNS_RR_TYPE_SOA, &mac, true,
					NULL, &is_signed, &r);
			if (why != NULL) {
				xfrin_refuse(x, z, r, "SOA answer from %s: %s%s%s", z->primary, why,
					     r == DIST_XFRIN_RCODE ? " " : "",
					     r == DIST_XFRIN_RCODE ? xfrin_rcode_name(p) : "");
				goto out;
			}
			const ldns_rr *a = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
			if (a == NULL || ldns_rr_get_type(a) != LDNS_RR_TYPE_SOA ||
			    ldns_rr_rd_count(a) != 7 ||
			    ldns_dname_compare(ldns_rr_owner(a), z->dname) != 0) {
				xfrin_refuse(x, z, DIST_XFRIN_MALFORMED,
					     "SOA answer from %s holds no SOA of the zone",
					     z->primary);
				goto out;
			}
			*soa = ldns_rr_clone(a);
			ret = *soa != NULL ? TANDEM_OK : TANDEM_ENOMEM;
			goto out;
		}
	}
	xfrin_refuse(x, z, DIST_XFRIN_UNREACHABLE, "no answer from %s to %d SOA queries%s%s",
		     z->primary, XFRIN_UDP_TRIES, err != 0 ? ": " : "",
		     err != 0 ? strerror(err) : "");
out:
	if (fd >= 0) {
		close(fd);
	}
	ldns_pkt_free(p);
	ldns_rdf_deep_free(mac);
	free(wire);
	return ret;
}

static bool xfrin_stopping(dist_xfrin_t *x)
{
	pthread_mutex_lock(&x->lock);
	bool stop = x->stop;
	pthread_mutex_unlock(&x->lock);
	return stop;
}

/* A TCP connection to z's primary within XFRIN_CONNECT_MS (a stop is seen within a second:
 * a blackholed primary never holds the node's shutdown for the kernel's SYN timeout).
 * Returns the socket (blocking again), or -1 with errno set. */
static int xfrin_connect(dist_xfrin_t *x, const xfrin_zone_t *z)
{
	int fd = socket(z->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)&z->addr, z->addrlen) != 0) {
		if (errno != EINPROGRESS) {
			goto fail;
		}
		int pr = 0;
		for (int waited = 0; waited < XFRIN_CONNECT_MS; waited += 1000) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			if ((pr = poll(&pfd, 1, 1000)) != 0 || xfrin_stopping(x)) {
				break;
			}
		}
		int err = 0;
		socklen_t el = sizeof(err);
		if (pr <= 0) {
			errno = pr == 0 ? ETIMEDOUT : errno;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
			errno = err != 0 ? err : errno;
			goto fail;
		}
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
		goto fail;
	}
	return fd;
fail:;
	int e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* Reads exactly n bytes within the wait, or fails (false). */
static bool xfrin_read(dist_xfrin_t *x, int fd, uint8_t *buf, size_t n)
{
	size_t have = 0;
	while (have < n) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int waited = 0;
		int pr = 0;
		/* in steps of a second, so that a stop is seen */
		while ((pr = poll(&pfd, 1, 1000)) == 0 && waited < XFRIN_TCP_WAIT_MS) {
			waited += 1000;
			if (xfrin_stopping(x)) {
				return false;
			}
		}
		if (pr <= 0) {
			return false;
		}
		ssize_t got = read(fd, buf + have, n - have);
		if (got <= 0) {
			return false;
		}
		have += (size_t)got;
	}
	return true;
}

/* A transfer's records as received, the final SOA included. */
typedef struct xfrin_rrs {
	ldns_rr **rr; /* changesets: every record; the whole zone: its two SOAs */
	size_t n, cap;
	bool axfr_style;     /* the whole zone (else changesets) */
	ldns_rbtree_t *zone; /* the whole zone: its records (the SOA apart) as they come */
} xfrin_rrs_t;

static void xfrin_rrs_free(xfrin_rrs_t *l)
{
	for (size_t i = 0; i < l->n; i++) {
		ldns_rr_free(l->rr[i]);
	}
	free(l->rr);
	xfrin_tree_free(l->zone);
	memset(l, 0, sizeof(*l));
}

static int xfrin_rrs_push(xfrin_rrs_t *l, ldns_rr *rr)
{
	if (l->n == l->cap) {
		size_t cap = l->cap != 0 ? l->cap * 2 : 256;
		ldns_rr **n = realloc(l->rr, cap * sizeof(*n));
		if (n == NULL) {
			ldns_rr_free(rr);
			return TANDEM_ENOMEM;
		}
		l->rr = n;
		l->cap = cap;
	}
	l->rr[l->n++] = rr;
	return TANDEM_OK;
}

/*
 * One transfer over TCP (type AXFR or IXFR), every message checked, into *l until its last
 * SOA (serial want). TANDEM_OK, or refused (logged, counted): TANDEM_EIO; XFRIN_ASK_AXFR
 * when an IXFR was answered NOTIMP, FORMERR or REFUSED (the caller asks for AXFR).
 */
static int xfrin_transfer(dist_xfrin_t *x, xfrin_zone_t *z, ldns_rr_type type, uint32_t want,
			  xfrin_rrs_t *l)
{
	int ret = TANDEM_EIO;
	uint8_t *wire = NULL;
	size_t len = 0;
	ldns_rdf *mac = NULL;
	uint16_t id = 0;
	int fd = -1;
	uint8_t *buf = NULL;
	const char *tname = type == LDNS_RR_TYPE_IXFR ? "IXFR" : "AXFR";
	unsigned msgs = 0, want_soas = 2, soas = 0;
	bool done = false;
	xfrin_unsigned_t unsig = {0};
	if (xfrin_query(x, z, type, &id, &wire, &len, &mac) != TANDEM_OK ||
	    (buf = malloc(XFRIN_MSG_MAX + 2)) == NULL) {
		xfrin_refuse(x, z, DIST_XFRIN_MALFORMED, "cannot build the %s query", tname);
		goto out;
	}
	fd = xfrin_connect(x, z);
	if (fd < 0) {
		xfrin_refuse(x, z, DIST_XFRIN_UNREACHABLE, "%s from %s: connect: %s", tname,
			     z->primary, strerror(errno));
		goto out;
	}
	uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};
	if (write(fd, hdr, 2) != 2 || write(fd, wire, len) != (ssize_t)len) {
		xfrin_refuse(x, z, DIST_XFRIN_UNREACHABLE, "%s from %s: send: %s", tname,
			     z->primary, strerror(errno));
		goto out;
	}
	while (!done) {
		if (!xfrin_read(x, fd, hdr, 2)) {
			xfrin_refuse(
			    x, z, DIST_XFRIN_TRUNCATED,
			    "%s from %s broke off after %u messages and %zu records, before "
			    "its last SOA",
			    tname, z->primary, msgs, l->n);
			goto out;
		}
		size_t mlen = ((size_t)hdr[0] << 8) | hdr[1];
		if (mlen < LDNS_HEADER_SIZE || !xfrin_read(x, fd, buf, mlen)) {
			xfrin_refuse(
			    x, z, DIST_XFRIN_TRUNCATED,
			    "%s from %s broke off inside message %u (%zu records received), "
			    "before its last SOA",
			    tname, z->primary, msgs + 1, l->n);
			goto out;
		}
		ldns_pkt *p = NULL;
		if (dist_wire2pkt(&p, buf, mlen) != LDNS_STATUS_OK) {
			xfrin_refuse(x, z, DIST_XFRIN_MALFORMED, "%s from %s: message %u malformed",
				     tname, z->primary, msgs + 1);
			goto out;
		}
		dist_xfrin_reason_t r;
		bool is_signed = false;
		const char *why = xfrin_check(x, z, p, buf, mlen, id, type, &mac, msgs == 0, &unsig,
					      &is_signed, &r);
		if (why != NULL) {
			ldns_pkt_rcode rc = ldns_pkt_get_rcode(p);
			if (r == DIST_XFRIN_RCODE && type == LDNS_RR_TYPE_IXFR &&
			    (rc == LDNS_RCODE_NOTIMPL || rc == LDNS_RCODE_FORMERR ||
			     rc == LDNS_RCODE_REFUSED)) {
				xfrin_logf(x, "xfrin %s: %s answered IXFR with %s; asking AXFR",
					   z->name, z->primary, xfrin_rcode_name(p));
				ret = XFRIN_ASK_AXFR;
			} else {
				xfrin_refuse(x, z, r, "%s from %s: message %u: %s%s%s", tname,
					     z->primary, msgs + 1, why,
					     r == DIST_XFRIN_RCODE ? " " : "",
					     r == DIST_XFRIN_RCODE ? xfrin_rcode_name(p) : "");
			}
			ldns_pkt_free(p);
			goto out;
		}
		msgs++;
		ldns_rr_list *an = ldns_pkt_answer(p);
		for (size_t i = 0; i < ldns_rr_list_rr_count(an) && !done; i++) {
			ldns_rr *rr = ldns_rr_list_rr(an, i);
			bool is_soa =
			    ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && ldns_rr_rd_count(rr) == 7;
			if (l->n == 0 && (!is_soa || xfrin_soa_serial(rr) != want ||
					  ldns_dname_compare(ldns_rr_owner(rr), z->dname) != 0)) {
				xfrin_refuse(
				    x, z, DIST_XFRIN_MALFORMED,
				    "%s from %s does not start with the zone's SOA of serial "
				    "%" PRIu32,
				    tname, z->primary, want);
				ldns_pkt_free(p);
				goto out;
			}
			if (l->n == 1) {
				/* RFC 1995 4: an old SOA second means changesets */
				l->axfr_style = !(type == LDNS_RR_TYPE_IXFR && is_soa &&
						  xfrin_soa_serial(rr) != want);
				want_soas = l->axfr_style ? 2 : 3;
			}
			bool closing = is_soa && xfrin_soa_serial(rr) == want;
			soas += closing ? 1 : 0;
			if (l->axfr_style && l->n >= 1 && !closing) {
				/* the whole zone goes straight into a tree: never two copies */
				if (is_soa) {
					xfrin_refuse(x, z, DIST_XFRIN_MALFORMED,
						     "%s from %s: a second SOA inside the zone",
						     tname, z->primary);
					ldns_pkt_free(p);
					goto out;
				}
				if ((l->zone == NULL &&
				     (l->zone = ldns_rbtree_create(xfrin_rr_cmp)) == NULL) ||
				    xfrin_tree_put(l->zone, rr) != TANDEM_OK) {
					ldns_pkt_free(p);
					xfrin_refuse(x, z, DIST_XFRIN_MALFORMED, "out of memory");
					goto out;
				}
				continue;
			}
			if (xfrin_rrs_push(l, ldns_rr_clone(rr)) != TANDEM_OK) {
				ldns_pkt_free(p);
				xfrin_refuse(x, z, DIST_XFRIN_MALFORMED, "out of memory");
				goto out;
			}
			done = soas == want_soas;
			if (done && i + 1 < ldns_rr_list_rr_count(an)) {
				ldns_pkt_free(p);
				xfrin_refuse(x, z, DIST_XFRIN_MALFORMED,
					     "%s from %s: records after its last SOA", tname,
					     z->primary);
				goto out;
			}
		}
		ldns_pkt_free(p);
		if (done && !is_signed) {
			xfrin_refuse(
			    x, z, DIST_XFRIN_TSIG,
			    "%s from %s: its last message (%u) is unsigned (RFC 8945 5.3.1: "
			    "the last must be signed)",
			    tname, z->primary, msgs);
			goto out;
		}
	}
	ret = TANDEM_OK;
out:
	if (fd >= 0) {
		close(fd);
	}
	free(unsig.buf);
	free(buf);
	ldns_rdf_deep_free(mac);
	free(wire);
	return ret;
}

/* ---- applying what came --------------------------------------------------------------- */

/* The whole zone (l: its SOA, its records in l->zone, the closing SOA) replaces the copy. */
static int xfrin_take_axfr(xfrin_zone_t *z, xfrin_rrs_t *l)
{
	if (l->zone == NULL && (l->zone = ldns_rbtree_create(xfrin_rr_cmp)) == NULL) {
		return TANDEM_ENOMEM;
	}
	xfrin_tree_free(z->rrs);
	ldns_rr_free(z->soa);
	z->rrs = l->zone;
	l->zone = NULL;
	z->soa = l->rr[0];
	l->rr[0] = NULL;
	return TANDEM_OK;
}

/* A node's data while an IXFR is applied: NULL for a record held before it, else one of
 * these (reset once applied): what the net difference handed to the node is made of. */
static char xfrin_mark_added, xfrin_mark_gone;

/* One step of applying changesets, in order, so that a failure undoes them newest first. */
typedef struct xfrin_op {
	ldns_rbnode_t *node;
	bool added; /* else removed */
} xfrin_op_t;

typedef struct xfrin_ops {
	xfrin_op_t *op;
	size_t n, cap;
} xfrin_ops_t;

static int xfrin_op_push(xfrin_ops_t *o, ldns_rbnode_t *node, bool added)
{
	if (o->n == o->cap) {
		size_t cap = o->cap != 0 ? o->cap * 2 : 64;
		xfrin_op_t *n = realloc(o->op, cap * sizeof(*n));
		if (n == NULL) {
			return TANDEM_ENOMEM;
		}
		o->op = n;
		o->cap = cap;
	}
	o->op[o->n++] = (xfrin_op_t){.node = node, .added = added};
	return TANDEM_OK;
}

/* Takes rr's record out of the copy (its node kept in the op log); *found: it was there. */
static int xfrin_remove(xfrin_zone_t *z, xfrin_ops_t *o, const ldns_rr *rr, bool *found)
{
	uint8_t *key = NULL;
	*found = false;
	if (xfrin_blob(rr, &key) != TANDEM_OK) {
		return TANDEM_ENOMEM;
	}
	ldns_rbnode_t *n = ldns_rbtree_delete(z->rrs, key);
	free(key);
	*found = n != NULL;
	if (n == NULL) {
		return TANDEM_OK;
	}
	if (n->data == &xfrin_mark_added) {
		n->data = &xfrin_mark_gone; /* added by this IXFR, taken out again: no change */
	}
	int ret = xfrin_op_push(o, n, false);
	if (ret != TANDEM_OK) {
		ldns_rbtree_insert(z->rrs, n);
	}
	return ret;
}

/* Puts rr's record in the copy (replacing one held with another TTL), logged in o. */
static int xfrin_add(xfrin_zone_t *z, xfrin_ops_t *o, const ldns_rr *rr)
{
	bool found = false;
	int ret = xfrin_remove(z, o, rr, &found);
	ldns_rbnode_t *n = NULL;
	if (ret != TANDEM_OK || (ret = xfrin_node_new(rr, &n)) != TANDEM_OK) {
		return ret;
	}
	if ((ret = xfrin_op_push(o, n, true)) != TANDEM_OK) {
		xfrin_node_free(n, NULL);
		return ret;
	}
	n->data = &xfrin_mark_added;
	ldns_rbtree_insert(z->rrs, n);
	return TANDEM_OK;
}

/* Says why in why, with the record. */
static void xfrin_why_rr(char *why, size_t size, const char *what, const ldns_rr *rr)
{
	char *s = ldns_rr2str(rr);
	size_t sl = s != NULL ? strlen(s) : 0;
	if (sl > 0 && s[sl - 1] == '\n') {
		s[sl - 1] = '\0';
	}
	snprintf(why, size, "%s: %.200s", what, s != NULL ? s : "?");
	free(s);
}

/* A record of the copy (its wire form b) in canonical form (RFC 4034 6.2: owner and the
 * names in RDATA lowercased), as the node's zone holds it, into cs. Errors:
 * TANDEM_DNS_EPARSE, TANDEM_ENOMEM, dns_changeset_add's. */
static int xfrin_cs_put(dns_changeset_t *cs, int side, const uint8_t *b)
{
	ldns_rr *rr = NULL;
	uint8_t *c = NULL;
	size_t pos = 0;
	if (ldns_wire2rr(&rr, b, xfrin_blob_len(b), &pos, LDNS_SECTION_ANSWER) != LDNS_STATUS_OK) {
		return TANDEM_DNS_EPARSE;
	}
	ldns_rr2canonical(rr);
	int ret = xfrin_blob(rr, &c);
	ldns_rr_free(rr);
	if (ret != TANDEM_OK) {
		return ret;
	}
	size_t ol = xfrin_owner_len(c);
	dns_rr_t r = {.owner = c,
		      .type = (uint16_t)((c[ol] << 8) | c[ol + 1]),
		      .rclass = (uint16_t)((c[ol + 2] << 8) | c[ol + 3]),
		      .ttl = ((uint32_t)c[ol + 4] << 24) | ((uint32_t)c[ol + 5] << 16) |
			     ((uint32_t)c[ol + 6] << 8) | c[ol + 7],
		      .rdata = c + ol + 8};
	ret = side == 0   ? dns_changeset_set_soa(cs, false, &r)
	      : side == 1 ? dns_changeset_set_soa(cs, true, &r)
			  : dns_changeset_add(cs, side == 3, &r);
	free(c);
	return ret;
}

/* An ldns record into cs (side as xfrin_cs_put's). */
static int xfrin_cs_put_rr(dns_changeset_t *cs, int side, const ldns_rr *rr)
{
	uint8_t *b = NULL;
	int ret = xfrin_blob(rr, &b);
	if (ret == TANDEM_OK) {
		ret = xfrin_cs_put(cs, side, b);
	}
	free(b);
	return ret;
}

/* The net difference of an IXFR just applied (o: its steps; old and new SOA): the records
 * held before that it took out, and those it put in that stay. NULL when it cannot be made
 * (the node then reads the file, as without one). */
static dns_changeset_t *xfrin_changeset(const xfrin_ops_t *o, const ldns_rr *old_soa,
					const ldns_rr *new_soa)
{
	dns_changeset_t *cs = NULL;
	int ret = dns_changeset_new(&cs);
	if (ret == TANDEM_OK) {
		ret = xfrin_cs_put_rr(cs, 0, old_soa);
	}
	if (ret == TANDEM_OK) {
		ret = xfrin_cs_put_rr(cs, 1, new_soa);
	}
	for (size_t k = 0; k < o->n && ret == TANDEM_OK; k++) {
		const ldns_rbnode_t *n = o->op[k].node;
		if (!o->op[k].added && n->data == NULL) {
			ret = xfrin_cs_put(cs, 2, n->key); /* held before, taken out */
		} else if (o->op[k].added && n->data == &xfrin_mark_added) {
			ret = xfrin_cs_put(cs, 3, n->key); /* put in, and still there */
		}
	}
	if (ret != TANDEM_OK) {
		dns_changeset_free(cs);
		return NULL;
	}
	return cs;
}

/*
 * Applies the changesets of l (SOA new, then per changeset: old SOA, removed, new SOA,
 * added; then SOA new) to the copy. When one does not apply (its old serial is not the
 * one held, it deletes a record not there), everything is undone and it is refused.
 */
static int xfrin_apply_ixfr(dist_xfrin_t *x, xfrin_zone_t *z, xfrin_rrs_t *l, size_t *changes,
			    dns_changeset_t **cs)
{
	xfrin_ops_t o = {0};
	int ret = TANDEM_EIO;
	uint32_t cur = xfrin_soa_serial(z->soa);
	size_t i = 1;
	size_t last = l->n - 1; /* the closing SOA */
	char why[300] = "";
	bool found = false;
	*changes = 0;
	*cs = NULL;
	while (i < last) {
		ldns_rr *old = l->rr[i++];
		if (ldns_rr_get_type(old) != LDNS_RR_TYPE_SOA || xfrin_soa_serial(old) != cur) {
			snprintf(
			    why, sizeof(why),
			    "a changeset starts at serial %" PRIu32 ", the copy is at %" PRIu32,
			    ldns_rr_get_type(old) == LDNS_RR_TYPE_SOA ? xfrin_soa_serial(old) : 0,
			    cur);
			goto out;
		}
		for (; i < last && ldns_rr_get_type(l->rr[i]) != LDNS_RR_TYPE_SOA; i++) {
			if ((ret = xfrin_remove(z, &o, l->rr[i], &found)) != TANDEM_OK) {
				goto out;
			}
			ret = TANDEM_EIO;
			if (!found) {
				xfrin_why_rr(why, sizeof(why), "it deletes a record not there",
					     l->rr[i]);
				goto out;
			}
			(*changes)++;
		}
		if (i >= last) {
			snprintf(why, sizeof(why), "a changeset without its new SOA");
			goto out;
		}
		ldns_rr *nsoa = l->rr[i++];
		if (!tandem_serial_gt(xfrin_soa_serial(nsoa), cur)) {
			snprintf(why, sizeof(why),
				 "a changeset from %" PRIu32 " to %" PRIu32 " goes back", cur,
				 xfrin_soa_serial(nsoa));
			goto out;
		}
		cur = xfrin_soa_serial(nsoa);
		for (; i < last && ldns_rr_get_type(l->rr[i]) != LDNS_RR_TYPE_SOA; i++) {
			if ((ret = xfrin_add(z, &o, l->rr[i])) != TANDEM_OK) {
				goto out;
			}
			ret = TANDEM_EIO;
			(*changes)++;
		}
	}
	if (cur != xfrin_soa_serial(l->rr[last])) {
		snprintf(why, sizeof(why), "its changesets end at %" PRIu32 ", not %" PRIu32, cur,
			 xfrin_soa_serial(l->rr[last]));
		goto out;
	}
	/* applied: its net difference for the node (when it takes one), then the records
	 * taken out go (an added one taken out again too) */
	*cs = x->ixfr != NULL ? xfrin_changeset(&o, z->soa, l->rr[0]) : NULL;
	for (size_t k = 0; k < o.n; k++) {
		if (!o.op[k].added) {
			xfrin_node_free(o.op[k].node, NULL);
		} else {
			o.op[k].node->data = NULL;
		}
	}
	ldns_rr_free(z->soa);
	z->soa = l->rr[0];
	l->rr[0] = NULL;
	o.n = 0;
	ret = TANDEM_OK;
out:
	/* undo, newest first: each step's opposite, on the tree as that step left it */
	for (size_t k = o.n; k > 0; k--) {
		xfrin_op_t *op = &o.op[k - 1];
		if (op->added) {
			xfrin_node_free(ldns_rbtree_delete(z->rrs, op->node->key), NULL);
		} else {
			ldns_rbtree_insert(z->rrs, op->node);
		}
	}
	free(o.op);
	if (ret != TANDEM_OK && why[0] != '\0') {
		xfrin_refuse(x, z, DIST_XFRIN_IXFR_APPLY, "IXFR from %s to serial %" PRIu32 ": %s",
			     z->primary, xfrin_soa_serial(l->rr[0]), why);
	}
	return ret;
}

/* The input file replaced by someone else since the copy was read or written (an operator
 * putting a file in place): the copy becomes that file again, so that an IXFR applies to
 * what the node reads; a file gone: no copy (AXFR). */
static void xfrin_recheck_file(dist_xfrin_t *x, xfrin_zone_t *z)
{
	struct stat st;
	bool there = stat(z->path, &st) == 0;
	if (z->soa == NULL ||
	    (there && z->has_id && st.st_dev == z->id.st_dev && st.st_ino == z->id.st_ino &&
	     st.st_size == z->id.st_size && st.st_mtim.tv_sec == z->id.st_mtim.tv_sec &&
	     st.st_mtim.tv_nsec == z->id.st_mtim.tv_nsec)) {
		return;
	}
	xfrin_logf(x, "xfrin %s: %s %s since it was last read or written: %s", z->name, z->path,
		   there ? "changed" : "is gone",
		   there ? "read again" : "the next transfer is an AXFR");
	ldns_rr_free(z->soa);
	xfrin_tree_free(z->rrs);
	z->soa = NULL;
	z->rrs = NULL;
	z->has_id = false;
	if (there) {
		xfrin_load(x, z);
	}
	pthread_mutex_lock(&x->lock);
	z->st.has_serial = z->soa != NULL;
	z->st.serial = z->soa != NULL ? xfrin_soa_serial(z->soa) : 0;
	pthread_mutex_unlock(&x->lock);
}

/* ---- one check of a primary ----------------------------------------------------------- */

/* Asks the primary's SOA, transfers when it is newer, writes the file. Returns the
 * milliseconds until the next check. */
static uint64_t xfrin_check_zone(dist_xfrin_t *x, xfrin_zone_t *z)
{
	ldns_rr *soa = NULL;
	xfrin_rrs_t l = {0};
	dns_changeset_t *cs = NULL; /* an IXFR's net difference, for the node */
	uint64_t next = (uint64_t)(z->retry_s != 0 ? z->retry_s : x->rmin) * 1000u;
	if (xfrin_soa(x, z, &soa) != TANDEM_OK) {
		goto out;
	}
	z->last_ok_mono_ms = xfrin_mono_ms();
	pthread_mutex_lock(&x->lock);
	z->st.last_ok_wall_s = (uint64_t)time(NULL);
	z->st.expired = false;
	pthread_mutex_unlock(&x->lock);
	xfrin_soa_timers(x, z, soa);
	uint32_t want = xfrin_soa_serial(soa);
	next = (uint64_t)z->refresh_s * 1000u;
	xfrin_recheck_file(x, z);
	if (z->soa != NULL && !tandem_serial_gt(want, xfrin_soa_serial(z->soa))) {
		/* up to date, or the primary is behind: never go back (said once per serial) */
		if (want != xfrin_soa_serial(z->soa) && want != z->behind_said) {
			z->behind_said = want;
			xfrin_logf(x,
				   "xfrin %s: %s answers serial %" PRIu32 ", not above %" PRIu32
				   " held: not taken (serials only rise)",
				   z->name, z->primary, want, xfrin_soa_serial(z->soa));
		}
		goto out;
	}
	next = (uint64_t)z->retry_s * 1000u;
	const char *how = "AXFR";
	uint64_t t0 = xfrin_mono_ms();
	uint32_t from = z->soa != NULL ? xfrin_soa_serial(z->soa) : 0;
	size_t changes = 0;
	int ret = XFRIN_ASK_AXFR;
	if (z->soa != NULL) {
		ret = xfrin_transfer(x, z, LDNS_RR_TYPE_IXFR, want, &l);
		if (ret == TANDEM_OK && !l.axfr_style) {
			how = "IXFR";
			ret = xfrin_apply_ixfr(x, z, &l, &changes, &cs);
		} else if (ret == TANDEM_OK) {
			how = "IXFR (the whole zone)";
			ret = xfrin_take_axfr(z, &l);
		} else if (ret == TANDEM_EIO) {
			goto out; /* refused: the next try at the retry timer */
		}
		if (ret != TANDEM_OK) {
			xfrin_rrs_free(&l);
			ret = XFRIN_ASK_AXFR; /* did not apply: the whole zone instead */
		}
	}
	if (ret == XFRIN_ASK_AXFR) {
		how = "AXFR";
		ret = xfrin_transfer(x, z, LDNS_RR_TYPE_AXFR, want, &l);
		if (ret == TANDEM_OK && !l.axfr_style) {
			xfrin_refuse(x, z, DIST_XFRIN_MALFORMED, "AXFR from %s is not a zone",
				     z->primary);
			ret = TANDEM_EIO;
		}
		if (ret == TANDEM_OK) {
			ret = xfrin_take_axfr(z, &l);
		}
		if (ret != TANDEM_OK) {
			goto out;
		}
	}
	if (xfrin_write(z) != TANDEM_OK) {
		xfrin_refuse(x, z, DIST_XFRIN_WRITE, "%s: cannot write it: %s", z->path,
			     strerror(errno));
		/* the copy moved on: the next check writes it (the serial is the copy's) */
		goto out;
	}
	pthread_mutex_lock(&x->lock);
	z->st.has_serial = true;
	z->st.serial = xfrin_soa_serial(z->soa);
	z->st.transfers++;
	pthread_mutex_unlock(&x->lock);
	if (cs != NULL && z->has_id) {
		/* the file is in place: the node may sign the difference instead of reading it */
		x->ixfr(x->ixfr_arg, (size_t)(z - x->zones), cs, &z->id);
		cs = NULL;
	}
	size_t n = (size_t)(z->rrs != NULL ? z->rrs->count : 0) + 1;
	double secs = (double)(xfrin_mono_ms() - t0) / 1000.0;
	if (strcmp(how, "IXFR") == 0) {
		xfrin_logf(x,
			   "xfrin %s: IXFR from %s: serial %" PRIu32 " -> %" PRIu32
			   ", %zu records changed, %zu records written to %s (%.2f s)",
			   z->name, z->primary, from, want, changes, n, z->path, secs);
	} else {
		xfrin_logf(x,
			   "xfrin %s: %s from %s: serial %" PRIu32
			   ", %zu records written to %s (%.2f s)",
			   z->name, how, z->primary, want, n, z->path, secs);
	}
	next = (uint64_t)z->refresh_s * 1000u;
out:
	dns_changeset_free(cs);
	ldns_rr_free(soa);
	xfrin_rrs_free(&l);
	if (z->last_ok_mono_ms != 0 && z->expire_s != 0 &&
	    xfrin_mono_ms() - z->last_ok_mono_ms > (uint64_t)z->expire_s * 1000u) {
		pthread_mutex_lock(&x->lock);
		z->st.expired = true;
		pthread_mutex_unlock(&x->lock);
	}
	pthread_mutex_lock(&x->lock);
	z->st.expire_s = z->expire_s;
	pthread_mutex_unlock(&x->lock);
	return next;
}

static void *xfrin_main(void *arg)
{
	dist_xfrin_t *x = arg;
	for (size_t i = 0; i < x->nzones; i++) {
		xfrin_load(x, &x->zones[i]);
	}
	pthread_mutex_lock(&x->lock);
	while (!x->stop) {
		uint64_t now = xfrin_mono_ms();
		xfrin_zone_t *due = NULL;
		uint64_t wake = now + 60000u;
		for (size_t i = 0; i < x->nzones; i++) {
			xfrin_zone_t *z = &x->zones[i];
			uint64_t at = z->due_mono_ms;
			if (z->notified) {
				uint64_t gap = z->last_start_mono_ms + XFRIN_NOTIFY_GAP_MS;
				at = gap > now ? gap : now;
			}
			if (at <= now && due == NULL) {
				due = z;
			} else if (at < wake) {
				wake = at;
			}
		}
		if (due == NULL) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			uint64_t ms = wake - now;
			ts.tv_sec += (time_t)(ms / 1000u);
			ts.tv_nsec += (long)(ms % 1000u) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&x->cond, &x->lock, &ts);
			continue;
		}
		due->notified = false;
		due->last_start_mono_ms = now;
		due->due_mono_ms = UINT64_MAX;
		pthread_mutex_unlock(&x->lock);
		uint64_t next = xfrin_check_zone(x, due);
		pthread_mutex_lock(&x->lock);
		due->due_mono_ms = xfrin_mono_ms() + next;
	}
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

/* ---- set-up ----------------------------------------------------------------------------- */

void dist_xfrin_free(dist_xfrin_t *x)
{
	if (x == NULL) {
		return;
	}
	if (x->started) {
		pthread_mutex_lock(&x->lock);
		x->stop = true;
		pthread_cond_signal(&x->cond);
		pthread_mutex_unlock(&x->lock);
		pthread_join(x->thread, NULL);
	}
	for (size_t i = 0; i < x->nzones; i++) {
		xfrin_zone_t *z = &x->zones[i];
		free(z->name);
		free(z->path);
		ldns_rdf_deep_free(z->dname);
		ldns_rr_free(z->soa);
		xfrin_tree_free(z->rrs);
	}
	free(x->zones);
	free(x->acl);
	pthread_cond_destroy(&x->cond);
	pthread_mutex_destroy(&x->lock);
	free(x);
}

static int xfrin_zone_init(dist_xfrin_t *x, xfrin_zone_t *z, const dist_xfrin_zone_t *c,
			   tandem_diag_t *diag)
{
	if (c->name == NULL || c->primary == NULL || c->path == NULL) {
		return TANDEM_EINVAL;
	}
	size_t nl = strlen(c->name);
	z->name = malloc(nl + 2);
	z->path = strdup(c->path);
	if (z->name == NULL || z->path == NULL) {
		return TANDEM_ENOMEM;
	}
	memcpy(z->name, c->name, nl + 1);
	if (nl == 0 || c->name[nl - 1] != '.') {
		z->name[nl] = '.';
		z->name[nl + 1] = '\0';
	}
	if (ldns_str2rdf_dname(&z->dname, z->name) != LDNS_STATUS_OK) {
		tandem_diag_add(diag, TANDEM_ESYNTAX, "primary: zone %s: not a domain name",
				c->name);
		return TANDEM_ESYNTAX;
	}
	ldns_dname2canonical(z->dname);
	if (dist_addr_parse(c->primary, &z->addr, &z->addrlen) != TANDEM_OK ||
	    ((struct sockaddr_in *)&z->addr)->sin_port == 0) {
		tandem_diag_add(
		    diag, TANDEM_ESYNTAX,
		    "primary of %s: '%s': want ADDR:PORT or [ADDR6]:PORT, port 1..65535", z->name,
		    c->primary);
		return TANDEM_ESYNTAX;
	}
	snprintf(z->primary, sizeof(z->primary), "%s", c->primary);
	(void)x;
	return TANDEM_OK;
}

int dist_xfrin_new(const dist_xfrin_conf_t *conf, tandem_diag_t *diag, dist_xfrin_t **out)
{
	if (conf == NULL || out == NULL || conf->key == NULL || conf->nzones == 0) {
		return TANDEM_EINVAL;
	}
	dist_xfrin_t *x = calloc(1, sizeof(*x));
	if (x == NULL) {
		return TANDEM_ENOMEM;
	}
	int ret = TANDEM_ENOMEM;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&x->lock, NULL);
	pthread_cond_init(&x->cond, &ca);
	pthread_condattr_destroy(&ca);
	x->key = conf->key;
	x->rmin = conf->refresh_min_s != 0 ? conf->refresh_min_s : 10;
	x->rmax = conf->refresh_max_s != 0 ? conf->refresh_max_s : 86400;
	if (x->rmax < x->rmin) {
		x->rmax = x->rmin;
	}
	x->log = conf->log;
	x->log_arg = conf->log_arg;
	x->ixfr = conf->ixfr;
	x->ixfr_arg = conf->ixfr_arg;
	x->zones = calloc(conf->nzones, sizeof(*x->zones));
	x->acl = calloc(conf->nacl + 1, sizeof(*x->acl));
	if (x->zones == NULL || x->acl == NULL) {
		goto out;
	}
	x->nzones = conf->nzones;
	for (size_t i = 0; i < conf->nzones; i++) {
		ret = xfrin_zone_init(x, &x->zones[i], &conf->zones[i], diag);
		if (ret != TANDEM_OK) {
			goto out;
		}
	}
	const dist_key_t *keys[1] = {conf->key};
	for (size_t i = 0; i < conf->nacl; i++) {
		ret = dist_acl_parse(conf->notify_acl[i], keys, 1, diag, &x->acl[i]);
		if (ret != TANDEM_OK) {
			goto out;
		}
	}
	x->nacl = conf->nacl;
	if (pthread_create(&x->thread, NULL, xfrin_main, x) != 0) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	x->started = true;
	*out = x;
	x = NULL;
	ret = TANDEM_OK;
out:
	dist_xfrin_free(x);
	return ret;
}

void dist_xfrin_status(dist_xfrin_t *x, size_t i, dist_xfrin_status_t *out)
{
	memset(out, 0, sizeof(*out));
	if (x == NULL || i >= x->nzones) {
		return;
	}
	pthread_mutex_lock(&x->lock);
	*out = x->zones[i].st;
	pthread_mutex_unlock(&x->lock);
}
