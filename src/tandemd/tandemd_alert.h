/* tandemd's alerts: what keeps the node or one of its zones from signing, as the node
 * reports it to the coordinator (status) and logs it once per change. */
#ifndef TANDEMD_ALERT_H
#define TANDEMD_ALERT_H

#include "coord_state.h"

#include <stdbool.h>
#include <stddef.h>

#define TDM_ALERTS_MAX     16 /* alerts held at once; more are dropped (the oldest stays) */
#define TDM_ALERT_KIND_MAX 24

/* One alert: a node-wide one has zone "". */
typedef struct tdm_alert {
	char zone[COORD_ZONE_MAX];
	char kind[TDM_ALERT_KIND_MAX]; /* "hsm", "input-missing", "input-refused", "input-held",
					  "run-overrun", "disk", "skr", "lock", ... */
	char text[COORD_TEXT_MAX];     /* the reason */
	bool blocking;                 /* the node cannot sign the zone (or any zone, for "") */
} tdm_alert_t;

/* The node's current alerts, a plain value. Zero it to start with none. */
typedef struct tdm_alerts {
	size_t n;
	tdm_alert_t a[TDM_ALERTS_MAX];
} tdm_alerts_t;

/*
 * Raises the alert (zone, kind), or updates its text and blocking flag. Returns true
 * when it is new or changed (the caller logs it then, so each change is said once),
 * false when it was already raised as it is, or the table is full.
 */
__attribute__((format(printf, 5, 6))) bool tdm_alerts_raise(tdm_alerts_t *s, const char *zone,
							    const char *kind, bool blocking,
							    const char *fmt, ...);

/* Clears the alert (zone, kind). Returns true when it was raised. */
bool tdm_alerts_clear(tdm_alerts_t *s, const char *zone, const char *kind);

/* The alert (zone, kind), or NULL. */
const tdm_alert_t *tdm_alerts_find(const tdm_alerts_t *s, const char *zone, const char *kind);

/* Whether a blocking alert stops the zone: one of its own, or a node-wide one. */
bool tdm_alerts_blocking(const tdm_alerts_t *s, const char *zone);

/* Whether a node-wide blocking alert is raised (the node reports itself unhealthy). */
bool tdm_alerts_node_blocked(const tdm_alerts_t *s);

#endif
