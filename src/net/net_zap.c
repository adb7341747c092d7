/* A ZAP handler (ZeroMQ RFC 27) that admits only allow-listed CURVE keys. */
#include "net_zap.h"
#include "net_internal.h"
#include "tandem_error.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
/* How long the owner waits for the thread to acknowledge a command. */
#define ZAP_ACK_MS 5000
/* A ZAP request has at most 8 frames (PLAIN); anything longer is drained. */
#define ZAP_FRAMES_MAX 8

struct net_zap {
	void *cmd;    /* owner's end of the command pipe */
	void *events; /* owner's end of the refusal pipe */
	pthread_t thread;
};

/* Everything the thread owns; it frees all of it when it ends. */
typedef struct zap_actor {
	void *rep;
	void *cmd;
	void *events;
	net_allow_t *allow;
	unsigned dropped;
} zap_actor_t;

/* Appends r as it is (dropped: those lost since the last one); false when full. */
static bool queue_append(net_refusal_queue_t *q, const net_refusal_t *r)
{
	const size_t cap = sizeof(q->items) / sizeof(q->items[0]);
	if (q->count == cap) {
		return false;
	}
	net_refusal_t *slot = &q->items[(q->head + q->count) % cap];
	*slot = *r;
	slot->dropped = q->dropped;
	q->dropped = 0;
	q->count++;
	return true;
}

/* Ends the windows that are over, queueing a summary for each that suppressed some. */
static void queue_flush(net_refusal_queue_t *q, int64_t now)
{
	const size_t nlimits = sizeof(q->limits) / sizeof(q->limits[0]);
	for (size_t i = 0; i < nlimits; i++) {
		net_refusal_limit_t *l = &q->limits[i];
		if (l->reason == 0 || now - l->start_ms < NET_REFUSAL_WINDOW_MS) {
			continue;
		}
		if (l->suppressed > 0) {
			net_refusal_t sum = l->last;
			char *d = sum.detail;
			size_t size = sizeof(sum.detail);
			int w =
			    snprintf(d, size, "%u more refusal%s suppressed in %u s; the last: ",
				     l->suppressed, l->suppressed == 1 ? "" : "s",
				     (unsigned)(NET_REFUSAL_WINDOW_MS / 1000));
			size_t used = w < 0 ? 0 : (size_t)w < size ? (size_t)w : size - 1;
			size_t n = strnlen(l->last.detail, sizeof(l->last.detail));
			if (n > size - 1 - used) {
				n = size - 1 - used;
			}
			memcpy(d + used, l->last.detail, n);
			d[used + n] = '\0';
			sum.suppressed = l->suppressed;
			if (!queue_append(q, &sum)) {
				continue; /* full: the summary waits for room */
			}
		}
		memset(l, 0, sizeof(*l));
	}
}

void net_refusal_queue_push(net_refusal_queue_t *q, const net_refusal_t *r)
{
	const size_t nlimits = sizeof(q->limits) / sizeof(q->limits[0]);
	int64_t now = net_clock_mono();
	queue_flush(q, now);
	net_refusal_limit_t *l = NULL, *unused = NULL;
	for (size_t i = 0; i < nlimits && l == NULL; i++) {
		if (q->limits[i].reason == r->reason) {
			l = &q->limits[i];
		} else if (q->limits[i].reason == 0 && unused == NULL) {
			unused = &q->limits[i];
		}
	}
	if (l == NULL && unused != NULL && r->reason != 0) {
		l = unused;
		l->reason = r->reason;
		l->start_ms = now;
	}
	/* (no slot left: an unknown reason is not limited) */
	if (l != NULL && l->reported >= NET_REFUSAL_BURST) {
		l->suppressed++;
		l->last = *r;
		l->last.dropped = 0;
		l->last.suppressed = 0;
		return;
	}
	net_refusal_t copy = *r;
	copy.suppressed = 0;
	if (!queue_append(q, &copy)) {
		q->dropped++;
		return;
	}
	if (l != NULL) {
		l->reported++;
	}
}

