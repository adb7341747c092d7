/* Unit tests of the coordinator's state machine: each safety invariant attacked at a fixed clock.
 */
#include "cluster.pb-c.h"
#include "coord_state.h"
#include "tandem_error.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0    1700000000000ull /* the fixed clock: ms since the epoch */
#define LEASE 10000u
#define MARG  2000u
#define ZONE  "jp."

static coord_params_t P;
static coord_state_t *S;
static coord_state_t *N; /* the next state: apply() decides into it, then swaps */
static coord_result_t *R;

static void setup(void)
{
	coord_params_default(&P);
	S = malloc(sizeof(*S));
	N = malloc(sizeof(*N));
	R = malloc(sizeof(*R));
	ck_assert_ptr_nonnull(S);
	ck_assert_ptr_nonnull(N);
	ck_assert_ptr_nonnull(R);
	ck_assert_int_eq(coord_state_init(S), TANDEM_OK);
}

static void teardown(void)
{
	free(S);
	free(N);
	free(R);
}

static coord_input_t mk(coord_input_kind_t kind, const char *node, const char *zone)
{
	coord_input_t in;
	memset(&in, 0, sizeof(in));
	in.kind = kind;
	if (node != NULL) {
		snprintf(in.node, sizeof(in.node), "%s", node);
	}
	if (zone != NULL) {
		snprintf(in.zone, sizeof(in.zone), "%s", zone);
	}
	in.healthy = true;
	return in;
}

/* Applies in to S (through a second state, then swapped) and returns the reason; the
 * state stays coherent, and a refusal leaves it untouched. */
static coord_reason_t apply(const coord_input_t *in, uint64_t now)
{
	ck_assert_int_eq(coord_state_apply(S, in, now, &P, N, R), TANDEM_OK);
	ck_assert(R->text[0] != '\0');
	if (R->reason == COORD_R_INSTANCE) {
		/* the one refusal recorded: the rival instance on its node, nothing else */
		ck_assert_uint_eq(R->neffects, 0);
		const coord_node_t *n = coord_state_node(N, in->node);
		ck_assert_ptr_nonnull(n);
		ck_assert_str_eq(n->rival, in->instance);
		coord_node_t was = *coord_state_node(S, in->node);
		memcpy(was.rival, n->rival, sizeof(was.rival));
		was.rival_ms = n->rival_ms;
		ck_assert(memcmp(&was, n, sizeof(was)) == 0);
	} else if (R->reason != COORD_R_OK) {
		ck_assert(!R->changed);
		ck_assert_uint_eq(R->neffects, 0);
		ck_assert(memcmp(S, N, sizeof(*S)) == 0);
	}
	ck_assert_int_eq(coord_state_check(N, &P), TANDEM_OK);
	coord_state_t *t = S;
	S = N;
	N = t;
	return R->reason;
}

static const coord_effect_t *find_effect(coord_effect_kind_t kind, const char *node)
{
	for (size_t i = 0; i < R->neffects; i++) {
		if (R->effects[i].kind == kind &&
		    (node == NULL || strcmp(R->effects[i].node, node) == 0)) {
			return &R->effects[i];
		}
	}
	return NULL;
}

static void curve_of(const char *node, uint8_t out[COORD_CURVE_KEY_LEN])
{
	memset(out, 0, COORD_CURVE_KEY_LEN);
	snprintf((char *)out, COORD_CURVE_KEY_LEN, "curve-%s", node);
}

static coord_reason_t reg(const char *node, uint32_t site, uint64_t now)
{
	coord_input_t in = mk(COORD_IN_NODE_REGISTER, node, NULL);
	in.site = site;
	curve_of(node, in.curve_pub);
	return apply(&in, now);
}

static coord_reason_t hb(const char *node, bool healthy, uint64_t now)
{
	coord_input_t in = mk(COORD_IN_NODE_HEARTBEAT, node, NULL);
	in.healthy = healthy;
	return apply(&in, now);
}

static coord_reason_t req(const char *node, uint64_t now)
{
	coord_input_t in = mk(COORD_IN_LEASE_REQUEST, node, ZONE);
	return apply(&in, now);
}

static coord_reason_t lease_op(coord_input_kind_t kind, const char *node, uint64_t epoch,
			       uint64_t now)
{
	coord_input_t in = mk(kind, node, ZONE);
	in.epoch = epoch;
	return apply(&in, now);
}

static coord_reason_t commit(const char *node, uint64_t epoch, uint32_t serial, uint8_t d,
			     uint64_t now)
{
	coord_input_t in = mk(COORD_IN_COMMIT, node, ZONE);
	in.epoch = epoch;
	in.serial = serial;
	memset(in.digest, d, sizeof(in.digest));
	return apply(&in, now);
}

/* A commit with its signing time and NSEC3 salt (8 bytes 0xc0..0xc7). */
static coord_reason_t commit_signed(const char *node, uint64_t epoch, uint32_t serial, uint8_t d,
				    uint64_t now)
{
	coord_input_t in = mk(COORD_IN_COMMIT, node, ZONE);
	in.epoch = epoch;
	in.serial = serial;
	memset(in.digest, d, sizeof(in.digest));
	in.sign_time = 1700000000u + serial;
	in.input_serial = serial - 1;
	in.keyset_revision = 1000 + serial;
	memset(in.skr_id, 0x5a, sizeof(in.skr_id));
	in.nsec3 = true;
	in.salt_len = 8;
	for (uint32_t i = 0; i < in.salt_len; i++) {
		in.salt[i] = (uint8_t)(0xc0 + i);
	}
	return apply(&in, now);
}

static coord_reason_t reg_publish(const char *node, uint32_t site, const char *publish,
				  uint64_t now)
{
	coord_input_t in = mk(COORD_IN_NODE_REGISTER, node, NULL);
	in.site = site;
	curve_of(node, in.curve_pub);
	snprintf(in.publish, sizeof(in.publish), "%s", publish);
	return apply(&in, now);
}

static coord_reason_t report(const char *node, uint32_t serial, uint8_t d, uint64_t now)
{
	coord_input_t in = mk(COORD_IN_DIGEST_REPORT, node, ZONE);
	in.serial = serial;
	memset(in.digest, d, sizeof(in.digest));
	return apply(&in, now);
}

static coord_reason_t zone_add(const char *zone, bool compare, bool has_serial, uint32_t serial,
			       uint64_t now)
{
	coord_input_t in = mk(COORD_IN_ZONE_ADD, NULL, zone);
	in.compare_digests = compare;
	in.has_serial = has_serial;
	in.serial = serial;
	return apply(&in, now);
}

static coord_reason_t key_op(coord_input_kind_t kind, const char *node, uint32_t id, uint64_t now)
{
	coord_input_t in = mk(kind, node, ZONE);
	in.key_id = id;
	in.key_tag = (uint16_t)(4000 + id);
	return apply(&in, now);
}

static coord_reason_t tick(uint64_t now)
{
	coord_input_t in = mk(COORD_IN_TICK, NULL, NULL);
	return apply(&in, now);
}

static const coord_zone_t *zone(void)
{
	const coord_zone_t *z = coord_state_zone(S, ZONE);
	ck_assert_ptr_nonnull(z);
	return z;
}

/* a1, a2 at site A (0), b1, b2 at site B (1), zone jp. with digest comparison. */
static void cluster(uint64_t now)
{
	ck_assert_int_eq(reg("a1", 0, now), COORD_R_OK);
	ck_assert_int_eq(reg("a2", 0, now), COORD_R_OK);
	ck_assert_int_eq(reg("b1", 1, now), COORD_R_OK);
	ck_assert_int_eq(reg("b2", 1, now), COORD_R_OK);
	ck_assert_int_eq(zone_add(ZONE, true, false, 0, now), COORD_R_OK);
}

static void heartbeat_all_but(const char *dead, uint64_t now)
{
	const char *all[] = {"a1", "a2", "b1", "b2"};
	for (int i = 0; i < 4; i++) {
		if (dead == NULL || strcmp(all[i], dead) != 0) {
			ck_assert_int_eq(hb(all[i], true, now), COORD_R_OK);
		}
	}
}

/* ---- invariant 1: one publisher ---- */

START_TEST(test_lease_one_wins)
{
	cluster(T0);
	ck_assert_int_eq(req("a1", T0), COORD_R_OK);
	ck_assert_uint_eq(R->epoch, 1);
	ck_assert_uint_eq(R->expiry_ms, T0 + LEASE);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_GRANT, "a1"));
	/* the other request of the same instant is decided on the state the first made */
	ck_assert_int_eq(req("b1", T0), COORD_R_HELD);
	ck_assert_int_eq(req("a2", T0), COORD_R_HELD);
	ck_assert_str_eq(coord_state_holder(S, ZONE, T0)->id, "a1");
	ck_assert_uint_eq(zone()->epoch, 1);
	/* a repeated request by the holder (a lost reply) renews, same epoch */
	ck_assert_int_eq(req("a1", T0 + 100), COORD_R_OK);
	ck_assert_uint_eq(R->epoch, 1);
	ck_assert_uint_eq(R->expiry_ms, T0 + 100 + LEASE);
}
END_TEST

START_TEST(test_lease_grant_waits_for_margin)
{
	ck_assert_int_eq(reg("a1", 0, T0), COORD_R_OK);
	ck_assert_int_eq(reg("b1", 1, T0), COORD_R_OK);
	ck_assert_int_eq(zone_add(ZONE, true, false, 0, T0), COORD_R_OK);
	ck_assert_int_eq(req("a1", T0), COORD_R_OK);
	/* a1 renews until T0 + 3000 and then falls silent: expiry T0 + 13000 */
	ck_assert_int_eq(lease_op(COORD_IN_LEASE_RENEW, "a1", 1, T0 + 3000), COORD_R_OK);
	uint64_t expiry = T0 + 3000 + LEASE;
	ck_assert_uint_eq(R->expiry_ms, expiry);
	ck_assert_int_eq(hb("b1", true, expiry - 1000), COORD_R_OK);
	ck_assert_int_eq(req("b1", expiry - 1), COORD_R_HELD);
	ck_assert_int_eq(req("b1", expiry), COORD_R_HELD);
	ck_assert_int_eq(req("b1", expiry + MARG - 1), COORD_R_HELD);
	/* a1, which sent its renewal at T0 + 3000, stopped publishing long before */
	ck_assert(!coord_lease_may_publish(T0 + 3000, LEASE, MARG, expiry + MARG));
	ck_assert(!coord_lease_may_publish(T0 + 3000, LEASE, MARG, expiry - MARG));
	ck_assert_int_eq(req("b1", expiry + MARG), COORD_R_OK);
	ck_assert_uint_eq(R->epoch, 2);
	ck_assert_str_eq(zone()->holder, "b1");
	ck_assert_str_eq(zone()->last_holder, "a1");
	/* the lapsed holder's renewal and commit are refused: stale epoch */
	ck_assert_int_eq(lease_op(COORD_IN_LEASE_RENEW, "a1", 1, expiry + MARG + 1),
			 COORD_R_STALE_EPOCH);
	ck_assert_int_eq(commit("a1", 1, 10, 1, expiry + MARG + 1), COORD_R_STALE_EPOCH);
}
END_TEST

START_TEST(test_lease_lapsed_holder_regains)
{
	cluster(T0);
	ck_assert_int_eq(req("a1", T0), COORD_R_OK);
	/* renewal after expiry is refused; the node asks anew and, being the only one that
	 * could have published, gets it back at once with a new epoch */
	ck_assert_int_eq(lease_op(COORD_IN_LEASE_RENEW, "a1", 1, T0 + LEASE),
			 COORD_R_LEASE_EXPIRED);
	ck_assert_int_eq(req("a2", T0 + LEASE + 1), COORD_R_HELD);
	ck_assert_int_eq(req("a1", T0 + LEASE + 1), COORD_R_OK);
	ck_assert_uint_eq(R->epoch, 2);
}
END_TEST

START_TEST(test_commit_refusals)
{
	cluster(T0);
	ck_assert_int_eq(req("a1", T0), COORD_R_OK);
	ck_assert_int_eq(commit("a1", 1, 100, 0xaa, T0 + 1), COORD_R_OK);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_COMMIT, "a1"));
	ck_assert_int_eq(commit("a1", 0, 102, 0xaa, T0 + 2), COORD_R_STALE_EPOCH);
	ck_assert_int_eq(commit("a1", 2, 102, 0xaa, T0 + 2), COORD_R_STALE_EPOCH);
	ck_assert_int_eq(commit("b1", 1, 103, 0xaa, T0 + 2), COORD_R_NOT_HOLDER);
	ck_assert_int_eq(commit("a2", 1, 102, 0xaa, T0 + 2), COORD_R_NOT_HOLDER);
	ck_assert_int_eq(commit("zz", 1, 102, 0xaa, T0 + 2), COORD_R_UNKNOWN_NODE);
	coord_input_t in = mk(COORD_IN_COMMIT, "a1", "nope.");
	in.epoch = 1;
	ck_assert_int_eq(apply(&in, T0 + 2), COORD_R_UNKNOWN_ZONE);
	/* the same serial with another digest: never two digests for one serial */
	ck_assert_int_eq(commit("a1", 1, 100, 0xbb, T0 + 2), COORD_R_DIGEST_CONFLICT);
	/* the same commit again (a retry) is accepted and changes nothing */
	ck_assert_int_eq(commit("a1", 1, 100, 0xaa, T0 + 2), COORD_R_OK);
	ck_assert(!R->changed);
	ck_assert_int_eq(commit("a1", 1, 98, 0xaa, T0 + 2), COORD_R_SERIAL_NOT_ABOVE);
	ck_assert_int_eq(commit("a1", 1, 101, 0xaa, T0 + 2), COORD_R_RESIDUE);
	/* exactly 2^31 ahead is undefined in RFC 1982: refused */
	ck_assert_int_eq(commit("a1", 1, 100u + 0x80000000u, 0xaa, T0 + 2),
			 COORD_R_SERIAL_NOT_ABOVE);
	ck_assert_int_eq(commit("a1", 1, 102, 0xab, T0 + 2), COORD_R_OK);
	ck_assert_uint_eq(zone()->committed_serial, 102);
	ck_assert_uint_eq(zone()->committed_epoch, 1);
	/* past the coordinator's expiry the holder's commit is refused too */
	ck_assert_int_eq(commit("a1", 1, 104, 0xaa, T0 + LEASE), COORD_R_LEASE_EXPIRED);
	/* site B continues in its own class */
	heartbeat_all_but("a1", T0 + LEASE);
	ck_assert_int_eq(hb("a2", false, T0 + LEASE), COORD_R_OK);
	ck_assert_int_eq(req("b1", T0 + LEASE + MARG), COORD_R_OK);
	ck_assert_int_eq(commit("b1", 2, 104, 0xaa, T0 + LEASE + MARG), COORD_R_RESIDUE);
	ck_assert_int_eq(commit("b1", 2, 102, 0xab, T0 + LEASE + MARG), COORD_R_RESIDUE);
	ck_assert_int_eq(commit("b1", 2, 103, 0xac, T0 + LEASE + MARG), COORD_R_OK);
}
END_TEST

START_TEST(test_commit_across_wrap)
{
	cluster(T0);
	coord_input_t in = mk(COORD_IN_ZONE_ADD, NULL, "wrap.");
	in.has_serial = true;
	in.serial = 0xfffffffeu;
	ck_assert_int_eq(apply(&in, T0), COORD_R_OK);
	in = mk(COORD_IN_LEASE_REQUEST, "a1", "wrap.");
	ck_assert_int_eq(apply(&in, T0), COORD_R_OK);
	uint32_t next;
	ck_assert_int_eq(tandem_serial_in_class(true, 0xfffffffeu, 0, 2, 0xfffffffeu, &next),
			 TANDEM_OK);
	ck_assert_uint_eq(next, 0);
	in = mk(COORD_IN_COMMIT, "a1", "wrap.");
	in.epoch = 1;
	in.serial = 0xfffffffeu; /* the floor itself, with a digest: not two digests */
	memset(in.digest, 0x11, sizeof(in.digest));
	ck_assert_int_eq(apply(&in, T0), COORD_R_DIGEST_CONFLICT);
	in.serial = 0;
	ck_assert_int_eq(apply(&in, T0), COORD_R_OK);
	in.serial = 0xfffffffcu; /* before the wrap: below */
	ck_assert_int_eq(apply(&in, T0), COORD_R_SERIAL_NOT_ABOVE);
	in.serial = 2;
	ck_assert_int_eq(apply(&in, T0), COORD_R_OK);
}
END_TEST

