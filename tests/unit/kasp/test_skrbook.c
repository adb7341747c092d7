/* The SKR book of an offline-KSK zone in a cluster: packing, the checks on an untrusted book, the
 * requests and responses it records, and which response signs at a given time. */
#include "kasp_skr.h"
#include "skr.pb-c.h"
#include "skrtest.h"
#include "tandem_error.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY  SKRT_DAY
#define P1   (SKRT_T0 + 15 * DAY) /* the first period's start; periods are 9 slots of 10 days */
#define SPAN (90 * DAY)

typedef struct blob {
	uint8_t *data;
	size_t len;
} blob_t;

static void blob_free(blob_t *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

/* Per test: a diag, the ceremony's KSK on a private token, and zone "example." planned to T0. */
typedef struct fx {
	tandem_diag_t *diag;
	skrt_ceremony_t cer;
	kasp_policy_t policy;
	kasp_keyset_t *set;
} fx_t;

static void fx_open(fx_t *f)
{
	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(tandem_diag_new(&f->diag), TANDEM_OK);
	skrt_ceremony_open(&f->cer, f->diag);
	kasp_policy_defaults(&f->policy);
	f->set = skrt_offline_zone(&f->policy, f->cer.ksk, f->cer.ksk_len);
}

static void fx_close(fx_t *f)
{
	free(f->set);
	skrt_ceremony_close(&f->cer);
	tandem_diag_free(f->diag);
}

/* The plan of `slots` slots of 10 days from start, as a request with id (16 x id) made at created.
 */
static kasp_skr_t *plan(fx_t *f, uint64_t start, unsigned slots, uint8_t id, uint64_t created)
{
	kasp_skr_plan_conf_t conf = SKRT_QUARTER;
	conf.start = start;
	conf.slots = slots;
	kasp_skr_t *q = calloc(1, sizeof(*q));
	ck_assert_ptr_nonnull(q);
	size_t made = 0;
	ck_assert_int_eq(
	    kasp_skr_plan(f->set, &f->policy, &conf, skrt_fake_generate, &made, f->diag, q),
	    TANDEM_OK);
	memset(q->request_id, id, KASP_SKR_ID_LEN);
	q->created = created;
	return q;
}

static blob_t encode(const kasp_skr_t *skr)
{
	blob_t b = {0};
	ck_assert_int_eq(kasp_skr_encode(skr, &b.data, &b.len), TANDEM_OK);
	return b;
}

/* The request file of a 9-slot period from start. */
static blob_t req_make(fx_t *f, uint64_t start, uint8_t id, uint64_t created)
{
	kasp_skr_t *q = plan(f, start, 9, id, created);
	blob_t b = encode(q);
	kasp_skr_free(q);
	return b;
}

/* The ceremony's response to the request file req, signed at signed_at. */
static blob_t resp_make(fx_t *f, const blob_t *req, uint64_t signed_at)
{
	kasp_skr_t *q = NULL;
	ck_assert_int_eq(kasp_skr_decode(req->data, req->len, false, f->diag, &q), TANDEM_OK);
	kasp_skr_t *r = calloc(1, sizeof(*r));
	ck_assert_ptr_nonnull(r);
	skrt_sign_all(f->cer.tok, f->cer.key, q, r, f->cer.arena);
	ck_assert_int_eq(kasp_skr_sha256(req->data, req->len, r->request_sha256), TANDEM_OK);
	r->created = signed_at;
	blob_t b = encode(r);
	kasp_skr_free(r);
	kasp_skr_free(q);
	return b;
}

/* resp with the last byte of its first RRSIG (signature bytes) flipped. */
static blob_t resp_flip(fx_t *f, const blob_t *resp)
{
	kasp_skr_t *r = NULL;
	ck_assert_int_eq(kasp_skr_decode(resp->data, resp->len, true, f->diag, &r), TANDEM_OK);
	kasp_skr_rdata_t *sig = &r->slots[0].sigs[0];
	sig->data[sig->len - 1] ^= 1;
	blob_t b = encode(r);
	kasp_skr_free(r);
	return b;
}

/* req made for another zone (same slots and id). */
static blob_t req_rezone(fx_t *f, const blob_t *req, const char *zone)
{
	kasp_skr_t *q = NULL;
	ck_assert_int_eq(kasp_skr_decode(req->data, req->len, false, f->diag, &q), TANDEM_OK);
	snprintf(q->zone, sizeof(q->zone), "%s", zone);
	blob_t b = encode(q);
	kasp_skr_free(q);
	return b;
}

static int rdata_cmp(const kasp_skr_rdata_t *a, const kasp_skr_rdata_t *b)
{
	int c = memcmp(a->data, b->data, a->len < b->len ? a->len : b->len);
	return c != 0 ? c : (a->len > b->len) - (a->len < b->len);
}

/* Adds key to every slot's DNSKEY RRset in canonical order, keeping the signer indexes right. */
static void skr_add_key(kasp_skr_t *skr, const kasp_skr_rdata_t *key)
{
	for (size_t i = 0; i < skr->nslots; i++) {
		kasp_skr_slot_t *s = &skr->slots[i];
		ck_assert_uint_lt(s->nkeys, KASP_SKR_KEYS_MAX);
		size_t at = 0;
		while (at < s->nkeys && rdata_cmp(&s->keys[at], key) < 0) {
			at++;
		}
		memmove(&s->keys[at + 1], &s->keys[at], (s->nkeys - at) * sizeof(s->keys[0]));
		s->keys[at] = *key;
		s->nkeys++;
		for (size_t j = 0; j < s->nsigners; j++) {
			s->signers[j] += s->signers[j] >= at;
		}
	}
}

static kasp_skr_rdata_t fake_key(uint16_t flags, uint8_t n)
{
	kasp_skr_rdata_t k = {0};
	size_t len = 0;
	skrt_fake_dnskey(flags, n, k.data, &len);
	k.len = (uint16_t)len;
	return k;
}

static blob_t book_pack(const kasp_skrbook_t *book)
{
	blob_t b = {0};
	ck_assert_int_eq(kasp_skrbook_pack(book, &b.data, &b.len), TANDEM_OK);
	return b;
}

/* True if the book packs to exactly these bytes (it has not changed). */
static bool book_is(const kasp_skrbook_t *book, const blob_t *packed)
{
	blob_t now = book_pack(book);
	bool same = now.len == packed->len && memcmp(now.data, packed->data, now.len) == 0;
	blob_free(&now);
	return same;
}

static bool bytes_eq(const uint8_t *a, size_t alen, const blob_t *b)
{
	return a != NULL && alen == b->len && memcmp(a, b->data, alen) == 0;
}

/* True if some message in diag contains text. */
static bool diag_has(const tandem_diag_t *diag, const char *text)
{
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		if (strstr(tandem_diag_msg(diag, i), text) != NULL) {
			return true;
		}
	}
	return false;
}

static const char *diag_last(const tandem_diag_t *diag)
{
	size_t n = tandem_diag_kept(diag);
	return n > 0 ? tandem_diag_msg(diag, n - 1) : "";
}

static uint8_t *id_of(uint8_t id, uint8_t out[KASP_SKR_ID_LEN])
{
	memset(out, id, KASP_SKR_ID_LEN);
	return out;
}

/* ---- init, pack, unpack ---- */

