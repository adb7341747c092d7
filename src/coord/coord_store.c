/* The coordinator's store: read, decide, write conditioned on the revision read; leader lease. */
#include "coord_store.h"
#include "tandem_error.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KEY_MAX (COORD_STORE_PREFIX_MAX + 16u)
/* PREFIX/state/zone/NAME. */
#define ZONE_KEY_MAX (COORD_STORE_PREFIX_MAX + sizeof("state/zone/") + COORD_ZONE_MAX)
/* PREFIX/archive/ZONE/ID */
#define ARCHIVE_KEY_MAX (COORD_STORE_PREFIX_MAX + sizeof("archive//4294967295") + COORD_ZONE_MAX)
/* PREFIX/keys/ZONE */
#define KEYSET_KEY_MAX (COORD_STORE_PREFIX_MAX + sizeof("keys/") + COORD_ZONE_MAX)

/* A zone key as the last read saw it. */
typedef struct zone_read {
	int64_t mod;
	uint8_t *buf; /* its value, to tell whether a decision changed the zone */
	size_t len;
	bool kept; /* buf is the kept state's (below), not this read's own */
} zone_read_t;

/* A key set's name (ZONE of PREFIX/keys/ZONE) and the revision it was last written at. */
typedef struct keyset_rev {
	char zone[COORD_ZONE_MAX];
	int64_t mod;
} keyset_rev_t;
/* Most key sets whose revisions are kept (zones removed may leave theirs). */
#define KEYSET_REVS_MAX (4u * COORD_ZONES_MAX)

/* A zone key of the kept state: its value, decoded. */
typedef struct zone_kept {
	char key[ZONE_KEY_MAX];
	int64_t mod;
	uint8_t *buf;
	size_t len;
	coord_zone_t zone;
} zone_kept_t;

struct coord_store {
	coord_etcd_t *etcd; /* borrowed */
	char prefix[COORD_STORE_PREFIX_MAX + 1];
	char cluster_key[KEY_MAX];  /* PREFIX/cluster: the old single-key state, then the mark */
	char leader_key[KEY_MAX];   /* PREFIX/leader */
	char state_prefix[KEY_MAX]; /* PREFIX/state/ */
	char state_key[KEY_MAX];    /* PREFIX/state/cluster */
	char zone_prefix[KEY_MAX];  /* PREFIX/state/zone/ */
	/* working space of coord_store_apply: too large for the stack */
	coord_state_t *in;
	coord_state_t *out;
	coord_state_t *head; /* the cluster part being packed */
	coord_result_t *res;
	/* what the last read saw (s->in) */
	bool full;        /* every zone key (else the cluster key and zone_key at most) */
	int64_t read_rev; /* full: the store revision of the range read */
	uint8_t *cbuf;    /* the cluster key's value and mod_revision (0: absent) */
	size_t clen;
	int64_t cmod;
	char zone_key[ZONE_KEY_MAX]; /* not full: the one zone key read ("" none) */
	int64_t zone_mod;            /* its mod_revision (0: absent) */
	uint32_t nzr;
	zone_read_t *zr; /* COORD_ZONES_MAX, in the order of s->in->zones */
	/* The whole state as the last full read saw it, kept between reads: the next full read
	 * asks etcd only for the keys written since, and tells a deleted key by their count
	 * (docs/coordinator.md, "Store"). With hundreds of zones, a status every quarter second
	 * of each node would otherwise move every zone's value through etcd's JSON gateway. */
	int64_t kept_rev;   /* the store revision it is at; 0: nothing kept */
	int64_t kept_count; /* keys under state_prefix at kept_rev */
	uint8_t *kept_cbuf; /* the cluster key's value and mod_revision */
	size_t kept_clen;
	int64_t kept_cmod;
	uint32_t nkept;
	zone_kept_t *kept;      /* COORD_ZONES_MAX, in key order */
	coord_zone_t *kept_tmp; /* a zone being decoded */
	uint64_t reads_since;   /* full reads answered from the kept state and what changed */
	uint64_t kept_writes;   /* decisions written on the kept state, with no read first */
	uint64_t kept_misses;   /* of them, written on a kept state behind etcd: decided again */
	/* the revision each key set (PREFIX/keys/ZONE) was last written at, kept like the state:
	 * brought up to date by a keys-only read of what was written since */
	int64_t ksr_rev;   /* 0: nothing kept */
	int64_t ksr_count; /* keys under PREFIX/keys/ at ksr_rev */
	uint32_t nksr;
	keyset_rev_t *ksr; /* KEYSET_REVS_MAX, in key order */
	/* what the last state_write put: the cluster key's value (NULL: not put), the zones of
	 * s->out (indexes), and the revision */
	uint8_t *put_cbuf;
	size_t put_clen;
	uint32_t nput;
	uint32_t *put_zones; /* COORD_ZONES_MAX */
	int64_t put_rev;
	uint64_t conflicts;
	uint64_t writes;
	uint64_t migrated;
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
	snprintf(s->state_prefix, sizeof(s->state_prefix), "%sstate/", prefix);
	snprintf(s->state_key, sizeof(s->state_key), "%sstate/cluster", prefix);
	snprintf(s->zone_prefix, sizeof(s->zone_prefix), "%sstate/zone/", prefix);
	s->in = malloc(sizeof(*s->in));
	s->out = malloc(sizeof(*s->out));
	s->head = malloc(sizeof(*s->head));
	s->res = malloc(sizeof(*s->res));
	s->zr = calloc(COORD_ZONES_MAX, sizeof(*s->zr));
	s->kept = calloc(COORD_ZONES_MAX, sizeof(*s->kept)); /* pages touched as zones come */
	s->kept_tmp = malloc(sizeof(*s->kept_tmp));
	s->put_zones = calloc(COORD_ZONES_MAX, sizeof(*s->put_zones));
	s->ksr = calloc(KEYSET_REVS_MAX, sizeof(*s->ksr));
	if (s->in == NULL || s->out == NULL || s->head == NULL || s->res == NULL || s->zr == NULL ||
	    s->kept == NULL || s->kept_tmp == NULL || s->put_zones == NULL || s->ksr == NULL) {
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
	for (uint32_t i = 0; i < store->nzr; i++) {
		if (!store->zr[i].kept) {
			free(store->zr[i].buf);
		}
	}
	free(store->zr);
	for (uint32_t i = 0; i < store->nkept; i++) {
		free(store->kept[i].buf);
	}
	free(store->kept);
	free(store->kept_tmp);
	free(store->kept_cbuf);
	free(store->put_cbuf);
	free(store->put_zones);
	free(store->ksr);
	free(store->cbuf);
	free(store->in);
	free(store->out);
	free(store->head);
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

uint64_t coord_store_writes(const coord_store_t *store)
{
	return store == NULL ? 0 : store->writes;
}

uint64_t coord_store_migrations(const coord_store_t *store)
{
	return store == NULL ? 0 : store->migrated;
}

uint64_t coord_store_reads_since(const coord_store_t *store)
{
	return store == NULL ? 0 : store->reads_since;
}

uint64_t coord_store_kept_writes(const coord_store_t *store)
{
	return store == NULL ? 0 : store->kept_writes;
}

uint64_t coord_store_kept_misses(const coord_store_t *store)
{
	return store == NULL ? 0 : store->kept_misses;
}

/* ---- the state's keys: PREFIX/state/cluster and PREFIX/state/zone/NAME ---- */

/* The key of a zone: PREFIX/state/zone/ and the name in lower case with one final dot, so
 * that names the machine takes for the same zone (tandem_dname_equal) share one key. */
static void zone_key(const coord_store_t *s, const char *name, char key[ZONE_KEY_MAX])
{
	size_t n = strnlen(name, COORD_ZONE_MAX - 1);
	size_t p = strlen(s->zone_prefix);
	memcpy(key, s->zone_prefix, p);
	n -= n > 0 && name[n - 1] == '.';
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		key[p++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	key[p++] = '.';
	key[p] = '\0';
}

/* Forgets what the last read saw. */
static void read_forget(coord_store_t *s)
{
	free(s->cbuf);
	s->cbuf = NULL;
	s->clen = 0;
	s->cmod = 0;
	for (uint32_t i = 0; i < s->nzr; i++) {
		if (!s->zr[i].kept) {
			free(s->zr[i].buf);
		}
		s->zr[i].kept = false;
	}
	s->nzr = 0;
	s->full = false;
	s->read_rev = 0;
	s->zone_mod = 0;
	s->zone_key[0] = '\0';
}

static uint8_t *bytes_dup(const uint8_t *b, size_t len)
{
	uint8_t *d = malloc(len > 0 ? len : 1);
	if (d != NULL && len > 0) {
		memcpy(d, b, len);
	}
	return d;
}

/* Unpacks the cluster part (a kv of PREFIX/state/cluster) into s->in and keeps its bytes. */
static int cluster_decode(coord_store_t *s, const coord_etcd_kv_t *kv, const coord_params_t *params,
			  tandem_diag_t *diag)
{
	int ret = coord_state_unpack(kv->value, kv->value_len, params, s->in);
	if (ret == TANDEM_OK && s->in->nzones != 0) {
		ret = TANDEM_COORD_ESTATE; /* the zones have keys of their own */
	}
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, ret, "%s: unreadable cluster state at revision %" PRId64,
				s->state_key, kv->mod_revision);
		return ret;
	}
	s->cbuf = bytes_dup(kv->value, kv->value_len);
	if (s->cbuf == NULL) {
		return TANDEM_ENOMEM;
	}
	s->clen = kv->value_len;
	s->cmod = kv->mod_revision;
	return TANDEM_OK;
}

/* Appends the zone of kv (a key under PREFIX/state/zone/) to s->in and keeps its bytes. */
static int zone_decode(coord_store_t *s, const coord_etcd_kv_t *kv, tandem_diag_t *diag)
{
	char want[ZONE_KEY_MAX];
	if (s->in->nzones >= COORD_ZONES_MAX) {
		tandem_diag_add(diag, TANDEM_COORD_ESTATE,
				"%s: more than %u zones: this coordinator keeps at most %u",
				s->zone_prefix, COORD_ZONES_MAX, COORD_ZONES_MAX);
		return TANDEM_COORD_ESTATE;
	}
	coord_zone_t *z = &s->in->zones[s->in->nzones];
	int ret = coord_zone_unpack(kv->value, kv->value_len, z);
	if (ret == TANDEM_OK) {
		zone_key(s, z->name, want);
		if (strcmp(want, kv->key) != 0) {
			ret = TANDEM_COORD_ESTATE; /* a zone under another zone's key */
		}
	}
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, ret, "%s: unreadable zone state at revision %" PRId64,
				kv->key, kv->mod_revision);
		return ret;
	}
	uint32_t i = s->in->nzones++;
	s->zr[i].buf = bytes_dup(kv->value, kv->value_len);
	if (s->zr[i].buf == NULL) {
		s->in->nzones--;
		return TANDEM_ENOMEM;
	}
	s->zr[i].len = kv->value_len;
	s->zr[i].mod = kv->mod_revision;
	s->nzr = i + 1;
	return TANDEM_OK;
}

