/* The config schemas of tandemd and tandem-coord (one key per long option) and their docs. */
#include "conf.h"

#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#define DAY INT64_C(86400)

static const char *const conf_sites[] = {"A", "B", "C", "D", NULL};
static const char *const conf_log_targets[] = {"stderr", "syslog", NULL};
static const char *const conf_log_levels[] = {"info", "notice", "warning", NULL};

/* The log keys, the same in both daemons' tables (tandem_log.h). */
#define CONF_LOG_KEYS                                                                              \
	{.name = "log-target",                                                                     \
	 .type = CONF_ENUM,                                                                        \
	 .def = "stderr",                                                                          \
	 .values = conf_log_targets,                                                               \
	 .doc = "where log lines go: stderr (systemd's journal) or syslog"},                       \
	    {.name = "log-level",                                                                  \
	     .type = CONF_ENUM,                                                                    \
	     .def = "info",                                                                        \
	     .values = conf_log_levels,                                                            \
	     .flags = CONF_LIVE,                                                                   \
	     .doc =                                                                                \
		 "the least a line must matter to be logged: info (every line), notice (not "      \
		 "the routine lines of each cycle: run summaries, commits, publications, files "   \
		 "written), warning (only ALERT lines)"},                                          \
	{                                                                                          \
		.name = "syslog-socket", .type = CONF_PATH, .def = "/dev/log",                     \
		.doc = "the syslog socket (log-target: syslog), a Unix datagram socket"            \
	}

static const conf_field_t tdm_coord_fields[] = {
    {"endpoint", CONF_ENDPOINT, "coord", "the coordinator's tcp://HOST:PORT"},
    {"public-key", CONF_PATH, "coord-pub", "its CURVE public key file"},
    {NULL, CONF_STRING, NULL, NULL}};

static const conf_field_t tdm_zone_fields[] = {
    {"name", CONF_DNAME, NULL, "the zone's name (example. or example)"},
    {"input", CONF_PATH, NULL, "its unsigned zone file"},
    {NULL, CONF_STRING, NULL, NULL}};

static const conf_field_t tdm_primary_fields[] = {
    {"zone", CONF_DNAME, NULL, "a zone of the node (a --zone)"},
    {"address", CONF_HOSTPORT, NULL, "its hidden primary, ADDR:PORT"},
    {NULL, CONF_STRING, NULL, NULL}};

