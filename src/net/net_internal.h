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

/* The rate limit of one refusal reason (see NET_REFUSAL_BURST). */
typedef struct net_refusal_limit {
	int reason;          /* 0: slot unused */
	int64_t start_ms;    /* net_clock_mono() at the window's first refusal */
	unsigned reported;   /* refusals queued in this window */
	unsigned suppressed; /* refusals counted, not queued, in this window */
	net_refusal_t last;  /* the last suppressed one, for the summary */
} net_refusal_limit_t;

/*
 * A bounded FIFO of refusals; when full, the newest is dropped and counted. Each
 * reason is rate-limited: past NET_REFUSAL_BURST in a window, refusals are only
 * counted, and one summary record (suppressed > 0) is queued when the window ends.
 */
typedef struct net_refusal_queue {
	net_refusal_t items[256];
	size_t head;
	size_t count;
	unsigned dropped;
	net_refusal_limit_t limits[8];
} net_refusal_queue_t;

/* Appends r, or counts it when its reason is over the rate limit (its dropped and
 * suppressed fields are overwritten). Queues the summaries of windows that ended. */
void net_refusal_queue_push(net_refusal_queue_t *q, const net_refusal_t *r);
/* Queues the summaries of windows that ended, then pops the oldest refusal into out;
 * false when empty. */
bool net_refusal_queue_pop(net_refusal_queue_t *q, net_refusal_t *out);

#endif
