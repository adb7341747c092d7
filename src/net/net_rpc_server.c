/* The RPC server: CURVE ROUTER, per-message allow-list check, envelope checks, replay cache. */
#include "net_rpc.h"
#include "net_internal.h"
#include "tandem_error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zmq.h>

/* Messages served per poll, so that one busy peer cannot hold the loop. */
#define SERVER_BATCH 256

typedef struct cache_entry {
	uint8_t id[NET_REQUEST_ID_LEN];
	uint8_t digest[32]; /* SHA-256 of the request's bytes */
	uint64_t sent_at;
	uint8_t *reply; /* the encoded reply envelope */
	size_t reply_len;
} cache_entry_t;

/* The recent requests of one peer key, oldest first in a ring. */
typedef struct peer_cache {
	char key[NET_KEY_Z85_LEN + 1];
	cache_entry_t *ring;
	size_t cap;
	size_t head;
	size_t count;
	uint64_t floor; /* requests sent at or before this were evicted: refuse them */
	struct peer_cache *next;
} peer_cache_t;

struct net_rpc_server {
	void *router;
	void *monitor;
	net_zap_t *zap;
	net_allow_t *allow;
	net_rpc_server_cfg_t cfg;
	char endpoint[256];
	char monitor_ep[96];
	peer_cache_t *peers;
	net_refusal_queue_t refusals;
};

int net_rpc_msg_set(net_rpc_msg_t *msg, const char *type, const void *body, size_t len)
{
	if (msg == NULL || !net_envelope_type_valid(type) || (body == NULL && len > 0)) {
		return TANDEM_EINVAL;
	}
	uint8_t *copy = malloc(len == 0 ? 1 : len);
	if (copy == NULL) {
		return TANDEM_ENOMEM;
	}
	if (len > 0) {
		memcpy(copy, body, len);
	}
	free(msg->body);
	msg->body = copy;
	msg->body_len = len;
	snprintf(msg->type, sizeof(msg->type), "%s", type);
	return TANDEM_OK;
}

void net_rpc_msg_deinit(net_rpc_msg_t *msg)
{
	if (msg == NULL) {
		return;
	}
	free(msg->body);
	memset(msg, 0, sizeof(*msg));
}

static void peer_cache_free(peer_cache_t *pc)
{
	if (pc == NULL) {
		return;
	}
	for (size_t i = 0; i < pc->cap; i++) {
		free(pc->ring[i].reply);
	}
	free(pc->ring);
	free(pc);
}

static void server_refuse(net_rpc_server_t *srv, int reason, const char *address, const char *key,
			  const char *name, const char *detail)
{
	net_refusal_t r = {.reason = reason};
	snprintf(r.address, sizeof(r.address), "%s", address == NULL ? "" : address);
	snprintf(r.key, sizeof(r.key), "%s", key == NULL ? "" : key);
	snprintf(r.name, sizeof(r.name), "%s", name == NULL ? "" : name);
	snprintf(r.detail, sizeof(r.detail), "%.*s", (int)sizeof(r.detail) - 1, detail);
	net_refusal_queue_push(&srv->refusals, &r);
}

/* Moves the ZAP handler's refusals into the server's queue, oldest first. */
static void server_drain_zap(net_rpc_server_t *srv)
{
	net_refusal_t r;
	for (int i = 0; i < SERVER_BATCH && net_zap_refusal_recv(srv->zap, 0, &r) == TANDEM_OK;
	     i++) {
		unsigned dropped = r.dropped;
		net_refusal_queue_push(&srv->refusals, &r);
		srv->refusals.dropped += dropped;
	}
}

static peer_cache_t *server_peer(net_rpc_server_t *srv, const char *key, bool create)
{
	for (peer_cache_t *pc = srv->peers; pc != NULL; pc = pc->next) {
		if (strcmp(pc->key, key) == 0) {
			return pc;
		}
	}
	if (!create) {
		return NULL;
	}
	peer_cache_t *pc = calloc(1, sizeof(*pc));
	if (pc == NULL) {
		return NULL;
	}
	pc->ring = calloc(srv->cfg.cache_per_peer, sizeof(*pc->ring));
	if (pc->ring == NULL) {
		free(pc);
		return NULL;
	}
	pc->cap = srv->cfg.cache_per_peer;
	snprintf(pc->key, sizeof(pc->key), "%s", key);
	pc->next = srv->peers;
	srv->peers = pc;
	return pc;
}

