/* Unit tests of coordrpc: every kind and reply through pack and unpack, every refusal of
 * untrusted bytes, and the client calls against a real RPC server. */
#include "coordrpc.h"
#include "coordrpc.pb-c.h"
#include "net_allow.h"
#include "net_key.h"
#include "net_rpc.h"
#include "tandem_diag.h"
#include "tandem_error.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static tandem_diag_t *D;

static void setup(void)
{
	ck_assert_int_eq(tandem_diag_new(&D), TANDEM_OK);
}

static void teardown(void)
{
	tandem_diag_free(D);
	D = NULL;
}

/* Whether some diag message contains every one of the words. */
static bool diag_has(const char *a, const char *b)
{
	for (size_t i = 0; tandem_diag_msg(D, i) != NULL; i++) {
		const char *m = tandem_diag_msg(D, i);
		if (strstr(m, a) != NULL && (b == NULL || strstr(m, b) != NULL)) {
			return true;
		}
	}
	return false;
}

#define INSTANCE "0123456789abcdef0123456789abcdef"

/* n alerts, each field different, the largest fields first. */
static void alerts_fill(coordrpc_alert_t *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		if (i == 0) {
			memset(a[i].zone, 'z', sizeof(a[i].zone) - 1);
			memset(a[i].kind, '-', sizeof(a[i].kind) - 1);
			memset(a[i].text, '~', sizeof(a[i].text) - 1);
		} else {
			if (i % 3 != 1) { /* some node-wide */
				snprintf(a[i].zone, sizeof(a[i].zone), "zone%zu.example.", i);
			}
			snprintf(a[i].kind, sizeof(a[i].kind), "%s",
				 i % 2 == 0 ? "input-refused" : "hsm");
			snprintf(a[i].text, sizeof(a[i].text), "alert %zu: \"%s\" (not 100%%)", i,
				 "quoted");
		}
		a[i].blocking = i % 2 == 1;
	}
}

/* Every field set, so that a round trip shows which ones a kind carries. */
static void request_fill(coordrpc_kind_t kind, coordrpc_request_t *r)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	snprintf(r->node, sizeof(r->node), "node-a1");
	snprintf(r->zone, sizeof(r->zone), "example.jp.");
	snprintf(r->target, sizeof(r->target), "node-b1");
	snprintf(r->publish, sizeof(r->publish), "/srv/tandem/publish");
	r->site = 1;
	r->healthy = true;
	r->force = true;
	r->compare_digests = true;
	r->leaving = true; /* a lease release's only: the others must not carry it */
	r->has_serial = true;
	r->nsec3 = true;
	r->epoch = 0x100000007ull;
	r->serial = 2024010101u;
	r->sign_time = 1700000000u;
	r->input_serial = 2026112301u;
	for (size_t i = 0; i < COORD_SKR_ID_LEN; i++) {
		r->skr_id[i] = (uint8_t)(0xa0 + i);
	}
	for (size_t i = 0; i < COORD_DIGEST_LEN; i++) {
		r->policy_digest[i] = (uint8_t)(0x30 + i);
	}
	for (size_t i = 0; i < COORD_DIGEST_LEN; i++) {
		r->digest[i] = (uint8_t)(i + 1);
	}
	r->salt_len = 8;
	memcpy(r->salt, "\xde\xad\xbe\xef\x00\x01\x02\x03", 8);
	r->key_id = 70000;
	r->key_tag = 65535;
	r->archive_len = 1000;
	r->archive = malloc(r->archive_len);
	ck_assert_ptr_nonnull(r->archive);
	for (size_t i = 0; i < r->archive_len; i++) {
		r->archive[i] = (uint8_t)(i * 7);
	}
	r->keyset_revision = 0x7000000000000001ll;
	r->revision = 0x6000000000000002ll;
	r->keyset_len = 3000;
	r->keyset = malloc(r->keyset_len);
	ck_assert_ptr_nonnull(r->keyset);
	for (size_t i = 0; i < r->keyset_len; i++) {
		r->keyset[i] = (uint8_t)(i * 13);
	}
	snprintf(r->instance, sizeof(r->instance), INSTANCE);
	r->nalerts = COORDRPC_ALERTS_MAX;
	alerts_fill(r->alerts, r->nalerts);
	r->lease_ms = 30000;
	r->margin_ms = 0x100000009ull;
	r->retention_ms = 0x200000007ull;
	snprintf(r->req_id, sizeof(r->req_id), "0123456789abcdef");
	snprintf(r->action, sizeof(r->action), "takeover");
	snprintf(r->args, sizeof(r->args), "site=B");
	r->ttl_ms = 5000;
	r->has_sig = true;
	memset(r->pub, 0x11, sizeof(r->pub));
	memset(r->sig, 0x22, sizeof(r->sig));
	r->doc_len = 40;
	r->doc = malloc(r->doc_len);
	ck_assert_ptr_nonnull(r->doc);
	memset(r->doc, '{', r->doc_len);
	r->nitems = 3;
	r->items = calloc(r->nitems, sizeof(*r->items));
	ck_assert_ptr_nonnull(r->items);
	for (size_t i = 0; i < r->nitems; i++) {
		snprintf(r->items[i].zone, sizeof(r->items[i].zone), "z%zu.example.", i);
		r->items[i].epoch = 0x100000000ull + i;
		r->items[i].renew = i != 1;
	}
}

/* The request as the other side must see it: only the kind's fields. */
static void request_expect(const coordrpc_request_t *full, coordrpc_request_t *e)
{
	memset(e, 0, sizeof(*e));
	e->kind = full->kind;
	bool node = false, zone = false, epoch = false, digest = false, key = false;
	bool instance = false, alerts = false;
	switch (full->kind) {
	case COORDRPC_REGISTER:
		node = instance = alerts = true;
		e->site = full->site;
		e->healthy = full->healthy;
		memcpy(e->publish, full->publish, sizeof(e->publish));
		break;
	case COORDRPC_HEARTBEAT:
		node = instance = alerts = true;
		e->healthy = full->healthy;
		break;
	case COORDRPC_LEASE_REQUEST:
	case COORDRPC_LEASE_RENEW: node = zone = epoch = instance = true; break;
	case COORDRPC_LEASE_RELEASE:
		node = zone = epoch = instance = true;
		e->leaving = full->leaving;
		break;
	case COORDRPC_COMMIT:
		node = zone = epoch = digest = instance = true;
		e->serial = full->serial;
		e->sign_time = full->sign_time;
		e->input_serial = full->input_serial;
		e->keyset_revision = full->keyset_revision;
		memcpy(e->skr_id, full->skr_id, sizeof(e->skr_id));
		memcpy(e->policy_digest, full->policy_digest, sizeof(e->policy_digest));
		e->nsec3 = full->nsec3;
		memcpy(e->salt, full->salt, full->salt_len);
		e->salt_len = full->salt_len;
		break;
	case COORDRPC_DIGEST_REPORT:
		node = zone = digest = true;
		e->serial = full->serial;
		break;
	case COORDRPC_KEY_ADD:
		node = zone = key = true;
		e->key_tag = full->key_tag;
		e->archive = full->archive; /* compared by content */
		e->archive_len = full->archive_len;
		break;
	case COORDRPC_KEY_ACK:
	case COORDRPC_KEY_REMOVE:
	case COORDRPC_KEY_DESTROYED:
	case COORDRPC_KEY_ACTIVATE: node = zone = key = true; break;
	case COORDRPC_KEY_PURGE:
		node = zone = key = true;
		e->retention_ms = full->retention_ms;
		break;
	case COORDRPC_SITE_SUSPEND:
	case COORDRPC_SITE_RESUME: e->site = full->site; break;
	case COORDRPC_STATUS: break;
	case COORDRPC_KEYS_GET: zone = true; break;
	case COORDRPC_ZONE_ADD:
		zone = true;
		e->compare_digests = full->compare_digests;
		e->has_serial = full->has_serial;
		e->serial = full->serial;
		break;
	case COORDRPC_ZONE_REMOVE: zone = true; break;
	case COORDRPC_DRAIN:
	case COORDRPC_UNDRAIN:
	case COORDRPC_NODE_REMOVE: node = true; break;
	case COORDRPC_SWITCHOVER:
		zone = true;
		memcpy(e->target, full->target, sizeof(e->target));
		break;
	case COORDRPC_TAKEOVER:
		e->site = full->site;
		e->force = full->force;
		break;
	case COORDRPC_KEYSET_GET:
	case COORDRPC_SKR_GET: zone = true; break;
	case COORDRPC_KEYSET_PUT:
	case COORDRPC_SKR_PUT:
		node = zone = epoch = true;
		e->keyset = full->keyset; /* compared by content */
		e->keyset_len = full->keyset_len;
		e->revision = full->revision;
		break;
	case COORDRPC_ZONE_ACCEPT_INPUT:
	case COORDRPC_ZONE_APPROVE:
	case COORDRPC_ZONE_REJECT:
		zone = true;
		e->serial = full->serial;
		break;
	case COORDRPC_PARAMS_SET:
		e->lease_ms = full->lease_ms;
		e->margin_ms = full->margin_ms;
		break;
	case COORDRPC_LEASE_BATCH:
		node = instance = true;
		e->items = full->items; /* compared by content */
		e->nitems = full->nitems;
		break;
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
	case COORDRPC_POLICY_GET:
		/* one message for all of them: every field travels (the zone too) */
		zone = true;
		memcpy(e->req_id, full->req_id, sizeof(e->req_id));
		memcpy(e->action, full->action, sizeof(e->action));
		memcpy(e->args, full->args, sizeof(e->args));
		e->ttl_ms = full->ttl_ms;
		e->has_sig = full->has_sig;
		memcpy(e->pub, full->pub, sizeof(e->pub));
		memcpy(e->sig, full->sig, sizeof(e->sig));
		e->doc = full->doc; /* compared by content */
		e->doc_len = full->doc_len;
		break;
	}
	if (instance) {
		memcpy(e->instance, full->instance, sizeof(e->instance));
	}
	if (alerts) {
		e->nalerts = full->nalerts;
		memcpy(e->alerts, full->alerts, sizeof(e->alerts));
	}
	if (node) {
		memcpy(e->node, full->node, sizeof(e->node));
	}
	if (zone) {
		memcpy(e->zone, full->zone, sizeof(e->zone));
	}
	if (epoch) {
		e->epoch = full->epoch;
	}
	if (digest) {
		memcpy(e->digest, full->digest, sizeof(e->digest));
	}
	if (key) {
		e->key_id = full->key_id;
	}
}

