/* tandemctl audit: anchor keys, and showing, verifying and exporting the audit log. */
#include "audit_log.h"
#include "coordrpc.h"
#include "coordrpc_audit.h"
#include "tandem_diag.h"
#include "tandem_encode.h"
#include "tandem_error.h"
#include "tandem_file.h"
#include "tandem_text.h"
#include "tandemctl.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_INPUT = 2, EXIT_FAULT = 4, EXIT_IO = 5 };

#define WHO "tandemctl audit"

static void usage(FILE *fp)
{
	fprintf(
	    fp,
	    "usage: tandemctl audit keygen --secret FILE --public FILE [--name NAME]\n"
	    "       tandemctl audit show [--since T] [--type T] [--zone Z] [--json] [--file F]\n"
	    "       tandemctl audit verify [--file F] [--against F] [--anchor-keys FILE]\n"
	    "       tandemctl audit export [--since T] > FILE\n"
	    "       tandemctl audit import-ceremony|verify-ceremony RECORD [--offline]\n"
	    "       tandemctl audit import-offline FILE\n"
	    "  the cluster's chain through a coordinator (--coord EP[,EP..] --coord-pub\n"
	    "  FILE[,FILE..] --key SECRET, or TANDEM_COORD, TANDEM_COORD_PUB, TANDEM_KEY), or\n"
	    "  a mirrored or exported file (--file). T: YYYY-MM-DD[THH:MM[:SS]Z] (UTC) or UNIX\n"
	    "  seconds. --type: a type ('lease.grant') or a prefix ending in '.' ('key.').\n"
	    "  verify exits 4 naming the first bad sequence number (docs/audit.md).\n"
	    "  --page N: entries per request to the coordinator (1..500, default 500).\n"
	    "  import-ceremony: a signed ceremony record (tandem-ceremony record) checked against\n"
	    "  the role table and written to the audit log (= tandemctl operator "
	    "record-import).\n"
	    "  import-offline: an offline audit file (keys ... --state, keys archive-export)\n"
	    "  verified here and by the coordinator, its new entries added to the chain.\n");
}

/* Options of every audit command. */
typedef struct opts {
	const char *coord, *coord_pub, *key;
	const char *file, *against, *anchor_keys;
	const char *secret, *public_, *name;
	const char *type, *zone;
	bool json, has_since;
	uint64_t since_ms;
	uint32_t page; /* entries per request */
} opts_t;

/* T as ms: "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS]Z" (UTC) or UNIX seconds. */
static bool parse_since(const char *s, uint64_t *out)
{
	struct tm tm;
	char *end = NULL;
	memset(&tm, 0, sizeof(tm));
	if (strspn(s, "0123456789") == strlen(s) && s[0] != '\0') {
		*out = strtoull(s, &end, 10) * 1000u;
		return true;
	}
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end != NULL && *end == 'T') {
		char *t = strptime(end + 1, "%H:%M:%S", &tm);
		end = t != NULL ? t : strptime(end + 1, "%H:%M", &tm);
		if (end == NULL || strcmp(end, "Z") != 0) {
			return false;
		}
		end++;
	}
	if (end == NULL || *end != '\0') {
		return false;
	}
	time_t t = timegm(&tm);
	if (t < 0) {
		return false;
	}
	*out = (uint64_t)t * 1000u;
	return true;
}

