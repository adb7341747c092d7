/* Offline KSK: KSR/SKR (de)serialization, the period's plan from the key-state machine, and the
 * checks a signed key response must pass (docs/keys.md, "Offline KSK"). */
#include "kasp_skr.h"

#include "crypto.h"
#include "dns_zone.h"
#include "skr.pb-c.h"
#include "tandem_error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define RRSIG_FIXED 18 /* type covered .. key tag */

int kasp_skr_sha256(const uint8_t *data, size_t len, uint8_t out[32])
{
	unsigned int n = 0;
	return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32
		   ? TANDEM_OK
		   : TANDEM_EINTERNAL;
}

bool kasp_key_offline(const kasp_key_t *key)
{
	return key != NULL && key->role == KASP_ROLE_KSK &&
	       strncmp(key->label, KASP_SKR_LABEL_PFX, strlen(KASP_SKR_LABEL_PFX)) == 0;
}

bool kasp_keyset_offline(const kasp_keyset_t *set)
{
	for (size_t i = 0; set != NULL && i < set->count; i++) {
		if (kasp_key_offline(&set->keys[i])) {
			return true;
		}
	}
	return false;
}

void kasp_skr_free(kasp_skr_t *skr)
{
	free(skr);
}

const kasp_skr_slot_t *kasp_skr_slot_at(const kasp_skr_t *skr, uint64_t t)
{
	if (skr == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < skr->nslots; i++) {
		if (skr->slots[i].start <= t && t < skr->slots[i].end) {
			return &skr->slots[i];
		}
	}
	return NULL;
}

static int rdata_cmp(const kasp_skr_rdata_t *a, const kasp_skr_rdata_t *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->data, b->data, n);
	if (c != 0) {
		return c;
	}
	return a->len < b->len ? -1 : a->len > b->len;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* ---- encoding ---- */

typedef struct enc_slot {
	Tandem__SkrSlot msg;
	ProtobufCBinaryData keys[KASP_SKR_KEYS_MAX];
	uint32_t signers[KASP_SKR_KEYS_MAX];
	ProtobufCBinaryData sigs[KASP_SKR_SIGS_MAX];
} enc_slot_t;

