/* The wrapped-key archive: export from one HSM, authenticated in the HSM; import into another,
 * all or nothing, each key proved by a signature before it is stored. */
#include "archive.h"
#include "archive_internal.h"
#include "archive.pb-c.h"
#include "crypto.h"
#include "hsm_smk.h"
#include "tandem_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define ARCHIVE_VERSION 1
#define MAC_PREFIX      "tandem-archive-v1"
#define LABEL_MAX       ARCHIVE_LABEL_MAX
#define ID_MAX          ARCHIVE_ID_MAX
#define KEYS_MAX        4096
#define PROOF_PREFIX    "tandem archive import proof v1"
#define PROOF_NONCE_LEN 32

/* MAC input: a fixed prefix (domain separation) and the payload's exact bytes. */
static int mac_input(const uint8_t *payload, size_t len, uint8_t **out, size_t *out_len)
{
	size_t n = sizeof(MAC_PREFIX) - 1 + len;
	uint8_t *buf = malloc(n);
	if (buf == NULL) {
		return TANDEM_ENOMEM;
	}
	memcpy(buf, MAC_PREFIX, sizeof(MAC_PREFIX) - 1);
	if (len > 0) {
		memcpy(buf + sizeof(MAC_PREFIX) - 1, payload, len);
	}
	*out = buf;
	*out_len = n;
	return TANDEM_OK;
}

static void entries_free(Tandem__ArchiveKey **keys, size_t n)
{
	for (size_t i = 0; keys != NULL && i < n; i++) {
		if (keys[i] == NULL) {
			continue;
		}
		free(keys[i]->label);
		if (keys[i]->state != protobuf_c_empty_string) {
			free(keys[i]->state);
		}
		free(keys[i]->dnskey.data);
		free(keys[i]->wrapped.data);
		free(keys[i]);
	}
	free(keys);
}

const char *archive_role_str(archive_role_t role)
{
	switch (role) {
	case ARCHIVE_ROLE_KSK: return "ksk";
	case ARCHIVE_ROLE_ZSK: return "zsk";
	case ARCHIVE_ROLE_CSK: return "csk";
	case ARCHIVE_ROLE_UNKNOWN: break;
	}
	return "unknown";
}

static uint16_t role_flags(archive_role_t role)
{
	return role == ARCHIVE_ROLE_KSK || role == ARCHIVE_ROLE_CSK ? 257 : 256;
}

/* One archive entry for key: wrapped under the SMK, with meta's role, state and times (NULL:
 * unknown role, flags 256). */
static int entry_new(hsm_token_t *token, const hsm_key_t *key, const archive_key_meta_t *meta,
		     tandem_diag_t *diag, Tandem__ArchiveKey **out)
{
	Tandem__ArchiveKey *e = calloc(1, sizeof(*e));
	if (e == NULL) {
		return TANDEM_ENOMEM;
	}
	tandem__archive_key__init(e);
	*out = e; /* the caller frees it, whatever happens */
	size_t id_len = 0;
	const uint8_t *id = hsm_smk_key_id(key, &id_len);
	e->label = strdup(hsm_key_label(key));
	e->dnskey.data = malloc(HSM_DNSKEY_MAX);
	if (e->label == NULL || e->dnskey.data == NULL) {
		return TANDEM_ENOMEM;
	}
	/* id points into the key record, which outlives the packing. */
	e->id = (ProtobufCBinaryData){id_len, (uint8_t *)id};
	e->algorithm = hsm_key_algorithm(key);
	e->bits = hsm_key_bits(key);
	archive_role_t role = meta != NULL ? meta->role : ARCHIVE_ROLE_UNKNOWN;
	e->role = (Tandem__ArchiveRole)role;
	if (meta != NULL) {
		if (meta->state != NULL && meta->state[0] != '\0') {
			e->state = strdup(meta->state);
			if (e->state == NULL) {
				e->state = (char *)protobuf_c_empty_string;
				return TANDEM_ENOMEM;
			}
		}
		e->created = meta->created;
		e->published = meta->published;
		e->active = meta->active;
		e->retired = meta->retired;
		e->removed = meta->removed;
	}
	uint16_t flags = role_flags(role);
	int ret = hsm_key_dnskey_rdata(key, flags, e->dnskey.data, &e->dnskey.len);
	if (ret != TANDEM_OK) {
		return ret;
	}
	e->key_tag = hsm_key_tag(key, flags);
	return hsm_smk_wrap(token, key, diag, &e->wrapped.data, &e->wrapped.len);
}

