/* The server's state, shared by dist_server.c (sockets, thread) and dist_answer.c (answers). */
#ifndef DIST_SERVER_INTERNAL_H
#define DIST_SERVER_INTERNAL_H

#include <event2/event.h>
#include <event2/listener.h>
#include <pthread.h>
#include <sys/socket.h>

#include "dist_internal.h"

#define DIST_PEER_MAX 64
/* A transfer writes while less than DIST_OUT_HIGH bytes wait to be sent, and is woken
 * when they drop below DIST_OUT_LOW: a slow client holds little memory. */
#define DIST_OUT_HIGH (256 * 1024)
#define DIST_OUT_LOW  (64 * 1024)
/* Records per message stop at this many (uncompressed) bytes: well below 65535, and within
 * the 16 KiB that compression pointers reach (larger messages came out larger in all). */
#define DIST_MSG_FILL 16000

typedef struct dist_zone {
	ldns_rdf *name;       /* canonical */
	dist_version_t *v;    /* one reference; NULL: not served */
	dist_version_t *held; /* a committed serial held for the compare (dist_hold): served
				 only to a peer's AXFR that names its serial; NULL: none */
} dist_zone_t;

typedef struct dist_listener {
	uint16_t port;
	int udp_fd;
	struct evconnlistener *lev; /* owns the TCP socket */
	struct event *uev;
} dist_listener_t;

typedef struct dist_conn {
	struct dist_server *srv;
	struct bufferevent *bev;
	struct sockaddr_storage addr;
	char peer[DIST_PEER_MAX];
	struct dist_conn *prev, *next;
	bool closing;
	/* the running transfer */
	bool xfr_busy;
	dist_version_t *v; /* one reference, while busy */
	dist_stream_t st;
	ldns_pkt *query;       /* owned, while busy */
	const dist_key_t *key; /* the key that signs every message, or NULL */
	dist_mac_t mac;        /* the MAC of the previous message (or the query's) */
	dist_msg_t *msg;       /* the message being written (owned, while busy) */
	unsigned msgs;         /* messages sent */
} dist_conn_t;

struct dist_server {
	pthread_mutex_t lock; /* zones */
	dist_zone_t *zones;
	size_t nzones;

	pthread_mutex_t stats_lock;
	dist_stats_t stats;

	/* set up before the thread starts, then read only */
	bool tsig_optional;
	double ratio;
	uint16_t fudge;
	unsigned max_clients;
	unsigned idle_ms;
	void (*log)(void *arg, const char *line);
	void *log_arg;
	void (*notify)(void *arg, const uint8_t *wire, size_t len, const struct sockaddr *addr,
		       const char *peer, uint8_t **reply, size_t *rlen);
	void *notify_arg;
	const dist_key_t *const *keys;
	size_t nkeys;
	pthread_mutex_t acl_lock; /* acl, nacl: replaced by dist_server_set_acl */
	dist_acl_t *acl;
	size_t nacl;

	/* the server's thread only */
	struct event_base *base;
	dist_listener_t *ls;
	size_t nls;
	dist_conn_t *conns;
	unsigned clients;
	dist_msg_t *one; /* one-message answers (SOA) are written here; made at the first */
	int wake[2];
	struct event *wake_ev;
	pthread_t thread;
	bool started;
};

/* Adds one to a counter. */
void dist_count(dist_server_t *srv, uint64_t *field);

/* One line to the log callback. */
void dist_logf(dist_server_t *srv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The version served for name (a reference, the caller's), or NULL. */
dist_version_t *dist_server_version(dist_server_t *srv, const ldns_rdf *name);

/* The version of zone name held for the compare (a reference, the caller's), or NULL. */
dist_version_t *dist_server_held(dist_server_t *srv, const ldns_rdf *name);

/*
 * Answers one message from addr (c: the TCP client, NULL over UDP): *reply (malloc'd) is
 * the answer to send, or NULL (nothing to send, or a transfer started on c: its messages
 * come from dist_xfr_next).
 */
void dist_handle(dist_server_t *srv, dist_conn_t *c, const uint8_t *wire, size_t len,
		 const struct sockaddr *addr, const char *peer, uint8_t **reply, size_t *rlen);

/* The next message of c's transfer (*wire c's, valid until the next call); *done after the
 * last. Errors: TANDEM_DNS_EPARSE, TANDEM_ERANGE, TANDEM_CRYPTO_ELIB (signing). */
int dist_xfr_next(dist_conn_t *c, const uint8_t **wire, size_t *len, bool *done);

/* Ends c's transfer (drops its version); idempotent. */
void dist_xfr_end(dist_conn_t *c);

#endif