static void request_assert_eq(const coordrpc_request_t *a, const coordrpc_request_t *b)
{
	ck_assert_int_eq(a->kind, b->kind);
	ck_assert_str_eq(a->node, b->node);
	ck_assert_str_eq(a->zone, b->zone);
	ck_assert_str_eq(a->target, b->target);
	ck_assert_str_eq(a->publish, b->publish);
	ck_assert_uint_eq(a->site, b->site);
	ck_assert_int_eq(a->healthy, b->healthy);
	ck_assert_int_eq(a->force, b->force);
	ck_assert_int_eq(a->compare_digests, b->compare_digests);
	ck_assert_int_eq(a->leaving, b->leaving);
	ck_assert_int_eq(a->has_serial, b->has_serial);
	ck_assert_int_eq(a->nsec3, b->nsec3);
	ck_assert_uint_eq(a->epoch, b->epoch);
	ck_assert_uint_eq(a->serial, b->serial);
	ck_assert_uint_eq(a->sign_time, b->sign_time);
	ck_assert_uint_eq(a->input_serial, b->input_serial);
	ck_assert_mem_eq(a->digest, b->digest, COORD_DIGEST_LEN);
	ck_assert_uint_eq(a->salt_len, b->salt_len);
	ck_assert_mem_eq(a->salt, b->salt, COORDRPC_SALT_MAX);
	ck_assert_uint_eq(a->key_id, b->key_id);
	ck_assert_uint_eq(a->key_tag, b->key_tag);
	ck_assert_uint_eq(a->archive_len, b->archive_len);
	if (a->archive_len > 0) {
		ck_assert_mem_eq(a->archive, b->archive, a->archive_len);
	}
	ck_assert_int_eq(a->keyset_revision, b->keyset_revision);
	ck_assert_mem_eq(a->skr_id, b->skr_id, COORD_SKR_ID_LEN);
	ck_assert_mem_eq(a->policy_digest, b->policy_digest, COORD_DIGEST_LEN);
	ck_assert_int_eq(a->revision, b->revision);
	ck_assert_uint_eq(a->keyset_len, b->keyset_len);
	if (a->keyset_len > 0) {
		ck_assert_mem_eq(a->keyset, b->keyset, a->keyset_len);
	}
	ck_assert_str_eq(a->instance, b->instance);
	ck_assert_uint_eq(a->nalerts, b->nalerts);
	for (size_t i = 0; i < COORDRPC_ALERTS_MAX; i++) {
		ck_assert_str_eq(a->alerts[i].zone, b->alerts[i].zone);
		ck_assert_str_eq(a->alerts[i].kind, b->alerts[i].kind);
		ck_assert_str_eq(a->alerts[i].text, b->alerts[i].text);
		ck_assert_int_eq(a->alerts[i].blocking, b->alerts[i].blocking);
	}
	ck_assert_uint_eq(a->lease_ms, b->lease_ms);
	ck_assert_uint_eq(a->margin_ms, b->margin_ms);
	ck_assert_str_eq(a->req_id, b->req_id);
	ck_assert_str_eq(a->action, b->action);
	ck_assert_str_eq(a->args, b->args);
	ck_assert_uint_eq(a->ttl_ms, b->ttl_ms);
	ck_assert_int_eq(a->has_sig, b->has_sig);
	ck_assert_mem_eq(a->pub, b->pub, sizeof(a->pub));
	ck_assert_mem_eq(a->sig, b->sig, sizeof(a->sig));
	ck_assert_uint_eq(a->doc_len, b->doc_len);
	if (a->doc_len > 0) {
		ck_assert_mem_eq(a->doc, b->doc, a->doc_len);
	}
	ck_assert_uint_eq(a->nitems, b->nitems);
	for (size_t i = 0; i < a->nitems; i++) {
		ck_assert_str_eq(a->items[i].zone, b->items[i].zone);
		ck_assert_uint_eq(a->items[i].epoch, b->items[i].epoch);
		ck_assert_int_eq(a->items[i].renew, b->items[i].renew);
	}
}

START_TEST(test_kinds)
{
	coordrpc_kind_t k;
	for (unsigned i = 0; i <= COORDRPC_KIND_LAST; i++) {
		const char *t = coordrpc_type((coordrpc_kind_t)i);
		ck_assert_str_ne(t, "?");
		ck_assert_int_eq(coordrpc_kind_from_type(t, &k), TANDEM_OK);
		ck_assert_int_eq(k, i);
		for (unsigned j = 0; j < i; j++) {
			ck_assert_str_ne(t, coordrpc_type((coordrpc_kind_t)j));
		}
	}
	ck_assert_str_eq(coordrpc_type((coordrpc_kind_t)(COORDRPC_KIND_LAST + 1)), "?");
	ck_assert_int_eq(coordrpc_kind_from_type("coord.nope", &k), TANDEM_EINVAL);
	ck_assert_int_eq(coordrpc_kind_from_type(NULL, &k), TANDEM_EINVAL);
	ck_assert_str_eq(coordrpc_type(COORDRPC_COMMIT), "coord.commit");
	ck_assert_str_eq(coordrpc_type(COORDRPC_KEYS_GET), "coord.keys.get");
	ck_assert_int_eq(coordrpc_kind_role(COORDRPC_REGISTER), NET_ROLE_NODE);
	ck_assert_int_eq(coordrpc_kind_role(COORDRPC_KEY_ACTIVATE), NET_ROLE_NODE);
	ck_assert_int_eq(coordrpc_kind_role(COORDRPC_KEY_REMOVE), NET_ROLE_NODE);
	ck_assert_str_eq(coordrpc_type(COORDRPC_KEY_REMOVE), "coord.key.remove");
	ck_assert_int_eq(coordrpc_kind_role(COORDRPC_STATUS), 0);
	ck_assert_int_eq(coordrpc_kind_role(COORDRPC_KEYS_GET), 0);
	ck_assert_int_eq(coordrpc_kind_role(COORDRPC_ZONE_ADD), NET_ROLE_OPERATOR);
	ck_assert_int_eq(coordrpc_kind_role(COORDRPC_TAKEOVER), NET_ROLE_OPERATOR);
	ck_assert_str_eq(coordrpc_type(COORDRPC_KEYSET_GET), "coord.keyset.get");
	ck_assert_str_eq(coordrpc_type(COORDRPC_KEYSET_PUT), "coord.keyset.put");
	ck_assert_str_eq(coordrpc_type(COORDRPC_SKR_GET), "coord.skr.get");
	ck_assert_str_eq(coordrpc_type(COORDRPC_SKR_PUT), "coord.skr.put");
	ck_assert_int_eq(coordrpc_kind_role(COORDRPC_SKR_PUT), 0);
	ck_assert_int_eq(coordrpc_kind_role(COORDRPC_KEYSET_GET), 0);
	ck_assert_int_eq(coordrpc_kind_role(COORDRPC_KEYSET_PUT), 0);
	ck_assert_str_eq(coordrpc_type(COORDRPC_ZONE_ACCEPT_INPUT), "coord.zone.accept-input");
	ck_assert_int_eq(coordrpc_kind_role(COORDRPC_ZONE_ACCEPT_INPUT), NET_ROLE_OPERATOR);
	ck_assert_str_eq(coordrpc_type(COORDRPC_PARAMS_SET), "coord.params.set");
	ck_assert_int_eq(coordrpc_kind_role(COORDRPC_PARAMS_SET), NET_ROLE_OPERATOR);
	ck_assert_str_eq(coord_reason_str(COORD_R_INSTANCE),
			 "another instance of the node is registered");
	ck_assert_str_eq(coord_reason_str(COORD_R_CLOCK_SKEW), "coordinator clock skewed");
	ck_assert_str_eq(coord_reason_str(COORD_R_NODE_ALERT), "node reported a blocking alert");
	ck_assert_str_eq(coord_reason_str(COORD_R_SITE_SUSPENDED), "site suspended");
	ck_assert_int_eq(COORD_R_LAST, COORD_R_NOT_HELD);
	ck_assert_str_eq(coordrpc_type(COORDRPC_SITE_SUSPEND), "coord.site.suspend");
	ck_assert_int_eq(coordrpc_kind_role(COORDRPC_SITE_SUSPEND), NET_ROLE_OPERATOR);
	ck_assert_str_eq(coordrpc_type(COORDRPC_SITE_RESUME), "coord.site.resume");
	ck_assert_int_eq(coordrpc_kind_role(COORDRPC_SITE_RESUME), NET_ROLE_OPERATOR);
	ck_assert_str_eq(coordrpc_type(COORDRPC_KEY_DESTROYED), "coord.key.destroyed");
	ck_assert_int_eq(coordrpc_kind_role(COORDRPC_KEY_DESTROYED), NET_ROLE_NODE);
	ck_assert_str_eq(coordrpc_type(COORDRPC_KEY_PURGE), "coord.key.purge");
	ck_assert_int_eq(coordrpc_kind_role(COORDRPC_KEY_PURGE), NET_ROLE_NODE);
	ck_assert_str_eq(coordrpc_node_state_str(COORD_NODE_FENCED), "fenced");
	ck_assert_str_eq(coordrpc_node_state_str(COORD_NODE_DRAINED), "drained");
	ck_assert_str_eq(coordrpc_node_state_str(COORD_NODE_UP), "up");
	coordrpc_request_deinit(NULL);
	coordrpc_keys_deinit(NULL);
	coordrpc_keyset_deinit(NULL);
}
END_TEST

START_TEST(test_request_round_trip)
{
	for (unsigned i = 0; i <= COORDRPC_KIND_LAST; i++) {
		coordrpc_request_t full, exp, got;
		uint8_t *buf = NULL;
		size_t len = 0;
		request_fill((coordrpc_kind_t)i, &full);
		request_expect(&full, &exp);
		ck_assert_int_eq(coordrpc_request_pack(&full, &buf, &len), TANDEM_OK);
		memset(&got, 0xa5, sizeof(got));
		ck_assert_int_eq(
		    coordrpc_request_unpack(coordrpc_type(full.kind), buf, len, D, &got),
		    TANDEM_OK);
		request_assert_eq(&got, &exp);
		coordrpc_request_deinit(&got);
		ck_assert_ptr_null(got.archive);
		ck_assert_ptr_null(got.keyset);
		free(buf);
		coordrpc_request_deinit(&full);
	}
	ck_assert_uint_eq(tandem_diag_count(D), 0);
}
END_TEST

/* The largest values of each field survive; empty ones come back empty. */
START_TEST(test_request_limits)
{
	coordrpc_request_t r, got;
	uint8_t *buf = NULL;
	size_t len = 0;
	request_fill(COORDRPC_COMMIT, &r);
	memset(r.node, 'n', sizeof(r.node) - 1);
	memset(r.zone, 'z', sizeof(r.zone) - 1);
	r.salt_len = COORDRPC_SALT_MAX;
	memset(r.salt, 0x5a, sizeof(r.salt));
	ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_OK);
	ck_assert_int_eq(coordrpc_request_unpack("coord.commit", buf, len, D, &got), TANDEM_OK);
	ck_assert_str_eq(got.node, r.node);
	ck_assert_str_eq(got.zone, r.zone);
	ck_assert_uint_eq(got.salt_len, COORDRPC_SALT_MAX);
	ck_assert_mem_eq(got.salt, r.salt, COORDRPC_SALT_MAX);
	free(buf);
	coordrpc_request_deinit(&r);

	request_fill(COORDRPC_KEY_ADD, &r);
	free(r.archive);
	r.archive_len = COORDRPC_ARCHIVE_MAX;
	r.archive = calloc(1, r.archive_len);
	ck_assert_ptr_nonnull(r.archive);
	ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_OK);
	ck_assert_int_eq(coordrpc_request_unpack("coord.key.add", buf, len, D, &got), TANDEM_OK);
	ck_assert_uint_eq(got.archive_len, COORDRPC_ARCHIVE_MAX);
	coordrpc_request_deinit(&got);
	free(buf);
	coordrpc_request_deinit(&r);

	/* an empty archive and salt, a zero-length body for status */
	request_fill(COORDRPC_KEY_ADD, &r);
	free(r.archive);
	r.archive = NULL;
	r.archive_len = 0;
	ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_OK);
	ck_assert_int_eq(coordrpc_request_unpack("coord.key.add", buf, len, D, &got), TANDEM_OK);
	ck_assert_ptr_null(got.archive);
	ck_assert_uint_eq(got.archive_len, 0);
	free(buf);
	coordrpc_request_deinit(&r);

	/* the largest key set, and an empty one at revision 0 */
	request_fill(COORDRPC_KEYSET_PUT, &r);
	free(r.keyset);
	r.keyset_len = COORDRPC_KEYSET_MAX;
	r.keyset = calloc(1, r.keyset_len);
	ck_assert_ptr_nonnull(r.keyset);
	r.revision = INT64_MAX;
	ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_OK);
	ck_assert_int_eq(coordrpc_request_unpack("coord.keyset.put", buf, len, D, &got), TANDEM_OK);
	ck_assert_uint_eq(got.keyset_len, COORDRPC_KEYSET_MAX);
	ck_assert_int_eq(got.revision, INT64_MAX);
	coordrpc_request_deinit(&got);
	free(buf);
	free(r.keyset);
	r.keyset = NULL;
	r.keyset_len = 0;
	r.revision = 0;
	ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_OK);
	ck_assert_int_eq(coordrpc_request_unpack("coord.keyset.put", buf, len, D, &got), TANDEM_OK);
	ck_assert_ptr_null(got.keyset);
	ck_assert_uint_eq(got.keyset_len, 0);
	ck_assert_int_eq(got.revision, 0);
	free(buf);
	coordrpc_request_deinit(&r);
}
END_TEST

