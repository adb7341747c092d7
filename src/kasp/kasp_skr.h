/* Offline KSK: key signing requests (KSR), signed key responses (SKR), the plan of a period's
 * DNSKEY RRsets from the key-state machine, and the checks an SKR must pass before it is used. */
#ifndef KASP_SKR_H
#define KASP_SKR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kasp_keystate.h"
#include "kasp_policy.h"
#include "tandem_diag.h"

/*
 * The flow (docs/keys.md, "Offline KSK"): the online site plans the next
 * period with the key-state machine (kasp_skr_plan) and writes a request:
 * for each time slot, the DNSKEY RRset it will publish and the KSKs that must
 * sign it. The offline ceremony signs each slot's RRset (tandem-ceremony
 * skr-sign) and returns a response that echoes the request's id and the
 * SHA-256 of its exact bytes. The online site accepts the response only if
 * kasp_skr_check finds it is the answer to the request it recorded, and the
 * signer then uses the slot that covers the signing time.
 */

#define KASP_SKR_VERSION   1
#define KASP_SKR_ID_LEN    16
#define KASP_SKR_SLOTS_MAX 64   /* slots per period */
#define KASP_SKR_KEYS_MAX  8    /* DNSKEYs per slot */
#define KASP_SKR_SIGS_MAX  4    /* RRSIGs per slot */
#define KASP_SKR_RDATA_MAX 1024 /* one DNSKEY or RRSIG RDATA */
#define KASP_SKR_FILE_MAX  (8u << 20)
#define KASP_SKR_LABEL_PFX "offline:" /* label prefix of a KSK held only offline */

/* One RDATA (no length prefix). */
typedef struct kasp_skr_rdata {
	uint16_t len;
	uint8_t data[KASP_SKR_RDATA_MAX];
} kasp_skr_rdata_t;

/* One slot: [start, end), the RRSIG window, the DNSKEY RRset and (response) its RRSIGs. */
typedef struct kasp_skr_slot {
	uint64_t start, end;
	uint32_t inception, expiration; /* of the RRSIGs: start - offset, end + overlap */
	uint32_t ttl;                   /* of the DNSKEY RRset */
	size_t nkeys;
	kasp_skr_rdata_t keys[KASP_SKR_KEYS_MAX]; /* DNSKEY RDATAs, canonical order */
	size_t nsigners;
	uint8_t signers[KASP_SKR_KEYS_MAX]; /* indexes into keys: KSKs that sign */
	size_t nsigs;
	kasp_skr_rdata_t sigs[KASP_SKR_SIGS_MAX]; /* response only: RRSIG RDATAs */
} kasp_skr_slot_t;

/* A request or a response (a plain value of about 1 MB: allocate it on the heap). */
typedef struct kasp_skr {
	bool response;
	char zone[KASP_ZONE_MAX]; /* lowercase, trailing dot */
	uint8_t request_id[KASP_SKR_ID_LEN];
	uint8_t request_sha256[32]; /* response only */
	uint64_t created;           /* request: made; response: signed */
	size_t nslots;
	kasp_skr_slot_t slots[KASP_SKR_SLOTS_MAX];
} kasp_skr_t;

/*
 * Serializes skr as a KeySigningRequest or (skr->response) a SignedKeyResponse
 * (proto/skr.proto). *out is malloc'd, the caller frees it.
 * Errors: TANDEM_EINVAL, TANDEM_ENOMEM.
 */
int kasp_skr_encode(const kasp_skr_t *skr, uint8_t **out, size_t *len);

/*
 * Parses a request (response false) or a response and checks its shape: the
 * version, the zone name, the id, 1..KASP_SKR_SLOTS_MAX contiguous slots in
 * time order, each with start < end, inception <= start < end <= expiration,
 * 1..KASP_SKR_KEYS_MAX DNSKEY RDATAs (protocol 3) in canonical order, signers
 * that index SEP keys, and (response) 1..KASP_SKR_SIGS_MAX RRSIGs. Signatures
 * are not checked here (kasp_skr_check does). *out is malloc'd (kasp_skr_free).
 * Errors: TANDEM_ESYNTAX ("reason" in diag), TANDEM_ERANGE (another version),
 * TANDEM_EINVAL, TANDEM_ENOMEM.
 */
int kasp_skr_decode(const uint8_t *buf, size_t len, bool response, tandem_diag_t *diag,
		    kasp_skr_t **out);

/* NULL-safe. */
void kasp_skr_free(kasp_skr_t *skr);

/* The slot with start <= t < end (borrowed), or NULL. */
const kasp_skr_slot_t *kasp_skr_slot_at(const kasp_skr_t *skr, uint64_t t);

