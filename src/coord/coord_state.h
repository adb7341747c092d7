/* The coordinator's cluster state machine: a pure function of (state, input, now). */
#ifndef COORD_STATE_H
#define COORD_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tandem_serial.h"

/*
 * docs/coordinator.md has the whole argument. In short:
 *  - Each zone has one lease at a time, named by its epoch (the fencing token,
 *    which only rises). Every grant that is not a renewal raises the epoch. A
 *    node other than the last holder is granted only from the old lease's
 *    expiry plus the clock-drift margin on; the holder itself stops publishing
 *    at lease minus margin after it *sent* the request (coord_lease_may_publish).
 *  - A commit (zone, serial, digest, epoch) is accepted only from the holder
 *    of the current epoch, with a serial above the committed one (RFC 1982) in
 *    the holder's site residue class; a serial never gets two digests.
 *  - A key may become active only once a node of every site that is not
 *    suspended has imported it, and a node is granted a zone's lease only if it
 *    holds every active key and its site is not suspended.
 * The machine does no I/O, reads no clock and draws no random numbers. Every
 * time is in milliseconds on the coordinator's wall clock, passed in as `now`.
 * The store applies `out` as one etcd transaction conditioned on the revision
 * `in` was read at, so two coordinators never both apply a decision.
 */

#define COORD_NODES_MAX 16 /* cluster members */
/* zones, removed ones (tombstones) included: a state holds them inline, and only the
 * first nzones are ever touched (copies, compares and zeroing stop there), so its memory
 * grows with the zones present (about 7 KB each); 1024 keeps a full read of the state, a
 * status and a tick within a few milliseconds on a small host */
#define COORD_ZONES_MAX      1024
#define COORD_KEYS_MAX       16  /* keys awaiting or holding activation, per zone */
#define COORD_SITES_MAX      4   /* sites 0..3, printed A..D */
#define COORD_ID_MAX         64  /* node id, NUL included */
#define COORD_WHY_MAX        201 /* a nosig report's verification error, NUL included */
#define COORD_ZONE_MAX       256 /* zone name, presentation form, NUL included */
#define COORD_DIGEST_LEN     32  /* the signed zone's digest (zone digest v1, dns_digest.h) */
#define COORD_SKR_ID_LEN     16  /* an offline-KSK request id (kasp KASP_SKR_ID_LEN) */
#define COORD_CURVE_KEY_LEN  32  /* CURVE (Curve25519) public key */
#define COORD_MODULUS_MAX    TANDEM_SERIAL_MODULUS_MAX /* largest serial residue modulus */
#define COORD_TEXT_MAX       200                       /* a reason or effect text, NUL included */
#define COORD_EFFECTS_MAX    96  /* effects of one input (a takeover makes many) */
#define COORD_PUBLISH_MAX    256 /* a node's publication address, NUL included */
#define COORD_METRICS_MAX    80  /* a node's Prometheus endpoint HOST:PORT, NUL included */
#define COORD_SALT_MAX       255 /* an NSEC3 salt */
#define COORD_INSTANCE_MAX   33  /* a node process's id: 32 lowercase hex + NUL, or "" */
#define COORD_ALERTS_MAX     16  /* alerts one node reports */
#define COORD_ALERT_KIND_MAX 24  /* an alert kind, [a-z-], NUL included */

/* Parameters shared by every coordinator and node of a cluster (times in ms). */
typedef struct coord_params {
	uint64_t lease_ms;        /* lease duration; nodes renew every lease_ms / 3 */
	uint64_t margin_ms;       /* clock-drift margin, below lease_ms / 3 */
	uint64_t node_timeout_ms; /* a node unheard of for this long is unhealthy */
	uint64_t prefer_ms;       /* how long a free lease waits for the preferred node */
	uint32_t nsites;          /* sites 0..nsites-1 must all acknowledge a key */
	uint32_t serial_modulus;  /* serial residue modulus (2: site A even, B odd) */
	uint32_t site_residue[COORD_SITES_MAX]; /* each site's residue, all distinct */
	bool same_site_first;                   /* failover prefers the last holder's site */
} coord_params_t;

