/* tandem-zonegen: print a deterministic, TLD-shaped test zone (SOA, apex NS, delegations). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Shape of the zone (defaults chosen so that 100,000 delegations with a DS
 * share of 0.2, signed with NSEC3 without opt-out, give about 120,000 RRSIGs:
 * one per NSEC3 record (one per delegation, plus the apex and the few in-zone
 * apex server names), one per DS set, and a handful at the apex):
 *
 *   apex:        SOA, NS (a/b/c.nic.ORIGIN), in-zone glue A + AAAA under nic.ORIGIN
 *   delegation:  two NS; most point at out-of-zone servers of a few hundred
 *                "providers", a share (--glue-share) at in-bailiwick servers
 *                ns1/ns2.LABEL.ORIGIN with glue A (and AAAA for about half);
 *                a share (--ds-share) carries one DS (SHA-256, random digest).
 *
 * Labels are random letters followed by the delegation's decimal index: the
 * letters make the canonical and hashed orders look like a real zone, the
 * index keeps every label unique (letters never follow digits, so the split
 * between the two parts is unambiguous).
 */

#define ZONEGEN_PROVIDERS 400
#define ZONEGEN_TTL       86400

typedef struct zonegen_rng {
	uint64_t state;
} zonegen_rng_t;

/* splitmix64: small, fast, good enough for test data, identical everywhere */
static uint64_t zonegen_rng_next(zonegen_rng_t *rng)
{
	uint64_t z = (rng->state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* uniform in [0, n) for small n; the modulo bias is irrelevant here */
static uint32_t zonegen_rng_below(zonegen_rng_t *rng, uint32_t n)
{
	return (uint32_t)(zonegen_rng_next(rng) % n);
}

/* true with probability p */
static bool zonegen_rng_chance(zonegen_rng_t *rng, double p)
{
	return (double)(zonegen_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0) < p;
}

typedef struct zonegen_opts {
	const char *origin; /* with trailing dot */
	bool root;          /* origin is "." */
	unsigned long count;
	double ds_share;
	double glue_share;
	uint64_t seed;
	uint32_t serial;
} zonegen_opts_t;

static void zonegen_usage(FILE *f)
{
	fprintf(f,
		"usage: tandem-zonegen -o ORIGIN -n DELEGATIONS [--ds-share F] [--glue-share F]\n"
		"                      [--seed S] [--serial N]\n"
		"Prints a TLD-shaped zone on stdout; the same arguments give the same bytes.\n"
		"  --ds-share F    share of delegations with a DS record (default 0.2)\n"
		"  --glue-share F  share of delegations with in-zone glue (default 0.1)\n"
		"  --seed S        random seed (default 1)\n"
		"  --serial N      SOA serial (default 2024010101)\n");
}

/* name relative to the origin -> absolute; "@" is the origin itself */
static void zonegen_print_name(FILE *out, const zonegen_opts_t *o, const char *rel)
{
	if (strcmp(rel, "@") == 0)
		fputs(o->origin, out);
	else if (o->root)
		fprintf(out, "%s.", rel);
	else
		fprintf(out, "%s.%s", rel, o->origin);
}

static void zonegen_apex(FILE *out, const zonegen_opts_t *o)
{
	static const char *const servers[] = {"a.nic", "b.nic", "c.nic"};

	zonegen_print_name(out, o, "@");
	fprintf(out, " %d IN SOA ", ZONEGEN_TTL);
	zonegen_print_name(out, o, "a.nic");
	fputc(' ', out);
	zonegen_print_name(out, o, "hostmaster.nic");
	fprintf(out, " %" PRIu32 " 3600 900 1814400 3600\n", o->serial);
	for (size_t i = 0; i < sizeof(servers) / sizeof(servers[0]); i++) {
		zonegen_print_name(out, o, "@");
		fprintf(out, " %d IN NS ", ZONEGEN_TTL);
		zonegen_print_name(out, o, servers[i]);
		fputc('\n', out);
	}
	for (size_t i = 0; i < sizeof(servers) / sizeof(servers[0]); i++) {
		zonegen_print_name(out, o, servers[i]);
		fprintf(out, " %d IN A 192.0.2.%zu\n", ZONEGEN_TTL, 1 + i);
		zonegen_print_name(out, o, servers[i]);
		fprintf(out, " %d IN AAAA 2001:db8::%zu\n", ZONEGEN_TTL, 1 + i);
	}
}

static void zonegen_label(zonegen_rng_t *rng, unsigned long index, char *buf, size_t size)
{
	size_t letters = 3 + zonegen_rng_below(rng, 8);
	size_t n = 0;

	for (; n < letters && n + 1 < size; n++)
		buf[n] = (char)('a' + zonegen_rng_below(rng, 26));
	snprintf(buf + n, size - n, "%lu", index);
}

static void zonegen_delegation(FILE *out, const zonegen_opts_t *o, zonegen_rng_t *rng,
			       unsigned long index)
{
	char label[64];
	bool glue, ds;

	zonegen_label(rng, index, label, sizeof(label));
	/* draw both decisions every time so each share does not shift the other's stream */
	glue = zonegen_rng_chance(rng, o->glue_share);
	ds = zonegen_rng_chance(rng, o->ds_share);

	if (glue) {
		for (int k = 1; k <= 2; k++) {
			zonegen_print_name(out, o, label);
			fprintf(out, " %d IN NS ns%d.", ZONEGEN_TTL, k);
			zonegen_print_name(out, o, label);
			fputc('\n', out);
		}
	} else {
		uint32_t p = zonegen_rng_below(rng, ZONEGEN_PROVIDERS);
		for (int k = 1; k <= 2; k++) {
			zonegen_print_name(out, o, label);
			fprintf(out, " %d IN NS ns%d.dns-host%" PRIu32 ".net.\n", ZONEGEN_TTL, k,
				p);
		}
	}
	if (ds) {
		uint32_t tag = zonegen_rng_below(rng, 65536);
		int alg = zonegen_rng_chance(rng, 0.5) ? 8 : 13;
		zonegen_print_name(out, o, label);
		fprintf(out, " %d IN DS %" PRIu32 " %d 2 ", ZONEGEN_TTL, tag, alg);
		for (int w = 0; w < 4; w++)
			fprintf(out, "%016" PRIX64, zonegen_rng_next(rng));
		fputc('\n', out);
	}
	if (glue) {
		uint64_t r = zonegen_rng_next(rng);
		for (int k = 1; k <= 2; k++) {
			fprintf(out, "ns%d.", k);
			zonegen_print_name(out, o, label);
			fprintf(out, " %d IN A 198.51.%u.%u\n", ZONEGEN_TTL,
				(unsigned)((r >> (16 * k)) & 0xff),
				(unsigned)((r >> (16 * k + 8)) & 0xff));
			if (r & 1) {
				fprintf(out, "ns%d.", k);
				zonegen_print_name(out, o, label);
				fprintf(out, " %d IN AAAA 2001:db8:%lx::%d\n", ZONEGEN_TTL,
					index & 0xffff, k);
			}
		}
	}
}

static bool zonegen_parse_share(const char *s, double *out)
{
	char *end = NULL;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= 0.0 && v <= 1.0))
		return false;
	*out = v;
	return true;
}