static cache_entry_t *peer_find(peer_cache_t *pc, const uint8_t *id)
{
	for (size_t i = 0; i < pc->count; i++) {
		cache_entry_t *e = &pc->ring[(pc->head + i) % pc->cap];
		if (memcmp(e->id, id, NET_REQUEST_ID_LEN) == 0) {
			return e;
		}
	}
	return NULL;
}

/* Remembers a reply; takes reply. The oldest entry makes room and raises the floor. */
static void peer_remember(peer_cache_t *pc, const uint8_t *id, const uint8_t *digest,
			  uint64_t sent_at, uint8_t *reply, size_t reply_len)
{
	const size_t cap = pc->cap;
	if (pc->count == cap) {
		cache_entry_t *old = &pc->ring[pc->head];
		if (old->sent_at > pc->floor) {
			pc->floor = old->sent_at;
		}
		free(old->reply);
		old->reply = NULL;
		pc->head = (pc->head + 1) % cap;
		pc->count--;
	}
	cache_entry_t *e = &pc->ring[(pc->head + pc->count) % cap];
	memcpy(e->id, id, NET_REQUEST_ID_LEN);
	memcpy(e->digest, digest, sizeof(e->digest));
	e->sent_at = sent_at;
	e->reply = reply;
	e->reply_len = reply_len;
	pc->count++;
}