static int migrate(coord_store_t *s, const coord_etcd_kv_t *old, const coord_params_t *params,
		   tandem_diag_t *diag);

/* ---- the kept state ---- */

static void kept_forget(coord_store_t *s)
{
	for (uint32_t i = 0; i < s->nkept; i++) {
		free(s->kept[i].buf);
		s->kept[i].buf = NULL;
	}
	s->nkept = 0;
	free(s->kept_cbuf);
	s->kept_cbuf = NULL;
	s->kept_clen = 0;
	s->kept_cmod = 0;
	s->kept_rev = 0;
	s->kept_count = 0;
}

/* Unpacks the kept cluster key into s->in, as cluster_decode does a read one. */
static int kept_cluster_decode(coord_store_t *s, const coord_params_t *params, tandem_diag_t *diag)
{
	coord_etcd_kv_t ckv = {.key = s->state_key,
			       .key_len = strlen(s->state_key),
			       .value = s->kept_cbuf,
			       .value_len = s->kept_clen,
			       .mod_revision = s->kept_cmod};
	return cluster_decode(s, &ckv, params, diag);
}

/* Keeps what a full read (r) just put in s->in and s->zr. */
static int kept_take(coord_store_t *s, const coord_etcd_range_t *r)
{
	kept_forget(s);
	s->kept_cbuf = bytes_dup(s->cbuf, s->clen);
	int ret = s->kept_cbuf == NULL ? TANDEM_ENOMEM : TANDEM_OK;
	s->kept_clen = s->clen;
	s->kept_cmod = s->cmod;
	for (uint32_t i = 0; ret == TANDEM_OK && i < s->nzr; i++) {
		zone_kept_t *k = &s->kept[i];
		k->buf = bytes_dup(s->zr[i].buf, s->zr[i].len);
		if (k->buf == NULL) {
			ret = TANDEM_ENOMEM;
			break;
		}
		s->nkept = i + 1;
		k->len = s->zr[i].len;
		k->mod = s->zr[i].mod;
		zone_key(s, s->in->zones[i].name, k->key);
		memcpy(&k->zone, &s->in->zones[i], sizeof(k->zone));
	}
	if (ret != TANDEM_OK) {
		kept_forget(s);
		return ret;
	}
	s->kept_rev = r->revision;
	s->kept_count = r->count;
	return TANDEM_OK;
}

/* The kept zone of key, or where it would go (*found false). */
static uint32_t kept_find(const coord_store_t *s, const char *key, bool *found)
{
	uint32_t lo = 0, hi = s->nkept;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->kept[mid].key, key);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	*found = false;
	return lo;
}

/* A zone key written since: its kept entry replaced, or a new one put in key order. False
 * when it cannot be kept (unreadable, under another zone's key, or one zone too many): a
 * whole read then says why. */
static bool kept_zone(coord_store_t *s, const coord_etcd_kv_t *kv)
{
	char want[ZONE_KEY_MAX];
	if (kv->key_len >= ZONE_KEY_MAX ||
	    coord_zone_unpack(kv->value, kv->value_len, s->kept_tmp) != TANDEM_OK) {
		return false;
	}
	zone_key(s, s->kept_tmp->name, want);
	if (strcmp(want, kv->key) != 0) {
		return false;
	}
	uint8_t *buf = bytes_dup(kv->value, kv->value_len);
	if (buf == NULL) {
		return false;
	}
	bool found = false;
	uint32_t i = kept_find(s, kv->key, &found);
	if (!found) {
		if (s->nkept >= COORD_ZONES_MAX) {
			free(buf);
			return false;
		}
		memmove(&s->kept[i + 1], &s->kept[i], (s->nkept - i) * sizeof(s->kept[0]));
		s->nkept++;
		memcpy(s->kept[i].key, kv->key, kv->key_len + 1);
	} else {
		free(s->kept[i].buf);
	}
	zone_kept_t *k = &s->kept[i];
	k->buf = buf;
	k->len = kv->value_len;
	k->mod = kv->mod_revision;
	memcpy(&k->zone, s->kept_tmp, sizeof(k->zone));
	return true;
}

/*
 * The whole state from the kept one and the keys written since its revision (one range
 * read that lists only those): into s->in and s->zr as read_all's own read would put it.
 * *whole: the kept state could not be brought up to date (a key was deleted since, or a
 * written one cannot be kept): it is dropped, and the caller reads everything. A failed
 * read keeps it (nothing changed in it).
 */
