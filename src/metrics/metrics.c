/* The Prometheus text exposition format (0.0.4): families, samples, label escaping, histograms. */
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void buf_grow(metrics_buf_t *b, size_t need)
{
	if (b->failed || b->len + need + 1 <= b->cap) {
		return;
	}
	size_t cap = b->cap > 0 ? b->cap : 4096;
	while (cap < b->len + need + 1) {
		cap *= 2;
	}
	char *p = realloc(b->data, cap);
	if (p == NULL) {
		b->failed = true;
		return;
	}
	b->data = p;
	b->cap = cap;
}

static void buf_put(metrics_buf_t *b, const char *s, size_t n)
{
	buf_grow(b, n);
	if (b->failed) {
		return;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void buf_str(metrics_buf_t *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void buf_printf(metrics_buf_t *b, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0) {
		buf_put(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	}
}

/* HELP text escapes backslash and newline; label values also the double quote. */
static void buf_escaped(metrics_buf_t *b, const char *s, bool quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\') {
			buf_str(b, "\\\\");
		} else if (*s == '\n') {
			buf_str(b, "\\n");
		} else if (quote && *s == '"') {
			buf_str(b, "\\\"");
		} else {
			buf_put(b, s, 1);
		}
	}
}

static void buf_value(metrics_buf_t *b, double v)
{
	if (isnan(v)) {
		buf_str(b, "NaN");
	} else if (isinf(v)) {
		buf_str(b, v > 0 ? "+Inf" : "-Inf");
	} else if (v == floor(v) && fabs(v) < 1e15) {
		buf_printf(b, "%.0f", v);
	} else {
		buf_printf(b, "%.9g", v);
	}
}

void metrics_family(metrics_buf_t *b, const char *name, metrics_type_t type, const char *help)
{
	static const char *const types[] = {"gauge", "counter", "histogram"};
	buf_str(b, "# HELP ");
	buf_str(b, name);
	buf_str(b, " ");
	buf_escaped(b, help, false);
	buf_str(b, "\n# TYPE ");
	buf_str(b, name);
	buf_str(b, " ");
	buf_str(b, types[type]);
	buf_str(b, "\n");
}

/* name{l1="v1",...,extra="xv"} */
static void sample_head(metrics_buf_t *b, const char *name, const char *const *labels,
			const char *extra, const char *extra_value)
{
	bool any = false;
	buf_str(b, name);
	for (size_t i = 0; labels != NULL && labels[i] != NULL && labels[i + 1] != NULL; i += 2) {
		buf_str(b, any ? "," : "{");
		buf_str(b, labels[i]);
		buf_str(b, "=\"");
		buf_escaped(b, labels[i + 1], true);
		buf_str(b, "\"");
		any = true;
	}
	if (extra != NULL) {
		buf_str(b, any ? "," : "{");
		buf_str(b, extra);
		buf_str(b, "=\"");
		buf_str(b, extra_value);
		buf_str(b, "\"");
		any = true;
	}
	if (any) {
		buf_str(b, "}");
	}
	buf_str(b, " ");
}

void metrics_sample(metrics_buf_t *b, const char *name, const char *const *labels, double value)
{
	sample_head(b, name, labels, NULL, NULL);
	buf_value(b, value);
	buf_str(b, "\n");
}

void metrics_histogram_init(metrics_histogram_t *h, const double *bounds, size_t n)
{
	memset(h, 0, sizeof(*h));
	h->n = n < METRICS_BUCKETS_MAX ? n : METRICS_BUCKETS_MAX;
	memcpy(h->bounds, bounds, h->n * sizeof(double));
}

void metrics_histogram_observe(metrics_histogram_t *h, double v)
{
	for (size_t i = 0; i < h->n; i++) {
		if (v <= h->bounds[i]) {
			h->counts[i]++;
			break;
		}
	}
	h->count++;
	h->sum += v;
}

void metrics_histogram_write(metrics_buf_t *b, const char *name, const char *const *labels,
			     const metrics_histogram_t *h)
{
	char series[128], le[32];
	uint64_t cum = 0;
	snprintf(series, sizeof(series), "%s_bucket", name);
	for (size_t i = 0; i < h->n; i++) {
		cum += h->counts[i];
		snprintf(le, sizeof(le), "%g", h->bounds[i]);
		sample_head(b, series, labels, "le", le);
		buf_value(b, (double)cum);
		buf_str(b, "\n");
	}
	sample_head(b, series, labels, "le", "+Inf");
	buf_value(b, (double)h->count);
	buf_str(b, "\n");
	snprintf(series, sizeof(series), "%s_sum", name);
	metrics_sample(b, series, labels, h->sum);
	snprintf(series, sizeof(series), "%s_count", name);
	metrics_sample(b, series, labels, (double)h->count);
}

void metrics_buf_free(metrics_buf_t *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}
