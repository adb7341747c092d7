/* coordrpc: packs and unpacks the coordinator RPC (proto/coordrpc.proto); the only user of its
 * generated code. */
#include "coordrpc.h"

#include "coordrpc.pb-c.h"
#include "tandem_error.h"
#include "tandem_text.h"

#include <stdlib.h>
#include <string.h>

/* One row per kind: its envelope type, its message and the role that may send it. */
typedef struct coordrpc_kind_info {
	const char *type;
	const ProtobufCMessageDescriptor *desc;
	net_role_t role; /* 0: any listed role */
} coordrpc_kind_info_t;

static const coordrpc_kind_info_t coordrpc_kinds[] = {
    [COORDRPC_REGISTER] = {"coord.register", &tandem__coord_register__descriptor, NET_ROLE_NODE},
    [COORDRPC_HEARTBEAT] = {"coord.heartbeat", &tandem__coord_heartbeat__descriptor, NET_ROLE_NODE},
    [COORDRPC_LEASE_REQUEST] = {"coord.lease.request", &tandem__coord_lease__descriptor,
				NET_ROLE_NODE},
    [COORDRPC_LEASE_RENEW] = {"coord.lease.renew", &tandem__coord_lease__descriptor, NET_ROLE_NODE},
    [COORDRPC_LEASE_RELEASE] = {"coord.lease.release", &tandem__coord_lease__descriptor,
				NET_ROLE_NODE},
    [COORDRPC_COMMIT] = {"coord.commit", &tandem__coord_commit__descriptor, NET_ROLE_NODE},
    [COORDRPC_DIGEST_REPORT] = {"coord.digest.report", &tandem__coord_digest_report__descriptor,
				NET_ROLE_NODE},
    [COORDRPC_KEY_ADD] = {"coord.key.add", &tandem__coord_key_add__descriptor, NET_ROLE_NODE},
    [COORDRPC_KEY_ACK] = {"coord.key.ack", &tandem__coord_key_ref__descriptor, NET_ROLE_NODE},
    [COORDRPC_KEY_REMOVE] = {"coord.key.remove", &tandem__coord_key_ref__descriptor, NET_ROLE_NODE},
    [COORDRPC_KEY_ACTIVATE] = {"coord.key.activate", &tandem__coord_key_ref__descriptor,
			       NET_ROLE_NODE},
    [COORDRPC_STATUS] = {"coord.status", &tandem__coord_status_request__descriptor, 0},
    [COORDRPC_KEYS_GET] = {"coord.keys.get", &tandem__coord_keys_request__descriptor, 0},
    [COORDRPC_ZONE_ADD] = {"coord.zone.add", &tandem__coord_zone_op__descriptor, NET_ROLE_OPERATOR},
    [COORDRPC_ZONE_REMOVE] = {"coord.zone.remove", &tandem__coord_zone_op__descriptor,
			      NET_ROLE_OPERATOR},
    [COORDRPC_DRAIN] = {"coord.drain", &tandem__coord_node_op__descriptor, NET_ROLE_OPERATOR},
    [COORDRPC_UNDRAIN] = {"coord.undrain", &tandem__coord_node_op__descriptor, NET_ROLE_OPERATOR},
    [COORDRPC_NODE_REMOVE] = {"coord.node.remove", &tandem__coord_node_op__descriptor,
			      NET_ROLE_OPERATOR},
    [COORDRPC_SWITCHOVER] = {"coord.switchover", &tandem__coord_switchover__descriptor,
			     NET_ROLE_OPERATOR},
    [COORDRPC_TAKEOVER] = {"coord.takeover", &tandem__coord_takeover__descriptor,
			   NET_ROLE_OPERATOR},
    [COORDRPC_KEYSET_GET] = {"coord.keyset.get", &tandem__coord_keyset_request__descriptor, 0},
    /* a node (the zone's holder) or an operator: tandem-coord checks which */
    [COORDRPC_KEYSET_PUT] = {"coord.keyset.put", &tandem__coord_keyset_put__descriptor, 0},
    [COORDRPC_SKR_GET] = {"coord.skr.get", &tandem__coord_keyset_request__descriptor, 0},
    [COORDRPC_SKR_PUT] = {"coord.skr.put", &tandem__coord_keyset_put__descriptor, 0},
    [COORDRPC_ZONE_ACCEPT_INPUT] = {"coord.zone.accept-input",
				    &tandem__coord_accept_input__descriptor, NET_ROLE_OPERATOR},
    [COORDRPC_ZONE_APPROVE] = {"coord.zone.approve", &tandem__coord_accept_input__descriptor,
			       NET_ROLE_OPERATOR},
    [COORDRPC_ZONE_REJECT] = {"coord.zone.reject", &tandem__coord_accept_input__descriptor,
			      NET_ROLE_OPERATOR},
    [COORDRPC_PARAMS_SET] = {"coord.params.set", &tandem__coord_params_set__descriptor,
			     NET_ROLE_OPERATOR},
    [COORDRPC_SITE_SUSPEND] = {"coord.site.suspend", &tandem__coord_site_op__descriptor,
			       NET_ROLE_OPERATOR},
    [COORDRPC_SITE_RESUME] = {"coord.site.resume", &tandem__coord_site_op__descriptor,
			      NET_ROLE_OPERATOR},
    [COORDRPC_KEY_DESTROYED] = {"coord.key.destroyed", &tandem__coord_key_ref__descriptor,
				NET_ROLE_NODE},
    [COORDRPC_KEY_PURGE] = {"coord.key.purge", &tandem__coord_key_ref__descriptor, NET_ROLE_NODE},
    [COORDRPC_REQUEST_CREATE] = {"coord.request.create", &tandem__coord_request_op__descriptor,
				 NET_ROLE_OPERATOR},
    [COORDRPC_REQUEST_APPROVE] = {"coord.request.approve", &tandem__coord_request_op__descriptor,
				  NET_ROLE_OPERATOR},
    [COORDRPC_REQUEST_CANCEL] = {"coord.request.cancel", &tandem__coord_request_op__descriptor,
				 NET_ROLE_OPERATOR},
    [COORDRPC_REQUEST_GET] = {"coord.request.get", &tandem__coord_request_op__descriptor,
			      NET_ROLE_OPERATOR},
    [COORDRPC_OPERATORS_GET] = {"coord.operators.get", &tandem__coord_request_op__descriptor,
				NET_ROLE_OPERATOR},
    [COORDRPC_OPERATORS_BOOTSTRAP] = {"coord.operators.bootstrap",
				      &tandem__coord_request_op__descriptor, NET_ROLE_OPERATOR},
    [COORDRPC_CEREMONY_RECORD] = {"coord.ceremony.record", &tandem__coord_request_op__descriptor,
				  NET_ROLE_OPERATOR},
    [COORDRPC_PRODUCTION] = {"coord.production", &tandem__coord_request_op__descriptor,
			     NET_ROLE_OPERATOR},
    [COORDRPC_DRILL_NOTE] = {"coord.drill.note", &tandem__coord_request_op__descriptor,
			     NET_ROLE_OPERATOR},
    [COORDRPC_LEASE_BATCH] = {"coord.lease.batch", &tandem__coord_lease_batch__descriptor,
			      NET_ROLE_NODE},
    [COORDRPC_POLICY] = {"coord.policy", &tandem__coord_request_op__descriptor, NET_ROLE_OPERATOR},
    [COORDRPC_POLICY_GET] = {"coord.policy.get", &tandem__coord_request_op__descriptor, 0},
};

#define COORDRPC_T_DECISION "coord.decision"
#define COORDRPC_T_STATUS   "coord.status.reply"
#define COORDRPC_T_KEYS     "coord.keys.reply"
#define COORDRPC_T_KEYSET   "coord.keyset.reply"
#define COORDRPC_T_SKR      "coord.skr.reply"

static bool coordrpc_kind_valid(coordrpc_kind_t kind)
{
	return (unsigned)kind <= COORDRPC_KIND_LAST;
}

const char *coordrpc_type(coordrpc_kind_t kind)
{
	return coordrpc_kind_valid(kind) ? coordrpc_kinds[kind].type : "?";
}

int coordrpc_kind_from_type(const char *type, coordrpc_kind_t *out)
{
	if (type == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	for (unsigned k = 0; k <= COORDRPC_KIND_LAST; k++) {
		if (strcmp(coordrpc_kinds[k].type, type) == 0) {
			*out = (coordrpc_kind_t)k;
			return TANDEM_OK;
		}
	}
	return TANDEM_EINVAL;
}

net_role_t coordrpc_kind_role(coordrpc_kind_t kind)
{
	return coordrpc_kind_valid(kind) ? coordrpc_kinds[kind].role : (net_role_t)0;
}

const char *coordrpc_node_state_str(coord_node_state_t state)
{
	switch (state) {
	case COORD_NODE_UP: return "up";
	case COORD_NODE_DRAINED: return "drained";
	case COORD_NODE_FENCED: return "fenced";
	}
	return "?";
}

void coordrpc_request_deinit(coordrpc_request_t *req)
{
	if (req == NULL) {
		return;
	}
	free(req->archive);
	free(req->keyset);
	free(req->doc);
	free(req->items);
	memset(req, 0, sizeof(*req));
}

void coordrpc_decision_deinit(coordrpc_decision_t *dec)
{
	if (dec != NULL) {
		free(dec->doc);
		dec->doc = NULL;
		dec->doc_len = 0;
		free(dec->leases);
		dec->leases = NULL;
		dec->nleases = 0;
	}
}

void coordrpc_keyset_deinit(coordrpc_keyset_t *ks)
{
	if (ks == NULL) {
		return;
	}
	free(ks->keyset);
	memset(ks, 0, sizeof(*ks));
}

void coordrpc_keys_deinit(coordrpc_keys_t *keys)
{
	if (keys == NULL) {
		return;
	}
	for (size_t i = 0; i < keys->nkeys && i < COORD_KEYS_MAX; i++) {
		free(keys->keys[i].archive);
	}
	memset(keys, 0, sizeof(*keys));
}

/* Packing: C values to protobuf-c messages that borrow their strings. */

/* Whether a C string field is terminated within its array. */
static bool str_ok(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

/* Whether a terminated string is printable ASCII (0x20..0x7e) throughout. */
static bool printable(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s < 0x20 || *s > 0x7e) {
			return false;
		}
	}
	return true;
}

bool coordrpc_instance_valid(const char *s)
{
	if (s == NULL) {
		return false;
	}
	size_t n = strnlen(s, COORDRPC_INSTANCE_MAX);
	if (n == 0) {
		return true;
	}
	if (n != COORDRPC_INSTANCE_LEN) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
			return false;
		}
	}
	return true;
}

/* Whether kind is 1..COORDRPC_ALERT_KIND_MAX-1 characters of [a-z-]. */
static bool alert_kind_ok(const char *kind, size_t size)
{
	size_t n = strnlen(kind, size);
	if (n == 0 || n >= size) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!((kind[i] >= 'a' && kind[i] <= 'z') || kind[i] == '-')) {
			return false;
		}
	}
	return true;
}

bool coordrpc_alert_valid(const coordrpc_alert_t *a)
{
	return a != NULL && alert_kind_ok(a->kind, sizeof(a->kind)) &&
	       str_ok(a->zone, sizeof(a->zone)) && printable(a->zone) &&
	       str_ok(a->text, sizeof(a->text)) && printable(a->text);
}

static bool alerts_ok(size_t n, const coordrpc_alert_t *alerts)
{
	if (n > COORDRPC_ALERTS_MAX) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!coordrpc_alert_valid(&alerts[i])) {
			return false;
		}
	}
	return true;
}

/* Fills protobuf-c alerts (borrowing the strings) and their pointer array. */
static void alerts_to_pb(size_t n, const coordrpc_alert_t *alerts, Tandem__CoordAlert *pa,
			 Tandem__CoordAlert **pp)
{
	for (size_t i = 0; i < n; i++) {
		tandem__coord_alert__init(&pa[i]);
		pa[i].zone = (char *)alerts[i].zone;
		pa[i].kind = (char *)alerts[i].kind;
		pa[i].text = (char *)alerts[i].text;
		pa[i].blocking = alerts[i].blocking;
		pp[i] = &pa[i];
	}
}

