/* tandemctl status, switchover, takeover, drain, undrain, node remove, zone add/remove and
 * net keygen: the operator's side of the coordinator RPC (src/coordrpc/, docs/cluster.md). */
#include "coord_state.h"
#include "tandem_clock.h"
#include "coordrpc.h"
#include "coordrpc_audit.h"
#include "kasp_keystate.h"
#include "kasp_skr.h"
#include "kasp_store.h"
#include "net_key.h"
#include "net_rpc.h"
#include "tandem_diag.h"
#include "tandem_encode.h"
#include "tandem_error.h"
#include "tandem_text.h"
#include "tandemctl.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

/* Exit codes (tandemctl.h). */
enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_INPUT = 2, EXIT_REFUSED = 4, EXIT_COORD = 5 };

/* Coordinator endpoints one command may list. */
#define CTL_COORD_MAX 8
/* Per-attempt wait for a reply and attempts per endpoint (TANDEM_COORD_TIMEOUT_MS). */
#define CTL_TIMEOUT_MS 1500
#define CTL_ATTEMPTS   2
/* How often switchover --wait reads the status. */
#define CTL_POLL_MS 500

/* Long-option codes shared by every cluster command. */
enum {
	OPT_COORD = 256,
	OPT_COORD_PUB,
	OPT_KEY,
	OPT_JSON,
	OPT_NO_KEYSETS,
	OPT_ZONE,
	OPT_TO,
	OPT_WAIT,
	OPT_SITE,
	OPT_FORCE,
	OPT_SERIAL,
	OPT_NO_COMPARE,
	OPT_PUBLIC,
	OPT_SECRET,
	OPT_LEASE_MS,
	OPT_MARGIN_MS,
	OPT_POLICY,
};

#define CTL_CONN_OPTIONS                                                                           \
	{"coord", required_argument, NULL, OPT_COORD},                                             \
	    {"coord-pub", required_argument, NULL, OPT_COORD_PUB},                                 \
	    {"key", required_argument, NULL, OPT_KEY},                                             \
	{                                                                                          \
		"help", no_argument, NULL, 'h'                                                     \
	}

/* The connection options, from the command line or the environment. */
typedef struct ctl_conn_opts {
	const char *coord;     /* TANDEM_COORD: ENDPOINT[,ENDPOINT...] */
	const char *coord_pub; /* TANDEM_COORD_PUB: FILE[,FILE...], one per endpoint */
	const char *key;       /* TANDEM_KEY: the operator's CURVE secret key file */
} ctl_conn_opts_t;

/* Clients to the coordinators, made on first use; `cur` is the one that answered last. */
typedef struct ctl_conn {
	const char *who;
	void *zctx;
	net_key_t *key;
	tandem_diag_t *diag;
	char *eps_buf;
	size_t n;
	size_t cur;
	int timeout_ms;
	const char *ep[CTL_COORD_MAX];
	char pub[CTL_COORD_MAX][NET_KEY_Z85_LEN + 1];
	net_rpc_client_t *cl[CTL_COORD_MAX];
} ctl_conn_t;

/* tandemctl.h's connection for other command groups */
struct tandemctl_coord {
	ctl_conn_t conn;
};

static const char *const cluster_cmds[] = {"status", "switchover", "takeover", "drain",   "undrain",
					   "node",   "zone",       "net",      "cluster", "site"};

int tandemctl_cluster_has(const char *cmd)
{
	if (cmd == NULL) {
		return 0;
	}
	for (size_t i = 0; i < sizeof(cluster_cmds) / sizeof(cluster_cmds[0]); i++) {
		if (strcmp(cmd, cluster_cmds[i]) == 0) {
			return 1;
		}
	}
	return 0;
}

static void usage(FILE *fp)
{
	fprintf(
	    fp,
	    "usage: tandemctl COMMAND [--coord EP[,EP...]] [--coord-pub FILE[,FILE...]] "
	    "[--key SECRET]\n"
	    "  status [--json] [--no-keysets]      members, zones, leases, serials, keys\n"
	    "  switchover --zone Z --to NODE [--wait SECONDS]   planned hand-over of a zone\n"
	    "  takeover --site S --force           site S takes every zone; FENCES every other "
	    "site\n"
	    "  drain NODE | undrain NODE           hand a node's zones over / take it back\n"
	    "  node remove NODE                    forget a member (holding no lease)\n"
	    "  zone add Z [--policy NAME] | zone policy Z NAME|-   a zone's signing policy\n"
	    "  site suspend S | site resume S      a lost site leaves / rejoins the key imports\n"
	    "                                      and lease candidates (docs/cluster.md)\n"
	    "  zone add Z [--serial N] [--no-compare-digests]   add a zone (serial floor)\n"
	    "  zone remove Z                       remove a zone (its epoch and serial are kept)\n"
	    "  zone accept-input Z SERIAL          accept the input with that SOA serial although "
	    "it\n"
	    "                                      removes more delegations than the policy "
	    "allows\n"
	    "  zone approve Z SERIAL               sign the version a review hook rejected at "
	    "SERIAL\n"
	    "                                      (its review-rejected alert), without the "
	    "hooks\n"
	    "  zone reject Z SERIAL                keep it held until a new input\n"
	    "  cluster params --lease-ms MS --margin-ms MS   the cluster's lease and margin\n"
	    "  cluster production [on|off]         the cluster's production flag (off: "
	    "approvals)\n"
	    "  net keygen --public FILE --secret FILE   a CURVE key pair (never overwrites)\n"
	    "Connection (also TANDEM_COORD, TANDEM_COORD_PUB, TANDEM_KEY): endpoints are tried\n"
	    "in order until one answers; each has the coordinator's public key file at the\n"
	    "same position. Exit: 0 ok, 1 usage, 2 bad input, 4 refused, 5 coordinator\n"
	    "unreachable or failed.\n");
}

static void print_diag(const char *who, tandem_diag_t *diag)
{
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		fprintf(stderr, "%s: %s\n", who, tandem_diag_msg(diag, i));
	}
	tandem_diag_clear(diag);
}

/* Takes a connection option; false if c is not one. */
static bool conn_opt(ctl_conn_opts_t *co, int c, const char *arg)
{
	switch (c) {
	case OPT_COORD: co->coord = arg; return true;
	case OPT_COORD_PUB: co->coord_pub = arg; return true;
	case OPT_KEY: co->key = arg; return true;
	default: return false;
	}
}

/* A command whose only options are the connection's: parses them into *co. Returns -1 when
 * the positional arguments (from optind) are next, else the exit code (--help, a bad
 * option). */
static int conn_only_opts(int argc, char **argv, ctl_conn_opts_t *co)
{
	static const struct option longopts[] = {CTL_CONN_OPTIONS, {NULL, 0, NULL, 0}};
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return EXIT_OK;
		}
		if (!conn_opt(co, c, optarg)) {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	return -1;
}

static void conn_close(ctl_conn_t *conn)
{
	for (size_t i = 0; i < CTL_COORD_MAX; i++) {
		net_rpc_client_free(conn->cl[i]);
		conn->cl[i] = NULL;
	}
	if (conn->zctx != NULL) {
		zmq_ctx_term(conn->zctx);
		conn->zctx = NULL;
	}
	net_key_free(conn->key);
	conn->key = NULL;
	tandem_diag_free(conn->diag);
	conn->diag = NULL;
	free(conn->eps_buf);
	conn->eps_buf = NULL;
}

/* Reads the options (or their environment variables), the key files and makes the ZeroMQ
 * context. Returns an exit code; conn_close() in every case. */
static int conn_open(const char *who, const ctl_conn_opts_t *co, ctl_conn_t *conn)
{
	const char *coord = co->coord != NULL ? co->coord : getenv("TANDEM_COORD");
	const char *pubs = co->coord_pub != NULL ? co->coord_pub : getenv("TANDEM_COORD_PUB");
	const char *key = co->key != NULL ? co->key : getenv("TANDEM_KEY");
	const char *tmo = getenv("TANDEM_COORD_TIMEOUT_MS");
	const char *pub_files[CTL_COORD_MAX];
	char *pubs_buf = NULL;
	int rc = EXIT_INPUT, ret;

	memset(conn, 0, sizeof(*conn));
	conn->who = who;
	conn->timeout_ms = CTL_TIMEOUT_MS;
	if (coord == NULL || *coord == '\0' || pubs == NULL || *pubs == '\0' || key == NULL ||
	    *key == '\0') {
		fprintf(stderr,
			"%s: needs --coord, --coord-pub and --key (or TANDEM_COORD, "
			"TANDEM_COORD_PUB, TANDEM_KEY)\n",
			who);
		return EXIT_USAGE;
	}
	if (tmo != NULL && *tmo != '\0') {
		char *end = NULL;
		long v = strtol(tmo, &end, 10);
		if (*end != '\0' || v < 50 || v > 600000) {
			fprintf(stderr, "%s: TANDEM_COORD_TIMEOUT_MS must be 50..600000\n", who);
			return EXIT_INPUT;
		}
		conn->timeout_ms = (int)v;
	}
	if (tandem_diag_new(&conn->diag) != TANDEM_OK) {
		fprintf(stderr, "%s: out of memory\n", who);
		return EXIT_COORD;
	}
	conn->eps_buf = strdup(coord);
	pubs_buf = strdup(pubs);
	if (conn->eps_buf == NULL || pubs_buf == NULL) {
		fprintf(stderr, "%s: out of memory\n", who);
		rc = EXIT_COORD;
		goto out;
	}
	conn->n = tandem_split(conn->eps_buf, ',', conn->ep, CTL_COORD_MAX);
	size_t npub = tandem_split(pubs_buf, ',', pub_files, CTL_COORD_MAX);
	if (conn->n == 0 || conn->n > CTL_COORD_MAX) {
		fprintf(stderr, "%s: --coord: 1 to %d endpoints\n", who, CTL_COORD_MAX);
		goto out;
	}
	if (npub != conn->n) {
		fprintf(stderr, "%s: %zu coordinator endpoint(s) but %zu public key file(s)\n", who,
			conn->n, npub > CTL_COORD_MAX ? (size_t)CTL_COORD_MAX + 1 : npub);
		goto out;
	}
	for (size_t i = 0; i < conn->n; i++) {
		ret = net_key_public_load(pub_files[i], conn->pub[i]);
		if (ret != TANDEM_OK) {
			fprintf(stderr, "%s: coordinator key %s: %s\n", who, pub_files[i],
				tandem_strerror(ret));
			goto out;
		}
	}
	ret = net_key_load(key, &conn->key);
	if (ret != TANDEM_OK) {
		fprintf(stderr, "%s: key %s: %s\n", who, key, tandem_strerror(ret));
		goto out;
	}
	conn->zctx = zmq_ctx_new();
	if (conn->zctx == NULL) {
		fprintf(stderr, "%s: cannot create a ZeroMQ context\n", who);
		rc = EXIT_COORD;
		goto out;
	}
	rc = EXIT_OK;
out:
	free(pubs_buf);
	return rc;
}

