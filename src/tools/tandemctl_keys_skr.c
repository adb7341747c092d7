/* tandemctl keys ksk-import, ksr, skr-import: the online side of the offline KSK (docs/keys.md,
 * "Offline KSK"). */
#include "tandemctl.h"

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

typedef struct opts {
	const char *cmd, *prog, *state, *policy, *module, *token, *out, *file;
	char zone[KASP_ZONE_MAX];
	bool has_zone, has_start;
	uint64_t now, start, period, overlap, offset, slots;
} opts_t;

static void usage(FILE *fp, const char *cmd)
{
	if (strcmp(cmd, "ksk-import") == 0) {
		fprintf(
		    fp,
		    "usage: tandemctl keys ksk-import --state DIR --zone Z [-p POLICY --token "
		    "URI]\n"
		    "       [--now UNIXTIME] DNSKEYFILE\n"
		    "Records the offline KSKs (DNSKEY records with flags 257, e.g. from "
		    "tandem-ceremony\n"
		    "skr-sign --dnskey-out) in the zone's key state; a new zone needs -p and the\n"
		    "online token (its ZSKs') URI. No private key is involved.\n");
	} else if (strcmp(cmd, "ksr") == 0) {
		fprintf(fp,
			"usage: tandemctl keys ksr --state DIR --zone Z --out FILE [--start "
			"UNIXTIME]\n"
			"       [--period DURATION] [--slots N] [--overlap DURATION]\n"
			"       [--inception-offset DURATION] [--module PATH|P11KIT-NAME] "
			"[--now UNIXTIME]\n"
			"Plans the period (default 90d from --start, default now) in N slots "
			"(default 9),\n"
			"generates the ZSKs the plan needs in the online HSM, and writes the key "
			"signing\n"
			"request for the offline KSK ceremony (also recorded in DIR/skr/).\n");
	} else {
		fprintf(fp, "usage: tandemctl keys skr-import --state DIR [--now UNIXTIME] SKR\n"
			    "Checks a signed key response against the request recorded by 'keys "
			    "ksr' and\n"
			    "stores it in DIR/skr/ for tandem-signzone --skr.\n");
	}
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
		O_OFFSET
	};
	static const struct option longopts[] = {
	    {"state", required_argument, NULL, O_STATE},
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
	unsigned long long v = 0;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:h", longopts, NULL)) != -1) {
		switch (c) {
		case O_STATE: o->state = optarg; break;
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
	bool ok = o->state != NULL;
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
	for (size_t i = 0; i < KASP_SKR_ID_LEN; i++) {
		snprintf(hex + 2 * i, 3, "%02x", id[i]);
	}
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

static int cmd_ksk_import(const opts_t *o)
{
	state_t s;
	tandem_arena_t *arena = NULL;
	const uint8_t **keys = NULL;
	size_t n = 0;
	int code = state_load(o, o->zone, true, &s);
	if (code != KEYS_EXIT_OK) {
		goto out;
	}
	code = KEYS_EXIT_INPUT;
	if (tandem_arena_new(0, &arena) != TANDEM_OK) {
		goto out;
	}
	if (dns_rdata_load_file(o->file, o->zone, DNS_TYPE_DNSKEY, arena, s.diag, &keys, &n) !=
		TANDEM_OK ||
	    n == 0) {
		keys_diag_print(s.diag);
		fprintf(stderr, "%s: %s: no DNSKEY records for %s; nothing changed\n", o->prog,
			o->file, o->zone);
		goto out;
	}
	size_t added = 0;
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
		if (rd[3] != s.policy.ksk.algorithm) {
			fprintf(stderr,
				"%s: DNSKEY %u has algorithm %u, the policy's KSKs %u; nothing "
				"changed\n",
				o->prog, tag, rd[3], s.policy.ksk.algorithm);
			goto out;
		}
		bool known = false;
		for (size_t k = 0; k < s.set->count; k++) {
			known |= s.set->keys[k].dnskey_len == len &&
				 memcmp(s.set->keys[k].dnskey, rd, len) == 0;
		}
		if (known) {
			printf("KSK %u is already in the key state\n", tag);
			continue;
		}
		char label[KASP_LABEL_MAX];
		snprintf(label, sizeof(label), "%sksk-%u", KASP_SKR_LABEL_PFX, tag);
		uint32_t id = 0;
		/* the offline HSM holds it, and nothing online ever signs with it */
		if (kasp_keyset_add(s.set, KASP_ROLE_KSK, rd[3], (uint16_t)s.policy.ksk.bits, label,
				    rd, len, true, o->now, &id) != TANDEM_OK) {
			fprintf(stderr, "%s: no room for another key; nothing changed\n", o->prog);
			goto out;
		}
		printf("imported offline KSK %u as key %" PRIu32 " (%s)\n", tag, id, label);
		added++;
	}
	kasp_step_t st;
	if (kasp_keystate_step(s.set, &s.policy, o->now, s.set, &st) != TANDEM_OK) {
		goto out;
	}
	code = added > 0 || s.set->count > 0 ? state_save(o, &s) : KEYS_EXIT_OK;
	if (code == KEYS_EXIT_OK) {
		printf("zone %s: %zu offline KSK(s) imported; next: 'tandemctl keys generate' (the "
		       "ZSKs) and 'tandemctl keys ksr'\n",
		       s.set->zone, added);
	}
out:
	free(keys);
	tandem_arena_free(arena);
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

static int cmd_ksr(const opts_t *o)
{
	state_t s;
	gen_ctx_t g = {.o = o, .s = &s};
	kasp_skr_t *req = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	int code = state_load(o, o->zone, false, &s);
	if (code != KEYS_EXIT_OK) {
		goto out;
	}
	bool offline = false;
	for (size_t i = 0; i < s.set->count; i++) {
		offline |= kasp_key_offline(&s.set->keys[i]);
	}
	if (!offline) {
		fprintf(stderr,
			"%s: zone %s has no offline KSK: import its DNSKEY with 'tandemctl keys "
			"ksk-import' first\n",
			o->prog, o->zone);
		code = KEYS_EXIT_REFUSED;
		goto out;
	}
	if (o->period % o->slots != 0 || o->period / o->slots < 3600) {
		fprintf(stderr, "%s: --period must split into --slots slots of at least 1h\n",
			o->prog);
		code = KEYS_EXIT_USAGE;
		goto out;
	}
	code = KEYS_EXIT_IO;
	req = calloc(1, sizeof(*req));
	if (req == NULL) {
		goto out;
	}
	kasp_skr_plan_conf_t pc = {.start = o->has_start ? o->start : o->now,
				   .slot_length = (uint32_t)(o->period / o->slots),
				   .slots = (unsigned)o->slots,
				   .inception_offset = (uint32_t)o->offset,
				   .overlap = (uint32_t)o->overlap};
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
	char hex[2 * KASP_SKR_ID_LEN + 1], t1[32], t2[32];
	for (size_t i = 0; i < KASP_SKR_ID_LEN; i++) {
		snprintf(hex + 2 * i, 3, "%02x", req->request_id[i]);
	}
	printf("key signing request %s for %s: %s .. %s, %zu slots\n", hex, req->zone,
	       keys_time_str(req->slots[0].start, t1),
	       keys_time_str(req->slots[req->nslots - 1].end, t2), req->nslots);
	print_slots(req);
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

/* ---- skr-import ---- */

static int cmd_skr_import(const opts_t *o)
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
	int ret = tandem_file_read(o->file, KASP_SKR_FILE_MAX, &rbuf, &rlen);
	if (ret != TANDEM_OK) {
		fprintf(stderr, "%s: %s: %s\n", o->prog, o->file, tandem_strerror(ret));
		goto out;
	}
	ret = kasp_skr_decode((const uint8_t *)rbuf, rlen, true, diag, &resp);
	if (ret != TANDEM_OK) {
		keys_diag_print(diag);
		fprintf(stderr, "%s: %s refused; nothing changed\n", o->prog, o->file);
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
		goto out;
	}
	code = state_load(o, resp->zone, false, &s);
	if (code != KEYS_EXIT_OK) {
		goto out;
	}
	code = KEYS_EXIT_REFUSED;
	ret = kasp_skr_check(req, hash, resp, o->now, diag);
	/* the signers must still be the zone's KSKs (their DS is what the parent holds) */
	for (size_t i = 0; i < req->nslots; i++) {
		const kasp_skr_slot_t *sl = &req->slots[i];
		for (size_t j = 0; j < sl->nsigners; j++) {
			const kasp_skr_rdata_t *k = &sl->keys[sl->signers[j]];
			const kasp_key_t *found = NULL;
			for (size_t n = 0; n < s.set->count; n++) {
				const kasp_key_t *c = &s.set->keys[n];
				if (c->role == KASP_ROLE_KSK && c->dnskey_len == k->len &&
				    memcmp(c->dnskey, k->data, k->len) == 0) {
					found = c;
				}
			}
			if (found == NULL || found->state == KASP_KEY_REMOVED) {
				tandem_diag_add(diag, TANDEM_EPERM,
						"slot %zu: KSK %u is not a KSK of %s any more",
						i + 1, crypto_key_tag(k->data, k->len), resp->zone);
				ret = TANDEM_EPERM;
			} else if (found->ds != KASP_DS_SEEN && i == 0 && j == 0) {
				printf(
				    "warning: the parent does not serve KSK %u's DS yet (DS %s)\n",
				    found->tag, kasp_ds_state_str(found->ds));
			}
		}
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
	char t1[32], t2[32];
	printf("signed key response for %s accepted: %zu slots, %s .. %s\n", resp->zone,
	       resp->nslots, keys_time_str(resp->slots[0].start, t1),
	       keys_time_str(resp->slots[resp->nslots - 1].end, t2));
	print_slots(resp);
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

int tandemctl_keys_skr(const char *cmd, int argc, char **argv)
{
	opts_t o;
	int code = parse(cmd, argc, argv, &o);
	if (code != KEYS_EXIT_OK) {
		return code < 0 ? KEYS_EXIT_OK : code;
	}
	if (strcmp(cmd, "ksk-import") == 0) {
		return cmd_ksk_import(&o);
	}
	if (strcmp(cmd, "ksr") == 0) {
		return cmd_ksr(&o);
	}
	return cmd_skr_import(&o);
}
