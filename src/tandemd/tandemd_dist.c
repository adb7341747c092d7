/* tandemd's transfer server: started from the options, fed only the node's own publications. */
#include "tandemd_dist.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "dist_notify.h"
#include "tandem_encode.h"
#include "tandem_log.h"
#include "tandem_error.h"
#include "tandem_serial.h"
#include "tandem_text.h"

#define TDM_PROBE_WAIT_MS  3000  /* an SOA answer later than this is not waited for */
#define TDM_PROBE_EVERY_MS 60000 /* between two SOA queries of a secondary */
#define TDM_PROBE_RETRY_MS 10000 /* after a query left unanswered */
#define TDM_PROBE_AFTER_MS 2000  /* after a NOTIFY answer: its transfer has begun */

/* The SOA query of one --notify secondary for one zone (docs/dist.md, "Secondaries"). */
typedef struct tdm_dist_probe {
	int fd;           /* owned: UDP, connected to the secondary; -1 when it could not be made */
	uint16_t id;      /* of the query waited for */
	ldns_rdf *mac;    /* owned: the query's TSIG MAC */
	bool waiting;     /* a query is out */
	uint64_t sent_ms; /* when it went out */
	uint64_t due_ms;  /* when the next one goes */
	bool has_serial;  /* the secondary answered at least once */
	uint32_t serial;  /* its last answer */
	bool notified;    /* it answered a NOTIFY at least once */
	uint32_t took;    /* the serial of that answer */
	bool soon;        /* due_ms was brought forward by a NOTIFY answer or a publication */
} tdm_dist_probe_t;

/* A zone's NOTIFY state (made at its first publication). */
typedef struct tdm_dist_zone {
	char *name;
	dist_notify_t *notify;
	tdm_dist_probe_t *probes; /* owned: one per --notify secondary, NULL without notifier */
	bool has_published;
	uint32_t published; /* the serial this node last served */
} tdm_dist_zone_t;

struct tdm_dist {
	char address[80]; /* the first listener, HOST:PORT with the port bound */
	dist_key_t **keys;
	size_t nkeys;
	dist_server_t *srv;
	dist_key_t *primary_key;          /* --primary-tsig-key, or NULL */
	dist_xfrin_t *xfrin;              /* --primary, or NULL */
	const dist_xfrin_zone_t *primary; /* borrowed: the options outlive the node */
	size_t nprimary;
	/* the latest IXFR applied of each primary zone, not yet taken by the node's loop */
	pthread_mutex_t ixfr_lock;
	tdm_dist_ixfr_t *ixfr; /* nprimary, or NULL */
	size_t journal_max_entries;
	uint64_t journal_max_bytes;
	const char *const *notify; /* borrowed from the options, or notify_own's */
	size_t nnotify;
	char **notify_own; /* a list a reload gave (tdm_dist_set_notify): owned */
	tdm_dist_zone_t *zones;
	size_t nzones;
};

/* The transfer server's and the IXFR client's lines, through the node's log sink (stderr or
 * syslog, as tdm_log, which names the node; any thread). */
static void tdm_dist_refusal(void *arg, const char *line)
{
	(void)arg;
	tandem_logf("%s", line);
}

static void tdm_dist_diag(tandem_diag_t *diag)
{
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		tandem_logf("%s", tandem_diag_msg(diag, i));
	}
	tandem_diag_clear(diag);
}

/* The zone's NOTIFY and SOA-query state, freed; the entry stays (no pending tries). */
static void tdm_dist_zone_clear(tdm_dist_t *td, tdm_dist_zone_t *dz)
{
	dist_notify_free(dz->notify);
	dz->notify = NULL;
	for (size_t k = 0; dz->probes != NULL && k < td->nnotify; k++) {
		tdm_dist_probe_t *pr = &dz->probes[k];
		if (pr->fd >= 0) {
			close(pr->fd);
		}
		ldns_rdf_deep_free(pr->mac);
	}
	free(dz->probes);
	dz->probes = NULL;
	dz->has_published = false;
}

static void tdm_dist_notify_own_free(char **list)
{
	for (size_t i = 0; list != NULL && list[i] != NULL; i++) {
		free(list[i]);
	}
	free(list);
}

