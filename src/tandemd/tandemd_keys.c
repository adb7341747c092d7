/* tandemd's keys: the zone's key set from the cluster archive, imported into this node's HSM. */
#include "tandemd_keys.h"

#include "tandem_error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tdm_keygen {
	hsm_token_t *token; /* borrowed */
	char zone[ARCHIVE_LABEL_MAX + 1];
	uint32_t id;
	hsm_keyspec_t spec;
	hsm_keypair_t *made; /* the thread's result, adopted at the finish */
	pthread_t thread;
	atomic_bool done;
	int ret; /* written by the thread before done; read after the join */
	char why[256];
};

/* One archived key of an import batch. */
typedef struct tdm_keyimport_entry {
	uint8_t *archive; /* owned copy */
	size_t len;
	tdm_keyimport_result_t r;
} tdm_keyimport_entry_t;

struct tdm_keyimport {
	hsm_token_t *token; /* borrowed */
	tdm_keyimport_entry_t *e;
	size_t n, cap;
	bool started;
	pthread_t thread;
	atomic_bool done;
};

bool tdm_keys_have(hsm_token_t *token, const char *zone, uint32_t id);

/* The label a zone's key gets on every token: one name across the cluster. */
static void tdm_keys_label(const char *zone, uint32_t id, char *out, size_t size)
{
	size_t n = strlen(zone);
	if (n > 1 && zone[n - 1] == '.') {
		n--;
	}
	snprintf(out, size, "tandem-%.*s-%u", (int)n, zone, id);
}

static int tdm_keys_find(hsm_token_t *token, const char *label, tandem_diag_t *diag,
			 const hsm_key_t **out)
{
	char uri_text[512];
	hsm_uri_t *uri = NULL;
	snprintf(uri_text, sizeof(uri_text), "pkcs11:object=%s", label);
	int ret = hsm_uri_parse(uri_text, diag, &uri);
	if (ret == TANDEM_OK) {
		ret = hsm_token_find_key(token, uri, diag, out);
	}
	hsm_uri_free(uri);
	return ret;
}

int tdm_keys_generate(hsm_token_t *token, const char *zone, uint32_t id, archive_role_t role,
		      const kasp_key_policy_t *kp, uint64_t now, tandem_diag_t *diag,
		      tdm_key_t *key, uint8_t **archive, size_t *archive_len)
{
	char label[ARCHIVE_LABEL_MAX + 1];
	char uri_text[512];
	hsm_uri_t *uri = NULL;
	const hsm_key_t *k = NULL;
	tdm_keys_label(zone, id, label, sizeof(label));
	snprintf(uri_text, sizeof(uri_text), "pkcs11:object=%s", label);
	int ret = hsm_uri_parse(uri_text, diag, &uri);
	if (ret != TANDEM_OK) {
		return ret;
	}
	/* A key left by a run that died before the archive took it is ours and unused. */
	tandem_diag_t *probe = NULL;
	ret = tandem_diag_new(&probe);
	if (ret == TANDEM_OK && hsm_token_find_key(token, uri, probe, &k) != TANDEM_OK) {
		hsm_keyspec_t spec = {.algorithm = kp->algorithm, .bits = kp->bits};
		ret = hsm_token_generate_key(token, uri, &spec, diag, &k);
	}
	tandem_diag_free(probe);
	hsm_uri_free(uri);
	/* a key made ahead for this id (or left by an earlier try) under another policy's
	 * algorithm or size is not taken for this one */
	if (ret == TANDEM_OK && (hsm_key_algorithm(k) != kp->algorithm ||
				 (kp->bits != 0 && hsm_key_bits(k) != kp->bits))) {
		ret = TANDEM_KASP_ESTATE;
		tandem_diag_add(diag, ret,
				"%s: the token holds a key of algorithm %u, %u bits under this "
				"label; the key set asks algorithm %u%s: not taken (remove it)",
				label, hsm_key_algorithm(k), hsm_key_bits(k), kp->algorithm,
				kp->bits != 0 ? " of another size" : "");
	}
	if (ret != TANDEM_OK) {
		return ret;
	}
	archive_key_meta_t meta = {.label = label,
				   .role = role,
				   .state = "active",
				   .created = now,
				   .published = now,
				   .active = now};
	ret = archive_export_keys(token, &meta, 1, now, diag, archive, archive_len);
	if (ret != TANDEM_OK) {
		return ret;
	}
	key->id = id;
	key->key = k;
	key->role = role;
	key->tag = hsm_key_tag(k, role == ARCHIVE_ROLE_ZSK ? 256 : 257);
	return TANDEM_OK;
}

