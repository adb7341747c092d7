/* tandem-coord: offline audit files imported into the cluster's chain. */
#include "coordd_offline.h"
#include "audit_log.h"
#include "tandem_error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The record of imports: lines "FIRSTHASH LASTSEQ LASTHASH", one per offline chain. */
#define OFFLINE_DOC_MAX (64u * 1024u)

bool coordd_offline_is(const uint8_t *doc, size_t len)
{
	return doc != NULL && len >= 7 && memcmp(doc, "{\"seq\":", 7) == 0;
}

static void emit(coordd_requests_t *c, const char *type, tandem_audit_level_t level,
		 const char *actor, const char *zone, int64_t key, const char *details)
{
	tandem_audit_event_t ev = {.type = type,
				   .level = level,
				   .actor = actor,
				   .zone = zone != NULL && zone[0] != '\0' ? zone : NULL,
				   .key_id = key,
				   .details = details};
	tandem_audit(c->audit, &ev);
}

static void refused(coordrpc_decision_t *dec, coordd_requests_t *c, const char *actor,
		    const char *why)
{
	char details[600];
	snprintf(details, sizeof(details), "offline audit file refused: %.500s", why);
	emit(c, "audit.offline-refuse", TANDEM_AUDIT_WARNING, actor, NULL, -1, details);
	dec->accepted = false;
	dec->reason = COORD_R_BAD_INPUT;
	snprintf(dec->text, sizeof(dec->text), "offline audit file refused: %.150s", why);
}

/* The chain's record in the imports document: its last seq imported (0: none) and hash. */
static void record_find(const char *doc, const char *first, uint64_t *seq, char hash[65])
{
	*seq = 0;
	hash[0] = '\0';
	for (const char *p = doc; p != NULL && *p != '\0';) {
		char f[65], h[65];
		unsigned long long s = 0;
		if (sscanf(p, "%64s %llu %64s", f, &s, h) == 3 && strcmp(f, first) == 0) {
			*seq = s;
			memcpy(hash, h, 65);
		}
		p = strchr(p, '\n');
		p = p != NULL ? p + 1 : NULL;
	}
}

/* doc with first's record set to seq and hash, into out (size). */
static bool record_set(const char *doc, const char *first, uint64_t seq, const char *hash,
		       char *out, size_t size)
{
	size_t used = 0;
	for (const char *p = doc; p != NULL && *p != '\0';) {
		const char *end = strchr(p, '\n');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (n > 0 && !(n > 64 && strncmp(p, first, 64) == 0 && p[64] == ' ')) {
			if (used + n + 1 >= size) {
				return false;
			}
			memcpy(out + used, p, n);
			used += n;
			out[used++] = '\n';
		}
		p = end != NULL ? end + 1 : NULL;
	}
	int w = snprintf(out + used, size - used, "%s %" PRIu64 " %s\n", first, seq, hash);
	return w > 0 && (size_t)w < size - used;
}