static int opts_parse(int argc, char **argv, opts_t *o)
{
	enum {
		O_COORD = 256,
		O_PUB,
		O_KEY,
		O_FILE,
		O_AGAINST,
		O_AKEYS,
		O_SECRET,
		O_PUBLIC,
		O_NAME,
		O_TYPE,
		O_ZONE,
		O_JSON,
		O_SINCE,
		O_PAGE
	};
	static const struct option longopts[] = {{"coord", required_argument, NULL, O_COORD},
						 {"coord-pub", required_argument, NULL, O_PUB},
						 {"key", required_argument, NULL, O_KEY},
						 {"file", required_argument, NULL, O_FILE},
						 {"against", required_argument, NULL, O_AGAINST},
						 {"anchor-keys", required_argument, NULL, O_AKEYS},
						 {"secret", required_argument, NULL, O_SECRET},
						 {"public", required_argument, NULL, O_PUBLIC},
						 {"name", required_argument, NULL, O_NAME},
						 {"type", required_argument, NULL, O_TYPE},
						 {"zone", required_argument, NULL, O_ZONE},
						 {"json", no_argument, NULL, O_JSON},
						 {"since", required_argument, NULL, O_SINCE},
						 {"page", required_argument, NULL, O_PAGE},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	int c;
	memset(o, 0, sizeof(*o));
	o->page = COORDRPC_AUDIT_PAGE_MAX;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_COORD: o->coord = optarg; break;
		case O_PUB: o->coord_pub = optarg; break;
		case O_KEY: o->key = optarg; break;
		case O_FILE: o->file = optarg; break;
		case O_AGAINST: o->against = optarg; break;
		case O_AKEYS: o->anchor_keys = optarg; break;
		case O_SECRET: o->secret = optarg; break;
		case O_PUBLIC: o->public_ = optarg; break;
		case O_NAME: o->name = optarg; break;
		case O_TYPE: o->type = optarg; break;
		case O_ZONE: o->zone = optarg; break;
		case O_JSON: o->json = true; break;
		case O_SINCE:
			if (!parse_since(optarg, &o->since_ms)) {
				fprintf(stderr,
					WHO ": --since %s: not YYYY-MM-DD[THH:MM[:SS]Z] or UNIX "
					    "seconds\n",
					optarg);
				return EXIT_USAGE;
			}
			o->has_since = true;
			break;
		case O_PAGE: {
			char *end = NULL;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end != '\0' || v == 0 || v > COORDRPC_AUDIT_PAGE_MAX) {
				fprintf(stderr, WHO ": --page: 1 to %u\n", COORDRPC_AUDIT_PAGE_MAX);
				return EXIT_USAGE;
			}
			o->page = (uint32_t)v;
			break;
		}
		case 'h': usage(stdout); return -1;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* ---- keygen ------------------------------------------------------------------------------ */

static int write_new(const char *path, int mode, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		fprintf(stderr, WHO " keygen: %s: %s%s\n", path, strerror(errno),
			errno == EEXIST ? " (not overwritten)" : "");
		return EXIT_IO;
	}
	size_t len = strlen(text);
	bool ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (!ok) {
		fprintf(stderr, WHO " keygen: %s: write failed\n", path);
		unlink(path);
		return EXIT_IO;
	}
	return EXIT_OK;
}

static int cmd_keygen(const opts_t *o)
{
	uint8_t seed[AUDIT_KEY_LEN], pub[AUDIT_KEY_LEN];
	char hex[2 * AUDIT_KEY_LEN + 2], line[AUDIT_NAME_MAX + 2 * AUDIT_KEY_LEN + 4];
	char id[AUDIT_KEY_ID_LEN], why[128];
	audit_signer_t *s = NULL;
	const char *name = o->name != NULL ? o->name : "coord";
	if (o->secret == NULL || o->public_ == NULL) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!tandem_id_valid(name, why, sizeof(why))) {
		fprintf(stderr, WHO " keygen: --name %s: %s\n", name, why);
		return EXIT_USAGE;
	}
	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed) ||
	    audit_signer_new(seed, &s) != TANDEM_OK) {
		fprintf(stderr, WHO " keygen: cannot make a key\n");
		tandem_wipe(seed, sizeof(seed));
		return EXIT_IO;
	}
	audit_signer_public(s, pub);
	audit_signer_free(s);
	audit_hex(seed, sizeof(seed), hex);
	strcat(hex, "\n");
	tandem_wipe(seed, sizeof(seed));
	int rc = write_new(o->secret, 0600, hex);
	tandem_wipe(hex, sizeof(hex));
	if (rc != EXIT_OK) {
		return rc;
	}
	snprintf(line, sizeof(line), "%s %s\n", name, audit_hex(pub, sizeof(pub), hex));
	rc = write_new(o->public_, 0644, line);
	if (rc != EXIT_OK) {
		unlink(o->secret);
		return rc;
	}
	audit_key_id(pub, id);
	printf("anchor key %s for %s: secret %s (0600), public %s\n", id, name, o->secret,
	       o->public_);
	return EXIT_OK;
}

/* ---- reading a copy: a file, or the cluster's chain page by page ------------------------- */

