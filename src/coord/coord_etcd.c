/* etcd v3 client over the gRPC JSON gateway: failover, strict reply parsing, txns, leases. */
#include "coord_etcd.h"
#include "tandem_error.h"
#include "tandem_file.h"

#include <curl/curl.h>
#include <jansson.h>

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Longest endpoint URL, and longest etcd message copied into a diag. */
#define EP_MAX  256
#define MSG_MAX 200
/* gRPC status codes the gateway puts in "code". */
#define GRPC_UNKNOWN           2
#define GRPC_INVALID_ARGUMENT  3
#define GRPC_DEADLINE_EXCEEDED 4
#define GRPC_NOT_FOUND         5
#define GRPC_PERMISSION_DENIED 7
#define GRPC_UNAVAILABLE       14
#define GRPC_UNAUTHENTICATED   16

struct coord_etcd {
	char **endpoints;
	size_t n;
	size_t cur; /* the endpoint that answered last: the next request starts there */
	long timeout_ms;
	long connect_timeout_ms;
	long call_timeout_ms; /* 0: no bound beyond timeout_ms per endpoint */
	size_t max_reply;
	CURL *curl;
	struct curl_slist *headers;
	char curl_err[CURL_ERROR_SIZE]; /* libcurl's detail of the last failure (TLS ...) */
};

struct coord_etcd_txn {
	json_t *compare;
	json_t *success;
	json_t *failure;
};

/* A reply body, bounded. */
typedef struct reply_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
	bool overflow;
} reply_buf_t;

/* ---- small helpers ------------------------------------------------------------------------ */

/* Monotonic milliseconds, for call budgets. */
static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Copies untrusted text into out for a diag: printable ASCII only, bounded. */
static void text_clean(const char *in, size_t in_len, char *out, size_t size)
{
	size_t o = 0;
	assert(size > 4);
	for (size_t i = 0; i < in_len && o + 4 < size; i++) {
		unsigned char ch = (unsigned char)in[i];
		out[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	if (o + 4 >= size && in_len > o) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard padded base64 of n bytes as a new NUL-terminated string, or NULL. */
static char *b64_encode(const uint8_t *p, size_t n)
{
	if (n > (SIZE_MAX - 1) / 4 * 3 - 3) {
		return NULL;
	}
	char *out = malloc((n + 2) / 3 * 4 + 1);
	if (out == NULL) {
		return NULL;
	}
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n) {
			v |= (uint32_t)p[i + 1] << 8;
		}
		if (i + 2 < n) {
			v |= p[i + 2];
		}
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

static int b64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z') {
		return ch - 'A';
	}
	if (ch >= 'a' && ch <= 'z') {
		return ch - 'a' + 26;
	}
	if (ch >= '0' && ch <= '9') {
		return ch - '0' + 52;
	}
	if (ch == '+') {
		return 62;
	}
	if (ch == '/') {
		return 63;
	}
	return -1;
}

/*
 * Strict decoding of standard padded base64 (what Go's encoding/json writes for
 * bytes): length a multiple of 4, padding only at the end, no whitespace. The
 * result has a NUL after its len bytes. Returns false on malformed input or
 * no memory (*nomem tells which).
 */
static bool b64_decode(const char *s, size_t slen, uint8_t **out, size_t *out_len, bool *nomem)
{
	*nomem = false;
	if (slen % 4 != 0) {
		return false;
	}
	size_t pad = 0;
	if (slen > 0 && s[slen - 1] == '=') {
		pad = (slen > 1 && s[slen - 2] == '=') ? 2 : 1;
	}
	size_t len = slen / 4 * 3 - pad;
	uint8_t *buf = malloc(len + 1);
	if (buf == NULL) {
		*nomem = true;
		return false;
	}
	size_t o = 0;
	for (size_t i = 0; i < slen; i += 4) {
		int v[4];
		bool last = i + 4 == slen;
		for (size_t k = 0; k < 4; k++) {
			unsigned char ch = (unsigned char)s[i + k];
			if (ch == '=' && last && k >= 4 - pad) {
				v[k] = 0;
				continue;
			}
			v[k] = b64_value(ch);
			if (v[k] < 0) {
				free(buf);
				return false;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		size_t take = last ? 3 - pad : 3;
		uint8_t bytes[3] = {(uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w};
		/* non-canonical padding (stray bits under '=') is refused */
		if (last && pad > 0 && bytes[3 - pad] != 0) {
			free(buf);
			return false;
		}
		memcpy(buf + o, bytes, take);
		o += take;
	}
	assert(o == len);
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return true;
}

/* The end of the key range holding every key that starts with prefix (n bytes): the
 * prefix with its last byte below 0xff incremented, or "\0" (no end) if there is none.
 * Writes a new buffer and its length. */
static uint8_t *prefix_end(const char *prefix, size_t n, size_t *end_len)
{
	uint8_t *end = malloc(n > 0 ? n : 1);
	if (end == NULL) {
		return NULL;
	}
	memcpy(end, prefix, n);
	while (n > 0) {
		if (end[n - 1] != 0xff) {
			end[n - 1]++;
			*end_len = n;
			return end;
		}
		n--;
	}
	end[0] = 0;
	*end_len = 1;
	return end;
}

/* ---- JSON reading (every field is untrusted) ------------------------------------------------ */

/* An int64 that the gateway writes as a decimal string (or, defensively, a JSON integer).
 * Absent or null means 0. */
static bool js_int64(const json_t *obj, const char *name, int64_t *out)
{
	const json_t *v = json_object_get(obj, name);
	if (v == NULL || json_is_null(v)) {
		*out = 0;
		return true;
	}
	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return true;
	}
	if (!json_is_string(v)) {
		return false;
	}
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	if (len == 0 || len > 20 || strlen(s) != len ||
	    (!isdigit((unsigned char)s[0]) && s[0] != '-')) {
		return false;
	}
	char *end = NULL;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (errno != 0 || end != s + len) {
		return false;
	}
	*out = (int64_t)x;
	return true;
}

/* A uint64 (member and cluster IDs) written as a decimal string or integer; absent is 0. */
static bool js_uint64(const json_t *obj, const char *name, uint64_t *out)
{
	const json_t *v = json_object_get(obj, name);
	if (v == NULL || json_is_null(v)) {
		*out = 0;
		return true;
	}
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0) {
			return false;
		}
		*out = (uint64_t)json_integer_value(v);
		return true;
	}
	if (!json_is_string(v)) {
		return false;
	}
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	if (len == 0 || len > 20 || strlen(s) != len || !isdigit((unsigned char)s[0])) {
		return false;
	}
	char *end = NULL;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno != 0 || end != s + len) {
		return false;
	}
	*out = (uint64_t)x;
	return true;
}

/* A bool; absent or null (the gateway omits false) means false. */
static bool js_bool(const json_t *obj, const char *name, bool *out)
{
	const json_t *v = json_object_get(obj, name);
	if (v == NULL || json_is_null(v)) {
		*out = false;
		return true;
	}
	if (!json_is_boolean(v)) {
		return false;
	}
	*out = json_is_true(v);
	return true;
}

/* An object member that must be an object when present; absent gives NULL and true. */
static bool js_object(const json_t *obj, const char *name, json_t **out)
{
	json_t *v = json_object_get(obj, name);
	if (v != NULL && !json_is_object(v) && !json_is_null(v)) {
		return false;
	}
	*out = json_is_object(v) ? v : NULL;
	return true;
}

/* An array member; absent or null gives NULL and true. */
static bool js_array(const json_t *obj, const char *name, json_t **out)
{
	json_t *v = json_object_get(obj, name);
	if (v != NULL && !json_is_array(v) && !json_is_null(v)) {
		return false;
	}
	*out = json_is_array(v) ? v : NULL;
	return true;
}

