/* TSIG keys from `NAME ALGORITHM BASE64SECRET` files, and the ACL's address prefixes. */
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <openssl/evp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "dist_internal.h"
#include "tandem_error.h"
#include "tandem_file.h"

#define DIST_KEY_FILE_MAX 4096

bool dist_tsig_verify_next(ldns_pkt *pkt, const uint8_t *wire, size_t len, const char *key_name,
			   const char *secret, const ldns_rdf *mac, bool timers_only)
{
	ldns_rr *tsig = ldns_pkt_tsig(pkt);
	bool ok =
	    ldns_pkt_tsig_verify_next(pkt, wire, len, key_name, secret, mac, timers_only ? 1 : 0);
	if (tsig != NULL && ldns_pkt_tsig(pkt) == NULL) {
		ldns_pkt_set_tsig(pkt, tsig); /* ldns gave up with it off the packet */
	}
	return ok;
}

bool dist_tsig_verify(ldns_pkt *pkt, const uint8_t *wire, size_t len, const char *key_name,
		      const char *secret, const ldns_rdf *mac)
{
	return dist_tsig_verify_next(pkt, wire, len, key_name, secret, mac, false);
}

bool dist_key_verify(const dist_key_t *k, ldns_pkt *pkt, const uint8_t *wire, size_t len,
		     const ldns_rdf *mac)
{
	return k != NULL && pkt != NULL &&
	       dist_tsig_verify(pkt, wire, len, k->name, k->secret, mac);
}

void dist_key_free(dist_key_t *k)
{
	if (k == NULL) {
		return;
	}
	if (k->secret != NULL) {
		tandem_wipe(k->secret, strlen(k->secret));
		free(k->secret);
	}
	if (k->raw != NULL) {
		tandem_wipe(k->raw, k->rawlen);
		free(k->raw);
	}
	ldns_rdf_deep_free(k->dname);
	ldns_rdf_deep_free(k->alg_dname);
	free(k->name);
	free(k->alg);
	free(k);
}

const char *dist_key_name(const dist_key_t *k)
{
	return k != NULL ? k->name : NULL;
}

bool dist_key_is_sha512(const dist_key_t *k)
{
	return k != NULL && strcmp(k->alg, "hmac-sha512.") == 0;
}

const char *dist_key_secret_b64(const dist_key_t *k)
{
	return k != NULL ? k->secret : NULL;
}

int dist_key_new(const char *name, const char *algorithm, const char *secret_b64,
		 tandem_diag_t *diag, dist_key_t **out)
{
	int ret = TANDEM_EINVAL;
	dist_key_t *k = NULL;
	uint8_t *raw = NULL;
	size_t rawcap = 0;
	if (name == NULL || algorithm == NULL || secret_b64 == NULL || out == NULL) {
		goto out;
	}
	ret = TANDEM_ESYNTAX;
	const char *alg = NULL;
	if (strcasecmp(algorithm, "hmac-sha256") == 0 ||
	    strcasecmp(algorithm, "hmac-sha256.") == 0) {
		alg = "hmac-sha256.";
	} else if (strcasecmp(algorithm, "hmac-sha512") == 0 ||
		   strcasecmp(algorithm, "hmac-sha512.") == 0) {
		alg = "hmac-sha512.";
	} else {
		tandem_diag_add(diag, ret, "key %s: algorithm %s: use hmac-sha256 or hmac-sha512",
				name, algorithm);
		goto out;
	}
	/* the secret must decode, and be of some length (RFC 8945 6: at least half the MAC) */
	size_t blen = strlen(secret_b64);
	rawcap = blen / 4 * 3 + 3;
	raw = malloc(rawcap);
	if (raw == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	int rawlen = blen % 4 == 0 && blen <= INT_MAX
			 ? EVP_DecodeBlock(raw, (const unsigned char *)secret_b64, (int)blen)
			 : -1;
	for (size_t i = blen; rawlen > 0 && i > 0 && secret_b64[i - 1] == '='; i--) {
		rawlen--;
	}
	if (rawlen < 16) {
		tandem_diag_add(diag, ret, "key %s: the secret is not base64 of 16 bytes or more",
				name);
		goto out;
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	size_t nlen = strlen(name);
	k->name = malloc(nlen + 2);
	k->alg = strdup(alg);
	k->secret = strdup(secret_b64);
	if (k->name == NULL || k->alg == NULL || k->secret == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nlen; i++) {
		k->name[i] = (char)tolower((unsigned char)name[i]);
	}
	k->name[nlen] = '\0';
	if (nlen == 0 || k->name[nlen - 1] != '.') {
		strcat(k->name, ".");
	}
	k->dname = ldns_dname_new_frm_str(k->name);
	k->alg_dname = ldns_dname_new_frm_str(k->alg);
	if (k->dname == NULL || k->alg_dname == NULL) {
		tandem_diag_add(diag, ret, "key %s: not a domain name", name);
		goto out;
	}
	k->raw = raw;
	k->rawlen = (size_t)rawlen;
	raw = NULL;
	*out = k;
	k = NULL;
	ret = TANDEM_OK;
out:
	if (raw != NULL) {
		tandem_wipe(raw, rawcap);
		free(raw);
	}
	dist_key_free(k);
	return ret;
}

int dist_key_load(const char *path, tandem_diag_t *diag, dist_key_t **out)
{
	char *text = NULL;
	size_t len = 0;
	if (path == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	int ret = tandem_secret_read(path, DIST_KEY_FILE_MAX, &text, &len);
	if (ret == TANDEM_EPERM) {
		tandem_diag_add(
		    diag, ret,
		    "%s: group or others may read or write it: chmod 600 (a TSIG secret "
		    "in a loose file is no secret)",
		    path);
		goto out;
	}
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, ret, "%s: cannot read: %s", path, tandem_strerror(ret));
		goto out;
	}
	/* one line of three fields; comments and blank lines around it are allowed */
	char *fields[3] = {NULL, NULL, NULL};
	size_t nf = 0;
	bool extra = false;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *hash = strchr(line, '#');
		if (hash != NULL) {
			*hash = '\0';
		}
		char *save2 = NULL;
		for (char *f = strtok_r(line, " \t\r", &save2); f != NULL;
		     f = strtok_r(NULL, " \t\r", &save2)) {
			if (nf < 3) {
				fields[nf++] = f;
			} else {
				extra = true;
			}
		}
	}
	if (nf != 3 || extra) {
		ret = TANDEM_ESYNTAX;
		tandem_diag_add(diag, ret, "%s: expected one line NAME ALGORITHM BASE64SECRET",
				path);
		goto out;
	}
	ret = dist_key_new(fields[0], fields[1], fields[2], diag, out);
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, ret, "%s: key refused", path);
	}
