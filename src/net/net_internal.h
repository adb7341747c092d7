/* Shared inside the net module only: constants, the envelope codec, refusal queues. */
#ifndef NET_INTERNAL_H
#define NET_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net_zap.h"

/* The ZAP domain our CURVE servers use; the handler refuses any other. */
#define NET_ZAP_DOMAIN "tandem"
/* The ZAP metadata property carrying the peer's CURVE key on every message. */
#define NET_PROP_KEY "X-Curve-Key"
/* libzmq's own properties (its ZMQ_MSG_PROPERTY_* names are draft API in 4.3). */
#define NET_PROP_USER_ID      "User-Id"
#define NET_PROP_PEER_ADDRESS "Peer-Address"

/* Wall clock in ms since the epoch (the default net_clock_fn). */
uint64_t net_clock_wall(void *arg);
/* Monotonic clock in ms, for timeouts (never injected: it only bounds waits). */
int64_t net_clock_mono(void);

/* A bounded FIFO of refusals; when full, the newest is dropped and counted. */
typedef struct net_refusal_queue {
	net_refusal_t items[256];
	size_t head;
	size_t count;
	unsigned dropped;
} net_refusal_queue_t;

/* Appends r (its dropped field is overwritten). */
void net_refusal_queue_push(net_refusal_queue_t *q, const net_refusal_t *r);
/* Pops the oldest refusal into out; false when empty. */
bool net_refusal_queue_pop(net_refusal_queue_t *q, net_refusal_t *out);

#endif
