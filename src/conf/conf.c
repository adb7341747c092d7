/* The config loader: walks a daemon's YAML file against its schema into command-line options. */
#include "conf.h"

#include "dns_zone.h"
#include "kasp_policy.h"
#include "tandem_error.h"
#include "tandem_file.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#define CONF_FILE_MAX  (1024u * 1024u)
#define CONF_VALUE_MAX 4096u

/* One option the file stands for: "--flag value" (value NULL for a flag). */
typedef struct conf_opt {
	size_t key; /* index in the schema */
	char *flag; /* "--zone" */
	char *value;
} conf_opt_t;

struct conf {
	const conf_schema_t *schema;
	char *file;
	conf_opt_t *opts;
	size_t nopts, cap;
	unsigned *key_line; /* per schema key: the line it is on, 0 when absent */
};

typedef struct conf_loader {
	conf_t *conf;
	yaml_document_t *doc;
	tandem_diag_t *diag;
	unsigned errors;
	bool nomem;
} conf_loader_t;

static void load_error(conf_loader_t *ld, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void load_error(conf_loader_t *ld, unsigned line, const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	ld->errors++;
	tandem_diag_add(ld->diag, TANDEM_EINVAL, "%s:%u: %s", ld->conf->file, line, reason);
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

static void opt_add(conf_loader_t *ld, size_t key, const char *opt, const char *value)
{
	conf_t *c = ld->conf;
	if (c->nopts == c->cap) {
		size_t cap = c->cap == 0 ? 32 : c->cap * 2;
		conf_opt_t *n = realloc(c->opts, cap * sizeof(*n));
		if (n == NULL) {
			ld->nomem = true;
			return;
		}
		c->opts = n;
		c->cap = cap;
	}
	size_t olen = strlen(opt);
	char *flag = malloc(olen + 3);
	char *val = value != NULL ? strdup(value) : NULL;
	if (flag == NULL || (value != NULL && val == NULL)) {
		free(flag);
		free(val);
		ld->nomem = true;
		return;
	}
	memcpy(flag, "--", 2);
	memcpy(flag + 2, opt, olen + 1);
	c->opts[c->nopts++] = (conf_opt_t){.key = key, .flag = flag, .value = val};
}

/* ---- scalar values ---------------------------------------------------------------------- */

static bool parse_u64(const char *text, uint64_t *out)
{
	uint64_t v = 0;
	if (*text == '\0') {
		return false;
	}
	for (const char *p = text; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p) || v > (UINT64_MAX - 9) / 10) {
			return false;
		}
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	return true;
}

static bool port_ok(const char *p, bool star)
{
	uint64_t port;
	if (star && strcmp(p, "*") == 0) {
		return true;
	}
	return strlen(p) <= 5 && parse_u64(p, &port) && port <= 65535;
}

/* HOST:PORT or [V6]:PORT; star allows the port '*' (ZeroMQ's "any free port"). */
static bool hostport_ok(const char *text, bool star)
{
	const char *colon = strrchr(text, ':');
	if (colon == NULL || colon == text || !port_ok(colon + 1, star)) {
		return false;
	}
	if (text[0] == '[') {
		return colon - text >= 3 && colon[-1] == ']';
	}
	for (const char *p = text; p < colon; p++) {
		if (*p == ':' || *p == '[' || *p == ']' || *p == '/' ||
		    isspace((unsigned char)*p)) {
			return false;
		}
	}
	return true;
}

/* Secret files: refused when group or others have any access; a missing one is the daemon's
 * to report when it starts (so that --check-config runs before the keys are made). */
static void secret_check(conf_loader_t *ld, unsigned line, const char *what, const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		if (errno != ENOENT) {
			load_error(ld, line, "%s: %s: %s", what, path, strerror(errno));
		}
		return;
	}
	if ((st.st_mode & 077) != 0) {
		load_error(ld, line,
			   "%s: %s is mode %04o: group or others can read it (a secret file "
			   "must be 0600 or 0400)",
			   what, path, (unsigned)(st.st_mode & 07777));
	}
}

