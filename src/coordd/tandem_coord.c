/* tandem-coord: the coordinator daemon; answers nodes over net RPC, decides through the store. */
#include "conf.h"
#include "coord_clock.h"
#include "coord_etcd.h"
#include "coord_state.h"
#include "coord_store.h"
#include "coordd_audit.h"
#include "coordd_grants.h"
#include "coordd_keys.h"
#include "coordd_policy.h"
#include "coordd_request.h"
#include "coordrpc.h"
#include "coordrpc_audit.h"
#include "kasp_skr.h"
#include "kasp_store.h"
#include "net_allow.h"
#include "net_key.h"
#include "net_rpc.h"
#include "tandem_diag.h"
#include "tandem_encode.h"
#include "tandem_error.h"
#include "metrics.h"
#include "tandem_log.h"
#include "tandem_service.h"
#include "tandem_text.h"
#include "tandem_file.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

/* The leader's etcd lease, in seconds; it campaigns every third of it. */
#define COORDD_LEADER_TTL_S 6
/* Longest sleep in one poll, so that a signal is noticed soon. */
#define COORDD_POLL_MAX_MS 250
#define COORDD_ZONES_MAX   COORD_ZONES_MAX
/* The coordinator's etcd waits (docs/etcd.md, "Timeouts"): per endpoint, connect, and per
 * call across all endpoints. The loop serves one request at a time, so no call may hold it
 * longer than a status client waits for one attempt (tandemctl: 1.5 s). */
#define COORDD_ETCD_TIMEOUT_MS 1000u
#define COORDD_ETCD_CONNECT_MS 250u
#define COORDD_ETCD_CALL_MS    1000u
/* Other coordinators whose clocks this one measures (--peer). */
#define COORDD_PEERS_MAX COORDRPC_COORDS_MAX
/* A clock probe of one peer every this often, its wait, and how long a sample counts. */
#define COORDD_PROBE_EVERY_MS 2000u
#define COORDD_PROBE_WAIT_MS  500
#define COORDD_CLOCK_FRESH_MS 30000u
/* One-way samples kept per node: its offset is the highest (least delayed) of them. */
#define COORDD_NODE_SAMPLES 8u

/* Node/zone pairs whose refused key fetch is remembered, so that it is audited once. */
#define COORDD_GRANT_REFUSED_MAX 16

typedef struct coordd_opts {
	const char *etcd;
	const char *listen;
	const char *key;
	const char *allow;
	const char *name;
	const char *prefix;
	const char *pid_file;
	const char *etcd_ca, *etcd_cert, *etcd_key; /* TLS to etcd (all three, https://) */
	bool insecure_etcd;                         /* plain http:// to etcd allowed */
	bool no_compare_digests; /* --zone zones are added without the standbys' digest check */
	const char *metrics;     /* --metrics HOST:PORT, or NULL */
	tandem_log_target_t log_target; /* --log-target stderr|syslog */
	tandem_log_level_t log_level;   /* --log-level info|notice|warning */
	const char *syslog_socket;      /* --syslog-socket PATH, or NULL */
	const char *approval_rules;     /* --approval-rules FILE: overrides of the DPS defaults */
	const char *role_mirror;        /* --role-mirror FILE: the local copy of the role table */
	size_t ngrants; /* --archive-grant NODE: the first grant table (docs/approvals.md) */
	const char *grants[COORD_NODES_MAX];
	uint64_t lease_ms; /* with has_lease: --lease-ms, which must be the cluster's */
	uint64_t margin_ms;
	bool has_lease, has_margin;
	size_t nzones;
	const char *zones[COORDD_ZONES_MAX];
	size_t npeers;
	const char *peers[COORDD_PEERS_MAX]; /* NAME=ENDPOINT */
	/* the audit log (docs/audit.md) */
	const char *audit_mirror;  /* NULL: audit-NAME.jsonl in the working directory */
	const char *audit_archive; /* NULL: the mirror's directory */
	const char *audit_key;     /* NULL: no anchors */
	uint64_t audit_anchor_s, audit_retention_s;
} coordd_opts_t;

/* Another coordinator: its clock as the last round trip measured it. */
typedef struct coordd_peer {
	char name[COORD_ID_MAX];
	const char *endpoint; /* in opts */
	net_rpc_client_t *client;
	uint64_t next_ms;                   /* the next probe */
	coord_clock_sample_t clock;         /* valid when seen_ms != 0 */
	uint64_t seen_ms;                   /* when measured (our clock) */
	bool failing;                       /* the last probe got no answer (logged once) */
	bool skewed, far;                   /* as last judged (logged on change) */
	char metrics[COORDRPC_METRICS_MAX]; /* its metrics endpoint, as its answer said */
	/* the nodes it hears, with their offsets from its clock, as its answer said */
	size_t nnodes;
	char node_name[COORD_NODES_MAX][COORD_ID_MAX];
	int64_t node_offset_ms[COORD_NODES_MAX];
} coordd_peer_t;

/* A node's clock from its requests' send times (one way). */
typedef struct coordd_node_clock {
	char name[COORD_ID_MAX];
	int64_t offset_ms[COORDD_NODE_SAMPLES];
	uint64_t at_ms[COORDD_NODE_SAMPLES]; /* received (our clock); 0: empty slot */
	size_t next;
	bool skewed; /* as last judged */
} coordd_node_clock_t;

/* The daemon's context: everything lives here, nothing in globals (STYLE rule 9). */
typedef struct coordd {
	const coordd_opts_t *opts;
	coord_params_t params;
	coord_store_t *store;
	net_rpc_server_t *srv;
	const net_allow_t *allow; /* as loaded from --allow: fencing only ever removes from it */
	tandem_diag_t *diag;
	coord_result_t *res;       /* ~60 KB: on the heap */
	coord_state_t *state;      /* on the heap, for status, timers and fencing */
	coord_state_t *zstate;     /* the cluster part and one zone, for requests about a zone */
	coordrpc_status_t *status; /* ~600 KB: on the heap */
	coordrpc_keys_t *keys;
	kasp_keyset_t *keyset; /* ~50 KB: a key set put's bytes, checked */
	int keyset_revs_err;   /* the last failure of coord_store_keyset_revs (logged once) */
	bool leader;
	uint64_t next_campaign_ms;
	uint64_t next_tick_ms;  /* leader only; 0: none planned */
	uint64_t next_fence_ms; /* the next fencing sweep */
	bool fence_due;         /* a decision changed the state: sweep after this poll */
	bool fence_failing;     /* the last sweep could not read the state (logged once) */
	/* the store's health: d->state is the state as last read, at state_ms */
	uint64_t state_ms;                          /* 0: never read */
	char leader_name[COORD_STORE_NAME_MAX + 1]; /* as last read */
	bool store_down; /* etcd did not serve the last call: decide nothing until it does */
	uint64_t store_down_ms;
	char store_error[COORD_TEXT_MAX];
	/* clocks (docs/coordinator.md, "Clocks") */
	size_t npeers;
	coordd_peer_t peers[COORDD_PEERS_MAX];
	size_t nnode_clocks;
	coordd_node_clock_t node_clocks[COORD_NODES_MAX];
	bool clock_skewed;       /* the majority disowns this coordinator's clock */
	int64_t clock_offset_ms; /* ours minus the majority's, as last judged */
	/* metrics (docs/monitoring.md): rendered from this loop, served by their thread */
	metrics_server_t *metrics;
	uint64_t next_metrics_ms;
	uint64_t etcd_failures; /* calls that found etcd unavailable */
	/* the audit log: the sink queues, the loop appends and mirrors (coordd_audit.c) */
	coordd_audit_t *audit;
	tandem_audit_sink_t sink;      /* every event: an "audit:" log line, then the chain */
	tandem_audit_sink_t chain;     /* the chain's own sink (coordd_audit_sink) */
	char actor[COORD_ID_MAX + 16]; /* who sent what is being decided: "node:node-a" */
	/* the node/zone pairs whose key fetch was refused for want of a grant (audited once) */
	char grant_refused[COORDD_GRANT_REFUSED_MAX][COORD_ID_MAX + COORD_ZONE_MAX + 2];
	size_t grant_refused_next;
	/* multi-person control (docs/approvals.md); its events go to the sink above */
	coord_rules_t rules;
	int64_t rules_rev; /* the revision of PREFIX/approval-rules that rules came from */
	coordd_requests_t requests;
	uint64_t next_mirror_ms; /* the next refresh of the role mirror */
} coordd_t;

/* The role mirror is compared with etcd's table this often. */
#define COORDD_MIRROR_EVERY_MS 5000u

/* Every coordinator reads the state this often and revokes the keys of fenced members. */
#define COORDD_FENCE_EVERY_MS 1000u

static uint64_t coordd_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* One log line (tandem_log: stderr with the UTC time, or syslog with the coordinator's
 * name). Never given secrets. Whatever a peer or an operator sent (names, texts) is escaped:
 * a newline cannot forge another line. */
#define coordd_log tandem_logf

/* The cluster's lease and margin, as the state just read keeps them: every coordinator
 * picks an operator's change up on its next read. */
static void coordd_params_refresh(coordd_t *d)
{
	coord_params_t np;
	coord_state_params(d->state, &d->params, &np);
	if (np.lease_ms != d->params.lease_ms || np.margin_ms != d->params.margin_ms) {
		coordd_log("cluster params now: lease %" PRIu64 " ms, margin %" PRIu64
			   " ms (were %" PRIu64 " ms, %" PRIu64 " ms)",
			   np.lease_ms, np.margin_ms, d->params.lease_ms, d->params.margin_ms);
		d->params = np;
	}
}

/* Logs and clears the diag's messages under a heading. */
static void coordd_log_diag(tandem_diag_t *diag, const char *what, int rc)
{
	coordd_log("%s: %s", what, tandem_strerror(rc));
	for (size_t i = 0; tandem_diag_msg(diag, i) != NULL; i++) {
		coordd_log("  %s", tandem_diag_msg(diag, i));
	}
	tandem_diag_clear(diag);
}

/* Whether an error says that etcd could not serve (not a refusal, not bad data). */
static bool coordd_store_unavailable(int ret)
{
	return ret == TANDEM_COORD_EUNAVAIL || ret == TANDEM_COORD_ENOQUORUM;
}

/*
 * Notes the outcome of an etcd call. A call etcd could not serve puts the store down:
 * status then answers at once from the state as last read (stale), every decision is
 * refused at once, and only the loop's probe (the fencing read) asks etcd again, so no
 * request waits on etcd. The next call that etcd serves brings it back. Said once each way.
 */
static void coordd_store_note(coordd_t *d, int ret)
{
	uint64_t now = coordd_now_ms();
	if (coordd_store_unavailable(ret)) {
		d->etcd_failures++;
		const char *why =
		    ret == TANDEM_COORD_ENOQUORUM ? "etcd has no quorum" : "etcd does not answer";
		if (!d->store_down) {
			d->store_down_ms = now;
			coordd_log("store: %s: status answers from the state read %" PRIu64
				   " ms ago (stale), nothing is decided until etcd serves again",
				   why,
				   d->state_ms != 0 && now > d->state_ms ? now - d->state_ms : 0);
		} else if (ret == TANDEM_COORD_EUNAVAIL || strcmp(d->store_error, why) == 0) {
			return; /* a silent member proves nothing against "no quorum" */
		} else {
			coordd_log("store: %s (was: %s)", why, d->store_error);
		}
		d->store_down = true;
		snprintf(d->store_error, sizeof(d->store_error), "%s", why);
	} else if (ret == TANDEM_OK && d->store_down) {
		coordd_log("store: etcd serves again after %" PRIu64 " ms",
			   now > d->store_down_ms ? now - d->store_down_ms : 0);
		d->store_down = false;
		d->store_error[0] = '\0';
	}
}

/* Reads the cluster part and one zone into d->zstate (linearizable), noting the store's
 * health: what a request about one zone needs, without reading every zone. */
static int coordd_read_zone(coordd_t *d, const char *zone)
{
	int ret = coord_store_read_zone(d->store, &d->params, zone, d->diag, d->zstate);
	coordd_store_note(d, ret);
	return ret;
}

/* Reads the state into d->state (linearizable), noting the store's health. */
static int coordd_read(coordd_t *d)
{
	int ret = coord_store_read(d->store, &d->params, d->diag, d->state, NULL);
	coordd_store_note(d, ret);
	if (ret == TANDEM_OK) {
		d->state_ms = coordd_now_ms();
	}
	return ret;
}

static bool coordd_copy_name(char *dst, size_t size, const char *src)
{
	if (src == NULL || strlen(src) >= size) {
		return false;
	}
	memcpy(dst, src, strlen(src) + 1);
	return true;
}

static char coordd_site(uint32_t site)
{
	return site < COORD_SITES_MAX ? (char)('A' + site) : '?';
}

/* The arguments of an operator request, for the audit line. */
static void coordd_audit_args(const coordrpc_request_t *r, char *buf, size_t size)
{
	switch (r->kind) {
	case COORDRPC_ZONE_ADD:
		if (r->has_serial) {
			snprintf(buf, size, "zone=%s compare_digests=%s serial=%" PRIu32, r->zone,
				 r->compare_digests ? "yes" : "no", r->serial);
		} else {
			snprintf(buf, size, "zone=%s compare_digests=%s", r->zone,
				 r->compare_digests ? "yes" : "no");
		}
		break;
	case COORDRPC_ZONE_REMOVE:
	case COORDRPC_KEYS_GET:
	case COORDRPC_KEYSET_GET:
	case COORDRPC_SKR_GET: snprintf(buf, size, "zone=%s", r->zone); break;
	case COORDRPC_KEYSET_PUT:
	case COORDRPC_SKR_PUT:
		snprintf(buf, size, "zone=%s revision=%" PRId64, r->zone, r->revision);
		break;
	case COORDRPC_DRAIN:
	case COORDRPC_UNDRAIN:
	case COORDRPC_NODE_REMOVE: snprintf(buf, size, "node=%s", r->node); break;
	case COORDRPC_SWITCHOVER:
		snprintf(buf, size, "zone=%s target=%s", r->zone, r->target);
		break;
	case COORDRPC_TAKEOVER:
		snprintf(buf, size, "site=%c force=%s", coordd_site(r->site),
			 r->force ? "yes" : "no");
		break;
	case COORDRPC_ZONE_ACCEPT_INPUT:
	case COORDRPC_ZONE_APPROVE:
	case COORDRPC_ZONE_REJECT:
		snprintf(buf, size, "zone=%s serial=%" PRIu32, r->zone, r->serial);
		break;
	case COORDRPC_PARAMS_SET:
		snprintf(buf, size, "lease_ms=%" PRIu64 " margin_ms=%" PRIu64, r->lease_ms,
			 r->margin_ms);
		break;
	case COORDRPC_SITE_SUSPEND:
	case COORDRPC_SITE_RESUME: snprintf(buf, size, "site=%c", coordd_site(r->site)); break;
	case COORDRPC_PRODUCTION:
	case COORDRPC_DRILL_NOTE: snprintf(buf, size, "%s %s", r->action, r->args); break;
	case COORDRPC_POLICY:
		snprintf(buf, size, "%s %.100s%s%.120s", r->action, r->args,
			 r->zone[0] ? " zone=" : "", r->zone);
		break;
	default: snprintf(buf, size, "-"); break;
	}
}

/* The audit trail: one line per request from an operator, whatever became of it, and an
 * entry in the audit log for each command (reads are not commands). */
static void coordd_audit(coordd_t *d, const net_rpc_request_t *req, const coordrpc_request_t *r,
			 bool accepted, const char *text)
{
	char args[COORD_ZONE_MAX + COORD_ID_MAX + 64], details[AUDIT_DETAILS_MAX];
	if (req->role != NET_ROLE_OPERATOR) {
		return;
	}
	coordd_audit_args(r, args, sizeof(args));
	coordd_log("audit: operator %s: %s %s: %s: %s", req->peer, coordrpc_type(r->kind), args,
		   accepted ? "accepted" : "refused", text);
	if (r->kind == COORDRPC_STATUS || r->kind == COORDRPC_KEYS_GET ||
	    r->kind == COORDRPC_KEYSET_GET || r->kind == COORDRPC_SKR_GET) {
		return;
	}
	snprintf(details, sizeof(details), "%s %s: %s: %s", coordrpc_type(r->kind), args,
		 accepted ? "accepted" : "refused", text);
	tandem_audit_event_t ev = {.type = accepted ? "operator.accept" : "operator.refuse",
				   .level = accepted ? TANDEM_AUDIT_NOTICE : TANDEM_AUDIT_WARNING,
				   .actor = d->actor,
				   .zone = r->zone[0] != '\0' ? r->zone : NULL,
				   .key_id = -1,
				   .details = details};
	tandem_audit(&d->sink, &ev);
	if (accepted && r->kind == COORDRPC_SKR_PUT) {
		/* the operator imported signed key responses: an event of its own (DPS 4.4.1) */
		ev.type = "skr.import";
		tandem_audit(&d->sink, &ev);
	}
}

/* The coordinator's sink: one "audit:" log line per event (the daemon's log, for the
 * journal), then the hash-chained log in etcd (docs/audit.md). */
static void coordd_audit_emit(void *ctx, const tandem_audit_event_t *ev)
{
	static const char *const levels[] = {"info", "notice", "warning", "critical"};
	coordd_t *d = ctx;
	coordd_log("audit: %s %s %s: %s", ev->type,
		   (unsigned)ev->level < 4u ? levels[ev->level] : "?",
		   ev->actor != NULL ? ev->actor : "-", ev->details != NULL ? ev->details : "");
	tandem_audit(&d->chain, ev);
}

/* A direct operator command that multi-person control may reserve: its action and args. */
static bool coordd_direct_action(const coordrpc_request_t *r, char action[COORD_ACTION_MAX],
				 char args[COORD_ARGS_MAX])
{
	switch (r->kind) {
	case COORDRPC_TAKEOVER:
		snprintf(action, COORD_ACTION_MAX, "takeover");
		snprintf(args, COORD_ARGS_MAX, "site=%c", coordd_site(r->site));
		return true;
	case COORDRPC_SITE_SUSPEND:
		snprintf(action, COORD_ACTION_MAX, "site-suspend");
		snprintf(args, COORD_ARGS_MAX, "site=%c", coordd_site(r->site));
		return true;
	case COORDRPC_PRODUCTION:
		if (strcmp(r->action, "off") != 0) {
			return false;
		}
		snprintf(action, COORD_ACTION_MAX, "production-off");
		args[0] = '\0';
		return true;
	case COORDRPC_PARAMS_SET:
		snprintf(action, COORD_ACTION_MAX, "params-set");
		snprintf(args, COORD_ARGS_MAX, "lease_ms=%" PRIu64 " margin_ms=%" PRIu64,
			 r->lease_ms, r->margin_ms);
		return true;
	default: return false;
	}
}

/*
 * Who may send what: node kinds only from a node that names itself, operator kinds
 * only from an operator, reads from anyone on the allow-list.
 */
static int coordd_check_role(const net_rpc_request_t *req, const coordrpc_request_t *r,
			     net_rpc_msg_t *reply)
{
	net_role_t need = coordrpc_kind_role(r->kind);
	if (need == NET_ROLE_NODE && (req->role != NET_ROLE_NODE || strcmp(r->node, req->peer))) {
		snprintf(reply->error, sizeof(reply->error),
			 "%s from %s (%s): a node request must come from that node", req->type,
			 req->peer, net_role_name(req->role));
		return TANDEM_EPERM;
	}
	if (need == NET_ROLE_OPERATOR && req->role != NET_ROLE_OPERATOR) {
		snprintf(reply->error, sizeof(reply->error),
			 "%s from %s (%s): an operator request needs the operator role", req->type,
			 req->peer, net_role_name(req->role));
		return TANDEM_EPERM;
	}
	/* a key set or SKR book put: the zone's holder (a node naming itself) or an operator */
	bool doc_put = r->kind == COORDRPC_KEYSET_PUT || r->kind == COORDRPC_SKR_PUT;
	if (doc_put && req->role == NET_ROLE_NODE && strcmp(r->node, req->peer) != 0) {
		snprintf(reply->error, sizeof(reply->error),
			 "%s from %s (%s): a node request must come from that node", req->type,
			 req->peer, net_role_name(req->role));
		return TANDEM_EPERM;
	}
	if (doc_put && req->role != NET_ROLE_NODE && req->role != NET_ROLE_OPERATOR) {
		snprintf(reply->error, sizeof(reply->error),
			 "%s from %s (%s): needs the zone's lease holder or the operator role",
			 req->type, req->peer, net_role_name(req->role));
		return TANDEM_EPERM;
	}
	return TANDEM_OK;
}

/* The sender's CURVE public key, as the allow-list has it. */
static int coordd_peer_key(const coordd_t *d, const char *peer, uint8_t out[COORD_CURVE_KEY_LEN])
{
	const net_allow_entry_t *e = net_allow_find_name(net_rpc_server_allow(d->srv), peer);
	if (e == NULL || zmq_z85_decode(out, e->key) == NULL) {
		return TANDEM_NET_EAUTH;
	}
	return TANDEM_OK;
}

