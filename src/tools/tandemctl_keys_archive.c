/* tandemctl keys archive-export / archive-import: the SMK-wrapped key archive between sites
 * (docs/ceremony.md), with role, state and times from the key state (--state DIR). */
#include "archive.h"
#include "hsm.h"
#include "hsm_smk.h"
#include "kasp_keystate.h"
#include "kasp_store.h"
#include "tandem_error.h"
#include "tandem_file.h"
#include "tandemctl.h"
#include "tandemctl_keys_util.h"
#include "tandemctl_offline_audit.h"

#include <errno.h>
#include <openssl/evp.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Exit codes (tandemctl.h). */
enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_INPUT = 2, EXIT_HSM = 3, EXIT_REFUSED = 4, EXIT_IO = 5 };

int tandemctl_keys_archive_has(const char *cmd)
{
	return cmd != NULL &&
	       (strcmp(cmd, "archive-export") == 0 || strcmp(cmd, "archive-import") == 0);
}

static void usage(FILE *fp)
{
	fprintf(fp,
		"usage: tandemctl keys archive-export [--module PATH|P11KIT-NAME] --token URI\n"
		"                                     [--state DIR [--zone Z]] --out FILE "
		"[--now UNIXTIME]\n"
		"                                     [--audit-file PATH]\n"
		"       tandemctl keys archive-import [--module PATH|P11KIT-NAME] --token URI\n"
		"                                     [--state DIR] FILE\n"
		"The token URI names the token and the user PIN's pin-source "
		"(pkcs11:token=T;pin-source=FILE).\n"
		"With --state, export takes exactly the keys of the key state (all zones, or Z)\n"
		"with their role, state and times; import records them as held at this site.\n"
		"An export is audited in the offline audit file (--audit-file, default\n"
		"DIR/" OFFLINE_AUDIT_NAME " with --state, else beside FILE), for 'tandemctl audit\n"
		"import-offline' (docs/audit.md).\n");
}

static void print_diag(const char *who, const tandem_diag_t *diag)
{
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		fprintf(stderr, "%s: %s\n", who, tandem_diag_msg(diag, i));
	}
	if (tandem_diag_count(diag) > tandem_diag_kept(diag)) {
		fprintf(stderr, "%s: ... and %zu more\n", who,
			tandem_diag_count(diag) - tandem_diag_kept(diag));
	}
}

static int exit_for(int ret)
{
	switch (ret) {
	case TANDEM_OK: return EXIT_OK;
	case TANDEM_EPERM:
	case TANDEM_EEXIST:
	case TANDEM_ARCHIVE_EPASS:
	case TANDEM_ARCHIVE_ETAMPER:
	case TANDEM_ARCHIVE_ECONFLICT:
	case TANDEM_KASP_EFACT: return EXIT_REFUSED;
	case TANDEM_EIO: return EXIT_IO;
	case TANDEM_ESYNTAX:
	case TANDEM_ERANGE:
	case TANDEM_EINVAL:
	case TANDEM_ENOENT:
	case TANDEM_ARCHIVE_ECARDS:
	case TANDEM_ARCHIVE_EFORMAT:
	case TANDEM_ARCHIVE_EVERSION:
	case TANDEM_KASP_ESTATE:
	case TANDEM_KASP_EVERSION:
	case TANDEM_KASP_ENOKEY: return EXIT_INPUT;
	default: return EXIT_HSM;
	}
}

/* Opens the token the URI names with one session, logged in as user. */
static int token_open(const char *who, const char *module_opt, const char *token_uri,
		      tandem_diag_t *diag, hsm_module_t **module, hsm_token_t **token)
{
	hsm_uri_t *uri = NULL;
	int ret = hsm_uri_parse(token_uri, diag, &uri);
	if (ret == TANDEM_OK) {
		ret = hsm_module_load(module_opt != NULL ? module_opt : hsm_uri_module(uri), diag,
				      module);
	}
	if (ret == TANDEM_OK) {
		ret = hsm_token_open(*module, uri, NULL, 1, diag, token);
	}
	hsm_uri_free(uri);
	if (ret != TANDEM_OK) {
		print_diag(who, diag);
		fprintf(stderr, "%s: cannot open the token: %s\n", who, tandem_strerror(ret));
	}
	return ret;
}

