/* Zone file loading with ldns: parse, canonicalise, group into nodes and RRsets, check. */
#include "dns_internal.h"
#include "tandem_error.h"

#include <errno.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

/* One record as read, before grouping. */
typedef struct rec {
	const uint8_t *owner; /* arena, lowercase wire */
	const uint8_t *rdata; /* arena, length-prefixed */
	uint32_t ttl;
	uint32_t line;
	uint16_t type;
	uint16_t covered; /* RRSIG: the type it covers */
} rec_t;

/* The record types the signer makes itself, in the order their warnings are given. */
static const uint16_t signer_owned_types[] = {
    DNS_TYPE_DNSKEY, DNS_TYPE_CDS,   DNS_TYPE_CDNSKEY,    DNS_TYPE_RRSIG,
    DNS_TYPE_NSEC,   DNS_TYPE_NSEC3, DNS_TYPE_NSEC3PARAM, DNS_TYPE_ZONEMD,
};
#define SIGNER_OWNED_N (sizeof(signer_owned_types) / sizeof(signer_owned_types[0]))

/* A run of consecutive records with the same owner (zone files are mostly grouped). */
typedef struct run {
	const uint8_t *owner;
	size_t start, len;
} run_t;

typedef struct loader {
	const char *path;
	const dns_load_opts_t *opts;
	tandem_diag_t *diag;
	dns_zone_t *zone;
	rec_t *recs;
	size_t nrecs, cap;
	unsigned errors;
	int first_code; /* of this load's first error: the return code */
	unsigned soa_count;
	uint32_t soa_line;
	uint32_t soa_minimum;
	/* signer-owned records found in an unsigned input, per signer_owned_types[] */
	unsigned owned_count[SIGNER_OWNED_N];
	uint32_t owned_line[SIGNER_OWNED_N]; /* the first one's line */
} loader_t;

#define LOAD_ERR(l, code, line, ...)                                                               \
	do {                                                                                       \
		(l)->errors++;                                                                     \
		if ((l)->first_code == TANDEM_OK) {                                                \
			(l)->first_code = (code);                                                  \
		}                                                                                  \
		tandem_diag_add((l)->diag, (code), __VA_ARGS__);                                   \
		(void)(line);                                                                      \
	} while (0)

static int push_rec(loader_t *l, const rec_t *r)
{
	if (l->nrecs == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		rec_t *bigger = realloc(l->recs, sizeof(*bigger) * cap);
		if (bigger == NULL) {
			return TANDEM_ENOMEM;
		}
		l->recs = bigger;
		l->cap = cap;
	}
	l->recs[l->nrecs++] = *r;
	return TANDEM_OK;
}

/* Index of type in signer_owned_types[], or -1. */
static int signer_owned_index(uint16_t type)
{
	for (size_t i = 0; i < SIGNER_OWNED_N; i++) {
		if (signer_owned_types[i] == type) {
			return (int)i;
		}
	}
	return -1;
}

/*
 * The one place that decides what happens to the records the signer makes itself
 * when they come in an unsigned input (tandem-signzone and tandemd load through
 * here): never kept. One line per type, with the count and the first one's line:
 * a warning when they are dropped, an error (the input refused) under
 * DNS_SIGNER_OWNED_REFUSE.
 */
static void signer_owned_report(loader_t *l)
{
	char tbuf[16];
	bool refuse = l->opts->signer_owned == DNS_SIGNER_OWNED_REFUSE;
	for (size_t i = 0; i < SIGNER_OWNED_N; i++) {
		unsigned n = l->owned_count[i];
		uint32_t at = l->owned_line[i];
		const char *type = dns_type_to_str(signer_owned_types[i], tbuf);
		const char *s = n == 1 ? "" : "s";
		if (n == 0) {
			continue;
		}
		if (refuse) {
			LOAD_ERR(l, TANDEM_DNS_EPARSE, at,
				 "%s:%u: %u %s record%s in the input (first here): the signer "
				 "makes its own, and the policy says signer-owned: refuse",
				 l->path, at, n, type, s);
		} else {
			tandem_diag_add(l->diag, TANDEM_OK,
					"%s:%u: warning: %u %s record%s in the input (first here) "
					"dropped: the signer makes its own",
					l->path, at, n, type, s);
		}
	}
}

