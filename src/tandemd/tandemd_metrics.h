/* tandemd's Prometheus metrics: the node and its zones, rendered from a plain snapshot. */
#ifndef TANDEMD_METRICS_H
#define TANDEMD_METRICS_H

#include "dist_xfrin.h"
#include "metrics.h"
#include "tandemd_alert.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One zone as the node sees it (borrowed pointers, valid for the call). */
typedef struct tdm_metrics_zone {
	const char *name;
	bool has_serial;
	uint32_t serial;      /* the last serial this node published */
	bool active;          /* it holds the zone's lease */
	uint64_t epoch;       /* the lease epoch it holds or last held */
	double last_publish;  /* UNIX seconds of its last publication, 0: none */
	bool input_bad;       /* the input is missing, refused, held or stalled */
	bool has_expiry;      /* what it published holds RRSIGs: */
	double expiry_in;     /* seconds until the earliest of them expires (negative: expired) */
	const uint64_t *sigs; /* RRSIGs of its runs: new, reused, refreshed (3 counters) */
	const metrics_histogram_t *runs; /* durations of its signing and shadow runs */
	bool xfrin;                      /* its input comes by transfer (--primary): */
	dist_xfrin_status_t xin;         /* the transfers' state */
} tdm_metrics_zone_t;

/* The most secondaries the metrics list (over every zone). */
#define TDM_METRICS_SECONDARIES_MAX 64

/* A secondary's answer to the node's SOA query (borrowed strings). */
typedef struct tdm_metrics_secondary {
	const char *zone;
	const char *name; /* ADDR:PORT */
	uint32_t serial;
} tdm_metrics_secondary_t;

/* The node (borrowed pointers, valid for the call). */
typedef struct tdm_metrics_node {
	const char *node;
	bool healthy;
	uint64_t hsm_errors;   /* runs or checks that failed in the HSM */
	unsigned hsm_sessions; /* sessions open on the token (0 while it does not answer) */
	uint64_t runs_failed;  /* signing or shadow runs that failed */
	const tdm_alerts_t *alerts;
	size_t nzones;
	const tdm_metrics_zone_t *zones;
	size_t nsecondaries;
	const tdm_metrics_secondary_t *secondaries;
	const metrics_histogram_t *coord_calls; /* each coordinator call, failover included */
} tdm_metrics_node_t;

/* The run-duration buckets, in seconds. */
extern const double tdm_metrics_run_buckets[];
extern const size_t tdm_metrics_run_nbuckets;
/* The coordinator-call buckets, in seconds. */
extern const double tdm_metrics_call_buckets[];
extern const size_t tdm_metrics_call_nbuckets;

/* Writes every family of the node into b (docs/monitoring.md lists them). */
void tdm_metrics_render(const tdm_metrics_node_t *n, metrics_buf_t *b);

#endif
