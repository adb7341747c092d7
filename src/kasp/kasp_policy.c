/* Key and signing policies: DPS defaults, the YAML loader, validation and durations. */
#include "kasp_policy.h"
#include "dns_zone.h"
#include "tandem_error.h"
#include "tandem_file.h"

#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define KASP_DAY            86400u
#define KASP_POLICY_MAX     (1024 * 1024) /* a policy file is a page, not a megabyte */
#define KASP_TTL_MAX        2147483647u   /* RFC 2181 section 8 */
#define KASP_ITERATIONS_MAX 500           /* RFC 5155 section 10.3, 2048-bit keys */

/* Every settable field; the loader remembers the line each came from. */
enum {
	FLD_NAME,
	FLD_KSK, /* seven key fields follow, in kasp_key_policy_t order */
	FLD_ZSK = FLD_KSK + 7,
	FLD_SIG_VALIDITY = FLD_ZSK + 7,
	FLD_SIG_JITTER,
	FLD_SIG_INCEPTION,
	FLD_SIG_REFRESH,
	FLD_SIG_RESIGN,
	FLD_SIG_MAX_RUN,
	FLD_SIG_KEY_ROLL,
	FLD_SIG_GATE_FULL,
	FLD_DEN_TYPE,
	FLD_DEN_OPTOUT,
	FLD_DEN_ITERATIONS,
	FLD_DEN_SALT,
	FLD_DEN_RESALT,
	FLD_ZONE_SERIAL,
	FLD_ZONE_PROPAGATION,
	FLD_ZONE_INPUT_SETTLE,
	FLD_ZONE_MAX_DELEG_REMOVAL,
	FLD_TTL_SOA,
	FLD_TTL_DNSKEY,
	FLD_TTL_NS,
	FLD_TTL_A,
	FLD_TTL_AAAA,
	FLD_TTL_DS,
	FLD_TTL_NSEC3,
	FLD_PARENT_DS_TTL,
	FLD_PARENT_PROPAGATION,
	FLD_ZONE_SIGNER_OWNED,
	FLD_KEYS_ARCHIVE_RETENTION,
	FLD_ZONE_COMPARE,
	FLD_ZONE_COMPARE_TIMEOUT,
	FLD_ZONE_REVIEW_UNSIGNED,
	FLD_ZONE_REVIEW_SIGNED,
	FLD_ZONE_REVIEW_TIMEOUT,
	FLD_ZONE_ZONEMD,
	FLD_COUNT,
	FLD_NONE = -1,
};

/* Offsets of the key fields from FLD_KSK / FLD_ZSK. */
enum { KEY_ALG, KEY_BITS, KEY_LIFETIME, KEY_PRE, KEY_POST, KEY_EPOST, KEY_STANDBY };

typedef enum {
	KIND_DURATION, /* uint32_t seconds */
	KIND_ALGORITHM,
	KIND_BITS,
	KIND_SHARE, /* uint32_t hundredths of a percent: "10%", "2.5%", "10" */
	KIND_BOOL,
	KIND_ITERATIONS,
	KIND_SALT_LENGTH,
	KIND_DENIAL,
	KIND_SERIAL,
	KIND_SIGNER_OWNED,
	KIND_COMPARE,
	KIND_ZONEMD,
	KIND_COMMAND, /* char[KASP_REVIEW_CMD_MAX], checked by kasp_review_split */
} kasp_kind_t;

typedef struct kasp_field {
	int id;
	const char *section; /* "keys.ksk", "signatures", ... */
	const char *key;
	kasp_kind_t kind;
	size_t off;
} kasp_field_t;

#define FIELD(id, sect, key, kind, member)                                                         \
	{                                                                                          \
		id, sect, key, kind, offsetof(kasp_policy_t, member)                               \
	}

/* clang-format off */
static const kasp_field_t kasp_fields[] = {
	FIELD(FLD_KSK + KEY_ALG,      "keys.ksk", "algorithm",             KIND_ALGORITHM, ksk.algorithm),
	FIELD(FLD_KSK + KEY_BITS,     "keys.ksk", "bits",                  KIND_BITS,      ksk.bits),
	FIELD(FLD_KSK + KEY_LIFETIME, "keys.ksk", "lifetime",              KIND_DURATION,  ksk.lifetime),
	FIELD(FLD_KSK + KEY_PRE,      "keys.ksk", "prepublish",            KIND_DURATION,  ksk.prepublish),
	FIELD(FLD_KSK + KEY_POST,     "keys.ksk", "postpublish",           KIND_DURATION,  ksk.postpublish),
	FIELD(FLD_KSK + KEY_EPOST,    "keys.ksk", "emergency-postpublish", KIND_DURATION,  ksk.emergency_postpublish),
	FIELD(FLD_KSK + KEY_STANDBY,  "keys.ksk", "standby",               KIND_BOOL,      ksk.standby),
	FIELD(FLD_ZSK + KEY_ALG,      "keys.zsk", "algorithm",             KIND_ALGORITHM, zsk.algorithm),
	FIELD(FLD_ZSK + KEY_BITS,     "keys.zsk", "bits",                  KIND_BITS,      zsk.bits),
	FIELD(FLD_ZSK + KEY_LIFETIME, "keys.zsk", "lifetime",              KIND_DURATION,  zsk.lifetime),
	FIELD(FLD_ZSK + KEY_PRE,      "keys.zsk", "prepublish",            KIND_DURATION,  zsk.prepublish),
	FIELD(FLD_ZSK + KEY_POST,     "keys.zsk", "postpublish",           KIND_DURATION,  zsk.postpublish),
	FIELD(FLD_ZSK + KEY_EPOST,    "keys.zsk", "emergency-postpublish", KIND_DURATION,  zsk.emergency_postpublish),
	FIELD(FLD_ZSK + KEY_STANDBY,  "keys.zsk", "standby",               KIND_BOOL,      zsk.standby),
	FIELD(FLD_SIG_VALIDITY,       "signatures", "validity",            KIND_DURATION,  sig_validity),
	FIELD(FLD_SIG_JITTER,         "signatures", "jitter",              KIND_DURATION,  sig_jitter),
	FIELD(FLD_SIG_INCEPTION,      "signatures", "inception-offset",    KIND_DURATION,  sig_inception_offset),
	FIELD(FLD_SIG_REFRESH,        "signatures", "refresh",             KIND_DURATION,  sig_refresh),
	FIELD(FLD_SIG_RESIGN,         "signatures", "resign-interval",     KIND_DURATION,  resign_interval),
	FIELD(FLD_SIG_MAX_RUN,        "signatures", "max-run-time",        KIND_DURATION,  max_run_time),
	FIELD(FLD_SIG_KEY_ROLL,       "signatures", "key-roll-time",       KIND_DURATION,  key_roll_time),
	FIELD(FLD_SIG_GATE_FULL,      "signatures", "gate-full",           KIND_DURATION,  gate_full),
	FIELD(FLD_DEN_TYPE,           "denial", "type",                    KIND_DENIAL,    denial),
	FIELD(FLD_DEN_OPTOUT,         "denial", "optout",                  KIND_BOOL,      nsec3_optout),
	FIELD(FLD_DEN_ITERATIONS,     "denial", "iterations",              KIND_ITERATIONS, nsec3_iterations),
	FIELD(FLD_DEN_SALT,           "denial", "salt-length",             KIND_SALT_LENGTH, nsec3_salt_len),
	FIELD(FLD_DEN_RESALT,         "denial", "resalt",                  KIND_DURATION,  nsec3_resalt),
	FIELD(FLD_ZONE_SERIAL,        "zone", "serial",                    KIND_SERIAL,    serial),
	FIELD(FLD_ZONE_PROPAGATION,   "zone", "propagation-delay",         KIND_DURATION,  propagation_delay),
	FIELD(FLD_ZONE_SIGNER_OWNED,  "zone", "signer-owned",              KIND_SIGNER_OWNED, signer_owned),
	FIELD(FLD_TTL_SOA,            "ttl", "soa",                        KIND_DURATION,  ttl_soa),
	FIELD(FLD_TTL_DNSKEY,         "ttl", "dnskey",                     KIND_DURATION,  ttl_dnskey),
	FIELD(FLD_TTL_NS,             "ttl", "ns",                         KIND_DURATION,  ttl_ns),
	FIELD(FLD_TTL_A,              "ttl", "a",                          KIND_DURATION,  ttl_a),
	FIELD(FLD_TTL_AAAA,           "ttl", "aaaa",                       KIND_DURATION,  ttl_aaaa),
	FIELD(FLD_TTL_DS,             "ttl", "ds",                         KIND_DURATION,  ttl_ds),
	FIELD(FLD_TTL_NSEC3,          "ttl", "nsec3",                      KIND_DURATION,  ttl_nsec3),
	FIELD(FLD_PARENT_DS_TTL,      "parent", "ds-ttl",                  KIND_DURATION,  parent_ds_ttl),
	FIELD(FLD_PARENT_PROPAGATION, "parent", "propagation-delay",       KIND_DURATION,  parent_propagation_delay),
	FIELD(FLD_ZONE_INPUT_SETTLE,  "zone", "input-settle",              KIND_DURATION,  input_settle),
	FIELD(FLD_ZONE_MAX_DELEG_REMOVAL, "zone", "max-delegation-removal", KIND_SHARE,    max_delegation_removal),
	FIELD(FLD_KEYS_ARCHIVE_RETENTION, "keys", "archive-retention", KIND_DURATION,     archive_retention),
	FIELD(FLD_ZONE_COMPARE,       "zone", "compare-before-publish",    KIND_COMPARE,   compare),
	FIELD(FLD_ZONE_COMPARE_TIMEOUT, "zone", "compare-timeout",         KIND_DURATION,  compare_timeout),
	FIELD(FLD_ZONE_REVIEW_UNSIGNED, "zone", "review-unsigned",       KIND_COMMAND,     review_unsigned),
	FIELD(FLD_ZONE_REVIEW_SIGNED, "zone", "review-signed",           KIND_COMMAND,     review_signed),
	FIELD(FLD_ZONE_REVIEW_TIMEOUT, "zone", "review-timeout",         KIND_DURATION,    review_timeout),
	FIELD(FLD_ZONE_ZONEMD,        "zone", "zonemd",                  KIND_ZONEMD,      zonemd),
};
/* clang-format on */

