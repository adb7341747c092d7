/* NOTIFY (RFC 1996) sender: one UDP socket per secondary, TSIG with ldns, bounded backoff. */
#include "dist_notify.h"
#include "dist_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "tandem_error.h"
#include "tandem_serial.h"

#define NOTIFY_TSIG_FUDGE 300
#define NOTIFY_MAX_ANSWER 65535

typedef struct notify_peer {
	int fd;
	char name[INET6_ADDRSTRLEN + 8]; /* "ADDR@PORT" */
	dist_tsig_alg_t alg;
	char *tsig_name;   /* owned */
	char *tsig_secret; /* owned, wiped on free */
	dist_notify_peer_state_t st;
	uint16_t id;       /* query id for the pending serial */
	uint64_t first_ms; /* first try of the pending serial */
	uint64_t due_ms;   /* next try (or giving up) */
	unsigned gap_ms;   /* the gap after the next try */
	ldns_rdf *mac;     /* owned: MAC of the last signed try */
} notify_peer_t;

struct dist_notify {
	ldns_rdf *zone;  /* owned */
	char *zone_text; /* owned, with the final dot */
	dist_notify_opts_t opts;
	notify_peer_t *peers; /* owned, npeers of them */
	size_t npeers;
	dist_notify_cb_t cb;
	void *cb_arg;
};

static void notify_emit(dist_notify_t *n, size_t i, dist_notify_event_kind_t kind,
			unsigned next_gap_ms, int rcode, const char *detail)
{
	dist_notify_event_t ev;
	notify_peer_t *p = &n->peers[i];

	if (n->cb == NULL)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.peer = i;
	ev.peer_name = p->name;
	ev.serial = p->st.pending_serial;
	ev.tries = p->st.tries;
	ev.next_gap_ms = next_gap_ms;
	ev.rcode = rcode;
	ev.detail = detail;
	n->cb(n->cb_arg, &ev);
}

static const char *notify_alg_name(dist_tsig_alg_t alg)
{
	switch (alg) {
	case DIST_TSIG_HMAC_SHA256: return "hmac-sha256.";
	case DIST_TSIG_HMAC_SHA512: return "hmac-sha512.";
	default: return NULL;
	}
}

uint64_t dist_notify_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int dist_notify_new(const char *zone, const dist_notify_opts_t *opts, tandem_diag_t *diag,
		    dist_notify_t **out)
{
	dist_notify_t *n = NULL;
	int rc = TANDEM_EINVAL;

	if (zone == NULL || out == NULL || zone[0] == '\0')
		return TANDEM_EINVAL;
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return TANDEM_ENOMEM;
	if (ldns_str2rdf_dname(&n->zone, zone) != LDNS_STATUS_OK) {
		tandem_diag_add(diag, TANDEM_EINVAL, "notify: '%s' is not a domain name", zone);
		goto out;
	}
	n->zone_text = ldns_rdf2str(n->zone);
	if (n->zone_text == NULL) {
		rc = TANDEM_ENOMEM;
		goto out;
	}
	if (opts != NULL)
		n->opts = *opts;
	if (n->opts.first_gap_ms == 0)
		n->opts.first_gap_ms = 1000;
	if (n->opts.max_gap_ms == 0)
		n->opts.max_gap_ms = 60000;
	if (n->opts.max_tries == 0)
		n->opts.max_tries = 8;
	if (n->opts.max_total_ms == 0)
		n->opts.max_total_ms = 300000;
	if (n->opts.max_gap_ms < n->opts.first_gap_ms || n->opts.max_tries > 100 ||
	    n->opts.max_total_ms > 86400000u || n->opts.max_gap_ms > 3600000u) {
		tandem_diag_add(
		    diag, TANDEM_EINVAL,
		    "notify: retry bounds out of range (first gap %u ms, max gap %u ms, "
		    "%u tries, %u ms in all)",
		    n->opts.first_gap_ms, n->opts.max_gap_ms, n->opts.max_tries,
		    n->opts.max_total_ms);
		goto out;
	}
	*out = n;
	n = NULL;
	rc = TANDEM_OK;
out:
	dist_notify_free(n);
	return rc;
}

static void notify_peer_deinit(notify_peer_t *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	free(p->tsig_name);
	p->tsig_name = NULL;
	if (p->tsig_secret != NULL) {
		explicit_bzero(p->tsig_secret, strlen(p->tsig_secret));
		free(p->tsig_secret);
		p->tsig_secret = NULL;
	}
	ldns_rdf_deep_free(p->mac);
	p->mac = NULL;
}