/* Loads the key state in dir; a directory without one is refused (a mistyped --state must
 * not pass for an empty state). Returns an exit code. */
static int state_load(const char *who, const char *dir, tandem_diag_t *diag, kasp_store_t **store)
{
	int ret = kasp_store_load(dir, diag, store);
	if (ret != TANDEM_OK) {
		print_diag(who, diag);
		fprintf(stderr, "%s: key state in %s refused: %s; nothing done\n", who, dir,
			tandem_strerror(ret));
		return exit_for(ret);
	}
	if (kasp_store_count(*store) == 0) {
		fprintf(stderr, "%s: %s holds no key state (%s); nothing done\n", who, dir,
			KASP_STORE_FILE);
		return EXIT_INPUT;
	}
	return EXIT_OK;
}

static bool token_has_label(const hsm_token_t *token, const char *label)
{
	for (size_t i = 0; i < hsm_token_key_count(token); i++) {
		if (strcmp(hsm_key_label(hsm_token_key(token, i)), label) == 0) {
			return true;
		}
	}
	return false;
}

/* The keys of the state (every zone, or zone) to export, as archive metadata. */
typedef struct export_list {
	archive_key_meta_t *meta;
	const kasp_keyset_t **set; /* the zone of each key, for printing */
	const kasp_key_t **key;
	size_t n;
} export_list_t;

static void export_list_deinit(export_list_t *l)
{
	free(l->meta);
	free(l->set);
	free(l->key);
	memset(l, 0, sizeof(*l));
}

/* Every key the state lists, but for removed keys that the token no longer holds (they are out
 * of every zone; deleting them from the HSM is the operator's decision). Returns an exit
 * code. */
static int export_list_make(const char *who, const kasp_store_t *store, const char *zone,
			    const char *dir, const hsm_token_t *token, export_list_t *l)
{
	memset(l, 0, sizeof(*l));
	size_t total = 0;
	bool zone_found = false;
	for (size_t z = 0; z < kasp_store_count(store); z++) {
		const kasp_keyset_t *set = kasp_store_at(store, z);
		if (zone == NULL || strcmp(set->zone, zone) == 0) {
			total += set->count;
			zone_found = true;
		}
	}
	if (!zone_found) {
		fprintf(stderr, "%s: zone %s is not in the key state in %s\n", who, zone, dir);
		return EXIT_INPUT;
	}
	l->meta = calloc(total + 1, sizeof(*l->meta));
	l->set = calloc(total + 1, sizeof(*l->set));
	l->key = calloc(total + 1, sizeof(*l->key));
	if (l->meta == NULL || l->set == NULL || l->key == NULL) {
		fprintf(stderr, "%s: out of memory\n", who);
		return EXIT_IO;
	}
	for (size_t z = 0; z < kasp_store_count(store); z++) {
		const kasp_keyset_t *set = kasp_store_at(store, z);
		if (zone != NULL && strcmp(set->zone, zone) != 0) {
			continue;
		}
		for (size_t i = 0; i < set->count; i++) {
			const kasp_key_t *k = &set->keys[i];
			if (k->state == KASP_KEY_REMOVED && !token_has_label(token, k->label)) {
				fprintf(stderr,
					"%s: zone %s %s %" PRIu32
					" (%s) is removed and no longer on token %s: left out\n",
					who, set->zone, kasp_role_str(k->role), k->id, k->label,
					hsm_token_label(token));
				continue;
			}
			l->meta[l->n] = (archive_key_meta_t){
			    .label = k->label,
			    .role = k->role == KASP_ROLE_KSK ? ARCHIVE_ROLE_KSK : ARCHIVE_ROLE_ZSK,
			    .state = kasp_key_state_str(k->state),
			    .created = k->created,
			    .published = k->published,
			    .active = k->active,
			    .retired = k->retired,
			    .removed = k->removed,
			    .dnskey = k->dnskey,
			    .dnskey_len = k->dnskey_len,
			};
			l->set[l->n] = set;
			l->key[l->n] = k;
			l->n++;
		}
	}
	if (l->n == 0) {
		fprintf(stderr, "%s: the key state in %s lists no key to export%s%s\n", who, dir,
			zone != NULL ? " for zone " : "", zone != NULL ? zone : "");
		return EXIT_INPUT;
	}
	return EXIT_OK;
}

