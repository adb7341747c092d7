/* tandemctl keys simulate: years of rollovers on a fake clock, a real HSM, signer and gate. */
#include "dns_zone.h"
#include "hsm.h"
#include "kasp_sim.h"
#include "signer.h"
#include "tandem_error.h"
#include "tandem_file.h"
#include "tandemctl_keys_util.h"
#include "pipeline.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <p11-kit/pkcs11.h>

#define DAY           UINT64_C(86400)
#define DEFAULT_START 1767225600ull /* 2026-01-01T00:00:00Z: runs are reproducible */
#define SIM_KEYS_MAX  256

/* A small zone with the shapes that matter (apex data, secure and insecure
 * delegations, glue, a wildcard); conf/example.zone is used when found. */
static const char sim_zone[] = "$ORIGIN example.\n"
			       "$TTL 86400\n"
			       "@ IN SOA a.nic hostmaster.nic 2026010101 3600 900 1814400 3600\n"
			       "@ IN NS a.nic\n"
			       "@ IN NS b.nic\n"
			       "@ IN A 192.0.2.10\n"
			       "@ 3600 IN MX 10 mail\n"
			       "a.nic IN A 192.0.2.1\n"
			       "b.nic IN AAAA 2001:db8::1\n"
			       "mail 3600 IN A 192.0.2.25\n"
			       "*.promo 3600 IN A 192.0.2.88\n"
			       "secure IN NS ns1.secure\n"
			       "secure IN DS 31589 8 2 "
			       "3490A6806D47F17A34C29E2CE80E8A999FFBE4BE1A0DE1C1CEBE6A8F2D1E8E9A\n"
			       "ns1.secure IN A 203.0.113.53\n"
			       "insecure IN NS ns.example.net.\n";

typedef struct sim_key {
	uint32_t id;
	const hsm_key_t *key;
} sim_key_t;

typedef struct sim_opts {
	const char *policy, *module, *token, *zone_file, *origin;
	unsigned years, days; /* days: when given, the run's length instead of years */
	uint64_t start, ez_days, ek_days, alg_days;
	int alg;
	bool quiet;
	bool cycle; /* sign every resign-interval as an update of the last version */
} sim_opts_t;

typedef struct sim_ctx {
	const sim_opts_t *o;
	const kasp_policy_t *policy;
	hsm_token_t *tok;
	const char *zone_path;
	sim_key_t keys[SIM_KEYS_MAX];
	size_t nkeys;
	size_t signings;
	dns_zone_t *prev;     /* --cycle: the last signed version, the next run's base */
	uint32_t prev_serial; /* ... and its serial */
	size_t sigs_new;      /* --cycle: signatures the HSM made over the run */
	size_t sigs_reused;   /* ... and kept from the previous version */
	uint32_t min_left;    /* --cycle: the least validity left by any signature at a run */
} sim_ctx_t;

static void sim_usage(FILE *fp)
{
	fprintf(fp, "usage: tandemctl keys simulate -p POLICY [--years N | --days N] [--cycle]\n"
		    "         [--start UNIXTIME] [--emergency-zsk DAYS] [--emergency-ksk DAYS]\n"
		    "         [--algorithm-rollover DAYS:ALG] [--zone-file FILE -o ORIGIN]\n"
		    "         [--module PATH|P11KIT-NAME] [--token URI] [-q]\n"
		    "Runs the key-state machine on a fake clock from --start (default\n"
		    "2026-01-01) for N years (default 3), generating keys in the HSM, signing\n"
		    "and gating the zone at every event and checking every DS/DNSKEY/RRSIG mix\n"
		    "a resolver may cache. Without --token, a private SoftHSM token is made in\n"
		    "a temporary directory. POLICY is a file, or dps-default (built in).\n"
		    "--cycle also signs every signatures.resign-interval, each run an update of\n"
		    "the last (signatures reused and refreshed, as tandemd does), and checks\n"
		    "the caches against the keys whose signatures the zone really carries.\n"
		    "The last line is 'summary: zsk_rollovers=N ksk_rollovers=M "
		    "validation_failures=F'; the exit code is 0 only when F is 0.\n");
}

