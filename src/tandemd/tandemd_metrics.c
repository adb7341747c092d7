/* tandemd's metrics families, one group of samples each, from tdm_metrics_node_t. */
#include "tandemd_metrics.h"

#include <stdio.h>
#include <string.h>

const double tdm_metrics_run_buckets[] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900};
const size_t tdm_metrics_run_nbuckets =
    sizeof(tdm_metrics_run_buckets) / sizeof(tdm_metrics_run_buckets[0]);
const double tdm_metrics_call_buckets[] = {0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
					   0.25,  0.5,   1,    2.5,  10};
const size_t tdm_metrics_call_nbuckets =
    sizeof(tdm_metrics_call_buckets) / sizeof(tdm_metrics_call_buckets[0]);

/* the zone families: which value each writes */
enum { Z_SERIAL, Z_ROLE, Z_EPOCH, Z_PUBLISHED, Z_INPUT, Z_EXPIRY, Z_COUNT };

static void zone_family(const tdm_metrics_node_t *n, metrics_buf_t *b, int which)
{
	static const struct {
		const char *name, *help;
	} fam[Z_COUNT] = {
	    [Z_SERIAL] = {"tandem_zone_serial", "the last SOA serial this node published"},
	    [Z_ROLE] = {"tandem_zone_role", "1 while this node is the zone's active (lease "
					    "holder), 0 as standby"},
	    [Z_EPOCH] = {"tandem_zone_lease_epoch", "the lease epoch this node holds or last held"},
	    [Z_PUBLISHED] = {"tandem_zone_last_publish_timestamp_seconds",
			     "when this node last published the zone (UNIX time)"},
	    [Z_INPUT] = {"tandem_zone_input_held",
			 "1 while the zone's input is missing, refused, held or stalled (the last "
			 "good version is signed)"},
	    [Z_EXPIRY] = {"tandem_zone_rrsig_expiry_earliest_seconds",
			  "seconds until the earliest RRSIG in what this node last published "
			  "expires"},
	};
	metrics_family(b, fam[which].name, METRICS_GAUGE, fam[which].help);
	for (size_t i = 0; i < n->nzones; i++) {
		const tdm_metrics_zone_t *z = &n->zones[i];
		const char *zl[] = {"zone", z->name, NULL};
		switch (which) {
		case Z_SERIAL:
			if (z->has_serial) {
				metrics_sample(b, fam[which].name, zl, z->serial);
			}
			break;
		case Z_ROLE: metrics_sample(b, fam[which].name, zl, z->active); break;
		case Z_EPOCH: metrics_sample(b, fam[which].name, zl, (double)z->epoch); break;
		case Z_PUBLISHED:
			if (z->last_publish > 0) {
				metrics_sample(b, fam[which].name, zl, z->last_publish);
			}
			break;
		case Z_EXPIRY:
			if (z->has_expiry) {
				metrics_sample(b, fam[which].name, zl, z->expiry_in);
			}
			break;
		default: metrics_sample(b, fam[which].name, zl, z->input_bad); break;
		}
	}
}

