/* The audit verifier: one copy of the chain judged on its own, or against another copy. */
#include "audit_log.h"

#include "tandem_error.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One line of the copy, as read. */
typedef struct rec {
	uint64_t seq;
	size_t line;
	bool malformed;
	bool digest_ok; /* the content hashes to the hash it carries */
	uint8_t prev[AUDIT_HASH_LEN];
	uint8_t hash[AUDIT_HASH_LEN];
	audit_entry_t *anchor; /* anchors only: the whole entry */
} rec_t;

/* A number and where it is, for look-ups by number. */
typedef struct pos {
	uint64_t seq;
	size_t i;
} pos_t;

struct audit_chain {
	uint64_t start_seq;
	uint8_t start_prev[AUDIT_HASH_LEN];
	const audit_keyring_t *keys;
	size_t lines; /* lines read, empty ones included */
	size_t n, cap;
	rec_t *recs;
	bool verified; /* verified without a fault: recs hold first..last in order */
	uint64_t first, last;
};

int audit_chain_new(uint64_t start_seq, const uint8_t *start_prev, const audit_keyring_t *keys,
		    audit_chain_t **out)
{
	if (out == NULL) {
		return TANDEM_EINVAL;
	}
	audit_chain_t *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return TANDEM_ENOMEM;
	}
	c->start_seq = start_seq;
	if (start_prev != NULL) {
		memcpy(c->start_prev, start_prev, AUDIT_HASH_LEN);
	}
	c->keys = keys;
	*out = c;
	return TANDEM_OK;
}

void audit_chain_free(audit_chain_t *c)
{
	if (c == NULL) {
		return;
	}
	for (size_t i = 0; i < c->n; i++) {
		free(c->recs[i].anchor);
	}
	free(c->recs);
	free(c);
}

int audit_chain_add_line(audit_chain_t *c, const char *line, size_t len)
{
	if (c == NULL || line == NULL) {
		return TANDEM_EINVAL;
	}
	c->lines++;
	if (len == 0) {
		return TANDEM_OK;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 1024;
		rec_t *r = realloc(c->recs, cap * sizeof(*r));
		if (r == NULL) {
			return TANDEM_ENOMEM;
		}
		c->recs = r;
		c->cap = cap;
	}
	rec_t *r = &c->recs[c->n];
	memset(r, 0, sizeof(*r));
	r->line = c->lines;
	audit_entry_t *e = malloc(sizeof(*e));
	if (e == NULL) {
		return TANDEM_ENOMEM;
	}
	c->n++;
	c->verified = false;
	uint8_t d[AUDIT_HASH_LEN];
	if (audit_entry_decode(line, len, NULL, e) != TANDEM_OK) {
		r->malformed = true;
		free(e);
		return TANDEM_OK;
	}
	r->seq = e->seq;
	memcpy(r->prev, e->prev, AUDIT_HASH_LEN);
	memcpy(r->hash, e->hash, AUDIT_HASH_LEN);
	r->digest_ok =
	    audit_entry_digest(e, d) == TANDEM_OK && memcmp(d, e->hash, AUDIT_HASH_LEN) == 0;
	if (strcmp(e->type, AUDIT_TYPE_ANCHOR) == 0) {
		r->anchor = e;
	} else {
		free(e);
	}
	return TANDEM_OK;
}

int audit_chain_add_text(audit_chain_t *c, const char *text, size_t len)
{
	if (c == NULL || text == NULL) {
		return TANDEM_EINVAL;
	}
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		int ret = audit_chain_add_line(c, p, n);
		if (ret != TANDEM_OK) {
			return ret;
		}
		p += n + (nl != NULL ? 1 : 0);
	}
	return TANDEM_OK;
}

