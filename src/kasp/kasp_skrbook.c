/* The offline-KSK book of a zone in a cluster: the open ask, the requests the lease holder made
 * and the responses imported for them (docs/keys.md, "Offline KSK in a cluster"). */
#include "kasp_skr.h"

#include "skr.pb-c.h"
#include "tandem_error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ASK_PERIOD_MAX (400u * 86400u)

static void pair_clear(kasp_skr_pair_t *p)
{
	free(p->request);
	free(p->response);
	memset(p, 0, sizeof(*p));
}

int kasp_skrbook_init(kasp_skrbook_t *book, const char *zone)
{
	if (book == NULL || zone == NULL || *zone == '\0' || strlen(zone) >= sizeof(book->zone)) {
		return TANDEM_EINVAL;
	}
	memset(book, 0, sizeof(*book));
	memcpy(book->zone, zone, strlen(zone) + 1);
	return TANDEM_OK;
}

void kasp_skrbook_deinit(kasp_skrbook_t *book)
{
	if (book == NULL) {
		return;
	}
	for (size_t i = 0; i < book->npairs && i < KASP_SKRBOOK_PAIRS; i++) {
		pair_clear(&book->pairs[i]);
	}
	memset(book, 0, sizeof(*book));
}

int kasp_skrbook_pack(const kasp_skrbook_t *book, uint8_t **out, size_t *len)
{
	if (book == NULL || out == NULL || len == NULL || book->npairs > KASP_SKRBOOK_PAIRS) {
		return TANDEM_EINVAL;
	}
	Tandem__SkrBook m;
	Tandem__SkrAsk ask;
	Tandem__SkrPair pm[KASP_SKRBOOK_PAIRS];
	Tandem__SkrPair *pp[KASP_SKRBOOK_PAIRS];
	tandem__skr_book__init(&m);
	m.version = KASP_SKRBOOK_VERSION;
	m.zone = (char *)book->zone;
	if (book->has_ask) {
		const kasp_skr_ask_t *a = &book->ask;
		tandem__skr_ask__init(&ask);
		ask.ask_id =
		    (ProtobufCBinaryData){.len = KASP_SKR_ID_LEN, .data = (uint8_t *)a->id};
		ask.start = a->plan.start;
		ask.slot_length = a->plan.slot_length;
		ask.slots = a->plan.slots;
		ask.inception_offset = a->plan.inception_offset;
		ask.overlap = a->plan.overlap;
		ask.asked_at = a->asked_at;
		ask.refused = (char *)a->refused;
		m.ask = &ask;
	}
	for (size_t i = 0; i < book->npairs; i++) {
		const kasp_skr_pair_t *p = &book->pairs[i];
		tandem__skr_pair__init(&pm[i]);
		pm[i].request = (ProtobufCBinaryData){.len = p->request_len, .data = p->request};
		pm[i].response = (ProtobufCBinaryData){.len = p->response_len, .data = p->response};
		pp[i] = &pm[i];
	}
	m.n_pairs = book->npairs;
	m.pairs = pp;
	size_t n = tandem__skr_book__get_packed_size(&m);
	if (n > KASP_SKRBOOK_MAX) {
		return TANDEM_ERANGE;
	}
	uint8_t *buf = malloc(n ? n : 1);
	if (buf == NULL) {
		return TANDEM_ENOMEM;
	}
	tandem__skr_book__pack(&m, buf);
	*out = buf;
	*len = n;
	return TANDEM_OK;
}

/* Decodes a pair's request and checks it belongs to zone. */
static int request_read(const uint8_t *buf, size_t len, const char *zone, tandem_diag_t *diag,
			kasp_skr_t **out)
{
	int ret = kasp_skr_decode(buf, len, false, diag, out);
	if (ret == TANDEM_OK && strcmp((*out)->zone, zone) != 0) {
		tandem_diag_add(diag, TANDEM_ESYNTAX, "a request of zone %s, not %s", (*out)->zone,
				zone);
		kasp_skr_free(*out);
		*out = NULL;
		ret = TANDEM_ESYNTAX;
	}
	return ret;
}

