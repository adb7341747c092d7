/* The hash-chained audit log: entries, their canonical bytes, anchors, and the verifier. */
#ifndef AUDIT_LOG_H
#define AUDIT_LOG_H

#include "tandem_audit.h"
#include "tandem_diag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * One entry is one line of JSON with a fixed key order (docs/audit.md, "Format"):
 *
 *   {"seq":N,"time":"YYYY-MM-DDTHH:MM:SS.mmmZ","coord":"C","actor":"A","type":"T",
 *    "level":"notice","zone":"Z","key":K,"details":"D","prev":"HEX64","hash":"HEX64"}
 *
 * hash is the SHA-256 of the same line without its ',"hash":"..."' member, so an entry
 * checks on its own, and prev is the hash of entry N-1 (64 zeros for the first entry of
 * the chain), so the entries check together. Strings hold printable ASCII only (0x20 ..
 * 0x7e): audit_entry_from_event escapes the rest as \xNN, so JSON needs to escape only
 * '"' and '\'. A line that is not exactly the canonical encoding of what it says is
 * malformed. The encoding is its own: a verifier needs nothing but these rules.
 *
 * The library is pure (STYLE rule 12): no I/O, no logging, no clock.
 */

/* Sizes of the text fields, NUL included. */
#define AUDIT_NAME_MAX    64   /* coordinator */
#define AUDIT_ACTOR_MAX   96   /* "operator:sa1", "node:node-a", "coord:coord-a" */
#define AUDIT_TYPE_MAX    48   /* "lease.grant" */
#define AUDIT_ZONE_MAX    256  /* presentation form */
#define AUDIT_DETAILS_MAX 1024 /* free text */
/* Longest encoded line, without the newline. */
#define AUDIT_LINE_MAX 4096
#define AUDIT_HASH_LEN 32
/* The type of an anchor entry. */
#define AUDIT_TYPE_ANCHOR "audit.anchor"
/* An Ed25519 key: 32 bytes; its id is the first 8 bytes of its SHA-256, in hex. */
#define AUDIT_KEY_LEN    32
#define AUDIT_KEY_ID_LEN 17 /* 16 hex + NUL */

/* One entry as plain values. */
typedef struct audit_entry {
	uint64_t seq;     /* 1, 2, ... in the chain */
	uint64_t time_ms; /* UTC, ms since the epoch, as the appending coordinator saw it */
	char coord[AUDIT_NAME_MAX]; /* the coordinator that appended it */
	char actor[AUDIT_ACTOR_MAX];
	char type[AUDIT_TYPE_MAX];
	tandem_audit_level_t level;
	char zone[AUDIT_ZONE_MAX]; /* "" when none */
	int64_t key_id;            /* -1 when none */
	char details[AUDIT_DETAILS_MAX];
	uint8_t prev[AUDIT_HASH_LEN];
	uint8_t hash[AUDIT_HASH_LEN];
} audit_entry_t;

/* A level's name ("info", "notice", "warning", "critical"); static, "?" when out of range. */
const char *audit_level_str(tandem_audit_level_t level);
/* The level named s. Errors: TANDEM_EINVAL. */
int audit_level_parse(const char *s, tandem_audit_level_t *out);

/*
 * Fills *out (seq, prev and hash zero) from a sink event, the appending coordinator's name
 * and the time: each string is escaped to printable ASCII (tandem_escape) and cut to its
 * field; a NULL or empty type or actor becomes "unknown", so that the entry can always be
 * sealed. Never fails.
 */
void audit_entry_from_event(const tandem_audit_event_t *ev, const char *coord, uint64_t time_ms,
			    audit_entry_t *out);

/*
 * Gives e its place in a chain: seq, prev (NULL: 32 zero bytes) and the hash of the result.
 * Errors: TANDEM_EINVAL (NULL e, seq 0, a field that is not printable ASCII or not
 * terminated), TANDEM_CRYPTO_ELIB.
 */
int audit_entry_seal(audit_entry_t *e, uint64_t seq, const uint8_t *prev);

/*
 * The canonical line of e (no newline) in out[size]; *len its length. Errors:
 * TANDEM_EINVAL (a field that is not printable ASCII or not terminated), TANDEM_ERANGE (does
 * not fit).
 */
