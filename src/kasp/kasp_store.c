/* Key-state storage: the key sets as a checksummed protobuf file, written atomically. */
#include "kasp_store.h"

#include "keystate.pb-c.h"
#include "tandem_error.h"
#include "tandem_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define STATE_MAX (64u << 20) /* a state file is never this large */

struct kasp_store {
	kasp_keyset_t **zones;
	size_t count;
};

static int sha256(const uint8_t *data, size_t len, uint8_t out[32])
{
	unsigned int n = 0;
	return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32
		   ? TANDEM_OK
		   : TANDEM_EINTERNAL;
}

static int store_path(const char *dir, char *buf, size_t size)
{
	if ((size_t)snprintf(buf, size, "%s/%s", dir, KASP_STORE_FILE) >= size) {
		return TANDEM_EINVAL;
	}
	return TANDEM_OK;
}

void kasp_store_free(kasp_store_t *store)
{
	if (store == NULL) {
		return;
	}
	for (size_t i = 0; i < store->count; i++) {
		free(store->zones[i]);
	}
	free(store->zones);
	free(store);
}

size_t kasp_store_count(const kasp_store_t *store)
{
	return store != NULL ? store->count : 0;
}

const kasp_keyset_t *kasp_store_at(const kasp_store_t *store, size_t i)
{
	return store != NULL && i < store->count ? store->zones[i] : NULL;
}

static kasp_keyset_t *find(const kasp_store_t *store, const char *zone)
{
	for (size_t i = 0; i < store->count; i++) {
		if (strcmp(store->zones[i]->zone, zone) == 0) {
			return store->zones[i];
		}
	}
	return NULL;
}

