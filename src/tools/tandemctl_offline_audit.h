/* tandemctl's offline audit file: the events of commands that run without a coordinator
 * (keys archive-export, keys ... --state), chained locally, imported into the cluster's log
 * later (tandemctl audit import-offline; docs/audit.md, "Offline events"). */
#ifndef TANDEMCTL_OFFLINE_AUDIT_H
#define TANDEMCTL_OFFLINE_AUDIT_H

#include "tandem_audit.h"

#include <stdbool.h>
#include <stddef.h>

/* The coordinator name the offline entries carry. */
#define OFFLINE_AUDIT_COORD "offline"
/* The file's name beside a key state (DIR/audit-offline.jsonl) or an export. */
#define OFFLINE_AUDIT_NAME "audit-offline.jsonl"

/*
 * The offline audit file for a command: path when given (--audit-file), else
 * OFFLINE_AUDIT_NAME in dir (the --state directory), else beside file (an export's --out).
 * Into out (size); false when it does not fit.
 */
bool offline_audit_path(const char *path, const char *dir, const char *file, char *out,
			size_t size);

/*
 * Checks that the file at path can take entries: absent, or a chain that verifies from
 * entry 1, mode 0600 (nobody else may read or write it). why says what is wrong.
 * Errors: TANDEM_EPERM (loose mode), TANDEM_ESYNTAX (not a chain that verifies),
 * TANDEM_EIO.
 */
int offline_audit_check(const char *path, char *why, size_t size);

/*
 * Appends the events (each chained after the file's last entry, stamped now, coord
 * OFFLINE_AUDIT_COORD) to the file, creating it 0600; the file is locked meanwhile,
 * fsync'd after. Errors: as offline_audit_check, TANDEM_ENOMEM.
 */
int offline_audit_append(const char *path, const tandem_audit_event_t *evs, size_t n, char *why,
			 size_t size);

/* The actor of this process's events: "offline:USER" (the login name) into out. */
void offline_audit_actor(char *out, size_t size);

#endif
