/* coordrpc's audit read: packs and unpacks AuditGet and AuditPage (proto/audit.proto). */
#include "coordrpc_audit.h"

#include "audit.pb-c.h"
#include "coordrpc.h"
#include "tandem_error.h"
#include "tandem_text.h"

#include <stdlib.h>
#include <string.h>

int coordrpc_audit_get_pack(uint64_t from_seq, uint32_t limit, uint8_t **buf, size_t *len)
{
	Tandem__AuditGet m = TANDEM__AUDIT_GET__INIT;
	if (buf == NULL || len == NULL) {
		return TANDEM_EINVAL;
	}
	m.version = COORDRPC_VERSION;
	m.from_seq = from_seq;
	m.limit = limit;
	size_t n = tandem__audit_get__get_packed_size(&m);
	uint8_t *b = malloc(n > 0 ? n : 1);
	if (b == NULL) {
		return TANDEM_ENOMEM;
	}
	*len = tandem__audit_get__pack(&m, b);
	*buf = b;
	return TANDEM_OK;
}

int coordrpc_audit_get_unpack(const uint8_t *body, size_t len, tandem_diag_t *diag,
			      uint64_t *from_seq, uint32_t *limit)
{
	if (from_seq == NULL || limit == NULL || (body == NULL && len > 0)) {
		return TANDEM_EINVAL;
	}
	Tandem__AuditGet *m = tandem__audit_get__unpack(NULL, len, body);
	if (m == NULL || m->version != COORDRPC_VERSION) {
		tandem_diag_add(diag, TANDEM_EINVAL, "%s: %s", COORDRPC_T_AUDIT_GET,
				m == NULL ? "undecodable body" : "unsupported version");
		tandem__audit_get__free_unpacked(m, NULL);
		return TANDEM_EINVAL;
	}
	*from_seq = m->from_seq;
	*limit = m->limit == 0 || m->limit > COORDRPC_AUDIT_PAGE_MAX ? COORDRPC_AUDIT_PAGE_MAX
								     : m->limit;
	tandem__audit_get__free_unpacked(m, NULL);
	return TANDEM_OK;
}

int coordrpc_audit_page_pack(const coordrpc_audit_page_t *page, uint8_t **buf, size_t *len)
{
	Tandem__AuditPage m = TANDEM__AUDIT_PAGE__INIT;
	Tandem__AuditAnchorKey keys[sizeof(page->keys.keys) / sizeof(page->keys.keys[0])];
	Tandem__AuditAnchorKey *kp[sizeof(keys) / sizeof(keys[0])];
	if (page == NULL || buf == NULL || len == NULL || page->nlines > COORDRPC_AUDIT_PAGE_MAX ||
	    page->keys.n > sizeof(keys) / sizeof(keys[0])) {
		return TANDEM_EINVAL;
	}
	m.version = COORDRPC_VERSION;
	m.base_seq = page->base_seq;
	m.base_prev.data = (uint8_t *)page->base_prev;
	m.base_prev.len = AUDIT_HASH_LEN;
	m.head_seq = page->head_seq;
	m.head_hash.data = (uint8_t *)page->head_hash;
	m.head_hash.len = AUDIT_HASH_LEN;
	m.n_lines = page->nlines;
	m.lines = page->lines;
	for (size_t i = 0; i < page->keys.n; i++) {
		tandem__audit_anchor_key__init(&keys[i]);
		keys[i].name = (char *)page->keys.keys[i].name;
		keys[i].pub.data = (uint8_t *)page->keys.keys[i].pub;
		keys[i].pub.len = AUDIT_KEY_LEN;
		kp[i] = &keys[i];
	}
	m.n_keys = page->keys.n;
	m.keys = kp;
	size_t n = tandem__audit_page__get_packed_size(&m);
	uint8_t *b = malloc(n > 0 ? n : 1);
	if (b == NULL) {
		return TANDEM_ENOMEM;
	}
	*len = tandem__audit_page__pack(&m, b);
	*buf = b;
	return TANDEM_OK;
}

