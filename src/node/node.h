/* node: the signing node's decisions for one zone, a pure function of (state, input, now) that
 * returns the actions to perform (docs/node.md, "The node as a state machine"). */
#ifndef TANDEM_NODE_H
#define TANDEM_NODE_H

#include "coord_state.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A timer that is not armed. */
#define NODE_NEVER UINT64_MAX
/* The most actions one step asks for. */
#define NODE_ACTIONS_MAX 8

/* The node's two clocks, read once by the caller (tests pass a fake clock). */
typedef struct node_time {
	uint64_t mono_ms; /* monotonic: every timer and the lease deadline */
	uint64_t wall_ms; /* UNIX time: the offline-KSK book's slots */
} node_time_t;

/* Compare before publish (the policy's zone.compare-before-publish, docs/policy.md). */
typedef enum node_compare {
	NODE_COMPARE_OFF,     /* publish once committed */
	NODE_COMPARE_WAIT,    /* until a standby agrees, at most compare_timeout_ms */
	NODE_COMPARE_REQUIRE, /* until a standby agrees, however long */
} node_compare_t;

/* The fixed periods of the node (tandemd's compile-time values and options). */
typedef struct node_conf {
	uint64_t cycle_ms;           /* a new serial at least this often (--cycle) */
	uint64_t retry_ms;           /* after a failed run or a refused input */
	uint64_t request_ms;         /* lease requests for a free zone, at most this often */
	uint64_t renew_retry_ms;     /* an unanswered renewal is sent again this soon */
	uint64_t keys_ms;            /* an active run that found its keys not ready tries again */
	uint64_t skr_retry_ms;       /* an offline-KSK zone without usable SKR slots looks again */
	uint64_t skr_margin_ms;      /* stop signing this long before the signed slots end */
	node_compare_t compare;      /* whether a committed serial waits for a standby's digest */
	uint64_t compare_timeout_ms; /* how long (wait: then published; require: alert) */
} node_conf_t;

/* The per-zone timers: a small table of events with due times (NODE_NEVER: not armed). */
typedef enum node_event {
	NODE_EV_REQUEST,  /* ask for the free zone's lease */
	NODE_EV_RENEW,    /* renew the held lease */
	NODE_EV_DEADLINE, /* the lease ends on this node's clock: stop publishing */
	NODE_EV_CYCLE,    /* the next active run */
	NODE_EV_COMPARE,  /* a committed serial has waited long enough for a standby's digest */
	NODE_EV_COUNT
} node_event_t;

/* Where the zone's run is: a named stage, not a set of flags. */
typedef enum node_run_stage {
	NODE_RUN_IDLE,    /* no run */
	NODE_RUN_KEYSET,  /* an active run waits for the key set read at the stored revision */
	NODE_RUN_SIGNING, /* an active run is going */
	NODE_RUN_SHADOW,  /* a standby's run of the committed serial is going */
	NODE_RUN_COMMIT,  /* the active run's result is offered to the coordinator */
	NODE_RUN_COMPARE, /* committed, held until a standby reports the same digest */
	NODE_RUN_PUBLISH, /* committed: the signed zone is being put in place */
} node_run_stage_t;

/* What the coordinator and the node's own parts say of the zone, fed with NODE_IN_STATUS. A
 * plain value: the caller fills it from the status reply, its alerts and its input watch. */