static bool zonegen_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (*s == '-' || *s == '\0')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return false;
	*out = v;
	return true;
}

/* ORIGIN must be a plain hostname-ish name; returns it with a trailing dot (heap) */
static char *zonegen_origin(const char *arg)
{
	size_t len = strlen(arg);
	char *s;

	if (len == 0 || len > 250)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		char c = arg[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_'))
			return NULL;
		if (c == '.' && i + 1 < len && arg[i + 1] == '.')
			return NULL;
	}
	if (strcmp(arg, ".") != 0 && arg[0] == '.')
		return NULL;
	s = malloc(len + 2);
	if (s == NULL)
		return NULL;
	memcpy(s, arg, len + 1);
	if (s[len - 1] != '.') {
		s[len] = '.';
		s[len + 1] = '\0';
	}
	return s;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"origin", required_argument, NULL, 'o'},
	    {"count", required_argument, NULL, 'n'},
	    {"ds-share", required_argument, NULL, 'd'},
	    {"glue-share", required_argument, NULL, 'g'},
	    {"seed", required_argument, NULL, 's'},
	    {"serial", required_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	zonegen_opts_t o = {
	    .ds_share = 0.2,
	    .glue_share = 0.1,
	    .seed = 1,
	    .serial = 2024010101,
	};
	zonegen_rng_t rng;
	char *origin = NULL;
	bool have_count = false;
	uint64_t v;
	int c, rc = 2;

	while ((c = getopt_long(argc, argv, "o:n:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			free(origin);
			origin = zonegen_origin(optarg);
			if (origin == NULL) {
				fprintf(stderr, "tandem-zonegen: bad origin '%s'\n", optarg);
				goto out;
			}
			break;
		case 'n':
			if (!zonegen_parse_u64(optarg, 100000000, &v)) {
				fprintf(stderr, "tandem-zonegen: bad delegation count '%s'\n",
					optarg);
				goto out;
			}
			o.count = (unsigned long)v;
			have_count = true;
			break;
		case 'd':
		case 'g':
			if (!zonegen_parse_share(optarg, c == 'd' ? &o.ds_share : &o.glue_share)) {
				fprintf(stderr, "tandem-zonegen: share must be in [0, 1]: '%s'\n",
					optarg);
				goto out;
			}
			break;
		case 's':
			if (!zonegen_parse_u64(optarg, UINT64_MAX, &o.seed)) {
				fprintf(stderr, "tandem-zonegen: bad seed '%s'\n", optarg);
				goto out;
			}
			break;
		case 'S':
			if (!zonegen_parse_u64(optarg, UINT32_MAX, &v)) {
				fprintf(stderr, "tandem-zonegen: bad serial '%s'\n", optarg);
				goto out;
			}
			o.serial = (uint32_t)v;
			break;
		case 'h':
			zonegen_usage(stdout);
			rc = 0;
			goto out;
		default: zonegen_usage(stderr); goto out;
		}
	}
	if (origin == NULL || !have_count || optind != argc) {
		zonegen_usage(stderr);
		goto out;
	}
	o.origin = origin;
	o.root = strcmp(origin, ".") == 0;
	rng.state = o.seed;

	zonegen_apex(stdout, &o);
	for (unsigned long i = 0; i < o.count; i++)
		zonegen_delegation(stdout, &o, &rng, i);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("tandem-zonegen: write");
		rc = 1;
		goto out;
	}
	rc = 0;
out:
	free(origin);
	return rc;
}