/* The machine input of a request that is not a read. */
static int coordd_input(const coordd_t *d, const net_rpc_request_t *req,
			const coordrpc_request_t *r, coord_input_t *in, net_rpc_msg_t *reply)
{
	static const coord_input_kind_t kinds[] = {
	    [COORDRPC_REGISTER] = COORD_IN_NODE_REGISTER,
	    [COORDRPC_HEARTBEAT] = COORD_IN_NODE_HEARTBEAT,
	    [COORDRPC_LEASE_REQUEST] = COORD_IN_LEASE_REQUEST,
	    [COORDRPC_LEASE_RENEW] = COORD_IN_LEASE_RENEW,
	    [COORDRPC_LEASE_RELEASE] = COORD_IN_LEASE_RELEASE,
	    [COORDRPC_COMMIT] = COORD_IN_COMMIT,
	    [COORDRPC_DIGEST_REPORT] = COORD_IN_DIGEST_REPORT,
	    [COORDRPC_KEY_ADD] = COORD_IN_KEY_ADD,
	    [COORDRPC_KEY_ACK] = COORD_IN_KEY_ACK,
	    [COORDRPC_KEY_ACTIVATE] = COORD_IN_KEY_ACTIVATE,
	    [COORDRPC_KEY_REMOVE] = COORD_IN_KEY_REMOVE,
	    [COORDRPC_ZONE_ADD] = COORD_IN_ZONE_ADD,
	    [COORDRPC_ZONE_REMOVE] = COORD_IN_ZONE_REMOVE,
	    [COORDRPC_DRAIN] = COORD_IN_DRAIN,
	    [COORDRPC_UNDRAIN] = COORD_IN_UNDRAIN,
	    [COORDRPC_NODE_REMOVE] = COORD_IN_NODE_REMOVE,
	    [COORDRPC_SWITCHOVER] = COORD_IN_SWITCHOVER,
	    [COORDRPC_TAKEOVER] = COORD_IN_TAKEOVER,
	    [COORDRPC_ZONE_ACCEPT_INPUT] = COORD_IN_ZONE_ACCEPT_INPUT,
	    [COORDRPC_PARAMS_SET] = COORD_IN_PARAMS_SET,
	    [COORDRPC_SITE_SUSPEND] = COORD_IN_SITE_SUSPEND,
	    [COORDRPC_SITE_RESUME] = COORD_IN_SITE_RESUME,
	    [COORDRPC_KEY_DESTROYED] = COORD_IN_KEY_DESTROYED,
	    [COORDRPC_KEY_PURGE] = COORD_IN_KEY_PURGE,
	    [COORDRPC_ZONE_APPROVE] = COORD_IN_ZONE_APPROVE,
	    [COORDRPC_ZONE_REJECT] = COORD_IN_ZONE_REJECT,
	};
	memset(in, 0, sizeof(*in));
	in->kind = kinds[r->kind];
	/* the request's strings fit the input's fields: same sizes */
	memcpy(in->node, r->node, sizeof(in->node));
	memcpy(in->zone, r->zone, sizeof(in->zone));
	memcpy(in->target, r->target, sizeof(in->target));
	memcpy(in->publish, r->publish, sizeof(in->publish));
	memcpy(in->metrics, r->metrics, sizeof(in->metrics));
	memcpy(in->axfr, r->axfr, sizeof(in->axfr));
	in->site = r->site;
	in->healthy = r->healthy;
	in->epoch = r->epoch;
	in->serial = r->serial;
	in->has_serial = r->has_serial;
	memcpy(in->digest, r->digest, sizeof(in->digest));
	in->key_id = r->key_id;
	in->key_tag = r->key_tag;
	in->compare_digests = r->compare_digests;
	in->sign_time = r->sign_time;
	in->input_serial = r->input_serial;
	in->base_serial = r->base_serial;
	in->no_base = r->no_base;
	in->leaving = r->leaving;
	in->has_nosig = r->has_nosig;
	memcpy(in->nosig, r->nosig, sizeof(in->nosig));
	in->verified = r->verified;
	memcpy(in->why, r->why, sizeof(in->why));
	in->keyset_revision = r->keyset_revision;
	memcpy(in->skr_id, r->skr_id, sizeof(in->skr_id));
	memcpy(in->policy_digest, r->policy_digest, sizeof(in->policy_digest));
	in->nsec3 = r->nsec3;
	memcpy(in->salt, r->salt, r->salt_len);
	in->salt_len = (uint32_t)r->salt_len;
	/* same sizes as the request's (coordrpc.h and coord_state.h) */
	memcpy(in->instance, r->instance, sizeof(in->instance));
	in->lease_ms = r->lease_ms;
	in->margin_ms = r->margin_ms;
	in->retention_ms = r->retention_ms;
	in->nalerts = (uint32_t)r->nalerts;
	for (size_t i = 0; i < r->nalerts && i < COORD_ALERTS_MAX; i++) {
		memcpy(in->alerts[i].zone, r->alerts[i].zone, sizeof(in->alerts[i].zone));
		memcpy(in->alerts[i].kind, r->alerts[i].kind, sizeof(in->alerts[i].kind));
		memcpy(in->alerts[i].text, r->alerts[i].text, sizeof(in->alerts[i].text));
		in->alerts[i].blocking = r->alerts[i].blocking;
	}
	if (in->kind == COORD_IN_KEY_ACTIVATE) {
		in->node[0] = '\0'; /* activation is the cluster's, not the sender's */
	}
	if (in->kind == COORD_IN_NODE_REGISTER &&
	    coordd_peer_key(d, req->peer, in->curve_pub) != TANDEM_OK) {
		snprintf(reply->error, sizeof(reply->error), "%s: sender key not listed",
			 req->type);
		return TANDEM_NET_EAUTH;
	}
	return TANDEM_OK;
}

static int coordd_reply_set(net_rpc_msg_t *reply, const char *type, int ret, uint8_t *buf,
			    size_t len)
{
	if (ret == TANDEM_OK) {
		ret = net_rpc_msg_set(reply, type, buf, len);
	}
	free(buf);
	if (ret != TANDEM_OK) {
		snprintf(reply->error, sizeof(reply->error), "reply: %s", tandem_strerror(ret));
	}
	return ret;
}

/* The node's name for an ack (its number), "#NO" when it is no longer a member. */
static void coordd_ack_name(const coord_state_t *st, uint32_t no, char out[COORD_ID_MAX])
{
	for (uint32_t i = 0; i < st->nnodes; i++) {
		if (st->nodes[i].no == no) {
			memcpy(out, st->nodes[i].id, COORD_ID_MAX);
			return;
		}
	}
	snprintf(out, COORD_ID_MAX, "#%" PRIu32, no);
}

/* A standby's report on the committed serial, for the active's compare before publish: one
 * that differs is shown before one that agrees (a mismatch never publishes). */
static void coordd_status_report(const coord_zone_t *z, coordrpc_zone_status_t *zs)
{
	if (!z->has_committed) {
		return;
	}
	for (uint32_t i = 0; i < z->nreports && i < COORD_NODES_MAX; i++) {
		const coord_report_t *rep = &z->reports[i];
		if (rep->serial != z->committed_serial || strcmp(rep->node, z->committed_by) == 0) {
			continue;
		}
		const char *why = "";
		bool match = coord_report_match(z, rep, &why);
		if (zs->report_serial != 0 && !zs->report_match) {
			break; /* a differing report is already shown */
		}
		zs->report_serial = rep->serial;
		memcpy(zs->report_node, rep->node, sizeof(zs->report_node));
		memcpy(zs->report_digest, rep->digest, COORD_DIGEST_LEN);
		zs->report_match = match;
		snprintf(zs->report_why, sizeof(zs->report_why), "%s%s%s", why,
			 !match && rep->why[0] != '\0' ? ": " : "", match ? "" : rep->why);
	}
}

static void coordd_status_zone(const coord_state_t *st, const coord_zone_t *z, uint64_t now,
			       coordrpc_zone_status_t *zs)
{
	const coord_node_t *h = coord_state_holder(st, z->name, now);
	memset(zs, 0, sizeof(*zs));
	memcpy(zs->name, z->name, sizeof(zs->name));
	if (h != NULL) {
		memcpy(zs->holder, h->id, sizeof(zs->holder));
		zs->expiry_ms = coord_zone_expiry(st, z); /* the node lease's, when it is later */
		zs->lease_left_ms = zs->expiry_ms > now ? zs->expiry_ms - now : 0;
	}
	zs->epoch = z->epoch;
	zs->removed = z->removed;
	zs->compare_digests = z->compare_digests;
	zs->has_committed = z->has_committed;
	zs->serial = z->committed_serial;
	memcpy(zs->digest, z->committed_digest, sizeof(zs->digest));
	zs->has_nosig = z->has_committed_nosig;
	memcpy(zs->nosig, z->committed_nosig, sizeof(zs->nosig));
	memcpy(zs->committed_by, z->committed_by, sizeof(zs->committed_by));
	zs->committed_epoch = z->committed_epoch;
	zs->sign_time = z->committed_sign_time;
	zs->input_serial = z->committed_input_serial;
	zs->base_serial = z->committed_base_serial;
	zs->full_requested = z->full_requested;
	zs->keyset_revision = z->committed_keyset_revision;
	memcpy(zs->skr_id, z->committed_skr_id, sizeof(zs->skr_id));
	memcpy(zs->policy_digest, z->committed_policy, sizeof(zs->policy_digest));
	zs->nsec3 = z->committed_nsec3;
	memcpy(zs->salt, z->committed_salt, z->committed_salt_len);
	zs->salt_len = z->committed_salt_len;
	memcpy(zs->switch_to, z->switch_to, sizeof(zs->switch_to));
	zs->alerts = z->alerts;
	zs->alert_open = z->alert_open;
	zs->alert_serial = z->alert_serial;
	memcpy(zs->alert_node, z->alert_node, sizeof(zs->alert_node));
	zs->has_accepted_input = z->has_accepted_input;
	zs->accepted_input_serial = z->accepted_input_serial;
	coordd_status_report(z, zs);
	zs->has_review_decision = z->has_review_decision;
	zs->review_serial = z->review_serial;
	zs->review_approved = z->review_approved;
	zs->review_seq = z->review_seq;
	zs->nkeys = z->nkeys;
	for (uint32_t k = 0; k < z->nkeys; k++) {
		const coord_key_t *key = &z->keys[k];
		coordrpc_key_status_t *ks = &zs->keys[k];
		ks->id = key->id;
		ks->tag = key->tag;
		ks->active = key->active;
		ks->nacks = key->nacks;
		for (uint32_t a = 0; a < key->nacks; a++) {
			coordd_ack_name(st, key->acks[a].node_no, ks->acks[a]);
		}
		ks->retired = key->retired;
		ks->retired_ms = key->retired_ms;
		ks->ndestroyed = key->ndestroyed;
		for (uint32_t a = 0; a < key->ndestroyed; a++) {
			coordd_ack_name(st, key->destroyed[a].node_no, ks->destroyed[a]);
		}
	}
}

/* A node's instance and alerts for status: those it reported, and one for another process
 * that claimed to be it within the node timeout (refused, COORD_R_INSTANCE). */
static void coordd_status_node_alerts(const coord_node_t *n, uint64_t now, const coord_params_t *p,
				      coordrpc_node_status_t *ns)
{
	memcpy(ns->instance, n->instance, sizeof(ns->instance));
	ns->nalerts = 0;
	for (uint32_t a = 0; a < n->nalerts && a < COORD_ALERTS_MAX; a++) {
		coordrpc_alert_t *o = &ns->alerts[ns->nalerts++];
		memcpy(o->zone, n->alerts[a].zone, sizeof(o->zone));
		memcpy(o->kind, n->alerts[a].kind, sizeof(o->kind));
		memcpy(o->text, n->alerts[a].text, sizeof(o->text));
		o->blocking = n->alerts[a].blocking;
	}
	if (n->rival[0] != '\0' && now >= n->rival_ms && now - n->rival_ms <= p->node_timeout_ms) {
		coordrpc_alert_t *o =
		    &ns->alerts[ns->nalerts < COORDRPC_ALERTS_MAX ? ns->nalerts++
								  : COORDRPC_ALERTS_MAX - 1];
		memset(o, 0, sizeof(*o));
		snprintf(o->kind, sizeof(o->kind), "instance");
		snprintf(o->text, sizeof(o->text),
			 "another process (instance %s) claims to be this node; its requests "
			 "are refused (last %" PRIu64 " ms ago)",
			 n->rival, now - n->rival_ms);
	}
}

static void coordd_status_clocks(const coordd_t *d, coordrpc_status_t *out);

/* The answering coordinator's metrics endpoint, for status (tandemctl, peers). */
static void coordd_metrics_address(const coordd_t *d, coordrpc_status_t *out)
{
	if (d->metrics != NULL) {
		snprintf(out->metrics, sizeof(out->metrics), "%s",
			 metrics_server_address(d->metrics));
	}
}

/*
 * The status: from a fresh read when etcd serves; when it does not (or did not at the last
 * call), at once from the state as last read, marked stale with its age and the store's
 * error, so that a lost quorum never looks like a dead coordinator. A node must not act
 * on a stale status: it gets the store's error instead, and asks another coordinator.
 */
static int coordd_status(coordd_t *d, net_role_t role, uint64_t now, net_rpc_msg_t *reply)
{
	coordrpc_status_t *out = d->status;
	bool fresh = false;
	int ret = TANDEM_OK;
	if (!d->store_down) {
		ret = coordd_read(d);
		fresh = ret == TANDEM_OK;
		if (!fresh) {
			coordd_log_diag(d->diag, "status: store read failed", ret);
		}
	}
	if (!fresh && d->store_down && role == NET_ROLE_NODE) {
		/* a node never gets a stale status: it takes lease decisions on it, so it must
		 * ask another coordinator, as when this one does not answer */
		snprintf(reply->error, sizeof(reply->error),
			 "store: %.60s: no fresh status; ask another coordinator", d->store_error);
		return strcmp(d->store_error, "etcd has no quorum") == 0 ? TANDEM_COORD_ENOQUORUM
									 : TANDEM_COORD_EUNAVAIL;
	}
	if (!fresh && (!d->store_down || d->state_ms == 0)) {
		snprintf(reply->error, sizeof(reply->error), "store: %s%s", tandem_strerror(ret),
			 d->store_down ? ", and no state was ever read" : "");
		return ret != TANDEM_OK ? ret : TANDEM_COORD_EUNAVAIL;
	}
	coordd_params_refresh(d);
	coordrpc_status_clear(out);
	if (fresh) {
		char leader[COORD_STORE_NAME_MAX + 1] = "";
		ret = coord_store_leader(d->store, d->diag, leader);
		coordd_store_note(d, ret);
		if (ret != TANDEM_OK) {
			coordd_log_diag(d->diag, "status: leader unknown", ret); /* still answer */
			leader[0] = '\0';
		}
		memcpy(d->leader_name, leader, sizeof(leader));
	}
	out->stale = !fresh;
	out->state_age_ms = !fresh && now > d->state_ms ? now - d->state_ms : 0;
	snprintf(out->store_error, sizeof(out->store_error), "%s", d->store_error);
	const coord_state_t *st = d->state;
	out->now_ms = now;
	snprintf(out->coordinator, sizeof(out->coordinator), "%s", d->opts->name);
	coordd_metrics_address(d, out);
	snprintf(out->leader, sizeof(out->leader), "%s", d->leader_name);
	out->params = d->params;
	out->params.node_timeout_ms = 0; /* not carried */
	out->params.prefer_ms = 0;
	out->params.same_site_first = false;
	out->suspended_sites = st->suspended_sites;
	/* each key set's last write, so that a node reads its zone's again only when it moved
	 * (kept like the state: a keys-only read of what was written since); unknown: 0, and
	 * the nodes read every key set now and then as before */
	if (fresh) {
		ret = coord_store_keyset_revs(d->store, d->diag);
		if (ret != TANDEM_OK && ret != d->keyset_revs_err) {
			coordd_log_diag(d->diag, "status: key set revisions", ret);
		}
		d->keyset_revs_err = ret;
		tandem_diag_clear(d->diag);
	}
	out->nzones = st->nzones;
	for (uint32_t i = 0; i < st->nzones; i++) {
		coordd_status_zone(st, &st->zones[i], now, &out->zones[i]);
		out->zones[i].keyset_now = coord_store_keyset_rev(d->store, st->zones[i].name);
	}
	out->nnodes = st->nnodes;
	for (uint32_t i = 0; i < st->nnodes; i++) {
		const coord_node_t *n = &st->nodes[i];
		coordrpc_node_status_t *ns = &out->nodes[i];
		memcpy(ns->name, n->id, sizeof(ns->name));
		memcpy(ns->publish, n->publish, sizeof(ns->publish));
		memcpy(ns->metrics, n->metrics, sizeof(ns->metrics));
		memcpy(ns->axfr, n->axfr, sizeof(ns->axfr));
		ns->site = n->site;
		ns->no = n->no;
		ns->state = n->state;
		ns->healthy = n->healthy && now >= n->last_seen_ms &&
			      now - n->last_seen_ms < d->params.node_timeout_ms;
		ns->last_seen_ms = n->last_seen_ms;
		coordd_status_node_alerts(n, now, &d->params, ns);
	}
	coordd_status_clocks(d, out);
	uint8_t *buf = NULL;
	size_t len = 0;
	ret = coordrpc_status_pack(out, &buf, &len);
	return coordd_reply_set(reply, "coord.status.reply", ret, buf, len);
}

static int coordd_rules_sync(coordd_t *d, bool at_start);

/* Whether the member named node imported, or added, a key of z (retired ones included). */
static bool coordd_node_holds(const coord_state_t *st, const coord_zone_t *z, const char *node)
{
	for (uint32_t i = 0; i < st->nnodes; i++) {
		if (strcmp(st->nodes[i].id, node) != 0) {
			continue;
		}
		for (uint32_t k = 0; k < z->nkeys; k++) {
			for (uint32_t a = 0; a < z->keys[k].nacks; a++) {
				if (z->keys[k].acks[a].node_no == st->nodes[i].no) {
					return true;
				}
			}
		}
	}
	return false;
}

/*
 * Whether a node's key fetch gets the archive entries: a node that has never held a key of
 * the zone (a new node for it) needs a grant (docs/approvals.md, "Archive distribution to a
 * new node"); why says which request to make. The first refusal of each node and zone is
 * audited (archive.refuse), not every fetch.
 */
static bool coordd_archive_allowed(coordd_t *d, const net_rpc_request_t *req, const coord_zone_t *z,
				   char *why, size_t size)
{
	if (req->role != NET_ROLE_NODE || coordd_node_holds(d->zstate, z, req->peer)) {
		return true;
	}
	char pair[COORD_ID_MAX + COORD_ZONE_MAX + 2];
	snprintf(pair, sizeof(pair), "%s %s", req->peer, z->name);
	size_t slot = COORDD_GRANT_REFUSED_MAX;
	for (size_t i = 0; i < COORDD_GRANT_REFUSED_MAX; i++) {
		slot = strcmp(d->grant_refused[i], pair) == 0 ? i : slot;
	}
	(void)coordd_rules_sync(d, false);
	if (coordd_grants_allow(&d->requests, d->store, d->diag, req->peer, z->name, why, size)) {
		if (slot < COORDD_GRANT_REFUSED_MAX) {
			d->grant_refused[slot][0] = '\0'; /* a later refusal is news again */
		}
		return true;
	}
	if (slot == COORDD_GRANT_REFUSED_MAX) {
		slot = d->grant_refused_next++ % COORDD_GRANT_REFUSED_MAX;
		snprintf(d->grant_refused[slot], sizeof(d->grant_refused[slot]), "%s", pair);
		coordd_log("archive: %s", why);
		tandem_audit_event_t ev = {.type = "archive.refuse",
					   .level = TANDEM_AUDIT_WARNING,
					   .actor = d->actor,
					   .zone = z->name,
					   .key_id = -1,
					   .details = why};
		tandem_audit(&d->sink, &ev);
	}
	return false;
}

/* A zone's keys as the state has them, each with the archive entry it was added with (not
 * to a node that may not import them yet: coordd_archive_allowed). */
static int coordd_keys(coordd_t *d, const net_rpc_request_t *req, const char *zone,
		       net_rpc_msg_t *reply)
{
	coordrpc_keys_t *out = d->keys;
	coord_store_archive_t *arch = NULL;
	int ret = coordd_read_zone(d, zone);
	if (ret == TANDEM_OK) {
		ret = coord_store_archive_list(d->store, zone, d->diag, &arch);
	}
	if (ret != TANDEM_OK) {
		coordd_log_diag(d->diag, "keys: store read failed", ret);
		snprintf(reply->error, sizeof(reply->error), "store: %s", tandem_strerror(ret));
		goto out;
	}
	const coord_zone_t *z = coord_state_zone(d->zstate, zone);
	if (z == NULL) {
		snprintf(reply->error, sizeof(reply->error),
			 "coord.keys.get: zone %.120s is not known", zone);
		ret = TANDEM_ENOENT;
		goto out;
	}
	memset(out, 0, sizeof(*out));
	memcpy(out->zone, z->name, sizeof(out->zone));
	bool give = coordd_archive_allowed(d, req, z, out->withheld, sizeof(out->withheld));
	for (uint32_t k = 0; k < z->nkeys; k++) {
		const coord_key_t *key = &z->keys[k];
		if (key->retired) {
			continue; /* destroyed in the HSMs: no node imports it again */
		}
		coordrpc_key_entry_t *e = &out->keys[out->nkeys++];
		e->id = key->id;
		e->tag = key->tag;
		e->active = key->active;
		e->nacks = key->nacks;
		for (uint32_t a = 0; a < key->nacks; a++) {
			coordd_ack_name(d->zstate, key->acks[a].node_no, e->acks[a]);
		}
		for (size_t i = 0; give && i < arch->n; i++) {
			if (arch->entries[i].id == key->id &&
			    arch->entries[i].len <= COORDRPC_ARCHIVE_MAX) {
				e->archive = arch->entries[i].value; /* borrowed until packed */
				e->archive_len = arch->entries[i].len;
			}
		}
	}
	uint8_t *buf = NULL;
	size_t len = 0;
	ret = coordrpc_keys_pack(out, &buf, &len);
	memset(out, 0, sizeof(*out)); /* the archives were borrowed */
	ret = coordd_reply_set(reply, "coord.keys.reply", ret, buf, len);
out:
	coord_store_archive_free(arch);
	return ret;
}

