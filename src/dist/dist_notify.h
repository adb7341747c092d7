/* NOTIFY (RFC 1996) to a zone's secondaries: UDP, optional TSIG, retries with backoff. */
#ifndef DIST_NOTIFY_H
#define DIST_NOTIFY_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tandem_diag.h"

/*
 * One dist_notify_t per zone. The caller lists the secondaries once, then calls
 * dist_notify_publish() with each new serial. Every secondary is sent a NOTIFY
 * (opcode 4, AA, question ZONE/SOA, the answer section one SOA carrying the
 * serial) over UDP from a socket of its own, TSIG-signed when it has a key. A
 * secondary that does not answer is asked again after first_gap_ms, then after
 * twice that, and so on up to max_gap_ms between tries, until it answers, or
 * max_tries tries or max_total_ms since the first try for that serial are
 * used up (then it is "given up" for that serial). A newer serial replaces a
 * pending older one at once (fresh tries, fresh gaps, new query id).
 *
 * An answer counts when it comes from the secondary's address and port, has
 * QR set, opcode NOTIFY and the query's id, and (when the query was signed)
 * a TSIG that verifies with the same key over the query's MAC. Anything else
 * arriving on the socket is dropped and counted. NOERROR means the secondary
 * took the serial; any other rcode (NOTAUTH, REFUSED, ...) is final for that
 * serial: it said no, asking again would not change that.
 *
 * The library runs no thread and reads no clock: the caller drives it from
 * its own loop with dist_notify_pollfds() / dist_notify_timeout_ms() /
 * dist_notify_process(now_ms), or blocks in dist_notify_run(). It never logs:
 * what happens is reported through the event callback. One dist_notify_t is
 * used by one thread at a time.
 */

typedef struct dist_notify dist_notify_t;

/* TSIG algorithms for NOTIFY signing. */
typedef enum {
	DIST_TSIG_NONE = 0,
	DIST_TSIG_HMAC_SHA256,
	DIST_TSIG_HMAC_SHA512,
} dist_tsig_alg_t;

/* Retry bounds (plain value). Zeros take the defaults in brackets. */
typedef struct dist_notify_opts {
	unsigned first_gap_ms; /* gap after the first try [1000] */
	unsigned max_gap_ms;   /* largest gap between two tries [60000] */
	unsigned max_tries;    /* tries per serial, the first included [8] */
	unsigned max_total_ms; /* time from the first try to giving up [300000] */
} dist_notify_opts_t;

/* A secondary (plain value, every pointer borrowed for the call only). */
typedef struct dist_notify_peer_conf {
	const char *addr;         /* numeric IPv4 or IPv6 address */
	uint16_t port;            /* 53 when 0 */
	dist_tsig_alg_t tsig_alg; /* DIST_TSIG_NONE: unsigned NOTIFY */
	const char *tsig_name;    /* key name, e.g. "xfr-key." (with TSIG) */
	const char *tsig_secret;  /* the key, base64 (with TSIG); copied, wiped on free */
} dist_notify_peer_conf_t;

/* What one secondary stands at (plain value). */
typedef struct dist_notify_peer_state {
	bool answered;            /* it has answered NOERROR at least once */
	uint32_t answered_serial; /* the serial of its last NOERROR answer */
	bool pending;             /* a serial is being notified */
	uint32_t pending_serial;  /* that serial */
	unsigned tries;           /* tries sent for the pending (or last) serial */
	unsigned failures;        /* serials given up or refused, since creation */
	unsigned dropped;         /* packets on its socket that were not its answer */
	int last_rcode;           /* rcode of its last answer, -1 before any */
	int last_err;             /* TANDEM_OK, or why the last serial failed */
} dist_notify_peer_state_t;

/* What the event callback is told. */
typedef enum {
	DIST_NOTIFY_SENT,     /* try number `tries` sent; next_gap_ms until the next one */
	DIST_NOTIFY_ANSWERED, /* NOERROR for `serial` */
	DIST_NOTIFY_REFUSED,  /* an answer with rcode `rcode` (final for the serial) */
	DIST_NOTIFY_DROPPED,  /* a packet that is not the answer (id, TSIG, form) */
	DIST_NOTIFY_SENDFAIL, /* sendto failed (ICMP unreachable, no route); will retry */
	DIST_NOTIFY_GAVE_UP,  /* bounds used up without an answer */
} dist_notify_event_kind_t;

