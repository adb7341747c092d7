/* Unit tests of the node's state machine: a fake clock and scripted coordinator replies, no
 * sockets, no HSM, no etcd. */
#include <check.h>
#include <string.h>

#include "node.h"

#define LEASE_MS  9000u
#define MARGIN_MS 1000u
#define CYCLE_MS  60000u
#define RETRY_MS  30000u

/* One zone and the fake clock that drives it. */
typedef struct sim {
	node_zone_t z;
	node_time_t t;
	node_view_t v;
	node_actions_t out;
} sim_t;

static void sim_init(sim_t *s)
{
	memset(s, 0, sizeof(*s));
	node_conf_t c = {.cycle_ms = CYCLE_MS,
			 .retry_ms = RETRY_MS,
			 .request_ms = 250,
			 .renew_retry_ms = 300,
			 .keys_ms = 1000,
			 .skr_retry_ms = 5000,
			 .skr_margin_ms = 3u * 3600u * 1000u};
	node_zone_init(&s->z, &c);
	s->t.mono_ms = 1000000;
	s->t.wall_ms = 1796601600000ull; /* 2026-12-07T00:00:00Z */
	s->v.lease_ms = LEASE_MS;
	s->v.margin_ms = MARGIN_MS;
	s->v.self_up = true;
	s->v.input_ready = true;
	s->v.keys_ready = true;
	s->v.free = true;
}

static void sim_advance(sim_t *s, uint64_t ms)
{
	s->t.mono_ms += ms;
	s->t.wall_ms += ms;
}

static const node_actions_t *sim_step(sim_t *s, const node_input_t *in)
{
	node_step(&s->z, in, &s->t, &s->out);
	return &s->out;
}

static const node_actions_t *sim_tick(sim_t *s)
{
	node_input_t in = {.kind = NODE_IN_TICK};
	return sim_step(s, &in);
}

static const node_actions_t *sim_status(sim_t *s)
{
	node_input_t in = {.kind = NODE_IN_STATUS, .view = s->v};
	return sim_step(s, &in);
}

/* The scripted coordinator's answer to a lease request or renewal sent now. */
static const node_actions_t *sim_lease_reply(sim_t *s, bool answered, bool accepted, uint64_t epoch)
{
	node_input_t in = {.kind = NODE_IN_LEASE_REPLY};
	in.lease.answered = answered;
	in.lease.accepted = accepted;
	in.lease.reason = accepted ? COORD_R_OK : COORD_R_HELD;
	in.lease.epoch = epoch;
	in.lease.sent_mono = s->t.mono_ms;
	return sim_step(s, &in);
}

static const node_actions_t *sim_keyset(sim_t *s, int64_t rev)
{
	s->v.own_keyset_valid = true; /* the next view says so too */
	s->v.own_keyset_rev = rev;
	node_input_t in = {.kind = NODE_IN_KEYSET};
	in.keyset.ok = true;
	in.keyset.revision = rev;
	in.keyset.signing = s->v.own_keyset_signing;
	in.keyset.keys_ready = true;
	return sim_step(s, &in);
}

static const node_actions_t *sim_run_done(sim_t *s, bool shadow, uint32_t serial,
					  uint32_t input_serial)
{
	node_input_t in = {.kind = NODE_IN_RUN_DONE};
	in.run.ok = true;
	in.run.started = true;
	in.run.shadow = shadow;
	in.run.serial = serial;
	in.run.input_serial = input_serial;
	return sim_step(s, &in);
}

static const node_actions_t *sim_commit_reply(sim_t *s, bool answered, bool accepted)
{
	node_input_t in = {.kind = NODE_IN_COMMIT_REPLY};
	in.commit.answered = answered;
	in.commit.accepted = accepted;
	in.commit.reason = accepted ? COORD_R_OK : COORD_R_NOT_HOLDER;
	return sim_step(s, &in);
}

static const node_action_t *find(const node_actions_t *out, node_action_kind_t kind)
{
	for (size_t i = 0; i < out->n; i++) {
		if (out->a[i].kind == kind) {
			return &out->a[i];
		}
	}
	return NULL;
}

static bool has(const node_actions_t *out, node_action_kind_t kind)
{
	return find(out, kind) != NULL;
}

/* A standby's view: another node holds the zone and committed `serial` (input
 * 2026120702, key set revision 5), digests compared. */
static void sim_standby(sim_t *s, uint32_t serial)
{
	s->v.free = false;
	s->v.has_committed = true;
	s->v.compare_digests = true;
	s->v.serial = serial;
	s->v.input_serial = 2026120702;
	s->v.keyset_revision = 5;
	s->v.sign_time = 1796601600;
}

/* Takes the lease at epoch `epoch` from a free zone, with key set `rev` read; the node is
 * left with its first active run going. */
static void sim_take(sim_t *s, uint64_t epoch, int64_t rev)
{
	const node_actions_t *out = sim_status(s);
	ck_assert(has(out, NODE_A_LEASE_REQUEST));
	out = sim_lease_reply(s, true, true, epoch);
	const node_action_t *g = find(out, NODE_A_LEASE_GRANTED);
	ck_assert_ptr_nonnull(g);
	ck_assert(g->new_epoch);
	ck_assert_uint_eq(g->epoch, epoch);
	ck_assert(node_may_publish(&s->z, s->t.mono_ms));
	if (!s->z.keyset_valid) {
		/* a node that never read the key set signs nothing before it has */
		ck_assert(!has(out, NODE_A_RUN));
		out = sim_keyset(s, rev); /* read by the key work (tandemd_keys) */
	}
	ck_assert(has(out, NODE_A_KEYSET_FETCH));
	ck_assert(!has(out, NODE_A_RUN));
	out = sim_keyset(s, rev);
	const node_action_t *r = find(out, NODE_A_RUN);
	ck_assert_ptr_nonnull(r);
	ck_assert(!r->shadow);
	ck_assert_uint_eq(r->epoch, epoch);
	ck_assert_int_eq(s->z.run, NODE_RUN_SIGNING);
}

/* The happy path: a run, a commit, a publication; the next run waits for the cycle. */
START_TEST(cycle_commits_and_publishes)
{
	sim_t s;
	sim_init(&s);
	sim_take(&s, 7, 3);
	sim_advance(&s, 500);
	const node_actions_t *out = sim_run_done(&s, false, 11, 2026120701);
	const node_action_t *c = find(out, NODE_A_COMMIT);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->serial, 11);
	ck_assert_uint_eq(c->epoch, 7);
	out = sim_commit_reply(&s, true, true);
	const node_action_t *p = find(out, NODE_A_PUBLISH);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(p->serial, 11);
	node_input_t in = {.kind = NODE_IN_PUBLISHED};
	in.published.ok = true;
	sim_step(&s, &in);
	ck_assert_uint_eq(s.z.published_serial, 11);
	ck_assert_int_eq(s.z.run, NODE_RUN_IDLE);
	ck_assert_uint_eq(s.z.due[NODE_EV_CYCLE], s.t.mono_ms + CYCLE_MS);
	sim_advance(&s, 1000);
	out = sim_tick(&s);
	ck_assert(!has(out, NODE_A_KEYSET_FETCH));
	ck_assert(!has(out, NODE_A_RUN));
}
END_TEST

/* A new input arriving just after a publication, before the status shows the commit: the
 * next run waits for a view that does (a run on the stale view signed the same serial
 * again, in full). */
START_TEST(next_run_waits_for_own_commit_in_view)
{
	sim_t s;
	sim_init(&s);
	s.v.has_committed = true;
	s.v.serial = 9;
	sim_take(&s, 7, 3);
	sim_run_done(&s, false, 11, 2026120701);
	sim_commit_reply(&s, true, true);
	node_input_t in = {.kind = NODE_IN_PUBLISHED};
	in.published.ok = true;
	sim_step(&s, &in);
	in.kind = NODE_IN_INPUT_CHANGED;
	sim_step(&s, &in);
	sim_advance(&s, 100);
	const node_actions_t *out = sim_status(&s); /* still serial 9 */
	ck_assert(!has(out, NODE_A_KEYSET_FETCH));
	ck_assert(!has(out, NODE_A_RUN));
	s.v.serial = 11;
	s.v.committed_by_self = true;
	sim_advance(&s, 150);
	out = sim_status(&s);
	ck_assert(has(out, NODE_A_KEYSET_FETCH));
}
END_TEST

