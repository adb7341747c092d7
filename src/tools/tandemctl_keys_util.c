/* Helpers shared by tandemctl's key-state commands and the rollover simulator. */
#include "tandemctl_keys_util.h"
#include "coordrpc.h"
#include "dns_zone.h"
#include "kasp_policy_doc.h"

#include "tandem_error.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void keys_diag_print(const tandem_diag_t *diag)
{
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		fprintf(stderr, "%s\n", tandem_diag_msg(diag, i));
	}
	if (tandem_diag_count(diag) > tandem_diag_kept(diag)) {
		fprintf(stderr, "... and %zu more\n",
			tandem_diag_count(diag) - tandem_diag_kept(diag));
	}
}

int keys_policy_load(const char *path, tandem_diag_t *diag, kasp_policy_t *out)
{
	if (path == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	if (strcmp(path, "dps-default") == 0 && access(path, F_OK) != 0) {
		kasp_policy_defaults(out);
		return TANDEM_OK;
	}
	return kasp_policy_load(path, diag, out);
}

bool keys_uint_parse(const char *s, unsigned long long max, unsigned long long *out)
{
	if (s == NULL || !isdigit((unsigned char)*s)) {
		return false;
	}
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max) {
		return false;
	}
	*out = v;
	return true;
}

const char *keys_time_str(uint64_t t, char buf[32])
{
	if (t == 0) {
		snprintf(buf, 32, "-");
		return buf;
	}
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		snprintf(buf, 32, "%" PRIu64, t);
	}
	return buf;
}

bool keys_zone_norm(const char *in, char *buf)
{
	size_t n = in != NULL ? strlen(in) : 0;
	if (n == 0 || n + 2 > KASP_ZONE_MAX) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		buf[i] = (char)tolower((unsigned char)in[i]);
	}
	if (buf[n - 1] != '.') {
		buf[n++] = '.';
	}
	buf[n] = '\0';
	return true;
}

int keys_hsm_open(const char *module, const char *token_uri, unsigned sessions, tandem_diag_t *diag,
		  hsm_module_t **mod, hsm_token_t **tok)
{
	hsm_module_t *m = NULL;
	hsm_uri_t *uri = NULL;
	hsm_token_t *t = NULL;
	int ret = hsm_uri_parse(token_uri, diag, &uri);
	if (ret != TANDEM_OK) {
		goto out;
	}
	const char *from_uri = hsm_uri_module(uri);
	ret = hsm_module_load(module != NULL ? module : from_uri, diag, &m);
	if (ret != TANDEM_OK) {
		goto out;
	}
	ret = hsm_token_open(m, uri, NULL, sessions ? sessions : 1, diag, &t);
	if (ret != TANDEM_OK) {
		goto out;
	}
	*mod = m;
	*tok = t;
	m = NULL;
	t = NULL;
out:
	hsm_token_close(t);
	hsm_module_free(m);
	hsm_uri_free(uri);
	return ret;
}

int keys_hsm_generate(hsm_token_t *tok, const kasp_action_t *action, const char *label,
		      tandem_diag_t *diag, const hsm_key_t **key, uint8_t *dnskey,
		      size_t *dnskey_len)
{
	char text[KASP_LABEL_MAX + 32];
	hsm_uri_t *uri = NULL;
	const hsm_key_t *k = NULL;
	for (const char *c = label; *c != '\0'; c++) {
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.' && *c != '_') {
			tandem_diag_add(diag, TANDEM_EINVAL,
					"key label '%s': only letters, digits, "
					"'-', '.' and '_'",
					label);
			return TANDEM_EINVAL;
		}
	}
	snprintf(text, sizeof(text), "pkcs11:object=%s", label);
	int ret = hsm_uri_parse(text, diag, &uri);
	if (ret != TANDEM_OK) {
		goto out;
	}
	hsm_keyspec_t spec = {.algorithm = action->algorithm, .bits = action->bits};
	if (spec.bits == 0 &&
	    (spec.algorithm == HSM_ALG_RSASHA256 || spec.algorithm == HSM_ALG_RSASHA512)) {
		spec.bits = action->role == KASP_ROLE_KSK ? 2048 : 1024;
	}
	ret = hsm_token_generate_key(tok, uri, &spec, diag, &k);
	if (ret != TANDEM_OK) {
		goto out;
	}
	uint8_t buf[HSM_DNSKEY_MAX];
	size_t len = sizeof(buf);
	ret = hsm_key_dnskey_rdata(k, action->role == KASP_ROLE_KSK ? 257 : 256, buf, &len);
	if (ret == TANDEM_OK && len > KASP_DNSKEY_MAX) {
		ret = TANDEM_EINVAL;
	}
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, ret, "key %s: no DNSKEY RDATA", label);
		goto out;
	}
	memcpy(dnskey, buf, len);
	*dnskey_len = len;
	*key = k;
