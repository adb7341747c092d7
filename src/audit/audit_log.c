/* The audit log's entries: canonical JSON lines, their SHA-256 chain, Ed25519 anchors. */
#include "audit_log.h"

#include "tandem_encode.h"
#include "tandem_error.h"
#include "tandem_file.h"
#include "tandem_text.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const level_names[] = {"info", "notice", "warning", "critical"};

const char *audit_level_str(tandem_audit_level_t level)
{
	return (unsigned)level < sizeof(level_names) / sizeof(level_names[0]) ? level_names[level]
									      : "?";
}

int audit_level_parse(const char *s, tandem_audit_level_t *out)
{
	for (size_t i = 0; s != NULL && out != NULL && i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (tandem_audit_level_t)i;
			return TANDEM_OK;
		}
	}
	return TANDEM_EINVAL;
}

char *audit_hex(const uint8_t *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 15];
	}
	out[2 * len] = '\0';
	return out;
}

/* Copies src, escaped to printable ASCII, into dst[size] (NULL: def). */
static void field_set(char *dst, size_t size, const char *src, const char *def)
{
	tandem_escape(dst, size, src != NULL ? src : def);
}

void audit_entry_from_event(const tandem_audit_event_t *ev, const char *coord, uint64_t time_ms,
			    audit_entry_t *out)
{
	memset(out, 0, sizeof(*out));
	out->time_ms = time_ms;
	field_set(out->coord, sizeof(out->coord), coord, "unknown");
	out->key_id = -1;
	if (ev == NULL) {
		field_set(out->type, sizeof(out->type), NULL, "unknown");
		field_set(out->actor, sizeof(out->actor), NULL, "unknown");
		return;
	}
	field_set(out->type, sizeof(out->type), ev->type, "unknown");
	field_set(out->actor, sizeof(out->actor), ev->actor, "unknown");
	field_set(out->zone, sizeof(out->zone), ev->zone, "");
	field_set(out->details, sizeof(out->details), ev->details, "");
	out->level = (unsigned)ev->level <= TANDEM_AUDIT_CRITICAL ? ev->level : TANDEM_AUDIT_INFO;
	out->key_id = ev->key_id >= 0 ? ev->key_id : -1;
	/* an entry always has a type and an actor: one without could never be sealed */
	if (out->type[0] == '\0') {
		field_set(out->type, sizeof(out->type), NULL, "unknown");
	}
	if (out->actor[0] == '\0') {
		field_set(out->actor, sizeof(out->actor), NULL, "unknown");
	}
}

/* Whether field[size] is terminated and printable ASCII. */
static bool field_ok(const char *field, size_t size)
{
	const char *end = memchr(field, '\0', size);
	if (end == NULL) {
		return false;
	}
	for (const char *p = field; p < end; p++) {
		if (*p < 0x20 || *p > 0x7e) {
			return false;
		}
	}
	return true;
}

static bool entry_ok(const audit_entry_t *e)
{
	return e->seq > 0 && (unsigned)e->level <= TANDEM_AUDIT_CRITICAL && e->key_id >= -1 &&
	       field_ok(e->coord, sizeof(e->coord)) && field_ok(e->actor, sizeof(e->actor)) &&
	       field_ok(e->type, sizeof(e->type)) && field_ok(e->zone, sizeof(e->zone)) &&
	       field_ok(e->details, sizeof(e->details)) && e->type[0] != '\0';
}

/* A growing output buffer; ok turns false when it does not fit. */
typedef struct wbuf {
	char *p;
	size_t size, len;
	bool ok;
} wbuf_t;

static void w_raw(wbuf_t *w, const char *s, size_t n)
{
	if (!w->ok || w->len + n >= w->size) {
		w->ok = false;
		return;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
	w->p[w->len] = '\0';
}

static void w_str(wbuf_t *w, const char *s)
{
	w_raw(w, s, strlen(s));
}

/* A JSON string of printable ASCII: only '"' and '\' need escaping. */
static void w_json(wbuf_t *w, const char *s)
{
	w_raw(w, "\"", 1);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\') {
			w_raw(w, "\\", 1);
		}
		w_raw(w, s, 1);
	}
	w_raw(w, "\"", 1);
}