int kasp_store_get(const kasp_store_t *store, const char *zone, kasp_keyset_t *out)
{
	if (store == NULL || zone == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	const kasp_keyset_t *set = find(store, zone);
	if (set == NULL) {
		return TANDEM_ENOENT;
	}
	memcpy(out, set, sizeof(*out));
	return TANDEM_OK;
}

int kasp_store_put(kasp_store_t *store, const kasp_keyset_t *set)
{
	if (store == NULL || set == NULL || set->count > KASP_KEYS_MAX ||
	    memchr(set->zone, '\0', sizeof(set->zone)) == NULL || set->zone[0] == '\0') {
		return TANDEM_EINVAL;
	}
	kasp_keyset_t *have = find(store, set->zone);
	if (have != NULL) {
		memcpy(have, set, sizeof(*have));
		return TANDEM_OK;
	}
	kasp_keyset_t *copy = malloc(sizeof(*copy));
	kasp_keyset_t **zones = realloc(store->zones, (store->count + 1) * sizeof(*zones));
	if (copy == NULL || zones == NULL) {
		free(copy);
		if (zones != NULL) {
			store->zones = zones;
		}
		return TANDEM_ENOMEM;
	}
	memcpy(copy, set, sizeof(*copy));
	store->zones = zones;
	store->zones[store->count++] = copy;
	return TANDEM_OK;
}

/* ---- reading ---- */

static bool copy_str(char *dst, size_t size, const char *src)
{
	if (src == NULL) {
		dst[0] = '\0';
		return true;
	}
	size_t n = strlen(src);
	if (n >= size) {
		return false;
	}
	memcpy(dst, src, n + 1);
	return true;
}

/* One key record into k; NULL or the reason it is impossible. */
static const char *key_from_pb(const Tandem__KeyState__Key *pk, kasp_key_t *k)
{
	if (pk->role > KASP_ROLE_ZSK || pk->state > KASP_KEY_STATE_LAST ||
	    pk->ds > KASP_DS_STATE_LAST) {
		return "unknown role, state or DS state";
	}
	if (pk->algorithm == 0 || pk->algorithm > 255 || pk->bits > 65535 || pk->tag > 65535) {
		return "algorithm, size or key tag out of range";
	}
	if (pk->dnskey.len < 4 || pk->dnskey.len > KASP_DNSKEY_MAX) {
		return "DNSKEY RDATA missing or too long";
	}
	if (pk->id == 0 || !copy_str(k->label, sizeof(k->label), pk->label)) {
		return "key id 0 or label too long";
	}
	k->id = pk->id;
	k->role = (kasp_role_t)pk->role;
	k->algorithm = (uint8_t)pk->algorithm;
	k->bits = (uint16_t)pk->bits;
	k->tag = (uint16_t)pk->tag;
	memcpy(k->dnskey, pk->dnskey.data, pk->dnskey.len);
	k->dnskey_len = (uint16_t)pk->dnskey.len;
	k->state = (kasp_key_state_t)pk->state;
	k->ds = (kasp_ds_state_t)pk->ds;
	k->imported = pk->imported;
	k->compromised = pk->compromised;
	k->emergency = pk->emergency;
	k->created = pk->created;
	k->published = pk->published;
	k->presigned = pk->presigned;
	k->active = pk->active;
	k->retired = pk->retired;
	k->postsigned = pk->postsigned;
	k->removed = pk->removed;
	k->ds_submitted = pk->ds_submitted;
	k->ds_seen = pk->ds_seen;
	k->ds_retracted = pk->ds_retracted;
	k->ds_gone = pk->ds_gone;
	k->roll_at = pk->roll_at;
	k->covers_zsk = pk->covers_zsk;
	return NULL;
}

static const char *zone_from_pb(const Tandem__KeyState__Zone *pz, kasp_keyset_t *set)
{
	memset(set, 0, sizeof(*set));
	if (pz->name == NULL || pz->name[0] == '\0' ||
	    !copy_str(set->zone, sizeof(set->zone), pz->name)) {
		return "zone name missing or too long";
	}
	if (!copy_str(set->policy_path, sizeof(set->policy_path), pz->policy_path) ||
	    !copy_str(set->token_uri, sizeof(set->token_uri), pz->token_uri)) {
		return "policy path or token URI too long";
	}
	if (pz->n_keys > KASP_KEYS_MAX) {
		return "too many keys";
	}
	set->next_id = pz->next_id;
	for (size_t i = 0; i < pz->n_keys; i++) {
		const char *why = key_from_pb(pz->keys[i], &set->keys[i]);
		if (why != NULL) {
			return why;
		}
		if (set->keys[i].id >= set->next_id) {
			return "key id not below the zone's next id";
		}
		for (size_t j = 0; j < i; j++) {
			if (set->keys[j].id == set->keys[i].id) {
				return "two keys with one id";
			}
		}
	}
	set->count = pz->n_keys;
	return NULL;
}

/*
 * Decodes a KeyStateFile into store (zones added to it); "what: reason" in diag
 * on refusal. Errors: TANDEM_KASP_ESTATE, TANDEM_KASP_EVERSION, TANDEM_ENOMEM.
 */
static int decode_file(const uint8_t *buf, size_t len, const char *what, tandem_diag_t *diag,
		       kasp_store_t *store)
{
	Tandem__KeyStateFile *file = NULL;
	Tandem__KeyState *state = NULL;
	kasp_keyset_t *set = malloc(sizeof(*set));
	int ret = TANDEM_ENOMEM;
	if (set == NULL) {
		goto out;
	}
	ret = TANDEM_KASP_ESTATE;
	file = tandem__key_state_file__unpack(NULL, len, buf);
	if (file == NULL || file->version == 0) {
		tandem_diag_add(diag, ret,
				"%s: not a key-state file, or a truncated or corrupt one", what);
		goto out;
	}
	if (file->version > KASP_STORE_VERSION) {
		ret = TANDEM_KASP_EVERSION;
		tandem_diag_add(
		    diag, ret, "%s: written by a newer tandem (format %u; this one reads up to %u)",
		    what, file->version, KASP_STORE_VERSION);
		goto out;
	}
	uint8_t digest[32];
	if (file->sha256.len != 32 || sha256(file->state.data, file->state.len, digest) != 0 ||
	    memcmp(digest, file->sha256.data, 32) != 0) {
		tandem_diag_add(diag, ret,
				"%s: checksum mismatch: the file is truncated or altered", what);
		goto out;
	}
	state = tandem__key_state__unpack(NULL, file->state.len, file->state.data);
	if (state == NULL || state->version == 0) {
		tandem_diag_add(diag, ret, "%s: the key records do not parse", what);
		goto out;
	}
	if (state->version > KASP_STORE_VERSION) {
		ret = TANDEM_KASP_EVERSION;
		tandem_diag_add(diag, ret,
				"%s: records written by a newer tandem (format %u; this one reads "
				"up to %u)",
				what, state->version, KASP_STORE_VERSION);
		goto out;
	}
	for (size_t i = 0; i < state->n_zones; i++) {
		const char *why = zone_from_pb(state->zones[i], set);
		if (why == NULL && find(store, set->zone) != NULL) {
			why = "zone listed twice";
		}
		if (why != NULL) {
			tandem_diag_add(diag, ret, "%s: zone %zu: %s", what, i + 1, why);
			goto out;
		}
		if (kasp_store_put(store, set) != TANDEM_OK) {
			ret = TANDEM_ENOMEM;
			goto out;
		}
	}
	ret = TANDEM_OK;
out:
	tandem__key_state__free_unpacked(state, NULL);
	tandem__key_state_file__free_unpacked(file, NULL);
	free(set);
	return ret;
}

int kasp_store_load(const char *dir, tandem_diag_t *diag, kasp_store_t **out)
{
	if (dir == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	char path[4096];
	if (store_path(dir, path, sizeof(path)) != TANDEM_OK) {
		return TANDEM_EINVAL;
	}
	char *buf = NULL;
	size_t len = 0;
	kasp_store_t *store = calloc(1, sizeof(*store));
	int ret = TANDEM_ENOMEM;
	if (store == NULL) {
		goto out;
	}
	ret = tandem_file_read(path, STATE_MAX, &buf, &len);
	if (ret == TANDEM_ENOENT) {
		*out = store;
		store = NULL;
		ret = TANDEM_OK;
		goto out;
	}
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, ret, "%s: cannot read the key-state file: %s", path,
				ret == TANDEM_ERANGE ? "too large" : strerror(errno));
		ret = ret == TANDEM_ERANGE ? TANDEM_KASP_ESTATE : ret;
		goto out;
	}
	ret = decode_file((const uint8_t *)buf, len, path, diag, store);
	if (ret != TANDEM_OK) {
		goto out;
	}
	*out = store;
	store = NULL;
out:
	free(buf);
	kasp_store_free(store);
	return ret;
}