START_TEST(test_request_pack_refusals)
{
	coordrpc_request_t r;
	uint8_t *buf = NULL;
	size_t len = 0;
	request_fill(COORDRPC_COMMIT, &r);
	r.kind = (coordrpc_kind_t)(COORDRPC_KIND_LAST + 1);
	ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_EINVAL);
	r.kind = COORDRPC_COMMIT;
	r.salt_len = COORDRPC_SALT_MAX + 1;
	ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_EINVAL);
	r.salt_len = 0;
	memset(r.node, 'x', sizeof(r.node));
	ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_EINVAL);
	coordrpc_request_deinit(&r);
	request_fill(COORDRPC_KEY_ADD, &r);
	r.archive_len = COORDRPC_ARCHIVE_MAX + 1;
	ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_EINVAL);
	r.archive_len = 1000;
	/* a negative revision is refused where the kind carries it, ignored elsewhere */
	r.revision = -1;
	r.keyset_revision = -1;
	ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_OK);
	free(buf);
	buf = NULL;
	r.kind = COORDRPC_COMMIT;
	ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_EINVAL);
	r.kind = COORDRPC_KEYSET_PUT;
	r.keyset_revision = 0;
	ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_EINVAL);
	r.revision = 5;
	r.keyset_len = COORDRPC_KEYSET_MAX + 1;
	ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_EINVAL);
	uint8_t *ks = r.keyset;
	r.keyset = NULL;
	r.keyset_len = 1;
	ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_EINVAL);
	r.keyset = ks;
	r.keyset_len = 3000;
	ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_OK);
	free(buf);
	buf = NULL;
	r.kind = COORDRPC_KEY_ADD;
	ck_assert_int_eq(coordrpc_request_pack(NULL, &buf, &len), TANDEM_EINVAL);
	ck_assert_int_eq(coordrpc_request_pack(&r, NULL, &len), TANDEM_EINVAL);
	ck_assert_ptr_null(buf);
	coordrpc_request_deinit(&r);
}
END_TEST

/* Packs a protobuf-c message (the test crafts what a hostile peer could send). */
static uint8_t *pb(const ProtobufCMessage *m, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(*len + 1);
	ck_assert_ptr_nonnull(buf);
	protobuf_c_message_pack(m, buf);
	return buf;
}

/* Unpacks a request that must be refused with a diag naming type and field. */
static void refused(const char *type, const uint8_t *body, size_t len, const char *field)
{
	coordrpc_request_t out;
	memset(&out, 0x5a, sizeof(out));
	tandem_diag_clear(D);
	ck_assert_int_eq(coordrpc_request_unpack(type, body, len, D, &out), TANDEM_EINVAL);
	ck_assert_msg(diag_has(type, field), "%s: no diag naming %s (got '%s')", type, field,
		      tandem_diag_msg(D, 0) ? tandem_diag_msg(D, 0) : "");
	ck_assert_uint_eq(out.site, 0x5a5a5a5au); /* untouched */
}

START_TEST(test_request_unpack_refusals)
{
	uint8_t digest[COORD_DIGEST_LEN] = {1};
	uint8_t salt[COORDRPC_SALT_MAX + 1] = {0};
	char long_node[COORD_ID_MAX + 1];
	char long_zone[COORD_ZONE_MAX + 1];
	char long_publish[COORDRPC_PUBLISH_MAX + 1];
	memset(long_node, 'n', sizeof(long_node) - 1);
	long_node[sizeof(long_node) - 1] = '\0';
	memset(long_zone, 'z', sizeof(long_zone) - 1);
	long_zone[sizeof(long_zone) - 1] = '\0';
	memset(long_publish, 'p', sizeof(long_publish) - 1);
	long_publish[sizeof(long_publish) - 1] = '\0';
	uint8_t *buf;
	size_t len;

	/* unknown type */
	coordrpc_request_t out;
	ck_assert_int_eq(coordrpc_request_unpack("coord.bogus", (const uint8_t *)"", 0, D, &out),
			 TANDEM_EINVAL);
	ck_assert(diag_has("coord.bogus", NULL));

	/* undecodable bodies, for every kind */
	static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
	for (unsigned i = 0; i <= COORDRPC_KIND_LAST; i++) {
		refused(coordrpc_type((coordrpc_kind_t)i), garbage, sizeof(garbage), "undecodable");
	}
	/* an empty body is version 0, for every kind */
	for (unsigned i = 0; i <= COORDRPC_KIND_LAST; i++) {
		refused(coordrpc_type((coordrpc_kind_t)i), NULL, 0, "version");
	}

	Tandem__CoordRegister rg = TANDEM__COORD_REGISTER__INIT;
	rg.version = 2;
	rg.node = (char *)"node-a1";
	buf = pb(&rg.base, &len);
	refused("coord.register", buf, len, "version");
	free(buf);
	rg.version = 1;
	rg.node = long_node;
	buf = pb(&rg.base, &len);
	refused("coord.register", buf, len, "node");
	free(buf);
	rg.node = (char *)"node-a1";
	rg.publish = long_publish;
	buf = pb(&rg.base, &len);
	refused("coord.register", buf, len, "publish");
	free(buf);
	rg.publish = (char *)"/srv";
	rg.site = COORD_SITES_MAX;
	buf = pb(&rg.base, &len);
	refused("coord.register", buf, len, "site");
	free(buf);

	Tandem__CoordLease ls = TANDEM__COORD_LEASE__INIT;
	ls.version = 1;
	ls.node = (char *)"node-a1";
	ls.zone = long_zone;
	buf = pb(&ls.base, &len);
	refused("coord.lease.request", buf, len, "zone");
	free(buf);

	Tandem__CoordCommit cm = TANDEM__COORD_COMMIT__INIT;
	cm.version = 1;
	cm.node = (char *)"node-a1";
	cm.zone = (char *)"jp.";
	cm.digest.data = digest;
	cm.digest.len = COORD_DIGEST_LEN - 1;
	buf = pb(&cm.base, &len);
	refused("coord.commit", buf, len, "digest");
	free(buf);
	cm.digest.len = 0;
	buf = pb(&cm.base, &len);
	refused("coord.commit", buf, len, "digest");
	free(buf);
	cm.digest.len = COORD_DIGEST_LEN;
	cm.nsec3_salt.data = salt;
	cm.nsec3_salt.len = COORDRPC_SALT_MAX + 1;
	buf = pb(&cm.base, &len);
	refused("coord.commit", buf, len, "nsec3_salt");
	free(buf);

	Tandem__CoordDigestReport dr = TANDEM__COORD_DIGEST_REPORT__INIT;
	dr.version = 1;
	dr.node = (char *)"node-a1";
	dr.zone = (char *)"jp.";
	buf = pb(&dr.base, &len);
	refused("coord.digest.report", buf, len, "digest");
	free(buf);

	Tandem__CoordKeyAdd ka = TANDEM__COORD_KEY_ADD__INIT;
	ka.version = 1;
	ka.node = (char *)"node-a1";
	ka.zone = (char *)"jp.";
	ka.key_tag = 65536;
	buf = pb(&ka.base, &len);
	refused("coord.key.add", buf, len, "key_tag");
	free(buf);
	ka.key_tag = 1;
	ka.archive.len = COORDRPC_ARCHIVE_MAX + 1;
	ka.archive.data = calloc(1, ka.archive.len);
	ck_assert_ptr_nonnull(ka.archive.data);
	buf = pb(&ka.base, &len);
	refused("coord.key.add", buf, len, "archive");
	free(buf);
	free(ka.archive.data);

	Tandem__CoordSwitchover so = TANDEM__COORD_SWITCHOVER__INIT;
	so.version = 1;
	so.zone = (char *)"jp.";
	so.target = long_node;
	buf = pb(&so.base, &len);
	refused("coord.switchover", buf, len, "target");
	free(buf);

	Tandem__CoordTakeover to = TANDEM__COORD_TAKEOVER__INIT;
	to.version = 1;
	to.site = COORD_SITES_MAX;
	to.force = true;
	buf = pb(&to.base, &len);
	refused("coord.takeover", buf, len, "site");
	free(buf);

	Tandem__CoordNodeOp no = TANDEM__COORD_NODE_OP__INIT;
	no.version = 7;
	no.node = (char *)"node-a1";
	buf = pb(&no.base, &len);
	refused("coord.drain", buf, len, "version");
	free(buf);

	cm.nsec3_salt.len = 0;
	cm.keyset_revision = -1;
	buf = pb(&cm.base, &len);
	refused("coord.commit", buf, len, "keyset_revision");
	free(buf);
	cm.keyset_revision = 0;
	cm.skr_id.len = 5;
	cm.skr_id.data = (uint8_t *)"\x01\x02\x03\x04\x05";
	buf = pb(&cm.base, &len);
	refused("coord.commit", buf, len, "skr_id");
	free(buf);
	cm.skr_id.len = 0;
	cm.policy_digest.len = 31; /* a SHA-256 or nothing */
	cm.policy_digest.data = (uint8_t *)"0123456789012345678901234567890";
	buf = pb(&cm.base, &len);
	refused("coord.commit", buf, len, "policy_digest");
	free(buf);
	cm.policy_digest.len = 0;

	Tandem__CoordKeysetRequest kg = TANDEM__COORD_KEYSET_REQUEST__INIT;
	kg.version = 1;
	kg.zone = long_zone;
	buf = pb(&kg.base, &len);
	refused("coord.keyset.get", buf, len, "zone");
	free(buf);

	Tandem__CoordKeysetPut kp = TANDEM__COORD_KEYSET_PUT__INIT;
	kp.version = 1;
	kp.zone = (char *)"jp.";
	kp.node = long_node;
	buf = pb(&kp.base, &len);
	refused("coord.keyset.put", buf, len, "node");
	free(buf);
	kp.node = (char *)"node-a1";
	kp.revision = -1;
	buf = pb(&kp.base, &len);
	refused("coord.keyset.put", buf, len, "revision");
	free(buf);
	kp.revision = 3;
	kp.keyset.len = COORDRPC_KEYSET_MAX + 1;
	kp.keyset.data = calloc(1, kp.keyset.len);
	ck_assert_ptr_nonnull(kp.keyset.data);
	buf = pb(&kp.base, &len);
	refused("coord.keyset.put", buf, len, "keyset");
	free(buf);
	free(kp.keyset.data);

	/* a message of another type decodes as protobuf but its fields are checked */
	Tandem__CoordKeysRequest kr = TANDEM__COORD_KEYS_REQUEST__INIT;
	kr.version = 1;
	kr.zone = long_zone;
	buf = pb(&kr.base, &len);
	refused("coord.keys.get", buf, len, "zone");
	free(buf);
}
END_TEST

