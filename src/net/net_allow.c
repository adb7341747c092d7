/* The allow-list: which CURVE public keys may talk to us, under which name and role. */
#include "net_allow.h"
#include "tandem_error.h"
#include "tandem_file.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An allow-list file of a cluster is small; anything larger is a mistake. */
#define NET_ALLOW_FILE_MAX (1u << 20)

struct net_allow {
	net_allow_entry_t *entries;
	size_t count;
	size_t cap;
};

static const struct {
	net_role_t role;
	const char *name;
} role_names[] = {
    {NET_ROLE_NODE, "node"},
    {NET_ROLE_COORDINATOR, "coordinator"},
    {NET_ROLE_OPERATOR, "operator"},
    {NET_ROLE_WITNESS, "witness"},
};

const char *net_role_name(net_role_t role)
{
	for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++) {
		if (role_names[i].role == role) {
			return role_names[i].name;
		}
	}
	return "unknown";
}

int net_role_parse(const char *text, net_role_t *out)
{
	if (text == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++) {
		if (strcmp(role_names[i].name, text) == 0) {
			*out = role_names[i].role;
			return TANDEM_OK;
		}
	}
	return TANDEM_EINVAL;
}

static bool name_valid(const char *name)
{
	size_t len = name == NULL ? 0 : strlen(name);
	if (len == 0 || len > NET_ALLOW_NAME_MAX || !isalnum((unsigned char)name[0])) {
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!isalnum(c) && c != '.' && c != '_' && c != '-') {
			return false;
		}
	}
	return true;
}

int net_allow_new(net_allow_t **out)
{
	if (out == NULL) {
		return TANDEM_EINVAL;
	}
	net_allow_t *allow = calloc(1, sizeof(*allow));
	if (allow == NULL) {
		return TANDEM_ENOMEM;
	}
	*out = allow;
	return TANDEM_OK;
}

void net_allow_free(net_allow_t *allow)
{
	if (allow == NULL) {
		return;
	}
	free(allow->entries);
	free(allow);
}

