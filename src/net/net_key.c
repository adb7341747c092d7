/* CURVE key pairs: generation, Z85 text, key files, and applying them to sockets. */
#include "net_key.h"
#include "net_internal.h"
#include "tandem_error.h"
#include "tandem_file.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

/* Key files are a few lines; anything bigger is not one. */
#define NET_KEY_FILE_MAX 4096

struct net_key {
	char public_z85[NET_KEY_Z85_LEN + 1];
	char secret_z85[NET_KEY_Z85_LEN + 1];
};

bool net_key_z85_valid(const char *text)
{
	static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz"
				       "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
	if (text == NULL || strlen(text) != NET_KEY_Z85_LEN) {
		return false;
	}
	for (size_t i = 0; i < NET_KEY_Z85_LEN; i++) {
		if (strchr(alphabet, text[i]) == NULL) {
			return false;
		}
	}
	/* Each group of five characters must also fit in 32 bits. */
	uint8_t bin[32];
	bool ok = zmq_z85_decode(bin, text) != NULL;
	tandem_wipe(bin, sizeof(bin));
	return ok;
}

int net_key_generate(net_key_t **out)
{
	if (out == NULL) {
		return TANDEM_EINVAL;
	}
	if (!zmq_has("curve")) {
		return TANDEM_NET_ECURVE;
	}
	net_key_t *key = calloc(1, sizeof(*key));
	if (key == NULL) {
		return TANDEM_ENOMEM;
	}
	if (zmq_curve_keypair(key->public_z85, key->secret_z85) != 0) {
		net_key_free(key);
		return TANDEM_NET_ECURVE;
	}
	*out = key;
	return TANDEM_OK;
}

const char *net_key_public(const net_key_t *key)
{
	return key == NULL ? NULL : key->public_z85;
}

void net_key_free(net_key_t *key)
{
	if (key == NULL) {
		return;
	}
	tandem_wipe(key, sizeof(*key));
	free(key);
}

/*
 * Finds "WORD Z85" in a key file's text: lines are trimmed, blank lines and
 * lines starting with '#' are skipped, any other word is an error. Writes the
 * key of `want` (and of `other`, when given and present) into the buffers.
 */
static int key_file_parse(char *text, const char *want, char *want_out, const char *other,
			  char *other_out, bool *other_found)
{
	bool found = false;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char word[16], value[64], extra[2];
		while (*line == ' ' || *line == '\t') {
			line++;
		}
		if (*line == '\0' || *line == '#' || *line == '\r') {
			continue;
		}
		int n = sscanf(line, "%15s %63s %1s", word, value, extra);
		if (n != 2 || !net_key_z85_valid(value)) {
			tandem_wipe(value, sizeof(value));
			return TANDEM_NET_EKEY;
		}
		if (strcmp(word, want) == 0 && !found) {
			memcpy(want_out, value, NET_KEY_Z85_LEN + 1);
			found = true;
		} else if (other != NULL && strcmp(word, other) == 0 && !*other_found) {
			memcpy(other_out, value, NET_KEY_Z85_LEN + 1);
			*other_found = true;
		} else {
			tandem_wipe(value, sizeof(value));
			return TANDEM_NET_EKEY;
		}
		tandem_wipe(value, sizeof(value));
	}
	return found ? TANDEM_OK : TANDEM_NET_EKEY;
}

int net_key_load(const char *secret_path, net_key_t **out)
{
	if (secret_path == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	char *text = NULL;
	size_t len = 0;
	net_key_t *key = NULL;
	char stated_public[NET_KEY_Z85_LEN + 1] = "";
	bool has_public = false;
	int ret = tandem_secret_read(secret_path, NET_KEY_FILE_MAX, &text, &len);
	if (ret != TANDEM_OK) {
		goto out;
	}
	key = calloc(1, sizeof(*key));
	if (key == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	ret = key_file_parse(text, "secret", key->secret_z85, "public", stated_public, &has_public);
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (zmq_curve_public(key->public_z85, key->secret_z85) != 0) {
		ret = zmq_has("curve") ? TANDEM_NET_EKEY : TANDEM_NET_ECURVE;
		goto out;
	}
	if (has_public && strcmp(stated_public, key->public_z85) != 0) {
		ret = TANDEM_NET_EKEY;
		goto out;
	}
	*out = key;
	key = NULL;
out:
	if (text != NULL) {
		tandem_wipe(text, len);
		free(text);
	}
	net_key_free(key);
	return ret;
}

int net_key_public_load(const char *path, char out[NET_KEY_Z85_LEN + 1])
{
	if (path == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	char *text = NULL;
	char z85[NET_KEY_Z85_LEN + 1];
	int ret = tandem_file_read(path, NET_KEY_FILE_MAX, &text, NULL);
	if (ret != TANDEM_OK) {
		goto out;
	}
	ret = key_file_parse(text, "public", z85, NULL, NULL, NULL);
	if (ret != TANDEM_OK) {
		goto out;
	}
	memcpy(out, z85, sizeof(z85));
out:
	free(text);
	return ret;
}

static int key_file_write(const char *path, int mode, const char *comment, const net_key_t *key,
			  bool with_secret)
{
	tandem_afile_t *f = NULL;
	int ret = tandem_afile_open(path, mode, &f);
	if (ret != TANDEM_OK) {
		return ret;
	}
	FILE *fp = tandem_afile_stream(f);
	fprintf(fp, "# %s\npublic %s\n", comment, key->public_z85);
	if (with_secret) {
		fprintf(fp, "secret %s\n", key->secret_z85);
	}
	return tandem_afile_commit(f);
}

int net_key_save(const net_key_t *key, const char *public_path, const char *secret_path)
{
	if (key == NULL) {
		return TANDEM_EINVAL;
	}
	int ret = TANDEM_OK;
	if (secret_path != NULL) {
		ret =
		    key_file_write(secret_path, 0600,
				   "tandem CURVE secret key: keep this file mode 0600", key, true);
	}
	if (ret == TANDEM_OK && public_path != NULL) {
		ret = key_file_write(public_path, 0644, "tandem CURVE public key", key, false);
	}
	return ret;
}

int net_key_apply_server(const net_key_t *key, void *socket)
{
	if (key == NULL || socket == NULL) {
		return TANDEM_EINVAL;
	}
	int one = 1;
	const char *domain = NET_ZAP_DOMAIN;
	if (zmq_setsockopt(socket, ZMQ_CURVE_SERVER, &one, sizeof(one)) != 0 ||
	    zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, key->secret_z85, NET_KEY_Z85_LEN) != 0 ||
	    zmq_setsockopt(socket, ZMQ_ZAP_DOMAIN, domain, strlen(domain)) != 0) {
		return TANDEM_NET_EZMQ;
	}
	return TANDEM_OK;
}

int net_key_apply_client(const net_key_t *key, void *socket, const char *server_public)
{
	if (key == NULL || socket == NULL || server_public == NULL) {
		return TANDEM_EINVAL;
	}
	if (!net_key_z85_valid(server_public)) {
		return TANDEM_NET_EKEY;
	}
	if (zmq_setsockopt(socket, ZMQ_CURVE_SERVERKEY, server_public, NET_KEY_Z85_LEN) != 0 ||
	    zmq_setsockopt(socket, ZMQ_CURVE_PUBLICKEY, key->public_z85, NET_KEY_Z85_LEN) != 0 ||
	    zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, key->secret_z85, NET_KEY_Z85_LEN) != 0) {
		return TANDEM_NET_EZMQ;
	}
	return TANDEM_OK;
}