START_TEST(test_failover_prefers_same_site)
{
	cluster(T0);
	ck_assert_int_eq(req("a1", T0), COORD_R_OK);
	/* a1 dies at T0; the others keep heartbeating */
	for (uint64_t t = T0 + 3000; t <= T0 + LEASE + MARG; t += 3000) {
		heartbeat_all_but("a1", t);
	}
	uint64_t free_at = T0 + LEASE + MARG;
	ck_assert_int_eq(tick(free_at), COORD_R_OK);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_LAPSE, "a1"));
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_LEASE_FREE, "a2"));
	ck_assert_int_eq(req("b1", free_at), COORD_R_NOT_PREFERRED);
	ck_assert_int_eq(req("b2", free_at + 1), COORD_R_NOT_PREFERRED);
	ck_assert_int_eq(req("a2", free_at + 2), COORD_R_OK);
	ck_assert_uint_eq(R->epoch, 2);

	/* a2 dies too: site A has no healthy node, so site B gets it in the window */
	uint64_t t2 = free_at + 2;
	for (uint64_t t = t2 + 3000; t <= t2 + LEASE + MARG; t += 3000) {
		ck_assert_int_eq(hb("b1", true, t), COORD_R_OK);
		ck_assert_int_eq(hb("b2", true, t), COORD_R_OK);
	}
	ck_assert_int_eq(tick(t2 + LEASE + MARG), COORD_R_OK);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_LEASE_FREE, "b1"));
	ck_assert_int_eq(req("b2", t2 + LEASE + MARG), COORD_R_OK);
	ck_assert_uint_eq(R->epoch, 3);
}
END_TEST

START_TEST(test_failover_unhealthy_and_window)
{
	cluster(T0);
	ck_assert_int_eq(req("a1", T0), COORD_R_OK);
	uint64_t free_at = T0 + LEASE + MARG;
	heartbeat_all_but("a1", free_at - 1000);
	/* a2 says it is unhealthy (its HSM, say): not a candidate */
	ck_assert_int_eq(hb("a2", false, free_at - 500), COORD_R_OK);
	ck_assert_int_eq(req("a2", free_at), COORD_R_UNHEALTHY);
	ck_assert_int_eq(req("b1", free_at), COORD_R_OK);

	/* a healthy preferred node that never asks holds the others off only for the
	 * preference window */
	uint64_t t2 = free_at;
	ck_assert_int_eq(hb("a2", true, t2 + LEASE), COORD_R_OK);
	ck_assert_int_eq(hb("b2", true, t2 + LEASE), COORD_R_OK);
	uint64_t free2 = t2 + LEASE + MARG;
	ck_assert_int_eq(hb("a2", true, free2 + 5000), COORD_R_OK);
	ck_assert_int_eq(req("a2", free2), COORD_R_NOT_PREFERRED);
	ck_assert_int_eq(hb("b2", true, free2 + 8000), COORD_R_OK);
	ck_assert_int_eq(req("a2", free2 + P.prefer_ms - 1), COORD_R_NOT_PREFERRED);
	ck_assert_int_eq(req("a2", free2 + P.prefer_ms), COORD_R_OK);
}
END_TEST

START_TEST(test_failover_no_site_preference)
{
	P.same_site_first = false;
	cluster(T0);
	ck_assert_int_eq(req("a1", T0), COORD_R_OK);
	heartbeat_all_but("a1", T0 + LEASE);
	ck_assert_int_eq(req("b1", T0 + LEASE + MARG), COORD_R_OK);
}
END_TEST

START_TEST(test_drain)
{
	cluster(T0);
	coord_input_t d = mk(COORD_IN_DRAIN, "a2", NULL);
	ck_assert_int_eq(apply(&d, T0), COORD_R_OK);
	ck_assert_int_eq(req("a2", T0), COORD_R_DRAINED);
	ck_assert_int_eq(req("a1", T0), COORD_R_OK);
	/* a drained node is never the switchover target nor a failover candidate */
	coord_input_t sw = mk(COORD_IN_SWITCHOVER, NULL, ZONE);
	snprintf(sw.target, sizeof(sw.target), "a2");
	ck_assert_int_eq(apply(&sw, T0 + 1), COORD_R_DRAINED);
	/* draining the holder plans a handover to the best candidate: b1 (a2 is drained) */
	d = mk(COORD_IN_DRAIN, "a1", NULL);
	ck_assert_int_eq(apply(&d, T0 + 2), COORD_R_OK);
	const coord_effect_t *e = find_effect(COORD_EFF_SWITCH_PENDING, "b1");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(zone()->switch_to, "b1");
	/* the drained holder keeps its lease until it hands over */
	ck_assert_int_eq(lease_op(COORD_IN_LEASE_RENEW, "a1", 1, T0 + 3000), COORD_R_OK);
	ck_assert_int_eq(commit("a1", 1, 10, 1, T0 + 3001), COORD_R_OK);
	ck_assert_int_eq(lease_op(COORD_IN_LEASE_RELEASE, "a1", 1, T0 + 3002), COORD_R_OK);
	ck_assert_int_eq(req("a2", T0 + 3002), COORD_R_DRAINED);
	ck_assert_int_eq(req("a1", T0 + 3002), COORD_R_DRAINED);
	ck_assert_int_eq(req("b1", T0 + 3002), COORD_R_OK);
	ck_assert_uint_eq(R->epoch, 2);
	/* undrained, a2 may be granted again later */
	d = mk(COORD_IN_UNDRAIN, "a2", NULL);
	ck_assert_int_eq(apply(&d, T0 + 3003), COORD_R_OK);
	ck_assert_uint_eq(coord_state_node(S, "a2")->state, COORD_NODE_UP);
}
END_TEST

START_TEST(test_switchover)
{
	cluster(T0);
	ck_assert_int_eq(req("a1", T0), COORD_R_OK);
	ck_assert_int_eq(commit("a1", 1, 100, 1, T0 + 10), COORD_R_OK);
	coord_input_t sw = mk(COORD_IN_SWITCHOVER, NULL, ZONE);
	snprintf(sw.target, sizeof(sw.target), "a1");
	ck_assert_int_eq(apply(&sw, T0 + 20), COORD_R_BAD_INPUT);
	snprintf(sw.target, sizeof(sw.target), "zz");
	ck_assert_int_eq(apply(&sw, T0 + 20), COORD_R_UNKNOWN_NODE);
	snprintf(sw.target, sizeof(sw.target), "b1");
	ck_assert_int_eq(apply(&sw, T0 + 20), COORD_R_OK);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_SWITCH_PENDING, "b1"));
	/* the target waits for the holder to finish its cycle */
	ck_assert_int_eq(req("b1", T0 + 30), COORD_R_HELD);
	ck_assert_int_eq(commit("a1", 1, 102, 2, T0 + 40), COORD_R_OK);
	ck_assert_int_eq(lease_op(COORD_IN_LEASE_RELEASE, "a1", 1, T0 + 50), COORD_R_OK);
	/* the lease is the target's: others are refused, the holder too */
	ck_assert_int_eq(req("a2", T0 + 50), COORD_R_NOT_PREFERRED);
	ck_assert_int_eq(req("b2", T0 + 50), COORD_R_NOT_PREFERRED);
	ck_assert_int_eq(req("a1", T0 + 50), COORD_R_NOT_PREFERRED);
	ck_assert_int_eq(req("b1", T0 + 50), COORD_R_OK);
	ck_assert_uint_eq(R->epoch, 2);
	ck_assert_str_eq(zone()->switch_to, "");
	/* b1 continues from the next serial of its class, no gap, nothing reused */
	uint32_t next;
	ck_assert_int_eq(tandem_serial_in_class(zone()->has_committed, zone()->committed_serial,
						coord_site_residue(&P, 1), P.serial_modulus, 0,
						&next),
			 TANDEM_OK);
	ck_assert_uint_eq(next, 103);
	ck_assert_int_eq(commit("b1", 2, next, 3, T0 + 60), COORD_R_OK);
	ck_assert_int_eq(commit("a1", 1, 104, 3, T0 + 60), COORD_R_STALE_EPOCH);
	/* nothing to switch when nobody holds it */
	ck_assert_int_eq(lease_op(COORD_IN_LEASE_RELEASE, "b1", 2, T0 + 70), COORD_R_OK);
	snprintf(sw.target, sizeof(sw.target), "a2");
	ck_assert_int_eq(apply(&sw, T0 + 80), COORD_R_NO_HOLDER);
}
END_TEST

/* A release by a node that no longer has the zone (removed from its config) leaves no
 * preference window: the other site's node is granted at once, where after a plain release
 * the releaser's site is preferred (and the releaser would never ask again). */
START_TEST(test_release_leaving)
{
	cluster(T0);
	ck_assert_int_eq(req("a1", T0), COORD_R_OK);
	ck_assert_int_eq(lease_op(COORD_IN_LEASE_RELEASE, "a1", 1, T0 + 1), COORD_R_OK);
	ck_assert_int_eq(req("b1", T0 + 2), COORD_R_NOT_PREFERRED);
	ck_assert_int_eq(req("a1", T0 + 3), COORD_R_OK);
	ck_assert_uint_eq(R->epoch, 2);
	coord_input_t in = mk(COORD_IN_LEASE_RELEASE, "a1", ZONE);
	in.epoch = 2;
	in.leaving = true;
	ck_assert_int_eq(apply(&in, T0 + 4), COORD_R_OK);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_RELEASE, "a1"));
	ck_assert_int_eq(req("b1", T0 + 5), COORD_R_OK);
	ck_assert_uint_eq(R->epoch, 3);
}
END_TEST

START_TEST(test_switchover_target_dies)
{
	cluster(T0);
	ck_assert_int_eq(req("a1", T0), COORD_R_OK);
	coord_input_t sw = mk(COORD_IN_SWITCHOVER, NULL, ZONE);
	snprintf(sw.target, sizeof(sw.target), "b1");
	ck_assert_int_eq(apply(&sw, T0 + 1), COORD_R_OK);
	ck_assert_int_eq(lease_op(COORD_IN_LEASE_RELEASE, "a1", 1, T0 + 2), COORD_R_OK);
	/* b1 never claims it: after the window the reservation goes and others may */
	heartbeat_all_but(NULL, T0 + 5000);
	ck_assert_int_eq(req("a2", T0 + 2 + P.prefer_ms - 1), COORD_R_NOT_PREFERRED);
	ck_assert_int_eq(tick(T0 + 2 + P.prefer_ms), COORD_R_OK);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_SWITCH_CANCEL, "b1"));
	ck_assert_int_eq(req("a2", T0 + 2 + P.prefer_ms), COORD_R_OK);
}
END_TEST

START_TEST(test_takeover_fences_site)
{
	cluster(T0);
	ck_assert_int_eq(req("a1", T0), COORD_R_OK);
	ck_assert_int_eq(commit("a1", 1, 100, 1, T0 + 1), COORD_R_OK);
	/* a zone the surviving site holds, with a switchover to the lost site pending */
	ck_assert_int_eq(zone_add("b.", true, false, 0, T0), COORD_R_OK);
	coord_input_t bz = mk(COORD_IN_LEASE_REQUEST, "b1", "b.");
	ck_assert_int_eq(apply(&bz, T0 + 1), COORD_R_OK);
	bz = mk(COORD_IN_SWITCHOVER, NULL, "b.");
	snprintf(bz.target, sizeof(bz.target), "a2");
	ck_assert_int_eq(apply(&bz, T0 + 2), COORD_R_OK);
	coord_input_t to = mk(COORD_IN_TAKEOVER, NULL, NULL);
	to.site = 3;
	ck_assert_int_eq(apply(&to, T0 + 1000), COORD_R_BAD_INPUT);
	to.site = 1;
	ck_assert_int_eq(apply(&to, T0 + 1000), COORD_R_OK);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_FENCE, "a1"));
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_FENCE, "a2"));
	ck_assert_ptr_null(find_effect(COORD_EFF_FENCE, "b1"));
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_EPOCH_BUMP, NULL));
	ck_assert_uint_eq(zone()->epoch, 2);
	ck_assert_str_eq(zone()->holder, "");
	/* the survivor's zone keeps its holder and epoch; the switchover to A is gone */
	const coord_zone_t *b = coord_state_zone(S, "b.");
	ck_assert_str_eq(b->holder, "b1");
	ck_assert_uint_eq(b->epoch, 1);
	ck_assert_str_eq(b->switch_to, "");
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_SWITCH_CANCEL, "a2"));
	uint8_t key[COORD_CURVE_KEY_LEN];
	curve_of("a1", key);
	ck_assert(!coord_state_curve_allowed(S, key));
	curve_of("b1", key);
	ck_assert(coord_state_curve_allowed(S, key));
	/* everything from the fenced site is refused, whatever epoch it shows */
	ck_assert_int_eq(commit("a1", 1, 102, 1, T0 + 1001), COORD_R_FENCED);
	ck_assert_int_eq(commit("a1", 2, 102, 1, T0 + 1001), COORD_R_FENCED);
	ck_assert_int_eq(req("a1", T0 + 1001), COORD_R_FENCED);
	ck_assert_int_eq(req("a2", T0 + 1001), COORD_R_FENCED);
	ck_assert_int_eq(lease_op(COORD_IN_LEASE_RENEW, "a1", 1, T0 + 1001), COORD_R_FENCED);
	ck_assert_int_eq(hb("a1", true, T0 + 1001), COORD_R_FENCED);
	ck_assert_int_eq(reg("a1", 0, T0 + 1001), COORD_R_FENCED);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACK, "a2", 1, T0 + 1001), COORD_R_FENCED);
	/* a fenced key cannot come back under another name */
	coord_input_t in = mk(COORD_IN_NODE_REGISTER, "a9", NULL);
	curve_of("a1", in.curve_pub);
	ck_assert_int_eq(apply(&in, T0 + 1001), COORD_R_IDENTITY);
	/* forcing does not shorten the old lease: a1 may publish until T0 + 8000 */
	ck_assert_int_eq(req("b1", T0 + 1001), COORD_R_HELD);
	ck_assert_int_eq(req("b1", T0 + LEASE + MARG - 1), COORD_R_HELD);
	ck_assert(!coord_lease_may_publish(T0, LEASE, MARG, T0 + LEASE + MARG));
	ck_assert_int_eq(req("b1", T0 + LEASE + MARG), COORD_R_OK);
	ck_assert_uint_eq(R->epoch, 3);
	ck_assert_int_eq(commit("b1", 3, 101, 1, T0 + LEASE + MARG), COORD_R_OK);
	/* re-admission: the operator removes the fenced member, which then registers anew
	 * (a new node number: its old key imports no longer count) */
	in = mk(COORD_IN_NODE_REMOVE, "a2", NULL);
	ck_assert_int_eq(apply(&in, T0 + 20000), COORD_R_OK);
	ck_assert_int_eq(reg("a2", 0, T0 + 20001), COORD_R_OK);
	ck_assert_uint_eq(coord_state_node(S, "a2")->state, COORD_NODE_UP);
	/* a site with no member cannot take over */
	in = mk(COORD_IN_NODE_REMOVE, "a2", NULL);
	ck_assert_int_eq(apply(&in, T0 + 20002), COORD_R_OK);
	to.site = 0;
	ck_assert_int_eq(apply(&to, T0 + 20003), COORD_R_NO_CANDIDATE);
	/* a holder cannot be removed */
	in = mk(COORD_IN_NODE_REMOVE, "b1", NULL);
	ck_assert_int_eq(apply(&in, T0 + 20004), COORD_R_BUSY);
}
END_TEST

/* Heartbeats every member that is not fenced (a fenced one is refused). */
static void heartbeat_live(uint64_t now)
{
	for (uint32_t i = 0; i < S->nnodes; i++) {
		if (S->nodes[i].state != COORD_NODE_FENCED) {
			ck_assert_int_eq(hb(S->nodes[i].id, true, now), COORD_R_OK);
		}
	}
}

/*
 * A forced takeover after every order of handovers (none, A->B, A->B->A, A->B->A->B),
 * each by switchover (the holder releases) or by lapse (the holder falls silent and the
 * target takes over after expiry + margin), with the last holder's lease running or
 * lapsed (a tick cleared it, its margin still runs), and a takeover of either site: no
 * node but the last holder is granted the lease before that holder's expiry + margin.
 * (The holder of A->B->A used to be forgotten: B's node was let in at once.)
 */
