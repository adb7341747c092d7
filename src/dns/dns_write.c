/* Presentation-format output: a fast formatter for common types, ldns for the rest. */
#include "dns_internal.h"
#include "tandem_encode.h"
#include "tandem_error.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ldns/ldns.h>
#include <openssl/evp.h>

/* A growable line buffer, flushed to the stream when large. */
typedef struct out {
	FILE *fp;
	char *buf;
	size_t len, cap;
	bool failed;
	time_t last_t;
	char last_tstr[16];
} out_t;

static void out_reserve(out_t *o, size_t n)
{
	if (o->len + n <= o->cap) {
		return;
	}
	if (o->len > 0) {
		if (fwrite(o->buf, 1, o->len, o->fp) != o->len) {
			o->failed = true;
		}
		o->len = 0;
	}
	if (n > o->cap) {
		char *bigger = realloc(o->buf, n);
		if (bigger == NULL) {
			o->failed = true;
			return;
		}
		o->buf = bigger;
		o->cap = n;
	}
}

static void out_str(out_t *o, const char *s, size_t n)
{
	out_reserve(o, n);
	if (o->len + n <= o->cap) {
		memcpy(o->buf + o->len, s, n);
		o->len += n;
	}
}

static void out_c(out_t *o, char c)
{
	out_str(o, &c, 1);
}

static void out_u(out_t *o, unsigned long v)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	out_str(o, tmp + sizeof(tmp) - n, (size_t)n);
}

static void out_name(out_t *o, const uint8_t *name)
{
	char buf[1100];
	size_t n = dns_name_to_str(name, buf);
	out_str(o, buf, n);
}

static void out_hex(out_t *o, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	out_reserve(o, n * 2);
	for (size_t i = 0; i < n; i++) {
		o->buf[o->len++] = hex[p[i] >> 4];
		o->buf[o->len++] = hex[p[i] & 15];
	}
}

static void out_b64(out_t *o, const uint8_t *p, size_t n)
{
	size_t need = 4 * ((n + 2) / 3) + 1;
	out_reserve(o, need);
	int w = EVP_EncodeBlock((unsigned char *)o->buf + o->len, p, (int)n);
	o->len += (size_t)w;
}

static void out_b32hex(out_t *o, const uint8_t *p, size_t n)
{
	out_reserve(o, (n * 8 + 4) / 5 + 1);
	o->len += tandem_base32hex(p, n, o->buf + o->len);
}

static uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static void out_time(out_t *o, uint32_t t)
{
	if ((time_t)t != o->last_t || o->last_tstr[0] == '\0') {
		struct tm tm;
		time_t tt = (time_t)t;
		gmtime_r(&tt, &tm);
		strftime(o->last_tstr, sizeof(o->last_tstr), "%Y%m%d%H%M%S", &tm);
		o->last_t = tt;
	}
	out_str(o, o->last_tstr, 14);
}

static void out_type(out_t *o, uint16_t type)
{
	char tbuf[16];
	const char *s = dns_type_to_str(type, tbuf);
	out_str(o, s, strlen(s));
}

/* Type bitmap (RFC 4034 4.1.2); false if malformed. */
static bool out_bitmap(out_t *o, const uint8_t *p, size_t n)
{
	size_t pos = 0;
	while (pos < n) {
		if (pos + 2 > n) {
			return false;
		}
		uint8_t win = p[pos], len = p[pos + 1];
		if (len == 0 || len > 32 || pos + 2 + len > n) {
			return false;
		}
		for (unsigned i = 0; i < len; i++) {
			for (unsigned b = 0; b < 8; b++) {
				if (p[pos + 2 + i] & (0x80 >> b)) {
					out_c(o, ' ');
					out_type(o, (uint16_t)(win * 256 + i * 8 + b));
				}
			}
		}
		pos += 2u + len;
	}
	return true;
}

/* Length of a wire name inside RDATA, 0 if malformed. */
static size_t rd_name(const uint8_t *p, size_t n)
{
	return dns_name_len(p, n);
}

