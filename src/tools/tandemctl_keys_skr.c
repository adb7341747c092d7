/* tandemctl keys ksk-import, ksr, skr-import: the online side of the offline KSK (docs/keys.md,
 * "Offline KSK"), on a local state directory or through the cluster's key set and SKR book. */
#include "tandemctl.h"
#include "tandem_clock.h"

#include "crypto.h"
#include "dns_zone.h"
#include "hsm.h"
#include "kasp_keystate.h"
#include "kasp_skr.h"
#include "kasp_store.h"
#include "tandem_arena.h"
#include "tandem_error.h"
#include "tandem_file.h"
#include "tandemctl_keys_util.h"
#include "tandemctl_offline_audit.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/rand.h>

static const char *const commands[] = {"ksk-import", "ksr", "skr-import"};

int tandemctl_keys_skr_has(const char *cmd)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(cmd, commands[i]) == 0) {
			return 1;
		}
	}
	return 0;
}

/* How often `ksr --cluster` reads the SKR book while it waits for the lease holder. */
#define KSR_POLL_MS 500

typedef struct opts {
	const char *cmd, *prog, *state, *policy, *module, *token, *out, *file;
	bool cluster;
	const char *coord, *coord_pub, *coord_key;
	keys_cluster_t *cl; /* with --cluster, once connected */
	char zone[KASP_ZONE_MAX];
	bool has_zone, has_start, has_wait;
	uint64_t now, start, period, overlap, offset, slots, wait;
} opts_t;

static void usage(FILE *fp, const char *cmd)
{
	if (strcmp(cmd, "ksk-import") == 0) {
		fprintf(
		    fp,
		    "usage: tandemctl keys ksk-import --state DIR --zone Z [-p POLICY --token "
		    "URI]\n"
		    "       [--now UNIXTIME] DNSKEYFILE\n"
		    "       tandemctl keys ksk-import --cluster --zone Z [-p POLICY] [--now "
		    "UNIXTIME] DNSKEYFILE\n"
		    "Records the offline KSKs (DNSKEY records with flags 257, e.g. from "
		    "tandem-ceremony\n"
		    "skr-sign --dnskey-out) in the zone's key state; a new zone needs -p and the\n"
		    "online token (its ZSKs') URI. No private key is involved.\n"
		    "--cluster: into the zone's key set in the cluster, before 'tandemctl zone "
		    "add' (a key\n"
		    "set holding online KSKs is refused); a new key set needs -p. The lease "
		    "holder runs the\n"
		    "key-state machine and makes the ZSKs.\n");
	} else if (strcmp(cmd, "ksr") == 0) {
		fprintf(fp,
			"usage: tandemctl keys ksr --state DIR --zone Z --out FILE [--start "
			"UNIXTIME]\n"
			"       [--period DURATION] [--slots N] [--overlap DURATION]\n"
			"       [--inception-offset DURATION] [--module PATH|P11KIT-NAME] "
			"[--now UNIXTIME]\n"
			"       tandemctl keys ksr --cluster --zone Z --out FILE [--start "
			"UNIXTIME]\n"
			"       [--period DURATION] [--slots N] [--overlap DURATION]\n"
			"       [--inception-offset DURATION] [--wait SECONDS] [--now UNIXTIME]\n"
			"Plans the period (default 90d from --start, default now) in N slots "
			"(default 9),\n"
			"generates the ZSKs the plan needs in the online HSM, and writes the key "
			"signing\n"
			"request for the offline KSK ceremony (also recorded in DIR/skr/).\n"
			"--cluster: asks the zone's lease holder (an ask in the zone's SKR book) "
			"to plan and\n"
			"make the ZSKs in its HSM, waits up to --wait seconds (default 120) for "
			"the request it\n"
			"records there and writes it to FILE. A timeout (exit 5) leaves the ask "
			"in the book.\n");
	} else {
		fprintf(fp, "usage: tandemctl keys skr-import --state DIR [--now UNIXTIME] SKR\n"
			    "       tandemctl keys skr-import --cluster [--now UNIXTIME] SKR\n"
			    "Checks a signed key response against the request recorded by 'keys "
			    "ksr' and\n"
			    "stores it in DIR/skr/ for tandem-signzone --skr; with --cluster, in "
			    "the zone's SKR\n"
			    "book, where the lease holder signs with it.\n");
	}
	fprintf(fp, "--cluster connects with --coord EP[,EP..] --coord-pub FILE[,FILE..] "
		    "--coord-key SECRET\n"
		    "(or TANDEM_COORD, TANDEM_COORD_PUB, TANDEM_KEY). Exit: 0 done, 1 usage, 2 "
		    "bad input,\n"
		    "3 HSM, 4 refused (a key set or SKR book changed meanwhile: run again), 5 "
		    "I/O or the\n"
		    "coordinators (unreachable, failing, or no answer within --wait).\n");
}

