/* tandemctl keys: the key-state commands on a local state directory (--state DIR) or on the
 * zone's key set in the cluster (--cluster: coord.keyset.get / coord.keyset.put). */
#include "tandemctl.h"

#include "crypto.h"
#include "dns_zone.h"
#include "hsm.h"
#include "kasp_keystate.h"
#include "kasp_skr.h"
#include "kasp_store.h"
#include "tandem_error.h"
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

static const char *const commands[] = {"list",     "ds",       "ds-seen",   "ds-gone",
				       "generate", "rollover", "emergency", "simulate"};

int tandemctl_keys_state_has(const char *cmd)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(cmd, commands[i]) == 0) {
			return 1;
		}
	}
	return 0;
}

typedef struct opts {
	const char *cmd, *prog, *state, *policy, *module, *token;
	const char *audit_file; /* --audit-file: the offline audit file (--state only) */
	bool cluster;
	const char *coord, *coord_pub, *coord_key;
	keys_cluster_t *cl; /* with --cluster, once connected */
	char zone[KASP_ZONE_MAX];
	bool has_zone, has_key, has_role;
	uint32_t key;
	kasp_role_t role;
	uint64_t now;
} opts_t;

static void usage(FILE *fp, const char *cmd)
{
	fprintf(fp, "usage: tandemctl keys %s --state DIR|--cluster ", cmd);
	if (strcmp(cmd, "list") == 0) {
		fprintf(fp,
			"[--zone Z] [--now UNIXTIME]\n"
			"Lists each key: role, algorithm, tag, state, DS state, times, and when "
			"it next changes;\n"
			"with --cluster, an offline-KSK zone's SKR book too: each request, "
			"whether it is\n"
			"signed, the open ask, and until when pre-signed DNSKEY RRsets cover the "
			"zone.\n");
	} else if (strcmp(cmd, "ds") == 0) {
		fprintf(fp,
			"--zone Z [--now UNIXTIME]\n"
			"Prints the DS records (SHA-256) the parent should hold for the zone.\n");
	} else if (strcmp(cmd, "ds-seen") == 0 || strcmp(cmd, "ds-gone") == 0) {
		fprintf(fp,
			"--zone Z --key ID [--now UNIXTIME]\n"
			"Records that the parent now %s the DS of KSK ID.\n",
			strcmp(cmd, "ds-seen") == 0 ? "serves" : "no longer serves");
	} else if (strcmp(cmd, "generate") == 0) {
		fprintf(
		    fp,
		    "--zone Z [-p POLICY] [--token URI] [--module PATH|P11KIT-NAME]\n"
		    "       [--now UNIXTIME]\n"
		    "Runs the key-state machine and generates in the HSM every key it asks for:\n"
		    "a new zone's first keys (then -p and --token are required), and successors\n"
		    "later. The token URI names the token and its pin-source file (or use the\n"
		    "TANDEM_PIN environment variable); a PIN is never taken from argv.\n");
	} else if (strcmp(cmd, "rollover") == 0) {
		fprintf(fp, "--zone Z --role ksk|zsk [--now UNIXTIME]\n"
			    "Starts a manual rollover: a successor is made now and takes over\n"
			    "after its pre-publication (at once with a ready standby).\n");
	} else if (strcmp(cmd, "emergency") == 0) {
		fprintf(fp,
			"--zone Z --key ID [--now UNIXTIME]\n"
			"Key ID is compromised: a replacement is made at once (or a ready\n"
			"standby takes over). A ZSK stops signing at once (the KSK signs the\n"
			"data until the replacement is in every cache); a KSK signs beside its\n"
			"replacement until the new DS is in every cache. It then stays published\n"
			"for the emergency post-publish period (docs/keys.md).\n");
	} else {
		fprintf(fp, "...\n");
	}
	if (strcmp(cmd, "list") != 0 && strcmp(cmd, "ds") != 0) {
		fprintf(fp, "--state: each change is audited in DIR/" OFFLINE_AUDIT_NAME
			    " (or --audit-file PATH),\n"
			    "a chained 0600 file for 'tandemctl audit import-offline' "
			    "(docs/audit.md).\n");
	}
	if (strcmp(cmd, "generate") != 0) {
		fprintf(fp,
			"--cluster: the zone's key set in the cluster (--zone required), read and\n"
			"written through the coordinators: --coord EP[,EP..] --coord-pub "
			"FILE[,FILE..]\n"
			"--coord-key SECRET (or TANDEM_COORD, TANDEM_COORD_PUB, TANDEM_KEY); the "
			"policy is -p\n"
			"POLICY if given, else the key set's. A key set changed meanwhile: exit 4, "
			"run again.\n");
	}
}

