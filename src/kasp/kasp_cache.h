/* The RFC 7583 safety check: what resolvers may hold in caches, and whether every mix validates. */
#ifndef KASP_CACHE_H
#define KASP_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tandem_diag.h"

/*
 * The model. The authoritative side serves one *version* at a time of each of
 * three things, and a version may sit in a resolver's cache from the moment
 * it is first served until it stops being served plus a hold time:
 *  - the DS RRset at the parent (hold: parent propagation delay + DS TTL);
 *  - the zone's DNSKEY RRset with its RRSIGs (hold: Dprp + DNSKEY TTL);
 *  - the zone's other RRsets with their RRSIGs (hold: Dprp + largest TTL);
 *    what matters of them is which keys signed them.
 * kasp_cache_check() takes every (DS, DNSKEY) and (DNSKEY, data) pair that
 * can be in a cache at the same time and checks that a validator accepts it:
 *  - DS -> DNSKEY: some DS names a key that is in the DNSKEY RRset and signed
 *    it (RFC 4035 5.2);
 *  - DNSKEY -> data: some key that signed the data is in the DNSKEY RRset;
 *  - algorithms (RFC 4035 2.2, RFC 6840 5.11), for validators that insist:
 *    every algorithm of the DNSKEY RRset signs the DNSKEY RRset and the data,
 *    and every algorithm of the DS set has a DNSKEY.
 * An empty DS set means an insecure zone: nothing can fail then.
 */

#define KASP_CACHE_KEYS     16
#define KASP_CACHE_VERSIONS 256

/* A key as the check sees it: an identity and an algorithm. */
typedef struct kasp_cache_key {
	uint32_t id;
	uint8_t algorithm;
	/* DATA signers only: the signers of one group sign the same RRsets, and each group
	 * other RRsets (a signer that reuses signatures: a stopped ZSK's stay on some RRsets
	 * while the new ZSK's are on others). Every group needs a key in the DNSKEY RRset.
	 * All 0: one group, every RRset signed by every signer. */
	uint8_t group;
} kasp_cache_key_t;

typedef enum { KASP_CACHE_DS = 0, KASP_CACHE_DNSKEY, KASP_CACHE_DATA } kasp_cache_kind_t;

/* One served version. DS: keys = keys whose DS is in the set. DNSKEY: keys =
 * the DNSKEY RRset, signers = keys whose RRSIG covers it. DATA: signers = keys
 * whose RRSIGs cover the zone's data (keys unused). */
typedef struct kasp_cache_set {
	kasp_cache_key_t keys[KASP_CACHE_KEYS];
	size_t nkeys;
	kasp_cache_key_t signers[KASP_CACHE_KEYS];
	size_t nsigners;
} kasp_cache_set_t;

typedef struct kasp_cache kasp_cache_t;

/* A cache model with these hold times (seconds). Errors: TANDEM_EINVAL, TANDEM_ENOMEM. */
int kasp_cache_new(uint64_t hold_ds, uint64_t hold_dnskey, uint64_t hold_data, kasp_cache_t **out);
/* NULL-safe. */
void kasp_cache_free(kasp_cache_t *cache);

/*
 * From `now` on, `set` is served (it replaces the version of that kind served
 * before, which then ages out of caches). Serving what is already served
 * changes nothing. Times must not go backwards.
 * Errors: TANDEM_EINVAL (NULL, too many keys, time going backwards),
 * TANDEM_ERANGE (more versions in caches than the model keeps).
 */
int kasp_cache_serve(kasp_cache_t *cache, kasp_cache_kind_t kind, uint64_t now,
		     const kasp_cache_set_t *set);

/*
 * Checks every pair of versions that can be cached together at `now` and
 * returns the number of pairs that fail; each failure is added to diag (may
 * be NULL) as one message naming the versions' times and keys.
 */
size_t kasp_cache_check(const kasp_cache_t *cache, uint64_t now, tandem_diag_t *diag);

#endif