/* Keys tandem made on the token that the export leaves out, named on stderr. */
static void export_print_skipped(const char *who, hsm_token_t *token, const export_list_t *l)
{
	for (size_t i = 0; i < hsm_token_key_count(token); i++) {
		const hsm_key_t *k = hsm_token_key(token, i);
		if (!hsm_smk_key_archivable(token, k)) {
			continue;
		}
		bool listed = false;
		for (size_t j = 0; j < l->n && !listed; j++) {
			listed = strcmp(l->meta[j].label, hsm_key_label(k)) == 0;
		}
		if (!listed) {
			fprintf(stderr, "%s: skipped %s: on token %s but not in the key state\n",
				who, hsm_key_label(k), hsm_token_label(token));
		}
	}
}

/* The export's entry in the offline audit file: what left the token, wrapped, and where. */
static int export_audited(const char *who, const char *path, const char *zone,
			  const hsm_token_t *token, const char *out, const char *state_dir,
			  const uint8_t *buf, size_t len, size_t count)
{
	char actor[96], details[1024], hex[65], why[512];
	uint8_t md[32];
	unsigned int mdlen = 0;
	if (EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) != 1) {
		fprintf(stderr, "%s: no SHA-256 for the audit entry\n", who);
		return EXIT_IO;
	}
	for (size_t i = 0; i < sizeof(md); i++) {
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	}
	offline_audit_actor(actor, sizeof(actor));
	snprintf(details, sizeof(details),
		 "tandemctl keys archive-export: %zu key(s) of token %.64s wrapped under the SMK "
		 "to %.300s (sha256 %s)%s%.300s",
		 count, hsm_token_label(token), out, hex,
		 state_dir != NULL ? " with the key state of " : "",
		 state_dir != NULL ? state_dir : "");
	tandem_audit_event_t ev = {.type = "archive.export",
				   .level = TANDEM_AUDIT_NOTICE,
				   .actor = actor,
				   .zone = zone,
				   .key_id = -1,
				   .details = details};
	if (offline_audit_append(path, &ev, 1, why, sizeof(why)) != TANDEM_OK) {
		fprintf(stderr, "%s: the archive is written, but its audit entry is not: %s\n", who,
			why);
		return EXIT_IO;
	}
	printf("audited in %s\n", path);
	return EXIT_OK;
}