static int parse(const char *cmd, int argc, char **argv, opts_t *o)
{
	enum {
		O_STATE = 256,
		O_ZONE,
		O_KEY,
		O_ROLE,
		O_NOW,
		O_MODULE,
		O_TOKEN,
		O_CLUSTER,
		O_COORD,
		O_COORD_PUB,
		O_COORD_KEY,
		O_AUDIT_FILE
	};
	static const struct option longopts[] = {
	    {"state", required_argument, NULL, O_STATE},
	    {"cluster", no_argument, NULL, O_CLUSTER},
	    {"coord", required_argument, NULL, O_COORD},
	    {"coord-pub", required_argument, NULL, O_COORD_PUB},
	    {"coord-key", required_argument, NULL, O_COORD_KEY},
	    {"zone", required_argument, NULL, O_ZONE},
	    {"key", required_argument, NULL, O_KEY},
	    {"role", required_argument, NULL, O_ROLE},
	    {"now", required_argument, NULL, O_NOW},
	    {"module", required_argument, NULL, O_MODULE},
	    {"token", required_argument, NULL, O_TOKEN},
	    {"audit-file", required_argument, NULL, O_AUDIT_FILE},
	    {"policy", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	memset(o, 0, sizeof(*o));
	o->cmd = cmd;
	o->prog = argv[0];
	o->now = (uint64_t)time(NULL);
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
		case O_AUDIT_FILE: o->audit_file = optarg; break;
		case O_ZONE:
			if (!keys_zone_norm(optarg, o->zone)) {
				fprintf(stderr, "%s: bad zone name '%s'\n", o->prog, optarg);
				return KEYS_EXIT_USAGE;
			}
			o->has_zone = true;
			break;
		case O_KEY:
			if (!keys_uint_parse(optarg, UINT32_MAX, &v) || v == 0) {
				fprintf(stderr, "%s: --key takes a key id (see 'keys list')\n",
					o->prog);
				return KEYS_EXIT_USAGE;
			}
			o->key = (uint32_t)v;
			o->has_key = true;
			break;
		case O_ROLE:
			if (strcmp(optarg, "ksk") != 0 && strcmp(optarg, "zsk") != 0) {
				fprintf(stderr, "%s: --role is ksk or zsk\n", o->prog);
				return KEYS_EXIT_USAGE;
			}
			o->role = strcmp(optarg, "ksk") == 0 ? KASP_ROLE_KSK : KASP_ROLE_ZSK;
			o->has_role = true;
			break;
		case O_NOW:
			if (!keys_uint_parse(optarg, 1ull << 40, &v) || v == 0) {
				fprintf(stderr, "%s: --now takes a UNIX time\n", o->prog);
				return KEYS_EXIT_USAGE;
			}
			o->now = v;
			break;
		case 'h': usage(stdout, cmd); return -1;
		default: usage(stderr, cmd); return KEYS_EXIT_USAGE;
		}
	}
	if (o->cluster && strcmp(cmd, "generate") == 0) {
		fprintf(stderr,
			"%s: refused: in a cluster the zone's lease holder makes keys (tandemd "
			"runs the key-state machine)\n",
			o->prog);
		return KEYS_EXIT_REFUSED;
	}
	if (!o->cluster && (o->coord != NULL || o->coord_pub != NULL || o->coord_key != NULL)) {
		fprintf(stderr, "%s: --coord, --coord-pub and --coord-key go with --cluster\n",
			o->prog);
		return KEYS_EXIT_USAGE;
	}
	if (o->cluster && o->audit_file != NULL) {
		fprintf(stderr, "%s: --audit-file goes with --state (the cluster audits itself)\n",
			o->prog);
		return KEYS_EXIT_USAGE;
	}
	if (o->cluster && o->state != NULL) {
		fprintf(stderr, "%s: --state DIR or --cluster, not both\n", o->prog);
		return KEYS_EXIT_USAGE;
	}
	bool zone_needed = strcmp(cmd, "list") != 0 || o->cluster;
	bool key_needed = strcmp(cmd, "ds-seen") == 0 || strcmp(cmd, "ds-gone") == 0 ||
			  strcmp(cmd, "emergency") == 0;
	if (optind != argc || (o->state == NULL && !o->cluster) || (zone_needed && !o->has_zone) ||
	    (key_needed && !o->has_key) || (strcmp(cmd, "rollover") == 0 && !o->has_role)) {
		usage(stderr, cmd);
		return KEYS_EXIT_USAGE;
	}
	return KEYS_EXIT_OK;
}