START_TEST(test_takeover_after_switchovers)
{
	static const char *site_node[2] = {"a1", "b1"};
	static const char *all[4] = {"a1", "a2", "b1", "b2"};
	unsigned scenarios = 0;
	for (unsigned len = 0; len <= 3; len++) {
		for (unsigned modes = 0; modes < (1u << len); modes++) {
			for (unsigned lapsed = 0; lapsed < 2; lapsed++) {
				for (uint32_t site = 0; site < 2; site++) {
					ck_assert_int_eq(coord_state_init(S), TANDEM_OK);
					uint64_t t = T0;
					cluster(t);
					ck_assert_int_eq(req("a1", t), COORD_R_OK);
					int holder =
					    0; /* index into site_node: the holder's site */
					for (unsigned k = 0; k < len; k++) {
						int to = 1 - holder;
						const char *h = site_node[holder];
						const char *tn = site_node[to];
						uint64_t ep = zone()->epoch;
						t += 1000;
						heartbeat_live(t);
						ck_assert_int_eq(
						    lease_op(COORD_IN_LEASE_RENEW, h, ep, t),
						    COORD_R_OK);
						coord_input_t sw =
						    mk(COORD_IN_SWITCHOVER, NULL, ZONE);
						snprintf(sw.target, sizeof(sw.target), "%s", tn);
						ck_assert_int_eq(apply(&sw, t), COORD_R_OK);
						if ((modes & (1u << k)) == 0) {
							/* switchover: the holder releases */
							t += 100;
							ck_assert_int_eq(
							    lease_op(COORD_IN_LEASE_RELEASE, h, ep,
								     t),
							    COORD_R_OK);
						} else {
							/* lapse: silent holder, the target waits */
							uint64_t exp = coord_zone_expiry(S, zone());
							ck_assert_int_eq(tick(exp), COORD_R_OK);
							ck_assert_ptr_nonnull(
							    find_effect(COORD_EFF_LAPSE, h));
							ck_assert_int_eq(req(tn, exp + MARG - 1),
									 COORD_R_HELD);
							t = exp + MARG;
							heartbeat_live(t);
						}
						t += 100;
						ck_assert_int_eq(req(tn, t), COORD_R_OK);
						holder = to;
					}
					/* the holder renews; its lease runs to expiry */
					const char *h = site_node[holder];
					t += 1000;
					heartbeat_live(t);
					ck_assert_int_eq(
					    lease_op(COORD_IN_LEASE_RENEW, h, zone()->epoch, t),
					    COORD_R_OK);
					uint64_t expiry = coord_zone_expiry(S, zone());
					uint64_t end = expiry + MARG;
					uint64_t at = t + 1000;
					if (lapsed) {
						ck_assert_int_eq(tick(expiry), COORD_R_OK);
						ck_assert_str_eq(zone()->holder, "");
						at = expiry + MARG / 2;
					}
					heartbeat_live(at);
					coord_input_t to = mk(COORD_IN_TAKEOVER, NULL, NULL);
					to.site = site;
					ck_assert_int_eq(apply(&to, at), COORD_R_OK);
					/* nobody else before the old holder's expiry + margin */
					for (uint64_t now = at; now < end; now += 250) {
						for (int n = 0; n < 4; n++) {
							if (strcmp(all[n], h) == 0) {
								continue;
							}
							coord_reason_t r = req(all[n], now);
							ck_assert_msg(
							    r != COORD_R_OK,
							    "len %u modes %u lapsed %u "
							    "takeover %c: %s granted at "
							    "+%llu ms, %s's lease ends "
							    "at +%llu",
							    len, modes, lapsed, 'A' + site, all[n],
							    (unsigned long long)(now - T0), h,
							    (unsigned long long)(end - T0));
						}
					}
					for (int n = 0; n < 4; n++) {
						if (strcmp(all[n], h) != 0) {
							ck_assert_int_ne(req(all[n], end - 1),
									 COORD_R_OK);
						}
					}
					/* then a survivor gets it */
					heartbeat_live(end);
					ck_assert_int_eq(tick(end), COORD_R_OK);
					bool granted = false;
					for (int n = 0; n < 4 && !granted; n++) {
						granted = req(all[n], end) == COORD_R_OK;
						if (granted) {
							ck_assert_uint_eq(
							    coord_state_node(S, all[n])->site,
							    site);
						}
					}
					ck_assert(granted);
					scenarios++;
				}
			}
		}
	}
	ck_assert_uint_eq(scenarios, 60);
}
END_TEST

/* ---- one process per node (instance ids) ---- */

#define I1 "11111111111111111111111111111111"
#define I2 "2222222222222222222222222222222f"

static coord_reason_t reg_inst(const char *node, uint32_t site, const char *inst, uint64_t now)
{
	coord_input_t in = mk(COORD_IN_NODE_REGISTER, node, NULL);
	in.site = site;
	curve_of(node, in.curve_pub);
	snprintf(in.instance, sizeof(in.instance), "%s", inst);
	return apply(&in, now);
}

static coord_reason_t op_inst(coord_input_kind_t kind, const char *node, const char *inst,
			      uint64_t epoch, uint64_t now)
{
	coord_input_t in = mk(kind, node, kind == COORD_IN_NODE_HEARTBEAT ? NULL : ZONE);
	snprintf(in.instance, sizeof(in.instance), "%s", inst);
	in.epoch = epoch;
	in.serial = 1000 + (uint32_t)(now % 1000) * 2;
	memset(in.digest, 7, sizeof(in.digest));
	return apply(&in, now);
}

START_TEST(test_instance_one_process)
{
	ck_assert_int_eq(reg_inst("a1", 0, I1, T0), COORD_R_OK);
	ck_assert_int_eq(reg_inst("b1", 1, I2, T0), COORD_R_OK);
	ck_assert_int_eq(zone_add(ZONE, true, false, 0, T0), COORD_R_OK);
	ck_assert_str_eq(coord_state_node(S, "a1")->instance, I1);
	ck_assert_int_eq(op_inst(COORD_IN_LEASE_REQUEST, "a1", I1, 0, T0 + 10), COORD_R_OK);
	uint64_t ep = R->epoch;
	/* a second process with a1's key: everything it sends is refused, with an alert */
	ck_assert_int_eq(reg_inst("a1", 0, I2, T0 + 100), COORD_R_INSTANCE);
	ck_assert_ptr_nonnull(strstr(R->text, "alert"));
	ck_assert_ptr_nonnull(strstr(R->text, I2));
	ck_assert_str_eq(coord_state_node(S, "a1")->instance, I1);
	ck_assert_str_eq(coord_state_node(S, "a1")->rival, I2);
	ck_assert_int_eq(op_inst(COORD_IN_NODE_HEARTBEAT, "a1", I2, 0, T0 + 200), COORD_R_INSTANCE);
	ck_assert_int_eq(op_inst(COORD_IN_NODE_HEARTBEAT, "a1", "", 0, T0 + 200), COORD_R_INSTANCE);
	ck_assert_int_eq(op_inst(COORD_IN_LEASE_REQUEST, "a1", I2, 0, T0 + 300), COORD_R_INSTANCE);
	ck_assert_int_eq(op_inst(COORD_IN_LEASE_RENEW, "a1", I2, ep, T0 + 300), COORD_R_INSTANCE);
	ck_assert_int_eq(op_inst(COORD_IN_COMMIT, "a1", I2, ep, T0 + 300), COORD_R_INSTANCE);
	/* the copy stopping must not end the real node's lease */
	ck_assert_int_eq(op_inst(COORD_IN_LEASE_RELEASE, "a1", I2, ep, T0 + 400), COORD_R_INSTANCE);
	ck_assert_str_eq(coord_state_holder(S, ZONE, T0 + 400)->id, "a1");
	/* the registered one goes on */
	ck_assert_int_eq(op_inst(COORD_IN_NODE_HEARTBEAT, "a1", I1, 0, T0 + 500), COORD_R_OK);
	ck_assert_int_eq(op_inst(COORD_IN_LEASE_RENEW, "a1", I1, ep, T0 + 2000), COORD_R_OK);
	uint64_t expiry = T0 + 2000 + LEASE;
	ck_assert_int_eq(op_inst(COORD_IN_COMMIT, "a1", I1, ep, T0 + 2000), COORD_R_OK);
	/* a1's process dies (kill -9) after T0 + 2000; a new one registers: refused while
	 * the old one counts as heard from, accepted once it has been silent for the node
	 * timeout */
	ck_assert_int_eq(reg_inst("a1", 0, I2, T0 + 2000 + P.node_timeout_ms), COORD_R_INSTANCE);
	ck_assert_int_eq(op_inst(COORD_IN_NODE_HEARTBEAT, "b1", I2, 0, T0 + 9000), COORD_R_OK);
	ck_assert_int_eq(reg_inst("a1", 0, I2, T0 + 2001 + P.node_timeout_ms), COORD_R_OK);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_INSTANCE, "a1"));
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_LAPSE, "a1"));
	ck_assert_str_eq(coord_state_node(S, "a1")->instance, I2);
	ck_assert_str_eq(zone()->holder, "");
	/* the old instance's lease is treated as any other's: nobody, the new instance of
	 * the same node included, before its expiry + margin */
	uint64_t now = T0 + 2002 + P.node_timeout_ms;
	ck_assert_uint_lt(now, expiry + MARG);
	ck_assert_int_eq(op_inst(COORD_IN_LEASE_REQUEST, "a1", I2, 0, now), COORD_R_HELD);
	ck_assert_int_eq(op_inst(COORD_IN_LEASE_REQUEST, "b1", I2, 0, now), COORD_R_HELD);
	ck_assert_int_eq(op_inst(COORD_IN_LEASE_REQUEST, "a1", I2, 0, expiry + MARG - 1),
			 COORD_R_HELD);
	/* and the old instance, should it still be alive, is refused */
	ck_assert_int_eq(op_inst(COORD_IN_LEASE_RENEW, "a1", I1, ep, now), COORD_R_INSTANCE);
	ck_assert_int_eq(op_inst(COORD_IN_NODE_HEARTBEAT, "a1", I2, 0, expiry + MARG), COORD_R_OK);
	ck_assert_int_eq(op_inst(COORD_IN_LEASE_REQUEST, "a1", I2, 0, expiry + MARG), COORD_R_OK);
	ck_assert_uint_eq(R->epoch, ep + 1);
	/* a malformed instance is bad input */
	ck_assert_int_eq(op_inst(COORD_IN_NODE_HEARTBEAT, "a1", "ABCDEF", 0, expiry + MARG + 1),
			 COORD_R_BAD_INPUT);
	/* a node registered before instances were sent (none known) takes the first one */
	ck_assert_int_eq(reg_inst("b2", 1, "", expiry), COORD_R_OK);
	ck_assert_int_eq(op_inst(COORD_IN_NODE_HEARTBEAT, "b2", I1, 0, expiry + 1), COORD_R_OK);
	ck_assert_str_eq(coord_state_node(S, "b2")->instance, I1);
	ck_assert_int_eq(op_inst(COORD_IN_NODE_HEARTBEAT, "b2", "", 0, expiry + 2),
			 COORD_R_INSTANCE);
}
END_TEST

/* ---- alerts the nodes report ---- */

static coord_reason_t hb_alerts(const char *node, uint64_t now, size_t n, const coord_alert_t *a)
{
	coord_input_t in = mk(COORD_IN_NODE_HEARTBEAT, node, NULL);
	in.nalerts = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		in.alerts[i] = a[i];
	}
	return apply(&in, now);
}

static coord_alert_t alert(const char *zone, const char *kind, bool blocking, const char *text)
{
	coord_alert_t a;
	memset(&a, 0, sizeof(a));
	snprintf(a.zone, sizeof(a.zone), "%s", zone);
	snprintf(a.kind, sizeof(a.kind), "%s", kind);
	snprintf(a.text, sizeof(a.text), "%s", text);
	a.blocking = blocking;
	return a;
}

START_TEST(test_alerts_block_leases)
{
	cluster(T0);
	coord_alert_t a1[2] = {alert(ZONE, "input-missing", true, "no file /srv/in/jp.zone"),
			       alert("other.", "input-held", false, "3 delegations removed")};
	ck_assert_int_eq(hb_alerts("a1", T0, 2, a1), COORD_R_OK);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_NODE_ALERT, "a1"));
	ck_assert_uint_eq(coord_state_node(S, "a1")->nalerts, 2);
	ck_assert_str_eq(coord_state_node(S, "a1")->alerts[0].kind, "input-missing");
	/* the same list again: stored as is, no new effect */
	ck_assert_int_eq(hb_alerts("a1", T0 + 1, 2, a1), COORD_R_OK);
	ck_assert_ptr_null(find_effect(COORD_EFF_NODE_ALERT, NULL));
	/* a blocking alert for the zone: no lease for it, not a switchover target */
	ck_assert_int_eq(req("a1", T0 + 2), COORD_R_NODE_ALERT);
	ck_assert_ptr_nonnull(strstr(R->text, "input-missing"));
	coord_alert_t hsm = alert("", "hsm", true, "token not found");
	ck_assert_int_eq(hb_alerts("a2", T0 + 2, 1, &hsm), COORD_R_OK);
	ck_assert_int_eq(req("a2", T0 + 3), COORD_R_NODE_ALERT);
	coord_alert_t held = alert(ZONE, "input-held", false, "held");
	ck_assert_int_eq(hb_alerts("b2", T0 + 3, 1, &held), COORD_R_OK);
	/* a non-blocking one does not stop b1/b2; the preferred free lease goes to site B */
	ck_assert_int_eq(req("b1", T0 + 4), COORD_R_OK);
	uint64_t ep = R->epoch;
	coord_input_t sw = mk(COORD_IN_SWITCHOVER, NULL, ZONE);
	snprintf(sw.target, sizeof(sw.target), "a1");
	ck_assert_int_eq(apply(&sw, T0 + 5), COORD_R_NODE_ALERT);
	snprintf(sw.target, sizeof(sw.target), "a2");
	ck_assert_int_eq(apply(&sw, T0 + 5), COORD_R_NODE_ALERT);
	snprintf(sw.target, sizeof(sw.target), "b2");
	ck_assert_int_eq(apply(&sw, T0 + 5), COORD_R_OK);
	/* a failover skips blocked nodes: b1 dies, only b2 is a candidate */
	ck_assert_int_eq(lease_op(COORD_IN_LEASE_RELEASE, "b1", ep, T0 + 6), COORD_R_OK);
	ck_assert_int_eq(req("b2", T0 + 7), COORD_R_OK);
	/* the whole list each time: an empty one clears them, with an effect each */
	ck_assert_int_eq(hb_alerts("a1", T0 + 8, 0, NULL), COORD_R_OK);
	ck_assert_uint_eq(coord_state_node(S, "a1")->nalerts, 0);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_NODE_ALERT, "a1"));
	ck_assert_ptr_nonnull(strstr(R->effects[0].text, "cleared"));
	snprintf(sw.target, sizeof(sw.target), "a1");
	ck_assert_int_eq(apply(&sw, T0 + 9), COORD_R_OK);
	/* malformed alerts are bad input */
	coord_alert_t bad = alert(ZONE, "Input", true, "x");
	ck_assert_int_eq(hb_alerts("a1", T0 + 10, 1, &bad), COORD_R_BAD_INPUT);
	bad = alert(ZONE, "disk", true, "two\nlines");
	ck_assert_int_eq(hb_alerts("a1", T0 + 10, 1, &bad), COORD_R_BAD_INPUT);
	coord_input_t in = mk(COORD_IN_NODE_HEARTBEAT, "a1", NULL);
	in.nalerts = COORD_ALERTS_MAX + 1;
	ck_assert_int_eq(apply(&in, T0 + 10), COORD_R_BAD_INPUT);
	/* a register carries them too */
	coord_input_t rg = mk(COORD_IN_NODE_REGISTER, "a2", NULL);
	curve_of("a2", rg.curve_pub);
	ck_assert_int_eq(apply(&rg, T0 + 11), COORD_R_OK);
	ck_assert_uint_eq(coord_state_node(S, "a2")->nalerts, 0);
}
END_TEST

START_TEST(test_zone_accept_input)
{
	cluster(T0);
	coord_input_t in = mk(COORD_IN_ZONE_ACCEPT_INPUT, NULL, ZONE);
	in.serial = 2026120105;
	ck_assert(!zone()->has_accepted_input);
	ck_assert_int_eq(apply(&in, T0), COORD_R_OK);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_INPUT_ACCEPTED, NULL));
	ck_assert_uint_eq(R->effects[0].serial, 2026120105);
	ck_assert(zone()->has_accepted_input);
	ck_assert_uint_eq(zone()->accepted_input_serial, 2026120105);
	ck_assert_int_eq(apply(&in, T0 + 1), COORD_R_OK); /* again: nothing new */
	ck_assert(!R->changed);
	in.serial = 2026120107;
	ck_assert_int_eq(apply(&in, T0 + 2), COORD_R_OK);
	ck_assert_uint_eq(zone()->accepted_input_serial, 2026120107);
	snprintf(in.zone, sizeof(in.zone), "nope.");
	ck_assert_int_eq(apply(&in, T0 + 3), COORD_R_UNKNOWN_ZONE);
	snprintf(in.zone, sizeof(in.zone), "a..b.");
	ck_assert_int_eq(apply(&in, T0 + 3), COORD_R_BAD_INPUT);
	/* it survives the store */
	uint8_t *buf = NULL;
	size_t len = 0;
	ck_assert_int_eq(coord_state_pack(S, &buf, &len), TANDEM_OK);
	ck_assert_int_eq(coord_state_unpack(buf, len, &P, N), TANDEM_OK);
	free(buf);
	ck_assert(coord_state_zone(N, ZONE)->has_accepted_input);
	ck_assert_uint_eq(coord_state_zone(N, ZONE)->accepted_input_serial, 2026120107);
}
END_TEST

/* ---- the cluster's lease and margin ---- */

/* zone approve|reject (issue 11): only a serial a node's review-rejected alert holds; the
 * decision is kept in the state and survives the store. */