START_TEST(test_instance_alert_valid)
{
	ck_assert(coordrpc_instance_valid(""));
	ck_assert(coordrpc_instance_valid(INSTANCE));
	ck_assert(!coordrpc_instance_valid(NULL));
	ck_assert(!coordrpc_instance_valid("0123456789abcdef0123456789abcde"));   /* 31 */
	ck_assert(!coordrpc_instance_valid("0123456789abcdef0123456789abcdef0")); /* 33 */
	ck_assert(!coordrpc_instance_valid("0123456789ABCDEF0123456789abcdef"));
	ck_assert(!coordrpc_instance_valid("0123456789abcdeg0123456789abcdef"));
	ck_assert(!coordrpc_instance_valid("0123456789abcde 0123456789abcdef"));
	coordrpc_alert_t a;
	alerts_fill(&a, 1);
	ck_assert(coordrpc_alert_valid(&a));
	ck_assert(!coordrpc_alert_valid(NULL));
	static const char *bad_kinds[] = {"", "Hsm", "disk0", "in put", "lock\n", "input_held"};
	for (size_t i = 0; i < sizeof(bad_kinds) / sizeof(bad_kinds[0]); i++) {
		alerts_fill(&a, 1);
		snprintf(a.kind, sizeof(a.kind), "%s", bad_kinds[i]);
		ck_assert_msg(!coordrpc_alert_valid(&a), "kind '%s' accepted", bad_kinds[i]);
	}
	alerts_fill(&a, 1);
	memset(a.kind, 'a', sizeof(a.kind)); /* unterminated */
	ck_assert(!coordrpc_alert_valid(&a));
	alerts_fill(&a, 1);
	snprintf(a.text, sizeof(a.text), "line\n12:00:00 tandem-coord: takeover accepted");
	ck_assert(!coordrpc_alert_valid(&a));
	snprintf(a.text, sizeof(a.text), "caf\xc3\xa9");
	ck_assert(!coordrpc_alert_valid(&a));
	snprintf(a.text, sizeof(a.text), "del\x7f");
	ck_assert(!coordrpc_alert_valid(&a));
	alerts_fill(&a, 1);
	snprintf(a.zone, sizeof(a.zone), "a\tb.");
	ck_assert(!coordrpc_alert_valid(&a));
}
END_TEST

/* Packing refuses what unpacking would refuse: bad instances and alerts, where the kind
 * carries them; elsewhere they are ignored. */
START_TEST(test_request_pack_instance_alerts)
{
	coordrpc_request_t r;
	uint8_t *buf = NULL;
	size_t len = 0;
	static const coordrpc_kind_t with_instance[] = {
	    COORDRPC_REGISTER,    COORDRPC_HEARTBEAT,     COORDRPC_LEASE_REQUEST,
	    COORDRPC_LEASE_RENEW, COORDRPC_LEASE_RELEASE, COORDRPC_COMMIT};
	for (size_t i = 0; i < sizeof(with_instance) / sizeof(with_instance[0]); i++) {
		request_fill(with_instance[i], &r);
		snprintf(r.instance, sizeof(r.instance), "0123456789ABCDEF0123456789abcdef");
		ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_EINVAL);
		snprintf(r.instance, sizeof(r.instance), "abc");
		ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_EINVAL);
		r.instance[0] = '\0'; /* none: allowed */
		ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_OK);
		free(buf);
		buf = NULL;
		coordrpc_request_deinit(&r);
	}
	static const coordrpc_kind_t with_alerts[] = {COORDRPC_REGISTER, COORDRPC_HEARTBEAT};
	for (size_t i = 0; i < 2; i++) {
		request_fill(with_alerts[i], &r);
		r.nalerts = COORDRPC_ALERTS_MAX + 1;
		ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_EINVAL);
		r.nalerts = 3;
		snprintf(r.alerts[2].kind, sizeof(r.alerts[2].kind), "Disk");
		ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_EINVAL);
		snprintf(r.alerts[2].kind, sizeof(r.alerts[2].kind), "disk");
		snprintf(r.alerts[2].text, sizeof(r.alerts[2].text), "a\nb");
		ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_EINVAL);
		r.nalerts = 2; /* the bad one is beyond the count: not looked at */
		ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_OK);
		free(buf);
		buf = NULL;
		r.nalerts = 0;
		ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_OK);
		free(buf);
		buf = NULL;
		coordrpc_request_deinit(&r);
	}
	/* a kind that does not carry them ignores them */
	request_fill(COORDRPC_ZONE_ADD, &r);
	snprintf(r.instance, sizeof(r.instance), "nope");
	r.nalerts = COORDRPC_ALERTS_MAX + 5;
	ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_OK);
	free(buf);
	coordrpc_request_deinit(&r);
}
END_TEST

