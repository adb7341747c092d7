/* tandem-coord: the coordinator daemon; answers nodes over net RPC, decides through the store. */
#include "coord_etcd.h"
#include "coord_state.h"
#include "coord_store.h"
#include "coordrpc.pb-c.h"
#include "net_allow.h"
#include "net_key.h"
#include "net_rpc.h"
#include "tandem_diag.h"
#include "tandem_error.h"
#include "tandem_file.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define COORDRPC_VERSION 1u
/* The leader's etcd lease, in seconds; it campaigns every third of it. */
#define COORDD_LEADER_TTL_S 6
/* Longest sleep in one poll, so that a signal is noticed soon. */
#define COORDD_POLL_MAX_MS 250
#define COORDD_ZONES_MAX   COORD_ZONES_MAX

typedef struct coordd_opts {
	const char *etcd;
	const char *listen;
	const char *key;
	const char *allow;
	const char *name;
	const char *prefix;
	const char *pid_file;
	uint64_t lease_ms;
	uint64_t margin_ms;
	size_t nzones;
	const char *zones[COORDD_ZONES_MAX];
} coordd_opts_t;

/* The daemon's context: everything lives here, nothing in globals (STYLE rule 9). */
typedef struct coordd {
	const coordd_opts_t *opts;
	coord_params_t params;
	coord_store_t *store;
	net_rpc_server_t *srv;
	tandem_diag_t *diag;
	coord_result_t *res;  /* ~60 KB: on the heap */
	coord_state_t *state; /* ~200 KB: on the heap, for status and timers */
	bool leader;
	uint64_t next_campaign_ms;
	uint64_t next_tick_ms; /* leader only; 0: none planned */
} coordd_t;

static uint64_t coordd_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* One log line on stderr, prefixed with the UTC time. Never given secrets. */
__attribute__((format(printf, 1, 2))) static void coordd_log(const char *fmt, ...)
{
	uint64_t now = coordd_now_ms();
	time_t secs = (time_t)(now / 1000u);
	struct tm tm;
	char stamp[32] = "";
	if (gmtime_r(&secs, &tm) != NULL) {
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	}
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s.%03uZ tandem-coord: %s\n", stamp, (unsigned)(now % 1000u), line);
	fflush(stderr);
}

/* Logs and clears the diag's messages under a heading. */
static void coordd_log_diag(tandem_diag_t *diag, const char *what, int rc)
{
	coordd_log("%s: %s", what, tandem_strerror(rc));
	for (size_t i = 0; tandem_diag_msg(diag, i) != NULL; i++) {
		coordd_log("  %s", tandem_diag_msg(diag, i));
	}
	tandem_diag_clear(diag);
}

static bool coordd_copy_name(char *dst, size_t size, const char *src)
{
	if (src == NULL || strlen(src) >= size) {
		return false;
	}
	memcpy(dst, src, strlen(src) + 1);
	return true;
}

/* Node inputs come from the node itself: a node's key speaks only for its own name. */
static int coordd_check_sender(const net_rpc_request_t *req, const char *node, net_rpc_msg_t *reply)
{
	if (req->role != NET_ROLE_NODE || node == NULL || strcmp(node, req->peer) != 0) {
		snprintf(reply->error, sizeof(reply->error),
			 "%s from %s (%s): a node request must come from that node", req->type,
			 req->peer, net_role_name(req->role));
		return TANDEM_EPERM;
	}
	return TANDEM_OK;
}

static int coordd_bad(net_rpc_msg_t *reply, const char *type, const char *why)
{
	snprintf(reply->error, sizeof(reply->error), "%s: %s", type, why);
	return TANDEM_EINVAL;
}

/* The sender's CURVE public key, as the allow-list has it. */
static int coordd_peer_key(const coordd_t *d, const char *peer, uint8_t out[COORD_CURVE_KEY_LEN])
{
	const net_allow_entry_t *e = net_allow_find_name(net_rpc_server_allow(d->srv), peer);
	if (e == NULL || zmq_z85_decode(out, e->key) == NULL) {
		return TANDEM_NET_EAUTH;
	}
	return TANDEM_OK;
}

