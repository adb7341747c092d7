/* coordrpc: the coordinator RPC (proto/coordrpc.proto) as plain C values; the only code that packs
 * or unpacks it. */
#ifndef COORDRPC_H
#define COORDRPC_H

#include "coord_state.h"
#include "net_rpc.h"
#include "tandem_diag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every message carries this version; another one is refused. */
#define COORDRPC_VERSION 1u
/* Longest publication address of a node (directory or URL), NUL included. */
#define COORDRPC_PUBLISH_MAX 256
#define COORDRPC_METRICS_MAX 80 /* a Prometheus endpoint, HOST:PORT */
/* Longest NSEC3 salt. */
#define COORDRPC_SALT_MAX 255
/* Largest archive entry a key may carry. */
#define COORDRPC_ARCHIVE_MAX (64u * 1024u)
/* Largest key state (kasp KeyState of one zone) a keyset request or reply may carry. */
#define COORDRPC_KEYSET_MAX (256u * 1024u)
/* Effects listed in one decision (the rest are counted in neffects_dropped). */
#define COORDRPC_EFFECTS_MAX 32
/* A node process's instance id: 32 lowercase hex characters (128 random bits) + NUL; ""
 * when the sender gives none. */
#define COORDRPC_INSTANCE_MAX 33
#define COORDRPC_INSTANCE_LEN 32
/* Alerts one node reports (all of them, each time). */
#define COORDRPC_ALERTS_MAX 16
/* An alert kind: 1..23 characters of [a-z-], NUL included. */
#define COORDRPC_ALERT_KIND_MAX 24
/* Coordinators a status lists clocks of. */
#define COORDRPC_COORDS_MAX (COORD_SITES_MAX * 2)

/* One alert a node reports. Unpacking refuses a kind that is empty or not [a-z-], a zone
 * or text that is not printable ASCII (0x20..0x7e): the sender escapes what it quotes. */
typedef struct coordrpc_alert {
	char zone[COORD_ZONE_MAX];          /* "" for a node-wide alert */
	char kind[COORDRPC_ALERT_KIND_MAX]; /* "hsm", "input-missing", "input-refused",
					       "input-held", "run-overrun", "disk", "skr",
					       "lock" ... */
	char text[COORD_TEXT_MAX];          /* the reason, printable */
	bool blocking; /* the node cannot sign this zone (or any, zone "") now: the coordinator
			  grants it no lease for it and refuses it as a switchover target */
} coordrpc_alert_t;