int net_allow_copy(const net_allow_t *allow, net_allow_t **out)
{
	if (allow == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	net_allow_t *copy = calloc(1, sizeof(*copy));
	if (copy == NULL) {
		return TANDEM_ENOMEM;
	}
	if (allow->count > 0) {
		copy->entries = calloc(allow->count, sizeof(*copy->entries));
		if (copy->entries == NULL) {
			free(copy);
			return TANDEM_ENOMEM;
		}
		memcpy(copy->entries, allow->entries, allow->count * sizeof(*copy->entries));
		copy->count = copy->cap = allow->count;
	}
	*out = copy;
	return TANDEM_OK;
}

const net_allow_entry_t *net_allow_find_key(const net_allow_t *allow, const char *key)
{
	if (allow == NULL || key == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < allow->count; i++) {
		if (strcmp(allow->entries[i].key, key) == 0) {
			return &allow->entries[i];
		}
	}
	return NULL;
}

const net_allow_entry_t *net_allow_find_name(const net_allow_t *allow, const char *name)
{
	if (allow == NULL || name == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < allow->count; i++) {
		if (strcmp(allow->entries[i].name, name) == 0) {
			return &allow->entries[i];
		}
	}
	return NULL;
}

size_t net_allow_count(const net_allow_t *allow)
{
	return allow == NULL ? 0 : allow->count;
}

const net_allow_entry_t *net_allow_entry(const net_allow_t *allow, size_t i)
{
	if (allow == NULL || i >= allow->count) {
		return NULL;
	}
	return &allow->entries[i];
}

int net_allow_add(net_allow_t *allow, const char *name, net_role_t role, const char *key)
{
	if (allow == NULL || !name_valid(name) || strcmp(net_role_name(role), "unknown") == 0) {
		return TANDEM_EINVAL;
	}
	if (!net_key_z85_valid(key)) {
		return TANDEM_NET_EKEY;
	}
	if (net_allow_find_name(allow, name) != NULL || net_allow_find_key(allow, key) != NULL) {
		return TANDEM_EEXIST;
	}
	if (allow->count == allow->cap) {
		size_t cap = allow->cap == 0 ? 8 : allow->cap * 2;
		net_allow_entry_t *bigger = realloc(allow->entries, cap * sizeof(*bigger));
		if (bigger == NULL) {
			return TANDEM_ENOMEM;
		}
		allow->entries = bigger;
		allow->cap = cap;
	}
	net_allow_entry_t *e = &allow->entries[allow->count++];
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->role = role;
	snprintf(e->key, sizeof(e->key), "%s", key);
	return TANDEM_OK;
}

static void allow_remove_at(net_allow_t *allow, size_t i)
{
	memmove(&allow->entries[i], &allow->entries[i + 1],
		(allow->count - i - 1) * sizeof(*allow->entries));
	allow->count--;
}

int net_allow_revoke(net_allow_t *allow, const char *key)
{
	const net_allow_entry_t *e = net_allow_find_key(allow, key);
	if (allow == NULL || key == NULL) {
		return TANDEM_EINVAL;
	}
	if (e == NULL) {
		return TANDEM_ENOENT;
	}
	allow_remove_at(allow, (size_t)(e - allow->entries));
	return TANDEM_OK;
}

int net_allow_revoke_name(net_allow_t *allow, const char *name)
{
	const net_allow_entry_t *e = net_allow_find_name(allow, name);
	if (allow == NULL || name == NULL) {
		return TANDEM_EINVAL;
	}
	if (e == NULL) {
		return TANDEM_ENOENT;
	}
	allow_remove_at(allow, (size_t)(e - allow->entries));
	return TANDEM_OK;
}

/* Parses one line into allow; reports a refusal as "FILE:LINE: reason". */
static int allow_parse_line(net_allow_t *allow, char *line, const char *path, unsigned lineno,
			    tandem_diag_t *diag)
{
	char *fields[3] = {NULL, NULL, NULL};
	size_t n = 0;
	char *save = NULL;
	for (char *tok = strtok_r(line, " \t\r", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t\r", &save)) {
		if (n == 3) {
			if (tok[0] == '#') {
				break;
			}
			n++;
			break;
		}
		fields[n++] = tok;
	}
	if (n == 0 || fields[0][0] == '#') {
		return TANDEM_OK;
	}
	const char *reason = NULL;
	char buf[160];
	net_role_t role = 0;
	if (n != 3) {
		reason = "expected NAME ROLE KEY";
	} else if (!name_valid(fields[0])) {
		snprintf(buf, sizeof(buf), "bad name \"%.*s\" (1-%d of A-Z a-z 0-9 . _ -)", 64,
			 fields[0], NET_ALLOW_NAME_MAX);
		reason = buf;
	} else if (net_role_parse(fields[1], &role) != TANDEM_OK) {
		snprintf(buf, sizeof(buf),
			 "unknown role \"%.*s\" (node, coordinator, operator, witness)", 32,
			 fields[1]);
		reason = buf;
	} else if (!net_key_z85_valid(fields[2])) {
		reason = "bad CURVE public key (40 characters of Z85)";
	} else if (net_allow_find_name(allow, fields[0]) != NULL) {
		snprintf(buf, sizeof(buf), "duplicate name \"%s\"", fields[0]);
		reason = buf;
	} else if (net_allow_find_key(allow, fields[2]) != NULL) {
		snprintf(buf, sizeof(buf), "duplicate key (already listed as \"%s\")",
			 net_allow_find_key(allow, fields[2])->name);
		reason = buf;
	}
	if (reason != NULL) {
		tandem_diag_add(diag, TANDEM_NET_EALLOW, "%s:%u: %s", path, lineno, reason);
		return TANDEM_NET_EALLOW;
	}
	return net_allow_add(allow, fields[0], role, fields[2]);
}

int net_allow_load(const char *path, tandem_diag_t *diag, net_allow_t **out)
{
	if (path == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	char *text = NULL;
	net_allow_t *allow = NULL;
	int ret = tandem_file_read(path, NET_ALLOW_FILE_MAX, &text, NULL);
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, ret, "%s: %s", path, tandem_strerror(ret));
		goto out;
	}
	ret = net_allow_new(&allow);
	if (ret != TANDEM_OK) {
		goto out;
	}
	unsigned lineno = 0;
	bool bad = false;
	for (char *line = text; line != NULL;) {
		char *next = strchr(line, '\n');
		if (next != NULL) {
			*next++ = '\0';
		}
		lineno++;
		int r = allow_parse_line(allow, line, path, lineno, diag);
		if (r == TANDEM_NET_EALLOW) {
			bad = true;
		} else if (r != TANDEM_OK) {
			ret = r;
			goto out;
		}
		line = next;
	}
	if (bad) {
		ret = TANDEM_NET_EALLOW;
		goto out;
	}
	*out = allow;
	allow = NULL;
out:
	free(text);
	net_allow_free(allow);
	return ret;
}

int net_allow_save(const net_allow_t *allow, const char *path)
{
	if (allow == NULL || path == NULL) {
		return TANDEM_EINVAL;
	}
	tandem_afile_t *f = NULL;
	int ret = tandem_afile_open(path, 0644, &f);
	if (ret != TANDEM_OK) {
		return ret;
	}
	FILE *fp = tandem_afile_stream(f);
	fprintf(fp, "# tandem allow-list: NAME ROLE CURVE-PUBLIC-KEY\n");
	for (size_t i = 0; i < allow->count; i++) {
		const net_allow_entry_t *e = &allow->entries[i];
		fprintf(fp, "%s %s %s\n", e->name, net_role_name(e->role), e->key);
	}
	return tandem_afile_commit(f);
}
