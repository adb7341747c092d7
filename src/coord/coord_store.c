/* The coordinator's store: read, decide, write conditioned on the revision read; leader lease. */
#include "coord_store.h"
#include "tandem_error.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX (COORD_STORE_PREFIX_MAX + 16u)
/* PREFIX/archive/ZONE/ID */
#define ARCHIVE_KEY_MAX (COORD_STORE_PREFIX_MAX + sizeof("archive//4294967295") + COORD_ZONE_MAX)
/* PREFIX/keys/ZONE */
#define KEYSET_KEY_MAX (COORD_STORE_PREFIX_MAX + sizeof("keys/") + COORD_ZONE_MAX)

struct coord_store {
	coord_etcd_t *etcd; /* borrowed */
	char prefix[COORD_STORE_PREFIX_MAX + 1];
	char cluster_key[KEY_MAX]; /* PREFIX/cluster */
	char leader_key[KEY_MAX];  /* PREFIX/leader */
	/* working space of coord_store_apply: too large for the stack */
	coord_state_t *in;
	coord_state_t *out;
	coord_result_t *res;
	uint64_t conflicts;
	int64_t lease; /* the campaign's etcd lease; 0: none */
};

static bool printable(const char *s, size_t max)
{
	size_t n = 0;
	for (; s[n] != '\0'; n++) {
		if (n >= max || s[n] < 0x21 || s[n] > 0x7e) {
			return false;
		}
	}
	return n > 0;
}

