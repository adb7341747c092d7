/* The request/reply envelope of proto/net.proto: the one wrapper of its generated code. */
#ifndef NET_ENVELOPE_H
#define NET_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The only envelope version this code speaks. */
#define NET_ENVELOPE_VERSION 1
/* Length of a request id in bytes. */
#define NET_REQUEST_ID_LEN 16
/* Longest message type: [A-Za-z0-9._/-], 1 to 64 characters. */
#define NET_TYPE_MAX 64
/* Longest error text carried in a reply. */
#define NET_ERROR_MAX 200

/*
 * An envelope as a view: on encode the fields are borrowed from the caller;
 * after net_envelope_decode() they point into the decoded message, which the
 * envelope owns until net_envelope_deinit().
 */
typedef struct net_envelope {
	uint32_t version;
	const uint8_t *request_id;
	size_t request_id_len;
	uint64_t sent_at_ms;
	const char *type;
	const uint8_t *body;
	size_t body_len;
	int32_t status;
	const char *error;
	void *pb; /* the decoded protobuf-c message, or NULL */
} net_envelope_t;

/*
 * Serialises env into a new buffer (*out, the caller frees).
 * Errors: TANDEM_ENOMEM, TANDEM_EINVAL; out-params written only on success.
 */
int net_envelope_encode(const net_envelope_t *env, uint8_t **out, size_t *out_len);

/*
 * Decodes and checks a request or reply: undecodable bytes, a missing version,
 * a request id that is not NET_REQUEST_ID_LEN bytes, or a bad type are
 * TANDEM_NET_EPROTO; another version is TANDEM_NET_EVERSION, and then *out is
 * still filled (the caller may answer and must deinit). *out is written on
 * success and on TANDEM_NET_EVERSION only.
 */
int net_envelope_decode(const uint8_t *data, size_t len, net_envelope_t *out);

/* Frees what net_envelope_decode() allocated; NULL-safe, idempotent. */
void net_envelope_deinit(net_envelope_t *env);

/* Whether type is a well-formed message type. */
bool net_envelope_type_valid(const char *type);

#endif