void tdm_metrics_render(const tdm_metrics_node_t *n, metrics_buf_t *b)
{
	metrics_family(b, "tandem_node_info", METRICS_GAUGE, "this signing node, always 1");
	metrics_sample(b, "tandem_node_info", (const char *[]){"node", n->node, NULL}, 1);
	metrics_family(b, "tandem_healthy", METRICS_GAUGE,
		       "1 while the node can sign: its token answers and no node-wide alert "
		       "blocks it");
	metrics_sample(b, "tandem_healthy", NULL, n->healthy);
	metrics_family(b, "tandem_hsm_errors_total", METRICS_COUNTER,
		       "signing runs and checks that failed in the HSM");
	metrics_sample(b, "tandem_hsm_errors_total", NULL, (double)n->hsm_errors);
	metrics_family(b, "tandem_hsm_sessions", METRICS_GAUGE,
		       "PKCS#11 sessions open on the node's token");
	metrics_sample(b, "tandem_hsm_sessions", NULL, n->hsm_sessions);
	metrics_family(b, "tandem_runs_failed_total", METRICS_COUNTER,
		       "signing and shadow runs that failed (input, HSM, gate, disk)");
	metrics_sample(b, "tandem_runs_failed_total", NULL, (double)n->runs_failed);
	metrics_family(b, "tandem_alert", METRICS_GAUGE,
		       "1 for each alert the node raises, by zone (\"\": node-wide) and reason");
	for (size_t i = 0; n->alerts != NULL && i < n->alerts->n; i++) {
		const tdm_alert_t *a = &n->alerts->a[i];
		metrics_sample(b, "tandem_alert",
			       (const char *[]){"zone", a->zone, "reason", a->kind, "blocking",
						a->blocking ? "true" : "false", NULL},
			       1);
	}
	for (int f = 0; f < Z_COUNT; f++) {
		zone_family(n, b, f);
	}
	/* new: the RRset changed or was not signed before; reused: kept from the previous
	 * version; refreshed: made again because due (docs/monitoring.md) */
	metrics_family(b, "tandem_zone_signatures_total", METRICS_COUNTER,
		       "RRSIGs this node's runs made, by kind");
	for (size_t i = 0; i < n->nzones; i++) {
		static const char *const kinds[] = {"new", "reused", "refreshed"};
		for (size_t k = 0; k < 3; k++) {
			metrics_sample(
			    b, "tandem_zone_signatures_total",
			    (const char *[]){"zone", n->zones[i].name, "kind", kinds[k], NULL},
			    n->zones[i].sigs != NULL ? (double)n->zones[i].sigs[k] : 0);
		}
	}
	metrics_family(b, "tandem_xfrin_refused_total", METRICS_COUNTER,
		       "transfers in and NOTIFYs refused, by reason (zones with a --primary)");
	for (size_t i = 0; i < n->nzones; i++) {
		for (int r = 0; n->zones[i].xfrin && r < DIST_XFRIN_NREASONS; r++) {
			metrics_sample(b, "tandem_xfrin_refused_total",
				       (const char *[]){"zone", n->zones[i].name, "reason",
							dist_xfrin_reason_name(r), NULL},
				       (double)n->zones[i].xin.refused[r]);
		}
	}
	metrics_family(b, "tandem_xfrin_transfers_total", METRICS_COUNTER,
		       "transfers in written to the zone's input file");
	for (size_t i = 0; i < n->nzones; i++) {
		if (n->zones[i].xfrin) {
			metrics_sample(b, "tandem_xfrin_transfers_total",
				       (const char *[]){"zone", n->zones[i].name, NULL},
				       (double)n->zones[i].xin.transfers);
		}
	}
	metrics_family(b, "tandem_secondary_serial", METRICS_GAUGE,
		       "the serial each --notify secondary last answered to this node's SOA query");
	for (size_t i = 0; i < n->nsecondaries; i++) {
		const tdm_metrics_secondary_t *s = &n->secondaries[i];
		metrics_sample(b, "tandem_secondary_serial",
			       (const char *[]){"zone", s->zone, "secondary", s->name, NULL},
			       s->serial);
	}
	if (n->coord_calls != NULL) {
		metrics_family(b, "tandem_coord_call_duration_seconds", METRICS_HISTOGRAM,
			       "time of each call to the coordinators (status, decisions, reads), "
			       "from the request to its answer, failover to another included");
		metrics_histogram_write(b, "tandem_coord_call_duration_seconds", NULL,
					n->coord_calls);
	}
	metrics_family(b, "tandem_zone_run_duration_seconds", METRICS_HISTOGRAM,
		       "time of each signing run (active) and shadow run (standby)");
	for (size_t i = 0; i < n->nzones; i++) {
		if (n->zones[i].runs != NULL) {
			metrics_histogram_write(b, "tandem_zone_run_duration_seconds",
						(const char *[]){"zone", n->zones[i].name, NULL},
						n->zones[i].runs);
		}
	}
}