int coord_store_new(coord_etcd_t *etcd, const char *prefix, tandem_diag_t *diag,
		    coord_store_t **out)
{
	int ret = TANDEM_OK;
	coord_store_t *s = NULL;
	if (etcd == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	if (prefix == NULL) {
		prefix = COORD_STORE_PREFIX;
	}
	size_t len = strlen(prefix);
	if (!printable(prefix, COORD_STORE_PREFIX_MAX) || prefix[0] != '/' ||
	    prefix[len - 1] != '/') {
		tandem_diag_add(diag, TANDEM_EINVAL,
				"coord store: prefix must be 1..%u printable bytes starting and "
				"ending with '/'",
				COORD_STORE_PREFIX_MAX);
		return TANDEM_EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	s->etcd = etcd;
	memcpy(s->prefix, prefix, len + 1);
	snprintf(s->cluster_key, sizeof(s->cluster_key), "%scluster", prefix);
	snprintf(s->leader_key, sizeof(s->leader_key), "%sleader", prefix);
	s->in = malloc(sizeof(*s->in));
	s->out = malloc(sizeof(*s->out));
	s->res = malloc(sizeof(*s->res));
	if (s->in == NULL || s->out == NULL || s->res == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	*out = s;
	s = NULL;
out:
	coord_store_free(s);
	return ret;
}

void coord_store_free(coord_store_t *store)
{
	if (store == NULL) {
		return;
	}
	free(store->in);
	free(store->out);
	free(store->res);
	free(store);
}

const char *coord_store_prefix(const coord_store_t *store)
{
	return store == NULL ? NULL : store->prefix;
}

uint64_t coord_store_conflicts(const coord_store_t *store)
{
	return store == NULL ? 0 : store->conflicts;
}

/* The state in a read of PREFIX/cluster (a get, or a failed transaction's read). */
static int state_decode(const coord_store_t *s, const coord_etcd_range_t *r,
			const coord_params_t *params, tandem_diag_t *diag, coord_state_t *st,
			int64_t *mod)
{
	if (r->n == 0) {
		*mod = 0;
		return coord_state_init(st);
	}
	const coord_etcd_kv_t *kv = &r->kvs[0];
	int ret = coord_state_unpack(kv->value, kv->value_len, params, st);
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, ret, "%s: unreadable cluster state at revision %" PRId64,
				s->cluster_key, kv->mod_revision);
		return ret;
	}
	*mod = kv->mod_revision;
	return TANDEM_OK;
}

static int state_read(coord_store_t *s, const coord_params_t *params, tandem_diag_t *diag,
		      coord_state_t *st, int64_t *mod)
{
	coord_etcd_range_t *r = NULL;
	int ret = coord_etcd_get(s->etcd, s->cluster_key, 0, diag, &r);
	if (ret == TANDEM_OK) {
		ret = state_decode(s, r, params, diag, st, mod);
	}
	coord_etcd_range_free(r);
	return ret;
}

/* An extra put of a state change: a key written once, if absent, with the state. */
typedef struct extra_put {
	const char *key;
	const uint8_t *value;
	size_t len;
} extra_put_t;

/*
 * Writes st if PREFIX/cluster is still at mod (0: still absent), and the extra
 * key (may be NULL) if it is absent. On TANDEM_COORD_ECONFLICT, *fail holds the
 * current value of PREFIX/cluster (and of the extra key) for the next decision.
 */
static int state_write(coord_store_t *s, const coord_state_t *st, int64_t mod,
		       const extra_put_t *extra, tandem_diag_t *diag,
		       coord_etcd_txn_result_t **fail)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	coord_etcd_txn_t *t = NULL;
	coord_etcd_txn_result_t *r = NULL;
	int ret = coord_state_pack(st, &buf, &len);
	if (ret != TANDEM_OK) {
		goto out;
	}
	ret = coord_etcd_txn_new(&t);
	if (ret != TANDEM_OK) {
		goto out;
	}
	ret = mod == 0 ? coord_etcd_txn_cmp_absent(t, s->cluster_key)
		       : coord_etcd_txn_cmp_mod(t, s->cluster_key, mod);
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_put(t, s->cluster_key, buf, len, 0);
	}
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_on_fail_get(t, s->cluster_key);
	}
	if (ret == TANDEM_OK && extra != NULL) {
		ret = coord_etcd_txn_cmp_absent(t, extra->key);
		if (ret == TANDEM_OK) {
			ret = coord_etcd_txn_put(t, extra->key, extra->value, extra->len, 0);
		}
		if (ret == TANDEM_OK) {
			ret = coord_etcd_txn_on_fail_get(t, extra->key);
		}
	}
	if (ret != TANDEM_OK) {
		goto out;
	}
	ret = coord_etcd_txn_commit(s->etcd, t, diag, &r);
	if (ret == TANDEM_COORD_ECONFLICT) {
		if (r == NULL || r->n_reads != (extra != NULL ? 2u : 1u)) {
			/* coord_etcd guarantees one read per failure op; be safe anyway */
			ret = TANDEM_COORD_EPROTO;
			goto out;
		}
		*fail = r;
		r = NULL;
	}
out:
	coord_etcd_txn_result_free(r);
	coord_etcd_txn_free(t);
	free(buf);
	return ret;
}

int coord_store_init(coord_store_t *store, const coord_params_t *params, tandem_diag_t *diag)
{
	coord_etcd_txn_result_t *fail = NULL;
	int64_t mod = 0;
	if (store == NULL || coord_params_check(params) != TANDEM_OK) {
		return TANDEM_EINVAL;
	}
	int ret = coord_state_init(store->out);
	if (ret != TANDEM_OK) {
		return ret;
	}
	/* the first coordinator's lease and margin become the cluster's */
	store->out->lease_ms = params->lease_ms;
	store->out->margin_ms = params->margin_ms;
	ret = state_write(store, store->out, 0, NULL, diag, &fail);
	if (ret == TANDEM_COORD_ECONFLICT) {
		/* it exists already: fine, if it can be read */
		ret = state_decode(store, &fail->reads[0], params, diag, store->in, &mod);
	}
	coord_etcd_txn_result_free(fail);
	return ret;
}

static int apply_with(coord_store_t *store, const coord_input_t *input, uint64_t now_ms,
		      const coord_params_t *params, const struct extra_put *extra,
		      tandem_diag_t *diag, coord_result_t *res);

