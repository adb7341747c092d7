/* The audit sink: programs and the coordinator record auditable events through one callback. */
#ifndef TANDEM_AUDIT_H
#define TANDEM_AUDIT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Libraries never write audit entries (STYLE rule 12): they return what happened, and
 * the daemon or CLI that decided it describes the event to the sink it was given. The
 * coordinator's sink appends to the hash-chained log in etcd (src/audit); a test's sink
 * may collect events in memory. A NULL sink, or one without emit, drops the event.
 */
typedef enum {
	TANDEM_AUDIT_INFO = 0, /* routine: a lease granted, a key imported */
	TANDEM_AUDIT_NOTICE,   /* an operator's decision, an approval, a rollover step */
	TANDEM_AUDIT_WARNING,  /* refused commands, held inputs, gate failures */
	TANDEM_AUDIT_CRITICAL, /* emergencies, fencing, digest mismatches, HSM errors */
} tandem_audit_level_t;

typedef struct tandem_audit_event {
	const char *type; /* dotted, stable: "key.generate", "lease.grant", "request.approve" */
	tandem_audit_level_t level;
	const char *actor;   /* who caused it: "operator:sa1", "node:node-a", "coord:coord-a" */
	const char *zone;    /* the zone it concerns, or NULL */
	int64_t key_id;      /* the key it concerns, or -1 */
	const char *details; /* free text (one line, escaped by the writer), or NULL */
} tandem_audit_event_t;

typedef struct tandem_audit_sink {
	/* Records ev; ev and its strings are borrowed for the call only. */
	void (*emit)(void *ctx, const tandem_audit_event_t *ev);
	void *ctx;
} tandem_audit_sink_t;

/* Hands ev to sink (nothing when sink or its emit is NULL). */
static inline void tandem_audit(const tandem_audit_sink_t *sink, const tandem_audit_event_t *ev)
{
	if (sink != NULL && sink->emit != NULL && ev != NULL)
		sink->emit(sink->ctx, ev);
}

#endif
