/* A zone in memory: canonical wire-format names and RDATA, grouped into nodes and RRsets. */
#ifndef DNS_ZONE_H
#define DNS_ZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tandem_arena.h"
#include "tandem_diag.h"

/*
 * Representation
 * --------------
 * Names are uncompressed wire format, lowercased (RFC 4034 section 6.2), so
 * that signing and verification work on the bytes as stored. RDATA is stored
 * in canonical form too (ldns_rr2canonical: embedded names of the RFC 4034
 * 6.2 types lowercased). An RDATA pointer points at a 2-byte big-endian
 * length followed by the bytes (see dns_rdata_len / dns_rdata_data).
 *
 * A zone is an array of nodes in canonical order (RFC 4034 6.1); each node
 * holds its RRsets sorted by type, each RRset its RDATAs in canonical order
 * (duplicates removed) and the RRSIGs that cover it. RRSIGs are not RRsets
 * of their own: loading attaches each RRSIG to the RRset whose type it covers.
 * NSEC3 records live at hashed owner names in a second, separately sorted
 * node array (dns_zone_nsec3_nodes), so the main array holds the zone's own
 * names only.
 *
 * Memory: everything hangs off the zone's arena; nothing is freed alone.
 * Threads may fill in disjoint RRsets' signatures (dns_rrset_t.sigs) with
 * memory from their own arenas, handed to the zone by dns_zone_adopt_arena().
 */

#define DNS_NAME_MAXLEN 255
#define DNS_CLASS_IN    1

enum {
	DNS_TYPE_A = 1,
	DNS_TYPE_NS = 2,
	DNS_TYPE_CNAME = 5,
	DNS_TYPE_SOA = 6,
	DNS_TYPE_PTR = 12,
	DNS_TYPE_MX = 15,
	DNS_TYPE_TXT = 16,
	DNS_TYPE_AAAA = 28,
	DNS_TYPE_SRV = 33,
	DNS_TYPE_DNAME = 39,
	DNS_TYPE_DS = 43,
	DNS_TYPE_RRSIG = 46,
	DNS_TYPE_NSEC = 47,
	DNS_TYPE_DNSKEY = 48,
	DNS_TYPE_NSEC3 = 50,
	DNS_TYPE_NSEC3PARAM = 51,
	DNS_TYPE_CDS = 59,
	DNS_TYPE_CDNSKEY = 60,
	DNS_TYPE_ZONEMD = 63,
};

/* RRset flags */
enum {
	DNS_RRSET_AUTH = 1 << 0, /* authoritative: to be signed (set by dns_zone_load) */
};

/* Node flags (set by loading; ENT nodes are added by dns_zone_add_ents) */
enum {
	DNS_NODE_APEX = 1 << 0,      /* the zone apex */
	DNS_NODE_DELEG = 1 << 1,     /* a delegation point (NS, not apex) */
	DNS_NODE_BELOW_CUT = 1 << 2, /* below a delegation or DNAME: glue or occluded */
	DNS_NODE_ENT = 1 << 3,       /* empty non-terminal (no RRsets) */
	DNS_NODE_WILDCARD = 1 << 4,  /* first label is '*' */
	DNS_NODE_OCCLUDED = 1 << 5,  /* below a cut and not glue (not an A/AAAA-only node) */
};

typedef struct dns_rrset {
	uint16_t type;
	uint16_t count;     /* RDATAs */
	uint16_t sig_count; /* RRSIG RDATAs covering this RRset */
	uint16_t flags;     /* DNS_RRSET_* */
	uint32_t ttl;
	uint32_t line;         /* first line in the source file, 0 if synthesized */
	const uint8_t **rdata; /* count entries, canonical order */
	const uint8_t **sigs;  /* sig_count RRSIG RDATAs */
} dns_rrset_t;

typedef struct dns_node {
	const uint8_t *name; /* wire format, lowercase */
	uint8_t name_len;
	uint8_t labels; /* not counting the root label */
	uint16_t flags; /* DNS_NODE_* */
	uint16_t rrset_count;
	uint16_t rrset_cap;
	dns_rrset_t *rrsets; /* sorted by type */
	uint32_t line;       /* first line in the source file, 0 if synthesized */
} dns_node_t;

typedef struct dns_zone dns_zone_t;

