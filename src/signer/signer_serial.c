/* SOA serials: RFC 1982 comparison and the keep/increment/unixtime/datecounter modes. */
#include "signer.h"
#include "tandem_error.h"

#include <time.h>

bool signer_serial_gt(uint32_t a, uint32_t b)
{
	/* RFC 1982 3.2 with SERIAL_BITS = 32; a difference of exactly 2^31 is undefined and
	 * counts as "not greater" so no serial is ever accepted on an ambiguous comparison. */
	uint32_t d = a - b;
	return d != 0 && d < 0x80000000u;
}

/* The smallest serial strictly above both current and (if set) floor, and at least want. */
static uint32_t raise_above(uint32_t want, uint32_t current, bool has_floor, uint32_t floor)
{
	if (!signer_serial_gt(want, current)) {
		want = current + 1;
	}
	if (has_floor && !signer_serial_gt(want, floor)) {
		want = floor + 1;
	}
	return want;
}

int signer_serial_next(signer_serial_mode_t mode, uint32_t current, bool has_floor, uint32_t floor,
		       uint64_t now, uint32_t *out)
{
	if (out == NULL) {
		return TANDEM_EINVAL;
	}
	uint32_t next;
	switch (mode) {
	case SIGNER_SERIAL_KEEP:
		if (has_floor && !signer_serial_gt(current, floor)) {
			return TANDEM_SIGNER_ESERIAL;
		}
		next = current;
		break;
	case SIGNER_SERIAL_INCREMENT:
		next = raise_above(current + 1, current, has_floor, floor);
		break;
	case SIGNER_SERIAL_UNIXTIME:
		next = raise_above((uint32_t)now, current, has_floor, floor);
		break;
	case SIGNER_SERIAL_DATECOUNTER: {
		time_t t = (time_t)now;
		struct tm tm;
		if (gmtime_r(&t, &tm) == NULL) {
			return TANDEM_SIGNER_ESERIAL;
		}
		uint32_t base = (uint32_t)(tm.tm_year + 1900) * 1000000u +
				(uint32_t)(tm.tm_mon + 1) * 10000u + (uint32_t)tm.tm_mday * 100u;
		next = raise_above(base, current, has_floor, floor);
		break;
	}
	default: return TANDEM_EINVAL;
	}
	/* Moving by 2^31 or more would wrap: RFC 1982 cannot express it. */
	if (next != current && !signer_serial_gt(next, current)) {
		return TANDEM_SIGNER_ESERIAL;
	}
	*out = next;
	return TANDEM_OK;
}