START_TEST(test_zone_review)
{
	cluster(T0);
	coord_input_t ap = mk(COORD_IN_ZONE_APPROVE, NULL, ZONE);
	ap.serial = 2026120105;
	/* nothing held: refused, saying so */
	ck_assert_int_eq(apply(&ap, T0), COORD_R_NOT_HELD);
	ck_assert_ptr_nonnull(strstr(R->text, "none is held"));
	ck_assert(!zone()->has_review_decision);
	coord_alert_t held =
	    alert(ZONE, "review-rejected", false,
		  "unsigned serial 2026120105 rejected by the review hook: marker; "
		  "held at the last published version");
	ck_assert_int_eq(hb_alerts("a1", T0 + 1, 1, &held), COORD_R_OK);
	/* another serial is still refused, naming the one held */
	ap.serial = 2026120104;
	ck_assert_int_eq(apply(&ap, T0 + 2), COORD_R_NOT_HELD);
	ck_assert_ptr_nonnull(strstr(R->text, "unsigned 2026120105 on a1"));
	/* the held one: approved, with an effect for the audit log */
	ap.serial = 2026120105;
	ck_assert_int_eq(apply(&ap, T0 + 3), COORD_R_OK);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_REVIEW, NULL));
	ck_assert_ptr_nonnull(strstr(R->effects[0].text, "approves"));
	ck_assert(zone()->has_review_decision && zone()->review_approved);
	ck_assert_uint_eq(zone()->review_serial, 2026120105);
	ck_assert_uint_eq(zone()->review_seq, 1);
	/* again: it counts (a node may hold a new version of the same serial) */
	ck_assert_int_eq(apply(&ap, T0 + 4), COORD_R_OK);
	ck_assert(R->changed);
	ck_assert_uint_eq(zone()->review_seq, 2);
	/* a reject replaces it */
	coord_input_t rj = mk(COORD_IN_ZONE_REJECT, NULL, ZONE);
	rj.serial = 2026120105;
	ck_assert_int_eq(apply(&rj, T0 + 5), COORD_R_OK);
	ck_assert_ptr_nonnull(strstr(R->effects[0].text, "rejects"));
	ck_assert(zone()->has_review_decision && !zone()->review_approved);
	/* a zone's alert does not hold another zone's serial */
	snprintf(rj.zone, sizeof(rj.zone), "nope.");
	ck_assert_int_eq(apply(&rj, T0 + 6), COORD_R_UNKNOWN_ZONE);
	uint8_t *buf = NULL;
	size_t len = 0;
	ck_assert_int_eq(coord_state_pack(S, &buf, &len), TANDEM_OK);
	ck_assert_int_eq(coord_state_unpack(buf, len, &P, N), TANDEM_OK);
	free(buf);
	ck_assert(coord_state_zone(N, ZONE)->has_review_decision);
	ck_assert(!coord_state_zone(N, ZONE)->review_approved);
	ck_assert_uint_eq(coord_state_zone(N, ZONE)->review_serial, 2026120105);
	ck_assert_uint_eq(coord_state_zone(N, ZONE)->review_seq, 3);
}
END_TEST

/* ---- the cluster's lease and margin ---- */

START_TEST(test_params_set)
{
	cluster(T0);
	coord_input_t ps = mk(COORD_IN_PARAMS_SET, NULL, NULL);
	const uint64_t bad[][2] = {
	    {10000, 0}, {9000, 3000}, {30000, 10000}, {0, 0}, {(uint64_t)UINT32_MAX + 3, 1000}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ps.lease_ms = bad[i][0];
		ps.margin_ms = bad[i][1];
		ck_assert_int_eq(apply(&ps, T0), COORD_R_BAD_INPUT);
		ck_assert_ptr_nonnull(strstr(R->text, "margin"));
	}
	ck_assert_uint_eq(S->lease_ms, 0); /* never set: the process's params apply */
	ck_assert_int_eq(req("a1", T0), COORD_R_OK);
	ck_assert_uint_eq(R->expiry_ms, T0 + LEASE);
	/* a longer lease: the next grant or renewal uses it, whatever params apply() gets */
	ps.lease_ms = 30000;
	ps.margin_ms = 9000;
	ck_assert_int_eq(apply(&ps, T0 + 1), COORD_R_OK);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_PARAMS, NULL));
	ck_assert_uint_eq(S->lease_ms, 30000);
	ck_assert_uint_eq(S->margin_ms, 9000);
	coord_params_t eff;
	coord_state_params(S, &P, &eff);
	ck_assert_uint_eq(eff.lease_ms, 30000);
	ck_assert_uint_eq(eff.node_timeout_ms, P.node_timeout_ms);
	ck_assert_int_eq(lease_op(COORD_IN_LEASE_RENEW, "a1", 1, T0 + 2), COORD_R_OK);
	ck_assert_uint_eq(R->expiry_ms, T0 + 2 + 30000);
	ck_assert_uint_eq(coord_zone_blocked(S, zone()), T0 + 2 + 30000 + 9000);
	/* shortened: for a while, a renewal still blocks others for the old lease (a node
	 * that has not read the change publishes for that long) */
	ps.lease_ms = 6000;
	ps.margin_ms = 1000;
	ck_assert_int_eq(apply(&ps, T0 + 3), COORD_R_OK);
	ck_assert_int_eq(lease_op(COORD_IN_LEASE_RENEW, "a1", 1, T0 + 4), COORD_R_OK);
	/* the node lease runs 6 s from the renewal; the zone's own expiry, from its grant,
	 * is later and stands */
	ck_assert_uint_eq(coord_state_node(S, "a1")->lease_expiry_ms, T0 + 4 + 6000);
	ck_assert_uint_eq(R->expiry_ms, T0 + LEASE);
	ck_assert_uint_ge(coord_zone_blocked(S, zone()), T0 + 4 + 30000 + 1000);
	/* (the node lease's blocked time is never lowered: the renewal at T0 + 2 set it) */
	ck_assert_uint_eq(coord_zone_blocked(S, zone()), T0 + 2 + 30000 + 9000);
	uint64_t later = T0 + 3 + 30000 + 6000;
	ck_assert_int_eq(lease_op(COORD_IN_LEASE_RENEW, "a1", 1, T0 + 4 + 5000), COORD_R_OK);
	ck_assert_int_eq(req("a1", later), COORD_R_OK); /* lapsed: the holder asks again */
	ck_assert_uint_eq(coord_zone_blocked(S, zone()), later + 6000 + 1000);
	/* the same values again: nothing to change */
	ck_assert_int_eq(apply(&ps, later), COORD_R_OK);
	ck_assert(!R->changed);
	/* and a state that says so is checked against the rest of the params */
	S->lease_ms = 5000;
	S->margin_ms = 0;
	ck_assert_int_eq(coord_state_check(S, &P), TANDEM_COORD_ESTATE);
	S->margin_ms = 1000;
	ck_assert_int_eq(coord_state_check(S, &P), TANDEM_OK);
}
END_TEST

/* ---- names an operator gives ---- */

START_TEST(test_bad_names_refused)
{
	cluster(T0);
	char label64[80], long_name[COORD_ZONE_MAX];
	memset(label64, 'a', 64);
	snprintf(label64 + 64, sizeof(label64) - 64, ".example.");
	/* 63 + 63 + 63 + 62 octet labels: 255 characters, 256 octets in wire form */
	memset(long_name, 0, sizeof(long_name));
	size_t o = 0;
	for (int l = 0; l < 4; l++) {
		size_t n = l < 3 ? 63 : 62;
		memset(long_name + o, 'b', n);
		o += n;
		long_name[o++] = '.';
	}
	ck_assert_uint_eq(strlen(long_name), 255);
	const char *bad[] = {
	    "..",      "a..b.",
	    ".",       label64,
	    long_name, "a/b.",
	    "a b.",    "x.\n2026-12-06T00:00:00.000Z tandem-coord: audit: takeover accepted",
	    "x\x01y.", "caf\xc3\xa9."};
	uint32_t nzones = S->nzones;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(zone_add(bad[i], true, false, 0, T0) == COORD_R_BAD_INPUT,
			      "zone add '%s' not refused as bad input", bad[i]);
		ck_assert_ptr_null(strchr(R->text, '\n'));
		coord_input_t in = mk(COORD_IN_ZONE_ACCEPT_INPUT, NULL, bad[i]);
		ck_assert_int_eq(apply(&in, T0), COORD_R_BAD_INPUT);
		in = mk(COORD_IN_ZONE_REMOVE, NULL, bad[i]);
		ck_assert_int_eq(apply(&in, T0), COORD_R_BAD_INPUT);
		in = mk(COORD_IN_SWITCHOVER, NULL, bad[i]);
		snprintf(in.target, sizeof(in.target), "b1");
		ck_assert_int_eq(apply(&in, T0), COORD_R_BAD_INPUT);
	}
	/* zone add wants the final dot (the name nodes are configured with) */
	ck_assert_int_eq(zone_add("example", true, false, 0, T0), COORD_R_BAD_INPUT);
	ck_assert_uint_eq(S->nzones, nzones); /* no slot used */
	/* the same name in other letters, or without its final dot, is the same zone */
	ck_assert_int_eq(zone_add("example.", true, false, 0, T0), COORD_R_OK);
	ck_assert_int_eq(zone_add("EXAMPLE.", true, false, 0, T0), COORD_R_EXISTS);
	ck_assert_int_eq(zone_add("Example.", true, false, 0, T0), COORD_R_EXISTS);
	ck_assert_int_eq(zone_add("JP.", true, false, 0, T0), COORD_R_EXISTS);
	ck_assert_uint_eq(S->nzones, nzones + 1);
	/* and it is found whatever the letters */
	coord_input_t in = mk(COORD_IN_ZONE_REMOVE, NULL, "EXAMPLE.");
	ck_assert_int_eq(apply(&in, T0), COORD_R_OK);
	ck_assert(coord_state_zone(S, "example.")->removed);
	ck_assert_int_eq(zone_add("EXAMPLE.", true, false, 0, T0), COORD_R_EXISTS);
	ck_assert_int_eq(zone_add("example.", true, false, 0, T0), COORD_R_OK);
	/* a 63-octet label and a 255-octet name are fine */
	char ok_name[COORD_ZONE_MAX];
	memset(ok_name, 0, sizeof(ok_name));
	memset(ok_name, 'c', 63);
	ok_name[63] = '.';
	ck_assert_int_eq(zone_add(ok_name, true, false, 0, T0), COORD_R_OK);
	/* member names: register, drain, undrain, remove, switchover target */
	const char *bad_nodes[] = {"", "-a", "a b", "a/b", "a\nb", "node\x7f", ".hidden"};
	for (size_t i = 0; i < sizeof(bad_nodes) / sizeof(bad_nodes[0]); i++) {
		if (bad_nodes[i][0] != '\0') {
			ck_assert_msg(reg(bad_nodes[i], 0, T0) == COORD_R_BAD_INPUT,
				      "register '%s' not refused", bad_nodes[i]);
		}
		in = mk(COORD_IN_DRAIN, bad_nodes[i], NULL);
		ck_assert_int_eq(apply(&in, T0), COORD_R_BAD_INPUT);
		in = mk(COORD_IN_UNDRAIN, bad_nodes[i], NULL);
		ck_assert_int_eq(apply(&in, T0), COORD_R_BAD_INPUT);
		in = mk(COORD_IN_NODE_REMOVE, bad_nodes[i], NULL);
		ck_assert_int_eq(apply(&in, T0), COORD_R_BAD_INPUT);
		in = mk(COORD_IN_SWITCHOVER, NULL, ZONE);
		snprintf(in.target, sizeof(in.target), "%s", bad_nodes[i]);
		ck_assert_int_eq(apply(&in, T0), COORD_R_BAD_INPUT);
	}
	ck_assert_uint_eq(S->nnodes, 4);
}
END_TEST

/* ---- invariant 4: no key before every site holds it ---- */

START_TEST(test_key_activation_needs_every_site)
{
	cluster(T0);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ADD, NULL, 7, T0), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ADD, NULL, 7, T0), COORD_R_EXISTS);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACTIVATE, NULL, 7, T0), COORD_R_KEY_NOT_ACKED);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACK, "a1", 7, T0), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACK, "a2", 7, T0), COORD_R_OK);
	/* two HSMs at one site are still one site */
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACTIVATE, NULL, 7, T0), COORD_R_KEY_NOT_ACKED);
	ck_assert(strstr(R->text, "site B") != NULL);
	ck_assert(!coord_state_key_acked(S, &P, ZONE, 7));
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACK, "b1", 8, T0), COORD_R_UNKNOWN_KEY);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACK, "zz", 7, T0), COORD_R_UNKNOWN_NODE);
	/* the ack that completes the sites activates the key; asking again changes nothing */
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACK, "b1", 7, T0), COORD_R_OK);
	ck_assert(coord_state_key_acked(S, &P, ZONE, 7));
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_KEY_ACTIVE, NULL));
	ck_assert(coord_state_zone(S, ZONE)->keys[0].active);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACTIVATE, NULL, 7, T0), COORD_R_OK);
	ck_assert(!R->changed);
	ck_assert_ptr_null(find_effect(COORD_EFF_KEY_ACTIVE, NULL));
	/* a node lacking an active key gets no lease and is no switchover target */
	ck_assert_int_eq(req("b2", T0), COORD_R_KEY_MISSING);
	ck_assert_int_eq(req("a1", T0), COORD_R_OK);
	coord_input_t sw = mk(COORD_IN_SWITCHOVER, NULL, ZONE);
	snprintf(sw.target, sizeof(sw.target), "b2");
	ck_assert_int_eq(apply(&sw, T0 + 1), COORD_R_KEY_MISSING);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACK, "b2", 7, T0 + 2), COORD_R_OK);
	ck_assert_int_eq(apply(&sw, T0 + 3), COORD_R_OK);
	/* three sites: the third must acknowledge too */
	P.nsites = 3;
	P.serial_modulus = 3;
	P.site_residue[2] = 2;
	ck_assert_int_eq(key_op(COORD_IN_KEY_ADD, NULL, 9, T0 + 4), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACK, "a1", 9, T0 + 4), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACK, "b1", 9, T0 + 4), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACTIVATE, NULL, 9, T0 + 4), COORD_R_KEY_NOT_ACKED);
	ck_assert_int_eq(reg("c1", 2, T0 + 5), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACK, "c1", 9, T0 + 5), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACTIVATE, NULL, 9, T0 + 5), COORD_R_OK);
	/* a removed node's imports no longer count */
	ck_assert_int_eq(key_op(COORD_IN_KEY_ADD, NULL, 10, T0 + 6), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACK, "a2", 10, T0 + 6), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACK, "b2", 10, T0 + 6), COORD_R_OK);
	coord_input_t rm = mk(COORD_IN_NODE_REMOVE, "a2", NULL);
	ck_assert_int_eq(apply(&rm, T0 + 7), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACK, "c1", 10, T0 + 7), COORD_R_OK);
	ck_assert_ptr_null(find_effect(COORD_EFF_KEY_ACTIVE, NULL));
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACTIVATE, NULL, 10, T0 + 7), COORD_R_KEY_NOT_ACKED);
}
END_TEST

/* ---- sites suspended (issue 9 item 1) ---- */

static coord_reason_t site_op(coord_input_kind_t kind, uint32_t site, uint64_t now)
{
	coord_input_t in = mk(kind, NULL, NULL);
	in.site = site;
	return apply(&in, now);
}

START_TEST(test_site_suspend_frees_key_activation)
{
	cluster(T0);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ADD, NULL, 3, T0), COORD_R_OK);
	heartbeat_all_but(NULL, T0);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACK, "a1", 3, T0), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACK, "b1", 3, T0), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACTIVATE, NULL, 3, T0), COORD_R_OK);
	ck_assert_int_eq(req("a1", T0), COORD_R_OK);
	/* site A is lost: a successor key made at B never gets A's import */
	ck_assert_int_eq(key_op(COORD_IN_KEY_ADD, "b1", 7, T0 + 1), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACTIVATE, NULL, 7, T0 + 1), COORD_R_KEY_NOT_ACKED);
	ck_assert(strstr(R->text, "site A") != NULL);
	/* not while a node of A may still publish: a1's lease runs, then its margin */
	ck_assert_int_eq(site_op(COORD_IN_SITE_SUSPEND, 0, T0 + 2), COORD_R_BUSY);
	ck_assert(strstr(R->text, "a1") != NULL);
	uint64_t free_at = coord_zone_expiry(S, zone()) + P.margin_ms;
	ck_assert_int_eq(site_op(COORD_IN_SITE_SUSPEND, 0, free_at - 1), COORD_R_BUSY);
	ck_assert_int_eq(site_op(COORD_IN_SITE_SUSPEND, 9, free_at), COORD_R_BAD_INPUT);
	ck_assert_int_eq(site_op(COORD_IN_SITE_SUSPEND, 0, free_at), COORD_R_OK);
	ck_assert_uint_eq(S->suspended_sites, 1u);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_SITE, NULL));
	ck_assert_int_eq(site_op(COORD_IN_SITE_SUSPEND, 0, free_at), COORD_R_OK);
	ck_assert(!R->changed);
	/* the last site standing is never suspended */
	ck_assert_int_eq(site_op(COORD_IN_SITE_SUSPEND, 1, free_at), COORD_R_BAD_INPUT);
	ck_assert_uint_eq(S->suspended_sites, 1u);
	/* B alone now suffices: the key activates and B signs with it */
	ck_assert(coord_state_key_acked(S, &P, ZONE, 7));
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACTIVATE, NULL, 7, free_at + 1), COORD_R_OK);
	heartbeat_all_but(NULL, free_at + 1);
	ck_assert_int_eq(req("a1", free_at + 2), COORD_R_SITE_SUSPENDED);
	ck_assert_int_eq(req("b2", free_at + 2), COORD_R_KEY_MISSING);
	ck_assert_int_eq(req("b1", free_at + 2), COORD_R_OK);
	coord_input_t sw = mk(COORD_IN_SWITCHOVER, NULL, ZONE);
	snprintf(sw.target, sizeof(sw.target), "a1");
	ck_assert_int_eq(apply(&sw, free_at + 3), COORD_R_SITE_SUSPENDED);
	/* resumed: A is in the ack set again, and a1 is a candidate only with every key */
	ck_assert_int_eq(site_op(COORD_IN_SITE_RESUME, 0, free_at + 4), COORD_R_OK);
	ck_assert_uint_eq(S->suspended_sites, 0u);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ADD, "b1", 8, free_at + 4), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACTIVATE, NULL, 8, free_at + 4),
			 COORD_R_KEY_NOT_ACKED);
	ck_assert_int_eq(apply(&sw, free_at + 5), COORD_R_KEY_MISSING);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACK, "a1", 7, free_at + 6), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACK, "a1", 8, free_at + 6), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACTIVATE, NULL, 8, free_at + 6), COORD_R_OK);
	ck_assert_int_eq(apply(&sw, free_at + 7), COORD_R_OK);
	/* a state with every site suspended is incoherent */
	S->suspended_sites = 3;
	ck_assert_int_eq(coord_state_check(S, &P), TANDEM_COORD_ESTATE);
	S->suspended_sites = 4; /* a site beyond nsites */
	ck_assert_int_eq(coord_state_check(S, &P), TANDEM_COORD_ESTATE);
	S->suspended_sites = 0;
}
END_TEST

