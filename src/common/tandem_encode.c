/* Text encodings: base32hex for NSEC3 names. */
#include "tandem_encode.h"

size_t tandem_base32hex(const uint8_t *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuv";
	size_t n = 0;
	uint32_t acc = 0;
	unsigned bits = 0;

	if (out == NULL) {
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | data[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[n++] = digits[(acc >> bits) & 0x1f];
		}
	}
	if (bits > 0) {
		out[n++] = digits[(acc << (5 - bits)) & 0x1f];
	}
	out[n] = '\0';
	return n;
}
