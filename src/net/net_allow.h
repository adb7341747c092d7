/* The allow-list: which CURVE public keys may talk to us, under which name and role. */
#ifndef NET_ALLOW_H
#define NET_ALLOW_H

#include <stdbool.h>
#include <stddef.h>

#include "net_key.h"
#include "tandem_diag.h"

/* Longest peer name (without the NUL): [A-Za-z0-9._-], starting alphanumeric. */
#define NET_ALLOW_NAME_MAX 63

/* What a peer is; the server hands it to the request handler. */
typedef enum {
	NET_ROLE_NODE = 1,        /* a signing node (tandemd) */
	NET_ROLE_COORDINATOR = 2, /* a coordinator (tandem-coord) */
	NET_ROLE_OPERATOR = 3,    /* a person with tandemctl */
	NET_ROLE_WITNESS = 4,     /* the third-site witness */
} net_role_t;

/* The role's name ("node", ...) or "unknown"; static. */
const char *net_role_name(net_role_t role);
/* Parses a role name. Errors: TANDEM_EINVAL; *out written only on success. */
int net_role_parse(const char *text, net_role_t *out);

/*
 * A set of (name, role, key) entries in which names and keys are each unique.
 * Not thread-safe: one thread owns it; the ZAP handler and the server are
 * given copies (see net_zap_allow_set, net_rpc_server_allow_set).
 */
typedef struct net_allow net_allow_t;

/* One entry, as a plain value. */
typedef struct net_allow_entry {
	char name[NET_ALLOW_NAME_MAX + 1];
	net_role_t role;
	char key[NET_KEY_Z85_LEN + 1];
} net_allow_entry_t;

/* Creates an empty allow-list. Errors: TANDEM_ENOMEM, TANDEM_EINVAL. */
int net_allow_new(net_allow_t **out);
/* Frees the allow-list; NULL-safe. */
void net_allow_free(net_allow_t *allow);
/* A deep copy. Errors: TANDEM_ENOMEM, TANDEM_EINVAL. */
int net_allow_copy(const net_allow_t *allow, net_allow_t **out);

/*
 * Loads an allow-list file: one "NAME ROLE Z85KEY" per line, blank lines and
 * lines starting with '#' ignored, a trailing "# comment" allowed. Every bad
 * line (wrong field count, bad name, unknown role, bad key, duplicate name
 * or key) is reported as "FILE:LINE: reason" in diag with code
 * TANDEM_NET_EALLOW, and the whole file is refused.
 * Errors: TANDEM_NET_EALLOW, TANDEM_ENOENT, TANDEM_EIO, TANDEM_ENOMEM,
 * TANDEM_EINVAL; *out written only on success.
 */
int net_allow_load(const char *path, tandem_diag_t *diag, net_allow_t **out);

/* Writes the allow-list in the file format of net_allow_load, atomically
 * (mode 0644). Errors: TANDEM_EIO, TANDEM_EINVAL. */
int net_allow_save(const net_allow_t *allow, const char *path);

/*
 * Adds an entry. Errors: TANDEM_EINVAL (bad name or role), TANDEM_NET_EKEY
 * (bad key), TANDEM_EEXIST (name or key already listed), TANDEM_ENOMEM.
 */
int net_allow_add(net_allow_t *allow, const char *name, net_role_t role, const char *key);

/* Removes the entry with this key. Errors: TANDEM_ENOENT, TANDEM_EINVAL. */
int net_allow_revoke(net_allow_t *allow, const char *key);
/* Removes the entry with this name. Errors: TANDEM_ENOENT, TANDEM_EINVAL. */
int net_allow_revoke_name(net_allow_t *allow, const char *name);

/* The entry with this key (borrowed until the next change), or NULL. */
const net_allow_entry_t *net_allow_find_key(const net_allow_t *allow, const char *key);
/* The entry with this name (borrowed until the next change), or NULL. */
const net_allow_entry_t *net_allow_find_name(const net_allow_t *allow, const char *name);

/* Number of entries. */
size_t net_allow_count(const net_allow_t *allow);
/* Entry i (borrowed until the next change), or NULL when out of range. */
const net_allow_entry_t *net_allow_entry(const net_allow_t *allow, size_t i);

#endif