#define KASP_NFIELDS (sizeof(kasp_fields) / sizeof(kasp_fields[0]))

/* The sections that hold fields directly, and the top-level keys. */
static const char *const kasp_sections[] = {"signatures", "denial", "zone", "ttl", "parent"};

static const char *const kasp_serial_names[] = {"keep", "increment", "unixtime", "datecounter"};

/* In kasp_compare_t order. */
static const char *const kasp_compare_names[] = {"off", "wait", "require"};

/* In kasp_zonemd_t order. */
static const char *const kasp_zonemd_names[] = {"off", "simple-sha384", "simple-sha512"};

/* ---- durations ---------------------------------------------------------- */

/* Reads decimal digits at *pp; *over is set when the value passes UINT32_MAX. */
static bool duration_digits(const char **pp, uint64_t *value, bool *over)
{
	const char *p = *pp;
	uint64_t v = 0;
	if (!isdigit((unsigned char)*p)) {
		return false;
	}
	while (isdigit((unsigned char)*p)) {
		if (v <= UINT32_MAX) {
			v = v * 10 + (uint64_t)(*p - '0');
		}
		p++;
	}
	if (v > UINT32_MAX) {
		*over = true;
		v = UINT32_MAX;
	}
	*value = v;
	*pp = p;
	return true;
}

/* ISO 8601 "PnYnMnWnDTnHnMnS" (after the P); each part once, in order. */
static int duration_iso(const char *p, uint64_t *out, bool *over)
{
	static const char date_units[] = "YMWD";
	static const uint64_t date_secs[] = {365 * KASP_DAY, 30 * KASP_DAY, 7 * KASP_DAY, KASP_DAY};
	static const char time_units[] = "HMS";
	static const uint64_t time_secs[] = {3600, 60, 1};
	uint64_t total = 0;
	size_t parts = 0, next = 0;

	while (*p != '\0' && *p != 'T') {
		uint64_t v;
		if (!duration_digits(&p, &v, over)) {
			return TANDEM_ESYNTAX;
		}
		const char *u = strchr(date_units + next, *p);
		if (*p == '\0' || u == NULL) {
			return TANDEM_ESYNTAX;
		}
		next = (size_t)(u - date_units) + 1;
		total += v * date_secs[u - date_units];
		parts++;
		p++;
	}
	if (*p == 'T') {
		p++;
		if (*p == '\0') {
			return TANDEM_ESYNTAX;
		}
		next = 0;
		while (*p != '\0') {
			uint64_t v;
			if (!duration_digits(&p, &v, over)) {
				return TANDEM_ESYNTAX;
			}
			const char *u = strchr(time_units + next, *p);
			if (*p == '\0' || u == NULL) {
				return TANDEM_ESYNTAX;
			}
			next = (size_t)(u - time_units) + 1;
			total += v * time_secs[u - time_units];
			parts++;
			p++;
		}
	}
	if (parts == 0) {
		return TANDEM_ESYNTAX;
	}
	*out = total;
	return TANDEM_OK;
}

/* "3600", or "1w2d3h4m5s" with each unit once, largest first. */
static int duration_units(const char *p, uint64_t *out, bool *over)
{
	static const char units[] = "wdhms";
	static const uint64_t secs[] = {7 * KASP_DAY, KASP_DAY, 3600, 60, 1};
	uint64_t total = 0;
	size_t next = 0;
	bool first = true;

	while (*p != '\0') {
		uint64_t v;
		if (!duration_digits(&p, &v, over)) {
			return TANDEM_ESYNTAX;
		}
		if (*p == '\0') {
			if (!first) {
				return TANDEM_ESYNTAX; /* "1d30": a bare number only alone */
			}
			total = v;
			break;
		}
		const char *u = strchr(units + next, *p);
		if (u == NULL) {
			return TANDEM_ESYNTAX;
		}
		next = (size_t)(u - units) + 1;
		total += v * secs[u - units];
		first = false;
		p++;
	}
	*out = total;
	return TANDEM_OK;
}