/* Whether the kind carries an instance id / alerts. */
static bool kind_has_instance(coordrpc_kind_t kind)
{
	return kind == COORDRPC_REGISTER || kind == COORDRPC_HEARTBEAT ||
	       kind == COORDRPC_LEASE_REQUEST || kind == COORDRPC_LEASE_RENEW ||
	       kind == COORDRPC_LEASE_RELEASE || kind == COORDRPC_COMMIT ||
	       kind == COORDRPC_LEASE_BATCH;
}

static bool kind_has_alerts(coordrpc_kind_t kind)
{
	return kind == COORDRPC_REGISTER || kind == COORDRPC_HEARTBEAT;
}

static ProtobufCBinaryData bin(const uint8_t *data, size_t len)
{
	ProtobufCBinaryData b = {len, len > 0 ? (uint8_t *)data : NULL};
	return b;
}

/* Packs m into a new buffer. */
static int pack_msg(const ProtobufCMessage *m, uint8_t **buf, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *data = malloc(n > 0 ? n : 1);
	if (data == NULL) {
		return TANDEM_ENOMEM;
	}
	protobuf_c_message_pack(m, data);
	*buf = data;
	*len = n;
	return TANDEM_OK;
}

static bool digest_zero(const uint8_t d[COORD_DIGEST_LEN])
{
	static const uint8_t zero[COORD_DIGEST_LEN];
	return memcmp(d, zero, COORD_DIGEST_LEN) == 0;
}

static bool skr_id_zero(const uint8_t id[COORD_SKR_ID_LEN])
{
	static const uint8_t zero[COORD_SKR_ID_LEN];
	return memcmp(id, zero, COORD_SKR_ID_LEN) == 0;
}

/* A coord.lease.batch: 1..COORDRPC_LEASE_BATCH_MAX items (each zone once: checked by the
 * receiver). */
static int lease_batch_pack(const coordrpc_request_t *req, uint8_t **buf, size_t *len)
{
	if (req->nitems == 0 || req->nitems > COORDRPC_LEASE_BATCH_MAX || req->items == NULL) {
		return TANDEM_EINVAL;
	}
	Tandem__CoordLeaseItem *pi = calloc(req->nitems, sizeof(*pi));
	Tandem__CoordLeaseItem **pp = calloc(req->nitems, sizeof(*pp));
	int ret = pi == NULL || pp == NULL ? TANDEM_ENOMEM : TANDEM_OK;
	for (size_t i = 0; ret == TANDEM_OK && i < req->nitems; i++) {
		const coordrpc_lease_item_t *it = &req->items[i];
		if (!str_ok(it->zone, sizeof(it->zone)) || it->zone[0] == '\0') {
			ret = TANDEM_EINVAL;
			break;
		}
		tandem__coord_lease_item__init(&pi[i]);
		pi[i].zone = (char *)it->zone;
		pi[i].epoch = it->epoch;
		pi[i].renew = it->renew;
		pp[i] = &pi[i];
	}
	if (ret == TANDEM_OK) {
		Tandem__CoordLeaseBatch m = TANDEM__COORD_LEASE_BATCH__INIT;
		m.version = COORDRPC_VERSION;
		m.node = (char *)req->node;
		m.instance = (char *)req->instance;
		m.n_items = req->nitems;
		m.items = pp;
		ret = pack_msg(&m.base, buf, len);
	}
	free(pi);
	free(pp);
	return ret;
}

int coordrpc_request_pack(const coordrpc_request_t *req, uint8_t **buf, size_t *len)
{
	if (req == NULL || buf == NULL || len == NULL || !coordrpc_kind_valid(req->kind) ||
	    !str_ok(req->node, sizeof(req->node)) || !str_ok(req->zone, sizeof(req->zone)) ||
	    !str_ok(req->target, sizeof(req->target)) ||
	    !str_ok(req->publish, sizeof(req->publish)) ||
	    !str_ok(req->metrics, sizeof(req->metrics)) || !str_ok(req->axfr, sizeof(req->axfr)) ||
	    req->salt_len > COORDRPC_SALT_MAX || req->archive_len > COORDRPC_ARCHIVE_MAX ||
	    (req->archive == NULL && req->archive_len > 0)) {
		return TANDEM_EINVAL;
	}
	if ((kind_has_instance(req->kind) && !coordrpc_instance_valid(req->instance)) ||
	    (kind_has_alerts(req->kind) && !alerts_ok(req->nalerts, req->alerts))) {
		return TANDEM_EINVAL;
	}
	if ((req->kind == COORDRPC_COMMIT && req->keyset_revision < 0) ||
	    ((req->kind == COORDRPC_KEYSET_PUT || req->kind == COORDRPC_SKR_PUT) &&
	     (req->revision < 0 || req->keyset_len > COORDRPC_KEYSET_MAX ||
	      (req->keyset == NULL && req->keyset_len > 0)))) {
		return TANDEM_EINVAL;
	}
	char *node = (char *)req->node, *zone = (char *)req->zone;
	char *instance = (char *)req->instance;
	Tandem__CoordAlert pa[COORDRPC_ALERTS_MAX];
	Tandem__CoordAlert *pp[COORDRPC_ALERTS_MAX];
	switch (req->kind) {
	case COORDRPC_REGISTER: {
		Tandem__CoordRegister m = TANDEM__COORD_REGISTER__INIT;
		m.version = COORDRPC_VERSION;
		m.node = node;
		m.site = req->site;
		m.healthy = req->healthy;
		m.publish = (char *)req->publish;
		m.metrics = (char *)req->metrics;
		m.axfr = (char *)req->axfr;
		m.instance = instance;
		alerts_to_pb(req->nalerts, req->alerts, pa, pp);
		m.n_alerts = req->nalerts;
		m.alerts = req->nalerts > 0 ? pp : NULL;
		return pack_msg(&m.base, buf, len);
	}
	case COORDRPC_HEARTBEAT: {
		Tandem__CoordHeartbeat m = TANDEM__COORD_HEARTBEAT__INIT;
		m.version = COORDRPC_VERSION;
		m.node = node;
		m.healthy = req->healthy;
		m.instance = instance;
		alerts_to_pb(req->nalerts, req->alerts, pa, pp);
		m.n_alerts = req->nalerts;
		m.alerts = req->nalerts > 0 ? pp : NULL;
		return pack_msg(&m.base, buf, len);
	}
	case COORDRPC_LEASE_REQUEST:
	case COORDRPC_LEASE_RENEW:
	case COORDRPC_LEASE_RELEASE: {
		Tandem__CoordLease m = TANDEM__COORD_LEASE__INIT;
		m.version = COORDRPC_VERSION;
		m.zone = zone;
		m.node = node;
		m.epoch = req->epoch;
		m.instance = instance;
		m.leaving = req->kind == COORDRPC_LEASE_RELEASE && req->leaving;
		return pack_msg(&m.base, buf, len);
	}
	case COORDRPC_LEASE_BATCH: return lease_batch_pack(req, buf, len);
	case COORDRPC_COMMIT: {
		Tandem__CoordCommit m = TANDEM__COORD_COMMIT__INIT;
		m.version = COORDRPC_VERSION;
		m.zone = zone;
		m.node = node;
		m.epoch = req->epoch;
		m.instance = instance;
		m.serial = req->serial;
		m.digest = bin(req->digest, COORD_DIGEST_LEN);
		m.sign_time = req->sign_time;
		m.input_serial = req->input_serial;
		m.base_serial = req->base_serial;
		m.keyset_revision = req->keyset_revision;
		if (!skr_id_zero(req->skr_id)) {
			m.skr_id = bin(req->skr_id, COORD_SKR_ID_LEN);
		}
		if (!digest_zero(req->policy_digest)) {
			m.policy_digest = bin(req->policy_digest, COORD_DIGEST_LEN);
		}
		m.nsec3_salt = bin(req->salt, req->salt_len);
		m.nsec3 = req->nsec3;
		if (req->has_nosig) {
			m.nosig_digest = bin(req->nosig, COORD_DIGEST_LEN);
		}
		return pack_msg(&m.base, buf, len);
	}
	case COORDRPC_DIGEST_REPORT: {
		Tandem__CoordDigestReport m = TANDEM__COORD_DIGEST_REPORT__INIT;
		m.version = COORDRPC_VERSION;
		m.zone = zone;
		m.node = node;
		m.serial = req->serial;
		m.digest = bin(req->digest, COORD_DIGEST_LEN);
		m.no_base = req->no_base;
		m.nosig = req->has_nosig;
		m.verified = req->has_nosig && req->verified;
		m.verify_error = (char *)req->why;
		return pack_msg(&m.base, buf, len);
	}
	case COORDRPC_KEY_ADD: {
		Tandem__CoordKeyAdd m = TANDEM__COORD_KEY_ADD__INIT;
		m.version = COORDRPC_VERSION;
		m.zone = zone;
		m.node = node;
		m.key_id = req->key_id;
		m.key_tag = req->key_tag;
		m.archive = bin(req->archive, req->archive_len);
		return pack_msg(&m.base, buf, len);
	}
	case COORDRPC_KEY_ACK:
	case COORDRPC_KEY_REMOVE:
	case COORDRPC_KEY_DESTROYED:
	case COORDRPC_KEY_PURGE:
	case COORDRPC_KEY_ACTIVATE: {
		Tandem__CoordKeyRef m = TANDEM__COORD_KEY_REF__INIT;
		m.version = COORDRPC_VERSION;
		m.zone = zone;
		m.node = node;
		m.key_id = req->key_id;
		m.retention_ms = req->kind == COORDRPC_KEY_PURGE ? req->retention_ms : 0;
		return pack_msg(&m.base, buf, len);
	}
	case COORDRPC_SITE_SUSPEND:
	case COORDRPC_SITE_RESUME: {
		Tandem__CoordSiteOp m = TANDEM__COORD_SITE_OP__INIT;
		m.version = COORDRPC_VERSION;
		m.site = req->site;
		return pack_msg(&m.base, buf, len);
	}
	case COORDRPC_STATUS: {
		Tandem__CoordStatusRequest m = TANDEM__COORD_STATUS_REQUEST__INIT;
		m.version = COORDRPC_VERSION;
		return pack_msg(&m.base, buf, len);
	}
	case COORDRPC_KEYS_GET: {
		Tandem__CoordKeysRequest m = TANDEM__COORD_KEYS_REQUEST__INIT;
		m.version = COORDRPC_VERSION;
		m.zone = zone;
		return pack_msg(&m.base, buf, len);
	}
	case COORDRPC_ZONE_ADD:
	case COORDRPC_ZONE_REMOVE: {
		Tandem__CoordZoneOp m = TANDEM__COORD_ZONE_OP__INIT;
		m.version = COORDRPC_VERSION;
		m.zone = zone;
		if (req->kind == COORDRPC_ZONE_ADD) {
			m.compare_digests = req->compare_digests;
			m.has_serial = req->has_serial;
			m.serial = req->has_serial ? req->serial : 0;
		}
		return pack_msg(&m.base, buf, len);
	}
	case COORDRPC_DRAIN:
	case COORDRPC_UNDRAIN:
	case COORDRPC_NODE_REMOVE: {
		Tandem__CoordNodeOp m = TANDEM__COORD_NODE_OP__INIT;
		m.version = COORDRPC_VERSION;
		m.node = node;
		return pack_msg(&m.base, buf, len);
	}
	case COORDRPC_SWITCHOVER: {
		Tandem__CoordSwitchover m = TANDEM__COORD_SWITCHOVER__INIT;
		m.version = COORDRPC_VERSION;
		m.zone = zone;
		m.target = (char *)req->target;
		return pack_msg(&m.base, buf, len);
	}
	case COORDRPC_TAKEOVER: {
		Tandem__CoordTakeover m = TANDEM__COORD_TAKEOVER__INIT;
		m.version = COORDRPC_VERSION;
		m.site = req->site;
		m.force = req->force;
		return pack_msg(&m.base, buf, len);
	}
	case COORDRPC_KEYSET_GET:
	case COORDRPC_SKR_GET: {
		Tandem__CoordKeysetRequest m = TANDEM__COORD_KEYSET_REQUEST__INIT;
		m.version = COORDRPC_VERSION;
		m.zone = zone;
		return pack_msg(&m.base, buf, len);
	}
	case COORDRPC_KEYSET_PUT:
	case COORDRPC_SKR_PUT: {
		Tandem__CoordKeysetPut m = TANDEM__COORD_KEYSET_PUT__INIT;
		m.version = COORDRPC_VERSION;
		m.zone = zone;
		m.node = node;
		m.epoch = req->epoch;
		m.keyset = bin(req->keyset, req->keyset_len);
		m.revision = req->revision;
		return pack_msg(&m.base, buf, len);
	}
	case COORDRPC_ZONE_ACCEPT_INPUT:
	case COORDRPC_ZONE_APPROVE:
	case COORDRPC_ZONE_REJECT: {
		Tandem__CoordAcceptInput m = TANDEM__COORD_ACCEPT_INPUT__INIT;
		m.version = COORDRPC_VERSION;
		m.zone = zone;
		m.serial = req->serial;
		return pack_msg(&m.base, buf, len);
	}
	case COORDRPC_PARAMS_SET: {
		Tandem__CoordParamsSet m = TANDEM__COORD_PARAMS_SET__INIT;
		m.version = COORDRPC_VERSION;
		m.lease_ms = req->lease_ms;
		m.margin_ms = req->margin_ms;
		return pack_msg(&m.base, buf, len);
	}
	case COORDRPC_REQUEST_CREATE:
	case COORDRPC_REQUEST_APPROVE:
	case COORDRPC_REQUEST_CANCEL:
	case COORDRPC_REQUEST_GET:
	case COORDRPC_OPERATORS_GET:
	case COORDRPC_OPERATORS_BOOTSTRAP:
	case COORDRPC_CEREMONY_RECORD:
	case COORDRPC_PRODUCTION:
	case COORDRPC_DRILL_NOTE:
	case COORDRPC_POLICY:
	case COORDRPC_POLICY_GET: {
		Tandem__CoordRequestOp m = TANDEM__COORD_REQUEST_OP__INIT;
		if (!str_ok(req->req_id, sizeof(req->req_id)) ||
		    !str_ok(req->action, sizeof(req->action)) ||
		    !str_ok(req->args, sizeof(req->args)) || req->doc_len > COORDRPC_ARCHIVE_MAX) {
			return TANDEM_EINVAL;
		}
		m.version = COORDRPC_VERSION;
		m.id = (char *)req->req_id;
		m.action = (char *)req->action;
		m.args = (char *)req->args;
		m.ttl_ms = req->ttl_ms;
		m.pub = bin(req->has_sig ? req->pub : NULL, req->has_sig ? COORDRPC_PUB_LEN : 0);
		m.sig = bin(req->has_sig ? req->sig : NULL, req->has_sig ? COORDRPC_SIG_LEN : 0);
		m.doc = bin(req->doc, req->doc_len);
		m.zone = zone;
		return pack_msg(&m.base, buf, len);
	}
	}
	return TANDEM_EINVAL;
}

