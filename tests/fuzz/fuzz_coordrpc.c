/* Fuzz target: the coordinator RPC's unpacking of untrusted bodies (src/coordrpc). The
 * first byte picks the message: a request of kind 0..COORDRPC_KIND_LAST, or one of the
 * replies and the audit read; the rest is the protobuf body. A body that unpacks is packed
 * again where the kind allows: what was accepted must be something the packer accepts. */
#include "coordrpc.h"
#include "coordrpc_audit.h"
#include "fuzz_util.h"
#include "tandem_error.h"

#include <stdlib.h>

enum {
	PICK_DECISION = COORDRPC_KIND_LAST + 1,
	PICK_STATUS,
	PICK_KEYS,
	PICK_KEYSET,
	PICK_AUDIT_GET,
	PICK_AUDIT_PAGE,
	PICK_N
};

static void repack(int ret, uint8_t *buf, size_t len)
{
	/* the unpacker's checks are the packer's: a value it accepted packs again */
	if (ret != TANDEM_OK) {
		abort();
	}
	(void)len;
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) {
		return 0;
	}
	unsigned pick = data[0] % PICK_N;
	const uint8_t *body = data + 1;
	size_t len = size - 1;
	tandem_diag_t *diag = NULL;
	if (tandem_diag_new(&diag) != TANDEM_OK) {
		return 0;
	}
	uint8_t *buf = NULL;
	size_t blen = 0;
	if (pick <= COORDRPC_KIND_LAST) {
		coordrpc_request_t *req = calloc(1, sizeof(*req));
		if (req != NULL && coordrpc_request_unpack(coordrpc_type((coordrpc_kind_t)pick),
							   body, len, diag, req) == TANDEM_OK) {
			repack(coordrpc_request_pack(req, &buf, &blen), buf, blen);
			coordrpc_request_deinit(req);
		}
		free(req);
	} else if (pick == PICK_DECISION) {
		coordrpc_decision_t dec;
		if (coordrpc_decision_unpack(body, len, diag, &dec) == TANDEM_OK) {
			repack(coordrpc_decision_pack(&dec, &buf, &blen), buf, blen);
			coordrpc_decision_deinit(&dec);
		}
	} else if (pick == PICK_STATUS) {
		/* a status is up to 35 MB, of which unpack writes and pack reads only the part
		 * in use: one buffer for every input (a fresh one costs ~70 ms under ASan) */
		static coordrpc_status_t *st;
		if (st == NULL) {
			st = calloc(1, sizeof(*st));
		}
		if (st != NULL && coordrpc_status_unpack(body, len, diag, st) == TANDEM_OK) {
			repack(coordrpc_status_pack(st, &buf, &blen), buf, blen);
		}
	} else if (pick == PICK_KEYS) {
		coordrpc_keys_t *keys = calloc(1, sizeof(*keys));
		if (keys != NULL && coordrpc_keys_unpack(body, len, diag, keys) == TANDEM_OK) {
			repack(coordrpc_keys_pack(keys, &buf, &blen), buf, blen);
			coordrpc_keys_deinit(keys);
		}
		free(keys);
	} else if (pick == PICK_KEYSET) {
		coordrpc_keyset_t ks;
		if (coordrpc_keyset_unpack(body, len, diag, &ks) == TANDEM_OK) {
			repack(coordrpc_keyset_pack(&ks, &buf, &blen), buf, blen);
			coordrpc_keyset_deinit(&ks);
		}
	} else if (pick == PICK_AUDIT_GET) {
		uint64_t from = 0;
		uint32_t limit = 0;
		(void)coordrpc_audit_get_unpack(body, len, diag, &from, &limit);
	} else {
		coordrpc_audit_page_t *page = calloc(1, sizeof(*page));
		if (page != NULL &&
		    coordrpc_audit_page_unpack(body, len, diag, page) == TANDEM_OK) {
			repack(coordrpc_audit_page_pack(page, &buf, &blen), buf, blen);
			coordrpc_audit_page_deinit(page);
		}
		free(page);
	}
	tandem_diag_free(diag);
	return 0;
}
