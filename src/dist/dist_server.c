/* The transfer server's thread: libevent listeners on TCP and UDP, one state per TCP client. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dist_internal.h"
#include "dist_server_internal.h"
#include "tandem_error.h"

/* How many times a port-0 listener looks for a port free on both TCP and UDP. */
#define DIST_BIND_TRIES 32

void dist_count(dist_server_t *srv, uint64_t *field)
{
	pthread_mutex_lock(&srv->stats_lock);
	(*field)++;
	pthread_mutex_unlock(&srv->stats_lock);
}

void dist_server_stats(dist_server_t *srv, dist_stats_t *out)
{
	if (srv == NULL || out == NULL) {
		return;
	}
	pthread_mutex_lock(&srv->stats_lock);
	*out = srv->stats;
	pthread_mutex_unlock(&srv->stats_lock);
}

/* ---- zones ---- */

/* Sets zone's served version (held false) or its held one (held true). */
static int dist_zone_put(dist_server_t *srv, const char *zone, dist_version_t *v, bool held)
{
	int ret = TANDEM_EINVAL;
	ldns_rdf *name = NULL;
	if (srv == NULL || zone == NULL) {
		return ret;
	}
	name = ldns_dname_new_frm_str(zone);
	if (name == NULL) {
		return TANDEM_DNS_ENAME;
	}
	ldns_dname2canonical(name);
	if (v != NULL) {
		const uint8_t *origin = dns_zone_origin(v->zone);
		size_t olen = dns_name_len(origin, DNS_NAME_MAXLEN);
		if (olen != ldns_rdf_size(name) || memcmp(origin, ldns_rdf_data(name), olen) != 0) {
			goto out;
		}
		if (v->ncs > 0 && dns_changeset_serial(v->cs[v->ncs - 1]->cs, true) != v->serial) {
			goto out;
		}
		v->frozen = true;
	}
	dist_version_t *old = NULL;
	pthread_mutex_lock(&srv->lock);
	size_t i = 0;
	while (i < srv->nzones && ldns_dname_compare(srv->zones[i].name, name) != 0) {
		i++;
	}
	if (i == srv->nzones) {
		if (v == NULL) {
			pthread_mutex_unlock(&srv->lock);
			ret = TANDEM_OK;
			goto out;
		}
		dist_zone_t *z = realloc(srv->zones, (srv->nzones + 1) * sizeof(*z));
		if (z == NULL) {
			pthread_mutex_unlock(&srv->lock);
			ret = TANDEM_ENOMEM;
			goto out;
		}
		srv->zones = z;
		srv->zones[i].name = name;
		srv->zones[i].v = NULL;
		srv->zones[i].held = NULL;
		name = NULL;
		srv->nzones++;
	}
	dist_version_t **slot = held ? &srv->zones[i].held : &srv->zones[i].v;
	old = *slot;
	*slot = dist_version_ref(v);
	pthread_mutex_unlock(&srv->lock);
	/* the last reference to a big zone may be this one: freed outside the lock */
	dist_version_unref(old);
	ret = TANDEM_OK;
out:
	ldns_rdf_deep_free(name);
	return ret;
}

int dist_publish(dist_server_t *srv, const char *zone, dist_version_t *v)
{
	return dist_zone_put(srv, zone, v, false);
}

int dist_hold(dist_server_t *srv, const char *zone, dist_version_t *v)
{
	return dist_zone_put(srv, zone, v, true);
}

static dist_version_t *dist_server_find(dist_server_t *srv, const ldns_rdf *name, bool held)
{
	dist_version_t *v = NULL;
	pthread_mutex_lock(&srv->lock);
	for (size_t i = 0; i < srv->nzones; i++) {
		if (ldns_dname_compare(srv->zones[i].name, name) == 0) {
			v = dist_version_ref(held ? srv->zones[i].held : srv->zones[i].v);
			break;
		}
	}
	pthread_mutex_unlock(&srv->lock);
	return v;
}

dist_version_t *dist_server_version(dist_server_t *srv, const ldns_rdf *name)
{
	return dist_server_find(srv, name, false);
}