/* Unpacking: untrusted protobuf to C values; every refusal names the message and field. */

/* Copies a decoded string into a field, or refuses it (TANDEM_EINVAL with a diag). */
static int get_str(tandem_diag_t *diag, const char *what, const char *field, char *dst, size_t size,
		   const char *src)
{
	size_t n = src == NULL ? 0 : strlen(src);
	if (n >= size) {
		tandem_diag_add(diag, TANDEM_EINVAL, "%s: field %s: %zu bytes, at most %zu", what,
				field, n, size - 1);
		return TANDEM_EINVAL;
	}
	memset(dst, 0, size);
	if (n > 0) {
		memcpy(dst, src, n);
	}
	return TANDEM_OK;
}

static int get_digest(tandem_diag_t *diag, const char *what, const char *field,
		      uint8_t dst[COORD_DIGEST_LEN], ProtobufCBinaryData b)
{
	if (b.len != COORD_DIGEST_LEN || b.data == NULL) {
		tandem_diag_add(diag, TANDEM_EINVAL, "%s: field %s: %zu bytes, not %u", what, field,
				b.len, (unsigned)COORD_DIGEST_LEN);
		return TANDEM_EINVAL;
	}
	memcpy(dst, b.data, COORD_DIGEST_LEN);
	return TANDEM_OK;
}

/* A policy digest: empty (none, all zeros) or exactly COORD_DIGEST_LEN bytes. */
static int get_policy_digest(tandem_diag_t *diag, const char *what, uint8_t dst[COORD_DIGEST_LEN],
			     ProtobufCBinaryData b)
{
	memset(dst, 0, COORD_DIGEST_LEN);
	if (b.len == 0) {
		return TANDEM_OK;
	}
	if (b.len != COORD_DIGEST_LEN || b.data == NULL) {
		tandem_diag_add(diag, TANDEM_EINVAL,
				"%s: field policy_digest: %zu bytes, not 0 or %u", what, b.len,
				(unsigned)COORD_DIGEST_LEN);
		return TANDEM_EINVAL;
	}
	memcpy(dst, b.data, COORD_DIGEST_LEN);
	return TANDEM_OK;
}

/* An SKR id: empty (none, all zeros) or exactly COORD_SKR_ID_LEN bytes. */
static int get_skr_id(tandem_diag_t *diag, const char *what, uint8_t dst[COORD_SKR_ID_LEN],
		      ProtobufCBinaryData b)
{
	memset(dst, 0, COORD_SKR_ID_LEN);
	if (b.len == 0) {
		return TANDEM_OK;
	}
	if (b.len != COORD_SKR_ID_LEN || b.data == NULL) {
		tandem_diag_add(diag, TANDEM_EINVAL, "%s: field skr_id: %zu bytes, not 0 or %u",
				what, b.len, (unsigned)COORD_SKR_ID_LEN);
		return TANDEM_EINVAL;
	}
	memcpy(dst, b.data, COORD_SKR_ID_LEN);
	return TANDEM_OK;
}

static int get_salt(tandem_diag_t *diag, const char *what, uint8_t dst[COORDRPC_SALT_MAX],
		    size_t *dst_len, ProtobufCBinaryData b)
{
	if (b.len > COORDRPC_SALT_MAX) {
		tandem_diag_add(diag, TANDEM_EINVAL, "%s: field nsec3_salt: %zu bytes, at most %u",
				what, b.len, (unsigned)COORDRPC_SALT_MAX);
		return TANDEM_EINVAL;
	}
	if (b.len > 0) {
		memcpy(dst, b.data, b.len);
	}
	*dst_len = b.len;
	return TANDEM_OK;
}

/* A new copy of a bytes field of at most max bytes (NULL when empty): an archive entry or
 * a key set. */
static int get_blob(tandem_diag_t *diag, const char *what, const char *field, size_t max,
		    uint8_t **dst, size_t *dst_len, ProtobufCBinaryData b)
{
	if (b.len > max) {
		tandem_diag_add(diag, TANDEM_EINVAL, "%s: field %s: %zu bytes, at most %zu", what,
				field, b.len, max);
		return TANDEM_EINVAL;
	}
	*dst = NULL;
	*dst_len = 0;
	if (b.len == 0) {
		return TANDEM_OK;
	}
	*dst = malloc(b.len);
	if (*dst == NULL) {
		return TANDEM_ENOMEM;
	}
	memcpy(*dst, b.data, b.len);
	*dst_len = b.len;
	return TANDEM_OK;
}

static int check_revision(tandem_diag_t *diag, const char *what, const char *field, int64_t value)
{
	if (value < 0) {
		tandem_diag_add(diag, TANDEM_EINVAL, "%s: field %s: %lld, must not be negative",
				what, field, (long long)value);
		return TANDEM_EINVAL;
	}
	return TANDEM_OK;
}

static int check_u32_below(tandem_diag_t *diag, const char *what, const char *field, uint32_t value,
			   uint32_t limit)
{
	if (value >= limit) {
		tandem_diag_add(diag, TANDEM_EINVAL, "%s: field %s: %u, must be below %u", what,
				field, (unsigned)value, (unsigned)limit);
		return TANDEM_EINVAL;
	}
	return TANDEM_OK;
}

static int check_count(tandem_diag_t *diag, const char *what, const char *field, size_t n,
		       size_t max)
{
	if (n > max) {
		tandem_diag_add(diag, TANDEM_EINVAL, "%s: field %s: %zu entries, at most %zu", what,
				field, n, max);
		return TANDEM_EINVAL;
	}
	return TANDEM_OK;
}

static int check_version(tandem_diag_t *diag, const char *what, uint32_t version)
{
	if (version != COORDRPC_VERSION) {
		tandem_diag_add(diag, TANDEM_EINVAL, "%s: field version: %u, this side speaks %u",
				what, (unsigned)version, (unsigned)COORDRPC_VERSION);
		return TANDEM_EINVAL;
	}
	return TANDEM_OK;
}

static int get_instance(tandem_diag_t *diag, const char *what, const char *field,
			char dst[COORDRPC_INSTANCE_MAX], const char *src)
{
	int ret = get_str(diag, what, field, dst, COORDRPC_INSTANCE_MAX, src);
	if (ret != TANDEM_OK) {
		return ret;
	}
	if (!coordrpc_instance_valid(dst)) {
		tandem_diag_add(diag, TANDEM_EINVAL,
				"%s: field %s: not %u lowercase hex characters (nor empty)", what,
				field, (unsigned)COORDRPC_INSTANCE_LEN);
		memset(dst, 0, COORDRPC_INSTANCE_MAX);
		return TANDEM_EINVAL;
	}
	return TANDEM_OK;
}

/* Copies decoded alerts into dst[COORDRPC_ALERTS_MAX], or refuses them. */
static int get_alerts(tandem_diag_t *diag, const char *what, size_t n,
		      Tandem__CoordAlert *const *src, size_t *dst_n, coordrpc_alert_t *dst)
{
	int ret = check_count(diag, what, "alerts", n, COORDRPC_ALERTS_MAX);
	if (ret != TANDEM_OK) {
		return ret;
	}
	for (size_t i = 0; i < n; i++) {
		coordrpc_alert_t *a = &dst[i];
		memset(a, 0, sizeof(*a));
		if ((ret = get_str(diag, what, "alerts.zone", a->zone, sizeof(a->zone),
				   src[i]->zone)) != TANDEM_OK ||
		    (ret = get_str(diag, what, "alerts.kind", a->kind, sizeof(a->kind),
				   src[i]->kind)) != TANDEM_OK ||
		    (ret = get_str(diag, what, "alerts.text", a->text, sizeof(a->text),
				   src[i]->text)) != TANDEM_OK) {
			return ret;
		}
		if (!alert_kind_ok(a->kind, sizeof(a->kind))) {
			tandem_diag_add(diag, TANDEM_EINVAL,
					"%s: field alerts.kind: empty or not [a-z-] only", what);
			return TANDEM_EINVAL;
		}
		if (!printable(a->zone)) {
			tandem_diag_add(diag, TANDEM_EINVAL, "%s: field alerts.zone: not printable",
					what);
			return TANDEM_EINVAL;
		}
		if (!printable(a->text)) {
			tandem_diag_add(diag, TANDEM_EINVAL, "%s: field alerts.text: not printable",
					what);
			return TANDEM_EINVAL;
		}
		a->blocking = src[i]->blocking;
	}
	*dst_n = n;
	return TANDEM_OK;
}

/* Decodes body as desc's message; NULL (with a diag) when it does not decode. */
static ProtobufCMessage *decode(const ProtobufCMessageDescriptor *desc, const char *what,
				const uint8_t *body, size_t len, tandem_diag_t *diag)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, body);
	if (m == NULL) {
		tandem_diag_add(diag, TANDEM_EINVAL, "%s: undecodable %s body (%zu bytes)", what,
				desc->short_name, len);
	}
	return m;
}

/* Two names of one zone for the machine (case aside, final dot aside). */
static bool zone_same(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	na -= na > 0 && a[na - 1] == '.';
	nb -= nb > 0 && b[nb - 1] == '.';
	if (na != nb) {
		return false;
	}
	for (size_t i = 0; i < na; i++) {
		char x = a[i] >= 'A' && a[i] <= 'Z' ? (char)(a[i] - 'A' + 'a') : a[i];
		char y = b[i] >= 'A' && b[i] <= 'Z' ? (char)(b[i] - 'A' + 'a') : b[i];
		if (x != y) {
			return false;
		}
	}
	return true;
}