static void server_send(net_rpc_server_t *srv, zmq_msg_t *rid, const uint8_t *data, size_t len)
{
	/* Never block on a slow peer: a lost reply is recovered by the client's retry. */
	if (zmq_send(srv->router, zmq_msg_data(rid), zmq_msg_size(rid),
		     ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0) {
		(void)zmq_send(srv->router, data, len, ZMQ_DONTWAIT);
	}
}

/* Sends an error reply for a request whose id was readable. */
static void server_send_error(net_rpc_server_t *srv, zmq_msg_t *rid, const net_envelope_t *req,
			      uint64_t now, int status, const char *text)
{
	net_envelope_t env = {
	    .version = NET_ENVELOPE_VERSION,
	    .request_id = req->request_id,
	    .request_id_len = req->request_id_len,
	    .sent_at_ms = now,
	    .type = "error",
	    .status = status,
	    .error = text,
	};
	uint8_t *buf = NULL;
	size_t len = 0;
	if (net_envelope_encode(&env, &buf, &len) == TANDEM_OK) {
		server_send(srv, rid, buf, len);
	}
	free(buf);
}

/* Runs the handler and encodes its reply (taken by *out). */
static int server_call_handler(net_rpc_server_t *srv, const net_allow_entry_t *peer,
			       const net_envelope_t *req, uint64_t now, uint8_t **out,
			       size_t *out_len)
{
	net_rpc_msg_t reply = {0};
	net_rpc_request_t r = {
	    .peer = peer->name,
	    .role = peer->role,
	    .type = req->type,
	    .body = req->body,
	    .body_len = req->body_len,
	    .request_id = req->request_id,
	    .sent_ms = req->sent_at_ms,
	    .recv_ms = now,
	};
	int rc = srv->cfg.handler(srv->cfg.handler_arg, &r, &reply);
	if (rc > 0) {
		rc = TANDEM_EINTERNAL;
	}
	const char *type = "error", *error = "";
	if (rc == TANDEM_OK) {
		type = reply.type[0] != '\0' ? reply.type : "ok";
	} else {
		error = reply.error[0] != '\0' ? reply.error : tandem_strerror(rc);
	}
	net_envelope_t env = {
	    .version = NET_ENVELOPE_VERSION,
	    .request_id = req->request_id,
	    .request_id_len = req->request_id_len,
	    .sent_at_ms = now,
	    .type = type,
	    .body = rc == TANDEM_OK ? reply.body : NULL,
	    .body_len = rc == TANDEM_OK ? reply.body_len : 0,
	    .status = rc,
	    .error = error,
	};
	int ret = net_envelope_encode(&env, out, out_len);
	net_rpc_msg_deinit(&reply);
	return ret;
}

/* Judges and answers one request; its frames are rid and payload. */
static void server_serve(net_rpc_server_t *srv, zmq_msg_t *rid, zmq_msg_t *payload)
{
	const char *name = zmq_msg_gets(payload, NET_PROP_USER_ID);
	const char *key = zmq_msg_gets(payload, NET_PROP_KEY);
	const char *addr = zmq_msg_gets(payload, NET_PROP_PEER_ADDRESS);
	net_envelope_t req = {0};
	char why[NET_ERROR_MAX + 1];
	if (name == NULL || key == NULL) {
		server_refuse(srv, TANDEM_NET_EAUTH, addr, key, name,
			      "no CURVE identity on message");
		return;
	}
	/* Checked on every message, so a revocation stops connected peers too. */
	const net_allow_entry_t *peer = net_allow_find_name(srv->allow, name);
	if (peer == NULL || strcmp(peer->key, key) != 0) {
		server_refuse(srv, TANDEM_NET_EAUTH, addr, key, name,
			      "key no longer in the allow-list");
		return;
	}
	const uint8_t *data = zmq_msg_data(payload);
	size_t len = zmq_msg_size(payload);
	int rc = net_envelope_decode(data, len, &req);
	uint64_t now = srv->cfg.now_ms(srv->cfg.clock_arg);
	if (rc == TANDEM_NET_EVERSION) {
		snprintf(why, sizeof(why), "envelope version %u (this server speaks %u)",
			 req.version, NET_ENVELOPE_VERSION);
		server_refuse(srv, rc, addr, key, name, why);
		server_send_error(srv, rid, &req, now, rc, why);
		goto out;
	}
	if (rc != TANDEM_OK) {
		server_refuse(srv, rc, addr, key, name, "malformed envelope");
		goto out;
	}
	uint64_t window = srv->cfg.window_ms;
	if (req.sent_at_ms + window < now || req.sent_at_ms > now + window) {
		snprintf(why, sizeof(why), "sent at %llu ms, now %llu ms, window %llu ms",
			 (unsigned long long)req.sent_at_ms, (unsigned long long)now,
			 (unsigned long long)window);
		server_refuse(srv, TANDEM_NET_ESTALE, addr, key, name, why);
		server_send_error(srv, rid, &req, now, TANDEM_NET_ESTALE, why);
		goto out;
	}
	uint8_t digest[32];
	unsigned dlen = 0;
	if (EVP_Digest(data, len, digest, &dlen, EVP_sha256(), NULL) != 1) {
		goto out;
	}
	peer_cache_t *pc = server_peer(srv, key, true);
	if (pc == NULL) {
		goto out;
	}
	cache_entry_t *seen = peer_find(pc, req.request_id);
	if (seen != NULL && memcmp(seen->digest, digest, sizeof(digest)) == 0) {
		/* A retry: the same answer again, and the handler does not run twice. */
		server_send(srv, rid, seen->reply, seen->reply_len);
		goto out;
	}
	if (seen != NULL) {
		snprintf(why, sizeof(why), "request id reused with a different request");
		server_refuse(srv, TANDEM_NET_EREPLAY, addr, key, name, why);
		server_send_error(srv, rid, &req, now, TANDEM_NET_EREPLAY, why);
		goto out;
	}
	if (req.sent_at_ms <= pc->floor) {
		snprintf(why, sizeof(why), "older than the replay cache remembers");
		server_refuse(srv, TANDEM_NET_ESTALE, addr, key, name, why);
		server_send_error(srv, rid, &req, now, TANDEM_NET_ESTALE, why);
		goto out;
	}
	uint8_t *reply = NULL;
	size_t reply_len = 0;
	if (server_call_handler(srv, peer, &req, now, &reply, &reply_len) != TANDEM_OK) {
		goto out;
	}
	server_send(srv, rid, reply, reply_len);
	peer_remember(pc, req.request_id, digest, req.sent_at_ms, reply, reply_len);
out:
	net_envelope_deinit(&req);
}

/* Receives one message from the ROUTER; returns 1 if one was handled, 0 if none was ready. */
static int server_recv(net_rpc_server_t *srv)
{
	zmq_msg_t rid, payload;
	zmq_msg_init(&rid);
	zmq_msg_init(&payload);
	int ret = 0;
	if (zmq_msg_recv(&rid, srv->router, ZMQ_DONTWAIT) < 0) {
		goto out;
	}
	ret = 1;
	if (!zmq_msg_more(&rid) || zmq_msg_recv(&payload, srv->router, 0) < 0) {
		goto out;
	}
	if (zmq_msg_more(&payload)) {
		const char *name = zmq_msg_gets(&payload, NET_PROP_USER_ID);
		const char *key = zmq_msg_gets(&payload, NET_PROP_KEY);
		const char *addr = zmq_msg_gets(&payload, NET_PROP_PEER_ADDRESS);
		server_refuse(srv, TANDEM_NET_EPROTO, addr, key, name, "more than one frame");
		/* A message arrives whole, so the rest is already here: drain it. */
		bool more = true;
		while (more) {
			zmq_msg_t rest;
			zmq_msg_init(&rest);
			more = zmq_msg_recv(&rest, srv->router, ZMQ_DONTWAIT) >= 0 &&
			       zmq_msg_more(&rest);
			zmq_msg_close(&rest);
		}
		goto out;
	}
	server_serve(srv, &rid, &payload);
out:
	zmq_msg_close(&rid);
	zmq_msg_close(&payload);
	return ret;
}

/* Reads one monitor event: failed handshakes that the ZAP handler never saw. */
static int server_monitor_event(net_rpc_server_t *srv)
{
	zmq_msg_t ev, ep;
	zmq_msg_init(&ev);
	zmq_msg_init(&ep);
	int ret = 0;
	if (zmq_msg_recv(&ev, srv->monitor, ZMQ_DONTWAIT) < 0) {
		goto out;
	}
	ret = 1;
	if (!zmq_msg_more(&ev) || zmq_msg_recv(&ep, srv->monitor, 0) < 0 || zmq_msg_size(&ev) < 6) {
		goto out;
	}
	uint16_t event;
	uint32_t value;
	memcpy(&event, zmq_msg_data(&ev), sizeof(event));
	memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + 2, sizeof(value));
	if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
	    event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
		char addr[64], why[128];
		size_t n =
		    zmq_msg_size(&ep) < sizeof(addr) - 1 ? zmq_msg_size(&ep) : sizeof(addr) - 1;
		memcpy(addr, zmq_msg_data(&ep), n);
		addr[n] = '\0';
		snprintf(why, sizeof(why), "handshake failed (%s 0x%x): not a CURVE client?",
			 value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH ? "mechanism mismatch"
									     : "protocol error",
			 (unsigned)value);
		server_refuse(srv, TANDEM_NET_EAUTH, addr, NULL, NULL, why);
	}