/* ---- retired keys destroyed in the HSMs (issue 9 item 5) ---- */

static coord_reason_t purge(uint32_t id, uint64_t retention_ms, uint64_t now)
{
	coord_input_t in = mk(COORD_IN_KEY_PURGE, NULL, ZONE);
	in.key_id = id;
	in.retention_ms = retention_ms;
	return apply(&in, now);
}

START_TEST(test_key_retire_destroy_purge)
{
	cluster(T0);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ADD, "a1", 3, T0), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACK, "b1", 3, T0), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACTIVATE, NULL, 3, T0), COORD_R_OK);
	/* only a retired key is destroyed or purged */
	ck_assert_int_eq(key_op(COORD_IN_KEY_DESTROYED, "a1", 3, T0), COORD_R_BUSY);
	ck_assert_int_eq(purge(3, 0, T0), COORD_R_BUSY);
	ck_assert_int_eq(key_op(COORD_IN_KEY_REMOVE, NULL, 3, T0 + 10), COORD_R_OK);
	const coord_effect_t *e = find_effect(COORD_EFF_KEY_RETIRED, NULL);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->key_id, 3);
	ck_assert_uint_eq(zone()->nkeys, 1);
	ck_assert(zone()->keys[0].retired);
	ck_assert(!zone()->keys[0].active);
	ck_assert_uint_eq(zone()->keys[0].retired_ms, T0 + 10);
	/* a retired key gates nothing: b2 never imported it and may sign */
	ck_assert_int_eq(req("b2", T0 + 11), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACTIVATE, NULL, 3, T0 + 11), COORD_R_UNKNOWN_KEY);
	ck_assert(!coord_state_key_acked(S, &P, ZONE, 3));
	/* destroys are recorded per node, once */
	ck_assert_int_eq(key_op(COORD_IN_KEY_DESTROYED, "a1", 3, T0 + 12), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_DESTROYED, "a1", 3, T0 + 12), COORD_R_OK);
	ck_assert(!R->changed);
	ck_assert_int_eq(key_op(COORD_IN_KEY_DESTROYED, "b1", 3, T0 + 13), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_DESTROYED, "zz", 3, T0 + 13), COORD_R_UNKNOWN_NODE);
	ck_assert_int_eq(key_op(COORD_IN_KEY_DESTROYED, "b1", 4, T0 + 13), COORD_R_UNKNOWN_KEY);
	ck_assert_uint_eq(zone()->keys[0].ndestroyed, 2);
	ck_assert_uint_eq(zone()->keys[0].destroyed[0].node_no, coord_state_node(S, "a1")->no);
	ck_assert_uint_eq(zone()->keys[0].destroyed[1].site, 1);
	/* retiring again changes nothing (the removal time stays) */
	ck_assert_int_eq(key_op(COORD_IN_KEY_REMOVE, NULL, 3, T0 + 20), COORD_R_OK);
	ck_assert(!R->changed);
	/* the archive copy stays for the retention, on the coordinator's clock */
	uint64_t year = 365ull * 24 * 3600 * 1000;
	ck_assert_int_eq(purge(3, year, T0 + 10 + year - 1), COORD_R_RETAINED);
	ck_assert_uint_eq(zone()->nkeys, 1);
	ck_assert_int_eq(purge(3, year, T0 + 10 + year), COORD_R_OK);
	e = find_effect(COORD_EFF_KEY_PURGED, NULL);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->key_id, 3);
	ck_assert_uint_eq(zone()->nkeys, 0);
	ck_assert_int_eq(purge(3, year, T0 + 10 + year), COORD_R_UNKNOWN_KEY);
}
END_TEST

/* ---- invariant 2: standby digests ---- */

START_TEST(test_standby_digest_alert)
{
	cluster(T0);
	ck_assert_int_eq(req("a1", T0), COORD_R_OK);
	ck_assert_int_eq(report("a1", 100, 1, T0), COORD_R_BAD_INPUT);
	ck_assert_int_eq(commit("a1", 1, 100, 0x11, T0 + 1), COORD_R_OK);
	ck_assert_int_eq(report("b1", 100, 0x11, T0 + 2), COORD_R_OK);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_DIGEST_MATCH, "b1"));
	ck_assert_int_eq(report("b2", 100, 0x22, T0 + 3), COORD_R_OK);
	const coord_effect_t *e = find_effect(COORD_EFF_DIGEST_ALERT, "b2");
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->serial, 100);
	ck_assert(strstr(e->text, "alert: digest mismatch on zone jp. serial 100") != NULL);
	ck_assert_uint_eq(zone()->alerts, 1);
	ck_assert(zone()->alert_open);
	ck_assert_str_eq(zone()->alert_node, "b2");
	/* a standby ahead of the active: compared when the active commits */
	ck_assert_int_eq(report("b1", 102, 0x33, T0 + 4), COORD_R_OK);
	ck_assert_uint_eq(R->neffects, 0);
	ck_assert_int_eq(commit("a1", 1, 102, 0x44, T0 + 5), COORD_R_OK);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_DIGEST_ALERT, "b1"));
	ck_assert_uint_eq(zone()->alerts, 2);
	/* ECDSA zones differ by design: no comparison */
	ck_assert_int_eq(zone_add("ec.", false, false, 0, T0), COORD_R_OK);
	coord_input_t in = mk(COORD_IN_LEASE_REQUEST, "a1", "ec.");
	ck_assert_int_eq(apply(&in, T0 + 6), COORD_R_OK);
	in = mk(COORD_IN_COMMIT, "a1", "ec.");
	in.epoch = 1;
	in.serial = 10;
	ck_assert_int_eq(apply(&in, T0 + 7), COORD_R_OK);
	in = mk(COORD_IN_DIGEST_REPORT, "b1", "ec.");
	in.serial = 10;
	memset(in.digest, 0x99, sizeof(in.digest));
	ck_assert_int_eq(apply(&in, T0 + 8), COORD_R_OK);
	ck_assert_uint_eq(R->neffects, 0);
}
END_TEST

/* A zone whose signatures are not deterministic (ECDSA) is compared by its nosig digest: the
 * commit carries it, a standby's nosig report agrees only when its nosig digest is the
 * committed one AND the active's version passed its gate; either failure is the
 * digest-mismatch alert saying which. Full reports are not compared for such a zone, and
 * the nosig digest and reports survive the store. */
START_TEST(test_nosig_report)
{
	cluster(T0);
	ck_assert_int_eq(zone_add("ec.", false, false, 0, T0), COORD_R_OK);
	coord_input_t in = mk(COORD_IN_LEASE_REQUEST, "a1", "ec.");
	ck_assert_int_eq(apply(&in, T0 + 1), COORD_R_OK);
	in = mk(COORD_IN_COMMIT, "a1", "ec.");
	in.epoch = 1;
	in.serial = 10;
	memset(in.digest, 0x11, sizeof(in.digest));
	in.has_nosig = true;
	memset(in.nosig, 0x55, sizeof(in.nosig));
	ck_assert_int_eq(apply(&in, T0 + 2), COORD_R_OK);
	const coord_zone_t *z = coord_state_zone(S, "ec.");
	ck_assert(z->has_committed_nosig);
	/* a full digest report: not compared (the RRSIGs differ by design) */
	coord_input_t rep = mk(COORD_IN_DIGEST_REPORT, "b1", "ec.");
	rep.serial = 10;
	memset(rep.digest, 0x99, sizeof(rep.digest));
	ck_assert_int_eq(apply(&rep, T0 + 3), COORD_R_OK);
	ck_assert_uint_eq(R->neffects, 0);
	/* the same nosig digest and verified: agrees */
	rep.has_nosig = true;
	rep.verified = true;
	memset(rep.digest, 0x55, sizeof(rep.digest));
	ck_assert_int_eq(apply(&rep, T0 + 4), COORD_R_OK);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_DIGEST_MATCH, "b1"));
	z = coord_state_zone(S, "ec.");
	const char *why = NULL;
	ck_assert(coord_report_match(z, &z->reports[0], &why));
	ck_assert_uint_eq(z->alerts, 0);
	/* the same nosig digest, the active's version failing the gate: a mismatch */
	rep.verified = false;
	snprintf(rep.why, sizeof(rep.why), "RRSIG of www.ec./A: bad signature");
	ck_assert_int_eq(apply(&rep, T0 + 5), COORD_R_OK);
	const coord_effect_t *e = find_effect(COORD_EFF_DIGEST_ALERT, "b1");
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_nonnull(
	    strstr(e->text, "could not verify the active's version: RRSIG of www.ec./A"));
	z = coord_state_zone(S, "ec.");
	ck_assert(!coord_report_match(z, &z->reports[0], &why));
	ck_assert_ptr_nonnull(strstr(why, "could not verify"));
	ck_assert_uint_eq(z->alerts, 1);
	/* another nosig digest, verified: a mismatch naming the records */
	rep.verified = true;
	rep.why[0] = '\0';
	memset(rep.digest, 0x56, sizeof(rep.digest));
	ck_assert_int_eq(apply(&rep, T0 + 6), COORD_R_OK);
	e = find_effect(COORD_EFF_DIGEST_ALERT, "b1");
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_nonnull(strstr(e->text, "records other than RRSIGs differ"));
	/* a verification error that is not printable is refused */
	rep.verified = false;
	snprintf(rep.why, sizeof(rep.why), "bad\nline");
	ck_assert_int_eq(apply(&rep, T0 + 7), COORD_R_BAD_INPUT);
	/* a commit without nosig: nosig reports are no longer compared */
	rep.why[0] = '\0';
	uint8_t *buf = NULL;
	size_t len = 0;
	ck_assert_int_eq(coord_state_pack(S, &buf, &len), TANDEM_OK);
	ck_assert_int_eq(coord_state_unpack(buf, len, &P, N), TANDEM_OK);
	free(buf);
	const coord_zone_t *back = coord_state_zone(N, "ec.");
	ck_assert(back->has_committed_nosig);
	ck_assert_mem_eq(back->committed_nosig, z->committed_nosig, COORD_DIGEST_LEN);
	ck_assert(back->reports[0].nosig);
	in.serial = 12;
	in.has_nosig = false;
	ck_assert_int_eq(apply(&in, T0 + 8), COORD_R_OK);
	rep.serial = 12;
	ck_assert_int_eq(apply(&rep, T0 + 9), COORD_R_OK);
	ck_assert_ptr_null(find_effect(COORD_EFF_DIGEST_ALERT, "b1"));
	ck_assert_ptr_null(find_effect(COORD_EFF_DIGEST_MATCH, "b1"));
}
END_TEST

/* Incremental commits name their base; a standby without it asks for a full signing,
 * which is no digest comparison (no alert), and a full commit clears the request. */
START_TEST(test_no_base_requests_full)
{
	cluster(T0);
	ck_assert_int_eq(req("a1", T0), COORD_R_OK);
	coord_input_t in = mk(COORD_IN_COMMIT, "a1", ZONE);
	in.epoch = 1;
	in.serial = 100;
	memset(in.digest, 0x11, sizeof(in.digest));
	in.base_serial = 98;
	ck_assert_int_eq(apply(&in, T0 + 1), COORD_R_OK);
	ck_assert_uint_eq(zone()->committed_base_serial, 98);
	ck_assert(!zone()->full_requested);
	/* a report of no base for an older serial changes nothing */
	coord_input_t nb = mk(COORD_IN_DIGEST_REPORT, "b1", ZONE);
	nb.serial = 98;
	nb.no_base = true;
	ck_assert_int_eq(apply(&nb, T0 + 2), COORD_R_OK);
	ck_assert(!zone()->full_requested);
	nb.serial = 100;
	ck_assert_int_eq(apply(&nb, T0 + 3), COORD_R_OK);
	ck_assert(zone()->full_requested);
	ck_assert_uint_eq(zone()->alerts, 0);
	ck_assert_ptr_null(find_effect(COORD_EFF_DIGEST_ALERT, "b1"));
	ck_assert_ptr_null(find_effect(COORD_EFF_DIGEST_MATCH, "b1"));
	/* the state keeps it across a store round trip (tested generally elsewhere); an
	 * incremental commit does not clear it, a full one does */
	in.serial = 102;
	in.base_serial = 100;
	ck_assert_int_eq(apply(&in, T0 + 4), COORD_R_OK);
	ck_assert(zone()->full_requested);
	in.serial = 104;
	in.base_serial = 0;
	ck_assert_int_eq(apply(&in, T0 + 5), COORD_R_OK);
	ck_assert(!zone()->full_requested);
	ck_assert_uint_eq(zone()->committed_base_serial, 0);
	/* the active cannot claim to lack a base */
	coord_input_t own = mk(COORD_IN_DIGEST_REPORT, "a1", ZONE);
	own.serial = 104;
	own.no_base = true;
	ck_assert_int_eq(apply(&own, T0 + 6), COORD_R_BAD_INPUT);
	ck_assert(!zone()->full_requested);
}
END_TEST

/* ---- zones ---- */

START_TEST(test_zone_tombstone)
{
	cluster(T0);
	ck_assert_int_eq(zone_add(ZONE, true, false, 0, T0), COORD_R_EXISTS);
	ck_assert_int_eq(req("a1", T0), COORD_R_OK);
	ck_assert_int_eq(commit("a1", 1, 500, 1, T0 + 1), COORD_R_OK);
	coord_input_t rm = mk(COORD_IN_ZONE_REMOVE, NULL, ZONE);
	ck_assert_int_eq(apply(&rm, T0 + 2), COORD_R_OK);
	ck_assert_int_eq(apply(&rm, T0 + 2), COORD_R_UNKNOWN_ZONE);
	ck_assert_int_eq(commit("a1", 1, 502, 1, T0 + 3), COORD_R_UNKNOWN_ZONE);
	ck_assert_int_eq(lease_op(COORD_IN_LEASE_RENEW, "a1", 1, T0 + 3), COORD_R_UNKNOWN_ZONE);
	ck_assert_int_eq(req("b1", T0 + 3), COORD_R_UNKNOWN_ZONE);
	/* back again: epoch and serial history survive, the old lease still binds others */
	ck_assert_int_eq(zone_add(ZONE, true, true, 400, T0 + 4), COORD_R_SERIAL_NOT_ABOVE);
	ck_assert_int_eq(zone_add(ZONE, true, false, 0, T0 + 4), COORD_R_OK);
	ck_assert_uint_eq(zone()->committed_serial, 500);
	ck_assert_int_eq(req("b1", T0 + 5), COORD_R_HELD);
	ck_assert_int_eq(req("a1", T0 + 5), COORD_R_OK);
	ck_assert_uint_eq(R->epoch, 2);
	ck_assert_int_eq(commit("a1", 2, 500, 2, T0 + 6), COORD_R_DIGEST_CONFLICT);
	ck_assert_int_eq(commit("a1", 2, 502, 2, T0 + 6), COORD_R_OK);
	/* bad names */
	ck_assert_int_eq(zone_add("", true, false, 0, T0), COORD_R_BAD_INPUT);
	ck_assert_int_eq(zone_add("a b.", true, false, 0, T0), COORD_R_BAD_INPUT);
}
END_TEST

