/* The coordinator's cluster state machine: leases, epochs, commits, key acks (pure). */
#include "coord_state.h"
#include "tandem_error.h"
#include "tandem_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameters ---- */

void coord_params_default(coord_params_t *params)
{
	if (params == NULL) {
		return;
	}
	memset(params, 0, sizeof(*params));
	params->lease_ms = 10000;
	params->margin_ms = 2000;
	params->node_timeout_ms = 10000;
	params->prefer_ms = 10000;
	params->nsites = 2;
	params->serial_modulus = 2;
	params->site_residue[0] = 0;
	params->site_residue[1] = 1;
	params->same_site_first = true;
}

int coord_params_check(const coord_params_t *params)
{
	if (params == NULL || params->lease_ms == 0 || params->margin_ms == 0 ||
	    params->lease_ms > UINT32_MAX || params->node_timeout_ms == 0 ||
	    params->prefer_ms > UINT32_MAX) {
		return TANDEM_EINVAL;
	}
	/* A node renewing every lease/3 must get a second try before its own deadline
	 * (lease - margin): 2 * lease/3 < lease - margin. */
	if (params->margin_ms >= params->lease_ms / 3) {
		return TANDEM_EINVAL;
	}
	if (params->nsites == 0 || params->nsites > COORD_SITES_MAX ||
	    params->serial_modulus == 0 || params->serial_modulus > COORD_MODULUS_MAX) {
		return TANDEM_EINVAL;
	}
	for (uint32_t i = 0; i < params->nsites; i++) {
		if (params->site_residue[i] >= params->serial_modulus) {
			return TANDEM_EINVAL;
		}
		for (uint32_t j = 0; j < i; j++) {
			if (params->site_residue[i] == params->site_residue[j]) {
				return TANDEM_EINVAL;
			}
		}
	}
	return TANDEM_OK;
}

uint64_t coord_params_renew_ms(const coord_params_t *params)
{
	return params == NULL ? 0 : params->lease_ms / 3;
}

uint32_t coord_site_residue(const coord_params_t *params, uint32_t site)
{
	if (params == NULL || site >= COORD_SITES_MAX) {
		return 0;
	}
	return params->site_residue[site];
}

/* ---- the node-side lease clock ---- */

bool coord_lease_may_publish(uint64_t granted_at_mono_ms, uint64_t lease_ms, uint64_t margin_ms,
			     uint64_t now_mono_ms)
{
	if (margin_ms >= lease_ms || now_mono_ms < granted_at_mono_ms) {
		return false;
	}
	return now_mono_ms - granted_at_mono_ms < lease_ms - margin_ms;
}

/* ---- names ---- */

const char *coord_reason_str(coord_reason_t reason)
{
	switch (reason) {
	case COORD_R_OK: return "accepted";
	case COORD_R_BAD_INPUT: return "malformed input";
	case COORD_R_UNKNOWN_NODE: return "unknown node";
	case COORD_R_UNKNOWN_ZONE: return "unknown zone";
	case COORD_R_UNKNOWN_KEY: return "unknown key";
	case COORD_R_EXISTS: return "already exists";
	case COORD_R_FULL: return "table full";
	case COORD_R_IDENTITY: return "identity mismatch";
	case COORD_R_FENCED: return "node fenced";
	case COORD_R_DRAINED: return "node drained";
	case COORD_R_UNHEALTHY: return "node unhealthy";
	case COORD_R_HELD: return "lease held by another node";
	case COORD_R_NOT_PREFERRED: return "another node is preferred";
	case COORD_R_NOT_HOLDER: return "not the lease holder";
	case COORD_R_STALE_EPOCH: return "stale epoch";
	case COORD_R_LEASE_EXPIRED: return "lease expired";
	case COORD_R_SERIAL_NOT_ABOVE: return "serial not above the committed one";
	case COORD_R_RESIDUE: return "serial outside the site's residue class";
	case COORD_R_DIGEST_CONFLICT: return "serial already committed with another digest";
	case COORD_R_KEY_NOT_ACKED: return "key not imported at every site";
	case COORD_R_KEY_MISSING: return "node lacks an active key";
	case COORD_R_NO_HOLDER: return "no lease holder";
	case COORD_R_NO_CANDIDATE: return "no candidate node";
	case COORD_R_BUSY: return "node busy";
	case COORD_R_CONFLICT: return "key set changed";
	case COORD_R_INSTANCE: return "another instance of the node is registered";
	case COORD_R_CLOCK_SKEW: return "coordinator clock skewed";
	case COORD_R_NODE_ALERT: return "node reported a blocking alert";
	case COORD_R_SITE_SUSPENDED: return "site suspended";
	case COORD_R_RETAINED: return "archive retention not over";
	case COORD_R_NOT_HELD: return "not held for review";
	}
	return "unknown reason";
}

const char *coord_input_kind_str(coord_input_kind_t kind)
{
	switch (kind) {
	case COORD_IN_NODE_REGISTER: return "register";
	case COORD_IN_NODE_HEARTBEAT: return "heartbeat";
	case COORD_IN_NODE_REMOVE: return "node-remove";
	case COORD_IN_LEASE_REQUEST: return "lease-request";
	case COORD_IN_LEASE_RENEW: return "lease-renew";
	case COORD_IN_LEASE_RELEASE: return "lease-release";
	case COORD_IN_COMMIT: return "commit";
	case COORD_IN_DIGEST_REPORT: return "digest-report";
	case COORD_IN_KEY_ADD: return "key-add";
	case COORD_IN_KEY_ACK: return "key-ack";
	case COORD_IN_KEY_ACTIVATE: return "key-activate";
	case COORD_IN_KEY_REMOVE: return "key-remove";
	case COORD_IN_SWITCHOVER: return "switchover";
	case COORD_IN_DRAIN: return "drain";
	case COORD_IN_UNDRAIN: return "undrain";
	case COORD_IN_TAKEOVER: return "takeover";
	case COORD_IN_ZONE_ADD: return "zone-add";
	case COORD_IN_ZONE_REMOVE: return "zone-remove";
	case COORD_IN_TICK: return "tick";
	case COORD_IN_ZONE_ACCEPT_INPUT: return "zone-accept-input";
	case COORD_IN_PARAMS_SET: return "params-set";
	case COORD_IN_SITE_SUSPEND: return "site-suspend";
	case COORD_IN_SITE_RESUME: return "site-resume";
	case COORD_IN_KEY_DESTROYED: return "key-destroyed";
	case COORD_IN_KEY_PURGE: return "key-purge";
	case COORD_IN_ZONE_APPROVE: return "zone-approve";
	case COORD_IN_ZONE_REJECT: return "zone-reject";
	}
	return "unknown";
}

static char site_name(uint32_t site)
{
	return site < COORD_SITES_MAX ? (char)('A' + site) : '?';
}

/* A terminated, printable string in a field of size max; empty only if allowed. */
static bool name_ok(const char *s, size_t max, bool allow_empty)
{
	size_t n = strnlen(s, max);
	if (n == max || (n == 0 && !allow_empty)) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f) {
			return false;
		}
	}
	return true;
}

/* A terminated, printable string (spaces allowed) in a field of size max; may be empty. */
static bool text_ok(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	if (n == max) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f) {
			return false;
		}
	}
	return true;
}

/* Copies a checked string into a field, zero-filling the rest so that equal states
 * compare equal byte for byte. */
static void set_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);
	memset(dst, 0, size);
	memcpy(dst, src, n);
}

/* ---- lookups ---- */

static int node_index(const coord_state_t *st, const char *id)
{
	for (uint32_t i = 0; i < st->nnodes; i++) {
		if (strcmp(st->nodes[i].id, id) == 0) {
			return (int)i;
		}
	}
	return -1;
}

/* The zone of that name: the exact name first, else the same DNS name (case and final
 * dot aside). */
static int zone_index(const coord_state_t *st, const char *name)
{
	for (uint32_t i = 0; i < st->nzones; i++) {
		if (strcmp(st->zones[i].name, name) == 0) {
			return (int)i;
		}
	}
	for (uint32_t i = 0; i < st->nzones; i++) {
		if (tandem_dname_equal(st->zones[i].name, name)) {
			return (int)i;
		}
	}
	return -1;
}

static coord_node_t *node_find(coord_state_t *st, const char *id)
{
	int i = node_index(st, id);
	return i < 0 ? NULL : &st->nodes[i];
}

/* A zone that exists and is not removed. */
static coord_zone_t *zone_live(coord_state_t *st, const char *name)
{
	int i = zone_index(st, name);
	return i < 0 || st->zones[i].removed ? NULL : &st->zones[i];
}

static coord_key_t *key_find(coord_zone_t *z, uint32_t id)
{
	for (uint32_t i = 0; i < z->nkeys; i++) {
		if (z->keys[i].id == id) {
			return &z->keys[i];
		}
	}
	return NULL;
}

const coord_node_t *coord_state_node(const coord_state_t *state, const char *id)
{
	if (state == NULL || id == NULL) {
		return NULL;
	}
	int i = node_index(state, id);
	return i < 0 ? NULL : &state->nodes[i];
}

const coord_zone_t *coord_state_zone(const coord_state_t *state, const char *name)
{
	if (state == NULL || name == NULL) {
		return NULL;
	}
	int i = zone_index(state, name);
	return i < 0 ? NULL : &state->zones[i];
}

/* ---- the node lease (docs/coordinator.md, "A lease per node") ---- */

/* The member holding z ("" or a name that is no member: NULL). */
static const coord_node_t *holder_node(const coord_state_t *st, const coord_zone_t *z)
{
	if (z->holder[0] == '\0') {
		return NULL;
	}
	int i = node_index(st, z->holder);
	return i < 0 ? NULL : &st->nodes[i];
}