static int sim_args(int argc, char **argv, sim_opts_t *o)
{
	enum {
		O_YEARS = 256,
		O_DAYS,
		O_CYCLE,
		O_START,
		O_EZ,
		O_EK,
		O_ALG,
		O_MODULE,
		O_TOKEN,
		O_ZONE
	};
	static const struct option longopts[] = {
	    {"policy", required_argument, NULL, 'p'},
	    {"years", required_argument, NULL, O_YEARS},
	    {"days", required_argument, NULL, O_DAYS},
	    {"cycle", no_argument, NULL, O_CYCLE},
	    {"start", required_argument, NULL, O_START},
	    {"emergency-zsk", required_argument, NULL, O_EZ},
	    {"emergency-ksk", required_argument, NULL, O_EK},
	    {"algorithm-rollover", required_argument, NULL, O_ALG},
	    {"module", required_argument, NULL, O_MODULE},
	    {"token", required_argument, NULL, O_TOKEN},
	    {"zone-file", required_argument, NULL, O_ZONE},
	    {"origin", required_argument, NULL, 'o'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	*o = (sim_opts_t){.years = 3, .start = DEFAULT_START, .alg = -1};
	unsigned long long v = 0;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:o:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': o->policy = optarg; break;
		case 'o': o->origin = optarg; break;
		case 'q': o->quiet = true; break;
		case O_MODULE: o->module = optarg; break;
		case O_TOKEN: o->token = optarg; break;
		case O_ZONE: o->zone_file = optarg; break;
		case O_CYCLE: o->cycle = true; break;
		case O_DAYS:
			if (!keys_uint_parse(optarg, 365 * 50, &v) || v == 0) {
				fprintf(stderr, "%s: --days must be 1 to 18250\n", argv[0]);
				return KEYS_EXIT_USAGE;
			}
			o->days = (unsigned)v;
			break;
		case O_YEARS:
			if (!keys_uint_parse(optarg, 50, &v) || v == 0) {
				fprintf(stderr, "%s: --years must be 1 to 50\n", argv[0]);
				return KEYS_EXIT_USAGE;
			}
			o->years = (unsigned)v;
			break;
		case O_START:
			if (!keys_uint_parse(optarg, 1ull << 40, &v) || v == 0) {
				fprintf(stderr, "%s: --start needs a UNIX time\n", argv[0]);
				return KEYS_EXIT_USAGE;
			}
			o->start = v;
			break;
		case O_EZ:
		case O_EK:
			if (!keys_uint_parse(optarg, 365 * 50, &v) || v == 0) {
				fprintf(stderr, "%s: %s needs a day number (1 or more)\n", argv[0],
					c == O_EZ ? "--emergency-zsk" : "--emergency-ksk");
				return KEYS_EXIT_USAGE;
			}
			*(c == O_EZ ? &o->ez_days : &o->ek_days) = v;
			break;
		case O_ALG: {
			char days[32];
			const char *colon = strchr(optarg, ':');
			size_t n = colon ? (size_t)(colon - optarg) : 0;
			if (colon == NULL || n == 0 || n >= sizeof(days)) {
				fprintf(stderr, "%s: --algorithm-rollover needs DAYS:ALG\n",
					argv[0]);
				return KEYS_EXIT_USAGE;
			}
			memcpy(days, optarg, n);
			days[n] = '\0';
			o->alg = dns_alg_from_str(colon + 1);
			if (!keys_uint_parse(days, 365 * 50, &v) || v == 0 || o->alg < 0) {
				fprintf(stderr,
					"%s: --algorithm-rollover needs DAYS:ALG (e.g. "
					"500:ecdsap256sha256)\n",
					argv[0]);
				return KEYS_EXIT_USAGE;
			}
			o->alg_days = v;
			break;
		}
		case 'h': sim_usage(stdout); return -1;
		default: sim_usage(stderr); return KEYS_EXIT_USAGE;
		}
	}
	if (optind != argc || o->policy == NULL || (o->zone_file != NULL) != (o->origin != NULL)) {
		sim_usage(stderr);
		return KEYS_EXIT_USAGE;
	}
	return KEYS_EXIT_OK;
}

/* ---- a private SoftHSM token in a temporary directory ---- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void random_hex(char *out, size_t bytes)
{
	unsigned char raw[32];
	if (RAND_bytes(raw, (int)bytes) != 1) {
		abort(); /* no randomness at all: nothing sensible to do */
	}
	for (size_t i = 0; i < bytes; i++) {
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	}
	tandem_wipe(raw, sizeof(raw));
}