/* Copies a string member (absent: "") into a new string. Returns TANDEM_OK, EPROTO or
 * ENOMEM. Strings with NUL bytes inside are refused. */
static int js_strdup(const json_t *obj, const char *name, char **out)
{
	const json_t *v = json_object_get(obj, name);
	const char *s = "";
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
			return TANDEM_COORD_EPROTO;
		}
		s = json_string_value(v);
	}
	*out = strdup(s);
	return *out != NULL ? TANDEM_OK : TANDEM_ENOMEM;
}

/* Joins an array of strings with sep into a new string (absent: ""). */
static int js_strjoin(const json_t *obj, const char *name, const char *sep, char **out)
{
	json_t *arr = NULL;
	if (!js_array(obj, name, &arr)) {
		return TANDEM_COORD_EPROTO;
	}
	size_t total = 1, n = arr != NULL ? json_array_size(arr) : 0;
	for (size_t i = 0; i < n; i++) {
		const json_t *v = json_array_get(arr, i);
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
			return TANDEM_COORD_EPROTO;
		}
		total += json_string_length(v) + strlen(sep);
	}
	char *s = malloc(total);
	if (s == NULL) {
		return TANDEM_ENOMEM;
	}
	s[0] = '\0';
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		const json_t *v = json_array_get(arr, i);
		if (i > 0) {
			memcpy(s + o, sep, strlen(sep));
			o += strlen(sep);
		}
		memcpy(s + o, json_string_value(v), json_string_length(v));
		o += json_string_length(v);
	}
	s[o] = '\0';
	*out = s;
	return TANDEM_OK;
}

/* A base64 bytes member (absent: empty) decoded into a new buffer with a NUL after it.
 * Returns TANDEM_OK, EPROTO or ENOMEM. */
static int js_bytes(const json_t *obj, const char *name, uint8_t **out, size_t *out_len)
{
	const json_t *v = json_object_get(obj, name);
	const char *s = "";
	size_t len = 0;
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v)) {
			return TANDEM_COORD_EPROTO;
		}
		s = json_string_value(v);
		len = json_string_length(v);
	}
	bool nomem = false;
	if (!b64_decode(s, len, out, out_len, &nomem)) {
		return nomem ? TANDEM_ENOMEM : TANDEM_COORD_EPROTO;
	}
	return TANDEM_OK;
}

/* ---- JSON writing --------------------------------------------------------------------------- */

/* obj[name] = base64 of n bytes. Returns false when out of memory. */
static bool jw_b64(json_t *obj, const char *name, const void *p, size_t n)
{
	char *s = b64_encode(p, n);
	if (s == NULL) {
		return false;
	}
	bool ok = json_object_set_new(obj, name, json_string(s)) == 0;
	free(s);
	return ok;
}

/* obj[name] = an int64 as the decimal string the gateway expects. */
static bool jw_int64(json_t *obj, const char *name, int64_t v)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return json_object_set_new(obj, name, json_string(buf)) == 0;
}

/* Sets "key" (and "range_end" for a prefix) of a range-shaped request. */
static bool jw_key_range(json_t *obj, const char *key, bool prefix)
{
	size_t n = strlen(key);
	if (!prefix) {
		return jw_b64(obj, "key", key, n);
	}
	size_t end_len = 0;
	uint8_t *end = prefix_end(key, n, &end_len);
	if (end == NULL) {
		return false;
	}
	/* the empty prefix is "from \0 to the end": etcd refuses an empty key */
	bool ok = (n > 0 ? jw_b64(obj, "key", key, n) : jw_b64(obj, "key", "", 1)) &&
		  jw_b64(obj, "range_end", end, end_len);
	free(end);
	return ok;
}

/* ---- transport --------------------------------------------------------------------------------
 */