/* Errors after which another coordinator may answer: nobody answered, or this one cannot
 * reach its store. Anything else is the coordinator's verdict on the request itself. */
static bool conn_try_next(int ret)
{
	switch (ret) {
	case TANDEM_NET_ETIMEOUT:
	case TANDEM_NET_EZMQ:
	case TANDEM_COORD_EUNAVAIL:
	case TANDEM_COORD_ENOQUORUM:
	case TANDEM_COORD_ECONFLICT:
	case TANDEM_COORD_EPROTO:
	case TANDEM_COORD_ELEASE:
	case TANDEM_COORD_EREFUSED: return true;
	default: return false;
	}
}

/* One call: a key set or SKR book (ks set: req->zone's, by req->kind), a decision (req set)
 * or the status (req NULL). */
static int conn_call_one(net_rpc_client_t *cl, const coordrpc_request_t *req, tandem_diag_t *diag,
			 coordrpc_decision_t *dec, coordrpc_status_t *st, coordrpc_keyset_t *ks)
{
	if (ks != NULL) {
		return req->kind == COORDRPC_SKR_GET
			   ? coordrpc_call_skr(cl, req->zone, diag, ks)
			   : coordrpc_call_keyset(cl, req->zone, diag, ks);
	}
	if (req != NULL) {
		return coordrpc_call(cl, req, diag, dec);
	}
	return coordrpc_call_status(cl, diag, st);
}

/* One call to one coordinator, made by conn_try. */
typedef int (*conn_one_fn)(net_rpc_client_t *cl, void *arg, tandem_diag_t *diag);

/*
 * Sends to the coordinator that answered last, then to the others in order, until one
 * answers. A client that timed out is closed, so that libzmq does not deliver its queued
 * request later. Returns a tandem code; on failure every endpoint's error is in the diag.
 */
static int conn_try(ctl_conn_t *conn, conn_one_fn one, void *arg)
{
	int ret = TANDEM_NET_ETIMEOUT;
	tandem_diag_clear(conn->diag);
	for (size_t k = 0; k < conn->n; k++) {
		size_t i = (conn->cur + k) % conn->n;
		if (conn->cl[i] == NULL) {
			net_rpc_client_cfg_t cfg = {.endpoint = conn->ep[i],
						    .server_public = conn->pub[i],
						    .timeout_ms = conn->timeout_ms,
						    .attempts = CTL_ATTEMPTS};
			ret = net_rpc_client_new(conn->zctx, conn->key, &cfg, &conn->cl[i]);
			if (ret != TANDEM_OK) {
				tandem_diag_add(conn->diag, ret, "%s: %s", conn->ep[i],
						tandem_strerror(ret));
				continue;
			}
		}
		ret = one(conn->cl[i], arg, conn->diag);
		if (ret == TANDEM_OK) {
			conn->cur = i;
			return TANDEM_OK;
		}
		tandem_diag_add(conn->diag, ret, "%s: %s", conn->ep[i], tandem_strerror(ret));
		if (ret == TANDEM_NET_ETIMEOUT || ret == TANDEM_NET_EZMQ) {
			net_rpc_client_free(conn->cl[i]);
			conn->cl[i] = NULL;
		}
		if (!conn_try_next(ret)) {
			return ret;
		}
	}
	return ret;
}

/* conn_call_one's arguments, for conn_try. */
typedef struct conn_call_args {
	const coordrpc_request_t *req;
	coordrpc_decision_t *dec;
	coordrpc_status_t *st;
	coordrpc_keyset_t *ks;
} conn_call_args_t;

static int conn_call_cb(net_rpc_client_t *cl, void *arg, tandem_diag_t *diag)
{
	conn_call_args_t *a = arg;
	return conn_call_one(cl, a->req, diag, a->dec, a->st, a->ks);
}

static int conn_call_ks(ctl_conn_t *conn, const coordrpc_request_t *req, coordrpc_decision_t *dec,
			coordrpc_status_t *st, coordrpc_keyset_t *ks)
{
	conn_call_args_t a = {.req = req, .dec = dec, .st = st, .ks = ks};
	return conn_try(conn, conn_call_cb, &a);
}

static int conn_call(ctl_conn_t *conn, const coordrpc_request_t *req, coordrpc_decision_t *dec,
		     coordrpc_status_t *st)
{
	return conn_call_ks(conn, req, dec, st, NULL);
}

/* Reports a failed call; returns the exit code. */
static int conn_fail(ctl_conn_t *conn, const char *what, int ret)
{
	print_diag(conn->who, conn->diag);
	if (conn_try_next(ret)) {
		fprintf(stderr, "%s: %s: no coordinator answered (%s)\n", conn->who, what,
			tandem_strerror(ret));
	} else {
		fprintf(stderr, "%s: %s: %s\n", conn->who, what, tandem_strerror(ret));
	}
	return EXIT_COORD;
}

/* Prints a decision; returns EXIT_OK when accepted, EXIT_REFUSED otherwise. */
static int decision_print(const char *who, const coordrpc_decision_t *dec)
{
	if (!dec->accepted) {
		fprintf(stderr, "%s: refused (%s): %s\n", who, coord_reason_str(dec->reason),
			dec->text);
		return EXIT_REFUSED;
	}
	printf("accepted: %s\n", dec->text);
	for (size_t i = 0; i < dec->neffects && i < COORDRPC_EFFECTS_MAX; i++) {
		printf("  effect: %s\n", dec->effects[i]);
	}
	if (dec->neffects_dropped > 0) {
		printf("  ... and %zu more effects\n", dec->neffects_dropped);
	}
	return EXIT_OK;
}

/* Copies a name into a fixed field; a zone gets its final dot. Returns false, saying why on
 * stderr, when it is not a zone name (tandem_dname_valid) or member name (tandem_id_valid)
 * or too long. */
static bool name_copy(char *dst, size_t size, const char *src, bool zone)
{
	char why[120], shown[100];
	size_t len = strlen(src);
	bool dot = zone && (len == 0 || src[len - 1] != '.');
	if (zone ? !tandem_dname_valid(src, why, sizeof(why))
		 : !tandem_id_valid(src, why, sizeof(why))) {
		fprintf(stderr, "tandemctl: %s name '%s': %s\n", zone ? "zone" : "node",
			tandem_escape(shown, sizeof(shown), src), why);
		return false;
	}
	if (len == 0 || len + (dot ? 1u : 0u) >= size) {
		fprintf(stderr, "tandemctl: name too long\n");
		return false;
	}
	memcpy(dst, src, len);
	if (dot) {
		dst[len++] = '.';
	}
	dst[len] = '\0';
	return true;
}

/* Sends one operator request and prints the decision. Returns the exit code. */
static int request_run(ctl_conn_t *conn, const coordrpc_request_t *req, const char *what)
{
	coordrpc_decision_t *dec = calloc(1, sizeof(*dec));
	if (dec == NULL) {
		fprintf(stderr, "%s: out of memory\n", conn->who);
		return EXIT_COORD;
	}
	int ret = conn_call(conn, req, dec, NULL);
	int rc = ret == TANDEM_OK ? decision_print(conn->who, dec) : conn_fail(conn, what, ret);
	free(dec);
	return rc;
}

/* ---- status ---------------------------------------------------------------------------- */

static char site_letter(uint32_t site)
{
	return site < 26 ? (char)('A' + site) : '?';
}