out:
	if (text != NULL) {
		tandem_wipe(text, len);
		free(text);
	}
	return ret;
}

int dist_acl_parse(const char *text, const dist_key_t *const *keys, size_t nkeys,
		   tandem_diag_t *diag, dist_acl_t *out)
{
	char buf[256];
	int ret = TANDEM_ESYNTAX;
	if (strlen(text) >= sizeof(buf)) {
		tandem_diag_add(diag, ret, "xfr-acl %.40s...: too long", text);
		return ret;
	}
	strcpy(buf, text);
	dist_acl_t a;
	memset(&a, 0, sizeof(a));
	char *comma = strchr(buf, ',');
	if (comma != NULL) {
		*comma = '\0';
		char want[260];
		snprintf(want, sizeof(want), "%s", comma + 1);
		size_t wl = strlen(want);
		for (size_t i = 0; i < wl; i++) {
			want[i] = (char)tolower((unsigned char)want[i]);
		}
		if (wl == 0 || want[wl - 1] != '.') {
			strcat(want, ".");
		}
		for (size_t i = 0; i < nkeys && a.key == NULL; i++) {
			if (strcmp(keys[i]->name, want) == 0) {
				a.key = keys[i];
			}
		}
		if (a.key == NULL) {
			tandem_diag_add(diag, ret, "xfr-acl %s: no TSIG key is named %s", text,
					want);
			return ret;
		}
	}
	char *slash = strchr(buf, '/');
	if (slash != NULL) {
		*slash = '\0';
	}
	if (inet_pton(AF_INET, buf, a.addr) == 1) {
		a.family = AF_INET;
		a.bits = 32;
	} else if (inet_pton(AF_INET6, buf, a.addr) == 1) {
		a.family = AF_INET6;
		a.bits = 128;
	} else {
		tandem_diag_add(diag, ret, "xfr-acl %s: %s is not an IPv4 or IPv6 address", text,
				buf);
		return ret;
	}
	if (slash != NULL) {
		char *end = NULL;
		long bits = strtol(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || bits < 0 || bits > (long)a.bits) {
			tandem_diag_add(diag, ret, "xfr-acl %s: prefix length /%s out of range",
					text, slash + 1);
			return ret;
		}
		a.bits = (unsigned)bits;
	}
	*out = a;
	return TANDEM_OK;
}

bool dist_acl_match(const dist_acl_t *a, const struct sockaddr *addr)
{
	uint8_t bytes[16];
	int family = addr->sa_family;
	if (family == AF_INET) {
		memcpy(bytes, &((const struct sockaddr_in *)(const void *)addr)->sin_addr, 4);
	} else if (family == AF_INET6) {
		const struct in6_addr *in6 =
		    &((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(in6)) {
			family = AF_INET;
			memcpy(bytes, in6->s6_addr + 12, 4);
		} else {
			memcpy(bytes, in6->s6_addr, 16);
		}
	} else {
		return false;
	}
	if (family != a->family) {
		return false;
	}
	unsigned full = a->bits / 8, rest = a->bits % 8;
	if (memcmp(bytes, a->addr, full) != 0) {
		return false;
	}
	if (rest == 0) {
		return true;
	}
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (bytes[full] & mask) == (a->addr[full] & mask);
}