START_TEST(test_register_identity)
{
	ck_assert_int_eq(reg("a1", 0, T0), COORD_R_OK);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_NODE_ADDED, "a1"));
	ck_assert_int_eq(reg("a1", 0, T0 + 1), COORD_R_OK);
	ck_assert_int_eq(reg("a1", 1, T0 + 1), COORD_R_IDENTITY);
	ck_assert_int_eq(reg("b1", 2, T0 + 1), COORD_R_BAD_INPUT);
	coord_input_t in = mk(COORD_IN_NODE_REGISTER, "a1", NULL);
	in.site = 0;
	curve_of("other", in.curve_pub);
	ck_assert_int_eq(apply(&in, T0 + 1), COORD_R_IDENTITY);
	memset(in.curve_pub, 0, sizeof(in.curve_pub));
	ck_assert_int_eq(apply(&in, T0 + 1), COORD_R_BAD_INPUT);
	ck_assert_int_eq(hb("zz", true, T0), COORD_R_UNKNOWN_NODE);
	char name[16];
	for (int i = 1; i < COORD_NODES_MAX; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		ck_assert_int_eq(reg(name, 0, T0), COORD_R_OK);
	}
	ck_assert_int_eq(reg("one-too-many", 0, T0), COORD_R_FULL);
}
END_TEST

/* A register sets the publish address; a later one updates it; a bad one is refused. */
START_TEST(test_register_publish)
{
	ck_assert_int_eq(reg_publish("a1", 0, "/srv/tandem/publish", T0), COORD_R_OK);
	ck_assert_str_eq(coord_state_node(S, "a1")->publish, "/srv/tandem/publish");
	ck_assert_int_eq(reg_publish("a1", 0, "rsync://a1.example/zones", T0 + 1), COORD_R_OK);
	ck_assert(R->changed);
	ck_assert_str_eq(coord_state_node(S, "a1")->publish, "rsync://a1.example/zones");
	ck_assert_int_eq(reg_publish("a1", 0, "", T0 + 2), COORD_R_OK);
	ck_assert_str_eq(coord_state_node(S, "a1")->publish, "");
	ck_assert_int_eq(reg_publish("a1", 0, "/srv/\033[31m", T0 + 3), COORD_R_BAD_INPUT);
	coord_input_t in = mk(COORD_IN_NODE_REGISTER, "a1", NULL);
	curve_of("a1", in.curve_pub);
	memset(in.publish, 'p', sizeof(in.publish)); /* unterminated */
	ck_assert_int_eq(apply(&in, T0 + 4), COORD_R_BAD_INPUT);
	/* a heartbeat does not touch it */
	ck_assert_int_eq(reg_publish("a1", 0, "/srv/x", T0 + 5), COORD_R_OK);
	ck_assert_int_eq(hb("a1", true, T0 + 6), COORD_R_OK);
	ck_assert_str_eq(coord_state_node(S, "a1")->publish, "/srv/x");
}
END_TEST

/* A commit keeps its signing time and NSEC3 salt; a zone floor clears them. */
START_TEST(test_commit_signing_params)
{
	cluster(T0);
	ck_assert_int_eq(req("a1", T0), COORD_R_OK);
	ck_assert_int_eq(commit_signed("a1", 1, 100, 0x11, T0 + 1), COORD_R_OK);
	const coord_zone_t *z = zone();
	ck_assert_uint_eq(z->committed_sign_time, 1700000100u);
	ck_assert_uint_eq(z->committed_input_serial, 99);
	ck_assert_int_eq(z->committed_keyset_revision, 1100);
	ck_assert_uint_eq(z->committed_skr_id[COORD_SKR_ID_LEN - 1], 0x5a);
	ck_assert(z->committed_nsec3);
	ck_assert_uint_eq(z->committed_salt_len, 8);
	ck_assert_uint_eq(z->committed_salt[0], 0xc0);
	/* a retry is a no-op; a plain commit (NSEC, no salt) replaces them */
	ck_assert_int_eq(commit_signed("a1", 1, 100, 0x11, T0 + 2), COORD_R_OK);
	ck_assert(!R->changed);
	ck_assert_int_eq(commit("a1", 1, 102, 0x12, T0 + 3), COORD_R_OK);
	z = zone();
	ck_assert_uint_eq(z->committed_sign_time, 0);
	ck_assert(!z->committed_nsec3);
	ck_assert_uint_eq(z->committed_salt_len, 0);
	ck_assert_uint_eq(z->committed_salt[0], 0);
	ck_assert_int_eq(z->committed_keyset_revision, 0);
	ck_assert_uint_eq(z->committed_skr_id[0], 0);
	/* the longest salt, and one byte more; a negative key set revision */
	coord_input_t in = mk(COORD_IN_COMMIT, "a1", ZONE);
	in.epoch = 1;
	in.serial = 104;
	in.nsec3 = true;
	in.salt_len = COORD_SALT_MAX + 1;
	ck_assert_int_eq(apply(&in, T0 + 4), COORD_R_BAD_INPUT);
	in.salt_len = COORD_SALT_MAX;
	memset(in.salt, 0xee, sizeof(in.salt));
	in.sign_time = UINT64_MAX;
	in.input_serial = 0xfffffffeu;
	in.keyset_revision = -1;
	ck_assert_int_eq(apply(&in, T0 + 4), COORD_R_BAD_INPUT);
	in.keyset_revision = INT64_MAX;
	memset(in.skr_id, 0xa7, sizeof(in.skr_id));
	ck_assert_int_eq(apply(&in, T0 + 4), COORD_R_OK);
	uint8_t *buf = NULL;
	size_t len = 0;
	ck_assert_int_eq(coord_state_pack(S, &buf, &len), TANDEM_OK);
	coord_state_t *u = malloc(sizeof(*u));
	ck_assert_ptr_nonnull(u);
	ck_assert_int_eq(coord_state_unpack(buf, len, &P, u), TANDEM_OK);
	z = coord_state_zone(u, ZONE);
	ck_assert_uint_eq(z->committed_salt_len, COORD_SALT_MAX);
	ck_assert_uint_eq(z->committed_salt[COORD_SALT_MAX - 1], 0xee);
	ck_assert_uint_eq(z->committed_sign_time, UINT64_MAX);
	ck_assert_uint_eq(z->committed_input_serial, 0xfffffffeu);
	ck_assert_int_eq(z->committed_keyset_revision, INT64_MAX);
	ck_assert_uint_eq(z->committed_skr_id[COORD_SKR_ID_LEN - 1], 0xa7);
	ck_assert(memcmp(u, S, sizeof(*u)) == 0);
	/* a negative revision in the state is incoherent */
	coord_zone_t *uz = (coord_zone_t *)coord_state_zone(u, ZONE);
	uz->committed_keyset_revision = -5;
	ck_assert_int_eq(coord_state_check(u, &P), TANDEM_COORD_ESTATE);
	free(u);
	free(buf);
	/* a floor set when a removed zone comes back clears them */
	coord_input_t rm = mk(COORD_IN_ZONE_REMOVE, NULL, ZONE);
	ck_assert_int_eq(apply(&rm, T0 + 5), COORD_R_OK);
	ck_assert_int_eq(zone_add(ZONE, true, true, 200, T0 + 6), COORD_R_OK);
	z = zone();
	ck_assert_uint_eq(z->committed_salt_len, 0);
	ck_assert_uint_eq(z->committed_sign_time, 0);
	ck_assert_uint_eq(z->committed_input_serial, 0);
	ck_assert_int_eq(z->committed_keyset_revision, 0);
	ck_assert_uint_eq(z->committed_skr_id[COORD_SKR_ID_LEN - 1], 0);
	ck_assert(!z->committed_nsec3);
}
END_TEST

/* A key added by a node comes with that node's import; a stranger or fenced node cannot add. */
START_TEST(test_key_add_with_ack)
{
	cluster(T0);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ADD, "a1", 7, T0), COORD_R_OK);
	const coord_zone_t *z = zone();
	ck_assert_uint_eq(z->nkeys, 1);
	ck_assert_uint_eq(z->keys[0].nacks, 1);
	ck_assert_uint_eq(z->keys[0].acks[0].node_no, coord_state_node(S, "a1")->no);
	ck_assert_uint_eq(z->keys[0].acks[0].site, 0);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACTIVATE, NULL, 7, T0), COORD_R_KEY_NOT_ACKED);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACK, "b1", 7, T0), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACTIVATE, NULL, 7, T0), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ADD, "a1", 7, T0), COORD_R_EXISTS);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ADD, "zz", 8, T0), COORD_R_UNKNOWN_NODE);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ADD, "a b", 8, T0), COORD_R_BAD_INPUT);
	coord_input_t to = mk(COORD_IN_TAKEOVER, NULL, NULL);
	to.site = 0;
	ck_assert_int_eq(apply(&to, T0 + 1), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ADD, "b1", 8, T0 + 1), COORD_R_FENCED);
	ck_assert_uint_eq(zone()->nkeys, 1);
}
END_TEST

START_TEST(test_tick_and_next_event)
{
	cluster(T0);
	ck_assert_uint_eq(coord_state_next_event(S, &P, T0), T0 + P.node_timeout_ms + 1);
	ck_assert_int_eq(req("a1", T0 + 500), COORD_R_OK);
	ck_assert_uint_eq(coord_state_next_event(S, &P, T0 + 500), T0 + P.node_timeout_ms + 1);
	heartbeat_all_but(NULL, T0 + 9000);
	ck_assert_uint_eq(coord_state_next_event(S, &P, T0 + 9000), T0 + 500 + LEASE);
	ck_assert_int_eq(tick(T0 + 500 + LEASE - 1), COORD_R_OK);
	ck_assert(!R->changed);
	ck_assert_int_eq(tick(T0 + 500 + LEASE), COORD_R_OK);
	ck_assert(R->changed);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_LAPSE, "a1"));
	ck_assert_str_eq(zone()->last_holder, "a1");
	ck_assert_uint_eq(coord_state_next_event(S, &P, T0 + 500 + LEASE), T0 + 500 + LEASE + MARG);
	ck_assert_ptr_null(coord_state_holder(S, ZONE, T0 + 500 + LEASE));
	/* the lapsed holder may still ask first, and only it until the margin is over */
	ck_assert_int_eq(req("a2", T0 + 500 + LEASE + 1), COORD_R_HELD);
	ck_assert_int_eq(req("a1", T0 + 500 + LEASE + 1), COORD_R_OK);
	ck_assert_uint_eq(R->epoch, 2);
	/* an empty state has nothing pending */
	coord_state_t *empty = malloc(sizeof(*empty));
	coord_state_init(empty);
	ck_assert_uint_eq(coord_state_next_event(empty, &P, T0), 0);
	free(empty);
}
END_TEST

START_TEST(test_apply_arguments)
{
	coord_input_t in = mk(COORD_IN_TICK, NULL, NULL);
	ck_assert_int_eq(coord_state_apply(NULL, &in, T0, &P, S, R), TANDEM_EINVAL);
	ck_assert_int_eq(coord_state_apply(S, NULL, T0, &P, S, R), TANDEM_EINVAL);
	ck_assert_int_eq(coord_state_apply(S, &in, T0, NULL, S, R), TANDEM_EINVAL);
	in.kind = (coord_input_kind_t)99;
	ck_assert_int_eq(coord_state_apply(S, &in, T0, &P, S, R), TANDEM_EINVAL);
	coord_params_t bad = P;
	bad.margin_ms = bad.lease_ms / 3;
	ck_assert_int_eq(coord_params_check(&bad), TANDEM_EINVAL);
	bad = P;
	bad.site_residue[1] = 0;
	ck_assert_int_eq(coord_params_check(&bad), TANDEM_EINVAL);
	bad = P;
	bad.site_residue[1] = 2;
	ck_assert_int_eq(coord_params_check(&bad), TANDEM_EINVAL);
	ck_assert_int_eq(coord_params_check(&P), TANDEM_OK);
	ck_assert_uint_eq(coord_params_renew_ms(&P), 3333);
	/* in place (out == in) decides the same */
	coord_input_t r1 = mk(COORD_IN_NODE_REGISTER, "a1", NULL);
	curve_of("a1", r1.curve_pub);
	ck_assert_int_eq(coord_state_apply(S, &r1, T0, &P, S, R), TANDEM_OK);
	ck_assert_int_eq(R->reason, COORD_R_OK);
	ck_assert(R->changed);
	ck_assert_uint_eq(S->nnodes, 1);
	r1.site = 1;
	ck_assert_int_eq(coord_state_apply(S, &r1, T0, &P, S, R), TANDEM_OK);
	ck_assert_int_eq(R->reason, COORD_R_IDENTITY);
	ck_assert(!R->changed);
	ck_assert_uint_eq(S->nodes[0].site, 0);
	/* an incoherent state is refused, not decided on */
	S->nnodes = COORD_NODES_MAX + 1;
	in.kind = COORD_IN_TICK;
	ck_assert_int_eq(coord_state_apply(S, &in, T0, &P, S, R), TANDEM_COORD_ESTATE);
	ck_assert_str_eq(coord_reason_str(COORD_R_STALE_EPOCH), "stale epoch");
	ck_assert_str_eq(coord_reason_str(COORD_R_CONFLICT), "key set changed");
	ck_assert_str_eq(coord_input_kind_str(COORD_IN_COMMIT), "commit");
}
END_TEST

/* ---- node-side helpers ---- */

START_TEST(test_lease_may_publish)
{
	ck_assert(coord_lease_may_publish(1000, 10000, 2000, 1000));
	ck_assert(coord_lease_may_publish(1000, 10000, 2000, 8999));
	ck_assert(!coord_lease_may_publish(1000, 10000, 2000, 9000));
	ck_assert(!coord_lease_may_publish(1000, 10000, 2000, 20000));
	ck_assert(!coord_lease_may_publish(1000, 10000, 2000, 999));
	ck_assert(!coord_lease_may_publish(1000, 10000, 10000, 1000));
	ck_assert(!coord_lease_may_publish(1000, 10000, 20000, 1000));
	ck_assert(coord_lease_may_publish(UINT64_MAX - 5, 10000, 2000, UINT64_MAX));
	/* The timing argument at the defaults: a node sends its request at s (its own clock),
	 * the coordinator grants at g >= s; the node stops at s + 8 s; nobody else is granted
	 * before g + 12 s. Even with 1 s of skew between coordinators and 0.1% rate drift on
	 * the node, the stop comes first. */
	for (uint64_t latency = 0; latency <= 3000; latency += 500) {
		uint64_t s = 50000, g = s + latency;
		uint64_t other_grant = g + LEASE + MARG - 1000; /* a coordinator 1 s ahead */
		uint64_t node_stop = s + (LEASE - MARG) + (LEASE - MARG) / 1000;
		ck_assert_uint_lt(node_stop, other_grant);
		ck_assert(!coord_lease_may_publish(s, LEASE, MARG, s + LEASE - MARG));
	}
}
END_TEST

/* ---- protobuf ---- */

static void rich_state(void)
{
	cluster(T0);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ADD, NULL, 3, T0), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACK, "a1", 3, T0), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACK, "b1", 3, T0), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ACTIVATE, NULL, 3, T0), COORD_R_OK);
	ck_assert_int_eq(key_op(COORD_IN_KEY_ADD, NULL, 4, T0), COORD_R_OK);
	ck_assert_int_eq(req("a1", T0), COORD_R_OK);
	ck_assert_int_eq(commit_signed("a1", 1, 100, 0x5a, T0 + 1), COORD_R_OK);
	ck_assert_int_eq(reg_publish("b1", 1, "/srv/b1 publish", T0 + 1), COORD_R_OK);
	ck_assert_int_eq(report("b1", 100, 0x5b, T0 + 2), COORD_R_OK);
	coord_input_t sw = mk(COORD_IN_SWITCHOVER, NULL, ZONE);
	snprintf(sw.target, sizeof(sw.target), "b1");
	ck_assert_int_eq(apply(&sw, T0 + 3), COORD_R_OK);
	ck_assert_int_eq(zone_add("ec.", false, true, 77, T0 + 4), COORD_R_OK);
	coord_input_t rm = mk(COORD_IN_ZONE_REMOVE, NULL, "ec.");
	ck_assert_int_eq(apply(&rm, T0 + 5), COORD_R_OK);
	coord_input_t d = mk(COORD_IN_DRAIN, "b2", NULL);
	ck_assert_int_eq(apply(&d, T0 + 6), COORD_R_OK);
}

static uint8_t *pack_msg(const Tandem__ClusterState *m, size_t *len);