static void hex(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

/* Whether node holds any live zone's lease. */
static bool node_holds(const coordrpc_status_t *st, const char *node)
{
	for (size_t z = 0; z < st->nzones; z++) {
		if (!st->zones[z].removed && st->zones[z].holder[0] != '\0' &&
		    strcmp(st->zones[z].holder, node) == 0) {
			return true;
		}
	}
	return false;
}

static const char *node_role(const coordrpc_status_t *st, const coordrpc_node_status_t *n)
{
	if (n->state == COORD_NODE_FENCED) {
		return "fenced";
	}
	if (n->state == COORD_NODE_DRAINED) {
		return "drained";
	}
	return node_holds(st, n->name) ? "active" : "standby";
}

static json_t *json_str_or_null(const char *s)
{
	return s[0] != '\0' ? json_string(s) : json_null();
}

/* The register publish string as a list: addresses separated by commas or blanks. */
static json_t *json_publish(const char *publish)
{
	json_t *arr = json_array();
	char buf[COORDRPC_PUBLISH_MAX];
	char *save = NULL;
	snprintf(buf, sizeof(buf), "%s", publish);
	for (char *t = strtok_r(buf, ", \t", &save); t != NULL && arr != NULL;
	     t = strtok_r(NULL, ", \t", &save)) {
		json_array_append_new(arr, json_string(t));
	}
	return arr;
}

/* A zone's key set as status read it (coord.keyset.get), beside the cluster state. */
typedef struct zone_keyset {
	bool have;        /* read and unpacked */
	int64_t revision; /* 0: none written (or not read) */
	char why[160];    /* when not read or unreadable: why */
	kasp_keyset_t set;
} zone_keyset_t;

/* One coord.keyset.get per live zone; a failure is noted per zone, not fatal. */
static void status_keysets(ctl_conn_t *conn, const coordrpc_status_t *st, zone_keyset_t *out)
{
	for (size_t z = 0; z < st->nzones && z < COORD_ZONES_MAX; z++) {
		const coordrpc_zone_status_t *zs = &st->zones[z];
		zone_keyset_t *zk = &out[z];
		coordrpc_request_t req;
		coordrpc_keyset_t ks;
		memset(&req, 0, sizeof(req));
		memset(&ks, 0, sizeof(ks));
		if (zs->removed) {
			continue;
		}
		req.kind = COORDRPC_KEYSET_GET;
		memcpy(req.zone, zs->name, sizeof(req.zone));
		int ret = conn_call_ks(conn, &req, NULL, NULL, &ks);
		if (ret != TANDEM_OK) {
			snprintf(zk->why, sizeof(zk->why), "not read: %s", tandem_strerror(ret));
			tandem_diag_clear(conn->diag);
			continue;
		}
		zk->revision = ks.revision;
		if (ks.keyset_len == 0) {
			snprintf(zk->why, sizeof(zk->why), "none written yet");
		} else if (kasp_keyset_unpack(ks.keyset, ks.keyset_len, "key set", conn->diag,
					      &zk->set) != TANDEM_OK ||
			   strcmp(zk->set.zone, zs->name) != 0) {
			const char *m = tandem_diag_msg(conn->diag, 0);
			snprintf(zk->why, sizeof(zk->why), "unreadable: %s",
				 m != NULL ? m : "another zone's");
		} else {
			zk->have = true;
		}
		tandem_diag_clear(conn->diag);
		coordrpc_keyset_deinit(&ks);
	}
}

/* The key set's key with this id, or NULL. */
static const kasp_key_t *zone_keyset_key(const zone_keyset_t *zk, uint32_t id)
{
	for (size_t i = 0; zk != NULL && zk->have && i < zk->set.count; i++) {
		if (zk->set.keys[i].id == id) {
			return &zk->set.keys[i];
		}
	}
	return NULL;
}

static json_t *json_alert(const char *node, const coordrpc_alert_t *a)
{
	json_t *o = json_object();
	if (node != NULL) {
		json_object_set_new(o, "node", json_string(node));
	}
	json_object_set_new(o, "zone", json_str_or_null(a->zone));
	json_object_set_new(o, "kind", json_string(a->kind));
	json_object_set_new(o, "reason", json_string(a->text));
	json_object_set_new(o, "blocking", json_boolean(a->blocking));
	return o;
}

/* The alerts nodes raised for zone (their own for it, not node-wide ones). */
static json_t *json_zone_alerts(const coordrpc_status_t *st, const char *zone)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr != NULL && i < st->nnodes && i < COORD_NODES_MAX; i++) {
		const coordrpc_node_status_t *n = &st->nodes[i];
		for (size_t a = 0; a < n->nalerts && a < COORDRPC_ALERTS_MAX; a++) {
			if (n->alerts[a].zone[0] != '\0' &&
			    tandem_dname_equal(n->alerts[a].zone, zone)) {
				json_array_append_new(arr, json_alert(n->name, &n->alerts[a]));
			}
		}
	}
	return arr;
}

static json_t *json_zone(const coordrpc_zone_status_t *z, const zone_keyset_t *zk)
{
	char digest[2 * COORD_DIGEST_LEN + 1];
	json_t *o = json_object(), *keys = json_array();
	if (o == NULL || keys == NULL) {
		json_decref(o);
		json_decref(keys);
		return NULL;
	}
	json_object_set_new(o, "name", json_string(z->name));
	json_object_set_new(o, "active_node", json_str_or_null(z->holder));
	json_object_set_new(o, "epoch", json_integer((json_int_t)z->epoch));
	json_object_set_new(o, "serial",
			    z->has_committed ? json_integer((json_int_t)z->serial) : json_null());
	json_object_set_new(o, "committed_by", json_str_or_null(z->committed_by));
	json_object_set_new(o, "committed_epoch", json_integer((json_int_t)z->committed_epoch));
	hex(digest, z->digest, sizeof(z->digest));
	json_object_set_new(o, "digest", z->has_committed ? json_string(digest) : json_null());
	json_object_set_new(o, "sign_time", json_integer((json_int_t)z->sign_time));
	json_object_set_new(o, "input_serial", json_integer((json_int_t)z->input_serial));
	json_object_set_new(o, "nsec3", json_boolean(z->nsec3));
	json_object_set_new(o, "lease_left_ms", json_integer((json_int_t)z->lease_left_ms));
	json_object_set_new(o, "expiry_ms", json_integer((json_int_t)z->expiry_ms));
	json_object_set_new(o, "switch_to", json_str_or_null(z->switch_to));
	json_object_set_new(o, "removed", json_boolean(z->removed));
	json_object_set_new(o, "compare_digests", json_boolean(z->compare_digests));
	json_object_set_new(o, "alerts", json_integer((json_int_t)z->alerts));
	json_object_set_new(o, "alert_open", json_boolean(z->alert_open));
	json_object_set_new(o, "alert_serial",
			    z->alerts > 0 ? json_integer((json_int_t)z->alert_serial)
					  : json_null());
	json_object_set_new(o, "alert_node", json_str_or_null(z->alert_node));
	/* a standby's report on the committed serial: what compare before publish waits for */
	json_t *rep = z->report_serial != 0 ? json_object() : json_null();
	if (z->report_serial != 0 && rep != NULL) {
		char rd[2 * COORD_DIGEST_LEN + 1];
		hex(rd, z->report_digest, sizeof(z->report_digest));
		json_object_set_new(rep, "serial", json_integer((json_int_t)z->report_serial));
		json_object_set_new(rep, "node", json_string(z->report_node));
		json_object_set_new(rep, "digest", json_string(rd));
		json_object_set_new(rep, "match", json_boolean(z->report_match));
		/* an ECDSA zone's report: the nosig digest and the standby's gate on the
		 * active's version (docs/node.md); why it does not match */
		json_object_set_new(rep, "nosig",
				    json_boolean(!z->compare_digests && z->has_nosig));
		json_object_set_new(rep, "why", json_str_or_null(z->report_why));
	}
	char nd[2 * COORD_DIGEST_LEN + 1];
	hex(nd, z->nosig, sizeof(z->nosig));
	json_object_set_new(o, "nosig_digest", z->has_nosig ? json_string(nd) : json_null());
	json_object_set_new(o, "standby_report", rep);
	/* the cluster policy the last commit was signed with (docs/policy.md, "In a cluster") */
	static const uint8_t no_policy[COORD_DIGEST_LEN];
	char pd[2 * COORD_DIGEST_LEN + 1];
	hex(pd, z->policy_digest, sizeof(z->policy_digest));
	json_object_set_new(o, "policy_sha256",
			    memcmp(z->policy_digest, no_policy, COORD_DIGEST_LEN) != 0
				? json_string(pd)
				: json_null());
	json_object_set_new(o, "accepted_input_serial",
			    z->has_accepted_input
				? json_integer((json_int_t)z->accepted_input_serial)
				: json_null());
	json_object_set_new(o, "review_serial",
			    z->has_review_decision ? json_integer((json_int_t)z->review_serial)
						   : json_null());
	json_object_set_new(o, "review_decision",
			    z->has_review_decision
				? json_string(z->review_approved ? "approve" : "reject")
				: json_null());
	json_object_set_new(o, "keyset_revision",
			    zk->revision > 0 ? json_integer((json_int_t)zk->revision)
					     : json_null());
	json_object_set_new(o, "signed_keyset_revision",
			    z->keyset_revision > 0 ? json_integer((json_int_t)z->keyset_revision)
						   : json_null());
	for (size_t k = 0; k < z->nkeys && k < COORD_KEYS_MAX; k++) {
		const coordrpc_key_status_t *ks = &z->keys[k];
		json_t *ko = json_object(), *acks = json_array();
		for (size_t a = 0; acks != NULL && a < ks->nacks && a < COORD_NODES_MAX; a++) {
			json_array_append_new(acks, json_string(ks->acks[a]));
		}
		json_object_set_new(ko, "id", json_integer((json_int_t)ks->id));
		json_object_set_new(ko, "tag", json_integer((json_int_t)ks->tag));
		json_object_set_new(ko, "active", json_boolean(ks->active));
		json_object_set_new(ko, "acks", acks != NULL ? acks : json_array());
		json_object_set_new(ko, "retired", json_boolean(ks->retired));
		json_t *dest = json_array();
		for (size_t a = 0; dest != NULL && a < ks->ndestroyed && a < COORD_NODES_MAX; a++) {
			json_array_append_new(dest, json_string(ks->destroyed[a]));
		}
		json_object_set_new(ko, "destroyed", dest != NULL ? dest : json_array());
		const kasp_key_t *kk = zone_keyset_key(zk, ks->id);
		json_object_set_new(
		    ko, "role", kk != NULL ? json_string(kasp_role_str(kk->role)) : json_null());
		json_object_set_new(ko, "state",
				    kk != NULL ? json_string(kasp_key_state_str(kk->state))
					       : json_null());
		json_object_set_new(
		    ko, "ds", kk != NULL ? json_string(kasp_ds_state_str(kk->ds)) : json_null());
		json_object_set_new(ko, "offline", json_false());
		json_array_append_new(keys, ko);
	}
	/* an offline KSK is in the key set only: no site holds it, so it is never archived */
	for (size_t k = 0; zk != NULL && zk->have && k < zk->set.count; k++) {
		const kasp_key_t *kk = &zk->set.keys[k];
		if (!kasp_key_offline(kk)) {
			continue;
		}
		json_t *ko = json_object();
		json_object_set_new(ko, "id", json_integer((json_int_t)kk->id));
		json_object_set_new(ko, "tag", json_integer((json_int_t)kk->tag));
		json_object_set_new(ko, "active", json_false());
		json_object_set_new(ko, "acks", json_array());
		json_object_set_new(ko, "role", json_string(kasp_role_str(kk->role)));
		json_object_set_new(ko, "state", json_string(kasp_key_state_str(kk->state)));
		json_object_set_new(ko, "ds", json_string(kasp_ds_state_str(kk->ds)));
		json_object_set_new(ko, "offline", json_true());
		json_array_append_new(keys, ko);
	}
	json_object_set_new(o, "keys", keys);
	return o;
}