static int lease_batch_unpack(const Tandem__CoordLeaseBatch *m, const char *what,
			      tandem_diag_t *diag, coordrpc_request_t *r)
{
	int ret;
	if ((ret = check_version(diag, what, m->version)) != TANDEM_OK ||
	    (ret = get_str(diag, what, "node", r->node, sizeof(r->node), m->node)) != TANDEM_OK ||
	    (ret = get_instance(diag, what, "instance", r->instance, m->instance)) != TANDEM_OK ||
	    (ret = check_count(diag, what, "items", m->n_items, COORDRPC_LEASE_BATCH_MAX)) !=
		TANDEM_OK) {
		return ret;
	}
	if (m->n_items == 0) {
		tandem_diag_add(diag, TANDEM_EINVAL, "%s: field items: none", what);
		return TANDEM_EINVAL;
	}
	r->items = calloc(m->n_items, sizeof(*r->items));
	if (r->items == NULL) {
		return TANDEM_ENOMEM;
	}
	for (size_t i = 0; i < m->n_items; i++) {
		coordrpc_lease_item_t *it = &r->items[i];
		if ((ret = get_str(diag, what, "items.zone", it->zone, sizeof(it->zone),
				   m->items[i]->zone)) != TANDEM_OK) {
			return ret;
		}
		if (it->zone[0] == '\0') { /* as the packer refuses it */
			tandem_diag_add(diag, TANDEM_EINVAL,
					"%s: field items.zone: empty (item %zu)", what, i);
			return TANDEM_EINVAL;
		}
		it->epoch = m->items[i]->epoch;
		it->renew = m->items[i]->renew;
		r->nitems = i + 1;
		/* each zone once: the items are decided one after the other on the state as
		 * read, and a zone twice would be two decisions on one read */
		for (size_t j = 0; j < i; j++) {
			if (zone_same(r->items[j].zone, it->zone)) {
				char esc[4 * COORD_ZONE_MAX];
				tandem_diag_add(diag, TANDEM_EINVAL,
						"%s: field items: zone '%s' twice (items %zu and "
						"%zu)",
						what, tandem_escape(esc, sizeof(esc), it->zone), j,
						i);
				return TANDEM_EINVAL;
			}
		}
	}
	return TANDEM_OK;
}

static int unpack_request_fields(coordrpc_kind_t kind, const ProtobufCMessage *pm, const char *what,
				 tandem_diag_t *diag, coordrpc_request_t *r)
{
	int ret;
	switch (kind) {
	case COORDRPC_LEASE_BATCH:
		return lease_batch_unpack((const Tandem__CoordLeaseBatch *)pm, what, diag, r);
	case COORDRPC_REGISTER: {
		const Tandem__CoordRegister *m = (const Tandem__CoordRegister *)pm;
		if ((ret = check_version(diag, what, m->version)) != TANDEM_OK ||
		    (ret = get_str(diag, what, "node", r->node, sizeof(r->node), m->node)) !=
			TANDEM_OK ||
		    (ret = get_str(diag, what, "publish", r->publish, sizeof(r->publish),
				   m->publish)) != TANDEM_OK ||
		    (ret = get_str(diag, what, "metrics", r->metrics, sizeof(r->metrics),
				   m->metrics)) != TANDEM_OK ||
		    (ret = get_str(diag, what, "axfr", r->axfr, sizeof(r->axfr), m->axfr)) !=
			TANDEM_OK ||
		    (ret = check_u32_below(diag, what, "site", m->site, COORD_SITES_MAX)) !=
			TANDEM_OK ||
		    (ret = get_instance(diag, what, "instance", r->instance, m->instance)) !=
			TANDEM_OK ||
		    (ret = get_alerts(diag, what, m->n_alerts, m->alerts, &r->nalerts,
				      r->alerts)) != TANDEM_OK) {
			return ret;
		}
		r->site = m->site;
		r->healthy = m->healthy;
		return TANDEM_OK;
	}
	case COORDRPC_HEARTBEAT: {
		const Tandem__CoordHeartbeat *m = (const Tandem__CoordHeartbeat *)pm;
		if ((ret = check_version(diag, what, m->version)) != TANDEM_OK ||
		    (ret = get_str(diag, what, "node", r->node, sizeof(r->node), m->node)) !=
			TANDEM_OK ||
		    (ret = get_instance(diag, what, "instance", r->instance, m->instance)) !=
			TANDEM_OK ||
		    (ret = get_alerts(diag, what, m->n_alerts, m->alerts, &r->nalerts,
				      r->alerts)) != TANDEM_OK) {
			return ret;
		}
		r->healthy = m->healthy;
		return TANDEM_OK;
	}
	case COORDRPC_LEASE_REQUEST:
	case COORDRPC_LEASE_RENEW:
	case COORDRPC_LEASE_RELEASE: {
		const Tandem__CoordLease *m = (const Tandem__CoordLease *)pm;
		if ((ret = check_version(diag, what, m->version)) != TANDEM_OK ||
		    (ret = get_str(diag, what, "node", r->node, sizeof(r->node), m->node)) !=
			TANDEM_OK ||
		    (ret = get_str(diag, what, "zone", r->zone, sizeof(r->zone), m->zone)) !=
			TANDEM_OK ||
		    (ret = get_instance(diag, what, "instance", r->instance, m->instance)) !=
			TANDEM_OK) {
			return ret;
		}
		r->epoch = m->epoch;
		r->leaving = m->leaving;
		return TANDEM_OK;
	}
	case COORDRPC_COMMIT: {
		const Tandem__CoordCommit *m = (const Tandem__CoordCommit *)pm;
		if ((ret = check_version(diag, what, m->version)) != TANDEM_OK ||
		    (ret = get_str(diag, what, "node", r->node, sizeof(r->node), m->node)) !=
			TANDEM_OK ||
		    (ret = get_str(diag, what, "zone", r->zone, sizeof(r->zone), m->zone)) !=
			TANDEM_OK ||
		    (ret = get_digest(diag, what, "digest", r->digest, m->digest)) != TANDEM_OK ||
		    (ret = get_salt(diag, what, r->salt, &r->salt_len, m->nsec3_salt)) !=
			TANDEM_OK ||
		    (ret = check_revision(diag, what, "keyset_revision", m->keyset_revision)) !=
			TANDEM_OK ||
		    (ret = get_skr_id(diag, what, r->skr_id, m->skr_id)) != TANDEM_OK ||
		    (ret = get_policy_digest(diag, what, r->policy_digest, m->policy_digest)) !=
			TANDEM_OK ||
		    (ret = get_instance(diag, what, "instance", r->instance, m->instance)) !=
			TANDEM_OK ||
		    (m->nosig_digest.len != 0 &&
		     (ret = get_digest(diag, what, "nosig_digest", r->nosig, m->nosig_digest)) !=
			 TANDEM_OK)) {
			return ret;
		}
		r->has_nosig = m->nosig_digest.len != 0;
		r->epoch = m->epoch;
		r->serial = m->serial;
		r->sign_time = m->sign_time;
		r->input_serial = m->input_serial;
		r->base_serial = m->base_serial;
		r->keyset_revision = m->keyset_revision;
		r->nsec3 = m->nsec3;
		return TANDEM_OK;
	}
	case COORDRPC_DIGEST_REPORT: {
		const Tandem__CoordDigestReport *m = (const Tandem__CoordDigestReport *)pm;
		if ((ret = check_version(diag, what, m->version)) != TANDEM_OK ||
		    (ret = get_str(diag, what, "node", r->node, sizeof(r->node), m->node)) !=
			TANDEM_OK ||
		    (ret = get_str(diag, what, "zone", r->zone, sizeof(r->zone), m->zone)) !=
			TANDEM_OK ||
		    (ret = get_digest(diag, what, "digest", r->digest, m->digest)) != TANDEM_OK ||
		    (ret = get_str(diag, what, "verify_error", r->why, sizeof(r->why),
				   m->verify_error)) != TANDEM_OK) {
			return ret;
		}
		r->serial = m->serial;
		r->no_base = m->no_base;
		r->has_nosig = m->nosig;
		r->verified = m->nosig && m->verified;
		return TANDEM_OK;
	}
	case COORDRPC_KEY_ADD: {
		const Tandem__CoordKeyAdd *m = (const Tandem__CoordKeyAdd *)pm;
		if ((ret = check_version(diag, what, m->version)) != TANDEM_OK ||
		    (ret = get_str(diag, what, "node", r->node, sizeof(r->node), m->node)) !=
			TANDEM_OK ||
		    (ret = get_str(diag, what, "zone", r->zone, sizeof(r->zone), m->zone)) !=
			TANDEM_OK ||
		    (ret = check_u32_below(diag, what, "key_tag", m->key_tag, UINT16_MAX + 1u)) !=
			TANDEM_OK ||
		    (ret = get_blob(diag, what, "archive", COORDRPC_ARCHIVE_MAX, &r->archive,
				    &r->archive_len, m->archive)) != TANDEM_OK) {
			return ret;
		}
		r->key_id = m->key_id;
		r->key_tag = (uint16_t)m->key_tag;
		return TANDEM_OK;
	}
	case COORDRPC_KEY_ACK:
	case COORDRPC_KEY_REMOVE:
	case COORDRPC_KEY_DESTROYED:
	case COORDRPC_KEY_PURGE:
	case COORDRPC_KEY_ACTIVATE: {
		const Tandem__CoordKeyRef *m = (const Tandem__CoordKeyRef *)pm;
		if ((ret = check_version(diag, what, m->version)) != TANDEM_OK ||
		    (ret = get_str(diag, what, "node", r->node, sizeof(r->node), m->node)) !=
			TANDEM_OK ||
		    (ret = get_str(diag, what, "zone", r->zone, sizeof(r->zone), m->zone)) !=
			TANDEM_OK) {
			return ret;
		}
		r->key_id = m->key_id;
		r->retention_ms = kind == COORDRPC_KEY_PURGE ? m->retention_ms : 0;
		return TANDEM_OK;
	}
	case COORDRPC_SITE_SUSPEND:
	case COORDRPC_SITE_RESUME: {
		const Tandem__CoordSiteOp *m = (const Tandem__CoordSiteOp *)pm;
		if ((ret = check_version(diag, what, m->version)) != TANDEM_OK ||
		    (ret = check_u32_below(diag, what, "site", m->site, COORD_SITES_MAX)) !=
			TANDEM_OK) {
			return ret;
		}
		r->site = m->site;
		return TANDEM_OK;
	}
	case COORDRPC_STATUS: {
		const Tandem__CoordStatusRequest *m = (const Tandem__CoordStatusRequest *)pm;
		return check_version(diag, what, m->version);
	}
	case COORDRPC_KEYS_GET: {
		const Tandem__CoordKeysRequest *m = (const Tandem__CoordKeysRequest *)pm;
		if ((ret = check_version(diag, what, m->version)) != TANDEM_OK) {
			return ret;
		}
		return get_str(diag, what, "zone", r->zone, sizeof(r->zone), m->zone);
	}
	case COORDRPC_ZONE_ADD:
	case COORDRPC_ZONE_REMOVE: {
		const Tandem__CoordZoneOp *m = (const Tandem__CoordZoneOp *)pm;
		if ((ret = check_version(diag, what, m->version)) != TANDEM_OK ||
		    (ret = get_str(diag, what, "zone", r->zone, sizeof(r->zone), m->zone)) !=
			TANDEM_OK) {
			return ret;
		}
		if (kind == COORDRPC_ZONE_ADD) {
			r->compare_digests = m->compare_digests;
			r->has_serial = m->has_serial;
			r->serial = m->has_serial ? m->serial : 0;
		}
		return TANDEM_OK;
	}
	case COORDRPC_DRAIN:
	case COORDRPC_UNDRAIN:
	case COORDRPC_NODE_REMOVE: {
		const Tandem__CoordNodeOp *m = (const Tandem__CoordNodeOp *)pm;
		if ((ret = check_version(diag, what, m->version)) != TANDEM_OK) {
			return ret;
		}
		return get_str(diag, what, "node", r->node, sizeof(r->node), m->node);
	}
	case COORDRPC_SWITCHOVER: {
		const Tandem__CoordSwitchover *m = (const Tandem__CoordSwitchover *)pm;
		if ((ret = check_version(diag, what, m->version)) != TANDEM_OK ||
		    (ret = get_str(diag, what, "zone", r->zone, sizeof(r->zone), m->zone)) !=
			TANDEM_OK) {
			return ret;
		}
		return get_str(diag, what, "target", r->target, sizeof(r->target), m->target);
	}
	case COORDRPC_TAKEOVER: {
		const Tandem__CoordTakeover *m = (const Tandem__CoordTakeover *)pm;
		if ((ret = check_version(diag, what, m->version)) != TANDEM_OK ||
		    (ret = check_u32_below(diag, what, "site", m->site, COORD_SITES_MAX)) !=
			TANDEM_OK) {
			return ret;
		}
		r->site = m->site;
		r->force = m->force;
		return TANDEM_OK;
	}
	case COORDRPC_KEYSET_GET:
	case COORDRPC_SKR_GET: {
		const Tandem__CoordKeysetRequest *m = (const Tandem__CoordKeysetRequest *)pm;
		if ((ret = check_version(diag, what, m->version)) != TANDEM_OK) {
			return ret;
		}
		return get_str(diag, what, "zone", r->zone, sizeof(r->zone), m->zone);
	}
	case COORDRPC_KEYSET_PUT:
	case COORDRPC_SKR_PUT: {
		const Tandem__CoordKeysetPut *m = (const Tandem__CoordKeysetPut *)pm;
		if ((ret = check_version(diag, what, m->version)) != TANDEM_OK ||
		    (ret = get_str(diag, what, "zone", r->zone, sizeof(r->zone), m->zone)) !=
			TANDEM_OK ||
		    (ret = get_str(diag, what, "node", r->node, sizeof(r->node), m->node)) !=
			TANDEM_OK ||
		    (ret = check_revision(diag, what, "revision", m->revision)) != TANDEM_OK ||
		    (ret = get_blob(diag, what, "keyset", COORDRPC_KEYSET_MAX, &r->keyset,
				    &r->keyset_len, m->keyset)) != TANDEM_OK) {
			return ret;
		}
		r->epoch = m->epoch;
		r->revision = m->revision;
		return TANDEM_OK;
	}
	case COORDRPC_ZONE_ACCEPT_INPUT:
	case COORDRPC_ZONE_APPROVE:
	case COORDRPC_ZONE_REJECT: {
		const Tandem__CoordAcceptInput *m = (const Tandem__CoordAcceptInput *)pm;
		if ((ret = check_version(diag, what, m->version)) != TANDEM_OK ||
		    (ret = get_str(diag, what, "zone", r->zone, sizeof(r->zone), m->zone)) !=
			TANDEM_OK) {
			return ret;
		}
		r->serial = m->serial;
		return TANDEM_OK;
	}
	case COORDRPC_PARAMS_SET: {
		const Tandem__CoordParamsSet *m = (const Tandem__CoordParamsSet *)pm;
		if ((ret = check_version(diag, what, m->version)) != TANDEM_OK) {
			return ret;
		}
		r->lease_ms = m->lease_ms;
		r->margin_ms = m->margin_ms;
		return TANDEM_OK;
	}
	case COORDRPC_REQUEST_CREATE:
	case COORDRPC_REQUEST_APPROVE:
	case COORDRPC_REQUEST_CANCEL:
	case COORDRPC_REQUEST_GET:
	case COORDRPC_OPERATORS_GET:
	case COORDRPC_OPERATORS_BOOTSTRAP:
	case COORDRPC_CEREMONY_RECORD:
	case COORDRPC_PRODUCTION:
	case COORDRPC_DRILL_NOTE:
	case COORDRPC_POLICY:
	case COORDRPC_POLICY_GET: {
		const Tandem__CoordRequestOp *m = (const Tandem__CoordRequestOp *)pm;
		if ((ret = check_version(diag, what, m->version)) != TANDEM_OK ||
		    (ret = get_str(diag, what, "id", r->req_id, sizeof(r->req_id), m->id)) !=
			TANDEM_OK ||
		    (ret = get_str(diag, what, "action", r->action, sizeof(r->action),
				   m->action)) != TANDEM_OK ||
		    (ret = get_str(diag, what, "args", r->args, sizeof(r->args), m->args)) !=
			TANDEM_OK ||
		    (ret = get_blob(diag, what, "doc", COORDRPC_ARCHIVE_MAX, &r->doc, &r->doc_len,
				    m->doc)) != TANDEM_OK ||
		    (ret = get_str(diag, what, "zone", r->zone, sizeof(r->zone), m->zone)) !=
			TANDEM_OK) {
			return ret;
		}
		if (m->pub.len + m->sig.len > 0 &&
		    (m->pub.len != COORDRPC_PUB_LEN || m->sig.len != COORDRPC_SIG_LEN)) {
			tandem_diag_add(diag, TANDEM_EINVAL,
					"%s: fields pub and sig: %zu and %zu bytes, want 32 and 64",
					what, m->pub.len, m->sig.len);
			return TANDEM_EINVAL;
		}
		r->has_sig = m->pub.len > 0;
		if (r->has_sig) {
			memcpy(r->pub, m->pub.data, COORDRPC_PUB_LEN);
			memcpy(r->sig, m->sig.data, COORDRPC_SIG_LEN);
		}
		r->ttl_ms = m->ttl_ms;
		return TANDEM_OK;
	}
	}
	return TANDEM_EINVAL;
}

