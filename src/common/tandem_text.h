/* Checks and escaping for text that came from outside: DNS names, member names, log lines. */
#ifndef TANDEM_TEXT_H
#define TANDEM_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Longest DNS name in wire form (RFC 1035 section 2.3.4) and longest label. */
#define TANDEM_DNAME_WIRE_MAX 255
#define TANDEM_LABEL_MAX      63
/* Longest member name (node, coordinator, site), without the NUL. */
#define TANDEM_ID_MAX 63

/*
 * Whether `name` is a zone name an operator may give: presentation form, with or without
 * the final dot, not the root, labels of 1..63 octets of letters, digits, '-' and '_'
 * (no escapes, no '/', no spaces or control characters), at most 255 octets in wire
 * form. When it is not, and why != NULL, says why in why[size] (NUL-terminated).
 */
bool tandem_dname_valid(const char *name, char *why, size_t size);

/*
 * Compares two DNS names case-insensitively (ASCII), ignoring one final dot on either:
 * "EXAMPLE." and "example" are the same zone. Returns true when equal.
 */
bool tandem_dname_equal(const char *a, const char *b);

/*
 * Whether `id` is a member name (node, coordinator, operator): 1..63 characters of
 * [A-Za-z0-9._-], starting with a letter or digit. Says why otherwise, as above.
 */
bool tandem_id_valid(const char *id, char *why, size_t size);

/*
 * Copies src into dst[size] with every byte that could forge or garble a log line
 * escaped: control characters (below 0x20, and 0x7f) and bytes above 0x7e as \xNN, and
 * the backslash as \\. Always NUL-terminates (size > 0); a copy that does not fit ends
 * where the next whole escape would not. Returns dst.
 */
char *tandem_escape(char *dst, size_t size, const char *src);

#endif