int kasp_duration_parse(const char *text, uint32_t *out)
{
	if (text == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	if (*text == '\0') {
		return TANDEM_ESYNTAX;
	}
	uint64_t total = 0;
	bool over = false;
	int ret = text[0] == 'P' ? duration_iso(text + 1, &total, &over)
				 : duration_units(text, &total, &over);
	if (ret != TANDEM_OK) {
		return ret;
	}
	/* Each part is at most UINT32_MAX * 365 days and there are at most
	 * seven, so the 64-bit sum cannot wrap. */
	if (over || total > UINT32_MAX) {
		return TANDEM_ERANGE;
	}
	*out = (uint32_t)total;
	return TANDEM_OK;
}

/* "30d", "1d1h", "15m", "0s": the largest units that divide exactly. */
static void duration_format(uint64_t secs, char *buf, size_t size)
{
	static const char units[] = "dhms";
	static const uint64_t unit_secs[] = {KASP_DAY, 3600, 60, 1};
	size_t len = 0;
	buf[0] = '\0';
	if (secs == 0) {
		snprintf(buf, size, "0s");
		return;
	}
	for (size_t i = 0; i < 4 && len < size; i++) {
		uint64_t n = secs / unit_secs[i];
		if (n > 0) {
			int w = snprintf(buf + len, size - len, "%llu%c", (unsigned long long)n,
					 units[i]);
			if (w < 0) {
				return;
			}
			len += (size_t)w;
			secs %= unit_secs[i];
		}
	}
}

/* ---- defaults ----------------------------------------------------------- */

uint32_t kasp_policy_key_roll_time(const kasp_policy_t *p)
{
	uint64_t floor = (uint64_t)p->sig_jitter + p->sig_refresh;
	uint32_t window = p->sig_validity > floor ? (uint32_t)(p->sig_validity - floor) : 0;
	return p->key_roll_time != 0 && p->key_roll_time < window ? p->key_roll_time : window;
}

void kasp_policy_defaults(kasp_policy_t *p)
{
	if (p == NULL) {
		return;
	}
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "dps-default");
	p->ksk = (kasp_key_policy_t){
	    .algorithm = 8,
	    .bits = 2048,
	    .lifetime = 365 * KASP_DAY,
	    .prepublish = 30 * KASP_DAY,
	    .postpublish = 30 * KASP_DAY,
	    .emergency_postpublish = 7 * KASP_DAY,
	};
	p->zsk = (kasp_key_policy_t){
	    .algorithm = 8,
	    .bits = 1024,
	    .lifetime = 90 * KASP_DAY,
	    .prepublish = 7 * KASP_DAY,
	    .postpublish = 7 * KASP_DAY,
	    .emergency_postpublish = 2 * KASP_DAY,
	};
	p->sig_validity = 8 * KASP_DAY;
	p->sig_jitter = 2 * KASP_DAY;
	p->sig_inception_offset = 3600;
	p->sig_refresh = 2 * KASP_DAY;
	p->resign_interval = 900;
	p->max_run_time = 3600;
	p->gate_full = KASP_DAY;
	p->denial = KASP_DENIAL_NSEC3;
	p->nsec3_optout = false;
	p->nsec3_iterations = 0;
	p->nsec3_salt_len = 0;
	p->nsec3_resalt = 0;
	p->serial = KASP_SERIAL_INCREMENT;
	p->input_settle = 5;
	p->archive_retention = 365 * KASP_DAY;
	p->max_delegation_removal = 1000;
	p->compare = KASP_COMPARE_WAIT;
	p->compare_timeout = 30;
	p->ttl_soa = KASP_DAY;
	p->ttl_dnskey = KASP_DAY / 2;
	p->ttl_ns = KASP_DAY;
	p->ttl_a = KASP_DAY;
	p->ttl_aaaa = KASP_DAY;
	p->ttl_ds = KASP_DAY;
	p->ttl_nsec3 = 3600;
	p->propagation_delay = 3600;
	p->parent_ds_ttl = KASP_DAY;
	p->parent_propagation_delay = 3600;
	p->signer_owned = KASP_SIGNER_OWNED_DROP;
	p->review_unsigned[0] = '\0';
	p->review_signed[0] = '\0';
	p->review_timeout = 60;
}

int kasp_review_split(char *buf, char **argv, size_t *argc, char *why, size_t why_size)
{
	size_t n = 0;
	for (const char *c = buf; *c != '\0'; c++) {
		if (*c == '\'' || *c == '"' || *c == '\\') {
			snprintf(why, why_size,
				 "holds a quote or backslash: the command is split on spaces, "
				 "no shell reads it");
			return TANDEM_ESYNTAX;
		}
		if ((unsigned char)*c < 0x20 && *c != '\t') {
			snprintf(why, why_size, "holds a control character");
			return TANDEM_ESYNTAX;
		}
	}
	char *p = buf;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t') {
			*p++ = '\0';
		}
		if (*p == '\0') {
			break;
		}
		if (n == KASP_REVIEW_WORDS_MAX) {
			snprintf(why, why_size, "has more than %d words", KASP_REVIEW_WORDS_MAX);
			return TANDEM_ESYNTAX;
		}
		argv[n++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t') {
			p++;
		}
	}
	if (n == 0) {
		snprintf(why, why_size, "is empty");
		return TANDEM_ESYNTAX;
	}
	if (argv[0][0] != '/') {
		snprintf(why, why_size,
			 "'%.200s' is not an absolute path (the program is run without a "
			 "shell or PATH)",
			 argv[0]);
		return TANDEM_ESYNTAX;
	}
	argv[n] = NULL;
	*argc = n;
	return TANDEM_OK;
}

/* ---- validation --------------------------------------------------------- */

/* Algorithm names come from the dns module: one table for the whole project. */
static const char *algorithm_name(uint8_t number)
{
	return dns_alg_to_str(number);
}

static bool algorithm_is_rsa(uint8_t number)
{
	return number == 8 || number == 10;
}

/* Where messages point: a file and the line of each field, or a policy name. */
typedef struct kasp_checker {
	const kasp_policy_t *p;
	const char *file;       /* NULL: messages say "policy NAME" */
	const unsigned *line;   /* FLD_COUNT lines, 0 when the field kept its default */
	unsigned fallback_line; /* where the policy starts */
	tandem_diag_t *diag;
	unsigned errors;
} kasp_checker_t;

/* Adds a message placed at the first of f1..f3 that the file set. */
static void report(kasp_checker_t *c, bool error, int f1, int f2, int f3, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void report(kasp_checker_t *c, bool error, int f1, int f2, int f3, const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);

	const char *kind = error ? "" : "warning: ";
	int code = error ? TANDEM_KASP_EPOLICY : TANDEM_OK;
	if (error) {
		c->errors++;
	}
	if (c->file == NULL) {
		tandem_diag_add(c->diag, code, "policy %s: %s%s", c->p->name, kind, reason);
		return;
	}
	unsigned line = 0;
	const int fields[] = {f1, f2, f3};
	for (size_t i = 0; i < 3 && line == 0; i++) {
		if (fields[i] != FLD_NONE) {
			line = c->line[fields[i]];
		}
	}
	if (line == 0) {
		line = c->fallback_line;
	}
	tandem_diag_add(c->diag, code, "%s:%u: %s%s", c->file, line, kind, reason);
}

#define FAIL(c, f1, f2, f3, ...) report(c, true, f1, f2, f3, __VA_ARGS__)
#define WARN(c, f1, f2, f3, ...) report(c, false, f1, f2, f3, __VA_ARGS__)

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* The largest TTL the policy sets (how long a resolver may keep any
 * signature) and the field that sets it. */
static uint64_t policy_max_ttl(const kasp_policy_t *p, int *field, const char **name)
{
	const uint32_t ttl[] = {p->ttl_soa,  p->ttl_dnskey, p->ttl_ns,   p->ttl_a,
				p->ttl_aaaa, p->ttl_ds,     p->ttl_nsec3};
	size_t best = 0;
	for (size_t i = 1; i < sizeof(ttl) / sizeof(ttl[0]); i++) {
		if (ttl[i] > ttl[best]) {
			best = i;
		}
	}
	static const char *const names[] = {"ttl.soa",  "ttl.dnskey", "ttl.ns",   "ttl.a",
					    "ttl.aaaa", "ttl.ds",     "ttl.nsec3"};
	*field = FLD_TTL_SOA + (int)best; /* the FLD_TTL_* ids follow the same order */
	*name = names[best];
	return ttl[best];
}

static void check_name(kasp_checker_t *c)
{
	const char *name = c->p->name;
	size_t len = strnlen(name, sizeof(c->p->name));
	if (len == 0 || len >= sizeof(c->p->name)) {
		FAIL(c, FLD_NAME, FLD_NONE, FLD_NONE,
		     "policy: the name must be 1 to %zu characters", sizeof(c->p->name) - 1);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (!isalnum(ch) && ch != '-' && ch != '_' && ch != '.') {
			FAIL(c, FLD_NAME, FLD_NONE, FLD_NONE,
			     "policy: the name may hold only letters, digits, '-', '_' and '.'");
			return;
		}
	}
}

