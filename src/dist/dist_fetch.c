/* A peer's AXFR of one serial: a standby reads the active's version of a committed serial
 * (held for the compare, or published) to verify it with its own gate (docs/dist.md). */
#include <errno.h>
#include <fcntl.h>
#include <ldns/ldns.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dist.h"
#include "dist_internal.h"
#include "tandem_error.h"

#define FETCH_FUDGE   300u /* TSIG time window, seconds */
#define FETCH_MSG_MAX 65535

typedef struct fetch {
	const char *addr;
	const dist_key_t *key;
	ldns_rdf *dname;
	uint32_t serial;
	uint64_t until_ms; /* CLOCK_MONOTONIC */
	tandem_diag_t *diag;
	int fd;
	uint16_t id;
	ldns_rdf *mac; /* the query's, then each answer message's MAC */
} fetch_t;

static uint64_t fetch_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int fetch_left_ms(const fetch_t *f)
{
	uint64_t now = fetch_mono_ms();
	return now >= f->until_ms ? 0 : (int)(f->until_ms - now);
}

/* Waits until fd is ready for events within the time left; false on timeout or error. */
static bool fetch_wait(const fetch_t *f, short events)
{
	struct pollfd pfd = {.fd = f->fd, .events = events};
	int pr = 0;
	do {
		pr = poll(&pfd, 1, fetch_left_ms(f));
	} while (pr < 0 && errno == EINTR);
	return pr > 0;
}

static int fetch_connect(fetch_t *f)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	if (dist_addr_parse(f->addr, &ss, &sl) != TANDEM_OK) {
		tandem_diag_add(f->diag, TANDEM_EINVAL, "%s: not ADDR:PORT", f->addr);
		return TANDEM_EINVAL;
	}
	f->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (f->fd < 0) {
		tandem_diag_add(f->diag, TANDEM_EIO, "%s: socket: %s", f->addr, strerror(errno));
		return TANDEM_EIO;
	}
	int err = 0;
	if (connect(f->fd, (struct sockaddr *)&ss, sl) != 0) {
		if (errno != EINPROGRESS) {
			err = errno;
		} else if (!fetch_wait(f, POLLOUT)) {
			err = ETIMEDOUT;
		} else {
			socklen_t el = sizeof(err);
			if (getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0) {
				err = errno;
			}
		}
	}
	if (err != 0) {
		tandem_diag_add(f->diag, TANDEM_EIO, "%s: connect: %s", f->addr, strerror(err));
		return TANDEM_EIO;
	}
	return TANDEM_OK;
}

static int fetch_write(fetch_t *f, const uint8_t *buf, size_t n)
{
	size_t done = 0;
	while (done < n) {
		if (!fetch_wait(f, POLLOUT)) {
			break;
		}
		ssize_t w = send(f->fd, buf + done, n - done, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			continue;
		}
		if (w <= 0) {
			break;
		}
		done += (size_t)w;
	}
	if (done < n) {
		tandem_diag_add(f->diag, TANDEM_EIO, "%s: cannot send the query", f->addr);
		return TANDEM_EIO;
	}
	return TANDEM_OK;
}

static bool fetch_read(fetch_t *f, uint8_t *buf, size_t n)
{
	size_t have = 0;
	while (have < n) {
		if (!fetch_wait(f, POLLIN)) {
			return false;
		}
		ssize_t got = recv(f->fd, buf + have, n - have, 0);
		if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
			continue;
		}
		if (got <= 0) {
			return false;
		}
		have += (size_t)got;
	}
	return true;
}

