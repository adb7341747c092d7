/* Unit tests of the coordinator's store: two "coordinators" (two clients, two stores, two
 * threads) race on a real single-member etcd; leader election; etcd gone. */
#include "coord_etcd.h"
#include "coord_state.h"
#include "coord_store.h"
#include "etcd_fixture.h"
#include "tandem_diag.h"
#include "tandem_error.h"

#include <check.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* The suite's etcd, started in main() before the tests fork. */
static etcd_proc_t suite_etcd;

/* A fixed timeline: the machine reads no clock, so the tests choose "now". */
#define T0 1700000000000ull

/* ---- helpers ------------------------------------------------------------------------------ */

/* One coordinator: its own etcd client and store. */
typedef struct coord {
	coord_etcd_t *etcd;
	coord_store_t *store;
	tandem_diag_t *diag;
} coord_t;

static void dump_diag(const tandem_diag_t *diag)
{
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		fprintf(stderr, "  diag: %s\n", tandem_diag_msg(diag, i));
	}
}

static void coord_open_on(coord_t *c, const char *endpoint, unsigned timeout_ms, const char *prefix)
{
	const char *eps[] = {endpoint};
	coord_etcd_opts_t o = {.timeout_ms = timeout_ms};
	memset(c, 0, sizeof(*c));
	ck_assert_int_eq(tandem_diag_new(&c->diag), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_new(eps, 1, &o, c->diag, &c->etcd), TANDEM_OK);
	ck_assert_int_eq(coord_store_new(c->etcd, prefix, c->diag, &c->store), TANDEM_OK);
}

static void coord_open(coord_t *c, const char *prefix)
{
	coord_open_on(c, suite_etcd.endpoint, 2000, prefix);
}

static void coord_close(coord_t *c)
{
	coord_store_free(c->store);
	coord_etcd_free(c->etcd);
	tandem_diag_free(c->diag);
	memset(c, 0, sizeof(*c));
}

static const coord_params_t *params(void)
{
	static coord_params_t p;
	coord_params_default(&p);
	return &p;
}

/* Applies input and expects the store call itself to succeed; returns the reason. */
static coord_reason_t apply(coord_t *c, const coord_input_t *in, uint64_t now, coord_result_t *res)
{
	int rc = coord_store_apply(c->store, in, now, params(), c->diag, res);
	if (rc != TANDEM_OK) {
		dump_diag(c->diag);
	}
	ck_assert_int_eq(rc, TANDEM_OK);
	return res->reason;
}

static void apply_ok(coord_t *c, const coord_input_t *in, uint64_t now)
{
	coord_result_t *res = calloc(1, sizeof(*res));
	ck_assert_ptr_nonnull(res);
	coord_reason_t r = apply(c, in, now, res);
	ck_assert_msg(r == COORD_R_OK, "%s refused: %s", coord_input_kind_str(in->kind), res->text);
	free(res);
}

static coord_state_t *read_state(coord_t *c, int64_t *mod)
{
	coord_state_t *st = malloc(sizeof(*st));
	ck_assert_ptr_nonnull(st);
	int rc = coord_store_read(c->store, params(), c->diag, st, mod);
	if (rc != TANDEM_OK) {
		dump_diag(c->diag);
	}
	ck_assert_int_eq(rc, TANDEM_OK);
	return st;
}

static int64_t mod_revision(coord_t *c)
{
	int64_t mod = -1;
	free(read_state(c, &mod));
	return mod;
}

static coord_input_t input(coord_input_kind_t kind, const char *node, const char *zone)
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
	return in;
}

static coord_input_t in_register(const char *node, uint32_t site, uint8_t key)
{
	coord_input_t in = input(COORD_IN_NODE_REGISTER, node, NULL);
	in.site = site;
	in.healthy = true;
	memset(in.curve_pub, key, sizeof(in.curve_pub));
	return in;
}

static coord_input_t in_commit(const char *node, const char *zone, uint64_t epoch, uint32_t serial,
			       uint8_t digest)
{
	coord_input_t in = input(COORD_IN_COMMIT, node, zone);
	in.epoch = epoch;
	in.serial = serial;
	memset(in.digest, digest, sizeof(in.digest));
	return in;
}

/* Two nodes, n1 at site A and n2 at site B, and nzones zones z0.example. ... */
static void setup_cluster(coord_t *c, int nzones)
{
	ck_assert_int_eq(coord_store_init(c->store, params(), c->diag), TANDEM_OK);
	coord_input_t in = in_register("n1", 0, 0x11);
	apply_ok(c, &in, T0);
	in = in_register("n2", 1, 0x22);
	apply_ok(c, &in, T0);
	for (int i = 0; i < nzones; i++) {
		char zone[32];
		snprintf(zone, sizeof(zone), "z%d.example.", i);
		in = input(COORD_IN_ZONE_ADD, NULL, zone);
		in.compare_digests = true;
		apply_ok(c, &in, T0);
	}
}

static size_t count_effects(const coord_result_t *res, coord_effect_kind_t kind)
{
	size_t n = 0;
	for (size_t i = 0; i < res->neffects; i++) {
		n += res->effects[i].kind == kind;
	}
	return n;
}

/* ---- two coordinators at the same instant ------------------------------------------------ */

typedef struct racer {
	coord_t *coord;
	coord_input_t in;
	uint64_t now;
	pthread_barrier_t *start;
	int rc;
	coord_result_t res;
} racer_t;

static void *racer_run(void *arg)
{
	racer_t *r = arg;
	pthread_barrier_wait(r->start);
	r->rc =
	    coord_store_apply(r->coord->store, &r->in, r->now, params(), r->coord->diag, &r->res);
	return NULL;
}