/*
 * Decodes a node request into a machine input. Refuses unknown types, other
 * versions, overlong names, digests that are not 32 bytes, and node requests
 * that do not come from the node they name.
 */
static int coordd_input_decode(const coordd_t *d, const net_rpc_request_t *req, coord_input_t *in,
			       net_rpc_msg_t *reply)
{
	const char *t = req->type;
	int ret = TANDEM_OK;
	const char *node = NULL, *zone = NULL;
	uint32_t version = 0;
	ProtobufCBinaryData digest = {0, NULL};
	bool has_digest = false;
	Tandem__CoordRegister *rg = NULL;
	Tandem__CoordHeartbeat *hb = NULL;
	Tandem__CoordLease *ls = NULL;
	Tandem__CoordCommit *cm = NULL;
	Tandem__CoordDigestReport *dr = NULL;

	memset(in, 0, sizeof(*in));
	if (strcmp(t, "coord.register") == 0) {
		rg = tandem__coord_register__unpack(NULL, req->body_len, req->body);
		if (rg == NULL) {
			ret = coordd_bad(reply, t, "undecodable body");
			goto out;
		}
		in->kind = COORD_IN_NODE_REGISTER;
		version = rg->version;
		node = rg->node;
		in->site = rg->site;
		in->healthy = rg->healthy;
	} else if (strcmp(t, "coord.heartbeat") == 0) {
		hb = tandem__coord_heartbeat__unpack(NULL, req->body_len, req->body);
		if (hb == NULL) {
			ret = coordd_bad(reply, t, "undecodable body");
			goto out;
		}
		in->kind = COORD_IN_NODE_HEARTBEAT;
		version = hb->version;
		node = hb->node;
		in->healthy = hb->healthy;
	} else if (strcmp(t, "coord.lease.request") == 0 || strcmp(t, "coord.lease.renew") == 0 ||
		   strcmp(t, "coord.lease.release") == 0) {
		ls = tandem__coord_lease__unpack(NULL, req->body_len, req->body);
		if (ls == NULL) {
			ret = coordd_bad(reply, t, "undecodable body");
			goto out;
		}
		in->kind = strcmp(t, "coord.lease.request") == 0 ? COORD_IN_LEASE_REQUEST
			   : strcmp(t, "coord.lease.renew") == 0 ? COORD_IN_LEASE_RENEW
								 : COORD_IN_LEASE_RELEASE;
		version = ls->version;
		node = ls->node;
		zone = ls->zone;
		in->epoch = ls->epoch;
	} else if (strcmp(t, "coord.commit") == 0) {
		cm = tandem__coord_commit__unpack(NULL, req->body_len, req->body);
		if (cm == NULL) {
			ret = coordd_bad(reply, t, "undecodable body");
			goto out;
		}
		in->kind = COORD_IN_COMMIT;
		version = cm->version;
		node = cm->node;
		zone = cm->zone;
		in->epoch = cm->epoch;
		in->serial = cm->serial;
		digest = cm->digest;
		has_digest = true;
	} else if (strcmp(t, "coord.digest.report") == 0) {
		dr = tandem__coord_digest_report__unpack(NULL, req->body_len, req->body);
		if (dr == NULL) {
			ret = coordd_bad(reply, t, "undecodable body");
			goto out;
		}
		in->kind = COORD_IN_DIGEST_REPORT;
		version = dr->version;
		node = dr->node;
		zone = dr->zone;
		in->serial = dr->serial;
		digest = dr->digest;
		has_digest = true;
	} else {
		snprintf(reply->error, sizeof(reply->error), "unknown request type %s", t);
		ret = TANDEM_EINVAL;
		goto out;
	}
	if (version != COORDRPC_VERSION) {
		ret = coordd_bad(reply, t, "unsupported message version");
		goto out;
	}
	if (!coordd_copy_name(in->node, sizeof(in->node), node) ||
	    (zone != NULL && !coordd_copy_name(in->zone, sizeof(in->zone), zone))) {
		ret = coordd_bad(reply, t, "name too long");
		goto out;
	}
	if (has_digest) {
		if (digest.len != COORD_DIGEST_LEN || digest.data == NULL) {
			ret = coordd_bad(reply, t, "digest must be 32 bytes");
			goto out;
		}
		memcpy(in->digest, digest.data, COORD_DIGEST_LEN);
	}
	ret = coordd_check_sender(req, in->node, reply);
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (in->kind == COORD_IN_NODE_REGISTER) {
		ret = coordd_peer_key(d, req->peer, in->curve_pub);
		if (ret != TANDEM_OK) {
			snprintf(reply->error, sizeof(reply->error), "%s: sender key not listed",
				 t);
		}
	}
out:
	tandem__coord_register__free_unpacked(rg, NULL);
	tandem__coord_heartbeat__free_unpacked(hb, NULL);
	tandem__coord_lease__free_unpacked(ls, NULL);
	tandem__coord_commit__free_unpacked(cm, NULL);
	tandem__coord_digest_report__free_unpacked(dr, NULL);
	return ret;
}