/* Decodes resp and checks it answers the request req_buf (exact bytes, decoded as req). */
static int response_check(const uint8_t *req_buf, size_t req_len, const kasp_skr_t *req,
			  const uint8_t *resp_buf, size_t resp_len, uint64_t now,
			  tandem_diag_t *diag)
{
	kasp_skr_t *resp = NULL;
	uint8_t hash[32];
	int ret = kasp_skr_decode(resp_buf, resp_len, true, diag, &resp);
	if (ret == TANDEM_OK) {
		ret = kasp_skr_sha256(req_buf, req_len, hash);
	}
	if (ret == TANDEM_OK) {
		ret = kasp_skr_check(req, hash, resp, now, diag);
	}
	kasp_skr_free(resp);
	return ret;
}

static const char *ask_check(const Tandem__SkrAsk *a)
{
	if (a->ask_id.len != KASP_SKR_ID_LEN) {
		return "bad ask id";
	}
	if (a->slots == 0 || a->slots > KASP_SKR_SLOTS_MAX) {
		return "the ask's slot count is not 1..64";
	}
	if (a->slot_length < 3600 || (uint64_t)a->slot_length * a->slots > ASK_PERIOD_MAX) {
		return "the ask's slots are shorter than 1h or its period longer than 400d";
	}
	if (a->start == 0 || a->start > UINT32_MAX) {
		return "the ask's start is not a time";
	}
	if (a->refused != NULL && strlen(a->refused) >= KASP_SKR_REFUSED_MAX) {
		return "the ask's refusal text is too long";
	}
	return NULL;
}

static uint8_t *dup_bytes(const ProtobufCBinaryData *d)
{
	uint8_t *p = malloc(d->len ? d->len : 1);
	if (p != NULL && d->len > 0) {
		memcpy(p, d->data, d->len);
	}
	return p;
}