/* The line without its hash member and without the closing brace. */
static void encode_body(const audit_entry_t *e, wbuf_t *w)
{
	char num[32], stamp[32], hex[2 * AUDIT_HASH_LEN + 1];
	snprintf(num, sizeof(num), "%" PRIu64, e->seq);
	w_str(w, "{\"seq\":");
	w_str(w, num);
	w_str(w, ",\"time\":");
	w_json(w, tandem_utc_ms(e->time_ms, stamp, sizeof(stamp)));
	w_str(w, ",\"coord\":");
	w_json(w, e->coord);
	w_str(w, ",\"actor\":");
	w_json(w, e->actor);
	w_str(w, ",\"type\":");
	w_json(w, e->type);
	w_str(w, ",\"level\":");
	w_json(w, audit_level_str(e->level));
	w_str(w, ",\"zone\":");
	w_json(w, e->zone);
	snprintf(num, sizeof(num), "%" PRId64, e->key_id);
	w_str(w, ",\"key\":");
	w_str(w, num);
	w_str(w, ",\"details\":");
	w_json(w, e->details);
	w_str(w, ",\"prev\":");
	w_json(w, audit_hex(e->prev, AUDIT_HASH_LEN, hex));
}

static int sha256(const void *data, size_t len, uint8_t out[AUDIT_HASH_LEN])
{
	unsigned int n = 0;
	return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == AUDIT_HASH_LEN
		   ? TANDEM_OK
		   : TANDEM_CRYPTO_ELIB;
}

int audit_entry_digest(const audit_entry_t *e, uint8_t out[AUDIT_HASH_LEN])
{
	char buf[AUDIT_LINE_MAX];
	wbuf_t w = {buf, sizeof(buf), 0, true};
	if (e == NULL || out == NULL || !entry_ok(e)) {
		return TANDEM_EINVAL;
	}
	encode_body(e, &w);
	w_str(&w, "}");
	if (!w.ok) {
		return TANDEM_ERANGE;
	}
	return sha256(buf, w.len, out);
}

int audit_entry_encode(const audit_entry_t *e, char *out, size_t size, size_t *len)
{
	char hex[2 * AUDIT_HASH_LEN + 1];
	wbuf_t w = {out, size, 0, out != NULL && size > 0};
	if (e == NULL || out == NULL || len == NULL || !entry_ok(e)) {
		return TANDEM_EINVAL;
	}
	encode_body(e, &w);
	w_str(&w, ",\"hash\":");
	w_json(&w, audit_hex(e->hash, AUDIT_HASH_LEN, hex));
	w_str(&w, "}");
	if (!w.ok) {
		return TANDEM_ERANGE;
	}
	*len = w.len;
	return TANDEM_OK;
}

int audit_entry_seal(audit_entry_t *e, uint64_t seq, const uint8_t *prev)
{
	if (e == NULL || seq == 0) {
		return TANDEM_EINVAL;
	}
	e->seq = seq;
	if (prev != NULL) {
		memcpy(e->prev, prev, AUDIT_HASH_LEN);
	} else {
		memset(e->prev, 0, AUDIT_HASH_LEN);
	}
	return audit_entry_digest(e, e->hash);
}

/* ---- decoding: a strict reader of exactly the canonical form ------------------------------ */

typedef struct rbuf {
	const char *p, *end;
} rbuf_t;

static bool r_lit(rbuf_t *r, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n) != 0) {
		return false;
	}
	r->p += n;
	return true;
}

static bool r_str(rbuf_t *r, char *out, size_t size)
{
	size_t n = 0;
	if (!r_lit(r, "\"")) {
		return false;
	}
	while (r->p < r->end && *r->p != '"') {
		char c = *r->p++;
		if (c == '\\') {
			if (r->p == r->end || (*r->p != '"' && *r->p != '\\')) {
				return false;
			}
			c = *r->p++;
		}
		if (c < 0x20 || c > 0x7e || n + 1 >= size) {
			return false;
		}
		out[n++] = c;
	}
	out[n] = '\0';
	return r_lit(r, "\"");
}