static void check_key(kasp_checker_t *c, const kasp_key_policy_t *k, int base, const char *sect)
{
	char a[32], b[32];
	const char *alg = algorithm_name(k->algorithm);

	if (alg == NULL) {
		FAIL(c, base + KEY_ALG, FLD_NONE, FLD_NONE,
		     "%s.algorithm: %u is not supported (8 rsasha256, 10 rsasha512, "
		     "13 ecdsap256sha256, 14 ecdsap384sha384, 15 ed25519)",
		     sect, k->algorithm);
	} else if (algorithm_is_rsa(k->algorithm)) {
		if (k->bits < 1024 || k->bits > 4096 || k->bits % 8 != 0) {
			FAIL(c, base + KEY_BITS, base + KEY_ALG, FLD_NONE,
			     "%s.bits: %u is not an RSA size tandem makes (1024 to 4096, a "
			     "multiple of 8)",
			     sect, k->bits);
		}
	} else if (k->bits != 0) {
		FAIL(c, base + KEY_BITS, base + KEY_ALG, FLD_NONE,
		     "%s.bits: applies to RSA only; %s keys have a fixed size", sect, alg);
	}

	if (k->lifetime <= k->prepublish) {
		duration_format(k->lifetime, a, sizeof(a));
		duration_format(k->prepublish, b, sizeof(b));
		FAIL(c, base + KEY_LIFETIME, base + KEY_PRE, FLD_NONE,
		     "%s.lifetime (%s) must be longer than %s.prepublish (%s): the successor "
		     "must be published while this key is active",
		     sect, a, sect, b);
	}
	if (k->emergency_postpublish > k->postpublish) {
		duration_format(k->emergency_postpublish, a, sizeof(a));
		duration_format(k->postpublish, b, sizeof(b));
		FAIL(c, base + KEY_EPOST, base + KEY_POST, FLD_NONE,
		     "%s.emergency-postpublish (%s) is longer than %s.postpublish (%s): an "
		     "emergency should not keep a compromised key longer than a planned roll",
		     sect, a, sect, b);
	}
}

/* RFC 7583 timing: the necessary conditions for pre-publication rollovers. */
static void check_timing(kasp_checker_t *c)
{
	const kasp_policy_t *p = c->p;
	char a[32], b[32];
	uint64_t dprp = p->propagation_delay;
	uint64_t ttlkey = p->ttl_dnskey;
	uint64_t dsgn = p->resign_interval;
	int ttlsig_field;
	const char *ttlsig_name;
	uint64_t ttlsig = policy_max_ttl(p, &ttlsig_field, &ttlsig_name);
	uint64_t parent = (uint64_t)p->parent_propagation_delay + p->parent_ds_ttl;

	/* ZSK Ipub = Dprp + TTLkey (RFC 7583 3.2.1). */
	uint64_t need = dprp + ttlkey;
	if (p->zsk.prepublish < need) {
		duration_format(p->zsk.prepublish, a, sizeof(a));
		duration_format(need, b, sizeof(b));
		FAIL(c, FLD_ZSK + KEY_PRE, FLD_TTL_DNSKEY, FLD_ZONE_PROPAGATION,
		     "keys.zsk.prepublish (%s) is shorter than zone.propagation-delay + "
		     "ttl.dnskey (%s): resolvers could see signatures by the new ZSK before "
		     "its DNSKEY (RFC 7583 3.2.1)",
		     a, b);
	}
	/* ZSK Iret = Dsgn + Dprp + TTLsig (RFC 7583 3.2.1). The signer keeps a stopped ZSK's
	 * signatures until the refresh schedule replaces them, all within key-roll-time, so
	 * that is Dsgn of a planned rollover (at least one cycle). An emergency replaces every
	 * signature of the compromised key in the next cycle: Dsgn is one resign interval. */
	uint64_t roll = max_u64(dsgn, kasp_policy_key_roll_time(p));
	need = roll + dprp + ttlsig;
	if (p->zsk.postpublish < need) {
		duration_format(p->zsk.postpublish, a, sizeof(a));
		duration_format(need, b, sizeof(b));
		FAIL(c, FLD_ZSK + KEY_POST, ttlsig_field, FLD_SIG_KEY_ROLL,
		     "keys.zsk.postpublish (%s) is shorter than signatures.key-roll-time (the "
		     "time the old ZSK's signatures take to be replaced; default validity - "
		     "jitter - refresh) + zone.propagation-delay + the largest TTL, %s (%s): "
		     "cached signatures by the old ZSK would outlive its DNSKEY (RFC 7583 3.2.1)",
		     a, ttlsig_name, b);
	}
	need = dsgn + dprp + ttlsig;
	if (p->zsk.emergency_postpublish < need) {
		duration_format(p->zsk.emergency_postpublish, a, sizeof(a));
		duration_format(need, b, sizeof(b));
		FAIL(c, FLD_ZSK + KEY_EPOST, ttlsig_field, FLD_ZONE_PROPAGATION,
		     "keys.zsk.emergency-postpublish (%s) is shorter than "
		     "signatures.resign-interval + zone.propagation-delay + the largest TTL, %s "
		     "(%s): cached signatures by the old ZSK would outlive its DNSKEY",
		     a, ttlsig_name, b);
	}

	/* KSK: the new DNSKEY must be in caches (Dprp + TTLkey, double-KSK) and
	 * the new DS too (Dprpp + TTLds, double-DS), so either method fits. */
	need = max_u64(dprp + ttlkey, parent);
	if (p->ksk.prepublish < need) {
		duration_format(p->ksk.prepublish, a, sizeof(a));
		duration_format(need, b, sizeof(b));
		FAIL(
		    c, FLD_KSK + KEY_PRE, FLD_TTL_DNSKEY, FLD_PARENT_DS_TTL,
		    "keys.ksk.prepublish (%s) is shorter than the larger of zone.propagation-delay "
		    "+ ttl.dnskey and parent.propagation-delay + parent.ds-ttl (%s): the new "
		    "DNSKEY and DS must reach caches before the KSK is used (RFC 7583 3.3)",
		    a, b);
	}
	/* Iret: the old DS must leave caches (Dprpp + TTLds) and the DNSKEY
	 * RRset it signed must too (Dsgn + Dprp + TTLkey). */
	need = max_u64(dsgn + dprp + ttlkey, parent);
	if (p->ksk.postpublish < need) {
		duration_format(p->ksk.postpublish, a, sizeof(a));
		duration_format(need, b, sizeof(b));
		FAIL(c, FLD_KSK + KEY_POST, FLD_PARENT_DS_TTL, FLD_TTL_DNSKEY,
		     "keys.ksk.postpublish (%s) is shorter than the larger of "
		     "signatures.resign-interval + zone.propagation-delay + ttl.dnskey and "
		     "parent.propagation-delay + parent.ds-ttl (%s): a cached DS or DNSKEY "
		     "signature would point at a withdrawn key (RFC 7583 3.3)",
		     a, b);
	}
	need = dsgn + dprp + ttlkey;
	if (p->ksk.emergency_postpublish < need) {
		duration_format(p->ksk.emergency_postpublish, a, sizeof(a));
		duration_format(need, b, sizeof(b));
		FAIL(c, FLD_KSK + KEY_EPOST, FLD_TTL_DNSKEY, FLD_ZONE_PROPAGATION,
		     "keys.ksk.emergency-postpublish (%s) is shorter than "
		     "signatures.resign-interval + zone.propagation-delay + ttl.dnskey (%s): "
		     "cached DNSKEY signatures by the old KSK would outlive it",
		     a, b);
	}
}