static size_t reply_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	reply_buf_t *b = ud;
	size_t n = size * nmemb;
	if (n > b->max - b->len) {
		b->overflow = true;
		return 0; /* makes libcurl stop with CURLE_WRITE_ERROR */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap > 0 ? b->cap : 4096;
		while (cap < b->len + n + 1) {
			cap *= 2;
		}
		char *d = realloc(b->data, cap);
		if (d == NULL) {
			return 0;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* One HTTP exchange with endpoint i: POST body (or GET when body is NULL) to path, with
 * the given timeout. Writes the curl result and HTTP status; the body goes to b. */
static CURLcode http_do(coord_etcd_t *c, size_t i, const char *path, const char *body,
			long timeout_ms, reply_buf_t *b, long *status)
{
	char url[EP_MAX + 64];
	snprintf(url, sizeof(url), "%s%s", c->endpoints[i], path);
	CURL *h = c->curl;
	*status = 0;
	curl_easy_setopt(h, CURLOPT_URL, url);
	if (body != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 c->connect_timeout_ms < timeout_ms ? c->connect_timeout_ms : timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
	c->curl_err[0] = '\0';
	CURLcode cc = curl_easy_perform(h);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	}
	return cc;
}

/* Parses a reply body as one JSON object; NULL if it is not one. */
static json_t *reply_parse(const reply_buf_t *b)
{
	if (b->data == NULL || b->len == 0) {
		return NULL;
	}
	json_error_t jerr;
	json_t *j = json_loadb(b->data, b->len, JSON_REJECT_DUPLICATES, &jerr);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* Reads the error the gateway put in a reply, if any: {"error":"msg","code":N} for
 * unary calls, {"error":{"grpc_code":N,"message":"msg"}} for streams (keepalive), and
 * a non-empty "error" string in a lease grant. Returns false if there is none. */
static bool reply_error(const json_t *j, int64_t *code, const char **msg)
{
	const json_t *e = json_object_get(j, "error");
	*code = 0;
	*msg = "";
	if (e == NULL || json_is_null(e)) {
		return false;
	}
	if (json_is_object(e)) {
		if (!js_int64(e, "grpc_code", code)) {
			*code = GRPC_UNKNOWN;
		}
		const json_t *m = json_object_get(e, "message");
		*msg = json_is_string(m) ? json_string_value(m) : "";
		return true;
	}
	if (json_is_string(e) && json_string_length(e) == 0) {
		return false;
	}
	if (!js_int64(j, "code", code)) {
		*code = GRPC_UNKNOWN;
	}
	const json_t *m = json_object_get(j, "message");
	*msg = json_is_string(m) ? json_string_value(m)
				 : (json_is_string(e) ? json_string_value(e) : "");
	return true;
}

/* Asks endpoint i, briefly, whether it has a leader: true only if it answered that it
 * has none (so its cluster has lost quorum, or is electing). */
static bool probe_no_leader(coord_etcd_t *c, size_t i)
{
	reply_buf_t b = {.max = 64 * 1024};
	long status = 0;
	bool none = false;
	json_t *j = NULL;
	long t = c->connect_timeout_ms < c->timeout_ms ? c->connect_timeout_ms : c->timeout_ms;
	if (http_do(c, i, "/v3/maintenance/status", "{}", t, &b, &status) != CURLE_OK ||
	    status != 200 || (j = reply_parse(&b)) == NULL) {
		goto out;
	}
	uint64_t leader = 0;
	int64_t code = 0;
	const char *msg = NULL;
	none = !reply_error(j, &code, &msg) && js_uint64(j, "leader", &leader) && leader == 0;
out:
	json_decref(j);
	free(b.data);
	return none;
}

/*
 * Sends body to path on endpoint i. On TANDEM_OK *out is the reply object. Returns
 * TANDEM_COORD_EUNAVAIL or TANDEM_COORD_ENOQUORUM when the caller should try the next
 * endpoint; anything else is the final answer.
 */
static int etcd_post(coord_etcd_t *c, size_t i, const char *path, const char *body, long timeout_ms,
		     tandem_diag_t *diag, json_t **out)
{
	reply_buf_t b = {.max = c->max_reply};
	long status = 0;
	json_t *j = NULL;
	char text[MSG_MAX];
	const char *ep = c->endpoints[i];
	int rc = TANDEM_COORD_EUNAVAIL;
	CURLcode cc = http_do(c, i, path, body, timeout_ms, &b, &status);
	if (cc != CURLE_OK) {
		if (b.overflow) {
			rc = TANDEM_COORD_EPROTO;
			tandem_diag_add(diag, rc, "%s%s: reply larger than %zu bytes", ep, path,
					c->max_reply);
			goto out;
		}
		/* a member that took the request but did not answer in time may be one
		 * that lost its quorum: ask it */
		if (cc == CURLE_OPERATION_TIMEDOUT && probe_no_leader(c, i)) {
			rc = TANDEM_COORD_ENOQUORUM;
			tandem_diag_add(diag, rc,
					"%s%s: no reply within %ld ms; the member has no leader",
					ep, path, timeout_ms);
		} else {
			/* libcurl's own detail says which certificate or alert (TLS). Under
			 * TLS 1.3 a member that refuses our certificate just resets the
			 * connection after the handshake: say what that usually means. */
			bool tls_reset = strncmp(ep, "https://", 8) == 0 &&
					 (cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR ||
					  cc == CURLE_HTTP2 || cc == CURLE_SSL_CONNECT_ERROR);
			tandem_diag_add(
			    diag, rc, "%s%s: %s%s%s%s", ep, path, curl_easy_strerror(cc),
			    c->curl_err[0] != '\0' ? ": " : "", c->curl_err,
			    tls_reset ? " (TLS: the member may have refused this client's "
					"certificate: is it signed by the CA of the members' "
					"--trusted-ca-file?)"
				      : "");
		}
		goto out;
	}
	j = reply_parse(&b);
	if (j == NULL) {
		rc = TANDEM_COORD_EPROTO;
		text_clean(b.data != NULL ? b.data : "", b.len, text, 80);
		tandem_diag_add(diag, rc, "%s%s: HTTP %ld, not a JSON object: \"%s\"", ep, path,
				status, text);
		goto out;
	}
	int64_t code = 0;
	const char *msg = NULL;
	if (!reply_error(j, &code, &msg)) {
		if (status != 200) {
			rc = TANDEM_COORD_EPROTO;
			tandem_diag_add(diag, rc, "%s%s: HTTP %ld without an error", ep, path,
					status);
			goto out;
		}
		*out = j;
		j = NULL;
		rc = TANDEM_OK;
		goto out;
	}
	text_clean(msg, strlen(msg), text, sizeof(text));
	if (strstr(msg, "no leader") != NULL) {
		rc = TANDEM_COORD_ENOQUORUM;
	} else if (code == GRPC_UNAVAILABLE || code == GRPC_DEADLINE_EXCEEDED ||
		   strstr(msg, "deadline exceeded") != NULL) {
		/* "request timed out", "leader changed", a gateway deadline: this member
		 * cannot serve now; another one might */
		rc = probe_no_leader(c, i) ? TANDEM_COORD_ENOQUORUM : TANDEM_COORD_EUNAVAIL;
	} else if (code == GRPC_NOT_FOUND && strstr(msg, "lease not found") != NULL) {
		rc = TANDEM_COORD_ELEASE;
	} else if (code == GRPC_PERMISSION_DENIED || code == GRPC_UNAUTHENTICATED) {
		rc = TANDEM_EPERM;
	} else {
		rc = TANDEM_COORD_EREFUSED;
	}
	tandem_diag_add(diag, rc, "%s%s: etcd error %" PRId64 ": %s", ep, path, code, text);
out:
	json_decref(j);
	free(b.data);
	return rc;
}

/* Sends req to path, failing over across the endpoints; *out is the first good reply. */
static int etcd_call(coord_etcd_t *c, const char *path, const json_t *req, tandem_diag_t *diag,
		     json_t **out)
{
	int rc = TANDEM_OK;
	bool no_quorum = false;
	char *body = json_dumps(req, JSON_COMPACT);
	if (body == NULL) {
		rc = TANDEM_ENOMEM;
		goto out;
	}
	int64_t start = mono_ms();
	for (size_t k = 0; k < c->n; k++) {
		size_t i = (c->cur + k) % c->n;
		json_t *reply = NULL;
		long t = c->timeout_ms;
		if (c->call_timeout_ms > 0) {
			/* the whole call is bounded: a caller that must stay responsive (the
			 * coordinator's loop) waits at most call_timeout_ms plus one probe */
			long left = c->call_timeout_ms - (long)(mono_ms() - start);
			if (left <= 0) {
				/* the next call starts with the first endpoint not tried, so a
				 * member that stays silent cannot hide the others for good */
				c->cur = i;
				tandem_diag_add(
				    diag, TANDEM_COORD_EUNAVAIL,
				    "%s: no answer within %ld ms: %zu endpoint(s) not tried", path,
				    c->call_timeout_ms, c->n - k);
				break;
			}
			t = left < t ? left : t;
		}
		rc = etcd_post(c, i, path, body, t, diag, &reply);
		if (rc == TANDEM_OK) {
			c->cur = i;
			*out = reply;
			goto out;
		}
		if (rc == TANDEM_COORD_ENOQUORUM) {
			no_quorum = true;
		} else if (rc != TANDEM_COORD_EUNAVAIL) {
			c->cur = i; /* it answered, if not as hoped */
			goto out;
		}
	}
	rc = no_quorum ? TANDEM_COORD_ENOQUORUM : TANDEM_COORD_EUNAVAIL;
	tandem_diag_add(diag, rc, "%s: none of %zu etcd endpoint(s) could serve the request%s",
			path, c->n, no_quorum ? " (quorum lost)" : "");
out:
	free(body);
	return rc;
}

/* ---- client -----------------------------------------------------------------------------------
 */

int coord_etcd_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? TANDEM_OK : TANDEM_EINTERNAL;
}

void coord_etcd_global_cleanup(void)
{
	curl_global_cleanup();
}

/* Checks "http[s]://HOST:PORT[/]" and writes the copy to use (trailing '/' dropped). */
static bool endpoint_parse(const char *ep, char *out, size_t size)
{
	size_t len = strlen(ep);
	const char *host = NULL;
	if (len == 0 || len >= size || len >= EP_MAX) {
		return false;
	}
	if (strncmp(ep, "http://", 7) == 0) {
		host = ep + 7;
	} else if (strncmp(ep, "https://", 8) == 0) {
		host = ep + 8;
	} else {
		return false;
	}
	memcpy(out, ep, len + 1);
	if (out[len - 1] == '/') {
		out[--len] = '\0';
	}
	host = out + (host - ep);
	const char *colon = strrchr(host, ':');
	if (colon == NULL || colon == host) {
		return false;
	}
	for (const char *p = host; p < colon; p++) {
		unsigned char ch = (unsigned char)*p;
		if (!(isalnum(ch) || ch == '.' || ch == '-' || ch == '[' || ch == ']' ||
		      ch == ':')) {
			return false;
		}
	}
	const char *port = colon + 1;
	size_t plen = strlen(port);
	if (plen == 0 || plen > 5) {
		return false;
	}
	unsigned long v = 0;
	for (size_t k = 0; k < plen; k++) {
		if (!isdigit((unsigned char)port[k])) {
			return false;
		}
		v = v * 10 + (unsigned long)(port[k] - '0');
	}
	return v >= 1 && v <= 65535;
}

/* The client side of TLS: the CA to check members against, the client certificate, and
 * its key read here (refused when others may read it), given to libcurl as a copy and
 * wiped. Without TLS options an https:// endpoint is refused (tandem always presents a
 * client certificate). */
static int tls_setup(coord_etcd_t *c, const coord_etcd_opts_t *o, tandem_diag_t *diag)
{
	int rc = TANDEM_OK;
	char *key = NULL;
	size_t key_len = 0;
	bool any = o->tls_ca != NULL || o->tls_cert != NULL || o->tls_key != NULL;
	bool https = false;

	for (size_t i = 0; i < c->n; i++) {
		https = https || strncmp(c->endpoints[i], "https://", 8) == 0;
	}
	if (!any) {
		if (https) {
			rc = TANDEM_EINVAL;
			tandem_diag_add(diag, rc,
					"etcd: https:// endpoints need a CA, a client certificate "
					"and its key");
		}
		return rc;
	}
	if (o->tls_ca == NULL || o->tls_cert == NULL || o->tls_key == NULL) {
		rc = TANDEM_EINVAL;
		tandem_diag_add(diag, rc,
				"etcd: TLS needs the CA, the client certificate and "
				"its key together");
		return rc;
	}
	const char *files[2] = {o->tls_ca, o->tls_cert};
	for (size_t i = 0; i < 2; i++) {
		if (access(files[i], R_OK) != 0) {
			rc = TANDEM_ENOENT;
			tandem_diag_add(diag, rc, "etcd: %s %s: %s", i == 0 ? "CA" : "certificate",
					files[i], strerror(errno));
			return rc;
		}
	}
	rc = tandem_secret_read(o->tls_key, 64 * 1024, &key, &key_len);
	if (rc != TANDEM_OK) {
		tandem_diag_add(diag, rc, "etcd: client key %s: %s", o->tls_key,
				rc == TANDEM_EPERM ? "group or others may access it (chmod 600)"
						   : tandem_strerror(rc));
		return rc;
	}
	struct curl_blob blob = {.data = key, .len = key_len, .flags = CURL_BLOB_COPY};
	if (curl_easy_setopt(c->curl, CURLOPT_CAINFO, o->tls_ca) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_SSLCERT, o->tls_cert) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_SSLCERTTYPE, "PEM") != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_SSLKEY_BLOB, &blob) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_SSLKEYTYPE, "PEM") != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK) {
		rc = TANDEM_EINTERNAL;
		tandem_diag_add(diag, rc, "etcd: libcurl refused a TLS option");
	}
	tandem_wipe(key, key_len);
	free(key);
	return rc;
}