static json_t *json_node(const coordrpc_status_t *st, const coordrpc_node_status_t *n)
{
	char site[2] = {site_letter(n->site), '\0'};
	json_t *o = json_object(), *zones = json_array();
	if (o == NULL || zones == NULL) {
		json_decref(o);
		json_decref(zones);
		return NULL;
	}
	for (size_t z = 0; z < st->nzones; z++) {
		if (!st->zones[z].removed && strcmp(st->zones[z].holder, n->name) == 0) {
			json_array_append_new(zones, json_string(st->zones[z].name));
		}
	}
	json_object_set_new(o, "name", json_string(n->name));
	json_object_set_new(o, "site", json_string(site));
	json_object_set_new(o, "role", json_string(node_role(st, n)));
	json_object_set_new(o, "state", json_string(coordrpc_node_state_str(n->state)));
	json_object_set_new(o, "healthy", json_boolean(n->healthy));
	json_object_set_new(o, "publish", json_publish(n->publish));
	json_object_set_new(o, "metrics", json_str_or_null(n->metrics));
	json_object_set_new(o, "axfr", json_str_or_null(n->axfr));
	json_object_set_new(o, "no", json_integer((json_int_t)n->no));
	json_object_set_new(o, "last_seen_ms", json_integer((json_int_t)n->last_seen_ms));
	json_object_set_new(o, "clock_offset_ms", json_integer((json_int_t)n->clock_offset_ms));
	json_object_set_new(o, "clock_skewed", json_boolean(n->clock_skewed));
	json_object_set_new(o, "active_zones", zones);
	json_object_set_new(o, "instance", json_str_or_null(n->instance));
	json_t *alerts = json_array();
	for (size_t a = 0; alerts != NULL && a < n->nalerts && a < COORDRPC_ALERTS_MAX; a++) {
		json_array_append_new(alerts, json_alert(NULL, &n->alerts[a]));
	}
	json_object_set_new(o, "alerts", alerts != NULL ? alerts : json_array());
	return o;
}

static int status_json(const coordrpc_status_t *st, const zone_keyset_t *zks, int production)
{
	json_t *root = json_object(), *zones = json_array(), *nodes = json_array();
	int rc = EXIT_COORD;
	if (root == NULL || zones == NULL || nodes == NULL) {
		json_decref(zones);
		json_decref(nodes);
		goto out;
	}
	json_object_set_new(root, "coordinator", json_str_or_null(st->coordinator));
	json_object_set_new(root, "metrics", json_str_or_null(st->metrics));
	json_object_set_new(root, "leader", json_str_or_null(st->leader));
	json_object_set_new(root, "now_ms", json_integer((json_int_t)st->now_ms));
	json_object_set_new(root, "lease_ms", json_integer((json_int_t)st->params.lease_ms));
	json_object_set_new(root, "margin_ms", json_integer((json_int_t)st->params.margin_ms));
	json_object_set_new(root, "nsites", json_integer((json_int_t)st->params.nsites));
	json_t *susp = json_array();
	for (uint32_t s = 0; susp != NULL && s < COORD_SITES_MAX; s++) {
		char letter[2] = {site_letter(s), '\0'};
		if (st->suspended_sites & (1u << s)) {
			json_array_append_new(susp, json_string(letter));
		}
	}
	json_object_set_new(root, "suspended_sites", susp != NULL ? susp : json_array());
	json_object_set_new(root, "production",
			    production < 0 ? json_null() : json_boolean(production > 0));
	json_object_set_new(root, "serial_modulus",
			    json_integer((json_int_t)st->params.serial_modulus));
	/* staleness and clocks (docs/cluster.md, "Status") */
	json_object_set_new(root, "stale", json_boolean(st->stale));
	json_object_set_new(root, "state_age_ms", json_integer((json_int_t)st->state_age_ms));
	json_object_set_new(root, "store_error", json_str_or_null(st->store_error));
	json_object_set_new(root, "clock_skewed", json_boolean(st->clock_skewed));
	json_t *coords = json_array();
	for (size_t i = 0; coords != NULL && i < st->ncoords && i < COORDRPC_COORDS_MAX; i++) {
		const coordrpc_coord_clock_t *c = &st->coords[i];
		json_t *co = json_object();
		json_object_set_new(co, "name", json_string(c->name));
		json_object_set_new(co, "offset_ms",
				    c->seen_ms != 0 ? json_integer((json_int_t)c->offset_ms)
						    : json_null());
		json_object_set_new(co, "skewed", json_boolean(c->skewed));
		json_object_set_new(co, "seen_ms", json_integer((json_int_t)c->seen_ms));
		json_object_set_new(co, "metrics", json_str_or_null(c->metrics));
		json_array_append_new(coords, co);
	}
	json_object_set_new(root, "coordinators", coords != NULL ? coords : json_array());
	for (size_t z = 0; z < st->nzones && z < COORD_ZONES_MAX; z++) {
		json_t *jz = json_zone(&st->zones[z], &zks[z]);
		if (jz != NULL) {
			json_object_set_new(jz, "node_alerts",
					    json_zone_alerts(st, st->zones[z].name));
		}
		json_array_append_new(zones, jz);
	}
	for (size_t i = 0; i < st->nnodes && i < COORD_NODES_MAX; i++) {
		json_array_append_new(nodes, json_node(st, &st->nodes[i]));
	}
	json_object_set_new(root, "zones", zones);
	json_object_set_new(root, "nodes", nodes);
	if (json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0) {
		fputc('\n', stdout);
		rc = EXIT_OK;
	}
out:
	json_decref(root);
	if (rc != EXIT_OK) {
		fprintf(stderr, "tandemctl status: cannot write the JSON\n");
	}
	return rc;
}

/* "3.2s", "4m10s": a duration for people. */
static void duration(char *out, size_t size, uint64_t ms)
{
	if (ms < 60000u) {
		snprintf(out, size, "%" PRIu64 ".%" PRIu64 "s", ms / 1000u, (ms % 1000u) / 100u);
	} else if (ms < 3600000u) {
		snprintf(out, size, "%" PRIu64 "m%02" PRIu64 "s", ms / 60000u, (ms / 1000u) % 60u);
	} else {
		snprintf(out, size, "%" PRIu64 "h%02" PRIu64 "m", ms / 3600000u,
			 (ms / 60000u) % 60u);
	}
}

/* The answer's staleness and the clocks the coordinator measured, under its first line. */
static void status_text_health(const coordrpc_status_t *st)
{
	char age[32], seen[32];
	uint64_t limit = st->params.margin_ms / 2u;
	if (st->stale) {
		duration(age, sizeof(age), st->state_age_ms);
		printf("STALE: the state as %s last read it, %s ago: %s; it decides nothing until "
		       "etcd serves again\n",
		       st->coordinator[0] != '\0' ? st->coordinator : "?", age,
		       st->store_error[0] != '\0' ? st->store_error : "etcd unavailable");
	} else if (st->store_error[0] != '\0') {
		printf("store: %s\n", st->store_error);
	}
	if (st->clock_skewed) {
		printf("CLOCK SKEWED: %s's clock is off the majority's by more than %" PRIu64
		       " ms: it decides nothing (nodes ask another coordinator)\n",
		       st->coordinator[0] != '\0' ? st->coordinator : "?", limit);
	}
	for (size_t i = 0; i < st->ncoords && i < COORDRPC_COORDS_MAX; i++) {
		const coordrpc_coord_clock_t *c = &st->coords[i];
		if (c->seen_ms == 0) {
			printf("clock of coordinator %s: not measured\n", c->name);
			continue;
		}
		duration(seen, sizeof(seen), st->now_ms > c->seen_ms ? st->now_ms - c->seen_ms : 0);
		bool far = c->offset_ms > (int64_t)limit || c->offset_ms < -(int64_t)limit;
		printf("clock of coordinator %s: %+" PRId64 " ms, measured %s ago%s\n", c->name,
		       c->offset_ms, seen,
		       c->skewed ? ": SKEWED against the majority"
		       : far     ? ": beyond the limit, but no majority tells which clock is wrong"
				 : "");
	}
	for (size_t i = 0; i < st->nnodes && i < COORD_NODES_MAX; i++) {
		const coordrpc_node_status_t *n = &st->nodes[i];
		if (n->clock_skewed) {
			printf("clock of node %s: %+" PRId64 " ms: SKEWED against the majority\n",
			       n->name, n->clock_offset_ms);
		}
	}
}

