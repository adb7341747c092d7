/* The archive file's untrusted parsing, apart from the HSM work of archive_import (which
 * calls these in this order, checking the SMK and MAC between them); the fuzz target
 * tests/fuzz/fuzz_archive.c calls them without an HSM. */
#ifndef ARCHIVE_INTERNAL_H
#define ARCHIVE_INTERNAL_H

#include "archive.h"
#include "archive.pb-c.h"

/*
 * Unpacks an archive file and its payload and checks their framing (size, versions, MAC
 * and SMK check value lengths); nothing is authenticated yet. *archive and *payload (free
 * them with their protobuf-c free_unpacked) are written only on success.
 * Errors: TANDEM_ARCHIVE_EFORMAT, TANDEM_ARCHIVE_EVERSION, TANDEM_ARCHIVE_ETAMPER (a
 * payload that does not unpack), TANDEM_EINVAL.
 */
int archive_file_read(const uint8_t *buf, size_t len, tandem_diag_t *diag,
		      Tandem__Archive **archive, Tandem__ArchivePayload **payload);

/*
 * Checks a payload's key entries (at most 4096; each entry's fields; no label or CKA_ID
 * twice) and describes each: *keys (calloc'd, p->n_keys of them, at least room for one;
 * the caller frees it) is written only on success.
 * Errors: TANDEM_ARCHIVE_EFORMAT (the first bad entry named in diag), TANDEM_EINVAL,
 * TANDEM_ENOMEM.
 */
int archive_payload_keys(const Tandem__ArchivePayload *p, tandem_diag_t *diag,
			 archive_key_info_t **keys);

#endif