/* Packs a protobuf-c message as the reply body. */
static int coordd_reply_pack(net_rpc_msg_t *reply, const char *type, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len > 0 ? len : 1);
	if (buf == NULL) {
		return TANDEM_ENOMEM;
	}
	protobuf_c_message_pack(m, buf);
	int ret = net_rpc_msg_set(reply, type, buf, len);
	free(buf);
	return ret;
}

static int coordd_status(coordd_t *d, uint64_t now, net_rpc_msg_t *reply)
{
	int ret = coord_store_read(d->store, &d->params, d->diag, d->state, NULL);
	if (ret != TANDEM_OK) {
		coordd_log_diag(d->diag, "status: store read failed", ret);
		snprintf(reply->error, sizeof(reply->error), "store: %s", tandem_strerror(ret));
		return ret;
	}
	const coord_state_t *st = d->state;
	Tandem__CoordZoneStatus zs[COORD_ZONES_MAX];
	Tandem__CoordZoneStatus *zp[COORD_ZONES_MAX];
	Tandem__CoordNodeStatus ns[COORD_NODES_MAX];
	Tandem__CoordNodeStatus *np[COORD_NODES_MAX];
	Tandem__CoordStatus msg = TANDEM__COORD_STATUS__INIT;
	msg.version = COORDRPC_VERSION;
	msg.now_ms = now;
	for (uint32_t i = 0; i < st->nzones && i < COORD_ZONES_MAX; i++) {
		const coord_zone_t *z = &st->zones[i];
		const coord_node_t *h = coord_state_holder(st, z->name, now);
		tandem__coord_zone_status__init(&zs[i]);
		zs[i].name = (char *)z->name;
		zs[i].holder = h != NULL ? (char *)h->id : (char *)"";
		zs[i].epoch = z->epoch;
		zs[i].has_committed = z->has_committed;
		zs[i].serial = z->committed_serial;
		zs[i].lease_left_ms = h != NULL && z->expiry_ms > now ? z->expiry_ms - now : 0;
		zs[i].removed = z->removed;
		zp[i] = &zs[i];
	}
	msg.n_zones = st->nzones;
	msg.zones = zp;
	for (uint32_t i = 0; i < st->nnodes && i < COORD_NODES_MAX; i++) {
		const coord_node_t *n = &st->nodes[i];
		tandem__coord_node_status__init(&ns[i]);
		ns[i].name = (char *)n->id;
		ns[i].site = n->site;
		ns[i].state = (uint32_t)n->state;
		ns[i].healthy = n->healthy && now >= n->last_seen_ms &&
				now - n->last_seen_ms < d->params.node_timeout_ms;
		np[i] = &ns[i];
	}
	msg.n_nodes = st->nnodes;
	msg.nodes = np;
	return coordd_reply_pack(reply, "coord.status.reply", &msg.base);
}