void dist_notify_free(dist_notify_t *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->npeers; i++)
		notify_peer_deinit(&n->peers[i]);
	free(n->peers);
	ldns_rdf_deep_free(n->zone);
	free(n->zone_text);
	free(n);
}

void dist_notify_set_callback(dist_notify_t *n, dist_notify_cb_t cb, void *arg)
{
	if (n == NULL)
		return;
	n->cb = cb;
	n->cb_arg = arg;
}

/* The secret must be base64 (RFC 4648, padded) of at least one byte. */
static bool notify_secret_ok(const char *secret)
{
	size_t len = strlen(secret), i, pad = 0;

	if (len == 0 || len > 4096 || len % 4 != 0)
		return false;
	for (i = 0; i < len; i++) {
		char c = secret[i];

		if (c == '=') {
			pad++;
			continue;
		}
		if (pad > 0)
			return false; /* data after padding */
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/'))
			return false;
	}
	return pad <= 2 && len - pad >= 2;
}

static int notify_peer_open(notify_peer_t *p, const dist_notify_peer_conf_t *conf,
			    tandem_diag_t *diag)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	uint16_t port = conf->port != 0 ? conf->port : 53;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, conf->addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
		sslen = sizeof(struct sockaddr_in);
		snprintf(p->name, sizeof(p->name), "%s@%u", conf->addr, (unsigned)port);
	} else if (inet_pton(AF_INET6, conf->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
		sslen = sizeof(struct sockaddr_in6);
		snprintf(p->name, sizeof(p->name), "%s@%u", conf->addr, (unsigned)port);
	} else {
		tandem_diag_add(diag, TANDEM_EINVAL,
				"notify: secondary '%s' is not a numeric IPv4 or IPv6 address",
				conf->addr);
		return TANDEM_EINVAL;
	}
	p->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		tandem_diag_add(diag, TANDEM_EIO, "notify: %s: socket: %s", p->name,
				strerror(errno));
		return TANDEM_EIO;
	}
	/* connected: the kernel keeps packets from any other address or port away */
	if (connect(p->fd, (struct sockaddr *)&ss, sslen) != 0) {
		tandem_diag_add(diag, TANDEM_EIO, "notify: %s: connect: %s", p->name,
				strerror(errno));
		return TANDEM_EIO;
	}
	return TANDEM_OK;
}

int dist_notify_peer_add(dist_notify_t *n, const dist_notify_peer_conf_t *conf, tandem_diag_t *diag)
{
	notify_peer_t p, *grown;
	ldns_rdf *keyname = NULL;
	int rc = TANDEM_EINVAL;

	if (n == NULL || conf == NULL || conf->addr == NULL)
		return TANDEM_EINVAL;
	memset(&p, 0, sizeof(p));
	p.fd = -1;
	p.st.last_rcode = -1;
	p.alg = conf->tsig_alg;
	if (conf->tsig_alg != DIST_TSIG_NONE) {
		if (notify_alg_name(conf->tsig_alg) == NULL) {
			tandem_diag_add(diag, TANDEM_EINVAL,
					"notify: secondary %s: unknown TSIG algorithm %d",
					conf->addr, (int)conf->tsig_alg);
			goto out;
		}
		if (conf->tsig_name == NULL ||
		    ldns_str2rdf_dname(&keyname, conf->tsig_name) != LDNS_STATUS_OK) {
			tandem_diag_add(
			    diag, TANDEM_EINVAL,
			    "notify: secondary %s: TSIG key name '%s' is not a domain name",
			    conf->addr, conf->tsig_name ? conf->tsig_name : "(none)");
			goto out;
		}
		/* never the secret itself in a message */
		if (conf->tsig_secret == NULL || !notify_secret_ok(conf->tsig_secret)) {
			tandem_diag_add(diag, TANDEM_EINVAL,
					"notify: secondary %s: TSIG key %s: secret missing or not "
					"base64",
					conf->addr, conf->tsig_name);
			goto out;
		}
		p.tsig_name = strdup(conf->tsig_name);
		p.tsig_secret = strdup(conf->tsig_secret);
		if (p.tsig_name == NULL || p.tsig_secret == NULL) {
			rc = TANDEM_ENOMEM;
			goto out;
		}
	}
	rc = notify_peer_open(&p, conf, diag);
	if (rc != TANDEM_OK)
		goto out;
	grown = realloc(n->peers, (n->npeers + 1) * sizeof(*grown));
	if (grown == NULL) {
		rc = TANDEM_ENOMEM;
		goto out;
	}
	n->peers = grown;
	n->peers[n->npeers++] = p;
	memset(&p, 0, sizeof(p));
	p.fd = -1;
	rc = TANDEM_OK;
out:
	ldns_rdf_deep_free(keyname);
	notify_peer_deinit(&p);
	return rc;
}