static int read_since(coord_store_t *s, const coord_params_t *params, tandem_diag_t *diag,
		      bool *whole)
{
	coord_etcd_range_t *r = NULL;
	*whole = false;
	read_forget(s);
	int ret = coord_etcd_range_since(s->etcd, s->state_prefix, s->kept_rev + 1, 0, diag, &r);
	if (ret != TANDEM_OK) {
		coord_etcd_range_free(r);
		return ret;
	}
	int64_t count = s->kept_count;
	size_t plen = strlen(s->zone_prefix);
	bool ok = true;
	for (size_t i = 0; ok && i < r->n; i++) {
		const coord_etcd_kv_t *kv = &r->kvs[i];
		/* a key created since adds one to the count; one deleted since takes one off
		 * (it is not listed): the count then differs from the range's */
		count += kv->create_revision > s->kept_rev;
		if (strcmp(kv->key, s->state_key) == 0) {
			uint8_t *buf = bytes_dup(kv->value, kv->value_len);
			ok = buf != NULL;
			if (ok) {
				free(s->kept_cbuf);
				s->kept_cbuf = buf;
				s->kept_clen = kv->value_len;
				s->kept_cmod = kv->mod_revision;
			}
		} else if (strncmp(kv->key, s->zone_prefix, plen) == 0) {
			ok = kept_zone(s, kv);
		}
	}
	if (!ok || count != r->count) {
		kept_forget(s);
		coord_etcd_range_free(r);
		*whole = true;
		return TANDEM_OK;
	}
	s->kept_rev = r->revision;
	s->kept_count = count;
	coord_etcd_range_free(r);
	ret = kept_cluster_decode(s, params, diag);
	if (ret != TANDEM_OK) {
		kept_forget(s);
		read_forget(s);
		*whole = true; /* which says why */
		return TANDEM_OK;
	}
	s->full = true;
	s->read_rev = s->kept_rev;
	for (uint32_t i = 0; i < s->nkept; i++) {
		const zone_kept_t *k = &s->kept[i];
		memcpy(&s->in->zones[i], &k->zone, sizeof(k->zone));
		s->zr[i] = (zone_read_t){.mod = k->mod, .buf = k->buf, .len = k->len, .kept = true};
	}
	s->in->nzones = s->nkept;
	s->nzr = s->nkept;
	ret = coord_state_check(s->in, params);
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, ret, "%s: incoherent cluster state at revision %" PRId64,
				s->state_prefix, s->read_rev);
		read_forget(s);
		return ret;
	}
	s->reads_since++;
	return TANDEM_OK;
}

/*
 * Reads the whole state (one range read of PREFIX/state/) into s->in; from the kept state
 * and what changed since, when there is one. A cluster of the single-key layout
 * (PREFIX/cluster) is migrated first. No state at all: the empty state, cmod 0.
 */
static int read_all(coord_store_t *s, const coord_params_t *params, tandem_diag_t *diag)
{
	int ret = TANDEM_OK;
	coord_etcd_range_t *r = NULL;
	if (s->kept_rev > 0) {
		bool whole = false;
		ret = read_since(s, params, diag, &whole);
		if (!whole) {
			return ret;
		}
	}
	/* a migration or a first init (ours or another coordinator's) between the range read
	 * and the read of the old key is read again; a few times at most */
	for (int attempt = 0; attempt < 4; attempt++) {
		read_forget(s);
		coord_etcd_range_free(r);
		r = NULL;
		ret = coord_etcd_range(s->etcd, s->state_prefix, 0, 0, diag, &r);
		if (ret != TANDEM_OK) {
			goto out;
		}
		s->full = true;
		s->read_rev = r->revision;
		const coord_etcd_kv_t *ckv = NULL;
		for (size_t i = 0; i < r->n; i++) {
			if (strcmp(r->kvs[i].key, s->state_key) == 0) {
				ckv = &r->kvs[i];
			}
		}
		if (ckv == NULL) {
			if (r->n > 0) {
				ret = TANDEM_COORD_ESTATE;
				tandem_diag_add(diag, ret,
						"%s: zone keys without the cluster key %s",
						s->state_prefix, s->state_key);
				goto out;
			}
			coord_etcd_range_free(r);
			r = NULL;
			ret = coord_etcd_get(s->etcd, s->cluster_key, 0, diag, &r);
			if (ret != TANDEM_OK) {
				goto out;
			}
			if (r->n == 0) {
				ret = coord_state_init(s->in); /* nothing ever written */
				goto out;
			}
			if (r->kvs[0].mod_revision > s->read_rev) {
				continue; /* written since the range read: read again */
			}
			ret = migrate(s, &r->kvs[0], params, diag);
			if (ret != TANDEM_OK) {
				goto out;
			}
			continue;
		}
		ret = cluster_decode(s, ckv, params, diag);
		size_t plen = strlen(s->zone_prefix);
		for (size_t i = 0; ret == TANDEM_OK && i < r->n; i++) {
			if (strncmp(r->kvs[i].key, s->zone_prefix, plen) == 0) {
				ret = zone_decode(s, &r->kvs[i], diag);
			}
		}
		if (ret == TANDEM_OK) {
			ret = coord_state_check(s->in, params);
			if (ret != TANDEM_OK) {
				tandem_diag_add(diag, ret,
						"%s: incoherent cluster state at revision %" PRId64,
						s->state_prefix, s->read_rev);
			}
		}
		if (ret == TANDEM_OK) {
			ret = kept_take(s, r);
		}
		goto out;
	}
	ret = TANDEM_COORD_ECONFLICT;
	tandem_diag_add(diag, ret, "%s: the layout changed under every read", s->state_prefix);
out:
	coord_etcd_range_free(r);
	if (ret != TANDEM_OK) {
		read_forget(s);
	}
	return ret;
}

/*
 * Reads the cluster part and, when zone is not NULL, that zone's key only (the zone may be
 * absent): what a decision about one zone, or about no zone, depends on. Falls back to
 * read_all while there is no cluster key (nothing written yet, or the old layout).
 */
static int read_part(coord_store_t *s, const coord_params_t *params, const char *zone,
		     tandem_diag_t *diag)
{
	coord_etcd_txn_result_t *r = NULL;
	read_forget(s);
	/* both keys in one request, at one revision */
	char key[ZONE_KEY_MAX];
	if (zone != NULL) {
		zone_key(s, zone, key);
	}
	const char *keys[] = {s->state_key, key};
	int ret = coord_etcd_get_many(s->etcd, keys, zone != NULL ? 2 : 1, diag, &r);
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (r->reads[0].n == 0) {
		coord_etcd_txn_result_free(r);
		return read_all(s, params, diag);
	}
	ret = cluster_decode(s, &r->reads[0].kvs[0], params, diag);
	if (ret != TANDEM_OK || zone == NULL) {
		goto out;
	}
	memcpy(s->zone_key, key, sizeof(key));
	if (r->reads[1].n > 0) {
		ret = zone_decode(s, &r->reads[1].kvs[0], diag);
		s->zone_mod = r->reads[1].kvs[0].mod_revision;
	}
	if (ret == TANDEM_OK) {
		ret = coord_state_check(s->in, params);
		if (ret != TANDEM_OK) {
			tandem_diag_add(diag, ret, "%s: incoherent with %s", s->zone_key,
					s->state_key);
		}
	}
out:
	coord_etcd_txn_result_free(r);
	if (ret != TANDEM_OK) {
		read_forget(s);
	}
	return ret;
}

/*
 * What read_part would read (the cluster key and, when zone is not NULL, that zone's key),
 * taken from the kept state instead of etcd: false when nothing is kept (the caller reads).
 * A decision on it is written conditioned on the kept keys' mod_revisions, as on a read: a
 * kept state behind etcd only makes that write fail, and the input is then read and decided
 * again (apply_with).
 */