out:
	zmq_msg_close(&ev);
	zmq_msg_close(&ep);
	return ret;
}

int net_rpc_server_poll(net_rpc_server_t *srv, int timeout_ms)
{
	if (srv == NULL) {
		return TANDEM_EINVAL;
	}
	zmq_pollitem_t items[3] = {
	    {srv->router, 0, ZMQ_POLLIN, 0},
	    {srv->monitor, 0, ZMQ_POLLIN, 0},
	    {net_zap_events(srv->zap), 0, ZMQ_POLLIN, 0},
	};
	int rc = zmq_poll(items, 3, timeout_ms);
	if (rc < 0) {
		return zmq_errno() == EINTR ? 0 : TANDEM_NET_EZMQ;
	}
	int handled = 0;
	for (int i = 0; i < SERVER_BATCH && server_monitor_event(srv) == 1; i++) {
	}
	server_drain_zap(srv);
	for (int i = 0; i < SERVER_BATCH && server_recv(srv) == 1; i++) {
		handled++;
	}
	return handled;
}

static void server_prune_caches(net_rpc_server_t *srv)
{
	peer_cache_t **link = &srv->peers;
	while (*link != NULL) {
		peer_cache_t *pc = *link;
		if (net_allow_find_key(srv->allow, pc->key) == NULL) {
			*link = pc->next;
			peer_cache_free(pc);
		} else {
			link = &pc->next;
		}
	}
}

int net_rpc_server_allow_set(net_rpc_server_t *srv, const net_allow_t *allow)
{
	if (srv == NULL || allow == NULL) {
		return TANDEM_EINVAL;
	}
	net_allow_t *copy = NULL;
	int ret = net_allow_copy(allow, &copy);
	if (ret != TANDEM_OK) {
		return ret;
	}
	/* The server's copy first: from here on no message of a revoked peer is served. */
	net_allow_free(srv->allow);
	srv->allow = copy;
	server_prune_caches(srv);
	return net_zap_allow_set(srv->zap, allow);
}

int net_rpc_server_revoke(net_rpc_server_t *srv, const char *key)
{
	if (srv == NULL || key == NULL) {
		return TANDEM_EINVAL;
	}
	net_allow_t *copy = NULL;
	int ret = net_allow_copy(srv->allow, &copy);
	if (ret == TANDEM_OK) {
		ret = net_allow_revoke(copy, key);
	}
	if (ret == TANDEM_OK) {
		ret = net_rpc_server_allow_set(srv, copy);
	}
	net_allow_free(copy);
	return ret;
}