int kasp_skrbook_unpack(const uint8_t *buf, size_t len, const char *zone, tandem_diag_t *diag,
			kasp_skrbook_t *out)
{
	if (out == NULL) {
		return TANDEM_EINVAL;
	}
	/* emptied before any refusal: callers deinit it whatever the result */
	memset(out, 0, sizeof(*out));
	if (buf == NULL) {
		return TANDEM_EINVAL;
	}
	if (len > KASP_SKRBOOK_MAX) {
		tandem_diag_add(diag, TANDEM_ESYNTAX, "SKR book: %zu bytes, at most %u", len,
				KASP_SKRBOOK_MAX);
		return TANDEM_ESYNTAX;
	}
	Tandem__SkrBook *m = tandem__skr_book__unpack(NULL, len, buf);
	if (m == NULL) {
		tandem_diag_add(diag, TANDEM_ESYNTAX, "SKR book: not one, or a truncated one");
		return TANDEM_ESYNTAX;
	}
	kasp_skrbook_t *b = calloc(1, sizeof(*b));
	kasp_skr_t *reqs[KASP_SKRBOOK_PAIRS] = {NULL};
	int ret = TANDEM_ENOMEM;
	if (b == NULL) {
		goto out;
	}
	ret = TANDEM_ESYNTAX;
	if (m->version != KASP_SKRBOOK_VERSION) {
		tandem_diag_add(diag, TANDEM_ERANGE,
				"SKR book of format version %" PRIu32 " (we read %d)", m->version,
				KASP_SKRBOOK_VERSION);
		ret = TANDEM_ERANGE;
		goto out;
	}
	if (m->zone == NULL || kasp_skrbook_init(b, m->zone) != TANDEM_OK ||
	    (zone != NULL && strcmp(m->zone, zone) != 0)) {
		tandem_diag_add(diag, ret, "SKR book: of zone '%.80s', not %s",
				m->zone != NULL ? m->zone : "", zone != NULL ? zone : "a zone");
		goto out;
	}
	if (m->ask != NULL) {
		const char *why = ask_check(m->ask);
		if (why != NULL) {
			tandem_diag_add(diag, ret, "SKR book: %s", why);
			goto out;
		}
		kasp_skr_ask_t *a = &b->ask;
		memcpy(a->id, m->ask->ask_id.data, KASP_SKR_ID_LEN);
		a->plan = (kasp_skr_plan_conf_t){.start = m->ask->start,
						 .slot_length = m->ask->slot_length,
						 .slots = m->ask->slots,
						 .inception_offset = m->ask->inception_offset,
						 .overlap = m->ask->overlap};
		a->asked_at = m->ask->asked_at;
		snprintf(a->refused, sizeof(a->refused), "%s",
			 m->ask->refused != NULL ? m->ask->refused : "");
		b->has_ask = true;
	}
	if (m->n_pairs > KASP_SKRBOOK_PAIRS) {
		tandem_diag_add(diag, ret, "SKR book: %zu requests, at most %d", m->n_pairs,
				KASP_SKRBOOK_PAIRS);
		goto out;
	}
	for (size_t i = 0; i < m->n_pairs; i++) {
		const Tandem__SkrPair *p = m->pairs[i];
		if (request_read(p->request.data, p->request.len, b->zone, diag, &reqs[i]) !=
		    TANDEM_OK) {
			tandem_diag_add(diag, ret, "SKR book: request %zu refused", i + 1);
			goto out;
		}
		for (size_t j = 0; j < i; j++) {
			if (memcmp(reqs[j]->request_id, reqs[i]->request_id, KASP_SKR_ID_LEN) ==
			    0) {
				tandem_diag_add(diag, ret,
						"SKR book: requests %zu and %zu share an id", j + 1,
						i + 1);
				goto out;
			}
		}
		if (p->response.len > 0) {
			int r = response_check(p->request.data, p->request.len, reqs[i],
					       p->response.data, p->response.len, 0, diag);
			if (r != TANDEM_OK) {
				tandem_diag_add(diag, r,
						"SKR book: the response to request %zu refused",
						i + 1);
				ret = r == TANDEM_EPERM ? TANDEM_EPERM : ret;
				goto out;
			}
		}
		kasp_skr_pair_t *bp = &b->pairs[i];
		bp->request = dup_bytes(&p->request);
		bp->request_len = p->request.len;
		if (p->response.len > 0) {
			bp->response = dup_bytes(&p->response);
			bp->response_len = p->response.len;
		}
		b->npairs = i + 1;
		if (bp->request == NULL || (p->response.len > 0 && bp->response == NULL)) {
			ret = TANDEM_ENOMEM;
			goto out;
		}
	}
	*out = *b;
	b->npairs = 0; /* moved */
	ret = TANDEM_OK;
out:
	for (size_t i = 0; i < KASP_SKRBOOK_PAIRS; i++) {
		kasp_skr_free(reqs[i]);
	}
	kasp_skrbook_deinit(b);
	free(b);
	tandem__skr_book__free_unpacked(m, NULL);
	return ret;
}

int kasp_skrbook_find(const kasp_skrbook_t *book, const uint8_t id[KASP_SKR_ID_LEN])
{
	for (size_t i = 0; book != NULL && id != NULL && i < book->npairs; i++) {
		kasp_skr_t *r = NULL;
		if (kasp_skr_decode(book->pairs[i].request, book->pairs[i].request_len, false, NULL,
				    &r) != TANDEM_OK) {
			continue;
		}
		bool same = memcmp(r->request_id, id, KASP_SKR_ID_LEN) == 0;
		kasp_skr_free(r);
		if (same) {
			return (int)i;
		}
	}
	return -1;
}