const char *audit_fault_str(audit_fault_t f)
{
	static const char *const names[] = {
	    [AUDIT_FAULT_NONE] = "none",           [AUDIT_FAULT_MALFORMED] = "malformed",
	    [AUDIT_FAULT_EDITED] = "edited",       [AUDIT_FAULT_REMOVED] = "removed",
	    [AUDIT_FAULT_INSERTED] = "inserted",   [AUDIT_FAULT_REORDERED] = "reordered",
	    [AUDIT_FAULT_CUT] = "broken cut",      [AUDIT_FAULT_ANCHOR] = "bad anchor",
	    [AUDIT_FAULT_TRUNCATED] = "truncated", [AUDIT_FAULT_DIVERGENT] = "divergent",
	};
	return (unsigned)f < sizeof(names) / sizeof(names[0]) ? names[f] : "?";
}

static int pos_cmp(const void *a, const void *b)
{
	const pos_t *x = a, *y = b;
	if (x->seq != y->seq) {
		return x->seq < y->seq ? -1 : 1;
	}
	return x->i < y->i ? -1 : x->i > y->i;
}

/* The first slot of pos holding number seq (or where it would be). */
static size_t pos_lower(const pos_t *pos, size_t n, uint64_t seq)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (pos[mid].seq < seq) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo;
}

/* The first place after index `after` where number seq is, or SIZE_MAX. */
static size_t pos_find_after(const pos_t *pos, size_t n, uint64_t seq, size_t after)
{
	for (size_t lo = pos_lower(pos, n, seq); lo < n && pos[lo].seq == seq; lo++) {
		if (pos[lo].i > after) {
			return pos[lo].i;
		}
	}
	return SIZE_MAX;
}