static bool write_private(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		return false;
	}
	size_t n = strlen(text);
	bool ok = write(fd, text, n) == (ssize_t)n;
	return close(fd) == 0 && ok;
}

/*
 * Makes DIR/softhsm2.conf and one token initialised through the module's
 * C_InitToken/C_InitPIN with random PINs that only ever live in 0600 files
 * (never on a command line), and writes the token's URI to uri.
 */
static int make_token(const char *module, const char *dir, char *uri, size_t uri_size)
{
	char path[600], conf[700], pin[33], so_pin[33], line[40];
	int ret = TANDEM_HSM_ETOKEN;
	void *lib = NULL;
	snprintf(path, sizeof(path), "%s/tokens", dir);
	if (mkdir(path, 0700) != 0) {
		return TANDEM_EIO;
	}
	snprintf(conf, sizeof(conf),
		 "directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
		 "log.level = ERROR\nslots.removable = false\n",
		 dir);
	snprintf(path, sizeof(path), "%s/softhsm2.conf", dir);
	if (!write_private(path, conf)) {
		return TANDEM_EIO;
	}
	setenv("SOFTHSM2_CONF", path, 1);
	random_hex(pin, 16);
	random_hex(so_pin, 16);
	snprintf(line, sizeof(line), "%s\n", pin);
	snprintf(path, sizeof(path), "%s/user.pin", dir);
	if (!write_private(path, line)) {
		ret = TANDEM_EIO;
		goto out;
	}
	snprintf(uri, uri_size, "pkcs11:token=tandem-sim;pin-source=%s", path);
	lib = dlopen(module, RTLD_NOW | RTLD_LOCAL);
	CK_C_GetFunctionList get =
	    lib ? (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList") : NULL;
	CK_FUNCTION_LIST_PTR f = NULL;
	if (get == NULL || get(&f) != CKR_OK || f->C_Initialize(NULL) != CKR_OK) {
		goto out;
	}
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16;
	CK_TOKEN_INFO info;
	if (f->C_GetSlotList(CK_FALSE, slots, &n) != CKR_OK || n == 0 ||
	    f->C_GetTokenInfo(slots[0], &info) != CKR_OK || (info.flags & CKF_TOKEN_INITIALIZED)) {
		f->C_Finalize(NULL);
		goto out;
	}
	CK_UTF8CHAR label[32];
	memset(label, ' ', sizeof(label));
	memcpy(label, "tandem-sim", 10);
	CK_SESSION_HANDLE s;
	if (f->C_InitToken(slots[0], (CK_UTF8CHAR_PTR)so_pin, 32, label) == CKR_OK &&
	    f->C_OpenSession(slots[0], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) ==
		CKR_OK) {
		if (f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)so_pin, 32) == CKR_OK &&
		    f->C_InitPIN(s, (CK_UTF8CHAR_PTR)pin, 32) == CKR_OK) {
			ret = TANDEM_OK;
		}
		f->C_Logout(s);
		f->C_CloseSession(s);
	}
	f->C_Finalize(NULL);
	/* the library stays loaded: SoftHSM is not meant to be unloaded and reloaded */
out:
	tandem_wipe(pin, sizeof(pin));
	tandem_wipe(so_pin, sizeof(so_pin));
	tandem_wipe(line, sizeof(line));
	return ret;
}

static const char *softhsm_path(const char *module)
{
	static const char *const paths[] = {
	    "/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	    "/usr/lib64/pkcs11/libsofthsm2.so", "/usr/local/lib/softhsm/libsofthsm2.so"};
	if (module != NULL && module[0] == '/') {
		return module;
	}
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (access(paths[i], R_OK) == 0) {
			return paths[i];
		}
	}
	return NULL;
}

/* ---- the simulator's callbacks ---- */

