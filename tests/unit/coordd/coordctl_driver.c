/* A tiny net RPC client of tandem-coord (proto/coordrpc.proto), for integration tests. */
#include "coord_state.h"
#include "coordrpc.pb-c.h"
#include "net_key.h"
#include "net_rpc.h"
#include "tandem_diag.h"
#include "tandem_error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

/*
 * coordctl_driver keygen PUBFILE SECRETFILE
 * coordctl_driver -e ENDPOINT -s SERVER_PUBFILE -k SECRETFILE [-t MS] [-a N] COMMAND ARGS
 *   register NODE SITE           SITE is A, B, C or D
 *   heartbeat NODE 0|1
 *   request|renew|release ZONE NODE [EPOCH]
 *   commit ZONE NODE EPOCH SERIAL DIGEST_HEX
 *   report ZONE NODE SERIAL DIGEST_HEX
 *   status                       "zone NAME holder=H epoch=E serial=S left_ms=L",
 *                                "node NAME site=A state=N healthy=0|1"
 * A decision prints "accepted epoch=E expiry_ms=X" or "refused REASON: TEXT".
 * Exit codes: 0 accepted (or done), 1 usage or other error, 2 refused,
 * 4 TANDEM_NET_ETIMEOUT (no answer), 5 an error reply from the server.
 */

#define DRIVER_VERSION 1u

static int driver_usage(void)
{
	fprintf(stderr, "usage: coordctl_driver keygen PUB SECRET\n"
			"       coordctl_driver -e ENDPOINT -s SERVER_PUB -k SECRET [-t MS] [-a N] "
			"COMMAND ARGS\n");
	return 1;
}

static int driver_hex(const char *hex, uint8_t out[COORD_DIGEST_LEN])
{
	if (strlen(hex) != 2 * COORD_DIGEST_LEN) {
		return TANDEM_EINVAL;
	}
	for (size_t i = 0; i < COORD_DIGEST_LEN; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
			return TANDEM_EINVAL;
		}
		out[i] = (uint8_t)v;
	}
	return TANDEM_OK;
}

static int driver_pack(const ProtobufCMessage *m, uint8_t **buf, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(m);
	*buf = malloc(*len > 0 ? *len : 1);
	if (*buf == NULL) {
		return TANDEM_ENOMEM;
	}
	protobuf_c_message_pack(m, *buf);
	return TANDEM_OK;
}

/* Builds the request body for cmd; returns 0, or 1 on bad usage. */
static int driver_request(int argc, char **argv, const char **type, uint8_t **buf, size_t *len)
{
	const char *cmd = argv[0];
	uint8_t digest[COORD_DIGEST_LEN];
	if (strcmp(cmd, "register") == 0 && argc == 3) {
		Tandem__CoordRegister m = TANDEM__COORD_REGISTER__INIT;
		m.version = DRIVER_VERSION;
		m.node = argv[1];
		if (strlen(argv[2]) != 1 || argv[2][0] < 'A' || argv[2][0] > 'D') {
			return 1;
		}
		m.site = (uint32_t)(argv[2][0] - 'A');
		m.healthy = true;
		*type = "coord.register";
		return driver_pack(&m.base, buf, len) == TANDEM_OK ? 0 : 1;
	}
	if (strcmp(cmd, "heartbeat") == 0 && argc == 3) {
		Tandem__CoordHeartbeat m = TANDEM__COORD_HEARTBEAT__INIT;
		m.version = DRIVER_VERSION;
		m.node = argv[1];
		m.healthy = strcmp(argv[2], "1") == 0;
		*type = "coord.heartbeat";
		return driver_pack(&m.base, buf, len) == TANDEM_OK ? 0 : 1;
	}
	if ((strcmp(cmd, "request") == 0 && argc == 3) ||
	    ((strcmp(cmd, "renew") == 0 || strcmp(cmd, "release") == 0) && argc == 4)) {
		Tandem__CoordLease m = TANDEM__COORD_LEASE__INIT;
		m.version = DRIVER_VERSION;
		m.zone = argv[1];
		m.node = argv[2];
		m.epoch = argc == 4 ? strtoull(argv[3], NULL, 10) : 0;
		*type = cmd[2] == 'q'   ? "coord.lease.request"
			: cmd[2] == 'n' ? "coord.lease.renew"
					: "coord.lease.release";
		return driver_pack(&m.base, buf, len) == TANDEM_OK ? 0 : 1;
	}
	if (strcmp(cmd, "commit") == 0 && argc == 6) {
		if (driver_hex(argv[5], digest) != TANDEM_OK) {
			return 1;
		}
		Tandem__CoordCommit m = TANDEM__COORD_COMMIT__INIT;
		m.version = DRIVER_VERSION;
		m.zone = argv[1];
		m.node = argv[2];
		m.epoch = strtoull(argv[3], NULL, 10);
		m.serial = (uint32_t)strtoul(argv[4], NULL, 10);
		m.digest.data = digest;
		m.digest.len = sizeof(digest);
		*type = "coord.commit";
		return driver_pack(&m.base, buf, len) == TANDEM_OK ? 0 : 1;
	}
	if (strcmp(cmd, "report") == 0 && argc == 5) {
		if (driver_hex(argv[4], digest) != TANDEM_OK) {
			return 1;
		}
		Tandem__CoordDigestReport m = TANDEM__COORD_DIGEST_REPORT__INIT;
		m.version = DRIVER_VERSION;
		m.zone = argv[1];
		m.node = argv[2];
		m.serial = (uint32_t)strtoul(argv[3], NULL, 10);
		m.digest.data = digest;
		m.digest.len = sizeof(digest);
		*type = "coord.digest.report";
		return driver_pack(&m.base, buf, len) == TANDEM_OK ? 0 : 1;
	}
	if (strcmp(cmd, "status") == 0 && argc == 1) {
		Tandem__CoordStatusRequest m = TANDEM__COORD_STATUS_REQUEST__INIT;
		m.version = DRIVER_VERSION;
		*type = "coord.status";
		return driver_pack(&m.base, buf, len) == TANDEM_OK ? 0 : 1;
	}
	return 1;
}