/* Options for loading. */
/*
 * What loading an unsigned input does with the records the signer makes itself
 * (DNSKEY, CDS, CDNSKEY, RRSIG, NSEC, NSEC3, NSEC3PARAM, ZONEMD): whoever feeds the
 * zone must not choose what the keys sign (a CDS in the feed would ask the parent to
 * change the DS). Never kept: either dropped with one warning per type, or the input
 * is refused (policy key signer-owned).
 */
typedef enum {
	DNS_SIGNER_OWNED_DROP = 0, /* drop, warn "FILE:LINE: warning: N TYPE records ..." */
	DNS_SIGNER_OWNED_REFUSE,   /* refuse the input, one error per type */
} dns_signer_owned_t;

typedef struct dns_load_opts {
	const char *origin;   /* zone origin in presentation format (required) */
	uint32_t default_ttl; /* TTL for records with none, before any $TTL (0: 3600 until
				 the SOA is read, then the SOA's MINIMUM, as BIND does) */
	bool keep_dnssec;     /* keep every record, the signer-owned ones included
				 (verify-only: the zone is a signed one) */
	dns_signer_owned_t signer_owned; /* unsigned input (!keep_dnssec): drop or refuse
					    the records the signer makes itself */
} dns_load_opts_t;

/*
 * Loads an RFC 1035 zone file. Every problem is added to diag as
 * "FILE:LINE: reason" and loading continues to find more; if any was an
 * error the zone is not returned. Refused: syntax or RDATA errors, missing
 * or duplicate SOA, SOA not at the apex, out-of-zone data, CNAME beside
 * other data, CNAME or DNAME at the apex, NS at a wildcard name (an unsigned
 * input: not with keep_dnssec). Non-glue data under a delegation
 * is kept, marked DNS_NODE_OCCLUDED and reported as a warning-level message
 * with code TANDEM_OK (it is left unsigned). Unless opts->keep_dnssec, the
 * records the signer makes itself are never loaded: see dns_signer_owned_t
 * (dropped with one warning per type, code TANDEM_OK, or refused with
 * TANDEM_DNS_EPARSE and one "FILE:LINE: ..." per type).
 * Errors: TANDEM_DNS_E*, TANDEM_EIO, TANDEM_ENOMEM; *out is set only on success.
 */
int dns_zone_load(const char *path, const dns_load_opts_t *opts, tandem_diag_t *diag,
		  dns_zone_t **out);

/*
 * As dns_zone_load, from an open stream the caller owns (and closes); path names it in
 * messages. Lets a caller check what it opened (a regular file, not a FIFO) before loading.
 * Errors: as dns_zone_load, TANDEM_EINVAL for a NULL argument.
 */
int dns_zone_load_stream(FILE *fp, const char *path, const dns_load_opts_t *opts,
			 tandem_diag_t *diag, dns_zone_t **out);

/*
 * Loads buf (len bytes, named path in messages) as the next version of prev, which a load with
 * the same opts made from prev_buf: the two files are compared line by line (cheap when the
 * file keeps its order, as generated files do), only the stretches that differ are parsed
 * (grown to whole owner groups: a line led by a blank takes the owner before it), each after
 * the $ORIGIN and $TTL lines before it, and their records leave and join prev
 * (dns_zone_apply: the result shares memory with prev, with the same rules). The result is
 * what dns_zone_load would make of buf; whenever that is not sure it gives up with
 * TANDEM_ERANGE and why says why (then load the file in full), among others: prev had
 * warnings or duplicate records, a stretch starts or ends inside parentheses, a directive changed
 * or is other than $ORIGIN and $TTL, a changed line does not parse, has no TTL and no $TTL before
 * it, is a record the signer makes or out of the zone, the SOA did not change once or its MINIMUM
 * changed, an added record is there already, a removed one is not, an RRset would mix TTLs,
 * a changed name holds what the full load refuses or warns about, or a stretch runs over
 * 512 lines. Nothing is said in a diag: a full load says what is wrong. prev is only read
 * (its arena becomes shared). Errors: TANDEM_ERANGE (why), TANDEM_EINVAL, TANDEM_ENOMEM.
 */
int dns_zone_load_delta(dns_zone_t *prev, const char *prev_buf, size_t prev_len, const char *buf,
			size_t len, const char *path, const dns_load_opts_t *opts, dns_zone_t **out,
			char *why, size_t why_size);