/* Member states. Health is separate: it comes from heartbeats (see coord_node_t). */
typedef enum {
	COORD_NODE_UP = 0,  /* may be granted leases */
	COORD_NODE_DRAINED, /* gets no new lease; hands its leases over */
	COORD_NODE_FENCED,  /* CURVE key revoked; every request refused */
} coord_node_state_t;
#define COORD_NODE_STATE_LAST COORD_NODE_FENCED

/* An alert a node reports: what keeps it from signing a zone (zone "": any zone), or what
 * the operator should know. kind is 1..23 characters of [a-z-]; zone and text printable. */
typedef struct coord_alert {
	char zone[COORD_ZONE_MAX];
	char kind[COORD_ALERT_KIND_MAX];
	char text[COORD_TEXT_MAX];
	bool blocking; /* the node cannot sign the zone (or any zone) now: no lease for it, not
			  a switchover target */
} coord_alert_t;

/* A cluster member. */
typedef struct coord_node {
	char id[COORD_ID_MAX];
	uint32_t no; /* unique number, never reused: key acks name the HSM by it */
	uint32_t site;
	uint8_t curve_pub[COORD_CURVE_KEY_LEN];
	coord_node_state_t state;
	uint64_t last_seen_ms; /* last register, heartbeat, lease request or renewal */
	bool healthy;          /* as the node last reported it (HSM and pipeline usable) */
	char metrics[COORD_METRICS_MAX];   /* its Prometheus endpoint ("" none), for status */
	char axfr[COORD_METRICS_MAX];      /* its transfer server HOST:PORT ("" none), status */
	char publish[COORD_PUBLISH_MAX];   /* where it publishes (directory or URL), for status;
					      printable, may be empty; set by each register */
	char instance[COORD_INSTANCE_MAX]; /* the registered process's instance id ("" none):
					      requests of another instance are refused */
	char rival[COORD_INSTANCE_MAX];    /* the last other instance refused ("" none) */
	uint64_t rival_ms;                 /* when it was last refused */
	uint32_t nalerts;                  /* the alerts as the node last reported them */
	coord_alert_t alerts[COORD_ALERTS_MAX];
	/* The node lease (docs/coordinator.md, "A lease per node"): every zone the node holds
	 * under node_epoch (coord_zone_t.holder_node_epoch) holds at least until
	 * lease_expiry_ms. Each grant and renewal moves it; the first after it ran out raises
	 * node_epoch, so the zones of the lapsed lease do not come back with the new one. */
	uint64_t node_epoch;       /* 0: never had one */
	uint64_t lease_expiry_ms;  /* the last grant or renewal + lease_ms */
	uint64_t lease_blocked_ms; /* no other node is granted a zone it holds (under any
				      node_epoch) before this: expiry + margin; never lowered */
} coord_node_t;

/* A node's import of a key into its HSM. */
typedef struct coord_ack {
	uint32_t node_no;
	uint32_t site;
} coord_ack_t;

/* A key of a zone, from the wrapped-key archive, and which HSMs hold it. */
typedef struct coord_key {
	uint32_t id; /* the kasp key id */
	uint16_t tag;
	bool active; /* activation was allowed: every site acknowledged it */
	uint32_t nacks;
	coord_ack_t acks[COORD_NODES_MAX];
	/* retired: the key set removed it (COORD_IN_KEY_REMOVE); it gates nothing any more,
	 * every node destroys it in its HSM and says so (COORD_IN_KEY_DESTROYED); it leaves
	 * the table with its archive entry after the archive retention (COORD_IN_KEY_PURGE) */
	bool retired;
	uint64_t retired_ms; /* when it was retired (coordinator clock) */
	uint32_t ndestroyed;
	coord_ack_t destroyed[COORD_NODES_MAX]; /* the nodes whose HSM destroyed it */
} coord_key_t;