/* The stored names of the per-zone documents, for messages. */
static const char *coordd_doc_name(coord_doc_t doc)
{
	return doc == COORD_DOC_SKR ? "SKR book" : "key set";
}

/* A zone's key set or SKR book as stored (none yet: no bytes, revision 0). A removed zone,
 * or an unknown one for the SKR book: TANDEM_ENOENT (an offline-KSK zone's key set is
 * written before the zone is added). */
static int coordd_doc_get(coordd_t *d, coord_doc_t doc, const char *zone, net_rpc_msg_t *reply)
{
	const char *type = doc == COORD_DOC_SKR ? "coord.skr" : "coord.keyset";
	coordrpc_keyset_t ks;
	memset(&ks, 0, sizeof(ks));
	int ret = coordd_read_zone(d, zone);
	if (ret != TANDEM_OK) {
		coordd_log_diag(d->diag, "keyset: store read failed", ret);
		snprintf(reply->error, sizeof(reply->error), "store: %s", tandem_strerror(ret));
		return ret;
	}
	const coord_zone_t *z = coord_state_zone(d->zstate, zone);
	if ((z == NULL && doc == COORD_DOC_SKR) || (z != NULL && z->removed)) {
		snprintf(reply->error, sizeof(reply->error), "%s.get: zone %.120s is not known%s",
			 type, zone, z != NULL ? " (removed)" : "");
		return TANDEM_ENOENT;
	}
	snprintf(ks.zone, sizeof(ks.zone), "%s", zone);
	ret = coord_store_doc_get(d->store, doc, zone, d->diag, &ks.keyset, &ks.keyset_len,
				  &ks.revision);
	if (ret != TANDEM_OK) {
		coordd_log_diag(d->diag, "keyset: store read failed", ret);
		snprintf(reply->error, sizeof(reply->error), "store: %s", tandem_strerror(ret));
		return ret;
	}
	uint8_t *buf = NULL;
	size_t len = 0;
	ret = coordrpc_keyset_pack(&ks, &buf, &len);
	coordrpc_keyset_deinit(&ks);
	return coordd_reply_set(
	    reply, doc == COORD_DOC_SKR ? "coord.skr.reply" : "coord.keyset.reply", ret, buf, len);
}

/* A decision taken here, not by the machine (a key set put): the result says why. */
static void coordd_refuse(coord_result_t *res, coord_reason_t reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void coordd_refuse(coord_result_t *res, coord_reason_t reason, const char *fmt, ...)
{
	va_list ap;
	memset(res, 0, offsetof(coord_result_t, effects));
	res->reason = reason;
	va_start(ap, fmt);
	vsnprintf(res->text, sizeof(res->text), fmt, ap);
	va_end(ap);
}

/*
 * Whether a node may write the zone's key set now: a member, not fenced, the holder of a
 * lease that has not expired, with the zone's current epoch. A refusal fills res.
 */
static bool coordd_keyset_holder_ok(coordd_t *d, const coordrpc_request_t *r, const coord_zone_t *z,
				    uint64_t now)
{
	const coord_node_t *n = coord_state_node(d->zstate, r->node);
	if (n == NULL) {
		coordd_refuse(d->res, COORD_R_UNKNOWN_NODE, "node %s: not a member", r->node);
		return false;
	}
	if (n->state == COORD_NODE_FENCED) {
		coordd_refuse(d->res, COORD_R_FENCED, "node %s: fenced", r->node);
		return false;
	}
	if (r->epoch != z->epoch) {
		coordd_refuse(d->res, COORD_R_STALE_EPOCH,
			      "zone %s: epoch %" PRIu64 " is not the current %" PRIu64
			      ": the key set is the holder's",
			      z->name, r->epoch, z->epoch);
		return false;
	}
	if (strcmp(z->holder, r->node) != 0) {
		coordd_refuse(d->res, COORD_R_NOT_HOLDER,
			      "zone %s: %s does not hold the lease: the key set is the holder's",
			      z->name, r->node);
		return false;
	}
	if (now >= coord_zone_expiry(d->zstate, z)) {
		coordd_refuse(d->res, COORD_R_LEASE_EXPIRED,
			      "zone %s: the lease of %s expired: ask for it anew", z->name,
			      r->node);
		return false;
	}
	return true;
}

/*
 * Checks a put's bytes: a key set of the request's zone, or an SKR book of it whose every
 * request and response is well formed and every response verifies against its request
 * (kasp_skrbook_unpack). A refusal fills reply->error: TANDEM_EINVAL.
 */
static int coordd_doc_check(coordd_t *d, coord_doc_t doc, const coordrpc_request_t *r,
			    net_rpc_msg_t *reply)
{
	const char *type = doc == COORD_DOC_SKR ? "coord.skr.put" : "coord.keyset.put";
	char what[64];
	snprintf(what, sizeof(what), "%s: keyset", type);
	tandem_diag_clear(d->diag);
	int ret;
	if (doc == COORD_DOC_SKR) {
		kasp_skrbook_t book;
		ret = kasp_skrbook_unpack(r->keyset, r->keyset_len, r->zone, d->diag, &book);
		kasp_skrbook_deinit(&book);
	} else {
		ret = kasp_keyset_unpack(r->keyset, r->keyset_len, what, d->diag, d->keyset);
		if (ret == TANDEM_OK && strcmp(d->keyset->zone, r->zone) != 0) {
			tandem_diag_add(d->diag, TANDEM_EINVAL,
					"%s: the key set of zone %.60s, not of %.60s", what,
					d->keyset->zone, r->zone);
			ret = TANDEM_EINVAL;
		}
	}
	if (ret != TANDEM_OK) {
		/* a key set's messages name the field; a book's first message is the cause and
		 * its last says which pair */
		size_t n = tandem_diag_kept(d->diag);
		const char *first = n > 0 ? tandem_diag_msg(d->diag, 0) : NULL;
		const char *last = n > 1 ? tandem_diag_msg(d->diag, n - 1) : NULL;
		if (doc == COORD_DOC_KEYSET) {
			snprintf(reply->error, sizeof(reply->error), "%s",
				 first != NULL ? first : "coord.keyset.put: keyset: not a key set");
		} else {
			snprintf(reply->error, sizeof(reply->error), "%s: %s%s%s", type,
				 first != NULL ? first : "not an SKR book",
				 last != NULL ? "; " : "", last != NULL ? last : "");
		}
		tandem_diag_clear(d->diag);
		return TANDEM_EINVAL;
	}
	return TANDEM_OK;
}

/* The audit events of a key-set write that marked a DS seen or gone at the parent: their
 * own types (DPS 4.4.1), besides the write's operator.accept. */
static void coordd_ds_events(coordd_t *d, const char *zone, const kasp_keyset_t *old,
			     const kasp_keyset_t *next)
{
	kasp_ds_change_t ch[KASP_KEYS_MAX];
	size_t n = kasp_keyset_ds_changes(old, next, ch, KASP_KEYS_MAX);
	char details[256];
	for (size_t i = 0; i < n; i++) {
		snprintf(details, sizeof(details),
			 "zone %.100s: the parent %s the DS of KSK %" PRIu32 " (tag %u)", zone,
			 ch[i].seen ? "serves" : "no longer serves", ch[i].id, ch[i].tag);
		tandem_audit_event_t ev = {.type = ch[i].seen ? "ds.seen" : "ds.gone",
					   .level = TANDEM_AUDIT_NOTICE,
					   .actor = d->actor,
					   .zone = zone,
					   .key_id = ch[i].id,
					   .details = details};
		tandem_audit(&d->sink, &ev);
	}
}

/*
 * A key set or SKR book put: the bytes must pass coordd_doc_check (else an error reply);
 * the zone live (an operator may write a key set before the zone is added: an
 * offline-KSK zone starts from its imported KSKs); a node must hold its lease now;
 * then one conditional write at the revision the writer read. A lost compare is a
 * refusal, COORD_R_CONFLICT. Fills d->res and, when written, *revision (else 0); errors
 * are the store's or TANDEM_EINVAL.
 */
static int coordd_doc_put(coordd_t *d, coord_doc_t doc, const net_rpc_request_t *req,
			  const coordrpc_request_t *r, uint64_t now, int64_t *revision,
			  net_rpc_msg_t *reply)
{
	*revision = 0;
	int ret = coordd_doc_check(d, doc, r, reply);
	if (ret != TANDEM_OK) {
		return ret;
	}
	ret = coordd_read_zone(d, r->zone);
	if (ret != TANDEM_OK) {
		coordd_log_diag(d->diag, "put: store read failed", ret);
		snprintf(reply->error, sizeof(reply->error), "store: %s", tandem_strerror(ret));
		return ret;
	}
	const coord_zone_t *z = coord_state_zone(d->zstate, r->zone);
	bool early = z == NULL && doc == COORD_DOC_KEYSET && req->role == NET_ROLE_OPERATOR;
	if ((z == NULL && !early) || (z != NULL && z->removed)) {
		coordd_refuse(d->res, COORD_R_UNKNOWN_ZONE, "zone %s: not known%s", r->zone,
			      z != NULL ? " (removed)" : "");
		return TANDEM_OK;
	}
	/* The holder check and the write are two steps: a new holder is granted no earlier
	 * than the old expiry plus the margin, far longer than the write takes, and it
	 * writes at the revision it read, so an old holder's late write loses the compare. */
	if (req->role == NET_ROLE_NODE && !coordd_keyset_holder_ok(d, r, z, now)) {
		return TANDEM_OK;
	}
	/* an operator's emergency (a key newly compromised) is an approved action */
	uint32_t cid = 0;
	char args[COORD_ARGS_MAX], why[COORD_TEXT_MAX];
	if (doc == COORD_DOC_KEYSET && req->role == NET_ROLE_OPERATOR &&
	    coordd_keys_new_compromise(d->store, d->diag, d->keyset, &cid)) {
		snprintf(args, sizeof(args), "zone=%.200s key=%" PRIu32, r->zone, cid);
		if (coordd_requests_direct_refused(&d->requests, "keys-emergency", args, why,
						   sizeof(why))) {
			coordd_refuse(d->res, COORD_R_BAD_INPUT, "%s", why);
			return TANDEM_OK;
		}
	}
	/* so is a manual rollover: key generation outside the schedule (DPS 4.2.2) */
	kasp_role_t roll_role = KASP_ROLE_ZSK;
	if (doc == COORD_DOC_KEYSET && req->role == NET_ROLE_OPERATOR &&
	    coordd_keys_new_roll(d->store, d->diag, d->keyset, &roll_role)) {
		snprintf(args, sizeof(args), "zone=%.200s role=%s", r->zone,
			 roll_role == KASP_ROLE_KSK ? "ksk" : "zsk");
		if (coordd_requests_direct_refused(&d->requests, "keygen", args, why,
						   sizeof(why))) {
			coordd_refuse(d->res, COORD_R_BAD_INPUT, "%s", why);
			return TANDEM_OK;
		}
	}
	/* the key set before, for the DS events of this write (ds.seen, ds.gone) */
	kasp_keyset_t *before = doc == COORD_DOC_KEYSET ? malloc(sizeof(*before)) : NULL;
	int64_t before_rev = 0;
	int bret = before == NULL
		       ? TANDEM_OK
		       : coordd_keys_read(d->store, d->diag, r->zone, before, &before_rev);
	if (bret != TANDEM_OK) {
		coordd_log_diag(d->diag, "put: the key set before unreadable (no DS events)", bret);
		free(before);
		before = NULL;
	}
	bool won = false;
	int64_t rev = 0;
	ret = coord_store_doc_put(d->store, doc, r->zone, r->keyset, r->keyset_len, r->revision,
				  d->diag, &won, &rev);
	if (ret == TANDEM_OK && won && before != NULL) {
		coordd_ds_events(d, r->zone, before_rev != 0 ? before : NULL, d->keyset);
	}
	free(before);
	if (ret != TANDEM_OK) {
		coordd_log_diag(d->diag, "put: store write failed", ret);
		snprintf(reply->error, sizeof(reply->error), "store: %s", tandem_strerror(ret));
		return ret;
	}
	if (!won) {
		coordd_refuse(d->res, COORD_R_CONFLICT,
			      "zone %s: the %s changed since revision %" PRId64 " (now at %" PRId64
			      "): read it again",
			      r->zone, coordd_doc_name(doc), r->revision, rev);
		return TANDEM_OK;
	}
	coordd_refuse(d->res, COORD_R_OK, "zone %s: %s written at revision %" PRId64, r->zone,
		      coordd_doc_name(doc), rev);
	*revision = rev;
	return TANDEM_OK;
}

static void coordd_log_effects(const coord_result_t *res)
{
	for (size_t i = 0; i < res->neffects; i++) {
		const coord_effect_t *e = &res->effects[i];
		if (e->kind == COORD_EFF_LEASE_FREE) {
			continue; /* a hint repeated at every tick, not an event */
		}
		if (e->kind != COORD_EFF_COMMIT && e->kind != COORD_EFF_DIGEST_MATCH) {
			coordd_log("effect: %s", e->text);
			continue;
		}
		/* a commit and a standby's agreement: every cycle of every zone (level info) */
		tandem_logf_info("effect: %s", e->text);
	}
}

/* Decides one input through the store and logs what it did. archive: KEY_ADD only. */
static int coordd_decide(coordd_t *d, const coord_input_t *in, const coordrpc_request_t *r,
			 uint64_t now, const char *who)
{
	int ret = in->kind == COORD_IN_KEY_ADD && r != NULL
		      ? coord_store_apply_key_add(d->store, in, now, &d->params, r->archive,
						  r->archive_len, d->diag, d->res)
		      : coord_store_apply(d->store, in, now, &d->params, d->diag, d->res);
	coordd_store_note(d, ret);
	if (ret != TANDEM_OK) {
		coordd_log_diag(d->diag, coord_input_kind_str(in->kind), ret);
		return ret;
	}
	if (d->res->reason != COORD_R_OK) {
		coordd_log("refused %s from %s: %s: %s", coord_input_kind_str(in->kind), who,
			   coord_reason_str(d->res->reason), d->res->text);
	}
	coordd_log_effects(d->res);
	coordd_audit_decision(d->audit, d->actor, in, d->res);
	/* A renewal, a commit or a digest report moves no timer earlier and fences no one:
	 * with hundreds of zones they come several times a second, and a tick or a fence
	 * sweep after each would read every zone each time. */
	bool routine = in->kind == COORD_IN_LEASE_RENEW || in->kind == COORD_IN_COMMIT ||
		       in->kind == COORD_IN_DIGEST_REPORT;
	if (d->res->changed && !routine) {
		d->next_tick_ms = now; /* new timers may be due earlier */
		d->fence_due = true;   /* a takeover fences at once */
	}
	return TANDEM_OK;
}

/* The decision reply: the machine's result with its effects' texts. */
static int coordd_decision_reply(const coord_result_t *res, int64_t revision, net_rpc_msg_t *reply)
{
	coordrpc_decision_t dec;
	memset(&dec, 0, sizeof(dec));
	dec.accepted = res->reason == COORD_R_OK;
	dec.reason = res->reason;
	memcpy(dec.text, res->text, sizeof(dec.text));
	dec.epoch = res->epoch;
	dec.expiry_ms = res->expiry_ms;
	dec.revision = revision;
	for (size_t i = 0; i < res->neffects; i++) {
		if (dec.neffects == COORDRPC_EFFECTS_MAX) {
			dec.neffects_dropped++;
			continue;
		}
		memcpy(dec.effects[dec.neffects++], res->effects[i].text, COORD_TEXT_MAX);
	}
	dec.neffects_dropped += res->dropped;
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret = coordrpc_decision_pack(&dec, &buf, &len);
	return coordd_reply_set(reply, "coord.decision", ret, buf, len);
}

/* A takeover without force: refused here, before the machine sees it. */
/*
 * A key leaves the cluster's key table (acks, lease gating) only once the stored key set
 * says it is removed (or no longer has it): no node can drop a key still in use. When
 * not, fills d->res with the refusal and returns false.
 */
static bool coordd_key_removable(coordd_t *d, const coordrpc_request_t *r)
{
	coord_result_t *res = d->res;
	memset(res, 0, offsetof(coord_result_t, effects));
	uint8_t *buf = NULL;
	size_t len = 0;
	int64_t rev = 0;
	kasp_keyset_t *set = calloc(1, sizeof(*set));
	int ret = set == NULL ? TANDEM_ENOMEM
			      : coord_store_doc_get(d->store, COORD_DOC_KEYSET, r->zone, d->diag,
						    &buf, &len, &rev);
	if (ret == TANDEM_OK && rev != 0) {
		ret = kasp_keyset_unpack(buf, len, "stored key set", d->diag, set);
	}
	const kasp_key_t *k =
	    ret == TANDEM_OK && rev != 0 ? kasp_keyset_find(set, r->key_id) : NULL;
	bool ok = ret == TANDEM_OK && rev != 0 && (k == NULL || k->state == KASP_KEY_REMOVED);
	if (!ok) {
		res->reason = ret != TANDEM_OK ? COORD_R_BAD_INPUT : COORD_R_BUSY;
		snprintf(res->text, sizeof(res->text), "zone %.100s: key %u not removed: %s",
			 r->zone, r->key_id,
			 ret != TANDEM_OK ? tandem_strerror(ret)
			 : rev == 0       ? "the zone has no key set"
					  : kasp_key_state_str(k->state));
	}
	tandem_diag_clear(d->diag);
	free(buf);
	free(set);
	return ok;
}

/*
 * A retired key whose archive retention is over leaves the table, and its archive entry is
 * emptied: decided first on the state as read (nothing written), then the entry emptied,
 * then the decision applied through the store. An entry emptied under a decision that then
 * loses a race is emptied again by the next purge; the empty entry stays, so the key's id
 * is never added again (coord.key.add refuses an existing entry).
 */
static int coordd_key_purge(coordd_t *d, const net_rpc_request_t *req, const coordrpc_request_t *r,
			    uint64_t now, net_rpc_msg_t *reply)
{
	coord_input_t in;
	coord_state_t *after = malloc(sizeof(*after));
	int ret = after == NULL ? TANDEM_ENOMEM : coordd_input(d, req, r, &in, reply);
	if (ret == TANDEM_OK) {
		ret = coordd_read(d);
	}
	if (ret == TANDEM_OK) {
		ret = coord_state_apply(d->state, &in, now, &d->params, after, d->res);
	}
	free(after);
	if (ret == TANDEM_OK && d->res->reason == COORD_R_OK) {
		ret = coord_store_archive_clear(d->store, r->zone, r->key_id, d->diag);
		if (ret != TANDEM_OK) {
			coordd_log_diag(d->diag, "key purge: archive entry not emptied", ret);
		}
	}
	if (ret == TANDEM_OK && d->res->reason == COORD_R_OK) {
		ret = coordd_decide(d, &in, r, now, req->peer);
	} else if (ret == TANDEM_OK) {
		coordd_log("refused key-purge from %s: %s", req->peer, d->res->text);
	}
	if (ret != TANDEM_OK) {
		snprintf(reply->error, sizeof(reply->error), "store: %s", tandem_strerror(ret));
		return ret;
	}
	return coordd_decision_reply(d->res, 0, reply);
}

static int coordd_takeover_unforced(coordd_t *d, const coordrpc_request_t *r, net_rpc_msg_t *reply)
{
	coord_result_t *res = d->res;
	memset(res, 0, offsetof(coord_result_t, effects));
	res->reason = COORD_R_BAD_INPUT;
	snprintf(res->text, sizeof(res->text),
		 "takeover by site %c not done: it fences every node of every other site; "
		 "send it again with force to confirm",
		 coordd_site(r->site));
	return coordd_decision_reply(res, 0, reply);
}

static bool coordd_parse_u64(const char *s, uint64_t *out);

/* The approval rules are one cluster-wide value in etcd (PREFIX/approval-rules). At start
 * the first coordinator writes its own (the DPS defaults, or --approval-rules over them); a
 * coordinator whose file differs from the stored rules says so and uses the cluster's.
 * Before each operator request the stored rules are read again (changed only by an approved
 * rules-set). A stored text that does not parse is refused and the rules in force stay. */
static int coordd_rules_sync(coordd_t *d, bool at_start)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int64_t rev = 0;
	int ret = coord_store_doc_get(d->store, COORD_DOC_RULES, "", d->diag, &buf, &len, &rev);
	coordd_store_note(d, ret);
	if (ret != TANDEM_OK) {
		if (at_start) {
			coordd_log_diag(d->diag, "approval rules: cannot read them from etcd", ret);
		}
		tandem_diag_clear(d->diag);
		free(buf);
		return ret;
	}
	char *text = malloc(len + 1);
	char mine[64u * COORD_RULES_MAX], theirs[64u * COORD_RULES_MAX], why[160];
	coord_rules_t *r = malloc(sizeof(*r));
	if (text == NULL || r == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	memcpy(text, buf != NULL ? (const char *)buf : "", len);
	text[len] = '\0';
	if (rev == 0 && at_start) {
		bool won = false;
		int64_t nrev = 0;
		ret = coord_rules_format(&d->rules, mine, sizeof(mine));
		if (ret == TANDEM_OK) {
			ret = coord_store_doc_put(d->store, COORD_DOC_RULES, "",
						  (const uint8_t *)mine, strlen(mine), 0, d->diag,
						  &won, &nrev);
		}
		if (ret == TANDEM_OK && won) {
			d->rules_rev = nrev;
			coordd_log("approval rules written to etcd: the cluster's from now on");
		} else if (ret == TANDEM_OK) {
			ret = coordd_rules_sync(d, true); /* another coordinator was first */
		}
		goto out;
	}
	if (rev == 0 || rev == d->rules_rev) {
		goto out;
	}
	coord_rules_default(r);
	if (coord_rules_parse(text, r, why, sizeof(why)) != TANDEM_OK) {
		coordd_log("approval rules in etcd refused (%s): the rules in force stay", why);
		ret = at_start ? TANDEM_EINVAL : TANDEM_OK;
		goto out;
	}
	if (at_start && coord_rules_format(&d->rules, mine, sizeof(mine)) == TANDEM_OK &&
	    coord_rules_format(r, theirs, sizeof(theirs)) == TANDEM_OK &&
	    strcmp(mine, theirs) != 0) {
		coordd_log("approval rules: %s differ from the cluster's in etcd; the cluster's "
			   "apply (change them with tandemctl request rules-set)",
			   d->opts->approval_rules != NULL ? "--approval-rules" : "the defaults");
	}
	d->rules = *r;
	d->rules_rev = rev;
out:
	tandem_diag_clear(d->diag);
	free(buf);
	free(text);
	free(r);
	return ret;
}

/* The approved "rules-set action=A slots=S": the stored rules with A's rule replaced,
 * written at the revision read. */
static int coordd_rules_set(coordd_t *d, const char *action, const char *slots, bool *accepted,
			    char *text, size_t size)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int64_t rev = 0, nrev = 0;
	bool won = false;
	char line[COORD_ACTION_MAX + COORD_ARGS_MAX + 4], out[64u * COORD_RULES_MAX], why[160];
	coord_rules_t *r = malloc(sizeof(*r));
	char *stored = NULL;
	*accepted = false;
	int ret = r == NULL ? TANDEM_ENOMEM
			    : coord_store_doc_get(d->store, COORD_DOC_RULES, "", d->diag, &buf,
						  &len, &rev);
	if (ret == TANDEM_OK && (stored = malloc(len + 1)) == NULL) {
		ret = TANDEM_ENOMEM;
	}
	if (ret != TANDEM_OK) {
		snprintf(text, size, "the approval rules are unreadable: %s", tandem_strerror(ret));
		goto out;
	}
	memcpy(stored, buf != NULL ? (const char *)buf : "", len);
	stored[len] = '\0';
	snprintf(line, sizeof(line), "%s %s", action, slots);
	for (char *p = line; *p != '\0'; p++) {
		*p = *p == ',' ? ' ' : *p;
	}
	coord_rules_default(r);
	if (coord_rules_parse(stored, r, why, sizeof(why)) != TANDEM_OK ||
	    coord_rules_parse(line, r, why, sizeof(why)) != TANDEM_OK ||
	    coord_rules_format(r, out, sizeof(out)) != TANDEM_OK) {
		snprintf(text, size, "rules-set %s %s: %s: nothing changed", action, slots, why);
		goto out;
	}
	ret = coord_store_doc_put(d->store, COORD_DOC_RULES, "", (const uint8_t *)out, strlen(out),
				  rev, d->diag, &won, &nrev);
	if (ret != TANDEM_OK) {
		snprintf(text, size, "rules-set: %s", tandem_strerror(ret));
		goto out;
	}
	if (!won) {
		snprintf(text, size, "the approval rules changed meanwhile: request it again");
		goto out;
	}
	d->rules = *r;
	d->rules_rev = nrev;
	*accepted = true;
	char need[96];
	snprintf(text, size, "approval rules: %s now needs %s (revision %" PRId64 ")", action,
		 coord_rule_str(coord_rule_find(r, action), need, sizeof(need)), nrev);
out:
	tandem_diag_clear(d->diag);
	free(buf);
	free(stored);
	free(r);
	return ret;
}