void tdm_dist_free(tdm_dist_t *td)
{
	if (td == NULL) {
		return;
	}
	/* the server first: it hands NOTIFYs to the transfers in */
	dist_server_free(td->srv);
	dist_xfrin_free(td->xfrin);
	dist_key_free(td->primary_key);
	if (td->ixfr != NULL) {
		for (size_t i = 0; i < td->nprimary; i++) {
			dns_changeset_free(td->ixfr[i].cs);
		}
		free(td->ixfr);
		pthread_mutex_destroy(&td->ixfr_lock);
	}
	for (size_t i = 0; i < td->nzones; i++) {
		tdm_dist_zone_clear(td, &td->zones[i]);
		free(td->zones[i].name);
	}
	free(td->zones);
	for (size_t i = 0; i < td->nkeys; i++) {
		dist_key_free(td->keys[i]);
	}
	free(td->keys);
	tdm_dist_notify_own_free(td->notify_own);
	free(td);
}

/* dist_xfrin_conf_t.ixfr, on the transfers' thread: kept for the node's loop (a newer one
 * replaces one not taken yet: it does not follow the node's copy, which then reads the
 * file). */
static void tdm_dist_ixfr_in(void *arg, size_t zone, dns_changeset_t *cs, const struct stat *st)
{
	tdm_dist_t *td = arg;
	pthread_mutex_lock(&td->ixfr_lock);
	tdm_dist_ixfr_t *m = &td->ixfr[zone];
	dns_changeset_free(m->cs);
	m->cs = cs;
	m->written = *st;
	pthread_mutex_unlock(&td->ixfr_lock);
}

bool tdm_dist_ixfr_take(tdm_dist_t *td, const char *zone, tdm_dist_ixfr_t *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; td != NULL && td->ixfr != NULL && i < td->nprimary; i++) {
		if (strcmp(td->primary[i].name, zone) == 0) {
			pthread_mutex_lock(&td->ixfr_lock);
			*out = td->ixfr[i];
			td->ixfr[i].cs = NULL;
			pthread_mutex_unlock(&td->ixfr_lock);
			return out->cs != NULL;
		}
	}
	return false;
}

/* --primary: the transfers in, with --primary-tsig-key or the first --tsig-key. */
static int tdm_dist_xfrin_start(tdm_dist_t *td, const tdm_dist_opts_t *o, tandem_diag_t *diag)
{
	int ret = TANDEM_OK;
	const dist_key_t *key = td->keys[0];
	if (o->primary_key != NULL) {
		ret = dist_key_load(o->primary_key, diag, &td->primary_key);
		if (ret != TANDEM_OK) {
			tandem_logf("--primary-tsig-key %s: refused", o->primary_key);
			return ret;
		}
		key = td->primary_key;
	}
	/* before the thread starts: its first IXFR may come at once */
	td->ixfr = calloc(o->nprimary, sizeof(*td->ixfr));
	if (td->ixfr == NULL) {
		return TANDEM_ENOMEM;
	}
	pthread_mutex_init(&td->ixfr_lock, NULL);
	td->primary = o->primary;
	td->nprimary = o->nprimary;
	dist_xfrin_conf_t xc = {
	    .zones = o->primary,
	    .nzones = o->nprimary,
	    .key = key,
	    .notify_acl = o->notify_acl,
	    .nacl = o->nnotify_acl,
	    .log = tdm_dist_refusal,
	    .log_arg = NULL,
	    .ixfr = tdm_dist_ixfr_in,
	    .ixfr_arg = td,
	};
	ret = dist_xfrin_new(&xc, diag, &td->xfrin);
	if (ret != TANDEM_OK) {
		return ret;
	}
	for (size_t i = 0; i < o->nprimary; i++) {
		tandem_logf("xfrin %s: input by transfer from %s (key %s) into %s",
			    o->primary[i].name, o->primary[i].primary, dist_key_name(key),
			    o->primary[i].path);
	}
	return TANDEM_OK;
}

bool tdm_dist_xfrin(const tdm_dist_t *td, const char *zone, dist_xfrin_status_t *out)
{
	for (size_t i = 0; td != NULL && i < td->nprimary; i++) {
		if (strcmp(td->primary[i].name, zone) == 0) {
			dist_xfrin_status(td->xfrin, i, out);
			return true;
		}
	}
	return false;
}