static void check_signatures(kasp_checker_t *c)
{
	const kasp_policy_t *p = c->p;
	char a[32], b[32];

	if (p->sig_validity == 0 || p->sig_validity > INT32_MAX) {
		FAIL(c, FLD_SIG_VALIDITY, FLD_NONE, FLD_NONE,
		     "signatures.validity must be above 0 and below 2^31 seconds (RFC 4034 3.1.5)");
		return;
	}
	if (p->sig_jitter >= p->sig_validity) {
		duration_format(p->sig_jitter, a, sizeof(a));
		duration_format(p->sig_validity, b, sizeof(b));
		FAIL(c, FLD_SIG_JITTER, FLD_SIG_VALIDITY, FLD_NONE,
		     "signatures.jitter (%s) must be shorter than signatures.validity (%s): "
		     "a signature could expire as it is made",
		     a, b);
		return;
	}
	if (p->sig_inception_offset > p->sig_validity) {
		duration_format(p->sig_inception_offset, a, sizeof(a));
		duration_format(p->sig_validity, b, sizeof(b));
		FAIL(c, FLD_SIG_INCEPTION, FLD_SIG_VALIDITY, FLD_NONE,
		     "signatures.inception-offset (%s) is larger than signatures.validity (%s): "
		     "it allows for clock skew, not for signatures dated in the past",
		     a, b);
	}
	uint32_t shortest = p->sig_validity - p->sig_jitter;
	if (p->sig_refresh == 0 || p->sig_refresh >= shortest) {
		duration_format(p->sig_refresh, a, sizeof(a));
		duration_format(shortest, b, sizeof(b));
		FAIL(c, FLD_SIG_REFRESH, FLD_SIG_VALIDITY, FLD_SIG_JITTER,
		     "signatures.refresh (%s) must be above 0 and below validity - jitter (%s): "
		     "otherwise a new signature is already due for refresh",
		     a, b);
	}
	uint32_t window = p->sig_refresh < shortest ? shortest - p->sig_refresh : 0;
	if (p->key_roll_time != 0 &&
	    (p->key_roll_time < p->resign_interval || p->key_roll_time > window)) {
		duration_format(p->key_roll_time, a, sizeof(a));
		duration_format(window, b, sizeof(b));
		FAIL(c, FLD_SIG_KEY_ROLL, FLD_SIG_RESIGN, FLD_SIG_REFRESH,
		     "signatures.key-roll-time (%s) must be at least one resign-interval and at "
		     "most validity - jitter - refresh (%s): a stopped key's signatures are "
		     "refreshed within that window anyway",
		     a, b);
	}
	if (p->max_run_time == 0) {
		FAIL(c, FLD_SIG_MAX_RUN, FLD_NONE, FLD_NONE,
		     "signatures.max-run-time must be above 0");
	}
	if (p->resign_interval == 0) {
		FAIL(c, FLD_SIG_RESIGN, FLD_NONE, FLD_NONE,
		     "signatures.resign-interval must be above 0");
	} else if (p->sig_refresh != 0 &&
		   p->sig_refresh <= (uint64_t)p->resign_interval + p->propagation_delay) {
		duration_format(p->sig_refresh, a, sizeof(a));
		duration_format((uint64_t)p->resign_interval + p->propagation_delay, b, sizeof(b));
		FAIL(c, FLD_SIG_REFRESH, FLD_SIG_RESIGN, FLD_ZONE_PROPAGATION,
		     "signatures.refresh (%s) must be longer than signatures.resign-interval + "
		     "zone.propagation-delay (%s): a signature left alone by one cycle must "
		     "still be valid on the secondaries after the next",
		     a, b);
	}
}

static void check_denial(kasp_checker_t *c)
{
	const kasp_policy_t *p = c->p;

	if (p->denial != KASP_DENIAL_NSEC && p->denial != KASP_DENIAL_NSEC3) {
		FAIL(c, FLD_DEN_TYPE, FLD_NONE, FLD_NONE, "denial.type must be nsec or nsec3");
		return;
	}
	if (p->denial == KASP_DENIAL_NSEC) {
		if (p->nsec3_optout || p->nsec3_iterations != 0 || p->nsec3_salt_len != 0 ||
		    p->nsec3_resalt != 0) {
			FAIL(c, FLD_DEN_OPTOUT, FLD_DEN_ITERATIONS, FLD_DEN_SALT,
			     "denial: optout, iterations, salt-length and resalt are NSEC3 "
			     "settings, but denial.type is nsec");
		}
		return;
	}
	if (p->nsec3_iterations > KASP_ITERATIONS_MAX) {
		FAIL(c, FLD_DEN_ITERATIONS, FLD_NONE, FLD_NONE,
		     "denial.iterations %u is above %d: validators refuse such zones (RFC 9276 "
		     "3.2, RFC 5155 10.3); use 0",
		     p->nsec3_iterations, KASP_ITERATIONS_MAX);
	} else if (p->nsec3_iterations > 0) {
		WARN(c, FLD_DEN_ITERATIONS, FLD_NONE, FLD_NONE,
		     "denial.iterations %u: RFC 9276 3.1 asks for 0, and validators may treat "
		     "the zone as insecure",
		     p->nsec3_iterations);
	}
	if (p->nsec3_salt_len > 0) {
		WARN(c, FLD_DEN_SALT, FLD_NONE, FLD_NONE,
		     "denial.salt-length %u: RFC 9276 3.1 advises an empty salt",
		     p->nsec3_salt_len);
	} else if (p->nsec3_resalt != 0) {
		WARN(c, FLD_DEN_RESALT, FLD_NONE, FLD_NONE,
		     "denial.resalt has no effect with an empty salt");
	}
}

static void check_ttls(kasp_checker_t *c)
{
	const kasp_policy_t *p = c->p;
	const struct {
		int fld;
		const char *name;
		uint32_t value;
	} ttls[] = {
	    {FLD_TTL_SOA, "ttl.soa", p->ttl_soa},
	    {FLD_TTL_DNSKEY, "ttl.dnskey", p->ttl_dnskey},
	    {FLD_TTL_NS, "ttl.ns", p->ttl_ns},
	    {FLD_TTL_A, "ttl.a", p->ttl_a},
	    {FLD_TTL_AAAA, "ttl.aaaa", p->ttl_aaaa},
	    {FLD_TTL_DS, "ttl.ds", p->ttl_ds},
	    {FLD_TTL_NSEC3, "ttl.nsec3", p->ttl_nsec3},
	    {FLD_PARENT_DS_TTL, "parent.ds-ttl", p->parent_ds_ttl},
	};
	for (size_t i = 0; i < sizeof(ttls) / sizeof(ttls[0]); i++) {
		if (ttls[i].value == 0 || ttls[i].value > KASP_TTL_MAX) {
			FAIL(c, ttls[i].fld, FLD_NONE, FLD_NONE,
			     "%s %u must be 1 to 2147483647 seconds (RFC 2181 8)", ttls[i].name,
			     ttls[i].value);
		}
	}
}