/* ---- printing ---- */

static void print_changes(const kasp_keyset_t *set, const kasp_step_t *st, uint64_t now)
{
	char ts[32];
	for (size_t i = 0; i < st->nchanges; i++) {
		const kasp_change_t *c = &st->changes[i];
		const kasp_key_t *k = kasp_keyset_find((kasp_keyset_t *)set, c->key_id);
		if (k == NULL) {
			continue;
		}
		if (c->from != c->to) {
			printf("%s  %s key %" PRIu32 " (tag %u): %s -> %s (%s)\n",
			       keys_time_str(now, ts), kasp_role_str(k->role), k->id, k->tag,
			       kasp_key_state_str(c->from), kasp_key_state_str(c->to), c->why);
		} else {
			printf("%s  %s key %" PRIu32 " (tag %u): DS %s -> %s (%s)\n",
			       keys_time_str(now, ts), kasp_role_str(k->role), k->id, k->tag,
			       kasp_ds_state_str(c->ds_from), kasp_ds_state_str(c->ds_to), c->why);
		}
	}
}

static void print_pending(const kasp_keyset_t *set, const kasp_step_t *st, bool cluster)
{
	char ts[32];
	size_t gen = 0;
	for (size_t i = 0; i < st->nactions; i++) {
		gen += st->actions[i].kind == KASP_ACTION_GENERATE;
	}
	if (gen > 0 && cluster) {
		printf("pending: %zu key(s) to generate: the zone's lease holder makes them\n",
		       gen);
	} else if (gen > 0) {
		printf("pending: %zu key(s) to generate: run 'tandemctl keys generate --zone %s'\n",
		       gen, set->zone);
	}
	if (kasp_keyset_cds_pending(set)) {
		printf(
		    "pending: the parent's DS set must change (CDS/CDNSKEY published; 'tandemctl "
		    "keys ds --zone %s'), then record it with ds-seen / ds-gone\n",
		    set->zone);
	}
	printf("next event: %s%s\n", keys_time_str(st->next, ts),
	       st->waiting_ds ? " (and waiting for the parent: ds-seen / ds-gone)" : "");
}

static void print_list(const kasp_keyset_t *set, const kasp_step_t *st, bool cluster)
{
	char t1[32], t2[32], t3[32];
	printf("zone %s (policy %s)\n", set->zone,
	       set->policy_path[0] ? set->policy_path : "dps-default");
	printf("%-4s %-4s %-3s %-5s %-10s %-10s %-20s %-20s %-20s %s\n", "ID", "ROLE", "ALG", "TAG",
	       "STATE", "DS", "PUBLISHED", "ACTIVE", "NEXT", "LABEL");
	for (size_t i = 0; i < set->count; i++) {
		const kasp_key_t *k = &set->keys[i];
		char state[24];
		snprintf(state, sizeof(state), "%s%s", kasp_key_state_str(k->state),
			 k->compromised ? "!" : "");
		printf("%-4" PRIu32 " %-4s %-3u %-5u %-10s %-10s %-20s %-20s %-20s %s\n", k->id,
		       kasp_role_str(k->role), k->algorithm, k->tag, state,
		       k->role == KASP_ROLE_KSK ? kasp_ds_state_str(k->ds) : "",
		       keys_time_str(k->published, t1), keys_time_str(k->active, t2),
		       keys_time_str(k->next, t3), k->label);
	}
	print_pending(set, st, cluster);
}

/* --cluster, an offline-KSK zone: its SKR book (each request, whether signed, the open ask)
 * and until when the pre-signed DNSKEY RRsets cover the zone. */