dist_version_t *dist_server_held(dist_server_t *srv, const ldns_rdf *name)
{
	return dist_server_find(srv, name, true);
}

bool dist_served_serial(dist_server_t *srv, const char *zone, uint32_t *out)
{
	if (srv == NULL || zone == NULL || out == NULL) {
		return false;
	}
	ldns_rdf *name = ldns_dname_new_frm_str(zone);
	if (name == NULL) {
		return false;
	}
	dist_version_t *v = dist_server_version(srv, name);
	ldns_rdf_deep_free(name);
	if (v == NULL) {
		return false;
	}
	*out = v->serial;
	dist_version_unref(v);
	return true;
}

/* ---- TCP clients ---- */

static void dist_conn_free(dist_conn_t *c)
{
	if (c == NULL) {
		return;
	}
	dist_server_t *srv = c->srv;
	if (c->prev != NULL) {
		c->prev->next = c->next;
	} else {
		srv->conns = c->next;
	}
	if (c->next != NULL) {
		c->next->prev = c->prev;
	}
	srv->clients--;
	dist_xfr_end(c);
	bufferevent_free(c->bev);
	free(c);
}

static void dist_conn_read(struct bufferevent *bev, void *arg);

/* Sends the next messages of the running transfer while the client keeps up. */
static void dist_conn_pump(dist_conn_t *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	while (c->xfr_busy && evbuffer_get_length(out) < DIST_OUT_HIGH) {
		const uint8_t *wire = NULL;
		size_t len = 0;
		bool done = false;
		int ret = dist_xfr_next(c, &wire, &len, &done);
		if (ret != TANDEM_OK) {
			dist_logf(c->srv, "xfr: transfer to %s broken off: %s", c->peer,
				  tandem_strerror(ret));
			dist_conn_free(c);
			return;
		}
		uint8_t pre[2] = {(uint8_t)(len >> 8), (uint8_t)len};
		evbuffer_add(out, pre, 2);
		evbuffer_add(out, wire, len);
		if (done) {
			dist_xfr_end(c);
		}
	}
	if (!c->xfr_busy) {
		/* the next query, if one came meanwhile */
		bufferevent_enable(c->bev, EV_READ);
		dist_conn_read(c->bev, c);
	}
}

static void dist_conn_write(struct bufferevent *bev, void *arg)
{
	(void)bev;
	dist_conn_t *c = arg;
	if (c->xfr_busy) {
		dist_conn_pump(c);
	} else if (c->closing) {
		dist_conn_free(c);
	}
}

static void dist_conn_read(struct bufferevent *bev, void *arg)
{
	dist_conn_t *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	while (!c->xfr_busy && !c->closing) {
		size_t have = evbuffer_get_length(in);
		uint8_t pre[2];
		if (have < 2 || evbuffer_copyout(in, pre, 2) != 2) {
			return;
		}
		size_t len = ((size_t)pre[0] << 8) | pre[1];
		if (have < 2 + len) {
			return;
		}
		evbuffer_drain(in, 2);
		uint8_t *msg = evbuffer_pullup(in, (ssize_t)len);
		uint8_t *reply = NULL;
		size_t rlen = 0;
		dist_handle(c->srv, c, msg, len, (struct sockaddr *)&c->addr, c->peer, &reply,
			    &rlen);
		evbuffer_drain(in, len);
		if (reply != NULL) {
			uint8_t rp[2] = {(uint8_t)(rlen >> 8), (uint8_t)rlen};
			evbuffer_add(bufferevent_get_output(bev), rp, 2);
			evbuffer_add(bufferevent_get_output(bev), reply, rlen);
			free(reply);
		}
		if (c->xfr_busy) {
			/* no reading (nor read timeout) while the transfer runs */
			bufferevent_disable(bev, EV_READ);
			dist_conn_pump(c);
			return;
		}
	}
}

static void dist_conn_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	dist_conn_free(arg);
}

static void dist_peer_str(const struct sockaddr *sa, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	}
	snprintf(buf, size, "%s#%u", host, port);
}

