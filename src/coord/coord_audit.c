/* The audit chain in etcd: one transaction per append, conditioned on the head. */
#include "coord_audit.h"
#include "coord_store.h"

#include "tandem_encode.h"
#include "tandem_error.h"
#include "tandem_text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX (COORD_STORE_PREFIX_MAX + 96)

struct coord_audit {
	coord_etcd_t *etcd;
	char prefix[COORD_STORE_PREFIX_MAX + 1];
	/* the head as last seen: a race refreshes it from the failed transaction's read */
	bool known;
	uint64_t seq;
	uint8_t hash[AUDIT_HASH_LEN];
	int64_t mod_rev; /* 0: absent */
	uint64_t conflicts;
};

int coord_audit_new(coord_etcd_t *etcd, const char *prefix, coord_audit_t **out)
{
	if (etcd == NULL || prefix == NULL || out == NULL ||
	    strlen(prefix) > COORD_STORE_PREFIX_MAX) {
		return TANDEM_EINVAL;
	}
	coord_audit_t *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		return TANDEM_ENOMEM;
	}
	a->etcd = etcd;
	memcpy(a->prefix, prefix, strlen(prefix) + 1);
	*out = a;
	return TANDEM_OK;
}

void coord_audit_free(coord_audit_t *a)
{
	free(a);
}

uint64_t coord_audit_conflicts(const coord_audit_t *a)
{
	return a != NULL ? a->conflicts : 0;
}

static void key_entry(const coord_audit_t *a, uint64_t seq, char *out, size_t size)
{
	snprintf(out, size, "%saudit/e/%020" PRIu64, a->prefix, seq);
}

static void key_named(const coord_audit_t *a, const char *what, char *out, size_t size)
{
	snprintf(out, size, "%saudit/%s", a->prefix, what);
}

/* "SEQ HEX" as the head and base keep it. */
static bool parse_pair(const uint8_t *value, size_t len, uint64_t *seq,
		       uint8_t hash[AUDIT_HASH_LEN])
{
	char hex[2 * AUDIT_HASH_LEN + 2], extra[2];
	unsigned long long s = 0;
	if (len > 100 || memchr(value, '\0', len) != NULL ||
	    sscanf((const char *)value, "%llu %65s %1s", &s, hex, extra) != 2 ||
	    strlen(hex) != 2 * AUDIT_HASH_LEN ||
	    tandem_hex_decode(hex, hash, AUDIT_HASH_LEN) != 0) {
		return false;
	}
	*seq = s;
	return true;
}

/* Takes the head from a read of the head key (one kv or none). */
static int head_take(coord_audit_t *a, const coord_etcd_range_t *r, tandem_diag_t *diag)
{
	if (r->n == 0) {
		a->seq = 0;
		memset(a->hash, 0, sizeof(a->hash));
		a->mod_rev = 0;
		a->known = true;
		return TANDEM_OK;
	}
	if (!parse_pair(r->kvs[0].value, r->kvs[0].value_len, &a->seq, a->hash)) {
		tandem_diag_add(diag, TANDEM_COORD_EPROTO, "%s: not 'SEQ HASH'", r->kvs[0].key);
		a->known = false;
		return TANDEM_COORD_EPROTO;
	}
	a->mod_rev = r->kvs[0].mod_revision;
	a->known = true;
	return TANDEM_OK;
}

static int head_read(coord_audit_t *a, tandem_diag_t *diag)
{
	char key[KEY_MAX];
	coord_etcd_range_t *r = NULL;
	key_named(a, "head", key, sizeof(key));
	int ret = coord_etcd_get(a->etcd, key, 0, diag, &r);
	if (ret == TANDEM_OK) {
		ret = head_take(a, r, diag);
	}
	coord_etcd_range_free(r);
	return ret;
}

/* Seals entries after the head as known, and builds the transaction. */
static int append_txn(coord_audit_t *a, audit_entry_t *entries, size_t n, coord_etcd_txn_t **out)
{
	char key[KEY_MAX], line[AUDIT_LINE_MAX], head[128], hex[2 * AUDIT_HASH_LEN + 1];
	coord_etcd_txn_t *t = NULL;
	size_t len = 0;
	int ret = coord_etcd_txn_new(&t);
	key_named(a, "head", key, sizeof(key));
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_cmp_mod(t, key, a->mod_rev);
	}
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_on_fail_get(t, key);
	}
	for (size_t i = 0; ret == TANDEM_OK && i < n; i++) {
		const uint8_t *prev = i > 0 ? entries[i - 1].hash : a->seq > 0 ? a->hash : NULL;
		ret = audit_entry_seal(&entries[i], a->seq + 1 + i, prev);
		if (ret == TANDEM_OK) {
			ret = audit_entry_encode(&entries[i], line, sizeof(line), &len);
		}
		if (ret == TANDEM_OK) {
			key_entry(a, entries[i].seq, key, sizeof(key));
			ret = coord_etcd_txn_put(t, key, line, len, 0);
		}
	}
	if (ret == TANDEM_OK) {
		snprintf(head, sizeof(head), "%" PRIu64 " %s", entries[n - 1].seq,
			 audit_hex(entries[n - 1].hash, AUDIT_HASH_LEN, hex));
		key_named(a, "head", key, sizeof(key));
		ret = coord_etcd_txn_put(t, key, head, strlen(head), 0);
	}
	if (ret != TANDEM_OK) {
		coord_etcd_txn_free(t);
		return ret;
	}
	*out = t;
	return TANDEM_OK;
}