typedef struct dist_notify_event {
	dist_notify_event_kind_t kind;
	size_t peer;           /* index in the order of dist_notify_peer_add */
	const char *peer_name; /* "ADDR@PORT", borrowed for the call */
	uint32_t serial;
	unsigned tries;
	unsigned next_gap_ms; /* with SENT and SENDFAIL: 0 when it was the last try */
	int rcode;            /* with REFUSED */
	const char *detail;   /* with DROPPED and SENDFAIL: why, borrowed for the call */
} dist_notify_event_t;

typedef void (*dist_notify_cb_t)(void *arg, const dist_notify_event_t *ev);

/*
 * A notifier for zone (e.g. "example." or "example"); opts may be NULL for the
 * defaults. Errors: TANDEM_EINVAL (bad name, bounds out of range, with diag),
 * TANDEM_ENOMEM. *out set only on success.
 */
int dist_notify_new(const char *zone, const dist_notify_opts_t *opts, tandem_diag_t *diag,
		    dist_notify_t **out);

/* Frees the notifier, closes its sockets and wipes the TSIG secrets; NULL-safe. */
void dist_notify_free(dist_notify_t *n);

/* The callback (NULL: none) and its argument, borrowed until replaced or freed. */
void dist_notify_set_callback(dist_notify_t *n, dist_notify_cb_t cb, void *arg);

/*
 * Adds a secondary and opens its UDP socket. Errors: TANDEM_EINVAL (address,
 * key name or secret malformed, unknown algorithm; with diag), TANDEM_EIO
 * (socket), TANDEM_ENOMEM.
 */
int dist_notify_peer_add(dist_notify_t *n, const dist_notify_peer_conf_t *peer,
			 tandem_diag_t *diag);

/* Number of secondaries. */
size_t dist_notify_peer_count(const dist_notify_t *n);

/* Secondary i's state into *out; false when i is out of range. */
bool dist_notify_peer_state(const dist_notify_t *n, size_t i, dist_notify_peer_state_t *out);

/*
 * Starts notifying every secondary of serial, now (monotonic milliseconds of
 * the caller's clock); the first tries go out in the next dist_notify_process.
 * A pending older serial (RFC 1982) is dropped; the serial already pending goes
 * on as it is. Errors: TANDEM_EINVAL, TANDEM_SIGNER_ESERIAL (serial is older than
 * one still pending: nothing changes).
 */
int dist_notify_publish(dist_notify_t *n, uint32_t serial, uint64_t now_ms);

/* True when no secondary has a serial pending. */
bool dist_notify_idle(const dist_notify_t *n);

/*
 * The sockets to wait on for reading: fills at most cap entries of fds (fd,
 * POLLIN) and returns how many there are in all (call again with more room
 * when that is more than cap).
 */
size_t dist_notify_pollfds(const dist_notify_t *n, struct pollfd *fds, size_t cap);

/* Milliseconds from now_ms until the next try is due: 0 when one is due, -1 when idle. */
int dist_notify_timeout_ms(const dist_notify_t *n, uint64_t now_ms);

/*
 * Reads every answer waiting on the sockets, then sends every try that is due
 * at now_ms and gives up where the bounds are used up. Never blocks. Errors:
 * TANDEM_ENOMEM, TANDEM_EINTERNAL (a NOTIFY could not be built or signed).
 */
int dist_notify_process(dist_notify_t *n, uint64_t now_ms);

/*
 * Drives the notifier with poll() and CLOCK_MONOTONIC until it is idle or
 * timeout_ms has passed. Errors: those of dist_notify_process, TANDEM_EIO
 * (poll), TANDEM_NET_ETIMEOUT (still pending at the timeout).
 */
int dist_notify_run(dist_notify_t *n, unsigned timeout_ms);

/* CLOCK_MONOTONIC in milliseconds, the clock dist_notify_run uses. */
uint64_t dist_notify_now_ms(void);

#endif