/* Converts one parsed ldns record and stores it; problems go to the diag. */
static int take_rr(loader_t *l, ldns_rr *rr, ldns_buffer *wire, uint32_t line,
		   const uint8_t **prev_owner)
{
	char namebuf[1024], tbuf[16];
	uint16_t type = (uint16_t)ldns_rr_get_type(rr);
	if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) {
		LOAD_ERR(l, TANDEM_DNS_EPARSE, line, "%s:%u: class %u is not supported (only IN)",
			 l->path, line, (unsigned)ldns_rr_get_class(rr));
		return TANDEM_OK;
	}
	int owned = l->opts->keep_dnssec ? -1 : signer_owned_index(type);
	if (owned >= 0) {
		/* never kept: dropped or refused by signer_owned_report */
		if (l->owned_count[owned]++ == 0) {
			l->owned_line[owned] = line;
		}
		return TANDEM_OK;
	}
	ldns_rr2canonical(rr);
	const ldns_rdf *owner = ldns_rr_owner(rr);
	const uint8_t *oname = ldns_rdf_data(owner);
	size_t olen = ldns_rdf_size(owner);
	if (!dns_name_is_sub(oname, l->zone->origin)) {
		dns_name_to_str(oname, namebuf);
		char obuf[1024];
		dns_name_to_str(l->zone->origin, obuf);
		LOAD_ERR(l, TANDEM_DNS_EZONE, line, "%s:%u: out-of-zone data: %s is not in zone %s",
			 l->path, line, namebuf, obuf);
		return TANDEM_OK;
	}
	if (type == DNS_TYPE_SOA) {
		l->soa_count++;
		if (l->soa_count > 1) {
			LOAD_ERR(l, TANDEM_DNS_ESOA, line,
				 "%s:%u: duplicate SOA record (the first is at line %u)", l->path,
				 line, l->soa_line);
			return TANDEM_OK;
		}
		l->soa_line = line;
		if (dns_name_compare(oname, l->zone->origin) != 0) {
			dns_name_to_str(oname, namebuf);
			LOAD_ERR(l, TANDEM_DNS_ESOA, line,
				 "%s:%u: SOA record at %s, not at the apex", l->path, line,
				 namebuf);
			return TANDEM_OK;
		}
	}
	ldns_buffer_clear(wire);
	if (ldns_rr_rdata2buffer_wire(wire, rr) != LDNS_STATUS_OK) {
		LOAD_ERR(l, TANDEM_DNS_EPARSE, line, "%s:%u: cannot encode %s RDATA", l->path, line,
			 dns_type_to_str(type, tbuf));
		return TANDEM_OK;
	}
	size_t rdlen = ldns_buffer_position(wire);
	if (rdlen > 65535) {
		LOAD_ERR(l, TANDEM_DNS_ETOOBIG, line, "%s:%u: RDATA longer than 65535 bytes",
			 l->path, line);
		return TANDEM_OK;
	}
	rec_t r = {.ttl = ldns_rr_ttl(rr), .line = line, .type = type};
	if (*prev_owner != NULL && dns_name_len(*prev_owner, DNS_NAME_MAXLEN) == olen &&
	    memcmp(*prev_owner, oname, olen) == 0) {
		r.owner = *prev_owner;
	} else {
		r.owner = tandem_arena_memdup(l->zone->arena, oname, olen);
		if (r.owner == NULL) {
			return TANDEM_ENOMEM;
		}
		*prev_owner = r.owner;
	}
	uint8_t *rd = tandem_arena_alloc(l->zone->arena, rdlen + 2);
	if (rd == NULL) {
		return TANDEM_ENOMEM;
	}
	rd[0] = (uint8_t)(rdlen >> 8);
	rd[1] = (uint8_t)rdlen;
	memcpy(rd + 2, ldns_buffer_begin(wire), rdlen);
	r.rdata = rd;
	if (type == DNS_TYPE_RRSIG) {
		if (rdlen < 18) {
			LOAD_ERR(l, TANDEM_DNS_EPARSE, line, "%s:%u: truncated RRSIG", l->path,
				 line);
			return TANDEM_OK;
		}
		r.covered = (uint16_t)((rd[2] << 8) | rd[3]);
	}
	if (type == DNS_TYPE_SOA && rdlen >= 4) {
		l->soa_minimum = ((uint32_t)rd[2 + rdlen - 4] << 24) |
				 ((uint32_t)rd[2 + rdlen - 3] << 16) |
				 ((uint32_t)rd[2 + rdlen - 2] << 8) | rd[2 + rdlen - 1];
	}
	return push_rec(l, &r);
}

