/* tandem-coord: the coordinator daemon; answers nodes over net RPC, decides through the store. */
#include "coord_etcd.h"
#include "coord_state.h"
#include "coord_store.h"
#include "coordrpc.h"
#include "kasp_skr.h"
#include "kasp_store.h"
#include "net_allow.h"
#include "net_key.h"
#include "net_rpc.h"
#include "tandem_diag.h"
#include "tandem_encode.h"
#include "tandem_error.h"
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

typedef struct coordd_opts {
	const char *etcd;
	const char *listen;
	const char *key;
	const char *allow;
	const char *name;
	const char *prefix;
	const char *pid_file;
	uint64_t lease_ms;
	uint64_t margin_ms;
	size_t nzones;
	const char *zones[COORDD_ZONES_MAX];
} coordd_opts_t;

/* The daemon's context: everything lives here, nothing in globals (STYLE rule 9). */
typedef struct coordd {
	const coordd_opts_t *opts;
	coord_params_t params;
	coord_store_t *store;
	net_rpc_server_t *srv;
	const net_allow_t *allow; /* as loaded from --allow: fencing only ever removes from it */
	tandem_diag_t *diag;
	coord_result_t *res;       /* ~60 KB: on the heap */
	coord_state_t *state;      /* ~200 KB: on the heap, for status, timers and fencing */
	coordrpc_status_t *status; /* ~600 KB: on the heap */
	coordrpc_keys_t *keys;
	kasp_keyset_t *keyset; /* ~50 KB: a key set put's bytes, checked */
	bool leader;
	uint64_t next_campaign_ms;
	uint64_t next_tick_ms;  /* leader only; 0: none planned */
	uint64_t next_fence_ms; /* the next fencing sweep */
	bool fence_due;         /* a decision changed the state: sweep after this poll */
	bool fence_failing;     /* the last sweep could not read the state (logged once) */
} coordd_t;

/* Every coordinator reads the state this often and revokes the keys of fenced members. */
#define COORDD_FENCE_EVERY_MS 1000u

static uint64_t coordd_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* One log line on stderr, prefixed with the UTC time. Never given secrets. Whatever a peer
 * or an operator sent (names, texts) is escaped: a newline cannot forge another line. */
__attribute__((format(printf, 1, 2))) static void coordd_log(const char *fmt, ...)
{
	char stamp[32];
	char line[1024], safe[4 * sizeof(line)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s tandem-coord: %s\n",
		tandem_utc_ms(coordd_now_ms(), stamp, sizeof(stamp)),
		tandem_escape(safe, sizeof(safe), line));
	fflush(stderr);
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
		snprintf(buf, size, "zone=%s serial=%" PRIu32, r->zone, r->serial);
		break;
	case COORDRPC_PARAMS_SET:
		snprintf(buf, size, "lease_ms=%" PRIu64 " margin_ms=%" PRIu64, r->lease_ms,
			 r->margin_ms);
		break;
	default: snprintf(buf, size, "-"); break;
	}
}

/* The audit trail: one line per request from an operator, whatever became of it. */
static void coordd_audit(const net_rpc_request_t *req, const coordrpc_request_t *r, bool accepted,
			 const char *text)
{
	char args[COORD_ZONE_MAX + COORD_ID_MAX + 64];
	if (req->role != NET_ROLE_OPERATOR) {
		return;
	}
	coordd_audit_args(r, args, sizeof(args));
	coordd_log("audit: operator %s: %s %s: %s: %s", req->peer, coordrpc_type(r->kind), args,
		   accepted ? "accepted" : "refused", text);
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
	};
	memset(in, 0, sizeof(*in));
	in->kind = kinds[r->kind];
	/* the request's strings fit the input's fields: same sizes */
	memcpy(in->node, r->node, sizeof(in->node));
	memcpy(in->zone, r->zone, sizeof(in->zone));
	memcpy(in->target, r->target, sizeof(in->target));
	memcpy(in->publish, r->publish, sizeof(in->publish));
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
	in->keyset_revision = r->keyset_revision;
	memcpy(in->skr_id, r->skr_id, sizeof(in->skr_id));
	in->nsec3 = r->nsec3;
	memcpy(in->salt, r->salt, r->salt_len);
	in->salt_len = (uint32_t)r->salt_len;
	/* same sizes as the request's (coordrpc.h and coord_state.h) */
	memcpy(in->instance, r->instance, sizeof(in->instance));
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