/* The first archive-distribution grant table, from --archive-grant, when etcd has none. */
static int coordd_grants_start(coordd_t *d)
{
	char text[COORD_TEXT_MAX], details[COORD_TEXT_MAX + 96];
	bool written = false;
	snprintf(d->actor, sizeof(d->actor), "coord:%s", d->opts->name);
	int ret = coordd_grants_bootstrap(d->store, d->diag, d->opts->grants, d->opts->ngrants,
					  &written, text, sizeof(text));
	if (ret != TANDEM_OK) {
		coordd_log_diag(d->diag, "archive grants: not written", ret);
		tandem_diag_clear(d->diag);
		return ret == TANDEM_EINVAL ? ret : TANDEM_OK; /* the store: the check says no */
	}
	if (written) {
		snprintf(details, sizeof(details),
			 "first grant table: %s may import every zone's keys from the archive",
			 text);
		coordd_log("archive grants: %s", details);
		tandem_audit_event_t ev = {.type = "archive.grant",
					   .level = TANDEM_AUDIT_NOTICE,
					   .actor = d->actor,
					   .zone = NULL,
					   .key_id = -1,
					   .details = details};
		tandem_audit(&d->sink, &ev);
	}
	return TANDEM_OK;
}

/* The cluster's production flag (PREFIX/production: "on" or "off"; none is off), read
 * linearizably. */
static int coordd_production_get(coordd_t *d, bool *on, int64_t *rev)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret = coord_store_doc_get(d->store, COORD_DOC_PRODUCTION, "", d->diag, &buf, &len, rev);
	coordd_store_note(d, ret);
	if (ret == TANDEM_OK) {
		*on = len == 2 && memcmp(buf, "on", 2) == 0;
	}
	free(buf);
	tandem_diag_clear(d->diag);
	return ret;
}

/* Sets the production flag, conditioned on the revision read; *accepted and text say what
 * became of it. Errors: the store's. */
static int coordd_production_set(coordd_t *d, bool on, bool *accepted, char *text, size_t size)
{
	bool was = false, won = false;
	int64_t rev = 0, nrev = 0;
	*accepted = false;
	int ret = coordd_production_get(d, &was, &rev);
	if (ret != TANDEM_OK) {
		snprintf(text, size, "the production flag is unreadable: %s", tandem_strerror(ret));
		return ret;
	}
	if (was == on) {
		*accepted = true;
		snprintf(text, size, "production: %s (unchanged)", on ? "on" : "off");
		return TANDEM_OK;
	}
	const char *v = on ? "on" : "off";
	ret = coord_store_doc_put(d->store, COORD_DOC_PRODUCTION, "", (const uint8_t *)v, strlen(v),
				  rev, d->diag, &won, &nrev);
	coordd_store_note(d, ret);
	tandem_diag_clear(d->diag);
	if (ret != TANDEM_OK) {
		snprintf(text, size, "production %s: %s", v, tandem_strerror(ret));
		return ret;
	}
	if (!won) {
		snprintf(text, size, "the production flag changed meanwhile: ask again");
		return TANDEM_OK;
	}
	*accepted = true;
	snprintf(text, size, "production: %s", v);
	return TANDEM_OK;
}

/* coord.production: read the flag (action ""), or set it ("on"; "off" arrives here only when
 * no approval rule reserves it, or from an approved request). Audited when it sets. */
static int coordd_production(coordd_t *d, const net_rpc_request_t *req, const coordrpc_request_t *r,
			     net_rpc_msg_t *reply)
{
	coord_result_t *res = d->res;
	bool accepted = false, on = false;
	int64_t rev = 0;
	int ret;
	memset(res, 0, offsetof(coord_result_t, effects));
	if (r->action[0] == '\0') {
		ret = coordd_production_get(d, &on, &rev);
		if (ret != TANDEM_OK) {
			snprintf(reply->error, sizeof(reply->error), "store: %s",
				 tandem_strerror(ret));
			return ret;
		}
		snprintf(res->text, sizeof(res->text), "production: %s", on ? "on" : "off");
		return coordd_decision_reply(res, 0, reply);
	}
	if (strcmp(r->action, "on") != 0 && strcmp(r->action, "off") != 0) {
		res->reason = COORD_R_BAD_INPUT;
		snprintf(res->text, sizeof(res->text), "production: '%.20s' is not on or off",
			 r->action);
		coordd_audit(d, req, r, false, res->text);
		return coordd_decision_reply(res, 0, reply);
	}
	ret = coordd_production_set(d, strcmp(r->action, "on") == 0, &accepted, res->text,
				    sizeof(res->text));
	if (ret != TANDEM_OK) {
		snprintf(reply->error, sizeof(reply->error), "store: %s", tandem_strerror(ret));
		coordd_audit(d, req, r, false, reply->error);
		return ret;
	}
	res->reason = accepted ? COORD_R_OK : COORD_R_CONFLICT;
	coordd_log("%s production %s from %s: %s", accepted ? "accepted" : "refused", r->action,
		   req->peer, res->text);
	coordd_audit(d, req, r, accepted, res->text);
	return coordd_decision_reply(res, 0, reply);
}

/* coord.drill.note: tandemctl drill's own audit entries (drill.start, drill.end). */
static int coordd_drill_note(coordd_t *d, const net_rpc_request_t *req, const coordrpc_request_t *r,
			     net_rpc_msg_t *reply)
{
	coord_result_t *res = d->res;
	char details[AUDIT_DETAILS_MAX];
	memset(res, 0, offsetof(coord_result_t, effects));
	if (strcmp(r->action, "drill.start") != 0 && strcmp(r->action, "drill.end") != 0) {
		res->reason = COORD_R_BAD_INPUT;
		snprintf(res->text, sizeof(res->text),
			 "drill note '%.32s': drill.start or drill.end", r->action);
		coordd_audit(d, req, r, false, res->text);
		return coordd_decision_reply(res, 0, reply);
	}
	for (const char *p = r->args; *p != '\0'; p++) {
		if (*p < 0x20 || *p > 0x7e) {
			res->reason = COORD_R_BAD_INPUT;
			snprintf(res->text, sizeof(res->text),
				 "drill note: arguments must be printable ASCII");
			coordd_audit(d, req, r, false, res->text);
			return coordd_decision_reply(res, 0, reply);
		}
	}
	snprintf(details, sizeof(details), "%s", r->args);
	tandem_audit_event_t ev = {.type = r->action,
				   .level = TANDEM_AUDIT_NOTICE,
				   .actor = d->actor,
				   .zone = NULL,
				   .key_id = -1,
				   .details = details};
	tandem_audit(&d->sink, &ev);
	coordd_log("audit note %s from %s: %s", r->action, req->peer, r->args);
	snprintf(res->text, sizeof(res->text), "%s audited", r->action);
	return coordd_decision_reply(res, 0, reply);
}

/* Executes an approved request through the machine, as its direct command would. */
static int coordd_request_exec(void *arg, const coord_request_t *q, uint64_t now, bool *accepted,
			       char *text, size_t size, coordrpc_decision_t *dec)
{
	coordd_t *d = arg;
	coordrpc_request_t *r = calloc(1, sizeof(*r));
	net_rpc_msg_t *reply = calloc(1, sizeof(*reply));
	net_rpc_request_t req = {.peer = q->id, .role = NET_ROLE_OPERATOR};
	char site[4] = "", lease[24] = "", margin[24] = "";
	coord_input_t in;
	int ret = r == NULL || reply == NULL ? TANDEM_ENOMEM : TANDEM_OK;
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (strcmp(q->action, "takeover") == 0 || strcmp(q->action, "site-suspend") == 0) {
		r->kind = q->action[0] == 't' ? COORDRPC_TAKEOVER : COORDRPC_SITE_SUSPEND;
		r->force = true;
		ret =
		    coord_args_get(q->args, "site", site, sizeof(site)) ? TANDEM_OK : TANDEM_EINVAL;
		r->site = (uint32_t)(site[0] - 'A');
	} else if (strcmp(q->action, "params-set") == 0) {
		r->kind = COORDRPC_PARAMS_SET;
		ret = coord_args_get(q->args, "lease_ms", lease, sizeof(lease)) &&
			      coord_args_get(q->args, "margin_ms", margin, sizeof(margin)) &&
			      coordd_parse_u64(lease, &r->lease_ms) &&
			      coordd_parse_u64(margin, &r->margin_ms)
			  ? TANDEM_OK
			  : TANDEM_EINVAL;
	} else if (strcmp(q->action, "keys-emergency") == 0) {
		char zone[COORD_ZONE_MAX], key[16];
		uint64_t id = 0;
		if (coord_args_get(q->args, "zone", zone, sizeof(zone)) &&
		    coord_args_get(q->args, "key", key, sizeof(key)) &&
		    coordd_parse_u64(key, &id) && id <= UINT32_MAX) {
			ret = coordd_keys_emergency(d->store, d->diag, zone, (uint32_t)id, now,
						    accepted, text, size);
			coordd_store_note(d, ret);
			goto out;
		}
		ret = TANDEM_EINVAL;
	} else if (strcmp(q->action, "archive-distribute") == 0) {
		char node[COORD_ID_MAX] = "", zone[COORD_ZONE_MAX] = "";
		if (coord_args_get(q->args, "node", node, sizeof(node))) {
			(void)coord_args_get(q->args, "zone", zone, sizeof(zone));
			ret =
			    coordd_grants_add(d->store, d->diag, node, zone, accepted, text, size);
			coordd_store_note(d, ret);
			if (*accepted) {
				char who[COORD_REQUEST_ID_MAX + 16];
				snprintf(who, sizeof(who), "request:%s", q->id);
				tandem_audit_event_t ev = {.type = "archive.grant",
							   .level = TANDEM_AUDIT_NOTICE,
							   .actor = who,
							   .zone = zone[0] != '\0' ? zone : NULL,
							   .key_id = -1,
							   .details = text};
				tandem_audit(&d->sink, &ev);
			}
			goto out;
		}
		ret = TANDEM_EINVAL;
	} else if (strcmp(q->action, "key-remove") == 0) {
		char zone[COORD_ZONE_MAX], key[16];
		uint64_t id = 0;
		if (coord_args_get(q->args, "zone", zone, sizeof(zone)) &&
		    coord_args_get(q->args, "key", key, sizeof(key)) &&
		    coordd_parse_u64(key, &id) && id <= UINT32_MAX) {
			ret = coordd_keys_remove(d->store, d->diag, zone, (uint32_t)id, now,
						 accepted, text, size);
			coordd_store_note(d, ret);
			goto out;
		}
		ret = TANDEM_EINVAL;
	} else if (strcmp(q->action, "rules-set") == 0) {
		char act[COORD_ACTION_MAX], slots[COORD_ARGS_MAX];
		if (coord_args_get(q->args, "action", act, sizeof(act)) &&
		    coord_args_get(q->args, "slots", slots, sizeof(slots))) {
			ret = coordd_rules_set(d, act, slots, accepted, text, size);
			coordd_store_note(d, ret);
			goto out;
		}
		ret = TANDEM_EINVAL;
	} else if (strcmp(q->action, "production-off") == 0) {
		ret = coordd_production_set(d, false, accepted, text, size);
		goto out;
	} else if (strcmp(q->action, "policy-set") == 0) {
		char who[COORD_REQUEST_ID_MAX + 16];
		snprintf(who, sizeof(who), "request:%s", q->id);
		coordd_policy_ctx_t c = {.store = d->store,
					 .diag = d->diag,
					 .audit = &d->sink,
					 .requests = &d->requests,
					 .actor = who};
		ret = coordd_policy_set_exec(&c, q->args, accepted, text, size);
		coordd_store_note(d, ret);
		tandem_diag_clear(d->diag);
		goto out;
	} else if (strcmp(q->action, "drill") == 0) {
		/* nothing to do now: tandemctl drill finds the executed request before it runs
		 * the scenario on a production cluster (docs/drills.md) */
		*accepted = true;
		snprintf(text, size,
			 "%s %s: that drill may run on this production cluster until "
			 "the request's expiry",
			 q->action, q->args);
		goto out;
	} else if (strcmp(q->action, "keygen") == 0) {
		char zone[COORD_ZONE_MAX], role[8];
		if (coord_args_get(q->args, "zone", zone, sizeof(zone)) &&
		    coord_args_get(q->args, "role", role, sizeof(role))) {
			ret = coordd_keys_rollover(d->store, d->diag, zone,
						   strcmp(role, "ksk") == 0 ? KASP_ROLE_KSK
									    : KASP_ROLE_ZSK,
						   now, accepted, text, size);
			coordd_store_note(d, ret);
			goto out;
		}
		ret = TANDEM_EINVAL;
	} else {
		ret = TANDEM_EINVAL;
	}
	if (ret != TANDEM_OK) {
		*accepted = false;
		snprintf(text, size, "%s %s: this coordinator cannot execute it", q->action,
			 q->args);
		ret = TANDEM_OK;
		goto out;
	}
	ret = coordd_input(d, &req, r, &in, reply);
	if (ret == TANDEM_OK) {
		char who[COORD_REQUEST_ID_MAX + 8];
		snprintf(who, sizeof(who), "request %s", q->id);
		ret = coordd_decide(d, &in, r, now, who);
	}
	if (ret == TANDEM_OK) {
		*accepted = d->res->reason == COORD_R_OK;
		snprintf(text, size, "%s", d->res->text);
		for (size_t i = 0; i < d->res->neffects && dec->neffects < COORDRPC_EFFECTS_MAX;
		     i++) {
			memcpy(dec->effects[dec->neffects++], d->res->effects[i].text,
			       COORD_TEXT_MAX);
		}
	}
out:
	free(r);
	free(reply);
	return ret;
}

/* coord.policy and coord.policy.get (docs/policy.md, "In a cluster"): the reply is a
 * decision whose doc holds what was read. Operator commands are logged and audited. */
static int coordd_policy_reply(coordd_t *d, const net_rpc_request_t *req,
			       const coordrpc_request_t *r, net_rpc_msg_t *reply)
{
	coordrpc_decision_t dec;
	uint8_t *buf = NULL;
	size_t len = 0;
	char actor[COORD_ID_MAX + 16];
	snprintf(actor, sizeof(actor), "%s:%s",
		 req->role == NET_ROLE_OPERATOR ? "operator" : "node", req->peer);
	coordd_policy_ctx_t c = {.store = d->store,
				 .diag = d->diag,
				 .audit = &d->sink,
				 .requests = &d->requests,
				 .actor = actor};
	int ret = TANDEM_OK;
	memset(&dec, 0, sizeof(dec));
	if (r->kind == COORDRPC_POLICY && strcmp(r->action, "zone") == 0) {
		ret = coordd_read_zone(d, r->zone);
		c.zone = ret == TANDEM_OK ? coord_state_zone(d->zstate, r->zone) : NULL;
	}
	if (ret == TANDEM_OK) {
		ret = r->kind == COORDRPC_POLICY_GET ? coordd_policy_get(&c, r->zone, &dec)
						     : coordd_policy_op(&c, r, &dec);
	}
	coordd_store_note(d, ret);
	tandem_diag_clear(d->diag);
	if (ret != TANDEM_OK) {
		snprintf(reply->error, sizeof(reply->error), "store: %s", tandem_strerror(ret));
	}
	if (r->kind == COORDRPC_POLICY) {
		bool read = strcmp(r->action, "list") == 0 || strcmp(r->action, "show") == 0;
		coordd_log("%s policy %s %s from %s: %s", dec.accepted ? "accepted" : "refused",
			   r->action, r->args, req->peer,
			   ret != TANDEM_OK ? reply->error : dec.text);
		if (!read) {
			coordd_audit(d, req, r, ret == TANDEM_OK && dec.accepted,
				     ret != TANDEM_OK ? reply->error : dec.text);
		}
	}
	if (ret == TANDEM_OK) {
		ret = coordrpc_decision_pack(&dec, &buf, &len);
	}
	coordrpc_decision_deinit(&dec);
	return coordd_reply_set(reply, "coord.decision", ret, buf, len);
}

/* Handles a multi-person control request; the reply is its decision. */
static int coordd_requests_reply(coordd_t *d, const net_rpc_request_t *req,
				 const coordrpc_request_t *r, uint64_t now, net_rpc_msg_t *reply)
{
	coordrpc_decision_t dec;
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret = coordd_requests_handle(&d->requests, req->peer, r, now, &dec, reply->error,
					 sizeof(reply->error));
	coordd_store_note(d, ret);
	if (ret == TANDEM_OK) {
		ret = coordrpc_decision_pack(&dec, &buf, &len);
	}
	coordrpc_decision_deinit(&dec);
	if (ret != TANDEM_OK && reply->error[0] == '\0') {
		snprintf(reply->error, sizeof(reply->error), "%s", tandem_strerror(ret));
	}
	return coordd_reply_set(reply, "coord.decision", ret, buf, len);
}

