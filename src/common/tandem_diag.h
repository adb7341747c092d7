/* Diagnostics: libraries record what went wrong and where; callers print it. */
#ifndef TANDEM_DIAG_H
#define TANDEM_DIAG_H

#include <stddef.h>

/*
 * A thread-safe list of messages ("file:line: reason", "owner/TYPE: reason").
 * Libraries never log (STYLE rule 12): they add to a diag the caller passed,
 * and the daemon or CLI decides what to print. At most TANDEM_DIAG_KEEP
 * messages are kept; every message is counted.
 */
#define TANDEM_DIAG_KEEP 1000

typedef struct tandem_diag tandem_diag_t;

/* Creates an empty diag. Errors: TANDEM_ENOMEM. */
int tandem_diag_new(tandem_diag_t **out);
/* Frees the diag; NULL-safe. */
void tandem_diag_free(tandem_diag_t *diag);
/* Appends one message with its error code; a NULL diag is ignored. */
void tandem_diag_add(tandem_diag_t *diag, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Number of messages added (kept or not). */
size_t tandem_diag_count(const tandem_diag_t *diag);
/* Number of messages kept (at most TANDEM_DIAG_KEEP). */
size_t tandem_diag_kept(const tandem_diag_t *diag);
/* Message i (borrowed, valid until the diag is freed or cleared), or NULL. */
const char *tandem_diag_msg(const tandem_diag_t *diag, size_t i);
/* Error code of message i, or TANDEM_OK when out of range. */
int tandem_diag_code(const tandem_diag_t *diag, size_t i);
/* Drops every message. */
void tandem_diag_clear(tandem_diag_t *diag);

#endif