/* Renewal late: the renewals go unanswered, the commit's acceptance arrives after the lease's
 * deadline on this node's clock: nothing is published, and the lease is said gone. */
START_TEST(renewal_late_no_publish_after_deadline)
{
	sim_t s;
	sim_init(&s);
	sim_take(&s, 2, 1);
	uint64_t granted = s.t.mono_ms;
	uint64_t deadline = granted + LEASE_MS - MARGIN_MS;
	/* renewals at lease/3, then every 300 ms while unanswered */
	sim_advance(&s, LEASE_MS / 3);
	ck_assert(has(sim_tick(&s), NODE_A_LEASE_RENEW));
	sim_lease_reply(&s, false, false, 0);
	sim_advance(&s, 100);
	ck_assert(!has(sim_tick(&s), NODE_A_LEASE_RENEW));
	sim_advance(&s, 200);
	ck_assert(has(sim_tick(&s), NODE_A_LEASE_RENEW));
	sim_lease_reply(&s, false, false, 0);
	/* the run ends before the deadline: committed */
	s.t.mono_ms = deadline - 500;
	ck_assert(has(sim_run_done(&s, false, 5, 1), NODE_A_COMMIT));
	/* the commit's answer comes late */
	s.t.mono_ms = deadline + 1;
	const node_actions_t *out = sim_commit_reply(&s, true, true);
	ck_assert(!has(out, NODE_A_PUBLISH));
	const node_action_t *d = find(out, NODE_A_LEASE_DROPPED);
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(d->why, NODE_WHY_LATE);
	ck_assert(!s.z.held);
	ck_assert(!node_may_publish(&s.z, s.t.mono_ms));
}
END_TEST

/* A renewal answered in time moves the deadline: the node publishes past the first one. */
START_TEST(renewal_in_time_extends)
{
	sim_t s;
	sim_init(&s);
	sim_take(&s, 2, 1);
	uint64_t first_deadline = s.t.mono_ms + LEASE_MS - MARGIN_MS;
	sim_advance(&s, LEASE_MS / 3);
	ck_assert(has(sim_tick(&s), NODE_A_LEASE_RENEW));
	const node_actions_t *out = sim_lease_reply(&s, true, true, 2);
	const node_action_t *g = find(out, NODE_A_LEASE_GRANTED);
	ck_assert_ptr_nonnull(g);
	ck_assert(!g->new_epoch);
	s.t.mono_ms = first_deadline + 10;
	ck_assert(!has(sim_tick(&s), NODE_A_LEASE_DROPPED));
	ck_assert(node_may_publish(&s.z, s.t.mono_ms));
	ck_assert(has(sim_run_done(&s, false, 5, 1), NODE_A_COMMIT));
	ck_assert(has(sim_commit_reply(&s, true, true), NODE_A_PUBLISH));
}
END_TEST

/* A renewal answered in time on tandemd's renewal thread, but fed to the node after the old
 * deadline (the loop was busy): the lease goes on, not dropped and taken again as a new one;
 * the new deadline counts from that renewal's send. */
START_TEST(renewal_answered_in_time_fed_late_keeps)
{
	sim_t s;
	sim_init(&s);
	sim_take(&s, 2, 1);
	uint64_t first_deadline = s.t.mono_ms + LEASE_MS - MARGIN_MS;
	uint64_t sent = s.t.mono_ms + LEASE_MS / 3;
	node_input_t in = {.kind = NODE_IN_LEASE_REPLY};
	in.lease.answered = true;
	in.lease.accepted = true;
	in.lease.reason = COORD_R_OK;
	in.lease.epoch = 2;
	in.lease.sent_mono = sent;
	in.lease.answered_mono = sent + 50;
	s.t.mono_ms = first_deadline + 2000; /* the loop looks only now */
	const node_actions_t *out = sim_step(&s, &in);
	ck_assert(!has(out, NODE_A_LEASE_DROPPED));
	const node_action_t *g = find(out, NODE_A_LEASE_GRANTED);
	ck_assert_ptr_nonnull(g);
	ck_assert(!g->new_epoch);
	ck_assert(s.z.held);
	ck_assert(node_may_publish(&s.z, s.t.mono_ms));
	/* exactly as strict as before: the deadline is sent + lease - margin */
	ck_assert(node_may_publish(&s.z, sent + LEASE_MS - MARGIN_MS - 1));
	ck_assert(!node_may_publish(&s.z, sent + LEASE_MS - MARGIN_MS));
}
END_TEST

/* The same renewal answered after the deadline (on the thread's clock) still ends the lease
 * that ran out: the stop is said, and a new lease begins. */
START_TEST(renewal_answered_late_fed_late_drops)
{
	sim_t s;
	sim_init(&s);
	sim_take(&s, 2, 1);
	uint64_t first_deadline = s.t.mono_ms + LEASE_MS - MARGIN_MS;
	node_input_t in = {.kind = NODE_IN_LEASE_REPLY};
	in.lease.answered = true;
	in.lease.accepted = true;
	in.lease.reason = COORD_R_OK;
	in.lease.epoch = 2;
	in.lease.sent_mono = first_deadline - 100;
	in.lease.answered_mono = first_deadline; /* the deadline itself ends publishing */
	s.t.mono_ms = first_deadline + 500;
	const node_actions_t *out = sim_step(&s, &in);
	const node_action_t *d = find(out, NODE_A_LEASE_DROPPED);
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(d->why, NODE_WHY_DEADLINE);
	const node_action_t *g = find(out, NODE_A_LEASE_GRANTED);
	ck_assert_ptr_nonnull(g);
	ck_assert(g->new_epoch);
}
END_TEST

/* A batch of renewals answered per zone: the zone refused drops its lease, the other is
 * renewed from the one send, as if each had asked alone. */
START_TEST(batch_refusal_is_that_zones_alone)
{
	sim_t a, b;
	sim_init(&a);
	sim_init(&b);
	sim_take(&a, 2, 1);
	sim_take(&b, 3, 1);
	uint64_t first_deadline = a.t.mono_ms + LEASE_MS - MARGIN_MS;
	sim_advance(&a, LEASE_MS / 3);
	sim_advance(&b, LEASE_MS / 3);
	ck_assert(has(sim_tick(&a), NODE_A_LEASE_RENEW));
	ck_assert(has(sim_tick(&b), NODE_A_LEASE_RENEW));
	const char *zones[] = {"a.example.", "b.example."};
	node_lease_answer_t ans[] = {{"a.example.", true, COORD_R_OK, 2},
				     {"b.example.", false, COORD_R_STALE_EPOCH, 0}};
	node_input_t in[2];
	uint64_t sent = a.t.mono_ms;
	ck_assert(node_lease_batch_replies(zones, 2, ans, 2, sent, in));
	ck_assert_uint_eq(in[0].lease.sent_mono, sent);
	ck_assert_uint_eq(in[1].lease.sent_mono, sent);
	const node_actions_t *out = sim_step(&a, &in[0]);
	const node_action_t *g = find(out, NODE_A_LEASE_GRANTED);
	ck_assert_ptr_nonnull(g);
	ck_assert(!g->new_epoch);
	ck_assert(!has(out, NODE_A_LEASE_DROPPED));
	ck_assert_uint_eq(a.z.due[NODE_EV_DEADLINE], sent + LEASE_MS - MARGIN_MS);
	ck_assert_uint_eq(a.z.due[NODE_EV_RENEW], sent + LEASE_MS / 3);
	out = sim_step(&b, &in[1]);
	ck_assert_ptr_nonnull(find(out, NODE_A_LEASE_DROPPED));
	ck_assert_int_eq(find(out, NODE_A_LEASE_DROPPED)->why, NODE_WHY_REFUSED);
	ck_assert(!b.z.held);
	ck_assert_int_eq(b.z.last_refusal, COORD_R_STALE_EPOCH);
	/* the renewed zone publishes past its first deadline */
	a.t.mono_ms = first_deadline + 10;
	ck_assert(!has(sim_tick(&a), NODE_A_LEASE_DROPPED));
	ck_assert(node_may_publish(&a.z, a.t.mono_ms));
}
END_TEST