/* The archive file of n entries: payload, MAC made in the HSM. */
static int archive_pack(hsm_token_t *token, Tandem__ArchiveKey **entries, size_t n, uint64_t now,
			tandem_diag_t *diag, uint8_t **out, size_t *out_len)
{
	uint8_t *payload = NULL, *macin = NULL, *file = NULL;
	size_t payload_len = 0, macin_len = 0;
	uint8_t check[HSM_SMK_CHECK_LEN], mac[HSM_SMK_MAC_LEN];
	int ret = hsm_smk_check(token, diag, check);
	if (ret != TANDEM_OK) {
		goto out;
	}
	Tandem__ArchivePayload p = TANDEM__ARCHIVE_PAYLOAD__INIT;
	p.version = ARCHIVE_VERSION;
	p.smk_check = (ProtobufCBinaryData){sizeof(check), check};
	p.created = now;
	p.source_token = (char *)hsm_token_label(token);
	p.n_keys = n;
	p.keys = entries;
	payload_len = tandem__archive_payload__get_packed_size(&p);
	payload = malloc(payload_len ? payload_len : 1);
	if (payload == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	tandem__archive_payload__pack(&p, payload);
	ret = mac_input(payload, payload_len, &macin, &macin_len);
	if (ret == TANDEM_OK) {
		ret = hsm_smk_mac(token, macin, macin_len, diag, mac);
	}
	if (ret != TANDEM_OK) {
		goto out;
	}
	Tandem__Archive a = TANDEM__ARCHIVE__INIT;
	a.version = ARCHIVE_VERSION;
	a.payload = (ProtobufCBinaryData){payload_len, payload};
	a.mac = (ProtobufCBinaryData){sizeof(mac), mac};
	size_t file_len = tandem__archive__get_packed_size(&a);
	file = malloc(file_len);
	if (file == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	tandem__archive__pack(&a, file);
	*out = file;
	*out_len = file_len;
	file = NULL;
out:
	free(payload);
	free(macin);
	free(file);
	return ret;
}

int archive_export(hsm_token_t *token, uint64_t now, tandem_diag_t *diag, uint8_t **out,
		   size_t *out_len, size_t *count)
{
	if (token == NULL || out == NULL || out_len == NULL || count == NULL) {
		return TANDEM_EINVAL;
	}
	int ret = TANDEM_OK;
	size_t nkeys = hsm_token_key_count(token), n = 0;
	Tandem__ArchiveKey **entries = calloc(nkeys ? nkeys : 1, sizeof(*entries));
	if (entries == NULL) {
		return TANDEM_ENOMEM;
	}
	/* the SMK first: without one, say so rather than fail on the first key */
	uint8_t check[HSM_SMK_CHECK_LEN];
	ret = hsm_smk_check(token, diag, check);
	for (size_t i = 0; ret == TANDEM_OK && i < nkeys; i++) {
		const hsm_key_t *key = hsm_token_key(token, i);
		if (!hsm_smk_key_archivable(token, key)) {
			continue; /* not made by tandem: it may not leave, or not this way */
		}
		ret = entry_new(token, key, NULL, diag, &entries[n++]);
	}
	if (ret == TANDEM_OK) {
		ret = archive_pack(token, entries, n, now, diag, out, out_len);
	}
	if (ret == TANDEM_OK) {
		*count = n;
	}
	entries_free(entries, n);
	return ret;
}

/* The one private key labelled label on the token, or NULL with the reason in diag. */
static const hsm_key_t *key_by_label(hsm_token_t *token, const char *label, tandem_diag_t *diag)
{
	const hsm_key_t *found = NULL;
	size_t seen = 0;
	for (size_t i = 0; i < hsm_token_key_count(token); i++) {
		const hsm_key_t *k = hsm_token_key(token, i);
		if (strcmp(hsm_key_label(k), label) == 0) {
			found = k;
			seen++;
		}
	}
	if (seen != 1) {
		tandem_diag_add(diag, TANDEM_HSM_EKEY, "key %s: %s on token %s", label,
				seen == 0 ? "listed in the key state but not" : "held twice",
				hsm_token_label(token));
		return NULL;
	}
	if (!hsm_smk_key_archivable(token, found)) {
		tandem_diag_add(diag, TANDEM_HSM_EKEY,
				"key %s on token %s was not made by tandem to travel (not "
				"extractable under a trusted key)",
				label, hsm_token_label(token));
		return NULL;
	}
	return found;
}

static bool meta_valid(const archive_key_meta_t *m)
{
	return m->label != NULL && m->label[0] != '\0' && strlen(m->label) <= ARCHIVE_LABEL_MAX &&
	       m->role <= ARCHIVE_ROLE_CSK &&
	       (m->state == NULL || strlen(m->state) < ARCHIVE_STATE_MAX) &&
	       (m->dnskey == NULL || (m->dnskey_len >= 4 && m->dnskey_len <= HSM_DNSKEY_MAX));
}

int archive_export_keys(hsm_token_t *token, const archive_key_meta_t *meta, size_t nmeta,
			uint64_t now, tandem_diag_t *diag, uint8_t **out, size_t *out_len)
{
	if (token == NULL || meta == NULL || nmeta == 0 || nmeta > KEYS_MAX || out == NULL ||
	    out_len == NULL) {
		return TANDEM_EINVAL;
	}
	for (size_t i = 0; i < nmeta; i++) {
		if (!meta_valid(&meta[i])) {
			tandem_diag_add(
			    diag, TANDEM_EINVAL,
			    "key %zu to export: label, role, state name or DNSKEY out of "
			    "range",
			    i + 1);
			return TANDEM_EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(meta[i].label, meta[j].label) == 0) {
				tandem_diag_add(diag, TANDEM_EINVAL, "key %s listed twice",
						meta[i].label);
				return TANDEM_EINVAL;
			}
		}
	}
	int ret = TANDEM_OK;
	size_t n = 0;
	const hsm_key_t **keys = calloc(nmeta, sizeof(*keys));
	Tandem__ArchiveKey **entries = calloc(nmeta, sizeof(*entries));
	uint8_t *rdata = malloc(HSM_DNSKEY_MAX);
	if (keys == NULL || entries == NULL || rdata == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	/* Every listed key is looked for before anything is wrapped, so that the operator
	 * learns every missing or different key at once. */
	for (size_t i = 0; i < nmeta; i++) {
		keys[i] = key_by_label(token, meta[i].label, diag);
		if (keys[i] == NULL) {
			ret = TANDEM_HSM_EKEY;
			continue;
		}
		if (meta[i].dnskey == NULL) {
			continue;
		}
		size_t len = 0;
		int r = hsm_key_dnskey_rdata(keys[i], role_flags(meta[i].role), rdata, &len);
		if (r != TANDEM_OK) {
			ret = r;
			continue;
		}
		/* protocol, algorithm and public key; the flags are the role's */
		if (len != meta[i].dnskey_len ||
		    memcmp(rdata + 2, meta[i].dnskey + 2, len - 2) != 0) {
			tandem_diag_add(diag, TANDEM_ARCHIVE_ECONFLICT,
					"key %s: the token's key under this label is not the key "
					"the key state records (algorithm or public key differ)",
					meta[i].label);
			if (ret == TANDEM_OK) {
				ret = TANDEM_ARCHIVE_ECONFLICT;
			}
		}
	}
	if (ret != TANDEM_OK) {
		goto out;
	}
	uint8_t check[HSM_SMK_CHECK_LEN];
	ret = hsm_smk_check(token, diag, check);
	for (size_t i = 0; ret == TANDEM_OK && i < nmeta; i++) {
		ret = entry_new(token, keys[i], &meta[i], diag, &entries[n++]);
	}
	if (ret == TANDEM_OK) {
		ret = archive_pack(token, entries, n, now, diag, out, out_len);
	}
out:
	entries_free(entries, n);
	free(keys);
	free(rdata);
	return ret;
}

/* ---- import ---- */

static bool key_entry_valid(const Tandem__ArchiveKey *e, tandem_diag_t *diag, size_t i)
{
	const char *why = NULL;
	size_t label_len = e->label != NULL ? strlen(e->label) : 0;
	if (label_len == 0 || label_len > LABEL_MAX) {
		why = "label empty or too long";
	} else if (e->id.len > ID_MAX) {
		why = "CKA_ID too long";
	} else if (e->wrapped.len == 0 || e->wrapped.len > HSM_SMK_WRAPPED_MAX) {
		why = "wrapped key empty or too large";
	} else if (e->dnskey.len < 5 || e->dnskey.len > HSM_DNSKEY_MAX) {
		why = "DNSKEY RDATA of the wrong size";
	} else if (e->dnskey.data[2] != 3 || e->dnskey.data[3] != e->algorithm) {
		why = "DNSKEY RDATA does not match the algorithm";
	} else if (crypto_key_tag(e->dnskey.data, e->dnskey.len) != e->key_tag) {
		why = "key tag does not match the DNSKEY RDATA";
	} else if ((unsigned)e->role > ARCHIVE_ROLE_CSK) {
		why = "unknown role";
	} else if (e->state != NULL && strlen(e->state) >= ARCHIVE_STATE_MAX) {
		why = "key state name too long";
	} else if (e->role != TANDEM__ARCHIVE_ROLE__ARCHIVE_ROLE_UNKNOWN &&
		   (e->dnskey.data[0] << 8 | e->dnskey.data[1]) !=
		       role_flags((archive_role_t)e->role)) {
		why = "DNSKEY flags do not match the role";
	}
	if (why != NULL) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_EFORMAT, "archive key %zu (%s): %s", i + 1,
				label_len > 0 && label_len <= LABEL_MAX ? e->label : "?", why);
		return false;
	}
	return true;
}