bool net_refusal_queue_pop(net_refusal_queue_t *q, net_refusal_t *out)
{
	const size_t cap = sizeof(q->items) / sizeof(q->items[0]);
	queue_flush(q, net_clock_mono());
	if (q->count == 0) {
		return false;
	}
	*out = q->items[q->head];
	q->head = (q->head + 1) % cap;
	q->count--;
	return true;
}

/* Copies a frame into a NUL-terminated string, cutting it to fit. */
static void frame_str(zmq_msg_t *m, char *buf, size_t size)
{
	size_t n = zmq_msg_size(m);
	if (n >= size) {
		n = size - 1;
	}
	memcpy(buf, zmq_msg_data(m), n);
	buf[n] = '\0';
}

static bool frame_is(zmq_msg_t *m, const char *text)
{
	size_t n = strlen(text);
	return zmq_msg_size(m) == n && memcmp(zmq_msg_data(m), text, n) == 0;
}

static void actor_report(zap_actor_t *a, const net_refusal_t *r)
{
	net_refusal_t copy = *r;
	copy.dropped = a->dropped;
	/* Never block the handshake path on a slow owner: count what is lost. */
	if (zmq_send(a->events, &copy, sizeof(copy), ZMQ_DONTWAIT) == (int)sizeof(copy)) {
		a->dropped = 0;
	} else {
		a->dropped++;
	}
}

static int send_frame(void *sock, const void *data, size_t len, bool more)
{
	return zmq_send(sock, data, len, more ? ZMQ_SNDMORE : 0) < 0 ? -1 : 0;
}

/* ZMTP metadata: name length (1 byte), name, value length (4 bytes, big-endian), value. */
static size_t metadata_put(uint8_t *buf, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);
	buf[0] = (uint8_t)nl;
	memcpy(buf + 1, name, nl);
	buf[1 + nl] = (uint8_t)(vl >> 24);
	buf[2 + nl] = (uint8_t)(vl >> 16);
	buf[3 + nl] = (uint8_t)(vl >> 8);
	buf[4 + nl] = (uint8_t)vl;
	memcpy(buf + 5 + nl, value, vl);
	return 5 + nl + vl;
}

/* Answers one ZAP request; the REP socket requires exactly one reply. */
static void actor_handle(zap_actor_t *a)
{
	zmq_msg_t f[ZAP_FRAMES_MAX];
	size_t n = 0;
	bool more = true, too_many = false;
	while (more) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, a->rep, 0) < 0) {
			zmq_msg_close(&m);
			break;
		}
		more = zmq_msg_more(&m);
		if (n < ZAP_FRAMES_MAX) {
			f[n++] = m;
		} else {
			zmq_msg_close(&m);
			too_many = true;
		}
	}
	const char *status = "400", *text = "refused";
	const net_allow_entry_t *entry = NULL;
	net_refusal_t r = {.reason = TANDEM_NET_EAUTH};
	if (n >= 4) {
		frame_str(&f[3], r.address, sizeof(r.address));
	}
	if (too_many || n < 6 || !frame_is(&f[0], "1.0")) {
		status = "500";
		text = "malformed ZAP request";
	} else if (!frame_is(&f[2], NET_ZAP_DOMAIN)) {
		text = "unknown ZAP domain";
	} else if (!frame_is(&f[5], "CURVE")) {
		text = "not a CURVE client";
	} else if (n != 7 || zmq_msg_size(&f[6]) != 32) {
		status = "500";
		text = "malformed CURVE credentials";
	} else {
		char z85[NET_KEY_Z85_LEN + 1];
		zmq_z85_encode(z85, zmq_msg_data(&f[6]), 32);
		memcpy(r.key, z85, sizeof(r.key));
		entry = net_allow_find_key(a->allow, z85);
		if (entry != NULL) {
			status = "200";
			text = "OK";
		} else {
			text = "key not in the allow-list";
		}
	}
	uint8_t meta[1 + sizeof(NET_PROP_KEY) + 4 + NET_KEY_Z85_LEN];
	size_t meta_len = entry != NULL ? metadata_put(meta, NET_PROP_KEY, entry->key) : 0;
	const char *user = entry != NULL ? entry->name : "";
	const void *req_id = n >= 2 ? zmq_msg_data(&f[1]) : "";
	size_t req_id_len = n >= 2 ? zmq_msg_size(&f[1]) : 0;
	(void)(send_frame(a->rep, "1.0", 3, true) == 0 &&
	       send_frame(a->rep, req_id, req_id_len, true) == 0 &&
	       send_frame(a->rep, status, 3, true) == 0 &&
	       send_frame(a->rep, text, strlen(text), true) == 0 &&
	       send_frame(a->rep, user, strlen(user), true) == 0 &&
	       send_frame(a->rep, meta, meta_len, false) == 0);
	if (entry == NULL) {
		snprintf(r.detail, sizeof(r.detail), "ZAP: %s", text);
		actor_report(a, &r);
	}
	for (size_t i = 0; i < n; i++) {
		zmq_msg_close(&f[i]);
	}
}