void coordrpc_audit_page_deinit(coordrpc_audit_page_t *page)
{
	if (page == NULL) {
		return;
	}
	for (size_t i = 0; i < page->nlines; i++) {
		free(page->lines[i]);
	}
	free(page->lines);
	memset(page, 0, sizeof(*page));
}

int coordrpc_audit_page_unpack(const uint8_t *body, size_t len, tandem_diag_t *diag,
			       coordrpc_audit_page_t *out)
{
	coordrpc_audit_page_t p;
	memset(&p, 0, sizeof(p));
	if (out == NULL || (body == NULL && len > 0)) {
		return TANDEM_EINVAL;
	}
	int ret = TANDEM_EINVAL;
	const char *why = "undecodable body";
	Tandem__AuditPage *m = tandem__audit_page__unpack(NULL, len, body);
	if (m == NULL) {
		goto out;
	}
	why = "unsupported version, a hash that is not 32 bytes or too many lines";
	if (m->version != COORDRPC_VERSION || m->base_prev.len != AUDIT_HASH_LEN ||
	    m->head_hash.len != AUDIT_HASH_LEN || m->n_lines > COORDRPC_AUDIT_PAGE_MAX) {
		goto out;
	}
	p.base_seq = m->base_seq;
	memcpy(p.base_prev, m->base_prev.data, AUDIT_HASH_LEN);
	p.head_seq = m->head_seq;
	memcpy(p.head_hash, m->head_hash.data, AUDIT_HASH_LEN);
	why = "a bad anchor key";
	for (size_t i = 0; i < m->n_keys; i++) {
		if (m->keys[i]->pub.len != AUDIT_KEY_LEN ||
		    audit_keyring_add(&p.keys, m->keys[i]->name, m->keys[i]->pub.data) != 0) {
			goto out;
		}
	}
	if (m->n_lines > 0 && (p.lines = calloc(m->n_lines, sizeof(*p.lines))) == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	why = "a line too long";
	for (size_t i = 0; i < m->n_lines; i++) {
		if (strlen(m->lines[i]) > AUDIT_LINE_MAX) {
			goto out;
		}
		if ((p.lines[i] = strdup(m->lines[i])) == NULL) {
			ret = TANDEM_ENOMEM;
			goto out;
		}
		p.nlines++;
	}
	*out = p;
	memset(&p, 0, sizeof(p));
	ret = TANDEM_OK;
out:
	if (ret == TANDEM_EINVAL) {
		tandem_diag_add(diag, ret, "%s: %s", COORDRPC_T_AUDIT_REPLY, why);
	}
	coordrpc_audit_page_deinit(&p);
	tandem__audit_page__free_unpacked(m, NULL);
	return ret;
}

int coordrpc_call_audit(net_rpc_client_t *cl, uint64_t from_seq, uint32_t limit,
			tandem_diag_t *diag, coordrpc_audit_page_t *out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	net_rpc_msg_t reply;
	if (cl == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	int ret = coordrpc_audit_get_pack(from_seq, limit, &buf, &len);
	if (ret != TANDEM_OK) {
		return ret;
	}
	memset(&reply, 0, sizeof(reply));
	ret = net_rpc_client_call(cl, COORDRPC_T_AUDIT_GET, buf, len, diag, &reply);
	free(buf);
	if (ret != TANDEM_OK) {
		return ret;
	}
	if (strcmp(reply.type, COORDRPC_T_AUDIT_REPLY) != 0) {
		tandem_diag_add(diag, TANDEM_NET_EPROTO, "%s: reply of type '%s'",
				COORDRPC_T_AUDIT_GET, reply.type);
		ret = TANDEM_NET_EPROTO;
	} else {
		ret = coordrpc_audit_page_unpack(reply.body, reply.body_len, diag, out);
		ret = ret == TANDEM_EINVAL ? TANDEM_NET_EPROTO : ret;
	}
	net_rpc_msg_deinit(&reply);
	return ret;
}