size_t dist_notify_peer_count(const dist_notify_t *n)
{
	return n != NULL ? n->npeers : 0;
}

bool dist_notify_peer_state(const dist_notify_t *n, size_t i, dist_notify_peer_state_t *out)
{
	if (n == NULL || out == NULL || i >= n->npeers)
		return false;
	*out = n->peers[i].st;
	return true;
}

int dist_notify_publish(dist_notify_t *n, uint32_t serial, uint64_t now_ms)
{
	size_t i;
	uint16_t id;

	if (n == NULL)
		return TANDEM_EINVAL;
	/* checked for every secondary first, so that a refusal changes nothing */
	for (i = 0; i < n->npeers; i++) {
		const notify_peer_t *p = &n->peers[i];

		if (p->st.pending && !tandem_serial_gt(serial, p->st.pending_serial) &&
		    serial != p->st.pending_serial)
			return TANDEM_SIGNER_ESERIAL;
	}
	for (i = 0; i < n->npeers; i++) {
		notify_peer_t *p = &n->peers[i];

		/* the same serial again: the round under way goes on as it is */
		if (p->st.pending && p->st.pending_serial == serial)
			continue;
		if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
			id = (uint16_t)(now_ms ^ (uint64_t)i * 40503u ^ serial);
		/* a fresh id so that a late answer for an older serial is not taken for this one */
		if (p->st.pending && id == p->id)
			id ^= 1;
		p->id = id;
		p->st.pending = true;
		p->st.pending_serial = serial;
		p->st.tries = 0;
		p->st.last_err = TANDEM_OK;
		p->first_ms = now_ms;
		p->due_ms = now_ms;
		p->gap_ms = n->opts.first_gap_ms;
		ldns_rdf_deep_free(p->mac);
		p->mac = NULL;
	}
	return TANDEM_OK;
}

bool dist_notify_idle(const dist_notify_t *n)
{
	size_t i;

	if (n == NULL)
		return true;
	for (i = 0; i < n->npeers; i++)
		if (n->peers[i].st.pending)
			return false;
	return true;
}

size_t dist_notify_pollfds(const dist_notify_t *n, struct pollfd *fds, size_t cap)
{
	size_t i;

	if (n == NULL)
		return 0;
	for (i = 0; i < n->npeers && i < cap && fds != NULL; i++) {
		fds[i].fd = n->peers[i].fd;
		fds[i].events = POLLIN;
		fds[i].revents = 0;
	}
	return n->npeers;
}

int dist_notify_timeout_ms(const dist_notify_t *n, uint64_t now_ms)
{
	uint64_t best = UINT64_MAX;
	size_t i;

	if (n == NULL)
		return -1;
	for (i = 0; i < n->npeers; i++)
		if (n->peers[i].st.pending && n->peers[i].due_ms < best)
			best = n->peers[i].due_ms;
	if (best == UINT64_MAX)
		return -1;
	if (best <= now_ms)
		return 0;
	return best - now_ms > INT_MAX ? INT_MAX : (int)(best - now_ms);
}