static int cmd_export(const char *who, int argc, char **argv)
{
	enum { O_MODULE = 256, O_TOKEN, O_OUT, O_NOW, O_STATE, O_ZONE, O_AUDIT_FILE };
	static const struct option longopts[] = {
	    {"module", required_argument, NULL, O_MODULE},
	    {"token", required_argument, NULL, O_TOKEN},
	    {"out", required_argument, NULL, O_OUT},
	    {"now", required_argument, NULL, O_NOW},
	    {"state", required_argument, NULL, O_STATE},
	    {"zone", required_argument, NULL, O_ZONE},
	    {"audit-file", required_argument, NULL, O_AUDIT_FILE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *module_opt = NULL, *token_uri = NULL, *out = NULL, *state_dir = NULL;
	const char *audit_file = NULL;
	char apath[4096], awhy[512] = "its name is too long";
	const char *zone_opt = NULL;
	char zone[KASP_ZONE_MAX];
	uint64_t now = (uint64_t)time(NULL);
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_MODULE: module_opt = optarg; break;
		case O_TOKEN: token_uri = optarg; break;
		case O_OUT: out = optarg; break;
		case O_STATE: state_dir = optarg; break;
		case O_ZONE: zone_opt = optarg; break;
		case O_AUDIT_FILE: audit_file = optarg; break;
		case O_NOW: {
			char *end = NULL;
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (optarg[0] == '-' || *end != '\0' || errno != 0 || v > UINT32_MAX) {
				fprintf(stderr, "%s: --now takes a UNIX time\n", who);
				return EXIT_USAGE;
			}
			now = v;
			break;
		}
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (token_uri == NULL || out == NULL || optind != argc) {
		fprintf(stderr, "%s: needs --token URI and --out FILE\n", who);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (zone_opt != NULL && (state_dir == NULL || !keys_zone_norm(zone_opt, zone))) {
		fprintf(stderr, "%s: --zone needs --state DIR and a zone name\n", who);
		return EXIT_USAGE;
	}
	/* a broken offline audit file stops the export before the token is opened */
	if (!offline_audit_path(audit_file, state_dir, out, apath, sizeof(apath)) ||
	    offline_audit_check(apath, awhy, sizeof(awhy)) != TANDEM_OK) {
		fprintf(stderr, "%s: refused: offline audit file: %s\n", who, awhy);
		return EXIT_IO;
	}
	int code = EXIT_HSM;
	tandem_diag_t *diag = NULL;
	kasp_store_t *store = NULL;
	export_list_t list = {0};
	hsm_module_t *module = NULL;
	hsm_token_t *token = NULL;
	tandem_afile_t *f = NULL;
	uint8_t *buf = NULL;
	size_t len = 0, count = 0;
	if (tandem_diag_new(&diag) != TANDEM_OK) {
		goto out;
	}
	/* the key state first: a state refused opens no token */
	if (state_dir != NULL) {
		code = state_load(who, state_dir, diag, &store);
		if (code != EXIT_OK) {
			goto out;
		}
	}
	int ret = token_open(who, module_opt, token_uri, diag, &module, &token);
	if (ret != TANDEM_OK) {
		code = exit_for(ret);
		goto out;
	}
	if (store != NULL) {
		code = export_list_make(who, store, zone_opt != NULL ? zone : NULL, state_dir,
					token, &list);
		if (code != EXIT_OK) {
			goto out;
		}
		ret = archive_export_keys(token, list.meta, list.n, now, diag, &buf, &len);
		count = list.n;
	} else {
		ret = archive_export(token, now, diag, &buf, &len, &count);
	}
	if (ret != TANDEM_OK) {
		print_diag(who, diag);
		fprintf(stderr, "%s: export failed: %s; nothing written\n", who,
			tandem_strerror(ret));
		code = exit_for(ret);
		goto out;
	}
	ret = tandem_afile_open(out, 0600, &f);
	if (ret == TANDEM_OK) {
		if (fwrite(buf, 1, len, tandem_afile_stream(f)) != len) {
			ret = TANDEM_EIO;
		} else {
			ret = tandem_afile_commit(f);
			f = NULL;
		}
	}
	if (ret != TANDEM_OK) {
		fprintf(stderr, "%s: cannot write %s: %s\n", who, out, tandem_strerror(ret));
		code = EXIT_IO;
		goto out;
	}
	if (store != NULL) {
		export_print_skipped(who, token, &list);
		for (size_t i = 0; i < list.n; i++) {
			const kasp_key_t *k = list.key[i];
			printf("  %s %s %" PRIu32 " %s: tag %u, algorithm %u, state %s\n",
			       list.set[i]->zone, kasp_role_str(k->role), k->id, k->label, k->tag,
			       k->algorithm, kasp_key_state_str(k->state));
		}
	}
	printf("exported %zu key(s) from token %s to %s%s%s\n", count, hsm_token_label(token), out,
	       store != NULL ? " with the key state of " : "", store != NULL ? state_dir : "");
	code = export_audited(who, apath, zone_opt != NULL ? zone : NULL, token, out, state_dir,
			      buf, len, count);
out:
	tandem_afile_abort(f);
	free(buf);
	export_list_deinit(&list);
	hsm_token_close(token);
	hsm_module_free(module);
	kasp_store_free(store);
	tandem_diag_free(diag);
	return code;
}

/* One line per archived key: what the archive says of it. */
static void import_print_keys(const archive_import_stats_t *st)
{
	for (size_t i = 0; i < st->nkeys; i++) {
		const archive_key_info_t *k = &st->keys[i];
		const char *done = k->imported ? "imported" : "already present";
		if (k->role == ARCHIVE_ROLE_UNKNOWN) {
			printf("  %s: tag %u, algorithm %u, no key-state metadata; %s\n", k->label,
			       k->key_tag, k->algorithm, done);
			continue;
		}
		printf("  %s: %s, tag %u, algorithm %u, state %s", k->label,
		       archive_role_str(k->role), k->key_tag, k->algorithm,
		       k->state[0] != '\0' ? k->state : "-");
		const struct {
			const char *name;
			uint64_t t;
		} times[] = {{"created", k->created},
			     {"published", k->published},
			     {"active", k->active},
			     {"retired", k->retired},
			     {"removed", k->removed}};
		for (size_t j = 0; j < sizeof(times) / sizeof(times[0]); j++) {
			char tb[32];
			if (times[j].t != 0) {
				printf(", %s %s", times[j].name, keys_time_str(times[j].t, tb));
			}
		}
		printf("; %s\n", done);
	}
}

/* The public key and algorithm of two DNSKEY RDATA are the same (flags aside). */
static bool same_key(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && alen >= 4 && memcmp(a + 2, b + 2, alen - 2) == 0;
}

/*
 * Records in the local key state that this site's HSM holds every archived key it lists
 * (matched by label and public key). Returns an exit code: 4 when the state holds a different
 * key under an archived label.
 */
static int import_record(const char *who, const char *dir, kasp_store_t *store,
			 const archive_import_stats_t *st, tandem_diag_t *diag)
{
	size_t marked = 0, already = 0, absent = 0, different = 0;
	int code = EXIT_OK;
	kasp_keyset_t *set = malloc(sizeof(*set));
	if (set == NULL) {
		fprintf(stderr, "%s: out of memory\n", who);
		return EXIT_IO;
	}
	bool *seen = calloc(st->nkeys + 1, sizeof(*seen));
	if (seen == NULL) {
		free(set);
		fprintf(stderr, "%s: out of memory\n", who);
		return EXIT_IO;
	}
	for (size_t z = 0; z < kasp_store_count(store); z++) {
		memcpy(set, kasp_store_at(store, z), sizeof(*set));
		bool changed = false;
		for (size_t i = 0; i < set->count; i++) {
			kasp_key_t *k = &set->keys[i];
			for (size_t j = 0; j < st->nkeys; j++) {
				const archive_key_info_t *a = &st->keys[j];
				if (strcmp(a->label, k->label) != 0) {
					continue;
				}
				seen[j] = true;
				if (!same_key(a->dnskey, a->dnskey_len, k->dnskey, k->dnskey_len)) {
					fprintf(stderr,
						"%s: key %s: zone %s's key under this label is a "
						"different key (tag %u, not %u); not recorded\n",
						who, a->label, set->zone, k->tag, a->key_tag);
					different++;
				} else if (k->imported) {
					already++;
				} else if (kasp_keyset_imported(set, k->id) == TANDEM_OK) {
					marked++;
					changed = true;
				}
			}
		}
		if (changed && kasp_store_put(store, set) != TANDEM_OK) {
			fprintf(stderr, "%s: out of memory\n", who);
			code = EXIT_IO;
			goto out;
		}
	}
	for (size_t j = 0; j < st->nkeys; j++) {
		if (!seen[j]) {
			fprintf(stderr,
				"%s: key %s is not in the key state in %s: nothing recorded\n", who,
				st->keys[j].label, dir);
			absent++;
		}
	}
	if (marked > 0 && kasp_store_save(store, dir, diag) != TANDEM_OK) {
		print_diag(who, diag);
		fprintf(stderr,
			"%s: the keys are in the token but the key state in %s was not saved\n",
			who, dir);
		code = EXIT_IO;
		goto out;
	}
	printf("key state %s: %zu key(s) recorded as held at this site, %zu already were, "
	       "%zu not in the state\n",
	       dir, marked, already, absent);
	if (different > 0) {
		fprintf(stderr, "%s: the key state and the archive disagree on %zu key(s)\n", who,
			different);
		code = EXIT_REFUSED;
	}
out:
	free(seen);
	free(set);
	return code;
}

static int cmd_import(const char *who, int argc, char **argv)
{
	enum { O_MODULE = 256, O_TOKEN, O_STATE };
	static const struct option longopts[] = {
	    {"module", required_argument, NULL, O_MODULE},
	    {"token", required_argument, NULL, O_TOKEN},
	    {"state", required_argument, NULL, O_STATE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *module_opt = NULL, *token_uri = NULL, *state_dir = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_MODULE: module_opt = optarg; break;
		case O_TOKEN: token_uri = optarg; break;
		case O_STATE: state_dir = optarg; break;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (token_uri == NULL || optind + 1 != argc) {
		fprintf(stderr, "%s: needs --token URI and one archive FILE\n", who);
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *path = argv[optind];
	int code = EXIT_INPUT;
	tandem_diag_t *diag = NULL;
	kasp_store_t *store = NULL;
	hsm_module_t *module = NULL;
	hsm_token_t *token = NULL;
	char *buf = NULL;
	size_t len = 0;
	archive_import_stats_t st = {0};
	if (tandem_diag_new(&diag) != TANDEM_OK) {
		goto out;
	}
	int ret = tandem_file_read(path, ARCHIVE_ARCHIVE_FILE_MAX, &buf, &len);
	if (ret != TANDEM_OK) {
		fprintf(stderr, "%s: %s: %s\n", who, path, tandem_strerror(ret));
		code = ret == TANDEM_EIO ? EXIT_IO : EXIT_INPUT;
		goto out;
	}
	/* a state refused imports nothing */
	if (state_dir != NULL) {
		code = state_load(who, state_dir, diag, &store);
		if (code != EXIT_OK) {
			goto out;
		}
	}
	ret = token_open(who, module_opt, token_uri, diag, &module, &token);
	if (ret != TANDEM_OK) {
		code = exit_for(ret);
		goto out;
	}
	ret = archive_import(token, (const uint8_t *)buf, len, diag, &st);
	if (ret != TANDEM_OK) {
		print_diag(who, diag);
		fprintf(stderr, "%s: %s refused: %s; nothing imported\n", who, path,
			tandem_strerror(ret));
		code = exit_for(ret);
		goto out;
	}
	char tb[32];
	printf("archive of token %s made %s:\n", st.source_token[0] ? st.source_token : "?",
	       keys_time_str(st.created, tb));
	import_print_keys(&st);
	printf("imported %zu key(s) into token %s, %zu already present\n", st.imported,
	       hsm_token_label(token), st.skipped);
	code = store != NULL ? import_record(who, state_dir, store, &st, diag) : EXIT_OK;
out:
	archive_import_stats_deinit(&st);
	free(buf);
	hsm_token_close(token);
	hsm_module_free(module);
	kasp_store_free(store);
	tandem_diag_free(diag);
	return code;
}

int tandemctl_keys_archive(const char *cmd, int argc, char **argv)
{
	const char *who = argc > 0 ? argv[0] : "tandemctl";
	if (strcmp(cmd, "archive-export") == 0) {
		return cmd_export(who, argc, argv);
	}
	if (strcmp(cmd, "archive-import") == 0) {
		return cmd_import(who, argc, argv);
	}
	return EXIT_USAGE;
}