static bool kept_part(coord_store_t *s, const coord_params_t *params, const char *zone)
{
	if (s->kept_rev == 0) {
		return false;
	}
	read_forget(s);
	if (kept_cluster_decode(s, params, NULL) != TANDEM_OK) {
		read_forget(s);
		return false;
	}
	if (zone != NULL) {
		zone_key(s, zone, s->zone_key);
		bool found = false;
		uint32_t i = kept_find(s, s->zone_key, &found);
		if (found) {
			const zone_kept_t *k = &s->kept[i];
			memcpy(&s->in->zones[0], &k->zone, sizeof(k->zone));
			s->in->nzones = 1;
			s->zr[0] = (zone_read_t){
			    .mod = k->mod, .buf = k->buf, .len = k->len, .kept = true};
			s->nzr = 1;
			s->zone_mod = k->mod;
		}
	}
	if (coord_state_check(s->in, params) != TANDEM_OK) {
		read_forget(s);
		return false;
	}
	return true;
}

/*
 * After a write (state_write's puts): the kept copies of the keys it put take the values
 * written, so that this store's next decision about the same zone need not read it again.
 * Only keys already kept are updated: one the write created is left to the next whole read
 * (which counts it).
 */
static void kept_note(coord_store_t *s)
{
	if (s->kept_rev == 0) {
		return;
	}
	read_forget(s); /* s->zr may borrow the kept buffers replaced below */
	if (s->put_cbuf != NULL) {
		free(s->kept_cbuf);
		s->kept_cbuf = s->put_cbuf;
		s->kept_clen = s->put_clen;
		s->kept_cmod = s->put_rev;
		s->put_cbuf = NULL;
	}
	char key[ZONE_KEY_MAX];
	for (uint32_t n = 0; n < s->nput; n++) {
		const coord_zone_t *z = &s->out->zones[s->put_zones[n]];
		zone_key(s, z->name, key);
		bool found = false;
		uint32_t k = kept_find(s, key, &found);
		if (!found) {
			continue;
		}
		uint8_t *b = NULL;
		size_t len = 0;
		if (coord_zone_pack(z, &b, &len) != TANDEM_OK) {
			kept_forget(s);
			return;
		}
		free(s->kept[k].buf);
		s->kept[k].buf = b;
		s->kept[k].len = len;
		s->kept[k].mod = s->put_rev;
		memcpy(&s->kept[k].zone, z, sizeof(s->kept[k].zone));
	}
}

/* What a decision on `input` reads: the zone it names only, no zone, or all of them. */
typedef enum { SCOPE_ALL, SCOPE_ZONE, SCOPE_NONE } scope_t;

static scope_t input_scope(const coord_input_t *in)
{
	size_t n = strnlen(in->zone, COORD_ZONE_MAX);
	bool named = n > 0 && n < COORD_ZONE_MAX;
	switch (in->kind) {
	case COORD_IN_NODE_HEARTBEAT:
	case COORD_IN_PARAMS_SET: return SCOPE_NONE;
	case COORD_IN_LEASE_REQUEST:
	case COORD_IN_LEASE_RENEW:
	case COORD_IN_LEASE_RELEASE:
	case COORD_IN_COMMIT:
	case COORD_IN_DIGEST_REPORT:
	case COORD_IN_KEY_ADD:
	case COORD_IN_KEY_ACK:
	case COORD_IN_KEY_ACTIVATE:
	case COORD_IN_KEY_REMOVE:
	case COORD_IN_KEY_DESTROYED:
	case COORD_IN_KEY_PURGE:
	case COORD_IN_SWITCHOVER:
	case COORD_IN_ZONE_ADD:
	case COORD_IN_ZONE_REMOVE:
	case COORD_IN_ZONE_ACCEPT_INPUT: return named ? SCOPE_ZONE : SCOPE_ALL;
	case COORD_IN_ZONE_APPROVE:
	case COORD_IN_ZONE_REJECT: return SCOPE_ALL; /* the nodes' alerts say what is held */
	default: return SCOPE_ALL; /* register, remove, drain, takeover, tick, sites */
	}
}

static int read_scope(coord_store_t *s, const coord_params_t *params, const coord_input_t *in,
		      tandem_diag_t *diag)
{
	switch (input_scope(in)) {
	case SCOPE_NONE: return read_part(s, params, NULL, diag);
	case SCOPE_ZONE: return read_part(s, params, in->zone, diag);
	default: return read_all(s, params, diag);
	}
}

/* The old single key holds this once migrated: a ClusterState of version 2, which a
 * coordinator of the old layout refuses to read (and so never starts a state beside). */
static const uint8_t MIGRATED_MARK[] = {0x08, 0x02};

/* Adds "nothing of the state exists yet" compares. */
static int cmp_no_state(coord_store_t *s, coord_etcd_txn_t *t)
{
	int ret = coord_etcd_txn_cmp_mod(t, s->state_key, 0);
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_cmp_mod_below_prefix(t, s->zone_prefix, 1);
	}
	return ret;
}

/* Packs st's cluster part (members, params, sites: no zones) into a new buffer. */
static int cluster_pack(coord_store_t *s, const coord_state_t *st, uint8_t **buf, size_t *len)
{
	memcpy(s->head, st, offsetof(coord_state_t, zones));
	s->head->nzones = 0;
	s->head->suspended_sites = st->suspended_sites;
	return coord_state_pack(s->head, buf, len);
}

/* Puts every key of st (the whole state, written fresh) into t. */
static int put_all(coord_store_t *s, coord_etcd_txn_t *t, const coord_state_t *st)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	char key[ZONE_KEY_MAX];
	int ret = cluster_pack(s, st, &buf, &len);
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_put(t, s->state_key, buf, len, 0);
	}
	for (uint32_t i = 0; ret == TANDEM_OK && i < st->nzones; i++) {
		free(buf);
		buf = NULL;
		ret = coord_zone_pack(&st->zones[i], &buf, &len);
		if (ret == TANDEM_OK) {
			zone_key(s, st->zones[i].name, key);
			ret = coord_etcd_txn_put(t, key, buf, len, 0);
		}
	}
	if (ret == TANDEM_OK) {
		ret =
		    coord_etcd_txn_put(t, s->cluster_key, MIGRATED_MARK, sizeof(MIGRATED_MARK), 0);
	}
	free(buf);
	return ret;
}

/*
 * Moves a state of the single-key layout (PREFIX/cluster, at most 32 zones) to the
 * per-zone keys in one transaction, leaving the migration mark in PREFIX/cluster. Another
 * coordinator migrating at the same time wins or loses as a whole: both then read the
 * new keys.
 */
static int migrate(coord_store_t *s, const coord_etcd_kv_t *old, const coord_params_t *params,
		   tandem_diag_t *diag)
{
	coord_etcd_txn_t *t = NULL;
	coord_etcd_txn_result_t *r = NULL;
	char a[ZONE_KEY_MAX], b[ZONE_KEY_MAX];
	if (old->value_len == sizeof(MIGRATED_MARK) &&
	    memcmp(old->value, MIGRATED_MARK, sizeof(MIGRATED_MARK)) == 0) {
		tandem_diag_add(diag, TANDEM_COORD_ESTATE,
				"%s: marked as migrated, but %s is missing: the cluster state is "
				"lost; restore the etcd snapshot",
				s->cluster_key, s->state_key);
		return TANDEM_COORD_ESTATE;
	}
	int ret = coord_state_unpack(old->value, old->value_len, params, s->in);
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, ret, "%s: unreadable cluster state at revision %" PRId64,
				s->cluster_key, old->mod_revision);
		return ret;
	}
	for (uint32_t i = 0; i < s->in->nzones; i++) {
		zone_key(s, s->in->zones[i].name, a);
		for (uint32_t j = i + 1; j < s->in->nzones; j++) {
			zone_key(s, s->in->zones[j].name, b);
			if (strcmp(a, b) == 0) {
				tandem_diag_add(diag, TANDEM_COORD_ESTATE,
						"%s: zones %s and %s share the key %s: remove one "
						"with a coordinator of the old layout first",
						s->cluster_key, s->in->zones[i].name,
						s->in->zones[j].name, a);
				return TANDEM_COORD_ESTATE;
			}
		}
	}
	ret = coord_etcd_txn_new(&t);
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_cmp_mod(t, s->cluster_key, old->mod_revision);
	}
	if (ret == TANDEM_OK) {
		ret = cmp_no_state(s, t);
	}
	if (ret == TANDEM_OK) {
		ret = put_all(s, t, s->in);
	}
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_commit(s->etcd, t, diag, &r);
	}
	if (ret == TANDEM_OK) {
		s->migrated++;
	} else if (ret == TANDEM_COORD_ECONFLICT) {
		ret = TANDEM_OK; /* another coordinator migrated (or wrote) first: read again */
	}
	coord_etcd_txn_result_free(r);
	coord_etcd_txn_free(t);
	return ret;
}