int coordrpc_request_unpack(const char *type, const uint8_t *body, size_t len, tandem_diag_t *diag,
			    coordrpc_request_t *out)
{
	int ret;
	coordrpc_kind_t kind;
	ProtobufCMessage *m = NULL;
	coordrpc_request_t *r = NULL;
	if (type == NULL || (body == NULL && len > 0) || out == NULL) {
		return TANDEM_EINVAL;
	}
	if (coordrpc_kind_from_type(type, &kind) != TANDEM_OK) {
		tandem_diag_add(diag, TANDEM_EINVAL, "unknown request type '%.64s'", type);
		return TANDEM_EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		return TANDEM_ENOMEM;
	}
	m = decode(coordrpc_kinds[kind].desc, type, body, len, diag);
	if (m == NULL) {
		ret = TANDEM_EINVAL;
		goto out;
	}
	r->kind = kind;
	ret = unpack_request_fields(kind, m, type, diag, r);
	if (ret != TANDEM_OK) {
		goto out;
	}
	memcpy(out, r, sizeof(*r));
	r->archive = NULL; /* now out's */
	r->keyset = NULL;
	r->doc = NULL;
	r->items = NULL;
out:
	if (m != NULL) {
		protobuf_c_message_free_unpacked(m, NULL);
	}
	coordrpc_request_deinit(r);
	free(r);
	return ret;
}

/* Decisions. */

int coordrpc_decision_pack(const coordrpc_decision_t *dec, uint8_t **buf, size_t *len)
{
	char *effects[COORDRPC_EFFECTS_MAX];
	if (dec == NULL || buf == NULL || len == NULL || dec->neffects > COORDRPC_EFFECTS_MAX ||
	    !str_ok(dec->text, sizeof(dec->text))) {
		return TANDEM_EINVAL;
	}
	for (size_t i = 0; i < dec->neffects; i++) {
		if (!str_ok(dec->effects[i], sizeof(dec->effects[i]))) {
			return TANDEM_EINVAL;
		}
		effects[i] = (char *)dec->effects[i];
	}
	Tandem__CoordDecision m = TANDEM__COORD_DECISION__INIT;
	m.version = COORDRPC_VERSION;
	m.accepted = dec->accepted;
	m.reason = (uint32_t)dec->reason;
	m.text = (char *)dec->text;
	m.epoch = dec->epoch;
	m.expiry_ms = dec->expiry_ms;
	m.revision = dec->revision;
	m.n_effects = dec->neffects;
	m.effects = dec->neffects > 0 ? effects : NULL;
	if (dec->doc_len > COORDRPC_DOC_MAX) {
		return TANDEM_EINVAL;
	}
	m.doc = bin(dec->doc, dec->doc_len);
	if (dec->nleases > COORDRPC_LEASE_BATCH_MAX || (dec->leases == NULL && dec->nleases > 0)) {
		return TANDEM_EINVAL;
	}
	Tandem__CoordLeaseResult *pl = NULL, **pp = NULL;
	if (dec->nleases > 0) {
		pl = calloc(dec->nleases, sizeof(*pl));
		pp = calloc(dec->nleases, sizeof(*pp));
		if (pl == NULL || pp == NULL) {
			free(pl);
			free(pp);
			return TANDEM_ENOMEM;
		}
	}
	int ret = TANDEM_OK;
	for (size_t i = 0; i < dec->nleases; i++) {
		const coordrpc_lease_result_t *l = &dec->leases[i];
		if (!str_ok(l->zone, sizeof(l->zone)) || !str_ok(l->text, sizeof(l->text)) ||
		    l->accepted != (l->reason == COORD_R_OK)) {
			ret = TANDEM_EINVAL;
			break;
		}
		tandem__coord_lease_result__init(&pl[i]);
		pl[i].zone = (char *)l->zone;
		pl[i].accepted = l->accepted;
		pl[i].reason = (uint32_t)l->reason;
		pl[i].text = (char *)l->text;
		pl[i].epoch = l->epoch;
		pl[i].expiry_ms = l->expiry_ms;
		pp[i] = &pl[i];
	}
	m.n_leases = dec->nleases;
	m.leases = pp;
	if (ret == TANDEM_OK) {
		ret = pack_msg(&m.base, buf, len);
	}
	free(pl);
	free(pp);
	return ret;
}