static void coordd_log_effects(const coord_result_t *res)
{
	for (size_t i = 0; i < res->neffects; i++) {
		const coord_effect_t *e = &res->effects[i];
		if (e->kind == COORD_EFF_LEASE_FREE) {
			continue; /* a hint repeated at every tick, not an event */
		}
		coordd_log("effect: %s", e->text);
	}
}

/* Decides one input through the store and logs what it did. */
static int coordd_decide(coordd_t *d, const coord_input_t *in, uint64_t now, const char *who)
{
	int ret = coord_store_apply(d->store, in, now, &d->params, d->diag, d->res);
	if (ret != TANDEM_OK) {
		coordd_log_diag(d->diag, coord_input_kind_str(in->kind), ret);
		return ret;
	}
	if (d->res->reason != COORD_R_OK) {
		coordd_log("refused %s from %s: %s: %s", coord_input_kind_str(in->kind), who,
			   coord_reason_str(d->res->reason), d->res->text);
	}
	coordd_log_effects(d->res);
	if (d->res->changed) {
		d->next_tick_ms = now; /* new timers may be due earlier */
	}
	return TANDEM_OK;
}

static int coordd_handle(void *arg, const net_rpc_request_t *req, net_rpc_msg_t *reply)
{
	coordd_t *d = arg;
	uint64_t now = coordd_now_ms(); /* after the node sent it: the grant time g > s */
	coord_input_t in;

	if (strcmp(req->type, "coord.status") == 0) {
		Tandem__CoordStatusRequest *sr =
		    tandem__coord_status_request__unpack(NULL, req->body_len, req->body);
		uint32_t version = sr != NULL ? sr->version : 0;
		tandem__coord_status_request__free_unpacked(sr, NULL);
		if (version != COORDRPC_VERSION) {
			coordd_log("refused status from %s: bad message", req->peer);
			return coordd_bad(reply, req->type,
					  "undecodable body or unsupported version");
		}
		return coordd_status(d, now, reply);
	}
	int ret = coordd_input_decode(d, req, &in, reply);
	if (ret != TANDEM_OK) {
		coordd_log("refused request from %s: %s: %s", req->peer, tandem_strerror(ret),
			   reply->error);
		return ret;
	}
	ret = coordd_decide(d, &in, now, req->peer);
	if (ret != TANDEM_OK) {
		snprintf(reply->error, sizeof(reply->error), "store: %s", tandem_strerror(ret));
		return ret;
	}
	Tandem__CoordDecision dec = TANDEM__COORD_DECISION__INIT;
	dec.version = COORDRPC_VERSION;
	dec.accepted = d->res->reason == COORD_R_OK;
	dec.reason = (uint32_t)d->res->reason;
	dec.text = d->res->text;
	dec.epoch = d->res->epoch;
	dec.expiry_ms = d->res->expiry_ms;
	return coordd_reply_pack(reply, "coord.decision", &dec.base);
}

static void coordd_log_refusals(coordd_t *d)
{
	net_refusal_t r;
	while (net_rpc_server_refusal_next(d->srv, &r) == TANDEM_OK) {
		coordd_log("refused connection from %s key %s name %s: %s: %s%s",
			   r.address[0] ? r.address : "?", r.key[0] ? r.key : "-",
			   r.name[0] ? r.name : "-", tandem_strerror(r.reason), r.detail,
			   r.dropped > 0 ? " (and earlier refusals dropped)" : "");
	}
}