/* A PKCS#11 URI: its PIN only by pin-source, and that file a secret one. */
static bool token_check(conf_loader_t *ld, unsigned line, const char *what, const char *text)
{
	if (strncmp(text, "pkcs11:", 7) != 0) {
		load_error(ld, line,
			   "%s: '%s' is not a PKCS#11 URI (pkcs11:token=T;pin-source=FILE)", what,
			   text);
		return false;
	}
	if (strstr(text, "pin-value") != NULL) {
		load_error(ld, line,
			   "%s: a PIN is never written in the config file: use "
			   "pin-source=FILE (mode 0600)",
			   what);
		return false;
	}
	const char *src = strstr(text, "pin-source=");
	if (src != NULL) {
		char path[1024];
		src += strlen("pin-source=");
		size_t n = strcspn(src, ";?&");
		if (strncmp(src, "file:", 5) == 0) {
			src += 5;
			n -= n >= 5 ? 5 : n;
		}
		if (n == 0 || n >= sizeof(path)) {
			load_error(ld, line, "%s: pin-source: want a file name", what);
			return false;
		}
		memcpy(path, src, n);
		path[n] = '\0';
		secret_check(ld, line, what, path);
	}
	return true;
}

static void enum_list(const char *const *values, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; values[i] != NULL; i++) {
		const char *sep = i == 0 ? "" : values[i + 1] == NULL ? " or " : ", ";
		int w = snprintf(buf + len, size - len, "%s%s", sep, values[i]);
		if (w < 0 || (size_t)w >= size - len) {
			return;
		}
		len += (size_t)w;
	}
}

/*
 * Checks one scalar of type; writes the option's value into out (durations in seconds).
 * Returns false after an error.
 */