const net_allow_t *net_rpc_server_allow(const net_rpc_server_t *srv)
{
	return srv == NULL ? NULL : srv->allow;
}

int net_rpc_server_refusal_next(net_rpc_server_t *srv, net_refusal_t *out)
{
	if (srv == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	server_drain_zap(srv);
	net_refusal_t r;
	if (!net_refusal_queue_pop(&srv->refusals, &r)) {
		return TANDEM_ENOENT;
	}
	*out = r;
	return TANDEM_OK;
}

const char *net_rpc_server_endpoint(const net_rpc_server_t *srv)
{
	return srv == NULL ? NULL : srv->endpoint;
}

int net_rpc_server_new(void *ctx, const net_key_t *key, const net_allow_t *allow,
		       const net_rpc_server_cfg_t *cfg, net_rpc_server_t **out)
{
	if (ctx == NULL || key == NULL || allow == NULL || cfg == NULL || cfg->endpoint == NULL ||
	    cfg->handler == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	net_rpc_server_t *srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		return TANDEM_ENOMEM;
	}
	srv->cfg = *cfg;
	srv->cfg.endpoint = NULL; /* borrowed for this call only */
	if (srv->cfg.window_ms == 0) {
		srv->cfg.window_ms = NET_RPC_WINDOW_MS;
	}
	if (srv->cfg.cache_per_peer == 0) {
		srv->cfg.cache_per_peer = NET_RPC_CACHE_PER_PEER;
	}
	if (srv->cfg.max_msg == 0) {
		srv->cfg.max_msg = NET_RPC_MAX_MSG;
	}
	if (srv->cfg.now_ms == NULL) {
		srv->cfg.now_ms = net_clock_wall;
	}
	int ret = net_allow_copy(allow, &srv->allow);
	if (ret != TANDEM_OK) {
		goto out;
	}
	/* The ZAP handler first: a CURVE server without one would admit anybody. */
	ret = net_zap_new(ctx, allow, &srv->zap);
	if (ret != TANDEM_OK) {
		goto out;
	}
	ret = TANDEM_NET_EZMQ;
	srv->router = zmq_socket(ctx, ZMQ_ROUTER);
	if (srv->router == NULL) {
		goto out;
	}
	int zero = 0, one = 1;
	int64_t max = (int64_t)srv->cfg.max_msg;
	size_t ep_len = sizeof(srv->endpoint);
	snprintf(srv->monitor_ep, sizeof(srv->monitor_ep), "inproc://tandem-rpc-mon-%p",
		 (void *)srv);
	if (zmq_setsockopt(srv->router, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
	    zmq_setsockopt(srv->router, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)) != 0 ||
	    zmq_setsockopt(srv->router, ZMQ_MAXMSGSIZE, &max, sizeof(max)) != 0) {
		goto out;
	}
	ret = net_key_apply_server(key, srv->router);
	if (ret != TANDEM_OK) {
		goto out;
	}
	ret = TANDEM_NET_EZMQ;
	if (zmq_socket_monitor(srv->router, srv->monitor_ep,
			       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
				   ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0) {
		goto out;
	}
	srv->monitor = zmq_socket(ctx, ZMQ_PAIR);
	if (srv->monitor == NULL ||
	    zmq_setsockopt(srv->monitor, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
	    zmq_connect(srv->monitor, srv->monitor_ep) != 0) {
		goto out;
	}
	if (zmq_bind(srv->router, cfg->endpoint) != 0 ||
	    zmq_getsockopt(srv->router, ZMQ_LAST_ENDPOINT, srv->endpoint, &ep_len) != 0) {
		goto out;
	}
	*out = srv;
	srv = NULL;
	ret = TANDEM_OK;
out:
	net_rpc_server_free(srv);
	return ret;
}

void net_rpc_server_free(net_rpc_server_t *srv)
{
	if (srv == NULL) {
		return;
	}
	if (srv->router != NULL) {
		if (srv->monitor_ep[0] != '\0') {
			(void)zmq_socket_monitor(srv->router, NULL, 0);
		}
		zmq_close(srv->router);
	}
	if (srv->monitor != NULL) {
		zmq_close(srv->monitor);
	}
	net_zap_free(srv->zap);
	net_allow_free(srv->allow);
	while (srv->peers != NULL) {
		peer_cache_t *next = srv->peers->next;
		peer_cache_free(srv->peers);
		srv->peers = next;
	}
	free(srv);
}