START_TEST(test_pb_roundtrip)
{
	rich_state();
	/* the issue-8 fields: instances, a refused rival, alerts, an accepted input */
	coord_node_t *na = (coord_node_t *)coord_state_node(S, "a1");
	snprintf(na->instance, sizeof(na->instance), I1);
	snprintf(na->rival, sizeof(na->rival), I2);
	na->rival_ms = T0 + 77;
	na->nalerts = COORD_ALERTS_MAX;
	for (uint32_t i = 0; i < COORD_ALERTS_MAX; i++) {
		na->alerts[i] = alert(i % 2 ? ZONE : "", i % 3 ? "hsm" : "input-refused", i % 2,
				      "some reason (quoted: \"x\")");
	}
	coord_zone_t *za = (coord_zone_t *)coord_state_zone(S, ZONE);
	za->has_accepted_input = true;
	za->accepted_input_serial = 4000000001u;
	/* issue 9: a suspended site, a retired key with its destroys */
	S->suspended_sites = 2;
	za->keys[1].retired = true;
	za->keys[1].retired_ms = T0 + 99;
	za->keys[1].ndestroyed = 2;
	za->keys[1].destroyed[0] = (coord_ack_t){.node_no = 1, .site = 0};
	za->keys[1].destroyed[1] = (coord_ack_t){.node_no = 3, .site = 1};
	ck_assert_int_eq(coord_state_check(S, &P), TANDEM_OK);
	uint8_t *buf = NULL, *buf2 = NULL;
	size_t len = 0, len2 = 0;
	ck_assert_int_eq(coord_state_pack(S, &buf, &len), TANDEM_OK);
	ck_assert_uint_gt(len, 0);
	coord_state_t *u = malloc(sizeof(*u));
	ck_assert_int_eq(coord_state_unpack(buf, len, &P, u), TANDEM_OK);
	ck_assert_uint_eq(u->nnodes, 4);
	ck_assert_uint_eq(u->nzones, 2);
	const coord_zone_t *z = coord_state_zone(u, ZONE);
	ck_assert_str_eq(z->holder, "a1");
	ck_assert_str_eq(z->switch_to, "b1");
	ck_assert_uint_eq(z->epoch, 1);
	ck_assert_uint_eq(z->committed_serial, 100);
	ck_assert_uint_eq(z->committed_digest[31], 0x5a);
	ck_assert_uint_eq(z->alerts, 1);
	ck_assert_uint_eq(z->nkeys, 2);
	ck_assert(z->keys[0].active);
	ck_assert_uint_eq(z->keys[0].nacks, 2);
	ck_assert_uint_eq(z->keys[0].tag, 4003);
	ck_assert(coord_state_zone(u, "ec.")->removed);
	ck_assert_uint_eq(coord_state_node(u, "b2")->state, COORD_NODE_DRAINED);
	ck_assert_str_eq(coord_state_node(u, "b1")->publish, "/srv/b1 publish");
	ck_assert_str_eq(coord_state_node(u, "a1")->publish, "");
	ck_assert_uint_eq(z->committed_sign_time, 1700000100u);
	ck_assert(z->committed_nsec3);
	ck_assert_uint_eq(z->committed_salt_len, 8);
	ck_assert_uint_eq(z->committed_salt[7], 0xc7);
	/* every field: the state decides the same and packs to the same bytes */
	ck_assert(memcmp(u, S, sizeof(*u)) == 0);
	ck_assert_int_eq(coord_state_pack(u, &buf2, &len2), TANDEM_OK);
	ck_assert_uint_eq(len, len2);
	ck_assert(memcmp(buf, buf2, len) == 0);
	/* the node lease (issue 14) travels, under format version 3; version 1 (before node
	 * leases) is still read */
	ck_assert_uint_ge(coord_state_node(u, "a1")->node_epoch, 1);
	ck_assert_uint_gt(coord_state_node(u, "a1")->lease_expiry_ms, 0);
	ck_assert_uint_gt(coord_state_node(u, "a1")->lease_blocked_ms, 0);
	ck_assert_uint_eq(z->holder_node_epoch, coord_state_node(u, "a1")->node_epoch);
	Tandem__ClusterState *m = tandem__cluster_state__unpack(NULL, len, buf);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->version, 3);
	m->version = 1;
	uint8_t *old = pack_msg(m, &len2);
	ck_assert_int_eq(coord_state_unpack(old, len2, &P, u), TANDEM_OK);
	free(old);
	tandem__cluster_state__free_unpacked(m, NULL);
	free(u);
	free(buf);
	free(buf2);
}
END_TEST

/* Packs a hand-made protobuf message. */
static uint8_t *pack_msg(const Tandem__ClusterState *m, size_t *len)
{
	*len = tandem__cluster_state__get_packed_size(m);
	uint8_t *b = malloc(*len + 1);
	tandem__cluster_state__pack(m, b);
	return b;
}

/* Unpacks b, mutates one field through f, repacks, and expects unpack to fail with want. */
typedef void (*mutate_fn)(Tandem__ClusterState *m);

static void expect_refused(const uint8_t *good, size_t good_len, mutate_fn f, int want)
{
	Tandem__ClusterState *m = tandem__cluster_state__unpack(NULL, good_len, good);
	ck_assert_ptr_nonnull(m);
	/* the mutations may point fields at static data: put the originals back before
	 * protobuf-c frees them */
	Tandem__ClusterState__Node **nodes = m->nodes;
	size_t n_nodes = m->n_nodes;
	char *id0 = m->nodes[0]->id, *id1 = m->nodes[1]->id, *holder = m->zones[0]->holder;
	char *publish1 = m->nodes[1]->publish;
	ProtobufCBinaryData salt0 = m->zones[0]->committed_salt;
	f(m);
	size_t len;
	uint8_t *b = pack_msg(m, &len);
	m->nodes = nodes;
	m->n_nodes = n_nodes;
	m->nodes[0]->id = id0;
	m->nodes[1]->id = id1;
	m->zones[0]->holder = holder;
	m->nodes[1]->publish = publish1;
	m->zones[0]->committed_salt = salt0;
	coord_state_t *u = malloc(sizeof(*u)), *ref = malloc(sizeof(*ref));
	memset(u, 0x5c, sizeof(*u));
	memset(ref, 0x5c, sizeof(*ref));
	ck_assert_int_eq(coord_state_unpack(b, len, &P, u), want);
	ck_assert_msg(memcmp(u, ref, sizeof(*u)) == 0, "out written on failure");
	free(ref);
	free(u);
	free(b);
	tandem__cluster_state__free_unpacked(m, NULL);
}

static void m_version(Tandem__ClusterState *m)
{
	m->version = 2;
}
static void m_version0(Tandem__ClusterState *m)
{
	m->version = 0;
}
static void m_node_state(Tandem__ClusterState *m)
{
	m->nodes[0]->state = (Tandem__ClusterState__NodeState)7;
}
static void m_node_site(Tandem__ClusterState *m)
{
	m->nodes[1]->site = 9;
}
static void m_curve_len(Tandem__ClusterState *m)
{
	m->nodes[0]->curve_pub.len = 31;
}
static void m_long_name(Tandem__ClusterState *m)
{
	static char name[300];
	memset(name, 'x', sizeof(name) - 1);
	m->nodes[0]->id = name;
}
static void m_holder_unknown(Tandem__ClusterState *m)
{
	static char name[] = "ghost";
	m->zones[0]->holder = name;
}
static void m_epoch_backwards(Tandem__ClusterState *m)
{
	m->zones[0]->committed_epoch = m->zones[0]->epoch + 1;
}
static void m_dup_node(Tandem__ClusterState *m)
{
	m->nodes[1]->id = m->nodes[0]->id;
}
static void m_digest_len(Tandem__ClusterState *m)
{
	m->zones[0]->committed_digest.len = 20;
}
static void m_key_tag(Tandem__ClusterState *m)
{
	m->zones[0]->keys[0]->tag = 70000;
}
static void m_ack_site(Tandem__ClusterState *m)
{
	m->zones[0]->keys[0]->acks[0]->site = 40;
}
static void m_node_no(Tandem__ClusterState *m)
{
	m->next_node_no = 1;
}
static void m_salt_len(Tandem__ClusterState *m)
{
	static uint8_t salt[COORD_SALT_MAX + 1];
	m->zones[0]->committed_salt.data = salt;
	m->zones[0]->committed_salt.len = sizeof(salt);
}
static void m_publish_long(Tandem__ClusterState *m)
{
	static char publish[COORD_PUBLISH_MAX + 1];
	memset(publish, 'p', sizeof(publish) - 1);
	m->nodes[1]->publish = publish;
}
static void m_publish_ctrl(Tandem__ClusterState *m)
{
	static char publish[] = "/srv/\001";
	m->nodes[1]->publish = publish;
}
static void m_too_many_nodes(Tandem__ClusterState *m)
{
	static Tandem__ClusterState__Node *many[COORD_NODES_MAX + 1];
	for (size_t i = 0; i <= COORD_NODES_MAX; i++) {
		many[i] = m->nodes[0];
	}
	m->nodes = many;
	m->n_nodes = COORD_NODES_MAX + 1;
}

START_TEST(test_pb_refusals)
{
	rich_state();
	uint8_t *buf = NULL;
	size_t len = 0;
	ck_assert_int_eq(coord_state_pack(S, &buf, &len), TANDEM_OK);
	expect_refused(buf, len, m_version, TANDEM_COORD_EVERSION);
	expect_refused(buf, len, m_version0, TANDEM_COORD_EVERSION);
	expect_refused(buf, len, m_node_state, TANDEM_COORD_ESTATE);
	expect_refused(buf, len, m_node_site, TANDEM_COORD_ESTATE);
	expect_refused(buf, len, m_curve_len, TANDEM_COORD_ESTATE);
	expect_refused(buf, len, m_long_name, TANDEM_COORD_ESTATE);
	expect_refused(buf, len, m_holder_unknown, TANDEM_COORD_ESTATE);
	expect_refused(buf, len, m_epoch_backwards, TANDEM_COORD_ESTATE);
	expect_refused(buf, len, m_dup_node, TANDEM_COORD_ESTATE);
	expect_refused(buf, len, m_digest_len, TANDEM_COORD_ESTATE);
	expect_refused(buf, len, m_key_tag, TANDEM_COORD_ESTATE);
	expect_refused(buf, len, m_ack_site, TANDEM_COORD_ESTATE);
	expect_refused(buf, len, m_node_no, TANDEM_COORD_ESTATE);
	expect_refused(buf, len, m_too_many_nodes, TANDEM_COORD_ESTATE);
	expect_refused(buf, len, m_salt_len, TANDEM_COORD_ESTATE);
	expect_refused(buf, len, m_publish_long, TANDEM_COORD_ESTATE);
	expect_refused(buf, len, m_publish_ctrl, TANDEM_COORD_ESTATE);

	coord_state_t *u = malloc(sizeof(*u));
	/* garbage, empty, and every truncation: refused, or (cut at a field boundary) a
	 * shorter state that still passes every check; never a crash */
	uint8_t junk[64];
	memset(junk, 0xff, sizeof(junk));
	ck_assert_int_eq(coord_state_unpack(junk, sizeof(junk), &P, u), TANDEM_COORD_ESTATE);
	ck_assert_int_eq(coord_state_unpack(buf, 0, &P, u), TANDEM_COORD_ESTATE);
	ck_assert_int_eq(coord_state_unpack(NULL, 4, &P, u), TANDEM_EINVAL);
	int bad = 0;
	for (size_t cut = 1; cut < len; cut++) {
		int ret = coord_state_unpack(buf, cut, &P, u);
		bad += !(ret == TANDEM_COORD_ESTATE || ret == TANDEM_COORD_EVERSION ||
			 (ret == TANDEM_OK && coord_state_check(u, &P) == TANDEM_OK));
	}
	/* one flipped byte anywhere: same rule */
	for (size_t i = 0; i < len; i++) {
		buf[i] ^= 0x41;
		int ret = coord_state_unpack(buf, len, &P, u);
		bad += !(ret == TANDEM_COORD_ESTATE || ret == TANDEM_COORD_EVERSION ||
			 (ret == TANDEM_OK && coord_state_check(u, &P) == TANDEM_OK));
		buf[i] ^= 0x41;
	}
	ck_assert_int_eq(bad, 0);
	free(u);
	free(buf);
}
END_TEST

/* ---- the property test: 50 random failovers and switchovers ---- */

static uint64_t rng;
static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11) % n;
}

typedef struct sim {
	const char *names[4];
	uint32_t sites[4];
	bool alive[4];
	uint64_t sent[4]; /* local send time of the holder's last granted request/renewal */
	int holder;
	uint64_t epoch;
	uint64_t now;
	bool has;
	uint32_t last;
	uint32_t commits;
	uint32_t grants;
} sim_t;

/* Time passes by 1 s: live nodes heartbeat, the live holder renews every 3 s. */
static void sim_step(sim_t *m)
{
	m->now += 1000;
	for (int i = 0; i < 4; i++) {
		if (m->alive[i]) {
			ck_assert_int_eq(hb(m->names[i], true, m->now), COORD_R_OK);
		}
	}
	if (m->holder >= 0 && m->alive[m->holder] && m->now - m->sent[m->holder] >= 3000) {
		ck_assert_int_eq(
		    lease_op(COORD_IN_LEASE_RENEW, m->names[m->holder], m->epoch, m->now),
		    COORD_R_OK);
		m->sent[m->holder] = m->now;
	}
	ck_assert_int_eq(tick(m->now), COORD_R_OK);
}

/* Any accepted commit must come from the holder, at its epoch, above, in class. (Whether
 * the node then publishes is its own clock's call, checked at each grant.) */
static void sim_commit(sim_t *m, int who, uint64_t epoch, uint32_t serial)
{
	coord_reason_t r = commit(m->names[who], epoch, serial, (uint8_t)serial, m->now);
	if (r != COORD_R_OK) {
		return;
	}
	ck_assert_int_eq(who, m->holder);
	ck_assert_uint_eq(epoch, m->epoch);
	ck_assert_uint_eq(serial % 2, m->sites[who]);
	if (m->has && serial == m->last) {
		return; /* a retry of the same commit */
	}
	ck_assert(!m->has || tandem_serial_gt(serial, m->last));
	m->has = true;
	m->last = serial;
	m->commits++;
}

static void sim_granted(sim_t *m, int who, int old, bool released)
{
	ck_assert_uint_eq(R->epoch, m->epoch + 1);
	/* one publisher: the old holder, unless it said it stopped, has stopped by its clock */
	if (old >= 0 && old != who && !released) {
		ck_assert(!coord_lease_may_publish(m->sent[old], LEASE, MARG, m->now));
	}
	m->epoch = R->epoch;
	m->holder = who;
	m->sent[who] = m->now;
	m->grants++;
}

START_TEST(test_property_failovers)
{
	sim_t m = {{"a1", "a2", "b1", "b2"},
		   {0, 0, 1, 1},
		   {true, true, true, true},
		   {0},
		   -1,
		   0,
		   T0,
		   false,
		   0,
		   0,
		   0};
	rng = 0x2545f4914f6cdd1dull;
	cluster(m.now);
	ck_assert_int_eq(req("a1", m.now), COORD_R_OK);
	sim_granted(&m, 0, -1, false);
	for (int round = 0; round < 50; round++) {
		/* the holder signs a few cycles */
		for (uint32_t k = 1 + rnd(3); k > 0; k--) {
			uint32_t cand = rnd(4) == 0 ? (uint32_t)rng : m.last + rnd(10);
			uint32_t s;
			if (tandem_serial_in_class(m.has, m.last, m.sites[m.holder], 2, cand, &s) !=
			    TANDEM_OK) {
				ck_assert_int_eq(tandem_serial_in_class(m.has, m.last,
									m.sites[m.holder], 2,
									m.last, &s),
						 TANDEM_OK);
			}
			uint32_t before = m.commits;
			sim_commit(&m, m.holder, m.epoch, s);
			ck_assert_uint_eq(m.commits, before + 1);
			sim_step(&m);
		}
		/* attacks: anyone, any recent epoch, any nearby serial */
		for (int k = 0; k < 4; k++) {
			int who = (int)rnd(4);
			uint64_t ep = m.epoch - (m.epoch > 2 ? rnd(3) : 0) + (rnd(5) == 0);
			uint32_t s = rnd(3) == 0 ? (uint32_t)rng : m.last - 4 + rnd(9);
			sim_commit(&m, who, ep, s);
		}
		int old = m.holder;
		if (rnd(2) == 0) {
			/* failover: the holder dies; the others ask in random order each second */
			m.alive[old] = false;
			bool done = false;
			while (!done) {
				sim_step(&m);
				for (int k = 0; k < 4 && !done; k++) {
					int who = (int)rnd(4);
					if (!m.alive[who]) {
						continue;
					}
					coord_reason_t r = req(m.names[who], m.now);
					ck_assert(r == COORD_R_OK || r == COORD_R_HELD ||
						  r == COORD_R_NOT_PREFERRED);
					if (r == COORD_R_OK) {
						sim_granted(&m, who, old, false);
						done = true;
					}
				}
				ck_assert_uint_le(m.now, T0 + 1000ull * 3600 * 24);
			}
			/* the old holder's late commit under its dead epoch */
			sim_commit(&m, old, m.epoch - 1, m.last + 2);
			sim_commit(&m, old, m.epoch - 1, m.last + 1);
			/* the failed node restarts and registers again as a standby */
			m.alive[old] = true;
			ck_assert_int_eq(reg(m.names[old], m.sites[old], m.now), COORD_R_OK);
		} else {
			/* switchover to a random other node */
			int to = (int)((old + 1 + (int)rnd(3)) % 4);
			coord_input_t sw = mk(COORD_IN_SWITCHOVER, NULL, ZONE);
			snprintf(sw.target, sizeof(sw.target), "%s", m.names[to]);
			ck_assert_int_eq(apply(&sw, m.now), COORD_R_OK);
			ck_assert_int_eq(req(m.names[to], m.now), COORD_R_HELD);
			uint32_t s;
			ck_assert_int_eq(
			    tandem_serial_in_class(m.has, m.last, m.sites[old], 2, 0, &s),
			    TANDEM_OK);
			sim_commit(&m, old, m.epoch, s);
			ck_assert_int_eq(
			    lease_op(COORD_IN_LEASE_RELEASE, m.names[old], m.epoch, m.now),
			    COORD_R_OK);
			int other = (to + 1 + (int)rnd(3)) % 4;
			ck_assert_int_eq(req(m.names[other], m.now), COORD_R_NOT_PREFERRED);
			ck_assert_int_eq(req(m.names[to], m.now), COORD_R_OK);
			sim_granted(&m, to, old, true);
			/* the old holder's epoch is dead */
			sim_commit(&m, old, m.epoch - 1, m.last + 2);
		}
		ck_assert_uint_eq(zone()->epoch, m.epoch);
		ck_assert_uint_eq(zone()->committed_serial, m.last);
	}
	ck_assert_uint_eq(m.grants, 51);
	ck_assert_uint_ge(m.commits, 50);
}
END_TEST

