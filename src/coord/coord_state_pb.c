/* The cluster state to and from protobuf (proto/cluster.proto) for the store. */
#include "cluster.pb-c.h"
#include "coord_state.h"
#include "tandem_error.h"

#include <stdlib.h>
#include <string.h>

/* 3: node leases (coord_node_t.node_epoch, ...). A coordinator of version 1 would not
 * know that a zone's lease runs on with its holder's node lease, and take it for lapsed:
 * it must refuse the state (another version), not decide on it. Version 1 is still read
 * (no node leases in it: every zone holds by its own expiry). 2 is the single-key
 * layout's migration mark (coord_store.c). */
#define CLUSTER_STATE_VERSION     3
#define CLUSTER_STATE_VERSION_OLD 1
/* Far above any state of the maximum size (about 100 KB packed). */
#define CLUSTER_STATE_BYTES_MAX (4u << 20)

/* The protobuf-c structs of one zone. */
typedef struct pb_zone_scratch {
	Tandem__ClusterState__Zone zone;
	Tandem__ClusterState__Report reports[COORD_NODES_MAX];
	Tandem__ClusterState__Report *reportp[COORD_NODES_MAX];
	Tandem__ClusterState__Key keys[COORD_KEYS_MAX];
	Tandem__ClusterState__Key *keyp[COORD_KEYS_MAX];
	Tandem__ClusterState__Ack acks[COORD_KEYS_MAX][COORD_NODES_MAX];
	Tandem__ClusterState__Ack *ackp[COORD_KEYS_MAX][COORD_NODES_MAX];
	Tandem__ClusterState__Ack dest[COORD_KEYS_MAX][COORD_NODES_MAX];
	Tandem__ClusterState__Ack *destp[COORD_KEYS_MAX][COORD_NODES_MAX];
} pb_zone_scratch_t;

/* Every protobuf-c struct a pack needs; the zones' as many as the state has. */
typedef struct pb_scratch {
	Tandem__ClusterState st;
	Tandem__ClusterState__Node nodes[COORD_NODES_MAX];
	Tandem__ClusterState__Node *nodep[COORD_NODES_MAX];
	Tandem__ClusterState__Alert alerts[COORD_NODES_MAX][COORD_ALERTS_MAX];
	Tandem__ClusterState__Alert *alertp[COORD_NODES_MAX][COORD_ALERTS_MAX];
	pb_zone_scratch_t *zones;           /* nzones */
	Tandem__ClusterState__Zone **zonep; /* nzones */
} pb_scratch_t;

static ProtobufCBinaryData bin(const uint8_t *data, size_t len)
{
	ProtobufCBinaryData b = {len, (uint8_t *)data};
	return b;
}

/* Whether a zone's counts fit the message. */
static bool zone_packable(const coord_zone_t *z)
{
	if (z->nreports > COORD_NODES_MAX || z->nkeys > COORD_KEYS_MAX ||
	    z->committed_salt_len > COORD_SALT_MAX) {
		return false;
	}
	for (uint32_t k = 0; k < z->nkeys; k++) {
		if (z->keys[k].nacks > COORD_NODES_MAX || z->keys[k].ndestroyed > COORD_NODES_MAX) {
			return false;
		}
	}
	return true;
}