/*
 * The earliest expiration of any RRSIG in the zone (NSEC3 records' included), as UNIX
 * seconds (the 32-bit field read as it is: right until 2106). Returns false when the zone
 * holds no RRSIG. Monitoring's alarm: a zone whose earliest signature nears expiry.
 */
bool dns_zone_rrsig_expiration_min(dns_zone_t *zone, uint32_t *out);

/* The zone's delegations: nodes below the apex with an NS RRset (DNS_NODE_DELEG). */
size_t dns_zone_delegations(dns_zone_t *zone);

/* The SOA serial of the zone's apex. Errors: TANDEM_DNS_ESOA (no single usable SOA
 * record), TANDEM_EINVAL (NULL); *out written only on success. */
int dns_zone_soa_serial(dns_zone_t *zone, uint32_t *out);

/* Frees the zone and its arena; NULL-safe. */
void dns_zone_free(dns_zone_t *zone);

/* The apex name (wire, lowercase), borrowed. */
const uint8_t *dns_zone_origin(const dns_zone_t *zone);
/* The apex node, borrowed. */
dns_node_t *dns_zone_apex(dns_zone_t *zone);
/* The zone's arena, for single-threaded additions. */
tandem_arena_t *dns_zone_arena(dns_zone_t *zone);
/* Hands a worker's arena to the zone, which frees it with itself. */
void dns_zone_adopt_arena(dns_zone_t *zone, tandem_arena_t *arena);

/*
 * DNSSEC bytes shared between signed versions (the signer's): the RRSIG and NSEC3 records a
 * signing run makes live in arenas of their own, and the next version signed from this one
 * points at the records it keeps instead of copying them. Each version holds one reference to
 * every such arena it points into; an arena is freed with the last version holding it, so
 * either version may be freed first. A version points into one before it only when that one
 * is sealed and its arenas hold at most a quarter (and 8 MiB) more than its own records
 * (dns_zone_dnssec_shareable): else the next version copies what it keeps, and the records
 * the versions in between replaced are freed with the last version holding them.
 */
/* Hands zone an arena of RRSIG or NSEC3 bytes its signing run made (ownership moves; NULL
 * and an empty arena are freed). Errors: TANDEM_ENOMEM (the arena is freed). */
int dns_zone_dnssec_adopt(dns_zone_t *zone, tandem_arena_t *arena);
/* zone takes a reference to each DNSSEC arena of prev (refused unless
 * dns_zone_dnssec_shareable(prev)), so that its records may point into them.
 * Errors: TANDEM_EINVAL, TANDEM_ENOMEM. */
int dns_zone_dnssec_share(dns_zone_t *zone, const dns_zone_t *prev);
/* Marks a zone the signer made: every RRSIG and NSEC3 record a next signing run may point at
 * (all but the KSKs' RRsets' signatures, which may be pre-signed ones: a next run copies
 * those) is in its DNSSEC arenas, live bytes of them in its records. */
void dns_zone_dnssec_seal(dns_zone_t *zone, size_t live);
/* True if a next version may point into prev's RRSIG and NSEC3 records: sealed, and its
 * DNSSEC arenas hold at most live + live / 4 + 8 MiB. */
bool dns_zone_dnssec_shareable(const dns_zone_t *prev);
/* The bytes of zone's DNSSEC arenas, and of its records in them (for reports and tests). */
void dns_zone_dnssec_bytes(const dns_zone_t *zone, size_t *held, size_t *live);

/* The node array in canonical order, and its length. */
dns_node_t *dns_zone_nodes(dns_zone_t *zone, size_t *count);
/* The node with this exact name, or NULL (binary search). */
dns_node_t *dns_zone_find(dns_zone_t *zone, const uint8_t *name);
/* The RRset of this type at node, or NULL. */
dns_rrset_t *dns_node_rrset(const dns_node_t *node, uint16_t type);

/*
 * Adds an RRset (copying the rdata pointer array, not the RDATAs) to node,
 * keeping type order. An existing RRset of that type is replaced.
 * Returns the stored RRset, or NULL when out of memory.
 */
dns_rrset_t *dns_node_put_rrset(dns_node_t *node, tandem_arena_t *arena, uint16_t type,
				uint32_t ttl, const uint8_t *const *rdata, uint16_t count);