out:
	hsm_uri_free(uri);
	return ret;
}

int keys_hsm_adopt_or_generate(hsm_token_t *tok, const kasp_action_t *action, const char *label,
			       tandem_diag_t *diag, const hsm_key_t **key, uint8_t *dnskey,
			       size_t *dnskey_len, bool *adopted)
{
	char text[KASP_LABEL_MAX + 32];
	hsm_uri_t *uri = NULL;
	tandem_diag_t *probe = NULL;
	const hsm_key_t *k = NULL;
	*adopted = false;
	snprintf(text, sizeof(text), "pkcs11:object=%s", label);
	int ret = tandem_diag_new(&probe);
	if (ret == TANDEM_OK) {
		ret = hsm_uri_parse(text, probe, &uri);
	}
	if (ret == TANDEM_OK) {
		ret = hsm_token_find_key(tok, uri, probe, &k);
	}
	hsm_uri_free(uri);
	tandem_diag_free(probe);
	if (ret != TANDEM_OK || k == NULL) {
		return keys_hsm_generate(tok, action, label, diag, key, dnskey, dnskey_len);
	}
	if (hsm_key_algorithm(k) != action->algorithm) {
		tandem_diag_add(diag, TANDEM_EEXIST,
				"token holds a key labelled %s of algorithm %u, not %u", label,
				hsm_key_algorithm(k), action->algorithm);
		return TANDEM_EEXIST;
	}
	uint8_t buf[HSM_DNSKEY_MAX];
	size_t len = sizeof(buf);
	ret = hsm_key_dnskey_rdata(k, action->role == KASP_ROLE_KSK ? 257 : 256, buf, &len);
	if (ret != TANDEM_OK || len > KASP_DNSKEY_MAX) {
		tandem_diag_add(diag, TANDEM_EINVAL, "key %s: no DNSKEY RDATA", label);
		return TANDEM_EINVAL;
	}
	memcpy(dnskey, buf, len);
	*dnskey_len = len;
	*key = k;
	*adopted = true;
	return TANDEM_OK;
}

void keys_label(const char *zone, kasp_role_t role, uint32_t id, char label[KASP_LABEL_MAX])
{
	char z[KASP_ZONE_MAX];
	snprintf(z, sizeof(z), "%s", zone);
	size_t zl = strlen(z);
	if (zl > 1 && z[zl - 1] == '.') {
		z[zl - 1] = '\0';
	}
	snprintf(label, KASP_LABEL_MAX, "%.40s-%s-%" PRIu32, z, kasp_role_str(role), id);
}

bool keys_duration_parse(const char *s, uint64_t max, uint64_t *out)
{
	if (s == NULL || !isdigit((unsigned char)*s)) {
		return false;
	}
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	uint64_t unit = 1;
	if (errno != 0) {
		return false;
	}
	if (*end != '\0') {
		switch (*end) {
		case 'd': unit = 86400; break;
		case 'h': unit = 3600; break;
		case 'm': unit = 60; break;
		case 's': unit = 1; break;
		default: return false;
		}
		if (end[1] != '\0') {
			return false;
		}
	}
	if (v > max / unit) {
		return false;
	}
	*out = v * unit;
	return true;
}

void keys_state_free(keys_state_t *s)
{
	kasp_store_free(s->store);
	free(s->set);
	tandem_diag_free(s->diag);
}

