/* A tiny coordrpc client of tandem-coord, for integration tests (integration/test_coordd.sh). */
#include "coord_state.h"
#include "coordrpc.h"
#include "kasp_policy.h"
#include "kasp_store.h"
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
 * coordctl_driver -e ENDPOINT -s SERVER_PUBFILE -k SECRETFILE [-t MS] [-a N] [-r BYTE]
 *                 [-T UNIX_MS] [-I INSTANCE] [-W ZONE|-:KIND:0|1:TEXT]... COMMAND ARGS
 *  -I the instance id and -W the alerts (repeatable) a node request carries where its kind
 *     has them (register, heartbeat: alerts; those and lease requests and commits: instance)
 *  -r every request id byte is BYTE; -T the envelope's send time is UNIX_MS (replay tests)
 *  node requests (NODE must be the key's allow-list name):
 *   register NODE SITE [PUBLISH]     SITE is A, B, C or D
 *   heartbeat NODE 0|1
 *   request|renew|release ZONE NODE [EPOCH]
 *   batch NODE ITEM...               one coord.lease.batch; ITEM is renew:ZONE:EPOCH or
 *                                    request:ZONE; then "lease ZONE accepted epoch=E
 *                                    expiry_ms=X" or "lease ZONE refused REASON: TEXT" each
 *   commit ZONE NODE EPOCH SERIAL DIGEST_HEX [SIGN_TIME SALT_HEX|-]   (SALT: NSEC3)
 *   report ZONE NODE SERIAL DIGEST_HEX
 *   key-add ZONE NODE ID TAG ARCHIVE_FILE
 *   key-ack|key-activate|key-remove ZONE NODE ID
 *  the zone's holder (NODE, EPOCH) or an operator (NODE "-"; EPOCH ignored):
 *   keyset-put ZONE NODE|- EPOCH REVISION FILE   (FILE: the key set's bytes)
 *   skr-put ZONE NODE|- EPOCH REVISION FILE      (FILE: the SKR book's bytes)
 *  operator requests:
 *   zone-add ZONE COMPARE(0|1) [SERIAL]
 *   zone-remove ZONE
 *   accept-input ZONE SERIAL
 *   params-set LEASE_MS MARGIN_MS   (sent as given: the coordinator checks them)
 *   drain|undrain|node-remove NODE
 *   switchover ZONE TARGET
 *   takeover SITE [force]
 *  reads:
 *   status   "coordinator NAME leader=L lease_ms=.. margin_ms=.. nsites=N modulus=M",
 *            "zone NAME holder=H epoch=E serial=S left_ms=L switch_to=T sign_time=T
 *             nsec3=0|1 salt=HEX|- alerts=N[ removed]",
 *            "key ZONE ID tag=T active=0|1 acks=A,B|-",
 *            "node NAME site=A state=up|drained|fenced healthy=0|1 publish=P|-"
 *            then "instance NAME ID" and "alert NAME zone=Z|- kind=K blocking=0|1 text=T"
 *   keys ZONE  "key ID tag=T active=0|1 acks=A,B|- archive=HEX|-"
 *   keyset-get ZONE [OUTFILE]  "keyset ZONE revision=R bytes=N"; the bytes to OUTFILE
 *   skr-get ZONE [OUTFILE]     the same for the SKR book
 *  local, no coordinator:
 *   keyset-make ZONE POLICY_PATH OUTFILE [NOW]   a kasp key set of ZONE (kasp_keyset_pack):
 *            empty, or with NOW (UNIX seconds) the first keys the DPS policy asks for then
 *            (fake DNSKEYs, every site holding them)
 *  raw TYPE BODY_HEX|-   sends any bytes as a request of envelope type TYPE
 * A decision prints "accepted epoch=E expiry_ms=X" or "refused REASON: TEXT", then
 * "revision N" when it carries a key set revision, then one "effect: TEXT" line per effect.
 * Exit codes: 0 accepted (or done), 1 usage or other error, 2 refused,
 * 4 TANDEM_NET_ETIMEOUT (no answer), 5 an error reply from the server.
 */

static int driver_usage(void)
{
	fprintf(stderr, "usage: coordctl_driver keygen PUB SECRET\n"
			"       coordctl_driver -e ENDPOINT -s SERVER_PUB -k SECRET [-t MS] [-a N] "
			"COMMAND ARGS\n");
	return 1;
}

/* Hex of any length into out (at most max bytes); "-" is empty. */
static bool driver_unhex(const char *hex, uint8_t *out, size_t max, size_t *len)
{
	size_t n = strlen(hex);
	if (strcmp(hex, "-") == 0) {
		*len = 0;
		return true;
	}
	if (n % 2 != 0 || n / 2 > max) {
		return false;
	}
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
			return false;
		}
		out[i] = (uint8_t)v;
	}
	*len = n / 2;
	return true;
}

static bool driver_digest(const char *hex, uint8_t out[COORD_DIGEST_LEN])
{
	size_t len = 0;
	return strlen(hex) == 2 * COORD_DIGEST_LEN &&
	       driver_unhex(hex, out, COORD_DIGEST_LEN, &len);
}

static void driver_hex(const uint8_t *b, size_t len)
{
	if (len == 0) {
		putchar('-');
	}
	for (size_t i = 0; i < len; i++) {
		printf("%02x", b[i]);
	}
}

static bool driver_site(const char *s, uint32_t *site)
{
	if (strlen(s) != 1 || s[0] < 'A' || s[0] >= 'A' + COORD_SITES_MAX) {
		return false;
	}
	*site = (uint32_t)(s[0] - 'A');
	return true;
}

static bool driver_name(char *dst, size_t size, const char *src)
{
	if (strlen(src) >= size) {
		return false;
	}
	memcpy(dst, src, strlen(src) + 1);
	return true;
}

/* Reads at most max + 1 bytes (one more than a field holds, so that packing refuses it). */
static bool driver_file(const char *path, size_t max, uint8_t **buf, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (fp == NULL) {
		return false;
	}
	*buf = malloc(max + 2);
	*len = *buf == NULL ? 0 : fread(*buf, 1, max + 1, fp);
	fclose(fp);
	return *buf != NULL;
}

/* Fills req for a node or operator command; false on bad usage. */
static bool driver_request(int argc, char **argv, coordrpc_request_t *r)
{
	const char *cmd = argv[0];
	memset(r, 0, sizeof(*r));
	if (strcmp(cmd, "register") == 0 && (argc == 3 || argc == 4)) {
		r->kind = COORDRPC_REGISTER;
		r->healthy = true;
		return driver_name(r->node, sizeof(r->node), argv[1]) &&
		       driver_site(argv[2], &r->site) &&
		       (argc == 3 || driver_name(r->publish, sizeof(r->publish), argv[3]));
	}
	if (strcmp(cmd, "heartbeat") == 0 && argc == 3) {
		r->kind = COORDRPC_HEARTBEAT;
		r->healthy = strcmp(argv[2], "1") == 0;
		return driver_name(r->node, sizeof(r->node), argv[1]);
	}
	if ((strcmp(cmd, "request") == 0 && argc == 3) ||
	    ((strcmp(cmd, "renew") == 0 || strcmp(cmd, "release") == 0) && argc == 4)) {
		r->kind = cmd[2] == 'q'   ? COORDRPC_LEASE_REQUEST
			  : cmd[2] == 'n' ? COORDRPC_LEASE_RENEW
					  : COORDRPC_LEASE_RELEASE;
		r->epoch = argc == 4 ? strtoull(argv[3], NULL, 10) : 0;
		return driver_name(r->zone, sizeof(r->zone), argv[1]) &&
		       driver_name(r->node, sizeof(r->node), argv[2]);
	}
	if (strcmp(cmd, "batch") == 0 && argc >= 3) {
		r->kind = COORDRPC_LEASE_BATCH;
		r->nitems = (size_t)argc - 2;
		r->items = calloc(r->nitems, sizeof(*r->items));
		if (r->items == NULL || !driver_name(r->node, sizeof(r->node), argv[1])) {
			return false;
		}
		for (size_t i = 0; i < r->nitems; i++) {
			const char *it = argv[2 + i];
			const char *zone = strchr(it, ':');
			const char *ep = zone != NULL ? strrchr(zone + 1, ':') : NULL;
			r->items[i].renew = strncmp(it, "renew:", 6) == 0;
			if (zone == NULL || (r->items[i].renew && ep == NULL)) {
				return false;
			}
			size_t zl = r->items[i].renew ? (size_t)(ep - zone - 1) : strlen(zone + 1);
			if (zl >= sizeof(r->items[i].zone)) {
				return false;
			}
			memcpy(r->items[i].zone, zone + 1, zl);
			r->items[i].epoch = r->items[i].renew ? strtoull(ep + 1, NULL, 10) : 0;
		}
		return true;
	}
	if (strcmp(cmd, "commit") == 0 && (argc == 6 || argc == 8)) {
		r->kind = COORDRPC_COMMIT;
		r->epoch = strtoull(argv[3], NULL, 10);
		r->serial = (uint32_t)strtoul(argv[4], NULL, 10);
		if (argc == 8) {
			r->sign_time = strtoull(argv[6], NULL, 10);
			r->nsec3 = strcmp(argv[7], "-") != 0;
			if (!driver_unhex(argv[7], r->salt, sizeof(r->salt), &r->salt_len)) {
				return false;
			}
		}
		return driver_name(r->zone, sizeof(r->zone), argv[1]) &&
		       driver_name(r->node, sizeof(r->node), argv[2]) &&
		       driver_digest(argv[5], r->digest);
	}
	if (strcmp(cmd, "report") == 0 && argc == 5) {
		r->kind = COORDRPC_DIGEST_REPORT;
		r->serial = (uint32_t)strtoul(argv[3], NULL, 10);
		return driver_name(r->zone, sizeof(r->zone), argv[1]) &&
		       driver_name(r->node, sizeof(r->node), argv[2]) &&
		       driver_digest(argv[4], r->digest);
	}
	if (strcmp(cmd, "key-add") == 0 && argc == 6) {
		r->kind = COORDRPC_KEY_ADD;
		r->key_id = (uint32_t)strtoul(argv[3], NULL, 10);
		r->key_tag = (uint16_t)strtoul(argv[4], NULL, 10);
		return driver_name(r->zone, sizeof(r->zone), argv[1]) &&
		       driver_name(r->node, sizeof(r->node), argv[2]) &&
		       driver_file(argv[5], COORDRPC_ARCHIVE_MAX, &r->archive, &r->archive_len);
	}
	if ((strcmp(cmd, "key-ack") == 0 || strcmp(cmd, "key-activate") == 0 ||
	     strcmp(cmd, "key-remove") == 0) &&
	    argc == 4) {
		r->kind = strcmp(cmd, "key-ack") == 0      ? COORDRPC_KEY_ACK
			  : strcmp(cmd, "key-remove") == 0 ? COORDRPC_KEY_REMOVE
							   : COORDRPC_KEY_ACTIVATE;
		r->key_id = (uint32_t)strtoul(argv[3], NULL, 10);
		return driver_name(r->zone, sizeof(r->zone), argv[1]) &&
		       driver_name(r->node, sizeof(r->node), argv[2]);
	}
	if ((strcmp(cmd, "keyset-put") == 0 || strcmp(cmd, "skr-put") == 0) && argc == 6) {
		r->kind = cmd[0] == 's' ? COORDRPC_SKR_PUT : COORDRPC_KEYSET_PUT;
		r->epoch = strtoull(argv[3], NULL, 10);
		r->revision = strtoll(argv[4], NULL, 10);
		return driver_name(r->zone, sizeof(r->zone), argv[1]) &&
		       (strcmp(argv[2], "-") == 0 ||
			driver_name(r->node, sizeof(r->node), argv[2])) &&
		       driver_file(argv[5], COORDRPC_KEYSET_MAX, &r->keyset, &r->keyset_len);
	}
	if (strcmp(cmd, "zone-add") == 0 && (argc == 3 || argc == 4)) {
		r->kind = COORDRPC_ZONE_ADD;
		r->compare_digests = strcmp(argv[2], "1") == 0;
		r->has_serial = argc == 4;
		r->serial = argc == 4 ? (uint32_t)strtoul(argv[3], NULL, 10) : 0;
		return driver_name(r->zone, sizeof(r->zone), argv[1]);
	}
	if (strcmp(cmd, "accept-input") == 0 && argc == 3) {
		r->kind = COORDRPC_ZONE_ACCEPT_INPUT;
		r->serial = (uint32_t)strtoul(argv[2], NULL, 10);
		return driver_name(r->zone, sizeof(r->zone), argv[1]);
	}
	if (strcmp(cmd, "params-set") == 0 && argc == 3) {
		r->kind = COORDRPC_PARAMS_SET;
		r->lease_ms = strtoull(argv[1], NULL, 10);
		r->margin_ms = strtoull(argv[2], NULL, 10);
		return true;
	}
	if (strcmp(cmd, "zone-remove") == 0 && argc == 2) {
		r->kind = COORDRPC_ZONE_REMOVE;
		return driver_name(r->zone, sizeof(r->zone), argv[1]);
	}
	if ((strcmp(cmd, "drain") == 0 || strcmp(cmd, "undrain") == 0 ||
	     strcmp(cmd, "node-remove") == 0) &&
	    argc == 2) {
		r->kind = cmd[0] == 'd'   ? COORDRPC_DRAIN
			  : cmd[0] == 'u' ? COORDRPC_UNDRAIN
					  : COORDRPC_NODE_REMOVE;
		return driver_name(r->node, sizeof(r->node), argv[1]);
	}
	if (strcmp(cmd, "switchover") == 0 && argc == 3) {
		r->kind = COORDRPC_SWITCHOVER;
		return driver_name(r->zone, sizeof(r->zone), argv[1]) &&
		       driver_name(r->target, sizeof(r->target), argv[2]);
	}
	if (strcmp(cmd, "takeover") == 0 && (argc == 2 || argc == 3)) {
		r->kind = COORDRPC_TAKEOVER;
		r->force = argc == 3 && strcmp(argv[2], "force") == 0;
		return driver_site(argv[1], &r->site) && (argc == 2 || r->force);
	}
	return false;
}

static int driver_decision(const coordrpc_decision_t *dec)
{
	if (dec->accepted) {
		printf("accepted epoch=%" PRIu64 " expiry_ms=%" PRIu64 "\n", dec->epoch,
		       dec->expiry_ms);
	} else {
		printf("refused %s: %s\n", coord_reason_str(dec->reason), dec->text);
	}
	if (dec->revision != 0) {
		printf("revision %" PRId64 "\n", dec->revision);
	}
	for (size_t i = 0; i < dec->neffects; i++) {
		printf("effect: %s\n", dec->effects[i]);
	}
	for (size_t i = 0; i < dec->nleases; i++) {
		const coordrpc_lease_result_t *l = &dec->leases[i];
		if (l->accepted) {
			printf("lease %s accepted epoch=%" PRIu64 " expiry_ms=%" PRIu64 "\n",
			       l->zone, l->epoch, l->expiry_ms);
		} else {
			printf("lease %s refused %s: %s\n", l->zone, coord_reason_str(l->reason),
			       l->text);
		}
	}
	return dec->accepted ? 0 : 2;
}

static void driver_acks(const char acks[][COORD_ID_MAX], size_t n)
{
	if (n == 0) {
		putchar('-');
	}
	for (size_t a = 0; a < n; a++) {
		printf("%s%s", a > 0 ? "," : "", acks[a]);
	}
}

static void driver_status(const coordrpc_status_t *st)
{
	printf("coordinator %s leader=%s lease_ms=%" PRIu64 " margin_ms=%" PRIu64 " nsites=%" PRIu32
	       " modulus=%" PRIu32 "\n",
	       st->coordinator, st->leader[0] ? st->leader : "-", st->params.lease_ms,
	       st->params.margin_ms, st->params.nsites, st->params.serial_modulus);
	for (size_t i = 0; i < st->nzones; i++) {
		const coordrpc_zone_status_t *z = &st->zones[i];
		printf("zone %s holder=%s epoch=%" PRIu64 " serial=%s%" PRIu32 " left_ms=%" PRIu64
		       " switch_to=%s sign_time=%" PRIu64 " nsec3=%d salt=",
		       z->name, z->holder[0] ? z->holder : "-", z->epoch,
		       z->has_committed ? "" : "none/", z->serial, z->lease_left_ms,
		       z->switch_to[0] ? z->switch_to : "-", z->sign_time, z->nsec3 ? 1 : 0);
		driver_hex(z->salt, z->salt_len);
		printf(" alerts=%" PRIu32 "%s\n", z->alerts, z->removed ? " removed" : "");
		for (size_t k = 0; k < z->nkeys; k++) {
			const coordrpc_key_status_t *key = &z->keys[k];
			printf("key %s %" PRIu32 " tag=%u active=%d acks=", z->name, key->id,
			       (unsigned)key->tag, key->active ? 1 : 0);
			driver_acks(key->acks, key->nacks);
			putchar('\n');
		}
	}
	for (size_t i = 0; i < st->nnodes; i++) {
		const coordrpc_node_status_t *n = &st->nodes[i];
		printf("node %s site=%c state=%s healthy=%d publish=%s\n", n->name,
		       (char)('A' + n->site), coordrpc_node_state_str(n->state), n->healthy ? 1 : 0,
		       n->publish[0] ? n->publish : "-");
		if (n->instance[0] != '\0') {
			printf("instance %s %s\n", n->name, n->instance);
		}
		for (size_t a = 0; a < n->nalerts; a++) {
			printf("alert %s zone=%s kind=%s blocking=%d text=%s\n", n->name,
			       n->alerts[a].zone[0] ? n->alerts[a].zone : "-", n->alerts[a].kind,
			       n->alerts[a].blocking ? 1 : 0, n->alerts[a].text);
		}
	}
}

static void driver_keys(const coordrpc_keys_t *keys)
{
	for (size_t k = 0; k < keys->nkeys; k++) {
		const coordrpc_key_entry_t *e = &keys->keys[k];
		printf("key %" PRIu32 " tag=%u active=%d acks=", e->id, (unsigned)e->tag,
		       e->active ? 1 : 0);
		driver_acks(e->acks, e->nacks);
		printf(" archive=");
		driver_hex(e->archive, e->archive_len);
		putchar('\n');
	}
}

/* The first keys the DPS policy asks for at now, with fake (unique) DNSKEY RDATA. */
static bool driver_keyset_keys(kasp_keyset_t *set, uint64_t now)
{
	kasp_policy_t pol;
	kasp_step_t st;
	kasp_policy_defaults(&pol);
	for (int round = 0; round < 8; round++) {
		bool made = false;
		if (kasp_keystate_step(set, &pol, now, set, &st) != TANDEM_OK) {
			return false;
		}
		for (size_t i = 0; i < st.nactions; i++) {
			const kasp_action_t *a = &st.actions[i];
			uint8_t rd[12] = {1, a->role == KASP_ROLE_KSK ? 1 : 0, 3, a->algorithm};
			char label[KASP_LABEL_MAX];
			uint32_t id = 0;
			if (a->kind != KASP_ACTION_GENERATE) {
				continue;
			}
			for (int b = 0; b < 8; b++) {
				rd[4 + b] = (uint8_t)(set->next_id * 31u + (unsigned)b * 7u);
			}
			snprintf(label, sizeof(label), "fake-%s-%" PRIu32, kasp_role_str(a->role),
				 set->next_id);
			if (kasp_keyset_add(set, a->role, a->algorithm, a->bits, label, rd,
					    sizeof(rd), true, now, &id) != TANDEM_OK) {
				return false;
			}
			made = true;
		}
		if (!made) {
			return true;
		}
	}
	return false;
}

/* keyset-make: a key set of zone (empty, or with its first keys at now), its policy path
 * set, packed to a file. */
static int driver_keyset_make(const char *zone, const char *policy, const char *path, uint64_t now)
{
	kasp_keyset_t *set = calloc(1, sizeof(*set));
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = 1;
	FILE *fp = NULL;
	if (set == NULL || kasp_keyset_init(set, zone) != TANDEM_OK ||
	    strlen(policy) >= sizeof(set->policy_path)) {
		goto out;
	}
	memcpy(set->policy_path, policy, strlen(policy) + 1);
	if (now != 0 && !driver_keyset_keys(set, now)) {
		goto out;
	}
	if (kasp_keyset_pack(set, &buf, &len) != TANDEM_OK || (fp = fopen(path, "wb")) == NULL) {
		goto out;
	}
	rc = fwrite(buf, 1, len, fp) == len ? 0 : 1;
out:
	if (fp != NULL && fclose(fp) != 0) {
		rc = 1;
	}
	if (rc != 0) {
		fprintf(stderr, "keyset-make: failed\n");
	}
	free(buf);
	free(set);
	return rc;
}

/* keyset-get, skr-get: prints the revision and size, writes the bytes to path (may be NULL). */
static int driver_keyset_get(net_rpc_client_t *cl, bool skr, const char *zone, const char *path,
			     tandem_diag_t *diag, int *rc)
{
	coordrpc_keyset_t ks;
	int ret = skr ? coordrpc_call_skr(cl, zone, diag, &ks)
		      : coordrpc_call_keyset(cl, zone, diag, &ks);
	if (ret != TANDEM_OK) {
		return ret;
	}
	printf("%s %s revision=%" PRId64 " bytes=%zu\n", skr ? "skr" : "keyset", ks.zone,
	       ks.revision, ks.keyset_len);
	if (path != NULL) {
		FILE *fp = fopen(path, "wb");
		if (fp == NULL || fwrite(ks.keyset, 1, ks.keyset_len, fp) != ks.keyset_len) {
			*rc = 1;
		}
		if (fp != NULL && fclose(fp) != 0) {
			*rc = 1;
		}
	}
	coordrpc_keyset_deinit(&ks);
	return TANDEM_OK;
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

/* Runs one command over cl; returns the exit code. */
/* -I and -W: the instance and alerts a node request carries (where its kind has them). */
typedef struct driver_extra {
	char instance[COORDRPC_INSTANCE_MAX];
	size_t nalerts;
	coordrpc_alert_t alerts[COORDRPC_ALERTS_MAX];
} driver_extra_t;

/* "ZONE|-:KIND:0|1:TEXT" into an alert; false when malformed. */
static bool driver_alert(const char *arg, coordrpc_alert_t *a)
{
	char buf[COORD_ZONE_MAX + COORD_TEXT_MAX + 64];
	snprintf(buf, sizeof(buf), "%s", arg);
	char *zone = buf, *kind = strchr(zone, ':');
	char *blk = kind != NULL ? strchr(kind + 1, ':') : NULL;
	char *text = blk != NULL ? strchr(blk + 1, ':') : NULL;
	if (text == NULL) {
		return false;
	}
	*kind++ = '\0';
	*blk++ = '\0';
	*text++ = '\0';
	memset(a, 0, sizeof(*a));
	if (strcmp(zone, "-") == 0) {
		zone[0] = '\0';
	}
	if (strlen(zone) >= sizeof(a->zone) || strlen(kind) >= sizeof(a->kind) ||
	    strlen(text) >= sizeof(a->text)) {
		return false;
	}
	memcpy(a->zone, zone, strlen(zone));
	memcpy(a->kind, kind, strlen(kind));
	memcpy(a->text, text, strlen(text));
	a->blocking = strcmp(blk, "1") == 0;
	return true;
}

static int driver_run(net_rpc_client_t *cl, int argc, char **argv, const driver_extra_t *extra,
		      tandem_diag_t *diag)
{
	const char *cmd = argv[0];
	int ret, rc = 0;
	if (strcmp(cmd, "status") == 0 && argc == 1) {
		coordrpc_status_t *st = calloc(1, sizeof(*st));
		if (st == NULL) {
			return 1;
		}
		ret = coordrpc_call_status(cl, diag, st);
		if (ret == TANDEM_OK) {
			driver_status(st);
		}
		free(st);
	} else if (strcmp(cmd, "keys") == 0 && argc == 2) {
		coordrpc_keys_t *keys = calloc(1, sizeof(*keys));
		if (keys == NULL) {
			return 1;
		}
		ret = coordrpc_call_keys(cl, argv[1], diag, keys);
		if (ret == TANDEM_OK) {
			driver_keys(keys);
		}
		coordrpc_keys_deinit(keys);
		free(keys);
	} else if ((strcmp(cmd, "keyset-get") == 0 || strcmp(cmd, "skr-get") == 0) &&
		   (argc == 2 || argc == 3)) {
		ret = driver_keyset_get(cl, cmd[0] == 's', argv[1], argc == 3 ? argv[2] : NULL,
					diag, &rc);
	} else if (strcmp(cmd, "raw") == 0 && argc == 3) {
		static uint8_t body[4096];
		size_t len = 0;
		net_rpc_msg_t reply;
		memset(&reply, 0, sizeof(reply));
		if (!driver_unhex(argv[2], body, sizeof(body), &len)) {
			return driver_usage();
		}
		ret = net_rpc_client_call(cl, argv[1], body, len, diag, &reply);
		if (ret == TANDEM_OK) {
			printf("reply %s (%zu bytes)\n", reply.type, reply.body_len);
		}
		net_rpc_msg_deinit(&reply);
	} else {
		coordrpc_request_t r;
		coordrpc_decision_t dec;
		if (!driver_request(argc, argv, &r)) {
			coordrpc_request_deinit(&r);
			return driver_usage();
		}
		memcpy(r.instance, extra->instance, sizeof(r.instance));
		r.nalerts = extra->nalerts;
		memcpy(r.alerts, extra->alerts, sizeof(r.alerts));
		ret = coordrpc_call(cl, &r, diag, &dec);
		coordrpc_request_deinit(&r);
		if (ret == TANDEM_OK) {
			rc = driver_decision(&dec);
			coordrpc_decision_deinit(&dec);
		}
	}
	if (ret != TANDEM_OK) {
		fprintf(stderr, "%s: %s\n", cmd, tandem_strerror(ret));
		for (size_t i = 0; tandem_diag_msg(diag, i) != NULL; i++) {
			fprintf(stderr, "  %s\n", tandem_diag_msg(diag, i));
		}
		rc = ret == TANDEM_NET_ETIMEOUT ? 4 : 5;
	}
	return rc;
}

/* -r and -T: a request id and a send time fixed on the command line, so that a test can
 * send a captured request again (a replay) or one from outside the time window. */
static int driver_fixed_random(void *arg, uint8_t *buf, size_t len)
{
	memset(buf, *(const int *)arg, len);
	return TANDEM_OK;
}

static uint64_t driver_fixed_clock(void *arg)
{
	return *(const uint64_t *)arg;
}

int main(int argc, char **argv)
{
	const char *endpoint = NULL, *server_pub = NULL, *secret = NULL;
	int timeout_ms = 1000, attempts = 2, opt, rc = 1, ret, id_byte = -1;
	uint64_t fixed_ms = 0;
	char server_key[NET_KEY_Z85_LEN + 1];
	net_key_t *key = NULL;
	void *ctx = NULL;
	net_rpc_client_t *cl = NULL;
	tandem_diag_t *diag = NULL;

	if (argc == 4 && strcmp(argv[1], "keygen") == 0) {
		return driver_keygen(argv[2], argv[3]);
	}
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "keyset-make") == 0) {
		return driver_keyset_make(argv[2], argv[3], argv[4],
					  argc == 6 ? strtoull(argv[5], NULL, 10) : 0);
	}
	driver_extra_t extra;
	memset(&extra, 0, sizeof(extra));
	while ((opt = getopt(argc, argv, "e:s:k:t:a:r:T:I:W:")) != -1) {
		switch (opt) {
		case 'I': snprintf(extra.instance, sizeof(extra.instance), "%s", optarg); break;
		case 'W':
			if (extra.nalerts == COORDRPC_ALERTS_MAX ||
			    !driver_alert(optarg, &extra.alerts[extra.nalerts++])) {
				return driver_usage();
			}
			break;
		case 'r': id_byte = atoi(optarg) & 0xff; break;
		case 'T': fixed_ms = strtoull(optarg, NULL, 10); break;
		case 'e': endpoint = optarg; break;
		case 's': server_pub = optarg; break;
		case 'k': secret = optarg; break;
		case 't': timeout_ms = atoi(optarg); break;
		case 'a': attempts = atoi(optarg); break;
		default: return driver_usage();
		}
	}
	if (endpoint == NULL || server_pub == NULL || secret == NULL || optind >= argc ||
	    timeout_ms <= 0 || attempts <= 0) {
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
	if (id_byte >= 0) {
		cfg.random = driver_fixed_random;
		cfg.random_arg = &id_byte;
	}
	if (fixed_ms != 0) {
		cfg.now_ms = driver_fixed_clock;
		cfg.clock_arg = &fixed_ms;
	}
	ret = net_rpc_client_new(ctx, key, &cfg, &cl);
	if (ret != TANDEM_OK) {
		fprintf(stderr, "client: %s\n", tandem_strerror(ret));
		goto out;
	}
	rc = driver_run(cl, argc - optind, argv + optind, &extra, diag);
out:
	net_rpc_client_free(cl);
	if (ctx != NULL) {
		zmq_ctx_term(ctx);
	}
	net_key_free(key);
	tandem_diag_free(diag);
	return rc;
}