static void coordd_status_zone(const coord_state_t *st, const coord_zone_t *z, uint64_t now,
			       coordrpc_zone_status_t *zs)
{
	const coord_node_t *h = coord_state_holder(st, z->name, now);
	memset(zs, 0, sizeof(*zs));
	memcpy(zs->name, z->name, sizeof(zs->name));
	if (h != NULL) {
		memcpy(zs->holder, h->id, sizeof(zs->holder));
		zs->expiry_ms = z->expiry_ms;
		zs->lease_left_ms = z->expiry_ms > now ? z->expiry_ms - now : 0;
	}
	zs->epoch = z->epoch;
	zs->removed = z->removed;
	zs->compare_digests = z->compare_digests;
	zs->has_committed = z->has_committed;
	zs->serial = z->committed_serial;
	memcpy(zs->digest, z->committed_digest, sizeof(zs->digest));
	memcpy(zs->committed_by, z->committed_by, sizeof(zs->committed_by));
	zs->sign_time = z->committed_sign_time;
	zs->input_serial = z->committed_input_serial;
	zs->keyset_revision = z->committed_keyset_revision;
	memcpy(zs->skr_id, z->committed_skr_id, sizeof(zs->skr_id));
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

static int coordd_status(coordd_t *d, uint64_t now, net_rpc_msg_t *reply)
{
	coordrpc_status_t *out = d->status;
	int ret = coord_store_read(d->store, &d->params, d->diag, d->state, NULL);
	if (ret != TANDEM_OK) {
		coordd_log_diag(d->diag, "status: store read failed", ret);
		snprintf(reply->error, sizeof(reply->error), "store: %s", tandem_strerror(ret));
		return ret;
	}
	memset(out, 0, sizeof(*out));
	char leader[COORD_STORE_NAME_MAX + 1] = "";
	ret = coord_store_leader(d->store, d->diag, leader);
	if (ret != TANDEM_OK) {
		coordd_log_diag(d->diag, "status: leader unknown", ret); /* still answer */
		leader[0] = '\0';
	}
	const coord_state_t *st = d->state;
	out->now_ms = now;
	snprintf(out->coordinator, sizeof(out->coordinator), "%s", d->opts->name);
	snprintf(out->leader, sizeof(out->leader), "%s", leader);
	out->params = d->params;
	out->params.node_timeout_ms = 0; /* not carried */
	out->params.prefer_ms = 0;
	out->params.same_site_first = false;
	out->nzones = st->nzones;
	for (uint32_t i = 0; i < st->nzones; i++) {
		coordd_status_zone(st, &st->zones[i], now, &out->zones[i]);
	}
	out->nnodes = st->nnodes;
	for (uint32_t i = 0; i < st->nnodes; i++) {
		const coord_node_t *n = &st->nodes[i];
		coordrpc_node_status_t *ns = &out->nodes[i];
		memcpy(ns->name, n->id, sizeof(ns->name));
		memcpy(ns->publish, n->publish, sizeof(ns->publish));
		ns->site = n->site;
		ns->no = n->no;
		ns->state = n->state;
		ns->healthy = n->healthy && now >= n->last_seen_ms &&
			      now - n->last_seen_ms < d->params.node_timeout_ms;
		ns->last_seen_ms = n->last_seen_ms;
		coordd_status_node_alerts(n, now, &d->params, ns);
	}
	uint8_t *buf = NULL;
	size_t len = 0;
	ret = coordrpc_status_pack(out, &buf, &len);
	return coordd_reply_set(reply, "coord.status.reply", ret, buf, len);
}

/* A zone's keys as the state has them, each with the archive entry it was added with. */
static int coordd_keys(coordd_t *d, const char *zone, net_rpc_msg_t *reply)
{
	coordrpc_keys_t *out = d->keys;
	coord_store_archive_t *arch = NULL;
	int ret = coord_store_read(d->store, &d->params, d->diag, d->state, NULL);
	if (ret == TANDEM_OK) {
		ret = coord_store_archive_list(d->store, zone, d->diag, &arch);
	}
	if (ret != TANDEM_OK) {
		coordd_log_diag(d->diag, "keys: store read failed", ret);
		snprintf(reply->error, sizeof(reply->error), "store: %s", tandem_strerror(ret));
		goto out;
	}
	const coord_zone_t *z = coord_state_zone(d->state, zone);
	if (z == NULL) {
		snprintf(reply->error, sizeof(reply->error),
			 "coord.keys.get: zone %.120s is not known", zone);
		ret = TANDEM_ENOENT;
		goto out;
	}
	memset(out, 0, sizeof(*out));
	memcpy(out->zone, z->name, sizeof(out->zone));
	out->nkeys = z->nkeys;
	for (uint32_t k = 0; k < z->nkeys; k++) {
		const coord_key_t *key = &z->keys[k];
		coordrpc_key_entry_t *e = &out->keys[k];
		e->id = key->id;
		e->tag = key->tag;
		e->active = key->active;
		e->nacks = key->nacks;
		for (uint32_t a = 0; a < key->nacks; a++) {
			coordd_ack_name(d->state, key->acks[a].node_no, e->acks[a]);
		}
		for (size_t i = 0; i < arch->n; i++) {
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
	int ret = coord_store_read(d->store, &d->params, d->diag, d->state, NULL);
	if (ret != TANDEM_OK) {
		coordd_log_diag(d->diag, "keyset: store read failed", ret);
		snprintf(reply->error, sizeof(reply->error), "store: %s", tandem_strerror(ret));
		return ret;
	}
	const coord_zone_t *z = coord_state_zone(d->state, zone);
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
	const coord_node_t *n = coord_state_node(d->state, r->node);
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
	if (now >= z->expiry_ms) {
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
	ret = coord_store_read(d->store, &d->params, d->diag, d->state, NULL);
	if (ret != TANDEM_OK) {
		coordd_log_diag(d->diag, "put: store read failed", ret);
		snprintf(reply->error, sizeof(reply->error), "store: %s", tandem_strerror(ret));
		return ret;
	}
	const coord_zone_t *z = coord_state_zone(d->state, r->zone);
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
	bool won = false;
	int64_t rev = 0;
	ret = coord_store_doc_put(d->store, doc, r->zone, r->keyset, r->keyset_len, r->revision,
				  d->diag, &won, &rev);
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
		coordd_log("effect: %s", e->text);
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
	if (ret != TANDEM_OK) {
		coordd_log_diag(d->diag, coord_input_kind_str(in->kind), ret);
		return ret;
	}
	if (d->res->reason != COORD_R_OK) {
		coordd_log("refused %s from %s: %s: %s", coord_input_kind_str(in->kind), who,
			   coord_reason_str(d->res->reason), d->res->text);
	}
	coordd_log_effects(d->res);
	if (d->res->changed) {
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

static int coordd_handle(void *arg, const net_rpc_request_t *req, net_rpc_msg_t *reply)
{
	coordd_t *d = arg;
	uint64_t now = coordd_now_ms(); /* after the node sent it: the grant time g > s */
	coordrpc_request_t r;
	coord_input_t in;
	int ret;

	tandem_diag_clear(d->diag);
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
		coordd_audit(req, &r, false, reply->error);
		goto out;
	}
	if (r.kind == COORDRPC_STATUS || r.kind == COORDRPC_KEYS_GET ||
	    r.kind == COORDRPC_KEYSET_GET || r.kind == COORDRPC_SKR_GET) {
		ret = r.kind == COORDRPC_STATUS ? coordd_status(d, now, reply)
		      : r.kind == COORDRPC_KEYS_GET
			  ? coordd_keys(d, r.zone, reply)
			  : coordd_doc_get(
				d, r.kind == COORDRPC_SKR_GET ? COORD_DOC_SKR : COORD_DOC_KEYSET,
				r.zone, reply);
		coordd_audit(req, &r, ret == TANDEM_OK, ret == TANDEM_OK ? "read" : reply->error);
		goto out;
	}
	if (r.kind == COORDRPC_KEYSET_PUT || r.kind == COORDRPC_SKR_PUT) {
		int64_t revision = 0;
		ret =
		    coordd_doc_put(d, r.kind == COORDRPC_SKR_PUT ? COORD_DOC_SKR : COORD_DOC_KEYSET,
				   req, &r, now, &revision, reply);
		if (ret != TANDEM_OK) {
			coordd_log("refused %s from %s: %s", req->type, req->peer, reply->error);
			coordd_audit(req, &r, false, reply->error);
			goto out;
		}
		coordd_log("%s %s from %s: %s",
			   d->res->reason == COORD_R_OK ? "accepted" : "refused", req->type,
			   req->peer, d->res->text);
		coordd_audit(req, &r, d->res->reason == COORD_R_OK, d->res->text);
		ret = coordd_decision_reply(d->res, revision, reply);
		goto out;
	}
	if (r.kind == COORDRPC_KEY_REMOVE && !coordd_key_removable(d, &r)) {
		ret = coordd_decision_reply(d->res, 0, reply);
		coordd_log("refused %s from %s: %s", req->type, req->peer, d->res->text);
		goto out;
	}
	if (r.kind == COORDRPC_TAKEOVER && !r.force) {
		ret = coordd_takeover_unforced(d, &r, reply);
		coordd_log("refused takeover from %s: %s", req->peer, d->res->text);
		coordd_audit(req, &r, false, d->res->text);
		goto out;
	}
	if (r.kind == COORDRPC_PARAMS_SET) {
		snprintf(reply->error, sizeof(reply->error),
			 "%s: not supported by this coordinator", req->type);
		coordd_audit(req, &r, false, reply->error);
		ret = TANDEM_EINVAL;
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
		coordd_audit(req, &r, false, reply->error);
		goto out;
	}
	coordd_audit(req, &r, d->res->reason == COORD_R_OK, d->res->text);
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

/*
 * Fencing: the server's allow-list is the --allow file minus the CURVE keys of fenced
 * members, as the state says now. A takeover decided through any coordinator reaches
 * every coordinator's allow-list within COORDD_FENCE_EVERY_MS. A key comes back only
 * when no fenced member has it any more (the operator removed the member).
 */
static void coordd_fence_sweep(coordd_t *d)
{
	net_allow_t *want = NULL;
	int ret = coord_store_read(d->store, &d->params, d->diag, d->state, NULL);
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
	ret = net_allow_copy(d->allow, &want);
	for (size_t i = 0; ret == TANDEM_OK && i < net_allow_count(d->allow); i++) {
		const net_allow_entry_t *e = net_allow_entry(d->allow, i);
		if (coordd_key_fenced(d->state, e->key)) {
			ret = net_allow_revoke(want, e->key);
		}
	}
	if (ret == TANDEM_OK) {
		ret = net_rpc_server_allow_set(d->srv, want);
	}
	if (ret != TANDEM_OK) {
		coordd_log("fence: cannot update the allow-list: %s", tandem_strerror(ret));
	}
	net_allow_free(want);
}

/* Campaigns for the timer leadership; when leading, ticks at the machine's next event. */
static void coordd_timers(coordd_t *d, uint64_t now)
{
	if (now >= d->next_campaign_ms) {
		bool leader = false;
		int ret = coord_store_campaign(d->store, d->opts->name, COORDD_LEADER_TTL_S,
					       d->diag, &leader);
		if (ret != TANDEM_OK) {
			coordd_log_diag(d->diag, "campaign failed", ret);
			leader = false;
		}
		if (leader != d->leader) {
			coordd_log("%s the timer leadership", leader ? "took" : "lost");
			d->next_tick_ms = now;
		}
		d->leader = leader;
		d->next_campaign_ms = now + COORDD_LEADER_TTL_S * 1000u / 3u;
	}
	if (d->fence_due || now >= d->next_fence_ms) {
		d->fence_due = false;
		d->next_fence_ms = now + COORDD_FENCE_EVERY_MS;
		coordd_fence_sweep(d);
	}
	if (!d->leader || d->next_tick_ms == 0 || now < d->next_tick_ms) {
		return;
	}
	coord_input_t tick;
	memset(&tick, 0, sizeof(tick));
	tick.kind = COORD_IN_TICK;
	/* re-read at least every campaign period: other coordinators change the state too */
	d->next_tick_ms = now + COORDD_LEADER_TTL_S * 1000u / 3u;
	if (coordd_decide(d, &tick, NULL, now, "the clock") != TANDEM_OK) {
		return;
	}
	int ret = coord_store_read(d->store, &d->params, d->diag, d->state, NULL);
	if (ret != TANDEM_OK) {
		coordd_log_diag(d->diag, "store read failed", ret);
		return;
	}
	uint64_t next = coord_state_next_event(d->state, &d->params, now);
	if (next != 0 && next < d->next_tick_ms) {
		d->next_tick_ms = next;
	}
}

static int coordd_poll_timeout(const coordd_t *d, uint64_t now)
{
	uint64_t until = d->next_campaign_ms;
	if (d->leader && d->next_tick_ms != 0 && d->next_tick_ms < until) {
		until = d->next_tick_ms;
	}
	if (d->next_fence_ms < until) {
		until = d->next_fence_ms;
	}
	if (d->fence_due) {
		until = now;
	}
	uint64_t wait = until > now ? until - now : 0;
	return wait > COORDD_POLL_MAX_MS ? COORDD_POLL_MAX_MS : (int)wait;
}

/* Adds the zones named on the command line, comparing the standbys' digests (right for
 * deterministic signatures, RSA; add ECDSA zones with tandemctl zone add
 * --no-compare-digests); one already there is fine. */
static int coordd_add_zones(coordd_t *d)
{
	for (size_t i = 0; i < d->opts->nzones; i++) {
		coord_input_t in;
		memset(&in, 0, sizeof(in));
		in.kind = COORD_IN_ZONE_ADD;
		in.compare_digests = true;
		if (!coordd_copy_name(in.zone, sizeof(in.zone), d->opts->zones[i])) {
			coordd_log("zone name too long: %s", d->opts->zones[i]);
			return TANDEM_EINVAL;
		}
		int ret = coordd_decide(d, &in, NULL, coordd_now_ms(), "the command line");
		if (ret != TANDEM_OK) {
			return ret;
		}
		if (d->res->reason != COORD_R_OK && d->res->reason != COORD_R_EXISTS) {
			return TANDEM_EINVAL;
		}
	}
	return TANDEM_OK;
}

static void coordd_usage(FILE *fp)
{
	fprintf(
	    fp,
	    "usage: tandem-coord --etcd URL[,URL...] --listen tcp://127.0.0.1:PORT --key SECRET\n"
	    "                    --allow ALLOWFILE [--name NAME] [--prefix /P/] [--lease-ms MS]\n"
	    "                    [--margin-ms MS] [--zone NAME]... [--pid-file FILE]\n"
	    "  --listen tcp://HOST:*   picks a free port and prints 'listening ENDPOINT'\n");
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

/* Returns 0 on success, 1 on bad usage, 2 for --help. */
static int coordd_opts_parse(int argc, char **argv, coordd_opts_t *o)
{
	static const struct option longopts[] = {
	    {"etcd", required_argument, NULL, 'e'},     {"listen", required_argument, NULL, 'l'},
	    {"key", required_argument, NULL, 'k'},      {"allow", required_argument, NULL, 'a'},
	    {"name", required_argument, NULL, 'n'},     {"prefix", required_argument, NULL, 'P'},
	    {"lease-ms", required_argument, NULL, 'L'}, {"margin-ms", required_argument, NULL, 'M'},
	    {"pid-file", required_argument, NULL, 'p'}, {"zone", required_argument, NULL, 'z'},
	    {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
	int c;
	memset(o, 0, sizeof(*o));
	o->name = "coord";
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'e': o->etcd = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'k': o->key = optarg; break;
		case 'a': o->allow = optarg; break;
		case 'n': o->name = optarg; break;
		case 'P': o->prefix = optarg; break;
		case 'p': o->pid_file = optarg; break;
		case 'L':
			if (!coordd_parse_u64(optarg, &o->lease_ms)) {
				fprintf(stderr, "tandem-coord: bad --lease-ms '%s'\n", optarg);
				return 1;
			}
			break;
		case 'M':
			if (!coordd_parse_u64(optarg, &o->margin_ms)) {
				fprintf(stderr, "tandem-coord: bad --margin-ms '%s'\n", optarg);
				return 1;
			}
			break;
		case 'z':
			if (o->nzones >= COORDD_ZONES_MAX) {
				fprintf(stderr, "tandem-coord: too many --zone\n");
				return 1;
			}
			o->zones[o->nzones++] = optarg;
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

int main(int argc, char **argv)
{
	coordd_opts_t opts;
	coordd_t d;
	int rc = 1, ret;
	char *etcd_buf = NULL;
	coord_etcd_t *etcd = NULL;
	net_key_t *key = NULL;
	net_allow_t *allow = NULL;
	void *ctx = NULL;
	bool curl_init = false, pid_written = false;
	sigset_t sigs;

	memset(&d, 0, sizeof(d));
	if (tandem_proc_harden() != TANDEM_OK) {
		fprintf(stderr, "tandem-coord: cannot disable core dumps\n");
		return 1;
	}
	ret = coordd_opts_parse(argc, argv, &opts);
	if (ret == 2) {
		coordd_usage(stdout);
		return 0;
	}
	if (ret != 0) {
		coordd_usage(stderr);
		return 1;
	}
	d.opts = &opts;
	/* Signals are taken synchronously (sigtimedwait) in the loop: no handler, no global.
	 * Blocked before any thread starts, so libzmq's and the ZAP thread inherit the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) != 0) {
		coordd_log("cannot block signals");
		goto out;
	}
	coord_params_default(&d.params);
	if (opts.lease_ms != 0) {
		d.params.lease_ms = opts.lease_ms;
	}
	if (opts.margin_ms != 0) {
		d.params.margin_ms = opts.margin_ms;
	}
	if (coord_params_check(&d.params) != TANDEM_OK) {
		coordd_log("bad lease/margin: the margin must be above 0 and below lease/3");
		goto out;
	}
	d.res = calloc(1, sizeof(*d.res));
	d.state = calloc(1, sizeof(*d.state));
	d.status = calloc(1, sizeof(*d.status));
	d.keys = calloc(1, sizeof(*d.keys));
	d.keyset = calloc(1, sizeof(*d.keyset));
	etcd_buf = strdup(opts.etcd);
	if (d.res == NULL || d.state == NULL || d.status == NULL || d.keys == NULL ||
	    d.keyset == NULL || etcd_buf == NULL || tandem_diag_new(&d.diag) != TANDEM_OK) {
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
	ret = coord_etcd_global_init();
	if (ret != TANDEM_OK) {
		coordd_log("etcd client: %s", tandem_strerror(ret));
		goto out;
	}
	curl_init = true;
	ret = coord_etcd_new(eps, neps, NULL, d.diag, &etcd);
	if (ret == TANDEM_OK) {
		ret = coord_store_new(etcd, opts.prefix, d.diag, &d.store);
	}
	if (ret == TANDEM_OK) {
		ret = coord_store_init(d.store, &d.params, d.diag);
	}
	if (ret != TANDEM_OK) {
		coordd_log_diag(d.diag, "store", ret);
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
	net_key_free(key); /* the socket keeps its own copy */
	key = NULL;
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
	printf("listening %s\n", net_rpc_server_endpoint(d.srv));
	fflush(stdout);
	coordd_log("%s serving %s, %zu peers allowed, lease %" PRIu64 " ms, margin %" PRIu64 " ms",
		   opts.name, net_rpc_server_endpoint(d.srv), net_allow_count(allow),
		   d.params.lease_ms, d.params.margin_ms);

	for (;;) {
		uint64_t now = coordd_now_ms();
		coordd_timers(&d, now);
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
			break;
		}
	}
	ret = coord_store_resign(d.store, d.diag);
	if (ret != TANDEM_OK) {
		coordd_log_diag(d.diag, "resign failed", ret);
	}
	rc = 0;
out:
	if (pid_written) {
		unlink(opts.pid_file);
	}
	net_rpc_server_free(d.srv);
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
	free(d.keys);
	free(d.keyset);
	free(d.status);
	free(d.state);
	free(d.res);
	free(etcd_buf);
	return rc;
}