int tdm_dist_start(const tdm_dist_opts_t *o, tdm_dist_t **out)
{
	int ret = TANDEM_ENOMEM;
	tdm_dist_t *td = NULL;
	tandem_diag_t *diag = NULL;
	*out = NULL;
	if (o->nlisten == 0 && o->nnotify > 0) {
		tandem_logf("--notify needs --xfr-listen: the secondaries transfer from it");
		return TANDEM_EINVAL;
	}
	if (o->nlisten == 0 && o->nprimary > 0) {
		tandem_logf("--primary needs --xfr-listen: the primary's NOTIFY arrives "
			    "there");
		return TANDEM_EINVAL;
	}
	if (o->nlisten == 0) {
		return TANDEM_OK;
	}
	td = calloc(1, sizeof(*td));
	if (td == NULL || tandem_diag_new(&diag) != TANDEM_OK) {
		goto out;
	}
	td->journal_max_entries = o->journal_max_entries;
	td->journal_max_bytes = o->journal_max_bytes;
	td->notify = o->notify;
	td->nnotify = o->nnotify;
	td->keys = calloc(o->nkeys + 1, sizeof(*td->keys));
	if (td->keys == NULL) {
		goto out;
	}
	for (size_t i = 0; i < o->nkeys; i++) {
		ret = dist_key_load(o->keys[i], diag, &td->keys[i]);
		if (ret != TANDEM_OK) {
			tandem_logf("--tsig-key %s: refused", o->keys[i]);
			goto out;
		}
		td->nkeys++;
	}
	if (td->nkeys == 0) {
		ret = TANDEM_EINVAL;
		tandem_logf("--xfr-listen needs a --tsig-key: transfers are signed");
		goto out;
	}
	if (o->nprimary > 0 && (ret = tdm_dist_xfrin_start(td, o, diag)) != TANDEM_OK) {
		goto out;
	}
	dist_conf_t conf = {
	    .notify = td->xfrin != NULL ? dist_xfrin_notify : NULL,
	    .notify_arg = td->xfrin,
	    .listen = o->listen,
	    .nlisten = o->nlisten,
	    .keys = (const dist_key_t *const *)td->keys,
	    .nkeys = td->nkeys,
	    .acl = o->acl,
	    .nacl = o->nacl,
	    .max_ixfr_ratio = o->ratio,
	    .log = tdm_dist_refusal,
	    .log_arg = NULL,
	};
	ret = dist_server_new(&conf, diag, &td->srv);
	if (ret != TANDEM_OK) {
		goto out;
	}
	for (size_t i = 0; i < dist_server_listeners(td->srv); i++) {
		/* the address as given, with the port bound (port 0: the free one) */
		const char *colon = strrchr(o->listen[i], ':');
		int hl = colon != NULL ? (int)(colon - o->listen[i]) : 0;
		printf("xfr %.*s:%u\n", hl, o->listen[i], dist_server_port(td->srv, i));
		if (i == 0) {
			snprintf(td->address, sizeof(td->address), "%.*s:%u", hl, o->listen[i],
				 dist_server_port(td->srv, i));
		}
		tandem_logf("transfers served on %.*s:%u (tcp and udp)", hl, o->listen[i],
			    dist_server_port(td->srv, i));
	}
	fflush(stdout);
	*out = td;
	td = NULL;
out:
	if (diag != NULL) {
		tdm_dist_diag(diag);
	}
	tandem_diag_free(diag);
	tdm_dist_free(td);
	return ret;
}

/* The changeset of j that ends at serial (the newest entry), or NULL. */
static dns_changeset_t *tdm_dist_newest(journal_t *j, uint32_t serial, tandem_diag_t *diag)
{
	size_t n = j != NULL ? journal_count(j) : 0;
	uint32_t last = 0;
	if (n == 0 || !journal_serial(j, false, &last) || last != serial) {
		return NULL;
	}
	dns_changeset_t *cs = NULL;
	if (journal_read(j, n - 1, diag, &cs) != TANDEM_OK) {
		tdm_dist_diag(diag);
		return NULL;
	}
	return cs;
}

/* The zone's entry, made at its first use (NULL: out of memory). */
static tdm_dist_zone_t *tdm_dist_zone(tdm_dist_t *td, const char *zone)
{
	for (size_t i = 0; i < td->nzones; i++) {
		if (strcmp(td->zones[i].name, zone) == 0) {
			return &td->zones[i];
		}
	}
	tdm_dist_zone_t *grown = realloc(td->zones, (td->nzones + 1) * sizeof(*grown));
	if (grown == NULL) {
		return NULL;
	}
	td->zones = grown;
	tdm_dist_zone_t *dz = &td->zones[td->nzones];
	memset(dz, 0, sizeof(*dz));
	dz->name = strdup(zone);
	if (dz->name == NULL) {
		return NULL;
	}
	td->nzones++;
	return dz;
}

static void tdm_dist_swap(tdm_dist_t *td, const char *zone, dist_version_t *v,
			  dist_version_t **served)
{
	int ret = dist_publish(td->srv, zone, v);
	if (ret != TANDEM_OK) {
		tandem_logf("zone %s: serial %u not served: %s", zone, dist_version_serial(v),
			    tandem_strerror(ret));
		return;
	}
	dist_version_unref(*served);
	*served = dist_version_ref(v);
	tdm_dist_zone_t *dz = tdm_dist_zone(td, zone);
	if (dz != NULL) {
		dz->has_published = true;
		dz->published = dist_version_serial(v);
	}
}

