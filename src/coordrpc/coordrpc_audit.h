/* coordrpc's audit read (proto/audit.proto): a page of the chain as etcd holds it. */
#ifndef COORDRPC_AUDIT_H
#define COORDRPC_AUDIT_H

#include "audit_log.h"
#include "net_rpc.h"
#include "tandem_diag.h"

#include <stddef.h>
#include <stdint.h>

/* The envelope types. */
#define COORDRPC_T_AUDIT_GET   "coord.audit.get"
#define COORDRPC_T_AUDIT_REPLY "coord.audit.reply"
/* Most entries in one page. */
#define COORDRPC_AUDIT_PAGE_MAX 500u

/* One page of the chain; coordrpc_audit_page_deinit frees the lines. */
typedef struct coordrpc_audit_page {
	uint64_t base_seq;
	uint8_t base_prev[AUDIT_HASH_LEN];
	uint64_t head_seq;
	uint8_t head_hash[AUDIT_HASH_LEN];
	size_t nlines;
	char **lines;         /* owned, NUL-terminated */
	audit_keyring_t keys; /* the anchor keys stored in etcd */
} coordrpc_audit_page_t;

/* Packs a request (a new buffer, the caller's). Errors: TANDEM_EINVAL, TANDEM_ENOMEM. */
int coordrpc_audit_get_pack(uint64_t from_seq, uint32_t limit, uint8_t **buf, size_t *len);
/* Unpacks an untrusted request; limit is clamped to 1..COORDRPC_AUDIT_PAGE_MAX.
 * Errors: TANDEM_EINVAL (undecodable, another version; why in diag). */
int coordrpc_audit_get_unpack(const uint8_t *body, size_t len, tandem_diag_t *diag,
			      uint64_t *from_seq, uint32_t *limit);
/* Packs a page. Errors: TANDEM_EINVAL (more than COORDRPC_AUDIT_PAGE_MAX lines),
 * TANDEM_ENOMEM. */
int coordrpc_audit_page_pack(const coordrpc_audit_page_t *page, uint8_t **buf, size_t *len);
/* Unpacks an untrusted page (hashes of 32 bytes, keys of 32 bytes with valid names, lines
 * of at most AUDIT_LINE_MAX bytes; the lines themselves are checked by the verifier).
 * Errors: TANDEM_EINVAL, TANDEM_ENOMEM; *out written only on success. */
int coordrpc_audit_page_unpack(const uint8_t *body, size_t len, tandem_diag_t *diag,
			       coordrpc_audit_page_t *out);
/* Frees the lines and zeroes the page; NULL-safe. */
void coordrpc_audit_page_deinit(coordrpc_audit_page_t *page);

/* Asks for entries from_seq onwards (at most limit) and unpacks the page. Errors: those of
 * net_rpc_client_call, TANDEM_NET_EPROTO (a bad reply). */
int coordrpc_call_audit(net_rpc_client_t *cl, uint64_t from_seq, uint32_t limit,
			tandem_diag_t *diag, coordrpc_audit_page_t *out);

#endif