/* What a hostile node could send in the new fields. */
START_TEST(test_request_unpack_instance_alerts)
{
	uint8_t *buf;
	size_t len;
	static const char *bad_instances[] = {
	    "0123456789abcdef0123456789abcde",  "0123456789abcdef0123456789abcdef0",
	    "0123456789ABCDEF0123456789abcdef", "0123456789abcdef01234567\n9abcdef",
	    "g123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef0123456789"};
	for (size_t i = 0; i < sizeof(bad_instances) / sizeof(bad_instances[0]); i++) {
		char *inst = (char *)bad_instances[i];
		Tandem__CoordRegister rg = TANDEM__COORD_REGISTER__INIT;
		rg.version = 1;
		rg.node = (char *)"node-a1";
		rg.instance = inst;
		buf = pb(&rg.base, &len);
		refused("coord.register", buf, len, "instance");
		free(buf);
		Tandem__CoordHeartbeat hb = TANDEM__COORD_HEARTBEAT__INIT;
		hb.version = 1;
		hb.node = (char *)"node-a1";
		hb.instance = inst;
		buf = pb(&hb.base, &len);
		refused("coord.heartbeat", buf, len, "instance");
		free(buf);
		Tandem__CoordLease ls = TANDEM__COORD_LEASE__INIT;
		ls.version = 1;
		ls.node = (char *)"node-a1";
		ls.zone = (char *)"jp.";
		ls.instance = inst;
		buf = pb(&ls.base, &len);
		refused("coord.lease.renew", buf, len, "instance");
		refused("coord.lease.release", buf, len, "instance");
		free(buf);
		uint8_t digest[COORD_DIGEST_LEN] = {1};
		Tandem__CoordCommit cm = TANDEM__COORD_COMMIT__INIT;
		cm.version = 1;
		cm.node = (char *)"node-a1";
		cm.zone = (char *)"jp.";
		cm.digest.data = digest;
		cm.digest.len = COORD_DIGEST_LEN;
		cm.instance = inst;
		buf = pb(&cm.base, &len);
		refused("coord.commit", buf, len, "instance");
		free(buf);
	}

	/* alerts: too many, and each bad field */
	Tandem__CoordAlert al[COORDRPC_ALERTS_MAX + 1], *ap[COORDRPC_ALERTS_MAX + 1];
	for (size_t i = 0; i <= COORDRPC_ALERTS_MAX; i++) {
		tandem__coord_alert__init(&al[i]);
		al[i].zone = (char *)"jp.";
		al[i].kind = (char *)"input-held";
		al[i].text = (char *)"held: 3 delegations removed";
		ap[i] = &al[i];
	}
	char long_kind[COORDRPC_ALERT_KIND_MAX + 1];
	memset(long_kind, 'k', sizeof(long_kind) - 1);
	long_kind[sizeof(long_kind) - 1] = '\0';
	char long_text[COORD_TEXT_MAX + 1];
	memset(long_text, 't', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	char long_zone[COORD_ZONE_MAX + 1];
	memset(long_zone, 'z', sizeof(long_zone) - 1);
	long_zone[sizeof(long_zone) - 1] = '\0';
	struct {
		const char *field;
		size_t n;
		const char *zone, *kind, *text;
	} cases[] = {
	    {"alerts", COORDRPC_ALERTS_MAX + 1, "jp.", "hsm", "x"},
	    {"alerts.kind", 1, "jp.", "", "x"},
	    {"alerts.kind", 1, "jp.", "HSM", "x"},
	    {"alerts.kind", 1, "jp.", "disk2", "x"},
	    {"alerts.kind", 1, "jp.", "input_held", "x"},
	    {"alerts.kind", 1, "jp.", long_kind, "x"},
	    {"alerts.text", 1, "jp.", "hsm", long_text},
	    {"alerts.text", 1, "jp.", "hsm", "forged\n00:00 tandem-coord: takeover accepted"},
	    {"alerts.text", 1, "jp.", "hsm", "esc\x1b[2J"},
	    {"alerts.text", 1, "jp.", "hsm", "utf8 \xc3\xa9"},
	    {"alerts.zone", 1, long_zone, "hsm", "x"},
	    {"alerts.zone", 1, "a\rb.", "hsm", "x"},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		al[0].zone = (char *)cases[c].zone;
		al[0].kind = (char *)cases[c].kind;
		al[0].text = (char *)cases[c].text;
		Tandem__CoordHeartbeat hb = TANDEM__COORD_HEARTBEAT__INIT;
		hb.version = 1;
		hb.node = (char *)"node-a1";
		hb.instance = (char *)INSTANCE;
		hb.n_alerts = cases[c].n;
		hb.alerts = ap;
		buf = pb(&hb.base, &len);
		refused("coord.heartbeat", buf, len, cases[c].field);
		free(buf);
		Tandem__CoordRegister rg = TANDEM__COORD_REGISTER__INIT;
		rg.version = 1;
		rg.node = (char *)"node-a1";
		rg.n_alerts = cases[c].n;
		rg.alerts = ap;
		buf = pb(&rg.base, &len);
		refused("coord.register", buf, len, cases[c].field);
		free(buf);
	}
	/* the most there may be, with an empty zone (node-wide) and text, is accepted */
	al[0].zone = (char *)"";
	al[0].kind = (char *)"hsm";
	al[0].text = (char *)"";
	al[0].blocking = true;
	Tandem__CoordHeartbeat hb = TANDEM__COORD_HEARTBEAT__INIT;
	hb.version = 1;
	hb.node = (char *)"node-a1";
	hb.n_alerts = COORDRPC_ALERTS_MAX;
	hb.alerts = ap;
	buf = pb(&hb.base, &len);
	coordrpc_request_t got;
	ck_assert_int_eq(coordrpc_request_unpack("coord.heartbeat", buf, len, D, &got), TANDEM_OK);
	ck_assert_uint_eq(got.nalerts, COORDRPC_ALERTS_MAX);
	ck_assert_str_eq(got.alerts[0].zone, "");
	ck_assert_str_eq(got.alerts[0].kind, "hsm");
	ck_assert(got.alerts[0].blocking);
	ck_assert_str_eq(got.alerts[1].kind, "input-held");
	ck_assert(!got.alerts[1].blocking);
	ck_assert_str_eq(got.instance, "");
	free(buf);
}
END_TEST

static void decision_fill(coordrpc_decision_t *d)
{
	memset(d, 0, sizeof(*d));
	d->accepted = false;
	d->reason = COORD_R_KEY_NOT_ACKED;
	snprintf(d->text, sizeof(d->text), "key 7 of jp.: site B has not imported it");
	d->epoch = 12;
	d->expiry_ms = 1700000010000ull;
	d->revision = 0x10000000007ll;
	d->neffects = COORDRPC_EFFECTS_MAX;
	for (size_t i = 0; i < d->neffects; i++) {
		snprintf(d->effects[i], sizeof(d->effects[i]), "effect %zu", i);
	}
}

START_TEST(test_decision_round_trip)
{
	coordrpc_decision_t d, got;
	uint8_t *buf = NULL;
	size_t len = 0;
	decision_fill(&d);
	ck_assert_int_eq(coordrpc_decision_pack(&d, &buf, &len), TANDEM_OK);
	ck_assert_int_eq(coordrpc_decision_unpack(buf, len, D, &got), TANDEM_OK);
	ck_assert_int_eq(memcmp(&got, &d, sizeof(d)), 0);
	free(buf);

	d.accepted = true;
	d.reason = COORD_R_OK;
	d.neffects = 0;
	ck_assert_int_eq(coordrpc_decision_pack(&d, &buf, &len), TANDEM_OK);
	ck_assert_int_eq(coordrpc_decision_unpack(buf, len, D, &got), TANDEM_OK);
	ck_assert(got.accepted);
	ck_assert_uint_eq(got.neffects, 0);
	free(buf);

	/* a document (request.get, operators.get) travels, owned by the unpacked copy */
	d.doc = (uint8_t *)"{\"version\":1}";
	d.doc_len = 13;
	ck_assert_int_eq(coordrpc_decision_pack(&d, &buf, &len), TANDEM_OK);
	ck_assert_int_eq(coordrpc_decision_unpack(buf, len, D, &got), TANDEM_OK);
	ck_assert_uint_eq(got.doc_len, 13);
	ck_assert_mem_eq(got.doc, "{\"version\":1}", 13);
	ck_assert_ptr_ne(got.doc, d.doc);
	coordrpc_decision_deinit(&got);
	ck_assert_ptr_null(got.doc);
	free(buf);
	d.doc = NULL;
	d.doc_len = 0;

	d.neffects = COORDRPC_EFFECTS_MAX + 1;
	ck_assert_int_eq(coordrpc_decision_pack(&d, &buf, &len), TANDEM_EINVAL);

	/* refusals */
	char long_text[COORD_TEXT_MAX + 1];
	memset(long_text, 't', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	Tandem__CoordDecision m = TANDEM__COORD_DECISION__INIT;
	m.version = 2;
	buf = pb(&m.base, &len);
	ck_assert_int_eq(coordrpc_decision_unpack(buf, len, D, &got), TANDEM_EINVAL);
	ck_assert(diag_has("coord.decision", "version"));
	free(buf);
	m.version = 1;
	m.reason = COORD_R_LAST + 1;
	buf = pb(&m.base, &len);
	ck_assert_int_eq(coordrpc_decision_unpack(buf, len, D, &got), TANDEM_EINVAL);
	ck_assert(diag_has("coord.decision", "reason"));
	free(buf);
	m.reason = 0;
	m.accepted = true;
	m.text = long_text;
	buf = pb(&m.base, &len);
	ck_assert_int_eq(coordrpc_decision_unpack(buf, len, D, &got), TANDEM_EINVAL);
	ck_assert(diag_has("coord.decision", "text"));
	free(buf);
	m.text = (char *)"";
	m.revision = -2;
	buf = pb(&m.base, &len);
	ck_assert_int_eq(coordrpc_decision_unpack(buf, len, D, &got), TANDEM_EINVAL);
	ck_assert(diag_has("coord.decision", "revision"));
	free(buf);
	m.revision = 0;
	char *effects[1] = {long_text};
	m.n_effects = 1;
	m.effects = effects;
	buf = pb(&m.base, &len);
	ck_assert_int_eq(coordrpc_decision_unpack(buf, len, D, &got), TANDEM_EINVAL);
	ck_assert(diag_has("coord.decision", "effects"));
	free(buf);
	/* more effects than listed are counted */
	char *many[COORDRPC_EFFECTS_MAX + 3];
	for (size_t i = 0; i < COORDRPC_EFFECTS_MAX + 3; i++) {
		many[i] = (char *)"fence node-b1";
	}
	m.n_effects = COORDRPC_EFFECTS_MAX + 3;
	m.effects = many;
	buf = pb(&m.base, &len);
	ck_assert_int_eq(coordrpc_decision_unpack(buf, len, D, &got), TANDEM_OK);
	ck_assert_uint_eq(got.neffects, COORDRPC_EFFECTS_MAX);
	ck_assert_uint_eq(got.neffects_dropped, 3);
	free(buf);
	static const uint8_t garbage[] = {0x0a, 0xff};
	ck_assert_int_eq(coordrpc_decision_unpack(garbage, sizeof(garbage), D, &got),
			 TANDEM_EINVAL);
	ck_assert(diag_has("coord.decision", "undecodable"));
}
END_TEST

/* A status as full as the arrays allow. */
static void status_fill(coordrpc_status_t *st)
{
	memset(st, 0, sizeof(*st));
	st->now_ms = 1700000000123ull;
	snprintf(st->coordinator, sizeof(st->coordinator), "coord-a");
	snprintf(st->leader, sizeof(st->leader), "coord-b");
	st->params.lease_ms = 10000;
	st->params.margin_ms = 2000;
	st->params.nsites = 2;
	st->params.serial_modulus = 2;
	st->params.site_residue[0] = 0;
	st->params.site_residue[1] = 1;
	st->nzones = COORD_ZONES_MAX;
	for (size_t i = 0; i < st->nzones; i++) {
		coordrpc_zone_status_t *z = &st->zones[i];
		snprintf(z->name, sizeof(z->name), "zone%zu.example.", i);
		snprintf(z->holder, sizeof(z->holder), "node-a%zu", i % 3);
		z->epoch = i + 1;
		z->lease_left_ms = 5000 + i;
		z->expiry_ms = st->now_ms + z->lease_left_ms;
		z->removed = i % 5 == 0;
		z->compare_digests = i % 2 == 0;
		z->has_committed = true;
		z->serial = (uint32_t)(100 + i);
		memset(z->digest, (int)i, sizeof(z->digest));
		snprintf(z->committed_by, sizeof(z->committed_by), "node-b1");
		z->committed_epoch = i % 2 == 0 ? i + 1 : i; /* the lease's, or the one before */
		z->sign_time = 1700000000 + i;
		z->input_serial = (uint32_t)(4000000000u + i);
		z->keyset_revision = i == 1 ? INT64_MAX : (int64_t)(1000 * i);
		z->keyset_now = i == 2 ? INT64_MAX : (int64_t)(2000 * i + 1);
		memset(z->skr_id, i % 3 == 0 ? 0 : (int)(0x40 + i), sizeof(z->skr_id));
		memset(z->policy_digest, i % 2 == 0 ? 0 : (int)(0x50 + i),
		       sizeof(z->policy_digest));
		z->nsec3 = true;
		z->salt_len = i % (COORDRPC_SALT_MAX + 1);
		memset(z->salt, 0xab, z->salt_len);
		snprintf(z->switch_to, sizeof(z->switch_to), "node-b2");
		z->alerts = (uint32_t)i;
		z->alert_open = true;
		z->alert_serial = 99;
		snprintf(z->alert_node, sizeof(z->alert_node), "node-b3");
		z->has_accepted_input = i % 4 == 1;
		z->accepted_input_serial = z->has_accepted_input ? (uint32_t)(2026120100u + i) : 0;
		/* issue 11: a standby's report on the committed serial, or none */
		if (i % 3 != 2) {
			z->report_serial = z->serial;
			snprintf(z->report_node, sizeof(z->report_node), "node-a%zu", i % 7);
			memset(z->report_digest, (int)(i + 1), sizeof(z->report_digest));
			z->report_match = i % 3 == 0;
		}
		z->nkeys = i < 2 ? COORD_KEYS_MAX : 1;
		for (size_t k = 0; k < z->nkeys; k++) {
			coordrpc_key_status_t *key = &z->keys[k];
			key->id = (uint32_t)(1000 + k);
			key->tag = (uint16_t)(60000 + k);
			key->active = k % 2 == 1;
			key->nacks = i == 0 ? COORD_NODES_MAX : 2;
			for (size_t a = 0; a < key->nacks; a++) {
				snprintf(key->acks[a], sizeof(key->acks[a]), "node-%zu", a);
			}
			/* issue 9: a retired key and the nodes that destroyed it */
			key->retired = k % 4 == 2;
			key->retired_ms = key->retired ? st->now_ms - 1000 * k : 0;
			key->ndestroyed = key->retired ? 2 : 0;
			for (size_t a = 0; a < key->ndestroyed; a++) {
				snprintf(key->destroyed[a], sizeof(key->destroyed[a]), "node-%zu",
					 a);
			}
		}
	}
	st->suspended_sites = 2;
	st->nnodes = COORD_NODES_MAX;
	for (size_t i = 0; i < st->nnodes; i++) {
		coordrpc_node_status_t *n = &st->nodes[i];
		snprintf(n->name, sizeof(n->name), "node-%zu", i);
		snprintf(n->publish, sizeof(n->publish), "/srv/publish/%zu", i);
		n->site = (uint32_t)(i % 2);
		n->no = (uint32_t)(i + 1);
		n->state = (coord_node_state_t)(i % 3);
		n->healthy = i % 2 == 0;
		n->last_seen_ms = st->now_ms - i;
		if (i % 2 == 0) {
			snprintf(n->instance, sizeof(n->instance), INSTANCE);
		}
		n->nalerts = COORDRPC_ALERTS_MAX;
		alerts_fill(n->alerts, n->nalerts);
		n->clock_offset_ms = i % 3 == 0 ? -(int64_t)(1000 * i) - 1 : (int64_t)i;
		n->clock_skewed = i % 3 == 0;
	}
	st->stale = true;
	st->state_age_ms = 12345;
	snprintf(st->store_error, sizeof(st->store_error), "etcd has no quorum");
	st->clock_skewed = true;
	st->ncoords = COORDRPC_COORDS_MAX;
	for (size_t i = 0; i < st->ncoords; i++) {
		snprintf(st->coords[i].name, sizeof(st->coords[i].name), "coord-%zu", i);
		st->coords[i].offset_ms = i % 2 == 0 ? -(int64_t)i * 700 : (int64_t)i;
		st->coords[i].skewed = i % 2 == 0;
		st->coords[i].seen_ms = st->now_ms - 100 * i;
	}
}

START_TEST(test_status_round_trip)
{
	coordrpc_status_t *st = calloc(1, sizeof(*st));
	coordrpc_status_t *got = calloc(1, sizeof(*got));
	ck_assert_ptr_nonnull(st);
	ck_assert_ptr_nonnull(got);
	uint8_t *buf = NULL;
	size_t len = 0;
	status_fill(st);
	ck_assert_int_eq(coordrpc_status_pack(st, &buf, &len), TANDEM_OK);
	ck_assert_uint_le(len, NET_RPC_MAX_MSG);
	ck_assert_int_eq(coordrpc_status_unpack(buf, len, D, got), TANDEM_OK);
	ck_assert_int_eq(memcmp(got, st, coordrpc_status_used(st)), 0);
	free(buf);

	/* an empty cluster */
	memset(st, 0, sizeof(*st));
	ck_assert_int_eq(coordrpc_status_pack(st, &buf, &len), TANDEM_OK);
	ck_assert_int_eq(coordrpc_status_unpack(buf, len, D, got), TANDEM_OK);
	ck_assert_int_eq(memcmp(got, st, coordrpc_status_used(st)), 0);
	free(buf);

	st->nzones = COORD_ZONES_MAX + 1;
	ck_assert_int_eq(coordrpc_status_pack(st, &buf, &len), TANDEM_EINVAL);
	/* and what its unpacking refuses, packing refuses too */
	status_fill(st);
	st->ncoords = COORDRPC_COORDS_MAX + 1;
	ck_assert_int_eq(coordrpc_status_pack(st, &buf, &len), TANDEM_EINVAL);
	status_fill(st);
	st->nodes[3].nalerts = COORDRPC_ALERTS_MAX + 1;
	ck_assert_int_eq(coordrpc_status_pack(st, &buf, &len), TANDEM_EINVAL);
	status_fill(st);
	snprintf(st->nodes[3].alerts[1].kind, sizeof(st->nodes[3].alerts[1].kind), "x y");
	ck_assert_int_eq(coordrpc_status_pack(st, &buf, &len), TANDEM_EINVAL);
	status_fill(st);
	snprintf(st->nodes[3].instance, sizeof(st->nodes[3].instance), "xyz");
	ck_assert_int_eq(coordrpc_status_pack(st, &buf, &len), TANDEM_EINVAL);
	status_fill(st);
	snprintf(st->store_error, sizeof(st->store_error), "two\nlines");
	ck_assert_int_eq(coordrpc_status_pack(st, &buf, &len), TANDEM_EINVAL);
	free(st);
	free(got);
}
END_TEST

/* A status body as a hostile coordinator could send it. */
static void status_refused(const Tandem__CoordStatus *m, const char *field)
{
	size_t len;
	uint8_t *buf = pb(&m->base, &len);
	coordrpc_status_t *got = calloc(1, sizeof(*got));
	ck_assert_ptr_nonnull(got);
	tandem_diag_clear(D);
	ck_assert_int_eq(coordrpc_status_unpack(buf, len, D, got), TANDEM_EINVAL);
	ck_assert_msg(diag_has("coord.status.reply", field), "no diag naming %s (got '%s')", field,
		      tandem_diag_msg(D, 0) ? tandem_diag_msg(D, 0) : "");
	free(got);
	free(buf);
}

START_TEST(test_status_refusals)
{
	enum { MANY = COORD_ZONES_MAX + 1 };
	static uint8_t digest[COORD_DIGEST_LEN];
	static uint8_t salt[COORDRPC_SALT_MAX + 1];
	Tandem__CoordZoneStatus zs[MANY], *zp[MANY];
	Tandem__CoordNodeStatus ns[MANY], *np[MANY];
	Tandem__CoordKeyStatus ks[MANY], *kp[MANY];
	char *acks[MANY];
	for (size_t i = 0; i < MANY; i++) {
		tandem__coord_zone_status__init(&zs[i]);
		zs[i].name = (char *)"jp.";
		zs[i].digest.data = digest;
		zs[i].digest.len = sizeof(digest);
		zp[i] = &zs[i];
		tandem__coord_node_status__init(&ns[i]);
		ns[i].name = (char *)"node-a1";
		np[i] = &ns[i];
		tandem__coord_key_status__init(&ks[i]);
		kp[i] = &ks[i];
		acks[i] = (char *)"node-a1";
	}
	Tandem__CoordStatus m = TANDEM__COORD_STATUS__INIT;
	m.version = 1;
	m.nsites = 2;
	m.serial_modulus = 2;

	m.version = 0;
	status_refused(&m, "version");
	m.version = 1;
	m.n_zones = COORD_ZONES_MAX + 1;
	m.zones = zp;
	status_refused(&m, "zones");
	m.n_zones = 1;
	m.n_nodes = COORD_NODES_MAX + 1;
	m.nodes = np;
	status_refused(&m, "nodes");
	m.n_nodes = 1;
	zs[0].n_keys = COORD_KEYS_MAX + 1;
	zs[0].keys = kp;
	status_refused(&m, "keys");
	zs[0].n_keys = 1;
	ks[0].n_acks = COORD_NODES_MAX + 1;
	ks[0].acks = acks;
	status_refused(&m, "acks");
	ks[0].n_acks = 1;
	ks[0].tag = 65536;
	status_refused(&m, "tag");
	ks[0].tag = 1;
	zs[0].digest.len = 31;
	status_refused(&m, "digest");
	zs[0].digest.len = sizeof(digest);
	zs[0].nsec3_salt.data = salt;
	zs[0].nsec3_salt.len = sizeof(salt);
	status_refused(&m, "nsec3_salt");
	zs[0].nsec3_salt.len = 0;
	ns[0].site = COORD_SITES_MAX;
	status_refused(&m, "site");
	ns[0].site = 0;
	ns[0].state = COORD_NODE_STATE_LAST + 1;
	status_refused(&m, "state");
	ns[0].state = 0;
	char long_name[COORD_ID_MAX + 1];
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	m.leader = long_name;
	status_refused(&m, "leader");
	m.leader = (char *)"";
	m.nsites = COORD_SITES_MAX + 1;
	status_refused(&m, "nsites");
	m.nsites = 2;
	/* the new fields: node instance and alerts, coordinator clocks, store error */
	ns[0].instance = (char *)"0123456789abcdef";
	status_refused(&m, "instance");
	ns[0].instance = (char *)INSTANCE;
	Tandem__CoordAlert al[COORDRPC_ALERTS_MAX + 1], *ap[COORDRPC_ALERTS_MAX + 1];
	for (size_t i = 0; i <= COORDRPC_ALERTS_MAX; i++) {
		tandem__coord_alert__init(&al[i]);
		al[i].kind = (char *)"hsm";
		ap[i] = &al[i];
	}
	ns[0].n_alerts = COORDRPC_ALERTS_MAX + 1;
	ns[0].alerts = ap;
	status_refused(&m, "alerts");
	ns[0].n_alerts = 2;
	al[1].kind = (char *)"Hsm";
	status_refused(&m, "alerts.kind");
	al[1].kind = (char *)"hsm";
	al[1].text = (char *)"a\nb";
	status_refused(&m, "alerts.text");
	al[1].text = (char *)"token not found";
	Tandem__CoordCoordClock cc[COORDRPC_COORDS_MAX + 1], *cp[COORDRPC_COORDS_MAX + 1];
	for (size_t i = 0; i <= COORDRPC_COORDS_MAX; i++) {
		tandem__coord_coord_clock__init(&cc[i]);
		cc[i].name = (char *)"coord-a";
		cp[i] = &cc[i];
	}
	m.n_coords = COORDRPC_COORDS_MAX + 1;
	m.coords = cp;
	status_refused(&m, "coords");
	m.n_coords = 1;
	cc[0].name = long_name;
	status_refused(&m, "coords.name");
	cc[0].name = (char *)"coord-b";
	m.store_error = (char *)"no\x01quorum";
	status_refused(&m, "store_error");
	m.store_error = (char *)"etcd has no quorum";
	m.stale = true;

	/* and the same message, repaired, is accepted */
	size_t len;
	uint8_t *buf = pb(&m.base, &len);
	coordrpc_status_t *got = calloc(1, sizeof(*got));
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(coordrpc_status_unpack(buf, len, D, got), TANDEM_OK);
	ck_assert_uint_eq(got->nzones, 1);
	ck_assert_uint_eq(got->zones[0].nkeys, 1);
	ck_assert_str_eq(got->zones[0].keys[0].acks[0], "node-a1");
	ck_assert(got->stale);
	ck_assert_str_eq(got->store_error, "etcd has no quorum");
	ck_assert_uint_eq(got->ncoords, 1);
	ck_assert_str_eq(got->coords[0].name, "coord-b");
	ck_assert_uint_eq(got->nodes[0].nalerts, 2);
	ck_assert_str_eq(got->nodes[0].alerts[1].text, "token not found");
	ck_assert_str_eq(got->nodes[0].instance, INSTANCE);
	free(got);
	free(buf);
}
END_TEST

START_TEST(test_keys_round_trip)
{
	coordrpc_keys_t *k = calloc(1, sizeof(*k));
	coordrpc_keys_t *got = calloc(1, sizeof(*got));
	ck_assert_ptr_nonnull(k);
	ck_assert_ptr_nonnull(got);
	uint8_t *buf = NULL;
	size_t len = 0;
	snprintf(k->zone, sizeof(k->zone), "example.jp.");
	k->nkeys = COORD_KEYS_MAX;
	for (size_t i = 0; i < COORD_KEYS_MAX; i++) {
		coordrpc_key_entry_t *e = &k->keys[i];
		e->id = (uint32_t)(i + 1);
		e->tag = (uint16_t)(i * 4000);
		e->active = i % 2 == 0;
		e->nacks = i == 0 ? COORD_NODES_MAX : 1;
		for (size_t a = 0; a < e->nacks; a++) {
			snprintf(e->acks[a], sizeof(e->acks[a]), "node-%zu", a);
		}
		e->archive_len = i == 3 ? 0 : 100 + i;
		e->archive = e->archive_len > 0 ? malloc(e->archive_len) : NULL;
		if (e->archive_len > 0) {
			ck_assert_ptr_nonnull(e->archive);
			memset(e->archive, (int)i, e->archive_len);
		}
	}
	snprintf(k->withheld, sizeof(k->withheld), "node node-c holds none: a grant first");
	ck_assert_int_eq(coordrpc_keys_pack(k, &buf, &len), TANDEM_OK);
	ck_assert_int_eq(coordrpc_keys_unpack(buf, len, D, got), TANDEM_OK);
	free(buf);
	ck_assert_str_eq(got->zone, k->zone);
	ck_assert_str_eq(got->withheld, k->withheld);
	ck_assert_uint_eq(got->nkeys, k->nkeys);
	for (size_t i = 0; i < k->nkeys; i++) {
		const coordrpc_key_entry_t *a = &k->keys[i], *b = &got->keys[i];
		ck_assert_uint_eq(a->id, b->id);
		ck_assert_uint_eq(a->tag, b->tag);
		ck_assert_int_eq(a->active, b->active);
		ck_assert_uint_eq(a->nacks, b->nacks);
		ck_assert_int_eq(memcmp(a->acks, b->acks, sizeof(a->acks)), 0);
		ck_assert_uint_eq(a->archive_len, b->archive_len);
		if (a->archive_len > 0) {
			ck_assert_mem_eq(a->archive, b->archive, a->archive_len);
		} else {
			ck_assert_ptr_null(b->archive);
		}
	}
	coordrpc_keys_deinit(got);
	ck_assert_uint_eq(got->nkeys, 0);

	/* refusals: more keys or acks than the arrays hold, a tag or archive too big; a
	 * refusal after some archives were copied leaks nothing (ASan checks) */
	Tandem__CoordKeyEntry es[COORD_KEYS_MAX + 1], *ep[COORD_KEYS_MAX + 1];
	char *acks[COORD_NODES_MAX + 1];
	static uint8_t arch[COORDRPC_ARCHIVE_MAX + 1];
	for (size_t i = 0; i <= COORD_KEYS_MAX; i++) {
		tandem__coord_key_entry__init(&es[i]);
		es[i].archive.data = arch;
		es[i].archive.len = 10;
		ep[i] = &es[i];
	}
	for (size_t a = 0; a <= COORD_NODES_MAX; a++) {
		acks[a] = (char *)"node-b1";
	}
	Tandem__CoordKeys m = TANDEM__COORD_KEYS__INIT;
	m.version = 1;
	m.zone = (char *)"jp.";
	m.n_keys = COORD_KEYS_MAX + 1;
	m.keys = ep;
	struct {
		const char *field;
		int step;
	} cases[] = {{"keys", 0}, {"acks", 1}, {"tag", 2}, {"archive", 3}, {"version", 4}};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		m.n_keys = cases[c].step == 0 ? COORD_KEYS_MAX + 1 : 3;
		es[2].n_acks = cases[c].step == 1 ? COORD_NODES_MAX + 1 : 0;
		es[2].acks = acks;
		es[2].tag = cases[c].step == 2 ? 65536 : 1;
		es[2].archive.len = cases[c].step == 3 ? sizeof(arch) : 10;
		m.version = cases[c].step == 4 ? 3 : 1;
		buf = pb(&m.base, &len);
		tandem_diag_clear(D);
		ck_assert_int_eq(coordrpc_keys_unpack(buf, len, D, got), TANDEM_EINVAL);
		ck_assert_msg(diag_has("coord.keys.reply", cases[c].field), "no diag naming %s",
			      cases[c].field);
		free(buf);
	}
	coordrpc_keys_deinit(k);
	free(k);
	free(got);
}
END_TEST

START_TEST(test_keyset_round_trip)
{
	coordrpc_keyset_t ks, got;
	uint8_t *buf = NULL;
	size_t len = 0;
	memset(&ks, 0, sizeof(ks));
	memset(ks.zone, 'z', sizeof(ks.zone) - 1);
	ks.keyset_len = COORDRPC_KEYSET_MAX;
	ks.keyset = malloc(ks.keyset_len);
	ck_assert_ptr_nonnull(ks.keyset);
	for (size_t i = 0; i < ks.keyset_len; i++) {
		ks.keyset[i] = (uint8_t)(i * 31);
	}
	ks.revision = INT64_MAX;
	ck_assert_int_eq(coordrpc_keyset_pack(&ks, &buf, &len), TANDEM_OK);
	ck_assert_int_eq(coordrpc_keyset_unpack(buf, len, D, &got), TANDEM_OK);
	free(buf);
	ck_assert_str_eq(got.zone, ks.zone);
	ck_assert_int_eq(got.revision, INT64_MAX);
	ck_assert_uint_eq(got.keyset_len, ks.keyset_len);
	ck_assert_mem_eq(got.keyset, ks.keyset, ks.keyset_len);
	coordrpc_keyset_deinit(&got);
	ck_assert_ptr_null(got.keyset);
	ck_assert_uint_eq(got.keyset_len, 0);

	/* none written yet: no bytes, revision 0 */
	coordrpc_keyset_t none;
	memset(&none, 0, sizeof(none));
	snprintf(none.zone, sizeof(none.zone), "jp.");
	ck_assert_int_eq(coordrpc_keyset_pack(&none, &buf, &len), TANDEM_OK);
	ck_assert_int_eq(coordrpc_keyset_unpack(buf, len, D, &got), TANDEM_OK);
	free(buf);
	ck_assert_str_eq(got.zone, "jp.");
	ck_assert_ptr_null(got.keyset);
	ck_assert_int_eq(got.revision, 0);

	/* pack refusals */
	ks.keyset_len = COORDRPC_KEYSET_MAX + 1;
	ck_assert_int_eq(coordrpc_keyset_pack(&ks, &buf, &len), TANDEM_EINVAL);
	ks.keyset_len = 10;
	ks.revision = -1;
	ck_assert_int_eq(coordrpc_keyset_pack(&ks, &buf, &len), TANDEM_EINVAL);
	ks.revision = 1;
	memset(ks.zone, 'z', sizeof(ks.zone));
	ck_assert_int_eq(coordrpc_keyset_pack(&ks, &buf, &len), TANDEM_EINVAL);
	ck_assert_int_eq(coordrpc_keyset_pack(NULL, &buf, &len), TANDEM_EINVAL);

	/* unpack refusals: what a hostile coordinator could send */
	char long_zone[COORD_ZONE_MAX + 1];
	memset(long_zone, 'z', sizeof(long_zone) - 1);
	long_zone[sizeof(long_zone) - 1] = '\0';
	Tandem__CoordKeyset m = TANDEM__COORD_KEYSET__INIT;
	struct {
		const char *field;
		int step;
	} cases[] = {{"version", 0}, {"zone", 1}, {"revision", 2}, {"keyset", 3}};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		m.version = cases[c].step == 0 ? 2 : 1;
		m.zone = cases[c].step == 1 ? long_zone : (char *)"jp.";
		m.revision = cases[c].step == 2 ? -1 : 7;
		m.keyset.data = ks.keyset;
		m.keyset.len = cases[c].step == 3 ? COORDRPC_KEYSET_MAX + 1 : 10;
		if (cases[c].step == 3) {
			m.keyset.data = calloc(1, m.keyset.len);
			ck_assert_ptr_nonnull(m.keyset.data);
		}
		buf = pb(&m.base, &len);
		memset(&got, 0x5a, sizeof(got));
		tandem_diag_clear(D);
		ck_assert_int_eq(coordrpc_keyset_unpack(buf, len, D, &got), TANDEM_EINVAL);
		ck_assert_msg(diag_has("coord.keyset.reply", cases[c].field), "no diag naming %s",
			      cases[c].field);
		ck_assert_int_eq(got.revision, 0x5a5a5a5a5a5a5a5all); /* untouched */
		free(buf);
		if (cases[c].step == 3) {
			free(m.keyset.data);
		}
	}
	static const uint8_t garbage[] = {0x0a, 0xff};
	ck_assert_int_eq(coordrpc_keyset_unpack(garbage, sizeof(garbage), D, &got), TANDEM_EINVAL);
	ck_assert(diag_has("coord.keyset.reply", "undecodable"));
	coordrpc_keyset_deinit(&ks);
}
END_TEST