static bool scalar_check(conf_loader_t *ld, const conf_key_t *k, conf_type_t type,
			 const yaml_node_t *n, const char *what, char *out, size_t size)
{
	unsigned line = node_line(n);
	if (n->type != YAML_SCALAR_NODE) {
		load_error(ld, line, "%s: expected a value, found %s", what, node_kind(n));
		return false;
	}
	const char *text = (const char *)n->data.scalar.value;
	if (n->data.scalar.length == 0) {
		load_error(ld, line, "%s: missing value", what);
		return false;
	}
	if (strlen(text) != n->data.scalar.length || n->data.scalar.length >= size) {
		load_error(ld, line, "%s: the value holds a NUL character or is too long", what);
		return false;
	}
	for (const char *p = text; *p != '\0'; p++) {
		if ((unsigned char)*p < ' ') {
			load_error(ld, line, "%s: the value holds a control character", what);
			return false;
		}
	}
	uint64_t v = 0;
	char buf[256];
	switch (type) {
	case CONF_STRING:
	case CONF_PATH: break;
	case CONF_NAME:
		for (const char *p = text; *p != '\0'; p++) {
			if (*p <= ' ' || *p > '~') {
				load_error(ld, line,
					   "%s: '%s' holds a space or a non-ASCII character", what,
					   text);
				return false;
			}
		}
		if (strlen(text) > 63) {
			load_error(ld, line, "%s: longer than 63 characters", what);
			return false;
		}
		break;
	case CONF_DNAME: {
		uint8_t wire[DNS_NAME_MAXLEN];
		size_t wlen = 0;
		size_t tl = strlen(text);
		snprintf(buf, sizeof(buf), "%s%s", text, tl > 0 && text[tl - 1] == '.' ? "" : ".");
		if (tl >= sizeof(buf) - 1 ||
		    dns_name_from_str(buf, NULL, wire, &wlen) != TANDEM_OK) {
			load_error(ld, line, "%s: '%s' is not a domain name", what, text);
			return false;
		}
		break;
	}
	case CONF_HEX:
		for (const char *p = text; *p != '\0'; p++) {
			if (!isxdigit((unsigned char)*p)) {
				load_error(ld, line, "%s: '%s' is not hex digits", what, text);
				return false;
			}
		}
		if ((int64_t)strlen(text) != k->max) {
			load_error(ld, line, "%s: %zu hex digits; want %" PRId64, what,
				   strlen(text), k->max);
			return false;
		}
		break;
	case CONF_SECRET: secret_check(ld, line, what, text); break;
	case CONF_TOKEN:
		if (!token_check(ld, line, what, text)) {
			return false;
		}
		break;
	case CONF_INT:
		if (!parse_u64(text, &v) || (int64_t)v < k->min || (int64_t)v > k->max) {
			load_error(ld, line,
				   "%s: '%s' is not a whole number from %" PRId64 " to %" PRId64,
				   what, text, k->min, k->max);
			return false;
		}
		break;
	case CONF_DURATION: {
		uint32_t secs = 0;
		if (kasp_duration_parse(text, &secs) != TANDEM_OK) {
			load_error(ld, line,
				   "%s: '%s' is not a duration (write 90s, 15m, 12h, 1d, 1w, "
				   "1d12h, plain seconds or ISO 8601 PT1H)",
				   what, text);
			return false;
		}
		if ((int64_t)secs < k->min || (int64_t)secs > k->max) {
			load_error(ld, line,
				   "%s: '%s' is %" PRIu32 " s, outside %" PRId64 "..%" PRId64 " s",
				   what, text, secs, k->min, k->max);
			return false;
		}
		snprintf(out, size, "%" PRIu32, secs);
		return true;
	}
	case CONF_BOOL:
		if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0 &&
		    strcmp(text, "yes") != 0 && strcmp(text, "no") != 0) {
			load_error(ld, line, "%s: '%s' is not true or false", what, text);
			return false;
		}
		break;
	case CONF_ENUM:
		for (size_t i = 0; k->values[i] != NULL; i++) {
			if (strcmp(text, k->values[i]) == 0) {
				goto ok;
			}
		}
		enum_list(k->values, buf, sizeof(buf));
		load_error(ld, line, "%s: '%s' is not %s", what, text, buf);
		return false;
	case CONF_HOSTPORT:
		if (!hostport_ok(text, false)) {
			load_error(ld, line,
				   "%s: '%s' is not HOST:PORT (127.0.0.1:9100, [::1]:9100; port "
				   "0..65535)",
				   what, text);
			return false;
		}
		break;
	case CONF_ENDPOINT:
		if (strncmp(text, "tcp://", 6) != 0 || !hostport_ok(text + 6, true)) {
			load_error(ld, line, "%s: '%s' is not tcp://HOST:PORT (or tcp://HOST:*)",
				   what, text);
			return false;
		}
		break;
	case CONF_URL:
		if ((strncmp(text, "http://", 7) != 0 || text[7] == '\0') &&
		    (strncmp(text, "https://", 8) != 0 || text[8] == '\0')) {
			load_error(ld, line, "%s: '%s' is not an http:// or https:// URL", what,
				   text);
			return false;
		}
		if (strchr(text, ',') != NULL) {
			load_error(ld, line, "%s: one URL per list item, not '%s'", what, text);
			return false;
		}
		break;
	case CONF_LIST:
	case CONF_RECORDS:
		load_error(ld, line, "%s: internal: not a scalar type", what);
		return false;
	}
ok:
	snprintf(out, size, "%s", text);
	return true;
}

/* ---- keys, lists and records ------------------------------------------------------------ */

typedef struct conf_pairs {
	yaml_node_pair_t *at, *end;
} conf_pairs_t;

