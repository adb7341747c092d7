/* The transfer server: SOA, AXFR and IXFR of the published signed zones, with TSIG and an ACL. */
#ifndef DIST_H
#define DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

#include "dns_diff.h"
#include "dns_zone.h"
#include "tandem_diag.h"

/*
 * A server runs its own thread with a libevent loop; it answers from the version of each
 * zone last handed to dist_publish. A version is immutable once published and counted by
 * reference: a transfer in progress keeps its version alive while a newer one is published.
 * The library never logs: every refusal is one line through dist_conf_t.log (called from
 * the server's thread) and a counter (dist_server_stats). docs/dist.md has the details.
 */

/* ---- versions ---- */

typedef struct dist_version dist_version_t;

/*
 * A version holding zone (taken: the version frees it when its last reference goes; the
 * caller may keep reading it through dist_version_zone while it holds a reference) with no
 * changesets. The serial is the zone's. Errors: TANDEM_EINVAL (NULL), TANDEM_DNS_ESOA,
 * TANDEM_ENOMEM; on error the zone is freed too. *out set only on success.
 */
int dist_version_new_take(dns_zone_t *zone, dist_version_t **out);

/* Another reference to v (returned); NULL-safe. Any thread. */
dist_version_t *dist_version_ref(dist_version_t *v);

/* Drops a reference; the last one frees the zone and changesets. NULL-safe. Any thread. */
void dist_version_unref(dist_version_t *v);

/* The zone, borrowed (valid while the caller holds a reference). Read it only. */
dns_zone_t *dist_version_zone(const dist_version_t *v);

/* The version's SOA serial. */
uint32_t dist_version_serial(const dist_version_t *v);

/* Records in the zone, the SOA and RRSIGs included (what an AXFR sends, one SOA counted). */
uint64_t dist_version_records(const dist_version_t *v);

/*
 * Appends cs (taken; freed on error too) to the changesets IXFR answers from. They must
 * chain: cs starts where the previous one ends, and the last one must end at the version's
 * serial before it is published. Only before dist_publish. Errors: TANDEM_JOURNAL_ESEQ (cs
 * does not follow), TANDEM_EPERM (already published), TANDEM_EINVAL, TANDEM_ENOMEM.
 */
int dist_version_add_take(dist_version_t *v, dns_changeset_t *cs);

/*
 * Shares prev's changesets (no copy) that lead to the first one v holds, or to v's serial
 * when v holds none, keeping at most max_count changesets and max_bytes of their records
 * (journal_entry_bytes; 0: no limit), the oldest dropped first. Only before dist_publish.
 * Errors: TANDEM_EPERM (already published), TANDEM_EINVAL, TANDEM_ENOMEM.
 */
int dist_version_inherit(dist_version_t *v, const dist_version_t *prev, size_t max_count,
			 uint64_t max_bytes);

/* Changesets held, and the serial the oldest starts from (false: none). */
size_t dist_version_changesets(const dist_version_t *v, uint32_t *oldest);

/* ---- TSIG keys ---- */

typedef struct dist_key dist_key_t;

/*
 * Reads a key file: one line `NAME ALGORITHM BASE64SECRET`, ALGORITHM hmac-sha256 or
 * hmac-sha512. Refused: a file group or others may read or write (TANDEM_EPERM), a
 * malformed line or an unknown algorithm (TANDEM_ESYNTAX, "PATH: reason" in diag, never
 * the secret), TANDEM_ENOENT, TANDEM_EIO, TANDEM_ENOMEM. *out set only on success.
 */
int dist_key_load(const char *path, tandem_diag_t *diag, dist_key_t **out);

/* A key from its parts (tests, tools). Errors: as dist_key_load. */
int dist_key_new(const char *name, const char *algorithm, const char *secret_b64,
		 tandem_diag_t *diag, dist_key_t **out);

/* Wipes the secret and frees the key; NULL-safe. */
void dist_key_free(dist_key_t *k);