/* The NOTIFY for p's pending serial in wire form (*wire the caller's, free()). */
static int notify_build(dist_notify_t *n, notify_peer_t *p, uint8_t **wire, size_t *len)
{
	ldns_pkt *pkt = NULL;
	ldns_rr *soa = NULL;
	ldns_rdf *qname = NULL;
	char text[LDNS_MAX_DOMAINLEN * 4 + 64];
	int rc = TANDEM_EINTERNAL;

	qname = ldns_rdf_clone(n->zone);
	if (qname == NULL)
		return TANDEM_ENOMEM;
	pkt = ldns_pkt_query_new(qname, LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, LDNS_AA);
	if (pkt == NULL) {
		ldns_rdf_deep_free(qname);
		return TANDEM_ENOMEM;
	}
	ldns_pkt_set_opcode(pkt, LDNS_PACKET_NOTIFY);
	ldns_pkt_set_rd(pkt, false);
	ldns_pkt_set_id(pkt, p->id);
	/* RFC 1996 3.7: the SOA's serial is what secondaries read; its other fields are
	 * not used, so they are the root and zeros rather than a copy of the zone's SOA */
	snprintf(text, sizeof(text), "%s 0 IN SOA . . %u 0 0 0 0", n->zone_text,
		 (unsigned)p->st.pending_serial);
	if (ldns_rr_new_frm_str(&soa, text, 0, NULL, NULL) != LDNS_STATUS_OK)
		goto out;
	if (!ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, soa))
		goto out;
	soa = NULL; /* the packet's now */
	ldns_rdf_deep_free(p->mac);
	p->mac = NULL;
	if (p->alg != DIST_TSIG_NONE) {
		const ldns_rr *tsig;

		if (ldns_pkt_tsig_sign(pkt, p->tsig_name, p->tsig_secret, NOTIFY_TSIG_FUDGE,
				       notify_alg_name(p->alg), NULL) != LDNS_STATUS_OK)
			goto out;
		tsig = ldns_pkt_tsig(pkt);
		if (tsig == NULL || ldns_rr_rd_count(tsig) < 4)
			goto out;
		p->mac = ldns_rdf_clone(ldns_rr_rdf(tsig, 3));
		if (p->mac == NULL) {
			rc = TANDEM_ENOMEM;
			goto out;
		}
	}
	if (ldns_pkt2wire(wire, pkt, len) != LDNS_STATUS_OK)
		goto out;
	rc = TANDEM_OK;
out:
	ldns_rr_free(soa);
	ldns_pkt_free(pkt);
	return rc;
}

const char *dist_notify_answer_check(const ldns_rdf *zone, uint16_t id, const char *tsig_name,
				     const char *tsig_secret, const ldns_rdf *mac,
				     const uint8_t *buf, size_t len, int *rcode)
{
	ldns_pkt *pkt = NULL;
	const ldns_rr *q;
	const char *why = NULL;

	if (dist_wire2pkt(&pkt, buf, len) != LDNS_STATUS_OK)
		return "malformed packet";
	q = ldns_rr_list_rr(ldns_pkt_question(pkt), 0);
	if (!ldns_pkt_qr(pkt) || ldns_pkt_get_opcode(pkt) != LDNS_PACKET_NOTIFY)
		why = "not a NOTIFY response";
	else if (ldns_pkt_id(pkt) != id)
		why = "query id does not match (late or forged)";
	else if (ldns_pkt_qdcount(pkt) > 1 ||
		 (q != NULL && (ldns_rr_get_type(q) != LDNS_RR_TYPE_SOA ||
				ldns_dname_compare(ldns_rr_owner(q), zone) != 0)))
		why = "the question is not the zone's SOA";
	else if (tsig_name != NULL && !dist_tsig_verify(pkt, buf, len, tsig_name, tsig_secret, mac))
		why = "TSIG missing or does not verify";
	else
		*rcode = (int)ldns_pkt_get_rcode(pkt);
	ldns_pkt_free(pkt);
	return why;
}

/* One datagram on p's socket: its answer, or something to drop (returns why). */
static const char *notify_check_answer(const dist_notify_t *n, notify_peer_t *p, const uint8_t *buf,
				       size_t len, int *rcode)
{
	return dist_notify_answer_check(n->zone, p->id,
					p->alg != DIST_TSIG_NONE ? p->tsig_name : NULL,
					p->tsig_secret, p->mac, buf, len, rcode);
}