int keys_state_load(const char *prog, const char *dir, const char *zone, bool may_create,
		    const char *policy, const char *token, const char *new_zone_hint,
		    keys_state_t *s)
{
	memset(s, 0, sizeof(*s));
	s->set = malloc(sizeof(*s->set));
	if (s->set == NULL || tandem_diag_new(&s->diag) != TANDEM_OK) {
		return KEYS_EXIT_IO;
	}
	int ret = kasp_store_load(dir, s->diag, &s->store);
	if (ret != TANDEM_OK) {
		keys_diag_print(s->diag);
		fprintf(stderr, "%s: key state in %s refused; nothing changed\n", prog, dir);
		return ret == TANDEM_EIO ? KEYS_EXIT_IO : KEYS_EXIT_INPUT;
	}
	if (zone == NULL) {
		return KEYS_EXIT_OK;
	}
	ret = kasp_store_get(s->store, zone, s->set);
	if (ret == TANDEM_ENOENT && may_create) {
		if (policy == NULL || token == NULL) {
			fprintf(stderr, "%s: zone %s is new: give -p POLICY and --token URI%s\n",
				prog, zone, new_zone_hint);
			return KEYS_EXIT_USAGE;
		}
		kasp_keyset_init(s->set, zone);
	} else if (ret != TANDEM_OK) {
		fprintf(stderr, "%s: zone %s is not in %s (run 'tandemctl keys generate' first)\n",
			prog, zone, dir);
		return KEYS_EXIT_INPUT;
	}
	if (policy != NULL) {
		if ((size_t)snprintf(s->set->policy_path, sizeof(s->set->policy_path), "%s",
				     policy) >= sizeof(s->set->policy_path)) {
			fprintf(stderr, "%s: policy path too long\n", prog);
			return KEYS_EXIT_USAGE;
		}
	}
	if (token != NULL) {
		if (strstr(token, "pin-value") != NULL ||
		    (size_t)snprintf(s->set->token_uri, sizeof(s->set->token_uri), "%s", token) >=
			sizeof(s->set->token_uri)) {
			fprintf(stderr, "%s: token URI refused (too long, or carries a PIN)\n",
				prog);
			return KEYS_EXIT_USAGE;
		}
	}
	const char *pol = s->set->policy_path[0] ? s->set->policy_path : "dps-default";
	if (keys_policy_load(pol, s->diag, &s->policy) != TANDEM_OK) {
		keys_diag_print(s->diag);
		fprintf(stderr, "%s: policy %s refused; nothing changed\n", prog, pol);
		return KEYS_EXIT_INPUT;
	}
	return KEYS_EXIT_OK;
}

int keys_state_save(const char *prog, const char *dir, keys_state_t *s)
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(errno));
		return KEYS_EXIT_IO;
	}
	if (kasp_store_put(s->store, s->set) != TANDEM_OK ||
	    kasp_store_save(s->store, dir, s->diag) != TANDEM_OK) {
		keys_diag_print(s->diag);
		fprintf(stderr, "%s: the key state was not saved\n", prog);
		return KEYS_EXIT_IO;
	}
	return KEYS_EXIT_OK;
}

const char *keys_hex(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
	return out;
}

int keys_cluster_load(const char *prog, keys_cluster_t *cl, const char *zone, bool may_create,
		      const char *policy, keys_state_t *s)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int64_t rev = 0;
	memset(s, 0, sizeof(*s));
	s->set = malloc(sizeof(*s->set));
	if (s->set == NULL || tandem_diag_new(&s->diag) != TANDEM_OK) {
		return KEYS_EXIT_IO;
	}
	int code = tandemctl_coord_keyset_get(cl->coord, zone, &buf, &len, &rev);
	if (code != KEYS_EXIT_OK) {
		return code;
	}
	if (len == 0 && !may_create) {
		fprintf(stderr,
			"%s: zone %s has no key set in the cluster yet (the zone's lease holder "
			"makes its first keys)\n",
			prog, zone);
		free(buf);
		return KEYS_EXIT_INPUT;
	}
	if (len == 0) {
		free(buf);
		if (policy == NULL) {
			fprintf(stderr,
				"%s: zone %s has no key set in the cluster yet: give -p POLICY to "
				"start one\n",
				prog, zone);
			return KEYS_EXIT_USAGE;
		}
		if (kasp_keyset_init(s->set, zone) != TANDEM_OK ||
		    (size_t)snprintf(s->set->policy_path, sizeof(s->set->policy_path), "%s",
				     policy) >= sizeof(s->set->policy_path)) {
			fprintf(stderr, "%s: zone name or policy path too long\n", prog);
			return KEYS_EXIT_USAGE;
		}
	} else {
		char what[KASP_ZONE_MAX + 32];
		snprintf(what, sizeof(what), "key set of %s at revision %" PRId64, zone, rev);
		int ret = kasp_keyset_unpack(buf, len, what, s->diag, s->set);
		free(buf);
		if (ret != TANDEM_OK || strcmp(s->set->zone, zone) != 0) {
			keys_diag_print(s->diag);
			fprintf(stderr,
				"%s: the cluster's key set of %s refused; nothing changed\n", prog,
				zone);
			return KEYS_EXIT_INPUT;
		}
	}
	cl->revision = rev;
	return KEYS_EXIT_OK;
}

/*
 * The zone's cluster policy (coord.policy.get: docs/policy.md, "In a cluster") into
 * s->policy: 1 when loaded, 0 when the zone names none, -1 when it cannot be had (said).
 */
