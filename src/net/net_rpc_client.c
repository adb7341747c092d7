/* The RPC client: CURVE DEALER, one request at a time, resent with the same id on timeout. */
#include "net_rpc.h"
#include "net_internal.h"
#include "tandem_error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <zmq.h>

struct net_rpc_client {
	void *dealer;
	net_rpc_client_cfg_t cfg;
};

static int random_openssl(void *arg, uint8_t *buf, size_t len)
{
	(void)arg;
	return RAND_bytes(buf, (int)len) == 1 ? TANDEM_OK : TANDEM_EINTERNAL;
}

int net_rpc_client_new(void *ctx, const net_key_t *key, const net_rpc_client_cfg_t *cfg,
		       net_rpc_client_t **out)
{
	if (ctx == NULL || key == NULL || cfg == NULL || cfg->endpoint == NULL ||
	    cfg->server_public == NULL || cfg->timeout_ms < 0 || cfg->attempts < 0 || out == NULL) {
		return TANDEM_EINVAL;
	}
	if (!zmq_has("curve")) {
		return TANDEM_NET_ECURVE;
	}
	net_rpc_client_t *cl = calloc(1, sizeof(*cl));
	if (cl == NULL) {
		return TANDEM_ENOMEM;
	}
	cl->cfg = *cfg;
	cl->cfg.endpoint = NULL; /* borrowed for this call only */
	cl->cfg.server_public = NULL;
	if (cl->cfg.timeout_ms == 0) {
		cl->cfg.timeout_ms = NET_RPC_TIMEOUT_MS;
	}
	if (cl->cfg.attempts == 0) {
		cl->cfg.attempts = NET_RPC_ATTEMPTS;
	}
	if (cl->cfg.max_msg == 0) {
		cl->cfg.max_msg = NET_RPC_MAX_MSG;
	}
	if (cl->cfg.now_ms == NULL) {
		cl->cfg.now_ms = net_clock_wall;
	}
	if (cl->cfg.random == NULL) {
		cl->cfg.random = random_openssl;
	}
	int ret = TANDEM_NET_EZMQ;
	int zero = 0;
	int64_t max = (int64_t)cl->cfg.max_msg;
	cl->dealer = zmq_socket(ctx, ZMQ_DEALER);
	if (cl->dealer == NULL ||
	    zmq_setsockopt(cl->dealer, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
	    zmq_setsockopt(cl->dealer, ZMQ_MAXMSGSIZE, &max, sizeof(max)) != 0) {
		goto out;
	}
	ret = net_key_apply_client(key, cl->dealer, cfg->server_public);
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (zmq_connect(cl->dealer, cfg->endpoint) != 0) {
		ret = TANDEM_NET_EZMQ;
		goto out;
	}
	*out = cl;
	cl = NULL;
out:
	net_rpc_client_free(cl);
	return ret;
}

void net_rpc_client_free(net_rpc_client_t *cl)
{
	if (cl == NULL) {
		return;
	}
	if (cl->dealer != NULL) {
		zmq_close(cl->dealer);
	}
	free(cl);
}

void *net_rpc_client_socket(net_rpc_client_t *cl)
{
	return cl == NULL ? NULL : cl->dealer;
}

/*
 * Receives one message and, if it is the reply to id, decodes it into *env.
 * Returns TANDEM_OK (a reply), TANDEM_ENOENT (something else, dropped), or
 * the decode error of an unreadable reply.
 */
static int client_recv(net_rpc_client_t *cl, const uint8_t *id, net_envelope_t *env)
{
	zmq_msg_t m;
	zmq_msg_init(&m);
	int ret = TANDEM_ENOENT;
	if (zmq_msg_recv(&m, cl->dealer, ZMQ_DONTWAIT) < 0) {
		goto out;
	}
	if (zmq_msg_more(&m)) {
		/* Not ours to read: drop the whole message. */
		bool more = true;
		while (more) {
			zmq_msg_t rest;
			zmq_msg_init(&rest);
			more = zmq_msg_recv(&rest, cl->dealer, ZMQ_DONTWAIT) >= 0 &&
			       zmq_msg_more(&rest);
			zmq_msg_close(&rest);
		}
		ret = TANDEM_NET_EPROTO;
		goto out;
	}
	net_envelope_t e = {0};
	ret = net_envelope_decode(zmq_msg_data(&m), zmq_msg_size(&m), &e);
	if (ret != TANDEM_OK && ret != TANDEM_NET_EVERSION) {
		goto out;
	}
	if (e.request_id_len != NET_REQUEST_ID_LEN ||
	    memcmp(e.request_id, id, NET_REQUEST_ID_LEN) != 0) {
		/* A late reply to an earlier, abandoned call. */
		net_envelope_deinit(&e);
		ret = TANDEM_ENOENT;
		goto out;
	}
	if (ret != TANDEM_OK) {
		net_envelope_deinit(&e);
		goto out;
	}
	*env = e;
out:
	zmq_msg_close(&m);
	return ret;
}

/* Turns a decoded reply into the call's result. */
static int client_result(const net_envelope_t *env, tandem_diag_t *diag, net_rpc_msg_t *out)
{
	if (env->status != 0) {
		tandem_diag_add(diag, env->status, "server: %s", env->error);
		return env->status > 0 ? TANDEM_NET_EPROTO : env->status;
	}
	net_rpc_msg_t msg = {0};
	int ret = net_rpc_msg_set(&msg, env->type, env->body, env->body_len);
	if (ret != TANDEM_OK) {
		return ret == TANDEM_EINVAL ? TANDEM_NET_EPROTO : ret;
	}
	*out = msg;
	return TANDEM_OK;
}

int net_rpc_client_call(net_rpc_client_t *cl, const char *type, const void *body, size_t len,
			tandem_diag_t *diag, net_rpc_msg_t *out)
{
	if (cl == NULL || !net_envelope_type_valid(type) || (body == NULL && len > 0) ||
	    out == NULL) {
		return TANDEM_EINVAL;
	}
	uint8_t id[NET_REQUEST_ID_LEN];
	uint8_t *wire = NULL;
	size_t wire_len = 0;
	net_envelope_t reply = {0};
	int ret = cl->cfg.random(cl->cfg.random_arg, id, sizeof(id));
	if (ret != TANDEM_OK) {
		goto out;
	}
	net_envelope_t req = {
	    .version = NET_ENVELOPE_VERSION,
	    .request_id = id,
	    .request_id_len = sizeof(id),
	    .sent_at_ms = cl->cfg.now_ms(cl->cfg.clock_arg),
	    .type = type,
	    .body = body,
	    .body_len = len,
	};
	ret = net_envelope_encode(&req, &wire, &wire_len);
	if (ret != TANDEM_OK) {
		goto out;
	}
	ret = TANDEM_NET_ETIMEOUT;
	for (int attempt = 0; attempt < cl->cfg.attempts; attempt++) {
		/* The same bytes each time: the server answers a retry from its cache. */
		if (zmq_send(cl->dealer, wire, wire_len, ZMQ_DONTWAIT) < 0 &&
		    zmq_errno() != EAGAIN) {
			ret = TANDEM_NET_EZMQ;
			goto out;
		}
		int64_t deadline = net_clock_mono() + cl->cfg.timeout_ms;
		for (int64_t left = cl->cfg.timeout_ms; left > 0;
		     left = deadline - net_clock_mono()) {
			zmq_pollitem_t item = {cl->dealer, 0, ZMQ_POLLIN, 0};
			int rc = zmq_poll(&item, 1, (long)left);
			if (rc < 0 && zmq_errno() != EINTR) {
				ret = TANDEM_NET_EZMQ;
				goto out;
			}
			if (rc <= 0) {
				continue;
			}
			int got = client_recv(cl, id, &reply);
			if (got == TANDEM_OK) {
				ret = client_result(&reply, diag, out);
				goto out;
			}
			if (got == TANDEM_NET_EVERSION) {
				ret = got;
				goto out;
			}
			/* Anything else is dropped and the wait goes on. */
		}
	}
out:
	net_envelope_deinit(&reply);
	free(wire);
	return ret;
}