static void status_text(const coordrpc_status_t *st, const zone_keyset_t *zks, int production)
{
	char when[32] = "", left[32], seen[32];
	time_t secs = (time_t)(st->now_ms / 1000u);
	struct tm tm;
	if (gmtime_r(&secs, &tm) != NULL) {
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	printf("coordinator %s, leader %s, at %s; lease %" PRIu64 " ms, margin %" PRIu64 " ms\n",
	       st->coordinator[0] != '\0' ? st->coordinator : "?",
	       st->leader[0] != '\0' ? st->leader : "(none)", when, st->params.lease_ms,
	       st->params.margin_ms);
	status_text_health(st);
	if (production > 0) {
		printf("PRODUCTION cluster: drills need --really and approvals (docs/drills.md)\n");
	}
	if (st->suspended_sites != 0) {
		printf("sites suspended:");
		for (uint32_t s = 0; s < COORD_SITES_MAX; s++) {
			if (st->suspended_sites & (1u << s)) {
				printf(" %c", site_letter(s));
			}
		}
		printf(" (keys activate without their imports; their nodes get no lease)\n");
	}
	printf("\nmembers (%zu):\n", st->nnodes);
	if (st->nnodes > 0) {
		printf("  %-16s %-4s %-8s %-7s %-8s %-10s %s\n", "NAME", "SITE", "STATE", "HEALTHY",
		       "ROLE", "LAST-SEEN", "PUBLISH");
	}
	for (size_t i = 0; i < st->nnodes && i < COORD_NODES_MAX; i++) {
		const coordrpc_node_status_t *n = &st->nodes[i];
		if (n->last_seen_ms == 0) {
			snprintf(seen, sizeof(seen), "never");
		} else {
			duration(seen, sizeof(seen),
				 st->now_ms > n->last_seen_ms ? st->now_ms - n->last_seen_ms : 0);
		}
		printf("  %-16s %-4c %-8s %-7s %-8s %-10s %s\n", n->name, site_letter(n->site),
		       coordrpc_node_state_str(n->state), n->healthy ? "yes" : "no",
		       node_role(st, n), seen, n->publish[0] != '\0' ? n->publish : "-");
		if (n->instance[0] != '\0') {
			printf("    instance %s\n", n->instance);
		}
		for (size_t a = 0; a < n->nalerts && a < COORDRPC_ALERTS_MAX; a++) {
			const coordrpc_alert_t *al = &n->alerts[a];
			printf("    ALERT %s%s%s%s: %s\n", al->kind,
			       al->zone[0] != '\0' ? " zone " : "", al->zone,
			       al->blocking ? " (blocking)" : "", al->text);
		}
	}
	printf("\nzones (%zu):\n", st->nzones);
	for (size_t z = 0; z < st->nzones && z < COORD_ZONES_MAX; z++) {
		const coordrpc_zone_status_t *zs = &st->zones[z];
		printf("  %s%s\n", zs->name, zs->removed ? " (removed)" : "");
		if (zs->holder[0] != '\0') {
			duration(left, sizeof(left), zs->lease_left_ms);
			printf("    active %s, epoch %" PRIu64 ", lease %s left\n", zs->holder,
			       zs->epoch, left);
		} else {
			printf("    active (none), epoch %" PRIu64 "\n", zs->epoch);
		}
		if (zs->has_committed) {
			printf("    serial %" PRIu32 " committed by %s\n", zs->serial,
			       zs->committed_by[0] != '\0' ? zs->committed_by : "(floor)");
		} else {
			printf("    serial (none committed)\n");
		}
		if (zs->switch_to[0] != '\0') {
			printf("    switchover to %s pending\n", zs->switch_to);
		}
		printf("    alerts %" PRIu32 "%s", zs->alerts, zs->alert_open ? " (OPEN" : "");
		if (zs->alert_open) {
			printf(": serial %" PRIu32 ", standby %s)", zs->alert_serial,
			       zs->alert_node);
		}
		bool nosig = !zs->compare_digests && zs->has_nosig;
		printf(", digests %s\n",
		       zs->compare_digests ? "compared"
		       : nosig
			   ? "compared without RRSIGs (nosig), the active's version verified by "
			     "the standby"
			   : "not compared");
		if (zs->has_committed && zs->report_serial == zs->serial && zs->serial != 0) {
			printf("    standby %s reported serial %" PRIu32 ": %s%s%s\n",
			       zs->report_node, zs->report_serial,
			       zs->report_match ? (nosig ? "nosig digest agrees, the active's "
							   "version verified"
							 : "digest agrees")
						: "digest DIFFERS",
			       zs->report_why[0] != '\0' ? ": " : "", zs->report_why);
		} else if (zs->has_committed && (zs->compare_digests || nosig)) {
			printf("    no standby report for serial %" PRIu32 " yet\n", zs->serial);
		}
		for (size_t i = 0; i < st->nnodes && i < COORD_NODES_MAX; i++) {
			const coordrpc_node_status_t *n = &st->nodes[i];
			for (size_t a = 0; a < n->nalerts && a < COORDRPC_ALERTS_MAX; a++) {
				const coordrpc_alert_t *al = &n->alerts[a];
				if (al->zone[0] != '\0' && tandem_dname_equal(al->zone, zs->name)) {
					printf("    ALERT %s on %s%s: %s\n", al->kind, n->name,
					       al->blocking ? " (blocking)" : "", al->text);
				}
			}
		}
		if (zs->has_accepted_input) {
			printf("    input serial %" PRIu32 " accepted by the operator\n",
			       zs->accepted_input_serial);
		}
		if (zs->has_review_decision) {
			printf("    serial %" PRIu32 " %s by the operator after a review hook\n",
			       zs->review_serial, zs->review_approved ? "approved" : "rejected");
		}
		for (size_t k = 0; k < zs->nkeys && k < COORD_KEYS_MAX; k++) {
			const coordrpc_key_status_t *ks = &zs->keys[k];
			printf("    key %" PRIu32 " tag %u %s, acks:", ks->id, (unsigned)ks->tag,
			       ks->retired  ? "retired"
			       : ks->active ? "active"
					    : "inactive");
			for (size_t a = 0; a < ks->nacks && a < COORD_NODES_MAX; a++) {
				printf(" %s", ks->acks[a]);
			}
			printf("%s\n", ks->nacks == 0 ? " (none)" : "");
			if (ks->retired) {
				printf("    key %" PRIu32 " destroyed in the HSMs of:", ks->id);
				for (size_t a = 0; a < ks->ndestroyed && a < COORD_NODES_MAX; a++) {
					printf(" %s", ks->destroyed[a]);
				}
				printf("%s\n", ks->ndestroyed == 0 ? " (none yet)" : "");
			}
		}
		const zone_keyset_t *zk = &zks[z];
		if (zs->removed) {
			continue;
		}
		if (zs->keyset_revision > 0) {
			printf("    signed with key set revision %" PRId64 "\n",
			       zs->keyset_revision);
		}
		if (!zk->have) {
			printf("    key set: %s\n", zk->why);
			continue;
		}
		printf("    key set revision %" PRId64 ", %zu key(s)\n", zk->revision,
		       zk->set.count);
		for (size_t k = 0; k < zk->set.count; k++) {
			const kasp_key_t *kk = &zk->set.keys[k];
			printf("    kasp key %" PRIu32 " %s %s%s, DS %s, tag %u\n", kk->id,
			       kasp_role_str(kk->role), kasp_key_state_str(kk->state),
			       kk->compromised ? " (compromised)" : "", kasp_ds_state_str(kk->ds),
			       (unsigned)kk->tag);
		}
	}
}

/* A stale answer: asks each other coordinator once for a fresh one, which replaces it. */
/* A stale answer from the coordinator at conn->cur: asks each coordinator not tried yet
 * (those after it, up to start, where the first call began: the ones between failed
 * already) once, and takes the first fresh answer instead. */
static void status_prefer_fresh(ctl_conn_t *conn, size_t start, coordrpc_status_t *st)
{
	coordrpc_status_t *other = NULL;
	size_t answered = conn->cur;
	for (size_t i = (answered + 1) % conn->n; st->stale && i != start; i = (i + 1) % conn->n) {
		if (other == NULL && (other = calloc(1, sizeof(*other))) == NULL) {
			return;
		}
		if (conn->cl[i] == NULL) {
			net_rpc_client_cfg_t cfg = {.endpoint = conn->ep[i],
						    .server_public = conn->pub[i],
						    .timeout_ms = conn->timeout_ms,
						    .attempts = CTL_ATTEMPTS};
			if (net_rpc_client_new(conn->zctx, conn->key, &cfg, &conn->cl[i]) !=
			    TANDEM_OK) {
				continue;
			}
		}
		int ret = conn_call_one(conn->cl[i], NULL, conn->diag, NULL, other, NULL);
		if (ret == TANDEM_OK && !other->stale) {
			coordrpc_status_copy(st, other);
			conn->cur = i;
		} else if (ret == TANDEM_NET_ETIMEOUT || ret == TANDEM_NET_EZMQ) {
			net_rpc_client_free(conn->cl[i]); /* as conn_call_ks does */
			conn->cl[i] = NULL;
		}
		tandem_diag_clear(conn->diag);
	}
	free(other);
}

/* The production flag for status: 1 on, 0 off, -1 unknown (no coordinator answered the
 * read; the status itself is printed all the same). */
static int status_production(ctl_conn_t *conn)
{
	coordrpc_request_t req;
	coordrpc_decision_t *dec = calloc(1, sizeof(*dec));
	int on = -1;
	memset(&req, 0, sizeof(req));
	req.kind = COORDRPC_PRODUCTION;
	if (dec != NULL && conn_call(conn, &req, dec, NULL) == TANDEM_OK) {
		on = strcmp(dec->text, "production: on") == 0    ? 1
		     : strcmp(dec->text, "production: off") == 0 ? 0
								 : -1;
	}
	tandem_diag_clear(conn->diag);
	if (dec != NULL) {
		coordrpc_decision_deinit(dec);
	}
	free(dec);
	return on;
}

static int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {CTL_CONN_OPTIONS,
						 {"json", no_argument, NULL, OPT_JSON},
						 {"no-keysets", no_argument, NULL, OPT_NO_KEYSETS},
						 {NULL, 0, NULL, 0}};
	ctl_conn_opts_t co = {0};
	ctl_conn_t conn;
	coordrpc_status_t *st = NULL;
	zone_keyset_t *zks = NULL;
	bool json = false, keysets = true;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == OPT_JSON) {
			json = true;
		} else if (c == OPT_NO_KEYSETS) {
			keysets = false; /* one call, not one more per zone (scripts that poll) */
		} else if (c == 'h') {
			usage(stdout);
			return EXIT_OK;
		} else if (!conn_opt(&co, c, optarg)) {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	rc = conn_open(argv[0], &co, &conn);
	if (rc != EXIT_OK) {
		goto out;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		fprintf(stderr, "%s: out of memory\n", argv[0]);
		rc = EXIT_COORD;
		goto out;
	}
	size_t start = conn.cur;
	int ret = conn_call(&conn, NULL, NULL, st);
	if (ret != TANDEM_OK) {
		rc = conn_fail(&conn, "status", ret);
		goto out;
	}
	status_prefer_fresh(&conn, start, st);
	zks = calloc(COORD_ZONES_MAX, sizeof(*zks));
	if (zks == NULL) {
		fprintf(stderr, "%s: out of memory\n", argv[0]);
		rc = EXIT_COORD;
		goto out;
	}
	if (keysets) {
		status_keysets(&conn, st, zks);
	} else {
		for (size_t z = 0; z < st->nzones && z < COORD_ZONES_MAX; z++) {
			snprintf(zks[z].why, sizeof(zks[z].why), "not read (--no-keysets)");
		}
	}
	/* not asked of a coordinator that answered stale: it cannot read etcd either */
	int production = st->stale ? -1 : status_production(&conn);
	if (json) {
		rc = status_json(st, zks, production);
	} else {
		status_text(st, zks, production);
		rc = EXIT_OK;
	}
	if (rc == EXIT_OK && st->stale) {
		/* printed, but not the cluster's current state: scripts must not take it for one */
		fprintf(stderr, "%s: the status is stale (%s, state read %" PRIu64 " ms ago)\n",
			argv[0], st->store_error[0] != '\0' ? st->store_error : "etcd unavailable",
			st->state_age_ms);
		rc = EXIT_COORD;
	}
out:
	free(zks);
	free(st);
	conn_close(&conn);
	return rc;
}