/* The last digest a standby reported for a zone. */
typedef struct coord_report {
	char node[COORD_ID_MAX];
	uint32_t serial;
	uint8_t digest[COORD_DIGEST_LEN];
	/* a nosig report (signatures not deterministic, docs/node.md): digest is the standby's
	 * nosig digest; verified: the active's version passed the standby's gate (why: else
	 * what failed) */
	bool nosig;
	bool verified;
	char why[COORD_WHY_MAX];
} coord_report_t;

/* A zone: its lease, its last committed serial, its keys, pending actions. */
typedef struct coord_zone {
	char name[COORD_ZONE_MAX];
	bool removed;         /* a tombstone: keeps epoch and serial should it come back */
	bool compare_digests; /* deterministic signatures (RSA): standby digests must match */
	/* the lease */
	char holder[COORD_ID_MAX];      /* "" when none; holds only while now < expiry_ms */
	char last_holder[COORD_ID_MAX]; /* the holder before the lease was lost or released */
	uint64_t epoch;                 /* fencing token: only ever increases */
	uint64_t granted_ms;            /* grant or last renewal written to the zone */
	uint64_t expiry_ms;             /* the zone's own: see coord_zone_expiry */
	uint64_t holder_node_epoch;     /* the holder's node_epoch at the grant: while it is the
					   holder's node_epoch, its node lease holds the zone too
					   (0: none, the zone's own expiry alone) */
	uint64_t blocked_until_ms;      /* no node but last_holder is granted before this */
	uint64_t prefer_until_ms;       /* until this, only the best candidates are granted */
	char switch_to[COORD_ID_MAX];   /* planned switchover target; "" when none */
	/* the last commit */
	bool has_committed;
	uint32_t committed_serial;
	uint8_t committed_digest[COORD_DIGEST_LEN];
	bool has_committed_nosig; /* the commit carried its nosig digest (ECDSA zones) */
	uint8_t committed_nosig[COORD_DIGEST_LEN];
	uint64_t committed_epoch; /* 0 for a floor set at zone add */
	char committed_by[COORD_ID_MAX];
	uint64_t committed_sign_time; /* the signer's "now" (UNIX seconds): standbys sign with it */
	bool committed_nsec3;         /* signed with NSEC3 (else NSEC) */
	uint8_t committed_salt[COORD_SALT_MAX]; /* the NSEC3 salt used */
	uint32_t committed_salt_len;
	uint32_t committed_input_serial; /* the unsigned input's SOA serial; 0: unknown */
	uint32_t committed_base_serial;  /* the serial whose signatures it reused; 0: full */
	bool full_requested; /* a standby holds no copy of a commit's base: the active's next
				run signs in full (its commit with base 0 clears it) */
	int64_t committed_keyset_revision; /* the key set revision signed with; 0: none */
	uint8_t
	    committed_skr_id[COORD_SKR_ID_LEN]; /* the SKR signed with (offline KSK); zeros: none */
	/* the SHA-256 of the cluster policy it was signed with (docs/policy.md, "In a
	 * cluster"); zeros: none, the node's own file */
	uint8_t committed_policy[COORD_DIGEST_LEN];
	/* standby digests and the last mismatch */
	uint32_t nreports;
	coord_report_t reports[COORD_NODES_MAX];
	uint32_t alerts; /* digest mismatches seen, ever */
	bool alert_open; /* the last mismatch has not been followed by a match */
	uint32_t alert_serial;
	char alert_node[COORD_ID_MAX];
	/* keys */
	uint32_t nkeys;
	coord_key_t keys[COORD_KEYS_MAX];
	/* the operator accepts the input with this SOA serial although it removes more
	 * delegations than the policy allows (tandemctl zone accept-input) */
	bool has_accepted_input;
	uint32_t accepted_input_serial;
	/* the operator's decision on a version a node's review hook rejected (tandemctl zone
	 * approve|reject): only for a serial some node holds (its review-rejected alert) */
	bool has_review_decision;
	uint32_t review_serial;
	bool review_approved;
	uint32_t review_seq; /* decisions taken (each counts, the same one again too): a node
				honours only a decision taken after it rejected the version */
} coord_zone_t;

/* The whole cluster state. A plain value of up to about 7 MB, of which only the part in
 * use (coord_state_used) is ever read or written: allocate it on the heap (malloc or
 * calloc: untouched pages cost nothing) and copy it with coord_state_copy. */