/* Calls fn on each line of the copy in order; stops at a non-zero return. For the cluster,
 * *first gets the first page's base, head and anchor keys (lines not kept). */
typedef int (*line_fn)(void *arg, const char *line, size_t len);

static int each_file_line(const char *path, line_fn fn, void *arg)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = EXIT_OK;
	if (fp == NULL) {
		fprintf(stderr, WHO ": %s: %s\n", path, strerror(errno));
		return EXIT_IO;
	}
	while (rc == EXIT_OK && (n = getline(&line, &cap, fp)) >= 0) {
		size_t len = (size_t)n;
		if (len > 0 && line[len - 1] == '\n') {
			line[--len] = '\0';
		}
		rc = fn(arg, line, len);
	}
	if (rc == EXIT_OK && ferror(fp)) {
		fprintf(stderr, WHO ": %s: read error\n", path);
		rc = EXIT_IO;
	}
	free(line);
	fclose(fp);
	return rc;
}

static int each_cluster_line(const opts_t *o, line_fn fn, void *arg, coordrpc_audit_page_t *first)
{
	tandemctl_coord_t *c = NULL;
	int rc = tandemctl_coord_open(WHO, o->coord, o->coord_pub, o->key, &c);
	uint64_t next = 0;
	bool got_first = false;
	/* up to the head the first page names: a chain that grows meanwhile is read as it was
	 * then (and a little beyond); every page must move on, so the loop ends */
	while (rc == EXIT_OK) {
		coordrpc_audit_page_t p;
		audit_entry_t e;
		memset(&p, 0, sizeof(p));
		rc = tandemctl_coord_audit_get(c, next, o->page, &p);
		if (rc != EXIT_OK) {
			break;
		}
		if (!got_first) {
			*first = p;
			first->lines = NULL;
			first->nlines = 0;
			got_first = true;
		}
		for (size_t i = 0; rc == EXIT_OK && i < p.nlines; i++) {
			rc = fn(arg, p.lines[i], strlen(p.lines[i]));
		}
		bool done = rc != EXIT_OK || p.nlines < o->page;
		if (!done) {
			const char *last = p.lines[p.nlines - 1];
			if (audit_entry_decode(last, strlen(last), NULL, &e) != TANDEM_OK ||
			    e.seq < next) {
				fprintf(stderr, WHO ": the coordinator sent a malformed page\n");
				rc = EXIT_FAULT;
			} else {
				next = e.seq + 1;
				done = e.seq >= first->head_seq;
			}
		}
		coordrpc_audit_page_deinit(&p);
		if (done) {
			break;
		}
	}
	tandemctl_coord_close(c);
	return rc;
}

/* ---- show and export --------------------------------------------------------------------- */

typedef struct show {
	const opts_t *o;
	bool export_; /* contiguous from the first entry at or after --since */
	bool started; /* export: --since reached */
	size_t shown, bad;
} show_t;

static bool type_match(const char *want, const char *type)
{
	size_t n = strlen(want);
	return want[n > 0 ? n - 1 : 0] == '.' ? strncmp(type, want, n) == 0
					      : strcmp(type, want) == 0;
}

static int show_line(void *arg, const char *line, size_t len)
{
	show_t *s = arg;
	audit_entry_t e;
	char stamp[32];
	if (len == 0) {
		return EXIT_OK;
	}
	if (audit_entry_decode(line, len, NULL, &e) != TANDEM_OK) {
		s->bad++;
		if (s->export_ || s->o->json) {
			fprintf(stderr, WHO ": a line that is not an entry (run 'audit verify')\n");
			return EXIT_FAULT;
		}
		printf("?     (not an audit entry: run 'tandemctl audit verify')\n");
		return EXIT_OK;
	}
	if (s->export_) {
		s->started = s->started || !s->o->has_since || e.time_ms >= s->o->since_ms;
		if (s->started) {
			printf("%.*s\n", (int)len, line);
			s->shown++;
		}
		return EXIT_OK;
	}
	if ((s->o->has_since && e.time_ms < s->o->since_ms) ||
	    (s->o->type != NULL && !type_match(s->o->type, e.type)) ||
	    (s->o->zone != NULL && !tandem_dname_equal(s->o->zone, e.zone))) {
		return EXIT_OK;
	}
	s->shown++;
	if (s->o->json) {
		printf("%.*s\n", (int)len, line);
		return EXIT_OK;
	}
	printf("%6" PRIu64 " %s %-8s %-18s %-20s %s%s%s%s\n", e.seq,
	       tandem_utc_ms(e.time_ms, stamp, sizeof(stamp)), audit_level_str(e.level), e.type,
	       e.actor, e.zone[0] != '\0' ? "zone " : "", e.zone, e.zone[0] != '\0' ? " " : "",
	       e.details);
	return EXIT_OK;
}