int coord_etcd_new(const char *const *endpoints, size_t n, const coord_etcd_opts_t *opts,
		   tandem_diag_t *diag, coord_etcd_t **out)
{
	int rc = TANDEM_OK;
	coord_etcd_t *c = NULL;
	if (endpoints == NULL || out == NULL || n == 0 || n > COORD_ETCD_MAX_ENDPOINTS) {
		rc = TANDEM_EINVAL;
		tandem_diag_add(diag, rc, "etcd: need 1 to %u endpoints, got %zu",
				COORD_ETCD_MAX_ENDPOINTS, n);
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->endpoints = calloc(n, sizeof(char *))) == NULL) {
		rc = TANDEM_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char buf[EP_MAX];
		char text[80];
		if (endpoints[i] == NULL || !endpoint_parse(endpoints[i], buf, sizeof(buf))) {
			rc = TANDEM_EINVAL;
			text_clean(endpoints[i] ? endpoints[i] : "(null)",
				   endpoints[i] ? strlen(endpoints[i]) : 6, text, sizeof(text));
			tandem_diag_add(
			    diag, rc,
			    "etcd endpoint \"%s\": expected http://HOST:PORT or https://HOST:PORT",
			    text);
			goto out;
		}
		if ((c->endpoints[i] = strdup(buf)) == NULL) {
			rc = TANDEM_ENOMEM;
			goto out;
		}
		c->n++;
	}
	coord_etcd_opts_t o = {0};
	if (opts != NULL) {
		o = *opts;
	}
	c->timeout_ms = o.timeout_ms > 0 ? (long)o.timeout_ms : (long)COORD_ETCD_TIMEOUT_MS;
	c->connect_timeout_ms = o.connect_timeout_ms > 0 ? (long)o.connect_timeout_ms
				: c->timeout_ms < 1000   ? c->timeout_ms
							 : 1000;
	c->call_timeout_ms = (long)o.call_timeout_ms;
	c->max_reply = o.max_reply > 0 ? o.max_reply : COORD_ETCD_MAX_REPLY;
	c->curl = curl_easy_init();
	if (c->curl == NULL) {
		rc = TANDEM_EINTERNAL;
		tandem_diag_add(diag, rc, "etcd: curl_easy_init failed");
		goto out;
	}
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	c->headers = h;
	/* no "Expect: 100-continue" round trip for larger bodies */
	if (h == NULL || (c->headers = curl_slist_append(h, "Expect:")) == NULL) {
		rc = TANDEM_ENOMEM;
		goto out;
	}
	CURL *e = c->curl;
	if (curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, reply_write) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    /* never through an http_proxy from the environment */
	    curl_easy_setopt(e, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOPROXY, "*") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->curl_err) != CURLE_OK) {
		rc = TANDEM_EINTERNAL;
		tandem_diag_add(diag, rc, "etcd: libcurl refused an option");
		goto out;
	}
	rc = tls_setup(c, &o, diag);
	if (rc != TANDEM_OK) {
		goto out;
	}
	*out = c;
	c = NULL;
out:
	coord_etcd_free(c);
	return rc;
}

void coord_etcd_free(coord_etcd_t *c)
{
	if (c == NULL) {
		return;
	}
	if (c->curl != NULL) {
		curl_easy_cleanup(c->curl);
	}
	curl_slist_free_all(c->headers);
	for (size_t i = 0; c->endpoints != NULL && i < c->n; i++) {
		free(c->endpoints[i]);
	}
	free(c->endpoints);
	free(c);
}

size_t coord_etcd_endpoint_count(const coord_etcd_t *c)
{
	return c != NULL ? c->n : 0;
}

const char *coord_etcd_endpoint(const coord_etcd_t *c, size_t i)
{
	return c != NULL && i < c->n ? c->endpoints[i] : NULL;
}

/* ---- reads ------------------------------------------------------------------------------------
 */

static void range_clear(coord_etcd_range_t *r)
{
	for (size_t i = 0; r->kvs != NULL && i < r->n; i++) {
		free(r->kvs[i].key);
		free(r->kvs[i].value);
	}
	free(r->kvs);
	memset(r, 0, sizeof(*r));
}

void coord_etcd_range_free(coord_etcd_range_t *r)
{
	if (r != NULL) {
		range_clear(r);
		free(r);
	}
}