int tdm_keys_import(hsm_token_t *token, uint32_t id, const uint8_t *archive, size_t len,
		    tandem_diag_t *diag, tdm_key_t *key, bool *imported)
{
	archive_import_stats_t stats;
	memset(&stats, 0, sizeof(stats));
	int ret = archive_import(token, archive, len, diag, &stats);
	if (ret != TANDEM_OK) {
		return ret;
	}
	if (stats.nkeys != 1) {
		tandem_diag_add(diag, TANDEM_ARCHIVE_EFORMAT,
				"key %u: the archive entry holds %zu keys, not one", id,
				stats.nkeys);
		ret = TANDEM_ARCHIVE_EFORMAT;
		goto out;
	}
	const hsm_key_t *k = NULL;
	ret = tdm_keys_find(token, stats.keys[0].label, diag, &k);
	if (ret != TANDEM_OK) {
		goto out;
	}
	key->id = id;
	key->key = k;
	key->role = stats.keys[0].role;
	key->tag = stats.keys[0].key_tag;
	*imported = stats.imported > 0;
out:
	archive_import_stats_deinit(&stats);
	return ret;
}

int tdm_keys_destroy(hsm_token_t *token, const char *zone, uint32_t id, tandem_diag_t *diag,
		     bool *destroyed)
{
	char label[ARCHIVE_LABEL_MAX + 1];
	const hsm_key_t *k = NULL;
	tandem_diag_t *probe = NULL;
	*destroyed = false;
	tdm_keys_label(zone, id, label, sizeof(label));
	int ret = tandem_diag_new(&probe);
	if (ret != TANDEM_OK) {
		return ret;
	}
	/* not found: the token does not hold it (never imported, or destroyed already) */
	bool held = tdm_keys_find(token, label, probe, &k) == TANDEM_OK;
	tandem_diag_free(probe);
	if (!held) {
		return TANDEM_OK;
	}
	ret = hsm_token_destroy_key(token, k, diag);
	*destroyed = ret == TANDEM_OK;
	return ret;
}

static void *tdm_keygen_run(void *arg)
{
	tdm_keygen_t *g = arg;
	char label[ARCHIVE_LABEL_MAX + 1];
	char uri_text[512];
	hsm_uri_t *uri = NULL;
	tandem_diag_t *diag = NULL;
	tdm_keys_label(g->zone, g->id, label, sizeof(label));
	snprintf(uri_text, sizeof(uri_text), "pkcs11:object=%s", label);
	int ret = tandem_diag_new(&diag);
	if (ret == TANDEM_OK) {
		ret = hsm_uri_parse(uri_text, diag, &uri);
	}
	/* a key made by an earlier try is refused as taken: tdm_keygen_finish takes it as made */
	if (ret == TANDEM_OK) {
		ret = hsm_token_generate_detached(g->token, uri, &g->spec, diag, &g->made);
	}
	if (ret != TANDEM_OK) {
		const char *first = diag != NULL ? tandem_diag_msg(diag, 0) : NULL;
		snprintf(g->why, sizeof(g->why), "%s",
			 first != NULL ? first : tandem_strerror(ret));
	}
	hsm_uri_free(uri);
	tandem_diag_free(diag);
	g->ret = ret;
	atomic_store(&g->done, true);
	return NULL;
}