/* ---- switchover ------------------------------------------------------------------------ */

static const coordrpc_zone_status_t *status_zone(const coordrpc_status_t *st, const char *zone)
{
	for (size_t z = 0; z < st->nzones && z < COORD_ZONES_MAX; z++) {
		if (strcmp(st->zones[z].name, zone) == 0) {
			return &st->zones[z];
		}
	}
	return NULL;
}

/* Polls the status until target holds zone with a serial committed above the one before
 * (any committed serial when there was none). Returns the exit code. */
static int switchover_wait(ctl_conn_t *conn, const char *zone, const char *target, bool had_serial,
			   uint32_t before, unsigned wait_s, coordrpc_status_t *st)
{
	uint64_t deadline = tandem_mono_ms() + (uint64_t)wait_s * 1000u;
	int last = TANDEM_OK;
	for (;;) {
		int ret = conn_call(conn, NULL, NULL, st);
		if (ret == TANDEM_OK) {
			const coordrpc_zone_status_t *z = status_zone(st, zone);
			if (z != NULL && strcmp(z->holder, target) == 0 && z->has_committed &&
			    strcmp(z->committed_by, target) == 0 &&
			    (!had_serial || tandem_serial_gt(z->serial, before))) {
				printf("%s holds %s (epoch %" PRIu64 "), serial %" PRIu32
				       " committed\n",
				       target, zone, z->epoch, z->serial);
				return EXIT_OK;
			}
		}
		last = ret;
		if (tandem_mono_ms() >= deadline) {
			break;
		}
		struct timespec ts = {0, CTL_POLL_MS * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (last != TANDEM_OK) {
		print_diag(conn->who, conn->diag);
	}
	fprintf(stderr, "%s: %s did not take %s with a new serial within %u s\n", conn->who, target,
		zone, wait_s);
	return EXIT_REFUSED;
}

static int cmd_switchover(int argc, char **argv)
{
	static const struct option longopts[] = {CTL_CONN_OPTIONS,
						 {"zone", required_argument, NULL, OPT_ZONE},
						 {"to", required_argument, NULL, OPT_TO},
						 {"wait", required_argument, NULL, OPT_WAIT},
						 {NULL, 0, NULL, 0}};
	ctl_conn_opts_t co = {0};
	ctl_conn_t conn;
	coordrpc_request_t req;
	coordrpc_status_t *st = NULL;
	const char *zone = NULL, *to = NULL;
	long wait_s = -1;
	int c, rc, ret;

	memset(&conn, 0, sizeof(conn));
	memset(&req, 0, sizeof(req));
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == OPT_ZONE) {
			zone = optarg;
		} else if (c == OPT_TO) {
			to = optarg;
		} else if (c == OPT_WAIT) {
			char *end = NULL;
			errno = 0;
			wait_s = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || wait_s < 0 ||
			    wait_s > 86400) {
				fprintf(stderr, "%s: --wait: 0..86400 seconds\n", argv[0]);
				return EXIT_INPUT;
			}
		} else if (c == 'h') {
			usage(stdout);
			return EXIT_OK;
		} else if (!conn_opt(&co, c, optarg)) {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || zone == NULL || to == NULL) {
		fprintf(stderr, "%s: needs --zone Z --to NODE\n", argv[0]);
		return EXIT_USAGE;
	}
	req.kind = COORDRPC_SWITCHOVER;
	if (!name_copy(req.zone, sizeof(req.zone), zone, true) ||
	    !name_copy(req.target, sizeof(req.target), to, false)) {
		fprintf(stderr, "%s: zone or node name empty or too long\n", argv[0]);
		return EXIT_INPUT;
	}
	rc = conn_open(argv[0], &co, &conn);
	if (rc != EXIT_OK) {
		goto out;
	}
	bool had_serial = false;
	uint32_t before = 0;
	if (wait_s >= 0) {
		st = calloc(1, sizeof(*st));
		if (st == NULL) {
			rc = EXIT_COORD;
			goto out;
		}
		ret = conn_call(&conn, NULL, NULL, st);
		if (ret != TANDEM_OK) {
			rc = conn_fail(&conn, "status", ret);
			goto out;
		}
		const coordrpc_zone_status_t *z = status_zone(st, req.zone);
		if (z != NULL && z->has_committed) {
			had_serial = true;
			before = z->serial;
		}
	}
	rc = request_run(&conn, &req, "switchover");
	if (rc == EXIT_OK && wait_s >= 0) {
		rc = switchover_wait(&conn, req.zone, req.target, had_serial, before,
				     (unsigned)wait_s, st);
	}
out:
	free(st);
	conn_close(&conn);
	return rc;
}

/* ---- takeover, drain, undrain, node remove, zone add/remove ----------------------------- */

static int cmd_takeover(int argc, char **argv)
{
	static const struct option longopts[] = {CTL_CONN_OPTIONS,
						 {"site", required_argument, NULL, OPT_SITE},
						 {"force", no_argument, NULL, OPT_FORCE},
						 {NULL, 0, NULL, 0}};
	ctl_conn_opts_t co = {0};
	ctl_conn_t conn;
	coordrpc_request_t req;
	const char *site = NULL;
	bool force = false;
	int c, rc;

	memset(&req, 0, sizeof(req));
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == OPT_SITE) {
			site = optarg;
		} else if (c == OPT_FORCE) {
			force = true;
		} else if (c == 'h') {
			usage(stdout);
			return EXIT_OK;
		} else if (!conn_opt(&co, c, optarg)) {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || site == NULL) {
		fprintf(stderr, "%s: needs --site S --force\n", argv[0]);
		return EXIT_USAGE;
	}
	char letter = site[0] >= 'a' && site[0] <= 'z' ? (char)(site[0] - 'a' + 'A') : site[0];
	if (site[1] != '\0' || letter < 'A' || letter >= 'A' + COORD_SITES_MAX) {
		fprintf(stderr, "%s: --site: a site letter A..%c\n", argv[0],
			'A' + COORD_SITES_MAX - 1);
		return EXIT_INPUT;
	}
	if (!force) {
		fprintf(stderr,
			"%s: refused without --force. A takeover by site %c FENCES every node of "
			"every other site:\n"
			"  their CURVE keys are revoked, every zone they hold loses its holder and "
			"its epoch is raised,\n"
			"  and a fenced node comes back only after 'tandemctl node remove' and a "
			"fresh registration.\n"
			"  Use it when the other site is lost for good, not for a planned move "
			"(that is 'switchover').\n",
			argv[0], letter);
		return EXIT_REFUSED;
	}
	req.kind = COORDRPC_TAKEOVER;
	req.site = (uint32_t)(letter - 'A');
	req.force = true;
	rc = conn_open(argv[0], &co, &conn);
	if (rc == EXIT_OK) {
		rc = request_run(&conn, &req, "takeover");
	}
	conn_close(&conn);
	return rc;
}

/* site suspend S, site resume S: one site letter. */
static int cmd_site(coordrpc_kind_t kind, int argc, char **argv)
{
	ctl_conn_opts_t co = {0};
	ctl_conn_t conn;
	coordrpc_request_t req;
	int rc;

	memset(&req, 0, sizeof(req));
	if ((rc = conn_only_opts(argc, argv, &co)) >= 0) {
		return rc;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "%s: needs one site letter\n", argv[0]);
		return EXIT_USAGE;
	}
	const char *site = argv[optind];
	char letter = site[0] >= 'a' && site[0] <= 'z' ? (char)(site[0] - 'a' + 'A') : site[0];
	if (site[0] == '\0' || site[1] != '\0' || letter < 'A' || letter >= 'A' + COORD_SITES_MAX) {
		fprintf(stderr, "%s: a site letter A..%c\n", argv[0], 'A' + COORD_SITES_MAX - 1);
		return EXIT_INPUT;
	}
	req.kind = kind;
	req.site = (uint32_t)(letter - 'A');
	rc = conn_open(argv[0], &co, &conn);
	if (rc == EXIT_OK) {
		rc = request_run(&conn, &req,
				 kind == COORDRPC_SITE_SUSPEND ? "site suspend" : "site resume");
	}
	conn_close(&conn);
	return rc;
}

/* drain NODE, undrain NODE, node remove NODE, zone remove Z: one name, no options. */
static int cmd_named(coordrpc_kind_t kind, int argc, char **argv)
{
	ctl_conn_opts_t co = {0};
	ctl_conn_t conn;
	coordrpc_request_t req;
	bool zone = kind == COORDRPC_ZONE_REMOVE;
	int rc;

	memset(&req, 0, sizeof(req));
	if ((rc = conn_only_opts(argc, argv, &co)) >= 0) {
		return rc;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "%s: needs one %s name\n", argv[0], zone ? "zone" : "node");
		return EXIT_USAGE;
	}
	req.kind = kind;
	if (!(zone ? name_copy(req.zone, sizeof(req.zone), argv[optind], true)
		   : name_copy(req.node, sizeof(req.node), argv[optind], false))) {
		fprintf(stderr, "%s: name empty or too long\n", argv[0]);
		return EXIT_INPUT;
	}
	rc = conn_open(argv[0], &co, &conn);
	if (rc == EXIT_OK) {
		rc = request_run(&conn, &req, coordrpc_type(kind));
	}
	conn_close(&conn);
	return rc;
}

