/* CURVE key pairs: generation, Z85 text, key files, and applying them to sockets. */
#ifndef NET_KEY_H
#define NET_KEY_H

#include <stdbool.h>

/* Length of a CURVE key in Z85 text (32 bytes), without the NUL. */
#define NET_KEY_Z85_LEN 40

/*
 * A CURVE key pair. The secret half lives only inside this object and is
 * wiped by net_key_free(); it is never returned as text.
 */
typedef struct net_key net_key_t;

/*
 * Generates a fresh key pair (zmq_curve_keypair).
 * Errors: TANDEM_NET_ECURVE (libzmq has no CURVE), TANDEM_ENOMEM,
 * TANDEM_EINVAL.
 */
int net_key_generate(net_key_t **out);

/*
 * Loads a secret key file written by net_key_save(). The file must not be
 * readable or writable by group or others (mode & 077 == 0), else
 * TANDEM_EPERM. The public half is derived from the secret; a "public" line,
 * when present, must match it. The buffers that held the secret are wiped.
 * Errors: TANDEM_EPERM, TANDEM_ENOENT, TANDEM_EIO, TANDEM_NET_EKEY (bad
 * syntax or key), TANDEM_EINVAL, TANDEM_ENOMEM; *out written only on success.
 */
int net_key_load(const char *secret_path, net_key_t **out);

/*
 * Writes the key pair as two files, each atomically: public_path (mode 0644,
 * "public Z85") and secret_path (mode 0600, "public Z85" and "secret Z85").
 * Either path may be NULL to skip that file.
 * Errors: TANDEM_EIO, TANDEM_EINVAL.
 */
int net_key_save(const net_key_t *key, const char *public_path, const char *secret_path);

/* The public key as Z85 text (borrowed, valid while key lives), or NULL. */
const char *net_key_public(const net_key_t *key);

/* Frees the key pair after wiping its secret; NULL-safe. */
void net_key_free(net_key_t *key);

/*
 * Reads a public key file ("public Z85", '#' comments; a bare Z85 line is
 * accepted too) into out (NET_KEY_Z85_LEN + 1 bytes).
 * Errors: TANDEM_ENOENT, TANDEM_EIO, TANDEM_NET_EKEY, TANDEM_EINVAL; out
 * written only on success.
 */
int net_key_public_load(const char *path, char out[NET_KEY_Z85_LEN + 1]);

/* Whether text is exactly one well-formed Z85 CURVE key (40 characters). */
bool net_key_z85_valid(const char *text);

/*
 * Makes a ZeroMQ socket a CURVE server with this key pair (ZMQ_CURVE_SERVER,
 * ZMQ_CURVE_SECRETKEY) in ZAP domain "tandem", so that a net_zap_t handler
 * in the same context decides who may connect. Without a ZAP handler libzmq
 * would accept every CURVE client: net_rpc_server_new always starts one.
 * Errors: TANDEM_NET_EZMQ, TANDEM_EINVAL.
 */
int net_key_apply_server(const net_key_t *key, void *socket);

/*
 * Makes a ZeroMQ socket a CURVE client with this key pair, talking to the
 * server whose public key is server_public (Z85).
 * Errors: TANDEM_NET_EKEY (bad server key), TANDEM_NET_EZMQ, TANDEM_EINVAL.
 */
int net_key_apply_client(const net_key_t *key, void *socket, const char *server_public);

#endif