START_TEST(init_pack_args)
{
	kasp_skrbook_t b;
	char longname[KASP_ZONE_MAX + 1];
	memset(longname, 'a', sizeof(longname) - 2);
	longname[sizeof(longname) - 2] = '.';
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_eq(kasp_skrbook_init(NULL, "example."), TANDEM_EINVAL);
	ck_assert_int_eq(kasp_skrbook_init(&b, NULL), TANDEM_EINVAL);
	ck_assert_int_eq(kasp_skrbook_init(&b, longname), TANDEM_EINVAL);
	ck_assert_int_eq(kasp_skrbook_init(&b, ""), TANDEM_EINVAL);
	memset(&b, 0x5a, sizeof(b));
	ck_assert_int_eq(kasp_skrbook_init(&b, "example."), TANDEM_OK);
	ck_assert_str_eq(b.zone, "example.");
	ck_assert(!b.has_ask);
	ck_assert_uint_eq(b.npairs, 0);
	ck_assert_ptr_null(b.pairs[0].request);
	kasp_skrbook_deinit(NULL);

	uint8_t *out = NULL;
	size_t len = 0;
	ck_assert_int_eq(kasp_skrbook_pack(NULL, &out, &len), TANDEM_EINVAL);
	ck_assert_int_eq(kasp_skrbook_pack(&b, NULL, &len), TANDEM_EINVAL);
	ck_assert_int_eq(kasp_skrbook_pack(&b, &out, NULL), TANDEM_EINVAL);
	b.npairs = KASP_SKRBOOK_PAIRS + 1;
	ck_assert_int_eq(kasp_skrbook_pack(&b, &out, &len), TANDEM_EINVAL);
	ck_assert_ptr_null(out);
	b.npairs = 0;

	/* pack does not look inside the pairs: one too big for a coordinator message is ERANGE */
	b.pairs[0].request = calloc(1, KASP_SKRBOOK_MAX);
	ck_assert_ptr_nonnull(b.pairs[0].request);
	b.pairs[0].request_len = KASP_SKRBOOK_MAX;
	b.npairs = 1;
	ck_assert_int_eq(kasp_skrbook_pack(&b, &out, &len), TANDEM_ERANGE);
	ck_assert_ptr_null(out);
	b.pairs[0].request_len = KASP_SKRBOOK_MAX - 64; /* fits with the zone and the headers */
	ck_assert_int_eq(kasp_skrbook_pack(&b, &out, &len), TANDEM_OK);
	ck_assert_uint_le(len, KASP_SKRBOOK_MAX);
	free(out);
	kasp_skrbook_deinit(&b); /* frees the pair it owns */
	ck_assert_uint_eq(b.npairs, 0);
	ck_assert_ptr_null(b.pairs[0].request);
	ck_assert_str_eq(b.zone, "");
}
END_TEST

START_TEST(pack_unpack_round_trip)
{
	fx_t f;
	fx_open(&f);
	kasp_skrbook_t b, back, again;
	ck_assert_int_eq(kasp_skrbook_init(&b, "example."), TANDEM_OK);

	/* an empty book: the zone and nothing else */
	blob_t empty = book_pack(&b);
	memset(&back, 0x5a, sizeof(back));
	ck_assert_int_eq(kasp_skrbook_unpack(empty.data, empty.len, "example.", f.diag, &back),
			 TANDEM_OK);
	ck_assert_str_eq(back.zone, "example.");
	ck_assert(!back.has_ask);
	ck_assert_uint_eq(back.npairs, 0);
	kasp_skrbook_deinit(&back);
	blob_free(&empty);

	b.has_ask = true;
	memset(b.ask.id, 0xc4, KASP_SKR_ID_LEN);
	b.ask.id[15] = 0x01;
	b.ask.plan = (kasp_skr_plan_conf_t){.start = P1 + 2 * SPAN,
					    .slot_length = 7 * DAY,
					    .slots = 13,
					    .inception_offset = 7200,
					    .overlap = 4 * DAY};
	b.ask.asked_at = SKRT_T0 + 123;
	snprintf(b.ask.refused, sizeof(b.ask.refused), "the plan needs a new KSK at %u",
		 SKRT_T0 + 99);

	blob_t r1 = req_make(&f, P1, 1, SKRT_T0 + 1);
	blob_t r2 = req_make(&f, P1 + SPAN, 2, SKRT_T0 + 2);
	blob_t r3 = req_make(&f, P1, 3, SKRT_T0 + 3);
	blob_t s1 = resp_make(&f, &r1, SKRT_T0 + 10);
	blob_t s3 = resp_make(&f, &r3, SKRT_T0 + 30);
	ck_assert_int_eq(kasp_skrbook_add_request(&b, r1.data, r1.len, SKRT_T0, f.diag), TANDEM_OK);
	ck_assert_int_eq(kasp_skrbook_add_request(&b, r2.data, r2.len, SKRT_T0, f.diag), TANDEM_OK);
	ck_assert_int_eq(kasp_skrbook_add_request(&b, r3.data, r3.len, SKRT_T0, f.diag), TANDEM_OK);
	size_t idx = 99;
	ck_assert_int_eq(kasp_skrbook_add_response(&b, s1.data, s1.len, SKRT_T0, f.diag, &idx),
			 TANDEM_OK);
	ck_assert_uint_eq(idx, 0);
	ck_assert_int_eq(kasp_skrbook_add_response(&b, s3.data, s3.len, SKRT_T0, f.diag, &idx),
			 TANDEM_OK);
	ck_assert_uint_eq(idx, 2);

	blob_t packed = book_pack(&b);
	ck_assert_uint_le(packed.len, KASP_SKRBOOK_MAX);
	tandem_diag_clear(f.diag);
	memset(&back, 0x5a, sizeof(back));
	ck_assert_int_eq(kasp_skrbook_unpack(packed.data, packed.len, "example.", f.diag, &back),
			 TANDEM_OK);
	ck_assert_uint_eq(tandem_diag_count(f.diag), 0);
	ck_assert_str_eq(back.zone, "example.");
	ck_assert(back.has_ask);
	ck_assert_mem_eq(back.ask.id, b.ask.id, KASP_SKR_ID_LEN);
	ck_assert_uint_eq(back.ask.plan.start, P1 + 2 * SPAN);
	ck_assert_uint_eq(back.ask.plan.slot_length, 7 * DAY);
	ck_assert_uint_eq(back.ask.plan.slots, 13);
	ck_assert_uint_eq(back.ask.plan.inception_offset, 7200);
	ck_assert_uint_eq(back.ask.plan.overlap, 4 * DAY);
	ck_assert_uint_eq(back.ask.asked_at, SKRT_T0 + 123);
	ck_assert_str_eq(back.ask.refused, b.ask.refused);
	ck_assert_uint_eq(back.npairs, 3);
	ck_assert(bytes_eq(back.pairs[0].request, back.pairs[0].request_len, &r1));
	ck_assert(bytes_eq(back.pairs[0].response, back.pairs[0].response_len, &s1));
	ck_assert(bytes_eq(back.pairs[1].request, back.pairs[1].request_len, &r2));
	ck_assert_ptr_null(back.pairs[1].response);
	ck_assert_uint_eq(back.pairs[1].response_len, 0);
	ck_assert(bytes_eq(back.pairs[2].request, back.pairs[2].request_len, &r3));
	ck_assert(bytes_eq(back.pairs[2].response, back.pairs[2].response_len, &s3));
	/* the unpacked book owns copies: it outlives the packed bytes and the first book */
	ck_assert_ptr_ne(back.pairs[0].request, b.pairs[0].request);
	ck_assert_ptr_ne(back.pairs[0].response, b.pairs[0].response);
	blob_t kept = {malloc(packed.len), packed.len};
	memcpy(kept.data, packed.data, packed.len);
	blob_free(&packed);
	kasp_skrbook_deinit(&b);
	ck_assert(book_is(&back, &kept)); /* packing is deterministic */
	ck_assert_int_eq(kasp_skrbook_find(&back, id_of(3, (uint8_t[KASP_SKR_ID_LEN]){0})), 2);

	/* no zone expected: any zone's book; an ask refused with no text */
	back.ask.refused[0] = '\0';
	blob_t packed2 = book_pack(&back);
	ck_assert_int_eq(kasp_skrbook_unpack(packed2.data, packed2.len, NULL, f.diag, &again),
			 TANDEM_OK);
	ck_assert_str_eq(again.zone, "example.");
	ck_assert(again.has_ask);
	ck_assert_str_eq(again.ask.refused, "");
	ck_assert_uint_eq(again.npairs, 3);
	kasp_skrbook_deinit(&again);
	kasp_skrbook_deinit(&back);
	blob_free(&packed2);
	blob_free(&kept);
	blob_free(&r1);
	blob_free(&r2);
	blob_free(&r3);
	blob_free(&s1);
	blob_free(&s3);
	fx_close(&f);
}
END_TEST