/* The client calls against a real server (CURVE over 127.0.0.1) whose handler answers
 * with coordrpc replies, error statuses, wrong types and garbage. */
typedef struct server {
	void *ctx;
	net_key_t *server_key;
	net_key_t *client_key;
	net_allow_t *allow;
	net_rpc_server_t *srv;
	pthread_t thread;
	atomic_bool stop;
	coordrpc_request_t last; /* written by the server thread */
} server_t;

static int reply_with(net_rpc_msg_t *reply, const char *type, int ret, uint8_t *buf, size_t len)
{
	if (ret == TANDEM_OK) {
		ret = net_rpc_msg_set(reply, type, buf, len);
	}
	free(buf);
	return ret;
}

static int server_handler(void *arg, const net_rpc_request_t *req, net_rpc_msg_t *reply)
{
	server_t *s = arg;
	coordrpc_request_t r;
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret = coordrpc_request_unpack(req->type, req->body, req->body_len, NULL, &r);
	if (ret != TANDEM_OK) {
		snprintf(reply->error, sizeof(reply->error), "%s: bad request", req->type);
		return ret;
	}
	coordrpc_request_deinit(&s->last);
	s->last = r; /* takes the archive */
	if (r.kind == COORDRPC_STATUS) {
		coordrpc_status_t *st = calloc(1, sizeof(*st));
		if (st == NULL) {
			return TANDEM_ENOMEM;
		}
		status_fill(st);
		ret = coordrpc_status_pack(st, &buf, &len);
		free(st);
		return reply_with(reply, "coord.status.reply", ret, buf, len);
	}
	if (r.kind == COORDRPC_KEYS_GET) {
		coordrpc_keys_t k;
		memset(&k, 0, sizeof(k));
		memcpy(k.zone, r.zone, sizeof(k.zone));
		k.nkeys = 1;
		k.keys[0].id = 7;
		k.keys[0].archive = (uint8_t *)"entry";
		k.keys[0].archive_len = 5;
		ret = coordrpc_keys_pack(&k, &buf, &len);
		return reply_with(reply, "coord.keys.reply", ret, buf, len);
	}
	if (r.kind == COORDRPC_KEYSET_GET) {
		coordrpc_keyset_t ks;
		memset(&ks, 0, sizeof(ks));
		memcpy(ks.zone, r.zone, sizeof(ks.zone));
		ks.keyset = (uint8_t *)"keyset-bytes";
		ks.keyset_len = 12;
		ks.revision = 42;
		ret = coordrpc_keyset_pack(&ks, &buf, &len);
		return reply_with(reply, "coord.keyset.reply", ret, buf, len);
	}
	if (strcmp(r.zone, "fail.") == 0) {
		snprintf(reply->error, sizeof(reply->error), "store: unavailable");
		return TANDEM_COORD_EUNAVAIL;
	}
	if (strcmp(r.zone, "wrongtype.") == 0) {
		return net_rpc_msg_set(reply, "coord.status.reply", "", 0);
	}
	if (strcmp(r.zone, "garbage.") == 0) {
		return net_rpc_msg_set(reply, "coord.decision", "\xff\xff", 2);
	}
	coordrpc_decision_t d;
	decision_fill(&d);
	d.neffects = 2;
	ret = coordrpc_decision_pack(&d, &buf, &len);
	return reply_with(reply, "coord.decision", ret, buf, len);
}