/* The AXFR query with an SOA of the serial wanted in authority, signed; sent framed. */
static int fetch_query(fetch_t *f)
{
	int ret = TANDEM_ENOMEM;
	uint8_t *wire = NULL;
	size_t len = 0;
	ldns_pkt *q =
	    ldns_pkt_query_new(ldns_rdf_clone(f->dname), LDNS_RR_TYPE_AXFR, LDNS_RR_CLASS_IN, 0);
	ldns_rr *soa = ldns_rr_new(); /* no RDATA yet (ldns_rr_new_frm_type leaves NULL ones) */
	if (q == NULL || soa == NULL) {
		goto out;
	}
	ldns_rr_set_type(soa, LDNS_RR_TYPE_SOA);
	ldns_pkt_set_random_id(q);
	f->id = ldns_pkt_id(q);
	/* only the serial is read by the server; the other fields are placeholders */
	ldns_rr_set_owner(soa, ldns_rdf_clone(f->dname));
	ldns_rr_set_class(soa, LDNS_RR_CLASS_IN);
	ldns_rr_push_rdf(soa, ldns_rdf_clone(f->dname));
	ldns_rr_push_rdf(soa, ldns_rdf_clone(f->dname));
	ldns_rr_push_rdf(soa, ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32, f->serial));
	for (int i = 0; i < 4; i++) {
		ldns_rr_push_rdf(soa, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 0));
	}
	if (!ldns_pkt_push_rr(q, LDNS_SECTION_AUTHORITY, soa)) {
		goto out;
	}
	soa = NULL;
	if (ldns_pkt_tsig_sign(q, dist_key_name(f->key), dist_key_secret_b64(f->key), FETCH_FUDGE,
			       dist_key_is_sha512(f->key) ? "hmac-sha512." : "hmac-sha256.",
			       NULL) != LDNS_STATUS_OK) {
		tandem_diag_add(f->diag, TANDEM_CRYPTO_ELIB, "cannot sign the query with key %s",
				dist_key_name(f->key));
		ret = TANDEM_CRYPTO_ELIB;
		goto out;
	}
	f->mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(q), 3));
	if (f->mac == NULL || ldns_pkt2wire(&wire, q, &len) != LDNS_STATUS_OK || len > 65535) {
		goto out;
	}
	uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};
	ret = fetch_write(f, hdr, 2);
	if (ret == TANDEM_OK) {
		ret = fetch_write(f, wire, len);
	}
out:
	ldns_rr_free(soa);
	ldns_pkt_free(q);
	free(wire);
	return ret;
}

/* One answer message checked (id, question, rcode, TSIG over the previous MAC). */
static int fetch_check(fetch_t *f, ldns_pkt *p, const uint8_t *wire, size_t len, bool first)
{
	if (!ldns_pkt_qr(p) || ldns_pkt_id(p) != f->id) {
		tandem_diag_add(f->diag, TANDEM_EIO, "%s: not an answer to our query", f->addr);
		return TANDEM_EIO;
	}
	const ldns_rr *t = ldns_pkt_tsig(p);
	if (t == NULL || ldns_rr_rd_count(t) < 7) {
		tandem_diag_add(f->diag, TANDEM_CRYPTO_ELIB, "%s: an answer message without TSIG",
				f->addr);
		return TANDEM_CRYPTO_ELIB;
	}
	ldns_rdf *m = ldns_rdf_clone(ldns_rr_rdf(t, 3));
	if (m == NULL) {
		return TANDEM_ENOMEM;
	}
	bool ok = dist_tsig_verify_next(p, wire, len, dist_key_name(f->key),
					dist_key_secret_b64(f->key), f->mac, !first);
	if (!ok) {
		ldns_rdf_deep_free(m);
		tandem_diag_add(f->diag, TANDEM_CRYPTO_ELIB,
				"%s: the TSIG of an answer does not verify with key %s", f->addr,
				dist_key_name(f->key));
		return TANDEM_CRYPTO_ELIB;
	}
	ldns_rdf_deep_free(f->mac);
	f->mac = m;
	if (ldns_pkt_get_rcode(p) != LDNS_RCODE_NOERROR) {
		ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, (int)ldns_pkt_get_rcode(p));
		tandem_diag_add(f->diag, TANDEM_EIO, "%s: AXFR of serial %u answered %s", f->addr,
				f->serial, lt != NULL ? lt->name : "an error");
		return TANDEM_EIO;
	}
	return TANDEM_OK;
}