/* ---- clocks (docs/coordinator.md, "Clocks") ------------------------------------------------ */

/* The one-way sample table of a node, or NULL. */
static const coordd_node_clock_t *coordd_node_clock_find(const coordd_t *d, const char *name)
{
	for (size_t i = 0; i < d->nnode_clocks; i++) {
		if (strcmp(d->node_clocks[i].name, name) == 0) {
			return &d->node_clocks[i];
		}
	}
	return NULL;
}

/* The one-way sample table of a node, made on its first request; NULL when full. */
static coordd_node_clock_t *coordd_node_clock(coordd_t *d, const char *name)
{
	for (size_t i = 0; i < d->nnode_clocks; i++) {
		if (strcmp(d->node_clocks[i].name, name) == 0) {
			return &d->node_clocks[i];
		}
	}
	if (d->nnode_clocks == COORD_NODES_MAX) {
		return NULL;
	}
	coordd_node_clock_t *nc = &d->node_clocks[d->nnode_clocks++];
	memset(nc, 0, sizeof(*nc));
	snprintf(nc->name, sizeof(nc->name), "%s", name);
	return nc;
}

/* A node's offset: the highest of its recent one-way samples (the least delayed one: a
 * request that waited in a queue makes the node look behind, never ahead). */
static bool coordd_node_offset(const coordd_node_clock_t *nc, uint64_t now, int64_t *out)
{
	bool any = false;
	for (size_t i = 0; i < COORDD_NODE_SAMPLES; i++) {
		if (nc->at_ms[i] != 0 && now < nc->at_ms[i] + COORDD_CLOCK_FRESH_MS &&
		    (!any || nc->offset_ms[i] > *out)) {
			*out = nc->offset_ms[i];
			any = true;
		}
	}
	return any;
}

/*
 * Judges this coordinator's clock against the median of the others it measured recently
 * (coord_clock_judge, limit half the drift margin) and marks each peer's and node's.
 * Every change is logged once.
 */
static void coordd_clock_judge(coordd_t *d, uint64_t now)
{
	coord_clock_sample_t s[COORD_CLOCK_MAX];
	coordd_peer_t *peer[COORD_CLOCK_MAX];
	coordd_node_clock_t *node[COORD_CLOCK_MAX];
	uint64_t limit = d->params.margin_ms / 2u;
	size_t n = 0;
	for (size_t i = 0; i < d->npeers && n < COORD_CLOCK_MAX; i++) {
		coordd_peer_t *p = &d->peers[i];
		if (p->seen_ms != 0 && now < p->seen_ms + COORDD_CLOCK_FRESH_MS) {
			peer[n] = p;
			node[n] = NULL;
			s[n++] = p->clock;
		}
	}
	for (size_t i = 0; i < d->nnode_clocks && n < COORD_CLOCK_MAX; i++) {
		int64_t off = 0;
		if (coordd_node_offset(&d->node_clocks[i], now, &off)) {
			peer[n] = NULL;
			node[n] = &d->node_clocks[i];
			s[n].offset_ms = off;
			s[n++].error_ms = 0;
		}
	}
	/* The nodes a peer hears and we do not (each node talks to one coordinator at a
	 * time): their offsets from the peer plus the peer's from us are measurements of
	 * their clocks from ours, with the peer's error. */
	for (size_t i = 0; i < d->npeers; i++) {
		const coordd_peer_t *p = &d->peers[i];
		if (p->seen_ms == 0 || now >= p->seen_ms + COORDD_CLOCK_FRESH_MS) {
			continue;
		}
		for (size_t j = 0; j < p->nnodes && n < COORD_CLOCK_MAX; j++) {
			int64_t off = 0;
			const coordd_node_clock_t *nc = coordd_node_clock_find(d, p->node_name[j]);
			bool counted = nc != NULL && coordd_node_offset(nc, now, &off);
			for (size_t k = 0; !counted && k < i; k++) {
				for (size_t m = 0; m < d->peers[k].nnodes; m++) {
					counted = counted || (d->peers[k].seen_ms != 0 &&
							      strcmp(d->peers[k].node_name[m],
								     p->node_name[j]) == 0);
				}
			}
			if (!counted) {
				peer[n] = NULL;
				node[n] = NULL;
				s[n].offset_ms = p->clock.offset_ms + p->node_offset_ms[j];
				s[n++].error_ms = p->clock.error_ms;
			}
		}
	}
	coord_clock_verdict_t v;
	if (!coord_clock_judge(s, n, limit, &v)) {
		return;
	}
	/* a peer or node not measured any more is not judged any more */
	for (size_t i = 0; i < d->npeers; i++) {
		d->peers[i].skewed = d->peers[i].skewed && d->peers[i].seen_ms != 0 &&
				     now < d->peers[i].seen_ms + COORDD_CLOCK_FRESH_MS;
	}
	for (size_t i = 0; i < n; i++) {
		if (node[i] == NULL && peer[i] == NULL) {
			continue; /* a node heard through a peer: that peer judges it */
		}
		if (node[i] != NULL) {
			if (v.peer_skewed[i] != node[i]->skewed) {
				coordd_log("clock: node %s's clock is %+" PRId64
					   " ms off ours (one way): %s",
					   node[i]->name, s[i].offset_ms,
					   v.peer_skewed[i] ? "skewed against the majority"
							    : "agrees with the majority again");
			}
			node[i]->skewed = v.peer_skewed[i];
			continue;
		}
		coordd_peer_t *p = peer[i];
		if (v.peer_skewed[i] != p->skewed) {
			coordd_log("clock: coordinator %s's clock is %+" PRId64 " ms (+-%" PRIu64
				   ") off ours: %s",
				   p->name, s[i].offset_ms, s[i].error_ms,
				   v.peer_skewed[i] ? "skewed against the majority"
						    : "agrees with the majority again");
		}
		bool far_only = v.peer_far[i] && !v.peer_skewed[i] && !v.skewed;
		if (far_only && !p->far) {
			coordd_log(
			    "clock: coordinator %s's clock is %+" PRId64 " ms (+-%" PRIu64
			    ") off ours, beyond %" PRIu64
			    " ms, but %zu clock(s) make no majority: cannot tell which is wrong",
			    p->name, s[i].offset_ms, s[i].error_ms, limit, v.used + 1);
		}
		p->skewed = v.peer_skewed[i];
		p->far = far_only;
	}
	if (v.skewed != d->clock_skewed) {
		if (v.skewed) {
			coordd_log(
			    "clock: ALERT: this coordinator's clock is %+" PRId64
			    " ms off the median of %zu other clock(s) (limit %" PRIu64
			    " ms): it grants nothing, decides nothing and refuses nodes (%s) "
			    "until it agrees",
			    v.offset_ms, v.used, limit, coord_reason_str(COORD_R_CLOCK_SKEW));
		} else {
			coordd_log("clock: this coordinator's clock agrees with the majority again "
				   "(%zu other clock(s), %s)",
				   v.used, v.decidable ? "decided" : "too few to judge");
		}
	}
	d->clock_skewed = v.skewed;
	d->clock_offset_ms = v.offset_ms;
}

/* Notes the send time of a node's request (one-way sample) and judges again. */
static void coordd_clock_note_node(coordd_t *d, const net_rpc_request_t *req)
{
	if (req->role != NET_ROLE_NODE || req->sent_ms == 0 || req->recv_ms == 0) {
		return;
	}
	coordd_node_clock_t *nc = coordd_node_clock(d, req->peer);
	if (nc == NULL) {
		return;
	}
	coord_clock_sample_t s = coord_clock_oneway(req->sent_ms, req->recv_ms);
	nc->offset_ms[nc->next] = s.offset_ms;
	nc->at_ms[nc->next] = req->recv_ms;
	nc->next = (nc->next + 1u) % COORDD_NODE_SAMPLES;
	coordd_clock_judge(d, req->recv_ms);
}

/* One round trip to a peer coordinator (a "coord.clock" request): its clock's offset. */
static void coordd_probe(coordd_t *d, coordd_peer_t *p)
{
	net_rpc_msg_t msg;
	memset(&msg, 0, sizeof(msg));
	tandem_diag_clear(d->diag);
	uint64_t t0 = coordd_now_ms();
	int ret = net_rpc_client_call(p->client, "coord.clock", NULL, 0, d->diag, &msg);
	uint64_t t1 = coordd_now_ms();
	if (ret == TANDEM_OK) {
		ret = coordrpc_status_unpack(msg.body, msg.body_len, d->diag, d->status);
	}
	if (ret == TANDEM_OK && strcmp(d->status->coordinator, p->name) != 0) {
		ret = TANDEM_NET_EPROTO; /* another coordinator at that endpoint */
	}
	coord_clock_sample_t s;
	if (ret == TANDEM_OK && !coord_clock_exchange(t0, d->status->now_ms, t1, &s)) {
		ret = TANDEM_ERANGE; /* our clock stepped back meanwhile */
	}
	if (ret == TANDEM_OK) {
		if (p->failing) {
			coordd_log("clock: coordinator %s answers again", p->name);
		}
		p->failing = false;
		p->clock = s;
		p->seen_ms = t1;
		memcpy(p->metrics, d->status->metrics, sizeof(p->metrics));
		p->nnodes = 0;
		for (size_t i = 0; i < d->status->nnodes && i < COORD_NODES_MAX; i++) {
			memcpy(p->node_name[p->nnodes], d->status->nodes[i].name, COORD_ID_MAX);
			p->node_offset_ms[p->nnodes++] = d->status->nodes[i].clock_offset_ms;
		}
	} else if (!p->failing) {
		const char *why = tandem_diag_msg(d->diag, 0);
		coordd_log("clock: cannot measure coordinator %s at %s: %s%s%s", p->name,
			   p->endpoint, tandem_strerror(ret), why != NULL ? ": " : "",
			   why != NULL ? why : "");
		p->failing = true;
	}
	tandem_diag_clear(d->diag);
	net_rpc_msg_deinit(&msg);
	p->next_ms = coordd_now_ms() + COORDD_PROBE_EVERY_MS;
	coordd_clock_judge(d, coordd_now_ms());
}

/* The answer to a peer's probe: a status holding only our name, clock and verdict. */
static int coordd_clock_reply(coordd_t *d, const net_rpc_request_t *req, net_rpc_msg_t *reply)
{
	if (req->role != NET_ROLE_COORDINATOR) {
		snprintf(reply->error, sizeof(reply->error),
			 "coord.clock from %s (%s): needs the coordinator role", req->peer,
			 net_role_name(req->role));
		coordd_log("refused %s", reply->error);
		return TANDEM_EPERM;
	}
	coordrpc_status_t *out = d->status;
	coordrpc_status_clear(out);
	snprintf(out->coordinator, sizeof(out->coordinator), "%s", d->opts->name);
	coordd_metrics_address(d, out);
	out->params = d->params;
	out->params.node_timeout_ms = 0;
	out->params.prefer_ms = 0;
	out->params.same_site_first = false;
	out->clock_skewed = d->clock_skewed;
	out->now_ms = coordd_now_ms();
	/* the nodes it hears now, with their offsets: the prober counts them too */
	for (size_t i = 0; i < d->nnode_clocks; i++) {
		int64_t off = 0;
		if (coordd_node_offset(&d->node_clocks[i], out->now_ms, &off)) {
			coordrpc_node_status_t *ns = &out->nodes[out->nnodes++];
			memcpy(ns->name, d->node_clocks[i].name, sizeof(ns->name));
			ns->clock_offset_ms = off;
			ns->clock_skewed = d->node_clocks[i].skewed;
		}
	}
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret = coordrpc_status_pack(out, &buf, &len);
	return coordd_reply_set(reply, "coord.clock.reply", ret, buf, len);
}

/* The clocks this coordinator measured, for the status. */
static void coordd_status_clocks(const coordd_t *d, coordrpc_status_t *out)
{
	out->clock_skewed = d->clock_skewed;
	out->ncoords = 0;
	for (size_t i = 0; i < d->npeers && out->ncoords < COORDRPC_COORDS_MAX; i++) {
		const coordd_peer_t *p = &d->peers[i];
		coordrpc_coord_clock_t *c = &out->coords[out->ncoords++];
		memcpy(c->name, p->name, sizeof(c->name));
		c->offset_ms = p->seen_ms != 0 ? p->clock.offset_ms : 0;
		c->skewed = p->skewed;
		c->seen_ms = p->seen_ms;
		memcpy(c->metrics, p->metrics, sizeof(c->metrics));
	}
	for (size_t i = 0; i < out->nnodes; i++) {
		const coordd_node_clock_t *nc = coordd_node_clock_find(d, out->nodes[i].name);
		int64_t off = 0;
		if (nc != NULL && coordd_node_offset(nc, out->now_ms, &off)) {
			out->nodes[i].clock_offset_ms = off;
			out->nodes[i].clock_skewed = nc->skewed;
		}
	}
}

/* An operator's read of the audit chain (proto/audit.proto): a page as etcd holds it, with
 * the anchor keys stored there. */
static int coordd_audit_get(coordd_t *d, const net_rpc_request_t *req, net_rpc_msg_t *reply)
{
	uint64_t from = 0;
	uint32_t limit = 0;
	coordrpc_audit_page_t page;
	coord_audit_lines_t *l = NULL;
	coord_audit_head_t h;
	uint8_t *buf = NULL;
	size_t len = 0;
	memset(&page, 0, sizeof(page));
	if (req->role != NET_ROLE_OPERATOR) {
		snprintf(reply->error, sizeof(reply->error),
			 "%s from %s (%s): needs the operator role", req->type, req->peer,
			 net_role_name(req->role));
		coordd_log("refused %s", reply->error);
		return TANDEM_EPERM;
	}
	int ret = coordrpc_audit_get_unpack(req->body, req->body_len, d->diag, &from, &limit);
	if (ret != TANDEM_OK) {
		const char *why = tandem_diag_msg(d->diag, 0);
		snprintf(reply->error, sizeof(reply->error), "%s",
			 why ? why : tandem_strerror(ret));
		tandem_diag_clear(d->diag);
		return ret;
	}
	if (d->store_down) {
		snprintf(
		    reply->error, sizeof(reply->error),
		    "store: %.60s: the audit chain cannot be read now; ask another coordinator",
		    d->store_error);
		return TANDEM_COORD_EUNAVAIL;
	}
	coord_audit_t *st = coordd_audit_store(d->audit);
	ret = coord_audit_head(st, d->diag, &h);
	if (ret == TANDEM_OK) {
		ret =
		    coord_audit_read(st, from > h.base_seq ? from : h.base_seq, limit, d->diag, &l);
	}
	if (ret == TANDEM_OK) {
		ret = coord_audit_keys_get(st, d->diag, &page.keys);
	}
	coordd_store_note(d, ret);
	if (ret != TANDEM_OK) {
		snprintf(reply->error, sizeof(reply->error), "store: %s", tandem_strerror(ret));
		coordd_log_diag(d->diag, "audit read failed", ret);
		return ret;
	}
	page.base_seq = h.base_seq;
	memcpy(page.base_prev, h.base_prev, sizeof(page.base_prev));
	page.head_seq = h.seq;
	memcpy(page.head_hash, h.hash, sizeof(page.head_hash));
	page.nlines = l->n;
	page.lines = l->line; /* borrowed for the packing */
	ret = coordrpc_audit_page_pack(&page, &buf, &len);
	coord_audit_lines_free(l);
	return coordd_reply_set(reply, COORDRPC_T_AUDIT_REPLY, ret, buf, len);
}

/* Whether a request only reads. */
static bool coordd_kind_reads(coordrpc_kind_t kind)
{
	return kind == COORDRPC_STATUS || kind == COORDRPC_KEYS_GET ||
	       kind == COORDRPC_KEYSET_GET || kind == COORDRPC_SKR_GET ||
	       kind == COORDRPC_POLICY_GET;
}

/*
 * A node's lease requests and renewals at once (coord.lease.batch): decided through the
 * store with one read and one transaction, each item as its single request would be, and
 * answered with one result per item. Refusals and effects are logged and audited as the
 * single requests' are.
 */
static int coordd_lease_batch(coordd_t *d, const net_rpc_request_t *req,
			      const coordrpc_request_t *r, uint64_t now, net_rpc_msg_t *reply)
{
	size_t n = r->nitems;
	coord_store_lease_t *items = calloc(n, sizeof(*items));
	coord_store_decided_t *dec = calloc(n, sizeof(*dec));
	coordrpc_decision_t *out = calloc(1, sizeof(*out));
	coord_input_t *in = calloc(1, sizeof(*in));
	int ret =
	    items != NULL && dec != NULL && out != NULL && in != NULL ? TANDEM_OK : TANDEM_ENOMEM;
	if (ret == TANDEM_OK) {
		for (size_t i = 0; i < n; i++) {
			memcpy(items[i].zone, r->items[i].zone, sizeof(items[i].zone));
			items[i].epoch = r->items[i].epoch;
			items[i].renew = r->items[i].renew;
		}
		ret = coord_store_lease_batch(d->store, r->node, r->instance, items, n, now,
					      &d->params, d->diag, dec);
		coordd_store_note(d, ret);
	}
	if (ret == TANDEM_OK) {
		out->leases = calloc(n, sizeof(*out->leases));
		ret = out->leases != NULL ? TANDEM_OK : TANDEM_ENOMEM;
	}
	if (ret != TANDEM_OK) {
		coordd_log_diag(d->diag, "lease-batch", ret);
		snprintf(reply->error, sizeof(reply->error), "store: %s", tandem_strerror(ret));
		goto out;
	}
	size_t accepted = 0;
	for (size_t i = 0; i < n; i++) {
		const coord_store_decided_t *x = &dec[i];
		coordrpc_lease_result_t *l = &out->leases[out->nleases++];
		memcpy(l->zone, r->items[i].zone, sizeof(l->zone));
		l->accepted = x->reason == COORD_R_OK;
		l->reason = x->reason;
		memcpy(l->text, x->text, sizeof(l->text));
		l->epoch = x->epoch;
		l->expiry_ms = x->expiry_ms;
		accepted += l->accepted;
		/* as a single request: the refusal logged, the effects logged and audited */
		memset(in, 0, sizeof(*in));
		in->kind = items[i].renew ? COORD_IN_LEASE_RENEW : COORD_IN_LEASE_REQUEST;
		memcpy(in->node, r->node, sizeof(in->node));
		memcpy(in->zone, items[i].zone, sizeof(in->zone));
		in->epoch = items[i].epoch;
		coord_result_t *res = d->res;
		memset(res, 0, offsetof(coord_result_t, effects));
		res->reason = x->reason;
		memcpy(res->text, x->text, sizeof(res->text));
		res->changed = x->changed;
		res->epoch = x->epoch;
		res->expiry_ms = x->expiry_ms;
		res->neffects = x->neffects;
		res->dropped = x->dropped;
		memcpy(res->effects, x->effects, x->neffects * sizeof(res->effects[0]));
		if (res->reason != COORD_R_OK) {
			coordd_log("refused %s from %s: %s: %s", coord_input_kind_str(in->kind),
				   req->peer, coord_reason_str(res->reason), res->text);
		}
		coordd_log_effects(res);
		coordd_audit_decision(d->audit, d->actor, in, res);
		if (res->changed && !items[i].renew) {
			d->next_tick_ms = now; /* a grant: new timers may be due earlier */
			d->fence_due = true;
		}
	}
	out->accepted = true;
	out->reason = COORD_R_OK;
	snprintf(out->text, sizeof(out->text), "lease batch: %zu of %zu accepted", accepted, n);
	uint8_t *buf = NULL;
	size_t len = 0;
	ret = coordrpc_decision_pack(out, &buf, &len);
	ret = coordd_reply_set(reply, "coord.decision", ret, buf, len);
out:
	if (out != NULL) {
		coordrpc_decision_deinit(out);
	}
	free(out);
	free(in);
	free(dec);
	free(items);
	return ret;
}

