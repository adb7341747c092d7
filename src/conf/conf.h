/* Daemon config files: one table-driven YAML loader, its schemas, and the merge with argv. */
#ifndef TANDEM_CONF_H
#define TANDEM_CONF_H

#include "tandem_diag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * A daemon's config file is a YAML mapping whose keys are the daemon's long command-line
 * options ("skr-margin: 2d" is "--skr-margin 172800"). The loader checks each value against
 * the schema (type, range, enum) and turns the file into the option list the daemon's own
 * option parser reads, the file's options first and the command line after them, so that the
 * command line overrides single keys. Every refusal is "FILE:LINE: key: reason".
 */

typedef enum conf_type {
	CONF_STRING,   /* any non-empty text */
	CONF_NAME,     /* a member's name: 1 to 63 printable characters, no spaces */
	CONF_DNAME,    /* a domain name (a zone) */
	CONF_HEX,      /* hex digits, exactly max of them */
	CONF_PATH,     /* a file or directory name */
	CONF_SECRET,   /* a secret file's name: refused when group or others can read it */
	CONF_TOKEN,    /* a PKCS#11 URI; its pin-source is a secret file, pin-value refused */
	CONF_INT,      /* a decimal integer in [min, max] */
	CONF_DURATION, /* "90s", "15m", "2h", "1d", "1w", seconds or ISO 8601; [min, max] s */
	CONF_BOOL,     /* true or false: a flag option given or not */
	CONF_ENUM,     /* one of values */
	CONF_HOSTPORT, /* HOST:PORT or [V6]:PORT, port 0..65535 */
	CONF_ENDPOINT, /* tcp://HOST:PORT or tcp://HOST:* */
	CONF_URL,      /* http:// or https:// URL */
	CONF_LIST,     /* a list of item-typed values (one option each, or joined by join) */
	CONF_RECORDS   /* a list of mappings with fields (one option per field, or joined) */
} conf_type_t;

/* Key flags. */
#define CONF_REQUIRED 0x1u /* must be in the file or on the command line */
#define CONF_LIVE     0x2u /* a SIGHUP applies a change without a restart */

/* One field of a record (CONF_RECORDS), e.g. a zone's name and input. */
typedef struct conf_field {
	const char *name; /* YAML key inside the record */
	conf_type_t type; /* a scalar type */
	const char *opt;  /* its own option, or NULL when the record's fields are joined */
	const char *doc;  /* one line for docs/config.md */
} conf_field_t;

/* One key of a schema. */
typedef struct conf_key {
	const char *name;           /* YAML key, and the long option unless opt is set */
	conf_type_t type;           /* the key's type */
	conf_type_t item;           /* CONF_LIST: the type of each item */
	unsigned flags;             /* CONF_REQUIRED, CONF_LIVE */
	const char *def;            /* the default as docs show it, or NULL (none) */
	int64_t min, max;           /* CONF_INT, CONF_DURATION: the range; lists: count range */
	const char *const *values;  /* CONF_ENUM: NULL-terminated */
	const conf_field_t *fields; /* CONF_RECORDS: NULL-name-terminated */
	const char *join;           /* CONF_LIST/RECORDS: join items (or fields) into one option */
	const char *doc;            /* what the key means, for docs/config.md */
} conf_key_t;

/* A daemon's schema: its keys, its default config file and the options the loader owns. */
typedef struct conf_schema {
	const char *program;      /* "tandemd" */
	const char *default_path; /* used when -c is not given and the file exists */
	const conf_key_t *keys;   /* nkeys keys */
	size_t nkeys;
} conf_schema_t;

/* The schemas of tandemd and tandem-coord (static, never freed). */
const conf_schema_t *conf_schema_tandemd(void);
const conf_schema_t *conf_schema_coord(void);

/* A loaded, checked config file: the options it stands for. */
typedef struct conf conf_t;

/*
 * Reads and checks FILE against schema; every problem goes into diag as "FILE:LINE: key:
 * reason" (all of them, not only the first). *out (the caller's, conf_free) is written only
 * on success. Secret files named by the file (CONF_SECRET keys, a token's pin-source) that
 * exist are refused when group or others have any access; a missing one is left for the
 * daemon to report at start. Errors: TANDEM_EINVAL (the file refused, details in diag),
 * TANDEM_EIO/TANDEM_ENOENT (unreadable), TANDEM_ENOMEM.
 */