/* Campaigns for the timer leadership; when leading, ticks at the machine's next event. */
static void coordd_timers(coordd_t *d, uint64_t now)
{
	if (now >= d->next_campaign_ms) {
		bool leader = false;
		int ret = coord_store_campaign(d->store, d->opts->name, COORDD_LEADER_TTL_S,
					       d->diag, &leader);
		if (ret != TANDEM_OK) {
			coordd_log_diag(d->diag, "campaign failed", ret);
			leader = false;
		}
		if (leader != d->leader) {
			coordd_log("%s the timer leadership", leader ? "took" : "lost");
			d->next_tick_ms = now;
		}
		d->leader = leader;
		d->next_campaign_ms = now + COORDD_LEADER_TTL_S * 1000u / 3u;
	}
	if (!d->leader || d->next_tick_ms == 0 || now < d->next_tick_ms) {
		return;
	}
	coord_input_t tick;
	memset(&tick, 0, sizeof(tick));
	tick.kind = COORD_IN_TICK;
	/* re-read at least every campaign period: other coordinators change the state too */
	d->next_tick_ms = now + COORDD_LEADER_TTL_S * 1000u / 3u;
	if (coordd_decide(d, &tick, now, "the clock") != TANDEM_OK) {
		return;
	}
	int ret = coord_store_read(d->store, &d->params, d->diag, d->state, NULL);
	if (ret != TANDEM_OK) {
		coordd_log_diag(d->diag, "store read failed", ret);
		return;
	}
	uint64_t next = coord_state_next_event(d->state, &d->params, now);
	if (next != 0 && next < d->next_tick_ms) {
		d->next_tick_ms = next;
	}
}

static int coordd_poll_timeout(const coordd_t *d, uint64_t now)
{
	uint64_t until = d->next_campaign_ms;
	if (d->leader && d->next_tick_ms != 0 && d->next_tick_ms < until) {
		until = d->next_tick_ms;
	}
	uint64_t wait = until > now ? until - now : 0;
	return wait > COORDD_POLL_MAX_MS ? COORDD_POLL_MAX_MS : (int)wait;
}

/* Adds the zones named on the command line; one already there is fine. */
static int coordd_add_zones(coordd_t *d)
{
	for (size_t i = 0; i < d->opts->nzones; i++) {
		coord_input_t in;
		memset(&in, 0, sizeof(in));
		in.kind = COORD_IN_ZONE_ADD;
		if (!coordd_copy_name(in.zone, sizeof(in.zone), d->opts->zones[i])) {
			coordd_log("zone name too long: %s", d->opts->zones[i]);
			return TANDEM_EINVAL;
		}
		int ret = coordd_decide(d, &in, coordd_now_ms(), "the command line");
		if (ret != TANDEM_OK) {
			return ret;
		}
		if (d->res->reason != COORD_R_OK && d->res->reason != COORD_R_EXISTS) {
			return TANDEM_EINVAL;
		}
	}
	return TANDEM_OK;
}

static void coordd_usage(FILE *fp)
{
	fprintf(
	    fp,
	    "usage: tandem-coord --etcd URL[,URL...] --listen tcp://127.0.0.1:PORT --key SECRET\n"
	    "                    --allow ALLOWFILE [--name NAME] [--prefix /P/] [--lease-ms MS]\n"
	    "                    [--margin-ms MS] [--zone NAME]... [--pid-file FILE]\n"
	    "  --listen tcp://HOST:*   picks a free port and prints 'listening ENDPOINT'\n");
}

static bool coordd_parse_u64(const char *s, uint64_t *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
		return false;
	}
	*out = v;
	return true;
}