static const conf_key_t tdm_keys[] = {
    {.name = "name",
     .type = CONF_NAME,
     .flags = CONF_REQUIRED,
     .doc = "the node's name: the name its CURVE key has in the coordinators' allow-list"},
    {.name = "site",
     .type = CONF_ENUM,
     .flags = CONF_REQUIRED,
     .values = conf_sites,
     .doc = "the node's site"},
    {.name = "key",
     .type = CONF_SECRET,
     .flags = CONF_REQUIRED,
     .doc = "the node's CURVE secret key file (mode 0600)"},
    {.name = "coord",
     .type = CONF_RECORDS,
     .flags = CONF_REQUIRED,
     .min = 1,
     .max = 4,
     .fields = tdm_coord_fields,
     .doc = "the coordinators, the node's own site's first; the others are tried when it "
	    "does not answer"},
    {.name = "module",
     .type = CONF_PATH,
     .def = "the token URI's module-path",
     .doc = "the PKCS#11 module (libsofthsm2.so, the HSM vendor's library)"},
    {.name = "token",
     .type = CONF_TOKEN,
     .flags = CONF_REQUIRED,
     .doc = "the HSM token, pkcs11:token=T;pin-source=FILE (the PIN file mode 0600; a "
	    "pin-value is refused)"},
    {.name = "policy",
     .type = CONF_PATH,
     .def = "the DPS defaults",
     .doc = "the signing policy (docs/policy.md); the same on every node"},
    {.name = "zone",
     .type = CONF_RECORDS,
     .flags = CONF_REQUIRED | CONF_LIVE,
     .min = 1,
     .max = 1024, /* COORD_ZONES_MAX */
     .fields = tdm_zone_fields,
     .join = "=",
     .doc = "the zones the node signs (SIGHUP adds and removes zones; a changed input "
	    "takes a restart)"},
    {.name = "out",
     .type = CONF_PATH,
     .flags = CONF_REQUIRED,
     .doc = "where zones are published (DIR/NAMEzone, DIR/publish.log)"},
    {.name = "work",
     .type = CONF_PATH,
     .flags = CONF_REQUIRED,
     .doc = "scratch space (shadow runs, input copies), mode 0700"},
    {.name = "cycle",
     .type = CONF_DURATION,
     .flags = CONF_LIVE,
     .def = "15m",
     .min = 1,
     .max = DAY,
     .doc = "the re-sign cycle"},
    {.name = "journal-max-entries",
     .type = CONF_INT,
     .def = "100",
     .min = 0,
     .max = 1000000,
     .doc = "changesets a zone's journal keeps (0: no limit); the oldest go first"},
    {.name = "journal-max-bytes",
     .type = CONF_INT,
     .def = "268435456",
     .min = 0,
     .max = INT64_C(1) << 40,
     .doc = "bytes a zone's journal may hold (0: no limit, else 4096 or more)"},
    {.name = "threads",
     .type = CONF_INT,
     .def = "1",
     .min = 1,
     .max = 64,
     .doc = "signing threads, one HSM session each"},
    {.name = "keygen-workers",
     .type = CONF_INT,
     .def = "2",
     .min = 1,
     .max = 8,
     .doc = "keys made in the HSM at once, each on a thread and session of its own"},
    {.name = "skr-margin",
     .type = CONF_DURATION,
     .flags = CONF_LIVE,
     .def = "3d",
     .min = 0,
     .max = 400 * DAY,
     .doc = "offline-KSK zones: stop signing when the imported SKRs end within this"},
    {.name = "smk-check",
     .type = CONF_HEX,
     .max = 64,
     .doc = "the ceremony's SMK check value (64 hex digits) the token's SMK must have"},
    {.name = "pid-file", .type = CONF_PATH, .doc = "a file the node writes its pid to"},
    {.name = "metrics",
     .type = CONF_HOSTPORT,
     .doc = "serve Prometheus metrics on http://HOST:PORT/metrics (port 0: a free one)"},
    {.name = "xfr-listen",
     .type = CONF_LIST,
     .item = CONF_HOSTPORT,
     .min = 0,
     .max = 8,
     .doc = "serve SOA, AXFR and IXFR of what this node published on ADDR:PORT, TCP and "
	    "UDP (port 0: a free one; docs/dist.md)"},
    {.name = "tsig-key",
     .type = CONF_LIST,
     .item = CONF_SECRET,
     .min = 0,
     .max = 8,
     .doc =
	 "a TSIG key file, one line NAME ALGORITHM (hmac-sha256 or hmac-sha512) BASE64SECRET (mode "
	 "0600); every transfer request must be signed by one"},
    {.name = "xfr-acl",
     .type = CONF_LIST,
     .item = CONF_STRING,
     .min = 0,
     .max = 64,
     .flags = CONF_LIVE,
     .doc = "who may transfer: PREFIX or PREFIX,KEYNAME (none: any address with a key)"},
    {.name = "notify",
     .type = CONF_LIST,
     .item = CONF_HOSTPORT,
     .min = 0,
     .max = 16,
     .flags = CONF_LIVE,
     .doc = "secondaries told of each publication by NOTIFY (RFC 1996), signed with the first "
	    "tsig-key, retried with growing gaps; needs xfr-listen"},
    {.name = "max-ixfr-ratio",
     .type = CONF_STRING,
     .def = "1.0",
     .doc = "an IXFR with more records than this times the zone's is sent as the whole zone "
	    "(a number above 0, or unlimited)"},
    {.name = "primary",
     .type = CONF_RECORDS,
     .min = 0,
     .max = 1024,
     .fields = tdm_primary_fields,
     .join = "=",
     .doc = "take the zone's input by IXFR/AXFR with TSIG from a hidden primary, on its SOA "
	    "refresh timer and its NOTIFY, written over the zone's input file; needs "
	    "xfr-listen (docs/dist.md, Input by transfer)"},
    {.name = "primary-tsig-key",
     .type = CONF_SECRET,
     .def = "the first tsig-key",
     .doc = "the TSIG key file (NAME ALGORITHM BASE64SECRET, mode 0600) that signs transfers "
	    "from the primaries and their NOTIFYs"},
    {.name = "notify-in-acl",
     .type = CONF_LIST,
     .item = CONF_STRING,
     .min = 0,
     .max = 64,
     .doc = "who may NOTIFY this node of a primary's new serial: PREFIX entries (none: each "
	    "zone's primary address)"},
    CONF_LOG_KEYS,
    {.name = "review-listen",
     .type = CONF_HOSTPORT,
     .doc = "serve each version under review by AXFR/SOA with TSIG (a tsig-key) on this "
	    "loopback ADDR:PORT while its review hook runs, and only then (port 0: a free "
	    "one; docs/node.md, Review hooks)"},
};