int kasp_keyset_unpack(const uint8_t *buf, size_t len, const char *what, tandem_diag_t *diag,
		       kasp_keyset_t *out)
{
	if ((buf == NULL && len > 0) || out == NULL) {
		return TANDEM_EINVAL;
	}
	if (what == NULL) {
		what = "key set";
	}
	kasp_store_t *store = calloc(1, sizeof(*store));
	if (store == NULL) {
		return TANDEM_ENOMEM;
	}
	static const uint8_t none = 0;
	int ret = decode_file(buf != NULL ? buf : &none, len, what, diag, store);
	if (ret == TANDEM_OK && store->count != 1) {
		ret = TANDEM_KASP_ESTATE;
		tandem_diag_add(diag, ret, "%s: %zu zones where one key set was expected", what,
				store->count);
	}
	if (ret == TANDEM_OK) {
		memcpy(out, store->zones[0], sizeof(*out));
	}
	kasp_store_free(store);
	return ret;
}

/* ---- writing ---- */

static void key_to_pb(const kasp_key_t *k, Tandem__KeyState__Key *pk)
{
	tandem__key_state__key__init(pk);
	pk->id = k->id;
	pk->role = (uint32_t)k->role;
	pk->algorithm = k->algorithm;
	pk->bits = k->bits;
	pk->tag = k->tag;
	pk->label = (char *)k->label;
	pk->dnskey.data = (uint8_t *)k->dnskey;
	pk->dnskey.len = k->dnskey_len;
	pk->state = (uint32_t)k->state;
	pk->ds = (uint32_t)k->ds;
	pk->imported = k->imported;
	pk->compromised = k->compromised;
	pk->emergency = k->emergency;
	pk->created = k->created;
	pk->published = k->published;
	pk->presigned = k->presigned;
	pk->active = k->active;
	pk->retired = k->retired;
	pk->postsigned = k->postsigned;
	pk->removed = k->removed;
	pk->ds_submitted = k->ds_submitted;
	pk->ds_seen = k->ds_seen;
	pk->ds_retracted = k->ds_retracted;
	pk->ds_gone = k->ds_gone;
	pk->roll_at = k->roll_at;
	pk->covers_zsk = k->covers_zsk;
}

/*
 * Encodes n key sets as a KeyStateFile (records and their SHA-256) into a new
 * buffer (*buf is the caller's). Errors: TANDEM_ENOMEM, TANDEM_EINTERNAL.
 */