/* A SkrBook message built by hand; resps[i].len == 0 means no response. */
static blob_t raw_book(uint32_t version, const char *zone, const Tandem__SkrAsk *ask, size_t n,
		       const blob_t *reqs, const blob_t *resps)
{
	Tandem__SkrBook m;
	Tandem__SkrPair pm[8];
	Tandem__SkrPair *pp[8];
	ck_assert_uint_le(n, 8);
	tandem__skr_book__init(&m);
	m.version = version;
	m.zone = (char *)zone;
	m.ask = (Tandem__SkrAsk *)ask;
	for (size_t i = 0; i < n; i++) {
		tandem__skr_pair__init(&pm[i]);
		pm[i].request = (ProtobufCBinaryData){.len = reqs[i].len, .data = reqs[i].data};
		if (resps != NULL) {
			pm[i].response =
			    (ProtobufCBinaryData){.len = resps[i].len, .data = resps[i].data};
		}
		pp[i] = &pm[i];
	}
	m.n_pairs = n;
	m.pairs = pp;
	blob_t b = {.len = tandem__skr_book__get_packed_size(&m)};
	b.data = malloc(b.len ? b.len : 1);
	ck_assert_ptr_nonnull(b.data);
	tandem__skr_book__pack(&m, b.data);
	return b;
}

static const uint8_t ASK_ID[KASP_SKR_ID_LEN] = {1, 2,  3,  4,  5,  6,  7,  8,
						9, 10, 11, 12, 13, 14, 15, 16};

static Tandem__SkrAsk ask_valid(void)
{
	Tandem__SkrAsk a;
	tandem__skr_ask__init(&a);
	a.ask_id = (ProtobufCBinaryData){.len = KASP_SKR_ID_LEN, .data = (uint8_t *)ASK_ID};
	a.start = P1;
	a.slot_length = 10 * DAY;
	a.slots = 9;
	a.inception_offset = 3600;
	a.overlap = 5 * DAY;
	a.asked_at = SKRT_T0;
	a.refused = (char *)"";
	return a;
}

/*
 * Unpacks bytes expecting a refusal with code want and a message holding text (and, when
 * last is not NULL, a last message holding last); the output is emptied even though it held
 * garbage before.
 */
static void refused(fx_t *f, const char *what, const blob_t *bytes, const char *zone, int want,
		    const char *text, const char *last)
{
	kasp_skrbook_t out;
	memset(&out, 0xa5, sizeof(out));
	tandem_diag_clear(f->diag);
	int ret = kasp_skrbook_unpack(bytes->data, bytes->len, zone, f->diag, &out);
	ck_assert_msg(ret == want, "%s: %d, want %d", what, ret, want);
	ck_assert_msg(tandem_diag_count(f->diag) >= 1, "%s: no message", what);
	ck_assert_msg(diag_has(f->diag, text), "%s: no message with '%s' (first: %s)", what, text,
		      tandem_diag_msg(f->diag, 0));
	if (last != NULL) {
		ck_assert_msg(strstr(diag_last(f->diag), last) != NULL,
			      "%s: the last message '%s' does not say '%s'", what,
			      diag_last(f->diag), last);
	}
	ck_assert_msg(out.npairs == 0 && !out.has_ask && out.zone[0] == '\0' &&
			  out.pairs[0].request == NULL,
		      "%s: out not emptied", what);
	kasp_skrbook_deinit(&out);
}

static void accepted(fx_t *f, const char *what, const blob_t *bytes, size_t npairs)
{
	kasp_skrbook_t out;
	tandem_diag_clear(f->diag);
	int ret = kasp_skrbook_unpack(bytes->data, bytes->len, "example.", f->diag, &out);
	ck_assert_msg(ret == TANDEM_OK, "%s: %d (%s)", what, ret,
		      tandem_diag_kept(f->diag) > 0 ? tandem_diag_msg(f->diag, 0) : "");
	ck_assert_uint_eq(out.npairs, npairs);
	kasp_skrbook_deinit(&out);
}