/* A batch nobody answered makes every zone's renewal late exactly as a lost single renewal
 * does: the same retries, the same deadline; and an answer that is not one result per zone,
 * in order, is taken as no answer. */
START_TEST(batch_lost_as_single_lost)
{
	sim_t a, single;
	sim_init(&a);
	sim_init(&single);
	sim_take(&a, 2, 1);
	sim_take(&single, 2, 1);
	uint64_t deadline = a.t.mono_ms + LEASE_MS - MARGIN_MS;
	const char *zones[] = {"a.example."};
	node_input_t in[1];
	bool dropped = false;
	for (int k = 0; k < 100 && !dropped; k++) {
		sim_advance(&a, 100);
		sim_advance(&single, 100);
		const node_actions_t *oa = sim_tick(&a);
		bool ra = has(oa, NODE_A_LEASE_RENEW);
		bool da = has(oa, NODE_A_LEASE_DROPPED);
		const node_actions_t *os = sim_tick(&single);
		ck_assert_int_eq(ra, has(os, NODE_A_LEASE_RENEW));
		ck_assert_int_eq(da, has(os, NODE_A_LEASE_DROPPED));
		if (ra) {
			ck_assert(!node_lease_batch_replies(zones, 1, NULL, 0, a.t.mono_ms, in));
			ck_assert(!in[0].lease.answered);
			sim_step(&a, &in[0]);
			sim_lease_reply(&single, false, false, 0);
		}
		ck_assert_mem_eq(a.z.due, single.z.due, sizeof(a.z.due));
		dropped = da;
		if (da) {
			ck_assert_uint_eq(a.t.mono_ms, deadline);
			ck_assert_int_eq(find(oa, NODE_A_LEASE_DROPPED)->why, NODE_WHY_DEADLINE);
		}
	}
	ck_assert(dropped);
	ck_assert(!a.z.held);

	/* answers that do not fit the batch: none taken */
	const char *two[] = {"a.example.", "b.example."};
	node_lease_answer_t ok[] = {{"a.example.", true, COORD_R_OK, 2},
				    {"b.example.", true, COORD_R_OK, 3}};
	node_input_t in2[2];
	ck_assert(node_lease_batch_replies(two, 2, ok, 2, 5, in2));
	ck_assert(in2[1].lease.answered && in2[1].lease.accepted);
	ck_assert_uint_eq(in2[1].lease.epoch, 3);
	ck_assert(!node_lease_batch_replies(two, 2, ok, 1, 5, in2)); /* one short */
	ck_assert(!in2[0].lease.answered && !in2[1].lease.answered);
	node_lease_answer_t swapped[] = {ok[1], ok[0]}; /* another order */
	ck_assert(!node_lease_batch_replies(two, 2, swapped, 2, 5, in2));
	ck_assert(!in2[0].lease.answered);
	node_lease_answer_t odd[] = {ok[0], {"b.example.", true, COORD_R_HELD, 0}};
	ck_assert(!node_lease_batch_replies(two, 2, odd, 2, 5, in2)); /* accepted, yet a reason */
}
END_TEST

/* Lost: the deadline passes during a run (said at once, by the timer); the run's result is
 * dropped: no commit, no publish. */
START_TEST(lost_run_result_dropped)
{
	sim_t s;
	sim_init(&s);
	sim_take(&s, 4, 1);
	uint64_t deadline = s.t.mono_ms + LEASE_MS - MARGIN_MS;
	ck_assert_uint_eq(s.z.due[NODE_EV_DEADLINE], deadline);
	s.t.mono_ms = deadline;
	/* the renewal that was due is sent, but the lease is already gone on this clock */
	const node_actions_t *out = sim_tick(&s);
	const node_action_t *d = find(out, NODE_A_LEASE_DROPPED);
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(d->why, NODE_WHY_DEADLINE);
	ck_assert(!has(out, NODE_A_LEASE_RENEW));
	sim_advance(&s, 2000);
	out = sim_run_done(&s, false, 9, 1);
	ck_assert(!has(out, NODE_A_COMMIT));
	ck_assert(!has(out, NODE_A_PUBLISH));
	ck_assert_ptr_nonnull(find(out, NODE_A_LEASE_DROPPED));
	ck_assert_int_eq(find(out, NODE_A_LEASE_DROPPED)->why, NODE_WHY_LOST);
	ck_assert_int_eq(s.z.run, NODE_RUN_IDLE);
}
END_TEST

/* A renewal refused (another node took the zone): dropped at once; the run ends unpublished. */
START_TEST(renewal_refused_drops)
{
	sim_t s;
	sim_init(&s);
	sim_take(&s, 4, 1);
	sim_advance(&s, LEASE_MS / 3);
	ck_assert(has(sim_tick(&s), NODE_A_LEASE_RENEW));
	const node_actions_t *out = sim_lease_reply(&s, true, false, 0);
	ck_assert_ptr_nonnull(find(out, NODE_A_LEASE_DROPPED));
	ck_assert_int_eq(find(out, NODE_A_LEASE_DROPPED)->why, NODE_WHY_REFUSED);
	out = sim_run_done(&s, false, 9, 1);
	ck_assert(!has(out, NODE_A_COMMIT));
}
END_TEST

/* Takeover: a standby that shadowed the committed serial gets the lease when the holder dies;
 * its first run follows the committed serial under the new epoch, at once. */
START_TEST(takeover_follows_committed)
{
	sim_t s;
	sim_init(&s);
	s.v.free = false; /* node-a holds it */
	s.v.has_committed = true;
	s.v.compare_digests = true;
	s.v.serial = 100;
	s.v.input_serial = 2026120701;
	s.v.keyset_revision = 5;
	s.v.sign_time = 1796601600;
	const node_actions_t *out = sim_status(&s);
	ck_assert(!has(out, NODE_A_LEASE_REQUEST));
	ck_assert(has(out, NODE_A_KEYSET_FETCH)); /* the shadow run's key set */
	out = sim_keyset(&s, 5);
	const node_action_t *r = find(out, NODE_A_RUN);
	ck_assert_ptr_nonnull(r);
	ck_assert(r->shadow);
	ck_assert_uint_eq(r->serial, 100);
	out = sim_run_done(&s, true, 100, 2026120701);
	ck_assert(has(out, NODE_A_REPORT));
	ck_assert(!has(out, NODE_A_COMMIT));
	/* node-a dies; its lease expires; the zone is free */
	sim_advance(&s, 20000);
	s.v.free = true;
	s.v.compare_digests = true;
	sim_status(&s);
	out = sim_lease_reply(&s, true, true, 9);
	ck_assert(find(out, NODE_A_LEASE_GRANTED)->new_epoch);
	ck_assert(has(out, NODE_A_KEYSET_FETCH)); /* at once, not at the cycle */
	out = sim_keyset(&s, 5);
	r = find(out, NODE_A_RUN);
	ck_assert_ptr_nonnull(r);
	ck_assert(!r->shadow);
	ck_assert_uint_eq(r->epoch, 9);
	ck_assert_uint_eq(r->serial, 100); /* it follows the committed serial */
	out = sim_run_done(&s, false, 103, 2026120701);
	const node_action_t *c = find(out, NODE_A_COMMIT);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->epoch, 9);
	ck_assert_uint_eq(c->serial, 103);
}
END_TEST

/* A standby whose shadow run read another input than the committed one's (its copy of the
 * delivery had not settled yet) reports nothing; once its input changes it shadows the same
 * committed serial again and reports (the active's compare would otherwise wait out its
 * timeout). */
START_TEST(shadow_other_input_runs_again)
{
	sim_t s;
	sim_init(&s);
	sim_standby(&s, 100);
	sim_status(&s);
	const node_actions_t *out = sim_keyset(&s, 5);
	ck_assert(find(out, NODE_A_RUN)->shadow);
	out = sim_run_done(&s, true, 100, 2026120701); /* the old input */
	ck_assert(!has(out, NODE_A_REPORT));
	ck_assert(s.z.shadow_other_input);
	sim_advance(&s, 250);
	out = sim_status(&s);
	ck_assert(!has(out, NODE_A_KEYSET_FETCH)); /* not again with the same input */
	node_input_t in = {.kind = NODE_IN_INPUT_CHANGED};
	sim_step(&s, &in);
	sim_advance(&s, 250);
	out = sim_status(&s); /* its key set copy is the commit's: the run starts at once */
	const node_action_t *r = find(out, NODE_A_RUN);
	ck_assert_ptr_nonnull(r);
	ck_assert(r->shadow);
	ck_assert_uint_eq(r->serial, 100);
	out = sim_run_done(&s, true, 100, 2026120702);
	ck_assert(has(out, NODE_A_REPORT));
	ck_assert(!s.z.shadow_other_input);
}
END_TEST