static int check_all(kasp_checker_t *c)
{
	const kasp_policy_t *p = c->p;
	check_name(c);
	check_key(c, &p->ksk, FLD_KSK, "keys.ksk");
	check_key(c, &p->zsk, FLD_ZSK, "keys.zsk");
	if (p->ksk.algorithm != p->zsk.algorithm) {
		FAIL(c, FLD_ZSK + KEY_ALG, FLD_KSK + KEY_ALG, FLD_NONE,
		     "keys: the KSK and ZSK must share one algorithm, since every RRset must be "
		     "signed with each algorithm in the DNSKEY RRset (RFC 4035 2.2); change "
		     "algorithms with an algorithm rollover (RFC 6781 4.1.4)");
	}
	check_signatures(c);
	check_denial(c);
	if (p->serial > KASP_SERIAL_DATECOUNTER) {
		FAIL(c, FLD_ZONE_SERIAL, FLD_NONE, FLD_NONE,
		     "zone.serial must be keep, increment, unixtime or datecounter");
	}
	if (p->max_delegation_removal > 10000) {
		FAIL(c, FLD_ZONE_MAX_DELEG_REMOVAL, FLD_NONE, FLD_NONE,
		     "zone.max-delegation-removal must be a share from 0%% to 100%%");
	}
	if (p->review_timeout == 0 || p->review_timeout > 3600) {
		FAIL(c, FLD_ZONE_REVIEW_TIMEOUT, FLD_NONE, FLD_NONE,
		     "zone.review-timeout must be from 1s to 1h");
	} else if ((uint64_t)p->review_timeout * 2 >= p->max_run_time &&
		   (p->review_unsigned[0] != '\0' || p->review_signed[0] != '\0')) {
		FAIL(c, FLD_ZONE_REVIEW_TIMEOUT, FLD_SIG_MAX_RUN, FLD_NONE,
		     "zone.review-timeout must be less than half of signatures.max-run-time: "
		     "both hooks run inside one signing run");
	}
	if (p->input_settle > 3600) {
		FAIL(c, FLD_ZONE_INPUT_SETTLE, FLD_NONE, FLD_NONE,
		     "zone.input-settle must be at most 1h: a longer wait leaves inputs unsigned");
	}
	if (p->compare > KASP_COMPARE_REQUIRE) {
		FAIL(c, FLD_ZONE_COMPARE, FLD_NONE, FLD_NONE,
		     "zone.compare-before-publish must be off, wait or require");
	}
	if (p->compare_timeout == 0 || p->compare_timeout > 3600) {
		FAIL(c, FLD_ZONE_COMPARE_TIMEOUT, FLD_NONE, FLD_NONE,
		     "zone.compare-timeout must be from 1s to 1h: the standby's report is waited "
		     "for this long before publishing (compare-before-publish: wait) or alerting "
		     "(require)");
	}
	check_ttls(c);
	/* Timing sums are meaningless over a TTL that is already refused. */
	if (c->errors == 0) {
		check_timing(c);
	}
	return c->errors == 0 ? TANDEM_OK : TANDEM_KASP_EPOLICY;
}

int kasp_policy_check(const kasp_policy_t *p, tandem_diag_t *diag)
{
	if (p == NULL) {
		return TANDEM_EINVAL;
	}
	kasp_checker_t c = {.p = p, .diag = diag};
	return check_all(&c);
}

/* ---- the YAML loader ---------------------------------------------------- */

typedef struct kasp_loader {
	const char *file;
	yaml_document_t *doc;
	tandem_diag_t *diag;
	kasp_policy_t pol;
	unsigned line[FLD_COUNT];
	unsigned errors;
} kasp_loader_t;

static void load_error(kasp_loader_t *ld, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void load_error(kasp_loader_t *ld, unsigned line, const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	ld->errors++;
	tandem_diag_add(ld->diag, TANDEM_KASP_EPOLICY, "%s:%u: %s", ld->file, line, reason);
}

static unsigned node_line(const yaml_node_t *n)
{
	return (unsigned)n->start_mark.line + 1;
}

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SEQUENCE_NODE: return "a list";
	default: return "a value";
	}
}

/* The text of a scalar node, or NULL (after an error) for anything else. */
static const char *scalar_text(kasp_loader_t *ld, const yaml_node_t *n, const char *what)
{
	if (n->type != YAML_SCALAR_NODE) {
		load_error(ld, node_line(n), "%s: expected a value, found %s", what, node_kind(n));
		return NULL;
	}
	const char *text = (const char *)n->data.scalar.value;
	if (n->data.scalar.length == 0) {
		load_error(ld, node_line(n), "%s: missing value", what);
		return NULL;
	}
	if (strlen(text) != n->data.scalar.length) {
		load_error(ld, node_line(n), "%s: the value holds a NUL character", what);
		return NULL;
	}
	return text;
}

static bool parse_uint(const char *text, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (*text == '\0') {
		return false;
	}
	for (const char *p = text; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p)) {
			return false;
		}
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > max) {
			return false;
		}
	}
	*out = v;
	return true;
}

/* "10%", "2.5%", "10", "0.25": a share from 0 to 100 percent with at most two decimals, in
 * hundredths of a percent. */
static bool parse_share(const char *text, uint32_t *out)
{
	uint64_t whole = 0, frac = 0;
	size_t nwhole = 0, nfrac = 0;
	const char *p = text;
	for (; isdigit((unsigned char)*p) && nwhole < 4; p++, nwhole++) {
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (nwhole == 0) {
		return false;
	}
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p) && nfrac < 2; p++, nfrac++) {
			frac = frac * 10 + (uint64_t)(*p - '0');
		}
		if (nfrac == 0) {
			return false;
		}
		frac *= nfrac == 1 ? 10 : 1;
	}
	if (*p == '%') {
		p++;
	}
	if (*p != '\0' || whole * 100 + frac > 10000) {
		return false;
	}
	*out = (uint32_t)(whole * 100 + frac);
	return true;
}