/* The key's name (presentation, lowercase, with the final dot), borrowed. */
const char *dist_key_name(const dist_key_t *k);

/* Whether the key is hmac-sha512 (else hmac-sha256). */
bool dist_key_is_sha512(const dist_key_t *k);

/* The key's secret, base64, borrowed until dist_key_free (which wipes it): for signing
 * NOTIFY with the same key (dist_notify copies it). */
const char *dist_key_secret_b64(const dist_key_t *k);

struct ldns_struct_pkt;
struct ldns_struct_rdf;
/*
 * ldns_wire2pkt for a message from the network (LDNS_STATUS_OK, or an ldns error with *out
 * NULL). ldns loses a TSIG record it read when the message has another one or a later record
 * fails to parse (80 to 140 bytes each, found by tests/fuzz/fuzz_notify_answer.c): a message
 * with a TSIG record that is not its last record (RFC 8945: at most one, the last), or whose
 * sections do not add up, is refused before ldns reads it. Every message tandem reads goes
 * through here.
 */
int dist_wire2pkt(struct ldns_struct_pkt **out, const uint8_t *wire, size_t len);

/* Whether pkt (parsed from wire) carries a TSIG of k that verifies, over mac (the request's
 * MAC, NULL for a request): ldns_pkt_tsig_verify without its leak (docs/fuzzing.md). */
bool dist_key_verify(const dist_key_t *k, struct ldns_struct_pkt *pkt, const uint8_t *wire,
		     size_t len, const struct ldns_struct_rdf *mac);

/* ---- the server ---- */

typedef struct dist_conf {
	const char *const *listen; /* "ADDR:PORT" or "[ADDR6]:PORT", port 0: any free one */
	size_t nlisten;
	const dist_key_t *const *keys; /* borrowed until dist_server_free */
	size_t nkeys;
	const char *const *acl; /* "PREFIX" or "PREFIX,KEYNAME" (empty list: any address) */
	size_t nacl;
	bool tsig_optional;    /* false (default): a request without TSIG is refused */
	double max_ixfr_ratio; /* IXFR records above ratio x zone records: AXFR-style answer;
				  0 means the default 1.0, negative: no limit */
	uint16_t fudge;        /* TSIG time window in seconds (0: 300) */
	unsigned max_clients;  /* TCP connections at once (0: 64) */
	unsigned idle_ms;      /* a TCP client silent or not reading this long is closed
				  (0: 30000) */
	/* one line per refusal, from the server's thread (NULL: none) */
	void (*log)(void *arg, const char *line);
	void *log_arg;
	/* NOTIFY requests (opcode 4, UDP or TCP) are handed here whole, from the server's
	   thread, instead of answered NOTIMP: *reply (malloc'd, or NULL: none) is sent back
	   (dist_xfrin_notify is one; NULL: NOTIMP) */
	void (*notify)(void *arg, const uint8_t *wire, size_t len, const struct sockaddr *addr,
		       const char *peer, uint8_t **reply, size_t *rlen);
	void *notify_arg;
} dist_conf_t;

/* What the server counted since it started. */
typedef struct dist_stats {
	uint64_t queries;         /* messages received */
	uint64_t soa;             /* SOA answers */
	uint64_t axfr;            /* AXFRs answered (started) */
	uint64_t ixfr;            /* IXFRs answered with changesets */
	uint64_t ixfr_full;       /* IXFRs answered AXFR-style (serial not held, or ratio) */
	uint64_t ixfr_uptodate;   /* IXFRs answered with the single SOA */
	uint64_t refused;         /* every refusal below, and the other error answers */
	uint64_t refused_acl;     /* address or key not in the ACL */
	uint64_t refused_notsig;  /* TSIG required and absent */
	uint64_t tsig_badkey;     /* unknown key or algorithm */
	uint64_t tsig_badsig;     /* MAC does not verify */
	uint64_t tsig_badtime;    /* time outside the fudge */
	uint64_t notauth;         /* zone not served */
	uint64_t malformed;       /* FORMERR, or dropped */
	uint64_t notimp;          /* opcode or AXFR over UDP */
	uint64_t clients_refused; /* TCP connections closed at once: too many */
} dist_stats_t;