/* A run that could start but for the runner (busy with another zone's run, or key work) says
 * so (run_waits: tandemd then starts no new key work); it starts once the runner is free,
 * and a run that could not start anyway (no keys here yet) does not say it. */
START_TEST(run_waits_while_runner_busy)
{
	sim_t s;
	sim_init(&s);
	sim_standby(&s, 100);
	s.v.runner_busy = true;
	const node_actions_t *out = sim_status(&s);
	ck_assert(!has(out, NODE_A_KEYSET_FETCH));
	ck_assert(!has(out, NODE_A_RUN));
	ck_assert(s.z.run_waits);
	/* no keys here: nothing to wait for */
	s.v.keys_ready = false;
	sim_advance(&s, 250);
	sim_status(&s);
	ck_assert(!s.z.run_waits);
	s.v.keys_ready = true;
	s.v.runner_busy = false;
	sim_advance(&s, 250);
	out = sim_status(&s);
	ck_assert(has(out, NODE_A_KEYSET_FETCH));
	ck_assert(!s.z.run_waits);
	out = sim_keyset(&s, 5);
	ck_assert(find(out, NODE_A_RUN)->shadow);
	ck_assert(!s.z.run_waits);

	/* the holder's run due while the runner is busy */
	sim_t h;
	sim_init(&h);
	h.v.runner_busy = true;
	out = sim_status(&h);
	ck_assert(has(out, NODE_A_LEASE_REQUEST));
	out = sim_lease_reply(&h, true, true, 1);
	sim_keyset(&h, 3);
	sim_advance(&h, 250);
	out = sim_status(&h);
	ck_assert(!has(out, NODE_A_KEYSET_FETCH));
	ck_assert(h.z.run_waits);
	h.v.runner_busy = false;
	sim_advance(&h, 250);
	out = sim_status(&h);
	ck_assert(has(out, NODE_A_KEYSET_FETCH));
	ck_assert(!h.z.run_waits);
}
END_TEST

/* The old holder stepped the key set (revision 5 -> 6) just before it died. The new holder's
 * copy is the one it read as a standby (5): it reads the stored key set before its first run
 * and signs with revision 6, never with its stale copy. */
START_TEST(takeover_reads_keyset_changed_by_dead_holder)
{
	sim_t s;
	sim_init(&s);
	s.v.free = false;
	s.v.has_committed = true;
	s.v.compare_digests = true;
	s.v.serial = 100;
	s.v.keyset_revision = 5;
	s.v.sign_time = 1796601600;
	sim_status(&s);
	sim_keyset(&s, 5);
	sim_run_done(&s, true, 100, 0);
	ck_assert_int_eq(s.z.keyset_rev, 5);
	/* the old holder writes revision 6, then dies before committing with it: the status
	 * still says the last commit was made with revision 5 */
	sim_advance(&s, 20000);
	s.v.free = true;
	sim_status(&s);
	const node_actions_t *out = sim_lease_reply(&s, true, true, 10);
	ck_assert(has(out, NODE_A_KEYSET_FETCH));
	ck_assert(!has(out, NODE_A_RUN));
	ck_assert_int_eq(s.z.run, NODE_RUN_KEYSET);
	/* ticks while the read is out start nothing */
	sim_advance(&s, 50);
	out = sim_tick(&s);
	ck_assert(!has(out, NODE_A_RUN));
	ck_assert(!has(out, NODE_A_KEYSET_FETCH));
	out = sim_keyset(&s, 6);
	const node_action_t *r = find(out, NODE_A_RUN);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->keyset_rev, 6);
	ck_assert_uint_eq(r->epoch, 10);
}
END_TEST

/* A standby whose key set moved on since the commit does not shadow it with another. */
START_TEST(shadow_skipped_when_keyset_moved)
{
	sim_t s;
	sim_init(&s);
	s.v.free = false;
	s.v.has_committed = true;
	s.v.compare_digests = true;
	s.v.serial = 40;
	s.v.keyset_revision = 5;
	s.v.sign_time = 1796601600;
	ck_assert(has(sim_status(&s), NODE_A_KEYSET_FETCH));
	const node_actions_t *out = sim_keyset(&s, 6);
	ck_assert(!has(out, NODE_A_RUN));
	const node_action_t *k = find(out, NODE_A_SHADOW_SKIPPED);
	ck_assert_ptr_nonnull(k);
	ck_assert_uint_eq(k->serial, 40);
	sim_advance(&s, 300);
	out = sim_status(&s);
	ck_assert(!has(out, NODE_A_KEYSET_FETCH)); /* not again for serial 40 */
	ck_assert(!has(out, NODE_A_RUN));
}
END_TEST

/* An input older than the committed one's (a delivery not yet at this site): not committed,
 * alert; a newer input is committed and clears it. */
START_TEST(input_older_not_signed)
{
	sim_t s;
	sim_init(&s);
	s.v.has_committed = true;
	s.v.committed_by_self = false;
	s.v.serial = 200;
	s.v.input_serial = 2026120705;
	sim_take(&s, 3, 1);
	const node_actions_t *out = sim_run_done(&s, false, 201, 2026120704);
	ck_assert(!has(out, NODE_A_COMMIT));
	const node_action_t *a = find(out, NODE_A_ALERT);
	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(a->alert, "input-older");
	ck_assert_int_eq(a->why, NODE_WHY_INPUT_OLDER);
	ck_assert_uint_eq(s.z.due[NODE_EV_CYCLE], s.t.mono_ms + RETRY_MS);
	/* nothing before the retry, unless the input changes */
	sim_advance(&s, 1000);
	ck_assert(!has(sim_tick(&s), NODE_A_KEYSET_FETCH));
	node_input_t ch = {.kind = NODE_IN_INPUT_CHANGED};
	out = sim_step(&s, &ch);
	ck_assert_uint_eq(out->n, 0); /* the next tick acts on it */
	ck_assert(has(sim_tick(&s), NODE_A_KEYSET_FETCH));
	out = sim_keyset(&s, 1);
	ck_assert(has(out, NODE_A_RUN));
	out = sim_run_done(&s, false, 201, 2026120706);
	ck_assert(has(out, NODE_A_COMMIT));
	ck_assert_ptr_nonnull(find(out, NODE_A_ALERT_CLEAR));
	ck_assert_str_eq(find(out, NODE_A_ALERT_CLEAR)->alert, "input-older");
}
END_TEST

/* Serial arithmetic: an input serial that wrapped (RFC 1982) is newer, not older. */
START_TEST(input_serial_wrap_is_newer)
{
	sim_t s;
	sim_init(&s);
	s.v.has_committed = true;
	s.v.serial = 200;
	s.v.input_serial = 4294967290u;
	sim_take(&s, 3, 1);
	const node_actions_t *out = sim_run_done(&s, false, 201, 5);
	ck_assert(has(out, NODE_A_COMMIT));
	ck_assert(!has(out, NODE_A_ALERT));
}
END_TEST

/* An offline-KSK zone whose SKR runs out: the alert comes while slots remain (the margin
 * before the last slot ends), and no run starts from then on. */