typedef struct coord_state {
	/* The cluster's lease and margin: written with the empty state by the first
	 * coordinator (coord_store_init), changed only by COORD_IN_PARAMS_SET. Every decision
	 * uses these, not the deciding process's own params; 0: not set yet (a state from
	 * before they were kept), then the process's params apply. */
	uint64_t lease_ms;
	uint64_t margin_ms;
	uint64_t prev_lease_ms;     /* the lease before the last change (0: none) */
	uint64_t params_changed_ms; /* when it changed: for prev_lease_ms + lease_ms after,
				       others wait out the longer of the two */
	uint32_t next_node_no;
	uint32_t nnodes;
	coord_node_t nodes[COORD_NODES_MAX];
	/* Bit s: site s is suspended (tandemctl site suspend): it leaves the set of sites
	 * that must import a key before it is used, and its nodes get no lease, until it is
	 * resumed. Never every site. */
	uint32_t suspended_sites;
	uint32_t nzones;
	coord_zone_t zones[COORD_ZONES_MAX]; /* last: only the first nzones are in use */
} coord_state_t;

/* What a node, an operator or the clock asks for. */
typedef enum {
	COORD_IN_NODE_REGISTER = 0, /* node, site, curve_pub, healthy, publish, instance,
				       alerts */
	COORD_IN_NODE_HEARTBEAT,    /* node, healthy, instance, alerts */
	COORD_IN_NODE_REMOVE,       /* node (operator); a fenced node can then register anew */
	COORD_IN_LEASE_REQUEST,     /* node, zone */
	COORD_IN_LEASE_RENEW,       /* node, zone, epoch */
	COORD_IN_LEASE_RELEASE,     /* node, zone, epoch: the node has stopped publishing */
	COORD_IN_COMMIT,            /* node, zone, epoch, serial, digest, sign_time, nsec3, salt */
	COORD_IN_DIGEST_REPORT,     /* node, zone, serial, digest (a standby's shadow run) */
	COORD_IN_KEY_ADD,           /* zone, key_id, key_tag, optional node (its import is
				       recorded with the key): a key entered the archive */
	COORD_IN_KEY_ACK,           /* node, zone, key_id: the node's HSM imported it */
	COORD_IN_KEY_ACTIVATE,      /* zone, key_id: may it start signing? */
	COORD_IN_KEY_REMOVE,        /* zone, key_id: the key is gone for good */
	COORD_IN_SWITCHOVER,        /* zone, target (tandemctl switchover) */
	COORD_IN_DRAIN,             /* node (tandemctl drain) */
	COORD_IN_UNDRAIN,           /* node */
	COORD_IN_TAKEOVER,          /* site: it takes over, every other site is fenced */
	COORD_IN_ZONE_ADD,          /* zone, compare_digests, has_serial + serial (a floor) */
	COORD_IN_ZONE_REMOVE,       /* zone */
	COORD_IN_TICK,              /* time passes */
	COORD_IN_ZONE_ACCEPT_INPUT, /* zone, serial: the operator accepts that input */
	COORD_IN_PARAMS_SET,        /* lease_ms, margin_ms: the cluster's (tandemctl cluster
				       params); 0 < margin < lease / 3 */
	COORD_IN_SITE_SUSPEND,      /* site (operator): out of the key acks and lease candidates */
	COORD_IN_SITE_RESUME,       /* site (operator): back in */
	COORD_IN_KEY_DESTROYED,     /* node, zone, key_id: the node's HSM destroyed the retired
				       key */
	COORD_IN_KEY_PURGE,         /* zone, key_id, retention_ms: the retired key leaves the
				       table once retention_ms have passed since it retired */
	COORD_IN_ZONE_APPROVE,      /* zone, serial (operator): sign the version a review hook
				       rejected, without the hooks */
	COORD_IN_ZONE_REJECT,       /* zone, serial (operator): keep it held */
} coord_input_kind_t;
#define COORD_IN_LAST COORD_IN_ZONE_REJECT

