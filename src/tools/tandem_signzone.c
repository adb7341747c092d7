/* tandem-signzone: sign a zone file in one shot through the HSM, gate it, write it atomically. */
#include "crypto.h"
#include "tandem_clock.h"
#include "dns_zone.h"
#include "dns_zone_copy.h"
#include "hsm.h"
#include "kasp_policy.h"
#include "kasp_skr.h"
#include "pipeline.h"
#include "signer.h"
#include "tandem_arena.h"
#include "tandem_error.h"
#include "tandem_file.h"
#include "verify.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

/* Exit codes (docs/signzone.md). */
enum {
	EXIT_OK = 0,
	EXIT_USAGE = 1,
	EXIT_INPUT = 2,  /* the zone, policy or DS file was refused */
	EXIT_HSM = 3,    /* module, token, PIN or key problem */
	EXIT_GATE = 4,   /* the signed zone failed verification */
	EXIT_OUTPUT = 5, /* the output could not be written */
	EXIT_SIGN = 6,   /* signing failed */
};

#define MAX_KEYS 8

typedef struct opts {
	const char *origin, *policy, *module, *out, *in, *verify_only, *ds_file, *skr;
	const char *previous; /* --previous SIGNED: reuse its signatures */
	uint64_t skr_margin;  /* seconds */
	const char *ksk[MAX_KEYS], *zsk[MAX_KEYS];
	size_t nksk, nzsk;
	int denial; /* -1: policy */
	int alg;    /* -1: policy */
	unsigned ksk_bits, zsk_bits, threads;
	uint64_t now;
	bool has_now, gen_keys, verbose;
	bool gate_full;          /* --gate-full: the whole zone even with --previous */
	unsigned cycles;         /* --cycles N: N - 1 more update runs on the result in memory */
	const char *cycle_input; /* --cycle-input FILE: what the runs after the first sign */
	bool hold_input;         /* --hold-input: the runs after the first sign copies of the
				    arrays of their input, parsed once and held (as tandemd) */
} opts_t;

static void usage(FILE *fp)
{
	fprintf(
	    fp,
	    "usage: tandem-signzone -o ORIGIN [-p POLICY.yaml] [--nsec3 | --nsec]\n"
	    "         [-a rsasha256|rsasha512|ecdsap256sha256|ecdsap384sha384|ed25519]\n"
	    "         [--ksk-bits N] [--zsk-bits N] [-j THREADS] [--now UNIXTIME]\n"
	    "         [--module PATH|P11KIT-NAME] --ksk URI --zsk URI [--gen-keys]\n"
	    "         [--ds DSFILE] [--previous SIGNED [--gate-full]] [--cycles N]\n"
	    "         [--cycle-input IN2] [--hold-input] [-v] -f OUT IN\n"
	    "       tandem-signzone -o ORIGIN ... --skr SKR [--skr-margin DURATION] --zsk URI\n"
	    "                       [--ds DSFILE] -f OUT IN     (offline KSK: no --ksk)\n"
	    "       tandem-signzone -o ORIGIN --verify-only SIGNED [--ds DSFILE] [--now UNIXTIME]\n"
	    "                       [-j THREADS] [-v]\n"
	    "Keys are PKCS#11 URIs: pkcs11:token=T;object=LABEL;pin-source=FILE\n"
	    "(the PIN comes from pin-source or the TANDEM_PIN environment variable).\n");
}

static void print_diag(const tandem_diag_t *diag)
{
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		fprintf(stderr, "%s\n", tandem_diag_msg(diag, i));
	}
	if (tandem_diag_count(diag) > tandem_diag_kept(diag)) {
		fprintf(stderr, "... and %zu more\n",
			tandem_diag_count(diag) - tandem_diag_kept(diag));
	}
}

static bool parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end = NULL;
	if (s == NULL || *s == '\0' || *s == '-') {
		return false;
	}
	unsigned long long v = strtoull(s, &end, 10);
	if (*end != '\0' || v > max) {
		return false;
	}
	*out = v;
	return true;
}

/* "3d", "72h", "90m", "30s" or seconds, at most 90 days. */
static bool parse_duration(const char *s, uint64_t *out)
{
	char *end = NULL;
	if (s == NULL || *s < '0' || *s > '9') {
		return false;
	}
	unsigned long long v = strtoull(s, &end, 10);
	unsigned long long unit = 1;
	if (*end != '\0') {
		unit = *end == 'd' ? 86400 : *end == 'h' ? 3600 : *end == 'm' ? 60 : *end == 's';
		if (unit == 0 || end[1] != '\0') {
			return false;
		}
	}
	if (v > 90ull * 86400 / unit) {
		return false;
	}
	*out = v * unit;
	return true;
}