/* Returns 0 on success, 1 on bad usage, 2 for --help. */
static int coordd_opts_parse(int argc, char **argv, coordd_opts_t *o)
{
	static const struct option longopts[] = {
	    {"etcd", required_argument, NULL, 'e'},     {"listen", required_argument, NULL, 'l'},
	    {"key", required_argument, NULL, 'k'},      {"allow", required_argument, NULL, 'a'},
	    {"name", required_argument, NULL, 'n'},     {"prefix", required_argument, NULL, 'P'},
	    {"lease-ms", required_argument, NULL, 'L'}, {"margin-ms", required_argument, NULL, 'M'},
	    {"pid-file", required_argument, NULL, 'p'}, {"zone", required_argument, NULL, 'z'},
	    {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
	int c;
	memset(o, 0, sizeof(*o));
	o->name = "coord";
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'e': o->etcd = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'k': o->key = optarg; break;
		case 'a': o->allow = optarg; break;
		case 'n': o->name = optarg; break;
		case 'P': o->prefix = optarg; break;
		case 'p': o->pid_file = optarg; break;
		case 'L':
			if (!coordd_parse_u64(optarg, &o->lease_ms)) {
				fprintf(stderr, "tandem-coord: bad --lease-ms '%s'\n", optarg);
				return 1;
			}
			break;
		case 'M':
			if (!coordd_parse_u64(optarg, &o->margin_ms)) {
				fprintf(stderr, "tandem-coord: bad --margin-ms '%s'\n", optarg);
				return 1;
			}
			break;
		case 'z':
			if (o->nzones >= COORDD_ZONES_MAX) {
				fprintf(stderr, "tandem-coord: too many --zone\n");
				return 1;
			}
			o->zones[o->nzones++] = optarg;
			break;
		case 'h': return 2;
		default: return 1;
		}
	}
	if (optind != argc || o->etcd == NULL || o->listen == NULL || o->key == NULL ||
	    o->allow == NULL) {
		return 1;
	}
	return 0;
}

static int coordd_pid_write(const char *path)
{
	tandem_afile_t *f = NULL;
	int ret = tandem_afile_open(path, 0644, &f);
	if (ret != TANDEM_OK) {
		return ret;
	}
	FILE *fp = fopen(tandem_afile_tmp_path(f), "w");
	if (fp == NULL || fprintf(fp, "%ld\n", (long)getpid()) < 0) {
		if (fp != NULL) {
			fclose(fp);
		}
		tandem_afile_abort(f);
		return TANDEM_EIO;
	}
	if (fclose(fp) != 0) {
		tandem_afile_abort(f);
		return TANDEM_EIO;
	}
	return tandem_afile_commit(f);
}

/* Splits "URL,URL" into dst (pointers into buf). */
static size_t coordd_split(char *buf, const char **dst, size_t max)
{
	size_t n = 0;
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (n == max) {
			return max + 1;
		}
		dst[n++] = tok;
	}
	return n;
}