START_TEST(unpack_refusals)
{
	fx_t f;
	fx_open(&f);
	blob_t b;
	Tandem__SkrAsk ask = ask_valid();

	/* not a book */
	kasp_skrbook_t out;
	memset(&out, 0xa5, sizeof(out));
	ck_assert_int_eq(kasp_skrbook_unpack(NULL, 0, "example.", f.diag, &out), TANDEM_EINVAL);
	ck_assert_uint_eq(out.npairs, 0); /* emptied: deinit after any error is safe */
	kasp_skrbook_deinit(&out);
	ck_assert_int_eq(kasp_skrbook_unpack((const uint8_t *)"", 0, "example.", f.diag, NULL),
			 TANDEM_EINVAL);
	uint8_t junk[64];
	memset(junk, 0xff, sizeof(junk));
	b = (blob_t){junk, sizeof(junk)};
	refused(&f, "garbage", &b, "example.", TANDEM_ESYNTAX, "not one, or a truncated one", NULL);
	uint8_t *big = calloc(1, KASP_SKRBOOK_MAX + 1);
	ck_assert_ptr_nonnull(big);
	b = (blob_t){big, KASP_SKRBOOK_MAX + 1};
	refused(&f, "over the maximum", &b, "example.", TANDEM_ESYNTAX, "262145 bytes, at most",
		NULL);
	free(big);

	blob_t reqs[5], resps[5];
	for (uint8_t i = 0; i < 5; i++) {
		reqs[i] = req_make(&f, P1 + i * DAY, (uint8_t)(i + 1), SKRT_T0 + i);
		resps[i] = (blob_t){0};
	}
	resps[0] = resp_make(&f, &reqs[0], SKRT_T0 + 100);

	/* the valid book, and the same cut short in the middle of a request */
	b = raw_book(1, "example.", &ask, 2, reqs, resps);
	accepted(&f, "valid", &b, 2);
	blob_t cut = {b.data, b.len - reqs[1].len / 2};
	refused(&f, "truncated", &cut, "example.", TANDEM_ESYNTAX, "not one, or a truncated one",
		NULL);
	refused(&f, "another zone", &b, "other.", TANDEM_ESYNTAX, "'example.', not other.", NULL);
	blob_free(&b);

	b = raw_book(2, "example.", &ask, 2, reqs, resps);
	refused(&f, "version", &b, "example.", TANDEM_ERANGE, "format version 2", NULL);
	blob_free(&b);
	b = raw_book(1, "", NULL, 0, reqs, NULL);
	refused(&f, "no zone", &b, NULL, TANDEM_ESYNTAX, "of zone ''", NULL);
	blob_free(&b);

	/* the ask's shape: each bound refused one past it, accepted at it */
	static const struct {
		const char *what;
		uint32_t id_len, slots, slot_length;
		uint64_t start;
		const char *text; /* NULL: accepted */
	} asks[] = {
	    {"id of 15 bytes", 15, 9, 10 * DAY, P1, "bad ask id"},
	    {"id of 17 bytes", 17, 9, 10 * DAY, P1, "bad ask id"},
	    {"no id", 0, 9, 10 * DAY, P1, "bad ask id"},
	    {"0 slots", 16, 0, 10 * DAY, P1, "slot count"},
	    {"65 slots", 16, 65, 3600, P1, "slot count"},
	    {"64 slots", 16, 64, 3600, P1, NULL},
	    {"1 slot", 16, 1, 3600, P1, NULL},
	    {"slot of 1h - 1s", 16, 9, 3599, P1, "shorter than 1h"},
	    {"period of 400d + 1s", 16, 1, 400 * DAY + 1, P1, "longer than 400d"},
	    {"period of 41 x 10d", 16, 41, 10 * DAY, P1, "longer than 400d"},
	    {"period of 40 x 10d", 16, 40, 10 * DAY, P1, NULL},
	    {"start 0", 16, 9, 10 * DAY, 0, "not a time"},
	};
	uint8_t id17[17] = {0};
	for (size_t i = 0; i < sizeof(asks) / sizeof(asks[0]); i++) {
		Tandem__SkrAsk a = ask_valid();
		a.ask_id.len = asks[i].id_len;
		a.ask_id.data = asks[i].id_len == 17 ? id17 : (uint8_t *)ASK_ID;
		a.slots = asks[i].slots;
		a.slot_length = asks[i].slot_length;
		a.start = asks[i].start;
		b = raw_book(1, "example.", &a, 1, reqs, resps);
		if (asks[i].text == NULL) {
			accepted(&f, asks[i].what, &b, 1);
		} else {
			refused(&f, asks[i].what, &b, "example.", TANDEM_ESYNTAX, asks[i].text,
				NULL);
		}
		blob_free(&b);
	}
	char longtext[KASP_SKR_REFUSED_MAX + 1];
	memset(longtext, 'x', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	Tandem__SkrAsk a = ask_valid();
	a.refused = longtext;
	b = raw_book(1, "example.", &a, 0, reqs, NULL);
	refused(&f, "refusal text", &b, "example.", TANDEM_ESYNTAX, "refusal text is too long",
		NULL);
	blob_free(&b);

	/* the pairs */
	b = raw_book(1, "example.", &ask, KASP_SKRBOOK_PAIRS, reqs, resps);
	accepted(&f, "4 pairs", &b, KASP_SKRBOOK_PAIRS);
	blob_free(&b);
	b = raw_book(1, "example.", &ask, KASP_SKRBOOK_PAIRS + 1, reqs, resps);
	refused(&f, "5 pairs", &b, "example.", TANDEM_ESYNTAX, "5 requests, at most 4", NULL);
	blob_free(&b);

	blob_t two[2] = {reqs[0], {junk, sizeof(junk)}};
	b = raw_book(1, "example.", &ask, 2, two, NULL);
	refused(&f, "garbage request", &b, "example.", TANDEM_ESYNTAX, "not a key signing request",
		"request 2 refused");
	blob_free(&b);
	two[1] = (blob_t){0};
	b = raw_book(1, "example.", &ask, 2, two, NULL);
	refused(&f, "empty request", &b, "example.", TANDEM_ESYNTAX, "request 2 refused", NULL);
	blob_free(&b);
	two[1] = req_rezone(&f, &reqs[1], "other.");
	b = raw_book(1, "example.", &ask, 2, two, NULL);
	refused(&f, "request of another zone", &b, "example.", TANDEM_ESYNTAX,
		"a request of zone other., not example.", "request 2 refused");
	blob_free(&b);
	blob_free(&two[1]);
	/* same id, other contents (another period) */
	blob_t dup[3] = {reqs[1], reqs[0], req_make(&f, P1 + SPAN, 2, SKRT_T0)};
	b = raw_book(1, "example.", &ask, 3, dup, NULL);
	refused(&f, "shared id", &b, "example.", TANDEM_ESYNTAX, "requests 1 and 3 share an id",
		NULL);
	blob_free(&b);
	blob_free(&dup[2]);

	/* responses: the genuine one passes; tampered, another request's, another hash do not */
	blob_t rs[2] = {{0}, {0}};
	rs[1] = resps[0];
	two[0] = reqs[1];
	two[1] = reqs[0];
	b = raw_book(1, "example.", NULL, 2, two, rs);
	accepted(&f, "response to pair 2", &b, 2);
	blob_free(&b);
	rs[1] = resp_flip(&f, &resps[0]);
	b = raw_book(1, "example.", NULL, 2, two, rs);
	refused(&f, "flipped RRSIG", &b, "example.", TANDEM_EPERM, "does not verify",
		"the response to request 2 refused");
	blob_free(&b);
	blob_free(&rs[1]);
	rs[1] = resp_make(&f, &reqs[1], SKRT_T0 + 100); /* answers request 2 (pair 1) */
	b = raw_book(1, "example.", NULL, 2, two, rs);
	refused(&f, "another request's response", &b, "example.", TANDEM_EPERM,
		"another request id", "the response to request 2 refused");
	blob_free(&b);
	blob_free(&rs[1]);
	blob_t twin = req_make(&f, P1, 1, SKRT_T0 + 77); /* id 1, other bytes */
	rs[1] = resp_make(&f, &twin, SKRT_T0 + 100);
	b = raw_book(1, "example.", NULL, 2, two, rs);
	refused(&f, "another hash", &b, "example.", TANDEM_EPERM, "hash differs",
		"the response to request 2 refused");
	blob_free(&b);
	blob_free(&rs[1]);
	blob_free(&twin);
	rs[1] = (blob_t){junk, sizeof(junk)};
	b = raw_book(1, "example.", NULL, 2, two, rs);
	refused(&f, "garbage response", &b, "example.", TANDEM_ESYNTAX, "not a signed key response",
		"the response to request 2 refused");
	blob_free(&b);

	for (size_t i = 0; i < 5; i++) {
		blob_free(&reqs[i]);
		blob_free(&resps[i]);
	}
	fx_close(&f);
}
END_TEST

/* ---- recording requests and responses ---- */

START_TEST(add_request_replace_prune)
{
	fx_t f;
	fx_open(&f);
	kasp_skrbook_t b;
	uint8_t id[KASP_SKR_ID_LEN];
	ck_assert_int_eq(kasp_skrbook_init(&b, "example."), TANDEM_OK);
	blob_t r1 = req_make(&f, P1, 1, SKRT_T0);
	ck_assert_int_eq(kasp_skrbook_find(&b, id_of(1, id)), -1);
	ck_assert_int_eq(kasp_skrbook_add_request(&b, r1.data, r1.len, SKRT_T0, f.diag), TANDEM_OK);
	ck_assert_uint_eq(b.npairs, 1);
	ck_assert(bytes_eq(b.pairs[0].request, b.pairs[0].request_len, &r1));
	ck_assert_ptr_ne(b.pairs[0].request, r1.data); /* a copy */
	ck_assert_ptr_null(b.pairs[0].response);
	ck_assert_int_eq(kasp_skrbook_find(&b, id_of(1, id)), 0);
	ck_assert_int_eq(kasp_skrbook_find(&b, id_of(2, id)), -1);
	ck_assert_int_eq(kasp_skrbook_find(&b, NULL), -1);
	ck_assert_int_eq(kasp_skrbook_find(NULL, id), -1);

	/* refused, the book unchanged: garbage, a response, another zone's request */
	blob_t before = book_pack(&b);
	uint8_t junk[32];
	memset(junk, 0xff, sizeof(junk));
	tandem_diag_clear(f.diag);
	ck_assert_int_eq(kasp_skrbook_add_request(&b, junk, sizeof(junk), SKRT_T0, f.diag),
			 TANDEM_ESYNTAX);
	ck_assert_uint_ge(tandem_diag_count(f.diag), 1);
	ck_assert(book_is(&b, &before));
	blob_t other = req_rezone(&f, &r1, "other.");
	tandem_diag_clear(f.diag);
	ck_assert_int_eq(kasp_skrbook_add_request(&b, other.data, other.len, SKRT_T0, f.diag),
			 TANDEM_ESYNTAX);
	ck_assert(diag_has(f.diag, "a request of zone other., not example."));
	ck_assert(book_is(&b, &before));
	blob_free(&other);
	ck_assert_int_eq(kasp_skrbook_add_request(NULL, r1.data, r1.len, SKRT_T0, f.diag),
			 TANDEM_EINVAL);
	ck_assert_int_eq(kasp_skrbook_add_request(&b, NULL, 0, SKRT_T0, f.diag), TANDEM_EINVAL);
	ck_assert(book_is(&b, &before));
	blob_free(&before);

	/* the same id replaces the pair, its response with it (it answered other bytes) */
	blob_t s1 = resp_make(&f, &r1, SKRT_T0 + 5);
	size_t idx = 9;
	ck_assert_int_eq(kasp_skrbook_add_response(&b, s1.data, s1.len, SKRT_T0, f.diag, &idx),
			 TANDEM_OK);
	blob_t r2 = req_make(&f, P1 + SPAN, 2, SKRT_T0);
	ck_assert_int_eq(kasp_skrbook_add_request(&b, r2.data, r2.len, SKRT_T0, f.diag), TANDEM_OK);
	blob_t r1b = req_make(&f, P1, 1, SKRT_T0 + 1);
	ck_assert_int_eq(kasp_skrbook_add_request(&b, r1b.data, r1b.len, SKRT_T0, f.diag),
			 TANDEM_OK);
	ck_assert_uint_eq(b.npairs, 2);
	ck_assert_int_eq(kasp_skrbook_find(&b, id_of(1, id)), 1); /* the newest, last */
	ck_assert(bytes_eq(b.pairs[1].request, b.pairs[1].request_len, &r1b));
	ck_assert_ptr_null(b.pairs[1].response);
	ck_assert_uint_eq(b.pairs[1].response_len, 0);
	ck_assert(bytes_eq(b.pairs[0].request, b.pairs[0].request_len, &r2));

	/* a period ended at now is pruned: not a second before its end, at its end */
	blob_t r3 = req_make(&f, P1 + SPAN, 3, SKRT_T0);
	ck_assert_int_eq(kasp_skrbook_add_request(&b, r3.data, r3.len, P1 + SPAN - 1, f.diag),
			 TANDEM_OK);
	ck_assert_uint_eq(b.npairs, 3);
	ck_assert_int_eq(kasp_skrbook_find(&b, id_of(1, id)), 1);
	blob_t r4 = req_make(&f, P1 + SPAN, 4, SKRT_T0);
	ck_assert_int_eq(kasp_skrbook_add_request(&b, r4.data, r4.len, P1 + SPAN, f.diag),
			 TANDEM_OK);
	ck_assert_uint_eq(b.npairs, 3);
	ck_assert_int_eq(kasp_skrbook_find(&b, id_of(1, id)), -1);
	ck_assert_int_eq(kasp_skrbook_find(&b, id_of(2, id)), 0);
	ck_assert_int_eq(kasp_skrbook_find(&b, id_of(3, id)), 1);
	ck_assert_int_eq(kasp_skrbook_find(&b, id_of(4, id)), 2);
	ck_assert_ptr_null(b.pairs[3].request);

	kasp_skrbook_deinit(&b);
	blob_free(&r1);
	blob_free(&r1b);
	blob_free(&r2);
	blob_free(&r3);
	blob_free(&r4);
	blob_free(&s1);
	fx_close(&f);
}
END_TEST

START_TEST(add_request_full_book)
{
	fx_t f;
	fx_open(&f);
	kasp_skrbook_t b;
	uint8_t id[KASP_SKR_ID_LEN];
	ck_assert_int_eq(kasp_skrbook_init(&b, "example."), TANDEM_OK);
	blob_t r[9], s[9];
	for (uint8_t i = 1; i < 9; i++) {
		r[i] = req_make(&f, P1 + i * DAY, i, SKRT_T0 + i);
		s[i] = (blob_t){0};
	}
	for (uint8_t i = 1; i <= 4; i++) {
		ck_assert_int_eq(kasp_skrbook_add_request(&b, r[i].data, r[i].len, SKRT_T0, f.diag),
				 TANDEM_OK);
	}
	ck_assert_uint_eq(b.npairs, KASP_SKRBOOK_PAIRS);
	size_t idx = 0;
	s[1] = resp_make(&f, &r[1], SKRT_T0 + 10);
	s[4] = resp_make(&f, &r[4], SKRT_T0 + 40);
	ck_assert_int_eq(kasp_skrbook_add_response(&b, s[1].data, s[1].len, SKRT_T0, f.diag, &idx),
			 TANDEM_OK);
	ck_assert_uint_eq(idx, 0);
	ck_assert_int_eq(kasp_skrbook_add_response(&b, s[4].data, s[4].len, SKRT_T0, f.diag, &idx),
			 TANDEM_OK);
	ck_assert_uint_eq(idx, 3);

	/* full: the oldest unanswered request (2, not the answered 1) makes room, then 3 */
	ck_assert_int_eq(kasp_skrbook_add_request(&b, r[5].data, r[5].len, SKRT_T0, f.diag),
			 TANDEM_OK);
	ck_assert_uint_eq(b.npairs, KASP_SKRBOOK_PAIRS);
	ck_assert_int_eq(kasp_skrbook_find(&b, id_of(2, id)), -1);
	ck_assert_int_eq(kasp_skrbook_find(&b, id_of(1, id)), 0);
	ck_assert_int_eq(kasp_skrbook_find(&b, id_of(3, id)), 1);
	ck_assert_int_eq(kasp_skrbook_find(&b, id_of(4, id)), 2);
	ck_assert_int_eq(kasp_skrbook_find(&b, id_of(5, id)), 3);
	ck_assert(bytes_eq(b.pairs[0].response, b.pairs[0].response_len, &s[1]));
	ck_assert(bytes_eq(b.pairs[2].response, b.pairs[2].response_len, &s[4]));
	ck_assert_int_eq(kasp_skrbook_add_request(&b, r[6].data, r[6].len, SKRT_T0, f.diag),
			 TANDEM_OK);
	ck_assert_int_eq(kasp_skrbook_find(&b, id_of(3, id)), -1);
	ck_assert_int_eq(kasp_skrbook_find(&b, id_of(6, id)), 3);

	/* full of answered running periods: refused, unchanged */
	s[5] = resp_make(&f, &r[5], SKRT_T0 + 50);
	s[6] = resp_make(&f, &r[6], SKRT_T0 + 60);
	ck_assert_int_eq(kasp_skrbook_add_response(&b, s[5].data, s[5].len, SKRT_T0, f.diag, &idx),
			 TANDEM_OK);
	ck_assert_uint_eq(idx, 2);
	ck_assert_int_eq(kasp_skrbook_add_response(&b, s[6].data, s[6].len, SKRT_T0, f.diag, &idx),
			 TANDEM_OK);
	ck_assert_uint_eq(idx, 3);
	blob_t before = book_pack(&b);
	tandem_diag_clear(f.diag);
	ck_assert_int_eq(kasp_skrbook_add_request(&b, r[7].data, r[7].len, SKRT_T0, f.diag),
			 TANDEM_ERANGE);
	ck_assert(diag_has(f.diag, "signed periods are still running"));
	ck_assert(book_is(&b, &before));
	ck_assert_uint_eq(b.npairs, KASP_SKRBOOK_PAIRS);
	/* still refused a second before the earliest period (request 1's) ends */
	uint64_t end1 = P1 + 1 * DAY + SPAN;
	ck_assert_int_eq(kasp_skrbook_add_request(&b, r[7].data, r[7].len, end1 - 1, f.diag),
			 TANDEM_ERANGE);
	ck_assert(book_is(&b, &before));
	/* once it ends, its place is free */
	ck_assert_int_eq(kasp_skrbook_add_request(&b, r[7].data, r[7].len, end1, f.diag),
			 TANDEM_OK);
	ck_assert_int_eq(kasp_skrbook_find(&b, id_of(1, id)), -1);
	ck_assert_int_eq(kasp_skrbook_find(&b, id_of(4, id)), 0);
	ck_assert_int_eq(kasp_skrbook_find(&b, id_of(7, id)), 3);
	ck_assert_uint_eq(b.npairs, KASP_SKRBOOK_PAIRS);

	blob_free(&before);
	kasp_skrbook_deinit(&b);
	for (size_t i = 1; i < 9; i++) {
		blob_free(&r[i]);
		blob_free(&s[i]);
	}
	fx_close(&f);
}
END_TEST

START_TEST(add_response_checks)
{
	fx_t f;
	fx_open(&f);
	kasp_skrbook_t b;
	ck_assert_int_eq(kasp_skrbook_init(&b, "example."), TANDEM_OK);
	blob_t r1 = req_make(&f, P1, 1, SKRT_T0);
	blob_t r2 = req_make(&f, P1 + SPAN, 2, SKRT_T0);
	ck_assert_int_eq(kasp_skrbook_add_request(&b, r1.data, r1.len, SKRT_T0, f.diag), TANDEM_OK);
	ck_assert_int_eq(kasp_skrbook_add_request(&b, r2.data, r2.len, SKRT_T0, f.diag), TANDEM_OK);
	blob_t s1 = resp_make(&f, &r1, SKRT_T0 + 1);
	blob_t s2 = resp_make(&f, &r2, SKRT_T0 + 2);

	size_t idx = 99;
	ck_assert_int_eq(kasp_skrbook_add_response(&b, s2.data, s2.len, SKRT_T0, f.diag, &idx),
			 TANDEM_OK);
	ck_assert_uint_eq(idx, 1);
	ck_assert(bytes_eq(b.pairs[1].response, b.pairs[1].response_len, &s2));
	ck_assert_ptr_ne(b.pairs[1].response, s2.data);
	ck_assert_ptr_null(b.pairs[0].response);

	/* each refused with a message and the book unchanged */
	blob_t before = book_pack(&b);
	blob_t bad = resp_flip(&f, &s1);
	blob_t r9 = req_make(&f, P1, 9, SKRT_T0); /* never recorded */
	blob_t s9 = resp_make(&f, &r9, SKRT_T0);
	blob_t twin = req_make(&f, P1, 1, SKRT_T0 + 5); /* id 1, other bytes */
	blob_t stwin = resp_make(&f, &twin, SKRT_T0);
	blob_t r1other = req_rezone(&f, &r1, "other.");
	kasp_skrbook_t ob;
	ck_assert_int_eq(kasp_skrbook_init(&ob, "other."), TANDEM_OK);
	uint8_t junk[40];
	memset(junk, 0xff, sizeof(junk));
	static const char *const what[] = {"flipped RRSIG", "unknown request", "another hash",
					   "garbage",       "a request",       "ended period"};
	static const char *const text[] = {"does not verify",
					   "answers no request",
					   "hash differs",
					   "not a signed key response",
					   "",
					   "period ended"};
	const blob_t in[] = {bad, s9, stwin, {junk, sizeof(junk)}, r1, s1};
	const int want[] = {TANDEM_EPERM,   TANDEM_EPERM,   TANDEM_EPERM,
			    TANDEM_ESYNTAX, TANDEM_ESYNTAX, TANDEM_EPERM};
	const uint64_t when[] = {SKRT_T0, SKRT_T0, SKRT_T0, SKRT_T0, SKRT_T0, P1 + SPAN};
	for (size_t c = 0; c < sizeof(what) / sizeof(what[0]); c++) {
		tandem_diag_clear(f.diag);
		idx = 77;
		int ret =
		    kasp_skrbook_add_response(&b, in[c].data, in[c].len, when[c], f.diag, &idx);
		ck_assert_msg(ret == want[c], "%s: %d", what[c], ret);
		ck_assert_msg(tandem_diag_count(f.diag) >= 1, "%s: no message", what[c]);
		ck_assert_msg(diag_has(f.diag, text[c]), "%s: '%s' not said", what[c], text[c]);
		ck_assert_msg(book_is(&b, &before), "%s: the book changed", what[c]);
		ck_assert_msg(idx == 77, "%s: index written", what[c]);
	}
	/* a response for another zone's book */
	ck_assert_int_eq(kasp_skrbook_add_request(&ob, r1other.data, r1other.len, SKRT_T0, f.diag),
			 TANDEM_OK);
	tandem_diag_clear(f.diag);
	ck_assert_int_eq(kasp_skrbook_add_response(&ob, s1.data, s1.len, SKRT_T0, f.diag, &idx),
			 TANDEM_EPERM);
	ck_assert(diag_has(f.diag, "answers no request of other."));
	ck_assert_ptr_null(ob.pairs[0].response);
	ck_assert_int_eq(kasp_skrbook_add_response(NULL, s1.data, s1.len, SKRT_T0, f.diag, &idx),
			 TANDEM_EINVAL);
	ck_assert_int_eq(kasp_skrbook_add_response(&b, NULL, 0, SKRT_T0, f.diag, &idx),
			 TANDEM_EINVAL);
	ck_assert_int_eq(kasp_skrbook_add_response(&b, s1.data, s1.len, SKRT_T0, f.diag, NULL),
			 TANDEM_EINVAL);
	ck_assert(book_is(&b, &before));

	/* a second before the end it is still accepted */
	ck_assert_int_eq(
	    kasp_skrbook_add_response(&b, s1.data, s1.len, P1 + SPAN - 1, f.diag, &idx), TANDEM_OK);
	ck_assert_uint_eq(idx, 0);
	ck_assert(bytes_eq(b.pairs[0].response, b.pairs[0].response_len, &s1));
	/* a new response to request 2 once request 1's period ended: 1 pruned, the index moves */
	blob_t s2b = resp_make(&f, &r2, SKRT_T0 + 20);
	ck_assert_int_eq(kasp_skrbook_add_response(&b, s2b.data, s2b.len, P1 + SPAN, f.diag, &idx),
			 TANDEM_OK);
	ck_assert_uint_eq(idx, 0);
	ck_assert_uint_eq(b.npairs, 1);
	ck_assert(bytes_eq(b.pairs[0].request, b.pairs[0].request_len, &r2));
	ck_assert(bytes_eq(b.pairs[0].response, b.pairs[0].response_len, &s2b));

	kasp_skrbook_deinit(&ob);
	kasp_skrbook_deinit(&b);
	blob_t all[] = {r1, r2, s1, s2, s2b, before, bad, r9, s9, twin, stwin, r1other};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		blob_free(&all[i]);
	}
	fx_close(&f);
}
END_TEST