/* Fills r from a RangeResponse object. On failure r is cleared. */
static int range_parse(const json_t *j, coord_etcd_range_t *r)
{
	int rc = TANDEM_COORD_EPROTO;
	json_t *header = NULL, *kvs = NULL;
	memset(r, 0, sizeof(*r));
	if (!js_object(j, "header", &header) || header == NULL ||
	    !js_int64(header, "revision", &r->revision) || !js_int64(j, "count", &r->count) ||
	    !js_bool(j, "more", &r->more) || !js_array(j, "kvs", &kvs)) {
		goto out;
	}
	size_t n = kvs != NULL ? json_array_size(kvs) : 0;
	if (n > 0 && (r->kvs = calloc(n, sizeof(*r->kvs))) == NULL) {
		rc = TANDEM_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(kvs, i);
		coord_etcd_kv_t *kv = &r->kvs[i];
		uint8_t *key = NULL;
		if (!json_is_object(e)) {
			goto out;
		}
		r->n++;
		int x = js_bytes(e, "key", &key, &kv->key_len);
		if (x != TANDEM_OK) {
			rc = x;
			goto out;
		}
		kv->key = (char *)key;
		if ((x = js_bytes(e, "value", &kv->value, &kv->value_len)) != TANDEM_OK) {
			rc = x;
			goto out;
		}
		if (kv->key_len == 0 || !js_int64(e, "create_revision", &kv->create_revision) ||
		    !js_int64(e, "mod_revision", &kv->mod_revision) ||
		    !js_int64(e, "version", &kv->version) || !js_int64(e, "lease", &kv->lease) ||
		    kv->create_revision <= 0 || kv->mod_revision < kv->create_revision ||
		    kv->version <= 0) {
			goto out;
		}
	}
	if (r->count < (int64_t)r->n || r->revision <= 0) {
		goto out;
	}
	rc = TANDEM_OK;
out:
	if (rc != TANDEM_OK) {
		range_clear(r);
	}
	return rc;
}

/* One range read: req already names the keys; adds the limit and the consistency, and
 * parses the reply into *out. */
static int range_call(coord_etcd_t *c, json_t *req, size_t limit, unsigned flags,
		      tandem_diag_t *diag, coord_etcd_range_t **out)
{
	int rc = TANDEM_OK;
	json_t *reply = NULL;
	coord_etcd_range_t *r = NULL;
	if ((limit > 0 && !jw_int64(req, "limit", (int64_t)limit)) ||
	    ((flags & COORD_ETCD_SERIALIZABLE) &&
	     json_object_set_new(req, "serializable", json_true()) != 0)) {
		rc = TANDEM_ENOMEM;
		goto out;
	}
	if ((rc = etcd_call(c, "/v3/kv/range", req, diag, &reply)) != TANDEM_OK) {
		goto out;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		rc = TANDEM_ENOMEM;
		goto out;
	}
	if ((rc = range_parse(reply, r)) != TANDEM_OK) {
		tandem_diag_add(diag, rc, "%s/v3/kv/range: malformed reply", c->endpoints[c->cur]);
		goto out;
	}
	*out = r;
	r = NULL;
out:
	coord_etcd_range_free(r);
	json_decref(reply);
	return rc;
}

static int do_range(coord_etcd_t *c, const char *key, bool prefix, size_t limit, unsigned flags,
		    tandem_diag_t *diag, coord_etcd_range_t **out)
{
	int rc = TANDEM_OK;
	json_t *req = NULL;
	coord_etcd_range_t *r = NULL;
	if (c == NULL || key == NULL || out == NULL || (flags & ~COORD_ETCD_SERIALIZABLE) != 0 ||
	    (!prefix && key[0] == '\0') || limit > INT64_MAX) {
		rc = TANDEM_EINVAL;
		goto out;
	}
	req = json_object();
	if (req == NULL || !jw_key_range(req, key, prefix)) {
		rc = TANDEM_ENOMEM;
		goto out;
	}
	if ((rc = range_call(c, req, limit, flags, diag, &r)) != TANDEM_OK) {
		goto out;
	}
	if (!prefix &&
	    (r->n > 1 || (r->n == 1 && (r->kvs[0].key_len != strlen(key) ||
					memcmp(r->kvs[0].key, key, strlen(key)) != 0)))) {
		rc = TANDEM_COORD_EPROTO;
		tandem_diag_add(diag, rc, "%s/v3/kv/range: reply for another key",
				c->endpoints[c->cur]);
		goto out;
	}
	*out = r;
	r = NULL;
out:
	coord_etcd_range_free(r);
	json_decref(req);
	return rc;
}

int coord_etcd_get(coord_etcd_t *c, const char *key, unsigned flags, tandem_diag_t *diag,
		   coord_etcd_range_t **out)
{
	return do_range(c, key, false, 0, flags, diag, out);
}

int coord_etcd_range(coord_etcd_t *c, const char *prefix, size_t limit, unsigned flags,
		     tandem_diag_t *diag, coord_etcd_range_t **out)
{
	return do_range(c, prefix, true, limit, flags, diag, out);
}

int coord_etcd_range_since(coord_etcd_t *c, const char *prefix, int64_t min_mod_revision,
			   unsigned flags, tandem_diag_t *diag, coord_etcd_range_t **out)
{
	if (c == NULL || prefix == NULL || prefix[0] == '\0' || out == NULL ||
	    (flags & ~(COORD_ETCD_SERIALIZABLE | COORD_ETCD_KEYS_ONLY)) != 0 ||
	    min_mod_revision < 1) {
		return TANDEM_EINVAL;
	}
	int rc = TANDEM_OK;
	json_t *req = json_object();
	if (req == NULL || !jw_key_range(req, prefix, true) ||
	    !jw_int64(req, "min_mod_revision", min_mod_revision) ||
	    ((flags & COORD_ETCD_KEYS_ONLY) &&
	     json_object_set_new(req, "keys_only", json_true()) != 0)) {
		rc = TANDEM_ENOMEM;
	} else {
		rc = range_call(c, req, 0, flags & COORD_ETCD_SERIALIZABLE, diag, out);
	}
	json_decref(req);
	return rc;
}

int coord_etcd_range_between(coord_etcd_t *c, const char *from, const char *end, size_t limit,
			     unsigned flags, tandem_diag_t *diag, coord_etcd_range_t **out)
{
	if (c == NULL || from == NULL || end == NULL || from[0] == '\0' || end[0] == '\0' ||
	    out == NULL || (flags & ~COORD_ETCD_SERIALIZABLE) != 0 || limit > INT64_MAX) {
		return TANDEM_EINVAL;
	}
	int rc = TANDEM_OK;
	json_t *req = json_object();
	if (req == NULL || !jw_b64(req, "key", from, strlen(from)) ||
	    !jw_b64(req, "range_end", end, strlen(end))) {
		rc = TANDEM_ENOMEM;
	} else {
		rc = range_call(c, req, limit, flags, diag, out);
	}
	json_decref(req);
	return rc;
}

/* ---- transactions ------------------------------------------------------------------------------
 */

int coord_etcd_txn_new(coord_etcd_txn_t **out)
{
	if (out == NULL) {
		return TANDEM_EINVAL;
	}
	coord_etcd_txn_t *t = calloc(1, sizeof(*t));
	if (t == NULL || (t->compare = json_array()) == NULL ||
	    (t->success = json_array()) == NULL || (t->failure = json_array()) == NULL) {
		coord_etcd_txn_free(t);
		return TANDEM_ENOMEM;
	}
	*out = t;
	return TANDEM_OK;
}

void coord_etcd_txn_free(coord_etcd_txn_t *t)
{
	if (t == NULL) {
		return;
	}
	json_decref(t->compare);
	json_decref(t->success);
	json_decref(t->failure);
	free(t);
}

/* Appends obj (taken) to arr after checking the key and etcd's op limit. */
static int txn_add(coord_etcd_txn_t *t, json_t *arr, json_t *obj, bool ok)
{
	if (!ok || obj == NULL) {
		json_decref(obj);
		return TANDEM_ENOMEM;
	}
	if (json_array_size(arr) >= COORD_ETCD_MAX_TXN_OPS) {
		json_decref(obj);
		return TANDEM_EINVAL;
	}
	return json_array_append_new(arr, obj) == 0 ? TANDEM_OK : TANDEM_ENOMEM;
}