int coord_store_params(coord_store_t *store, const coord_params_t *params, uint64_t now_ms,
		       tandem_diag_t *diag, coord_params_t *cluster)
{
	int64_t mod = 0;
	if (store == NULL || cluster == NULL || coord_params_check(params) != TANDEM_OK) {
		return TANDEM_EINVAL;
	}
	int ret = state_read(store, params, diag, store->in, &mod);
	if (ret == TANDEM_OK && store->in->lease_ms == 0) {
		/* a state from before the cluster kept them: this coordinator's become its */
		coord_input_t *in = calloc(1, sizeof(*in));
		coord_result_t *res = calloc(1, sizeof(*res));
		if (in == NULL || res == NULL) {
			ret = TANDEM_ENOMEM;
		} else {
			in->kind = COORD_IN_PARAMS_SET;
			in->lease_ms = params->lease_ms;
			in->margin_ms = params->margin_ms;
			ret = apply_with(store, in, now_ms, params, NULL, diag, res);
		}
		free(in);
		free(res);
		if (ret == TANDEM_OK) {
			ret = state_read(store, params, diag, store->in, &mod);
		}
	}
	if (ret == TANDEM_OK) {
		coord_state_params(store->in, params, cluster);
	}
	return ret;
}

int coord_store_read(coord_store_t *store, const coord_params_t *params, tandem_diag_t *diag,
		     coord_state_t *state, int64_t *mod_revision)
{
	int64_t mod = 0;
	if (store == NULL || state == NULL || coord_params_check(params) != TANDEM_OK) {
		return TANDEM_EINVAL;
	}
	int ret = state_read(store, params, diag, store->in, &mod);
	if (ret != TANDEM_OK) {
		return ret;
	}
	memcpy(state, store->in, sizeof(*state));
	if (mod_revision != NULL) {
		*mod_revision = mod;
	}
	return TANDEM_OK;
}

/* The decision when the extra key exists already: a refusal, as the machine would give. */
static void refuse_exists(coord_result_t *r, const coord_input_t *input, const char *key)
{
	memset(r, 0, offsetof(coord_result_t, effects));
	r->reason = COORD_R_EXISTS;
	snprintf(r->text, sizeof(r->text), "zone %.80s: key %u: %.80s exists already", input->zone,
		 input->key_id, key);
}

static int apply_with(coord_store_t *store, const coord_input_t *input, uint64_t now_ms,
		      const coord_params_t *params, const extra_put_t *extra, tandem_diag_t *diag,
		      coord_result_t *res)
{
	coord_etcd_txn_result_t *fail = NULL;
	int64_t mod = 0;
	int ret = state_read(store, params, diag, store->in, &mod);
	for (unsigned attempt = 1; ret == TANDEM_OK; attempt++) {
		/* The same now_ms on every attempt: a retry takes a round trip or two, and
		 * an earlier "now" only delays grants (see docs/coordinator.md, "Store"). */
		ret = coord_state_apply(store->in, input, now_ms, params, store->out, store->res);
		if (ret != TANDEM_OK || !store->res->changed) {
			break; /* a refusal or a no-op writes nothing */
		}
		ret = state_write(store, store->out, mod, extra, diag, &fail);
		if (ret != TANDEM_COORD_ECONFLICT) {
			break;
		}
		if (extra != NULL && fail->reads[1].n > 0) {
			/* the extra key is written once: its presence is a refusal, not a race */
			refuse_exists(store->res, input, extra->key);
			ret = TANDEM_OK;
			break;
		}
		store->conflicts++;
		if (attempt >= COORD_STORE_RETRIES) {
			tandem_diag_add(diag, ret,
					"%s: %s: the state changed under every one of %u attempts",
					store->cluster_key, coord_input_kind_str(input->kind),
					COORD_STORE_RETRIES);
			break;
		}
		/* the failure read is the state that beat us, at the same linearizable point */
		ret = state_decode(store, &fail->reads[0], params, diag, store->in, &mod);
		coord_etcd_txn_result_free(fail);
		fail = NULL;
	}
	if (ret == TANDEM_OK) {
		memcpy(res, store->res, sizeof(*res));
	}
	coord_etcd_txn_result_free(fail);
	return ret;
}