static void set_field(kasp_loader_t *ld, const kasp_field_t *f, const yaml_node_t *value,
		      const char *what)
{
	const char *text = scalar_text(ld, value, what);
	if (text == NULL) {
		return;
	}
	unsigned line = node_line(value);
	void *dst = (char *)&ld->pol + f->off;
	uint64_t n;

	switch (f->kind) {
	case KIND_DURATION: {
		uint32_t secs;
		int ret = kasp_duration_parse(text, &secs);
		if (ret == TANDEM_ERANGE) {
			load_error(ld, line, "%s: '%s' is too long (at most 4294967295 seconds)",
				   what, text);
			return;
		}
		if (ret != TANDEM_OK) {
			load_error(ld, line,
				   "%s: '%s' is not a duration (write 30d, 12h, 15m, 90s, 1w, "
				   "1d12h, plain seconds, or ISO 8601 P7D, PT1H)",
				   what, text);
			return;
		}
		*(uint32_t *)dst = secs;
		break;
	}
	case KIND_ALGORITHM:
		if (parse_uint(text, 255, &n)) {
			*(uint8_t *)dst = (uint8_t)n;
			break;
		}
		if (dns_alg_from_str(text) > 0) {
			*(uint8_t *)dst = (uint8_t)dns_alg_from_str(text);
			break;
		}
		load_error(ld, line,
			   "%s: unknown algorithm '%s' (rsasha256, rsasha512, ecdsap256sha256, "
			   "ecdsap384sha384, ed25519, or a number)",
			   what, text);
		return;
	case KIND_BITS:
		if (!parse_uint(text, 65535, &n)) {
			load_error(ld, line, "%s: '%s' is not a key size in bits", what, text);
			return;
		}
		*(unsigned *)dst = (unsigned)n;
		break;
	case KIND_SHARE:
		if (!parse_share(text, (uint32_t *)dst)) {
			load_error(ld, line,
				   "%s: '%s' is not a share from 0%% to 100%% (write 10%%, 2.5%%)",
				   what, text);
			return;
		}
		break;
	case KIND_BOOL:
		if (strcmp(text, "true") == 0 || strcmp(text, "yes") == 0) {
			*(bool *)dst = true;
		} else if (strcmp(text, "false") == 0 || strcmp(text, "no") == 0) {
			*(bool *)dst = false;
		} else {
			load_error(ld, line, "%s: '%s' is not true or false", what, text);
			return;
		}
		break;
	case KIND_ITERATIONS:
		if (!parse_uint(text, 65535, &n)) {
			load_error(ld, line, "%s: '%s' is not a count from 0 to 65535", what, text);
			return;
		}
		*(uint16_t *)dst = (uint16_t)n;
		break;
	case KIND_SALT_LENGTH:
		if (!parse_uint(text, 255, &n)) {
			load_error(ld, line,
				   "%s: '%s' is not a salt length from 0 to 255 bytes (RFC 5155 "
				   "3.1.5)",
				   what, text);
			return;
		}
		*(uint8_t *)dst = (uint8_t)n;
		break;
	case KIND_DENIAL:
		if (strcmp(text, "nsec") == 0) {
			*(kasp_denial_t *)dst = KASP_DENIAL_NSEC;
		} else if (strcmp(text, "nsec3") == 0) {
			*(kasp_denial_t *)dst = KASP_DENIAL_NSEC3;
		} else {
			load_error(ld, line, "%s: '%s' is not nsec or nsec3", what, text);
			return;
		}
		break;
	case KIND_SERIAL:
		for (size_t i = 0; i < 4; i++) {
			if (strcmp(text, kasp_serial_names[i]) == 0) {
				*(kasp_serial_t *)dst = (kasp_serial_t)i;
				goto done;
			}
		}
		load_error(ld, line, "%s: '%s' is not keep, increment, unixtime or datecounter",
			   what, text);
		return;
	case KIND_COMMAND: {
		char copy[KASP_REVIEW_CMD_MAX], why[256];
		char *argv[KASP_REVIEW_WORDS_MAX + 1];
		size_t argc;
		if (strlen(text) >= sizeof(copy)) {
			load_error(ld, line, "%s: longer than %d bytes", what,
				   KASP_REVIEW_CMD_MAX - 1);
			return;
		}
		snprintf(copy, sizeof(copy), "%s", text);
		if (kasp_review_split(copy, argv, &argc, why, sizeof(why)) != TANDEM_OK) {
			load_error(ld, line, "%s: the command %s", what, why);
			return;
		}
		snprintf((char *)dst, KASP_REVIEW_CMD_MAX, "%s", text);
		break;
	}
	case KIND_SIGNER_OWNED:
		if (strcmp(text, "drop") == 0) {
			*(kasp_signer_owned_t *)dst = KASP_SIGNER_OWNED_DROP;
		} else if (strcmp(text, "refuse") == 0) {
			*(kasp_signer_owned_t *)dst = KASP_SIGNER_OWNED_REFUSE;
		} else {
			load_error(ld, line, "%s: '%s' is not drop or refuse", what, text);
			return;
		}
		break;
	case KIND_COMPARE:
		for (size_t i = 0; i < 3; i++) {
			if (strcmp(text, kasp_compare_names[i]) == 0) {
				*(kasp_compare_t *)dst = (kasp_compare_t)i;
				goto done;
			}
		}
		load_error(ld, line, "%s: '%s' is not off, wait or require", what, text);
		return;
	case KIND_ZONEMD:
		for (size_t i = 0; i < 3; i++) {
			if (strcmp(text, kasp_zonemd_names[i]) == 0) {
				*(kasp_zonemd_t *)dst = (kasp_zonemd_t)i;
				goto done;
			}
		}
		load_error(ld, line, "%s: '%s' is not off, simple-sha384 or simple-sha512", what,
			   text);
		return;
	}
done:
	ld->line[f->id] = line;
}

/* "unknown key 'x' in sect (known: a, b)" and a hint for x_y spelled for x-y. */
static void unknown_key(kasp_loader_t *ld, unsigned line, const char *key, const char *sect,
			const char *const *known, size_t nknown)
{
	char list[256] = "", hint[96] = "", alt[64];
	size_t len = 0;
	snprintf(alt, sizeof(alt), "%s", key);
	for (char *p = alt; *p != '\0'; p++) {
		*p = *p == '_' ? '-' : (char)tolower((unsigned char)*p);
	}
	for (size_t i = 0; i < nknown; i++) {
		int w = snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", known[i]);
		if (w < 0 || (size_t)w >= sizeof(list) - len) {
			break;
		}
		len += (size_t)w;
		if (hint[0] == '\0' && strcmp(alt, known[i]) == 0) {
			snprintf(hint, sizeof(hint), "; did you mean '%s'?", known[i]);
		}
	}
	load_error(ld, line, "unknown key '%s' in %s (known: %s)%s", key, sect, list, hint);
}

typedef struct kasp_pair_iter {
	yaml_node_pair_t *at, *end;
} kasp_pair_iter_t;