int coordrpc_decision_unpack(const uint8_t *body, size_t len, tandem_diag_t *diag,
			     coordrpc_decision_t *out)
{
	static const char what[] = COORDRPC_T_DECISION;
	int ret;
	Tandem__CoordDecision *m = NULL;
	coordrpc_decision_t *d = NULL;
	if ((body == NULL && len > 0) || out == NULL) {
		return TANDEM_EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		return TANDEM_ENOMEM;
	}
	m = (Tandem__CoordDecision *)decode(&tandem__coord_decision__descriptor, what, body, len,
					    diag);
	if (m == NULL) {
		ret = TANDEM_EINVAL;
		goto out;
	}
	if ((ret = check_version(diag, what, m->version)) != TANDEM_OK ||
	    (ret = check_u32_below(diag, what, "reason", m->reason, COORD_R_LAST + 1u)) !=
		TANDEM_OK ||
	    (ret = get_str(diag, what, "text", d->text, sizeof(d->text), m->text)) != TANDEM_OK ||
	    (ret = check_revision(diag, what, "revision", m->revision)) != TANDEM_OK) {
		goto out;
	}
	if (m->accepted != (m->reason == COORD_R_OK)) {
		tandem_diag_add(diag, TANDEM_EINVAL, "%s: field accepted: %s with reason %u", what,
				m->accepted ? "true" : "false", (unsigned)m->reason);
		ret = TANDEM_EINVAL;
		goto out;
	}
	d->accepted = m->accepted;
	d->reason = (coord_reason_t)m->reason;
	d->epoch = m->epoch;
	d->expiry_ms = m->expiry_ms;
	d->revision = m->revision;
	/* more effects than listed are counted, not refused: they are for people */
	d->neffects = m->n_effects < COORDRPC_EFFECTS_MAX ? m->n_effects : COORDRPC_EFFECTS_MAX;
	d->neffects_dropped = m->n_effects - d->neffects;
	for (size_t i = 0; i < d->neffects; i++) {
		ret = get_str(diag, what, "effects", d->effects[i], sizeof(d->effects[i]),
			      m->effects[i]);
		if (ret != TANDEM_OK) {
			goto out;
		}
	}
	ret = get_blob(diag, what, "doc", COORDRPC_DOC_MAX, &d->doc, &d->doc_len, m->doc);
	if (ret != TANDEM_OK || (ret = check_count(diag, what, "leases", m->n_leases,
						   COORDRPC_LEASE_BATCH_MAX)) != TANDEM_OK) {
		goto out;
	}
	if (m->n_leases > 0) {
		d->leases = calloc(m->n_leases, sizeof(*d->leases));
		if (d->leases == NULL) {
			ret = TANDEM_ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < m->n_leases; i++) {
		const Tandem__CoordLeaseResult *pl = m->leases[i];
		coordrpc_lease_result_t *l = &d->leases[i];
		d->nleases = i + 1;
		if ((ret = get_str(diag, what, "leases.zone", l->zone, sizeof(l->zone),
				   pl->zone)) != TANDEM_OK ||
		    (ret = get_str(diag, what, "leases.text", l->text, sizeof(l->text),
				   pl->text)) != TANDEM_OK ||
		    (ret = check_u32_below(diag, what, "leases.reason", pl->reason,
					   COORD_R_LAST + 1u)) != TANDEM_OK) {
			goto out;
		}
		if (pl->accepted != (pl->reason == COORD_R_OK)) {
			tandem_diag_add(diag, TANDEM_EINVAL,
					"%s: field leases.accepted: %s with reason %u", what,
					pl->accepted ? "true" : "false", (unsigned)pl->reason);
			ret = TANDEM_EINVAL;
			goto out;
		}
		l->accepted = pl->accepted;
		l->reason = (coord_reason_t)pl->reason;
		l->epoch = pl->epoch;
		l->expiry_ms = pl->expiry_ms;
	}
	memcpy(out, d, sizeof(*d));
	d->doc = NULL; /* now out's */
	d->leases = NULL;
out:
	if (m != NULL) {
		tandem__coord_decision__free_unpacked(m, NULL);
	}
	coordrpc_decision_deinit(d);
	free(d);
	return ret;
}

/* Status. */

size_t coordrpc_status_used(const coordrpc_status_t *st)
{
	size_t n = st->nzones < COORD_ZONES_MAX ? st->nzones : COORD_ZONES_MAX;
	return offsetof(coordrpc_status_t, zones) + n * sizeof(st->zones[0]);
}

void coordrpc_status_copy(coordrpc_status_t *dst, const coordrpc_status_t *src)
{
	if (dst != src) {
		memcpy(dst, src, coordrpc_status_used(src));
	}
}

void coordrpc_status_clear(coordrpc_status_t *st)
{
	memset(st, 0, offsetof(coordrpc_status_t, zones));
}

/* Every protobuf-c struct a status pack needs, in one allocation. */
typedef struct status_scratch {
	Tandem__CoordZoneStatus zones[COORD_ZONES_MAX];
	Tandem__CoordZoneStatus *zonep[COORD_ZONES_MAX];
	Tandem__CoordKeyStatus keys[COORD_ZONES_MAX][COORD_KEYS_MAX];
	Tandem__CoordKeyStatus *keyp[COORD_ZONES_MAX][COORD_KEYS_MAX];
	char *acks[COORD_ZONES_MAX][COORD_KEYS_MAX][COORD_NODES_MAX];
	char *dest[COORD_ZONES_MAX][COORD_KEYS_MAX][COORD_NODES_MAX];
	Tandem__CoordNodeStatus nodes[COORD_NODES_MAX];
	Tandem__CoordNodeStatus *nodep[COORD_NODES_MAX];
	Tandem__CoordAlert alerts[COORD_NODES_MAX][COORDRPC_ALERTS_MAX];
	Tandem__CoordAlert *alertp[COORD_NODES_MAX][COORDRPC_ALERTS_MAX];
	Tandem__CoordCoordClock coords[COORDRPC_COORDS_MAX];
	Tandem__CoordCoordClock *coordp[COORDRPC_COORDS_MAX];
	uint32_t residues[COORD_SITES_MAX];
} status_scratch_t;

static bool status_key_ok(const coordrpc_key_status_t *k)
{
	if (k->nacks > COORD_NODES_MAX || k->ndestroyed > COORD_NODES_MAX) {
		return false;
	}
	for (size_t a = 0; a < k->nacks; a++) {
		if (!str_ok(k->acks[a], sizeof(k->acks[a]))) {
			return false;
		}
	}
	for (size_t a = 0; a < k->ndestroyed; a++) {
		if (!str_ok(k->destroyed[a], sizeof(k->destroyed[a]))) {
			return false;
		}
	}
	return true;
}

static bool status_zone_ok(const coordrpc_zone_status_t *z)
{
	if (!str_ok(z->name, sizeof(z->name)) || !str_ok(z->holder, sizeof(z->holder)) ||
	    !str_ok(z->committed_by, sizeof(z->committed_by)) ||
	    !str_ok(z->switch_to, sizeof(z->switch_to)) ||
	    !str_ok(z->alert_node, sizeof(z->alert_node)) || z->salt_len > COORDRPC_SALT_MAX ||
	    z->nkeys > COORD_KEYS_MAX) {
		return false;
	}
	for (size_t k = 0; k < z->nkeys; k++) {
		if (!status_key_ok(&z->keys[k])) {
			return false;
		}
	}
	return true;
}

static bool status_ok(const coordrpc_status_t *st)
{
	if (!str_ok(st->coordinator, sizeof(st->coordinator)) ||
	    !str_ok(st->leader, sizeof(st->leader)) || st->nzones > COORD_ZONES_MAX ||
	    st->nnodes > COORD_NODES_MAX || st->params.nsites > COORD_SITES_MAX ||
	    st->ncoords > COORDRPC_COORDS_MAX ||
	    !str_ok(st->store_error, sizeof(st->store_error)) || !printable(st->store_error) ||
	    !str_ok(st->metrics, sizeof(st->metrics))) {
		return false;
	}
	for (size_t i = 0; i < st->ncoords; i++) {
		if (!str_ok(st->coords[i].name, sizeof(st->coords[i].name)) ||
		    !str_ok(st->coords[i].metrics, sizeof(st->coords[i].metrics))) {
			return false;
		}
	}
	for (size_t i = 0; i < st->nzones; i++) {
		if (!status_zone_ok(&st->zones[i])) {
			return false;
		}
	}
	for (size_t i = 0; i < st->nnodes; i++) {
		const coordrpc_node_status_t *n = &st->nodes[i];
		if (!str_ok(n->name, sizeof(n->name)) || !str_ok(n->publish, sizeof(n->publish)) ||
		    !str_ok(n->metrics, sizeof(n->metrics)) || !str_ok(n->axfr, sizeof(n->axfr)) ||
		    !str_ok(n->instance, sizeof(n->instance)) ||
		    !coordrpc_instance_valid(n->instance) || !alerts_ok(n->nalerts, n->alerts)) {
			return false;
		}
	}
	return true;
}

static void status_pack_zone(status_scratch_t *s, size_t zi, const coordrpc_zone_status_t *z)
{
	Tandem__CoordZoneStatus *pz = &s->zones[zi];
	tandem__coord_zone_status__init(pz);
	pz->name = (char *)z->name;
	pz->holder = (char *)z->holder;
	pz->epoch = z->epoch;
	pz->has_committed = z->has_committed;
	pz->serial = z->serial;
	pz->lease_left_ms = z->lease_left_ms;
	pz->removed = z->removed;
	pz->compare_digests = z->compare_digests;
	pz->digest = bin(z->digest, COORD_DIGEST_LEN);
	pz->committed_by = (char *)z->committed_by;
	pz->sign_time = z->sign_time;
	pz->input_serial = z->input_serial;
	pz->base_serial = z->base_serial;
	pz->full_requested = z->full_requested;
	pz->keyset_revision = z->keyset_revision;
	pz->keyset_now = z->keyset_now;
	if (!skr_id_zero(z->skr_id)) {
		pz->skr_id = bin(z->skr_id, COORD_SKR_ID_LEN);
	}
	if (!digest_zero(z->policy_digest)) {
		pz->policy_digest = bin(z->policy_digest, COORD_DIGEST_LEN);
	}
	pz->nsec3_salt = bin(z->salt, z->salt_len);
	pz->nsec3 = z->nsec3;
	pz->switch_to = (char *)z->switch_to;
	pz->alerts = z->alerts;
	pz->committed_epoch = z->committed_epoch;
	pz->alert_open = z->alert_open;
	pz->alert_serial = z->alert_serial;
	pz->alert_node = (char *)z->alert_node;
	pz->expiry_ms = z->expiry_ms;
	pz->has_accepted_input = z->has_accepted_input;
	pz->accepted_input_serial = z->has_accepted_input ? z->accepted_input_serial : 0;
	pz->report_serial = z->report_serial;
	pz->report_node = (char *)z->report_node;
	if (z->report_serial != 0) {
		pz->report_digest = bin(z->report_digest, COORD_DIGEST_LEN);
	}
	pz->report_match = z->report_serial != 0 && z->report_match;
	pz->report_why = (char *)z->report_why;
	if (z->has_nosig) {
		pz->nosig_digest = bin(z->nosig, COORD_DIGEST_LEN);
	}
	pz->has_review_decision = z->has_review_decision;
	pz->review_serial = z->has_review_decision ? z->review_serial : 0;
	pz->review_approved = z->has_review_decision && z->review_approved;
	pz->review_seq = z->review_seq;
	for (size_t k = 0; k < z->nkeys; k++) {
		const coordrpc_key_status_t *key = &z->keys[k];
		Tandem__CoordKeyStatus *pk = &s->keys[zi][k];
		tandem__coord_key_status__init(pk);
		pk->id = key->id;
		pk->tag = key->tag;
		pk->active = key->active;
		for (size_t a = 0; a < key->nacks; a++) {
			s->acks[zi][k][a] = (char *)key->acks[a];
		}
		pk->n_acks = key->nacks;
		pk->acks = s->acks[zi][k];
		pk->retired = key->retired;
		pk->retired_ms = key->retired_ms;
		for (size_t a = 0; a < key->ndestroyed; a++) {
			s->dest[zi][k][a] = (char *)key->destroyed[a];
		}
		pk->n_destroyed = key->ndestroyed;
		pk->destroyed = s->dest[zi][k];
		s->keyp[zi][k] = pk;
	}
	pz->n_keys = z->nkeys;
	pz->keys = s->keyp[zi];
	s->zonep[zi] = pz;
}

int coordrpc_status_pack(const coordrpc_status_t *st, uint8_t **buf, size_t *len)
{
	if (st == NULL || buf == NULL || len == NULL || !status_ok(st)) {
		return TANDEM_EINVAL;
	}
	status_scratch_t *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		return TANDEM_ENOMEM;
	}
	Tandem__CoordStatus m = TANDEM__COORD_STATUS__INIT;
	m.version = COORDRPC_VERSION;
	m.now_ms = st->now_ms;
	m.coordinator = (char *)st->coordinator;
	m.leader = (char *)st->leader;
	m.metrics = (char *)st->metrics;
	m.lease_ms = st->params.lease_ms;
	m.margin_ms = st->params.margin_ms;
	m.serial_modulus = st->params.serial_modulus;
	m.nsites = st->params.nsites;
	for (uint32_t i = 0; i < st->params.nsites; i++) {
		s->residues[i] = st->params.site_residue[i];
	}
	m.n_site_residue = st->params.nsites;
	m.site_residue = s->residues;
	m.suspended_sites = st->suspended_sites;
	for (size_t i = 0; i < st->nzones; i++) {
		status_pack_zone(s, i, &st->zones[i]);
	}
	m.n_zones = st->nzones;
	m.zones = s->zonep;
	for (size_t i = 0; i < st->nnodes; i++) {
		const coordrpc_node_status_t *n = &st->nodes[i];
		Tandem__CoordNodeStatus *pn = &s->nodes[i];
		tandem__coord_node_status__init(pn);
		pn->name = (char *)n->name;
		pn->site = n->site;
		pn->state = (uint32_t)n->state;
		pn->healthy = n->healthy;
		pn->publish = (char *)n->publish;
		pn->metrics = (char *)n->metrics;
		pn->axfr = (char *)n->axfr;
		pn->no = n->no;
		pn->last_seen_ms = n->last_seen_ms;
		pn->instance = (char *)n->instance;
		alerts_to_pb(n->nalerts, n->alerts, s->alerts[i], s->alertp[i]);
		pn->n_alerts = n->nalerts;
		pn->alerts = s->alertp[i];
		pn->clock_offset_ms = n->clock_offset_ms;
		pn->clock_skewed = n->clock_skewed;
		s->nodep[i] = pn;
	}
	m.n_nodes = st->nnodes;
	m.nodes = s->nodep;
	m.stale = st->stale;
	m.state_age_ms = st->state_age_ms;
	m.store_error = (char *)st->store_error;
	m.clock_skewed = st->clock_skewed;
	for (size_t i = 0; i < st->ncoords; i++) {
		Tandem__CoordCoordClock *pc = &s->coords[i];
		tandem__coord_coord_clock__init(pc);
		pc->name = (char *)st->coords[i].name;
		pc->offset_ms = st->coords[i].offset_ms;
		pc->skewed = st->coords[i].skewed;
		pc->seen_ms = st->coords[i].seen_ms;
		pc->metrics = (char *)st->coords[i].metrics;
		s->coordp[i] = pc;
	}
	m.n_coords = st->ncoords;
	m.coords = s->coordp;
	int ret = pack_msg(&m.base, buf, len);
	free(s);
	return ret;
}