static bool key_ok(const coord_etcd_txn_t *t, const char *key)
{
	return t != NULL && key != NULL && key[0] != '\0';
}

/* A compare of key's target with result EQUAL; the value is set by the caller. */
static json_t *cmp_new(const char *key, const char *target)
{
	json_t *o = json_object();
	if (o == NULL || !jw_b64(o, "key", key, strlen(key)) ||
	    json_object_set_new(o, "target", json_string(target)) != 0 ||
	    json_object_set_new(o, "result", json_string("EQUAL")) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int coord_etcd_txn_cmp_mod(coord_etcd_txn_t *t, const char *key, int64_t mod_revision)
{
	if (!key_ok(t, key) || mod_revision < 0) {
		return TANDEM_EINVAL;
	}
	json_t *o = cmp_new(key, "MOD");
	return txn_add(t, t->compare, o, o != NULL && jw_int64(o, "mod_revision", mod_revision));
}

int coord_etcd_txn_cmp_create(coord_etcd_txn_t *t, const char *key, int64_t create_revision)
{
	if (!key_ok(t, key) || create_revision < 0) {
		return TANDEM_EINVAL;
	}
	json_t *o = cmp_new(key, "CREATE");
	return txn_add(t, t->compare, o,
		       o != NULL && jw_int64(o, "create_revision", create_revision));
}

int coord_etcd_txn_cmp_value(coord_etcd_txn_t *t, const char *key, const void *value, size_t len)
{
	if (!key_ok(t, key) || (value == NULL && len > 0)) {
		return TANDEM_EINVAL;
	}
	json_t *o = cmp_new(key, "VALUE");
	return txn_add(t, t->compare, o, o != NULL && jw_b64(o, "value", value ? value : "", len));
}

int coord_etcd_txn_cmp_absent(coord_etcd_txn_t *t, const char *key)
{
	if (!key_ok(t, key)) {
		return TANDEM_EINVAL;
	}
	json_t *o = cmp_new(key, "VERSION");
	return txn_add(t, t->compare, o, o != NULL && jw_int64(o, "version", 0));
}

int coord_etcd_txn_cmp_mod_below_prefix(coord_etcd_txn_t *t, const char *prefix, int64_t below)
{
	if (!key_ok(t, prefix) || below < 1) {
		return TANDEM_EINVAL;
	}
	json_t *o = json_object();
	bool ok = o != NULL && jw_key_range(o, prefix, true) &&
		  json_object_set_new(o, "target", json_string("MOD")) == 0 &&
		  json_object_set_new(o, "result", json_string("LESS")) == 0 &&
		  jw_int64(o, "mod_revision", below);
	return txn_add(t, t->compare, o, ok);
}

/* {"NAME": inner} */
static json_t *op_wrap(const char *name, json_t *inner)
{
	json_t *o = inner != NULL ? json_object() : NULL;
	if (o == NULL || json_object_set_new(o, name, inner) != 0) {
		json_decref(o);
		if (o == NULL) {
			json_decref(inner);
		}
		return NULL;
	}
	return o;
}

int coord_etcd_txn_put(coord_etcd_txn_t *t, const char *key, const void *value, size_t len,
		       int64_t lease)
{
	if (!key_ok(t, key) || (value == NULL && len > 0) || lease < 0) {
		return TANDEM_EINVAL;
	}
	json_t *in = json_object();
	bool ok = in != NULL && jw_b64(in, "key", key, strlen(key)) &&
		  jw_b64(in, "value", value ? value : "", len) &&
		  (lease == 0 || jw_int64(in, "lease", lease));
	if (!ok) {
		json_decref(in);
		return TANDEM_ENOMEM;
	}
	json_t *o = op_wrap("request_put", in);
	return txn_add(t, t->success, o, o != NULL);
}

static int txn_range_op(coord_etcd_txn_t *t, json_t *arr, const char *op, const char *key,
			bool prefix)
{
	if (!key_ok(t, key)) {
		return TANDEM_EINVAL;
	}
	json_t *in = json_object();
	if (in == NULL || !jw_key_range(in, key, prefix)) {
		json_decref(in);
		return TANDEM_ENOMEM;
	}
	json_t *o = op_wrap(op, in);
	return txn_add(t, arr, o, o != NULL);
}

int coord_etcd_txn_delete(coord_etcd_txn_t *t, const char *key)
{
	return txn_range_op(t, t ? t->success : NULL, "request_delete_range", key, false);
}

int coord_etcd_txn_delete_prefix(coord_etcd_txn_t *t, const char *prefix)
{
	return txn_range_op(t, t ? t->success : NULL, "request_delete_range", prefix, true);
}

int coord_etcd_txn_delete_between(coord_etcd_txn_t *t, const char *from, const char *end)
{
	if (!key_ok(t, from) || end == NULL || end[0] == '\0') {
		return TANDEM_EINVAL;
	}
	json_t *in = json_object();
	if (in == NULL || !jw_b64(in, "key", from, strlen(from)) ||
	    !jw_b64(in, "range_end", end, strlen(end))) {
		json_decref(in);
		return TANDEM_ENOMEM;
	}
	json_t *o = op_wrap("request_delete_range", in);
	return txn_add(t, t->success, o, o != NULL);
}

int coord_etcd_txn_on_fail_get(coord_etcd_txn_t *t, const char *key)
{
	return txn_range_op(t, t ? t->failure : NULL, "request_range", key, false);
}

int coord_etcd_txn_on_fail_range(coord_etcd_txn_t *t, const char *prefix)
{
	return txn_range_op(t, t ? t->failure : NULL, "request_range", prefix, true);
}

void coord_etcd_txn_result_free(coord_etcd_txn_result_t *r)
{
	if (r == NULL) {
		return;
	}
	for (size_t i = 0; r->reads != NULL && i < r->n_reads; i++) {
		range_clear(&r->reads[i]);
	}
	free(r->reads);
	free(r);
}

/* Fills res from a TxnResponse; on failure, the n_fail reads must be range responses. */
static int txn_parse(const json_t *j, size_t n_fail, coord_etcd_txn_result_t *res)
{
	json_t *header = NULL, *resp = NULL;
	if (!js_object(j, "header", &header) || header == NULL ||
	    !js_int64(header, "revision", &res->revision) || res->revision <= 0 ||
	    !js_bool(j, "succeeded", &res->succeeded) || !js_array(j, "responses", &resp)) {
		return TANDEM_COORD_EPROTO;
	}
	if (res->succeeded) {
		return TANDEM_OK;
	}
	if ((resp != NULL ? json_array_size(resp) : 0) != n_fail) {
		return TANDEM_COORD_EPROTO;
	}
	if (n_fail > 0 && (res->reads = calloc(n_fail, sizeof(*res->reads))) == NULL) {
		return TANDEM_ENOMEM;
	}
	for (size_t i = 0; i < n_fail; i++) {
		json_t *rr = NULL;
		if (!json_is_object(json_array_get(resp, i)) ||
		    !js_object(json_array_get(resp, i), "response_range", &rr) || rr == NULL) {
			return TANDEM_COORD_EPROTO;
		}
		int rc = range_parse(rr, &res->reads[i]);
		if (rc != TANDEM_OK) {
			return rc;
		}
		res->n_reads++;
	}
	return TANDEM_OK;
}

int coord_etcd_txn_commit(coord_etcd_t *c, const coord_etcd_txn_t *t, tandem_diag_t *diag,
			  coord_etcd_txn_result_t **out)
{
	int rc = TANDEM_OK;
	json_t *req = NULL, *reply = NULL;
	coord_etcd_txn_result_t *res = NULL;
	if (c == NULL || t == NULL || out == NULL ||
	    json_array_size(t->compare) + json_array_size(t->success) == 0) {
		rc = TANDEM_EINVAL;
		goto out;
	}
	req = json_object();
	if (req == NULL || json_object_set(req, "compare", t->compare) != 0 ||
	    json_object_set(req, "success", t->success) != 0 ||
	    json_object_set(req, "failure", t->failure) != 0) {
		rc = TANDEM_ENOMEM;
		goto out;
	}
	if ((rc = etcd_call(c, "/v3/kv/txn", req, diag, &reply)) != TANDEM_OK) {
		goto out;
	}
	if ((res = calloc(1, sizeof(*res))) == NULL) {
		rc = TANDEM_ENOMEM;
		goto out;
	}
	if ((rc = txn_parse(reply, json_array_size(t->failure), res)) != TANDEM_OK) {
		tandem_diag_add(diag, rc, "%s/v3/kv/txn: malformed reply", c->endpoints[c->cur]);
		goto out;
	}
	rc = res->succeeded ? TANDEM_OK : TANDEM_COORD_ECONFLICT;
	*out = res;
	res = NULL;
out:
	coord_etcd_txn_result_free(res);
	json_decref(req);
	json_decref(reply);
	return rc;
}

int coord_etcd_get_many(coord_etcd_t *c, const char *const *keys, size_t n, tandem_diag_t *diag,
			coord_etcd_txn_result_t **out)
{
	int rc = TANDEM_OK;
	coord_etcd_txn_t *t = NULL;
	json_t *req = NULL, *reply = NULL, *header = NULL, *resp = NULL;
	coord_etcd_txn_result_t *res = NULL;
	if (c == NULL || keys == NULL || out == NULL || n == 0 || n > COORD_ETCD_MAX_TXN_OPS) {
		return TANDEM_EINVAL;
	}
	if ((rc = coord_etcd_txn_new(&t)) != TANDEM_OK) {
		goto out;
	}
	for (size_t i = 0; rc == TANDEM_OK && i < n; i++) {
		rc = txn_range_op(t, t->success, "request_range", keys[i], false);
	}
	if (rc != TANDEM_OK) {
		goto out;
	}
	req = json_object();
	if (req == NULL || json_object_set(req, "success", t->success) != 0) {
		rc = TANDEM_ENOMEM;
		goto out;
	}
	if ((rc = etcd_call(c, "/v3/kv/txn", req, diag, &reply)) != TANDEM_OK) {
		goto out;
	}
	if ((res = calloc(1, sizeof(*res))) == NULL ||
	    (res->reads = calloc(n, sizeof(*res->reads))) == NULL) {
		rc = TANDEM_ENOMEM;
		goto out;
	}
	rc = TANDEM_COORD_EPROTO;
	if (!js_object(reply, "header", &header) || header == NULL ||
	    !js_int64(header, "revision", &res->revision) || res->revision <= 0 ||
	    !js_bool(reply, "succeeded", &res->succeeded) || !res->succeeded ||
	    !js_array(reply, "responses", &resp) || resp == NULL || json_array_size(resp) != n) {
		tandem_diag_add(diag, rc, "%s/v3/kv/txn: malformed reply", c->endpoints[c->cur]);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *rr = NULL;
		coord_etcd_range_t *r = &res->reads[i];
		if (!json_is_object(json_array_get(resp, i)) ||
		    !js_object(json_array_get(resp, i), "response_range", &rr) || rr == NULL ||
		    range_parse(rr, r) != TANDEM_OK) {
			tandem_diag_add(diag, rc, "%s/v3/kv/txn: malformed reply",
					c->endpoints[c->cur]);
			goto out;
		}
		res->n_reads++;
		/* a read in a transaction carries no header of its own: the transaction's */
		r->revision = res->revision;
		if (r->n > 1 || (r->n == 1 && strcmp(r->kvs[0].key, keys[i]) != 0)) {
			tandem_diag_add(diag, rc, "%s/v3/kv/txn: reply for another key",
					c->endpoints[c->cur]);
			goto out;
		}
	}
	rc = TANDEM_OK;
	*out = res;
	res = NULL;
out:
	coord_etcd_txn_result_free(res);
	coord_etcd_txn_free(t);
	json_decref(req);
	json_decref(reply);
	return rc;
}

/* ---- leases
 * -------------------------------------------------------------------------------------- */

/* Sends {"ID": id, ...} style requests: {"<idname>": id} plus an optional TTL. */
static int lease_call(coord_etcd_t *c, const char *path, const char *idname, int64_t id,
		      int64_t ttl, tandem_diag_t *diag, json_t **out)
{
	int rc = TANDEM_OK;
	json_t *req = json_object();
	if (req == NULL || !jw_int64(req, idname, id) || (ttl > 0 && !jw_int64(req, "TTL", ttl))) {
		rc = TANDEM_ENOMEM;
		goto out;
	}
	rc = etcd_call(c, path, req, diag, out);
out:
	json_decref(req);
	return rc;
}

int coord_etcd_lease_grant(coord_etcd_t *c, int64_t ttl, tandem_diag_t *diag, int64_t *out_id,
			   int64_t *out_ttl)
{
	int rc = TANDEM_OK;
	json_t *reply = NULL;
	int64_t id = 0, granted = 0;
	if (c == NULL || out_id == NULL || out_ttl == NULL || ttl < 1 || ttl > 9000000000LL) {
		rc = TANDEM_EINVAL;
		goto out;
	}
	if ((rc = lease_call(c, "/v3/lease/grant", "ID", 0, ttl, diag, &reply)) != TANDEM_OK) {
		goto out;
	}
	if (!js_int64(reply, "ID", &id) || !js_int64(reply, "TTL", &granted) || id <= 0 ||
	    granted <= 0) {
		rc = TANDEM_COORD_EPROTO;
		tandem_diag_add(diag, rc, "%s/v3/lease/grant: malformed reply",
				c->endpoints[c->cur]);
		goto out;
	}
	*out_id = id;
	*out_ttl = granted;
out:
	json_decref(reply);
	return rc;
}

int coord_etcd_lease_keepalive(coord_etcd_t *c, int64_t id, tandem_diag_t *diag, int64_t *out_ttl)
{
	int rc = TANDEM_OK;
	json_t *reply = NULL, *result = NULL;
	int64_t rid = 0, ttl = 0;
	if (c == NULL || out_ttl == NULL || id <= 0) {
		rc = TANDEM_EINVAL;
		goto out;
	}
	/* a streaming call: the gateway sends one request and wraps the one reply in
	 * {"result": ...}; an expired lease comes back with no TTL (0) */
	if ((rc = lease_call(c, "/v3/lease/keepalive", "ID", id, 0, diag, &reply)) != TANDEM_OK) {
		goto out;
	}
	if (!js_object(reply, "result", &result) || result == NULL ||
	    !js_int64(result, "ID", &rid) || !js_int64(result, "TTL", &ttl) || rid != id) {
		rc = TANDEM_COORD_EPROTO;
		tandem_diag_add(diag, rc, "%s/v3/lease/keepalive: malformed reply",
				c->endpoints[c->cur]);
		goto out;
	}
	if (ttl <= 0) {
		rc = TANDEM_COORD_ELEASE;
		tandem_diag_add(diag, rc, "lease %" PRId64 " has expired or is unknown", id);
		goto out;
	}
	*out_ttl = ttl;
out:
	json_decref(reply);
	return rc;
}

int coord_etcd_lease_revoke(coord_etcd_t *c, int64_t id, tandem_diag_t *diag)
{
	int rc = TANDEM_OK;
	json_t *reply = NULL;
	if (c == NULL || id <= 0) {
		rc = TANDEM_EINVAL;
		goto out;
	}
	rc = lease_call(c, "/v3/lease/revoke", "ID", id, 0, diag, &reply);
out:
	json_decref(reply);
	return rc;
}

int coord_etcd_lease_ttl(coord_etcd_t *c, int64_t id, tandem_diag_t *diag, int64_t *out_ttl,
			 int64_t *out_granted)
{
	int rc = TANDEM_OK;
	json_t *reply = NULL;
	int64_t rid = 0, ttl = 0, granted = 0;
	if (c == NULL || out_ttl == NULL || out_granted == NULL || id <= 0) {
		rc = TANDEM_EINVAL;
		goto out;
	}
	if ((rc = lease_call(c, "/v3/lease/timetolive", "ID", id, 0, diag, &reply)) != TANDEM_OK) {
		goto out;
	}
	if (!js_int64(reply, "ID", &rid) || !js_int64(reply, "TTL", &ttl) ||
	    !js_int64(reply, "grantedTTL", &granted) || rid != id) {
		rc = TANDEM_COORD_EPROTO;
		tandem_diag_add(diag, rc, "%s/v3/lease/timetolive: malformed reply",
				c->endpoints[c->cur]);
		goto out;
	}
	/* an unknown lease answers TTL -1; one expiring this instant may show 0 */
	if (ttl <= 0) {
		rc = TANDEM_COORD_ELEASE;
		tandem_diag_add(diag, rc, "lease %" PRId64 " has expired or is unknown", id);
		goto out;
	}
	*out_ttl = ttl;
	*out_granted = granted;
out:
	json_decref(reply);
	return rc;
}

/* ---- cluster
 * --------------------------------------------------------------------------------------- */

void coord_etcd_members_free(coord_etcd_members_t *m)
{
	if (m == NULL) {
		return;
	}
	for (size_t i = 0; m->members != NULL && i < m->n; i++) {
		free(m->members[i].name);
		free(m->members[i].peer_urls);
		free(m->members[i].client_urls);
	}
	free(m->members);
	free(m);
}

static int members_parse(const json_t *j, coord_etcd_members_t *m)
{
	json_t *header = NULL, *arr = NULL;
	if (!js_object(j, "header", &header) || header == NULL ||
	    !js_uint64(header, "cluster_id", &m->cluster_id) ||
	    !js_uint64(header, "member_id", &m->member_id) || !js_array(j, "members", &arr) ||
	    arr == NULL || json_array_size(arr) == 0) {
		return TANDEM_COORD_EPROTO;
	}
	size_t n = json_array_size(arr);
	if ((m->members = calloc(n, sizeof(*m->members))) == NULL) {
		return TANDEM_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(arr, i);
		coord_etcd_member_t *mb = &m->members[i];
		if (!json_is_object(e)) {
			return TANDEM_COORD_EPROTO;
		}
		m->n++;
		int rc = js_strdup(e, "name", &mb->name);
		if (rc == TANDEM_OK) {
			rc = js_strjoin(e, "peerURLs", ",", &mb->peer_urls);
		}
		if (rc == TANDEM_OK) {
			rc = js_strjoin(e, "clientURLs", ",", &mb->client_urls);
		}
		if (rc != TANDEM_OK) {
			return rc;
		}
		if (!js_uint64(e, "ID", &mb->id) || mb->id == 0 ||
		    !js_bool(e, "isLearner", &mb->learner)) {
			return TANDEM_COORD_EPROTO;
		}
	}
	return TANDEM_OK;
}

int coord_etcd_member_list(coord_etcd_t *c, tandem_diag_t *diag, coord_etcd_members_t **out)
{
	int rc = TANDEM_OK;
	json_t *req = NULL, *reply = NULL;
	coord_etcd_members_t *m = NULL;
	if (c == NULL || out == NULL) {
		rc = TANDEM_EINVAL;
		goto out;
	}
	if ((req = json_object()) == NULL) {
		rc = TANDEM_ENOMEM;
		goto out;
	}
	if ((rc = etcd_call(c, "/v3/cluster/member/list", req, diag, &reply)) != TANDEM_OK) {
		goto out;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		rc = TANDEM_ENOMEM;
		goto out;
	}
	if ((rc = members_parse(reply, m)) != TANDEM_OK) {
		tandem_diag_add(diag, rc, "%s/v3/cluster/member/list: malformed reply",
				c->endpoints[c->cur]);
		goto out;
	}
	*out = m;
	m = NULL;
out:
	coord_etcd_members_free(m);
	json_decref(req);
	json_decref(reply);
	return rc;
}

/* GET /health on endpoint i: true only for {"health":"true"}. */
static bool endpoint_healthy(coord_etcd_t *c, size_t i)
{
	reply_buf_t b = {.max = 64 * 1024};
	long status = 0;
	json_t *j = NULL;
	bool ok = false;
	if (http_do(c, i, "/health", NULL, c->timeout_ms, &b, &status) == CURLE_OK &&
	    (j = reply_parse(&b)) != NULL) {
		const json_t *h = json_object_get(j, "health");
		ok =
		    status == 200 && json_is_string(h) && strcmp(json_string_value(h), "true") == 0;
	}
	json_decref(j);
	free(b.data);
	return ok;
}

int coord_etcd_endpoint_status(coord_etcd_t *c, size_t i, tandem_diag_t *diag,
			       coord_etcd_status_t *out)
{
	int rc = TANDEM_OK;
	json_t *reply = NULL, *header = NULL, *errs = NULL;
	coord_etcd_status_t st;
	memset(&st, 0, sizeof(st));
	if (c == NULL || out == NULL || i >= c->n) {
		rc = TANDEM_EINVAL;
		goto out;
	}
	rc = etcd_post(c, i, "/v3/maintenance/status", "{}", c->timeout_ms, diag, &reply);
	if (rc != TANDEM_OK) {
		if (rc == TANDEM_COORD_ENOQUORUM) {
			rc =
			    TANDEM_COORD_EUNAVAIL; /* status is local: silence is not quorum loss */
		}
		goto out;
	}
	const json_t *ver = json_object_get(reply, "version");
	if (!js_object(reply, "header", &header) || header == NULL ||
	    !js_uint64(header, "member_id", &st.member_id) ||
	    !js_uint64(reply, "leader", &st.leader) ||
	    !js_int64(reply, "raftTerm", &st.raft_term) ||
	    !js_int64(reply, "raftIndex", &st.raft_index) ||
	    !js_int64(reply, "raftAppliedIndex", &st.raft_applied_index) ||
	    !js_int64(reply, "dbSize", &st.db_size) || !json_is_string(ver) ||
	    !js_array(reply, "errors", &errs)) {
		rc = TANDEM_COORD_EPROTO;
		tandem_diag_add(diag, rc, "%s/v3/maintenance/status: malformed reply",
				c->endpoints[i]);
		goto out;
	}
	text_clean(json_string_value(ver), json_string_length(ver), st.version, sizeof(st.version));
	for (size_t k = 0; errs != NULL && k < json_array_size(errs); k++) {
		const json_t *e = json_array_get(errs, k);
		char text[MSG_MAX];
		if (!json_is_string(e)) {
			continue;
		}
		text_clean(json_string_value(e), json_string_length(e), text, sizeof(text));
		size_t used = strlen(st.errors);
		snprintf(st.errors + used, sizeof(st.errors) - used, "%s%s", used ? "; " : "",
			 text);
	}
	st.healthy = endpoint_healthy(c, i);
	*out = st;
out:
	json_decref(reply);
	return rc;
}