/* What a request asks; coordrpc_type() gives its envelope type. */
typedef enum {
	COORDRPC_REGISTER = 0,  /* node: node, site, healthy, publish, metrics, instance, alerts */
	COORDRPC_HEARTBEAT,     /* node: node, healthy, instance, alerts */
	COORDRPC_LEASE_REQUEST, /* node: node, zone, instance */
	COORDRPC_LEASE_RENEW,   /* node: node, zone, epoch, instance */
	COORDRPC_LEASE_RELEASE, /* node: node, zone, epoch, instance */
	COORDRPC_COMMIT,        /* node: node, zone, epoch, serial, digest, sign_time, nsec3, salt,
				   instance */
	COORDRPC_DIGEST_REPORT, /* node: node, zone, serial, digest */
	COORDRPC_KEY_ADD,       /* node: node, zone, key_id, key_tag, archive */
	COORDRPC_KEY_ACK,       /* node: node, zone, key_id */
	COORDRPC_KEY_ACTIVATE,  /* node: node, zone, key_id */
	COORDRPC_STATUS,        /* any: (nothing) */
	COORDRPC_KEYS_GET,      /* any: zone */
	COORDRPC_ZONE_ADD,      /* operator: zone, compare_digests, has_serial, serial */
	COORDRPC_ZONE_REMOVE,   /* operator: zone */
	COORDRPC_DRAIN,         /* operator: node */
	COORDRPC_UNDRAIN,       /* operator: node */
	COORDRPC_NODE_REMOVE,   /* operator: node */
	COORDRPC_SWITCHOVER,    /* operator: zone, target */
	COORDRPC_TAKEOVER,      /* operator: site, force */
	COORDRPC_KEYSET_GET,    /* any: zone */
	COORDRPC_KEYSET_PUT,    /* node (zone holder: node, epoch) or operator: zone, keyset,
				   revision */
	COORDRPC_KEY_REMOVE,    /* node: node, zone, key_id (removed in the key set) */
	COORDRPC_SKR_GET,       /* any: zone (reply: a coordrpc_keyset_t holding the SKR book) */
	COORDRPC_SKR_PUT,       /* node (zone holder: node, epoch) or operator: zone, keyset (the
				   SKR book), revision */
	COORDRPC_ZONE_ACCEPT_INPUT, /* operator: zone, serial (the input SOA serial accepted
				       although it removes more delegations than the policy
				       allows) */
	COORDRPC_PARAMS_SET,        /* operator: lease_ms, margin_ms */
	COORDRPC_SITE_SUSPEND,      /* operator: site */
	COORDRPC_SITE_RESUME,       /* operator: site */
	COORDRPC_KEY_DESTROYED,     /* node: node, zone, key_id (its HSM destroyed the retired
				       key) */
	COORDRPC_KEY_PURGE,         /* node: node, zone, key_id, retention_ms */
	/* operator, multi-person control (docs/approvals.md); replies are decisions */
	COORDRPC_REQUEST_CREATE,      /* action, args, ttl_ms */
	COORDRPC_REQUEST_APPROVE,     /* req_id, pub, sig */
	COORDRPC_REQUEST_CANCEL,      /* req_id */
	COORDRPC_REQUEST_GET,         /* req_id ("": all); the decision's doc holds JSON */
	COORDRPC_OPERATORS_GET,       /* (nothing); the decision's doc holds the role table */
	COORDRPC_OPERATORS_BOOTSTRAP, /* doc: the first role table (JSON) */
	COORDRPC_CEREMONY_RECORD,     /* doc: a signed ceremony record, checked and audited */
	COORDRPC_ZONE_APPROVE,        /* operator: zone, serial (a version a review hook
					 rejected: sign it without the hooks) */
	COORDRPC_ZONE_REJECT,         /* operator: zone, serial (keep it held) */
	COORDRPC_PRODUCTION,          /* operator: action "" (read), "on" or "off" (the
					 cluster's production flag; off may need approvals) */
	COORDRPC_DRILL_NOTE,          /* operator: action "drill.start" or "drill.end", args:
					 an audit entry of a drill (tandemctl drill) */
	COORDRPC_LEASE_BATCH,         /* node: node, instance, items (each a request or renewal);
					 the decision's leases answer them in order */
	/* signing policies in the cluster (docs/policy.md, "In a cluster") */
	COORDRPC_POLICY,     /* operator: action "put" (args "name=N", doc: the YAML), "list",
				"show" (args "name=N"), "zone" (zone, args "name=N" or "name=-":
				the node's own file); the decision's doc holds what is read */
	COORDRPC_POLICY_GET, /* any: zone; the decision's text is "NAME" ("" when the zone has
				none: the node's own file) and its doc the stored policy
				(kasp_policy_doc) */
} coordrpc_kind_t;
#define COORDRPC_KIND_LAST COORDRPC_POLICY_GET
/* Most items in one coord.lease.batch: every zone a cluster can hold. */
#define COORDRPC_LEASE_BATCH_MAX COORD_ZONES_MAX

/* One lease request or renewal of a coord.lease.batch. */
typedef struct coordrpc_lease_item {
	char zone[COORD_ZONE_MAX];
	uint64_t epoch; /* a renewal's epoch */
	bool renew;     /* false: a request */
} coordrpc_lease_item_t;