static int encode_file(const kasp_keyset_t *const *sets, size_t n, uint8_t **buf, size_t *len)
{
	int ret = TANDEM_ENOMEM;
	size_t nkeys = 0;
	for (size_t i = 0; i < n; i++) {
		nkeys += sets[i]->count;
	}
	Tandem__KeyState__Zone *zones = calloc(n + 1, sizeof(*zones));
	Tandem__KeyState__Zone **zptr = calloc(n + 1, sizeof(*zptr));
	Tandem__KeyState__Key *keys = calloc(nkeys + 1, sizeof(*keys));
	Tandem__KeyState__Key **kptr = calloc(nkeys + 1, sizeof(*kptr));
	uint8_t *sbuf = NULL, *fbuf = NULL;
	if (zones == NULL || zptr == NULL || keys == NULL || kptr == NULL) {
		goto out;
	}
	Tandem__KeyState state = TANDEM__KEY_STATE__INIT;
	state.version = KASP_STORE_VERSION;
	state.n_zones = n;
	state.zones = zptr;
	size_t kn = 0;
	for (size_t i = 0; i < n; i++) {
		const kasp_keyset_t *set = sets[i];
		Tandem__KeyState__Zone *pz = &zones[i];
		tandem__key_state__zone__init(pz);
		pz->name = (char *)set->zone;
		pz->next_id = set->next_id;
		pz->policy_path = (char *)set->policy_path;
		pz->token_uri = (char *)set->token_uri;
		pz->n_keys = set->count;
		pz->keys = &kptr[kn];
		for (size_t j = 0; j < set->count; j++, kn++) {
			key_to_pb(&set->keys[j], &keys[kn]);
			kptr[kn] = &keys[kn];
		}
		zptr[i] = pz;
	}
	size_t slen = tandem__key_state__get_packed_size(&state);
	sbuf = malloc(slen + 1);
	if (sbuf == NULL) {
		goto out;
	}
	tandem__key_state__pack(&state, sbuf);
	uint8_t digest[32];
	if (sha256(sbuf, slen, digest) != TANDEM_OK) {
		ret = TANDEM_EINTERNAL;
		goto out;
	}
	Tandem__KeyStateFile file = TANDEM__KEY_STATE_FILE__INIT;
	file.version = KASP_STORE_VERSION;
	file.state.data = sbuf;
	file.state.len = slen;
	file.sha256.data = digest;
	file.sha256.len = sizeof(digest);
	size_t flen = tandem__key_state_file__get_packed_size(&file);
	fbuf = malloc(flen + 1);
	if (fbuf == NULL) {
		goto out;
	}
	tandem__key_state_file__pack(&file, fbuf);
	*buf = fbuf;
	*len = flen;
	fbuf = NULL;
	ret = TANDEM_OK;
out:
	free(fbuf);
	free(sbuf);
	free(kptr);
	free(keys);
	free(zptr);
	free(zones);
	return ret;
}

int kasp_store_save(const kasp_store_t *store, const char *dir, tandem_diag_t *diag)
{
	if (store == NULL || dir == NULL) {
		return TANDEM_EINVAL;
	}
	char path[4096];
	if (store_path(dir, path, sizeof(path)) != TANDEM_OK) {
		return TANDEM_EINVAL;
	}
	uint8_t *fbuf = NULL;
	size_t flen = 0;
	tandem_afile_t *af = NULL;
	int ret =
	    encode_file((const kasp_keyset_t *const *)store->zones, store->count, &fbuf, &flen);
	if (ret != TANDEM_OK) {
		goto out;
	}
	ret = TANDEM_EIO;
	if (tandem_afile_open(path, 0600, &af) != TANDEM_OK) {
		tandem_diag_add(diag, ret, "%s: cannot write: %s", path, strerror(errno));
		goto out;
	}
	if (fwrite(fbuf, 1, flen, tandem_afile_stream(af)) != flen) {
		tandem_diag_add(diag, ret, "%s: cannot write: %s", path, strerror(errno));
		goto out;
	}
	int committed = tandem_afile_commit(af);
	af = NULL; /* commit frees it, success or not */
	if (committed != TANDEM_OK) {
		tandem_diag_add(diag, ret, "%s: cannot write: %s", path, strerror(errno));
		goto out;
	}
	ret = TANDEM_OK;
out:
	tandem_afile_abort(af);
	free(fbuf);
	return ret;
}

int kasp_keyset_pack(const kasp_keyset_t *set, uint8_t **buf, size_t *len)
{
	if (set == NULL || buf == NULL || len == NULL || set->count > KASP_KEYS_MAX ||
	    memchr(set->zone, '\0', sizeof(set->zone)) == NULL || set->zone[0] == '\0' ||
	    memchr(set->policy_path, '\0', sizeof(set->policy_path)) == NULL ||
	    memchr(set->token_uri, '\0', sizeof(set->token_uri)) == NULL) {
		return TANDEM_EINVAL;
	}
	const kasp_keyset_t *sets[1] = {set};
	return encode_file(sets, 1, buf, len);
}