/* Handles one command from the owner; returns false on STOP. */
static bool actor_command(zap_actor_t *a)
{
	char verb[8] = "";
	int len = zmq_recv(a->cmd, verb, sizeof(verb) - 1, 0);
	if (len < 0) {
		return true;
	}
	verb[len < (int)sizeof(verb) - 1 ? len : (int)sizeof(verb) - 1] = '\0';
	if (strcmp(verb, "SET") == 0) {
		net_allow_t *fresh = NULL;
		int more = 0;
		size_t more_len = sizeof(more);
		zmq_getsockopt(a->cmd, ZMQ_RCVMORE, &more, &more_len);
		if (more && zmq_recv(a->cmd, &fresh, sizeof(fresh), 0) == (int)sizeof(fresh)) {
			net_allow_free(a->allow);
			a->allow = fresh;
		}
		zmq_send(a->cmd, "OK", 2, 0);
		return true;
	}
	zmq_send(a->cmd, "OK", 2, 0);
	return strcmp(verb, "STOP") != 0;
}

static void *actor_run(void *arg)
{
	zap_actor_t *a = arg;
	for (;;) {
		zmq_pollitem_t items[2] = {{a->cmd, 0, ZMQ_POLLIN, 0}, {a->rep, 0, ZMQ_POLLIN, 0}};
		if (zmq_poll(items, 2, -1) < 0) {
			if (zmq_errno() == EINTR) {
				continue;
			}
			break;
		}
		if ((items[0].revents & ZMQ_POLLIN) && !actor_command(a)) {
			break;
		}
		if (items[1].revents & ZMQ_POLLIN) {
			actor_handle(a);
		}
	}
	/* zmq_close releases an inproc endpoint later, on the context's
	 * reaper thread; unbinding releases it now, so a new handler can
	 * bind as soon as net_zap_free returns. */
	(void)zmq_unbind(a->rep, ZAP_ENDPOINT);
	zmq_close(a->rep);
	zmq_close(a->cmd);
	zmq_close(a->events);
	net_allow_free(a->allow);
	free(a);
	return NULL;
}

static void *socket_new(void *ctx, int type)
{
	void *s = zmq_socket(ctx, type);
	int zero = 0;
	if (s != NULL) {
		zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	}
	return s;
}

/* An inproc pipe: the owner's end binds, the thread's end connects. */
static int pipe_new(void *ctx, const char *what, const void *self, void **owner, void **thread)
{
	char ep[96];
	snprintf(ep, sizeof(ep), "inproc://tandem-zap-%s-%p", what, self);
	*owner = socket_new(ctx, ZMQ_PAIR);
	*thread = socket_new(ctx, ZMQ_PAIR);
	if (*owner == NULL || *thread == NULL || zmq_bind(*owner, ep) != 0 ||
	    zmq_connect(*thread, ep) != 0) {
		return TANDEM_NET_EZMQ;
	}
	return TANDEM_OK;
}