int coord_store_apply(coord_store_t *store, const coord_input_t *input, uint64_t now_ms,
		      const coord_params_t *params, tandem_diag_t *diag, coord_result_t *res)
{
	if (store == NULL || input == NULL || res == NULL ||
	    coord_params_check(params) != TANDEM_OK || (unsigned)input->kind > COORD_IN_LAST) {
		return TANDEM_EINVAL;
	}
	return apply_with(store, input, now_ms, params, NULL, diag, res);
}

/* PREFIX/archive/ZONE/ (id == NULL) or PREFIX/archive/ZONE/ID. */
static int archive_key(const coord_store_t *s, const char *zone, const uint32_t *id,
		       char key[ARCHIVE_KEY_MAX])
{
	size_t n = strnlen(zone, COORD_ZONE_MAX);
	if (n == 0 || n == COORD_ZONE_MAX) {
		return TANDEM_EINVAL;
	}
	if (id == NULL) {
		snprintf(key, ARCHIVE_KEY_MAX, "%sarchive/%s/", s->prefix, zone);
	} else {
		snprintf(key, ARCHIVE_KEY_MAX, "%sarchive/%s/%" PRIu32, s->prefix, zone, *id);
	}
	return TANDEM_OK;
}

int coord_store_apply_key_add(coord_store_t *store, const coord_input_t *input, uint64_t now_ms,
			      const coord_params_t *params, const uint8_t *archive,
			      size_t archive_len, tandem_diag_t *diag, coord_result_t *res)
{
	char key[ARCHIVE_KEY_MAX];
	if (store == NULL || input == NULL || res == NULL ||
	    coord_params_check(params) != TANDEM_OK || input->kind != COORD_IN_KEY_ADD ||
	    (archive == NULL && archive_len > 0)) {
		return TANDEM_EINVAL;
	}
	if (archive_key(store, input->zone, &input->key_id, key) != TANDEM_OK) {
		/* a name the machine refuses: decided without an extra key */
		return apply_with(store, input, now_ms, params, NULL, diag, res);
	}
	extra_put_t extra = {key, archive != NULL ? archive : (const uint8_t *)"", archive_len};
	return apply_with(store, input, now_ms, params, &extra, diag, res);
}

int coord_store_archive_get(coord_store_t *store, const char *zone, uint32_t id,
			    tandem_diag_t *diag, uint8_t **value, size_t *len)
{
	char key[ARCHIVE_KEY_MAX];
	coord_etcd_range_t *r = NULL;
	if (store == NULL || zone == NULL || value == NULL || len == NULL ||
	    archive_key(store, zone, &id, key) != TANDEM_OK) {
		return TANDEM_EINVAL;
	}
	int ret = coord_etcd_get(store->etcd, key, 0, diag, &r);
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (r->n == 0) {
		ret = TANDEM_ENOENT;
		goto out;
	}
	uint8_t *v = malloc(r->kvs[0].value_len > 0 ? r->kvs[0].value_len : 1);
	if (v == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	memcpy(v, r->kvs[0].value, r->kvs[0].value_len);
	*value = v;
	*len = r->kvs[0].value_len;
out:
	coord_etcd_range_free(r);
	return ret;
}

int coord_store_archive_clear(coord_store_t *store, const char *zone, uint32_t id,
			      tandem_diag_t *diag)
{
	char key[ARCHIVE_KEY_MAX];
	coord_etcd_range_t *r = NULL;
	coord_etcd_txn_t *t = NULL;
	coord_etcd_txn_result_t *res = NULL;
	if (store == NULL || zone == NULL || archive_key(store, zone, &id, key) != TANDEM_OK) {
		return TANDEM_EINVAL;
	}
	int ret = coord_etcd_get(store->etcd, key, 0, diag, &r);
	if (ret != TANDEM_OK || r->n == 0 || r->kvs[0].value_len == 0) {
		goto out; /* absent or empty already */
	}
	ret = coord_etcd_txn_new(&t);
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_cmp_mod(t, key, r->kvs[0].mod_revision);
	}
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_put(t, key, "", 0, 0);
	}
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_commit(store->etcd, t, diag, &res);
	}
	if (ret == TANDEM_COORD_ECONFLICT) {
		ret = TANDEM_OK; /* emptied meanwhile: entries are written once, then emptied */
	}