/* Next (key text, value node) of a mapping; keys that are not scalars are errors. */
static bool mapping_next(kasp_loader_t *ld, kasp_pair_iter_t *it, const char **key,
			 yaml_node_t **keynode, yaml_node_t **value)
{
	while (it->at < it->end) {
		yaml_node_pair_t *pair = it->at++;
		yaml_node_t *k = yaml_document_get_node(ld->doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(ld->doc, pair->value);
		if (k == NULL || v == NULL) {
			continue;
		}
		if (k->type != YAML_SCALAR_NODE) {
			load_error(ld, node_line(k), "keys must be plain names, found %s",
				   node_kind(k));
			continue;
		}
		*key = (const char *)k->data.scalar.value;
		*keynode = k;
		*value = v;
		return true;
	}
	return false;
}

static bool expect_mapping(kasp_loader_t *ld, const yaml_node_t *n, const char *what,
			   kasp_pair_iter_t *it)
{
	if (n->type != YAML_MAPPING_NODE) {
		load_error(ld, node_line(n), "%s: expected a mapping of settings, found %s", what,
			   node_kind(n));
		return false;
	}
	it->at = n->data.mapping.pairs.start;
	it->end = n->data.mapping.pairs.top;
	return true;
}

/* Reads the fields of one section ("signatures", "keys.ksk", ...). */
static void load_section(kasp_loader_t *ld, const yaml_node_t *n, const char *sect)
{
	kasp_pair_iter_t it;
	if (!expect_mapping(ld, n, sect, &it)) {
		return;
	}
	const char *known[KASP_NFIELDS];
	size_t nknown = 0;
	for (size_t i = 0; i < KASP_NFIELDS; i++) {
		if (strcmp(kasp_fields[i].section, sect) == 0) {
			known[nknown++] = kasp_fields[i].key;
		}
	}
	const char *key;
	yaml_node_t *kn, *v;
	while (mapping_next(ld, &it, &key, &kn, &v)) {
		const kasp_field_t *f = NULL;
		for (size_t i = 0; i < KASP_NFIELDS && f == NULL; i++) {
			if (strcmp(kasp_fields[i].section, sect) == 0 &&
			    strcmp(kasp_fields[i].key, key) == 0) {
				f = &kasp_fields[i];
			}
		}
		if (f == NULL) {
			unknown_key(ld, node_line(kn), key, sect, known, nknown);
			continue;
		}
		char what[96];
		snprintf(what, sizeof(what), "%s.%s", sect, key);
		if (ld->line[f->id] != 0) {
			load_error(ld, node_line(kn), "%s: given twice (first at line %u)", what,
				   ld->line[f->id]);
			continue;
		}
		set_field(ld, f, v, what);
	}
}

static void load_keys(kasp_loader_t *ld, const yaml_node_t *n)
{
	static const char *const known[] = {"ksk", "zsk", "archive-retention"};
	kasp_pair_iter_t it;
	unsigned seen[2] = {0, 0};
	if (!expect_mapping(ld, n, "keys", &it)) {
		return;
	}
	const char *key;
	yaml_node_t *kn, *v;
	while (mapping_next(ld, &it, &key, &kn, &v)) {
		size_t i = strcmp(key, "ksk") == 0 ? 0 : strcmp(key, "zsk") == 0 ? 1 : 2;
		if (i == 2 && strcmp(key, "archive-retention") == 0) {
			const kasp_field_t *f = NULL;
			for (size_t j = 0; j < KASP_NFIELDS; j++) {
				if (kasp_fields[j].id == FLD_KEYS_ARCHIVE_RETENTION) {
					f = &kasp_fields[j];
				}
			}
			if (ld->line[f->id] != 0) {
				load_error(ld, node_line(kn),
					   "keys.%s: given twice (first at line %u)", key,
					   ld->line[f->id]);
			} else {
				set_field(ld, f, v, "keys.archive-retention");
			}
			continue;
		}
		if (i == 2) {
			unknown_key(ld, node_line(kn), key, "keys", known, 3);
			continue;
		}
		if (seen[i] != 0) {
			load_error(ld, node_line(kn), "keys.%s: given twice (first at line %u)",
				   key, seen[i]);
			continue;
		}
		seen[i] = node_line(kn);
		load_section(ld, v, i == 0 ? "keys.ksk" : "keys.zsk");
	}
}

static void load_name(kasp_loader_t *ld, const yaml_node_t *v)
{
	const char *text = scalar_text(ld, v, "policy");
	if (text == NULL) {
		return;
	}
	if (strlen(text) >= sizeof(ld->pol.name)) {
		load_error(ld, node_line(v), "policy: the name is longer than %zu characters",
			   sizeof(ld->pol.name) - 1);
		return;
	}
	snprintf(ld->pol.name, sizeof(ld->pol.name), "%s", text);
	ld->line[FLD_NAME] = node_line(v);
}

static void load_root(kasp_loader_t *ld, const yaml_node_t *root)
{
	/* known[2..] are kasp_sections, in the same order. */
	static const char *const known[] = {"policy", "keys", "signatures", "denial",
					    "zone",   "ttl",  "parent"};
	const size_t nknown = sizeof(known) / sizeof(known[0]);
	unsigned seen[sizeof(known) / sizeof(known[0])] = {0};
	kasp_pair_iter_t it;

	if (root->type != YAML_MAPPING_NODE) {
		load_error(ld, node_line(root),
			   "expected a policy mapping (policy:, keys:, signatures:, ...), found %s",
			   node_kind(root));
		return;
	}
	it.at = root->data.mapping.pairs.start;
	it.end = root->data.mapping.pairs.top;
	const char *key;
	yaml_node_t *kn, *v;
	while (mapping_next(ld, &it, &key, &kn, &v)) {
		size_t i = 0;
		while (i < nknown && strcmp(key, known[i]) != 0) {
			i++;
		}
		if (i == nknown) {
			unknown_key(ld, node_line(kn), key, "the policy", known, nknown);
			continue;
		}
		if (seen[i] != 0) {
			load_error(ld, node_line(kn), "%s: given twice (first at line %u)", key,
				   seen[i]);
			continue;
		}
		seen[i] = node_line(kn);
		if (i == 0) {
			load_name(ld, v);
		} else if (i == 1) {
			load_keys(ld, v);
		} else {
			load_section(ld, v, kasp_sections[i - 2]);
		}
	}
	if (seen[0] == 0) {
		load_error(ld, node_line(root), "missing 'policy: NAME' naming this policy");
	}
}

/* EC keys have no size to choose: an RSA default for bits is dropped when the
 * file picks an EC algorithm, and a bits key given with one is refused. */
static void load_fix_bits(kasp_loader_t *ld)
{
	kasp_key_policy_t *keys[2] = {&ld->pol.ksk, &ld->pol.zsk};
	const int base[2] = {FLD_KSK, FLD_ZSK};
	const char *sect[2] = {"keys.ksk", "keys.zsk"};
	for (size_t i = 0; i < 2; i++) {
		uint8_t alg = keys[i]->algorithm;
		if (algorithm_is_rsa(alg) || algorithm_name(alg) == NULL) {
			continue;
		}
		if (ld->line[base[i] + KEY_BITS] != 0) {
			load_error(ld, ld->line[base[i] + KEY_BITS],
				   "%s.bits: applies to RSA only; %s keys have a fixed size, "
				   "remove the line",
				   sect[i], algorithm_name(alg));
		}
		keys[i]->bits = 0;
	}
}

/* Line of a reader error, which libyaml gives as a byte offset. */
static unsigned offset_line(const char *text, size_t len, size_t offset)
{
	unsigned line = 1;
	for (size_t i = 0; i < offset && i < len; i++) {
		line += text[i] == '\n';
	}
	return line;
}

static int yaml_failure(kasp_loader_t *ld, const yaml_parser_t *parser, const char *text,
			size_t len)
{
	if (parser->error == YAML_MEMORY_ERROR) {
		return TANDEM_ENOMEM;
	}
	unsigned line = parser->error == YAML_READER_ERROR
			    ? offset_line(text, len, parser->problem_offset)
			    : (unsigned)parser->problem_mark.line + 1;
	const char *problem = parser->problem ? parser->problem : "unknown error";
	if (parser->context != NULL) {
		load_error(ld, line, "not valid YAML: %s (%s that starts at line %u)", problem,
			   parser->context, (unsigned)parser->context_mark.line + 1);
	} else {
		load_error(ld, line, "not valid YAML: %s", problem);
	}
	return TANDEM_KASP_EPOLICY;
}

int kasp_policy_load(const char *path, tandem_diag_t *diag, kasp_policy_t *out)
{
	if (path == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	char *text = NULL;
	size_t len = 0;
	int ret = tandem_file_read(path, KASP_POLICY_MAX, &text, &len);
	if (ret == TANDEM_ENOENT || ret == TANDEM_EIO) {
		tandem_diag_add(diag, TANDEM_EIO, "%s: %s", path,
				ret == TANDEM_ENOENT ? "no such file" : "cannot read the file");
		ret = TANDEM_EIO;
	} else if (ret == TANDEM_ERANGE) {
		tandem_diag_add(diag, TANDEM_KASP_EPOLICY, "%s:1: the file is larger than %d bytes",
				path, KASP_POLICY_MAX);
		ret = TANDEM_KASP_EPOLICY;
	} else if (ret == TANDEM_OK) {
		ret = kasp_policy_parse(path, text, len, diag, out);
	}
	free(text);
	return ret;
}

int kasp_policy_parse(const char *label, const char *text, size_t len, tandem_diag_t *diag,
		      kasp_policy_t *out)
{
	if (label == NULL || text == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	kasp_loader_t ld = {.file = label, .diag = diag};
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	bool parser_ready = false, doc_ready = false;
	int ret = TANDEM_OK;

	kasp_policy_defaults(&ld.pol);
	if (len > KASP_POLICY_MAX) {
		load_error(&ld, 1, "the file is larger than %d bytes", KASP_POLICY_MAX);
		ret = TANDEM_KASP_EPOLICY;
		goto out;
	}

	if (!yaml_parser_initialize(&parser)) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	parser_ready = true;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		ret = yaml_failure(&ld, &parser, text, len);
		goto out;
	}
	doc_ready = true;
	ld.doc = &doc;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (root == NULL) {
		load_error(&ld, 1, "the file is empty; expected a policy (see docs/policy.md)");
		ret = TANDEM_KASP_EPOLICY;
		goto out;
	}
	if (!yaml_parser_load(&parser, &extra)) {
		ret = yaml_failure(&ld, &parser, text, len);
		goto out;
	}
	yaml_node_t *second = yaml_document_get_root_node(&extra);
	if (second != NULL) {
		load_error(&ld, node_line(second), "only one YAML document is allowed");
	}
	yaml_document_delete(&extra);

	load_root(&ld, root);
	load_fix_bits(&ld);
	if (ld.errors != 0) {
		ret = TANDEM_KASP_EPOLICY;
		goto out;
	}
	kasp_checker_t c = {
	    .p = &ld.pol,
	    .file = label,
	    .line = ld.line,
	    .fallback_line = node_line(root),
	    .diag = diag,
	};
	ret = check_all(&c);
	if (ret == TANDEM_OK) {
		*out = ld.pol;
	}
out:
	if (doc_ready) {
		yaml_document_delete(&doc);
	}
	if (parser_ready) {
		yaml_parser_delete(&parser);
	}
	return ret;
}