static int status_unpack_key(const Tandem__CoordKeyStatus *pk, const char *what,
			     tandem_diag_t *diag, coordrpc_key_status_t *k)
{
	int ret;
	if ((ret = check_u32_below(diag, what, "keys.tag", pk->tag, UINT16_MAX + 1u)) !=
		TANDEM_OK ||
	    (ret = check_count(diag, what, "keys.acks", pk->n_acks, COORD_NODES_MAX)) !=
		TANDEM_OK ||
	    (ret = check_count(diag, what, "keys.destroyed", pk->n_destroyed, COORD_NODES_MAX)) !=
		TANDEM_OK) {
		return ret;
	}
	k->id = pk->id;
	k->tag = (uint16_t)pk->tag;
	k->active = pk->active;
	k->nacks = pk->n_acks;
	for (size_t a = 0; a < pk->n_acks; a++) {
		ret = get_str(diag, what, "keys.acks", k->acks[a], sizeof(k->acks[a]), pk->acks[a]);
		if (ret != TANDEM_OK) {
			return ret;
		}
	}
	k->retired = pk->retired;
	k->retired_ms = pk->retired_ms;
	k->ndestroyed = pk->n_destroyed;
	for (size_t a = 0; a < pk->n_destroyed; a++) {
		ret = get_str(diag, what, "keys.destroyed", k->destroyed[a],
			      sizeof(k->destroyed[a]), pk->destroyed[a]);
		if (ret != TANDEM_OK) {
			return ret;
		}
	}
	return TANDEM_OK;
}

static int status_unpack_zone(const Tandem__CoordZoneStatus *pz, tandem_diag_t *diag,
			      coordrpc_zone_status_t *z)
{
	static const char what[] = "coord.status.reply zones";
	int ret;
	if ((ret = get_str(diag, what, "name", z->name, sizeof(z->name), pz->name)) != TANDEM_OK ||
	    (ret = get_str(diag, what, "holder", z->holder, sizeof(z->holder), pz->holder)) !=
		TANDEM_OK ||
	    (ret = get_str(diag, what, "committed_by", z->committed_by, sizeof(z->committed_by),
			   pz->committed_by)) != TANDEM_OK ||
	    (ret = get_str(diag, what, "switch_to", z->switch_to, sizeof(z->switch_to),
			   pz->switch_to)) != TANDEM_OK ||
	    (ret = get_str(diag, what, "alert_node", z->alert_node, sizeof(z->alert_node),
			   pz->alert_node)) != TANDEM_OK ||
	    /* a zone never committed may have no digest */
	    ((pz->has_committed || pz->digest.len != 0) &&
	     (ret = get_digest(diag, what, "digest", z->digest, pz->digest)) != TANDEM_OK) ||
	    (ret = get_salt(diag, what, z->salt, &z->salt_len, pz->nsec3_salt)) != TANDEM_OK ||
	    (ret = check_count(diag, what, "keys", pz->n_keys, COORD_KEYS_MAX)) != TANDEM_OK ||
	    (ret = check_revision(diag, what, "keyset_revision", pz->keyset_revision)) !=
		TANDEM_OK ||
	    (ret = check_revision(diag, what, "keyset_now", pz->keyset_now)) != TANDEM_OK ||
	    (ret = get_skr_id(diag, what, z->skr_id, pz->skr_id)) != TANDEM_OK ||
	    (ret = get_policy_digest(diag, what, z->policy_digest, pz->policy_digest)) !=
		TANDEM_OK ||
	    (ret = get_str(diag, what, "report_node", z->report_node, sizeof(z->report_node),
			   pz->report_node)) != TANDEM_OK ||
	    (pz->report_serial != 0 &&
	     (ret = get_digest(diag, what, "report_digest", z->report_digest, pz->report_digest)) !=
		 TANDEM_OK) ||
	    (ret = get_str(diag, what, "report_why", z->report_why, sizeof(z->report_why),
			   pz->report_why)) != TANDEM_OK ||
	    (pz->nosig_digest.len != 0 && (ret = get_digest(diag, what, "nosig_digest", z->nosig,
							    pz->nosig_digest)) != TANDEM_OK)) {
		return ret;
	}
	z->has_nosig = pz->nosig_digest.len != 0;
	z->report_serial = pz->report_serial;
	z->report_match = pz->report_serial != 0 && pz->report_match;
	z->epoch = pz->epoch;
	z->lease_left_ms = pz->lease_left_ms;
	z->expiry_ms = pz->expiry_ms;
	z->removed = pz->removed;
	z->compare_digests = pz->compare_digests;
	z->has_committed = pz->has_committed;
	z->serial = pz->serial;
	z->sign_time = pz->sign_time;
	z->input_serial = pz->input_serial;
	z->base_serial = pz->base_serial;
	z->full_requested = pz->full_requested;
	z->keyset_revision = pz->keyset_revision;
	z->keyset_now = pz->keyset_now;
	z->nsec3 = pz->nsec3;
	z->alerts = pz->alerts;
	z->committed_epoch = pz->committed_epoch;
	z->alert_open = pz->alert_open;
	z->alert_serial = pz->alert_serial;
	z->has_accepted_input = pz->has_accepted_input;
	z->accepted_input_serial = pz->has_accepted_input ? pz->accepted_input_serial : 0;
	z->has_review_decision = pz->has_review_decision;
	z->review_serial = pz->has_review_decision ? pz->review_serial : 0;
	z->review_approved = pz->has_review_decision && pz->review_approved;
	z->review_seq = pz->review_seq;
	z->nkeys = pz->n_keys;
	for (size_t k = 0; k < pz->n_keys; k++) {
		ret = status_unpack_key(pz->keys[k], what, diag, &z->keys[k]);
		if (ret != TANDEM_OK) {
			return ret;
		}
	}
	return TANDEM_OK;
}

static int status_unpack_node(const Tandem__CoordNodeStatus *pn, tandem_diag_t *diag,
			      coordrpc_node_status_t *n)
{
	static const char what[] = "coord.status.reply nodes";
	int ret;
	if ((ret = get_str(diag, what, "name", n->name, sizeof(n->name), pn->name)) != TANDEM_OK ||
	    (ret = get_str(diag, what, "publish", n->publish, sizeof(n->publish), pn->publish)) !=
		TANDEM_OK ||
	    (ret = get_str(diag, what, "metrics", n->metrics, sizeof(n->metrics), pn->metrics)) !=
		TANDEM_OK ||
	    (ret = get_str(diag, what, "axfr", n->axfr, sizeof(n->axfr), pn->axfr)) != TANDEM_OK ||
	    (ret = check_u32_below(diag, what, "site", pn->site, COORD_SITES_MAX)) != TANDEM_OK ||
	    (ret = check_u32_below(diag, what, "state", pn->state, COORD_NODE_STATE_LAST + 1u)) !=
		TANDEM_OK ||
	    (ret = get_instance(diag, what, "instance", n->instance, pn->instance)) != TANDEM_OK ||
	    (ret = get_alerts(diag, what, pn->n_alerts, pn->alerts, &n->nalerts, n->alerts)) !=
		TANDEM_OK) {
		return ret;
	}
	n->clock_offset_ms = pn->clock_offset_ms;
	n->clock_skewed = pn->clock_skewed;
	n->site = pn->site;
	n->no = pn->no;
	n->state = (coord_node_state_t)pn->state;
	n->healthy = pn->healthy;
	n->last_seen_ms = pn->last_seen_ms;
	return TANDEM_OK;
}

int coordrpc_status_unpack(const uint8_t *body, size_t len, tandem_diag_t *diag,
			   coordrpc_status_t *out)
{
	static const char what[] = COORDRPC_T_STATUS;
	int ret;
	Tandem__CoordStatus *m = NULL;
	coordrpc_status_t *st = NULL;
	if ((body == NULL && len > 0) || out == NULL) {
		return TANDEM_EINVAL;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		return TANDEM_ENOMEM;
	}
	m = (Tandem__CoordStatus *)decode(&tandem__coord_status__descriptor, what, body, len, diag);
	if (m == NULL) {
		ret = TANDEM_EINVAL;
		goto out;
	}
	if ((ret = check_version(diag, what, m->version)) != TANDEM_OK ||
	    (ret = get_str(diag, what, "coordinator", st->coordinator, sizeof(st->coordinator),
			   m->coordinator)) != TANDEM_OK ||
	    (ret = get_str(diag, what, "leader", st->leader, sizeof(st->leader), m->leader)) !=
		TANDEM_OK ||
	    (ret = get_str(diag, what, "metrics", st->metrics, sizeof(st->metrics), m->metrics)) !=
		TANDEM_OK ||
	    (ret = check_count(diag, what, "zones", m->n_zones, COORD_ZONES_MAX)) != TANDEM_OK ||
	    (ret = check_count(diag, what, "nodes", m->n_nodes, COORD_NODES_MAX)) != TANDEM_OK ||
	    (ret = check_u32_below(diag, what, "nsites", m->nsites, COORD_SITES_MAX + 1u)) !=
		TANDEM_OK ||
	    (ret = check_count(diag, what, "site_residue", m->n_site_residue, m->nsites)) !=
		TANDEM_OK ||
	    (ret = check_u32_below(diag, what, "serial_modulus", m->serial_modulus,
				   COORD_MODULUS_MAX + 1u)) != TANDEM_OK ||
	    (ret = get_str(diag, what, "store_error", st->store_error, sizeof(st->store_error),
			   m->store_error)) != TANDEM_OK ||
	    (ret = check_count(diag, what, "coords", m->n_coords, COORDRPC_COORDS_MAX)) !=
		TANDEM_OK) {
		goto out;
	}
	if (!printable(st->store_error)) {
		tandem_diag_add(diag, TANDEM_EINVAL, "%s: field store_error: not printable", what);
		ret = TANDEM_EINVAL;
		goto out;
	}
	for (size_t i = 0; i < m->n_coords; i++) {
		ret = get_str(diag, what, "coords.name", st->coords[i].name,
			      sizeof(st->coords[i].name), m->coords[i]->name);
		if (ret == TANDEM_OK) {
			ret = get_str(diag, what, "coords.metrics", st->coords[i].metrics,
				      sizeof(st->coords[i].metrics), m->coords[i]->metrics);
		}
		if (ret != TANDEM_OK) {
			goto out;
		}
		st->coords[i].offset_ms = m->coords[i]->offset_ms;
		st->coords[i].skewed = m->coords[i]->skewed;
		st->coords[i].seen_ms = m->coords[i]->seen_ms;
	}
	st->ncoords = m->n_coords;
	st->stale = m->stale;
	st->state_age_ms = m->state_age_ms;
	st->clock_skewed = m->clock_skewed;
	st->now_ms = m->now_ms;
	st->suspended_sites = m->suspended_sites;
	st->params.lease_ms = m->lease_ms;
	st->params.margin_ms = m->margin_ms;
	st->params.nsites = m->nsites;
	st->params.serial_modulus = m->serial_modulus;
	for (size_t i = 0; i < m->n_site_residue; i++) {
		st->params.site_residue[i] = m->site_residue[i];
	}
	st->nzones = m->n_zones;
	for (size_t i = 0; i < m->n_zones; i++) {
		ret = status_unpack_zone(m->zones[i], diag, &st->zones[i]);
		if (ret != TANDEM_OK) {
			goto out;
		}
	}
	st->nnodes = m->n_nodes;
	for (size_t i = 0; i < m->n_nodes; i++) {
		ret = status_unpack_node(m->nodes[i], diag, &st->nodes[i]);
		if (ret != TANDEM_OK) {
			goto out;
		}
	}
	coordrpc_status_copy(out, st);
out:
	if (m != NULL) {
		tandem__coord_status__free_unpacked(m, NULL);
	}
	free(st);
	return ret;
}

/* Keys. */