/* Drops the pairs whose period ended at now. */
static void prune(kasp_skrbook_t *b, uint64_t now)
{
	size_t w = 0;
	for (size_t i = 0; i < b->npairs; i++) {
		kasp_skr_t *r = NULL;
		bool ended = kasp_skr_decode(b->pairs[i].request, b->pairs[i].request_len, false,
					     NULL, &r) != TANDEM_OK ||
			     r->slots[r->nslots - 1].end <= now;
		kasp_skr_free(r);
		if (ended) {
			pair_clear(&b->pairs[i]);
		} else {
			b->pairs[w++] = b->pairs[i];
		}
	}
	for (size_t i = w; i < b->npairs; i++) {
		memset(&b->pairs[i], 0, sizeof(b->pairs[i]));
	}
	b->npairs = w;
}

static void drop_pair(kasp_skrbook_t *b, size_t i)
{
	pair_clear(&b->pairs[i]);
	memmove(&b->pairs[i], &b->pairs[i + 1], (b->npairs - i - 1) * sizeof(b->pairs[0]));
	b->npairs--;
	memset(&b->pairs[b->npairs], 0, sizeof(b->pairs[0]));
}

int kasp_skrbook_add_request(kasp_skrbook_t *book, const uint8_t *req, size_t len, uint64_t now,
			     tandem_diag_t *diag)
{
	if (book == NULL || req == NULL) {
		return TANDEM_EINVAL;
	}
	kasp_skr_t *r = NULL;
	int ret = request_read(req, len, book->zone, diag, &r);
	if (ret != TANDEM_OK) {
		return ret;
	}
	uint8_t id[KASP_SKR_ID_LEN];
	memcpy(id, r->request_id, sizeof(id));
	kasp_skr_free(r);
	uint8_t *copy = malloc(len ? len : 1);
	if (copy == NULL) {
		return TANDEM_ENOMEM;
	}
	memcpy(copy, req, len);
	prune(book, now);
	int same = kasp_skrbook_find(book, id);
	if (same >= 0) {
		drop_pair(book, (size_t)same);
	}
	for (size_t i = 0; i < book->npairs && book->npairs == KASP_SKRBOOK_PAIRS; i++) {
		if (book->pairs[i].response == NULL) {
			drop_pair(book, i); /* pairs are kept oldest first */
		}
	}
	if (book->npairs == KASP_SKRBOOK_PAIRS) {
		free(copy);
		tandem_diag_add(diag, TANDEM_ERANGE,
				"zone %s: %d signed periods are still running: no room for another "
				"request until one ends",
				book->zone, KASP_SKRBOOK_PAIRS);
		return TANDEM_ERANGE;
	}
	book->pairs[book->npairs++] = (kasp_skr_pair_t){.request = copy, .request_len = len};
	return TANDEM_OK;
}

int kasp_skrbook_add_response(kasp_skrbook_t *book, const uint8_t *resp, size_t len, uint64_t now,
			      tandem_diag_t *diag, size_t *index)
{
	if (book == NULL || resp == NULL || index == NULL) {
		return TANDEM_EINVAL;
	}
	kasp_skr_t *s = NULL;
	int ret = kasp_skr_decode(resp, len, true, diag, &s);
	if (ret != TANDEM_OK) {
		return ret;
	}
	int i = strcmp(s->zone, book->zone) == 0 ? kasp_skrbook_find(book, s->request_id) : -1;
	kasp_skr_free(s);
	if (i < 0) {
		tandem_diag_add(
		    diag, TANDEM_EPERM,
		    "the response answers no request of %s in the cluster (another zone, "
		    "a request id never made here, or one whose period has ended)",
		    book->zone);
		return TANDEM_EPERM;
	}
	kasp_skr_pair_t *p = &book->pairs[i];
	kasp_skr_t *q = NULL;
	ret = request_read(p->request, p->request_len, book->zone, diag, &q);
	if (ret == TANDEM_OK) {
		ret = response_check(p->request, p->request_len, q, resp, len, now, diag);
	}
	kasp_skr_free(q);
	if (ret != TANDEM_OK) {
		return ret;
	}
	uint8_t *copy = malloc(len ? len : 1);
	if (copy == NULL) {
		return TANDEM_ENOMEM;
	}
	memcpy(copy, resp, len);
	free(p->response);
	p->response = copy;
	p->response_len = len;
	/* the pair is answered and running (the check refused an ended period): it stays */
	uint8_t id[KASP_SKR_ID_LEN];
	kasp_skr_t *r = NULL;
	if (kasp_skr_decode(p->request, p->request_len, false, NULL, &r) != TANDEM_OK) {
		return TANDEM_EINTERNAL;
	}
	memcpy(id, r->request_id, sizeof(id));
	kasp_skr_free(r);
	prune(book, now);
	i = kasp_skrbook_find(book, id);
	if (i < 0) {
		return TANDEM_EINTERNAL;
	}
	*index = (size_t)i;
	return TANDEM_OK;
}