static int print_skrbook(const opts_t *o, tandem_diag_t *diag)
{
	kasp_skrbook_t book;
	int64_t rev = 0;
	bool unknown = false;
	char id[2 * KASP_SKR_ID_LEN + 1], t1[32], t2[32], t3[32];
	int code = keys_skrbook_read(o->prog, o->cl->coord, o->zone, diag, &book, &rev, &unknown);
	if (code != KEYS_EXIT_OK) {
		goto out;
	}
	if (unknown) {
		printf("SKR book: none (the zone is not in the cluster yet: 'tandemctl zone add "
		       "%s')\n",
		       o->zone);
		goto out;
	}
	if (rev == 0) {
		printf("SKR book: none yet ('tandemctl keys ksr --cluster --zone %s' asks for a "
		       "request)\n",
		       o->zone);
	} else {
		printf("SKR book revision %" PRId64 ": %zu request(s)\n", rev, book.npairs);
	}
	for (size_t i = 0; i < book.npairs; i++) {
		const kasp_skr_pair_t *p = &book.pairs[i];
		kasp_skr_t *req = NULL, *resp = NULL;
		/* the book was checked whole when read: these decode */
		if (kasp_skr_decode(p->request, p->request_len, false, NULL, &req) != TANDEM_OK ||
		    (p->response != NULL && kasp_skr_decode(p->response, p->response_len, true,
							    NULL, &resp) != TANDEM_OK)) {
			kasp_skr_free(req);
			continue;
		}
		printf("request %s  %s .. %s  %zu slots  ",
		       keys_hex(req->request_id, KASP_SKR_ID_LEN, id),
		       keys_time_str(req->slots[0].start, t1),
		       keys_time_str(req->slots[req->nslots - 1].end, t2), req->nslots);
		if (resp != NULL) {
			printf("signed %s\n", keys_time_str(resp->created, t3));
		} else {
			printf("awaiting the KSK ceremony\n");
		}
		kasp_skr_free(req);
		kasp_skr_free(resp);
	}
	if (book.has_ask) {
		const kasp_skr_ask_t *a = &book.ask;
		uint64_t end = a->plan.start + (uint64_t)a->plan.slot_length * a->plan.slots;
		printf("ask %s  asked %s  for %s .. %s  %u slots  ",
		       keys_hex(a->id, KASP_SKR_ID_LEN, id), keys_time_str(a->asked_at, t1),
		       keys_time_str(a->plan.start, t2), keys_time_str(end, t3), a->plan.slots);
		if (kasp_skrbook_find(&book, a->id) >= 0) {
			printf("planned: the request with this id\n");
		} else if (a->refused[0] != '\0') {
			printf("refused by the lease holder: %s\n", a->refused);
		} else {
			printf("waiting for the lease holder to plan it\n");
		}
	}
	uint64_t until = kasp_skrbook_covered_until(&book, o->now);
	if (until > o->now) {
		printf("pre-signed DNSKEY RRsets cover until %s\n", keys_time_str(until, t1));
	} else {
		printf("no signed DNSKEY RRset covers now (%s)\n", keys_time_str(o->now, t1));
	}
out:
	kasp_skrbook_deinit(&book);
	return code;
}

/* ---- state ---- */

typedef keys_state_t state_t;

static void state_free(state_t *s)
{
	keys_state_free(s);
}

/* Loads the store and (if the zone is named) its key set and policy. */
static int state_load(const opts_t *o, bool may_create, state_t *s)
{
	if (o->cluster) {
		int code = keys_cluster_load(o->prog, o->cl, o->zone, false, NULL, s);
		return code != KEYS_EXIT_OK ? code
					    : keys_cluster_policy(o->prog, o->cl, o->policy, s);
	}
	return keys_state_load(o->prog, o->state, o->has_zone ? o->zone : NULL, may_create,
			       o->policy, o->token, "", s);
}

static int state_save(const opts_t *o, state_t *s)
{
	if (o->cluster) {
		return keys_cluster_save(o->prog, o->cl, s);
	}
	return keys_state_save(o->prog, o->state, s);
}

/* ---- commands ---- */