/* Reads the answer messages until the closing SOA, printing every record but it to fp. */
static int fetch_records(fetch_t *f, FILE *fp)
{
	uint8_t hdr[2];
	uint8_t *buf = malloc(FETCH_MSG_MAX);
	int ret = buf == NULL ? TANDEM_ENOMEM : TANDEM_OK;
	size_t soas = 0, msgs = 0;
	while (ret == TANDEM_OK && soas < 2) {
		if (!fetch_read(f, hdr, 2)) {
			tandem_diag_add(
			    f->diag, TANDEM_EIO,
			    "%s: the transfer broke off or timed out after %zu messages", f->addr,
			    msgs);
			ret = TANDEM_EIO;
			break;
		}
		size_t n = ((size_t)hdr[0] << 8) | hdr[1];
		ldns_pkt *p = NULL;
		if (n == 0 || !fetch_read(f, buf, n) ||
		    dist_wire2pkt(&p, buf, n) != LDNS_STATUS_OK) {
			tandem_diag_add(f->diag, TANDEM_EIO, "%s: a malformed or cut message",
					f->addr);
			ret = TANDEM_EIO;
			break;
		}
		ret = fetch_check(f, p, buf, n, msgs == 0);
		const ldns_rr_list *an = ldns_pkt_answer(p);
		for (size_t i = 0; ret == TANDEM_OK && i < ldns_rr_list_rr_count(an); i++) {
			const ldns_rr *rr = ldns_rr_list_rr(an, i);
			if (soas == 2) {
				tandem_diag_add(f->diag, TANDEM_EIO,
						"%s: records after the closing SOA", f->addr);
				ret = TANDEM_EIO;
			} else if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA &&
				   ldns_dname_compare(ldns_rr_owner(rr), f->dname) == 0) {
				if (soas++ == 0) {
					ldns_rr_print(fp, rr);
				}
			} else if (soas == 0) {
				tandem_diag_add(f->diag, TANDEM_EIO,
						"%s: the transfer does not start with the SOA",
						f->addr);
				ret = TANDEM_EIO;
			} else {
				ldns_rr_print(fp, rr);
			}
		}
		ldns_pkt_free(p);
		msgs++;
	}
	free(buf);
	return ret;
}

int dist_fetch_version(const char *addr, const char *zone, uint32_t serial, const dist_key_t *key,
		       unsigned timeout_ms, tandem_diag_t *diag, dns_zone_t **out)
{
	if (addr == NULL || zone == NULL || key == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	fetch_t f = {.addr = addr,
		     .key = key,
		     .serial = serial,
		     .until_ms = fetch_mono_ms() + timeout_ms,
		     .diag = diag,
		     .fd = -1};
	char *text = NULL;
	size_t tlen = 0;
	FILE *fp = NULL;
	dns_zone_t *z = NULL;
	int ret = TANDEM_EINVAL;
	f.dname = ldns_dname_new_frm_str(zone);
	if (f.dname == NULL) {
		tandem_diag_add(diag, TANDEM_EINVAL, "%s: not a zone name", zone);
		goto out;
	}
	ret = TANDEM_ENOMEM;
	fp = open_memstream(&text, &tlen);
	if (fp == NULL) {
		goto out;
	}
	if ((ret = fetch_connect(&f)) != TANDEM_OK || (ret = fetch_query(&f)) != TANDEM_OK ||
	    (ret = fetch_records(&f, fp)) != TANDEM_OK) {
		goto out;
	}
	if (fflush(fp) != 0) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	FILE *in = fmemopen(text, tlen, "r");
	if (in == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	char what[300];
	snprintf(what, sizeof(what), "AXFR of %s serial %u from %s", zone, serial, addr);
	dns_load_opts_t lo = {.origin = zone, .keep_dnssec = true};
	ret = dns_zone_load_stream(in, what, &lo, diag, &z);
	fclose(in);
	if (ret != TANDEM_OK) {
		goto out;
	}
	uint32_t got = 0;
	if (dns_zone_soa_serial(z, &got) != TANDEM_OK || got != serial) {
		tandem_diag_add(diag, TANDEM_EIO, "%s: sent serial %u, not %u", addr, got, serial);
		ret = TANDEM_EIO;
		goto out;
	}
	*out = z;
	z = NULL;
out:
	if (fp != NULL) {
		fclose(fp);
	}
	free(text);
	dns_zone_free(z);
	if (f.fd >= 0) {
		close(f.fd);
	}
	ldns_rdf_deep_free(f.mac);
	ldns_rdf_deep_free(f.dname);
	return ret;
}
