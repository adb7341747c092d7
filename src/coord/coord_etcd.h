/* etcd v3 client over the JSON gateway (libcurl + jansson): reads, transactions, leases. */
#ifndef COORD_ETCD_H
#define COORD_ETCD_H

#include "tandem_diag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A client over a list of etcd endpoints ("http://127.0.0.1:2379", ...). Each
 * request goes to the endpoint that last answered and fails over to the next
 * one on a connection error, a timeout or an "unavailable" reply; when every
 * endpoint failed the call returns TANDEM_COORD_ENOQUORUM if some member
 * answered that it has no leader (its cluster lost quorum), otherwise
 * TANDEM_COORD_EUNAVAIL. Every byte from etcd is parsed as untrusted input.
 *
 * Reads are linearizable unless COORD_ETCD_SERIALIZABLE is passed: a member
 * cut off from the quorum then refuses (ENOQUORUM) instead of answering from
 * its possibly stale copy. A write that timed out may still be applied later:
 * state changes are therefore always conditional transactions, which a retry
 * cannot apply twice (the retry's compare fails).
 *
 * A client keeps one libcurl handle (and its connections) and must be used by
 * one thread at a time. Libraries never log: the details of every failure
 * ("ENDPOINT: reason") go to the diag passed to each call.
 */
typedef struct coord_etcd coord_etcd_t;

/* Default per-request, per-endpoint timeout, in milliseconds. */
#define COORD_ETCD_TIMEOUT_MS 2000u
/* Default bound on one reply body, in bytes. */
#define COORD_ETCD_MAX_REPLY (16u * 1024u * 1024u)
/* Most endpoints a client takes, and most operations in one transaction: etcd's default
 * --max-txn-ops is 128; a decision about every zone of a large cluster writes a key per zone
 * it changes, so run etcd with --max-txn-ops 4096 (deploy/cluster-up.sh does): etcd refuses a
 * larger transaction than its own limit (TANDEM_COORD_EREFUSED, "too many operations"). */
#define COORD_ETCD_MAX_ENDPOINTS 16u
#define COORD_ETCD_MAX_TXN_OPS   4096u

/* Read flag: serve the read from the answering member's local copy (may be stale). */
#define COORD_ETCD_SERIALIZABLE 0x1u
/* Read flag (coord_etcd_range_since only): keys and revisions, no values (value_len 0). */
#define COORD_ETCD_KEYS_ONLY 0x2u

/* Client options; a zeroed struct (or NULL) means the defaults. */
typedef struct coord_etcd_opts {
	unsigned timeout_ms;         /* per request and endpoint; 0: COORD_ETCD_TIMEOUT_MS */
	unsigned connect_timeout_ms; /* TCP connect; 0: the smaller of timeout_ms and 1000 */
	unsigned call_timeout_ms;    /* one call across all endpoints (failover included);
					0: no bound but timeout_ms per endpoint. When it runs
					out, the call fails (TANDEM_COORD_EUNAVAIL, or
					ENOQUORUM if a member said it has no leader) and the
					next call starts with the first endpoint not tried.
					A timed-out member's "no leader?" probe (at most
					connect_timeout_ms) may come on top. */
	size_t max_reply;            /* reply body bound; 0: COORD_ETCD_MAX_REPLY */
	/* TLS to https:// endpoints (all three, or none; borrowed for coord_etcd_new only):
	 * the members' certificates are checked against tls_ca (name or IP included), and the
	 * client presents tls_cert with its key (etcd's --client-cert-auth). The key file is
	 * refused when group or others may read or write it; it is read once, handed to
	 * libcurl and wiped. */
	const char *tls_ca;   /* PEM file of the CA that signed the members' certificates */
	const char *tls_cert; /* PEM file of this client's certificate */
	const char *tls_key;  /* PEM file of its private key (mode 0600 or tighter) */
} coord_etcd_opts_t;

/* One key as etcd returned it. */
typedef struct coord_etcd_kv {
	char *key; /* key_len bytes and a NUL */
	size_t key_len;
	uint8_t *value; /* value_len bytes and a NUL, so text values read as strings */
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version; /* number of changes since creation; 0 never appears in a read */
	int64_t lease;   /* 0: no lease */
} coord_etcd_kv_t;

/* The result of a get or range read. */
typedef struct coord_etcd_range {
	int64_t revision; /* the store revision the read saw (reply header) */
	int64_t count;    /* keys in the range, even beyond a limit */
	bool more;        /* a limit cut the list short */
	size_t n;
	coord_etcd_kv_t *kvs; /* n keys in key order */
} coord_etcd_range_t;

/* Outcome of a transaction. */
typedef struct coord_etcd_txn_result {
	bool succeeded;            /* every compare held; the success ops were applied */
	int64_t revision;          /* store revision after the transaction (reply header) */
	size_t n_reads;            /* on failure: one read per failure op, in order */
	coord_etcd_range_t *reads; /* n_reads results; NULL on success */
} coord_etcd_txn_result_t;

/* A transaction being built: compares, success ops, failure reads. */
typedef struct coord_etcd_txn coord_etcd_txn_t;

/* One cluster member as the member list shows it. */
typedef struct coord_etcd_member {
	uint64_t id;
	char *name;        /* "" for a member added but not started yet */
	char *peer_urls;   /* comma-separated */
	char *client_urls; /* comma-separated; "" before the member started */
	bool learner;
} coord_etcd_member_t;

/* The member list. */
typedef struct coord_etcd_members {
	uint64_t cluster_id;
	uint64_t member_id; /* the member that answered */
	size_t n;
	coord_etcd_member_t *members;
} coord_etcd_members_t;

/* One endpoint's view of itself (for tandemctl status). */
typedef struct coord_etcd_status {
	bool healthy;       /* GET /health said "true": it has a leader and a quorum read worked */
	uint64_t member_id; /* the member behind the endpoint */
	uint64_t leader;    /* the leader it knows; 0: none (no quorum, or an election) */
	int64_t raft_term;
	int64_t raft_index;
	int64_t raft_applied_index;
	int64_t db_size;
	char version[32]; /* etcd server version */
	char errors[256]; /* the member's alarms and errors joined by "; ", or "" */
} coord_etcd_status_t;

/* Initialises libcurl once per process, before any thread makes a client.
 * Errors: TANDEM_EINTERNAL. */
int coord_etcd_global_init(void);
/* Releases what coord_etcd_global_init set up, after every client is freed. */
void coord_etcd_global_cleanup(void);

/*
 * Makes a client over n endpoints ("http://HOST:PORT" or "https://HOST:PORT",
 * no path; a trailing "/" is dropped), copied. opts may be NULL.
 * Errors: TANDEM_EINVAL (no endpoint, too many, or a malformed one: detail in
 * diag), TANDEM_ENOMEM, TANDEM_EINTERNAL (libcurl).
 */
int coord_etcd_new(const char *const *endpoints, size_t n, const coord_etcd_opts_t *opts,
		   tandem_diag_t *diag, coord_etcd_t **out);
/* Frees the client and closes its connections; NULL-safe. */
void coord_etcd_free(coord_etcd_t *c);
/* Number of endpoints. */
size_t coord_etcd_endpoint_count(const coord_etcd_t *c);
/* Endpoint i as given (borrowed), or NULL when out of range. */
const char *coord_etcd_endpoint(const coord_etcd_t *c, size_t i);

/*
 * Reads one key (flags: 0 or COORD_ETCD_SERIALIZABLE). An absent key is not
 * an error: (*out)->n is 0 and (*out)->revision still tells the revision.
 * The caller frees *out with coord_etcd_range_free().
 * Errors: TANDEM_EINVAL, TANDEM_ENOMEM, TANDEM_COORD_EUNAVAIL,
 * TANDEM_COORD_ENOQUORUM, TANDEM_COORD_EPROTO, TANDEM_COORD_EREFUSED.
 */
int coord_etcd_get(coord_etcd_t *c, const char *key, unsigned flags, tandem_diag_t *diag,
		   coord_etcd_range_t **out);
/*
 * Reads every key that starts with prefix ("" means every key), in key order,
 * at most limit keys (0: no limit; (*out)->more says the list was cut).
 * Errors as coord_etcd_get.
 */
int coord_etcd_range(coord_etcd_t *c, const char *prefix, size_t limit, unsigned flags,
		     tandem_diag_t *diag, coord_etcd_range_t **out);
/*
 * Reads the keys that start with prefix (not empty) and were written at or after revision
 * min_mod_revision (>= 1), in key order; (*out)->count still counts every key under the
 * prefix, written since or not (etcd counts before it filters), so that a reader who kept
 * the keys of an earlier read can tell that some were deleted since. Errors as
 * coord_etcd_get.
 */
int coord_etcd_range_since(coord_etcd_t *c, const char *prefix, int64_t min_mod_revision,
			   unsigned flags, tandem_diag_t *diag, coord_etcd_range_t **out);
/* (flags: COORD_ETCD_SERIALIZABLE, COORD_ETCD_KEYS_ONLY.) */
/*
 * Reads the keys in [from, end) in key order, at most limit (0: no limit; (*out)->more says
 * the list was cut). Both non-empty. Errors as coord_etcd_get.
 */
int coord_etcd_range_between(coord_etcd_t *c, const char *from, const char *end, size_t limit,
			     unsigned flags, tandem_diag_t *diag, coord_etcd_range_t **out);
/* Frees a read result; NULL-safe. */
void coord_etcd_range_free(coord_etcd_range_t *r);

/* Starts an empty transaction. Errors: TANDEM_ENOMEM. */
int coord_etcd_txn_new(coord_etcd_txn_t **out);
/* Frees a transaction; NULL-safe. */
void coord_etcd_txn_free(coord_etcd_txn_t *t);

/*
 * Compares: the transaction succeeds only if all hold. Keys and values are
 * copied. Each returns TANDEM_EINVAL (NULL or empty key, or more than
 * COORD_ETCD_MAX_TXN_OPS) or TANDEM_ENOMEM.
 */
/* key's mod_revision == mod_revision (0 for an absent key). */
int coord_etcd_txn_cmp_mod(coord_etcd_txn_t *t, const char *key, int64_t mod_revision);
/* key's create_revision == create_revision (0 for an absent key). */
int coord_etcd_txn_cmp_create(coord_etcd_txn_t *t, const char *key, int64_t create_revision);
/* key exists and its value is exactly the len bytes at value. */
int coord_etcd_txn_cmp_value(coord_etcd_txn_t *t, const char *key, const void *value, size_t len);
/* key is absent (its version is 0). */
int coord_etcd_txn_cmp_absent(coord_etcd_txn_t *t, const char *key);

/* Every key that starts with prefix (not empty) has a mod_revision below `below` (>= 1):
 * nothing under the prefix was written or created at or after that revision. A range
 * with no key holds. One compare, whatever the number of keys. */
int coord_etcd_txn_cmp_mod_below_prefix(coord_etcd_txn_t *t, const char *prefix, int64_t below);

/* Success ops, applied in order when the compares hold. lease 0: no lease. */
int coord_etcd_txn_put(coord_etcd_txn_t *t, const char *key, const void *value, size_t len,
		       int64_t lease);
/* Deletes key (absent is fine). */
int coord_etcd_txn_delete(coord_etcd_txn_t *t, const char *key);
/* Deletes every key that starts with prefix (which must not be empty). */
int coord_etcd_txn_delete_prefix(coord_etcd_txn_t *t, const char *prefix);

/* Deletes every key in [from, end) (both non-empty). */
int coord_etcd_txn_delete_between(coord_etcd_txn_t *t, const char *from, const char *end);

/* Failure reads, made when a compare fails, so the caller learns the current state. */
int coord_etcd_txn_on_fail_get(coord_etcd_txn_t *t, const char *key);
int coord_etcd_txn_on_fail_range(coord_etcd_txn_t *t, const char *prefix);

/*
 * Sends the transaction (t stays the caller's and can be sent again). On
 * TANDEM_OK every compare held and the success ops were applied; on
 * TANDEM_COORD_ECONFLICT a compare failed, nothing was written, and *out
 * holds the failure reads: *out is written in both cases (and only then) and
 * freed with coord_etcd_txn_result_free().
 * Errors: TANDEM_COORD_ECONFLICT, TANDEM_EINVAL (empty transaction),
 * TANDEM_ENOMEM, TANDEM_COORD_EUNAVAIL (after a timeout the outcome is
 * unknown: read again), TANDEM_COORD_ENOQUORUM, TANDEM_COORD_ELEASE (a put
 * names a lease that has expired), TANDEM_COORD_EPROTO, TANDEM_COORD_EREFUSED.
 */
int coord_etcd_txn_commit(coord_etcd_t *c, const coord_etcd_txn_t *t, tandem_diag_t *diag,
			  coord_etcd_txn_result_t **out);
/*
 * Reads n keys (1 .. COORD_ETCD_MAX_TXN_OPS) at one revision, in one request (a
 * transaction of reads only, linearizable): (*out)->reads[i] is keys[i]'s, n_reads is n, and
 * every read's revision is the transaction's. Freed with coord_etcd_txn_result_free().
 * Errors as coord_etcd_get.
 */
int coord_etcd_get_many(coord_etcd_t *c, const char *const *keys, size_t n, tandem_diag_t *diag,
			coord_etcd_txn_result_t **out);
/* Frees a transaction result; NULL-safe. */
void coord_etcd_txn_result_free(coord_etcd_txn_result_t *r);

/*
 * Grants a lease of ttl seconds (1 .. 9,000,000,000; etcd may raise a small
 * TTL to its minimum). Writes the lease ID and the TTL granted.
 * Errors: TANDEM_EINVAL, TANDEM_COORD_EUNAVAIL, TANDEM_COORD_ENOQUORUM,
 * TANDEM_COORD_EPROTO, TANDEM_COORD_EREFUSED.
 */
int coord_etcd_lease_grant(coord_etcd_t *c, int64_t ttl, tandem_diag_t *diag, int64_t *out_id,
			   int64_t *out_ttl);
/*
 * Renews a lease once (a one-shot /v3/lease/keepalive); writes the TTL it has
 * again. Errors: TANDEM_COORD_ELEASE (expired, revoked or unknown), and the
 * transport errors of coord_etcd_lease_grant.
 */
int coord_etcd_lease_keepalive(coord_etcd_t *c, int64_t id, tandem_diag_t *diag, int64_t *out_ttl);
/* Revokes a lease and deletes its keys. Errors: TANDEM_COORD_ELEASE (unknown or
 * expired), and the transport errors of coord_etcd_lease_grant. */
int coord_etcd_lease_revoke(coord_etcd_t *c, int64_t id, tandem_diag_t *diag);
/* Writes the seconds a lease has left and the TTL it was granted with.
 * Errors: TANDEM_COORD_ELEASE (expired, revoked or unknown), and the transport
 * errors of coord_etcd_lease_grant. */
int coord_etcd_lease_ttl(coord_etcd_t *c, int64_t id, tandem_diag_t *diag, int64_t *out_ttl,
			 int64_t *out_granted);

/*
 * Lists the cluster's members (from any endpoint that answers). etcd 3.4
 * serves this from the answering member's own copy, even without a quorum.
 * Free with coord_etcd_members_free(). Errors: TANDEM_ENOMEM,
 * TANDEM_COORD_EUNAVAIL, TANDEM_COORD_EPROTO, TANDEM_COORD_EREFUSED.
 */
int coord_etcd_member_list(coord_etcd_t *c, tandem_diag_t *diag, coord_etcd_members_t **out);
/* Frees a member list; NULL-safe. */
void coord_etcd_members_free(coord_etcd_members_t *m);

/*
 * Asks endpoint i alone (no failover) for its health and status
 * (GET /health, POST /v3/maintenance/status). A member without a leader
 * answers: healthy false, leader 0. Errors: TANDEM_EINVAL (i out of range),
 * TANDEM_COORD_EUNAVAIL (it did not answer), TANDEM_COORD_EPROTO.
 */
int coord_etcd_endpoint_status(coord_etcd_t *c, size_t i, tandem_diag_t *diag,
			       coord_etcd_status_t *out);

#endif