static int cmd_zone_add(int argc, char **argv)
{
	static const struct option longopts[] = {
	    CTL_CONN_OPTIONS,
	    {"serial", required_argument, NULL, OPT_SERIAL},
	    {"no-compare-digests", no_argument, NULL, OPT_NO_COMPARE},
	    {"policy", required_argument, NULL, OPT_POLICY},
	    {NULL, 0, NULL, 0}};
	ctl_conn_opts_t co = {0};
	ctl_conn_t conn;
	coordrpc_request_t req;
	const char *policy = NULL;
	int c, rc;

	memset(&req, 0, sizeof(req));
	req.kind = COORDRPC_ZONE_ADD;
	req.compare_digests = true;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == OPT_SERIAL) {
			char *end = NULL;
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || optarg[0] == '-' ||
			    v > UINT32_MAX) {
				fprintf(stderr, "%s: --serial: 0..4294967295\n", argv[0]);
				return EXIT_INPUT;
			}
			req.has_serial = true;
			req.serial = (uint32_t)v;
		} else if (c == OPT_NO_COMPARE) {
			req.compare_digests = false;
		} else if (c == OPT_POLICY) {
			policy = optarg;
		} else if (c == 'h') {
			usage(stdout);
			return EXIT_OK;
		} else if (!conn_opt(&co, c, optarg)) {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "%s: needs one zone name\n", argv[0]);
		return EXIT_USAGE;
	}
	if (!name_copy(req.zone, sizeof(req.zone), argv[optind], true)) {
		fprintf(stderr, "%s: zone name empty or too long\n", argv[0]);
		return EXIT_INPUT;
	}
	rc = conn_open(argv[0], &co, &conn);
	if (rc == EXIT_OK) {
		rc = request_run(&conn, &req, "zone add");
	}
	if (rc == EXIT_OK && policy != NULL) {
		/* the zone is new: nothing signed with another policy yet, so no approvals */
		tandemctl_coord_t pc = {.conn = conn};
		rc = tandemctl_policy_zone_set(&pc, argv[0], req.zone, policy);
	}
	conn_close(&conn);
	return rc;
}

/* zone accept-input Z SERIAL, zone approve Z SERIAL, zone reject Z SERIAL */
static int cmd_zone_serial(coordrpc_kind_t kind, const char *what, int argc, char **argv)
{
	ctl_conn_opts_t co = {0};
	ctl_conn_t conn;
	coordrpc_request_t req;
	int rc;

	memset(&req, 0, sizeof(req));
	req.kind = kind;
	if ((rc = conn_only_opts(argc, argv, &co)) >= 0) {
		return rc;
	}
	if (optind + 2 != argc) {
		fprintf(stderr, "%s: needs a zone name and %s\n", argv[0],
			kind == COORDRPC_ZONE_ACCEPT_INPUT
			    ? "the input's SOA serial"
			    : "the serial the review-rejected alert names");
		return EXIT_USAGE;
	}
	if (!name_copy(req.zone, sizeof(req.zone), argv[optind], true)) {
		return EXIT_INPUT;
	}
	const char *sv = argv[optind + 1];
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(sv, &end, 10);
	if (errno != 0 || end == sv || *end != '\0' || sv[0] == '-' || v > UINT32_MAX) {
		fprintf(stderr, "%s: SERIAL: 0..4294967295\n", argv[0]);
		return EXIT_INPUT;
	}
	req.serial = (uint32_t)v;
	rc = conn_open(argv[0], &co, &conn);
	if (rc == EXIT_OK) {
		rc = request_run(&conn, &req, what);
	}
	conn_close(&conn);
	return rc;
}

/* Milliseconds for --lease-ms / --margin-ms: 1..UINT32_MAX. */
static bool parse_ms(const char *s, uint64_t *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > UINT32_MAX) {
		return false;
	}
	*out = v;
	return true;
}

/* cluster params --lease-ms MS --margin-ms MS */
static int cmd_cluster_params(int argc, char **argv)
{
	static const struct option longopts[] = {
	    CTL_CONN_OPTIONS,
	    {"lease-ms", required_argument, NULL, OPT_LEASE_MS},
	    {"margin-ms", required_argument, NULL, OPT_MARGIN_MS},
	    {NULL, 0, NULL, 0}};
	ctl_conn_opts_t co = {0};
	ctl_conn_t conn;
	coordrpc_request_t req;
	bool has_lease = false, has_margin = false;
	int c, rc;

	memset(&req, 0, sizeof(req));
	req.kind = COORDRPC_PARAMS_SET;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == OPT_LEASE_MS || c == OPT_MARGIN_MS) {
			uint64_t *v = c == OPT_LEASE_MS ? &req.lease_ms : &req.margin_ms;
			if (!parse_ms(optarg, v)) {
				fprintf(stderr, "%s: --%s: milliseconds, 0..4294967295\n", argv[0],
					c == OPT_LEASE_MS ? "lease-ms" : "margin-ms");
				return EXIT_INPUT;
			}
			*(c == OPT_LEASE_MS ? &has_lease : &has_margin) = true;
		} else if (c == 'h') {
			usage(stdout);
			return EXIT_OK;
		} else if (!conn_opt(&co, c, optarg)) {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || !has_lease || !has_margin) {
		fprintf(stderr, "%s: needs --lease-ms MS --margin-ms MS\n", argv[0]);
		return EXIT_USAGE;
	}
	/* nodes renew every lease/3 and must get a second try before lease - margin */
	if (req.margin_ms == 0 || req.margin_ms >= req.lease_ms / 3) {
		fprintf(stderr,
			"%s: lease %" PRIu64 " ms, margin %" PRIu64
			" ms: the margin must be above 0 and below a third of the lease\n",
			argv[0], req.lease_ms, req.margin_ms);
		return EXIT_INPUT;
	}
	rc = conn_open(argv[0], &co, &conn);
	if (rc == EXIT_OK) {
		rc = request_run(&conn, &req, "cluster params");
	}
	conn_close(&conn);
	return rc;
}

/* ---- net keygen ------------------------------------------------------------------------ */

/* tandemctl cluster production [on|off]: shows or sets the cluster's production flag, which
 * makes tandemctl drill refuse without approvals (docs/drills.md). */
static int cmd_cluster_production(int argc, char **argv)
{
	ctl_conn_opts_t co = {0};
	ctl_conn_t conn;
	coordrpc_request_t req;
	int rc;

	memset(&req, 0, sizeof(req));
	if ((rc = conn_only_opts(argc, argv, &co)) >= 0) {
		return rc;
	}
	if (optind + 1 < argc || (optind < argc && strcmp(argv[optind], "on") != 0 &&
				  strcmp(argv[optind], "off") != 0)) {
		fprintf(stderr, "%s: [on|off]\n", argv[0]);
		return EXIT_USAGE;
	}
	req.kind = COORDRPC_PRODUCTION;
	if (optind < argc) {
		snprintf(req.action, sizeof(req.action), "%s", argv[optind]);
	}
	rc = conn_open(argv[0], &co, &conn);
	if (rc == EXIT_OK) {
		rc = request_run(&conn, &req, "production");
	}
	conn_close(&conn);
	return rc;
}

/* Claims path for us (O_EXCL): an existing file is never replaced. */
static int claim(const char *who, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "%s: %s: %s%s\n", who, path, strerror(errno),
			errno == EEXIST ? " (refusing to overwrite)" : "");
		return errno == EEXIST ? EXIT_INPUT : EXIT_COORD;
	}
	close(fd);
	return EXIT_OK;
}

static int cmd_net_keygen(int argc, char **argv)
{
	static const struct option longopts[] = {{"public", required_argument, NULL, OPT_PUBLIC},
						 {"secret", required_argument, NULL, OPT_SECRET},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	const char *pub = NULL, *sec = NULL;
	net_key_t *key = NULL;
	bool pub_claimed = false, sec_claimed = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == OPT_PUBLIC) {
			pub = optarg;
		} else if (c == OPT_SECRET) {
			sec = optarg;
		} else if (c == 'h') {
			usage(stdout);
			return EXIT_OK;
		} else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || pub == NULL || sec == NULL) {
		fprintf(stderr, "%s: needs --public FILE --secret FILE\n", argv[0]);
		return EXIT_USAGE;
	}
	if (strcmp(pub, sec) == 0) {
		fprintf(stderr, "%s: the public and secret files must differ\n", argv[0]);
		return EXIT_INPUT;
	}
	rc = claim(argv[0], sec);
	if (rc != EXIT_OK) {
		goto out;
	}
	sec_claimed = true;
	rc = claim(argv[0], pub);
	if (rc != EXIT_OK) {
		goto out;
	}
	pub_claimed = true;
	int ret = net_key_generate(&key);
	if (ret == TANDEM_OK) {
		ret = net_key_save(key, pub, sec);
	}
	if (ret != TANDEM_OK) {
		fprintf(stderr, "%s: %s\n", argv[0], tandem_strerror(ret));
		rc = EXIT_COORD;
		goto out;
	}
	printf("public %s\n", net_key_public(key));
	printf("wrote %s (0644) and %s (0600)\n", pub, sec);
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK) {
		if (pub_claimed) {
			unlink(pub);
		}
		if (sec_claimed) {
			unlink(sec);
		}
	}
	net_key_free(key);
	return rc;
}

/* ---- dispatch -------------------------------------------------------------------------- */