/* One input. Fields not used by the kind are ignored. */
typedef struct coord_input {
	coord_input_kind_t kind;
	char node[COORD_ID_MAX];
	char zone[COORD_ZONE_MAX];
	char target[COORD_ID_MAX];
	uint32_t site;
	uint8_t curve_pub[COORD_CURVE_KEY_LEN];
	bool healthy;
	uint64_t epoch;
	uint32_t serial;
	bool has_serial;
	uint8_t digest[COORD_DIGEST_LEN];
	uint32_t key_id;
	uint16_t key_tag;
	bool compare_digests;
	uint64_t sign_time; /* commit: the signer's "now", UNIX seconds */
	bool nsec3;         /* commit: signed with NSEC3 */
	uint8_t salt[COORD_SALT_MAX];
	uint32_t salt_len;     /* commit: at most COORD_SALT_MAX (else BAD_INPUT) */
	uint32_t input_serial; /* commit: the unsigned input's SOA serial (0: unknown) */
	uint32_t base_serial;  /* commit: the serial whose signatures were reused (0: full) */
	bool no_base; /* digest report: the standby has no copy of the commit's base serial */
	bool leaving; /* lease release: the node no longer has the zone (no preference window) */
	/* commit: the signed zone's nosig digest (has_nosig); digest report: a nosig report
	 * (has_nosig: digest is the nosig digest), verified and why as in coord_report_t */
	bool has_nosig;
	uint8_t nosig[COORD_DIGEST_LEN];
	bool verified;
	char why[COORD_WHY_MAX];
	int64_t keyset_revision; /* commit: the key set revision signed with (0: none; < 0:
				    BAD_INPUT) */
	uint8_t
	    skr_id[COORD_SKR_ID_LEN]; /* commit: the SKR's request id signed with (zeros: none) */
	uint8_t policy_digest[COORD_DIGEST_LEN]; /* commit: the cluster policy's SHA-256 (zeros:
						    none) */
	char publish[COORD_PUBLISH_MAX]; /* register: printable, may be empty (else BAD_INPUT) */
	char metrics[COORD_METRICS_MAX]; /* register: printable, may be empty (else BAD_INPUT) */
	char axfr[COORD_METRICS_MAX];    /* register: printable, may be empty (else BAD_INPUT) */
	/* register, heartbeat, lease request/renew/release, commit: the sender's instance id
	 * ("" or 32 lowercase hex, else BAD_INPUT); one that is not the registered instance is
	 * refused (COORD_R_INSTANCE), but a register replaces an instance silent for
	 * node_timeout_ms */
	char instance[COORD_INSTANCE_MAX];
	/* register, heartbeat: all the node's alerts (replacing those stored) */
	uint32_t nalerts;
	coord_alert_t alerts[COORD_ALERTS_MAX];
	uint64_t lease_ms, margin_ms; /* params set */
	uint64_t retention_ms;        /* key purge: the policy's archive retention */
} coord_input_t;