/* Duplicate keys in one mapping (YAML says they are an error; libyaml keeps both). */
static bool duplicate(conf_loader_t *ld, const yaml_node_t *map, const yaml_node_pair_t *upto,
		      const char *key, unsigned line, const char *what)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < upto; p++) {
		yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
		if (k != NULL && k->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)k->data.scalar.value, key) == 0) {
			load_error(ld, line, "%s: given twice (first on line %u)", what,
				   node_line(k));
			return true;
		}
	}
	return false;
}

static void load_records(conf_loader_t *ld, size_t ki, const yaml_node_t *v)
{
	const conf_key_t *k = &ld->conf->schema->keys[ki];
	size_t nfields = 0;
	while (k->fields[nfields].name != NULL) {
		nfields++;
	}
	assert(nfields <= 8);
	size_t count = 0;
	for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++, count++) {
		yaml_node_t *rec = yaml_document_get_node(ld->doc, *it);
		char vals[8][CONF_VALUE_MAX / 4];
		bool have[8] = {false};
		bool bad = false;
		if (rec->type != YAML_MAPPING_NODE) {
			load_error(ld, node_line(rec), "%s[%zu]: expected a mapping, found %s",
				   k->name, count + 1, node_kind(rec));
			continue;
		}
		for (yaml_node_pair_t *p = rec->data.mapping.pairs.start;
		     p < rec->data.mapping.pairs.top; p++) {
			yaml_node_t *fk = yaml_document_get_node(ld->doc, p->key);
			yaml_node_t *fv = yaml_document_get_node(ld->doc, p->value);
			char what[160];
			if (fk->type != YAML_SCALAR_NODE) {
				load_error(ld, node_line(fk), "%s: a key must be a name", k->name);
				bad = true;
				continue;
			}
			const char *fname = (const char *)fk->data.scalar.value;
			snprintf(what, sizeof(what), "%s.%s", k->name, fname);
			size_t f = 0;
			while (f < nfields && strcmp(k->fields[f].name, fname) != 0) {
				f++;
			}
			if (f == nfields) {
				char known[160] = "";
				size_t len = 0;
				for (size_t i = 0; i < nfields; i++) {
					int w = snprintf(known + len, sizeof(known) - len, "%s%s",
							 i ? ", " : "", k->fields[i].name);
					len += w > 0 ? (size_t)w : 0;
				}
				load_error(ld, node_line(fk), "%s: unknown key (a %s entry has %s)",
					   what, k->name, known);
				bad = true;
				continue;
			}
			if (duplicate(ld, rec, p, fname, node_line(fk), what)) {
				bad = true;
				continue;
			}
			if (!scalar_check(ld, k, k->fields[f].type, fv, what, vals[f],
					  sizeof(vals[f]))) {
				bad = true;
				continue;
			}
			have[f] = true;
		}
		for (size_t f = 0; f < nfields; f++) {
			if (!have[f] && !bad) {
				load_error(ld, node_line(rec),
					   "%s.%s: missing (each %s entry needs it)", k->name,
					   k->fields[f].name, k->name);
				bad = true;
			}
		}
		if (bad) {
			continue;
		}
		if (k->join != NULL) {
			char joined[CONF_VALUE_MAX];
			size_t len = 0;
			joined[0] = '\0';
			for (size_t f = 0; f < nfields; f++) {
				int w = snprintf(joined + len, sizeof(joined) - len, "%s%s",
						 f ? k->join : "", vals[f]);
				len += w > 0 ? (size_t)w : 0;
			}
			opt_add(ld, ki, k->name, joined);
		} else {
			for (size_t f = 0; f < nfields; f++) {
				opt_add(ld, ki, k->fields[f].opt, vals[f]);
			}
		}
	}
	if (k->max > 0 && ((int64_t)count < k->min || (int64_t)count > k->max)) {
		load_error(ld, node_line(v), "%s: %zu entries; want %" PRId64 " to %" PRId64,
			   k->name, count, k->min, k->max);
	}
}