static bool r_i64(rbuf_t *r, int64_t *out)
{
	char num[24];
	size_t n = 0;
	while (r->p < r->end && n + 1 < sizeof(num) &&
	       ((*r->p >= '0' && *r->p <= '9') || (n == 0 && *r->p == '-'))) {
		num[n++] = *r->p++;
	}
	num[n] = '\0';
	char *end = NULL;
	if (n == 0) {
		return false;
	}
	*out = strtoll(num, &end, 10);
	return *end == '\0'; /* the re-encoding refuses leading zeros and overflows */
}

static bool r_hash(rbuf_t *r, uint8_t out[AUDIT_HASH_LEN])
{
	char hex[2 * AUDIT_HASH_LEN + 2];
	return r_str(r, hex, sizeof(hex)) && strlen(hex) == 2 * AUDIT_HASH_LEN &&
	       tandem_hex_decode(hex, out, AUDIT_HASH_LEN) == TANDEM_OK;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" to ms (the re-encoding checks the rest). */
static bool parse_time(const char *s, uint64_t *out)
{
	struct tm tm;
	int ms = 0;
	char z = 0;
	memset(&tm, 0, sizeof(tm));
	if (strlen(s) != 24 ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &z) != 8 ||
	    z != 'Z' || tm.tm_year < 1970) {
		return false;
	}
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm);
	if (t < 0 || ms < 0) {
		return false;
	}
	*out = (uint64_t)t * 1000u + (uint64_t)ms;
	return true;
}

int audit_entry_decode(const char *line, size_t len, tandem_diag_t *diag, audit_entry_t *out)
{
	audit_entry_t *e = calloc(1, sizeof(*e));
	char stamp[32], level[16];
	char *again = malloc(AUDIT_LINE_MAX);
	int64_t seq = 0;
	size_t n = 0;
	int ret = TANDEM_ESYNTAX;
	if (e == NULL || again == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	if (line == NULL || out == NULL) {
		ret = TANDEM_EINVAL;
		goto out;
	}
	rbuf_t r = {line, line + len};
	bool ok = r_lit(&r, "{\"seq\":") && r_i64(&r, &seq) && seq > 0 && r_lit(&r, ",\"time\":") &&
		  r_str(&r, stamp, sizeof(stamp)) && parse_time(stamp, &e->time_ms) &&
		  r_lit(&r, ",\"coord\":") && r_str(&r, e->coord, sizeof(e->coord)) &&
		  r_lit(&r, ",\"actor\":") && r_str(&r, e->actor, sizeof(e->actor)) &&
		  r_lit(&r, ",\"type\":") && r_str(&r, e->type, sizeof(e->type)) &&
		  r_lit(&r, ",\"level\":") && r_str(&r, level, sizeof(level)) &&
		  audit_level_parse(level, &e->level) == TANDEM_OK && r_lit(&r, ",\"zone\":") &&
		  r_str(&r, e->zone, sizeof(e->zone)) && r_lit(&r, ",\"key\":") &&
		  r_i64(&r, &e->key_id) && r_lit(&r, ",\"details\":") &&
		  r_str(&r, e->details, sizeof(e->details)) && r_lit(&r, ",\"prev\":") &&
		  r_hash(&r, e->prev) && r_lit(&r, ",\"hash\":") && r_hash(&r, e->hash) &&
		  r_lit(&r, "}") && r.p == r.end;
	e->seq = (uint64_t)seq;
	if (!ok) {
		tandem_diag_add(diag, ret, "not an audit entry (near byte %zu)",
				(size_t)(r.p - line));
		goto out;
	}
	/* the values must encode back to exactly these bytes: one entry has one line */
	if (audit_entry_encode(e, again, AUDIT_LINE_MAX, &n) != TANDEM_OK || n != len ||
	    memcmp(again, line, len) != 0) {
		tandem_diag_add(diag, ret, "not in the canonical form");
		goto out;
	}
	*out = *e;
	ret = TANDEM_OK;
out:
	free(again);
	free(e);
	return ret;
}

/* ---- anchors ------------------------------------------------------------------------------ */

struct audit_signer {
	EVP_PKEY *key;
	uint8_t pub[AUDIT_KEY_LEN];
};

int audit_signer_new(const uint8_t seed[AUDIT_KEY_LEN], audit_signer_t **out)
{
	size_t n = AUDIT_KEY_LEN;
	if (seed == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	audit_signer_t *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		return TANDEM_ENOMEM;
	}
	s->key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, AUDIT_KEY_LEN);
	if (s->key == NULL || EVP_PKEY_get_raw_public_key(s->key, s->pub, &n) != 1 ||
	    n != AUDIT_KEY_LEN) {
		audit_signer_free(s);
		return TANDEM_CRYPTO_ELIB;
	}
	*out = s;
	return TANDEM_OK;
}