out:
	coord_etcd_txn_result_free(res);
	coord_etcd_txn_free(t);
	coord_etcd_range_free(r);
	return ret;
}

/* The id at the end of an archive key after its zone prefix: decimal, below 2^32. */
static bool archive_id(const char *rest, uint32_t *id)
{
	uint64_t v = 0;
	if (rest[0] == '\0' || (rest[0] == '0' && rest[1] != '\0')) {
		return false;
	}
	for (const char *p = rest; *p != '\0'; p++) {
		if (*p < '0' || *p > '9') {
			return false;
		}
		v = v * 10u + (uint64_t)(*p - '0');
		if (v > UINT32_MAX) {
			return false;
		}
	}
	*id = (uint32_t)v;
	return true;
}

void coord_store_archive_free(coord_store_archive_t *archive)
{
	if (archive == NULL) {
		return;
	}
	for (size_t i = 0; i < archive->n; i++) {
		free(archive->entries[i].value);
	}
	free(archive->entries);
	free(archive);
}

int coord_store_archive_list(coord_store_t *store, const char *zone, tandem_diag_t *diag,
			     coord_store_archive_t **out)
{
	char prefix[ARCHIVE_KEY_MAX];
	coord_etcd_range_t *r = NULL;
	coord_store_archive_t *a = NULL;
	if (store == NULL || zone == NULL || out == NULL ||
	    archive_key(store, zone, NULL, prefix) != TANDEM_OK) {
		return TANDEM_EINVAL;
	}
	int ret = coord_etcd_range(store->etcd, prefix, 0, 0, diag, &r);
	if (ret != TANDEM_OK) {
		goto out;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL || (r->n > 0 && (a->entries = calloc(r->n, sizeof(*a->entries))) == NULL)) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	size_t plen = strlen(prefix);
	for (size_t i = 0; i < r->n; i++) {
		const coord_etcd_kv_t *kv = &r->kvs[i];
		coord_store_entry_t *e = &a->entries[a->n];
		if (kv->key_len < plen || !archive_id(kv->key + plen, &e->id)) {
			continue;
		}
		e->value = malloc(kv->value_len > 0 ? kv->value_len : 1);
		if (e->value == NULL) {
			ret = TANDEM_ENOMEM;
			goto out;
		}
		memcpy(e->value, kv->value, kv->value_len);
		e->len = kv->value_len;
		a->n++;
	}
	*out = a;
	a = NULL;
out:
	coord_store_archive_free(a);
	coord_etcd_range_free(r);
	return ret;
}

/* PREFIX/keys/ZONE, PREFIX/skr/ZONE, PREFIX/operators, PREFIX/requests,
 * PREFIX/approval-rules */