static const conf_field_t coord_peer_fields[] = {
    {"name", CONF_NAME, NULL, "the peer coordinator's name in the allow-list"},
    {"endpoint", CONF_ENDPOINT, NULL, "its tcp://HOST:PORT"},
    {NULL, CONF_STRING, NULL, NULL}};

static const conf_key_t coord_keys[] = {
    {.name = "etcd",
     .type = CONF_LIST,
     .item = CONF_URL,
     .flags = CONF_REQUIRED,
     .min = 1,
     .max = 16,
     .join = ",",
     .doc = "the etcd endpoints (https:// with etcd-ca, etcd-cert and etcd-key)"},
    {.name = "listen",
     .type = CONF_ENDPOINT,
     .flags = CONF_REQUIRED,
     .doc = "where the coordinator answers (tcp://HOST:* picks a free port)"},
    {.name = "key",
     .type = CONF_SECRET,
     .flags = CONF_REQUIRED,
     .doc = "the coordinator's CURVE secret key file (mode 0600)"},
    {.name = "allow",
     .type = CONF_PATH,
     .flags = CONF_REQUIRED,
     .doc = "the allow-list of CURVE keys and roles (the file's contents are read again "
	    "on SIGHUP; a new path takes a restart)"},
    {.name = "name",
     .type = CONF_NAME,
     .def = "coord",
     .doc = "the coordinator's name (1 to 63 printable characters, no spaces)"},
    {.name = "prefix", .type = CONF_STRING, .def = "/tandem/v1/", .doc = "the etcd key prefix"},
    {.name = "lease-ms",
     .type = CONF_INT,
     .def = "the cluster's (10000)",
     .min = 1,
     .max = 3600000,
     .doc = "lease duration in ms; must agree with the cluster's stored value"},
    {.name = "margin-ms",
     .type = CONF_INT,
     .def = "the cluster's (2000)",
     .min = 1,
     .max = 1200000,
     .doc = "clock-drift margin in ms, below a third of the lease"},
    {.name = "pid-file", .type = CONF_PATH, .doc = "a file the coordinator writes its pid to"},
    {.name = "zone",
     .type = CONF_LIST,
     .item = CONF_DNAME,
     .flags = CONF_LIVE,
     .min = 0,
     .max = 1024, /* COORD_ZONES_MAX */
     .doc = "zones added to the cluster at start (and on SIGHUP; removing one takes "
	    "tandemctl zone remove)"},
    {.name = "no-compare-digests",
     .type = CONF_BOOL,
     .def = "false",
     .doc = "add the zone list's zones without comparing the standbys' digests (ECDSA and "
	    "EdDSA signatures differ at each signing)"},
    {.name = "peer",
     .type = CONF_RECORDS,
     .min = 0,
     .max = 8,
     .fields = coord_peer_fields,
     .join = "=",
     .doc = "other coordinators whose clocks are compared with this one's"},
    {.name = "etcd-ca", .type = CONF_PATH, .doc = "the CA that signed etcd's certificates"},
    {.name = "etcd-cert", .type = CONF_PATH, .doc = "the client certificate for etcd"},
    {.name = "etcd-key",
     .type = CONF_SECRET,
     .doc = "the client certificate's private key (mode 0600)"},
    {.name = "insecure-etcd",
     .type = CONF_BOOL,
     .def = "false",
     .doc = "allow plain http:// etcd endpoints"},
    {.name = "metrics",
     .type = CONF_HOSTPORT,
     .doc = "serve Prometheus metrics on http://HOST:PORT/metrics (port 0: a free one)"},
    {.name = "audit-mirror",
     .type = CONF_PATH,
     .def = "audit-NAME.jsonl",
     .doc = "the audit log's local mirror"},
    {.name = "audit-archive",
     .type = CONF_PATH,
     .def = "beside the mirror",
     .doc = "where retention archives go"},
    {.name = "audit-key",
     .type = CONF_SECRET,
     .doc = "the audit anchor key (tandemctl audit keygen), mode 0600"},
    {.name = "audit-anchor-interval",
     .type = CONF_DURATION,
     .def = "1h",
     .min = 1,
     .max = 366 * DAY,
     .doc = "how often the audit chain is anchored"},
    {.name = "audit-retention",
     .type = CONF_DURATION,
     .def = "365d",
     .min = 0,
     .max = 49000 * DAY,
     .doc = "how long audit entries stay in etcd (0: keep all)"},
    {.name = "approval-rules",
     .type = CONF_PATH,
     .def = "the DPS defaults",
     .doc = "who approves what (docs/approvals.md)"},
    {.name = "role-mirror",
     .type = CONF_PATH,
     .doc = "a local copy of the role table (docs/approvals.md, \"Break glass\")"},
    {.name = "archive-grant",
     .type = CONF_LIST,
     .item = CONF_NAME,
     .min = 0,
     .max = 16, /* COORD_NODES_MAX */
     .doc = "nodes the cluster is set up with: the first grant table lets them import "
	    "every zone's keys from the archive (docs/approvals.md)"},
    CONF_LOG_KEYS,
};