typedef struct dist_server dist_server_t;

/*
 * Binds every listen address (TCP and UDP on the same port), then starts the server's
 * thread. Errors: TANDEM_ESYNTAX (an address or ACL entry, or an ACL key name no key
 * has: diag says which), TANDEM_EIO (bind or listen failed: diag), TANDEM_EINVAL,
 * TANDEM_ENOMEM. *out set only on success.
 */
int dist_server_new(const dist_conf_t *conf, tandem_diag_t *diag, dist_server_t **out);

/* Stops the thread, closes every connection and drops every version; NULL-safe. */
void dist_server_free(dist_server_t *srv);

/*
 * Replaces the ACL (acl, nacl as dist_conf_t's: an empty list lets any address with a key
 * in) for the requests that come after; a transfer under way goes on. All or nothing: an
 * entry that does not parse leaves the ACL in force. Errors: TANDEM_ESYNTAX (diag says
 * which entry), TANDEM_EINVAL, TANDEM_ENOMEM.
 */
int dist_server_set_acl(dist_server_t *srv, const char *const *acl, size_t nacl,
			tandem_diag_t *diag);

/* Listen addresses bound, and the port listener i got (the one asked, or the free one). */
size_t dist_server_listeners(const dist_server_t *srv);
uint16_t dist_server_port(const dist_server_t *srv, size_t i);

/*
 * Serves v (a reference is taken: the caller keeps its own) for zone (presentation name;
 * it must be v's origin) from the next request on; v is frozen (no more changesets). A
 * NULL v stops serving the zone (then NOTAUTH). Never waits for a transfer. Any thread.
 * Errors: TANDEM_EINVAL (name and origin differ, a version whose changesets do not end at
 * its serial), TANDEM_DNS_ENAME, TANDEM_ENOMEM.
 */
int dist_publish(dist_server_t *srv, const char *zone, dist_version_t *v);

/*
 * A committed serial of zone held back for the compare before publish (docs/dist.md, "A
 * peer's AXFR of one serial"): v is not served to secondaries (SOA, IXFR and a plain AXFR
 * still answer with the published version), only to an AXFR that carries an SOA of v's
 * serial in its authority section, which a standby of the cluster sends to verify the
 * active's version. A reference is taken; v is frozen. NULL v: none held. Any thread.
 * Errors: as dist_publish.
 */
int dist_hold(dist_server_t *srv, const char *zone, dist_version_t *v);

/*
 * A peer's AXFR of version `serial` of zone from the transfer server at addr ("ADDR:PORT",
 * "[ADDR6]:PORT"): the AXFR query carries an SOA of that serial in its authority section
 * (dist_hold), is TSIG-signed with key, and every answer message must verify with it. The
 * records are loaded as a signed zone (every record kept), whose SOA serial must be serial.
 * Gives up after timeout_ms in all. Blocks the calling thread; the library logs nothing.
 * Errors: TANDEM_EINVAL, TANDEM_EIO (no connection, no answer in time, the transfer broke
 * off, an error rcode such as REFUSED when the peer holds no such version), TANDEM_CRYPTO_ELIB
 * (a TSIG that does not verify), TANDEM_DNS_E* (the records do not load), TANDEM_ENOMEM;
 * diag says which. *out set only on success.
 */
int dist_fetch_version(const char *addr, const char *zone, uint32_t serial, const dist_key_t *key,
		       unsigned timeout_ms, tandem_diag_t *diag, dns_zone_t **out);

/* The serial served for zone; false when none is. Any thread. */
bool dist_served_serial(dist_server_t *srv, const char *zone, uint32_t *out);

/* A copy of the counters. Any thread. */
void dist_server_stats(dist_server_t *srv, dist_stats_t *out);

#endif
