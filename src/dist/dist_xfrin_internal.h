/* dist_xfrin's private pieces, shared by dist_xfrin.c (transfers) and dist_xfrin_notify.c
 * (NOTIFY in) only. */
#ifndef DIST_XFRIN_INTERNAL_H
#define DIST_XFRIN_INTERNAL_H

#include <ldns/ldns.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "dist_internal.h"
#include "dist_xfrin.h"

#define XFRIN_FUDGE         300u  /* TSIG time window, seconds */
#define XFRIN_NOTIFY_GAP_MS 1000  /* checks a NOTIFY starts: at most one a second */
#define XFRIN_RATE_SOURCES  32    /* NOTIFY sources whose rate is kept */
#define XFRIN_RATE_PER_S    10    /* NOTIFYs a source may send a second ... */
#define XFRIN_RATE_BURST    20    /* ... after a burst of this many */
#define XFRIN_RATE_LOG_MS   10000 /* a source over its rate is logged once per this */

/* One zone: its primary, its copy (the SOA apart, the rest in a tree), its timers. */
typedef struct xfrin_zone {
	char *name;      /* presentation, with the final dot */
	ldns_rdf *dname; /* canonical */
	char primary[80];
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char *path;
	/* the thread's only */
	ldns_rr *soa;       /* NULL: no copy yet */
	ldns_rbtree_t *rrs; /* every other record, keys ldns_rr* (ldns_rr_compare) */
	uint32_t refresh_s, retry_s, expire_s;
	uint64_t last_ok_mono_ms; /* of the last good SOA answer (0: none) */
	bool has_id;              /* the input file as the copy was read or written: */
	struct stat id;           /* another file there (replaced by hand) is read again */
	uint32_t behind_said;     /* a primary's serial below the copy's, logged once */
	/* under the lock */
	uint64_t due_mono_ms;
	uint64_t last_start_mono_ms;
	bool notified;
	dist_xfrin_status_t st;
} xfrin_zone_t;

typedef struct xfrin_rate {
	struct sockaddr_storage addr; /* address only, port zeroed */
	double tokens;
	uint64_t at_ms;
	uint64_t logged_ms;
	bool used;
} xfrin_rate_t;

struct dist_xfrin {
	xfrin_zone_t *zones;
	size_t nzones;
	const dist_key_t *key;
	dist_acl_t *acl;
	size_t nacl;
	unsigned rmin, rmax;
	void (*log)(void *arg, const char *line);
	void *log_arg;
	void (*ixfr)(void *arg, size_t zone, dns_changeset_t *cs, const struct stat *written);
	void *ixfr_arg;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	xfrin_rate_t rate[XFRIN_RATE_SOURCES];
	pthread_t thread;
	bool started;
};

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t xfrin_mono_ms(void);

/* One line through the log callback. */
void xfrin_logf(dist_xfrin_t *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Counts a refusal of zone z (NULL: none known) and logs it. */
void xfrin_refuse(dist_xfrin_t *x, xfrin_zone_t *z, dist_xfrin_reason_t r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Whether a TSIG record's time signed is within XFRIN_FUDGE of our clock. */
bool xfrin_tsig_time_ok(const ldns_rr *t);

#endif