int net_zap_new(void *ctx, const net_allow_t *allow, net_zap_t **out)
{
	if (ctx == NULL || allow == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	if (!zmq_has("curve")) {
		return TANDEM_NET_ECURVE;
	}
	int ret = TANDEM_OK;
	zap_actor_t *a = NULL;
	net_zap_t *zap = calloc(1, sizeof(*zap));
	if (zap == NULL) {
		return TANDEM_ENOMEM;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	ret = net_allow_copy(allow, &a->allow);
	if (ret != TANDEM_OK) {
		goto out;
	}
	a->rep = socket_new(ctx, ZMQ_REP);
	if (a->rep == NULL) {
		ret = TANDEM_NET_EZMQ;
		goto out;
	}
	if (zmq_bind(a->rep, ZAP_ENDPOINT) != 0) {
		ret = zmq_errno() == EADDRINUSE ? TANDEM_EEXIST : TANDEM_NET_EZMQ;
		goto out;
	}
	ret = pipe_new(ctx, "cmd", zap, &zap->cmd, &a->cmd);
	if (ret == TANDEM_OK) {
		ret = pipe_new(ctx, "ev", zap, &zap->events, &a->events);
	}
	if (ret != TANDEM_OK) {
		goto out;
	}
	int ack_ms = ZAP_ACK_MS;
	zmq_setsockopt(zap->cmd, ZMQ_RCVTIMEO, &ack_ms, sizeof(ack_ms));
	zmq_setsockopt(zap->cmd, ZMQ_SNDTIMEO, &ack_ms, sizeof(ack_ms));
	if (pthread_create(&zap->thread, NULL, actor_run, a) != 0) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	a = NULL; /* the thread owns it now */
	*out = zap;
	zap = NULL;
out:
	if (a != NULL) {
		zmq_close(a->rep);
		zmq_close(a->cmd);
		zmq_close(a->events);
		net_allow_free(a->allow);
		free(a);
	}
	if (zap != NULL) {
		zmq_close(zap->cmd);
		zmq_close(zap->events);
		free(zap);
	}
	return ret;
}

static int zap_ack(net_zap_t *zap)
{
	char ack[4];
	return zmq_recv(zap->cmd, ack, sizeof(ack), 0) == 2 && memcmp(ack, "OK", 2) == 0
		   ? TANDEM_OK
		   : TANDEM_NET_EZMQ;
}

void net_zap_free(net_zap_t *zap)
{
	if (zap == NULL) {
		return;
	}
	if (zmq_send(zap->cmd, "STOP", 4, 0) == 4) {
		(void)zap_ack(zap);
	}
	pthread_join(zap->thread, NULL);
	zmq_close(zap->cmd);
	zmq_close(zap->events);
	free(zap);
}

int net_zap_allow_set(net_zap_t *zap, const net_allow_t *allow)
{
	if (zap == NULL || allow == NULL) {
		return TANDEM_EINVAL;
	}
	net_allow_t *copy = NULL;
	int ret = net_allow_copy(allow, &copy);
	if (ret != TANDEM_OK) {
		return ret;
	}
	if (zmq_send(zap->cmd, "SET", 3, ZMQ_SNDMORE) != 3 ||
	    zmq_send(zap->cmd, &copy, sizeof(copy), 0) != (int)sizeof(copy)) {
		/* A PAIR pipe sends both frames or neither. */
		net_allow_free(copy);
		return TANDEM_NET_EZMQ;
	}
	return zap_ack(zap);
}

int net_zap_refusal_recv(net_zap_t *zap, int timeout_ms, net_refusal_t *out)
{
	if (zap == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	zmq_pollitem_t item = {zap->events, 0, ZMQ_POLLIN, 0};
	int rc = zmq_poll(&item, 1, timeout_ms < 0 ? 0 : timeout_ms);
	if (rc < 0) {
		return TANDEM_NET_EZMQ;
	}
	if (rc == 0) {
		return TANDEM_NET_ETIMEOUT;
	}
	net_refusal_t r;
	if (zmq_recv(zap->events, &r, sizeof(r), ZMQ_DONTWAIT) != (int)sizeof(r)) {
		return TANDEM_NET_EZMQ;
	}
	*out = r;
	return TANDEM_OK;
}

void *net_zap_events(net_zap_t *zap)
{
	return zap == NULL ? NULL : zap->events;
}
