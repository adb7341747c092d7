/* Zone file loading with Knot's zone scanner: parse, canonicalise, group into nodes and RRsets,
 * check. */
#include "dns_diff.h"
#include "dns_internal.h"
#include "tandem_error.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include <libzscanner/scanner.h>
#include <sys/mman.h>
#include <sys/stat.h>

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
	const uint8_t *key; /* the owner's sort key (name_sort_key), in group()'s buffer */
	size_t klen;
} run_t;

/* What the runs are sorted by first: the 8 bytes of the sort key after the origin's (all
 * owners begin with that), big-endian, zero-padded; ties are settled by the whole key. */
typedef struct run_ref {
	uint64_t prefix;
	size_t run; /* index in the run array */
} run_ref_t;

typedef struct loader {
	const char *path;
	const dns_load_opts_t *opts;
	tandem_diag_t *diag;
	dns_zone_t *zone;
	rec_t *recs;
	size_t nrecs, cap;
	unsigned errors;
	int first_code; /* of this load's first error: the return code */
	bool dups;      /* a record came twice (kept once) */
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

/*
 * Zone file text is read by Knot's zone scanner (libzscanner): a state machine
 * that parses a large zone an order of magnitude faster than building an ldns
 * record per line, and that knows $ORIGIN, $TTL, parentheses, quoting and
 * escapes. What it does not do is done here: the line a record starts on (the
 * scanner counts lines as it goes, so a multi-line record would be named by its
 * last line), the TTL of a record without one after the SOA (BIND's rule: the
 * SOA's MINIMUM until a $TTL), lowercasing (RFC 4034 6.2), and refusing
 * $INCLUDE and classes other than IN.
 */
#define TTL_UNSET UINT32_MAX /* the scanner's default TTL before any $TTL or SOA */

/* One record as the scanner gives it, owner and names in RDATA lowercased. */
typedef struct text_rr {
	const uint8_t *owner; /* wire, lowercase; in the source's scanner */
	size_t owner_len;
	uint16_t type, rclass;
	uint32_t ttl;
	const uint8_t *rdata; /* wire, canonical (RFC 4034 6.2) */
	size_t rdlen;
	uint32_t line; /* where the record starts */
} text_rr_t;

typedef struct text_source {
	zs_scanner_t *zs;
	const char *path;
	tandem_diag_t *diag;
	char *buf; /* the whole input (mapped, or read when it cannot be) */
	size_t len;
	bool mapped;
	const char *pos;    /* where line counting stands ... */
	uint32_t line;      /* ... and the line there (1-based) */
	uint32_t ttl_first; /* TTL of records before any $TTL or SOA */
	bool soa_rule;      /* after the SOA, its MINIMUM is the default until a $TTL */
	bool ttl_needed;    /* a record whose TTL would come from the default is an error (a
			       stretch of a file parsed alone: the default depends on what came
			       before) */
	unsigned errors;
	int first_code;
} text_source_t;

static void text_error(text_source_t *t, int code, uint32_t line, const char *fmt, const char *arg)
{
	char msg[512];
	snprintf(msg, sizeof(msg), fmt, arg);
	t->errors++;
	if (t->first_code == TANDEM_OK) {
		t->first_code = code;
	}
	tandem_diag_add(t->diag, code, "%s:%u: %s", t->path, line, msg);
}

/* Maps (or, for a pipe, reads) the whole of fp; the caller keeps fp open. */
static int text_input(text_source_t *t, FILE *fp)
{
	struct stat st;
	int fd = fileno(fp);
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m != MAP_FAILED) {
			(void)madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
			t->buf = m;
			t->len = (size_t)st.st_size;
			t->mapped = true;
			return TANDEM_OK;
		}
	}
	size_t cap = 0;
	for (;;) {
		if (t->len == cap) {
			cap = cap ? cap * 2 : 65536;
			char *bigger = realloc(t->buf, cap);
			if (bigger == NULL) {
				return TANDEM_ENOMEM;
			}
			t->buf = bigger;
		}
		size_t n = fread(t->buf + t->len, 1, cap - t->len, fp);
		t->len += n;
		if (n == 0) {
			break;
		}
	}
	if (ferror(fp)) {
		tandem_diag_add(t->diag, TANDEM_EIO, "%s: read error: %s", t->path,
				strerror(errno));
		return TANDEM_EIO;
	}
	return TANDEM_OK;
}

/* default_ttl 0: 3600 before the SOA, then the SOA's MINIMUM until a $TTL (as BIND). */
static int text_open(text_source_t *t, const char *path, FILE *fp, const char *origin,
		     uint32_t default_ttl, tandem_diag_t *diag)
{
	memset(t, 0, sizeof(*t));
	t->path = path;
	t->diag = diag;
	t->line = 1;
	t->ttl_first = default_ttl ? default_ttl : 3600;
	t->soa_rule = default_ttl == 0;
	int ret = text_input(t, fp);
	if (ret != TANDEM_OK) {
		return ret;
	}
	t->pos = t->buf;
	t->zs = malloc(sizeof(*t->zs));
	if (t->zs == NULL) {
		return TANDEM_ENOMEM;
	}
	if (zs_init(t->zs, origin, DNS_CLASS_IN, t->soa_rule ? TTL_UNSET : default_ttl) != 0) {
		free(t->zs);
		t->zs = NULL;
		return TANDEM_DNS_ENAME;
	}
	if (zs_set_input_string(t->zs, t->len ? t->buf : "", t->len) != 0) {
		return TANDEM_ENOMEM;
	}
	return TANDEM_OK;
}

static void text_close(text_source_t *t)
{
	if (t->zs != NULL) {
		zs_deinit(t->zs);
		free(t->zs);
	}
	if (t->mapped) {
		munmap(t->buf, t->len);
	} else {
		free(t->buf);
	}
}

/* Moves line counting to p (at or after t->pos). */
static void text_count_to(text_source_t *t, const char *p)
{
	const char *end = t->buf + t->len;
	p = p > end ? end : p;
	while (t->pos < p) {
		const char *nl = memchr(t->pos, '\n', (size_t)(p - t->pos));
		if (nl == NULL) {
			t->pos = p;
			break;
		}
		t->line++;
		t->pos = nl + 1;
	}
}

/* The line of the first record token at or after from: blanks, comments and directive
 * lines ($TTL, $ORIGIN) skipped. */