/* Why an input was refused. */
typedef enum {
	COORD_R_OK = 0,
	COORD_R_BAD_INPUT,        /* empty or overlong name, site out of range, ... */
	COORD_R_UNKNOWN_NODE,     /* not a member */
	COORD_R_UNKNOWN_ZONE,     /* not a zone, or a removed one */
	COORD_R_UNKNOWN_KEY,      /* not a key of the zone */
	COORD_R_EXISTS,           /* zone or key already there */
	COORD_R_FULL,             /* a table is full */
	COORD_R_IDENTITY,         /* a member registers with another site or CURVE key */
	COORD_R_FENCED,           /* the node was fenced by a takeover */
	COORD_R_DRAINED,          /* the node is drained: no new lease */
	COORD_R_UNHEALTHY,        /* the node reports itself unhealthy, or is unheard of */
	COORD_R_HELD,             /* another node holds the lease, or its drift margin runs */
	COORD_R_NOT_PREFERRED,    /* a better candidate may still claim the free lease */
	COORD_R_NOT_HOLDER,       /* the node does not hold the zone's lease */
	COORD_R_STALE_EPOCH,      /* the epoch is not the zone's current one */
	COORD_R_LEASE_EXPIRED,    /* the lease lapsed: request a new one */
	COORD_R_SERIAL_NOT_ABOVE, /* serial not above the committed one (RFC 1982) */
	COORD_R_RESIDUE,          /* serial outside the node's site residue class */
	COORD_R_DIGEST_CONFLICT,  /* the committed serial with another digest */
	COORD_R_KEY_NOT_ACKED,    /* some site has not imported the key */
	COORD_R_KEY_MISSING,      /* the node lacks an active key of the zone */
	COORD_R_NO_HOLDER,        /* switchover of a zone nobody holds */
	COORD_R_NO_CANDIDATE,     /* no member can take over */
	COORD_R_BUSY,             /* the node holds or is about to take a lease */
	COORD_R_CONFLICT,         /* the key set changed since the revision it was read at */
	COORD_R_INSTANCE,         /* another live instance of the node holds its registration */
	COORD_R_CLOCK_SKEW,       /* this coordinator's clock is off: ask another */
	COORD_R_NODE_ALERT,     /* the node reported a blocking alert for the zone (or node-wide) */
	COORD_R_SITE_SUSPENDED, /* the node's site is suspended (tandemctl site suspend) */
	COORD_R_RETAINED,       /* a retired key's archive retention has not run out */
	COORD_R_NOT_HELD,       /* approve or reject of a serial no node holds for review */
} coord_reason_t;
#define COORD_R_LAST COORD_R_NOT_HELD

/* What a decision did, for the daemon to act on, tell nodes and audit. */
typedef enum {
	COORD_EFF_NODE_ADDED = 0,
	COORD_EFF_NODE_REMOVED,
	COORD_EFF_GRANT,          /* zone, node, epoch */
	COORD_EFF_RELEASE,        /* zone, node, epoch */
	COORD_EFF_LAPSE,          /* zone, node, epoch: the holder's lease expired */
	COORD_EFF_COMMIT,         /* zone, node, epoch, serial */
	COORD_EFF_DIGEST_ALERT,   /* zone, node, serial: a standby's digest differs */
	COORD_EFF_DIGEST_MATCH,   /* zone, node, serial */
	COORD_EFF_KEY_ACTIVE,     /* zone, key */
	COORD_EFF_SWITCH_PENDING, /* zone, node: the target */
	COORD_EFF_SWITCH_CANCEL,  /* zone, node: the target can no longer take it */
	COORD_EFF_FENCE,          /* node: revoke its CURVE key from the allow-list */
	COORD_EFF_EPOCH_BUMP,     /* zone, epoch: raised without a grant (takeover) */
	COORD_EFF_LEASE_FREE,     /* zone, node: nobody holds it; node is the best candidate */
	COORD_EFF_NODE_STATE,     /* node: drained or undrained */
	COORD_EFF_ZONE_ADDED,
	COORD_EFF_ZONE_REMOVED,
	COORD_EFF_INSTANCE,       /* node: a new instance replaced a silent one */
	COORD_EFF_NODE_ALERT,     /* zone (may be ""), node: an alert raised, changed or cleared */
	COORD_EFF_INPUT_ACCEPTED, /* zone, serial: the operator accepted an input */
	COORD_EFF_PARAMS,         /* the cluster's lease and margin changed */
	COORD_EFF_SITE,           /* site suspended or resumed (text says which) */
	COORD_EFF_KEY_RETIRED,    /* zone, key: nodes destroy it in their HSMs */
	COORD_EFF_KEY_PURGED,     /* zone, key: it left the table; its archive entry goes */
	COORD_EFF_REVIEW,         /* zone, serial: the operator approved or rejected a version
				     a review hook rejected (text says which) */
} coord_effect_kind_t;

typedef struct coord_effect {
	coord_effect_kind_t kind;
	char zone[COORD_ZONE_MAX];
	char node[COORD_ID_MAX];
	uint64_t epoch;
	uint32_t serial;
	uint32_t key_id;
	char text[COORD_TEXT_MAX]; /* "alert: digest mismatch on zone jp. serial 2024..." */
} coord_effect_t;