int audit_entry_encode(const audit_entry_t *e, char *out, size_t size, size_t *len);

/*
 * The SHA-256 of e's line without its hash member (what e->hash must be).
 * Errors: as audit_entry_encode, TANDEM_CRYPTO_ELIB.
 */
int audit_entry_digest(const audit_entry_t *e, uint8_t out[AUDIT_HASH_LEN]);

/*
 * Parses one untrusted line (len bytes, no newline) into *out. It must be the canonical
 * encoding of its values, byte for byte. The hash is read, not checked (audit_entry_digest
 * does that). Errors: TANDEM_ESYNTAX (why in diag); *out written only on success.
 */
int audit_entry_decode(const char *line, size_t len, tandem_diag_t *diag, audit_entry_t *out);

/* ---- anchors ----------------------------------------------------------------------------- */

/* An Ed25519 key pair for anchors (the secret part wiped by audit_signer_free). */
typedef struct audit_signer audit_signer_t;

/* Makes a new key pair from 32 bytes of seed (the caller's randomness). Errors:
 * TANDEM_EINVAL, TANDEM_ENOMEM, TANDEM_CRYPTO_ELIB. */
int audit_signer_new(const uint8_t seed[AUDIT_KEY_LEN], audit_signer_t **out);
/* Frees and wipes; NULL-safe. */
void audit_signer_free(audit_signer_t *s);
/* The public key (32 bytes) and its id. */
void audit_signer_public(const audit_signer_t *s, uint8_t pub[AUDIT_KEY_LEN]);
void audit_key_id(const uint8_t pub[AUDIT_KEY_LEN], char id[AUDIT_KEY_ID_LEN]);

/*
 * Fills *out (an entry to seal and append) with an anchor over the head (head_seq,
 * head_hash): type AUDIT_TYPE_ANCHOR, level notice, actor "coord:NAME", details
 * "head=SEQ hash=HEX key=ID sig=HEX", the Ed25519 signature over
 * "tandem-audit-anchor-v1 SEQ HEX". Errors: TANDEM_EINVAL, TANDEM_CRYPTO_ELIB.
 */
int audit_anchor_make(const audit_signer_t *s, const char *coord, uint64_t time_ms,
		      uint64_t head_seq, const uint8_t head_hash[AUDIT_HASH_LEN],
		      audit_entry_t *out);

/* Public keys that anchors are checked against, each under its id. */
typedef struct audit_keyring {
	size_t n;
	struct {
		char name[AUDIT_NAME_MAX];
		char id[AUDIT_KEY_ID_LEN];
		uint8_t pub[AUDIT_KEY_LEN];
	} keys[16];
} audit_keyring_t;

/* Adds a key (a key already there is fine). Errors: TANDEM_EINVAL (bad name), TANDEM_ERANGE
 * (full). */
int audit_keyring_add(audit_keyring_t *kr, const char *name, const uint8_t pub[AUDIT_KEY_LEN]);
/*
 * Adds every key of a text: lines "NAME HEX64" (blank lines and '#' comments skipped), as
 * 'tandemctl audit keygen' writes a public key file. Errors: TANDEM_ESYNTAX (line named in
 * diag), TANDEM_ERANGE.
 */
int audit_keyring_parse(audit_keyring_t *kr, const char *text, tandem_diag_t *diag);

/*
 * Reads an anchor entry's head (seq and hash) and key id, and checks its signature with
 * the key of that id in kr (NULL: none). Errors: TANDEM_ESYNTAX (details not an anchor's:
 * nothing written), TANDEM_ENOENT (no key of that id), TANDEM_CRYPTO_EVERIFY (the
 * signature does not verify), TANDEM_CRYPTO_ELIB; the head and id are written unless
 * TANDEM_ESYNTAX.
 */
int audit_anchor_check(const audit_entry_t *e, const audit_keyring_t *kr, uint64_t *head_seq,
		       uint8_t head_hash[AUDIT_HASH_LEN], char id[AUDIT_KEY_ID_LEN]);

/* ---- verification ------------------------------------------------------------------------ */