/* SHA-256 of data. Errors: TANDEM_EINTERNAL. */
int kasp_skr_sha256(const uint8_t *data, size_t len, uint8_t out[32]);

/* True if the key is a KSK held only offline (its label starts with KASP_SKR_LABEL_PFX). */
bool kasp_key_offline(const kasp_key_t *key);

/* True if the key set holds an offline KSK: the zone is an offline-KSK zone. NULL: false. */
bool kasp_keyset_offline(const kasp_keyset_t *set);

/* How to cut a period into slots. */
typedef struct kasp_skr_plan_conf {
	uint64_t start;            /* first slot's start */
	uint32_t slot_length;      /* seconds */
	unsigned slots;            /* 1..KASP_SKR_SLOTS_MAX */
	uint32_t inception_offset; /* RRSIG inception = slot start - this */
	uint32_t overlap;          /* RRSIG expiration = slot end + this */
} kasp_skr_plan_conf_t;

/*
 * Makes a key generated for the plan (the driver's HSM work): as
 * kasp_sim_ops_t.generate. Called for ZSKs only.
 */
typedef int (*kasp_skr_generate_fn)(void *arg, const kasp_action_t *action, uint32_t id,
				    char *label, uint8_t *dnskey, size_t *dnskey_len);

/*
 * Plans the period: runs the key-state machine on a copy of set from
 * conf->start to the end of the last slot, event by event, generating the
 * ZSKs it asks for through generate (id = the id the key gets), and fills a
 * request (response false; zone, slots; the caller sets request_id and
 * created): each slot's DNSKEY RRset is every key published at any moment of
 * the slot (so a rollover inside a slot finds both keys there), its signers
 * every KSK that signs at any moment of it, its TTL the policy's DNSKEY TTL.
 * set is not changed. Errors: TANDEM_EPERM when the plan needs a KSK that
 * does not exist (make it offline and import its DNSKEY first), an algorithm
 * rollover, or more keys than a slot holds ("reason" in diag);
 * TANDEM_EINVAL, TANDEM_ENOMEM, or generate's error. *out only on success.
 */
int kasp_skr_plan(const kasp_keyset_t *set, const kasp_policy_t *policy,
		  const kasp_skr_plan_conf_t *conf, kasp_skr_generate_fn generate, void *arg,
		  tandem_diag_t *diag, kasp_skr_t *out);

/*
 * Checks that response answers request, whose exact file bytes hash to
 * request_sha256: same zone, request id and hash; every slot of the request
 * present with the same times and TTL and exactly the same DNSKEY RRset;
 * every RRSIG well formed (DNSKEY, the zone as signer, the requested window
 * and TTL), made by a requested signer and valid (OpenSSL); every requested
 * signer with a valid RRSIG; and the period not over at now. Each problem is
 * one message in diag. Errors: TANDEM_EPERM (refused), TANDEM_EINVAL.
 */
int kasp_skr_check(const kasp_skr_t *request, const uint8_t request_sha256[32],
		   const kasp_skr_t *response, uint64_t now, tandem_diag_t *diag);

/*
 * Verifies one RRSIG RDATA over the slot's DNSKEY RRset of zone (wire name)
 * with the DNSKEY RDATA key (no length prefixes). Errors:
 * TANDEM_CRYPTO_EVERIFY, TANDEM_ESYNTAX (malformed), TANDEM_CRYPTO_EALG/EKEY.
 */
int kasp_skr_rrsig_verify(const uint8_t *zone, const kasp_skr_slot_t *slot,
			  const kasp_skr_rdata_t *rrsig, const kasp_skr_rdata_t *key);

/*
 * The book of an offline-KSK zone in a cluster (proto/skr.proto SkrBook,
 * docs/keys.md "Offline KSK in a cluster"): the operator's open ask for a
 * request (`tandemctl keys ksr --cluster`), and each request the zone's lease
 * holder planned with the response imported for it. Stored whole at
 * PREFIX/skr/ZONE and written conditionally on its revision.
 */
#define KASP_SKRBOOK_VERSION 1
#define KASP_SKRBOOK_PAIRS   4            /* requests kept (a period ended frees its place) */
#define KASP_SKRBOOK_MAX     (256u << 10) /* packed bytes: one coordinator message */
#define KASP_SKR_REFUSED_MAX 256

typedef struct kasp_skr_ask {
	uint8_t id[KASP_SKR_ID_LEN]; /* the request made for it carries this id */
	kasp_skr_plan_conf_t plan;
	uint64_t asked_at;
	char refused[KASP_SKR_REFUSED_MAX]; /* the holder's reason when it cannot plan */
} kasp_skr_ask_t;