static int cmd_show(const opts_t *o, bool export_)
{
	show_t s = {.o = o, .export_ = export_};
	coordrpc_audit_page_t first;
	memset(&first, 0, sizeof(first));
	int rc = o->file != NULL ? each_file_line(o->file, show_line, &s)
				 : each_cluster_line(o, show_line, &s, &first);
	if (rc == EXIT_OK && fflush(stdout) != 0) {
		fprintf(stderr, WHO ": write error\n");
		rc = EXIT_IO;
	}
	return rc;
}

/* ---- verify ------------------------------------------------------------------------------ */

static int add_line(void *arg, const char *line, size_t len)
{
	return audit_chain_add_line(arg, line, len) == TANDEM_OK ? EXIT_OK : EXIT_IO;
}

/* Lines kept in memory (the cluster's chain, before its start is known). */
typedef struct lines {
	size_t n, cap;
	char **v;
} lines_t;

static int keep_line(void *arg, const char *line, size_t len)
{
	lines_t *l = arg;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 1024;
		char **v = realloc(l->v, cap * sizeof(*v));
		if (v == NULL) {
			return EXIT_IO;
		}
		l->v = v;
		l->cap = cap;
	}
	if ((l->v[l->n] = strndup(line, len)) == NULL) {
		return EXIT_IO;
	}
	l->n++;
	return EXIT_OK;
}

static void lines_free(lines_t *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i]);
	}
	free(l->v);
}

/*
 * Loads a copy into a new chain and verifies it. A file may start anywhere (its first prev
 * taken as given) unless it starts at 1; the cluster's chain starts at etcd's base, whose
 * prev must be the archived hash, and must reach the head etcd names, with its hash. The
 * anchor keys stored in etcd join kr.
 */
static int load_copy(const opts_t *o, const char *file, audit_keyring_t *kr, audit_chain_t **out,
		     audit_verdict_t *v)
{
	audit_chain_t *ch = NULL;
	coordrpc_audit_page_t first;
	lines_t l = {0, 0, NULL};
	int rc = EXIT_OK;
	memset(&first, 0, sizeof(first));
	if (file != NULL) {
		rc = audit_chain_new(0, NULL, kr, &ch) == TANDEM_OK ? EXIT_OK : EXIT_IO;
		if (rc == EXIT_OK) {
			rc = each_file_line(file, add_line, ch);
		}
	} else {
		rc = each_cluster_line(o, keep_line, &l, &first);
		for (size_t i = 0; rc == EXIT_OK && i < first.keys.n; i++) {
			rc = audit_keyring_add(kr, first.keys.keys[i].name,
					       first.keys.keys[i].pub) == TANDEM_ERANGE
				 ? EXIT_INPUT
				 : EXIT_OK;
		}
		if (rc == EXIT_OK) {
			rc = audit_chain_new(first.base_seq > 0 ? first.base_seq : 1,
					     first.base_prev, kr, &ch) == TANDEM_OK
				 ? EXIT_OK
				 : EXIT_IO;
		}
		for (size_t i = 0; rc == EXIT_OK && i < l.n; i++) {
			rc = add_line(ch, l.v[i], strlen(l.v[i]));
		}
	}
	if (rc == EXIT_OK && audit_chain_verify(ch, v) != TANDEM_OK) {
		rc = EXIT_IO;
	}
	if (rc == EXIT_OK && file == NULL && v->fault == AUDIT_FAULT_NONE && first.head_seq > 0) {
		uint8_t h[AUDIT_HASH_LEN];
		if (audit_chain_hash(ch, first.head_seq, h) != TANDEM_OK ||
		    memcmp(h, first.head_hash, AUDIT_HASH_LEN) != 0) {
			v->fault = AUDIT_FAULT_TRUNCATED;
			v->seq = v->last_seq + 1;
			snprintf(v->text, sizeof(v->text),
				 "seq %" PRIu64 ": truncated: etcd's head names seq %" PRIu64
				 " but the entries read end at seq %" PRIu64
				 " or hold another hash",
				 v->seq, first.head_seq, v->last_seq);
		}
	}
	lines_free(&l);
	if (rc != EXIT_OK) {
		audit_chain_free(ch);
		return rc;
	}
	*out = ch;
	return EXIT_OK;
}