/* Applies in1 through a and in2 through b from two threads released together. */
static void race(coord_t *a, const coord_input_t *in1, coord_t *b, const coord_input_t *in2,
		 uint64_t now, racer_t **out)
{
	pthread_barrier_t start;
	pthread_t th[2];
	racer_t *r = calloc(2, sizeof(*r));
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(pthread_barrier_init(&start, NULL, 2), 0);
	r[0] = (racer_t){.coord = a, .in = *in1, .now = now, .start = &start};
	r[1] = (racer_t){.coord = b, .in = *in2, .now = now, .start = &start};
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(pthread_create(&th[i], NULL, racer_run, &r[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		if (r[i].rc != TANDEM_OK) {
			dump_diag(r[i].coord->diag);
		}
		ck_assert_int_eq(r[i].rc, TANDEM_OK);
	}
	pthread_barrier_destroy(&start);
	*out = r;
}

/* ---- tests -------------------------------------------------------------------------------- */

START_TEST(test_new_init)
{
	coord_t a, b;
	coord_open(&a, "/t/store/init/");
	coord_open(&b, "/t/store/init/");
	ck_assert_str_eq(coord_store_prefix(a.store), "/t/store/init/");

	/* prefixes are '/'-delimited printable keys */
	coord_store_t *s = NULL;
	const char *bad[] = {"", "t/", "/t", "/a b/", "/t\n/"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(coord_store_new(a.etcd, bad[i], NULL, &s), TANDEM_EINVAL);
	}
	ck_assert_int_eq(coord_store_new(NULL, NULL, NULL, &s), TANDEM_EINVAL);
	ck_assert_int_eq(coord_store_new(a.etcd, NULL, NULL, &s), TANDEM_OK);
	ck_assert_str_eq(coord_store_prefix(s), COORD_STORE_PREFIX);
	coord_store_free(s);

	/* before init: the empty state, revision 0 */
	int64_t mod = -1;
	coord_state_t *st = read_state(&a, &mod);
	ck_assert_int_eq(mod, 0);
	ck_assert_uint_eq(st->nnodes, 0);
	free(st);

	/* init twice, from two coordinators: one write */
	ck_assert_int_eq(coord_store_init(a.store, params(), a.diag), TANDEM_OK);
	int64_t first = mod_revision(&a);
	ck_assert_int_gt(first, 0);
	ck_assert_int_eq(coord_store_init(b.store, params(), b.diag), TANDEM_OK);
	ck_assert_int_eq(coord_store_init(a.store, params(), a.diag), TANDEM_OK);
	ck_assert_int_eq(mod_revision(&b), first);

	/* a refusal writes nothing; an accepted change moves the revision */
	coord_input_t in = input(COORD_IN_NODE_HEARTBEAT, "nobody", NULL);
	coord_result_t *res = calloc(1, sizeof(*res));
	ck_assert_int_eq(apply(&a, &in, T0, res), COORD_R_UNKNOWN_NODE);
	ck_assert(!res->changed);
	ck_assert_int_eq(mod_revision(&a), first);
	in = in_register("n1", 0, 0x11);
	apply_ok(&b, &in, T0);
	ck_assert_int_gt(mod_revision(&a), first);
	st = read_state(&a, NULL);
	ck_assert_uint_eq(st->nnodes, 1);
	ck_assert_str_eq(st->nodes[0].id, "n1");
	free(st);

	/* a value that is not a cluster state is refused, not decided on */
	coord_etcd_txn_t *t = NULL;
	coord_etcd_txn_result_t *tr = NULL;
	ck_assert_int_eq(coord_etcd_txn_new(&t), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_put(t, "/t/store/junk/cluster", "junk", 4, 0), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_commit(a.etcd, t, NULL, &tr), TANDEM_OK);
	coord_etcd_txn_result_free(tr);
	coord_etcd_txn_free(t);
	coord_t j;
	coord_open(&j, "/t/store/junk/");
	ck_assert_int_eq(coord_store_init(j.store, params(), j.diag), TANDEM_COORD_ESTATE);
	in = in_register("n1", 0, 0x11);
	memset(res, 0x5a, sizeof(*res));
	ck_assert_int_eq(coord_store_apply(j.store, &in, T0, params(), j.diag, res),
			 TANDEM_COORD_ESTATE);
	ck_assert_int_eq((int)res->reason, 0x5a5a5a5a); /* untouched */
	ck_assert_int_eq(coord_store_apply(j.store, NULL, T0, params(), j.diag, res),
			 TANDEM_EINVAL);
	coord_close(&j);
	free(res);
	coord_close(&a);
	coord_close(&b);
}
END_TEST

/* The cluster's lease and margin: the first coordinator to initialise the store writes its
 * own; the others read them back, whatever they were started with; an operator's change
 * reaches every coordinator on its next read. */
START_TEST(test_cluster_params)
{
	coord_t a, b, c;
	coord_open(&a, "/t/store/params/");
	coord_open(&b, "/t/store/params/");
	coord_open(&c, "/t/store/params-old/");
	coord_params_t pa = *params(), pb = *params(), got;
	pa.lease_ms = 12000;
	pa.margin_ms = 3000;
	pb.lease_ms = 30000;
	pb.margin_ms = 9000;
	ck_assert_int_eq(coord_store_init(a.store, &pa, a.diag), TANDEM_OK);
	ck_assert_int_eq(coord_store_init(b.store, &pb, b.diag), TANDEM_OK);
	ck_assert_int_eq(coord_store_params(b.store, &pb, T0, b.diag, &got), TANDEM_OK);
	ck_assert_uint_eq(got.lease_ms, 12000);
	ck_assert_uint_eq(got.margin_ms, 3000);
	ck_assert_uint_eq(got.node_timeout_ms, pb.node_timeout_ms); /* the rest: b's own */
	coord_state_t *st = read_state(&b, NULL);
	ck_assert_uint_eq(st->lease_ms, 12000);
	free(st);
	/* every decision uses the stored values, not the deciding process's */
	coord_input_t in = in_register("n1", 0, 0x11);
	coord_result_t *res = calloc(1, sizeof(*res));
	ck_assert_ptr_nonnull(res);
	ck_assert_int_eq(coord_store_apply(b.store, &in, T0, &pb, b.diag, res), TANDEM_OK);
	coord_input_t zadd = input(COORD_IN_ZONE_ADD, NULL, "p.example.");
	ck_assert_int_eq(coord_store_apply(b.store, &zadd, T0, &pb, b.diag, res), TANDEM_OK);
	coord_input_t lr = input(COORD_IN_LEASE_REQUEST, "n1", "p.example.");
	ck_assert_int_eq(coord_store_apply(b.store, &lr, T0, &pb, b.diag, res), TANDEM_OK);
	ck_assert_int_eq(res->reason, COORD_R_OK);
	ck_assert_uint_eq(res->expiry_ms, T0 + 12000);
	/* the operator's change, through a; b sees it on its next read */
	coord_input_t ps = input(COORD_IN_PARAMS_SET, NULL, NULL);
	ps.lease_ms = 15000;
	ps.margin_ms = 0;
	ck_assert_int_eq(apply(&a, &ps, T0 + 1, res), COORD_R_BAD_INPUT);
	ps.margin_ms = 5000; /* not below a third */
	ck_assert_int_eq(apply(&a, &ps, T0 + 1, res), COORD_R_BAD_INPUT);
	ps.margin_ms = 4000;
	ck_assert_int_eq(apply(&a, &ps, T0 + 1, res), COORD_R_OK);
	ck_assert_int_eq(coord_store_params(b.store, &pb, T0 + 2, b.diag, &got), TANDEM_OK);
	ck_assert_uint_eq(got.lease_ms, 15000);
	ck_assert_uint_eq(got.margin_ms, 4000);
	lr = input(COORD_IN_LEASE_RENEW, "n1", "p.example.");
	lr.epoch = 1;
	ck_assert_int_eq(coord_store_apply(b.store, &lr, T0 + 3, &pb, b.diag, res), TANDEM_OK);
	ck_assert_uint_eq(res->expiry_ms, T0 + 3 + 15000);
	/* a state from before the params were kept gets the first asker's */
	coord_state_t *old = calloc(1, sizeof(*old));
	ck_assert_int_eq(coord_state_init(old), TANDEM_OK);
	uint8_t *buf = NULL;
	size_t len = 0;
	ck_assert_int_eq(coord_state_pack(old, &buf, &len), TANDEM_OK);
	coord_etcd_txn_t *t = NULL;
	coord_etcd_txn_result_t *tr = NULL;
	ck_assert_int_eq(coord_etcd_txn_new(&t), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_put(t, "/t/store/params-old/cluster", buf, len, 0),
			 TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_commit(c.etcd, t, NULL, &tr), TANDEM_OK);
	coord_etcd_txn_result_free(tr);
	coord_etcd_txn_free(t);
	free(buf);
	free(old);
	ck_assert_int_eq(coord_store_init(c.store, &pb, c.diag), TANDEM_OK);
	ck_assert_int_eq(coord_store_params(c.store, &pb, T0, c.diag, &got), TANDEM_OK);
	ck_assert_uint_eq(got.lease_ms, 30000);
	ck_assert_int_eq(coord_store_params(c.store, &pa, T0, c.diag, &got), TANDEM_OK);
	ck_assert_uint_eq(got.lease_ms, 30000);
	ck_assert_uint_eq(got.margin_ms, 9000);
	free(res);
	coord_close(&a);
	coord_close(&b);
	coord_close(&c);
}
END_TEST

START_TEST(test_lease_and_commit_races)
{
	enum { ZONES = 10 };
	coord_t a, b;
	coord_open(&a, "/t/store/race/");
	coord_open(&b, "/t/store/race/");
	setup_cluster(&a, ZONES);

	/* n1 asks coordinator a, n2 asks coordinator b, for the same zone at the same instant:
	 * exactly one holder, epoch 1 */
	for (int i = 0; i < ZONES; i++) {
		char zone[32];
		snprintf(zone, sizeof(zone), "z%d.example.", i);
		coord_input_t r1 = input(COORD_IN_LEASE_REQUEST, "n1", zone);
		coord_input_t r2 = input(COORD_IN_LEASE_REQUEST, "n2", zone);
		racer_t *r = NULL;
		race(&a, &r1, &b, &r2, T0 + 100, &r);
		int won = (r[0].res.reason == COORD_R_OK) + (r[1].res.reason == COORD_R_OK);
		ck_assert_msg(won == 1, "zone %s: %d grants", zone, won);
		int w = r[0].res.reason == COORD_R_OK ? 0 : 1;
		ck_assert_int_eq(r[1 - w].res.reason, COORD_R_HELD);
		ck_assert_uint_eq(r[w].res.epoch, 1);
		ck_assert_uint_eq(count_effects(&r[w].res, COORD_EFF_GRANT), 1);
		coord_state_t *st = read_state(&a, NULL);
		const coord_zone_t *z = coord_state_zone(st, zone);
		ck_assert_ptr_nonnull(z);
		ck_assert_str_eq(z->holder, r[w].in.node);
		ck_assert_uint_eq(z->epoch, 1);
		free(st);
		free(r);
	}
	/* the races did meet in etcd: at least one decision was taken again. On a loaded
	 * machine the two threads may still have run one after the other each time, so both
	 * nodes' heartbeats race on until a decision is retried (bounded) */
	for (int i = 0;
	     i < 200 && coord_store_conflicts(a.store) + coord_store_conflicts(b.store) == 0; i++) {
		coord_input_t h1 = input(COORD_IN_NODE_HEARTBEAT, "n1", "");
		coord_input_t h2 = input(COORD_IN_NODE_HEARTBEAT, "n2", "");
		h1.healthy = h2.healthy = true;
		racer_t *r = NULL;
		race(&a, &h1, &b, &h2, T0 + 100, &r);
		ck_assert_int_eq(r[0].res.reason, COORD_R_OK);
		ck_assert_int_eq(r[1].res.reason, COORD_R_OK);
		free(r);
	}
	fprintf(stderr, "test_coord_store: %llu + %llu conflicts over %d lease races\n",
		(unsigned long long)coord_store_conflicts(a.store),
		(unsigned long long)coord_store_conflicts(b.store), ZONES);
	ck_assert_uint_gt(coord_store_conflicts(a.store) + coord_store_conflicts(b.store), 0);

	/* the holder's commit reaches both coordinators with different digests for one
	 * serial: exactly one is accepted, and it is the one stored */
	for (int i = 0; i < ZONES; i++) {
		char zone[32];
		snprintf(zone, sizeof(zone), "z%d.example.", i);
		coord_state_t *st = read_state(&a, NULL);
		const coord_zone_t *z = coord_state_zone(st, zone);
		char holder[COORD_ID_MAX];
		snprintf(holder, sizeof(holder), "%s", z->holder);
		uint32_t serial = 100 + coord_state_node(st, holder)->site; /* its residue */
		free(st);
		coord_input_t c1 = in_commit(holder, zone, 1, serial, 0xaa);
		coord_input_t c2 = in_commit(holder, zone, 1, serial, 0xbb);
		racer_t *r = NULL;
		race(&a, &c1, &b, &c2, T0 + 200, &r);
		int won = (r[0].res.reason == COORD_R_OK) + (r[1].res.reason == COORD_R_OK);
		ck_assert_msg(won == 1, "zone %s: %d commits of serial %u", zone, won, serial);
		int w = r[0].res.reason == COORD_R_OK ? 0 : 1;
		ck_assert_int_eq(r[1 - w].res.reason, COORD_R_DIGEST_CONFLICT);
		st = read_state(&b, NULL);
		z = coord_state_zone(st, zone);
		ck_assert(z->has_committed);
		ck_assert_uint_eq(z->committed_serial, serial);
		ck_assert_mem_eq(z->committed_digest, r[w].in.digest, COORD_DIGEST_LEN);
		free(st);
		free(r);
	}

	/* stale epochs, a non-holder, a serial not above: refused, and nothing is written */
	coord_state_t *st = read_state(&a, NULL);
	const coord_zone_t *z = coord_state_zone(st, "z0.example.");
	char holder[COORD_ID_MAX], other[COORD_ID_MAX];
	snprintf(holder, sizeof(holder), "%s", z->holder);
	snprintf(other, sizeof(other), "%s", strcmp(holder, "n1") == 0 ? "n2" : "n1");
	uint32_t serial = z->committed_serial;
	coord_input_t winner = in_commit(holder, "z0.example.", 1, serial, z->committed_digest[0]);
	free(st);
	int64_t mod = mod_revision(&a);
	coord_result_t *res = calloc(1, sizeof(*res));
	ck_assert_ptr_nonnull(res);
	coord_input_t in = in_commit(holder, "z0.example.", 0, serial + 2, 0xcc);
	ck_assert_int_eq(apply(&a, &in, T0 + 300, res), COORD_R_STALE_EPOCH);
	in = in_commit(holder, "z0.example.", 2, serial + 2, 0xcc);
	ck_assert_int_eq(apply(&b, &in, T0 + 300, res), COORD_R_STALE_EPOCH);
	in = in_commit(other, "z0.example.", 1, serial + 1, 0xcc);
	ck_assert_int_eq(apply(&a, &in, T0 + 300, res), COORD_R_NOT_HOLDER);
	in = in_commit(holder, "z0.example.", 1, serial - 2, 0xcc);
	ck_assert_int_eq(apply(&b, &in, T0 + 300, res), COORD_R_SERIAL_NOT_ABOVE);
	ck_assert_int_eq(apply(&a, &winner, T0 + 300, res), COORD_R_OK); /* a retry: no-op */
	ck_assert(!res->changed);
	ck_assert_int_eq(mod_revision(&b), mod);
	free(res);
	coord_close(&a);
	coord_close(&b);
}
END_TEST

START_TEST(test_failover_ticks)
{
	coord_t a, b;
	coord_open(&a, "/t/store/failover/");
	coord_open(&b, "/t/store/failover/");
	setup_cluster(&a, 1);
	const char *zone = "z0.example.";
	const coord_params_t *p = params();
	coord_result_t *res = calloc(1, sizeof(*res));
	ck_assert_ptr_nonnull(res);

	coord_input_t in = input(COORD_IN_LEASE_REQUEST, "n1", zone);
	ck_assert_int_eq(apply(&a, &in, T0, res), COORD_R_OK);
	ck_assert_uint_eq(res->epoch, 1);
	uint64_t expiry = res->expiry_ms;
	ck_assert_uint_eq(expiry, T0 + p->lease_ms);

	/* n1 goes silent; n2 stays healthy. Before expiry + margin n2 is refused. */
	uint64_t t = expiry + 1000;
	in = input(COORD_IN_NODE_HEARTBEAT, "n2", NULL);
	in.healthy = true;
	apply_ok(&b, &in, t);
	in = input(COORD_IN_LEASE_REQUEST, "n2", zone);
	ck_assert_int_eq(apply(&b, &in, t, res), COORD_R_HELD);

	/* both coordinators tick at expiry + margin: the lapse is decided and written once */
	t = expiry + p->margin_ms;
	coord_input_t tick = input(COORD_IN_TICK, NULL, NULL);
	racer_t *r = NULL;
	race(&a, &tick, &b, &tick, t, &r);
	ck_assert_uint_eq(count_effects(&r[0].res, COORD_EFF_LAPSE) +
			      count_effects(&r[1].res, COORD_EFF_LAPSE),
			  1);
	free(r);
	coord_state_t *st = read_state(&a, NULL);
	ck_assert_str_eq(coord_state_zone(st, zone)->holder, "");
	ck_assert_str_eq(coord_state_zone(st, zone)->last_holder, "n1");
	free(st);
	int64_t mod = mod_revision(&a);
	race(&a, &tick, &b, &tick, t, &r); /* nothing left to decide: nothing written */
	ck_assert(!r[0].res.changed && !r[1].res.changed);
	ck_assert_int_eq(mod_revision(&b), mod);
	free(r);

	/* n2's request reaches both coordinators: one grant, epoch 2 (the other is a renewal
	 * of that same grant, not a second epoch) */
	in = input(COORD_IN_LEASE_REQUEST, "n2", zone);
	race(&a, &in, &b, &in, t, &r);
	ck_assert_int_eq(r[0].res.reason, COORD_R_OK);
	ck_assert_int_eq(r[1].res.reason, COORD_R_OK);
	ck_assert_uint_eq(r[0].res.epoch, 2);
	ck_assert_uint_eq(r[1].res.epoch, 2);
	ck_assert_uint_eq(count_effects(&r[0].res, COORD_EFF_GRANT) +
			      count_effects(&r[1].res, COORD_EFF_GRANT),
			  1);
	free(r);
	st = read_state(&b, NULL);
	ck_assert_str_eq(coord_state_zone(st, zone)->holder, "n2");
	ck_assert_uint_eq(coord_state_zone(st, zone)->epoch, 2);
	free(st);

	/* n1's commit from its old epoch can no longer land */
	mod = mod_revision(&a);
	in = in_commit("n1", zone, 1, 200, 0xaa);
	ck_assert_int_eq(apply(&a, &in, t + 1, res), COORD_R_STALE_EPOCH);
	in = in_commit("n2", zone, 2, 201, 0xbb);
	ck_assert_int_eq(apply(&b, &in, t + 1, res), COORD_R_OK);
	ck_assert_int_gt(mod_revision(&a), mod);
	free(res);
	coord_close(&a);
	coord_close(&b);
}
END_TEST

/* ---- leader election ---------------------------------------------------------------------- */

typedef struct campaigner {
	coord_t *coord;
	const char *name;
	pthread_barrier_t *start;
	int rc;
	bool leader;
} campaigner_t;

static void *campaigner_run(void *arg)
{
	campaigner_t *c = arg;
	pthread_barrier_wait(c->start);
	c->rc = coord_store_campaign(c->coord->store, c->name, 2, c->coord->diag, &c->leader);
	return NULL;
}

static bool campaign(coord_t *c, const char *name)
{
	bool leader = false;
	int rc = coord_store_campaign(c->store, name, 2, c->diag, &leader);
	if (rc != TANDEM_OK) {
		dump_diag(c->diag);
	}
	ck_assert_int_eq(rc, TANDEM_OK);
	return leader;
}

static char *leader_key_value(coord_t *c)
{
	coord_etcd_range_t *r = NULL;
	ck_assert_int_eq(coord_etcd_get(c->etcd, "/t/store/leader/leader", 0, c->diag, &r),
			 TANDEM_OK);
	char *v = r->n == 1 ? strdup((const char *)r->kvs[0].value) : NULL;
	coord_etcd_range_free(r);
	return v;
}

START_TEST(test_campaign)
{
	coord_t a, b;
	coord_open(&a, "/t/store/leader/");
	coord_open(&b, "/t/store/leader/");
	bool leader = false;
	ck_assert_int_eq(coord_store_campaign(a.store, "", 2, a.diag, &leader), TANDEM_EINVAL);
	ck_assert_int_eq(coord_store_campaign(a.store, "a b", 2, a.diag, &leader), TANDEM_EINVAL);
	ck_assert_int_eq(coord_store_campaign(a.store, "a", 0, a.diag, &leader), TANDEM_EINVAL);
	ck_assert_int_eq(coord_store_resign(a.store, a.diag), TANDEM_OK); /* no lease: no-op */

	/* two campaigners at once: one leader */
	pthread_barrier_t start;
	pthread_t th[2];
	campaigner_t c[2] = {{.coord = &a, .name = "coord-a", .start = &start},
			     {.coord = &b, .name = "coord-b", .start = &start}};
	ck_assert_int_eq(pthread_barrier_init(&start, NULL, 2), 0);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(pthread_create(&th[i], NULL, campaigner_run, &c[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(c[i].rc, TANDEM_OK);
	}
	pthread_barrier_destroy(&start);
	ck_assert_msg(c[0].leader != c[1].leader, "leaders: a %d, b %d", c[0].leader, c[1].leader);
	coord_t *lead = c[0].leader ? &a : &b, *follow = c[0].leader ? &b : &a;
	const char *lead_name = c[0].leader ? "coord-a" : "coord-b";
	const char *follow_name = c[0].leader ? "coord-b" : "coord-a";
	char *v = leader_key_value(&a);
	ck_assert_str_eq(v, lead_name);
	free(v);

	/* renewing keeps it, for as long as the leader renews */
	for (int i = 0; i < 4; i++) {
		ck_assert(campaign(lead, lead_name));
		ck_assert(!campaign(follow, follow_name));
		etcd_sleep_ms(600);
	}

	/* the leader stops renewing: its lease runs out and the other takes over */
	double t0 = etcd_now_s();
	while (!campaign(follow, follow_name)) {
		ck_assert_msg(etcd_now_s() - t0 < 6.0, "no new leader after the lease ran out");
		etcd_sleep_ms(250);
	}
	v = leader_key_value(&a);
	ck_assert_str_eq(v, follow_name);
	free(v);
	/* the old leader comes back: its lease is gone, it gets a new one, and follows */
	ck_assert(!campaign(lead, lead_name));

	/* resigning hands over at once */
	ck_assert_int_eq(coord_store_resign(follow->store, follow->diag), TANDEM_OK);
	v = leader_key_value(&a);
	ck_assert_ptr_null(v);
	ck_assert(campaign(lead, lead_name));
	ck_assert_int_eq(coord_store_resign(lead->store, lead->diag), TANDEM_OK);
	ck_assert_int_eq(coord_store_resign(lead->store, lead->diag), TANDEM_OK);
	coord_close(&a);
	coord_close(&b);
}
END_TEST

/* ---- the wrapped-key archive beside the state ----------------------------------------------- */

static coord_reason_t key_add(coord_t *c, const char *node, const char *zone, uint32_t id,
			      const char *archive, coord_result_t *res)
{
	coord_input_t in = input(COORD_IN_KEY_ADD, node, zone);
	in.key_id = id;
	in.key_tag = (uint16_t)(1000 + id);
	int rc =
	    coord_store_apply_key_add(c->store, &in, T0 + 10, params(), (const uint8_t *)archive,
				      archive != NULL ? strlen(archive) : 0, c->diag, res);
	if (rc != TANDEM_OK) {
		dump_diag(c->diag);
	}
	ck_assert_int_eq(rc, TANDEM_OK);
	return res->reason;
}

/* The entry's value, NUL-terminated, or NULL when absent. */
static char *archive_value(coord_t *c, const char *zone, uint32_t id)
{
	uint8_t *v = NULL;
	size_t len = 0;
	int rc = coord_store_archive_get(c->store, zone, id, c->diag, &v, &len);
	if (rc == TANDEM_ENOENT) {
		return NULL;
	}
	ck_assert_int_eq(rc, TANDEM_OK);
	char *s = malloc(len + 1);
	ck_assert_ptr_nonnull(s);
	memcpy(s, v, len);
	s[len] = '\0';
	free(v);
	return s;
}

START_TEST(test_archive_with_key_add)
{
	coord_t a, b;
	coord_open(&a, "/t/store/archive/");
	coord_open(&b, "/t/store/archive/");
	setup_cluster(&a, 1);
	coord_result_t *res = calloc(1, sizeof(*res));
	ck_assert_ptr_nonnull(res);
	const char *zone = "z0.example.";

	/* the key, the adder's import and the entry land in one transaction */
	ck_assert_int_eq(key_add(&a, "n1", zone, 7, "entry-7", res), COORD_R_OK);
	ck_assert(res->changed);
	coord_etcd_range_t *cl = NULL, *en = NULL;
	ck_assert_int_eq(
	    coord_etcd_get(a.etcd, "/t/store/archive/state/zone/z0.example.", 0, a.diag, &cl),
	    TANDEM_OK);
	ck_assert_int_eq(
	    coord_etcd_get(a.etcd, "/t/store/archive/archive/z0.example./7", 0, a.diag, &en),
	    TANDEM_OK);
	ck_assert_uint_eq(en->n, 1);
	ck_assert_int_eq(en->kvs[0].mod_revision, cl->kvs[0].mod_revision);
	coord_etcd_range_free(cl);
	coord_etcd_range_free(en);
	char *v = archive_value(&b, zone, 7);
	ck_assert_str_eq(v, "entry-7");
	free(v);
	coord_state_t *st = read_state(&b, NULL);
	const coord_zone_t *z = coord_state_zone(st, zone);
	ck_assert_uint_eq(z->nkeys, 1);
	ck_assert_uint_eq(z->keys[0].nacks, 1);
	ck_assert_uint_eq(z->keys[0].acks[0].node_no, coord_state_node(st, "n1")->no);
	free(st);

	/* the same id again, through the other coordinator: refused, entry unchanged */
	int64_t mod = mod_revision(&a);
	ck_assert_int_eq(key_add(&b, "n2", zone, 7, "another", res), COORD_R_EXISTS);
	ck_assert(!res->changed);
	ck_assert_int_eq(mod_revision(&a), mod);
	v = archive_value(&a, zone, 7);
	ck_assert_str_eq(v, "entry-7");
	free(v);

	/* a key removed from the state keeps its entry: adding the id again is refused by
	 * the store, with neither the state nor the entry changed. Removed is retired, then
	 * purged out of the table after the retention (issue 9) */
	coord_input_t rm = input(COORD_IN_KEY_REMOVE, NULL, zone);
	rm.key_id = 7;
	apply_ok(&a, &rm, T0 + 11);
	st = read_state(&a, NULL);
	ck_assert_uint_eq(coord_state_zone(st, zone)->nkeys, 1);
	ck_assert(coord_state_zone(st, zone)->keys[0].retired);
	free(st);
	coord_input_t pg = input(COORD_IN_KEY_PURGE, NULL, zone);
	pg.key_id = 7;
	pg.retention_ms = 0;
	apply_ok(&a, &pg, T0 + 11);
	mod = mod_revision(&a);
	ck_assert_int_eq(key_add(&b, "n2", zone, 7, "third", res), COORD_R_EXISTS);
	ck_assert(!res->changed);
	ck_assert_uint_eq(res->neffects, 0);
	ck_assert(strstr(res->text, "exists") != NULL);
	ck_assert_int_eq(mod_revision(&a), mod);
	v = archive_value(&a, zone, 7);
	ck_assert_str_eq(v, "entry-7");
	free(v);
	st = read_state(&a, NULL);
	ck_assert_uint_eq(coord_state_zone(st, zone)->nkeys, 0);
	free(st);

	/* the purged key's wrapped copy is emptied, not deleted: the id stays taken */
	ck_assert_int_eq(coord_store_archive_clear(b.store, zone, 7, b.diag), TANDEM_OK);
	v = archive_value(&a, zone, 7);
	ck_assert_str_eq(v, "");
	free(v);
	ck_assert_int_eq(coord_store_archive_clear(a.store, zone, 7, a.diag), TANDEM_OK);
	ck_assert_int_eq(coord_store_archive_clear(a.store, zone, 99, a.diag), TANDEM_OK);
	ck_assert_ptr_null(archive_value(&a, zone, 99));
	ck_assert_int_eq(key_add(&b, "n2", zone, 7, "fourth", res), COORD_R_EXISTS);
	ck_assert_int_eq(coord_store_archive_clear(a.store, "", 7, a.diag), TANDEM_EINVAL);

	/* a refusal by the machine writes no entry */
	ck_assert_int_eq(key_add(&a, "n1", "nowhere.", 9, "x", res), COORD_R_UNKNOWN_ZONE);
	ck_assert_ptr_null(archive_value(&a, "nowhere.", 9));
	ck_assert_int_eq(key_add(&a, "ghost", zone, 9, "x", res), COORD_R_UNKNOWN_NODE);
	ck_assert_ptr_null(archive_value(&a, zone, 9));

	/* an empty entry, and a zone whose name extends this one's (zone names cannot hold a
	 * '/' any more: tandem_dname_valid) */
	ck_assert_int_eq(key_add(&a, NULL, zone, 12, NULL, res), COORD_R_OK);
	coord_input_t za = input(COORD_IN_ZONE_ADD, NULL, "z0x.example.");
	apply_ok(&a, &za, T0 + 12);
	ck_assert_int_eq(key_add(&a, NULL, "z0x.example.", 5, "other zone", res), COORD_R_OK);
	coord_store_archive_t *list = NULL;
	ck_assert_int_eq(coord_store_archive_list(b.store, zone, b.diag, &list), TANDEM_OK);
	ck_assert_uint_eq(list->n, 2);
	ck_assert_uint_eq(list->entries[0].id, 12); /* key order: "12" < "7" */
	ck_assert_uint_eq(list->entries[0].len, 0);
	ck_assert_uint_eq(list->entries[1].id, 7);
	ck_assert_uint_eq(list->entries[1].len, 0); /* emptied above */
	coord_store_archive_free(list);
	ck_assert_int_eq(coord_store_archive_list(b.store, "none.", b.diag, &list), TANDEM_OK);
	ck_assert_uint_eq(list->n, 0);
	coord_store_archive_free(list);

	/* arguments */
	coord_input_t hb = input(COORD_IN_NODE_HEARTBEAT, "n1", NULL);
	ck_assert_int_eq(
	    coord_store_apply_key_add(a.store, &hb, T0, params(), NULL, 0, a.diag, res),
	    TANDEM_EINVAL);
	coord_input_t ka = input(COORD_IN_KEY_ADD, NULL, zone);
	ck_assert_int_eq(
	    coord_store_apply_key_add(a.store, &ka, T0, params(), NULL, 3, a.diag, res),
	    TANDEM_EINVAL);
	uint8_t *val = NULL;
	size_t len = 0;
	ck_assert_int_eq(coord_store_archive_get(a.store, "", 1, a.diag, &val, &len),
			 TANDEM_EINVAL);
	free(res);
	coord_close(&a);
	coord_close(&b);
}
END_TEST

/* ---- the key set: a conditional put on PREFIX/keys/ZONE ---------------------------------- */

typedef struct ks_racer {
	coord_t *coord;
	const char *value;
	int64_t expect;
	pthread_barrier_t *start;
	int rc;
	bool won;
	int64_t rev;
} ks_racer_t;

static void *ks_racer_run(void *arg)
{
	ks_racer_t *r = arg;
	pthread_barrier_wait(r->start);
	r->rc = coord_store_doc_put(r->coord->store, COORD_DOC_KEYSET, "z0.example.",
				    (const uint8_t *)r->value, strlen(r->value), r->expect,
				    r->coord->diag, &r->won, &r->rev);
	return NULL;
}

/* Reads the key set; returns its value as a string (NULL when absent) and its revision. */
static char *keyset_value(coord_t *c, const char *zone, int64_t *rev)
{
	uint8_t *buf = (uint8_t *)"sentinel";
	size_t len = 99;
	int rc = coord_store_doc_get(c->store, COORD_DOC_KEYSET, zone, c->diag, &buf, &len, rev);
	if (rc != TANDEM_OK) {
		dump_diag(c->diag);
	}
	ck_assert_int_eq(rc, TANDEM_OK);
	if (buf == NULL) {
		ck_assert_uint_eq(len, 0);
		return NULL;
	}
	char *s = malloc(len + 1);
	ck_assert_ptr_nonnull(s);
	memcpy(s, buf, len);
	s[len] = '\0';
	free(buf);
	return s;
}

/* ---- the per-zone layout ------------------------------------------------------------------ */

/* key's mod_revision (0: absent). */
static int64_t key_mod(coord_t *c, const char *key)
{
	coord_etcd_range_t *r = NULL;
	ck_assert_int_eq(coord_etcd_get(c->etcd, key, 0, c->diag, &r), TANDEM_OK);
	int64_t mod = r->n > 0 ? r->kvs[0].mod_revision : 0;
	coord_etcd_range_free(r);
	return mod;
}

/* The store revision etcd is at. */
static int64_t store_revision(coord_t *c)
{
	coord_etcd_range_t *r = NULL;
	ck_assert_int_eq(coord_etcd_get(c->etcd, "/t/none", 0, c->diag, &r), TANDEM_OK);
	int64_t rev = r->revision;
	coord_etcd_range_free(r);
	return rev;
}

#define SPLIT "/t/store/split/"
enum { SPLIT_ZONES = 5 };

/* The mod_revisions of the cluster key and of z0..z4's keys. */
static void split_mods(coord_t *c, int64_t mods[1 + SPLIT_ZONES])
{
	mods[0] = key_mod(c, SPLIT "state/cluster");
	for (int i = 0; i < SPLIT_ZONES; i++) {
		char key[64];
		snprintf(key, sizeof(key), SPLIT "state/zone/z%d.example.", i);
		mods[1 + i] = key_mod(c, key);
		ck_assert_int_gt(mods[1 + i], 0);
	}
}

START_TEST(test_split_writes)
{
	coord_t a, b;
	coord_open(&a, SPLIT);
	coord_open(&b, SPLIT);
	setup_cluster(&a, SPLIT_ZONES);
	coord_result_t *res = calloc(1, sizeof(*res));
	ck_assert_ptr_nonnull(res);
	int64_t before[1 + SPLIT_ZONES], after[1 + SPLIT_ZONES];

	/* a grant writes the zone's key and the cluster key (n1's node lease starts), no
	 * other zone's */
	split_mods(&a, before);
	coord_input_t lr = input(COORD_IN_LEASE_REQUEST, "n1", "z0.example.");
	ck_assert_int_eq(apply(&a, &lr, T0 + 10, res), COORD_R_OK);
	ck_assert_uint_eq(res->epoch, 1);
	split_mods(&a, after);
	ck_assert_int_gt(after[1], before[1]);
	ck_assert_int_gt(after[0], before[0]);
	for (int i = 2; i <= SPLIT_ZONES; i++) {
		ck_assert_int_eq(after[i], before[i]);
	}
	lr = input(COORD_IN_LEASE_REQUEST, "n2", "z1.example.");
	ck_assert_int_eq(apply(&b, &lr, T0 + 10, res), COORD_R_OK);

	/* a renewal moves the node lease in the cluster key and writes no zone key: the
	 * zone's lease follows its holder's node lease */
	split_mods(&a, before);
	coord_input_t rn = input(COORD_IN_LEASE_RENEW, "n1", "z0.example.");
	rn.epoch = 1;
	ck_assert_int_eq(apply(&a, &rn, T0 + 15, res), COORD_R_OK);
	ck_assert_uint_eq(res->expiry_ms, T0 + 15 + params()->lease_ms);
	split_mods(&a, after);
	ck_assert_int_gt(after[0], before[0]);
	for (int i = 1; i <= SPLIT_ZONES; i++) {
		ck_assert_int_eq(after[i], before[i]);
	}

	/* a commit writes that zone's key and nothing else, one transaction */
	split_mods(&a, before);
	uint64_t writes = coord_store_writes(a.store);
	coord_input_t cm = in_commit("n1", "z0.example.", 1, 2, 0xab);
	ck_assert_int_eq(apply(&a, &cm, T0 + 20, res), COORD_R_OK);
	ck_assert_uint_eq(coord_store_writes(a.store), writes + 1);
	split_mods(&a, after);
	ck_assert_int_gt(after[1], before[1]);
	for (int i = 0; i <= SPLIT_ZONES; i++) {
		if (i != 1) {
			ck_assert_int_eq(after[i], before[i]);
		}
	}

	/* a heartbeat soon after writes nothing at all; one a quarter of the node timeout
	 * later writes the cluster key, and no zone's */
	int64_t rev = store_revision(&a);
	coord_input_t hb = input(COORD_IN_NODE_HEARTBEAT, "n1", NULL);
	hb.healthy = true;
	ck_assert_int_eq(apply(&a, &hb, T0 + 30, res), COORD_R_OK);
	ck_assert_int_eq(store_revision(&a), rev);
	split_mods(&a, before);
	ck_assert_int_eq(apply(&a, &hb, T0 + params()->node_timeout_ms / 4, res), COORD_R_OK);
	split_mods(&a, after);
	ck_assert_int_gt(after[0], before[0]);
	for (int i = 1; i <= SPLIT_ZONES; i++) {
		ck_assert_int_eq(after[i], before[i]);
	}
	coord_state_t *st = read_state(&b, NULL);
	ck_assert_uint_eq(coord_state_node(st, "n1")->last_seen_ms,
			  T0 + params()->node_timeout_ms / 4);
	ck_assert_uint_eq(coord_state_zone(st, "z0.example.")->committed_serial, 2);
	ck_assert_uint_eq(st->nzones, SPLIT_ZONES);
	free(st);

	/* commits on two zones through two coordinators at the same instant: neither read
	 * the other's zone, so neither loses a race */
	uint64_t conflicts = coord_store_conflicts(a.store) + coord_store_conflicts(b.store);
	for (uint32_t k = 0; k < 5; k++) {
		coord_input_t c1 = in_commit("n1", "z0.example.", 1, 4 + 2 * k, (uint8_t)k);
		coord_input_t c2 = in_commit("n2", "z1.example.", 1, 3 + 2 * k, (uint8_t)k);
		racer_t *r = NULL;
		race(&a, &c1, &b, &c2, T0 + 2600 + k, &r);
		ck_assert_int_eq(r[0].res.reason, COORD_R_OK);
		ck_assert_int_eq(r[1].res.reason, COORD_R_OK);
		free(r);
	}
	ck_assert_uint_eq(coord_store_conflicts(a.store) + coord_store_conflicts(b.store),
			  conflicts);

	/* a drain (a read of every zone) against a commit on a zone it hands over: both
	 * decided, one of them again if they overlapped, and the state has both */
	coord_input_t dr = input(COORD_IN_DRAIN, "n2", NULL);
	coord_input_t c3 = in_commit("n2", "z1.example.", 1, 21, 0x21);
	racer_t *r = NULL;
	race(&a, &dr, &b, &c3, T0 + 2700, &r);
	ck_assert_int_eq(r[0].res.reason, COORD_R_OK);
	ck_assert_int_eq(r[1].res.reason, COORD_R_OK);
	free(r);
	st = read_state(&a, NULL);
	ck_assert_int_eq(coord_state_node(st, "n2")->state, COORD_NODE_DRAINED);
	ck_assert_str_eq(coord_state_zone(st, "z1.example.")->switch_to, "n1");
	ck_assert_uint_eq(coord_state_zone(st, "z1.example.")->committed_serial, 21);
	/* a read of one zone: the members and that zone alone, by any spelling of its name */
	ck_assert_int_eq(coord_store_read_zone(b.store, params(), "Z1.Example", b.diag, st),
			 TANDEM_OK);
	ck_assert_uint_eq(st->nnodes, 2);
	ck_assert_uint_eq(st->nzones, 1);
	ck_assert_str_eq(st->zones[0].name, "z1.example.");
	ck_assert_uint_eq(st->zones[0].committed_serial, 21);
	ck_assert_int_eq(coord_store_read_zone(b.store, params(), "none.example.", b.diag, st),
			 TANDEM_OK);
	ck_assert_uint_eq(st->nzones, 0);
	ck_assert_int_eq(coord_store_read_zone(b.store, params(), "", b.diag, st), TANDEM_EINVAL);
	free(st);
	free(res);
	coord_close(&a);
	coord_close(&b);
}
END_TEST

/* Deletes key behind the stores' backs (the machine never deletes a state key). */
static void etcd_delete(coord_t *c, const char *key)
{
	coord_etcd_txn_t *t = NULL;
	coord_etcd_txn_result_t *tr = NULL;
	ck_assert_int_eq(coord_etcd_txn_new(&t), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_delete(t, key), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_commit(c->etcd, t, NULL, &tr), TANDEM_OK);
	coord_etcd_txn_result_free(tr);
	coord_etcd_txn_free(t);
}

#define KEPT "/t/store/kept/"

/* st and a fresh store's whole read of the same prefix hold the same members and zones,
 * byte for byte as packed, in the same order. */
static void same_as_fresh(const coord_state_t *st, const char *prefix)
{
	coord_t f;
	coord_open(&f, prefix);
	coord_state_t *want = read_state(&f, NULL);
	ck_assert_uint_eq(coord_store_reads_since(f.store), 0);
	ck_assert_uint_eq(st->nnodes, want->nnodes);
	for (uint32_t i = 0; i < st->nnodes; i++) {
		ck_assert_str_eq(st->nodes[i].id, want->nodes[i].id);
		ck_assert_uint_eq(st->nodes[i].last_seen_ms, want->nodes[i].last_seen_ms);
		ck_assert_int_eq(st->nodes[i].state, want->nodes[i].state);
	}
	ck_assert_uint_eq(st->nzones, want->nzones);
	for (uint32_t i = 0; i < st->nzones; i++) {
		uint8_t *a = NULL, *b = NULL;
		size_t alen = 0, blen = 0;
		ck_assert_int_eq(coord_zone_pack(&st->zones[i], &a, &alen), TANDEM_OK);
		ck_assert_int_eq(coord_zone_pack(&want->zones[i], &b, &blen), TANDEM_OK);
		ck_assert_msg(alen == blen && memcmp(a, b, alen) == 0, "zone %u (%s) differs", i,
			      st->zones[i].name);
		free(a);
		free(b);
	}
	free(want);
	coord_close(&f);
}

/* A whole read after the first asks only for what was written since: what another
 * coordinator wrote, a zone added (in key order), a zone key deleted behind the store's back
 * (then everything is read again), and a decision about every zone written on such a read. */
START_TEST(test_kept_state)
{
	coord_t a, b;
	coord_open(&a, KEPT);
	coord_open(&b, KEPT);
	setup_cluster(&a, 4);
	coord_state_t *st = read_state(&b, NULL);
	ck_assert_uint_eq(coord_store_reads_since(b.store), 0);
	ck_assert_uint_eq(st->nzones, 4);
	free(st);

	/* another coordinator's grant and commit: seen by the next whole read */
	coord_input_t lr = input(COORD_IN_LEASE_REQUEST, "n1", "z2.example.");
	apply_ok(&a, &lr, T0 + 10);
	coord_input_t cm = in_commit("n1", "z2.example.", 1, 8, 0x77);
	apply_ok(&a, &cm, T0 + 20);
	st = read_state(&b, NULL);
	ck_assert_uint_eq(coord_store_reads_since(b.store), 1);
	ck_assert_uint_eq(coord_state_zone(st, "z2.example.")->committed_serial, 8);
	ck_assert_str_eq(coord_state_zone(st, "z2.example.")->holder, "n1");
	same_as_fresh(st, KEPT);
	free(st);

	/* zones added before and after every other in key order */
	coord_input_t za = input(COORD_IN_ZONE_ADD, NULL, "a.example.");
	apply_ok(&a, &za, T0 + 30);
	coord_input_t zz = input(COORD_IN_ZONE_ADD, NULL, "zz.example.");
	apply_ok(&a, &zz, T0 + 30);
	st = read_state(&b, NULL);
	ck_assert_uint_eq(coord_store_reads_since(b.store), 2);
	ck_assert_uint_eq(st->nzones, 6);
	ck_assert_str_eq(st->zones[0].name, "a.example.");
	ck_assert_str_eq(st->zones[5].name, "zz.example.");
	same_as_fresh(st, KEPT);
	free(st);

	/* nothing written: the same state */
	st = read_state(&b, NULL);
	ck_assert_uint_eq(coord_store_reads_since(b.store), 3);
	same_as_fresh(st, KEPT);
	free(st);

	/* a zone key deleted (not a decision of the machine, which keeps tombstones): no
	 * kept copy of it survives; the store reads everything again */
	etcd_delete(&a, KEPT "state/zone/a.example.");
	st = read_state(&b, NULL);
	ck_assert_uint_eq(coord_store_reads_since(b.store), 3);
	ck_assert_uint_eq(st->nzones, 5);
	ck_assert_ptr_null(coord_state_zone(st, "a.example."));
	same_as_fresh(st, KEPT);
	free(st);

	/* a zone deleted and written again since: read everything again too */
	etcd_delete(&a, KEPT "state/zone/zz.example.");
	apply_ok(&a, &zz, T0 + 40);
	st = read_state(&b, NULL);
	ck_assert_uint_eq(coord_store_reads_since(b.store), 3);
	ck_assert_uint_eq(st->nzones, 5);
	same_as_fresh(st, KEPT);
	free(st);

	/* a decision about every zone (a drain) on a read from the kept state, after a
	 * commit of another coordinator: decided and written without a lost race */
	cm = in_commit("n1", "z2.example.", 1, 10, 0x99);
	apply_ok(&a, &cm, T0 + 50);
	uint64_t conflicts = coord_store_conflicts(b.store);
	coord_input_t dr = input(COORD_IN_DRAIN, "n1", NULL);
	apply_ok(&b, &dr, T0 + 60);
	ck_assert_uint_eq(coord_store_conflicts(b.store), conflicts);
	ck_assert_uint_ge(coord_store_reads_since(b.store), 4);
	st = read_state(&a, NULL);
	ck_assert_int_eq(coord_state_node(st, "n1")->state, COORD_NODE_DRAINED);
	ck_assert_uint_eq(coord_state_zone(st, "z2.example.")->committed_serial, 10);
	free(st);
	st = read_state(&b, NULL);
	same_as_fresh(st, KEPT);
	free(st);
	coord_close(&a);
	coord_close(&b);
}
END_TEST

#define KEPTD "/t/store/keptd/"

/* Decisions about one zone start from the kept state, with no read: written at once when it is
 * current, read and decided again when another coordinator wrote since (never a refusal on
 * the kept state alone), and the kept copies follow this store's own writes. */
START_TEST(test_kept_decisions)
{
	coord_t a, b;
	coord_open(&a, KEPTD);
	coord_open(&b, KEPTD);
	setup_cluster(&a, 4);
	coord_result_t *res = calloc(1, sizeof(*res));
	ck_assert_ptr_nonnull(res);
	coord_input_t lr = input(COORD_IN_LEASE_REQUEST, "n1", "z0.example.");
	apply_ok(&a, &lr, T0 + 10);
	free(read_state(&b, NULL)); /* b keeps the state */
	ck_assert_uint_eq(coord_store_kept_writes(b.store), 0);

	/* a commit through b on its kept state: one transaction, no read */
	uint64_t writes = coord_store_writes(b.store);
	coord_input_t cm = in_commit("n1", "z0.example.", 1, 2, 0x02);
	apply_ok(&b, &cm, T0 + 20);
	ck_assert_uint_eq(coord_store_kept_writes(b.store), 1);
	ck_assert_uint_eq(coord_store_kept_misses(b.store), 0);
	ck_assert_uint_eq(coord_store_writes(b.store), writes + 1);
	/* and again at once: the kept copy follows b's own write */
	cm = in_commit("n1", "z0.example.", 1, 4, 0x04);
	apply_ok(&b, &cm, T0 + 21);
	ck_assert_uint_eq(coord_store_kept_writes(b.store), 2);
	ck_assert_uint_eq(coord_store_kept_misses(b.store), 0);

	/* a commit through a: b's kept copy of the zone is behind; b's next commit finds out,
	 * reads and decides again, and the serial rises from a's */
	cm = in_commit("n1", "z0.example.", 1, 6, 0x06);
	apply_ok(&a, &cm, T0 + 30);
	cm = in_commit("n1", "z0.example.", 1, 8, 0x08);
	apply_ok(&b, &cm, T0 + 31);
	ck_assert_uint_eq(coord_store_kept_misses(b.store), 1);
	coord_input_t old = in_commit("n1", "z0.example.", 1, 6, 0x06);
	ck_assert_int_eq(apply(&b, &old, T0 + 32, res), COORD_R_SERIAL_NOT_ABOVE);

	/* a lease granted through a that b's kept state does not show: n2's renewal through b
	 * is not refused on it, but read and granted */
	lr = input(COORD_IN_LEASE_REQUEST, "n2", "z1.example.");
	apply_ok(&a, &lr, T0 + 40);
	coord_input_t rn = input(COORD_IN_LEASE_RENEW, "n2", "z1.example.");
	rn.epoch = 1;
	ck_assert_int_eq(apply(&b, &rn, T0 + 41, res), COORD_R_OK);
	ck_assert_uint_eq(res->epoch, 1);

	/* a member removed through a: its heartbeat through b, which would write nothing
	 * (within the grain of time last heard) and so checks nothing, is refused on a read */
	coord_input_t n3 = in_register("n3", 1, 0x33);
	apply_ok(&a, &n3, T0 + 50);
	free(read_state(&b, NULL)); /* b keeps n3 */
	coord_input_t hb = input(COORD_IN_NODE_HEARTBEAT, "n3", NULL);
	hb.healthy = true;
	apply_ok(&b, &hb, T0 + 51);
	coord_input_t rm = input(COORD_IN_NODE_REMOVE, "n3", NULL);
	apply_ok(&a, &rm, T0 + 52);
	ck_assert_int_eq(apply(&b, &hb, T0 + 53, res), COORD_R_UNKNOWN_NODE);

	coord_state_t *st = read_state(&b, NULL);
	ck_assert_uint_eq(coord_state_zone(st, "z0.example.")->committed_serial, 8);
	ck_assert_str_eq(coord_state_zone(st, "z1.example.")->holder, "n2");
	same_as_fresh(st, KEPTD);
	free(st);
	free(res);
	coord_close(&a);
	coord_close(&b);
}
END_TEST

#define KSR "/t/store/ksr/"

static int64_t ksr_put(coord_t *c, const char *zone, int64_t expect, const char *value)
{
	bool won = false;
	int64_t rev = 0;
	ck_assert_int_eq(coord_store_doc_put(c->store, COORD_DOC_KEYSET, zone,
					     (const uint8_t *)value, strlen(value), expect, c->diag,
					     &won, &rev),
			 TANDEM_OK);
	ck_assert(won);
	return rev;
}

/* The revision each key set was last written at, kept: every key set's at first, then only
 * those written since; a deleted one drops what was kept (read whole the next time). */
START_TEST(test_keyset_revs)
{
	coord_t a, b;
	coord_open(&a, KSR);
	coord_open(&b, KSR);
	int64_t r1 = ksr_put(&a, "z1.example.", 0, "v1");
	int64_t r2 = ksr_put(&a, "z2.example.", 0, "v1");
	ck_assert_int_eq(coord_store_keyset_rev(b.store, "z1.example."), 0); /* nothing kept */
	ck_assert_int_eq(coord_store_keyset_revs(b.store, b.diag), TANDEM_OK);
	ck_assert_int_eq(coord_store_keyset_rev(b.store, "z1.example."), r1);
	ck_assert_int_eq(coord_store_keyset_rev(b.store, "z2.example."), r2);
	ck_assert_int_eq(coord_store_keyset_rev(b.store, "Z2.Example"), r2); /* any spelling */
	ck_assert_int_eq(coord_store_keyset_rev(b.store, "z3.example."), 0);

	/* a write since, and a key set created since */
	int64_t r1b = ksr_put(&a, "z1.example.", r1, "v2");
	int64_t r3 = ksr_put(&a, "z3.example.", 0, "v1");
	ck_assert_int_eq(coord_store_keyset_revs(b.store, b.diag), TANDEM_OK);
	ck_assert_int_eq(coord_store_keyset_rev(b.store, "z1.example."), r1b);
	ck_assert_int_eq(coord_store_keyset_rev(b.store, "z2.example."), r2);
	ck_assert_int_eq(coord_store_keyset_rev(b.store, "z3.example."), r3);

	/* deleted since: nothing kept this time, all again the next */
	etcd_delete(&a, KSR "keys/z2.example.");
	ck_assert_int_eq(coord_store_keyset_revs(b.store, b.diag), TANDEM_COORD_ECONFLICT);
	ck_assert_int_eq(coord_store_keyset_rev(b.store, "z1.example."), 0);
	tandem_diag_clear(b.diag);
	ck_assert_int_eq(coord_store_keyset_revs(b.store, b.diag), TANDEM_OK);
	ck_assert_int_eq(coord_store_keyset_rev(b.store, "z1.example."), r1b);
	ck_assert_int_eq(coord_store_keyset_rev(b.store, "z2.example."), 0);
	ck_assert_int_eq(coord_store_keyset_rev(b.store, "z3.example."), r3);
	coord_close(&a);
	coord_close(&b);
}
END_TEST

#define BATCH "/t/store/batch/"

static coord_store_lease_t lease_item(const char *zone, uint64_t epoch, bool renew)
{
	coord_store_lease_t it;
	memset(&it, 0, sizeof(it));
	snprintf(it.zone, sizeof(it.zone), "%s", zone);
	it.epoch = epoch;
	it.renew = renew;
	return it;
}

/* A node's lease batch: each item decided as its single request would be, a refusal of one
 * zone touching no other, everything the batch changed in one transaction, and the zones it
 * did not name untouched. */
START_TEST(test_lease_batch)
{
	coord_t a;
	coord_open(&a, BATCH);
	setup_cluster(&a, 6);
	coord_store_decided_t dec[8];
	coord_store_lease_t it[8];

	/* four requests at once: four grants, one transaction */
	for (int i = 0; i < 4; i++) {
		char zone[32];
		snprintf(zone, sizeof(zone), "z%d.example.", i);
		it[i] = lease_item(zone, 0, false);
	}
	uint64_t writes = coord_store_writes(a.store);
	ck_assert_int_eq(
	    coord_store_lease_batch(a.store, "n1", "", it, 4, T0 + 10, params(), a.diag, dec),
	    TANDEM_OK);
	ck_assert_uint_eq(coord_store_writes(a.store), writes + 1);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(dec[i].reason, COORD_R_OK);
		ck_assert_uint_eq(dec[i].epoch, 1);
		ck_assert_uint_eq(dec[i].expiry_ms, T0 + 10 + params()->lease_ms);
		ck_assert(dec[i].changed);
		ck_assert_uint_ge(dec[i].neffects, 1);
	}
	coord_input_t lr = input(COORD_IN_LEASE_REQUEST, "n2", "z4.example.");
	apply_ok(&a, &lr, T0 + 10);

	/* renewals, a stale epoch, a zone another node holds, a zone nobody knows and a
	 * request, in one batch: each its own answer */
	char z3key[64];
	snprintf(z3key, sizeof(z3key), BATCH "state/zone/z3.example.");
	int64_t z3mod = key_mod(&a, z3key);
	char z0key[64];
	snprintf(z0key, sizeof(z0key), BATCH "state/zone/z0.example.");
	int64_t z0mod = key_mod(&a, z0key);
	it[0] = lease_item("z0.example.", 1, true);
	it[1] = lease_item("Z1.Example", 7, true);
	it[2] = lease_item("z2.example.", 1, true);
	it[3] = lease_item("z4.example.", 0, false);
	it[4] = lease_item("nope.example.", 1, true);
	it[5] = lease_item("z5.example.", 0, false);
	writes = coord_store_writes(a.store);
	uint64_t t = T0 + 3000;
	ck_assert_int_eq(
	    coord_store_lease_batch(a.store, "n1", "", it, 6, t, params(), a.diag, dec), TANDEM_OK);
	ck_assert_uint_eq(coord_store_writes(a.store), writes + 1);
	ck_assert_int_eq(dec[0].reason, COORD_R_OK);
	ck_assert_uint_eq(dec[0].expiry_ms, t + params()->lease_ms);
	ck_assert_int_eq(dec[1].reason, COORD_R_STALE_EPOCH);
	ck_assert(!dec[1].changed);
	ck_assert_int_eq(dec[2].reason, COORD_R_OK);
	ck_assert_int_eq(dec[3].reason, COORD_R_HELD);
	ck_assert_int_eq(dec[4].reason, COORD_R_UNKNOWN_ZONE);
	ck_assert_int_eq(dec[5].reason, COORD_R_OK);
	ck_assert_uint_eq(dec[5].epoch, 1);
	coord_state_t *st = read_state(&a, NULL);
	/* the renewals moved n1's node lease, not the zones' own records: z0 (renewed) and
	 * z1 (whose renewal named a stale epoch, but n1 holds it) follow the node lease */
	ck_assert_uint_eq(coord_state_zone(st, "z0.example.")->expiry_ms,
			  T0 + 10 + params()->lease_ms);
	ck_assert_uint_eq(coord_zone_expiry(st, coord_state_zone(st, "z0.example.")),
			  t + params()->lease_ms);
	ck_assert_uint_eq(coord_state_zone(st, "z1.example.")->expiry_ms,
			  T0 + 10 + params()->lease_ms);
	ck_assert_uint_eq(coord_state_node(st, "n1")->lease_expiry_ms, t + params()->lease_ms);
	ck_assert_int_eq(key_mod(&a, z0key), z0mod);
	ck_assert_str_eq(coord_state_zone(st, "z4.example.")->holder, "n2");
	ck_assert_str_eq(coord_state_zone(st, "z5.example.")->holder, "n1");
	ck_assert_uint_eq(coord_state_node(st, "n1")->last_seen_ms, t);
	free(st);
	ck_assert_int_eq(key_mod(&a, z3key), z3mod);

	/* a batch that changes nothing (every item refused) writes nothing */
	int64_t rev = store_revision(&a);
	it[0] = lease_item("z4.example.", 1, true);
	ck_assert_int_eq(
	    coord_store_lease_batch(a.store, "n1", "", it, 1, t + 1, params(), a.diag, dec),
	    TANDEM_OK);
	ck_assert_int_eq(dec[0].reason, COORD_R_NOT_HOLDER);
	ck_assert_int_eq(store_revision(&a), rev);

	/* a lease that ran out is refused in the batch as alone: ask anew */
	it[0] = lease_item("z2.example.", 1, true);
	ck_assert_int_eq(coord_store_lease_batch(a.store, "n1", "", it, 1,
						 t + params()->lease_ms + 1, params(), a.diag, dec),
			 TANDEM_OK);
	ck_assert_int_eq(dec[0].reason, COORD_R_LEASE_EXPIRED);

	/* one zone twice (case and final dot aside), none, too many: refused */
	it[0] = lease_item("z0.example.", 1, true);
	it[1] = lease_item("Z0.Example", 1, true);
	tandem_diag_clear(a.diag);
	ck_assert_int_eq(
	    coord_store_lease_batch(a.store, "n1", "", it, 2, t, params(), a.diag, dec),
	    TANDEM_EINVAL);
	ck_assert_ptr_nonnull(strstr(tandem_diag_msg(a.diag, 0), "items 0 and 1"));
	ck_assert_int_eq(
	    coord_store_lease_batch(a.store, "n1", "", it, 0, t, params(), a.diag, dec),
	    TANDEM_EINVAL);
	ck_assert_int_eq(coord_store_lease_batch(a.store, "n1", "", it, COORD_ZONES_MAX + 1, t,
						 params(), a.diag, dec),
			 TANDEM_EINVAL);
	coord_close(&a);
}
END_TEST

#define MIG "/t/store/migrate/"

/* Decides in on a state in memory (the old layout's test data). */
static void local_ok(coord_state_t *st, const coord_input_t *in, uint64_t now)
{
	coord_result_t *res = calloc(1, sizeof(*res));
	ck_assert_ptr_nonnull(res);
	ck_assert_int_eq(coord_state_apply(st, in, now, params(), st, res), TANDEM_OK);
	ck_assert_msg(res->reason == COORD_R_OK, "%s", res->text);
	free(res);
}

/* Puts bytes at key unconditionally. */
static void raw_put(coord_t *c, const char *key, const uint8_t *buf, size_t len)
{
	coord_etcd_txn_t *t = NULL;
	coord_etcd_txn_result_t *tr = NULL;
	ck_assert_int_eq(coord_etcd_txn_new(&t), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_put(t, key, buf, len, 0), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_commit(c->etcd, t, NULL, &tr), TANDEM_OK);
	coord_etcd_txn_result_free(tr);
	coord_etcd_txn_free(t);
}

START_TEST(test_migration)
{
	coord_t a, b;
	coord_open(&a, MIG);
	coord_open(&b, MIG);
	coord_result_t *res = calloc(1, sizeof(*res));
	coord_state_t *old = calloc(1, sizeof(*old));
	ck_assert_ptr_nonnull(res);
	ck_assert_ptr_nonnull(old);

	/* a cluster of the single-key layout: two members, two zones, a lease */
	ck_assert_int_eq(coord_state_init(old), TANDEM_OK);
	old->lease_ms = params()->lease_ms;
	old->margin_ms = params()->margin_ms;
	coord_input_t in = in_register("n1", 0, 0x11);
	local_ok(old, &in, T0);
	in = in_register("n2", 1, 0x22);
	local_ok(old, &in, T0);
	in = input(COORD_IN_ZONE_ADD, NULL, "Mig.Example.");
	local_ok(old, &in, T0);
	in = input(COORD_IN_ZONE_ADD, NULL, "b.example.");
	local_ok(old, &in, T0);
	in = input(COORD_IN_LEASE_REQUEST, "n1", "b.example.");
	local_ok(old, &in, T0 + 1);
	uint8_t *buf = NULL;
	size_t len = 0;
	ck_assert_int_eq(coord_state_pack(old, &buf, &len), TANDEM_OK);
	raw_put(&a, MIG "cluster", buf, len);
	free(buf);

	/* the first read migrates it, once */
	coord_state_t *st = read_state(&a, NULL);
	ck_assert_uint_eq(coord_store_migrations(a.store), 1);
	ck_assert_uint_eq(st->nnodes, 2);
	ck_assert_uint_eq(st->nzones, 2);
	ck_assert_str_eq(coord_state_zone(st, "b.example.")->holder, "n1");
	ck_assert_uint_eq(coord_state_zone(st, "b.example.")->epoch, 1);
	ck_assert_ptr_nonnull(coord_state_zone(st, "Mig.Example."));
	free(st);
	ck_assert_int_gt(key_mod(&a, MIG "state/cluster"), 0);
	ck_assert_int_gt(key_mod(&a, MIG "state/zone/mig.example."), 0);
	ck_assert_int_gt(key_mod(&a, MIG "state/zone/b.example."), 0);
	/* the old key holds a mark a coordinator of the old layout refuses */
	coord_etcd_range_t *r = NULL;
	ck_assert_int_eq(coord_etcd_get(a.etcd, MIG "cluster", 0, a.diag, &r), TANDEM_OK);
	ck_assert_uint_eq(r->n, 1);
	ck_assert_int_eq(coord_state_unpack(r->kvs[0].value, r->kvs[0].value_len, params(), old),
			 TANDEM_COORD_EVERSION);
	coord_etcd_range_free(r);
	st = read_state(&b, NULL);
	ck_assert_uint_eq(coord_store_migrations(b.store), 0);
	ck_assert_uint_eq(st->nzones, 2);
	free(st);

	/* a zone named in other letters is the same zone, on the same key */
	in = input(COORD_IN_LEASE_REQUEST, "n2", "MIG.example");
	ck_assert_int_eq(apply(&b, &in, T0 + 10, res), COORD_R_OK);
	ck_assert_uint_eq(res->epoch, 1);
	in = input(COORD_IN_ZONE_ADD, NULL, "mig.example.");
	ck_assert_int_eq(apply(&a, &in, T0 + 11, res), COORD_R_EXISTS);
	st = read_state(&a, NULL);
	ck_assert_uint_eq(st->nzones, 2);
	ck_assert_str_eq(coord_state_zone(st, "Mig.Example.")->holder, "n2");
	free(st);

	/* a mark without the state it marks: refused with a clear message, nothing created */
	coord_t c;
	coord_open(&c, "/t/store/migrate-lost/");
	static const uint8_t mark[] = {0x08, 0x02};
	raw_put(&c, "/t/store/migrate-lost/cluster", mark, sizeof(mark));
	coord_state_t *tmp = malloc(sizeof(*tmp));
	ck_assert_ptr_nonnull(tmp);
	ck_assert_int_eq(coord_store_read(c.store, params(), c.diag, tmp, NULL),
			 TANDEM_COORD_ESTATE);
	ck_assert_ptr_nonnull(strstr(tandem_diag_msg(c.diag, 0), "restore"));
	ck_assert_int_eq(coord_store_init(c.store, params(), c.diag), TANDEM_COORD_ESTATE);
	ck_assert_int_eq(key_mod(&c, "/t/store/migrate-lost/state/cluster"), 0);
	free(tmp);
	coord_close(&c);
	free(old);
	free(res);
	coord_close(&a);
	coord_close(&b);
}
END_TEST

/* A read while another coordinator writes the first state: never "the state is lost". */
typedef struct first_racer {
	coord_t *coord;
	bool init; /* else read */
	pthread_barrier_t *start;
	int rc;
} first_racer_t;

static void *first_run(void *arg)
{
	first_racer_t *r = arg;
	coord_state_t *st = malloc(sizeof(*st));
	pthread_barrier_wait(r->start);
	r->rc = st == NULL ? TANDEM_ENOMEM
		: r->init  ? coord_store_init(r->coord->store, params(), r->coord->diag)
			   : coord_store_read(r->coord->store, params(), r->coord->diag, st, NULL);
	free(st);
	return NULL;
}

START_TEST(test_first_state_race)
{
	for (int round = 0; round < 40; round++) {
		char prefix[64];
		snprintf(prefix, sizeof(prefix), "/t/store/first/%d/", round);
		coord_t a, b;
		coord_open(&a, prefix);
		coord_open(&b, prefix);
		pthread_barrier_t start;
		ck_assert_int_eq(pthread_barrier_init(&start, NULL, 2), 0);
		first_racer_t r[2] = {{.coord = &a, .init = true, .start = &start},
				      {.coord = &b, .init = false, .start = &start}};
		pthread_t th[2];
		for (int i = 0; i < 2; i++) {
			ck_assert_int_eq(pthread_create(&th[i], NULL, first_run, &r[i]), 0);
		}
		for (int i = 0; i < 2; i++) {
			pthread_join(th[i], NULL);
			if (r[i].rc != TANDEM_OK) {
				dump_diag(r[i].coord->diag);
			}
			ck_assert_int_eq(r[i].rc, TANDEM_OK);
		}
		pthread_barrier_destroy(&start);
		coord_close(&a);
		coord_close(&b);
	}
}
END_TEST

START_TEST(test_zones_full)
{
	coord_t a;
	coord_open(&a, "/t/store/full/");
	setup_cluster(&a, 1);
	coord_result_t *res = calloc(1, sizeof(*res));
	ck_assert_ptr_nonnull(res);
	/* COORD_ZONES_MAX zone keys: the one zone and stand-ins (a decision about one zone
	 * reads no other zone's key, so only their number counts) */
	for (unsigned i = 1; i < COORD_ZONES_MAX;) {
		coord_etcd_txn_t *t = NULL;
		coord_etcd_txn_result_t *tr = NULL;
		ck_assert_int_eq(coord_etcd_txn_new(&t), TANDEM_OK);
		for (unsigned k = 0; k < 100 && i < COORD_ZONES_MAX; k++, i++) {
			char key[64];
			snprintf(key, sizeof(key), "/t/store/full/state/zone/filler%u.", i);
			ck_assert_int_eq(coord_etcd_txn_put(t, key, "x", 1, 0), TANDEM_OK);
		}
		ck_assert_int_eq(coord_etcd_txn_commit(a.etcd, t, NULL, &tr), TANDEM_OK);
		coord_etcd_txn_result_free(tr);
		coord_etcd_txn_free(t);
	}
	coord_input_t in = input(COORD_IN_ZONE_ADD, NULL, "one-more.example.");
	ck_assert_int_eq(apply(&a, &in, T0 + 1, res), COORD_R_FULL);
	ck_assert_int_eq(key_mod(&a, "/t/store/full/state/zone/one-more.example."), 0);
	/* an existing zone is still decided on */
	in = input(COORD_IN_LEASE_REQUEST, "n1", "z0.example.");
	ck_assert_int_eq(apply(&a, &in, T0 + 2, res), COORD_R_OK);
	free(res);
	coord_close(&a);
}
END_TEST

START_TEST(test_keyset_put_get)
{
	coord_t a, b;
	coord_open(&a, "/t/store/keyset/");
	coord_open(&b, "/t/store/keyset/");
	const char *zone = "z0.example.";
	bool won = false;
	int64_t rev = -1, rev2 = -1;

	/* none yet: NULL, 0, revision 0 */
	ck_assert_ptr_null(keyset_value(&a, zone, &rev));
	ck_assert_int_eq(rev, 0);

	/* create: only if absent */
	ck_assert_int_eq(coord_store_doc_put(a.store, COORD_DOC_KEYSET, zone, (const uint8_t *)"v1",
					     2, 0, a.diag, &won, &rev),
			 TANDEM_OK);
	ck_assert(won);
	ck_assert_int_gt(rev, 0);
	char *v = keyset_value(&b, zone, &rev2);
	ck_assert_str_eq(v, "v1");
	ck_assert_int_eq(rev2, rev);
	free(v);
	/* in etcd under PREFIX/keys/ZONE */
	coord_etcd_range_t *r = NULL;
	ck_assert_int_eq(coord_etcd_get(a.etcd, "/t/store/keyset/keys/z0.example.", 0, a.diag, &r),
			 TANDEM_OK);
	ck_assert_uint_eq(r->n, 1);
	ck_assert_int_eq(r->kvs[0].mod_revision, rev);
	coord_etcd_range_free(r);

	/* a second create (expect 0) loses: not an error, nothing written */
	int64_t cur = -1;
	ck_assert_int_eq(coord_store_doc_put(b.store, COORD_DOC_KEYSET, zone,
					     (const uint8_t *)"other", 5, 0, b.diag, &won, &cur),
			 TANDEM_OK);
	ck_assert(!won);
	ck_assert_int_eq(cur, rev);

	/* update at the right revision */
	int64_t rev3 = -1;
	ck_assert_int_eq(coord_store_doc_put(b.store, COORD_DOC_KEYSET, zone, (const uint8_t *)"v2",
					     2, rev, b.diag, &won, &rev3),
			 TANDEM_OK);
	ck_assert(won);
	ck_assert_int_gt(rev3, rev);
	v = keyset_value(&a, zone, &rev2);
	ck_assert_str_eq(v, "v2");
	ck_assert_int_eq(rev2, rev3);
	free(v);

	/* a stale revision is refused and the value stays */
	ck_assert_int_eq(coord_store_doc_put(a.store, COORD_DOC_KEYSET, zone,
					     (const uint8_t *)"stale", 5, rev, a.diag, &won, &cur),
			 TANDEM_OK);
	ck_assert(!won);
	ck_assert_int_eq(cur, rev3);
	v = keyset_value(&a, zone, &rev2);
	ck_assert_str_eq(v, "v2");
	ck_assert_int_eq(rev2, rev3);
	free(v);

	/* another change of the store moves no key set's revision */
	ck_assert_int_eq(coord_store_doc_put(a.store, COORD_DOC_KEYSET, "z1.example.",
					     (const uint8_t *)"w", 1, 0, a.diag, &won, &cur),
			 TANDEM_OK);
	ck_assert(won);
	v = keyset_value(&a, zone, &rev2);
	ck_assert_int_eq(rev2, rev3);
	free(v);
	v = keyset_value(&a, "z1.example.", &rev2);
	ck_assert_str_eq(v, "w");
	free(v);

	/* the cluster's documents (role table, requests): fixed keys, zone "" only */
	ck_assert_int_eq(coord_store_doc_put(a.store, COORD_DOC_OPERATORS, "",
					     (const uint8_t *)"ops", 3, 0, a.diag, &won, &cur),
			 TANDEM_OK);
	ck_assert(won);
	ck_assert_int_eq(coord_etcd_get(a.etcd, "/t/store/keyset/operators", 0, a.diag, &r),
			 TANDEM_OK);
	ck_assert_uint_eq(r->n, 1);
	coord_etcd_range_free(r);
	ck_assert_int_eq(coord_store_doc_put(b.store, COORD_DOC_OPERATORS, "",
					     (const uint8_t *)"again", 5, 0, b.diag, &won, &cur),
			 TANDEM_OK);
	ck_assert(!won); /* a second bootstrap loses */
	ck_assert_int_eq(coord_store_doc_put(a.store, COORD_DOC_REQUESTS, "z0.example.",
					     (const uint8_t *)"x", 1, 0, a.diag, &won, &cur),
			 TANDEM_EINVAL);
	ck_assert_int_eq(coord_store_doc_put(a.store, COORD_DOC_REQUESTS, "",
					     (const uint8_t *)"reqs", 4, 0, a.diag, &won, &cur),
			 TANDEM_OK);
	ck_assert(won);
	v = keyset_value(&a, zone, &rev2);
	ck_assert_int_eq(rev2, rev3); /* no key set moved */
	free(v);

	/* the SKR book is another key: it starts absent, and writing it moves no key set */
	uint8_t *sb = NULL;
	size_t sl = 0;
	int64_t srev = -1;
	ck_assert_int_eq(coord_store_doc_get(a.store, COORD_DOC_SKR, zone, a.diag, &sb, &sl, &srev),
			 TANDEM_OK);
	ck_assert_ptr_null(sb);
	ck_assert_int_eq(srev, 0);
	ck_assert_int_eq(coord_store_doc_put(a.store, COORD_DOC_SKR, zone, (const uint8_t *)"book",
					     4, 0, a.diag, &won, &srev),
			 TANDEM_OK);
	ck_assert(won);
	ck_assert_int_eq(coord_store_doc_put(b.store, COORD_DOC_SKR, zone, (const uint8_t *)"late",
					     4, 0, b.diag, &won, &cur),
			 TANDEM_OK);
	ck_assert(!won);
	ck_assert_int_eq(cur, srev);
	ck_assert_int_eq(coord_store_doc_get(b.store, COORD_DOC_SKR, zone, b.diag, &sb, &sl, &cur),
			 TANDEM_OK);
	ck_assert_uint_eq(sl, 4);
	ck_assert_mem_eq(sb, "book", 4);
	free(sb);
	v = keyset_value(&a, zone, &rev2);
	ck_assert_str_eq(v, "v2");
	ck_assert_int_eq(rev2, rev3);
	free(v);
	ck_assert_int_eq(coord_store_doc_get(a.store, (coord_doc_t)7, zone, a.diag, &sb, &sl, &cur),
			 TANDEM_EINVAL);

	/* two writers race on one revision: exactly one wins, its value stays */
	for (int round = 0; round < 5; round++) {
		int64_t base = -1;
		free(keyset_value(&a, zone, &base));
		pthread_barrier_t start;
		pthread_t th[2];
		ks_racer_t rr[2] = {
		    {.coord = &a, .value = "from-a", .expect = base, .start = &start},
		    {.coord = &b, .value = "from-b", .expect = base, .start = &start},
		};
		ck_assert_int_eq(pthread_barrier_init(&start, NULL, 2), 0);
		for (int i = 0; i < 2; i++) {
			ck_assert_int_eq(pthread_create(&th[i], NULL, ks_racer_run, &rr[i]), 0);
		}
		for (int i = 0; i < 2; i++) {
			pthread_join(th[i], NULL);
			ck_assert_int_eq(rr[i].rc, TANDEM_OK);
		}
		pthread_barrier_destroy(&start);
		ck_assert_int_eq((int)rr[0].won + (int)rr[1].won, 1);
		const ks_racer_t *w = rr[0].won ? &rr[0] : &rr[1];
		const ks_racer_t *l = rr[0].won ? &rr[1] : &rr[0];
		ck_assert_int_gt(w->rev, base);
		v = keyset_value(&a, zone, &rev2);
		ck_assert_str_eq(v, w->value);
		ck_assert_int_eq(rev2, w->rev);
		/* the loser saw the winner's revision (or the base, had it read first: never) */
		ck_assert_int_eq(l->rev, w->rev);
		free(v);
	}

	/* arguments */
	ck_assert_int_eq(coord_store_doc_put(a.store, COORD_DOC_KEYSET, zone, (const uint8_t *)"x",
					     1, -1, a.diag, &won, &cur),
			 TANDEM_EINVAL);
	ck_assert_int_eq(coord_store_doc_put(a.store, COORD_DOC_KEYSET, zone, (const uint8_t *)"x",
					     0, 0, a.diag, &won, &cur),
			 TANDEM_EINVAL);
	ck_assert_int_eq(coord_store_doc_put(a.store, COORD_DOC_KEYSET, "", (const uint8_t *)"x", 1,
					     0, a.diag, &won, &cur),
			 TANDEM_EINVAL);
	uint8_t *buf = NULL;
	size_t len = 0;
	ck_assert_int_eq(
	    coord_store_doc_get(a.store, COORD_DOC_KEYSET, "", a.diag, &buf, &len, &cur),
	    TANDEM_EINVAL);
	ck_assert_int_eq(
	    coord_store_doc_get(a.store, COORD_DOC_KEYSET, zone, a.diag, &buf, &len, NULL),
	    TANDEM_EINVAL);
	coord_close(&a);
	coord_close(&b);
}
END_TEST

/* Policies: PREFIX/policies/NAME, PREFIX/policy-staged/NAME and PREFIX/zone-policy/ZONE, each
 * written conditionally, and listed by kind with the name after the prefix. */
START_TEST(test_policy_docs)
{
	coord_t a;
	coord_open(&a, "/t/store/policy/");
	bool won = false;
	int64_t rev = -1, rev2 = -1;
	uint8_t *buf = NULL;
	size_t len = 0, plen = 0;
	coord_etcd_range_t *r = NULL;

	ck_assert_int_eq(coord_store_doc_put(a.store, COORD_DOC_POLICY, "p1", (const uint8_t *)"x1",
					     2, 0, a.diag, &won, &rev),
			 TANDEM_OK);
	ck_assert(won);
	ck_assert_int_eq(coord_store_doc_put(a.store, COORD_DOC_POLICY, "p2.b",
					     (const uint8_t *)"x2", 2, 0, a.diag, &won, &rev2),
			 TANDEM_OK);
	ck_assert(won);
	ck_assert_int_eq(coord_store_doc_put(a.store, COORD_DOC_POLICY_STAGED, "p1",
					     (const uint8_t *)"s1", 2, 0, a.diag, &won, &rev2),
			 TANDEM_OK);
	ck_assert_int_eq(coord_store_doc_put(a.store, COORD_DOC_ZONE_POLICY, "z0.example.",
					     (const uint8_t *)"p1", 2, 0, a.diag, &won, &rev2),
			 TANDEM_OK);
	/* a second create of p1 loses: nothing written */
	ck_assert_int_eq(coord_store_doc_put(a.store, COORD_DOC_POLICY, "p1", (const uint8_t *)"zz",
					     2, 0, a.diag, &won, &rev2),
			 TANDEM_OK);
	ck_assert(!won);
	ck_assert_int_eq(rev2, rev);
	ck_assert_int_eq(
	    coord_store_doc_get(a.store, COORD_DOC_POLICY, "p1", a.diag, &buf, &len, &rev2),
	    TANDEM_OK);
	ck_assert_uint_eq(len, 2);
	ck_assert_int_eq(memcmp(buf, "x1", 2), 0);
	free(buf);
	/* in etcd where docs/coordinator.md says */
	ck_assert_int_eq(coord_etcd_get(a.etcd, "/t/store/policy/policies/p2.b", 0, a.diag, &r),
			 TANDEM_OK);
	ck_assert_uint_eq(r->n, 1);
	coord_etcd_range_free(r);
	ck_assert_int_eq(
	    coord_etcd_get(a.etcd, "/t/store/policy/zone-policy/z0.example.", 0, a.diag, &r),
	    TANDEM_OK);
	ck_assert_uint_eq(r->n, 1);
	coord_etcd_range_free(r);
	/* the list of policies holds the two policies, not the staged text */
	ck_assert_int_eq(coord_store_doc_list(a.store, COORD_DOC_POLICY, a.diag, &r, &plen),
			 TANDEM_OK);
	ck_assert_uint_eq(r->n, 2);
	ck_assert_str_eq(r->kvs[0].key + plen, "p1");
	ck_assert_str_eq(r->kvs[1].key + plen, "p2.b");
	coord_etcd_range_free(r);
	ck_assert_int_eq(coord_store_doc_list(a.store, COORD_DOC_ZONE_POLICY, a.diag, &r, &plen),
			 TANDEM_OK);
	ck_assert_uint_eq(r->n, 1);
	ck_assert_str_eq(r->kvs[0].key + plen, "z0.example.");
	coord_etcd_range_free(r);
	/* only the per-name kinds are listed; an empty name is refused */
	ck_assert_int_eq(coord_store_doc_list(a.store, COORD_DOC_RULES, a.diag, &r, &plen),
			 TANDEM_EINVAL);
	ck_assert_int_eq(
	    coord_store_doc_get(a.store, COORD_DOC_POLICY, "", a.diag, &buf, &len, &rev2),
	    TANDEM_EINVAL);
	coord_close(&a);
}
END_TEST

START_TEST(test_leader_name)
{
	coord_t a;
	coord_open(&a, "/t/store/leadername/");
	char name[COORD_STORE_NAME_MAX + 1] = "x";
	ck_assert_int_eq(coord_store_leader(a.store, a.diag, name), TANDEM_OK);
	ck_assert_str_eq(name, "");
	bool leader = false;
	ck_assert_int_eq(coord_store_campaign(a.store, "coord-a", 5, a.diag, &leader), TANDEM_OK);
	ck_assert(leader);
	ck_assert_int_eq(coord_store_leader(a.store, a.diag, name), TANDEM_OK);
	ck_assert_str_eq(name, "coord-a");
	ck_assert_int_eq(coord_store_resign(a.store, a.diag), TANDEM_OK);
	ck_assert_int_eq(coord_store_leader(a.store, a.diag, name), TANDEM_OK);
	ck_assert_str_eq(name, "");
	/* a value that is no name */
	coord_etcd_txn_t *t = NULL;
	coord_etcd_txn_result_t *tr = NULL;
	ck_assert_int_eq(coord_etcd_txn_new(&t), TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_put(t, "/t/store/leadername/leader", "a\nb", 3, 0),
			 TANDEM_OK);
	ck_assert_int_eq(coord_etcd_txn_commit(a.etcd, t, NULL, &tr), TANDEM_OK);
	coord_etcd_txn_result_free(tr);
	coord_etcd_txn_free(t);
	ck_assert_int_eq(coord_store_leader(a.store, a.diag, name), TANDEM_OK);
	ck_assert_str_eq(name, "?");
	coord_close(&a);
}
END_TEST

/* ---- etcd gone ---------------------------------------------------------------------------- */

START_TEST(test_etcd_down)
{
	etcd_proc_t e;
	etcd_start(&e);
	coord_t a;
	coord_open_on(&a, e.endpoint, 800, NULL);
	setup_cluster(&a, 1);
	int64_t mod = mod_revision(&a);
	coord_result_t *res = malloc(sizeof(*res));
	ck_assert_ptr_nonnull(res);
	memset(res, 0x5a, sizeof(*res));
	coord_input_t req = input(COORD_IN_LEASE_REQUEST, "n1", "z0.example.");

	/* frozen: nothing answers within the timeout; no decision comes out. A store that must
	 * read first (nothing kept) sends no write: nothing lands */
	coord_t b;
	coord_open_on(&b, e.endpoint, 800, NULL);
	kill(e.pid, SIGSTOP);
	int status = 0;
	ck_assert_int_eq(waitpid(e.pid, &status, WUNTRACED), e.pid);
	int rc = coord_store_apply(b.store, &req, T0 + 100, params(), b.diag, res);
	ck_assert_msg(rc == TANDEM_COORD_EUNAVAIL || rc == TANDEM_COORD_ENOQUORUM, "rc %d", rc);
	ck_assert_int_eq((int)res->reason, 0x5a5a5a5a); /* untouched */
	kill(e.pid, SIGCONT);
	coord_state_t *st = read_state(&a, NULL);
	ck_assert_int_eq(mod_revision(&a), mod);
	ck_assert_str_eq(coord_state_zone(st, "z0.example.")->holder, "");
	ck_assert_uint_eq(coord_state_zone(st, "z0.example.")->epoch, 0);
	free(st);
	coord_close(&b);

	/* a store that decides on its kept state sends its conditional write at once: no
	 * decision comes out either, and the write may still land once etcd runs again (as any
	 * write that timed out), but then whole, exactly the decision's */
	kill(e.pid, SIGSTOP);
	ck_assert_int_eq(waitpid(e.pid, &status, WUNTRACED), e.pid);
	rc = coord_store_apply(a.store, &req, T0 + 100, params(), a.diag, res);
	ck_assert_msg(rc == TANDEM_COORD_EUNAVAIL || rc == TANDEM_COORD_ENOQUORUM, "rc %d", rc);
	ck_assert_int_eq((int)res->reason, 0x5a5a5a5a);
	kill(e.pid, SIGCONT);
	st = read_state(&a, NULL); /* the cluster key and the zone's, at one revision */
	const coord_zone_t *z0 = coord_state_zone(st, "z0.example.");
	if (z0->holder[0] != '\0') {
		ck_assert_str_eq(z0->holder, "n1");
		ck_assert_uint_eq(z0->epoch, 1);
	} else {
		ck_assert_uint_eq(z0->epoch, 0);
	}
	free(st);
	/* the node asks again, landed or not: the one grant */
	ck_assert_int_eq(apply(&a, &req, T0 + 200, res), COORD_R_OK);
	ck_assert_uint_eq(res->epoch, 1);
	memset(res, 0x5a, sizeof(*res));

	/* killed: every call fails at once and says so */
	kill(e.pid, SIGKILL);
	waitpid(e.pid, NULL, 0);
	e.pid = 0;
	ck_assert_int_eq(coord_store_apply(a.store, &req, T0 + 100, params(), a.diag, res),
			 TANDEM_COORD_EUNAVAIL);
	ck_assert_int_eq((int)res->reason, 0x5a5a5a5a);
	st = malloc(sizeof(*st));
	ck_assert_int_eq(coord_store_read(a.store, params(), a.diag, st, NULL),
			 TANDEM_COORD_EUNAVAIL);
	ck_assert_int_eq(coord_store_init(a.store, params(), a.diag), TANDEM_COORD_EUNAVAIL);
	bool leader = true;
	ck_assert_int_eq(coord_store_campaign(a.store, "coord-a", 2, a.diag, &leader),
			 TANDEM_COORD_EUNAVAIL);
	ck_assert(leader); /* untouched */
	free(st);
	free(res);
	coord_close(&a);
	etcd_stop(&e);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("coord_store");
	TCase *tc = tcase_create("store");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_new_init);
	tcase_add_test(tc, test_cluster_params);
	tcase_add_test(tc, test_lease_and_commit_races);
	tcase_add_test(tc, test_failover_ticks);
	tcase_add_test(tc, test_campaign);
	tcase_add_test(tc, test_archive_with_key_add);
	tcase_add_test(tc, test_keyset_put_get);
	tcase_add_test(tc, test_split_writes);
	tcase_add_test(tc, test_kept_state);
	tcase_add_test(tc, test_kept_decisions);
	tcase_add_test(tc, test_keyset_revs);
	tcase_add_test(tc, test_lease_batch);
	tcase_add_test(tc, test_migration);
	tcase_add_test(tc, test_first_state_race);
	tcase_add_test(tc, test_zones_full);
	tcase_add_test(tc, test_leader_name);
	tcase_add_test(tc, test_policy_docs);
	tcase_add_test(tc, test_etcd_down);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (coord_etcd_global_init() != TANDEM_OK) {
		fprintf(stderr, "curl_global_init failed\n");
		return 1;
	}
	etcd_start(&suite_etcd);
	SRunner *sr = srunner_create(store_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	etcd_stop(&suite_etcd);
	coord_etcd_global_cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