static int cmd_list(const opts_t *o)
{
	state_t s;
	kasp_step_t st;
	int code = state_load(o, false, &s);
	if (code != KEYS_EXIT_OK) {
		goto out;
	}
	size_t n = o->has_zone ? 1 : kasp_store_count(s.store);
	if (n == 0) {
		printf("no zones in %s\n", o->state);
	}
	for (size_t i = 0; i < n; i++) {
		opts_t zo = *o;
		if (!o->has_zone) {
			snprintf(zo.zone, sizeof(zo.zone), "%s", kasp_store_at(s.store, i)->zone);
			zo.has_zone = true;
			state_t zs;
			code = state_load(&zo, false, &zs);
			if (code == KEYS_EXIT_OK && kasp_keystate_step(zs.set, &zs.policy, o->now,
								       zs.set, &st) == TANDEM_OK) {
				print_list(zs.set, &st, false);
			}
			state_free(&zs);
			if (code != KEYS_EXIT_OK) {
				goto out;
			}
			continue;
		}
		/* the machine's view at now (transitions due are shown, saved by the next
		 * command that changes the state) */
		if (kasp_keystate_step(s.set, &s.policy, o->now, s.set, &st) != TANDEM_OK) {
			code = KEYS_EXIT_INPUT;
			goto out;
		}
		print_list(s.set, &st, o->cluster);
		if (o->cluster && kasp_keyset_offline(s.set)) {
			code = print_skrbook(o, s.diag);
		}
	}
out:
	state_free(&s);
	return code;
}

static int cmd_ds(const opts_t *o)
{
	state_t s;
	kasp_step_t st;
	int code = state_load(o, false, &s);
	if (code != KEYS_EXIT_OK) {
		goto out;
	}
	code = KEYS_EXIT_INPUT;
	if (kasp_keystate_step(s.set, &s.policy, o->now, s.set, &st) != TANDEM_OK) {
		goto out;
	}
	uint8_t owner[DNS_NAME_MAXLEN];
	size_t olen = 0;
	if (dns_name_from_str(o->zone, NULL, owner, &olen) != TANDEM_OK) {
		fprintf(stderr, "%s: bad zone name %s\n", o->prog, o->zone);
		goto out;
	}
	size_t n = 0;
	for (size_t i = 0; i < s.set->count; i++) {
		const kasp_key_t *k = &s.set->keys[i];
		if (!kasp_key_ds_wanted(k)) {
			continue;
		}
		uint8_t ds[64];
		size_t len = sizeof(ds);
		if (crypto_ds_from_dnskey(owner, olen, k->dnskey, k->dnskey_len, CRYPTO_DS_SHA256,
					  ds, &len) != TANDEM_OK ||
		    len < 5) {
			fprintf(stderr, "%s: key %" PRIu32 ": cannot make its DS\n", o->prog,
				k->id);
			goto out;
		}
		printf("%s %u IN DS %u %u %u ", s.set->zone, s.policy.parent_ds_ttl,
		       (ds[0] << 8) | ds[1], ds[2], ds[3]);
		for (size_t j = 4; j < len; j++) {
			printf("%02X", ds[j]);
		}
		printf(" ; key %" PRIu32 ", DS %s\n", k->id, kasp_ds_state_str(k->ds));
		n++;
	}
	if (n == 0) {
		fprintf(stderr,
			"%s: no DS records for %s yet (the DS is asked for once the KSK's "
			"DNSKEY is in caches; see 'keys list')\n",
			o->prog, s.set->zone);
	}
	code = KEYS_EXIT_OK;
out:
	state_free(&s);
	return code;
}

