/* Text encodings shared by the modules and programs: base32hex, field lists, time stamps. */
#ifndef TANDEM_ENCODE_H
#define TANDEM_ENCODE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Base32hex (RFC 4648 section 7), lowercase, no padding, as NSEC3 owner names
 * use it. out holds at least (len * 8 + 4) / 5 + 1 bytes; it is
 * NUL-terminated. Returns the number of characters written (without the NUL).
 */
size_t tandem_base32hex(const uint8_t *data, size_t len, char *out);

/*
 * Splits buf in place at each sep into at most max non-empty fields (dst
 * points into buf). Returns the number of fields, or max + 1 when there are
 * more than max (dst then holds the first max).
 */
size_t tandem_split(char *buf, char sep, const char **dst, size_t max);

/*
 * Decodes exactly 2 * len hexadecimal digits (either case) from text into out[len].
 * Errors: TANDEM_EINVAL (NULL, another length, a character that is not a hex digit); out
 * is written only on success.
 */
int tandem_hex_decode(const char *text, uint8_t *out, size_t len);

/*
 * ms since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) in out (at least 25
 * bytes), for log lines. Returns out.
 */
char *tandem_utc_ms(uint64_t ms, char *out, size_t size);

#endif