int conf_load(const conf_schema_t *schema, const char *file, tandem_diag_t *diag, conf_t **out);
/* Frees a config; NULL-safe. */
void conf_free(conf_t *conf);
/* The file the config was read from (borrowed). */
const char *conf_file(const conf_t *conf);

/* What the loader takes off a daemon's command line before the daemon parses the rest. */
typedef struct conf_cli {
	const char *config; /* -c FILE / --config FILE, or NULL */
	bool check;         /* --check-config */
	bool print_schema;  /* --print-schema */
	int argc;           /* the rest, argv[0] first */
	char **argv;        /* owned (the array only; the strings are the caller's) */
} conf_cli_t;

/* Splits argv: the loader's options into cli, the others into cli->argv; the value of an
 * option of schema (may be NULL) is passed on as it is. Refuses -c without a file. Errors:
 * TANDEM_EINVAL (message in diag), TANDEM_ENOMEM. */
int conf_cli_split(const conf_schema_t *schema, int argc, char **argv, tandem_diag_t *diag,
		   conf_cli_t *cli);
/* Frees what conf_cli_split allocated; NULL-safe. */
void conf_cli_deinit(conf_cli_t *cli);
/* The config file to read: cli->config, else the schema's default when it exists, else NULL
 * (command line only). */
const char *conf_cli_path(const conf_schema_t *schema, const conf_cli_t *cli);

/* The merged command line: the file's options, then the command line's. */
typedef struct conf_argv {
	int argc;
	char **argv; /* owned array; strings borrowed from the conf and the command line */
} conf_argv_t;

/*
 * Builds the option list the daemon parses: argv[0], the options conf stands for (none when
 * conf is NULL), then argv[1..]. A list key given on the command line replaces the file's
 * list (a single key is overridden by getopt's last-one-wins). A CONF_REQUIRED key neither in
 * the file nor on the command line is refused ("FILE: key: required"). Errors: TANDEM_EINVAL
 * (diag), TANDEM_ENOMEM. *out written only on success.
 */
int conf_merge(const conf_schema_t *schema, const conf_t *conf, int argc, char **argv,
	       tandem_diag_t *diag, conf_argv_t *out);
/* Frees the array of a merged command line; NULL-safe. */
void conf_argv_deinit(conf_argv_t *a);

/* True when key appears on the command line (argv[1..], as --key or --key=V, or one of its
 * records' field options). */
bool conf_cli_has(const conf_key_t *key, int argc, char *const *argv);

/*
 * Compares two loads of a config, key by key: calls fn(arg, key, old_line, new_line) for
 * each key whose options differ. A line is 0 when the key is not in that file.
 */
void conf_diff(const conf_schema_t *schema, const conf_t *old_conf, const conf_t *new_conf,
	       void (*fn)(void *arg, const conf_key_t *key, unsigned old_line, unsigned new_line),
	       void *arg);

/* The option values of key in conf, in file order (borrowed): n values in vals (at most max).
 * For CONF_BOOL the value is "true". Returns the count (may exceed max). */
size_t conf_values(const conf_t *conf, const conf_key_t *key, const char **vals, size_t max);

/* What a daemon's main starts from: its loader options, the file, the merged command line. */
typedef struct conf_start {
	conf_cli_t cli;
	conf_t *conf;     /* NULL: command line only */
	conf_argv_t args; /* what the daemon's option parser reads */
} conf_start_t;

/*
 * The first step of a daemon's main: splits argv (conf_cli_split), reads and checks the config
 * file (-c FILE, else the schema's default path when it exists, else none) and merges it with
 * the command line (conf_merge). With --print-schema nothing is read. Problems go into diag.
 * Errors: TANDEM_EINVAL, TANDEM_ENOENT, TANDEM_EIO, TANDEM_ENOMEM; st is then still to be
 * given to conf_start_deinit.
 */
int conf_start(const conf_schema_t *schema, int argc, char **argv, tandem_diag_t *diag,
	       conf_start_t *st);
/* Frees what conf_start made; NULL-safe. */
void conf_start_deinit(conf_start_t *st);

/* Finds a key by name, or NULL. */
const conf_key_t *conf_schema_find(const conf_schema_t *schema, const char *name);

/* Writes the schema as the Markdown table of docs/config.md. */
void conf_schema_print(const conf_schema_t *schema, FILE *fp);

#endif