/* One item's decision in the reply to a coord.lease.batch (in the items' order). */
typedef struct coordrpc_lease_result {
	char zone[COORD_ZONE_MAX];
	bool accepted;
	coord_reason_t reason;
	char text[COORD_TEXT_MAX];
	uint64_t epoch;     /* granted or renewed: the epoch */
	uint64_t expiry_ms; /* and the expiry (coordinator clock) */
} coordrpc_lease_result_t;
/* Multi-person control's fields: a request id (16 hex + NUL), an action, its arguments,
 * an Ed25519 key and signature, and the largest JSON document carried. */
#define COORDRPC_REQ_ID_MAX 17
#define COORDRPC_ACTION_MAX 32
#define COORDRPC_ARGS_MAX   256
#define COORDRPC_PUB_LEN    32
#define COORDRPC_SIG_LEN    64
#define COORDRPC_DOC_MAX    (256u * 1024u)

/* One request as a plain value. Fields the kind does not use are ignored when
 * packing and zero after unpacking. */
typedef struct coordrpc_request {
	coordrpc_kind_t kind;
	char node[COORD_ID_MAX];
	char zone[COORD_ZONE_MAX];
	char target[COORD_ID_MAX];
	char publish[COORDRPC_PUBLISH_MAX];
	char metrics[COORDRPC_METRICS_MAX]; /* register: its Prometheus endpoint, "" none */
	char axfr[COORDRPC_METRICS_MAX];    /* register: its transfer server, "" none */
	uint32_t site;
	bool healthy;
	bool force;
	bool compare_digests;
	bool has_serial;
	bool nsec3;
	uint64_t epoch;
	uint32_t serial;
	uint64_t sign_time;    /* UNIX seconds */
	uint32_t input_serial; /* commit: the unsigned input's SOA serial (0: unknown) */
	uint32_t base_serial;  /* commit: the serial whose signatures were reused (0: full) */
	bool no_base; /* digest report: no copy of the commit's base serial (asks for a full
			 signing; nothing is compared) */
	bool leaving; /* lease release: the node no longer has the zone (no preference window) */
	/* commit: the signed zone's nosig digest (has_nosig; zones whose signatures are not
	 * deterministic); digest report: digest is the standby's nosig digest (has_nosig),
	 * verified: the active's version passed its gate, why: else what failed */
	bool has_nosig;
	uint8_t nosig[COORD_DIGEST_LEN];
	bool verified;
	char why[COORD_WHY_MAX];
	uint8_t digest[COORD_DIGEST_LEN];
	uint8_t salt[COORDRPC_SALT_MAX];
	size_t salt_len;
	uint32_t key_id;
	uint16_t key_tag;
	uint8_t *archive; /* COORDRPC_KEY_ADD: owned; coordrpc_request_deinit frees it */
	size_t archive_len;
	int64_t keyset_revision;          /* COMMIT: the key set revision signed with (0: none) */
	uint8_t skr_id[COORD_SKR_ID_LEN]; /* COMMIT: the SKR signed with (zeros: none) */
	/* COMMIT: the SHA-256 of the cluster policy signed with (zeros: the node's own) */
	uint8_t policy_digest[COORD_DIGEST_LEN];
	uint8_t *keyset; /* COORDRPC_KEYSET_PUT: owned; coordrpc_request_deinit frees it */
	size_t keyset_len;
	int64_t revision; /* COORDRPC_KEYSET_PUT: the revision read (0: none yet) */
	/* REGISTER, HEARTBEAT, LEASE_REQUEST/RENEW/RELEASE, COMMIT: the running process's
	 * random id (tandemd draws it at start); 32 lowercase hex characters or "" */
	char instance[COORDRPC_INSTANCE_MAX];
	/* REGISTER, HEARTBEAT: the node's current alerts (all of them, each time; an empty
	 * list clears them) */
	size_t nalerts;
	coordrpc_alert_t alerts[COORDRPC_ALERTS_MAX];
	uint64_t lease_ms, margin_ms; /* COORDRPC_PARAMS_SET */
	uint64_t retention_ms;        /* COORDRPC_KEY_PURGE: the archive retention */
	/* COORDRPC_REQUEST_* and COORDRPC_OPERATORS_* */
	char req_id[COORDRPC_REQ_ID_MAX];
	char action[COORDRPC_ACTION_MAX];
	char args[COORDRPC_ARGS_MAX];
	uint64_t ttl_ms;
	bool has_sig; /* pub and sig were given (exactly 32 and 64 bytes) */
	uint8_t pub[COORDRPC_PUB_LEN];
	uint8_t sig[COORDRPC_SIG_LEN];
	uint8_t *doc; /* OPERATORS_BOOTSTRAP: owned; coordrpc_request_deinit frees it */
	size_t doc_len;
	/* LEASE_BATCH: 1..COORDRPC_LEASE_BATCH_MAX items, each zone once; owned
	 * (coordrpc_request_deinit frees them) */
	coordrpc_lease_item_t *items;
	size_t nitems;
} coordrpc_request_t;