static int coordd_handle(void *arg, const net_rpc_request_t *req, net_rpc_msg_t *reply)
{
	coordd_t *d = arg;
	uint64_t now = coordd_now_ms(); /* after the node sent it: the grant time g > s */
	coordrpc_request_t r;
	coord_input_t in;
	int ret;

	tandem_diag_clear(d->diag);
	if (strcmp(req->type, "coord.clock") == 0) {
		return coordd_clock_reply(d, req, reply);
	}
	snprintf(d->actor, sizeof(d->actor), "%s:%s", net_role_name(req->role), req->peer);
	if (strcmp(req->type, COORDRPC_T_AUDIT_GET) == 0) {
		return coordd_audit_get(d, req, reply);
	}
	coordd_clock_note_node(d, req);
	ret = coordrpc_request_unpack(req->type, req->body, req->body_len, d->diag, &r);
	if (ret != TANDEM_OK) {
		const char *why = tandem_diag_msg(d->diag, 0);
		snprintf(reply->error, sizeof(reply->error), "%s",
			 why != NULL ? why : tandem_strerror(ret));
		coordd_log("refused request from %s (%s): %s", req->peer, net_role_name(req->role),
			   reply->error);
		tandem_diag_clear(d->diag);
		return ret;
	}
	ret = coordd_check_role(req, &r, reply);
	if (ret != TANDEM_OK) {
		coordd_log("refused %s", reply->error);
		coordd_audit(d, req, &r, false, reply->error);
		goto out;
	}
	if (coordd_kind_reads(r.kind) && (r.kind == COORDRPC_STATUS || !d->store_down)) {
		ret = r.kind == COORDRPC_STATUS       ? coordd_status(d, req->role, now, reply)
		      : r.kind == COORDRPC_POLICY_GET ? coordd_policy_reply(d, req, &r, reply)
		      : r.kind == COORDRPC_KEYS_GET
			  ? coordd_keys(d, req, r.zone, reply)
			  : coordd_doc_get(
				d, r.kind == COORDRPC_SKR_GET ? COORD_DOC_SKR : COORD_DOC_KEYSET,
				r.zone, reply);
		coordd_audit(d, req, &r, ret == TANDEM_OK,
			     ret == TANDEM_OK ? "read" : reply->error);
		goto out;
	}
	/* a coordinator whose clock the majority disowns decides nothing: the node asks
	 * another coordinator (docs/coordinator.md, "Clocks") */
	if (d->clock_skewed && !coordd_kind_reads(r.kind)) {
		coordd_refuse(d->res, COORD_R_CLOCK_SKEW,
			      "coordinator %s: its clock is %+" PRId64
			      " ms off the majority's (limit %" PRIu64
			      " ms): it decides nothing; ask another coordinator",
			      d->opts->name, d->clock_offset_ms, d->params.margin_ms / 2u);
		coordd_log("refused %s from %s: %s", req->type, req->peer, d->res->text);
		coordd_audit(d, req, &r, false, d->res->text);
		ret = coordd_decision_reply(d->res, 0, reply);
		goto out;
	}
	/* etcd did not serve the last call: refuse at once rather than wait on it again;
	 * the loop's probe brings the store back */
	if (d->store_down) {
		uint64_t t = coordd_now_ms();
		snprintf(reply->error, sizeof(reply->error),
			 "store: %.60s (for %" PRIu64 " ms): %.64s not served; ask again later",
			 d->store_error, t > d->store_down_ms ? t - d->store_down_ms : 0,
			 req->type);
		ret = strcmp(d->store_error, "etcd has no quorum") == 0 ? TANDEM_COORD_ENOQUORUM
									: TANDEM_COORD_EUNAVAIL;
		coordd_log("refused %s from %s: %s", req->type, req->peer, reply->error);
		coordd_audit(d, req, &r, false, reply->error);
		goto out;
	}
	char action[COORD_ACTION_MAX], args[COORD_ARGS_MAX], why[COORD_TEXT_MAX];
	bool direct = req->role == NET_ROLE_OPERATOR && (r.kind != COORDRPC_TAKEOVER || r.force) &&
		      coordd_direct_action(&r, action, args);
	/* only where the approval rules are consulted: the cluster's, as etcd has them now */
	if (req->role == NET_ROLE_OPERATOR &&
	    (direct || coordd_requests_kind(r.kind) || r.kind == COORDRPC_KEYSET_PUT ||
	     r.kind == COORDRPC_POLICY)) {
		(void)coordd_rules_sync(d, false);
	}
	if (coordd_requests_kind(r.kind)) {
		ret = coordd_requests_reply(d, req, &r, now, reply);
		goto out;
	}
	if (direct &&
	    coordd_requests_direct_refused(&d->requests, action, args, why, sizeof(why))) {
		coord_result_t *res = d->res;
		memset(res, 0, offsetof(coord_result_t, effects));
		memcpy(res->text, why, sizeof(res->text));
		res->reason = COORD_R_BAD_INPUT;
		coordd_log("refused %s from %s: %s", req->type, req->peer, res->text);
		coordd_audit(d, req, &r, false, res->text);
		ret = coordd_decision_reply(res, 0, reply);
		goto out;
	}
	if (r.kind == COORDRPC_KEYSET_PUT || r.kind == COORDRPC_SKR_PUT) {
		int64_t revision = 0;
		ret =
		    coordd_doc_put(d, r.kind == COORDRPC_SKR_PUT ? COORD_DOC_SKR : COORD_DOC_KEYSET,
				   req, &r, now, &revision, reply);
		if (ret != TANDEM_OK) {
			coordd_log("refused %s from %s: %s", req->type, req->peer, reply->error);
			coordd_audit(d, req, &r, false, reply->error);
			goto out;
		}
		coordd_log("%s %s from %s: %s",
			   d->res->reason == COORD_R_OK ? "accepted" : "refused", req->type,
			   req->peer, d->res->text);
		coordd_audit(d, req, &r, d->res->reason == COORD_R_OK, d->res->text);
		ret = coordd_decision_reply(d->res, revision, reply);
		goto out;
	}
	if (r.kind == COORDRPC_KEY_REMOVE && !coordd_key_removable(d, &r)) {
		ret = coordd_decision_reply(d->res, 0, reply);
		coordd_log("refused %s from %s: %s", req->type, req->peer, d->res->text);
		goto out;
	}
	if (r.kind == COORDRPC_PRODUCTION) {
		ret = coordd_production(d, req, &r, reply);
		goto out;
	}
	if (r.kind == COORDRPC_POLICY) {
		ret = coordd_policy_reply(d, req, &r, reply);
		goto out;
	}
	if (r.kind == COORDRPC_DRILL_NOTE) {
		ret = coordd_drill_note(d, req, &r, reply);
		goto out;
	}
	if (r.kind == COORDRPC_KEY_PURGE) {
		ret = coordd_key_purge(d, req, &r, now, reply);
		goto out;
	}
	if (r.kind == COORDRPC_LEASE_BATCH) {
		ret = coordd_lease_batch(d, req, &r, now, reply);
		goto out;
	}
	if (r.kind == COORDRPC_TAKEOVER && !r.force) {
		ret = coordd_takeover_unforced(d, &r, reply);
		coordd_log("refused takeover from %s: %s", req->peer, d->res->text);
		coordd_audit(d, req, &r, false, d->res->text);
		goto out;
	}
	ret = coordd_input(d, req, &r, &in, reply);
	if (ret == TANDEM_OK) {
		ret = coordd_decide(d, &in, &r, now, req->peer);
		if (ret != TANDEM_OK) {
			snprintf(reply->error, sizeof(reply->error), "store: %s",
				 tandem_strerror(ret));
		}
	}
	if (ret != TANDEM_OK) {
		coordd_audit(d, req, &r, false, reply->error);
		goto out;
	}
	coordd_audit(d, req, &r, d->res->reason == COORD_R_OK, d->res->text);
	ret = coordd_decision_reply(d->res, 0, reply);
out:
	coordrpc_request_deinit(&r);
	return ret;
}

static void coordd_log_refusals(coordd_t *d)
{
	net_refusal_t r;
	while (net_rpc_server_refusal_next(d->srv, &r) == TANDEM_OK) {
		coordd_log("refused connection from %s key %s name %s: %s: %s%s",
			   r.address[0] ? r.address : "?", r.key[0] ? r.key : "-",
			   r.name[0] ? r.name : "-", tandem_strerror(r.reason), r.detail,
			   r.dropped > 0 ? " (and earlier refusals dropped)" : "");
	}
}

/* Whether a Z85 key belongs to a fenced member of st. */
static bool coordd_key_fenced(const coord_state_t *st, const char *z85)
{
	char k[NET_KEY_Z85_LEN + 1];
	for (uint32_t i = 0; i < st->nnodes; i++) {
		if (st->nodes[i].state == COORD_NODE_FENCED &&
		    zmq_z85_encode(k, st->nodes[i].curve_pub, COORD_CURVE_KEY_LEN) != NULL &&
		    strcmp(k, z85) == 0) {
			return true;
		}
	}
	return false;
}

/* Puts list in force in the server, the keys of fenced members (as the state last read says)
 * revoked. Errors: TANDEM_ENOMEM and net_rpc_server_allow_set's. */
static int coordd_allow_enforce(coordd_t *d, const net_allow_t *list)
{
	net_allow_t *want = NULL;
	int ret = net_allow_copy(list, &want);
	for (size_t i = 0; ret == TANDEM_OK && i < net_allow_count(list); i++) {
		const net_allow_entry_t *e = net_allow_entry(list, i);
		if (d->state_ms != 0 && coordd_key_fenced(d->state, e->key)) {
			ret = net_allow_revoke(want, e->key);
		}
	}
	if (ret == TANDEM_OK) {
		ret = net_rpc_server_allow_set(d->srv, want);
	}
	net_allow_free(want);
	return ret;
}

/*
 * Fencing: the server's allow-list is the --allow file minus the CURVE keys of fenced
 * members, as the state says now. A takeover decided through any coordinator reaches
 * every coordinator's allow-list within COORDD_FENCE_EVERY_MS. A key comes back only
 * when no fenced member has it any more (the operator removed the member).
 */
static void coordd_fence_sweep(coordd_t *d)
{
	int ret = coordd_read(d);
	if (ret != TANDEM_OK) {
		if (!d->fence_failing) {
			coordd_log_diag(d->diag, "fence: cannot read the state", ret);
		}
		tandem_diag_clear(d->diag);
		d->fence_failing = true;
		return;
	}
	if (d->fence_failing) {
		coordd_log("fence: the state is readable again");
		d->fence_failing = false;
	}
	coordd_params_refresh(d);
	bool restore = false;
	for (size_t i = 0; i < net_allow_count(d->allow); i++) {
		const net_allow_entry_t *e = net_allow_entry(d->allow, i);
		bool listed = net_allow_find_key(net_rpc_server_allow(d->srv), e->key) != NULL;
		bool fenced = coordd_key_fenced(d->state, e->key);
		if (listed && fenced) {
			ret = net_rpc_server_revoke(d->srv, e->key);
			coordd_log("fence: %s key %s (%s) of fenced member: %s",
				   ret == TANDEM_OK ? "revoked" : "cannot revoke", e->key, e->name,
				   ret == TANDEM_OK ? "no further request is answered"
						    : tandem_strerror(ret));
		} else if (!listed && !fenced) {
			restore = true;
			coordd_log("fence: key %s (%s) listed again: no fenced member has it",
				   e->key, e->name);
		}
	}
	if (!restore) {
		return;
	}
	ret = coordd_allow_enforce(d, d->allow);
	if (ret != TANDEM_OK) {
		coordd_log("fence: cannot update the allow-list: %s", tandem_strerror(ret));
	}
}

/*
 * SIGHUP: reads --allow again (a rebuilt node's new key, an operator added or removed) and
 * puts it in force without a restart, the keys of fenced members still revoked. A file
 * that does not load is refused with its reason and the allow-list in force stays. Says
 * what changed, by name, and records it in the audit log. *allow is the loaded list the
 * coordinator owns: replaced on success.
 */
static void coordd_reload_allow(coordd_t *d, net_allow_t **allow)
{
	net_allow_t *fresh = NULL;
	tandem_diag_clear(d->diag);
	int ret = net_allow_load(d->opts->allow, d->diag, &fresh);
	if (ret != TANDEM_OK) {
		coordd_log_diag(d->diag, "reload: --allow refused, the allow-list in force stays",
				ret);
		tandem_diag_clear(d->diag);
		return;
	}
	ret = coordd_allow_enforce(d, fresh);
	if (ret != TANDEM_OK) {
		coordd_log("reload: cannot put the new allow-list in force: %s; the old one stays",
			   tandem_strerror(ret));
		net_allow_free(fresh);
		return;
	}
	char what[COORD_TEXT_MAX] = "";
	size_t added = 0, removed = 0, len = 0;
	for (size_t i = 0; i < net_allow_count(fresh); i++) {
		const net_allow_entry_t *e = net_allow_entry(fresh, i);
		const net_allow_entry_t *was = net_allow_find_key(*allow, e->key);
		if (was == NULL || strcmp(was->name, e->name) != 0 || was->role != e->role) {
			added++;
			len += (size_t)snprintf(what + len,
						len < sizeof(what) ? sizeof(what) - len : 0, " +%s",
						e->name);
		}
	}
	for (size_t i = 0; i < net_allow_count(*allow); i++) {
		const net_allow_entry_t *e = net_allow_entry(*allow, i);
		const net_allow_entry_t *now = net_allow_find_key(fresh, e->key);
		if (now == NULL || strcmp(now->name, e->name) != 0 || now->role != e->role) {
			removed++;
			len += (size_t)snprintf(what + len,
						len < sizeof(what) ? sizeof(what) - len : 0, " -%s",
						e->name);
		}
	}
	net_allow_free(*allow);
	*allow = fresh;
	d->allow = fresh;
	coordd_log("reload: allow-list %s in force: %zu entries, %zu added, %zu removed%s",
		   d->opts->allow, net_allow_count(fresh), added, removed, what);
	char details[COORD_TEXT_MAX + 64];
	snprintf(details, sizeof(details), "allow-list reloaded: %zu added, %zu removed:%s", added,
		 removed, what);
	tandem_audit_event_t ev = {.type = "config.allow-reload",
				   .level = TANDEM_AUDIT_NOTICE,
				   .actor = "coord:signal",
				   .key_id = -1,
				   .details = details};
	tandem_audit(&d->sink, &ev);
}

/* Campaigns for the timer leadership (not while its clock is skewed: it resigns). */
static void coordd_campaign(coordd_t *d, uint64_t now)
{
	bool leader = false;
	int ret = TANDEM_OK;
	d->next_campaign_ms = now + COORDD_LEADER_TTL_S * 1000u / 3u;
	if (d->clock_skewed) {
		if (d->leader) {
			ret = coord_store_resign(d->store, d->diag);
			coordd_store_note(d, ret);
			if (ret != TANDEM_OK) {
				coordd_log_diag(d->diag, "resign failed", ret);
			}
			coordd_log("gave up the timer leadership: this coordinator's clock is "
				   "skewed%s",
				   ret == TANDEM_OK ? "" : " (its etcd lease runs out)");
			d->leader = false;
		}
		return;
	}
	ret = coord_store_campaign(d->store, d->opts->name, COORDD_LEADER_TTL_S, d->diag, &leader);
	coordd_store_note(d, ret);
	if (ret != TANDEM_OK) {
		coordd_log_diag(d->diag, "campaign failed", ret);
		leader = false;
	}
	if (leader != d->leader) {
		coordd_log("%s the timer leadership", leader ? "took" : "lost");
		d->next_tick_ms = now;
	}
	d->leader = leader;
}

/*
 * The loop's background work, one etcd call or clock probe per turn so that requests are
 * served in between: the fencing sweep (also the store's probe while etcd does not
 * serve), a peer's clock probe, the campaign, and, when leading, a tick at the machine's
 * next event. While the store is down only the sweep asks etcd (each COORDD_FENCE_EVERY_MS
 * after the last one ended); while the clock is skewed there is no campaign and no tick.
 */
static void coordd_timers(coordd_t *d, uint64_t now)
{
	if (d->fence_due || now >= d->next_fence_ms) {
		d->fence_due = false;
		coordd_fence_sweep(d);
		d->next_fence_ms = (d->store_down ? coordd_now_ms() : now) + COORDD_FENCE_EVERY_MS;
		if (!d->store_down && now >= d->next_mirror_ms) {
			/* the role mirror follows etcd (or restores it) without waiting for a
			 * request */
			coordd_requests_mirror_refresh(&d->requests);
			d->next_mirror_ms = now + COORDD_MIRROR_EVERY_MS;
		}
		return;
	}
	for (size_t i = 0; i < d->npeers; i++) {
		if (now >= d->peers[i].next_ms) {
			coordd_probe(d, &d->peers[i]);
			return;
		}
	}
	if (d->store_down) {
		return;
	}
	if (now >= d->next_campaign_ms) {
		coordd_campaign(d, now);
		return;
	}
	if (!d->leader || d->clock_skewed || d->next_tick_ms == 0 || now < d->next_tick_ms) {
		return;
	}
	coord_input_t tick;
	memset(&tick, 0, sizeof(tick));
	tick.kind = COORD_IN_TICK;
	/* re-read at least every campaign period: other coordinators change the state too */
	d->next_tick_ms = now + COORDD_LEADER_TTL_S * 1000u / 3u;
	snprintf(d->actor, sizeof(d->actor), "coord:%s", d->opts->name);
	if (coordd_decide(d, &tick, NULL, now, "the clock") != TANDEM_OK) {
		return;
	}
	int ret = coordd_read(d);
	if (ret != TANDEM_OK) {
		coordd_log_diag(d->diag, "store read failed", ret);
		return;
	}
	coordd_params_refresh(d);
	uint64_t next = coord_state_next_event(d->state, &d->params, now);
	if (next != 0 && next < d->next_tick_ms) {
		d->next_tick_ms = next;
	}
}

/* ---- metrics (docs/monitoring.md) ---- */

#define COORDD_METRICS_EVERY_MS 1000u

/* What the scrape thread measures itself: each etcd member's health, with a client of its
 * own (a client is used by one thread only). */
typedef struct coordd_scrape {
	coord_etcd_t *etcd;
	tandem_diag_t *diag;
} coordd_scrape_t;

static void coordd_metrics_scrape(void *ctx, metrics_buf_t *b)
{
	coordd_scrape_t *sc = ctx;
	size_t n = coord_etcd_endpoint_count(sc->etcd), up = 0;

	metrics_family(b, "tandem_etcd_member_up", METRICS_GAUGE,
		       "1 when the etcd member answers its health check with a leader, at scrape");
	for (size_t i = 0; i < n; i++) {
		coord_etcd_status_t st;
		tandem_diag_clear(sc->diag);
		bool ok = coord_etcd_endpoint_status(sc->etcd, i, sc->diag, &st) == TANDEM_OK &&
			  st.healthy && st.leader != 0;
		up += ok;
		metrics_sample(b, "tandem_etcd_member_up",
			       (const char *[]){"endpoint", coord_etcd_endpoint(sc->etcd, i), NULL},
			       ok);
	}
	metrics_family(b, "tandem_etcd_members_up", METRICS_GAUGE,
		       "etcd members that answered with a leader, at scrape");
	metrics_sample(b, "tandem_etcd_members_up", NULL, (double)up);
}

/* Per zone, from the state as last read; each family's samples together, as the text
 * format asks. */
static void coordd_metrics_zones(metrics_buf_t *b, const coord_state_t *st, uint64_t now)
{
	static const struct {
		const char *name, *help;
		metrics_type_t type;
	} fam[] = {
	    {"tandem_zone_committed_serial", "the zone's last serial committed by its active node",
	     METRICS_GAUGE},
	    {"tandem_zone_lease_epoch", "the zone's lease epoch (fencing token)", METRICS_GAUGE},
	    {"tandem_zone_active", "1 for the node holding the zone's lease", METRICS_GAUGE},
	    {"tandem_zone_digest_mismatch_total",
	     "serials where a standby's digest differed from the active's", METRICS_COUNTER},
	    {"tandem_zone_digest_mismatch_open",
	     "1 while the last digest mismatch has not been followed by a match", METRICS_GAUGE},
	};
	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		metrics_family(b, fam[f].name, fam[f].type, fam[f].help);
		for (uint32_t i = 0; i < st->nzones; i++) {
			const coord_zone_t *z = &st->zones[i];
			const char *zl[] = {"zone", z->name, NULL};
			if (z->removed) {
				continue;
			}
			switch (f) {
			case 0:
				if (z->has_committed) {
					metrics_sample(b, fam[f].name, zl, z->committed_serial);
				}
				break;
			case 1: metrics_sample(b, fam[f].name, zl, (double)z->epoch); break;
			case 2:
				if (z->holder[0] != '\0' && now < coord_zone_expiry(st, z)) {
					metrics_sample(b, fam[f].name,
						       (const char *[]){"zone", z->name, "node",
									z->holder, NULL},
						       1);
				}
				break;
			case 3: metrics_sample(b, fam[f].name, zl, z->alerts); break;
			default: metrics_sample(b, fam[f].name, zl, z->alert_open); break;
			}
		}
	}
}

/* Per node, as the nodes last reported themselves, and their alerts with a reason label. */
static void coordd_metrics_nodes(metrics_buf_t *b, const coord_state_t *st, uint64_t now)
{
	metrics_family(b, "tandem_coord_node_healthy", METRICS_GAUGE,
		       "1 when the node last reported itself healthy");
	for (uint32_t i = 0; i < st->nnodes; i++) {
		metrics_sample(b, "tandem_coord_node_healthy",
			       (const char *[]){"node", st->nodes[i].id, NULL},
			       st->nodes[i].healthy);
	}
	metrics_family(b, "tandem_coord_node_seen_age_seconds", METRICS_GAUGE,
		       "time since the node's last register, heartbeat or lease request");
	for (uint32_t i = 0; i < st->nnodes; i++) {
		const coord_node_t *n = &st->nodes[i];
		metrics_sample(
		    b, "tandem_coord_node_seen_age_seconds", (const char *[]){"node", n->id, NULL},
		    now > n->last_seen_ms ? (double)(now - n->last_seen_ms) / 1000.0 : 0);
	}
	metrics_family(b, "tandem_coord_node_alert", METRICS_GAUGE,
		       "1 for each alert a node reports, by zone (\"\": node-wide) and reason");
	for (uint32_t i = 0; i < st->nnodes; i++) {
		const coord_node_t *n = &st->nodes[i];
		for (uint32_t k = 0; k < n->nalerts; k++) {
			metrics_sample(b, "tandem_coord_node_alert",
				       (const char *[]){"node", n->id, "zone", n->alerts[k].zone,
							"reason", n->alerts[k].kind, NULL},
				       1);
		}
	}
}