/* Writes the RDATA of common types; false means "use ldns". */
static bool out_rdata_fast(out_t *o, uint16_t type, const uint8_t *p, size_t n)
{
	char tmp[64];
	size_t l;
	switch (type) {
	case DNS_TYPE_A:
		if (n != 4 || inet_ntop(AF_INET, p, tmp, sizeof(tmp)) == NULL) {
			return false;
		}
		out_str(o, tmp, strlen(tmp));
		return true;
	case DNS_TYPE_AAAA:
		if (n != 16 || inet_ntop(AF_INET6, p, tmp, sizeof(tmp)) == NULL) {
			return false;
		}
		out_str(o, tmp, strlen(tmp));
		return true;
	case DNS_TYPE_NS:
	case DNS_TYPE_CNAME:
	case DNS_TYPE_DNAME:
	case DNS_TYPE_PTR:
		if (rd_name(p, n) != n) {
			return false;
		}
		out_name(o, p);
		return true;
	case DNS_TYPE_MX:
		if (n < 3 || rd_name(p + 2, n - 2) != n - 2) {
			return false;
		}
		out_u(o, get16(p));
		out_c(o, ' ');
		out_name(o, p + 2);
		return true;
	case DNS_TYPE_SOA: {
		size_t a = rd_name(p, n);
		size_t b = a ? rd_name(p + a, n - a) : 0;
		if (a == 0 || b == 0 || a + b + 20 != n) {
			return false;
		}
		out_name(o, p);
		out_c(o, ' ');
		out_name(o, p + a);
		for (int i = 0; i < 5; i++) {
			out_c(o, ' ');
			out_u(o, get32(p + a + b + 4 * i));
		}
		return true;
	}
	case DNS_TYPE_DS:
	case DNS_TYPE_CDS:
	case DNS_TYPE_DNSKEY:
	case DNS_TYPE_CDNSKEY:
		/* tag/flags, algorithm/protocol, digest type/algorithm, then the blob */
		if (n < 5) {
			return false;
		}
		out_u(o, get16(p));
		out_c(o, ' ');
		out_u(o, p[2]);
		out_c(o, ' ');
		out_u(o, p[3]);
		out_c(o, ' ');
		if (type == DNS_TYPE_DS || type == DNS_TYPE_CDS) {
			out_hex(o, p + 4, n - 4);
		} else {
			out_b64(o, p + 4, n - 4);
		}
		return true;
	case DNS_TYPE_RRSIG:
		if (n < 19 || (l = rd_name(p + 18, n - 18)) == 0 || 18 + l >= n) {
			return false;
		}
		out_type(o, get16(p));
		out_c(o, ' ');
		out_u(o, p[2]);
		out_c(o, ' ');
		out_u(o, p[3]);
		out_c(o, ' ');
		out_u(o, get32(p + 4));
		out_c(o, ' ');
		out_time(o, get32(p + 8));
		out_c(o, ' ');
		out_time(o, get32(p + 12));
		out_c(o, ' ');
		out_u(o, get16(p + 16));
		out_c(o, ' ');
		out_name(o, p + 18);
		out_c(o, ' ');
		out_b64(o, p + 18 + l, n - 18 - l);
		return true;
	case DNS_TYPE_NSEC:
		if ((l = rd_name(p, n)) == 0) {
			return false;
		}
		out_name(o, p);
		return out_bitmap(o, p + l, n - l);
	case DNS_TYPE_NSEC3:
	case DNS_TYPE_NSEC3PARAM: {
		if (n < 5 || 5u + p[4] > n) {
			return false;
		}
		size_t salt = p[4];
		size_t pos = 5 + salt;
		if (type == DNS_TYPE_NSEC3 && (pos >= n || pos + 1 + p[pos] > n)) {
			return false;
		}
		if (type == DNS_TYPE_NSEC3PARAM && pos != n) {
			return false;
		}
		out_u(o, p[0]);
		out_c(o, ' ');
		out_u(o, p[1]);
		out_c(o, ' ');
		out_u(o, get16(p + 2));
		out_c(o, ' ');
		if (salt == 0) {
			out_c(o, '-');
		} else {
			out_hex(o, p + 5, salt);
		}
		if (type == DNS_TYPE_NSEC3PARAM) {
			return true;
		}
		out_c(o, ' ');
		out_b32hex(o, p + pos + 1, p[pos]);
		pos += 1u + p[pos];
		return out_bitmap(o, p + pos, n - pos);
	}
	default: return false;
	}
}