/* One request (exact bytes) and its response (exact bytes; NULL until imported). */
typedef struct kasp_skr_pair {
	uint8_t *request;
	size_t request_len;
	uint8_t *response;
	size_t response_len;
} kasp_skr_pair_t;

typedef struct kasp_skrbook {
	char zone[KASP_ZONE_MAX];
	bool has_ask;
	kasp_skr_ask_t ask;
	size_t npairs;
	kasp_skr_pair_t pairs[KASP_SKRBOOK_PAIRS]; /* owned */
} kasp_skrbook_t;

/* An empty book of zone (lowercase, trailing dot). Errors: TANDEM_EINVAL. */
int kasp_skrbook_init(kasp_skrbook_t *book, const char *zone);

/* Frees what the book owns and empties it; NULL-safe. */
void kasp_skrbook_deinit(kasp_skrbook_t *book);

/*
 * Packs the book (*out malloc'd). Errors: TANDEM_ERANGE (over KASP_SKRBOOK_MAX
 * bytes), TANDEM_EINVAL, TANDEM_ENOMEM.
 */
int kasp_skrbook_pack(const kasp_skrbook_t *book, uint8_t **out, size_t *len);

/*
 * Parses an untrusted book and checks all of it: the version; the zone (must
 * be `zone` when not NULL); the ask's shape (id, 1..KASP_SKR_SLOTS_MAX slots of
 * at least 1 hour, a period of at most 400 days); at most KASP_SKRBOOK_PAIRS
 * pairs, each request a well-formed request of the zone with an id no other
 * pair has, each response one kasp_skr_check accepts for its request (the
 * period's end is not checked: an ended pair is pruned, not refused). Each
 * problem is a message in diag, naming the pair. *out is emptied first and
 * filled only on success (kasp_skrbook_deinit it).
 * Errors: TANDEM_ESYNTAX, TANDEM_ERANGE (another version), TANDEM_EPERM (a
 * response that does not answer its request), TANDEM_EINVAL, TANDEM_ENOMEM.
 */
int kasp_skrbook_unpack(const uint8_t *buf, size_t len, const char *zone, tandem_diag_t *diag,
			kasp_skrbook_t *out);

/*
 * Records a request the holder planned (exact bytes, a well-formed request of
 * the book's zone): pairs whose period ended at now go first; a pair with the
 * same request id is replaced; when the book is full the oldest unanswered
 * request makes room. Errors: TANDEM_ESYNTAX (not a request of the zone),
 * TANDEM_ERANGE (KASP_SKRBOOK_PAIRS answered periods still running),
 * TANDEM_ENOMEM, TANDEM_EINVAL; a message in diag; the book is unchanged on error.
 */
int kasp_skrbook_add_request(kasp_skrbook_t *book, const uint8_t *req, size_t len, uint64_t now,
			     tandem_diag_t *diag);

/*
 * Records a response (exact bytes) for the request of the book it answers,
 * after kasp_skr_check(request, its hash, response, now): pairs whose period
 * ended at now go first. *index says which pair. Errors: TANDEM_ESYNTAX (not a
 * response), TANDEM_EPERM (answers no request of the book, or refused by the
 * check: the reasons in diag), TANDEM_ENOMEM, TANDEM_EINVAL; the book is
 * unchanged on error.
 */
int kasp_skrbook_add_response(kasp_skrbook_t *book, const uint8_t *resp, size_t len, uint64_t now,
			      tandem_diag_t *diag, size_t *index);

/* The pair whose request has this id, or -1. */
int kasp_skrbook_find(const kasp_skrbook_t *book, const uint8_t id[KASP_SKR_ID_LEN]);

/*
 * The response to sign with at time t (decoded into *out, kasp_skr_free it):
 * with want_id, exactly that pair's response, if a slot of it covers t;
 * otherwise, of the responses with a slot covering t whose DNSKEY RRset holds
 * every key in `need` (DNSKEY RDATAs without length prefix), the one signed
 * last. Errors: TANDEM_ENOENT (none: a message in diag says why), TANDEM_ENOMEM.
 */
int kasp_skrbook_pick(const kasp_skrbook_t *book, uint64_t t, const uint8_t *want_id,
		      const kasp_skr_rdata_t *need, size_t nneed, tandem_diag_t *diag,
		      kasp_skr_t **out);

/* The end of the responses' slots that cover t without a gap (t itself when none covers
 * it): publication is safe until then. */
uint64_t kasp_skrbook_covered_until(const kasp_skrbook_t *book, uint64_t t);

#endif