/*
 * Zone file entries are read here, not by ldns_rr_new_frm_fp_l: ldns folds
 * comment lines into the next record (so its line count cannot say where a
 * record starts) and returns "empty line" at the end of a file inside an open
 * parenthesis, dropping the record. The reader joins a record's lines
 * (parentheses), drops comments, keeps quoted text and escapes as they are,
 * and notes the line each entry starts on; ldns parses the entry's text.
 */
typedef struct reader {
	FILE *fp;
	unsigned line; /* line of the next character */
	char *buf;
	size_t len, cap;
	bool eof;
} reader_t;

static bool reader_put(reader_t *r, char c)
{
	if (r->len + 2 > r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 4096;
		char *bigger = realloc(r->buf, cap);
		if (bigger == NULL) {
			return false;
		}
		r->buf = bigger;
		r->cap = cap;
	}
	r->buf[r->len++] = c;
	return true;
}

/* Next entry in r->buf: 1, with its first line in *start; 0 at the end; -1 for a
 * problem described by *err at line *start (reading can go on after it). */
static int reader_next(reader_t *r, unsigned *start, const char **err)
{
	int depth = 0;
	unsigned open_line = 0;
	bool quoted = false, escaped = false, comment = false, content = false;
	r->len = 0;
	if (r->eof) {
		return 0;
	}
	for (;;) {
		int c = getc_unlocked(r->fp);
		if (c == EOF) {
			r->eof = true;
			if (depth > 0) {
				*start = open_line;
				*err = "'(' is never closed";
				return -1;
			}
			if (quoted) {
				*err = "unterminated quoted string";
				return -1;
			}
			break;
		}
		if (c == '\n') {
			r->line++;
			comment = false;
			if (quoted) {
				*start = r->line - 1;
				*err = "unterminated quoted string";
				return -1;
			}
			escaped = false;
			if (depth > 0) {
				if (!reader_put(r, ' ')) {
					goto nomem;
				}
				continue;
			}
			if (content) {
				break;
			}
			r->len = 0; /* a blank or comment-only line */
			continue;
		}
		if (comment) {
			continue;
		}
		if (escaped) {
			escaped = false;
		} else if (c == '\\') {
			escaped = true;
		} else if (c == '"') {
			quoted = !quoted;
		} else if (!quoted && c == ';') {
			comment = true;
			continue;
		} else if (!quoted && (c == '(' || c == ')')) {
			if (c == '(' && depth++ == 0) {
				open_line = r->line;
			}
			if (c == ')' && --depth < 0) {
				*start = r->line;
				*err = "')' without a matching '('";
				/* skip the rest of the line */
				while ((c = getc_unlocked(r->fp)) != EOF && c != '\n') {
				}
				r->line += c == '\n';
				r->eof = c == EOF;
				return -1;
			}
			c = ' ';
		}
		if (!content && c != ' ' && c != '\t' && c != '\r') {
			content = true;
			*start = r->line;
		}
		if (!reader_put(r, (char)c)) {
			goto nomem;
		}
	}
	if (!content) {
		return 0;
	}
	r->buf[r->len] = '\0';
	return 1;
nomem:
	*err = "out of memory";
	r->eof = true;
	return -1;
}

/* Records from a file: the reader, directives, and ldns for each record's text. */
typedef struct rr_source {
	reader_t rd;
	const char *path;
	tandem_diag_t *diag;
	ldns_rdf *origin, *prev;
	uint32_t default_ttl;
	bool ttl_seen;
	unsigned errors;
	int first_code;
} rr_source_t;

static void source_error(rr_source_t *s, int code, unsigned line, const char *fmt, const char *arg)
{
	char msg[512];
	snprintf(msg, sizeof(msg), fmt, arg);
	s->errors++;
	if (s->first_code == TANDEM_OK) {
		s->first_code = code;
	}
	tandem_diag_add(s->diag, code, "%s:%u: %s", s->path, line, msg);
}

static int source_open(rr_source_t *s, const char *path, FILE *fp, const char *origin,
		       uint32_t default_ttl, tandem_diag_t *diag)
{
	memset(s, 0, sizeof(*s));
	s->rd.fp = fp;
	s->rd.line = 1;
	s->path = path;
	s->diag = diag;
	s->default_ttl = default_ttl;
	return ldns_str2rdf_dname(&s->origin, origin) == LDNS_STATUS_OK ? TANDEM_OK
									: TANDEM_DNS_ENAME;
}

static void source_close(rr_source_t *s)
{
	ldns_rdf_deep_free(s->origin);
	ldns_rdf_deep_free(s->prev);
	free(s->rd.buf);
}