int kasp_skr_encode(const kasp_skr_t *skr, uint8_t **out, size_t *len)
{
	if (skr == NULL || out == NULL || len == NULL || skr->nslots > KASP_SKR_SLOTS_MAX) {
		return TANDEM_EINVAL;
	}
	int ret = TANDEM_ENOMEM;
	uint8_t *buf = NULL;
	enc_slot_t *es = calloc(skr->nslots ? skr->nslots : 1, sizeof(*es));
	Tandem__SkrSlot **ptrs = calloc(skr->nslots ? skr->nslots : 1, sizeof(*ptrs));
	if (es == NULL || ptrs == NULL) {
		goto out;
	}
	for (size_t i = 0; i < skr->nslots; i++) {
		const kasp_skr_slot_t *s = &skr->slots[i];
		if (s->nkeys > KASP_SKR_KEYS_MAX || s->nsigners > KASP_SKR_KEYS_MAX ||
		    s->nsigs > KASP_SKR_SIGS_MAX) {
			ret = TANDEM_EINVAL;
			goto out;
		}
		enc_slot_t *e = &es[i];
		tandem__skr_slot__init(&e->msg);
		e->msg.start = s->start;
		e->msg.end = s->end;
		e->msg.inception = s->inception;
		e->msg.expiration = s->expiration;
		e->msg.ttl = s->ttl;
		for (size_t k = 0; k < s->nkeys; k++) {
			e->keys[k] = (ProtobufCBinaryData){.len = s->keys[k].len,
							   .data = (uint8_t *)s->keys[k].data};
		}
		e->msg.n_dnskeys = s->nkeys;
		e->msg.dnskeys = e->keys;
		for (size_t k = 0; k < s->nsigners; k++) {
			e->signers[k] = s->signers[k];
		}
		e->msg.n_signers = s->nsigners;
		e->msg.signers = e->signers;
		if (skr->response) {
			for (size_t k = 0; k < s->nsigs; k++) {
				e->sigs[k] = (ProtobufCBinaryData){
				    .len = s->sigs[k].len, .data = (uint8_t *)s->sigs[k].data};
			}
			e->msg.n_rrsigs = s->nsigs;
			e->msg.rrsigs = e->sigs;
		}
		ptrs[i] = &e->msg;
	}
	size_t n;
	if (skr->response) {
		Tandem__SignedKeyResponse m;
		tandem__signed_key_response__init(&m);
		m.version = KASP_SKR_VERSION;
		m.zone = (char *)skr->zone;
		m.request_id = (ProtobufCBinaryData){.len = KASP_SKR_ID_LEN,
						     .data = (uint8_t *)skr->request_id};
		m.request_sha256 =
		    (ProtobufCBinaryData){.len = 32, .data = (uint8_t *)skr->request_sha256};
		m.signed_at = skr->created;
		m.n_slots = skr->nslots;
		m.slots = ptrs;
		n = tandem__signed_key_response__get_packed_size(&m);
		buf = malloc(n ? n : 1);
		if (buf == NULL) {
			goto out;
		}
		tandem__signed_key_response__pack(&m, buf);
	} else {
		Tandem__KeySigningRequest m;
		tandem__key_signing_request__init(&m);
		m.version = KASP_SKR_VERSION;
		m.zone = (char *)skr->zone;
		m.request_id = (ProtobufCBinaryData){.len = KASP_SKR_ID_LEN,
						     .data = (uint8_t *)skr->request_id};
		m.created = skr->created;
		m.n_slots = skr->nslots;
		m.slots = ptrs;
		n = tandem__key_signing_request__get_packed_size(&m);
		buf = malloc(n ? n : 1);
		if (buf == NULL) {
			goto out;
		}
		tandem__key_signing_request__pack(&m, buf);
	}
	*out = buf;
	*len = n;
	buf = NULL;
	ret = TANDEM_OK;
out:
	free(buf);
	free(ptrs);
	free(es);
	return ret;
}

/* ---- decoding ---- */

static bool zone_ok(const char *zone)
{
	uint8_t wire[DNS_NAME_MAXLEN];
	size_t len = 0;
	size_t n = zone != NULL ? strlen(zone) : 0;
	if (n == 0 || n >= KASP_ZONE_MAX || zone[n - 1] != '.') {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (zone[i] >= 'A' && zone[i] <= 'Z') {
			return false;
		}
	}
	return dns_name_from_str(zone, NULL, wire, &len) == TANDEM_OK;
}

static const char *slot_from_msg(const Tandem__SkrSlot *m, bool response, kasp_skr_slot_t *s)
{
	memset(s, 0, sizeof(*s));
	if (m->start >= m->end || m->end > UINT32_MAX) {
		return "start not before end";
	}
	if (m->inception > m->start || m->expiration < m->end) {
		return "the RRSIG window does not cover the slot";
	}
	if (m->n_dnskeys == 0 || m->n_dnskeys > KASP_SKR_KEYS_MAX) {
		return "no DNSKEY, or too many";
	}
	if (m->n_signers == 0 || m->n_signers > m->n_dnskeys) {
		return "no signer, or too many";
	}
	if (response ? (m->n_rrsigs == 0 || m->n_rrsigs > KASP_SKR_SIGS_MAX) : m->n_rrsigs != 0) {
		return response ? "no RRSIG, or too many" : "RRSIGs in a request";
	}
	s->start = m->start;
	s->end = m->end;
	s->inception = m->inception;
	s->expiration = m->expiration;
	s->ttl = m->ttl;
	for (size_t k = 0; k < m->n_dnskeys; k++) {
		const ProtobufCBinaryData *d = &m->dnskeys[k];
		if (d->len < 5 || d->len > KASP_SKR_RDATA_MAX || d->data[2] != 3) {
			return "a DNSKEY RDATA is malformed";
		}
		s->keys[k].len = (uint16_t)d->len;
		memcpy(s->keys[k].data, d->data, d->len);
		if (k > 0 && rdata_cmp(&s->keys[k - 1], &s->keys[k]) >= 0) {
			return "DNSKEYs not in canonical order, or one twice";
		}
	}
	s->nkeys = m->n_dnskeys;
	for (size_t k = 0; k < m->n_signers; k++) {
		uint32_t i = m->signers[k];
		if (i >= m->n_dnskeys || (rd16(s->keys[i].data) & 1) == 0) {
			return "a signer is not a SEP key of the slot";
		}
		for (size_t j = 0; j < k; j++) {
			if (s->signers[j] == i) {
				return "a signer twice";
			}
		}
		s->signers[k] = (uint8_t)i;
	}
	s->nsigners = m->n_signers;
	for (size_t k = 0; k < m->n_rrsigs; k++) {
		const ProtobufCBinaryData *d = &m->rrsigs[k];
		if (d->len < RRSIG_FIXED + 2 || d->len > KASP_SKR_RDATA_MAX) {
			return "an RRSIG RDATA is malformed";
		}
		s->sigs[k].len = (uint16_t)d->len;
		memcpy(s->sigs[k].data, d->data, d->len);
	}
	s->nsigs = m->n_rrsigs;
	return NULL;
}