static int cb_generate(void *arg, const kasp_action_t *a, uint32_t id, char *label, uint8_t *dnskey,
		       size_t *len)
{
	sim_ctx_t *s = arg;
	tandem_diag_t *diag = NULL;
	const hsm_key_t *key = NULL;
	if (s->nkeys == SIM_KEYS_MAX) {
		return TANDEM_ERANGE;
	}
	int ret = tandem_diag_new(&diag);
	if (ret != TANDEM_OK) {
		return ret;
	}
	char rnd[9];
	random_hex(rnd, 4); /* a fresh label per run, also on a token given with --token */
	snprintf(label, KASP_LABEL_MAX, "sim-%s-%s-%" PRIu32, rnd, kasp_role_str(a->role), id);
	ret = keys_hsm_generate(s->tok, a, label, diag, &key, dnskey, len);
	if (ret != TANDEM_OK) {
		keys_diag_print(diag);
	} else {
		s->keys[s->nkeys++] = (sim_key_t){.id = id, .key = key};
	}
	tandem_diag_free(diag);
	return ret;
}

static const hsm_key_t *hkey(const sim_ctx_t *s, uint32_t id)
{
	for (size_t i = 0; i < s->nkeys; i++) {
		if (s->keys[i].id == id) {
			return s->keys[i].key;
		}
	}
	return NULL;
}

/* The least validity any signature of z has left at now, and the groups of keys that sign
 * the zone's data (not the DNSKEY RRset): one group per distinct set of signers of an
 * RRset, as the cache check wants them (kasp_sim_signers_t). */
static void zone_signers(dns_zone_t *z, const kasp_keyset_t *set, uint64_t now,
			 kasp_sim_signers_t *out, uint32_t *min_left)
{
	uint64_t groups[8];
	size_t ngroups = 0;
	for (int pass = 0; pass < 2; pass++) {
		size_t n = 0;
		dns_node_t *nodes = pass == 0 ? dns_zone_nodes(z, &n) : dns_zone_nsec3_nodes(z, &n);
		for (size_t i = 0; i < n; i++) {
			for (uint16_t r = 0; r < nodes[i].rrset_count; r++) {
				const dns_rrset_t *rs = &nodes[i].rrsets[r];
				uint64_t mask = 0;
				for (uint16_t k = 0; k < rs->sig_count; k++) {
					const uint8_t *d = dns_rdata_data(rs->sigs[k]);
					if (dns_rdata_len(rs->sigs[k]) < 18) {
						continue;
					}
					uint32_t exp = (uint32_t)d[8] << 24 | (uint32_t)d[9] << 16 |
						       (uint32_t)d[10] << 8 | d[11];
					int32_t left = (int32_t)(exp - (uint32_t)now);
					*min_left = left <= 0                    ? 0
						    : (uint32_t)left < *min_left ? (uint32_t)left
										 : *min_left;
					uint16_t tag = (uint16_t)(d[16] << 8 | d[17]);
					for (size_t j = 0; j < set->count && j < 64; j++) {
						mask |= set->keys[j].tag == tag ? 1ull << j : 0;
					}
				}
				bool seen = mask == 0 || rs->type == DNS_TYPE_DNSKEY;
				for (size_t g = 0; g < ngroups && !seen; g++) {
					seen = groups[g] == mask;
				}
				if (!seen && ngroups < sizeof(groups) / sizeof(groups[0])) {
					groups[ngroups++] = mask;
				}
			}
		}
	}
	*out = (kasp_sim_signers_t){.known = true};
	for (size_t g = 0; g < ngroups; g++) {
		for (size_t j = 0; j < set->count && j < 64 && out->n < KASP_SIM_SIGNERS_MAX; j++) {
			if (groups[g] & (1ull << j)) {
				out->group[out->n] = (uint8_t)(g + 1);
				out->ids[out->n++] = set->keys[j].id;
			}
		}
	}
}