int coordd_offline_import(coordd_requests_t *c, const char *peer, const uint8_t *doc, size_t len,
			  coordrpc_decision_t *dec, char *error, size_t esize)
{
	char actor[COORD_ID_MAX + 16], why[512], first[65] = "", lasth[65] = "", donehash[65];
	char *text = malloc(len + 1), *rec = NULL, *next = malloc(OFFLINE_DOC_MAX);
	audit_chain_t *chain = NULL;
	audit_verdict_t v;
	audit_entry_t *e = malloc(sizeof(*e));
	uint8_t *buf = NULL;
	size_t blen = 0;
	int64_t rev = 0, nrev = 0;
	uint64_t done = 0;
	bool won = false;
	snprintf(actor, sizeof(actor), "operator:%s", peer);
	int ret = text == NULL || next == NULL || e == NULL ? TANDEM_ENOMEM : TANDEM_OK;
	if (ret != TANDEM_OK) {
		goto out;
	}
	memcpy(text, doc, len);
	text[len] = '\0';
	ret = audit_chain_new(1, NULL, NULL, &chain);
	if (ret == TANDEM_OK) {
		ret = audit_chain_add_text(chain, text, len);
	}
	if (ret == TANDEM_OK) {
		ret = audit_chain_verify(chain, &v);
	}
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (v.fault != AUDIT_FAULT_NONE || v.entries == 0) {
		refused(dec, c, actor, v.fault != AUDIT_FAULT_NONE ? v.text : "no entry");
		goto out;
	}
	uint8_t h[AUDIT_HASH_LEN];
	if (audit_chain_hash(chain, 1, h) != TANDEM_OK) {
		refused(dec, c, actor, "no entry 1");
		goto out;
	}
	audit_hex(h, AUDIT_HASH_LEN, first);
	audit_hex(v.last_hash, AUDIT_HASH_LEN, lasth);
	/* what was imported of this chain before: the file must continue it */
	ret = coord_store_doc_get(c->store, COORD_DOC_OFFLINE, "", c->diag, &buf, &blen, &rev);
	if (ret == TANDEM_OK && blen >= OFFLINE_DOC_MAX) {
		ret = TANDEM_ERANGE;
	}
	if (ret == TANDEM_OK && (rec = calloc(1, blen + 1)) == NULL) {
		ret = TANDEM_ENOMEM;
	}
	if (ret != TANDEM_OK) {
		snprintf(error, esize, "store: offline imports: %s", tandem_strerror(ret));
		goto out;
	}
	if (blen > 0) {
		memcpy(rec, buf, blen);
	}
	record_find(rec, first, &done, donehash);
	if (done > v.last_seq) {
		snprintf(why, sizeof(why),
			 "entries 1..%" PRIu64 " of this chain were imported before; the file ends "
			 "at %" PRIu64 " (cut?)",
			 done, v.last_seq);
		refused(dec, c, actor, why);
		goto out;
	}
	if (done > 0) {
		char hx[65];
		if (audit_chain_hash(chain, done, h) != TANDEM_OK ||
		    strcmp(audit_hex(h, AUDIT_HASH_LEN, hx), donehash) != 0) {
			snprintf(why, sizeof(why),
				 "entry %" PRIu64
				 " is not the one imported before (hash %.16s...): "
				 "the file was rewritten",
				 done, donehash);
			refused(dec, c, actor, why);
			goto out;
		}
	}
	if (done == v.last_seq) {
		dec->accepted = true;
		dec->reason = COORD_R_OK;
		snprintf(dec->text, sizeof(dec->text),
			 "offline chain %.16s: entries 1..%" PRIu64 " imported before: nothing new",
			 first, done);
		goto out;
	}
	if (!record_set(rec, first, v.last_seq, lasth, next, OFFLINE_DOC_MAX)) {
		refused(dec, c, actor, "the record of offline imports is full");
		goto out;
	}
	/* claimed first (conditioned on the revision read), so that two coordinators do not
	 * both add the same entries */
	ret = coord_store_doc_put(c->store, COORD_DOC_OFFLINE, "", (const uint8_t *)next,
				  strlen(next), rev, c->diag, &won, &nrev);
	if (ret != TANDEM_OK) {
		snprintf(error, esize, "store: offline imports: %s", tandem_strerror(ret));
		goto out;
	}
	if (!won) {
		refused(dec, c, actor,
			"another import of offline entries ran meanwhile: import again");
		goto out;
	}
	size_t added = 0;
	for (const char *p = text; p != NULL && *p != '\0';) {
		const char *end = strchr(p, '\n');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (n > 0 && audit_entry_decode(p, n, c->diag, e) == TANDEM_OK && e->seq > done) {
			char details[AUDIT_DETAILS_MAX], when[32];
			time_t t = (time_t)(e->time_ms / 1000u);
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			snprintf(details, sizeof(details),
				 "offline %.16s seq %" PRIu64 " at %s: %.900s", first, e->seq, when,
				 e->details);
			emit(c, e->type, e->level, e->actor, e->zone, e->key_id, details);
			added++;
		}
		p = end != NULL ? end + 1 : NULL;
	}
	char sum[400];
	snprintf(sum, sizeof(sum),
		 "offline chain %s: entries %" PRIu64 "..%" PRIu64 " imported (%zu), head %s",
		 first, done + 1, v.last_seq, added, lasth);
	emit(c, "audit.offline-import", TANDEM_AUDIT_NOTICE, actor, NULL, -1, sum);
	dec->accepted = true;
	dec->reason = COORD_R_OK;
	snprintf(dec->text, sizeof(dec->text),
		 "offline chain %.16s: entries %" PRIu64 "..%" PRIu64 " added to the audit log",
		 first, done + 1, v.last_seq);
out:
	tandem_diag_clear(c->diag);
	audit_chain_free(chain);
	free(text);
	free(rec);
	free(next);
	free(buf);
	free(e);
	return ret;
}