/* Generates, through the HSM, every key the machine asks for, until it asks for none. */
static int generate_keys(const opts_t *o, state_t *s, kasp_step_t *st)
{
	hsm_module_t *mod = NULL;
	hsm_token_t *tok = NULL;
	int code = KEYS_EXIT_OK;
	bool offline = kasp_keyset_offline(s->set);
	for (int round = 0; round < 8; round++) {
		if (kasp_keystate_step(s->set, &s->policy, o->now, s->set, st) != TANDEM_OK) {
			code = KEYS_EXIT_INPUT;
			goto out;
		}
		print_changes(s->set, st, o->now);
		bool made = false;
		for (size_t i = 0; i < st->nactions; i++) {
			const kasp_action_t *a = &st->actions[i];
			if (a->kind != KASP_ACTION_GENERATE) {
				continue;
			}
			if (a->role == KASP_ROLE_KSK && offline) {
				/* never online: the next KSK comes from a KSK ceremony */
				printf(
				    "pending: the zone's KSKs are offline and the machine asks for "
				    "a new one: make it at a KSK ceremony and 'tandemctl keys "
				    "ksk-import' its DNSKEY\n");
				continue;
			}
			if (tok == NULL) {
				const char *uri = s->set->token_uri;
				if (uri[0] == '\0' || keys_hsm_open(o->module, uri, 1, s->diag,
								    &mod, &tok) != TANDEM_OK) {
					keys_diag_print(s->diag);
					fprintf(stderr, "%s: cannot open the token %s\n", o->prog,
						uri[0] ? uri : "(none: give --token)");
					code = KEYS_EXIT_HSM;
					goto out;
				}
			}
			char label[KASP_LABEL_MAX];
			keys_label(s->set->zone, a->role, s->set->next_id, label);
			uint8_t dnskey[KASP_DNSKEY_MAX];
			size_t len = sizeof(dnskey);
			const hsm_key_t *key = NULL;
			uint32_t id = 0;
			bool adopted = false;
			if (keys_hsm_adopt_or_generate(tok, a, label, s->diag, &key, dnskey, &len,
						       &adopted) != TANDEM_OK) {
				keys_diag_print(s->diag);
				fprintf(stderr, "%s: generating %s failed\n", o->prog, label);
				code = KEYS_EXIT_HSM;
				goto out;
			}
			/* one site, one HSM: the key is held everywhere it must be (the
			 * cluster sets this from the sites' import acknowledgements) */
			if (kasp_keyset_add(s->set, a->role, a->algorithm, a->bits, label, dnskey,
					    len, true, o->now, &id) != TANDEM_OK) {
				fprintf(stderr, "%s: zone %s has no room for another key\n",
					o->prog, s->set->zone);
				code = KEYS_EXIT_INPUT;
				goto out;
			}
			const kasp_key_t *k = kasp_keyset_find(s->set, id);
			printf("%s %s key %" PRIu32 " (tag %u, algorithm %u) as %s\n",
			       adopted ? "adopted the pre-generated (keys ksr)" : "generated",
			       kasp_role_str(a->role), id, k->tag, a->algorithm, label);
			made = true;
		}
		if (!made) {
			goto out;
		}
	}
out:
	hsm_token_close(tok);
	hsm_module_free(mod);
	return code;
}

/* The offline audit events of a change on --state: the command (its type, the key it names)
 * and each transition of the steps, appended to the offline audit file. */