static void dist_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
			int salen, void *arg)
{
	(void)lev;
	dist_server_t *srv = arg;
	if (srv->clients >= srv->max_clients) {
		char peer[DIST_PEER_MAX];
		dist_peer_str(sa, peer, sizeof(peer));
		dist_count(srv, &srv->stats.clients_refused);
		dist_logf(srv, "xfr: %s: connection closed: %u clients already", peer,
			  srv->clients);
		evutil_closesocket(fd);
		return;
	}
	dist_conn_t *c = calloc(1, sizeof(*c));
	struct bufferevent *bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c == NULL || bev == NULL) {
		free(c);
		if (bev != NULL) {
			bufferevent_free(bev);
		} else {
			evutil_closesocket(fd);
		}
		return;
	}
	c->srv = srv;
	c->bev = bev;
	memcpy(&c->addr, sa, (size_t)salen < sizeof(c->addr) ? (size_t)salen : sizeof(c->addr));
	dist_peer_str(sa, c->peer, sizeof(c->peer));
	c->next = srv->conns;
	if (srv->conns != NULL) {
		srv->conns->prev = c;
	}
	srv->conns = c;
	srv->clients++;
	struct timeval tv = {.tv_sec = srv->idle_ms / 1000,
			     .tv_usec = (srv->idle_ms % 1000) * 1000};
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_setwatermark(bev, EV_WRITE, DIST_OUT_LOW, 0);
	bufferevent_setcb(bev, dist_conn_read, dist_conn_write, dist_conn_event, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* ---- UDP ---- */

static void dist_udp_read(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	dist_server_t *srv = arg;
	/* a bounded number per wake-up, so that TCP clients are served too */
	for (int n = 0; n < 64; n++) {
		uint8_t buf[65535];
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		ssize_t got =
		    recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);
		if (got < 0) {
			return;
		}
		char peer[DIST_PEER_MAX];
		dist_peer_str((struct sockaddr *)&ss, peer, sizeof(peer));
		uint8_t *reply = NULL;
		size_t rlen = 0;
		dist_handle(srv, NULL, buf, (size_t)got, (struct sockaddr *)&ss, peer, &reply,
			    &rlen);
		if (reply != NULL) {
			(void)sendto(fd, reply, rlen, MSG_DONTWAIT, (struct sockaddr *)&ss, sl);
			free(reply);
		}
	}
}

/* ---- setup ---- */

static void dist_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	char b[16];
	(void)read(fd, b, sizeof(b));
	event_base_loopbreak(((dist_server_t *)arg)->base);
}

static void *dist_thread(void *arg)
{
	dist_server_t *srv = arg;
	event_base_loop(srv->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* "ADDR:PORT" or "[ADDR6]:PORT" into ss (dist_internal.h). */
int dist_addr_parse(const char *text, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(text, ':');
	if (colon == NULL || colon == text || (size_t)(colon - text) >= sizeof(host)) {
		return TANDEM_ESYNTAX;
	}
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	char *end = NULL;
	long port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535) {
		return TANDEM_ESYNTAX;
	}
	memset(ss, 0, sizeof(*ss));
	size_t hl = strlen(host);
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		struct sockaddr_in6 *in6 = (void *)ss;
		if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1) {
			return TANDEM_ESYNTAX;
		}
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*sl = sizeof(*in6);
		return TANDEM_OK;
	}
	struct sockaddr_in *in = (void *)ss;
	if (inet_pton(AF_INET, host, &in->sin_addr) != 1) {
		return TANDEM_ESYNTAX;
	}
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)port);
	*sl = sizeof(*in);
	return TANDEM_OK;
}

static void dist_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET6) {
		((struct sockaddr_in6 *)(void *)ss)->sin6_port = htons(port);
	} else {
		((struct sockaddr_in *)(void *)ss)->sin_port = htons(port);
	}
}

static uint16_t dist_get_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		return 0;
	}
	if (ss.ss_family == AF_INET6) {
		return ntohs(((struct sockaddr_in6 *)(void *)&ss)->sin6_port);
	}
	return ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port);
}