void audit_signer_free(audit_signer_t *s)
{
	if (s == NULL) {
		return;
	}
	EVP_PKEY_free(s->key); /* OpenSSL clears the private key it frees */
	tandem_wipe(s, sizeof(*s));
	free(s);
}

void audit_signer_public(const audit_signer_t *s, uint8_t pub[AUDIT_KEY_LEN])
{
	memcpy(pub, s->pub, AUDIT_KEY_LEN);
}

void audit_key_id(const uint8_t pub[AUDIT_KEY_LEN], char id[AUDIT_KEY_ID_LEN])
{
	uint8_t d[AUDIT_HASH_LEN];
	if (sha256(pub, AUDIT_KEY_LEN, d) != TANDEM_OK) {
		memset(d, 0, sizeof(d));
	}
	audit_hex(d, 8, id);
}

/* The bytes an anchor signs. */
static size_t anchor_message(uint64_t seq, const char *hash_hex, char *out, size_t size)
{
	int n = snprintf(out, size, "tandem-audit-anchor-v1 %" PRIu64 " %s", seq, hash_hex);
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

int audit_anchor_make(const audit_signer_t *s, const char *coord, uint64_t time_ms,
		      uint64_t head_seq, const uint8_t head_hash[AUDIT_HASH_LEN],
		      audit_entry_t *out)
{
	char hex[2 * AUDIT_HASH_LEN + 1], msg[128], id[AUDIT_KEY_ID_LEN], sighex[129];
	char actor[AUDIT_ACTOR_MAX], details[AUDIT_DETAILS_MAX];
	uint8_t sig[64];
	size_t siglen = sizeof(sig);
	if (s == NULL || coord == NULL || head_hash == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	size_t n =
	    anchor_message(head_seq, audit_hex(head_hash, AUDIT_HASH_LEN, hex), msg, sizeof(msg));
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md != NULL && n > 0 && EVP_DigestSignInit(md, NULL, NULL, NULL, s->key) == 1 &&
		 EVP_DigestSign(md, sig, &siglen, (const uint8_t *)msg, n) == 1 && siglen == 64;
	EVP_MD_CTX_free(md);
	if (!ok) {
		return TANDEM_CRYPTO_ELIB;
	}
	audit_key_id(s->pub, id);
	snprintf(actor, sizeof(actor), "coord:%.80s", coord);
	snprintf(details, sizeof(details), "head=%" PRIu64 " hash=%s key=%s sig=%s", head_seq, hex,
		 id, audit_hex(sig, sizeof(sig), sighex));
	tandem_audit_event_t ev = {.type = AUDIT_TYPE_ANCHOR,
				   .level = TANDEM_AUDIT_NOTICE,
				   .actor = actor,
				   .key_id = -1,
				   .details = details};
	audit_entry_from_event(&ev, coord, time_ms, out);
	return TANDEM_OK;
}

int audit_keyring_add(audit_keyring_t *kr, const char *name, const uint8_t pub[AUDIT_KEY_LEN])
{
	if (kr == NULL || name == NULL || pub == NULL || !tandem_id_valid(name, NULL, 0)) {
		return TANDEM_EINVAL;
	}
	for (size_t i = 0; i < kr->n; i++) {
		if (memcmp(kr->keys[i].pub, pub, AUDIT_KEY_LEN) == 0) {
			return TANDEM_OK;
		}
	}
	if (kr->n == sizeof(kr->keys) / sizeof(kr->keys[0])) {
		return TANDEM_ERANGE;
	}
	snprintf(kr->keys[kr->n].name, sizeof(kr->keys[kr->n].name), "%s", name);
	memcpy(kr->keys[kr->n].pub, pub, AUDIT_KEY_LEN);
	audit_key_id(pub, kr->keys[kr->n].id);
	kr->n++;
	return TANDEM_OK;
}

int audit_keyring_parse(audit_keyring_t *kr, const char *text, tandem_diag_t *diag)
{
	size_t lineno = 0;
	if (kr == NULL || text == NULL) {
		return TANDEM_EINVAL;
	}
	for (const char *p = text; *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		char line[256], name[AUDIT_NAME_MAX], hex[2 * AUDIT_KEY_LEN + 2], extra[2];
		uint8_t pub[AUDIT_KEY_LEN];
		lineno++;
		if (len >= sizeof(line)) {
			tandem_diag_add(diag, TANDEM_ESYNTAX, "line %zu: too long", lineno);
			return TANDEM_ESYNTAX;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		p += len + (nl != NULL ? 1 : 0);
		if (line[strspn(line, " \t")] == '\0' || line[strspn(line, " \t")] == '#') {
			continue;
		}
		if (sscanf(line, "%63s %65s %1s", name, hex, extra) != 2 ||
		    strlen(hex) != 2 * AUDIT_KEY_LEN ||
		    tandem_hex_decode(hex, pub, AUDIT_KEY_LEN) != TANDEM_OK) {
			tandem_diag_add(diag, TANDEM_ESYNTAX,
					"line %zu: expected 'NAME HEX' (a 32-byte Ed25519 public "
					"key in 64 hex digits)",
					lineno);
			return TANDEM_ESYNTAX;
		}
		int ret = audit_keyring_add(kr, name, pub);
		if (ret != TANDEM_OK) {
			tandem_diag_add(diag, ret, "line %zu: key %s: %s", lineno, name,
					ret == TANDEM_ERANGE ? "too many keys" : "bad name");
			return ret == TANDEM_ERANGE ? ret : TANDEM_ESYNTAX;
		}
	}
	return TANDEM_OK;
}

int audit_anchor_check(const audit_entry_t *e, const audit_keyring_t *kr, uint64_t *head_seq,
		       uint8_t head_hash[AUDIT_HASH_LEN], char id[AUDIT_KEY_ID_LEN])
{
	char hex[2 * AUDIT_HASH_LEN + 2], sighex[130], msg[128], extra[2];
	uint8_t sig[64];
	unsigned long long seq = 0;
	if (sscanf(e->details, "head=%llu hash=%65s key=%16s sig=%129s %1s", &seq, hex, id, sighex,
		   extra) != 4 ||
	    strlen(hex) != 2 * AUDIT_HASH_LEN || strlen(id) != AUDIT_KEY_ID_LEN - 1 ||
	    strlen(sighex) != 128 || tandem_hex_decode(hex, head_hash, AUDIT_HASH_LEN) != 0 ||
	    tandem_hex_decode(sighex, sig, sizeof(sig)) != 0) {
		return TANDEM_ESYNTAX;
	}
	*head_seq = seq;
	if (kr == NULL) {
		return TANDEM_ENOENT;
	}
	for (size_t i = 0; i < kr->n; i++) {
		if (strcmp(kr->keys[i].id, id) != 0) {
			continue;
		}
		size_t n = anchor_message(seq, hex, msg, sizeof(msg));
		EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, kr->keys[i].pub,
							   AUDIT_KEY_LEN);
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		int v =
		    pk != NULL && md != NULL && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) == 1
			? EVP_DigestVerify(md, sig, sizeof(sig), (const uint8_t *)msg, n)
			: -1;
		EVP_MD_CTX_free(md);
		EVP_PKEY_free(pk);
		return v == 1 ? TANDEM_OK : v == 0 ? TANDEM_CRYPTO_EVERIFY : TANDEM_CRYPTO_ELIB;
	}
	return TANDEM_ENOENT;
}