static void source_directive(rr_source_t *s, unsigned line)
{
	char name[32] = "", arg[1024] = "", extra[8] = "";
	int n = sscanf(s->rd.buf, "%31s %1023s %7s", name, arg, extra);
	if (strcasecmp(name, "$ORIGIN") == 0 && n == 2) {
		ldns_rdf *o = NULL;
		if (ldns_str2rdf_dname(&o, arg) != LDNS_STATUS_OK) {
			source_error(s, TANDEM_DNS_ENAME, line, "bad $ORIGIN '%s'", arg);
			return;
		}
		if (!ldns_dname_str_absolute(arg) &&
		    ldns_dname_cat(o, s->origin) != LDNS_STATUS_OK) {
			ldns_rdf_deep_free(o);
			source_error(s, TANDEM_DNS_ENAME, line, "$ORIGIN '%s' is too long", arg);
			return;
		}
		ldns_rdf_deep_free(s->origin);
		s->origin = o;
	} else if (strcasecmp(name, "$TTL") == 0 && n == 2) {
		const char *end = NULL;
		uint32_t ttl = ldns_str2period(arg, &end);
		if (end == NULL || *end != '\0' || ttl > 0x7fffffffu) {
			source_error(s, TANDEM_DNS_EPARSE, line, "bad $TTL '%s'", arg);
			return;
		}
		s->default_ttl = ttl;
		s->ttl_seen = true;
	} else if (strcasecmp(name, "$INCLUDE") == 0) {
		source_error(s, TANDEM_DNS_EPARSE, line, "%s is not supported", "$INCLUDE");
	} else {
		source_error(s, TANDEM_DNS_EPARSE, line, "bad or unsupported directive '%s'",
			     s->rd.buf);
	}
}

/* 1 with the next record and its line; 0 at the end. Problems go to the diag. */
static int source_next(rr_source_t *s, ldns_rr **rr, uint32_t *line)
{
	for (;;) {
		unsigned at = s->rd.line;
		const char *err = NULL;
		int r = reader_next(&s->rd, &at, &err);
		if (r == 0) {
			return 0;
		}
		if (r < 0) {
			source_error(s, TANDEM_DNS_EPARSE, at, "%s", err);
			continue;
		}
		if (s->rd.buf[0] == '$') {
			source_directive(s, at);
			continue;
		}
		ldns_status st =
		    ldns_rr_new_frm_str(rr, s->rd.buf, s->default_ttl, s->origin, &s->prev);
		if (st != LDNS_STATUS_OK) {
			source_error(s, TANDEM_DNS_EPARSE, at, "%s", ldns_get_errorstr_by_id(st));
			continue;
		}
		*line = at;
		return 1;
	}
}

static int parse_file(loader_t *l, FILE *fp)
{
	rr_source_t src;
	ldns_buffer *wire = ldns_buffer_new(4096);
	const uint8_t *prev_owner = NULL;
	/* Before the SOA and any $TTL, 3600; after the SOA, its MINIMUM (as BIND does). */
	int ret = source_open(&src, l->path, fp, l->opts->origin,
			      l->opts->default_ttl ? l->opts->default_ttl : 3600, l->diag);
	if (wire == NULL || ret != TANDEM_OK) {
		ret = wire == NULL ? TANDEM_ENOMEM : ret;
		goto out;
	}
	ldns_rr *rr = NULL;
	uint32_t at = 0;
	while (source_next(&src, &rr, &at) == 1) {
		if (l->first_code == TANDEM_OK) {
			l->first_code = src.first_code; /* keep file order for the return code */
		}
		unsigned soa_before = l->soa_count;
		ret = take_rr(l, rr, wire, at, &prev_owner);
		ldns_rr_free(rr);
		if (ret != TANDEM_OK) {
			goto out;
		}
		if (l->soa_count == 1 && soa_before == 0 && !src.ttl_seen &&
		    l->opts->default_ttl == 0) {
			src.default_ttl = l->soa_minimum;
		}
	}
	if (ferror(fp)) {
		tandem_diag_add(l->diag, TANDEM_EIO, "%s: read error: %s", l->path,
				strerror(errno));
		ret = TANDEM_EIO;
	}
out:
	l->errors += src.errors;
	if (l->first_code == TANDEM_OK) {
		l->first_code = src.first_code;
	}
	source_close(&src);
	ldns_buffer_free(wire);
	return ret;
}

static int run_cmp(const void *a, const void *b)
{
	const run_t *ra = a, *rb = b;
	int c = dns_name_compare(ra->owner, rb->owner);
	if (c != 0) {
		return c;
	}
	return ra->start < rb->start ? -1 : (ra->start > rb->start);
}

