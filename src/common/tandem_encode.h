/* Text encodings shared by the modules that print or name DNS data. */
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

#endif