START_TEST(skr_running_out)
{
	sim_t s;
	sim_init(&s);
	uint64_t margin = s.z.conf.skr_margin_ms;
	s.v.offline = true;
	s.v.skr_known = true;
	uint64_t until_ms = s.t.wall_ms + margin + 10u * CYCLE_MS;
	s.v.skr_until_s = until_ms / 1000u;
	sim_take(&s, 1, 1);
	uint64_t alert_wall = 0;
	size_t runs = 1;
	/* a cycle at a time, until well past the end of the last slot */
	for (int i = 0; i < 40; i++) {
		const node_actions_t *out = sim_run_done(&s, false, (uint32_t)(10 + i), 1);
		if (has(out, NODE_A_COMMIT)) {
			sim_commit_reply(&s, true, true);
			node_input_t in = {.kind = NODE_IN_PUBLISHED};
			in.published.ok = true;
			sim_step(&s, &in);
			/* the scripted coordinator's status shows the commit */
			s.v.has_committed = true;
			s.v.committed_by_self = true;
			s.v.serial = (uint32_t)(10 + i);
			sim_status(&s);
		}
		sim_advance(&s, CYCLE_MS);
		/* the lease is kept: a renewal answered each cycle */
		s.z.granted_mono = s.t.mono_ms;
		s.z.due[NODE_EV_RENEW] = NODE_NEVER;
		out = sim_tick(&s);
		const node_action_t *a = find(out, NODE_A_ALERT);
		if (a != NULL) {
			ck_assert_str_eq(a->alert, "skr");
			ck_assert_uint_eq(alert_wall, 0);
			alert_wall = s.t.wall_ms;
		}
		if (has(out, NODE_A_KEYSET_FETCH)) {
			ck_assert_uint_le(s.t.wall_ms + margin, until_ms);
			out = sim_keyset(&s, 1);
			ck_assert(has(out, NODE_A_RUN));
			runs++;
		}
	}
	ck_assert_uint_ne(alert_wall, 0);
	ck_assert_uint_lt(alert_wall, until_ms); /* before the last slot ends */
	ck_assert_uint_ge(runs, 10);
	ck_assert_uint_le(runs, 11);
}
END_TEST

/* An operator's switchover hands the zone over once the running run is over, not during it. */
START_TEST(switchover_waits_for_run)
{
	sim_t s;
	sim_init(&s);
	sim_take(&s, 5, 1);
	s.v.switch_away = true;
	const node_actions_t *out = sim_status(&s);
	ck_assert(!has(out, NODE_A_LEASE_RELEASE));
	ck_assert(has(sim_run_done(&s, false, 6, 1), NODE_A_COMMIT));
	ck_assert(has(sim_commit_reply(&s, true, true), NODE_A_PUBLISH));
	node_input_t in = {.kind = NODE_IN_PUBLISHED};
	in.published.ok = true;
	out = sim_step(&s, &in);
	const node_action_t *r = find(out, NODE_A_LEASE_RELEASE);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->why, NODE_WHY_HANDOVER);
	ck_assert(!s.z.held);
	s.v.switch_away = false;
	s.v.free = false; /* node-b has it now */
	sim_advance(&s, 1000);
	ck_assert(!has(sim_status(&s), NODE_A_LEASE_REQUEST));
}
END_TEST

/* The node asks for a free zone's lease at most every request_ms, and never while a blocking
 * alert keeps it from signing the zone. */
START_TEST(request_paced_and_blocked)
{
	sim_t s;
	sim_init(&s);
	ck_assert(has(sim_status(&s), NODE_A_LEASE_REQUEST));
	sim_lease_reply(&s, true, false, 0);
	sim_advance(&s, 100);
	ck_assert(!has(sim_tick(&s), NODE_A_LEASE_REQUEST));
	sim_advance(&s, 200);
	ck_assert(has(sim_tick(&s), NODE_A_LEASE_REQUEST));
	s.v.blocked = true;
	sim_status(&s);
	sim_advance(&s, 1000);
	ck_assert(!has(sim_tick(&s), NODE_A_LEASE_REQUEST));
}
END_TEST

/* A commit that got no answer is signed again at once; one refused because the lease is gone
 * drops the lease. */
START_TEST(commit_unanswered_and_refused)
{
	sim_t s;
	sim_init(&s);
	sim_take(&s, 5, 1);
	ck_assert(has(sim_run_done(&s, false, 6, 1), NODE_A_COMMIT));
	const node_actions_t *out = sim_commit_reply(&s, false, false);
	ck_assert(!has(out, NODE_A_PUBLISH));
	ck_assert(has(out, NODE_A_KEYSET_FETCH)); /* signed again now */
	ck_assert(has(sim_keyset(&s, 1), NODE_A_RUN));
	ck_assert(has(sim_run_done(&s, false, 7, 1), NODE_A_COMMIT));
	out = sim_commit_reply(&s, true, false);
	ck_assert(!has(out, NODE_A_PUBLISH));
	ck_assert_int_eq(find(out, NODE_A_LEASE_DROPPED)->why, NODE_WHY_COORD_GONE);
	ck_assert(!s.z.held);
}
END_TEST

/* A holder that can no longer read its input gives the lease back, but not in the middle of
 * its run. */
START_TEST(input_blocked_releases_when_idle)
{
	sim_t s;
	sim_init(&s);
	sim_take(&s, 5, 1);
	s.v.input_blocked = true;
	ck_assert(!has(sim_status(&s), NODE_A_LEASE_RELEASE));
	ck_assert(has(sim_run_done(&s, false, 6, 1), NODE_A_COMMIT));
	ck_assert(has(sim_commit_reply(&s, true, true), NODE_A_PUBLISH));
	node_input_t in = {.kind = NODE_IN_PUBLISHED};
	in.published.ok = true;
	const node_actions_t *out = sim_step(&s, &in);
	const node_action_t *r = find(out, NODE_A_LEASE_RELEASE);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->why, NODE_WHY_INPUT_BLOCKED);
	ck_assert(!s.z.held);
}
END_TEST

/* A standby that lost the commit's base asks for a full signing: the holder signs at once,
 * once per committed serial, not at every view. */
START_TEST(full_request_signs_once)
{
	sim_t s;
	sim_init(&s);
	s.v.has_committed = true;
	s.v.serial = 30;
	sim_take(&s, 5, 1);
	sim_run_done(&s, false, 31, 1);
	sim_commit_reply(&s, true, true);
	node_input_t in = {.kind = NODE_IN_PUBLISHED};
	in.published.ok = true;
	sim_step(&s, &in);
	ck_assert_uint_eq(node_next_due(&s.z), s.z.due[NODE_EV_RENEW]); /* before the cycle */
	s.v.serial = 31;
	s.v.base_serial = 30;
	s.v.full_requested = true;
	sim_advance(&s, 100);
	const node_actions_t *out = sim_status(&s);
	ck_assert(has(out, NODE_A_KEYSET_FETCH));
	ck_assert(has(sim_keyset(&s, 1), NODE_A_RUN));
	sim_run_done(&s, false, 33, 1);
	sim_commit_reply(&s, true, true);
	sim_step(&s, &in);
	/* the status still says so (not yet updated): no second full signing for serial 31 */
	sim_advance(&s, 100);
	ck_assert(!has(sim_status(&s), NODE_A_KEYSET_FETCH));
}
END_TEST

/* A run that fails is tried again after retry_ms; one that could not start for an
 * offline-KSK zone after skr_retry_ms. */
START_TEST(failed_run_retried)
{
	sim_t s;
	sim_init(&s);
	sim_take(&s, 5, 1);
	node_input_t in = {.kind = NODE_IN_RUN_DONE};
	in.run.started = true;
	sim_step(&s, &in);
	ck_assert_int_eq(s.z.run, NODE_RUN_IDLE);
	ck_assert_uint_eq(s.z.due[NODE_EV_CYCLE], s.t.mono_ms + RETRY_MS);
	s.z.due[NODE_EV_RENEW] = NODE_NEVER; /* renewals aside */
	s.t.mono_ms += RETRY_MS - 1;
	s.z.granted_mono = s.t.mono_ms;
	ck_assert(!has(sim_tick(&s), NODE_A_KEYSET_FETCH));
	s.t.mono_ms += 1;
	ck_assert(has(sim_tick(&s), NODE_A_KEYSET_FETCH));
	s.v.offline = true;
	sim_status(&s);
	sim_keyset(&s, 1);
	in.run.started = false;
	sim_step(&s, &in);
	ck_assert_uint_eq(s.z.due[NODE_EV_CYCLE], s.t.mono_ms + 5000);
}
END_TEST

/* ---- compare before publish (issue 11, DPS 6.6) ----------------------------------------- */

#define COMPARE_MS 30000u

/* A zone under compare-before-publish `mode`, with a standby registered, that has committed
 * serial 41 (epoch 4): held in the compare stage, nothing published yet. */