/* Any type, through ldns: builds the wire RR and prints its RDATA fields. */
static bool out_rdata_ldns(out_t *o, const uint8_t *owner, uint16_t type, const uint8_t *rdata)
{
	size_t olen = dns_name_len(owner, DNS_NAME_MAXLEN);
	size_t rdlen = dns_rdata_len(rdata);
	size_t wlen = olen + 10 + rdlen;
	uint8_t *wire = malloc(wlen);
	ldns_rr *rr = NULL;
	ldns_buffer *buf = NULL;
	bool ok = false;
	if (wire == NULL || rdlen == 0) {
		/* empty RDATA: ldns prints nothing, which no parser reads back; the RFC 3597
		 * form "\# 0" is the one every parser takes */
		free(wire);
		return false;
	}
	memcpy(wire, owner, olen);
	uint8_t *p = wire + olen;
	p[0] = (uint8_t)(type >> 8);
	p[1] = (uint8_t)type;
	p[2] = 0;
	p[3] = DNS_CLASS_IN;
	memset(p + 4, 0, 4);
	memcpy(p + 8, rdata, rdlen + 2);
	size_t pos = 0;
	if (ldns_wire2rr(&rr, wire, wlen, &pos, LDNS_SECTION_ANSWER) != LDNS_STATUS_OK) {
		goto out;
	}
	buf = ldns_buffer_new(256);
	if (buf == NULL) {
		goto out;
	}
	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
		if (i > 0) {
			ldns_buffer_write_u8(buf, ' ');
		}
		if (ldns_rdf2buffer_str(buf, ldns_rr_rdf(rr, i)) != LDNS_STATUS_OK) {
			goto out;
		}
	}
	out_str(o, (const char *)ldns_buffer_begin(buf), ldns_buffer_position(buf));
	ok = true;
out:
	ldns_buffer_free(buf);
	ldns_rr_free(rr);
	free(wire);
	return ok;
}

/* RFC 3597 generic form, the last resort. */
static void out_rdata_generic(out_t *o, const uint8_t *rdata)
{
	out_str(o, "\\# ", 3);
	out_u(o, dns_rdata_len(rdata));
	if (dns_rdata_len(rdata) > 0) {
		out_c(o, ' ');
		out_hex(o, dns_rdata_data(rdata), dns_rdata_len(rdata));
	}
}

static void out_rr(out_t *o, const uint8_t *owner, const char *owner_str, size_t owner_slen,
		   uint32_t ttl, uint16_t type, const uint8_t *rdata)
{
	out_str(o, owner_str, owner_slen);
	out_c(o, '\t');
	out_u(o, ttl);
	out_str(o, "\tIN\t", 4);
	out_type(o, type);
	out_c(o, '\t');
	/* Room for the longest text this RDATA can become (a full type bitmap is
	 * about 90 characters a byte), so no flush happens inside the record and a
	 * failed fast attempt can be taken back. */
	out_reserve(o, (size_t)dns_rdata_len(rdata) * 90 + 1024);
	size_t mark = o->len;
	if (!out_rdata_fast(o, type, dns_rdata_data(rdata), dns_rdata_len(rdata))) {
		o->len = mark; /* drop a half-written fast attempt */
		if (!out_rdata_ldns(o, owner, type, rdata)) {
			out_rdata_generic(o, rdata);
		}
	}
	out_c(o, '\n');
}

static void out_node(out_t *o, const dns_node_t *n)
{
	char owner[1100];
	size_t slen = dns_name_to_str(n->name, owner);
	/* SOA first at the apex, as zone files expect. */
	const dns_rrset_t *soa =
	    (n->flags & DNS_NODE_APEX) ? dns_node_rrset(n, DNS_TYPE_SOA) : NULL;
	for (int pass = 0; pass < 2; pass++) {
		for (uint16_t r = 0; r < n->rrset_count; r++) {
			const dns_rrset_t *rs = &n->rrsets[r];
			if ((pass == 0) != (rs == soa)) {
				continue;
			}
			for (uint16_t i = 0; i < rs->count; i++) {
				out_rr(o, n->name, owner, slen, rs->ttl, rs->type, rs->rdata[i]);
			}
			for (uint16_t i = 0; i < rs->sig_count; i++) {
				out_rr(o, n->name, owner, slen, rs->ttl, DNS_TYPE_RRSIG,
				       rs->sigs[i]);
			}
		}
	}
}

int dns_zone_write(const dns_zone_t *zone, FILE *fp)
{
	if (zone == NULL || fp == NULL) {
		return TANDEM_EINVAL;
	}
	out_t o = {.fp = fp, .cap = 1 << 20};
	o.buf = malloc(o.cap);
	if (o.buf == NULL) {
		return TANDEM_ENOMEM;
	}
	for (size_t i = 0; i < zone->node_count; i++) {
		out_node(&o, &zone->nodes[i]);
	}
	for (size_t i = 0; i < zone->nsec3_count; i++) {
		out_node(&o, &zone->nsec3[i]);
	}
	if (o.len > 0 && fwrite(o.buf, 1, o.len, fp) != o.len) {
		o.failed = true;
	}
	bool failed = o.failed;
	free(o.buf);
	if (failed || fflush(fp) != 0 || ferror(fp)) {
		return TANDEM_EIO;
	}
	return TANDEM_OK;
}
