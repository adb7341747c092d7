/* tandemd's signed-zone files, written off the cycle: one thread writes each zone's newest
 * kept version atomically (temporary file, fsync, rename), never holding back a run. */
#ifndef TANDEMD_WRITER_H
#define TANDEMD_WRITER_H

#include "dns_zone.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tdm_writer tdm_writer_t;

/* Drops what the caller handed over with tdm_writer_release (NULL at tdm_writer_new: the
 * zone itself, freed with dns_zone_free). */
typedef void (*tdm_writer_drop_fn)(void *owner);

/* What a zone's slot did last, a plain value. */
typedef struct tdm_writer_state {
	bool busy;                 /* a write is under way, or one is waiting */
	const dns_zone_t *writing; /* the zone being written now (its delay included), or NULL */
	uint64_t done;       /* writes ended so far (well or not): a change says "look again" */
	bool ok;             /* the last write ended well: */
	uint32_t serial;     /* the serial it wrote, or failed to write */
	int err;             /* the failure's errno (ENOSPC ...), 0 when ok */
	char path[PATH_MAX]; /* the file it wrote, or failed to write */
	double seconds;      /* how long the last write took */
} tdm_writer_state_t;

/*
 * Starts the writer's thread for nslots zones. Each write waits delay_ms first (test-only:
 * TANDEMD_TEST_WRITE_DELAY_MS, so that a test can kill the node between a publication and
 * its file; 0 in service). The thread runs at a lower priority than the runs (nice +5).
 * Errors: TANDEM_EINVAL, TANDEM_ENOMEM (no memory or thread).
 */
int tdm_writer_new(size_t nslots, uint64_t delay_ms, tdm_writer_drop_fn drop, tdm_writer_t **out);

/*
 * Asks for zone (borrowed: it stays alive and unchanged until tdm_writer_release) to be
 * written to path as slot's file. A request still waiting is replaced: the newest wins, a
 * write under way is finished first.
 */
void tdm_writer_submit(tdm_writer_t *w, size_t slot, const char *path, const dns_zone_t *zone,
		       uint32_t serial);

/*
 * The caller is about to drop owner, what keeps zone alive (the zone itself, or a reference
 * holding it). Returns true when the writer is writing zone now: the writer takes owner over
 * (and drops it when done, with the drop function); false: the caller drops it (a request for
 * zone still waiting is dropped).
 */
bool tdm_writer_release(tdm_writer_t *w, size_t slot, const dns_zone_t *zone, void *owner);

/* The slot's state. */
void tdm_writer_get(tdm_writer_t *w, size_t slot, tdm_writer_state_t *out);

/* Waits (at most wait_ms) for the writes under way and waiting to end, then stops the
 * thread and frees the writer. Returns false when the thread was still writing: it is left
 * behind, the writer not freed, and the zones it borrows must not be freed either. */
bool tdm_writer_free(tdm_writer_t *w, uint64_t wait_ms);

/* Writes zone to path now, on the caller's thread: a temporary file beside it, written,
 * fsync'ed, renamed (nothing half-written is ever left). Returns 0 or the errno. */
int tdm_writer_write_file(const dns_zone_t *zone, const char *path);

#endif
