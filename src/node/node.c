/* node: the signing node's per-zone state machine (lease, key set, runs, commit, publish). */
#include "node.h"

#include "tandem_serial.h"

#include <assert.h>
#include <string.h>

static void node_emit(node_actions_t *out, node_action_kind_t kind, node_why_t why,
		      node_action_t **added)
{
	/* the step emits at most a handful: NODE_ACTIONS_MAX is a bound, not a limit hit */
	assert(out->n < NODE_ACTIONS_MAX);
	node_action_t *a = &out->a[out->n++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->why = why;
	if (added != NULL) {
		*added = a;
	}
}

void node_zone_init(node_zone_t *z, const node_conf_t *conf)
{
	memset(z, 0, sizeof(*z));
	z->conf = *conf;
	for (size_t i = 0; i < NODE_EV_COUNT; i++) {
		z->due[i] = NODE_NEVER;
	}
	z->due[NODE_EV_REQUEST] = 0;
	z->due[NODE_EV_CYCLE] = 0;
	z->run = NODE_RUN_IDLE;
	z->last_refusal = COORD_R_OK;
}

bool node_may_publish(const node_zone_t *z, uint64_t now_mono_ms)
{
	return z->held && z->have_view &&
	       coord_lease_may_publish(z->granted_mono, z->view.lease_ms, z->view.margin_ms,
				       now_mono_ms);
}

uint64_t node_next_due(const node_zone_t *z)
{
	uint64_t next = NODE_NEVER;
	for (size_t i = 0; i < NODE_EV_COUNT; i++) {
		/* a holder asks for no lease; renewal and deadline are a holder's */
		bool mine =
		    z->held ? i != NODE_EV_REQUEST : i == NODE_EV_REQUEST || i == NODE_EV_CYCLE;
		next = mine && z->due[i] < next ? z->due[i] : next;
	}
	return next;
}

/* The lease is gone: its timers go, a request may follow. */
static void node_lease_gone(node_zone_t *z)
{
	z->held = false;
	z->due[NODE_EV_RENEW] = NODE_NEVER;
	z->due[NODE_EV_DEADLINE] = NODE_NEVER;
}

static void node_drop(node_zone_t *z, node_why_t why, node_actions_t *out)
{
	node_action_t *a = NULL;
	node_emit(out, NODE_A_LEASE_DROPPED, why, &a);
	a->epoch = z->epoch;
	a->was_held = true;
	node_lease_gone(z);
}

static void node_release(node_zone_t *z, node_why_t why, node_actions_t *out)
{
	node_action_t *a = NULL;
	node_emit(out, NODE_A_LEASE_RELEASE, why, &a);
	a->epoch = z->epoch;
	node_lease_gone(z);
}

static void node_alert(node_zone_t *z, bool *raised, bool on, const char *kind, node_why_t why,
		       node_actions_t *out)
{
	(void)z;
	if (*raised == on) {
		return;
	}
	node_action_t *a = NULL;
	node_emit(out, on ? NODE_A_ALERT : NODE_A_ALERT_CLEAR, why, &a);
	a->alert = kind;
	*raised = on;
}

/* The lease: the deadline, a release the zone's state asks for, the renewal, a request. */
static void node_lease_decide(node_zone_t *z, uint64_t now, node_actions_t *out)
{
	const node_view_t *v = &z->view;
	bool busy = z->run == NODE_RUN_KEYSET || z->run == NODE_RUN_SIGNING ||
		    z->run == NODE_RUN_COMMIT || z->run == NODE_RUN_COMPARE ||
		    z->run == NODE_RUN_PUBLISH;
	if (z->held && !node_may_publish(z, now)) {
		node_drop(z, NODE_WHY_DEADLINE, out);
	}
	if (z->held && !busy && v->input_blocked) {
		node_release(z, NODE_WHY_INPUT_BLOCKED, out);
		return;
	}
	if (z->held && !busy && v->switch_away) {
		node_release(z, NODE_WHY_HANDOVER, out);
		return;
	}
	if (z->held) {
		if (now >= z->due[NODE_EV_RENEW]) {
			node_action_t *a = NULL;
			node_emit(out, NODE_A_LEASE_RENEW, NODE_WHY_NONE, &a);
			a->epoch = z->epoch;
			/* the answer re-arms it; none: sent again this soon */
			z->due[NODE_EV_RENEW] = now + z->conf.renew_retry_ms;
		}
		return;
	}
	if (!v->self_up || now < z->due[NODE_EV_REQUEST] || v->blocked || !v->free) {
		return;
	}
	z->due[NODE_EV_REQUEST] = now + z->conf.request_ms;
	node_emit(out, NODE_A_LEASE_REQUEST, NODE_WHY_NONE, NULL);
}

/* An offline-KSK zone signs only while its signed slots reach past the margin. */
static bool node_skr_ok(node_zone_t *z, const node_time_t *now, node_actions_t *out)
{
	const node_view_t *v = &z->view;
	if (!v->offline || !v->skr_known) {
		return true; /* unread, the run's own check decides */
	}
	uint64_t until_ms = v->skr_until_s * 1000u;
	bool out_now = until_ms <= now->wall_ms;
	bool short_ = until_ms < now->wall_ms + z->conf.skr_margin_ms;
	if (short_) {
		node_alert(z, &z->skr_short, true, "skr",
			   out_now ? NODE_WHY_SKR_OUT : NODE_WHY_SKR_MARGIN, out);
		z->due[NODE_EV_CYCLE] = now->mono_ms + z->conf.skr_retry_ms;
		return false;
	}
	node_alert(z, &z->skr_short, false, "skr", NODE_WHY_NONE, out);
	return true;
}

static void node_run_start(node_zone_t *z, bool shadow, node_actions_t *out)
{
	node_action_t *a = NULL;
	node_emit(out, NODE_A_RUN, NODE_WHY_NONE, &a);
	a->shadow = shadow;
	a->keyset_rev = z->keyset_rev;
	if (shadow) {
		a->serial = z->view.serial;
		z->run = NODE_RUN_SHADOW;
	} else {
		a->epoch = z->epoch;
		a->serial = z->view.has_committed ? z->view.serial : 0;
		z->run_epoch = z->epoch;
		z->run = NODE_RUN_SIGNING;
	}
}

static void node_keyset_fetch(node_zone_t *z, bool shadow, node_why_t why, node_actions_t *out)
{
	z->run = NODE_RUN_KEYSET;
	z->run_shadow = shadow;
	node_emit(out, NODE_A_KEYSET_FETCH, why, NULL);
}

/* Not again for the committed serial. */
static void node_shadow_done(node_zone_t *z, uint32_t serial)
{
	z->shadowed = true;
	z->shadow_serial = serial;
}

/* Whether a standby shadows the committed serial now. */
static bool node_shadow_wanted(const node_zone_t *z)
{
	const node_view_t *v = &z->view;
	return !z->held && v->has_committed && (v->compare_digests || v->nosig_compare) &&
	       !v->committed_by_self && v->sign_time != 0 &&
	       !(z->shadowed && z->shadow_serial == v->serial);
}

/*
 * A key set change that changes which keys sign or are published (an emergency, a rollover
 * step, a replacement) reaches the zone at once, not at the next cycle (DPS 4.5.3); one that
 * does not (a DS state, a timestamp) leaves the digest alone. Only the holder acts on it: a
 * takeover signs at once anyway.
 */
static void node_keys_moved(node_zone_t *z, const node_view_t *v)
{
	z->keys_moved = z->keys_moved && z->held; /* a lease lost meanwhile: its news went too */
	if (!v->own_keyset_valid || v->own_keyset_signing == 0) {
		return;
	}
	if (z->held && z->keys_signing != 0 && v->own_keyset_signing != z->keys_signing) {
		z->sign_now = true;
		z->keys_moved = true;
	}
	z->keys_signing = v->own_keyset_signing;
}

/* The next run: the holder's when due, else a standby's shadow of the committed serial. */
static void node_run_decide(node_zone_t *z, const node_time_t *now, node_actions_t *out)
{
	const node_view_t *v = &z->view;
	/* a standby lost the version the last commit built on: a full signing now lets it
	 * follow again, without waiting for the cycle (once per request) */
	if (z->held && v->full_requested && v->base_serial != 0 && z->full_answered != v->serial) {
		z->sign_now = true;
		z->full_answered = v->serial;
	}
	z->run_waits = false;
	if (z->run != NODE_RUN_IDLE) {
		return;
	}
	if (z->held && node_may_publish(z, now->mono_ms)) {
		bool due = z->sign_now || now->mono_ms >= z->due[NODE_EV_CYCLE];
		if (!due || !z->keyset_valid || !v->keys_ready || !v->input_ready) {
			return;
		}
		/* the view must show this node's own last publication: a run started on an
		 * older status (read every 250 ms) would sign the serial just published again,
		 * in full, as a new input arriving during a run made it do */
		if (z->published_serial != 0 &&
		    (!v->has_committed || (int32_t)(z->published_serial - v->serial) > 0)) {
			return;
		}
		if (v->runner_busy) {
			z->run_waits = true;
			return;
		}
		if (!node_skr_ok(z, now, out)) {
			return;
		}
		node_why_t why = z->keys_moved ? NODE_WHY_KEYS : NODE_WHY_NONE;
		z->sign_now = false;
		z->keys_moved = false;
		/* An active run signs with the stored key set: the copy of a node that just took
		 * the lease is the one it read as a standby, and the old holder may have stepped
		 * the key-state machine since. */
		node_keyset_fetch(z, false, why, out);
		return;
	}
	if (!node_shadow_wanted(z)) {
		return;
	}
	if (v->runner_busy) {
		z->run_waits = v->input_ready && v->keys_ready;
		return;
	}
	/* a shadow run signs with the key set the commit was made with */
	if (!z->keyset_valid || z->keyset_rev != v->keyset_revision) {
		node_keyset_fetch(z, true, NODE_WHY_NONE, out);
		return;
	}
	if (v->input_ready && v->keys_ready) {
		node_run_start(z, true, out);
	}
}

static void node_on_lease_reply(node_zone_t *z, const node_input_t *in, uint64_t now,
				node_actions_t *out)
{
	if (!in->lease.answered) {
		return; /* a renewal goes again at due[NODE_EV_RENEW] */
	}
	if (!in->lease.accepted) {
		if (z->held) {
			node_drop(z, NODE_WHY_REFUSED, out);
		}
		z->last_refusal = in->lease.reason;
		return;
	}
	z->last_refusal = COORD_R_OK;
	uint64_t came = in->lease.answered_mono != 0 ? in->lease.answered_mono : now;
	if (z->held && !node_may_publish(z, came)) {
		node_drop(z, NODE_WHY_DEADLINE, out); /* answered after the deadline */
	}
	node_action_t *a = NULL;
	node_emit(out, NODE_A_LEASE_GRANTED, NODE_WHY_NONE, &a);
	a->new_epoch = !z->held || z->epoch != in->lease.epoch;
	a->epoch = in->lease.epoch;
	if (a->new_epoch) {
		z->sign_now = true; /* a takeover publishes the next serial at once */
	}
	uint64_t sent = in->lease.sent_mono;
	z->held = true;
	z->epoch = in->lease.epoch;
	z->granted_mono = sent;
	z->due[NODE_EV_RENEW] = sent + z->view.lease_ms / 3;
	z->due[NODE_EV_DEADLINE] = sent + z->view.lease_ms - z->view.margin_ms;
}

static void node_on_keyset(node_zone_t *z, const node_input_t *in, const node_time_t *now,
			   node_actions_t *out)
{
	if (in->keyset.ok) {
		z->keyset_rev = in->keyset.revision;
		z->keyset_valid = true;
		if (z->run == NODE_RUN_KEYSET && !z->run_shadow && in->keyset.signing != 0) {
			z->keys_signing = in->keyset.signing; /* this run signs with it */
		}
	} else {
		z->keyset_valid = false;
	}
	if (z->run != NODE_RUN_KEYSET) {
		return;
	}
	z->run = NODE_RUN_IDLE;
	bool ready = in->keyset.ok && in->keyset.keys_ready;
	if (!z->run_shadow) {
		if (!ready || !node_may_publish(z, now->mono_ms)) {
			z->due[NODE_EV_CYCLE] = now->mono_ms + z->conf.keys_ms;
			return;
		}
		node_run_start(z, false, out);
		return;
	}
	if (!node_shadow_wanted(z)) {
		return;
	}
	if (!z->keyset_valid || z->keyset_rev != z->view.keyset_revision) {
		node_action_t *a = NULL;
		node_emit(out, NODE_A_SHADOW_SKIPPED, NODE_WHY_NONE, &a);
		a->serial = z->view.serial;
		a->keyset_rev = z->keyset_rev;
		node_shadow_done(z, z->view.serial);
		return;
	}
	if (z->view.input_ready && in->keyset.keys_ready) {
		node_run_start(z, true, out);
	}
}

/* An active run ended well: commit it only under the lease it was signed under, and never an
 * input older than the committed one's (a delivery that has not reached this site yet). */
static void node_on_signed(node_zone_t *z, const node_input_t *in, const node_time_t *now,
			   node_actions_t *out)
{
	const node_view_t *v = &z->view;
	if (!z->held || z->epoch != z->run_epoch || !node_may_publish(z, now->mono_ms)) {
		node_action_t *a = NULL;
		node_emit(out, NODE_A_LEASE_DROPPED, NODE_WHY_LOST, &a);
		a->epoch = z->run_epoch;
		a->serial = in->run.serial;
		a->was_held = z->held;
		node_lease_gone(z);
		return;
	}
	if (v->has_committed && v->input_serial != 0 && v->input_serial != in->run.input_serial &&
	    !tandem_serial_gt(in->run.input_serial, v->input_serial)) {
		node_alert(z, &z->input_older, true, "input-older", NODE_WHY_INPUT_OLDER, out);
		z->due[NODE_EV_CYCLE] = now->mono_ms + z->conf.retry_ms;
		return;
	}
	node_alert(z, &z->input_older, false, "input-older", NODE_WHY_NONE, out);
	node_action_t *a = NULL;
	node_emit(out, NODE_A_COMMIT, NODE_WHY_NONE, &a);
	a->epoch = z->epoch;
	a->serial = in->run.serial;
	z->run_serial = in->run.serial;
	z->run = NODE_RUN_COMMIT;
}

static void node_on_run_done(node_zone_t *z, const node_input_t *in, const node_time_t *now,
			     node_actions_t *out)
{
	bool shadow = z->run == NODE_RUN_SHADOW;
	if ((z->run != NODE_RUN_SIGNING && !shadow) || in->run.shadow != shadow) {
		return;
	}
	z->run = NODE_RUN_IDLE;
	if (shadow) {
		node_shadow_done(z, in->run.serial);
		const node_view_t *v = &z->view;
		/* this site's input is not (yet) the one the active signed: no digest to compare;
		 * the next input this site gets runs the committed serial again */
		z->shadow_other_input = in->run.ok && v->input_serial != 0 &&
					in->run.input_serial != 0 &&
					in->run.input_serial != v->input_serial;
		if (in->run.ok && !z->shadow_other_input) {
			node_action_t *a = NULL;
			node_emit(out, NODE_A_REPORT, NODE_WHY_NONE, &a);
			a->serial = in->run.serial;
		}
		return;
	}
	if (!in->run.ok) {
		bool skr = !in->run.started && z->view.offline;
		z->due[NODE_EV_CYCLE] =
		    now->mono_ms + (skr ? z->conf.skr_retry_ms : z->conf.retry_ms);
		return;
	}
	node_on_signed(z, in, now, out);
}

/* Puts the committed serial in place (why NODE_WHY_WAITED: no standby confirmed it). */
static void node_publish(node_zone_t *z, node_why_t why, node_actions_t *out)
{
	node_action_t *a = NULL;
	node_emit(out, NODE_A_PUBLISH, why, &a);
	a->epoch = z->epoch;
	a->serial = z->run_serial;
	z->run = NODE_RUN_PUBLISH;
	z->due[NODE_EV_COMPARE] = NODE_NEVER;
}

/* wait, with nobody to compare: published at once, said once (until a standby agrees again). */
static void node_publish_alone(node_zone_t *z, node_why_t why, node_actions_t *out)
{
	if (!z->compare_alone) {
		node_action_t *a = NULL;
		node_emit(out, NODE_A_COMPARE_ALONE, why, &a);
		a->serial = z->run_serial;
		z->compare_alone = true;
	}
	node_publish(z, NODE_WHY_NONE, out);
}

/* The held serial is not published: the caller drops it; the compare alerts go with it. */
static void node_discard(node_zone_t *z, node_why_t why, node_actions_t *out)
{
	node_action_t *a = NULL;
	node_emit(out, NODE_A_DISCARD, why, &a);
	a->epoch = z->run_epoch;
	a->serial = z->run_serial;
	z->run = NODE_RUN_IDLE;
	z->due[NODE_EV_COMPARE] = NODE_NEVER;
	node_alert(z, &z->compare_held, false, "compare-held", NODE_WHY_NONE, out);
}

/*
 * A commit was accepted while the lease runs: published at once (compare off; or wait with
 * nobody to compare: no other node, or signatures that are not deterministic, said once), or
 * held for a standby's digest with the compare timer armed. Under require, nobody to compare
 * holds it at once with the compare-held alert.
 */
static void node_compare_start(node_zone_t *z, uint64_t now, node_actions_t *out)
{
	const node_view_t *v = &z->view;
	if (z->conf.compare == NODE_COMPARE_OFF) {
		node_publish(z, NODE_WHY_NONE, out);
		return;
	}
	bool wait = z->conf.compare == NODE_COMPARE_WAIT;
	/* wait: a standby that is down would only add the timeout (a takeover after the other
	 * node died publishes at once); require: any registered node holds it */
	bool comparable = v->compare_digests || v->nosig_compare;
	bool alone = !(wait ? v->standby_live : v->has_standby) || !comparable;
	node_why_t why = !comparable ? NODE_WHY_NOT_COMPARED : NODE_WHY_NO_STANDBY;
	if (alone && wait) {
		node_publish_alone(z, why, out);
		return;
	}
	node_action_t *a = NULL;
	node_emit(out, NODE_A_COMPARE, NODE_WHY_NONE, &a);
	a->epoch = z->epoch;
	a->serial = z->run_serial;
	z->run = NODE_RUN_COMPARE;
	z->due[NODE_EV_COMPARE] = now + z->conf.compare_timeout_ms;
	if (alone) {
		node_alert(z, &z->compare_held, true, "compare-held", why, out);
		z->due[NODE_EV_COMPARE] = NODE_NEVER;
	}
}

/*
 * A held serial: dropped when the lease is gone, when a standby's digest differs (never
 * published; the next run comes a cycle later), when a later serial was committed, or when a
 * standby cannot follow it (a full signing at once); published when a standby agrees; at the
 * timeout, published with the compare-timeout alert (wait) or kept with compare-held
 * (require).
 */
static void node_compare_decide(node_zone_t *z, uint64_t now, node_actions_t *out)
{
	const node_view_t *v = &z->view;
	if (z->run != NODE_RUN_COMPARE) {
		return;
	}
	if (!z->held || z->epoch != z->run_epoch || !node_may_publish(z, now)) {
		node_discard(z, NODE_WHY_LATE, out);
		return;
	}
	if (v->has_committed && tandem_serial_gt(v->serial, z->run_serial)) {
		node_discard(z, NODE_WHY_COORD_GONE, out);
		return;
	}
	bool this_one = v->has_committed && v->committed_by_self && v->serial == z->run_serial;
	if (this_one && v->standby_differs) {
		node_discard(z, NODE_WHY_MISMATCH, out);
		z->due[NODE_EV_CYCLE] = now + z->conf.cycle_ms;
		return;
	}
	if (this_one && v->standby_agrees) {
		node_alert(z, &z->compare_held, false, "compare-held", NODE_WHY_NONE, out);
		node_alert(z, &z->compare_late, false, "compare-timeout", NODE_WHY_NONE, out);
		z->compare_alone = false;
		node_publish(z, NODE_WHY_NONE, out);
		return;
	}
	if (this_one && v->full_requested && v->base_serial != 0) {
		node_discard(z, NODE_WHY_NO_BASE, out);
		z->sign_now = true;
		return;
	}
	if (z->conf.compare == NODE_COMPARE_WAIT && !v->standby_live) {
		node_publish_alone(z, NODE_WHY_NO_STANDBY, out); /* the standby went down */
		return;
	}
	if (now < z->due[NODE_EV_COMPARE]) {
		return;
	}
	if (z->conf.compare == NODE_COMPARE_WAIT) {
		node_alert(z, &z->compare_late, true, "compare-timeout", NODE_WHY_WAITED, out);
		node_publish(z, NODE_WHY_WAITED, out);
		return;
	}
	node_alert(z, &z->compare_held, true, "compare-held", NODE_WHY_WAITED, out);
	z->due[NODE_EV_COMPARE] = NODE_NEVER; /* said; held until one of the above */
}

static void node_on_commit_reply(node_zone_t *z, const node_input_t *in, const node_time_t *now,
				 node_actions_t *out)
{
	if (z->run != NODE_RUN_COMMIT) {
		return;
	}
	z->run = NODE_RUN_IDLE;
	if (!in->commit.answered) {
		z->sign_now = true;
		return;
	}
	if (!in->commit.accepted) {
		coord_reason_t r = in->commit.reason;
		if (r == COORD_R_NOT_HOLDER || r == COORD_R_STALE_EPOCH ||
		    r == COORD_R_LEASE_EXPIRED) {
			node_drop(z, NODE_WHY_COORD_GONE, out);
		} else {
			z->sign_now = true;
		}
		return;
	}
	if (!node_may_publish(z, now->mono_ms)) {
		node_drop(z, NODE_WHY_LATE, out);
		out->a[out->n - 1].serial = z->run_serial;
		return;
	}
	node_compare_start(z, now->mono_ms, out);
}

static void node_on_published(node_zone_t *z, const node_input_t *in, const node_time_t *now)
{
	if (z->run != NODE_RUN_PUBLISH) {
		return;
	}
	z->run = NODE_RUN_IDLE;
	if (in->published.ok) {
		z->published_serial = z->run_serial;
		z->due[NODE_EV_CYCLE] = now->mono_ms + z->conf.cycle_ms;
	} else {
		uint64_t wait =
		    in->published.retry_ms != 0 ? in->published.retry_ms : z->conf.retry_ms;
		z->due[NODE_EV_CYCLE] = now->mono_ms + wait;
	}
}

void node_step(node_zone_t *z, const node_input_t *in, const node_time_t *now, node_actions_t *out)
{
	assert(z != NULL && in != NULL && now != NULL && out != NULL);
	out->n = 0;
	switch (in->kind) {
	case NODE_IN_TICK: break;
	case NODE_IN_STATUS:
		node_keys_moved(z, &in->view);
		z->view = in->view;
		z->have_view = true;
		z->keyset_valid = in->view.own_keyset_valid;
		z->keyset_rev = in->view.own_keyset_rev;
		break;
	case NODE_IN_LEASE_REPLY: node_on_lease_reply(z, in, now->mono_ms, out); break;
	case NODE_IN_LEASE_LOST: node_lease_gone(z); return;
	case NODE_IN_KEYSET: node_on_keyset(z, in, now, out); break;
	case NODE_IN_INPUT_CHANGED:
		z->sign_now = true;
		if (z->shadow_other_input) {
			z->shadow_other_input = false;
			z->shadowed =
			    false; /* shadow the committed serial again, with this input */
		}
		return;
	case NODE_IN_CYCLE_BY:
		if (in->cycle_by_mono < z->due[NODE_EV_CYCLE]) {
			z->due[NODE_EV_CYCLE] = in->cycle_by_mono;
		}
		return;
	case NODE_IN_RUN_DONE: node_on_run_done(z, in, now, out); break;
	case NODE_IN_COMMIT_REPLY: node_on_commit_reply(z, in, now, out); break;
	case NODE_IN_PUBLISHED: node_on_published(z, in, now); break;
	}
	if (!z->have_view) {
		return;
	}
	/* an answer is acted on in full before the loop looks at the zone again */
	bool waits = false;
	for (size_t i = 0; i < out->n; i++) {
		node_action_kind_t k = out->a[i].kind;
		waits = waits || k == NODE_A_KEYSET_FETCH || k == NODE_A_RUN ||
			k == NODE_A_COMMIT || k == NODE_A_PUBLISH || k == NODE_A_REPORT;
	}
	if (waits) {
		return;
	}
	node_lease_decide(z, now->mono_ms, out);
	node_compare_decide(z, now->mono_ms, out);
	for (size_t i = 0; i < out->n; i++) {
		if (out->a[i].kind == NODE_A_PUBLISH) {
			return; /* its outcome comes first */
		}
	}
	bool asked = false;
	for (size_t i = 0; i < out->n; i++) {
		asked = asked || out->a[i].kind == NODE_A_LEASE_REQUEST ||
			out->a[i].kind == NODE_A_LEASE_RENEW ||
			out->a[i].kind == NODE_A_LEASE_RELEASE;
	}
	if (!asked || z->held) {
		node_run_decide(z, now, out);
	}
}

const char *node_run_stage_str(node_run_stage_t stage)
{
	switch (stage) {
	case NODE_RUN_IDLE: return "idle";
	case NODE_RUN_KEYSET: return "keyset";
	case NODE_RUN_SIGNING: return "signing";
	case NODE_RUN_SHADOW: return "shadow";
	case NODE_RUN_COMMIT: return "commit";
	case NODE_RUN_COMPARE: return "compare";
	case NODE_RUN_PUBLISH: return "publish";
	}
	return "?";
}

const char *node_action_str(node_action_kind_t kind)
{
	switch (kind) {
	case NODE_A_LEASE_REQUEST: return "lease-request";
	case NODE_A_LEASE_RENEW: return "lease-renew";
	case NODE_A_LEASE_RELEASE: return "lease-release";
	case NODE_A_LEASE_DROPPED: return "lease-dropped";
	case NODE_A_LEASE_GRANTED: return "lease-granted";
	case NODE_A_KEYSET_FETCH: return "keyset-fetch";
	case NODE_A_RUN: return "run";
	case NODE_A_SHADOW_SKIPPED: return "shadow-skipped";
	case NODE_A_COMMIT: return "commit";
	case NODE_A_COMPARE: return "compare";
	case NODE_A_COMPARE_ALONE: return "compare-alone";
	case NODE_A_DISCARD: return "discard";
	case NODE_A_PUBLISH: return "publish";
	case NODE_A_REPORT: return "report";
	case NODE_A_ALERT: return "alert";
	case NODE_A_ALERT_CLEAR: return "alert-clear";
	}
	return "?";
}

bool node_lease_batch_replies(const char *const *zones, size_t n,
			      const node_lease_answer_t *answers, size_t nanswers,
			      uint64_t sent_mono, node_input_t *in)
{
	bool taken = answers != NULL && nanswers == n;
	for (size_t i = 0; taken && i < n; i++) {
		taken = answers[i].zone != NULL && zones[i] != NULL &&
			strcmp(answers[i].zone, zones[i]) == 0 &&
			answers[i].accepted == (answers[i].reason == COORD_R_OK);
	}
	for (size_t i = 0; i < n; i++) {
		memset(&in[i], 0, sizeof(in[i]));
		in[i].kind = NODE_IN_LEASE_REPLY;
		in[i].lease.sent_mono = sent_mono;
		in[i].lease.answered = taken;
		if (taken) {
			in[i].lease.accepted = answers[i].accepted;
			in[i].lease.reason = answers[i].reason;
			in[i].lease.epoch = answers[i].epoch;
		}
	}
	return taken;
}