/* Signs fresh test data with the staged key in the HSM and verifies it with the archived key. */
static int key_prove(hsm_token_t *token, const hsm_key_t *staged, const Tandem__ArchiveKey *e,
		     tandem_diag_t *diag)
{
	int ret = TANDEM_OK;
	crypto_pubkey_t *pub = NULL;
	uint8_t data[sizeof(PROOF_PREFIX) - 1 + PROOF_NONCE_LEN];
	uint8_t sig[HSM_SIG_MAX];
	size_t sig_len = 0;
	memcpy(data, PROOF_PREFIX, sizeof(PROOF_PREFIX) - 1);
	if (RAND_bytes(data + sizeof(PROOF_PREFIX) - 1, PROOF_NONCE_LEN) != 1) {
		return TANDEM_CRYPTO_ELIB;
	}
	ret = crypto_pubkey_from_dnskey(e->dnskey.data, e->dnskey.len, &pub);
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_EFORMAT, "key %s: archived DNSKEY refused: %s",
				e->label, tandem_strerror(ret));
		ret = TANDEM_ARCHIVE_EFORMAT;
		goto out;
	}
	ret = hsm_token_sign(token, 0, staged, data, sizeof(data), sig, &sig_len);
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, ret, "key %s: the unwrapped key cannot sign: %s", e->label,
				tandem_strerror(ret));
		goto out;
	}
	if (crypto_verify(pub, data, sizeof(data), sig, sig_len) != TANDEM_OK) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_ETAMPER,
				"key %s: a signature by the unwrapped key does not verify with the "
				"archived public key",
				e->label);
		ret = TANDEM_ARCHIVE_ETAMPER;
	}