int kasp_skr_decode(const uint8_t *buf, size_t len, bool response, tandem_diag_t *diag,
		    kasp_skr_t **out)
{
	if (buf == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	const char *what = response ? "signed key response" : "key signing request";
	Tandem__KeySigningRequest *req = NULL;
	Tandem__SignedKeyResponse *resp = NULL;
	kasp_skr_t *skr = calloc(1, sizeof(*skr));
	int ret = TANDEM_ENOMEM;
	if (skr == NULL) {
		goto out;
	}
	uint32_t version;
	const char *zone;
	ProtobufCBinaryData id;
	size_t nslots;
	Tandem__SkrSlot **slots;
	ret = TANDEM_ESYNTAX;
	if (response) {
		resp = tandem__signed_key_response__unpack(NULL, len, buf);
		if (resp == NULL) {
			tandem_diag_add(diag, ret, "not a %s, or a truncated one", what);
			goto out;
		}
		version = resp->version;
		zone = resp->zone;
		id = resp->request_id;
		nslots = resp->n_slots;
		slots = resp->slots;
		if (resp->request_sha256.len != 32) {
			tandem_diag_add(diag, ret, "%s: no request hash", what);
			goto out;
		}
		memcpy(skr->request_sha256, resp->request_sha256.data, 32);
		skr->created = resp->signed_at;
	} else {
		req = tandem__key_signing_request__unpack(NULL, len, buf);
		if (req == NULL) {
			tandem_diag_add(diag, ret, "not a %s, or a truncated one", what);
			goto out;
		}
		version = req->version;
		zone = req->zone;
		id = req->request_id;
		nslots = req->n_slots;
		slots = req->slots;
		skr->created = req->created;
	}
	if (version != KASP_SKR_VERSION) {
		tandem_diag_add(diag, TANDEM_ERANGE,
				"%s of format version %" PRIu32 " (we read %d)", what, version,
				KASP_SKR_VERSION);
		ret = TANDEM_ERANGE;
		goto out;
	}
	if (!zone_ok(zone)) {
		tandem_diag_add(diag, ret, "%s: bad zone name", what);
		goto out;
	}
	if (id.len != KASP_SKR_ID_LEN) {
		tandem_diag_add(diag, ret, "%s: bad request id", what);
		goto out;
	}
	if (nslots == 0 || nslots > KASP_SKR_SLOTS_MAX) {
		tandem_diag_add(diag, ret, "%s: %zu slots (1..%d)", what, nslots,
				KASP_SKR_SLOTS_MAX);
		goto out;
	}
	snprintf(skr->zone, sizeof(skr->zone), "%s", zone);
	memcpy(skr->request_id, id.data, KASP_SKR_ID_LEN);
	skr->response = response;
	for (size_t i = 0; i < nslots; i++) {
		const char *why = slot_from_msg(slots[i], response, &skr->slots[i]);
		if (why == NULL && i > 0 && skr->slots[i].start != skr->slots[i - 1].end) {
			why = "does not start where the previous slot ends";
		}
		if (why != NULL) {
			tandem_diag_add(diag, ret, "%s: slot %zu: %s", what, i + 1, why);
			goto out;
		}
	}
	skr->nslots = nslots;
	*out = skr;
	skr = NULL;
	ret = TANDEM_OK;
out:
	if (req != NULL) {
		tandem__key_signing_request__free_unpacked(req, NULL);
	}
	if (resp != NULL) {
		tandem__signed_key_response__free_unpacked(resp, NULL);
	}
	free(skr);
	return ret;
}

/* ---- the plan ---- */

typedef struct plan {
	kasp_keyset_t *set;
	const kasp_policy_t *policy;
	kasp_skr_generate_fn generate;
	void *arg;
	tandem_diag_t *diag;
	kasp_step_t step;
} plan_t;

/* Brings the planned set to time t, generating the ZSKs the machine asks for. */
static int plan_step(plan_t *p, uint64_t t)
{
	char ts[32];
	for (int round = 0; round < 8; round++) {
		int ret = kasp_keystate_step(p->set, p->policy, t, p->set, &p->step);
		if (ret != TANDEM_OK) {
			return ret;
		}
		bool made = false;
		for (size_t i = 0; i < p->step.nactions; i++) {
			const kasp_action_t *a = &p->step.actions[i];
			if (a->kind != KASP_ACTION_GENERATE) {
				continue;
			}
			snprintf(ts, sizeof(ts), "%" PRIu64, t);
			if (a->role == KASP_ROLE_KSK) {
				tandem_diag_add(p->diag, TANDEM_EPERM,
						"the plan needs a new KSK at %s: make it at a KSK "
						"ceremony and import its DNSKEY first",
						ts);
				return TANDEM_EPERM;
			}
			char label[KASP_LABEL_MAX] = {0};
			uint8_t dnskey[KASP_DNSKEY_MAX];
			size_t dlen = sizeof(dnskey);
			uint32_t id = 0;
			ret = p->generate(p->arg, a, p->set->next_id, label, dnskey, &dlen);
			if (ret != TANDEM_OK) {
				return ret;
			}
			ret = kasp_keyset_add(p->set, a->role, a->algorithm, a->bits, label, dnskey,
					      dlen, true, t, &id);
			if (ret != TANDEM_OK) {
				tandem_diag_add(p->diag, ret, "no room for a planned key");
				return ret;
			}
			made = true;
		}
		if (!made) {
			return TANDEM_OK;
		}
	}
	return TANDEM_OK;
}

/* Adds the keys published at this moment (and the KSKs that sign) to the slot. */
static int plan_collect(plan_t *p, kasp_skr_slot_t *s)
{
	for (size_t i = 0; i < p->set->count; i++) {
		const kasp_key_t *k = &p->set->keys[i];
		kasp_roles_t r;
		kasp_key_roles(k, &r);
		if (r.in_zone && !r.published) {
			tandem_diag_add(p->diag, TANDEM_EPERM,
					"key %" PRIu32 " signs unpublished (algorithm rollover): "
					"not supported with an offline KSK",
					k->id);
			return TANDEM_EPERM;
		}
		if (!r.published) {
			continue;
		}
		size_t at = s->nkeys;
		for (size_t j = 0; j < s->nkeys; j++) {
			if (s->keys[j].len == k->dnskey_len &&
			    memcmp(s->keys[j].data, k->dnskey, k->dnskey_len) == 0) {
				at = j;
			}
		}
		if (at == s->nkeys) {
			if (s->nkeys == KASP_SKR_KEYS_MAX) {
				tandem_diag_add(p->diag, TANDEM_EPERM,
						"more than %d DNSKEYs in one slot",
						KASP_SKR_KEYS_MAX);
				return TANDEM_EPERM;
			}
			s->keys[at].len = k->dnskey_len;
			memcpy(s->keys[at].data, k->dnskey, k->dnskey_len);
			s->nkeys++;
		}
		if (r.ksk) {
			bool have = false;
			for (size_t j = 0; j < s->nsigners; j++) {
				have |= s->signers[j] == at;
			}
			if (!have) {
				s->signers[s->nsigners++] = (uint8_t)at;
			}
		}
	}
	return TANDEM_OK;
}

/* Sorts the slot's DNSKEYs into canonical order, keeping the signer indexes right. */
static void slot_sort(kasp_skr_slot_t *s)
{
	bool sign[KASP_SKR_KEYS_MAX] = {false};
	for (size_t j = 0; j < s->nsigners; j++) {
		sign[s->signers[j]] = true;
	}
	for (size_t i = 1; i < s->nkeys; i++) {
		for (size_t j = i; j > 0 && rdata_cmp(&s->keys[j - 1], &s->keys[j]) > 0; j--) {
			kasp_skr_rdata_t tmp = s->keys[j];
			s->keys[j] = s->keys[j - 1];
			s->keys[j - 1] = tmp;
			bool b = sign[j];
			sign[j] = sign[j - 1];
			sign[j - 1] = b;
		}
	}
	s->nsigners = 0;
	for (size_t i = 0; i < s->nkeys; i++) {
		if (sign[i]) {
			s->signers[s->nsigners++] = (uint8_t)i;
		}
	}
}

int kasp_skr_plan(const kasp_keyset_t *set, const kasp_policy_t *policy,
		  const kasp_skr_plan_conf_t *conf, kasp_skr_generate_fn generate, void *arg,
		  tandem_diag_t *diag, kasp_skr_t *out)
{
	if (set == NULL || policy == NULL || conf == NULL || generate == NULL || out == NULL ||
	    conf->slots == 0 || conf->slots > KASP_SKR_SLOTS_MAX || conf->slot_length == 0 ||
	    conf->start < conf->inception_offset ||
	    conf->start + (uint64_t)conf->slots * conf->slot_length + conf->overlap > UINT32_MAX) {
		return TANDEM_EINVAL;
	}
	int ret = TANDEM_ENOMEM;
	plan_t p = {.policy = policy, .generate = generate, .arg = arg, .diag = diag};
	kasp_skr_t *skr = calloc(1, sizeof(*skr));
	p.set = malloc(sizeof(*p.set));
	if (skr == NULL || p.set == NULL) {
		goto out;
	}
	memcpy(p.set, set, sizeof(*p.set));
	snprintf(skr->zone, sizeof(skr->zone), "%s", set->zone);
	for (unsigned i = 0; i < conf->slots; i++) {
		kasp_skr_slot_t *s = &skr->slots[i];
		s->start = conf->start + (uint64_t)i * conf->slot_length;
		s->end = s->start + conf->slot_length;
		s->inception = (uint32_t)(s->start - conf->inception_offset);
		s->expiration = (uint32_t)(s->end + conf->overlap);
		s->ttl = policy->ttl_dnskey;
		/* every event inside the slot, the slot's start included */
		uint64_t t = s->start;
		for (int guard = 0; guard < 10000; guard++) {
			ret = plan_step(&p, t);
			if (ret == TANDEM_OK) {
				ret = plan_collect(&p, s);
			}
			if (ret != TANDEM_OK) {
				goto out;
			}
			if (p.step.next == 0 || p.step.next <= t || p.step.next >= s->end) {
				break;
			}
			t = p.step.next;
		}
		if (s->nsigners == 0) {
			tandem_diag_add(diag, TANDEM_EPERM,
					"slot %u: no KSK signs the DNSKEY RRset (import the "
					"offline KSK's DNSKEY first)",
					i + 1);
			ret = TANDEM_EPERM;
			goto out;
		}
		slot_sort(s);
		skr->nslots++;
	}
	memcpy(out, skr, sizeof(*skr));
	ret = TANDEM_OK;
out:
	free(p.set);
	free(skr);
	return ret;
}

/* ---- the checks ---- */

int kasp_skr_rrsig_verify(const uint8_t *zone, const kasp_skr_slot_t *slot,
			  const kasp_skr_rdata_t *rrsig, const kasp_skr_rdata_t *key)
{
	if (zone == NULL || slot == NULL || rrsig == NULL || key == NULL) {
		return TANDEM_EINVAL;
	}
	size_t zlen = dns_name_len(zone, DNS_NAME_MAXLEN);
	if (zlen == 0 || rrsig->len < RRSIG_FIXED + zlen) {
		return TANDEM_ESYNTAX;
	}
	/* the signer name must be the apex, uncompressed and lowercase (RFC 4034 3.1.7) */
	if (memcmp(rrsig->data + RRSIG_FIXED, zone, zlen) != 0) {
		return TANDEM_ESYNTAX;
	}
	size_t fixed = RRSIG_FIXED + zlen;
	size_t cap = fixed;
	for (size_t k = 0; k < slot->nkeys; k++) {
		cap += zlen + 10 + slot->keys[k].len;
	}
	uint8_t *data = malloc(cap);
	if (data == NULL) {
		return TANDEM_ENOMEM;
	}
	size_t n = 0;
	memcpy(data, rrsig->data, fixed);
	n = fixed;
	uint32_t ttl = rd32(rrsig->data + 4);
	/* the slot's keys are in canonical order already (kasp_skr_decode checks it) */
	for (size_t k = 0; k < slot->nkeys; k++) {
		memcpy(data + n, zone, zlen);
		n += zlen;
		uint8_t hdr[10] = {0,
				   48,
				   0,
				   1,
				   (uint8_t)(ttl >> 24),
				   (uint8_t)(ttl >> 16),
				   (uint8_t)(ttl >> 8),
				   (uint8_t)ttl,
				   (uint8_t)(slot->keys[k].len >> 8),
				   (uint8_t)slot->keys[k].len};
		memcpy(data + n, hdr, sizeof(hdr));
		n += sizeof(hdr);
		memcpy(data + n, slot->keys[k].data, slot->keys[k].len);
		n += slot->keys[k].len;
	}
	crypto_pubkey_t *pk = NULL;
	int ret = crypto_pubkey_from_dnskey(key->data, key->len, &pk);
	if (ret == TANDEM_OK) {
		ret = crypto_verify(pk, data, n, rrsig->data + fixed, rrsig->len - fixed);
	}
	crypto_pubkey_free(pk);
	free(data);
	return ret;
}

static bool slot_has_key(const kasp_skr_slot_t *s, const kasp_skr_rdata_t *key)
{
	for (size_t k = 0; k < s->nkeys; k++) {
		if (rdata_cmp(&s->keys[k], key) == 0) {
			return true;
		}
	}
	return false;
}

/* Checks one response slot against its request slot; returns the number of problems. */
static size_t check_slot(const uint8_t *zone, size_t i, const kasp_skr_slot_t *q,
			 const kasp_skr_slot_t *r, tandem_diag_t *diag)
{
	size_t bad = 0;
	if (q->start != r->start || q->end != r->end || q->inception != r->inception ||
	    q->expiration != r->expiration || q->ttl != r->ttl) {
		tandem_diag_add(diag, TANDEM_EPERM,
				"slot %zu: times or TTL differ from the request (expired or "
				"another period's slot?)",
				i + 1);
		return 1;
	}
	bool same = q->nkeys == r->nkeys;
	for (size_t k = 0; same && k < q->nkeys; k++) {
		same = slot_has_key(r, &q->keys[k]);
	}
	if (!same) {
		tandem_diag_add(diag, TANDEM_EPERM,
				"slot %zu: the DNSKEY RRset is not the requested one (%zu keys, "
				"%zu requested)",
				i + 1, r->nkeys, q->nkeys);
		return 1;
	}
	bool signed_by[KASP_SKR_KEYS_MAX] = {false};
	unsigned labels = dns_name_labels(zone);
	for (size_t g = 0; g < r->nsigs; g++) {
		const kasp_skr_rdata_t *sig = &r->sigs[g];
		const uint8_t *d = sig->data;
		uint16_t tag = rd16(d + 16);
		if (rd16(d) != 48 || d[3] != labels || rd32(d + 4) != q->ttl ||
		    rd32(d + 8) != q->expiration || rd32(d + 12) != q->inception) {
			tandem_diag_add(diag, TANDEM_EPERM,
					"slot %zu: RRSIG %zu (key tag %u) is not over this slot's "
					"DNSKEY RRset with the requested window and TTL",
					i + 1, g + 1, tag);
			bad++;
			continue;
		}
		bool found = false, valid = false;
		for (size_t j = 0; j < q->nsigners && !valid; j++) {
			const kasp_skr_rdata_t *key = &q->keys[q->signers[j]];
			if (crypto_key_tag(key->data, key->len) != tag || key->data[3] != d[2]) {
				continue;
			}
			found = true;
			if (kasp_skr_rrsig_verify(zone, q, sig, key) == TANDEM_OK) {
				valid = true;
				signed_by[q->signers[j]] = true;
			}
		}
		if (!valid) {
			tandem_diag_add(diag, TANDEM_EPERM, "slot %zu: RRSIG %zu (key tag %u) %s",
					i + 1, g + 1, tag,
					found ? "does not verify" : "is not by a requested KSK");
			bad++;
		}
	}
	for (size_t j = 0; j < q->nsigners; j++) {
		const kasp_skr_rdata_t *key = &q->keys[q->signers[j]];
		if (!signed_by[q->signers[j]]) {
			tandem_diag_add(diag, TANDEM_EPERM,
					"slot %zu: no valid RRSIG by KSK %u (key tag)", i + 1,
					crypto_key_tag(key->data, key->len));
			bad++;
		}
	}
	return bad;
}

int kasp_skr_check(const kasp_skr_t *request, const uint8_t request_sha256[32],
		   const kasp_skr_t *response, uint64_t now, tandem_diag_t *diag)
{
	if (request == NULL || request_sha256 == NULL || response == NULL || request->response ||
	    !response->response || request->nslots == 0 || request->nslots > KASP_SKR_SLOTS_MAX) {
		return TANDEM_EINVAL;
	}
	if (strcmp(request->zone, response->zone) != 0) {
		tandem_diag_add(diag, TANDEM_EPERM, "the response is for zone %s, not %s",
				response->zone, request->zone);
		return TANDEM_EPERM;
	}
	if (memcmp(request->request_id, response->request_id, KASP_SKR_ID_LEN) != 0) {
		tandem_diag_add(diag, TANDEM_EPERM, "the response answers another request id");
		return TANDEM_EPERM;
	}
	if (memcmp(request_sha256, response->request_sha256, 32) != 0) {
		tandem_diag_add(diag, TANDEM_EPERM,
				"the response was signed for a request with the same id but other "
				"contents (hash differs)");
		return TANDEM_EPERM;
	}
	uint8_t zone[DNS_NAME_MAXLEN];
	size_t zlen = 0;
	if (dns_name_from_str(request->zone, NULL, zone, &zlen) != TANDEM_OK) {
		return TANDEM_EINVAL;
	}
	size_t bad = 0;
	for (size_t i = 0; i < request->nslots; i++) {
		if (i >= response->nslots) {
			tandem_diag_add(diag, TANDEM_EPERM,
					"slot %zu (%" PRIu64 " .. %" PRIu64 ") is missing", i + 1,
					request->slots[i].start, request->slots[i].end);
			bad++;
			continue;
		}
		bad += check_slot(zone, i, &request->slots[i], &response->slots[i], diag);
	}
	if (response->nslots > request->nslots) {
		tandem_diag_add(diag, TANDEM_EPERM, "the response has %zu slots, %zu requested",
				response->nslots, request->nslots);
		bad++;
	}
	uint64_t end = request->slots[request->nslots - 1].end;
	if (end <= now) {
		tandem_diag_add(diag, TANDEM_EPERM,
				"the period ended (%" PRIu64 "): every slot has expired", end);
		bad++;
	}
	return bad == 0 ? TANDEM_OK : TANDEM_EPERM;
}