static int cmd_verify(const opts_t *o)
{
	audit_keyring_t kr;
	audit_chain_t *ch = NULL, *other = NULL;
	audit_verdict_t v, w;
	char *text = NULL;
	size_t len = 0;
	const char *what = o->file != NULL ? o->file : "the cluster's chain";
	memset(&kr, 0, sizeof(kr));
	if (o->anchor_keys != NULL) {
		tandem_diag_t *diag = NULL;
		int ret = tandem_file_read(o->anchor_keys, 1u << 20, &text, &len);
		if (ret == TANDEM_OK && tandem_diag_new(&diag) == TANDEM_OK) {
			ret = audit_keyring_parse(&kr, text, diag);
			if (ret != TANDEM_OK && tandem_diag_msg(diag, 0) != NULL) {
				fprintf(stderr, WHO " verify: %s: %s\n", o->anchor_keys,
					tandem_diag_msg(diag, 0));
			}
		}
		tandem_diag_free(diag);
		free(text);
		if (ret != TANDEM_OK) {
			fprintf(stderr, WHO " verify: --anchor-keys %s: %s\n", o->anchor_keys,
				tandem_strerror(ret));
			return EXIT_INPUT;
		}
	}
	int rc = load_copy(o, o->file, &kr, &ch, &v);
	if (rc != EXIT_OK) {
		return rc;
	}
	if (v.fault != AUDIT_FAULT_NONE) {
		fprintf(stderr, WHO " verify: %s: %s\n", what, v.text);
		printf("FAILED %s: %s\n", what, v.text);
		audit_chain_free(ch);
		return EXIT_FAULT;
	}
	printf("ok %s: %s\n", what, v.text);
	if (v.anchors > v.anchors_checked) {
		printf("note: %zu anchors not checked (no public key for them: --anchor-keys)\n",
		       v.anchors - v.anchors_checked);
	}
	if (v.anchored_seq > 0 && v.anchored_seq < v.last_seq) {
		printf("note: seq %" PRIu64 " to %" PRIu64 " come after the last verified anchor: "
		       "compare with another copy (--against) to catch a cut at the end\n",
		       v.anchored_seq + 1, v.last_seq);
	}
	if (o->against != NULL) {
		rc = load_copy(o, o->against, &kr, &other, &w);
		if (rc == EXIT_OK && w.fault != AUDIT_FAULT_NONE) {
			fprintf(stderr, WHO " verify: --against %s: %s\n", o->against, w.text);
			printf("FAILED %s: %s\n", o->against, w.text);
			rc = EXIT_FAULT;
		}
		if (rc == EXIT_OK && audit_chain_compare(ch, other, &w) != TANDEM_OK) {
			rc = EXIT_IO;
		}
		if (rc == EXIT_OK && w.fault != AUDIT_FAULT_NONE) {
			fprintf(stderr, WHO " verify: %s against %s: %s\n", what, o->against,
				w.text);
			printf("FAILED %s against %s: %s\n", what, o->against, w.text);
			rc = EXIT_FAULT;
		} else if (rc == EXIT_OK) {
			printf("ok %s against %s: %s\n", what, o->against, w.text);
		}
	}
	audit_chain_free(other);
	audit_chain_free(ch);
	return rc;
}

/* An offline audit file: its chain verified here from entry 1, then sent to the coordinator
 * (the ceremony-record path), which verifies it again and adds what is new. */
