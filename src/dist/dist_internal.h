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
	uint8_t *raw; /* the secret decoded, for dist_tsig_sign; wiped on free */
	size_t rawlen;
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

/* ---- messages written once, straight into wire form (dist_wire.c) ---- */

/* Room kept at a message's end for its TSIG record (names up to 255 bytes, a 64-byte MAC). */
#define DIST_TSIG_ROOM 400
/* Compression table slots (a power of two); a message fills at most 3/4 of them. */
#define DIST_CT_SLOTS 4096

/* A name already written in the message: its uncompressed bytes (in the zone, a changeset
 * or the query, all alive while the message is built) and where it starts. */
typedef struct dist_ct_ent {
	const uint8_t *name;
	uint32_t hash;
	uint32_t gen; /* the message it belongs to: other values are empty slots */
	uint16_t off;
	uint8_t len;
} dist_ct_ent_t;

/* One DNS message being written: header, question, answer records. */
typedef struct dist_msg {
	uint8_t buf[65535];
	size_t len;
	size_t limit; /* records stop here: the rest is the TSIG's */
	uint16_t ancount;
	uint32_t gen;
	size_t nct;
	dist_ct_ent_t ct[DIST_CT_SLOTS];
} dist_msg_t;

/* A MAC: the request's, or the previous message's of a transfer (RFC 8945 5.3.1). */
typedef struct dist_mac {
	uint8_t b[64];
	size_t len; /* 0: none */
} dist_mac_t;

/* A new message (calloc'd), or NULL. */
dist_msg_t *dist_msg_new(void);

/* Starts m afresh: the header (id, opcode, RD copied from the query; QR, AA; rcode) and the
 * question (qname uncompressed wire). Errors: TANDEM_DNS_EPARSE (a bad name). */
int dist_msg_start(dist_msg_t *m, uint16_t id, uint8_t opcode, bool rd, uint8_t rcode,
		   const uint8_t *qname, uint16_t qtype, uint16_t qclass);

/* Appends one answer record, its owner and the names in the RDATA of the RFC 1035 types
 * compressed against the names already written. Errors: TANDEM_ERANGE (it does not fit:
 * nothing was written), TANDEM_DNS_EPARSE (a bad owner). */
int dist_msg_rr(dist_msg_t *m, const uint8_t *owner, uint16_t type, uint16_t rclass, uint32_t ttl,
		const uint8_t *rdata);

/*
 * What a signed error answer's TSIG carries besides its MAC (RFC 8945 4.2): the TSIG error,
 * the Time Signed it claims and the Other Data. For BADTIME (5.2.3) the time is the
 * request's (the client checks it against its own clock) and Other Data our time, 48 bits.
 */
typedef struct dist_tsig_err {
	uint16_t error;
	uint64_t time_signed;
	uint8_t other[6];
	uint16_t other_len; /* 0 or 6 */
} dist_tsig_err_t;

/*
 * Appends a TSIG record signing the len bytes of buf (a whole message, cap bytes of room)
 * with key (RFC 8945 4.3): the digest covers the prior MAC (mac, when it has one: the
 * request's or the previous message's), the message, and all the TSIG variables, or only
 * the timers when timers_only (the second and later messages of a transfer, 5.3.1). err
 * (NULL: error 0, our time, no Other Data) gives an error answer's variables, which the
 * MAC covers. The new MAC replaces *mac. Errors: TANDEM_ERANGE (no room),
 * TANDEM_CRYPTO_ELIB, TANDEM_EINVAL (other_len above 6).
 */
int dist_tsig_sign(uint8_t *buf, size_t *len, size_t cap, const dist_key_t *key, uint16_t fudge,
		   dist_mac_t *mac, bool timers_only, const dist_tsig_err_t *err);

/*
 * Verifies the TSIG of a later message of a transfer (wire, len: the whole message, its TSIG
 * last) when the messages before it since the last signed one were left unsigned (RFC 8945
 * 5.3.1): the MAC must cover prior (the previous MAC as its 2-byte length and bytes), the
 * unsigned messages as received (before, concatenated), this message without its TSIG
 * (its original id, ARCOUNT one less) and the TSIG timers. The key's name and algorithm
 * must be the TSIG's. The time is the caller's to check. Errors: TANDEM_CRYPTO_EVERIFY (no
 * TSIG of the key, malformed, or the MAC does not verify), TANDEM_CRYPTO_ELIB.
 */
int dist_tsig_verify_after(const uint8_t *wire, size_t len, const dist_key_t *key,
			   const uint8_t *prior, size_t prior_len, const uint8_t *before,
			   size_t before_len);

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

/* Appends records to m until it holds max bytes, no more fit, or the stream ends (*done).
 * Errors: TANDEM_DNS_EPARSE, TANDEM_ERANGE (a record that fits in no message). */
int dist_stream_fill(dist_stream_t *s, dist_msg_t *m, size_t max, bool *done);

/* The SOA record of v appended to m. Errors: as dist_msg_rr, TANDEM_DNS_ESOA. */
int dist_version_push_soa(const dist_version_t *v, dist_msg_t *m);

/*
 * ldns_pkt_tsig_verify_next without its leak: when ldns cannot compute the MAC (an algorithm
 * it does not know, a secret that is not base64) it returns false with the TSIG record taken
 * off pkt and never put back, so ldns_pkt_free(pkt) no longer frees it. Every TSIG check
 * goes through here (found by tests/fuzz/fuzz_notify_answer.c). timers_only: a later
 * message of a transfer (RFC 8945 5.3.1: the MAC covers the previous MAC, the message and
 * the timers only).
 */
bool dist_tsig_verify_next(ldns_pkt *pkt, const uint8_t *wire, size_t len, const char *key_name,
			   const char *secret, const ldns_rdf *mac, bool timers_only);

/* dist_tsig_verify_next of a single message (a request, a NOTIFY answer, a transfer's first). */
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
