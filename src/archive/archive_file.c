/* The wrapped-key archive: export from one HSM, authenticated in the HSM; import into another,
 * all or nothing, each key proved by a signature before it is stored. */
#include "archive.h"
#include "archive.pb-c.h"
#include "crypto.h"
#include "hsm_smk.h"
#include "tandem_error.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define ARCHIVE_VERSION 1
#define MAC_PREFIX      "tandem-archive-v1"
#define LABEL_MAX       255
#define ID_MAX          128
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
		free(keys[i]->dnskey.data);
		free(keys[i]->wrapped.data);
		free(keys[i]);
	}
	free(keys);
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
	uint8_t *payload = NULL, *macin = NULL, *file = NULL;
	size_t payload_len = 0, macin_len = 0;
	uint8_t check[HSM_SMK_CHECK_LEN], mac[HSM_SMK_MAC_LEN];
	if (entries == NULL) {
		return TANDEM_ENOMEM;
	}
	ret = hsm_smk_check(token, diag, check);
	if (ret != TANDEM_OK) {
		goto out;
	}
	for (size_t i = 0; i < nkeys; i++) {
		const hsm_key_t *key = hsm_token_key(token, i);
		if (!hsm_smk_key_archivable(token, key)) {
			continue; /* not made by tandem: it may not leave, or not this way */
		}
		Tandem__ArchiveKey *e = calloc(1, sizeof(*e));
		if (e == NULL) {
			ret = TANDEM_ENOMEM;
			goto out;
		}
		tandem__archive_key__init(e);
		entries[n++] = e;
		size_t id_len = 0;
		const uint8_t *id = hsm_smk_key_id(key, &id_len);
		e->label = strdup(hsm_key_label(key));
		e->dnskey.data = malloc(HSM_DNSKEY_MAX);
		if (e->label == NULL || e->dnskey.data == NULL) {
			ret = TANDEM_ENOMEM;
			goto out;
		}
		/* id points into the key record, which outlives the packing below. */
		e->id = (ProtobufCBinaryData){id_len, (uint8_t *)id};
		e->algorithm = hsm_key_algorithm(key);
		e->bits = hsm_key_bits(key);
		e->role = TANDEM__ARCHIVE_ROLE__ARCHIVE_ROLE_UNKNOWN;
		ret = hsm_key_dnskey_rdata(key, 256, e->dnskey.data, &e->dnskey.len);
		if (ret != TANDEM_OK) {
			goto out;
		}
		e->key_tag = hsm_key_tag(key, 256);
		ret = hsm_smk_wrap(token, key, diag, &e->wrapped.data, &e->wrapped.len);
		if (ret != TANDEM_OK) {
			goto out;
		}
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
	*count = n;
	file = NULL;
out:
	entries_free(entries, n);
	free(payload);
	free(macin);
	free(file);
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
	}
	if (why != NULL) {
		tandem_diag_add(diag, TANDEM_ESYNTAX, "archive key %zu (%s): %s", i + 1,
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
		tandem_diag_add(diag, TANDEM_ESYNTAX, "key %s: archived DNSKEY refused: %s",
				e->label, tandem_strerror(ret));
		ret = TANDEM_ESYNTAX;
		goto out;
	}
	ret = hsm_token_sign(token, 0, staged, data, sizeof(data), sig, &sig_len);
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, ret, "key %s: the unwrapped key cannot sign: %s", e->label,
				tandem_strerror(ret));
		goto out;
	}
	if (crypto_verify(pub, data, sizeof(data), sig, sig_len) != TANDEM_OK) {
		tandem_diag_add(diag, TANDEM_EPERM,
				"key %s: a signature by the unwrapped key does not verify with the "
				"archived public key",
				e->label);
		ret = TANDEM_EPERM;
	}
out:
	crypto_pubkey_free(pub);
	return ret;
}

static bool same_bytes(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
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
	archive_import_stats_t st = {0, 0};
	if (len == 0 || len > ARCHIVE_ARCHIVE_FILE_MAX) {
		tandem_diag_add(diag, TANDEM_ESYNTAX, "not an archive: %s",
				len == 0 ? "empty" : "too large");
		return TANDEM_ESYNTAX;
	}
	a = tandem__archive__unpack(NULL, len, buf);
	if (a == NULL) {
		tandem_diag_add(diag, TANDEM_ESYNTAX,
				"not a tandem key archive, or a truncated one");
		ret = TANDEM_ESYNTAX;
		goto out;
	}
	if (a->version != ARCHIVE_VERSION) {
		tandem_diag_add(diag, TANDEM_ERANGE,
				"archive format version %u is not supported (this is %d)",
				a->version, ARCHIVE_VERSION);
		ret = TANDEM_ERANGE;
		goto out;
	}
	if (a->payload.len == 0 || a->mac.len != HSM_SMK_MAC_LEN) {
		tandem_diag_add(diag, TANDEM_ESYNTAX,
				"archive: payload or MAC missing (truncated?)");
		ret = TANDEM_ESYNTAX;
		goto out;
	}
	/* Unauthenticated until the MAC is checked; parsed first only to tell "another SMK"
	 * from "tampered" (both are refused). */
	p = tandem__archive_payload__unpack(NULL, a->payload.len, a->payload.data);
	if (p == NULL || p->version != ARCHIVE_VERSION || p->smk_check.len != HSM_SMK_CHECK_LEN) {
		tandem_diag_add(diag, TANDEM_EPERM,
				"archive payload malformed: tampered or truncated");
		ret = TANDEM_EPERM;
		goto out;
	}
	uint8_t check[HSM_SMK_CHECK_LEN];
	ret = hsm_smk_check(token, diag, check);
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (CRYPTO_memcmp(check, p->smk_check.data, sizeof(check)) != 0) {
		tandem_diag_add(diag, TANDEM_EPERM,
				"the archive was made under another SMK than token %s holds",
				hsm_token_label(token));
		ret = TANDEM_EPERM;
		goto out;
	}
	ret = mac_input(a->payload.data, a->payload.len, &macin, &macin_len);
	if (ret == TANDEM_OK) {
		ret = hsm_smk_mac_verify(token, macin, macin_len, a->mac.data, diag);
	}
	if (ret != TANDEM_OK) {
		if (ret == TANDEM_EPERM) {
			tandem_diag_add(diag, ret, "the archive was altered after export");
		}
		goto out;
	}
	if (p->n_keys > KEYS_MAX) {
		tandem_diag_add(diag, TANDEM_ERANGE, "archive holds %zu keys, at most %d",
				p->n_keys, KEYS_MAX);
		ret = TANDEM_ERANGE;
		goto out;
	}
	for (size_t i = 0; i < p->n_keys; i++) {
		const Tandem__ArchiveKey *e = p->keys[i];
		if (!key_entry_valid(e, diag, i)) {
			ret = TANDEM_ESYNTAX;
			goto out;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(p->keys[j]->label, e->label) == 0 ||
			    (e->id.len > 0 && same_bytes(&p->keys[j]->id, &e->id))) {
				tandem_diag_add(diag, TANDEM_ESYNTAX, "archive holds key %s twice",
						e->label);
				ret = TANDEM_ESYNTAX;
				goto out;
			}
		}
	}
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
		st.imported++;
	}
	ret = hsm_smk_import_commit(imp, diag);
	if (ret != TANDEM_OK) {
		goto out;
	}
	*stats = st;
out:
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