static uint32_t text_start_line(text_source_t *t, const char *from)
{
	const char *end = t->buf + t->len, *p = from;
	text_count_to(t, from);
	while (p < end) {
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
			p++;
		} else if (*p == ';' || *p == '$') {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			p = nl != NULL ? nl : end;
		} else {
			break;
		}
	}
	text_count_to(t, p);
	return t->line;
}

/* True when line `at` (at or after where counting stands) names a class other than IN
 * among its first tokens (CH, HS, CS, NONE, ANY, CLASSn): the class in out. */
static bool text_line_class(text_source_t *t, uint32_t at, char *out, size_t size)
{
	const char *end = t->buf + t->len, *p = t->pos;
	for (uint32_t line = t->line; line < at && p < end; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		p = nl != NULL ? nl + 1 : end;
	}
	if (p < end && *p != ' ' && *p != '\t') {
		while (p < end && *p != ' ' && *p != '\t' && *p != '\n') {
			p++; /* the owner */
		}
	}
	for (int tok = 0; tok < 3 && p < end && *p != '\n' && *p != ';'; tok++) {
		while (p < end && (*p == ' ' || *p == '\t')) {
			p++;
		}
		const char *w = p;
		while (p < end && *p != ' ' && *p != '\t' && *p != '\n' && *p != ';') {
			p++;
		}
		size_t n = (size_t)(p - w);
		static const char *const classes[] = {"CH", "HS", "CS", "NONE", "ANY"};
		bool hit = n > 5 && n < size && strncasecmp(w, "CLASS", 5) == 0 &&
			   strspn(w + 5, "0123456789") == n - 5 && !(n == 6 && w[5] == '1');
		for (size_t c = 0; c < sizeof(classes) / sizeof(classes[0]) && !hit; c++) {
			hit = n == strlen(classes[c]) && strncasecmp(w, classes[c], n) == 0;
		}
		if (hit && n < size) {
			for (size_t i = 0; i < n; i++) {
				out[i] = (char)toupper((unsigned char)w[i]);
			}
			out[n] = '\0';
			return true;
		}
	}
	return false;
}

/* Lowercases the uncompressed name at rd[*off] in place and moves *off past it. Returns
 * false when the name runs over rdlen. */
static bool lower_name(uint8_t *rd, size_t rdlen, size_t *off)
{
	size_t o = *off;
	while (o < rdlen) {
		uint8_t n = rd[o++];
		if (n == 0) {
			*off = o;
			return true;
		}
		if (n > 63 || o + n > rdlen) {
			return false;
		}
		for (size_t i = 0; i < n; i++, o++) {
			if (rd[o] >= 'A' && rd[o] <= 'Z') {
				rd[o] = (uint8_t)(rd[o] - 'A' + 'a');
			}
		}
	}
	return false;
}

/* RFC 4034 6.2 as RFC 6840 5.1 reads it (NSEC's next name kept as it is): the domain
 * names inside RDATA of these types are lowercased. */
static void rdata_canonical(uint16_t type, uint8_t *rd, size_t rdlen)
{
	size_t off = 0;
	int names = 1;
	switch (type) {
	case 2:
	case 3:
	case 4:
	case 5:
	case 7:
	case 8:
	case 9:
	case 12:
	case 30:
	case 39: break; /* NS MD MF CNAME MB MG MR PTR NXT DNAME: a name first */
	case 6:
	case 14:
	case 17:
		names = 2; /* SOA MINFO RP */
		break;
	case 15:
	case 18:
	case 21:
	case 36:
		off = 2; /* MX AFSDB RT KX */
		break;
	case 26:
		off = 2; /* PX */
		names = 2;
		break;
	case 33:
		off = 6; /* SRV */
		break;
	case 24:
	case 46:
		off = 18; /* SIG RRSIG: the signer's name */
		break;
	case 35: /* NAPTR: order, preference, three strings, then the replacement */
		off = 4;
		for (int i = 0; i < 3 && off < rdlen; i++) {
			off += 1u + rd[off];
		}
		break;
	default: return;
	}
	for (int i = 0; i < names && off < rdlen; i++) {
		if (!lower_name(rd, rdlen, &off)) {
			return;
		}
	}
}

/* 1 with the next record in *rr; 0 at the end. Problems go to the diag (and count). */
static int text_next(text_source_t *t, text_rr_t *rr)
{
	zs_scanner_t *zs = t->zs;
	for (;;) {
		const char *from = zs->input.current;
		if (zs_parse_record(zs) != 0 && zs->state != ZS_STATE_ERROR) {
			return 0;
		}
		switch (zs->state) {
		case ZS_STATE_DATA: break;
		case ZS_STATE_ERROR: {
			uint32_t at = (uint32_t)zs->line_counter;
			char cls[16];
			if (zs->error.code == ZS_UNSUPPORTED_TYPE &&
			    text_line_class(t, at, cls, sizeof(cls))) {
				/* the scanner knows no class but IN, and takes the class for the
				 * type: say what is wrong */
				text_error(t, TANDEM_DNS_EPARSE, at,
					   "class %s is not supported (only IN)", cls);
			} else {
				text_error(t, TANDEM_DNS_EPARSE, at, "%s",
					   zs_strerror(zs->error.code));
			}
			if (zs->error.fatal) {
				return 0;
			}
			continue;
		}
		case ZS_STATE_INCLUDE:
			text_error(t, TANDEM_DNS_EPARSE, (uint32_t)zs->line_counter,
				   "%s is not supported", "$INCLUDE");
			continue;
		default: return 0; /* EOF or STOP */
		}
		rr->line = text_start_line(t, from);
		for (uint32_t i = 0; i < zs->r_owner_length; i++) {
			uint8_t *c = &zs->r_owner[i];
			*c = *c >= 'A' && *c <= 'Z' ? (uint8_t)(*c - 'A' + 'a') : *c;
		}
		rr->owner = zs->r_owner;
		rr->owner_len = zs->r_owner_length;
		rr->type = zs->r_type;
		rr->rclass = zs->r_class;
		if (zs->r_ttl == TTL_UNSET && t->ttl_needed) {
			text_error(t, TANDEM_DNS_EPARSE, rr->line, "%s",
				   "no TTL, and no $TTL before it");
			continue;
		}
		rr->ttl = zs->r_ttl == TTL_UNSET ? t->ttl_first : zs->r_ttl;
		rdata_canonical(zs->r_type, zs->r_data, zs->r_data_length);
		rr->rdata = zs->r_data;
		rr->rdlen = zs->r_data_length;
		if (rr->type == DNS_TYPE_SOA && t->soa_rule && zs->default_ttl == TTL_UNSET &&
		    rr->rdlen >= 4) {
			const uint8_t *m = rr->rdata + rr->rdlen - 4;
			zs->default_ttl = (uint32_t)m[0] << 24 | (uint32_t)m[1] << 16 |
					  (uint32_t)m[2] << 8 | m[3];
		}
		return 1;
	}
}