/* ---- what signs at t ---- */

START_TEST(pick_response)
{
	fx_t f;
	fx_open(&f);
	kasp_skrbook_t b;
	uint8_t id[KASP_SKR_ID_LEN];
	ck_assert_int_eq(kasp_skrbook_init(&b, "example."), TANDEM_OK);
	/* A: [P1, P1+90d) with an extra ZSK X in every slot; B: [P1+30d, P1+120d) without it */
	const kasp_skr_rdata_t x = fake_key(256, 0x77);
	kasp_skr_t *qa = plan(&f, P1, 9, 0xa, SKRT_T0);
	skr_add_key(qa, &x);
	blob_t ra = encode(qa);
	kasp_skr_free(qa);
	blob_t rb = req_make(&f, P1 + 30 * DAY, 0xb, SKRT_T0);
	ck_assert_int_eq(kasp_skrbook_add_request(&b, ra.data, ra.len, SKRT_T0, f.diag), TANDEM_OK);
	ck_assert_int_eq(kasp_skrbook_add_request(&b, rb.data, rb.len, SKRT_T0, f.diag), TANDEM_OK);
	kasp_skr_t *out = NULL;
	const uint64_t t2 = P1 + 45 * DAY; /* covered by both */

	/* requests alone sign nothing */
	tandem_diag_clear(f.diag);
	ck_assert_int_eq(kasp_skrbook_pick(&b, t2, NULL, NULL, 0, f.diag, &out), TANDEM_ENOENT);
	ck_assert(diag_has(f.diag, "no imported SKR has a slot"));
	ck_assert_ptr_null(out);

	blob_t sa = resp_make(&f, &ra, SKRT_T0 + 10);
	size_t idx = 0;
	ck_assert_int_eq(kasp_skrbook_add_response(&b, sa.data, sa.len, SKRT_T0, f.diag, &idx),
			 TANDEM_OK);
	/* the slot covering t, at both edges of the period */
	static const struct {
		uint64_t t, slot_start;
	} at[] = {{P1, P1},
		  {P1 + 25 * DAY, P1 + 20 * DAY},
		  {P1 + 30 * DAY - 1, P1 + 20 * DAY},
		  {P1 + 30 * DAY, P1 + 30 * DAY},
		  {P1 + SPAN - 1, P1 + 80 * DAY}};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		ck_assert_int_eq(kasp_skrbook_pick(&b, at[i].t, NULL, NULL, 0, f.diag, &out),
				 TANDEM_OK);
		ck_assert(out->response);
		ck_assert_mem_eq(out->request_id, id_of(0xa, id), KASP_SKR_ID_LEN);
		ck_assert_uint_eq(out->created, SKRT_T0 + 10);
		const kasp_skr_slot_t *s = kasp_skr_slot_at(out, at[i].t);
		ck_assert_ptr_nonnull(s);
		ck_assert_uint_eq(s->start, at[i].slot_start);
		ck_assert_uint_eq(s->nsigs, 1);
		kasp_skr_free(out);
		out = NULL;
	}
	/* before and after every slot (B has no response yet) */
	const uint64_t none[] = {P1 - 1, P1 + SPAN, P1 + 200 * DAY, 0};
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		tandem_diag_clear(f.diag);
		ck_assert_int_eq(kasp_skrbook_pick(&b, none[i], NULL, NULL, 0, f.diag, &out),
				 TANDEM_ENOENT);
		ck_assert_ptr_null(out);
		ck_assert(diag_has(f.diag, "no imported SKR has a slot"));
	}

	/* both answered: the one signed later wins, whatever its place in the book */
	blob_t sb = resp_make(&f, &rb, SKRT_T0 + 20);
	ck_assert_int_eq(kasp_skrbook_add_response(&b, sb.data, sb.len, SKRT_T0, f.diag, &idx),
			 TANDEM_OK);
	ck_assert_int_eq(kasp_skrbook_pick(&b, t2, NULL, NULL, 0, f.diag, &out), TANDEM_OK);
	ck_assert_mem_eq(out->request_id, id_of(0xb, id), KASP_SKR_ID_LEN);
	ck_assert_uint_eq(out->created, SKRT_T0 + 20);
	kasp_skr_free(out);
	/* where only A covers t, A */
	ck_assert_int_eq(kasp_skrbook_pick(&b, P1 + 5 * DAY, NULL, NULL, 0, f.diag, &out),
			 TANDEM_OK);
	ck_assert_mem_eq(out->request_id, id_of(0xa, id), KASP_SKR_ID_LEN);
	kasp_skr_free(out);

	/* a needed key missing from the later one's slot: the earlier one */
	const kasp_skr_rdata_t ksk = {.len = (uint16_t)f.cer.ksk_len};
	kasp_skr_rdata_t need[2] = {ksk, x};
	memcpy(need[0].data, f.cer.ksk, f.cer.ksk_len);
	ck_assert_int_eq(kasp_skrbook_pick(&b, t2, NULL, &need[1], 1, f.diag, &out), TANDEM_OK);
	ck_assert_mem_eq(out->request_id, id_of(0xa, id), KASP_SKR_ID_LEN);
	kasp_skr_free(out);
	ck_assert_int_eq(kasp_skrbook_pick(&b, t2, NULL, need, 2, f.diag, &out), TANDEM_OK);
	ck_assert_mem_eq(out->request_id, id_of(0xa, id), KASP_SKR_ID_LEN);
	kasp_skr_free(out);
	ck_assert_int_eq(kasp_skrbook_pick(&b, t2, NULL, need, 1, f.diag, &out), TANDEM_OK);
	ck_assert_mem_eq(out->request_id, id_of(0xb, id), KASP_SKR_ID_LEN); /* both hold the KSK */
	kasp_skr_free(out);
	const kasp_skr_rdata_t nowhere = fake_key(256, 0x99);
	tandem_diag_clear(f.diag);
	out = NULL;
	ck_assert_int_eq(kasp_skrbook_pick(&b, t2, NULL, &nowhere, 1, f.diag, &out), TANDEM_ENOENT);
	ck_assert_ptr_null(out);
	ck_assert(diag_has(f.diag, "holds every signing key"));
	/* X is needed where only B covers t */
	tandem_diag_clear(f.diag);
	ck_assert_int_eq(kasp_skrbook_pick(&b, P1 + 100 * DAY, NULL, &x, 1, f.diag, &out),
			 TANDEM_ENOENT);
	ck_assert(diag_has(f.diag, "holds every signing key"));

	/* want_id: exactly that pair, if it covers t */
	ck_assert_int_eq(kasp_skrbook_pick(&b, t2, id_of(0xa, id), NULL, 0, f.diag, &out),
			 TANDEM_OK);
	ck_assert_mem_eq(out->request_id, id_of(0xa, id), KASP_SKR_ID_LEN);
	ck_assert_uint_eq(out->created, SKRT_T0 + 10);
	kasp_skr_free(out);
	ck_assert_int_eq(kasp_skrbook_pick(&b, P1 + 100 * DAY, NULL, NULL, 0, f.diag, &out),
			 TANDEM_OK);
	ck_assert_mem_eq(out->request_id, id_of(0xb, id), KASP_SKR_ID_LEN);
	kasp_skr_free(out);
	out = NULL;
	tandem_diag_clear(f.diag);
	ck_assert_int_eq(
	    kasp_skrbook_pick(&b, P1 + 100 * DAY, id_of(0xa, id), NULL, 0, f.diag, &out),
	    TANDEM_ENOENT);
	ck_assert_ptr_null(out);
	ck_assert(diag_has(f.diag, "the SKR the commit used has no slot"));
	ck_assert_int_eq(kasp_skrbook_pick(&b, t2, id_of(0xc, id), NULL, 0, f.diag, &out),
			 TANDEM_ENOENT);
	ck_assert_ptr_null(out);

	/* A re-imported, signed after B: now A wins */
	blob_t sa2 = resp_make(&f, &ra, SKRT_T0 + 30);
	ck_assert_int_eq(kasp_skrbook_add_response(&b, sa2.data, sa2.len, SKRT_T0, f.diag, &idx),
			 TANDEM_OK);
	ck_assert_uint_eq(idx, 0);
	ck_assert_int_eq(kasp_skrbook_pick(&b, t2, NULL, NULL, 0, f.diag, &out), TANDEM_OK);
	ck_assert_mem_eq(out->request_id, id_of(0xa, id), KASP_SKR_ID_LEN);
	ck_assert_uint_eq(out->created, SKRT_T0 + 30);
	kasp_skr_free(out);
	out = NULL;

	ck_assert_int_eq(kasp_skrbook_pick(&b, t2, NULL, NULL, 1, f.diag, &out), TANDEM_EINVAL);
	ck_assert_int_eq(kasp_skrbook_pick(&b, t2, NULL, NULL, 0, f.diag, NULL), TANDEM_EINVAL);
	ck_assert_int_eq(kasp_skrbook_pick(NULL, t2, NULL, NULL, 0, f.diag, &out), TANDEM_EINVAL);
	ck_assert_ptr_null(out);

	kasp_skrbook_deinit(&b);
	blob_free(&ra);
	blob_free(&rb);
	blob_free(&sa);
	blob_free(&sa2);
	blob_free(&sb);
	fx_close(&f);
}
END_TEST