/* An extra put of a state change: a key written once, if absent, with the state. */
typedef struct extra_put {
	const char *key;
	const uint8_t *value;
	size_t len;
} extra_put_t;

/*
 * Copies into s->head the last time heard of each member as read when the decision moved
 * it forward by less than a quarter of the node timeout: liveness needs no finer grain
 * (a member heard at least every node_timeout / 4 is written at least that often, and is
 * healthy as long as it is heard within the node timeout), and a request then writes
 * nothing of the cluster part.
 */
static void last_seen_coarsen(coord_store_t *s, const coord_params_t *params)
{
	uint64_t grain = params->node_timeout_ms / 4u;
	for (uint32_t i = 0; i < s->head->nnodes; i++) {
		coord_node_t *n = &s->head->nodes[i];
		const coord_node_t *was = coord_state_node(s->in, n->id);
		if (was != NULL && n->last_seen_ms >= was->last_seen_ms &&
		    n->last_seen_ms - was->last_seen_ms < grain) {
			n->last_seen_ms = was->last_seen_ms;
		}
	}
}

/*
 * Writes what the decision changed (s->out against s->in as read): the cluster key if its
 * part changed, each zone key whose zone changed, and the extra key (may be NULL) if
 * absent; conditioned on the keys the decision read (cluster key and its zone's key, or
 * every zone key with one range compare). *written: whether a transaction went out; on
 * TANDEM_COORD_ECONFLICT *fail holds the extra key's current value (when there is one).
 */
static int state_write(coord_store_t *s, const coord_params_t *params, const extra_put_t *extra,
		       tandem_diag_t *diag, bool *written, coord_etcd_txn_result_t **fail)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	size_t puts = 0;
	char key[ZONE_KEY_MAX];
	coord_etcd_txn_t *t = NULL;
	coord_etcd_txn_result_t *r = NULL;
	const coord_state_t *out = s->out;
	*written = false;
	free(s->put_cbuf);
	s->put_cbuf = NULL;
	s->nput = 0;
	int ret = coord_etcd_txn_new(&t);
	if (ret != TANDEM_OK) {
		goto out;
	}
	ret = coord_etcd_txn_cmp_mod(t, s->state_key, s->cmod);
	if (ret == TANDEM_OK && s->cmod == 0) {
		ret = coord_etcd_txn_cmp_mod(t, s->cluster_key, 0);
	}
	if (ret == TANDEM_OK && s->full) {
		/* every zone key read, and none created since */
		ret = coord_etcd_txn_cmp_mod_below_prefix(t, s->zone_prefix, s->read_rev + 1);
	} else if (ret == TANDEM_OK && s->zone_key[0] != '\0') {
		ret = coord_etcd_txn_cmp_mod(t, s->zone_key, s->zone_mod);
	}
	if (ret != TANDEM_OK) {
		goto out;
	}
	memcpy(s->head, out, offsetof(coord_state_t, zones));
	s->head->nzones = 0;
	s->head->suspended_sites = out->suspended_sites;
	last_seen_coarsen(s, params);
	ret = coord_state_pack(s->head, &buf, &len);
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (s->cmod == 0 || len != s->clen || memcmp(buf, s->cbuf, len) != 0) {
		ret = coord_etcd_txn_put(t, s->state_key, buf, len, 0);
		puts++;
		s->put_cbuf = buf; /* kept for kept_note */
		s->put_clen = len;
		buf = NULL;
		if (ret == TANDEM_OK && s->cmod == 0) {
			ret = coord_etcd_txn_put(t, s->cluster_key, MIGRATED_MARK,
						 sizeof(MIGRATED_MARK), 0);
		}
	}
	for (uint32_t i = 0; ret == TANDEM_OK && i < out->nzones; i++) {
		free(buf);
		buf = NULL;
		ret = coord_zone_pack(&out->zones[i], &buf, &len);
		if (ret != TANDEM_OK) {
			break;
		}
		if (i < s->nzr && len == s->zr[i].len && memcmp(buf, s->zr[i].buf, len) == 0) {
			continue;
		}
		zone_key(s, out->zones[i].name, key);
		ret = coord_etcd_txn_put(t, key, buf, len, 0);
		puts++;
		s->put_zones[s->nput++] = i;
	}
	if (ret == TANDEM_OK && extra != NULL) {
		ret = coord_etcd_txn_cmp_absent(t, extra->key);
		if (ret == TANDEM_OK) {
			ret = coord_etcd_txn_put(t, extra->key, extra->value, extra->len, 0);
		}
		if (ret == TANDEM_OK) {
			ret = coord_etcd_txn_on_fail_get(t, extra->key);
		}
		puts++;
	}
	if (ret == TANDEM_EINVAL && puts >= COORD_ETCD_MAX_TXN_OPS) {
		tandem_diag_add(diag, ret,
				"%s: one decision writes more than %u keys (etcd's --max-txn-ops)",
				s->state_prefix, COORD_ETCD_MAX_TXN_OPS);
	}
	if (ret != TANDEM_OK || puts == 0) {
		goto out; /* nothing to write: only times last heard moved, within their grain */
	}
	*written = true;
	ret = coord_etcd_txn_commit(s->etcd, t, diag, &r);
	if (ret == TANDEM_COORD_ECONFLICT) {
		if (r == NULL || r->n_reads != (extra != NULL ? 1u : 0u)) {
			/* coord_etcd guarantees one read per failure op; be safe anyway */
			ret = TANDEM_COORD_EPROTO;
			goto out;
		}
		*fail = r;
		r = NULL;
	} else if (ret == TANDEM_OK) {
		s->writes++;
		s->put_rev = r->revision;
	}
out:
	coord_etcd_txn_result_free(r);
	coord_etcd_txn_free(t);
	free(buf);
	return ret;
}

int coord_store_init(coord_store_t *store, const coord_params_t *params, tandem_diag_t *diag)
{
	coord_etcd_txn_t *t = NULL;
	coord_etcd_txn_result_t *r = NULL;
	if (store == NULL || coord_params_check(params) != TANDEM_OK) {
		return TANDEM_EINVAL;
	}
	int ret = read_all(store, params, diag); /* migrates the old layout */
	if (ret != TANDEM_OK || store->cmod != 0) {
		return ret;
	}
	ret = coord_state_init(store->out);
	if (ret != TANDEM_OK) {
		return ret;
	}
	/* the first coordinator's lease and margin become the cluster's */
	store->out->lease_ms = params->lease_ms;
	store->out->margin_ms = params->margin_ms;
	ret = coord_etcd_txn_new(&t);
	if (ret == TANDEM_OK) {
		ret = cmp_no_state(store, t);
	}
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_cmp_mod(t, store->cluster_key, 0);
	}
	if (ret == TANDEM_OK) {
		ret = put_all(store, t, store->out);
	}
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_commit(store->etcd, t, diag, &r);
	}
	if (ret == TANDEM_COORD_ECONFLICT) {
		/* it exists already: fine, if it can be read */
		ret = read_all(store, params, diag);
	}
	coord_etcd_txn_result_free(r);
	coord_etcd_txn_free(t);
	return ret;
}