typedef struct node_view {
	uint64_t lease_ms, margin_ms; /* the cluster's lease parameters */
	bool self_up;                 /* this node is registered and up */
	bool blocked;                 /* a blocking alert keeps this node from signing the zone */
	bool input_blocked;           /* this node cannot read the zone's input at all */
	bool input_ready;       /* a settled input (or the last good copy) can be signed now */
	bool keys_ready;        /* this HSM holds every key of the node's copy of the key set */
	bool own_keyset_valid;  /* the node's copy of the key set is read and good: */
	int64_t own_keyset_rev; /* its revision */
	uint64_t own_keyset_signing; /* what it signs and publishes (0: unknown) */
	bool runner_busy;   /* the one run at a time is taken (by any zone, this one's included) */
	bool free;          /* nobody else holds the lease */
	bool switch_away;   /* an operator's switchover names another node */
	bool has_committed; /* the cluster holds a commit of the zone: */
	bool committed_by_self;
	bool compare_digests;
	/* signatures not deterministic (!compare_digests), compared all the same by the nosig
	 * digest and the standby's gate on the active's version (docs/node.md): the active
	 * commits the nosig digest, a standby can read its version (its transfer server) */
	bool nosig_compare;
	uint32_t serial;         /* its serial, */
	uint32_t input_serial;   /* its input's SOA serial (0: unknown), */
	uint32_t base_serial;    /* the serial it built on (0: signed in full), */
	int64_t keyset_revision; /* the key set revision it was made with, */
	uint64_t sign_time;      /* and its signing time (0: unknown) */
	bool standby_agrees;     /* a standby reported the committed serial with its digest */
	bool standby_differs;    /* a standby reported another digest for it */
	bool has_standby;        /* another node of the cluster (not fenced) could report */
	bool standby_live;       /* one of them is healthy (heard of within the node timeout) */
	bool full_requested;     /* a standby asked for a full signing */
	bool offline;            /* the zone's KSKs are offline: runs need SKR slots */
	bool skr_known;          /* its SKR book is read: */
	uint64_t skr_until_s;    /* the end of its signed slots (UNIX s; 0: none) */
} node_view_t;

/* The zone as this node knows it. Plain value; node_zone_init() sets it up. */
typedef struct node_zone {
	node_conf_t conf;
	node_view_t view; /* the last NODE_IN_STATUS */
	bool have_view;
	uint64_t due[NODE_EV_COUNT];
	/* the lease */
	bool held;
	uint64_t epoch;
	uint64_t granted_mono; /* when the request or renewal that granted it was sent */
	coord_reason_t last_refusal;
	/* the run */
	node_run_stage_t run;
	uint64_t run_epoch;     /* the epoch an active run signs under */
	uint32_t run_serial;    /* the serial of the run's result (commit and publish) */
	bool sign_now;          /* a reason to sign before the cycle: takeover, input, request */
	bool run_waits;         /* a run (or its key-set read) would start but for runner_busy:
				   the node starts no new key work meanwhile (runs come first) */
	uint32_t full_answered; /* the committed serial whose full signing request it answered */
	bool shadowed;          /* a shadow run (or a decision not to) was made for: */
	uint32_t shadow_serial;
	bool shadow_other_input; /* that shadow run read another input than the committed one's
				    (nothing to compare): a new input makes it run again */
	/* this node's copy of the key set (from the view, or the read an active run waits for) */
	int64_t keyset_rev;
	bool keyset_valid;
	bool run_shadow;       /* NODE_RUN_KEYSET: the run waiting is a shadow run */
	uint64_t keys_signing; /* the last signing digest seen (a view, an active run's read) */
	bool keys_moved;       /* it changed under the holder: the next active run says so */
	/* the committed and published state */
	uint32_t published_serial;
	bool input_older; /* the input-older alert is raised */
	bool skr_short;   /* the skr alert is raised */
	/* compare before publish */
	bool compare_late;  /* the compare-timeout alert is raised (wait: published unconfirmed) */
	bool compare_held;  /* the compare-held alert is raised (require: still not published) */
	bool compare_alone; /* said once: no standby to wait for, published at once */
} node_zone_t;