static void notify_read(dist_notify_t *n, size_t i, uint8_t *buf)
{
	notify_peer_t *p = &n->peers[i];
	unsigned guard;

	/* bounded: a flood on one socket cannot hold the loop */
	for (guard = 0; guard < 64; guard++) {
		ssize_t got = recv(p->fd, buf, NOTIFY_MAX_ANSWER, MSG_DONTWAIT);
		const char *why;
		int rcode = -1;

		if (got < 0) {
			if (errno == ECONNREFUSED && p->st.pending)
				notify_emit(n, i, DIST_NOTIFY_SENDFAIL, p->gap_ms, -1,
					    "port unreachable (ICMP)");
			if (errno == EINTR || errno == ECONNREFUSED)
				continue;
			return; /* EAGAIN, or nothing more to read */
		}
		if (!p->st.pending)
			continue; /* a second answer to a serial already answered */
		why = notify_check_answer(n, p, buf, (size_t)got, &rcode);
		if (why != NULL) {
			p->st.dropped++;
			notify_emit(n, i, DIST_NOTIFY_DROPPED, 0, -1, why);
			continue;
		}
		p->st.last_rcode = rcode;
		if (rcode == LDNS_RCODE_NOERROR) {
			p->st.answered = true;
			p->st.answered_serial = p->st.pending_serial;
			p->st.pending = false;
			notify_emit(n, i, DIST_NOTIFY_ANSWERED, 0, rcode, NULL);
		} else {
			p->st.pending = false;
			p->st.failures++;
			p->st.last_err = TANDEM_EPERM;
			notify_emit(n, i, DIST_NOTIFY_REFUSED, 0, rcode, NULL);
		}
	}
}

static int notify_try(dist_notify_t *n, size_t i, uint64_t now_ms)
{
	notify_peer_t *p = &n->peers[i];
	uint64_t end = p->first_ms + n->opts.max_total_ms;
	uint8_t *wire = NULL;
	size_t len = 0;
	unsigned gap;
	int rc;

	if (p->st.tries >= n->opts.max_tries || now_ms >= end) {
		p->st.pending = false;
		p->st.failures++;
		p->st.last_err = TANDEM_NET_ETIMEOUT;
		notify_emit(n, i, DIST_NOTIFY_GAVE_UP, 0, -1, NULL);
		return TANDEM_OK;
	}
	rc = notify_build(n, p, &wire, &len);
	if (rc != TANDEM_OK)
		return rc;
	p->st.tries++;
	/* after the last try, one more gap for its answer, then give up */
	gap = p->gap_ms;
	if (now_ms + gap > end)
		gap = (unsigned)(end - now_ms);
	p->due_ms = now_ms + gap;
	p->gap_ms = p->gap_ms > n->opts.max_gap_ms / 2 ? n->opts.max_gap_ms : p->gap_ms * 2;
	if (send(p->fd, wire, len, 0) < 0)
		notify_emit(n, i, DIST_NOTIFY_SENDFAIL, gap, -1, strerror(errno));
	else
		notify_emit(n, i, DIST_NOTIFY_SENT, p->st.tries < n->opts.max_tries ? gap : 0, -1,
			    NULL);
	free(wire);
	return TANDEM_OK;
}

int dist_notify_process(dist_notify_t *n, uint64_t now_ms)
{
	uint8_t *buf = NULL;
	size_t i;
	int rc = TANDEM_OK;

	if (n == NULL)
		return TANDEM_EINVAL;
	buf = malloc(NOTIFY_MAX_ANSWER);
	if (buf == NULL)
		return TANDEM_ENOMEM;
	for (i = 0; i < n->npeers; i++)
		notify_read(n, i, buf);
	for (i = 0; i < n->npeers && rc == TANDEM_OK; i++)
		if (n->peers[i].st.pending && n->peers[i].due_ms <= now_ms)
			rc = notify_try(n, i, now_ms);
	free(buf);
	return rc;
}

int dist_notify_run(dist_notify_t *n, unsigned timeout_ms)
{
	struct pollfd *fds = NULL;
	uint64_t deadline;
	size_t nfds;
	int rc = TANDEM_OK;

	if (n == NULL)
		return TANDEM_EINVAL;
	nfds = dist_notify_pollfds(n, NULL, 0);
	fds = calloc(nfds + 1, sizeof(*fds));
	if (fds == NULL)
		return TANDEM_ENOMEM;
	dist_notify_pollfds(n, fds, nfds);
	deadline = dist_notify_now_ms() + timeout_ms;
	for (;;) {
		uint64_t now = dist_notify_now_ms();
		int wait;

		rc = dist_notify_process(n, now);
		if (rc != TANDEM_OK || dist_notify_idle(n))
			break;
		if (now >= deadline) {
			rc = TANDEM_NET_ETIMEOUT;
			break;
		}
		wait = dist_notify_timeout_ms(n, now);
		if (wait < 0 || (uint64_t)wait > deadline - now)
			wait = (int)(deadline - now);
		if (poll(fds, nfds, wait) < 0 && errno != EINTR) {
			rc = TANDEM_EIO;
			break;
		}
	}
	free(fds);
	return rc;
}
