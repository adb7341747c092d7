/* The transfer server's private pieces, shared by its files only. */
#ifndef DIST_INTERNAL_H
#define DIST_INTERNAL_H

#include <ldns/ldns.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dist.h"

/* One changeset shared by the versions that hold it. */
typedef struct dist_cs {
	atomic_int refs;
	dns_changeset_t *cs; /* owned */
	uint64_t bytes;      /* journal_entry_bytes */
	uint64_t records;    /* removed + added + the two SOAs */
} dist_cs_t;

struct dist_version {
	atomic_int refs;
	bool frozen; /* published: no more changesets */
	dns_zone_t *zone;
	uint32_t serial;
	uint64_t records;
	dist_cs_t **cs; /* oldest first, each one reference */
	size_t ncs;
	size_t cap;
};

struct dist_key {
	char *name; /* presentation, lowercase, final dot */
	ldns_rdf *dname;
	char *alg; /* "hmac-sha256." or "hmac-sha512." */
	ldns_rdf *alg_dname;
	char *secret; /* base64, wiped on free */
};

/* One ACL entry: an address prefix and, optionally, the key that must sign. */
typedef struct dist_acl {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned bits;
	const dist_key_t *key; /* NULL: any (or no) key */
} dist_acl_t;

/* Parses "PREFIX[,KEYNAME]" against keys. Errors: TANDEM_ESYNTAX (diag). */
int dist_acl_parse(const char *text, const dist_key_t *const *keys, size_t nkeys,
		   tandem_diag_t *diag, dist_acl_t *out);

/* "ADDR:PORT" or "[ADDR6]:PORT" into ss, *sl its length. Errors: TANDEM_ESYNTAX. */
int dist_addr_parse(const char *text, struct sockaddr_storage *ss, socklen_t *sl);

/* True when addr (a sockaddr_in or _in6, v4-mapped v6 seen as v4) is in the prefix. */
bool dist_acl_match(const dist_acl_t *a, const struct sockaddr *addr);

/* Appends the RR (owner wire, type, TTL, RDATA with its 2-byte length) to list as an
 * ldns_rr; *size grows by its uncompressed wire size. Errors: TANDEM_ENOMEM,
 * TANDEM_DNS_EPARSE. */
int dist_rr_push(ldns_rr_list *list, const uint8_t *owner, uint16_t type, uint16_t rclass,
		 uint32_t ttl, const uint8_t *rdata, size_t *size);

/* A transfer's record stream: AXFR, or IXFR from changeset `first` on. */
typedef struct dist_stream {
	const dist_version_t *v; /* borrowed from the transfer, which holds a reference */
	bool ixfr;               /* changesets, else the whole zone */
	int phase;
	size_t a, b, c; /* positions inside the phase */
	size_t first;   /* IXFR: the first changeset */
} dist_stream_t;

/* Starts a stream over v; ixfr with first: changesets first.. to the end. */
void dist_stream_init(dist_stream_t *s, const dist_version_t *v, bool ixfr, size_t first);

/* Appends records to list until their wire size reaches max or the stream ends (*done).
 * Errors: TANDEM_ENOMEM, TANDEM_DNS_EPARSE. */
int dist_stream_fill(dist_stream_t *s, ldns_rr_list *list, size_t max, bool *done);

/* The SOA record of v as an ldns_rr pushed on list. Errors: as dist_rr_push. */
int dist_version_push_soa(const dist_version_t *v, ldns_rr_list *list);

/*
 * ldns_pkt_tsig_verify without its leak: when ldns cannot compute the MAC (an algorithm it
 * does not know, a secret that is not base64) it returns false with the TSIG record taken
 * off pkt and never put back, so ldns_pkt_free(pkt) no longer frees it. Every TSIG check
 * goes through here (found by tests/fuzz/fuzz_notify_answer.c).
 */
bool dist_tsig_verify(ldns_pkt *pkt, const uint8_t *wire, size_t len, const char *key_name,
		      const char *secret, const ldns_rdf *mac);

/*
 * Checks one datagram that came back for a NOTIFY (socket-free: the sender's reader, and the
 * fuzz target tests/fuzz/fuzz_notify_answer.c): NULL when it answers the NOTIFY of id for
 * zone (its rcode then in *rcode), else why it is to be dropped. tsig_name NULL: unsigned;
 * else the answer must verify with tsig_secret (base64) over the request's MAC mac.
 */
const char *dist_notify_answer_check(const ldns_rdf *zone, uint16_t id, const char *tsig_name,
				     const char *tsig_secret, const ldns_rdf *mac,
				     const uint8_t *buf, size_t len, int *rcode);

#endif