static int parse_args(int argc, char **argv, opts_t *o)
{
	enum {
		O_NSEC3 = 256,
		O_NSEC,
		O_KSKBITS,
		O_ZSKBITS,
		O_NOW,
		O_MODULE,
		O_KSK,
		O_ZSK,
		O_GEN,
		O_VERIFY,
		O_DS,
		O_SKR,
		O_SKR_MARGIN,
		O_PREVIOUS,
		O_GATE_FULL,
		O_CYCLES,
		O_CYCLE_INPUT,
		O_HOLD_INPUT
	};
	static const struct option longopts[] = {
	    {"origin", required_argument, NULL, 'o'},
	    {"policy", required_argument, NULL, 'p'},
	    {"nsec3", no_argument, NULL, O_NSEC3},
	    {"nsec", no_argument, NULL, O_NSEC},
	    {"algorithm", required_argument, NULL, 'a'},
	    {"ksk-bits", required_argument, NULL, O_KSKBITS},
	    {"zsk-bits", required_argument, NULL, O_ZSKBITS},
	    {"threads", required_argument, NULL, 'j'},
	    {"now", required_argument, NULL, O_NOW},
	    {"module", required_argument, NULL, O_MODULE},
	    {"ksk", required_argument, NULL, O_KSK},
	    {"zsk", required_argument, NULL, O_ZSK},
	    {"gen-keys", no_argument, NULL, O_GEN},
	    {"verify-only", required_argument, NULL, O_VERIFY},
	    {"ds", required_argument, NULL, O_DS},
	    {"skr", required_argument, NULL, O_SKR},
	    {"skr-margin", required_argument, NULL, O_SKR_MARGIN},
	    {"previous", required_argument, NULL, O_PREVIOUS},
	    {"gate-full", no_argument, NULL, O_GATE_FULL},
	    {"cycles", required_argument, NULL, O_CYCLES},
	    {"cycle-input", required_argument, NULL, O_CYCLE_INPUT},
	    {"hold-input", no_argument, NULL, O_HOLD_INPUT},
	    {"out", required_argument, NULL, 'f'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof(*o));
	o->denial = -1;
	o->alg = -1;
	o->skr_margin = 3 * 86400;
	int c;
	unsigned long long v;
	while ((c = getopt_long(argc, argv, "o:p:a:j:f:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': o->origin = optarg; break;
		case 'p': o->policy = optarg; break;
		case O_NSEC3: o->denial = SIGNER_DENIAL_NSEC3; break;
		case O_NSEC: o->denial = SIGNER_DENIAL_NSEC; break;
		case 'a':
			o->alg = dns_alg_from_str(optarg);
			if (o->alg < 0) {
				fprintf(stderr, "tandem-signzone: unknown algorithm '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case O_KSKBITS:
		case O_ZSKBITS:
			if (!parse_uint(optarg, 4096, &v) || v < 1024) {
				fprintf(stderr, "tandem-signzone: key size must be 1024..4096\n");
				return EXIT_USAGE;
			}
			*(c == O_KSKBITS ? &o->ksk_bits : &o->zsk_bits) = (unsigned)v;
			break;
		case 'j':
			if (!parse_uint(optarg, 64, &v) || v == 0) {
				fprintf(stderr, "tandem-signzone: -j takes 1..64\n");
				return EXIT_USAGE;
			}
			o->threads = (unsigned)v;
			break;
		case O_NOW:
			if (!parse_uint(optarg, UINT32_MAX, &v)) {
				fprintf(stderr, "tandem-signzone: --now takes a UNIX time\n");
				return EXIT_USAGE;
			}
			o->now = v;
			o->has_now = true;
			break;
		case O_MODULE: o->module = optarg; break;
		case O_KSK:
		case O_ZSK: {
			size_t *n = c == O_KSK ? &o->nksk : &o->nzsk;
			if (*n == MAX_KEYS) {
				fprintf(stderr, "tandem-signzone: at most %d keys per role\n",
					MAX_KEYS);
				return EXIT_USAGE;
			}
			(c == O_KSK ? o->ksk : o->zsk)[(*n)++] = optarg;
			break;
		}
		case O_GEN: o->gen_keys = true; break;
		case O_VERIFY: o->verify_only = optarg; break;
		case O_DS: o->ds_file = optarg; break;
		case O_SKR: o->skr = optarg; break;
		case O_SKR_MARGIN:
			if (!parse_duration(optarg, &o->skr_margin)) {
				fprintf(stderr, "tandem-signzone: --skr-margin takes N[dhms] (at "
						"most 90d)\n");
				return EXIT_USAGE;
			}
			break;
		case O_PREVIOUS: o->previous = optarg; break;
		case O_GATE_FULL: o->gate_full = true; break;
		case O_CYCLE_INPUT: o->cycle_input = optarg; break;
		case O_HOLD_INPUT: o->hold_input = true; break;
		case O_CYCLES: {
			char *end = NULL;
			unsigned long n = strtoul(optarg, &end, 10);
			if (end == optarg || *end != '\0' || n < 1 || n > 100) {
				fprintf(stderr, "tandem-signzone: --cycles takes 1 to 100\n");
				return EXIT_USAGE;
			}
			o->cycles = (unsigned)n;
			break;
		}
		case 'f': o->out = optarg; break;
		case 'v': o->verbose = true; break;
		case 'h': usage(stdout); exit(EXIT_OK);
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (o->origin == NULL) {
		fprintf(stderr, "tandem-signzone: -o ORIGIN is required\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (o->verify_only != NULL) {
		if (optind != argc) {
			usage(stderr);
			return EXIT_USAGE;
		}
		return EXIT_OK;
	}
	if (o->skr != NULL && (o->nksk != 0 || o->gen_keys)) {
		fprintf(stderr, "tandem-signzone: with --skr the KSK is offline: no --ksk and no "
				"--gen-keys\n");
		return EXIT_USAGE;
	}
	if (optind + 1 != argc || o->out == NULL || (o->nksk == 0 && o->skr == NULL) ||
	    o->nzsk == 0) {
		fprintf(stderr, "tandem-signzone: need --ksk (or --skr), --zsk, -f OUT and one "
				"input file\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((o->cycle_input != NULL || o->hold_input) && o->cycles < 2) {
		fprintf(stderr, "tandem-signzone: --%s needs --cycles 2 or more\n",
			o->cycle_input != NULL ? "cycle-input" : "hold-input");
		return EXIT_USAGE;
	}
	o->in = argv[optind];
	return EXIT_OK;
}

/* The signing configuration from a policy, then the command line's overrides. */
static void conf_from_policy(const kasp_policy_t *p, const opts_t *o, signer_conf_t *c)
{
	pipeline_signer_conf(p, o->has_now ? o->now : (uint64_t)time(NULL), c);
	if (o->denial >= 0) {
		c->denial = (signer_denial_t)o->denial;
	}
	c->threads = o->threads ? o->threads : 1;
}

static const char *utc_str(uint64_t t, char buf[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, 32, tm.tm_sec == 0 ? "%Y-%m-%dT%H:%MZ" : "%Y-%m-%dT%H:%M:%SZ", &tm) ==
		0) {
		snprintf(buf, 32, "%llu", (unsigned long long)t);
	}
	return buf;
}

static const char *duration_str(uint64_t d, char buf[32])
{
	if (d % 86400 == 0) {
		snprintf(buf, 32, "%llud", (unsigned long long)(d / 86400));
	} else if (d % 3600 == 0) {
		snprintf(buf, 32, "%lluh", (unsigned long long)(d / 3600));
	} else if (d % 60 == 0) {
		snprintf(buf, 32, "%llum", (unsigned long long)(d / 60));
	} else {
		snprintf(buf, 32, "%llus", (unsigned long long)d);
	}
	return buf;
}

/*
 * Offline KSK (--skr): the pre-signed DNSKEY RRset and RRSIGs of the slot that
 * covers the signing time go into conf. Publication stops (EXIT_GATE) when no
 * slot covers now + margin, so the next SKR is fetched well before it is
 * needed; within twice the margin a warning says so. Returns an exit code.
 */
static int skr_apply(const opts_t *o, tandem_arena_t *arena, tandem_diag_t *diag,
		     signer_conf_t *conf)
{
	int code = EXIT_INPUT;
	char *buf = NULL;
	size_t len = 0;
	kasp_skr_t *skr = NULL;
	char t1[32], t2[32];
	int ret = tandem_file_read(o->skr, KASP_SKR_FILE_MAX, &buf, &len);
	if (ret != TANDEM_OK) {
		fprintf(stderr, "tandem-signzone: --skr %s: %s\n", o->skr, tandem_strerror(ret));
		goto out;
	}
	ret = kasp_skr_decode((const uint8_t *)buf, len, true, diag, &skr);
	if (ret != TANDEM_OK) {
		print_diag(diag);
		fprintf(stderr, "tandem-signzone: --skr %s refused\n", o->skr);
		goto out;
	}
	uint8_t a[DNS_NAME_MAXLEN], b[DNS_NAME_MAXLEN];
	size_t al = 0, bl = 0;
	if (dns_name_from_str(o->origin, (const uint8_t *)"", a, &al) != TANDEM_OK ||
	    dns_name_from_str(skr->zone, NULL, b, &bl) != TANDEM_OK || al != bl ||
	    memcmp(a, b, al) != 0) {
		fprintf(stderr, "tandem-signzone: --skr %s is for zone %s, not %s\n", o->skr,
			skr->zone, o->origin);
		goto out;
	}
	code = EXIT_GATE;
	uint64_t now = conf->now, first = skr->slots[0].start;
	uint64_t last = skr->slots[skr->nslots - 1].end;
	const kasp_skr_slot_t *slot = kasp_skr_slot_at(skr, now);
	if (slot == NULL) {
		fprintf(stderr,
			now < first ? "tandem-signzone: SKR starts %s, after the signing time: "
				      "no pre-signed DNSKEY RRset for %s\n"
				    : "tandem-signzone: SKR ended %s: no pre-signed DNSKEY RRset "
				      "for %s: get the next SKR signed\n",
			utc_str(now < first ? first : last, t1), utc_str(now, t2));
		fprintf(stderr, "tandem-signzone: nothing published; %s left untouched\n", o->out);
		goto out;
	}
	if (kasp_skr_slot_at(skr, now + o->skr_margin) == NULL) {
		fprintf(stderr,
			"tandem-signzone: SKR ends %s, within the %s margin: get the next SKR "
			"signed\n",
			utc_str(last, t1), duration_str(o->skr_margin, t2));
		fprintf(stderr, "tandem-signzone: nothing published; %s left untouched\n", o->out);
		goto out;
	}
	if (now + 2 * o->skr_margin >= last) {
		fprintf(stderr,
			"tandem-signzone: warning: SKR ends %s, within twice the %s margin: get "
			"the next SKR signed soon\n",
			utc_str(last, t1), duration_str(o->skr_margin, t2));
	}
	code = EXIT_INPUT;
	if (pipeline_skr_presign(skr, now, arena, conf, &slot) != TANDEM_OK) {
		goto out;
	}
	if (o->verbose) {
		fprintf(stderr, "skr: slot %s .. %s, %zu DNSKEYs, %zu RRSIGs\n",
			utc_str(slot->start, t1), utc_str(slot->end, t2), slot->nkeys, slot->nsigs);
	}
	code = EXIT_OK;
out:
	kasp_skr_free(skr);
	free(buf);
	return code;
}

static int load_ds(const opts_t *o, tandem_arena_t *arena, tandem_diag_t *diag, verify_conf_t *vc,
		   const uint8_t ***list)
{
	if (o->ds_file == NULL) {
		return TANDEM_OK;
	}
	size_t n = 0;
	int ret = dns_rdata_load_file(o->ds_file, o->origin, DNS_TYPE_DS, arena, diag, list, &n);
	if (ret == TANDEM_OK && n == 0) {
		tandem_diag_add(diag, TANDEM_DNS_EPARSE, "%s: no DS records for %s", o->ds_file,
				o->origin);
		ret = TANDEM_DNS_EPARSE;
	}
	if (ret == TANDEM_OK) {
		vc->ds = *list;
		vc->ds_count = n;
	}
	return ret;
}

static int report_gate(int ret, const verify_stats_t *vs, tandem_diag_t *diag, const char *what)
{
	print_diag(diag);
	if (ret != TANDEM_OK) {
		fprintf(stderr, "tandem-signzone: %s failed verification: %zu problem(s)\n", what,
			vs->failures ? vs->failures : tandem_diag_count(diag));
		return EXIT_GATE;
	}
	return EXIT_OK;
}

static int verify_only(const opts_t *o)
{
	int code = EXIT_INPUT;
	tandem_diag_t *diag = NULL;
	dns_zone_t *zone = NULL;
	tandem_arena_t *arena = NULL;
	const uint8_t **ds = NULL;
	if (tandem_diag_new(&diag) != TANDEM_OK || tandem_arena_new(0, &arena) != TANDEM_OK) {
		goto out;
	}
	double t0 = tandem_mono_s();
	dns_load_opts_t lo = {.origin = o->origin, .keep_dnssec = true};
	int ret = dns_zone_load(o->verify_only, &lo, diag, &zone);
	if (ret != TANDEM_OK) {
		print_diag(diag);
		fprintf(stderr, "tandem-signzone: %s refused: %s\n", o->verify_only,
			tandem_strerror(ret));
		goto out;
	}
	tandem_diag_clear(diag); /* load warnings (occlusion) are not gate failures */
	verify_conf_t vc = {.now = o->has_now ? o->now : (uint64_t)time(NULL),
			    .threads = o->threads ? o->threads : 1};
	if (load_ds(o, arena, diag, &vc, &ds) != TANDEM_OK) {
		print_diag(diag);
		goto out;
	}
	double t1 = tandem_mono_s();
	verify_stats_t vs = {0};
	ret = verify_zone(zone, &vc, diag, &vs);
	code = report_gate(ret, &vs, diag, o->verify_only);
	if (o->verbose) {
		fprintf(
		    stderr, "timing: load=%.3f gate=%.3f total=%.3f rrsets=%zu signatures=%zu\n",
		    t1 - t0, tandem_mono_s() - t1, tandem_mono_s() - t0, vs.rrsets, vs.signatures);
	}
	if (code == EXIT_OK) {
		printf("%s: verified (%zu RRsets, %zu signatures, %zu denial records)\n",
		       o->verify_only, vs.rrsets, vs.signatures, vs.denial_records);
	}
out:
	free(ds);
	dns_zone_free(zone);
	tandem_arena_free(arena);
	tandem_diag_free(diag);
	return code;
}

/*
 * --previous SIGNED: the previously signed version, loaded with its DNSSEC records, for
 * the signer to reuse its signatures. Its NSEC3 salt is kept when the policy's salt
 * length and iterations match (a new random salt would re-sign everything), and the new
 * serial must be above its serial (unless the serial mode is keep). Only signatures that
 * verify are worth keeping: a previous version that fails the gate at now (vc) is not used
 * (a warning, *out NULL: signing in full).
 */
static int load_previous(const opts_t *o, const verify_conf_t *vc, signer_conf_t *conf,
			 tandem_diag_t *diag, dns_zone_t **out)
{
	dns_zone_t *prev = NULL;
	dns_load_opts_t lo = {.origin = o->origin, .keep_dnssec = true};
	int ret = dns_zone_load(o->previous, &lo, diag, &prev);
	if (ret != TANDEM_OK) {
		return ret;
	}
	tandem_diag_clear(diag); /* load warnings (occlusion) are not gate failures */
	if (verify_zone(prev, vc, diag, NULL) != TANDEM_OK) {
		fprintf(stderr,
			"tandem-signzone: warning: previous version %s fails the gate (%s): "
			"signing in full\n",
			o->previous,
			tandem_diag_kept(diag) > 0 ? tandem_diag_msg(diag, 0) : "no detail");
		dns_zone_free(prev);
		*out = NULL;
		return TANDEM_OK;
	}
	dns_node_t *apex = dns_zone_apex(prev);
	dns_rrset_t *param = apex != NULL ? dns_node_rrset(apex, DNS_TYPE_NSEC3PARAM) : NULL;
	if (conf->denial == SIGNER_DENIAL_NSEC3 && param != NULL && param->count == 1) {
		const uint8_t *rd = dns_rdata_data(param->rdata[0]);
		uint16_t len = dns_rdata_len(param->rdata[0]);
		if (len >= 5 && len == 5u + rd[4] && rd[4] == conf->nsec3_salt_len &&
		    ((rd[2] << 8) | rd[3]) == conf->nsec3_iterations) {
			memcpy(conf->nsec3_salt, rd + 5, rd[4]);
		}
	}
	dns_rrset_t *soa = apex != NULL ? dns_node_rrset(apex, DNS_TYPE_SOA) : NULL;
	if (soa != NULL && soa->count == 1 && dns_rdata_len(soa->rdata[0]) >= 20 &&
	    conf->serial_mode != TANDEM_SERIAL_KEEP) {
		const uint8_t *f = soa->rdata[0] + 2 + dns_rdata_len(soa->rdata[0]) - 20;
		conf->serial_floor =
		    ((uint32_t)f[0] << 24) | ((uint32_t)f[1] << 16) | ((uint32_t)f[2] << 8) | f[3];
		conf->has_serial_floor = true;
	}
	*out = prev;
	return TANDEM_OK;
}

/* Finds (or with --gen-keys makes) the keys named by the URIs. */
static int get_keys(const opts_t *o, hsm_token_t *token, const kasp_policy_t *p, int alg,
		    tandem_diag_t *diag, signer_key_t *keys, size_t *nkeys)
{
	size_t n = 0;
	for (int role = 0; role < 2; role++) {
		const char *const *uris = role == 0 ? o->ksk : o->zsk;
		size_t count = role == 0 ? o->nksk : o->nzsk;
		for (size_t i = 0; i < count; i++) {
			hsm_uri_t *uri = NULL;
			const hsm_key_t *key = NULL;
			int ret = hsm_uri_parse(uris[i], diag, &uri);
			if (ret != TANDEM_OK) {
				return ret;
			}
			tandem_diag_t *probe = NULL;
			tandem_diag_new(&probe);
			ret = hsm_token_find_key(token, uri, probe, &key);
			if (ret == TANDEM_HSM_EKEY && o->gen_keys && hsm_uri_object(uri) != NULL &&
			    tandem_diag_count(probe) <= 1) {
				const kasp_key_policy_t *kp = role == 0 ? &p->ksk : &p->zsk;
				unsigned bits = role == 0 ? o->ksk_bits : o->zsk_bits;
				hsm_keyspec_t spec = {.algorithm = (uint8_t)alg,
						      .bits = bits ? bits : kp->bits};
				if (spec.bits == 0) {
					spec.bits = role == 0 ? 2048 : 1024;
				}
				ret = hsm_token_generate_key(token, uri, &spec, diag, &key);
			} else if (ret != TANDEM_OK) {
				for (size_t k = 0; k < tandem_diag_kept(probe); k++) {
					tandem_diag_add(diag, tandem_diag_code(probe, k), "%s",
							tandem_diag_msg(probe, k));
				}
			}
			tandem_diag_free(probe);
			hsm_uri_free(uri);
			if (ret != TANDEM_OK) {
				return ret;
			}
			if (hsm_key_algorithm(key) != alg) {
				tandem_diag_add(diag, TANDEM_SIGNER_ECONF,
						"key %s has algorithm %u, the policy wants %d",
						hsm_key_label(key), hsm_key_algorithm(key), alg);
				return TANDEM_SIGNER_ECONF;
			}
			keys[n++] = (signer_key_t){.key = key, .ksk = role == 0, .zsk = role == 1};
		}
	}
	*nkeys = n;
	return TANDEM_OK;
}

/* All keys must be on one token: the first KSK URI names it (with --skr, the first ZSK's). */
static int open_token(const opts_t *o, hsm_module_t *module, tandem_diag_t *diag,
		      hsm_token_t **token)
{
	hsm_uri_t *uri = NULL;
	int ret = hsm_uri_parse(o->nksk > 0 ? o->ksk[0] : o->zsk[0], diag, &uri);
	if (ret != TANDEM_OK) {
		return ret;
	}
	ret = hsm_token_open(module, uri, NULL, o->threads ? o->threads : 1, diag, token);
	hsm_uri_free(uri);
	return ret;
}

/* The HSM side of a run, opened by the pipeline once the input loaded. */
typedef struct keys_ctx {
	const opts_t *o;
	const kasp_policy_t *policy;
	int alg;
	hsm_module_t *module;
	hsm_token_t *token;
	signer_key_t keys[2 * MAX_KEYS];
	size_t nkeys;
} keys_ctx_t;

static int open_keys(void *arg, pipeline_keys_t *out, tandem_diag_t *diag)
{
	keys_ctx_t *k = arg;
	size_t n = 0;
	int ret = hsm_module_load(k->o->module, diag, &k->module);
	if (ret == TANDEM_OK) {
		ret = open_token(k->o, k->module, diag, &k->token);
	}
	if (ret == TANDEM_OK) {
		ret = get_keys(k->o, k->token, k->policy, k->alg, diag, k->keys, &n);
	}
	if (ret == TANDEM_OK) {
		*out = (pipeline_keys_t){.keys = k->keys, .nkeys = n, .token = k->token};
		k->nkeys = n;
	}
	return ret;
}

/* What a failed run says, and its exit code. */
static int report_run(const opts_t *o, int ret, const pipeline_result_t *res, tandem_diag_t *diag)
{
	switch (res->stage) {
	case PIPELINE_STAGE_LOAD:
		print_diag(diag);
		fprintf(stderr, "tandem-signzone: %s refused: %s; %s left untouched\n", o->in,
			tandem_strerror(ret), o->out);
		return EXIT_INPUT;
	case PIPELINE_STAGE_KEYS:
		print_diag(diag);
		fprintf(stderr, "tandem-signzone: %s\n", tandem_strerror(ret));
		return EXIT_HSM;
	case PIPELINE_STAGE_SERIAL:
	case PIPELINE_STAGE_SIGN:
		print_diag(diag);
		fprintf(stderr, "tandem-signzone: signing failed: %s; %s left untouched\n",
			tandem_strerror(ret), o->out);
		return EXIT_SIGN;
	case PIPELINE_STAGE_GATE:
		report_gate(ret, &res->gate, diag, "signed zone");
		fprintf(stderr, "tandem-signzone: %s left untouched\n", o->out);
		return EXIT_GATE;
	default:
		errno = res->sys_errno;
		perror(o->out);
		return EXIT_OUTPUT;
	}
}

/* With -v: the run's stage times and counts (a "cycle N: " prefix from the second run on). */
static void print_timing(const opts_t *o, const pipeline_req_t *req, const pipeline_result_t *res,
			 double commit_s, unsigned cycle)
{
	if (!o->verbose) {
		return;
	}
	char pre[32] = "", digest[32] = "", pair[32] = "";
	if (cycle > 1) {
		snprintf(pre, sizeof(pre), "cycle %u: ", cycle);
	}
	if (req->digest) {
		snprintf(digest, sizeof(digest), " digest=%.3f", res->seconds_digest);
	}
	if (res->paired) {
		/* before the gate and the digest, which share it */
		snprintf(pair, sizeof(pair), " pair=%.3f", res->seconds_pair);
	}
	fprintf(stderr,
		"%stiming: load=%.3f keys=%.3f prepare=%.3f sign=%.3f%s gate=%.3f "
		"write=%.3f%s total=%.3f\n",
		pre, res->seconds_load, res->seconds_keys, res->sign.seconds_prepare,
		res->sign.seconds_sign, pair, res->seconds_gate, res->seconds_write, digest,
		res->seconds_total + commit_s);
	fprintf(stderr, "%ssigned: serial=%u rrsets=%zu signatures=%zu denial=%zu threads=%u\n",
		pre, res->serial, res->sign.rrsets_signed, res->sign.signatures,
		res->sign.nsec_records, req->conf.threads);
	fprintf(stderr, "%srrsigs: new=%zu reused=%zu refreshed=%zu\n", pre, res->sign.rrsigs_new,
		res->sign.rrsigs_reused, res->sign.rrsigs_refreshed);
	fprintf(stderr, "%snsec3: hashed=%zu kept=%zu\n", pre, res->sign.nsec3_hashed,
		res->sign.nsec3_kept);
	fprintf(stderr, "%sgate: %s verified=%zu signatures=%zu changed=%zu\n", pre,
		res->gate.incremental ? "incremental" : "full", res->gate.verified,
		res->gate.signatures, res->gate.changed);
}

static int sign(const opts_t *o)
{
	int code = EXIT_INPUT;
	tandem_diag_t *diag = NULL;
	kasp_policy_t policy;
	dns_zone_t *previous = NULL;
	dns_digest_t *previous_tree = NULL; /* --cycles: the previous run's digest state */
	dns_zone_t *held = NULL;            /* --hold-input: the cycles' input, unsigned */
	dns_zone_t *given = NULL;           /* --hold-input: the zone the run signs (req.zone) */
	tandem_arena_t *arena = NULL;
	const uint8_t **ds = NULL;
	keys_ctx_t kc = {.o = o, .policy = &policy};
	pipeline_result_t res;
	pipeline_result_init(&res);

	if (tandem_diag_new(&diag) != TANDEM_OK || tandem_arena_new(0, &arena) != TANDEM_OK) {
		goto out;
	}
	kasp_policy_defaults(&policy);
	if (o->policy != NULL && kasp_policy_load(o->policy, diag, &policy) != TANDEM_OK) {
		print_diag(diag);
		fprintf(stderr, "tandem-signzone: policy %s refused\n", o->policy);
		goto out;
	}
	pipeline_req_t req = {.kind = PIPELINE_FULL,
			      .input = o->in,
			      .open_keys = open_keys,
			      .open_keys_arg = &kc,
			      .out = o->out};
	conf_from_policy(&policy, o, &req.conf);
	kc.alg = o->alg >= 0 ? o->alg : policy.zsk.algorithm;
	if (policy.ksk.algorithm != policy.zsk.algorithm && o->alg < 0) {
		fprintf(stderr, "tandem-signzone: policy has different KSK and ZSK algorithms; "
				"use -a\n");
		code = EXIT_USAGE;
		goto out;
	}
	if (req.conf.nsec3_salt_len > 0 &&
	    RAND_bytes(req.conf.nsec3_salt, req.conf.nsec3_salt_len) != 1) {
		fprintf(stderr, "tandem-signzone: no randomness for the NSEC3 salt\n");
		goto out;
	}
	/* The gate needs no HSM session: it uses every CPU, whatever -j says. */
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	req.gate_threads = cpus > (long)req.conf.threads ? (unsigned)cpus : req.conf.threads;
	verify_conf_t vc = {0};
	if (load_ds(o, arena, diag, &vc, &ds) != TANDEM_OK) {
		print_diag(diag);
		goto out;
	}
	req.ds = vc.ds;
	req.ds_count = vc.ds_count;
	if (o->skr != NULL) {
		code = skr_apply(o, arena, diag, &req.conf);
		if (code != EXIT_OK) {
			goto out;
		}
	}
	/* --previous: its valid signatures that are not due are kept (an update run) */
	if (o->previous != NULL) {
		vc.now = req.conf.now;
		vc.threads = req.gate_threads;
		int pret = load_previous(o, &vc, &req.conf, diag, &previous);
		if (pret != TANDEM_OK) {
			print_diag(diag);
			fprintf(stderr,
				"tandem-signzone: previous version %s refused: %s; %s left "
				"untouched\n",
				o->previous, tandem_strerror(pret), o->out);
			goto out;
		}
		tandem_diag_clear(diag);
		if (previous != NULL) {
			req.kind = PIPELINE_UPDATE;
			req.previous = previous;
			/* it passed the gate just now: the new version's gate checks what
			 * changed against it */
			req.gate_incremental = !o->gate_full;
		}
	}
	/* The zone first: a bad input is refused before any HSM work (open_keys). */
	pipeline_load_opts(&policy, o->origin, &req.load);
	int ret = pipeline_run(&req, &res, diag);
	if (ret != TANDEM_OK) {
		code = report_run(o, ret, &res, diag);
		goto out;
	}
	print_diag(diag); /* load warnings */
	code = EXIT_OUTPUT;
	double t = tandem_mono_s();
	if (tandem_afile_commit(pipeline_result_file_take(&res)) != TANDEM_OK) {
		perror(o->out);
		goto out;
	}
	code = EXIT_OK;
	print_timing(o, &req, &res, tandem_mono_s() - t, 1);
	/* --cycles: update runs on the version just signed, held in memory as tandemd holds
	 * it (its signatures and NSEC3 hashes reused, the gate incremental) */
	for (unsigned cycle = 2; cycle <= o->cycles; cycle++) {
		dns_zone_free(previous);
		previous = given != NULL ? given : pipeline_result_zone_take(&res);
		given = req.zone = NULL;
		dns_digest_free(previous_tree);
		previous_tree = pipeline_result_tree_take(&res); /* NULL after the first run */
		req.kind = PIPELINE_UPDATE;
		req.previous = previous;
		req.gate_incremental = !o->gate_full;
		/* the zone digest v1 and the difference from the version before, as tandemd's
		 * runs make them (the run's time includes them) */
		req.digest = true;
		req.diff_base = previous;
		req.diff_base_tree = previous_tree;
		req.conf.has_serial_floor = true;
		req.conf.serial_floor = res.serial;
		req.open_keys = NULL; /* opened by the first run */
		req.keys = (pipeline_keys_t){.keys = kc.keys, .nkeys = kc.nkeys, .token = kc.token};
		if (o->cycle_input != NULL) {
			req.input = o->cycle_input; /* a change applied to the version in memory */
		}
		if (o->hold_input && held == NULL) {
			double tl = tandem_mono_s();
			ret = dns_zone_load(req.input, &req.load, diag, &held);
			if (ret != TANDEM_OK) {
				opts_t named = *o;
				named.in = req.input;
				code = report_run(&named, ret, &res, diag);
				goto out;
			}
			if (o->verbose) {
				fprintf(stderr, "cycle %u: input %s parsed and held: %.3f s\n",
					cycle, req.input, tandem_mono_s() - tl);
			}
		}
		/* as tandemd's unchanged input: the run signs a copy of the held zone's arrays */
		if (held != NULL && dns_zone_copy_cow(held, &given) != TANDEM_OK) {
			fprintf(stderr, "tandem-signzone: out of memory\n");
			code = EXIT_OUTPUT;
			goto out;
		}
		req.zone = given;
		ret = pipeline_run(&req, &res, diag);
		if (ret != TANDEM_OK) {
			opts_t named = *o; /* a refused input is named as the file it was */
			named.in = req.input;
			code = report_run(&named, ret, &res, diag);
			goto out;
		}
		code = EXIT_OUTPUT;
		t = tandem_mono_s();
		if (tandem_afile_commit(pipeline_result_file_take(&res)) != TANDEM_OK) {
			perror(o->out);
			goto out;
		}
		code = EXIT_OK;
		print_timing(o, &req, &res, tandem_mono_s() - t, cycle);
	}
out:
	pipeline_result_deinit(&res);
	free(ds);
	dns_zone_free(given);
	dns_zone_free(held);
	dns_zone_free(previous);
	dns_digest_free(previous_tree);
	hsm_token_close(kc.token);
	hsm_module_free(kc.module);
	tandem_arena_free(arena);
	tandem_diag_free(diag);
	return code;
}

int main(int argc, char **argv)
{
	if (tandem_proc_harden() != TANDEM_OK) {
		fprintf(stderr, "%s: cannot disable core dumps\n", argv[0]);
		return 1;
	}
	(void)tandem_malloc_tune(); /* --cycles holds versions as tandemd does */
	opts_t o;
	int code = parse_args(argc, argv, &o);
	if (code != EXIT_OK) {
		return code;
	}
	return o.verify_only != NULL ? verify_only(&o) : sign(&o);
}
