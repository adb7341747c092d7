/* Text encodings: base32hex for NSEC3 names, field lists, log time stamps. */
#include "tandem_encode.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

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

size_t tandem_split(char *buf, char sep, const char **dst, size_t max)
{
	size_t n = 0;
	char *p = buf;
	while (p != NULL && *p != '\0') {
		char *next = strchr(p, sep);
		if (next != NULL) {
			*next++ = '\0';
		}
		if (*p != '\0') {
			if (n == max) {
				return max + 1;
			}
			dst[n++] = p;
		}
		p = next;
	}
	return n;
}

char *tandem_utc_ms(uint64_t ms, char *out, size_t size)
{
	time_t secs = (time_t)(ms / 1000u);
	struct tm tm;
	char stamp[32] = "?";
	if (gmtime_r(&secs, &tm) != NULL) {
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	}
	snprintf(out, size, "%s.%03uZ", stamp, (unsigned)(ms % 1000u));
	return out;
}