out:
	crypto_pubkey_free(pub);
	return ret;
}

static bool same_bytes(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* The archive's description of a validated entry. */
static void key_info(const Tandem__ArchiveKey *e, archive_key_info_t *k)
{
	memset(k, 0, sizeof(*k));
	snprintf(k->label, sizeof(k->label), "%s", e->label);
	if (e->id.len > 0) {
		memcpy(k->id, e->id.data, e->id.len);
	}
	k->id_len = e->id.len;
	k->algorithm = (uint8_t)e->algorithm;
	k->bits = e->bits;
	k->role = (archive_role_t)e->role;
	snprintf(k->state, sizeof(k->state), "%s", e->state != NULL ? e->state : "");
	k->created = e->created;
	k->published = e->published;
	k->active = e->active;
	k->retired = e->retired;
	k->removed = e->removed;
	memcpy(k->dnskey, e->dnskey.data, e->dnskey.len);
	k->dnskey_len = e->dnskey.len;
	k->key_tag = (uint16_t)e->key_tag;
}

int archive_file_read(const uint8_t *buf, size_t len, tandem_diag_t *diag,
		      Tandem__Archive **archive, Tandem__ArchivePayload **payload)
{
	if (buf == NULL || archive == NULL || payload == NULL) {
		return TANDEM_EINVAL;
	}
	int ret = TANDEM_OK;
	Tandem__ArchivePayload *p = NULL;
	if (len == 0 || len > ARCHIVE_ARCHIVE_FILE_MAX) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_EFORMAT, "not an archive: %s",
				len == 0 ? "empty" : "too large");
		return TANDEM_ARCHIVE_EFORMAT;
	}
	Tandem__Archive *a = tandem__archive__unpack(NULL, len, buf);
	if (a == NULL) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_EFORMAT,
				"not a tandem key archive, or a truncated one");
		return TANDEM_ARCHIVE_EFORMAT;
	}
	if (a->version != ARCHIVE_VERSION) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_EVERSION,
				"archive format version %u is not supported (this is %d)",
				a->version, ARCHIVE_VERSION);
		ret = TANDEM_ARCHIVE_EVERSION;
		goto out;
	}
	if (a->payload.len == 0 || a->mac.len != HSM_SMK_MAC_LEN) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_EFORMAT,
				"archive: payload or MAC missing (truncated?)");
		ret = TANDEM_ARCHIVE_EFORMAT;
		goto out;
	}
	/* Unauthenticated until the MAC is checked; parsed first only to tell "another SMK"
	 * from "tampered" (both are refused). */
	p = tandem__archive_payload__unpack(NULL, a->payload.len, a->payload.data);
	if (p == NULL || p->version != ARCHIVE_VERSION || p->smk_check.len != HSM_SMK_CHECK_LEN) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_ETAMPER,
				"archive payload malformed: tampered or truncated");
		ret = TANDEM_ARCHIVE_ETAMPER;
		goto out;
	}
	*archive = a;
	*payload = p;
	return TANDEM_OK;