/* Order inside one name: by type (RRSIGs by the type they cover, after it), then RDATA. */
static int rec_cmp(const void *a, const void *b)
{
	const rec_t *x = a, *y = b;
	uint16_t tx = x->type == DNS_TYPE_RRSIG ? x->covered : x->type;
	uint16_t ty = y->type == DNS_TYPE_RRSIG ? y->covered : y->type;
	if (tx != ty) {
		return tx < ty ? -1 : 1;
	}
	bool sx = x->type == DNS_TYPE_RRSIG, sy = y->type == DNS_TYPE_RRSIG;
	if (sx != sy) {
		return sx ? 1 : -1;
	}
	int c = dns_rdata_compare(x->rdata, y->rdata);
	if (c != 0) {
		return c;
	}
	return x->line < y->line ? -1 : (x->line > y->line);
}

/* Builds one node from its records (sorted by rec_cmp). */
static int build_node(loader_t *l, dns_node_t *node, rec_t *r, size_t n)
{
	char namebuf[1024], tbuf[16];
	tandem_arena_t *arena = l->zone->arena;
	size_t nsets = 0;
	for (size_t i = 0; i < n; i++) {
		if (r[i].type != DNS_TYPE_RRSIG &&
		    (i == 0 || r[i].type != r[i - 1].type || r[i - 1].type == DNS_TYPE_RRSIG)) {
			nsets++;
		}
	}
	memset(node, 0, sizeof(*node));
	node->name = r[0].owner;
	node->name_len = (uint8_t)dns_name_len(r[0].owner, DNS_NAME_MAXLEN);
	node->labels = (uint8_t)dns_name_labels(r[0].owner);
	node->line = r[0].line;
	for (size_t i = 1; i < n; i++) {
		if (r[i].line < node->line) {
			node->line = r[i].line;
		}
	}
	node->rrsets = tandem_arena_alloc(arena, sizeof(dns_rrset_t) * (nsets ? nsets : 1));
	node->rrset_cap = (uint16_t)(nsets ? nsets : 1);
	const uint8_t **ptrs = tandem_arena_alloc(arena, sizeof(*ptrs) * n);
	if (node->rrsets == NULL || ptrs == NULL) {
		return TANDEM_ENOMEM;
	}
	size_t i = 0;
	while (i < n) {
		uint16_t type = r[i].type == DNS_TYPE_RRSIG ? r[i].covered : r[i].type;
		dns_rrset_t *rs = NULL;
		uint32_t first_line = r[i].line;
		uint32_t ttl = r[i].ttl;
		/* Data records of this type. */
		size_t j = i;
		const uint8_t **rd = ptrs + i;
		uint16_t count = 0;
		while (j < n && r[j].type == type && type != DNS_TYPE_RRSIG) {
			if (count > 0 && dns_rdata_compare(rd[count - 1], r[j].rdata) == 0) {
				j++; /* duplicate RR (RFC 2181 5): keep one */
				continue;
			}
			if (count == UINT16_MAX) {
				dns_name_to_str(node->name, namebuf);
				LOAD_ERR(l, TANDEM_DNS_ETOOBIG, r[j].line,
					 "%s:%u: %s %s: more than 65535 records", l->path,
					 r[j].line, namebuf, dns_type_to_str(type, tbuf));
				return TANDEM_OK;
			}
			if (r[j].line < first_line) {
				first_line = r[j].line;
				ttl = r[j].ttl;
			}
			rd[count++] = r[j].rdata;
			j++;
		}
		if (count > 0) {
			rs = &node->rrsets[node->rrset_count++];
			memset(rs, 0, sizeof(*rs));
			rs->type = type;
			rs->ttl = ttl;
			rs->line = first_line;
			rs->count = count;
			rs->rdata = rd;
			for (size_t k = i; k < j; k++) {
				if (r[k].ttl != ttl) {
					dns_name_to_str(node->name, namebuf);
					tandem_diag_add(
					    l->diag, TANDEM_OK,
					    "%s:%u: warning: %s %s: TTL %u differs from "
					    "the RRset's TTL %u (line %u); using %u",
					    l->path, r[k].line, namebuf,
					    dns_type_to_str(type, tbuf), r[k].ttl, ttl, first_line,
					    ttl);
					break;
				}
			}
		}
		/* Signatures covering this type. */
		size_t s = j;
		const uint8_t **sd = ptrs + j;
		uint16_t scount = 0;
		while (s < n && r[s].type == DNS_TYPE_RRSIG && r[s].covered == type) {
			if (scount == 0 || dns_rdata_compare(sd[scount - 1], r[s].rdata) != 0) {
				sd[scount++] = r[s].rdata;
			}
			s++;
		}
		if (scount > 0) {
			if (rs == NULL) {
				dns_name_to_str(node->name, namebuf);
				LOAD_ERR(l, TANDEM_DNS_EPARSE, r[j].line,
					 "%s:%u: RRSIG at %s covers %s, which has no records there",
					 l->path, r[j].line, namebuf, dns_type_to_str(type, tbuf));
			} else {
				rs->sigs = sd;
				rs->sig_count = scount;
			}
		}
		i = s > j ? s : (j > i ? j : i + 1);
	}
	return TANDEM_OK;
}