/* Removes the RRset of this type from node, if any. */
void dns_node_remove_rrset(dns_node_t *node, uint16_t type);

/* Inserts nodes for every empty non-terminal (flag DNS_NODE_ENT), keeping order. */
int dns_zone_add_ents(dns_zone_t *zone);

/*
 * The NSEC3 hash of each node's name (same index as dns_zone_nodes; all zero: none), as the
 * signer made them with the parameters of the zone's NSEC3PARAM, kept for the next version
 * to reuse. Set once the node array is final; a change of the node array
 * (dns_zone_add_ents) drops them. hashes is malloc'd (the zone frees it); count must be the
 * node count, else they are dropped.
 */
void dns_zone_set_node_hashes_take(dns_zone_t *zone, uint8_t (*hashes)[20], size_t count);
/* The hashes above (NULL when there are none). */
const uint8_t (*dns_zone_node_hashes(const dns_zone_t *zone))[20];

/* The NSEC3 node array (sorted by owner), and its length. */
dns_node_t *dns_zone_nsec3_nodes(dns_zone_t *zone, size_t *count);
/* Replaces the NSEC3 node array; nodes must be sorted canonically and allocated
 * with malloc (the zone frees the array; names and RDATA live in an arena). */
void dns_zone_set_nsec3_nodes_take(dns_zone_t *zone, dns_node_t *nodes, size_t count);

/*
 * Writes the zone in presentation format, one record per line, in canonical
 * order: each node's RRsets by type, each followed by its RRSIGs; NSEC3 nodes
 * are written in hash order after the main nodes. Errors: TANDEM_EIO.
 */
int dns_zone_write(const dns_zone_t *zone, FILE *fp);

/* ---- names and RDATA helpers ---- */

static inline uint16_t dns_rdata_len(const uint8_t *rdata)
{
	return (uint16_t)((rdata[0] << 8) | rdata[1]);
}

static inline const uint8_t *dns_rdata_data(const uint8_t *rdata)
{
	return rdata + 2;
}

/* Length of a wire name (including the root label), or 0 if malformed
 * within max bytes. */
size_t dns_name_len(const uint8_t *name, size_t max);
/* Label count, not counting the root. */
unsigned dns_name_labels(const uint8_t *name);
/* RFC 4034 6.1 canonical comparison of two lowercase wire names: <0, 0, >0. */
int dns_name_compare(const uint8_t *a, const uint8_t *b);
/* True if name equals or is below parent. */
bool dns_name_is_sub(const uint8_t *name, const uint8_t *parent);
/* Writes name in presentation format (with trailing dot, escapes as needed)
 * into buf of size at least 1024; returns the length. */
size_t dns_name_to_str(const uint8_t *name, char *buf);
/* Parses a presentation-format name (absolute, or relative to origin when not
 * NULL) into lowercase wire format. Errors: TANDEM_DNS_ENAME. */
int dns_name_from_str(const char *str, const uint8_t *origin, uint8_t out[DNS_NAME_MAXLEN],
		      size_t *out_len);
/* Canonical RDATA order: memcmp of the bytes, shorter first on a tie. */
int dns_rdata_compare(const uint8_t *a, const uint8_t *b);
/*
 * DNSSEC algorithm by mnemonic (case-insensitive: "rsasha256",
 * "RSASHA512", "ecdsap256sha256", "ecdsap384sha384", "ed25519") or by its
 * number as text ("8"); -1 for anything else, including algorithms tandem
 * does not sign with.
 */
int dns_alg_from_str(const char *s);
/* The lowercase mnemonic of a DNSSEC algorithm tandem signs with, or NULL. */
const char *dns_alg_to_str(uint8_t alg);

/* Type mnemonic ("A", "TYPE65534"); the buffer must hold 16 bytes. */
const char *dns_type_to_str(uint16_t type, char buf[16]);

/*
 * Reads records of one type (e.g. DS for a trust anchor) from a file of
 * presentation-format RRs owned by origin (presentation). Each RDATA is
 * copied into arena; *out is a malloc'd array the caller frees.
 * Errors: TANDEM_DNS_EPARSE ("FILE:LINE: reason" in diag), TANDEM_EIO.
 */
int dns_rdata_load_file(const char *path, const char *origin, uint16_t type, tandem_arena_t *arena,
			tandem_diag_t *diag, const uint8_t ***out, size_t *count);

#endif