/* The coordinator's own metrics, from its loop's state: its roles, etcd as its calls found
 * it, the clocks, and the cluster state as last read (zones, nodes, their alerts). */
static void coordd_metrics_render(coordd_t *d, uint64_t now)
{
	metrics_buf_t b = {0};
	const coord_state_t *st = d->state;

	metrics_family(&b, "tandem_coord_info", METRICS_GAUGE, "this coordinator, always 1");
	metrics_sample(&b, "tandem_coord_info",
		       (const char *[]){"coordinator", d->opts->name, NULL}, 1);
	metrics_family(&b, "tandem_coord_leader", METRICS_GAUGE,
		       "1 while this coordinator runs the cluster's timers (the etcd election)");
	metrics_sample(&b, "tandem_coord_leader", NULL, d->leader);
	metrics_family(&b, "tandem_coord_etcd_reachable", METRICS_GAUGE,
		       "1 while etcd serves this coordinator's calls (a quorum answers)");
	metrics_sample(&b, "tandem_coord_etcd_reachable", NULL, !d->store_down);
	metrics_family(&b, "tandem_coord_etcd_unavailable_total", METRICS_COUNTER,
		       "etcd calls that found no member or no quorum");
	metrics_sample(&b, "tandem_coord_etcd_unavailable_total", NULL, (double)d->etcd_failures);
	metrics_family(&b, "tandem_coord_state_age_seconds", METRICS_GAUGE,
		       "age of the cluster state this coordinator last read");
	metrics_sample(&b, "tandem_coord_state_age_seconds", NULL,
		       d->state_ms != 0 && now > d->state_ms ? (double)(now - d->state_ms) / 1000.0
							     : 0);
	metrics_family(
	    &b, "tandem_coord_clock_skewed", METRICS_GAUGE,
	    "1 while the majority's clocks disown this coordinator's (it decides nothing)");
	metrics_sample(&b, "tandem_coord_clock_skewed", NULL, d->clock_skewed);
	metrics_family(&b, "tandem_coord_clock_offset_seconds", METRICS_GAUGE,
		       "this coordinator's clock minus the majority's, as last judged");
	metrics_sample(&b, "tandem_coord_clock_offset_seconds", NULL,
		       (double)d->clock_offset_ms / 1000.0);
	if (d->state_ms != 0) {
		coordd_metrics_zones(&b, st, now);
		coordd_metrics_nodes(&b, st, now);
	}
	metrics_server_publish_take(d->metrics, &b);
}

static int coordd_poll_timeout(const coordd_t *d, uint64_t now)
{
	uint64_t until = d->store_down ? d->next_fence_ms : d->next_campaign_ms;
	if (!d->store_down && d->leader && !d->clock_skewed && d->next_tick_ms != 0 &&
	    d->next_tick_ms < until) {
		until = d->next_tick_ms;
	}
	if (d->next_fence_ms < until) {
		until = d->next_fence_ms;
	}
	for (size_t i = 0; i < d->npeers; i++) {
		if (d->peers[i].next_ms < until) {
			until = d->peers[i].next_ms;
		}
	}
	if (d->fence_due) {
		until = now;
	}
	uint64_t wait = until > now ? until - now : 0;
	return wait > COORDD_POLL_MAX_MS ? COORDD_POLL_MAX_MS : (int)wait;
}

/* Adds a zone to the cluster (a zone already there is fine); source names who asked. The
 * standbys' digests are compared (right for deterministic signatures, RSA) unless
 * --no-compare-digests (ECDSA and EdDSA signatures differ at each signing). */
static int coordd_add_zone(coordd_t *d, const char *zone, const char *source)
{
	coord_input_t in;
	memset(&in, 0, sizeof(in));
	in.kind = COORD_IN_ZONE_ADD;
	in.compare_digests = !d->opts->no_compare_digests;
	if (!coordd_copy_name(in.zone, sizeof(in.zone), zone)) {
		coordd_log("zone name too long: %s", zone);
		return TANDEM_EINVAL;
	}
	snprintf(d->actor, sizeof(d->actor), "coord:%s", d->opts->name);
	int ret = coordd_decide(d, &in, NULL, coordd_now_ms(), source);
	if (ret != TANDEM_OK) {
		return ret;
	}
	if (d->res->reason != COORD_R_OK && d->res->reason != COORD_R_EXISTS) {
		return TANDEM_EINVAL;
	}
	return TANDEM_OK;
}

static int coordd_add_zones(coordd_t *d)
{
	for (size_t i = 0; i < d->opts->nzones; i++) {
		int ret = coordd_add_zone(d, d->opts->zones[i], "the configuration (--zone)");
		if (ret != TANDEM_OK) {
			return ret;
		}
	}
	return TANDEM_OK;
}

/* Prints what the config loader said, one line each, to stderr. */
static void coordd_conf_print(tandem_diag_t *diag)
{
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		fprintf(stderr, "tandem-coord: %s\n", tandem_diag_msg(diag, i));
	}
	tandem_diag_clear(diag);
}

static void coordd_usage(FILE *fp);
static int coordd_opts_parse(int argc, char **argv, coordd_opts_t *o);

/*
 * The config file and the command line (docs/config.md). Returns 0 to run, 1 on a refusal,
 * 2 when done (--help, --print-schema, --check-config, with *rc set). --check-config reads
 * the files the coordinator reads at start (the allow-list, the approval rules) and touches
 * nothing else: no etcd, no socket.
 */
static int coordd_conf_start(int argc, char **argv, conf_start_t *st, coordd_opts_t *opts, int *rc)
{
	const conf_schema_t *schema = conf_schema_coord();
	tandem_diag_t *diag = NULL;
	int ret = 1;
	*rc = 1;
	if (tandem_diag_new(&diag) != TANDEM_OK) {
		fprintf(stderr, "tandem-coord: out of memory\n");
		return 1;
	}
	const char *what = "the command line";
	if (conf_start(schema, argc, argv, diag, st) != TANDEM_OK) {
		coordd_conf_print(diag);
		if (conf_cli_path(schema, &st->cli) != NULL) {
			what = conf_cli_path(schema, &st->cli);
		}
		goto refused;
	}
	if (conf_file(st->conf) != NULL) {
		what = conf_file(st->conf);
	}
	if (st->cli.print_schema) {
		conf_schema_print(schema, stdout);
		*rc = 0;
		ret = 2;
		goto out;
	}
	int p = coordd_opts_parse(st->args.argc, st->args.argv, opts);
	if (p == 2) {
		coordd_usage(stdout);
		*rc = 0;
		ret = 2;
		goto out;
	}
	if (p != 0) {
		if (!st->cli.check) {
			coordd_usage(stderr);
		} else {
			fprintf(stderr, "tandem-coord: need etcd, listen, key and allow\n");
		}
		goto refused;
	}
	if (!st->cli.check) {
		ret = 0;
		goto out;
	}
	coord_params_t params;
	coord_params_default(&params);
	params.lease_ms = opts->has_lease ? opts->lease_ms : params.lease_ms;
	params.margin_ms = opts->has_margin ? opts->margin_ms : params.margin_ms;
	if (coord_params_check(&params) != TANDEM_OK) {
		fprintf(stderr,
			"tandem-coord: lease-ms %" PRIu64 " / margin-ms %" PRIu64
			": the margin must be above 0 and below a third of the lease\n",
			params.lease_ms, params.margin_ms);
		goto refused;
	}
	/* files made later (on the host they are meant for) are no error here */
	net_allow_t *allow = NULL;
	int aret = TANDEM_OK;
	if (access(opts->allow, F_OK) != 0) {
		fprintf(stderr, "tandem-coord: note: allow %s: not there yet\n", opts->allow);
	} else {
		aret = net_allow_load(opts->allow, diag, &allow);
		net_allow_free(allow);
	}
	if (aret != TANDEM_OK) {
		fprintf(stderr, "tandem-coord: allow %s: %s\n", opts->allow, tandem_strerror(aret));
		coordd_conf_print(diag);
		goto refused;
	}
	if (opts->approval_rules != NULL && access(opts->approval_rules, F_OK) != 0) {
		fprintf(stderr, "tandem-coord: note: approval-rules %s: not there yet\n",
			opts->approval_rules);
	} else if (opts->approval_rules != NULL) {
		char *text = NULL, why[COORD_TEXT_MAX];
		size_t len = 0;
		coord_rules_t rules;
		coord_rules_default(&rules);
		int rret = tandem_file_read(opts->approval_rules, 64u * 1024u, &text, &len);
		if (rret == TANDEM_OK) {
			rret = coord_rules_parse(text, &rules, why, sizeof(why));
		} else {
			snprintf(why, sizeof(why), "%s", tandem_strerror(rret));
		}
		free(text);
		if (rret != TANDEM_OK) {
			fprintf(stderr, "tandem-coord: approval-rules %s: %s\n",
				opts->approval_rules, why);
			goto refused;
		}
	}
	printf("%s: OK\n", what);
	*rc = 0;
	ret = 2;
	goto out;
refused:
	if (st->cli.check) {
		printf("%s: refused\n", what);
		ret = 2;
	}
out:
	tandem_diag_free(diag);
	return ret;
}

/*
 * SIGHUP: reads the config file again. Zones added to the file since the last reload are
 * added to the cluster (one taken out of the file stays in the cluster: removing a zone is
 * an operator's 'tandemctl zone remove'); every other key that differs from the file the
 * coordinator started with is named as needing a restart. The allow-list's contents are
 * read again by coordd_reload_allow.
 */
typedef struct coordd_reload {
	coordd_t *d;
	const conf_start_t *st;
	unsigned changed, restart;
} coordd_reload_t;

static bool coordd_values_has(const char *const *vals, size_t n, const char *v)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(vals[i], v) == 0) {
			return true;
		}
	}
	return false;
}

/* Applies the zones of fresh over those of prev; false when a zone could not be added. */
static bool coordd_reload_zones(coordd_reload_t *r, const conf_t *prev, const conf_t *fresh)
{
	const conf_key_t *key = conf_schema_find(conf_schema_coord(), "zone");
	const char *was[COORDD_ZONES_MAX], *now[COORDD_ZONES_MAX];
	size_t nwas = conf_values(prev, key, was, COORDD_ZONES_MAX);
	size_t nnow = conf_values(fresh, key, now, COORDD_ZONES_MAX);
	bool ok = true;
	nwas = nwas < COORDD_ZONES_MAX ? nwas : COORDD_ZONES_MAX;
	nnow = nnow < COORDD_ZONES_MAX ? nnow : COORDD_ZONES_MAX;
	if (conf_cli_has(key, r->st->cli.argc, r->st->cli.argv)) {
		return true; /* the command line's zones win */
	}
	for (size_t i = 0; i < nnow; i++) {
		if (coordd_values_has(was, nwas, now[i])) {
			continue;
		}
		r->changed++;
		if (coordd_add_zone(r->d, now[i], "the config file (reload)") == TANDEM_OK) {
			coordd_log("reload: zone %s added to the cluster", now[i]);
		} else {
			coordd_log("reload: zone %s could not be added; tried again at the next "
				   "SIGHUP",
				   now[i]);
			ok = false;
		}
	}
	for (size_t i = 0; i < nwas; i++) {
		if (!coordd_values_has(now, nnow, was[i])) {
			r->changed++;
			coordd_log("reload: zone %s left the file; it stays in the cluster until "
				   "'tandemctl zone remove %s'",
				   was[i], was[i]);
		}
	}
	return ok;
}

static void coordd_reload_key(void *arg, const conf_key_t *key, unsigned old_line,
			      unsigned new_line)
{
	coordd_reload_t *r = arg;
	if ((key->flags & CONF_LIVE) != 0) {
		return; /* applied against the last reload, not the start */
	}
	r->changed++;
	if (conf_cli_has(key, r->st->cli.argc, r->st->cli.argv)) {
		coordd_log("reload: %s changed in the file, but the command line sets it",
			   key->name);
		return;
	}
	r->restart++;
	coordd_log("reload: %s changed (%s%u), needs a restart: not applied", key->name,
		   new_line != 0 ? "line " : "left the file, was line ",
		   new_line != 0 ? new_line : old_line);
}

/* log-level: the file's (or the default), unless the command line sets it. */
static void coordd_reload_log_level(coordd_reload_t *r, const conf_t *was, const conf_t *fresh)
{
	const conf_key_t *key = conf_schema_find(conf_schema_coord(), "log-level");
	const char *old = "info", *now = "info";
	tandem_log_level_t level = TANDEM_LOG_INFO;
	if (key == NULL) {
		return;
	}
	(void)conf_values(was, key, &old, 1);
	(void)conf_values(fresh, key, &now, 1);
	if (strcmp(old, now) == 0) {
		return;
	}
	r->changed++;
	if (conf_cli_has(key, r->st->cli.argc, r->st->cli.argv)) {
		coordd_log("reload: log-level changed in the file, but the command line sets it");
		return;
	}
	(void)tandem_log_level_parse(now, &level);   /* checked by the loader */
	coordd_log("reload: log-level now %s", now); /* said before a higher level hides it */
	tandem_log_set_level(level);
}

/* *applied: the file as last applied (NULL: the one started with); replaced on success. */
static void coordd_reload_conf(coordd_t *d, const conf_start_t *st, conf_t **applied)
{
	const char *path = conf_file(st->conf);
	conf_t *fresh = NULL;
	if (path == NULL) {
		return; /* command line only: the allow-list is all there is to read again */
	}
	tandem_diag_clear(d->diag);
	int ret = conf_load(conf_schema_coord(), path, d->diag, &fresh);
	if (ret != TANDEM_OK) {
		for (size_t i = 0; i < tandem_diag_kept(d->diag); i++) {
			coordd_log("reload: %s", tandem_diag_msg(d->diag, i));
		}
		tandem_diag_clear(d->diag);
		coordd_log("reload: %s refused (%s); the config in force stays", path,
			   tandem_strerror(ret));
		return;
	}
	coordd_reload_t r = {.d = d, .st = st};
	conf_diff(conf_schema_coord(), st->conf, fresh, coordd_reload_key, &r);
	bool ok = coordd_reload_zones(&r, *applied != NULL ? *applied : st->conf, fresh);
	coordd_reload_log_level(&r, *applied != NULL ? *applied : st->conf, fresh);
	coordd_log("reload: %s read, %u key(s) changed, %u need a restart", path, r.changed,
		   r.restart);
	if (ok) {
		conf_free(*applied);
		*applied = fresh;
	} else {
		conf_free(fresh);
	}
}

static void coordd_usage(FILE *fp)
{
	fprintf(
	    fp,
	    "usage: tandem-coord --etcd URL[,URL...] --listen tcp://127.0.0.1:PORT --key SECRET\n"
	    "                    --allow ALLOWFILE [--name NAME] [--prefix /P/] [--lease-ms MS]\n"
	    "                    [--margin-ms MS] [--zone NAME]... [--no-compare-digests]\n"
	    "                    [--pid-file FILE]\n"
	    "                    [--peer NAME=tcp://HOST:PORT]... [--approval-rules FILE]\n"
	    "                    [--role-mirror FILE] [--archive-grant NODE]...\n"
	    "                    [--log-target stderr|syslog] [--log-level info|notice|warning]\n"
	    "                    [--syslog-socket PATH]\n"
	    "                    [--etcd-ca CA.pem --etcd-cert CERT.pem --etcd-key KEY.pem]\n"
	    "                    [--insecure-etcd] [--metrics HOST:PORT]\n"
	    "                    [--audit-mirror FILE] [--audit-archive DIR] [--audit-key SECRET]\n"
	    "                    [--audit-anchor-interval SECONDS] [--audit-retention SECONDS]\n"
	    "  --listen tcp://HOST:*   picks a free port and prints 'listening ENDPOINT'\n"
	    "  --no-compare-digests  the --zone zones are added without comparing the standbys'\n"
	    "           digests (ECDSA, EdDSA: their signatures differ at each signing)\n"
	    "  --peer   another coordinator, listed in ALLOWFILE with the coordinator role:\n"
	    "           the clocks are compared with it (docs/coordinator.md, \"Clocks\")\n"
	    "  --etcd-ca, --etcd-cert, --etcd-key   TLS with a client certificate to https://\n"
	    "           etcd endpoints (the key file mode 0600); plain http:// endpoints are\n"
	    "           refused unless --insecure-etcd (docs/etcd.md, \"TLS\")\n"
	    "  --metrics Prometheus metrics on http://HOST:PORT/metrics (port 0: a free one,\n"
	    "           printed as 'metrics HOST:PORT'; docs/monitoring.md)\n"
	    "  --audit-*  the audit log's mirror (default audit-NAME.jsonl), retention archives\n"
	    "           (default: beside the mirror), anchor key (tandemctl audit keygen), anchor\n"
	    "           interval (default 3600) and retention (default 31536000, 0: keep all)\n"
	    "           (docs/audit.md)\n"
	    "  --approval-rules  who approves what, over the DPS defaults (docs/approvals.md)\n"
	    "  --role-mirror     a local copy of the role table, written back to an etcd that\n"
	    "                    lost it (docs/approvals.md, \"Break glass\")\n"
	    "  --archive-grant NODE  a node the cluster is set up with: the first grant table\n"
	    "                    lets it import every zone's keys from the archive; other nodes\n"
	    "                    need an approved archive-distribute (docs/approvals.md)\n"
	    "  --log-target syslog  each log line to the syslog socket (--syslog-socket, default\n"
	    "                    " TANDEM_LOG_SOCKET ") instead of stderr\n");
}

static bool coordd_parse_u64(const char *s, uint64_t *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
		return false;
	}
	*out = v;
	return true;
}

/* The approval rules: the DPS defaults, with --approval-rules over them. */
static int coordd_rules_load(coordd_t *d)
{
	char *text = NULL, why[COORD_TEXT_MAX];
	size_t len = 0;
	coord_rules_default(&d->rules);
	if (d->opts->approval_rules == NULL) {
		return TANDEM_OK;
	}
	int ret = tandem_file_read(d->opts->approval_rules, 64u * 1024u, &text, &len);
	if (ret != TANDEM_OK) {
		coordd_log("--approval-rules %s: %s", d->opts->approval_rules,
			   tandem_strerror(ret));
		return ret;
	}
	ret = coord_rules_parse(text, &d->rules, why, sizeof(why));
	if (ret != TANDEM_OK) {
		coordd_log("--approval-rules %s: %s", d->opts->approval_rules, why);
	}
	free(text);
	return ret;
}

