/* The request/reply envelope of proto/net.proto: the one wrapper of its generated code. */
#include "net_envelope.h"
#include "tandem_error.h"

#include <stdlib.h>
#include <string.h>

#include "net.pb-c.h"

bool net_envelope_type_valid(const char *type)
{
	size_t len = type == NULL ? 0 : strlen(type);
	if (len == 0 || len > NET_TYPE_MAX) {
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		char c = type[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '/';
		if (!ok) {
			return false;
		}
	}
	return true;
}

int net_envelope_encode(const net_envelope_t *env, uint8_t **out, size_t *out_len)
{
	if (env == NULL || out == NULL || out_len == NULL) {
		return TANDEM_EINVAL;
	}
	Tandem__NetEnvelope pb = TANDEM__NET_ENVELOPE__INIT;
	pb.version = env->version;
	pb.request_id.data = (uint8_t *)env->request_id;
	pb.request_id.len = env->request_id == NULL ? 0 : env->request_id_len;
	pb.sent_at_ms = env->sent_at_ms;
	/* protobuf-c only reads these through the non-const pointers. */
	pb.type = (char *)(env->type == NULL ? "" : env->type);
	pb.body.data = (uint8_t *)env->body;
	pb.body.len = env->body == NULL ? 0 : env->body_len;
	pb.status = env->status;
	pb.error = (char *)(env->error == NULL ? "" : env->error);
	size_t len = tandem__net_envelope__get_packed_size(&pb);
	uint8_t *buf = malloc(len == 0 ? 1 : len);
	if (buf == NULL) {
		return TANDEM_ENOMEM;
	}
	tandem__net_envelope__pack(&pb, buf);
	*out = buf;
	*out_len = len;
	return TANDEM_OK;
}

int net_envelope_decode(const uint8_t *data, size_t len, net_envelope_t *out)
{
	if (data == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	Tandem__NetEnvelope *pb = tandem__net_envelope__unpack(NULL, len, data);
	if (pb == NULL) {
		return TANDEM_NET_EPROTO;
	}
	int ret = TANDEM_OK;
	if (pb->version == 0 || pb->request_id.len != NET_REQUEST_ID_LEN) {
		ret = TANDEM_NET_EPROTO;
	} else if (pb->version != NET_ENVELOPE_VERSION) {
		ret = TANDEM_NET_EVERSION;
	} else if (!net_envelope_type_valid(pb->type) || strlen(pb->error) > NET_ERROR_MAX) {
		ret = TANDEM_NET_EPROTO;
	}
	if (ret != TANDEM_OK && ret != TANDEM_NET_EVERSION) {
		tandem__net_envelope__free_unpacked(pb, NULL);
		return ret;
	}
	*out = (net_envelope_t){
	    .version = pb->version,
	    .request_id = pb->request_id.data,
	    .request_id_len = pb->request_id.len,
	    .sent_at_ms = pb->sent_at_ms,
	    .type = pb->type,
	    .body = pb->body.data,
	    .body_len = pb->body.len,
	    .status = pb->status,
	    .error = pb->error,
	    .pb = pb,
	};
	return ret;
}

void net_envelope_deinit(net_envelope_t *env)
{
	if (env == NULL || env->pb == NULL) {
		return;
	}
	tandem__net_envelope__free_unpacked(env->pb, NULL);
	memset(env, 0, sizeof(*env));
}