static bool slot_has(const kasp_skr_slot_t *s, const kasp_skr_rdata_t *k)
{
	for (size_t i = 0; i < s->nkeys; i++) {
		if (s->keys[i].len == k->len && memcmp(s->keys[i].data, k->data, k->len) == 0) {
			return true;
		}
	}
	return false;
}

int kasp_skrbook_pick(const kasp_skrbook_t *book, uint64_t t, const uint8_t *want_id,
		      const kasp_skr_rdata_t *need, size_t nneed, tandem_diag_t *diag,
		      kasp_skr_t **out)
{
	if (book == NULL || out == NULL || (nneed > 0 && need == NULL)) {
		return TANDEM_EINVAL;
	}
	kasp_skr_t *best = NULL;
	size_t covering = 0;
	for (size_t i = 0; i < book->npairs; i++) {
		const kasp_skr_pair_t *p = &book->pairs[i];
		kasp_skr_t *s = NULL;
		if (p->response == NULL ||
		    kasp_skr_decode(p->response, p->response_len, true, NULL, &s) != TANDEM_OK) {
			continue;
		}
		const kasp_skr_slot_t *slot = kasp_skr_slot_at(s, t);
		bool fits = slot != NULL;
		covering += fits;
		if (want_id != NULL) {
			fits = fits && memcmp(s->request_id, want_id, KASP_SKR_ID_LEN) == 0;
		}
		for (size_t k = 0; k < nneed && fits && want_id == NULL; k++) {
			fits = slot_has(slot, &need[k]);
		}
		if (fits && (best == NULL || s->created > best->created)) {
			kasp_skr_free(best);
			best = s;
		} else {
			kasp_skr_free(s);
		}
	}
	if (best == NULL) {
		tandem_diag_add(diag, TANDEM_ENOENT,
				covering == 0 ? "no imported SKR has a slot for %" PRIu64
				: want_id != NULL
				    ? "the SKR the commit used has no slot for %" PRIu64
				    : "no SKR slot for %" PRIu64 " holds every signing key (a key "
				      "not in the KSR: an unscheduled KSK ceremony is needed)",
				t);
		return TANDEM_ENOENT;
	}
	*out = best;
	return TANDEM_OK;
}

uint64_t kasp_skrbook_covered_until(const kasp_skrbook_t *book, uint64_t t)
{
	uint64_t until = t;
	bool moved = true;
	while (moved && book != NULL) {
		moved = false;
		for (size_t i = 0; i < book->npairs; i++) {
			const kasp_skr_pair_t *p = &book->pairs[i];
			kasp_skr_t *s = NULL;
			if (p->response == NULL || kasp_skr_decode(p->response, p->response_len,
								   true, NULL, &s) != TANDEM_OK) {
				continue;
			}
			const kasp_skr_slot_t *slot = kasp_skr_slot_at(s, until);
			if (slot != NULL) {
				until = s->slots[s->nslots - 1].end;
				moved = true;
			}
			kasp_skr_free(s);
		}
	}
	return until;
}
