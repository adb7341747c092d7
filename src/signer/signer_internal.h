/* The signer's private pieces, shared by its files only. */
#ifndef SIGNER_INTERNAL_H
#define SIGNER_INTERNAL_H

#include "signer.h"

/* Builds the NSEC chain (NSEC RRsets at every authoritative name and delegation). */
int signer_nsec_build(dns_zone_t *zone, uint32_t ttl, tandem_diag_t *diag, size_t *records);
/* Builds the NSEC3 chain and NSEC3PARAM (RFC 5155) with conf's parameters. */
int signer_nsec3_build(dns_zone_t *zone, const signer_conf_t *conf, uint32_t ttl,
		       tandem_diag_t *diag, size_t *records);
/* Appends an RFC 4034 4.1.2 type bitmap of the sorted types to buf; returns bytes written
 * (buf holds at least 8704 bytes). */
size_t signer_bitmap(const uint16_t *types, size_t n, uint8_t *buf);

#endif