int coord_audit_append(coord_audit_t *a, audit_entry_t *entries, size_t n, tandem_diag_t *diag)
{
	int ret = TANDEM_COORD_ECONFLICT;
	if (a == NULL || entries == NULL || n == 0 || n > COORD_AUDIT_BATCH_MAX) {
		return TANDEM_EINVAL;
	}
	for (unsigned attempt = 0; attempt <= COORD_AUDIT_RETRIES; attempt++) {
		coord_etcd_txn_t *t = NULL;
		coord_etcd_txn_result_t *res = NULL;
		if (!a->known && (ret = head_read(a, diag)) != TANDEM_OK) {
			return ret;
		}
		ret = append_txn(a, entries, n, &t);
		if (ret == TANDEM_OK) {
			ret = coord_etcd_txn_commit(a->etcd, t, diag, &res);
		}
		coord_etcd_txn_free(t);
		if (ret == TANDEM_OK) {
			a->seq = entries[n - 1].seq;
			memcpy(a->hash, entries[n - 1].hash, AUDIT_HASH_LEN);
			a->mod_rev = res->revision; /* the head was written by this transaction */
			coord_etcd_txn_result_free(res);
			return TANDEM_OK;
		}
		if (ret == TANDEM_COORD_ECONFLICT) {
			a->conflicts++;
			ret = res != NULL && res->n_reads == 1 ? head_take(a, &res->reads[0], diag)
							       : TANDEM_COORD_EPROTO;
			coord_etcd_txn_result_free(res);
			if (ret != TANDEM_OK) {
				return ret;
			}
			continue;
		}
		coord_etcd_txn_result_free(res);
		a->known = false;
		if (ret == TANDEM_COORD_EUNAVAIL) {
			/* the write may have been applied: the head then holds our last hash */
			uint64_t last = entries[n - 1].seq;
			uint8_t want[AUDIT_HASH_LEN];
			memcpy(want, entries[n - 1].hash, AUDIT_HASH_LEN);
			if (head_read(a, diag) == TANDEM_OK && a->seq == last &&
			    memcmp(a->hash, want, AUDIT_HASH_LEN) == 0) {
				return TANDEM_OK;
			}
		}
		return ret;
	}
	tandem_diag_add(diag, TANDEM_COORD_ECONFLICT, "audit: lost the append race %u times",
			COORD_AUDIT_RETRIES + 1);
	return TANDEM_COORD_ECONFLICT;
}

int coord_audit_head(coord_audit_t *a, tandem_diag_t *diag, coord_audit_head_t *out)
{
	char key[KEY_MAX];
	coord_etcd_range_t *r = NULL;
	if (a == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	int ret = head_read(a, diag);
	if (ret != TANDEM_OK) {
		return ret;
	}
	coord_audit_head_t h;
	memset(&h, 0, sizeof(h));
	h.seq = a->seq;
	memcpy(h.hash, a->hash, AUDIT_HASH_LEN);
	h.base_seq = 1;
	key_named(a, "base", key, sizeof(key));
	ret = coord_etcd_get(a->etcd, key, 0, diag, &r);
	if (ret == TANDEM_OK && r->n == 1) {
		h.base_rev = r->kvs[0].mod_revision;
		if (!parse_pair(r->kvs[0].value, r->kvs[0].value_len, &h.base_seq, h.base_prev) ||
		    h.base_seq == 0) {
			tandem_diag_add(diag, TANDEM_COORD_EPROTO, "%s: not 'SEQ PREV'", key);
			ret = TANDEM_COORD_EPROTO;
		}
	}
	coord_etcd_range_free(r);
	if (ret == TANDEM_OK) {
		*out = h;
	}
	return ret;
}

void coord_audit_lines_free(coord_audit_lines_t *l)
{
	if (l == NULL) {
		return;
	}
	for (size_t i = 0; i < l->n; i++) {
		free(l->line[i]);
	}
	free(l->line);
	free(l->seq);
	free(l);
}

int coord_audit_read(coord_audit_t *a, uint64_t from_seq, size_t limit, tandem_diag_t *diag,
		     coord_audit_lines_t **out)
{
	char from[KEY_MAX], end[KEY_MAX], base[KEY_MAX];
	coord_etcd_range_t *r = NULL;
	coord_audit_lines_t *l = NULL;
	int ret;
	if (a == NULL || out == NULL || limit == 0) {
		return TANDEM_EINVAL;
	}
	key_entry(a, from_seq, from, sizeof(from));
	key_named(a, "e0", end, sizeof(end)); /* '0' follows '/': every entry key is below */
	key_named(a, "e/", base, sizeof(base));
	ret = coord_etcd_range_between(a->etcd, from, end, limit, 0, diag, &r);
	if (ret != TANDEM_OK) {
		return ret;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL || (r->n > 0 && ((l->seq = calloc(r->n, sizeof(*l->seq))) == NULL ||
				       (l->line = calloc(r->n, sizeof(*l->line))) == NULL))) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < r->n; i++) {
		const coord_etcd_kv_t *kv = &r->kvs[i];
		const char *num = kv->key + strlen(base);
		char *endp = NULL;
		if (kv->key_len != strlen(base) + 20 || strncmp(kv->key, base, strlen(base)) != 0 ||
		    strspn(num, "0123456789") != 20) {
			tandem_diag_add(diag, TANDEM_COORD_EPROTO, "%s: not an audit entry key",
					kv->key);
			ret = TANDEM_COORD_EPROTO;
			goto out;
		}
		l->seq[i] = strtoull(num, &endp, 10);
		l->line[i] = strndup((const char *)kv->value, kv->value_len);
		if (l->line[i] == NULL) {
			ret = TANDEM_ENOMEM;
			goto out;
		}
		l->n++;
	}
	*out = l;
	l = NULL;
out:
	coord_audit_lines_free(l);
	coord_etcd_range_free(r);
	return ret;
}