static void load_list(conf_loader_t *ld, size_t ki, const yaml_node_t *v)
{
	const conf_key_t *k = &ld->conf->schema->keys[ki];
	char joined[CONF_VALUE_MAX], val[CONF_VALUE_MAX];
	size_t len = 0, count = 0;
	const yaml_node_item_t *start = NULL, *top = NULL;
	joined[0] = '\0';
	if (v->type == YAML_SEQUENCE_NODE) {
		start = v->data.sequence.items.start;
		top = v->data.sequence.items.top;
	}
	/* a single value stands for a list of one */
	size_t n = v->type == YAML_SEQUENCE_NODE ? (size_t)(top - start) : 1;
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *item =
		    v->type == YAML_SEQUENCE_NODE ? yaml_document_get_node(ld->doc, start[i]) : v;
		char what[96];
		snprintf(what, sizeof(what), "%s[%zu]", k->name, i + 1);
		if (!scalar_check(ld, k, k->item, item,
				  v->type == YAML_SEQUENCE_NODE ? what : k->name, val,
				  sizeof(val))) {
			continue;
		}
		count++;
		if (k->join == NULL) {
			opt_add(ld, ki, k->name, val);
			continue;
		}
		int w =
		    snprintf(joined + len, sizeof(joined) - len, "%s%s", len ? k->join : "", val);
		if (w < 0 || (size_t)w >= sizeof(joined) - len) {
			load_error(ld, node_line(item), "%s: the list is too long", k->name);
			return;
		}
		len += (size_t)w;
	}
	if (k->max > 0 && ((int64_t)n < k->min || (int64_t)n > k->max)) {
		load_error(ld, node_line(v), "%s: %zu entries; want %" PRId64 " to %" PRId64,
			   k->name, n, k->min, k->max);
		return;
	}
	if (k->join != NULL && count == n && n > 0) {
		opt_add(ld, ki, k->name, joined);
	}
}

/* "x_y" for "x-y", the most common slip. */
static void unknown_key(conf_loader_t *ld, unsigned line, const char *key)
{
	char alt[64];
	snprintf(alt, sizeof(alt), "%s", key);
	for (char *p = alt; *p != '\0'; p++) {
		*p = *p == '_' ? '-' : (char)tolower((unsigned char)*p);
	}
	const conf_key_t *near = conf_schema_find(ld->conf->schema, alt);
	if (near != NULL) {
		load_error(ld, line, "%s: unknown key; did you mean '%s'?", key, near->name);
	} else {
		load_error(ld, line, "%s: unknown key (%s --print-schema lists the keys)", key,
			   ld->conf->schema->program);
	}
}