/* What happened: one input per step. */
typedef enum node_input_kind {
	NODE_IN_TICK,          /* time passed */
	NODE_IN_STATUS,        /* a fresh view (view) */
	NODE_IN_LEASE_REPLY,   /* an answer to a lease request or renewal (lease) */
	NODE_IN_LEASE_LOST,    /* the lease is gone without a word (released, zone left) */
	NODE_IN_KEYSET,        /* the key set was read (keyset) */
	NODE_IN_INPUT_CHANGED, /* a new version of the input file */
	NODE_IN_RUN_DONE,      /* the zone's run ended (run) */
	NODE_IN_COMMIT_REPLY,  /* the coordinator's answer to the commit (commit) */
	NODE_IN_PUBLISHED,     /* the committed zone is in place, or not (published) */
	NODE_IN_CYCLE_BY,      /* the next active run no later than cycle_by_mono */
} node_input_kind_t;

typedef struct node_input {
	node_input_kind_t kind;
	node_view_t view; /* NODE_IN_STATUS */
	struct {
		bool answered; /* false: no coordinator answered */
		bool accepted;
		coord_reason_t reason;
		uint64_t epoch;
		uint64_t sent_mono; /* when the request was sent: the deadline counts from it */
		/* when the answer came (0: now). A renewal answered on tandemd's renewal thread
		 * while the loop was busy is fed later: the deadline is checked when it came */
		uint64_t answered_mono;
	} lease;
	struct {
		bool ok;
		int64_t revision;
		uint64_t signing; /* its kasp_keyset_signing_digest (0: unknown) */
		bool keys_ready;
	} keyset;
	struct {
		bool ok;
		bool started; /* false: it could not start */
		bool shadow;
		uint32_t serial; /* the signed serial (a shadow run: the committed one it tried) */
		uint32_t input_serial;
	} run;
	struct {
		bool answered;
		bool accepted;
		coord_reason_t reason;
	} commit;
	struct {
		bool ok;
		uint64_t retry_ms; /* when not ok: the next try (0: the conf's retry) */
	} published;
	uint64_t cycle_by_mono; /* NODE_IN_CYCLE_BY */
} node_input_t;

/* What the node asks for. */
typedef enum node_action_kind {
	NODE_A_LEASE_REQUEST,
	NODE_A_LEASE_RENEW,
	NODE_A_LEASE_RELEASE,  /* give the lease back (why) */
	NODE_A_LEASE_DROPPED,  /* the lease is gone (why): say so, publish nothing under epoch */
	NODE_A_LEASE_GRANTED,  /* a new lease or epoch: arm the deadline watch */
	NODE_A_KEYSET_FETCH,   /* read the stored key set, answer with NODE_IN_KEYSET */
	NODE_A_RUN,            /* start a run (shadow or active; serial: the shadowed one) */
	NODE_A_SHADOW_SKIPPED, /* the commit's key set is not this node's (serial) */
	NODE_A_COMMIT,         /* offer (serial, epoch) with the run's digest */
	NODE_A_COMPARE,        /* keep the committed serial aside until a standby agrees */
	NODE_A_COMPARE_ALONE,  /* no standby could compare (why): published without (said once) */
	NODE_A_DISCARD,        /* the held serial is not published (why): drop it */
	NODE_A_PUBLISH,     /* put the committed serial in place (why: WAITED when unconfirmed) */
	NODE_A_REPORT,      /* report the shadow run's digest */
	NODE_A_ALERT,       /* raise the zone alert `alert` (why) */
	NODE_A_ALERT_CLEAR, /* clear it */
} node_action_kind_t;

/* Why an action is asked for (logs and alerts). */
typedef enum node_why {
	NODE_WHY_NONE,
	NODE_WHY_DEADLINE,      /* the lease could not be renewed in time */
	NODE_WHY_REFUSED,       /* a renewal was refused */
	NODE_WHY_HANDOVER,      /* an operator's switchover */
	NODE_WHY_INPUT_BLOCKED, /* this node cannot read the input */
	NODE_WHY_LOST,          /* the run ended after the lease was lost */
	NODE_WHY_COORD_GONE,    /* the coordinator says the lease is gone */
	NODE_WHY_LATE,          /* committed, but the lease ran out before publishing */
	NODE_WHY_INPUT_OLDER,   /* the input is older than the committed one's */
	NODE_WHY_SKR_OUT,       /* no signed DNSKEY RRset for now */
	NODE_WHY_SKR_MARGIN,    /* the signed slots end within the margin */
	NODE_WHY_NO_STANDBY,    /* no other node is registered: nobody could compare */
	NODE_WHY_NOT_COMPARED,  /* the zone's signatures are not deterministic: not compared */
	NODE_WHY_WAITED,        /* no standby agreed within compare-timeout */
	NODE_WHY_MISMATCH,      /* a standby reported another digest for the serial */
	NODE_WHY_NO_BASE,       /* a standby cannot follow the serial: signed again in full */
	NODE_WHY_KEYS,          /* the key set changed what signs or is published */
} node_why_t;

