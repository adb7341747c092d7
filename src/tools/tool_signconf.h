/* The signer's configuration from a policy and the key set, shared by the programs that sign. */
#ifndef TOOL_SIGNCONF_H
#define TOOL_SIGNCONF_H

#include <stdint.h>

#include "dns_zone.h"
#include "kasp_keystate.h"
#include "kasp_skr.h"
#include "kasp_policy.h"
#include "signer.h"
#include "tandem_arena.h"

/*
 * Fills c from policy p at time now: signature times, denial (NSEC or
 * NSEC3 with its parameters and salt length), serial mode, TTLs; one thread.
 * Callers apply their own overrides afterwards.
 */
void tool_signer_conf(const kasp_policy_t *p, uint64_t now, signer_conf_t *c);

/*
 * Fills lo for loading an unsigned input of zone origin (borrowed; presentation)
 * under policy p: the records the signer makes itself are dropped or refused as
 * p->signer_owned says. Every program that signs an input loads it with these.
 */
void tool_load_opts(const kasp_policy_t *p, const char *origin, dns_load_opts_t *lo);

/*
 * Puts the CDS and CDNSKEY RRsets (RFC 7344; SHA-256 DS) for the DS set the
 * key set wants at the zone's apex, with TTL ttl, when it wants any (callers
 * do this while kasp_keyset_cds_pending). Errors: TANDEM_ENOMEM,
 * TANDEM_EINTERNAL (a DNSKEY the DS cannot be made from).
 */
int tool_cds_put(dns_zone_t *zone, const kasp_keyset_t *set, uint32_t ttl);

/*
 * Offline KSK: the DNSKEY RRset and RRSIGs of the slot of skr that covers t go
 * into c as the pre-signed DNSKEY RRset (copied into arena, length-prefixed);
 * *slot says which. Errors: TANDEM_ENOENT (no slot covers t), TANDEM_ENOMEM.
 */
int tool_skr_presign(const kasp_skr_t *skr, uint64_t t, tandem_arena_t *arena, signer_conf_t *c,
		     const kasp_skr_slot_t **slot);

#endif