static void load_root(conf_loader_t *ld, const yaml_node_t *root)
{
	const conf_schema_t *s = ld->conf->schema;
	if (root->type != YAML_MAPPING_NODE) {
		load_error(ld, node_line(root),
			   "expected a mapping of keys (name: value), found %s", node_kind(root));
		return;
	}
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
	     p < root->data.mapping.pairs.top && !ld->nomem; p++) {
		yaml_node_t *kn = yaml_document_get_node(ld->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(ld->doc, p->value);
		if (kn->type != YAML_SCALAR_NODE) {
			load_error(ld, node_line(kn), "a key must be a name, found %s",
				   node_kind(kn));
			continue;
		}
		const char *name = (const char *)kn->data.scalar.value;
		unsigned line = node_line(kn);
		const conf_key_t *k = conf_schema_find(s, name);
		if (k == NULL) {
			unknown_key(ld, line, name);
			continue;
		}
		if (duplicate(ld, root, p, name, line, name)) {
			continue;
		}
		size_t ki = (size_t)(k - s->keys);
		ld->conf->key_line[ki] = line;
		char val[CONF_VALUE_MAX];
		switch (k->type) {
		case CONF_LIST: load_list(ld, ki, v); break;
		case CONF_RECORDS:
			if (v->type != YAML_SEQUENCE_NODE) {
				load_error(ld, node_line(v), "%s: expected a list, found %s", name,
					   node_kind(v));
				break;
			}
			load_records(ld, ki, v);
			break;
		case CONF_BOOL:
			if (scalar_check(ld, k, k->type, v, name, val, sizeof(val)) &&
			    (strcmp(val, "true") == 0 || strcmp(val, "yes") == 0)) {
				opt_add(ld, ki, k->name, NULL);
			}
			break;
		default:
			if (scalar_check(ld, k, k->type, v, name, val, sizeof(val))) {
				opt_add(ld, ki, k->name, val);
			}
			break;
		}
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

static int yaml_failure(conf_loader_t *ld, const yaml_parser_t *parser, const char *text,
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
	return TANDEM_EINVAL;
}

int conf_load(const conf_schema_t *schema, const char *file, tandem_diag_t *diag, conf_t **out)
{
	if (schema == NULL || file == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	bool parser_ready = false, doc_ready = false;
	char *text = NULL;
	size_t len = 0;
	conf_t *c = calloc(1, sizeof(*c));
	int ret = TANDEM_ENOMEM;
	if (c == NULL) {
		goto out;
	}
	c->schema = schema;
	c->file = strdup(file);
	c->key_line = calloc(schema->nkeys + 1, sizeof(*c->key_line));
	if (c->file == NULL || c->key_line == NULL) {
		goto out;
	}
	conf_loader_t ld = {.conf = c, .diag = diag};
	ret = tandem_file_read(file, CONF_FILE_MAX, &text, &len);
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, ret, "%s: %s", file,
				ret == TANDEM_ENOENT   ? "no such file"
				: ret == TANDEM_ERANGE ? "larger than 1 MiB"
						       : "cannot read the file");
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
	if (root != NULL) {
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
	}
	if (ld.nomem) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	if (ld.errors != 0) {
		ret = TANDEM_EINVAL;
		goto out;
	}
	*out = c;
	c = NULL;
	ret = TANDEM_OK;
out:
	if (doc_ready) {
		yaml_document_delete(&doc);
	}
	if (parser_ready) {
		yaml_parser_delete(&parser);
	}
	free(text);
	conf_free(c);
	return ret;
}

void conf_free(conf_t *conf)
{
	if (conf == NULL) {
		return;
	}
	for (size_t i = 0; i < conf->nopts; i++) {
		free(conf->opts[i].flag);
		free(conf->opts[i].value);
	}
	free(conf->opts);
	free(conf->key_line);
	free(conf->file);
	free(conf);
}

const char *conf_file(const conf_t *conf)
{
	return conf != NULL ? conf->file : NULL;
}

/* ---- the command line ------------------------------------------------------------------- */

/* True when arg is a --OPTION of schema that takes a value in the next word. */
static bool takes_value(const conf_schema_t *schema, const char *arg)
{
	if (schema == NULL || strncmp(arg, "--", 2) != 0 || strchr(arg, '=') != NULL) {
		return false;
	}
	for (size_t i = 0; i < schema->nkeys; i++) {
		const conf_key_t *k = &schema->keys[i];
		if (strcmp(arg + 2, k->name) == 0) {
			return k->type != CONF_BOOL;
		}
		for (size_t f = 0; k->fields != NULL && k->fields[f].name != NULL; f++) {
			if (k->fields[f].opt != NULL && strcmp(arg + 2, k->fields[f].opt) == 0) {
				return true;
			}
		}
	}
	return false;
}

int conf_cli_split(const conf_schema_t *schema, int argc, char **argv, tandem_diag_t *diag,
		   conf_cli_t *cli)
{
	if (argc < 1 || argv == NULL || cli == NULL) {
		return TANDEM_EINVAL;
	}
	memset(cli, 0, sizeof(*cli));
	cli->argv = calloc((size_t)argc + 1, sizeof(*cli->argv));
	if (cli->argv == NULL) {
		return TANDEM_ENOMEM;
	}
	cli->argv[cli->argc++] = argv[0];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (takes_value(schema, a) && i + 1 < argc) {
			/* an option's value is never read as one of ours ("--name -c" names -c) */
			cli->argv[cli->argc++] = argv[i++];
			cli->argv[cli->argc++] = argv[i];
		} else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (i + 1 >= argc) {
				tandem_diag_add(diag, TANDEM_EINVAL, "%s: wants a file name", a);
				conf_cli_deinit(cli);
				return TANDEM_EINVAL;
			}
			cli->config = argv[++i];
		} else if (strncmp(a, "--config=", 9) == 0) {
			cli->config = a + 9;
		} else if (strncmp(a, "-c", 2) == 0) {
			cli->config = a + 2;
		} else if (strcmp(a, "--check-config") == 0) {
			cli->check = true;
		} else if (strcmp(a, "--print-schema") == 0) {
			cli->print_schema = true;
		} else {
			cli->argv[cli->argc++] = argv[i];
		}
	}
	if (cli->config != NULL && cli->config[0] == '\0') {
		tandem_diag_add(diag, TANDEM_EINVAL, "-c: wants a file name");
		conf_cli_deinit(cli);
		return TANDEM_EINVAL;
	}
	return TANDEM_OK;
}

