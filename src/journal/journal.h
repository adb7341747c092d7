/* A zone's journal: an append-only file of changesets (serial from -> to), what IXFR serves. */
#ifndef JOURNAL_H
#define JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns_diff.h"
#include "tandem_diag.h"

/*
 * File format (docs/node.md, "Journal"), all integers big-endian:
 *
 *   header  "TDMJRNL" 0x00 | u32 version (1) | u32 0            16 bytes
 *   entry   u32 n | payload (n bytes) | SHA-256(u32 n | payload)  n + 36 bytes
 *   payload u32 serial_from | u32 serial_to | u32 removed | u32 added |
 *           RR old SOA | removed RRs | RR new SOA | added RRs
 *   RR      owner (wire) | u16 type | u16 class | u32 TTL | u16 RDLENGTH | RDATA
 *
 * Each entry starts at the serial the previous one ends at. An entry is appended
 * and fsync'ed before journal_append returns, so a crash can only leave a torn
 * tail: an entry the file ends inside of, or zeros (a file system that extended the
 * file but never wrote it). Opening cuts such a tail (journal_cut_bytes says how
 * much). A complete entry whose checksum does not match, or that does not follow
 * the previous one, is corruption: opening refuses the file and says which entry.
 *
 * One journal is used by one thread at a time.
 */

typedef struct journal journal_t;

/*
 * Opens (creating when missing, with its header, fsync'ed) the journal at path, reads
 * every entry's header and checks every checksum. Errors: TANDEM_JOURNAL_ECORRUPT
 * ("PATH: entry N at offset O: reason" in diag), TANDEM_JOURNAL_EVERSION (not a
 * journal, or another version), TANDEM_EIO (with errno's text in diag), TANDEM_ENOMEM,
 * TANDEM_EINVAL. *out set only on success.
 */
int journal_open(const char *path, tandem_diag_t *diag, journal_t **out);

/* Closes the journal; NULL-safe. */
void journal_close(journal_t *j);

/* Bytes of a torn tail that opening cut off (0: none). */
size_t journal_cut_bytes(const journal_t *j);

/* Entries in the journal. */
size_t journal_count(const journal_t *j);

/* Bytes of the file, header included. */
uint64_t journal_bytes(const journal_t *j);

/* The serial the oldest entry starts from (first) and the newest ends at (!first);
 * false when the journal is empty. */
bool journal_serial(const journal_t *j, bool first, uint32_t *out);

/* The bytes cs takes as a journal entry (length, payload, checksum). */
uint64_t journal_entry_bytes(const dns_changeset_t *cs);

/*
 * Appends cs (serial_from -> serial_to) and fsyncs before returning. In a non-empty
 * journal cs must start at the newest serial. On failure the file is as before.
 * Errors: TANDEM_JOURNAL_ESEQ, TANDEM_EINVAL (no SOAs), TANDEM_ERANGE (an entry over
 * 1 GiB), TANDEM_EIO (diag), TANDEM_ENOMEM.
 */
int journal_append(journal_t *j, const dns_changeset_t *cs, tandem_diag_t *diag);

/*
 * Drops every entry that ends above serial (RFC 1982): the versions after it were
 * never committed. The cut is fsync'ed. Errors: TANDEM_EIO (diag).
 */
int journal_truncate_after(journal_t *j, uint32_t serial, tandem_diag_t *diag);

/* Drops every entry (the journal restarts at the next changeset's serial). Errors:
 * TANDEM_EIO (diag). */
int journal_reset(journal_t *j, tandem_diag_t *diag);

/*
 * Keeps at most max_entries entries and max_bytes bytes of file (0: no limit), the
 * oldest dropped first, by an atomic rewrite (a new file renamed over the old one, so
 * a crash leaves one or the other). Errors: TANDEM_EIO (diag), TANDEM_ENOMEM.
 */
int journal_limit(journal_t *j, size_t max_entries, uint64_t max_bytes, tandem_diag_t *diag);

/*
 * Reads entry i (0: the oldest) into a new changeset (the caller's, dns_changeset_free),
 * checking its checksum again. Errors: TANDEM_ERANGE (no such entry),
 * TANDEM_JOURNAL_ECORRUPT (diag), TANDEM_EIO, TANDEM_ENOMEM.
 */
int journal_read(journal_t *j, size_t i, tandem_diag_t *diag, dns_changeset_t **out);

/* The checksum of entry i (the SHA-256 the file stores, checked): two journals hold the
 * same changeset when it is the same. Errors: as journal_read. */
int journal_checksum(journal_t *j, size_t i, tandem_diag_t *diag, uint8_t out[32]);

/* An iterator over the changesets from a serial to the newest (what IXFR needs). */
typedef struct journal_iter {
	journal_t *j; /* borrowed */
	size_t next;  /* the next entry to read */
} journal_iter_t;

/*
 * Positions it at the entry that starts at serial from. Errors: TANDEM_ENOENT (no entry
 * starts there and from is not the newest serial: IXFR cannot answer from the journal),
 * TANDEM_EINVAL.
 */
int journal_iter_init(journal_iter_t *it, journal_t *j, uint32_t from);

/* The next changeset into *out (the caller's), or *out NULL at the end. Errors: as
 * journal_read. */
int journal_iter_next(journal_iter_t *it, tandem_diag_t *diag, dns_changeset_t **out);

#endif