/* NOTIFY's events worth a line: answers, refusals and giving up (not every try). */
static void tdm_dist_notify_event(void *arg, const dist_notify_event_t *ev)
{
	(void)arg;
	switch (ev->kind) {
	case DIST_NOTIFY_ANSWERED:
		tandem_logf("notify %s: took serial %u (try %u)", ev->peer_name, ev->serial,
			    ev->tries);
		break;
	case DIST_NOTIFY_REFUSED:
		tandem_logf("notify %s: serial %u refused (rcode %d)", ev->peer_name, ev->serial,
			    ev->rcode);
		break;
	case DIST_NOTIFY_GAVE_UP:
		tandem_logf("notify %s: serial %u: no answer after %u tries, given up",
			    ev->peer_name, ev->serial, ev->tries);
		break;
	default: break;
	}
}

/* "ADDR:PORT" or "[ADDR6]:PORT" into a NOTIFY peer (addr points into buf). */
static int tdm_dist_peer_parse(const char *text, char *buf, size_t cap,
			       dist_notify_peer_conf_t *peer)
{
	const char *colon = strrchr(text, ':');
	if (colon == NULL || colon == text) {
		return TANDEM_EINVAL;
	}
	const char *host = text;
	size_t hl = (size_t)(colon - text);
	if (text[0] == '[' && hl >= 2 && text[hl - 1] == ']') {
		host++;
		hl -= 2;
	}
	char *end = NULL;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (hl == 0 || hl >= cap || *end != '\0' || end == colon + 1 || errno != 0 || port == 0 ||
	    port > 65535) {
		return TANDEM_EINVAL;
	}
	memcpy(buf, host, hl);
	buf[hl] = '\0';
	peer->addr = buf;
	peer->port = (uint16_t)port;
	return TANDEM_OK;
}