void conf_cli_deinit(conf_cli_t *cli)
{
	if (cli != NULL) {
		free(cli->argv);
		cli->argv = NULL;
		cli->argc = 0;
	}
}

const char *conf_cli_path(const conf_schema_t *schema, const conf_cli_t *cli)
{
	struct stat st;
	if (schema == NULL || cli == NULL) {
		return NULL;
	}
	if (cli->config != NULL) {
		return cli->config;
	}
	if (schema->default_path != NULL && stat(schema->default_path, &st) == 0) {
		return schema->default_path;
	}
	return NULL;
}

static bool arg_is(const char *arg, const char *opt)
{
	size_t n = strlen(opt);
	return arg[0] == '-' && arg[1] == '-' && strncmp(arg + 2, opt, n) == 0 &&
	       (arg[2 + n] == '\0' || arg[2 + n] == '=');
}

bool conf_cli_has(const conf_key_t *key, int argc, char *const *argv)
{
	for (int i = 1; i < argc; i++) {
		if (arg_is(argv[i], key->name)) {
			return true;
		}
		for (size_t f = 0; key->fields != NULL && key->fields[f].name != NULL; f++) {
			if (key->fields[f].opt != NULL && arg_is(argv[i], key->fields[f].opt)) {
				return true;
			}
		}
	}
	return false;
}