static int dist_socket(struct sockaddr_storage *ss, socklen_t sl, int type)
{
	int fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -1;
	}
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6) {
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	if (bind(fd, (struct sockaddr *)ss, sl) != 0 ||
	    (type == SOCK_STREAM && listen(fd, 64) != 0)) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* Binds TCP and UDP on one port (a free one for port 0). */
static int dist_listen(dist_server_t *srv, dist_listener_t *l, const char *text,
		       tandem_diag_t *diag)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	if (dist_addr_parse(text, &ss, &sl) != TANDEM_OK) {
		tandem_diag_add(diag, TANDEM_ESYNTAX,
				"xfr-listen %s: expected ADDR:PORT or [ADDR6]:PORT", text);
		return TANDEM_ESYNTAX;
	}
	bool any = (ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)(void *)&ss)->sin6_port
					     : ((struct sockaddr_in *)(void *)&ss)->sin_port) == 0;
	int tfd = -1, ufd = -1, err = 0;
	for (int tries = 0; tries < DIST_BIND_TRIES; tries++) {
		if (any) {
			dist_set_port(&ss, 0);
		}
		tfd = dist_socket(&ss, sl, SOCK_STREAM);
		if (tfd < 0) {
			err = errno;
			break;
		}
		dist_set_port(&ss, dist_get_port(tfd));
		ufd = dist_socket(&ss, sl, SOCK_DGRAM);
		if (ufd >= 0) {
			break;
		}
		err = errno;
		close(tfd);
		tfd = -1;
		if (!any || err != EADDRINUSE) {
			break;
		}
	}
	if (tfd < 0 || ufd < 0) {
		tandem_diag_add(diag, TANDEM_EIO, "xfr-listen %s: cannot bind: %s", text,
				strerror(err));
		return TANDEM_EIO;
	}
	l->port = dist_get_port(tfd);
	l->udp_fd = ufd;
	l->lev = evconnlistener_new(srv->base, dist_accept, srv, LEV_OPT_CLOSE_ON_FREE, -1, tfd);
	l->uev = event_new(srv->base, ufd, EV_READ | EV_PERSIST, dist_udp_read, srv);
	if (l->lev == NULL || l->uev == NULL || event_add(l->uev, NULL) != 0) {
		if (l->lev == NULL) {
			close(tfd);
		}
		return TANDEM_ENOMEM;
	}
	return TANDEM_OK;
}