out:
	if (p != NULL) {
		tandem__archive_payload__free_unpacked(p, NULL);
	}
	tandem__archive__free_unpacked(a, NULL);
	return ret;
}

int archive_payload_keys(const Tandem__ArchivePayload *p, tandem_diag_t *diag,
			 archive_key_info_t **keys)
{
	if (p == NULL || keys == NULL) {
		return TANDEM_EINVAL;
	}
	if (p->n_keys > KEYS_MAX) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_EFORMAT, "archive holds %zu keys, at most %d",
				p->n_keys, KEYS_MAX);
		return TANDEM_ARCHIVE_EFORMAT;
	}
	for (size_t i = 0; i < p->n_keys; i++) {
		const Tandem__ArchiveKey *e = p->keys[i];
		if (!key_entry_valid(e, diag, i)) {
			return TANDEM_ARCHIVE_EFORMAT;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(p->keys[j]->label, e->label) == 0 ||
			    (e->id.len > 0 && same_bytes(&p->keys[j]->id, &e->id))) {
				tandem_diag_add(diag, TANDEM_ARCHIVE_EFORMAT,
						"archive holds key %s twice", e->label);
				return TANDEM_ARCHIVE_EFORMAT;
			}
		}
	}
	archive_key_info_t *k = calloc(p->n_keys ? p->n_keys : 1, sizeof(*k));
	if (k == NULL) {
		return TANDEM_ENOMEM;
	}
	for (size_t i = 0; i < p->n_keys; i++) {
		key_info(p->keys[i], &k[i]);
	}
	*keys = k;
	return TANDEM_OK;
}