/* Stores one record; problems go to the diag. */
static int take_rr(loader_t *l, const text_rr_t *tr, const uint8_t **prev_owner)
{
	char namebuf[1024], tbuf[16];
	uint16_t type = tr->type;
	uint32_t line = tr->line;
	if (tr->rclass != DNS_CLASS_IN) {
		LOAD_ERR(l, TANDEM_DNS_EPARSE, line, "%s:%u: class %u is not supported (only IN)",
			 l->path, line, (unsigned)tr->rclass);
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
	const uint8_t *oname = tr->owner;
	size_t olen = tr->owner_len;
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
	size_t rdlen = tr->rdlen;
	if (rdlen > 65535) {
		LOAD_ERR(l, TANDEM_DNS_ETOOBIG, line, "%s:%u: RDATA longer than 65535 bytes",
			 l->path, line);
		return TANDEM_OK;
	}
	rec_t r = {.ttl = tr->ttl, .line = line, .type = type};
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
	memcpy(rd + 2, tr->rdata, rdlen);
	r.rdata = rd;
	if (type == DNS_TYPE_RRSIG) {
		if (rdlen < 18) {
			LOAD_ERR(l, TANDEM_DNS_EPARSE, line, "%s:%u: truncated RRSIG", l->path,
				 line);
			return TANDEM_OK;
		}
		r.covered = (uint16_t)((rd[2] << 8) | rd[3]);
	}
	(void)tbuf;
	return push_rec(l, &r);
}

static int parse_file(loader_t *l, FILE *fp)
{
	text_source_t src;
	const uint8_t *prev_owner = NULL;
	int ret = text_open(&src, l->path, fp, l->opts->origin, l->opts->default_ttl, l->diag);
	if (ret == TANDEM_DNS_ENAME) {
		tandem_diag_add(l->diag, ret, "bad zone origin '%s'", l->opts->origin);
	}
	text_rr_t rr;
	while (ret == TANDEM_OK && text_next(&src, &rr) == 1) {
		if (l->first_code == TANDEM_OK) {
			l->first_code = src.first_code; /* keep file order for the return code */
		}
		ret = take_rr(l, &rr, &prev_owner);
	}
	l->errors += src.errors;
	if (l->first_code == TANDEM_OK) {
		l->first_code = src.first_code;
	}
	text_close(&src);
	return ret;
}

/*
 * A byte string whose memcmp order is the canonical order of names (RFC 4034 6.1), so that
 * sorting a million names costs memcmp calls, not label walks: the labels from the root
 * down, each byte as it is (a zero byte escaped as 00 01) and each label closed by 00 00,
 * which sorts below every byte, so a label sorts before the longer ones it begins.
 * out must hold 2 * DNS_NAME_MAXLEN bytes. Returns the length.
 */
static size_t name_sort_key(const uint8_t *name, uint8_t *out)
{
	uint8_t off[128];
	unsigned n = 0;
	for (size_t p = 0; name[p] != 0 && n < sizeof(off); p += name[p] + 1u) {
		off[n++] = (uint8_t)p;
	}
	size_t k = 0;
	while (n-- > 0) {
		const uint8_t *label = name + off[n];
		for (unsigned i = 1; i <= label[0]; i++) {
			out[k++] = label[i];
			if (label[i] == 0) {
				out[k++] = 1;
			}
		}
		out[k++] = 0;
		out[k++] = 0;
	}
	return k;
}

static int key_cmp(const run_t *ra, const run_t *rb)
{
	size_t m = ra->klen < rb->klen ? ra->klen : rb->klen;
	int c = memcmp(ra->key, rb->key, m);
	return c != 0 ? c : (ra->klen > rb->klen) - (ra->klen < rb->klen);
}

static int run_cmp(const void *a, const void *b)
{
	const run_t *ra = a, *rb = b;
	int c = key_cmp(ra, rb);
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

/* A name's records in rec_cmp order: most names have two or three, sorted in place. */
static void recs_sort(rec_t *r, size_t n)
{
	if (n > 16) {
		qsort(r, n, sizeof(*r), rec_cmp);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		rec_t x = r[i];
		size_t j = i;
		while (j > 0 && rec_cmp(&r[j - 1], &x) > 0) {
			r[j] = r[j - 1];
			j--;
		}
		r[j] = x;
	}
}

/* Big-endian value of the up to 8 bytes of key[from..klen), zero-padded. */
static uint64_t key_prefix(const uint8_t *key, size_t klen, size_t from)
{
	uint64_t v = 0;
	for (size_t i = 0; i < 8; i++) {
		v = v << 8 | (from + i < klen ? key[from + i] : 0);
	}
	return v;
}

/*
 * Sorts refs[n] by prefix: a least-significant-digit radix sort on the 8 bytes (a pass
 * whose byte is the same in every ref is skipped), stable, so refs of equal prefix stay in
 * file order. tmp holds n refs.
 */
static void refs_sort(run_ref_t *refs, run_ref_t *tmp, size_t n)
{
	size_t count[256];
	for (unsigned pass = 0; pass < 8; pass++) {
		unsigned shift = 8 * pass;
		memset(count, 0, sizeof(count));
		for (size_t i = 0; i < n; i++) {
			count[(refs[i].prefix >> shift) & 0xff]++;
		}
		if (count[(refs[0].prefix >> shift) & 0xff] == n) {
			continue;
		}
		size_t at = 0;
		for (unsigned b = 0; b < 256; b++) {
			size_t c = count[b];
			count[b] = at;
			at += c;
		}
		for (size_t i = 0; i < n; i++) {
			tmp[count[(refs[i].prefix >> shift) & 0xff]++] = refs[i];
		}
		memcpy(refs, tmp, sizeof(*refs) * n);
	}
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
				l->dups = true;
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

/* Puts runs[n] in canonical order of their owners, runs of one owner in file order. */
static int runs_sort(const uint8_t *origin, run_t *runs, size_t n)
{
	uint8_t obuf[2 * DNS_NAME_MAXLEN];
	size_t from = name_sort_key(origin, obuf); /* every owner's key begins with it */
	run_ref_t *refs = malloc(sizeof(*refs) * n);
	run_ref_t *tmp = malloc(sizeof(*tmp) * n);
	run_t *copy = malloc(sizeof(*copy) * n);
	int ret = TANDEM_ENOMEM;
	if (refs == NULL || tmp == NULL || copy == NULL) {
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		refs[i] =
		    (run_ref_t){.prefix = key_prefix(runs[i].key, runs[i].klen, from), .run = i};
	}
	refs_sort(refs, tmp, n);
	memcpy(copy, runs, sizeof(*copy) * n);
	for (size_t i = 0; i < n; i++) {
		runs[i] = copy[refs[i].run];
	}
	/* runs of equal prefix (names that share 8 bytes below the origin, or one name's runs)
	 * by the whole key, then file position */
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && refs[j].prefix == refs[i].prefix) {
			j++;
		}
		if (j - i > 1) {
			qsort(runs + i, j - i, sizeof(*runs), run_cmp);
		}
		i = j;
	}
	ret = TANDEM_OK;
out:
	free(copy);
	free(tmp);
	free(refs);
	return ret;
}

static int group(loader_t *l)
{
	int ret = TANDEM_OK;
	uint8_t *keys = NULL;
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
			runs[nruns++] = (run_t){.owner = l->recs[i].owner, .start = i, .len = 1};
		}
	}
	/* the keys, in one buffer freed here (a key is at most twice its name) */
	size_t kcap = 0;
	for (size_t i = 0; i < nruns; i++) {
		kcap += 2 * dns_name_len(runs[i].owner, DNS_NAME_MAXLEN);
	}
	keys = malloc(kcap ? kcap : 1);
	if (keys == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	size_t kpos = 0;
	bool sorted = true;
	for (size_t i = 0; i < nruns; i++) {
		runs[i].key = keys + kpos;
		runs[i].klen = name_sort_key(runs[i].owner, keys + kpos);
		kpos += runs[i].klen;
		sorted = sorted && (i == 0 || run_cmp(&runs[i - 1], &runs[i]) < 0);
	}
	if (!sorted) { /* a signed zone comes sorted */
		ret = runs_sort(l->zone->origin, runs, nruns);
		if (ret != TANDEM_OK) {
			goto out;
		}
	}
	size_t nnames = 0;
	for (size_t i = 0; i < nruns; i++) {
		if (i == 0 || key_cmp(&runs[i - 1], &runs[i]) != 0) {
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
		while (k < nruns && (k == i || key_cmp(&runs[i], &runs[k]) == 0)) {
			memcpy(tmp + out_pos, l->recs + runs[k].start, sizeof(*tmp) * runs[k].len);
			out_pos += runs[k].len;
			k++;
		}
		size_t n = out_pos - start;
		recs_sort(tmp + start, n);
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
	free(keys);
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

/* n's name in presentation form, in buf (1024 bytes): for a message only. */
static const char *node_name(const dns_node_t *n, char *buf)
{
	dns_name_to_str(n->name, buf);
	return buf;
}

/* Data checks that need whole nodes: CNAME/DNAME rules, DS placement, occlusion. */
static void check_nodes(loader_t *l)
{
	char namebuf[1024], cutbuf[1024], tbuf[16];
	const uint8_t *cut = NULL;
	for (size_t i = 0; i < l->zone->node_count; i++) {
		dns_node_t *n = &l->zone->nodes[i];
		dns_rrset_t *cname = dns_node_rrset(n, DNS_TYPE_CNAME);
		if (cname != NULL) {
			uint32_t at = cname->line;
			if (n->flags & DNS_NODE_APEX) {
				LOAD_ERR(l, TANDEM_DNS_ECNAME, at,
					 "%s:%u: CNAME at the zone apex %s", l->path, at,
					 node_name(n, namebuf));
			} else if (cname->count > 1) {
				LOAD_ERR(l, TANDEM_DNS_ECNAME, at,
					 "%s:%u: more than one CNAME record at %s", l->path, at,
					 node_name(n, namebuf));
			}
			for (uint16_t r = 0; r < n->rrset_count; r++) {
				uint16_t t = n->rrsets[r].type;
				if (t != DNS_TYPE_CNAME && t != DNS_TYPE_RRSIG &&
				    t != DNS_TYPE_NSEC) {
					uint32_t other = n->rrsets[r].line;
					uint32_t later = other > at ? other : at;
					LOAD_ERR(l, TANDEM_DNS_ECNAME, later,
						 "%s:%u: CNAME and other data (%s) at %s", l->path,
						 later, dns_type_to_str(t, tbuf),
						 node_name(n, namebuf));
					break;
				}
			}
		}
		dns_rrset_t *wild_ns = dns_node_rrset(n, DNS_TYPE_NS);
		if ((n->flags & DNS_NODE_WILDCARD) && wild_ns != NULL && !l->opts->keep_dnssec) {
			LOAD_ERR(l, TANDEM_DNS_EZONE, wild_ns->line,
				 "%s:%u: NS records at the wildcard name %s: a wildcard delegation "
				 "has no defined meaning (RFC 4592 4.2; BIND refuses it too)",
				 l->path, wild_ns->line, node_name(n, namebuf));
		}
		dns_rrset_t *dname = dns_node_rrset(n, DNS_TYPE_DNAME);
		if ((n->flags & DNS_NODE_APEX) && dname != NULL) {
			LOAD_ERR(l, TANDEM_DNS_ECNAME, dname->line,
				 "%s:%u: DNAME at the zone apex %s", l->path, dname->line,
				 node_name(n, namebuf));
		}
		dns_rrset_t *ds = dns_node_rrset(n, DNS_TYPE_DS);
		if (ds != NULL && !(n->flags & DNS_NODE_DELEG) &&
		    !(n->flags & DNS_NODE_BELOW_CUT)) {
			LOAD_ERR(l, TANDEM_DNS_EZONE, ds->line,
				 "%s:%u: DS record at %s, which is not a delegation point", l->path,
				 ds->line, node_name(n, namebuf));
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
						l->path, n->rrsets[r].line, node_name(n, namebuf),
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
	size_t said = tandem_diag_count(diag);
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
	l.zone->exact =
	    diag != NULL && !opts->keep_dnssec && !l.dups && tandem_diag_count(diag) == said;
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
	text_source_t src;
	uint8_t want[DNS_NAME_MAXLEN];
	size_t want_len = 0;
	const uint8_t **list = NULL;
	size_t n = 0, cap = 0;
	char tbuf[16], *abs_origin = NULL;
	size_t olen = strlen(origin);
	if (olen == 0 ||
	    asprintf(&abs_origin, "%s%s", origin, origin[olen - 1] == '.' ? "" : ".") < 0) {
		return TANDEM_EINVAL;
	}
	if (dns_name_from_str(abs_origin, NULL, want, &want_len) != TANDEM_OK) {
		tandem_diag_add(diag, TANDEM_DNS_ENAME, "bad origin '%s'", origin);
		free(abs_origin);
		return TANDEM_DNS_ENAME;
	}
	FILE *fp = fopen(path, "r");
	if (fp == NULL) {
		tandem_diag_add(diag, TANDEM_EIO, "%s: %s", path, strerror(errno));
		free(abs_origin);
		return TANDEM_EIO;
	}
	ret = text_open(&src, path, fp, abs_origin, 3600, diag);
	if (ret != TANDEM_OK) {
		if (ret == TANDEM_DNS_ENAME) {
			tandem_diag_add(diag, ret, "bad origin '%s'", origin);
		}
		goto out;
	}
	text_rr_t rr;
	while (text_next(&src, &rr) == 1) {
		if (rr.type != type || rr.rclass != DNS_CLASS_IN ||
		    dns_name_compare(rr.owner, want) != 0) {
			ret = TANDEM_DNS_EPARSE;
			tandem_diag_add(diag, ret, "%s:%u: expected a %s record owned by %s", path,
					rr.line, dns_type_to_str(type, tbuf), origin);
			goto out;
		}
		uint8_t *rd = tandem_arena_alloc(arena, rr.rdlen + 2);
		if (rd == NULL) {
			ret = TANDEM_ENOMEM;
			goto out;
		}
		rd[0] = (uint8_t)(rr.rdlen >> 8);
		rd[1] = (uint8_t)rr.rdlen;
		memcpy(rd + 2, rr.rdata, rr.rdlen);
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
	free(abs_origin);
	text_close(&src);
	fclose(fp);
	return ret;
}

/* ---- loading the next version of a file from the lines that changed ---- */

/* How far apart (in lines, each side) a changed stretch may end and the files agree again. */
#define DELTA_WINDOW 512
/* How long a block of lines inserted, removed or replaced line for line may be. */
#define DELTA_BLOCK 16384
/* Lines that must agree after a changed stretch for the files to count as in step again. */
#define DELTA_AGREE 3
/* Directives ($ORIGIN, $TTL) a file may have for this path. */
#define DELTA_DIRECTIVES 64

/* The stretch [o0, o1) of the old bytes became [n0, n1) of the new: whole lines. */
typedef struct hunk {
	const char *o0, *o1, *n0, *n1;
} hunk_t;

typedef struct delta {
	const char *ob, *oe, *nb, *ne; /* the two files' bytes */
	hunk_t *hunks;
	size_t nhunks, cap;
	const char *dir[DELTA_DIRECTIVES]; /* the new file's directive lines, in order */
	size_t ndir;
	char *why;
	size_t why_size;
} delta_t;

/* Says why the delta path gives up; always returns TANDEM_ERANGE. */
static int delta_no(delta_t *d, const char *fmt, const char *arg)
{
	snprintf(d->why, d->why_size, fmt, arg);
	return TANDEM_ERANGE;
}

static const char *line_next(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	return nl != NULL ? nl + 1 : end;
}

/* The start of the line before the one starting at p (p after buf). */
static const char *line_prev(const char *buf, const char *p)
{
	const char *q = p - 1;
	while (q > buf && q[-1] != '\n') {
		q--;
	}
	return q;
}

/* A line that names its owner: not blank, not a comment, not led by a blank (which inherits
 * the owner before it) and not a directive. */
static bool line_has_owner(const char *p, const char *end)
{
	return p < end && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != ';' &&
	       *p != '$';
}

static uint64_t line_hash(const char *p, const char *e)
{
	uint64_t h = 1469598103934665603ull;
	for (; p < e; p++) {
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	}
	return h;
}

/* Up to max line starts from p, then the end: *n lines, starts[*n] == end. */
static void window(const char *p, const char *end, const char **starts, uint64_t *hashes,
		   size_t max, size_t *n)
{
	size_t k = 0;
	while (k < max && p < end) {
		const char *q = line_next(p, end);
		starts[k] = p;
		hashes[k] = line_hash(p, q);
		k++;
		p = q;
	}
	starts[k] = p;
	*n = k;
}

/* Whether old line a and new line b begin DELTA_AGREE equal lines (or both files' ends). */
static bool agree(const char *const *os, const uint64_t *oh, size_t on, const char *const *ns,
		  const uint64_t *nh, size_t nn, size_t a, size_t b, bool oend, bool nend)
{
	for (size_t t = 0; t < DELTA_AGREE; t++, a++, b++) {
		bool oe = a >= on, ne = b >= nn;
		if (oe || ne) {
			/* the end of a window is the end of its file only when the window is short
			 */
			return oe && ne && oend && nend && a == on && b == nn;
		}
		size_t ol = (size_t)(os[a + 1] - os[a]), nl = (size_t)(ns[b + 1] - ns[b]);
		if (oh[a] != nh[b] || ol != nl || memcmp(os[a], ns[b], ol) != 0) {
			return false;
		}
	}
	return true;
}

static int delta_push(delta_t *d, const hunk_t *h)
{
	if (d->nhunks == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 256;
		hunk_t *bigger = realloc(d->hunks, sizeof(*bigger) * cap);
		if (bigger == NULL) {
			return TANDEM_ENOMEM;
		}
		d->hunks = bigger;
		d->cap = cap;
	}
	d->hunks[d->nhunks++] = *h;
	return TANDEM_OK;
}

/*
 * Where the stretch that differs from po (old) and pn (new) on ends: the nearest pair of lines
 * (fewest lines skipped in all) from which DELTA_AGREE lines agree again, or the two ends.
 * Looks at most wmax lines ahead on each side; false when they do not meet within that.
 */
static bool delta_sync(const delta_t *d, const char *po, const char *pn, size_t wmax, bool block,
		       const char **bufs[2], uint64_t *hashes[2], const char **o1, const char **n1)
{
	size_t on = 0, nn = 0;
	const char **os = bufs[0], **ns = bufs[1];
	window(po, d->oe, os, hashes[0], wmax + DELTA_AGREE, &on);
	window(pn, d->ne, ns, hashes[1], wmax + DELTA_AGREE, &nn);
	bool oend = os[on] == d->oe, nend = ns[nn] == d->ne;
	for (size_t s = 1; s <= 2 * wmax; s++) {
		for (size_t a = s > wmax ? s - wmax : 0; a <= s && a <= wmax; a++) {
			/* block: only a block inserted, removed or replaced line for line */
			if (block && a != 0 && a != s && 2 * a != s) {
				continue;
			}
			if (agree(os, hashes[0], on, ns, hashes[1], nn, a, s - a, oend, nend)) {
				*o1 = os[a];
				*n1 = ns[s - a];
				return true;
			}
		}
	}
	return false;
}

/*
 * The stretches that differ: the files are compared a block at a time while they agree; where
 * they differ, delta_sync finds where they agree again (a few lines ahead first, then up to
 * DELTA_WINDOW).
 */
static int delta_hunks(delta_t *d)
{
	enum { W = DELTA_BLOCK + DELTA_AGREE };
	const char **bufs[2] = {malloc(sizeof(char *) * (W + 1)), malloc(sizeof(char *) * (W + 1))};
	uint64_t *hashes[2] = {malloc(sizeof(uint64_t) * W), malloc(sizeof(uint64_t) * W)};
	int ret = bufs[0] && bufs[1] && hashes[0] && hashes[1] ? TANDEM_OK : TANDEM_ENOMEM;
	const char *po = d->ob, *pn = d->nb;
	while (ret == TANDEM_OK && (po < d->oe || pn < d->ne)) {
		size_t ol = (size_t)(d->oe - po), nl = (size_t)(d->ne - pn);
		size_t n = ol < nl ? ol : nl, i = 0;
		while (i + 4096 <= n && memcmp(po + i, pn + i, 4096) == 0) {
			i += 4096;
		}
		while (i < n && po[i] == pn[i]) {
			i++;
		}
		if (i == ol && i == nl) {
			break; /* the rest is the same */
		}
		/* back to the start of the line where they part */
		while (i > 0 && po[i - 1] != '\n') {
			i--;
		}
		po += i;
		pn += i;
		hunk_t h = {.o0 = po, .n0 = pn, .o1 = d->oe, .n1 = d->ne};
		if (po < d->oe && pn < d->ne && /* (else the rest of one file is the stretch) */
		    !delta_sync(d, po, pn, 16, false, bufs, hashes, &h.o1, &h.n1) &&
		    !delta_sync(d, po, pn, DELTA_WINDOW, false, bufs, hashes, &h.o1, &h.n1) &&
		    !delta_sync(d, po, pn, DELTA_BLOCK, true, bufs, hashes, &h.o1, &h.n1)) {
			ret = delta_no(d, "%s", "a changed stretch longer than the window");
			break;
		}
		ret = delta_push(d, &h);
		po = h.o1;
		pn = h.n1;
	}
	free(bufs[0]);
	free(bufs[1]);
	free(hashes[0]);
	free(hashes[1]);
	return ret;
}

/* Whether some line of [p, e) is a directive. */
static bool has_directive(const char *p, const char *e)
{
	for (; p < e; p = line_next(p, e)) {
		if (*p == '$') {
			return true;
		}
	}
	return false;
}

/*
 * Each stretch grows to whole owner groups: back to a line naming its owner (a line led by a
 * blank takes the owner of the record before), on over the lines after it that take its
 * owner; stretches that then meet are joined. A directive in a stretch, or at its edge, gives
 * up.
 */
static int delta_extend(delta_t *d)
{
	size_t m = 0;
	for (size_t i = 0; i < d->nhunks; i++) {
		hunk_t h = d->hunks[i];
		const hunk_t *prev = m > 0 ? &d->hunks[m - 1] : NULL;
		const hunk_t *next = i + 1 < d->nhunks ? &d->hunks[i + 1] : NULL;
		if (has_directive(h.o0, h.o1) || has_directive(h.n0, h.n1)) {
			return delta_no(d, "%s", "a directive ($ORIGIN, $TTL, ...) changed");
		}
		/* (the lines between two stretches are the same in both files: both sides move
		 * together, and stop where the next stretch starts or the one before ends; on
		 * first, as a line that comes to take another owner must be parsed with it) */
		while (h.n1 < d->ne && !line_has_owner(h.n1, d->ne) &&
		       (next == NULL || h.o1 < next->o0)) {
			if (*h.n1 == '$') {
				return delta_no(d, "%s", "a changed stretch ends at a directive");
			}
			h.o1 = line_next(h.o1, d->oe);
			h.n1 = line_next(h.n1, d->ne);
		}
		if (prev != NULL && h.o0 <= prev->o1) {
			d->hunks[m - 1].o1 = h.o1; /* (that one starts at an owner line) */
			d->hunks[m - 1].n1 = h.n1;
			continue;
		}
		while (((h.o0 < h.o1 && !line_has_owner(h.o0, h.o1)) ||
			(h.n0 < h.n1 && !line_has_owner(h.n0, h.n1))) &&
		       (prev == NULL || h.o0 > prev->o1)) {
			if (h.o0 == d->ob || h.n0 == d->nb) {
				return delta_no(d, "%s", "a changed line has no owner before it");
			}
			h.o0 = line_prev(d->ob, h.o0);
			h.n0 = line_prev(d->nb, h.n0);
			if (*h.n0 == '$') {
				return delta_no(
				    d, "%s", "a changed line takes its owner across a directive");
			}
		}
		if ((h.o0 < h.o1 && !line_has_owner(h.o0, h.o1)) ||
		    (h.n0 < h.n1 && !line_has_owner(h.n0, h.n1))) {
			if (prev == NULL || h.o0 > prev->o1) {
				return delta_no(d, "%s", "a changed line has no owner before it");
			}
		}
		if (prev != NULL && h.o0 <= prev->o1) {
			d->hunks[m - 1].o1 = h.o1;
			d->hunks[m - 1].n1 = h.n1;
		} else {
			d->hunks[m++] = h;
		}
	}
	d->nhunks = m;
	return TANDEM_OK;
}

/*
 * Whether every stretch starts and ends outside parentheses in the old (or new) file: one pass
 * over it, quotes and comments minded (a record that spans lines is then whole in a stretch).
 */
static bool delta_outside_parens(const delta_t *d, bool old)
{
	const char *p = old ? d->ob : d->nb, *end = old ? d->oe : d->ne;
	size_t k = 0, n = 2 * d->nhunks; /* the edges, in order */
	int depth = 0;
	bool quoted = false;
	for (; k < n; p++) {
		const hunk_t *h = &d->hunks[k / 2];
		const char *edge = k % 2 == 0 ? (old ? h->o0 : h->n0) : (old ? h->o1 : h->n1);
		while (k < n && p == edge) {
			if (depth != 0 || quoted) {
				return false;
			}
			k++;
			h = &d->hunks[k / 2];
			edge = k >= n       ? NULL
			       : k % 2 == 0 ? (old ? h->o0 : h->n0)
					    : (old ? h->o1 : h->n1);
		}
		if (k == n || p == end) {
			break;
		}
		if (quoted) {
			if (*p == '\\' && p + 1 < end) {
				p++;
			} else if (*p == '"') {
				quoted = false;
			}
		} else if (*p == '"') {
			quoted = true;
		} else if (*p == ';') {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			p = (nl != NULL ? nl : end) - 1;
		} else if (*p == '\\' && p + 1 < end) {
			p++;
		} else if (*p == '(') {
			depth++;
		} else if (*p == ')') {
			depth--;
		}
	}
	return k == n;
}

/* The new file's directives (the old one's are the same lines: none is in a stretch). */
static int delta_directives(delta_t *d)
{
	const char *p = d->nb;
	while (p < d->ne) {
		const char *q = memchr(p, '$', (size_t)(d->ne - p));
		if (q == NULL) {
			break;
		}
		if (q == d->nb || q[-1] == '\n') {
			const char *e = line_next(q, d->ne);
			if (d->ndir == DELTA_DIRECTIVES) {
				return delta_no(d, "%s", "too many directives");
			}
			if ((size_t)(e - q) < 5 ||
			    (strncasecmp(q, "$TTL", 4) != 0 && strncasecmp(q, "$ORIGIN", 7) != 0)) {
				return delta_no(d, "%s", "a directive other than $ORIGIN and $TTL");
			}
			d->dir[d->ndir++] = q;
		}
		p = q + 1;
	}
	return TANDEM_OK;
}

/* The records of side's stretches, each parsed after the directives before it, into cs (added
 * or removed). Anything the full load would report gives up. */
static int delta_parse(delta_t *d, loader_t *l, bool added, dns_changeset_t *cs, unsigned *soas)
{
	char *text = NULL;
	size_t size = 0;
	FILE *fp = open_memstream(&text, &size);
	if (fp == NULL) {
		return TANDEM_ENOMEM;
	}
	for (size_t i = 0; i < d->nhunks; i++) {
		const hunk_t *h = &d->hunks[i];
		const char *from = added ? h->n0 : h->o0, *to = added ? h->n1 : h->o1;
		/* the directives before the stretch (the same lines in both files), then it */
		for (size_t k = 0; k < d->ndir && d->dir[k] < h->n0; k++) {
			const char *e = line_next(d->dir[k], d->ne);
			fwrite(d->dir[k], 1, (size_t)(e - d->dir[k]), fp);
			if (e[-1] != '\n') {
				fputc('\n', fp);
			}
		}
		fwrite(from, 1, (size_t)(to - from), fp);
		if (to > from && to[-1] != '\n') {
			fputc('\n', fp);
		}
	}
	if (fclose(fp) != 0) {
		free(text);
		return TANDEM_ENOMEM;
	}
	tandem_diag_t *quiet = NULL;
	text_source_t src;
	int ret = tandem_diag_new(&quiet);
	FILE *in = ret == TANDEM_OK ? fmemopen(text, size ? size : 1, "r") : NULL;
	if (ret == TANDEM_OK && in == NULL) {
		ret = TANDEM_ENOMEM;
	}
	if (ret == TANDEM_OK) {
		ret = text_open(&src, l->path, in, l->opts->origin, l->opts->default_ttl, quiet);
		src.ttl_needed = true;
		text_rr_t rr;
		while (ret == TANDEM_OK && size > 0 && text_next(&src, &rr) == 1) {
			if (rr.rclass != DNS_CLASS_IN || signer_owned_index(rr.type) >= 0 ||
			    rr.rdlen > 65535 || !dns_name_is_sub(rr.owner, l->zone->origin)) {
				ret =
				    delta_no(d, "%s", "a changed record the full load reports on");
				break;
			}
			uint8_t *rd = malloc(rr.rdlen + 2);
			if (rd == NULL) {
				ret = TANDEM_ENOMEM;
				break;
			}
			rd[0] = (uint8_t)(rr.rdlen >> 8);
			rd[1] = (uint8_t)rr.rdlen;
			memcpy(rd + 2, rr.rdata, rr.rdlen);
			dns_rr_t r = {.owner = rr.owner,
				      .type = rr.type,
				      .rclass = rr.rclass,
				      .ttl = rr.ttl,
				      .rdata = rd};
			if (rr.type == DNS_TYPE_SOA) {
				(*soas)++;
				ret = dns_name_compare(rr.owner, l->zone->origin) != 0 || *soas > 1
					  ? delta_no(d, "%s", "an SOA record changed but not once")
					  : dns_changeset_set_soa(cs, added, &r);
			} else {
				ret = dns_changeset_add(cs, added, &r);
			}
			free(rd);
		}
		if (ret == TANDEM_OK && src.errors > 0) {
			ret = delta_no(d, "a changed line does not parse (%s)",
				       tandem_diag_msg(quiet, 0) ? tandem_diag_msg(quiet, 0) : "");
		}
		text_close(&src);
	}
	if (in != NULL) {
		fclose(in);
	}
	tandem_diag_free(quiet);
	free(text);
	return ret;
}

/* The SOA MINIMUM of an SOA RDATA (length-prefixed). */
static uint32_t soa_minimum(const uint8_t *rdata)
{
	const uint8_t *m = dns_rdata_data(rdata) + dns_rdata_len(rdata) - 4;
	return (uint32_t)m[0] << 24 | (uint32_t)m[1] << 16 | (uint32_t)m[2] << 8 | m[3];
}

/* What check_nodes refuses, for one node of the result. */
static bool node_refused(const dns_node_t *n)
{
	const dns_rrset_t *cname = dns_node_rrset(n, DNS_TYPE_CNAME);
	const dns_rrset_t *ds = dns_node_rrset(n, DNS_TYPE_DS);
	if (cname != NULL && ((n->flags & DNS_NODE_APEX) || cname->count > 1)) {
		return true;
	}
	for (uint16_t r = 0; cname != NULL && r < n->rrset_count; r++) {
		uint16_t t = n->rrsets[r].type;
		if (t != DNS_TYPE_CNAME && t != DNS_TYPE_RRSIG && t != DNS_TYPE_NSEC) {
			return true;
		}
	}
	return ((n->flags & DNS_NODE_APEX) && dns_node_rrset(n, DNS_TYPE_DNAME) != NULL) ||
	       ((n->flags & DNS_NODE_WILDCARD) && dns_node_rrset(n, DNS_TYPE_NS) != NULL) ||
	       (ds != NULL && !(n->flags & (DNS_NODE_DELEG | DNS_NODE_BELOW_CUT))) ||
	       ((n->flags & DNS_NODE_OCCLUDED) && !(n->flags & DNS_NODE_ENT));
}

/* Whether the result holds what a full load would refuse or warn about. */
static const char *delta_result_check(dns_zone_t *z, const dns_changeset_t *cs)
{
	if (!z->exact) {
		return "an RRset would have records of different TTLs";
	}
	const dns_rr_t *soa[2] = {dns_changeset_soa(cs, false), dns_changeset_soa(cs, true)};
	if (soa_minimum(soa[0]->rdata) != soa_minimum(soa[1]->rdata)) {
		return "the SOA MINIMUM changed (the default TTL of lines without one)";
	}
	for (int side = 0; side < 2; side++) {
		size_t n = 0;
		const dns_rr_t *r = dns_changeset_records(cs, side == 1, &n);
		for (size_t i = 0; i < n; i++) {
			const dns_node_t *node = dns_zone_find(z, r[i].owner);
			if (node != NULL && node_refused(node)) {
				return "a changed name holds data the full load refuses or warns "
				       "about";
			}
		}
	}
	/* a new delegation above names that were not glue: occluded data, a warning */
	for (size_t i = 0; i < z->node_count; i++) {
		if ((z->nodes[i].flags & DNS_NODE_OCCLUDED) &&
		    !(z->nodes[i].flags & DNS_NODE_ENT)) {
			return "occluded data";
		}
	}
	return NULL;
}

int dns_zone_load_delta(dns_zone_t *prev, const char *prev_buf, size_t prev_len, const char *buf,
			size_t len, const char *path, const dns_load_opts_t *opts, dns_zone_t **out,
			char *why, size_t why_size)
{
	if (prev == NULL || prev_buf == NULL || buf == NULL || path == NULL || opts == NULL ||
	    opts->origin == NULL || out == NULL || why == NULL || why_size == 0) {
		return TANDEM_EINVAL;
	}
	why[0] = '\0';
	delta_t d = {.ob = prev_buf,
		     .oe = prev_buf + prev_len,
		     .nb = buf,
		     .ne = buf + len,
		     .why = why,
		     .why_size = why_size};
	dns_changeset_t *cs = NULL;
	dns_zone_t *z = NULL;
	char *abs_origin = NULL;
	size_t olen = strlen(opts->origin);
	unsigned soas[2] = {0, 0};
	if (!prev->exact || opts->keep_dnssec) {
		return delta_no(&d, "%s",
				opts->keep_dnssec ? "a signed zone"
						  : "the zone held was not loaded line for line "
						    "(it had warnings or duplicate records)");
	}
	if (olen == 0 || asprintf(&abs_origin, "%s%s", opts->origin,
				  opts->origin[olen - 1] == '.' ? "" : ".") < 0) {
		return TANDEM_EINVAL;
	}
	dns_load_opts_t o = *opts;
	o.origin = abs_origin;
	loader_t l = {.path = path, .opts = &o, .zone = prev};
	int ret = delta_directives(&d);
	if (ret == TANDEM_OK) {
		ret = delta_hunks(&d);
	}
	if (ret == TANDEM_OK && d.nhunks == 0) {
		ret = delta_no(&d, "%s", "no line changed");
	}
	if (ret == TANDEM_OK) {
		ret = delta_extend(&d);
	}
	if (ret == TANDEM_OK &&
	    ((memchr(buf, '(', len) != NULL && !delta_outside_parens(&d, false)) ||
	     (memchr(prev_buf, '(', prev_len) != NULL && !delta_outside_parens(&d, true)))) {
		ret = delta_no(&d, "%s", "a changed stretch starts or ends inside parentheses");
	}
	if (ret == TANDEM_OK) {
		ret = dns_changeset_new(&cs);
	}
	if (ret == TANDEM_OK) {
		ret = delta_parse(&d, &l, false, cs, &soas[0]);
	}
	if (ret == TANDEM_OK) {
		ret = delta_parse(&d, &l, true, cs, &soas[1]);
	}
	if (ret == TANDEM_OK && (soas[0] != 1 || soas[1] != 1)) {
		ret = delta_no(&d, "%s", "the SOA record did not change");
	}
	if (ret == TANDEM_OK) {
		ret = dns_zone_apply(prev, cs, &z);
		if (ret == TANDEM_ENOENT || ret == TANDEM_EEXIST || ret == TANDEM_EINVAL) {
			ret = delta_no(&d, "%s",
				       ret == TANDEM_EEXIST
					   ? "an added record is there already (a duplicate)"
					   : "a removed record is not in the zone held");
		}
	}
	const char *bad = ret == TANDEM_OK ? delta_result_check(z, cs) : NULL;
	if (bad != NULL) {
		ret = delta_no(&d, "%s", bad);
	}
	free(d.hunks);
	free(abs_origin);
	dns_changeset_free(cs);
	if (ret != TANDEM_OK) {
		dns_zone_free(z);
		return ret;
	}
	*out = z;
	return TANDEM_OK;
}