static void sim_held(sim_t *s, node_compare_t mode)
{
	sim_init(s);
	s->z.conf.compare = mode;
	s->z.conf.compare_timeout_ms = COMPARE_MS;
	s->v.compare_digests = true;
	s->v.has_standby = true;
	s->v.standby_live = true;
	s->v.has_committed = true;
	s->v.serial = 39;
	s->v.committed_by_self = true;
	sim_take(s, 4, 1);
	sim_run_done(s, false, 41, 1);
	const node_actions_t *out = sim_commit_reply(s, true, true);
	const node_action_t *c = find(out, NODE_A_COMPARE);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->serial, 41);
	ck_assert_uint_eq(c->epoch, 4);
	ck_assert(!has(out, NODE_A_PUBLISH));
	ck_assert_int_eq(s->z.run, NODE_RUN_COMPARE);
	ck_assert_uint_eq(s->z.due[NODE_EV_COMPARE], s->t.mono_ms + COMPARE_MS);
	ck_assert_uint_le(node_next_due(&s->z), s->z.due[NODE_EV_COMPARE]);
	/* the coordinator's status now shows the commit, no report yet */
	s->v.serial = 41;
	sim_advance(s, 250);
	ck_assert(!has(sim_status(s), NODE_A_PUBLISH));
}

/* Renews the lease whenever due for `ms`, in steps of `step`, checking that nothing is
 * published or dropped meanwhile. */
static void sim_wait_renewing(sim_t *s, uint64_t ms, uint64_t step)
{
	for (uint64_t t = 0; t < ms; t += step) {
		sim_advance(s, step);
		const node_actions_t *out = sim_status(s);
		ck_assert(!has(out, NODE_A_PUBLISH));
		ck_assert(!has(out, NODE_A_LEASE_DROPPED));
		if (has(out, NODE_A_LEASE_RENEW)) {
			sim_lease_reply(s, true, true, 4);
		}
	}
}

/* The standby agrees before the timeout: published at once, no alert. */
START_TEST(compare_agrees_then_publishes)
{
	sim_t s;
	sim_held(&s, NODE_COMPARE_WAIT);
	sim_wait_renewing(&s, 5000, 250);
	s.v.standby_agrees = true;
	sim_advance(&s, 250);
	const node_actions_t *out = sim_status(&s);
	const node_action_t *p = find(out, NODE_A_PUBLISH);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(p->serial, 41);
	ck_assert_int_eq(p->why, NODE_WHY_NONE);
	ck_assert(!has(out, NODE_A_ALERT));
	ck_assert_int_eq(s.z.run, NODE_RUN_PUBLISH);
	ck_assert_uint_eq(s.z.due[NODE_EV_COMPARE], NODE_NEVER);
}
END_TEST

/* A report for an older serial (the view before the commit) is not an agreement. */
START_TEST(compare_old_report_not_taken)
{
	sim_t s;
	sim_init(&s);
	s.z.conf.compare = NODE_COMPARE_WAIT;
	s.z.conf.compare_timeout_ms = COMPARE_MS;
	s.v.compare_digests = true;
	s.v.has_standby = true;
	s.v.standby_live = true;
	s.v.has_committed = true;
	s.v.serial = 39;
	s.v.committed_by_self = true;
	s.v.standby_agrees = true; /* on serial 39 */
	sim_take(&s, 4, 1);
	sim_run_done(&s, false, 41, 1);
	const node_actions_t *out = sim_commit_reply(&s, true, true);
	ck_assert(has(out, NODE_A_COMPARE));
	ck_assert(!has(out, NODE_A_PUBLISH));
	sim_advance(&s, 250);
	ck_assert(!has(sim_status(&s), NODE_A_PUBLISH));
}
END_TEST

/* wait: no report within the timeout: published then, with the compare-timeout alert, which
 * the next agreed publication clears. */
START_TEST(compare_timeout_publishes_with_alert)
{
	sim_t s;
	sim_held(&s, NODE_COMPARE_WAIT);
	sim_wait_renewing(&s, COMPARE_MS - 500, 250);
	sim_advance(&s, 250);
	const node_actions_t *out = sim_status(&s);
	const node_action_t *p = find(out, NODE_A_PUBLISH);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(p->why, NODE_WHY_WAITED);
	const node_action_t *a = find(out, NODE_A_ALERT);
	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(a->alert, "compare-timeout");
	node_input_t in = {.kind = NODE_IN_PUBLISHED};
	in.published.ok = true;
	sim_step(&s, &in);
	ck_assert_uint_eq(s.z.published_serial, 41);
	/* the next serial (the cycle brought forward): the standby agrees, the alert clears */
	s.z.due[NODE_EV_CYCLE] = s.t.mono_ms;
	out = sim_tick(&s);
	ck_assert(has(out, NODE_A_KEYSET_FETCH));
	sim_keyset(&s, 1);
	sim_run_done(&s, false, 43, 1);
	ck_assert(has(sim_commit_reply(&s, true, true), NODE_A_COMPARE));
	s.v.serial = 43;
	s.v.standby_agrees = true;
	sim_advance(&s, 250);
	out = sim_status(&s);
	ck_assert(has(out, NODE_A_PUBLISH));
	a = find(out, NODE_A_ALERT_CLEAR);
	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(a->alert, "compare-timeout");
}
END_TEST

/* require: the standby stays silent: held past the timeout with compare-held, never
 * published, the lease renewed all along; the standby back and agreeing: published. */
START_TEST(compare_require_holds_and_renews)
{
	sim_t s;
	sim_held(&s, NODE_COMPARE_REQUIRE);
	sim_wait_renewing(&s, COMPARE_MS - 500, 250);
	sim_advance(&s, 250);
	const node_actions_t *out = sim_status(&s);
	ck_assert(!has(out, NODE_A_PUBLISH));
	const node_action_t *a = find(out, NODE_A_ALERT);
	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(a->alert, "compare-held");
	ck_assert_int_eq(a->why, NODE_WHY_WAITED);
	ck_assert(s.z.compare_held);
	/* ten lease periods later: still held, still renewed, the alert said once */
	uint64_t renewals = 0;
	for (uint64_t t = 0; t < 10u * LEASE_MS; t += 250) {
		sim_advance(&s, 250);
		out = sim_status(&s);
		ck_assert(!has(out, NODE_A_PUBLISH));
		ck_assert(!has(out, NODE_A_ALERT));
		ck_assert(!has(out, NODE_A_LEASE_DROPPED));
		ck_assert(!has(out, NODE_A_RUN) && !has(out, NODE_A_KEYSET_FETCH));
		if (has(out, NODE_A_LEASE_RENEW)) {
			renewals++;
			sim_lease_reply(&s, true, true, 4);
		}
	}
	ck_assert_uint_ge(renewals, 25);
	ck_assert(node_may_publish(&s.z, s.t.mono_ms));
	ck_assert_int_eq(s.z.run, NODE_RUN_COMPARE);
	s.v.standby_agrees = true;
	sim_advance(&s, 250);
	out = sim_status(&s);
	ck_assert(has(out, NODE_A_PUBLISH));
	a = find(out, NODE_A_ALERT_CLEAR);
	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(a->alert, "compare-held");
}
END_TEST

/* A standby's digest differs: never published, under both modes, even after the timeout;
 * the held serial is dropped and the next run waits for the cycle. */
START_TEST(compare_mismatch_never_publishes)
{
	for (int m = 0; m < 2; m++) {
		sim_t s;
		sim_held(&s, m == 0 ? NODE_COMPARE_WAIT : NODE_COMPARE_REQUIRE);
		s.v.standby_differs = true;
		sim_advance(&s, 250);
		const node_actions_t *out = sim_status(&s);
		ck_assert(!has(out, NODE_A_PUBLISH));
		const node_action_t *d = find(out, NODE_A_DISCARD);
		ck_assert_ptr_nonnull(d);
		ck_assert_int_eq(d->why, NODE_WHY_MISMATCH);
		ck_assert_uint_eq(d->serial, 41);
		ck_assert_int_eq(s.z.run, NODE_RUN_IDLE);
		ck_assert_uint_eq(s.z.due[NODE_EV_CYCLE], s.t.mono_ms + CYCLE_MS);
		for (uint64_t t = 0; t < 2u * COMPARE_MS; t += 250) {
			sim_advance(&s, 250);
			out = sim_status(&s);
			ck_assert(!has(out, NODE_A_PUBLISH));
			if (has(out, NODE_A_LEASE_RENEW)) {
				sim_lease_reply(&s, true, true, 4);
			}
		}
		ck_assert_uint_eq(s.z.published_serial, 0);
	}
}
END_TEST

