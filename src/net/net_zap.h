/* A ZAP handler (ZeroMQ RFC 27) that admits only allow-listed CURVE keys. */
#ifndef NET_ZAP_H
#define NET_ZAP_H

#include "net_allow.h"
#include "net_key.h"

/*
 * One refusal, as a plain value: who was refused and why. Libraries do not
 * log; the daemon reads these and decides what to log or audit.
 */
typedef struct net_refusal {
	int reason;                    /* TANDEM_NET_EAUTH, _EPROTO, _EVERSION, _EREPLAY, _ESTALE */
	char address[64];              /* peer IP address, or the endpoint; "" when unknown */
	char key[NET_KEY_Z85_LEN + 1]; /* the peer's CURVE public key; "" when none */
	char name[NET_ALLOW_NAME_MAX + 1]; /* the peer's allow-list name; "" when not listed */
	char detail[128];                  /* e.g. "key not in the allow-list" */
	unsigned dropped;                  /* refusals lost (queue full) just before this one */
	unsigned suppressed; /* non-zero: a summary, not a refusal: this many refusals of this
				reason were not reported in the window that ended (rate limit);
				address, key, name and detail are those of the last of them */
} net_refusal_t;

/*
 * Refusals are rate-limited per reason, so an unauthenticated flood cannot fill the
 * daemons' logs: at most NET_REFUSAL_BURST of one reason are reported per
 * NET_REFUSAL_WINDOW_MS; the rest are counted and reported as one summary record
 * (suppressed > 0) once the window has ended.
 */
#define NET_REFUSAL_BURST     5
#define NET_REFUSAL_WINDOW_MS 10000

/*
 * The ZAP handler of one ZeroMQ context: a thread of its own that owns a copy
 * of the allow-list and answers libzmq's ZAP requests on
 * inproc://zeromq.zap.01. It admits a CURVE client in domain "tandem" whose
 * public key is listed, setting the connection's User-Id to the entry's name
 * and the metadata property "X-Curve-Key" to the key (every message carries
 * both, see zmq_msg_gets); it refuses (status 400) unknown keys, other
 * mechanisms and other domains, and reports each refusal to its owner.
 * The owner talks to the thread only through inproc PAIR pipes.
 */
typedef struct net_zap net_zap_t;

/*
 * Binds the handler in ctx (borrowed; it must outlive the handler) with a
 * copy of allow, and starts its thread; when this returns, the handler is
 * answering. Errors: TANDEM_EEXIST (ctx already has a ZAP handler),
 * TANDEM_NET_ECURVE, TANDEM_NET_EZMQ, TANDEM_ENOMEM, TANDEM_EINVAL; *out
 * written only on success.
 */
int net_zap_new(void *ctx, const net_allow_t *allow, net_zap_t **out);

/* Stops the thread, closes its sockets and frees the handler; NULL-safe. */
void net_zap_free(net_zap_t *zap);

/*
 * Replaces the handler's allow-list with a copy of allow and waits for the
 * thread to take it: every handshake after this returns is judged by the new
 * list. (Connections already admitted are not dropped: net_rpc_server checks
 * every message.) Errors: TANDEM_NET_EZMQ, TANDEM_ENOMEM, TANDEM_EINVAL.
 */
int net_zap_allow_set(net_zap_t *zap, const net_allow_t *allow);

/*
 * Takes the next refusal, waiting at most timeout_ms (0: do not wait).
 * Errors: TANDEM_NET_ETIMEOUT (none came), TANDEM_NET_EZMQ, TANDEM_EINVAL;
 * *out written only on success.
 */
int net_zap_refusal_recv(net_zap_t *zap, int timeout_ms, net_refusal_t *out);

/*
 * The socket on which refusals arrive (borrowed), for the owner's zmq_poll:
 * ZMQ_POLLIN means net_zap_refusal_recv(zap, 0, ...) has one.
 */
void *net_zap_events(net_zap_t *zap);

#endif
