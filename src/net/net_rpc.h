/* Request/response over CURVE: a ROUTER server with replay protection, a DEALER client. */
#ifndef NET_RPC_H
#define NET_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "net_allow.h"
#include "net_envelope.h"
#include "net_key.h"
#include "net_zap.h"
#include "tandem_diag.h"

/* Default age (and future skew) beyond which a request is refused. */
#define NET_RPC_WINDOW_MS 30000u
/* Default number of recent request ids remembered per peer key. */
#define NET_RPC_CACHE_PER_PEER 256u
/* Default largest message accepted. */
#define NET_RPC_MAX_MSG (4u << 20)
/* Default time a client waits for each attempt, and number of attempts. */
#define NET_RPC_TIMEOUT_MS 2000
#define NET_RPC_ATTEMPTS   3

/* Milliseconds since the epoch; tests pass a fixed clock (STYLE rule 9). */
typedef uint64_t (*net_clock_fn)(void *arg);
/* Fills buf with len random bytes; returns TANDEM_OK or an error code. */
typedef int (*net_random_fn)(void *arg, uint8_t *buf, size_t len);

/*
 * A message's type and body, with a status and error text when it is an
 * error reply. Embedded: net_rpc_msg_deinit() frees the body.
 */
typedef struct net_rpc_msg {
	char type[NET_TYPE_MAX + 1];
	uint8_t *body; /* owned */
	size_t body_len;
	int status;                    /* 0, or a tandem error code */
	char error[NET_ERROR_MAX + 1]; /* why status is not 0 */
} net_rpc_msg_t;

/* Sets type and a copy of body (len may be 0). Errors: TANDEM_EINVAL (bad
 * type), TANDEM_ENOMEM. */
int net_rpc_msg_set(net_rpc_msg_t *msg, const char *type, const void *body, size_t len);
/* Frees the body and zeroes msg; NULL-safe. */
void net_rpc_msg_deinit(net_rpc_msg_t *msg);

/* One authenticated request, as the server hands it to the handler (all borrowed). */
typedef struct net_rpc_request {
	const char *peer; /* the allow-list name of the sender */
	net_role_t role;  /* its role, as listed now */
	const char *type;
	const uint8_t *body;
	size_t body_len;
	const uint8_t *request_id; /* NET_REQUEST_ID_LEN bytes */
	uint64_t sent_ms;          /* the envelope's send time, on the sender's clock (within the
				      window of recv_ms): with recv_ms, a one-way clock offset */
	uint64_t recv_ms;          /* when the server read it, on the server's clock (cfg.now_ms) */
} net_rpc_request_t;

/*
 * The request handler, called in the thread that calls net_rpc_server_poll,
 * at most once per request id. It returns TANDEM_OK after
 * net_rpc_msg_set(reply, ...), or an error code (optionally with text in
 * reply->error) which the client receives as the call's result.
 */
typedef int (*net_rpc_handler_fn)(void *arg, const net_rpc_request_t *req, net_rpc_msg_t *reply);

/* Server settings; zero fields take the defaults above. */
typedef struct net_rpc_server_cfg {
	const char *endpoint; /* e.g. "tcp://127.0.0.1:*" (required) */
	uint32_t window_ms;
	size_t cache_per_peer;
	size_t max_msg;
	net_clock_fn now_ms; /* NULL: the wall clock */
	void *clock_arg;
	net_rpc_handler_fn handler; /* required */
	void *handler_arg;
} net_rpc_server_cfg_t;

/*
 * The server: a CURVE ROUTER socket, the context's ZAP handler (it starts
 * one, so ctx must not have another) and a copy of the allow-list, all owned
 * by the thread that calls its functions. Every message must come from a
 * peer whose name (User-Id) and key are still listed together, be one well
 * formed envelope of version NET_ENVELOPE_VERSION, and be sent within
 * window_ms of the server's clock. A request id seen before from the same key
 * gets the reply it got then (the handler does not run again) if the request
 * is byte-identical, and is refused with TANDEM_NET_EREPLAY otherwise.
 * Refused requests whose id can be read get an error reply (EVERSION,
 * EREPLAY, ESTALE); unauthenticated or undecodable messages get none. Every
 * refusal, including the ZAP handler's and failed handshakes, is queued for
 * net_rpc_server_refusal_next().
 */
typedef struct net_rpc_server net_rpc_server_t;

/*
 * Creates the server, starts its ZAP handler with a copy of allow and binds.
 * key and allow are borrowed for the call only; ctx must outlive the server.
 * Errors: TANDEM_EEXIST (ctx has a ZAP handler), TANDEM_NET_ECURVE,
 * TANDEM_NET_EZMQ (e.g. bind failed), TANDEM_ENOMEM, TANDEM_EINVAL; *out
 * written only on success.
 */
