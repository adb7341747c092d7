/* Prometheus metrics: the text exposition (a builder) and its HTTP endpoint (libmicrohttpd). */
#ifndef METRICS_H
#define METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A daemon renders its metrics from its own state, on its own thread, into a builder, and
 * hands the text to the server, which serves the last text it was given on GET /metrics
 * (text format 0.0.4) from libmicrohttpd's thread. The daemon's state is never read by the
 * server's thread; a render callback may add what is measured at scrape time (it runs on
 * the server's thread and must only touch what it owns).
 */

/* ---- the exposition text ---- */

typedef struct metrics_buf {
	char *data;
	size_t len, cap;
	bool failed; /* out of memory at some point: the text is incomplete */
} metrics_buf_t;

typedef enum {
	METRICS_GAUGE = 0,
	METRICS_COUNTER,
	METRICS_HISTOGRAM,
} metrics_type_t;

/* The HELP and TYPE lines of a family; name must be a valid metric name. */
void metrics_family(metrics_buf_t *b, const char *name, metrics_type_t type, const char *help);

/*
 * One sample: name{labels} value. labels is NULL or pairs of (name, value) strings ending
 * with NULL, e.g. (const char *[]){"zone", "example.", NULL}: values are escaped (\\, ",
 * newline) as the format asks.
 */
void metrics_sample(metrics_buf_t *b, const char *name, const char *const *labels, double value);

/* A histogram's buckets, sum and count: bounds ascending, counts[i] observations <= bounds[i]
 * (not cumulative; the +Inf bucket is count). */
#define METRICS_BUCKETS_MAX 16
typedef struct metrics_histogram {
	size_t n;
	double bounds[METRICS_BUCKETS_MAX];
	uint64_t counts[METRICS_BUCKETS_MAX];
	uint64_t count;
	double sum;
} metrics_histogram_t;

/* Sets the bounds (at most METRICS_BUCKETS_MAX, ascending) and zeroes the counts. */
void metrics_histogram_init(metrics_histogram_t *h, const double *bounds, size_t n);
/* Counts one observation. */
void metrics_histogram_observe(metrics_histogram_t *h, double v);
/* Writes name_bucket{labels,le=...}, name_sum and name_count. */
void metrics_histogram_write(metrics_buf_t *b, const char *name, const char *const *labels,
			     const metrics_histogram_t *h);

/* Frees the text and empties the builder. */
void metrics_buf_free(metrics_buf_t *b);

/* ---- the HTTP endpoint ---- */

typedef struct metrics_server metrics_server_t;

/* Called on the server's thread for each scrape, after the daemon's text: adds samples
 * measured then (e.g. probing etcd members). May be NULL. */
typedef void (*metrics_scrape_fn)(void *ctx, metrics_buf_t *b);

/*
 * Starts serving on addr "HOST:PORT" (an IPv4 or IPv6 literal, "[::1]:PORT" for IPv6; port
 * 0 picks a free one). Only GET /metrics is answered (404 otherwise).
 * Errors: TANDEM_EINVAL (a bad address, *why says), TANDEM_EIO (cannot listen there).
 */
int metrics_server_start(const char *addr, metrics_scrape_fn scrape, void *ctx,
			 metrics_server_t **out, const char **why);

/* The port it listens on. */
uint16_t metrics_server_port(const metrics_server_t *s);

/* "HOST:PORT" as it listens (the port picked for 0), borrowed. */
const char *metrics_server_address(const metrics_server_t *s);

/* Replaces the text served with b's (taken: b is emptied). */
void metrics_server_publish_take(metrics_server_t *s, metrics_buf_t *b);

/* Stops serving and frees; NULL-safe. */
void metrics_server_stop(metrics_server_t *s);

#endif
