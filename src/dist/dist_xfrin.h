/* Input by transfer: a zone's unsigned input pulled from a hidden primary by IXFR or AXFR
 * with TSIG, on its SOA refresh timer and on the primary's NOTIFY, written as a zone file. */
#ifndef DIST_XFRIN_H
#define DIST_XFRIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "dist.h"
#include "dns_diff.h"
#include "tandem_diag.h"

/*
 * One thread of its own checks each zone's primary (a TSIG-signed SOA query over UDP) when
 * the refresh timer of the primary's SOA is due (its retry after a failure), and at once
 * after an accepted NOTIFY; a newer serial (RFC 1982) is transferred over TCP: IXFR from
 * the serial held, applied to the records kept in memory, else (no copy yet, the primary
 * answers with the whole zone, or the IXFR does not apply) AXFR. Every message of every
 * answer must carry a TSIG that verifies with the zone's key. The result is written
 * atomically (temp, fsync, rename) over the zone's input file, where the node's input
 * watch picks it up. Anything refused leaves the file and the records in memory as they
 * were: one line through the log callback and one count per reason. The library never
 * logs by itself. docs/dist.md, "Input by transfer".
 */

/* Why something was refused; the names are dist_xfrin_reason_name's. */
typedef enum {
	DIST_XFRIN_TSIG = 0,    /* "tsig": an answer unsigned, or its MAC or time bad */
	DIST_XFRIN_TRUNCATED,   /* "truncated": the transfer broke off before its last SOA */
	DIST_XFRIN_IXFR_APPLY,  /* "ixfr-apply": an IXFR that does not apply to what we hold */
	DIST_XFRIN_RCODE,       /* "rcode": the primary answered with an error */
	DIST_XFRIN_MALFORMED,   /* "malformed": an answer that is not a well-formed transfer */
	DIST_XFRIN_UNREACHABLE, /* "unreachable": no answer, or no connection */
	DIST_XFRIN_NOTIFY_ACL,  /* "notify-acl": a NOTIFY from an address outside the ACL */
	DIST_XFRIN_NOTIFY_TSIG, /* "notify-tsig": a NOTIFY unsigned or signed wrongly */
	DIST_XFRIN_NOTIFY_RATE, /* "notify-rate": a NOTIFY over a source's rate, dropped */
	DIST_XFRIN_WRITE,       /* "write": the input file could not be written */
	DIST_XFRIN_NREASONS
} dist_xfrin_reason_t;

/* The reason's name for logs and metrics. */
const char *dist_xfrin_reason_name(dist_xfrin_reason_t r);

/* One zone taken from a primary (borrowed strings). */
typedef struct dist_xfrin_zone {
	const char *name;    /* the zone (with or without the final dot) */
	const char *primary; /* "ADDR:PORT" or "[ADDR6]:PORT" */
	const char *path;    /* the input file written (and read at start, when there) */
} dist_xfrin_zone_t;

typedef struct dist_xfrin_conf {
	const dist_xfrin_zone_t *zones;
	size_t nzones;
	const dist_key_t *key; /* signs every query, verifies every answer; borrowed */
	/* who may NOTIFY: "PREFIX" entries (dist's ACL syntax; a ",KEY" must name key).
	   Empty: the zone's primary address only */
	const char *const *notify_acl;
	size_t nacl;
	unsigned refresh_min_s; /* the SOA's refresh and retry are kept in [min, max] */
	unsigned refresh_max_s; /* (0: 10 s and 86400 s) */
	void (*log)(void *arg, const char *line); /* from the library's threads (NULL: none) */
	void *log_arg;
	/* an IXFR applied and written (NULL: none): its net difference (the records of the
	 * copy it removed and added, in canonical form, TTLs as held; the old and new SOA),
	 * handed over (the callee frees it with dns_changeset_free), and what the written
	 * input file is (stat() after its rename). From the library's thread, after the
	 * file is in place: the node can sign the difference without reading the file. */
	void (*ixfr)(void *arg, size_t zone, dns_changeset_t *cs, const struct stat *written);
	void *ixfr_arg;
} dist_xfrin_conf_t;

/* A zone's state, a plain value. */
typedef struct dist_xfrin_status {
	bool has_serial;
	uint32_t serial;    /* of the copy held (and written) */
	uint64_t transfers; /* transfers written */
	uint64_t refused[DIST_XFRIN_NREASONS];
	bool expired;            /* no good SOA answer for longer than the SOA's expire */
	uint32_t expire_s;       /* that expire (of the copy held, or the last SOA answer) */
	uint64_t last_ok_wall_s; /* UNIX seconds of the last good SOA answer (0: none) */
} dist_xfrin_status_t;

typedef struct dist_xfrin dist_xfrin_t;

/*
 * Checks the configuration and starts the thread (which reads each zone's input file
 * first, then checks every primary at once). Errors: TANDEM_ESYNTAX (a zone name, primary
 * address or ACL entry: diag says which), TANDEM_EINVAL, TANDEM_ENOMEM. *out set only on
 * success.
 */
int dist_xfrin_new(const dist_xfrin_conf_t *conf, tandem_diag_t *diag, dist_xfrin_t **out);

/* Stops the thread (a query or transfer under way is given up within a few seconds) and
 * frees x; NULL-safe. */
void dist_xfrin_free(dist_xfrin_t *x);

/* Zone i's state (i as in conf->zones). Any thread. */
void dist_xfrin_status(dist_xfrin_t *x, size_t i, dist_xfrin_status_t *out);

/*
 * dist_conf_t.notify: a NOTIFY (arg: the dist_xfrin_t). Over a source's rate: dropped, no
 * answer. From outside the ACL: REFUSED; unsigned or not verifying with the key: NOTAUTH;
 * a zone not taken by transfer: NOTAUTH; else NOERROR (signed) and the zone's primary is
 * checked at once (at most once a second). Each refusal is logged and counted.
 */
void dist_xfrin_notify(void *arg, const uint8_t *wire, size_t len, const struct sockaddr *addr,
		       const char *peer, uint8_t **reply, size_t *rlen);

#endif