static void pack_zone(pb_zone_scratch_t *s, const coord_zone_t *z)
{
	Tandem__ClusterState__Zone *pz = &s->zone;
	tandem__cluster_state__zone__init(pz);
	pz->name = (char *)z->name;
	pz->removed = z->removed;
	pz->compare_digests = z->compare_digests;
	pz->holder = (char *)z->holder;
	pz->last_holder = (char *)z->last_holder;
	pz->epoch = z->epoch;
	pz->granted_ms = z->granted_ms;
	pz->expiry_ms = z->expiry_ms;
	pz->holder_node_epoch = z->holder_node_epoch;
	pz->blocked_until_ms = z->blocked_until_ms;
	pz->prefer_until_ms = z->prefer_until_ms;
	pz->switch_to = (char *)z->switch_to;
	pz->has_committed = z->has_committed;
	pz->committed_serial = z->committed_serial;
	pz->committed_digest = bin(z->committed_digest, COORD_DIGEST_LEN);
	pz->committed_epoch = z->committed_epoch;
	pz->committed_by = (char *)z->committed_by;
	pz->alerts = z->alerts;
	pz->alert_open = z->alert_open;
	pz->alert_serial = z->alert_serial;
	pz->alert_node = (char *)z->alert_node;
	pz->committed_sign_time = z->committed_sign_time;
	pz->committed_nsec3 = z->committed_nsec3;
	pz->committed_salt = bin(z->committed_salt, z->committed_salt_len);
	pz->committed_input_serial = z->committed_input_serial;
	pz->committed_base_serial = z->committed_base_serial;
	pz->full_requested = z->full_requested;
	pz->committed_keyset_revision = z->committed_keyset_revision;
	pz->has_accepted_input = z->has_accepted_input;
	pz->accepted_input_serial = z->accepted_input_serial;
	pz->has_review_decision = z->has_review_decision;
	pz->review_serial = z->review_serial;
	pz->review_approved = z->review_approved;
	pz->review_seq = z->review_seq;
	if (z->has_committed_nosig) {
		pz->committed_nosig = bin(z->committed_nosig, COORD_DIGEST_LEN);
	}
	static const uint8_t no_skr[COORD_SKR_ID_LEN];
	if (memcmp(z->committed_skr_id, no_skr, COORD_SKR_ID_LEN) != 0) {
		pz->committed_skr_id = bin(z->committed_skr_id, COORD_SKR_ID_LEN);
	}
	static const uint8_t no_policy[COORD_DIGEST_LEN];
	if (memcmp(z->committed_policy, no_policy, COORD_DIGEST_LEN) != 0) {
		pz->committed_policy = bin(z->committed_policy, COORD_DIGEST_LEN);
	}
	for (uint32_t i = 0; i < z->nreports; i++) {
		Tandem__ClusterState__Report *pr = &s->reports[i];
		tandem__cluster_state__report__init(pr);
		pr->node = (char *)z->reports[i].node;
		pr->serial = z->reports[i].serial;
		pr->digest = bin(z->reports[i].digest, COORD_DIGEST_LEN);
		pr->nosig = z->reports[i].nosig;
		pr->verified = z->reports[i].verified;
		pr->why = (char *)z->reports[i].why;
		s->reportp[i] = pr;
	}
	pz->n_reports = z->nreports;
	pz->reports = s->reportp;
	for (uint32_t k = 0; k < z->nkeys; k++) {
		const coord_key_t *key = &z->keys[k];
		Tandem__ClusterState__Key *pk = &s->keys[k];
		tandem__cluster_state__key__init(pk);
		pk->id = key->id;
		pk->tag = key->tag;
		pk->active = key->active;
		for (uint32_t a = 0; a < key->nacks; a++) {
			Tandem__ClusterState__Ack *pa = &s->acks[k][a];
			tandem__cluster_state__ack__init(pa);
			pa->node_no = key->acks[a].node_no;
			pa->site = key->acks[a].site;
			s->ackp[k][a] = pa;
		}
		pk->n_acks = key->nacks;
		pk->acks = s->ackp[k];
		pk->retired = key->retired;
		pk->retired_ms = key->retired_ms;
		for (uint32_t a = 0; a < key->ndestroyed; a++) {
			Tandem__ClusterState__Ack *pa = &s->dest[k][a];
			tandem__cluster_state__ack__init(pa);
			pa->node_no = key->destroyed[a].node_no;
			pa->site = key->destroyed[a].site;
			s->destp[k][a] = pa;
		}
		pk->n_destroyed = key->ndestroyed;
		pk->destroyed = s->destp[k];
		s->keyp[k] = pk;
	}
	pz->n_keys = z->nkeys;
	pz->keys = s->keyp;
}