static size_t cb_publish(void *arg, const kasp_keyset_t *set, const uint32_t *parent, size_t nds,
			 uint64_t now, tandem_diag_t *diag, kasp_sim_signers_t *signers)
{
	sim_ctx_t *s = arg;
	signer_key_t keys[KASP_KEYS_MAX];
	size_t n = 0;
	tandem_diag_t *ld = NULL;
	pipeline_result_t res;
	pipeline_result_init(&res);
	if (tandem_diag_new(&ld) != TANDEM_OK) {
		return (size_t)-1;
	}
	for (size_t i = 0; i < set->count; i++) {
		const kasp_key_t *k = &set->keys[i];
		kasp_roles_t r;
		kasp_key_roles(k, &r);
		if (!r.in_zone) {
			continue;
		}
		const hsm_key_t *hk = hkey(s, k->id);
		if (hk == NULL) {
			tandem_diag_add(ld, TANDEM_EINTERNAL, "key %u is not in the HSM", k->id);
			keys_diag_print(ld);
			tandem_diag_free(ld);
			return (size_t)-1;
		}
		keys[n++] = (signer_key_t){.key = hk,
					   .ksk = r.ksk,
					   .zsk = r.zsk,
					   .sep = r.sep,
					   .unpublished = !r.published};
	}
	/* the gate's trust anchor is the DS set the simulated parent serves */
	pipeline_req_t req = {.kind = PIPELINE_FULL,
			      .input = s->zone_path,
			      .load = {.origin = s->o->origin ? s->o->origin : "example."},
			      .keys = {.keys = keys, .nkeys = n, .token = s->tok},
			      .cds_keys = kasp_keyset_cds_pending(set) ? set : NULL,
			      .cds_ttl = s->policy->ttl_dnskey,
			      .ds_keys = set,
			      .ds_ids = parent,
			      .ds_nids = nds,
			      .gate_threads = 1,
			      .gate_diag = diag};
	pipeline_signer_conf(s->policy, now, &req.conf);
	req.conf.nsec3_salt_len = 0; /* the simulator has no salt to keep between runs */
	req.conf.serial_mode = TANDEM_SERIAL_INCREMENT;
	uint16_t replace[KASP_KEYS_MAX];
	for (size_t i = 0; i < set->count && req.conf.replace_count < KASP_KEYS_MAX; i++) {
		if (set->keys[i].compromised) {
			/* as tandemd: an emergency keeps none of the key's signatures */
			replace[req.conf.replace_count++] = set->keys[i].tag;
		}
	}
	req.conf.replace_tags = replace;
	if (s->o->cycle && s->prev != NULL) {
		/* as tandemd: an update of the last version, above its serial */
		req.kind = PIPELINE_UPDATE;
		req.previous = s->prev;
		req.has_committed = true;
		req.committed = s->prev_serial;
	}
	size_t failures = (size_t)-1;
	int ret = pipeline_run(&req, &res, ld);
	if (res.stage == PIPELINE_STAGE_GATE || ret == TANDEM_OK) {
		failures = ret == TANDEM_OK ? 0 : res.gate.failures;
		s->signings++;
		s->sigs_new += res.sign.rrsigs_new + res.sign.rrsigs_refreshed;
		s->sigs_reused += res.sign.rrsigs_reused;
		if (s->o->cycle && ret == TANDEM_OK) {
			dns_zone_free(s->prev);
			s->prev = pipeline_result_zone_take(&res);
			s->prev_serial = res.serial;
			zone_signers(s->prev, set, now, signers, &s->min_left);
		}
	} else {
		keys_diag_print(ld);
	}
	pipeline_result_deinit(&res);
	tandem_diag_free(ld);
	return failures;
}

static void cb_line(void *arg, const char *text)
{
	const sim_ctx_t *s = arg;
	if (!s->o->quiet) {
		printf("%s\n", text);
	}
}