static int doc_key(const coord_store_t *s, coord_doc_t doc, const char *zone,
		   char key[KEYSET_KEY_MAX])
{
	size_t n = strnlen(zone, COORD_ZONE_MAX);
	if (doc == COORD_DOC_OPERATORS || doc == COORD_DOC_REQUESTS || doc == COORD_DOC_RULES) {
		if (n != 0) {
			return TANDEM_EINVAL;
		}
		snprintf(key, KEYSET_KEY_MAX, "%s%s", s->prefix,
			 doc == COORD_DOC_OPERATORS  ? "operators"
			 : doc == COORD_DOC_REQUESTS ? "requests"
						     : "approval-rules");
		return TANDEM_OK;
	}
	if (n == 0 || n == COORD_ZONE_MAX || (doc != COORD_DOC_KEYSET && doc != COORD_DOC_SKR)) {
		return TANDEM_EINVAL;
	}
	snprintf(key, KEYSET_KEY_MAX, "%s%s/%s", s->prefix, doc == COORD_DOC_SKR ? "skr" : "keys",
		 zone);
	return TANDEM_OK;
}

int coord_store_doc_get(coord_store_t *store, coord_doc_t doc, const char *zone,
			tandem_diag_t *diag, uint8_t **buf, size_t *len, int64_t *mod_revision)
{
	char key[KEYSET_KEY_MAX];
	coord_etcd_range_t *r = NULL;
	if (store == NULL || zone == NULL || buf == NULL || len == NULL || mod_revision == NULL ||
	    doc_key(store, doc, zone, key) != TANDEM_OK) {
		return TANDEM_EINVAL;
	}
	int ret = coord_etcd_get(store->etcd, key, 0, diag, &r);
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (r->n == 0) {
		*buf = NULL;
		*len = 0;
		*mod_revision = 0;
		goto out;
	}
	const coord_etcd_kv_t *kv = &r->kvs[0];
	uint8_t *v = malloc(kv->value_len > 0 ? kv->value_len : 1);
	if (v == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	memcpy(v, kv->value, kv->value_len);
	*buf = v;
	*len = kv->value_len;
	*mod_revision = kv->mod_revision;
out:
	coord_etcd_range_free(r);
	return ret;
}

int coord_store_doc_put(coord_store_t *store, coord_doc_t doc, const char *zone, const uint8_t *buf,
			size_t len, int64_t expect_revision, tandem_diag_t *diag, bool *won,
			int64_t *new_revision)
{
	char key[KEYSET_KEY_MAX];
	coord_etcd_txn_t *t = NULL;
	coord_etcd_txn_result_t *r = NULL;
	if (store == NULL || zone == NULL || buf == NULL || len == 0 || expect_revision < 0 ||
	    won == NULL || new_revision == NULL || doc_key(store, doc, zone, key) != TANDEM_OK) {
		return TANDEM_EINVAL;
	}
	int ret = coord_etcd_txn_new(&t);
	if (ret == TANDEM_OK) {
		ret = expect_revision == 0 ? coord_etcd_txn_cmp_absent(t, key)
					   : coord_etcd_txn_cmp_mod(t, key, expect_revision);
	}
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_put(t, key, buf, len, 0);
	}
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_on_fail_get(t, key);
	}
	if (ret != TANDEM_OK) {
		goto out;
	}
	ret = coord_etcd_txn_commit(store->etcd, t, diag, &r);
	if (ret == TANDEM_OK) {
		/* the transaction's one put: the key's mod_revision is the new store revision */
		*won = true;
		*new_revision = r->revision;
	} else if (ret == TANDEM_COORD_ECONFLICT && r != NULL && r->n_reads == 1) {
		*won = false;
		*new_revision = r->reads[0].n > 0 ? r->reads[0].kvs[0].mod_revision : 0;
		ret = TANDEM_OK;
	} else if (ret == TANDEM_COORD_ECONFLICT) {
		ret = TANDEM_COORD_EPROTO;
	}
out:
	coord_etcd_txn_result_free(r);
	coord_etcd_txn_free(t);
	return ret;
}

