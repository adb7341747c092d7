/* tandem-coord: offline audit files (tandemctl keys ... --state, archive-export) imported
 * into the cluster's chain (docs/audit.md, "Offline events"). */
#ifndef COORDD_OFFLINE_H
#define COORDD_OFFLINE_H

#include "coordd_request.h"

#include <stdbool.h>
#include <stddef.h>

/* Whether a document sent for import is an offline audit file (its first line an entry),
 * not a ceremony record. */
bool coordd_offline_is(const uint8_t *doc, size_t len);

/*
 * Imports an offline audit file: its chain must verify from entry 1 and every entry be
 * written offline; entries already imported from the same chain (known by its first
 * entry's hash, PREFIX/audit-offline) are skipped, and the file must continue them. Each
 * new entry is added to the cluster's chain (its type, level, actor, zone and key; the
 * details say the offline seq and time), then one audit.offline-import entry with the
 * file's chain head. A refusal is audited (audit.offline-refuse) and is dec's text.
 * Errors: the store's (error says which), TANDEM_ENOMEM.
 */
int coordd_offline_import(coordd_requests_t *c, const char *peer, const uint8_t *doc, size_t len,
			  coordrpc_decision_t *dec, char *error, size_t esize);

#endif
