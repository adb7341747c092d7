/* Checks and escaping for text that came from outside: DNS names, member names, log lines. */
#include "tandem_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 3, 4))) static bool text_refuse(char *why, size_t size,
							      const char *fmt, ...)
{
	if (why != NULL && size > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, size, fmt, ap);
		va_end(ap);
	}
	return false;
}

static bool text_label_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

bool tandem_dname_valid(const char *name, char *why, size_t size)
{
	if (name == NULL || name[0] == '\0') {
		return text_refuse(why, size, "empty name");
	}
	if (strcmp(name, ".") == 0) {
		return text_refuse(why, size, "the root zone is not served");
	}
	size_t len = strlen(name);
	if (name[len - 1] == '.') {
		len--;
	}
	size_t wire = 1, label = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '.') {
			if (label == 0) {
				return text_refuse(why, size, "empty label at offset %zu", i);
			}
			wire += label + 1;
			label = 0;
			continue;
		}
		if (!text_label_char(c)) {
			return text_refuse(why, size,
					   "character 0x%02x at offset %zu: a zone name takes "
					   "letters, digits, '-' and '_'",
					   c, i);
		}
		if (++label > TANDEM_LABEL_MAX) {
			return text_refuse(why, size, "a label is longer than %d octets",
					   TANDEM_LABEL_MAX);
		}
	}
	if (label == 0) {
		return text_refuse(why, size, "empty label at the end");
	}
	wire += label + 1;
	if (wire > TANDEM_DNAME_WIRE_MAX) {
		return text_refuse(why, size, "%zu octets in wire form, above %d", wire,
				   TANDEM_DNAME_WIRE_MAX);
	}
	return true;
}

bool tandem_dname_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL) {
		return false;
	}
	size_t la = strlen(a), lb = strlen(b);
	la -= la > 0 && a[la - 1] == '.';
	lb -= lb > 0 && b[lb - 1] == '.';
	return la == lb && strncasecmp(a, b, la) == 0;
}

bool tandem_id_valid(const char *id, char *why, size_t size)
{
	if (id == NULL || id[0] == '\0') {
		return text_refuse(why, size, "empty name");
	}
	size_t len = strlen(id);
	if (len > TANDEM_ID_MAX) {
		return text_refuse(why, size, "longer than %d characters", TANDEM_ID_MAX);
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)id[i];
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) {
			return text_refuse(why, size,
					   "character 0x%02x at offset %zu: a name takes "
					   "[A-Za-z0-9._-] and starts with a letter or digit",
					   c, i);
		}
	}
	return true;
}

char *tandem_escape(char *dst, size_t size, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	if (dst == NULL || size == 0) {
		return dst;
	}
	for (const unsigned char *p = (const unsigned char *)(src != NULL ? src : ""); *p; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\\') {
			if (o + 1 >= size) {
				break;
			}
			dst[o++] = (char)*p;
		} else if (*p == '\\') {
			if (o + 2 >= size) {
				break;
			}
			dst[o++] = '\\';
			dst[o++] = '\\';
		} else {
			if (o + 4 >= size) {
				break;
			}
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[*p >> 4];
			dst[o++] = hex[*p & 15];
		}
	}
	dst[o] = '\0';
	return dst;
}
