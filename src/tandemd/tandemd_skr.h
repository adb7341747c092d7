/* tandemd's offline KSK: the pre-signed DNSKEY RRset a signing run uses, from the zone's SKR
 * book (docs/keys.md, "Offline KSK in a cluster"). */
#ifndef TANDEMD_SKR_H
#define TANDEMD_SKR_H

#include "coord_state.h"
#include "kasp_skr.h"
#include "signer.h"
#include "tandem_arena.h"
#include "tandem_diag.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Puts into conf the pre-signed DNSKEY RRset and RRSIGs of the book's response for
 * signing time t: with want_id (a standby repeating a commit), that response;
 * otherwise the latest-signed response whose slot at t holds the DNSKEY of every key
 * the run publishes (keys[i].unpublished false). The arrays live in arena. *id is the
 * chosen response's request id. Errors: TANDEM_ENOENT (no usable slot: the reason in
 * diag), TANDEM_ENOMEM, the HSM's errors reading a DNSKEY.
 */
int tdm_skr_presign(const kasp_skrbook_t *book, const signer_key_t *keys, size_t nkeys, uint64_t t,
		    const uint8_t *want_id, tandem_arena_t *arena, signer_conf_t *conf,
		    uint8_t id[COORD_SKR_ID_LEN], tandem_diag_t *diag);

#endif