typedef struct node_action {
	node_action_kind_t kind;
	node_why_t why;
	bool shadow;    /* NODE_A_RUN */
	bool new_epoch; /* NODE_A_LEASE_GRANTED: a new lease, not a renewal */
	bool was_held;  /* NODE_A_LEASE_DROPPED: the lease ran until now (say the stop) */
	uint64_t epoch; /* lease actions, NODE_A_RUN, NODE_A_COMMIT, NODE_A_PUBLISH */
	/* NODE_A_RUN: the committed serial a shadow run repeats, or an active run follows (0:
	 * none); NODE_A_COMMIT, NODE_A_PUBLISH, NODE_A_REPORT: the run's serial */
	uint32_t serial;
	int64_t keyset_rev; /* NODE_A_RUN: the key set revision it signs with */
	const char *alert;  /* NODE_A_ALERT*: the alert's kind ("input-older", "skr") */
} node_action_t;

typedef struct node_actions {
	size_t n;
	node_action_t a[NODE_ACTIONS_MAX];
} node_actions_t;

/* Sets up a zone that holds no lease and has run nothing. */
void node_zone_init(node_zone_t *z, const node_conf_t *conf);

/*
 * One step: what `in` at `now` changes in z, and the actions it asks for, in the order they
 * are to be performed (written into *out, emptied first). Pure: no I/O, no clock, no globals.
 * An input that does not fit the zone's stage (a run end with no run) changes nothing. A
 * tick, a view and an answer are followed by the decisions they allow (the lease, the next
 * run); a lost lease, a changed input and NODE_IN_CYCLE_BY only change the state, for the
 * next tick or view to act on.
 */
void node_step(node_zone_t *z, const node_input_t *in, const node_time_t *now, node_actions_t *out);

/* Whether the zone's lease still runs on this node's clock (publications check it). */
bool node_may_publish(const node_zone_t *z, uint64_t now_mono_ms);

/* The earliest timer that matters in the zone's state (NODE_NEVER: none): without another
 * input, the caller need not step the zone before it. */
uint64_t node_next_due(const node_zone_t *z);

/* The coordinator's result for one item of a batch of lease requests and renewals. */
typedef struct node_lease_answer {
	const char *zone; /* the zone it names */
	bool accepted;
	coord_reason_t reason;
	uint64_t epoch;
} node_lease_answer_t;

/*
 * The NODE_IN_LEASE_REPLY of each item of a batch of n lease requests and renewals sent
 * together at sent_mono (zones[i]: item i's zone) into in[0..n-1]: each zone its own result,
 * so a refusal is that zone's alone; and for every zone the reply of a request nobody
 * answered when the batch got no answer (answers NULL) or an answer that is not one result
 * per item, in order, each naming its item's zone (exactly: as sent). Every deadline counts
 * from the one send. Returns whether the answers were taken. Pure.
 */
bool node_lease_batch_replies(const char *const *zones, size_t n,
			      const node_lease_answer_t *answers, size_t nanswers,
			      uint64_t sent_mono, node_input_t *in);

/* The stage's name ("idle", "signing"...), for logs and metrics. */
const char *node_run_stage_str(node_run_stage_t stage);

/* The action's name ("lease-request"...), for logs and tests. */
const char *node_action_str(node_action_kind_t kind);

#endif