static int driver_print(const net_rpc_msg_t *reply)
{
	if (strcmp(reply->type, "coord.status.reply") == 0) {
		Tandem__CoordStatus *st =
		    tandem__coord_status__unpack(NULL, reply->body_len, reply->body);
		if (st == NULL) {
			fprintf(stderr, "undecodable status\n");
			return 1;
		}
		for (size_t i = 0; i < st->n_zones; i++) {
			const Tandem__CoordZoneStatus *z = st->zones[i];
			printf("zone %s holder=%s epoch=%" PRIu64 " serial=%s%" PRIu32
			       " left_ms=%" PRIu64 "%s\n",
			       z->name, z->holder[0] ? z->holder : "-", z->epoch,
			       z->has_committed ? "" : "none/", z->serial, z->lease_left_ms,
			       z->removed ? " removed" : "");
		}
		for (size_t i = 0; i < st->n_nodes; i++) {
			const Tandem__CoordNodeStatus *n = st->nodes[i];
			printf("node %s site=%c state=%" PRIu32 " healthy=%d\n", n->name,
			       (char)('A' + (n->site < 26 ? n->site : 25)), n->state,
			       n->healthy ? 1 : 0);
		}
		tandem__coord_status__free_unpacked(st, NULL);
		return 0;
	}
	Tandem__CoordDecision *dec =
	    tandem__coord_decision__unpack(NULL, reply->body_len, reply->body);
	if (dec == NULL || strcmp(reply->type, "coord.decision") != 0) {
		fprintf(stderr, "unexpected reply type %s\n", reply->type);
		tandem__coord_decision__free_unpacked(dec, NULL);
		return 1;
	}
	int rc = 0;
	if (dec->accepted) {
		printf("accepted epoch=%" PRIu64 " expiry_ms=%" PRIu64 "\n", dec->epoch,
		       dec->expiry_ms);
	} else {
		printf("refused %s: %s\n", coord_reason_str((coord_reason_t)dec->reason),
		       dec->text);
		rc = 2;
	}
	tandem__coord_decision__free_unpacked(dec, NULL);
	return rc;
}

static int driver_keygen(const char *pub, const char *secret)
{
	net_key_t *key = NULL;
	int ret = net_key_generate(&key);
	if (ret == TANDEM_OK) {
		ret = net_key_save(key, pub, secret);
	}
	net_key_free(key);
	if (ret != TANDEM_OK) {
		fprintf(stderr, "keygen: %s\n", tandem_strerror(ret));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *endpoint = NULL, *server_pub = NULL, *secret = NULL, *type = NULL;
	int timeout_ms = 1000, attempts = 2, opt, rc = 1, ret;
	char server_key[NET_KEY_Z85_LEN + 1];
	net_key_t *key = NULL;
	void *ctx = NULL;
	net_rpc_client_t *cl = NULL;
	tandem_diag_t *diag = NULL;
	uint8_t *body = NULL;
	size_t len = 0;
	net_rpc_msg_t reply;

	memset(&reply, 0, sizeof(reply));
	if (argc == 4 && strcmp(argv[1], "keygen") == 0) {
		return driver_keygen(argv[2], argv[3]);
	}
	while ((opt = getopt(argc, argv, "e:s:k:t:a:")) != -1) {
		switch (opt) {
		case 'e': endpoint = optarg; break;
		case 's': server_pub = optarg; break;
		case 'k': secret = optarg; break;
		case 't': timeout_ms = atoi(optarg); break;
		case 'a': attempts = atoi(optarg); break;
		default: return driver_usage();
		}
	}
	if (endpoint == NULL || server_pub == NULL || secret == NULL || optind >= argc ||
	    timeout_ms <= 0 || attempts <= 0 ||
	    driver_request(argc - optind, argv + optind, &type, &body, &len) != 0) {
		free(body);
		return driver_usage();
	}
	ret = net_key_public_load(server_pub, server_key);
	if (ret == TANDEM_OK) {
		ret = net_key_load(secret, &key);
	}
	if (ret == TANDEM_OK) {
		ret = tandem_diag_new(&diag);
	}
	ctx = zmq_ctx_new();
	if (ret != TANDEM_OK || ctx == NULL) {
		fprintf(stderr, "setup: %s\n", tandem_strerror(ret));
		goto out;
	}
	net_rpc_client_cfg_t cfg = {.endpoint = endpoint,
				    .server_public = server_key,
				    .timeout_ms = timeout_ms,
				    .attempts = attempts};
	ret = net_rpc_client_new(ctx, key, &cfg, &cl);
	if (ret == TANDEM_OK) {
		ret = net_rpc_client_call(cl, type, body, len, diag, &reply);
	}
	if (ret != TANDEM_OK) {
		fprintf(stderr, "%s: %s\n", type, tandem_strerror(ret));
		for (size_t i = 0; tandem_diag_msg(diag, i) != NULL; i++) {
			fprintf(stderr, "  %s\n", tandem_diag_msg(diag, i));
		}
		rc = ret == TANDEM_NET_ETIMEOUT ? 4 : 5;
		goto out;
	}
	rc = driver_print(&reply);
out:
	net_rpc_msg_deinit(&reply);
	net_rpc_client_free(cl);
	if (ctx != NULL) {
		zmq_ctx_term(ctx);
	}
	net_key_free(key);
	tandem_diag_free(diag);
	free(body);
	return rc;
}
