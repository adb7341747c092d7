/* Wire-format domain names: length, labels, canonical order, presentation format. */
#include "dns_zone.h"
#include "tandem_error.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

size_t dns_name_len(const uint8_t *name, size_t max)
{
	size_t pos = 0;
	while (pos < max) {
		uint8_t len = name[pos];
		if (len == 0) {
			return pos + 1 <= DNS_NAME_MAXLEN ? pos + 1 : 0;
		}
		if (len > 63) {
			return 0; /* compression pointers and extended labels are not names here */
		}
		pos += (size_t)len + 1;
	}
	return 0;
}

unsigned dns_name_labels(const uint8_t *name)
{
	unsigned n = 0;
	while (*name != 0) {
		name += *name + 1;
		n++;
	}
	return n;
}

/* Offsets of each label, first to last; returns the count (root not counted). */
static unsigned label_offsets(const uint8_t *name, uint8_t off[128])
{
	unsigned n = 0;
	unsigned pos = 0;
	while (name[pos] != 0 && n < 128) {
		off[n++] = (uint8_t)pos;
		pos += name[pos] + 1u;
	}
	return n;
}

int dns_name_compare(const uint8_t *a, const uint8_t *b)
{
	if (a == b) {
		return 0;
	}
	uint8_t oa[128], ob[128];
	unsigned na = label_offsets(a, oa);
	unsigned nb = label_offsets(b, ob);
	unsigned ia = na, ib = nb;
	while (ia > 0 && ib > 0) {
		ia--;
		ib--;
		const uint8_t *la = a + oa[ia];
		const uint8_t *lb = b + ob[ib];
		unsigned lena = la[0], lenb = lb[0];
		unsigned min = lena < lenb ? lena : lenb;
		int c = memcmp(la + 1, lb + 1, min);
		if (c != 0) {
			return c;
		}
		if (lena != lenb) {
			return lena < lenb ? -1 : 1;
		}
	}
	if (na == nb) {
		return 0;
	}
	return na < nb ? -1 : 1;
}

bool dns_name_is_sub(const uint8_t *name, const uint8_t *parent)
{
	size_t nl = dns_name_len(name, DNS_NAME_MAXLEN);
	size_t pl = dns_name_len(parent, DNS_NAME_MAXLEN);
	if (nl < pl || nl == 0 || pl == 0) {
		return false;
	}
	/* Walk name's labels until the remaining suffix is as long as parent. */
	size_t pos = 0;
	while (nl - pos > pl) {
		pos += name[pos] + 1u;
	}
	return nl - pos == pl && memcmp(name + pos, parent, pl) == 0;
}

size_t dns_name_to_str(const uint8_t *name, char *buf)
{
	size_t out = 0;
	if (*name == 0) {
		buf[0] = '.';
		buf[1] = '\0';
		return 1;
	}
	while (*name != 0) {
		uint8_t len = *name++;
		for (uint8_t i = 0; i < len; i++) {
			uint8_t c = name[i];
			if (c == '.' || c == '\\' || c == '"' || c == ';' || c == '(' || c == ')' ||
			    c == '@' || c == '$') {
				buf[out++] = '\\';
				buf[out++] = (char)c;
			} else if (c <= ' ' || c >= 0x7f) {
				out += (size_t)sprintf(buf + out, "\\%03u", c);
			} else {
				buf[out++] = (char)c;
			}
		}
		buf[out++] = '.';
		name += len;
	}
	buf[out] = '\0';
	return out;
}