/* ---- the node lease (docs/coordinator.md, "A lease per node") ---- */

#define ZONE2 "se."

static coord_reason_t zop(coord_input_kind_t kind, const char *node, const char *zone,
			  uint64_t epoch, uint64_t now)
{
	coord_input_t in = mk(kind, node, zone);
	in.epoch = epoch;
	return apply(&in, now);
}

static int zone_index_of(const coord_state_t *st, const char *name)
{
	const coord_zone_t *z = coord_state_zone(st, name);
	ck_assert_ptr_nonnull(z);
	return (int)(z - st->zones);
}

static const coord_zone_t *zone_named(const char *name)
{
	const coord_zone_t *z = coord_state_zone(S, name);
	ck_assert_ptr_nonnull(z);
	return z;
}

/* jp. and se. both granted to a1 at T0. */
static void two_zones(void)
{
	cluster(T0);
	ck_assert_int_eq(zone_add(ZONE2, true, false, 0, T0), COORD_R_OK);
	ck_assert_int_eq(zop(COORD_IN_LEASE_REQUEST, "a1", ZONE, 0, T0), COORD_R_OK);
	ck_assert_int_eq(zop(COORD_IN_LEASE_REQUEST, "a1", ZONE2, 0, T0), COORD_R_OK);
	ck_assert_uint_eq(coord_state_node(S, "a1")->node_epoch, 1);
	ck_assert_uint_eq(zone_named(ZONE2)->holder_node_epoch, 1);
}

/* Renewing one zone renews the node lease: every zone of the node holds on, and the zone
 * records are not written. */
START_TEST(test_node_lease_renewal_keeps_all_zones)
{
	two_zones();
	coord_zone_t was = *zone_named(ZONE2);
	uint64_t t = T0;
	for (int k = 1; k <= 6; k++) {
		t = T0 + (uint64_t)k * (LEASE / 3);
		heartbeat_all_but(NULL, t);
		ck_assert_int_eq(zop(COORD_IN_LEASE_RENEW, "a1", ZONE, 1, t), COORD_R_OK);
		ck_assert(R->changed);
		ck_assert_uint_eq(R->expiry_ms, t + LEASE);
		/* the zone records stay as they were: only the member's node lease moved */
		ck_assert(memcmp(zone_named(ZONE2), &was, sizeof(was)) == 0);
		ck_assert_uint_eq(zone()->expiry_ms, T0 + LEASE);
	}
	ck_assert_uint_eq(coord_state_node(S, "a1")->lease_expiry_ms, t + LEASE);
	/* se. was never renewed by name, yet it is held, past its own expiry */
	ck_assert_uint_eq(coord_zone_expiry(S, zone_named(ZONE2)), t + LEASE);
	ck_assert_ptr_nonnull(coord_state_holder(S, ZONE2, t + LEASE - 1));
	ck_assert_int_eq(tick(t + LEASE - 1), COORD_R_OK);
	ck_assert_ptr_null(find_effect(COORD_EFF_LAPSE, NULL));
	ck_assert_int_eq(zop(COORD_IN_LEASE_REQUEST, "a2", ZONE2, 0, t + LEASE - 1), COORD_R_HELD);
	/* its holder may renew it, and commit under it */
	ck_assert_int_eq(zop(COORD_IN_LEASE_RENEW, "a1", ZONE2, 1, t + 1), COORD_R_OK);
	ck_assert(memcmp(zone_named(ZONE2), &was, sizeof(was)) == 0);
	coord_input_t c = mk(COORD_IN_COMMIT, "a1", ZONE2);
	c.epoch = 1;
	c.serial = 100;
	memset(c.digest, 0xaa, sizeof(c.digest));
	ck_assert_int_eq(apply(&c, t + LEASE - 1), COORD_R_OK);
	/* the next event is the node lease's end, not the zone's own */
	ck_assert_uint_le(coord_state_next_event(S, &P, t + 2), t + 1 + LEASE);
	ck_assert_uint_gt(coord_state_next_event(S, &P, t + 2), T0 + LEASE);
}
END_TEST

/* A node lease that runs out lapses all its zones at once; nobody else gets them before its
 * expiry + margin. */
START_TEST(test_node_lease_lapse_lapses_its_zones)
{
	two_zones();
	uint64_t t = T0 + 5000;
	heartbeat_all_but(NULL, t);
	ck_assert_int_eq(zop(COORD_IN_LEASE_RENEW, "a1", ZONE, 1, t), COORD_R_OK);
	uint64_t end = t + LEASE;
	/* a1 falls silent */
	heartbeat_all_but("a1", end - 1);
	ck_assert_int_eq(tick(end - 1), COORD_R_OK);
	ck_assert_ptr_null(find_effect(COORD_EFF_LAPSE, NULL));
	ck_assert_int_eq(zop(COORD_IN_LEASE_RENEW, "a1", ZONE2, 1, end), COORD_R_LEASE_EXPIRED);
	ck_assert_int_eq(tick(end), COORD_R_OK);
	size_t lapses = 0;
	for (size_t i = 0; i < R->neffects; i++) {
		lapses += R->effects[i].kind == COORD_EFF_LAPSE;
	}
	ck_assert_uint_eq(lapses, 2);
	ck_assert_str_eq(zone()->holder, "");
	ck_assert_str_eq(zone_named(ZONE2)->holder, "");
	/* the lapse wrote the node lease's times into the zones */
	ck_assert_uint_eq(zone_named(ZONE2)->expiry_ms, end);
	ck_assert_uint_eq(zone_named(ZONE2)->blocked_until_ms, end + MARG);
	ck_assert_uint_eq(zone_named(ZONE2)->holder_node_epoch, 0);
	heartbeat_all_but("a1", end + MARG - 1);
	ck_assert_int_eq(zop(COORD_IN_LEASE_REQUEST, "a2", ZONE2, 0, end + MARG - 1), COORD_R_HELD);
	heartbeat_all_but("a1", end + MARG);
	ck_assert_int_eq(zop(COORD_IN_LEASE_REQUEST, "a2", ZONE2, 0, end + MARG), COORD_R_OK);
	ck_assert_uint_eq(R->epoch, 2);
}
END_TEST

/* The node lease runs out and, before any tick, the node is granted another zone: its node
 * lease comes back under node_epoch + 1, and the zone it held under the old one does not
 * come back with it (still lapsed, still blocked for others until the old end + margin). */
START_TEST(test_node_lease_stale_epoch_zone_stays_lapsed)
{
	two_zones();
	ck_assert_int_eq(zone_add("nz.", true, false, 0, T0), COORD_R_OK);
	uint64_t end = T0 + LEASE;
	heartbeat_all_but(NULL, end + 500);
	ck_assert_int_eq(zop(COORD_IN_LEASE_REQUEST, "a1", "nz.", 0, end + 500), COORD_R_OK);
	ck_assert_uint_eq(coord_state_node(S, "a1")->node_epoch, 2);
	ck_assert_uint_eq(zone_named("nz.")->holder_node_epoch, 2);
	/* se. still names a1, under node_epoch 1: its own expiry, long past */
	ck_assert_str_eq(zone_named(ZONE2)->holder, "a1");
	ck_assert_uint_eq(coord_zone_expiry(S, zone_named(ZONE2)), end);
	ck_assert_ptr_null(coord_state_holder(S, ZONE2, end + 600));
	ck_assert_int_eq(zop(COORD_IN_LEASE_RENEW, "a1", ZONE2, 1, end + 600),
			 COORD_R_LEASE_EXPIRED);
	/* others wait at least for the old lease's end + margin (the new node lease's blocked
	 * time covers it: a1 holds se. by name, so others wait for that, which is later) */
	ck_assert_uint_ge(coord_zone_blocked(S, zone_named(ZONE2)), end + MARG);
	ck_assert_int_eq(zop(COORD_IN_LEASE_REQUEST, "a2", ZONE2, 0, end + MARG - 1), COORD_R_HELD);
	/* the tick lapses it; a1 may take it back at once under a new epoch */
	ck_assert_int_eq(tick(end + 700), COORD_R_OK);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_LAPSE, "a1"));
	ck_assert_str_eq(zone_named(ZONE2)->holder, "");
	ck_assert_str_eq(zone_named("nz.")->holder, "a1");
	ck_assert_int_eq(zop(COORD_IN_LEASE_REQUEST, "a1", ZONE2, 0, end + 800), COORD_R_OK);
	ck_assert_uint_eq(R->epoch, 2);
	ck_assert_uint_eq(zone_named(ZONE2)->holder_node_epoch, 2);
}
END_TEST

/* A takeover while the fenced holder's node lease runs (past its zones' own expiry): every
 * zone's epoch rises, and nobody is granted one before the node lease's expiry + margin. */
START_TEST(test_node_lease_takeover)
{
	cluster(T0);
	ck_assert_int_eq(zone_add(ZONE2, true, false, 0, T0), COORD_R_OK);
	ck_assert_int_eq(zop(COORD_IN_LEASE_REQUEST, "b1", ZONE, 0, T0), COORD_R_OK);
	ck_assert_int_eq(zop(COORD_IN_LEASE_REQUEST, "b1", ZONE2, 0, T0), COORD_R_OK);
	uint64_t t = T0 + 8000;
	heartbeat_all_but(NULL, t);
	ck_assert_int_eq(zop(COORD_IN_LEASE_RENEW, "b1", ZONE, 1, t), COORD_R_OK);
	uint64_t end = t + LEASE;
	uint64_t at = T0 + LEASE + 1000; /* both zones' own expiry has passed */
	heartbeat_all_but(NULL, at);
	ck_assert_ptr_nonnull(coord_state_holder(S, ZONE2, at));
	coord_input_t to = mk(COORD_IN_TAKEOVER, NULL, NULL);
	to.site = 0;
	ck_assert_int_eq(apply(&to, at), COORD_R_OK);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_FENCE, "b1"));
	ck_assert_uint_eq(zone()->epoch, 2);
	ck_assert_uint_eq(zone_named(ZONE2)->epoch, 2);
	ck_assert_uint_eq(zone_named(ZONE2)->blocked_until_ms, end + MARG);
	/* b1 is fenced: its renewals are refused */
	ck_assert_int_eq(zop(COORD_IN_LEASE_RENEW, "b1", ZONE, 1, at + 1), COORD_R_FENCED);
	for (uint64_t now = at; now < end + MARG; now += 500) {
		heartbeat_live(now);
		ck_assert_int_ne(zop(COORD_IN_LEASE_REQUEST, "a1", ZONE2, 0, now), COORD_R_OK);
		ck_assert_int_ne(zop(COORD_IN_LEASE_REQUEST, "a2", ZONE, 0, now), COORD_R_OK);
	}
	heartbeat_live(end + MARG);
	ck_assert_int_eq(zop(COORD_IN_LEASE_REQUEST, "a1", ZONE2, 0, end + MARG), COORD_R_OK);
	ck_assert_uint_eq(R->epoch, 3);
}
END_TEST

/* A zone record without a node_epoch (written before node leases) is tied to the node
 * lease by its next renewal, which writes it once; a release ends only its own lease; a
 * removed zone no longer follows the node lease. */
START_TEST(test_node_lease_old_record_release_remove)
{
	two_zones();
	S->zones[zone_index_of(S, ZONE2)].holder_node_epoch = 0; /* as an old coordinator wrote */
	ck_assert_uint_eq(coord_zone_expiry(S, zone_named(ZONE2)), T0 + LEASE);
	heartbeat_all_but(NULL, T0 + 3000);
	ck_assert_int_eq(zop(COORD_IN_LEASE_RENEW, "a1", ZONE2, 1, T0 + 3000), COORD_R_OK);
	ck_assert_uint_eq(zone_named(ZONE2)->holder_node_epoch, 1);
	ck_assert_uint_eq(zone_named(ZONE2)->expiry_ms, T0 + 3000 + LEASE);
	/* the next renewal writes no zone */
	coord_zone_t was = *zone_named(ZONE2);
	ck_assert_int_eq(zop(COORD_IN_LEASE_RENEW, "a1", ZONE2, 1, T0 + 6000), COORD_R_OK);
	ck_assert(memcmp(zone_named(ZONE2), &was, sizeof(was)) == 0);
	/* releasing jp. leaves se. held */
	ck_assert_int_eq(zop(COORD_IN_LEASE_RELEASE, "a1", ZONE, 1, T0 + 6100), COORD_R_OK);
	ck_assert_str_eq(zone()->holder, "");
	ck_assert_uint_eq(zone()->expiry_ms, T0 + 6100);
	ck_assert_ptr_nonnull(coord_state_holder(S, ZONE2, T0 + 6000 + LEASE - 1));
	/* removing se. detaches it: renewals of other zones no longer extend it */
	coord_input_t rm = mk(COORD_IN_ZONE_REMOVE, NULL, ZONE2);
	ck_assert_int_eq(apply(&rm, T0 + 6200), COORD_R_OK);
	ck_assert_uint_eq(zone_named(ZONE2)->holder_node_epoch, 0);
	ck_assert_uint_eq(zone_named(ZONE2)->expiry_ms, T0 + 6000 + LEASE);
	ck_assert_int_eq(zop(COORD_IN_LEASE_REQUEST, "a1", ZONE, 0, T0 + 9000), COORD_R_OK);
	ck_assert_uint_eq(coord_zone_expiry(S, zone_named(ZONE2)), T0 + 6000 + LEASE);
	ck_assert_int_eq(tick(T0 + 6000 + LEASE), COORD_R_OK);
	ck_assert_ptr_nonnull(find_effect(COORD_EFF_LAPSE, "a1"));
	ck_assert_str_eq(zone_named(ZONE2)->holder, "");
	ck_assert_str_eq(zone()->holder, "a1");
}
END_TEST

static Suite *coord_state_suite(void)
{
	Suite *s = suite_create("coord_state");
	TCase *tc = tcase_create("machine");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_lease_one_wins);
	tcase_add_test(tc, test_lease_grant_waits_for_margin);
	tcase_add_test(tc, test_lease_lapsed_holder_regains);
	tcase_add_test(tc, test_node_lease_renewal_keeps_all_zones);
	tcase_add_test(tc, test_node_lease_lapse_lapses_its_zones);
	tcase_add_test(tc, test_node_lease_stale_epoch_zone_stays_lapsed);
	tcase_add_test(tc, test_node_lease_takeover);
	tcase_add_test(tc, test_node_lease_old_record_release_remove);
	tcase_add_test(tc, test_commit_refusals);
	tcase_add_test(tc, test_commit_across_wrap);
	tcase_add_test(tc, test_failover_prefers_same_site);
	tcase_add_test(tc, test_release_leaving);
	tcase_add_test(tc, test_failover_unhealthy_and_window);
	tcase_add_test(tc, test_failover_no_site_preference);
	tcase_add_test(tc, test_drain);
	tcase_add_test(tc, test_switchover);
	tcase_add_test(tc, test_switchover_target_dies);
	tcase_add_test(tc, test_takeover_fences_site);
	tcase_add_test(tc, test_takeover_after_switchovers);
	tcase_add_test(tc, test_instance_one_process);
	tcase_add_test(tc, test_alerts_block_leases);
	tcase_add_test(tc, test_zone_accept_input);
	tcase_add_test(tc, test_zone_review);
	tcase_add_test(tc, test_bad_names_refused);
	tcase_add_test(tc, test_params_set);
	tcase_add_test(tc, test_key_activation_needs_every_site);
	tcase_add_test(tc, test_standby_digest_alert);
	tcase_add_test(tc, test_no_base_requests_full);
	tcase_add_test(tc, test_nosig_report);
	tcase_add_test(tc, test_zone_tombstone);
	tcase_add_test(tc, test_register_identity);
	tcase_add_test(tc, test_register_publish);
	tcase_add_test(tc, test_commit_signing_params);
	tcase_add_test(tc, test_key_add_with_ack);
	tcase_add_test(tc, test_tick_and_next_event);
	tcase_add_test(tc, test_apply_arguments);
	tcase_add_test(tc, test_lease_may_publish);
	tcase_add_test(tc, test_pb_roundtrip);
	tcase_add_test(tc, test_site_suspend_frees_key_activation);
	tcase_add_test(tc, test_key_retire_destroy_purge);
	tcase_add_test(tc, test_pb_refusals);
	tcase_add_test(tc, test_property_failovers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(coord_state_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