__attribute__((format(printf, 5, 6))) static void
fault(audit_verdict_t *v, audit_fault_t f, uint64_t seq, size_t line, const char *fmt, ...)
{
	char text[sizeof(v->text) - 64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	v->fault = f;
	v->seq = seq;
	v->line = line;
	snprintf(v->text, sizeof(v->text), "seq %" PRIu64 ": %s: %s", seq, audit_fault_str(f),
		 text);
}

/* The sequence pass: numbers consecutive, each entry intact and chained to the one before.
 * Returns false with the fault set. */
static bool check_order(const audit_chain_t *c, const pos_t *pos, audit_verdict_t *v)
{
	static const uint8_t zeros[AUDIT_HASH_LEN];
	uint64_t expected = c->start_seq != 0 ? c->start_seq : c->recs[0].seq;
	for (size_t i = 0; i < c->n; i++) {
		const rec_t *r = &c->recs[i];
		if (r->malformed) {
			fault(v, AUDIT_FAULT_MALFORMED, expected, r->line,
			      "line %zu is not an audit entry", r->line);
			return false;
		}
		if (!r->digest_ok) {
			fault(v, AUDIT_FAULT_EDITED, r->seq, r->line,
			      "line %zu: its content does not hash to the hash it carries",
			      r->line);
			return false;
		}
		if (r->seq == expected) {
			const uint8_t *want = i > 0 ? c->recs[i - 1].hash
					      : c->start_seq != 0 || r->seq == 1 ? c->start_prev
										 : r->prev;
			if (memcmp(r->prev, want, AUDIT_HASH_LEN) == 0) {
				expected++;
				continue;
			}
			if (i == 0 && r->seq == 1) {
				fault(v, AUDIT_FAULT_EDITED, r->seq, r->line,
				      "line %zu: the first entry's prev is not zero", r->line);
			} else if (i == 0) {
				fault(
				    v, AUDIT_FAULT_CUT, r->seq, r->line,
				    "line %zu: its prev is not the hash of the last archived entry "
				    "(seq %" PRIu64 ")%s",
				    r->line, r->seq - 1,
				    memcmp(c->start_prev, zeros, AUDIT_HASH_LEN) == 0
					? ": no archive hash was given"
					: "");
			} else {
				/* one of the two was edited with its own hash made anew */
				fault(v, AUDIT_FAULT_EDITED, c->recs[i - 1].seq,
				      c->recs[i - 1].line,
				      "line %zu: its hash is not the prev that seq %" PRIu64
				      " (line %zu) chains to: one of them was changed and its hash "
				      "recomputed",
				      c->recs[i - 1].line, r->seq, r->line);
			}
			return false;
		}
		if (r->seq < expected) {
			/* the first place of the number (pos is sorted by number, then index) */
			size_t lo = pos_lower(pos, c->n, r->seq);
			size_t j = lo < c->n && pos[lo].seq == r->seq ? pos[lo].i : SIZE_MAX;
			if (j == SIZE_MAX || j == i) {
				fault(v, AUDIT_FAULT_REORDERED, r->seq, r->line,
				      "line %zu comes after seq %" PRIu64, r->line, expected - 1);
				return false;
			}
			/* the entry that the next one chains to is the chain's; the other is not */
			bool next_to_this =
			    i + 1 < c->n && !c->recs[i + 1].malformed &&
			    memcmp(c->recs[i + 1].prev, r->hash, AUDIT_HASH_LEN) == 0;
			size_t intruder = next_to_this ? j : i;
			fault(
			    v, AUDIT_FAULT_INSERTED, r->seq, c->recs[intruder].line,
			    "a second entry with this number (lines %zu and %zu); line %zu is not "
			    "in the chain",
			    c->recs[j].line, r->line, c->recs[intruder].line);
			return false;
		}
		size_t later = pos_find_after(pos, c->n, expected, i);
		if (later != SIZE_MAX) {
			fault(v, AUDIT_FAULT_REORDERED, expected, c->recs[later].line,
			      "found at line %zu, after seq %" PRIu64 " (line %zu)",
			      c->recs[later].line, r->seq, r->line);
		} else if (r->seq - expected == 1) {
			fault(v, AUDIT_FAULT_REMOVED, expected, r->line,
			      "missing before seq %" PRIu64 " (line %zu)", r->seq, r->line);
		} else {
			fault(v, AUDIT_FAULT_REMOVED, expected, r->line,
			      "seq %" PRIu64 " to %" PRIu64 " missing before line %zu", expected,
			      r->seq - 1, r->line);
		}
		return false;
	}
	return true;
}

/* The anchor pass, over a copy in order: each anchor signs a head this copy holds with that
 * very hash, by a key of the keyring (when one was given). */
static bool check_anchors(const audit_chain_t *c, audit_verdict_t *v)
{
	for (size_t i = 0; i < c->n; i++) {
		const rec_t *r = &c->recs[i];
		if (r->anchor == NULL) {
			continue;
		}
		uint64_t head = 0;
		uint8_t hash[AUDIT_HASH_LEN];
		char id[AUDIT_KEY_ID_LEN] = "";
		v->anchors++;
		int ret = audit_anchor_check(r->anchor, c->keys, &head, hash, id);
		if (ret == TANDEM_ESYNTAX || head >= r->seq) {
			fault(v, AUDIT_FAULT_ANCHOR, r->seq, r->line,
			      "line %zu: not a valid anchor", r->line);
			return false;
		}
		if (head >= c->first &&
		    memcmp(c->recs[head - c->first].hash, hash, AUDIT_HASH_LEN)) {
			fault(v, AUDIT_FAULT_ANCHOR, r->seq, r->line,
			      "it signs seq %" PRIu64 " with another hash than this copy holds: "
			      "entries up to seq %" PRIu64 " were changed",
			      head, head);
			return false;
		}
		if (ret == TANDEM_ENOENT && c->keys != NULL && c->keys->n > 0) {
			fault(v, AUDIT_FAULT_ANCHOR, r->seq, r->line,
			      "signed by key %s, which is not among the anchor keys given", id);
			return false;
		}
		if (ret == TANDEM_CRYPTO_EVERIFY || ret == TANDEM_CRYPTO_ELIB) {
			fault(v, AUDIT_FAULT_ANCHOR, r->seq, r->line,
			      "its signature by key %s does not verify", id);
			return false;
		}
		if (ret == TANDEM_OK) {
			v->anchors_checked++;
			v->anchored_seq = head > v->anchored_seq ? head : v->anchored_seq;
		}
	}
	return true;
}

int audit_chain_verify(audit_chain_t *c, audit_verdict_t *out)
{
	if (c == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	audit_verdict_t *v = out;
	memset(v, 0, sizeof(*v));
	c->verified = false;
	if (c->n == 0) {
		snprintf(v->text, sizeof(v->text), "no entries");
		c->verified = true;
		c->first = c->last = 0;
		return TANDEM_OK;
	}
	pos_t *pos = malloc(c->n * sizeof(*pos));
	if (pos == NULL) {
		return TANDEM_ENOMEM;
	}
	for (size_t i = 0; i < c->n; i++) {
		pos[i].seq = c->recs[i].malformed ? 0 : c->recs[i].seq;
		pos[i].i = i;
	}
	qsort(pos, c->n, sizeof(*pos), pos_cmp);
	bool ok = check_order(c, pos, v);
	free(pos);
	if (!ok) {
		return TANDEM_OK;
	}
	c->first = c->recs[0].seq;
	c->last = c->recs[c->n - 1].seq;
	v->first_seq = c->first;
	v->last_seq = c->last;
	v->entries = c->n;
	memcpy(v->last_hash, c->recs[c->n - 1].hash, AUDIT_HASH_LEN);
	if (!check_anchors(c, v)) {
		return TANDEM_OK;
	}
	c->verified = true;
	snprintf(v->text, sizeof(v->text),
		 "seq %" PRIu64 " to %" PRIu64 ": %zu entries chained, %zu anchors (%zu verified)",
		 c->first, c->last, c->n, v->anchors, v->anchors_checked);
	return TANDEM_OK;
}

int audit_chain_compare(const audit_chain_t *c, const audit_chain_t *other, audit_verdict_t *out)
{
	if (c == NULL || other == NULL || out == NULL || !c->verified || !other->verified) {
		return TANDEM_EINVAL;
	}
	memset(out, 0, sizeof(*out));
	out->first_seq = c->first;
	out->last_seq = c->last;
	out->entries = c->n;
	if (other->n == 0) {
		snprintf(out->text, sizeof(out->text), "the other copy is empty");
		return TANDEM_OK;
	}
	uint64_t lo = c->first > other->first ? c->first : other->first;
	uint64_t hi = c->last < other->last ? c->last : other->last;
	for (uint64_t s = lo; c->n > 0 && s <= hi; s++) {
		const rec_t *a = &c->recs[s - c->first], *b = &other->recs[s - other->first];
		if (memcmp(a->hash, b->hash, AUDIT_HASH_LEN) != 0) {
			fault(out, AUDIT_FAULT_DIVERGENT, s, a->line,
			      "line %zu differs from the other copy's entry (line %zu)", a->line,
			      b->line);
			return TANDEM_OK;
		}
	}
	if (c->n == 0 || c->last < other->last) {
		uint64_t from = c->n == 0 ? other->first : c->last + 1;
		fault(out, AUDIT_FAULT_TRUNCATED, from, 0,
		      "this copy ends %s%" PRIu64 "; the other goes on to seq %" PRIu64 " (%" PRIu64
		      " entries missing at the end)",
		      c->n == 0 ? "empty, before seq " : "at seq ", c->n == 0 ? from : c->last,
		      other->last, other->last - from + 1);
		return TANDEM_OK;
	}
	snprintf(out->text, sizeof(out->text),
		 "seq %" PRIu64 " to %" PRIu64 " agree with the other copy%s", lo, hi,
		 c->last > other->last ? " (which is behind)" : "");
	return TANDEM_OK;
}

int audit_chain_hash(const audit_chain_t *c, uint64_t seq, uint8_t out[AUDIT_HASH_LEN])
{
	if (c == NULL || out == NULL || !c->verified || c->n == 0 || seq < c->first ||
	    seq > c->last) {
		return TANDEM_ENOENT;
	}
	memcpy(out, c->recs[seq - c->first].hash, AUDIT_HASH_LEN);
	return TANDEM_OK;
}

size_t audit_cut_count(const audit_entry_t *entries, size_t n, uint64_t cutoff_ms)
{
	size_t k = 0;
	while (entries != NULL && k + 1 < n && entries[k].time_ms < cutoff_ms) {
		k++;
	}
	return k;
}