/* The decision on a request. A plain value (about 7 KB). */
typedef struct coordrpc_decision {
	bool accepted;
	coord_reason_t reason;
	char text[COORD_TEXT_MAX];
	uint64_t epoch;
	uint64_t expiry_ms;
	size_t neffects;
	size_t neffects_dropped;
	char effects[COORDRPC_EFFECTS_MAX][COORD_TEXT_MAX];
	int64_t revision; /* keyset put: the key set's new revision */
	/* request.get, operators.get: JSON; owned (coordrpc_decision_deinit frees it), NULL
	   when none */
	uint8_t *doc;
	size_t doc_len;
	/* lease.batch: one result per item, in order; owned (coordrpc_decision_deinit frees
	   them), NULL when none */
	coordrpc_lease_result_t *leases;
	size_t nleases;
} coordrpc_decision_t;

/* A key of a zone in a status reply. */
typedef struct coordrpc_key_status {
	uint32_t id;
	uint16_t tag;
	bool active;
	size_t nacks;
	char acks[COORD_NODES_MAX][COORD_ID_MAX];
	bool retired;        /* the key set removed it: every HSM destroys it */
	uint64_t retired_ms; /* when (coordinator clock) */
	size_t ndestroyed;
	char destroyed[COORD_NODES_MAX][COORD_ID_MAX]; /* nodes whose HSM destroyed it */
} coordrpc_key_status_t;

typedef struct coordrpc_zone_status {
	char name[COORD_ZONE_MAX];
	char holder[COORD_ID_MAX]; /* "" when nobody holds a valid lease */
	uint64_t epoch;
	uint64_t lease_left_ms;
	uint64_t expiry_ms;
	bool removed;
	bool compare_digests;
	bool has_committed;
	uint32_t serial;
	uint8_t digest[COORD_DIGEST_LEN];
	char committed_by[COORD_ID_MAX];
	uint64_t committed_epoch; /* the lease epoch of the last commit (0: not said) */
	uint64_t sign_time;
	uint32_t input_serial;   /* of the last commit; 0: unknown */
	uint32_t base_serial;    /* of the last commit; 0: signed in full */
	bool full_requested;     /* a standby asked for a full signing */
	int64_t keyset_revision; /* of the last commit; 0: none */
	int64_t keyset_now;      /* the stored key set's last write (0: none, or not known) */
	uint8_t skr_id[COORD_SKR_ID_LEN];        /* of the last commit; zeros: none */
	uint8_t policy_digest[COORD_DIGEST_LEN]; /* of the last commit: its cluster policy's
						    SHA-256; zeros: none */
	bool nsec3;
	uint8_t salt[COORDRPC_SALT_MAX];
	size_t salt_len;
	char switch_to[COORD_ID_MAX];
	uint32_t alerts;
	bool alert_open;
	uint32_t alert_serial;
	char alert_node[COORD_ID_MAX];
	size_t nkeys;
	coordrpc_key_status_t keys[COORD_KEYS_MAX];
	bool has_accepted_input;        /* the operator accepted an input (zone accept-input) */
	uint32_t accepted_input_serial; /* its SOA serial */
	/* a standby's report on the committed serial (docs/coordinator.md, "Compare before
	 * publish"): report_serial 0 when none yet; a differing report wins over an agreeing one */
	uint32_t report_serial;
	char report_node[COORD_ID_MAX];
	uint8_t report_digest[COORD_DIGEST_LEN];
	bool report_match;
	char report_why[COORD_WHY_MAX + 64]; /* a nosig report that does not match: why */
	bool has_nosig;                      /* the last commit carried its nosig digest: */
	uint8_t nosig[COORD_DIGEST_LEN];
	bool has_review_decision; /* the operator decided on a version a review hook
				     rejected (zone approve|reject): */
	uint32_t review_serial;   /* its serial */
	bool review_approved;     /* approve, else reject */
	uint32_t review_seq;      /* decisions taken so far */
} coordrpc_zone_status_t;