/* The decision on one input. About 60 KB: allocate it on the heap in daemons. */
typedef struct coord_result {
	coord_reason_t reason;     /* COORD_R_OK: accepted */
	char text[COORD_TEXT_MAX]; /* why, for people */
	bool changed;              /* out differs from in: the store must write it */
	uint64_t epoch;            /* lease grant or renewal: the epoch */
	uint64_t expiry_ms;        /* lease grant or renewal: the expiry (coordinator clock) */
	size_t neffects;
	size_t dropped; /* effects that did not fit */
	coord_effect_t effects[COORD_EFFECTS_MAX];
} coord_result_t;

/* The defaults: lease 10 s, margin 2 s, node timeout 10 s, preference 10 s, two sites,
 * serial modulus 2 with site A (0) even and site B (1) odd, same site first. */
void coord_params_default(coord_params_t *params);

/* Checks params: 0 < margin < lease/3, nsites 1..COORD_SITES_MAX, modulus
 * 1..COORD_MODULUS_MAX with distinct residues below it. Errors: TANDEM_EINVAL. */
int coord_params_check(const coord_params_t *params);

/* How often a node renews: lease_ms / 3. */
uint64_t coord_params_renew_ms(const coord_params_t *params);

/* The bytes of state in use: everything before the zones and the first nzones zones
 * (nzones taken as at most COORD_ZONES_MAX). */
size_t coord_state_used(const coord_state_t *state);

/* Copies the part of src in use into dst (dst's zones beyond src->nzones are left as they
 * are, and never read). */
void coord_state_copy(coord_state_t *dst, const coord_state_t *src);

/* Empties state: no members, no zones. Errors: TANDEM_EINVAL (NULL). */
int coord_state_init(coord_state_t *state);

/*
 * Checks that a state (from the store, or made by hand) is coherent: counts and
 * sites in range, strings terminated, unique names, holders and targets that
 * are members, committed epochs not above the zone's epoch. Errors:
 * TANDEM_COORD_ESTATE.
 */
int coord_state_check(const coord_state_t *state, const coord_params_t *params);

/*
 * The params decisions on state use: `params` with the state's lease and margin when it
 * has them (state->lease_ms != 0). NULL arguments: params copied as is (or zeroed).
 */
void coord_state_params(const coord_state_t *state, const coord_params_t *params,
			coord_params_t *out);

/*
 * Decides on `input` at `now`: copies `in` to `out` (which is `in` or does
 * not overlap it) with
 * the input's change applied when it is accepted, unchanged when refused, and
 * fills `res` with the decision (reason and text), the lease epoch and expiry
 * for grants and renewals, and the effects. A refusal is a decision, not an
 * error. Errors: TANDEM_EINVAL (NULL argument, bad params, unknown input
 * kind), TANDEM_COORD_ESTATE (incoherent `in`), TANDEM_ENOMEM (out == in and
 * no room for the working copy); out and res written only on success.
 */
int coord_state_apply(const coord_state_t *in, const coord_input_t *input, uint64_t now_ms,
		      const coord_params_t *params, coord_state_t *out, coord_result_t *res);

/*
 * The next time after `now_ms` at which a tick could change something or
 * another node's request could be decided differently (a lease expiry, the end
 * of a drift margin or preference window, a node's health timeout); 0 when
 * nothing is pending. NULL arguments give 0.
 */
uint64_t coord_state_next_event(const coord_state_t *state, const coord_params_t *params,
				uint64_t now_ms);

/* The member named id, or NULL. Borrowed from state. */
const coord_node_t *coord_state_node(const coord_state_t *state, const char *id);

/* The zone named name (removed ones included), or NULL. Borrowed from state. */
const coord_zone_t *coord_state_zone(const coord_state_t *state, const char *name);

/* Whether a standby's report agrees with zone's last commit (the same digest; a nosig
 * report: the same nosig digest and the active's version verified); false for a report
 * the zone does not compare. *why (static) says what differs, "" when nothing to say. */
bool coord_report_match(const coord_zone_t *zone, const coord_report_t *rep, const char **why);