/* A UDP socket connected to the secondary peer names (-1: it could not be made). */
static int tdm_dist_probe_socket(const dist_notify_peer_conf_t *peer)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_DGRAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char port[8];
	snprintf(port, sizeof(port), "%u", peer->port);
	if (getaddrinfo(peer->addr, port, &hints, &ai) != 0) {
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* The zone's notifier and SOA probes, made with every --notify secondary at its first use
 * (NULL: none configured, or it could not be made: said once). */
static dist_notify_t *tdm_dist_notifier(tdm_dist_t *td, tdm_dist_zone_t *dz)
{
	if (dz->notify != NULL || dz->probes != NULL) {
		return dz->notify;
	}
	const char *zone = dz->name;
	tandem_diag_t *diag = NULL;
	dist_notify_t *n = NULL;
	dz->probes = calloc(td->nnotify, sizeof(*dz->probes));
	if (dz->probes == NULL || tandem_diag_new(&diag) != TANDEM_OK ||
	    dist_notify_new(zone, NULL, diag, &n) != TANDEM_OK) {
		goto fail;
	}
	for (size_t i = 0; i < td->nnotify; i++) {
		dz->probes[i].fd = -1;
	}
	/* signed with the first --tsig-key: the one the secondaries transfer with */
	const dist_key_t *k = td->keys[0];
	for (size_t i = 0; i < td->nnotify; i++) {
		char host[128];
		dist_notify_peer_conf_t peer = {
		    .tsig_alg =
			dist_key_is_sha512(k) ? DIST_TSIG_HMAC_SHA512 : DIST_TSIG_HMAC_SHA256,
		    .tsig_name = dist_key_name(k),
		    .tsig_secret = dist_key_secret_b64(k),
		};
		if (tdm_dist_peer_parse(td->notify[i], host, sizeof(host), &peer) != TANDEM_OK) {
			tandem_diag_add(diag, TANDEM_EINVAL,
					"notify %s: expected ADDR:PORT or [ADDR6]:PORT",
					td->notify[i]);
			goto fail;
		}
		if (dist_notify_peer_add(n, &peer, diag) != TANDEM_OK) {
			goto fail;
		}
		dz->probes[i].fd = tdm_dist_probe_socket(&peer);
		if (dz->probes[i].fd < 0) {
			tandem_logf("zone %s: %s: no SOA query socket: %s", zone, td->notify[i],
				    strerror(errno));
		}
	}
	dist_notify_set_callback(n, tdm_dist_notify_event, td);
	dz->notify = n;
	tandem_diag_free(diag);
	return n;
fail:
	tandem_logf("zone %s: secondaries are not NOTIFYed", zone);
	if (diag != NULL) {
		tdm_dist_diag(diag);
	}
	tandem_diag_free(diag);
	dist_notify_free(n);
	for (size_t i = 0; dz->probes != NULL && i < td->nnotify; i++) {
		if (dz->probes[i].fd >= 0) {
			close(dz->probes[i].fd);
		}
		dz->probes[i].fd = -1; /* the probes stay: made once, said once */
	}
	if (dz->probes == NULL) {
		dz->probes = calloc(td->nnotify, sizeof(*dz->probes));
		for (size_t i = 0; dz->probes != NULL && i < td->nnotify; i++) {
			dz->probes[i].fd = -1;
		}
	}
	return NULL;
}

/* Starts NOTIFYing the zone's secondaries of serial; their SOA is asked for at once. */
static void tdm_dist_notify(tdm_dist_t *td, const char *zone, uint32_t serial)
{
	tdm_dist_zone_t *dz = td->nnotify > 0 ? tdm_dist_zone(td, zone) : NULL;
	dist_notify_t *n = dz != NULL ? tdm_dist_notifier(td, dz) : NULL;
	if (n == NULL) {
		return;
	}
	uint64_t now = dist_notify_now_ms(); /* the clock tdm_dist_tick is given too */
	for (size_t i = 0; i < td->nnotify; i++) {
		dz->probes[i].due_ms = now;
		dz->probes[i].soon = true;
	}
	int ret = dist_notify_publish(n, serial, now);
	if (ret == TANDEM_OK) {
		ret = dist_notify_process(n, now); /* the first tries go out at once */
	}
	if (ret != TANDEM_OK) {
		tandem_logf("zone %s: serial %u: NOTIFY: %s", zone, serial, tandem_strerror(ret));
	}
}

/* Sends probe pr its SOA query for zone, TSIG-signed with the first key. */
static void tdm_dist_probe_send(tdm_dist_t *td, const tdm_dist_zone_t *dz, tdm_dist_probe_t *pr,
				uint64_t now)
{
	const dist_key_t *k = td->keys[0];
	ldns_rdf *qname = NULL;
	ldns_pkt *pkt = NULL;
	uint8_t *wire = NULL;
	size_t len = 0;
	pr->waiting = false;
	pr->soon = false;
	pr->due_ms = now + TDM_PROBE_RETRY_MS;
	ldns_rdf_deep_free(pr->mac);
	pr->mac = NULL;
	if (ldns_str2rdf_dname(&qname, dz->name) != LDNS_STATUS_OK) {
		return;
	}
	pkt = ldns_pkt_query_new(qname, LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, 0);
	if (pkt == NULL) {
		ldns_rdf_deep_free(qname);
		return;
	}
	uint16_t id = 0;
	if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id)) {
		id = (uint16_t)(now ^ (now >> 16));
	}
	ldns_pkt_set_id(pkt, id);
	const ldns_rr *tsig = NULL;
	if (ldns_pkt_tsig_sign(pkt, dist_key_name(k), dist_key_secret_b64(k), 300,
			       dist_key_is_sha512(k) ? "hmac-sha512." : "hmac-sha256.",
			       NULL) != LDNS_STATUS_OK ||
	    (tsig = ldns_pkt_tsig(pkt)) == NULL || ldns_rr_rd_count(tsig) < 4 ||
	    ldns_pkt2wire(&wire, pkt, &len) != LDNS_STATUS_OK) {
		goto out;
	}
	pr->mac = ldns_rdf_clone(ldns_rr_rdf(tsig, 3));
	if (pr->mac != NULL && send(pr->fd, wire, len, 0) == (ssize_t)len) {
		pr->id = id;
		pr->waiting = true;
		pr->sent_ms = now;
	}
out:
	free(wire);
	ldns_pkt_free(pkt);
}

/* The serial of an answer to pr's query for zone (signed by the first key, NOERROR, the
 * zone's SOA in the answer section); false for anything else. */
static bool tdm_dist_probe_answer(const tdm_dist_t *td, const tdm_dist_zone_t *dz,
				  const tdm_dist_probe_t *pr, const uint8_t *buf, size_t len,
				  uint32_t *serial)
{
	const dist_key_t *k = td->keys[0];
	ldns_pkt *pkt = NULL;
	ldns_rdf *zone = NULL;
	bool ok = false;
	if (dist_wire2pkt(&pkt, buf, len) != LDNS_STATUS_OK ||
	    ldns_str2rdf_dname(&zone, dz->name) != LDNS_STATUS_OK) {
		goto out;
	}
	if (!ldns_pkt_qr(pkt) || ldns_pkt_id(pkt) != pr->id ||
	    ldns_pkt_get_rcode(pkt) != LDNS_RCODE_NOERROR || ldns_pkt_tsig(pkt) == NULL ||
	    !dist_key_verify(k, pkt, buf, len, pr->mac)) {
		goto out;
	}
	const ldns_rr_list *an = ldns_pkt_answer(pkt);
	for (size_t i = 0; i < ldns_rr_list_rr_count(an) && !ok; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(an, i);
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && ldns_rr_rd_count(rr) >= 3 &&
		    ldns_dname_compare(ldns_rr_owner(rr), zone) == 0) {
			*serial = ldns_rdf2native_int32(ldns_rr_rdf(rr, 2));
			ok = true;
		}
	}