int tdm_keygen_start(hsm_token_t *token, const char *zone, uint32_t id, const kasp_key_policy_t *kp,
		     tdm_keygen_t **out)
{
	if (token == NULL || zone == NULL || kp == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	tdm_keygen_t *g = calloc(1, sizeof(*g));
	if (g == NULL) {
		return TANDEM_ENOMEM;
	}
	g->token = token;
	snprintf(g->zone, sizeof(g->zone), "%s", zone);
	g->id = id;
	g->spec.algorithm = kp->algorithm;
	g->spec.bits = kp->bits;
	atomic_init(&g->done, false);
	if (pthread_create(&g->thread, NULL, tdm_keygen_run, g) != 0) {
		free(g);
		return TANDEM_EINTERNAL;
	}
	*out = g;
	return TANDEM_OK;
}

bool tdm_keygen_done(const tdm_keygen_t *g)
{
	return g != NULL && atomic_load(&g->done);
}

int tdm_keygen_finish(tdm_keygen_t *g, char *why, size_t why_size)
{
	if (g == NULL) {
		return TANDEM_OK;
	}
	pthread_join(g->thread, NULL);
	int ret = g->ret;
	if (ret == TANDEM_EEXIST && tdm_keys_have(g->token, g->zone, g->id)) {
		ret = TANDEM_OK; /* made by an earlier try: taken as made */
	} else if (ret == TANDEM_OK) {
		tandem_diag_t *diag = NULL;
		const hsm_key_t *k = NULL;
		ret = tandem_diag_new(&diag);
		if (ret == TANDEM_OK) {
			ret = hsm_token_adopt_key(g->token, g->made, diag, &k);
			g->made = NULL;
		}
		if (ret != TANDEM_OK) {
			const char *first = diag != NULL ? tandem_diag_msg(diag, 0) : NULL;
			snprintf(g->why, sizeof(g->why), "%s",
				 first != NULL ? first : tandem_strerror(ret));
		}
		tandem_diag_free(diag);
	}
	hsm_keypair_free(g->made); /* not adopted: its objects stay (found by name later) */
	if (why != NULL && why_size > 0) {
		snprintf(why, why_size, "%s", ret != TANDEM_OK ? g->why : "");
	}
	free(g);
	return ret;
}

bool tdm_keys_have(hsm_token_t *token, const char *zone, uint32_t id)
{
	char label[ARCHIVE_LABEL_MAX + 1];
	const hsm_key_t *k = NULL;
	tandem_diag_t *probe = NULL;
	tdm_keys_label(zone, id, label, sizeof(label));
	if (tandem_diag_new(&probe) != TANDEM_OK) {
		return false;
	}
	bool have = tdm_keys_find(token, label, probe, &k) == TANDEM_OK;
	tandem_diag_free(probe);
	return have;
}

int tdm_keyimport_new(hsm_token_t *token, tdm_keyimport_t **out)
{
	if (token == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	tdm_keyimport_t *g = calloc(1, sizeof(*g));
	if (g == NULL) {
		return TANDEM_ENOMEM;
	}
	g->token = token;
	atomic_init(&g->done, false);
	*out = g;
	return TANDEM_OK;
}

int tdm_keyimport_add(tdm_keyimport_t *g, uint32_t id, const uint8_t *archive, size_t len)
{
	if (g == NULL || g->started || (archive == NULL && len > 0)) {
		return TANDEM_EINVAL;
	}
	if (g->n == g->cap) {
		size_t cap = g->cap == 0 ? 4 : 2 * g->cap;
		tdm_keyimport_entry_t *bigger = realloc(g->e, cap * sizeof(*bigger));
		if (bigger == NULL) {
			return TANDEM_ENOMEM;
		}
		g->e = bigger;
		g->cap = cap;
	}
	tdm_keyimport_entry_t *e = &g->e[g->n];
	memset(e, 0, sizeof(*e));
	e->archive = malloc(len > 0 ? len : 1);
	if (e->archive == NULL) {
		return TANDEM_ENOMEM;
	}
	if (len > 0) {
		memcpy(e->archive, archive, len);
	}
	e->len = len;
	e->r.id = id;
	g->n++;
	return TANDEM_OK;
}

size_t tdm_keyimport_count(const tdm_keyimport_t *g)
{
	return g != NULL ? g->n : 0;
}

static void *tdm_keyimport_run(void *arg)
{
	tdm_keyimport_t *g = arg;
	tandem_diag_t *diag = NULL;
	int dret = tandem_diag_new(&diag);
	for (size_t i = 0; i < g->n; i++) {
		tdm_keyimport_result_t *r = &g->e[i].r;
		r->ret = dret != TANDEM_OK
			     ? dret
			     : tdm_keys_import(g->token, r->id, g->e[i].archive, g->e[i].len, diag,
					       &r->key, &r->imported);
		if (r->ret != TANDEM_OK) {
			const char *first = diag != NULL ? tandem_diag_msg(diag, 0) : NULL;
			snprintf(r->why, sizeof(r->why), "%s",
				 first != NULL ? first : tandem_strerror(r->ret));
		}
		if (diag != NULL) {
			tandem_diag_clear(diag);
		}
	}
	tandem_diag_free(diag);
	atomic_store(&g->done, true);
	return NULL;
}

int tdm_keyimport_start(tdm_keyimport_t *g)
{
	if (g == NULL || g->started) {
		return TANDEM_EINVAL;
	}
	if (pthread_create(&g->thread, NULL, tdm_keyimport_run, g) != 0) {
		return TANDEM_EINTERNAL;
	}
	g->started = true;
	return TANDEM_OK;
}

bool tdm_keyimport_done(const tdm_keyimport_t *g)
{
	return g != NULL && g->started && atomic_load(&g->done);
}

const tdm_keyimport_result_t *tdm_keyimport_result(const tdm_keyimport_t *g, size_t i)
{
	return g != NULL && i < g->n ? &g->e[i].r : NULL;
}

void tdm_keyimport_free(tdm_keyimport_t *g)
{
	if (g == NULL) {
		return;
	}
	if (g->started) {
		pthread_join(g->thread, NULL);
	}
	for (size_t i = 0; i < g->n; i++) {
		free(g->e[i].archive);
	}
	free(g->e);
	free(g);
}

bool tdm_keys_activation_due(const coordrpc_status_t *st, const coordrpc_key_status_t *k)
{
	if (st == NULL || k == NULL || k->active || k->retired || st->params.nsites == 0 ||
	    st->params.nsites > 31) {
		return false;
	}
	uint32_t need = ((1u << st->params.nsites) - 1u) & ~st->suspended_sites, have = 0;
	for (size_t a = 0; a < k->nacks; a++) {
		for (size_t n = 0; n < st->nnodes; n++) {
			if (strcmp(st->nodes[n].name, k->acks[a]) == 0 && st->nodes[n].site < 32) {
				have |= 1u << st->nodes[n].site;
			}
		}
	}
	return need != 0 && (have & need) == need;
}
