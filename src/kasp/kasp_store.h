/* Key-state storage: every zone's key set in one protobuf file, written atomically. */
#ifndef KASP_STORE_H
#define KASP_STORE_H

#include <stddef.h>

#include "kasp_keystate.h"
#include "tandem_diag.h"

/*
 * The machine (kasp_keystate.h) never sees where its state lives. This is the
 * local store of `tandemctl keys --state DIR`: DIR/keystate.pb holds a
 * KeyStateFile (proto/keystate.proto): the serialized records and their
 * SHA-256. In a cluster each zone's key set is stored alone in etcd
 * (kasp_keyset_pack/unpack below; tandem-coord, tandemd, `tandemctl keys --cluster`).
 */

#define KASP_STORE_FILE    "keystate.pb"
#define KASP_STORE_VERSION 1 /* highest format version read and the one written */

typedef struct kasp_store kasp_store_t;

/*
 * Loads DIR/keystate.pb; a missing file gives an empty store. A file that is
 * truncated, altered, not ours or holds impossible values is refused
 * (TANDEM_KASP_ESTATE), one written by a newer format (TANDEM_KASP_EVERSION):
 * in each case "PATH: reason" goes to diag and the file is left alone.
 * Errors: also TANDEM_EIO, TANDEM_ENOMEM, TANDEM_EINVAL; *out only on success.
 */
int kasp_store_load(const char *dir, tandem_diag_t *diag, kasp_store_t **out);
/* NULL-safe. */
void kasp_store_free(kasp_store_t *store);

/* Number of zones, and zone i's keys (borrowed, valid until the next put or free). */
size_t kasp_store_count(const kasp_store_t *store);
const kasp_keyset_t *kasp_store_at(const kasp_store_t *store, size_t i);

/* Copies the zone's key set to *out. Errors: TANDEM_ENOENT (no such zone), TANDEM_EINVAL. */
int kasp_store_get(const kasp_store_t *store, const char *zone, kasp_keyset_t *out);
/* Adds or replaces the zone's key set (copied). Errors: TANDEM_ENOMEM, TANDEM_EINVAL. */
int kasp_store_put(kasp_store_t *store, const kasp_keyset_t *set);

/*
 * Writes the store to DIR/keystate.pb atomically (a temporary file beside it,
 * fsync, rename): a crash leaves the old file or the new one, never a mix.
 * Errors: TANDEM_EIO ("PATH: reason" in diag), TANDEM_ENOMEM, TANDEM_EINVAL.
 */
int kasp_store_save(const kasp_store_t *store, const char *dir, tandem_diag_t *diag);

/*
 * One zone's key set as bytes (a KeyStateFile holding that zone alone, with its
 * checksum): what the cluster keeps in etcd at PREFIX/keys/ZONE. *buf is the
 * caller's (free()). Errors: TANDEM_ENOMEM, TANDEM_EINVAL.
 */
int kasp_keyset_pack(const kasp_keyset_t *set, uint8_t **buf, size_t *len);

/*
 * The key set of kasp_keyset_pack, from untrusted bytes, checked as
 * kasp_store_load checks a file (exactly one zone). Errors: TANDEM_KASP_ESTATE,
 * TANDEM_KASP_EVERSION ("what: reason" in diag), TANDEM_ENOMEM, TANDEM_EINVAL;
 * *out written only on success.
 */
int kasp_keyset_unpack(const uint8_t *buf, size_t len, const char *what, tandem_diag_t *diag,
		       kasp_keyset_t *out);

#endif