int main(int argc, char **argv)
{
	coordd_opts_t opts;
	coordd_t d;
	int rc = 1, ret;
	char *etcd_buf = NULL;
	coord_etcd_t *etcd = NULL;
	net_key_t *key = NULL;
	net_allow_t *allow = NULL;
	void *ctx = NULL;
	bool curl_init = false, pid_written = false;
	sigset_t sigs;

	memset(&d, 0, sizeof(d));
	if (tandem_proc_harden() != TANDEM_OK) {
		fprintf(stderr, "tandem-coord: cannot disable core dumps\n");
		return 1;
	}
	ret = coordd_opts_parse(argc, argv, &opts);
	if (ret == 2) {
		coordd_usage(stdout);
		return 0;
	}
	if (ret != 0) {
		coordd_usage(stderr);
		return 1;
	}
	d.opts = &opts;
	/* Signals are taken synchronously (sigtimedwait) in the loop: no handler, no global.
	 * Blocked before any thread starts, so libzmq's and the ZAP thread inherit the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) != 0) {
		coordd_log("cannot block signals");
		goto out;
	}
	coord_params_default(&d.params);
	if (opts.lease_ms != 0) {
		d.params.lease_ms = opts.lease_ms;
	}
	if (opts.margin_ms != 0) {
		d.params.margin_ms = opts.margin_ms;
	}
	if (coord_params_check(&d.params) != TANDEM_OK) {
		coordd_log("bad lease/margin: the margin must be above 0 and below lease/3");
		goto out;
	}
	d.res = calloc(1, sizeof(*d.res));
	d.state = calloc(1, sizeof(*d.state));
	etcd_buf = strdup(opts.etcd);
	if (d.res == NULL || d.state == NULL || etcd_buf == NULL ||
	    tandem_diag_new(&d.diag) != TANDEM_OK) {
		coordd_log("out of memory");
		goto out;
	}
	ret = net_key_load(opts.key, &key);
	if (ret != TANDEM_OK) {
		coordd_log("key %s: %s", opts.key, tandem_strerror(ret));
		goto out;
	}
	ret = net_allow_load(opts.allow, d.diag, &allow);
	if (ret != TANDEM_OK) {
		coordd_log_diag(d.diag, opts.allow, ret);
		goto out;
	}
	const char *eps[COORD_ETCD_MAX_ENDPOINTS];
	size_t neps = coordd_split(etcd_buf, eps, COORD_ETCD_MAX_ENDPOINTS);
	if (neps == 0 || neps > COORD_ETCD_MAX_ENDPOINTS) {
		coordd_log("--etcd: 1 to %u endpoints", COORD_ETCD_MAX_ENDPOINTS);
		goto out;
	}
	ret = coord_etcd_global_init();
	if (ret != TANDEM_OK) {
		coordd_log("etcd client: %s", tandem_strerror(ret));
		goto out;
	}
	curl_init = true;
	ret = coord_etcd_new(eps, neps, NULL, d.diag, &etcd);
	if (ret == TANDEM_OK) {
		ret = coord_store_new(etcd, opts.prefix, d.diag, &d.store);
	}
	if (ret == TANDEM_OK) {
		ret = coord_store_init(d.store, &d.params, d.diag);
	}
	if (ret != TANDEM_OK) {
		coordd_log_diag(d.diag, "store", ret);
		goto out;
	}
	if (coordd_add_zones(&d) != TANDEM_OK) {
		goto out;
	}
	ctx = zmq_ctx_new();
	if (ctx == NULL) {
		coordd_log("cannot create a ZeroMQ context");
		goto out;
	}
	net_rpc_server_cfg_t cfg = {
	    .endpoint = opts.listen, .handler = coordd_handle, .handler_arg = &d};
	ret = net_rpc_server_new(ctx, key, allow, &cfg, &d.srv);
	if (ret != TANDEM_OK) {
		coordd_log("listen %s: %s", opts.listen, tandem_strerror(ret));
		goto out;
	}
	net_key_free(key); /* the socket keeps its own copy */
	key = NULL;
	if (opts.pid_file != NULL) {
		ret = coordd_pid_write(opts.pid_file);
		if (ret != TANDEM_OK) {
			coordd_log("pid file %s: %s", opts.pid_file, tandem_strerror(ret));
			goto out;
		}
		pid_written = true;
	}
	printf("listening %s\n", net_rpc_server_endpoint(d.srv));
	fflush(stdout);
	coordd_log("%s serving %s, %zu peers allowed, lease %" PRIu64 " ms, margin %" PRIu64 " ms",
		   opts.name, net_rpc_server_endpoint(d.srv), net_allow_count(allow),
		   d.params.lease_ms, d.params.margin_ms);

	for (;;) {
		uint64_t now = coordd_now_ms();
		coordd_timers(&d, now);
		ret = net_rpc_server_poll(d.srv, coordd_poll_timeout(&d, coordd_now_ms()));
		coordd_log_refusals(&d);
		if (ret < 0) {
			coordd_log("poll: %s", tandem_strerror(ret));
			goto out;
		}
		struct timespec zero = {0, 0};
		int sig = sigtimedwait(&sigs, NULL, &zero);
		if (sig == SIGTERM || sig == SIGINT) {
			coordd_log("signal %d: stopping", sig);
			break;
		}
	}
	ret = coord_store_resign(d.store, d.diag);
	if (ret != TANDEM_OK) {
		coordd_log_diag(d.diag, "resign failed", ret);
	}
	rc = 0;
out:
	if (pid_written) {
		unlink(opts.pid_file);
	}
	net_rpc_server_free(d.srv);
	if (ctx != NULL) {
		zmq_ctx_term(ctx);
	}
	coord_store_free(d.store);
	coord_etcd_free(etcd);
	if (curl_init) {
		coord_etcd_global_cleanup();
	}
	net_allow_free(allow);
	net_key_free(key);
	tandem_diag_free(d.diag);
	free(d.state);
	free(d.res);
	free(etcd_buf);
	return rc;
}