int coord_state_pack(const coord_state_t *state, uint8_t **buf, size_t *len)
{
	int ret = TANDEM_OK;
	pb_scratch_t *s = NULL;
	uint8_t *data = NULL;
	if (state == NULL || buf == NULL || len == NULL || state->nnodes > COORD_NODES_MAX ||
	    state->nzones > COORD_ZONES_MAX) {
		return TANDEM_EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	tandem__cluster_state__init(&s->st);
	s->st.version = CLUSTER_STATE_VERSION;
	s->st.next_node_no = state->next_node_no;
	s->st.lease_ms = state->lease_ms;
	s->st.margin_ms = state->margin_ms;
	s->st.prev_lease_ms = state->prev_lease_ms;
	s->st.params_changed_ms = state->params_changed_ms;
	s->st.suspended_sites = state->suspended_sites;
	for (uint32_t i = 0; i < state->nnodes; i++) {
		const coord_node_t *n = &state->nodes[i];
		Tandem__ClusterState__Node *pn = &s->nodes[i];
		tandem__cluster_state__node__init(pn);
		pn->id = (char *)n->id;
		pn->no = n->no;
		pn->site = n->site;
		pn->curve_pub = bin(n->curve_pub, COORD_CURVE_KEY_LEN);
		pn->state = (Tandem__ClusterState__NodeState)n->state;
		pn->last_seen_ms = n->last_seen_ms;
		pn->node_epoch = n->node_epoch;
		pn->lease_expiry_ms = n->lease_expiry_ms;
		pn->lease_blocked_ms = n->lease_blocked_ms;
		pn->healthy = n->healthy;
		pn->publish = (char *)n->publish;
		pn->metrics = (char *)n->metrics;
		pn->axfr = (char *)n->axfr;
		pn->instance = (char *)n->instance;
		pn->rival = (char *)n->rival;
		pn->rival_ms = n->rival_ms;
		if (n->nalerts > COORD_ALERTS_MAX) {
			ret = TANDEM_EINVAL;
			goto out;
		}
		for (uint32_t a = 0; a < n->nalerts; a++) {
			Tandem__ClusterState__Alert *pa = &s->alerts[i][a];
			tandem__cluster_state__alert__init(pa);
			pa->zone = (char *)n->alerts[a].zone;
			pa->kind = (char *)n->alerts[a].kind;
			pa->text = (char *)n->alerts[a].text;
			pa->blocking = n->alerts[a].blocking;
			s->alertp[i][a] = pa;
		}
		pn->n_alerts = n->nalerts;
		pn->alerts = s->alertp[i];
		s->nodep[i] = pn;
	}
	s->st.n_nodes = state->nnodes;
	s->st.nodes = s->nodep;
	if (state->nzones > 0) {
		s->zones = calloc(state->nzones, sizeof(*s->zones));
		s->zonep = calloc(state->nzones, sizeof(*s->zonep));
		if (s->zones == NULL || s->zonep == NULL) {
			ret = TANDEM_ENOMEM;
			goto out;
		}
	}
	for (uint32_t i = 0; i < state->nzones; i++) {
		if (!zone_packable(&state->zones[i])) {
			ret = TANDEM_EINVAL;
			goto out;
		}
		pack_zone(&s->zones[i], &state->zones[i]);
		s->zonep[i] = &s->zones[i].zone;
	}
	s->st.n_zones = state->nzones;
	s->st.zones = s->zonep;
	size_t n = tandem__cluster_state__get_packed_size(&s->st);
	data = malloc(n > 0 ? n : 1);
	if (data == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	tandem__cluster_state__pack(&s->st, data);
	*buf = data;
	*len = n;
	data = NULL;
out:
	free(data);
	if (s != NULL) {
		free(s->zones);
		free(s->zonep);
	}
	free(s);
	return ret;
}

/* Copies a protobuf string into a field; false when it does not fit. */
static bool copy_str(char *dst, size_t size, const char *src)
{
	size_t n = src == NULL ? 0 : strlen(src);
	if (n >= size) {
		return false;
	}
	memset(dst, 0, size);
	if (n > 0) {
		memcpy(dst, src, n);
	}
	return true;
}

static bool copy_bin(uint8_t *dst, size_t size, ProtobufCBinaryData b)
{
	if (b.len != size) {
		return false;
	}
	memcpy(dst, b.data, size);
	return true;
}

static bool unpack_zone(const Tandem__ClusterState__Zone *pz, coord_zone_t *z)
{
	if (pz->n_reports > COORD_NODES_MAX || pz->n_keys > COORD_KEYS_MAX ||
	    !copy_str(z->name, sizeof(z->name), pz->name) ||
	    !copy_str(z->holder, sizeof(z->holder), pz->holder) ||
	    !copy_str(z->last_holder, sizeof(z->last_holder), pz->last_holder) ||
	    !copy_str(z->switch_to, sizeof(z->switch_to), pz->switch_to) ||
	    !copy_str(z->committed_by, sizeof(z->committed_by), pz->committed_by) ||
	    !copy_str(z->alert_node, sizeof(z->alert_node), pz->alert_node) ||
	    !copy_bin(z->committed_digest, COORD_DIGEST_LEN, pz->committed_digest) ||
	    pz->committed_salt.len > COORD_SALT_MAX || pz->committed_keyset_revision < 0 ||
	    (pz->committed_skr_id.len != 0 && pz->committed_skr_id.len != COORD_SKR_ID_LEN) ||
	    (pz->committed_policy.len != 0 && pz->committed_policy.len != COORD_DIGEST_LEN)) {
		return false;
	}
	z->committed_sign_time = pz->committed_sign_time;
	z->committed_nsec3 = pz->committed_nsec3;
	z->committed_input_serial = pz->committed_input_serial;
	z->committed_base_serial = pz->committed_base_serial;
	z->full_requested = pz->full_requested;
	z->committed_keyset_revision = pz->committed_keyset_revision;
	z->has_accepted_input = pz->has_accepted_input;
	z->accepted_input_serial = pz->has_accepted_input ? pz->accepted_input_serial : 0;
	z->has_review_decision = pz->has_review_decision;
	z->review_serial = pz->has_review_decision ? pz->review_serial : 0;
	z->review_approved = pz->has_review_decision && pz->review_approved;
	z->review_seq = pz->review_seq;
	if (pz->committed_nosig.len != 0) {
		if (!copy_bin(z->committed_nosig, COORD_DIGEST_LEN, pz->committed_nosig)) {
			return false;
		}
		z->has_committed_nosig = true;
	}
	if (pz->committed_skr_id.len == COORD_SKR_ID_LEN) {
		memcpy(z->committed_skr_id, pz->committed_skr_id.data, COORD_SKR_ID_LEN);
	}
	if (pz->committed_policy.len == COORD_DIGEST_LEN) {
		memcpy(z->committed_policy, pz->committed_policy.data, COORD_DIGEST_LEN);
	}
	if (pz->committed_salt.len > 0) {
		memcpy(z->committed_salt, pz->committed_salt.data, pz->committed_salt.len);
	}
	z->committed_salt_len = (uint32_t)pz->committed_salt.len;
	z->removed = pz->removed;
	z->compare_digests = pz->compare_digests;
	z->epoch = pz->epoch;
	z->granted_ms = pz->granted_ms;
	z->expiry_ms = pz->expiry_ms;
	z->holder_node_epoch = pz->holder_node_epoch;
	z->blocked_until_ms = pz->blocked_until_ms;
	z->prefer_until_ms = pz->prefer_until_ms;
	z->has_committed = pz->has_committed;
	z->committed_serial = pz->committed_serial;
	z->committed_epoch = pz->committed_epoch;
	z->alerts = pz->alerts;
	z->alert_open = pz->alert_open;
	z->alert_serial = pz->alert_serial;
	z->nreports = (uint32_t)pz->n_reports;
	for (size_t i = 0; i < pz->n_reports; i++) {
		const Tandem__ClusterState__Report *pr = pz->reports[i];
		coord_report_t *r = &z->reports[i];
		if (!copy_str(r->node, sizeof(r->node), pr->node) ||
		    !copy_bin(r->digest, COORD_DIGEST_LEN, pr->digest) ||
		    !copy_str(r->why, sizeof(r->why), pr->why)) {
			return false;
		}
		r->serial = pr->serial;
		r->nosig = pr->nosig;
		r->verified = pr->nosig && pr->verified;
	}
	z->nkeys = (uint32_t)pz->n_keys;
	for (size_t k = 0; k < pz->n_keys; k++) {
		const Tandem__ClusterState__Key *pk = pz->keys[k];
		coord_key_t *key = &z->keys[k];
		if (pk->tag > UINT16_MAX || pk->n_acks > COORD_NODES_MAX ||
		    pk->n_destroyed > COORD_NODES_MAX) {
			return false;
		}
		key->id = pk->id;
		key->tag = (uint16_t)pk->tag;
		key->active = pk->active;
		key->nacks = (uint32_t)pk->n_acks;
		for (size_t a = 0; a < pk->n_acks; a++) {
			if (pk->acks[a]->site >= COORD_SITES_MAX) {
				return false;
			}
			key->acks[a].node_no = pk->acks[a]->node_no;
			key->acks[a].site = pk->acks[a]->site;
		}
		key->retired = pk->retired;
		key->retired_ms = pk->retired_ms;
		key->ndestroyed = (uint32_t)pk->n_destroyed;
		for (size_t a = 0; a < pk->n_destroyed; a++) {
			if (pk->destroyed[a]->site >= COORD_SITES_MAX) {
				return false;
			}
			key->destroyed[a].node_no = pk->destroyed[a]->node_no;
			key->destroyed[a].site = pk->destroyed[a]->site;
		}
	}
	return true;
}

/* The stored message in buf, of a size and version this coordinator reads (a whole state and
 * one zone's record share it). Errors: TANDEM_COORD_ESTATE, TANDEM_COORD_EVERSION; *out
 * written only on success. */
static int state_msg_unpack(const uint8_t *buf, size_t len, Tandem__ClusterState **out)
{
	if (len == 0 || len > CLUSTER_STATE_BYTES_MAX) {
		return TANDEM_COORD_ESTATE;
	}
	Tandem__ClusterState *m = tandem__cluster_state__unpack(NULL, len, buf);
	if (m == NULL) {
		return TANDEM_COORD_ESTATE;
	}
	if (m->version != CLUSTER_STATE_VERSION && m->version != CLUSTER_STATE_VERSION_OLD) {
		tandem__cluster_state__free_unpacked(m, NULL);
		return TANDEM_COORD_EVERSION;
	}
	*out = m;
	return TANDEM_OK;
}

int coord_state_unpack(const uint8_t *buf, size_t len, const coord_params_t *params,
		       coord_state_t *out)
{
	int ret = TANDEM_OK;
	Tandem__ClusterState *m = NULL;
	coord_state_t *st = NULL;
	if (buf == NULL || out == NULL || coord_params_check(params) != TANDEM_OK) {
		return TANDEM_EINVAL;
	}
	ret = state_msg_unpack(buf, len, &m);
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (m->n_nodes > COORD_NODES_MAX || m->n_zones > COORD_ZONES_MAX) {
		ret = TANDEM_COORD_ESTATE;
		goto out;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	st->next_node_no = m->next_node_no;
	st->lease_ms = m->lease_ms;
	st->margin_ms = m->margin_ms;
	st->prev_lease_ms = m->prev_lease_ms;
	st->params_changed_ms = m->params_changed_ms;
	st->suspended_sites = m->suspended_sites;
	st->nnodes = (uint32_t)m->n_nodes;
	for (size_t i = 0; i < m->n_nodes; i++) {
		const Tandem__ClusterState__Node *pn = m->nodes[i];
		coord_node_t *n = &st->nodes[i];
		/* an open proto3 enum: any integer may arrive */
		if ((unsigned)pn->state > COORD_NODE_STATE_LAST || pn->site >= COORD_SITES_MAX ||
		    !copy_str(n->id, sizeof(n->id), pn->id) ||
		    !copy_str(n->publish, sizeof(n->publish), pn->publish) ||
		    !copy_str(n->metrics, sizeof(n->metrics), pn->metrics) ||
		    !copy_str(n->axfr, sizeof(n->axfr), pn->axfr) ||
		    !copy_bin(n->curve_pub, COORD_CURVE_KEY_LEN, pn->curve_pub) ||
		    !copy_str(n->instance, sizeof(n->instance), pn->instance) ||
		    !copy_str(n->rival, sizeof(n->rival), pn->rival) ||
		    pn->n_alerts > COORD_ALERTS_MAX) {
			ret = TANDEM_COORD_ESTATE;
			goto out;
		}
		n->rival_ms = pn->rival_ms;
		n->nalerts = (uint32_t)pn->n_alerts;
		for (size_t a = 0; a < pn->n_alerts; a++) {
			coord_alert_t *al = &n->alerts[a];
			if (!copy_str(al->zone, sizeof(al->zone), pn->alerts[a]->zone) ||
			    !copy_str(al->kind, sizeof(al->kind), pn->alerts[a]->kind) ||
			    !copy_str(al->text, sizeof(al->text), pn->alerts[a]->text)) {
				ret = TANDEM_COORD_ESTATE;
				goto out;
			}
			al->blocking = pn->alerts[a]->blocking;
		}
		n->no = pn->no;
		n->site = pn->site;
		n->state = (coord_node_state_t)pn->state;
		n->last_seen_ms = pn->last_seen_ms;
		n->node_epoch = pn->node_epoch;
		n->lease_expiry_ms = pn->lease_expiry_ms;
		n->lease_blocked_ms = pn->lease_blocked_ms;
		n->healthy = pn->healthy;
	}
	st->nzones = (uint32_t)m->n_zones;
	for (size_t i = 0; i < m->n_zones; i++) {
		if (!unpack_zone(m->zones[i], &st->zones[i])) {
			ret = TANDEM_COORD_ESTATE;
			goto out;
		}
	}
	ret = coord_state_check(st, params);
	if (ret != TANDEM_OK) {
		goto out;
	}
	coord_state_copy(out, st);
out:
	free(st);
	if (m != NULL) {
		tandem__cluster_state__free_unpacked(m, NULL);
	}
	return ret;
}

int coord_zone_pack(const coord_zone_t *zone, uint8_t **buf, size_t *len)
{
	int ret = TANDEM_OK;
	uint8_t *data = NULL;
	if (zone == NULL || buf == NULL || len == NULL || !zone_packable(zone)) {
		return TANDEM_EINVAL;
	}
	pb_zone_scratch_t *zs = calloc(1, sizeof(*zs));
	if (zs == NULL) {
		return TANDEM_ENOMEM;
	}
	Tandem__ClusterState st;
	tandem__cluster_state__init(&st);
	st.version = CLUSTER_STATE_VERSION;
	pack_zone(zs, zone);
	Tandem__ClusterState__Zone *zp = &zs->zone;
	st.n_zones = 1;
	st.zones = &zp;
	size_t n = tandem__cluster_state__get_packed_size(&st);
	data = malloc(n > 0 ? n : 1);
	if (data == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	tandem__cluster_state__pack(&st, data);
	*buf = data;
	*len = n;
	data = NULL;
out:
	free(data);
	free(zs);
	return ret;
}

int coord_zone_unpack(const uint8_t *buf, size_t len, coord_zone_t *out)
{
	int ret = TANDEM_OK;
	Tandem__ClusterState *m = NULL;
	coord_zone_t *z = NULL;
	if (buf == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	ret = state_msg_unpack(buf, len, &m);
	if (ret != TANDEM_OK) {
		goto out;
	}
	/* a zone record holds one zone and nothing of the cluster part */
	if (m->n_nodes != 0 || m->n_zones != 1) {
		ret = TANDEM_COORD_ESTATE;
		goto out;
	}
	z = calloc(1, sizeof(*z));
	if (z == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	if (!unpack_zone(m->zones[0], z)) {
		ret = TANDEM_COORD_ESTATE;
		goto out;
	}
	memcpy(out, z, sizeof(*z));
out:
	free(z);
	if (m != NULL) {
		tandem__cluster_state__free_unpacked(m, NULL);
	}
	return ret;
}