static void *server_run(void *arg)
{
	server_t *s = arg;
	while (!atomic_load(&s->stop)) {
		if (net_rpc_server_poll(s->srv, 20) < 0) {
			break;
		}
	}
	return NULL;
}

static void server_start(server_t *s)
{
	memset(s, 0, sizeof(*s));
	s->ctx = zmq_ctx_new();
	ck_assert_ptr_nonnull(s->ctx);
	ck_assert_int_eq(net_key_generate(&s->server_key), TANDEM_OK);
	ck_assert_int_eq(net_key_generate(&s->client_key), TANDEM_OK);
	ck_assert_int_eq(net_allow_new(&s->allow), TANDEM_OK);
	ck_assert_int_eq(
	    net_allow_add(s->allow, "node-a1", NET_ROLE_NODE, net_key_public(s->client_key)),
	    TANDEM_OK);
	net_rpc_server_cfg_t cfg = {
	    .endpoint = "tcp://127.0.0.1:*", .handler = server_handler, .handler_arg = s};
	ck_assert_int_eq(net_rpc_server_new(s->ctx, s->server_key, s->allow, &cfg, &s->srv),
			 TANDEM_OK);
	atomic_init(&s->stop, false);
	ck_assert_int_eq(pthread_create(&s->thread, NULL, server_run, s), 0);
}

static void server_stop(server_t *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	coordrpc_request_deinit(&s->last);
	net_rpc_server_free(s->srv);
	net_allow_free(s->allow);
	net_key_free(s->server_key);
	net_key_free(s->client_key);
	zmq_ctx_term(s->ctx);
}