static int offline_audited(const opts_t *o, const kasp_keyset_t *set, const kasp_step_t *pre,
			   const kasp_step_t *st, uint32_t nkeys_before)
{
	char path[4096], why[512], actor[96];
	static char details[KASP_CHANGES_MAX * 2 + 1][512];
	static tandem_audit_event_t evs[KASP_CHANGES_MAX * 2 + 1];
	size_t n = 0;
	if (strcmp(o->cmd, "generate") == 0 && set->next_id == nkeys_before && pre->nchanges == 0 &&
	    (st == NULL || st->nchanges == 0)) {
		return KEYS_EXIT_OK; /* a regular run that changed nothing: nothing to audit */
	}
	if (!offline_audit_path(o->audit_file, o->state, NULL, path, sizeof(path))) {
		fprintf(stderr, "%s: the offline audit file's name is too long\n", o->prog);
		return KEYS_EXIT_IO;
	}
	offline_audit_actor(actor, sizeof(actor));
	const char *type = strcmp(o->cmd, "ds-seen") == 0     ? "ds.seen"
			   : strcmp(o->cmd, "ds-gone") == 0   ? "ds.gone"
			   : strcmp(o->cmd, "emergency") == 0 ? "key.emergency"
			   : strcmp(o->cmd, "rollover") == 0  ? "key.rollover"
							      : "key.generate";
	snprintf(details[n], sizeof(details[n]), "tandemctl keys %s --state %.120s: zone %.100s%s",
		 o->cmd, o->state, o->zone,
		 strcmp(o->cmd, "rollover") == 0
		     ? (o->role == KASP_ROLE_KSK ? " role ksk" : " role zsk")
		     : "");
	for (uint32_t id = nkeys_before; strcmp(o->cmd, "generate") == 0 && id < set->next_id;
	     id++) {
		const kasp_key_t *k = kasp_keyset_find((kasp_keyset_t *)set, id);
		size_t used = strlen(details[n]);
		if (k != NULL && used < sizeof(details[n])) {
			snprintf(details[n] + used, sizeof(details[n]) - used,
				 "; key %u (%s, tag %u) generated", k->id, kasp_role_str(k->role),
				 k->tag);
		}
	}
	evs[n] = (tandem_audit_event_t){
	    .type = type,
	    .level = strcmp(o->cmd, "emergency") == 0 ? TANDEM_AUDIT_CRITICAL : TANDEM_AUDIT_NOTICE,
	    .actor = actor,
	    .zone = o->zone,
	    .key_id = o->has_key ? (int64_t)o->key : -1,
	    .details = details[n]};
	n++;
	const kasp_step_t *steps[2] = {pre, st};
	for (size_t s = 0; s < 2; s++) {
		for (size_t i = 0; steps[s] != NULL && i < steps[s]->nchanges; i++) {
			const kasp_change_t *c = &steps[s]->changes[i];
			snprintf(details[n], sizeof(details[n]),
				 "zone %.100s: key %u %s -> %s, DS %s -> %s (%s)", o->zone,
				 c->key_id, kasp_key_state_str(c->from), kasp_key_state_str(c->to),
				 kasp_ds_state_str(c->ds_from), kasp_ds_state_str(c->ds_to),
				 c->why != NULL ? c->why : "");
			evs[n] = (tandem_audit_event_t){.type = "key.step",
							.level = TANDEM_AUDIT_NOTICE,
							.actor = actor,
							.zone = o->zone,
							.key_id = c->key_id,
							.details = details[n]};
			n++;
		}
	}
	if (offline_audit_append(path, evs, n, why, sizeof(why)) != TANDEM_OK) {
		fprintf(stderr, "%s: the change is saved, but its audit entries are not: %s\n",
			o->prog, why);
		return KEYS_EXIT_IO;
	}
	return KEYS_EXIT_OK;
}