int dist_server_new(const dist_conf_t *conf, tandem_diag_t *diag, dist_server_t **out)
{
	int ret = TANDEM_EINVAL;
	dist_server_t *srv = NULL;
	if (conf == NULL || out == NULL || (conf->nlisten > 0 && conf->listen == NULL) ||
	    (conf->nkeys > 0 && conf->keys == NULL) || (conf->nacl > 0 && conf->acl == NULL)) {
		goto out;
	}
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	pthread_mutex_init(&srv->lock, NULL);
	pthread_mutex_init(&srv->stats_lock, NULL);
	pthread_mutex_init(&srv->acl_lock, NULL);
	srv->wake[0] = srv->wake[1] = -1;
	srv->tsig_optional = conf->tsig_optional;
	srv->ratio = conf->max_ixfr_ratio == 0 ? 1.0 : conf->max_ixfr_ratio;
	srv->fudge = conf->fudge > 0 ? conf->fudge : 300;
	srv->max_clients = conf->max_clients > 0 ? conf->max_clients : 64;
	srv->idle_ms = conf->idle_ms > 0 ? conf->idle_ms : 30000;
	srv->log = conf->log;
	srv->log_arg = conf->log_arg;
	srv->notify = conf->notify;
	srv->notify_arg = conf->notify_arg;
	srv->keys = conf->keys;
	srv->nkeys = conf->nkeys;
	ret = TANDEM_ENOMEM;
	srv->acl = calloc(conf->nacl + 1, sizeof(*srv->acl));
	srv->ls = calloc(conf->nlisten + 1, sizeof(*srv->ls));
	srv->base = event_base_new();
	if (srv->acl == NULL || srv->ls == NULL || srv->base == NULL) {
		goto out;
	}
	for (size_t i = 0; i < conf->nacl; i++) {
		ret = dist_acl_parse(conf->acl[i], conf->keys, conf->nkeys, diag, &srv->acl[i]);
		if (ret != TANDEM_OK) {
			goto out;
		}
		srv->nacl++;
	}
	for (size_t i = 0; i < conf->nlisten; i++) {
		srv->ls[i].udp_fd = -1;
		srv->nls++;
		ret = dist_listen(srv, &srv->ls[i], conf->listen[i], diag);
		if (ret != TANDEM_OK) {
			goto out;
		}
	}
	ret = TANDEM_EIO;
	if (pipe2(srv->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		srv->wake[0] = srv->wake[1] = -1;
		tandem_diag_add(diag, ret, "xfr: pipe: %s", strerror(errno));
		goto out;
	}
	srv->wake_ev = event_new(srv->base, srv->wake[0], EV_READ | EV_PERSIST, dist_wake, srv);
	if (srv->wake_ev == NULL || event_add(srv->wake_ev, NULL) != 0) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	if (pthread_create(&srv->thread, NULL, dist_thread, srv) != 0) {
		tandem_diag_add(diag, ret, "xfr: cannot start the server thread");
		goto out;
	}
	srv->started = true;
	*out = srv;
	srv = NULL;
	ret = TANDEM_OK;
out:
	dist_server_free(srv);
	return ret;
}

void dist_server_free(dist_server_t *srv)
{
	if (srv == NULL) {
		return;
	}
	if (srv->started) {
		char b = 1;
		while (write(srv->wake[1], &b, 1) < 0 && errno == EINTR) {
		}
		pthread_join(srv->thread, NULL);
	}
	while (srv->conns != NULL) {
		dist_conn_free(srv->conns);
	}
	for (size_t i = 0; i < srv->nls; i++) {
		if (srv->ls[i].lev != NULL) {
			evconnlistener_free(srv->ls[i].lev);
		}
		if (srv->ls[i].uev != NULL) {
			event_free(srv->ls[i].uev);
		}
		if (srv->ls[i].udp_fd >= 0) {
			close(srv->ls[i].udp_fd);
		}
	}
	if (srv->wake_ev != NULL) {
		event_free(srv->wake_ev);
	}
	for (int i = 0; i < 2; i++) {
		if (srv->wake[i] >= 0) {
			close(srv->wake[i]);
		}
	}
	if (srv->base != NULL) {
		event_base_free(srv->base);
	}
	for (size_t i = 0; i < srv->nzones; i++) {
		ldns_rdf_deep_free(srv->zones[i].name);
		dist_version_unref(srv->zones[i].v);
		dist_version_unref(srv->zones[i].held);
	}
	free(srv->zones);
	free(srv->acl);
	free(srv->ls);
	free(srv->one);
	pthread_mutex_destroy(&srv->lock);
	pthread_mutex_destroy(&srv->stats_lock);
	pthread_mutex_destroy(&srv->acl_lock);
	free(srv);
}

int dist_server_set_acl(dist_server_t *srv, const char *const *acl, size_t nacl,
			tandem_diag_t *diag)
{
	if (srv == NULL || (nacl > 0 && acl == NULL)) {
		return TANDEM_EINVAL;
	}
	dist_acl_t *fresh = calloc(nacl + 1, sizeof(*fresh));
	if (fresh == NULL) {
		return TANDEM_ENOMEM;
	}
	for (size_t i = 0; i < nacl; i++) {
		int ret = dist_acl_parse(acl[i], srv->keys, srv->nkeys, diag, &fresh[i]);
		if (ret != TANDEM_OK) {
			free(fresh);
			return ret;
		}
	}
	pthread_mutex_lock(&srv->acl_lock);
	dist_acl_t *old = srv->acl;
	srv->acl = fresh;
	srv->nacl = nacl;
	pthread_mutex_unlock(&srv->acl_lock);
	free(old);
	return TANDEM_OK;
}

size_t dist_server_listeners(const dist_server_t *srv)
{
	return srv != NULL ? srv->nls : 0;
}

uint16_t dist_server_port(const dist_server_t *srv, size_t i)
{
	return srv != NULL && i < srv->nls ? srv->ls[i].port : 0;
}