int tandemctl_keys_simulate(int argc, char **argv)
{
	sim_opts_t o;
	int code = sim_args(argc, argv, &o);
	if (code != KEYS_EXIT_OK) {
		return code < 0 ? KEYS_EXIT_OK : code;
	}
	tandem_diag_t *diag = NULL;
	hsm_module_t *mod = NULL;
	hsm_token_t *tok = NULL;
	sim_ctx_t *s = calloc(1, sizeof(*s));
	char tmp[300] = "", zpath[400], uri[800];
	kasp_policy_t policy;
	code = KEYS_EXIT_INPUT;
	if (s == NULL || tandem_diag_new(&diag) != TANDEM_OK) {
		goto out;
	}
	if (keys_policy_load(o.policy, diag, &policy) != TANDEM_OK) {
		keys_diag_print(diag);
		fprintf(stderr, "%s: policy %s refused\n", argv[0], o.policy);
		goto out;
	}
	const char *base = getenv("TMPDIR");
	snprintf(tmp, sizeof(tmp), "%s/tandem-sim-XXXXXX", base && *base ? base : "/tmp");
	if (mkdtemp(tmp) == NULL) {
		perror(tmp);
		tmp[0] = '\0';
		code = KEYS_EXIT_IO;
		goto out;
	}
	const char *src = getenv("TANDEM_SRCDIR");
	if (o.zone_file != NULL) {
		snprintf(zpath, sizeof(zpath), "%s", o.zone_file);
	} else if (src != NULL && snprintf(zpath, sizeof(zpath), "%s/conf/example.zone", src) > 0 &&
		   access(zpath, R_OK) == 0) {
		/* the repository's example zone */
	} else {
		snprintf(zpath, sizeof(zpath), "%s/example.zone", tmp);
		FILE *fp = fopen(zpath, "w");
		if (fp == NULL || fputs(sim_zone, fp) < 0 || fclose(fp) != 0) {
			perror(zpath);
			code = KEYS_EXIT_IO;
			goto out;
		}
	}
	code = KEYS_EXIT_HSM;
	if (o.token != NULL) {
		snprintf(uri, sizeof(uri), "%s", o.token);
	} else {
		const char *lib = softhsm_path(o.module);
		if (lib == NULL || make_token(lib, tmp, uri, sizeof(uri)) != TANDEM_OK) {
			fprintf(stderr,
				"%s: cannot make a SoftHSM token in %s (give --module PATH "
				"or --token URI)\n",
				argv[0], tmp);
			goto out;
		}
	}
	if (keys_hsm_open(o.module, uri, 1, diag, &mod, &tok) != TANDEM_OK) {
		keys_diag_print(diag);
		fprintf(stderr, "%s: cannot open the token\n", argv[0]);
		goto out;
	}
	*s = (sim_ctx_t){
	    .o = &o, .policy = &policy, .tok = tok, .zone_path = zpath, .min_left = UINT32_MAX};
	kasp_sim_conf_t conf = {
	    .zone = o.origin ? o.origin : "example.",
	    .policy = &policy,
	    .start = o.start,
	    .end = o.start + (o.days ? (uint64_t)o.days : (uint64_t)o.years * 365) * DAY,
	    .cycle = o.cycle ? policy.resign_interval : 0,
	    .emergency_zsk = o.ez_days ? o.start + o.ez_days * DAY : 0,
	    .emergency_ksk = o.ek_days ? o.start + o.ek_days * DAY : 0,
	    .algorithm_at = o.alg_days ? o.start + o.alg_days * DAY : 0,
	    .algorithm = o.alg > 0 ? (uint8_t)o.alg : 0,
	};
	kasp_sim_ops_t ops = {
	    .arg = s, .generate = cb_generate, .publish = cb_publish, .line = cb_line};
	printf("simulate: policy %s, zone %s, %" PRIu64 " days from %" PRIu64 "%s, token %s\n",
	       policy.name, conf.zone, (conf.end - conf.start) / DAY, o.start,
	       o.cycle ? ", signed every resign-interval as updates" : "",
	       o.token ? "given" : "private SoftHSM");
	kasp_sim_result_t r;
	tandem_diag_clear(diag);
	int ret = kasp_sim_run(&conf, &ops, diag, &r);
	if (ret != TANDEM_OK) {
		keys_diag_print(diag);
		fprintf(stderr, "%s: the simulation stopped: %s\n", argv[0], tandem_strerror(ret));
		code = ret == TANDEM_HSM_EGEN ? KEYS_EXIT_HSM : KEYS_EXIT_REFUSED;
		goto out;
	}
	size_t failures = r.gate_failures + r.cache_failures;
	printf("keys generated: %zu, events signed and checked: %zu, gate failures: %zu, cache "
	       "failures: %zu\n",
	       r.keys, r.events, r.gate_failures, r.cache_failures);
	if (o.cycle) {
		printf("signatures: %zu made, %zu reused; least validity left at any run: %" PRIu32
		       " s\n",
		       s->sigs_new, s->sigs_reused, s->min_left);
	}
	printf("summary: zsk_rollovers=%u ksk_rollovers=%u validation_failures=%zu\n",
	       r.zsk_rollovers, r.ksk_rollovers, failures);
	code = failures == 0 ? KEYS_EXIT_OK : KEYS_EXIT_REFUSED;
out:
	if (s != NULL) {
		dns_zone_free(s->prev);
	}
	hsm_token_close(tok);
	hsm_module_free(mod);
	if (tmp[0] != '\0') {
		nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
	tandem_diag_free(diag);
	free(s);
	return code;
}