static int keys_zone_cluster_policy(const char *prog, keys_cluster_t *cl, keys_state_t *s)
{
	coordrpc_request_t req;
	coordrpc_decision_t dec;
	uint8_t digest[KASP_POLICY_DIGEST_LEN];
	const char *text = NULL;
	size_t len = 0;
	char label[KASP_POLICY_NAME_MAX + 32];
	memset(&req, 0, sizeof(req));
	memset(&dec, 0, sizeof(dec));
	req.kind = COORDRPC_POLICY_GET;
	snprintf(req.zone, sizeof(req.zone), "%s", s->set->zone);
	int got = -1;
	if (tandemctl_coord_decide(cl->coord, &req, &dec) != 0) {
		fprintf(stderr, "%s: the zone's cluster policy cannot be read; nothing changed\n",
			prog);
	} else if (!dec.accepted) {
		fprintf(stderr, "%s: the zone's cluster policy: refused: %s; nothing changed\n",
			prog, dec.text);
	} else if (dec.text[0] == '\0') {
		got = 0;
	} else if (dec.doc == NULL ||
		   kasp_policy_doc_unpack(dec.doc, dec.doc_len, digest, &text, &len) != TANDEM_OK) {
		fprintf(stderr,
			"%s: the cluster's policy %s is not stored whole; nothing changed\n", prog,
			dec.text);
	} else {
		snprintf(label, sizeof(label), "cluster policy %.64s", dec.text);
		if (kasp_policy_parse(label, text, len, s->diag, &s->policy) == TANDEM_OK) {
			got = 1;
		} else {
			keys_diag_print(s->diag);
			fprintf(stderr, "%s: the cluster's policy %s is refused; nothing changed\n",
				prog, dec.text);
		}
	}
	coordrpc_decision_deinit(&dec);
	return got;
}

int keys_cluster_policy(const char *prog, keys_cluster_t *cl, const char *policy, keys_state_t *s)
{
	if (policy == NULL && cl != NULL) {
		/* the policy the zone's nodes sign with, when the cluster names one */
		int got = keys_zone_cluster_policy(prog, cl, s);
		if (got != 0) {
			return got > 0 ? KEYS_EXIT_OK : KEYS_EXIT_INPUT;
		}
	}
	const char *pol = policy != NULL                   ? policy
			  : s->set->policy_path[0] != '\0' ? s->set->policy_path
							   : "dps-default";
	if (keys_policy_load(pol, s->diag, &s->policy) != TANDEM_OK) {
		keys_diag_print(s->diag);
		fprintf(stderr, "%s: policy %s refused (give -p POLICY); nothing changed\n", prog,
			pol);
		return KEYS_EXIT_INPUT;
	}
	return KEYS_EXIT_OK;
}

int keys_cluster_save(const char *prog, keys_cluster_t *cl, keys_state_t *s)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int64_t rev = 0;
	if (kasp_keyset_pack(s->set, &buf, &len) != TANDEM_OK) {
		fprintf(stderr, "%s: the key set was not saved: cannot pack it\n", prog);
		return KEYS_EXIT_IO;
	}
	int code =
	    tandemctl_coord_keyset_put(cl->coord, s->set->zone, buf, len, cl->revision, &rev);
	free(buf);
	if (code == KEYS_EXIT_OK) {
		printf("key set of %s written at revision %" PRId64 "\n", s->set->zone, rev);
		cl->revision = rev;
	}
	return code;
}

int keys_skrbook_read(const char *prog, tandemctl_coord_t *coord, const char *zone,
		      tandem_diag_t *diag, kasp_skrbook_t *book, int64_t *revision, bool *unknown)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int64_t rev = 0;
	memset(book, 0, sizeof(*book));
	if (kasp_skrbook_init(book, zone) != TANDEM_OK) {
		fprintf(stderr, "%s: zone name too long: %s\n", prog, zone);
		return KEYS_EXIT_INPUT;
	}
	int code = tandemctl_coord_skr_get(coord, zone, &buf, &len, &rev, unknown);
	if (code != KEYS_EXIT_OK) {
		return code;
	}
	if (len > 0) {
		int ret = kasp_skrbook_unpack(buf, len, zone, diag, book);
		free(buf);
		if (ret != TANDEM_OK) {
			keys_diag_print(diag);
			fprintf(stderr,
				"%s: the cluster's SKR book of %s (revision %" PRId64
				") refused; nothing changed\n",
				prog, zone, rev);
			kasp_skrbook_init(book, zone);
			return KEYS_EXIT_INPUT;
		}
	}
	*revision = rev;
	return KEYS_EXIT_OK;
}

int keys_skrbook_write(const char *prog, tandemctl_coord_t *coord, const kasp_skrbook_t *book,
		       int64_t revision, int64_t *new_revision)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret = kasp_skrbook_pack(book, &buf, &len);
	if (ret != TANDEM_OK) {
		fprintf(stderr, "%s: the SKR book of %s was not written: %s\n", prog, book->zone,
			ret == TANDEM_ERANGE ? "it would be too large" : tandem_strerror(ret));
		return KEYS_EXIT_IO;
	}
	int code = tandemctl_coord_skr_put(coord, book->zone, buf, len, revision, new_revision);
	free(buf);
	return code;
}
