/* Text encodings: base32hex for NSEC3 names, field lists, log time stamps. */
#include "tandem_encode.h"

#include "tandem_error.h"

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

static int encode_hex_digit(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

int tandem_hex_decode(const char *text, uint8_t *out, size_t len)
{
	if (text == NULL || out == NULL || strlen(text) != 2 * len) {
		return TANDEM_EINVAL;
	}
	for (size_t i = 0; i < 2 * len; i++) {
		if (encode_hex_digit(text[i]) < 0) {
			return TANDEM_EINVAL;
		}
	}
	for (size_t i = 0; i < len; i++) {
		out[i] = (uint8_t)(encode_hex_digit(text[2 * i]) << 4 |
				   encode_hex_digit(text[2 * i + 1]));
	}
	return TANDEM_OK;
}