int conf_merge(const conf_schema_t *schema, const conf_t *conf, int argc, char **argv,
	       tandem_diag_t *diag, conf_argv_t *out)
{
	if (schema == NULL || argc < 1 || argv == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	size_t nopts = conf != NULL ? conf->nopts : 0;
	char **a = calloc(2 * nopts + (size_t)argc + 1, sizeof(*a));
	int n = 0;
	bool missing = false;
	if (a == NULL) {
		return TANDEM_ENOMEM;
	}
	a[n++] = argv[0];
	for (size_t i = 0; i < nopts; i++) {
		const conf_key_t *k = &schema->keys[conf->opts[i].key];
		/* a list on the command line replaces the file's, not adds to it */
		if ((k->type == CONF_LIST || k->type == CONF_RECORDS) &&
		    conf_cli_has(k, argc, argv)) {
			continue;
		}
		a[n++] = conf->opts[i].flag;
		if (conf->opts[i].value != NULL) {
			a[n++] = conf->opts[i].value;
		}
	}
	for (int i = 1; i < argc; i++) {
		a[n++] = argv[i];
	}
	for (size_t i = 0; conf != NULL && i < schema->nkeys; i++) {
		const conf_key_t *k = &schema->keys[i];
		if ((k->flags & CONF_REQUIRED) != 0 && conf->key_line[i] == 0 &&
		    !conf_cli_has(k, argc, argv)) {
			tandem_diag_add(diag, TANDEM_EINVAL,
					"%s: %s: required (in the file or as --%s)", conf->file,
					k->name, k->name);
			missing = true;
		}
	}
	if (missing) {
		free(a);
		return TANDEM_EINVAL;
	}
	out->argc = n;
	out->argv = a;
	return TANDEM_OK;
}

void conf_argv_deinit(conf_argv_t *a)
{
	if (a != NULL) {
		free(a->argv);
		a->argv = NULL;
		a->argc = 0;
	}
}

size_t conf_values(const conf_t *conf, const conf_key_t *key, const char **vals, size_t max)
{
	size_t n = 0;
	if (conf == NULL || key == NULL) {
		return 0;
	}
	size_t ki = (size_t)(key - conf->schema->keys);
	for (size_t i = 0; i < conf->nopts; i++) {
		if (conf->opts[i].key == ki) {
			if (n < max) {
				vals[n] =
				    conf->opts[i].value != NULL ? conf->opts[i].value : "true";
			}
			n++;
		}
	}
	return n;
}

static bool key_same(const conf_t *a, const conf_t *b, size_t ki)
{
	size_t i = 0, j = 0;
	for (;;) {
		while (i < a->nopts && a->opts[i].key != ki) {
			i++;
		}
		while (j < b->nopts && b->opts[j].key != ki) {
			j++;
		}
		if (i == a->nopts || j == b->nopts) {
			return i == a->nopts && j == b->nopts;
		}
		const conf_opt_t *x = &a->opts[i++], *y = &b->opts[j++];
		if (strcmp(x->flag, y->flag) != 0 || (x->value == NULL) != (y->value == NULL) ||
		    (x->value != NULL && strcmp(x->value, y->value) != 0)) {
			return false;
		}
	}
}

void conf_diff(const conf_schema_t *schema, const conf_t *old_conf, const conf_t *new_conf,
	       void (*fn)(void *arg, const conf_key_t *key, unsigned old_line, unsigned new_line),
	       void *arg)
{
	if (schema == NULL || old_conf == NULL || new_conf == NULL || fn == NULL) {
		return;
	}
	for (size_t i = 0; i < schema->nkeys; i++) {
		if (!key_same(old_conf, new_conf, i)) {
			fn(arg, &schema->keys[i], old_conf->key_line[i], new_conf->key_line[i]);
		}
	}
}

int conf_start(const conf_schema_t *schema, int argc, char **argv, tandem_diag_t *diag,
	       conf_start_t *st)
{
	if (schema == NULL || st == NULL) {
		return TANDEM_EINVAL;
	}
	memset(st, 0, sizeof(*st));
	int ret = conf_cli_split(schema, argc, argv, diag, &st->cli);
	if (ret != TANDEM_OK || st->cli.print_schema) {
		return ret;
	}
	const char *path = conf_cli_path(schema, &st->cli);
	if (path != NULL) {
		ret = conf_load(schema, path, diag, &st->conf);
		if (ret != TANDEM_OK) {
			return ret;
		}
	}
	return conf_merge(schema, st->conf, st->cli.argc, st->cli.argv, diag, &st->args);
}

void conf_start_deinit(conf_start_t *st)
{
	if (st == NULL) {
		return;
	}
	conf_argv_deinit(&st->args);
	conf_free(st->conf);
	st->conf = NULL;
	conf_cli_deinit(&st->cli);
}

const conf_key_t *conf_schema_find(const conf_schema_t *schema, const char *name)
{
	for (size_t i = 0; schema != NULL && name != NULL && i < schema->nkeys; i++) {
		if (strcmp(schema->keys[i].name, name) == 0) {
			return &schema->keys[i];
		}
	}
	return NULL;
}
