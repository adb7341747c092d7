/* SOA serials in one place: RFC 1982 comparison, the serial modes, the site's residue class. */
#include "tandem_serial.h"

#include "tandem_error.h"

#include <time.h>

bool tandem_serial_gt(uint32_t a, uint32_t b)
{
	uint32_t d = a - b;
	return d != 0 && d < 0x80000000u;
}

/* want, or the smallest serial strictly above both current and (if set) floor. */
static uint32_t raise_above(uint32_t want, uint32_t current, bool has_floor, uint32_t floor)
{
	if (!tandem_serial_gt(want, current)) {
		want = current + 1;
	}
	if (has_floor && !tandem_serial_gt(want, floor)) {
		want = floor + 1;
	}
	return want;
}

/* YYYYMMDD00 of t (UTC). */
static int date_base(uint64_t t, uint32_t *out)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL) {
		return TANDEM_SIGNER_ESERIAL;
	}
	*out = (uint32_t)(tm.tm_year + 1900) * 1000000u + (uint32_t)(tm.tm_mon + 1) * 10000u +
	       (uint32_t)tm.tm_mday * 100u;
	return TANDEM_OK;
}

int tandem_serial_next(tandem_serial_mode_t mode, uint32_t current, bool has_floor, uint32_t floor,
		       uint64_t now, uint32_t *out)
{
	if (out == NULL) {
		return TANDEM_EINVAL;
	}
	uint32_t next = 0;
	switch (mode) {
	case TANDEM_SERIAL_KEEP:
		if (has_floor && !tandem_serial_gt(current, floor)) {
			return TANDEM_SIGNER_ESERIAL;
		}
		next = current;
		break;
	case TANDEM_SERIAL_INCREMENT:
		next = raise_above(current + 1, current, has_floor, floor);
		break;
	case TANDEM_SERIAL_UNIXTIME:
		next = raise_above((uint32_t)now, current, has_floor, floor);
		break;
	case TANDEM_SERIAL_DATECOUNTER: {
		uint32_t base = 0;
		if (date_base(now, &base) != TANDEM_OK) {
			return TANDEM_SIGNER_ESERIAL;
		}
		next = raise_above(base, current, has_floor, floor);
		break;
	}
	default: return TANDEM_EINVAL;
	}
	/* Moving by 2^31 or more would wrap: RFC 1982 cannot express it. */
	if (next != current && !tandem_serial_gt(next, current)) {
		return TANDEM_SIGNER_ESERIAL;
	}
	*out = next;
	return TANDEM_OK;
}

int tandem_serial_in_class(bool has_floor, uint32_t floor, uint32_t residue, uint32_t modulus,
			   uint32_t candidate, uint32_t *out)
{
	if (out == NULL || modulus == 0 || modulus > TANDEM_SERIAL_MODULUS_MAX ||
	    residue >= modulus) {
		return TANDEM_EINVAL;
	}
	uint32_t s = candidate;
	if (has_floor && !tandem_serial_gt(candidate, floor)) {
		s = floor + 1;
	}
	/* Step rather than add: when the modulus does not divide 2^32, the class of a value
	 * just past the wrap is not the class of the sum, and we want the value. */
	for (uint32_t i = 0; i < 2 * TANDEM_SERIAL_MODULUS_MAX && s % modulus != residue; i++) {
		s++;
	}
	if (s % modulus != residue) {
		return TANDEM_SIGNER_ESERIAL;
	}
	if (has_floor && !tandem_serial_gt(s, floor)) {
		return TANDEM_SIGNER_ESERIAL;
	}
	*out = s;
	return TANDEM_OK;
}