/* The lease runs out while the serial waits: dropped, nothing published, even when the
 * standby agrees afterwards. */
START_TEST(compare_lease_lost_publishes_nothing)
{
	sim_t s;
	sim_held(&s, NODE_COMPARE_WAIT);
	bool dropped = false, discarded = false;
	for (uint64_t t = 0; t < LEASE_MS && !discarded; t += 250) {
		sim_advance(&s, 250);
		const node_actions_t *out = sim_status(&s);
		ck_assert(!has(out, NODE_A_PUBLISH));
		dropped = dropped || has(out, NODE_A_LEASE_DROPPED);
		const node_action_t *d = find(out, NODE_A_DISCARD);
		if (d != NULL) {
			ck_assert_int_eq(d->why, NODE_WHY_LATE);
			discarded = true;
		}
		if (has(out, NODE_A_LEASE_RENEW)) {
			sim_lease_reply(&s, false, false, 0); /* no coordinator answers */
		}
	}
	ck_assert(dropped && discarded);
	ck_assert(!s.z.held);
	s.v.standby_agrees = true;
	sim_advance(&s, 250);
	ck_assert(!has(sim_status(&s), NODE_A_PUBLISH));
	ck_assert_uint_eq(s.z.published_serial, 0);
}
END_TEST

/* No standby registered: wait publishes at once, said once (not at every serial); require
 * holds with compare-held. Signatures that cannot be compared count the same. */
START_TEST(compare_without_standby)
{
	sim_t s;
	sim_init(&s);
	s.z.conf.compare = NODE_COMPARE_WAIT;
	s.z.conf.compare_timeout_ms = COMPARE_MS;
	s.v.compare_digests = true;
	sim_take(&s, 4, 1);
	sim_run_done(&s, false, 41, 1);
	const node_actions_t *out = sim_commit_reply(&s, true, true);
	const node_action_t *al = find(out, NODE_A_COMPARE_ALONE);
	ck_assert_ptr_nonnull(al);
	ck_assert_int_eq(al->why, NODE_WHY_NO_STANDBY);
	ck_assert(has(out, NODE_A_PUBLISH));
	node_input_t in = {.kind = NODE_IN_PUBLISHED};
	in.published.ok = true;
	sim_step(&s, &in);
	s.z.due[NODE_EV_CYCLE] = s.t.mono_ms;
	/* the scripted coordinator's status shows the commit (a run waits for it) */
	s.v.has_committed = true;
	s.v.committed_by_self = true;
	s.v.serial = 41;
	out = sim_status(&s);
	ck_assert(has(out, NODE_A_KEYSET_FETCH));
	sim_keyset(&s, 1);
	sim_run_done(&s, false, 43, 1);
	out = sim_commit_reply(&s, true, true);
	ck_assert(has(out, NODE_A_PUBLISH));
	ck_assert(!has(out, NODE_A_COMPARE_ALONE)); /* said once */

	sim_init(&s);
	s.z.conf.compare = NODE_COMPARE_REQUIRE;
	s.z.conf.compare_timeout_ms = COMPARE_MS;
	s.v.has_standby = true;
	s.v.compare_digests = false; /* ECDSA: nothing to compare the digest with */
	sim_take(&s, 4, 1);
	sim_run_done(&s, false, 41, 1);
	out = sim_commit_reply(&s, true, true);
	ck_assert(!has(out, NODE_A_PUBLISH));
	ck_assert(has(out, NODE_A_COMPARE));
	const node_action_t *a = find(out, NODE_A_ALERT);
	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(a->alert, "compare-held");
	ck_assert_int_eq(a->why, NODE_WHY_NOT_COMPARED);
}
END_TEST

/* A zone whose signatures are not deterministic but compared by its nosig digest (issue 11):
 * held like any other under require, published when the standby agrees, dropped when it
 * reports otherwise (a nosig mismatch or the active's version failing its gate); a standby
 * shadows it; without nosig_compare it is not compared (published or held alone). */
START_TEST(compare_nosig)
{
	sim_t s;
	sim_init(&s);
	s.z.conf.compare = NODE_COMPARE_REQUIRE;
	s.z.conf.compare_timeout_ms = COMPARE_MS;
	s.v.compare_digests = false;
	s.v.nosig_compare = true;
	s.v.has_standby = true;
	s.v.standby_live = true;
	sim_take(&s, 4, 1);
	sim_run_done(&s, false, 41, 1);
	const node_actions_t *out = sim_commit_reply(&s, true, true);
	ck_assert(has(out, NODE_A_COMPARE));
	ck_assert(!has(out, NODE_A_PUBLISH));
	ck_assert(!has(out, NODE_A_ALERT));
	ck_assert(!has(out, NODE_A_COMPARE_ALONE));
	s.v.has_committed = true;
	s.v.committed_by_self = true;
	s.v.serial = 41;
	sim_advance(&s, 250);
	ck_assert(!has(sim_status(&s), NODE_A_PUBLISH));
	s.v.standby_agrees = true;
	sim_advance(&s, 250);
	ck_assert(has(sim_status(&s), NODE_A_PUBLISH));

	/* the standby says otherwise: never published */
	sim_init(&s);
	s.z.conf.compare = NODE_COMPARE_WAIT;
	s.z.conf.compare_timeout_ms = COMPARE_MS;
	s.v.nosig_compare = true;
	s.v.has_standby = true;
	s.v.standby_live = true;
	sim_take(&s, 4, 1);
	sim_run_done(&s, false, 41, 1);
	out = sim_commit_reply(&s, true, true);
	ck_assert(has(out, NODE_A_COMPARE));
	s.v.has_committed = true;
	s.v.committed_by_self = true;
	s.v.serial = 41;
	s.v.standby_differs = true;
	sim_advance(&s, 250);
	out = sim_status(&s);
	const node_action_t *d = find(out, NODE_A_DISCARD);
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(d->why, NODE_WHY_MISMATCH);
	ck_assert(!has(out, NODE_A_PUBLISH));

	/* a standby shadows a commit that carries the nosig digest, not one without */
	for (int nosig = 0; nosig < 2; nosig++) {
		sim_init(&s);
		s.v.free = false;
		s.v.has_committed = true;
		s.v.nosig_compare = nosig == 1;
		s.v.serial = 100;
		s.v.input_serial = 2026120701;
		s.v.keyset_revision = 5;
		s.v.sign_time = 1796601600;
		out = sim_status(&s);
		ck_assert(has(out, NODE_A_KEYSET_FETCH) == (nosig == 1));
	}
}
END_TEST

/* compare off: today's behaviour, published on the commit's acceptance. */
START_TEST(compare_off_publishes_at_once)
{
	sim_t s;
	sim_init(&s);
	s.v.compare_digests = true;
	s.v.has_standby = true;
	sim_take(&s, 4, 1);
	sim_run_done(&s, false, 41, 1);
	const node_actions_t *out = sim_commit_reply(&s, true, true);
	ck_assert(has(out, NODE_A_PUBLISH));
	ck_assert(!has(out, NODE_A_COMPARE));
}
END_TEST

/* A standby that cannot follow the held serial (no copy of its base): dropped and signed
 * again in full at once, which the standby can compare. */
START_TEST(compare_no_base_signs_again)
{
	sim_t s;
	sim_held(&s, NODE_COMPARE_REQUIRE);
	s.v.full_requested = true;
	s.v.base_serial = 39;
	sim_advance(&s, 250);
	const node_actions_t *out = sim_status(&s);
	const node_action_t *d = find(out, NODE_A_DISCARD);
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(d->why, NODE_WHY_NO_BASE);
	ck_assert(has(out, NODE_A_KEYSET_FETCH));
}
END_TEST

/* wait with the standby down (not healthy in the status): no timeout added, published at
 * once; one going down while a serial waits releases it too. require still holds. */