int coord_store_leader(coord_store_t *store, tandem_diag_t *diag,
		       char name[COORD_STORE_NAME_MAX + 1])
{
	coord_etcd_range_t *r = NULL;
	if (store == NULL || name == NULL) {
		return TANDEM_EINVAL;
	}
	int ret = coord_etcd_get(store->etcd, store->leader_key, 0, diag, &r);
	if (ret != TANDEM_OK) {
		return ret;
	}
	if (r->n == 0) {
		name[0] = '\0';
	} else if (r->kvs[0].value_len <= COORD_STORE_NAME_MAX &&
		   strlen((const char *)r->kvs[0].value) == r->kvs[0].value_len &&
		   printable((const char *)r->kvs[0].value, COORD_STORE_NAME_MAX)) {
		memcpy(name, r->kvs[0].value, r->kvs[0].value_len + 1);
	} else {
		memcpy(name, "?", 2);
	}
	coord_etcd_range_free(r);
	return TANDEM_OK;
}

/* Creates PREFIX/leader under the store's lease unless it exists; says whose it is. */
static int leader_claim(coord_store_t *s, const char *name, tandem_diag_t *diag, bool *mine)
{
	coord_etcd_txn_t *t = NULL;
	coord_etcd_txn_result_t *r = NULL;
	int ret = coord_etcd_txn_new(&t);
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_cmp_absent(t, s->leader_key);
	}
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_put(t, s->leader_key, name, strlen(name), s->lease);
	}
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_on_fail_get(t, s->leader_key);
	}
	if (ret != TANDEM_OK) {
		goto out;
	}
	ret = coord_etcd_txn_commit(s->etcd, t, diag, &r);
	if (ret == TANDEM_OK) {
		*mine = true;
	} else if (ret == TANDEM_COORD_ECONFLICT && r != NULL && r->n_reads == 1) {
		/* ours already if it is under our lease (a call before, or a retried write) */
		const coord_etcd_range_t *cur = &r->reads[0];
		*mine = cur->n == 1 && cur->kvs[0].lease == s->lease;
		ret = TANDEM_OK;
	} else if (ret == TANDEM_COORD_ECONFLICT) {
		ret = TANDEM_COORD_EPROTO;
	}
out:
	coord_etcd_txn_result_free(r);
	coord_etcd_txn_free(t);
	return ret;
}

int coord_store_campaign(coord_store_t *store, const char *name, int64_t ttl_s, tandem_diag_t *diag,
			 bool *is_leader)
{
	int ret = TANDEM_OK;
	bool mine = false;
	if (store == NULL || name == NULL || is_leader == NULL || ttl_s < 1 ||
	    !printable(name, COORD_STORE_NAME_MAX)) {
		return TANDEM_EINVAL;
	}
	/* Twice at most: the lease may expire between the keepalive and the claim. */
	for (int attempt = 0; attempt < 2; attempt++) {
		if (store->lease != 0) {
			int64_t ttl = 0;
			ret = coord_etcd_lease_keepalive(store->etcd, store->lease, diag, &ttl);
			if (ret == TANDEM_COORD_ELEASE) {
				store->lease = 0; /* lost: our key, if any, is gone with it */
			} else if (ret != TANDEM_OK) {
				return ret;
			}
		}
		if (store->lease == 0) {
			int64_t id = 0, granted = 0;
			ret = coord_etcd_lease_grant(store->etcd, ttl_s, diag, &id, &granted);
			if (ret != TANDEM_OK) {
				return ret;
			}
			store->lease = id;
		}
		ret = leader_claim(store, name, diag, &mine);
		if (ret != TANDEM_COORD_ELEASE) {
			break;
		}
		store->lease = 0;
	}
	if (ret == TANDEM_OK) {
		*is_leader = mine;
	}
	return ret;
}

int coord_store_resign(coord_store_t *store, tandem_diag_t *diag)
{
	if (store == NULL) {
		return TANDEM_EINVAL;
	}
	if (store->lease == 0) {
		return TANDEM_OK;
	}
	int ret = coord_etcd_lease_revoke(store->etcd, store->lease, diag);
	if (ret == TANDEM_OK || ret == TANDEM_COORD_ELEASE) {
		/* an unknown lease has expired already, and its key with it */
		store->lease = 0;
		ret = TANDEM_OK;
	}
	return ret;
}