typedef struct coordrpc_node_status {
	char name[COORD_ID_MAX];
	char publish[COORDRPC_PUBLISH_MAX];
	char metrics[COORDRPC_METRICS_MAX]; /* its Prometheus endpoint, "" none */
	char axfr[COORDRPC_METRICS_MAX];    /* its transfer server HOST:PORT, "" none */
	uint32_t site;
	uint32_t no;
	coord_node_state_t state;
	bool healthy;
	uint64_t last_seen_ms;
	char instance[COORDRPC_INSTANCE_MAX]; /* the registered instance; "" when unknown */
	size_t nalerts;
	coordrpc_alert_t alerts[COORDRPC_ALERTS_MAX]; /* as the node last reported them */
	int64_t clock_offset_ms; /* the node's clock minus the coordinator's, as last measured */
	bool clock_skewed;
} coordrpc_node_status_t;

/* What the answering coordinator knows of another coordinator's clock. */
typedef struct coordrpc_coord_clock {
	char name[COORD_ID_MAX];
	int64_t offset_ms; /* its clock minus the answering coordinator's */
	bool skewed;
	uint64_t seen_ms; /* when last measured (the answering coordinator's clock) */
	char metrics[COORDRPC_METRICS_MAX]; /* its Prometheus endpoint as it said, "" none */
} coordrpc_coord_clock_t;

/* The cluster as one coordinator read it. A plain value of up to about 35 MB, of which only
 * the part in use (coordrpc_status_used) is ever written or read: allocate it on the heap
 * (untouched pages cost nothing) and copy it with coordrpc_status_copy. */
typedef struct coordrpc_status {
	uint64_t now_ms;
	char coordinator[COORD_ID_MAX];
	char leader[COORD_ID_MAX];
	coord_params_t params; /* lease, margin, sites, serial modulus and residues;
				  node_timeout_ms and prefer_ms are not carried (0) */
	size_t nnodes;
	coordrpc_node_status_t nodes[COORD_NODES_MAX];
	bool stale;            /* answered from the coordinator's last known state, not a fresh
				  linearizable read: a node must not act on it (lease decisions) */
	uint64_t state_age_ms; /* how old that state is */
	char store_error[COORD_TEXT_MAX]; /* e.g. "etcd has no quorum"; "" when none */
	bool clock_skewed;                /* this coordinator's clock disagrees */
	size_t ncoords;
	coordrpc_coord_clock_t coords[COORDRPC_COORDS_MAX];
	uint32_t suspended_sites;           /* bit s: site s is suspended */
	char metrics[COORDRPC_METRICS_MAX]; /* the answering coordinator's endpoint, "" none */
	size_t nzones;
	coordrpc_zone_status_t zones[COORD_ZONES_MAX]; /* last: only the first nzones in use */
} coordrpc_status_t;