out:
	ldns_rdf_deep_free(zone);
	ldns_pkt_free(pkt);
	return ok;
}

/* Reads what waits on the zone's probe sockets and sends the queries that are due. */
static void tdm_dist_probe_tick(tdm_dist_t *td, tdm_dist_zone_t *dz, uint64_t now)
{
	for (size_t i = 0; dz->probes != NULL && i < td->nnotify; i++) {
		tdm_dist_probe_t *pr = &dz->probes[i];
		dist_notify_peer_state_t st;
		if (pr->fd < 0) {
			continue;
		}
		if (dz->notify != NULL && dist_notify_peer_state(dz->notify, i, &st) &&
		    st.answered && (!pr->notified || pr->took != st.answered_serial)) {
			pr->notified = true; /* a NOTIFY answered: ask when its transfer is done */
			pr->took = st.answered_serial;
			pr->due_ms = now + TDM_PROBE_AFTER_MS;
			pr->soon = true;
		}
		uint8_t buf[4096];
		for (int n = 0; n < 16; n++) { /* bounded: a flood waits for the next tick */
			ssize_t got = recv(pr->fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (got < 0) {
				break;
			}
			uint32_t serial = 0;
			if (pr->waiting &&
			    tdm_dist_probe_answer(td, dz, pr, buf, (size_t)got, &serial)) {
				pr->waiting = false;
				pr->has_serial = true;
				pr->serial = serial;
				if (!pr->soon) {
					pr->due_ms = now + TDM_PROBE_EVERY_MS;
				}
			}
		}
		if (pr->waiting && now - pr->sent_ms >= TDM_PROBE_WAIT_MS) {
			pr->waiting = false; /* unanswered: its last serial stays as it was */
		}
		if (!pr->waiting && now >= pr->due_ms) {
			tdm_dist_probe_send(td, dz, pr, now);
		}
	}
}

void tdm_dist_tick(tdm_dist_t *td, uint64_t now_ms)
{
	for (size_t i = 0; td != NULL && i < td->nzones; i++) {
		dist_notify_t *n = td->zones[i].notify;
		if (n != NULL && dist_notify_process(n, now_ms) != TANDEM_OK) {
			tandem_logf("zone %s: NOTIFY: cannot send", td->zones[i].name);
		}
		tdm_dist_probe_tick(td, &td->zones[i], now_ms);
	}
}

size_t tdm_dist_secondaries(const tdm_dist_t *td, const char *zone, tdm_dist_secondary_t *out,
			    size_t cap)
{
	const tdm_dist_zone_t *dz = NULL;
	for (size_t i = 0; td != NULL && i < td->nzones && dz == NULL; i++) {
		dz = strcmp(td->zones[i].name, zone) == 0 ? &td->zones[i] : NULL;
	}
	size_t n = 0;
	for (size_t i = 0; dz != NULL && dz->probes != NULL && i < td->nnotify; i++) {
		const tdm_dist_probe_t *pr = &dz->probes[i];
		if (!pr->has_serial) {
			continue;
		}
		if (n < cap) {
			out[n] = (tdm_dist_secondary_t){
			    .name = td->notify[i],
			    .serial = pr->serial,
			    .ahead =
				dz->has_published && tandem_serial_gt(pr->serial, dz->published),
			    .ours = dz->published,
			};
		}
		n++;
	}
	return n;
}

int tdm_dist_timeout_ms(const tdm_dist_t *td, uint64_t now_ms)
{
	int best = -1;
	for (size_t i = 0; td != NULL && i < td->nzones; i++) {
		const dist_notify_t *n = td->zones[i].notify;
		int t = n != NULL ? dist_notify_timeout_ms(n, now_ms) : -1;
		if (t >= 0 && (best < 0 || t < best)) {
			best = t;
		}
	}
	return best;
}

/*
 * Gives v the changesets of j up to v's serial (a later entry, never committed, is left
 * out), used only when they end at it; when the journal does not chain, only its chained
 * tail (said in the log). IXFR then answers from any serial v holds. Returns how many v
 * took (0: none end at its serial), or -1 when v refused one (v holds a part: a version
 * not yet published is dropped by the caller).
 */
static long tdm_dist_seed(tdm_dist_t *td, const char *zone, dist_version_t *v, journal_t *j,
			  tandem_diag_t *diag)
{
	size_t count = j != NULL ? journal_count(j) : 0;
	dns_changeset_t **list = count > 0 ? calloc(count, sizeof(*list)) : NULL;
	size_t n = 0, from = 0;
	bool ends = false;
	journal_iter_t it;
	uint32_t first = 0;
	if (list != NULL && journal_serial(j, true, &first) &&
	    journal_iter_init(&it, j, first) == TANDEM_OK) {
		while (n < count && !ends) {
			if (journal_iter_next(&it, diag, &list[n]) != TANDEM_OK ||
			    list[n] == NULL) {
				break;
			}
			if (n > 0 && dns_changeset_serial(list[n], false) !=
					 dns_changeset_serial(list[n - 1], true)) {
				from = n; /* a gap: only what follows it chains */
			}
			ends = dns_changeset_serial(list[n++], true) == dist_version_serial(v);
		}
	}
	if (ends && from > 0) {
		tandem_logf("zone %s: the journal does not chain before serial %u: IXFR from "
			    "older serials answers with the zone",
			    zone, dns_changeset_serial(list[from], false));
	}
	size_t used = 0;
	bool refused = false;
	for (size_t i = 0; i < n; i++) {
		if (!ends || i < from || refused) {
			dns_changeset_free(list[i]);
		} else if (dist_version_add_take(v, list[i]) == TANDEM_OK) {
			used++;
		} else {
			refused = true;
		}
	}
	free(list);
	if (refused) {
		tandem_logf("zone %s: the journal's changesets not taken: IXFR answers "
			    "with the zone",
			    zone);
		return -1;
	}
	return (long)used;
}

void tdm_dist_publish(tdm_dist_t *td, const char *zone, dist_version_t *v, journal_t *j,
		      dist_version_t **served)
{
	tandem_diag_t *diag = NULL;
	if (td == NULL || v == NULL || tandem_diag_new(&diag) != TANDEM_OK) {
		return;
	}
	if (*served == NULL) {
		/* the first own publication (after a takeover, say): the whole journal up to
		 * this serial, so that secondaries at any serial it holds get IXFR */
		long used = tdm_dist_seed(td, zone, v, j, diag);
		if (used > 0) {
			tandem_logf("zone %s: serial %u: IXFR from %ld journal changeset(s)", zone,
				    dist_version_serial(v), used);
		}
	}
	dns_changeset_t *cs =
	    *served == NULL ? NULL : tdm_dist_newest(j, dist_version_serial(v), diag);
	if (cs != NULL) {
		int ret = dist_version_add_take(v, cs);
		if (ret == TANDEM_OK && *served != NULL) {
			ret = dist_version_inherit(v, *served, td->journal_max_entries,
						   td->journal_max_bytes);
		}
		if (ret != TANDEM_OK) {
			tandem_logf("zone %s: serial %u: IXFR answers with the zone: %s", zone,
				    dist_version_serial(v), tandem_strerror(ret));
		}
	}
	tdm_dist_swap(td, zone, v, served);
	if (*served == v) {
		tdm_dist_notify(td, zone, dist_version_serial(v));
	}
	tandem_diag_free(diag);
}

/* Serves v (this node's publication as loaded from its file; a reference is taken) with
 * j's changesets up to its serial; logs what it serves. */
static void tdm_dist_serve_loaded(tdm_dist_t *td, const char *zone, dist_version_t *v, journal_t *j,
				  tandem_diag_t *diag, dist_version_t **served)
{
	long used = tdm_dist_seed(td, zone, v, j, diag);
	if (used < 0) {
		return;
	}
	tdm_dist_swap(td, zone, v, served);
	tandem_logf("zone %s: serving serial %u (published by this node) with %ld "
		    "journal changeset(s)",
		    zone, dist_version_serial(v), used);
}

void tdm_dist_serve_file(tdm_dist_t *td, const char *zone, const char *path, journal_t *j,
			 dist_version_t **served)
{
	tandem_diag_t *diag = NULL;
	dns_zone_t *z = NULL;
	dist_version_t *v = NULL;
	struct stat st;
	if (td == NULL || stat(path, &st) != 0 || tandem_diag_new(&diag) != TANDEM_OK) {
		return;
	}
	dns_load_opts_t lo = {.origin = zone, .keep_dnssec = true};
	int ret = dns_zone_load(path, &lo, diag, &z);
	if (ret == TANDEM_OK) {
		ret = dist_version_new_take(z, &v);
	}
	if (ret != TANDEM_OK) {
		tandem_logf("zone %s: %s: not served: %s", zone, path, tandem_strerror(ret));
		tdm_dist_diag(diag);
	} else {
		tdm_dist_serve_loaded(td, zone, v, j, diag, served);
	}
	dist_version_unref(v);
	tandem_diag_free(diag);
}

void tdm_dist_serve_version(tdm_dist_t *td, const char *zone, dist_version_t *v, journal_t *j,
			    dist_version_t **served)
{
	tandem_diag_t *diag = NULL;
	if (td == NULL || v == NULL || tandem_diag_new(&diag) != TANDEM_OK) {
		return;
	}
	tdm_dist_serve_loaded(td, zone, v, j, diag, served);
	tandem_diag_free(diag);
}

const char *tdm_dist_address(const tdm_dist_t *td)
{
	return td != NULL ? td->address : "";
}

void tdm_dist_withdraw(tdm_dist_t *td, const char *zone, dist_version_t **served)
{
	if (td != NULL) {
		int ret = dist_publish(td->srv, zone, NULL);
		if (ret != TANDEM_OK) {
			tandem_logf("zone %s: cannot stop serving it: %s", zone,
				    tandem_strerror(ret));
		}
		for (size_t i = 0; i < td->nzones; i++) {
			if (strcmp(td->zones[i].name, zone) == 0) {
				tdm_dist_zone_clear(td, &td->zones[i]);
			}
		}
	}
	/* the server dropped its reference; a transfer under way keeps its own to the end */
	dist_version_unref(*served);
	*served = NULL;
}

const dist_key_t *tdm_dist_key(const tdm_dist_t *td)
{
	return td != NULL && td->nkeys > 0 ? td->keys[0] : NULL;
}

bool tdm_dist_hold_take(tdm_dist_t *td, const char *zone, dns_zone_t *copy)
{
	if (td == NULL || td->srv == NULL) {
		dns_zone_free(copy);
		return false;
	}
	dist_version_t *v = NULL;
	int ret = copy != NULL ? dist_version_new_take(copy, &v) : TANDEM_OK;
	if (ret == TANDEM_OK) {
		ret = dist_hold(td->srv, zone, v);
	}
	dist_version_unref(v);
	if (ret != TANDEM_OK) {
		tandem_logf("zone %s: the held serial cannot be offered to the standby: %s", zone,
			    tandem_strerror(ret));
	}
	return ret == TANDEM_OK;
}

int tdm_dist_set_notify(tdm_dist_t *td, const char *const *notify, size_t n)
{
	char **own = calloc(n + 1, sizeof(*own));
	if (td == NULL || own == NULL) {
		free(own);
		return td == NULL ? TANDEM_EINVAL : TANDEM_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		char host[INET6_ADDRSTRLEN + 8];
		dist_notify_peer_conf_t peer = {0};
		if (tdm_dist_peer_parse(notify[i], host, sizeof(host), &peer) != TANDEM_OK) {
			tandem_logf("reload: notify %s: expected ADDR:PORT or [ADDR6]:PORT",
				    notify[i]);
			tdm_dist_notify_own_free(own);
			return TANDEM_ESYNTAX;
		}
		if ((own[i] = strdup(notify[i])) == NULL) {
			tdm_dist_notify_own_free(own);
			return TANDEM_ENOMEM;
		}
	}
	/* every zone's notifier and SOA queries go (made again with the new list at their
	 * next use); what each zone serves stays, and the new list hears of it at once */
	for (size_t i = 0; i < td->nzones; i++) {
		tdm_dist_zone_t *dz = &td->zones[i];
		bool had = dz->has_published;
		uint32_t serial = dz->published;
		tdm_dist_zone_clear(td, dz);
		dz->has_published = had;
		dz->published = serial;
	}
	tdm_dist_notify_own_free(td->notify_own);
	td->notify_own = own;
	td->notify = (const char *const *)own;
	td->nnotify = n;
	for (size_t i = 0; i < td->nzones; i++) {
		if (td->zones[i].has_published) {
			tdm_dist_notify(td, td->zones[i].name, td->zones[i].published);
		}
	}
	return TANDEM_OK;
}

int tdm_dist_set_acl(tdm_dist_t *td, const char *const *acl, size_t n)
{
	tandem_diag_t *diag = NULL;
	if (td == NULL || tandem_diag_new(&diag) != TANDEM_OK) {
		return td == NULL ? TANDEM_EINVAL : TANDEM_ENOMEM;
	}
	int ret = dist_server_set_acl(td->srv, acl, n, diag);
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		tandem_logf("reload: xfr-acl: %s", tandem_diag_msg(diag, i));
	}
	tandem_diag_free(diag);
	return ret;
}