/* What is wrong with a copy of the chain: the first fault found. */
typedef enum {
	AUDIT_FAULT_NONE = 0,
	AUDIT_FAULT_MALFORMED, /* a line that is not an entry */
	AUDIT_FAULT_EDITED,    /* an entry whose content is not what was chained */
	AUDIT_FAULT_REMOVED,   /* a sequence number missing (a gap) */
	AUDIT_FAULT_INSERTED,  /* an entry that was not in the chain (a repeated number) */
	AUDIT_FAULT_REORDERED, /* entries out of sequence order */
	AUDIT_FAULT_CUT,       /* the first entry does not follow the archive it continues */
	AUDIT_FAULT_ANCHOR,    /* an anchor that does not verify or signs another head */
	AUDIT_FAULT_TRUNCATED, /* entries missing at the end (against another copy) */
	AUDIT_FAULT_DIVERGENT, /* two copies hold different entries under one number */
} audit_fault_t;

/* A static name of a fault ("edited", "removed", ...). */
const char *audit_fault_str(audit_fault_t f);

/* The outcome of a verification. */
typedef struct audit_verdict {
	audit_fault_t fault;          /* AUDIT_FAULT_NONE: the copy holds */
	uint64_t seq;                 /* the sequence number the fault names */
	size_t line;                  /* its line in the input (1-based), 0 when none */
	char text[512];               /* the fault for people: "seq 17: edited: ..." */
	uint64_t first_seq, last_seq; /* 0, 0 for an empty copy */
	size_t entries;
	size_t anchors, anchors_checked; /* anchors found, and verified against a key */
	uint64_t anchored_seq;           /* the highest head a verified anchor signs, or 0 */
	uint8_t last_hash[AUDIT_HASH_LEN];
} audit_verdict_t;

/* A copy of the chain being read, line by line, then judged. */
typedef struct audit_chain audit_chain_t;

/*
 * Starts a copy. start_seq 0: the first entry may carry any number and its prev is taken
 * as given (an excerpt: 'export --since', or etcd after a retention cut). start_seq S > 0:
 * the first entry must be S and its prev must be start_prev (NULL: 32 zeros), so a chain
 * from its start (S 1), or an archive and the chain that continues it, verify
 * across the cut. keys (borrowed until the chain is freed) may be NULL or empty: anchors
 * are then counted, not checked. Errors: TANDEM_ENOMEM.
 */
int audit_chain_new(uint64_t start_seq, const uint8_t *start_prev, const audit_keyring_t *keys,
		    audit_chain_t **out);
/* Frees; NULL-safe. */
void audit_chain_free(audit_chain_t *c);
/* Adds the next line (len bytes, no newline; an empty line is skipped). Errors:
 * TANDEM_ENOMEM (a malformed line is a fault of the verdict, not an error). */
int audit_chain_add_line(audit_chain_t *c, const char *line, size_t len);
/* Adds every line of a text (newline-separated). Errors: TANDEM_ENOMEM. */
int audit_chain_add_text(audit_chain_t *c, const char *text, size_t len);
/* Judges the copy: the first fault in chain order, or none. Errors: TANDEM_ENOMEM,
 * TANDEM_CRYPTO_ELIB. */
int audit_chain_verify(audit_chain_t *c, audit_verdict_t *out);
/*
 * Compares a copy with another (both verified without a fault): every number both hold
 * must hold the same entry (else DIVERGENT), and `c` must not end before `other` does
 * (else TRUNCATED, naming the first number c lacks). A copy that goes on beyond other's
 * end is fine (the other is behind). Errors: TANDEM_EINVAL (a copy not verified).
 */
int audit_chain_compare(const audit_chain_t *c, const audit_chain_t *other, audit_verdict_t *out);
/* The hash of entry seq in a verified copy. Errors: TANDEM_ENOENT. */
int audit_chain_hash(const audit_chain_t *c, uint64_t seq, uint8_t out[AUDIT_HASH_LEN]);

/*
 * Retention: how many entries, from the start of entries[n] (in chain order), are older
 * than cutoff_ms: the longest prefix whose every entry's time is below it (times from
 * several coordinators need not rise). Never the whole chain: the last entry stays, so
 * the head is always in the store. Returns that count.
 */
size_t audit_cut_count(const audit_entry_t *entries, size_t n, uint64_t cutoff_ms);

/* Lowercase hex of len bytes into out (2 * len + 1 bytes). Returns out. */
char *audit_hex(const uint8_t *data, size_t len, char *out);

#endif