/* The bytes of a status in use: everything before the zones and the first nzones. */
size_t coordrpc_status_used(const coordrpc_status_t *st);

/* Copies the part of src in use into dst. */
void coordrpc_status_copy(coordrpc_status_t *dst, const coordrpc_status_t *src);

/* Empties a status (no zones) without touching the zones' room. */
void coordrpc_status_clear(coordrpc_status_t *st);

/* A zone's archived keys (COORDRPC_KEYS_GET). coordrpc_keys_deinit frees the entries. */
typedef struct coordrpc_key_entry {
	uint32_t id;
	uint16_t tag;
	bool active;
	size_t nacks;
	char acks[COORD_NODES_MAX][COORD_ID_MAX];
	uint8_t *archive; /* owned */
	size_t archive_len;
} coordrpc_key_entry_t;

typedef struct coordrpc_keys {
	char zone[COORD_ZONE_MAX];
	size_t nkeys;
	coordrpc_key_entry_t keys[COORD_KEYS_MAX];
	/* not empty: the archive entries are withheld from the asking node (no entry carries
	 * one), and why: a new node without an archive-distribute grant (docs/approvals.md) */
	char withheld[COORD_TEXT_MAX];
} coordrpc_keys_t;

/* A zone's stored key state (COORDRPC_KEYSET_GET) or SKR book (COORDRPC_SKR_GET);
 * coordrpc_keyset_deinit frees it. */
typedef struct coordrpc_keyset {
	char zone[COORD_ZONE_MAX];
	uint8_t *keyset; /* owned; NULL with keyset_len 0 when none was written yet */
	size_t keyset_len;
	int64_t revision; /* 0: none written yet */
} coordrpc_keyset_t;

/* The envelope type of a kind ("coord.register", ...); static, never NULL ("?" when out of
 * range). */
const char *coordrpc_type(coordrpc_kind_t kind);

/* The kind whose envelope type is `type`. Errors: TANDEM_EINVAL (unknown type). */
int coordrpc_kind_from_type(const char *type, coordrpc_kind_t *out);

/* The allow-list role a kind requires: NET_ROLE_NODE, NET_ROLE_OPERATOR, or 0 for reads
 * (any listed role). */
net_role_t coordrpc_kind_role(coordrpc_kind_t kind);

/* Whether s is an instance id: "" or COORDRPC_INSTANCE_LEN lowercase hex characters. */
bool coordrpc_instance_valid(const char *s);

/* Whether an alert is well-formed: kind 1..23 characters of [a-z-], zone and text
 * terminated and printable ASCII. */
bool coordrpc_alert_valid(const coordrpc_alert_t *a);

/* Frees what a request owns (the archive) and zeroes it; NULL-safe. */
void coordrpc_request_deinit(coordrpc_request_t *req);

/* Frees a decision's doc (NULL-safe); the rest is a plain value. */
void coordrpc_decision_deinit(coordrpc_decision_t *dec);

/* Frees the archive entries and zeroes keys; NULL-safe. */
void coordrpc_keys_deinit(coordrpc_keys_t *keys);

/* Frees the key state and zeroes ks; NULL-safe. */
void coordrpc_keyset_deinit(coordrpc_keyset_t *ks);

/*
 * Packs a request into a new buffer (*buf is the caller's, free() it) for the envelope
 * type coordrpc_type(req->kind). Errors: TANDEM_EINVAL (NULL, unknown kind, an
 * unterminated string, salt, archive or key set too long, a negative revision; for the
 * kinds that carry them, an instance that is not coordrpc_instance_valid, more than
 * COORDRPC_ALERTS_MAX alerts or one that is not coordrpc_alert_valid), TANDEM_ENOMEM.
 */
int coordrpc_request_pack(const coordrpc_request_t *req, uint8_t **buf, size_t *len);