/* The holder whose node lease holds z too (its node_epoch is the zone's), or NULL. */
static const coord_node_t *lease_node(const coord_state_t *st, const coord_zone_t *z)
{
	const coord_node_t *n = holder_node(st, z);
	return n != NULL && z->holder_node_epoch != 0 && z->holder_node_epoch == n->node_epoch
		   ? n
		   : NULL;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

uint64_t coord_zone_expiry(const coord_state_t *state, const coord_zone_t *zone)
{
	if (state == NULL || zone == NULL) {
		return 0;
	}
	const coord_node_t *n = lease_node(state, zone);
	return n != NULL ? max_u64(zone->expiry_ms, n->lease_expiry_ms) : zone->expiry_ms;
}

/* Until when no node but the previous holder is granted z: the zone's own blocked_until
 * and, while it has a holder, the holder's node lease's (under any node_epoch: a node
 * lease's blocked time is never lowered, so it covers the lapsed ones before it). */
static uint64_t zone_blocked(const coord_state_t *st, const coord_zone_t *z)
{
	const coord_node_t *n = holder_node(st, z);
	return n != NULL ? max_u64(z->blocked_until_ms, n->lease_blocked_ms) : z->blocked_until_ms;
}

uint64_t coord_zone_blocked(const coord_state_t *state, const coord_zone_t *zone)
{
	return state == NULL || zone == NULL ? 0 : zone_blocked(state, zone);
}

/* The end of z's preference window: its own, or while it has a holder, the blocked time
 * plus the preference (as lease_extend sets it). */
static uint64_t zone_prefer(const coord_state_t *st, const coord_zone_t *z, const coord_params_t *p)
{
	if (holder_node(st, z) == NULL) {
		return z->prefer_until_ms;
	}
	return max_u64(z->prefer_until_ms, zone_blocked(st, z) + p->prefer_ms);
}

/*
 * Writes z's effective times into the zone itself and detaches it from the node lease
 * (holder_node_epoch 0): done before a rule changes or clears the holder, so that what
 * it keeps (blocked_until for the next grant, expiry for status) is what the node lease
 * made of them. Always safe: the effective expiry is at least that of every renewal the
 * zone had; a later renewal of a detached zone writes the zone again.
 */
static void zone_settle(const coord_state_t *st, coord_zone_t *z, const coord_params_t *p)
{
	if (holder_node(st, z) != NULL) {
		uint64_t blocked = zone_blocked(st, z);
		z->prefer_until_ms = zone_prefer(st, z, p);
		z->expiry_ms = coord_zone_expiry(st, z);
		z->blocked_until_ms = blocked;
	}
	z->holder_node_epoch = 0;
}

static bool lease_valid(const coord_state_t *st, const coord_zone_t *z, uint64_t now)
{
	return z->holder[0] != '\0' && now < coord_zone_expiry(st, z);
}

const coord_node_t *coord_state_holder(const coord_state_t *state, const char *zone,
				       uint64_t now_ms)
{
	const coord_zone_t *z = coord_state_zone(state, zone);
	if (z == NULL || z->removed || !lease_valid(state, z, now_ms)) {
		return NULL;
	}
	return coord_state_node(state, z->holder);
}

bool coord_state_curve_allowed(const coord_state_t *state,
			       const uint8_t curve_pub[COORD_CURVE_KEY_LEN])
{
	if (state == NULL || curve_pub == NULL) {
		return false;
	}
	for (uint32_t i = 0; i < state->nnodes; i++) {
		const coord_node_t *n = &state->nodes[i];
		if (n->state != COORD_NODE_FENCED &&
		    memcmp(n->curve_pub, curve_pub, COORD_CURVE_KEY_LEN) == 0) {
			return true;
		}
	}
	return false;
}

/* Bit s set when a node of site s imported the key. */
static uint32_t key_sites(const coord_key_t *k)
{
	uint32_t m = 0;
	for (uint32_t i = 0; i < k->nacks; i++) {
		m |= 1u << k->acks[i].site;
	}
	return m;
}

/* The sites that must import a key before it is used: every site not suspended. */
static uint32_t ack_sites(const coord_state_t *st, const coord_params_t *p)
{
	return ((1u << p->nsites) - 1) & ~st->suspended_sites;
}

static bool key_all_sites(const coord_state_t *st, const coord_key_t *k, const coord_params_t *p)
{
	uint32_t all = ack_sites(st, p);
	return (key_sites(k) & all) == all;
}

static bool site_suspended(const coord_state_t *st, uint32_t site)
{
	return site < COORD_SITES_MAX && (st->suspended_sites & (1u << site)) != 0;
}

bool coord_state_key_acked(const coord_state_t *state, const coord_params_t *params,
			   const char *zone, uint32_t key_id)
{
	if (state == NULL || zone == NULL || coord_params_check(params) != TANDEM_OK) {
		return false;
	}
	const coord_zone_t *z = coord_state_zone(state, zone);
	if (z == NULL) {
		return false;
	}
	for (uint32_t i = 0; i < z->nkeys; i++) {
		if (z->keys[i].id == key_id) {
			return !z->keys[i].retired && key_all_sites(state, &z->keys[i], params);
		}
	}
	return false;
}

static bool key_acked_by(const coord_key_t *k, uint32_t node_no)
{
	for (uint32_t i = 0; i < k->nacks; i++) {
		if (k->acks[i].node_no == node_no) {
			return true;
		}
	}
	return false;
}

/* The first active key of z that node has not imported, or NULL. */
static const coord_key_t *key_missing(const coord_zone_t *z, const coord_node_t *n)
{
	for (uint32_t i = 0; i < z->nkeys; i++) {
		if (z->keys[i].active && !z->keys[i].retired && !key_acked_by(&z->keys[i], n->no)) {
			return &z->keys[i];
		}
	}
	return NULL;
}

/* ---- instances and alerts ---- */

/* "" or 32 lowercase hex characters, terminated within the field. */
static bool instance_ok(const char *s)
{
	size_t n = strnlen(s, COORD_INSTANCE_MAX);
	if (n == 0) {
		return true;
	}
	if (n != COORD_INSTANCE_MAX - 1) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
			return false;
		}
	}
	return true;
}

static bool text_ok(const char *s, size_t max);

static bool alert_ok(const coord_alert_t *a)
{
	size_t n = strnlen(a->kind, sizeof(a->kind));
	if (n == 0 || n == sizeof(a->kind)) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!((a->kind[i] >= 'a' && a->kind[i] <= 'z') || a->kind[i] == '-')) {
			return false;
		}
	}
	return text_ok(a->zone, sizeof(a->zone)) && text_ok(a->text, sizeof(a->text));
}

static bool alerts_ok(uint32_t n, const coord_alert_t *alerts)
{
	if (n > COORD_ALERTS_MAX) {
		return false;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (!alert_ok(&alerts[i])) {
			return false;
		}
	}
	return true;
}

/* The node's blocking alert for zone (one of the zone's own, or a node-wide one), or NULL. */
static const coord_alert_t *node_blocked(const coord_node_t *n, const char *zone)
{
	for (uint32_t i = 0; i < n->nalerts && i < COORD_ALERTS_MAX; i++) {
		const coord_alert_t *a = &n->alerts[i];
		if (a->blocking && (a->zone[0] == '\0' || tandem_dname_equal(a->zone, zone))) {
			return a;
		}
	}
	return NULL;
}

/* ---- health and failover candidates ---- */

static bool node_healthy(const coord_node_t *n, uint64_t now, const coord_params_t *p)
{
	/* last_seen may be ahead of now when another coordinator's clock is ahead */
	return n->healthy &&
	       (n->last_seen_ms >= now || now - n->last_seen_ms <= p->node_timeout_ms);
}

/* A node that could take zone z's lease: up, healthy, holding every active key, its site not
 * suspended. */
static bool node_eligible(const coord_state_t *st, const coord_zone_t *z, const coord_node_t *n,
			  uint64_t now, const coord_params_t *p)
{
	return n->state == COORD_NODE_UP && !site_suspended(st, n->site) &&
	       node_healthy(n, now, p) && key_missing(z, n) == NULL &&
	       node_blocked(n, z->name) == NULL;
}

/* The holder whose lease ended last: the holder field until a tick clears it. */
static const char *previous_holder(const coord_zone_t *z)
{
	return z->holder[0] != '\0' ? z->holder : z->last_holder;
}

/* Lower is better: 0 the switchover target, 1 the previous holder's site, 2 elsewhere. */
static int node_rank(const coord_state_t *st, const coord_zone_t *z, const coord_node_t *n,
		     const coord_params_t *p)
{
	if (z->switch_to[0] != '\0' && strcmp(z->switch_to, n->id) == 0) {
		return 0;
	}
	if (!p->same_site_first) {
		return 1;
	}
	const char *prev = previous_holder(z);
	int pi = prev[0] != '\0' ? node_index(st, prev) : -1;
	if (pi < 0 || st->nodes[pi].state == COORD_NODE_FENCED) {
		return 1;
	}
	return st->nodes[pi].site == n->site ? 1 : 2;
}

/* The best eligible candidate for z (lowest rank, then lowest id), skipping `except`. */
static const coord_node_t *best_candidate(const coord_state_t *st, const coord_zone_t *z,
					  uint64_t now, const coord_params_t *p, const char *except)
{
	const coord_node_t *best = NULL;
	int best_rank = 0;
	for (uint32_t i = 0; i < st->nnodes; i++) {
		const coord_node_t *n = &st->nodes[i];
		if ((except != NULL && strcmp(n->id, except) == 0) ||
		    !node_eligible(st, z, n, now, p)) {
			continue;
		}
		int r = node_rank(st, z, n, p);
		if (best == NULL || r < best_rank ||
		    (r == best_rank && strcmp(n->id, best->id) < 0)) {
			best = n;
			best_rank = r;
		}
	}
	return best;
}

/* ---- results ---- */

#if defined(__GNUC__)
#define COORD_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define COORD_PRINTF(a, b)
#endif

static void refuse(coord_result_t *r, coord_reason_t reason, const char *fmt, ...)
    COORD_PRINTF(3, 4);
static void note(coord_result_t *r, const char *fmt, ...) COORD_PRINTF(2, 3);
static void effect(coord_result_t *r, coord_effect_kind_t kind, const coord_zone_t *z,
		   const char *node, const char *fmt, ...) COORD_PRINTF(5, 6);