int tandemctl_cluster(int argc, char **argv)
{
	char name[128];
	const char *cmd = argv[0];
	bool sub = strcmp(cmd, "node") == 0 || strcmp(cmd, "zone") == 0 ||
		   strcmp(cmd, "net") == 0 || strcmp(cmd, "cluster") == 0 ||
		   strcmp(cmd, "site") == 0;

	if (sub) {
		if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
			usage(argc < 2 ? stderr : stdout);
			return argc < 2 ? EXIT_USAGE : EXIT_OK;
		}
		snprintf(name, sizeof(name), "tandemctl %s %s", cmd, argv[1]);
		argc--;
		argv++;
	} else {
		snprintf(name, sizeof(name), "tandemctl %s", cmd);
	}
	const char *subcmd = argv[0];
	argv[0] = name;
	if (strcmp(cmd, "status") == 0) {
		return cmd_status(argc, argv);
	}
	if (strcmp(cmd, "switchover") == 0) {
		return cmd_switchover(argc, argv);
	}
	if (strcmp(cmd, "takeover") == 0) {
		return cmd_takeover(argc, argv);
	}
	if (strcmp(cmd, "drain") == 0) {
		return cmd_named(COORDRPC_DRAIN, argc, argv);
	}
	if (strcmp(cmd, "undrain") == 0) {
		return cmd_named(COORDRPC_UNDRAIN, argc, argv);
	}
	if (strcmp(cmd, "node") == 0 && strcmp(subcmd, "remove") == 0) {
		return cmd_named(COORDRPC_NODE_REMOVE, argc, argv);
	}
	if (strcmp(cmd, "zone") == 0 && strcmp(subcmd, "add") == 0) {
		return cmd_zone_add(argc, argv);
	}
	if (strcmp(cmd, "zone") == 0 && strcmp(subcmd, "policy") == 0) {
		return tandemctl_policy_zone(argc, argv);
	}
	if (strcmp(cmd, "zone") == 0 && strcmp(subcmd, "remove") == 0) {
		return cmd_named(COORDRPC_ZONE_REMOVE, argc, argv);
	}
	if (strcmp(cmd, "zone") == 0 && strcmp(subcmd, "accept-input") == 0) {
		return cmd_zone_serial(COORDRPC_ZONE_ACCEPT_INPUT, "zone accept-input", argc, argv);
	}
	if (strcmp(cmd, "zone") == 0 && strcmp(subcmd, "approve") == 0) {
		return cmd_zone_serial(COORDRPC_ZONE_APPROVE, "zone approve", argc, argv);
	}
	if (strcmp(cmd, "zone") == 0 && strcmp(subcmd, "reject") == 0) {
		return cmd_zone_serial(COORDRPC_ZONE_REJECT, "zone reject", argc, argv);
	}
	if (strcmp(cmd, "cluster") == 0 && strcmp(subcmd, "params") == 0) {
		return cmd_cluster_params(argc, argv);
	}
	if (strcmp(cmd, "cluster") == 0 && strcmp(subcmd, "production") == 0) {
		return cmd_cluster_production(argc, argv);
	}
	if (strcmp(cmd, "net") == 0 && strcmp(subcmd, "keygen") == 0) {
		return cmd_net_keygen(argc, argv);
	}
	if (strcmp(cmd, "site") == 0 &&
	    (strcmp(subcmd, "suspend") == 0 || strcmp(subcmd, "resume") == 0)) {
		return cmd_site(strcmp(subcmd, "suspend") == 0 ? COORDRPC_SITE_SUSPEND
							       : COORDRPC_SITE_RESUME,
				argc, argv);
	}
	fprintf(stderr, "tandemctl: unknown command '%s %s'\n", cmd, subcmd);
	usage(stderr);
	return EXIT_USAGE;
}

/* ---- the connection for other command groups (tandemctl.h) ---------------------------- */

int tandemctl_coord_open(const char *who, const char *coord, const char *coord_pub, const char *key,
			 tandemctl_coord_t **out)
{
	ctl_conn_opts_t co = {.coord = coord, .coord_pub = coord_pub, .key = key};
	tandemctl_coord_t *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		fprintf(stderr, "%s: out of memory\n", who);
		return EXIT_COORD;
	}
	int rc = conn_open(who, &co, &c->conn);
	if (rc != EXIT_OK) {
		tandemctl_coord_close(c);
		return rc;
	}
	*out = c;
	return EXIT_OK;
}

void tandemctl_coord_close(tandemctl_coord_t *c)
{
	if (c == NULL) {
		return;
	}
	conn_close(&c->conn);
	free(c);
}

/* The zone's key set or SKR book (get: COORDRPC_KEYSET_GET or COORDRPC_SKR_GET) as
 * tandemctl.h says. */
static int coord_doc_get(tandemctl_coord_t *c, coordrpc_kind_t get, const char *zone, uint8_t **buf,
			 size_t *len, int64_t *revision, bool *unknown)
{
	coordrpc_request_t req;
	coordrpc_keyset_t ks;
	memset(&req, 0, sizeof(req));
	memset(&ks, 0, sizeof(ks));
	req.kind = get;
	if (!name_copy(req.zone, sizeof(req.zone), zone, true)) {
		fprintf(stderr, "%s: zone name too long: %s\n", c->conn.who, zone);
		return EXIT_INPUT;
	}
	int ret = conn_call_ks(&c->conn, &req, NULL, NULL, &ks);
	if (ret == TANDEM_ENOENT && unknown != NULL) {
		tandem_diag_clear(c->conn.diag);
		*buf = NULL;
		*len = 0;
		*revision = 0;
		*unknown = true;
		return EXIT_OK;
	}
	if (ret == TANDEM_ENOENT) {
		print_diag(c->conn.who, c->conn.diag);
		fprintf(stderr,
			"%s: zone %s is not in the cluster ('tandemctl zone add' it first)\n",
			c->conn.who, req.zone);
		return EXIT_INPUT;
	}
	if (ret != TANDEM_OK) {
		return conn_fail(&c->conn, coordrpc_type(get), ret);
	}
	*buf = ks.keyset; /* the caller's now */
	*len = ks.keyset_len;
	*revision = ks.revision;
	if (unknown != NULL) {
		*unknown = false;
	}
	return EXIT_OK;
}

/* Writes the zone's key set or SKR book (put: COORDRPC_KEYSET_PUT or COORDRPC_SKR_PUT) as
 * tandemctl.h says. */
static int coord_doc_put(tandemctl_coord_t *c, coordrpc_kind_t put, const char *zone,
			 const uint8_t *buf, size_t len, int64_t revision, int64_t *new_revision)
{
	const char *what = put == COORDRPC_SKR_PUT ? "SKR book" : "key set";
	coordrpc_request_t req;
	memset(&req, 0, sizeof(req));
	req.kind = put;
	if (!name_copy(req.zone, sizeof(req.zone), zone, true)) {
		fprintf(stderr, "%s: zone name too long: %s\n", c->conn.who, zone);
		return EXIT_INPUT;
	}
	if (len > COORDRPC_KEYSET_MAX) {
		fprintf(stderr, "%s: the %s is too large (%zu bytes, at most %u)\n", c->conn.who,
			what, len, (unsigned)COORDRPC_KEYSET_MAX);
		return EXIT_INPUT;
	}
	req.keyset = (uint8_t *)buf; /* borrowed: never deinit req */
	req.keyset_len = len;
	req.revision = revision;
	coordrpc_decision_t *dec = calloc(1, sizeof(*dec));
	if (dec == NULL) {
		fprintf(stderr, "%s: out of memory\n", c->conn.who);
		return EXIT_COORD;
	}
	int rc = EXIT_OK;
	int ret = conn_call(&c->conn, &req, dec, NULL);
	if (ret != TANDEM_OK) {
		rc = conn_fail(&c->conn, coordrpc_type(put), ret);
	} else if (!dec->accepted && dec->reason == COORD_R_CONFLICT) {
		fprintf(stderr, "%s: the %s changed meanwhile; run the command again (%s)\n",
			c->conn.who, what, dec->text);
		rc = EXIT_REFUSED;
	} else if (!dec->accepted) {
		fprintf(stderr, "%s: refused (%s): %s\n", c->conn.who,
			coord_reason_str(dec->reason), dec->text);
		rc = EXIT_REFUSED;
	} else {
		*new_revision = dec->revision;
	}
	free(dec);
	return rc;
}

int tandemctl_coord_keyset_get(tandemctl_coord_t *c, const char *zone, uint8_t **buf, size_t *len,
			       int64_t *revision)
{
	return coord_doc_get(c, COORDRPC_KEYSET_GET, zone, buf, len, revision, NULL);
}

int tandemctl_coord_keyset_put(tandemctl_coord_t *c, const char *zone, const uint8_t *buf,
			       size_t len, int64_t revision, int64_t *new_revision)
{
	return coord_doc_put(c, COORDRPC_KEYSET_PUT, zone, buf, len, revision, new_revision);
}

int tandemctl_coord_skr_get(tandemctl_coord_t *c, const char *zone, uint8_t **buf, size_t *len,
			    int64_t *revision, bool *unknown)
{
	return coord_doc_get(c, COORDRPC_SKR_GET, zone, buf, len, revision, unknown);
}

int tandemctl_coord_skr_put(tandemctl_coord_t *c, const char *zone, const uint8_t *buf, size_t len,
			    int64_t revision, int64_t *new_revision)
{
	return coord_doc_put(c, COORDRPC_SKR_PUT, zone, buf, len, revision, new_revision);
}

/* coord.audit.get's arguments, for conn_try. */
typedef struct audit_get_args {
	uint64_t from_seq;
	uint32_t limit;
	struct coordrpc_audit_page *out;
} audit_get_args_t;

static int audit_get_cb(net_rpc_client_t *cl, void *arg, tandem_diag_t *diag)
{
	audit_get_args_t *a = arg;
	return coordrpc_call_audit(cl, a->from_seq, a->limit, diag, a->out);
}

int tandemctl_coord_audit_get(tandemctl_coord_t *c, uint64_t from_seq, uint32_t limit,
			      struct coordrpc_audit_page *out)
{
	audit_get_args_t a = {.from_seq = from_seq, .limit = limit, .out = out};
	int ret = conn_try(&c->conn, audit_get_cb, &a);
	return ret == TANDEM_OK ? EXIT_OK : conn_fail(&c->conn, COORDRPC_T_AUDIT_GET, ret);
}

int tandemctl_coord_decide(tandemctl_coord_t *c, const coordrpc_request_t *req,
			   coordrpc_decision_t *dec)
{
	int ret = conn_call(&c->conn, req, dec, NULL);
	return ret == TANDEM_OK ? EXIT_OK : conn_fail(&c->conn, coordrpc_type(req->kind), ret);
}

int tandemctl_coord_status_quiet(tandemctl_coord_t *c, struct coordrpc_status *st)
{
	int ret = conn_call(&c->conn, NULL, NULL, st);
	tandem_diag_clear(c->conn.diag);
	return ret;
}