int dns_name_from_str(const char *str, const uint8_t *origin, uint8_t out[DNS_NAME_MAXLEN],
		      size_t *out_len)
{
	if (str == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	uint8_t tmp[DNS_NAME_MAXLEN + 64];
	size_t pos = 0, label_start = 0, len = strlen(str);
	bool absolute = false;
	if (strcmp(str, ".") == 0) {
		out[0] = 0;
		if (out_len != NULL) {
			*out_len = 1;
		}
		return TANDEM_OK;
	}
	if (strcmp(str, "@") == 0) {
		if (origin == NULL) {
			return TANDEM_DNS_ENAME;
		}
		size_t ol = dns_name_len(origin, DNS_NAME_MAXLEN);
		memcpy(out, origin, ol);
		if (out_len != NULL) {
			*out_len = ol;
		}
		return TANDEM_OK;
	}
	tmp[0] = 0;
	pos = 1;
	for (size_t i = 0; i < len; i++) {
		unsigned c = (unsigned char)str[i];
		if (c == '.') {
			if (pos - label_start - 1 == 0) {
				return TANDEM_DNS_ENAME; /* empty label */
			}
			if (i == len - 1) {
				absolute = true;
				break;
			}
			label_start = pos;
			tmp[pos++] = 0;
			continue;
		}
		if (c == '\\') {
			if (i + 1 >= len) {
				return TANDEM_DNS_ENAME;
			}
			if (isdigit((unsigned char)str[i + 1])) {
				if (i + 3 >= len + 0 || !isdigit((unsigned char)str[i + 2]) ||
				    !isdigit((unsigned char)str[i + 3])) {
					return TANDEM_DNS_ENAME;
				}
				c = (unsigned)(str[i + 1] - '0') * 100 +
				    (unsigned)(str[i + 2] - '0') * 10 +
				    (unsigned)(str[i + 3] - '0');
				if (c > 255) {
					return TANDEM_DNS_ENAME;
				}
				i += 3;
			} else {
				c = (unsigned char)str[++i];
			}
		}
		if (pos - label_start > 63 || pos >= DNS_NAME_MAXLEN) {
			return TANDEM_DNS_ENAME;
		}
		tmp[pos++] = (uint8_t)tolower((int)c);
		tmp[label_start]++;
	}
	if (tmp[label_start] == 0) {
		return TANDEM_DNS_ENAME;
	}
	size_t total = pos;
	if (absolute || origin == NULL) {
		if (!absolute) {
			return TANDEM_DNS_ENAME; /* relative with no origin */
		}
		if (total + 1 > DNS_NAME_MAXLEN) {
			return TANDEM_DNS_ENAME;
		}
		tmp[total++] = 0;
	} else {
		size_t ol = dns_name_len(origin, DNS_NAME_MAXLEN);
		if (ol == 0 || total + ol > DNS_NAME_MAXLEN) {
			return TANDEM_DNS_ENAME;
		}
		memcpy(tmp + total, origin, ol);
		total += ol;
	}
	memcpy(out, tmp, total);
	if (out_len != NULL) {
		*out_len = total;
	}
	return TANDEM_OK;
}

int dns_rdata_compare(const uint8_t *a, const uint8_t *b)
{
	uint16_t la = dns_rdata_len(a), lb = dns_rdata_len(b);
	uint16_t min = la < lb ? la : lb;
	int c = memcmp(dns_rdata_data(a), dns_rdata_data(b), min);
	if (c != 0) {
		return c;
	}
	return la == lb ? 0 : (la < lb ? -1 : 1);
}

const char *dns_type_to_str(uint16_t type, char buf[16])
{
	static const struct {
		uint16_t type;
		const char *name;
	} names[] = {
	    {1, "A"},      {2, "NS"},          {5, "CNAME"},    {6, "SOA"},
	    {12, "PTR"},   {13, "HINFO"},      {15, "MX"},      {16, "TXT"},
	    {17, "RP"},    {18, "AFSDB"},      {28, "AAAA"},    {29, "LOC"},
	    {33, "SRV"},   {35, "NAPTR"},      {36, "KX"},      {37, "CERT"},
	    {39, "DNAME"}, {43, "DS"},         {44, "SSHFP"},   {45, "IPSECKEY"},
	    {46, "RRSIG"}, {47, "NSEC"},       {48, "DNSKEY"},  {49, "DHCID"},
	    {50, "NSEC3"}, {51, "NSEC3PARAM"}, {52, "TLSA"},    {53, "SMIMEA"},
	    {55, "HIP"},   {59, "CDS"},        {60, "CDNSKEY"}, {61, "OPENPGPKEY"},
	    {62, "CSYNC"}, {63, "ZONEMD"},     {64, "SVCB"},    {65, "HTTPS"},
	    {99, "SPF"},   {256, "URI"},       {257, "CAA"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i].type == type) {
			return names[i].name;
		}
	}
	snprintf(buf, 16, "TYPE%u", type);
	return buf;
}

static const struct {
	const char *name;
	uint8_t alg;
} dns_algs[] = {
    {"rsasha256", 8},        {"rsasha512", 10}, {"ecdsap256sha256", 13},
    {"ecdsap384sha384", 14}, {"ed25519", 15},
};

int dns_alg_from_str(const char *s)
{
	if (s == NULL) {
		return -1;
	}
	for (size_t i = 0; i < sizeof(dns_algs) / sizeof(dns_algs[0]); i++) {
		char num[4];
		snprintf(num, sizeof(num), "%u", dns_algs[i].alg);
		if (strcasecmp(s, dns_algs[i].name) == 0 || strcmp(s, num) == 0) {
			return dns_algs[i].alg;
		}
	}
	return -1;
}

const char *dns_alg_to_str(uint8_t alg)
{
	for (size_t i = 0; i < sizeof(dns_algs) / sizeof(dns_algs[0]); i++) {
		if (dns_algs[i].alg == alg) {
			return dns_algs[i].name;
		}
	}
	return NULL;
}