/*
 * Unpacks an untrusted request body of envelope type `type` into *out. Refused, with
 * the reason in diag: an unknown type, an undecodable body, another version, a name or
 * publish address too long for its field, a digest that is not 32 bytes, a salt over
 * 255 bytes, an archive over COORDRPC_ARCHIVE_MAX, a key set over COORDRPC_KEYSET_MAX, a
 * negative revision, a site or key tag out of range, an instance that is not
 * coordrpc_instance_valid, more than COORDRPC_ALERTS_MAX alerts or a malformed one.
 * Errors: TANDEM_EINVAL, TANDEM_ENOMEM; *out written only on success (deinit it).
 */
int coordrpc_request_unpack(const char *type, const uint8_t *body, size_t len, tandem_diag_t *diag,
			    coordrpc_request_t *out);

/* Replies: pack for the server, unpack (untrusted) for the client, as for requests. A
 * status is refused (pack and unpack) with a node instance or alert as a request's would
 * be, more than COORDRPC_COORDS_MAX coordinator clocks, or an unprintable store_error.
 * Reply types: "coord.decision", "coord.status.reply", "coord.keys.reply",
 * "coord.keyset.reply", "coord.skr.reply". */
int coordrpc_decision_pack(const coordrpc_decision_t *dec, uint8_t **buf, size_t *len);
int coordrpc_decision_unpack(const uint8_t *body, size_t len, tandem_diag_t *diag,
			     coordrpc_decision_t *out);
int coordrpc_status_pack(const coordrpc_status_t *st, uint8_t **buf, size_t *len);
int coordrpc_status_unpack(const uint8_t *body, size_t len, tandem_diag_t *diag,
			   coordrpc_status_t *out);
int coordrpc_keys_pack(const coordrpc_keys_t *keys, uint8_t **buf, size_t *len);
int coordrpc_keys_unpack(const uint8_t *body, size_t len, tandem_diag_t *diag,
			 coordrpc_keys_t *out);
/* Reply types "coord.keyset.reply" and "coord.skr.reply" (the same message). */
int coordrpc_keyset_pack(const coordrpc_keyset_t *ks, uint8_t **buf, size_t *len);
int coordrpc_keyset_unpack(const uint8_t *body, size_t len, tandem_diag_t *diag,
			   coordrpc_keyset_t *out);

/*
 * Client side: sends req over cl and unpacks the reply. coordrpc_call suits every kind
 * whose reply is a decision; coordrpc_call_status, coordrpc_call_keys and
 * coordrpc_call_keyset the reads.
 * A refusal by the coordinator is a decision (out->accepted false), not an error. An
 * error status in the reply envelope (bad request, wrong role, store unavailable)
 * is returned as that code, with the coordinator's text in diag.
 * Errors: those of net_rpc_client_call (TANDEM_NET_ETIMEOUT when nobody answered),
 * TANDEM_NET_EPROTO (a reply of the wrong type or undecodable), the coordinator's status
 * codes, TANDEM_EINVAL, TANDEM_ENOMEM; *out written only on success.
 */
int coordrpc_call(net_rpc_client_t *cl, const coordrpc_request_t *req, tandem_diag_t *diag,
		  coordrpc_decision_t *out);
int coordrpc_call_status(net_rpc_client_t *cl, tandem_diag_t *diag, coordrpc_status_t *out);
int coordrpc_call_keys(net_rpc_client_t *cl, const char *zone, tandem_diag_t *diag,
		       coordrpc_keys_t *out);
int coordrpc_call_keyset(net_rpc_client_t *cl, const char *zone, tandem_diag_t *diag,
			 coordrpc_keyset_t *out);
int coordrpc_call_skr(net_rpc_client_t *cl, const char *zone, tandem_diag_t *diag,
		      coordrpc_keyset_t *out);

/* A static name of a node state ("up", "drained", "fenced"); never NULL. */
const char *coordrpc_node_state_str(coord_node_state_t state);

#endif
