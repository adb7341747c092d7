/* The rollover simulator: fake clock, fake parent, the driver's signer, and the cache check. */
#include "kasp_sim.h"

#include "kasp_cache.h"
#include "tandem_error.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PARENT_MAX 64

typedef struct pending {
	uint32_t id;
	bool add;
	uint64_t at;
} pending_t;

typedef struct sim {
	const kasp_sim_conf_t *conf;
	const kasp_sim_ops_t *ops;
	tandem_diag_t *diag;
	kasp_policy_t policy;
	kasp_keyset_t *set;
	kasp_cache_t *cache;
	uint32_t parent[PARENT_MAX]; /* keys whose DS the parent serves */
	size_t nparent;
	pending_t pending[PARENT_MAX];
	size_t npending;
	kasp_sim_result_t res;
	bool ez_done, ek_done, alg_done;
} sim_t;

static void when(uint64_t t, char buf[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm) == 0) {
		snprintf(buf, 32, "%" PRIu64, t);
	}
}

static void say(sim_t *s, uint64_t t, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(sim_t *s, uint64_t t, const char *fmt, ...)
{
	if (s->ops->line == NULL) {
		return;
	}
	char text[512], ts[32];
	when(t, ts);
	int n = snprintf(text, sizeof(text), "%s  ", ts);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
	va_end(ap);
	s->ops->line(s->ops->arg, text);
}

static void say_change(sim_t *s, uint64_t t, const kasp_change_t *c)
{
	const kasp_key_t *k = kasp_keyset_find(s->set, c->key_id);
	if (k == NULL) {
		return;
	}
	char what[96];
	if (c->from != c->to) {
		snprintf(what, sizeof(what), "%s -> %s", kasp_key_state_str(c->from),
			 kasp_key_state_str(c->to));
	} else {
		snprintf(what, sizeof(what), "%s, DS %s -> %s", kasp_key_state_str(c->to),
			 kasp_ds_state_str(c->ds_from), kasp_ds_state_str(c->ds_to));
	}
	say(s, t, "%s %-3" PRIu32 " tag %-5u alg %-2u %-30s (%s)", kasp_role_str(k->role), k->id,
	    k->tag, k->algorithm, what, c->why);
}

static bool parent_has(const sim_t *s, uint32_t id)
{
	for (size_t i = 0; i < s->nparent; i++) {
		if (s->parent[i] == id) {
			return true;
		}
	}
	return false;
}

/* The parent acts on what was asked of it propagation-delay ago. */
static int parent_run(sim_t *s, uint64_t now)
{
	size_t k = 0;
	for (size_t i = 0; i < s->npending; i++) {
		pending_t *p = &s->pending[i];
		if (p->at > now) {
			s->pending[k++] = *p;
			continue;
		}
		if (p->add && !parent_has(s, p->id)) {
			if (s->nparent == PARENT_MAX) {
				return TANDEM_EINTERNAL;
			}
			s->parent[s->nparent++] = p->id;
		} else if (!p->add) {
			size_t m = 0;
			for (size_t j = 0; j < s->nparent; j++) {
				if (s->parent[j] != p->id) {
					s->parent[m++] = s->parent[j];
				}
			}
			s->nparent = m;
		}
		int ret = p->add ? kasp_keyset_ds_seen(s->set, p->id, now)
				 : kasp_keyset_ds_gone(s->set, p->id, now);
		if (ret == TANDEM_OK) {
			say(s, now, "parent: DS of ksk %" PRIu32 " %s (ds-%s)", p->id,
			    p->add ? "published" : "withdrawn", p->add ? "seen" : "gone");
		}
	}
	s->npending = k;
	return TANDEM_OK;
}

static void inject(sim_t *s, uint64_t now)
{
	const kasp_sim_conf_t *c = s->conf;
	for (int r = KASP_ROLE_KSK; r <= KASP_ROLE_ZSK; r++) {
		uint64_t at = r == KASP_ROLE_KSK ? c->emergency_ksk : c->emergency_zsk;
		bool *done = r == KASP_ROLE_KSK ? &s->ek_done : &s->ez_done;
		if (at == 0 || *done || now < at) {
			continue;
		}
		*done = true;
		for (size_t i = 0; i < s->set->count; i++) {
			kasp_key_t *k = &s->set->keys[i];
			if (k->role == (kasp_role_t)r && k->state == KASP_KEY_ACTIVE &&
			    !k->compromised) {
				kasp_keyset_compromise(s->set, k->id, now);
				say(s, now,
				    "inject: %s %" PRIu32 " compromised (emergency rollover)",
				    kasp_role_str(k->role), k->id);
				break;
			}
		}
	}
	if (c->algorithm_at != 0 && !s->alg_done && now >= c->algorithm_at) {
		s->alg_done = true;
		kasp_key_policy_t *kp[2] = {&s->policy.ksk, &s->policy.zsk};
		bool rsa = c->algorithm == 8 || c->algorithm == 10;
		for (int r = 0; r < 2; r++) {
			kp[r]->algorithm = c->algorithm;
			if (!rsa) {
				kp[r]->bits = 0;
			} else if (kp[r]->bits == 0) {
				kp[r]->bits = r == 0 ? 2048 : 1024;
			}
		}
		say(s, now, "inject: policy algorithm -> %u (algorithm rollover, RFC 6781 4.1.4)",
		    c->algorithm);
	}
}

/* Runs the machine at now, generating keys until it asks for none. */
static int advance(sim_t *s, uint64_t now, kasp_step_t *step)
{
	for (int round = 0; round < 8; round++) {
		int ret = kasp_keystate_step(s->set, &s->policy, now, s->set, step);
		if (ret != TANDEM_OK) {
			return ret;
		}
		bool generated = false;
		for (size_t i = 0; i < step->nchanges; i++) {
			const kasp_change_t *c = &step->changes[i];
			say_change(s, now, c);
			const kasp_key_t *k = kasp_keyset_find(s->set, c->key_id);
			if (k != NULL && c->to == KASP_KEY_REMOVED && c->from != KASP_KEY_REMOVED &&
			    k->active != 0) {
				if (k->role == KASP_ROLE_KSK) {
					s->res.ksk_rollovers++;
				} else {
					s->res.zsk_rollovers++;
				}
			}
		}
		for (size_t i = 0; i < step->nactions; i++) {
			const kasp_action_t *a = &step->actions[i];
			if (a->kind == KASP_ACTION_DS_SUBMIT || a->kind == KASP_ACTION_DS_RETRACT) {
				if (s->npending == PARENT_MAX) {
					return TANDEM_EINTERNAL;
				}
				s->pending[s->npending++] =
				    (pending_t){.id = a->key_id,
						.add = a->kind == KASP_ACTION_DS_SUBMIT,
						.at = now + s->policy.parent_propagation_delay};
				continue;
			}
			char label[KASP_LABEL_MAX] = "";
			uint8_t dnskey[KASP_DNSKEY_MAX];
			size_t len = sizeof(dnskey);
			uint32_t id = s->set->next_id;
			ret = s->ops->generate(s->ops->arg, a, id, label, dnskey, &len);
			if (ret == TANDEM_OK) {
				ret = kasp_keyset_add(s->set, a->role, a->algorithm, a->bits, label,
						      dnskey, len, true, now, &id);
			}
			if (ret != TANDEM_OK) {
				tandem_diag_add(s->diag, ret, "generating a %s failed",
						kasp_role_str(a->role));
				return ret;
			}
			const kasp_key_t *k = kasp_keyset_find(s->set, id);
			say(s, now, "%s %-3" PRIu32 " tag %-5u alg %-2u generated in the HSM (%s)",
			    kasp_role_str(a->role), id, k->tag, a->algorithm, label);
			s->res.keys++;
			generated = true;
		}
		if (!generated) {
			return TANDEM_OK;
		}
	}
	tandem_diag_add(s->diag, TANDEM_EINTERNAL, "the machine keeps asking for keys");
	return TANDEM_EINTERNAL;
}

static void add_key(kasp_cache_key_t *keys, size_t *n, const kasp_key_t *k)
{
	if (*n < KASP_CACHE_KEYS) {
		keys[(*n)++] = (kasp_cache_key_t){.id = k->id, .algorithm = k->algorithm};
	}
}

/* Signs and gates through the driver, then gives what the servers now serve to the cache
 * model and runs the check. */
static int observe(sim_t *s, uint64_t now)
{
	kasp_sim_signers_t signers = {.known = false};
	if (s->ops->publish != NULL) {
		size_t before = tandem_diag_count(s->diag);
		size_t g = s->ops->publish(s->ops->arg, s->set, s->parent, s->nparent, now, s->diag,
					   &signers);
		if (g == (size_t)-1) {
			return TANDEM_EINTERNAL;
		}
		s->res.gate_failures += g;
		for (size_t i = before; g > 0 && i < tandem_diag_kept(s->diag); i++) {
			say(s, now, "GATE FAILURE: %s", tandem_diag_msg(s->diag, i));
		}
	}
	kasp_cache_set_t ds = {0}, dnskey = {0}, data = {0};
	for (size_t i = 0; i < s->nparent; i++) {
		const kasp_key_t *k = kasp_keyset_find(s->set, s->parent[i]);
		if (k != NULL) {
			add_key(ds.keys, &ds.nkeys, k);
		}
	}
	for (size_t i = 0; i < s->set->count; i++) {
		const kasp_key_t *k = &s->set->keys[i];
		kasp_roles_t r;
		kasp_key_roles(k, &r);
		if (r.published) {
			add_key(dnskey.keys, &dnskey.nkeys, k);
		}
		if (r.ksk) {
			add_key(dnskey.signers, &dnskey.nsigners, k);
		}
		if (signers.known) {
			for (size_t j = 0; j < signers.n && j < KASP_SIM_SIGNERS_MAX; j++) {
				if (signers.ids[j] == k->id && data.nsigners < KASP_CACHE_KEYS) {
					data.signers[data.nsigners++] =
					    (kasp_cache_key_t){.id = k->id,
							       .algorithm = k->algorithm,
							       .group = signers.group[j]};
				}
			}
		} else if (r.zsk) {
			add_key(data.signers, &data.nsigners, k);
		}
	}
	int ret = kasp_cache_serve(s->cache, KASP_CACHE_DS, now, &ds);
	if (ret == TANDEM_OK) {
		ret = kasp_cache_serve(s->cache, KASP_CACHE_DNSKEY, now, &dnskey);
	}
	if (ret == TANDEM_OK) {
		ret = kasp_cache_serve(s->cache, KASP_CACHE_DATA, now, &data);
	}
	if (ret != TANDEM_OK) {
		tandem_diag_add(s->diag, TANDEM_EINTERNAL, "cache model: %s", tandem_strerror(ret));
		return TANDEM_EINTERNAL;
	}
	size_t before = tandem_diag_count(s->diag);
	size_t f = kasp_cache_check(s->cache, now, s->diag);
	s->res.cache_failures += f;
	for (size_t i = before; i < tandem_diag_kept(s->diag); i++) {
		say(s, now, "VALIDATION FAILURE: %s", tandem_diag_msg(s->diag, i));
	}
	s->res.events++;
	return TANDEM_OK;
}

static uint64_t next_time(const sim_t *s, const kasp_step_t *step, uint64_t now)
{
	uint64_t next = step->next;
	const kasp_sim_conf_t *c = s->conf;
	uint64_t cand[3] = {s->ez_done ? 0 : c->emergency_zsk, s->ek_done ? 0 : c->emergency_ksk,
			    s->alg_done ? 0 : c->algorithm_at};
	for (int i = 0; i < 3; i++) {
		if (cand[i] > now && (next == 0 || cand[i] < next)) {
			next = cand[i];
		}
	}
	for (size_t i = 0; i < s->npending; i++) {
		if (s->pending[i].at > now && (next == 0 || s->pending[i].at < next)) {
			next = s->pending[i].at;
		}
	}
	if (c->cycle > 0 && (next == 0 || now + c->cycle < next)) {
		next = now + c->cycle;
	}
	return next;
}

int kasp_sim_run(const kasp_sim_conf_t *conf, const kasp_sim_ops_t *ops, tandem_diag_t *diag,
		 kasp_sim_result_t *out)
{
	if (conf == NULL || ops == NULL || ops->generate == NULL || out == NULL ||
	    conf->policy == NULL || conf->zone == NULL || conf->end <= conf->start) {
		return TANDEM_EINVAL;
	}
	sim_t s = {.conf = conf, .ops = ops, .diag = diag, .policy = *conf->policy};
	kasp_step_t *step = malloc(sizeof(*step));
	s.set = malloc(sizeof(*s.set));
	int ret = TANDEM_ENOMEM;
	if (step == NULL || s.set == NULL) {
		goto out;
	}
	ret = kasp_keyset_init(s.set, conf->zone);
	if (ret != TANDEM_OK) {
		goto out;
	}
	const kasp_policy_t *p = &s.policy;
	ret = kasp_cache_new((uint64_t)p->parent_propagation_delay + p->parent_ds_ttl,
			     (uint64_t)p->propagation_delay + p->ttl_dnskey,
			     (uint64_t)p->propagation_delay + kasp_policy_ttl_max(p), &s.cache);
	if (ret != TANDEM_OK) {
		goto out;
	}
	uint64_t now = conf->start;
	for (;;) {
		inject(&s, now);
		ret = parent_run(&s, now);
		if (ret == TANDEM_OK) {
			ret = advance(&s, now, step);
		}
		if (ret == TANDEM_OK) {
			ret = observe(&s, now);
		}
		if (ret != TANDEM_OK) {
			goto out;
		}
		uint64_t next = next_time(&s, step, now);
		if (next == 0 || next > conf->end) {
			break;
		}
		if (next <= now) {
			tandem_diag_add(diag, TANDEM_EINTERNAL, "the machine stalled at %" PRIu64,
					now);
			ret = TANDEM_EINTERNAL;
			goto out;
		}
		now = next;
	}
	*out = s.res;
	ret = TANDEM_OK;
out:
	kasp_cache_free(s.cache);
	free(s.set);
	free(step);
	return ret;
}