void archive_import_stats_deinit(archive_import_stats_t *stats)
{
	if (stats == NULL) {
		return;
	}
	free(stats->keys);
	memset(stats, 0, sizeof(*stats));
}

int archive_import(hsm_token_t *token, const uint8_t *buf, size_t len, tandem_diag_t *diag,
		   archive_import_stats_t *stats)
{
	if (token == NULL || buf == NULL || stats == NULL) {
		return TANDEM_EINVAL;
	}
	int ret = TANDEM_OK;
	Tandem__Archive *a = NULL;
	Tandem__ArchivePayload *p = NULL;
	hsm_smk_import_t *imp = NULL;
	uint8_t *macin = NULL;
	size_t macin_len = 0;
	archive_import_stats_t st;
	memset(&st, 0, sizeof(st));
	ret = archive_file_read(buf, len, diag, &a, &p);
	if (ret != TANDEM_OK) {
		goto out;
	}
	uint8_t check[HSM_SMK_CHECK_LEN];
	ret = hsm_smk_check(token, diag, check);
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (CRYPTO_memcmp(check, p->smk_check.data, sizeof(check)) != 0) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_ETAMPER,
				"the archive was made under another SMK than token %s holds",
				hsm_token_label(token));
		ret = TANDEM_ARCHIVE_ETAMPER;
		goto out;
	}
	ret = mac_input(a->payload.data, a->payload.len, &macin, &macin_len);
	if (ret == TANDEM_OK) {
		ret = hsm_smk_mac_verify(token, macin, macin_len, a->mac.data, diag);
	}
	if (ret != TANDEM_OK) {
		if (ret == TANDEM_ARCHIVE_ETAMPER) {
			tandem_diag_add(diag, ret, "the archive was altered after export");
		}
		goto out;
	}
	ret = archive_payload_keys(p, diag, &st.keys);
	if (ret != TANDEM_OK) {
		goto out;
	}
	st.nkeys = p->n_keys;
	st.created = p->created;
	snprintf(st.source_token, sizeof(st.source_token), "%s",
		 p->source_token != NULL ? p->source_token : "");
	ret = hsm_smk_import_new(token, diag, &imp);
	if (ret != TANDEM_OK) {
		goto out;
	}
	for (size_t i = 0; i < p->n_keys; i++) {
		const Tandem__ArchiveKey *e = p->keys[i];
		const uint8_t *pk = e->dnskey.data + 4;
		size_t pk_len = e->dnskey.len - 4;
		bool exists = false;
		ret = hsm_smk_import_exists(imp, e->label, e->id.data, e->id.len, pk, pk_len, diag,
					    &exists);
		if (ret != TANDEM_OK) {
			goto out;
		}
		if (exists) {
			st.skipped++;
			continue;
		}
		const hsm_key_t *staged = NULL;
		ret = hsm_smk_import_stage(imp, e->label, e->id.data, e->id.len,
					   (uint8_t)e->algorithm, pk, pk_len, e->wrapped.data,
					   e->wrapped.len, diag, &staged);
		if (ret == TANDEM_OK) {
			ret = key_prove(token, staged, e, diag);
		}
		if (ret != TANDEM_OK) {
			goto out;
		}
		st.keys[i].imported = true;
		st.imported++;
	}
	ret = hsm_smk_import_commit(imp, diag);
	if (ret != TANDEM_OK) {
		goto out;
	}
	*stats = st;
	memset(&st, 0, sizeof(st));
out:
	archive_import_stats_deinit(&st);
	hsm_smk_import_free(imp);
	free(macin);
	if (p != NULL) {
		tandem__archive_payload__free_unpacked(p, NULL);
	}
	if (a != NULL) {
		tandem__archive__free_unpacked(a, NULL);
	}
	return ret;
}