START_TEST(test_calls)
{
	server_t s;
	net_rpc_client_t *cl = NULL;
	server_start(&s);
	net_rpc_client_cfg_t cfg = {.endpoint = net_rpc_server_endpoint(s.srv),
				    .server_public = net_key_public(s.server_key),
				    .timeout_ms = 3000,
				    .attempts = 1};
	ck_assert_int_eq(net_rpc_client_new(s.ctx, s.client_key, &cfg, &cl), TANDEM_OK);

	coordrpc_request_t req;
	coordrpc_decision_t dec;
	request_fill(COORDRPC_KEY_ADD, &req);
	int rc = coordrpc_call(cl, &req, D, &dec);
	ck_assert_msg(rc == TANDEM_OK, "call: %s: %s", tandem_strerror(rc),
		      tandem_diag_msg(D, 0) != NULL ? tandem_diag_msg(D, 0) : "");
	ck_assert(!dec.accepted);
	ck_assert_int_eq(dec.reason, COORD_R_KEY_NOT_ACKED);
	ck_assert_uint_eq(dec.neffects, 2);
	ck_assert_str_eq(dec.effects[1], "effect 1");
	coordrpc_request_deinit(&req);

	coordrpc_status_t *st = calloc(1, sizeof(*st));
	coordrpc_status_t *exp = calloc(1, sizeof(*exp));
	ck_assert_ptr_nonnull(st);
	ck_assert_ptr_nonnull(exp);
	ck_assert_int_eq(coordrpc_call_status(cl, D, st), TANDEM_OK);
	status_fill(exp);
	ck_assert_int_eq(memcmp(st, exp, coordrpc_status_used(exp)), 0);
	free(st);
	free(exp);

	coordrpc_keys_t keys;
	ck_assert_int_eq(coordrpc_call_keys(cl, "example.jp.", D, &keys), TANDEM_OK);
	ck_assert_str_eq(keys.zone, "example.jp.");
	ck_assert_uint_eq(keys.nkeys, 1);
	ck_assert_mem_eq(keys.keys[0].archive, "entry", 5);
	coordrpc_keys_deinit(&keys);

	coordrpc_keyset_t ks;
	ck_assert_int_eq(coordrpc_call_keyset(cl, "example.jp.", D, &ks), TANDEM_OK);
	ck_assert_str_eq(ks.zone, "example.jp.");
	ck_assert_int_eq(ks.revision, 42);
	ck_assert_uint_eq(ks.keyset_len, 12);
	ck_assert_mem_eq(ks.keyset, "keyset-bytes", 12);
	coordrpc_keyset_deinit(&ks);

	/* a keyset put is answered with a decision carrying the revision */
	request_fill(COORDRPC_KEYSET_PUT, &req);
	ck_assert_int_eq(coordrpc_call(cl, &req, D, &dec), TANDEM_OK);
	ck_assert_int_eq(dec.revision, 0x10000000007ll);
	ck_assert_int_eq(s.last.kind, COORDRPC_KEYSET_PUT);
	ck_assert_uint_eq(s.last.keyset_len, 3000);
	ck_assert_mem_eq(s.last.keyset, req.keyset, 3000);
	coordrpc_request_deinit(&req);

	/* an error status comes back as its code with the coordinator's text */
	memset(&req, 0, sizeof(req));
	req.kind = COORDRPC_LEASE_REQUEST;
	snprintf(req.node, sizeof(req.node), "node-a1");
	snprintf(req.zone, sizeof(req.zone), "fail.");
	tandem_diag_clear(D);
	ck_assert_int_eq(coordrpc_call(cl, &req, D, &dec), TANDEM_COORD_EUNAVAIL);
	ck_assert(diag_has("store: unavailable", NULL));
	snprintf(req.zone, sizeof(req.zone), "wrongtype.");
	ck_assert_int_eq(coordrpc_call(cl, &req, D, &dec), TANDEM_NET_EPROTO);
	ck_assert(diag_has("coord.status.reply", "coord.decision"));
	snprintf(req.zone, sizeof(req.zone), "garbage.");
	ck_assert_int_eq(coordrpc_call(cl, &req, D, &dec), TANDEM_NET_EPROTO);
	/* reads go through their own calls */
	req.kind = COORDRPC_STATUS;
	ck_assert_int_eq(coordrpc_call(cl, &req, D, &dec), TANDEM_EINVAL);
	req.kind = COORDRPC_KEYSET_GET;
	ck_assert_int_eq(coordrpc_call(cl, &req, D, &dec), TANDEM_EINVAL);

	net_rpc_client_free(cl);
	server_stop(&s);
}
END_TEST

/* A node's lease batch: items travel in order, each zone once; the reply's per-zone results
 * travel in order, and what does not fit or contradicts itself is refused with its field. */
START_TEST(test_lease_batch)
{
	coordrpc_request_t r, got;
	uint8_t *buf = NULL;
	size_t len = 0;
	memset(&r, 0, sizeof(r));
	r.kind = COORDRPC_LEASE_BATCH;
	snprintf(r.node, sizeof(r.node), "node-a");
	snprintf(r.instance, sizeof(r.instance), INSTANCE);
	/* none: refused when packed */
	ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_EINVAL);
	r.nitems = COORDRPC_LEASE_BATCH_MAX;
	r.items = calloc(r.nitems + 1, sizeof(*r.items));
	ck_assert_ptr_nonnull(r.items);
	for (size_t i = 0; i < r.nitems + 1; i++) {
		snprintf(r.items[i].zone, sizeof(r.items[i].zone), "z%zu.example.", i);
		r.items[i].epoch = i;
		r.items[i].renew = i % 3 != 0;
	}
	/* the most items a batch holds travel, in order */
	ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_OK);
	ck_assert_int_eq(coordrpc_request_unpack("coord.lease.batch", buf, len, D, &got),
			 TANDEM_OK);
	ck_assert_uint_eq(got.nitems, COORDRPC_LEASE_BATCH_MAX);
	ck_assert_str_eq(got.items[777].zone, "z777.example.");
	ck_assert_uint_eq(got.items[777].epoch, 777);
	ck_assert(!got.items[777].renew); /* 777 = 3 * 259 */
	ck_assert(got.items[778].renew);
	ck_assert(!got.items[999].renew);
	ck_assert_str_eq(got.instance, INSTANCE);
	coordrpc_request_deinit(&got);
	free(buf);
	/* one more: refused when packed */
	r.nitems++;
	ck_assert_int_eq(coordrpc_request_pack(&r, &buf, &len), TANDEM_EINVAL);

	/* raw messages: too many items, none, one zone twice (case and final dot aside) */
	Tandem__CoordLeaseItem pi[COORDRPC_LEASE_BATCH_MAX + 1];
	Tandem__CoordLeaseItem *pp[COORDRPC_LEASE_BATCH_MAX + 1];
	for (size_t i = 0; i < COORDRPC_LEASE_BATCH_MAX + 1; i++) {
		tandem__coord_lease_item__init(&pi[i]);
		pi[i].zone = r.items[i].zone;
		pp[i] = &pi[i];
	}
	Tandem__CoordLeaseBatch m = TANDEM__COORD_LEASE_BATCH__INIT;
	m.version = COORDRPC_VERSION;
	m.node = "node-a";
	m.instance = INSTANCE;
	m.items = pp;
	m.n_items = COORDRPC_LEASE_BATCH_MAX + 1;
	buf = pb(&m.base, &len);
	refused("coord.lease.batch", buf, len, "items");
	free(buf);
	m.n_items = 0;
	buf = pb(&m.base, &len);
	refused("coord.lease.batch", buf, len, "items: none");
	free(buf);
	pi[2].zone = "Z0.Example";
	m.n_items = 3;
	buf = pb(&m.base, &len);
	refused("coord.lease.batch", buf, len, "twice");
	ck_assert(diag_has("coord.lease.batch", "items 0 and 2"));
	free(buf);
	pi[2].zone = "z2.example.";
	m.instance = "not-hex";
	buf = pb(&m.base, &len);
	refused("coord.lease.batch", buf, len, "instance");
	free(buf);
	coordrpc_request_deinit(&r);

	/* the reply: one result per item, in order */
	coordrpc_decision_t d, dg;
	memset(&d, 0, sizeof(d));
	d.accepted = true;
	d.nleases = 3;
	d.leases = calloc(d.nleases, sizeof(*d.leases));
	ck_assert_ptr_nonnull(d.leases);
	for (size_t i = 0; i < d.nleases; i++) {
		coordrpc_lease_result_t *l = &d.leases[i];
		snprintf(l->zone, sizeof(l->zone), "z%zu.", i);
		l->accepted = i != 1;
		l->reason = i != 1 ? COORD_R_OK : COORD_R_STALE_EPOCH;
		snprintf(l->text, sizeof(l->text), "text %zu", i);
		l->epoch = 40 + i;
		l->expiry_ms = 1700000000000ull + i;
	}
	ck_assert_int_eq(coordrpc_decision_pack(&d, &buf, &len), TANDEM_OK);
	ck_assert_int_eq(coordrpc_decision_unpack(buf, len, D, &dg), TANDEM_OK);
	free(buf);
	ck_assert_uint_eq(dg.nleases, 3);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(memcmp(&dg.leases[i], &d.leases[i], sizeof(d.leases[i])), 0);
	}
	coordrpc_decision_deinit(&dg);
	ck_assert_ptr_null(dg.leases);
	/* accepted with a reason: refused both ways */
	d.leases[1].accepted = true;
	ck_assert_int_eq(coordrpc_decision_pack(&d, &buf, &len), TANDEM_EINVAL);
	Tandem__CoordLeaseResult pr = TANDEM__COORD_LEASE_RESULT__INIT;
	Tandem__CoordLeaseResult *prp = &pr;
	pr.zone = "z.";
	pr.accepted = true;
	pr.reason = COORD_R_STALE_EPOCH;
	Tandem__CoordDecision md = TANDEM__COORD_DECISION__INIT;
	md.version = COORDRPC_VERSION;
	md.accepted = true;
	md.n_leases = 1;
	md.leases = &prp;
	buf = pb(&md.base, &len);
	tandem_diag_clear(D);
	ck_assert_int_eq(coordrpc_decision_unpack(buf, len, D, &dg), TANDEM_EINVAL);
	ck_assert(diag_has("coord.decision", "leases.accepted"));
	free(buf);
	coordrpc_decision_deinit(&d);
}
END_TEST

static Suite *coordrpc_suite(void)
{
	Suite *s = suite_create("coordrpc");
	TCase *tc = tcase_create("codec");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_kinds);
	tcase_add_test(tc, test_request_round_trip);
	tcase_add_test(tc, test_request_limits);
	tcase_add_test(tc, test_request_pack_refusals);
	tcase_add_test(tc, test_request_unpack_refusals);
	tcase_add_test(tc, test_instance_alert_valid);
	tcase_add_test(tc, test_request_pack_instance_alerts);
	tcase_add_test(tc, test_request_unpack_instance_alerts);
	tcase_add_test(tc, test_decision_round_trip);
	tcase_add_test(tc, test_lease_batch);
	tcase_add_test(tc, test_status_round_trip);
	tcase_add_test(tc, test_status_refusals);
	tcase_add_test(tc, test_keys_round_trip);
	tcase_add_test(tc, test_keyset_round_trip);
	suite_add_tcase(s, tc);
	TCase *tn = tcase_create("calls");
	tcase_add_checked_fixture(tn, setup, teardown);
	tcase_set_timeout(tn, 60);
	tcase_add_test(tn, test_calls);
	suite_add_tcase(s, tn);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(coordrpc_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