/* Applies a fact (or nothing), runs the machine, saves; prints what changed. */
static int cmd_change(const opts_t *o)
{
	state_t s;
	kasp_step_t st;
	char apath[4096], awhy[512] = "its name is too long";
	/* a broken offline audit file stops the change before anything happens */
	if (!o->cluster &&
	    (!offline_audit_path(o->audit_file, o->state, NULL, apath, sizeof(apath)) ||
	     offline_audit_check(apath, awhy, sizeof(awhy)) != TANDEM_OK)) {
		fprintf(stderr, "%s: refused: offline audit file: %s\n", o->prog, awhy);
		return KEYS_EXIT_IO;
	}
	int code = state_load(o, strcmp(o->cmd, "generate") == 0, &s);
	if (code != KEYS_EXIT_OK) {
		goto out;
	}
	/* the state is brought up to now first: a fact applies to the keys as they are now */
	if (kasp_keystate_step(s.set, &s.policy, o->now, s.set, &st) != TANDEM_OK) {
		code = KEYS_EXIT_INPUT;
		goto out;
	}
	kasp_step_t pre = st;
	uint32_t next_before = s.set->next_id;
	int ret = TANDEM_OK;
	const char *what = "";
	if (strcmp(o->cmd, "ds-seen") == 0) {
		ret = kasp_keyset_ds_seen(s.set, o->key, o->now);
		what = "has no DS waiting to be seen (it must be submitted: see 'keys ds')";
	} else if (strcmp(o->cmd, "ds-gone") == 0) {
		ret = kasp_keyset_ds_gone(s.set, o->key, o->now);
		what = "has no DS withdrawal pending";
	} else if (strcmp(o->cmd, "emergency") == 0) {
		ret = kasp_keyset_compromise(s.set, o->key, o->now);
		what = "cannot be rolled in an emergency (removed, or in an algorithm rollover's "
		       "unpublished step)";
	} else if (strcmp(o->cmd, "rollover") == 0) {
		ret = kasp_keyset_roll(s.set, o->role, o->now);
		if (ret == TANDEM_KASP_ENOKEY) {
			fprintf(stderr, "%s: zone %s has no active %s\n", o->prog, o->zone,
				kasp_role_str(o->role));
			code = KEYS_EXIT_REFUSED;
			goto out;
		}
		what = "rollover refused: an algorithm rollover is under way";
	}
	if (ret == TANDEM_KASP_ENOKEY) {
		fprintf(stderr, "%s: zone %s has no key %" PRIu32 "; nothing changed\n", o->prog,
			o->zone, o->key);
		code = KEYS_EXIT_INPUT;
		goto out;
	}
	if (ret != TANDEM_OK) {
		const kasp_key_t *k = kasp_keyset_find(s.set, o->key);
		if (k != NULL) {
			fprintf(stderr,
				"%s: %s key %" PRIu32 " (state %s, DS %s) %s; nothing changed\n",
				o->prog, kasp_role_str(k->role), k->id,
				kasp_key_state_str(k->state), kasp_ds_state_str(k->ds), what);
		} else {
			fprintf(stderr, "%s: %s; nothing changed\n", o->prog, what);
		}
		code = KEYS_EXIT_REFUSED;
		goto out;
	}
	if (strcmp(o->cmd, "generate") == 0) {
		print_changes(s.set, &pre, o->now);
		code = generate_keys(o, &s, &st);
		if (code != KEYS_EXIT_OK && s.set->count == 0) {
			goto out; /* nothing made: nothing to save */
		}
		/* keys made before a failure are in the HSM: they are saved either way */
		int saved = state_save(o, &s);
		if (saved == KEYS_EXIT_OK && !o->cluster) {
			int audited = offline_audited(o, s.set, &pre, &st, next_before);
			saved = audited;
		}
		code = code != KEYS_EXIT_OK ? code : saved;
		if (code == KEYS_EXIT_OK) {
			print_pending(s.set, &st, o->cluster);
		}
		goto out;
	}
	if (kasp_keystate_step(s.set, &s.policy, o->now, s.set, &st) != TANDEM_OK) {
		code = KEYS_EXIT_INPUT;
		goto out;
	}
	print_changes(s.set, &pre, o->now);
	print_changes(s.set, &st, o->now);
	code = state_save(o, &s);
	if (code == KEYS_EXIT_OK && !o->cluster) {
		code = offline_audited(o, s.set, &pre, &st, next_before);
	}
	if (code == KEYS_EXIT_OK) {
		if (strcmp(o->cmd, "emergency") == 0) {
			const kasp_key_t *k = kasp_keyset_find(s.set, o->key);
			bool cover = false;
			for (size_t i = 0; i < s.set->count; i++) {
				cover |= s.set->keys[i].covers_zsk;
			}
			if (k->state == KASP_KEY_ACTIVE && k->role == KASP_ROLE_KSK) {
				printf(
				    "ksk %" PRIu32 " still signs the DNSKEY RRset, beside its "
				    "replacement once that is at every site, until the "
				    "replacement's DS is in every cache; its own DS is withdrawn "
				    "when the replacement's is asked for\n",
				    k->id);
			} else if (k->state == KASP_KEY_ACTIVE) {
				printf("zsk %" PRIu32
				       " still signs until its replacement is in every "
				       "cache (Ipub(key) after it is published)\n",
				       k->id);
			} else if (k->role == KASP_ROLE_ZSK && cover) {
				printf("zsk %" PRIu32
				       " no longer signs; the KSK signs the zone's data "
				       "until the replacement ZSK is in every cache\n",
				       k->id);
			}
		}
		print_pending(s.set, &st, o->cluster);
	}
out:
	state_free(&s);
	return code;
}

int tandemctl_keys_state(const char *cmd, int argc, char **argv)
{
	if (strcmp(cmd, "simulate") == 0) {
		return tandemctl_keys_simulate(argc, argv);
	}
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
	if (strcmp(cmd, "list") == 0) {
		code = cmd_list(&o);
	} else if (strcmp(cmd, "ds") == 0) {
		code = cmd_ds(&o);
	} else {
		code = cmd_change(&o);
	}
	tandemctl_coord_close(cl.coord);
	return code;
}
