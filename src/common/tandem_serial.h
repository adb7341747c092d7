/* SOA serials in one place: RFC 1982 comparison, the serial modes, the site's residue class. */
#ifndef TANDEM_SERIAL_H
#define TANDEM_SERIAL_H

#include <stdbool.h>
#include <stdint.h>

/* Largest residue modulus (sites in a cluster and then some: the loop that raises a serial
 * into its class is bounded by it). */
#define TANDEM_SERIAL_MODULUS_MAX 256

/* How the next serial follows the current one (the policy's `serial`). */
typedef enum {
	TANDEM_SERIAL_KEEP = 0,    /* the input's serial as it is */
	TANDEM_SERIAL_INCREMENT,   /* current + 1 */
	TANDEM_SERIAL_UNIXTIME,    /* the signing time in seconds, else current + 1 */
	TANDEM_SERIAL_DATECOUNTER, /* YYYYMMDDnn of the signing time (UTC), else current + 1 */
} tandem_serial_mode_t;

/*
 * RFC 1982 3.2 with SERIAL_BITS = 32: true if a is greater than b. A distance of
 * exactly 2^31 is undefined and never counts as greater, so an ambiguous comparison
 * never admits a serial.
 */
bool tandem_serial_gt(uint32_t a, uint32_t b);

/*
 * The serial `mode` gives after `current` at time `now` (seconds), raised above
 * `floor` when has_floor (KEEP cannot be raised: a kept serial not above the floor
 * is refused). Errors: TANDEM_SIGNER_ESERIAL (the mode cannot move there without a
 * step of 2^31 or more, or KEEP below the floor), TANDEM_EINVAL (NULL out, unknown
 * mode); *out written only on success.
 */
int tandem_serial_next(tandem_serial_mode_t mode, uint32_t current, bool has_floor, uint32_t floor,
		       uint64_t now, uint32_t *out);

/*
 * The serial a site of residue class `residue` (mod `modulus`) publishes next: the
 * smallest serial that is at least `candidate` when candidate is above `floor`
 * (RFC 1982; floor ignored when !has_floor), else the smallest above floor, and
 * congruent to residue. Values are stepped, not added, so a class is kept across the
 * wrap at 2^32 even when modulus does not divide 2^32. modulus 1 (residue 0) is "any
 * serial". Errors: TANDEM_EINVAL (NULL out, modulus 0 or above
 * TANDEM_SERIAL_MODULUS_MAX, residue >= modulus), TANDEM_SIGNER_ESERIAL (the result
 * would not be above floor); *out written only on success.
 */
int tandem_serial_in_class(bool has_floor, uint32_t floor, uint32_t residue, uint32_t modulus,
			   uint32_t candidate, uint32_t *out);

#endif