static int cmd_import_offline(const opts_t *o, const char *path)
{
	char *text = NULL;
	size_t len = 0;
	audit_chain_t *ch = NULL;
	audit_verdict_t v;
	tandemctl_coord_t *c = NULL;
	coordrpc_decision_t *dec = calloc(1, sizeof(*dec));
	int rc = EXIT_INPUT;
	int ret =
	    dec == NULL ? TANDEM_ENOMEM : tandem_file_read(path, COORDRPC_DOC_MAX, &text, &len);
	if (ret == TANDEM_OK) {
		ret = audit_chain_new(1, NULL, NULL, &ch);
	}
	if (ret == TANDEM_OK) {
		ret = audit_chain_add_text(ch, text, len);
	}
	if (ret == TANDEM_OK) {
		ret = audit_chain_verify(ch, &v);
	}
	if (ret != TANDEM_OK) {
		fprintf(stderr, WHO ": %s: %s\n", path, tandem_strerror(ret));
		rc = ret == TANDEM_ENOMEM ? EXIT_IO : EXIT_INPUT;
		goto out;
	}
	if (v.fault != AUDIT_FAULT_NONE || v.entries == 0) {
		fprintf(stderr, WHO ": %s: %s\n", path,
			v.fault != AUDIT_FAULT_NONE ? v.text : "no entry");
		rc = EXIT_FAULT;
		goto out;
	}
	printf("%s: %zu entries, seq 1..%" PRIu64 ", verified\n", path, v.entries, v.last_seq);
	coordrpc_request_t req;
	memset(&req, 0, sizeof(req));
	req.kind = COORDRPC_CEREMONY_RECORD;
	req.doc = (uint8_t *)text; /* borrowed: req is not deinit'd */
	req.doc_len = len;
	rc = tandemctl_coord_open(WHO, o->coord, o->coord_pub, o->key, &c);
	if (rc == EXIT_OK) {
		rc = tandemctl_coord_decide(c, &req, dec);
	}
	if (rc == EXIT_OK && !dec->accepted) {
		fprintf(stderr, WHO ": refused: %s\n", dec->text);
		rc = EXIT_FAULT;
	} else if (rc == EXIT_OK) {
		printf("%s\n", dec->text);
	}
out:
	tandemctl_coord_close(c);
	if (dec != NULL) {
		coordrpc_decision_deinit(dec);
	}
	free(dec);
	audit_chain_free(ch);
	free(text);
	return rc;
}

int tandemctl_audit(int argc, char **argv)
{
	opts_t o;
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	/* a signed ceremony record (tandem-ceremony record, DPS 5.1.1): checked against the role
	 * table, and imported into the audit log: the operator command's own work */
	if (strcmp(cmd, "import-ceremony") == 0 || strcmp(cmd, "verify-ceremony") == 0) {
		char *fw[8] = {"operator", cmd[0] == 'i' ? "record-import" : "record-verify"};
		int n = 2;
		for (int i = 2; i < argc && n < 7; i++) {
			fw[n++] = argv[i];
		}
		return tandemctl_request(n, fw);
	}
	/* import-offline FILE [options]: FILE is the one word that is no option's */
	const char *offline_file = NULL;
	if (strcmp(cmd, "import-offline") == 0 && argc >= 3 && argv[2][0] != '-') {
		offline_file = argv[2];
		for (int i = 2; i + 1 < argc; i++) {
			argv[i] = argv[i + 1];
		}
		argc--;
	}
	char name[64];
	snprintf(name, sizeof(name), "tandemctl audit %s", cmd);
	argv[1] = name;
	int rc = opts_parse(argc - 1, argv + 1, &o);
	if (rc != EXIT_OK) {
		return rc < 0 ? EXIT_OK : rc;
	}
	if (strcmp(cmd, "keygen") == 0) {
		return cmd_keygen(&o);
	}
	if (strcmp(cmd, "show") == 0) {
		return cmd_show(&o, false);
	}
	if (strcmp(cmd, "export") == 0) {
		return cmd_show(&o, true);
	}
	if (strcmp(cmd, "verify") == 0) {
		return cmd_verify(&o);
	}
	if (strcmp(cmd, "import-offline") == 0) {
		if (offline_file == NULL) {
			fprintf(stderr, WHO ": import-offline FILE\n");
			return EXIT_USAGE;
		}
		return cmd_import_offline(&o, offline_file);
	}
	fprintf(stderr, WHO ": unknown command '%s'\n", cmd);
	usage(stderr);
	return EXIT_USAGE;
}