static int parse(const char *cmd, int argc, char **argv, opts_t *o)
{
	enum {
		O_STATE = 256,
		O_ZONE,
		O_NOW,
		O_MODULE,
		O_TOKEN,
		O_OUT,
		O_START,
		O_PERIOD,
		O_SLOTS,
		O_OVERLAP,
		O_OFFSET,
		O_CLUSTER,
		O_COORD,
		O_COORD_PUB,
		O_COORD_KEY,
		O_WAIT
	};
	static const struct option longopts[] = {
	    {"state", required_argument, NULL, O_STATE},
	    {"cluster", no_argument, NULL, O_CLUSTER},
	    {"coord", required_argument, NULL, O_COORD},
	    {"coord-pub", required_argument, NULL, O_COORD_PUB},
	    {"coord-key", required_argument, NULL, O_COORD_KEY},
	    {"wait", required_argument, NULL, O_WAIT},
	    {"zone", required_argument, NULL, O_ZONE},
	    {"now", required_argument, NULL, O_NOW},
	    {"module", required_argument, NULL, O_MODULE},
	    {"token", required_argument, NULL, O_TOKEN},
	    {"out", required_argument, NULL, O_OUT},
	    {"start", required_argument, NULL, O_START},
	    {"period", required_argument, NULL, O_PERIOD},
	    {"slots", required_argument, NULL, O_SLOTS},
	    {"overlap", required_argument, NULL, O_OVERLAP},
	    {"inception-offset", required_argument, NULL, O_OFFSET},
	    {"policy", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	memset(o, 0, sizeof(*o));
	o->cmd = cmd;
	o->prog = argv[0];
	o->now = (uint64_t)time(NULL);
	o->period = 90 * 86400;
	o->slots = 9;
	o->overlap = 5 * 86400;
	o->offset = 3600;
	o->wait = 120;
	unsigned long long v = 0;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:h", longopts, NULL)) != -1) {
		switch (c) {
		case O_STATE: o->state = optarg; break;
		case O_CLUSTER: o->cluster = true; break;
		case O_COORD: o->coord = optarg; break;
		case O_COORD_PUB: o->coord_pub = optarg; break;
		case O_COORD_KEY: o->coord_key = optarg; break;
		case 'p': o->policy = optarg; break;
		case O_MODULE: o->module = optarg; break;
		case O_TOKEN: o->token = optarg; break;
		case O_OUT: o->out = optarg; break;
		case O_ZONE:
			if (!keys_zone_norm(optarg, o->zone)) {
				fprintf(stderr, "%s: bad zone name '%s'\n", o->prog, optarg);
				return KEYS_EXIT_USAGE;
			}
			o->has_zone = true;
			break;
		case O_NOW:
		case O_START:
			if (!keys_uint_parse(optarg, UINT32_MAX, &v) || v == 0) {
				fprintf(stderr, "%s: --%s takes a UNIX time\n", o->prog,
					c == O_NOW ? "now" : "start");
				return KEYS_EXIT_USAGE;
			}
			if (c == O_NOW) {
				o->now = v;
			} else {
				o->start = v;
				o->has_start = true;
			}
			break;
		case O_SLOTS:
			if (!keys_uint_parse(optarg, KASP_SKR_SLOTS_MAX, &v) || v == 0) {
				fprintf(stderr, "%s: --slots takes 1..%d\n", o->prog,
					KASP_SKR_SLOTS_MAX);
				return KEYS_EXIT_USAGE;
			}
			o->slots = v;
			break;
		case O_WAIT:
			if (!keys_uint_parse(optarg, 86400, &v) || v == 0) {
				fprintf(stderr, "%s: --wait takes 1..86400 seconds\n", o->prog);
				return KEYS_EXIT_USAGE;
			}
			o->wait = v;
			o->has_wait = true;
			break;
		case O_PERIOD:
		case O_OVERLAP:
		case O_OFFSET: {
			uint64_t d = 0;
			if (!keys_duration_parse(optarg, 400 * 86400ull, &d)) {
				fprintf(stderr, "%s: a duration is N[dhms] (at most 400d)\n",
					o->prog);
				return KEYS_EXIT_USAGE;
			}
			*(c == O_PERIOD    ? &o->period
			  : c == O_OVERLAP ? &o->overlap
					   : &o->offset) = d;
			break;
		}
		case 'h': usage(stdout, cmd); return -1;
		default: usage(stderr, cmd); return KEYS_EXIT_USAGE;
		}
	}
	if (o->cluster && o->state != NULL) {
		fprintf(stderr, "%s: --state DIR or --cluster, not both\n", o->prog);
		return KEYS_EXIT_USAGE;
	}
	if (!o->cluster && (o->coord != NULL || o->coord_pub != NULL || o->coord_key != NULL)) {
		fprintf(stderr, "%s: --coord, --coord-pub and --coord-key go with --cluster\n",
			o->prog);
		return KEYS_EXIT_USAGE;
	}
	if (o->cluster && (o->module != NULL || o->token != NULL)) {
		fprintf(stderr,
			"%s: --module and --token go with --state DIR (in a cluster the zone's "
			"lease holder makes the keys in its HSM)\n",
			o->prog);
		return KEYS_EXIT_USAGE;
	}
	if (o->has_wait && (!o->cluster || strcmp(cmd, "ksr") != 0)) {
		fprintf(stderr, "%s: --wait goes with 'keys ksr --cluster'\n", o->prog);
		return KEYS_EXIT_USAGE;
	}
	bool ok = o->state != NULL || o->cluster;
	if (strcmp(cmd, "ksr") == 0) {
		ok = ok && o->has_zone && o->out != NULL && optind == argc;
	} else if (strcmp(cmd, "ksk-import") == 0) {
		ok = ok && o->has_zone && optind + 1 == argc;
	} else {
		ok = ok && optind + 1 == argc;
	}
	if (!ok) {
		usage(stderr, cmd);
		return KEYS_EXIT_USAGE;
	}
	o->file = optind < argc ? argv[optind] : NULL;
	return KEYS_EXIT_OK;
}

/* ---- state ---- */

typedef keys_state_t state_t;

static void state_free(state_t *s)
{
	keys_state_free(s);
}

static int state_load(const opts_t *o, const char *zone, bool may_create, state_t *s)
{
	return keys_state_load(o->prog, o->state, zone, may_create, o->policy, o->token,
			       " (the online token, for the ZSKs)", s);
}

static int state_save(const opts_t *o, state_t *s)
{
	return keys_state_save(o->prog, o->state, s);
}

/* DIR/skr/ZONE-IDHEX.EXT (the zone without its final dot; "root" for the root). */
static int skr_path(const char *dir, const char *zone, const uint8_t *id, const char *ext,
		    char *buf, size_t size)
{
	char z[KASP_ZONE_MAX], hex[2 * KASP_SKR_ID_LEN + 1];
	snprintf(z, sizeof(z), "%s", strcmp(zone, ".") == 0 ? "root" : zone);
	size_t zl = strlen(z);
	if (zl > 1 && z[zl - 1] == '.') {
		z[zl - 1] = '\0';
	}
	keys_hex(id, KASP_SKR_ID_LEN, hex);
	return (size_t)snprintf(buf, size, "%s/skr/%s-%s.%s", dir, z, hex, ext) < size
		   ? TANDEM_OK
		   : TANDEM_EINVAL;
}

static int write_file(const char *path, const uint8_t *data, size_t len, int mode)
{
	tandem_afile_t *f = NULL;
	int ret = tandem_afile_open(path, mode, &f);
	if (ret != TANDEM_OK) {
		return ret;
	}
	if (fwrite(data, 1, len, tandem_afile_stream(f)) != len) {
		tandem_afile_abort(f);
		return TANDEM_EIO;
	}
	return tandem_afile_commit(f);
}

/* ---- ksk-import ---- */

/* Adds the file's DNSKEYs to set as offline KSKs (a key already there is said so and
 * skipped); *added counts them. Any key refused: KEYS_EXIT_INPUT, and set must not be
 * saved. */
static int ksk_add(const opts_t *o, kasp_keyset_t *set, const kasp_policy_t *policy,
		   tandem_diag_t *diag, size_t *added)
{
	tandem_arena_t *arena = NULL;
	const uint8_t **keys = NULL;
	size_t n = 0, count = 0;
	int code = KEYS_EXIT_INPUT;
	if (tandem_arena_new(0, &arena) != TANDEM_OK) {
		goto out;
	}
	if (dns_rdata_load_file(o->file, o->zone, DNS_TYPE_DNSKEY, arena, diag, &keys, &n) !=
		TANDEM_OK ||
	    n == 0) {
		keys_diag_print(diag);
		fprintf(stderr, "%s: %s: no DNSKEY records for %s; nothing changed\n", o->prog,
			o->file, o->zone);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *rd = dns_rdata_data(keys[i]);
		size_t len = dns_rdata_len(keys[i]);
		uint16_t tag = crypto_key_tag(rd, len);
		if (len < 5 || len > KASP_DNSKEY_MAX || rd[2] != 3 || (rd[1] & 1) == 0) {
			fprintf(stderr,
				"%s: DNSKEY %u is not a KSK (flags 257, protocol 3); nothing "
				"changed\n",
				o->prog, tag);
			goto out;
		}
		if (rd[3] != policy->ksk.algorithm) {
			fprintf(stderr,
				"%s: DNSKEY %u has algorithm %u, the policy's KSKs %u; nothing "
				"changed\n",
				o->prog, tag, rd[3], policy->ksk.algorithm);
			goto out;
		}
		bool known = false;
		for (size_t k = 0; k < set->count; k++) {
			known |= set->keys[k].dnskey_len == len &&
				 memcmp(set->keys[k].dnskey, rd, len) == 0;
		}
		if (known) {
			printf("KSK %u is already in the key state\n", tag);
			continue;
		}
		char label[KASP_LABEL_MAX];
		snprintf(label, sizeof(label), "%sksk-%u", KASP_SKR_LABEL_PFX, tag);
		uint32_t id = 0;
		/* the offline HSM holds it, and nothing online ever signs with it */
		if (kasp_keyset_add(set, KASP_ROLE_KSK, rd[3], (uint16_t)policy->ksk.bits, label,
				    rd, len, true, o->now, &id) != TANDEM_OK) {
			fprintf(stderr, "%s: no room for another key; nothing changed\n", o->prog);
			goto out;
		}
		printf("imported offline KSK %u as key %" PRIu32 " (%s)\n", tag, id, label);
		count++;
	}
	*added = count;
	code = KEYS_EXIT_OK;
out:
	free(keys);
	tandem_arena_free(arena);
	return code;
}

static int ksk_import_state(const opts_t *o)
{
	state_t s;
	size_t added = 0;
	int code = state_load(o, o->zone, true, &s);
	if (code == KEYS_EXIT_OK) {
		code = ksk_add(o, s.set, &s.policy, s.diag, &added);
	}
	if (code != KEYS_EXIT_OK) {
		goto out;
	}
	kasp_step_t st;
	if (kasp_keystate_step(s.set, &s.policy, o->now, s.set, &st) != TANDEM_OK) {
		code = KEYS_EXIT_INPUT;
		goto out;
	}
	code = added > 0 || s.set->count > 0 ? state_save(o, &s) : KEYS_EXIT_OK;
	if (code == KEYS_EXIT_OK) {
		printf("zone %s: %zu offline KSK(s) imported; next: 'tandemctl keys generate' (the "
		       "ZSKs) and 'tandemctl keys ksr'\n",
		       s.set->zone, added);
	}
out:
	state_free(&s);
	return code;
}

/* --cluster: the key set is read and written as it is; the lease holder runs the machine. */
static int ksk_import_cluster(const opts_t *o)
{
	state_t s;
	size_t added = 0;
	int code = keys_cluster_load(o->prog, o->cl, o->zone, true, o->policy, &s);
	if (code != KEYS_EXIT_OK) {
		goto out;
	}
	for (size_t i = 0; i < s.set->count; i++) {
		const kasp_key_t *k = &s.set->keys[i];
		if (k->role == KASP_ROLE_KSK && !kasp_key_offline(k)) {
			fprintf(stderr,
				"%s: zone %s has KSK %" PRIu32
				" (tag %u) made online: an offline KSK zone's KSKs are imported "
				"before 'tandemctl zone add'; nothing changed\n",
				o->prog, o->zone, k->id, k->tag);
			code = KEYS_EXIT_REFUSED;
			goto out;
		}
	}
	code = keys_cluster_policy(o->prog, o->cl, o->policy, &s);
	if (code == KEYS_EXIT_OK) {
		code = ksk_add(o, s.set, &s.policy, s.diag, &added);
	}
	if (code == KEYS_EXIT_OK && added > 0) {
		code = keys_cluster_save(o->prog, o->cl, &s);
	}
	if (code == KEYS_EXIT_OK) {
		printf("zone %s: %zu offline KSK(s) imported; next: 'tandemctl zone add %s' if it "
		       "is not in the cluster yet (its lease holder makes the ZSKs), then "
		       "'tandemctl keys ksr --cluster'\n",
		       s.set->zone, added, s.set->zone);
	}
out:
	state_free(&s);
	return code;
}

/* ---- ksr ---- */

typedef struct gen_ctx {
	const opts_t *o;
	state_t *s;
	hsm_module_t *mod;
	hsm_token_t *tok;
	size_t made, adopted;
} gen_ctx_t;

static int plan_generate(void *arg, const kasp_action_t *action, uint32_t id, char *label,
			 uint8_t *dnskey, size_t *dnskey_len)
{
	gen_ctx_t *g = arg;
	if (g->tok == NULL) {
		const char *uri = g->s->set->token_uri;
		int ret = uri[0] == '\0'
			      ? TANDEM_HSM_ETOKEN
			      : keys_hsm_open(g->o->module, uri, 1, g->s->diag, &g->mod, &g->tok);
		if (ret != TANDEM_OK) {
			tandem_diag_add(g->s->diag, ret, "cannot open the online token %s",
					uri[0] ? uri : "(none recorded)");
			return ret;
		}
	}
	keys_label(g->s->set->zone, action->role, id, label);
	const hsm_key_t *key = NULL;
	bool adopted = false;
	int ret = keys_hsm_adopt_or_generate(g->tok, action, label, g->s->diag, &key, dnskey,
					     dnskey_len, &adopted);
	if (ret == TANDEM_OK) {
		*(adopted ? &g->adopted : &g->made) += 1;
	}
	return ret;
}

static void print_slots(const kasp_skr_t *r)
{
	char t1[32], t2[32];
	for (size_t i = 0; i < r->nslots; i++) {
		const kasp_skr_slot_t *sl = &r->slots[i];
		printf("slot %2zu  %s .. %s  keys", i + 1, keys_time_str(sl->start, t1),
		       keys_time_str(sl->end, t2));
		for (size_t k = 0; k < sl->nkeys; k++) {
			bool signer = false;
			for (size_t j = 0; j < sl->nsigners; j++) {
				signer |= sl->signers[j] == k;
			}
			printf(" %u%s", crypto_key_tag(sl->keys[k].data, sl->keys[k].len),
			       signer ? "*" : "");
		}
		printf("\n");
	}
}

/* The request's summary and its slots. */
static void print_request(const kasp_skr_t *req)
{
	char hex[2 * KASP_SKR_ID_LEN + 1], t1[32], t2[32];
	printf("key signing request %s for %s: %s .. %s, %zu slots\n",
	       keys_hex(req->request_id, KASP_SKR_ID_LEN, hex), req->zone,
	       keys_time_str(req->slots[0].start, t1),
	       keys_time_str(req->slots[req->nslots - 1].end, t2), req->nslots);
	print_slots(req);
}

/* What a request needs of the zone and the options: an offline KSK, whole slots. */
static int ksr_check(const opts_t *o, const kasp_keyset_t *set)
{
	if (!kasp_keyset_offline(set)) {
		fprintf(stderr,
			"%s: zone %s has no offline KSK: import its DNSKEY with 'tandemctl keys "
			"ksk-import' first\n",
			o->prog, o->zone);
		return KEYS_EXIT_REFUSED;
	}
	if (o->period % o->slots != 0 || o->period / o->slots < 3600) {
		fprintf(stderr, "%s: --period must split into --slots slots of at least 1h\n",
			o->prog);
		return KEYS_EXIT_USAGE;
	}
	return KEYS_EXIT_OK;
}

static kasp_skr_plan_conf_t ksr_plan_conf(const opts_t *o)
{
	return (kasp_skr_plan_conf_t){.start = o->has_start ? o->start : o->now,
				      .slot_length = (uint32_t)(o->period / o->slots),
				      .slots = (unsigned)o->slots,
				      .inception_offset = (uint32_t)o->offset,
				      .overlap = (uint32_t)o->overlap};
}

static int ksr_state(const opts_t *o)
{
	state_t s;
	gen_ctx_t g = {.o = o, .s = &s};
	kasp_skr_t *req = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	int code = state_load(o, o->zone, false, &s);
	if (code == KEYS_EXIT_OK) {
		code = ksr_check(o, s.set);
	}
	if (code != KEYS_EXIT_OK) {
		goto out;
	}
	code = KEYS_EXIT_IO;
	req = calloc(1, sizeof(*req));
	if (req == NULL) {
		goto out;
	}
	kasp_skr_plan_conf_t pc = ksr_plan_conf(o);
	int ret = kasp_skr_plan(s.set, &s.policy, &pc, plan_generate, &g, s.diag, req);
	if (ret != TANDEM_OK) {
		keys_diag_print(s.diag);
		fprintf(stderr, "%s: no request made: %s\n", o->prog, tandem_strerror(ret));
		code = ret == TANDEM_EPERM ? KEYS_EXIT_REFUSED
		       : ret <= TANDEM_HSM_EMODULE && ret > TANDEM_HSM_EMODULE - 100
			   ? KEYS_EXIT_HSM
			   : KEYS_EXIT_INPUT;
		goto out;
	}
	if (RAND_bytes(req->request_id, KASP_SKR_ID_LEN) != 1) {
		fprintf(stderr, "%s: no randomness for the request id\n", o->prog);
		goto out;
	}
	req->created = o->now;
	if (kasp_skr_encode(req, &buf, &len) != TANDEM_OK) {
		goto out;
	}
	char rec[4096], dir[4096];
	snprintf(dir, sizeof(dir), "%s/skr", o->state);
	if ((mkdir(o->state, 0700) != 0 && errno != EEXIST) ||
	    (mkdir(dir, 0700) != 0 && errno != EEXIST) ||
	    skr_path(o->state, req->zone, req->request_id, "ksr", rec, sizeof(rec)) != TANDEM_OK ||
	    write_file(rec, buf, len, 0644) != TANDEM_OK) {
		fprintf(stderr, "%s: cannot record the request in %s\n", o->prog, dir);
		goto out;
	}
	if (write_file(o->out, buf, len, 0644) != TANDEM_OK) {
		fprintf(stderr, "%s: cannot write %s\n", o->prog, o->out);
		goto out;
	}
	print_request(req);
	printf("(* = signed by that KSK); ZSKs generated for the plan: %zu new, %zu already in "
	       "the HSM\n",
	       g.made, g.adopted);
	printf("written to %s and recorded as %s\n", o->out, rec);
	code = KEYS_EXIT_OK;
out:
	free(buf);
	kasp_skr_free(req);
	hsm_token_close(g.tok);
	hsm_module_free(g.mod);
	state_free(&s);
	return code;
}

/*
 * --cluster: reads the SKR book every KSR_POLL_MS until the lease holder recorded the
 * request for the ask `id` (*index: its pair in book), refused to plan it, or another ask
 * replaced it; or --wait ran out (the ask stays). Returns a KEYS_EXIT_* code.
 */
static int ksr_wait(const opts_t *o, const uint8_t id[KASP_SKR_ID_LEN], tandem_diag_t *diag,
		    kasp_skrbook_t *book, size_t *index)
{
	uint64_t deadline = tandem_mono_ms() + o->wait * 1000u;
	char hex[2 * KASP_SKR_ID_LEN + 1];
	for (;;) {
		int64_t rev = 0;
		kasp_skrbook_deinit(book);
		int code =
		    keys_skrbook_read(o->prog, o->cl->coord, o->zone, diag, book, &rev, NULL);
		if (code != KEYS_EXIT_OK) {
			return code;
		}
		int i = kasp_skrbook_find(book, id);
		if (i >= 0) {
			*index = (size_t)i;
			return KEYS_EXIT_OK;
		}
		if (!book->has_ask || memcmp(book->ask.id, id, KASP_SKR_ID_LEN) != 0) {
			fprintf(stderr,
				"%s: zone %s: another 'tandemctl keys ksr' replaced this one's ask "
				"(%s); no request written\n",
				o->prog, o->zone,
				book->has_ask ? keys_hex(book->ask.id, KASP_SKR_ID_LEN, hex)
					      : "none left");
			return KEYS_EXIT_REFUSED;
		}
		if (book->ask.refused[0] != '\0') {
			fprintf(stderr, "%s: the lease holder cannot plan: %s\n", o->prog,
				book->ask.refused);
			return KEYS_EXIT_REFUSED;
		}
		if (tandem_mono_ms() >= deadline) {
			break;
		}
		struct timespec ts = {0, KSR_POLL_MS * 1000000L};
		nanosleep(&ts, NULL);
	}
	fprintf(stderr,
		"%s: zone %s: the lease holder recorded no request within %" PRIu64
		" s: is a node holding the zone's lease (see 'tandemctl status')? The ask %s "
		"stays in the SKR book ('tandemctl keys list --cluster' shows it)\n",
		o->prog, o->zone, o->wait, keys_hex(id, KASP_SKR_ID_LEN, hex));
	return KEYS_EXIT_COORD;
}

/* --cluster: the ask goes into the SKR book; the lease holder plans, makes the ZSKs in its
 * HSM and records the request there. */
static int ksr_cluster(const opts_t *o)
{
	state_t s;
	kasp_skrbook_t book;
	kasp_skr_t *req = NULL;
	int64_t rev = 0;
	size_t i = 0;
	uint8_t id[KASP_SKR_ID_LEN];
	char hex[2 * KASP_SKR_ID_LEN + 1];
	memset(&book, 0, sizeof(book));
	int code = keys_cluster_load(o->prog, o->cl, o->zone, false, NULL, &s);
	if (code == KEYS_EXIT_OK) {
		code = ksr_check(o, s.set);
	}
	if (code == KEYS_EXIT_OK) {
		code = keys_skrbook_read(o->prog, o->cl->coord, o->zone, s.diag, &book, &rev, NULL);
	}
	if (code != KEYS_EXIT_OK) {
		goto out;
	}
	if (RAND_bytes(id, KASP_SKR_ID_LEN) != 1) {
		fprintf(stderr, "%s: no randomness for the ask id\n", o->prog);
		code = KEYS_EXIT_IO;
		goto out;
	}
	book.has_ask = true;
	book.ask = (kasp_skr_ask_t){.plan = ksr_plan_conf(o), .asked_at = o->now};
	memcpy(book.ask.id, id, sizeof(id));
	code = keys_skrbook_write(o->prog, o->cl->coord, &book, rev, &rev);
	if (code != KEYS_EXIT_OK) {
		goto out;
	}
	printf("asked the lease holder of %s for a request (ask %s, SKR book revision %" PRId64
	       "); waiting up to %" PRIu64 " s\n",
	       o->zone, keys_hex(id, KASP_SKR_ID_LEN, hex), rev, o->wait);
	fflush(stdout);
	code = ksr_wait(o, id, s.diag, &book, &i);
	if (code != KEYS_EXIT_OK) {
		goto out;
	}
	const kasp_skr_pair_t *p = &book.pairs[i];
	if (kasp_skr_decode(p->request, p->request_len, false, s.diag, &req) != TANDEM_OK) {
		keys_diag_print(s.diag);
		code = KEYS_EXIT_INPUT;
		goto out;
	}
	if (write_file(o->out, p->request, p->request_len, 0644) != TANDEM_OK) {
		fprintf(stderr, "%s: cannot write %s\n", o->prog, o->out);
		code = KEYS_EXIT_IO;
		goto out;
	}
	print_request(req);
	printf("(* = signed by that KSK); the lease holder made the plan's ZSKs in its HSM\n");
	printf("written to %s (the request is in the cluster's SKR book of %s)\n", o->out, o->zone);
out:
	kasp_skr_free(req);
	kasp_skrbook_deinit(&book);
	state_free(&s);
	return code;
}

/* ---- skr-import ---- */

/* Reads and decodes the response in o->file (*buf: its exact bytes). A refusal is printed. */
static int skr_read(const opts_t *o, tandem_diag_t *diag, char **buf, size_t *len,
		    kasp_skr_t **resp)
{
	int ret = tandem_file_read(o->file, KASP_SKR_FILE_MAX, buf, len);
	if (ret != TANDEM_OK) {
		fprintf(stderr, "%s: %s: %s\n", o->prog, o->file, tandem_strerror(ret));
		return KEYS_EXIT_INPUT;
	}
	if (kasp_skr_decode((const uint8_t *)*buf, *len, true, diag, resp) != TANDEM_OK) {
		keys_diag_print(diag);
		fprintf(stderr, "%s: %s refused; nothing changed\n", o->prog, o->file);
		return KEYS_EXIT_INPUT;
	}
	return KEYS_EXIT_OK;
}

/* The request's signers must still be KSKs of the zone (their DS is what the parent holds):
 * one message in diag per signer that is not (TANDEM_EPERM). Warns when the parent does not
 * serve the first signer's DS yet. */
static int skr_signers_check(const kasp_skr_t *req, const kasp_keyset_t *set, tandem_diag_t *diag)
{
	int ret = TANDEM_OK;
	for (size_t i = 0; i < req->nslots; i++) {
		const kasp_skr_slot_t *sl = &req->slots[i];
		for (size_t j = 0; j < sl->nsigners; j++) {
			const kasp_skr_rdata_t *k = &sl->keys[sl->signers[j]];
			const kasp_key_t *found = NULL;
			for (size_t n = 0; n < set->count; n++) {
				const kasp_key_t *c = &set->keys[n];
				if (c->role == KASP_ROLE_KSK && c->dnskey_len == k->len &&
				    memcmp(c->dnskey, k->data, k->len) == 0) {
					found = c;
				}
			}
			if (found == NULL || found->state == KASP_KEY_REMOVED) {
				tandem_diag_add(diag, TANDEM_EPERM,
						"slot %zu: KSK %u is not a KSK of %s any more",
						i + 1, crypto_key_tag(k->data, k->len), req->zone);
				ret = TANDEM_EPERM;
			} else if (found->ds != KASP_DS_SEEN && i == 0 && j == 0) {
				printf(
				    "warning: the parent does not serve KSK %u's DS yet (DS %s)\n",
				    found->tag, kasp_ds_state_str(found->ds));
			}
		}
	}
	return ret;
}

/* The accepted response's summary and its slots. */
static void print_response(const kasp_skr_t *resp)
{
	char t1[32], t2[32];
	printf("signed key response for %s accepted: %zu slots, %s .. %s\n", resp->zone,
	       resp->nslots, keys_time_str(resp->slots[0].start, t1),
	       keys_time_str(resp->slots[resp->nslots - 1].end, t2));
	print_slots(resp);
}

static int skr_import_state(const opts_t *o)
{
	int code = KEYS_EXIT_INPUT;
	tandem_diag_t *diag = NULL;
	char *rbuf = NULL, *qbuf = NULL;
	size_t rlen = 0, qlen = 0;
	kasp_skr_t *resp = NULL, *req = NULL;
	state_t s;
	memset(&s, 0, sizeof(s));
	if (tandem_diag_new(&diag) != TANDEM_OK) {
		code = KEYS_EXIT_IO;
		goto out;
	}
	code = skr_read(o, diag, &rbuf, &rlen, &resp);
	if (code != KEYS_EXIT_OK) {
		goto out;
	}
	char rec[4096];
	if (skr_path(o->state, resp->zone, resp->request_id, "ksr", rec, sizeof(rec)) !=
		TANDEM_OK ||
	    tandem_file_read(rec, KASP_SKR_FILE_MAX, &qbuf, &qlen) != TANDEM_OK) {
		fprintf(stderr,
			"%s: %s answers no request recorded in %s (wrong request id, or not made "
			"by 'keys ksr' there); nothing changed\n",
			o->prog, o->file, o->state);
		code = KEYS_EXIT_REFUSED;
		goto out;
	}
	uint8_t hash[32];
	if (kasp_skr_decode((const uint8_t *)qbuf, qlen, false, diag, &req) != TANDEM_OK ||
	    kasp_skr_sha256((const uint8_t *)qbuf, qlen, hash) != TANDEM_OK) {
		keys_diag_print(diag);
		fprintf(stderr, "%s: the recorded request %s is unreadable\n", o->prog, rec);
		code = KEYS_EXIT_INPUT;
		goto out;
	}
	code = state_load(o, resp->zone, false, &s);
	if (code != KEYS_EXIT_OK) {
		goto out;
	}
	code = KEYS_EXIT_REFUSED;
	int ret = kasp_skr_check(req, hash, resp, o->now, diag);
	if (skr_signers_check(req, s.set, diag) != TANDEM_OK) {
		ret = TANDEM_EPERM;
	}
	if (ret != TANDEM_OK) {
		keys_diag_print(diag);
		fprintf(stderr, "%s: %s refused; nothing changed\n", o->prog, o->file);
		goto out;
	}
	char dst[4096];
	if (skr_path(o->state, resp->zone, resp->request_id, "skr", dst, sizeof(dst)) !=
		TANDEM_OK ||
	    write_file(dst, (const uint8_t *)rbuf, rlen, 0644) != TANDEM_OK) {
		fprintf(stderr, "%s: cannot store the response in %s/skr\n", o->prog, o->state);
		code = KEYS_EXIT_IO;
		goto out;
	}
	print_response(resp);
	printf("stored as %s (tandem-signzone --skr %s)\n", dst, dst);
	code = KEYS_EXIT_OK;
out:
	state_free(&s);
	kasp_skr_free(resp);
	kasp_skr_free(req);
	free(rbuf);
	free(qbuf);
	tandem_diag_free(diag);
	return code;
}

/* --cluster: the response goes into the zone's SKR book beside its request (the coordinator
 * checks the whole book again before it writes it). */
static int skr_import_cluster(const opts_t *o)
{
	int code = KEYS_EXIT_INPUT;
	tandem_diag_t *diag = NULL;
	char *rbuf = NULL;
	size_t rlen = 0, index = 0;
	kasp_skr_t *resp = NULL, *req = NULL;
	kasp_skrbook_t book;
	int64_t rev = 0;
	state_t s;
	memset(&s, 0, sizeof(s));
	memset(&book, 0, sizeof(book));
	if (tandem_diag_new(&diag) != TANDEM_OK) {
		code = KEYS_EXIT_IO;
		goto out;
	}
	code = skr_read(o, diag, &rbuf, &rlen, &resp);
	if (code == KEYS_EXIT_OK) {
		code = keys_cluster_load(o->prog, o->cl, resp->zone, false, NULL, &s);
	}
	if (code == KEYS_EXIT_OK) {
		code =
		    keys_skrbook_read(o->prog, o->cl->coord, resp->zone, diag, &book, &rev, NULL);
	}
	if (code != KEYS_EXIT_OK) {
		goto out;
	}
	code = KEYS_EXIT_REFUSED;
	int ret = TANDEM_OK;
	int at = kasp_skrbook_find(&book, resp->request_id);
	if (at >= 0 && kasp_skr_decode(book.pairs[at].request, book.pairs[at].request_len, false,
				       diag, &req) == TANDEM_OK) {
		ret = skr_signers_check(req, s.set, diag);
	}
	if (kasp_skrbook_add_response(&book, (const uint8_t *)rbuf, rlen, o->now, diag, &index) !=
	    TANDEM_OK) {
		ret = TANDEM_EPERM;
	}
	if (ret != TANDEM_OK) {
		keys_diag_print(diag);
		fprintf(stderr, "%s: %s refused; nothing changed\n", o->prog, o->file);
		goto out;
	}
	code = keys_skrbook_write(o->prog, o->cl->coord, &book, rev, &rev);
	if (code != KEYS_EXIT_OK) {
		goto out;
	}
	char hex[2 * KASP_SKR_ID_LEN + 1];
	print_response(resp);
	printf("recorded in the cluster's SKR book of %s at revision %" PRId64
	       " (request %s); the lease holder signs with it\n",
	       resp->zone, rev, keys_hex(resp->request_id, KASP_SKR_ID_LEN, hex));
out:
	kasp_skrbook_deinit(&book);
	state_free(&s);
	kasp_skr_free(resp);
	kasp_skr_free(req);
	free(rbuf);
	tandem_diag_free(diag);
	return code;
}

/* A --state command's entry in the offline audit file (docs/audit.md, "Offline events"). */
static int skr_audited(const opts_t *o, const char *path)
{
	char actor[96], details[1024], why[512];
	const char *type = strcmp(o->cmd, "ksk-import") == 0 ? "ksk.import"
			   : strcmp(o->cmd, "ksr") == 0      ? "ksr.create"
							     : "skr.import";
	offline_audit_actor(actor, sizeof(actor));
	snprintf(details, sizeof(details), "tandemctl keys %s --state %.300s%s%.255s%s%.300s",
		 o->cmd, o->state, o->has_zone ? ": zone " : "", o->has_zone ? o->zone : "",
		 o->file != NULL  ? ": "
		 : o->out != NULL ? ": written to "
				  : "",
		 o->file != NULL  ? o->file
		 : o->out != NULL ? o->out
				  : "");
	tandem_audit_event_t ev = {.type = type,
				   .level = TANDEM_AUDIT_NOTICE,
				   .actor = actor,
				   .zone = o->has_zone ? o->zone : NULL,
				   .key_id = -1,
				   .details = details};
	if (offline_audit_append(path, &ev, 1, why, sizeof(why)) != TANDEM_OK) {
		fprintf(stderr, "%s: done, but its audit entry is not written: %s\n", o->prog, why);
		return KEYS_EXIT_IO;
	}
	return KEYS_EXIT_OK;
}

int tandemctl_keys_skr(const char *cmd, int argc, char **argv)
{
	opts_t o;
	int code = parse(cmd, argc, argv, &o);
	if (code != KEYS_EXIT_OK) {
		return code < 0 ? KEYS_EXIT_OK : code;
	}
	keys_cluster_t cl = {0};
	if (o.cluster) {
		code = tandemctl_coord_open(o.prog, o.coord, o.coord_pub, o.coord_key, &cl.coord);
		if (code != KEYS_EXIT_OK) {
			return code;
		}
		o.cl = &cl;
	}
	/* on --state, the offline audit file must take entries before anything is done */
	char apath[4096], awhy[512] = "its name is too long";
	if (!o.cluster && (!offline_audit_path(NULL, o.state, NULL, apath, sizeof(apath)) ||
			   offline_audit_check(apath, awhy, sizeof(awhy)) != TANDEM_OK)) {
		fprintf(stderr, "%s: refused: offline audit file: %s\n", o.prog, awhy);
		return KEYS_EXIT_IO;
	}
	if (strcmp(cmd, "ksk-import") == 0) {
		code = o.cluster ? ksk_import_cluster(&o) : ksk_import_state(&o);
	} else if (strcmp(cmd, "ksr") == 0) {
		code = o.cluster ? ksr_cluster(&o) : ksr_state(&o);
	} else {
		code = o.cluster ? skr_import_cluster(&o) : skr_import_state(&o);
	}
	tandemctl_coord_close(cl.coord);
	if (!o.cluster && code == KEYS_EXIT_OK) {
		code = skr_audited(&o, apath);
	}
	return code;
}