static int apply_with(coord_store_t *store, const coord_input_t *input, uint64_t now_ms,
		      const coord_params_t *params, const struct extra_put *extra,
		      tandem_diag_t *diag, coord_result_t *res);

int coord_store_params(coord_store_t *store, const coord_params_t *params, uint64_t now_ms,
		       tandem_diag_t *diag, coord_params_t *cluster)
{
	if (store == NULL || cluster == NULL || coord_params_check(params) != TANDEM_OK) {
		return TANDEM_EINVAL;
	}
	int ret = read_part(store, params, NULL, diag);
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
			ret = read_part(store, params, NULL, diag);
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
	if (store == NULL || state == NULL || coord_params_check(params) != TANDEM_OK) {
		return TANDEM_EINVAL;
	}
	int ret = read_all(store, params, diag);
	if (ret != TANDEM_OK) {
		return ret;
	}
	int64_t mod = store->cmod;
	for (uint32_t i = 0; i < store->nzr; i++) {
		mod = store->zr[i].mod > mod ? store->zr[i].mod : mod;
	}
	memcpy(state, store->in, offsetof(coord_state_t, zones));
	memcpy(state->zones, store->in->zones, store->in->nzones * sizeof(state->zones[0]));
	state->suspended_sites = store->in->suspended_sites;
	if (mod_revision != NULL) {
		*mod_revision = mod;
	}
	return TANDEM_OK;
}

int coord_store_read_zone(coord_store_t *store, const coord_params_t *params, const char *zone,
			  tandem_diag_t *diag, coord_state_t *state)
{
	if (store == NULL || state == NULL || zone == NULL || zone[0] == '\0' ||
	    strnlen(zone, COORD_ZONE_MAX) == COORD_ZONE_MAX ||
	    coord_params_check(params) != TANDEM_OK) {
		return TANDEM_EINVAL;
	}
	int ret = read_part(store, params, zone, diag);
	if (ret == TANDEM_OK && store->full) {
		/* no cluster key yet (read_all): keep the one zone asked for, if any */
		const coord_zone_t *z = coord_state_zone(store->in, zone);
		if (z != NULL) {
			memmove(&store->in->zones[0], z, sizeof(*z));
		}
		store->in->nzones = z != NULL ? 1 : 0;
	}
	if (ret == TANDEM_OK) {
		coord_state_copy(state, store->in);
	}
	return ret;
}

/* The decision when the extra key exists already: a refusal, as the machine would give. */
static void refuse_exists(coord_result_t *r, const coord_input_t *input, const char *key)
{
	memset(r, 0, offsetof(coord_result_t, effects));
	r->reason = COORD_R_EXISTS;
	snprintf(r->text, sizeof(r->text), "zone %.80s: key %u: %.80s exists already", input->zone,
		 input->key_id, key);
}

/* A zone add that would create a zone key beyond COORD_ZONES_MAX: the machine, which saw
 * the one zone only, cannot know; refused as it would refuse a full table. */
static int zones_full(coord_store_t *s, const coord_input_t *input, tandem_diag_t *diag, bool *full)
{
	coord_etcd_range_t *r = NULL;
	*full = false;
	if (input->kind != COORD_IN_ZONE_ADD || s->full || s->nzr > 0) {
		return TANDEM_OK;
	}
	int ret = coord_etcd_range(s->etcd, s->zone_prefix, 1, 0, diag, &r);
	if (ret == TANDEM_OK) {
		*full = r->count >= (int64_t)COORD_ZONES_MAX;
	}
	coord_etcd_range_free(r);
	return ret;
}