START_TEST(compare_standby_down)
{
	sim_t s;
	sim_init(&s);
	s.z.conf.compare = NODE_COMPARE_WAIT;
	s.z.conf.compare_timeout_ms = COMPARE_MS;
	s.v.compare_digests = true;
	s.v.has_standby = true; /* registered, not heard of */
	sim_take(&s, 4, 1);
	sim_run_done(&s, false, 41, 1);
	const node_actions_t *out = sim_commit_reply(&s, true, true);
	ck_assert(has(out, NODE_A_PUBLISH));
	ck_assert(has(out, NODE_A_COMPARE_ALONE));

	sim_held(&s, NODE_COMPARE_WAIT);
	s.v.standby_live = false;
	sim_advance(&s, 250);
	out = sim_status(&s);
	const node_action_t *p = find(out, NODE_A_PUBLISH);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(p->serial, 41);

	sim_held(&s, NODE_COMPARE_REQUIRE);
	s.v.standby_live = false;
	sim_wait_renewing(&s, 2u * COMPARE_MS, 250);
	ck_assert_int_eq(s.z.run, NODE_RUN_COMPARE);
	ck_assert(s.z.compare_held);
}
END_TEST

/* Runs, commits and publishes serial `serial` of the active run going; the next view shows
 * the commit. */
static void sim_publish(sim_t *s, uint32_t serial)
{
	const node_actions_t *out = sim_run_done(s, false, serial, 2026120701);
	ck_assert(has(out, NODE_A_COMMIT));
	out = sim_commit_reply(s, true, true);
	ck_assert(has(out, NODE_A_PUBLISH));
	node_input_t in = {.kind = NODE_IN_PUBLISHED};
	in.published.ok = true;
	sim_step(s, &in);
	ck_assert_uint_eq(s->z.published_serial, serial);
	s->v.has_committed = true;
	s->v.committed_by_self = true;
	s->v.serial = serial;
}

/* DPS 4.5.3: a key set change that changes what signs (an emergency) starts the holder's
 * run at the next view, long before the cycle; one that does not (a DS state, the revision
 * alone) starts none. */
START_TEST(keyset_change_signs_at_once)
{
	sim_t s;
	sim_init(&s);
	s.v.own_keyset_signing = 0xa1;
	sim_take(&s, 7, 3);
	sim_publish(&s, 11);
	sim_advance(&s, 1000);
	const node_actions_t *out = sim_status(&s);
	ck_assert(!has(out, NODE_A_KEYSET_FETCH));
	/* ds-seen: a new revision with the same signing digest */
	s.v.own_keyset_rev = 4;
	sim_advance(&s, 1000);
	out = sim_status(&s);
	ck_assert(!has(out, NODE_A_KEYSET_FETCH));
	ck_assert(!has(out, NODE_A_RUN));
	/* an emergency: the compromised ZSK stops signing */
	s.v.own_keyset_rev = 5;
	s.v.own_keyset_signing = 0xb2;
	sim_advance(&s, 1000);
	ck_assert_uint_lt(s.t.mono_ms, s.z.due[NODE_EV_CYCLE]);
	out = sim_status(&s);
	const node_action_t *f = find(out, NODE_A_KEYSET_FETCH);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(f->why, NODE_WHY_KEYS);
	out = sim_keyset(&s, 5);
	const node_action_t *r = find(out, NODE_A_RUN);
	ck_assert_ptr_nonnull(r);
	ck_assert(!r->shadow);
	ck_assert_int_eq(r->keyset_rev, 5);
	sim_publish(&s, 13);
	/* signed with it: no second run for the same change */
	sim_advance(&s, 1000);
	out = sim_status(&s);
	ck_assert(!has(out, NODE_A_KEYSET_FETCH));
	ck_assert_int_eq(s.z.run, NODE_RUN_IDLE);
}
END_TEST

/* A change seen while a run signs with the older key set: the next run follows the
 * publication at once; a run that fails after a change waits for the retry as usual. */
START_TEST(keyset_change_during_run_signs_after)
{
	sim_t s;
	sim_init(&s);
	s.v.own_keyset_signing = 0xa1;
	sim_take(&s, 7, 3);
	s.v.own_keyset_rev = 4;
	s.v.own_keyset_signing = 0xb2;
	const node_actions_t *out = sim_status(&s);
	ck_assert(!has(out, NODE_A_KEYSET_FETCH));
	ck_assert_int_eq(s.z.run, NODE_RUN_SIGNING);
	sim_publish(&s, 11);
	sim_advance(&s, 100);
	out = sim_status(&s);
	ck_assert(has(out, NODE_A_KEYSET_FETCH));
	out = sim_keyset(&s, 4);
	ck_assert(has(out, NODE_A_RUN));
	node_input_t in = {.kind = NODE_IN_RUN_DONE};
	in.run.started = true;
	sim_step(&s, &in); /* failed */
	ck_assert_uint_eq(s.z.due[NODE_EV_CYCLE], s.t.mono_ms + RETRY_MS);
	sim_advance(&s, 1000);
	out = sim_status(&s);
	ck_assert(!has(out, NODE_A_KEYSET_FETCH));
	ck_assert_uint_eq(s.z.due[NODE_EV_CYCLE], s.t.mono_ms - 1000 + RETRY_MS);
}
END_TEST

/* A standby seeing the holder's change starts no active run (it shadows the commit). */
START_TEST(keyset_change_standby_no_run)
{
	sim_t s;
	sim_init(&s);
	s.v.free = false;
	s.v.own_keyset_valid = true;
	s.v.own_keyset_signing = 0xa1;
	const node_actions_t *out = sim_status(&s);
	ck_assert(!has(out, NODE_A_KEYSET_FETCH));
	s.v.own_keyset_signing = 0xb2;
	sim_advance(&s, 1000);
	out = sim_status(&s);
	ck_assert_uint_eq(out->n, 0);
	ck_assert(!s.z.sign_now);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("node");
	TCase *tc = tcase_create("lease");
	tcase_add_test(tc, cycle_commits_and_publishes);
	tcase_add_test(tc, next_run_waits_for_own_commit_in_view);
	tcase_add_test(tc, renewal_late_no_publish_after_deadline);
	tcase_add_test(tc, renewal_in_time_extends);
	tcase_add_test(tc, renewal_answered_in_time_fed_late_keeps);
	tcase_add_test(tc, renewal_answered_late_fed_late_drops);
	tcase_add_test(tc, batch_refusal_is_that_zones_alone);
	tcase_add_test(tc, batch_lost_as_single_lost);
	tcase_add_test(tc, lost_run_result_dropped);
	tcase_add_test(tc, renewal_refused_drops);
	tcase_add_test(tc, request_paced_and_blocked);
	tcase_add_test(tc, commit_unanswered_and_refused);
	tcase_add_test(tc, failed_run_retried);
	suite_add_tcase(s, tc);
	tc = tcase_create("takeover");
	tcase_add_test(tc, takeover_follows_committed);
	tcase_add_test(tc, shadow_other_input_runs_again);
	tcase_add_test(tc, run_waits_while_runner_busy);
	tcase_add_test(tc, takeover_reads_keyset_changed_by_dead_holder);
	tcase_add_test(tc, shadow_skipped_when_keyset_moved);
	tcase_add_test(tc, switchover_waits_for_run);
	tcase_add_test(tc, full_request_signs_once);
	tcase_add_test(tc, input_blocked_releases_when_idle);
	suite_add_tcase(s, tc);
	tc = tcase_create("input");
	tcase_add_test(tc, input_older_not_signed);
	tcase_add_test(tc, input_serial_wrap_is_newer);
	tcase_add_test(tc, skr_running_out);
	tcase_add_test(tc, keyset_change_signs_at_once);
	tcase_add_test(tc, keyset_change_during_run_signs_after);
	tcase_add_test(tc, keyset_change_standby_no_run);
	suite_add_tcase(s, tc);
	tc = tcase_create("compare");
	tcase_add_test(tc, compare_agrees_then_publishes);
	tcase_add_test(tc, compare_old_report_not_taken);
	tcase_add_test(tc, compare_timeout_publishes_with_alert);
	tcase_add_test(tc, compare_require_holds_and_renews);
	tcase_add_test(tc, compare_mismatch_never_publishes);
	tcase_add_test(tc, compare_lease_lost_publishes_nothing);
	tcase_add_test(tc, compare_without_standby);
	tcase_add_test(tc, compare_nosig);
	tcase_add_test(tc, compare_off_publishes_at_once);
	tcase_add_test(tc, compare_no_base_signs_again);
	tcase_add_test(tc, compare_standby_down);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
