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
	unsigned long change; /* --change K (0: none) */
	uint64_t change_seed;
} zonegen_opts_t;

static void zonegen_usage(FILE *f)
{
	fprintf(f,
		"usage: tandem-zonegen -o ORIGIN -n DELEGATIONS [--ds-share F] [--glue-share F]\n"
		"                      [--seed S] [--serial N] [--change K [--change-seed S]]\n"
		"Prints a TLD-shaped zone on stdout; the same arguments give the same bytes.\n"
		"  --ds-share F    share of delegations with a DS record (default 0.2)\n"
		"  --glue-share F  share of delegations with in-zone glue (default 0.1)\n"
		"  --seed S        random seed (default 1)\n"
		"  --serial N      SOA serial (default 2024010101)\n"
		"  --change K      the same zone with K delegations changed: K/3 removed, K/3\n"
		"                  given a new DS, the rest added (give a higher --serial)\n"
		"  --change-seed S which delegations change (default 1)\n");
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

/* one delegation's random choices, drawn in a fixed order so that every choice
 * (and every later delegation) is the same whatever the shares or the changes */
typedef struct zonegen_deleg {
	char label[64];
	bool glue, ds;
	uint32_t provider; /* out-of-zone servers (no glue) */
	uint32_t tag;      /* DS key tag, algorithm, SHA-256 digest */
	int alg;
	uint64_t digest[4];
	uint64_t addr; /* glue addresses (glue) */
	unsigned long index;
} zonegen_deleg_t;

static void zonegen_ds_draw(zonegen_rng_t *rng, zonegen_deleg_t *d)
{
	d->tag = zonegen_rng_below(rng, 65536);
	d->alg = zonegen_rng_chance(rng, 0.5) ? 8 : 13;
	for (int w = 0; w < 4; w++)
		d->digest[w] = zonegen_rng_next(rng);
}

static void zonegen_deleg_draw(const zonegen_opts_t *o, zonegen_rng_t *rng, unsigned long index,
			       zonegen_deleg_t *d)
{
	memset(d, 0, sizeof(*d));
	d->index = index;
	zonegen_label(rng, index, d->label, sizeof(d->label));
	/* draw both decisions every time so each share does not shift the other's stream */
	d->glue = zonegen_rng_chance(rng, o->glue_share);
	d->ds = zonegen_rng_chance(rng, o->ds_share);
	if (!d->glue)
		d->provider = zonegen_rng_below(rng, ZONEGEN_PROVIDERS);
	if (d->ds)
		zonegen_ds_draw(rng, d);
	if (d->glue)
		d->addr = zonegen_rng_next(rng);
}

static void zonegen_deleg_print(FILE *out, const zonegen_opts_t *o, const zonegen_deleg_t *d)
{
	for (int k = 1; k <= 2; k++) {
		zonegen_print_name(out, o, d->label);
		if (d->glue) {
			fprintf(out, " %d IN NS ns%d.", ZONEGEN_TTL, k);
			zonegen_print_name(out, o, d->label);
			fputc('\n', out);
		} else {
			fprintf(out, " %d IN NS ns%d.dns-host%" PRIu32 ".net.\n", ZONEGEN_TTL, k,
				d->provider);
		}
	}
	if (d->ds) {
		zonegen_print_name(out, o, d->label);
		fprintf(out, " %d IN DS %" PRIu32 " %d 2 ", ZONEGEN_TTL, d->tag, d->alg);
		for (int w = 0; w < 4; w++)
			fprintf(out, "%016" PRIX64, d->digest[w]);
		fputc('\n', out);
	}
	if (d->glue) {
		for (int k = 1; k <= 2; k++) {
			fprintf(out, "ns%d.", k);
			zonegen_print_name(out, o, d->label);
			fprintf(out, " %d IN A 198.51.%u.%u\n", ZONEGEN_TTL,
				(unsigned)((d->addr >> (16 * k)) & 0xff),
				(unsigned)((d->addr >> (16 * k + 8)) & 0xff));
			if (d->addr & 1) {
				fprintf(out, "ns%d.", k);
				zonegen_print_name(out, o, d->label);
				fprintf(out, " %d IN AAAA 2001:db8:%lx::%d\n", ZONEGEN_TTL,
					d->index & 0xffff, k);
			}
		}
	}
}

/*
 * --change K: the zone of the same arguments with K delegations changed, a third each
 * (the remainder going to the additions): removed (with their glue), given a new DS (one
 * DS record replacing whatever they had), and added (new labels, indices from N on).
 * Which delegations are removed or get a new DS is chosen by selection sampling on a
 * stream of its own (--change-seed), so the counts are exact and the base zone's stream
 * is untouched: every other delegation prints exactly as without --change.
 */
typedef struct zonegen_change {
	zonegen_rng_t rng;
	unsigned long removes, ds_changes, adds;
	unsigned long touch_left; /* removes + DS changes still to choose */
	unsigned long remove_left;
} zonegen_change_t;

typedef enum zonegen_fate {
	ZONEGEN_KEEP,
	ZONEGEN_REMOVE,
	ZONEGEN_NEW_DS,
} zonegen_fate_t;

/* the fate of delegation INDEX of COUNT (Knuth's selection sampling, twice) */
static zonegen_fate_t zonegen_change_fate(zonegen_change_t *c, unsigned long index,
					  unsigned long count)
{
	unsigned long remaining = count - index;
	unsigned long touched_so_far;

	if (c->touch_left == 0 || zonegen_rng_next(&c->rng) % remaining >= (uint64_t)c->touch_left)
		return ZONEGEN_KEEP;
	touched_so_far = (c->removes + c->ds_changes) - c->touch_left;
	c->touch_left--;
	/* among the touched ones, which are removed: the same sampling over the touched */
	if (c->remove_left > 0 &&
	    zonegen_rng_next(&c->rng) % ((c->removes + c->ds_changes) - touched_so_far) <
		(uint64_t)c->remove_left) {
		c->remove_left--;
		return ZONEGEN_REMOVE;
	}
	return ZONEGEN_NEW_DS;
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
	    {"change", required_argument, NULL, 'c'},
	    {"change-seed", required_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	zonegen_opts_t o = {
	    .ds_share = 0.2,
	    .glue_share = 0.1,
	    .seed = 1,
	    .serial = 2024010101,
	    .change_seed = 1,
	};
	zonegen_rng_t rng;
	zonegen_change_t chg = {0};
	zonegen_deleg_t d;
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
		case 'c':
			if (!zonegen_parse_u64(optarg, 100000000, &v)) {
				fprintf(stderr, "tandem-zonegen: bad change count '%s'\n", optarg);
				goto out;
			}
			o.change = (unsigned long)v;
			break;
		case 'C':
			if (!zonegen_parse_u64(optarg, UINT64_MAX, &o.change_seed)) {
				fprintf(stderr, "tandem-zonegen: bad change seed '%s'\n", optarg);
				goto out;
			}
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

	if (o.change > 0) {
		chg.rng.state = o.change_seed;
		chg.removes = o.change / 3;
		chg.ds_changes = o.change / 3;
		chg.adds = o.change - chg.removes - chg.ds_changes;
		if (chg.removes + chg.ds_changes > o.count) {
			fprintf(stderr,
				"tandem-zonegen: --change %lu removes or re-keys %lu delegations, "
				"more than the %lu of the zone\n",
				o.change, chg.removes + chg.ds_changes, o.count);
			goto out;
		}
		chg.touch_left = chg.removes + chg.ds_changes;
		chg.remove_left = chg.removes;
	}

	zonegen_apex(stdout, &o);
	for (unsigned long i = 0; i < o.count; i++) {
		zonegen_fate_t fate = ZONEGEN_KEEP;

		zonegen_deleg_draw(&o, &rng, i, &d);
		if (o.change > 0)
			fate = zonegen_change_fate(&chg, i, o.count);
		if (fate == ZONEGEN_REMOVE)
			continue;
		if (fate == ZONEGEN_NEW_DS) {
			d.ds = true;
			zonegen_ds_draw(&chg.rng, &d);
		}
		zonegen_deleg_print(stdout, &o, &d);
	}
	/* additions: drawn from the change stream, indices from N on (unique labels) */
	for (unsigned long i = 0; o.change > 0 && i < chg.adds; i++) {
		zonegen_deleg_draw(&o, &chg.rng, o.count + i, &d);
		zonegen_deleg_print(stdout, &o, &d);
	}
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