int coordrpc_keys_pack(const coordrpc_keys_t *keys, uint8_t **buf, size_t *len)
{
	Tandem__CoordKeyEntry ents[COORD_KEYS_MAX];
	Tandem__CoordKeyEntry *entp[COORD_KEYS_MAX];
	char *acks[COORD_KEYS_MAX][COORD_NODES_MAX];
	if (keys == NULL || buf == NULL || len == NULL || keys->nkeys > COORD_KEYS_MAX ||
	    !str_ok(keys->zone, sizeof(keys->zone)) ||
	    !str_ok(keys->withheld, sizeof(keys->withheld))) {
		return TANDEM_EINVAL;
	}
	for (size_t k = 0; k < keys->nkeys; k++) {
		const coordrpc_key_entry_t *e = &keys->keys[k];
		if (e->nacks > COORD_NODES_MAX || e->archive_len > COORDRPC_ARCHIVE_MAX ||
		    (e->archive == NULL && e->archive_len > 0)) {
			return TANDEM_EINVAL;
		}
		tandem__coord_key_entry__init(&ents[k]);
		ents[k].id = e->id;
		ents[k].tag = e->tag;
		ents[k].active = e->active;
		for (size_t a = 0; a < e->nacks; a++) {
			if (!str_ok(e->acks[a], sizeof(e->acks[a]))) {
				return TANDEM_EINVAL;
			}
			acks[k][a] = (char *)e->acks[a];
		}
		ents[k].n_acks = e->nacks;
		ents[k].acks = acks[k];
		ents[k].archive = bin(e->archive, e->archive_len);
		entp[k] = &ents[k];
	}
	Tandem__CoordKeys m = TANDEM__COORD_KEYS__INIT;
	m.version = COORDRPC_VERSION;
	m.zone = (char *)keys->zone;
	m.n_keys = keys->nkeys;
	m.keys = entp;
	m.withheld = (char *)keys->withheld;
	return pack_msg(&m.base, buf, len);
}

int coordrpc_keys_unpack(const uint8_t *body, size_t len, tandem_diag_t *diag, coordrpc_keys_t *out)
{
	static const char what[] = COORDRPC_T_KEYS;
	int ret;
	Tandem__CoordKeys *m = NULL;
	coordrpc_keys_t *ks = NULL;
	if ((body == NULL && len > 0) || out == NULL) {
		return TANDEM_EINVAL;
	}
	ks = calloc(1, sizeof(*ks));
	if (ks == NULL) {
		return TANDEM_ENOMEM;
	}
	m = (Tandem__CoordKeys *)decode(&tandem__coord_keys__descriptor, what, body, len, diag);
	if (m == NULL) {
		ret = TANDEM_EINVAL;
		goto out;
	}
	if ((ret = check_version(diag, what, m->version)) != TANDEM_OK ||
	    (ret = get_str(diag, what, "zone", ks->zone, sizeof(ks->zone), m->zone)) != TANDEM_OK ||
	    (ret = get_str(diag, what, "withheld", ks->withheld, sizeof(ks->withheld),
			   m->withheld)) != TANDEM_OK ||
	    (ret = check_count(diag, what, "keys", m->n_keys, COORD_KEYS_MAX)) != TANDEM_OK) {
		goto out;
	}
	for (size_t k = 0; k < m->n_keys; k++) {
		const Tandem__CoordKeyEntry *pk = m->keys[k];
		coordrpc_key_entry_t *e = &ks->keys[k];
		if ((ret = check_u32_below(diag, what, "keys.tag", pk->tag, UINT16_MAX + 1u)) !=
			TANDEM_OK ||
		    (ret = check_count(diag, what, "keys.acks", pk->n_acks, COORD_NODES_MAX)) !=
			TANDEM_OK) {
			goto out;
		}
		e->id = pk->id;
		e->tag = (uint16_t)pk->tag;
		e->active = pk->active;
		e->nacks = pk->n_acks;
		for (size_t a = 0; a < pk->n_acks; a++) {
			ret = get_str(diag, what, "keys.acks", e->acks[a], sizeof(e->acks[a]),
				      pk->acks[a]);
			if (ret != TANDEM_OK) {
				goto out;
			}
		}
		ks->nkeys = k + 1; /* so that the archive is freed on a later refusal */
		ret = get_blob(diag, what, "archive", COORDRPC_ARCHIVE_MAX, &e->archive,
			       &e->archive_len, pk->archive);
		if (ret != TANDEM_OK) {
			goto out;
		}
	}
	ks->nkeys = m->n_keys;
	memcpy(out, ks, sizeof(*ks));
	memset(ks, 0, sizeof(*ks)); /* the archives are out's now */
out:
	if (m != NULL) {
		tandem__coord_keys__free_unpacked(m, NULL);
	}
	coordrpc_keys_deinit(ks);
	free(ks);
	return ret;
}

/* Key sets. */

int coordrpc_keyset_pack(const coordrpc_keyset_t *ks, uint8_t **buf, size_t *len)
{
	if (ks == NULL || buf == NULL || len == NULL || !str_ok(ks->zone, sizeof(ks->zone)) ||
	    ks->keyset_len > COORDRPC_KEYSET_MAX || (ks->keyset == NULL && ks->keyset_len > 0) ||
	    ks->revision < 0) {
		return TANDEM_EINVAL;
	}
	Tandem__CoordKeyset m = TANDEM__COORD_KEYSET__INIT;
	m.version = COORDRPC_VERSION;
	m.zone = (char *)ks->zone;
	m.keyset = bin(ks->keyset, ks->keyset_len);
	m.revision = ks->revision;
	return pack_msg(&m.base, buf, len);
}

int coordrpc_keyset_unpack(const uint8_t *body, size_t len, tandem_diag_t *diag,
			   coordrpc_keyset_t *out)
{
	static const char what[] = COORDRPC_T_KEYSET;
	int ret;
	Tandem__CoordKeyset *m = NULL;
	coordrpc_keyset_t ks;
	memset(&ks, 0, sizeof(ks));
	if ((body == NULL && len > 0) || out == NULL) {
		return TANDEM_EINVAL;
	}
	m = (Tandem__CoordKeyset *)decode(&tandem__coord_keyset__descriptor, what, body, len, diag);
	if (m == NULL) {
		ret = TANDEM_EINVAL;
		goto out;
	}
	if ((ret = check_version(diag, what, m->version)) != TANDEM_OK ||
	    (ret = get_str(diag, what, "zone", ks.zone, sizeof(ks.zone), m->zone)) != TANDEM_OK ||
	    (ret = check_revision(diag, what, "revision", m->revision)) != TANDEM_OK ||
	    (ret = get_blob(diag, what, "keyset", COORDRPC_KEYSET_MAX, &ks.keyset, &ks.keyset_len,
			    m->keyset)) != TANDEM_OK) {
		goto out;
	}
	ks.revision = m->revision;
	memcpy(out, &ks, sizeof(ks));
	memset(&ks, 0, sizeof(ks)); /* the bytes are out's now */
out:
	if (m != NULL) {
		tandem__coord_keyset__free_unpacked(m, NULL);
	}
	coordrpc_keyset_deinit(&ks);
	return ret;
}

/* Client side. */

/* Sends a request and returns the reply of the expected type. */
static int call_raw(net_rpc_client_t *cl, const coordrpc_request_t *req, const char *reply_type,
		    tandem_diag_t *diag, net_rpc_msg_t *reply)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret = coordrpc_request_pack(req, &buf, &len);
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, ret, "%s: cannot pack the request", coordrpc_type(req->kind));
		return ret;
	}
	ret = net_rpc_client_call(cl, coordrpc_type(req->kind), buf, len, diag, reply);
	free(buf);
	if (ret != TANDEM_OK) {
		return ret;
	}
	if (reply->status != 0) { /* net_rpc_client_call returns these; kept for safety */
		tandem_diag_add(diag, reply->status, "coordinator: %s", reply->error);
		ret = reply->status < 0 ? reply->status : TANDEM_NET_EPROTO;
	} else if (strcmp(reply->type, reply_type) != 0) {
		tandem_diag_add(diag, TANDEM_NET_EPROTO, "%s: reply of type '%s', expected '%s'",
				coordrpc_type(req->kind), reply->type, reply_type);
		ret = TANDEM_NET_EPROTO;
	}
	if (ret != TANDEM_OK) {
		net_rpc_msg_deinit(reply);
	}
	return ret;
}

/* An undecodable reply is the transport's protocol error, not a bad argument. */
static int reply_error(int ret)
{
	return ret == TANDEM_EINVAL ? TANDEM_NET_EPROTO : ret;
}

int coordrpc_call(net_rpc_client_t *cl, const coordrpc_request_t *req, tandem_diag_t *diag,
		  coordrpc_decision_t *out)
{
	net_rpc_msg_t reply;
	if (cl == NULL || req == NULL || out == NULL || !coordrpc_kind_valid(req->kind) ||
	    req->kind == COORDRPC_STATUS || req->kind == COORDRPC_KEYS_GET ||
	    req->kind == COORDRPC_KEYSET_GET || req->kind == COORDRPC_SKR_GET) {
		return TANDEM_EINVAL;
	}
	memset(&reply, 0, sizeof(reply));
	int ret = call_raw(cl, req, COORDRPC_T_DECISION, diag, &reply);
	if (ret != TANDEM_OK) {
		return ret;
	}
	ret = reply_error(coordrpc_decision_unpack(reply.body, reply.body_len, diag, out));
	net_rpc_msg_deinit(&reply);
	return ret;
}

int coordrpc_call_status(net_rpc_client_t *cl, tandem_diag_t *diag, coordrpc_status_t *out)
{
	net_rpc_msg_t reply;
	coordrpc_request_t *req = NULL;
	if (cl == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	req = calloc(1, sizeof(*req));
	if (req == NULL) {
		return TANDEM_ENOMEM;
	}
	req->kind = COORDRPC_STATUS;
	memset(&reply, 0, sizeof(reply));
	int ret = call_raw(cl, req, COORDRPC_T_STATUS, diag, &reply);
	free(req);
	if (ret != TANDEM_OK) {
		return ret;
	}
	ret = reply_error(coordrpc_status_unpack(reply.body, reply.body_len, diag, out));
	net_rpc_msg_deinit(&reply);
	return ret;
}

/* A read naming a zone (keys.get, keyset.get): sends it and returns the reply of `type`. */
static int call_zone_read(net_rpc_client_t *cl, coordrpc_kind_t kind, const char *type,
			  const char *zone, tandem_diag_t *diag, net_rpc_msg_t *reply)
{
	if (cl == NULL || zone == NULL || strlen(zone) >= COORD_ZONE_MAX) {
		return TANDEM_EINVAL;
	}
	coordrpc_request_t *req = calloc(1, sizeof(*req));
	if (req == NULL) {
		return TANDEM_ENOMEM;
	}
	req->kind = kind;
	memcpy(req->zone, zone, strlen(zone) + 1);
	memset(reply, 0, sizeof(*reply));
	int ret = call_raw(cl, req, type, diag, reply);
	free(req);
	return ret;
}

int coordrpc_call_keys(net_rpc_client_t *cl, const char *zone, tandem_diag_t *diag,
		       coordrpc_keys_t *out)
{
	net_rpc_msg_t reply;
	if (out == NULL) {
		return TANDEM_EINVAL;
	}
	int ret = call_zone_read(cl, COORDRPC_KEYS_GET, COORDRPC_T_KEYS, zone, diag, &reply);
	if (ret != TANDEM_OK) {
		return ret;
	}
	ret = reply_error(coordrpc_keys_unpack(reply.body, reply.body_len, diag, out));
	net_rpc_msg_deinit(&reply);
	return ret;
}

/* keyset.get and skr.get: the same reply message. */
static int call_doc(net_rpc_client_t *cl, coordrpc_kind_t kind, const char *type, const char *zone,
		    tandem_diag_t *diag, coordrpc_keyset_t *out)
{
	net_rpc_msg_t reply;
	if (out == NULL) {
		return TANDEM_EINVAL;
	}
	int ret = call_zone_read(cl, kind, type, zone, diag, &reply);
	if (ret != TANDEM_OK) {
		return ret;
	}
	ret = reply_error(coordrpc_keyset_unpack(reply.body, reply.body_len, diag, out));
	net_rpc_msg_deinit(&reply);
	return ret;
}

int coordrpc_call_keyset(net_rpc_client_t *cl, const char *zone, tandem_diag_t *diag,
			 coordrpc_keyset_t *out)
{
	return call_doc(cl, COORDRPC_KEYSET_GET, COORDRPC_T_KEYSET, zone, diag, out);
}

int coordrpc_call_skr(net_rpc_client_t *cl, const char *zone, tandem_diag_t *diag,
		      coordrpc_keyset_t *out)
{
	return call_doc(cl, COORDRPC_SKR_GET, COORDRPC_T_SKR, zone, diag, out);
}