/*
 * The zone's effective expiry: the later of its own expiry_ms and, when its holder's
 * node_epoch is the zone's holder_node_epoch, the holder's node lease expiry. Every rule
 * that asks whether a lease runs reads this. 0 for NULL arguments.
 */
uint64_t coord_zone_expiry(const coord_state_t *state, const coord_zone_t *zone);

/* Until when no node but the zone's previous holder is granted it: its own
 * blocked_until_ms and, while it has a holder, that node lease's expiry + margin. 0 for
 * NULL arguments. */
uint64_t coord_zone_blocked(const coord_state_t *state, const coord_zone_t *zone);

/* The node holding zone's lease at now_ms, or NULL (none, or it expired). */
const coord_node_t *coord_state_holder(const coord_state_t *state, const char *zone,
				       uint64_t now_ms);

/* Whether a CURVE public key belongs to a member that is not fenced (the ZAP allow-list). */
bool coord_state_curve_allowed(const coord_state_t *state,
			       const uint8_t curve_pub[COORD_CURVE_KEY_LEN]);

/* Whether key_id of zone has been imported by a node of every site that is not suspended
 * (invariant 4). */
bool coord_state_key_acked(const coord_state_t *state, const coord_params_t *params,
			   const char *zone, uint32_t key_id);

/* A static description of a reason code; never NULL. */
const char *coord_reason_str(coord_reason_t reason);

/* A static name of an input kind ("commit", ...); never NULL. */
const char *coord_input_kind_str(coord_input_kind_t kind);

/* Node side. */

/*
 * Whether a node may still publish under a lease it was granted by a request
 * (or renewal) it *sent* at granted_at_mono_ms on its own monotonic clock:
 * true while now < granted_at + lease - margin. False when margin >= lease or
 * now precedes granted_at. Taking the send time, not the time the grant
 * arrived, makes the node's deadline precede the coordinator's expiry.
 */
bool coord_lease_may_publish(uint64_t granted_at_mono_ms, uint64_t lease_ms, uint64_t margin_ms,
			     uint64_t now_mono_ms);

/* The residue class of a site's serials (params->site_residue[site]); the serial it
 * publishes next is tandem_serial_in_class()'s (common/tandem_serial.h). */
uint32_t coord_site_residue(const coord_params_t *params, uint32_t site);

/* Serialization for the store (coord_state_pb.c, proto/cluster.proto). */

/*
 * Packs state into a new buffer (*buf is the caller's, free() it). Errors:
 * TANDEM_EINVAL (NULL), TANDEM_ENOMEM; *buf and *len written on success.
 */
int coord_state_pack(const coord_state_t *state, uint8_t **buf, size_t *len);

/*
 * Unpacks untrusted bytes into *out and checks them with coord_state_check.
 * Errors: TANDEM_EINVAL (NULL), TANDEM_COORD_EVERSION (another format
 * version), TANDEM_COORD_ESTATE (not a cluster state, truncated, or values out
 * of range), TANDEM_ENOMEM; *out written only on success.
 */
int coord_state_unpack(const uint8_t *buf, size_t len, const coord_params_t *params,
		       coord_state_t *out);

/*
 * One zone alone, for the store's per-zone keys: a ClusterState message (same version) with
 * that zone and no members. Errors: TANDEM_EINVAL (NULL, counts out of range),
 * TANDEM_ENOMEM; *buf (the caller's, free() it) and *len written on success.
 */
int coord_zone_pack(const coord_zone_t *zone, uint8_t **buf, size_t *len);

/*
 * Unpacks what coord_zone_pack made from untrusted bytes into *out. Only the zone's own
 * fields are checked (coord_state_check on the assembled state checks holders and the
 * rest). Errors: TANDEM_EINVAL (NULL), TANDEM_COORD_EVERSION, TANDEM_COORD_ESTATE (not one
 * zone alone, truncated, values out of range), TANDEM_ENOMEM; *out written only on success.
 */
int coord_zone_unpack(const uint8_t *buf, size_t len, coord_zone_t *out);

#endif