START_TEST(covered_until)
{
	fx_t f;
	fx_open(&f);
	kasp_skrbook_t b, gap;
	ck_assert_int_eq(kasp_skrbook_init(&b, "example."), TANDEM_OK);
	ck_assert_int_eq(kasp_skrbook_init(&gap, "example."), TANDEM_OK);
	const uint64_t t = P1 + 5 * DAY;
	ck_assert_uint_eq(kasp_skrbook_covered_until(NULL, t), t);
	ck_assert_uint_eq(kasp_skrbook_covered_until(&b, t), t);

	blob_t ra = req_make(&f, P1, 1, SKRT_T0);             /* [P1, P1+90d) */
	blob_t rc = req_make(&f, P1 + SPAN, 2, SKRT_T0);      /* [P1+90d, P1+180d): right after */
	blob_t rd = req_make(&f, P1 + 100 * DAY, 3, SKRT_T0); /* [P1+100d, P1+190d): a gap */
	/* the later period first: covering does not depend on the book's order */
	ck_assert_int_eq(kasp_skrbook_add_request(&b, rc.data, rc.len, SKRT_T0, f.diag), TANDEM_OK);
	ck_assert_int_eq(kasp_skrbook_add_request(&b, ra.data, ra.len, SKRT_T0, f.diag), TANDEM_OK);
	ck_assert_uint_eq(kasp_skrbook_covered_until(&b, t), t); /* requests cover nothing */

	blob_t sa = resp_make(&f, &ra, SKRT_T0 + 1);
	blob_t sc = resp_make(&f, &rc, SKRT_T0 + 2);
	blob_t sd = resp_make(&f, &rd, SKRT_T0 + 3);
	size_t idx = 0;
	ck_assert_int_eq(kasp_skrbook_add_response(&b, sa.data, sa.len, SKRT_T0, f.diag, &idx),
			 TANDEM_OK);
	ck_assert_uint_eq(kasp_skrbook_covered_until(&b, t), P1 + SPAN); /* C not answered yet */
	ck_assert_int_eq(kasp_skrbook_add_response(&b, sc.data, sc.len, SKRT_T0, f.diag, &idx),
			 TANDEM_OK);
	ck_assert_uint_eq(kasp_skrbook_covered_until(&b, t), P1 + 2 * SPAN);
	ck_assert_uint_eq(kasp_skrbook_covered_until(&b, P1), P1 + 2 * SPAN);
	ck_assert_uint_eq(kasp_skrbook_covered_until(&b, P1 + SPAN), P1 + 2 * SPAN);
	ck_assert_uint_eq(kasp_skrbook_covered_until(&b, P1 + 2 * SPAN - 1), P1 + 2 * SPAN);
	/* nothing covers t: t */
	ck_assert_uint_eq(kasp_skrbook_covered_until(&b, P1 - 1), P1 - 1);
	ck_assert_uint_eq(kasp_skrbook_covered_until(&b, P1 + 2 * SPAN), P1 + 2 * SPAN);
	ck_assert_uint_eq(kasp_skrbook_covered_until(&b, P1 + 300 * DAY), P1 + 300 * DAY);

	/* a gap after the first period: its end */
	ck_assert_int_eq(kasp_skrbook_add_request(&gap, rd.data, rd.len, SKRT_T0, f.diag),
			 TANDEM_OK);
	ck_assert_int_eq(kasp_skrbook_add_request(&gap, ra.data, ra.len, SKRT_T0, f.diag),
			 TANDEM_OK);
	ck_assert_int_eq(kasp_skrbook_add_response(&gap, sd.data, sd.len, SKRT_T0, f.diag, &idx),
			 TANDEM_OK);
	ck_assert_int_eq(kasp_skrbook_add_response(&gap, sa.data, sa.len, SKRT_T0, f.diag, &idx),
			 TANDEM_OK);
	ck_assert_uint_eq(kasp_skrbook_covered_until(&gap, t), P1 + SPAN);
	ck_assert_uint_eq(kasp_skrbook_covered_until(&gap, P1 + SPAN), P1 + SPAN);
	ck_assert_uint_eq(kasp_skrbook_covered_until(&gap, P1 + 95 * DAY), P1 + 95 * DAY);
	ck_assert_uint_eq(kasp_skrbook_covered_until(&gap, P1 + 150 * DAY), P1 + 190 * DAY);

	/* overlapping periods chain: A, then C, then D which outlasts C */
	ck_assert_int_eq(kasp_skrbook_add_request(&b, rd.data, rd.len, SKRT_T0, f.diag), TANDEM_OK);
	ck_assert_int_eq(kasp_skrbook_add_response(&b, sd.data, sd.len, SKRT_T0, f.diag, &idx),
			 TANDEM_OK);
	ck_assert_uint_eq(kasp_skrbook_covered_until(&b, t), P1 + 190 * DAY);

	kasp_skrbook_deinit(&b);
	kasp_skrbook_deinit(&gap);
	blob_t all[] = {ra, rc, rd, sa, sc, sd};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		blob_free(&all[i]);
	}
	fx_close(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("skrbook");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, init_pack_args);
	tcase_add_test(tc, pack_unpack_round_trip);
	tcase_add_test(tc, unpack_refusals);
	tcase_add_test(tc, add_request_replace_prune);
	tcase_add_test(tc, add_request_full_book);
	tcase_add_test(tc, add_response_checks);
	tcase_add_test(tc, pick_response);
	tcase_add_test(tc, covered_until);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