static const conf_schema_t tdm_schema = {.program = "tandemd",
					 .default_path = "/etc/tandem/tandemd.yaml",
					 .keys = tdm_keys,
					 .nkeys = sizeof(tdm_keys) / sizeof(tdm_keys[0])};

static const conf_schema_t coord_schema = {.program = "tandem-coord",
					   .default_path = "/etc/tandem/tandem-coord.yaml",
					   .keys = coord_keys,
					   .nkeys = sizeof(coord_keys) / sizeof(coord_keys[0])};

const conf_schema_t *conf_schema_tandemd(void)
{
	return &tdm_schema;
}

const conf_schema_t *conf_schema_coord(void)
{
	return &coord_schema;
}

static const char *type_name(conf_type_t t)
{
	switch (t) {
	case CONF_STRING: return "string";
	case CONF_NAME: return "name";
	case CONF_DNAME: return "domain name";
	case CONF_HEX: return "hex";
	case CONF_PATH: return "path";
	case CONF_SECRET: return "secret file";
	case CONF_TOKEN: return "PKCS#11 URI";
	case CONF_INT: return "integer";
	case CONF_DURATION: return "duration";
	case CONF_BOOL: return "bool";
	case CONF_ENUM: return "enum";
	case CONF_HOSTPORT: return "HOST:PORT";
	case CONF_ENDPOINT: return "tcp://HOST:PORT";
	case CONF_URL: return "URL";
	case CONF_LIST: return "list";
	case CONF_RECORDS: return "list of mappings";
	}
	return "?";
}

static void type_text(const conf_key_t *k, char *buf, size_t size)
{
	switch (k->type) {
	case CONF_INT: snprintf(buf, size, "integer %" PRId64 "..%" PRId64, k->min, k->max); break;
	case CONF_DURATION:
		snprintf(buf, size, "duration %" PRId64 "..%" PRId64 " s", k->min, k->max);
		break;
	case CONF_HEX: snprintf(buf, size, "%" PRId64 " hex digits", k->max); break;
	case CONF_ENUM: {
		size_t len = (size_t)snprintf(buf, size, "one of");
		for (size_t i = 0; k->values[i] != NULL && len < size; i++) {
			len += (size_t)snprintf(buf + len, size - len, " %s", k->values[i]);
		}
		break;
	}
	case CONF_LIST:
		snprintf(buf, size, "list of %s (up to %" PRId64 ")", type_name(k->item), k->max);
		break;
	case CONF_RECORDS:
		snprintf(buf, size, "list of mappings (up to %" PRId64 ")", k->max);
		break;
	default: snprintf(buf, size, "%s", type_name(k->type)); break;
	}
}

void conf_schema_print(const conf_schema_t *schema, FILE *fp)
{
	char type[160];
	if (schema == NULL || fp == NULL) {
		return;
	}
	fprintf(fp, "| key | type | default | on SIGHUP | meaning |\n");
	fprintf(fp, "|---|---|---|---|---|\n");
	for (size_t i = 0; i < schema->nkeys; i++) {
		const conf_key_t *k = &schema->keys[i];
		type_text(k, type, sizeof(type));
		fprintf(fp, "| `%s` | %s | %s | %s | %s |\n", k->name, type,
			(k->flags & CONF_REQUIRED) != 0 ? "required"
			: k->def != NULL                ? k->def
							: "none",
			(k->flags & CONF_LIVE) != 0 ? "applied" : "restart", k->doc);
		for (size_t f = 0; k->fields != NULL && k->fields[f].name != NULL; f++) {
			const conf_field_t *fd = &k->fields[f];
			fprintf(fp, "| `%s[].%s` | %s | required | | %s%s%s%s |\n", k->name,
				fd->name, type_name(fd->type), fd->doc,
				fd->opt != NULL ? " (`--" : "", fd->opt != NULL ? fd->opt : "",
				fd->opt != NULL ? "`)" : "");
		}
	}
}