static void refuse(coord_result_t *r, coord_reason_t reason, const char *fmt, ...)
{
	r->reason = reason;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

static void note(coord_result_t *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

/* Appends an effect; epoch and serial are taken from z's current values. */
static void effect(coord_result_t *r, coord_effect_kind_t kind, const coord_zone_t *z,
		   const char *node, const char *fmt, ...)
{
	if (r->neffects == COORD_EFFECTS_MAX) {
		r->dropped++;
		return;
	}
	coord_effect_t *e = &r->effects[r->neffects++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	if (z != NULL) {
		set_str(e->zone, sizeof(e->zone), z->name);
		e->epoch = z->epoch;
		e->serial = z->committed_serial;
	}
	if (node != NULL) {
		set_str(e->node, sizeof(e->node), node);
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
}

/* ---- common refusals ---- */

/* The input's node, refused when unknown or fenced. */
static coord_node_t *member(coord_state_t *st, const coord_input_t *in, coord_result_t *r)
{
	coord_node_t *n = node_find(st, in->node);
	if (n == NULL) {
		refuse(r, COORD_R_UNKNOWN_NODE, "node %s is not a member", in->node);
		return NULL;
	}
	if (n->state == COORD_NODE_FENCED) {
		refuse(r, COORD_R_FENCED, "node %s is fenced", n->id);
		return NULL;
	}
	return n;
}

static coord_zone_t *live_zone(coord_state_t *st, const char *name, coord_result_t *r)
{
	coord_zone_t *z = zone_live(st, name);
	if (z == NULL) {
		refuse(r, COORD_R_UNKNOWN_ZONE, "zone %s is not signed by this cluster", name);
	}
	return z;
}

/* Refuses unless n holds z's lease under `epoch` at now (expired leases only if
 * allow_expired). */
static bool holds(const coord_state_t *st, const coord_zone_t *z, const coord_node_t *n,
		  uint64_t epoch, uint64_t now, bool allow_expired, coord_result_t *r)
{
	if (epoch != z->epoch) {
		refuse(r, COORD_R_STALE_EPOCH, "zone %s: epoch %llu is not the current epoch %llu",
		       z->name, (unsigned long long)epoch, (unsigned long long)z->epoch);
		return false;
	}
	if (strcmp(z->holder, n->id) != 0) {
		refuse(r, COORD_R_NOT_HOLDER, "zone %s: %s does not hold the lease", z->name,
		       n->id);
		return false;
	}
	if (!allow_expired && now >= coord_zone_expiry(st, z)) {
		refuse(r, COORD_R_LEASE_EXPIRED, "zone %s: the lease of %s expired at %llu",
		       z->name, n->id, (unsigned long long)coord_zone_expiry(st, z));
		return false;
	}
	return true;
}

/* Until when others wait for a lease granted or renewed at now: its expiry + margin. */
static uint64_t blocked_after(const coord_state_t *st, uint64_t now, const coord_params_t *p)
{
	/* Just after the lease was shortened, a node that has not read the new value yet
	 * may keep publishing for the old one: others wait that out too. */
	if (st->params_changed_ms != 0 && st->prev_lease_ms > p->lease_ms &&
	    now < st->params_changed_ms + st->prev_lease_ms + p->lease_ms) {
		return now + st->prev_lease_ms + p->margin_ms;
	}
	return now + p->lease_ms + p->margin_ms;
}

/*
 * Grants or renews n's node lease at now: lease_ms from now. One that had run out
 * (or never was) comes under node_epoch + 1: the zones held under the old one stay
 * lapsed. The blocked time never goes down (a shorter lease: blocked_after).
 */
static void node_lease_extend(const coord_state_t *st, coord_node_t *n, uint64_t now,
			      const coord_params_t *p)
{
	if (now >= n->lease_expiry_ms) {
		n->node_epoch++;
	}
	n->lease_expiry_ms = now + p->lease_ms;
	n->lease_blocked_ms = max_u64(n->lease_blocked_ms, blocked_after(st, now, p));
}

/* Writes a grant or renewal into the zone itself, tied to n's node lease from now on. */
static void lease_extend(const coord_state_t *st, coord_zone_t *z, const coord_node_t *n,
			 uint64_t now, const coord_params_t *p, coord_result_t *r)
{
	z->granted_ms = now;
	z->expiry_ms = now + p->lease_ms;
	z->blocked_until_ms = blocked_after(st, now, p);
	z->prefer_until_ms = z->blocked_until_ms + p->prefer_ms;
	z->holder_node_epoch = n->node_epoch;
	r->epoch = z->epoch;
	r->expiry_ms = coord_zone_expiry(st, z);
}

/*
 * A renewal by its holder n (or a repeated request) at now: the node lease moves, and
 * with it every zone n holds under its node_epoch; the zone is written only when it is
 * not tied to that node lease (a record from before node leases, or the node lease had
 * run out and comes back under a new node_epoch).
 */
static void lease_renew(const coord_state_t *st, coord_zone_t *z, coord_node_t *n, uint64_t now,
			const coord_params_t *p, coord_result_t *r)
{
	node_lease_extend(st, n, now, p);
	if (z->holder_node_epoch != n->node_epoch) {
		lease_extend(st, z, n, now, p, r);
		return;
	}
	r->epoch = z->epoch;
	r->expiry_ms = coord_zone_expiry(st, z);
}

/* ---- inputs ---- */

/* Whether the request comes from n's registered instance (any, while none is known);
 * refuses it otherwise. */
static bool from_instance(const coord_node_t *n, const coord_input_t *in, uint64_t now,
			  coord_result_t *r)
{
	if (n->instance[0] == '\0' || strcmp(n->instance, in->instance) == 0) {
		return true;
	}
	refuse(r, COORD_R_INSTANCE,
	       "alert: node %s: instance %s refused, instance %s is registered (heard from %llu "
	       "ms ago)",
	       n->id, in->instance[0] != '\0' ? in->instance : "(none)", n->instance,
	       (unsigned long long)(now > n->last_seen_ms ? now - n->last_seen_ms : 0));
	return false;
}

/* The node's alerts become the reported list; an effect for each one raised, changed or
 * cleared. */
static void alerts_set(coord_node_t *n, const coord_input_t *in, coord_result_t *r)
{
	for (uint32_t i = 0; i < in->nalerts; i++) {
		const coord_alert_t *a = &in->alerts[i];
		bool same = false;
		for (uint32_t j = 0; j < n->nalerts && !same; j++) {
			same = memcmp(&n->alerts[j], a, sizeof(*a)) == 0;
		}
		if (!same) {
			effect(r, COORD_EFF_NODE_ALERT, NULL, n->id,
			       "alert: node %s%s%.80s %s%s: %s", n->id,
			       a->zone[0] != '\0' ? " zone " : "", a->zone, a->kind,
			       a->blocking ? " (blocking)" : "", a->text);
			set_str(r->effects[r->neffects - 1].zone, COORD_ZONE_MAX, a->zone);
		}
	}
	for (uint32_t j = 0; j < n->nalerts; j++) {
		const coord_alert_t *o = &n->alerts[j];
		bool kept = false;
		for (uint32_t i = 0; i < in->nalerts && !kept; i++) {
			kept = strcmp(in->alerts[i].zone, o->zone) == 0 &&
			       strcmp(in->alerts[i].kind, o->kind) == 0;
		}
		if (!kept) {
			effect(r, COORD_EFF_NODE_ALERT, NULL, n->id, "node %s%s%.80s: %s cleared",
			       n->id, o->zone[0] != '\0' ? " zone " : "", o->zone, o->kind);
			set_str(r->effects[r->neffects - 1].zone, COORD_ZONE_MAX, o->zone);
		}
	}
	memset(n->alerts, 0, sizeof(n->alerts));
	memcpy(n->alerts, in->alerts, in->nalerts * sizeof(in->alerts[0]));
	n->nalerts = in->nalerts;
}

/*
 * A new instance of n registers after the old one fell silent: the old instance's leases
 * lapse (no one, the new instance included, is granted them before their expiry + margin:
 * the old process may still publish until then).
 */
static void instance_replace(coord_state_t *st, coord_node_t *n, const coord_input_t *in,
			     uint64_t now, const coord_params_t *p, coord_result_t *r)
{
	effect(r, COORD_EFF_INSTANCE, NULL, n->id,
	       "alert: node %s: instance %s replaces %s, silent for %llu ms", n->id,
	       in->instance[0] != '\0' ? in->instance : "(none)", n->instance,
	       (unsigned long long)(now > n->last_seen_ms ? now - n->last_seen_ms : 0));
	for (uint32_t i = 0; i < st->nzones; i++) {
		coord_zone_t *z = &st->zones[i];
		if (strcmp(z->holder, n->id) == 0) {
			zone_settle(st, z, p);
			effect(r, COORD_EFF_LAPSE, z, n->id,
			       "zone %s: lease of %s's old instance lapses", z->name, n->id);
			set_str(z->holder, sizeof(z->holder), "");
			set_str(z->last_holder, sizeof(z->last_holder), "");
			if (z->blocked_until_ms < z->expiry_ms + p->margin_ms) {
				z->blocked_until_ms = z->expiry_ms + p->margin_ms;
			}
			if (z->prefer_until_ms < z->blocked_until_ms) {
				z->prefer_until_ms = z->blocked_until_ms;
			}
		} else if (strcmp(z->last_holder, n->id) == 0 && z->blocked_until_ms > now) {
			/* the margin exception was the old instance's, not the new one's */
			set_str(z->last_holder, sizeof(z->last_holder), "");
		}
	}
	set_str(n->instance, sizeof(n->instance), in->instance);
	set_str(n->rival, sizeof(n->rival), "");
	n->rival_ms = 0;
}

static void do_register(coord_state_t *st, const coord_input_t *in, uint64_t now,
			const coord_params_t *p, coord_result_t *r)
{
	static const uint8_t zero[COORD_CURVE_KEY_LEN];
	if (in->site >= p->nsites || memcmp(in->curve_pub, zero, sizeof(zero)) == 0) {
		refuse(r, COORD_R_BAD_INPUT, "node %s: site out of range or no CURVE key",
		       in->node);
		return;
	}
	coord_node_t *n = node_find(st, in->node);
	if (n != NULL) {
		if (n->state == COORD_NODE_FENCED) {
			refuse(r, COORD_R_FENCED, "node %s is fenced; remove it to re-admit it",
			       n->id);
			return;
		}
		if (n->site != in->site ||
		    memcmp(n->curve_pub, in->curve_pub, COORD_CURVE_KEY_LEN)) {
			refuse(r, COORD_R_IDENTITY,
			       "node %s is registered at site %c with another CURVE key", n->id,
			       site_name(n->site));
			return;
		}
		if (n->instance[0] != '\0' && strcmp(n->instance, in->instance) != 0) {
			uint64_t silent = now > n->last_seen_ms ? now - n->last_seen_ms : 0;
			if (silent <= p->node_timeout_ms) {
				(void)from_instance(n, in, now, r);
				return;
			}
			instance_replace(st, n, in, now, p, r);
		} else {
			set_str(n->instance, sizeof(n->instance), in->instance);
		}
		n->last_seen_ms = now;
		n->healthy = in->healthy;
		set_str(n->publish, sizeof(n->publish), in->publish);
		set_str(n->metrics, sizeof(n->metrics), in->metrics);
		set_str(n->axfr, sizeof(n->axfr), in->axfr);
		alerts_set(n, in, r);
		note(r, "node %s back", n->id);
		return;
	}
	for (uint32_t i = 0; i < st->nnodes; i++) {
		if (memcmp(st->nodes[i].curve_pub, in->curve_pub, COORD_CURVE_KEY_LEN) == 0) {
			/* one key, one member: otherwise fencing by key could be dodged */
			refuse(r, COORD_R_IDENTITY, "node %s: CURVE key already belongs to %s",
			       in->node, st->nodes[i].id);
			return;
		}
	}
	if (st->nnodes == COORD_NODES_MAX) {
		refuse(r, COORD_R_FULL, "node %s: the cluster has %d members already", in->node,
		       COORD_NODES_MAX);
		return;
	}
	n = &st->nodes[st->nnodes++];
	memset(n, 0, sizeof(*n));
	set_str(n->id, sizeof(n->id), in->node);
	n->no = st->next_node_no++;
	n->site = in->site;
	memcpy(n->curve_pub, in->curve_pub, COORD_CURVE_KEY_LEN);
	n->state = COORD_NODE_UP;
	n->last_seen_ms = now;
	n->healthy = in->healthy;
	set_str(n->publish, sizeof(n->publish), in->publish);
	set_str(n->metrics, sizeof(n->metrics), in->metrics);
	set_str(n->axfr, sizeof(n->axfr), in->axfr);
	set_str(n->instance, sizeof(n->instance), in->instance);
	effect(r, COORD_EFF_NODE_ADDED, NULL, n->id, "node %s joined at site %c", n->id,
	       site_name(n->site));
	alerts_set(n, in, r);
}

static void do_heartbeat(coord_state_t *st, const coord_input_t *in, uint64_t now,
			 coord_result_t *r)
{
	coord_node_t *n = member(st, in, r);
	if (n != NULL && from_instance(n, in, now, r)) {
		set_str(n->instance, sizeof(n->instance), in->instance);
		n->last_seen_ms = now;
		n->healthy = in->healthy;
		alerts_set(n, in, r);
	}
}

static void do_node_remove(coord_state_t *st, const coord_input_t *in, coord_result_t *r)
{
	int idx = node_index(st, in->node);
	if (idx < 0) {
		refuse(r, COORD_R_UNKNOWN_NODE, "node %s is not a member", in->node);
		return;
	}
	for (uint32_t i = 0; i < st->nzones; i++) {
		const coord_zone_t *z = &st->zones[i];
		if (strcmp(z->holder, in->node) == 0 || strcmp(z->switch_to, in->node) == 0) {
			refuse(r, COORD_R_BUSY, "node %s holds or is to take zone %s", in->node,
			       z->name);
			return;
		}
	}
	uint32_t no = st->nodes[idx].no;
	for (uint32_t i = 0; i < st->nzones; i++) {
		coord_zone_t *z = &st->zones[i];
		/* a later member of the same name is a new HSM: no exemption, no acks */
		if (strcmp(z->last_holder, in->node) == 0) {
			set_str(z->last_holder, sizeof(z->last_holder), "");
		}
		for (uint32_t k = 0; k < z->nkeys; k++) {
			coord_key_t *key = &z->keys[k];
			for (uint32_t a = 0; a < key->nacks;) {
				if (key->acks[a].node_no == no) {
					key->acks[a] = key->acks[--key->nacks];
					memset(&key->acks[key->nacks], 0, sizeof(key->acks[0]));
				} else {
					a++;
				}
			}
		}
		for (uint32_t k = 0; k < z->nreports;) {
			if (strcmp(z->reports[k].node, in->node) == 0) {
				z->reports[k] = z->reports[--z->nreports];
				memset(&z->reports[z->nreports], 0, sizeof(z->reports[0]));
			} else {
				k++;
			}
		}
	}
	effect(r, COORD_EFF_NODE_REMOVED, NULL, in->node, "node %s removed", in->node);
	memmove(&st->nodes[idx], &st->nodes[idx + 1],
		(st->nnodes - (uint32_t)idx - 1) * sizeof(st->nodes[0]));
	st->nnodes--;
	memset(&st->nodes[st->nnodes], 0, sizeof(st->nodes[0]));
}

static void do_lease_request(coord_state_t *st, const coord_input_t *in, uint64_t now,
			     const coord_params_t *p, coord_result_t *r)
{
	coord_node_t *n = member(st, in, r);
	coord_zone_t *z = n == NULL ? NULL : live_zone(st, in->zone, r);
	if (z == NULL || !from_instance(n, in, now, r)) {
		return;
	}
	if (n->state == COORD_NODE_DRAINED) {
		refuse(r, COORD_R_DRAINED, "node %s is drained", n->id);
		return;
	}
	if (!n->healthy) {
		refuse(r, COORD_R_UNHEALTHY, "node %s reports itself unhealthy", n->id);
		return;
	}
	if (site_suspended(st, n->site)) {
		refuse(r, COORD_R_SITE_SUSPENDED, "node %s: site %c is suspended", n->id,
		       site_name(n->site));
		return;
	}
	const coord_key_t *missing = key_missing(z, n);
	if (missing != NULL) {
		refuse(r, COORD_R_KEY_MISSING, "zone %s: node %s has not imported key %u (tag %u)",
		       z->name, n->id, missing->id, missing->tag);
		return;
	}
	if (lease_valid(st, z, now)) {
		if (strcmp(z->holder, n->id) != 0) {
			refuse(r, COORD_R_HELD, "zone %s: held by %s until %llu", z->name,
			       z->holder, (unsigned long long)coord_zone_expiry(st, z));
			return;
		}
		/* a repeated request (a lost reply) is a renewal */
		lease_renew(st, z, n, now, p, r);
		n->last_seen_ms = now;
		note(r, "zone %s: %s keeps epoch %llu", z->name, n->id,
		     (unsigned long long)z->epoch);
		return;
	}
	const coord_alert_t *blk = node_blocked(n, z->name);
	if (blk != NULL) {
		refuse(r, COORD_R_NODE_ALERT, "zone %s: node %s reports %s%s: %s", z->name, n->id,
		       blk->kind, blk->zone[0] == '\0' ? " (node-wide)" : "", blk->text);
		return;
	}
	/* Only the node whose lease ended may be re-granted before the margin is over: no
	 * one else can have published meanwhile. */
	const char *prev = previous_holder(z);
	uint64_t blocked = zone_blocked(st, z);
	if (now < blocked && strcmp(prev, n->id) != 0) {
		refuse(r, COORD_R_HELD, "zone %s: %s's lease may run until %llu (expiry + margin)",
		       z->name, prev, (unsigned long long)blocked);
		return;
	}
	uint64_t prefer = zone_prefer(st, z, p);
	if (now < prefer) {
		const coord_node_t *best = best_candidate(st, z, now, p, NULL);
		if (best != NULL && node_rank(st, z, best, p) < node_rank(st, z, n, p)) {
			refuse(r, COORD_R_NOT_PREFERRED,
			       "zone %s: %s (site %c) is preferred until %llu", z->name, best->id,
			       site_name(best->site), (unsigned long long)prefer);
			return;
		}
	}
	if (z->holder[0] != '\0') {
		zone_settle(st, z, p);
		set_str(z->last_holder, sizeof(z->last_holder), z->holder);
	}
	set_str(z->holder, sizeof(z->holder), n->id);
	z->epoch++;
	if (strcmp(z->switch_to, n->id) == 0) {
		set_str(z->switch_to, sizeof(z->switch_to), "");
	}
	node_lease_extend(st, n, now, p);
	lease_extend(st, z, n, now, p, r);
	n->last_seen_ms = now;
	effect(r, COORD_EFF_GRANT, z, n->id, "zone %s: lease granted to %s, epoch %llu", z->name,
	       n->id, (unsigned long long)z->epoch);
	note(r, "zone %s: %s holds epoch %llu", z->name, n->id, (unsigned long long)z->epoch);
}

static void do_lease_renew(coord_state_t *st, const coord_input_t *in, uint64_t now,
			   const coord_params_t *p, coord_result_t *r)
{
	coord_node_t *n = member(st, in, r);
	coord_zone_t *z = n == NULL ? NULL : live_zone(st, in->zone, r);
	if (z == NULL || !from_instance(n, in, now, r) ||
	    !holds(st, z, n, in->epoch, now, false, r)) {
		return;
	}
	lease_renew(st, z, n, now, p, r);
	n->last_seen_ms = now;
	note(r, "zone %s: %s renewed epoch %llu", z->name, n->id, (unsigned long long)z->epoch);
}

static void do_lease_release(coord_state_t *st, const coord_input_t *in, uint64_t now,
			     const coord_params_t *p, coord_result_t *r)
{
	coord_node_t *n = member(st, in, r);
	coord_zone_t *z = n == NULL ? NULL : live_zone(st, in->zone, r);
	/* an expired lease may be released too: the node says it has stopped publishing; only
	 * the registered instance speaks for the node (another's release would end the lease
	 * of a process that still publishes) */
	if (z == NULL || !from_instance(n, in, now, r) ||
	    !holds(st, z, n, in->epoch, now, true, r)) {
		return;
	}
	zone_settle(st, z, p);
	set_str(z->last_holder, sizeof(z->last_holder), n->id);
	set_str(z->holder, sizeof(z->holder), "");
	if (z->expiry_ms > now) {
		z->expiry_ms = now;
	}
	z->blocked_until_ms = now;
	/* a node that no longer has the zone would be preferred (the previous holder's site)
	 * and never ask: no window then, the next node that asks takes the zone */
	z->prefer_until_ms = in->leaving ? now : now + p->prefer_ms;
	n->last_seen_ms = now;
	effect(r, COORD_EFF_RELEASE, z, n->id, "zone %s: %s released epoch %llu%s%s%s", z->name,
	       n->id, (unsigned long long)z->epoch,
	       in->leaving ? " (it no longer has the zone)" : "",
	       z->switch_to[0] != '\0' ? "; handing over to " : "", z->switch_to);
}

/* Compares the committed digest with a standby's report for the same serial. */
/* Whether a report agrees with the commit: the same digest; a nosig report (signatures not
 * deterministic) the same nosig digest and the active's version verified. *why says what
 * differs. */
static bool report_agrees(const coord_zone_t *z, const coord_report_t *rep, const char **why)
{
	*why = "";
	if (!rep->nosig) {
		return memcmp(rep->digest, z->committed_digest, COORD_DIGEST_LEN) == 0;
	}
	if (!z->has_committed_nosig ||
	    memcmp(rep->digest, z->committed_nosig, COORD_DIGEST_LEN) != 0) {
		*why = "the records other than RRSIGs differ (nosig digest)";
		return false;
	}
	if (!rep->verified) {
		*why = "the standby could not verify the active's version";
		return false;
	}
	return true;
}

/* A nosig report is compared for a zone whose digests are not (its commit carries the nosig
 * digest); a full digest report for one whose digests are. */
static bool report_comparable(const coord_zone_t *z, const coord_report_t *rep)
{
	return rep->nosig ? !z->compare_digests && z->has_committed_nosig : z->compare_digests;
}

static void compare_report(coord_zone_t *z, const coord_report_t *rep, coord_result_t *r)
{
	if (!report_comparable(z, rep) || !z->has_committed || rep->serial != z->committed_serial ||
	    strcmp(rep->node, z->committed_by) == 0) {
		return;
	}
	const char *why = "";
	if (report_agrees(z, rep, &why)) {
		z->alert_open = false;
		effect(r, COORD_EFF_DIGEST_MATCH, z, rep->node, "zone %s serial %u: %s agrees%s",
		       z->name, rep->serial, rep->node,
		       rep->nosig ? " (nosig digest, the active's signatures verified)" : "");
		return;
	}
	z->alerts++;
	z->alert_open = true;
	z->alert_serial = rep->serial;
	set_str(z->alert_node, sizeof(z->alert_node), rep->node);
	effect(r, COORD_EFF_DIGEST_ALERT, z, rep->node,
	       "alert: digest mismatch on zone %s serial %u (standby %s, active %s)%s%s%s%s",
	       z->name, rep->serial, rep->node, z->committed_by, why[0] != '\0' ? ": " : "", why,
	       rep->why[0] != '\0' ? ": " : "", rep->why);
}

/* coordd's status: whether the report agrees with the commit, and why not (see above). */
bool coord_report_match(const coord_zone_t *z, const coord_report_t *rep, const char **why)
{
	return report_comparable(z, rep) && report_agrees(z, rep, why);
}

static void do_commit(coord_state_t *st, const coord_input_t *in, uint64_t now,
		      const coord_params_t *p, coord_result_t *r)
{
	coord_node_t *n = member(st, in, r);
	coord_zone_t *z = n == NULL ? NULL : live_zone(st, in->zone, r);
	if (z == NULL || !from_instance(n, in, now, r) ||
	    !holds(st, z, n, in->epoch, now, false, r)) {
		return;
	}
	uint32_t residue = p->site_residue[n->site];
	if (in->serial % p->serial_modulus != residue) {
		refuse(r, COORD_R_RESIDUE, "zone %s: serial %u is not %u mod %u (site %c)", z->name,
		       in->serial, residue, p->serial_modulus, site_name(n->site));
		return;
	}
	if (z->has_committed && in->serial == z->committed_serial) {
		if (memcmp(in->digest, z->committed_digest, COORD_DIGEST_LEN) != 0) {
			refuse(r, COORD_R_DIGEST_CONFLICT,
			       "zone %s: serial %u was committed with another digest", z->name,
			       in->serial);
			return;
		}
		if (z->committed_epoch == in->epoch && strcmp(z->committed_by, n->id) == 0) {
			note(r, "zone %s: serial %u already committed", z->name, in->serial);
			return; /* a retried commit whose reply was lost */
		}
	}
	if (z->has_committed && !tandem_serial_gt(in->serial, z->committed_serial)) {
		refuse(r, COORD_R_SERIAL_NOT_ABOVE,
		       "zone %s: serial %u is not above the committed %u (RFC 1982)", z->name,
		       in->serial, z->committed_serial);
		return;
	}
	z->has_committed = true;
	z->committed_serial = in->serial;
	memcpy(z->committed_digest, in->digest, COORD_DIGEST_LEN);
	z->has_committed_nosig = in->has_nosig;
	memset(z->committed_nosig, 0, COORD_DIGEST_LEN);
	if (in->has_nosig) {
		memcpy(z->committed_nosig, in->nosig, COORD_DIGEST_LEN);
	}
	z->committed_epoch = in->epoch;
	set_str(z->committed_by, sizeof(z->committed_by), n->id);
	/* what a standby needs to sign the same zone: the active's clock and NSEC3 salt */
	z->committed_sign_time = in->sign_time;
	z->committed_nsec3 = in->nsec3;
	memset(z->committed_salt, 0, sizeof(z->committed_salt));
	memcpy(z->committed_salt, in->salt, in->salt_len);
	z->committed_salt_len = in->salt_len;
	z->committed_input_serial = in->input_serial;
	z->committed_base_serial = in->base_serial;
	if (in->base_serial == 0) {
		z->full_requested = false; /* the standbys can sign this one in full */
	}
	z->committed_keyset_revision = in->keyset_revision;
	memcpy(z->committed_skr_id, in->skr_id, COORD_SKR_ID_LEN);
	memcpy(z->committed_policy, in->policy_digest, COORD_DIGEST_LEN);
	effect(r, COORD_EFF_COMMIT, z, n->id, "zone %s: serial %u committed by %s, epoch %llu",
	       z->name, in->serial, n->id, (unsigned long long)in->epoch);
	for (uint32_t i = 0; i < z->nreports; i++) {
		compare_report(z, &z->reports[i], r);
	}
	note(r, "zone %s: serial %u committed", z->name, in->serial);
}

static void do_digest_report(coord_state_t *st, const coord_input_t *in, uint64_t now,
			     coord_result_t *r)
{
	coord_node_t *n = member(st, in, r);
	coord_zone_t *z = n == NULL ? NULL : live_zone(st, in->zone, r);
	if (z == NULL) {
		return;
	}
	if (lease_valid(st, z, now) && strcmp(z->holder, n->id) == 0) {
		refuse(r, COORD_R_BAD_INPUT, "zone %s: %s is the active node; it commits", z->name,
		       n->id);
		return;
	}
	n->last_seen_ms = now;
	if (in->no_base) {
		/* the commit reused signatures of a version this standby does not hold (it
		 * restarted, or missed a serial): it cannot sign the same zone, so nothing is
		 * compared; the active's next run signs in full, which it can follow again */
		if (z->has_committed && in->serial == z->committed_serial && !z->full_requested) {
			z->full_requested = true;
			note(r,
			     "zone %s: %s has no copy of serial %u, the base of serial %u: the "
			     "next run signs in full",
			     z->name, n->id, z->committed_base_serial, in->serial);
		}
		return;
	}
	coord_report_t *rep = NULL;
	for (uint32_t i = 0; i < z->nreports; i++) {
		if (strcmp(z->reports[i].node, n->id) == 0) {
			rep = &z->reports[i];
		}
	}
	if (rep == NULL) {
		if (z->nreports == COORD_NODES_MAX) {
			refuse(r, COORD_R_FULL, "zone %s: too many reports", z->name);
			return;
		}
		rep = &z->reports[z->nreports++];
	}
	memset(rep, 0, sizeof(*rep));
	set_str(rep->node, sizeof(rep->node), n->id);
	rep->serial = in->serial;
	memcpy(rep->digest, in->digest, COORD_DIGEST_LEN);
	rep->nosig = in->has_nosig;
	rep->verified = in->has_nosig && in->verified;
	if (in->has_nosig && !in->verified) {
		set_str(rep->why, sizeof(rep->why), in->why);
	}
	n->last_seen_ms = now;
	compare_report(z, rep, r);
}

static void do_key_add(coord_state_t *st, const coord_input_t *in, coord_result_t *r)
{
	/* the adder, when named, must be a member: its import is recorded with the key */
	coord_node_t *n = in->node[0] == '\0' ? NULL : member(st, in, r);
	if (in->node[0] != '\0' && n == NULL) {
		return;
	}
	coord_zone_t *z = live_zone(st, in->zone, r);
	if (z == NULL) {
		return;
	}
	if (key_find(z, in->key_id) != NULL) {
		refuse(r, COORD_R_EXISTS, "zone %s: key %u is known", z->name, in->key_id);
		return;
	}
	if (z->nkeys == COORD_KEYS_MAX) {
		refuse(r, COORD_R_FULL, "zone %s: %d keys tracked already", z->name,
		       COORD_KEYS_MAX);
		return;
	}
	coord_key_t *k = &z->keys[z->nkeys++];
	memset(k, 0, sizeof(*k));
	k->id = in->key_id;
	k->tag = in->key_tag;
	if (n != NULL) {
		k->acks[0].node_no = n->no;
		k->acks[0].site = n->site;
		k->nacks = 1;
		note(r, "zone %s: key %u (tag %u) added, imported by %s (site %c)", z->name, k->id,
		     k->tag, n->id, site_name(n->site));
	}
}

/* Every site (not suspended) holds k: it may sign, and gates leases and switchovers. */
static void key_activate(const coord_state_t *st, const coord_zone_t *z, coord_key_t *k,
			 coord_result_t *r)
{
	k->active = true;
	if (st->suspended_sites != 0) {
		effect(r, COORD_EFF_KEY_ACTIVE, z, NULL,
		       "zone %s: key %u (tag %u) may become active (suspended sites left out)",
		       z->name, k->id, k->tag);
	} else {
		effect(r, COORD_EFF_KEY_ACTIVE, z, NULL,
		       "zone %s: key %u (tag %u) may become active", z->name, k->id, k->tag);
	}
	r->effects[r->neffects - 1].key_id = k->id;
}

/* A node's HSM holds the key. The ack that completes the set of sites activates it: the
 * holder need not ask (coord.key.activate stays for a set completed otherwise, by a site
 * suspended). */
static void do_key_ack(coord_state_t *st, const coord_input_t *in, const coord_params_t *p,
		       coord_result_t *r)
{
	coord_node_t *n = member(st, in, r);
	coord_zone_t *z = n == NULL ? NULL : live_zone(st, in->zone, r);
	if (z == NULL) {
		return;
	}
	coord_key_t *k = key_find(z, in->key_id);
	if (k == NULL) {
		refuse(r, COORD_R_UNKNOWN_KEY, "zone %s: no key %u", z->name, in->key_id);
		return;
	}
	if (key_acked_by(k, n->no)) {
		return;
	}
	/* one ack per member and at most COORD_NODES_MAX members: there is room */
	k->acks[k->nacks].node_no = n->no;
	k->acks[k->nacks].site = n->site;
	k->nacks++;
	note(r, "zone %s: key %u imported by %s (site %c)", z->name, k->id, n->id,
	     site_name(n->site));
	if (!k->retired && !k->active && key_all_sites(st, k, p)) {
		key_activate(st, z, k, r);
	}
}

static void do_key_activate(coord_state_t *st, const coord_input_t *in, const coord_params_t *p,
			    coord_result_t *r)
{
	coord_zone_t *z = live_zone(st, in->zone, r);
	coord_key_t *k = z == NULL ? NULL : key_find(z, in->key_id);
	if (z == NULL) {
		return;
	}
	if (k == NULL) {
		refuse(r, COORD_R_UNKNOWN_KEY, "zone %s: no key %u", z->name, in->key_id);
		return;
	}
	if (k->retired) {
		refuse(r, COORD_R_UNKNOWN_KEY, "zone %s: key %u (tag %u) is retired", z->name,
		       k->id, k->tag);
		return;
	}
	if (k->active) {
		return;
	}
	uint32_t have = key_sites(k);
	uint32_t need = ack_sites(st, p);
	for (uint32_t s = 0; s < p->nsites; s++) {
		if ((need & (1u << s)) != 0 && (have & (1u << s)) == 0) {
			refuse(r, COORD_R_KEY_NOT_ACKED,
			       "zone %s: key %u (tag %u) not yet imported at site %c", z->name,
			       k->id, k->tag, site_name(s));
			return;
		}
	}
	key_activate(st, z, k, r);
}

/* The key set removed the key: it is retired, gates nothing, and every HSM destroys it. */
static void do_key_remove(coord_state_t *st, const coord_input_t *in, uint64_t now,
			  coord_result_t *r)
{
	coord_zone_t *z = live_zone(st, in->zone, r);
	if (z == NULL) {
		return;
	}
	coord_key_t *k = key_find(z, in->key_id);
	if (k == NULL) {
		refuse(r, COORD_R_UNKNOWN_KEY, "zone %s: no key %u", z->name, in->key_id);
		return;
	}
	if (k->retired) {
		return;
	}
	k->retired = true;
	k->retired_ms = now;
	k->active = false;
	effect(r, COORD_EFF_KEY_RETIRED, z, NULL,
	       "zone %s: key %u (tag %u) retired: every node destroys it in its HSM", z->name,
	       k->id, k->tag);
	r->effects[r->neffects - 1].key_id = k->id;
}

/* The zone's key `id` if it is retired; else NULL, refused (unknown, or not retired). */
static coord_key_t *retired_key(coord_zone_t *z, uint32_t id, coord_result_t *r)
{
	coord_key_t *k = key_find(z, id);
	if (k == NULL) {
		refuse(r, COORD_R_UNKNOWN_KEY, "zone %s: no key %u", z->name, id);
		return NULL;
	}
	if (!k->retired) {
		refuse(r, COORD_R_BUSY, "zone %s: key %u (tag %u) is not retired", z->name, k->id,
		       k->tag);
		return NULL;
	}
	return k;
}

static void do_key_destroyed(coord_state_t *st, const coord_input_t *in, coord_result_t *r)
{
	coord_node_t *n = member(st, in, r);
	coord_zone_t *z = n == NULL ? NULL : live_zone(st, in->zone, r);
	if (z == NULL) {
		return;
	}
	coord_key_t *k = retired_key(z, in->key_id, r);
	if (k == NULL) {
		return;
	}
	for (uint32_t i = 0; i < k->ndestroyed; i++) {
		if (k->destroyed[i].node_no == n->no) {
			return;
		}
	}
	if (k->ndestroyed == COORD_NODES_MAX) {
		/* node numbers are never reused: members removed since may have filled it */
		memmove(&k->destroyed[0], &k->destroyed[1],
			(COORD_NODES_MAX - 1) * sizeof(k->destroyed[0]));
		k->ndestroyed--;
	}
	k->destroyed[k->ndestroyed].node_no = n->no;
	k->destroyed[k->ndestroyed].site = n->site;
	k->ndestroyed++;
	note(r, "zone %s: key %u (tag %u) destroyed in the HSM of %s (site %c)", z->name, k->id,
	     k->tag, n->id, site_name(n->site));
}

static void do_key_purge(coord_state_t *st, const coord_input_t *in, uint64_t now,
			 coord_result_t *r)
{
	coord_zone_t *z = live_zone(st, in->zone, r);
	if (z == NULL) {
		return;
	}
	coord_key_t *k = retired_key(z, in->key_id, r);
	if (k == NULL) {
		return;
	}
	if (now < k->retired_ms || now - k->retired_ms < in->retention_ms) {
		refuse(r, COORD_R_RETAINED, "zone %s: key %u (tag %u) is kept until %llu", z->name,
		       k->id, k->tag, (unsigned long long)(k->retired_ms + in->retention_ms));
		return;
	}
	uint32_t id = k->id;
	uint16_t tag = k->tag;
	size_t i = (size_t)(k - z->keys);
	memmove(&z->keys[i], &z->keys[i + 1], (z->nkeys - i - 1) * sizeof(z->keys[0]));
	z->nkeys--;
	memset(&z->keys[z->nkeys], 0, sizeof(z->keys[0]));
	effect(r, COORD_EFF_KEY_PURGED, z, NULL,
	       "zone %s: key %u (tag %u) purged: its archive entry is removed", z->name, id, tag);
	r->effects[r->neffects - 1].key_id = id;
}

static void do_site(coord_state_t *st, const coord_input_t *in, uint64_t now,
		    const coord_params_t *p, bool suspend, coord_result_t *r)
{
	if (in->site >= p->nsites) {
		refuse(r, COORD_R_BAD_INPUT, "no site %c", site_name(in->site));
		return;
	}
	uint32_t bit = 1u << in->site;
	if (!suspend) {
		if ((st->suspended_sites & bit) == 0) {
			return;
		}
		st->suspended_sites &= ~bit;
		effect(r, COORD_EFF_SITE, NULL, NULL,
		       "site %c resumed: its nodes import every key, then may take leases; keys "
		       "wait for its import again",
		       site_name(in->site));
		return;
	}
	if ((st->suspended_sites & bit) != 0) {
		return;
	}
	if ((ack_sites(st, p) & ~bit) == 0) {
		refuse(r, COORD_R_BAD_INPUT, "site %c is the last site not suspended",
		       site_name(in->site));
		return;
	}
	for (uint32_t i = 0; i < st->nzones; i++) {
		const coord_zone_t *z = &st->zones[i];
		const coord_node_t *h = z->holder[0] != '\0' ? node_find(st, z->holder) : NULL;
		/* a holder may publish up to its expiry on its own clock: wait for the margin */
		uint64_t until =
		    max_u64(coord_zone_expiry(st, z) + p->margin_ms, zone_blocked(st, z));
		if (!z->removed && h != NULL && h->site == in->site && now < until) {
			refuse(
			    r, COORD_R_BUSY,
			    "zone %s: %s (site %c) holds the lease until %llu (expiry + margin); "
			    "drain or switch it over first",
			    z->name, h->id, site_name(h->site), (unsigned long long)until);
			return;
		}
	}
	st->suspended_sites |= bit;
	for (uint32_t i = 0; i < st->nzones; i++) {
		coord_zone_t *z = &st->zones[i];
		const coord_node_t *t =
		    z->switch_to[0] != '\0' ? node_find(st, z->switch_to) : NULL;
		if (t != NULL && t->site == in->site) {
			effect(r, COORD_EFF_SWITCH_CANCEL, z, t->id,
			       "zone %s: switchover to %s cancelled: site %c suspended", z->name,
			       t->id, site_name(in->site));
			set_str(z->switch_to, sizeof(z->switch_to), "");
		}
	}
	effect(r, COORD_EFF_SITE, NULL, NULL,
	       "site %c suspended: keys activate without its import; its nodes get no lease",
	       site_name(in->site));
}

/* Refuses unless n could take z over now (used for switchover targets). */
static bool target_ok(const coord_state_t *st, const coord_zone_t *z, const coord_node_t *n,
		      uint64_t now, const coord_params_t *p, coord_result_t *r)
{
	if (site_suspended(st, n->site)) {
		refuse(r, COORD_R_SITE_SUSPENDED, "node %s: site %c is suspended", n->id,
		       site_name(n->site));
		return false;
	}
	if (n->state == COORD_NODE_FENCED) {
		refuse(r, COORD_R_FENCED, "node %s is fenced", n->id);
		return false;
	}
	if (n->state == COORD_NODE_DRAINED) {
		refuse(r, COORD_R_DRAINED, "node %s is drained", n->id);
		return false;
	}
	if (!node_healthy(n, now, p)) {
		refuse(r, COORD_R_UNHEALTHY, "node %s is unhealthy or silent", n->id);
		return false;
	}
	const coord_key_t *missing = key_missing(z, n);
	if (missing != NULL) {
		refuse(r, COORD_R_KEY_MISSING, "zone %s: node %s has not imported key %u", z->name,
		       n->id, missing->id);
		return false;
	}
	const coord_alert_t *blk = node_blocked(n, z->name);
	if (blk != NULL) {
		refuse(r, COORD_R_NODE_ALERT, "zone %s: node %s reports %s%s: %s", z->name, n->id,
		       blk->kind, blk->zone[0] == '\0' ? " (node-wide)" : "", blk->text);
		return false;
	}
	return true;
}

static void do_switchover(coord_state_t *st, const coord_input_t *in, uint64_t now,
			  const coord_params_t *p, coord_result_t *r)
{
	coord_zone_t *z = live_zone(st, in->zone, r);
	if (z == NULL) {
		return;
	}
	coord_node_t *t = node_find(st, in->target);
	if (t == NULL) {
		refuse(r, COORD_R_UNKNOWN_NODE, "node %s is not a member", in->target);
		return;
	}
	if (!target_ok(st, z, t, now, p, r)) {
		return;
	}
	if (!lease_valid(st, z, now)) {
		refuse(r, COORD_R_NO_HOLDER, "zone %s: nobody holds the lease; %s may request it",
		       z->name, t->id);
		return;
	}
	if (strcmp(z->holder, t->id) == 0) {
		refuse(r, COORD_R_BAD_INPUT, "zone %s: %s is already the active node", z->name,
		       t->id);
		return;
	}
	set_str(z->switch_to, sizeof(z->switch_to), t->id);
	effect(r, COORD_EFF_SWITCH_PENDING, z, t->id,
	       "zone %s: %s finishes its cycle, then hands over to %s", z->name, z->holder, t->id);
}

/* Picks a switchover target for a zone held by a drained node, if there is one. */
static void drain_zone(coord_state_t *st, coord_zone_t *z, uint64_t now, const coord_params_t *p,
		       coord_result_t *r)
{
	const coord_node_t *c = best_candidate(st, z, now, p, z->holder);
	if (c == NULL) {
		return;
	}
	set_str(z->switch_to, sizeof(z->switch_to), c->id);
	effect(r, COORD_EFF_SWITCH_PENDING, z, c->id, "zone %s: %s is drained; handing over to %s",
	       z->name, z->holder, c->id);
}

static void do_drain(coord_state_t *st, const coord_input_t *in, uint64_t now,
		     const coord_params_t *p, bool drain, coord_result_t *r)
{
	coord_node_t *n = member(st, in, r);
	if (n == NULL) {
		return;
	}
	coord_node_state_t want = drain ? COORD_NODE_DRAINED : COORD_NODE_UP;
	if (n->state == want) {
		return;
	}
	n->state = want;
	effect(r, COORD_EFF_NODE_STATE, NULL, n->id, "node %s %s", n->id,
	       drain ? "drained" : "undrained");
	if (!drain) {
		return;
	}
	for (uint32_t i = 0; i < st->nzones; i++) {
		coord_zone_t *z = &st->zones[i];
		if (z->removed) {
			continue;
		}
		if (strcmp(z->switch_to, n->id) == 0) {
			set_str(z->switch_to, sizeof(z->switch_to), "");
			effect(r, COORD_EFF_SWITCH_CANCEL, z, n->id,
			       "zone %s: switchover to drained %s cancelled", z->name, n->id);
		}
		if (lease_valid(st, z, now) && strcmp(z->holder, n->id) == 0) {
			drain_zone(st, z, now, p, r);
		}
	}
}

static void do_takeover(coord_state_t *st, const coord_input_t *in, const coord_params_t *p,
			coord_result_t *r)
{
	if (in->site >= p->nsites) {
		refuse(r, COORD_R_BAD_INPUT, "no site %c", site_name(in->site));
		return;
	}
	bool survivor = false;
	for (uint32_t i = 0; i < st->nnodes; i++) {
		survivor |=
		    st->nodes[i].site == in->site && st->nodes[i].state != COORD_NODE_FENCED;
	}
	if (!survivor) {
		refuse(r, COORD_R_NO_CANDIDATE, "site %c has no member to take over",
		       site_name(in->site));
		return;
	}
	for (uint32_t i = 0; i < st->nnodes; i++) {
		coord_node_t *n = &st->nodes[i];
		if (n->site != in->site && n->state != COORD_NODE_FENCED) {
			n->state = COORD_NODE_FENCED;
			effect(r, COORD_EFF_FENCE, NULL, n->id,
			       "node %s (site %c) fenced: CURVE key revoked", n->id,
			       site_name(n->site));
		}
	}
	for (uint32_t i = 0; i < st->nzones; i++) {
		coord_zone_t *z = &st->zones[i];
		const coord_node_t *s =
		    z->switch_to[0] != '\0' ? node_find(st, z->switch_to) : NULL;
		if (s != NULL && s->state == COORD_NODE_FENCED) {
			effect(r, COORD_EFF_SWITCH_CANCEL, z, s->id,
			       "zone %s: switchover to fenced %s cancelled", z->name, s->id);
			set_str(z->switch_to, sizeof(z->switch_to), "");
		}
		const coord_node_t *h = z->holder[0] != '\0' ? node_find(st, z->holder) : NULL;
		if (h != NULL && h->state != COORD_NODE_FENCED) {
			continue; /* a survivor holds it: nothing to fence */
		}
		const coord_node_t *l =
		    z->last_holder[0] != '\0' ? node_find(st, z->last_holder) : NULL;
		if (h != NULL) {
			/* The fenced holder is the previous holder now: the margin exception
			 * (only the node whose lease ended may come back early) is its alone,
			 * and it is fenced. Left as it was, last_holder could name a survivor
			 * that held the zone before (A->B->A), which would be let in while
			 * the fenced holder's lease still runs. */
			zone_settle(st, z, p);
			set_str(z->last_holder, sizeof(z->last_holder), h->id);
			if (z->blocked_until_ms < z->expiry_ms + p->margin_ms) {
				z->blocked_until_ms = z->expiry_ms + p->margin_ms;
			}
		} else if (l != NULL && l->state == COORD_NODE_FENCED) {
			set_str(z->last_holder, sizeof(z->last_holder), "");
		}
		set_str(z->holder, sizeof(z->holder), "");
		/* Forcing does not shorten blocked_until: a fenced holder that cannot hear
		 * us stops on its own clock, and only the margin says it has. */
		z->prefer_until_ms = z->blocked_until_ms;
		z->epoch++;
		effect(r, COORD_EFF_EPOCH_BUMP, z, NULL,
		       "zone %s: epoch raised to %llu by takeover of site %c", z->name,
		       (unsigned long long)z->epoch, site_name(in->site));
	}
}

static void do_zone_add(coord_state_t *st, const coord_input_t *in, const coord_params_t *p,
			coord_result_t *r)
{
	size_t len = strlen(in->zone);
	if (len == 0 || in->zone[len - 1] != '.') {
		refuse(r, COORD_R_BAD_INPUT, "zone %s: give the name with its final dot", in->zone);
		return;
	}
	int idx = zone_index(st, in->zone);
	coord_zone_t *z = idx < 0 ? NULL : &st->zones[idx];
	if (z != NULL && !z->removed) {
		refuse(r, COORD_R_EXISTS, "zone %s exists%s%s", in->zone,
		       strcmp(z->name, in->zone) != 0 ? " as " : "",
		       strcmp(z->name, in->zone) != 0 ? z->name : "");
		return;
	}
	if (z != NULL && strcmp(z->name, in->zone) != 0) {
		/* a tombstone of the same name in other letters: it comes back as it was */
		refuse(r, COORD_R_EXISTS, "zone %s: removed zone %s is the same name; add it as %s",
		       in->zone, z->name, z->name);
		return;
	}
	if (z != NULL && in->has_serial && z->has_committed &&
	    !tandem_serial_gt(in->serial, z->committed_serial)) {
		refuse(r, COORD_R_SERIAL_NOT_ABOVE, "zone %s: floor %u is not above %u", z->name,
		       in->serial, z->committed_serial);
		return;
	}
	if (z == NULL) {
		if (st->nzones == COORD_ZONES_MAX) {
			refuse(r, COORD_R_FULL, "zone %s: %d zones already", in->zone,
			       COORD_ZONES_MAX);
			return;
		}
		z = &st->zones[st->nzones++];
		memset(z, 0, sizeof(*z));
		set_str(z->name, sizeof(z->name), in->zone);
	} else if (z->holder[0] != '\0') {
		/* a tombstone comes back: its old holder may ask again (epoch + 1), others
		 * wait out the old lease and margin, which blocked_until still says */
		zone_settle(st, z, p);
		set_str(z->last_holder, sizeof(z->last_holder), z->holder);
		set_str(z->holder, sizeof(z->holder), "");
	}
	z->removed = false;
	z->compare_digests = in->compare_digests;
	if (in->has_serial) {
		/* a floor: the zone's serial before tandem signed it */
		z->has_committed = true;
		z->committed_serial = in->serial;
		memset(z->committed_digest, 0, COORD_DIGEST_LEN);
		z->committed_epoch = z->epoch;
		set_str(z->committed_by, sizeof(z->committed_by), "");
		z->committed_sign_time = 0;
		z->committed_nsec3 = false;
		memset(z->committed_salt, 0, sizeof(z->committed_salt));
		z->committed_salt_len = 0;
		z->committed_input_serial = 0;
		z->committed_base_serial = 0;
		z->full_requested = false;
		z->committed_keyset_revision = 0;
		memset(z->committed_skr_id, 0, COORD_SKR_ID_LEN);
		memset(z->committed_policy, 0, COORD_DIGEST_LEN);
	}
	effect(r, COORD_EFF_ZONE_ADDED, z, NULL, "zone %s added", z->name);
}

/* Whether a node reports serial as held by a review hook (its review-rejected alert for the
 * zone: "unsigned serial N rejected ..." or "signed serial N rejected ..."); held[] gets
 * the serials reported, for the refusal. */
static bool review_held(const coord_state_t *st, const char *zone, uint32_t serial, char *held,
			size_t size)
{
	bool found = false;
	size_t len = 0;
	held[0] = '\0';
	for (uint32_t i = 0; i < st->nnodes; i++) {
		const coord_node_t *n = &st->nodes[i];
		for (uint32_t k = 0; k < n->nalerts && k < COORD_ALERTS_MAX; k++) {
			const coord_alert_t *a = &n->alerts[k];
			char stage[12];
			unsigned s = 0;
			if (strcmp(a->zone, zone) != 0 || strcmp(a->kind, "review-rejected") != 0 ||
			    sscanf(a->text, "%11s serial %u", stage, &s) != 2) {
				continue;
			}
			found = found || s == serial;
			int w = snprintf(held + len, size - len, "%s%s %u on %s",
					 len > 0 ? ", " : "", stage, s, n->id);
			len = w > 0 && (size_t)w < size - len ? len + (size_t)w : len;
		}
	}
	return found;
}

static void do_zone_review(coord_state_t *st, const coord_input_t *in, coord_result_t *r)
{
	coord_zone_t *z = live_zone(st, in->zone, r);
	if (z == NULL) {
		return;
	}
	bool approve = in->kind == COORD_IN_ZONE_APPROVE;
	char held[COORD_TEXT_MAX - 80];
	if (!review_held(st, z->name, in->serial, held, sizeof(held))) {
		refuse(r, COORD_R_NOT_HELD,
		       "zone %s: serial %u is not held by a review hook (%s%s)", z->name,
		       in->serial, held[0] != '\0' ? "held: " : "none is held", held);
		return;
	}
	/* the same decision again counts too: a node may hold a new version of a serial it
	 * was given before (a delivery with the same SOA serial), and honours only decisions
	 * taken after its rejection */
	z->review_seq++;
	z->has_review_decision = true;
	z->review_serial = in->serial;
	z->review_approved = approve;
	effect(r, COORD_EFF_REVIEW, z, NULL,
	       approve ? "zone %s: the operator approves serial %u that a review hook rejected"
		       : "zone %s: the operator rejects serial %u that a review hook rejected",
	       z->name, in->serial);
	r->effects[r->neffects - 1].serial = in->serial;
}

static void do_zone_accept_input(coord_state_t *st, const coord_input_t *in, coord_result_t *r)
{
	coord_zone_t *z = live_zone(st, in->zone, r);
	if (z == NULL) {
		return;
	}
	if (z->has_accepted_input && z->accepted_input_serial == in->serial) {
		note(r, "zone %s: input serial %u already accepted", z->name, in->serial);
		return;
	}
	z->has_accepted_input = true;
	z->accepted_input_serial = in->serial;
	effect(r, COORD_EFF_INPUT_ACCEPTED, z, NULL,
	       "zone %s: the operator accepts input serial %u although it removes more "
	       "delegations than the policy allows",
	       z->name, in->serial);
	r->effects[r->neffects - 1].serial = in->serial;
}

static void do_params_set(coord_state_t *st, const coord_input_t *in, uint64_t now,
			  const coord_params_t *p, coord_result_t *r)
{
	coord_params_t np = *p;
	np.lease_ms = in->lease_ms;
	np.margin_ms = in->margin_ms;
	if (in->margin_ms == 0 || in->lease_ms > UINT32_MAX || in->margin_ms >= in->lease_ms / 3 ||
	    coord_params_check(&np) != TANDEM_OK) {
		refuse(r, COORD_R_BAD_INPUT,
		       "lease %llu ms, margin %llu ms: the margin must be above 0 and below a "
		       "third of the lease (at most %u ms)",
		       (unsigned long long)in->lease_ms, (unsigned long long)in->margin_ms,
		       UINT32_MAX);
		return;
	}
	if (p->lease_ms == in->lease_ms && p->margin_ms == in->margin_ms && st->lease_ms != 0) {
		note(r, "lease %llu ms, margin %llu ms already", (unsigned long long)in->lease_ms,
		     (unsigned long long)in->margin_ms);
		return;
	}
	effect(r, COORD_EFF_PARAMS, NULL, NULL,
	       "cluster lease %llu ms, margin %llu ms (were %llu ms, %llu ms)",
	       (unsigned long long)in->lease_ms, (unsigned long long)in->margin_ms,
	       (unsigned long long)p->lease_ms, (unsigned long long)p->margin_ms);
	st->prev_lease_ms = p->lease_ms;
	st->params_changed_ms = now;
	st->lease_ms = in->lease_ms;
	st->margin_ms = in->margin_ms;
}

static void do_zone_remove(coord_state_t *st, const coord_input_t *in, const coord_params_t *p,
			   coord_result_t *r)
{
	coord_zone_t *z = live_zone(st, in->zone, r);
	if (z == NULL) {
		return;
	}
	/* kept as a tombstone: epoch and serial must keep rising should it come back; its
	 * lease no longer follows the node lease (no renewal of it is accepted now) */
	zone_settle(st, z, p);
	z->removed = true;
	set_str(z->switch_to, sizeof(z->switch_to), "");
	effect(r, COORD_EFF_ZONE_REMOVED, z, NULL, "zone %s removed", z->name);
}

static void do_tick(coord_state_t *st, uint64_t now, const coord_params_t *p, coord_result_t *r)
{
	for (uint32_t i = 0; i < st->nzones; i++) {
		coord_zone_t *z = &st->zones[i];
		if (z->holder[0] != '\0' && now >= coord_zone_expiry(st, z)) {
			zone_settle(st, z, p);
			effect(r, COORD_EFF_LAPSE, z, z->holder, "zone %s: lease of %s lapsed",
			       z->name, z->holder);
			set_str(z->last_holder, sizeof(z->last_holder), z->holder);
			set_str(z->holder, sizeof(z->holder), "");
		}
		if (z->removed) {
			continue;
		}
		if (z->switch_to[0] != '\0') {
			const coord_node_t *t = node_find(st, z->switch_to);
			bool gone = t == NULL || t->state != COORD_NODE_UP;
			bool late = !lease_valid(st, z, now) && now >= zone_prefer(st, z, p);
			if (gone || late) {
				effect(r, COORD_EFF_SWITCH_CANCEL, z, z->switch_to,
				       "zone %s: switchover to %s cancelled (%s)", z->name,
				       z->switch_to, gone ? "target unavailable" : "not claimed");
				set_str(z->switch_to, sizeof(z->switch_to), "");
			}
		}
		if (lease_valid(st, z, now)) {
			const coord_node_t *h = node_find(st, z->holder);
			if (h != NULL && h->state == COORD_NODE_DRAINED &&
			    z->switch_to[0] == '\0') {
				drain_zone(st, z, now, p, r);
			}
			continue;
		}
		const coord_node_t *c = best_candidate(st, z, now, p, NULL);
		if (c != NULL &&
		    (now >= zone_blocked(st, z) || strcmp(c->id, previous_holder(z)) == 0)) {
			effect(r, COORD_EFF_LEASE_FREE, z, c->id,
			       "zone %s: no active node; %s (site %c) should request the lease",
			       z->name, c->id, site_name(c->site));
		}
	}
}

/* ---- the machine ---- */

static bool zero_or_name(const char *s, size_t max)
{
	return name_ok(s, max, true);
}

void coord_state_params(const coord_state_t *state, const coord_params_t *params,
			coord_params_t *out)
{
	if (out == NULL) {
		return;
	}
	if (params == NULL) {
		memset(out, 0, sizeof(*out));
		return;
	}
	*out = *params;
	if (state != NULL && state->lease_ms != 0) {
		out->lease_ms = state->lease_ms;
		out->margin_ms = state->margin_ms;
	}
}

int coord_state_check(const coord_state_t *state, const coord_params_t *process_params)
{
	coord_params_t pp;
	coord_state_params(state, process_params, &pp);
	const coord_params_t *params = &pp;
	if (state == NULL || process_params == NULL || coord_params_check(params) != TANDEM_OK ||
	    (state->lease_ms == 0) != (state->margin_ms == 0)) {
		return TANDEM_COORD_ESTATE;
	}
	const coord_state_t *st = state;
	uint32_t all_sites = (1u << params->nsites) - 1;
	if (st->nnodes > COORD_NODES_MAX || st->nzones > COORD_ZONES_MAX ||
	    (st->suspended_sites & ~all_sites) != 0 || st->suspended_sites == all_sites) {
		return TANDEM_COORD_ESTATE;
	}
	for (uint32_t i = 0; i < st->nnodes; i++) {
		const coord_node_t *n = &st->nodes[i];
		if (!name_ok(n->id, sizeof(n->id), false) || n->site >= params->nsites ||
		    !text_ok(n->publish, sizeof(n->publish)) ||
		    !text_ok(n->metrics, sizeof(n->metrics)) ||
		    !text_ok(n->axfr, sizeof(n->axfr)) || n->state > COORD_NODE_STATE_LAST ||
		    n->no >= st->next_node_no || !instance_ok(n->instance) ||
		    !instance_ok(n->rival) || !alerts_ok(n->nalerts, n->alerts)) {
			return TANDEM_COORD_ESTATE;
		}
		for (uint32_t j = 0; j < i; j++) {
			if (strcmp(st->nodes[j].id, n->id) == 0 || st->nodes[j].no == n->no ||
			    memcmp(st->nodes[j].curve_pub, n->curve_pub, COORD_CURVE_KEY_LEN) ==
				0) {
				return TANDEM_COORD_ESTATE;
			}
		}
	}
	for (uint32_t i = 0; i < st->nzones; i++) {
		const coord_zone_t *z = &st->zones[i];
		if (!name_ok(z->name, sizeof(z->name), false) ||
		    !zero_or_name(z->holder, sizeof(z->holder)) ||
		    !zero_or_name(z->last_holder, sizeof(z->last_holder)) ||
		    !zero_or_name(z->switch_to, sizeof(z->switch_to)) ||
		    !zero_or_name(z->committed_by, sizeof(z->committed_by)) ||
		    !zero_or_name(z->alert_node, sizeof(z->alert_node)) ||
		    z->nreports > COORD_NODES_MAX || z->nkeys > COORD_KEYS_MAX ||
		    z->committed_epoch > z->epoch || z->committed_salt_len > COORD_SALT_MAX ||
		    z->committed_keyset_revision < 0) {
			return TANDEM_COORD_ESTATE;
		}
		if ((z->holder[0] != '\0' && node_index(st, z->holder) < 0) ||
		    (z->switch_to[0] != '\0' && node_index(st, z->switch_to) < 0) ||
		    (z->holder[0] != '\0' && z->epoch == 0)) {
			return TANDEM_COORD_ESTATE;
		}
		for (uint32_t j = 0; j < i; j++) {
			if (strcmp(st->zones[j].name, z->name) == 0) {
				return TANDEM_COORD_ESTATE;
			}
		}
		for (uint32_t k = 0; k < z->nreports; k++) {
			if (!name_ok(z->reports[k].node, sizeof(z->reports[k].node), false) ||
			    !text_ok(z->reports[k].why, sizeof(z->reports[k].why))) {
				return TANDEM_COORD_ESTATE;
			}
		}
		for (uint32_t k = 0; k < z->nkeys; k++) {
			const coord_key_t *key = &z->keys[k];
			if (key->nacks > COORD_NODES_MAX || key->ndestroyed > COORD_NODES_MAX ||
			    (key->ndestroyed > 0 && !key->retired)) {
				return TANDEM_COORD_ESTATE;
			}
			for (uint32_t a = 0; a < key->ndestroyed; a++) {
				if (key->destroyed[a].site >= COORD_SITES_MAX) {
					return TANDEM_COORD_ESTATE;
				}
			}
			for (uint32_t a = 0; a < key->nacks; a++) {
				if (key->acks[a].site >= COORD_SITES_MAX) {
					return TANDEM_COORD_ESTATE;
				}
			}
			for (uint32_t j = 0; j < k; j++) {
				if (z->keys[j].id == key->id) {
					return TANDEM_COORD_ESTATE;
				}
			}
		}
	}
	return TANDEM_OK;
}

size_t coord_state_used(const coord_state_t *state)
{
	uint32_t n = state->nzones < COORD_ZONES_MAX ? state->nzones : COORD_ZONES_MAX;
	return offsetof(coord_state_t, zones) + (size_t)n * sizeof(state->zones[0]);
}

void coord_state_copy(coord_state_t *dst, const coord_state_t *src)
{
	if (dst != src) {
		memcpy(dst, src, coord_state_used(src));
	}
}

int coord_state_init(coord_state_t *state)
{
	if (state == NULL) {
		return TANDEM_EINVAL;
	}
	memset(state, 0, offsetof(coord_state_t, zones));
	state->next_node_no = 1;
	return TANDEM_OK;
}

/* Input names must be sound before they are looked up or copied. */
static bool input_ok(const coord_input_t *in)
{
	bool node = name_ok(in->node, sizeof(in->node), false);
	bool zone = name_ok(in->zone, sizeof(in->zone), false);
	bool target = name_ok(in->target, sizeof(in->target), false);
	if (!instance_ok(in->instance)) {
		return false;
	}
	switch (in->kind) {
	case COORD_IN_NODE_REGISTER:
		return node && text_ok(in->publish, sizeof(in->publish)) &&
		       text_ok(in->metrics, sizeof(in->metrics)) &&
		       text_ok(in->axfr, sizeof(in->axfr)) && alerts_ok(in->nalerts, in->alerts);
	case COORD_IN_NODE_HEARTBEAT: return node && alerts_ok(in->nalerts, in->alerts);
	case COORD_IN_NODE_REMOVE:
	case COORD_IN_DRAIN:
	case COORD_IN_UNDRAIN: return node;
	case COORD_IN_LEASE_REQUEST:
	case COORD_IN_LEASE_RENEW:
	case COORD_IN_LEASE_RELEASE:
	case COORD_IN_KEY_DESTROYED:
	case COORD_IN_KEY_ACK: return node && zone;
	case COORD_IN_DIGEST_REPORT: return node && zone && text_ok(in->why, sizeof(in->why));
	case COORD_IN_COMMIT:
		return node && zone && in->salt_len <= COORD_SALT_MAX && in->keyset_revision >= 0;
	case COORD_IN_KEY_ADD: return zone && (in->node[0] == '\0' || node);
	case COORD_IN_KEY_ACTIVATE:
	case COORD_IN_KEY_REMOVE:
	case COORD_IN_KEY_PURGE:
	case COORD_IN_ZONE_ADD:
	case COORD_IN_ZONE_REMOVE:
	case COORD_IN_ZONE_ACCEPT_INPUT:
	case COORD_IN_ZONE_APPROVE:
	case COORD_IN_ZONE_REJECT: return zone;
	case COORD_IN_SWITCHOVER: return zone && target;
	case COORD_IN_PARAMS_SET:
	case COORD_IN_SITE_SUSPEND:
	case COORD_IN_SITE_RESUME:
	case COORD_IN_TAKEOVER:
	case COORD_IN_TICK: return true;
	}
	return false;
}

/* Refuses a zone name an operator gives that is not a DNS name (tandem_dname_valid):
 * zone add, switchover, accept-input; a zone remove may also name a zone the state holds
 * as it is (one added before names were checked). */
static bool zone_name_ok(const coord_state_t *st, const char *name, bool existing_ok,
			 coord_result_t *r)
{
	char why[120], shown[100];
	if (tandem_dname_valid(name, why, sizeof(why))) {
		return true;
	}
	for (uint32_t i = 0; existing_ok && i < st->nzones; i++) {
		if (strcmp(st->zones[i].name, name) == 0) {
			return true;
		}
	}
	refuse(r, COORD_R_BAD_INPUT, "zone name '%s': %s",
	       tandem_escape(shown, sizeof(shown), name), why);
	return false;
}

/* The same for member names (tandem_id_valid): register, drain, undrain, switchover
 * target; node remove may name any member as it is. */
static bool node_name_ok(const coord_state_t *st, const char *name, bool existing_ok,
			 coord_result_t *r)
{
	char why[120], shown[100];
	if (tandem_id_valid(name, why, sizeof(why))) {
		return true;
	}
	if (existing_ok && node_index(st, name) >= 0) {
		return true;
	}
	refuse(r, COORD_R_BAD_INPUT, "node name '%s': %s",
	       tandem_escape(shown, sizeof(shown), name), why);
	return false;
}

/* The names an input brings in, checked before anything else looks at them. */
static bool input_names_ok(const coord_state_t *st, const coord_input_t *in, coord_result_t *r)
{
	switch (in->kind) {
	case COORD_IN_ZONE_ADD:
	case COORD_IN_ZONE_ACCEPT_INPUT:
	case COORD_IN_ZONE_APPROVE:
	case COORD_IN_ZONE_REJECT: return zone_name_ok(st, in->zone, false, r);
	case COORD_IN_ZONE_REMOVE: return zone_name_ok(st, in->zone, true, r);
	case COORD_IN_SWITCHOVER:
		return zone_name_ok(st, in->zone, false, r) &&
		       node_name_ok(st, in->target, false, r);
	case COORD_IN_NODE_REGISTER:
	case COORD_IN_DRAIN:
	case COORD_IN_UNDRAIN: return node_name_ok(st, in->node, false, r);
	case COORD_IN_NODE_REMOVE: return node_name_ok(st, in->node, true, r);
	default: return true;
	}
}

/* A refused instance is remembered on its node (for status), at most once a second. */
static void rival_note(coord_state_t *st, const coord_input_t *in, uint64_t now)
{
	coord_node_t *n = node_find(st, in->node);
	if (n != NULL && instance_ok(in->instance) &&
	    (strcmp(n->rival, in->instance) != 0 || now >= n->rival_ms + 1000)) {
		set_str(n->rival, sizeof(n->rival), in->instance);
		n->rival_ms = now;
	}
}

/* Resets the decision part of a result; effects are written as they are added. */
static void result_reset(coord_result_t *r)
{
	r->reason = COORD_R_OK;
	memset(r->text, 0, sizeof(r->text));
	r->changed = false;
	r->epoch = 0;
	r->expiry_ms = 0;
	r->neffects = 0;
	r->dropped = 0;
}

int coord_state_apply(const coord_state_t *in, const coord_input_t *input, uint64_t now_ms,
		      const coord_params_t *params, coord_state_t *out, coord_result_t *res)
{
	int ret = TANDEM_OK;
	coord_state_t *scratch = NULL;
	if (in == NULL || input == NULL || out == NULL || res == NULL ||
	    coord_params_check(params) != TANDEM_OK || (unsigned)input->kind > COORD_IN_LAST) {
		return TANDEM_EINVAL;
	}
	ret = coord_state_check(in, params);
	if (ret != TANDEM_OK) {
		goto out;
	}
	/* the cluster's lease and margin, as the state has them */
	coord_params_t cp;
	coord_state_params(in, params, &cp);
	params = &cp;
	/* Decide in out itself unless it is in: then in a copy, which refusals and the
	 * `changed` test compare against. Nothing can fail once out is touched. */
	coord_state_t *st = out;
	if (out == in) {
		scratch = malloc(sizeof(*scratch));
		if (scratch == NULL) {
			ret = TANDEM_ENOMEM;
			goto out;
		}
		st = scratch;
	}
	coord_state_copy(st, in);
	coord_result_t *r = res;
	result_reset(r);
	if (!input_names_ok(st, input, r)) {
		goto decided;
	}
	if (!input_ok(input)) {
		refuse(r, COORD_R_BAD_INPUT,
		       "%s: missing or malformed name, address, salt, instance or alert",
		       coord_input_kind_str(input->kind));
		goto decided;
	}
	switch (input->kind) {
	case COORD_IN_NODE_REGISTER: do_register(st, input, now_ms, params, r); break;
	case COORD_IN_NODE_HEARTBEAT: do_heartbeat(st, input, now_ms, r); break;
	case COORD_IN_NODE_REMOVE: do_node_remove(st, input, r); break;
	case COORD_IN_LEASE_REQUEST: do_lease_request(st, input, now_ms, params, r); break;
	case COORD_IN_LEASE_RENEW: do_lease_renew(st, input, now_ms, params, r); break;
	case COORD_IN_LEASE_RELEASE: do_lease_release(st, input, now_ms, params, r); break;
	case COORD_IN_COMMIT: do_commit(st, input, now_ms, params, r); break;
	case COORD_IN_DIGEST_REPORT: do_digest_report(st, input, now_ms, r); break;
	case COORD_IN_KEY_ADD: do_key_add(st, input, r); break;
	case COORD_IN_KEY_ACK: do_key_ack(st, input, params, r); break;
	case COORD_IN_KEY_ACTIVATE: do_key_activate(st, input, params, r); break;
	case COORD_IN_KEY_REMOVE: do_key_remove(st, input, now_ms, r); break;
	case COORD_IN_KEY_DESTROYED: do_key_destroyed(st, input, r); break;
	case COORD_IN_KEY_PURGE: do_key_purge(st, input, now_ms, r); break;
	case COORD_IN_SITE_SUSPEND: do_site(st, input, now_ms, params, true, r); break;
	case COORD_IN_SITE_RESUME: do_site(st, input, now_ms, params, false, r); break;
	case COORD_IN_SWITCHOVER: do_switchover(st, input, now_ms, params, r); break;
	case COORD_IN_DRAIN: do_drain(st, input, now_ms, params, true, r); break;
	case COORD_IN_UNDRAIN: do_drain(st, input, now_ms, params, false, r); break;
	case COORD_IN_TAKEOVER: do_takeover(st, input, params, r); break;
	case COORD_IN_ZONE_ADD: do_zone_add(st, input, params, r); break;
	case COORD_IN_ZONE_REMOVE: do_zone_remove(st, input, params, r); break;
	case COORD_IN_TICK: do_tick(st, now_ms, params, r); break;
	case COORD_IN_ZONE_ACCEPT_INPUT: do_zone_accept_input(st, input, r); break;
	case COORD_IN_ZONE_APPROVE:
	case COORD_IN_ZONE_REJECT: do_zone_review(st, input, r); break;
	case COORD_IN_PARAMS_SET: do_params_set(st, input, now_ms, params, r); break;
	}
decided:
	if (r->reason != COORD_R_OK) {
		/* handlers refuse before they change anything; make sure of it */
		coord_state_copy(st, in);
		r->neffects = 0;
		r->dropped = 0;
		r->epoch = 0;
		r->expiry_ms = 0;
		if (r->reason == COORD_R_INSTANCE) {
			/* the one refusal that is recorded: status shows the rival process */
			rival_note(st, input, now_ms);
		}
	} else if (r->text[0] == '\0') {
		note(r, "%s: %s", coord_input_kind_str(input->kind), coord_reason_str(r->reason));
	}
	r->changed = st->nzones != in->nzones || memcmp(st, in, coord_state_used(in)) != 0;
	if (scratch != NULL) {
		coord_state_copy(out, scratch);
	}
out:
	free(scratch);
	return ret;
}

static void earliest(uint64_t *best, uint64_t t, uint64_t now)
{
	if (t > now && (*best == 0 || t < *best)) {
		*best = t;
	}
}

uint64_t coord_state_next_event(const coord_state_t *state, const coord_params_t *params,
				uint64_t now_ms)
{
	uint64_t best = 0;
	if (state == NULL || params == NULL || state->nzones > COORD_ZONES_MAX ||
	    state->nnodes > COORD_NODES_MAX) {
		return 0;
	}
	for (uint32_t i = 0; i < state->nzones; i++) {
		const coord_zone_t *z = &state->zones[i];
		if (z->holder[0] != '\0') {
			earliest(&best, coord_zone_expiry(state, z), now_ms);
		}
		if (z->removed) {
			continue;
		}
		earliest(&best, zone_blocked(state, z), now_ms);
		earliest(&best, zone_prefer(state, z, params), now_ms);
	}
	for (uint32_t i = 0; i < state->nnodes; i++) {
		const coord_node_t *n = &state->nodes[i];
		if (n->state != COORD_NODE_FENCED && n->healthy) {
			/* the first instant the node counts as silent */
			earliest(&best, n->last_seen_ms + params->node_timeout_ms + 1, now_ms);
		}
	}
	return best;
}