int coord_audit_key_put(coord_audit_t *a, const char *name, const uint8_t pub[AUDIT_KEY_LEN],
			tandem_diag_t *diag)
{
	char key[KEY_MAX], what[AUDIT_NAME_MAX + 8], hex[2 * AUDIT_KEY_LEN + 1];
	coord_etcd_txn_t *t = NULL;
	coord_etcd_txn_result_t *res = NULL;
	if (a == NULL || name == NULL || pub == NULL || !tandem_id_valid(name, NULL, 0)) {
		return TANDEM_EINVAL;
	}
	snprintf(what, sizeof(what), "keys/%s", name);
	key_named(a, what, key, sizeof(key));
	audit_hex(pub, AUDIT_KEY_LEN, hex);
	int ret = coord_etcd_txn_new(&t);
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_put(t, key, hex, strlen(hex), 0);
	}
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_commit(a->etcd, t, diag, &res);
	}
	coord_etcd_txn_result_free(res);
	coord_etcd_txn_free(t);
	return ret;
}

int coord_audit_keys_get(coord_audit_t *a, tandem_diag_t *diag, audit_keyring_t *kr)
{
	char prefix[KEY_MAX];
	coord_etcd_range_t *r = NULL;
	if (a == NULL || kr == NULL) {
		return TANDEM_EINVAL;
	}
	key_named(a, "keys/", prefix, sizeof(prefix));
	int ret = coord_etcd_range(a->etcd, prefix, 0, 0, diag, &r);
	for (size_t i = 0; ret == TANDEM_OK && i < r->n; i++) {
		const coord_etcd_kv_t *kv = &r->kvs[i];
		const char *name = kv->key + strlen(prefix);
		uint8_t pub[AUDIT_KEY_LEN];
		int added =
		    kv->value_len == 2 * AUDIT_KEY_LEN &&
			    tandem_hex_decode((const char *)kv->value, pub, AUDIT_KEY_LEN) == 0
			? audit_keyring_add(kr, name, pub)
			: TANDEM_EINVAL;
		if (added == TANDEM_EINVAL) {
			tandem_diag_add(diag, TANDEM_COORD_EPROTO, "%s: not an anchor key",
					kv->key);
		} else if (added != TANDEM_OK) {
			ret = added;
		}
	}
	coord_etcd_range_free(r);
	return ret;
}

int coord_audit_cut(coord_audit_t *a, const coord_audit_head_t *seen, uint64_t upto,
		    const uint8_t upto_hash[AUDIT_HASH_LEN], tandem_diag_t *diag)
{
	char key[KEY_MAX], from[KEY_MAX], end[KEY_MAX], value[128], hex[2 * AUDIT_HASH_LEN + 1];
	coord_etcd_txn_t *t = NULL;
	coord_etcd_txn_result_t *res = NULL;
	if (a == NULL || seen == NULL || upto_hash == NULL || upto < seen->base_seq ||
	    upto >= seen->seq) {
		return TANDEM_EINVAL;
	}
	key_named(a, "base", key, sizeof(key));
	key_entry(a, seen->base_seq, from, sizeof(from));
	key_entry(a, upto + 1, end, sizeof(end));
	snprintf(value, sizeof(value), "%" PRIu64 " %s", upto + 1,
		 audit_hex(upto_hash, AUDIT_HASH_LEN, hex));
	int ret = coord_etcd_txn_new(&t);
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_cmp_mod(t, key, seen->base_rev);
	}
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_delete_between(t, from, end);
	}
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_put(t, key, value, strlen(value), 0);
	}
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_commit(a->etcd, t, diag, &res);
	}
	coord_etcd_txn_result_free(res);
	coord_etcd_txn_free(t);
	return ret;
}