static int group(loader_t *l)
{
	int ret = TANDEM_OK;
	run_t *runs = NULL;
	size_t nruns = 0;
	rec_t *tmp = NULL;
	if (l->nrecs == 0) {
		return TANDEM_OK;
	}
	runs = malloc(sizeof(*runs) * l->nrecs);
	if (runs == NULL) {
		return TANDEM_ENOMEM;
	}
	for (size_t i = 0; i < l->nrecs; i++) {
		if (nruns > 0 && runs[nruns - 1].owner == l->recs[i].owner) {
			runs[nruns - 1].len++;
		} else {
			runs[nruns++] = (run_t){l->recs[i].owner, i, 1};
		}
	}
	qsort(runs, nruns, sizeof(*runs), run_cmp);
	size_t nnames = 0;
	for (size_t i = 0; i < nruns; i++) {
		if (i == 0 || dns_name_compare(runs[i - 1].owner, runs[i].owner) != 0) {
			nnames++;
		}
	}
	l->zone->nodes = calloc(nnames, sizeof(dns_node_t));
	tmp = malloc(sizeof(*tmp) * l->nrecs);
	if (l->zone->nodes == NULL || tmp == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	/* Gather each name's records in order into tmp, then build its node. */
	size_t out_pos = 0;
	for (size_t i = 0; i < nruns;) {
		size_t start = out_pos, k = i;
		while (k < nruns &&
		       (k == i || dns_name_compare(runs[i].owner, runs[k].owner) == 0)) {
			memcpy(tmp + out_pos, l->recs + runs[k].start, sizeof(*tmp) * runs[k].len);
			out_pos += runs[k].len;
			k++;
		}
		size_t n = out_pos - start;
		if (n > 1) {
			qsort(tmp + start, n, sizeof(*tmp), rec_cmp);
		}
		ret = build_node(l, &l->zone->nodes[l->zone->node_count++], tmp + start, n);
		if (ret != TANDEM_OK) {
			goto out;
		}
		i = k;
	}
	/* The rdata pointer arrays of nodes point into arena copies made in
	 * build_node, so tmp can go. */
out:
	free(runs);
	free(tmp);
	return ret;
}

/*
 * Moves NSEC3 RRsets (with their RRSIGs) out of the main node array into the
 * zone's NSEC3 array, as the signer lays them out. A node left with nothing
 * is dropped; a real name that happens to look like a hash keeps its data.
 */
static int split_nsec3(dns_zone_t *zone)
{
	size_t n3 = 0;
	for (size_t i = 0; i < zone->node_count; i++) {
		n3 += dns_node_rrset(&zone->nodes[i], DNS_TYPE_NSEC3) != NULL;
	}
	if (n3 == 0) {
		return TANDEM_OK;
	}
	dns_node_t *out = calloc(n3, sizeof(*out));
	if (out == NULL) {
		return TANDEM_ENOMEM;
	}
	size_t k = 0, keep = 0;
	for (size_t i = 0; i < zone->node_count; i++) {
		dns_node_t *n = &zone->nodes[i];
		dns_rrset_t *rs = dns_node_rrset(n, DNS_TYPE_NSEC3);
		if (rs != NULL) {
			dns_node_t *m = &out[k++];
			*m = *n;
			m->flags = 0;
			m->rrsets = tandem_arena_memdup(zone->arena, rs, sizeof(*rs));
			if (m->rrsets == NULL) {
				free(out);
				return TANDEM_ENOMEM;
			}
			m->rrset_count = 1;
			m->rrset_cap = 1;
			dns_node_remove_rrset(n, DNS_TYPE_NSEC3);
		}
		if (n->rrset_count > 0 || rs == NULL) {
			zone->nodes[keep++] = *n;
		}
	}
	zone->node_count = keep;
	dns_zone_set_nsec3_nodes_take(zone, out, k);
	return TANDEM_OK;
}

/* Data checks that need whole nodes: CNAME/DNAME rules, DS placement, occlusion. */
static void check_nodes(loader_t *l)
{
	char namebuf[1024], cutbuf[1024], tbuf[16];
	const uint8_t *cut = NULL;
	for (size_t i = 0; i < l->zone->node_count; i++) {
		dns_node_t *n = &l->zone->nodes[i];
		dns_name_to_str(n->name, namebuf);
		dns_rrset_t *cname = dns_node_rrset(n, DNS_TYPE_CNAME);
		if (cname != NULL) {
			uint32_t at = cname->line;
			if (n->flags & DNS_NODE_APEX) {
				LOAD_ERR(l, TANDEM_DNS_ECNAME, at,
					 "%s:%u: CNAME at the zone apex %s", l->path, at, namebuf);
			} else if (cname->count > 1) {
				LOAD_ERR(l, TANDEM_DNS_ECNAME, at,
					 "%s:%u: more than one CNAME record at %s", l->path, at,
					 namebuf);
			}
			for (uint16_t r = 0; r < n->rrset_count; r++) {
				uint16_t t = n->rrsets[r].type;
				if (t != DNS_TYPE_CNAME && t != DNS_TYPE_RRSIG &&
				    t != DNS_TYPE_NSEC) {
					uint32_t other = n->rrsets[r].line;
					uint32_t later = other > at ? other : at;
					LOAD_ERR(l, TANDEM_DNS_ECNAME, later,
						 "%s:%u: CNAME and other data (%s) at %s", l->path,
						 later, dns_type_to_str(t, tbuf), namebuf);
					break;
				}
			}
		}
		dns_rrset_t *dname = dns_node_rrset(n, DNS_TYPE_DNAME);
		if ((n->flags & DNS_NODE_APEX) && dname != NULL) {
			LOAD_ERR(l, TANDEM_DNS_ECNAME, dname->line,
				 "%s:%u: DNAME at the zone apex %s", l->path, dname->line, namebuf);
		}
		dns_rrset_t *ds = dns_node_rrset(n, DNS_TYPE_DS);
		if (ds != NULL && !(n->flags & DNS_NODE_DELEG) &&
		    !(n->flags & DNS_NODE_BELOW_CUT)) {
			LOAD_ERR(l, TANDEM_DNS_EZONE, ds->line,
				 "%s:%u: DS record at %s, which is not a delegation point", l->path,
				 ds->line, namebuf);
		}
		if (n->flags & DNS_NODE_DELEG) {
			cut = n->name;
		}
		if ((n->flags & DNS_NODE_OCCLUDED) && !(n->flags & DNS_NODE_ENT)) {
			const char *parent = "a delegation";
			if (cut != NULL && dns_name_is_sub(n->name, cut)) {
				dns_name_to_str(cut, cutbuf);
				parent = cutbuf;
			}
			for (uint16_t r = 0; r < n->rrset_count; r++) {
				uint16_t t = n->rrsets[r].type;
				if (t == DNS_TYPE_A || t == DNS_TYPE_AAAA) {
					continue;
				}
				tandem_diag_add(l->diag, TANDEM_OK,
						"%s:%u: warning: occluded data %s %s below %s "
						"(kept, not signed)",
						l->path, n->rrsets[r].line, namebuf,
						dns_type_to_str(t, tbuf), parent);
			}
		}
	}
}

int dns_zone_load(const char *path, const dns_load_opts_t *opts, tandem_diag_t *diag,
		  dns_zone_t **out)
{
	if (path == NULL || opts == NULL || opts->origin == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	FILE *fp = fopen(path, "r");
	if (fp == NULL) {
		tandem_diag_add(diag, TANDEM_EIO, "%s: %s", path, strerror(errno));
		return errno == ENOENT ? TANDEM_ENOENT : TANDEM_EIO;
	}
	int ret = dns_zone_load_stream(fp, path, opts, diag, out);
	fclose(fp);
	return ret;
}

int dns_zone_load_stream(FILE *fp, const char *path, const dns_load_opts_t *opts,
			 tandem_diag_t *diag, dns_zone_t **out)
{
	if (fp == NULL || path == NULL || opts == NULL || opts->origin == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	uint8_t origin[DNS_NAME_MAXLEN];
	size_t origin_len = 0;
	char *abs_origin = NULL;
	size_t olen = strlen(opts->origin);
	if (olen == 0 || asprintf(&abs_origin, "%s%s", opts->origin,
				  opts->origin[olen - 1] == '.' ? "" : ".") < 0) {
		return TANDEM_EINVAL;
	}
	int ret = dns_name_from_str(abs_origin, NULL, origin, &origin_len);
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, ret, "bad zone origin '%s'", opts->origin);
		free(abs_origin);
		return ret;
	}
	loader_t l = {.path = path, .opts = opts, .diag = diag};
	dns_load_opts_t o = *opts;
	o.origin = abs_origin;
	l.opts = &o;
	ret = dns_zone_create(origin, origin_len, &l.zone);
	if (ret != TANDEM_OK) {
		goto out;
	}
	ret = parse_file(&l, fp);
	if (ret != TANDEM_OK) {
		goto out;
	}
	signer_owned_report(&l);
	if (l.soa_count == 0) {
		LOAD_ERR(&l, TANDEM_DNS_ESOA, 0, "%s: no SOA record at the zone apex %s", path,
			 abs_origin);
	}
	ret = group(&l);
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (opts->keep_dnssec) {
		ret = split_nsec3(l.zone);
		if (ret != TANDEM_OK) {
			goto out;
		}
	}
	ret = dns_zone_add_ents(l.zone);
	if (ret != TANDEM_OK) {
		goto out;
	}
	dns_zone_mark(l.zone);
	check_nodes(&l);
	if (l.errors > 0) {
		ret = l.first_code != TANDEM_OK ? l.first_code : TANDEM_DNS_EPARSE;
		goto out;
	}
	*out = l.zone;
	l.zone = NULL;
out:
	free(l.recs);
	free(abs_origin);
	dns_zone_free(l.zone);
	return ret;
}

int dns_rdata_load_file(const char *path, const char *origin, uint16_t type, tandem_arena_t *arena,
			tandem_diag_t *diag, const uint8_t ***out, size_t *count)
{
	if (path == NULL || origin == NULL || arena == NULL || out == NULL || count == NULL) {
		return TANDEM_EINVAL;
	}
	int ret = TANDEM_OK;
	rr_source_t src;
	ldns_rdf *want = NULL;
	ldns_buffer *wire = ldns_buffer_new(1024);
	const uint8_t **list = NULL;
	size_t n = 0, cap = 0;
	char tbuf[16];
	FILE *fp = fopen(path, "r");
	if (fp == NULL) {
		tandem_diag_add(diag, TANDEM_EIO, "%s: %s", path, strerror(errno));
		ldns_buffer_free(wire);
		return TANDEM_EIO;
	}
	if (source_open(&src, path, fp, origin, 3600, diag) != TANDEM_OK || wire == NULL ||
	    (want = ldns_rdf_clone(src.origin)) == NULL) {
		ret = TANDEM_DNS_ENAME;
		tandem_diag_add(diag, ret, "bad origin '%s'", origin);
		goto out;
	}
	ldns_dname2canonical(want);
	ldns_rr *rr = NULL;
	uint32_t at = 0;
	while (source_next(&src, &rr, &at) == 1) {
		ldns_rr2canonical(rr);
		bool ok = (uint16_t)ldns_rr_get_type(rr) == type &&
			  ldns_dname_compare(ldns_rr_owner(rr), want) == 0;
		ldns_buffer_clear(wire);
		if (!ok || ldns_rr_rdata2buffer_wire(wire, rr) != LDNS_STATUS_OK) {
			ldns_rr_free(rr);
			ret = TANDEM_DNS_EPARSE;
			tandem_diag_add(diag, ret, "%s:%u: expected a %s record owned by %s", path,
					at, dns_type_to_str(type, tbuf), origin);
			goto out;
		}
		ldns_rr_free(rr);
		size_t len = ldns_buffer_position(wire);
		uint8_t *rd = tandem_arena_alloc(arena, len + 2);
		if (rd == NULL) {
			ret = TANDEM_ENOMEM;
			goto out;
		}
		rd[0] = (uint8_t)(len >> 8);
		rd[1] = (uint8_t)len;
		memcpy(rd + 2, ldns_buffer_begin(wire), len);
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			const uint8_t **bigger = realloc(list, sizeof(*list) * cap);
			if (bigger == NULL) {
				ret = TANDEM_ENOMEM;
				goto out;
			}
			list = bigger;
		}
		list[n++] = rd;
	}
	if (src.errors > 0) {
		ret = src.first_code;
		goto out;
	}
	*out = list;
	*count = n;
	list = NULL;
out:
	free(list);
	source_close(&src);
	ldns_rdf_deep_free(want);
	ldns_buffer_free(wire);
	fclose(fp);
	return ret;
}