int net_rpc_server_new(void *ctx, const net_key_t *key, const net_allow_t *allow,
		       const net_rpc_server_cfg_t *cfg, net_rpc_server_t **out);

/* Closes the socket, stops the ZAP handler, frees everything; NULL-safe. */
void net_rpc_server_free(net_rpc_server_t *srv);

/* The endpoint actually bound (ZMQ_LAST_ENDPOINT, borrowed), e.g.
 * "tcp://127.0.0.1:40123". */
const char *net_rpc_server_endpoint(const net_rpc_server_t *srv);

/*
 * Waits up to timeout_ms for messages and serves every one that is ready
 * (requests, handshake events). Returns the number of messages handled
 * (>= 0), or TANDEM_NET_EZMQ, TANDEM_EINVAL.
 */
int net_rpc_server_poll(net_rpc_server_t *srv, int timeout_ms);

/*
 * Replaces the allow-list with a copy of allow, in this server and its ZAP
 * handler, before returning: new handshakes and the next message of every
 * connected peer are judged by it; cached replies of peers no longer listed
 * are dropped. Errors: TANDEM_NET_EZMQ, TANDEM_ENOMEM, TANDEM_EINVAL.
 */
int net_rpc_server_allow_set(net_rpc_server_t *srv, const net_allow_t *allow);

/* Revokes one key (see net_rpc_server_allow_set). Errors: TANDEM_ENOENT,
 * TANDEM_NET_EZMQ, TANDEM_ENOMEM, TANDEM_EINVAL. */
int net_rpc_server_revoke(net_rpc_server_t *srv, const char *key);

/* The allow-list in force (borrowed until the next change). */
const net_allow_t *net_rpc_server_allow(const net_rpc_server_t *srv);

/*
 * Takes the oldest refusal not yet taken. Errors: TANDEM_ENOENT (none),
 * TANDEM_EINVAL; *out written only on success.
 */
int net_rpc_server_refusal_next(net_rpc_server_t *srv, net_refusal_t *out);

/* Client settings; zero fields take the defaults above. */
typedef struct net_rpc_client_cfg {
	const char *endpoint;      /* the server's endpoint (required) */
	const char *server_public; /* the server's CURVE public key, Z85 (required) */
	int timeout_ms;            /* per attempt */
	int attempts;              /* sends of the same request, >= 1 */
	size_t max_msg;
	net_clock_fn now_ms; /* NULL: the wall clock */
	void *clock_arg;
	net_random_fn random; /* NULL: OpenSSL RAND_bytes */
	void *random_arg;
} net_rpc_client_cfg_t;

/*
 * A CURVE DEALER client. Each call sends one envelope with a fresh random
 * request id and resends the same bytes on each timeout, so a retry of a
 * request the server already handled gets the cached reply. Replies to
 * other (earlier, abandoned) calls are discarded. One thread uses a client.
 */
typedef struct net_rpc_client net_rpc_client_t;

/*
 * Creates the client and connects (the connection is made in the background).
 * key is borrowed for the call only; ctx must outlive the client.
 * Errors: TANDEM_NET_EKEY (bad server key), TANDEM_NET_ECURVE,
 * TANDEM_NET_EZMQ, TANDEM_ENOMEM, TANDEM_EINVAL; *out written only on success.
 */
int net_rpc_client_new(void *ctx, const net_key_t *key, const net_rpc_client_cfg_t *cfg,
		       net_rpc_client_t **out);

/* Closes the socket (pending messages are dropped) and frees; NULL-safe. */
void net_rpc_client_free(net_rpc_client_t *cl);

/*
 * Sends a request and waits for its reply, at most attempts * timeout_ms.
 * On TANDEM_OK, *out holds the reply (the caller deinits it). When the server
 * answers with an error, that error code is returned and "server: TEXT" is
 * added to diag (may be NULL). Errors: TANDEM_NET_ETIMEOUT, TANDEM_NET_EPROTO
 * and TANDEM_NET_EVERSION (bad reply), the server's codes (e.g.
 * TANDEM_NET_EREPLAY, TANDEM_NET_ESTALE, a handler's code), TANDEM_NET_EZMQ,
 * TANDEM_ENOMEM, TANDEM_EINVAL; *out written only on success.
 */
int net_rpc_client_call(net_rpc_client_t *cl, const char *type, const void *body, size_t len,
			tandem_diag_t *diag, net_rpc_msg_t *out);

/* The DEALER socket (borrowed), for tests that send raw frames. */
void *net_rpc_client_socket(net_rpc_client_t *cl);

#endif