/* Returns 0 on success, 1 on bad usage, 2 for --help. */
static int coordd_opts_parse(int argc, char **argv, coordd_opts_t *o)
{
	/* long-only options */
	enum {
		OPT_ETCD_CA = 256,
		OPT_ETCD_CERT,
		OPT_ETCD_KEY,
		OPT_INSECURE_ETCD,
		OPT_METRICS,
		OPT_APPROVAL_RULES,
		OPT_ROLE_MIRROR,
		OPT_ARCHIVE_GRANT,
		OPT_LOG_TARGET,
		OPT_LOG_LEVEL,
		OPT_SYSLOG_SOCKET,
		OPT_NO_COMPARE_DIGESTS
	};
	static const struct option longopts[] = {
	    {"etcd", required_argument, NULL, 'e'},
	    {"listen", required_argument, NULL, 'l'},
	    {"key", required_argument, NULL, 'k'},
	    {"allow", required_argument, NULL, 'a'},
	    {"name", required_argument, NULL, 'n'},
	    {"prefix", required_argument, NULL, 'P'},
	    {"lease-ms", required_argument, NULL, 'L'},
	    {"margin-ms", required_argument, NULL, 'M'},
	    {"pid-file", required_argument, NULL, 'p'},
	    {"zone", required_argument, NULL, 'z'},
	    {"peer", required_argument, NULL, 'r'},
	    {"etcd-ca", required_argument, NULL, OPT_ETCD_CA},
	    {"etcd-cert", required_argument, NULL, OPT_ETCD_CERT},
	    {"etcd-key", required_argument, NULL, OPT_ETCD_KEY},
	    {"insecure-etcd", no_argument, NULL, OPT_INSECURE_ETCD},
	    {"metrics", required_argument, NULL, OPT_METRICS},
	    {"audit-mirror", required_argument, NULL, 'A'},
	    {"audit-archive", required_argument, NULL, 'R'},
	    {"audit-key", required_argument, NULL, 'K'},
	    {"audit-anchor-interval", required_argument, NULL, 'I'},
	    {"audit-retention", required_argument, NULL, 'T'},
	    {"approval-rules", required_argument, NULL, OPT_APPROVAL_RULES},
	    {"role-mirror", required_argument, NULL, OPT_ROLE_MIRROR},
	    {"archive-grant", required_argument, NULL, OPT_ARCHIVE_GRANT},
	    {"log-target", required_argument, NULL, OPT_LOG_TARGET},
	    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	    {"syslog-socket", required_argument, NULL, OPT_SYSLOG_SOCKET},
	    {"no-compare-digests", no_argument, NULL, OPT_NO_COMPARE_DIGESTS},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	int c;
	memset(o, 0, sizeof(*o));
	o->name = "coord";
	o->audit_anchor_s = 3600;
	o->audit_retention_s = 365u * 86400u;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'e': o->etcd = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'k': o->key = optarg; break;
		case 'a': o->allow = optarg; break;
		case 'n': o->name = optarg; break;
		case 'P': o->prefix = optarg; break;
		case 'p': o->pid_file = optarg; break;
		case OPT_ETCD_CA: o->etcd_ca = optarg; break;
		case OPT_ETCD_CERT: o->etcd_cert = optarg; break;
		case OPT_ETCD_KEY: o->etcd_key = optarg; break;
		case OPT_INSECURE_ETCD: o->insecure_etcd = true; break;
		case OPT_NO_COMPARE_DIGESTS: o->no_compare_digests = true; break;
		case OPT_METRICS: o->metrics = optarg; break;
		case OPT_APPROVAL_RULES: o->approval_rules = optarg; break;
		case OPT_ROLE_MIRROR: o->role_mirror = optarg; break;
		case OPT_ARCHIVE_GRANT:
			if (o->ngrants >= COORD_NODES_MAX) {
				fprintf(stderr, "tandem-coord: --archive-grant: at most %d nodes\n",
					COORD_NODES_MAX);
				return 1;
			}
			o->grants[o->ngrants++] = optarg;
			break;
		case OPT_LOG_TARGET:
			if (!tandem_log_target_parse(optarg, &o->log_target)) {
				fprintf(stderr,
					"tandem-coord: --log-target takes stderr or syslog, not "
					"'%s'\n",
					optarg);
				return 1;
			}
			break;
		case OPT_SYSLOG_SOCKET: o->syslog_socket = optarg; break;
		case OPT_LOG_LEVEL:
			if (!tandem_log_level_parse(optarg, &o->log_level)) {
				fprintf(
				    stderr,
				    "tandem-coord: --log-level takes info, notice or warning, not "
				    "'%s'\n",
				    optarg);
				return 1;
			}
			break;
		case 'L':
			if (!coordd_parse_u64(optarg, &o->lease_ms)) {
				fprintf(stderr, "tandem-coord: bad --lease-ms '%s'\n", optarg);
				return 1;
			}
			o->has_lease = true;
			break;
		case 'M':
			if (!coordd_parse_u64(optarg, &o->margin_ms)) {
				fprintf(stderr, "tandem-coord: bad --margin-ms '%s'\n", optarg);
				return 1;
			}
			o->has_margin = true;
			break;
		case 'z':
			if (o->nzones >= COORDD_ZONES_MAX) {
				fprintf(stderr, "tandem-coord: too many --zone\n");
				return 1;
			}
			o->zones[o->nzones++] = optarg;
			break;
		case 'r':
			if (o->npeers >= COORDD_PEERS_MAX || strchr(optarg, '=') == NULL) {
				fprintf(stderr, "tandem-coord: --peer NAME=ENDPOINT, at most %u\n",
					(unsigned)COORDD_PEERS_MAX);
				return 1;
			}
			o->peers[o->npeers++] = optarg;
			break;
		case 'A': o->audit_mirror = optarg; break;
		case 'R': o->audit_archive = optarg; break;
		case 'K': o->audit_key = optarg; break;
		case 'I':
		case 'T':
			if (!coordd_parse_u64(optarg, c == 'I' ? &o->audit_anchor_s
							       : &o->audit_retention_s) ||
			    (c == 'I' && o->audit_anchor_s == 0)) {
				fprintf(stderr, "tandem-coord: bad --audit-%s '%s' (seconds)\n",
					c == 'I' ? "anchor-interval" : "retention", optarg);
				return 1;
			}
			break;
		case 'h': return 2;
		default: return 1;
		}
	}
	if (optind != argc || o->etcd == NULL || o->listen == NULL || o->key == NULL ||
	    o->allow == NULL) {
		return 1;
	}
	for (const char *p = o->name; *p != '\0'; p++) {
		if (*p <= ' ' || *p > '~') {
			o->name = "";
		}
	}
	if (o->name[0] == '\0' || strlen(o->name) > COORD_STORE_NAME_MAX) {
		fprintf(stderr, "tandem-coord: --name: 1 to %u printable characters, no spaces\n",
			COORD_STORE_NAME_MAX);
		return 1;
	}
	return 0;
}

/* The audit sink's log lines go to the daemon's log. */
static void coordd_audit_log(void *arg, const char *line)
{
	(void)arg;
	coordd_log("%s", line);
}

/* Opens the audit sink (docs/audit.md): its mirror, archive directory and anchor key, and
 * stores the anchor public key in etcd. */
static int coordd_audit_open(coordd_t *d, coord_etcd_t *etcd, char *mirror, char *archive,
			     size_t size)
{
	const coordd_opts_t *o = d->opts;
	if (o->audit_mirror != NULL) {
		snprintf(mirror, size, "%s", o->audit_mirror);
	} else {
		snprintf(mirror, size, "audit-%s.jsonl", o->name);
	}
	if (o->audit_archive != NULL) {
		snprintf(archive, size, "%s", o->audit_archive);
	} else {
		const char *slash = strrchr(mirror, '/');
		snprintf(archive, size, "%.*s", slash != NULL ? (int)(slash - mirror) : 1,
			 slash != NULL ? mirror : ".");
	}
	coordd_audit_cfg_t cfg = {.name = o->name,
				  .prefix = coord_store_prefix(d->store),
				  .mirror = mirror,
				  .archive_dir = archive[0] != '\0' ? archive : "/",
				  .key_file = o->audit_key,
				  .anchor_every_ms = o->audit_anchor_s * 1000u,
				  .retention_ms = o->audit_retention_s * 1000u,
				  .log = coordd_audit_log};
	int ret = coordd_audit_new(etcd, &cfg, &d->audit);
	if (ret != TANDEM_OK) {
		coordd_log("audit: cannot open (mirror %s): %s", mirror, tandem_strerror(ret));
		return ret;
	}
	d->chain = coordd_audit_sink(d->audit);
	return coordd_audit_publish_key(d->audit);
}

/* A coordinator's own event (start, stop). */
static void coordd_audit_self(coordd_t *d, const char *type, const char *details)
{
	snprintf(d->actor, sizeof(d->actor), "coord:%s", d->opts->name);
	tandem_audit_event_t ev = {.type = type,
				   .level = TANDEM_AUDIT_NOTICE,
				   .actor = d->actor,
				   .key_id = -1,
				   .details = details};
	tandem_audit(&d->sink, &ev);
}

static int coordd_pid_write(const char *path)
{
	tandem_afile_t *f = NULL;
	int ret = tandem_afile_open(path, 0644, &f);
	if (ret != TANDEM_OK) {
		return ret;
	}
	FILE *fp = fopen(tandem_afile_tmp_path(f), "w");
	if (fp == NULL || fprintf(fp, "%ld\n", (long)getpid()) < 0) {
		if (fp != NULL) {
			fclose(fp);
		}
		tandem_afile_abort(f);
		return TANDEM_EIO;
	}
	if (fclose(fp) != 0) {
		tandem_afile_abort(f);
		return TANDEM_EIO;
	}
	return tandem_afile_commit(f);
}

/* Makes a clock-probe client for each --peer, whose key the allow-list has under its name
 * with the coordinator role. */
static int coordd_peers_open(coordd_t *d, void *ctx, const net_key_t *key)
{
	for (size_t i = 0; i < d->opts->npeers; i++) {
		coordd_peer_t *p = &d->peers[i];
		const char *arg = d->opts->peers[i];
		const char *eq = strchr(arg, '=');
		size_t len = (size_t)(eq - arg);
		if (len == 0 || len >= sizeof(p->name) || eq[1] == '\0') {
			coordd_log("--peer %s: expected NAME=ENDPOINT", arg);
			return TANDEM_EINVAL;
		}
		memcpy(p->name, arg, len);
		p->name[len] = '\0';
		p->endpoint = eq + 1;
		const net_allow_entry_t *e = net_allow_find_name(d->allow, p->name);
		if (e == NULL || e->role != NET_ROLE_COORDINATOR) {
			coordd_log("--peer %s: not in the allow-list with the coordinator role",
				   p->name);
			return TANDEM_EINVAL;
		}
		net_rpc_client_cfg_t cfg = {.endpoint = p->endpoint,
					    .server_public = e->key,
					    .timeout_ms = COORDD_PROBE_WAIT_MS,
					    .attempts = 1};
		int ret = net_rpc_client_new(ctx, key, &cfg, &p->client);
		if (ret != TANDEM_OK) {
			coordd_log("--peer %s: %s", arg, tandem_strerror(ret));
			return ret;
		}
		/* spread the probes, so that two coordinators seldom probe each other at once */
		p->next_ms = coordd_now_ms() + 200u + 700u * i + (uint64_t)(getpid() % 500);
		d->npeers++;
	}
	return TANDEM_OK;
}

int main(int argc, char **argv)
{
	coordd_opts_t opts;
	coordd_t d;
	int rc = 1, ret;
	char *etcd_buf = NULL;
	char audit_mirror[1024], audit_archive[1024];
	coord_etcd_t *etcd = NULL;
	coordd_scrape_t scrape = {0};
	net_key_t *key = NULL;
	net_allow_t *allow = NULL;
	void *ctx = NULL;
	bool curl_init = false, pid_written = false;
	sigset_t sigs;
	conf_start_t conf = {0};
	conf_t *conf_applied = NULL; /* the file as SIGHUP last applied it */

	memset(&d, 0, sizeof(d));
	if (tandem_proc_harden() != TANDEM_OK) {
		fprintf(stderr, "tandem-coord: cannot disable core dumps\n");
		return 1;
	}
	if (coordd_conf_start(argc, argv, &conf, &opts, &rc) != 0) {
		conf_start_deinit(&conf);
		return rc;
	}
	rc = 1;
	d.opts = &opts;
	/* on stderr the lines stay as they were; syslog's name the coordinator */
	tandem_log_set_level(opts.log_level);
	tandem_log_open(opts.log_target, "tandem-coord",
			opts.log_target == TANDEM_LOG_SYSLOG ? opts.name : NULL,
			opts.syslog_socket);
	/* Signals are taken synchronously (sigtimedwait) in the loop: no handler, no global.
	 * Blocked before any thread starts, so libzmq's and the ZAP thread inherit the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) != 0) {
		coordd_log("cannot block signals");
		goto out;
	}
	d.sink = (tandem_audit_sink_t){.emit = coordd_audit_emit, .ctx = &d};
	if (coordd_rules_load(&d) != TANDEM_OK) {
		goto out;
	}
	coord_params_default(&d.params);
	if (opts.has_lease) {
		d.params.lease_ms = opts.lease_ms;
	}
	if (opts.has_margin) {
		d.params.margin_ms = opts.margin_ms;
	}
	if (coord_params_check(&d.params) != TANDEM_OK) {
		coordd_log("bad --lease-ms %" PRIu64 " / --margin-ms %" PRIu64
			   ": the margin must be above 0 and below a third of the lease",
			   d.params.lease_ms, d.params.margin_ms);
		goto out;
	}
	d.res = calloc(1, sizeof(*d.res));
	d.state = calloc(1, sizeof(*d.state));
	d.zstate = calloc(1, sizeof(*d.zstate));
	d.status = calloc(1, sizeof(*d.status));
	d.keys = calloc(1, sizeof(*d.keys));
	d.keyset = calloc(1, sizeof(*d.keyset));
	etcd_buf = strdup(opts.etcd);
	if (d.res == NULL || d.state == NULL || d.zstate == NULL || d.status == NULL ||
	    d.keys == NULL || d.keyset == NULL || etcd_buf == NULL ||
	    tandem_diag_new(&d.diag) != TANDEM_OK) {
		coordd_log("out of memory");
		goto out;
	}
	ret = net_key_load(opts.key, &key);
	if (ret != TANDEM_OK) {
		coordd_log("key %s: %s", opts.key, tandem_strerror(ret));
		goto out;
	}
	ret = net_allow_load(opts.allow, d.diag, &allow);
	if (ret != TANDEM_OK) {
		coordd_log_diag(d.diag, opts.allow, ret);
		goto out;
	}
	d.allow = allow;
	const char *eps[COORD_ETCD_MAX_ENDPOINTS];
	size_t neps = tandem_split(etcd_buf, ',', eps, COORD_ETCD_MAX_ENDPOINTS);
	if (neps == 0 || neps > COORD_ETCD_MAX_ENDPOINTS) {
		coordd_log("--etcd: 1 to %u endpoints", COORD_ETCD_MAX_ENDPOINTS);
		goto out;
	}
	/* the cluster's state and the operators' decisions travel to etcd: in the clear only
	 * when the operator says so */
	for (size_t i = 0; i < neps && !opts.insecure_etcd; i++) {
		if (strncmp(eps[i], "http://", 7) == 0) {
			coordd_log("--etcd %s: plain HTTP refused; use https:// endpoints with "
				   "--etcd-ca, --etcd-cert and --etcd-key, or --insecure-etcd",
				   eps[i]);
			goto out;
		}
	}
	ret = coord_etcd_global_init();
	if (ret != TANDEM_OK) {
		coordd_log("etcd client: %s", tandem_strerror(ret));
		goto out;
	}
	curl_init = true;
	coord_etcd_opts_t eopts = {.timeout_ms = COORDD_ETCD_TIMEOUT_MS,
				   .connect_timeout_ms = COORDD_ETCD_CONNECT_MS,
				   .call_timeout_ms = COORDD_ETCD_CALL_MS,
				   .tls_ca = opts.etcd_ca,
				   .tls_cert = opts.etcd_cert,
				   .tls_key = opts.etcd_key};
	ret = coord_etcd_new(eps, neps, &eopts, d.diag, &etcd);
	if (ret == TANDEM_OK) {
		ret = coord_store_new(etcd, opts.prefix, d.diag, &d.store);
	}
	if (ret == TANDEM_OK) {
		ret = coord_store_init(d.store, &d.params, d.diag);
	}
	coord_params_t cluster;
	if (ret == TANDEM_OK) {
		ret = coord_store_params(d.store, &d.params, coordd_now_ms(), d.diag, &cluster);
	}
	if (ret != TANDEM_OK) {
		coordd_log_diag(d.diag, "store", ret);
		goto out;
	}
	/* one lease and margin for the cluster: a coordinator told otherwise does not start */
	if ((opts.has_lease && cluster.lease_ms != opts.lease_ms) ||
	    (opts.has_margin && cluster.margin_ms != opts.margin_ms)) {
		coordd_log("refusing to start: --lease-ms %" PRIu64 " --margin-ms %" PRIu64
			   " disagree with the cluster's stored lease %" PRIu64
			   " ms, margin %" PRIu64 " ms (start without them to take the stored "
			   "values, or change them with 'tandemctl cluster params')",
			   d.params.lease_ms, d.params.margin_ms, cluster.lease_ms,
			   cluster.margin_ms);
		goto out;
	}
	d.params = cluster;
	if (coordd_audit_open(&d, etcd, audit_mirror, audit_archive, sizeof(audit_mirror)) !=
	    TANDEM_OK) {
		goto out;
	}
	coordd_audit_self(&d, "coord.start", "coordinator started");
	d.requests = (coordd_requests_t){.store = d.store,
					 .diag = d.diag,
					 .audit = &d.sink,
					 .rules = &d.rules,
					 .coord_name = opts.name,
					 .exec = coordd_request_exec,
					 .exec_arg = &d,
					 .mirror_path = opts.role_mirror};
	char why[COORD_TEXT_MAX];
	if (coordd_requests_init(&d.requests, why, sizeof(why)) != TANDEM_OK) {
		coordd_log("%s", why);
		goto out;
	}
	if (coordd_rules_sync(&d, true) != TANDEM_OK || coordd_grants_start(&d) != TANDEM_OK) {
		goto out;
	}
	if (coordd_add_zones(&d) != TANDEM_OK) {
		goto out;
	}
	ctx = zmq_ctx_new();
	if (ctx == NULL) {
		coordd_log("cannot create a ZeroMQ context");
		goto out;
	}
	net_rpc_server_cfg_t cfg = {
	    .endpoint = opts.listen, .handler = coordd_handle, .handler_arg = &d};
	ret = net_rpc_server_new(ctx, key, allow, &cfg, &d.srv);
	if (ret != TANDEM_OK) {
		coordd_log("listen %s: %s", opts.listen, tandem_strerror(ret));
		goto out;
	}
	if (coordd_peers_open(&d, ctx, key) != TANDEM_OK) {
		goto out;
	}
	net_key_free(key); /* the sockets keep their own copies */
	key = NULL;
	/* the peers' clocks are measured before the first request is decided and before the
	 * first campaign: a coordinator started with a wrong clock learns it at once */
	for (size_t i = 0; i < d.npeers; i++) {
		coordd_probe(&d, &d.peers[i]);
		d.peers[i].next_ms += 300u * i;
	}
	/* fenced members' keys leave the allow-list before the first request is served */
	coordd_fence_sweep(&d);
	d.next_fence_ms = coordd_now_ms() + COORDD_FENCE_EVERY_MS;
	if (opts.pid_file != NULL) {
		ret = coordd_pid_write(opts.pid_file);
		if (ret != TANDEM_OK) {
			coordd_log("pid file %s: %s", opts.pid_file, tandem_strerror(ret));
			goto out;
		}
		pid_written = true;
	}
	if (opts.metrics != NULL) {
		const char *mwhy = NULL;
		coord_etcd_opts_t sopts = eopts;
		sopts.timeout_ms = 500;
		sopts.connect_timeout_ms = 500;
		ret = coord_etcd_new(eps, neps, &sopts, d.diag, &scrape.etcd);
		if (ret == TANDEM_OK) {
			ret = tandem_diag_new(&scrape.diag);
		}
		if (ret == TANDEM_OK) {
			ret = metrics_server_start(opts.metrics, coordd_metrics_scrape, &scrape,
						   &d.metrics, &mwhy);
		}
		if (ret != TANDEM_OK) {
			coordd_log("--metrics %s: %s", opts.metrics,
				   mwhy != NULL ? mwhy : tandem_strerror(ret));
			goto out;
		}
		printf("metrics %s\n", metrics_server_address(d.metrics));
	}
	printf("listening %s\n", net_rpc_server_endpoint(d.srv));
	fflush(stdout);
	coordd_log("%s serving %s, %zu peers allowed, lease %" PRIu64 " ms, margin %" PRIu64 " ms",
		   opts.name, net_rpc_server_endpoint(d.srv), net_allow_count(allow),
		   d.params.lease_ms, d.params.margin_ms);

	tandem_service_t svc;
	char svc_line[160];
	snprintf(svc_line, sizeof(svc_line), "%s serving %s", opts.name,
		 net_rpc_server_endpoint(d.srv));
	tandem_service_init(&svc);
	tandem_service_ready(svc_line);
	for (;;) {
		uint64_t now = coordd_now_ms();
		tandem_service_watchdog(&svc, now);
		coordd_timers(&d, now);
		if (d.metrics != NULL && now >= d.next_metrics_ms) {
			coordd_metrics_render(&d, now);
			d.next_metrics_ms = now + COORDD_METRICS_EVERY_MS;
		}
		ret = coordd_audit_turn(d.audit, coordd_now_ms(), !d.store_down, d.leader);
		if (coordd_store_unavailable(ret)) {
			coordd_store_note(&d, ret);
		}
		ret = net_rpc_server_poll(d.srv, coordd_poll_timeout(&d, coordd_now_ms()));
		coordd_log_refusals(&d);
		if (ret < 0) {
			coordd_log("poll: %s", tandem_strerror(ret));
			goto out;
		}
		struct timespec zero = {0, 0};
		int sig = sigtimedwait(&sigs, NULL, &zero);
		if (sig == SIGTERM || sig == SIGINT) {
			coordd_log("signal %d: stopping", sig);
			tandem_service_stopping();
			break;
		}
		if (sig == SIGHUP) {
			coordd_reload_conf(&d, &conf, &conf_applied);
			coordd_reload_allow(&d, &allow);
		}
	}
	ret = coord_store_resign(d.store, d.diag);
	if (ret != TANDEM_OK) {
		coordd_log_diag(d.diag, "resign failed", ret);
	}
	coordd_audit_self(&d, "coord.stop", "coordinator stopped (signal)");
	coordd_audit_turn(d.audit, coordd_now_ms(), !d.store_down, false);
	rc = 0;
out:
	metrics_server_stop(d.metrics);
	coord_etcd_free(scrape.etcd);
	tandem_diag_free(scrape.diag);
	if (pid_written) {
		unlink(opts.pid_file);
	}
	for (size_t i = 0; i < d.npeers; i++) {
		net_rpc_client_free(d.peers[i].client);
	}
	net_rpc_server_free(d.srv);
	coordd_audit_free(d.audit);
	if (ctx != NULL) {
		zmq_ctx_term(ctx);
	}
	coord_store_free(d.store);
	coord_etcd_free(etcd);
	if (curl_init) {
		coord_etcd_global_cleanup();
	}
	net_allow_free(allow);
	net_key_free(key);
	tandem_diag_free(d.diag);
	coordd_requests_deinit(&d.requests);
	free(d.keys);
	free(d.keyset);
	free(d.status);
	free(d.state);
	free(d.zstate);
	free(d.res);
	free(etcd_buf);
	conf_free(conf_applied);
	conf_start_deinit(&conf);
	tandem_log_close();
	return rc;
}