static int apply_with(coord_store_t *store, const coord_input_t *input, uint64_t now_ms,
		      const coord_params_t *params, const extra_put_t *extra, tandem_diag_t *diag,
		      coord_result_t *res)
{
	coord_etcd_txn_result_t *fail = NULL;
	bool written = false, full = false;
	/* a decision about one zone, or about none, starts from the kept state: no read */
	scope_t scope = input_scope(input);
	bool kept = scope != SCOPE_ALL &&
		    kept_part(store, params, scope == SCOPE_ZONE ? input->zone : NULL);
	int ret = kept ? TANDEM_OK : read_scope(store, params, input, diag);
	for (unsigned attempt = 1; ret == TANDEM_OK; attempt++) {
		/* The same now_ms on every attempt: a retry takes a round trip or two, and
		 * an earlier "now" only delays grants (see docs/coordinator.md, "Store"). */
		ret = coord_state_apply(store->in, input, now_ms, params, store->out, store->res);
		if (ret == TANDEM_OK && kept && !store->res->changed) {
			/* a refusal or a no-op is given on a fresh read only: the kept state may
			 * be behind (a lease granted through another coordinator) */
			kept = false;
			ret = read_scope(store, params, input, diag);
			attempt--;
			continue;
		}
		if (ret != TANDEM_OK || !store->res->changed) {
			break; /* a refusal or a no-op writes nothing */
		}
		ret = zones_full(store, input, diag, &full);
		if (ret != TANDEM_OK) {
			break;
		}
		if (full) {
			memset(store->res, 0, offsetof(coord_result_t, effects));
			store->res->reason = COORD_R_FULL;
			snprintf(store->res->text, sizeof(store->res->text),
				 "zone %.100s: %u zones already", input->zone, COORD_ZONES_MAX);
			break;
		}
		ret = state_write(store, params, extra, diag, &written, &fail);
		if (ret == TANDEM_OK && !written && kept) {
			/* nothing to write (a heartbeat within the grain of time last heard): no
			 * compare checked the kept state, so decided again on a fresh read, as a
			 * no-op is (a member fenced through another coordinator is refused) */
			kept = false;
			ret = read_scope(store, params, input, diag);
			attempt--;
			continue;
		}
		if (ret == TANDEM_OK && written) {
			store->kept_writes += kept;
			kept_note(store);
		}
		if (ret != TANDEM_COORD_ECONFLICT) {
			break;
		}
		if (extra != NULL && fail->reads[0].n > 0) {
			/* the extra key is written once: its presence is a refusal, not a race */
			refuse_exists(store->res, input, extra->key);
			ret = TANDEM_OK;
			break;
		}
		coord_etcd_txn_result_free(fail);
		fail = NULL;
		if (kept) {
			/* the kept state was behind: not a lost race; read and decide again */
			store->kept_misses++;
			kept = false;
			ret = read_scope(store, params, input, diag);
			attempt--;
			continue;
		}
		store->conflicts++;
		if (attempt >= COORD_STORE_RETRIES) {
			tandem_diag_add(diag, ret,
					"%s: %s: the state changed under every one of %u attempts",
					store->state_prefix, coord_input_kind_str(input->kind),
					COORD_STORE_RETRIES);
			break;
		}
		ret = read_scope(store, params, input, diag);
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

/* The folder of a per-name document, NULL for the cluster-wide ones. */
static const char *doc_dir(coord_doc_t doc)
{
	switch (doc) {
	case COORD_DOC_KEYSET: return "keys";
	case COORD_DOC_SKR: return "skr";
	case COORD_DOC_POLICY: return "policies";
	case COORD_DOC_POLICY_STAGED: return "policy-staged";
	case COORD_DOC_ZONE_POLICY: return "zone-policy";
	default: return NULL;
	}
}

/* PREFIX/keys/ZONE, PREFIX/skr/ZONE, PREFIX/operators, PREFIX/requests,
 * PREFIX/approval-rules, PREFIX/archive-grants, PREFIX/audit-offline, PREFIX/production */
static int doc_key(const coord_store_t *s, coord_doc_t doc, const char *zone,
		   char key[KEYSET_KEY_MAX])
{
	size_t n = strnlen(zone, COORD_ZONE_MAX);
	if (doc == COORD_DOC_OPERATORS || doc == COORD_DOC_REQUESTS || doc == COORD_DOC_RULES ||
	    doc == COORD_DOC_GRANTS || doc == COORD_DOC_OFFLINE || doc == COORD_DOC_PRODUCTION) {
		if (n != 0) {
			return TANDEM_EINVAL;
		}
		snprintf(key, KEYSET_KEY_MAX, "%s%s", s->prefix,
			 doc == COORD_DOC_OPERATORS    ? "operators"
			 : doc == COORD_DOC_REQUESTS   ? "requests"
			 : doc == COORD_DOC_RULES      ? "approval-rules"
			 : doc == COORD_DOC_GRANTS     ? "archive-grants"
			 : doc == COORD_DOC_PRODUCTION ? "production"
						       : "audit-offline");
		return TANDEM_OK;
	}
	const char *dir = doc_dir(doc);
	if (n == 0 || n == COORD_ZONE_MAX || dir == NULL) {
		return TANDEM_EINVAL;
	}
	snprintf(key, KEYSET_KEY_MAX, "%s%s/%s", s->prefix, dir, zone);
	return TANDEM_OK;
}

int coord_store_doc_list(coord_store_t *store, coord_doc_t doc, tandem_diag_t *diag,
			 coord_etcd_range_t **out, size_t *prefix_len)
{
	char key[KEYSET_KEY_MAX];
	if (store == NULL || out == NULL || prefix_len == NULL ||
	    (doc != COORD_DOC_POLICY && doc != COORD_DOC_POLICY_STAGED &&
	     doc != COORD_DOC_ZONE_POLICY)) {
		return TANDEM_EINVAL;
	}
	snprintf(key, sizeof(key), "%s%s/", store->prefix, doc_dir(doc));
	*prefix_len = strlen(key);
	return coord_etcd_range(store->etcd, key, 4096, 0, diag, out);
}

/* Where zone's key-set revision is kept, or would go in key order (*found false). */
static uint32_t ksr_at(const coord_store_t *s, const char *zone, bool *found)
{
	uint32_t lo = 0, hi = s->nksr;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (strcmp(s->ksr[mid].zone, zone) < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	*found = lo < s->nksr && strcmp(s->ksr[lo].zone, zone) == 0;
	return lo;
}

/* The kept key-set revision of zone (spelled as its key set's key, else any spelling the
 * machine takes for the same name), or NULL. */
static const keyset_rev_t *ksr_find(const coord_store_t *s, const char *zone)
{
	bool found = false;
	uint32_t at = ksr_at(s, zone, &found);
	if (found) {
		return &s->ksr[at];
	}
	size_t n = strlen(zone);
	n -= n > 0 && zone[n - 1] == '.';
	for (uint32_t i = 0; i < s->nksr; i++) {
		size_t m = strlen(s->ksr[i].zone);
		m -= m > 0 && s->ksr[i].zone[m - 1] == '.';
		if (m == n && strncasecmp(s->ksr[i].zone, zone, n) == 0) {
			return &s->ksr[i];
		}
	}
	return NULL;
}

int coord_store_keyset_revs(coord_store_t *store, tandem_diag_t *diag)
{
	if (store == NULL) {
		return TANDEM_EINVAL;
	}
	char prefix[KEYSET_KEY_MAX];
	snprintf(prefix, sizeof(prefix), "%skeys/", store->prefix);
	size_t plen = strlen(prefix);
	coord_etcd_range_t *r = NULL;
	/* every key set the first time (from revision 1), then those written since */
	int64_t from = store->ksr_rev + 1;
	int ret = coord_etcd_range_since(store->etcd, prefix, from, COORD_ETCD_KEYS_ONLY, diag, &r);
	if (ret != TANDEM_OK) {
		return ret;
	}
	int64_t count = store->ksr_rev == 0 ? 0 : store->ksr_count;
	for (size_t i = 0; i < r->n && ret == TANDEM_OK; i++) {
		const coord_etcd_kv_t *kv = &r->kvs[i];
		const char *zone = kv->key + plen;
		count += store->ksr_rev == 0 || kv->create_revision > store->ksr_rev;
		if (kv->key_len <= plen || strlen(zone) >= COORD_ZONE_MAX) {
			continue; /* not a zone's key set (the store never writes one) */
		}
		bool found = false;
		uint32_t lo = ksr_at(store, zone, &found);
		if (!found) {
			if (store->nksr == KEYSET_REVS_MAX) {
				ret = TANDEM_ERANGE;
				break;
			}
			memmove(&store->ksr[lo + 1], &store->ksr[lo],
				(store->nksr - lo) * sizeof(store->ksr[0]));
			store->nksr++;
			snprintf(store->ksr[lo].zone, sizeof(store->ksr[lo].zone), "%s", zone);
		}
		store->ksr[lo].mod = kv->mod_revision;
	}
	if (ret == TANDEM_OK && count != r->count) {
		ret = TANDEM_COORD_ECONFLICT; /* a key set was deleted since: all again next time */
	}
	if (ret == TANDEM_OK) {
		store->ksr_rev = r->revision;
		store->ksr_count = count;
	} else {
		store->ksr_rev = 0;
		store->nksr = 0;
		tandem_diag_add(diag, ret, "%s: key set revisions not kept: %s", prefix,
				ret == TANDEM_ERANGE ? "more key sets than kept"
						     : "one was deleted since the last read");
	}
	coord_etcd_range_free(r);
	return ret;
}

int64_t coord_store_keyset_rev(const coord_store_t *store, const char *zone)
{
	if (store == NULL || zone == NULL || store->ksr_rev == 0) {
		return 0;
	}
	const keyset_rev_t *k = ksr_find(store, zone);
	return k != NULL ? k->mod : 0;
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

/* ---- a node's lease batch ---- */

/* The working space of one batch: two states holding the cluster part and one zone, the
 * input being decided and, per item, the index of its zone in s->out (UINT32_MAX: none). */
typedef struct batch_space {
	coord_state_t *mini_in, *mini_out;
	coord_input_t *in;
	uint32_t *zidx;
} batch_space_t;

/* Decides every item on s->in (a full read) into s->out, one after the other, each on the
 * cluster part as the items before left it and its own zone alone: what the single request
 * would read and decide. */
static int batch_decide(coord_store_t *s, const char *node, const char *instance,
			const coord_store_lease_t *items, size_t n, uint64_t now_ms,
			const coord_params_t *params, batch_space_t *w, coord_store_decided_t *out)
{
	const size_t head = offsetof(coord_state_t, zones);
	coord_state_copy(s->out, s->in);
	for (size_t i = 0; i < n; i++) {
		coord_input_t *in = w->in;
		memset(in, 0, sizeof(*in));
		in->kind = items[i].renew ? COORD_IN_LEASE_RENEW : COORD_IN_LEASE_REQUEST;
		snprintf(in->node, sizeof(in->node), "%s", node);
		snprintf(in->zone, sizeof(in->zone), "%s", items[i].zone);
		snprintf(in->instance, sizeof(in->instance), "%s", instance);
		in->epoch = items[i].epoch;
		memcpy(w->mini_in, s->out, head);
		w->mini_in->nzones = 0;
		const coord_zone_t *z = coord_state_zone(s->out, items[i].zone);
		w->zidx[i] = UINT32_MAX;
		if (z != NULL) {
			w->zidx[i] = (uint32_t)(z - s->out->zones);
			memcpy(&w->mini_in->zones[0], z, sizeof(*z));
			w->mini_in->nzones = 1;
		}
		int ret = coord_state_apply(w->mini_in, in, now_ms, params, w->mini_out, s->res);
		if (ret != TANDEM_OK) {
			return ret;
		}
		const coord_result_t *r = s->res;
		if (r->changed) {
			uint32_t nz = s->out->nzones;
			memcpy(s->out, w->mini_out, head);
			s->out->nzones = nz;
			if (z != NULL) {
				memcpy(&s->out->zones[w->zidx[i]], &w->mini_out->zones[0],
				       sizeof(*z));
			}
		}
		coord_store_decided_t *d = &out[i];
		memset(d, 0, sizeof(*d));
		d->reason = r->reason;
		memcpy(d->text, r->text, sizeof(d->text));
		d->changed = r->changed;
		d->epoch = r->epoch;
		d->expiry_ms = r->expiry_ms;
		d->neffects = r->neffects < COORD_STORE_LEASE_EFFECTS ? r->neffects
								      : COORD_STORE_LEASE_EFFECTS;
		d->dropped = r->dropped + (r->neffects - d->neffects);
		memcpy(d->effects, r->effects, d->neffects * sizeof(d->effects[0]));
	}
	return TANDEM_OK;
}

/* Writes what the batch changed (s->out against s->in): the cluster key if its part changed
 * beyond the grain of the times last heard, each zone key whose zone changed; conditioned
 * on the cluster key and on each zone key written being as read. */
static int batch_write(coord_store_t *s, const coord_params_t *params, const batch_space_t *w,
		       size_t n, tandem_diag_t *diag)
{
	uint8_t *buf = NULL;
	size_t len = 0, puts = 0;
	char key[ZONE_KEY_MAX];
	coord_etcd_txn_t *t = NULL;
	coord_etcd_txn_result_t *r = NULL;
	int ret = coord_etcd_txn_new(&t);
	if (ret == TANDEM_OK) {
		ret = coord_etcd_txn_cmp_mod(t, s->state_key, s->cmod);
	}
	if (ret == TANDEM_OK && s->cmod == 0) {
		ret = coord_etcd_txn_cmp_mod(t, s->cluster_key, 0);
	}
	if (ret != TANDEM_OK) {
		goto out;
	}
	memcpy(s->head, s->out, offsetof(coord_state_t, zones));
	s->head->nzones = 0;
	last_seen_coarsen(s, params);
	ret = coord_state_pack(s->head, &buf, &len);
	if (ret == TANDEM_OK &&
	    (s->cmod == 0 || len != s->clen || memcmp(buf, s->cbuf, len) != 0)) {
		ret = coord_etcd_txn_put(t, s->state_key, buf, len, 0);
		puts++;
		if (ret == TANDEM_OK && s->cmod == 0) {
			ret = coord_etcd_txn_put(t, s->cluster_key, MIGRATED_MARK,
						 sizeof(MIGRATED_MARK), 0);
		}
	}
	for (size_t i = 0; ret == TANDEM_OK && i < n; i++) {
		uint32_t zi = w->zidx[i];
		if (zi == UINT32_MAX || zi >= s->nzr) {
			continue; /* no such zone: refused, nothing to write */
		}
		free(buf);
		buf = NULL;
		ret = coord_zone_pack(&s->out->zones[zi], &buf, &len);
		if (ret != TANDEM_OK) {
			break;
		}
		if (len == s->zr[zi].len && memcmp(buf, s->zr[zi].buf, len) == 0) {
			continue;
		}
		zone_key(s, s->out->zones[zi].name, key);
		ret = coord_etcd_txn_cmp_mod(t, key, s->zr[zi].mod);
		if (ret == TANDEM_OK) {
			ret = coord_etcd_txn_put(t, key, buf, len, 0);
		}
		puts++;
	}
	if (ret == TANDEM_EINVAL && puts >= COORD_ETCD_MAX_TXN_OPS / 2) {
		tandem_diag_add(
		    diag, ret,
		    "%s: one lease batch writes more than %u keys (etcd's --max-txn-ops)",
		    s->state_prefix, COORD_ETCD_MAX_TXN_OPS / 2);
	}
	if (ret != TANDEM_OK || puts == 0) {
		goto out;
	}
	ret = coord_etcd_txn_commit(s->etcd, t, diag, &r);
	if (ret == TANDEM_OK) {
		s->writes++;
	}
out:
	coord_etcd_txn_result_free(r);
	coord_etcd_txn_free(t);
	free(buf);
	return ret;
}

/* Whether two items name one zone for the machine (one key). */
static int batch_check(const coord_store_t *s, const coord_store_lease_t *items, size_t n,
		       tandem_diag_t *diag)
{
	char(*keys)[ZONE_KEY_MAX] = calloc(n, sizeof(*keys));
	if (keys == NULL) {
		return TANDEM_ENOMEM;
	}
	int ret = TANDEM_OK;
	for (size_t i = 0; i < n && ret == TANDEM_OK; i++) {
		size_t len = strnlen(items[i].zone, COORD_ZONE_MAX);
		if (len == 0 || len == COORD_ZONE_MAX) {
			tandem_diag_add(diag, TANDEM_EINVAL, "lease batch: item %zu: %s zone name",
					i, len == 0 ? "empty" : "overlong");
			ret = TANDEM_EINVAL;
			break;
		}
		zone_key(s, items[i].zone, keys[i]);
		for (size_t j = 0; j < i; j++) {
			if (strcmp(keys[i], keys[j]) == 0) {
				tandem_diag_add(diag, TANDEM_EINVAL,
						"lease batch: items %zu and %zu name one zone (%s)",
						j, i, keys[i]);
				ret = TANDEM_EINVAL;
				break;
			}
		}
	}
	free(keys);
	return ret;
}

int coord_store_lease_batch(coord_store_t *store, const char *node, const char *instance,
			    const coord_store_lease_t *items, size_t n, uint64_t now_ms,
			    const coord_params_t *params, tandem_diag_t *diag,
			    coord_store_decided_t *out)
{
	if (store == NULL || node == NULL || instance == NULL || items == NULL || out == NULL ||
	    n == 0 || n > COORD_ZONES_MAX || coord_params_check(params) != TANDEM_OK) {
		return TANDEM_EINVAL;
	}
	int ret = batch_check(store, items, n, diag);
	if (ret != TANDEM_OK) {
		return ret;
	}
	batch_space_t w = {
	    .mini_in = malloc(sizeof(coord_state_t)),
	    .mini_out = malloc(sizeof(coord_state_t)),
	    .in = malloc(sizeof(coord_input_t)),
	    .zidx = calloc(n, sizeof(uint32_t)),
	};
	coord_store_decided_t *dec = calloc(n, sizeof(*dec));
	if (w.mini_in == NULL || w.mini_out == NULL || w.in == NULL || w.zidx == NULL ||
	    dec == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	for (unsigned attempt = 1;; attempt++) {
		ret = read_all(store, params, diag);
		if (ret == TANDEM_OK) {
			ret =
			    batch_decide(store, node, instance, items, n, now_ms, params, &w, dec);
		}
		if (ret == TANDEM_OK) {
			ret = batch_write(store, params, &w, n, diag);
		}
		if (ret != TANDEM_COORD_ECONFLICT) {
			break;
		}
		store->conflicts++;
		if (attempt >= COORD_STORE_RETRIES) {
			tandem_diag_add(diag, ret,
					"%s: lease batch of %zu zones: the state changed under "
					"every one of %u attempts",
					store->state_prefix, n, COORD_STORE_RETRIES);
			break;
		}
	}
	if (ret == TANDEM_OK) {
		memcpy(out, dec, n * sizeof(*dec));
	}
out:
	free(dec);
	free(w.mini_in);
	free(w.mini_out);
	free(w.in);
	free(w.zidx);
	return ret;
}
