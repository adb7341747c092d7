/* An operator's approval key (tandemctl approve, tandem-ceremony record-sign): a 0600 secret
 * file or a key on a PKCS#11 token. */
#ifndef OPERATOR_KEY_H
#define OPERATOR_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "coord_approval.h"

typedef struct opkey opkey_t;

/*
 * Opens the operator key spec names: a "pkcs11:" URI (token=, object= and/or id=; the PIN
 * from its pin-source, else the environment variable TANDEM_PIN, never argv; the module
 * from module-path/module-name, else SoftHSMv2) or the path of a secret file (64 hex digits,
 * refused when group or others may read it). Writes the Ed25519 public key to pub.
 * Errors are printed to stderr after who: 2 (bad input: no such file or key, a wrong PIN,
 * not an Ed25519 key), 3 (the token or its module failed).
 */
int opkey_open(const char *who, const char *spec, opkey_t **out,
	       uint8_t pub[COORD_APPROVAL_PUB_LEN]);

/*
 * Signs msg (Ed25519, the message itself) with key: on the token with CKM_EDDSA, or with
 * the secret in memory. Errors printed: 3 (the token refused), 2 otherwise.
 */
int opkey_sign(const char *who, opkey_t *key, const uint8_t *msg, size_t len,
	       uint8_t sig[COORD_APPROVAL_SIG_LEN]);

/* Closes the token or wipes the secret; NULL-safe. */
void opkey_free(opkey_t *key);

/*
 * Generates an operator key pair on the token uri names (CKM_EC_EDWARDS_KEY_PAIR_GEN,
 * edwards25519; the private key sensitive and never extractable). The object label is the
 * URI's object=, else label (letters, digits, '.', '-', '_'). Writes the public key to pub,
 * the token's label and the key's (cut at 32 and 64 bytes).
 * Errors printed: 1 (no label), 2 (bad URI, wrong PIN, the label is taken), 3 (the token).
 */
int opkey_token_keygen(const char *who, const char *uri, const char *label,
		       uint8_t pub[COORD_APPROVAL_PUB_LEN], char token_label[33], char object[65]);

#endif
